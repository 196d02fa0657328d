//! Detectors: each reads the [`Province`] for one local month and emits a
//! [`Signal`] per suspicious subject, naming the events that prove it.
//! A signal is a lead for an investigator, not a verdict: [`super::risk`]
//! combines a subject's signals into one finding.
//!
//! Comparing workers on the server is what works (checks on the phone are
//! easily beaten), so most detectors look across workers: shared
//! fingerprints, devices, coordinates, texts. Scanner phones legitimately
//! scan hundreds of workers at a ceremony: a scan is the scanned worker's
//! fact, never the officer's, and a registered scanner's device id or
//! position never counts as a personal device or a personal position.
//!
//! | detector | kind | weight | fires when (thresholds are the consts of each module) |
//! |---|---|---|---|
//! | `duplicate_nik` | ghost | 0.90 | two or more workers on the payroll share a NIK fingerprint (or the import recorded it) |
//! | `duplicate_bank_account` | ghost | 0.70 | ... a bank account: the pay of two identities lands in one account |
//! | `duplicate_phone` | ghost | 0.40 | ... a phone number (families share phones) |
//! | `duplicate_email` | ghost | 0.35 | ... an e-mail address |
//! | `nip_nik_mismatch` | ghost | 0.50 | a PNS's NIP disagrees with the NIK's birth date or sex, or is malformed; or the import recorded a mismatch |
//! | `impossible_birth_date` | ghost | 0.45 | birth date missing, unreadable, before 1940, or under 17 on joining |
//! | `never_present` | ghost | 0.70 | employed all month, yet no check-in, no report, no ceremony scan |
//! | `missed_reverification` | ghost | 0.30 | missed a re-verification campaign (e-PUPNS) |
//! | `active_after_deactivation` | ghost | 0.85 | check-ins, reports or scans dated on or after the deactivation |
//! | `shared_device` | proxy | 0.50 | one personal device checked in 3+ workers in the month |
//! | `same_coordinates` | proxy | 0.45 | 3+ workers checked in at exactly the same coordinates on one day |
//! | `credential_two_places` | proxy | 0.80 | one credential accepted at two sessions 1+ km apart within 30 minutes |
//! | `impossible_travel` | proxy | 0.55 | consecutive check-ins imply more than 150 km/h |
//! | `no_jitter` | proxy | 0.30 | check-in positions within 1 m of each other on 5+ days (real GPS wanders) |
//! | `always_outside` | proxy | 0.25 | 80%+ of at least 5 check-ins outside the worker's sites |
//! | `copy_paste` | proxy | 0.25 | one text or evidence hash reported 5+ times by a worker, or by 3+ workers |
//! | `rubber_stamp_speed` | supervision | 0.50 | a supervisor approved 30+ reports within 60 seconds |
//! | `rubber_stamp_rate` | supervision | 0.25 | a supervisor approved 98%+ of 50+ reports reviewed in the month without question |
//!
//! Weights say how strongly a signal alone suggests fraud: identity
//! collisions on the NIK and pay after termination are hard to explain
//! innocently; a repetitive report or a check-in outside the fence often
//! has a mundane cause, and only adds up with others.

use std::collections::BTreeMap;

use super::Month;
use super::model::{EventRef, FingerprintKind, Province};

pub mod employment;
pub mod identity;
pub mod location;
pub mod reports;

/// What kind of fraud a signal points at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    /// Someone on the payroll who does not exist or does not work.
    Ghost,
    /// Someone else's attendance or work passed off as the worker's
    /// ("titip presensi"), or a faked place.
    Proxy,
    /// A supervisor's checks that are not checks.
    Supervision,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Ghost => "ghost",
            Kind::Proxy => "proxy",
            Kind::Supervision => "supervision",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Detector {
    DuplicateNik,
    DuplicateBankAccount,
    DuplicatePhone,
    DuplicateEmail,
    NipNikMismatch,
    ImpossibleBirthDate,
    NeverPresent,
    MissedReverification,
    ActiveAfterDeactivation,
    SharedDevice,
    SameCoordinates,
    CredentialTwoPlaces,
    ImpossibleTravel,
    NoJitter,
    AlwaysOutside,
    CopyPaste,
    RubberStampSpeed,
    RubberStampRate,
}

impl Detector {
    pub const ALL: [Detector; 18] = [
        Detector::DuplicateNik,
        Detector::DuplicateBankAccount,
        Detector::DuplicatePhone,
        Detector::DuplicateEmail,
        Detector::NipNikMismatch,
        Detector::ImpossibleBirthDate,
        Detector::NeverPresent,
        Detector::MissedReverification,
        Detector::ActiveAfterDeactivation,
        Detector::SharedDevice,
        Detector::SameCoordinates,
        Detector::CredentialTwoPlaces,
        Detector::ImpossibleTravel,
        Detector::NoJitter,
        Detector::AlwaysOutside,
        Detector::CopyPaste,
        Detector::RubberStampSpeed,
        Detector::RubberStampRate,
    ];

    /// Stable snake_case name, stored with findings: never rename.
    pub fn name(self) -> &'static str {
        match self {
            Detector::DuplicateNik => "duplicate_nik",
            Detector::DuplicateBankAccount => "duplicate_bank_account",
            Detector::DuplicatePhone => "duplicate_phone",
            Detector::DuplicateEmail => "duplicate_email",
            Detector::NipNikMismatch => "nip_nik_mismatch",
            Detector::ImpossibleBirthDate => "impossible_birth_date",
            Detector::NeverPresent => "never_present",
            Detector::MissedReverification => "missed_reverification",
            Detector::ActiveAfterDeactivation => "active_after_deactivation",
            Detector::SharedDevice => "shared_device",
            Detector::SameCoordinates => "same_coordinates",
            Detector::CredentialTwoPlaces => "credential_two_places",
            Detector::ImpossibleTravel => "impossible_travel",
            Detector::NoJitter => "no_jitter",
            Detector::AlwaysOutside => "always_outside",
            Detector::CopyPaste => "copy_paste",
            Detector::RubberStampSpeed => "rubber_stamp_speed",
            Detector::RubberStampRate => "rubber_stamp_rate",
        }
    }

    pub fn parse(name: &str) -> Option<Detector> {
        Detector::ALL.into_iter().find(|d| d.name() == name)
    }

    pub fn kind(self) -> Kind {
        use Detector as D;
        match self {
            D::DuplicateNik
            | D::DuplicateBankAccount
            | D::DuplicatePhone
            | D::DuplicateEmail
            | D::NipNikMismatch
            | D::ImpossibleBirthDate
            | D::NeverPresent
            | D::MissedReverification
            | D::ActiveAfterDeactivation => Kind::Ghost,
            D::SharedDevice
            | D::SameCoordinates
            | D::CredentialTwoPlaces
            | D::ImpossibleTravel
            | D::NoJitter
            | D::AlwaysOutside
            | D::CopyPaste => Kind::Proxy,
            D::RubberStampSpeed | D::RubberStampRate => Kind::Supervision,
        }
    }

    /// How strongly the signal alone suggests fraud (the module doc's table).
    pub fn weight(self) -> f64 {
        use Detector as D;
        match self {
            D::DuplicateNik => 0.9,
            D::ActiveAfterDeactivation => 0.85,
            D::CredentialTwoPlaces => 0.8,
            D::DuplicateBankAccount | D::NeverPresent => 0.7,
            D::ImpossibleTravel => 0.55,
            D::NipNikMismatch | D::SharedDevice | D::RubberStampSpeed => 0.5,
            D::ImpossibleBirthDate | D::SameCoordinates => 0.45,
            D::DuplicatePhone => 0.4,
            D::DuplicateEmail => 0.35,
            D::MissedReverification | D::NoJitter => 0.3,
            D::AlwaysOutside | D::CopyPaste | D::RubberStampRate => 0.25,
        }
    }

    /// The duplicate detector of a fingerprinted field.
    pub fn duplicate(kind: FingerprintKind) -> Detector {
        match kind {
            FingerprintKind::Nik => Detector::DuplicateNik,
            FingerprintKind::BankAccount => Detector::DuplicateBankAccount,
            FingerprintKind::Phone => Detector::DuplicatePhone,
            FingerprintKind::Email => Detector::DuplicateEmail,
        }
    }
}

impl std::fmt::Display for Detector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// One detector's lead on one subject.
#[derive(Debug, Clone, PartialEq)]
pub struct Signal {
    pub detector: Detector,
    /// A worker id, or a supervisor's id for the rubber-stamp detectors.
    pub subject: String,
    /// 0..1, how strongly this signal alone suggests fraud.
    pub weight: f64,
    /// A sentence an investigator reads, with the numbers.
    pub explanation: String,
    /// Sorted, deduplicated.
    pub evidence: Vec<EventRef>,
    /// Other workers involved; sorted, deduplicated, never the subject.
    pub related: Vec<String>,
    /// The month, for a signal about an absence (`never_present`): no event
    /// can prove one, so without it a finding cleared for one month would
    /// hide the same absence in every later month. None otherwise: the
    /// evidence says when.
    pub period: Option<Month>,
}

impl Signal {
    /// A signal at the detector's weight; evidence and related are sorted
    /// and deduplicated, and the subject is dropped from related.
    pub fn new(
        detector: Detector,
        subject: impl Into<String>,
        explanation: impl Into<String>,
        evidence: impl IntoIterator<Item = EventRef>,
        related: impl IntoIterator<Item = String>,
    ) -> Signal {
        let subject = subject.into();
        let mut evidence: Vec<EventRef> = evidence.into_iter().collect();
        evidence.sort_unstable();
        evidence.dedup();
        let mut related: Vec<String> = related.into_iter().filter(|r| *r != subject).collect();
        related.sort_unstable();
        related.dedup();
        Signal {
            detector,
            weight: detector.weight(),
            subject,
            explanation: explanation.into(),
            evidence,
            related,
            period: None,
        }
    }

    /// About an absence in `month` (see [`Signal::period`]).
    pub fn about(mut self, month: Month) -> Signal {
        self.period = Some(month);
        self
    }
}

/// Every detector on the month, one signal per (detector, subject), sorted
/// by subject, then detector.
pub fn detect_all(p: &Province, month: Month) -> Vec<Signal> {
    let runs: &[fn(&Province, Month) -> Vec<Signal>] = &[
        identity::duplicates,
        identity::nip_nik_mismatch,
        identity::impossible_birth_date,
        identity::missed_reverification,
        employment::never_present,
        employment::active_after_deactivation,
        location::shared_device,
        location::same_coordinates,
        location::credential_two_places,
        location::impossible_travel,
        location::no_jitter,
        location::always_outside,
        reports::copy_paste,
        reports::rubber_stamp_speed,
        reports::rubber_stamp_rate,
    ];
    merge(runs.iter().flat_map(|run| run(p, month)))
}

/// One signal per (detector, subject): a detector that found several
/// reasons (two shared devices, three impossible trips) joins them.
pub fn merge(signals: impl IntoIterator<Item = Signal>) -> Vec<Signal> {
    let mut by: BTreeMap<(String, Detector), Signal> = BTreeMap::new();
    for s in signals {
        match by.entry((s.subject.clone(), s.detector)) {
            std::collections::btree_map::Entry::Vacant(v) => {
                v.insert(s);
            }
            std::collections::btree_map::Entry::Occupied(mut o) => {
                let m = o.get_mut();
                m.explanation = format!("{} {}", m.explanation, s.explanation);
                m.evidence.extend(s.evidence);
                m.evidence.sort_unstable();
                m.evidence.dedup();
                m.related.extend(s.related);
                m.related.sort_unstable();
                m.related.dedup();
                m.weight = m.weight.max(s.weight);
                m.period = m.period.max(s.period);
            }
        }
    }
    by.into_values().collect()
}

/// Ids for a sentence: at most ten, then how many more.
pub(crate) fn list<S: AsRef<str>>(ids: &[S]) -> String {
    const SHOWN: usize = 10;
    let shown: Vec<&str> = ids.iter().take(SHOWN).map(AsRef::as_ref).collect();
    let more = ids.len().saturating_sub(SHOWN);
    if more == 0 {
        shown.join(", ")
    } else {
        format!("{} and {more} more", shown.join(", "))
    }
}

/// The first `max` characters, with an ellipsis when cut.
pub(crate) fn excerpt(s: &str, max: usize) -> String {
    let mut chars = s.chars();
    let head: String = chars.by_ref().take(max).collect();
    if chars.next().is_some() {
        format!("{head}…")
    } else {
        head
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use pantau_proto::events::v1 as ev;

    use super::*;
    use crate::domain::model::Decision;
    use crate::domain::model::fixtures::*;

    const MARCH: &str = "2026-03";

    #[test]
    fn every_detector_has_a_unique_snake_case_name_that_parses_back() {
        let names: BTreeSet<&str> = Detector::ALL.iter().map(|d| d.name()).collect();
        assert_eq!(names.len(), Detector::ALL.len());
        for d in Detector::ALL {
            assert!(
                d.name()
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b == b'_')
            );
            assert_eq!(Detector::parse(d.name()), Some(d));
            assert_eq!(d.to_string(), d.name());
        }
        assert_eq!(Detector::parse("Duplicate_NIK"), None);
        assert_eq!(Detector::RubberStampRate.kind(), Kind::Supervision);
        assert_eq!(Detector::SharedDevice.kind().name(), "proxy");
        assert_eq!(Detector::NeverPresent.kind(), Kind::Ghost);
    }

    #[test]
    fn strong_evidence_weighs_more_than_weak_signals() {
        use Detector as D;
        for d in Detector::ALL {
            assert!((0.0..=1.0).contains(&d.weight()), "{d}");
        }
        let strong = [
            D::DuplicateNik,
            D::ActiveAfterDeactivation,
            D::CredentialTwoPlaces,
            D::NeverPresent,
        ];
        for d in strong {
            assert!((0.6..=0.9).contains(&d.weight()), "{d}");
        }
        let weak = [
            D::MissedReverification,
            D::AlwaysOutside,
            D::CopyPaste,
            D::NoJitter,
            D::RubberStampRate,
        ];
        for d in weak {
            assert!((0.2..=0.35).contains(&d.weight()), "{d}");
        }
    }

    #[test]
    fn a_signal_sorts_and_dedups_its_evidence_and_never_relates_its_subject() {
        let (a, b) = (EventRef::identity(9), EventRef::attendance(3));
        let related = ["w3", "w1", "w2", "w3"].map(String::from);
        let s = Signal::new(Detector::SharedDevice, "w2", "text", [a, b, a], related);
        assert_eq!(s.evidence, [b, a]);
        assert_eq!(s.related, ["w1", "w3"]);
        assert_eq!((s.weight, s.period), (0.5, None));
        assert_eq!(s.clone().about(m(MARCH)).period, Some(m(MARCH)));
    }

    #[test]
    fn signals_of_one_detector_on_one_subject_merge_into_one() {
        let (a, b) = (EventRef::attendance(1), EventRef::attendance(2));
        let first = Signal::new(Detector::ImpossibleTravel, "w1", "Trip one.", [b], []);
        let second = Signal::new(Detector::ImpossibleTravel, "w1", "Trip two.", [a, b], []);
        let other = Signal::new(Detector::NoJitter, "w1", "Still.", [a], []);
        let merged = merge([first, other.clone(), second]);
        assert_eq!(merged.len(), 2);
        assert_eq!(merged[0].explanation, "Trip one. Trip two.");
        assert_eq!(merged[0].evidence, [a, b]);
        assert_eq!(merged[1], other);
    }

    #[test]
    fn list_and_excerpt_keep_sentences_short() {
        let ids: Vec<String> = (0..12).map(|i| format!("w{i}")).collect();
        assert_eq!(list(&ids[..2]), "w0, w1");
        assert!(list(&ids).ends_with("w9 and 2 more"));
        assert_eq!(excerpt("saluran", 3), "sal…");
        assert_eq!(excerpt("air", 3), "air");
    }

    /// One planted case of every detector in one province.
    fn planted() -> Given {
        let mut g = Given::new();
        type Set = fn(&mut ev::Fingerprints);
        let share: [(&str, &str, Set); 4] = [
            ("d1", "d2", |f| f.nik = "n".into()),
            ("d3", "d4", |f| f.bank_account = "b".into()),
            ("d5", "d6", |f| f.phone = "p".into()),
            ("d7", "d8", |f| f.email = "e".into()),
        ];
        for (a, b, set) in share {
            for id in [a, b] {
                let mut w = registered(id);
                set(w.fingerprints.get_or_insert_default());
                g.register(w);
            }
        }
        let mut n1 = registered("n1");
        n1.kind = ev::WorkerKind::Pns as i32;
        n1.employee_id = "198001012005011001".into();
        g.register(n1);
        let mut b1 = registered("b1");
        b1.birth_date = "1930-01-01".into();
        g.register(b1);
        g.worker("r1");
        g.identity(ev::identity_event::Event::ReverificationMissed(
            ev::ReverificationMissed {
                worker_id: "r1".into(),
                campaign_id: "pupns".into(),
                agency_id: "dlh".into(),
            },
        ));
        g.worker("x1");
        g.deactivate("x1", "2026-03-10");
        g.check_in("x1", "2026-03-12T01:00:00Z", SITE.0, SITE.1);
        for w in ["s1", "s2", "s3"] {
            for at in ["2026-03-02T01:00:00Z", "2026-03-03T01:00:00Z"] {
                let mut p = presence(w, at, SITE.0, SITE.1);
                p.device_id = "dev".into();
                g.presence(p);
            }
        }
        g.session("a", "2026-03-17T01:00:00Z", SITE.0, SITE.1);
        g.session("b", "2026-03-17T01:00:00Z", SITE.0 + 0.045, SITE.1);
        g.scan("a", "t1", "scn-1", None);
        g.scan("b", "t1", "scn-2", None);
        g.check_in("v1", "2026-03-02T01:00:00Z", SITE.0, SITE.1);
        g.check_in("v1", "2026-03-02T01:20:00Z", -6.9147, 107.6098);
        for day in 2..=6 {
            g.check_in("j1", &format!("2026-03-0{day}T01:00:00Z"), -6.2, 106.9);
            let mut p = presence("o1", &format!("2026-03-0{day}T01:00:00Z"), -6.3, 106.7);
            p.inside = false;
            g.presence(p);
        }
        let start = utc("2026-03-20T08:00:00Z");
        for i in 0..50 {
            let id = format!("p{i}");
            g.report(&id, "p1", "2026-03-20", "Sama saja", &[]);
            let at = start + chrono::Duration::seconds(i);
            g.review(&id, "kasi-fast", &at.to_rfc3339(), Decision::Approved);
        }
        g
    }

    #[test]
    fn detect_all_runs_every_detector_one_signal_per_subject_sorted() {
        let g = planted();
        let signals = detect_all(&g.p, m(MARCH));
        let fired: BTreeSet<Detector> = signals.iter().map(|s| s.detector).collect();
        let all: BTreeSet<Detector> = Detector::ALL.into_iter().collect();
        assert_eq!(fired, all);
        let keys: Vec<(&str, Detector)> = signals
            .iter()
            .map(|s| (s.subject.as_str(), s.detector))
            .collect();
        let mut sorted = keys.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(keys, sorted);
        assert_eq!(detect_all(&g.p, m(MARCH)), signals, "deterministic");
        for s in &signals {
            assert!(!s.explanation.is_empty() && !s.evidence.is_empty(), "{s:?}");
        }
        let of = |d: Detector| -> Vec<&str> {
            let found = signals.iter().filter(|s| s.detector == d);
            found.map(|s| s.subject.as_str()).collect()
        };
        assert_eq!(of(Detector::DuplicateNik), ["d1", "d2"]);
        assert_eq!(of(Detector::RubberStampSpeed), ["kasi-fast"]);
        assert_eq!(of(Detector::CredentialTwoPlaces), ["t1"]);
        assert!(of(Detector::NeverPresent).contains(&"d1"));
        assert!(!of(Detector::NeverPresent).contains(&"x1"));
    }

    /// The HR desk of the Independence Day ceremony: one officer's phone
    /// scans three hundred colleagues at two ceremonies and serves as a
    /// check-in kiosk; nobody in it is a suspect.
    #[test]
    fn an_hr_scanner_officer_scanning_hundreds_of_workers_is_flagged_by_nothing() {
        let mut g = Given::new();
        g.register({
            let mut w = registered("hr1");
            w.kind = ev::WorkerKind::Pns as i32;
            w.employee_id = "199005172015031001".into();
            w
        });
        g.scanner("scn-hr1");
        for day in 2..=27 {
            let at = format!("2026-03-{day:02}T00:55:00Z");
            let lat = SITE.0 + 4.5e-5 * f64::from(day);
            g.check_in("hr1", &at, lat, SITE.1);
            let id = format!("hr1-{day}");
            g.report(
                &id,
                "hr1",
                &format!("2026-03-{day:02}"),
                &format!("Pendataan {day}"),
                &[],
            );
        }
        g.session("apel", "2026-03-02T00:30:00Z", SITE.0, SITE.1);
        g.session("hut", "2026-03-17T00:30:00Z", SITE.0 + 0.045, SITE.1);
        let workers: Vec<String> = (0..300).map(|i| format!("w{i:03}")).collect();
        for (i, w) in workers.iter().enumerate() {
            g.worker(w);
            let at = utc("2026-03-02T00:00:00Z") + chrono::Duration::seconds(2 * i as i64);
            g.scan("apel", w, "scn-hr1", Some(&at.to_rfc3339()));
            let at = at + chrono::Duration::days(15);
            g.scan("hut", w, "scn-hr1", Some(&at.to_rfc3339()));
        }
        // The officer's phone as a kiosk: one position, many workers, days.
        for w in &workers[..5] {
            for day in 3..=9 {
                let mut p = presence(w, &format!("2026-03-{day:02}T01:00:00Z"), SITE.0, SITE.1);
                p.device_id = "scn-hr1".into();
                g.presence(p);
            }
        }
        let signals = detect_all(&g.p, m(MARCH));
        assert!(signals.is_empty(), "{signals:#?}");
        // Scans are the scanned workers' facts: the officer has none.
        assert!(g.p.scans_in(m(MARCH)).iter().all(|s| s.worker_id != "hr1"));
    }
}
