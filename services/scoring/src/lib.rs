//! The scoring service: what each worker's month is worth. Approved
//! activities and attendance become points, a 0-100 score, a category and a
//! pay percentage (and for civil servants the TPP allowance) by versioned
//! decree rule sets. Live monthly totals are projected from the identity,
//! attendance and activity streams; an admin closes a month for payroll
//! (`MonthlyScoreFinalized` events on PANTAU_SCORING), late changes become
//! visible adjustments, and a corrected decree rebuilds a closed month from
//! the event history in shadow tables until an admin accepts it.

// A failing unwrap is how a unit test reports; the library itself is still
// linted without cfg(test).
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod app;
pub mod close;
pub mod config;
pub mod core;
pub mod directory;
pub mod domain;
pub mod grpc;
pub mod outbox;
pub mod readmodel;
pub mod rebuild;
pub mod sources;
