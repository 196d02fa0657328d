//! Connecting to NATS: `PANTAU_NATS_URL` names one server, or several
//! separated by commas (a cluster's seeds). The client learns the rest of a
//! cluster from the servers and moves to another one when its server goes.
//! `PANTAU_NATS_USER` and `PANTAU_NATS_PASSWORD` (both or neither) sign in as
//! the service's own NATS user, whose permissions `deploy/nats/auth.conf`
//! sets; without them the client connects anonymously (`make run`, tests).

use std::fmt;

use crate::{ConfigError, Settings};

/// The NATS user a service signs in as.
pub const USER: &str = "PANTAU_NATS_USER";
/// That user's password (masked by `Settings::describe`, as every key with
/// PASSWORD in it).
pub const PASSWORD: &str = "PANTAU_NATS_PASSWORD";

/// A NATS user and password. `Debug` leaves the password out, so a logged
/// config never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub user: String,
    pub password: String,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("user", &self.user)
            .field("password", &"***")
            .finish()
    }
}

impl Credentials {
    pub fn new(user: impl Into<String>, password: impl Into<String>) -> Self {
        Self {
            user: user.into(),
            password: password.into(),
        }
    }

    /// [`USER`] and [`PASSWORD`]: both (a signed-in user) or neither (no
    /// auth); one without the other is refused, naming the missing one.
    pub fn from_settings(s: &Settings) -> Result<Option<Self>, ConfigError> {
        match (s.get(USER), s.get(PASSWORD)) {
            (Some(user), Some(password)) => Ok(Some(Self::new(user, password))),
            (None, None) => Ok(None),
            (Some(_), None) => Err(half_set(PASSWORD)),
            (None, Some(_)) => Err(half_set(USER)),
        }
    }
}

fn half_set(missing: &str) -> ConfigError {
    ConfigError::Invalid {
        key: missing.to_owned(),
        reason: format!("set both {USER} and {PASSWORD}, or neither"),
    }
}

/// The servers a `PANTAU_NATS_URL` value names.
pub fn servers(urls: &str) -> Vec<&str> {
    urls.split(',')
        .map(str::trim)
        .filter(|u| !u.is_empty())
        .collect()
}

/// Connects to the first of `urls`' servers that answers, anonymously.
pub async fn connect(urls: &str) -> Result<async_nats::Client, async_nats::ConnectError> {
    connect_with(urls, None).await
}

/// Connects to the first of `urls`' servers that answers, signed in as
/// `credentials`' user when given. A wrong password fails here, with an
/// authorization error.
pub async fn connect_with(
    urls: &str,
    credentials: Option<&Credentials>,
) -> Result<async_nats::Client, async_nats::ConnectError> {
    let mut options = async_nats::ConnectOptions::new();
    if let Some(c) = credentials {
        options = options.user_and_password(c.user.clone(), c.password.clone());
    }
    options.connect(servers(urls)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(env: &[(&str, &str)]) -> Settings {
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Settings::from_sources(&[(USER, ""), (PASSWORD, "")], &env).expect("settings")
    }

    #[test]
    fn nats_credentials_are_both_or_neither_and_one_alone_is_refused_by_name() {
        assert_eq!(Credentials::from_settings(&settings(&[])).ok(), Some(None));
        let both = settings(&[(USER, "attendance"), (PASSWORD, "s3cret-pw")]);
        assert_eq!(
            Credentials::from_settings(&both).ok(),
            Some(Some(Credentials::new("attendance", "s3cret-pw")))
        );
        let user_only = Credentials::from_settings(&settings(&[(USER, "attendance")]))
            .expect_err("a user without a password is refused");
        assert!(
            matches!(&user_only, ConfigError::Invalid { key, .. } if key == PASSWORD),
            "{user_only}"
        );
        let password_only = Credentials::from_settings(&settings(&[(PASSWORD, "s3cret-pw")]))
            .expect_err("a password without a user is refused");
        assert!(
            matches!(&password_only, ConfigError::Invalid { key, .. } if key == USER),
            "{password_only}"
        );
    }

    #[test]
    fn the_nats_password_never_shows_in_the_settings_line_or_debug_output() {
        let s = settings(&[(USER, "attendance"), (PASSWORD, "s3cret-pw")]);
        let line = s.describe();
        assert!(line.contains("PANTAU_NATS_USER=attendance"), "{line}");
        assert!(!line.contains("s3cret-pw"), "{line}");
        let debug = format!("{:?}", Credentials::new("attendance", "s3cret-pw"));
        assert!(!debug.contains("s3cret-pw"), "{debug}");
    }

    #[test]
    fn a_url_list_is_split_on_commas_and_blanks_are_dropped() {
        assert_eq!(servers("nats://a:4222"), ["nats://a:4222"]);
        assert_eq!(
            servers("nats://a:4222, nats://b:4222,,nats://c:4222 "),
            ["nats://a:4222", "nats://b:4222", "nats://c:4222"]
        );
    }
}
