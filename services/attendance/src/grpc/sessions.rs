//! Ceremonies: opening a session, judging uploaded scans, the live view.
//!
//! A session's scans are all recorded on its own subject. Each replica
//! caches the sessions it serves; an upload is judged against the cached
//! state under the session's lock and appended as one atomic batch whose
//! first event expects the subject's last sequence. If another replica
//! wrote in between, the batch is refused whole, the cache catches up and
//! the upload is judged again, so "already checked in" holds across
//! replicas and a scan uploaded twice keeps its first verdict.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use pantau_eventstore::{AppendError, Expected, Metadata, NewEvent};
use pantau_proto::attendance::v1 as api;
use pantau_proto::events::v1::{self as ev, attendance_event::Event};
use tokio::sync::Mutex;

use super::{Attendance, not_found};
use crate::core::{decode, encode, event_type, execute, session_subject};
use crate::directory::{Directory, Scanner};
use crate::domain::geo::{Geofence, Point, parse_accuracy};
use crate::domain::registry::Worker;
use crate::domain::session::{self, ScanInput, SessionState, judge};
use crate::domain::time::{from_timestamp, parse_local_datetime, parse_zone, timestamp};
use crate::domain::{DomainError, Principal, Role, parse_id};
use crate::error::ServiceError;

/// Most scans in one upload (one atomic batch).
pub const MAX_SCANS_PER_UPLOAD: usize = 500;
const MAX_PAYLOAD_CHARS: usize = 4096;
const MAX_ATTEMPTS: usize = 8;

#[derive(Default)]
pub struct CachedSession {
    state: SessionState,
    last_sequence: u64,
}

#[derive(Default)]
pub struct SessionCache {
    sessions: std::sync::Mutex<HashMap<String, Arc<Mutex<CachedSession>>>>,
}

impl SessionCache {
    fn get(&self, id: &str) -> Arc<Mutex<CachedSession>> {
        let mut all = match self.sessions.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        all.entry(id.to_owned()).or_default().clone()
    }
}

/// Brings a cached session up to the stream.
async fn catch_up(a: &Attendance, id: &str, c: &mut CachedSession) -> Result<(), ServiceError> {
    let subject = session_subject(id);
    let newer = a
        .store
        .load_after(&subject, c.last_sequence)
        .await
        .map_err(|e| ServiceError::Unavailable(format!("failed to load {subject}: {e}")))?;
    for r in &newer {
        c.state = session::evolve(std::mem::take(&mut c.state), &decode(r)?);
        c.last_sequence = r.sequence;
    }
    Ok(())
}

pub fn card(dir: &Directory, w: &Worker) -> api::WorkerCard {
    api::WorkerCard {
        worker_id: w.id.clone(),
        name: w.name.clone(),
        employee_id: w.employee_id.clone(),
        agency_name: dir.agency_name(&w.agency_id),
        unit_name: dir.unit_name(&w.agency_id, &w.unit_id),
        photo_ref: w.photo_ref.clone(),
    }
}

#[derive(Default, Clone)]
struct Opened(bool);

pub async fn open(
    a: &Attendance,
    p: &Principal,
    req: api::OpenSessionRequest,
) -> Result<api::OpenSessionResponse, ServiceError> {
    let ctx = a.ctx(p, &req.request_id)?;
    let title = req.title.trim();
    if title.is_empty() || title.chars().count() > 200 {
        return Err(DomainError::invalid("title", "must be 1-200 characters").into());
    }
    if req.invited.is_empty() {
        return Err(DomainError::invalid("invited", "invite at least one agency").into());
    }
    let fence = Geofence::parse(req.geofence.as_ref())?;
    let (tz, invited, scanners) = {
        let dir = a.dir();
        let mut invited = Vec::new();
        for (i, inv) in req.invited.iter().enumerate() {
            let agency = dir.agencies.get(&inv.agency_id).ok_or_else(|| {
                DomainError::invalid(format!("invited[{i}].agency_id"), "no such agency")
            })?;
            if !inv.unit_id.is_empty() && !agency.units.contains_key(&inv.unit_id) {
                return Err(DomainError::invalid(
                    format!("invited[{i}].unit_id"),
                    "no such unit in the agency",
                )
                .into());
            }
            // Agency admins hold sessions for their own agency only.
            p.must_manage(&inv.agency_id)?;
            invited.push(ev::Invitation {
                agency_id: inv.agency_id.clone(),
                unit_id: inv.unit_id.clone(),
            });
        }
        if req.scanner_ids.is_empty() {
            return Err(DomainError::invalid("scanner_ids", "allow at least one scanner").into());
        }
        for (i, s) in req.scanner_ids.iter().enumerate() {
            match dir.scanners.get(s) {
                Some(sc) if !sc.revoked => {}
                Some(_) => {
                    return Err(DomainError::invalid(
                        format!("scanner_ids[{i}]"),
                        "the scanner has been revoked",
                    )
                    .into());
                }
                None => {
                    return Err(DomainError::invalid(
                        format!("scanner_ids[{i}]"),
                        "no such scanner",
                    )
                    .into());
                }
            }
        }
        let tz = if req.time_zone.is_empty() {
            dir.agencies
                .get(&invited[0].agency_id)
                .map(|a| a.tz)
                .unwrap_or(chrono_tz::Asia::Jakarta)
        } else {
            parse_zone(&req.time_zone, "time_zone")?
        };
        (tz, invited, req.scanner_ids.clone())
    };
    let starts = parse_local_datetime(&req.starts_at, tz, "starts_at")?;
    let ends = parse_local_datetime(&req.ends_at, tz, "ends_at")?;
    if ends <= starts {
        return Err(DomainError::invalid("ends_at", "must be after starts_at").into());
    }
    if ends - starts > chrono::Duration::hours(24) {
        return Err(DomainError::invalid("ends_at", "a session lasts at most 24 hours").into());
    }
    let session_id = uuid::Uuid::new_v5(
        &uuid::Uuid::NAMESPACE_OID,
        format!("session:{}:{}", ctx.actor, ctx.request_id).as_bytes(),
    )
    .to_string();
    let opened = ev::SessionOpened {
        session_id: session_id.clone(),
        title: title.to_owned(),
        starts_at: Some(timestamp(starts)),
        ends_at: Some(timestamp(ends)),
        time_zone: tz.name().to_owned(),
        place: req.place.trim().chars().take(200).collect(),
        geofence: Some(fence.to_event()),
        invited,
        scanner_ids: scanners,
    };
    execute(
        &a.store,
        &session_subject(&session_id),
        |s: Opened, e| Opened(s.0 || matches!(e, Event::SessionOpened(_))),
        &ctx,
        |s: &Opened| {
            if s.0 {
                return Err(DomainError::already_exists("session_id", &session_id));
            }
            Ok(vec![Event::SessionOpened(opened.clone())])
        },
    )
    .await?;
    tracing::info!(%session_id, title, "session opened");
    Ok(api::OpenSessionResponse { session_id })
}

/// Validates an upload; scans come back sorted by device sequence.
fn parse_scans(
    scanner: &Scanner,
    req: &api::UploadScansRequest,
) -> Result<Vec<ScanInput>, DomainError> {
    if req.scans.is_empty() || req.scans.len() > MAX_SCANS_PER_UPLOAD {
        return Err(DomainError::invalid(
            "scans",
            format!("send 1 to {MAX_SCANS_PER_UPLOAD} scans per upload"),
        ));
    }
    let mut by_seq: BTreeMap<u64, ScanInput> = BTreeMap::new();
    for (i, s) in req.scans.iter().enumerate() {
        let field = |f: &str| format!("scans[{i}].{f}");
        if s.device_seq == 0 {
            return Err(DomainError::invalid(field("device_seq"), "starts at 1"));
        }
        if s.payload.is_empty() || s.payload.chars().count() > MAX_PAYLOAD_CHARS {
            return Err(DomainError::invalid(
                field("payload"),
                format!("must be 1-{MAX_PAYLOAD_CHARS} characters"),
            ));
        }
        let scanned_at = s
            .scanned_at
            .as_ref()
            .and_then(from_timestamp)
            .ok_or_else(|| DomainError::invalid(field("scanned_at"), "is required"))?;
        let position = Point::parse(s.latitude, s.longitude, &format!("scans[{i}]."))?;
        let accuracy_m = parse_accuracy(s.accuracy_m, 10_000.0, &field("accuracy_m"))?;
        let input = ScanInput {
            scanner_id: scanner.id.clone(),
            device_seq: s.device_seq,
            payload: s.payload.clone(),
            scanned_at,
            position,
            accuracy_m,
        };
        if let Some(prev) = by_seq.get(&s.device_seq)
            && prev.payload != input.payload
        {
            return Err(DomainError::invalid(
                field("device_seq"),
                "the same sequence number carries two different scans",
            ));
        }
        by_seq.insert(s.device_seq, input);
    }
    Ok(by_seq.into_values().collect())
}

pub async fn upload(
    a: &Attendance,
    scanner: &Scanner,
    req: api::UploadScansRequest,
) -> Result<api::UploadScansResponse, ServiceError> {
    parse_id(&req.session_id, "session_id")?;
    let scans = parse_scans(scanner, &req)?;
    let cached = a.sessions.get(&req.session_id);
    let mut c = cached.lock().await;
    if c.state.session.is_none() {
        catch_up(a, &req.session_id, &mut c).await?;
    }
    let Some(session) = c.state.session.clone() else {
        return Err(not_found("session", &req.session_id));
    };
    if !session.allows_scanner(&scanner.id) {
        return Err(DomainError::PermissionDenied(format!(
            "scanner {} is not allowed in this session",
            scanner.id
        ))
        .into());
    }
    let subject = session_subject(&session.id);
    for _ in 0..MAX_ATTEMPTS {
        let now = a.now();
        let mut working = c.state.clone();
        let mut new_events = Vec::new();
        let mut fresh = HashMap::new();
        {
            let dir = a.dir();
            for s in &scans {
                let key = (s.scanner_id.clone(), s.device_seq);
                if working.verdicts.contains_key(&key) {
                    continue;
                }
                let e = judge(&*dir, &working, &session, s, now, a.qr_tolerance_steps);
                working = session::evolve(working, &e);
                fresh.insert(s.device_seq, ());
                new_events.push(e);
            }
        }
        if !new_events.is_empty() {
            let batch = new_events
                .iter()
                .enumerate()
                .map(|(i, e)| {
                    scan_event(
                        &subject,
                        e,
                        if i == 0 {
                            Expected::Sequence(c.last_sequence)
                        } else {
                            Expected::Any
                        },
                    )
                })
                .collect();
            match a.store.append_atomic(batch).await {
                Ok(stored) => {
                    c.state = working;
                    if let Some(last) = stored.last() {
                        c.last_sequence = last.sequence;
                    }
                }
                Err(AppendError::Conflict { .. }) => {
                    catch_up(a, &session.id, &mut c).await?;
                    continue;
                }
                Err(e) => {
                    // Possibly stored without our hearing back: what the
                    // stream holds now decides.
                    tracing::warn!(error = %e, session_id = %session.id, "scan batch append failed; catching up and retrying");
                    catch_up(a, &session.id, &mut c).await?;
                    continue;
                }
            }
        }
        let dir = a.dir();
        let results = scans
            .iter()
            .map(|s| {
                let v = c
                    .state
                    .verdicts
                    .get(&(s.scanner_id.clone(), s.device_seq))
                    .cloned()
                    .unwrap_or_else(|| session::Verdict {
                        accepted: false,
                        reason: ev::RejectionReason::Unspecified,
                        worker_id: String::new(),
                        detail: String::new(),
                    });
                api::ScanResult {
                    device_seq: s.device_seq,
                    accepted: v.accepted,
                    reason: v.reason as i32,
                    detail: v.detail,
                    worker: dir.workers.get(&v.worker_id).map(|w| card(&dir, w)),
                    duplicate: !fresh.contains_key(&s.device_seq),
                }
            })
            .collect();
        return Ok(api::UploadScansResponse { results });
    }
    Err(ServiceError::Aborted(format!(
        "session {} kept changing concurrently; upload again",
        session.id
    )))
}

fn scan_event(subject: &str, e: &Event, expected: Expected) -> NewEvent {
    let (scanner, seq) = match e {
        Event::ScanAccepted(x) => x.scan.as_ref(),
        Event::ScanRejected(x) => x.scan.as_ref(),
        _ => None,
    }
    .map(|s| (s.scanner_id.clone(), s.device_seq))
    .unwrap_or_default();
    let id = format!("scan:{scanner}:{seq}");
    NewEvent {
        subject: subject.to_owned(),
        event_type: event_type(e).to_owned(),
        schema_version: 1,
        payload: encode(e),
        expected,
        msg_id: Some(format!("{subject}:{id}")),
        metadata: Metadata {
            correlation_id: id.clone(),
            causation_id: id.clone(),
            request_id: Some(id),
            actor: Some(format!("scanner:{scanner}")),
        },
    }
}

fn may_watch(p: &Principal, s: &session::Session) -> Result<(), DomainError> {
    let allowed = p.is_province_admin()
        || p.has(Role::Auditor)
        || s.invited.iter().any(|(agency, _)| p.manages_agency(agency));
    if allowed {
        Ok(())
    } else {
        Err(DomainError::PermissionDenied(
            "only admins of an invited agency, province admins and auditors see this session"
                .into(),
        ))
    }
}

/// The session's tally, from its (caught-up) state and the registry.
fn tally(dir: &Directory, s: &session::Session, state: &SessionState) -> api::SessionView {
    let mut agencies: BTreeMap<String, api::AgencyTally> = BTreeMap::new();
    for w in dir.workers.values() {
        if !s.invites(&w.agency_id, &w.unit_id) {
            continue;
        }
        let present = state.present.contains_key(&w.id);
        if !w.active && !present {
            continue;
        }
        let t = agencies
            .entry(w.agency_id.clone())
            .or_insert_with(|| api::AgencyTally {
                agency_id: w.agency_id.clone(),
                agency_name: dir.agency_name(&w.agency_id),
                ..Default::default()
            });
        t.invited += 1;
        if present {
            t.present += 1;
        } else {
            t.absent += 1;
        }
    }
    let agencies: Vec<_> = agencies.into_values().collect();
    api::SessionView {
        session_id: s.id.clone(),
        title: s.title.clone(),
        invited: agencies.iter().map(|t| t.invited).sum(),
        present: agencies.iter().map(|t| t.present).sum(),
        absent: agencies.iter().map(|t| t.absent).sum(),
        rejected_scans: state.rejected,
        agencies,
    }
}

pub async fn view(
    a: &Attendance,
    p: &Principal,
    session_id: &str,
) -> Result<api::SessionView, ServiceError> {
    parse_id(session_id, "session_id")?;
    let cached = a.sessions.get(session_id);
    let mut c = cached.lock().await;
    catch_up(a, session_id, &mut c).await?;
    let Some(s) = c.state.session.clone() else {
        return Err(not_found("session", session_id));
    };
    may_watch(p, &s)?;
    Ok(tally(&a.dir(), &s, &c.state))
}

/// Sends the view, then again whenever the session's subject moves (at
/// most every 200 ms), until the client goes away.
pub async fn watch(
    a: Arc<Attendance>,
    p: Principal,
    session_id: String,
) -> Result<super::ViewStream, ServiceError> {
    let mut events = a
        .nats
        .subscribe(session_subject(&session_id))
        .await
        .map_err(|e| ServiceError::Unavailable(format!("failed to subscribe: {e}")))?;
    let wrap = |v| api::WatchSessionResponse { view: Some(v) };
    let first = wrap(view(&a, &p, &session_id).await?);
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    tokio::spawn(async move {
        if tx.send(Ok(first)).await.is_err() {
            return;
        }
        loop {
            tokio::select! {
                m = events.next() => if m.is_none() { return },
                () = tx.closed() => return,
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
            let next = view(&a, &p, &session_id)
                .await
                .map(wrap)
                .map_err(tonic::Status::from);
            if tx.send(next).await.is_err() {
                return;
            }
        }
    });
    Ok(Box::pin(tokio_stream::wrappers::ReceiverStream::new(rx)))
}
