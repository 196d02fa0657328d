//! Following a stream into memory: an ordered consumer delivers every event
//! (from the first) to a function that folds it into some state, so a
//! replica can judge requests without a database round trip. The state is
//! shared behind an `RwLock` that requests read and the follower writes.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use async_nats::jetstream::{self, consumer::DeliverPolicy, consumer::pull::OrderedConfig};
use futures::StreamExt;
use pantau_platform::shutdown::Shutdown;
use tokio::sync::watch;

/// How often a follower checks whether its client has reconnected.
const RECONNECT_CHECK: Duration = Duration::from_millis(250);

type Messages = async_nats::jetstream::consumer::pull::Ordered;

/// An ordered consumer on `filters` (all when empty) from sequence `from`
/// (the first event when 0).
async fn ordered(
    stream: &jetstream::stream::Stream,
    filters: &[String],
    from: u64,
) -> Result<Messages, String> {
    let deliver_policy = if from <= 1 {
        DeliverPolicy::All
    } else {
        DeliverPolicy::ByStartSequence {
            start_sequence: from,
        }
    };
    let consumer = stream
        .create_consumer(OrderedConfig {
            filter_subjects: filters.to_vec(),
            deliver_policy,
            ..Default::default()
        })
        .await
        .map_err(|e| e.to_string())?;
    consumer.messages().await.map_err(|e| e.to_string())
}

/// The stream could not be followed (missing, or the consumer refused).
#[derive(Debug, thiserror::Error)]
#[error("failed to follow stream {stream}: {message}")]
pub struct FollowError {
    pub stream: String,
    pub message: String,
}

/// How a follower folds an event into its state.
enum Apply<T> {
    Payload(fn(&mut T, &[u8])),
    Sequenced(fn(&mut T, u64, &[u8])),
}

impl<T> Clone for Apply<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for Apply<T> {}

/// Follows one stream into a shared state; `seen` tells how far.
pub struct Follower {
    seen: watch::Receiver<u64>,
}

impl Follower {
    /// Starts following `stream` (restricted to `filters`, all when empty)
    /// from its first event, applying each payload to `state` with `apply`
    /// under the write lock. The task ends with `shutdown`.
    pub async fn start<T: Send + Sync + 'static>(
        js: jetstream::Context,
        stream: &str,
        filters: Vec<String>,
        state: Arc<RwLock<T>>,
        apply: fn(&mut T, &[u8]),
        shutdown: Shutdown,
    ) -> Result<Follower, FollowError> {
        Self::follow(js, stream, filters, state, Apply::Payload(apply), shutdown).await
    }

    /// [`Follower::start`] for a state that remembers where each event is
    /// (its stream sequence), to point back at it as evidence.
    pub async fn start_sequenced<T: Send + Sync + 'static>(
        js: jetstream::Context,
        stream: &str,
        filters: Vec<String>,
        state: Arc<RwLock<T>>,
        apply: fn(&mut T, u64, &[u8]),
        shutdown: Shutdown,
    ) -> Result<Follower, FollowError> {
        Self::follow(
            js,
            stream,
            filters,
            state,
            Apply::Sequenced(apply),
            shutdown,
        )
        .await
    }

    async fn follow<T: Send + Sync + 'static>(
        js: jetstream::Context,
        stream: &str,
        filters: Vec<String>,
        state: Arc<RwLock<T>>,
        apply: Apply<T>,
        shutdown: Shutdown,
    ) -> Result<Follower, FollowError> {
        let err = |e: &dyn std::fmt::Display| FollowError {
            stream: stream.to_owned(),
            message: e.to_string(),
        };
        let stream = js.get_stream(stream).await.map_err(|e| err(&e))?;
        let mut messages = ordered(&stream, &filters, 0).await.map_err(|e| err(&e))?;
        let (tx, seen) = watch::channel(0u64);
        let name = stream.cached_info().config.name.clone();
        let client = js.client();
        tokio::spawn(async move {
            let mut was_connected = true;
            let mut check = tokio::time::interval(RECONNECT_CHECK);
            loop {
                let next = tokio::select! {
                    m = messages.next() => m,
                    _ = check.tick() => {
                        // A restarted server has forgotten the ordered
                        // consumer (it lives in memory), which the client
                        // would notice only after missed heartbeats: once
                        // reconnected, ask again from the next event.
                        let connected =
                            client.connection_state() == async_nats::connection::State::Connected;
                        if connected && !was_connected {
                            let from = *tx.borrow() + 1;
                            match ordered(&stream, &filters, from).await {
                                Ok(m) => {
                                    tracing::info!(stream = %name, from, "following again after a reconnect");
                                    messages = m;
                                }
                                Err(e) => {
                                    tracing::warn!(stream = %name, error = %e, "could not follow again yet");
                                    continue; // was_connected stays false: retried next tick
                                }
                            }
                        }
                        was_connected = connected;
                        continue;
                    }
                    () = shutdown.wait() => return,
                };
                match next {
                    Some(Ok(msg)) => {
                        let seq = msg.info().map(|i| i.stream_sequence).unwrap_or(0);
                        if seq <= *tx.borrow() {
                            continue; // delivered again after a re-follow
                        }
                        let mut s = match state.write() {
                            Ok(s) => s,
                            Err(poisoned) => poisoned.into_inner(),
                        };
                        match apply {
                            Apply::Payload(f) => f(&mut s, &msg.payload),
                            Apply::Sequenced(f) => f(&mut s, seq, &msg.payload),
                        }
                        drop(s);
                        tx.send_replace(seq);
                    }
                    Some(Err(e)) => {
                        tracing::warn!(stream = %name, error = %e, "stream follower hiccup; the ordered consumer recovers");
                    }
                    None => return,
                }
            }
        });
        Ok(Follower { seen })
    }

    /// Waits until the follower has applied `sequence` (false on timeout).
    pub async fn wait_for(&self, sequence: u64, timeout: Duration) -> bool {
        let mut rx = self.seen.clone();
        tokio::time::timeout(timeout, rx.wait_for(|s| *s >= sequence))
            .await
            .is_ok_and(|r| r.is_ok())
    }

    /// The stream sequence of the last event applied (0 before the first).
    pub fn seen(&self) -> u64 {
        *self.seen.borrow()
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use pantau_testkit::NatsServer;

    use super::*;
    use crate::{AppendMode, EventStore, Expected, NewEvent, StreamSpec, Upcasters};

    fn event(subject: &str, body: &str) -> NewEvent {
        NewEvent {
            subject: subject.to_owned(),
            event_type: "ThingHappened".into(),
            schema_version: 1,
            payload: Bytes::from(body.to_owned()),
            expected: Expected::Any,
            msg_id: None,
            metadata: Default::default(),
        }
    }

    fn push(seen: &mut Vec<String>, payload: &[u8]) {
        seen.push(String::from_utf8_lossy(payload).into_owned());
    }

    fn push_at(seen: &mut Vec<String>, seq: u64, payload: &[u8]) {
        seen.push(format!("{seq}:{}", String::from_utf8_lossy(payload)));
    }

    #[tokio::test]
    async fn a_sequenced_follower_knows_where_each_event_is() -> anyhow::Result<()> {
        let nats = NatsServer::start().await?;
        let store = EventStore::open(
            nats.client().await?,
            &StreamSpec::for_context("follow"),
            AppendMode::Pipelined,
            Upcasters::new(),
        )
        .await?;
        store.append(event("pantau.follow.other.1", "x")).await?;
        let a = store.append(event("pantau.follow.kept.1", "a")).await?;
        let state = Arc::new(RwLock::new(Vec::new()));
        let shutdown = Shutdown::new();
        let follower = Follower::start_sequenced(
            store.jetstream().clone(),
            store.stream_name(),
            vec!["pantau.follow.kept.>".into()],
            state.clone(),
            push_at,
            shutdown.clone(),
        )
        .await?;
        assert!(follower.wait_for(a.sequence, Duration::from_secs(10)).await);
        assert_eq!(read(&state), [format!("{}:a", a.sequence)]);
        shutdown.trigger();
        Ok(())
    }

    fn read(state: &RwLock<Vec<String>>) -> Vec<String> {
        match state.read() {
            Ok(s) => s.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    #[tokio::test]
    async fn a_follower_applies_the_filtered_events_old_and_new_in_order() -> anyhow::Result<()> {
        let nats = NatsServer::start().await?;
        let store = EventStore::open(
            nats.client().await?,
            &StreamSpec::for_context("follow"),
            AppendMode::Pipelined,
            Upcasters::new(),
        )
        .await?;
        store.append(event("pantau.follow.kept.1", "a")).await?;
        store.append(event("pantau.follow.other.1", "x")).await?;
        let b = store.append(event("pantau.follow.kept.2", "b")).await?;
        let state = Arc::new(RwLock::new(Vec::new()));
        let shutdown = Shutdown::new();
        let follower = Follower::start(
            store.jetstream().clone(),
            store.stream_name(),
            vec!["pantau.follow.kept.>".into()],
            state.clone(),
            push,
            shutdown.clone(),
        )
        .await?;
        assert!(follower.wait_for(b.sequence, Duration::from_secs(10)).await);
        assert_eq!(read(&state), ["a", "b"]);
        let c = store.append(event("pantau.follow.kept.1", "c")).await?;
        assert!(follower.wait_for(c.sequence, Duration::from_secs(10)).await);
        assert_eq!(follower.seen(), c.sequence);
        assert_eq!(read(&state), ["a", "b", "c"]);
        assert!(
            !follower
                .wait_for(c.sequence + 1, Duration::from_millis(100))
                .await
        );
        shutdown.trigger();
        Ok(())
    }

    #[tokio::test]
    async fn following_a_missing_stream_names_it() -> anyhow::Result<()> {
        let nats = NatsServer::start().await?;
        let js = jetstream::new(nats.client().await?);
        let state = Arc::new(RwLock::new(Vec::new()));
        let result = Follower::start(
            js,
            "PANTAU_NOWHERE",
            Vec::new(),
            state,
            push,
            Shutdown::new(),
        )
        .await;
        let Err(e) = result else {
            anyhow::bail!("followed a stream that does not exist");
        };
        assert_eq!(e.stream, "PANTAU_NOWHERE");
        Ok(())
    }
}
