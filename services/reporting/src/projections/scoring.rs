//! `reporting_scoring`: the scores of every revision of every closed month,
//! and which revision each month has published. A revision's scores
//! precede its marker (MonthClosed, MonthRevised), so reading through the
//! marker never shows half a revision.

use pantau_eventstore::RecordedEvent;
use pantau_projection::{Projection, ProjectionError};
use pantau_proto::events::v1::{Category, MonthFigures, ScoringEvent, scoring_event::Event as S};
use prost::Message;
use sqlx::PgConnection;

use super::poison;

pub struct Scoring;

pub const SCHEMA: &str = "reporting_scoring";

const DDL: &str = r"
CREATE TABLE IF NOT EXISTS months (
    agency_id text NOT NULL,
    month     text NOT NULL,
    revision  integer NOT NULL,
    PRIMARY KEY (agency_id, month)
);
CREATE TABLE IF NOT EXISTS scores (
    agency_id text NOT NULL,
    month     text NOT NULL,
    revision  integer NOT NULL,
    worker_id text NOT NULL,
    unit_id   text NOT NULL,
    points    double precision NOT NULL,
    score     double precision NOT NULL,
    category  text NOT NULL,
    PRIMARY KEY (agency_id, month, revision, worker_id)
);
";

/// The category's name in the public API (and CSV).
pub fn category(c: i32) -> &'static str {
    match Category::try_from(c) {
        Ok(Category::SangatBaik) => "sangat_baik",
        Ok(Category::Baik) => "baik",
        Ok(Category::Cukup) => "cukup",
        Ok(Category::Kurang) => "kurang",
        Ok(Category::KurangSekali) => "kurang_sekali",
        _ => "",
    }
}

async fn publish(
    conn: &mut PgConnection,
    agency: &str,
    month: &str,
    revision: u32,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO months (agency_id, month, revision) VALUES ($1, $2, $3)
         ON CONFLICT (agency_id, month) DO UPDATE SET revision = GREATEST(months.revision, $3)",
    )
    .bind(agency)
    .bind(month)
    .bind(i32::try_from(revision).unwrap_or(i32::MAX))
    .execute(&mut *conn)
    .await?;
    Ok(())
}

impl Projection for Scoring {
    fn name(&self) -> &'static str {
        SCHEMA
    }

    fn subjects(&self) -> Vec<String> {
        vec!["pantau.scoring.>".into()]
    }

    fn ddl(&self) -> &'static str {
        DDL
    }

    async fn apply(
        &self,
        conn: &mut PgConnection,
        r: &RecordedEvent,
    ) -> Result<(), ProjectionError> {
        let e = ScoringEvent::decode(r.payload.as_ref())
            .map_err(|_| poison(r))?
            .event
            .ok_or_else(|| poison(r))?;
        let figures = |f: Option<MonthFigures>| {
            let f = f.unwrap_or_default();
            (f.points, f.score, category(f.category))
        };
        match e {
            S::MonthlyScoreFinalized(s) => {
                let (points, score, cat) = figures(s.figures);
                sqlx::query(
                    "INSERT INTO scores (agency_id, month, revision, worker_id, unit_id, points, score, category)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
                     ON CONFLICT (agency_id, month, revision, worker_id)
                     DO UPDATE SET unit_id = $5, points = $6, score = $7, category = $8",
                )
                .bind(&s.agency_id)
                .bind(&s.month)
                .bind(i32::try_from(s.revision).unwrap_or(i32::MAX))
                .bind(&s.worker_id)
                .bind(&s.unit_id)
                .bind(points)
                .bind(score)
                .bind(cat)
                .execute(&mut *conn)
                .await?;
            }
            S::ScoreAdjusted(a) => {
                let (points, score, cat) = figures(a.after);
                sqlx::query(
                    "UPDATE scores SET points = $5, score = $6, category = $7
                     WHERE agency_id = $1 AND month = $2 AND revision = $3 AND worker_id = $4",
                )
                .bind(&a.agency_id)
                .bind(&a.month)
                .bind(i32::try_from(a.revision).unwrap_or(i32::MAX))
                .bind(&a.worker_id)
                .bind(points)
                .bind(score)
                .bind(cat)
                .execute(&mut *conn)
                .await?;
            }
            S::MonthClosed(m) => publish(conn, &m.agency_id, &m.month, m.revision).await?,
            S::MonthRevised(m) => publish(conn, &m.agency_id, &m.month, m.revision).await?,
            S::RuleSetPublished(_) => {}
        }
        Ok(())
    }
}
