//! The scoring read model. Four projections, one per stream, each with its
//! own schema and checkpoint, keep the facts a month is scored from:
//! `scoring_identity` (agencies, workers), `scoring_attendance` (schedules,
//! check-in days, ceremony sessions and scans, leave), `scoring_activity`
//! (reports with their approval) and `scoring_own` (rule sets, closed months,
//! finalized scores). Whenever a batch changes the facts of some worker
//! months, the same transaction recomputes those months' figures into
//! `scoring.worker_months` ([`recompute`]), so the totals are exactly once
//! per event like the facts. The `scoring` schema also holds adjustments
//! (an outbox of `ScoreAdjusted` events) and rebuilds.

pub mod facts;
pub mod own;
pub mod queries;
pub mod recompute;

use pantau_proto::events::v1 as ev;
use prost::Message;
use sqlx::PgPool;

/// The schema the service itself manages (not a projection's).
pub const SCHEMA: &str = "scoring";

const DDL: &str = r"
CREATE SCHEMA IF NOT EXISTS scoring;
CREATE TABLE IF NOT EXISTS scoring.worker_months (
    worker_id  text NOT NULL,
    month      text NOT NULL,
    agency_id  text NOT NULL,
    unit_id    text NOT NULL,
    pns        boolean NOT NULL,
    points     bigint NOT NULL,
    score      bigint NOT NULL,
    category   integer NOT NULL,
    minutes    bigint NOT NULL,
    figures    bytea NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (worker_id, month)
);
CREATE INDEX IF NOT EXISTS worker_months_by_agency
    ON scoring.worker_months (agency_id, month, unit_id);
CREATE TABLE IF NOT EXISTS scoring.adjustments (
    agency_id      text NOT NULL,
    month          text NOT NULL,
    worker_id      text NOT NULL,
    revision       integer NOT NULL,
    number         integer NOT NULL,
    before         bytea NOT NULL,
    after          bytea NOT NULL,
    cause_stream   text NOT NULL,
    cause_sequence bigint NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    published      boolean NOT NULL DEFAULT false,
    PRIMARY KEY (agency_id, month, worker_id, revision, number)
);
CREATE INDEX IF NOT EXISTS adjustments_unpublished
    ON scoring.adjustments (created_at) WHERE NOT published;
CREATE TABLE IF NOT EXISTS scoring.rebuilds (
    rebuild_id       text PRIMARY KEY,
    request_id       text NOT NULL,
    agency_id        text NOT NULL,
    month            text NOT NULL,
    base_revision    integer NOT NULL,
    rules_as_of      bigint NOT NULL,
    status           text NOT NULL,
    events_read      bigint NOT NULL DEFAULT 0,
    events_total     bigint NOT NULL DEFAULT 0,
    workers          integer NOT NULL DEFAULT 0,
    changed          integer NOT NULL DEFAULT 0,
    category_changed integer NOT NULL DEFAULT 0,
    points_before    bigint NOT NULL DEFAULT 0,
    points_after     bigint NOT NULL DEFAULT 0,
    accepted_revision integer,
    created_at       timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX IF NOT EXISTS rebuilds_by_request ON scoring.rebuilds (request_id, agency_id, month);
CREATE TABLE IF NOT EXISTS scoring.rebuild_rows (
    rebuild_id text NOT NULL,
    worker_id  text NOT NULL,
    unit_id    text NOT NULL,
    before     bytea,
    after      bytea NOT NULL,
    changed    boolean NOT NULL,
    PRIMARY KEY (rebuild_id, worker_id)
);
";

/// Creates the service's own schema, and every projection's before any of
/// them starts: each one's recomputation reads the others' tables.
pub async fn prepare(pool: &PgPool) -> Result<(), sqlx::Error> {
    use pantau_projection::Projection;
    let clock = Clock::default();
    let own = own::OwnModel {
        clock: clock.clone(),
    };
    let mut projections = vec![(own.name(), own.ddl())];
    for source in crate::sources::Source::ALL {
        let f = facts::Facts::new(source, clock.clone());
        projections.push((f.name(), f.ddl()));
    }
    let mut tx = pool.begin().await?;
    // Concurrent replicas starting at once: one creates, the others wait.
    sqlx::query("SELECT pg_advisory_xact_lock(7004001)")
        .execute(&mut *tx)
        .await?;
    for (schema, ddl) in projections {
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "CREATE SCHEMA IF NOT EXISTS {schema}; SET LOCAL search_path TO {schema}, public; {ddl}"
        )))
        .execute(&mut *tx)
        .await?;
    }
    sqlx::raw_sql("SET LOCAL search_path TO public")
        .execute(&mut *tx)
        .await?;
    sqlx::raw_sql(DDL).execute(&mut *tx).await?;
    tx.commit().await
}

/// Amounts are stored in hundredths, as the evaluation counts them.
pub use crate::domain::rules::centi;

pub fn encode_figures(f: &ev::MonthFigures) -> Vec<u8> {
    f.encode_to_vec()
}

pub fn decode_figures(bytes: &[u8]) -> ev::MonthFigures {
    ev::MonthFigures::decode(bytes).unwrap_or_default()
}

/// The service's clock, shared by the projections and the handlers.
pub type Clock = std::sync::Arc<pantau_platform::clock::SettableClock>;

/// The stream a projection reads, as adjustments name their cause.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cause {
    pub stream: &'static str,
    pub sequence: u64,
}
