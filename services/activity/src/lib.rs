//! The activity service: what workers did. Daily activity reports against
//! a versioned catalog (general activities every agency shares and each
//! agency's own duties), reviewed by the worker's supervisor, checked for
//! overlaps, and monthly BerAKHLAK behaviour ratings. Event-sourced on the
//! PANTAU_ACTIVITY stream; learns the registry from the PANTAU_IDENTITY
//! stream, never from identity's database.

// A failing unwrap is how a unit test reports; the library itself is still
// linted without cfg(test).
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod app;
pub mod config;
pub mod core;
pub mod detector;
pub mod directory;
pub mod domain;
pub mod grpc;
pub mod readmodel;
