//! Subjects, event encoding and the command loop for activity's aggregates:
//! a catalog per scope (an agency, or the general catalog), a worker's day
//! of reports (so no two of their reports overlap), a worker's monthly
//! rating, and duplicate-work flags.

use bytes::Bytes;
use chrono::NaiveDate;
pub use pantau_eventstore::command::Executed;
use pantau_eventstore::command::{self, Codec, Command};
use pantau_eventstore::{EventStore, Metadata, RecordedEvent};
use pantau_platform::{DomainError, ServiceError};
use pantau_proto::events::v1::{ActivityEvent, activity_event::Event};
use prost::Message;

/// The subject token of the general catalog.
pub const GENERAL: &str = "general";

/// Catalog versions of `agency_id`, or of the general catalog when empty.
pub fn catalog_subject(agency_id: &str) -> String {
    let scope = if agency_id.is_empty() {
        GENERAL
    } else {
        agency_id
    };
    format!("pantau.activity.catalog.{scope}")
}

/// A worker's reports of one local day.
pub fn day_subject(worker_id: &str, date: NaiveDate) -> String {
    format!("pantau.activity.day.{worker_id}.{}", date.format("%Y%m%d"))
}

pub fn flag_subject(report_id: &str) -> String {
    format!("pantau.activity.flag.{report_id}")
}

/// `month` is YYYY-MM.
pub fn rating_subject(worker_id: &str, month: &str) -> String {
    format!(
        "pantau.activity.rating.{worker_id}.{}",
        month.replace('-', "")
    )
}

/// Catalogs are what every replica keeps in memory.
pub const FOLLOWED_SUBJECTS: [&str; 1] = ["pantau.activity.catalog.>"];

pub fn event_type(e: &Event) -> &'static str {
    match e {
        Event::CatalogPublished(_) => "CatalogPublished",
        Event::ActivityReported(_) => "ActivityReported",
        Event::ActivityAmended(_) => "ActivityAmended",
        Event::ActivityApproved(_) => "ActivityApproved",
        Event::ActivityRejected(_) => "ActivityRejected",
        Event::ActivityReturned(_) => "ActivityReturned",
        Event::DuplicateWorkFlagged(_) => "DuplicateWorkFlagged",
        Event::BehaviourRated(_) => "BehaviourRated",
    }
}

pub fn encode(e: &Event) -> Bytes {
    Bytes::from(
        ActivityEvent {
            event: Some(e.clone()),
        }
        .encode_to_vec(),
    )
}

pub fn decode_payload(payload: &[u8]) -> Option<Event> {
    ActivityEvent::decode(payload).ok().and_then(|m| m.event)
}

pub fn decode(r: &RecordedEvent) -> Option<Event> {
    decode_payload(r.payload.as_ref())
}

/// How activity's events travel, for the shared command loop.
pub const CODEC: Codec<Event> = Codec {
    encode,
    decode,
    event_type,
};

/// Who asked, under which request id, and a digest of what they asked.
#[derive(Debug, Clone)]
pub struct Ctx {
    pub request_id: String,
    pub actor: String,
    /// Hex SHA-256 (first 8 bytes) of the encoded request: a request id
    /// reused for a different request is a new command, never answered
    /// with the first one's outcome.
    pub fingerprint: String,
}

impl Ctx {
    pub fn metadata(&self) -> Metadata {
        Metadata {
            correlation_id: self.request_id.clone(),
            causation_id: self.request_id.clone(),
            request_id: Some(self.request_id.clone()),
            actor: Some(self.actor.clone()),
        }
    }

    fn command(&self, scope: &str) -> Command {
        Command {
            request_id: self.request_id.clone(),
            msg_id_prefix: format!(
                "{}:{}:{scope}:{}",
                self.actor, self.request_id, self.fingerprint
            ),
            metadata: self.metadata(),
        }
    }
}

/// The worker days this replica changed recently (see [`command::execute`]).
pub type DayCache = command::Cache<Event>;

/// Runs `decide` against the aggregate at `subject` and appends the result
/// with the expected sequence (a retried request returns its first outcome
/// and stores nothing twice), starting from what `days` remembers of a
/// worker's day. `scope` tells apart several commands one request runs (a
/// bulk approval's reports).
///
/// Message ids are `<actor>:<request id>:<scope>:<fingerprint>:<index>`.
pub async fn execute<S, D>(
    store: &EventStore,
    days: Option<&DayCache>,
    subject: &str,
    evolve: fn(S, &Event) -> S,
    ctx: &Ctx,
    scope: &str,
    decide: D,
) -> Result<Executed<S>, ServiceError>
where
    S: Default + Clone,
    D: Fn(&S) -> Result<Vec<Event>, DomainError>,
{
    let cmd = ctx.command(scope);
    Ok(command::execute(store, &CODEC, days, subject, evolve, &cmd, decide).await?)
}

/// [`execute`] for an aggregate that is usually new (see
/// [`command::create`]).
pub async fn create<S, D>(
    store: &EventStore,
    days: Option<&DayCache>,
    subject: &str,
    evolve: fn(S, &Event) -> S,
    ctx: &Ctx,
    scope: &str,
    decide: D,
) -> Result<Executed<S>, ServiceError>
where
    S: Default + Clone,
    D: Fn(&S) -> Result<Vec<Event>, DomainError>,
{
    let cmd = ctx.command(scope);
    Ok(command::create(store, &CODEC, days, subject, evolve, &cmd, decide).await?)
}
