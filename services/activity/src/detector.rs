//! The duplicate-work detector (e-PHL's "tidak overlap" across workers):
//! two workers who report the same task at the same site in overlapping time
//! cannot both have done it. Each report, once the read model has it, is
//! compared with the reports of that agency, day and task filed (or last
//! amended) before it; every match is recorded as a `DuplicateWorkFlagged`
//! event on the later report. Flags inform the supervisor and the fraud
//! service; they refuse nothing.
//!
//! A durable consumer shared by every replica feeds it, so the work is split
//! between replicas and nothing is missed across restarts; flags carry a
//! message id derived from the pair, so a redelivered batch stores nothing
//! twice.

use std::collections::BTreeSet;
use std::time::Duration;

use async_nats::jetstream::consumer::{AckPolicy, pull};
use futures::StreamExt;
use futures::future::join_all;
use pantau_eventstore::{EventStore, Expected, NewEvent};
use pantau_platform::shutdown::Shutdown;
use pantau_projection::ProjectionHandle;
use pantau_proto::events::v1::{self as ev, activity_event::Event};
use sqlx::PgPool;

use crate::core::{decode_payload, encode, event_type, flag_subject};
use crate::readmodel::queries;

const CONSUMER: &str = "activity-duplicate-detector";
const BATCH: usize = 500;

/// Starts the detector on this replica.
pub async fn spawn(
    store: EventStore,
    pool: PgPool,
    read: ProjectionHandle,
    shutdown: Shutdown,
) -> anyhow::Result<()> {
    let stream = store
        .jetstream()
        .get_stream(store.stream_name())
        .await
        .map_err(|e| anyhow::anyhow!("failed to open the activity stream: {e}"))?;
    let consumer = stream
        .get_or_create_consumer(
            CONSUMER,
            pull::Config {
                durable_name: Some(CONSUMER.into()),
                filter_subject: "pantau.activity.day.>".into(),
                ack_policy: AckPolicy::Explicit,
                ack_wait: Duration::from_secs(30),
                max_ack_pending: 20_000,
                ..Default::default()
            },
        )
        .await
        .map_err(|e| anyhow::anyhow!("failed to create the detector's consumer: {e}"))?;
    let mut messages = consumer
        .stream()
        .max_messages_per_batch(BATCH)
        .heartbeat(Duration::from_secs(5))
        .expires(Duration::from_secs(30))
        .messages()
        .await
        .map_err(|e| anyhow::anyhow!("failed to consume for the detector: {e}"))?;
    let mut statistics = Statistics::load(&pool).await;
    tokio::spawn(async move {
        loop {
            let first = tokio::select! {
                m = messages.next() => m,
                () = shutdown.wait() => return,
            };
            let first = match first {
                Some(Ok(m)) => m,
                Some(Err(e)) => {
                    tracing::warn!(error = %e, "duplicate detector: consumer hiccup");
                    continue;
                }
                None => return,
            };
            let mut batch = vec![first];
            while batch.len() < BATCH {
                match futures::FutureExt::now_or_never(messages.next()) {
                    Some(Some(Ok(m))) => batch.push(m),
                    _ => break,
                }
            }
            match check(&store, &pool, &read, &batch).await {
                Ok((checked, flagged)) => {
                    statistics.grew(&pool, checked).await;
                    if flagged > 0 {
                        tracing::info!(flagged, "duplicate work flagged");
                    }
                    for m in &batch {
                        if let Err(e) = m.ack().await {
                            tracing::warn!(error = %e, "duplicate detector: ack failed");
                        }
                    }
                }
                // Unacknowledged, the batch comes back after the ack wait.
                Err(e) => tracing::warn!(error = %e, "duplicate detector: batch failed"),
            }
        }
    });
    Ok(())
}

/// Checks the reports a batch of day events touched; returns how many it
/// checked and how many flags it recorded.
async fn check(
    store: &EventStore,
    pool: &PgPool,
    read: &ProjectionHandle,
    batch: &[async_nats::jetstream::Message],
) -> anyhow::Result<(usize, usize)> {
    let mut reports = BTreeSet::new();
    let mut last = 0;
    for m in batch {
        let seq = m.info().map(|i| i.stream_sequence).unwrap_or(0);
        last = last.max(seq);
        match decode_payload(&m.payload) {
            Some(Event::ActivityReported(r)) => {
                reports.insert(r.report_id);
            }
            Some(Event::ActivityAmended(a)) => {
                reports.insert(a.report_id);
            }
            _ => {}
        }
    }
    if reports.is_empty() {
        return Ok((0, 0));
    }
    anyhow::ensure!(
        read.wait_for(last, Duration::from_secs(20)).await,
        "the read model has not reached {last} yet"
    );
    let ids: Vec<String> = reports.into_iter().collect();
    let flags = queries::duplicates_of(pool, &ids).await?;
    let appended = join_all(flags.iter().map(|f| {
        let event = Event::DuplicateWorkFlagged(ev::DuplicateWorkFlagged {
            report_id: f.report_id.clone(),
            worker_id: f.worker_id.clone(),
            other_report_id: f.other_report_id.clone(),
            other_worker_id: f.other_worker_id.clone(),
            agency_id: f.agency_id.clone(),
            local_date: f.local_date.clone(),
            code: f.code.clone(),
            site_id: f.site_id.clone(),
            overlap_minutes: f.overlap_minutes,
        });
        store.append(NewEvent {
            subject: flag_subject(&f.report_id),
            event_type: event_type(&event).to_owned(),
            schema_version: 1,
            payload: encode(&event),
            expected: Expected::Any,
            msg_id: Some(format!(
                "duplicate:{}:{}:{}",
                f.report_id, f.other_report_id, f.details_seq
            )),
            metadata: Default::default(),
        })
    }))
    .await;
    for r in &appended {
        if let Err(e) = r {
            anyhow::bail!("failed to record a duplicate-work flag: {e}");
        }
    }
    Ok((ids.len(), flags.len()))
}

/// Keeps the planner's picture of the reports table current. The
/// detector's lookups are only fast through `reports_by_site` and
/// `reports_by_cell`, and a supervisor's queue through
/// `reports_pending_by_supervisor`; statistics taken while the table was
/// small (a new deployment, a new province) make the agency's indexes look
/// as good, and the plans cached on every connection then scan the whole
/// agency. Autovacuum refreshes statistics only after a minute or more, so
/// the detector analyzes the table itself each time the reports it has
/// checked outnumber the rows last analyzed; that also makes the cached
/// plans be made again.
struct Statistics {
    rows_analyzed: f64,
    checked_since: usize,
}

/// Below this many reports a scan is cheap whatever the plan.
const ANALYZE_AFTER: f64 = 1_000.0;

impl Statistics {
    async fn load(pool: &PgPool) -> Statistics {
        Statistics {
            rows_analyzed: Self::rows(pool).await,
            checked_since: 0,
        }
    }

    /// The row count the planner believes (0 before the first analyze).
    async fn rows(pool: &PgPool) -> f64 {
        sqlx::query_scalar::<_, f32>(
            "SELECT reltuples FROM pg_class WHERE oid = 'activity_read.reports'::regclass",
        )
        .fetch_one(pool)
        .await
        .map_or(0.0, |r| f64::from(r.max(0.0)))
    }

    async fn grew(&mut self, pool: &PgPool, checked: usize) {
        self.checked_since += checked;
        if (self.checked_since as f64) < self.rows_analyzed.max(ANALYZE_AFTER) {
            return;
        }
        match sqlx::query("ANALYZE activity_read.reports")
            .execute(pool)
            .await
        {
            Ok(_) => {
                self.rows_analyzed = Self::rows(pool).await;
                self.checked_since = 0;
                tracing::debug!(
                    rows = self.rows_analyzed,
                    "duplicate detector: reports analyzed"
                );
            }
            Err(e) => tracing::warn!(error = %e, "duplicate detector: analyze failed"),
        }
    }
}
