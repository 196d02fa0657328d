//! Appending events: optimistic concurrency, idempotency and group commit.
//!
//! With `sync_interval: always` every JetStream write is an fsync, which caps
//! single appends at a few thousand a second. In [`AppendMode::Batched`] the
//! appender gathers whatever appends are waiting into one JetStream atomic
//! batch (`Nats-Batch-Id` / `Nats-Batch-Sequence` / `Nats-Batch-Commit`),
//! which the server stores with one sync and acknowledges once. Batches grow
//! by themselves under load (while one is committing, the next fills up) and
//! stay at one message when idle, so latency is not traded for throughput.
//!
//! A batch is all-or-nothing: one stale expected sequence rejects it whole.
//! Every message carries a `Nats-Msg-Id`, so a rejected or ambiguous batch is
//! simply re-sent message by message: what was stored comes back as a
//! duplicate with its original sequence, the offender gets its own conflict,
//! and nothing is stored twice.

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;

use async_nats::jetstream::{self, context::PublishErrorKind, message::PublishMessage};
use bytes::Bytes;
use futures::future::join_all;
use tokio::sync::{Mutex, mpsc, oneshot};
use tracing::{Instrument, debug, warn};

use crate::envelope::{Metadata, headers};
use crate::metrics::StreamMetrics;

/// What the aggregate's subject must look like for the append to succeed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expected {
    /// No check (e.g. append-only logs without invariants).
    Any,
    /// The subject must have no events yet (creation).
    NoEvents,
    /// The subject's last event must be at this stream sequence.
    Sequence(u64),
}

/// An event to append.
#[derive(Debug, Clone)]
pub struct NewEvent {
    pub subject: String,
    pub event_type: String,
    pub schema_version: u32,
    pub payload: Bytes,
    pub expected: Expected,
    /// Deduplication id; defaults to a fresh event id. Derive it from the
    /// client's request id so a retried command is stored once.
    pub msg_id: Option<String>,
    pub metadata: Metadata,
}

/// Where an appended event landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Appended {
    pub sequence: u64,
    /// True when JetStream had already stored this `Nats-Msg-Id`.
    pub duplicate: bool,
}

#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum AppendError {
    #[error("concurrent change to {subject}: it is no longer at the expected sequence")]
    Conflict { subject: String },
    #[error("failed to append to {subject}: {message}")]
    Publish { subject: String, message: String },
    #[error("the event store is shut down")]
    Closed,
}

/// How appends reach JetStream.
#[derive(Debug, Clone, Copy)]
pub enum AppendMode {
    /// Group commit into atomic batches (for `sync_interval: always`).
    Batched { max_batch: usize, committers: usize },
    /// Each append its own pipelined publish (fastest without per-write sync).
    Pipelined,
}

impl AppendMode {
    /// Group commit when `batching` (a durable, fsync-per-write server),
    /// else pipelined single publishes.
    pub fn from_batching(batching: bool) -> Self {
        if batching {
            Self::default()
        } else {
            Self::Pipelined
        }
    }
}

impl Default for AppendMode {
    fn default() -> Self {
        Self::Batched {
            max_batch: 1000,
            committers: 2,
        }
    }
}

struct Outgoing {
    subject: String,
    headers: async_nats::HeaderMap,
    payload: Bytes,
}

struct Pending {
    msg: Outgoing,
    reply: oneshot::Sender<Result<Appended, AppendError>>,
}

#[derive(Clone)]
pub(crate) struct Appender {
    client: async_nats::Client,
    target: Target,
    tx: Option<mpsc::Sender<Pending>>,
    stats: Arc<Counters>,
    metrics: StreamMetrics,
}

/// How the group commit went since the store was opened.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AppendStats {
    /// Atomic batches the stream stored.
    pub batches_committed: u64,
    /// Atomic batches the stream refused (one refused append refuses its
    /// batch; the rest are committed again in halves).
    pub batches_refused: u64,
    /// Appends sent one at a time: alone in the queue, or left of a
    /// refused batch once it was small.
    pub single_appends: u64,
}

#[derive(Default)]
struct Counters {
    committed: std::sync::atomic::AtomicU64,
    refused: std::sync::atomic::AtomicU64,
    single: std::sync::atomic::AtomicU64,
}

impl Counters {
    fn count(c: &std::sync::atomic::AtomicU64, n: usize) {
        c.fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed);
    }

    fn snapshot(&self) -> AppendStats {
        let get = |c: &std::sync::atomic::AtomicU64| c.load(std::sync::atomic::Ordering::Relaxed);
        AppendStats {
            batches_committed: get(&self.committed),
            batches_refused: get(&self.refused),
            single_appends: get(&self.single),
        }
    }
}

/// Where single publishes go, and the stream to consult on a conflict.
#[derive(Clone)]
struct Target {
    js: jetstream::Context,
    stream: jetstream::stream::Stream,
}

impl Appender {
    pub(crate) fn start(
        client: async_nats::Client,
        js: jetstream::Context,
        stream: jetstream::stream::Stream,
        mode: AppendMode,
    ) -> Self {
        let metrics = StreamMetrics::new(&stream.cached_info().config.name);
        let target = Target { js, stream };
        let stats = Arc::new(Counters::default());
        match mode {
            AppendMode::Pipelined => Self {
                client,
                target,
                tx: None,
                stats,
                metrics,
            },
            AppendMode::Batched {
                max_batch,
                committers,
            } => {
                let (tx, rx) = mpsc::channel::<Pending>(max_batch.max(1) * 4);
                let rx = Arc::new(Mutex::new(rx));
                for _ in 0..committers.max(1) {
                    tokio::spawn(committer(
                        rx.clone(),
                        client.clone(),
                        target.clone(),
                        stats.clone(),
                        max_batch.max(1),
                    ));
                }
                Self {
                    client,
                    target,
                    tx: Some(tx),
                    stats,
                    metrics,
                }
            }
        }
    }

    pub(crate) fn stats(&self) -> AppendStats {
        self.stats.snapshot()
    }

    pub(crate) async fn append(&self, event: NewEvent) -> Result<Appended, AppendError> {
        let span = publish_span(&event.subject, 1);
        let result = async {
            // Inside the span: the event's traceparent names it, so the
            // projection that applies the event continues from here.
            let msg = outgoing(event);
            match &self.tx {
                None => publish_one(&self.target, msg).await,
                Some(tx) => {
                    let (reply, rx) = oneshot::channel();
                    tx.send(Pending { msg, reply })
                        .await
                        .map_err(|_| AppendError::Closed)?;
                    rx.await.map_err(|_| AppendError::Closed)?
                }
            }
        }
        .instrument(span)
        .await;
        self.metrics.record(&result);
        result
    }
}

/// The producer span of one append (or one atomic batch of `events`).
fn publish_span(subject: &str, events: usize) -> tracing::Span {
    tracing::info_span!(
        "jetstream.publish",
        otel.kind = "producer",
        messaging.system = "nats",
        messaging.destination.name = subject,
        events,
    )
}

impl Appender {
    /// Stores `events` together or not at all, in one atomic batch of their
    /// own. Expected sequences are checked against the stream as it was
    /// before the batch, so give one only on the first event of a subject.
    pub(crate) async fn append_atomic(
        &self,
        events: Vec<NewEvent>,
    ) -> Result<Vec<Appended>, AppendError> {
        let Some(first) = events.first() else {
            return Ok(Vec::new());
        };
        let span = publish_span(&first.subject, events.len());
        let result = self.append_atomic_traced(events).instrument(span).await;
        match &result {
            Ok(appended) => self
                .metrics
                .stored(appended.iter().filter(|a| !a.duplicate).count()),
            Err(e) => self.metrics.failed(e),
        }
        result
    }

    async fn append_atomic_traced(
        &self,
        events: Vec<NewEvent>,
    ) -> Result<Vec<Appended>, AppendError> {
        let Some(first) = events.first() else {
            return Ok(Vec::new());
        };
        let subject = first.subject.clone();
        if events.len() == 1 {
            let only = events.into_iter().map(outgoing).collect::<Vec<_>>();
            let mut results = Vec::with_capacity(1);
            for msg in only {
                results.push(publish_one(&self.target, msg).await?);
            }
            return Ok(results);
        }
        let (replies, batch): (Vec<_>, Vec<_>) = events
            .into_iter()
            .map(|e| {
                let (reply, rx) = oneshot::channel();
                (
                    rx,
                    Pending {
                        msg: outgoing(e),
                        reply,
                    },
                )
            })
            .unzip();
        drop(replies);
        let n = batch.len() as u64;
        match commit_atomic(&self.client, &batch).await {
            Ok(last) => Ok((0..n)
                .map(|i| Appended {
                    sequence: last + 1 - n + i,
                    duplicate: false,
                })
                .collect()),
            Err(BatchError::Refused(reason)) if reason.contains(WRONG_LAST_SEQUENCE_CODE) => {
                Err(AppendError::Conflict { subject })
            }
            Err(BatchError::Refused(message) | BatchError::Unanswered(message)) => {
                Err(AppendError::Publish { subject, message })
            }
        }
    }
}

/// JetStream's error code for a failed expected-last-subject-sequence check.
const WRONG_LAST_SEQUENCE_CODE: &str = "(10071)";

fn outgoing(e: NewEvent) -> Outgoing {
    let event_id = uuid::Uuid::now_v7().to_string();
    let mut h = async_nats::HeaderMap::new();
    h.insert(headers::EVENT_TYPE, e.event_type.as_str());
    h.insert(
        headers::SCHEMA_VERSION,
        e.schema_version.to_string().as_str(),
    );
    h.insert(headers::EVENT_ID, event_id.as_str());
    let correlation = if e.metadata.correlation_id.is_empty() {
        event_id.clone()
    } else {
        e.metadata.correlation_id.clone()
    };
    h.insert(headers::CORRELATION_ID, correlation.as_str());
    if !e.metadata.causation_id.is_empty() {
        h.insert(headers::CAUSATION_ID, e.metadata.causation_id.as_str());
    }
    if let Some(r) = &e.metadata.request_id {
        h.insert(headers::REQUEST_ID, r.as_str());
    }
    if let Some(a) = &e.metadata.actor {
        h.insert(headers::ACTOR, a.as_str());
    }
    h.insert(
        headers::RECORDED_AT,
        chrono::Utc::now()
            .to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
            .as_str(),
    );
    h.insert(headers::MSG_ID, e.msg_id.unwrap_or(event_id).as_str());
    match e.expected {
        Expected::Any => {}
        Expected::NoEvents => h.insert(headers::EXPECTED_LAST_SUBJECT_SEQUENCE, "0"),
        Expected::Sequence(s) => {
            h.insert(
                headers::EXPECTED_LAST_SUBJECT_SEQUENCE,
                s.to_string().as_str(),
            );
        }
    }
    pantau_platform::telemetry::inject_nats(&mut h);
    Outgoing {
        subject: e.subject,
        headers: h,
        payload: e.payload,
    }
}

async fn publish_one(target: &Target, msg: Outgoing) -> Result<Appended, AppendError> {
    let subject = msg.subject;
    let expected = msg
        .headers
        .get(headers::EXPECTED_LAST_SUBJECT_SEQUENCE)
        .and_then(|v| v.as_str().parse::<u64>().ok());
    let msg_id = msg
        .headers
        .get(headers::MSG_ID)
        .map(|v| v.as_str().to_owned());
    let fail = |message: String| AppendError::Publish {
        subject: subject.clone(),
        message,
    };
    let ack = target
        .js
        .send_publish(
            subject.clone(),
            PublishMessage::build()
                .payload(msg.payload)
                .headers(msg.headers),
        )
        .await
        .map_err(|e| fail(e.to_string()))?
        .await;
    match ack {
        Ok(ack) => Ok(Appended {
            sequence: ack.sequence,
            duplicate: ack.duplicate,
        }),
        Err(e) if e.kind() == PublishErrorKind::WrongLastSequence => {
            // JetStream checks the expected sequence before deduplicating,
            // so a retry of a stored append looks like a conflict. The log
            // says which: the msg id is stored with the event.
            if let (Some(after), Some(id)) = (expected, msg_id)
                && let Some(sequence) = find_msg_id(&target.stream, &subject, after, &id).await
            {
                return Ok(Appended {
                    sequence,
                    duplicate: true,
                });
            }
            Err(AppendError::Conflict { subject })
        }
        Err(e) => Err(fail(e.to_string())),
    }
}

/// The sequence of the event on `subject` after `after` carrying `msg_id`.
async fn find_msg_id(
    stream: &jetstream::stream::Stream,
    subject: &str,
    after: u64,
    msg_id: &str,
) -> Option<u64> {
    let mut next = after + 1;
    loop {
        let msg = stream
            .raw_message_builder()
            .sequence(next)
            .next_by_subject(subject)
            .send()
            .await
            .ok()?;
        if msg.headers.get(headers::MSG_ID).map(|v| v.as_str()) == Some(msg_id) {
            return Some(msg.sequence);
        }
        next = msg.sequence + 1;
    }
}

async fn committer(
    rx: Arc<Mutex<mpsc::Receiver<Pending>>>,
    client: async_nats::Client,
    target: Target,
    stats: Arc<Counters>,
    max_batch: usize,
) {
    // Appends to a subject already in the batch wait for the next one: a
    // subject may appear once per atomic batch.
    let mut carry: VecDeque<Pending> = VecDeque::new();
    loop {
        let mut batch: Vec<Pending> = Vec::new();
        let mut subjects: HashSet<String> = HashSet::new();
        let mut waiting = VecDeque::new();
        for p in carry.drain(..) {
            if batch.len() < max_batch && subjects.insert(p.msg.subject.clone()) {
                batch.push(p);
            } else {
                waiting.push_back(p);
            }
        }
        carry = waiting;
        // With appends already in hand, never wait for the queue: the other
        // committer may be holding it while it waits for new appends, and
        // these would stall until some unrelated append came along.
        let queue = if batch.is_empty() {
            Some(rx.lock().await)
        } else {
            rx.try_lock().ok()
        };
        if let Some(mut rx) = queue {
            if batch.is_empty() {
                match rx.recv().await {
                    Some(p) => {
                        subjects.insert(p.msg.subject.clone());
                        batch.push(p);
                    }
                    None => return,
                }
            }
            while batch.len() < max_batch {
                match rx.try_recv() {
                    Ok(p) if subjects.insert(p.msg.subject.clone()) => batch.push(p),
                    Ok(p) => carry.push_back(p),
                    Err(_) => break,
                }
            }
        }
        commit(&client, &target, &stats, batch).await;
    }
}

async fn commit(
    client: &async_nats::Client,
    target: &Target,
    stats: &Counters,
    batch: Vec<Pending>,
) {
    if batch.len() == 1 {
        Counters::count(&stats.single, 1);
        for p in batch {
            let result = publish_one(target, p.msg).await;
            let _ = p.reply.send(result);
        }
        return;
    }
    let n = batch.len();
    match commit_atomic(client, &batch).await {
        // The server did not answer (down, no leader, a lost request): the
        // halves would wait just as long, again and again. Every append of
        // the batch fails now; its caller retries it under the same msg id,
        // so one that did land is not stored twice.
        Err(BatchError::Unanswered(reason)) => {
            Counters::count(&stats.refused, 1);
            warn!(size = n, %reason, "atomic batch unanswered; failing its appends");
            for p in batch {
                let _ = p.reply.send(Err(AppendError::Publish {
                    subject: p.msg.subject.clone(),
                    message: reason.clone(),
                }));
            }
        }
        Ok(last_sequence) => {
            Counters::count(&stats.committed, 1);
            debug!(size = n, last_sequence, "atomic batch committed");
            let first = last_sequence + 1 - n as u64;
            for (i, p) in batch.into_iter().enumerate() {
                let _ = p.reply.send(Ok(Appended {
                    sequence: first + i as u64,
                    duplicate: false,
                }));
            }
        }
        // One refused append (a concurrent change, a duplicate) refuses the
        // whole batch. The rest are still good: halve the batch and commit
        // each half, so k refusals among n appends cost about 2k log(n/k)
        // small batches instead of n single appends.
        Err(BatchError::Refused(reason)) if n > INDIVIDUALLY => {
            Counters::count(&stats.refused, 1);
            debug!(size = n, %reason, "atomic batch refused, committing its halves");
            let mut first = batch;
            let second = first.split_off(n / 2);
            futures::future::join(
                Box::pin(commit(client, target, stats, first)),
                Box::pin(commit(client, target, stats, second)),
            )
            .await;
        }
        Err(BatchError::Refused(reason)) => {
            Counters::count(&stats.refused, 1);
            Counters::count(&stats.single, n);
            debug!(size = n, %reason, "atomic batch refused, resending individually");
            let results = join_all(batch.iter().map(|p| {
                publish_one(
                    target,
                    Outgoing {
                        subject: p.msg.subject.clone(),
                        headers: p.msg.headers.clone(),
                        payload: p.msg.payload.clone(),
                    },
                )
            }))
            .await;
            for (p, r) in batch.into_iter().zip(results) {
                let _ = p.reply.send(r);
            }
        }
    }
}

/// A refused batch this small is resent one append at a time.
const INDIVIDUALLY: usize = 4;

#[derive(serde::Deserialize)]
struct BatchAck {
    #[serde(default)]
    seq: u64,
    #[serde(default)]
    count: Option<u64>,
    #[serde(default)]
    error: Option<ApiError>,
}

#[derive(serde::Deserialize)]
struct ApiError {
    #[serde(default)]
    err_code: u64,
    #[serde(default)]
    description: String,
}

/// How long a batch commit waits for the server's ack.
const BATCH_ACK_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// Why an atomic batch was not committed.
enum BatchError {
    /// The server answered no (a conflict, a duplicate): the others in the
    /// batch may still be good.
    Refused(String),
    /// No answer at all, or it could not be sent.
    Unanswered(String),
}

/// Sends the batch; returns the stream sequence of its last message when
/// every message was stored as new, else why not.
async fn commit_atomic(client: &async_nats::Client, batch: &[Pending]) -> Result<u64, BatchError> {
    let id = uuid::Uuid::new_v4().simple().to_string();
    let n = batch.len();
    let unanswered = |e: &dyn std::fmt::Display| BatchError::Unanswered(e.to_string());
    for (i, p) in batch.iter().enumerate() {
        let mut h = p.msg.headers.clone();
        h.insert("Nats-Batch-Id", id.as_str());
        h.insert("Nats-Batch-Sequence", (i + 1).to_string().as_str());
        if i + 1 < n {
            client
                .publish_with_headers(p.msg.subject.clone(), h, p.msg.payload.clone())
                .await
                .map_err(|e| unanswered(&e))?;
        } else {
            h.insert("Nats-Batch-Commit", "1");
            // As long as a single publish waits for its ack (JetStream's
            // default), not the client's longer request timeout.
            let reply = tokio::time::timeout(
                BATCH_ACK_WAIT,
                client.request_with_headers(p.msg.subject.clone(), h, p.msg.payload.clone()),
            )
            .await
            .map_err(|_| unanswered(&"timed out: didn't receive the batch ack in time"))?
            .map_err(|e| unanswered(&e))?;
            let ack: BatchAck = serde_json::from_slice(&reply.payload)
                .map_err(|e| BatchError::Refused(format!("unreadable batch ack: {e}")))?;
            if let Some(err) = ack.error {
                return Err(BatchError::Refused(format!(
                    "{} ({})",
                    err.description, err.err_code
                )));
            }
            if ack.count != Some(n as u64) {
                // Some messages were duplicates: sequences are not contiguous.
                warn!(expected = n, stored = ?ack.count, "atomic batch stored fewer messages");
                return Err(BatchError::Refused("batch partially deduplicated".into()));
            }
            return Ok(ack.seq);
        }
    }
    Err(BatchError::Refused("empty batch".into()))
}
