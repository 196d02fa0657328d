//! The identity read model: agencies, units, workers and campaign progress,
//! projected from the PANTAU_IDENTITY stream into schema `identity_read`.
//! Workers are stored as a JSON view plus the columns lists filter on; the
//! personal data stays sealed (only the worker's key opens it), so erasing a
//! key erases it here too.

use pantau_eventstore::RecordedEvent;
use pantau_projection::{Projection, ProjectionError};
use pantau_proto::events::v1::{self as ev, IdentityEvent, identity_event::Event};
use prost::Message;
use serde::{Deserialize, Serialize};
use sqlx::PgConnection;

pub const SCHEMA: &str = "identity_read";

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct SiteView {
    pub site_id: String,
    pub name: String,
    pub latitude: f64,
    pub longitude: f64,
    pub radius_m: u32,
}

/// Everything GetWorker shows, folded from the worker's events.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct WorkerView {
    pub worker_id: String,
    pub kind: i32,
    pub employee_id: String,
    pub name: String,
    pub agency_id: String,
    pub unit_id: String,
    pub supervisor_id: String,
    pub photo_ref: String,
    pub sites: Vec<SiteView>,
    /// Encoded `EncryptedPersonalData` of the latest personal data.
    pub sealed: Vec<u8>,
    pub active: bool,
    pub deactivation_reason: i32,
    pub deactivated_on: String,
    pub joined_on: String,
    pub erased: bool,
    pub anomalies: Vec<String>,
    pub version: u64,
    pub reverified_in: Vec<String>,
}

fn sites(s: &[ev::WorkSite]) -> Vec<SiteView> {
    s.iter()
        .map(|s| SiteView {
            site_id: s.site_id.clone(),
            name: s.name.clone(),
            latitude: s.latitude,
            longitude: s.longitude,
            radius_m: s.radius_m,
        })
        .collect()
}

impl WorkerView {
    pub fn apply(&mut self, e: &Event) {
        self.version += 1;
        match e {
            Event::WorkerRegistered(r) => {
                *self = WorkerView {
                    worker_id: r.worker_id.clone(),
                    kind: r.kind,
                    employee_id: r.employee_id.clone(),
                    name: r.name.clone(),
                    agency_id: r.agency_id.clone(),
                    unit_id: r.unit_id.clone(),
                    supervisor_id: r.supervisor_id.clone(),
                    photo_ref: r.photo_ref.clone(),
                    sites: sites(&r.sites),
                    sealed: r
                        .personal
                        .as_ref()
                        .map(|p| p.encode_to_vec())
                        .unwrap_or_default(),
                    active: true,
                    joined_on: r.joined_on.clone(),
                    anomalies: r
                        .anomalies
                        .iter()
                        .map(|a| format!("{}: {}", a.kind, a.detail))
                        .collect(),
                    version: 1,
                    ..Default::default()
                };
            }
            Event::WorkerUpdated(u) => {
                for f in &u.changed {
                    match f.as_str() {
                        "name" => self.name = u.name.clone(),
                        "photo_ref" => self.photo_ref = u.photo_ref.clone(),
                        "sites" => self.sites = sites(&u.sites),
                        _ => {}
                    }
                }
                if let Some(p) = &u.personal {
                    self.sealed = p.encode_to_vec();
                }
            }
            Event::WorkerTransferred(t) => {
                self.agency_id = t.to_agency_id.clone();
                self.unit_id = t.to_unit_id.clone();
            }
            Event::SupervisorAssigned(s) => self.supervisor_id = s.supervisor_id.clone(),
            Event::WorkerDeactivated(d) => {
                self.active = false;
                self.deactivation_reason = d.reason;
                self.deactivated_on = d.effective_on.clone();
            }
            Event::WorkerErased(_) => {
                self.erased = true;
                self.sealed.clear();
            }
            Event::WorkerReverified(r) => self.reverified_in.push(r.campaign_id.clone()),
            _ => {}
        }
    }
}

pub struct IdentityReadModel;

pub fn decode(e: &RecordedEvent) -> Result<Event, ProjectionError> {
    IdentityEvent::decode(e.payload.as_ref())
        .ok()
        .and_then(|m| m.event)
        .ok_or_else(|| ProjectionError::Poison(format!("undecodable {}", e.event_type)))
}

impl Projection for IdentityReadModel {
    fn name(&self) -> &'static str {
        SCHEMA
    }

    fn subjects(&self) -> Vec<String> {
        vec![
            "pantau.identity.agency.*".into(),
            "pantau.identity.worker.*".into(),
            "pantau.identity.campaign.*".into(),
        ]
    }

    fn ddl(&self) -> &'static str {
        "CREATE TABLE IF NOT EXISTS agencies (agency_id TEXT PRIMARY KEY, code TEXT NOT NULL, name TEXT NOT NULL, time_zone TEXT NOT NULL);
         CREATE TABLE IF NOT EXISTS units (unit_id TEXT PRIMARY KEY, agency_id TEXT NOT NULL, code TEXT NOT NULL, name TEXT NOT NULL);
         CREATE TABLE IF NOT EXISTS workers (
             worker_id TEXT PRIMARY KEY, agency_id TEXT NOT NULL, unit_id TEXT NOT NULL,
             supervisor_id TEXT NOT NULL, kind INT NOT NULL, active BOOLEAN NOT NULL,
             name TEXT NOT NULL, employee_id TEXT NOT NULL, view JSONB NOT NULL);
         CREATE INDEX IF NOT EXISTS workers_agency ON workers (agency_id, worker_id);
         CREATE INDEX IF NOT EXISTS workers_employee ON workers (employee_id);
         CREATE TABLE IF NOT EXISTS campaigns (campaign_id TEXT PRIMARY KEY, title TEXT NOT NULL, agency_id TEXT NOT NULL, deadline TIMESTAMPTZ NOT NULL, closed BOOLEAN NOT NULL DEFAULT false);
         CREATE TABLE IF NOT EXISTS campaign_outcomes (campaign_id TEXT NOT NULL, worker_id TEXT NOT NULL, agency_id TEXT NOT NULL, outcome TEXT NOT NULL, PRIMARY KEY (campaign_id, worker_id));"
    }

    async fn apply(
        &self,
        conn: &mut PgConnection,
        e: &RecordedEvent,
    ) -> Result<(), ProjectionError> {
        let event = decode(e)?;
        match &event {
            Event::AgencyCreated(a) => {
                sqlx::query("INSERT INTO agencies VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING")
                    .bind(&a.agency_id)
                    .bind(&a.code)
                    .bind(&a.name)
                    .bind(&a.time_zone)
                    .execute(&mut *conn)
                    .await?;
            }
            Event::UnitCreated(u) => {
                sqlx::query("INSERT INTO units VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING")
                    .bind(&u.unit_id)
                    .bind(&u.agency_id)
                    .bind(&u.code)
                    .bind(&u.name)
                    .execute(&mut *conn)
                    .await?;
            }
            Event::CampaignOpened(c) => {
                let deadline = c
                    .deadline
                    .as_ref()
                    .and_then(|t| {
                        chrono::DateTime::from_timestamp(t.seconds, t.nanos.max(0) as u32)
                    })
                    .unwrap_or_default();
                sqlx::query(
                    "INSERT INTO campaigns VALUES ($1, $2, $3, $4, false) ON CONFLICT DO NOTHING",
                )
                .bind(&c.campaign_id)
                .bind(&c.title)
                .bind(&c.agency_id)
                .bind(deadline)
                .execute(&mut *conn)
                .await?;
            }
            Event::CampaignClosed(c) => {
                sqlx::query("UPDATE campaigns SET closed = true WHERE campaign_id = $1")
                    .bind(&c.campaign_id)
                    .execute(&mut *conn)
                    .await?;
            }
            Event::WorkerReverified(_) | Event::ReverificationMissed(_) => {
                apply_worker(conn, &event).await?;
                let (campaign, worker, outcome) = match &event {
                    Event::WorkerReverified(r) => (&r.campaign_id, &r.worker_id, "verified"),
                    Event::ReverificationMissed(m) => (&m.campaign_id, &m.worker_id, "missed"),
                    _ => return Ok(()),
                };
                sqlx::query(
                    "INSERT INTO campaign_outcomes SELECT $1, $2, agency_id, $3 FROM workers WHERE worker_id = $2 ON CONFLICT DO NOTHING",
                )
                .bind(campaign)
                .bind(worker)
                .bind(outcome)
                .execute(&mut *conn)
                .await?;
            }
            _ => apply_worker(conn, &event).await?,
        }
        Ok(())
    }
}

fn worker_id(e: &Event) -> Option<&str> {
    Some(match e {
        Event::WorkerRegistered(x) => &x.worker_id,
        Event::WorkerUpdated(x) => &x.worker_id,
        Event::WorkerTransferred(x) => &x.worker_id,
        Event::SupervisorAssigned(x) => &x.worker_id,
        Event::WorkerDeactivated(x) => &x.worker_id,
        Event::WorkerErased(x) => &x.worker_id,
        Event::WorkerReverified(x) => &x.worker_id,
        Event::ReverificationMissed(x) => &x.worker_id,
        _ => return None,
    })
}

async fn apply_worker(conn: &mut PgConnection, e: &Event) -> Result<(), ProjectionError> {
    let Some(id) = worker_id(e) else {
        return Ok(());
    };
    // A registration starts the view afresh: nothing to read first.
    let current: Option<sqlx::types::Json<WorkerView>> = match e {
        Event::WorkerRegistered(_) => None,
        _ => {
            sqlx::query_scalar("SELECT view FROM workers WHERE worker_id = $1")
                .bind(id)
                .fetch_optional(&mut *conn)
                .await?
        }
    };
    let mut view = current.map(|j| j.0).unwrap_or_default();
    view.apply(e);
    sqlx::query(
        "INSERT INTO workers VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
         ON CONFLICT (worker_id) DO UPDATE SET agency_id = $2, unit_id = $3, supervisor_id = $4,
           kind = $5, active = $6, name = $7, employee_id = $8, view = $9",
    )
    .bind(&view.worker_id)
    .bind(&view.agency_id)
    .bind(&view.unit_id)
    .bind(&view.supervisor_id)
    .bind(view.kind)
    .bind(view.active)
    .bind(&view.name)
    .bind(&view.employee_id)
    .bind(sqlx::types::Json(&view))
    .execute(&mut *conn)
    .await?;
    Ok(())
}
