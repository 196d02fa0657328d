//! Reading months (a worker's, an agency's, the workload disparity) and
//! closing them.

use std::collections::BTreeMap;

use pantau_platform::ServiceError;
use pantau_proto::events::v1 as ev;
use pantau_proto::scoring::v1 as api;

use super::{Scoring, parse_month};
use crate::domain::{DomainError, Principal};
use crate::readmodel::queries::{self, WorkerFigures};

/// A worker reads their own month; their supervisor and the agency's
/// readers (admins, auditors) theirs.
fn may_read_worker(p: &Principal, worker: &crate::directory::Worker) -> Result<(), DomainError> {
    if p.is_worker(&worker.id)
        || p.is_supervisor(&worker.supervisor_id)
        || p.may_read_agency(&worker.agency_id).is_ok()
    {
        Ok(())
    } else {
        Err(DomainError::PermissionDenied(format!(
            "only worker {}, their supervisor and their agency's admins and auditors may see this",
            worker.id
        )))
    }
}

pub async fn worker_month(
    s: &Scoring,
    p: &Principal,
    req: api::GetWorkerMonthRequest,
) -> Result<api::GetWorkerMonthResponse, ServiceError> {
    let worker_id = if req.worker_id.is_empty() {
        p.worker_id.clone().ok_or_else(|| {
            DomainError::invalid("worker_id", "is required (the caller has no worker record)")
        })?
    } else {
        req.worker_id.clone()
    };
    let month = parse_month(&req.month)?;
    let worker = s.worker(&worker_id).await?;
    may_read_worker(p, &worker)?;
    s.settle().await?;
    let closed = queries::closed(&s.pool, &worker.agency_id, month).await?;
    let as_of = closed.map_or(u64::MAX, |c| c.rules_as_of);
    let live = queries::live(&s.pool, &worker_id, month, as_of, s.now()).await?;
    let (agency_id, unit_id) = live.as_ref().map_or(
        (worker.agency_id.clone(), worker.unit_id.clone()),
        |(_, a, u)| (a.clone(), u.clone()),
    );
    let mut out = api::GetWorkerMonthResponse {
        worker_id: worker_id.clone(),
        agency_id: agency_id.clone(),
        unit_id,
        month: month.to_string(),
        live: live.map(|(f, _, _)| f),
        ..Default::default()
    };
    if let Some(c) = closed {
        let (finalized, adjustments) =
            queries::finalized(&s.pool, &agency_id, &worker_id, month, c.revision).await?;
        out.closed = true;
        out.revision = c.revision as u32;
        out.finalized = finalized;
        out.adjustments = adjustments;
    }
    Ok(out)
}

/// The agency's month as readers see it, after the projections caught up.
async fn rows(
    s: &Scoring,
    p: &Principal,
    agency_id: &str,
    month: &str,
) -> Result<
    (
        Vec<WorkerFigures>,
        Option<crate::readmodel::recompute::Closed>,
    ),
    ServiceError,
> {
    s.agency(agency_id).await?;
    let month = parse_month(month)?;
    p.may_read_agency(agency_id)?;
    s.settle().await?;
    Ok(queries::agency_month(&s.pool, agency_id, month, s.now()).await?)
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

fn mean(xs: impl Iterator<Item = f64>) -> f64 {
    let (sum, n) = xs.fold((0.0, 0usize), |(s, n), x| (s + x, n + 1));
    if n == 0 { 0.0 } else { round2(sum / n as f64) }
}

pub async fn agency_month(
    s: &Scoring,
    p: &Principal,
    req: api::GetAgencyMonthRequest,
) -> Result<api::GetAgencyMonthResponse, ServiceError> {
    let (rows, closed) = rows(s, p, &req.agency_id, &req.month).await?;
    let mut categories: BTreeMap<i32, u32> = BTreeMap::new();
    for c in 1..=5 {
        categories.insert(c, 0);
    }
    let mut units: BTreeMap<&str, Vec<&ev::MonthFigures>> = BTreeMap::new();
    for r in &rows {
        *categories.entry(r.figures.category).or_default() += 1;
        units
            .entry(r.unit_id.as_str())
            .or_default()
            .push(&r.figures);
    }
    Ok(api::GetAgencyMonthResponse {
        agency_id: req.agency_id.clone(),
        month: req.month.clone(),
        workers: rows.len() as u32,
        average_points: mean(rows.iter().map(|r| r.figures.points)),
        average_score: mean(rows.iter().map(|r| r.figures.score)),
        categories: categories
            .into_iter()
            .map(|(category, workers)| api::CategoryCount { category, workers })
            .collect(),
        units: units
            .into_iter()
            .map(|(unit, fs)| api::UnitMonth {
                unit_id: unit.to_owned(),
                workers: fs.len() as u32,
                points_per_worker: mean(fs.iter().map(|f| f.points)),
                average_score: mean(fs.iter().map(|f| f.score)),
            })
            .collect(),
        closed: closed.is_some(),
        revision: closed.map_or(0, |c| c.revision as u32),
        finalized: closed.is_some(),
    })
}

/// Most rows one page of ListWorkerMonths returns.
const MAX_PAGE: usize = 1000;

pub async fn list(
    s: &Scoring,
    p: &Principal,
    req: api::ListWorkerMonthsRequest,
) -> Result<api::ListWorkerMonthsResponse, ServiceError> {
    let size = match req.page_size {
        0 => 100,
        n if n as usize > MAX_PAGE => {
            return Err(DomainError::invalid("page_size", format!("at most {MAX_PAGE}")).into());
        }
        n => n as usize,
    };
    let (rows, _) = rows(s, p, &req.agency_id, &req.month).await?;
    let after = req.page_token.as_str();
    let mut page: Vec<api::WorkerMonth> = rows
        .into_iter()
        .filter(|r| req.unit_id.is_empty() || r.unit_id == req.unit_id)
        .filter(|r| after.is_empty() || r.worker_id.as_str() > after)
        .take(size + 1)
        .map(|r| api::WorkerMonth {
            worker_id: r.worker_id,
            unit_id: r.unit_id,
            figures: Some(r.figures),
        })
        .collect();
    let next_page_token = if page.len() > size {
        page.truncate(size);
        page.last().map(|w| w.worker_id.clone()).unwrap_or_default()
    } else {
        String::new()
    };
    Ok(api::ListWorkerMonthsResponse {
        workers: page,
        next_page_token,
    })
}

pub async fn disparity(
    s: &Scoring,
    p: &Principal,
    req: api::GetWorkloadDisparityRequest,
) -> Result<api::GetWorkloadDisparityResponse, ServiceError> {
    let (rows, _) = rows(s, p, &req.agency_id, &req.month).await?;
    let mut units: BTreeMap<&str, Vec<&ev::MonthFigures>> = BTreeMap::new();
    for r in &rows {
        units
            .entry(r.unit_id.as_str())
            .or_default()
            .push(&r.figures);
    }
    let units: Vec<api::UnitWorkload> = units
        .into_iter()
        .map(|(unit, fs)| api::UnitWorkload {
            unit_id: unit.to_owned(),
            workers: fs.len() as u32,
            points_per_worker: mean(fs.iter().map(|f| f.points)),
            hours_per_worker: mean(fs.iter().map(|f| f64::from(f.minutes_reported) / 60.0)),
            min_points: fs.iter().map(|f| f.points).fold(f64::INFINITY, f64::min),
            max_points: fs.iter().map(|f| f.points).fold(0.0, f64::max),
        })
        .collect();
    let ratio = |get: fn(&api::UnitWorkload) -> f64| {
        let hi = units.iter().map(get).fold(0.0, f64::max);
        let lo = units.iter().map(get).fold(f64::INFINITY, f64::min);
        if units.is_empty() || lo <= 0.0 {
            0.0
        } else {
            round2(hi / lo)
        }
    };
    Ok(api::GetWorkloadDisparityResponse {
        points_ratio: ratio(|u| u.points_per_worker),
        hours_ratio: ratio(|u| u.hours_per_worker),
        units,
    })
}

pub async fn adjustments(
    s: &Scoring,
    p: &Principal,
    req: api::ListAdjustmentsRequest,
) -> Result<api::ListAdjustmentsResponse, ServiceError> {
    s.agency(&req.agency_id).await?;
    let month = parse_month(&req.month)?;
    p.may_read_agency(&req.agency_id)?;
    s.settle().await?;
    Ok(api::ListAdjustmentsResponse {
        adjustments: queries::adjustments(&s.pool, &req.agency_id, month, None).await?,
    })
}

pub async fn close(
    s: &Scoring,
    p: &Principal,
    req: api::CloseMonthRequest,
) -> Result<api::CloseMonthResponse, ServiceError> {
    crate::close::close_month(s, p, req).await
}
