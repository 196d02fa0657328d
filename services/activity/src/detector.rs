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
use sqlx::{PgPool, Row};

use crate::core::{decode_payload, encode, event_type, flag_subject};
use crate::readmodel::{overlap_minutes, same_site};

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
                Ok(flagged) => {
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

/// One flag to record.
struct Flag {
    report_id: String,
    worker_id: String,
    other_report_id: String,
    other_worker_id: String,
    agency_id: String,
    local_date: String,
    code: String,
    site_id: String,
    overlap_minutes: u32,
    details_seq: i64,
}

/// Checks the reports a batch of day events touched; returns how many
/// flags it recorded.
async fn check(
    store: &EventStore,
    pool: &PgPool,
    read: &ProjectionHandle,
    batch: &[async_nats::jetstream::Message],
) -> anyhow::Result<usize> {
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
        return Ok(0);
    }
    anyhow::ensure!(
        read.wait_for(last, Duration::from_secs(20)).await,
        "the read model has not reached {last} yet"
    );
    let ids: Vec<String> = reports.into_iter().collect();
    let rows = sqlx::query(
        r"SELECT me.report_id, me.worker_id, me.agency_id, me.local_date::text AS local_date,
            me.code, me.site_id, me.latitude, me.longitude, me.start_minute, me.end_minute,
            me.details_seq,
            r.report_id AS other_id, r.worker_id AS other_worker, r.site_id AS other_site,
            r.latitude AS other_lat, r.longitude AS other_lon,
            r.start_minute AS other_start, r.end_minute AS other_end
          FROM unnest($1::text[]) AS m(report_id)
          JOIN activity_read.reports me ON me.report_id = m.report_id AND me.status <> 3
          JOIN activity_read.reports r ON r.agency_id = me.agency_id
            AND r.local_date = me.local_date AND r.code = me.code
            AND r.worker_id <> me.worker_id AND r.status <> 3
            AND r.details_seq < me.details_seq
            AND r.start_minute < me.end_minute AND r.end_minute > me.start_minute
            -- the same site, or near enough to be (checked exactly below):
            -- 0.0005 degrees is about 55 m
            AND ((me.site_id <> '' AND r.site_id = me.site_id)
                OR (abs(r.latitude - me.latitude) < 0.0005
                    AND abs(r.longitude - me.longitude) < 0.0005))
          ORDER BY me.report_id, r.details_seq",
    )
    .bind(&ids)
    .fetch_all(pool)
    .await?;
    let minute = |row: &sqlx::postgres::PgRow, col: &str| -> Result<u32, sqlx::Error> {
        Ok(u32::try_from(row.try_get::<i32, _>(col)?).unwrap_or(0))
    };
    let position = |row: &sqlx::postgres::PgRow, lat: &str, lon: &str| match (
        row.try_get::<Option<f64>, _>(lat),
        row.try_get::<Option<f64>, _>(lon),
    ) {
        (Ok(Some(a)), Ok(Some(b))) => Some((a, b)),
        _ => None,
    };
    let mut flags = Vec::new();
    for row in &rows {
        let (site, other_site): (String, String) =
            (row.try_get("site_id")?, row.try_get("other_site")?);
        if !same_site(
            &site,
            position(row, "latitude", "longitude"),
            &other_site,
            position(row, "other_lat", "other_lon"),
        ) {
            continue;
        }
        let overlap = overlap_minutes(
            (minute(row, "start_minute")?, minute(row, "end_minute")?),
            (minute(row, "other_start")?, minute(row, "other_end")?),
        );
        if overlap == 0 {
            continue;
        }
        flags.push(Flag {
            report_id: row.try_get("report_id")?,
            worker_id: row.try_get("worker_id")?,
            other_report_id: row.try_get("other_id")?,
            other_worker_id: row.try_get("other_worker")?,
            agency_id: row.try_get("agency_id")?,
            local_date: row.try_get("local_date")?,
            code: row.try_get("code")?,
            site_id: if site.is_empty() { other_site } else { site },
            overlap_minutes: overlap,
            details_seq: row.try_get("details_seq")?,
        });
    }
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
    Ok(flags.len())
}
