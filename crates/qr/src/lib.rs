//! Worker QR credentials: the wire format of the codes scanners read (`token`), turning a code
//! into an image (`render`), and the printable sheets HR desks hand out (`sheet`).
//!
//! Everything here is pure: no clock, no randomness, no I/O. Callers pass the time and the keys
//! in, so the same inputs always give the same codes and the same files.

// A failing unwrap is how a test reports; the library itself is still linted without cfg(test).
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod render;
pub mod sheet;
pub mod token;

#[cfg(test)]
mod testutil;

pub use token::{
    Code, CodeError, Credential, ROTATING_PREFIX, RotatingCode, STATIC_PREFIX, STEP_SECS,
    StaticCode, StaticSigner, StaticVerifier, parse, rotating_code, step_at, worker_secret,
};
