//! Recomputing worker months from the facts, inside the transaction that
//! changed them.
//!
//! Every projection that changes facts calls [`recompute`] with the worker
//! months it touched. The month rows are locked first (inserted when new,
//! then `FOR UPDATE` in key order), then their facts are read: whichever of
//! two concurrent projections commits second has waited for the first and
//! reads its facts, so the figures always reflect every committed fact.
//! Row locks, unlike advisory locks, do not run out when a rule set
//! recomputes a whole province.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, NaiveDate, Utc};
use pantau_proto::events::v1 as ev;
use prost::Message;
use sqlx::{PgConnection, Row};

use super::{Cause, centi, decode_figures, encode_figures};
use crate::domain::Month;
use crate::domain::eval::evaluate;
use crate::domain::facts::{ActivityFact, DayFact, MonthFacts, local_date, parse_tz};
use crate::domain::rules::{RuleBook, RuleSet};

/// A worker's month.
pub type Key = (String, Month);

/// Every rule set published so far.
pub async fn rule_book(conn: &mut PgConnection) -> Result<RuleBook, sqlx::Error> {
    let rows = sqlx::query("SELECT seq, body FROM scoring_own.rule_sets ORDER BY seq")
        .fetch_all(&mut *conn)
        .await?;
    let mut book = RuleBook::default();
    for row in rows {
        let (seq, body): (i64, Vec<u8>) = (row.try_get("seq")?, row.try_get("body")?);
        if let Some(set) = ev::RuleSetPublished::decode(body.as_slice())
            .ok()
            .and_then(|e| RuleSet::from_event(&e, seq as u64))
        {
            book.add(set);
        }
    }
    Ok(book)
}

/// A closed month's revision and the rule sets it keeps.
#[derive(Debug, Clone, Copy)]
pub struct Closed {
    pub revision: i32,
    pub rules_as_of: u64,
}

/// Closed months among `months`, by (agency, month).
pub async fn closed_months(
    conn: &mut PgConnection,
    months: &[String],
) -> Result<HashMap<(String, String), Closed>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT agency_id, month, revision, rules_as_of FROM scoring_own.months WHERE month = ANY($1)",
    )
    .bind(months)
    .fetch_all(&mut *conn)
    .await?;
    let mut out = HashMap::new();
    for r in rows {
        out.insert(
            (r.try_get("agency_id")?, r.try_get("month")?),
            Closed {
                revision: r.try_get("revision")?,
                rules_as_of: r.try_get::<i64, _>("rules_as_of")? as u64,
            },
        );
    }
    Ok(out)
}

/// Recomputes `keys` (each with the event that last touched it) as of `now`.
pub async fn recompute(
    conn: &mut PgConnection,
    keys: &BTreeMap<Key, Cause>,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    if keys.is_empty() {
        return Ok(());
    }
    let workers: Vec<String> = keys.keys().map(|(w, _)| w.clone()).collect();
    let months: Vec<String> = keys.keys().map(|(_, m)| m.to_string()).collect();
    lock(conn, &workers, &months).await?;
    let facts = load_facts(conn, keys).await?;
    let book = rule_book(conn).await?;
    let mut distinct: Vec<String> = months.clone();
    distinct.sort();
    distinct.dedup();
    let closed = closed_months(conn, &distinct).await?;
    let mut rows = Rows::default();
    let mut closed_keys: Vec<(String, String, Month, i32, ev::MonthFigures, Cause)> = Vec::new();
    for ((worker, month), cause) in keys {
        let Some(f) = facts.get(&(worker.clone(), *month)) else {
            continue;
        };
        let pin = closed
            .get(&(f.agency_id.clone(), month.to_string()))
            .copied();
        let tz = f.tz;
        let through = month.last_day().min(local_date(now, tz));
        let as_of = pin.map_or(u64::MAX, |c| c.rules_as_of);
        let figures = evaluate(&book, *month, &f.facts, through, as_of);
        if let Some(c) = pin {
            closed_keys.push((
                f.facts.agency_id.clone(),
                worker.clone(),
                *month,
                c.revision,
                figures.clone(),
                *cause,
            ));
        }
        rows.push(&f.facts, *month, &figures);
    }
    rows.write(conn).await?;
    for (agency, worker, month, revision, figures, cause) in closed_keys {
        adjust_if_changed(conn, &agency, &worker, month, revision, &figures, cause).await?;
    }
    Ok(())
}

/// Inserts missing month rows, then locks them all in key order.
async fn lock(
    conn: &mut PgConnection,
    workers: &[String],
    months: &[String],
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO scoring.worker_months
             (worker_id, month, agency_id, unit_id, pns, points, score, category, minutes, figures)
         SELECT w, m, '', '', false, 0, 0, 0, 0, ''::bytea FROM unnest($1::text[], $2::text[]) AS k(w, m)
         ORDER BY w, m
         ON CONFLICT DO NOTHING",
    )
    .bind(workers)
    .bind(months)
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "SELECT 1 FROM scoring.worker_months wm
         JOIN unnest($1::text[], $2::text[]) AS k(w, m) ON wm.worker_id = k.w AND wm.month = k.m
         ORDER BY wm.worker_id, wm.month FOR UPDATE OF wm",
    )
    .bind(workers)
    .bind(months)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// A worker month's facts and its agency's zone.
pub struct Loaded {
    pub facts: MonthFacts,
    pub agency_id: String,
    pub tz: chrono_tz::Tz,
}

/// The facts of every key, from the three fact schemas.
pub async fn load_facts(
    conn: &mut PgConnection,
    keys: &BTreeMap<Key, Cause>,
) -> Result<HashMap<Key, Loaded>, sqlx::Error> {
    let mut workers: Vec<String> = keys.keys().map(|(w, _)| w.clone()).collect();
    workers.dedup();
    let months: Vec<String> = {
        let mut m: Vec<String> = keys.keys().map(|(_, m)| m.to_string()).collect();
        m.sort();
        m.dedup();
        m
    };
    // Who each worker is; a worker identity has not told about yet takes
    // agency and unit from their reports.
    let mut people: HashMap<String, (MonthFacts, chrono_tz::Tz)> = HashMap::new();
    let rows = sqlx::query(
        "SELECT w.worker_id, w.agency_id, w.unit_id, w.pns, w.joined_on, w.left_on,
                coalesce(a.time_zone, '') AS time_zone, coalesce(s.work_days, '{}') AS work_days
         FROM scoring_identity.workers w
         LEFT JOIN scoring_identity.agencies a ON a.agency_id = w.agency_id
         LEFT JOIN scoring_attendance.schedules s ON s.agency_id = w.agency_id
         WHERE w.worker_id = ANY($1)",
    )
    .bind(&workers)
    .fetch_all(&mut *conn)
    .await?;
    for r in rows {
        let id: String = r.try_get("worker_id")?;
        let work_days: Vec<i32> = r.try_get("work_days")?;
        let tz = parse_tz(&r.try_get::<String, _>("time_zone")?);
        people.insert(
            id.clone(),
            (
                MonthFacts {
                    worker_id: id,
                    agency_id: r.try_get("agency_id")?,
                    unit_id: r.try_get("unit_id")?,
                    pns: r.try_get("pns")?,
                    joined_on: r.try_get("joined_on")?,
                    left_on: r.try_get("left_on")?,
                    work_days: work_days.into_iter().map(|d| d as u32).collect(),
                    ..MonthFacts::default()
                },
                tz,
            ),
        );
    }
    let mut out: HashMap<Key, Loaded> = HashMap::new();
    let reports = sqlx::query(
        "SELECT worker_id, month, report_id, agency_id, unit_id, local_date, code, quantity, minutes, approved
         FROM scoring_activity.reports WHERE worker_id = ANY($1) AND month = ANY($2)
         ORDER BY local_date, code, report_id",
    )
    .bind(&workers)
    .bind(&months)
    .fetch_all(&mut *conn)
    .await?;
    // Entries only for the keys asked for.
    let entry = |out: &mut HashMap<Key, Loaded>,
                 worker: &str,
                 month: Month,
                 fallback: Option<(&str, &str)>|
     -> bool {
        let key = (worker.to_owned(), month);
        if !keys.contains_key(&key) {
            return false;
        }
        out.entry(key).or_insert_with(|| {
            let (facts, tz) = match people.get(worker) {
                Some((f, tz)) => (f.clone(), *tz),
                None => {
                    let (agency, unit) = fallback.unwrap_or(("", ""));
                    (
                        MonthFacts {
                            worker_id: worker.to_owned(),
                            agency_id: agency.to_owned(),
                            unit_id: unit.to_owned(),
                            ..MonthFacts::default()
                        },
                        parse_tz(""),
                    )
                }
            };
            let agency_id = facts.agency_id.clone();
            Loaded {
                facts,
                agency_id,
                tz,
            }
        });
        true
    };
    for r in reports {
        let worker: String = r.try_get("worker_id")?;
        let Ok(month) = Month::parse(&r.try_get::<String, _>("month")?, "month") else {
            continue;
        };
        let (agency, unit): (String, String) = (r.try_get("agency_id")?, r.try_get("unit_id")?);
        if !entry(&mut out, &worker, month, Some((&agency, &unit))) {
            continue;
        }
        let fact = ActivityFact {
            report_id: r.try_get("report_id")?,
            date: r.try_get("local_date")?,
            code: r.try_get("code")?,
            quantity: r.try_get("quantity")?,
            minutes: r.try_get::<i32, _>("minutes")?.max(0) as u32,
            approved: r.try_get("approved")?,
        };
        if let Some(l) = out.get_mut(&(worker, month)) {
            l.facts.activities.push(fact);
        }
    }
    let check_ins = sqlx::query(
        "SELECT worker_id, month, local_date, late_minutes FROM scoring_attendance.check_ins
         WHERE worker_id = ANY($1) AND month = ANY($2) ORDER BY local_date",
    )
    .bind(&workers)
    .bind(&months)
    .fetch_all(&mut *conn)
    .await?;
    for r in check_ins {
        let worker: String = r.try_get("worker_id")?;
        let Ok(month) = Month::parse(&r.try_get::<String, _>("month")?, "month") else {
            continue;
        };
        if !entry(&mut out, &worker, month, None) {
            continue;
        }
        let fact = DayFact {
            date: r.try_get("local_date")?,
            late_minutes: r.try_get::<i32, _>("late_minutes")?.max(0) as u32,
        };
        if let Some(l) = out.get_mut(&(worker, month)) {
            l.facts.check_ins.push(fact);
        }
    }
    // A ceremony is on the local date of its start in the zone of the
    // agency the worker was scanned for (else their own).
    let ceremonies = sqlx::query(
        "SELECT c.worker_id, s.starts_at, coalesce(a.time_zone, '') AS time_zone
         FROM scoring_attendance.ceremony_scans c
         JOIN scoring_attendance.sessions s ON s.session_id = c.session_id
         LEFT JOIN scoring_identity.agencies a ON a.agency_id = c.agency_id
         WHERE c.worker_id = ANY($1) ORDER BY s.starts_at",
    )
    .bind(&workers)
    .fetch_all(&mut *conn)
    .await?;
    for r in ceremonies {
        let worker: String = r.try_get("worker_id")?;
        let at: DateTime<Utc> = r.try_get("starts_at")?;
        let zone: String = r.try_get("time_zone")?;
        let tz = if zone.is_empty() {
            people.get(&worker).map_or(parse_tz(""), |(_, tz)| *tz)
        } else {
            parse_tz(&zone)
        };
        let day = local_date(at, tz);
        let month = Month::of(day);
        if !entry(&mut out, &worker, month, None) {
            continue;
        }
        if let Some(l) = out.get_mut(&(worker, month)) {
            l.facts.ceremonies.push(day);
        }
    }
    let leave = sqlx::query(
        "SELECT worker_id, first_day, last_day FROM scoring_attendance.leaves
         WHERE approved AND worker_id = ANY($1)",
    )
    .bind(&workers)
    .fetch_all(&mut *conn)
    .await?;
    let mut ranges: HashMap<String, Vec<(NaiveDate, NaiveDate)>> = HashMap::new();
    for r in leave {
        ranges
            .entry(r.try_get("worker_id")?)
            .or_default()
            .push((r.try_get("first_day")?, r.try_get("last_day")?));
    }
    // Months with no facts at all still get figures (a month with nothing
    // in it is what a ghost worker's looks like).
    for (worker, month) in keys.keys() {
        entry(&mut out, worker, *month, None);
    }
    for ((worker, month), l) in &mut out {
        if let Some(rs) = ranges.get(worker) {
            l.facts.leave = rs
                .iter()
                .filter(|(a, b)| *a <= month.last_day() && *b >= month.first_day())
                .copied()
                .collect();
        }
    }
    Ok(out)
}

/// New figures for month rows, written with one statement.
#[derive(Default)]
struct Rows {
    worker: Vec<String>,
    month: Vec<String>,
    agency: Vec<String>,
    unit: Vec<String>,
    pns: Vec<bool>,
    points: Vec<i64>,
    score: Vec<i64>,
    category: Vec<i32>,
    minutes: Vec<i64>,
    figures: Vec<Vec<u8>>,
}

impl Rows {
    fn push(&mut self, f: &MonthFacts, month: Month, figures: &ev::MonthFigures) {
        self.worker.push(f.worker_id.clone());
        self.month.push(month.to_string());
        self.agency.push(f.agency_id.clone());
        self.unit.push(f.unit_id.clone());
        self.pns.push(f.pns);
        self.points.push(centi(figures.points));
        self.score.push(centi(figures.score));
        self.category.push(figures.category);
        self.minutes.push(i64::from(figures.minutes_reported));
        self.figures.push(encode_figures(figures));
    }

    async fn write(self, conn: &mut PgConnection) -> Result<(), sqlx::Error> {
        if self.worker.is_empty() {
            return Ok(());
        }
        sqlx::query(
            "UPDATE scoring.worker_months wm SET agency_id = v.agency, unit_id = v.unit, pns = v.pns,
                 points = v.points, score = v.score, category = v.category, minutes = v.minutes,
                 figures = v.figures, updated_at = now()
             FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bool[], $6::bigint[],
                         $7::bigint[], $8::int[], $9::bigint[], $10::bytea[])
                  AS v(worker, month, agency, unit, pns, points, score, category, minutes, figures)
             WHERE wm.worker_id = v.worker AND wm.month = v.month",
        )
        .bind(&self.worker)
        .bind(&self.month)
        .bind(&self.agency)
        .bind(&self.unit)
        .bind(&self.pns)
        .bind(&self.points)
        .bind(&self.score)
        .bind(&self.category)
        .bind(&self.minutes)
        .bind(&self.figures)
        .execute(conn)
        .await?;
        Ok(())
    }
}

/// What payroll last heard of a closed worker month: the latest adjustment
/// of the revision, else the finalized figures (None when the revision has
/// no score for the worker yet).
pub async fn settled(
    conn: &mut PgConnection,
    agency: &str,
    worker: &str,
    month: Month,
    revision: i32,
) -> Result<Option<(ev::MonthFigures, i32)>, sqlx::Error> {
    let adjusted = sqlx::query(
        "SELECT after, number FROM scoring.adjustments
         WHERE agency_id = $1 AND month = $2 AND worker_id = $3 AND revision = $4
         ORDER BY number DESC LIMIT 1",
    )
    .bind(agency)
    .bind(month.to_string())
    .bind(worker)
    .bind(revision)
    .fetch_optional(&mut *conn)
    .await?;
    if let Some(r) = adjusted {
        let after: Vec<u8> = r.try_get("after")?;
        return Ok(Some((decode_figures(&after), r.try_get("number")?)));
    }
    let finalized: Option<Vec<u8>> = sqlx::query_scalar(
        "SELECT figures FROM scoring_own.finalized
         WHERE agency_id = $1 AND month = $2 AND worker_id = $3 AND revision = $4",
    )
    .bind(agency)
    .bind(month.to_string())
    .bind(worker)
    .bind(revision)
    .fetch_optional(&mut *conn)
    .await?;
    Ok(finalized.map(|f| (decode_figures(&f), 0)))
}

/// Records an adjustment when a closed month's figures moved away from
/// what payroll last heard.
pub async fn adjust_if_changed(
    conn: &mut PgConnection,
    agency: &str,
    worker: &str,
    month: Month,
    revision: i32,
    figures: &ev::MonthFigures,
    cause: Cause,
) -> Result<(), sqlx::Error> {
    let Some((before, number)) = settled(conn, agency, worker, month, revision).await? else {
        return Ok(());
    };
    if &before == figures {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO scoring.adjustments
             (agency_id, month, worker_id, revision, number, before, after, cause_stream, cause_sequence)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT DO NOTHING",
    )
    .bind(agency)
    .bind(month.to_string())
    .bind(worker)
    .bind(revision)
    .bind(number + 1)
    .bind(encode_figures(&before))
    .bind(encode_figures(figures))
    .bind(cause.stream)
    .bind(cause.sequence as i64)
    .execute(conn)
    .await?;
    Ok(())
}
