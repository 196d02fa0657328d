//! Ghosts found by comparing the payroll with what happened: a worker
//! nobody ever sees, and a worker still "working" after they left (pay
//! continuing after termination or death).

use std::collections::{BTreeMap, HashSet};

use chrono::NaiveDate;

use super::{Detector, Signal};
use crate::domain::Month;
use crate::domain::model::{EventRef, Province};

/// A month with fewer days off approved leave says little about absence
/// (maternity leave, long sick leave).
pub const NEVER_PRESENT_MIN_EXPECTED_DAYS: usize = 10;

/// `never_present`: employed the whole month (joined before it, not
/// deactivated before its end), at least
/// [`NEVER_PRESENT_MIN_EXPECTED_DAYS`] days not on approved leave, and no
/// check-in, no activity report (any status) and no accepted ceremony scan
/// on any day of it.
pub fn never_present(p: &Province, month: Month) -> Vec<Signal> {
    let mut seen: HashSet<&str> = HashSet::new();
    seen.extend(p.check_ins_in(month).iter().map(|c| c.worker_id.as_str()));
    seen.extend(p.reports_in(month).map(|r| r.worker_id.as_str()));
    seen.extend(p.scans_in(month).into_iter().map(|s| s.worker_id.as_str()));
    let days = month.days().count();
    let mut out = Vec::new();
    for w in p.workers() {
        if !w.employed_throughout(month) || seen.contains(w.id.as_str()) {
            continue;
        }
        let expected = days.saturating_sub(p.leave_days_in(&w.id, month));
        if expected < NEVER_PRESENT_MIN_EXPECTED_DAYS {
            continue;
        }
        let explanation = format!(
            "{} was on the payroll all of {month} ({expected} of {days} days not on leave) \
             with no check-in, no activity report and no ceremony scan.",
            w.id
        );
        let signal = Signal::new(
            Detector::NeverPresent,
            &w.id,
            explanation,
            [w.registered_at],
            [],
        );
        out.push(signal.about(month));
    }
    out
}

#[derive(Default)]
struct After {
    check_ins: usize,
    reports: usize,
    scans: usize,
    first: Option<NaiveDate>,
    evidence: Vec<EventRef>,
}

impl After {
    fn add(&mut self, day: NaiveDate, event: EventRef) {
        self.first = Some(self.first.map_or(day, |f| f.min(day)));
        self.evidence.push(event);
    }
}

/// `active_after_deactivation`: check-ins, reports or ceremony scans dated
/// in the month on or after the worker's deactivation date. A deactivation
/// without a readable date cannot be compared and is left alone.
pub fn active_after_deactivation(p: &Province, month: Month) -> Vec<Signal> {
    let gone = |worker_id: &str, day: NaiveDate| {
        p.worker(worker_id)
            .and_then(|w| w.deactivated_on)
            .is_some_and(|d| day >= d)
    };
    let mut after: BTreeMap<&str, After> = BTreeMap::new();
    for c in p.check_ins_in(month) {
        if gone(&c.worker_id, c.local_date) {
            let a = after.entry(&c.worker_id).or_default();
            a.check_ins += 1;
            a.add(c.local_date, c.event);
        }
    }
    for r in p.reports_in(month) {
        if gone(&r.worker_id, r.local_date) {
            let a = after.entry(&r.worker_id).or_default();
            a.reports += 1;
            a.add(r.local_date, r.reported_event);
        }
    }
    for s in p.scans_in(month) {
        if let Some(day) = p.scan_date(s).filter(|d| gone(&s.worker_id, *d)) {
            let a = after.entry(&s.worker_id).or_default();
            a.scans += 1;
            a.add(day, s.event);
        }
    }
    let mut out = Vec::new();
    for (id, a) in after {
        let Some(w) = p.worker(id) else { continue };
        let (Some(on), Some(first)) = (w.deactivated_on, a.first) else {
            continue;
        };
        let explanation = format!(
            "{id} was deactivated from {on}, yet has {} check-in(s), {} activity report(s) \
             and {} ceremony scan(s) dated on or after it in {month}, the first on {first}.",
            a.check_ins, a.reports, a.scans
        );
        let evidence = a.evidence.into_iter().chain(w.deactivated_at);
        out.push(Signal::new(
            Detector::ActiveAfterDeactivation,
            id,
            explanation,
            evidence.collect::<Vec<_>>(),
            [],
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use pantau_proto::events::v1 as ev;

    use super::*;
    use crate::domain::model::fixtures::*;

    const MARCH: &str = "2026-03";

    fn found(signals: &[Signal]) -> Vec<&str> {
        signals.iter().map(|s| s.subject.as_str()).collect()
    }

    fn leave(g: &mut Given, worker: &str, first: &str, last: &str) {
        use ev::attendance_event::Event as Att;
        let id = format!("leave-{worker}");
        g.attendance(Att::LeaveRequested(ev::LeaveRequested {
            leave_id: id.clone(),
            worker_id: worker.into(),
            kind: ev::LeaveKind::Maternity as i32,
            first_day: first.into(),
            last_day: last.into(),
            ..Default::default()
        }));
        g.attendance(Att::LeaveApproved(ev::LeaveApproved {
            leave_id: id,
            worker_id: worker.into(),
            decided_by: "kasi-1".into(),
        }));
    }

    #[test]
    fn a_worker_nobody_sees_all_month_is_never_present() {
        let mut g = Given::new();
        let ghost = g.worker("ghost");
        let mut legacy = registered("legacy");
        legacy.joined_on.clear();
        g.register(legacy);
        g.worker("checks-in");
        g.check_in("checks-in", "2026-03-31T16:00:00Z", SITE.0, SITE.1);
        g.worker("reports");
        g.report("r1", "reports", "2026-03-02", "Menyapu jalan", &[]);
        g.worker("ceremony");
        g.session("s1", "2026-03-17T01:00:00Z", SITE.0, SITE.1);
        g.scan("s1", "ceremony", "scn-1", None);
        let mut newcomer = registered("newcomer");
        newcomer.joined_on = "2026-03-01".into();
        g.register(newcomer);
        g.worker("leaver");
        g.deactivate("leaver", "2026-03-31");
        g.worker("on-leave");
        leave(&mut g, "on-leave", "2026-02-01", "2026-03-25");
        g.worker("short-leave");
        leave(&mut g, "short-leave", "2026-03-01", "2026-03-20");
        // Only in February: absent in March.
        g.worker("february");
        g.check_in("february", "2026-02-27T01:00:00Z", SITE.0, SITE.1);
        let signals = never_present(&g.p, m(MARCH));
        assert_eq!(
            found(&signals),
            ["february", "ghost", "legacy", "short-leave"]
        );
        let s = &signals[1];
        assert_eq!((s.weight, s.period), (0.7, Some(m(MARCH))));
        assert_eq!(s.evidence, [ghost]);
        assert!(s.explanation.contains("31 of 31 days"), "{}", s.explanation);
        assert!(signals[3].explanation.contains("11 of 31 days"));
    }

    #[test]
    fn a_check_in_late_on_the_last_utc_evening_counts_for_the_local_day() {
        let mut g = Given::new();
        g.worker("w1");
        // 2026-02-28T18:00Z is 1 March in Jakarta.
        g.check_in("w1", "2026-02-28T18:00:00Z", SITE.0, SITE.1);
        assert!(never_present(&g.p, m(MARCH)).is_empty());
        assert_eq!(found(&never_present(&g.p, m("2026-02"))), ["w1"]);
    }

    #[test]
    fn check_ins_reports_and_scans_after_deactivation_are_evidence() {
        let mut g = Given::new();
        g.worker("w1");
        g.check_in("w1", "2026-03-09T01:00:00Z", SITE.0, SITE.1);
        let gone = g.deactivate("w1", "2026-03-10");
        let day_of = g.check_in("w1", "2026-03-10T01:00:00Z", SITE.0, SITE.1);
        let later = g.check_in("w1", "2026-03-12T01:00:00Z", SITE.0, SITE.1);
        let report = g.report("r1", "w1", "2026-03-15", "Menyapu jalan", &[]);
        g.session("s1", "2026-03-20T01:00:00Z", SITE.0, SITE.1);
        let scan = g.scan("s1", "w1", "scn-1", None);
        g.report("r0", "w1", "2026-03-09", "Menyapu jalan", &[]);
        let signals = active_after_deactivation(&g.p, m(MARCH));
        assert_eq!(signals.len(), 1);
        let s = &signals[0];
        assert_eq!((s.subject.as_str(), s.weight), ("w1", 0.85));
        let mut expected = vec![gone, day_of, later, report, scan];
        expected.sort();
        assert_eq!(s.evidence, expected);
        assert!(
            s.explanation
                .contains("2 check-in(s), 1 activity report(s) and 1 ceremony scan(s)"),
            "{}",
            s.explanation
        );
        assert!(s.explanation.contains("first on 2026-03-10"));
        // April has nothing after it.
        assert!(active_after_deactivation(&g.p, m("2026-04")).is_empty());
    }

    #[test]
    fn activity_before_deactivation_or_with_no_deactivation_date_is_fine() {
        let mut g = Given::new();
        g.worker("before");
        g.check_in("before", "2026-03-09T01:00:00Z", SITE.0, SITE.1);
        g.deactivate("before", "2026-03-10");
        g.worker("undated");
        g.deactivate("undated", "");
        g.check_in("undated", "2026-03-12T01:00:00Z", SITE.0, SITE.1);
        g.worker("active");
        g.check_in("active", "2026-03-12T01:00:00Z", SITE.0, SITE.1);
        // A check-in of a worker identity never registered.
        g.check_in("stranger", "2026-03-12T01:00:00Z", SITE.0, SITE.1);
        assert!(active_after_deactivation(&g.p, m(MARCH)).is_empty());
    }
}
