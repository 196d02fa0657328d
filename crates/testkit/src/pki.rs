//! A throwaway certificate authority for TLS tests: a CA and one
//! certificate it signed for the given names, allowed both to serve and to
//! identify a client (as a service's certificate is), written as PEM files
//! into a temp dir that lives as long as the value.

use std::path::PathBuf;

use rcgen::{BasicConstraints, CertificateParams, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair};

/// The CA's certificate.
pub const CA: &str = "ca.pem";
/// The certificate it signed.
pub const CERT: &str = "cert.pem";
/// That certificate's private key.
pub const KEY: &str = "key.pem";

pub struct TestPki {
    dir: tempfile::TempDir,
}

impl TestPki {
    /// A CA and a certificate for `names` (DNS names or IP addresses).
    pub fn new(names: &[&str]) -> anyhow::Result<TestPki> {
        let dir = tempfile::tempdir()?;
        let ca_key = KeyPair::generate()?;
        let mut ca = CertificateParams::new(Vec::new())?;
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca_pem = ca.self_signed(&ca_key)?.pem();
        let issuer = Issuer::new(ca, ca_key);
        let key = KeyPair::generate()?;
        let mut leaf =
            CertificateParams::new(names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>())?;
        leaf.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        let cert = leaf.signed_by(&key, &issuer)?;
        std::fs::write(dir.path().join(CA), ca_pem)?;
        std::fs::write(dir.path().join(CERT), cert.pem())?;
        std::fs::write(dir.path().join(KEY), key.serialize_pem())?;
        Ok(TestPki { dir })
    }

    /// The path of `file` ([`CA`], [`CERT`], [`KEY`], or another name in the
    /// same directory).
    pub fn path(&self, file: &str) -> PathBuf {
        self.dir.path().join(file)
    }

    /// [`TestPki::path`] as a string, as settings and arguments take it.
    pub fn file(&self, file: &str) -> String {
        self.path(file).display().to_string()
    }
}
