//! IdentityService over gRPC against real NATS and PostgreSQL.

mod health_probe;
mod helpers;
mod photos;
mod scenarios;
