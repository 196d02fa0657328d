//! Filing, amending and reviewing reports: each a command on the worker's
//! day (see `domain::day`).

use std::sync::Mutex;

use chrono::NaiveDate;
use futures::future::join_all;
use pantau_platform::ServiceError;
use pantau_proto::activity::v1 as api;
use pantau_proto::events::v1::activity_event::Event;

use super::{Activity, MAX_BULK, worker_or_self};
use crate::core::{self, Ctx, day_subject};
use crate::domain::access::{may_report, may_review};
use crate::domain::day::{self, Day, Decision, Facts, parse_report_id};
use crate::domain::input::ReportInput;
use crate::domain::registry::{Agency, Worker};
use crate::domain::{DomainError, Principal};

/// The worker a request acts on, and the caller as a worker id (accounts
/// without a worker record act under their account id).
fn actor(p: &Principal) -> String {
    p.worker_id.clone().unwrap_or_else(|| p.subject.clone())
}

pub async fn report(
    a: &Activity,
    p: &Principal,
    req: api::ReportActivityRequest,
) -> Result<api::ReportActivityResponse, ServiceError> {
    let ctx = a.ctx(p, &req.request_id, &req)?;
    let worker_id = worker_or_self(p, &req.worker_id)?.to_owned();
    let date = crate::domain::time::parse_date(&req.date, "date")?;
    let input = ReportInput::parse(
        &req.code,
        req.quantity,
        &req.start_time,
        &req.end_time,
        &req.description,
        req.location.as_ref(),
        &req.evidence,
    )?;
    let (worker, agency) = a.worker(&worker_id)?;
    let on_behalf = may_report(p, &worker, date)?;
    let (today, now_minute) = a.local_now(&agency);
    let (by, at) = (actor(p), a.timestamp());
    let made = Mutex::new(None);
    let done = core::create(
        &a.store,
        Some(&a.days),
        &day_subject(&worker_id, date),
        day::evolve,
        &ctx,
        "report",
        |d: &Day| {
            let dir = a.dir();
            let facts = Facts {
                worker: &worker,
                catalogs: &dir.catalogs,
                today,
                now_minute,
                grace_days: a.grace_days,
                by: &by,
                on_behalf,
                at,
            };
            let events = day::decide_report(d, date, &input, &facts)?;
            if let Some(Event::ActivityReported(r)) = events.first()
                && let Ok(mut m) = made.lock()
            {
                *m = Some((
                    r.report_id.clone(),
                    r.details.as_ref().map_or(0, |d| d.catalog_version),
                ));
            }
            Ok(events)
        },
    )
    .await?;
    let (report_id, catalog_version) = made
        .into_inner()
        .ok()
        .flatten()
        .ok_or_else(|| ServiceError::Internal("the report decision made no report".into()))?;
    let status = done
        .state
        .report(&report_id)
        .map_or(api::ReportStatus::Submitted, |r| r.status.api());
    Ok(api::ReportActivityResponse {
        report_id,
        catalog_version,
        status: status as i32,
    })
}

/// The report's day, worker and agency from its id (NOT_FOUND when it
/// names none).
fn locate(a: &Activity, report_id: &str) -> Result<(NaiveDate, Worker, Agency), ServiceError> {
    let (date, worker_id) = parse_report_id(report_id)
        .ok_or_else(|| DomainError::NotFound(format!("report {report_id} not found")))?;
    let (worker, agency) = a.worker(&worker_id)?;
    Ok((date, worker, agency))
}

pub async fn amend(
    a: &Activity,
    p: &Principal,
    req: api::AmendActivityRequest,
) -> Result<api::AmendActivityResponse, ServiceError> {
    let ctx = a.ctx(p, &req.request_id, &req)?;
    let input = ReportInput::parse(
        &req.code,
        req.quantity,
        &req.start_time,
        &req.end_time,
        &req.description,
        req.location.as_ref(),
        &req.evidence,
    )?;
    let (date, worker, agency) = locate(a, &req.report_id)?;
    let on_behalf = may_report(p, &worker, date)?;
    let (today, now_minute) = a.local_now(&agency);
    let (by, at) = (actor(p), a.timestamp());
    let done = core::execute(
        &a.store,
        Some(&a.days),
        &day_subject(&worker.id, date),
        day::evolve,
        &ctx,
        "amend",
        |d: &Day| {
            let dir = a.dir();
            let facts = Facts {
                worker: &worker,
                catalogs: &dir.catalogs,
                today,
                now_minute,
                grace_days: a.grace_days,
                by: &by,
                on_behalf,
                at,
            };
            day::decide_amend(d, &req.report_id, &input, &facts)
        },
    )
    .await?;
    Ok(api::AmendActivityResponse {
        status: status_of(&done.state, &req.report_id) as i32,
    })
}

fn status_of(d: &Day, report_id: &str) -> api::ReportStatus {
    d.report(report_id)
        .map_or(api::ReportStatus::Unspecified, |r| r.status.api())
}

/// One review, as its own command (`scope` keeps a bulk approval's
/// reports apart under one request id).
async fn review_one(
    a: &Activity,
    p: &Principal,
    ctx: &Ctx,
    report_id: &str,
    decision: &Decision,
    scope: &str,
) -> Result<api::ReportStatus, ServiceError> {
    let (date, worker, _) = locate(a, report_id)?;
    let (reviewer, at) = (actor(p), a.timestamp());
    let done = core::execute(
        &a.store,
        Some(&a.days),
        &day_subject(&worker.id, date),
        day::evolve,
        ctx,
        scope,
        |d: &Day| {
            if let Some(r) = d.report(report_id) {
                may_review(p, &worker, &r.supervisor_id)?;
            }
            day::decide_review(d, report_id, decision, &reviewer, at)
        },
    )
    .await?;
    Ok(status_of(&done.state, report_id))
}

pub async fn review(
    a: &Activity,
    p: &Principal,
    req: api::ReviewActivityRequest,
) -> Result<api::ReviewActivityResponse, ServiceError> {
    let ctx = a.ctx(p, &req.request_id, &req)?;
    let decision = Decision::parse(req.decision(), &req.reason)?;
    let status = review_one(a, p, &ctx, &req.report_id, &decision, "review").await?;
    Ok(api::ReviewActivityResponse {
        status: status as i32,
    })
}

pub async fn bulk_approve(
    a: &Activity,
    p: &Principal,
    req: api::BulkApproveRequest,
) -> Result<api::BulkApproveResponse, ServiceError> {
    let ctx = a.ctx(p, &req.request_id, &req)?;
    if req.report_ids.is_empty() || req.report_ids.len() > MAX_BULK {
        return Err(
            DomainError::invalid("report_ids", format!("must list 1-{MAX_BULK} reports")).into(),
        );
    }
    let mut seen = std::collections::HashSet::new();
    if let Some(dup) = req.report_ids.iter().find(|id| !seen.insert(id.as_str())) {
        return Err(DomainError::invalid("report_ids", format!("{dup} appears twice")).into());
    }
    let (ctx, decision) = (&ctx, &Decision::Approve);
    let results = join_all(req.report_ids.iter().map(|id| async move {
        let scope = format!("bulk:{id}");
        match review_one(a, p, ctx, id, decision, &scope).await {
            Ok(_) => api::BulkApproveResult {
                report_id: id.clone(),
                approved: true,
                ..Default::default()
            },
            Err(e) => {
                let status = tonic::Status::from(e);
                api::BulkApproveResult {
                    report_id: id.clone(),
                    approved: false,
                    error_code: code_name(status.code()).to_owned(),
                    error: status.message().to_owned(),
                }
            }
        }
    }))
    .await;
    Ok(api::BulkApproveResponse { results })
}

/// The canonical gRPC name of a status code (`PERMISSION_DENIED`).
fn code_name(code: tonic::Code) -> &'static str {
    use tonic::Code as C;
    match code {
        C::Ok => "OK",
        C::Cancelled => "CANCELLED",
        C::Unknown => "UNKNOWN",
        C::InvalidArgument => "INVALID_ARGUMENT",
        C::DeadlineExceeded => "DEADLINE_EXCEEDED",
        C::NotFound => "NOT_FOUND",
        C::AlreadyExists => "ALREADY_EXISTS",
        C::PermissionDenied => "PERMISSION_DENIED",
        C::ResourceExhausted => "RESOURCE_EXHAUSTED",
        C::FailedPrecondition => "FAILED_PRECONDITION",
        C::Aborted => "ABORTED",
        C::OutOfRange => "OUT_OF_RANGE",
        C::Unimplemented => "UNIMPLEMENTED",
        C::Internal => "INTERNAL",
        C::Unavailable => "UNAVAILABLE",
        C::DataLoss => "DATA_LOSS",
        C::Unauthenticated => "UNAUTHENTICATED",
    }
}
