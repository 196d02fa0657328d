//! Fabricated work and supervision that is not: the same report text or
//! photo again and again (by one worker or many), and supervisors who
//! approve everything, or approve faster than anyone can read.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};

use super::{Detector, Signal, excerpt, list};
use crate::domain::Month;
use crate::domain::model::{Decision, EventRef, Province};

pub const COPY_PASTE_MIN_REPEATS: usize = 5;
pub const COPY_PASTE_MIN_WORKERS: usize = 3;
pub const RUBBER_STAMP_BURST: usize = 30;
pub const RUBBER_STAMP_WINDOW_SECS: i64 = 60;
pub const RUBBER_STAMP_MIN_SHARE: f64 = 0.98;
pub const RUBBER_STAMP_MIN_REVIEWED: usize = 50;

/// Lowercase, whitespace collapsed to single spaces, trimmed.
pub fn normalise(description: &str) -> String {
    description
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

/// Text or hash -> worker -> the events of its reports.
type Uses<'a> = BTreeMap<String, BTreeMap<&'a str, Vec<EventRef>>>;

fn repeats(uses: Uses<'_>, what: impl Fn(&str) -> String, month: Month) -> Vec<Signal> {
    let mut out = Vec::new();
    for (key, workers) in uses {
        let what = what(&key);
        for (w, refs) in &workers {
            if refs.len() >= COPY_PASTE_MIN_REPEATS {
                let explanation = format!("{w} reported {what} {} times in {month}.", refs.len());
                out.push(Signal::new(
                    Detector::CopyPaste,
                    *w,
                    explanation,
                    refs.clone(),
                    [],
                ));
            }
        }
        if workers.len() < COPY_PASTE_MIN_WORKERS {
            continue;
        }
        let names: Vec<&str> = workers.keys().copied().collect();
        let firsts: Vec<EventRef> = workers
            .values()
            .filter_map(|r| r.first().copied())
            .collect();
        for (w, refs) in &workers {
            let others: Vec<&str> = names.iter().copied().filter(|n| n != w).collect();
            let explanation = format!(
                "{w} reported {what}, as did {} other worker(s) in {month}: {}.",
                others.len(),
                list(&others)
            );
            let evidence = refs.iter().chain(&firsts).copied().collect::<Vec<_>>();
            let related = others.iter().map(|o| (*o).to_owned());
            out.push(Signal::new(
                Detector::CopyPaste,
                *w,
                explanation,
                evidence,
                related,
            ));
        }
    }
    out
}

/// `copy_paste`: one normalised description (see [`normalise`]; empty ones
/// do not count) or one evidence reference in [`COPY_PASTE_MIN_REPEATS`]+
/// reports of one worker, or in reports of [`COPY_PASTE_MIN_WORKERS`]+
/// workers, in the month. Reports are read as last amended, any status.
pub fn copy_paste(p: &Province, month: Month) -> Vec<Signal> {
    let mut texts: Uses = BTreeMap::new();
    let mut files: Uses = BTreeMap::new();
    for r in p.reports_in(month) {
        let text = normalise(&r.description);
        if !text.is_empty() {
            let w = texts.entry(text).or_default();
            w.entry(&r.worker_id).or_default().push(r.details_event);
        }
        let hashes: BTreeSet<&str> = r
            .evidence
            .iter()
            .map(|e| e.trim())
            .filter(|e| !e.is_empty())
            .collect();
        for h in hashes {
            let w = files.entry(h.to_owned()).or_default();
            w.entry(&r.worker_id).or_default().push(r.details_event);
        }
    }
    let mut out = repeats(
        texts,
        |t| format!("the same description \"{}\"", excerpt(t, 60)),
        month,
    );
    out.extend(repeats(
        files,
        |h| format!("the same evidence file {}", excerpt(h, 16)),
        month,
    ));
    out
}

/// `rubber_stamp_speed`: a reviewer who approved
/// [`RUBBER_STAMP_BURST`]+ reports within [`RUBBER_STAMP_WINDOW_SECS`]
/// (decisions made on the month's local days). The largest burst is the
/// evidence.
pub fn rubber_stamp_speed(p: &Province, month: Month) -> Vec<Signal> {
    let mut by: BTreeMap<&str, Vec<(DateTime<Utc>, EventRef)>> = BTreeMap::new();
    for r in p.reviews_in(month) {
        if let (Decision::Approved, Some(at), false) = (r.decision, r.at, r.reviewer.is_empty()) {
            by.entry(&r.reviewer).or_default().push((at, r.event));
        }
    }
    let mut out = Vec::new();
    for (reviewer, mut approvals) in by {
        approvals.sort_unstable();
        // The widest window [i, j] spanning at most the window's seconds.
        let (mut best, mut j) = ((0, 0), 0);
        for i in 0..approvals.len() {
            j = j.max(i);
            while j + 1 < approvals.len()
                && (approvals[j + 1].0 - approvals[i].0).num_seconds() <= RUBBER_STAMP_WINDOW_SECS
            {
                j += 1;
            }
            if j + 1 - i > best.1 - best.0 {
                best = (i, j + 1);
            }
        }
        let burst = &approvals[best.0..best.1];
        let (Some(first), Some(last)) = (burst.first(), burst.last()) else {
            continue;
        };
        if burst.len() < RUBBER_STAMP_BURST {
            continue;
        }
        let explanation = format!(
            "{reviewer} approved {} reports within {} seconds, from {}.",
            burst.len(),
            (last.0 - first.0).num_seconds(),
            first.0.format("%Y-%m-%d %H:%M:%S UTC")
        );
        let evidence = burst.iter().map(|(_, e)| *e).collect::<Vec<_>>();
        out.push(Signal::new(
            Detector::RubberStampSpeed,
            reviewer,
            explanation,
            evidence,
            [],
        ));
    }
    out
}

/// `rubber_stamp_rate`: a reviewer who reviewed at least
/// [`RUBBER_STAMP_MIN_REVIEWED`] distinct reports in the month and
/// approved [`RUBBER_STAMP_MIN_SHARE`] or more of them without ever
/// rejecting or returning them.
pub fn rubber_stamp_rate(p: &Province, month: Month) -> Vec<Signal> {
    // Reviewer -> report -> (questioned, approvals).
    let mut by: BTreeMap<&str, BTreeMap<&str, (bool, Vec<EventRef>)>> = BTreeMap::new();
    for r in p.reviews_in(month) {
        if r.reviewer.is_empty() {
            continue;
        }
        let entry = by.entry(&r.reviewer).or_default();
        let (questioned, approvals) = entry.entry(&r.report_id).or_default();
        match r.decision {
            Decision::Approved => approvals.push(r.event),
            Decision::Rejected | Decision::Returned => *questioned = true,
        }
    }
    let mut out = Vec::new();
    for (reviewer, reports) in by {
        let reviewed = reports.len();
        let waved: Vec<&Vec<EventRef>> = reports
            .values()
            .filter(|(questioned, approvals)| !questioned && !approvals.is_empty())
            .map(|(_, approvals)| approvals)
            .collect();
        let share = waved.len() as f64 / reviewed as f64;
        if reviewed < RUBBER_STAMP_MIN_REVIEWED || share < RUBBER_STAMP_MIN_SHARE {
            continue;
        }
        let explanation = format!(
            "{reviewer} approved {} of the {reviewed} reports reviewed in {month} ({:.1}%) \
             without rejecting or returning them.",
            waved.len(),
            100.0 * share
        );
        let evidence = waved.into_iter().flatten().copied().collect::<Vec<_>>();
        out.push(Signal::new(
            Detector::RubberStampRate,
            reviewer,
            explanation,
            evidence,
            [],
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::model::fixtures::*;

    const MARCH: &str = "2026-03";

    fn found(signals: &[Signal]) -> Vec<(&str, Vec<&str>)> {
        signals
            .iter()
            .map(|s| {
                (
                    s.subject.as_str(),
                    s.related.iter().map(String::as_str).collect(),
                )
            })
            .collect()
    }

    fn day(n: u32) -> String {
        format!("2026-03-{n:02}")
    }

    #[test]
    fn descriptions_normalise_case_and_whitespace() {
        assert_eq!(
            normalise("  Menyapu \t JALAN\nprotokol "),
            "menyapu jalan protokol"
        );
        assert_eq!(normalise(" \n "), "");
    }

    #[test]
    fn one_worker_reporting_one_text_five_times_is_copy_paste() {
        let mut g = Given::new();
        let mut evidence = Vec::new();
        for n in 1..=5 {
            let text = if n % 2 == 0 {
                "Membersihkan  saluran"
            } else {
                "membersihkan saluran"
            };
            evidence.push(g.report(&format!("a{n}"), "w1", &day(n), text, &[]));
        }
        for n in 1..=4 {
            g.report(&format!("b{n}"), "w2", &day(n), "Menyapu jalan", &[]);
        }
        for n in 1..=9 {
            g.report(&format!("c{n}"), "w3", &day(n), "   ", &[]);
        }
        let signals = copy_paste(&g.p, m(MARCH));
        assert_eq!(found(&signals), [("w1", vec![])]);
        assert_eq!(signals[0].evidence, evidence);
        assert_eq!(signals[0].weight, 0.25);
        assert!(
            signals[0]
                .explanation
                .contains("\"membersihkan saluran\" 5 times in 2026-03"),
            "{}",
            signals[0].explanation
        );
    }

    #[test]
    fn three_workers_reporting_one_text_is_copy_paste_for_each() {
        let mut g = Given::new();
        let a = g.report("a", "w1", &day(2), "Patroli taman kota", &[]);
        let b = g.report("b", "w2", &day(3), "patroli TAMAN kota", &[]);
        let c = g.report("c", "w3", &day(4), "Patroli taman kota ", &[]);
        g.report("d", "w4", &day(2), "Patroli taman", &[]);
        g.report("e", "w5", &day(2), "Patroli taman", &[]);
        // Another month.
        g.report("f", "w6", "2026-04-01", "Patroli taman", &[]);
        let signals = copy_paste(&g.p, m(MARCH));
        assert_eq!(
            found(&signals),
            [
                ("w1", vec!["w2", "w3"]),
                ("w2", vec!["w1", "w3"]),
                ("w3", vec!["w1", "w2"])
            ]
        );
        assert_eq!(signals[0].evidence, [a, b, c]);
    }

    #[test]
    fn one_photo_reported_again_and_again_is_copy_paste() {
        let mut g = Given::new();
        let mut evidence = Vec::new();
        for n in 1..=5 {
            // Different texts, one photo (listed twice in one report).
            let text = format!("Pekerjaan hari ke-{n}");
            evidence.push(g.report(&format!("a{n}"), "w1", &day(n), &text, &["ph0t0", "ph0t0"]));
        }
        for (i, w) in ["w2", "w3", "w4"].into_iter().enumerate() {
            g.report(
                &format!("s{i}"),
                w,
                &day(9),
                &format!("Tugas {w}"),
                &["shared"],
            );
        }
        for n in 1..=4 {
            g.report(
                &format!("u{n}"),
                "w5",
                &day(n),
                &format!("Tugas {n}"),
                &["four"],
            );
        }
        let signals = copy_paste(&g.p, m(MARCH));
        let subjects: Vec<&str> = signals.iter().map(|s| s.subject.as_str()).collect();
        assert_eq!(subjects, ["w1", "w2", "w3", "w4"]);
        assert_eq!(signals[0].evidence, evidence);
        assert!(
            signals[0]
                .explanation
                .contains("evidence file ph0t0 5 times")
        );
        assert_eq!(signals[1].related, ["w3", "w4"]);
    }

    #[test]
    fn an_amendment_replaces_the_text_that_counts() {
        use pantau_proto::events::v1 as ev;
        let mut g = Given::new();
        for n in 1..=5 {
            g.report(&format!("a{n}"), "w1", &day(n), "sama", &[]);
        }
        g.activity(ev::activity_event::Event::ActivityAmended(
            ev::ActivityAmended {
                report_id: "a5".into(),
                worker_id: "w1".into(),
                details: Some(ev::ActivityDetails {
                    description: "berbeda".into(),
                    ..Default::default()
                }),
                ..Default::default()
            },
        ));
        assert!(copy_paste(&g.p, m(MARCH)).is_empty());
    }

    fn approvals(g: &mut Given, reviewer: &str, n: usize, start: &str, every_ms: i64) {
        let start = utc(start);
        for i in 0..n {
            let id = format!("{reviewer}-{i}");
            g.report(
                &id,
                &format!("w{}", i % 7),
                &day(2),
                &format!("Tugas {i}"),
                &[],
            );
            let at = start + chrono::Duration::milliseconds(every_ms * i as i64);
            g.review(&id, reviewer, &at.to_rfc3339(), Decision::Approved);
        }
    }

    #[test]
    fn thirty_approvals_within_a_minute_is_rubber_stamp_speed() {
        let mut g = Given::new();
        // 30 in 58 seconds, after a slow start.
        approvals(&mut g, "fast", 3, "2026-03-02T01:00:00Z", 600_000);
        let start = utc("2026-03-03T02:00:00Z");
        let mut burst = Vec::new();
        for i in 0..30 {
            let id = format!("burst-{i}");
            g.report(&id, "w1", &day(3), &format!("Tugas {i}"), &[]);
            let at = start + chrono::Duration::seconds(2 * i);
            burst.push(g.review(&id, "fast", &at.to_rfc3339(), Decision::Approved));
        }
        // 30 at three-second intervals span 87 seconds; 29 in ten seconds.
        approvals(&mut g, "steady", 30, "2026-03-02T01:00:00Z", 3_000);
        approvals(&mut g, "short", 29, "2026-03-02T01:00:00Z", 300);
        let signals = rubber_stamp_speed(&g.p, m(MARCH));
        assert_eq!(found(&signals), [("fast", vec![])]);
        assert_eq!(signals[0].evidence, burst);
        assert_eq!(signals[0].weight, 0.5);
        assert!(
            signals[0]
                .explanation
                .contains("approved 30 reports within 58 seconds"),
            "{}",
            signals[0].explanation
        );
    }

    #[test]
    fn approving_nearly_everything_of_fifty_reviews_is_rubber_stamp_rate() {
        let mut g = Given::new();
        let hour = 3_600_000;
        approvals(&mut g, "all", 50, "2026-03-02T01:00:00Z", hour);
        approvals(&mut g, "most", 49, "2026-03-02T01:00:00Z", hour);
        g.report("most-x", "w1", &day(4), "Tugas x", &[]);
        g.review("most-x", "most", "2026-03-04T01:00:00Z", Decision::Rejected);
        // Returned once, then approved: questioned, so 48 of 50.
        approvals(&mut g, "careful", 48, "2026-03-02T01:00:00Z", hour);
        for id in ["careful-r1", "careful-r2"] {
            g.report(id, "w1", &day(4), id, &[]);
            g.review(id, "careful", "2026-03-04T01:00:00Z", Decision::Returned);
            g.review(id, "careful", "2026-03-05T01:00:00Z", Decision::Approved);
        }
        approvals(&mut g, "few", 49, "2026-03-02T01:00:00Z", hour);
        let signals = rubber_stamp_rate(&g.p, m(MARCH));
        assert_eq!(found(&signals), [("all", vec![]), ("most", vec![])]);
        assert_eq!(signals[0].evidence.len(), 50);
        assert!(signals[1].explanation.contains("49 of the 50 reports"));
        assert!(signals[1].explanation.contains("(98.0%)"));
        // April's reviews are April's.
        assert!(rubber_stamp_rate(&g.p, m("2026-04")).is_empty());
    }
}
