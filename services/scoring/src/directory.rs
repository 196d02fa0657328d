//! What every replica keeps in memory from the identity stream: agencies
//! and their time zones, workers with their agency, unit and supervisor
//! (for permission checks), and the token keys. Followed with an ordered
//! consumer; identity's database is never read.

use std::collections::HashMap;

use chrono_tz::Tz;
use pantau_authn::Verifier;
use pantau_proto::events::v1::{IdentityEvent, identity_event::Event as I};
use prost::Message;

use crate::domain::facts::parse_tz;

#[derive(Debug, Clone)]
pub struct Agency {
    pub id: String,
    pub tz: Tz,
}

#[derive(Debug, Clone, Default)]
pub struct Worker {
    pub id: String,
    pub agency_id: String,
    pub unit_id: String,
    pub supervisor_id: String,
}

#[derive(Default)]
pub struct Directory {
    pub agencies: HashMap<String, Agency>,
    pub workers: HashMap<String, Worker>,
    pub token_keys: Verifier,
}

impl Directory {
    pub fn apply(&mut self, e: I) {
        match e {
            I::AgencyCreated(a) => {
                let tz = parse_tz(&a.time_zone);
                self.agencies.insert(
                    a.agency_id.clone(),
                    Agency {
                        id: a.agency_id,
                        tz,
                    },
                );
            }
            I::WorkerRegistered(w) => {
                self.workers.insert(
                    w.worker_id.clone(),
                    Worker {
                        id: w.worker_id,
                        agency_id: w.agency_id,
                        unit_id: w.unit_id,
                        supervisor_id: w.supervisor_id,
                    },
                );
            }
            I::WorkerTransferred(t) => {
                if let Some(w) = self.workers.get_mut(&t.worker_id) {
                    w.agency_id = t.to_agency_id;
                    w.unit_id = t.to_unit_id;
                }
            }
            I::SupervisorAssigned(s) => {
                if let Some(w) = self.workers.get_mut(&s.worker_id) {
                    w.supervisor_id = s.supervisor_id;
                }
            }
            I::SigningKeyPublished(k) => {
                if let Ok(key) = <[u8; 32]>::try_from(k.public_key.as_slice())
                    && let Err(e) = self.token_keys.add_key(&k.key_id, key)
                {
                    tracing::warn!(key_id = %k.key_id, error = %e, "ignoring unusable signing key");
                }
            }
            _ => {}
        }
    }
}

pub fn apply_identity_payload(d: &mut Directory, payload: &[u8]) {
    if let Some(e) = IdentityEvent::decode(payload).ok().and_then(|m| m.event) {
        d.apply(e);
    }
}
