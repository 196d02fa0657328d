//! The fraud service: finds ghost workers and proxy attendance in the
//! identity, attendance and activity streams, as findings with their
//! evidence that investigators resolve. This crate holds, so far, the pure
//! domain: the facts the detectors read, the detectors, and how their
//! signals combine into a finding's risk.

// A failing unwrap is how a unit test reports; the library itself is still
// linted without cfg(test).
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod domain;
