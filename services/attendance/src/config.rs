//! Every setting of the attendance service, with its default.

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
    ("PANTAU_ATTENDANCE_DATABASE", "pantau_attendance"),
    ("PANTAU_ATTENDANCE_ADDR", "127.0.0.1:50052"),
    ("PANTAU_ATTENDANCE_METRICS_ADDR", "127.0.0.1:9102"),
    ("PANTAU_ATTENDANCE_PARTITIONS", "1"),
    ("PANTAU_NATS_DURABLE_BATCHING", "true"),
    ("PANTAU_CHECKIN_MAX_ACCURACY_M", "100"),
    ("PANTAU_CHECKIN_MAX_CLOCK_SKEW_SECS", "300"),
    ("PANTAU_QR_TOLERANCE_STEPS", "1"),
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
    /// Check-ins reporting a worse GPS accuracy are refused.
    pub max_accuracy_m: f32,
    /// Check-ins whose phone clock is further off are refused.
    pub max_clock_skew_secs: i64,
    /// 30-second steps a rotating code stays valid either side of the scan.
    pub qr_tolerance_steps: u64,
    /// Partitions of the read model's aggregates, shared out among the
    /// instances (`PANTAU_ATTENDANCE_PARTITIONS`; 1: applied by one).
    pub partitions: u32,
}

impl Config {
    pub fn from_settings(s: &Settings) -> Result<Self, ConfigError> {
        let max_accuracy_m: f32 = s.parse("PANTAU_CHECKIN_MAX_ACCURACY_M")?;
        if max_accuracy_m.is_nan() || max_accuracy_m <= 0.0 {
            return Err(ConfigError::Invalid {
                key: "PANTAU_CHECKIN_MAX_ACCURACY_M".into(),
                reason: "must be a positive number of metres".into(),
            });
        }
        let qr_tolerance_steps: u64 = s.parse("PANTAU_QR_TOLERANCE_STEPS")?;
        let partitions: u32 = s.parse("PANTAU_ATTENDANCE_PARTITIONS")?;
        if !(1..=MAX_PARTITIONS).contains(&partitions) {
            return Err(ConfigError::Invalid {
                key: "PANTAU_ATTENDANCE_PARTITIONS".into(),
                reason: format!("between 1 and {MAX_PARTITIONS}"),
            });
        }
        if qr_tolerance_steps > 10 {
            return Err(ConfigError::Invalid {
                key: "PANTAU_QR_TOLERANCE_STEPS".into(),
                reason: "at most 10 (five minutes): a longer window defeats rotation".into(),
            });
        }
        Ok(Self {
            nats: NatsSettings::from_settings(s)?,
            stream_replicas: s.stream_replicas()?,
            database_url: s.require("PANTAU_DATABASE_URL")?.to_owned(),
            database: s.require("PANTAU_ATTENDANCE_DATABASE")?.to_owned(),
            addr: s.parse("PANTAU_ATTENDANCE_ADDR")?,
            tls: GrpcTls::from_settings(s)?,
            metrics_addr: s.parse_optional("PANTAU_ATTENDANCE_METRICS_ADDR")?,
            dev_clock: s.parse("PANTAU_DEV_CLOCK")?,
            batching: s.parse("PANTAU_NATS_DURABLE_BATCHING")?,
            max_accuracy_m,
            max_clock_skew_secs: s.parse("PANTAU_CHECKIN_MAX_CLOCK_SKEW_SECS")?,
            qr_tolerance_steps,
            partitions,
        })
    }

    /// An in-process service for tests, tools and benchmarks: any free port,
    /// its own fresh database on `database_url`'s server, durable batching.
    pub fn in_process(nats_url: &str, database_url: &str) -> Self {
        Self {
            nats: NatsSettings::new(nats_url),
            stream_replicas: 1,
            database_url: database_url.to_owned(),
            database: format!("attendance_{}", uuid::Uuid::new_v4().simple()),
            addr: std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
            tls: GrpcTls::default(),
            metrics_addr: None,
            dev_clock: false,
            batching: true,
            max_accuracy_m: 100.0,
            max_clock_skew_secs: 300,
            qr_tolerance_steps: 1,
            partitions: 1,
        }
    }
}

/// Each partition holds a consumer and a transaction at a time.
const MAX_PARTITIONS: u32 = 64;

#[cfg(test)]
mod tests {
    use super::*;

    fn config(env: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Config::from_settings(&Settings::from_sources(DEFAULTS, &env)?)
    }

    #[test]
    fn the_defaults_make_a_working_config() {
        let c = config(&[]).unwrap();
        assert_eq!(c.addr.port(), 50052);
        assert_eq!(c.database, "pantau_attendance");
        assert_eq!(
            (
                c.max_accuracy_m,
                c.max_clock_skew_secs,
                c.qr_tolerance_steps
            ),
            (100.0, 300, 1)
        );
    }

    #[test]
    fn settings_that_would_defeat_the_checks_are_refused_by_name() {
        let key = |r: Result<Config, ConfigError>| match r {
            Err(ConfigError::Invalid { key, .. }) => key,
            other => panic!("expected an invalid setting, got {other:?}"),
        };
        assert_eq!(
            key(config(&[("PANTAU_QR_TOLERANCE_STEPS", "60")])),
            "PANTAU_QR_TOLERANCE_STEPS"
        );
        assert_eq!(
            key(config(&[("PANTAU_CHECKIN_MAX_ACCURACY_M", "0")])),
            "PANTAU_CHECKIN_MAX_ACCURACY_M"
        );
        assert!(config(&[("PANTAU_ATTENDANCE_ADDR", "not an address")]).is_err());
        for partitions in ["0", "65"] {
            assert_eq!(
                key(config(&[("PANTAU_ATTENDANCE_PARTITIONS", partitions)])),
                "PANTAU_ATTENDANCE_PARTITIONS"
            );
        }
        assert_eq!(
            config(&[("PANTAU_ATTENDANCE_PARTITIONS", "8")])
                .map(|c| c.partitions)
                .ok(),
            Some(8)
        );
        // A TLS key needs its certificate; TLS files are read at start-up.
        assert_eq!(
            key(config(&[("PANTAU_TLS_KEY", "/nonexistent/key.pem")])),
            "PANTAU_TLS_CERT"
        );
        assert_eq!(
            key(config(&[("PANTAU_NATS_TLS_CA", "/nonexistent/ca.pem")])),
            "PANTAU_NATS_TLS_CA"
        );
    }
}
