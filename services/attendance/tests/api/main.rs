//! The attendance service over gRPC, on real NATS (durable) and PostgreSQL.

// A refused call that should have been refused is asserted with unwrap_err.
#![allow(clippy::unwrap_used)]

mod checkins;
mod credentials;
mod helpers;
mod leave;
mod scanners;
mod sessions;
