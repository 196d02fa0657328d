//! Access tokens for Pantau: the identity service issues Ed25519-signed JWTs
//! (`alg` EdDSA, `kid` in the header) and every other service verifies them
//! offline against the public keys identity publishes. Password hashing for
//! logins lives here too, so the one crate owns every credential format.

mod device;
mod error;
mod keys;
mod metadata;
mod password;
mod token;

pub use device::{DEVICE_TOKEN_PREFIX, DeviceToken, DeviceTokenError};
pub use error::AuthError;
pub use keys::SigningKeyPair;
pub use metadata::bearer_token;
pub use password::{PasswordError, hash_password, verify_password};
pub use token::{Claims, ISSUER, Issuer, LEEWAY_SECS, PendingToken, Verifier, verify_batch};
