//! Reads: a worker's month, an agency's day, today's check-in positions.

use std::collections::HashMap;

use chrono::NaiveDate;
use pantau_proto::attendance::v1::{self as api, DayStatus};
use sqlx::Row;

use super::{Attendance, not_found};
use crate::domain::daily::{DayFacts, Today, judge_day};
use crate::domain::time::{local_moment, parse_date, parse_month, timestamp};
use crate::domain::{DomainError, Principal, Role, WorkerAccess};
use crate::error::ServiceError;

fn facts(r: &sqlx::postgres::PgRow) -> DayFacts {
    let minute = |c: &str| {
        r.get::<Option<i32>, _>(c)
            .and_then(|m| u32::try_from(m).ok())
    };
    DayFacts {
        first_in: minute("first_in"),
        last_in: minute("last_in"),
        last_out: minute("last_out"),
        late_minutes: u32::try_from(r.get::<i32, _>("late_minutes")).unwrap_or(0),
        outside: u32::try_from(r.get::<i32, _>("outside")).unwrap_or(0),
    }
}

fn count(days: &[api::DayRecord], s: DayStatus) -> u32 {
    u32::try_from(days.iter().filter(|d| d.status == s as i32).count()).unwrap_or(u32::MAX)
}

fn late(days: &[api::DayRecord]) -> u32 {
    u32::try_from(days.iter().filter(|d| d.late_minutes > 0).count()).unwrap_or(u32::MAX)
}

pub async fn worker_month(
    a: &Attendance,
    p: &Principal,
    req: &api::GetWorkerMonthRequest,
) -> Result<api::GetWorkerMonthResponse, ServiceError> {
    let (first, last) = parse_month(&req.month, "month")?;
    let (worker, tz, schedule, leave) = {
        let dir = a.dir();
        let w = dir
            .workers
            .get(&req.worker_id)
            .ok_or_else(|| not_found("worker", &req.worker_id))?;
        p.may_read(w)?;
        let tz = dir
            .agencies
            .get(&w.agency_id)
            .map(|ag| ag.tz)
            .unwrap_or(chrono_tz::Asia::Jakarta);
        (
            w.clone(),
            tz,
            dir.schedule(&w.agency_id),
            dir.leave_of(&w.id).to_vec(),
        )
    };
    a.settle_read_to_now().await;
    let rows = sqlx::query(
        "SELECT local_date, first_in, last_in, last_out, late_minutes, outside
         FROM attendance_read.daily WHERE worker_id = $1 AND local_date BETWEEN $2 AND $3",
    )
    .bind(&worker.id)
    .bind(first)
    .bind(last)
    .fetch_all(&a.pool)
    .await?;
    let by_day: HashMap<NaiveDate, DayFacts> = rows
        .iter()
        .map(|r| (r.get::<NaiveDate, _>("local_date"), facts(r)))
        .collect();
    let now = local_moment(a.now(), tz);
    let today = Today {
        date: now.date,
        minute: now.minute,
    };
    let days: Vec<api::DayRecord> = first
        .iter_days()
        .take_while(|d| *d <= last)
        .map(|d| {
            let mut r = judge_day(
                &worker.id,
                d,
                by_day.get(&d).copied(),
                &schedule,
                &leave,
                worker.joined_on,
                today,
            );
            r.worker_name.clone_from(&worker.name);
            r
        })
        .collect();
    Ok(api::GetWorkerMonthResponse {
        present: count(&days, DayStatus::Present),
        absent: count(&days, DayStatus::Absent),
        excused: count(&days, DayStatus::Excused),
        late: late(&days),
        days,
    })
}

pub async fn agency_day(
    a: &Attendance,
    p: &Principal,
    req: &api::GetAgencyDayRequest,
) -> Result<api::GetAgencyDayResponse, ServiceError> {
    if req.agency_id.is_empty() {
        return Err(DomainError::invalid("agency_id", "is required").into());
    }
    p.may_read_agency(&req.agency_id)?;
    let tz = a
        .dir()
        .agencies
        .get(&req.agency_id)
        .map(|ag| ag.tz)
        .ok_or_else(|| not_found("agency", &req.agency_id))?;
    let now = local_moment(a.now(), tz);
    let date = if req.date.is_empty() {
        now.date
    } else {
        parse_date(&req.date, "date")?
    };
    a.settle_read_to_now().await;
    let rows = sqlx::query(
        "SELECT worker_id, first_in, last_in, last_out, late_minutes, outside
         FROM attendance_read.daily WHERE agency_id = $1 AND local_date = $2",
    )
    .bind(&req.agency_id)
    .bind(date)
    .fetch_all(&a.pool)
    .await?;
    let mut by_worker: HashMap<String, DayFacts> = rows
        .iter()
        .map(|r| (r.get::<String, _>("worker_id"), facts(r)))
        .collect();
    let today = Today {
        date: now.date,
        minute: now.minute,
    };
    let dir = a.dir();
    let schedule = dir.schedule(&req.agency_id);
    let mut workers: Vec<_> = dir
        .workers
        .values()
        .filter(|w| (w.agency_id == req.agency_id && w.active) || by_worker.contains_key(&w.id))
        .collect();
    workers.sort_by(|x, y| (&x.name, &x.id).cmp(&(&y.name, &y.id)));
    let days: Vec<api::DayRecord> = workers
        .into_iter()
        .map(|w| {
            let mut r = judge_day(
                &w.id,
                date,
                by_worker.remove(&w.id),
                &schedule,
                dir.leave_of(&w.id),
                w.joined_on,
                today,
            );
            r.worker_name.clone_from(&w.name);
            r
        })
        .collect();
    Ok(api::GetAgencyDayResponse {
        present: count(&days, DayStatus::Present),
        absent: count(&days, DayStatus::Absent),
        excused: count(&days, DayStatus::Excused),
        late: late(&days),
        workers: days,
    })
}

pub async fn positions(
    a: &Attendance,
    p: &Principal,
    req: &api::ListCheckInPositionsRequest,
) -> Result<api::ListCheckInPositionsResponse, ServiceError> {
    // Agency admins (and auditors) see an agency; a supervisor sees the unit
    // they belong to.
    let (agency_id, unit_id) = if !req.agency_id.is_empty()
        && (p.manages_agency(&req.agency_id) || p.has(Role::Auditor))
    {
        (req.agency_id.clone(), req.unit_id.clone())
    } else if p.has(Role::Supervisor) {
        let dir = a.dir();
        let me = p
            .worker_id
            .as_ref()
            .and_then(|id| dir.workers.get(id))
            .ok_or_else(|| {
                DomainError::PermissionDenied(
                    "a supervisor account must be linked to a worker".into(),
                )
            })?;
        if (!req.agency_id.is_empty() && req.agency_id != me.agency_id)
            || (!req.unit_id.is_empty() && req.unit_id != me.unit_id)
        {
            return Err(DomainError::PermissionDenied(
                "supervisors see their own unit only".into(),
            )
            .into());
        }
        (me.agency_id.clone(), me.unit_id.clone())
    } else if req.agency_id.is_empty() {
        return Err(DomainError::invalid("agency_id", "is required").into());
    } else {
        return Err(DomainError::PermissionDenied(
            "only the agency's admins and supervisors see check-in positions".into(),
        )
        .into());
    };
    let tz = a
        .dir()
        .agencies
        .get(&agency_id)
        .map(|ag| ag.tz)
        .ok_or_else(|| not_found("agency", &agency_id))?;
    let date = if req.date.is_empty() {
        local_moment(a.now(), tz).date
    } else {
        parse_date(&req.date, "date")?
    };
    a.settle_read_to_now().await;
    let rows = sqlx::query(
        "SELECT worker_id, kind, at, latitude, longitude, accuracy_m, inside, site_id, distance_m
         FROM attendance_read.presence
         WHERE agency_id = $1 AND local_date = $2 AND ($3 = '' OR unit_id = $3)
         ORDER BY at",
    )
    .bind(&agency_id)
    .bind(date)
    .bind(&unit_id)
    .fetch_all(&a.pool)
    .await?;
    let dir = a.dir();
    let positions = rows
        .iter()
        .map(|r| {
            let worker_id: String = r.get("worker_id");
            api::CheckInPosition {
                worker_name: dir
                    .workers
                    .get(&worker_id)
                    .map(|w| w.name.clone())
                    .unwrap_or_default(),
                worker_id,
                kind: i32::from(r.get::<i16, _>("kind")),
                at: Some(timestamp(r.get("at"))),
                latitude: r.get("latitude"),
                longitude: r.get("longitude"),
                accuracy_m: r.get("accuracy_m"),
                inside: r.get("inside"),
                site_id: r.get("site_id"),
                distance_m: u32::try_from(r.get::<i32, _>("distance_m")).unwrap_or(0),
            }
        })
        .collect();
    Ok(api::ListCheckInPositionsResponse { positions })
}
