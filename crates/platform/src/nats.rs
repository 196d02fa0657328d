//! Connecting to NATS, as [`NatsSettings`] say:
//! * `PANTAU_NATS_URL` names one server, or several separated by commas (a
//!   cluster's seeds). The client learns the rest of a cluster from the
//!   servers and moves to another one when its server goes.
//! * `PANTAU_NATS_USER` and `PANTAU_NATS_PASSWORD` (both or neither) sign in
//!   as the service's own NATS user, whose permissions `deploy/nats/auth.conf`
//!   sets; without them the client connects anonymously (`make run`, tests).
//! * `PANTAU_NATS_TLS_CA` (a CA file to trust), and `PANTAU_NATS_TLS_CERT`
//!   with `PANTAU_NATS_TLS_KEY` (a client certificate, for servers that
//!   verify clients): any of them makes the client require TLS. A `tls://`
//!   URL does too, trusting the system's CAs unless a CA is given.
//!
//! The TLS files are read and checked with the settings, so a bad one stops
//! the service at start-up naming the setting; the client reads them again
//! on every (re)connect, which picks up a renewed certificate.

use std::fmt;

use crate::tls::{CertifiedKey, PemFile};
use crate::{ConfigError, Settings};

/// The servers, comma-separated.
pub const URL: &str = "PANTAU_NATS_URL";
/// The NATS user a service signs in as.
pub const USER: &str = "PANTAU_NATS_USER";
/// That user's password (masked by `Settings::describe`, as every key with
/// PASSWORD in it).
pub const PASSWORD: &str = "PANTAU_NATS_PASSWORD";
/// The CA that signed the NATS servers' certificates.
pub const TLS_CA: &str = "PANTAU_NATS_TLS_CA";
/// The client certificate, for servers that verify clients (`verify: true`).
pub const TLS_CERT: &str = "PANTAU_NATS_TLS_CERT";
/// The private key of [`TLS_CERT`].
pub const TLS_KEY: &str = "PANTAU_NATS_TLS_KEY";

/// How a service reaches NATS: servers, user, TLS. (How many servers hold
/// the streams it opens is [`Settings::stream_replicas`], a property of the
/// streams rather than of the connection.)
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NatsSettings {
    /// [`URL`]: one server or a comma-separated list ([`servers`]).
    pub urls: String,
    /// [`USER`] and [`PASSWORD`]; `None`: anonymous.
    pub credentials: Option<Credentials>,
    pub tls: NatsTls,
}

/// NATS TLS ([`TLS_CA`], [`TLS_CERT`], [`TLS_KEY`]); the default is none
/// (unless a URL is `tls://`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NatsTls {
    /// Trusted for the servers' certificates (instead of the system's CAs).
    pub ca: Option<PemFile>,
    /// Presented to servers that verify clients.
    pub client: Option<CertifiedKey>,
}

impl NatsTls {
    /// Whether any TLS setting is given, which makes TLS required.
    pub fn is_set(&self) -> bool {
        self.ca.is_some() || self.client.is_some()
    }
}

impl NatsSettings {
    /// `urls`, anonymous, no TLS: in-process services, tests and tools.
    pub fn new(urls: impl Into<String>) -> Self {
        Self {
            urls: urls.into(),
            credentials: None,
            tls: NatsTls::default(),
        }
    }

    pub fn with_credentials(self, credentials: Credentials) -> Self {
        Self {
            credentials: Some(credentials),
            ..self
        }
    }

    /// Every `PANTAU_NATS_*` connection setting, validated (TLS files read
    /// and parsed).
    pub fn from_settings(s: &Settings) -> Result<Self, ConfigError> {
        Ok(Self {
            urls: s.require(URL)?.to_owned(),
            credentials: Credentials::from_settings(s)?,
            tls: NatsTls {
                ca: PemFile::certificates(s, TLS_CA)?,
                client: CertifiedKey::from_settings(s, TLS_CERT, TLS_KEY)?,
            },
        })
    }

    /// The client options these settings make.
    pub fn options(&self) -> async_nats::ConnectOptions {
        let mut options = async_nats::ConnectOptions::new();
        if let Some(c) = &self.credentials {
            options = options.user_and_password(c.user.clone(), c.password.clone());
        }
        if let Some(ca) = &self.tls.ca {
            options = options.add_root_certificates(ca.path().to_path_buf());
        }
        if let Some(client) = &self.tls.client {
            options = options.add_client_certificate(
                client.cert.path().to_path_buf(),
                client.key.path().to_path_buf(),
            );
        }
        // Never fall back to plaintext when TLS was asked for, whatever
        // the server offers.
        options.require_tls(self.tls.is_set())
    }
}

/// The servers and how they are reached, for errors and logs: no secret
/// (a password in a URL is masked; the user's name and the TLS files' paths
/// are shown).
impl fmt::Display for NatsSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let urls: Vec<String> = servers(&self.urls)
            .into_iter()
            .map(crate::config::mask_url_password)
            .collect();
        f.write_str(&urls.join(","))?;
        let mut how = Vec::new();
        if let Some(c) = &self.credentials {
            how.push(format!("as {}", c.user));
        }
        if let Some(ca) = &self.tls.ca {
            how.push(format!("TLS trusting {}", ca.path().display()));
        } else if self.tls.is_set() {
            how.push("TLS".to_owned());
        }
        if let Some(client) = &self.tls.client {
            how.push(format!(
                "client certificate {}",
                client.cert.path().display()
            ));
        }
        if !how.is_empty() {
            write!(f, " ({})", how.join(", "))?;
        }
        Ok(())
    }
}

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

/// Connects to the first of the servers that answers, signed in and over
/// TLS as `settings` say. A wrong password fails here, with an
/// authorization error; an untrusted server certificate or a refused client
/// certificate with a TLS error.
pub async fn connect(
    settings: &NatsSettings,
) -> Result<async_nats::Client, async_nats::ConnectError> {
    settings.options().connect(servers(&settings.urls)).await
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

    fn nats_settings(env: &[(&str, String)]) -> Result<NatsSettings, ConfigError> {
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect();
        let defaults = [
            (URL, "nats://127.0.0.1:4222"),
            (USER, ""),
            (PASSWORD, ""),
            (TLS_CA, ""),
            (TLS_CERT, ""),
            (TLS_KEY, ""),
        ];
        NatsSettings::from_settings(&Settings::from_sources(&defaults, &env)?)
    }

    fn refused(env: &[(&str, String)]) -> (String, String) {
        match nats_settings(env) {
            Err(ConfigError::Invalid { key, reason }) => (key, reason),
            other => panic!("expected a refused setting, got {other:?}"),
        }
    }

    #[test]
    fn without_tls_settings_the_client_neither_requires_nor_configures_tls() {
        let s = nats_settings(&[]).expect("settings");
        assert_eq!(s, NatsSettings::new("nats://127.0.0.1:4222"));
        assert!(!s.tls.is_set());
    }

    #[test]
    fn nats_tls_files_are_read_with_the_settings_and_a_bad_one_is_refused_by_name() {
        let f = crate::tls::tests::Files::new();
        let s = nats_settings(&[
            (TLS_CA, f.path("ca.pem")),
            (TLS_CERT, f.path("cert.pem")),
            (TLS_KEY, f.path("key.pem")),
        ])
        .expect("settings");
        assert!(s.tls.is_set());
        assert_eq!(
            s.tls.ca.as_ref().map(|c| c.path().display().to_string()),
            Some(f.path("ca.pem"))
        );
        assert_eq!(refused(&[(TLS_CERT, f.path("cert.pem"))]).0, TLS_KEY);
        assert_eq!(refused(&[(TLS_KEY, f.path("key.pem"))]).0, TLS_CERT);
        let (key, reason) = refused(&[(TLS_CA, f.path("missing.pem"))]);
        assert_eq!(key, TLS_CA);
        assert!(reason.contains(&f.path("missing.pem")), "{reason}");
        assert_eq!(refused(&[(TLS_CA, f.path("junk.pem"))]).0, TLS_CA);
        let (key, _) = refused(&[
            (TLS_CERT, f.path("cert.pem")),
            (TLS_KEY, f.path("junk.pem")),
        ]);
        assert_eq!(key, TLS_KEY);
    }

    #[test]
    fn nats_tls_settings_show_paths_but_never_the_key() {
        let f = crate::tls::tests::Files::new();
        let key_pem = f.contents("key.pem");
        let secret = key_pem.lines().nth(1).expect("a base64 line");
        let s = nats_settings(&[
            (TLS_CERT, f.path("cert.pem")),
            (TLS_KEY, f.path("key.pem")),
            (USER, "attendance".into()),
            (PASSWORD, "s3cret-pw".into()),
        ])
        .expect("settings");
        let debug = format!("{s:?}");
        assert!(debug.contains(&f.path("key.pem")), "{debug}");
        assert!(
            !debug.contains(secret) && !debug.contains("s3cret-pw"),
            "{debug}"
        );
        let in_url = NatsSettings::new("nats://svc:url-pw@a:4222, nats://b:4222").to_string();
        assert_eq!(in_url, "nats://svc:***@a:4222,nats://b:4222");
        let shown = s.to_string();
        assert_eq!(
            shown,
            format!(
                "nats://127.0.0.1:4222 (as attendance, TLS, client certificate {})",
                f.path("cert.pem")
            )
        );
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
