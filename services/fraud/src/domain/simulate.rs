//! A synthetic province to measure the detectors on: [`generate`] builds a
//! month of identity, attendance and activity events for thousands of
//! workers, honest in the varied ways of life (GPS jitter, late mornings,
//! leave, two sites, returned reports, ceremonies scanned by officers) with
//! frauds planted among them, and the ground truth; [`evaluate`] scores the
//! detectors' signals against it.
//!
//! Deterministic: the same [`SimConfig`] always gives the same events (a
//! splitmix64 generator seeded from [`SimConfig::seed`], no clock).

use chrono::{DateTime, Utc};
use pantau_proto::events::v1 as ev;

use super::Month;
use super::detectors::{Detector, Signal};
use super::model::{EventRef, Province};

mod evaluation;
mod events;
mod people;
mod rng;

pub use evaluation::{Evaluation, Named, Score, evaluate_named};

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SimConfig {
    pub workers: usize,
    /// The share of workers taking part in a planted fraud.
    pub fraud_rate: f64,
    pub seed: u64,
    pub month: Month,
}

impl Default for SimConfig {
    fn default() -> SimConfig {
        SimConfig {
            workers: 2000,
            fraud_rate: 0.02,
            seed: 0x5EED_2026,
            month: Month {
                year: 2026,
                month: 10,
            },
        }
    }
}

/// One event of one stream, with its sequence on that stream (from 1).
#[derive(Debug, Clone, PartialEq)]
pub enum SimEvent {
    Identity {
        seq: u64,
        event: ev::identity_event::Event,
    },
    Attendance {
        seq: u64,
        event: ev::attendance_event::Event,
    },
    Activity {
        seq: u64,
        event: ev::activity_event::Event,
    },
}

impl SimEvent {
    pub fn event_ref(&self) -> EventRef {
        match self {
            SimEvent::Identity { seq, .. } => EventRef::identity(*seq),
            SimEvent::Attendance { seq, .. } => EventRef::attendance(*seq),
            SimEvent::Activity { seq, .. } => EventRef::activity(*seq),
        }
    }

    pub fn apply_to(&self, p: &mut Province) {
        let at = self.event_ref();
        match self {
            SimEvent::Identity { event, .. } => p.apply_identity(event, at),
            SimEvent::Attendance { event, .. } => p.apply_attendance(event, at),
            SimEvent::Activity { event, .. } => p.apply_activity(event, at),
        }
    }
}

/// A planted fraud: the worker (or supervisor) the detector should name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Planted {
    pub worker_id: String,
    pub detector: Detector,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Simulated {
    /// All streams interleaved by server time.
    pub events: Vec<SimEvent>,
    /// The server time of each of `events`, ascending.
    pub times: Vec<DateTime<Utc>>,
    /// Sorted, deduplicated.
    pub truth: Vec<Planted>,
    /// Worker ids of the officers holding ceremony scanners.
    pub scanners: Vec<String>,
}

impl Simulated {
    /// Every event folded into a province.
    pub fn province(&self) -> Province {
        let mut p = Province::new();
        for e in &self.events {
            e.apply_to(&mut p);
        }
        p
    }

    /// [`evaluate`], with the signals naming a scanner officer counted.
    pub fn evaluate(&self, signals: &[Signal]) -> Evaluation {
        evaluation::evaluate_with(signals, &self.truth, &self.scanners)
    }
}

pub fn generate(c: &SimConfig) -> Simulated {
    let mut rng = rng::Rng::new(c.seed);
    let population = people::populate(&mut rng, c);
    let generated = events::generate(&mut rng, &population, c.month);
    let mut truth = population.truth;
    truth.sort();
    truth.dedup();
    Simulated {
        events: generated.events,
        times: generated.times,
        truth,
        scanners: generated.scanners,
    }
}

/// Precision and recall of `signals` against `truth`. It knows no scanner
/// officers: [`Simulated::evaluate`] counts those too.
pub fn evaluate(signals: &[Signal], truth: &[Planted]) -> Evaluation {
    evaluation::evaluate_with(signals, truth, &[])
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;
    use crate::domain::detectors::detect_all;

    fn small() -> SimConfig {
        SimConfig {
            workers: 300,
            fraud_rate: 0.05,
            seed: 7,
            ..SimConfig::default()
        }
    }

    #[test]
    fn the_same_config_generates_the_same_province() {
        let (a, b) = (generate(&small()), generate(&small()));
        assert_eq!(a, b);
        let other = generate(&SimConfig { seed: 8, ..small() });
        assert_ne!(a.events, other.events);
    }

    #[test]
    fn every_stream_is_numbered_from_one_without_gaps() {
        let sim = generate(&small());
        let mut next = std::collections::BTreeMap::new();
        for e in &sim.events {
            let r = e.event_ref();
            let n = next.entry(r.stream).or_insert(1u64);
            assert_eq!(r.sequence, *n, "{r}");
            *n += 1;
        }
        assert_eq!(next.len(), 3);
    }

    #[test]
    fn planted_frauds_cover_every_detector() {
        let sim = generate(&SimConfig::default());
        let kinds: BTreeSet<Detector> = sim.truth.iter().map(|p| p.detector).collect();
        let all: BTreeSet<Detector> = Detector::ALL.into_iter().collect();
        assert_eq!(kinds, all);
        assert!((3..=5).contains(&sim.scanners.len()));
    }

    #[test]
    fn detectors_find_the_planted_frauds_of_a_two_thousand_worker_province() {
        let c = SimConfig::default();
        let sim = generate(&c);
        let province = sim.province();
        let signals = detect_all(&province, c.month);
        let e = sim.evaluate(&signals);
        eprintln!(
            "{} events, {} planted, {} signals\n{}",
            sim.events.len(),
            sim.truth.len(),
            signals.len(),
            e.table()
        );
        eprintln!("false positives: {:?}", e.false_positives);
        eprintln!("missed: {:?}", e.missed);
        assert!(e.overall.recall() >= 0.95, "recall {}", e.overall.recall());
        assert!(
            e.overall.precision() >= 0.9,
            "precision {}",
            e.overall.precision()
        );
        assert_eq!(e.flagged_scanners, 0);
    }
}
