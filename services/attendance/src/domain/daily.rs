//! A worker's day as the daily projection and the calendar see it: present,
//! absent, excused by approved leave, a non-working day, or not judged yet.

use chrono::NaiveDate;
use pantau_proto::attendance::v1::{DayRecord, DayStatus};
use pantau_proto::events::v1::LeaveKind;

use super::registry::{Leave, LeaveStatus};
use super::time::{Schedule, format_minute};

/// One row of the daily read model (minutes after local midnight).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DayFacts {
    pub first_in: Option<u32>,
    pub last_in: Option<u32>,
    pub last_out: Option<u32>,
    pub late_minutes: u32,
    pub outside: u32,
}

/// Where "now" is for the agency: its local date and minute.
#[derive(Debug, Clone, Copy)]
pub struct Today {
    pub date: NaiveDate,
    pub minute: u32,
}

pub fn judge_day(
    worker_id: &str,
    date: NaiveDate,
    facts: Option<DayFacts>,
    schedule: &Schedule,
    leave: &[Leave],
    joined_on: Option<NaiveDate>,
    today: Today,
) -> DayRecord {
    let f = facts.unwrap_or_default();
    let excused = leave
        .iter()
        .find(|l| l.status == LeaveStatus::Approved && l.covers(date));
    let status = if joined_on.is_some_and(|j| date < j) {
        DayStatus::NotEmployed
    } else if f.first_in.is_some() {
        DayStatus::Present
    } else if excused.is_some() {
        DayStatus::Excused
    } else if !schedule.is_work_day(date) {
        DayStatus::NonWorking
    } else if date >= today.date {
        DayStatus::Pending
    } else {
        DayStatus::Absent
    };
    let day_over = date < today.date || (date == today.date && today.minute > schedule.ends_minute);
    let missing_check_out = f.first_in.is_some()
        && day_over
        && match (f.last_in, f.last_out) {
            (_, None) => true,
            (Some(i), Some(o)) => o < i,
            (None, Some(_)) => false,
        };
    let minutes_present = match (f.first_in, f.last_out) {
        (Some(i), Some(o)) if o > i => o - i,
        _ => 0,
    };
    DayRecord {
        worker_id: worker_id.to_owned(),
        date: date.to_string(),
        status: status as i32,
        first_in: f.first_in.map(format_minute).unwrap_or_default(),
        last_out: f.last_out.map(format_minute).unwrap_or_default(),
        minutes_present,
        late_minutes: if f.first_in.is_some() {
            f.late_minutes
        } else {
            0
        },
        missing_check_out,
        check_ins_outside: f.outside,
        excused_by: excused.map_or(LeaveKind::Unspecified, |l| l.kind) as i32,
        worker_name: String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn today() -> Today {
        Today {
            date: d("2026-11-23"),
            minute: 10 * 60,
        }
    }

    fn sick(first: &str, last: &str, status: LeaveStatus) -> Leave {
        Leave {
            id: "l1".into(),
            worker_id: "w1".into(),
            kind: LeaveKind::Sick,
            first_day: d(first),
            last_day: d(last),
            status,
            destination: None,
        }
    }

    fn status(r: &DayRecord) -> DayStatus {
        DayStatus::try_from(r.status).unwrap()
    }

    #[test]
    fn a_past_working_day_without_a_check_in_is_absent_unless_excused() {
        let s = Schedule::default();
        let fri = d("2026-11-20");
        assert_eq!(
            status(&judge_day("w1", fri, None, &s, &[], None, today())),
            DayStatus::Absent
        );
        let approved = [sick("2026-11-19", "2026-11-20", LeaveStatus::Approved)];
        let r = judge_day("w1", fri, None, &s, &approved, None, today());
        assert_eq!(status(&r), DayStatus::Excused);
        assert_eq!(r.excused_by, LeaveKind::Sick as i32);
        let pending = [sick("2026-11-19", "2026-11-20", LeaveStatus::Requested)];
        assert_eq!(
            status(&judge_day("w1", fri, None, &s, &pending, None, today())),
            DayStatus::Absent
        );
    }

    #[test]
    fn weekends_today_and_days_before_joining_are_not_absences() {
        let s = Schedule::default();
        assert_eq!(
            status(&judge_day(
                "w1",
                d("2026-11-22"),
                None,
                &s,
                &[],
                None,
                today()
            )),
            DayStatus::NonWorking
        );
        assert_eq!(
            status(&judge_day(
                "w1",
                d("2026-11-23"),
                None,
                &s,
                &[],
                None,
                today()
            )),
            DayStatus::Pending
        );
        assert_eq!(
            status(&judge_day(
                "w1",
                d("2026-11-20"),
                None,
                &s,
                &[],
                Some(d("2026-11-21")),
                today()
            )),
            DayStatus::NotEmployed
        );
    }

    #[test]
    fn presence_counts_minutes_lateness_and_a_missing_check_out() {
        let s = Schedule::default();
        let facts = DayFacts {
            first_in: Some(7 * 60 + 45),
            last_in: Some(7 * 60 + 45),
            last_out: Some(16 * 60 + 5),
            late_minutes: 15,
            outside: 1,
        };
        let r = judge_day("w1", d("2026-11-20"), Some(facts), &s, &[], None, today());
        assert_eq!(status(&r), DayStatus::Present);
        assert_eq!(
            (r.first_in.as_str(), r.last_out.as_str()),
            ("07:45", "16:05")
        );
        assert_eq!(r.minutes_present, 8 * 60 + 20);
        assert_eq!(r.late_minutes, 15);
        assert!(!r.missing_check_out);
        let no_out = DayFacts {
            last_out: None,
            ..facts
        };
        assert!(
            judge_day("w1", d("2026-11-20"), Some(no_out), &s, &[], None, today())
                .missing_check_out
        );
        // Today before the end of the working day it is not missing yet.
        assert!(
            !judge_day("w1", d("2026-11-23"), Some(no_out), &s, &[], None, today())
                .missing_check_out
        );
    }
}
