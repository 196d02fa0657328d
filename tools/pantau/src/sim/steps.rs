//! The month, call by call: each [`Step`] sent at its simulated time by the
//! person who would make it (the worker checking in and reporting, the
//! supervisor reviewing and deciding leave, the agency admin opening a
//! ceremony, the scanner phone uploading its queue).
//!
//! Steps run in windows of simulated time. Within a window, steps on one
//! aggregate (a worker, a report, a session) run in order and different
//! aggregates run side by side; a window finishes before the next starts,
//! so nothing runs ahead of what it depends on (a review a day after its
//! report, scans an hour after their session opened).

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use futures::StreamExt;
use pantau_proto::activity::v1 as act;
use pantau_proto::attendance::v1 as att;
use pantau_proto::events::v1 as ev;
use pantau_proto::identity::v1 as id;
use pantau_qr::Credential;
use sha2::{Digest, Sha256};

use super::cluster::{Cluster, Who};
use super::plan::{Call, Decision, Step};
use super::registry::ACTIVITY;
use super::rid;

/// Simulated time per window.
const WINDOW_MINUTES: i64 = 30;

/// Runs `steps` (in time order), `concurrency` aggregates at a time;
/// `done` is told how many steps finished.
pub async fn run(c: &Cluster, steps: &[Step], tag: &str, concurrency: usize, done: &dyn Fn(u64)) {
    let mut start = 0;
    while start < steps.len() {
        let window_end = steps[start].at + Duration::minutes(WINDOW_MINUTES);
        let end = steps[start..]
            .iter()
            .position(|s| s.at >= window_end)
            .map_or(steps.len(), |n| start + n);
        let mut groups: BTreeMap<String, Vec<(usize, &Step)>> = BTreeMap::new();
        for (i, s) in steps[start..end].iter().enumerate() {
            groups.entry(s.key()).or_default().push((start + i, s));
        }
        futures::stream::iter(groups.into_values())
            .map(|group| async move {
                for (i, step) in &group {
                    one(c, step, &format!("{tag}-{i}")).await;
                }
                done(group.len() as u64);
            })
            .buffer_unordered(concurrency.max(1))
            .collect::<Vec<()>>()
            .await;
        start = end;
    }
}

fn worker_id(c: &Cluster, gen_id: &str) -> Option<String> {
    c.ids().workers.get(gen_id).map(|k| k.worker_id.clone())
}

/// A worker's account was never made: their steps are skipped, counted.
fn unknown(c: &Cluster, rpc: &str) {
    c.fail(rpc, "skipped", "the simulated worker was not registered");
}

/// The agency admin of the agency the simulated worker belongs to.
fn agency_admin(c: &Cluster, gen_id: &str) -> Who {
    let agency = c.ids().workers.get(gen_id).map(|k| k.agency.clone());
    Who::AgencyAdmin(agency.unwrap_or_default())
}

async fn one(c: &Cluster, step: &Step, rid_base: &str) {
    let at = Some(step.at);
    let request_id = rid(rid_base, "");
    match &step.call {
        Call::OpenCampaign(o) => {
            let Some(agency) = c.ids().agencies.get(&o.agency_id).cloned() else {
                return;
            };
            let req = id::OpenCampaignRequest {
                request_id,
                title: o.title.clone(),
                agency_id: agency,
                deadline_unix: o.deadline.map_or(0, |d| d.seconds),
            };
            let opened = c
                .call("OpenCampaign", &Who::Admin, at, req, |r| {
                    let mut s = c.identity.clone();
                    async move { s.open_campaign(r).await }
                })
                .await;
            if let Some(o2) = opened {
                c.ids()
                    .campaigns
                    .insert(o.campaign_id.clone(), o2.campaign_id);
            }
        }
        Call::CloseCampaign { campaign_id } => {
            let Some(campaign) = c.ids().campaigns.get(campaign_id).cloned() else {
                return;
            };
            let req = id::CloseCampaignRequest {
                request_id,
                campaign_id: campaign,
            };
            c.call("CloseCampaign", &Who::Admin, at, req, |r| {
                let mut s = c.identity.clone();
                async move { s.close_campaign(r).await }
            })
            .await;
        }
        Call::Reverify(r) => {
            let (Some(worker), Some(campaign)) = (
                worker_id(c, &r.worker_id),
                c.ids().campaigns.get(&r.campaign_id).cloned(),
            ) else {
                return unknown(c, "ReverifyWorker");
            };
            let req = id::ReverifyWorkerRequest {
                request_id,
                campaign_id: campaign,
                worker_id: worker,
                ..Default::default()
            };
            c.call(
                "ReverifyWorker",
                &Who::Worker(r.worker_id.clone()),
                at,
                req,
                |r| {
                    let mut s = c.identity.clone();
                    async move { s.reverify_worker(r).await }
                },
            )
            .await;
        }
        Call::Deactivate(d) => {
            let Some(worker) = worker_id(c, &d.worker_id) else {
                return unknown(c, "DeactivateWorker");
            };
            let req = id::DeactivateWorkerRequest {
                request_id,
                worker_id: worker,
                reason: id::DeactivationReason::Resigned as i32,
                effective_on: d.effective_on.clone(),
                note: d.note.clone(),
            };
            c.call("DeactivateWorker", &Who::Admin, at, req, |r| {
                let mut s = c.identity.clone();
                async move { s.deactivate_worker(r).await }
            })
            .await;
        }
        Call::RegisterScanner(s) => {
            let Some(agency) = c.ids().agencies.get(&s.agency_id).cloned() else {
                return;
            };
            let req = att::RegisterScannerRequest {
                request_id,
                name: s.name.clone(),
                agency_id: agency,
            };
            let registered = c
                .call("RegisterScanner", &Who::Admin, at, req, |r| {
                    let mut a = c.attendance.clone();
                    async move { a.register_scanner(r).await }
                })
                .await;
            if let Some(r) = registered {
                c.ids()
                    .scanners
                    .insert(s.scanner_id.clone(), (r.scanner_id, r.device_token));
            }
        }
        Call::RequestLeave(l) => {
            let req = att::RequestLeaveRequest {
                request_id,
                kind: l.kind,
                first_day: l.first_day.clone(),
                last_day: l.last_day.clone(),
                reason: l.reason.clone(),
                ..Default::default()
            };
            let asked = c
                .call(
                    "RequestLeave",
                    &Who::Worker(l.worker_id.clone()),
                    at,
                    req,
                    |r| {
                        let mut a = c.attendance.clone();
                        async move { a.request_leave(r).await }
                    },
                )
                .await;
            if let Some(r) = asked {
                c.ids().leaves.insert(l.leave_id.clone(), r.leave_id);
            }
        }
        Call::DecideLeave(l) => {
            let Some(leave) = c.ids().leaves.get(&l.leave_id).cloned() else {
                return;
            };
            let who = if l.decided_by.is_empty() {
                agency_admin(c, &l.worker_id)
            } else {
                Who::Worker(l.decided_by.clone())
            };
            let req = att::DecideLeaveRequest {
                request_id,
                leave_id: leave,
                approve: true,
                note: String::new(),
            };
            c.call("DecideLeave", &who, at, req, |r| {
                let mut a = c.attendance.clone();
                async move { a.decide_leave(r).await }
            })
            .await;
        }
        Call::CheckIn { out, presence } => check_in(c, step.at, *out, presence, request_id).await,
        Call::OpenSession(s) => open_session(c, step.at, s, request_id).await,
        Call::Scans(scans) => upload(c, step.at, scans).await,
        Call::Report(r) => report(c, step.at, r, request_id).await,
        Call::Review(r) => {
            let Some(report) = c.ids().reports.get(&r.report_id).cloned() else {
                return;
            };
            let reviewer = c.ids().reviewers.get(&r.report_id).cloned();
            let who = match reviewer {
                Some(s) if !s.starts_with("kadis-") => Who::Worker(s),
                Some(s) => Who::AgencyAdmin(s.trim_start_matches("kadis-").to_owned()),
                None => return,
            };
            let req = act::ReviewActivityRequest {
                request_id,
                report_id: report,
                decision: match r.decision {
                    Decision::Approve => act::ReviewDecision::Approve,
                    Decision::Reject => act::ReviewDecision::Reject,
                    Decision::Return => act::ReviewDecision::Return,
                } as i32,
                reason: r.reason.clone(),
            };
            c.call("ReviewActivity", &who, at, req, |r| {
                let mut a = c.activity.clone();
                async move { a.review_activity(r).await }
            })
            .await;
        }
    }
}

async fn check_in(c: &Cluster, at: DateTime<Utc>, out: bool, p: &ev::Presence, request_id: String) {
    if worker_id(c, &p.worker_id).is_none() {
        return unknown(c, "CheckIn");
    }
    let pos = p.position.unwrap_or_default();
    let req = att::CheckInRequest {
        request_id,
        kind: if out {
            att::CheckKind::Out
        } else {
            att::CheckKind::In
        } as i32,
        latitude: pos.latitude,
        longitude: pos.longitude,
        accuracy_m: p.accuracy_m,
        device_id: p.device_id.clone(),
        photo_sha256: hex::encode(Sha256::digest(p.photo_sha256.as_bytes())),
        claimed_at: p.claimed_at,
    };
    c.call(
        if out { "CheckIn (out)" } else { "CheckIn" },
        &Who::Worker(p.worker_id.clone()),
        Some(at),
        req,
        |r| {
            let mut a = c.attendance.clone();
            async move { a.check_in(r).await }
        },
    )
    .await;
}

/// `2026-10-05T06:30` in `tz`.
fn local(t: Option<ev::Timestamp>, tz: &str) -> String {
    let utc = t
        .and_then(|t| DateTime::from_timestamp(t.seconds, 0))
        .unwrap_or_default();
    match tz.parse::<chrono_tz::Tz>() {
        Ok(tz) => utc.with_timezone(&tz).format("%Y-%m-%dT%H:%M").to_string(),
        Err(_) => utc.format("%Y-%m-%dT%H:%M").to_string(),
    }
}

async fn open_session(c: &Cluster, at: DateTime<Utc>, s: &ev::SessionOpened, request_id: String) {
    let (invited, scanners, agency) = {
        let ids = c.ids();
        let invited: Vec<ev::Invitation> = s
            .invited
            .iter()
            .filter_map(|i| {
                Some(ev::Invitation {
                    agency_id: ids.agencies.get(&i.agency_id)?.clone(),
                    unit_id: String::new(),
                })
            })
            .collect();
        let scanners: Vec<String> = s
            .scanner_ids
            .iter()
            .filter_map(|x| ids.scanners.get(x).map(|(id, _)| id.clone()))
            .collect();
        let agency = s
            .invited
            .first()
            .map(|i| i.agency_id.clone())
            .unwrap_or_default();
        (invited, scanners, agency)
    };
    let req = att::OpenSessionRequest {
        request_id,
        title: s.title.clone(),
        starts_at: local(s.starts_at, &s.time_zone),
        ends_at: local(s.ends_at, &s.time_zone),
        time_zone: s.time_zone.clone(),
        place: s.place.clone(),
        geofence: s.geofence.clone(),
        invited,
        scanner_ids: scanners,
    };
    let opened = c
        .call(
            "OpenSession",
            &Who::AgencyAdmin(agency),
            Some(at),
            req,
            |r| {
                let mut a = c.attendance.clone();
                async move { a.open_session(r).await }
            },
        )
        .await;
    if let Some(o) = opened {
        c.ids().sessions.insert(s.session_id.clone(), o.session_id);
    }
}

/// The worker's rotating secret, fetched once with their own token.
async fn secret(c: &Cluster, gen_id: &str) -> Option<(Credential, [u8; 32])> {
    let worker = worker_id(c, gen_id)?;
    let cached = c.ids().secrets.get(gen_id).copied();
    let (version, secret) = match cached {
        Some(s) => s,
        None => {
            let got = c
                .call(
                    "GetRotatingSecret",
                    &Who::Worker(gen_id.to_owned()),
                    None,
                    att::GetRotatingSecretRequest {},
                    |r| {
                        let mut a = c.attendance.clone();
                        async move { a.get_rotating_secret(r).await }
                    },
                )
                .await?;
            let secret = <[u8; 32]>::try_from(got.secret.as_slice()).ok()?;
            c.ids()
                .secrets
                .insert(gen_id.to_owned(), (got.version, secret));
            (got.version, secret)
        }
    };
    let credential = Credential {
        worker_id: worker.parse().ok()?,
        version,
    };
    Some((credential, secret))
}

/// A scanner phone's queue: each worker's phone code as shown at the
/// moment of the scan, uploaded at once.
async fn upload(c: &Cluster, at: DateTime<Utc>, scans: &[ev::ScanAccepted]) {
    let Some(first) = scans.first() else { return };
    let scanner = first
        .scan
        .as_ref()
        .map(|s| s.scanner_id.clone())
        .unwrap_or_default();
    let Some(session) = c.ids().sessions.get(&first.session_id).cloned() else {
        return;
    };
    let mut out = Vec::with_capacity(scans.len());
    for s in scans {
        let Some(report) = &s.scan else { continue };
        let Some((credential, secret)) = secret(c, &s.worker_id).await else {
            unknown(c, "UploadScans");
            continue;
        };
        let scanned = report.scanned_at.map_or(0, |t| t.seconds);
        let pos = report.position.unwrap_or_default();
        out.push(att::Scan {
            device_seq: report.device_seq,
            payload: pantau_qr::rotating_code(&secret, credential, scanned),
            scanned_at: report.scanned_at,
            latitude: pos.latitude,
            longitude: pos.longitude,
            accuracy_m: report.accuracy_m,
        });
    }
    let req = att::UploadScansRequest {
        session_id: session,
        scans: out,
    };
    let uploaded = c
        .call("UploadScans", &Who::Scanner(scanner), Some(at), req, |r| {
            let mut a = c.attendance.clone();
            async move { a.upload_scans(r).await }
        })
        .await;
    if let Some(u) = uploaded {
        for r in u.results.iter().filter(|r| !r.accepted) {
            c.fail(
                "UploadScans",
                "scan refused",
                &format!("{:?} {}", r.reason(), r.detail),
            );
        }
    }
}

fn hhmm(minute: u32) -> String {
    format!("{:02}:{:02}", minute / 60, minute % 60)
}

async fn report(c: &Cluster, at: DateTime<Utc>, r: &ev::ActivityReported, request_id: String) {
    if worker_id(c, &r.worker_id).is_none() {
        return unknown(c, "ReportActivity");
    }
    let d = r.details.clone().unwrap_or_default();
    let req = act::ReportActivityRequest {
        request_id,
        worker_id: String::new(),
        code: ACTIVITY.into(),
        quantity: 1.0,
        date: r.local_date.clone(),
        start_time: hhmm(d.start_minute),
        end_time: hhmm(d.end_minute),
        description: d.description.clone(),
        location: d.location.clone(),
        evidence: d.evidence.clone(),
    };
    let reported = c
        .call(
            "ReportActivity",
            &Who::Worker(r.worker_id.clone()),
            Some(at),
            req,
            |r| {
                let mut a = c.activity.clone();
                async move { a.report_activity(r).await }
            },
        )
        .await;
    if let Some(x) = reported {
        let mut ids = c.ids();
        ids.reports.insert(r.report_id.clone(), x.report_id);
        ids.reviewers
            .insert(r.report_id.clone(), r.supervisor_id.clone());
    }
}
