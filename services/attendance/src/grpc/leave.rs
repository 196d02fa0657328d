//! Leave and official travel: the worker asks, the supervisor decides.

use pantau_proto::attendance::v1 as api;
use pantau_proto::events::v1::attendance_event::Event;
use sqlx::Row;

use super::{Attendance, not_found};
use crate::core::{execute, leave_subject};
use crate::domain::leave::{self, LeaveState};
use crate::domain::{DomainError, Principal, WorkerAccess, parse_id};
use crate::error::ServiceError;

pub async fn request(
    a: &Attendance,
    p: &Principal,
    req: api::RequestLeaveRequest,
) -> Result<api::RequestLeaveResponse, ServiceError> {
    let ctx = a.ctx(p, &req.request_id)?;
    let Some(worker_id) = p.worker_id.clone() else {
        return Err(DomainError::PermissionDenied(
            "leave is requested from the worker's own account".into(),
        )
        .into());
    };
    let leave_id = uuid::Uuid::new_v5(
        &uuid::Uuid::NAMESPACE_OID,
        format!("leave:{}:{}", ctx.actor, ctx.request_id).as_bytes(),
    )
    .to_string();
    let requested = {
        let dir = a.dir();
        let worker = dir
            .workers
            .get(&worker_id)
            .ok_or_else(|| not_found("worker", &worker_id))?;
        let requested = leave::request(&leave_id, worker, &req)?;
        let overlapping = dir.leave_of(&worker_id).iter().any(|l| {
            l.id != leave_id
                && l.status != crate::domain::registry::LeaveStatus::Rejected
                && l.first_day.to_string() <= requested.last_day
                && requested.first_day <= l.last_day.to_string()
        });
        if overlapping {
            return Err(DomainError::precondition(
                "these days overlap another pending or approved request",
            )
            .into());
        }
        requested
    };
    let done = execute(
        &a.store,
        &leave_subject(&leave_id),
        leave::evolve,
        &ctx,
        |s: &LeaveState| {
            if s.request.is_some() {
                return Err(DomainError::already_exists("leave_id", &leave_id));
            }
            Ok(vec![Event::LeaveRequested(requested.clone())])
        },
    )
    .await?;
    a.settle_directory(done.last_sequence).await;
    Ok(api::RequestLeaveResponse { leave_id })
}

pub async fn decide(
    a: &Attendance,
    p: &Principal,
    req: api::DecideLeaveRequest,
) -> Result<api::DecideLeaveResponse, ServiceError> {
    let ctx = a.ctx(p, &req.request_id)?;
    parse_id(&req.leave_id, "leave_id")?;
    if req.note.chars().count() > 500 {
        return Err(DomainError::invalid("note", "at most 500 characters").into());
    }
    let subject = leave_subject(&req.leave_id);
    let done = execute(&a.store, &subject, leave::evolve, &ctx, |s: &LeaveState| {
        let Some(r) = &s.request else {
            return Err(DomainError::NotFound(format!(
                "leave request {}",
                req.leave_id
            )));
        };
        let dir = a.dir();
        let worker = dir
            .workers
            .get(&r.worker_id)
            .ok_or_else(|| DomainError::NotFound(format!("worker {}", r.worker_id)))?;
        if !(p.supervises(worker) || p.manages_agency(&worker.agency_id)) {
            return Err(DomainError::PermissionDenied(
                "only the worker's supervisor or their agency's admins decide leave".into(),
            ));
        }
        leave::decide(
            s,
            req.approve,
            &p.subject,
            p.worker_id.as_deref(),
            req.note.trim(),
        )
    })
    .await?;
    a.settle_directory(done.last_sequence).await;
    a.settle_read(done.last_sequence).await;
    Ok(api::DecideLeaveResponse {})
}

pub async fn list(
    a: &Attendance,
    p: &Principal,
    req: &api::ListLeaveRequest,
) -> Result<api::ListLeaveResponse, ServiceError> {
    let worker_id = if req.worker_id.is_empty() {
        p.worker_id.clone().ok_or_else(|| {
            DomainError::invalid("worker_id", "is required for non-worker accounts")
        })?
    } else {
        req.worker_id.clone()
    };
    {
        let dir = a.dir();
        let worker = dir
            .workers
            .get(&worker_id)
            .ok_or_else(|| not_found("worker", &worker_id))?;
        p.may_read(worker)?;
    }
    a.settle_read_to_now().await;
    let rows = sqlx::query(
        "SELECT leave_id, worker_id, kind, first_day, last_day, status, reason, destination
         FROM attendance_read.leave WHERE worker_id = $1 ORDER BY first_day DESC",
    )
    .bind(&worker_id)
    .fetch_all(&a.pool)
    .await?;
    let leave = rows
        .iter()
        .map(|r| api::LeaveRecord {
            leave_id: r.get("leave_id"),
            worker_id: r.get("worker_id"),
            kind: i32::from(r.get::<i16, _>("kind")),
            first_day: r.get::<chrono::NaiveDate, _>("first_day").to_string(),
            last_day: r.get::<chrono::NaiveDate, _>("last_day").to_string(),
            status: i32::from(r.get::<i16, _>("status")),
            reason: r.get("reason"),
            destination: r.get("destination"),
        })
        .collect();
    Ok(api::ListLeaveResponse { leave })
}
