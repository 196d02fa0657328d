//! The event store: NATS JetStream as the log of every bounded context.
//!
//! One stream per context (`PANTAU_IDENTITY` over `pantau.identity.>`), one
//! subject per aggregate instance (`pantau.identity.worker.<uuid>`: ids only,
//! never personal data). Appends are optimistic (the expected last sequence
//! of the aggregate's subject) and idempotent (`Nats-Msg-Id` from the
//! client's request id). With the durable NATS config (`sync_interval:
//! always`) every acknowledged append is on disk; the [`append`] module
//! keeps throughput by group-committing concurrent appends into JetStream
//! atomic batches, one fsync per batch. The [`follow`] module keeps an
//! in-memory state up to date with a stream.

pub mod append;
pub mod command;
pub mod envelope;
pub mod follow;
mod metrics;
pub mod stream;

pub use append::{AppendError, AppendMode, AppendStats, Appended, Expected, NewEvent};
pub use envelope::{Metadata, RecordedEvent, Upcaster, Upcasters, headers};
pub use follow::{FollowError, Follower};
pub use stream::{StreamSpec, ensure_stream};

use std::sync::Arc;

use async_nats::jetstream;

/// Errors reading the log.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("failed to read {subject} at sequence {sequence}: {message}")]
    Read {
        subject: String,
        sequence: u64,
        message: String,
    },
    #[error("event {sequence} on {subject} is malformed: {message}")]
    Malformed {
        subject: String,
        sequence: u64,
        message: String,
    },
}

/// A handle on one bounded context's stream.
#[derive(Clone)]
pub struct EventStore {
    js: jetstream::Context,
    stream: jetstream::stream::Stream,
    appender: append::Appender,
    upcasters: Arc<Upcasters>,
}

impl EventStore {
    /// The stream of bounded context `context` (`PANTAU_<CONTEXT>` over
    /// `pantau.<context>.>`) with no upcasters: how a service opens its own
    /// stream and the ones it reads.
    pub async fn open_context(
        client: &async_nats::Client,
        context: &str,
        mode: AppendMode,
    ) -> Result<Self, stream::StreamError> {
        Self::open(
            client.clone(),
            &StreamSpec::for_context(context),
            mode,
            Upcasters::new(),
        )
        .await
    }

    /// [`EventStore::open_context`] with the stream held by `replicas` NATS
    /// servers (a service's `PANTAU_NATS_STREAM_REPLICAS`).
    pub async fn open_context_replicated(
        client: &async_nats::Client,
        context: &str,
        mode: AppendMode,
        replicas: usize,
    ) -> Result<Self, stream::StreamError> {
        Self::open(
            client.clone(),
            &StreamSpec::for_context(context).replicated(replicas),
            mode,
            Upcasters::new(),
        )
        .await
    }

    /// Another context's stream, opened by a service that only reads it:
    /// created if it does not exist yet, never reconfigured
    /// ([`StreamSpec::reader`]).
    pub async fn open_context_as_reader(
        client: &async_nats::Client,
        context: &str,
        replicas: usize,
    ) -> Result<Self, stream::StreamError> {
        Self::open(
            client.clone(),
            &StreamSpec::for_context(context)
                .replicated(replicas)
                .reader(),
            AppendMode::Pipelined,
            Upcasters::new(),
        )
        .await
    }

    /// Creates (or updates) the stream and starts the appender.
    pub async fn open(
        client: async_nats::Client,
        spec: &StreamSpec,
        mode: AppendMode,
        upcasters: Upcasters,
    ) -> Result<Self, stream::StreamError> {
        let js = jetstream::new(client.clone());
        let stream = ensure_stream(&js, spec).await?;
        let appender = append::Appender::start(client, js.clone(), stream.clone(), mode);
        Ok(Self {
            js,
            stream,
            appender,
            upcasters: Arc::new(upcasters),
        })
    }

    pub fn jetstream(&self) -> &jetstream::Context {
        &self.js
    }

    pub fn stream_name(&self) -> &str {
        &self.stream.cached_info().config.name
    }

    /// How the group commit has gone so far (all zero in pipelined mode).
    pub fn append_stats(&self) -> AppendStats {
        self.appender.stats()
    }

    /// Appends one event. Concurrent calls are group-committed.
    pub async fn append(&self, event: NewEvent) -> Result<Appended, AppendError> {
        self.appender.append(event).await
    }

    /// Appends `events` atomically: all are stored, contiguously and in
    /// order, or none is. A failed expected-sequence check anywhere is a
    /// [`AppendError::Conflict`] on the first event's subject.
    pub async fn append_atomic(&self, events: Vec<NewEvent>) -> Result<Vec<Appended>, AppendError> {
        self.appender.append_atomic(events).await
    }

    /// Every event of one aggregate, in order, upcast to current versions.
    pub async fn load(&self, subject: &str) -> Result<Vec<RecordedEvent>, LoadError> {
        self.load_after(subject, 0).await
    }

    /// The aggregate's events with a stream sequence above `after`.
    pub async fn load_after(
        &self,
        subject: &str,
        after: u64,
    ) -> Result<Vec<RecordedEvent>, LoadError> {
        let mut out = Vec::new();
        let mut next = after + 1;
        loop {
            // Raw (leader) gets rather than direct gets: read-after-write is
            // guaranteed, which the expected-sequence check depends on.
            let msg = self
                .stream
                .raw_message_builder()
                .sequence(next)
                .next_by_subject(subject)
                .send()
                .await;
            let msg = match msg {
                Ok(m) => m,
                Err(e)
                    if matches!(
                        e.kind(),
                        async_nats::jetstream::stream::RawMessageErrorKind::NoMessageFound
                    ) =>
                {
                    break;
                }
                Err(e) => {
                    return Err(LoadError::Read {
                        subject: subject.to_owned(),
                        sequence: next,
                        message: e.to_string(),
                    });
                }
            };
            next = msg.sequence + 1;
            out.push(self.decode(
                msg.subject.as_str(),
                msg.sequence,
                msg.time,
                &msg.headers,
                msg.payload,
            )?);
        }
        Ok(out)
    }

    /// Reads envelope headers and upcasts the payload.
    pub fn decode(
        &self,
        subject: &str,
        sequence: u64,
        stored_at: chrono::DateTime<chrono::Utc>,
        headers: &async_nats::HeaderMap,
        payload: bytes::Bytes,
    ) -> Result<RecordedEvent, LoadError> {
        RecordedEvent::decode(
            subject,
            sequence,
            stored_at,
            headers,
            payload,
            &self.upcasters,
        )
    }

    /// The stream's last sequence (for projection lag).
    pub async fn last_sequence(&self) -> Result<u64, LoadError> {
        let info = self.stream.get_info().await.map_err(|e| LoadError::Read {
            subject: self.stream_name().to_owned(),
            sequence: 0,
            message: e.to_string(),
        })?;
        Ok(info.state.last_sequence)
    }

    /// The sequence of the last event on subjects matching `filter`
    /// (wildcards allowed), 0 when there is none: how far a follower of
    /// those subjects must get to have seen everything stored so far.
    pub async fn last_sequence_of(&self, filter: &str) -> Result<u64, LoadError> {
        match self.stream.get_last_raw_message_by_subject(filter).await {
            Ok(m) => Ok(m.sequence),
            Err(e)
                if matches!(
                    e.kind(),
                    jetstream::stream::LastRawMessageErrorKind::NoMessageFound
                ) =>
            {
                Ok(0)
            }
            Err(e) => Err(LoadError::Read {
                subject: filter.to_owned(),
                sequence: 0,
                message: e.to_string(),
            }),
        }
    }
}
