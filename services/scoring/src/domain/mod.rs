//! The scoring domain, pure: decree rule sets and their versions, the facts
//! a worker's month is scored from (approved activities, days present,
//! ceremonies, leave) as events change them, and the evaluation of a month
//! into points, score, category, pay and TPP. No I/O, no clock: the adapter
//! passes those in.

pub mod eval;
pub mod facts;
pub mod ledger;
pub mod rules;

pub use pantau_platform::DomainError;
pub use pantau_platform::authz::{Principal, Role, parse_request_id};
pub use pantau_platform::time::{Month, parse_date, timestamp};
