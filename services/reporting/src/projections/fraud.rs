//! `reporting_fraud`: findings raised, and how investigators resolved them.

use pantau_eventstore::RecordedEvent;
use pantau_projection::{Projection, ProjectionError};
use pantau_proto::events::v1::{FraudEvent, fraud_event::Event as F};
use prost::Message;
use sqlx::PgConnection;

use super::poison;

pub struct Fraud;

pub const SCHEMA: &str = "reporting_fraud";

const DDL: &str = r"
CREATE TABLE IF NOT EXISTS findings (
    finding_id text PRIMARY KEY,
    agency_id  text NOT NULL,
    month      text NOT NULL,
    subject_id text NOT NULL,
    kind       integer NOT NULL,
    risk       double precision NOT NULL,
    -- pantau.events.v1.Resolution; 0: open.
    resolution integer NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS findings_by_agency ON findings (agency_id, month);
";

impl Projection for Fraud {
    fn name(&self) -> &'static str {
        SCHEMA
    }

    fn subjects(&self) -> Vec<String> {
        vec!["pantau.fraud.>".into()]
    }

    fn ddl(&self) -> &'static str {
        DDL
    }

    async fn apply(
        &self,
        conn: &mut PgConnection,
        r: &RecordedEvent,
    ) -> Result<(), ProjectionError> {
        let e = FraudEvent::decode(r.payload.as_ref())
            .map_err(|_| poison(r))?
            .event
            .ok_or_else(|| poison(r))?;
        match e {
            F::FindingRaised(f) => {
                sqlx::query(
                    "INSERT INTO findings (finding_id, agency_id, month, subject_id, kind, risk)
                     VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (finding_id) DO NOTHING",
                )
                .bind(&f.finding_id)
                .bind(&f.agency_id)
                .bind(&f.month)
                .bind(&f.subject_id)
                .bind(f.kind)
                .bind(f.risk)
                .execute(&mut *conn)
                .await?;
            }
            F::FindingResolved(f) => {
                sqlx::query("UPDATE findings SET resolution = $2 WHERE finding_id = $1")
                    .bind(&f.finding_id)
                    .bind(f.resolution)
                    .execute(&mut *conn)
                    .await?;
            }
        }
        Ok(())
    }
}
