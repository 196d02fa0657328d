//! A ceremony (apel, upacara 17 Agustus) and its scans: the aggregate on
//! `pantau.attendance.session.<id>`. Every scan gets a verdict that is
//! recorded as an event, accepted or rejected; a scan is identified by its
//! scanner and the scanner's own sequence number, so uploading it again
//! returns the first verdict and records nothing.

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use pantau_proto::events::v1::{self as ev, attendance_event::Event};
use pantau_qr::{Code, CodeError, Credential, StaticCode};

use super::geo::{Geofence, Point};
use super::registry::Worker;
use super::time::{from_timestamp, timestamp};

/// How far a scanner's clock may run ahead of ours before its scans are
/// treated as outside the session window.
pub const MAX_DEVICE_CLOCK_AHEAD_SECS: i64 = 300;

/// Longest raw payload kept in a rejection, for audit.
const MAX_KEPT_PAYLOAD: usize = 512;

#[derive(Debug, Clone, PartialEq)]
pub struct Session {
    pub id: String,
    pub title: String,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub tz: Tz,
    pub fence: Geofence,
    /// (agency, unit); an empty unit invites the whole agency.
    pub invited: Vec<(String, String)>,
    pub scanners: Vec<String>,
}

impl Session {
    pub fn from_event(e: &ev::SessionOpened) -> Session {
        let at = |t: &Option<ev::Timestamp>| {
            t.as_ref()
                .and_then(from_timestamp)
                .unwrap_or(DateTime::<Utc>::MIN_UTC)
        };
        Session {
            id: e.session_id.clone(),
            title: e.title.clone(),
            starts_at: at(&e.starts_at),
            ends_at: at(&e.ends_at),
            tz: e.time_zone.parse().unwrap_or(chrono_tz::Asia::Jakarta),
            fence: e
                .geofence
                .as_ref()
                .map(Geofence::from_event)
                .unwrap_or(Geofence::Polygon(Vec::new())),
            invited: e
                .invited
                .iter()
                .map(|i| (i.agency_id.clone(), i.unit_id.clone()))
                .collect(),
            scanners: e.scanner_ids.clone(),
        }
    }

    pub fn invites(&self, agency_id: &str, unit_id: &str) -> bool {
        invites(&self.invited, agency_id, unit_id)
    }

    pub fn allows_scanner(&self, scanner_id: &str) -> bool {
        self.scanners.iter().any(|s| s == scanner_id)
    }
}

/// Whether `invited` ((agency, unit); an empty unit is the whole agency)
/// takes in a worker of `unit_id` in `agency_id`.
pub fn invites(invited: &[(String, String)], agency_id: &str, unit_id: &str) -> bool {
    invited
        .iter()
        .any(|(a, u)| a == agency_id && (u.is_empty() || u == unit_id))
}

/// The first verdict on a scan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub accepted: bool,
    pub reason: ev::RejectionReason,
    pub worker_id: String,
    pub detail: String,
}

/// The session as its events left it.
#[derive(Debug, Clone, Default)]
pub struct SessionState {
    pub session: Option<Session>,
    /// worker id -> the scan that checked them in
    pub present: HashMap<String, (String, u64)>,
    /// (scanner, device_seq) -> verdict
    pub verdicts: HashMap<(String, u64), Verdict>,
    pub rejected: u32,
}

pub fn evolve(mut s: SessionState, e: &Event) -> SessionState {
    match e {
        Event::SessionOpened(o) => s.session = Some(Session::from_event(o)),
        Event::ScanAccepted(a) => {
            let scan = a.scan.clone().unwrap_or_default();
            let key = (scan.scanner_id, scan.device_seq);
            s.present.entry(a.worker_id.clone()).or_insert(key.clone());
            s.verdicts.insert(
                key,
                Verdict {
                    accepted: true,
                    reason: ev::RejectionReason::Unspecified,
                    worker_id: a.worker_id.clone(),
                    detail: String::new(),
                },
            );
        }
        Event::ScanRejected(r) => {
            let scan = r.scan.clone().unwrap_or_default();
            s.rejected += 1;
            s.verdicts.insert(
                (scan.scanner_id, scan.device_seq),
                Verdict {
                    accepted: false,
                    reason: r.reason(),
                    worker_id: r.worker_id.clone(),
                    detail: r.detail.clone(),
                },
            );
        }
        _ => {}
    }
    s
}

/// What judging a scan needs to know beyond the session.
pub trait Registry {
    fn worker(&self, id: &str) -> Option<&Worker>;
    /// The worker's current credential version (1 until first reissued).
    fn credential_version(&self, worker_id: &str) -> u32;
    fn verify_static(&self, code: &StaticCode) -> Result<Credential, CodeError>;
    fn worker_secret(&self, credential: Credential) -> [u8; 32];
}

/// One scan as the scanner reported it (already validated).
#[derive(Debug, Clone)]
pub struct ScanInput {
    pub scanner_id: String,
    pub device_seq: u64,
    pub payload: String,
    pub scanned_at: DateTime<Utc>,
    pub position: Point,
    pub accuracy_m: f32,
}

impl ScanInput {
    fn report(&self) -> ev::ScanReport {
        ev::ScanReport {
            scanner_id: self.scanner_id.clone(),
            device_seq: self.device_seq,
            scanned_at: Some(timestamp(self.scanned_at)),
            position: Some(self.position.to_event()),
            accuracy_m: self.accuracy_m,
        }
    }
}

/// Why a code was not good enough, before any session rule applies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub reason: ev::RejectionReason,
    /// The worker the code names, when it names one.
    pub worker_id: String,
    pub detail: String,
    /// Whether the raw text should be kept for audit (unreadable codes).
    pub keep_payload: bool,
}

/// What a code proves on its own at time `at`: the signature or tag, that
/// the worker exists, that this credential version is the current one,
/// that a rotating code is fresh, and that the worker is active. Checks run
/// in that order so the reason given is the most basic one that applies;
/// a forged code is "bad signature", only a genuine old one "expired".
pub fn identify<'r, R: Registry>(
    reg: &'r R,
    payload: &str,
    at: DateTime<Utc>,
    tolerance_steps: u64,
) -> Result<(&'r Worker, Credential, ev::CodeKind), Refusal> {
    use ev::RejectionReason as R;
    let refuse = |reason: R, worker_id: String, detail: String| Refusal {
        reason,
        worker_id,
        detail,
        keep_payload: false,
    };
    let (credential, rotating) = match pantau_qr::parse(payload) {
        Err(e) => {
            return Err(Refusal {
                keep_payload: true,
                ..refuse(R::BadSignature, String::new(), e.to_string())
            });
        }
        Ok(Code::Static(code)) => match reg.verify_static(&code) {
            Ok(c) => (c, None),
            Err(e) => {
                return Err(Refusal {
                    keep_payload: true,
                    ..refuse(
                        R::BadSignature,
                        code.credential.worker_id.to_string(),
                        e.to_string(),
                    )
                });
            }
        },
        Ok(Code::Rotating(code)) => {
            let secret = reg.worker_secret(code.credential);
            if let Err(e) = code.verify(&secret, 0, u64::MAX) {
                return Err(Refusal {
                    keep_payload: true,
                    ..refuse(
                        R::BadSignature,
                        code.credential.worker_id.to_string(),
                        e.to_string(),
                    )
                });
            }
            (code.credential, Some((code, secret)))
        }
    };
    let worker_id = credential.worker_id.to_string();
    let Some(worker) = reg.worker(&worker_id) else {
        return Err(refuse(
            R::UnknownWorker,
            worker_id,
            "no such worker in the registry".into(),
        ));
    };
    let current = reg.credential_version(&worker_id);
    if credential.version < current {
        let detail = format!(
            "credential version {} was replaced by version {current}",
            credential.version
        );
        return Err(refuse(R::RevokedCredential, worker_id, detail));
    }
    if credential.version > current {
        let detail = format!("credential version {} was never issued", credential.version);
        return Err(refuse(R::BadSignature, worker_id, detail));
    }
    let kind = match rotating {
        Some((code, secret)) => {
            if let Err(e) = code.verify(&secret, at.timestamp(), tolerance_steps) {
                return Err(refuse(R::ExpiredCode, worker_id, e.to_string()));
            }
            ev::CodeKind::Rotating
        }
        None => ev::CodeKind::Static,
    };
    if !worker.active {
        return Err(refuse(
            R::WorkerInactive,
            worker_id,
            "the worker is no longer active".into(),
        ));
    }
    Ok((worker, credential, kind))
}

/// Judges one scan against the session as it stands, at server time `now`:
/// first what the code proves ([`identify`]), then when and where it was
/// scanned, then who may attend, then whether they already did.
pub fn judge(
    reg: &impl Registry,
    state: &SessionState,
    session: &Session,
    scan: &ScanInput,
    now: DateTime<Utc>,
    tolerance_steps: u64,
) -> Event {
    use ev::RejectionReason as R;
    let reject = |r: Refusal| {
        let payload = if r.keep_payload {
            scan.payload.chars().take(MAX_KEPT_PAYLOAD).collect()
        } else {
            String::new()
        };
        Event::ScanRejected(ev::ScanRejected {
            session_id: session.id.clone(),
            scan: Some(scan.report()),
            reason: r.reason as i32,
            worker_id: r.worker_id,
            detail: r.detail,
            payload,
        })
    };
    let (worker, credential, kind) =
        match identify(reg, &scan.payload, scan.scanned_at, tolerance_steps) {
            Ok(found) => found,
            Err(r) => return reject(r),
        };
    let refuse = |reason: R, detail: String| Refusal {
        reason,
        worker_id: worker.id.clone(),
        detail,
        keep_payload: false,
    };
    if scan.scanned_at > now + Duration::seconds(MAX_DEVICE_CLOCK_AHEAD_SECS) {
        return reject(refuse(
            R::OutsideWindow,
            "the scanner's clock is ahead of the server's".into(),
        ));
    }
    if scan.scanned_at < session.starts_at || scan.scanned_at > session.ends_at {
        let local = |t: DateTime<Utc>| t.with_timezone(&session.tz);
        return reject(refuse(
            R::OutsideWindow,
            format!(
                "scanned at {}, the session runs {} to {}",
                local(scan.scanned_at).format("%Y-%m-%d %H:%M"),
                local(session.starts_at).format("%H:%M"),
                local(session.ends_at).format("%H:%M"),
            ),
        ));
    }
    if !session.fence.contains(scan.position, scan.accuracy_m) {
        return reject(refuse(
            R::OutsideGeofence,
            "the scanner was outside the session's place".into(),
        ));
    }
    if !session.invites(&worker.agency_id, &worker.unit_id) {
        return reject(refuse(
            R::NotInvited,
            "the worker's agency or unit is not invited".into(),
        ));
    }
    if let Some((scanner, seq)) = state.present.get(&worker.id) {
        return reject(refuse(
            R::AlreadyCheckedIn,
            format!("already checked in by scanner {scanner} (scan {seq})"),
        ));
    }
    Event::ScanAccepted(ev::ScanAccepted {
        session_id: session.id.clone(),
        scan: Some(scan.report()),
        worker_id: worker.id.clone(),
        credential_version: credential.version,
        code_kind: kind as i32,
        agency_id: worker.agency_id.clone(),
        unit_id: worker.unit_id.clone(),
    })
}

/// The verdict an event records.
pub fn verdict_of(e: &Event) -> Option<Verdict> {
    match e {
        Event::ScanAccepted(a) => Some(Verdict {
            accepted: true,
            reason: ev::RejectionReason::Unspecified,
            worker_id: a.worker_id.clone(),
            detail: String::new(),
        }),
        Event::ScanRejected(r) => Some(Verdict {
            accepted: false,
            reason: r.reason(),
            worker_id: r.worker_id.clone(),
            detail: r.detail.clone(),
        }),
        _ => None,
    }
}
