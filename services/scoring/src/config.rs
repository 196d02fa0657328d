//! Every setting of the scoring service, with its default.

use pantau_platform::{ConfigError, Settings};

/// A NATS user and password (`Config::nats_credentials`).
use pantau_platform::nats::Credentials as NatsCredentials;

pub const DEFAULTS: &[(&str, &str)] = &[
    ("PANTAU_NATS_URL", "nats://127.0.0.1:4222"),
    ("PANTAU_NATS_USER", ""),
    ("PANTAU_NATS_PASSWORD", ""),
    ("PANTAU_NATS_STREAM_REPLICAS", "1"),
    (
        "PANTAU_DATABASE_URL",
        "postgres://pantau@127.0.0.1:5432/postgres",
    ),
    ("PANTAU_SCORING_DATABASE", "pantau_scoring"),
    ("PANTAU_SCORING_ADDR", "127.0.0.1:50054"),
    ("PANTAU_SCORING_METRICS_ADDR", "127.0.0.1:9104"),
    ("PANTAU_NATS_DURABLE_BATCHING", "true"),
    ("PANTAU_SCORING_BATCH_SIZE", "500"),
    ("PANTAU_DEV_CLOCK", "false"),
];

#[derive(Debug, Clone)]
pub struct Config {
    pub nats_url: String,
    /// `PANTAU_NATS_USER` and `PANTAU_NATS_PASSWORD`: the service's NATS user
    /// (`deploy/nats/auth.conf`); `None`: anonymous.
    pub nats_credentials: Option<NatsCredentials>,
    /// NATS servers holding each stream the service opens (`PANTAU_NATS_STREAM_REPLICAS`).
    pub stream_replicas: usize,
    /// Server URL; the service uses (and creates) `database` on it.
    pub database_url: String,
    pub database: String,
    pub addr: std::net::SocketAddr,
    /// Prometheus `GET /metrics` listener; `None` (an empty setting): off.
    pub metrics_addr: Option<std::net::SocketAddr>,
    /// Honour a call's `x-pantau-sim-time` (development clusters only).
    pub dev_clock: bool,
    pub batching: bool,
    /// Events the projections apply per transaction.
    pub batch_size: usize,
}

impl Config {
    pub fn from_settings(s: &Settings) -> Result<Self, ConfigError> {
        let batch_size: usize = s.parse("PANTAU_SCORING_BATCH_SIZE")?;
        if !(1..=10_000).contains(&batch_size) {
            return Err(ConfigError::Invalid {
                key: "PANTAU_SCORING_BATCH_SIZE".into(),
                reason: "must be 1-10000".into(),
            });
        }
        Ok(Self {
            nats_url: s.require("PANTAU_NATS_URL")?.to_owned(),
            nats_credentials: pantau_platform::nats::Credentials::from_settings(s)?,
            stream_replicas: s.stream_replicas()?,
            database_url: s.require("PANTAU_DATABASE_URL")?.to_owned(),
            database: s.require("PANTAU_SCORING_DATABASE")?.to_owned(),
            addr: s.parse("PANTAU_SCORING_ADDR")?,
            metrics_addr: s.parse_optional("PANTAU_SCORING_METRICS_ADDR")?,
            dev_clock: s.parse("PANTAU_DEV_CLOCK")?,
            batching: s.parse("PANTAU_NATS_DURABLE_BATCHING")?,
            batch_size,
        })
    }

    /// An in-process service for tests, tools and benchmarks: any free port,
    /// its own fresh database on `database_url`'s server, durable batching.
    pub fn in_process(nats_url: &str, database_url: &str) -> Self {
        Self {
            nats_url: nats_url.to_owned(),
            nats_credentials: None,
            stream_replicas: 1,
            database_url: database_url.to_owned(),
            database: format!("scoring_{}", uuid::Uuid::new_v4().simple()),
            addr: std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
            metrics_addr: None,
            dev_clock: false,
            batching: true,
            batch_size: 500,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(env: &[(&str, &str)]) -> Settings {
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Settings::from_sources(DEFAULTS, &env).unwrap()
    }

    #[test]
    fn defaults_make_a_working_config() {
        let c = Config::from_settings(&settings(&[])).unwrap();
        assert_eq!(c.addr.port(), 50054);
        assert_eq!((c.database.as_str(), c.batch_size), ("pantau_scoring", 500));
        assert!(c.batching);
    }

    #[test]
    fn bad_settings_are_refused_by_name() {
        for (key, value) in [
            ("PANTAU_SCORING_BATCH_SIZE", "0"),
            ("PANTAU_SCORING_BATCH_SIZE", "many"),
            ("PANTAU_SCORING_ADDR", "nowhere"),
        ] {
            let err = Config::from_settings(&settings(&[(key, value)])).unwrap_err();
            assert!(err.to_string().contains(key), "{err}");
        }
    }
}
