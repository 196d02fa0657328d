//! Rebuilding a closed month (streaming progress), reading the difference,
//! accepting it as the month's next revision or discarding it.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use pantau_eventstore::Expected;
use pantau_platform::ServiceError;
use pantau_proto::events::v1::{self as ev, scoring_event::Event};
use pantau_proto::scoring::v1 as api;
use sqlx::Row;
use tokio_stream::wrappers::ReceiverStream;

use super::{RebuildStream, Scoring, internal, parse_month, request_id};
use crate::close::append_scores;
use crate::core::{metadata, month_subject, new_event};
use crate::domain::{DomainError, Month, Principal, timestamp};
use crate::readmodel::recompute::rule_book;
use crate::readmodel::{decode_figures, queries};
use crate::rebuild::{History, Summary, evaluate_all, replay, write_shadow};

/// How often a rebuild reports progress.
const PROGRESS_EVERY: Duration = Duration::from_millis(200);

pub const RUNNING: &str = "running";
pub const READY: &str = "ready";
pub const ACCEPTED: &str = "accepted";
pub const DISCARDED: &str = "discarded";
pub const FAILED: &str = "failed";

fn done(rebuild_id: &str, read: u64, total: u64, summary: Summary) -> api::RebuildMonthResponse {
    api::RebuildMonthResponse {
        rebuild_id: rebuild_id.to_owned(),
        events_read: read,
        events_total: total,
        done: true,
        summary: Some(summary.api()),
    }
}

fn summary_of(r: &sqlx::postgres::PgRow) -> Result<Summary, sqlx::Error> {
    Ok(Summary {
        workers: r.try_get::<i32, _>("workers")? as u32,
        changed: r.try_get::<i32, _>("changed")? as u32,
        category_changed: r.try_get::<i32, _>("category_changed")? as u32,
        points_before: r.try_get("points_before")?,
        points_after: r.try_get("points_after")?,
    })
}

pub async fn start(
    s: &Arc<Scoring>,
    p: &Principal,
    req: api::RebuildMonthRequest,
) -> Result<RebuildStream, ServiceError> {
    let request_id = request_id(&req.request_id)?;
    let agency = s.agency(&req.agency_id).await?;
    let month = parse_month(&req.month)?;
    p.must_manage(&agency.id)?;
    s.settle().await?;
    match launch(s, &agency.id, month, &request_id).await? {
        (_, Some(rx)) => Ok(Box::pin(ReceiverStream::new(rx))),
        (id, None) => Err(ServiceError::Aborted(format!(
            "rebuild {id} is still running; follow it with GetRebuildDiff"
        ))),
    }
}

type Progress = tokio::sync::mpsc::Receiver<Result<api::RebuildMonthResponse, tonic::Status>>;

/// Starts rebuilding a closed month (or, for a request id seen before,
/// answers with that rebuild); returns its id and its progress (none when
/// the earlier rebuild is still running).
pub async fn launch(
    s: &Arc<Scoring>,
    agency_id: &str,
    month: Month,
    request_id: &str,
) -> Result<(String, Option<Progress>), ServiceError> {
    let (tx, rx) = tokio::sync::mpsc::channel(16);
    // A retried request follows the rebuild it started.
    let existing = sqlx::query(
        "SELECT * FROM scoring.rebuilds WHERE request_id = $1 AND agency_id = $2 AND month = $3",
    )
    .bind(request_id)
    .bind(agency_id)
    .bind(month.to_string())
    .fetch_optional(&s.pool)
    .await?;
    if let Some(r) = existing {
        let status: String = r.try_get("status")?;
        let id: String = r.try_get("rebuild_id")?;
        if status == RUNNING {
            return Ok((id, None));
        }
        let (read, total) = (
            r.try_get::<i64, _>("events_read")? as u64,
            r.try_get::<i64, _>("events_total")? as u64,
        );
        let _ = tx.send(Ok(done(&id, read, total, summary_of(&r)?))).await;
        return Ok((id, Some(rx)));
    }
    let closed = queries::closed(&s.pool, agency_id, month).await?.ok_or_else(|| {
        DomainError::precondition(format!(
            "{month} is not closed: its live figures already follow every rule set; rebuild closed months only"
        ))
    })?;
    let rules_as_of = s.store.last_sequence().await.map_err(internal)?;
    let rebuild_id = uuid::Uuid::new_v4().to_string();
    sqlx::query(
        "INSERT INTO scoring.rebuilds (rebuild_id, request_id, agency_id, month, base_revision, rules_as_of, status)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(&rebuild_id)
    .bind(request_id)
    .bind(agency_id)
    .bind(month.to_string())
    .bind(closed.revision)
    .bind(rules_as_of as i64)
    .bind(RUNNING)
    .execute(&s.pool)
    .await?;
    let (s, id, agency_id) = (s.clone(), rebuild_id.clone(), agency_id.to_owned());
    tokio::spawn(async move {
        match run(&s, &id, &agency_id, month, rules_as_of, &tx).await {
            Ok(msg) => {
                let _ = tx.send(Ok(msg)).await;
            }
            Err(e) => {
                tracing::error!(rebuild_id = %id, error = %e, "rebuild failed");
                let _ =
                    sqlx::query("UPDATE scoring.rebuilds SET status = $2 WHERE rebuild_id = $1")
                        .bind(&id)
                        .bind(FAILED)
                        .execute(&s.pool)
                        .await;
                let _ = tx
                    .send(Err(tonic::Status::internal(format!("rebuild failed: {e}"))))
                    .await;
            }
        }
    });
    Ok((rebuild_id, Some(rx)))
}

/// Rebuilds every closed month a new rule set applies to (of its agency,
/// or of every agency), each under a request id naming the rule set, so a
/// retried publish starts none twice.
pub async fn for_rule_set(
    s: &Arc<Scoring>,
    published: &ev::RuleSetPublished,
) -> Result<Vec<api::StartedRebuild>, ServiceError> {
    let Ok(from) = crate::domain::parse_date(&published.effective_from, "effective_from") else {
        return Ok(Vec::new());
    };
    let rows = sqlx::query(
        "SELECT agency_id, month FROM scoring_own.months
         WHERE ($1 = '' OR agency_id = $1) AND month >= $2 ORDER BY agency_id, month",
    )
    .bind(&published.agency_id)
    .bind(Month::of(from).to_string())
    .fetch_all(&s.pool)
    .await?;
    let scope = if published.agency_id.is_empty() {
        crate::domain::rules::ALL
    } else {
        published.agency_id.as_str()
    };
    let request_id = format!("rule-set:{scope}:v{}", published.version);
    let mut out = Vec::new();
    for r in rows {
        let (agency_id, month): (String, String) = (r.try_get(0)?, r.try_get(1)?);
        let Ok(m) = Month::parse(&month, "month") else {
            continue;
        };
        let (rebuild_id, _) = launch(s, &agency_id, m, &request_id).await?;
        out.push(api::StartedRebuild {
            agency_id,
            month,
            rebuild_id,
        });
    }
    Ok(out)
}

async fn run(
    s: &Scoring,
    rebuild_id: &str,
    agency_id: &str,
    month: Month,
    rules_as_of: u64,
    tx: &tokio::sync::mpsc::Sender<Result<api::RebuildMonthResponse, tonic::Status>>,
) -> anyhow::Result<api::RebuildMonthResponse> {
    let history = History {
        identity: (
            &s.streams.identity,
            s.streams.identity.last_sequence().await?,
        ),
        attendance: (
            &s.streams.attendance,
            s.streams.attendance.last_sequence().await?,
        ),
        activity: (
            &s.streams.activity,
            s.streams.activity.last_sequence().await?,
        ),
    };
    let total = history.identity.1 + history.attendance.1 + history.activity.1;
    let started = std::time::Instant::now();
    let ledger = replay(history, month, Some(agency_id), PROGRESS_EVERY, |p| {
        // A slow client does not slow the rebuild: progress it cannot take
        // yet is skipped.
        let _ = tx.try_send(Ok(api::RebuildMonthResponse {
            rebuild_id: rebuild_id.to_owned(),
            events_read: p.read,
            events_total: p.total,
            done: false,
            summary: None,
        }));
    })
    .await?;
    let replayed = started.elapsed();
    let mut conn = s.pool.acquire().await?;
    let book = rule_book(&mut conn).await?;
    drop(conn);
    let after = evaluate_all(&ledger, &book, agency_id, month, rules_as_of);
    let (before_rows, _) = queries::agency_month(&s.pool, agency_id, month, s.now()).await?;
    let before: HashMap<String, ev::MonthFigures> = before_rows
        .into_iter()
        .map(|r| (r.worker_id, r.figures))
        .collect();
    let summary = write_shadow(&s.pool, rebuild_id, &after, &before).await?;
    sqlx::query(
        "UPDATE scoring.rebuilds SET status = $2, events_read = $3, events_total = $3, workers = $4,
             changed = $5, category_changed = $6, points_before = $7, points_after = $8
         WHERE rebuild_id = $1",
    )
    .bind(rebuild_id)
    .bind(READY)
    .bind(total as i64)
    .bind(summary.workers as i32)
    .bind(summary.changed as i32)
    .bind(summary.category_changed as i32)
    .bind(summary.points_before)
    .bind(summary.points_after)
    .execute(&s.pool)
    .await?;
    tracing::info!(
        rebuild_id,
        agency_id,
        %month,
        events = total,
        replay_ms = replayed.as_millis() as u64,
        changed = summary.changed,
        "rebuild ready"
    );
    Ok(done(rebuild_id, total, total, summary))
}

/// A rebuild's row, after checking the caller manages its agency.
async fn rebuild_row(
    s: &Scoring,
    p: &Principal,
    rebuild_id: &str,
) -> Result<sqlx::postgres::PgRow, ServiceError> {
    if rebuild_id.is_empty() {
        return Err(DomainError::invalid("rebuild_id", "is required").into());
    }
    let row = sqlx::query("SELECT * FROM scoring.rebuilds WHERE rebuild_id = $1")
        .bind(rebuild_id)
        .fetch_optional(&s.pool)
        .await?
        .ok_or_else(|| super::not_found("rebuild", rebuild_id))?;
    p.must_manage(&row.try_get::<String, _>("agency_id")?)?;
    Ok(row)
}

/// Most workers one page of the difference lists.
const MAX_PAGE: u32 = 1000;

pub async fn diff(
    s: &Scoring,
    p: &Principal,
    req: api::GetRebuildDiffRequest,
) -> Result<api::GetRebuildDiffResponse, ServiceError> {
    let row = rebuild_row(s, p, &req.rebuild_id).await?;
    let size = match req.page_size {
        0 => 100,
        n if n > MAX_PAGE => {
            return Err(DomainError::invalid("page_size", format!("at most {MAX_PAGE}")).into());
        }
        n => n,
    };
    let rows = sqlx::query(
        "SELECT worker_id, before, after FROM scoring.rebuild_rows
         WHERE rebuild_id = $1 AND changed AND worker_id > $2 ORDER BY worker_id LIMIT $3",
    )
    .bind(&req.rebuild_id)
    .bind(&req.page_token)
    .bind(i64::from(size) + 1)
    .fetch_all(&s.pool)
    .await?;
    let mut workers = Vec::new();
    for r in &rows {
        workers.push(api::WorkerDiff {
            worker_id: r.try_get("worker_id")?,
            before: r
                .try_get::<Option<Vec<u8>>, _>("before")?
                .map(|b| decode_figures(&b)),
            after: Some(decode_figures(&r.try_get::<Vec<u8>, _>("after")?)),
        });
    }
    let next_page_token = if workers.len() > size as usize {
        workers.truncate(size as usize);
        workers
            .last()
            .map(|w| w.worker_id.clone())
            .unwrap_or_default()
    } else {
        String::new()
    };
    Ok(api::GetRebuildDiffResponse {
        summary: Some(summary_of(&row)?.api()),
        workers,
        next_page_token,
        status: row.try_get("status")?,
    })
}

pub async fn accept(
    s: &Scoring,
    p: &Principal,
    req: api::AcceptRebuildRequest,
) -> Result<api::AcceptRebuildResponse, ServiceError> {
    let request_id = request_id(&req.request_id)?;
    let row = rebuild_row(s, p, &req.rebuild_id).await?;
    let status: String = row.try_get("status")?;
    let changed = row.try_get::<i32, _>("changed")? as u32;
    match status.as_str() {
        ACCEPTED => {
            return Ok(api::AcceptRebuildResponse {
                revision: row
                    .try_get::<Option<i32>, _>("accepted_revision")?
                    .unwrap_or(0) as u32,
                changed,
            });
        }
        READY => {}
        other => {
            return Err(
                DomainError::precondition(format!("the rebuild is {other}, not ready")).into(),
            );
        }
    }
    let agency_id: String = row.try_get("agency_id")?;
    let month = parse_month(&row.try_get::<String, _>("month")?)?;
    let base: i32 = row.try_get("base_revision")?;
    let rules_as_of = row.try_get::<i64, _>("rules_as_of")? as u64;
    s.settle().await?;
    let current = queries::closed(&s.pool, &agency_id, month).await?;
    if current.map(|c| c.revision) != Some(base) {
        return Err(DomainError::precondition(format!(
            "{month} changed since the rebuild began (revision {base}); rebuild it again"
        ))
        .into());
    }
    let subject = month_subject(&agency_id, month);
    let last = s
        .store
        .load(&subject)
        .await
        .map_err(internal)?
        .last()
        .map_or(0, |e| e.sequence);
    let revision = base as u32 + 1;
    let rows = sqlx::query(
        "SELECT worker_id, unit_id, after FROM scoring.rebuild_rows WHERE rebuild_id = $1 ORDER BY worker_id",
    )
    .bind(&req.rebuild_id)
    .fetch_all(&s.pool)
    .await?;
    let scores = rows
        .iter()
        .map(|r| {
            Ok(ev::MonthlyScoreFinalized {
                agency_id: agency_id.clone(),
                unit_id: r.try_get("unit_id")?,
                worker_id: r.try_get("worker_id")?,
                month: month.to_string(),
                revision,
                figures: Some(decode_figures(&r.try_get::<Vec<u8>, _>("after")?)),
            })
        })
        .collect::<Result<Vec<_>, sqlx::Error>>()?;
    let workers = scores.len() as u32;
    let meta = metadata(&request_id, &p.subject);
    let prefix = format!("score:{agency_id}:{}:r{revision}", month.token());
    append_scores(s, &agency_id, month, &prefix, &meta, scores).await?;
    let marker = Event::MonthRevised(ev::MonthRevised {
        agency_id: agency_id.clone(),
        month: month.to_string(),
        revision,
        workers,
        changed,
        rules_as_of,
        rebuild_id: req.rebuild_id.clone(),
        accepted_by: p.subject.clone(),
        at: Some(timestamp(s.now())),
    });
    let appended = s
        .store
        .append(new_event(
            subject,
            &marker,
            Expected::Sequence(last),
            format!("{prefix}:revised:{}", req.rebuild_id),
            meta,
        ))
        .await;
    let seq = match appended {
        Ok(a) => a.sequence,
        Err(pantau_eventstore::AppendError::Conflict { .. }) => {
            return Err(DomainError::precondition(format!(
                "{month} changed while the rebuild was being accepted; rebuild it again"
            ))
            .into());
        }
        Err(e) => return Err(ServiceError::Unavailable(e.to_string())),
    };
    sqlx::query(
        "UPDATE scoring.rebuilds SET status = $2, accepted_revision = $3 WHERE rebuild_id = $1",
    )
    .bind(&req.rebuild_id)
    .bind(ACCEPTED)
    .bind(revision as i32)
    .execute(&s.pool)
    .await?;
    s.settle_own(seq).await;
    Ok(api::AcceptRebuildResponse { revision, changed })
}

pub async fn discard(
    s: &Scoring,
    p: &Principal,
    req: api::DiscardRebuildRequest,
) -> Result<api::DiscardRebuildResponse, ServiceError> {
    let row = rebuild_row(s, p, &req.rebuild_id).await?;
    let status: String = row.try_get("status")?;
    if status == ACCEPTED {
        return Err(DomainError::precondition("the rebuild was accepted already").into());
    }
    sqlx::query("UPDATE scoring.rebuilds SET status = $2 WHERE rebuild_id = $1")
        .bind(&req.rebuild_id)
        .bind(DISCARDED)
        .execute(&s.pool)
        .await?;
    sqlx::query("DELETE FROM scoring.rebuild_rows WHERE rebuild_id = $1")
        .bind(&req.rebuild_id)
        .execute(&s.pool)
        .await?;
    Ok(api::DiscardRebuildResponse {})
}
