//! Subjects and event encoding of the PANTAU_FRAUD stream.

use bytes::Bytes;
use pantau_eventstore::{Expected, Metadata, NewEvent, RecordedEvent};
use pantau_proto::events::v1::{FraudEvent, fraud_event::Event};
use prost::Message;

/// A finding: its raising, then its resolution.
pub fn finding_subject(finding_id: &str) -> String {
    format!("pantau.fraud.finding.{finding_id}")
}

pub fn event_type(e: &Event) -> &'static str {
    match e {
        Event::FindingRaised(_) => "FindingRaised",
        Event::FindingResolved(_) => "FindingResolved",
    }
}

pub fn decode(r: &RecordedEvent) -> Option<Event> {
    FraudEvent::decode(r.payload.as_ref())
        .ok()
        .and_then(|m| m.event)
}

pub fn new_event(
    subject: String,
    e: Event,
    expected: Expected,
    msg_id: String,
    by: &str,
    request_id: &str,
) -> NewEvent {
    NewEvent {
        subject,
        event_type: event_type(&e).to_owned(),
        schema_version: 1,
        payload: Bytes::from(FraudEvent { event: Some(e) }.encode_to_vec()),
        expected,
        msg_id: Some(msg_id),
        metadata: Metadata {
            correlation_id: request_id.to_owned(),
            causation_id: request_id.to_owned(),
            request_id: Some(request_id.to_owned()),
            actor: Some(by.to_owned()),
        },
    }
}
