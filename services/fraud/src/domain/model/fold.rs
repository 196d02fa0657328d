//! How events change the facts: each stream's events folded into the
//! [`Province`], dates, times and positions parsed, malformed values read as
//! unknown (see the parent module's doc for what is kept and ignored).

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use chrono_tz::Tz;
use pantau_proto::events::v1 as ev;

use super::{
    CheckIn, DEFAULT_TIME_ZONE, Decision, EventRef, FingerprintKind, ImportAnomaly, Leave, Month,
    Position, PresenceKind, Province, Recorded, Report, ReportStatus, Review, Scan, Session, Site,
    Worker,
};

fn date(s: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()
}

/// Instants outside these years are junk, and keeping them out means a
/// zone conversion can never overflow.
const SANE_YEARS: std::ops::RangeInclusive<i32> = 1900..=9000;

fn time(t: Option<&ev::Timestamp>) -> Option<DateTime<Utc>> {
    let t = t?;
    DateTime::from_timestamp(t.seconds, u32::try_from(t.nanos).ok()?)
        .filter(|t| SANE_YEARS.contains(&t.year()))
}

fn zone(s: &str) -> Option<Tz> {
    s.parse().ok()
}

fn sites(s: &[ev::WorkSite]) -> Vec<Site> {
    s.iter()
        .map(|s| Site {
            site_id: s.site_id.clone(),
            lat: s.latitude,
            lon: s.longitude,
            radius_m: s.radius_m,
        })
        .collect()
}

fn centre(g: Option<&ev::Geofence>) -> Option<Position> {
    let g = g?;
    let points: Vec<Position> = g
        .polygon
        .iter()
        .filter_map(|p| Position::from_event(Some(p)))
        .collect();
    if points.len() >= 3 {
        let n = points.len() as f64;
        let lat = points.iter().map(|p| p.lat).sum::<f64>() / n;
        let lon = points.iter().map(|p| p.lon).sum::<f64>() / n;
        Position::new(lat, lon)
    } else {
        Position::from_event(g.center.as_ref())
    }
}

fn worker(w: &ev::WorkerRegistered, at: EventRef) -> Worker {
    let mut worker = Worker {
        id: w.worker_id.clone(),
        agency_id: w.agency_id.clone(),
        unit_id: w.unit_id.clone(),
        pns: w.kind() == ev::WorkerKind::Pns,
        employee_id: w.employee_id.clone(),
        birth_date_raw: w.birth_date.clone(),
        birth_date: date(&w.birth_date),
        sex: if matches!(w.sex, 1 | 2) { w.sex } else { 0 },
        joined_on: date(&w.joined_on),
        registered_at: at,
        fingerprints: BTreeMap::new(),
        anomalies: w
            .anomalies
            .iter()
            .map(|a| ImportAnomaly {
                kind: a.kind.clone(),
                detail: a.detail.clone(),
                other_worker_id: a.other_worker_id.clone(),
                at,
            })
            .collect(),
        active: true,
        deactivated_on: None,
        deactivated_at: None,
        supervisor: (!w.supervisor_id.is_empty()).then(|| Recorded {
            value: w.supervisor_id.clone(),
            at,
        }),
        sites: sites(&w.sites),
        sites_at: at,
        missed_reverifications: Vec::new(),
        reverified_in: BTreeSet::new(),
    };
    if let Some(f) = &w.fingerprints {
        for kind in FingerprintKind::ALL {
            worker.set_fingerprint(kind, FingerprintKind::of(f, kind), at);
        }
    }
    worker
}

impl Province {
    pub fn new() -> Province {
        Province::default()
    }

    pub fn apply_identity(&mut self, e: &ev::identity_event::Event, at: EventRef) {
        use ev::identity_event::Event as E;
        if let E::AgencyCreated(a) = e {
            if let Some(tz) = zone(&a.time_zone) {
                self.zones.insert(a.agency_id.clone(), tz);
            }
            return;
        }
        if let E::WorkerRegistered(r) = e {
            // A worker is registered once; a repeat cannot reset its history.
            if !r.worker_id.is_empty() && !self.workers.contains_key(&r.worker_id) {
                self.workers.insert(r.worker_id.clone(), worker(r, at));
            }
            return;
        }
        let id = match e {
            E::WorkerUpdated(x) => &x.worker_id,
            E::WorkerTransferred(x) => &x.worker_id,
            E::SupervisorAssigned(x) => &x.worker_id,
            E::WorkerDeactivated(x) => &x.worker_id,
            E::WorkerErased(x) => &x.worker_id,
            E::WorkerReverified(x) => &x.worker_id,
            E::ReverificationMissed(x) => &x.worker_id,
            _ => return,
        };
        let Some(w) = self.workers.get_mut(id) else {
            return;
        };
        match e {
            E::WorkerUpdated(u) => {
                let none = ev::Fingerprints::default();
                let f = u.fingerprints.as_ref().unwrap_or(&none);
                for field in &u.changed {
                    if field == "sites" {
                        w.sites = sites(&u.sites);
                        w.sites_at = at;
                    }
                    if let Some(kind) = FingerprintKind::ALL.into_iter().find(|k| k.name() == field)
                    {
                        w.set_fingerprint(kind, FingerprintKind::of(f, kind), at);
                    }
                }
            }
            E::WorkerTransferred(t) => {
                w.agency_id = t.to_agency_id.clone();
                w.unit_id = t.to_unit_id.clone();
            }
            E::SupervisorAssigned(s) => {
                w.supervisor = (!s.supervisor_id.is_empty()).then(|| Recorded {
                    value: s.supervisor_id.clone(),
                    at,
                });
            }
            E::WorkerDeactivated(d) => {
                w.active = false;
                w.deactivated_on = date(&d.effective_on);
                w.deactivated_at = Some(at);
            }
            // The fraud service keeps no more of an erased person than
            // identity does.
            E::WorkerErased(_) => w.fingerprints.clear(),
            E::WorkerReverified(r) => {
                w.reverified_in.insert(r.campaign_id.clone());
            }
            E::ReverificationMissed(m) => w.missed_reverifications.push(Recorded {
                value: m.campaign_id.clone(),
                at,
            }),
            _ => {}
        }
    }

    pub fn apply_attendance(&mut self, e: &ev::attendance_event::Event, at: EventRef) {
        use ev::attendance_event::Event as E;
        match e {
            E::ScannerRegistered(s) if !s.scanner_id.is_empty() => {
                self.scanners.insert(s.scanner_id.clone());
            }
            E::SessionOpened(s) if !s.session_id.is_empty() => {
                self.sessions
                    .entry(s.session_id.clone())
                    .or_insert_with(|| Session {
                        id: s.session_id.clone(),
                        title: s.title.clone(),
                        place: s.place.clone(),
                        starts_at: time(s.starts_at.as_ref()),
                        ends_at: time(s.ends_at.as_ref()),
                        time_zone: zone(&s.time_zone),
                        centre: centre(s.geofence.as_ref()),
                        opened_at: at,
                    });
            }
            E::ScanAccepted(s) => {
                if s.worker_id.is_empty() || !self.sessions.contains_key(&s.session_id) {
                    return;
                }
                let report = s.scan.clone().unwrap_or_default();
                // Only a scanner's scan is accepted: whatever scanned is one,
                // even if its registration was filtered away.
                if !report.scanner_id.is_empty() {
                    self.scanners.insert(report.scanner_id.clone());
                }
                self.scans.push(Scan {
                    session_id: s.session_id.clone(),
                    worker_id: s.worker_id.clone(),
                    scanner_id: report.scanner_id,
                    agency_id: s.agency_id.clone(),
                    scanned_at: time(report.scanned_at.as_ref()),
                    position: Position::from_event(report.position.as_ref()),
                    event: at,
                });
            }
            E::CheckedIn(c) => self.presence(c.presence.as_ref(), PresenceKind::CheckIn, at),
            E::CheckedOut(c) => self.presence(c.presence.as_ref(), PresenceKind::CheckOut, at),
            E::LeaveRequested(l) => {
                let (Some(first), Some(last)) = (date(&l.first_day), date(&l.last_day)) else {
                    return;
                };
                if first > last || self.leaves.contains_key(&l.leave_id) {
                    return;
                }
                self.leaves_of
                    .entry(l.worker_id.clone())
                    .or_default()
                    .push(l.leave_id.clone());
                let worker_id = l.worker_id.clone();
                let leave = Leave {
                    worker_id,
                    first,
                    last,
                    approved: false,
                };
                self.leaves.insert(l.leave_id.clone(), leave);
            }
            E::LeaveApproved(l) => self.decide_leave(&l.leave_id, true),
            E::LeaveRejected(l) => self.decide_leave(&l.leave_id, false),
            _ => {}
        }
    }

    fn decide_leave(&mut self, leave_id: &str, approved: bool) {
        if let Some(l) = self.leaves.get_mut(leave_id) {
            l.approved = approved;
        }
    }

    fn presence(&mut self, p: Option<&ev::Presence>, kind: PresenceKind, event: EventRef) {
        let Some(p) = p.filter(|p| !p.worker_id.is_empty()) else {
            return;
        };
        let at = time(p.at.as_ref());
        let tz = zone(&p.time_zone).unwrap_or(DEFAULT_TIME_ZONE);
        let local = date(&p.local_date).or_else(|| at.map(|t| t.with_timezone(&tz).date_naive()));
        let Some(local_date) = local else { return };
        self.check_ins
            .entry(Month::of(local_date))
            .or_default()
            .push(CheckIn {
                worker_id: p.worker_id.clone(),
                kind,
                at,
                local_date,
                position: Position::from_event(p.position.as_ref()),
                accuracy_m: p.accuracy_m,
                device_id: p.device_id.clone(),
                inside: p.inside,
                site_id: p.site_id.clone(),
                distance_m: p.distance_m,
                event,
            });
    }

    pub fn apply_activity(&mut self, e: &ev::activity_event::Event, at: EventRef) {
        use ev::activity_event::Event as E;
        let (report_id, reviewer, when, decision) = match e {
            E::ActivityReported(r) => return self.reported(r, at),
            E::ActivityAmended(a) => {
                if let Some(r) = self.reports.get_mut(&a.report_id) {
                    let d = a.details.clone().unwrap_or_default();
                    r.description = d.description;
                    r.evidence = d.evidence.into_iter().map(|e| e.r#ref).collect();
                    r.status = ReportStatus::Pending;
                    r.details_event = at;
                }
                return;
            }
            E::ActivityApproved(a) => (&a.report_id, &a.reviewer, &a.at, Decision::Approved),
            E::ActivityRejected(a) => (&a.report_id, &a.reviewer, &a.at, Decision::Rejected),
            E::ActivityReturned(a) => (&a.report_id, &a.reviewer, &a.at, Decision::Returned),
            _ => return,
        };
        let Some(r) = self.reports.get_mut(report_id) else {
            return;
        };
        r.status = match decision {
            Decision::Approved => ReportStatus::Approved,
            Decision::Rejected => ReportStatus::Rejected,
            Decision::Returned => ReportStatus::Returned,
        };
        let at_time = time(when.as_ref());
        let bucket = at_time.map_or(Month::of(r.local_date), |t| Month::of(t.date_naive()));
        self.reviews.entry(bucket).or_default().push(Review {
            report_id: r.id.clone(),
            worker_id: r.worker_id.clone(),
            agency_id: r.agency_id.clone(),
            report_date: r.local_date,
            reviewer: reviewer.clone(),
            decision,
            at: at_time,
            event: at,
        });
    }

    fn reported(&mut self, r: &ev::ActivityReported, at: EventRef) {
        let Some(local_date) = date(&r.local_date) else {
            return;
        };
        if r.report_id.is_empty()
            || r.worker_id.is_empty()
            || self.reports.contains_key(&r.report_id)
        {
            return;
        }
        let d = r.details.clone().unwrap_or_default();
        self.reports_by_month
            .entry(Month::of(local_date))
            .or_default()
            .insert(r.report_id.clone());
        let report = Report {
            id: r.report_id.clone(),
            worker_id: r.worker_id.clone(),
            agency_id: r.agency_id.clone(),
            local_date,
            description: d.description,
            evidence: d.evidence.into_iter().map(|e| e.r#ref).collect(),
            reported_at: time(r.reported_at.as_ref()),
            status: ReportStatus::Pending,
            reported_event: at,
            details_event: at,
        };
        self.reports.insert(r.report_id.clone(), report);
    }
}
