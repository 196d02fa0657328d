//! Rebuilding a closed month from the event history: the identity,
//! attendance and activity streams are replayed (up to where they stood
//! when the rebuild began) into an in-memory [`Ledger`] of that month's
//! facts, every worker of the agency is evaluated with the rule sets known
//! now, and the results go to shadow rows (`scoring.rebuild_rows`) beside
//! the difference against what payroll last heard. Nothing readers see
//! changes until an admin accepts.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use async_nats::jetstream::consumer::{DeliverPolicy, pull::OrderedConfig};
use futures::StreamExt;
use pantau_eventstore::EventStore;
use pantau_proto::events::v1 as ev;
use sqlx::PgPool;

use crate::domain::Month;
use crate::domain::eval::evaluate;
use crate::domain::facts::{Change, Ledger};
use crate::domain::rules::RuleBook;
use crate::readmodel::queries::WorkerFigures;
use crate::readmodel::{centi, encode_figures};
use crate::sources::Source;

/// How far a replay has got.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Progress {
    pub read: u64,
    pub total: u64,
}

/// What changes if the rebuild is accepted.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Summary {
    pub workers: u32,
    pub changed: u32,
    pub category_changed: u32,
    pub points_before: i64,
    pub points_after: i64,
}

impl Summary {
    pub fn api(&self) -> pantau_proto::scoring::v1::RebuildDiffSummary {
        pantau_proto::scoring::v1::RebuildDiffSummary {
            workers: self.workers,
            changed: self.changed,
            category_changed: self.category_changed,
            points_before: self.points_before as f64 / 100.0,
            points_after: self.points_after as f64 / 100.0,
        }
    }
}

/// Which streams to replay, and how far (their last sequences when the
/// rebuild began).
pub struct History<'a> {
    pub identity: (&'a EventStore, u64),
    pub attendance: (&'a EventStore, u64),
    pub activity: (&'a EventStore, u64),
}

/// Replays the history into the month's facts (of `agency`'s workers only,
/// when given), reporting progress about every `every`.
pub async fn replay(
    history: History<'_>,
    month: Month,
    agency: Option<&str>,
    every: Duration,
    mut progress: impl FnMut(Progress),
) -> anyhow::Result<Ledger> {
    let mut ledger = Ledger::for_month(month);
    let total = history.identity.1 + history.attendance.1 + history.activity.1;
    let mut p = Progress { read: 0, total };
    let mut last_report = Instant::now();
    // Identity first: whoever the facts belong to is known before them.
    let sources = [
        (Source::Identity, history.identity),
        (Source::Attendance, history.attendance),
        (Source::Activity, history.activity),
    ];
    let token = month.token();
    // The agency's workers, known once identity is replayed: other
    // workers' facts are not kept.
    let mut keep: Option<HashSet<String>> = None;
    for (source, (store, until)) in sources {
        if let (Source::Attendance, Some(a)) = (source, agency) {
            keep = Some(ledger.workers_of(a).into_iter().collect());
        }
        let before = p.read;
        if until == 0 {
            continue;
        }
        let stream = store
            .jetstream()
            .get_stream(store.stream_name())
            .await
            .map_err(|e| anyhow::anyhow!("stream {}: {e}", store.stream_name()))?;
        let consumer = stream
            // Unfiltered: the subjects are picked below (see Source::reads).
            .create_consumer(OrderedConfig {
                deliver_policy: DeliverPolicy::All,
                ..Default::default()
            })
            .await
            .map_err(|e| anyhow::anyhow!("replaying {}: {e}", store.stream_name()))?;
        let mut messages = consumer
            .messages()
            .await
            .map_err(|e| anyhow::anyhow!("replaying {}: {e}", store.stream_name()))?;
        while let Some(msg) = messages.next().await {
            let msg = msg.map_err(|e| anyhow::anyhow!("replaying {}: {e}", store.stream_name()))?;
            let seq = msg.info().map(|i| i.stream_sequence).unwrap_or(0);
            if seq > until {
                break;
            }
            let facts = if source.reads(&msg.subject) {
                changes(source, &msg.subject, &msg.payload, &token)
            } else {
                Vec::new()
            };
            for c in facts {
                if keep
                    .as_ref()
                    .is_none_or(|k| worker_of(&c).is_none_or(|w| k.contains(w)))
                {
                    ledger.apply(&c);
                }
            }
            p.read = before + seq;
            if last_report.elapsed() >= every {
                progress(p);
                last_report = Instant::now();
            }
            if seq >= until {
                break;
            }
        }
        p.read = before + until;
    }
    progress(p);
    Ok(ledger)
}

/// The worker a dated fact belongs to (None for everything else).
fn worker_of(c: &Change) -> Option<&str> {
    match c {
        Change::Report { worker_id, .. }
        | Change::CheckIn { worker_id, .. }
        | Change::CeremonyScan { worker_id, .. }
        | Change::LeaveRequested { worker_id, .. } => Some(worker_id),
        _ => None,
    }
}

/// A message's changes; an activity day of another month is skipped by its
/// subject (`pantau.activity.day.<worker>.<YYYYMMDD>`) without decoding.
fn changes(source: Source, subject: &str, payload: &[u8], month_token: &str) -> Vec<Change> {
    if source == Source::Activity {
        let day = subject.rsplit('.').next().unwrap_or("");
        if !day.starts_with(month_token) {
            return Vec::new();
        }
    }
    source.changes(payload).unwrap_or_default()
}

/// Every worker of the agency employed in the month, evaluated from the
/// ledger with the rule book as of `rules_as_of`.
pub fn evaluate_all(
    ledger: &Ledger,
    book: &RuleBook,
    agency_id: &str,
    month: Month,
    rules_as_of: u64,
) -> Vec<WorkerFigures> {
    ledger
        .workers_of(agency_id)
        .into_iter()
        .filter_map(|w| ledger.month_facts(&w, month))
        .filter(|f| {
            f.joined_on.is_none_or(|j| j <= month.last_day())
                && f.left_on.is_none_or(|l| l > month.first_day())
        })
        .map(|f| WorkerFigures {
            figures: evaluate(book, month, &f, month.last_day(), rules_as_of),
            worker_id: f.worker_id,
            unit_id: f.unit_id,
        })
        .collect()
}

/// Writes the shadow rows and returns the difference against `before`
/// (what payroll last heard, by worker).
pub async fn write_shadow(
    pool: &PgPool,
    rebuild_id: &str,
    after: &[WorkerFigures],
    before: &HashMap<String, ev::MonthFigures>,
) -> Result<Summary, sqlx::Error> {
    let mut summary = Summary::default();
    for chunk in after.chunks(5_000) {
        let mut workers = Vec::with_capacity(chunk.len());
        let mut units = Vec::with_capacity(chunk.len());
        let mut befores: Vec<Option<Vec<u8>>> = Vec::with_capacity(chunk.len());
        let mut afters = Vec::with_capacity(chunk.len());
        let mut changed = Vec::with_capacity(chunk.len());
        for r in chunk {
            let old = before.get(&r.worker_id);
            let differs = old != Some(&r.figures);
            summary.workers += 1;
            summary.points_after += centi(r.figures.points);
            summary.points_before += old.map_or(0, |o| centi(o.points));
            if differs {
                summary.changed += 1;
                if old.map(|o| o.category) != Some(r.figures.category) {
                    summary.category_changed += 1;
                }
            }
            workers.push(r.worker_id.clone());
            units.push(r.unit_id.clone());
            befores.push(old.map(encode_figures));
            afters.push(encode_figures(&r.figures));
            changed.push(differs);
        }
        sqlx::query(
            "INSERT INTO scoring.rebuild_rows (rebuild_id, worker_id, unit_id, before, after, changed)
             SELECT $1, * FROM unnest($2::text[], $3::text[], $4::bytea[], $5::bytea[], $6::bool[])
             ON CONFLICT (rebuild_id, worker_id) DO UPDATE SET unit_id = excluded.unit_id,
                 before = excluded.before, after = excluded.after, changed = excluded.changed",
        )
        .bind(rebuild_id)
        .bind(&workers)
        .bind(&units)
        .bind(&befores)
        .bind(&afters)
        .bind(&changed)
        .execute(pool)
        .await?;
    }
    // Workers payroll heard of who are no longer in the month (a
    // registration corrected away) would lose their score: count them.
    let after_ids: std::collections::HashSet<&str> =
        after.iter().map(|r| r.worker_id.as_str()).collect();
    for (w, old) in before {
        if !after_ids.contains(w.as_str()) {
            summary.changed += 1;
            summary.points_before += centi(old.points);
        }
    }
    Ok(summary)
}
