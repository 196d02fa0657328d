//! The activity service over gRPC, on real NATS (durable) and PostgreSQL.

// A refused call that should have been refused is asserted with unwrap_err.
#![allow(clippy::unwrap_used)]

mod catalog;
mod duplicates;
mod helpers;
mod observability;
mod photos;
mod queries;
mod ratings;
mod replicas;
mod reports;
mod retries;
mod review;
