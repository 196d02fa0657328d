//! The facts a worker's month is scored from, and how events change them.
//!
//! Events of the identity, attendance and activity streams are first turned
//! into [`Change`]s (only what scoring needs, dates parsed), then folded into
//! a [`Ledger`], which answers with the [`MonthFacts`] of any worker-month.
//!
//! A worker-month is *tracked* once the ledger holds a dated fact of it (a
//! report, a check-in, a ceremony). [`Ledger::apply`] returns every tracked
//! worker-month a change may have altered, so re-evaluating exactly those
//! keeps a table of figures up to date. Untracked months (a worker with no
//! fact at all that month) depend only on identity, schedule and leave: whoever
//! needs them (closing a month) evaluates them afresh. Once tracked, a month
//! stays tracked, so a figure once shown is never silently left stale.
//!
//! Dates that do not parse drop the change rather than guess; events that
//! refer to an unknown report, session or leave are ignored (their origin
//! was dropped or filtered away, see [`Ledger::for_month`]).

use std::collections::{BTreeMap, BTreeSet, HashMap};

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
        E::SessionOpened(s) => s.starts_at.as_ref().and_then(time).map(|starts_at| {
            Change::Session {
                session_id: s.session_id.clone(),
                starts_at,
            }
        }),
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
        self.leave.iter().any(|(first, last)| (*first..=*last).contains(&day))
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

#[derive(Debug, Clone)]
struct Worker {
    agency_id: String,
    unit_id: String,
    pns: bool,
    joined_on: Option<NaiveDate>,
    left_on: Option<NaiveDate>,
}

#[derive(Debug, Clone)]
struct Report {
    worker_id: String,
    date: NaiveDate,
    code: String,
    quantity: f64,
    minutes: u32,
    approved: bool,
}

#[derive(Debug, Clone)]
struct Leave {
    worker_id: String,
    first: NaiveDate,
    last: NaiveDate,
    approved: bool,
}

/// The facts in memory, as a rebuild replays them from the event history
/// (the live service keeps the same facts in PostgreSQL).
#[derive(Debug, Default)]
pub struct Ledger {
    /// Set by `for_month`: dated facts of other months are dropped.
    only: Option<Month>,
    agencies: HashMap<String, Tz>,
    schedules: HashMap<String, Vec<u32>>,
    workers: HashMap<String, Worker>,
    reports: HashMap<String, Report>,
    /// Worker -> month -> report ids.
    reports_of: HashMap<String, BTreeMap<Month, Vec<String>>>,
    /// Worker -> day -> lateness of the first check-in.
    check_ins: HashMap<String, BTreeMap<NaiveDate, u32>>,
    sessions: HashMap<String, DateTime<Utc>>,
    /// Worker -> session -> the agency the scan was for.
    scans: HashMap<String, BTreeMap<String, String>>,
    leaves: HashMap<String, Leave>,
    leaves_of: HashMap<String, Vec<String>>,
    /// Worker -> tracked months (see the module doc).
    tracked: HashMap<String, BTreeSet<Month>>,
}

impl Ledger {
    pub fn new() -> Self {
        Self::default()
    }

    /// Keeps only dated facts (reports, check-ins, ceremonies) of `month`;
    /// identity, sessions and leave are always kept. For rebuilding one
    /// month from the whole history with little memory; `month_facts` of
    /// other months is then incomplete.
    pub fn for_month(month: Month) -> Self {
        Self {
            only: Some(month),
            ..Self::default()
        }
    }

    fn keeps(&self, month: Month) -> bool {
        self.only.is_none_or(|m| m == month)
    }

    /// Tracks the worker-month; the pair to re-evaluate if the worker is
    /// registered (an unregistered worker's months come back when it is).
    fn touch(&mut self, worker_id: &str, month: Month) -> Vec<(String, Month)> {
        if !self.keeps(month) {
            return vec![];
        }
        self.tracked
            .entry(worker_id.to_owned())
            .or_default()
            .insert(month);
        if self.workers.contains_key(worker_id) {
            vec![(worker_id.to_owned(), month)]
        } else {
            vec![]
        }
    }

    /// Every tracked month of a registered worker.
    fn months_of(&self, worker_id: &str) -> Vec<(String, Month)> {
        if !self.workers.contains_key(worker_id) {
            return vec![];
        }
        self.tracked
            .get(worker_id)
            .into_iter()
            .flatten()
            .map(|m| (worker_id.to_owned(), *m))
            .collect()
    }

    /// A zone or the worker's agency changed: ceremonies may now fall in
    /// another month, which becomes tracked.
    fn retrack_ceremonies(&mut self, worker_id: &str) {
        let months: Vec<Month> = self
            .scans
            .get(worker_id)
            .into_iter()
            .flatten()
            .filter_map(|(session, agency)| self.ceremony_date(worker_id, session, agency))
            .map(Month::of)
            .filter(|m| self.keeps(*m))
            .collect();
        if !months.is_empty() {
            self.tracked
                .entry(worker_id.to_owned())
                .or_default()
                .extend(months);
        }
    }

    /// A ceremony is on the local date of its start in the zone of the
    /// agency the worker was scanned for (their agency then), else their
    /// current one.
    fn ceremony_date(&self, worker_id: &str, session_id: &str, agency_id: &str) -> Option<NaiveDate> {
        let starts_at = *self.sessions.get(session_id)?;
        let agency = if agency_id.is_empty() {
            self.workers.get(worker_id).map_or("", |w| w.agency_id.as_str())
        } else {
            agency_id
        };
        Some(local_date(starts_at, self.time_zone(agency)))
    }

    /// Applies a change; returns the (worker_id, month) pairs whose
    /// `MonthFacts` may have changed among the tracked ones of registered
    /// workers (see the module doc), sorted.
    pub fn apply(&mut self, c: &Change) -> Vec<(String, Month)> {
        let mut touched = match c {
            Change::Agency {
                agency_id,
                time_zone,
            } => {
                self.agencies.insert(agency_id.clone(), parse_tz(time_zone));
                // Only ceremony dates depend on zones, and a scan names
                // its agency: re-date every worker's ceremonies.
                let with_scans: Vec<String> = self.scans.keys().cloned().collect();
                with_scans
                    .iter()
                    .flat_map(|w| {
                        self.retrack_ceremonies(w);
                        self.months_of(w)
                    })
                    .collect()
            }
            Change::Worker {
                worker_id,
                agency_id,
                unit_id,
                pns,
                joined_on,
            } => {
                let left_on = self.workers.get(worker_id).and_then(|w| w.left_on);
                self.workers.insert(
                    worker_id.clone(),
                    Worker {
                        agency_id: agency_id.clone(),
                        unit_id: unit_id.clone(),
                        pns: *pns,
                        joined_on: *joined_on,
                        left_on,
                    },
                );
                self.retrack_ceremonies(worker_id);
                self.months_of(worker_id)
            }
            Change::Transferred {
                worker_id,
                agency_id,
                unit_id,
            } => match self.workers.get_mut(worker_id) {
                Some(w) => {
                    w.agency_id.clone_from(agency_id);
                    w.unit_id.clone_from(unit_id);
                    self.retrack_ceremonies(worker_id);
                    self.months_of(worker_id)
                }
                None => vec![],
            },
            Change::Deactivated {
                worker_id,
                effective_on,
            } => match (self.workers.get_mut(worker_id), effective_on) {
                // Without a date a deactivation cannot be placed in time.
                (Some(w), Some(on)) => {
                    w.left_on = Some(*on);
                    self.months_of(worker_id)
                }
                _ => vec![],
            },
            Change::Schedule {
                agency_id,
                work_days,
            } => {
                self.schedules.insert(agency_id.clone(), work_days.clone());
                let mut of_agency: Vec<String> = self
                    .workers
                    .iter()
                    .filter(|(_, w)| &w.agency_id == agency_id)
                    .map(|(id, _)| id.clone())
                    .collect();
                of_agency.sort();
                of_agency.iter().flat_map(|w| self.months_of(w)).collect()
            }
            Change::Report {
                report_id,
                worker_id,
                date,
                code,
                quantity,
                minutes,
                ..
            } => {
                let month = Month::of(*date);
                if self.reports.contains_key(report_id) || !self.keeps(month) {
                    return vec![];
                }
                self.reports.insert(
                    report_id.clone(),
                    Report {
                        worker_id: worker_id.clone(),
                        date: *date,
                        code: code.clone(),
                        quantity: *quantity,
                        minutes: *minutes,
                        approved: false,
                    },
                );
                self.reports_of
                    .entry(worker_id.clone())
                    .or_default()
                    .entry(month)
                    .or_default()
                    .push(report_id.clone());
                self.touch(worker_id, month)
            }
            Change::Amended {
                report_id,
                code,
                quantity,
                minutes,
            } => self.update_report(report_id, |r| {
                r.code.clone_from(code);
                r.quantity = *quantity;
                r.minutes = *minutes;
                r.approved = false;
            }),
            Change::Approved { report_id } => self.update_report(report_id, |r| r.approved = true),
            Change::Unapproved { report_id } => {
                self.update_report(report_id, |r| r.approved = false)
            }
            Change::CheckIn {
                worker_id,
                date,
                late_minutes,
                ..
            } => {
                let month = Month::of(*date);
                if !self.keeps(month) {
                    return vec![];
                }
                let days = self.check_ins.entry(worker_id.clone()).or_default();
                if days.contains_key(date) {
                    return vec![];
                }
                days.insert(*date, *late_minutes);
                self.touch(worker_id, month)
            }
            Change::Session {
                session_id,
                starts_at,
            } => {
                self.sessions.entry(session_id.clone()).or_insert(*starts_at);
                vec![]
            }
            Change::CeremonyScan {
                session_id,
                worker_id,
                agency_id,
            } => self.scan(session_id, worker_id, agency_id),
            Change::LeaveRequested {
                leave_id,
                worker_id,
                first,
                last,
            } => {
                if !self.leaves.contains_key(leave_id) {
                    self.leaves.insert(
                        leave_id.clone(),
                        Leave {
                            worker_id: worker_id.clone(),
                            first: *first,
                            last: *last,
                            approved: false,
                        },
                    );
                    self.leaves_of
                        .entry(worker_id.clone())
                        .or_default()
                        .push(leave_id.clone());
                }
                vec![]
            }
            Change::LeaveApproved { leave_id } => match self.leaves.get_mut(leave_id) {
                Some(l) if !l.approved => {
                    l.approved = true;
                    let (first, last) = (Month::of(l.first), Month::of(l.last));
                    let worker_id = l.worker_id.clone();
                    self.months_of(&worker_id)
                        .into_iter()
                        .filter(|(_, m)| (first..=last).contains(m))
                        .collect()
                }
                _ => vec![],
            },
        };
        touched.sort();
        touched.dedup();
        touched
    }

    fn update_report(&mut self, report_id: &str, f: impl FnOnce(&mut Report)) -> Vec<(String, Month)> {
        let Some(r) = self.reports.get_mut(report_id) else {
            return vec![];
        };
        f(r);
        let (worker_id, month) = (r.worker_id.clone(), Month::of(r.date));
        self.touch(&worker_id, month)
    }

    fn scan(&mut self, session_id: &str, worker_id: &str, agency_id: &str) -> Vec<(String, Month)> {
        let Some(starts_at) = self.sessions.get(session_id) else {
            return vec![];
        };
        // Zones lie within a day of UTC, so a session more than a day
        // outside the month can never fall in it, whatever zone applies.
        if let Some(m) = self.only {
            let day = starts_at.date_naive();
            let before = m.first_day().pred_opt().unwrap_or(NaiveDate::MIN);
            let after = m.last_day().succ_opt().unwrap_or(NaiveDate::MAX);
            if !(before..=after).contains(&day) {
                return vec![];
            }
        }
        let sessions = self.scans.entry(worker_id.to_owned()).or_default();
        if sessions.contains_key(session_id) {
            return vec![];
        }
        sessions.insert(session_id.to_owned(), agency_id.to_owned());
        match self.ceremony_date(worker_id, session_id, agency_id) {
            Some(day) => self.touch(worker_id, Month::of(day)),
            None => vec![],
        }
    }

    /// None when the worker was never registered.
    pub fn month_facts(&self, worker_id: &str, month: Month) -> Option<MonthFacts> {
        let w = self.workers.get(worker_id)?;
        let mut activities: Vec<ActivityFact> = self
            .reports_of
            .get(worker_id)
            .and_then(|by_month| by_month.get(&month))
            .into_iter()
            .flatten()
            .filter_map(|id| {
                let r = self.reports.get(id)?;
                Some(ActivityFact {
                    report_id: id.clone(),
                    date: r.date,
                    code: r.code.clone(),
                    quantity: r.quantity,
                    minutes: r.minutes,
                    approved: r.approved,
                })
            })
            .collect();
        activities.sort_by(|a, b| {
            (a.date, &a.code, &a.report_id).cmp(&(b.date, &b.code, &b.report_id))
        });
        let check_ins = self
            .check_ins
            .get(worker_id)
            .into_iter()
            .flat_map(|days| days.range(month.first_day()..=month.last_day()))
            .map(|(date, late)| DayFact {
                date: *date,
                late_minutes: *late,
            })
            .collect();
        let mut ceremonies: Vec<NaiveDate> = self
            .scans
            .get(worker_id)
            .into_iter()
            .flatten()
            .filter_map(|(session, agency)| self.ceremony_date(worker_id, session, agency))
            .filter(|d| month.contains(*d))
            .collect();
        ceremonies.sort();
        let mut leave: Vec<(NaiveDate, NaiveDate)> = self
            .leaves_of
            .get(worker_id)
            .into_iter()
            .flatten()
            .filter_map(|id| self.leaves.get(id))
            .filter(|l| l.approved && l.first <= month.last_day() && l.last >= month.first_day())
            .map(|l| (l.first, l.last))
            .collect();
        leave.sort();
        Some(MonthFacts {
            worker_id: worker_id.to_owned(),
            agency_id: w.agency_id.clone(),
            unit_id: w.unit_id.clone(),
            pns: w.pns,
            joined_on: w.joined_on,
            left_on: w.left_on,
            work_days: self.schedules.get(&w.agency_id).cloned().unwrap_or_default(),
            activities,
            check_ins,
            ceremonies,
            leave,
        })
    }

    /// Every tracked worker-month of registered workers, sorted: what a
    /// rebuild evaluates once at the end.
    pub fn worker_months(&self) -> Vec<(String, Month)> {
        let mut all: Vec<(String, Month)> = self
            .workers
            .keys()
            .flat_map(|w| self.months_of(w))
            .collect();
        all.sort();
        all
    }

    /// Workers whose current agency is `agency_id`, sorted.
    pub fn workers_of(&self, agency_id: &str) -> Vec<String> {
        let mut ids: Vec<String> = self
            .workers
            .iter()
            .filter(|(_, w)| w.agency_id == agency_id)
            .map(|(id, _)| id.clone())
            .collect();
        ids.sort();
        ids
    }

    pub fn time_zone(&self, agency_id: &str) -> Tz {
        self.agencies
            .get(agency_id)
            .copied()
            .unwrap_or(DEFAULT_TIME_ZONE)
    }
}
