//! What every replica keeps in memory: the registry as the identity stream
//! tells it (agencies, units, workers, sites, token keys) and attendance's
//! own long-lived records (QR keys, credential versions, scanners,
//! schedules, leave). Each replica follows both streams with a
//! [`pantau_eventstore::Follower`] (an ordered consumer) applying
//! [`apply_identity_payload`] and [`apply_attendance_payload`], so scans and
//! check-ins are judged without a database round trip and without ever
//! reading identity's database.

use std::collections::HashMap;

use pantau_authn::Verifier;
use pantau_proto::events::v1::{
    AttendanceEvent, IdentityEvent, attendance_event::Event as A, identity_event::Event as I,
};
use pantau_qr::{CodeError, Credential, StaticCode, StaticVerifier};
use prost::Message;

use crate::domain::geo::Point;
use crate::domain::registry::{Agency, Leave, LeaveStatus, Site, TravelDestination, Worker};
use crate::domain::session::Registry;
use crate::domain::time::Schedule;

#[derive(Debug, Clone)]
pub struct Scanner {
    pub id: String,
    pub name: String,
    pub agency_id: String,
    pub secret_sha256: Vec<u8>,
    pub revoked: bool,
}

/// The in-memory state. Read under a read lock on every request.
#[derive(Default)]
pub struct Directory {
    pub agencies: HashMap<String, Agency>,
    pub workers: HashMap<String, Worker>,
    pub token_keys: Verifier,
    pub qr_keys: StaticVerifier,
    pub credential_versions: HashMap<String, u32>,
    pub scanners: HashMap<String, Scanner>,
    pub schedules: HashMap<String, Schedule>,
    /// worker id -> their leave requests
    pub leave: HashMap<String, Vec<Leave>>,
    /// Master secret rotating codes derive from (never on a stream).
    pub master_secret: Vec<u8>,
}

impl Directory {
    pub fn schedule(&self, agency_id: &str) -> Schedule {
        self.schedules.get(agency_id).cloned().unwrap_or_default()
    }

    pub fn leave_of(&self, worker_id: &str) -> &[Leave] {
        self.leave.get(worker_id).map(Vec::as_slice).unwrap_or(&[])
    }

    pub fn unit_name(&self, agency_id: &str, unit_id: &str) -> String {
        self.agencies
            .get(agency_id)
            .and_then(|a| a.units.get(unit_id))
            .cloned()
            .unwrap_or_default()
    }

    pub fn agency_name(&self, agency_id: &str) -> String {
        self.agencies
            .get(agency_id)
            .map(|a| a.name.clone())
            .unwrap_or_default()
    }

    pub fn apply_identity(&mut self, e: I) {
        match e {
            I::AgencyCreated(a) => {
                let tz = a.time_zone.parse().unwrap_or(chrono_tz::Asia::Jakarta);
                self.agencies.insert(
                    a.agency_id.clone(),
                    Agency {
                        id: a.agency_id,
                        code: a.code,
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
                self.workers.insert(
                    w.worker_id.clone(),
                    Worker {
                        id: w.worker_id,
                        name: w.name,
                        employee_id: w.employee_id,
                        agency_id: w.agency_id,
                        unit_id: w.unit_id,
                        supervisor_id: w.supervisor_id,
                        photo_ref: w.photo_ref,
                        sites: w.sites.iter().map(Site::from_event).collect(),
                        active: true,
                        joined_on: w.joined_on.parse().ok(),
                    },
                );
            }
            I::WorkerUpdated(u) => {
                if let Some(w) = self.workers.get_mut(&u.worker_id) {
                    for field in &u.changed {
                        match field.as_str() {
                            "name" => w.name.clone_from(&u.name),
                            "photo_ref" => w.photo_ref.clone_from(&u.photo_ref),
                            "sites" => w.sites = u.sites.iter().map(Site::from_event).collect(),
                            _ => {}
                        }
                    }
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
                    w.supervisor_id = s.supervisor_id;
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
                    w.photo_ref.clear();
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

    pub fn apply_attendance(&mut self, e: A) {
        match e {
            A::QrKeyPublished(k) => {
                if let Ok(key) = <[u8; 32]>::try_from(k.public_key.as_slice())
                    && let Err(e) = self.qr_keys.add_key(key)
                {
                    tracing::warn!(key_id = %k.key_id, error = %e, "ignoring unusable qr key");
                }
            }
            A::CredentialReissued(c) => {
                let v = self.credential_versions.entry(c.worker_id).or_insert(1);
                *v = (*v).max(c.version);
            }
            A::ScannerRegistered(s) => {
                self.scanners.insert(
                    s.scanner_id.clone(),
                    Scanner {
                        id: s.scanner_id,
                        name: s.name,
                        agency_id: s.agency_id,
                        secret_sha256: s.secret_sha256,
                        revoked: false,
                    },
                );
            }
            A::ScannerRevoked(r) => {
                if let Some(s) = self.scanners.get_mut(&r.scanner_id) {
                    s.revoked = true;
                }
            }
            A::ScheduleSet(s) => {
                self.schedules
                    .insert(s.agency_id.clone(), Schedule::from_event(&s));
            }
            A::LeaveRequested(r) => {
                let destination = r.destination.as_ref().map(|d| TravelDestination {
                    name: d.name.clone(),
                    center: d
                        .center
                        .as_ref()
                        .map(Point::from_event)
                        .unwrap_or(Point { lat: 0.0, lon: 0.0 }),
                    radius_m: d.radius_m,
                });
                let (Ok(first_day), Ok(last_day)) = (r.first_day.parse(), r.last_day.parse())
                else {
                    return;
                };
                let leave = Leave {
                    id: r.leave_id.clone(),
                    worker_id: r.worker_id.clone(),
                    kind: r.kind(),
                    first_day,
                    last_day,
                    status: LeaveStatus::Requested,
                    destination,
                };
                self.leave.entry(r.worker_id).or_default().push(leave);
            }
            A::LeaveApproved(d) => {
                self.set_leave_status(&d.worker_id, &d.leave_id, LeaveStatus::Approved)
            }
            A::LeaveRejected(d) => {
                self.set_leave_status(&d.worker_id, &d.leave_id, LeaveStatus::Rejected)
            }
            _ => {}
        }
    }

    fn set_leave_status(&mut self, worker_id: &str, leave_id: &str, status: LeaveStatus) {
        if let Some(l) = self
            .leave
            .get_mut(worker_id)
            .and_then(|all| all.iter_mut().find(|l| l.id == leave_id))
        {
            l.status = status;
        }
    }
}

impl Registry for Directory {
    fn worker(&self, id: &str) -> Option<&Worker> {
        self.workers.get(id)
    }

    fn credential_version(&self, worker_id: &str) -> u32 {
        self.credential_versions
            .get(worker_id)
            .copied()
            .unwrap_or(1)
    }

    fn verify_static(&self, code: &StaticCode) -> Result<Credential, CodeError> {
        self.qr_keys.verify(code)
    }

    fn worker_secret(&self, credential: Credential) -> [u8; 32] {
        pantau_qr::worker_secret(&self.master_secret, credential)
    }
}

pub fn apply_identity_payload(d: &mut Directory, payload: &[u8]) {
    if let Some(e) = IdentityEvent::decode(payload).ok().and_then(|m| m.event) {
        d.apply_identity(e);
    }
}

pub fn apply_attendance_payload(d: &mut Directory, payload: &[u8]) {
    if let Some(e) = AttendanceEvent::decode(payload).ok().and_then(|m| m.event) {
        d.apply_attendance(e);
    }
}
