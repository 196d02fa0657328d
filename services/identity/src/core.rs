//! The command side: load an aggregate from its subject, decide, append with
//! the expected sequence, retry on conflict; idempotent by request id.

use bytes::Bytes;
use pantau_eventstore::{AppendError, EventStore, Expected, Metadata, NewEvent, RecordedEvent};
use pantau_proto::events::v1::{IdentityEvent, identity_event::Event};
use prost::Message;

use crate::domain::DomainError;
use crate::error::ServiceError;

pub fn worker_subject(id: &str) -> String {
    format!("pantau.identity.worker.{id}")
}
pub fn agency_subject(id: &str) -> String {
    format!("pantau.identity.agency.{id}")
}
pub fn campaign_subject(id: &str) -> String {
    format!("pantau.identity.campaign.{id}")
}
pub fn account_subject(id: &str) -> String {
    format!("pantau.identity.account.{id}")
}
pub fn signing_key_subject(id: &str) -> String {
    format!("pantau.identity.signing_key.{id}")
}

/// The variant name, carried in the `Pantau-Event-Type` header.
pub fn event_type(e: &Event) -> &'static str {
    match e {
        Event::AgencyCreated(_) => "AgencyCreated",
        Event::UnitCreated(_) => "UnitCreated",
        Event::WorkerRegistered(_) => "WorkerRegistered",
        Event::WorkerUpdated(_) => "WorkerUpdated",
        Event::WorkerTransferred(_) => "WorkerTransferred",
        Event::SupervisorAssigned(_) => "SupervisorAssigned",
        Event::WorkerDeactivated(_) => "WorkerDeactivated",
        Event::WorkerErased(_) => "WorkerErased",
        Event::CampaignOpened(_) => "CampaignOpened",
        Event::WorkerReverified(_) => "WorkerReverified",
        Event::ReverificationMissed(_) => "ReverificationMissed",
        Event::CampaignClosed(_) => "CampaignClosed",
        Event::AccountCreated(_) => "AccountCreated",
        Event::SigningKeyPublished(_) => "SigningKeyPublished",
    }
}

pub fn encode(e: &Event) -> Bytes {
    Bytes::from(
        IdentityEvent {
            event: Some(e.clone()),
        }
        .encode_to_vec(),
    )
}

pub fn decode(r: &RecordedEvent) -> Result<Event, ServiceError> {
    IdentityEvent::decode(r.payload.as_ref())
        .ok()
        .and_then(|m| m.event)
        .ok_or_else(|| ServiceError::Internal(format!("undecodable event at {}", r.sequence)))
}

/// Who asked, and under which request id.
#[derive(Debug, Clone)]
pub struct Ctx {
    pub request_id: String,
    pub actor: String,
    pub correlation_id: String,
}

impl Ctx {
    fn metadata(&self) -> Metadata {
        Metadata {
            correlation_id: self.correlation_id.clone(),
            causation_id: self.request_id.clone(),
            request_id: Some(self.request_id.clone()),
            actor: Some(self.actor.clone()),
        }
    }
}

/// What a command produced: the aggregate's state afterwards and the stream
/// sequence of its last event.
pub struct Executed<S> {
    pub state: S,
    pub last_sequence: u64,
    /// Events this call stored (0 for a retry whose events were all there).
    pub appended: usize,
}

const MAX_ATTEMPTS: usize = 8;

/// The `index`th event of the command `ctx`: its `Nats-Msg-Id` is
/// `<request_id>:<index>`, so a retry is deduplicated event by event.
fn new_event(ctx: &Ctx, subject: &str, e: &Event, expected: Expected, index: usize) -> NewEvent {
    NewEvent {
        subject: subject.to_owned(),
        event_type: event_type(e).to_owned(),
        schema_version: 1,
        payload: encode(e),
        expected,
        msg_id: Some(format!("{}:{index}", ctx.request_id)),
        metadata: ctx.metadata(),
    }
}

/// Creates an aggregate: decides on the empty state and appends with
/// "no events yet" straight away, skipping the load a fresh id does not
/// need. When the subject already has events (a retry, or a clash) it
/// falls back to [`execute`], which recognises the retry.
pub async fn create<S, D>(
    store: &EventStore,
    subject: &str,
    evolve: fn(S, &Event) -> S,
    ctx: &Ctx,
    decide: D,
) -> Result<Executed<S>, ServiceError>
where
    S: Default + Clone,
    D: Fn(&S) -> Result<Vec<Event>, DomainError>,
{
    let events = decide(&S::default())?;
    if let [only] = events.as_slice() {
        match store
            .append(new_event(ctx, subject, only, Expected::NoEvents, 0))
            .await
        {
            Ok(a) if !a.duplicate => {
                return Ok(Executed {
                    state: evolve(S::default(), only),
                    last_sequence: a.sequence,
                    appended: 1,
                });
            }
            Ok(_) | Err(AppendError::Conflict { .. }) => {}
            Err(e) => return Err(ServiceError::Unavailable(e.to_string())),
        }
    }
    execute(store, subject, evolve, ctx, decide).await
}

/// Runs `decide` against the aggregate at `subject` and appends the result.
///
/// Retried commands are recognised by the request id stored with their
/// events: the decision is re-made on the state before them and only the
/// events not yet stored are appended (each with its own `Nats-Msg-Id`), so
/// a retry returns the original outcome and stores nothing twice.
pub async fn execute<S, D>(
    store: &EventStore,
    subject: &str,
    evolve: fn(S, &Event) -> S,
    ctx: &Ctx,
    decide: D,
) -> Result<Executed<S>, ServiceError>
where
    S: Default + Clone,
    D: Fn(&S) -> Result<Vec<Event>, DomainError>,
{
    for _ in 0..MAX_ATTEMPTS {
        let loaded = store
            .load(subject)
            .await
            .map_err(|e| ServiceError::Unavailable(format!("failed to load {subject}: {e}")))?;
        let mut events = Vec::with_capacity(loaded.len());
        for r in &loaded {
            events.push(decode(r)?);
        }
        let ours = loaded
            .iter()
            .position(|r| r.request_id.as_deref() == Some(ctx.request_id.as_str()));
        let already = loaded
            .iter()
            .filter(|r| r.request_id.as_deref() == Some(ctx.request_id.as_str()))
            .count();
        let prior_len = ours.unwrap_or(events.len());
        let prior = events[..prior_len].iter().fold(S::default(), evolve);
        let decided = decide(&prior)?;
        let remaining: Vec<Event> = decided.into_iter().skip(already).collect();
        let mut last = loaded.last().map(|r| r.sequence);
        let mut conflict = false;
        for (i, e) in remaining.iter().enumerate() {
            let expected = last.map_or(Expected::NoEvents, Expected::Sequence);
            let appended = store
                .append(new_event(ctx, subject, e, expected, already + i))
                .await;
            match appended {
                Ok(a) => last = Some(a.sequence),
                Err(AppendError::Conflict { .. }) => {
                    conflict = true;
                    break;
                }
                Err(e) => return Err(ServiceError::Unavailable(e.to_string())),
            }
        }
        if conflict {
            continue;
        }
        let state = events
            .iter()
            .chain(remaining.iter())
            .fold(S::default(), evolve);
        return Ok(Executed {
            state,
            last_sequence: last.unwrap_or(0),
            appended: remaining.len(),
        });
    }
    Err(ServiceError::Aborted(format!(
        "{subject} kept changing concurrently; try again"
    )))
}

/// Loads and folds an aggregate without changing it.
pub async fn load<S: Default>(
    store: &EventStore,
    subject: &str,
    evolve: fn(S, &Event) -> S,
) -> Result<S, ServiceError> {
    let loaded = store
        .load(subject)
        .await
        .map_err(|e| ServiceError::Unavailable(format!("failed to load {subject}: {e}")))?;
    let mut state = S::default();
    for r in &loaded {
        state = evolve(state, &decode(r)?);
    }
    Ok(state)
}
