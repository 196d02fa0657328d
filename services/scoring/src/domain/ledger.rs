//! The facts in memory: a [`Ledger`] folds [`Change`]s and answers with the
//! [`MonthFacts`] of any worker-month (see the module doc of
//! [`super::facts`] for what is tracked and returned).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;

use super::Month;
use super::facts::{
    ActivityFact, Change, DEFAULT_TIME_ZONE, DayFact, MonthFacts, local_date, parse_tz,
};

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
    fn ceremony_date(
        &self,
        worker_id: &str,
        session_id: &str,
        agency_id: &str,
    ) -> Option<NaiveDate> {
        let starts_at = *self.sessions.get(session_id)?;
        let agency = if agency_id.is_empty() {
            self.workers
                .get(worker_id)
                .map_or("", |w| w.agency_id.as_str())
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
                self.sessions
                    .entry(session_id.clone())
                    .or_insert(*starts_at);
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

    fn update_report(
        &mut self,
        report_id: &str,
        f: impl FnOnce(&mut Report),
    ) -> Vec<(String, Month)> {
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
        activities
            .sort_by(|a, b| (a.date, &a.code, &a.report_id).cmp(&(b.date, &b.code, &b.report_id)));
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
            work_days: self
                .schedules
                .get(&w.agency_id)
                .cloned()
                .unwrap_or_default(),
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
