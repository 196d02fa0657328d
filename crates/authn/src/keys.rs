//! The identity service's Ed25519 signing key. The key id is derived from the
//! public key, so a verifier can never be told the wrong id for a key.

use std::fmt;

use ed25519_dalek::{Signer, SigningKey};
use sha2::{Digest, Sha256};

/// An Ed25519 key pair used to sign access tokens.
#[derive(Clone)]
pub struct SigningKeyPair {
    key: SigningKey,
}

impl SigningKeyPair {
    /// A new key from the operating system's random source.
    pub fn generate() -> Result<SigningKeyPair, getrandom::Error> {
        let mut secret = [0u8; 32];
        getrandom::fill(&mut secret)?;
        Ok(Self::from_secret_bytes(secret))
    }

    /// Restores a key stored with [`SigningKeyPair::secret_bytes`].
    pub fn from_secret_bytes(secret: [u8; 32]) -> SigningKeyPair {
        SigningKeyPair {
            key: SigningKey::from_bytes(&secret),
        }
    }

    /// The 32-byte secret seed, for storage. Treat as a password.
    pub fn secret_bytes(&self) -> [u8; 32] {
        self.key.to_bytes()
    }

    /// The raw 32-byte public key, as published in `SigningKeyPublished`.
    pub fn public_key_bytes(&self) -> [u8; 32] {
        self.key.verifying_key().to_bytes()
    }

    /// First 16 hex characters of SHA-256 of the public key.
    pub fn key_id(&self) -> String {
        key_id_of(&self.public_key_bytes())
    }

    pub(crate) fn sign(&self, message: &[u8]) -> [u8; 64] {
        self.key.sign(message).to_bytes()
    }
}

/// The key id of a raw public key; the same rule as [`SigningKeyPair::key_id`].
pub(crate) fn key_id_of(public_key: &[u8; 32]) -> String {
    let digest = Sha256::digest(public_key);
    let mut id = hex::encode(digest);
    id.truncate(16);
    id
}

/// Shows the key id only: the secret must never reach a log line.
impl fmt::Debug for SigningKeyPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKeyPair")
            .field("key_id", &self.key_id())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_restored_from_its_secret_has_the_same_public_key_and_id() {
        let key = SigningKeyPair::generate().expect("os randomness");
        let restored = SigningKeyPair::from_secret_bytes(key.secret_bytes());
        assert_eq!(restored.public_key_bytes(), key.public_key_bytes());
        assert_eq!(restored.key_id(), key.key_id());
    }

    #[test]
    fn a_key_id_is_sixteen_hex_characters_of_the_public_key_hash() {
        let key = SigningKeyPair::from_secret_bytes([7; 32]);
        let id = key.key_id();
        assert_eq!(id.len(), 16);
        assert!(id.chars().all(|c| c.is_ascii_hexdigit()));
        let full = hex::encode(Sha256::digest(key.public_key_bytes()));
        assert!(full.starts_with(&id));
    }

    #[test]
    fn two_generated_keys_differ() {
        let a = SigningKeyPair::generate().expect("os randomness");
        let b = SigningKeyPair::generate().expect("os randomness");
        assert_ne!(a.key_id(), b.key_id());
    }

    #[test]
    fn debug_output_does_not_contain_the_secret() {
        let key = SigningKeyPair::from_secret_bytes([0xAB; 32]);
        let shown = format!("{key:?}");
        assert!(shown.contains(&key.key_id()));
        assert!(!shown.contains("171, 171"), "{shown}");
    }
}
