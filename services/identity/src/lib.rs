//! The identity service: the registry BKD owns. Agencies, units, workers,
//! accounts and re-verification campaigns, event-sourced on the
//! PANTAU_IDENTITY stream, with a PostgreSQL read model and Ed25519 tokens
//! every other service verifies offline.

pub mod app;
pub mod config;
pub mod core;
pub mod crypto;
pub mod devices;
pub mod domain;
pub mod error;
pub mod grpc;
pub mod readmodel;
