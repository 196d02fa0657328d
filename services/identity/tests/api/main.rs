//! IdentityService over gRPC against real NATS and PostgreSQL.

mod helpers;
mod photos;
mod scenarios;
