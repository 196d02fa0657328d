//! `reporting_activity`: every report's code and state, and the counts by
//! agency, unit, month, code and state the public figures add up.

use pantau_eventstore::RecordedEvent;
use pantau_projection::{Projection, ProjectionError};
use pantau_proto::events::v1::{ActivityEvent, activity_event::Event as A};
use prost::Message;
use sqlx::PgConnection;

use super::{month_of, poison};

pub struct Activity;

pub const SCHEMA: &str = "reporting_activity";

/// A report's state.
pub const PENDING: i16 = 0;
pub const APPROVED: i16 = 1;
pub const REJECTED: i16 = 2;
pub const RETURNED: i16 = 3;

const DDL: &str = r"
CREATE TABLE IF NOT EXISTS reports (
    report_id text PRIMARY KEY,
    worker_id text NOT NULL,
    agency_id text NOT NULL,
    unit_id   text NOT NULL,
    month     text NOT NULL,
    code      text NOT NULL,
    state     smallint NOT NULL
);
CREATE INDEX IF NOT EXISTS reports_by_agency ON reports (agency_id, month);
CREATE TABLE IF NOT EXISTS counts (
    agency_id text NOT NULL,
    unit_id   text NOT NULL,
    month     text NOT NULL,
    code      text NOT NULL,
    state     smallint NOT NULL,
    n         bigint NOT NULL,
    PRIMARY KEY (agency_id, month, unit_id, code, state)
);
";

/// Moves one report from (code, state) to another in the counts.
async fn count(
    conn: &mut PgConnection,
    report_id: &str,
    new_code: Option<&str>,
    new_state: i16,
) -> Result<(), sqlx::Error> {
    let row: Option<(String, String, String, String, i16)> = sqlx::query_as(
        "SELECT agency_id, unit_id, month, code, state FROM reports WHERE report_id = $1",
    )
    .bind(report_id)
    .fetch_optional(&mut *conn)
    .await?;
    let Some((agency, unit, month, code, state)) = row else {
        return Ok(());
    };
    let new_code = new_code.unwrap_or(&code);
    sqlx::query("UPDATE reports SET code = $2, state = $3 WHERE report_id = $1")
        .bind(report_id)
        .bind(new_code)
        .bind(new_state)
        .execute(&mut *conn)
        .await?;
    sqlx::query(
        "UPDATE counts SET n = n - 1
         WHERE agency_id = $1 AND month = $2 AND unit_id = $3 AND code = $4 AND state = $5",
    )
    .bind(&agency)
    .bind(&month)
    .bind(&unit)
    .bind(&code)
    .bind(state)
    .execute(&mut *conn)
    .await?;
    add(conn, &agency, &unit, &month, new_code, new_state).await
}

async fn add(
    conn: &mut PgConnection,
    agency: &str,
    unit: &str,
    month: &str,
    code: &str,
    state: i16,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO counts (agency_id, unit_id, month, code, state, n) VALUES ($1, $2, $3, $4, $5, 1)
         ON CONFLICT (agency_id, month, unit_id, code, state) DO UPDATE SET n = counts.n + 1",
    )
    .bind(agency)
    .bind(unit)
    .bind(month)
    .bind(code)
    .bind(state)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

impl Projection for Activity {
    fn name(&self) -> &'static str {
        SCHEMA
    }

    fn subjects(&self) -> Vec<String> {
        vec!["pantau.activity.>".into()]
    }

    fn ddl(&self) -> &'static str {
        DDL
    }

    async fn apply(
        &self,
        conn: &mut PgConnection,
        r: &RecordedEvent,
    ) -> Result<(), ProjectionError> {
        let e = ActivityEvent::decode(r.payload.as_ref())
            .map_err(|_| poison(r))?
            .event
            .ok_or_else(|| poison(r))?;
        match e {
            A::ActivityReported(a) => {
                let Some(month) = month_of(&a.local_date) else {
                    return Err(poison(r));
                };
                let code = a.details.map(|d| d.code).unwrap_or_default();
                let new = sqlx::query(
                    "INSERT INTO reports (report_id, worker_id, agency_id, unit_id, month, code, state)
                     VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (report_id) DO NOTHING",
                )
                .bind(&a.report_id)
                .bind(&a.worker_id)
                .bind(&a.agency_id)
                .bind(&a.unit_id)
                .bind(&month)
                .bind(&code)
                .bind(PENDING)
                .execute(&mut *conn)
                .await?
                .rows_affected();
                if new == 1 {
                    add(conn, &a.agency_id, &a.unit_id, &month, &code, PENDING).await?;
                }
            }
            A::ActivityAmended(a) => {
                let code = a.details.map(|d| d.code);
                count(conn, &a.report_id, code.as_deref(), PENDING).await?;
            }
            A::ActivityApproved(a) => count(conn, &a.report_id, None, APPROVED).await?,
            A::ActivityRejected(a) => count(conn, &a.report_id, None, REJECTED).await?,
            A::ActivityReturned(a) => count(conn, &a.report_id, None, RETURNED).await?,
            _ => {}
        }
        Ok(())
    }
}
