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
//! - score = min(100, points / points_per_score), floored to hundredths; the
//!   category is the highest whose threshold (rounded to hundredths) the
//!   score reaches; pay is that category's percentage.
//! - TPP (civil servants only): performance = score; attendance = 100 minus
//!   each late day's bracket deduction, minus the absent-day deduction for
//!   each workday up to `through`, while employed (from joined_on, before
//!   left_on), not on approved leave and without check-in; never below 0.
//!   allowance = (w x performance + (100 - w) x attendance) / 100.
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
    let thresholds = month_rules.thresholds.clone().unwrap_or_else(default_thresholds);
    let cat = category(score, &thresholds);
    let pay = month_rules.pay.clone().unwrap_or_else(default_pay);

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
