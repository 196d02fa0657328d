//! Applying a batch of delivered events in one transaction, with the
//! progress of whoever applies it (the whole projection, or one partition)
//! advanced in the same commit.

use pantau_eventstore::{EventStore, RecordedEvent};
use sqlx::{Connection, PgConnection, PgPool};
use tracing::{Instrument, warn};

use crate::partition::Slot;
use crate::{Projection, ProjectionError};

pub(crate) fn lock_key(name: &str, purpose: &str) -> i64 {
    pantau_platform::db::advisory_key(&[name, purpose])
}

/// Creates the schema, its tables, the checkpoint row and the (empty)
/// partition table.
pub(crate) async fn prepare_schema<P: Projection>(
    conn: &mut PgConnection,
    projection: &P,
    schema: &str,
) -> Result<(), ProjectionError> {
    let mut tx = conn.begin().await?;
    // Instances starting at once would race on `IF NOT EXISTS` (both pass
    // the check, one fails on the catalog's unique index): one at a time.
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(lock_key(schema, "schema"))
        .execute(&mut *tx)
        .await?;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "CREATE SCHEMA IF NOT EXISTS \"{schema}\""
    )))
    .execute(&mut *tx)
    .await?;
    set_search_path(&mut tx, schema).await?;
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "CREATE TABLE IF NOT EXISTS checkpoint (id INT PRIMARY KEY CHECK (id = 1), last_sequence BIGINT NOT NULL, updated_at TIMESTAMPTZ NOT NULL DEFAULT now());
         INSERT INTO checkpoint (id, last_sequence) VALUES (1, 0) ON CONFLICT DO NOTHING;
         CREATE TABLE IF NOT EXISTS partitions (partition INT PRIMARY KEY, of_count INT NOT NULL, last_sequence BIGINT NOT NULL, updated_at TIMESTAMPTZ NOT NULL DEFAULT now());
         CREATE TABLE IF NOT EXISTS dead_letters (sequence BIGINT PRIMARY KEY, subject TEXT NOT NULL, event_type TEXT NOT NULL, reason TEXT NOT NULL, recorded_at TIMESTAMPTZ NOT NULL DEFAULT now());
         {}",
        projection.ddl()
    )))
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

pub(crate) async fn set_search_path(
    conn: &mut PgConnection,
    schema: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "SET LOCAL search_path TO \"{schema}\", public"
    )))
    .execute(conn)
    .await
    .map(|_| ())
}

/// What one batch did.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Batch {
    /// The slot's new checkpoint.
    pub(crate) last: u64,
    /// Events applied (not skipped as already counted or as another
    /// partition's, not dead-lettered).
    pub(crate) applied: u64,
    pub(crate) dead_letters: u64,
}

/// Applies a batch in one transaction, as `slot`: events at or below its
/// checkpoint, and another partition's events, are skipped (the latter
/// still advance its checkpoint).
///
/// Events are applied without savepoints (each one would cost two more
/// round trips per event); only when an event turns out to be poison is
/// the transaction abandoned and the batch redone with a savepoint around
/// every event, so the poison one is dead-lettered alone.
pub(crate) async fn apply_batch<P: Projection>(
    target: Target<'_, P>,
    messages: &[async_nats::jetstream::Message],
) -> Result<Batch, ProjectionError> {
    match apply_batch_fast(&target, messages).await {
        Err(ProjectionError::Poison(_)) => apply_batch_carefully(&target, messages).await,
        other => other,
    }
}

/// Where a batch goes: the projection, its schema (live, or a rebuild's),
/// and the slot applying it.
pub(crate) struct Target<'a, P> {
    pub(crate) pool: &'a PgPool,
    pub(crate) projection: &'a P,
    pub(crate) store: &'a EventStore,
    pub(crate) schema: &'a str,
    pub(crate) slot: Slot,
}

impl<P: Projection> Target<'_, P> {
    /// A transaction holding the slot's batch lock (its live batches and a
    /// rebuild's swap never interleave) and its checkpoint row.
    async fn begin(
        &self,
    ) -> Result<(sqlx::Transaction<'static, sqlx::Postgres>, u64), ProjectionError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(self.slot.batch_key(self.projection.name()))
            .execute(&mut *tx)
            .await?;
        set_search_path(&mut tx, self.schema).await?;
        let checkpoint = self.slot.lock_checkpoint(&mut tx).await?;
        Ok((tx, checkpoint))
    }
}

/// One delivered message, unless it is already counted or not this slot's.
enum Delivered<'a> {
    Skip,
    /// Advances the checkpoint without being applied here.
    Foreign(u64),
    Mine(u64, &'a async_nats::jetstream::Message),
}

fn sort(
    slot: Slot,
    last: u64,
    msg: &async_nats::jetstream::Message,
) -> Result<Delivered<'_>, ProjectionError> {
    let info = msg
        .info()
        .map_err(|e| ProjectionError::Stream(e.to_string()))?;
    let seq = info.stream_sequence;
    Ok(if seq <= last {
        Delivered::Skip // redelivered or replayed: already counted
    } else if slot.owns(msg.subject.as_str()) {
        Delivered::Mine(seq, msg)
    } else {
        Delivered::Foreign(seq)
    })
}

fn decode(
    store: &EventStore,
    seq: u64,
    msg: &async_nats::jetstream::Message,
) -> Result<RecordedEvent, String> {
    let published = msg.info().map_err(|e| e.to_string())?.published;
    let headers = msg.headers.clone().unwrap_or_default();
    store
        .decode(
            msg.subject.as_str(),
            seq,
            published,
            &headers,
            msg.payload.clone(),
        )
        .map_err(|e| e.to_string())
}

/// The whole batch through [`Projection::apply_all`]; `Poison` when any
/// event cannot be decoded or applied (the caller then goes event by event).
async fn apply_batch_fast<P: Projection>(
    target: &Target<'_, P>,
    messages: &[async_nats::jetstream::Message],
) -> Result<Batch, ProjectionError> {
    let Target {
        projection,
        store,
        slot,
        ..
    } = *target;
    let (mut tx, checkpoint) = target.begin().await?;
    let mut last = checkpoint;
    let mut events = Vec::with_capacity(messages.len());
    for msg in messages {
        match sort(slot, last, msg)? {
            Delivered::Skip => continue,
            Delivered::Foreign(seq) => last = seq,
            Delivered::Mine(seq, msg) => {
                events.push(decode(store, seq, msg).map_err(ProjectionError::Poison)?);
                last = seq;
            }
        }
    }
    if last == checkpoint {
        return Ok(Batch {
            last,
            ..Batch::default()
        });
    }
    if !events.is_empty() {
        projection
            .apply_all(&mut tx, &events)
            .instrument(batch_span(projection.name(), &events))
            .await?;
    }
    slot.save_checkpoint(&mut tx, last).await?;
    tx.commit().await?;
    Ok(Batch {
        last,
        applied: events.len() as u64,
        dead_letters: 0,
    })
}

/// The span of applying a batch: a child of the first event's trace (the
/// call that caused it) and linked to the others', so a trace shows where
/// its event was projected even when a projection applies many at once.
fn batch_span(projection: &'static str, events: &[RecordedEvent]) -> tracing::Span {
    let first = events.first().map_or(0, |e| e.sequence);
    let last = events.last().map_or(0, |e| e.sequence);
    let span = tracing::info_span!(
        "project_batch",
        otel.kind = "consumer",
        projection,
        events = events.len(),
        first_seq = first,
        last_seq = last,
    );
    if span.is_disabled() {
        return span;
    }
    let context = |parent: &str| {
        let mut carrier = async_nats::HeaderMap::new();
        carrier.insert("traceparent", parent);
        pantau_platform::telemetry::extract_nats(&carrier)
    };
    let mut parents = events.iter().filter_map(|e| e.traceparent.as_deref());
    if let Some(first) = parents.next() {
        pantau_platform::telemetry::set_parent(&span, context(first));
    }
    // A bounded number of links: a rebuild's batches hold hundreds.
    for other in parents.take(MAX_LINKS) {
        pantau_platform::telemetry::add_link(&span, &context(other));
    }
    span
}

/// Links a batch span carries to the traces of its other events.
const MAX_LINKS: usize = 32;

/// Event by event, each inside a savepoint, so a poison event is
/// dead-lettered alone and the rest of the batch still counts.
async fn apply_batch_carefully<P: Projection>(
    target: &Target<'_, P>,
    messages: &[async_nats::jetstream::Message],
) -> Result<Batch, ProjectionError> {
    let Target {
        projection,
        store,
        slot,
        ..
    } = *target;
    let (mut tx, mut last) = target.begin().await?;
    let mut batch = Batch::default();
    for msg in messages {
        let seq = match sort(slot, last, msg)? {
            Delivered::Skip => continue,
            Delivered::Foreign(seq) => {
                last = seq;
                continue;
            }
            Delivered::Mine(seq, _) => seq,
        };
        let outcome = match decode(store, seq, msg) {
            Ok(event) => {
                sqlx::query("SAVEPOINT ev").execute(&mut *tx).await?;
                // Each event's application continues the trace of the call
                // that caused it.
                let span = tracing::info_span!("project", projection = projection.name(), seq);
                let headers = msg.headers.clone().unwrap_or_default();
                pantau_platform::telemetry::set_parent(
                    &span,
                    pantau_platform::telemetry::extract_nats(&headers),
                );
                match projection.apply(&mut tx, &event).instrument(span).await {
                    Ok(()) => {
                        sqlx::query("RELEASE SAVEPOINT ev")
                            .execute(&mut *tx)
                            .await?;
                        Ok(())
                    }
                    Err(ProjectionError::Poison(reason)) => {
                        sqlx::query("ROLLBACK TO SAVEPOINT ev")
                            .execute(&mut *tx)
                            .await?;
                        Err((event.event_type, reason))
                    }
                    Err(e) => return Err(e),
                }
            }
            Err(reason) => Err((String::new(), reason)),
        };
        match outcome {
            Ok(()) => batch.applied += 1,
            Err((event_type, reason)) => {
                batch.dead_letters += 1;
                warn!(projection = projection.name(), seq, %reason, "event dead-lettered");
                sqlx::query(
                    "INSERT INTO dead_letters (sequence, subject, event_type, reason) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
                )
                .bind(seq as i64)
                .bind(msg.subject.as_str())
                .bind(event_type)
                .bind(reason)
                .execute(&mut *tx)
                .await?;
            }
        }
        last = seq;
    }
    slot.save_checkpoint(&mut tx, last).await?;
    tx.commit().await?;
    batch.last = last;
    Ok(batch)
}
