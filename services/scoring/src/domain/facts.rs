//! The facts a worker's month is scored from, and how events change them.
//!
//! Events of the identity, attendance and activity streams are first turned
//! into [`Change`]s (only what scoring needs, dates parsed), then folded into
//! a [`Ledger`], which answers with the [`MonthFacts`] of any worker-month.
//!
//! A worker-month is *tracked* once the ledger holds a dated fact of it (a
//! report, a check-in, a ceremony). [`Ledger::apply`] returns every tracked
//! worker-month a change may have altered, so re-evaluating exactly those
//! keeps a table of figures up to date. Untracked months (no fact of the
//! worker at all that month) depend only on identity, schedule and leave:
//! whoever needs them (closing a month) evaluates them afresh. Once tracked,
//! a month stays tracked, so a figure once shown is never left stale.
//!
//! A required date that does not parse drops the change rather than guess;
//! an optional one (joined_on, a deactivation's date) reads as unknown.
//! Events that refer to an unknown report, session or leave are ignored
//! (their origin was dropped or filtered away, see [`Ledger::for_month`]).

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use chrono_tz::Tz;
use pantau_proto::events::v1 as ev;

use super::Month;

/// The zone of agencies whose zone is unknown or unreadable.
pub const DEFAULT_TIME_ZONE: Tz = chrono_tz::Asia::Jakarta;

/// What an event changes in the facts scoring reads.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    Agency {
        agency_id: String,
        time_zone: String,
    },
    Worker {
        worker_id: String,
        agency_id: String,
        unit_id: String,
        pns: bool,
        joined_on: Option<NaiveDate>,
    },
    Transferred {
        worker_id: String,
        agency_id: String,
        unit_id: String,
    },
    Deactivated {
        worker_id: String,
        effective_on: Option<NaiveDate>,
    },
    /// ISO weekdays, 1 = Monday .. 7 = Sunday.
    Schedule {
        agency_id: String,
        work_days: Vec<u32>,
    },
    /// A new report, pending review.
    Report {
        report_id: String,
        worker_id: String,
        agency_id: String,
        unit_id: String,
        date: NaiveDate,
        code: String,
        quantity: f64,
        minutes: u32,
    },
    /// Details replaced; pending review again.
    Amended {
        report_id: String,
        code: String,
        quantity: f64,
        minutes: u32,
    },
    Approved {
        report_id: String,
    },
    /// Rejected or returned: no longer counts.
    Unapproved {
        report_id: String,
    },
    CheckIn {
        worker_id: String,
        agency_id: String,
        date: NaiveDate,
        late_minutes: u32,
    },
    Session {
        session_id: String,
        starts_at: DateTime<Utc>,
    },
    CeremonyScan {
        session_id: String,
        worker_id: String,
        agency_id: String,
    },
    LeaveRequested {
        leave_id: String,
        worker_id: String,
        first: NaiveDate,
        last: NaiveDate,
    },
    LeaveApproved {
        leave_id: String,
    },
}

fn date(s: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()
}

fn time(t: &ev::Timestamp) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp(t.seconds, u32::try_from(t.nanos).ok()?)
}

pub fn from_identity(e: &ev::identity_event::Event) -> Vec<Change> {
    use ev::identity_event::Event as E;
    match e {
        E::AgencyCreated(a) => vec![Change::Agency {
            agency_id: a.agency_id.clone(),
            time_zone: a.time_zone.clone(),
        }],
        // An optional date that does not parse reads as unknown: dropping
        // the whole registration would lose the worker.
        E::WorkerRegistered(w) => vec![Change::Worker {
            worker_id: w.worker_id.clone(),
            agency_id: w.agency_id.clone(),
            unit_id: w.unit_id.clone(),
            pns: w.kind() == ev::WorkerKind::Pns,
            joined_on: date(&w.joined_on),
        }],
        E::WorkerTransferred(t) => vec![Change::Transferred {
            worker_id: t.worker_id.clone(),
            agency_id: t.to_agency_id.clone(),
            unit_id: t.to_unit_id.clone(),
        }],
        E::WorkerDeactivated(d) => vec![Change::Deactivated {
            worker_id: d.worker_id.clone(),
            effective_on: date(&d.effective_on),
        }],
        _ => vec![],
    }
}

pub fn from_attendance(e: &ev::attendance_event::Event) -> Vec<Change> {
    use ev::attendance_event::Event as E;
    let change = match e {
        E::ScheduleSet(s) => Some(Change::Schedule {
            agency_id: s.agency_id.clone(),
            work_days: s.work_days.clone(),
        }),
        E::CheckedIn(c) => c.presence.as_ref().and_then(|p| {
            Some(Change::CheckIn {
                worker_id: p.worker_id.clone(),
                agency_id: p.agency_id.clone(),
                date: date(&p.local_date)?,
                late_minutes: p.late_minutes,
            })
        }),
        E::SessionOpened(s) => {
            s.starts_at
                .as_ref()
                .and_then(time)
                .map(|starts_at| Change::Session {
                    session_id: s.session_id.clone(),
                    starts_at,
                })
        }
        E::ScanAccepted(s) => Some(Change::CeremonyScan {
            session_id: s.session_id.clone(),
            worker_id: s.worker_id.clone(),
            agency_id: s.agency_id.clone(),
        }),
        E::LeaveRequested(l) => match (date(&l.first_day), date(&l.last_day)) {
            (Some(first), Some(last)) if first <= last => Some(Change::LeaveRequested {
                leave_id: l.leave_id.clone(),
                worker_id: l.worker_id.clone(),
                first,
                last,
            }),
            _ => None,
        },
        E::LeaveApproved(l) => Some(Change::LeaveApproved {
            leave_id: l.leave_id.clone(),
        }),
        _ => None,
    };
    change.into_iter().collect()
}

fn minutes(d: &ev::ActivityDetails) -> u32 {
    d.end_minute.saturating_sub(d.start_minute)
}

pub fn from_activity(e: &ev::activity_event::Event) -> Vec<Change> {
    use ev::activity_event::Event as E;
    let change = match e {
        E::ActivityReported(r) => date(&r.local_date).map(|date| {
            let d = r.details.clone().unwrap_or_default();
            Change::Report {
                report_id: r.report_id.clone(),
                worker_id: r.worker_id.clone(),
                agency_id: r.agency_id.clone(),
                unit_id: r.unit_id.clone(),
                date,
                minutes: minutes(&d),
                quantity: d.quantity,
                code: d.code,
            }
        }),
        E::ActivityAmended(a) => {
            let d = a.details.clone().unwrap_or_default();
            Some(Change::Amended {
                report_id: a.report_id.clone(),
                minutes: minutes(&d),
                quantity: d.quantity,
                code: d.code,
            })
        }
        E::ActivityApproved(a) => Some(Change::Approved {
            report_id: a.report_id.clone(),
        }),
        E::ActivityRejected(r) => Some(Change::Unapproved {
            report_id: r.report_id.clone(),
        }),
        E::ActivityReturned(r) => Some(Change::Unapproved {
            report_id: r.report_id.clone(),
        }),
        _ => None,
    };
    change.into_iter().collect()
}

#[derive(Debug, Clone, PartialEq)]
pub struct ActivityFact {
    pub report_id: String,
    pub date: NaiveDate,
    pub code: String,
    pub quantity: f64,
    pub minutes: u32,
    pub approved: bool,
}

/// A day with a check-in: the lateness of the day's FIRST check-in.
#[derive(Debug, Clone, PartialEq)]
pub struct DayFact {
    pub date: NaiveDate,
    pub late_minutes: u32,
}

/// Everything one worker's month is scored from.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MonthFacts {
    pub worker_id: String,
    /// The worker's current agency and unit.
    pub agency_id: String,
    pub unit_id: String,
    pub pns: bool,
    pub joined_on: Option<NaiveDate>,
    /// Deactivation's effective date: not employed from that day on.
    pub left_on: Option<NaiveDate>,
    /// The agency's schedule (ISO weekdays); empty = Monday-Friday.
    pub work_days: Vec<u32>,
    /// Of the month, any status (only approved ones count), sorted by
    /// date, code, report id.
    pub activities: Vec<ActivityFact>,
    /// Of the month, one per day, by date.
    pub check_ins: Vec<DayFact>,
    /// Local dates (zone of the agency the worker was scanned for) of the
    /// distinct sessions attended in the month, sorted.
    pub ceremonies: Vec<NaiveDate>,
    /// Approved leave ranges, inclusive, overlapping the month, sorted.
    pub leave: Vec<(NaiveDate, NaiveDate)>,
}

impl MonthFacts {
    pub fn is_workday(&self, day: NaiveDate) -> bool {
        let weekday = day.weekday().number_from_monday();
        if self.work_days.is_empty() {
            weekday <= 5
        } else {
            self.work_days.contains(&weekday)
        }
    }

    pub fn employed_on(&self, day: NaiveDate) -> bool {
        self.joined_on.is_none_or(|j| day >= j) && self.left_on.is_none_or(|l| day < l)
    }

    pub fn on_leave(&self, day: NaiveDate) -> bool {
        self.leave
            .iter()
            .any(|(first, last)| (*first..=*last).contains(&day))
    }
}

/// An IANA zone; unknown or empty ones read as Asia/Jakarta.
pub fn parse_tz(s: &str) -> Tz {
    s.parse().unwrap_or(DEFAULT_TIME_ZONE)
}

pub fn local_date(t: DateTime<Utc>, tz: Tz) -> NaiveDate {
    t.with_timezone(&tz).date_naive()
}

/// True once the month's last day has passed in `tz` (the local date of
/// `now` is after `month.last_day()`).
pub fn month_has_ended(month: Month, now: DateTime<Utc>, tz: Tz) -> bool {
    local_date(now, tz) > month.last_day()
}

pub use super::ledger::Ledger;

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use chrono::TimeZone;

    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().expect("a date")
    }

    fn m(s: &str) -> Month {
        Month::parse(s, "month").expect("a month")
    }

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .expect("a time")
            .with_timezone(&Utc)
    }

    fn pair(w: &str, month: &str) -> (String, Month) {
        (w.to_owned(), m(month))
    }

    fn worker(id: &str, agency: &str) -> Change {
        Change::Worker {
            worker_id: id.into(),
            agency_id: agency.into(),
            unit_id: "u1".into(),
            pns: true,
            joined_on: None,
        }
    }

    fn report(id: &str, w: &str, date: &str, code: &str, quantity: f64) -> Change {
        Change::Report {
            report_id: id.into(),
            worker_id: w.into(),
            agency_id: "dlh".into(),
            unit_id: "u1".into(),
            date: d(date),
            code: code.into(),
            quantity,
            minutes: 60,
        }
    }

    fn approved(id: &str) -> Change {
        Change::Approved {
            report_id: id.into(),
        }
    }

    fn check_in(w: &str, date: &str, late_minutes: u32) -> Change {
        Change::CheckIn {
            worker_id: w.into(),
            agency_id: "dlh".into(),
            date: d(date),
            late_minutes,
        }
    }

    fn session(id: &str, starts_at: &str) -> Change {
        Change::Session {
            session_id: id.into(),
            starts_at: utc(starts_at),
        }
    }

    fn scan(session: &str, w: &str, agency: &str) -> Change {
        Change::CeremonyScan {
            session_id: session.into(),
            worker_id: w.into(),
            agency_id: agency.into(),
        }
    }

    fn ledger(changes: &[Change]) -> Ledger {
        let mut l = Ledger::new();
        for c in changes {
            l.apply(c);
        }
        l
    }

    fn facts(l: &Ledger, w: &str, month: &str) -> MonthFacts {
        l.month_facts(w, m(month)).expect("a registered worker")
    }

    #[test]
    fn identity_events_give_agencies_workers_transfers_and_deactivations() {
        use ev::identity_event::Event as E;
        let agency = E::AgencyCreated(ev::AgencyCreated {
            agency_id: "dlh".into(),
            time_zone: "Asia/Makassar".into(),
            ..Default::default()
        });
        assert_eq!(
            from_identity(&agency),
            [Change::Agency {
                agency_id: "dlh".into(),
                time_zone: "Asia/Makassar".into()
            }]
        );
        let registered = |kind: ev::WorkerKind, joined_on: &str| {
            from_identity(&E::WorkerRegistered(ev::WorkerRegistered {
                worker_id: "w1".into(),
                kind: kind as i32,
                agency_id: "dlh".into(),
                unit_id: "u1".into(),
                joined_on: joined_on.into(),
                ..Default::default()
            }))
        };
        assert_eq!(
            registered(ev::WorkerKind::Pns, "2026-01-05"),
            [Change::Worker {
                worker_id: "w1".into(),
                agency_id: "dlh".into(),
                unit_id: "u1".into(),
                pns: true,
                joined_on: Some(d("2026-01-05")),
            }]
        );
        assert!(matches!(
            registered(ev::WorkerKind::Phl, "").as_slice(),
            [Change::Worker {
                pns: false,
                joined_on: None,
                ..
            }]
        ));
        let transferred = E::WorkerTransferred(ev::WorkerTransferred {
            worker_id: "w1".into(),
            from_agency_id: "dlh".into(),
            from_unit_id: "u1".into(),
            to_agency_id: "bappeda".into(),
            to_unit_id: "u9".into(),
            effective_on: "2026-03-01".into(),
        });
        assert_eq!(
            from_identity(&transferred),
            [Change::Transferred {
                worker_id: "w1".into(),
                agency_id: "bappeda".into(),
                unit_id: "u9".into()
            }]
        );
        let deactivated = E::WorkerDeactivated(ev::WorkerDeactivated {
            worker_id: "w1".into(),
            effective_on: "2026-04-15".into(),
            ..Default::default()
        });
        assert_eq!(
            from_identity(&deactivated),
            [Change::Deactivated {
                worker_id: "w1".into(),
                effective_on: Some(d("2026-04-15"))
            }]
        );
        let updated = E::WorkerUpdated(ev::WorkerUpdated::default());
        assert!(from_identity(&updated).is_empty());
    }

    #[test]
    fn attendance_events_give_schedules_check_ins_sessions_scans_and_leave() {
        use ev::attendance_event::Event as E;
        let presence = |local_date: &str| ev::Presence {
            worker_id: "w1".into(),
            agency_id: "dlh".into(),
            local_date: local_date.into(),
            late_minutes: 12,
            ..Default::default()
        };
        let checked_in = |local_date: &str| {
            from_attendance(&E::CheckedIn(ev::CheckedIn {
                presence: Some(presence(local_date)),
            }))
        };
        assert_eq!(checked_in("2026-03-02"), [check_in("w1", "2026-03-02", 12)]);
        assert!(checked_in("2026-03-32").is_empty());
        assert!(from_attendance(&E::CheckedIn(ev::CheckedIn { presence: None })).is_empty());
        let checked_out = E::CheckedOut(ev::CheckedOut {
            presence: Some(presence("2026-03-02")),
        });
        assert!(from_attendance(&checked_out).is_empty());
        let schedule = E::ScheduleSet(ev::ScheduleSet {
            agency_id: "dlh".into(),
            work_days: vec![1, 2, 3, 4, 5, 6],
            ..Default::default()
        });
        assert_eq!(
            from_attendance(&schedule),
            [Change::Schedule {
                agency_id: "dlh".into(),
                work_days: vec![1, 2, 3, 4, 5, 6]
            }]
        );
        let opened = E::SessionOpened(ev::SessionOpened {
            session_id: "s1".into(),
            starts_at: Some(ev::Timestamp {
                seconds: utc("2026-10-31T16:30:00Z").timestamp(),
                nanos: 0,
            }),
            ..Default::default()
        });
        assert_eq!(
            from_attendance(&opened),
            [session("s1", "2026-10-31T16:30:00Z")]
        );
        let scanned = E::ScanAccepted(ev::ScanAccepted {
            session_id: "s1".into(),
            worker_id: "w1".into(),
            agency_id: "dlh".into(),
            ..Default::default()
        });
        assert_eq!(from_attendance(&scanned), [scan("s1", "w1", "dlh")]);
        let requested = |first: &str, last: &str| {
            from_attendance(&E::LeaveRequested(ev::LeaveRequested {
                leave_id: "l1".into(),
                worker_id: "w1".into(),
                first_day: first.into(),
                last_day: last.into(),
                ..Default::default()
            }))
        };
        assert_eq!(
            requested("2026-03-02", "2026-03-04"),
            [Change::LeaveRequested {
                leave_id: "l1".into(),
                worker_id: "w1".into(),
                first: d("2026-03-02"),
                last: d("2026-03-04")
            }]
        );
        assert!(requested("2026-03-04", "2026-03-02").is_empty());
        assert!(requested("2026-03-04", "soon").is_empty());
        let leave_approved = E::LeaveApproved(ev::LeaveApproved {
            leave_id: "l1".into(),
            ..Default::default()
        });
        assert_eq!(
            from_attendance(&leave_approved),
            [Change::LeaveApproved {
                leave_id: "l1".into()
            }]
        );
        let rejected = E::ScanRejected(ev::ScanRejected::default());
        assert!(from_attendance(&rejected).is_empty());
    }

    #[test]
    fn activity_events_give_reports_amendments_and_review_outcomes() {
        use ev::activity_event::Event as E;
        let details = ev::ActivityDetails {
            code: "DRAIN".into(),
            quantity: 2.5,
            start_minute: 480,
            end_minute: 570,
            ..Default::default()
        };
        let reported = |local_date: &str| {
            from_activity(&E::ActivityReported(ev::ActivityReported {
                report_id: "r1".into(),
                worker_id: "w1".into(),
                agency_id: "dlh".into(),
                unit_id: "u1".into(),
                local_date: local_date.into(),
                details: Some(details.clone()),
                ..Default::default()
            }))
        };
        assert_eq!(
            reported("2026-03-02"),
            [Change::Report {
                report_id: "r1".into(),
                worker_id: "w1".into(),
                agency_id: "dlh".into(),
                unit_id: "u1".into(),
                date: d("2026-03-02"),
                code: "DRAIN".into(),
                quantity: 2.5,
                minutes: 90,
            }]
        );
        assert!(reported("02/03/2026").is_empty());
        let amended = E::ActivityAmended(ev::ActivityAmended {
            report_id: "r1".into(),
            details: Some(details),
            ..Default::default()
        });
        assert_eq!(
            from_activity(&amended),
            [Change::Amended {
                report_id: "r1".into(),
                code: "DRAIN".into(),
                quantity: 2.5,
                minutes: 90
            }]
        );
        let approved_event = E::ActivityApproved(ev::ActivityApproved {
            report_id: "r1".into(),
            ..Default::default()
        });
        assert_eq!(from_activity(&approved_event), [approved("r1")]);
        let unapproved = [Change::Unapproved {
            report_id: "r1".into(),
        }];
        let rejected = E::ActivityRejected(ev::ActivityRejected {
            report_id: "r1".into(),
            ..Default::default()
        });
        let returned = E::ActivityReturned(ev::ActivityReturned {
            report_id: "r1".into(),
            ..Default::default()
        });
        assert_eq!(from_activity(&rejected), unapproved);
        assert_eq!(from_activity(&returned), unapproved);
        let rated = E::BehaviourRated(ev::BehaviourRated::default());
        assert!(from_activity(&rated).is_empty());
    }

    #[test]
    fn an_unknown_time_zone_reads_as_jakarta() {
        assert_eq!(parse_tz("Asia/Jayapura"), chrono_tz::Asia::Jayapura);
        assert_eq!(parse_tz(""), chrono_tz::Asia::Jakarta);
        assert_eq!(parse_tz("Mars/Olympus"), chrono_tz::Asia::Jakarta);
        assert_eq!(Ledger::new().time_zone("nowhere"), chrono_tz::Asia::Jakarta);
    }

    #[test]
    fn a_month_ends_at_local_midnight_of_its_last_day_in_each_zone() {
        let october = m("2026-10");
        // (zone, its UTC offset in hours)
        let zones = [
            (chrono_tz::Asia::Jakarta, 7),
            (chrono_tz::Asia::Makassar, 8),
            (chrono_tz::Asia::Jayapura, 9),
        ];
        for (tz, offset) in zones {
            let midnight = tz
                .with_ymd_and_hms(2026, 11, 1, 0, 0, 0)
                .single()
                .expect("a local midnight")
                .with_timezone(&Utc);
            assert_eq!(
                midnight,
                utc("2026-11-01T00:00:00Z") - chrono::Duration::hours(offset)
            );
            let just_before = midnight - chrono::Duration::seconds(1);
            assert_eq!(local_date(just_before, tz), d("2026-10-31"), "{tz}");
            assert_eq!(local_date(midnight, tz), d("2026-11-01"), "{tz}");
            assert!(!month_has_ended(october, just_before, tz), "{tz}");
            assert!(month_has_ended(october, midnight, tz), "{tz}");
        }
        // 16:30 UTC on the 31st: still October in Jakarta, November further east.
        let t = utc("2026-10-31T16:30:00Z");
        assert!(!month_has_ended(october, t, chrono_tz::Asia::Jakarta));
        assert!(month_has_ended(october, t, chrono_tz::Asia::Makassar));
        assert!(month_has_ended(october, t, chrono_tz::Asia::Jayapura));
    }

    #[test]
    fn a_ceremony_late_on_the_31st_falls_in_the_next_month_for_a_worker_further_east() {
        let mut l = ledger(&[
            Change::Agency {
                agency_id: "jkt".into(),
                time_zone: "Asia/Jakarta".into(),
            },
            Change::Agency {
                agency_id: "mks".into(),
                time_zone: "Asia/Makassar".into(),
            },
            Change::Agency {
                agency_id: "jyp".into(),
                time_zone: "Asia/Jayapura".into(),
            },
            worker("w-jkt", "jkt"),
            worker("w-mks", "mks"),
            worker("w-jyp", "jyp"),
            // 23:30 WIB on 31 October.
            session("s1", "2026-10-31T16:30:00Z"),
        ]);
        assert_eq!(
            l.apply(&scan("s1", "w-jkt", "jkt")),
            [pair("w-jkt", "2026-10")]
        );
        assert_eq!(
            l.apply(&scan("s1", "w-mks", "mks")),
            [pair("w-mks", "2026-11")]
        );
        assert_eq!(
            l.apply(&scan("s1", "w-jyp", "jyp")),
            [pair("w-jyp", "2026-11")]
        );
        assert_eq!(facts(&l, "w-jkt", "2026-10").ceremonies, [d("2026-10-31")]);
        assert!(facts(&l, "w-jkt", "2026-11").ceremonies.is_empty());
        assert!(facts(&l, "w-mks", "2026-10").ceremonies.is_empty());
        assert_eq!(facts(&l, "w-mks", "2026-11").ceremonies, [d("2026-11-01")]);
        assert_eq!(facts(&l, "w-jyp", "2026-11").ceremonies, [d("2026-11-01")]);
    }

    #[test]
    fn a_worker_scanned_twice_in_one_session_attends_it_once() {
        let mut l = ledger(&[
            worker("w1", "dlh"),
            session("s1", "2026-03-02T01:00:00Z"),
            session("s2", "2026-03-02T08:00:00Z"),
        ]);
        assert_eq!(l.apply(&scan("s1", "w1", "dlh")).len(), 1);
        assert!(l.apply(&scan("s1", "w1", "dlh")).is_empty());
        l.apply(&scan("s2", "w1", "dlh"));
        assert_eq!(
            facts(&l, "w1", "2026-03").ceremonies,
            [d("2026-03-02"), d("2026-03-02")]
        );
    }

    #[test]
    fn an_amendment_after_approval_makes_the_report_pending_again() {
        let mut l = ledger(&[
            worker("w1", "dlh"),
            report("r1", "w1", "2026-03-02", "DRAIN", 2.0),
            approved("r1"),
        ]);
        assert!(facts(&l, "w1", "2026-03").activities[0].approved);
        let touched = l.apply(&Change::Amended {
            report_id: "r1".into(),
            code: "SWEEP".into(),
            quantity: 3.0,
            minutes: 45,
        });
        assert_eq!(touched, [pair("w1", "2026-03")]);
        assert_eq!(
            facts(&l, "w1", "2026-03").activities,
            [ActivityFact {
                report_id: "r1".into(),
                date: d("2026-03-02"),
                code: "SWEEP".into(),
                quantity: 3.0,
                minutes: 45,
                approved: false,
            }]
        );
    }

    #[test]
    fn a_rejection_or_return_after_approval_takes_the_report_out_of_the_count() {
        let mut l = ledger(&[
            worker("w1", "dlh"),
            report("r1", "w1", "2026-03-02", "DRAIN", 2.0),
            approved("r1"),
        ]);
        let touched = l.apply(&Change::Unapproved {
            report_id: "r1".into(),
        });
        assert_eq!(touched, [pair("w1", "2026-03")]);
        assert!(!facts(&l, "w1", "2026-03").activities[0].approved);
    }

    #[test]
    fn a_second_check_in_of_the_day_keeps_the_first_ones_lateness() {
        let mut l = ledger(&[worker("w1", "dlh")]);
        assert_eq!(
            l.apply(&check_in("w1", "2026-03-02", 0)),
            [pair("w1", "2026-03")]
        );
        assert!(l.apply(&check_in("w1", "2026-03-02", 45)).is_empty());
        l.apply(&check_in("w1", "2026-03-03", 45));
        assert_eq!(
            facts(&l, "w1", "2026-03").check_ins,
            [
                DayFact {
                    date: d("2026-03-02"),
                    late_minutes: 0
                },
                DayFact {
                    date: d("2026-03-03"),
                    late_minutes: 45
                }
            ]
        );
    }

    #[test]
    fn events_about_unknown_reports_sessions_and_leave_are_ignored() {
        let mut l = ledger(&[worker("w1", "dlh")]);
        let ignored = [
            approved("nope"),
            Change::Unapproved {
                report_id: "nope".into(),
            },
            Change::Amended {
                report_id: "nope".into(),
                code: "X".into(),
                quantity: 1.0,
                minutes: 1,
            },
            scan("no-session", "w1", "dlh"),
            Change::LeaveApproved {
                leave_id: "no-leave".into(),
            },
            Change::Transferred {
                worker_id: "stranger".into(),
                agency_id: "dlh".into(),
                unit_id: "u1".into(),
            },
            Change::Deactivated {
                worker_id: "stranger".into(),
                effective_on: Some(d("2026-03-01")),
            },
        ];
        for c in &ignored {
            assert!(l.apply(c).is_empty(), "{c:?}");
        }
        assert_eq!(
            facts(&l, "w1", "2026-03"),
            MonthFacts {
                worker_id: "w1".into(),
                agency_id: "dlh".into(),
                unit_id: "u1".into(),
                pns: true,
                ..Default::default()
            }
        );
        assert!(l.worker_months().is_empty());
        assert_eq!(l.month_facts("stranger", m("2026-03")), None);
    }

    #[test]
    fn a_report_delivered_twice_keeps_its_first_details() {
        let mut l = ledger(&[
            worker("w1", "dlh"),
            report("r1", "w1", "2026-03-02", "DRAIN", 2.0),
        ]);
        assert!(
            l.apply(&report("r1", "w1", "2026-03-09", "SWEEP", 9.0))
                .is_empty()
        );
        let f = facts(&l, "w1", "2026-03");
        assert_eq!(f.activities.len(), 1);
        assert_eq!(
            (f.activities[0].date, f.activities[0].quantity),
            (d("2026-03-02"), 2.0)
        );
    }

    #[test]
    fn a_month_keeps_its_facts_sorted_and_leaves_other_months_alone() {
        let l = ledger(&[
            worker("w1", "dlh"),
            report("r2", "w1", "2026-03-09", "SWEEP", 1.0),
            report("r3", "w1", "2026-03-02", "SWEEP", 1.0),
            report("r1", "w1", "2026-03-09", "APEL", 1.0),
            report("r4", "w1", "2026-04-01", "APEL", 1.0),
            check_in("w1", "2026-03-31", 0),
            check_in("w1", "2026-04-01", 0),
        ]);
        let march = facts(&l, "w1", "2026-03");
        let ids: Vec<_> = march
            .activities
            .iter()
            .map(|a| a.report_id.as_str())
            .collect();
        assert_eq!(ids, ["r3", "r1", "r2"]);
        assert_eq!(march.check_ins.len(), 1);
        assert_eq!(facts(&l, "w1", "2026-04").activities.len(), 1);
        assert_eq!(
            l.worker_months(),
            [pair("w1", "2026-03"), pair("w1", "2026-04")]
        );
    }

    #[test]
    fn a_ledger_for_one_month_keeps_only_that_months_dated_facts() {
        let mut l = Ledger::for_month(m("2026-03"));
        let changes = [
            Change::Agency {
                agency_id: "dlh".into(),
                time_zone: "Asia/Jayapura".into(),
            },
            worker("w1", "dlh"),
            report("feb", "w1", "2026-02-27", "DRAIN", 1.0),
            report("mar", "w1", "2026-03-02", "DRAIN", 1.0),
            report("apr", "w1", "2026-04-01", "DRAIN", 1.0),
            approved("feb"),
            approved("mar"),
            approved("apr"),
            check_in("w1", "2026-02-27", 0),
            check_in("w1", "2026-03-02", 5),
            // 23:00 on 28 February in Jayapura.
            session("feb-late", "2026-02-28T14:00:00Z"),
            // 2026-02-28 15:30 UTC is 1 March 00:30 in Jayapura.
            session("mar-first", "2026-02-28T15:30:00Z"),
            session("long-ago", "2026-01-10T02:00:00Z"),
            scan("feb-late", "w1", "dlh"),
            scan("mar-first", "w1", "dlh"),
            scan("long-ago", "w1", "dlh"),
            Change::LeaveRequested {
                leave_id: "l1".into(),
                worker_id: "w1".into(),
                first: d("2026-02-26"),
                last: d("2026-03-03"),
            },
            Change::LeaveApproved {
                leave_id: "l1".into(),
            },
        ];
        let touched: BTreeSet<_> = changes.iter().flat_map(|c| l.apply(c)).collect();
        assert_eq!(
            touched.into_iter().collect::<Vec<_>>(),
            [pair("w1", "2026-03")]
        );
        let f = facts(&l, "w1", "2026-03");
        let ids: Vec<_> = f.activities.iter().map(|a| a.report_id.as_str()).collect();
        assert_eq!(ids, ["mar"]);
        assert!(f.activities[0].approved);
        assert_eq!(
            f.check_ins,
            [DayFact {
                date: d("2026-03-02"),
                late_minutes: 5
            }]
        );
        assert_eq!(f.ceremonies, [d("2026-03-01")]);
        assert_eq!(f.leave, [(d("2026-02-26"), d("2026-03-03"))]);
        assert_eq!(l.worker_months(), [pair("w1", "2026-03")]);
        // Identity is kept whole: other months know the worker, not the facts.
        assert!(facts(&l, "w1", "2026-02").activities.is_empty());
    }

    #[test]
    fn facts_of_a_worker_registered_later_come_back_when_it_is() {
        let mut l = Ledger::new();
        assert!(
            l.apply(&report("r1", "w1", "2026-03-02", "DRAIN", 1.0))
                .is_empty()
        );
        assert!(l.apply(&check_in("w1", "2026-04-01", 0)).is_empty());
        assert_eq!(l.month_facts("w1", m("2026-03")), None);
        assert_eq!(
            l.apply(&worker("w1", "dlh")),
            [pair("w1", "2026-03"), pair("w1", "2026-04")]
        );
        assert_eq!(facts(&l, "w1", "2026-03").activities.len(), 1);
    }

    #[test]
    fn identity_and_schedule_changes_touch_every_tracked_month_of_the_workers_concerned() {
        let mut l = ledger(&[
            worker("w1", "dlh"),
            worker("w2", "dlh"),
            worker("w3", "bappeda"),
            check_in("w1", "2026-03-02", 0),
            check_in("w1", "2026-04-01", 0),
            check_in("w2", "2026-03-02", 0),
            check_in("w3", "2026-03-02", 0),
        ]);
        let schedule = Change::Schedule {
            agency_id: "dlh".into(),
            work_days: vec![1, 2, 3, 4, 5, 6],
        };
        assert_eq!(
            l.apply(&schedule),
            [
                pair("w1", "2026-03"),
                pair("w1", "2026-04"),
                pair("w2", "2026-03")
            ]
        );
        assert_eq!(facts(&l, "w2", "2026-03").work_days, [1, 2, 3, 4, 5, 6]);
        assert!(facts(&l, "w3", "2026-03").work_days.is_empty());
        let transfer = Change::Transferred {
            worker_id: "w2".into(),
            agency_id: "bappeda".into(),
            unit_id: "u7".into(),
        };
        assert_eq!(l.apply(&transfer), [pair("w2", "2026-03")]);
        let f = facts(&l, "w2", "2026-03");
        assert_eq!(
            (f.agency_id.as_str(), f.unit_id.as_str()),
            ("bappeda", "u7")
        );
        assert!(f.work_days.is_empty());
        assert_eq!(l.workers_of("dlh"), ["w1"]);
        assert_eq!(l.workers_of("bappeda"), ["w2", "w3"]);
        let leaving = Change::Deactivated {
            worker_id: "w1".into(),
            effective_on: Some(d("2026-04-15")),
        };
        assert_eq!(
            l.apply(&leaving),
            [pair("w1", "2026-03"), pair("w1", "2026-04")]
        );
        assert_eq!(facts(&l, "w1", "2026-04").left_on, Some(d("2026-04-15")));
        let undated = Change::Deactivated {
            worker_id: "w1".into(),
            effective_on: None,
        };
        assert!(l.apply(&undated).is_empty());
        assert_eq!(facts(&l, "w1", "2026-04").left_on, Some(d("2026-04-15")));
    }

    #[test]
    fn approved_leave_counts_and_touches_the_months_it_overlaps() {
        let mut l = ledger(&[
            worker("w1", "dlh"),
            check_in("w1", "2026-03-02", 0),
            check_in("w1", "2026-05-04", 0),
        ]);
        let requested = Change::LeaveRequested {
            leave_id: "l1".into(),
            worker_id: "w1".into(),
            first: d("2026-03-30"),
            last: d("2026-04-02"),
        };
        assert!(l.apply(&requested).is_empty());
        assert!(facts(&l, "w1", "2026-03").leave.is_empty());
        let approve = Change::LeaveApproved {
            leave_id: "l1".into(),
        };
        assert_eq!(l.apply(&approve), [pair("w1", "2026-03")]);
        assert!(l.apply(&approve).is_empty());
        let range = (d("2026-03-30"), d("2026-04-02"));
        assert_eq!(facts(&l, "w1", "2026-03").leave, [range]);
        assert_eq!(facts(&l, "w1", "2026-04").leave, [range]);
        assert!(facts(&l, "w1", "2026-05").leave.is_empty());
        assert!(facts(&l, "w1", "2026-03").on_leave(d("2026-03-31")));
        assert!(!facts(&l, "w1", "2026-03").on_leave(d("2026-03-29")));
    }

    #[test]
    fn an_agencys_zone_arriving_late_re_dates_its_ceremonies() {
        let mut l = ledger(&[
            worker("w1", "mks"),
            session("s1", "2026-10-31T16:30:00Z"),
            scan("s1", "w1", "mks"),
        ]);
        assert_eq!(facts(&l, "w1", "2026-10").ceremonies, [d("2026-10-31")]);
        let zone = Change::Agency {
            agency_id: "mks".into(),
            time_zone: "Asia/Makassar".into(),
        };
        assert_eq!(
            l.apply(&zone),
            [pair("w1", "2026-10"), pair("w1", "2026-11")]
        );
        assert!(facts(&l, "w1", "2026-10").ceremonies.is_empty());
        assert_eq!(facts(&l, "w1", "2026-11").ceremonies, [d("2026-11-01")]);
    }

    #[test]
    fn workdays_default_to_monday_to_friday_and_employment_bounds_are_half_open() {
        let mut f = MonthFacts {
            joined_on: Some(d("2026-03-04")),
            left_on: Some(d("2026-03-20")),
            ..Default::default()
        };
        // 2026-03-06 is a Friday.
        assert!(f.is_workday(d("2026-03-06")) && !f.is_workday(d("2026-03-07")));
        f.work_days = vec![6];
        assert!(!f.is_workday(d("2026-03-06")) && f.is_workday(d("2026-03-07")));
        assert!(!f.employed_on(d("2026-03-03")));
        assert!(f.employed_on(d("2026-03-04")));
        assert!(f.employed_on(d("2026-03-19")));
        assert!(!f.employed_on(d("2026-03-20")));
    }
}
