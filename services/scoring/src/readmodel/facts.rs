//! The three fact projections: identity, attendance and activity events
//! into the facts a month is scored from, each batch recomputing the worker
//! months it touched (see [`super::recompute`]).

use std::collections::BTreeMap;

use chrono::{Duration, Utc};
use pantau_eventstore::RecordedEvent;
use pantau_projection::{Projection, ProjectionError};
use sqlx::{PgConnection, Row};

use super::recompute::{Key, recompute};
use super::{Cause, Clock};
use crate::domain::Month;
use crate::domain::facts::Change;
use crate::sources::Source;

/// Worker months touched by a batch, each with its latest cause.
#[derive(Default)]
struct Touched(BTreeMap<Key, Cause>);

impl Touched {
    fn add(&mut self, worker: &str, month: Month, cause: Cause) {
        self.0.insert((worker.to_owned(), month), cause);
    }

    /// Every month row the worker already has, closed ones included: a
    /// closed month whose figures change gets an adjustment.
    async fn all_of(
        &mut self,
        conn: &mut PgConnection,
        worker: &str,
        cause: Cause,
    ) -> Result<(), sqlx::Error> {
        let months: Vec<String> =
            sqlx::query_scalar("SELECT month FROM scoring.worker_months WHERE worker_id = $1")
                .bind(worker)
                .fetch_all(&mut *conn)
                .await?;
        for m in months {
            if let Ok(m) = Month::parse(&m, "month") {
                self.add(worker, m, cause);
            }
        }
        Ok(())
    }
}

/// One fact projection, of one [`Source`].
pub struct Facts {
    pub source: Source,
    /// "Today", for the absences a live month counts so far.
    pub clock: Clock,
}

impl Facts {
    pub fn new(source: Source, clock: Clock) -> Facts {
        Facts { source, clock }
    }
}

impl Projection for Facts {
    fn name(&self) -> &'static str {
        match self.source {
            Source::Identity => "scoring_identity",
            Source::Attendance => "scoring_attendance",
            Source::Activity => "scoring_activity",
        }
    }

    fn subjects(&self) -> Vec<String> {
        self.source.subjects()
    }

    fn ddl(&self) -> &'static str {
        match self.source {
            Source::Identity => IDENTITY_DDL,
            Source::Attendance => ATTENDANCE_DDL,
            Source::Activity => ACTIVITY_DDL,
        }
    }

    async fn apply(
        &self,
        conn: &mut PgConnection,
        r: &RecordedEvent,
    ) -> Result<(), ProjectionError> {
        self.apply_all(conn, std::slice::from_ref(r)).await
    }

    async fn apply_all(
        &self,
        conn: &mut PgConnection,
        events: &[RecordedEvent],
    ) -> Result<(), ProjectionError> {
        let mut touched = Touched::default();
        for r in events {
            let changes = self.source.changes(r.payload.as_ref()).ok_or_else(|| {
                ProjectionError::Poison(format!(
                    "undecodable {} event at seq {}",
                    self.source.stream(),
                    r.sequence
                ))
            })?;
            let cause = Cause {
                stream: self.source.stream(),
                sequence: r.sequence,
            };
            for c in &changes {
                match self.source {
                    Source::Identity => apply_identity(conn, c, cause, &mut touched).await?,
                    Source::Attendance => apply_attendance(conn, c, cause, &mut touched).await?,
                    Source::Activity => apply_activity(conn, c, cause, &mut touched).await?,
                }
            }
        }
        recompute(conn, &touched.0, self.clock.now()).await?;
        Ok(())
    }
}

const IDENTITY_DDL: &str = r"
CREATE TABLE IF NOT EXISTS agencies (agency_id text PRIMARY KEY, time_zone text NOT NULL);
CREATE TABLE IF NOT EXISTS workers (
    worker_id text PRIMARY KEY,
    agency_id text NOT NULL,
    unit_id   text NOT NULL,
    pns       boolean NOT NULL,
    joined_on date,
    left_on   date
);
CREATE INDEX IF NOT EXISTS workers_by_agency ON workers (agency_id, unit_id);
";

const ATTENDANCE_DDL: &str = r"
CREATE TABLE IF NOT EXISTS schedules (agency_id text PRIMARY KEY, work_days integer[] NOT NULL);
CREATE TABLE IF NOT EXISTS check_ins (
    worker_id    text NOT NULL,
    local_date   date NOT NULL,
    month        text NOT NULL,
    late_minutes integer NOT NULL,
    PRIMARY KEY (worker_id, local_date)
);
CREATE INDEX IF NOT EXISTS check_ins_by_month ON check_ins (worker_id, month);
CREATE TABLE IF NOT EXISTS sessions (session_id text PRIMARY KEY, starts_at timestamptz NOT NULL);
CREATE TABLE IF NOT EXISTS ceremony_scans (
    session_id text NOT NULL,
    worker_id  text NOT NULL,
    -- The agency the worker was scanned for: its zone dates the ceremony.
    agency_id  text NOT NULL,
    PRIMARY KEY (session_id, worker_id)
);
CREATE INDEX IF NOT EXISTS ceremony_scans_by_worker ON ceremony_scans (worker_id);
CREATE TABLE IF NOT EXISTS leaves (
    leave_id  text PRIMARY KEY,
    worker_id text NOT NULL,
    first_day date NOT NULL,
    last_day  date NOT NULL,
    approved  boolean NOT NULL DEFAULT false
);
CREATE INDEX IF NOT EXISTS leaves_by_worker ON leaves (worker_id);
";

const ACTIVITY_DDL: &str = r"
CREATE TABLE IF NOT EXISTS reports (
    report_id  text PRIMARY KEY,
    worker_id  text NOT NULL,
    agency_id  text NOT NULL,
    unit_id    text NOT NULL,
    month      text NOT NULL,
    local_date date NOT NULL,
    code       text NOT NULL,
    quantity   double precision NOT NULL,
    minutes    integer NOT NULL,
    approved   boolean NOT NULL
);
CREATE INDEX IF NOT EXISTS reports_by_worker ON reports (worker_id, month);
";

async fn apply_identity(
    conn: &mut PgConnection,
    c: &Change,
    cause: Cause,
    touched: &mut Touched,
) -> Result<(), sqlx::Error> {
    match c {
        Change::Agency {
            agency_id,
            time_zone,
        } => {
            sqlx::query(
                "INSERT INTO agencies (agency_id, time_zone) VALUES ($1, $2)
                 ON CONFLICT (agency_id) DO UPDATE SET time_zone = excluded.time_zone",
            )
            .bind(agency_id)
            .bind(time_zone)
            .execute(&mut *conn)
            .await?;
        }
        Change::Worker {
            worker_id,
            agency_id,
            unit_id,
            pns,
            joined_on,
        } => {
            sqlx::query(
                "INSERT INTO workers (worker_id, agency_id, unit_id, pns, joined_on) VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (worker_id) DO UPDATE SET agency_id = excluded.agency_id,
                     unit_id = excluded.unit_id, pns = excluded.pns, joined_on = excluded.joined_on",
            )
            .bind(worker_id)
            .bind(agency_id)
            .bind(unit_id)
            .bind(pns)
            .bind(joined_on)
            .execute(&mut *conn)
            .await?;
            touched.all_of(conn, worker_id, cause).await?;
        }
        Change::Transferred {
            worker_id,
            agency_id,
            unit_id,
        } => {
            sqlx::query("UPDATE workers SET agency_id = $2, unit_id = $3 WHERE worker_id = $1")
                .bind(worker_id)
                .bind(agency_id)
                .bind(unit_id)
                .execute(&mut *conn)
                .await?;
            touched.all_of(conn, worker_id, cause).await?;
        }
        Change::Deactivated {
            worker_id,
            effective_on,
        } => {
            sqlx::query("UPDATE workers SET left_on = $2 WHERE worker_id = $1")
                .bind(worker_id)
                .bind(effective_on)
                .execute(&mut *conn)
                .await?;
            touched.all_of(conn, worker_id, cause).await?;
        }
        _ => {}
    }
    Ok(())
}

async fn apply_attendance(
    conn: &mut PgConnection,
    c: &Change,
    cause: Cause,
    touched: &mut Touched,
) -> Result<(), sqlx::Error> {
    match c {
        Change::Schedule {
            agency_id,
            work_days,
        } => {
            let days: Vec<i32> = work_days.iter().map(|d| *d as i32).collect();
            sqlx::query(
                "INSERT INTO schedules (agency_id, work_days) VALUES ($1, $2)
                 ON CONFLICT (agency_id) DO UPDATE SET work_days = excluded.work_days",
            )
            .bind(agency_id)
            .bind(&days)
            .execute(&mut *conn)
            .await?;
            // Open months only: the schedule is not versioned, and a closed
            // month keeps the days it was closed with.
            let rows = sqlx::query(
                "SELECT wm.worker_id, wm.month FROM scoring.worker_months wm
                 WHERE wm.agency_id = $1 AND NOT EXISTS (
                     SELECT 1 FROM scoring_own.months m
                     WHERE m.agency_id = wm.agency_id AND m.month = wm.month)",
            )
            .bind(agency_id)
            .fetch_all(&mut *conn)
            .await?;
            for r in rows {
                let (w, m): (String, String) = (r.try_get(0)?, r.try_get(1)?);
                if let Ok(m) = Month::parse(&m, "month") {
                    touched.add(&w, m, cause);
                }
            }
        }
        Change::CheckIn {
            worker_id,
            date,
            late_minutes,
            ..
        } => {
            let month = Month::of(*date);
            sqlx::query(
                "INSERT INTO check_ins (worker_id, local_date, month, late_minutes) VALUES ($1, $2, $3, $4)
                 ON CONFLICT DO NOTHING",
            )
            .bind(worker_id)
            .bind(date)
            .bind(month.to_string())
            .bind(i32::try_from(*late_minutes).unwrap_or(i32::MAX))
            .execute(&mut *conn)
            .await?;
            touched.add(worker_id, month, cause);
        }
        Change::Session {
            session_id,
            starts_at,
        } => {
            sqlx::query(
                "INSERT INTO sessions (session_id, starts_at) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            )
            .bind(session_id)
            .bind(starts_at)
            .execute(&mut *conn)
            .await?;
        }
        Change::CeremonyScan {
            session_id,
            worker_id,
            agency_id,
        } => {
            let starts: Option<chrono::DateTime<Utc>> =
                sqlx::query_scalar("SELECT starts_at FROM sessions WHERE session_id = $1")
                    .bind(session_id)
                    .fetch_optional(&mut *conn)
                    .await?;
            let Some(starts) = starts else {
                return Ok(());
            };
            sqlx::query(
                "INSERT INTO ceremony_scans (session_id, worker_id, agency_id) VALUES ($1, $2, $3)
                 ON CONFLICT DO NOTHING",
            )
            .bind(session_id)
            .bind(worker_id)
            .bind(agency_id)
            .execute(&mut *conn)
            .await?;
            // Western to eastern Indonesia spans two hours: the month of
            // the local date in any agency's zone is one of these.
            for shift in [7, 9] {
                let day = (starts + Duration::hours(shift)).date_naive();
                touched.add(worker_id, Month::of(day), cause);
            }
        }
        Change::LeaveRequested {
            leave_id,
            worker_id,
            first,
            last,
        } => {
            sqlx::query(
                "INSERT INTO leaves (leave_id, worker_id, first_day, last_day) VALUES ($1, $2, $3, $4)
                 ON CONFLICT DO NOTHING",
            )
            .bind(leave_id)
            .bind(worker_id)
            .bind(first)
            .bind(last)
            .execute(&mut *conn)
            .await?;
        }
        Change::LeaveApproved { leave_id } => {
            let row = sqlx::query(
                "UPDATE leaves SET approved = true WHERE leave_id = $1 RETURNING worker_id, first_day, last_day",
            )
            .bind(leave_id)
            .fetch_optional(&mut *conn)
            .await?;
            if let Some(r) = row {
                let worker: String = r.try_get(0)?;
                let (first, last): (chrono::NaiveDate, chrono::NaiveDate) =
                    (r.try_get(1)?, r.try_get(2)?);
                let mut m = Month::of(first);
                while m <= Month::of(last) {
                    touched.add(&worker, m, cause);
                    m = m.next();
                }
            }
        }
        _ => {}
    }
    Ok(())
}

async fn apply_activity(
    conn: &mut PgConnection,
    c: &Change,
    cause: Cause,
    touched: &mut Touched,
) -> Result<(), sqlx::Error> {
    let row = match c {
        Change::Report {
            report_id,
            worker_id,
            agency_id,
            unit_id,
            date,
            code,
            quantity,
            minutes,
        } => {
            sqlx::query(
                "INSERT INTO reports (report_id, worker_id, agency_id, unit_id, month, local_date, code, quantity, minutes, approved)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, false)
                 ON CONFLICT (report_id) DO UPDATE SET code = excluded.code, quantity = excluded.quantity,
                     minutes = excluded.minutes, approved = false
                 RETURNING worker_id, month",
            )
            .bind(report_id)
            .bind(worker_id)
            .bind(agency_id)
            .bind(unit_id)
            .bind(Month::of(*date).to_string())
            .bind(date)
            .bind(code)
            .bind(quantity)
            .bind(i32::try_from(*minutes).unwrap_or(i32::MAX))
            .fetch_optional(&mut *conn)
            .await?
        }
        Change::Amended {
            report_id,
            code,
            quantity,
            minutes,
        } => {
            sqlx::query(
                "UPDATE reports SET code = $2, quantity = $3, minutes = $4, approved = false
                 WHERE report_id = $1 RETURNING worker_id, month",
            )
            .bind(report_id)
            .bind(code)
            .bind(quantity)
            .bind(i32::try_from(*minutes).unwrap_or(i32::MAX))
            .fetch_optional(&mut *conn)
            .await?
        }
        Change::Approved { report_id } | Change::Unapproved { report_id } => {
            sqlx::query(
                "UPDATE reports SET approved = $2 WHERE report_id = $1 RETURNING worker_id, month",
            )
            .bind(report_id)
            .bind(matches!(c, Change::Approved { .. }))
            .fetch_optional(&mut *conn)
            .await?
        }
        _ => None,
    };
    if let Some(r) = row {
        let (w, m): (String, String) = (r.try_get(0)?, r.try_get(1)?);
        if let Ok(m) = Month::parse(&m, "month") {
            touched.add(&w, m, cause);
        }
    }
    Ok(())
}
