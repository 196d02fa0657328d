//! Subjects and event encoding of the PANTAU_SCORING stream.

use bytes::Bytes;
use pantau_eventstore::{Metadata, NewEvent, RecordedEvent};
use pantau_proto::events::v1::{ScoringEvent, scoring_event::Event};
use prost::Message;

use crate::domain::Month;
use crate::domain::rules::ALL;

/// Rule set versions of `agency_id`, or of the all-agency scope when empty.
pub fn ruleset_subject(agency_id: &str) -> String {
    let scope = if agency_id.is_empty() { ALL } else { agency_id };
    format!("pantau.scoring.ruleset.{scope}")
}

/// An agency's month: its close and revision markers.
pub fn month_subject(agency_id: &str, month: Month) -> String {
    format!("pantau.scoring.month.{agency_id}.{}", month.token())
}

/// A worker's month in an agency: finalized scores and adjustments.
pub fn score_subject(agency_id: &str, month: Month, worker_id: &str) -> String {
    format!(
        "pantau.scoring.score.{agency_id}.{}.{worker_id}",
        month.token()
    )
}

pub const RULESET_SUBJECTS: &str = "pantau.scoring.ruleset.>";

pub fn event_type(e: &Event) -> &'static str {
    match e {
        Event::RuleSetPublished(_) => "RuleSetPublished",
        Event::MonthClosed(_) => "MonthClosed",
        Event::MonthlyScoreFinalized(_) => "MonthlyScoreFinalized",
        Event::ScoreAdjusted(_) => "ScoreAdjusted",
        Event::MonthRevised(_) => "MonthRevised",
    }
}

pub fn encode(e: &Event) -> Bytes {
    Bytes::from(
        ScoringEvent {
            event: Some(e.clone()),
        }
        .encode_to_vec(),
    )
}

pub fn decode_payload(payload: &[u8]) -> Option<Event> {
    ScoringEvent::decode(payload).ok().and_then(|m| m.event)
}

pub fn decode(r: &RecordedEvent) -> Option<Event> {
    decode_payload(r.payload.as_ref())
}

/// An event to append under `msg_id` (retries of the same command store it
/// once).
pub fn new_event(
    subject: String,
    e: &Event,
    expected: pantau_eventstore::Expected,
    msg_id: String,
    metadata: Metadata,
) -> NewEvent {
    NewEvent {
        subject,
        event_type: event_type(e).to_owned(),
        schema_version: 1,
        payload: encode(e),
        expected,
        msg_id: Some(msg_id),
        metadata,
    }
}

/// Who asked, under which request id.
pub fn metadata(request_id: &str, actor: &str) -> Metadata {
    Metadata {
        correlation_id: request_id.to_owned(),
        causation_id: request_id.to_owned(),
        request_id: Some(request_id.to_owned()),
        actor: Some(actor.to_owned()),
    }
}

/// How scoring's events travel, for the shared command loop.
pub const CODEC: pantau_eventstore::command::Codec<Event> = pantau_eventstore::command::Codec {
    encode,
    decode,
    event_type,
};

/// A command by `actor` under `request_id`; `req` is the encoded request,
/// so a request id reused for another request is a new command.
pub fn command(
    actor: &str,
    request_id: &str,
    scope: &str,
    req: &impl Message,
) -> pantau_eventstore::command::Command {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(req.encode_to_vec());
    pantau_eventstore::command::Command {
        request_id: request_id.to_owned(),
        msg_id_prefix: format!("{actor}:{request_id}:{scope}:{}", hex::encode(&digest[..8])),
        metadata: metadata(request_id, actor),
    }
}
