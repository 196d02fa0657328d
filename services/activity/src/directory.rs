//! What every replica keeps in memory: the registry as the identity stream
//! tells it (agencies and their time zones, workers with their supervisors,
//! token keys) and every catalog version. Each replica follows both streams
//! with an ordered consumer, so reports are judged without a database round
//! trip and without ever reading identity's database.

use std::collections::HashMap;

use pantau_authn::Verifier;
use pantau_proto::events::v1::{
    IdentityEvent, activity_event::Event as A, identity_event::Event as I,
};
use prost::Message;

use crate::core::decode_payload;
use crate::domain::catalog::Catalogs;
use crate::domain::registry::{Agency, Worker};

#[derive(Default)]
pub struct Directory {
    pub agencies: HashMap<String, Agency>,
    pub workers: HashMap<String, Worker>,
    pub token_keys: Verifier,
    pub catalogs: Catalogs,
}

impl Directory {
    pub fn apply_identity(&mut self, e: I) {
        match e {
            I::AgencyCreated(a) => {
                let tz = a.time_zone.parse().unwrap_or(chrono_tz::Asia::Jakarta);
                self.agencies.insert(
                    a.agency_id.clone(),
                    Agency {
                        id: a.agency_id,
                        name: a.name,
                        tz,
                        units: HashMap::new(),
                    },
                );
            }
            I::UnitCreated(u) => {
                if let Some(a) = self.agencies.get_mut(&u.agency_id) {
                    a.units.insert(u.unit_id, u.name);
                }
            }
            I::WorkerRegistered(w) => {
                let supervisors = if w.supervisor_id.is_empty() {
                    Vec::new()
                } else {
                    vec![(None, w.supervisor_id)]
                };
                self.workers.insert(
                    w.worker_id.clone(),
                    Worker {
                        id: w.worker_id,
                        name: w.name,
                        agency_id: w.agency_id,
                        unit_id: w.unit_id,
                        active: true,
                        joined_on: w.joined_on.parse().ok(),
                        supervisors,
                    },
                );
            }
            I::WorkerUpdated(u) => {
                if let Some(w) = self.workers.get_mut(&u.worker_id)
                    && u.changed.iter().any(|f| f == "name")
                {
                    w.name.clone_from(&u.name);
                }
            }
            I::WorkerTransferred(t) => {
                if let Some(w) = self.workers.get_mut(&t.worker_id) {
                    w.agency_id = t.to_agency_id;
                    w.unit_id = t.to_unit_id;
                }
            }
            I::SupervisorAssigned(s) => {
                if let Some(w) = self.workers.get_mut(&s.worker_id) {
                    w.supervisors
                        .push((s.effective_on.parse().ok(), s.supervisor_id));
                }
            }
            I::WorkerDeactivated(d) => {
                if let Some(w) = self.workers.get_mut(&d.worker_id) {
                    w.active = false;
                }
            }
            I::WorkerErased(e) => {
                if let Some(w) = self.workers.get_mut(&e.worker_id) {
                    w.name = "[erased]".into();
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
        d.apply_identity(e);
    }
}

pub fn apply_activity_payload(d: &mut Directory, payload: &[u8]) {
    if let Some(A::CatalogPublished(p)) = decode_payload(payload) {
        d.catalogs.apply(&p);
    }
}
