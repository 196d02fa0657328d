//! Running a projection live: which instance applies what, and how far the
//! read model has got.
//!
//! Every instance runs a coordinator. Unpartitioned, it tries for the
//! leader lock and, holding it, applies everything; without it, it follows
//! the leader's checkpoint. Partitioned (see [`crate::partition`]), it owns
//! its fair share of the partitions, applying each in its own task, and
//! follows the others'.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_nats::jetstream::consumer::{self, AckPolicy, DeliverPolicy, pull};
use futures::{FutureExt, StreamExt};
use pantau_eventstore::EventStore;
use pantau_platform::shutdown::Shutdown;
use sqlx::{Connection, PgConnection, PgPool};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::{error, info, warn};

use crate::batch::{Target, apply_batch, prepare_schema};
use crate::metrics::ProjectionMetrics;
use crate::partition::{self, Slot};
use crate::{Projection, ProjectionError};

#[derive(Debug, Clone)]
pub struct RunnerOptions {
    pub batch_size: usize,
    /// How long the server waits for an ack before redelivering.
    pub ack_wait: Duration,
    /// Test hook: commit the next batch but never ack it (a crash between
    /// commit and ack), to prove redelivery does not double count.
    pub skip_next_ack: bool,
    /// Partitions the aggregates are split into, each applied by one
    /// instance at a time (1: the whole projection on one instance). Only
    /// for projections that are [`Projection::partitionable`].
    pub partitions: u32,
}

impl Default for RunnerOptions {
    fn default() -> Self {
        Self {
            batch_size: 500,
            ack_wait: Duration::from_secs(30),
            skip_next_ack: false,
            partitions: 1,
        }
    }
}

/// How often an instance reconsiders its share of the work (takes a free
/// partition, or the lead, or lets go of one beyond its share).
const REBALANCE: Duration = Duration::from_secs(1);
/// How often an instance reads the checkpoints of work it does not own.
const FOLLOW_POLL: Duration = Duration::from_millis(25);

/// Live view of a running projection.
#[derive(Clone)]
pub struct ProjectionHandle {
    checkpoint: watch::Receiver<u64>,
    owned: watch::Receiver<Vec<u32>>,
    store: EventStore,
}

impl ProjectionHandle {
    /// The stream sequence up to which the read model is complete (the
    /// smallest partition checkpoint, when partitioned).
    pub fn checkpoint(&self) -> u64 {
        *self.checkpoint.borrow()
    }

    /// The partitions this instance applies now (`[0]` when it leads an
    /// unpartitioned projection; empty when it only follows).
    pub fn owned_partitions(&self) -> Vec<u32> {
        self.owned.borrow().clone()
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

/// What an instance's coordinator and its partition tasks share.
struct Shared<P: Projection> {
    projection: Arc<P>,
    pool: PgPool,
    store: EventStore,
    options: RunnerOptions,
    count: u32,
    /// Each partition's checkpoint as last seen (applied here, or read).
    progress: Mutex<Vec<u64>>,
    checkpoint: watch::Sender<u64>,
    owned: watch::Sender<Vec<u32>>,
    metrics: ProjectionMetrics,
    skip_ack: AtomicBool,
}

/// A partition (or the lead) this instance applies.
struct Owned {
    stop: Shutdown,
    task: JoinHandle<Result<(), ProjectionError>>,
}

/// What an instance applies, and what it is handing over.
#[derive(Default)]
struct Work {
    owned: BTreeMap<u32, Owned>,
    /// Told to stop; still finishing a batch.
    releasing: BTreeMap<u32, Owned>,
}

impl Work {
    /// Removes the partitions whose task has ended, logging a failure.
    fn ended(&mut self) -> Vec<u32> {
        let mut ended = Vec::new();
        for map in [&mut self.owned, &mut self.releasing] {
            let done: Vec<u32> = map
                .iter()
                .filter(|(_, o)| o.task.is_finished())
                .map(|(p, _)| *p)
                .collect();
            for index in done {
                if let Some(o) = map.remove(&index) {
                    // Finished: the result is ready without waiting.
                    match o.task.now_or_never() {
                        Some(Ok(Err(e))) => {
                            error!(partition = index, error = %e, "projection partition failed");
                        }
                        Some(Err(e)) => {
                            error!(partition = index, error = %e, "projection partition panicked");
                        }
                        _ => {}
                    }
                    ended.push(index);
                }
            }
        }
        ended
    }
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

    /// Prepares the schema (and its partitioning) and starts applying in
    /// the background.
    pub async fn spawn(self, shutdown: Shutdown) -> Result<ProjectionHandle, ProjectionError> {
        let name = self.projection.name();
        let count = self.options.partitions.max(1);
        if count > 1 && !self.projection.partitionable() {
            return Err(ProjectionError::Config(format!(
                "{name} reads across aggregates and cannot be applied in partitions"
            )));
        }
        let mut conn = self.pool.acquire().await?;
        prepare_schema(&mut conn, self.projection.as_ref(), name).await?;
        partition::prepare(&mut conn, name, count).await?;
        drop(conn);
        let progress = partition::progress(&self.pool, name, count).await?;
        let low = progress.iter().copied().min().unwrap_or(0);
        let (tx, rx) = watch::channel(low);
        let metrics = ProjectionMetrics::new(name);
        let lag_hook = metrics.lag_hook(self.store.clone(), self.projection.subjects(), rx.clone());
        let (owned, owned_rx) = watch::channel(Vec::new());
        let handle = ProjectionHandle {
            checkpoint: rx,
            owned: owned_rx,
            store: self.store.clone(),
        };
        let shared = Arc::new(Shared {
            projection: self.projection,
            pool: self.pool,
            store: self.store,
            skip_ack: AtomicBool::new(self.options.skip_next_ack),
            options: self.options,
            count,
            progress: Mutex::new(progress),
            checkpoint: tx,
            owned,
            metrics,
        });
        tokio::spawn(async move {
            // Lag is reported while the projection runs.
            let _lag_hook = lag_hook;
            loop {
                match shared.coordinate(&shutdown).await {
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
}

impl<P: Projection> Shared<P> {
    fn name(&self) -> &'static str {
        self.projection.name()
    }

    /// Records partition `index` at `last` and publishes the low-water mark.
    fn record(&self, index: usize, last: u64) {
        let low = {
            let mut progress = self.progress.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(p) = progress.get_mut(index) {
                *p = (*p).max(last);
            }
            progress.iter().copied().min().unwrap_or(0)
        };
        self.checkpoint.send_if_modified(|c| {
            let newer = low > *c;
            if newer {
                *c = low;
            }
            newer
        });
    }

    /// Joins the instances running this projection and, until shutdown,
    /// applies this instance's share and follows the rest. Whatever it
    /// owned is let go when it returns.
    async fn coordinate(self: &Arc<Self>, shutdown: &Shutdown) -> Result<(), ProjectionError> {
        // One session holds the member lock and every partition lock this
        // instance takes: if the instance dies, they all go with it.
        let mut member = self.pool.acquire().await?.detach();
        sqlx::query("SELECT pg_advisory_lock_shared($1)")
            .bind(partition::members_key(self.name()))
            .execute(&mut member)
            .await?;
        let mut work = Work::default();
        let result = self.share_work(&mut member, &mut work, shutdown).await;
        for o in work.owned.values().chain(work.releasing.values()) {
            o.stop.trigger();
        }
        for (_, o) in work.owned.into_iter().chain(work.releasing) {
            let _ = o.task.await;
        }
        self.owned.send_replace(Vec::new());
        // Closing the session lets go of every lock.
        let _ = member.close().await;
        result
    }

    async fn share_work(
        self: &Arc<Self>,
        member: &mut PgConnection,
        work: &mut Work,
        shutdown: &Shutdown,
    ) -> Result<(), ProjectionError> {
        let name = self.name();
        let me: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
            .fetch_one(&mut *member)
            .await?;
        let mut next_rebalance = tokio::time::Instant::now();
        loop {
            // A partition is unlocked once its task has ended (failed, or
            // handed over after its last batch): then, and not before, it
            // may be taken again, here or elsewhere.
            for index in work.ended() {
                sqlx::query("SELECT pg_advisory_unlock($1)")
                    .bind(Slot::for_partition(index, self.count).owner_key(name))
                    .execute(&mut *member)
                    .await?;
            }
            if tokio::time::Instant::now() >= next_rebalance {
                let members = partition::Members::read(member, name, self.count).await?;
                let share = members.share(me, self.count);
                while work.owned.len() > share {
                    if let Some((index, o)) = work.owned.pop_last() {
                        info!(
                            projection = name,
                            partition = index,
                            "handing a partition over"
                        );
                        o.stop.trigger();
                        work.releasing.insert(index, o);
                    }
                }
                for index in 0..self.count {
                    if work.owned.len() >= share {
                        break;
                    }
                    if work.owned.contains_key(&index) || work.releasing.contains_key(&index) {
                        continue;
                    }
                    let slot = Slot::for_partition(index, self.count);
                    let got: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
                        .bind(slot.owner_key(name))
                        .fetch_one(&mut *member)
                        .await?;
                    if got {
                        let stop = Shutdown::new();
                        let (this, task_stop) = (self.clone(), stop.clone());
                        let task =
                            tokio::spawn(async move { this.apply(slot, index, &task_stop).await });
                        work.owned.insert(index, Owned { stop, task });
                    }
                }
                next_rebalance = tokio::time::Instant::now() + REBALANCE;
            }
            self.owned.send_if_modified(|o| {
                let now: Vec<u32> = work.owned.keys().copied().collect();
                let changed = *o != now;
                *o = now;
                changed
            });
            if work.owned.len() < self.count as usize {
                // Follow what others apply, so a read on this instance that
                // waits for its own write ends as soon as it is applied.
                let progress = partition::progress(&self.pool, name, self.count).await?;
                for (index, last) in progress.into_iter().enumerate() {
                    self.record(index, last);
                }
            }
            tokio::select! {
                () = tokio::time::sleep(FOLLOW_POLL) => {}
                () = shutdown.wait() => return Ok(()),
            }
        }
    }

    /// Applies `slot` (partition `index`) until `stop`.
    async fn apply(&self, slot: Slot, index: u32, stop: &Shutdown) -> Result<(), ProjectionError> {
        let name = self.name();
        let start = slot.read(&self.pool, name).await?;
        self.record(index as usize, start);
        info!(
            projection = name,
            partition = index,
            partitions = self.count,
            start,
            "applying from checkpoint"
        );
        let consumer = self.consumer(slot, start).await?;
        let mut stream = consumer
            .stream()
            .max_messages_per_batch(self.options.batch_size)
            // A pull the server lost (its stream leader died) shows as
            // missed heartbeats: two of them, 4 s, and the partition is
            // taken again from its checkpoint on a leader that answers.
            .heartbeat(Duration::from_secs(2))
            .expires(Duration::from_secs(10))
            .messages()
            .await
            .map_err(|e| ProjectionError::Stream(e.to_string()))?;
        loop {
            // Wait for one event, then take whatever else is already here:
            // low latency when idle, big transactions under load.
            let first = tokio::select! {
                m = stream.next() => m,
                () = stop.wait() => return Ok(()),
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
            let target = Target {
                pool: &self.pool,
                projection: self.projection.as_ref(),
                store: &self.store,
                schema: name,
                slot,
            };
            let batch = apply_batch(target, &messages).await?;
            self.metrics.applied.inc_by(batch.applied);
            self.metrics.dead_letters.inc_by(batch.dead_letters);
            self.record(index as usize, batch.last);
            if self.skip_ack.swap(false, Ordering::Relaxed) {
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

    /// `slot`'s durable consumer, (re)positioned just after its checkpoint.
    async fn consumer(
        &self,
        slot: Slot,
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
        let durable = slot.consumer_name(self.name(), &database);
        // The checkpoint in PostgreSQL is the truth; the consumer only
        // delivers. Recreate it there (we hold the slot's lock).
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
