//! The fraud service: finds ghost workers and proxy attendance in the
//! identity, attendance and activity streams. Every replica follows the
//! three streams into an in-memory province (the facts the detectors read,
//! each with the event that proves it); `RunDetectors` turns a month's
//! signals into findings, raised as events on PANTAU_FRAUD with their
//! evidence, which investigators resolve. The read model of findings is a
//! projection of that stream.

// A failing unwrap is how a unit test reports; the library itself is still
// linted without cfg(test).
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod app;
pub mod config;
pub mod core;
pub mod domain;
pub mod grpc;
pub mod readmodel;
pub mod watch;
