//! Closing an agency's month: every worker employed in it (and anyone with
//! facts in it) is recomputed with the month's last day counted, then one
//! `MonthlyScoreFinalized` per worker is appended, then the `MonthClosed`
//! marker, expected to be the month subject's first event. Closing twice is
//! refused; retrying the same request answers with the first outcome.

use std::collections::BTreeMap;

use futures::{StreamExt, TryStreamExt};
use pantau_eventstore::Expected;
use pantau_platform::ServiceError;
use pantau_proto::events::v1::{self as ev, scoring_event::Event};
use pantau_proto::scoring::v1 as api;
use sqlx::Row;

use crate::core::{decode, metadata, month_subject, new_event, score_subject};
use crate::domain::facts::month_has_ended;
use crate::domain::{DomainError, Month, Principal, timestamp};
use crate::grpc::{Scoring, internal, parse_month, request_id};
use crate::readmodel::recompute::{Key, recompute};
use crate::readmodel::{Cause, decode_figures, queries};

/// Worker months recomputed per transaction while closing.
const CHUNK: usize = 1000;
/// Finalized scores appended at once (the group commit batches them).
const IN_FLIGHT: usize = 512;

/// The message id prefix of a month's revision.
fn prefix(agency_id: &str, month: Month, revision: u32) -> String {
    format!("score:{agency_id}:{}:r{revision}", month.token())
}

pub async fn close_month(
    s: &Scoring,
    p: &Principal,
    req: api::CloseMonthRequest,
) -> Result<api::CloseMonthResponse, ServiceError> {
    let request_id = request_id(&req.request_id)?;
    let agency = s.agency(&req.agency_id).await?;
    let month = parse_month(&req.month)?;
    p.must_manage(&agency.id)?;
    if !month_has_ended(month, s.now(), agency.tz) {
        return Err(DomainError::precondition(format!(
            "{month} has not ended yet in {}",
            agency.tz
        ))
        .into());
    }
    let subject = month_subject(&agency.id, month);
    let marker_id = format!("{}:closed:{request_id}", prefix(&agency.id, month, 1));
    if let Some(done) = already_closed(s, &subject, &marker_id).await? {
        return done;
    }
    // One close of a month at a time, across replicas.
    let mut lock = s.pool.acquire().await?;
    let key = pantau_platform::db::advisory_key(&[&subject]);
    let got: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
        .bind(key)
        .fetch_one(&mut *lock)
        .await?;
    if !got {
        return Err(ServiceError::Aborted(format!(
            "{month} of agency {} is being closed by another request; try again",
            agency.id
        )));
    }
    let result = close_locked(s, p, &agency.id, month, &subject, &request_id, &marker_id).await;
    let _ = sqlx::query("SELECT pg_advisory_unlock($1)")
        .bind(key)
        .execute(&mut *lock)
        .await;
    result
}

/// The outcome of an earlier close: this request's (a retry), or a refusal.
async fn already_closed(
    s: &Scoring,
    subject: &str,
    marker_id: &str,
) -> Result<Option<Result<api::CloseMonthResponse, ServiceError>>, ServiceError> {
    let events = s.store.load(subject).await.map_err(internal)?;
    let Some(first) = events.first() else {
        return Ok(None);
    };
    if let Some(Event::MonthClosed(c)) = decode(first) {
        if first.msg_id.as_deref() == Some(marker_id) {
            s.settle_own(first.sequence).await;
            return Ok(Some(Ok(api::CloseMonthResponse {
                revision: c.revision,
                workers: c.workers,
            })));
        }
        return Ok(Some(Err(DomainError::precondition(format!(
            "{} is already closed",
            c.month
        ))
        .into())));
    }
    Ok(None)
}

#[allow(clippy::too_many_arguments)]
async fn close_locked(
    s: &Scoring,
    p: &Principal,
    agency_id: &str,
    month: Month,
    subject: &str,
    request_id: &str,
    marker_id: &str,
) -> Result<api::CloseMonthResponse, ServiceError> {
    if let Some(done) = already_closed(s, subject, marker_id).await? {
        return done;
    }
    s.settle().await?;
    let rules_as_of = s.store.last_sequence().await.map_err(internal)?;
    let workers = queries::employed(&s.pool, agency_id, month).await?;
    let now = s.now();
    for chunk in workers.chunks(CHUNK) {
        let keys: BTreeMap<Key, Cause> = chunk
            .iter()
            .map(|w| {
                (
                    (w.clone(), month),
                    Cause {
                        stream: "",
                        sequence: 0,
                    },
                )
            })
            .collect();
        let mut tx = s.pool.begin().await?;
        recompute(&mut tx, &keys, now).await?;
        tx.commit().await?;
    }
    let rows = sqlx::query(
        "SELECT worker_id, unit_id, figures FROM scoring.worker_months
         WHERE month = $1 AND worker_id = ANY($2) AND agency_id = $3 ORDER BY worker_id",
    )
    .bind(month.to_string())
    .bind(&workers)
    .bind(agency_id)
    .fetch_all(&s.pool)
    .await?;
    let prefix = prefix(agency_id, month, 1);
    let meta = metadata(request_id, &p.subject);
    let finalized: Vec<ev::MonthlyScoreFinalized> = rows
        .iter()
        .map(|r| {
            Ok(ev::MonthlyScoreFinalized {
                agency_id: agency_id.to_owned(),
                unit_id: r.try_get("unit_id")?,
                worker_id: r.try_get("worker_id")?,
                month: month.to_string(),
                revision: 1,
                figures: Some(decode_figures(&r.try_get::<Vec<u8>, _>("figures")?)),
            })
        })
        .collect::<Result<_, sqlx::Error>>()?;
    let count = finalized.len() as u32;
    append_scores(s, agency_id, month, &prefix, &meta, finalized).await?;
    let marker = Event::MonthClosed(ev::MonthClosed {
        agency_id: agency_id.to_owned(),
        month: month.to_string(),
        revision: 1,
        workers: count,
        rules_as_of,
        closed_by: p.subject.clone(),
        at: Some(timestamp(now)),
    });
    let appended = s
        .store
        .append(new_event(
            subject.to_owned(),
            &marker,
            Expected::NoEvents,
            marker_id.to_owned(),
            meta,
        ))
        .await;
    match appended {
        Ok(a) => s.settle_own(a.sequence).await,
        Err(pantau_eventstore::AppendError::Conflict { .. }) => {
            return Err(DomainError::precondition(format!("{month} is already closed")).into());
        }
        Err(e) => return Err(ServiceError::Unavailable(e.to_string())),
    }
    tracing::info!(agency_id, %month, workers = count, "month closed");
    Ok(api::CloseMonthResponse {
        revision: 1,
        workers: count,
    })
}

/// Appends a revision's scores, many at a time; each message id names the
/// revision and worker, so a retried close stores each once.
pub async fn append_scores(
    s: &Scoring,
    agency_id: &str,
    month: Month,
    prefix: &str,
    meta: &pantau_eventstore::Metadata,
    scores: Vec<ev::MonthlyScoreFinalized>,
) -> Result<(), ServiceError> {
    futures::stream::iter(scores)
        .map(|f| {
            let event = new_event(
                score_subject(agency_id, month, &f.worker_id),
                &Event::MonthlyScoreFinalized(f.clone()),
                Expected::Any,
                format!("{prefix}:{}", f.worker_id),
                meta.clone(),
            );
            async move { s.store.append(event).await }
        })
        .buffer_unordered(IN_FLIGHT)
        .map_err(|e| ServiceError::Unavailable(e.to_string()))
        .try_for_each(|_| async { Ok(()) })
        .await
}
