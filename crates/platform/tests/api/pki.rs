//! A throwaway public-key infrastructure in a temp dir: a CA, a server
//! certificate it signed for `localhost` and `127.0.0.1` (usable as a client
//! certificate too, as a service's is), a client certificate and a wildcard
//! server certificate it signed, and an unrelated CA with a
//! client certificate of its own.

use std::path::PathBuf;

use pantau_platform::Settings;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};

pub struct Pki {
    dir: tempfile::TempDir,
}

/// File names in [`Pki`]'s directory.
pub const CA: &str = "ca.pem";
pub const SERVER: &str = "server.pem";
pub const SERVER_KEY: &str = "server-key.pem";
pub const CLIENT: &str = "client.pem";
pub const CLIENT_KEY: &str = "client-key.pem";
pub const OTHER_CA: &str = "other-ca.pem";
pub const STRANGER: &str = "stranger.pem";
pub const STRANGER_KEY: &str = "stranger-key.pem";
/// A server certificate for `*.pantau.test` only, as a cluster's may be.
pub const WILDCARD: &str = "wildcard.pem";
pub const WILDCARD_KEY: &str = "wildcard-key.pem";

fn ca(name: &str) -> anyhow::Result<(String, Issuer<'static, KeyPair>)> {
    let key = KeyPair::generate()?;
    let mut params = CertificateParams::new(Vec::new())?;
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let cert = params.self_signed(&key)?;
    Ok((cert.pem(), Issuer::new(params, key)))
}

fn leaf(
    issuer: &Issuer<'static, KeyPair>,
    names: &[&str],
    usages: Vec<ExtendedKeyUsagePurpose>,
) -> anyhow::Result<(String, String)> {
    let key = KeyPair::generate()?;
    let mut params =
        CertificateParams::new(names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>())?;
    params.distinguished_name.push(
        DnType::CommonName,
        names.first().copied().unwrap_or("client"),
    );
    params.extended_key_usages = usages;
    let cert = params.signed_by(&key, issuer)?;
    Ok((cert.pem(), key.serialize_pem()))
}

impl Pki {
    pub fn new() -> anyhow::Result<Self> {
        use ExtendedKeyUsagePurpose::{ClientAuth, ServerAuth};
        let dir = tempfile::tempdir()?;
        let (ca_pem, issuer) = ca("pantau test CA")?;
        let (server, server_key) = leaf(
            &issuer,
            &["localhost", "127.0.0.1"],
            vec![ServerAuth, ClientAuth],
        )?;
        let (client, client_key) = leaf(&issuer, &["attendance"], vec![ClientAuth])?;
        let (wildcard, wildcard_key) =
            leaf(&issuer, &["*.pantau.test"], vec![ServerAuth, ClientAuth])?;
        let (other_pem, other) = ca("someone else's CA")?;
        let (stranger, stranger_key) = leaf(&other, &["stranger"], vec![ClientAuth])?;
        for (name, text) in [
            (CA, ca_pem),
            (SERVER, server),
            (SERVER_KEY, server_key),
            (CLIENT, client),
            (CLIENT_KEY, client_key),
            (OTHER_CA, other_pem),
            (STRANGER, stranger),
            (STRANGER_KEY, stranger_key),
            (WILDCARD, wildcard),
            (WILDCARD_KEY, wildcard_key),
        ] {
            std::fs::write(dir.path().join(name), text)?;
        }
        Ok(Self { dir })
    }

    pub fn path(&self, file: &str) -> PathBuf {
        self.dir.path().join(file)
    }

    /// Settings naming these files: `(setting, file name)` pairs, other
    /// values (URLs) as given.
    pub fn settings(&self, pairs: &[(&str, &str)]) -> anyhow::Result<Settings> {
        let env: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| {
                let v = if v.ends_with(".pem") {
                    self.path(v).display().to_string()
                } else {
                    (*v).to_owned()
                };
                ((*k).to_owned(), v)
            })
            .collect();
        Ok(Settings::from_sources(&[], &env)?)
    }
}
