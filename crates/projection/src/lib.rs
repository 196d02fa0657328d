//! Projections: JetStream events into PostgreSQL read models, exactly once.
//!
//! Each projection owns one PostgreSQL schema holding its tables and a
//! one-row `checkpoint` (the last stream sequence applied). A batch of events
//! is applied and the checkpoint advanced in one transaction; messages are
//! acked only after that commit. A redelivered or replayed event has a
//! sequence at or below the checkpoint and is skipped, so nothing counts
//! twice, whatever crashes where.
//!
//! One instance applies a projection at a time (a PostgreSQL advisory lock
//! elects it); others wait as hot standbys. A projection whose events touch
//! only their own aggregate's rows can instead be split into partitions that
//! instances share out among themselves ([`partition`]), each with its own
//! consumer and checkpoint. A rebuild replays the stream from
//! sequence 1 into a fresh schema and swaps it in with one rename, so readers
//! see the old model or the new one, never a half-built one.

mod batch;
mod metrics;
pub mod partition;
mod rebuild;
mod runner;

pub use partition::partition_of;
pub use rebuild::rebuild;
pub use runner::{ProjectionHandle, Runner, RunnerOptions};

use pantau_eventstore::RecordedEvent;
use sqlx::PgConnection;
use tracing::Instrument;

#[derive(Debug, thiserror::Error)]
pub enum ProjectionError {
    #[error("database error in projection: {0}")]
    Database(#[from] sqlx::Error),
    /// The event can never be applied (undecodable); it is recorded in the
    /// projection's `dead_letters` table and skipped.
    #[error("event cannot be applied: {0}")]
    Poison(String),
    #[error("event stream error: {0}")]
    Stream(String),
    /// The projection cannot run as configured (e.g. partitioned
    /// differently from its stored checkpoints).
    #[error("projection misconfigured: {0}")]
    Config(String),
}

/// A read model fed by events.
pub trait Projection: Send + Sync + 'static {
    /// Schema name, checkpoint key and consumer name; `[a-z_]+`.
    fn name(&self) -> &'static str;
    /// Subjects this projection reads, e.g. `pantau.identity.worker.*`.
    fn subjects(&self) -> Vec<String>;
    /// Idempotent DDL for its tables, run with `search_path` on its schema.
    fn ddl(&self) -> &'static str;
    /// Whether each event changes only rows of its own aggregate (its
    /// subject) and reads no other aggregate's, so partitions of the
    /// aggregates can be applied side by side ([`RunnerOptions::partitions`]).
    fn partitionable(&self) -> bool {
        false
    }
    /// Applies one event inside the batch transaction (search_path is set).
    fn apply(
        &self,
        conn: &mut PgConnection,
        event: &RecordedEvent,
    ) -> impl std::future::Future<Output = Result<(), ProjectionError>> + Send;

    /// Applies a batch of events in stream order inside one transaction. The
    /// default applies them one by one; a projection fed thousands of events
    /// a second overrides it to write many rows per statement. If it returns
    /// `Poison`, the runner redoes the batch event by event with
    /// [`Projection::apply`] so only the poison event is dead-lettered.
    fn apply_all(
        &self,
        conn: &mut PgConnection,
        events: &[RecordedEvent],
    ) -> impl std::future::Future<Output = Result<(), ProjectionError>> + Send {
        async move {
            for event in events {
                let span =
                    tracing::info_span!("project", projection = self.name(), seq = event.sequence);
                if let Some(parent) = &event.traceparent {
                    // Each event's application continues the trace of the
                    // call that caused it.
                    let mut carrier = async_nats::HeaderMap::new();
                    carrier.insert("traceparent", parent.as_str());
                    pantau_platform::telemetry::set_parent(
                        &span,
                        pantau_platform::telemetry::extract_nats(&carrier),
                    );
                }
                self.apply(conn, event).instrument(span).await?;
            }
            Ok(())
        }
    }
}
