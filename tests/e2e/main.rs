//! The cross-service scenarios: the real services (and an outside consumer)
//! on throwaway NATS and PostgreSQL, talking only through their public gRPC
//! APIs and the event streams, as they do in production.
//!
//! One binary for the crate, so linking stays cheap; one module per scenario
//! family, and `common` for what they share.

mod activity;
mod attendance;
mod chaos;
mod common;
mod deploy;
mod drains;
mod field_app;
mod field_codes;
mod nats_permissions;
mod outages;
mod python_consumer;
mod python_fraud;
mod scoring;
mod tls;
