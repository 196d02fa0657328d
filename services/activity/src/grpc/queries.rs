//! Reads from the read model. Each waits until the read model shows
//! everything written before the query (read your writes), then answers
//! from PostgreSQL.

use chrono::NaiveDate;
use pantau_platform::ServiceError;
use pantau_proto::activity::v1 as api;

use super::{Activity, not_found, worker_or_self};
use crate::domain::access::may_read;
use crate::domain::time::{Month, parse_date};
use crate::domain::{DomainError, Principal, Role};
use crate::readmodel::queries;

/// Longest range an agency's volume covers.
pub const MAX_VOLUME_DAYS: i64 = 366;
pub const DEFAULT_QUEUE: u32 = 100;
pub const MAX_QUEUE: u32 = 1_000;

pub async fn worker_day(
    a: &Activity,
    p: &Principal,
    req: api::GetWorkerDayRequest,
) -> Result<api::GetWorkerDayResponse, ServiceError> {
    let worker_id = worker_or_self(p, &req.worker_id)?;
    let date = parse_date(&req.date, "date")?;
    let (worker, _) = a.worker(worker_id)?;
    may_read(p, &worker)?;
    a.settle_read_to_now().await;
    Ok(api::GetWorkerDayResponse {
        reports: queries::worker_day(&a.pool, &worker.id, date).await?,
    })
}

pub async fn worker_month(
    a: &Activity,
    p: &Principal,
    req: api::GetWorkerMonthRequest,
) -> Result<api::GetWorkerMonthResponse, ServiceError> {
    let worker_id = worker_or_self(p, &req.worker_id)?;
    let month = Month::parse(&req.month, "month")?;
    let (worker, _) = a.worker(worker_id)?;
    may_read(p, &worker)?;
    a.settle_read_to_now().await;
    let (days, reports, rating) =
        queries::worker_month(&a.pool, &worker.id, month.first_day(), month.last_day()).await?;
    Ok(api::GetWorkerMonthResponse {
        days,
        reports,
        rating,
    })
}

pub async fn review_queue(
    a: &Activity,
    p: &Principal,
    req: api::GetReviewQueueRequest,
) -> Result<api::GetReviewQueueResponse, ServiceError> {
    let limit = match req.limit {
        0 => DEFAULT_QUEUE,
        n if n > MAX_QUEUE => {
            return Err(DomainError::invalid("limit", format!("at most {MAX_QUEUE}")).into());
        }
        n => n,
    };
    let now = a.now();
    let (items, total) = if p.has(Role::Supervisor)
        && let Some(me) = p.worker_id.as_deref()
        && req.agency_id.is_empty()
    {
        a.settle_read_to_now().await;
        queries::review_queue(
            &a.pool,
            queries::Queue::Supervisor(me),
            i64::from(limit),
            now,
        )
        .await?
    } else {
        let agency = if req.agency_id.is_empty() {
            p.agency_id.clone().unwrap_or_default()
        } else {
            req.agency_id.clone()
        };
        if agency.is_empty() {
            return Err(DomainError::invalid("agency_id", "is required").into());
        }
        p.must_manage(&agency)?;
        if !a.dir().agencies.contains_key(&agency) {
            return Err(not_found("agency", &agency));
        }
        a.settle_read_to_now().await;
        queries::review_queue(
            &a.pool,
            queries::Queue::Agency(&agency),
            i64::from(limit),
            now,
        )
        .await?
    };
    Ok(api::GetReviewQueueResponse { items, total })
}

pub async fn agency_volume(
    a: &Activity,
    p: &Principal,
    req: api::GetAgencyVolumeRequest,
) -> Result<api::GetAgencyVolumeResponse, ServiceError> {
    let from: NaiveDate = parse_date(&req.from, "from")?;
    let to: NaiveDate = parse_date(&req.to, "to")?;
    if to < from {
        return Err(DomainError::invalid("to", "must not be before from").into());
    }
    if (to - from).num_days() > MAX_VOLUME_DAYS {
        return Err(DomainError::invalid(
            "to",
            format!("at most {MAX_VOLUME_DAYS} days after from"),
        )
        .into());
    }
    p.may_read_agency(&req.agency_id)?;
    if !a.dir().agencies.contains_key(&req.agency_id) {
        return Err(not_found("agency", &req.agency_id));
    }
    a.settle_read_to_now().await;
    Ok(api::GetAgencyVolumeResponse {
        rows: queries::agency_volume(&a.pool, &req.agency_id, from, to).await?,
    })
}
