//! `reporting_identity`: agencies, units, workers and their employment.

use pantau_eventstore::RecordedEvent;
use pantau_projection::{Projection, ProjectionError};
use pantau_proto::events::v1::{IdentityEvent, WorkerKind, identity_event::Event as I};
use prost::Message;
use sqlx::PgConnection;

use super::{date, poison};

pub struct Identity;

pub const SCHEMA: &str = "reporting_identity";

const DDL: &str = r"
CREATE TABLE IF NOT EXISTS agencies (
    agency_id text PRIMARY KEY,
    code      text NOT NULL,
    name      text NOT NULL,
    time_zone text NOT NULL
);
CREATE TABLE IF NOT EXISTS units (
    unit_id   text PRIMARY KEY,
    agency_id text NOT NULL,
    code      text NOT NULL,
    name      text NOT NULL
);
CREATE TABLE IF NOT EXISTS workers (
    worker_id   text PRIMARY KEY,
    kind        text NOT NULL,
    name        text,
    employee_id text,
    erased      boolean NOT NULL DEFAULT false
);
-- Employed by agency_id in unit_id from from_day until (not including) until_day.
CREATE TABLE IF NOT EXISTS stints (
    worker_id text NOT NULL,
    n         integer NOT NULL,
    agency_id text NOT NULL,
    unit_id   text NOT NULL,
    from_day  date NOT NULL,
    until_day date,
    PRIMARY KEY (worker_id, n)
);
CREATE INDEX IF NOT EXISTS stints_by_agency ON stints (agency_id, unit_id);
";

fn kind(k: i32) -> &'static str {
    match WorkerKind::try_from(k) {
        Ok(WorkerKind::Pns) => "PNS",
        Ok(WorkerKind::Phl) => "PHL",
        Ok(WorkerKind::Thl) => "THL",
        Ok(WorkerKind::Tjp) => "TJP",
        _ => "",
    }
}

impl Projection for Identity {
    fn name(&self) -> &'static str {
        SCHEMA
    }

    fn subjects(&self) -> Vec<String> {
        vec!["pantau.identity.>".into()]
    }

    fn ddl(&self) -> &'static str {
        DDL
    }

    async fn apply(
        &self,
        conn: &mut PgConnection,
        r: &RecordedEvent,
    ) -> Result<(), ProjectionError> {
        let e = IdentityEvent::decode(r.payload.as_ref())
            .map_err(|_| poison(r))?
            .event
            .ok_or_else(|| poison(r))?;
        // A day an event leaves unsaid: the day it was stored.
        let or_stored = |d: &str| date(d).unwrap_or_else(|| r.stored_at.date_naive());
        match e {
            I::AgencyCreated(a) => {
                sqlx::query(
                    "INSERT INTO agencies (agency_id, code, name, time_zone) VALUES ($1, $2, $3, $4)
                     ON CONFLICT (agency_id) DO UPDATE SET code = $2, name = $3, time_zone = $4",
                )
                .bind(&a.agency_id)
                .bind(&a.code)
                .bind(&a.name)
                .bind(&a.time_zone)
                .execute(&mut *conn)
                .await?;
            }
            I::UnitCreated(u) => {
                sqlx::query(
                    "INSERT INTO units (unit_id, agency_id, code, name) VALUES ($1, $2, $3, $4)
                     ON CONFLICT (unit_id) DO UPDATE SET agency_id = $2, code = $3, name = $4",
                )
                .bind(&u.unit_id)
                .bind(&u.agency_id)
                .bind(&u.code)
                .bind(&u.name)
                .execute(&mut *conn)
                .await?;
            }
            I::WorkerRegistered(w) => {
                sqlx::query(
                    "INSERT INTO workers (worker_id, kind, name, employee_id) VALUES ($1, $2, $3, $4)
                     ON CONFLICT (worker_id) DO NOTHING",
                )
                .bind(&w.worker_id)
                .bind(kind(w.kind))
                .bind(&w.name)
                .bind(&w.employee_id)
                .execute(&mut *conn)
                .await?;
                sqlx::query(
                    "INSERT INTO stints (worker_id, n, agency_id, unit_id, from_day)
                     VALUES ($1, 1, $2, $3, $4) ON CONFLICT DO NOTHING",
                )
                .bind(&w.worker_id)
                .bind(&w.agency_id)
                .bind(&w.unit_id)
                .bind(or_stored(&w.joined_on))
                .execute(&mut *conn)
                .await?;
            }
            I::WorkerUpdated(u) if u.changed.iter().any(|c| c == "name") => {
                sqlx::query("UPDATE workers SET name = $2 WHERE worker_id = $1 AND NOT erased")
                    .bind(&u.worker_id)
                    .bind(&u.name)
                    .execute(&mut *conn)
                    .await?;
            }
            I::WorkerTransferred(t) => {
                let on = or_stored(&t.effective_on);
                // The current stint ends the day the transfer takes effect
                // (or is rewritten when it takes effect on its first day);
                // the new one keeps whatever end the old one had.
                sqlx::query(
                    "WITH cur AS (
                         SELECT n, from_day, until_day FROM stints WHERE worker_id = $1
                         ORDER BY n DESC LIMIT 1
                     ), moved AS (
                         UPDATE stints s SET agency_id = $2, unit_id = $3
                         FROM cur WHERE s.worker_id = $1 AND s.n = cur.n AND cur.from_day >= $4
                         RETURNING s.n
                     ), ended AS (
                         UPDATE stints s SET until_day = $4
                         FROM cur WHERE s.worker_id = $1 AND s.n = cur.n AND cur.from_day < $4
                           AND (cur.until_day IS NULL OR cur.until_day > $4)
                         RETURNING s.n, cur.until_day
                     )
                     INSERT INTO stints (worker_id, n, agency_id, unit_id, from_day, until_day)
                     SELECT $1, n + 1, $2, $3, $4, until_day FROM ended",
                )
                .bind(&t.worker_id)
                .bind(&t.to_agency_id)
                .bind(&t.to_unit_id)
                .bind(on)
                .execute(&mut *conn)
                .await?;
            }
            I::WorkerDeactivated(d) => {
                sqlx::query(
                    "UPDATE stints SET until_day = LEAST(coalesce(until_day, $2), GREATEST($2, from_day))
                     WHERE worker_id = $1 AND n = (SELECT max(n) FROM stints WHERE worker_id = $1)",
                )
                .bind(&d.worker_id)
                .bind(or_stored(&d.effective_on))
                .execute(&mut *conn)
                .await?;
            }
            I::WorkerErased(x) => {
                sqlx::query(
                    "UPDATE workers SET name = NULL, employee_id = NULL, erased = true
                     WHERE worker_id = $1",
                )
                .bind(&x.worker_id)
                .execute(&mut *conn)
                .await?;
            }
            _ => {}
        }
        Ok(())
    }
}
