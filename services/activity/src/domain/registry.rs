//! What activity knows of the registry (from the identity stream): agencies
//! with their time zones and units, and workers with the history of their
//! supervisors, so a report is reviewed by whoever supervised the worker on
//! the day of the work.

use std::collections::HashMap;

use chrono::NaiveDate;
use chrono_tz::Tz;

#[derive(Debug, Clone)]
pub struct Agency {
    pub id: String,
    pub name: String,
    pub tz: Tz,
    /// unit id -> name
    pub units: HashMap<String, String>,
}

#[derive(Debug, Clone, Default)]
pub struct Worker {
    pub id: String,
    pub name: String,
    pub agency_id: String,
    pub unit_id: String,
    pub active: bool,
    pub joined_on: Option<NaiveDate>,
    /// The supervisor at registration, then each assignment from its
    /// effective date, in stream order.
    pub supervisors: Vec<(Option<NaiveDate>, String)>,
}

impl Worker {
    /// Who supervised the worker on `day`: the last assignment in effect by
    /// then (assignments without a date count from the start).
    pub fn supervisor_on(&self, day: NaiveDate) -> &str {
        self.supervisors
            .iter()
            .rev()
            .find(|(from, _)| from.is_none_or(|f| f <= day))
            .or_else(|| self.supervisors.first())
            .map_or("", |(_, s)| s.as_str())
    }

    /// The supervisor now (the latest assignment).
    pub fn current_supervisor(&self) -> &str {
        self.supervisors.last().map_or("", |(_, s)| s.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn the_supervisor_of_a_day_is_the_one_assigned_by_then() {
        let w = Worker {
            supervisors: vec![
                (Some(d("2026-01-01")), "s1".into()),
                (Some(d("2026-06-01")), "s2".into()),
                (Some(d("2026-09-01")), "s3".into()),
            ],
            ..Worker::default()
        };
        assert_eq!(w.supervisor_on(d("2026-05-31")), "s1");
        assert_eq!(w.supervisor_on(d("2026-06-01")), "s2");
        assert_eq!(w.supervisor_on(d("2026-12-01")), "s3");
        // Before any assignment: the first one.
        assert_eq!(w.supervisor_on(d("2025-01-01")), "s1");
        assert_eq!(w.current_supervisor(), "s3");
        assert_eq!(Worker::default().supervisor_on(d("2026-01-01")), "");
    }
}
