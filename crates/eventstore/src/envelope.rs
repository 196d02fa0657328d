//! The envelope: what every event carries in its NATS headers, so any
//! consumer (in any language) can route, trace and dedupe without decoding
//! the protobuf payload. Old schema versions are upcast on read.

use bytes::Bytes;
use chrono::{DateTime, Utc};

use crate::LoadError;

/// Header names. Constant so analytics consumers can rely on them.
pub mod headers {
    /// Protobuf message name of the payload's variant, e.g. `WorkerRegistered`.
    pub const EVENT_TYPE: &str = "Pantau-Event-Type";
    /// Integer schema version of that event type.
    pub const SCHEMA_VERSION: &str = "Pantau-Schema-Version";
    /// UUID of this event.
    pub const EVENT_ID: &str = "Pantau-Event-Id";
    /// The id shared by everything one user action caused.
    pub const CORRELATION_ID: &str = "Pantau-Correlation-Id";
    /// The id of the command or event that directly caused this one.
    pub const CAUSATION_ID: &str = "Pantau-Causation-Id";
    /// The client's request id of the command that produced this event.
    pub const REQUEST_ID: &str = "Pantau-Request-Id";
    /// RFC 3339 time the service accepted the command (server clock, never
    /// the phone's). JetStream's own stored time is on every message too.
    pub const RECORDED_AT: &str = "Pantau-Recorded-At";
    /// Who issued the command (token subject), never personal data.
    pub const ACTOR: &str = "Pantau-Actor";
    /// W3C trace context.
    pub const TRACEPARENT: &str = "traceparent";
    pub const MSG_ID: &str = "Nats-Msg-Id";
    pub const EXPECTED_LAST_SUBJECT_SEQUENCE: &str = "Nats-Expected-Last-Subject-Sequence";
}

/// Causal metadata a command hands to the events it produces.
#[derive(Debug, Clone, Default)]
pub struct Metadata {
    pub correlation_id: String,
    pub causation_id: String,
    pub request_id: Option<String>,
    pub actor: Option<String>,
}

/// An event read back from the log.
#[derive(Debug, Clone)]
pub struct RecordedEvent {
    pub subject: String,
    pub sequence: u64,
    /// JetStream's stored time (server clock).
    pub stored_at: DateTime<Utc>,
    pub event_type: String,
    pub schema_version: u32,
    pub event_id: String,
    pub correlation_id: String,
    pub causation_id: String,
    pub request_id: Option<String>,
    pub actor: Option<String>,
    pub traceparent: Option<String>,
    /// The `Nats-Msg-Id` it was stored under (which command stored it).
    pub msg_id: Option<String>,
    pub payload: Bytes,
}

/// Rewrites an old version of an event into the next one. Returns `None`
/// when it does not apply to this type and version.
pub trait Upcaster: Send + Sync {
    fn upcast(
        &self,
        event_type: &str,
        version: u32,
        payload: &Bytes,
    ) -> Option<Result<(u32, Bytes), String>>;
}

/// The chain of upcasters a store applies on every read.
#[derive(Default)]
pub struct Upcasters {
    chain: Vec<Box<dyn Upcaster>>,
}

impl Upcasters {
    pub fn new() -> Self {
        Self::default()
    }

    #[must_use]
    pub fn with(mut self, upcaster: impl Upcaster + 'static) -> Self {
        self.chain.push(Box::new(upcaster));
        self
    }

    /// Applies upcasters until none applies; each must raise the version.
    pub fn apply(
        &self,
        event_type: &str,
        mut version: u32,
        mut payload: Bytes,
    ) -> Result<(u32, Bytes), String> {
        'outer: loop {
            for u in &self.chain {
                if let Some(result) = u.upcast(event_type, version, &payload) {
                    let (v, p) = result?;
                    if v <= version {
                        return Err(format!(
                            "upcaster for {event_type} v{version} did not raise the version"
                        ));
                    }
                    version = v;
                    payload = p;
                    continue 'outer;
                }
            }
            return Ok((version, payload));
        }
    }
}

fn header(h: &async_nats::HeaderMap, name: &str) -> Option<String> {
    h.get(name).map(|v| v.as_str().to_owned())
}

impl RecordedEvent {
    pub fn decode(
        subject: &str,
        sequence: u64,
        stored_at: DateTime<Utc>,
        h: &async_nats::HeaderMap,
        payload: Bytes,
        upcasters: &Upcasters,
    ) -> Result<Self, LoadError> {
        let malformed = |message: String| LoadError::Malformed {
            subject: subject.to_owned(),
            sequence,
            message,
        };
        let event_type = header(h, headers::EVENT_TYPE)
            .ok_or_else(|| malformed(format!("missing {}", headers::EVENT_TYPE)))?;
        let version: u32 = header(h, headers::SCHEMA_VERSION)
            .unwrap_or_else(|| "1".into())
            .parse()
            .map_err(|_| malformed(format!("bad {}", headers::SCHEMA_VERSION)))?;
        let (schema_version, payload) = upcasters
            .apply(&event_type, version, payload)
            .map_err(malformed)?;
        Ok(Self {
            subject: subject.to_owned(),
            sequence,
            stored_at,
            event_type,
            schema_version,
            event_id: header(h, headers::EVENT_ID).unwrap_or_default(),
            correlation_id: header(h, headers::CORRELATION_ID).unwrap_or_default(),
            causation_id: header(h, headers::CAUSATION_ID).unwrap_or_default(),
            request_id: header(h, headers::REQUEST_ID),
            actor: header(h, headers::ACTOR),
            traceparent: header(h, headers::TRACEPARENT),
            msg_id: header(h, headers::MSG_ID),
            payload,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct V1ToV2;
    impl Upcaster for V1ToV2 {
        fn upcast(&self, t: &str, v: u32, p: &Bytes) -> Option<Result<(u32, Bytes), String>> {
            (t == "Thing" && v == 1).then(|| {
                let mut out = p.to_vec();
                out.extend_from_slice(b"+v2");
                Ok((2, Bytes::from(out)))
            })
        }
    }

    struct V2ToV3;
    impl Upcaster for V2ToV3 {
        fn upcast(&self, t: &str, v: u32, p: &Bytes) -> Option<Result<(u32, Bytes), String>> {
            (t == "Thing" && v == 2).then(|| {
                let mut out = p.to_vec();
                out.extend_from_slice(b"+v3");
                Ok((3, Bytes::from(out)))
            })
        }
    }

    #[test]
    fn old_versions_are_upcast_step_by_step_in_any_registration_order() {
        let chain = Upcasters::new().with(V2ToV3).with(V1ToV2);
        let (v, p) = chain
            .apply("Thing", 1, Bytes::from_static(b"x"))
            .expect("upcast");
        assert_eq!((v, &p[..]), (3, &b"x+v2+v3"[..]));
    }

    #[test]
    fn other_types_and_current_versions_pass_through_unchanged() {
        let chain = Upcasters::new().with(V1ToV2);
        let (v, p) = chain
            .apply("Other", 1, Bytes::from_static(b"x"))
            .expect("pass");
        assert_eq!((v, &p[..]), (1, &b"x"[..]));
    }

    #[test]
    fn an_event_without_a_type_header_is_malformed() {
        let err = RecordedEvent::decode(
            "s",
            7,
            Utc::now(),
            &async_nats::HeaderMap::new(),
            Bytes::new(),
            &Upcasters::new(),
        )
        .expect_err("must fail");
        assert!(err.to_string().contains("Pantau-Event-Type"), "{err}");
    }
}
