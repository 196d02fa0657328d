//! Publishing adjustments: the projections record each adjustment in
//! `scoring.adjustments` in the transaction that found it; this task
//! appends them as `ScoreAdjusted` events for payroll and analytics, each
//! under a message id naming the adjustment, and marks them published.
//! Replicas share the work (`FOR UPDATE SKIP LOCKED`); a crash between
//! append and mark re-sends within the duplicate window, which JetStream
//! drops.

use std::time::Duration;

use pantau_eventstore::{EventStore, Expected};
use pantau_platform::shutdown::Shutdown;
use pantau_proto::events::v1::{self as ev, scoring_event::Event};
use sqlx::{PgPool, Row};

use crate::core::{metadata, new_event, score_subject};
use crate::domain::Month;
use crate::readmodel::decode_figures;

/// How often the outbox looks for new adjustments.
const POLL: Duration = Duration::from_millis(250);
const BATCH: i64 = 500;

pub fn spawn(store: EventStore, pool: PgPool, shutdown: Shutdown) {
    tokio::spawn(async move {
        loop {
            match publish_some(&store, &pool).await {
                Ok(n) if n > 0 => continue,
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "adjustment outbox failed; retrying"),
            }
            tokio::select! {
                () = tokio::time::sleep(POLL) => {}
                () = shutdown.wait() => return,
            }
        }
    });
}

/// Publishes up to a batch of adjustments; returns how many.
pub async fn publish_some(store: &EventStore, pool: &PgPool) -> anyhow::Result<usize> {
    let mut tx = pool.begin().await?;
    let rows = sqlx::query(
        "SELECT agency_id, month, worker_id, revision, number, before, after, cause_stream, cause_sequence
         FROM scoring.adjustments WHERE NOT published ORDER BY created_at LIMIT $1
         FOR UPDATE SKIP LOCKED",
    )
    .bind(BATCH)
    .fetch_all(&mut *tx)
    .await?;
    let mut appends = Vec::with_capacity(rows.len());
    let mut keys = Vec::with_capacity(rows.len());
    for r in &rows {
        let e = ev::ScoreAdjusted {
            agency_id: r.try_get("agency_id")?,
            worker_id: r.try_get("worker_id")?,
            month: r.try_get("month")?,
            revision: r.try_get::<i32, _>("revision")? as u32,
            number: r.try_get::<i32, _>("number")? as u32,
            before: Some(decode_figures(&r.try_get::<Vec<u8>, _>("before")?)),
            after: Some(decode_figures(&r.try_get::<Vec<u8>, _>("after")?)),
            cause_stream: r.try_get("cause_stream")?,
            cause_sequence: r.try_get::<i64, _>("cause_sequence")? as u64,
        };
        let Ok(month) = Month::parse(&e.month, "month") else {
            continue;
        };
        let id = format!(
            "adjust:{}:{}:{}:r{}:{}",
            e.agency_id,
            month.token(),
            e.worker_id,
            e.revision,
            e.number
        );
        keys.push((
            e.agency_id.clone(),
            e.month.clone(),
            e.worker_id.clone(),
            e.revision as i32,
            e.number as i32,
        ));
        let subject = score_subject(&e.agency_id, month, &e.worker_id);
        appends.push(new_event(
            subject,
            &Event::ScoreAdjusted(e),
            Expected::Any,
            id.clone(),
            metadata(&id, "scoring"),
        ));
    }
    let n = appends.len();
    for r in futures::future::join_all(appends.into_iter().map(|a| store.append(a))).await {
        r?;
    }
    for (agency, month, worker, revision, number) in keys {
        sqlx::query(
            "UPDATE scoring.adjustments SET published = true
             WHERE agency_id = $1 AND month = $2 AND worker_id = $3 AND revision = $4 AND number = $5",
        )
        .bind(agency)
        .bind(month)
        .bind(worker)
        .bind(revision)
        .bind(number)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(n)
}
