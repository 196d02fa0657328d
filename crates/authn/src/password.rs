//! Password hashes for logins: Argon2id with the crate's recommended cost,
//! stored as PHC strings so parameters can be raised later without a
//! migration (old hashes keep verifying with their own parameters).

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};

#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error("operating system randomness unavailable: {0}")]
    Randomness(getrandom::Error),
    #[error("password hashing failed: {0}")]
    Hashing(argon2::password_hash::Error),
}

/// Hashes a password with a fresh 16-byte salt into a PHC string
/// (`$argon2id$v=19$...`).
pub fn hash_password(password: &str) -> Result<String, PasswordError> {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(PasswordError::Randomness)?;
    let salt = SaltString::encode_b64(&salt).map_err(PasswordError::Hashing)?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(PasswordError::Hashing)
}

/// Whether `password` matches a stored PHC hash. A corrupt hash is treated as
/// a mismatch, so a login never errors differently for a bad record.
pub fn verify_password(password: &str, phc: &str) -> bool {
    PasswordHash::new(phc)
        .map(|hash| {
            Argon2::default()
                .verify_password(password.as_bytes(), &hash)
                .is_ok()
        })
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_right_password_verifies_and_a_wrong_one_does_not() {
        let phc = hash_password("rahasia-123").expect("hash");
        assert!(phc.starts_with("$argon2id$"));
        assert!(verify_password("rahasia-123", &phc));
        assert!(!verify_password("rahasia-124", &phc));
        assert!(!verify_password("", &phc));
    }

    #[test]
    fn the_same_password_hashes_differently_each_time() {
        let a = hash_password("sama").expect("hash");
        let b = hash_password("sama").expect("hash");
        assert_ne!(a, b);
    }

    #[test]
    fn a_corrupt_stored_hash_never_verifies() {
        assert!(!verify_password("x", "not a phc string"));
        assert!(!verify_password("x", ""));
    }
}
