//! Every setting of the identity service, with its default.

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
    ("PANTAU_IDENTITY_DATABASE", "pantau_identity"),
    ("PANTAU_IDENTITY_ADDR", "127.0.0.1:50051"),
    ("PANTAU_IDENTITY_METRICS_ADDR", "127.0.0.1:9101"),
    ("PANTAU_TOKEN_TTL_SECS", "3600"),
    ("PANTAU_LOGIN_MAX_FAILURES", "5"),
    ("PANTAU_LOGIN_LOCK_SECS", "300"),
    ("PANTAU_NATS_DURABLE_BATCHING", "true"),
    ("PANTAU_CAMPAIGN_SWEEP_SECS", "30"),
    ("PANTAU_ADMIN_ID", ""),
    ("PANTAU_ADMIN_PASSWORD", ""),
    ("PANTAU_FINGERPRINT_SECRET", ""),
    ("PANTAU_DEV_CLOCK", "false"),
];

/// `Debug` leaves the admin password and the fingerprint secret out.
#[derive(Clone)]
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
    pub token_ttl_secs: i64,
    /// Failed sign-ins a login id may have before it is locked (0: no limit);
    /// each is forgiven after `login_lock_secs / login_max_failures`.
    pub login_max_failures: u32,
    pub login_lock_secs: u64,
    pub batching: bool,
    /// How often campaigns past their deadline are closed; 0 disables.
    pub campaign_sweep_secs: u64,
    pub admin: Option<(String, String)>,
    pub fingerprint_secret: String,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("nats", &self.nats)
            .field("stream_replicas", &self.stream_replicas)
            .field(
                "database_url",
                &pantau_platform::config::mask_url_password(&self.database_url),
            )
            .field("database", &self.database)
            .field("addr", &self.addr)
            .field("tls", &self.tls)
            .field("metrics_addr", &self.metrics_addr)
            .field("dev_clock", &self.dev_clock)
            .field("token_ttl_secs", &self.token_ttl_secs)
            .field("login_max_failures", &self.login_max_failures)
            .field("login_lock_secs", &self.login_lock_secs)
            .field("batching", &self.batching)
            .field("campaign_sweep_secs", &self.campaign_sweep_secs)
            .field("admin", &self.admin.as_ref().map(|(id, _)| (id, "***")))
            .field("fingerprint_secret", &"***")
            .finish()
    }
}

impl Config {
    pub fn from_settings(s: &Settings) -> Result<Self, ConfigError> {
        let secret = s.require("PANTAU_FINGERPRINT_SECRET")?.to_owned();
        if secret.len() < 16 {
            return Err(ConfigError::Invalid {
                key: "PANTAU_FINGERPRINT_SECRET".into(),
                reason: "must be at least 16 characters".into(),
            });
        }
        let admin = match (s.get("PANTAU_ADMIN_ID"), s.get("PANTAU_ADMIN_PASSWORD")) {
            (Some(i), Some(p)) => Some((i.to_owned(), p.to_owned())),
            (None, None) => None,
            _ => {
                return Err(ConfigError::Invalid {
                    key: "PANTAU_ADMIN_ID".into(),
                    reason: "set both PANTAU_ADMIN_ID and PANTAU_ADMIN_PASSWORD, or neither".into(),
                });
            }
        };
        Ok(Self {
            nats: NatsSettings::from_settings(s)?,
            stream_replicas: s.stream_replicas()?,
            database_url: s.require("PANTAU_DATABASE_URL")?.to_owned(),
            database: s.require("PANTAU_IDENTITY_DATABASE")?.to_owned(),
            addr: s.parse("PANTAU_IDENTITY_ADDR")?,
            tls: GrpcTls::from_settings(s)?,
            metrics_addr: s.parse_optional("PANTAU_IDENTITY_METRICS_ADDR")?,
            dev_clock: s.parse("PANTAU_DEV_CLOCK")?,
            token_ttl_secs: s.parse("PANTAU_TOKEN_TTL_SECS")?,
            login_max_failures: s.parse("PANTAU_LOGIN_MAX_FAILURES")?,
            login_lock_secs: s.parse("PANTAU_LOGIN_LOCK_SECS")?,
            batching: s.parse("PANTAU_NATS_DURABLE_BATCHING")?,
            campaign_sweep_secs: s.parse("PANTAU_CAMPAIGN_SWEEP_SECS")?,
            admin,
            fingerprint_secret: secret,
        })
    }
}

impl Config {
    /// An in-process service for tests, tools and benchmarks: any free port,
    /// its own fresh database on `database_url`'s server, durable batching,
    /// no deadline sweeper, and a province admin `admin` with `admin_password`.
    pub fn in_process(nats_url: &str, database_url: &str, admin_password: &str) -> Self {
        Self {
            nats: NatsSettings::new(nats_url),
            stream_replicas: 1,
            database_url: database_url.to_owned(),
            database: format!("identity_{}", uuid::Uuid::new_v4().simple()),
            addr: std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
            tls: GrpcTls::default(),
            metrics_addr: None,
            dev_clock: false,
            token_ttl_secs: 3600,
            login_max_failures: 5,
            login_lock_secs: 300,
            batching: true,
            campaign_sweep_secs: 0,
            admin: Some(("admin".into(), admin_password.to_owned())),
            fingerprint_secret: "in-process-fingerprint-secret-0123456789".into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(env: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let mut env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        env.push((
            "PANTAU_FINGERPRINT_SECRET".into(),
            "a-test-fingerprint-secret".into(),
        ));
        Config::from_settings(&Settings::from_sources(DEFAULTS, &env)?)
    }

    #[test]
    fn the_defaults_are_plaintext_and_tls_settings_are_checked_at_start_up() {
        let c = config(&[]).expect("the defaults with a fingerprint secret");
        assert_eq!(c.nats, NatsSettings::new("nats://127.0.0.1:4222"));
        assert_eq!(c.tls, GrpcTls::default());
        for (key, value, named) in [
            (
                "PANTAU_NATS_TLS_CERT",
                "/etc/pantau/nats.pem",
                "PANTAU_NATS_TLS_KEY",
            ),
            ("PANTAU_TLS_KEY", "/etc/pantau/key.pem", "PANTAU_TLS_CERT"),
            ("PANTAU_TLS_CA", "/nonexistent/ca.pem", "PANTAU_TLS_CA"),
        ] {
            match config(&[(key, value)]) {
                Err(ConfigError::Invalid { key, .. }) => assert_eq!(key, named),
                other => panic!("{key}: expected a refused setting, got {other:?}"),
            }
        }
    }

    #[test]
    fn debug_output_shows_no_secret() {
        let c = config(&[
            ("PANTAU_ADMIN_ID", "root"),
            ("PANTAU_ADMIN_PASSWORD", "admin-pass-never-shown"),
            (
                "PANTAU_DATABASE_URL",
                "postgres://pantau:db-pass-never-shown@db:5432/postgres",
            ),
        ])
        .expect("a valid config");
        let shown = format!("{c:?}");
        for secret in [
            "admin-pass-never-shown",
            "a-test-fingerprint-secret",
            "db-pass-never-shown",
        ] {
            assert!(!shown.contains(secret), "{secret} in {shown}");
        }
        assert!(shown.contains("root"), "{shown}");
    }
}
