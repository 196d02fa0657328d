//! The content-addressed photo store services keep in their own database:
//! activity's report evidence, identity's worker portraits. A photo is named
//! by the SHA-256 of its bytes, so storing the same bytes twice keeps one
//! row and answers the same, and a name can never point at other bytes.
//!
//! Each service creates the `photos` table in its own migrations; this crate
//! parses what clients send ([`Upload`], [`PhotoHash`]) and reads and writes
//! that table ([`put`], [`get`]).

// A failing unwrap is how a unit test reports; the library itself is still
// linted without cfg(test).
#![cfg_attr(test, allow(clippy::unwrap_used))]

mod content;
#[cfg(any(test, feature = "sample"))]
pub mod sample;
mod store;

pub use content::{ContentType, MAX_MESSAGE_BYTES, MAX_PHOTO_BYTES, PhotoHash, Upload};
pub use store::{Photo, StoredPhoto, get, put};

use pantau_platform::{DomainError, ServiceError};

/// Why a photo was refused or could not be stored or read.
#[derive(Debug, thiserror::Error)]
pub enum PhotoError {
    /// A request field (`content` or `sha256`) is not acceptable.
    #[error("invalid {field}: {reason}")]
    Invalid { field: &'static str, reason: String },
    #[error("{context}: {source}")]
    Database {
        context: &'static str,
        #[source]
        source: sqlx::Error,
    },
}

impl PhotoError {
    fn invalid(field: &'static str, reason: impl Into<String>) -> Self {
        Self::Invalid {
            field,
            reason: reason.into(),
        }
    }
}

impl From<PhotoError> for ServiceError {
    fn from(e: PhotoError) -> Self {
        match e {
            PhotoError::Invalid { field, reason } => DomainError::invalid(field, reason).into(),
            e @ PhotoError::Database { .. } => ServiceError::Unavailable(e.to_string()),
        }
    }
}
