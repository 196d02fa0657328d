//! The activity domain, pure: catalogs and their versions, a worker's day of
//! reports with its rules, supervisor review, and behaviour ratings. No I/O,
//! no clock: the gRPC adapter passes those in.

pub mod access;
pub mod catalog;
pub mod day;
pub mod input;
pub mod rating;
pub mod registry;
pub mod time;

pub use pantau_platform::DomainError;
pub use pantau_platform::authz::{Principal, Role, parse_request_id};
