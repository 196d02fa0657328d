//! Daily self check-in and check-out, and agencies' working schedules.
//!
//! Check-ins are the hot path (a whole province checking in around 07:30):
//! the decision is made from the in-memory directory and the event appended
//! without an expected sequence (a worker's check-ins have no invariant to
//! guard), so concurrent check-ins are group-committed into shared fsyncs.
//! A retry with the same request id is deduplicated by JetStream within its
//! window and by the read model's (worker, request id) key after it.

use pantau_eventstore::{Expected, NewEvent};
use pantau_proto::attendance::v1 as api;
use pantau_proto::events::v1::{self as ev, attendance_event::Event};

use super::{Attendance, not_found};
use crate::core::{encode, event_type, schedule_subject, worker_subject};
use crate::domain::presence::{self, CheckInput, Kind};
use crate::domain::time::{Schedule, timestamp};
use crate::domain::{DomainError, Principal};
use crate::error::ServiceError;

pub async fn check_in(
    a: &Attendance,
    p: &Principal,
    req: api::CheckInRequest,
) -> Result<api::CheckInResponse, ServiceError> {
    let ctx = a.ctx(p, &req.request_id)?;
    let Some(worker_id) = p.worker_id.as_deref() else {
        return Err(DomainError::PermissionDenied(
            "only a worker's own account can check in".into(),
        )
        .into());
    };
    let now = a.now();
    let input = CheckInput::parse(
        req.kind,
        req.latitude,
        req.longitude,
        req.accuracy_m,
        &req.device_id,
        &req.photo_sha256,
        req.claimed_at.as_ref(),
        now,
        a.limits,
    )?;
    let presence = {
        let dir = a.dir();
        let worker = dir
            .workers
            .get(worker_id)
            .ok_or_else(|| not_found("worker", worker_id))?;
        let agency = dir
            .agencies
            .get(&worker.agency_id)
            .ok_or_else(|| not_found("agency", &worker.agency_id))?;
        let schedule = dir.schedule(&worker.agency_id);
        presence::decide(
            worker,
            agency,
            &schedule,
            dir.leave_of(worker_id),
            &input,
            now,
        )?
    };
    let event = match input.kind {
        Kind::In => Event::CheckedIn(ev::CheckedIn {
            presence: Some(presence.clone()),
        }),
        Kind::Out => Event::CheckedOut(ev::CheckedOut {
            presence: Some(presence.clone()),
        }),
    };
    a.store
        .append(NewEvent {
            subject: worker_subject(worker_id),
            event_type: event_type(&event).to_owned(),
            schema_version: 1,
            payload: encode(&event),
            expected: Expected::Any,
            msg_id: Some(format!("checkin:{worker_id}:{}", ctx.request_id)),
            metadata: ctx.metadata(),
        })
        .await
        .map_err(|e| ServiceError::Unavailable(format!("failed to record the check-in: {e}")))?;
    if !presence.inside {
        tracing::info!(%worker_id, distance_m = presence.distance_m, "check-in outside the work sites");
    }
    Ok(api::CheckInResponse {
        recorded_at: Some(timestamp(now)),
        local_date: presence.local_date,
        inside: presence.inside,
        site_id: presence.site_id,
        distance_m: presence.distance_m,
        late_minutes: presence.late_minutes,
        judged_against: presence.judged_against,
    })
}

pub async fn set_schedule(
    a: &Attendance,
    p: &Principal,
    req: api::SetScheduleRequest,
) -> Result<api::SetScheduleResponse, ServiceError> {
    let ctx = a.ctx(p, &req.request_id)?;
    if req.agency_id.is_empty() {
        return Err(DomainError::invalid("agency_id", "is required").into());
    }
    let schedule = Schedule::parse(&req.starts, &req.ends, req.grace_minutes, &req.work_days)?;
    p.must_manage(&req.agency_id)?;
    if !a.dir().agencies.contains_key(&req.agency_id) {
        return Err(not_found("agency", &req.agency_id));
    }
    let event = Event::ScheduleSet(ev::ScheduleSet {
        agency_id: req.agency_id.clone(),
        starts_minute: schedule.starts_minute,
        ends_minute: schedule.ends_minute,
        grace_minutes: schedule.grace_minutes,
        work_days: schedule.work_days,
    });
    let stored = a
        .store
        .append(ctx.event(&schedule_subject(&req.agency_id), &event, Expected::Any, 0))
        .await
        .map_err(|e| ServiceError::Unavailable(format!("failed to record the schedule: {e}")))?;
    a.settle_directory(stored.sequence).await;
    Ok(api::SetScheduleResponse {})
}
