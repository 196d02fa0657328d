//! The attendance read model (schema `attendance_read`), projected from the
//! PANTAU_ATTENDANCE stream: every check-in with its position (for maps),
//! one row per worker and local day (first in, last out, lateness), leave
//! requests, sessions as opened (what each scanner may scan for) and every
//! scan's verdict (for audit). A check-in retried under the same request id
//! is stored once, whenever the retry comes.

use pantau_eventstore::RecordedEvent;
use pantau_projection::{Projection, ProjectionError};
use pantau_proto::events::v1::{self as ev, AttendanceEvent, attendance_event::Event};
use prost::Message;
use sqlx::PgConnection;

use crate::domain::time::from_timestamp;

pub const SCHEMA: &str = "attendance_read";

pub struct AttendanceReadModel;

const DDL: &str = r"
CREATE TABLE IF NOT EXISTS presence (
    worker_id      text NOT NULL,
    request_id     text NOT NULL,
    seq            bigint NOT NULL,
    kind           smallint NOT NULL,
    at             timestamptz NOT NULL,
    local_date     date NOT NULL,
    local_minute   integer NOT NULL,
    agency_id      text NOT NULL,
    unit_id        text NOT NULL,
    latitude       double precision NOT NULL,
    longitude      double precision NOT NULL,
    accuracy_m     real NOT NULL,
    inside         boolean NOT NULL,
    site_id        text NOT NULL,
    distance_m     integer NOT NULL,
    judged_against smallint NOT NULL,
    late_minutes   integer NOT NULL,
    PRIMARY KEY (worker_id, request_id)
);
CREATE INDEX IF NOT EXISTS presence_by_agency_day ON presence (agency_id, local_date);
CREATE TABLE IF NOT EXISTS daily (
    worker_id    text NOT NULL,
    local_date   date NOT NULL,
    agency_id    text NOT NULL,
    unit_id      text NOT NULL,
    first_in     integer,
    last_in      integer,
    last_out     integer,
    late_minutes integer NOT NULL DEFAULT 0,
    check_ins    integer NOT NULL DEFAULT 0,
    outside      integer NOT NULL DEFAULT 0,
    PRIMARY KEY (worker_id, local_date)
);
CREATE INDEX IF NOT EXISTS daily_by_agency ON daily (agency_id, local_date);
CREATE TABLE IF NOT EXISTS leave (
    leave_id     text PRIMARY KEY,
    worker_id    text NOT NULL,
    agency_id    text NOT NULL,
    unit_id      text NOT NULL,
    kind         smallint NOT NULL,
    first_day    date NOT NULL,
    last_day     date NOT NULL,
    status       smallint NOT NULL,
    reason       text NOT NULL,
    document_ref text NOT NULL,
    destination  text NOT NULL,
    decided_by   text NOT NULL DEFAULT '',
    note         text NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS leave_by_worker ON leave (worker_id);
CREATE INDEX IF NOT EXISTS leave_by_agency ON leave (agency_id, first_day);
CREATE TABLE IF NOT EXISTS scans (
    session_id text NOT NULL,
    scanner_id text NOT NULL,
    device_seq bigint NOT NULL,
    accepted   boolean NOT NULL,
    reason     smallint NOT NULL,
    worker_id  text NOT NULL,
    scanned_at timestamptz,
    seq        bigint NOT NULL,
    PRIMARY KEY (session_id, scanner_id, device_seq)
);
-- Sessions as opened: what a scanner may scan for. Invitations are
-- (invited_agencies[i], invited_units[i]); an empty unit is the whole agency.
CREATE TABLE IF NOT EXISTS sessions (
    session_id       text PRIMARY KEY,
    title            text NOT NULL,
    place            text NOT NULL,
    starts_at        timestamptz NOT NULL,
    ends_at          timestamptz NOT NULL,
    time_zone        text NOT NULL,
    invited_agencies text[] NOT NULL,
    invited_units    text[] NOT NULL,
    scanner_ids      text[] NOT NULL
);
CREATE INDEX IF NOT EXISTS sessions_by_scanner ON sessions USING gin (scanner_ids);
";

/// Leave status codes in the `leave` table (the API's LeaveStatus numbers).
pub const LEAVE_REQUESTED: i16 = 1;
pub const LEAVE_APPROVED: i16 = 2;
pub const LEAVE_REJECTED: i16 = 3;

impl Projection for AttendanceReadModel {
    fn name(&self) -> &'static str {
        SCHEMA
    }

    /// The whole stream, though only check-ins, leave and scans change it:
    /// a query waits for the checkpoint to reach the stream's last sequence
    /// (read your writes), which a filtered consumer never would when the
    /// last event is, say, a reissued credential.
    fn subjects(&self) -> Vec<String> {
        vec!["pantau.attendance.>".into()]
    }

    fn ddl(&self) -> &'static str {
        DDL
    }

    /// Every table is keyed by the aggregate whose subject carries the
    /// event (presence and days by worker, leave by leave, scans and
    /// sessions by session), and no event reads another aggregate's rows:
    /// check-ins can be applied in partitions, side by side.
    fn partitionable(&self) -> bool {
        true
    }

    async fn apply(
        &self,
        conn: &mut PgConnection,
        r: &RecordedEvent,
    ) -> Result<(), ProjectionError> {
        let event = AttendanceEvent::decode(r.payload.as_ref())
            .map_err(|e| ProjectionError::Poison(format!("undecodable: {e}")))?
            .event
            .ok_or_else(|| ProjectionError::Poison("empty event".into()))?;
        match event {
            Event::CheckedIn(_) | Event::CheckedOut(_) => {
                let mut rows = PresenceRows::default();
                rows.push(r, &event)?;
                rows.write(conn).await
            }
            Event::SessionOpened(o) => session_opened(conn, o).await,
            Event::LeaveRequested(l) => leave_requested(conn, l).await,
            Event::LeaveApproved(d) => {
                leave_decided(conn, &d.leave_id, LEAVE_APPROVED, &d.decided_by, "").await
            }
            Event::LeaveRejected(d) => {
                leave_decided(conn, &d.leave_id, LEAVE_REJECTED, &d.decided_by, &d.note).await
            }
            Event::ScanAccepted(a) => {
                scan(
                    conn,
                    r,
                    &a.session_id,
                    a.scan.as_ref(),
                    true,
                    0,
                    &a.worker_id,
                )
                .await
            }
            Event::ScanRejected(x) => {
                let reason = i16::try_from(x.reason).unwrap_or(0);
                scan(
                    conn,
                    r,
                    &x.session_id,
                    x.scan.as_ref(),
                    false,
                    reason,
                    &x.worker_id,
                )
                .await
            }
            _ => Ok(()),
        }
    }

    /// Check-ins arrive by the thousand around 07:30: they are written with
    /// two statements per batch (presence rows, then the daily rows they
    /// change), everything else event by event. Presence and the other
    /// tables are independent, so the order between them does not matter.
    async fn apply_all(
        &self,
        conn: &mut PgConnection,
        events: &[RecordedEvent],
    ) -> Result<(), ProjectionError> {
        let mut rows = PresenceRows::default();
        for r in events {
            if matches!(r.event_type.as_str(), "CheckedIn" | "CheckedOut") {
                let event = AttendanceEvent::decode(r.payload.as_ref())
                    .map_err(|e| ProjectionError::Poison(format!("undecodable: {e}")))?
                    .event
                    .ok_or_else(|| ProjectionError::Poison("empty event".into()))?;
                rows.push(r, &event)?;
            } else {
                self.apply(conn, r).await?;
            }
        }
        rows.write(conn).await
    }
}

/// Check-ins and check-outs, column by column, for one bulk write.
#[derive(Default)]
struct PresenceRows {
    worker_id: Vec<String>,
    request_id: Vec<String>,
    seq: Vec<i64>,
    kind: Vec<i16>,
    at: Vec<chrono::DateTime<chrono::Utc>>,
    local_date: Vec<chrono::NaiveDate>,
    local_minute: Vec<i32>,
    agency_id: Vec<String>,
    unit_id: Vec<String>,
    latitude: Vec<f64>,
    longitude: Vec<f64>,
    accuracy_m: Vec<f32>,
    inside: Vec<bool>,
    site_id: Vec<String>,
    distance_m: Vec<i32>,
    judged_against: Vec<i16>,
    late_minutes: Vec<i32>,
}

impl PresenceRows {
    fn push(&mut self, r: &RecordedEvent, event: &Event) -> Result<(), ProjectionError> {
        let (kind, p) = match event {
            Event::CheckedIn(c) => (1, c.presence.as_ref()),
            Event::CheckedOut(c) => (2, c.presence.as_ref()),
            _ => return Ok(()),
        };
        let p = p.ok_or_else(|| ProjectionError::Poison("presence missing".into()))?;
        let local_date: chrono::NaiveDate = p
            .local_date
            .parse()
            .map_err(|_| ProjectionError::Poison(format!("bad local_date {}", p.local_date)))?;
        let pos = p.position.unwrap_or_default();
        self.worker_id.push(p.worker_id.clone());
        self.request_id
            .push(r.request_id.clone().unwrap_or_else(|| r.event_id.clone()));
        self.seq.push(i64::try_from(r.sequence).unwrap_or(i64::MAX));
        self.kind.push(kind);
        self.at.push(
            p.at.as_ref()
                .and_then(from_timestamp)
                .unwrap_or(r.stored_at),
        );
        self.local_date.push(local_date);
        self.local_minute
            .push(i32::try_from(p.local_minute).unwrap_or(0));
        self.agency_id.push(p.agency_id.clone());
        self.unit_id.push(p.unit_id.clone());
        self.latitude.push(pos.latitude);
        self.longitude.push(pos.longitude);
        self.accuracy_m.push(p.accuracy_m);
        self.inside.push(p.inside);
        self.site_id.push(p.site_id.clone());
        self.distance_m
            .push(i32::try_from(p.distance_m).unwrap_or(i32::MAX));
        self.judged_against
            .push(i16::try_from(p.judged_against).unwrap_or(0));
        self.late_minutes
            .push(i32::try_from(p.late_minutes).unwrap_or(0));
        Ok(())
    }

    /// Inserts the presence rows not seen before (a retried request id is
    /// stored once) and folds exactly those into the daily rows.
    async fn write(self, conn: &mut PgConnection) -> Result<(), ProjectionError> {
        if self.worker_id.is_empty() {
            return Ok(());
        }
        sqlx::query(
            r"WITH incoming AS (
                SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::smallint[],
                    $5::timestamptz[], $6::date[], $7::int[], $8::text[], $9::text[],
                    $10::float8[], $11::float8[], $12::real[], $13::bool[], $14::text[],
                    $15::int[], $16::smallint[], $17::int[])
                AS r(worker_id, request_id, seq, kind, at, local_date, local_minute,
                    agency_id, unit_id, latitude, longitude, accuracy_m, inside, site_id,
                    distance_m, judged_against, late_minutes)
            ),
            ins AS (
                INSERT INTO presence (worker_id, request_id, seq, kind, at, local_date,
                    local_minute, agency_id, unit_id, latitude, longitude, accuracy_m, inside,
                    site_id, distance_m, judged_against, late_minutes)
                SELECT DISTINCT ON (worker_id, request_id) * FROM incoming
                ORDER BY worker_id, request_id, seq
                ON CONFLICT DO NOTHING
                RETURNING worker_id, seq, kind, local_date, local_minute, agency_id, unit_id,
                    inside, late_minutes
            ),
            days AS (
                SELECT worker_id, local_date,
                    (array_agg(agency_id ORDER BY seq DESC))[1] AS agency_id,
                    (array_agg(unit_id ORDER BY seq DESC))[1] AS unit_id,
                    min(local_minute) FILTER (WHERE kind = 1) AS first_in,
                    max(local_minute) FILTER (WHERE kind = 1) AS last_in,
                    max(local_minute) FILTER (WHERE kind = 2) AS last_out,
                    coalesce((array_agg(late_minutes ORDER BY local_minute)
                        FILTER (WHERE kind = 1))[1], 0) AS late_minutes,
                    count(*) FILTER (WHERE kind = 1) AS check_ins,
                    count(*) FILTER (WHERE kind = 1 AND NOT inside) AS outside
                FROM ins GROUP BY worker_id, local_date
            )
            INSERT INTO daily AS d (worker_id, local_date, agency_id, unit_id, first_in,
                last_in, last_out, late_minutes, check_ins, outside)
            SELECT worker_id, local_date, agency_id, unit_id, first_in, last_in, last_out,
                late_minutes, check_ins, outside FROM days
            ON CONFLICT (worker_id, local_date) DO UPDATE SET
                late_minutes = CASE
                    WHEN EXCLUDED.first_in IS NOT NULL
                        AND (d.first_in IS NULL OR EXCLUDED.first_in < d.first_in)
                    THEN EXCLUDED.late_minutes ELSE d.late_minutes END,
                first_in = LEAST(d.first_in, EXCLUDED.first_in),
                last_in = GREATEST(d.last_in, EXCLUDED.last_in),
                last_out = GREATEST(d.last_out, EXCLUDED.last_out),
                agency_id = EXCLUDED.agency_id,
                unit_id = EXCLUDED.unit_id,
                check_ins = d.check_ins + EXCLUDED.check_ins,
                outside = d.outside + EXCLUDED.outside",
        )
        .bind(self.worker_id)
        .bind(self.request_id)
        .bind(self.seq)
        .bind(self.kind)
        .bind(self.at)
        .bind(self.local_date)
        .bind(self.local_minute)
        .bind(self.agency_id)
        .bind(self.unit_id)
        .bind(self.latitude)
        .bind(self.longitude)
        .bind(self.accuracy_m)
        .bind(self.inside)
        .bind(self.site_id)
        .bind(self.distance_m)
        .bind(self.judged_against)
        .bind(self.late_minutes)
        .execute(conn)
        .await?;
        Ok(())
    }
}

async fn session_opened(
    conn: &mut PgConnection,
    o: ev::SessionOpened,
) -> Result<(), ProjectionError> {
    let at = |t: Option<&ev::Timestamp>, what: &str| {
        t.and_then(from_timestamp).ok_or_else(|| {
            ProjectionError::Poison(format!("session {} has no {what}", o.session_id))
        })
    };
    let (agencies, units): (Vec<_>, Vec<_>) = o
        .invited
        .iter()
        .map(|i| (i.agency_id.as_str(), i.unit_id.as_str()))
        .unzip();
    sqlx::query(
        r"INSERT INTO sessions (session_id, title, place, starts_at, ends_at, time_zone,
            invited_agencies, invited_units, scanner_ids)
          VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
          ON CONFLICT (session_id) DO NOTHING",
    )
    .bind(&o.session_id)
    .bind(&o.title)
    .bind(&o.place)
    .bind(at(o.starts_at.as_ref(), "start")?)
    .bind(at(o.ends_at.as_ref(), "end")?)
    .bind(&o.time_zone)
    .bind(agencies)
    .bind(units)
    .bind(&o.scanner_ids)
    .execute(conn)
    .await?;
    Ok(())
}

async fn leave_requested(
    conn: &mut PgConnection,
    l: ev::LeaveRequested,
) -> Result<(), ProjectionError> {
    let day = |s: &str| {
        s.parse::<chrono::NaiveDate>()
            .map_err(|_| ProjectionError::Poison(format!("bad leave day {s}")))
    };
    sqlx::query(
        r"INSERT INTO leave (leave_id, worker_id, agency_id, unit_id, kind, first_day, last_day,
            status, reason, document_ref, destination)
          VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
          ON CONFLICT (leave_id) DO NOTHING",
    )
    .bind(&l.leave_id)
    .bind(&l.worker_id)
    .bind(&l.agency_id)
    .bind(&l.unit_id)
    .bind(i16::try_from(l.kind).unwrap_or(0))
    .bind(day(&l.first_day)?)
    .bind(day(&l.last_day)?)
    .bind(LEAVE_REQUESTED)
    .bind(&l.reason)
    .bind(&l.document_ref)
    .bind(l.destination.map(|d| d.name).unwrap_or_default())
    .execute(conn)
    .await?;
    Ok(())
}

async fn leave_decided(
    conn: &mut PgConnection,
    leave_id: &str,
    status: i16,
    by: &str,
    note: &str,
) -> Result<(), ProjectionError> {
    sqlx::query("UPDATE leave SET status = $2, decided_by = $3, note = $4 WHERE leave_id = $1")
        .bind(leave_id)
        .bind(status)
        .bind(by)
        .bind(note)
        .execute(conn)
        .await?;
    Ok(())
}

async fn scan(
    conn: &mut PgConnection,
    r: &RecordedEvent,
    session_id: &str,
    report: Option<&ev::ScanReport>,
    accepted: bool,
    reason: i16,
    worker_id: &str,
) -> Result<(), ProjectionError> {
    let report = report.cloned().unwrap_or_default();
    sqlx::query(
        r"INSERT INTO scans (session_id, scanner_id, device_seq, accepted, reason, worker_id,
            scanned_at, seq)
          VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
          ON CONFLICT DO NOTHING",
    )
    .bind(session_id)
    .bind(&report.scanner_id)
    .bind(i64::try_from(report.device_seq).unwrap_or(i64::MAX))
    .bind(accepted)
    .bind(reason)
    .bind(worker_id)
    .bind(report.scanned_at.as_ref().and_then(from_timestamp))
    .bind(i64::try_from(r.sequence).unwrap_or(i64::MAX))
    .execute(conn)
    .await?;
    Ok(())
}
