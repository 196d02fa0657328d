//! Monthly behaviour ratings on the seven BerAKHLAK aspects (berorientasi
//! pelayanan, akuntabel, kompeten, harmonis, loyal, adaptif, kolaboratif),
//! 1-5 each, with a note. A later rating of the same month replaces the
//! earlier one.

use pantau_proto::events::v1::{self as ev, activity_event::Event};

use super::DomainError;
use super::registry::Worker;
use super::time::Month;

pub const MAX_NOTE: usize = 2_000;

/// The aspects with their field names.
pub fn aspects(s: &ev::BerakhlakScores) -> [(&'static str, u32); 7] {
    [
        ("berorientasi_pelayanan", s.berorientasi_pelayanan),
        ("akuntabel", s.akuntabel),
        ("kompeten", s.kompeten),
        ("harmonis", s.harmonis),
        ("loyal", s.loyal),
        ("adaptif", s.adaptif),
        ("kolaboratif", s.kolaboratif),
    ]
}

pub fn average(s: &ev::BerakhlakScores) -> f64 {
    let sum: u32 = aspects(s).iter().map(|(_, v)| v).sum();
    f64::from(sum) / 7.0
}

/// A rating of `worker` for `month`, by `by`, when the current month is
/// `this_month`.
pub fn decide_rating(
    worker: &Worker,
    month: Month,
    this_month: Month,
    scores: Option<&ev::BerakhlakScores>,
    note: &str,
    by: &str,
    at: ev::Timestamp,
) -> Result<Vec<Event>, DomainError> {
    let scores = scores.ok_or_else(|| DomainError::invalid("scores", "are required"))?;
    for (name, v) in aspects(scores) {
        if !(1..=5).contains(&v) {
            return Err(DomainError::invalid(
                format!("scores.{name}"),
                "must be 1-5",
            ));
        }
    }
    if month > this_month {
        return Err(DomainError::invalid("month", "is in the future"));
    }
    if let Some(joined) = worker.joined_on
        && month < Month::of(joined)
    {
        return Err(DomainError::invalid(
            "month",
            format!("is before the worker joined ({joined})"),
        ));
    }
    if note.chars().count() > MAX_NOTE {
        return Err(DomainError::invalid(
            "note",
            format!("must be at most {MAX_NOTE} characters"),
        ));
    }
    if !worker.active {
        return Err(DomainError::precondition(format!(
            "worker {} is no longer active",
            worker.id
        )));
    }
    Ok(vec![Event::BehaviourRated(ev::BehaviourRated {
        worker_id: worker.id.clone(),
        agency_id: worker.agency_id.clone(),
        unit_id: worker.unit_id.clone(),
        month: month.to_string(),
        scores: Some(*scores),
        note: note.to_owned(),
        rated_by: by.to_owned(),
        at: Some(at),
    })])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scores(v: u32) -> ev::BerakhlakScores {
        ev::BerakhlakScores {
            berorientasi_pelayanan: v,
            akuntabel: v,
            kompeten: v,
            harmonis: v,
            loyal: v,
            adaptif: v,
            kolaboratif: v,
        }
    }

    fn worker() -> Worker {
        Worker {
            id: "w1".into(),
            agency_id: "a1".into(),
            active: true,
            joined_on: "2026-03-15".parse().ok(),
            ..Worker::default()
        }
    }

    fn rate(
        month: &str,
        s: Option<&ev::BerakhlakScores>,
        note: &str,
    ) -> Result<Vec<Event>, DomainError> {
        let now = Month::parse("2026-11", "m").unwrap();
        let month = Month::parse(month, "month").unwrap();
        decide_rating(
            &worker(),
            month,
            now,
            s,
            note,
            "s1",
            ev::Timestamp::default(),
        )
    }

    #[test]
    fn a_rating_carries_seven_aspects_of_one_to_five() {
        let mut s = scores(4);
        s.kolaboratif = 5;
        let events = rate("2026-10", Some(&s), "Rajin").unwrap();
        let [Event::BehaviourRated(r)] = events.as_slice() else {
            panic!("{events:?}")
        };
        assert_eq!((r.month.as_str(), r.rated_by.as_str()), ("2026-10", "s1"));
        assert!((average(&s) - 29.0 / 7.0).abs() < 1e-9);
        for bad in [0, 6] {
            let mut s = scores(3);
            s.loyal = bad;
            assert_eq!(
                rate("2026-10", Some(&s), "").unwrap_err().field(),
                Some("scores.loyal")
            );
        }
        assert_eq!(
            rate("2026-10", None, "").unwrap_err().field(),
            Some("scores")
        );
    }

    #[test]
    fn months_are_between_joining_and_now() {
        assert!(rate("2026-11", Some(&scores(3)), "").is_ok());
        assert!(rate("2026-03", Some(&scores(3)), "").is_ok());
        assert_eq!(
            rate("2026-12", Some(&scores(3)), "").unwrap_err().field(),
            Some("month")
        );
        assert_eq!(
            rate("2026-02", Some(&scores(3)), "").unwrap_err().field(),
            Some("month")
        );
        assert_eq!(
            rate("2026-10", Some(&scores(3)), &"x".repeat(2001))
                .unwrap_err()
                .field(),
            Some("note")
        );
    }
}
