//! The attendance domain, pure: positions and fences, local days and
//! schedules, the session (ceremony) aggregate that judges scans, the
//! check-in decision and the leave aggregate. No I/O, no clock, no
//! randomness: the gRPC adapter passes those in.

pub mod authz;
pub mod daily;
pub mod error;
pub mod geo;
pub mod leave;
pub mod presence;
pub mod registry;
pub mod session;
pub mod time;

pub use authz::{Principal, Role};
pub use error::DomainError;

/// Field `request_id`: 1-128 chars of `A-Z a-z 0-9 . _ : -`, safe to use
/// verbatim in a `Nats-Msg-Id` header.
pub fn parse_request_id(s: &str) -> Result<&str, DomainError> {
    if s.is_empty() || s.len() > 128 {
        return Err(DomainError::invalid(
            "request_id",
            "must be 1-128 characters",
        ));
    }
    if !s
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | ':' | '-'))
    {
        return Err(DomainError::invalid(
            "request_id",
            "may contain only A-Z, a-z, 0-9, '.', '_', ':' and '-'",
        ));
    }
    Ok(s)
}

/// Field `field` holding an id (a UUID).
pub fn parse_id(s: &str, field: &str) -> Result<uuid::Uuid, DomainError> {
    uuid::Uuid::parse_str(s).map_err(|_| DomainError::invalid(field, "must be a UUID"))
}
