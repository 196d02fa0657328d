//! The attendance service over gRPC, on real NATS (durable) and PostgreSQL.

mod checkins;
mod credentials;
mod helpers;
mod leave;
mod sessions;
