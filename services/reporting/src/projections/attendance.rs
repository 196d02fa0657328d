//! `reporting_attendance`: schedules, days present, leave, the check-in
//! grid, last positions and ceremony scans. Check-ins are most of the stream: a batch
//! writes them with one statement per table.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use pantau_eventstore::RecordedEvent;
use pantau_projection::{Projection, ProjectionError};
use pantau_proto::events::v1::{AttendanceEvent, Presence, attendance_event::Event as T};
use prost::Message;
use sqlx::PgConnection;

use super::{cell_of, date, month_of, poison, time};

pub struct Attendance;

pub const SCHEMA: &str = "reporting_attendance";

const DDL: &str = r"
CREATE TABLE IF NOT EXISTS schedules (
    agency_id text PRIMARY KEY,
    work_days integer[] NOT NULL
);
CREATE TABLE IF NOT EXISTS present_days (
    worker_id text NOT NULL,
    day       date NOT NULL,
    agency_id text NOT NULL,
    unit_id   text NOT NULL,
    PRIMARY KEY (worker_id, day)
);
CREATE INDEX IF NOT EXISTS present_days_by_agency ON present_days (agency_id, day);
-- Check-ins per ~500 m cell, worker and month (see projections::cell_of).
CREATE TABLE IF NOT EXISTS cells (
    month     text NOT NULL,
    agency_id text NOT NULL,
    cell_lat  integer NOT NULL,
    cell_lon  integer NOT NULL,
    worker_id text NOT NULL,
    check_ins integer NOT NULL,
    PRIMARY KEY (month, agency_id, cell_lat, cell_lon, worker_id)
);
CREATE TABLE IF NOT EXISTS last_positions (
    worker_id  text PRIMARY KEY,
    agency_id  text NOT NULL,
    unit_id    text NOT NULL,
    local_date date NOT NULL,
    at         timestamptz NOT NULL,
    latitude   double precision NOT NULL,
    longitude  double precision NOT NULL,
    inside     boolean NOT NULL,
    site_id    text NOT NULL
);
CREATE INDEX IF NOT EXISTS last_positions_by_agency ON last_positions (agency_id, local_date);
CREATE TABLE IF NOT EXISTS sessions (
    session_id text PRIMARY KEY,
    time_zone  text NOT NULL
);
-- Leave asked for (local dates, inclusive) and whether it was granted: an
-- approved leave's workdays are not expected at work.
CREATE TABLE IF NOT EXISTS leaves (
    leave_id  text PRIMARY KEY,
    worker_id text NOT NULL,
    first_day date NOT NULL,
    last_day  date NOT NULL,
    approved  boolean NOT NULL DEFAULT false
);
CREATE INDEX IF NOT EXISTS leaves_granted ON leaves (worker_id, first_day) WHERE approved;
CREATE TABLE IF NOT EXISTS ceremony_scans (
    agency_id text NOT NULL,
    unit_id   text NOT NULL,
    month     text NOT NULL,
    scans     bigint NOT NULL,
    PRIMARY KEY (agency_id, unit_id, month)
);
";

/// What a batch's check-ins and check-outs add, merged in memory.
#[derive(Default)]
struct Presences {
    days: HashMap<(String, String), (String, String)>,
    cells: HashMap<(String, String, i32, i32, String), i32>,
    last: HashMap<String, Last>,
}

struct Last {
    agency_id: String,
    unit_id: String,
    local_date: chrono::NaiveDate,
    at: DateTime<Utc>,
    latitude: f64,
    longitude: f64,
    inside: bool,
    site_id: String,
}

impl Presences {
    fn add(&mut self, p: &Presence, check_in: bool) {
        let Some(day) = date(&p.local_date) else {
            return;
        };
        let position = p.position.as_ref();
        if check_in {
            self.days
                .entry((p.worker_id.clone(), p.local_date.clone()))
                .or_insert_with(|| (p.agency_id.clone(), p.unit_id.clone()));
            if let (Some(pos), Some(month)) = (position, month_of(&p.local_date))
                && let Some((lat, lon)) = cell_of(pos.latitude, pos.longitude)
            {
                *self
                    .cells
                    .entry((month, p.agency_id.clone(), lat, lon, p.worker_id.clone()))
                    .or_default() += 1;
            }
        }
        let (Some(pos), Some(at)) = (position, time(p.at.as_ref())) else {
            return;
        };
        if self.last.get(&p.worker_id).is_some_and(|l| l.at >= at) {
            return;
        }
        self.last.insert(
            p.worker_id.clone(),
            Last {
                agency_id: p.agency_id.clone(),
                unit_id: p.unit_id.clone(),
                local_date: day,
                at,
                latitude: pos.latitude,
                longitude: pos.longitude,
                inside: p.inside,
                site_id: p.site_id.clone(),
            },
        );
    }

    async fn write(self, conn: &mut PgConnection) -> Result<(), sqlx::Error> {
        if !self.days.is_empty() {
            let (mut w, mut d, mut a, mut u) = (vec![], vec![], vec![], vec![]);
            for ((worker, day), (agency, unit)) in self.days {
                w.push(worker);
                d.push(date(&day));
                a.push(agency);
                u.push(unit);
            }
            sqlx::query(
                "INSERT INTO present_days (worker_id, day, agency_id, unit_id)
                 SELECT * FROM UNNEST($1::text[], $2::date[], $3::text[], $4::text[])
                 ON CONFLICT DO NOTHING",
            )
            .bind(w)
            .bind(d)
            .bind(a)
            .bind(u)
            .execute(&mut *conn)
            .await?;
        }
        if !self.cells.is_empty() {
            let (mut m, mut a, mut la, mut lo, mut w, mut n) =
                (vec![], vec![], vec![], vec![], vec![], vec![]);
            for ((month, agency, lat, lon, worker), count) in self.cells {
                m.push(month);
                a.push(agency);
                la.push(lat);
                lo.push(lon);
                w.push(worker);
                n.push(count);
            }
            sqlx::query(
                "INSERT INTO cells (month, agency_id, cell_lat, cell_lon, worker_id, check_ins)
                 SELECT * FROM UNNEST($1::text[], $2::text[], $3::int[], $4::int[], $5::text[], $6::int[])
                 ON CONFLICT (month, agency_id, cell_lat, cell_lon, worker_id)
                 DO UPDATE SET check_ins = cells.check_ins + EXCLUDED.check_ins",
            )
            .bind(m)
            .bind(a)
            .bind(la)
            .bind(lo)
            .bind(w)
            .bind(n)
            .execute(&mut *conn)
            .await?;
        }
        if !self.last.is_empty() {
            let rows: Vec<(String, Last)> = self.last.into_iter().collect();
            let col = |f: fn(&(String, Last)) -> String| rows.iter().map(f).collect::<Vec<_>>();
            sqlx::query(
                "INSERT INTO last_positions AS l
                     (worker_id, agency_id, unit_id, local_date, at, latitude, longitude, inside, site_id)
                 SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::date[],
                                      $5::timestamptz[], $6::float8[], $7::float8[], $8::bool[], $9::text[])
                 ON CONFLICT (worker_id) DO UPDATE SET
                     agency_id = EXCLUDED.agency_id, unit_id = EXCLUDED.unit_id,
                     local_date = EXCLUDED.local_date, at = EXCLUDED.at,
                     latitude = EXCLUDED.latitude, longitude = EXCLUDED.longitude,
                     inside = EXCLUDED.inside, site_id = EXCLUDED.site_id
                 WHERE l.at < EXCLUDED.at",
            )
            .bind(col(|r| r.0.clone()))
            .bind(col(|r| r.1.agency_id.clone()))
            .bind(col(|r| r.1.unit_id.clone()))
            .bind(rows.iter().map(|r| r.1.local_date).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.1.at).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.1.latitude).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.1.longitude).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.1.inside).collect::<Vec<_>>())
            .bind(col(|r| r.1.site_id.clone()))
            .execute(&mut *conn)
            .await?;
        }
        Ok(())
    }
}

impl Projection for Attendance {
    fn name(&self) -> &'static str {
        SCHEMA
    }

    fn subjects(&self) -> Vec<String> {
        vec!["pantau.attendance.>".into()]
    }

    fn ddl(&self) -> &'static str {
        DDL
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
        // Check-ins add up whatever their order (a later position wins by
        // its time), so they are merged and written last.
        let mut presences = Presences::default();
        for r in events {
            let e = AttendanceEvent::decode(r.payload.as_ref())
                .map_err(|_| poison(r))?
                .event
                .ok_or_else(|| poison(r))?;
            match e {
                T::CheckedIn(c) => {
                    if let Some(p) = &c.presence {
                        presences.add(p, true);
                    }
                }
                T::CheckedOut(c) => {
                    if let Some(p) = &c.presence {
                        presences.add(p, false);
                    }
                }
                T::ScheduleSet(s) => {
                    let days: Vec<i32> = s
                        .work_days
                        .iter()
                        .filter_map(|d| i32::try_from(*d).ok())
                        .filter(|d| (1..=7).contains(d))
                        .collect();
                    sqlx::query(
                        "INSERT INTO schedules (agency_id, work_days) VALUES ($1, $2)
                         ON CONFLICT (agency_id) DO UPDATE SET work_days = $2",
                    )
                    .bind(&s.agency_id)
                    .bind(if days.is_empty() {
                        vec![1, 2, 3, 4, 5]
                    } else {
                        days
                    })
                    .execute(&mut *conn)
                    .await?;
                }
                T::LeaveRequested(l) => {
                    let (Some(first), Some(last)) = (date(&l.first_day), date(&l.last_day)) else {
                        continue;
                    };
                    sqlx::query(
                        "INSERT INTO leaves (leave_id, worker_id, first_day, last_day)
                         VALUES ($1, $2, $3, $4) ON CONFLICT (leave_id) DO NOTHING",
                    )
                    .bind(&l.leave_id)
                    .bind(&l.worker_id)
                    .bind(first)
                    .bind(last)
                    .execute(&mut *conn)
                    .await?;
                }
                T::LeaveApproved(l) => {
                    sqlx::query("UPDATE leaves SET approved = true WHERE leave_id = $1")
                        .bind(&l.leave_id)
                        .execute(&mut *conn)
                        .await?;
                }
                T::LeaveRejected(l) => {
                    sqlx::query("UPDATE leaves SET approved = false WHERE leave_id = $1")
                        .bind(&l.leave_id)
                        .execute(&mut *conn)
                        .await?;
                }
                T::SessionOpened(s) => {
                    sqlx::query(
                        "INSERT INTO sessions (session_id, time_zone) VALUES ($1, $2)
                         ON CONFLICT (session_id) DO NOTHING",
                    )
                    .bind(&s.session_id)
                    .bind(&s.time_zone)
                    .execute(&mut *conn)
                    .await?;
                }
                T::ScanAccepted(s) => {
                    let tz: Option<String> =
                        sqlx::query_scalar("SELECT time_zone FROM sessions WHERE session_id = $1")
                            .bind(&s.session_id)
                            .fetch_optional(&mut *conn)
                            .await?;
                    let tz: Tz = tz
                        .and_then(|t| t.parse().ok())
                        .unwrap_or(chrono_tz::Asia::Jakarta);
                    let Some(at) = time(s.scan.as_ref().and_then(|x| x.scanned_at.as_ref())) else {
                        continue;
                    };
                    let month = at.with_timezone(&tz).format("%Y-%m").to_string();
                    sqlx::query(
                        "INSERT INTO ceremony_scans (agency_id, unit_id, month, scans) VALUES ($1, $2, $3, 1)
                         ON CONFLICT (agency_id, unit_id, month) DO UPDATE SET scans = ceremony_scans.scans + 1",
                    )
                    .bind(&s.agency_id)
                    .bind(&s.unit_id)
                    .bind(month)
                    .execute(&mut *conn)
                    .await?;
                }
                _ => {}
            }
        }
        presences.write(conn).await?;
        Ok(())
    }
}
