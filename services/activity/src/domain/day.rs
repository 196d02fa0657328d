//! A worker's day of reports: the aggregate behind every report rule. One
//! subject per worker and local day, so "no two of a worker's activities
//! overlap" is checked against everything they reported that day under
//! optimistic concurrency, and review, amendment and closing follow one
//! life cycle:
//!
//! submitted --approve--> approved (final)
//!     |  ^ amend            
//!     |  +------ returned / rejected <--return/reject-- submitted
//!
//! Report ids are `<YYYYMMDD>-<worker id>-<n>`, so a report's day is known
//! from its id without a lookup.

use chrono::NaiveDate;
use pantau_proto::activity::v1 as api;
use pantau_proto::events::v1::{self as ev, activity_event::Event};

use super::DomainError;
use super::catalog::Catalogs;
use super::input::ReportInput;
use super::registry::Worker;
use super::time::format_time;

pub const MAX_REASON: usize = 500;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Submitted,
    Approved,
    Rejected,
    Returned,
}

impl Status {
    pub fn api(self) -> api::ReportStatus {
        match self {
            Status::Submitted => api::ReportStatus::Submitted,
            Status::Approved => api::ReportStatus::Approved,
            Status::Rejected => api::ReportStatus::Rejected,
            Status::Returned => api::ReportStatus::Returned,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Status::Submitted => "submitted",
            Status::Approved => "approved",
            Status::Rejected => "rejected",
            Status::Returned => "returned",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Report {
    pub id: String,
    pub worker_id: String,
    pub local_date: String,
    pub details: ev::ActivityDetails,
    pub status: Status,
    pub supervisor_id: String,
}

#[derive(Debug, Clone, Default)]
pub struct Day {
    pub reports: Vec<Report>,
}

impl Day {
    pub fn report(&self, id: &str) -> Option<&Report> {
        self.reports.iter().find(|r| r.id == id)
    }

    fn report_mut(&mut self, id: &str) -> Option<&mut Report> {
        self.reports.iter_mut().find(|r| r.id == id)
    }
}

pub fn evolve(mut day: Day, e: &Event) -> Day {
    match e {
        Event::ActivityReported(r) => day.reports.push(Report {
            id: r.report_id.clone(),
            worker_id: r.worker_id.clone(),
            local_date: r.local_date.clone(),
            details: r.details.clone().unwrap_or_default(),
            status: Status::Submitted,
            supervisor_id: r.supervisor_id.clone(),
        }),
        Event::ActivityAmended(a) => {
            if let Some(r) = day.report_mut(&a.report_id) {
                r.details = a.details.clone().unwrap_or_default();
                r.status = Status::Submitted;
            }
        }
        Event::ActivityApproved(a) => set_status(&mut day, &a.report_id, Status::Approved),
        Event::ActivityRejected(a) => set_status(&mut day, &a.report_id, Status::Rejected),
        Event::ActivityReturned(a) => set_status(&mut day, &a.report_id, Status::Returned),
        _ => {}
    }
    day
}

fn set_status(day: &mut Day, id: &str, status: Status) {
    if let Some(r) = day.report_mut(id) {
        r.status = status;
    }
}

pub fn report_id(date: NaiveDate, worker_id: &str, n: usize) -> String {
    format!("{}-{worker_id}-{n}", date.format("%Y%m%d"))
}

/// The day and worker of a report id (None when it is not one).
pub fn parse_report_id(id: &str) -> Option<(NaiveDate, String)> {
    let date = NaiveDate::parse_from_str(id.get(..8)?, "%Y%m%d").ok()?;
    let rest = id.get(8..)?.strip_prefix('-')?;
    let (worker, n) = rest.rsplit_once('-')?;
    if n.is_empty() || !n.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let worker = uuid::Uuid::parse_str(worker).ok()?;
    Some((date, worker.to_string()))
}

/// What a report is judged against besides the day itself.
pub struct Facts<'a> {
    pub worker: &'a Worker,
    pub catalogs: &'a Catalogs,
    /// Today and the minute of the day, in the agency's time zone.
    pub today: NaiveDate,
    pub now_minute: u32,
    /// Days after which a day's reports close.
    pub grace_days: u32,
    /// Who is filing it (a worker id), and whether on the worker's behalf.
    pub by: &'a str,
    pub on_behalf: bool,
    pub at: ev::Timestamp,
}

impl Facts<'_> {
    /// Whether reports for `date` may still be filed.
    fn open(&self, date: NaiveDate) -> Result<(), DomainError> {
        if date > self.today {
            return Err(DomainError::invalid("date", "is in the future"));
        }
        if let Some(joined) = self.worker.joined_on
            && date < joined
        {
            return Err(DomainError::invalid(
                "date",
                format!("is before the worker joined ({joined})"),
            ));
        }
        let age = (self.today - date).num_days();
        if age > i64::from(self.grace_days) {
            return Err(DomainError::precondition(format!(
                "reports for {date} closed {} day(s) after it",
                self.grace_days
            )));
        }
        Ok(())
    }

    /// The report's details, checked against the catalog in force on
    /// `date` and the worker's other reports that day (`except` itself).
    fn details(
        &self,
        day: &Day,
        date: NaiveDate,
        input: &ReportInput,
        except: Option<&str>,
    ) -> Result<ev::ActivityDetails, DomainError> {
        if date == self.today && input.end_minute > self.now_minute {
            return Err(DomainError::invalid("end_time", "is in the future"));
        }
        let found = self
            .catalogs
            .find(&self.worker.agency_id, date, &input.code)
            .ok_or_else(|| {
                DomainError::invalid(
                    "code",
                    format!("{} is not in the catalog in force on {date}", input.code),
                )
            })?;
        if found.activity.photo_required && !input.has_photo() {
            return Err(DomainError::invalid(
                "evidence",
                format!("{} requires a photo", input.code),
            ));
        }
        if found.activity.location_required && input.location.is_none() {
            return Err(DomainError::invalid(
                "location",
                format!("{} requires a location", input.code),
            ));
        }
        if let Some(other) = day.reports.iter().find(|r| {
            Some(r.id.as_str()) != except
                && r.status != Status::Rejected
                && input.start_minute < r.details.end_minute
                && r.details.start_minute < input.end_minute
        }) {
            return Err(DomainError::precondition(format!(
                "{}-{} overlaps report {} ({}-{})",
                format_time(input.start_minute),
                format_time(input.end_minute),
                other.id,
                format_time(other.details.start_minute),
                format_time(other.details.end_minute)
            )));
        }
        Ok(ev::ActivityDetails {
            code: input.code.clone(),
            catalog_agency_id: found.catalog_agency_id.to_owned(),
            catalog_version: found.version,
            unit: found.activity.unit.clone(),
            quantity: input.quantity,
            start_minute: input.start_minute,
            end_minute: input.end_minute,
            description: input.description.clone(),
            location: input.location.clone(),
            evidence: input.evidence.clone(),
        })
    }
}

/// A new report on `date`.
pub fn decide_report(
    day: &Day,
    date: NaiveDate,
    input: &ReportInput,
    facts: &Facts<'_>,
) -> Result<Vec<Event>, DomainError> {
    let w = facts.worker;
    if !w.active {
        return Err(DomainError::precondition(format!(
            "worker {} is no longer active",
            w.id
        )));
    }
    facts.open(date)?;
    let details = facts.details(day, date, input, None)?;
    Ok(vec![Event::ActivityReported(ev::ActivityReported {
        report_id: report_id(date, &w.id, day.reports.len() + 1),
        worker_id: w.id.clone(),
        agency_id: w.agency_id.clone(),
        unit_id: w.unit_id.clone(),
        local_date: date.to_string(),
        details: Some(details),
        reported_by: facts.by.to_owned(),
        on_behalf: facts.on_behalf,
        reported_at: Some(facts.at),
        supervisor_id: w.supervisor_on(date).to_owned(),
    })])
}

fn find<'d>(day: &'d Day, report_id: &str) -> Result<&'d Report, DomainError> {
    day.report(report_id)
        .ok_or_else(|| DomainError::NotFound(format!("report {report_id} not found")))
}

/// Corrects a report not approved yet. Once a day has closed, only
/// reports returned for correction may still be amended.
pub fn decide_amend(
    day: &Day,
    report_id: &str,
    input: &ReportInput,
    facts: &Facts<'_>,
) -> Result<Vec<Event>, DomainError> {
    let r = find(day, report_id)?;
    if r.status == Status::Approved {
        return Err(DomainError::precondition(format!(
            "report {report_id} is approved and can no longer be amended"
        )));
    }
    let date: NaiveDate = r
        .local_date
        .parse()
        .map_err(|_| DomainError::precondition(format!("report {report_id} has no valid date")))?;
    if r.status != Status::Returned {
        facts.open(date)?;
    }
    let details = facts.details(day, date, input, Some(report_id))?;
    if details == r.details && r.status == Status::Submitted {
        return Ok(Vec::new());
    }
    Ok(vec![Event::ActivityAmended(ev::ActivityAmended {
        report_id: report_id.to_owned(),
        worker_id: r.worker_id.clone(),
        details: Some(details),
        amended_by: facts.by.to_owned(),
        amended_at: Some(facts.at),
    })])
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Approve,
    Reject(String),
    Return(String),
}

impl Decision {
    pub fn parse(decision: api::ReviewDecision, reason: &str) -> Result<Decision, DomainError> {
        let reason = reason.trim();
        if reason.chars().count() > MAX_REASON {
            return Err(DomainError::invalid(
                "reason",
                format!("must be at most {MAX_REASON} characters"),
            ));
        }
        let needs_reason = || {
            if reason.is_empty() {
                Err(DomainError::invalid(
                    "reason",
                    "is required to reject or return a report",
                ))
            } else {
                Ok(reason.to_owned())
            }
        };
        match decision {
            api::ReviewDecision::Approve => Ok(Decision::Approve),
            api::ReviewDecision::Reject => Ok(Decision::Reject(needs_reason()?)),
            api::ReviewDecision::Return => Ok(Decision::Return(needs_reason()?)),
            api::ReviewDecision::Unspecified => Err(DomainError::invalid(
                "decision",
                "must be APPROVE, REJECT or RETURN",
            )),
        }
    }
}

/// A review of a submitted report. Approving an approved report again is a
/// no-op (bulk approvals overlap); anything else needs a pending report.
pub fn decide_review(
    day: &Day,
    report_id: &str,
    decision: &Decision,
    reviewer: &str,
    at: ev::Timestamp,
) -> Result<Vec<Event>, DomainError> {
    let r = find(day, report_id)?;
    match (r.status, decision) {
        (Status::Submitted, _) => {}
        (Status::Approved, Decision::Approve) => return Ok(Vec::new()),
        (status, _) => {
            return Err(DomainError::precondition(format!(
                "report {report_id} is {}; only a submitted report can be reviewed{}",
                status.name(),
                if status == Status::Approved {
                    ""
                } else {
                    " (the worker may amend it)"
                }
            )));
        }
    }
    let (report_id, worker_id, reviewer) = (
        report_id.to_owned(),
        r.worker_id.clone(),
        reviewer.to_owned(),
    );
    Ok(vec![match decision {
        Decision::Approve => Event::ActivityApproved(ev::ActivityApproved {
            report_id,
            worker_id,
            reviewer,
            at: Some(at),
        }),
        Decision::Reject(reason) => Event::ActivityRejected(ev::ActivityRejected {
            report_id,
            worker_id,
            reviewer,
            reason: reason.clone(),
            at: Some(at),
        }),
        Decision::Return(reason) => Event::ActivityReturned(ev::ActivityReturned {
            report_id,
            worker_id,
            reviewer,
            reason: reason.clone(),
            at: Some(at),
        }),
    }])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::catalog::{self, Latest};

    const W: &str = "0b6f2a52-3f5c-4f0e-9d55-8f1f6a2b9c01";

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn catalogs() -> Catalogs {
        let mut c = Catalogs::default();
        let act = |code: &str, photo, location| ev::CatalogActivity {
            code: code.into(),
            name: code.into(),
            unit: "kali".into(),
            photo_required: photo,
            location_required: location,
        };
        let versions = [
            ("", "2026-01-01", vec![act("APEL", false, false)]),
            (
                "a1",
                "2026-01-01",
                vec![act("DRAIN", true, true), act("SWEEP", false, false)],
            ),
            ("a1", "2026-11-20", vec![act("DRAIN", true, true)]),
        ];
        let mut latest = std::collections::HashMap::<&str, Latest>::new();
        for (scope, from, acts) in versions {
            let l = latest.entry(scope).or_default();
            for e in catalog::decide_publish(l, scope, d(from), &acts, "admin").unwrap() {
                if let Event::CatalogPublished(p) = &e {
                    c.apply(p);
                }
                *l = catalog::evolve(l.clone(), &e);
            }
        }
        c
    }

    fn worker() -> Worker {
        Worker {
            id: W.into(),
            agency_id: "a1".into(),
            unit_id: "u1".into(),
            active: true,
            joined_on: Some(d("2026-11-02")),
            supervisors: vec![(None, "s1".into()), (Some(d("2026-11-21")), "s2".into())],
            ..Worker::default()
        }
    }

    fn input(code: &str, start: &str, end: &str) -> ReportInput {
        ReportInput::parse(
            code,
            1.0,
            start,
            end,
            "",
            Some(&ev::ActivityLocation {
                latitude: -0.5,
                longitude: 117.1,
                site_id: String::new(),
            }),
            &[ev::Evidence {
                kind: ev::EvidenceKind::Photo as i32,
                r#ref: "abc".into(),
            }],
        )
        .unwrap()
    }

    struct Env {
        worker: Worker,
        catalogs: Catalogs,
        today: NaiveDate,
        now_minute: u32,
    }

    impl Env {
        fn new() -> Env {
            Env {
                worker: worker(),
                catalogs: catalogs(),
                today: d("2026-11-23"),
                now_minute: 15 * 60,
            }
        }

        fn facts(&self) -> Facts<'_> {
            Facts {
                worker: &self.worker,
                catalogs: &self.catalogs,
                today: self.today,
                now_minute: self.now_minute,
                grace_days: 3,
                by: W,
                on_behalf: false,
                at: ev::Timestamp::default(),
            }
        }

        fn report(
            &self,
            day: &mut Day,
            date: &str,
            i: &ReportInput,
        ) -> Result<String, DomainError> {
            let events = decide_report(day, d(date), i, &self.facts())?;
            let id = match events.as_slice() {
                [Event::ActivityReported(r)] => r.report_id.clone(),
                other => panic!("{other:?}"),
            };
            *day = events.iter().fold(day.clone(), evolve);
            Ok(id)
        }
    }

    fn apply(
        day: &mut Day,
        decide: impl FnOnce(&Day) -> Result<Vec<Event>, DomainError>,
    ) -> Vec<Event> {
        let events = decide(day).unwrap();
        *day = events.iter().fold(day.clone(), evolve);
        events
    }

    #[test]
    fn reports_get_ids_that_name_their_day_and_worker() {
        let env = Env::new();
        let mut day = Day::default();
        let first = env
            .report(&mut day, "2026-11-23", &input("DRAIN", "07:30", "09:00"))
            .unwrap();
        let second = env
            .report(&mut day, "2026-11-23", &input("APEL", "07:00", "07:30"))
            .unwrap();
        assert_eq!(first, format!("20261123-{W}-1"));
        assert_eq!(second, format!("20261123-{W}-2"));
        assert_eq!(
            parse_report_id(&first),
            Some((d("2026-11-23"), W.to_owned()))
        );
        for bad in [
            "",
            "20261123",
            "2026112x-w-1",
            &format!("20261123-{W}-"),
            "20261123-notauuid-1",
        ] {
            assert_eq!(parse_report_id(bad), None, "{bad}");
        }
        let r = day.report(&second).unwrap();
        assert_eq!(
            (
                r.details.catalog_agency_id.as_str(),
                r.details.catalog_version
            ),
            ("", 1)
        );
        assert_eq!(r.supervisor_id, "s2");
    }

    #[test]
    fn the_calendar_rules_hold() {
        let mut env = Env::new();
        let mut day = Day::default();
        let i = input("APEL", "08:00", "09:00");
        let err = |env: &Env, date: &str, i: &ReportInput| {
            decide_report(&Day::default(), d(date), i, &env.facts()).unwrap_err()
        };
        assert_eq!(err(&env, "2026-11-24", &i).field(), Some("date"));
        assert_eq!(err(&env, "2026-11-01", &i).field(), Some("date"));
        // Three days of grace: the 20th is still open on the 23rd, the 19th is closed.
        assert!(env.report(&mut day, "2026-11-20", &i).is_ok());
        assert!(matches!(
            err(&env, "2026-11-19", &i),
            DomainError::FailedPrecondition(_)
        ));
        // Today, not later than now.
        env.now_minute = 8 * 60 + 30;
        assert_eq!(err(&env, "2026-11-23", &i).field(), Some("end_time"));
        env.worker.active = false;
        assert!(matches!(
            err(&env, "2026-11-22", &i),
            DomainError::FailedPrecondition(_)
        ));
    }

    #[test]
    fn the_catalog_of_the_day_decides_what_may_be_reported_and_with_what_evidence() {
        let env = Env::new();
        let f = env.facts();
        let report = |date: &str, i: &ReportInput| decide_report(&Day::default(), d(date), i, &f);
        // SWEEP left the agency's catalog on the 20th.
        assert!(report("2026-11-19", &input("SWEEP", "08:00", "09:00")).is_err()); // closed anyway
        assert!(
            report("2026-11-20", &input("SWEEP", "08:00", "09:00"))
                .unwrap_err()
                .field()
                == Some("code")
        );
        assert_eq!(
            report("2026-11-22", &input("NOPE", "08:00", "09:00"))
                .unwrap_err()
                .field(),
            Some("code")
        );
        let mut no_photo = input("DRAIN", "08:00", "09:00");
        no_photo.evidence.clear();
        assert_eq!(
            report("2026-11-22", &no_photo).unwrap_err().field(),
            Some("evidence")
        );
        let mut no_place = input("DRAIN", "08:00", "09:00");
        no_place.location = None;
        assert_eq!(
            report("2026-11-22", &no_place).unwrap_err().field(),
            Some("location")
        );
        // General activities need neither.
        let mut apel = input("APEL", "07:00", "07:30");
        apel.evidence.clear();
        apel.location = None;
        assert!(report("2026-11-22", &apel).is_ok());
    }

    #[test]
    fn a_workers_activities_do_not_overlap_unless_rejected() {
        let env = Env::new();
        let mut day = Day::default();
        let first = env
            .report(&mut day, "2026-11-22", &input("DRAIN", "08:00", "10:00"))
            .unwrap();
        let clash = decide_report(
            &day,
            d("2026-11-22"),
            &input("APEL", "09:59", "10:30"),
            &env.facts(),
        );
        assert!(matches!(clash, Err(DomainError::FailedPrecondition(ref m)) if m.contains(&first)));
        // Touching is not overlapping.
        assert!(
            env.report(&mut day, "2026-11-22", &input("APEL", "10:00", "10:30"))
                .is_ok()
        );
        apply(&mut day, |day| {
            decide_review(
                day,
                &first,
                &Decision::Reject("salah".into()),
                "s1",
                ev::Timestamp::default(),
            )
        });
        assert!(
            env.report(&mut day, "2026-11-22", &input("DRAIN", "08:30", "09:30"))
                .is_ok()
        );
    }

    #[test]
    fn amendments_until_approval() {
        let mut env = Env::new();
        let mut day = Day::default();
        let id = env
            .report(&mut day, "2026-11-22", &input("DRAIN", "08:00", "10:00"))
            .unwrap();
        let other = env
            .report(&mut day, "2026-11-22", &input("APEL", "07:00", "07:30"))
            .unwrap();
        // Unchanged: nothing to store.
        assert!(
            decide_amend(&day, &id, &input("DRAIN", "08:00", "10:00"), &env.facts())
                .unwrap()
                .is_empty()
        );
        // May not move onto the other report, may move within its own time.
        assert!(matches!(
            decide_amend(&day, &id, &input("DRAIN", "07:15", "09:00"), &env.facts()),
            Err(DomainError::FailedPrecondition(_))
        ));
        let events = apply(&mut day, |day| {
            decide_amend(day, &id, &input("DRAIN", "08:30", "10:00"), &env.facts())
        });
        assert!(matches!(events.as_slice(), [Event::ActivityAmended(_)]));
        assert_eq!(day.report(&id).unwrap().details.start_minute, 510);
        // Returned reports stay amendable after the day closed; others do not.
        apply(&mut day, |day| {
            decide_review(
                day,
                &id,
                &Decision::Return("foto kurang".into()),
                "s1",
                ev::Timestamp::default(),
            )
        });
        env.today = d("2026-11-30");
        let events = apply(&mut day, |day| {
            decide_amend(day, &id, &input("DRAIN", "08:30", "09:45"), &env.facts())
        });
        assert_eq!(events.len(), 1);
        assert_eq!(day.report(&id).unwrap().status, Status::Submitted);
        assert!(matches!(
            decide_amend(&day, &other, &input("APEL", "07:00", "07:20"), &env.facts()),
            Err(DomainError::FailedPrecondition(_))
        ));
        // Approved is final.
        apply(&mut day, |day| {
            decide_review(day, &id, &Decision::Approve, "s1", ev::Timestamp::default())
        });
        assert!(matches!(
            decide_amend(&day, &id, &input("DRAIN", "08:30", "09:00"), &env.facts()),
            Err(DomainError::FailedPrecondition(m)) if m.contains("approved")
        ));
        assert!(matches!(
            decide_amend(
                &day,
                "nope",
                &input("DRAIN", "08:30", "09:00"),
                &env.facts()
            ),
            Err(DomainError::NotFound(_))
        ));
    }

    #[test]
    fn reviews_follow_the_life_cycle() {
        let env = Env::new();
        let mut day = Day::default();
        let id = env
            .report(&mut day, "2026-11-22", &input("DRAIN", "08:00", "10:00"))
            .unwrap();
        let at = ev::Timestamp::default();
        apply(&mut day, |day| {
            decide_review(day, &id, &Decision::Return("ulang".into()), "s1", at)
        });
        assert!(matches!(
            decide_review(&day, &id, &Decision::Approve, "s1", at),
            Err(DomainError::FailedPrecondition(m)) if m.contains("amend")
        ));
        apply(&mut day, |day| {
            decide_amend(day, &id, &input("DRAIN", "08:00", "09:00"), &env.facts())
        });
        let events = apply(&mut day, |day| {
            decide_review(day, &id, &Decision::Approve, "s1", at)
        });
        assert!(matches!(events.as_slice(), [Event::ActivityApproved(a)] if a.reviewer == "s1"));
        // Approving again is a no-op, anything else is refused.
        assert!(
            decide_review(&day, &id, &Decision::Approve, "s1", at)
                .unwrap()
                .is_empty()
        );
        assert!(decide_review(&day, &id, &Decision::Reject("x".into()), "s1", at).is_err());
        assert!(matches!(
            decide_review(&day, "missing", &Decision::Approve, "s1", at),
            Err(DomainError::NotFound(_))
        ));
    }

    #[test]
    fn decisions_need_reasons_to_refuse() {
        assert_eq!(
            Decision::parse(api::ReviewDecision::Approve, "").unwrap(),
            Decision::Approve
        );
        assert_eq!(
            Decision::parse(api::ReviewDecision::Reject, " salah "),
            Ok(Decision::Reject("salah".into()))
        );
        for d in [api::ReviewDecision::Reject, api::ReviewDecision::Return] {
            assert_eq!(
                Decision::parse(d, "  ").unwrap_err().field(),
                Some("reason")
            );
        }
        assert_eq!(
            Decision::parse(api::ReviewDecision::Unspecified, "")
                .unwrap_err()
                .field(),
            Some("decision")
        );
        assert_eq!(
            Decision::parse(api::ReviewDecision::Return, &"x".repeat(501))
                .unwrap_err()
                .field(),
            Some("reason")
        );
    }
}
