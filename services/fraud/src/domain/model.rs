//! The facts the detectors read: a [`Province`] folds the events of the
//! identity, attendance and activity streams into what fraud detection
//! compares across workers, each fact with the [`EventRef`] that proves it.
//!
//! Apply each event once, in stream order (a projection's checkpoint sees to
//! that); the streams may interleave in any order. Events that name an
//! unknown worker (identity), session (scans) or report (reviews) are
//! ignored: on their own stream they always follow what they refer to, so
//! an unknown id means the origin was filtered away. Check-ins and reports
//! are kept even before their worker's registration arrives, because that
//! comes on another stream. Malformed values never panic: an unreadable
//! optional date or position reads as unknown, a presence or report without
//! a readable day is dropped.
//!
//! Days are always the agency's local days. Check-ins and reports carry
//! theirs; a ceremony scan and a review are dated when asked, in the zone
//! of the agency they concern, so an `AgencyCreated` arriving late re-dates
//! them.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use pantau_proto::events::v1 as ev;

use super::Month;

mod fold;

pub const IDENTITY_STREAM: &str = "PANTAU_IDENTITY";
pub const ATTENDANCE_STREAM: &str = "PANTAU_ATTENDANCE";
pub const ACTIVITY_STREAM: &str = "PANTAU_ACTIVITY";

/// The zone of agencies whose zone is unknown or unreadable.
pub const DEFAULT_TIME_ZONE: Tz = chrono_tz::Asia::Jakarta;

/// Which event proves a fact: its stream and sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EventRef {
    pub stream: &'static str,
    pub sequence: u64,
}

impl EventRef {
    pub const fn identity(sequence: u64) -> EventRef {
        EventRef {
            stream: IDENTITY_STREAM,
            sequence,
        }
    }

    pub const fn attendance(sequence: u64) -> EventRef {
        EventRef {
            stream: ATTENDANCE_STREAM,
            sequence,
        }
    }

    pub const fn activity(sequence: u64) -> EventRef {
        EventRef {
            stream: ACTIVITY_STREAM,
            sequence,
        }
    }
}

impl fmt::Display for EventRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.stream, self.sequence)
    }
}

/// A value and the event that set it.
#[derive(Debug, Clone, PartialEq)]
pub struct Recorded<T> {
    pub value: T,
    pub at: EventRef,
}

/// A point on the globe in degrees (WGS84).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Position {
    pub lat: f64,
    pub lon: f64,
}

const EARTH_RADIUS_M: f64 = 6_371_008.8;

impl Position {
    /// None unless both are finite and on the globe.
    pub fn new(lat: f64, lon: f64) -> Option<Position> {
        let ok = lat.is_finite() && lon.is_finite() && lat.abs() <= 90.0 && lon.abs() <= 180.0;
        ok.then_some(Position { lat, lon })
    }

    fn from_event(p: Option<&ev::GeoPoint>) -> Option<Position> {
        p.and_then(|p| Position::new(p.latitude, p.longitude))
    }

    /// Great-circle (haversine) metres to `other`.
    pub fn distance_m(self, other: Position) -> f64 {
        let (p1, p2) = (self.lat.to_radians(), other.lat.to_radians());
        let dp = p2 - p1;
        let dl = (other.lon - self.lon).to_radians();
        let a = (dp / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
        2.0 * EARTH_RADIUS_M * a.sqrt().min(1.0).asin()
    }
}

/// The personal fields identity fingerprints for duplicate matching.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FingerprintKind {
    Nik,
    BankAccount,
    Phone,
    Email,
}

impl FingerprintKind {
    pub const ALL: [FingerprintKind; 4] = [
        FingerprintKind::Nik,
        FingerprintKind::BankAccount,
        FingerprintKind::Phone,
        FingerprintKind::Email,
    ];

    /// The field's name, as `WorkerUpdated.changed` spells it.
    pub fn name(self) -> &'static str {
        match self {
            FingerprintKind::Nik => "nik",
            FingerprintKind::BankAccount => "bank_account",
            FingerprintKind::Phone => "phone",
            FingerprintKind::Email => "email",
        }
    }

    fn of(f: &ev::Fingerprints, kind: FingerprintKind) -> &str {
        match kind {
            FingerprintKind::Nik => &f.nik,
            FingerprintKind::BankAccount => &f.bank_account,
            FingerprintKind::Phone => &f.phone,
            FingerprintKind::Email => &f.email,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Site {
    pub site_id: String,
    pub lat: f64,
    pub lon: f64,
    pub radius_m: u32,
}

/// An irregularity a legacy import accepted but recorded.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportAnomaly {
    pub kind: String,
    pub detail: String,
    /// The worker already holding the value, for duplicates; else empty.
    pub other_worker_id: String,
    pub at: EventRef,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Worker {
    pub id: String,
    pub agency_id: String,
    pub unit_id: String,
    /// Kind PNS: `employee_id` is then the NIP.
    pub pns: bool,
    pub employee_id: String,
    /// As registered (derived from the NIK), and parsed.
    pub birth_date_raw: String,
    pub birth_date: Option<NaiveDate>,
    /// 1 male, 2 female, 0 unknown.
    pub sex: u32,
    pub joined_on: Option<NaiveDate>,
    pub registered_at: EventRef,
    /// Only non-empty fingerprints; cleared when the worker is erased.
    pub fingerprints: BTreeMap<FingerprintKind, Recorded<String>>,
    pub anomalies: Vec<ImportAnomaly>,
    /// False once a `WorkerDeactivated` arrived.
    pub active: bool,
    /// The deactivation's effective date, when readable.
    pub deactivated_on: Option<NaiveDate>,
    pub deactivated_at: Option<EventRef>,
    pub supervisor: Option<Recorded<String>>,
    pub sites: Vec<Site>,
    pub sites_at: EventRef,
    /// Campaign ids, in event order.
    pub missed_reverifications: Vec<Recorded<String>>,
    pub reverified_in: BTreeSet<String>,
}

impl Worker {
    pub fn fingerprint(&self, kind: FingerprintKind) -> Option<&Recorded<String>> {
        self.fingerprints.get(&kind)
    }

    /// On the payroll on at least one day of the month. An unknown joining
    /// date reads as long ago; a deactivation without a readable date
    /// reads as long ago too.
    pub fn employed_in(&self, month: Month) -> bool {
        self.joined_on.is_none_or(|j| j <= month.last_day())
            && (self.active || self.deactivated_on.is_some_and(|d| d > month.first_day()))
    }

    /// Joined before the month and on the payroll until its last day.
    pub fn employed_throughout(&self, month: Month) -> bool {
        self.joined_on.is_none_or(|j| j < month.first_day())
            && self
                .deactivated_on
                .map_or(self.active, |d| d > month.last_day())
    }

    /// Missed campaigns the worker did not re-verify for later.
    pub fn unresolved_misses(&self) -> impl Iterator<Item = &Recorded<String>> {
        self.missed_reverifications
            .iter()
            .filter(|m| !self.reverified_in.contains(&m.value))
    }

    fn set_fingerprint(&mut self, kind: FingerprintKind, value: &str, at: EventRef) {
        if value.is_empty() {
            self.fingerprints.remove(&kind);
        } else {
            let value = value.to_owned();
            self.fingerprints.insert(kind, Recorded { value, at });
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PresenceKind {
    CheckIn,
    CheckOut,
}

/// A self check-in or check-out.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckIn {
    pub worker_id: String,
    pub kind: PresenceKind,
    /// Server time.
    pub at: Option<DateTime<Utc>>,
    pub local_date: NaiveDate,
    pub position: Option<Position>,
    pub accuracy_m: f32,
    pub device_id: String,
    pub inside: bool,
    pub site_id: String,
    pub distance_m: u32,
    pub event: EventRef,
}

/// A ceremony (apel, Independence Day) where officers scan QR credentials.
#[derive(Debug, Clone, PartialEq)]
pub struct Session {
    pub id: String,
    pub title: String,
    pub place: String,
    pub starts_at: Option<DateTime<Utc>>,
    pub ends_at: Option<DateTime<Utc>>,
    pub time_zone: Option<Tz>,
    /// The geofence's centre, or its polygon's mean vertex.
    pub centre: Option<Position>,
    pub opened_at: EventRef,
}

/// An accepted scan, attributed to the worker whose credential was scanned
/// (never to the officer holding the scanner).
#[derive(Debug, Clone, PartialEq)]
pub struct Scan {
    pub session_id: String,
    pub worker_id: String,
    pub scanner_id: String,
    pub agency_id: String,
    /// The scanner's clock.
    pub scanned_at: Option<DateTime<Utc>>,
    pub position: Option<Position>,
    pub event: EventRef,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ReportStatus {
    Pending,
    Approved,
    Rejected,
    Returned,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    pub id: String,
    pub worker_id: String,
    pub agency_id: String,
    pub local_date: NaiveDate,
    pub description: String,
    /// Evidence references (content hashes), in report order.
    pub evidence: Vec<String>,
    pub reported_at: Option<DateTime<Utc>>,
    pub status: ReportStatus,
    pub reported_event: EventRef,
    /// The event that set the current description and evidence (the report
    /// or its last amendment).
    pub details_event: EventRef,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Decision {
    Approved,
    Rejected,
    Returned,
}

/// A supervisor's decision on a report.
#[derive(Debug, Clone, PartialEq)]
pub struct Review {
    pub report_id: String,
    pub worker_id: String,
    pub agency_id: String,
    pub report_date: NaiveDate,
    pub reviewer: String,
    pub decision: Decision,
    pub at: Option<DateTime<Utc>>,
    pub event: EventRef,
}

#[derive(Debug, Clone, PartialEq)]
struct Leave {
    worker_id: String,
    first: NaiveDate,
    last: NaiveDate,
    approved: bool,
}

/// Every fact of a province the detectors compare, in memory.
#[derive(Debug, Clone, Default)]
pub struct Province {
    workers: BTreeMap<String, Worker>,
    zones: HashMap<String, Tz>,
    scanners: BTreeSet<String>,
    /// By the month of their local date, in event order.
    check_ins: BTreeMap<Month, Vec<CheckIn>>,
    sessions: HashMap<String, Session>,
    scans: Vec<Scan>,
    reports: HashMap<String, Report>,
    reports_by_month: BTreeMap<Month, BTreeSet<String>>,
    /// By the UTC month of the decision (the report's month when undated).
    reviews: BTreeMap<Month, Vec<Review>>,
    leaves: HashMap<String, Leave>,
    leaves_of: HashMap<String, Vec<String>>,
}

impl Province {
    /// Every registered worker, by id.
    pub fn workers(&self) -> impl Iterator<Item = &Worker> {
        self.workers.values()
    }

    pub fn worker(&self, id: &str) -> Option<&Worker> {
        self.workers.get(id)
    }

    /// Workers not (yet) deactivated, by id.
    pub fn active_workers(&self) -> impl Iterator<Item = &Worker> {
        self.workers.values().filter(|w| w.active)
    }

    /// Workers on the payroll on at least one day of the month, by id.
    pub fn workers_employed_in(&self, month: Month) -> impl Iterator<Item = &Worker> {
        self.workers.values().filter(move |w| w.employed_in(month))
    }

    /// A QR scanner (an officer's phone, registered or seen in an accepted
    /// scan), not a personal device.
    pub fn is_scanner(&self, device_id: &str) -> bool {
        self.scanners.contains(device_id)
    }

    /// The agency's zone, Asia/Jakarta when unknown.
    pub fn zone(&self, agency_id: &str) -> Tz {
        self.zones
            .get(agency_id)
            .copied()
            .unwrap_or(DEFAULT_TIME_ZONE)
    }

    /// Check-ins and check-outs of the month's local days, in event order.
    pub fn check_ins_in(&self, month: Month) -> &[CheckIn] {
        self.check_ins.get(&month).map_or(&[], Vec::as_slice)
    }

    /// Reports of the month's local days, any status, by report id.
    pub fn reports_in(&self, month: Month) -> impl Iterator<Item = &Report> {
        self.reports_by_month
            .get(&month)
            .into_iter()
            .flatten()
            .filter_map(|id| self.reports.get(id))
    }

    pub fn report(&self, id: &str) -> Option<&Report> {
        self.reports.get(id)
    }

    pub fn session(&self, id: &str) -> Option<&Session> {
        self.sessions.get(id)
    }

    /// When the scanned worker was at the ceremony: the scanner's clock,
    /// else the session's start.
    pub fn scan_time(&self, s: &Scan) -> Option<DateTime<Utc>> {
        s.scanned_at
            .or_else(|| self.session(&s.session_id).and_then(|x| x.starts_at))
    }

    /// Where: the session's geofence, else the scanner's position.
    pub fn scan_place(&self, s: &Scan) -> Option<Position> {
        self.session(&s.session_id)
            .and_then(|x| x.centre)
            .or(s.position)
    }

    /// The ceremony's local day: its start (the scanner's clock only when
    /// the start is unknown) in the zone of the agency the scan was for,
    /// else the worker's agency, else the session's zone.
    pub fn scan_date(&self, s: &Scan) -> Option<NaiveDate> {
        let session = self.session(&s.session_id);
        let moment = session.and_then(|x| x.starts_at).or(s.scanned_at)?;
        let known = |agency: &str| self.zones.get(agency).copied();
        let tz = known(&s.agency_id)
            .or_else(|| self.worker(&s.worker_id).and_then(|w| known(&w.agency_id)))
            .or(session.and_then(|x| x.time_zone))
            .unwrap_or(DEFAULT_TIME_ZONE);
        Some(moment.with_timezone(&tz).date_naive())
    }

    /// Accepted scans of ceremonies on the month's local days, in event order.
    pub fn scans_in(&self, month: Month) -> Vec<&Scan> {
        self.scans
            .iter()
            .filter(|s| self.scan_date(s).is_some_and(|d| month.contains(d)))
            .collect()
    }

    /// The local day of a decision in the zone of the report's agency, the
    /// report's own day when the decision is undated.
    pub fn review_date(&self, r: &Review) -> NaiveDate {
        r.at.map_or(r.report_date, |t| {
            t.with_timezone(&self.zone(&r.agency_id)).date_naive()
        })
    }

    /// Decisions made on the month's local days, in event order per bucket.
    pub fn reviews_in(&self, month: Month) -> Vec<&Review> {
        // Buckets are UTC months; a local month overlaps the ones beside it
        // by a few hours (Indonesia's zones start it in the month before).
        let before = Month::of(month.first_day().pred_opt().unwrap_or(NaiveDate::MIN));
        [before, month, month.next()]
            .iter()
            .filter_map(|m| self.reviews.get(m))
            .flatten()
            .filter(|r| month.contains(self.review_date(r)))
            .collect()
    }

    /// Days of the month covered by the worker's approved leave.
    pub fn leave_days_in(&self, worker_id: &str, month: Month) -> usize {
        let leaves: Vec<&Leave> = self
            .leaves_of
            .get(worker_id)
            .into_iter()
            .flatten()
            .filter_map(|id| self.leaves.get(id))
            .filter(|l| l.approved && l.worker_id == worker_id)
            .collect();
        month
            .days()
            .filter(|d| leaves.iter().any(|l| (l.first..=l.last).contains(d)))
            .count()
    }
}

#[cfg(test)]
pub(crate) mod fixtures;

#[cfg(test)]
mod tests {
    use ev::activity_event::Event as Act;
    use ev::attendance_event::Event as Att;
    use ev::identity_event::Event as Id;
    use proptest::prelude::*;

    use super::fixtures::*;
    use super::*;

    #[test]
    fn a_registration_keeps_the_identity_facts_and_the_event_proving_them() {
        let mut g = Given::new();
        let mut w = registered("w1");
        w.kind = ev::WorkerKind::Pns as i32;
        w.employee_id = "199005172015031001".into();
        if let Some(f) = w.fingerprints.as_mut() {
            f.email.clear();
        }
        w.anomalies = vec![ev::ImportAnomaly {
            kind: "duplicate_phone".into(),
            detail: "phone already held".into(),
            other_worker_id: "w0".into(),
        }];
        let at = g.register(w);
        let w = g.p.worker("w1").expect("registered");
        assert!(w.pns && w.active);
        assert_eq!(w.employee_id, "199005172015031001");
        assert_eq!(w.birth_date, Some(d("1990-05-17")));
        assert_eq!((w.sex, w.joined_on), (1, Some(d("2020-01-06"))));
        assert_eq!(w.registered_at, at);
        let nik = w
            .fingerprint(FingerprintKind::Nik)
            .expect("a NIK fingerprint");
        assert_eq!((nik.value.as_str(), nik.at), ("nik-w1", at));
        assert!(w.fingerprint(FingerprintKind::Email).is_none());
        assert_eq!(w.anomalies[0].other_worker_id, "w0");
        assert_eq!(w.anomalies[0].at, at);
        assert_eq!(
            w.supervisor.as_ref().map(|s| s.value.as_str()),
            Some("kasi-1")
        );
        assert_eq!(w.sites.len(), 1);
        assert_eq!(w.sites[0].radius_m, 150);
        assert_eq!(g.p.active_workers().count(), 1);
    }

    #[test]
    fn an_unreadable_birth_date_reads_as_unknown_and_keeps_the_raw_text() {
        let mut g = Given::new();
        let mut w = registered("w1");
        w.birth_date = "17-05-1990".into();
        w.sex = 7;
        w.joined_on = "someday".into();
        g.register(w);
        let w = g.p.worker("w1").expect("registered");
        assert_eq!(w.birth_date, None);
        assert_eq!(w.birth_date_raw, "17-05-1990");
        assert_eq!((w.sex, w.joined_on), (0, None));
    }

    #[test]
    fn an_update_replaces_only_the_fingerprints_and_sites_it_names() {
        let mut g = Given::new();
        let registered_at = g.worker("w1");
        let update = |changed: &[&str], phone: &str, email: &str| {
            Id::WorkerUpdated(ev::WorkerUpdated {
                worker_id: "w1".into(),
                changed: changed.iter().map(|c| (*c).to_owned()).collect(),
                fingerprints: Some(ev::Fingerprints {
                    phone: phone.into(),
                    email: email.into(),
                    ..Default::default()
                }),
                sites: vec![ev::WorkSite::default(), ev::WorkSite::default()],
                ..Default::default()
            })
        };
        let at = g.identity(update(&["phone"], "phone-new", "email-ignored"));
        let w = g.p.worker("w1").expect("registered");
        let phone = w.fingerprint(FingerprintKind::Phone).expect("a phone");
        assert_eq!((phone.value.as_str(), phone.at), ("phone-new", at));
        let email = w.fingerprint(FingerprintKind::Email).expect("an e-mail");
        assert_eq!(
            (email.value.as_str(), email.at),
            ("email-w1", registered_at)
        );
        assert_eq!((w.sites.len(), w.sites_at), (1, registered_at));
        let at = g.identity(update(&["email", "sites"], "", ""));
        let w = g.p.worker("w1").expect("registered");
        assert!(w.fingerprint(FingerprintKind::Email).is_none());
        assert!(w.fingerprint(FingerprintKind::Phone).is_some());
        assert_eq!((w.sites.len(), w.sites_at), (2, at));
    }

    #[test]
    fn events_of_unknown_workers_sessions_and_reports_are_ignored() {
        let mut g = Given::new();
        g.deactivate("ghost", "2026-03-01");
        g.identity(Id::SupervisorAssigned(ev::SupervisorAssigned {
            worker_id: "ghost".into(),
            supervisor_id: "kasi-9".into(),
            effective_on: "2026-03-01".into(),
        }));
        g.scan("no-session", "w1", "scn-1", Some("2026-03-02T01:00:00Z"));
        g.review(
            "no-report",
            "kasi-1",
            "2026-03-02T01:00:00Z",
            Decision::Approved,
        );
        g.report("r1", "w1", "not a date", "x", &[]);
        g.presence(ev::Presence::default());
        g.presence(presence("", "2026-03-02T01:00:00Z", SITE.0, SITE.1));
        g.report("r2", "", "2026-03-02", "x", &[]);
        g.attendance(Att::CheckedOut(ev::CheckedOut { presence: None }));
        assert_eq!(g.p.workers().count(), 0);
        assert!(g.p.scans_in(m("2026-03")).is_empty());
        assert!(g.p.reviews_in(m("2026-03")).is_empty());
        assert!(g.p.report("r1").is_none() && g.p.report("r2").is_none());
        assert!(g.p.check_ins_in(m("2026-03")).is_empty());
    }

    #[test]
    fn a_repeated_registration_does_not_reset_the_workers_history() {
        let mut g = Given::new();
        let first = g.worker("w1");
        let gone = g.deactivate("w1", "2026-03-10");
        g.worker("w1");
        let w = g.p.worker("w1").expect("registered");
        assert_eq!(w.registered_at, first);
        assert!(!w.active);
        assert_eq!(
            (w.deactivated_on, w.deactivated_at),
            (Some(d("2026-03-10")), Some(gone))
        );
    }

    #[test]
    fn transfers_supervisors_erasure_and_reverification_are_kept() {
        let mut g = Given::new();
        g.worker("w1");
        g.identity(Id::WorkerTransferred(ev::WorkerTransferred {
            worker_id: "w1".into(),
            to_agency_id: "bappeda".into(),
            to_unit_id: "u9".into(),
            ..Default::default()
        }));
        let assigned = g.identity(Id::SupervisorAssigned(ev::SupervisorAssigned {
            worker_id: "w1".into(),
            supervisor_id: "kabid-2".into(),
            effective_on: "2026-03-01".into(),
        }));
        let missed = |c: &str| {
            Id::ReverificationMissed(ev::ReverificationMissed {
                worker_id: "w1".into(),
                campaign_id: c.into(),
                agency_id: "bappeda".into(),
            })
        };
        g.identity(missed("pupns-2015"));
        let still = g.identity(missed("pupns-2016"));
        g.identity(Id::WorkerReverified(ev::WorkerReverified {
            worker_id: "w1".into(),
            campaign_id: "pupns-2015".into(),
            corrected: vec![],
        }));
        g.identity(Id::WorkerErased(ev::WorkerErased {
            worker_id: "w1".into(),
            requested_by: "dpo".into(),
        }));
        let w = g.p.worker("w1").expect("registered");
        assert_eq!(
            (w.agency_id.as_str(), w.unit_id.as_str()),
            ("bappeda", "u9")
        );
        let supervisor = w.supervisor.as_ref().expect("a supervisor");
        assert_eq!(
            (supervisor.value.as_str(), supervisor.at),
            ("kabid-2", assigned)
        );
        assert_eq!(w.missed_reverifications.len(), 2);
        let unresolved: Vec<_> = w
            .unresolved_misses()
            .map(|m| (m.value.as_str(), m.at))
            .collect();
        assert_eq!(unresolved, [("pupns-2016", still)]);
        assert!(w.fingerprints.is_empty());
    }

    #[test]
    fn employment_in_a_month_follows_joining_and_deactivation() {
        let mut g = Given::new();
        let mut late = registered("late");
        late.joined_on = "2026-03-15".into();
        g.register(late);
        g.worker("left");
        g.deactivate("left", "2026-03-10");
        g.worker("undated");
        g.deactivate("undated", "");
        g.worker("stays");
        let march = m("2026-03");
        let w = |id: &str| g.p.worker(id).expect("registered");
        assert!(w("late").employed_in(march) && !w("late").employed_throughout(march));
        assert!(!w("late").employed_in(m("2026-02")));
        assert!(w("left").employed_in(march) && !w("left").employed_throughout(march));
        assert!(!w("left").employed_in(m("2026-04")));
        assert!(w("left").employed_throughout(m("2026-02")));
        assert!(!w("undated").employed_in(march));
        assert!(w("stays").employed_in(march) && w("stays").employed_throughout(march));
        let employed: Vec<&str> =
            g.p.workers_employed_in(march)
                .map(|w| w.id.as_str())
                .collect();
        assert_eq!(employed, ["late", "left", "stays"]);
        assert_eq!(g.p.active_workers().count(), 2);
    }

    #[test]
    fn check_ins_keep_server_time_local_day_position_and_device() {
        let mut g = Given::new();
        let at = g.check_in("w1", "2026-03-02T00:30:00Z", SITE.0, SITE.1);
        let mut out = presence("w1", "2026-03-31T17:30:00Z", 91.0, f64::NAN);
        out.local_date = String::new();
        out.time_zone = "Asia/Jayapura".into();
        out.inside = false;
        let out_at = g.attendance(Att::CheckedOut(ev::CheckedOut {
            presence: Some(out),
        }));
        let march = g.p.check_ins_in(m("2026-03"));
        assert_eq!(march.len(), 1);
        let c = &march[0];
        assert_eq!((c.kind, c.event), (PresenceKind::CheckIn, at));
        assert_eq!(c.at, Some(utc("2026-03-02T00:30:00Z")));
        assert_eq!(c.local_date, d("2026-03-02"));
        assert_eq!(c.position, Position::new(SITE.0, SITE.1));
        assert_eq!((c.device_id.as_str(), c.inside), ("phone-w1", true));
        // No local date: the server time in the presence's own zone.
        let april = g.p.check_ins_in(m("2026-04"));
        assert_eq!(april.len(), 1);
        let c = &april[0];
        assert_eq!((c.kind, c.event), (PresenceKind::CheckOut, out_at));
        assert_eq!(c.local_date, d("2026-04-01"));
        assert_eq!(c.position, None);
        assert!(!c.inside);
    }

    #[test]
    fn scans_are_dated_by_the_session_start_in_the_agencys_zone() {
        let mut g = Given::new();
        g.worker("w1");
        let opened = g.session("s1", "2026-03-31T16:30:00Z", -6.2, 106.8);
        g.scanner("scn-1");
        let scanned = g.scan("s1", "w1", "scn-1", None);
        let scans = g.p.scans_in(m("2026-03"));
        assert_eq!(scans.len(), 1);
        let s = scans[0];
        assert_eq!(
            (s.worker_id.as_str(), s.scanner_id.as_str()),
            ("w1", "scn-1")
        );
        assert_eq!(s.event, scanned);
        assert_eq!(g.p.scan_time(s), Some(utc("2026-03-31T16:30:00Z")));
        assert_eq!(g.p.scan_place(s), Position::new(-6.2, 106.8));
        assert_eq!(g.p.session("s1").map(|x| x.opened_at), Some(opened));
        assert!(g.p.is_scanner("scn-1") && !g.p.is_scanner("phone-w1"));
        // The agency's zone arrives late: 01:30 WIT is already April.
        g.identity(Id::AgencyCreated(ev::AgencyCreated {
            agency_id: "dlh".into(),
            time_zone: "Asia/Jayapura".into(),
            ..Default::default()
        }));
        assert!(g.p.scans_in(m("2026-03")).is_empty());
        assert_eq!(g.p.scans_in(m("2026-04")).len(), 1);
        assert_eq!(g.p.zone("dlh"), chrono_tz::Asia::Jayapura);
        assert_eq!(g.p.zone("unknown"), DEFAULT_TIME_ZONE);
        // Whatever scanned a credential is a scanner, registered or not.
        g.scan("s1", "w1", "scn-unlisted", None);
        assert!(g.p.is_scanner("scn-unlisted"));
    }

    #[test]
    fn a_polygon_geofence_is_placed_at_its_mean_vertex() {
        let mut g = Given::new();
        let point = |latitude, longitude| ev::GeoPoint {
            latitude,
            longitude,
        };
        g.attendance(Att::SessionOpened(ev::SessionOpened {
            session_id: "s1".into(),
            geofence: Some(ev::Geofence {
                center: Some(point(0.0, 0.0)),
                radius_m: 0,
                polygon: vec![point(-6.0, 106.0), point(-6.0, 107.0), point(-7.0, 106.5)],
            }),
            ..Default::default()
        }));
        let centre = g.p.session("s1").and_then(|s| s.centre).expect("a centre");
        assert!((centre.lat + 6.333_333).abs() < 1e-5 && (centre.lon - 106.5).abs() < 1e-9);
    }

    #[test]
    fn reports_are_amended_and_reviewed_and_reviews_dated_locally() {
        let mut g = Given::new();
        let reported = g.report("r1", "w1", "2026-03-31", "Membersihkan saluran", &["aa"]);
        let amended = g.activity(Act::ActivityAmended(ev::ActivityAmended {
            report_id: "r1".into(),
            worker_id: "w1".into(),
            details: Some(ev::ActivityDetails {
                description: "Membersihkan saluran air".into(),
                evidence: vec![ev::Evidence {
                    kind: ev::EvidenceKind::Photo as i32,
                    r#ref: "bb".into(),
                }],
                ..Default::default()
            }),
            ..Default::default()
        }));
        let r = g.p.report("r1").expect("reported");
        assert_eq!(r.description, "Membersihkan saluran air");
        assert_eq!(r.evidence, ["bb"]);
        assert_eq!((r.reported_event, r.details_event), (reported, amended));
        assert_eq!(r.status, ReportStatus::Pending);
        g.review("r1", "kasi-1", "2026-03-31T16:00:00Z", Decision::Returned);
        // 18:00 UTC is already 1 April in Jakarta.
        let approved = g.review("r1", "kasi-1", "2026-03-31T18:00:00Z", Decision::Approved);
        assert_eq!(
            g.p.report("r1").map(|r| r.status),
            Some(ReportStatus::Approved)
        );
        let march = g.p.reviews_in(m("2026-03"));
        assert_eq!(march.len(), 1);
        assert_eq!(march[0].decision, Decision::Returned);
        let april = g.p.reviews_in(m("2026-04"));
        assert_eq!(april.len(), 1);
        assert_eq!(
            (april[0].reviewer.as_str(), april[0].event),
            ("kasi-1", approved)
        );
        assert_eq!(g.p.reports_in(m("2026-03")).count(), 1);
        assert_eq!(g.p.reports_in(m("2026-04")).count(), 0);
    }

    #[test]
    fn only_approved_leave_counts_and_only_its_days_in_the_month() {
        let mut g = Given::new();
        let leave = |id: &str, first: &str, last: &str| {
            Att::LeaveRequested(ev::LeaveRequested {
                leave_id: id.into(),
                worker_id: "w1".into(),
                first_day: first.into(),
                last_day: last.into(),
                ..Default::default()
            })
        };
        g.attendance(leave("l1", "2026-02-20", "2026-03-05"));
        g.attendance(leave("l2", "2026-03-20", "2026-03-21"));
        g.attendance(leave("l3", "2026-03-30", "2026-03-01"));
        g.attendance(Att::LeaveApproved(ev::LeaveApproved {
            leave_id: "l1".into(),
            worker_id: "w1".into(),
            decided_by: "kasi-1".into(),
        }));
        assert_eq!(g.p.leave_days_in("w1", m("2026-03")), 5);
        assert_eq!(g.p.leave_days_in("w1", m("2026-02")), 9);
        assert_eq!(g.p.leave_days_in("w2", m("2026-03")), 0);
    }

    #[test]
    fn distances_are_great_circle_metres() {
        let a = Position::new(-6.0, 106.8).expect("valid");
        let b = Position::new(-7.0, 106.8).expect("valid");
        assert!((a.distance_m(b) - 111_195.0).abs() < 50.0);
        assert_eq!(a.distance_m(a), 0.0);
        assert!(Position::new(f64::INFINITY, 0.0).is_none());
        assert!(Position::new(0.0, 180.5).is_none());
        assert_eq!(EventRef::activity(7).to_string(), "PANTAU_ACTIVITY:7");
    }

    proptest! {
        #[test]
        fn malformed_presences_and_sessions_never_panic(
            seconds in any::<i64>(),
            nanos in any::<i32>(),
            lat in any::<f64>(),
            lon in any::<f64>(),
            local_date in ".{0,12}",
            zone in "[A-Za-z/_]{0,16}",
        ) {
            let mut g = Given::new();
            let t = Some(ev::Timestamp { seconds, nanos });
            let point = Some(ev::GeoPoint { latitude: lat, longitude: lon });
            g.presence(ev::Presence {
                worker_id: "w1".into(),
                at: t,
                position: point,
                local_date,
                time_zone: zone.clone(),
                ..Default::default()
            });
            g.attendance(Att::SessionOpened(ev::SessionOpened {
                session_id: "s1".into(),
                starts_at: t,
                time_zone: zone,
                geofence: Some(ev::Geofence { center: point, radius_m: 1, polygon: vec![] }),
                ..Default::default()
            }));
            g.scan("s1", "w1", "scn", None);
            let month = m("2026-03");
            let _ = (g.p.check_ins_in(month).len(), g.p.scans_in(month).len());
            for c in g.p.check_ins.values().flatten() {
                prop_assert!(c.position.is_none_or(|p| p.lat.is_finite() && p.lon.is_finite()));
            }
        }
    }
}
