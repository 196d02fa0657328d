//! The projection of scoring's own stream: rule sets (recomputing the open
//! months they apply to), closed months and their revisions, and finalized
//! scores. Readers see a month's revision only once its marker
//! (`MonthClosed`, `MonthRevised`) is applied, after all its scores.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use pantau_eventstore::RecordedEvent;
use pantau_projection::{Projection, ProjectionError};
use pantau_proto::events::v1::{self as ev, scoring_event::Event};
use prost::Message;
use sqlx::{PgConnection, Row};

use super::recompute::{Key, adjust_if_changed, recompute};
use super::{Cause, Clock, centi, decode_figures, encode_figures};
use crate::core::decode;
use crate::domain::Month;

pub struct OwnModel {
    /// "Today", for the absences a live month counts so far.
    pub clock: Clock,
}

pub const STREAM: &str = "PANTAU_SCORING";

impl Projection for OwnModel {
    fn name(&self) -> &'static str {
        "scoring_own"
    }

    fn subjects(&self) -> Vec<String> {
        vec!["pantau.scoring.>".into()]
    }

    fn ddl(&self) -> &'static str {
        r"
CREATE TABLE IF NOT EXISTS rule_sets (
    agency_id      text NOT NULL,
    version        integer NOT NULL,
    effective_from date NOT NULL,
    decree         text NOT NULL,
    seq            bigint NOT NULL,
    body           bytea NOT NULL,
    PRIMARY KEY (agency_id, version)
);
CREATE TABLE IF NOT EXISTS months (
    agency_id   text NOT NULL,
    month       text NOT NULL,
    revision    integer NOT NULL,
    workers     integer NOT NULL,
    rules_as_of bigint NOT NULL,
    changed_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (agency_id, month)
);
CREATE TABLE IF NOT EXISTS finalized (
    agency_id text NOT NULL,
    month     text NOT NULL,
    revision  integer NOT NULL,
    worker_id text NOT NULL,
    unit_id   text NOT NULL,
    points    bigint NOT NULL,
    score     bigint NOT NULL,
    category  integer NOT NULL,
    minutes   bigint NOT NULL,
    figures   bytea NOT NULL,
    PRIMARY KEY (agency_id, month, revision, worker_id)
);
"
    }

    async fn apply(
        &self,
        conn: &mut PgConnection,
        r: &RecordedEvent,
    ) -> Result<(), ProjectionError> {
        let e = decode(r).ok_or_else(|| {
            ProjectionError::Poison(format!("undecodable scoring event at seq {}", r.sequence))
        })?;
        let cause = Cause {
            stream: STREAM,
            sequence: r.sequence,
        };
        match e {
            Event::RuleSetPublished(p) => rule_set(conn, r, &p, cause, self.clock.now()).await?,
            Event::MonthlyScoreFinalized(f) => finalized(conn, &f).await?,
            Event::MonthClosed(c) => {
                let month = parse_month(&c.month)?;
                marker(
                    conn,
                    &c.agency_id,
                    month,
                    c.revision,
                    c.workers,
                    c.rules_as_of,
                    cause,
                    None,
                )
                .await?;
            }
            Event::MonthRevised(m) => {
                let month = parse_month(&m.month)?;
                let now = self.clock.now();
                marker(
                    conn,
                    &m.agency_id,
                    month,
                    m.revision,
                    m.workers,
                    m.rules_as_of,
                    cause,
                    Some(now),
                )
                .await?;
            }
            Event::ScoreAdjusted(_) => {}
        }
        Ok(())
    }
}

fn parse_month(s: &str) -> Result<Month, ProjectionError> {
    Month::parse(s, "month").map_err(|_| ProjectionError::Poison(format!("bad month {s:?}")))
}

async fn rule_set(
    conn: &mut PgConnection,
    r: &RecordedEvent,
    p: &ev::RuleSetPublished,
    cause: Cause,
    now: DateTime<Utc>,
) -> Result<(), ProjectionError> {
    let from: chrono::NaiveDate = p.effective_from.parse().map_err(|_| {
        ProjectionError::Poison(format!("bad effective_from {:?}", p.effective_from))
    })?;
    sqlx::query(
        "INSERT INTO rule_sets (agency_id, version, effective_from, decree, seq, body)
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
    )
    .bind(&p.agency_id)
    .bind(p.version as i32)
    .bind(from)
    .bind(&p.decree)
    .bind(r.sequence as i64)
    .bind(p.encode_to_vec())
    .execute(&mut *conn)
    .await?;
    // The open months it applies to take it at once; a closed month keeps
    // its rules until a rebuild is accepted.
    let rows = sqlx::query(
        "SELECT wm.worker_id, wm.month FROM scoring.worker_months wm
         WHERE ($1 = '' OR wm.agency_id = $1) AND wm.month >= $2
           AND NOT EXISTS (SELECT 1 FROM months m WHERE m.agency_id = wm.agency_id AND m.month = wm.month)",
    )
    .bind(&p.agency_id)
    .bind(Month::of(from).to_string())
    .fetch_all(&mut *conn)
    .await?;
    let mut keys: BTreeMap<Key, Cause> = BTreeMap::new();
    for row in rows {
        let (w, m): (String, String) = (row.try_get(0)?, row.try_get(1)?);
        if let Ok(m) = Month::parse(&m, "month") {
            keys.insert((w, m), cause);
        }
    }
    recompute(conn, &keys, now).await?;
    Ok(())
}

async fn finalized(
    conn: &mut PgConnection,
    f: &ev::MonthlyScoreFinalized,
) -> Result<(), ProjectionError> {
    let figures = f.figures.clone().unwrap_or_default();
    sqlx::query(
        "INSERT INTO finalized (agency_id, month, revision, worker_id, unit_id, points, score, category, minutes, figures)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
         ON CONFLICT (agency_id, month, revision, worker_id) DO UPDATE SET unit_id = excluded.unit_id,
             points = excluded.points, score = excluded.score, category = excluded.category,
             minutes = excluded.minutes, figures = excluded.figures",
    )
    .bind(&f.agency_id)
    .bind(&f.month)
    .bind(f.revision as i32)
    .bind(&f.worker_id)
    .bind(&f.unit_id)
    .bind(centi(figures.points))
    .bind(centi(figures.score))
    .bind(figures.category)
    .bind(i64::from(figures.minutes_reported))
    .bind(encode_figures(&figures))
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// A revision becomes the month's. Then every worker month is compared
/// with the live figures: whatever arrived while the revision was being
/// written becomes an adjustment.
#[allow(clippy::too_many_arguments)]
async fn marker(
    conn: &mut PgConnection,
    agency_id: &str,
    month: Month,
    revision: u32,
    workers: u32,
    rules_as_of: u64,
    cause: Cause,
    revised: Option<DateTime<Utc>>,
) -> Result<(), ProjectionError> {
    sqlx::query(
        "INSERT INTO months (agency_id, month, revision, workers, rules_as_of) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (agency_id, month) DO UPDATE SET revision = excluded.revision,
             workers = excluded.workers, rules_as_of = excluded.rules_as_of, changed_at = now()
         WHERE months.revision < excluded.revision",
    )
    .bind(agency_id)
    .bind(month.to_string())
    .bind(revision as i32)
    .bind(workers as i32)
    .bind(rules_as_of as i64)
    .execute(&mut *conn)
    .await?;
    let rows = sqlx::query(
        "SELECT worker_id FROM finalized WHERE agency_id = $1 AND month = $2 AND revision = $3",
    )
    .bind(agency_id)
    .bind(month.to_string())
    .bind(revision as i32)
    .fetch_all(&mut *conn)
    .await?;
    let keys: BTreeMap<Key, Cause> = rows
        .into_iter()
        .filter_map(|r| r.try_get::<String, _>(0).ok())
        .map(|w| ((w, month), cause))
        .collect();
    if let Some(now) = revised {
        // The live figures take the revision's rules; recompute compares
        // them with the new revision as it writes them.
        recompute(conn, &keys, now).await?;
        return Ok(());
    }
    for (worker, _) in keys.keys() {
        let live: Option<Vec<u8>> = sqlx::query_scalar(
            "SELECT figures FROM scoring.worker_months WHERE worker_id = $1 AND month = $2 FOR UPDATE",
        )
        .bind(worker)
        .bind(month.to_string())
        .fetch_optional(&mut *conn)
        .await?;
        if let Some(live) = live {
            let live = decode_figures(&live);
            adjust_if_changed(
                conn,
                agency_id,
                worker,
                month,
                revision as i32,
                &live,
                cause,
            )
            .await?;
        }
    }
    Ok(())
}
