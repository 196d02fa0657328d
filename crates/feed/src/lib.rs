//! A generated province onto the streams. The fraud service's simulator
//! (`pantau_fraud::domain::simulate`) numbers every event it generates with
//! its place on its stream; [`write_month`] appends them there on their
//! services' subjects with the event store's envelope, in order, so every
//! consumer reads the month exactly as it would in production; and
//! [`write_scores`] closes the month on the scoring stream. The benchmarks
//! and the reporting tests seed their streams with it.

mod scores;
mod subjects;

use anyhow::Context;
use pantau_eventstore::{AppendMode, EventStore, NewEvent};
use pantau_fraud::domain::simulate::SimEvent;

pub use scores::{Score, generated_scores, write_scores};
pub use subjects::{ReportDays, attendance, identity};

/// Events one atomic batch writes (the event store's group commit uses
/// the same size).
const BATCH: usize = 1000;

/// The three streams a generated month goes to.
pub struct Streams {
    pub identity: EventStore,
    pub attendance: EventStore,
    pub activity: EventStore,
}

impl Streams {
    pub async fn open(client: &async_nats::Client) -> anyhow::Result<Streams> {
        let open = |context: &'static str| {
            EventStore::open_context(client, context, AppendMode::Pipelined)
        };
        Ok(Streams {
            identity: open("identity").await?,
            attendance: open("attendance").await?,
            activity: open("activity").await?,
        })
    }

    pub fn all(&self) -> [&EventStore; 3] {
        [&self.identity, &self.attendance, &self.activity]
    }
}

/// Appends `events` in order, each where the generator numbered it, in
/// atomic batches one after the other: pipelined single appends from one
/// task can overtake each other (a publish waiting for its turn is polled
/// after later ones), and consumers depend on the order.
pub(crate) async fn append_in_order(
    store: &EventStore,
    events: impl Iterator<Item = anyhow::Result<(u64, NewEvent)>>,
) -> anyhow::Result<u64> {
    let mut events = events.peekable();
    let mut n = 0u64;
    while events.peek().is_some() {
        let (mut seqs, mut batch) = (Vec::with_capacity(BATCH), Vec::with_capacity(BATCH));
        for item in events.by_ref().take(BATCH) {
            let (seq, event) = item?;
            seqs.push(seq);
            batch.push(event);
        }
        let stored = store
            .append_atomic(batch)
            .await
            .context("failed to append the generated month")?;
        for (seq, at) in seqs.iter().zip(&stored) {
            anyhow::ensure!(
                at.sequence == *seq,
                "{}: event {seq} stored at {}: the month was reordered (the streams must \
                 be empty before a generated month is written)",
                store.stream_name(),
                at.sequence
            );
        }
        n += stored.len() as u64;
    }
    Ok(n)
}

/// Writes the month onto the three streams (concurrently; each in order),
/// which must be empty. Returns how many events were written.
pub async fn write_month(s: &Streams, events: &[SimEvent]) -> anyhow::Result<u64> {
    let identity = events.iter().filter_map(|e| match e {
        SimEvent::Identity { seq, event } => Some(Ok((*seq, subjects::identity(event)))),
        _ => None,
    });
    let attendance = events.iter().filter_map(|e| match e {
        SimEvent::Attendance { seq, event } => Some(Ok((*seq, subjects::attendance(event)))),
        _ => None,
    });
    let mut days = subjects::ReportDays::default();
    let activity = events.iter().filter_map(move |e| match e {
        SimEvent::Activity { seq, event } => Some(days.activity(event).map(|e| (*seq, e))),
        _ => None,
    });
    let (a, b, c) = tokio::try_join!(
        append_in_order(&s.identity, identity),
        append_in_order(&s.attendance, attendance),
        append_in_order(&s.activity, activity),
    )?;
    Ok(a + b + c)
}
