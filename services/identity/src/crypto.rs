//! Personal data protection: each worker's personal fields are sealed with
//! the worker's own key (XChaCha20-Poly1305) before they enter an event, and
//! fingerprinted with a keyed HMAC so other services can match duplicates
//! without ever seeing the values.

use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hmac::{Hmac, Mac};
use pantau_proto::events::v1 as ev;
use prost::Message;
use sha2::Sha256;

#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    #[error("failed to draw random bytes")]
    Random,
    #[error("sealed personal data could not be opened")]
    Open,
}

pub fn new_key() -> Result<[u8; 32], CryptoError> {
    let mut k = [0u8; 32];
    getrandom::fill(&mut k).map_err(|_| CryptoError::Random)?;
    Ok(k)
}

pub fn seal(
    key_id: &str,
    key: &[u8; 32],
    data: &ev::PersonalData,
) -> Result<ev::EncryptedPersonalData, CryptoError> {
    let mut nonce = [0u8; 24];
    getrandom::fill(&mut nonce).map_err(|_| CryptoError::Random)?;
    let cipher = XChaCha20Poly1305::new(key.into());
    let ciphertext = cipher
        .encrypt(XNonce::from_slice(&nonce), data.encode_to_vec().as_slice())
        .map_err(|_| CryptoError::Open)?;
    Ok(ev::EncryptedPersonalData {
        key_id: key_id.to_owned(),
        nonce: nonce.to_vec(),
        ciphertext,
    })
}

pub fn open(
    key: &[u8; 32],
    sealed: &ev::EncryptedPersonalData,
) -> Result<ev::PersonalData, CryptoError> {
    if sealed.nonce.len() != 24 {
        return Err(CryptoError::Open);
    }
    let cipher = XChaCha20Poly1305::new(key.into());
    let plain = cipher
        .decrypt(
            XNonce::from_slice(&sealed.nonce),
            sealed.ciphertext.as_slice(),
        )
        .map_err(|_| CryptoError::Open)?;
    ev::PersonalData::decode(plain.as_slice()).map_err(|_| CryptoError::Open)
}

/// Keyed fingerprints of the fields fraud detection matches on.
#[derive(Clone)]
pub struct Fingerprinter {
    secret: Vec<u8>,
}

impl Fingerprinter {
    pub fn new(secret: &[u8]) -> Self {
        Self {
            secret: secret.to_vec(),
        }
    }

    pub fn one(&self, kind: &str, value: &str) -> String {
        if value.is_empty() {
            return String::new();
        }
        let Ok(mut mac) = <Hmac<Sha256> as Mac>::new_from_slice(&self.secret) else {
            return String::new();
        };
        mac.update(kind.as_bytes());
        mac.update(b":");
        mac.update(value.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }

    pub fn all(&self, p: &ev::PersonalData) -> ev::Fingerprints {
        ev::Fingerprints {
            nik: self.one("nik", &p.nik),
            phone: self.one("phone", &p.phone),
            email: self.one("email", &p.email),
            bank_account: self.one("bank_account", &p.bank_account),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data() -> ev::PersonalData {
        ev::PersonalData {
            nik: "3171014501900001".into(),
            phone: "+6281234567890".into(),
            ..Default::default()
        }
    }

    #[test]
    fn sealed_data_opens_with_its_key_only() {
        let k = new_key().expect("key");
        let other = new_key().expect("key");
        let sealed = seal("w1", &k, &data()).expect("seal");
        assert!(!sealed.ciphertext.windows(4).any(|w| w == b"3171"));
        assert_eq!(open(&k, &sealed).expect("open"), data());
        assert!(open(&other, &sealed).is_err());
    }

    #[test]
    fn fingerprints_are_keyed_and_stable() {
        let a = Fingerprinter::new(b"secret-a");
        let b = Fingerprinter::new(b"secret-b");
        assert_eq!(a.one("nik", "1"), a.one("nik", "1"));
        assert_ne!(a.one("nik", "1"), b.one("nik", "1"));
        assert_ne!(a.one("nik", "1"), a.one("phone", "1"));
        assert_eq!(a.one("nik", ""), "");
    }
}
