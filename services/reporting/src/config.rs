//! Every setting of the reporting service, with its default.

use std::time::Duration;

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
    ("PANTAU_REPORTING_DATABASE", "pantau_reporting"),
    ("PANTAU_REPORTING_ADDR", "127.0.0.1:50056"),
    ("PANTAU_REPORTING_METRICS_ADDR", "127.0.0.1:9106"),
    ("PANTAU_REPORTING_HTTP_ADDR", "127.0.0.1:8080"),
    ("PANTAU_REPORTING_BATCH_SIZE", "500"),
    ("PANTAU_REPORTING_CACHE_SECS", "10"),
    ("PANTAU_REPORTING_API_PER_SEC", "20"),
    ("PANTAU_REPORTING_API_BURST", "100"),
    ("PANTAU_REPORTING_LOGINS_PER_MIN", "10"),
    ("PANTAU_REPORTING_FORWARDED_FOR", "false"),
    (
        "PANTAU_REPORTING_TILE_URL",
        "https://tile.openstreetmap.org/{z}/{x}/{y}.png",
    ),
    (
        "PANTAU_REPORTING_TILE_ATTRIBUTION",
        "© OpenStreetMap contributors",
    ),
    ("PANTAU_REPORTING_APP_DIR", "app/dist"),
    (
        "PANTAU_REPORTING_UPSTREAM_IDENTITY",
        "http://127.0.0.1:50051",
    ),
    (
        "PANTAU_REPORTING_UPSTREAM_ATTENDANCE",
        "http://127.0.0.1:50052",
    ),
    (
        "PANTAU_REPORTING_UPSTREAM_ACTIVITY",
        "http://127.0.0.1:50053",
    ),
    (
        "PANTAU_REPORTING_UPSTREAM_SCORING",
        "http://127.0.0.1:50054",
    ),
    ("PANTAU_REPORTING_UPSTREAM_FRAUD", "http://127.0.0.1:50055"),
    ("PANTAU_DEV_CLOCK", "false"),
];

/// The gateway's upstream setting of each service the field app may call.
const UPSTREAMS: &[(&str, &str)] = &[
    (
        "pantau.identity.v1.IdentityService",
        "PANTAU_REPORTING_UPSTREAM_IDENTITY",
    ),
    (
        "pantau.attendance.v1.AttendanceService",
        "PANTAU_REPORTING_UPSTREAM_ATTENDANCE",
    ),
    (
        "pantau.activity.v1.ActivityService",
        "PANTAU_REPORTING_UPSTREAM_ACTIVITY",
    ),
    (
        "pantau.scoring.v1.ScoringService",
        "PANTAU_REPORTING_UPSTREAM_SCORING",
    ),
    (
        "pantau.fraud.v1.FraudService",
        "PANTAU_REPORTING_UPSTREAM_FRAUD",
    ),
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
    /// gRPC.
    pub addr: std::net::SocketAddr,
    /// `PANTAU_TLS_*`: TLS on the gRPC server (and for the calls it makes).
    pub tls: GrpcTls,
    /// Prometheus `GET /metrics` listener; `None` (an empty setting): off.
    pub metrics_addr: Option<std::net::SocketAddr>,
    /// The dashboard, the JSON API and the CSV downloads.
    pub http_addr: std::net::SocketAddr,
    pub dev_clock: bool,
    /// Events the projections apply per transaction.
    pub batch_size: usize,
    /// How long a computed answer is served before it is computed again.
    pub cache_ttl: Duration,
    /// The map's tile server (`{z}/{x}/{y}`); empty: no tiles.
    pub tile_url: String,
    pub tile_attribution: String,
    /// The field app's built files, served at /app/.
    pub app_dir: std::path::PathBuf,
    /// Where the gateway at /app/rpc/ sends each service's calls (this
    /// service's own are added at start); an empty URL: not forwarded.
    pub upstreams: crate::gateway::Upstreams,
    /// Per-client limits on the public API and the gateway's sign-ins.
    pub limits: crate::limits::Settings,
}

impl Config {
    pub fn from_settings(s: &Settings) -> Result<Self, ConfigError> {
        let batch_size: usize = s.parse("PANTAU_REPORTING_BATCH_SIZE")?;
        if !(1..=10_000).contains(&batch_size) {
            return Err(ConfigError::Invalid {
                key: "PANTAU_REPORTING_BATCH_SIZE".into(),
                reason: "must be 1-10000".into(),
            });
        }
        let cache_secs: u64 = s.parse("PANTAU_REPORTING_CACHE_SECS")?;
        if cache_secs > 3600 {
            return Err(ConfigError::Invalid {
                key: "PANTAU_REPORTING_CACHE_SECS".into(),
                reason: "must be 0-3600".into(),
            });
        }
        let tile_url = s
            .get("PANTAU_REPORTING_TILE_URL")
            .unwrap_or("")
            .trim()
            .to_owned();
        let tiles_ok = tile_url.is_empty()
            || tile_url.starts_with("https://")
            || tile_url.starts_with("http://");
        if !tiles_ok {
            return Err(ConfigError::Invalid {
                key: "PANTAU_REPORTING_TILE_URL".into(),
                reason: "must be an http(s) URL with {z}/{x}/{y}, or empty for no tiles".into(),
            });
        }
        let mut upstreams = crate::gateway::Upstreams::default();
        for (service, key) in UPSTREAMS {
            let url = s
                .get(key)
                .unwrap_or("")
                .trim()
                .trim_end_matches('/')
                .to_owned();
            if !(url.is_empty() || url.starts_with("http://") || url.starts_with("https://")) {
                return Err(ConfigError::Invalid {
                    key: (*key).into(),
                    reason: "must be an http(s) URL (e.g. http://127.0.0.1:50051), or empty".into(),
                });
            }
            upstreams.0.insert((*service).to_owned(), url);
        }
        let tls = GrpcTls::from_settings(s)?;
        // The gateway verifies every https:// upstream, this service's own
        // server included (see `crate::gateway`), against PANTAU_TLS_CA.
        let https = UPSTREAMS
            .iter()
            .find(|(service, _)| {
                upstreams
                    .0
                    .get(*service)
                    .is_some_and(|u| u.starts_with("https://"))
            })
            .map(|(_, key)| *key);
        if tls.ca.is_none()
            && let Some(needs) = https.or(tls.serves_tls().then_some("PANTAU_TLS_CERT"))
        {
            return Err(ConfigError::Invalid {
                key: "PANTAU_TLS_CA".into(),
                reason: format!(
                    "required with {needs}: the gateway's calls over TLS trust only this CA"
                ),
            });
        }
        Ok(Self {
            app_dir: s
                .get("PANTAU_REPORTING_APP_DIR")
                .unwrap_or("app/dist")
                .into(),
            upstreams,
            limits: crate::limits::Settings {
                api_per_sec: s.parse("PANTAU_REPORTING_API_PER_SEC")?,
                api_burst: s.parse("PANTAU_REPORTING_API_BURST")?,
                logins_per_min: s.parse("PANTAU_REPORTING_LOGINS_PER_MIN")?,
                forwarded_for: s.parse("PANTAU_REPORTING_FORWARDED_FOR")?,
            },
            nats: NatsSettings::from_settings(s)?,
            stream_replicas: s.stream_replicas()?,
            database_url: s.require("PANTAU_DATABASE_URL")?.to_owned(),
            database: s.require("PANTAU_REPORTING_DATABASE")?.to_owned(),
            addr: s.parse("PANTAU_REPORTING_ADDR")?,
            tls,
            metrics_addr: s.parse_optional("PANTAU_REPORTING_METRICS_ADDR")?,
            http_addr: s.parse("PANTAU_REPORTING_HTTP_ADDR")?,
            dev_clock: s.parse("PANTAU_DEV_CLOCK")?,
            batch_size,
            cache_ttl: Duration::from_secs(cache_secs),
            tile_url,
            tile_attribution: s
                .get("PANTAU_REPORTING_TILE_ATTRIBUTION")
                .unwrap_or("")
                .to_owned(),
        })
    }

    /// An in-process service for tests, tools and benchmarks: any free
    /// ports, its own fresh database on `database_url`'s server, no cache
    /// (every answer reflects what the projections hold), no tiles.
    pub fn in_process(nats_url: &str, database_url: &str) -> Self {
        let any = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
        Self {
            nats: NatsSettings::new(nats_url),
            stream_replicas: 1,
            database_url: database_url.to_owned(),
            database: format!("reporting_{}", uuid::Uuid::new_v4().simple()),
            addr: any,
            tls: GrpcTls::default(),
            metrics_addr: None,
            http_addr: any,
            dev_clock: false,
            batch_size: 500,
            cache_ttl: Duration::ZERO,
            tile_url: String::new(),
            tile_attribution: String::new(),
            app_dir: "app/dist".into(),
            upstreams: crate::gateway::Upstreams::default(),
            limits: crate::limits::Settings::OFF,
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
        assert_eq!((c.addr.port(), c.http_addr.port()), (50056, 8080));
        assert_eq!(c.database, "pantau_reporting");
        assert_eq!(c.cache_ttl, Duration::from_secs(10));
        assert!(c.tile_url.contains("{z}"));
    }

    #[test]
    fn an_https_upstream_needs_the_ca_the_gateway_trusts() {
        let err = Config::from_settings(&settings(&[(
            "PANTAU_REPORTING_UPSTREAM_IDENTITY",
            "https://identity:50051",
        )]))
        .unwrap_err();
        assert!(
            matches!(&err, ConfigError::Invalid { key, .. } if key == "PANTAU_TLS_CA"),
            "{err}"
        );
        assert!(
            err.to_string()
                .contains("PANTAU_REPORTING_UPSTREAM_IDENTITY")
        );
    }

    #[test]
    fn no_tiles_is_a_valid_choice() {
        let c = Config::from_settings(&settings(&[("PANTAU_REPORTING_TILE_URL", "")])).unwrap();
        assert!(c.tile_url.is_empty());
    }

    #[test]
    fn bad_settings_are_refused_by_name() {
        for (key, value) in [
            ("PANTAU_REPORTING_BATCH_SIZE", "0"),
            ("PANTAU_REPORTING_CACHE_SECS", "99999"),
            ("PANTAU_REPORTING_CACHE_SECS", "soon"),
            ("PANTAU_REPORTING_HTTP_ADDR", "nowhere"),
            ("PANTAU_REPORTING_TILE_URL", "file:///etc/passwd"),
            ("PANTAU_REPORTING_UPSTREAM_ACTIVITY", "127.0.0.1:50053"),
            // TLS files are read at start-up; a certificate needs its key.
            ("PANTAU_NATS_TLS_CA", "/nonexistent/ca.pem"),
            ("PANTAU_TLS_CERT", "/nonexistent/cert.pem"),
        ] {
            let err = Config::from_settings(&settings(&[(key, value)])).unwrap_err();
            assert!(err.to_string().contains(key), "{err}");
        }
    }
}
