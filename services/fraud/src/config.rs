//! Every setting of the fraud service, with its default.

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
    ("PANTAU_FRAUD_DATABASE", "pantau_fraud"),
    ("PANTAU_FRAUD_ADDR", "127.0.0.1:50055"),
    ("PANTAU_FRAUD_METRICS_ADDR", "127.0.0.1:9105"),
    ("PANTAU_NATS_DURABLE_BATCHING", "true"),
    ("PANTAU_FRAUD_SWEEP_SECS", "300"),
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
    /// How often the detectors run over the last month by themselves (0:
    /// only on RunDetectors).
    pub sweep_secs: u64,
}

impl Config {
    pub fn from_settings(s: &Settings) -> Result<Self, ConfigError> {
        Ok(Self {
            nats: NatsSettings::from_settings(s)?,
            stream_replicas: s.stream_replicas()?,
            database_url: s.require("PANTAU_DATABASE_URL")?.to_owned(),
            database: s.require("PANTAU_FRAUD_DATABASE")?.to_owned(),
            addr: s.parse("PANTAU_FRAUD_ADDR")?,
            tls: GrpcTls::from_settings(s)?,
            metrics_addr: s.parse_optional("PANTAU_FRAUD_METRICS_ADDR")?,
            dev_clock: s.parse("PANTAU_DEV_CLOCK")?,
            batching: s.parse("PANTAU_NATS_DURABLE_BATCHING")?,
            sweep_secs: s.parse("PANTAU_FRAUD_SWEEP_SECS")?,
        })
    }

    /// An in-process service for tests, tools and benchmarks: any free port,
    /// its own fresh database on `database_url`'s server, durable batching.
    pub fn in_process(nats_url: &str, database_url: &str) -> Self {
        Self {
            nats: NatsSettings::new(nats_url),
            stream_replicas: 1,
            database_url: database_url.to_owned(),
            database: format!("fraud_{}", uuid::Uuid::new_v4().simple()),
            addr: std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
            tls: GrpcTls::default(),
            metrics_addr: None,
            dev_clock: false,
            batching: true,
            sweep_secs: 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_make_a_working_config_and_bad_settings_are_named() {
        let env: Vec<(String, String)> = Vec::new();
        let c = Config::from_settings(&Settings::from_sources(DEFAULTS, &env).unwrap()).unwrap();
        assert_eq!(
            (c.addr.port(), c.database.as_str()),
            (50055, "pantau_fraud")
        );
        let env = vec![("PANTAU_FRAUD_ADDR".to_owned(), "nowhere".to_owned())];
        let err =
            Config::from_settings(&Settings::from_sources(DEFAULTS, &env).unwrap()).unwrap_err();
        assert!(err.to_string().contains("PANTAU_FRAUD_ADDR"), "{err}");
        // TLS files are read at start-up; a client CA needs the server's TLS.
        for key in ["PANTAU_NATS_TLS_CA", "PANTAU_TLS_CLIENT_CA"] {
            let env = vec![(key.to_owned(), "/nonexistent/ca.pem".to_owned())];
            let err = Config::from_settings(&Settings::from_sources(DEFAULTS, &env).unwrap())
                .unwrap_err();
            assert!(err.to_string().starts_with(key), "{err}");
        }
    }
}
