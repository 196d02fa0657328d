//! Ghost identities found in the registry alone: one person holding several
//! payroll identities, NIPs that belie their NIK, impossible birth dates,
//! missed re-registration. These are standing facts: the same evidence
//! gives the same signal every month the workers stay on the payroll.

use std::collections::{BTreeMap, HashMap};

use chrono::{Datelike, NaiveDate};

use super::{Detector, Signal, excerpt, list};
use crate::domain::Month;
use crate::domain::model::{EventRef, FingerprintKind, Province, Worker};

/// Born before this year: an implausible working age, or a typo.
pub const EARLIEST_BIRTH_YEAR: i32 = 1940;
/// The youngest age at which a worker may join.
pub const MIN_AGE_ON_JOINING: u32 = 17;
/// The import anomaly kind identity records for a NIP/NIK mismatch.
pub const NIP_NIK_MISMATCH_ANOMALY: &str = "nip_nik_mismatch";

fn label(kind: FingerprintKind) -> &'static str {
    match kind {
        FingerprintKind::Nik => "NIK",
        FingerprintKind::BankAccount => "bank account",
        FingerprintKind::Phone => "phone number",
        FingerprintKind::Email => "e-mail address",
    }
}

/// The import anomaly kind of a duplicate of `kind`.
fn anomaly_kind(kind: FingerprintKind) -> String {
    format!("duplicate_{}", kind.name())
}

/// `duplicate_*`: workers on the payroll in the month sharing a
/// fingerprint, or linked by an import anomaly of that duplicate. Each gets
/// a signal naming the others.
pub fn duplicates(p: &Province, month: Month) -> Vec<Signal> {
    let employed: BTreeMap<&str, &Worker> = p
        .workers_employed_in(month)
        .map(|w| (w.id.as_str(), w))
        .collect();
    let mut out = Vec::new();
    for kind in FingerprintKind::ALL {
        let mut holders: HashMap<&str, Vec<&Worker>> = HashMap::new();
        for w in employed.values() {
            if let Some(f) = w.fingerprint(kind) {
                holders.entry(f.value.as_str()).or_default().push(w);
            }
        }
        // Worker -> other worker -> the events linking them.
        let mut links: BTreeMap<&str, BTreeMap<&str, Vec<EventRef>>> = BTreeMap::new();
        for group in holders.values().filter(|g| g.len() >= 2) {
            for w in group {
                for o in group.iter().filter(|o| o.id != w.id) {
                    let refs = [w, o].into_iter().filter_map(|x| x.fingerprint(kind));
                    let entry = links.entry(&w.id).or_default().entry(&o.id).or_default();
                    entry.extend(refs.map(|f| f.at));
                }
            }
        }
        let anomaly = anomaly_kind(kind);
        for w in employed.values() {
            for a in w.anomalies.iter().filter(|a| a.kind == anomaly) {
                let Some(o) = employed.get(a.other_worker_id.as_str()) else {
                    continue;
                };
                if o.id == w.id {
                    continue;
                }
                for (x, y) in [(&w.id, &o.id), (&o.id, &w.id)] {
                    links.entry(x).or_default().entry(y).or_default().push(a.at);
                }
            }
        }
        for (w, others) in links {
            let names: Vec<&str> = others.keys().copied().collect();
            let explanation = format!(
                "{w} shares its {} with {} other worker(s) on the payroll in {month}: {}.",
                label(kind),
                names.len(),
                list(&names)
            );
            let evidence = others.values().flatten().copied();
            let related = names.iter().map(|n| (*n).to_owned());
            out.push(Signal::new(
                Detector::duplicate(kind),
                w,
                explanation,
                evidence.collect::<Vec<_>>(),
                related,
            ));
        }
    }
    out
}

/// What an 18-digit NIP says: the birth date and the sex (1 or 2).
fn parse_nip(nip: &str) -> Result<(NaiveDate, u32), &'static str> {
    if nip.len() != 18 || !nip.bytes().all(|b| b.is_ascii_digit()) {
        return Err("is not 18 digits");
    }
    let num = |r: std::ops::Range<usize>| nip[r].parse::<u32>().unwrap_or(0);
    let birth = i32::try_from(num(0..4))
        .ok()
        .and_then(|y| NaiveDate::from_ymd_opt(y, num(4..6), num(6..8)))
        .ok_or("does not start with a real birth date")?;
    if !(1..=12).contains(&num(12..14)) {
        return Err("has no real appointment month in digits 13-14");
    }
    match num(14..15) {
        sex @ (1 | 2) => Ok((birth, sex)),
        _ => Err("has a sex digit other than 1 or 2"),
    }
}

fn sex_name(sex: u32) -> &'static str {
    if sex == 1 { "male" } else { "female" }
}

/// `nip_nik_mismatch`: a PNS whose NIP is malformed or disagrees with the
/// NIK's birth date or sex; and any worker the import recorded as such.
pub fn nip_nik_mismatch(p: &Province, month: Month) -> Vec<Signal> {
    let mut out = Vec::new();
    for w in p.workers_employed_in(month) {
        let mut reasons = Vec::new();
        let mut evidence = vec![w.registered_at];
        if w.pns {
            match parse_nip(&w.employee_id) {
                Err(why) => reasons.push(format!("its NIP {why}")),
                Ok((birth, sex)) => {
                    if let Some(nik_birth) = w.birth_date.filter(|b| *b != birth) {
                        reasons.push(format!(
                            "its NIP gives birth date {birth} but its NIK gives {nik_birth}"
                        ));
                    }
                    if w.sex != 0 && w.sex != sex {
                        reasons.push(format!(
                            "its NIP says {} but its NIK says {}",
                            sex_name(sex),
                            sex_name(w.sex)
                        ));
                    }
                }
            }
        }
        for a in w
            .anomalies
            .iter()
            .filter(|a| a.kind == NIP_NIK_MISMATCH_ANOMALY)
        {
            reasons.push(format!(
                "the legacy import recorded a NIP/NIK mismatch ({})",
                excerpt(&a.detail, 120)
            ));
            evidence.push(a.at);
        }
        if !reasons.is_empty() {
            let explanation = format!("{}: {}.", w.id, reasons.join("; "));
            out.push(Signal::new(
                Detector::NipNikMismatch,
                &w.id,
                explanation,
                evidence,
                [],
            ));
        }
    }
    out
}

/// `impossible_birth_date`: missing, unreadable, before
/// [`EARLIEST_BIRTH_YEAR`], or younger than [`MIN_AGE_ON_JOINING`] (or not
/// yet born) on joining.
pub fn impossible_birth_date(p: &Province, month: Month) -> Vec<Signal> {
    let mut out = Vec::new();
    for w in p.workers_employed_in(month) {
        let reason = match w.birth_date {
            None if w.birth_date_raw.is_empty() => Some("has no birth date".to_owned()),
            None => Some(format!(
                "has an unreadable birth date {:?}",
                excerpt(&w.birth_date_raw, 20)
            )),
            Some(b) if b.year() < EARLIEST_BIRTH_YEAR => {
                Some(format!("was born on {b}, before {EARLIEST_BIRTH_YEAR}"))
            }
            Some(b) => w.joined_on.and_then(|j| match j.years_since(b) {
                None => Some(format!("joined on {j}, before being born on {b}")),
                Some(age) if age < MIN_AGE_ON_JOINING => Some(format!(
                    "joined on {j} aged {age} (born {b}), under {MIN_AGE_ON_JOINING}"
                )),
                Some(_) => None,
            }),
        };
        if let Some(reason) = reason {
            out.push(Signal::new(
                Detector::ImpossibleBirthDate,
                &w.id,
                format!("{} {reason}.", w.id),
                [w.registered_at],
                [],
            ));
        }
    }
    out
}

/// `missed_reverification`: a campaign missed and not made up for later.
pub fn missed_reverification(p: &Province, month: Month) -> Vec<Signal> {
    let mut out = Vec::new();
    for w in p.workers_employed_in(month) {
        let missed: Vec<_> = w.unresolved_misses().collect();
        if missed.is_empty() {
            continue;
        }
        let campaigns: Vec<&str> = missed.iter().map(|m| m.value.as_str()).collect();
        let explanation = format!(
            "{} did not re-verify in {} campaign(s): {}.",
            w.id,
            campaigns.len(),
            list(&campaigns)
        );
        let evidence = missed.iter().map(|m| m.at).collect::<Vec<_>>();
        out.push(Signal::new(
            Detector::MissedReverification,
            &w.id,
            explanation,
            evidence,
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

    fn subjects(signals: &[Signal]) -> Vec<(&str, Detector, Vec<&str>)> {
        let mut out: Vec<_> = signals
            .iter()
            .map(|s| {
                let related = s.related.iter().map(String::as_str).collect();
                (s.subject.as_str(), s.detector, related)
            })
            .collect();
        out.sort();
        out
    }

    fn with(id: &str, change: impl FnOnce(&mut ev::WorkerRegistered)) -> ev::WorkerRegistered {
        let mut w = registered(id);
        change(&mut w);
        w
    }

    fn fingerprints(w: &mut ev::WorkerRegistered) -> &mut ev::Fingerprints {
        w.fingerprints.get_or_insert_default()
    }

    #[test]
    fn workers_sharing_a_nik_each_get_a_signal_naming_the_others() {
        let mut g = Given::new();
        let a = g.register(with("w1", |w| fingerprints(w).nik = "same".into()));
        let b = g.register(with("w2", |w| fingerprints(w).nik = "same".into()));
        let c = g.register(with("w3", |w| fingerprints(w).nik = "same".into()));
        g.worker("w4");
        let signals = duplicates(&g.p, m(MARCH));
        assert_eq!(
            subjects(&signals),
            [
                ("w1", Detector::DuplicateNik, vec!["w2", "w3"]),
                ("w2", Detector::DuplicateNik, vec!["w1", "w3"]),
                ("w3", Detector::DuplicateNik, vec!["w1", "w2"]),
            ]
        );
        let s = &signals[0];
        assert_eq!(s.evidence, [a, b, c]);
        assert_eq!(s.weight, 0.9);
        assert!(
            s.explanation.contains("NIK with 2 other worker(s)"),
            "{}",
            s.explanation
        );
        assert!(
            !s.explanation.contains("same"),
            "no fingerprint in the text"
        );
    }

    #[test]
    fn a_shared_bank_account_phone_or_email_is_its_own_detector() {
        let mut g = Given::new();
        g.register(with("w1", |w| {
            fingerprints(w).bank_account = "acct".into();
            fingerprints(w).email = "mail".into();
        }));
        g.register(with("w2", |w| fingerprints(w).bank_account = "acct".into()));
        g.register(with("w3", |w| fingerprints(w).email = "mail".into()));
        g.register(with("w4", |w| fingerprints(w).phone = "phone-w1".into()));
        let signals = duplicates(&g.p, m(MARCH));
        assert_eq!(
            subjects(&signals),
            [
                ("w1", Detector::DuplicateBankAccount, vec!["w2"]),
                ("w1", Detector::DuplicatePhone, vec!["w4"]),
                ("w1", Detector::DuplicateEmail, vec!["w3"]),
                ("w2", Detector::DuplicateBankAccount, vec!["w1"]),
                ("w3", Detector::DuplicateEmail, vec!["w1"]),
                ("w4", Detector::DuplicatePhone, vec!["w1"]),
            ]
        );
    }

    #[test]
    fn an_update_that_collides_is_evidence_and_one_that_parts_clears_it() {
        let mut g = Given::new();
        let first = g.worker("w1");
        g.worker("w2");
        let update = |phone: &str| {
            ev::identity_event::Event::WorkerUpdated(ev::WorkerUpdated {
                worker_id: "w2".into(),
                changed: vec!["phone".into()],
                fingerprints: Some(ev::Fingerprints {
                    phone: phone.into(),
                    ..Default::default()
                }),
                ..Default::default()
            })
        };
        let collided = g.identity(update("phone-w1"));
        let signals = duplicates(&g.p, m(MARCH));
        assert_eq!(signals.len(), 2);
        assert_eq!(signals[0].evidence, [first, collided]);
        g.identity(update("phone-new"));
        assert!(duplicates(&g.p, m(MARCH)).is_empty());
    }

    #[test]
    fn a_duplicate_of_a_worker_gone_before_the_month_is_not_a_signal() {
        let mut g = Given::new();
        g.register(with("old", |w| fingerprints(w).nik = "same".into()));
        g.deactivate("old", "2026-02-01");
        g.register(with("new", |w| fingerprints(w).nik = "same".into()));
        assert!(duplicates(&g.p, m(MARCH)).is_empty());
        // Both were still paid in January.
        assert_eq!(duplicates(&g.p, m("2026-01")).len(), 2);
        // Leaving during the month still overlaps it.
        let mut g = Given::new();
        g.register(with("old", |w| fingerprints(w).nik = "same".into()));
        g.deactivate("old", "2026-03-15");
        g.register(with("new", |w| fingerprints(w).nik = "same".into()));
        assert_eq!(duplicates(&g.p, m(MARCH)).len(), 2);
    }

    #[test]
    fn an_import_anomaly_links_duplicates_even_after_erasure() {
        let mut g = Given::new();
        g.worker("w1");
        let imported = g.register(with("w2", |w| {
            w.anomalies = vec![ev::ImportAnomaly {
                kind: "duplicate_bank_account".into(),
                detail: "account already held".into(),
                other_worker_id: "w1".into(),
            }];
        }));
        g.identity(ev::identity_event::Event::WorkerErased(ev::WorkerErased {
            worker_id: "w2".into(),
            requested_by: "dpo".into(),
        }));
        let signals = duplicates(&g.p, m(MARCH));
        assert_eq!(
            subjects(&signals),
            [
                ("w1", Detector::DuplicateBankAccount, vec!["w2"]),
                ("w2", Detector::DuplicateBankAccount, vec!["w1"]),
            ]
        );
        assert_eq!(signals[0].evidence, [imported]);
    }

    fn pns(id: &str, nip: &str, birth: &str, sex: u32) -> ev::WorkerRegistered {
        with(id, |w| {
            w.kind = ev::WorkerKind::Pns as i32;
            w.employee_id = nip.into();
            w.birth_date = birth.into();
            w.sex = sex;
        })
    }

    #[test]
    fn a_nip_that_belies_the_nik_is_a_signal() {
        let mut g = Given::new();
        g.register(pns("ok", "199005172015031001", "1990-05-17", 1));
        g.register(pns("ok-f", "199005172015032001", "1990-05-17", 2));
        g.register(pns("born", "198805172015031001", "1990-05-17", 1));
        g.register(pns("sex", "199005172015032001", "1990-05-17", 1));
        g.register(pns("short", "19900517", "1990-05-17", 1));
        g.register(pns("digit", "199005172015039001", "1990-05-17", 1));
        g.register(pns("month", "199005172015131001", "1990-05-17", 1));
        // A contract worker's generated id is no NIP.
        g.worker("phl");
        let signals = nip_nik_mismatch(&g.p, m(MARCH));
        let found: Vec<&str> = signals.iter().map(|s| s.subject.as_str()).collect();
        assert_eq!(found, ["born", "digit", "month", "sex", "short"]);
        let text = |id: &str| {
            signals
                .iter()
                .find(|s| s.subject == id)
                .map(|s| s.explanation.clone())
                .unwrap_or_default()
        };
        assert!(text("born").contains("birth date 1988-05-17 but its NIK gives 1990-05-17"));
        assert!(text("sex").contains("NIP says female but its NIK says male"));
        assert!(text("short").contains("is not 18 digits"));
        assert!(
            !text("short").contains("19900517"),
            "no NIP digits in the text"
        );
    }

    #[test]
    fn a_recorded_nip_nik_mismatch_is_a_signal_with_its_event() {
        let mut g = Given::new();
        let at = g.register(with("w1", |w| {
            w.anomalies = vec![ev::ImportAnomaly {
                kind: NIP_NIK_MISMATCH_ANOMALY.into(),
                detail: "birth dates differ".into(),
                other_worker_id: String::new(),
            }];
        }));
        let signals = nip_nik_mismatch(&g.p, m(MARCH));
        assert_eq!(signals.len(), 1);
        assert_eq!(signals[0].evidence, [at]);
        assert!(signals[0].explanation.contains("birth dates differ"));
    }

    #[test]
    fn missing_unreadable_ancient_and_child_birth_dates_are_impossible() {
        let mut g = Given::new();
        g.register(with("none", |w| w.birth_date.clear()));
        g.register(with("garbled", |w| w.birth_date = "1990-13-45".into()));
        g.register(with("ancient", |w| w.birth_date = "1939-12-31".into()));
        g.register(with("child", |w| w.birth_date = "2003-01-07".into()));
        g.register(with("unborn", |w| w.birth_date = "2021-01-01".into()));
        // Exactly 17 on the day of joining, and born in 1940: plausible.
        g.register(with("seventeen", |w| w.birth_date = "2003-01-06".into()));
        g.register(with("1940", |w| w.birth_date = "1940-01-01".into()));
        g.register(with("no-join", |w| {
            w.birth_date = "2020-01-01".into();
            w.joined_on.clear();
        }));
        let signals = impossible_birth_date(&g.p, m(MARCH));
        let found: Vec<&str> = signals.iter().map(|s| s.subject.as_str()).collect();
        assert_eq!(found, ["ancient", "child", "garbled", "none", "unborn"]);
        assert!(
            signals[1].explanation.contains("aged 16"),
            "{}",
            signals[1].explanation
        );
        assert!(signals[4].explanation.contains("before being born"));
    }

    #[test]
    fn a_missed_reverification_is_a_weak_signal_until_made_up() {
        let mut g = Given::new();
        g.worker("w1");
        g.worker("w2");
        g.worker("w3");
        let missed = |w: &str, c: &str| {
            ev::identity_event::Event::ReverificationMissed(ev::ReverificationMissed {
                worker_id: w.into(),
                campaign_id: c.into(),
                agency_id: "dlh".into(),
            })
        };
        let at = g.identity(missed("w1", "pupns-2015"));
        g.identity(missed("w2", "pupns-2015"));
        g.identity(ev::identity_event::Event::WorkerReverified(
            ev::WorkerReverified {
                worker_id: "w2".into(),
                campaign_id: "pupns-2015".into(),
                corrected: vec![],
            },
        ));
        let signals = missed_reverification(&g.p, m(MARCH));
        assert_eq!(signals.len(), 1);
        assert_eq!(
            (signals[0].subject.as_str(), signals[0].weight),
            ("w1", 0.3)
        );
        assert_eq!(signals[0].evidence, [at]);
        assert!(signals[0].explanation.contains("pupns-2015"));
    }
}
