//! Subjects, event encoding and the command loop (load, decide, append with
//! the expected sequence, retry on conflict) for attendance's aggregates.

use bytes::Bytes;
pub use pantau_eventstore::command::Executed;
use pantau_eventstore::command::{self, Codec, Command};
use pantau_eventstore::{EventStore, Expected, Metadata, NewEvent, RecordedEvent};
use pantau_proto::events::v1::{AttendanceEvent, attendance_event::Event};
use prost::Message;

use crate::domain::DomainError;
use crate::error::ServiceError;

pub fn qr_key_subject(id: &str) -> String {
    format!("pantau.attendance.qr_key.{id}")
}
pub fn credential_subject(worker_id: &str) -> String {
    format!("pantau.attendance.credential.{worker_id}")
}
pub fn scanner_subject(id: &str) -> String {
    format!("pantau.attendance.scanner.{id}")
}
pub fn session_subject(id: &str) -> String {
    format!("pantau.attendance.session.{id}")
}
pub fn worker_subject(id: &str) -> String {
    format!("pantau.attendance.worker.{id}")
}
pub fn schedule_subject(agency_id: &str) -> String {
    format!("pantau.attendance.schedule.{agency_id}")
}
pub fn leave_subject(id: &str) -> String {
    format!("pantau.attendance.leave.{id}")
}

/// What every replica keeps in memory (the rest is read per request).
pub const FOLLOWED_SUBJECTS: [&str; 5] = [
    "pantau.attendance.qr_key.>",
    "pantau.attendance.credential.>",
    "pantau.attendance.scanner.>",
    "pantau.attendance.schedule.>",
    "pantau.attendance.leave.>",
];

pub fn event_type(e: &Event) -> &'static str {
    match e {
        Event::QrKeyPublished(_) => "QrKeyPublished",
        Event::CredentialReissued(_) => "CredentialReissued",
        Event::ScannerRegistered(_) => "ScannerRegistered",
        Event::ScannerRevoked(_) => "ScannerRevoked",
        Event::SessionOpened(_) => "SessionOpened",
        Event::ScanAccepted(_) => "ScanAccepted",
        Event::ScanRejected(_) => "ScanRejected",
        Event::CheckedIn(_) => "CheckedIn",
        Event::CheckedOut(_) => "CheckedOut",
        Event::ScheduleSet(_) => "ScheduleSet",
        Event::LeaveRequested(_) => "LeaveRequested",
        Event::LeaveApproved(_) => "LeaveApproved",
        Event::LeaveRejected(_) => "LeaveRejected",
    }
}

pub fn encode(e: &Event) -> Bytes {
    Bytes::from(
        AttendanceEvent {
            event: Some(e.clone()),
        }
        .encode_to_vec(),
    )
}

pub fn decode(r: &RecordedEvent) -> Result<Event, ServiceError> {
    AttendanceEvent::decode(r.payload.as_ref())
        .ok()
        .and_then(|m| m.event)
        .ok_or_else(|| ServiceError::Internal(format!("undecodable event at {}", r.sequence)))
}

/// Who asked, and under which request id.
#[derive(Debug, Clone)]
pub struct Ctx {
    pub request_id: String,
    pub actor: String,
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

    /// The `index`th event of this command; its `Nats-Msg-Id` is
    /// `<scope>:<request_id>:<index>` so a retry is stored once.
    pub fn event(&self, subject: &str, e: &Event, expected: Expected, index: usize) -> NewEvent {
        NewEvent {
            subject: subject.to_owned(),
            event_type: event_type(e).to_owned(),
            schema_version: 1,
            payload: encode(e),
            expected,
            msg_id: Some(format!("{}:{}:{index}", self.actor, self.request_id)),
            metadata: self.metadata(),
        }
    }
}

/// How attendance's events travel, for the shared command loop.
pub const CODEC: Codec<Event> = Codec {
    encode,
    decode: |r| decode(r).ok(),
    event_type,
};

/// Runs `decide` against the aggregate at `subject` and appends the result
/// with the expected sequence (see [`command::execute`]: a retried request
/// returns its first outcome and stores nothing twice).
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
    let cmd = Command {
        request_id: ctx.request_id.clone(),
        msg_id_prefix: format!("{}:{}", ctx.actor, ctx.request_id),
        metadata: ctx.metadata(),
    };
    Ok(command::execute(store, &CODEC, None, subject, evolve, &cmd, decide).await?)
}
