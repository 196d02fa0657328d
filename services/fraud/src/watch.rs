//! What every replica keeps in memory: the province the detectors read,
//! folded from the identity, attendance and activity streams with each
//! event's place in its stream (the evidence a finding links to), and the
//! token keys identity publishes.

use pantau_authn::Verifier;
use pantau_proto::events::v1::{
    ActivityEvent, AttendanceEvent, IdentityEvent, identity_event::Event as I,
};
use prost::Message;

use crate::domain::model::{EventRef, Province};

#[derive(Default)]
pub struct Watch {
    pub province: Province,
    pub token_keys: Verifier,
}

pub fn apply_identity(w: &mut Watch, seq: u64, payload: &[u8]) {
    let Some(e) = IdentityEvent::decode(payload).ok().and_then(|m| m.event) else {
        return;
    };
    if let I::SigningKeyPublished(k) = &e
        && let Ok(key) = <[u8; 32]>::try_from(k.public_key.as_slice())
        && let Err(err) = w.token_keys.add_key(&k.key_id, key)
    {
        tracing::warn!(key_id = %k.key_id, error = %err, "ignoring unusable signing key");
    }
    w.province.apply_identity(&e, EventRef::identity(seq));
}

pub fn apply_attendance(w: &mut Watch, seq: u64, payload: &[u8]) {
    if let Some(e) = AttendanceEvent::decode(payload).ok().and_then(|m| m.event) {
        w.province.apply_attendance(&e, EventRef::attendance(seq));
    }
}

pub fn apply_activity(w: &mut Watch, seq: u64, payload: &[u8]) {
    if let Some(e) = ActivityEvent::decode(payload).ok().and_then(|m| m.event) {
        w.province.apply_activity(&e, EventRef::activity(seq));
    }
}
