//! Decree rule sets: defaults, validation, versions per scope, and which
//! rule set is in force on a day.
//!
//! Amounts are kept in hundredths (`i64` "centi" units) once evaluated, so
//! thresholds compare exactly: a score of 91.00 is sangat baik, 90.99 baik.
//!
//! Lateness brackets: a late check-in falls in the first bracket whose
//! `up_to_minutes` it does not exceed; the LAST bracket takes every lateness
//! longer than the one before it, whatever its own `up_to_minutes` says (the
//! defaults write 0 there). So a decree can never leave a long lateness
//! without a deduction by forgetting an open-ended bracket.

use std::collections::HashSet;

use chrono::NaiveDate;
use pantau_proto::events::v1 as ev;

use super::DomainError;

/// The subject token of the rule set for every agency.
pub const ALL: &str = "all";

pub const MAX_ACTIVITIES: usize = 1000;
pub const MAX_LATE_BRACKETS: usize = 50;
pub const MAX_DECREE: usize = 200;
pub const DEFAULT_POINTS_PER_SCORE: f64 = 100.0;

/// A published rule set as the evaluation uses it.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleSet {
    /// Empty: every agency.
    pub agency_id: String,
    pub version: u32,
    pub effective_from: NaiveDate,
    /// Scoring stream sequence it was published at: rules "as of" a
    /// sequence ignore later ones (a closed month keeps the rules it was
    /// closed with).
    pub published_seq: u64,
    /// Defaults resolved, validated.
    pub rules: ev::Rules,
}

impl RuleSet {
    pub fn reference(&self) -> ev::RuleSetRef {
        ev::RuleSetRef {
            agency_id: self.agency_id.clone(),
            version: self.version,
        }
    }

    /// The rule set an event published (None if its date does not parse or
    /// it carries no rules). Defaults are resolved again so a hand-made or
    /// older event can never leave a part unset.
    pub fn from_event(e: &ev::RuleSetPublished, published_seq: u64) -> Option<RuleSet> {
        Some(RuleSet {
            agency_id: e.agency_id.clone(),
            version: e.version,
            effective_from: NaiveDate::parse_from_str(&e.effective_from, "%Y-%m-%d").ok()?,
            published_seq,
            rules: with_defaults(Some(e.rules.clone()?)),
        })
    }

    /// The points rule of an activity code, if this set has one.
    pub fn code(&self, code: &str) -> Option<&ev::CodeRule> {
        self.rules.activities.iter().find(|a| a.code == code)
    }
}

/// Every rule set known, of every scope.
#[derive(Debug, Clone, Default)]
pub struct RuleBook {
    /// In publication order.
    pub sets: Vec<RuleSet>,
}

pub fn default_thresholds() -> ev::CategoryThresholds {
    ev::CategoryThresholds {
        sangat_baik: 91.0,
        baik: 76.0,
        cukup: 61.0,
        kurang: 51.0,
    }
}

pub fn default_pay() -> ev::PayPercentages {
    ev::PayPercentages {
        sangat_baik: 100.0,
        baik: 100.0,
        cukup: 100.0,
        kurang: 100.0,
        kurang_sekali: 50.0,
    }
}

pub fn default_tpp() -> ev::TppRule {
    let bracket = |up_to_minutes, deduction_percent| ev::LateBracket {
        up_to_minutes,
        deduction_percent,
    };
    ev::TppRule {
        performance_weight: 60.0,
        // The last bracket is open-ended (see the module doc).
        late_brackets: vec![
            bracket(30, 0.5),
            bracket(60, 1.0),
            bracket(90, 1.25),
            bracket(0, 1.5),
        ],
        absent_day_deduction_percent: 3.0,
    }
}

/// Fills what the decree left unset. Events always carry the result, so a
/// later change of these defaults never changes a published rule set.
pub fn with_defaults(rules: Option<ev::Rules>) -> ev::Rules {
    let mut r = rules.unwrap_or_default();
    if r.thresholds.is_none() {
        r.thresholds = Some(default_thresholds());
    }
    if r.pay.is_none() {
        r.pay = Some(default_pay());
    }
    if r.tpp.is_none() {
        r.tpp = Some(default_tpp());
    }
    if r.points_per_score == 0.0 {
        r.points_per_score = DEFAULT_POINTS_PER_SCORE;
    }
    r
}

/// A value in hundredths, rounded half away from zero; not finite: 0.
pub fn centi(v: f64) -> i64 {
    if v.is_finite() {
        // `as` saturates, so absurd magnitudes cannot overflow.
        (v * 100.0).round() as i64
    } else {
        0
    }
}

fn valid_code(code: &str) -> bool {
    !code.is_empty()
        && code.len() <= 32
        && code
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '-' || c == '_')
}

fn non_negative(v: f64, field: impl Into<String>) -> Result<(), DomainError> {
    if v.is_finite() && v >= 0.0 {
        Ok(())
    } else {
        Err(DomainError::invalid(field, "must be a number >= 0"))
    }
}

fn percent(v: f64, field: impl Into<String>) -> Result<(), DomainError> {
    if v.is_finite() && (0.0..=100.0).contains(&v) {
        Ok(())
    } else {
        Err(DomainError::invalid(
            field,
            "must be a number from 0 to 100",
        ))
    }
}

/// Checks rules whose defaults were resolved (`with_defaults`). Fields are
/// named as in a publish request: `rules.activities[2].code`.
pub fn validate(rules: &ev::Rules) -> Result<(), DomainError> {
    if rules.activities.len() > MAX_ACTIVITIES {
        return Err(DomainError::invalid(
            "rules.activities",
            format!("at most {MAX_ACTIVITIES} codes"),
        ));
    }
    let mut codes = HashSet::new();
    for (i, a) in rules.activities.iter().enumerate() {
        let field = |f: &str| format!("rules.activities[{i}].{f}");
        if !valid_code(&a.code) {
            return Err(DomainError::invalid(
                field("code"),
                "must be 1-32 of A-Z, 0-9, '-' and '_'",
            ));
        }
        if !codes.insert(a.code.as_str()) {
            return Err(DomainError::invalid(
                field("code"),
                format!("{} appears twice", a.code),
            ));
        }
        non_negative(a.points_per_unit, field("points_per_unit"))?;
        non_negative(a.daily_cap, field("daily_cap"))?;
        non_negative(a.monthly_cap, field("monthly_cap"))?;
    }
    non_negative(rules.present_day_points, "rules.present_day_points")?;
    non_negative(rules.ceremony_points, "rules.ceremony_points")?;
    // Scores are computed in hundredths: a smaller divisor would be 0.
    if !rules.points_per_score.is_finite() || centi(rules.points_per_score) < 1 {
        return Err(DomainError::invalid(
            "rules.points_per_score",
            "must be a number of at least 0.01",
        ));
    }
    validate_thresholds(rules.thresholds.as_ref())?;
    validate_pay(rules.pay.as_ref())?;
    validate_tpp(rules.tpp.as_ref())
}

fn validate_thresholds(t: Option<&ev::CategoryThresholds>) -> Result<(), DomainError> {
    let field = "rules.thresholds";
    let t = t.ok_or_else(|| DomainError::invalid(field, "must be set"))?;
    let all = [t.sangat_baik, t.baik, t.cukup, t.kurang];
    for v in all {
        percent(v, field)?;
    }
    // Compared as the evaluation compares them: in hundredths.
    if all.windows(2).any(|w| centi(w[0]) <= centi(w[1])) {
        return Err(DomainError::invalid(
            field,
            "must descend: sangat_baik > baik > cukup > kurang",
        ));
    }
    Ok(())
}

fn validate_pay(p: Option<&ev::PayPercentages>) -> Result<(), DomainError> {
    let p = p.ok_or_else(|| DomainError::invalid("rules.pay", "must be set"))?;
    percent(p.sangat_baik, "rules.pay.sangat_baik")?;
    percent(p.baik, "rules.pay.baik")?;
    percent(p.cukup, "rules.pay.cukup")?;
    percent(p.kurang, "rules.pay.kurang")?;
    percent(p.kurang_sekali, "rules.pay.kurang_sekali")
}

fn validate_tpp(t: Option<&ev::TppRule>) -> Result<(), DomainError> {
    let t = t.ok_or_else(|| DomainError::invalid("rules.tpp", "must be set"))?;
    percent(t.performance_weight, "rules.tpp.performance_weight")?;
    let field = "rules.tpp.late_brackets";
    if t.late_brackets.len() > MAX_LATE_BRACKETS {
        return Err(DomainError::invalid(
            field,
            format!("at most {MAX_LATE_BRACKETS} brackets"),
        ));
    }
    for b in &t.late_brackets {
        percent(b.deduction_percent, field)?;
    }
    // The last bracket's bound is ignored (open-ended), so only the others
    // must ascend.
    let bounded = &t.late_brackets[..t.late_brackets.len().saturating_sub(1)];
    let mut previous = 0;
    for b in bounded {
        if b.up_to_minutes <= previous {
            return Err(DomainError::invalid(
                field,
                "up_to_minutes must ascend from 1 (the last bracket takes any longer lateness)",
            ));
        }
        previous = b.up_to_minutes;
    }
    percent(
        t.absent_day_deduction_percent,
        "rules.tpp.absent_day_deduction_percent",
    )
}

/// The bracket a lateness of `minutes` (> 0) falls in; None when there are
/// no brackets.
pub fn late_bracket(brackets: &[ev::LateBracket], minutes: u32) -> Option<&ev::LateBracket> {
    let (last, bounded) = brackets.split_last()?;
    Some(
        bounded
            .iter()
            .find(|b| minutes <= b.up_to_minutes)
            .unwrap_or(last),
    )
}

impl RuleBook {
    /// A version already known for the scope is kept as it was: events
    /// may be delivered twice.
    pub fn add(&mut self, set: RuleSet) {
        if self
            .sets
            .iter()
            .any(|s| s.agency_id == set.agency_id && s.version == set.version)
        {
            return;
        }
        self.sets.push(set);
    }

    /// The versions of exactly that scope ("" = every agency), oldest
    /// first.
    pub fn versions<'a>(&'a self, agency_id: &'a str) -> impl Iterator<Item = &'a RuleSet> + 'a {
        let mut of_scope: Vec<&RuleSet> = self
            .sets
            .iter()
            .filter(|s| s.agency_id == agency_id)
            .collect();
        of_scope.sort_by_key(|s| s.version);
        of_scope.into_iter()
    }

    /// The rule set governing `day` for an agency, counting only sets
    /// published at or before `as_of` (`u64::MAX`: all): the agency's own
    /// latest effective one (ties: the higher version), else the
    /// all-agency one by the same rule.
    pub fn in_force(&self, agency_id: &str, day: NaiveDate, as_of: u64) -> Option<&RuleSet> {
        let latest = |scope: &str| {
            self.sets
                .iter()
                .filter(|s| s.agency_id == scope && s.published_seq <= as_of)
                .filter(|s| s.effective_from <= day)
                .max_by_key(|s| (s.effective_from, s.version))
        };
        let own = if agency_id.is_empty() {
            None
        } else {
            latest(agency_id)
        };
        own.or_else(|| latest(""))
    }

    /// Publishing a new version of a scope's rules: defaults resolved,
    /// validated, numbered after the scope's last version. It may be dated
    /// before later versions: on each day the version with the latest
    /// effective date not after it applies (the higher version on a tie),
    /// so a correction dated 10 October (an appeal) covers the days up to
    /// the next-dated version, and one dated like an existing version
    /// replaces it.
    pub fn decide_publish(
        &self,
        agency_id: &str,
        effective_from: NaiveDate,
        decree: &str,
        rules: Option<ev::Rules>,
        published_by: &str,
        at: ev::Timestamp,
    ) -> Result<ev::RuleSetPublished, DomainError> {
        let rules = with_defaults(rules);
        validate(&rules)?;
        let decree = decree.trim();
        if decree.is_empty() || decree.chars().count() > MAX_DECREE {
            return Err(DomainError::invalid(
                "decree",
                format!("must be 1-{MAX_DECREE} characters"),
            ));
        }
        let version = self
            .versions(agency_id)
            .last()
            .map_or(1, |last| last.version + 1);
        Ok(ev::RuleSetPublished {
            agency_id: agency_id.to_owned(),
            version,
            effective_from: effective_from.format("%Y-%m-%d").to_string(),
            decree: decree.to_owned(),
            rules: Some(rules),
            published_by: published_by.to_owned(),
            at: Some(at),
        })
    }

    /// Same as [`RuleSet::from_event`].
    pub fn from_event(e: &ev::RuleSetPublished, published_seq: u64) -> Option<RuleSet> {
        RuleSet::from_event(e, published_seq)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().expect("a date")
    }

    fn at() -> ev::Timestamp {
        ev::Timestamp {
            seconds: 1_780_000_000,
            nanos: 0,
        }
    }

    fn code(c: &str, ppu: f64) -> ev::CodeRule {
        ev::CodeRule {
            code: c.into(),
            points_per_unit: ppu,
            daily_cap: 0.0,
            monthly_cap: 0.0,
        }
    }

    fn valid() -> ev::Rules {
        with_defaults(Some(ev::Rules {
            activities: vec![code("APEL", 5.0), code("DRAIN", 2.0), code("SWEEP", 1.0)],
            present_day_points: 10.0,
            ceremony_points: 5.0,
            ..Default::default()
        }))
    }

    fn field_of(r: Result<(), DomainError>) -> String {
        r.expect_err("refused")
            .field()
            .unwrap_or_default()
            .to_owned()
    }

    fn publish(book: &mut RuleBook, agency: &str, from: &str, seq: u64) -> ev::RuleSetPublished {
        let e = book
            .decide_publish(
                agency,
                d(from),
                "Perbup 1/2026",
                Some(valid()),
                "admin",
                at(),
            )
            .expect("published");
        book.add(RuleBook::from_event(&e, seq).expect("a rule set"));
        e
    }

    #[test]
    fn defaults_fill_what_the_decree_left_unset() {
        let r = with_defaults(None);
        assert_eq!(r.thresholds, Some(default_thresholds()));
        let t = r.thresholds.expect("thresholds");
        assert_eq!(
            (t.sangat_baik, t.baik, t.cukup, t.kurang),
            (91.0, 76.0, 61.0, 51.0)
        );
        let p = r.pay.expect("pay");
        assert_eq!(
            (p.sangat_baik, p.baik, p.cukup, p.kurang, p.kurang_sekali),
            (100.0, 100.0, 100.0, 100.0, 50.0)
        );
        let tpp = r.tpp.clone().expect("tpp");
        assert_eq!(tpp.performance_weight, 60.0);
        assert_eq!(tpp.absent_day_deduction_percent, 3.0);
        let brackets: Vec<_> = tpp
            .late_brackets
            .iter()
            .map(|b| (b.up_to_minutes, b.deduction_percent))
            .collect();
        assert_eq!(brackets, [(30, 0.5), (60, 1.0), (90, 1.25), (0, 1.5)]);
        assert_eq!(r.points_per_score, 100.0);
        assert!(r.activities.is_empty());
        assert_eq!((r.present_day_points, r.ceremony_points), (0.0, 0.0));
        assert_eq!(validate(&r), Ok(()));
    }

    #[test]
    fn defaults_keep_what_the_decree_set() {
        let given = ev::Rules {
            activities: vec![code("APEL", 5.0)],
            present_day_points: 2.0,
            ceremony_points: 3.0,
            points_per_score: 7.5,
            thresholds: Some(ev::CategoryThresholds {
                sangat_baik: 90.0,
                baik: 80.0,
                cukup: 70.0,
                kurang: 60.0,
            }),
            pay: Some(ev::PayPercentages::default()),
            tpp: Some(ev::TppRule::default()),
        };
        assert_eq!(with_defaults(Some(given.clone())), given);
    }

    #[test]
    fn every_refused_field_is_named() {
        type Break = fn(&mut ev::Rules);
        let cases: Vec<(Break, &str)> = vec![
            (
                |r| r.activities[2].code = "sweep".into(),
                "rules.activities[2].code",
            ),
            (
                |r| r.activities[2].code = String::new(),
                "rules.activities[2].code",
            ),
            (
                |r| r.activities[2].code = "X".repeat(33),
                "rules.activities[2].code",
            ),
            (
                |r| r.activities[2].code = "APEL".into(),
                "rules.activities[2].code",
            ),
            (
                |r| r.activities[2].points_per_unit = -1.0,
                "rules.activities[2].points_per_unit",
            ),
            (
                |r| r.activities[1].daily_cap = -0.5,
                "rules.activities[1].daily_cap",
            ),
            (
                |r| r.activities[0].monthly_cap = -3.0,
                "rules.activities[0].monthly_cap",
            ),
            (|r| r.present_day_points = -1.0, "rules.present_day_points"),
            (|r| r.ceremony_points = -1.0, "rules.ceremony_points"),
            (|r| r.points_per_score = -5.0, "rules.points_per_score"),
            (|r| r.points_per_score = 0.001, "rules.points_per_score"),
            (
                |r| set_thresholds(r, [91.0, 76.0, 61.0, 101.0]),
                "rules.thresholds",
            ),
            (
                |r| set_thresholds(r, [91.0, 76.0, 61.0, -1.0]),
                "rules.thresholds",
            ),
            (
                |r| set_thresholds(r, [91.0, 91.0, 61.0, 51.0]),
                "rules.thresholds",
            ),
            (
                |r| set_thresholds(r, [61.0, 76.0, 91.0, 51.0]),
                "rules.thresholds",
            ),
            (|r| r.thresholds = None, "rules.thresholds"),
            (|r| pay(r).sangat_baik = 101.0, "rules.pay.sangat_baik"),
            (|r| pay(r).baik = -1.0, "rules.pay.baik"),
            (|r| pay(r).cukup = 120.0, "rules.pay.cukup"),
            (|r| pay(r).kurang = -0.1, "rules.pay.kurang"),
            (|r| pay(r).kurang_sekali = 100.5, "rules.pay.kurang_sekali"),
            (|r| r.pay = None, "rules.pay"),
            (
                |r| tpp(r).performance_weight = 101.0,
                "rules.tpp.performance_weight",
            ),
            (
                |r| tpp(r).late_brackets[1].up_to_minutes = 30,
                "rules.tpp.late_brackets",
            ),
            (
                |r| tpp(r).late_brackets[0].up_to_minutes = 0,
                "rules.tpp.late_brackets",
            ),
            (
                |r| tpp(r).late_brackets[3].deduction_percent = 101.0,
                "rules.tpp.late_brackets",
            ),
            (
                |r| tpp(r).absent_day_deduction_percent = -3.0,
                "rules.tpp.absent_day_deduction_percent",
            ),
            (|r| r.tpp = None, "rules.tpp"),
        ];
        for (i, (break_it, field)) in cases.into_iter().enumerate() {
            let mut r = valid();
            break_it(&mut r);
            assert_eq!(field_of(validate(&r)), field, "case {i}");
        }
    }

    fn set_thresholds(r: &mut ev::Rules, [sangat_baik, baik, cukup, kurang]: [f64; 4]) {
        r.thresholds = Some(ev::CategoryThresholds {
            sangat_baik,
            baik,
            cukup,
            kurang,
        });
    }

    fn pay(r: &mut ev::Rules) -> &mut ev::PayPercentages {
        r.pay.as_mut().expect("pay")
    }

    fn tpp(r: &mut ev::Rules) -> &mut ev::TppRule {
        r.tpp.as_mut().expect("tpp")
    }

    #[test]
    fn not_a_number_and_infinity_are_refused_everywhere() {
        type Set = fn(&mut ev::Rules, f64);
        let setters: Vec<Set> = vec![
            |r, v| r.activities[0].points_per_unit = v,
            |r, v| r.activities[0].daily_cap = v,
            |r, v| r.activities[0].monthly_cap = v,
            |r, v| r.present_day_points = v,
            |r, v| r.ceremony_points = v,
            |r, v| r.points_per_score = v,
            |r, v| r.thresholds.as_mut().expect("set").cukup = v,
            |r, v| pay(r).kurang_sekali = v,
            |r, v| tpp(r).performance_weight = v,
            |r, v| tpp(r).late_brackets[0].deduction_percent = v,
            |r, v| tpp(r).absent_day_deduction_percent = v,
        ];
        for (i, set) in setters.into_iter().enumerate() {
            for v in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
                let mut r = valid();
                set(&mut r, v);
                assert!(validate(&r).is_err(), "setter {i} with {v}");
            }
        }
    }

    #[test]
    fn zero_caps_points_and_open_ended_last_brackets_are_valid() {
        let mut r = valid();
        r.activities[0].points_per_unit = 0.0;
        tpp(&mut r).late_brackets = vec![ev::LateBracket {
            up_to_minutes: 0,
            deduction_percent: 1.0,
        }];
        assert_eq!(validate(&r), Ok(()));
        tpp(&mut r).late_brackets.clear();
        assert_eq!(validate(&r), Ok(()));
    }

    #[test]
    fn a_lateness_falls_in_the_first_bracket_it_fits_and_the_last_takes_the_rest() {
        let tpp = default_tpp();
        let deduction = |m| late_bracket(&tpp.late_brackets, m).map(|b| b.deduction_percent);
        assert_eq!(deduction(1), Some(0.5));
        assert_eq!(deduction(30), Some(0.5));
        assert_eq!(deduction(31), Some(1.0));
        assert_eq!(deduction(60), Some(1.0));
        assert_eq!(deduction(90), Some(1.25));
        assert_eq!(deduction(91), Some(1.5));
        assert_eq!(deduction(600), Some(1.5));
        assert_eq!(late_bracket(&[], 10), None);
    }

    #[test]
    fn the_first_version_of_a_scope_is_1_and_each_next_one_counts_on() {
        let mut book = RuleBook::default();
        let first = publish(&mut book, "dlh", "2026-01-01", 1);
        assert_eq!(
            (first.version, first.effective_from.as_str()),
            (1, "2026-01-01")
        );
        assert_eq!(first.decree, "Perbup 1/2026");
        assert_eq!(publish(&mut book, "dlh", "2026-03-01", 2).version, 2);
        assert_eq!(publish(&mut book, "", "2025-01-01", 3).version, 1);
        assert_eq!(publish(&mut book, "dlh", "2026-03-01", 4).version, 3);
        let versions: Vec<_> = book.versions("dlh").map(|s| s.version).collect();
        assert_eq!(versions, [1, 2, 3]);
        assert_eq!(book.versions("").count(), 1);
        assert_eq!(book.versions("other").count(), 0);
    }

    #[test]
    fn a_correction_dated_before_a_later_version_covers_only_its_own_days() {
        let mut book = RuleBook::default();
        publish(&mut book, "dlh", "2026-03-01", 1);
        publish(&mut book, "dlh", "2026-11-01", 2);
        // An appeal for October, published after November's version.
        let v3 = publish(&mut book, "dlh", "2026-10-10", 3);
        assert_eq!(v3.version, 3);
        let on =
            |book: &RuleBook, day: &str| book.in_force("dlh", d(day), u64::MAX).map(|s| s.version);
        assert_eq!(on(&book, "2026-10-09"), Some(1));
        assert_eq!(on(&book, "2026-10-10"), Some(3));
        assert_eq!(on(&book, "2026-10-31"), Some(3));
        assert_eq!(
            on(&book, "2026-11-01"),
            Some(2),
            "the later-dated version keeps its days"
        );
        // Dated like an existing version, a correction replaces it.
        publish(&mut book, "dlh", "2026-11-01", 4);
        assert_eq!(on(&book, "2026-11-15"), Some(4));
    }

    #[test]
    fn a_decree_must_be_1_to_200_characters_after_trimming() {
        let book = RuleBook::default();
        let decide =
            |decree: &str| book.decide_publish("dlh", d("2026-01-01"), decree, None, "admin", at());
        assert_eq!(decide("   ").expect_err("blank").field(), Some("decree"));
        assert_eq!(
            decide(&"é".repeat(201)).expect_err("long").field(),
            Some("decree")
        );
        let e = decide(&format!("  {}  ", "é".repeat(200))).expect("200 characters");
        assert_eq!(e.decree.chars().count(), 200);
    }

    #[test]
    fn publishing_resolves_defaults_and_refuses_invalid_rules() {
        let book = RuleBook::default();
        let e = book
            .decide_publish("", d("2026-01-01"), "Pergub 5", None, "admin", at())
            .expect("published");
        assert_eq!(e.rules, Some(with_defaults(None)));
        assert_eq!((e.published_by.as_str(), e.at), ("admin", Some(at())));
        let mut bad = valid();
        bad.activities[1].code = "drain".into();
        let err = book
            .decide_publish("", d("2026-01-01"), "Pergub 5", Some(bad), "admin", at())
            .expect_err("refused");
        assert_eq!(err.field(), Some("rules.activities[1].code"));
    }

    #[test]
    fn an_event_becomes_a_rule_set_unless_its_date_or_rules_are_missing() {
        let book = RuleBook::default();
        let e = book
            .decide_publish(
                "dlh",
                d("2026-02-01"),
                "Perbup",
                Some(valid()),
                "admin",
                at(),
            )
            .expect("published");
        let set = RuleBook::from_event(&e, 42).expect("a rule set");
        assert_eq!(set.effective_from, d("2026-02-01"));
        assert_eq!((set.published_seq, set.version), (42, 1));
        assert_eq!(set.rules, valid());
        assert_eq!(set.code("DRAIN").map(|c| c.points_per_unit), Some(2.0));
        assert_eq!(
            set.reference(),
            ev::RuleSetRef {
                agency_id: "dlh".into(),
                version: 1
            }
        );
        let bad_date = ev::RuleSetPublished {
            effective_from: "2026-02-30".into(),
            ..e.clone()
        };
        assert_eq!(RuleBook::from_event(&bad_date, 1), None);
        let no_rules = ev::RuleSetPublished { rules: None, ..e };
        assert_eq!(RuleBook::from_event(&no_rules, 1), None);
    }

    #[test]
    fn a_redelivered_version_is_kept_once() {
        let mut book = RuleBook::default();
        let e = publish(&mut book, "dlh", "2026-01-01", 1);
        book.add(RuleBook::from_event(&e, 9).expect("a rule set"));
        assert_eq!(book.sets.len(), 1);
        assert_eq!(book.sets[0].published_seq, 1);
    }

    fn set(agency: &str, version: u32, from: &str, seq: u64) -> RuleSet {
        RuleSet {
            agency_id: agency.into(),
            version,
            effective_from: d(from),
            published_seq: seq,
            rules: valid(),
        }
    }

    fn in_force(book: &RuleBook, agency: &str, day: &str, as_of: u64) -> Option<(String, u32)> {
        book.in_force(agency, d(day), as_of)
            .map(|s| (s.agency_id.clone(), s.version))
    }

    #[test]
    fn an_agencys_own_rule_set_wins_over_the_all_agency_one_once_in_force() {
        let mut book = RuleBook::default();
        book.add(set("", 1, "2026-01-01", 1));
        book.add(set("dlh", 1, "2026-03-01", 2));
        book.add(set("", 2, "2026-04-01", 3));
        let all = |v| Some((String::new(), v));
        assert_eq!(in_force(&book, "dlh", "2025-12-31", u64::MAX), None);
        assert_eq!(in_force(&book, "dlh", "2026-02-28", u64::MAX), all(1));
        assert_eq!(
            in_force(&book, "dlh", "2026-03-01", u64::MAX),
            Some(("dlh".into(), 1))
        );
        assert_eq!(
            in_force(&book, "dlh", "2026-05-01", u64::MAX),
            Some(("dlh".into(), 1))
        );
        assert_eq!(in_force(&book, "bappeda", "2026-05-01", u64::MAX), all(2));
        assert_eq!(in_force(&book, "", "2026-05-01", u64::MAX), all(2));
    }

    #[test]
    fn versions_effective_the_same_day_are_decided_by_the_higher_version() {
        let mut book = RuleBook::default();
        book.add(set("dlh", 2, "2026-03-01", 2));
        book.add(set("dlh", 1, "2026-03-01", 1));
        book.add(set("dlh", 3, "2026-03-01", 3));
        assert_eq!(
            in_force(&book, "dlh", "2026-03-10", u64::MAX),
            Some(("dlh".into(), 3))
        );
    }

    #[test]
    fn rule_sets_published_after_as_of_do_not_count() {
        let mut book = RuleBook::default();
        book.add(set("", 1, "2026-01-01", 10));
        book.add(set("dlh", 1, "2026-01-01", 20));
        book.add(set("dlh", 2, "2026-02-01", 30));
        let of = |as_of| in_force(&book, "dlh", "2026-02-15", as_of);
        assert_eq!(of(9), None);
        assert_eq!(of(10), Some((String::new(), 1)));
        assert_eq!(of(29), Some(("dlh".into(), 1)));
        assert_eq!(of(30), Some(("dlh".into(), 2)));
        assert_eq!(of(u64::MAX), Some(("dlh".into(), 2)));
    }
}
