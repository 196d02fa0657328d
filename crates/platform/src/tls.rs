//! TLS for gRPC, from PEM files the settings name. With none of them set,
//! every server and client stays plaintext (`make run`, the tests).
//!
//! * `PANTAU_TLS_CERT` and `PANTAU_TLS_KEY` (both or neither): the service's
//!   certificate (chain) and private key. Its gRPC server then speaks only
//!   TLS, and it presents them as a client to servers that ask for one.
//! * `PANTAU_TLS_CLIENT_CA`: the server also requires a client certificate
//!   signed by this CA (mutual TLS). Needs the two above.
//! * `PANTAU_TLS_CA`: the CA this service trusts when it calls other
//!   services over `https://` (reporting's field-app gateway).
//!
//! Every file is read and parsed when the settings are, so an unreadable or
//! non-PEM file stops the service at start-up with an error naming the
//! setting. Paths may be logged; what a key file holds never is: [`PemFile`]'s
//! `Debug` shows only its path.

use std::fmt;
use std::path::{Path, PathBuf};

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tonic::transport::{Certificate, ClientTlsConfig, Endpoint, Identity, ServerTlsConfig};

use crate::{ConfigError, Settings};

/// The service's certificate (chain), PEM.
pub const CERT: &str = "PANTAU_TLS_CERT";
/// The private key of [`CERT`], PEM (PKCS#8, PKCS#1 or SEC1).
pub const KEY: &str = "PANTAU_TLS_KEY";
/// The CA whose client certificates the gRPC server requires (mutual TLS).
pub const CLIENT_CA: &str = "PANTAU_TLS_CLIENT_CA";
/// The CA trusted for the gRPC servers this service calls.
pub const CA: &str = "PANTAU_TLS_CA";

/// A PEM file read at start-up: its path (shown) and contents (never shown).
#[derive(Clone, PartialEq, Eq)]
pub struct PemFile {
    path: PathBuf,
    pem: Vec<u8>,
}

impl fmt::Debug for PemFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("PemFile").field(&self.path).finish()
    }
}

impl PemFile {
    /// The certificates in the file `setting` names: `None` when it is unset,
    /// an error naming `setting` when the file cannot be read or holds no
    /// PEM certificate.
    pub fn certificates(s: &Settings, setting: &str) -> Result<Option<Self>, ConfigError> {
        let Some(file) = Self::read(s, setting)? else {
            return Ok(None);
        };
        let certs = CertificateDer::pem_slice_iter(&file.pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| file.invalid(setting, &format!("not a PEM certificate file ({e})")))?;
        if certs.is_empty() {
            return Err(file.invalid(setting, "holds no PEM certificate"));
        }
        Ok(Some(file))
    }

    /// The private key in the file `setting` names, as
    /// [`PemFile::certificates`]. The parser's own message is left out of
    /// the error, since it may quote the file.
    pub fn private_key(s: &Settings, setting: &str) -> Result<Option<Self>, ConfigError> {
        let Some(file) = Self::read(s, setting)? else {
            return Ok(None);
        };
        if PrivateKeyDer::from_pem_slice(&file.pem).is_err() {
            return Err(file.invalid(setting, "holds no PEM private key (PKCS#8, PKCS#1 or SEC1)"));
        }
        Ok(Some(file))
    }

    fn read(s: &Settings, setting: &str) -> Result<Option<Self>, ConfigError> {
        let Some(value) = s.get(setting) else {
            return Ok(None);
        };
        if looks_like_pem(value) {
            return Err(ConfigError::Invalid {
                key: setting.to_owned(),
                reason: "holds PEM text; set it to the path of a PEM file instead".into(),
            });
        }
        let path = PathBuf::from(value);
        let pem = std::fs::read(&path).map_err(|e| ConfigError::Invalid {
            key: setting.to_owned(),
            reason: format!("cannot read {}: {e}", path.display()),
        })?;
        Ok(Some(Self { path, pem }))
    }

    fn invalid(&self, setting: &str, what: &str) -> ConfigError {
        ConfigError::Invalid {
            key: setting.to_owned(),
            reason: format!("{} {what}", self.path.display()),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn pem(&self) -> &[u8] {
        &self.pem
    }
}

/// Whether a setting's value is PEM text rather than a path: such a value is
/// masked wherever settings are shown ([`Settings::describe`]).
pub fn looks_like_pem(value: &str) -> bool {
    value.contains("-----BEGIN") || value.contains('\n')
}

/// A certificate (chain) and its private key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertifiedKey {
    pub cert: PemFile,
    pub key: PemFile,
}

impl CertifiedKey {
    /// The files `cert` and `key` name: both (read and parsed) or neither;
    /// one without the other is refused, naming the missing one.
    pub fn from_settings(s: &Settings, cert: &str, key: &str) -> Result<Option<Self>, ConfigError> {
        match (s.get(cert), s.get(key)) {
            (None, None) => Ok(None),
            (Some(_), None) => Err(half_set(key, cert)),
            (None, Some(_)) => Err(half_set(cert, key)),
            (Some(_), Some(_)) => Ok(Some(Self {
                cert: PemFile::certificates(s, cert)?.ok_or_else(|| half_set(cert, key))?,
                key: PemFile::private_key(s, key)?.ok_or_else(|| half_set(key, cert))?,
            })),
        }
    }

    /// As tonic takes it (cloned: tonic's `Identity` prints its key in
    /// `Debug`, so it lives only as long as a TLS config is being built).
    fn identity(&self) -> Identity {
        Identity::from_pem(self.cert.pem(), self.key.pem())
    }
}

fn half_set(missing: &str, set: &str) -> ConfigError {
    ConfigError::Invalid {
        key: missing.to_owned(),
        reason: format!("{set} is set without it: set both, or neither"),
    }
}

/// gRPC TLS of one service ([`CERT`], [`KEY`], [`CLIENT_CA`], [`CA`]); the
/// default is plaintext.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GrpcTls {
    /// Served by the gRPC server; presented as a client certificate when a
    /// called server asks for one.
    pub identity: Option<CertifiedKey>,
    /// Clients of the gRPC server must present a certificate it signed.
    pub client_ca: Option<PemFile>,
    /// Trusted when calling other services over `https://`.
    pub ca: Option<PemFile>,
}

impl GrpcTls {
    pub fn from_settings(s: &Settings) -> Result<Self, ConfigError> {
        let tls = Self {
            identity: CertifiedKey::from_settings(s, CERT, KEY)?,
            client_ca: PemFile::certificates(s, CLIENT_CA)?,
            ca: PemFile::certificates(s, CA)?,
        };
        if tls.client_ca.is_some() && tls.identity.is_none() {
            return Err(ConfigError::Invalid {
                key: CLIENT_CA.to_owned(),
                reason: format!(
                    "requiring client certificates needs the server's own TLS: set {CERT} and {KEY}"
                ),
            });
        }
        // Builds the server's TLS once, so a key that does not fit its
        // certificate (or an unsupported one) stops the start-up here.
        if let Some(config) = tls.server() {
            tonic::transport::Server::builder()
                .tls_config(config)
                .map_err(|e| ConfigError::Invalid {
                    key: KEY.to_owned(),
                    reason: format!("not usable with {CERT}: {}", error_chain(&e)),
                })?;
        }
        Ok(tls)
    }

    /// Whether the gRPC server speaks TLS (its URL is `https://`).
    pub fn serves_tls(&self) -> bool {
        self.identity.is_some()
    }

    /// The gRPC server's TLS, `None` for plaintext.
    pub fn server(&self) -> Option<ServerTlsConfig> {
        let identity = self.identity.as_ref()?;
        let mut config = ServerTlsConfig::new().identity(identity.identity());
        if let Some(ca) = &self.client_ca {
            config = config.client_ca_root(Certificate::from_pem(ca.pem()));
        }
        Some(config)
    }

    /// TLS for calling a gRPC server: trusting [`CA`] and presenting this
    /// service's certificate; `None` without [`CA`].
    pub fn client(&self) -> Option<ClientTlsConfig> {
        self.ca.as_ref().map(|ca| self.client_trusting(ca))
    }

    /// TLS for calling a gRPC server whose certificate `ca` signed,
    /// presenting this service's certificate if it has one.
    pub fn client_trusting(&self, ca: &PemFile) -> ClientTlsConfig {
        let config = ClientTlsConfig::new().ca_certificate(Certificate::from_pem(ca.pem()));
        match &self.identity {
            Some(identity) => config.identity(identity.identity()),
            None => config,
        }
    }

    /// An endpoint for `url`, with [`GrpcTls::client`] when the URL is
    /// `https://`; an `https://` URL without [`CA`] is refused rather than
    /// called in plaintext.
    pub fn endpoint(&self, url: &str) -> anyhow::Result<Endpoint> {
        let endpoint = Endpoint::from_shared(url.to_owned())
            .map_err(|e| anyhow::anyhow!("invalid URL {url:?}: {}", error_chain(&e)))?;
        if !url.starts_with("https://") {
            return Ok(endpoint);
        }
        let config = self.client().ok_or_else(|| {
            anyhow::anyhow!("{url} is https://, and no CA to verify it with is set ({CA})")
        })?;
        Ok(endpoint.tls_config(config)?)
    }
}

/// An error and its sources, `: `-joined (tonic's own message is generic).
pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A CA-signed certificate and key, a second key, and a file that is not
    /// PEM, in a temp dir.
    pub(crate) struct Files {
        dir: tempfile::TempDir,
    }

    impl Files {
        pub(crate) fn new() -> Self {
            let dir = tempfile::tempdir().expect("temp dir");
            let ca_key = rcgen::KeyPair::generate().expect("ca key");
            let mut ca = rcgen::CertificateParams::new(Vec::new()).expect("ca params");
            ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
            let ca_cert = ca.self_signed(&ca_key).expect("ca");
            let issuer = rcgen::Issuer::new(ca, ca_key);
            let key = rcgen::KeyPair::generate().expect("key");
            let cert = rcgen::CertificateParams::new(vec!["localhost".to_owned()])
                .expect("params")
                .signed_by(&key, &issuer)
                .expect("cert");
            let other = rcgen::KeyPair::generate().expect("other key");
            let write = |name: &str, text: &str| {
                std::fs::write(dir.path().join(name), text).expect("write");
            };
            write("ca.pem", &ca_cert.pem());
            write("cert.pem", &cert.pem());
            write("key.pem", &key.serialize_pem());
            write("other-key.pem", &other.serialize_pem());
            write("junk.pem", "not a pem file\n");
            Self { dir }
        }

        pub(crate) fn path(&self, name: &str) -> String {
            self.dir.path().join(name).display().to_string()
        }

        pub(crate) fn contents(&self, name: &str) -> String {
            std::fs::read_to_string(self.dir.path().join(name)).expect("read")
        }
    }

    fn settings(env: &[(&str, String)]) -> Settings {
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect();
        Settings::from_sources(&[(CERT, ""), (KEY, ""), (CLIENT_CA, ""), (CA, "")], &env)
            .expect("settings")
    }

    fn refused_key(env: &[(&str, String)]) -> (String, String) {
        match GrpcTls::from_settings(&settings(env)) {
            Err(ConfigError::Invalid { key, reason }) => (key, reason),
            other => panic!("expected a refused setting, got {other:?}"),
        }
    }

    #[test]
    fn without_any_tls_setting_grpc_stays_plaintext() {
        let tls = GrpcTls::from_settings(&settings(&[])).expect("plaintext");
        assert_eq!(tls, GrpcTls::default());
        assert!(!tls.serves_tls() && tls.server().is_none() && tls.client().is_none());
    }

    #[test]
    fn a_certificate_and_its_key_make_a_tls_server_and_mutual_tls_takes_a_client_ca() {
        let f = Files::new();
        let tls = GrpcTls::from_settings(&settings(&[
            (CERT, f.path("cert.pem")),
            (KEY, f.path("key.pem")),
            (CLIENT_CA, f.path("ca.pem")),
            (CA, f.path("ca.pem")),
        ]))
        .expect("tls");
        assert!(tls.serves_tls() && tls.server().is_some() && tls.client().is_some());
        assert!(tls.endpoint("https://localhost:1").is_ok());
    }

    #[test]
    fn an_https_endpoint_without_a_ca_is_refused_and_plain_http_needs_none() {
        let f = Files::new();
        let plain = GrpcTls::from_settings(&settings(&[])).expect("plaintext");
        assert!(plain.endpoint("http://localhost:1").is_ok());
        let e = plain
            .endpoint("https://localhost:1")
            .expect_err("https without a CA")
            .to_string();
        assert!(e.contains(CA), "{e}");
        let trusting = GrpcTls::from_settings(&settings(&[(CA, f.path("ca.pem"))])).expect("ca");
        assert!(trusting.endpoint("https://localhost:1").is_ok());
    }

    #[test]
    fn a_certificate_without_its_key_or_a_key_without_its_certificate_names_the_missing_one() {
        let f = Files::new();
        assert_eq!(refused_key(&[(CERT, f.path("cert.pem"))]).0, KEY);
        assert_eq!(refused_key(&[(KEY, f.path("key.pem"))]).0, CERT);
        let (key, reason) = refused_key(&[(CLIENT_CA, f.path("ca.pem"))]);
        assert_eq!(key, CLIENT_CA, "{reason}");
    }

    #[test]
    fn a_missing_or_non_pem_file_is_refused_naming_its_setting_and_path() {
        let f = Files::new();
        let missing = f.path("missing.pem");
        for (setting, env) in [
            (
                CERT,
                vec![(CERT, missing.clone()), (KEY, f.path("key.pem"))],
            ),
            (
                KEY,
                vec![(CERT, f.path("cert.pem")), (KEY, missing.clone())],
            ),
            (CA, vec![(CA, missing.clone())]),
            (CA, vec![(CA, f.path("junk.pem"))]),
            // A key where a certificate belongs, and the reverse.
            (
                CERT,
                vec![(CERT, f.path("key.pem")), (KEY, f.path("key.pem"))],
            ),
            (
                KEY,
                vec![(CERT, f.path("cert.pem")), (KEY, f.path("cert.pem"))],
            ),
            (
                CLIENT_CA,
                vec![
                    (CERT, f.path("cert.pem")),
                    (KEY, f.path("key.pem")),
                    (CLIENT_CA, f.path("junk.pem")),
                ],
            ),
        ] {
            let (key, reason) = refused_key(&env);
            assert_eq!(key, setting, "{reason}");
            let named = env.iter().find(|(k, _)| *k == setting).map(|(_, v)| v);
            assert!(
                named.is_some_and(|p| reason.contains(p.as_str())),
                "{key}: {reason}"
            );
        }
    }

    #[test]
    fn a_key_that_does_not_fit_its_certificate_is_refused_at_start_up() {
        let f = Files::new();
        let (key, reason) =
            refused_key(&[(CERT, f.path("cert.pem")), (KEY, f.path("other-key.pem"))]);
        assert_eq!(key, KEY, "{reason}");
    }

    #[test]
    fn key_contents_never_show_in_debug_output_errors_or_the_settings_line() {
        let f = Files::new();
        let key_pem = f.contents("key.pem");
        let secret = key_pem.lines().nth(1).expect("a base64 line");
        let s = settings(&[(CERT, f.path("cert.pem")), (KEY, f.path("key.pem"))]);
        let tls = GrpcTls::from_settings(&s).expect("tls");
        let debug = format!("{tls:?}");
        assert!(debug.contains(&f.path("key.pem")), "{debug}");
        assert!(!debug.contains(secret), "{debug}");
        // The path is fine to show; PEM text pasted in place of a path is not.
        let line = s.describe();
        assert!(
            line.contains(&format!("{KEY}={}", f.path("key.pem"))),
            "{line}"
        );
        let pasted = settings(&[(CERT, f.path("cert.pem")), (KEY, key_pem.clone())]);
        assert!(!pasted.describe().contains(secret));
        let (key, reason) = refused_key(&[(CERT, f.path("cert.pem")), (KEY, key_pem.clone())]);
        assert_eq!(key, KEY);
        assert!(!reason.contains(secret), "{reason}");
    }
}
