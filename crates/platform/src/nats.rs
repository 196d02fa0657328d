//! Connecting to NATS: `PANTAU_NATS_URL` names one server, or several
//! separated by commas (a cluster's seeds). The client learns the rest of a
//! cluster from the servers and moves to another one when its server goes.

/// The servers a `PANTAU_NATS_URL` value names.
pub fn servers(urls: &str) -> Vec<&str> {
    urls.split(',')
        .map(str::trim)
        .filter(|u| !u.is_empty())
        .collect()
}

/// Connects to the first of `urls`' servers that answers.
pub async fn connect(urls: &str) -> Result<async_nats::Client, async_nats::ConnectError> {
    async_nats::connect(servers(urls)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_list_is_split_on_commas_and_blanks_are_dropped() {
        assert_eq!(servers("nats://a:4222"), ["nats://a:4222"]);
        assert_eq!(
            servers("nats://a:4222, nats://b:4222,,nats://c:4222 "),
            ["nats://a:4222", "nats://b:4222", "nats://c:4222"]
        );
    }
}
