//! Combining signals into findings: one [`Finding`] per subject, its risk
//! the noisy-OR of its signals' weights, so several independent weak leads
//! outrank a single medium one (three at 0.3 give 0.657, above one 0.5).
//!
//! A finding's [`Finding::key`] hashes what it rests on (the subject, its
//! detectors, its evidence, and the months of absence signals), so an
//! investigator's "cleared" sticks for as long as nothing new turns up, and
//! new evidence reopens it under a new key.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use sha2::{Digest, Sha256};

use super::Month;
pub use super::detectors::Kind;
use super::detectors::{Detector, Signal};
use super::model::EventRef;

#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    /// Hex SHA-256 of what the finding rests on (see [`finding_key`]).
    pub key: String,
    pub subject: String,
    /// The kind of the strongest signal.
    pub kind: Kind,
    /// 1 − Π(1 − weight), in [0, 1].
    pub risk: f64,
    /// Strongest first, then by detector.
    pub signals: Vec<Signal>,
    /// Every signal's evidence, sorted, deduplicated.
    pub evidence: Vec<EventRef>,
}

/// A weight as a probability: clamped to [0, 1], NaN as 0.
fn probability(w: f64) -> f64 {
    if w.is_nan() { 0.0 } else { w.clamp(0.0, 1.0) }
}

/// Noisy-OR of the weights: the chance at least one lead is right, were
/// they independent.
pub fn noisy_or(weights: impl IntoIterator<Item = f64>) -> f64 {
    let mut ws: Vec<f64> = weights.into_iter().map(probability).collect();
    // One fixed order keeps the rounding monotone: adding a weight can
    // then never lower the result, not even by an ulp.
    ws.sort_by(f64::total_cmp);
    let keep: f64 = ws.iter().map(|w| 1.0 - w).product();
    (1.0 - keep).clamp(0.0, 1.0)
}

fn field(h: &mut Sha256, bytes: &[u8]) {
    h.update((bytes.len() as u64).to_be_bytes());
    h.update(bytes);
}

/// The stable key of a finding: the same subject, detectors, evidence and
/// absence months give the same key whatever their order or repetition.
pub fn finding_key<'a>(
    subject: &str,
    detectors: impl IntoIterator<Item = Detector>,
    evidence: impl IntoIterator<Item = &'a EventRef>,
    periods: impl IntoIterator<Item = Month>,
) -> String {
    let names: BTreeSet<&str> = detectors.into_iter().map(Detector::name).collect();
    let refs: BTreeSet<&EventRef> = evidence.into_iter().collect();
    let periods: BTreeSet<Month> = periods.into_iter().collect();
    let mut h = Sha256::new();
    field(&mut h, b"pantau.fraud.finding.v1");
    field(&mut h, subject.as_bytes());
    h.update((names.len() as u64).to_be_bytes());
    for n in names {
        field(&mut h, n.as_bytes());
    }
    h.update((refs.len() as u64).to_be_bytes());
    for r in refs {
        field(&mut h, r.stream.as_bytes());
        h.update(r.sequence.to_be_bytes());
    }
    h.update((periods.len() as u64).to_be_bytes());
    for m in periods {
        field(&mut h, m.to_string().as_bytes());
    }
    hex::encode(h.finalize())
}

fn strongest_first(a: &Signal, b: &Signal) -> std::cmp::Ordering {
    probability(b.weight)
        .total_cmp(&probability(a.weight))
        .then(a.detector.cmp(&b.detector))
        .then_with(|| a.evidence.cmp(&b.evidence))
        .then_with(|| a.explanation.cmp(&b.explanation))
}

/// One finding per subject, by risk (highest first), then subject.
pub fn combine(signals: Vec<Signal>) -> Vec<Finding> {
    let mut by: BTreeMap<String, Vec<Signal>> = BTreeMap::new();
    for s in signals {
        by.entry(s.subject.clone()).or_default().push(s);
    }
    let mut findings: Vec<Finding> = by
        .into_iter()
        .filter_map(|(subject, mut signals)| {
            signals.sort_by(strongest_first);
            let kind = signals.first()?.detector.kind();
            let risk = noisy_or(signals.iter().map(|s| s.weight));
            let evidence: BTreeSet<EventRef> = signals
                .iter()
                .flat_map(|s| s.evidence.iter().copied())
                .collect();
            let key = finding_key(
                &subject,
                signals.iter().map(|s| s.detector),
                &evidence,
                signals.iter().filter_map(|s| s.period),
            );
            Some(Finding {
                key,
                subject,
                kind,
                risk,
                signals,
                evidence: evidence.into_iter().collect(),
            })
        })
        .collect();
    findings.sort_by(|a, b| b.risk.total_cmp(&a.risk).then(a.subject.cmp(&b.subject)));
    findings
}

/// Whether an investigator already cleared exactly this finding: same
/// subject, detectors and evidence. Anything new gives a new key.
pub fn still_cleared(cleared_keys: &HashSet<String>, f: &Finding) -> bool {
    cleared_keys.contains(&f.key)
}

/// The findings not already cleared, in their order.
pub fn open_findings(findings: Vec<Finding>, cleared_keys: &HashSet<String>) -> Vec<Finding> {
    findings
        .into_iter()
        .filter(|f| !still_cleared(cleared_keys, f))
        .collect()
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn signal(detector: Detector, subject: &str, weight: f64, evidence: &[u64]) -> Signal {
        let refs = evidence.iter().map(|s| EventRef::attendance(*s));
        let mut s = Signal::new(detector, subject, "because", refs, []);
        s.weight = weight;
        s
    }

    #[test]
    fn three_weak_signals_outrank_one_medium_signal() {
        let findings = combine(vec![
            signal(Detector::SharedDevice, "medium", 0.5, &[1]),
            signal(Detector::NoJitter, "weak", 0.3, &[2]),
            signal(Detector::AlwaysOutside, "weak", 0.3, &[3]),
            signal(Detector::CopyPaste, "weak", 0.3, &[4]),
        ]);
        let order: Vec<&str> = findings.iter().map(|f| f.subject.as_str()).collect();
        assert_eq!(order, ["weak", "medium"]);
        assert!(
            (findings[0].risk - 0.657).abs() < 1e-9,
            "{}",
            findings[0].risk
        );
        assert!((findings[1].risk - 0.5).abs() < 1e-12);
        assert_eq!(findings[0].signals.len(), 3);
        assert_eq!(
            findings[0].evidence,
            [2, 3, 4].map(EventRef::attendance).to_vec()
        );
    }

    #[test]
    fn the_kind_is_the_strongest_signals_and_ties_rank_by_subject() {
        let findings = combine(vec![
            signal(Detector::CopyPaste, "b", 0.25, &[1]),
            signal(Detector::DuplicateNik, "b", 0.9, &[2]),
            signal(Detector::RubberStampRate, "a", 0.25, &[3]),
            signal(Detector::SameCoordinates, "c", 0.25, &[4]),
        ]);
        let order: Vec<(&str, Kind)> = findings
            .iter()
            .map(|f| (f.subject.as_str(), f.kind))
            .collect();
        assert_eq!(
            order,
            [
                ("b", Kind::Ghost),
                ("a", Kind::Supervision),
                ("c", Kind::Proxy)
            ]
        );
        assert_eq!(findings[0].signals[0].detector, Detector::DuplicateNik);
    }

    #[test]
    fn the_key_is_stable_under_reordering_and_repetition() {
        let a = signal(Detector::DuplicatePhone, "w1", 0.4, &[5, 1]);
        let b = signal(Detector::NoJitter, "w1", 0.3, &[3, 1]);
        let one = combine(vec![a.clone(), b.clone()]);
        let two = combine(vec![b.clone(), a.clone()]);
        assert_eq!(one[0].key, two[0].key);
        assert_eq!(one[0].key.len(), 64);
        assert!(one[0].key.bytes().all(|c| c.is_ascii_hexdigit()));
        assert_eq!(
            one[0].key,
            finding_key(
                "w1",
                [
                    Detector::NoJitter,
                    Detector::DuplicatePhone,
                    Detector::NoJitter
                ],
                &[3, 1, 5, 1].map(EventRef::attendance),
                [],
            )
        );
        // A cleared finding stays cleared while nothing new turns up.
        let cleared: HashSet<String> = [one[0].key.clone()].into();
        assert!(still_cleared(&cleared, &two[0]));
        assert!(open_findings(two, &cleared).is_empty());
    }

    #[test]
    fn new_evidence_a_new_detector_or_another_subject_gives_a_new_key() {
        let base = combine(vec![signal(Detector::SharedDevice, "w1", 0.5, &[1, 2])]);
        let more = combine(vec![signal(Detector::SharedDevice, "w1", 0.5, &[1, 2, 3])]);
        let other = combine(vec![signal(Detector::SameCoordinates, "w1", 0.5, &[1, 2])]);
        let who = combine(vec![signal(Detector::SharedDevice, "w2", 0.5, &[1, 2])]);
        let stream = combine(vec![Signal::new(
            Detector::SharedDevice,
            "w1",
            "because",
            [EventRef::identity(1), EventRef::identity(2)],
            [],
        )]);
        let keys: HashSet<&str> = [&base, &more, &other, &who, &stream]
            .iter()
            .map(|f| f[0].key.as_str())
            .collect();
        assert_eq!(keys.len(), 5);
        let cleared: HashSet<String> = [base[0].key.clone()].into();
        assert!(!still_cleared(&cleared, &more[0]));
        assert_eq!(open_findings(more, &cleared).len(), 1);
    }

    #[test]
    fn an_absence_in_another_month_gives_a_new_key() {
        let march = Month::parse("2026-03", "month").expect("a month");
        let april = march.next();
        let absent = |m: Month| signal(Detector::NeverPresent, "w1", 0.7, &[1]).about(m);
        let a = combine(vec![absent(march)]);
        let b = combine(vec![absent(april)]);
        assert_ne!(a[0].key, b[0].key);
        assert_eq!(a[0].key, combine(vec![absent(march)])[0].key);
    }

    #[test]
    fn out_of_range_weights_count_as_probabilities() {
        assert_eq!(noisy_or([]), 0.0);
        assert_eq!(noisy_or([f64::NAN, -3.0]), 0.0);
        assert_eq!(noisy_or([7.0]), 1.0);
        assert_eq!(combine(vec![]), vec![]);
    }

    fn arb_signal() -> impl Strategy<Value = Signal> {
        let detector = proptest::sample::select(Detector::ALL.to_vec());
        let weight = prop_oneof![4 => 0.0..=1.0f64, 1 => any::<f64>()];
        let subject = proptest::sample::select(vec!["w1", "w2", "w3"]);
        let evidence = proptest::collection::vec(0u64..20, 0..4);
        (detector, subject, weight, evidence).prop_map(|(d, s, w, e)| signal(d, s, w, &e))
    }

    proptest! {
        #[test]
        fn risk_stays_in_range_and_never_drops_when_a_signal_is_added(
            signals in proptest::collection::vec(arb_signal(), 0..12),
            extra in arb_signal(),
        ) {
            let before = combine(signals.clone());
            let mut more = signals;
            more.push(extra.clone());
            let after = combine(more.clone());
            for f in before.iter().chain(&after) {
                prop_assert!((0.0..=1.0).contains(&f.risk), "{}", f.risk);
            }
            let risk = |fs: &[Finding]| {
                fs.iter().find(|f| f.subject == extra.subject).map_or(0.0, |f| f.risk)
            };
            prop_assert!(risk(&after) >= risk(&before));
            for f in &before {
                if f.subject != extra.subject {
                    let same = after.iter().find(|g| g.subject == f.subject);
                    prop_assert_eq!(same.map(|g| g.risk), Some(f.risk));
                }
            }
            for pair in after.windows(2) {
                prop_assert!(pair[0].risk >= pair[1].risk);
            }
            // Order of the input never changes a finding.
            more.reverse();
            let summary = |fs: Vec<Finding>| -> Vec<(String, String, u64, Vec<EventRef>)> {
                fs.into_iter().map(|f| (f.subject, f.key, f.risk.to_bits(), f.evidence)).collect()
            };
            prop_assert_eq!(summary(combine(more)), summary(after));
        }
    }
}
