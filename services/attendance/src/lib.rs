//! The attendance service: who was where and when. Personal QR credentials
//! (signed printed codes and 30-second rotating codes), ceremonies scanned
//! by registered officer phones, geofenced daily self check-ins, leave and
//! official travel. Event-sourced on the PANTAU_ATTENDANCE stream; learns
//! the registry from the PANTAU_IDENTITY stream, never from identity's
//! database.

// A failing unwrap is how a unit test reports; the library itself is still
// linted without cfg(test).
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod app;
pub mod config;
pub mod core;
pub mod directory;
pub mod domain;
pub mod error;
pub mod grpc;
pub mod readmodel;
