//! A worker's month evaluated into figures: points, score, category, pay
//! and, for civil servants, the performance allowance (TPP).
//!
//! How a month is evaluated:
//! - Each day uses the rule set in force that day for the worker's agency
//!   (`RuleBook::in_force` as of the given scoring sequence). Days with no
//!   rule set in force earn nothing. Month-level parameters (monthly caps,
//!   points per score, thresholds, pay, TPP) come from the rule set in force
//!   on the month's last day, else from the defaults (`with_defaults(None)`).
//! - Only approved activities of the month count. A report earns quantity x
//!   the code's points per unit in its day's rule set (nothing when the code
//!   is not in it; a negative or non-finite quantity counts as 0), rounded
//!   to hundredths half away from zero. A code's points of one day are capped
//!   by that day's `daily_cap`, its month's by the month rule set's
//!   `monthly_cap` (0: no cap; a code missing from the month rule set has no
//!   monthly cap).
//! - Attendance points: the day's `present_day_points` for each check-in on
//!   a workday (the agency's ISO weekdays, Monday-Friday by default), plus
//!   the day's `ceremony_points` for each ceremony attended.
//! - score = min(100, points / points_per_score), floored to hundredths
//!   (points_per_score counts to the hundredth); the category is the highest
//!   whose threshold (rounded to hundredths) the score reaches; pay is that
//!   category's percentage.
//! - days_present counts distinct check-in days (any weekday); should facts
//!   hold two check-ins of one day, the smaller lateness counts.
//! - TPP (civil servants only): performance = score; attendance = 100 minus
//!   each late day's bracket deduction, minus the absent-day deduction for
//!   each workday up to `through`, while employed (from joined_on, before
//!   left_on), not on approved leave and without check-in; never below 0.
//!   allowance = (w x performance + (100 - w) x attendance) / 100, rounded
//!   half up to the hundredth.
//! - `rule_sets` lists every rule set in force on some day of the month.
//!
//! Everything is summed in integer hundredths and only divided by 100 at the
//! end, so the figures carry exactly two decimals and two evaluations of the
//! same facts are bit-identical whatever order the facts came in.

use std::collections::{BTreeMap, BTreeSet};

use chrono::NaiveDate;
use pantau_proto::events::v1 as ev;

use super::Month;
use super::facts::MonthFacts;
use super::rules::{
    RuleBook, RuleSet, centi, default_pay, default_thresholds, default_tpp, late_bracket,
    with_defaults,
};

/// 100 (percent, or the top score) in hundredths.
const HUNDRED: i64 = 10_000;

fn figure(centi: i64) -> f64 {
    centi as f64 / 100.0
}

/// The category a score (in hundredths) earns: thresholds are inclusive
/// lower bounds compared in hundredths.
pub fn category(score_centi: i64, thresholds: &ev::CategoryThresholds) -> ev::Category {
    let reaches = |t: f64| score_centi >= centi(t);
    if reaches(thresholds.sangat_baik) {
        ev::Category::SangatBaik
    } else if reaches(thresholds.baik) {
        ev::Category::Baik
    } else if reaches(thresholds.cukup) {
        ev::Category::Cukup
    } else if reaches(thresholds.kurang) {
        ev::Category::Kurang
    } else {
        ev::Category::KurangSekali
    }
}

fn pay_for(category: ev::Category, pay: &ev::PayPercentages) -> f64 {
    match category {
        ev::Category::SangatBaik => pay.sangat_baik,
        ev::Category::Baik => pay.baik,
        ev::Category::Cukup => pay.cukup,
        ev::Category::Kurang => pay.kurang,
        ev::Category::KurangSekali | ev::Category::Unspecified => pay.kurang_sekali,
    }
}

/// `through`: absences (for TPP) are counted on days up to and including
/// it (the month's last day for a closed month; today for a live view).
/// `as_of`: the rule book as of this scoring stream sequence (`u64::MAX`:
/// all).
pub fn evaluate(
    book: &RuleBook,
    month: Month,
    facts: &MonthFacts,
    through: NaiveDate,
    as_of: u64,
) -> ev::MonthFigures {
    let days: BTreeMap<NaiveDate, &RuleSet> = month
        .days()
        .filter_map(|d| Some((d, book.in_force(&facts.agency_id, d, as_of)?)))
        .collect();
    let month_set = days.get(&month.last_day()).copied();
    let fallback;
    let month_rules = match month_set {
        Some(s) => &s.rules,
        None => {
            fallback = with_defaults(None);
            &fallback
        }
    };

    let activity = activity_points(&days, month_set, month, facts);
    let present = present_days(month, facts);
    let ceremonies: Vec<NaiveDate> = facts
        .ceremonies
        .iter()
        .copied()
        .filter(|d| month.contains(*d))
        .collect();
    let rule_of = |d: &NaiveDate| days.get(d).map(|s| &s.rules);
    let present_points = present
        .keys()
        .filter(|d| facts.is_workday(**d))
        .filter_map(&rule_of)
        .map(|r| centi(r.present_day_points));
    let ceremony_points = ceremonies
        .iter()
        .filter_map(&rule_of)
        .map(|r| centi(r.ceremony_points));
    let attendance = present_points
        .chain(ceremony_points)
        .fold(0i64, i64::saturating_add);
    let points = activity.points.saturating_add(attendance);

    // Validation keeps it >= 0.01; a hand-made rule set must not divide by 0.
    let per_score = centi(month_rules.points_per_score).max(1);
    let score = (i128::from(points.max(0)) * 100 / i128::from(per_score)).min(i128::from(HUNDRED));
    let score = i64::try_from(score).unwrap_or(HUNDRED);
    let thresholds = month_rules.thresholds.unwrap_or_else(default_thresholds);
    let cat = category(score, &thresholds);
    let pay = month_rules.pay.unwrap_or_else(default_pay);

    let tpp = facts.pns.then(|| {
        let rule = month_rules.tpp.clone().unwrap_or_else(default_tpp);
        tpp(&rule, month, facts, &present, through, score)
    });

    let mut refs: BTreeSet<(&str, u32)> = BTreeSet::new();
    refs.extend(days.values().map(|s| (s.agency_id.as_str(), s.version)));
    ev::MonthFigures {
        points: figure(points),
        by_code: activity.by_code,
        attendance_points: figure(attendance),
        score: figure(score),
        category: cat as i32,
        pay_percent: figure(centi(pay_for(cat, &pay))),
        tpp,
        days_present: u32::try_from(present.len()).unwrap_or(u32::MAX),
        ceremonies: u32::try_from(ceremonies.len()).unwrap_or(u32::MAX),
        minutes_reported: activity.minutes,
        rule_sets: refs
            .into_iter()
            .map(|(agency_id, version)| ev::RuleSetRef {
                agency_id: agency_id.to_owned(),
                version,
            })
            .collect(),
    }
}

struct ActivityPoints {
    points: i64,
    by_code: Vec<ev::CodePoints>,
    minutes: u32,
}

fn activity_points(
    days: &BTreeMap<NaiveDate, &RuleSet>,
    month_set: Option<&RuleSet>,
    month: Month,
    facts: &MonthFacts,
) -> ActivityPoints {
    let mut approved: Vec<_> = facts
        .activities
        .iter()
        .filter(|a| a.approved && month.contains(a.date))
        .collect();
    approved.sort_by(|a, b| (a.date, &a.code, &a.report_id).cmp(&(b.date, &b.code, &b.report_id)));

    let code_rule = |day: &NaiveDate, code: &str| days.get(day).and_then(|s| s.code(code));
    // (code, day) -> (quantity, points), in hundredths.
    let mut per_day: BTreeMap<(&str, NaiveDate), (i64, i64)> = BTreeMap::new();
    let mut minutes = 0u32;
    for a in approved {
        let quantity = if a.quantity.is_finite() && a.quantity > 0.0 {
            a.quantity
        } else {
            0.0
        };
        let points = code_rule(&a.date, &a.code).map_or(0, |r| centi(quantity * r.points_per_unit));
        let sum = per_day.entry((a.code.as_str(), a.date)).or_default();
        sum.0 = sum.0.saturating_add(centi(quantity));
        sum.1 = sum.1.saturating_add(points);
        minutes = minutes.saturating_add(a.minutes);
    }

    let capped = |points: i64, cap: f64| match centi(cap) {
        cap if cap > 0 => points.min(cap),
        _ => points,
    };
    let mut per_code: BTreeMap<&str, (i64, i64)> = BTreeMap::new();
    for ((code, day), (quantity, points)) in per_day {
        let points = code_rule(&day, code).map_or(points, |r| capped(points, r.daily_cap));
        let sum = per_code.entry(code).or_default();
        sum.0 = sum.0.saturating_add(quantity);
        sum.1 = sum.1.saturating_add(points);
    }

    let mut total = 0i64;
    let by_code = per_code
        .into_iter()
        .map(|(code, (quantity, points))| {
            let rule = month_set.and_then(|s| s.code(code));
            let points = rule.map_or(points, |r| capped(points, r.monthly_cap));
            total = total.saturating_add(points);
            ev::CodePoints {
                code: code.to_owned(),
                quantity: figure(quantity),
                points: figure(points),
            }
        })
        .collect();
    ActivityPoints {
        points: total,
        by_code,
        minutes,
    }
}

/// Check-in days of the month -> lateness. Facts hold one per day; should
/// they hold more, the smaller lateness is kept so the order never matters.
fn present_days(month: Month, facts: &MonthFacts) -> BTreeMap<NaiveDate, u32> {
    let mut present = BTreeMap::new();
    for c in facts.check_ins.iter().filter(|c| month.contains(c.date)) {
        present
            .entry(c.date)
            .and_modify(|late: &mut u32| *late = (*late).min(c.late_minutes))
            .or_insert(c.late_minutes);
    }
    present
}

fn tpp(
    rule: &ev::TppRule,
    month: Month,
    facts: &MonthFacts,
    present: &BTreeMap<NaiveDate, u32>,
    through: NaiveDate,
    performance: i64,
) -> ev::TppFigures {
    let late: Vec<u32> = present.values().copied().filter(|m| *m > 0).collect();
    let late_deduction = late
        .iter()
        .filter_map(|m| late_bracket(&rule.late_brackets, *m))
        .map(|b| centi(b.deduction_percent))
        .fold(0i64, i64::saturating_add);
    let absent = month
        .days()
        .filter(|d| *d <= through && facts.is_workday(*d) && facts.employed_on(*d))
        .filter(|d| !facts.on_leave(*d) && !present.contains_key(d))
        .count();
    let absent_days = u32::try_from(absent).unwrap_or(u32::MAX);
    let absent_deduction =
        centi(rule.absent_day_deduction_percent).saturating_mul(i64::from(absent_days));
    let attendance = HUNDRED
        .saturating_sub(late_deduction)
        .saturating_sub(absent_deduction)
        .max(0);
    let weight = i128::from(centi(rule.performance_weight).clamp(0, HUNDRED));
    let hundred = i128::from(HUNDRED);
    let weighted = weight * i128::from(performance) + (hundred - weight) * i128::from(attendance);
    // Both parts are >= 0: adding half the divisor rounds half away from 0.
    let allowance = i64::try_from((weighted + hundred / 2) / hundred).unwrap_or(HUNDRED);
    ev::TppFigures {
        performance: figure(performance),
        attendance: figure(attendance),
        allowance_percent: figure(allowance),
        late_check_ins: u32::try_from(late.len()).unwrap_or(u32::MAX),
        absent_days,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::facts::{ActivityFact, DayFact};

    fn d(s: &str) -> NaiveDate {
        s.parse().expect("a date")
    }

    fn m(s: &str) -> Month {
        Month::parse(s, "month").expect("a month")
    }

    fn code(c: &str, points_per_unit: f64, daily_cap: f64, monthly_cap: f64) -> ev::CodeRule {
        ev::CodeRule {
            code: c.into(),
            points_per_unit,
            daily_cap,
            monthly_cap,
        }
    }

    fn rules(activities: Vec<ev::CodeRule>) -> ev::Rules {
        with_defaults(Some(ev::Rules {
            activities,
            points_per_score: 1.0,
            ..Default::default()
        }))
    }

    fn set(agency: &str, version: u32, from: &str, rules: ev::Rules) -> RuleSet {
        RuleSet {
            agency_id: agency.into(),
            version,
            effective_from: d(from),
            published_seq: u64::from(version),
            rules,
        }
    }

    fn book(sets: Vec<RuleSet>) -> RuleBook {
        let mut b = RuleBook::default();
        for s in sets {
            b.add(s);
        }
        b
    }

    fn act(id: &str, date: &str, code: &str, quantity: f64, approved: bool) -> ActivityFact {
        ActivityFact {
            report_id: id.into(),
            date: d(date),
            code: code.into(),
            quantity,
            minutes: 30,
            approved,
        }
    }

    fn day(date: &str, late_minutes: u32) -> DayFact {
        DayFact {
            date: d(date),
            late_minutes,
        }
    }

    fn facts(activities: Vec<ActivityFact>) -> MonthFacts {
        MonthFacts {
            worker_id: "w1".into(),
            agency_id: "dlh".into(),
            unit_id: "u1".into(),
            activities,
            ..Default::default()
        }
    }

    fn march(book: &RuleBook, f: &MonthFacts) -> ev::MonthFigures {
        evaluate(book, m("2026-03"), f, d("2026-03-31"), u64::MAX)
    }

    fn by_code(fig: &ev::MonthFigures) -> Vec<(&str, f64, f64)> {
        fig.by_code
            .iter()
            .map(|c| (c.code.as_str(), c.quantity, c.points))
            .collect()
    }

    #[test]
    fn a_daily_cap_limits_what_a_code_earns_in_one_day() {
        let b = book(vec![set(
            "",
            1,
            "2026-01-01",
            rules(vec![code("DRAIN", 10.0, 25.0, 0.0)]),
        )]);
        let f = facts(vec![
            act("r1", "2026-03-02", "DRAIN", 2.0, true),
            act("r2", "2026-03-02", "DRAIN", 1.0, true),
            act("r3", "2026-03-03", "DRAIN", 1.0, true),
        ]);
        let fig = march(&b, &f);
        assert_eq!(by_code(&fig), [("DRAIN", 4.0, 35.0)]);
        assert_eq!(fig.points, 35.0);
        assert_eq!(fig.minutes_reported, 90);
    }

    #[test]
    fn a_monthly_cap_limits_what_a_code_earns_in_the_month() {
        let b = book(vec![set(
            "",
            1,
            "2026-01-01",
            rules(vec![
                code("DRAIN", 10.0, 0.0, 50.0),
                code("SWEEP", 1.0, 0.0, 0.0),
            ]),
        )]);
        let mut acts: Vec<_> = (2..=7)
            .map(|n| {
                act(
                    &format!("r{n}"),
                    &format!("2026-03-0{n}"),
                    "DRAIN",
                    1.0,
                    true,
                )
            })
            .collect();
        acts.push(act("s1", "2026-03-02", "SWEEP", 7.0, true));
        let fig = march(&b, &facts(acts));
        assert_eq!(by_code(&fig), [("DRAIN", 6.0, 50.0), ("SWEEP", 7.0, 7.0)]);
        assert_eq!(fig.points, 57.0);
    }

    #[test]
    fn a_code_not_in_the_rule_set_earns_nothing() {
        let b = book(vec![set(
            "",
            1,
            "2026-01-01",
            rules(vec![code("DRAIN", 10.0, 0.0, 0.0)]),
        )]);
        let fig = march(
            &b,
            &facts(vec![act("r1", "2026-03-02", "GARDEN", 3.0, true)]),
        );
        assert_eq!(by_code(&fig), [("GARDEN", 3.0, 0.0)]);
        assert_eq!(fig.points, 0.0);
        assert_eq!(fig.minutes_reported, 30);
    }

    #[test]
    fn unapproved_activities_and_other_months_earn_nothing() {
        let b = book(vec![set(
            "",
            1,
            "2026-01-01",
            rules(vec![code("DRAIN", 10.0, 0.0, 0.0)]),
        )]);
        let f = facts(vec![
            act("r1", "2026-03-02", "DRAIN", 3.0, false),
            act("r2", "2026-04-01", "DRAIN", 3.0, true),
        ]);
        let fig = march(&b, &f);
        assert!(fig.by_code.is_empty());
        assert_eq!((fig.points, fig.minutes_reported), (0.0, 0));
    }

    #[test]
    fn each_report_is_rounded_to_hundredths_before_summing() {
        let b = book(vec![set(
            "",
            1,
            "2026-01-01",
            rules(vec![
                code("A", 0.333, 0.0, 0.0),
                code("B", 0.1, 0.0, 0.0),
                code("C", 0.2, 0.0, 0.0),
                code("H", 0.005, 0.0, 0.0),
            ]),
        )]);
        let f = facts(vec![
            act("a1", "2026-03-02", "A", 1.0, true),
            act("a2", "2026-03-02", "A", 1.0, true),
            act("a3", "2026-03-02", "A", 1.0, true),
        ]);
        assert_eq!(march(&b, &f).points, 0.99);
        let f = facts(vec![
            act("b", "2026-03-02", "B", 1.0, true),
            act("c", "2026-03-02", "C", 1.0, true),
        ]);
        assert_eq!(march(&b, &f).points, 0.3);
        // 0.5 hundredths round away from zero.
        let f = facts(vec![act("h", "2026-03-02", "H", 1.0, true)]);
        assert_eq!(march(&b, &f).points, 0.01);
        let f = facts(vec![
            act("n", "2026-03-02", "B", f64::NAN, true),
            act("x", "2026-03-02", "B", -4.0, true),
        ]);
        assert_eq!(march(&b, &f).points, 0.0);
    }

    #[test]
    fn thresholds_are_inclusive_to_the_hundredth() {
        let t = default_thresholds();
        let cases = [
            (10_000, ev::Category::SangatBaik),
            (9100, ev::Category::SangatBaik),
            (9099, ev::Category::Baik),
            (7600, ev::Category::Baik),
            (7599, ev::Category::Cukup),
            (6100, ev::Category::Cukup),
            (6099, ev::Category::Kurang),
            (5100, ev::Category::Kurang),
            (5099, ev::Category::KurangSekali),
            (0, ev::Category::KurangSekali),
        ];
        for (score, expected) in cases {
            assert_eq!(category(score, &t), expected, "{score}");
        }
        let odd = ev::CategoryThresholds {
            sangat_baik: 90.555,
            baik: 70.0,
            cukup: 50.0,
            kurang: 30.0,
        };
        assert_eq!(category(9056, &odd), ev::Category::SangatBaik);
        assert_eq!(category(9055, &odd), ev::Category::Baik);
    }

    #[test]
    fn a_score_on_a_threshold_earns_its_category_and_pay() {
        let mut r = rules(vec![code("P", 1.0, 0.0, 0.0)]);
        r.pay = Some(ev::PayPercentages {
            sangat_baik: 100.0,
            baik: 90.0,
            cukup: 80.0,
            kurang: 70.0,
            kurang_sekali: 50.0,
        });
        let b = book(vec![set("", 1, "2026-01-01", r)]);
        let cases = [
            (91.0, ev::Category::SangatBaik, 100.0),
            (90.99, ev::Category::Baik, 90.0),
            (76.0, ev::Category::Baik, 90.0),
            (75.99, ev::Category::Cukup, 80.0),
            (61.0, ev::Category::Cukup, 80.0),
            (60.99, ev::Category::Kurang, 70.0),
            (51.0, ev::Category::Kurang, 70.0),
            (50.99, ev::Category::KurangSekali, 50.0),
        ];
        for (quantity, cat, pay) in cases {
            let fig = march(
                &b,
                &facts(vec![act("r", "2026-03-02", "P", quantity, true)]),
            );
            assert_eq!(fig.score, quantity);
            assert_eq!(fig.category, cat as i32, "{quantity}");
            assert_eq!(fig.pay_percent, pay, "{quantity}");
        }
    }

    #[test]
    fn the_default_pay_for_kurang_sekali_is_half() {
        let b = book(vec![set("", 1, "2026-01-01", with_defaults(None))]);
        let fig = march(&b, &facts(vec![]));
        assert_eq!(fig.category, ev::Category::KurangSekali as i32);
        assert_eq!(fig.pay_percent, 50.0);
    }

    #[test]
    fn the_score_is_capped_at_100_and_floored_to_the_hundredth() {
        let mut r = rules(vec![code("P", 1.0, 0.0, 0.0)]);
        let b = book(vec![set("", 1, "2026-01-01", r.clone())]);
        let fig = march(&b, &facts(vec![act("r", "2026-03-02", "P", 250.0, true)]));
        assert_eq!((fig.points, fig.score), (250.0, 100.0));
        assert_eq!(fig.category, ev::Category::SangatBaik as i32);
        r.points_per_score = 3.0;
        let b = book(vec![set("", 1, "2026-01-01", r)]);
        let fig = march(&b, &facts(vec![act("r", "2026-03-02", "P", 2.0, true)]));
        assert_eq!(fig.score, 0.66);
    }

    #[test]
    fn workday_check_ins_and_ceremonies_earn_attendance_points() {
        let mut r = rules(vec![]);
        r.present_day_points = 2.0;
        r.ceremony_points = 5.0;
        let b = book(vec![set("", 1, "2026-01-01", r)]);
        let mut f = facts(vec![]);
        // Friday, Saturday, Monday.
        f.check_ins = vec![
            day("2026-03-06", 0),
            day("2026-03-07", 0),
            day("2026-03-09", 3),
        ];
        f.ceremonies = vec![d("2026-03-17"), d("2026-03-17"), d("2026-04-01")];
        let fig = march(&b, &f);
        assert_eq!(fig.attendance_points, 14.0);
        assert_eq!((fig.days_present, fig.ceremonies), (3, 2));
        assert_eq!(fig.points, 14.0);
        f.work_days = vec![1, 2, 3, 4, 5, 6];
        assert_eq!(march(&b, &f).attendance_points, 16.0);
    }

    #[test]
    fn a_rule_version_taking_over_mid_month_scores_the_days_after_it() {
        let mut v1 = rules(vec![code("DRAIN", 1.0, 0.0, 0.0)]);
        v1.present_day_points = 1.0;
        v1.points_per_score = 100.0;
        let mut v2 = rules(vec![code("DRAIN", 2.0, 0.0, 5.0)]);
        v2.present_day_points = 3.0;
        v2.points_per_score = 0.1;
        let b = book(vec![
            set("", 1, "2026-01-01", v1),
            set("", 2, "2026-03-16", v2),
        ]);
        let mut f = facts(vec![
            act("r1", "2026-03-13", "DRAIN", 1.0, true),
            act("r2", "2026-03-16", "DRAIN", 1.0, true),
        ]);
        f.check_ins = vec![day("2026-03-13", 0), day("2026-03-16", 0)];
        let fig = march(&b, &f);
        // DRAIN: 1 (v1) + 2 (v2) = 3, under v2's monthly cap of 5.
        assert_eq!(by_code(&fig), [("DRAIN", 2.0, 3.0)]);
        assert_eq!(fig.attendance_points, 4.0);
        assert_eq!(fig.points, 7.0);
        // Month-level parameters are v2's: 7 / 0.1 = 70.
        assert_eq!(fig.score, 70.0);
        let refs: Vec<_> = fig
            .rule_sets
            .iter()
            .map(|r| (r.agency_id.as_str(), r.version))
            .collect();
        assert_eq!(refs, [("", 1), ("", 2)]);
    }

    #[test]
    fn month_level_parameters_come_from_the_rule_set_in_force_on_the_last_day() {
        let mut v1 = rules(vec![
            code("DRAIN", 10.0, 0.0, 0.0),
            code("P", 1.0, 0.0, 0.0),
        ]);
        v1.thresholds = Some(ev::CategoryThresholds {
            sangat_baik: 95.0,
            baik: 90.0,
            cukup: 85.0,
            kurang: 80.0,
        });
        let v2 = rules(vec![
            code("DRAIN", 10.0, 0.0, 30.0),
            code("P", 1.0, 0.0, 0.0),
        ]);
        let b = book(vec![
            set("dlh", 1, "2026-03-01", v1),
            set("dlh", 2, "2026-03-31", v2),
        ]);
        let drains = (1..=9).map(|n| {
            act(
                &format!("r{n}"),
                &format!("2026-03-1{n}"),
                "DRAIN",
                1.0,
                true,
            )
        });
        // v2's monthly cap caps the points earned under v1.
        assert_eq!(march(&b, &facts(drains.collect())).points, 30.0);
        // 92 is only baik by v1's thresholds, sangat baik by v2's.
        let fig = march(&b, &facts(vec![act("r", "2026-03-02", "P", 92.0, true)]));
        assert_eq!(fig.category, ev::Category::SangatBaik as i32);
        let refs: Vec<_> = fig.rule_sets.iter().map(|r| r.version).collect();
        assert_eq!(refs, [1, 2]);
    }

    #[test]
    fn days_without_a_rule_set_in_force_earn_nothing() {
        let mut r = rules(vec![code("DRAIN", 1.0, 0.0, 0.0)]);
        r.present_day_points = 1.0;
        let b = book(vec![set("", 1, "2026-03-16", r)]);
        let mut f = facts(vec![
            act("r1", "2026-03-13", "DRAIN", 5.0, true),
            act("r2", "2026-03-16", "DRAIN", 2.0, true),
        ]);
        f.check_ins = vec![day("2026-03-13", 0), day("2026-03-16", 0)];
        let fig = march(&b, &f);
        assert_eq!(fig.points, 3.0);
        assert_eq!(by_code(&fig), [("DRAIN", 7.0, 2.0)]);
    }

    #[test]
    fn without_any_rule_set_the_defaults_score_nothing() {
        let mut f = facts(vec![act("r1", "2026-03-13", "DRAIN", 5.0, true)]);
        f.check_ins = vec![day("2026-03-13", 0)];
        let fig = march(&RuleBook::default(), &f);
        assert_eq!((fig.points, fig.score), (0.0, 0.0));
        assert_eq!(fig.category, ev::Category::KurangSekali as i32);
        assert_eq!(fig.pay_percent, 50.0);
        assert!(fig.rule_sets.is_empty());
        assert_eq!(fig.days_present, 1);
    }

    #[test]
    fn the_agencys_own_rule_set_and_the_rule_book_as_of_a_sequence_are_used() {
        let b = book(vec![
            set(
                "",
                1,
                "2026-01-01",
                rules(vec![code("DRAIN", 1.0, 0.0, 0.0)]),
            ),
            set(
                "dlh",
                2,
                "2026-01-01",
                rules(vec![code("DRAIN", 4.0, 0.0, 0.0)]),
            ),
        ]);
        let f = facts(vec![act("r1", "2026-03-13", "DRAIN", 1.0, true)]);
        assert_eq!(march(&b, &f).points, 4.0);
        let as_of_1 = evaluate(&b, m("2026-03"), &f, d("2026-03-31"), 1);
        assert_eq!(as_of_1.points, 1.0);
        let other = MonthFacts {
            agency_id: "bappeda".into(),
            ..f
        };
        let fig = march(&b, &other);
        assert_eq!(fig.points, 1.0);
        assert_eq!(
            fig.rule_sets,
            [ev::RuleSetRef {
                agency_id: String::new(),
                version: 1
            }]
        );
    }

    fn civil_servant(check_ins: Vec<DayFact>) -> MonthFacts {
        MonthFacts {
            pns: true,
            check_ins,
            ..facts(vec![])
        }
    }

    fn tpp_of(fig: &ev::MonthFigures) -> ev::TppFigures {
        fig.tpp.expect("a civil servant's TPP")
    }

    #[test]
    fn only_civil_servants_get_tpp_figures() {
        let b = book(vec![set("", 1, "2026-01-01", rules(vec![]))]);
        assert_eq!(march(&b, &facts(vec![])).tpp, None);
        assert!(march(&b, &civil_servant(vec![])).tpp.is_some());
    }

    #[test]
    fn each_late_day_deducts_its_brackets_share_of_attendance() {
        let b = book(vec![set("", 1, "2026-01-01", rules(vec![]))]);
        let f = civil_servant(vec![
            day("2026-03-02", 0),
            day("2026-03-03", 10),
            day("2026-03-04", 30),
            day("2026-03-05", 45),
            day("2026-03-06", 75),
            day("2026-03-09", 200),
        ]);
        // No day has been absent yet.
        let fig = evaluate(&b, m("2026-03"), &f, d("2026-02-28"), u64::MAX);
        let t = tpp_of(&fig);
        assert_eq!((t.late_check_ins, t.absent_days), (5, 0));
        // 0.5 + 0.5 + 1.0 + 1.25 + 1.5
        assert_eq!(t.attendance, 95.25);
    }

    #[test]
    fn absences_are_workdays_up_to_through_while_employed_and_not_on_leave() {
        let b = book(vec![set("", 1, "2026-01-01", rules(vec![]))]);
        let mut f = civil_servant(vec![day("2026-03-16", 0), day("2026-03-17", 0)]);
        f.joined_on = Some(d("2026-03-04"));
        f.left_on = Some(d("2026-03-28"));
        f.leave = vec![(d("2026-03-09"), d("2026-03-13"))];
        let absent = |through| tpp_of(&evaluate(&b, m("2026-03"), &f, d(through), u64::MAX));
        // 4-6 March, then 18-20 (the 9th-13th on leave, 16-17 present).
        let t = absent("2026-03-20");
        assert_eq!((t.absent_days, t.attendance), (6, 82.0));
        // Then 23-27; from the 28th the worker had left.
        assert_eq!(absent("2026-03-31").absent_days, 11);
        assert_eq!(absent("2026-03-03").absent_days, 0);
        f.work_days = vec![6, 7];
        // Weekends only: 7-8, 14-15, 21-22 (the 1st before joining, 28-29 after leaving).
        let t = tpp_of(&evaluate(&b, m("2026-03"), &f, d("2026-03-31"), u64::MAX));
        assert_eq!(t.absent_days, 6);
    }

    #[test]
    fn attendance_never_falls_below_zero() {
        let mut r = rules(vec![]);
        r.tpp = Some(ev::TppRule {
            absent_day_deduction_percent: 5.0,
            ..default_tpp()
        });
        let b = book(vec![set("", 1, "2026-01-01", r)]);
        let t = tpp_of(&march(&b, &civil_servant(vec![])));
        assert_eq!((t.absent_days, t.attendance), (22, 0.0));
    }

    #[test]
    fn the_allowance_weighs_performance_against_attendance() {
        let allowance = |weight: f64| {
            let mut r = rules(vec![code("P", 1.0, 0.0, 0.0)]);
            r.tpp = Some(ev::TppRule {
                performance_weight: weight,
                absent_day_deduction_percent: 10.0,
                ..default_tpp()
            });
            let b = book(vec![set("", 1, "2026-01-01", r)]);
            let mut f = civil_servant(vec![]);
            f.activities = vec![act("r", "2026-03-02", "P", 80.0, true)];
            // Five workdays absent: attendance 50.
            tpp_of(&evaluate(&b, m("2026-03"), &f, d("2026-03-06"), u64::MAX))
        };
        let t = allowance(60.0);
        assert_eq!(
            (t.performance, t.attendance, t.absent_days),
            (80.0, 50.0, 5)
        );
        assert_eq!(t.allowance_percent, 68.0);
        assert_eq!(allowance(0.0).allowance_percent, 50.0);
        assert_eq!(allowance(100.0).allowance_percent, 80.0);
        // 33.33 x 80 + 66.67 x 50 = 5999.9 -> 60.00 (to the hundredth).
        assert_eq!(allowance(33.33).allowance_percent, 60.0);
    }

    #[test]
    fn the_same_facts_in_another_order_give_bit_identical_figures() {
        let mut r = rules(vec![code("A", 0.37, 1.0, 3.0), code("B", 1.13, 0.0, 0.0)]);
        r.present_day_points = 0.7;
        r.ceremony_points = 0.3;
        let b = book(vec![set("", 1, "2026-01-01", r)]);
        let mut f = civil_servant(vec![
            day("2026-03-02", 40),
            day("2026-03-03", 0),
            day("2026-03-10", 95),
        ]);
        f.activities = vec![
            act("r1", "2026-03-02", "A", 1.5, true),
            act("r2", "2026-03-02", "B", 0.3, true),
            act("r3", "2026-03-03", "A", 2.1, true),
            act("r4", "2026-03-03", "B", 7.7, false),
            act("r5", "2026-03-02", "A", 0.9, true),
        ];
        f.ceremonies = vec![d("2026-03-05"), d("2026-03-02")];
        let fig = march(&b, &f);
        let mut shuffled = f.clone();
        shuffled.activities.reverse();
        shuffled.check_ins.reverse();
        shuffled.ceremonies.reverse();
        let again = march(&b, &shuffled);
        assert_eq!(fig, again);
        assert_eq!(fig.points.to_bits(), again.points.to_bits());
        assert_eq!(fig.score.to_bits(), again.score.to_bits());
        let figures = [fig.points, fig.score, fig.attendance_points];
        for v in figures {
            assert_eq!(v, (v * 100.0).round() / 100.0, "{v} has two decimals");
        }
    }

    mod replay {
        use std::collections::{BTreeMap, BTreeSet};

        use chrono::{DateTime, Utc};
        use proptest::prelude::*;

        use super::*;
        use crate::domain::facts::{Change, Ledger};

        const WORKERS: [&str; 4] = ["w0", "w1", "w2", "w3"];
        const AGENCIES: [&str; 3] = ["A", "B", "C"];
        const CODES: [&str; 4] = ["A", "B", "C", "X"];

        fn day(n: u32) -> NaiveDate {
            d("2026-03-01") + chrono::Days::new(u64::from(n))
        }

        fn at(hours: i64) -> DateTime<Utc> {
            DateTime::parse_from_rfc3339("2026-03-01T00:00:00Z")
                .expect("a time")
                .with_timezone(&Utc)
                + chrono::Duration::hours(hours)
        }

        fn the_book() -> RuleBook {
            let mut v1 = rules(vec![code("A", 2.0, 5.0, 20.0), code("B", 1.5, 0.0, 0.0)]);
            v1.present_day_points = 1.0;
            v1.ceremony_points = 2.0;
            let mut own = rules(vec![code("A", 3.0, 4.0, 0.0), code("C", 0.7, 0.0, 2.0)]);
            own.points_per_score = 0.5;
            own.present_day_points = 0.25;
            let v2 = rules(vec![code("B", 2.5, 3.0, 10.0)]);
            book(vec![
                set("", 1, "2026-01-01", v1),
                set("A", 2, "2026-03-16", own),
                set("", 3, "2026-04-10", v2),
            ])
        }

        fn setup() -> Vec<Change> {
            let agency = |a: &str, tz: &str| Change::Agency {
                agency_id: a.into(),
                time_zone: tz.into(),
            };
            let worker = |w: &str, a: &str, pns: bool, joined: Option<u32>| Change::Worker {
                worker_id: w.into(),
                agency_id: a.into(),
                unit_id: "u".into(),
                pns,
                joined_on: joined.map(day),
            };
            let session = |s: &str, hours: i64| Change::Session {
                session_id: s.into(),
                starts_at: at(hours),
            };
            vec![
                agency("A", "Asia/Jakarta"),
                agency("B", "Asia/Jayapura"),
                worker("w0", "A", true, Some(4)),
                worker("w1", "B", true, None),
                worker("w2", "A", false, None),
                session("s0", 30),
                // 31 March 16:30 UTC: the 31st in Jakarta, 1 April in Jayapura.
                session("s1", 30 * 24 + 16),
                session("s2", 45 * 24 + 2),
            ]
        }

        fn change() -> impl Strategy<Value = Change> {
            let worker = (0..WORKERS.len()).prop_map(|i| WORKERS[i].to_owned());
            let agency = (0..AGENCIES.len()).prop_map(|i| AGENCIES[i].to_owned());
            let code = (0..CODES.len()).prop_map(|i| CODES[i].to_owned());
            let report_id = (0..12u32).prop_map(|n| format!("r{n}"));
            let session_id = (0..5u32).prop_map(|n| format!("s{n}"));
            let leave_id = (0..4u32).prop_map(|n| format!("l{n}"));
            let quantity = (0..9u32).prop_map(|q| f64::from(q) / 2.0);
            prop_oneof![
                6 => (report_id.clone(), worker.clone(), 0..61u32, code.clone(), quantity.clone(), 0..120u32)
                    .prop_map(|(report_id, worker_id, n, code, quantity, minutes)| Change::Report {
                        report_id,
                        worker_id,
                        agency_id: "A".into(),
                        unit_id: "u".into(),
                        date: day(n),
                        code,
                        quantity,
                        minutes,
                    }),
                2 => (report_id.clone(), code, quantity, 0..120u32).prop_map(
                    |(report_id, code, quantity, minutes)| Change::Amended { report_id, code, quantity, minutes }
                ),
                6 => report_id.clone().prop_map(|report_id| Change::Approved { report_id }),
                2 => report_id.prop_map(|report_id| Change::Unapproved { report_id }),
                5 => (worker.clone(), 0..61u32, prop_oneof![Just(0u32), 1..150u32]).prop_map(
                    |(worker_id, n, late_minutes)| Change::CheckIn {
                        worker_id,
                        agency_id: "A".into(),
                        date: day(n),
                        late_minutes,
                    }
                ),
                3 => (session_id.clone(), worker.clone(), prop_oneof![agency.clone(), Just(String::new())])
                    .prop_map(|(session_id, worker_id, agency_id)| Change::CeremonyScan {
                        session_id,
                        worker_id,
                        agency_id,
                    }),
                1 => (session_id, 0..(61 * 24i64)).prop_map(|(session_id, hours)| Change::Session {
                    session_id,
                    starts_at: at(hours),
                }),
                1 => (agency.clone(), proptest::collection::btree_set(1..=7u32, 0..7)).prop_map(
                    |(agency_id, days)| Change::Schedule { agency_id, work_days: days.into_iter().collect() }
                ),
                1 => (worker.clone(), agency.clone()).prop_map(|(worker_id, agency_id)| Change::Transferred {
                    worker_id,
                    agency_id,
                    unit_id: "v".into(),
                }),
                1 => (worker.clone(), proptest::option::of(0..61u32)).prop_map(
                    |(worker_id, n)| Change::Deactivated { worker_id, effective_on: n.map(day) }
                ),
                1 => (worker.clone(), agency.clone(), any::<bool>(), proptest::option::of(0..61u32)).prop_map(
                    |(worker_id, agency_id, pns, joined)| Change::Worker {
                        worker_id,
                        agency_id,
                        unit_id: "u".into(),
                        pns,
                        joined_on: joined.map(day),
                    }
                ),
                1 => (agency, prop_oneof![Just("Asia/Jakarta"), Just("Asia/Makassar"), Just("Asia/Jayapura")])
                    .prop_map(|(agency_id, tz)| Change::Agency { agency_id, time_zone: tz.into() }),
                1 => (leave_id.clone(), worker, 0..61u32, 0..10u32).prop_map(|(leave_id, worker_id, n, len)| {
                    Change::LeaveRequested { leave_id, worker_id, first: day(n), last: day(n + len) }
                }),
                1 => leave_id.prop_map(|leave_id| Change::LeaveApproved { leave_id }),
            ]
        }

        fn figures(book: &RuleBook, l: &Ledger, w: &str, month: Month) -> ev::MonthFigures {
            let f = l
                .month_facts(w, month)
                .expect("touched months are of registered workers");
            evaluate(book, month, &f, month.last_day(), u64::MAX)
        }

        proptest! {
            #[test]
            fn re_evaluating_touched_months_batch_by_batch_matches_one_evaluation_at_the_end(
                changes in proptest::collection::vec(change(), 0..80),
                batches in proptest::collection::vec(1..8usize, 1..80),
            ) {
                let book = the_book();
                let all: Vec<Change> = setup().into_iter().chain(changes).collect();

                let mut live = Ledger::new();
                let mut table = BTreeMap::new();
                let mut rest = all.as_slice();
                let mut sizes = batches.iter().cycle();
                while !rest.is_empty() {
                    let n = sizes.next().copied().unwrap_or(1).min(rest.len());
                    let (batch, later) = rest.split_at(n);
                    rest = later;
                    let touched: BTreeSet<(String, Month)> =
                        batch.iter().flat_map(|c| live.apply(c)).collect();
                    for (w, month) in touched {
                        let fig = figures(&book, &live, &w, month);
                        table.insert((w, month), fig);
                    }
                }

                let mut replayed = Ledger::new();
                for c in &all {
                    replayed.apply(c);
                }
                let once: BTreeMap<_, _> = replayed
                    .worker_months()
                    .into_iter()
                    .map(|(w, month)| {
                        let fig = figures(&book, &replayed, &w, month);
                        ((w, month), fig)
                    })
                    .collect();
                prop_assert_eq!(table, once);
            }
        }
    }
}
