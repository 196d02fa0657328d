//! The activity read model (schema `activity_read`), projected from the
//! PANTAU_ACTIVITY stream: catalog versions, one row per report (its current
//! details and review status), duplicate-work flags and monthly behaviour
//! ratings, plus the queries the gRPC adapter answers from them.
//!
//! Every write is idempotent: rows are keyed by what the events name
//! (ON CONFLICT), and a change to an existing report or rating is guarded by
//! the stream sequence of the last event that changed it (`last_seq < $seq`),
//! so an event applied twice changes nothing the second time.

use chrono::{DateTime, NaiveDate, Utc};
use pantau_eventstore::RecordedEvent;
use pantau_projection::{Projection, ProjectionError};
use pantau_proto::activity::v1 as api;
use pantau_proto::events::v1::{self as ev, activity_event::Event};
use sqlx::PgConnection;

use crate::core::decode_payload;

pub const SCHEMA: &str = "activity_read";

pub struct ActivityReadModel;

/// Report status codes in the `reports` table (the API's ReportStatus numbers).
pub const SUBMITTED: i16 = api::ReportStatus::Submitted as i16;
pub const APPROVED: i16 = api::ReportStatus::Approved as i16;
pub const REJECTED: i16 = api::ReportStatus::Rejected as i16;
pub const RETURNED: i16 = api::ReportStatus::Returned as i16;

/// Two positions closer than this are the same site.
pub const SAME_SITE_RADIUS_M: f64 = 50.0;

// The status numbers are spelled out in the partial indexes and queries
// below (1 submitted, 2 approved, 3 rejected).
const DDL: &str = r"
CREATE TABLE IF NOT EXISTS catalog (
    scope_agency_id   text NOT NULL,
    version           bigint NOT NULL,
    code              text NOT NULL,
    name              text NOT NULL,
    unit              text NOT NULL,
    photo_required    boolean NOT NULL,
    location_required boolean NOT NULL,
    effective_from    date NOT NULL,
    seq               bigint NOT NULL,
    PRIMARY KEY (scope_agency_id, version, code)
);
CREATE TABLE IF NOT EXISTS reports (
    report_id         text PRIMARY KEY,
    worker_id         text NOT NULL,
    agency_id         text NOT NULL,
    unit_id           text NOT NULL,
    local_date        date NOT NULL,
    code              text NOT NULL,
    catalog_agency_id text NOT NULL,
    catalog_version   bigint NOT NULL,
    unit              text NOT NULL,
    quantity          double precision NOT NULL,
    start_minute      integer NOT NULL,
    end_minute        integer NOT NULL,
    description       text NOT NULL,
    latitude          double precision,
    longitude         double precision,
    site_id           text NOT NULL,
    evidence_kinds    smallint[] NOT NULL,
    evidence_refs     text[] NOT NULL,
    status            smallint NOT NULL,
    reported_by       text NOT NULL,
    on_behalf         boolean NOT NULL,
    reported_at       timestamptz NOT NULL,
    pending_since     timestamptz NOT NULL,
    reviewer          text NOT NULL DEFAULT '',
    review_note       text NOT NULL DEFAULT '',
    reviewed_at       timestamptz,
    supervisor_id     text NOT NULL,
    details_seq       bigint NOT NULL,
    last_seq          bigint NOT NULL
);
CREATE INDEX IF NOT EXISTS reports_by_worker ON reports (worker_id, local_date, start_minute);
CREATE INDEX IF NOT EXISTS reports_by_agency ON reports (agency_id, local_date, code);
-- The duplicate detector's lookups: the same task at the same site id, or
-- in the same cell of a 0.0005-degree grid (about 55 m a side).
CREATE INDEX IF NOT EXISTS reports_by_site ON reports (agency_id, local_date, code, site_id)
    WHERE site_id <> '';
CREATE INDEX IF NOT EXISTS reports_by_cell ON reports (agency_id, local_date, code,
    (floor(latitude * 2000)::int), (floor(longitude * 2000)::int))
    WHERE latitude IS NOT NULL;
CREATE INDEX IF NOT EXISTS reports_pending_by_supervisor
    ON reports (supervisor_id, pending_since, report_id) WHERE status = 1;
CREATE INDEX IF NOT EXISTS reports_pending_by_agency
    ON reports (agency_id, pending_since, report_id) WHERE status = 1;
CREATE TABLE IF NOT EXISTS flags (
    report_id       text NOT NULL,
    other_report_id text NOT NULL,
    worker_id       text NOT NULL,
    other_worker_id text NOT NULL,
    agency_id       text NOT NULL,
    local_date      date,
    code            text NOT NULL,
    site_id         text NOT NULL,
    overlap_minutes integer NOT NULL,
    seq             bigint NOT NULL,
    PRIMARY KEY (report_id, other_report_id)
);
CREATE INDEX IF NOT EXISTS flags_by_other ON flags (other_report_id);
CREATE TABLE IF NOT EXISTS ratings (
    worker_id              text NOT NULL,
    month                  text NOT NULL,
    agency_id              text NOT NULL,
    unit_id                text NOT NULL,
    berorientasi_pelayanan smallint NOT NULL,
    akuntabel              smallint NOT NULL,
    kompeten               smallint NOT NULL,
    harmonis               smallint NOT NULL,
    loyal                  smallint NOT NULL,
    adaptif                smallint NOT NULL,
    kolaboratif            smallint NOT NULL,
    note                   text NOT NULL,
    rated_by               text NOT NULL,
    rated_at               timestamptz NOT NULL,
    last_seq               bigint NOT NULL,
    PRIMARY KEY (worker_id, month)
);
CREATE INDEX IF NOT EXISTS ratings_by_agency ON ratings (agency_id, month);
";

impl Projection for ActivityReadModel {
    fn name(&self) -> &'static str {
        SCHEMA
    }

    /// The whole stream, though catalogs, reports, flags and ratings are all
    /// that change it: a query waits for the checkpoint to reach the
    /// stream's last sequence (read your writes).
    fn subjects(&self) -> Vec<String> {
        vec!["pantau.activity.>".into()]
    }

    fn ddl(&self) -> &'static str {
        DDL
    }

    async fn apply(
        &self,
        conn: &mut PgConnection,
        r: &RecordedEvent,
    ) -> Result<(), ProjectionError> {
        let event = decode(r)?;
        apply_event(conn, r, event).await
    }

    /// Reports and approvals arrive by the thousand: consecutive ones are
    /// written with one statement each (all reports, then all approvals,
    /// which always follow their report in the stream). Any other event
    /// first flushes what is buffered, then is applied alone, so every
    /// event sees the effects of all the events before it.
    async fn apply_all(
        &self,
        conn: &mut PgConnection,
        events: &[RecordedEvent],
    ) -> Result<(), ProjectionError> {
        let mut batch = Batch::default();
        for r in events {
            match decode(r)? {
                Event::ActivityReported(a) => batch.reports.push(r, &a)?,
                Event::ActivityApproved(a) => batch.approvals.push(r, &a),
                other => {
                    batch.flush(conn).await?;
                    apply_event(conn, r, other).await?;
                }
            }
        }
        batch.flush(conn).await
    }
}

fn decode(r: &RecordedEvent) -> Result<Event, ProjectionError> {
    decode_payload(r.payload.as_ref()).ok_or_else(|| {
        ProjectionError::Poison(format!(
            "undecodable or empty activity event at seq {}",
            r.sequence
        ))
    })
}

fn seq(r: &RecordedEvent) -> i64 {
    i64::try_from(r.sequence).unwrap_or(i64::MAX)
}

fn parse_date(s: &str, what: &str) -> Result<NaiveDate, ProjectionError> {
    s.parse()
        .map_err(|_| ProjectionError::Poison(format!("bad {what} {s:?}")))
}

fn from_timestamp(t: Option<&ev::Timestamp>, fallback: DateTime<Utc>) -> DateTime<Utc> {
    t.and_then(|t| DateTime::from_timestamp(t.seconds, u32::try_from(t.nanos).ok()?))
        .unwrap_or(fallback)
}

pub use crate::domain::time::{format_time as hhmm, timestamp};

/// Great-circle distance in metres between two (latitude, longitude)
/// positions in degrees (haversine).
pub fn distance_m(a: (f64, f64), b: (f64, f64)) -> f64 {
    const EARTH_RADIUS_M: f64 = 6_371_000.0;
    let (lat1, lat2) = (a.0.to_radians(), b.0.to_radians());
    let dlat = lat2 - lat1;
    let dlon = (b.1 - a.1).to_radians();
    let h = (dlat / 2.0).sin().powi(2) + lat1.cos() * lat2.cos() * (dlon / 2.0).sin().powi(2);
    2.0 * EARTH_RADIUS_M * h.sqrt().min(1.0).asin()
}

/// Minutes two time ranges share (0 when they do not overlap).
pub fn overlap_minutes(a: (u32, u32), b: (u32, u32)) -> u32 {
    a.1.min(b.1).saturating_sub(a.0.max(b.0))
}

/// Whether two reports were at the same site: the same non-empty site id,
/// or both positioned within [`SAME_SITE_RADIUS_M`] of each other.
pub fn same_site(
    site_a: &str,
    pos_a: Option<(f64, f64)>,
    site_b: &str,
    pos_b: Option<(f64, f64)>,
) -> bool {
    (!site_a.is_empty() && site_a == site_b)
        || matches!((pos_a, pos_b), (Some(a), Some(b)) if distance_m(a, b) <= SAME_SITE_RADIUS_M)
}

/// The stored position of a location: none without one, and none for
/// (0, 0), which is what a location carrying only a site id decodes to.
fn position(loc: Option<&ev::ActivityLocation>) -> Option<(f64, f64)> {
    loc.map(|l| (l.latitude, l.longitude))
        .filter(|&(lat, lon)| lat != 0.0 || lon != 0.0)
}

/// An ActivityDetails as columns.
struct Details {
    code: String,
    catalog_agency_id: String,
    catalog_version: i64,
    unit: String,
    quantity: f64,
    start_minute: i32,
    end_minute: i32,
    description: String,
    latitude: Option<f64>,
    longitude: Option<f64>,
    site_id: String,
    evidence_kinds: Vec<i16>,
    evidence_refs: Vec<String>,
}

impl Details {
    fn of(d: &ev::ActivityDetails) -> Self {
        let pos = position(d.location.as_ref());
        Self {
            code: d.code.clone(),
            catalog_agency_id: d.catalog_agency_id.clone(),
            catalog_version: i64::from(d.catalog_version),
            unit: d.unit.clone(),
            quantity: d.quantity,
            start_minute: i32::try_from(d.start_minute).unwrap_or(i32::MAX),
            end_minute: i32::try_from(d.end_minute).unwrap_or(i32::MAX),
            description: d.description.clone(),
            latitude: pos.map(|p| p.0),
            longitude: pos.map(|p| p.1),
            site_id: d
                .location
                .as_ref()
                .map(|l| l.site_id.clone())
                .unwrap_or_default(),
            evidence_kinds: d
                .evidence
                .iter()
                .map(|e| i16::try_from(e.kind).unwrap_or(0))
                .collect(),
            evidence_refs: d.evidence.iter().map(|e| e.r#ref.clone()).collect(),
        }
    }
}

/// Reports and approvals waiting for their bulk statements.
#[derive(Default)]
struct Batch {
    reports: ReportRows,
    approvals: ApprovalRows,
}

impl Batch {
    async fn flush(&mut self, conn: &mut PgConnection) -> Result<(), ProjectionError> {
        std::mem::take(&mut self.reports).write(conn).await?;
        std::mem::take(&mut self.approvals).write(conn).await
    }
}

/// New reports, column by column, for one bulk insert. Each report's
/// evidence is a slice `[ev_from, ev_from + ev_len)` of the flat
/// `ev_kind`/`ev_ref` arrays (PostgreSQL has no ragged arrays to unnest).
#[derive(Default)]
struct ReportRows {
    report_id: Vec<String>,
    worker_id: Vec<String>,
    agency_id: Vec<String>,
    unit_id: Vec<String>,
    local_date: Vec<NaiveDate>,
    code: Vec<String>,
    catalog_agency_id: Vec<String>,
    catalog_version: Vec<i64>,
    unit: Vec<String>,
    quantity: Vec<f64>,
    start_minute: Vec<i32>,
    end_minute: Vec<i32>,
    description: Vec<String>,
    latitude: Vec<Option<f64>>,
    longitude: Vec<Option<f64>>,
    site_id: Vec<String>,
    ev_from: Vec<i32>,
    ev_len: Vec<i32>,
    reported_by: Vec<String>,
    on_behalf: Vec<bool>,
    reported_at: Vec<DateTime<Utc>>,
    supervisor_id: Vec<String>,
    seq: Vec<i64>,
    ev_kind: Vec<i16>,
    ev_ref: Vec<String>,
}

impl ReportRows {
    fn push(&mut self, r: &RecordedEvent, a: &ev::ActivityReported) -> Result<(), ProjectionError> {
        let d = Details::of(
            a.details
                .as_ref()
                .ok_or_else(|| ProjectionError::Poison("report details missing".into()))?,
        );
        self.local_date
            .push(parse_date(&a.local_date, "local_date")?);
        self.report_id.push(a.report_id.clone());
        self.worker_id.push(a.worker_id.clone());
        self.agency_id.push(a.agency_id.clone());
        self.unit_id.push(a.unit_id.clone());
        self.code.push(d.code);
        self.catalog_agency_id.push(d.catalog_agency_id);
        self.catalog_version.push(d.catalog_version);
        self.unit.push(d.unit);
        self.quantity.push(d.quantity);
        self.start_minute.push(d.start_minute);
        self.end_minute.push(d.end_minute);
        self.description.push(d.description);
        self.latitude.push(d.latitude);
        self.longitude.push(d.longitude);
        self.site_id.push(d.site_id);
        // PostgreSQL arrays are 1-based.
        self.ev_from
            .push(i32::try_from(self.ev_ref.len() + 1).unwrap_or(i32::MAX));
        self.ev_len
            .push(i32::try_from(d.evidence_refs.len()).unwrap_or(0));
        self.ev_kind.extend(d.evidence_kinds);
        self.ev_ref.extend(d.evidence_refs);
        self.reported_by.push(a.reported_by.clone());
        self.on_behalf.push(a.on_behalf);
        self.reported_at
            .push(from_timestamp(a.reported_at.as_ref(), r.stored_at));
        self.supervisor_id.push(a.supervisor_id.clone());
        self.seq.push(seq(r));
        Ok(())
    }

    /// Inserts the reports not stored yet (a redelivered report, or one
    /// amended or reviewed since, is left as it is).
    async fn write(self, conn: &mut PgConnection) -> Result<(), ProjectionError> {
        if self.report_id.is_empty() {
            return Ok(());
        }
        sqlx::query(
            r"INSERT INTO reports (report_id, worker_id, agency_id, unit_id, local_date, code,
                catalog_agency_id, catalog_version, unit, quantity, start_minute, end_minute,
                description, latitude, longitude, site_id, evidence_kinds, evidence_refs, status,
                reported_by, on_behalf, reported_at, pending_since, supervisor_id, details_seq,
                last_seq)
            SELECT DISTINCT ON (r.report_id) r.report_id, r.worker_id, r.agency_id, r.unit_id,
                r.local_date, r.code, r.catalog_agency_id, r.catalog_version, r.unit, r.quantity,
                r.start_minute, r.end_minute, r.description, r.latitude, r.longitude, r.site_id,
                ($24::smallint[])[r.ev_from : r.ev_from + r.ev_len - 1],
                ($25::text[])[r.ev_from : r.ev_from + r.ev_len - 1],
                1, r.reported_by, r.on_behalf, r.reported_at, r.reported_at, r.supervisor_id,
                r.seq, r.seq
            FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::date[], $6::text[],
                $7::text[], $8::bigint[], $9::text[], $10::float8[], $11::int[], $12::int[],
                $13::text[], $14::float8[], $15::float8[], $16::text[], $17::int[], $18::int[],
                $19::text[], $20::bool[], $21::timestamptz[], $22::text[], $23::bigint[])
            AS r(report_id, worker_id, agency_id, unit_id, local_date, code, catalog_agency_id,
                catalog_version, unit, quantity, start_minute, end_minute, description, latitude,
                longitude, site_id, ev_from, ev_len, reported_by, on_behalf, reported_at,
                supervisor_id, seq)
            ORDER BY r.report_id, r.seq
            ON CONFLICT (report_id) DO NOTHING",
        )
        .bind(self.report_id)
        .bind(self.worker_id)
        .bind(self.agency_id)
        .bind(self.unit_id)
        .bind(self.local_date)
        .bind(self.code)
        .bind(self.catalog_agency_id)
        .bind(self.catalog_version)
        .bind(self.unit)
        .bind(self.quantity)
        .bind(self.start_minute)
        .bind(self.end_minute)
        .bind(self.description)
        .bind(self.latitude)
        .bind(self.longitude)
        .bind(self.site_id)
        .bind(self.ev_from)
        .bind(self.ev_len)
        .bind(self.reported_by)
        .bind(self.on_behalf)
        .bind(self.reported_at)
        .bind(self.supervisor_id)
        .bind(self.seq)
        .bind(self.ev_kind)
        .bind(self.ev_ref)
        .execute(conn)
        .await?;
        Ok(())
    }
}

/// Approvals, column by column, for one bulk update.
#[derive(Default)]
struct ApprovalRows {
    report_id: Vec<String>,
    reviewer: Vec<String>,
    at: Vec<DateTime<Utc>>,
    seq: Vec<i64>,
}

impl ApprovalRows {
    fn push(&mut self, r: &RecordedEvent, a: &ev::ActivityApproved) {
        self.report_id.push(a.report_id.clone());
        self.reviewer.push(a.reviewer.clone());
        self.at.push(from_timestamp(a.at.as_ref(), r.stored_at));
        self.seq.push(seq(r));
    }

    async fn write(self, conn: &mut PgConnection) -> Result<(), ProjectionError> {
        if self.report_id.is_empty() {
            return Ok(());
        }
        sqlx::query(
            r"UPDATE reports AS t
            SET status = 2, reviewer = a.reviewer, review_note = '', reviewed_at = a.at,
                last_seq = a.seq
            FROM (
                SELECT DISTINCT ON (report_id) * FROM unnest($1::text[], $2::text[],
                    $3::timestamptz[], $4::bigint[]) AS x(report_id, reviewer, at, seq)
                ORDER BY report_id, seq DESC
            ) AS a
            WHERE t.report_id = a.report_id AND t.last_seq < a.seq",
        )
        .bind(self.report_id)
        .bind(self.reviewer)
        .bind(self.at)
        .bind(self.seq)
        .execute(conn)
        .await?;
        Ok(())
    }
}

async fn apply_event(
    conn: &mut PgConnection,
    r: &RecordedEvent,
    event: Event,
) -> Result<(), ProjectionError> {
    match event {
        Event::ActivityReported(a) => {
            let mut rows = ReportRows::default();
            rows.push(r, &a)?;
            rows.write(conn).await
        }
        Event::ActivityApproved(a) => {
            let mut rows = ApprovalRows::default();
            rows.push(r, &a);
            rows.write(conn).await
        }
        Event::CatalogPublished(c) => catalog_published(conn, r, &c).await,
        Event::ActivityAmended(a) => amended(conn, r, &a).await,
        Event::ActivityRejected(x) => {
            let at = from_timestamp(x.at.as_ref(), r.stored_at);
            reviewed(conn, r, &x.report_id, REJECTED, &x.reviewer, &x.reason, at).await
        }
        Event::ActivityReturned(x) => {
            let at = from_timestamp(x.at.as_ref(), r.stored_at);
            reviewed(conn, r, &x.report_id, RETURNED, &x.reviewer, &x.reason, at).await
        }
        Event::DuplicateWorkFlagged(f) => flagged(conn, r, &f).await,
        Event::BehaviourRated(b) => rated(conn, r, &b).await,
    }
}

async fn catalog_published(
    conn: &mut PgConnection,
    r: &RecordedEvent,
    c: &ev::CatalogPublished,
) -> Result<(), ProjectionError> {
    let effective_from = parse_date(&c.effective_from, "effective_from")?;
    if c.activities.is_empty() {
        return Ok(());
    }
    let codes: Vec<&str> = c.activities.iter().map(|a| a.code.as_str()).collect();
    let names: Vec<&str> = c.activities.iter().map(|a| a.name.as_str()).collect();
    let units: Vec<&str> = c.activities.iter().map(|a| a.unit.as_str()).collect();
    let photo: Vec<bool> = c.activities.iter().map(|a| a.photo_required).collect();
    let location: Vec<bool> = c.activities.iter().map(|a| a.location_required).collect();
    sqlx::query(
        r"INSERT INTO catalog (scope_agency_id, version, code, name, unit, photo_required,
            location_required, effective_from, seq)
        SELECT $1, $2, a.code, a.name, a.unit, a.photo, a.location, $3, $4
        FROM unnest($5::text[], $6::text[], $7::text[], $8::bool[], $9::bool[])
            AS a(code, name, unit, photo, location)
        ON CONFLICT (scope_agency_id, version, code) DO NOTHING",
    )
    .bind(&c.agency_id)
    .bind(i64::from(c.version))
    .bind(effective_from)
    .bind(seq(r))
    .bind(codes)
    .bind(names)
    .bind(units)
    .bind(photo)
    .bind(location)
    .execute(conn)
    .await?;
    Ok(())
}

/// New details, pending review again from the amendment on. The reviewer
/// and the reason of a return stay, so the next review sees what was asked.
async fn amended(
    conn: &mut PgConnection,
    r: &RecordedEvent,
    a: &ev::ActivityAmended,
) -> Result<(), ProjectionError> {
    let d = Details::of(
        a.details
            .as_ref()
            .ok_or_else(|| ProjectionError::Poison("amended details missing".into()))?,
    );
    sqlx::query(
        r"UPDATE reports SET code = $3, catalog_agency_id = $4, catalog_version = $5, unit = $6,
            quantity = $7, start_minute = $8, end_minute = $9, description = $10,
            latitude = $11, longitude = $12, site_id = $13, evidence_kinds = $14,
            evidence_refs = $15, status = 1, pending_since = $16, details_seq = $2,
            last_seq = $2
        WHERE report_id = $1 AND last_seq < $2",
    )
    .bind(&a.report_id)
    .bind(seq(r))
    .bind(d.code)
    .bind(d.catalog_agency_id)
    .bind(d.catalog_version)
    .bind(d.unit)
    .bind(d.quantity)
    .bind(d.start_minute)
    .bind(d.end_minute)
    .bind(d.description)
    .bind(d.latitude)
    .bind(d.longitude)
    .bind(d.site_id)
    .bind(d.evidence_kinds)
    .bind(d.evidence_refs)
    .bind(from_timestamp(a.amended_at.as_ref(), r.stored_at))
    .execute(conn)
    .await?;
    Ok(())
}

async fn reviewed(
    conn: &mut PgConnection,
    r: &RecordedEvent,
    report_id: &str,
    status: i16,
    reviewer: &str,
    note: &str,
    at: DateTime<Utc>,
) -> Result<(), ProjectionError> {
    sqlx::query(
        r"UPDATE reports SET status = $3, reviewer = $4, review_note = $5, reviewed_at = $6,
            last_seq = $2
        WHERE report_id = $1 AND last_seq < $2",
    )
    .bind(report_id)
    .bind(seq(r))
    .bind(status)
    .bind(reviewer)
    .bind(note)
    .bind(at)
    .execute(conn)
    .await?;
    Ok(())
}

async fn flagged(
    conn: &mut PgConnection,
    r: &RecordedEvent,
    f: &ev::DuplicateWorkFlagged,
) -> Result<(), ProjectionError> {
    sqlx::query(
        r"INSERT INTO flags (report_id, other_report_id, worker_id, other_worker_id, agency_id,
            local_date, code, site_id, overlap_minutes, seq)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
        ON CONFLICT (report_id, other_report_id) DO NOTHING",
    )
    .bind(&f.report_id)
    .bind(&f.other_report_id)
    .bind(&f.worker_id)
    .bind(&f.other_worker_id)
    .bind(&f.agency_id)
    .bind(f.local_date.parse::<NaiveDate>().ok())
    .bind(&f.code)
    .bind(&f.site_id)
    .bind(i32::try_from(f.overlap_minutes).unwrap_or(i32::MAX))
    .bind(seq(r))
    .execute(conn)
    .await?;
    Ok(())
}

async fn rated(
    conn: &mut PgConnection,
    r: &RecordedEvent,
    b: &ev::BehaviourRated,
) -> Result<(), ProjectionError> {
    let s = b.scores.unwrap_or_default();
    let score = |v: u32| i16::try_from(v).unwrap_or(i16::MAX);
    sqlx::query(
        r"INSERT INTO ratings AS t (worker_id, month, agency_id, unit_id, berorientasi_pelayanan,
            akuntabel, kompeten, harmonis, loyal, adaptif, kolaboratif, note, rated_by, rated_at,
            last_seq)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
        ON CONFLICT (worker_id, month) DO UPDATE SET
            agency_id = EXCLUDED.agency_id, unit_id = EXCLUDED.unit_id,
            berorientasi_pelayanan = EXCLUDED.berorientasi_pelayanan,
            akuntabel = EXCLUDED.akuntabel, kompeten = EXCLUDED.kompeten,
            harmonis = EXCLUDED.harmonis, loyal = EXCLUDED.loyal, adaptif = EXCLUDED.adaptif,
            kolaboratif = EXCLUDED.kolaboratif, note = EXCLUDED.note,
            rated_by = EXCLUDED.rated_by, rated_at = EXCLUDED.rated_at,
            last_seq = EXCLUDED.last_seq
        WHERE t.last_seq < EXCLUDED.last_seq",
    )
    .bind(&b.worker_id)
    .bind(&b.month)
    .bind(&b.agency_id)
    .bind(&b.unit_id)
    .bind(score(s.berorientasi_pelayanan))
    .bind(score(s.akuntabel))
    .bind(score(s.kompeten))
    .bind(score(s.harmonis))
    .bind(score(s.loyal))
    .bind(score(s.adaptif))
    .bind(score(s.kolaboratif))
    .bind(&b.note)
    .bind(&b.rated_by)
    .bind(from_timestamp(b.at.as_ref(), r.stored_at))
    .bind(seq(r))
    .execute(conn)
    .await?;
    Ok(())
}

/// Reads of the read model, building the API's messages. Tables are named
/// with their schema, so any pooled connection will do.
pub mod queries {
    use std::collections::BTreeMap;

    use chrono::{DateTime, NaiveDate, Utc};
    use pantau_proto::activity::v1 as api;
    use pantau_proto::events::v1 as ev;
    use sqlx::postgres::PgRow;
    use sqlx::{PgPool, Row};

    use super::{APPROVED, SUBMITTED, hhmm, overlap_minutes, same_site, timestamp};

    /// Every column [`report`] reads: the report, its activity's name in
    /// the catalog it came from (the code when that is unknown), and the
    /// other reports it was flagged against, either way round.
    macro_rules! report_select {
        () => {
            r"SELECT r.report_id, r.worker_id, r.agency_id, r.unit_id, r.local_date, r.code,
                coalesce(c.name, r.code) AS activity_name, r.unit, r.quantity, r.start_minute,
                r.end_minute, r.description, r.latitude, r.longitude, r.site_id,
                r.evidence_kinds, r.evidence_refs, r.status, r.reported_by, r.on_behalf,
                r.reported_at, r.pending_since, r.reviewer, r.review_note, r.supervisor_id,
                r.catalog_version,
                ARRAY(SELECT f.other_report_id FROM activity_read.flags f
                        WHERE f.report_id = r.report_id
                      UNION
                      SELECT f.report_id FROM activity_read.flags f
                        WHERE f.other_report_id = r.report_id
                      ORDER BY 1) AS duplicate_of
            FROM activity_read.reports r
            LEFT JOIN activity_read.catalog c ON c.scope_agency_id = r.catalog_agency_id
                AND c.version = r.catalog_version AND c.code = r.code "
        };
    }

    fn minute(row: &PgRow, column: &str) -> Result<u32, sqlx::Error> {
        Ok(u32::try_from(row.try_get::<i32, _>(column)?).unwrap_or(0))
    }

    fn report(row: &PgRow) -> Result<api::Report, sqlx::Error> {
        let latitude: Option<f64> = row.try_get("latitude")?;
        let longitude: Option<f64> = row.try_get("longitude")?;
        let site_id: String = row.try_get("site_id")?;
        let location = (latitude.is_some() || !site_id.is_empty()).then(|| ev::ActivityLocation {
            latitude: latitude.unwrap_or_default(),
            longitude: longitude.unwrap_or_default(),
            site_id,
        });
        let kinds: Vec<i16> = row.try_get("evidence_kinds")?;
        let refs: Vec<String> = row.try_get("evidence_refs")?;
        let evidence = kinds
            .into_iter()
            .zip(refs)
            .map(|(kind, r#ref)| ev::Evidence {
                kind: i32::from(kind),
                r#ref,
            })
            .collect();
        Ok(api::Report {
            report_id: row.try_get("report_id")?,
            worker_id: row.try_get("worker_id")?,
            agency_id: row.try_get("agency_id")?,
            unit_id: row.try_get("unit_id")?,
            date: row
                .try_get::<NaiveDate, _>("local_date")?
                .format("%Y-%m-%d")
                .to_string(),
            code: row.try_get("code")?,
            activity_name: row.try_get("activity_name")?,
            unit: row.try_get("unit")?,
            quantity: row.try_get("quantity")?,
            start_time: hhmm(minute(row, "start_minute")?),
            end_time: hhmm(minute(row, "end_minute")?),
            description: row.try_get("description")?,
            location,
            evidence,
            status: i32::from(row.try_get::<i16, _>("status")?),
            reported_by: row.try_get("reported_by")?,
            on_behalf: row.try_get("on_behalf")?,
            reported_at: Some(timestamp(row.try_get("reported_at")?)),
            reviewer: row.try_get("reviewer")?,
            review_note: row.try_get("review_note")?,
            supervisor_id: row.try_get("supervisor_id")?,
            catalog_version: u32::try_from(row.try_get::<i64, _>("catalog_version")?).unwrap_or(0),
            duplicate_of: row.try_get("duplicate_of")?,
        })
    }

    fn count(n: i64) -> u32 {
        u32::try_from(n).unwrap_or(u32::MAX)
    }

    /// A worker's reports of one day, by start time.
    pub async fn worker_day(
        pool: &PgPool,
        worker_id: &str,
        date: NaiveDate,
    ) -> Result<Vec<api::Report>, sqlx::Error> {
        sqlx::query(concat!(
            report_select!(),
            "WHERE r.worker_id = $1 AND r.local_date = $2
            ORDER BY r.start_minute, r.report_id"
        ))
        .bind(worker_id)
        .bind(date)
        .fetch_all(pool)
        .await?
        .iter()
        .map(report)
        .collect()
    }

    /// A worker's days from `first` to `last` (inclusive): a summary of each
    /// day with reports, every report (by date, then start time), and the
    /// rating of `first`'s month.
    pub async fn worker_month(
        pool: &PgPool,
        worker_id: &str,
        first: NaiveDate,
        last: NaiveDate,
    ) -> Result<(Vec<api::DaySummary>, Vec<api::Report>, Option<api::Rating>), sqlx::Error> {
        let rows = sqlx::query(concat!(
            report_select!(),
            "WHERE r.worker_id = $1 AND r.local_date BETWEEN $2 AND $3
            ORDER BY r.local_date, r.start_minute, r.report_id"
        ))
        .bind(worker_id)
        .bind(first)
        .bind(last)
        .fetch_all(pool)
        .await?;
        let mut days: BTreeMap<NaiveDate, api::DaySummary> = BTreeMap::new();
        let mut reports = Vec::with_capacity(rows.len());
        for row in &rows {
            let date: NaiveDate = row.try_get("local_date")?;
            let status: i16 = row.try_get("status")?;
            let minutes = minute(row, "end_minute")?.saturating_sub(minute(row, "start_minute")?);
            let day = days.entry(date).or_insert_with(|| api::DaySummary {
                date: date.format("%Y-%m-%d").to_string(),
                ..Default::default()
            });
            day.reports += 1;
            if status == APPROVED {
                day.approved += 1;
                day.approved_minutes = day.approved_minutes.saturating_add(minutes);
            } else if status == SUBMITTED {
                day.pending += 1;
            }
            reports.push(report(row)?);
        }
        let rating = sqlx::query(
            r"SELECT berorientasi_pelayanan, akuntabel, kompeten, harmonis, loyal, adaptif,
                kolaboratif, note, rated_by
            FROM activity_read.ratings WHERE worker_id = $1 AND month = $2",
        )
        .bind(worker_id)
        .bind(first.format("%Y-%m").to_string())
        .fetch_optional(pool)
        .await?
        .map(|row| rating(&row))
        .transpose()?;
        Ok((days.into_values().collect(), reports, rating))
    }

    fn rating(row: &PgRow) -> Result<api::Rating, sqlx::Error> {
        let score = |c: &str| -> Result<u32, sqlx::Error> {
            Ok(u32::try_from(row.try_get::<i16, _>(c)?).unwrap_or(0))
        };
        let scores = ev::BerakhlakScores {
            berorientasi_pelayanan: score("berorientasi_pelayanan")?,
            akuntabel: score("akuntabel")?,
            kompeten: score("kompeten")?,
            harmonis: score("harmonis")?,
            loyal: score("loyal")?,
            adaptif: score("adaptif")?,
            kolaboratif: score("kolaboratif")?,
        };
        Ok(api::Rating {
            average: average(&scores),
            scores: Some(scores),
            note: row.try_get("note")?,
            rated_by: row.try_get("rated_by")?,
        })
    }

    pub use crate::domain::rating::average;

    fn queue_item(row: &PgRow, now: DateTime<Utc>) -> Result<api::QueueItem, sqlx::Error> {
        let since: DateTime<Utc> = row.try_get("pending_since")?;
        Ok(api::QueueItem {
            report: Some(report(row)?),
            age_seconds: u64::try_from((now - since).num_seconds()).unwrap_or(0),
        })
    }

    /// Whose review queue.
    #[derive(Debug, Clone, Copy)]
    pub enum Queue<'a> {
        /// Reports filed with this supervisor.
        Supervisor(&'a str),
        /// Every report waiting anywhere in this agency.
        Agency(&'a str),
    }

    /// Reports waiting in `queue`, oldest first (at most `limit`), and how
    /// many wait in all.
    pub async fn review_queue(
        pool: &PgPool,
        queue: Queue<'_>,
        limit: i64,
        now: DateTime<Utc>,
    ) -> Result<(Vec<api::QueueItem>, u32), sqlx::Error> {
        let (select, count_sql, key) = match queue {
            Queue::Supervisor(id) => (
                concat!(
                    report_select!(),
                    "WHERE r.status = 1 AND r.supervisor_id = $1
                    ORDER BY r.pending_since, r.report_id LIMIT $2"
                ),
                "SELECT count(*) FROM activity_read.reports WHERE status = 1 AND supervisor_id = $1",
                id,
            ),
            Queue::Agency(id) => (
                concat!(
                    report_select!(),
                    "WHERE r.status = 1 AND r.agency_id = $1
                    ORDER BY r.pending_since, r.report_id LIMIT $2"
                ),
                "SELECT count(*) FROM activity_read.reports WHERE status = 1 AND agency_id = $1",
                id,
            ),
        };
        let rows = sqlx::query(select)
            .bind(key)
            .bind(limit.max(0))
            .fetch_all(pool)
            .await?;
        let total: i64 = sqlx::query_scalar(count_sql)
            .bind(key)
            .fetch_one(pool)
            .await?;
        let items = rows
            .iter()
            .map(|r| queue_item(r, now))
            .collect::<Result<_, _>>()?;
        Ok((items, count(total)))
    }

    /// What an agency's workers did from `from` to `to` (inclusive), per
    /// activity code; rejected reports do not count. Name and unit come
    /// from the newest catalog version the reports used.
    pub async fn agency_volume(
        pool: &PgPool,
        agency_id: &str,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<api::VolumeRow>, sqlx::Error> {
        let rows = sqlx::query(
            r"SELECT r.code,
                coalesce((array_agg(c.name ORDER BY r.catalog_version DESC)
                    FILTER (WHERE c.name IS NOT NULL))[1], r.code) AS name,
                coalesce((array_agg(c.unit ORDER BY r.catalog_version DESC)
                    FILTER (WHERE c.unit IS NOT NULL))[1], max(r.unit), '') AS unit,
                count(*) AS reports,
                count(*) FILTER (WHERE r.status = 2) AS approved,
                coalesce(sum(r.quantity), 0) AS quantity,
                coalesce(sum(r.quantity) FILTER (WHERE r.status = 2), 0) AS approved_quantity,
                count(DISTINCT r.worker_id) AS workers
            FROM activity_read.reports r
            LEFT JOIN activity_read.catalog c ON c.scope_agency_id = r.catalog_agency_id
                AND c.version = r.catalog_version AND c.code = r.code
            WHERE r.agency_id = $1 AND r.local_date BETWEEN $2 AND $3 AND r.status <> 3
            GROUP BY r.code
            ORDER BY r.code",
        )
        .bind(agency_id)
        .bind(from)
        .bind(to)
        .fetch_all(pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(api::VolumeRow {
                    code: row.try_get("code")?,
                    name: row.try_get("name")?,
                    unit: row.try_get("unit")?,
                    reports: count(row.try_get("reports")?),
                    approved: count(row.try_get("approved")?),
                    quantity: row.try_get("quantity")?,
                    approved_quantity: row.try_get("approved_quantity")?,
                    workers: count(row.try_get("workers")?),
                })
            })
            .collect()
    }

    /// Two workers on the same task at the same site at overlapping times.
    #[derive(Debug, Clone, PartialEq)]
    pub struct Duplicate {
        pub report_id: String,
        pub worker_id: String,
        pub other_report_id: String,
        pub other_worker_id: String,
        pub agency_id: String,
        pub local_date: String,
        pub code: String,
        pub site_id: String,
        pub overlap_minutes: u32,
        /// The stream sequence of the report's details (its ActivityReported
        /// or latest ActivityAmended).
        pub details_seq: i64,
    }

    /// For each of `report_ids` (not rejected), the other workers' reports
    /// of the same task (agency, day, code) at the same site (the same
    /// non-empty site id, or positions within 50 m) whose times overlap and
    /// whose details were stored before its own: the later report is
    /// flagged against the earlier ones, so each pair once. Ordered by
    /// report, then the others oldest first.
    ///
    /// Each report is one lookup in `reports_by_site` and one in
    /// `reports_by_cell`, so the cost does not grow with the day's volume.
    pub async fn duplicates_of(
        pool: &PgPool,
        report_ids: &[String],
    ) -> Result<Vec<Duplicate>, sqlx::Error> {
        // Index probes per report, whatever the planner guesses: with the
        // reports of a batch unknown when planning, it may prefer hashing
        // every report of the task for a batch of a few dozen.
        let mut tx = pool.begin().await?;
        sqlx::raw_sql(
            "SET LOCAL enable_hashjoin = off; SET LOCAL enable_mergejoin = off;
             SET LOCAL enable_seqscan = off",
        )
        .execute(&mut *tx)
        .await?;
        let rows = sqlx::query(
            r"WITH me AS (
            SELECT me.* FROM unnest($1::text[]) AS m(report_id)
            JOIN activity_read.reports me ON me.report_id = m.report_id AND me.status <> 3
          ), pairs AS (
            SELECT me.report_id, r.report_id AS other_id
            FROM me JOIN activity_read.reports r ON r.agency_id = me.agency_id
              AND r.local_date = me.local_date AND r.code = me.code
              AND r.site_id = me.site_id AND r.site_id <> ''
              AND r.worker_id <> me.worker_id AND r.status <> 3
              AND r.details_seq < me.details_seq
              AND r.start_minute < me.end_minute AND r.end_minute > me.start_minute
            WHERE me.site_id <> ''
            UNION
            -- near enough to be the same site (checked exactly below): the
            -- neighbouring cells of the reports_by_cell grid, 0.0005 degrees
            -- (about 55 m) a side
            SELECT me.report_id, r.report_id
            FROM me JOIN activity_read.reports r ON r.agency_id = me.agency_id
              AND r.local_date = me.local_date AND r.code = me.code
              AND r.latitude IS NOT NULL
              AND floor(r.latitude * 2000)::int
                  BETWEEN floor(me.latitude * 2000)::int - 1 AND floor(me.latitude * 2000)::int + 1
              AND floor(r.longitude * 2000)::int
                  BETWEEN floor(me.longitude * 2000)::int - 1
                  AND floor(me.longitude * 2000)::int + 1
              AND abs(r.latitude - me.latitude) < 0.0005
              AND abs(r.longitude - me.longitude) < 0.0005
              AND r.worker_id <> me.worker_id AND r.status <> 3
              AND r.details_seq < me.details_seq
              AND r.start_minute < me.end_minute AND r.end_minute > me.start_minute
            WHERE me.latitude IS NOT NULL
          )
          SELECT me.report_id, me.worker_id, me.agency_id, me.local_date::text AS local_date,
            me.code, me.site_id, me.latitude, me.longitude, me.start_minute, me.end_minute,
            me.details_seq,
            r.report_id AS other_id, r.worker_id AS other_worker, r.site_id AS other_site,
            r.latitude AS other_lat, r.longitude AS other_lon,
            r.start_minute AS other_start, r.end_minute AS other_end
          FROM pairs p
          JOIN me ON me.report_id = p.report_id
          JOIN activity_read.reports r ON r.report_id = p.other_id
          ORDER BY me.report_id, r.details_seq",
        )
        .bind(report_ids)
        .fetch_all(&mut *tx)
        .await?;
        tx.rollback().await?;
        let position = |row: &PgRow, lat: &str, lon: &str| -> Result<_, sqlx::Error> {
            Ok(
                match (
                    row.try_get::<Option<f64>, _>(lat)?,
                    row.try_get::<Option<f64>, _>(lon)?,
                ) {
                    (Some(a), Some(b)) => Some((a, b)),
                    _ => None,
                },
            )
        };
        let mut found = Vec::new();
        for row in &rows {
            let (site, other_site): (String, String) =
                (row.try_get("site_id")?, row.try_get("other_site")?);
            if !same_site(
                &site,
                position(row, "latitude", "longitude")?,
                &other_site,
                position(row, "other_lat", "other_lon")?,
            ) {
                continue;
            }
            let overlap = overlap_minutes(
                (minute(row, "start_minute")?, minute(row, "end_minute")?),
                (minute(row, "other_start")?, minute(row, "other_end")?),
            );
            if overlap == 0 {
                continue;
            }
            found.push(Duplicate {
                report_id: row.try_get("report_id")?,
                worker_id: row.try_get("worker_id")?,
                other_report_id: row.try_get("other_id")?,
                other_worker_id: row.try_get("other_worker")?,
                agency_id: row.try_get("agency_id")?,
                local_date: row.try_get("local_date")?,
                code: row.try_get("code")?,
                site_id: if site.is_empty() { other_site } else { site },
                overlap_minutes: overlap,
                details_seq: row.try_get("details_seq")?,
            });
        }
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minutes_format_as_hh_mm() {
        assert_eq!(hhmm(0), "00:00");
        assert_eq!(hhmm(7 * 60 + 5), "07:05");
        assert_eq!(hhmm(13 * 60 + 30), "13:30");
        assert_eq!(hhmm(1439), "23:59");
        assert_eq!(hhmm(1440), "24:00");
    }

    #[test]
    fn distance_is_haversine_in_metres() {
        let monas = (-6.175_392, 106.827_153);
        assert!(distance_m(monas, monas).abs() < 1e-6);
        // One degree of latitude is about 111.2 km.
        let d = distance_m((0.0, 100.0), (1.0, 100.0));
        assert!((d - 111_195.0).abs() < 10.0, "{d}");
        // 0.0003 degrees of latitude is about 33 m; symmetric.
        let near = (monas.0 + 0.0003, monas.1);
        let d = distance_m(monas, near);
        assert!((d - 33.4).abs() < 0.5, "{d}");
        assert!((d - distance_m(near, monas)).abs() < 1e-9);
        // Longitude shrinks with the cosine of the latitude.
        let east = distance_m((60.0, 10.0), (60.0, 11.0));
        assert!((east - 55_597.0).abs() < 10.0, "{east}");
    }

    #[test]
    fn overlap_counts_shared_minutes() {
        assert_eq!(overlap_minutes((480, 600), (540, 660)), 60);
        assert_eq!(overlap_minutes((540, 660), (480, 600)), 60);
        assert_eq!(overlap_minutes((480, 600), (500, 520)), 20);
        assert_eq!(overlap_minutes((480, 600), (600, 660)), 0);
        assert_eq!(overlap_minutes((480, 600), (700, 800)), 0);
    }

    #[test]
    fn same_site_by_id_or_within_fifty_metres() {
        let p = (-6.2, 106.8);
        let near = (-6.2 + 0.0004, 106.8); // ~44 m
        let far = (-6.2 + 0.0005, 106.8); // ~56 m
        assert!(same_site("S1", None, "S1", None));
        assert!(!same_site("", None, "", None));
        assert!(!same_site("S1", None, "S2", None));
        assert!(same_site("S1", Some(p), "S2", Some(near)));
        assert!(!same_site("S1", Some(p), "S2", Some(far)));
        assert!(!same_site("", Some(p), "", None));
        assert!(same_site("", Some(p), "", Some(near)));
    }

    #[test]
    fn a_location_without_coordinates_has_no_position() {
        let loc = |latitude, longitude| ev::ActivityLocation {
            latitude,
            longitude,
            site_id: "S1".into(),
        };
        assert_eq!(position(None), None);
        assert_eq!(position(Some(&loc(0.0, 0.0))), None);
        assert_eq!(position(Some(&loc(-6.2, 106.8))), Some((-6.2, 106.8)));
        assert_eq!(position(Some(&loc(0.0, 109.3))), Some((0.0, 109.3)));
    }

    #[test]
    fn average_is_the_mean_of_seven_aspects() {
        let s = ev::BerakhlakScores {
            berorientasi_pelayanan: 5,
            akuntabel: 4,
            kompeten: 4,
            harmonis: 3,
            loyal: 5,
            adaptif: 4,
            kolaboratif: 3,
        };
        assert!((queries::average(&s) - 4.0).abs() < 1e-12);
    }

    #[test]
    fn event_timestamps_fall_back_to_the_stored_time() {
        let stored = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        let t = ev::Timestamp {
            seconds: 1_600_000_000,
            nanos: 5,
        };
        assert_eq!(
            from_timestamp(Some(&t), stored),
            DateTime::from_timestamp(1_600_000_000, 5).unwrap()
        );
        assert_eq!(from_timestamp(None, stored), stored);
        let bad = ev::Timestamp {
            seconds: 1,
            nanos: -1,
        };
        assert_eq!(from_timestamp(Some(&bad), stored), stored);
        assert_eq!(timestamp(from_timestamp(Some(&t), stored)), t);
    }

    /// Against a throwaway PostgreSQL: one batch through `apply_all`, then
    /// every event again through `apply` (a redelivery), then the queries.
    mod db {
        use super::*;
        use sqlx::Connection;

        const D: &str = "2025-03-03";

        fn base() -> DateTime<Utc> {
            DateTime::from_timestamp(1_740_960_000, 0).unwrap() // 2025-03-03T00:00Z
        }

        fn at(seq: u64) -> ev::Timestamp {
            timestamp(base() + chrono::Duration::minutes(i64::try_from(seq).unwrap()))
        }

        fn recorded(seq: u64, e: Event) -> RecordedEvent {
            RecordedEvent {
                subject: "pantau.activity.test".into(),
                sequence: seq,
                stored_at: base(),
                event_type: crate::core::event_type(&e).into(),
                schema_version: 1,
                event_id: format!("e{seq}"),
                correlation_id: String::new(),
                causation_id: String::new(),
                request_id: None,
                actor: None,
                traceparent: None,
                msg_id: None,
                payload: crate::core::encode(&e),
            }
        }

        #[allow(clippy::too_many_arguments)]
        fn details(
            code: &str,
            agency: &str,
            start: u32,
            end: u32,
            site: &str,
            pos: Option<(f64, f64)>,
            evidence: Vec<ev::Evidence>,
        ) -> ev::ActivityDetails {
            ev::ActivityDetails {
                code: code.into(),
                catalog_agency_id: agency.into(),
                catalog_version: 1,
                unit: "meter".into(),
                quantity: 10.0,
                start_minute: start,
                end_minute: end,
                description: format!("{code} {start}"),
                location: (pos.is_some() || !site.is_empty()).then(|| ev::ActivityLocation {
                    latitude: pos.map_or(0.0, |p| p.0),
                    longitude: pos.map_or(0.0, |p| p.1),
                    site_id: site.into(),
                }),
                evidence,
            }
        }

        fn reported(
            seq: u64,
            id: &str,
            worker: &str,
            date: &str,
            d: ev::ActivityDetails,
        ) -> RecordedEvent {
            recorded(
                seq,
                Event::ActivityReported(ev::ActivityReported {
                    report_id: id.into(),
                    worker_id: worker.into(),
                    agency_id: "A".into(),
                    unit_id: "U".into(),
                    local_date: date.into(),
                    details: Some(d),
                    reported_by: worker.into(),
                    on_behalf: false,
                    reported_at: Some(at(seq)),
                    supervisor_id: "SUP".into(),
                }),
            )
        }

        fn scores(v: u32) -> ev::BerakhlakScores {
            ev::BerakhlakScores {
                berorientasi_pelayanan: v,
                akuntabel: v,
                kompeten: v,
                harmonis: v,
                loyal: v,
                adaptif: v,
                kolaboratif: 1,
            }
        }

        fn events() -> Vec<RecordedEvent> {
            let act = |code: &str, name: &str, unit: &str| ev::CatalogActivity {
                code: code.into(),
                name: name.into(),
                unit: unit.into(),
                photo_required: false,
                location_required: false,
            };
            let site_pos = (-6.2, 106.8);
            let near = (-6.2 + 0.0002, 106.8); // ~22 m
            let far = (-6.21, 106.8); // ~1.1 km
            vec![
                recorded(
                    1,
                    Event::CatalogPublished(ev::CatalogPublished {
                        agency_id: String::new(),
                        version: 1,
                        effective_from: "2025-01-01".into(),
                        activities: vec![act("APEL", "Apel pagi", "kali")],
                        published_by: "admin".into(),
                    }),
                ),
                recorded(
                    2,
                    Event::CatalogPublished(ev::CatalogPublished {
                        agency_id: "A".into(),
                        version: 1,
                        effective_from: "2025-01-01".into(),
                        activities: vec![act("DRAIN", "Bersih saluran", "meter")],
                        published_by: "admin".into(),
                    }),
                ),
                reported(
                    3,
                    "R1",
                    "W1",
                    D,
                    details(
                        "DRAIN",
                        "A",
                        480,
                        600,
                        "S1",
                        Some(site_pos),
                        vec![
                            ev::Evidence {
                                kind: 1,
                                r#ref: "h\"1\\{x}".into(),
                            },
                            ev::Evidence {
                                kind: 2,
                                r#ref: "doc".into(),
                            },
                        ],
                    ),
                ),
                reported(
                    4,
                    "R2",
                    "W2",
                    D,
                    details("DRAIN", "A", 540, 660, "", Some(near), vec![]),
                ),
                reported(
                    5,
                    "R3",
                    "W1",
                    D,
                    details("APEL", "", 420, 450, "", None, vec![]),
                ),
                recorded(
                    6,
                    Event::ActivityApproved(ev::ActivityApproved {
                        report_id: "R3".into(),
                        worker_id: "W1".into(),
                        reviewer: "SUP".into(),
                        at: Some(at(6)),
                    }),
                ),
                reported(
                    7,
                    "R4",
                    "W3",
                    D,
                    details(
                        "DRAIN",
                        "A",
                        570,
                        600,
                        "S9",
                        Some(far),
                        vec![ev::Evidence {
                            kind: 1,
                            r#ref: "p4".into(),
                        }],
                    ),
                ),
                recorded(
                    8,
                    Event::ActivityReturned(ev::ActivityReturned {
                        report_id: "R2".into(),
                        worker_id: "W2".into(),
                        reviewer: "SUP".into(),
                        reason: "foto kurang".into(),
                        at: Some(at(8)),
                    }),
                ),
                recorded(
                    9,
                    Event::ActivityAmended(ev::ActivityAmended {
                        report_id: "R2".into(),
                        worker_id: "W2".into(),
                        details: Some(details("DRAIN", "A", 555, 660, "", Some(near), vec![])),
                        amended_by: "W2".into(),
                        amended_at: Some(at(9)),
                    }),
                ),
                recorded(
                    10,
                    Event::DuplicateWorkFlagged(ev::DuplicateWorkFlagged {
                        report_id: "R2".into(),
                        worker_id: "W2".into(),
                        other_report_id: "R1".into(),
                        other_worker_id: "W1".into(),
                        agency_id: "A".into(),
                        local_date: D.into(),
                        code: "DRAIN".into(),
                        site_id: String::new(),
                        overlap_minutes: 45,
                    }),
                ),
                recorded(
                    11,
                    Event::ActivityRejected(ev::ActivityRejected {
                        report_id: "R4".into(),
                        worker_id: "W3".into(),
                        reviewer: "SUP".into(),
                        reason: "bukan tugasnya".into(),
                        at: Some(at(11)),
                    }),
                ),
                recorded(
                    12,
                    Event::BehaviourRated(ev::BehaviourRated {
                        worker_id: "W1".into(),
                        agency_id: "A".into(),
                        unit_id: "U".into(),
                        month: "2025-03".into(),
                        scores: Some(scores(3)),
                        note: "first".into(),
                        rated_by: "SUP".into(),
                        at: Some(at(12)),
                    }),
                ),
                recorded(
                    13,
                    Event::BehaviourRated(ev::BehaviourRated {
                        worker_id: "W1".into(),
                        agency_id: "A".into(),
                        unit_id: "U".into(),
                        month: "2025-03".into(),
                        scores: Some(scores(5)),
                        note: "second".into(),
                        rated_by: "SUP".into(),
                        at: Some(at(13)),
                    }),
                ),
                reported(
                    14,
                    "R5",
                    "W1",
                    "2025-03-04",
                    details("DRAIN", "A", 780, 840, "", None, vec![]),
                ),
                // A report and its approval in one run of buffered events.
                reported(
                    15,
                    "R6",
                    "W2",
                    "2025-03-04",
                    details("UNKNOWN", "A", 60, 90, "", None, vec![]),
                ),
                recorded(
                    16,
                    Event::ActivityApproved(ev::ActivityApproved {
                        report_id: "R6".into(),
                        worker_id: "W2".into(),
                        reviewer: "SUP".into(),
                        at: Some(at(16)),
                    }),
                ),
            ]
        }

        type Snapshot = (
            Vec<api::Report>,
            (Vec<api::DaySummary>, Vec<api::Report>, Option<api::Rating>),
            (Vec<api::QueueItem>, u32),
            (Vec<api::QueueItem>, u32),
            Vec<api::VolumeRow>,
        );

        async fn snapshot(pool: &sqlx::PgPool) -> Snapshot {
            let day: NaiveDate = D.parse().unwrap();
            let now = base() + chrono::Duration::hours(1);
            (
                queries::worker_day(pool, "W1", day).await.unwrap(),
                queries::worker_month(
                    pool,
                    "W1",
                    "2025-03-01".parse().unwrap(),
                    "2025-03-31".parse().unwrap(),
                )
                .await
                .unwrap(),
                queries::review_queue(pool, queries::Queue::Supervisor("SUP"), 2, now)
                    .await
                    .unwrap(),
                queries::review_queue(pool, queries::Queue::Agency("A"), 10, now)
                    .await
                    .unwrap(),
                queries::agency_volume(
                    pool,
                    "A",
                    "2025-03-01".parse().unwrap(),
                    "2025-03-31".parse().unwrap(),
                )
                .await
                .unwrap(),
            )
        }

        #[tokio::test]
        async fn projects_and_queries_idempotently() {
            let pg = pantau_testkit::PgServer::spawn().await.unwrap();
            let db = pg.database("activity_readmodel").await.unwrap();
            let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
            let mut conn = sqlx::PgConnection::connect(&db.url).await.unwrap();
            sqlx::raw_sql("CREATE SCHEMA activity_read; SET search_path TO activity_read, public;")
                .execute(&mut conn)
                .await
                .unwrap();
            let model = ActivityReadModel;
            sqlx::raw_sql(model.ddl()).execute(&mut conn).await.unwrap();
            // Twice: the DDL is idempotent.
            sqlx::raw_sql(model.ddl()).execute(&mut conn).await.unwrap();

            let events = events();
            let mut tx = conn.begin().await.unwrap();
            model.apply_all(&mut tx, &events).await.unwrap();
            tx.commit().await.unwrap();
            let first = snapshot(&pool).await;

            // Redelivered: one by one, and as a whole batch again.
            for r in &events {
                model.apply(&mut conn, r).await.unwrap();
            }
            model.apply_all(&mut conn, &events).await.unwrap();
            let again = snapshot(&pool).await;
            assert_eq!(first, again);

            let (day, (days, month, rating), (sup, sup_total), (agency, agency_total), volume) =
                first;

            // The day, by start time.
            let ids: Vec<&str> = day.iter().map(|r| r.report_id.as_str()).collect();
            assert_eq!(ids, ["R3", "R1"]);
            let r3 = &day[0];
            assert_eq!(r3.activity_name, "Apel pagi");
            assert_eq!(r3.status, api::ReportStatus::Approved as i32);
            assert_eq!(r3.reviewer, "SUP");
            assert_eq!(
                (r3.start_time.as_str(), r3.end_time.as_str()),
                ("07:00", "07:30")
            );
            assert_eq!(r3.location, None);
            let r1 = &day[1];
            assert_eq!(r1.activity_name, "Bersih saluran");
            assert_eq!(r1.date, D);
            assert_eq!(r1.duplicate_of, ["R2"]);
            assert_eq!(r1.status, api::ReportStatus::Submitted as i32);
            assert_eq!(r1.evidence.len(), 2);
            assert_eq!(r1.evidence[0].r#ref, "h\"1\\{x}");
            assert_eq!(r1.evidence[0].kind, 1);
            assert_eq!(r1.evidence[1].r#ref, "doc");
            assert_eq!(r1.evidence[1].kind, 2);
            let loc = r1.location.as_ref().unwrap();
            assert_eq!(
                (loc.latitude, loc.longitude, loc.site_id.as_str()),
                (-6.2, 106.8, "S1")
            );
            assert_eq!(r1.reported_at, Some(at(3)));
            assert_eq!(r1.catalog_version, 1);

            // The month.
            assert_eq!(
                days,
                [
                    api::DaySummary {
                        date: D.into(),
                        reports: 2,
                        approved: 1,
                        pending: 1,
                        approved_minutes: 30,
                    },
                    api::DaySummary {
                        date: "2025-03-04".into(),
                        reports: 1,
                        approved: 0,
                        pending: 1,
                        approved_minutes: 0,
                    },
                ]
            );
            let ids: Vec<&str> = month.iter().map(|r| r.report_id.as_str()).collect();
            assert_eq!(ids, ["R3", "R1", "R5"]);
            let rating = rating.unwrap();
            assert_eq!(rating.note, "second");
            assert!((rating.average - 31.0 / 7.0).abs() < 1e-9);

            // The queue: R1 (reported at +3 min), R2 (amended at +9), R5 (+14).
            assert_eq!(sup_total, 3);
            let ids: Vec<&str> = sup
                .iter()
                .map(|i| i.report.as_ref().unwrap().report_id.as_str())
                .collect();
            assert_eq!(ids, ["R1", "R2"]);
            assert_eq!(sup[0].age_seconds, 57 * 60);
            assert_eq!(sup[1].age_seconds, 51 * 60);
            let r2 = sup[1].report.as_ref().unwrap();
            assert_eq!(
                (r2.start_time.as_str(), r2.end_time.as_str()),
                ("09:15", "11:00")
            );
            assert_eq!(r2.duplicate_of, ["R1"]);
            assert_eq!(r2.review_note, "foto kurang");
            assert_eq!(agency_total, 3);
            assert_eq!(agency.len(), 3);

            // Volume: R4 is rejected, R6 has a code no catalog knows.
            assert_eq!(
                volume,
                [
                    api::VolumeRow {
                        code: "APEL".into(),
                        name: "Apel pagi".into(),
                        unit: "kali".into(),
                        reports: 1,
                        approved: 1,
                        quantity: 10.0,
                        approved_quantity: 10.0,
                        workers: 1,
                    },
                    api::VolumeRow {
                        code: "DRAIN".into(),
                        name: "Bersih saluran".into(),
                        unit: "meter".into(),
                        reports: 3,
                        approved: 0,
                        quantity: 30.0,
                        approved_quantity: 0.0,
                        workers: 2,
                    },
                    api::VolumeRow {
                        code: "UNKNOWN".into(),
                        name: "UNKNOWN".into(),
                        unit: "meter".into(),
                        reports: 1,
                        approved: 1,
                        quantity: 10.0,
                        approved_quantity: 10.0,
                        workers: 1,
                    },
                ]
            );

            // Duplicates: R2 (amended at seq 9, ~22 m from R1) against the
            // earlier R1, 45 minutes; R1 had nothing before it; R4 is
            // rejected and far away.
            let ids = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
            let found = queries::duplicates_of(&pool, &ids(&["R1", "R2", "R4", "R3", "nope"]))
                .await
                .unwrap();
            assert_eq!(
                found,
                [queries::Duplicate {
                    report_id: "R2".into(),
                    worker_id: "W2".into(),
                    other_report_id: "R1".into(),
                    other_worker_id: "W1".into(),
                    agency_id: "A".into(),
                    local_date: D.into(),
                    code: "DRAIN".into(),
                    site_id: "S1".into(),
                    overlap_minutes: 45,
                    details_seq: 9,
                }]
            );
            // R7 by W5 at site S1 without a position, 09:50-12:00: R1 by
            // site id (10 min), not R2 (no shared site, no position). R8 by
            // W1 at S1 at the same time: R7 (130 min), never W1's own R1.
            let later = [
                reported(
                    20,
                    "R7",
                    "W5",
                    D,
                    details("DRAIN", "A", 590, 720, "S1", None, vec![]),
                ),
                reported(
                    21,
                    "R8",
                    "W1",
                    D,
                    details("DRAIN", "A", 590, 720, "S1", None, vec![]),
                ),
            ];
            model.apply_all(&mut conn, &later).await.unwrap();
            let found = queries::duplicates_of(&pool, &ids(&["R8", "R7"]))
                .await
                .unwrap();
            let pairs: Vec<(&str, &str, u32, &str)> = found
                .iter()
                .map(|d| {
                    (
                        d.report_id.as_str(),
                        d.other_report_id.as_str(),
                        d.overlap_minutes,
                        d.site_id.as_str(),
                    )
                })
                .collect();
            assert_eq!(pairs, [("R7", "R1", 10, "S1"), ("R8", "R7", 130, "S1")]);
        }
    }
}
