//! The command side: load an aggregate from its subject, decide, append with
//! the expected sequence, retry on conflict; idempotent by request id.

use bytes::Bytes;
pub use pantau_eventstore::command::Executed;
use pantau_eventstore::command::{self, Codec, Command};
use pantau_eventstore::{EventStore, Metadata, RecordedEvent};
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

/// How identity's events travel, for the shared command loop.
pub const CODEC: Codec<Event> = Codec {
    encode,
    decode: |r| decode(r).ok(),
    event_type,
};

impl Ctx {
    fn command(&self) -> Command {
        Command {
            request_id: self.request_id.clone(),
            msg_id_prefix: self.request_id.clone(),
            metadata: self.metadata(),
        }
    }
}

/// Creates an aggregate (see [`command::create`]).
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
    Ok(command::create(store, &CODEC, None, subject, evolve, &ctx.command(), decide).await?)
}

/// Runs `decide` against the aggregate at `subject` and appends the result
/// (see [`command::execute`]: a retried request returns its first outcome).
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
    Ok(command::execute(store, &CODEC, None, subject, evolve, &ctx.command(), decide).await?)
}

/// Loads and folds an aggregate without changing it.
pub async fn load<S: Default>(
    store: &EventStore,
    subject: &str,
    evolve: fn(S, &Event) -> S,
) -> Result<S, ServiceError> {
    Ok(command::load::<_, _, DomainError>(store, &CODEC, subject, evolve).await?)
}
