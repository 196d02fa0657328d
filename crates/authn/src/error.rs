//! Why a token was refused. Every variant that a caller can cause maps to
//! `UNAUTHENTICATED`; the message says what to fix without echoing secrets.

/// A token, or the metadata carrying it, was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("missing `authorization: Bearer <token>` metadata")]
    MissingToken,
    #[error("malformed token: {0}")]
    Malformed(&'static str),
    #[error("token signed with unknown key id {0:?}")]
    UnknownKey(String),
    #[error("token signature is invalid")]
    BadSignature,
    #[error("token expired at unix time {exp}")]
    Expired { exp: i64 },
    #[error("token issuer {0:?} is not pantau-identity")]
    WrongIssuer(String),
    /// A configured public key is not a valid Ed25519 point: a deployment
    /// problem, never the caller's.
    #[error("public key {0:?} is not a valid Ed25519 key")]
    InvalidKey(String),
}

impl From<AuthError> for tonic::Status {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::InvalidKey(_) => tonic::Status::internal(e.to_string()),
            _ => tonic::Status::unauthenticated(e.to_string()),
        }
    }
}

/// Attacker-chosen text (a `kid`, an `iss`) is echoed in errors and logs;
/// keep it short and printable.
pub(crate) fn sanitize(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_ascii_graphic())
        .take(64)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refused_token_becomes_unauthenticated_with_its_reason() {
        let status = tonic::Status::from(AuthError::Expired { exp: 1_700_000_000 });
        assert_eq!(status.code(), tonic::Code::Unauthenticated);
        assert!(status.message().contains("expired"));
    }

    #[test]
    fn a_bad_configured_key_is_an_internal_error() {
        let status = tonic::Status::from(AuthError::InvalidKey("k1".into()));
        assert_eq!(status.code(), tonic::Code::Internal);
    }

    #[test]
    fn echoed_text_is_cut_and_stripped_of_control_characters() {
        assert_eq!(sanitize("ab\ncd"), "abcd");
        assert_eq!(sanitize(&"x".repeat(100)).len(), 64);
    }
}
