//! Every setting of the scoring service, with its default.

use pantau_platform::{ConfigError, Settings};

use pantau_platform::nats::NatsSettings;
use pantau_platform::tls::GrpcTls;

pub const DEFAULTS: &[(&str, &str)] = &[
    ("PANTAU_NATS_URL", "nats://127.0.0.1:4222"),
    ("PANTAU_NATS_USER", ""),
    ("PANTAU_NATS_PASSWORD", ""),
    ("PANTAU_NATS_STREAM_REPLICAS", "1"),
    ("PANTAU_NATS_TLS_CA", ""),
    ("PANTAU_NATS_TLS_CERT", ""),
    ("PANTAU_NATS_TLS_KEY", ""),
    ("PANTAU_TLS_CERT", ""),
    ("PANTAU_TLS_KEY", ""),
    ("PANTAU_TLS_CLIENT_CA", ""),
    ("PANTAU_TLS_CA", ""),
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
    /// `PANTAU_NATS_URL`, `PANTAU_NATS_USER`/`PASSWORD` (the service's NATS
    /// user, `deploy/nats/auth.conf`) and `PANTAU_NATS_TLS_*`.
    pub nats: NatsSettings,
    /// NATS servers holding each stream the service opens (`PANTAU_NATS_STREAM_REPLICAS`).
    pub stream_replicas: usize,
    /// Server URL; the service uses (and creates) `database` on it.
    pub database_url: String,
    pub database: String,
    pub addr: std::net::SocketAddr,
    /// `PANTAU_TLS_*`: TLS on the gRPC server (and for the calls it makes).
    pub tls: GrpcTls,
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
            nats: NatsSettings::from_settings(s)?,
            stream_replicas: s.stream_replicas()?,
            database_url: s.require("PANTAU_DATABASE_URL")?.to_owned(),
            database: s.require("PANTAU_SCORING_DATABASE")?.to_owned(),
            addr: s.parse("PANTAU_SCORING_ADDR")?,
            tls: GrpcTls::from_settings(s)?,
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
            nats: NatsSettings::new(nats_url),
            stream_replicas: 1,
            database_url: database_url.to_owned(),
            database: format!("scoring_{}", uuid::Uuid::new_v4().simple()),
            addr: std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
            tls: GrpcTls::default(),
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
            // TLS files are read at start-up; a certificate needs its key.
            ("PANTAU_NATS_TLS_CA", "/nonexistent/ca.pem"),
            ("PANTAU_TLS_CERT", "/nonexistent/cert.pem"),
        ] {
            let err = Config::from_settings(&settings(&[(key, value)])).unwrap_err();
            assert!(err.to_string().contains(key), "{err}");
        }
    }
}
