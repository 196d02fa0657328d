//! Running a projection: the live runner and rebuilds.

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::consumer::{self, AckPolicy, DeliverPolicy, pull};
use futures::{FutureExt, StreamExt};
use pantau_eventstore::EventStore;
use sqlx::{Connection, PgConnection, PgPool};
use tokio::sync::watch;
use tracing::{Instrument, error, info, warn};

use crate::metrics::ProjectionMetrics;
use crate::{Projection, ProjectionError};

#[derive(Debug, Clone)]
pub struct RunnerOptions {
    pub batch_size: usize,
    /// How long the server waits for an ack before redelivering.
    pub ack_wait: Duration,
    /// Test hook: commit the next batch but never ack it (a crash between
    /// commit and ack), to prove redelivery does not double count.
    pub skip_next_ack: bool,
}

impl Default for RunnerOptions {
    fn default() -> Self {
        Self {
            batch_size: 500,
            ack_wait: Duration::from_secs(30),
            skip_next_ack: false,
        }
    }
}

/// How often a standby tries to become the leader.
const STANDBY_LOCK_RETRY: Duration = Duration::from_secs(2);
/// How often a standby reads the leader's checkpoint.
const STANDBY_POLL: Duration = Duration::from_millis(25);

/// Live view of a running projection.
#[derive(Clone)]
pub struct ProjectionHandle {
    checkpoint: watch::Receiver<u64>,
    store: EventStore,
}

impl ProjectionHandle {
    pub fn checkpoint(&self) -> u64 {
        *self.checkpoint.borrow()
    }

    /// Last stream sequence minus checkpoint.
    pub async fn lag(&self) -> Result<u64, ProjectionError> {
        let last = self
            .store
            .last_sequence()
            .await
            .map_err(|e| ProjectionError::Stream(e.to_string()))?;
        Ok(last.saturating_sub(self.checkpoint()))
    }

    /// Waits until the projection has applied `sequence` (read-your-writes).
    pub async fn wait_for(&self, sequence: u64, timeout: Duration) -> bool {
        let mut rx = self.checkpoint.clone();
        tokio::time::timeout(timeout, rx.wait_for(|c| *c >= sequence))
            .await
            .is_ok_and(|r| r.is_ok())
    }
}

pub struct Runner<P: Projection> {
    projection: Arc<P>,
    pool: PgPool,
    store: EventStore,
    options: RunnerOptions,
}

fn lock_key(name: &str, purpose: &str) -> i64 {
    pantau_platform::db::advisory_key(&[name, purpose])
}

/// Creates the schema, its tables, and the checkpoint row.
async fn prepare_schema<P: Projection>(
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
         CREATE TABLE IF NOT EXISTS dead_letters (sequence BIGINT PRIMARY KEY, subject TEXT NOT NULL, event_type TEXT NOT NULL, reason TEXT NOT NULL, recorded_at TIMESTAMPTZ NOT NULL DEFAULT now());
         {}",
        projection.ddl()
    )))
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

async fn set_search_path(conn: &mut PgConnection, schema: &str) -> Result<(), sqlx::Error> {
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "SET LOCAL search_path TO \"{schema}\", public"
    )))
    .execute(conn)
    .await
    .map(|_| ())
}

async fn read_checkpoint(pool: &PgPool, schema: &str) -> Result<u64, ProjectionError> {
    let seq: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT last_sequence FROM \"{schema}\".checkpoint WHERE id = 1"
    )))
    .fetch_one(pool)
    .await?;
    Ok(seq as u64)
}

/// A transaction holding the projection's batch lock: live batches and a
/// rebuild's swap never interleave.
async fn begin_locked(
    pool: &PgPool,
    name: &str,
) -> Result<sqlx::Transaction<'static, sqlx::Postgres>, ProjectionError> {
    let mut tx = pool.begin().await?;
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(lock_key(name, "batch"))
        .execute(&mut *tx)
        .await?;
    Ok(tx)
}

/// What one batch did.
#[derive(Debug, Clone, Copy, Default)]
struct Batch {
    /// The new checkpoint.
    last: u64,
    /// Events applied (not skipped as already counted, not dead-lettered).
    applied: u64,
    dead_letters: u64,
}

/// Applies a batch in one transaction.
///
/// Events are applied without savepoints (each one would cost two more
/// round trips per event); only when an event turns out to be poison is
/// the transaction abandoned and the batch redone with a savepoint around
/// every event, so the poison one is dead-lettered alone.
async fn apply_batch<P: Projection>(
    pool: &PgPool,
    projection: &P,
    store: &EventStore,
    schema: &str,
    messages: &[async_nats::jetstream::Message],
) -> Result<Batch, ProjectionError> {
    match apply_batch_fast(pool, projection, store, schema, messages).await {
        Err(ProjectionError::Poison(_)) => {
            apply_batch_carefully(pool, projection, store, schema, messages).await
        }
        other => other,
    }
}

/// The whole batch through [`Projection::apply_all`]; `Poison` when any
/// event cannot be decoded or applied (the caller then goes event by event).
async fn apply_batch_fast<P: Projection>(
    pool: &PgPool,
    projection: &P,
    store: &EventStore,
    schema: &str,
    messages: &[async_nats::jetstream::Message],
) -> Result<Batch, ProjectionError> {
    let mut tx = begin_locked(pool, projection.name()).await?;
    set_search_path(&mut tx, schema).await?;
    let checkpoint: i64 =
        sqlx::query_scalar("SELECT last_sequence FROM checkpoint WHERE id = 1 FOR UPDATE")
            .fetch_one(&mut *tx)
            .await?;
    let mut last = checkpoint as u64;
    let mut events = Vec::with_capacity(messages.len());
    for msg in messages {
        let info = msg
            .info()
            .map_err(|e| ProjectionError::Stream(e.to_string()))?;
        let seq = info.stream_sequence;
        if seq <= last {
            continue; // redelivered or replayed: already counted
        }
        let headers = msg.headers.clone().unwrap_or_default();
        let event = store
            .decode(
                msg.subject.as_str(),
                seq,
                info.published,
                &headers,
                msg.payload.clone(),
            )
            .map_err(|e| ProjectionError::Poison(e.to_string()))?;
        events.push(event);
        last = seq;
    }
    if events.is_empty() {
        return Ok(Batch {
            last,
            ..Batch::default()
        });
    }
    projection
        .apply_all(&mut tx, &events)
        .instrument(batch_span(projection.name(), &events))
        .await?;
    sqlx::query("UPDATE checkpoint SET last_sequence = $1, updated_at = now() WHERE id = 1")
        .bind(last as i64)
        .execute(&mut *tx)
        .await?;
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
fn batch_span(
    projection: &'static str,
    events: &[pantau_eventstore::RecordedEvent],
) -> tracing::Span {
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
    pool: &PgPool,
    projection: &P,
    store: &EventStore,
    schema: &str,
    messages: &[async_nats::jetstream::Message],
) -> Result<Batch, ProjectionError> {
    let mut tx = begin_locked(pool, projection.name()).await?;
    set_search_path(&mut tx, schema).await?;
    let checkpoint: i64 =
        sqlx::query_scalar("SELECT last_sequence FROM checkpoint WHERE id = 1 FOR UPDATE")
            .fetch_one(&mut *tx)
            .await?;
    let mut last = checkpoint as u64;
    let mut batch = Batch::default();
    for msg in messages {
        let info = msg
            .info()
            .map_err(|e| ProjectionError::Stream(e.to_string()))?;
        let seq = info.stream_sequence;
        if seq <= last {
            continue; // redelivered or replayed: already counted
        }
        let headers = msg.headers.clone().unwrap_or_default();
        let decoded = store.decode(
            msg.subject.as_str(),
            seq,
            info.published,
            &headers,
            msg.payload.clone(),
        );
        let outcome = match decoded {
            Ok(event) => {
                sqlx::query("SAVEPOINT ev").execute(&mut *tx).await?;
                // Each event's application continues the trace of the call
                // that caused it.
                let span = tracing::info_span!("project", projection = projection.name(), seq);
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
            Err(e) => Err((String::new(), e.to_string())),
        };
        if outcome.is_ok() {
            batch.applied += 1;
        }
        if let Err((event_type, reason)) = outcome {
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
        last = seq;
    }
    sqlx::query("UPDATE checkpoint SET last_sequence = $1, updated_at = now() WHERE id = 1")
        .bind(last as i64)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    batch.last = last;
    Ok(batch)
}

impl<P: Projection> Runner<P> {
    pub fn new(projection: P, pool: PgPool, store: EventStore, options: RunnerOptions) -> Self {
        Self {
            projection: Arc::new(projection),
            pool,
            store,
            options,
        }
    }

    /// Prepares the schema and starts applying in the background.
    pub async fn spawn(
        self,
        shutdown: pantau_platform::shutdown::Shutdown,
    ) -> Result<ProjectionHandle, ProjectionError> {
        let name = self.projection.name();
        let mut conn = self.pool.acquire().await?;
        prepare_schema(&mut conn, self.projection.as_ref(), name).await?;
        drop(conn);
        let start = read_checkpoint(&self.pool, name).await?;
        let (tx, rx) = watch::channel(start);
        let metrics = ProjectionMetrics::new(name);
        let lag_hook = metrics.lag_hook(self.store.clone(), self.projection.subjects(), rx.clone());
        let handle = ProjectionHandle {
            checkpoint: rx,
            store: self.store.clone(),
        };
        tokio::spawn(async move {
            // Lag is reported while the projection runs.
            let _lag_hook = lag_hook;
            loop {
                match self.run(&tx, &shutdown, &metrics).await {
                    Ok(()) => return,
                    Err(e) => {
                        error!(projection = name, error = %e, "projection failed, restarting");
                        tokio::select! {
                            () = tokio::time::sleep(Duration::from_secs(1)) => {}
                            () = shutdown.wait() => return,
                        }
                    }
                }
            }
        });
        Ok(handle)
    }

    async fn run(
        &self,
        checkpoint: &watch::Sender<u64>,
        shutdown: &pantau_platform::shutdown::Shutdown,
        metrics: &ProjectionMetrics,
    ) -> Result<(), ProjectionError> {
        let name = self.projection.name();
        // Leader election: one instance applies; the lock dies with the session.
        let mut leader = self.pool.acquire().await?.detach();
        let mut next_try = tokio::time::Instant::now();
        loop {
            if tokio::time::Instant::now() >= next_try {
                let got: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
                    .bind(lock_key(name, "leader"))
                    .fetch_one(&mut leader)
                    .await?;
                if got {
                    break;
                }
                next_try = tokio::time::Instant::now() + STANDBY_LOCK_RETRY;
            }
            // A standby follows the leader's checkpoint, so a read on this
            // replica that waits for its own write (read your writes) ends
            // as soon as the leader has applied it.
            let applied = read_checkpoint(&self.pool, name).await?;
            checkpoint.send_if_modified(|c| {
                let newer = applied > *c;
                if newer {
                    *c = applied;
                }
                newer
            });
            tokio::select! {
                () = tokio::time::sleep(STANDBY_POLL) => {}
                () = shutdown.wait() => return Ok(()),
            }
        }
        let start = read_checkpoint(&self.pool, name).await?;
        checkpoint.send_replace(start);
        info!(
            projection = name,
            start, "projection leader, applying from checkpoint"
        );
        let consumer = self.consumer(start).await?;
        let mut skip_ack = self.options.skip_next_ack;
        let mut stream = consumer
            .stream()
            .max_messages_per_batch(self.options.batch_size)
            .heartbeat(Duration::from_secs(5))
            .expires(Duration::from_secs(30))
            .messages()
            .await
            .map_err(|e| ProjectionError::Stream(e.to_string()))?;
        loop {
            // Wait for one event, then take whatever else is already here:
            // low latency when idle, big transactions under load.
            let first = tokio::select! {
                m = stream.next() => m,
                () = shutdown.wait() => return Ok(()),
            };
            let first = first
                .ok_or_else(|| ProjectionError::Stream("consumer stream ended".into()))?
                .map_err(|e| ProjectionError::Stream(e.to_string()))?;
            let mut messages = vec![first];
            while messages.len() < self.options.batch_size {
                match stream.next().now_or_never() {
                    Some(Some(Ok(m))) => messages.push(m),
                    _ => break,
                }
            }
            let batch = apply_batch(
                &self.pool,
                self.projection.as_ref(),
                &self.store,
                name,
                &messages,
            )
            .await?;
            metrics.applied.inc_by(batch.applied);
            metrics.dead_letters.inc_by(batch.dead_letters);
            checkpoint.send_replace(batch.last);
            if skip_ack {
                skip_ack = false;
                continue;
            }
            // AckPolicy::All: acking the last acknowledges the batch.
            if let Some(m) = messages.last()
                && let Err(e) = m.ack().await
            {
                warn!(projection = name, error = %e, "ack failed; redelivery will be skipped");
            }
        }
    }

    /// The durable consumer, (re)positioned just after the checkpoint.
    async fn consumer(
        &self,
        checkpoint: u64,
    ) -> Result<consumer::Consumer<pull::Config>, ProjectionError> {
        let js = self.store.jetstream();
        let stream = js
            .get_stream(self.store.stream_name())
            .await
            .map_err(|e| ProjectionError::Stream(e.to_string()))?;
        // One consumer per read model: two deployments (or a blue/green
        // pair) with their own databases on the same streams must not take
        // each other's consumer away.
        let database: String = sqlx::query_scalar("SELECT current_database()::text")
            .fetch_one(&self.pool)
            .await?;
        let database: String = database
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let durable = format!("proj_{}_{database}", self.projection.name());
        // The checkpoint in PostgreSQL is the truth; the consumer only
        // delivers. Recreate it there (we hold the leader lock).
        let _ = stream.delete_consumer(&durable).await;
        stream
            .create_consumer(pull::Config {
                durable_name: Some(durable),
                deliver_policy: DeliverPolicy::ByStartSequence {
                    start_sequence: checkpoint + 1,
                },
                // One ack per batch; what was applied is decided by the
                // checkpoint anyway.
                ack_policy: AckPolicy::All,
                ack_wait: self.options.ack_wait,
                filter_subjects: self.projection.subjects(),
                max_ack_pending: 20_000,
                ..Default::default()
            })
            .await
            .map_err(|e| ProjectionError::Stream(e.to_string()))
    }
}

/// Replays the whole stream into a fresh schema and swaps it in atomically.
/// `progress` is told (applied, target) as the replay goes.
pub async fn rebuild<P: Projection>(
    projection: &P,
    pool: &PgPool,
    store: &EventStore,
    mut progress: impl FnMut(u64, u64),
) -> Result<u64, ProjectionError> {
    let live = projection.name();
    let next = format!("{live}_rebuild");
    let mut conn = pool.acquire().await?;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP SCHEMA IF EXISTS \"{next}\" CASCADE"
    )))
    .execute(&mut *conn)
    .await?;
    prepare_schema(&mut conn, projection, &next).await?;
    drop(conn);
    let target = store
        .last_sequence()
        .await
        .map_err(|e| ProjectionError::Stream(e.to_string()))?;
    let js = store.jetstream();
    let stream = js
        .get_stream(store.stream_name())
        .await
        .map_err(|e| ProjectionError::Stream(e.to_string()))?;
    let consumer = stream
        .create_consumer(pull::Config {
            deliver_policy: DeliverPolicy::All,
            ack_policy: AckPolicy::None,
            filter_subjects: projection.subjects(),
            inactive_threshold: Duration::from_secs(60),
            ..Default::default()
        })
        .await
        .map_err(|e| ProjectionError::Stream(e.to_string()))?;
    let mut applied = 0u64;
    progress(0, target);
    // Replay up to the target; anything newer is applied under the swap lock.
    let mut messages = consumer
        .messages()
        .await
        .map_err(|e| ProjectionError::Stream(e.to_string()))?;
    let mut buf = Vec::new();
    while applied < target {
        let next_msg = tokio::time::timeout(Duration::from_millis(300), messages.next()).await;
        match next_msg {
            Ok(Some(Ok(m))) => {
                let seq = m.info().map(|i| i.stream_sequence).unwrap_or(0);
                buf.push(m);
                if buf.len() >= 500 || seq >= target {
                    applied = apply_batch(pool, projection, store, &next, &buf)
                        .await?
                        .last;
                    buf.clear();
                    progress(applied.min(target), target);
                }
            }
            Ok(Some(Err(e))) => return Err(ProjectionError::Stream(e.to_string())),
            Ok(None) => break,
            Err(_) => {
                // No more matching events below the target.
                if !buf.is_empty() {
                    apply_batch(pool, projection, store, &next, &buf).await?;
                    buf.clear();
                }
                break;
            }
        }
    }
    if !buf.is_empty() {
        apply_batch(pool, projection, store, &next, &buf).await?;
    }
    progress(target, target);
    drop(messages);
    swap(pool, projection, store, live, &next).await
}

async fn swap<P: Projection>(
    pool: &PgPool,
    projection: &P,
    store: &EventStore,
    live: &str,
    next: &str,
) -> Result<u64, ProjectionError> {
    let mut tx = begin_locked(pool, projection.name()).await?;
    let live_cp: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT last_sequence FROM \"{live}\".checkpoint WHERE id = 1"
    )))
    .fetch_optional(&mut *tx)
    .await?
    .unwrap_or(0);
    let next_cp: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT last_sequence FROM \"{next}\".checkpoint WHERE id = 1"
    )))
    .fetch_one(&mut *tx)
    .await?;
    if next_cp < live_cp {
        // The live model moved on during the replay: the live runner is
        // blocked by our lock, so the gap is closed by setting the rebuilt
        // checkpoint only after applying those events here.
        let gap = (next_cp as u64 + 1)..=(live_cp as u64);
        set_search_path(&mut tx, next).await?;
        let stream = store
            .jetstream()
            .get_stream(store.stream_name())
            .await
            .map_err(|e| ProjectionError::Stream(e.to_string()))?;
        for seq in gap {
            // A deleted sequence (or another subject's) is simply skipped.
            let Ok(msg) = stream.get_raw_message(seq).await else {
                continue;
            };
            if !projection
                .subjects()
                .iter()
                .any(|f| subject_matches(f, msg.subject.as_str()))
            {
                continue;
            }
            let event = store
                .decode(
                    msg.subject.as_str(),
                    seq,
                    msg.time,
                    &msg.headers,
                    msg.payload,
                )
                .map_err(|e| ProjectionError::Poison(e.to_string()))?;
            projection.apply(&mut tx, &event).await?;
        }
        sqlx::query("UPDATE checkpoint SET last_sequence = $1 WHERE id = 1")
            .bind(live_cp)
            .execute(&mut *tx)
            .await?;
    }
    let old = format!("{live}_old");
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "DROP SCHEMA IF EXISTS \"{old}\" CASCADE;
         ALTER SCHEMA \"{live}\" RENAME TO \"{old}\";
         ALTER SCHEMA \"{next}\" RENAME TO \"{live}\";
         DROP SCHEMA \"{old}\" CASCADE;"
    )))
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(next_cp.max(live_cp) as u64)
}

/// NATS subject matching with `*` and `>` wildcards.
pub(crate) fn subject_matches(filter: &str, subject: &str) -> bool {
    let mut f = filter.split('.');
    let mut s = subject.split('.');
    loop {
        match (f.next(), s.next()) {
            (Some(">"), Some(_)) => return true,
            (Some("*"), Some(_)) => {}
            (Some(a), Some(b)) if a == b => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::subject_matches;

    #[test]
    fn wildcards_match_like_nats() {
        assert!(subject_matches(
            "pantau.identity.worker.*",
            "pantau.identity.worker.1"
        ));
        assert!(!subject_matches(
            "pantau.identity.worker.*",
            "pantau.identity.worker.1.x"
        ));
        assert!(subject_matches(
            "pantau.identity.>",
            "pantau.identity.worker.1"
        ));
        assert!(!subject_matches("pantau.identity.>", "pantau.identity"));
        assert!(!subject_matches(
            "pantau.identity.agency.*",
            "pantau.identity.worker.1"
        ));
    }
}
