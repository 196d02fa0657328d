//! How well the detectors find what was planted: precision and recall per
//! detector and overall, on (subject, detector) pairs.

use std::collections::{BTreeMap, BTreeSet};

use super::Planted;
use crate::domain::detectors::{Detector, Signal};

/// Counts for one detector, or for all.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Score {
    pub planted: usize,
    pub signalled: usize,
    pub true_positives: usize,
}

impl Score {
    /// 1 when nothing was signalled.
    pub fn precision(&self) -> f64 {
        if self.signalled == 0 {
            1.0
        } else {
            self.true_positives as f64 / self.signalled as f64
        }
    }

    /// 1 when nothing was planted.
    pub fn recall(&self) -> f64 {
        if self.planted == 0 {
            1.0
        } else {
            self.true_positives as f64 / self.planted as f64
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct Evaluation {
    pub per_detector: BTreeMap<Detector, Score>,
    pub overall: Score,
    /// Signals naming a scanner officer as subject or related: officers
    /// scan hundreds of workers legitimately, so this should be 0.
    pub flagged_scanners: usize,
    /// Signalled but not planted.
    pub false_positives: Vec<(String, Detector)>,
    /// Planted but not signalled.
    pub missed: Vec<(String, Detector)>,
}

impl Evaluation {
    /// A table to print: one row per detector, then the overall row.
    pub fn table(&self) -> String {
        let mut s = format!(
            "{:<26} {:>7} {:>9} {:>4} {:>9} {:>7}\n",
            "detector", "planted", "signalled", "tp", "precision", "recall"
        );
        let rows = self.per_detector.iter().map(|(d, x)| (d.name(), x));
        for (name, x) in rows.chain([("overall", &self.overall)]) {
            s.push_str(&format!(
                "{name:<26} {:>7} {:>9} {:>4} {:>9.3} {:>7.3}\n",
                x.planted,
                x.signalled,
                x.true_positives,
                x.precision(),
                x.recall()
            ));
        }
        s.push_str(&format!("flagged scanners: {}\n", self.flagged_scanners));
        s
    }
}

/// What a detector named: from a [`Signal`] in process, or from a finding
/// read back through the fraud service's API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Named {
    pub subject: String,
    pub detector: Detector,
    pub related: Vec<String>,
}

impl From<&Signal> for Named {
    fn from(s: &Signal) -> Named {
        Named {
            subject: s.subject.clone(),
            detector: s.detector,
            related: s.related.clone(),
        }
    }
}

/// Scores `signals` against the planted `truth`; `scanners` are the
/// officers' worker ids.
pub fn evaluate_with(signals: &[Signal], truth: &[Planted], scanners: &[String]) -> Evaluation {
    let named: Vec<Named> = signals.iter().map(Named::from).collect();
    evaluate_named(&named, truth, scanners)
}

/// Scores what the detectors `named` against the planted `truth`;
/// `scanners` are the officers' worker ids.
pub fn evaluate_named(named: &[Named], truth: &[Planted], scanners: &[String]) -> Evaluation {
    let planted: BTreeSet<(&str, Detector)> = truth
        .iter()
        .map(|p| (p.worker_id.as_str(), p.detector))
        .collect();
    let found: BTreeSet<(&str, Detector)> = named
        .iter()
        .map(|s| (s.subject.as_str(), s.detector))
        .collect();
    let mut e = Evaluation::default();
    for d in Detector::ALL {
        e.per_detector.insert(d, Score::default());
    }
    for &(w, d) in &planted {
        let hit = found.contains(&(w, d));
        for score in [e.per_detector.entry(d).or_default(), &mut e.overall] {
            score.planted += 1;
            score.true_positives += usize::from(hit);
        }
        if !hit {
            e.missed.push((w.to_owned(), d));
        }
    }
    for &(w, d) in &found {
        for score in [e.per_detector.entry(d).or_default(), &mut e.overall] {
            score.signalled += 1;
        }
        if !planted.contains(&(w, d)) {
            e.false_positives.push((w.to_owned(), d));
        }
    }
    let officers: BTreeSet<&str> = scanners.iter().map(String::as_str).collect();
    e.flagged_scanners = named
        .iter()
        .filter(|s| {
            officers.contains(s.subject.as_str())
                || s.related.iter().any(|r| officers.contains(r.as_str()))
        })
        .count();
    e
}
