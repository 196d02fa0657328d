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

pub use authz::{Principal, Role, WorkerAccess};
pub use error::DomainError;
pub use pantau_platform::authz::parse_request_id;

/// Field `field` holding an id (a UUID).
pub fn parse_id(s: &str, field: &str) -> Result<uuid::Uuid, DomainError> {
    uuid::Uuid::parse_str(s).map_err(|_| DomainError::invalid(field, "must be a UUID"))
}
