//! The findings read model (schema `fraud_read`), projected from the
//! PANTAU_FRAUD stream: one row per finding with its resolution, and the
//! queries the gRPC adapter answers from it.

use pantau_eventstore::RecordedEvent;
use pantau_projection::{Projection, ProjectionError};
use pantau_proto::events::v1::{self as ev, fraud_event::Event};
use pantau_proto::fraud::v1 as api;
use prost::Message;
use sqlx::{PgConnection, PgPool, Row};

use crate::core::decode;

pub struct Findings;

impl Projection for Findings {
    fn name(&self) -> &'static str {
        "fraud_read"
    }

    fn subjects(&self) -> Vec<String> {
        vec!["pantau.fraud.>".into()]
    }

    fn ddl(&self) -> &'static str {
        r"
CREATE TABLE IF NOT EXISTS findings (
    finding_id text PRIMARY KEY,
    agency_id  text NOT NULL,
    subject_id text NOT NULL,
    kind       integer NOT NULL,
    risk       double precision NOT NULL,
    month      text NOT NULL,
    detectors  text[] NOT NULL,
    raised     bytea NOT NULL,
    resolution integer NOT NULL DEFAULT 0,
    resolved   bytea
);
CREATE INDEX IF NOT EXISTS findings_by_risk ON findings (agency_id, risk DESC, finding_id);
"
    }

    async fn apply(
        &self,
        conn: &mut PgConnection,
        r: &RecordedEvent,
    ) -> Result<(), ProjectionError> {
        let e = decode(r).ok_or_else(|| {
            ProjectionError::Poison(format!("undecodable fraud event at seq {}", r.sequence))
        })?;
        match e {
            Event::FindingRaised(f) => {
                let detectors: Vec<String> = f.signals.iter().map(|s| s.detector.clone()).collect();
                sqlx::query(
                    "INSERT INTO findings (finding_id, agency_id, subject_id, kind, risk, month, detectors, raised)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING",
                )
                .bind(&f.finding_id)
                .bind(&f.agency_id)
                .bind(&f.subject_id)
                .bind(f.kind)
                .bind(f.risk)
                .bind(&f.month)
                .bind(&detectors)
                .bind(f.encode_to_vec())
                .execute(conn)
                .await?;
            }
            Event::FindingResolved(r) => {
                sqlx::query(
                    "UPDATE findings SET resolution = $2, resolved = $3 WHERE finding_id = $1",
                )
                .bind(&r.finding_id)
                .bind(r.resolution)
                .bind(r.encode_to_vec())
                .execute(conn)
                .await?;
            }
        }
        Ok(())
    }
}

/// A page of findings, highest risk first.
pub async fn list(
    pool: &PgPool,
    req: &api::ListFindingsRequest,
    size: usize,
) -> Result<api::ListFindingsResponse, sqlx::Error> {
    // The page token is the offset (findings only grow, ordered stably).
    let offset: i64 = req.page_token.parse().unwrap_or(0);
    let rows = sqlx::query(
        "SELECT finding_id, agency_id, subject_id, kind, risk, month, detectors, resolution
         FROM fraud_read.findings
         WHERE ($1 = '' OR agency_id = $1) AND ($2 = '' OR month = $2) AND risk >= $3
           AND ($4 OR resolution = 0)
         ORDER BY risk DESC, finding_id LIMIT $5 OFFSET $6",
    )
    .bind(&req.agency_id)
    .bind(&req.month)
    .bind(req.min_risk)
    .bind(req.include_resolved)
    .bind(size as i64 + 1)
    .bind(offset)
    .fetch_all(pool)
    .await?;
    let mut findings = Vec::with_capacity(rows.len());
    for r in &rows {
        findings.push(api::FindingSummary {
            finding_id: r.try_get("finding_id")?,
            agency_id: r.try_get("agency_id")?,
            subject_id: r.try_get("subject_id")?,
            kind: r.try_get("kind")?,
            risk: r.try_get("risk")?,
            month: r.try_get("month")?,
            detectors: r.try_get("detectors")?,
            resolution: r.try_get("resolution")?,
        });
    }
    let next_page_token = if findings.len() > size {
        findings.truncate(size);
        (offset + size as i64).to_string()
    } else {
        String::new()
    };
    Ok(api::ListFindingsResponse {
        findings,
        next_page_token,
    })
}

/// A finding and its resolution, when there is one.
pub async fn get(
    pool: &PgPool,
    finding_id: &str,
) -> Result<Option<(ev::FindingRaised, Option<ev::FindingResolved>)>, sqlx::Error> {
    let row = sqlx::query("SELECT raised, resolved FROM fraud_read.findings WHERE finding_id = $1")
        .bind(finding_id)
        .fetch_optional(pool)
        .await?;
    let Some(r) = row else {
        return Ok(None);
    };
    let raised: Vec<u8> = r.try_get("raised")?;
    let resolved: Option<Vec<u8>> = r.try_get("resolved")?;
    Ok(Some((
        ev::FindingRaised::decode(raised.as_slice()).unwrap_or_default(),
        resolved.and_then(|b| ev::FindingResolved::decode(b.as_slice()).ok()),
    )))
}
