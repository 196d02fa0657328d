//! Bytes as event payloads: through the event store's envelope (headers + payload, upcasting)
//! the way every consumer reads the log, then prost decoding as each stream's event message.
//!
//! Input: one selector byte, one length byte and that many bytes of `Pantau-Schema-Version`
//! header text, then the payload. The selector picks the stream (low 3 bits, modulo 5) and
//! whether the type (bit 3) and version (bit 4) headers are left out.
//!
//! Properties, beyond "never panics": the envelope keeps type, version and payload as sent (the
//! services register no upcasters yet); with a chain that raises old versions one step at a time
//! every version below 3 comes out as 3; an event is refused only for a missing type or an
//! unreadable version; and decode -> encode -> decode is a fixed point (compared as bytes, since
//! a NaN in a double field is not equal to itself).
#![no_main]

use bytes::Bytes;
use chrono::DateTime;
use libfuzzer_sys::fuzz_target;
use pantau_eventstore::{RecordedEvent, Upcaster, Upcasters, headers};
use pantau_proto::events::v1::{
    ActivityEvent, AttendanceEvent, FraudEvent, IdentityEvent, ScoringEvent,
};
use prost::Message;

const STREAMS: [(&str, &str); 5] = [
    ("pantau.identity.worker.0", "WorkerRegistered"),
    ("pantau.attendance.session.0", "ScanAccepted"),
    ("pantau.activity.day.0.20250615", "ActivityReported"),
    ("pantau.scoring.month.0", "MonthClosed"),
    ("pantau.fraud.finding.0", "FindingRaised"),
];

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let (version, payload) = match rest.split_first() {
        Some((&len, rest)) if usize::from(len) <= rest.len() => rest.split_at(usize::from(len)),
        _ => (&[][..], rest),
    };
    let stream = usize::from(selector & 0x07) % STREAMS.len();
    let with_type = selector & 0x08 == 0;
    let with_version = selector & 0x10 == 0;
    // A header value read off the wire never holds a line break (HeaderMap asserts as much).
    let version = String::from_utf8_lossy(version).replace(['\r', '\n'], "");

    let (subject, event_type) = STREAMS[stream];
    let mut h = async_nats::HeaderMap::new();
    if with_type {
        h.insert(headers::EVENT_TYPE, event_type);
    }
    if with_version {
        h.insert(headers::SCHEMA_VERSION, version.as_str());
    }
    let stored_at = DateTime::from_timestamp(1_750_000_000, 0).expect("a real time");
    let decoded = RecordedEvent::decode(
        subject,
        7,
        stored_at,
        &h,
        Bytes::copy_from_slice(payload),
        &Upcasters::new(),
    );
    let wanted_version = if with_version {
        version.parse::<u32>().ok()
    } else {
        Some(1)
    };
    match (&decoded, with_type, wanted_version) {
        (Ok(event), true, Some(v)) => {
            assert_eq!(event.event_type, event_type);
            assert_eq!(event.schema_version, v);
            assert_eq!(event.payload.as_ref(), payload);
            assert_eq!((event.subject.as_str(), event.sequence), (subject, 7));
        }
        (Err(_), false, _) | (Err(_), true, None) => {}
        (result, with_type, version) => {
            panic!("type header {with_type}, version {version:?}: envelope gave {result:?}")
        }
    }

    // The same envelope through an upcasting chain (registered out of order on purpose).
    let chain = Upcasters::new()
        .with(Raise(2))
        .with(Raise(1))
        .with(Raise(0));
    let upcast = RecordedEvent::decode(
        subject,
        7,
        stored_at,
        &h,
        Bytes::copy_from_slice(payload),
        &chain,
    );
    match (&decoded, &upcast) {
        (Ok(plain), Ok(upcast)) => {
            assert_eq!(upcast.schema_version, plain.schema_version.max(3));
            assert_eq!(upcast.payload, plain.payload);
        }
        (Err(_), Err(_)) => {}
        (plain, upcast) => panic!("upcasting changed the outcome: {plain:?} then {upcast:?}"),
    }

    let payload = match &decoded {
        Ok(event) => event.payload.as_ref(),
        Err(_) => payload,
    };
    match stream {
        0 => round_trip::<IdentityEvent>(payload),
        1 => round_trip::<AttendanceEvent>(payload),
        2 => round_trip::<ActivityEvent>(payload),
        3 => round_trip::<ScoringEvent>(payload),
        _ => round_trip::<FraudEvent>(payload),
    }
    // A payload that lands on the wrong stream must be refused or read harmlessly too.
    round_trip::<IdentityEvent>(payload);
    round_trip::<AttendanceEvent>(payload);
    round_trip::<ActivityEvent>(payload);
    round_trip::<ScoringEvent>(payload);
    round_trip::<FraudEvent>(payload);
});

/// Raises version `.0` of any event type to the next, payload unchanged.
struct Raise(u32);

impl Upcaster for Raise {
    fn upcast(
        &self,
        _event_type: &str,
        version: u32,
        payload: &Bytes,
    ) -> Option<Result<(u32, Bytes), String>> {
        (version == self.0).then(|| Ok((version + 1, payload.clone())))
    }
}

fn round_trip<M: Message + Default>(payload: &[u8]) {
    let Ok(first) = M::decode(payload) else {
        return;
    };
    let encoded = first.encode_to_vec();
    assert_eq!(encoded.len(), first.encoded_len());
    let second = M::decode(encoded.as_slice()).expect("an encoded event decodes");
    assert_eq!(
        second.encode_to_vec(),
        encoded,
        "decode -> encode -> decode is not a fixed point"
    );
}
