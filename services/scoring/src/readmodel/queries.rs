//! Reads the gRPC adapter answers from.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use pantau_proto::events::v1 as ev;
use pantau_proto::scoring::v1 as api;
use prost::Message;
use sqlx::{PgPool, Row};

use super::Cause;
use super::decode_figures;
use super::recompute::{Closed, Key, load_facts, rule_book};
use crate::domain::Month;
use crate::domain::eval::evaluate;
use crate::domain::facts::local_date;

/// Every rule set of the agency's scope and of the all-agency scope, in
/// publication order.
pub async fn rule_sets(
    pool: &PgPool,
    agency_id: &str,
) -> Result<Vec<ev::RuleSetPublished>, sqlx::Error> {
    let rows: Vec<Vec<u8>> = sqlx::query_scalar(
        "SELECT body FROM scoring_own.rule_sets WHERE agency_id = $1 OR agency_id = '' ORDER BY seq",
    )
    .bind(agency_id)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .iter()
        .filter_map(|b| ev::RuleSetPublished::decode(b.as_slice()).ok())
        .collect())
}

pub async fn closed(
    pool: &PgPool,
    agency_id: &str,
    month: Month,
) -> Result<Option<Closed>, sqlx::Error> {
    let row = sqlx::query(
        "SELECT revision, rules_as_of FROM scoring_own.months WHERE agency_id = $1 AND month = $2",
    )
    .bind(agency_id)
    .bind(month.to_string())
    .fetch_optional(pool)
    .await?;
    Ok(match row {
        Some(r) => Some(Closed {
            revision: r.try_get("revision")?,
            rules_as_of: r.try_get::<i64, _>("rules_as_of")? as u64,
        }),
        None => None,
    })
}

/// A worker's month figures computed now from the stored facts (the live
/// view counts absences up to today).
pub async fn live(
    pool: &PgPool,
    worker_id: &str,
    month: Month,
    rules_as_of: u64,
    now: DateTime<Utc>,
) -> Result<Option<(ev::MonthFigures, String, String)>, sqlx::Error> {
    let mut conn = pool.acquire().await?;
    let mut keys: BTreeMap<Key, Cause> = BTreeMap::new();
    keys.insert(
        (worker_id.to_owned(), month),
        Cause {
            stream: "",
            sequence: 0,
        },
    );
    let facts = load_facts(&mut conn, &keys).await?;
    let Some(l) = facts.get(&(worker_id.to_owned(), month)) else {
        return Ok(None);
    };
    let book = rule_book(&mut conn).await?;
    let through = month.last_day().min(local_date(now, l.tz));
    let figures = evaluate(&book, month, &l.facts, through, rules_as_of);
    Ok(Some((
        figures,
        l.facts.agency_id.clone(),
        l.facts.unit_id.clone(),
    )))
}

/// The finalized figures of a worker's month in a revision, with the
/// adjustments since.
pub async fn finalized(
    pool: &PgPool,
    agency_id: &str,
    worker_id: &str,
    month: Month,
    revision: i32,
) -> Result<(Option<ev::MonthFigures>, Vec<api::Adjustment>), sqlx::Error> {
    let figures: Option<Vec<u8>> = sqlx::query_scalar(
        "SELECT figures FROM scoring_own.finalized
         WHERE agency_id = $1 AND month = $2 AND revision = $3 AND worker_id = $4",
    )
    .bind(agency_id)
    .bind(month.to_string())
    .bind(revision)
    .bind(worker_id)
    .fetch_optional(pool)
    .await?;
    let adjustments = adjustments(pool, agency_id, month, Some(worker_id)).await?;
    Ok((figures.map(|f| decode_figures(&f)), adjustments))
}

pub async fn adjustments(
    pool: &PgPool,
    agency_id: &str,
    month: Month,
    worker_id: Option<&str>,
) -> Result<Vec<api::Adjustment>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT worker_id, revision, number, before, after, cause_stream, cause_sequence
         FROM scoring.adjustments WHERE agency_id = $1 AND month = $2 AND ($3::text IS NULL OR worker_id = $3)
         ORDER BY revision, worker_id, number",
    )
    .bind(agency_id)
    .bind(month.to_string())
    .bind(worker_id)
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(api::Adjustment {
                worker_id: r.try_get("worker_id")?,
                revision: r.try_get::<i32, _>("revision")? as u32,
                number: r.try_get::<i32, _>("number")? as u32,
                before: Some(decode_figures(&r.try_get::<Vec<u8>, _>("before")?)),
                after: Some(decode_figures(&r.try_get::<Vec<u8>, _>("after")?)),
                cause_stream: r.try_get("cause_stream")?,
                cause_sequence: r.try_get::<i64, _>("cause_sequence")? as u64,
            })
        })
        .collect()
}

/// One worker's figures in an agency's month.
#[derive(Debug, Clone)]
pub struct WorkerFigures {
    pub worker_id: String,
    pub unit_id: String,
    pub figures: ev::MonthFigures,
}

/// Every worker's figures of an agency's month: a closed month's current
/// revision with its latest adjustments; an open month's live rows plus
/// every worker employed in it without any facts yet (scored as an empty
/// month, which is what a ghost worker's looks like).
pub async fn agency_month(
    pool: &PgPool,
    agency_id: &str,
    month: Month,
    now: DateTime<Utc>,
) -> Result<(Vec<WorkerFigures>, Option<Closed>), sqlx::Error> {
    let closed = closed(pool, agency_id, month).await?;
    let mut out = Vec::new();
    if let Some(c) = closed {
        let rows = sqlx::query(
            "SELECT f.worker_id, f.unit_id, coalesce(a.after, f.figures) AS figures
             FROM scoring_own.finalized f
             LEFT JOIN LATERAL (
                 SELECT after FROM scoring.adjustments a
                 WHERE a.agency_id = f.agency_id AND a.month = f.month AND a.worker_id = f.worker_id
                   AND a.revision = f.revision
                 ORDER BY number DESC LIMIT 1) a ON true
             WHERE f.agency_id = $1 AND f.month = $2 AND f.revision = $3
             ORDER BY f.worker_id",
        )
        .bind(agency_id)
        .bind(month.to_string())
        .bind(c.revision)
        .fetch_all(pool)
        .await?;
        for r in rows {
            out.push(WorkerFigures {
                worker_id: r.try_get("worker_id")?,
                unit_id: r.try_get("unit_id")?,
                figures: decode_figures(&r.try_get::<Vec<u8>, _>("figures")?),
            });
        }
        return Ok((out, closed));
    }
    let rows = sqlx::query(
        "SELECT worker_id, unit_id, figures FROM scoring.worker_months
         WHERE agency_id = $1 AND month = $2 ORDER BY worker_id",
    )
    .bind(agency_id)
    .bind(month.to_string())
    .fetch_all(pool)
    .await?;
    for r in rows {
        out.push(WorkerFigures {
            worker_id: r.try_get("worker_id")?,
            unit_id: r.try_get("unit_id")?,
            figures: decode_figures(&r.try_get::<Vec<u8>, _>("figures")?),
        });
    }
    let missing: Vec<String> = sqlx::query_scalar(
        "SELECT w.worker_id FROM scoring_identity.workers w
         WHERE w.agency_id = $1
           AND (w.joined_on IS NULL OR w.joined_on <= $3)
           AND (w.left_on IS NULL OR w.left_on > $4)
           AND NOT EXISTS (SELECT 1 FROM scoring.worker_months wm WHERE wm.worker_id = w.worker_id AND wm.month = $2)",
    )
    .bind(agency_id)
    .bind(month.to_string())
    .bind(month.last_day())
    .bind(month.first_day())
    .fetch_all(pool)
    .await?;
    if !missing.is_empty() {
        let mut conn = pool.acquire().await?;
        let keys: BTreeMap<Key, Cause> = missing
            .iter()
            .map(|w| {
                (
                    (w.clone(), month),
                    Cause {
                        stream: "",
                        sequence: 0,
                    },
                )
            })
            .collect();
        let facts = load_facts(&mut conn, &keys).await?;
        let book = rule_book(&mut conn).await?;
        for (key, l) in facts {
            let through = month.last_day().min(local_date(now, l.tz));
            out.push(WorkerFigures {
                worker_id: key.0,
                unit_id: l.facts.unit_id.clone(),
                figures: evaluate(&book, month, &l.facts, through, u64::MAX),
            });
        }
        out.sort_by(|a, b| a.worker_id.cmp(&b.worker_id));
    }
    Ok((out, None))
}

/// Workers employed by the agency at some time in the month (by identity).
pub async fn employed(
    pool: &PgPool,
    agency_id: &str,
    month: Month,
) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT worker_id FROM scoring_identity.workers
         WHERE agency_id = $1 AND (joined_on IS NULL OR joined_on <= $2) AND (left_on IS NULL OR left_on > $3)
         UNION
         SELECT worker_id FROM scoring.worker_months WHERE agency_id = $1 AND month = $4
         ORDER BY 1",
    )
    .bind(agency_id)
    .bind(month.last_day())
    .bind(month.first_day())
    .bind(month.to_string())
    .fetch_all(pool)
    .await
}
