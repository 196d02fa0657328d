//! Layered configuration: built-in defaults, then an optional `key = value`
//! file named by `PANTAU_CONFIG`, then `PANTAU_*` environment variables.
//! Values are validated at start-up by the typed getters, and secrets are
//! never printed: `Settings::describe` masks them.

use std::collections::BTreeMap;
use std::path::Path;

/// Every service's replication of the streams it opens: 1 on a laptop, 3 on
/// a three-server NATS cluster. All services of a deployment must agree,
/// since each brings the streams it opens up to this setting.
pub const STREAM_REPLICAS: &str = "PANTAU_NATS_STREAM_REPLICAS";

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("failed to read config file {path}: {source}")]
    File {
        path: String,
        source: std::io::Error,
    },
    #[error("config file {path} line {line}: expected KEY = VALUE")]
    Syntax { path: String, line: usize },
    #[error("{key}: {reason}")]
    Invalid { key: String, reason: String },
    #[error("{key} is required")]
    Missing { key: String },
}

/// Resolved settings: every key is the environment variable's name
/// (e.g. `PANTAU_NATS_URL`).
#[derive(Debug, Clone, Default)]
pub struct Settings {
    values: BTreeMap<String, String>,
}

impl Settings {
    /// Defaults, then `PANTAU_CONFIG` file, then the process environment.
    pub fn load(defaults: &[(&str, &str)]) -> Result<Self, ConfigError> {
        let env: Vec<(String, String)> = std::env::vars().collect();
        Self::from_sources(defaults, &env)
    }

    /// The same layering with an explicit environment (for tests).
    pub fn from_sources(
        defaults: &[(&str, &str)],
        env: &[(String, String)],
    ) -> Result<Self, ConfigError> {
        let mut values: BTreeMap<String, String> = defaults
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        if let Some((_, path)) = env.iter().find(|(k, _)| k == "PANTAU_CONFIG") {
            values.extend(read_file(Path::new(path))?);
        }
        for (k, v) in env {
            if k.starts_with("PANTAU_") || k.starts_with("OTEL_") {
                values.insert(k.clone(), v.clone());
            }
        }
        Ok(Self { values })
    }

    pub fn set(&mut self, key: &str, value: impl Into<String>) {
        self.values.insert(key.to_owned(), value.into());
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.values
            .get(key)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    pub fn require(&self, key: &str) -> Result<&str, ConfigError> {
        self.get(key).ok_or_else(|| ConfigError::Missing {
            key: key.to_owned(),
        })
    }

    pub fn parse<T>(&self, key: &str) -> Result<T, ConfigError>
    where
        T: std::str::FromStr,
        T::Err: std::fmt::Display,
    {
        self.require(key)?
            .parse()
            .map_err(|e: T::Err| ConfigError::Invalid {
                key: key.to_owned(),
                reason: e.to_string(),
            })
    }

    /// An optional setting: `None` when unset or empty (how a listener is
    /// turned off), else parsed like [`Settings::parse`].
    pub fn parse_optional<T>(&self, key: &str) -> Result<Option<T>, ConfigError>
    where
        T: std::str::FromStr,
        T::Err: std::fmt::Display,
    {
        match self.get(key) {
            None => Ok(None),
            Some(_) => self.parse(key).map(Some),
        }
    }

    /// [`STREAM_REPLICAS`]: how many NATS servers hold each stream a
    /// service opens, 1 to 5 (JetStream's limit).
    pub fn stream_replicas(&self) -> Result<usize, ConfigError> {
        let n: usize = self.parse(STREAM_REPLICAS)?;
        if (1..=5).contains(&n) {
            Ok(n)
        } else {
            Err(ConfigError::Invalid {
                key: STREAM_REPLICAS.to_owned(),
                reason: format!("{n}: JetStream keeps a stream on 1 to 5 servers"),
            })
        }
    }

    /// Every setting as `KEY=value`, secrets masked, for a start-up log line.
    /// A `*_TLS_KEY` setting names a key file, and its path is shown; PEM
    /// text given in its place is masked.
    pub fn describe(&self) -> String {
        self.values
            .iter()
            .map(|(k, v)| {
                let key_file = k.ends_with("_TLS_KEY") && !crate::tls::looks_like_pem(v);
                let secret = !key_file
                    && ["PASSWORD", "SECRET", "KEY", "TOKEN"]
                        .iter()
                        .any(|s| k.contains(s));
                let shown = if secret { "***" } else { v.as_str() };
                let shown = mask_url_password(shown);
                format!("{k}={shown}")
            })
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// `v` with the password of a URL in it (`scheme://user:pass@host`) masked.
pub fn mask_url_password(v: &str) -> String {
    // postgres://user:pass@host -> postgres://user:***@host
    if let Some(scheme_end) = v.find("://") {
        let rest = &v[scheme_end + 3..];
        if let Some(at) = rest.find('@')
            && let Some(colon) = rest[..at].find(':')
        {
            return format!(
                "{}{}:***{}",
                &v[..scheme_end + 3],
                &rest[..colon],
                &rest[at..]
            );
        }
    }
    v.to_owned()
}

fn read_file(path: &Path) -> Result<BTreeMap<String, String>, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::File {
        path: path.display().to_string(),
        source,
    })?;
    let mut out = BTreeMap::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (k, v) = line.split_once('=').ok_or_else(|| ConfigError::Syntax {
            path: path.display().to_string(),
            line: i + 1,
        })?;
        let v = v.trim().trim_matches('"');
        out.insert(k.trim().to_owned(), v.to_owned());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn environment_overrides_file_which_overrides_defaults() {
        let dir = std::env::temp_dir().join(format!("pantau-cfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("tmp dir");
        let file = dir.join("pantau.conf");
        std::fs::write(&file, "# comment\nPANTAU_A = file\nPANTAU_B = \"file\"\n").expect("write");
        let s = Settings::from_sources(
            &[
                ("PANTAU_A", "default"),
                ("PANTAU_B", "default"),
                ("PANTAU_C", "default"),
            ],
            &env(&[
                ("PANTAU_CONFIG", file.to_str().expect("utf8")),
                ("PANTAU_A", "env"),
                ("HOME", "/ignored"),
            ]),
        )
        .expect("settings");
        assert_eq!(s.get("PANTAU_A"), Some("env"));
        assert_eq!(s.get("PANTAU_B"), Some("file"));
        assert_eq!(s.get("PANTAU_C"), Some("default"));
        assert_eq!(s.get("HOME"), None);
    }

    #[test]
    fn stream_replicas_are_one_to_five_and_anything_else_names_the_setting() {
        let with = |v: &str| {
            Settings::from_sources(&[(STREAM_REPLICAS, "1")], &env(&[(STREAM_REPLICAS, v)]))
                .expect("settings")
                .stream_replicas()
        };
        assert_eq!(with("1").expect("1"), 1);
        assert_eq!(with("3").expect("3"), 3);
        assert_eq!(with("5").expect("5"), 5);
        for bad in ["0", "6", "-1", "three"] {
            let err = with(bad).expect_err(bad);
            assert!(err.to_string().contains(STREAM_REPLICAS), "{bad}: {err}");
        }
    }

    #[test]
    fn an_unparsable_value_names_its_key() {
        let s = Settings::from_sources(&[("PANTAU_PORT", "abc")], &[]).expect("settings");
        let err = s.parse::<u16>("PANTAU_PORT").expect_err("must fail");
        assert!(err.to_string().starts_with("PANTAU_PORT:"), "{err}");
    }

    #[test]
    fn secrets_are_masked_in_descriptions() {
        let s = Settings::from_sources(
            &[
                ("PANTAU_ADMIN_PASSWORD", "hunter2"),
                ("PANTAU_DATABASE_URL", "postgres://u:pw@h/db"),
            ],
            &[],
        )
        .expect("settings");
        let d = s.describe();
        assert!(!d.contains("hunter2") && !d.contains(":pw@"), "{d}");
    }
}
