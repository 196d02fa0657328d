//! spawn_app(): a real attendance service on throwaway NATS and PostgreSQL.
//! The registry it learns from is written straight onto the identity stream
//! (as the identity service would), and access tokens are signed with a key
//! published there, so these tests exercise attendance alone.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use pantau_attendance::app::{self, Running};
use pantau_attendance::config::Config;
use pantau_authn::{Claims, Issuer, SigningKeyPair};
use pantau_eventstore::{
    AppendMode, EventStore, Expected, NewEvent, RecordedEvent, StreamSpec, Upcasters,
};
use pantau_proto::attendance::v1::{
    self as api, attendance_service_client::AttendanceServiceClient,
};
use pantau_proto::events::v1::{
    self as ev, AttendanceEvent, IdentityEvent, attendance_event, identity_event::Event as I,
};
use pantau_testkit::{NatsServer, PgServer};
use prost::Message;
use tonic::Request;
use tonic::transport::Channel;

pub struct App {
    pub running: Running,
    pub _nats: NatsServer,
    pub _pg: PgServer,
    pub client: AttendanceServiceClient<Channel>,
    pub identity: EventStore,
    pub attendance: EventStore,
    pub config: Config,
    issuer: Issuer,
    /// A province admin's token.
    pub admin: String,
}

/// Samarinda's town square, the default place of sessions and work sites.
pub const SQUARE: (f64, f64) = (-0.5022, 117.1536);

pub async fn spawn_app() -> anyhow::Result<App> {
    pantau_testkit::init_logs();
    let nats = NatsServer::start().await?;
    let pg = PgServer::start().await?;
    let client = nats.client().await?;
    let identity = EventStore::open(
        client.clone(),
        &StreamSpec::for_context("identity"),
        AppendMode::default(),
        Upcasters::new(),
    )
    .await?;
    let attendance = EventStore::open(
        client,
        &StreamSpec::for_context("attendance"),
        AppendMode::default(),
        Upcasters::new(),
    )
    .await?;
    let key = SigningKeyPair::generate().map_err(|e| anyhow::anyhow!("{e}"))?;
    let issuer = Issuer::new(key);
    publish(
        &identity,
        "pantau.identity.signing_key.test",
        I::SigningKeyPublished(ev::SigningKeyPublished {
            key_id: issuer.key_id().to_owned(),
            public_key: issuer.public_key_bytes().to_vec(),
        }),
    )
    .await?;
    let config = Config::in_process(&nats.url, &pg.url);
    let running = app::start(config.clone()).await?;
    let client = AttendanceServiceClient::connect(format!("http://{}", running.addr)).await?;
    let mut app = App {
        running,
        _nats: nats,
        _pg: pg,
        client,
        identity,
        attendance,
        config,
        issuer,
        admin: String::new(),
    };
    app.admin = app.token(&["province_admin"], None, None);
    Ok(app)
}

async fn publish(store: &EventStore, subject: &str, e: I) -> anyhow::Result<u64> {
    let payload = IdentityEvent { event: Some(e) }.encode_to_vec();
    Ok(store
        .append(NewEvent {
            subject: subject.to_owned(),
            event_type: "Fixture".into(),
            schema_version: 1,
            payload: Bytes::from(payload),
            expected: Expected::Any,
            msg_id: None,
            metadata: Default::default(),
        })
        .await?
        .sequence)
}

pub fn authed<T>(token: &str, msg: T) -> Request<T> {
    let mut r = Request::new(msg);
    if let Ok(v) = format!("Bearer {token}").parse() {
        r.metadata_mut().insert("authorization", v);
    }
    r
}

pub fn rid() -> String {
    uuid::Uuid::new_v4().to_string()
}

pub fn ts(at: DateTime<Utc>) -> ev::Timestamp {
    ev::Timestamp {
        seconds: at.timestamp(),
        nanos: 0,
    }
}

pub fn site(id: &str, (lat, lon): (f64, f64), radius_m: u32) -> ev::WorkSite {
    ev::WorkSite {
        site_id: id.into(),
        name: format!("Site {id}"),
        latitude: lat,
        longitude: lon,
        radius_m,
    }
}

/// `at` as the local time (WITA) a session is opened with.
pub fn local(at: DateTime<Utc>) -> String {
    let wita: chrono_tz::Tz = chrono_tz::Asia::Makassar;
    at.with_timezone(&wita).format("%Y-%m-%dT%H:%M").to_string()
}

/// A session at the town square (200 m around [`SQUARE`]) from `starts` to
/// `ends`, in the first invited agency's time zone, for `scanners`.
pub fn session(
    title: &str,
    starts: DateTime<Utc>,
    ends: DateTime<Utc>,
    invited: Vec<ev::Invitation>,
    scanners: &[&str],
) -> api::OpenSessionRequest {
    api::OpenSessionRequest {
        request_id: rid(),
        title: title.into(),
        starts_at: local(starts),
        ends_at: local(ends),
        time_zone: String::new(),
        place: "Halaman Kantor Gubernur".into(),
        geofence: Some(ev::Geofence {
            center: Some(ev::GeoPoint {
                latitude: SQUARE.0,
                longitude: SQUARE.1,
            }),
            radius_m: 200,
            polygon: vec![],
        }),
        invited,
        scanner_ids: scanners.iter().map(|s| (*s).to_owned()).collect(),
    }
}

/// An invitation of `unit_id` in `agency_id` (empty: the whole agency).
pub fn invite(agency_id: &str, unit_id: &str) -> ev::Invitation {
    ev::Invitation {
        agency_id: agency_id.into(),
        unit_id: unit_id.into(),
    }
}

/// Metres north of a point, as a point.
pub fn north_of((lat, lon): (f64, f64), metres: f64) -> (f64, f64) {
    (lat + metres / 111_195.0, lon)
}

impl App {
    /// A second replica of the service on the same streams and database, as
    /// ops would scale it out.
    pub async fn replica(&self) -> anyhow::Result<(Running, AttendanceServiceClient<Channel>)> {
        let running = app::start(self.config.clone()).await?;
        let client = AttendanceServiceClient::connect(format!("http://{}", running.addr)).await?;
        Ok((running, client))
    }

    /// Publishes an identity event and waits until attendance has seen it.
    pub async fn registry(&self, subject: &str, e: I) -> anyhow::Result<()> {
        let seq = publish(&self.identity, subject, e).await?;
        anyhow::ensure!(
            self.running
                .attendance
                .identity
                .wait_for(seq, Duration::from_secs(10))
                .await,
            "attendance did not see identity event {seq}"
        );
        Ok(())
    }

    /// An agency in `tz` with one unit: (agency_id, unit_id).
    pub async fn agency(&self, code: &str, tz: &str) -> anyhow::Result<(String, String)> {
        let agency_id = uuid::Uuid::new_v4().to_string();
        let unit_id = uuid::Uuid::new_v4().to_string();
        let subject = format!("pantau.identity.agency.{agency_id}");
        self.registry(
            &subject,
            I::AgencyCreated(ev::AgencyCreated {
                agency_id: agency_id.clone(),
                code: code.into(),
                name: format!("Dinas {code}"),
                time_zone: tz.into(),
            }),
        )
        .await?;
        self.unit(&agency_id, &unit_id).await?;
        Ok((agency_id, unit_id))
    }

    pub async fn unit(&self, agency_id: &str, unit_id: &str) -> anyhow::Result<()> {
        self.registry(
            &format!("pantau.identity.agency.{agency_id}"),
            I::UnitCreated(ev::UnitCreated {
                agency_id: agency_id.into(),
                unit_id: unit_id.into(),
                code: "SEKSI".into(),
                name: "Seksi Kebersihan".into(),
            }),
        )
        .await
    }

    pub async fn worker(
        &self,
        name: &str,
        agency_id: &str,
        unit_id: &str,
        sites: Vec<ev::WorkSite>,
    ) -> anyhow::Result<String> {
        let worker_id = uuid::Uuid::new_v4().to_string();
        self.registry(
            &format!("pantau.identity.worker.{worker_id}"),
            I::WorkerRegistered(ev::WorkerRegistered {
                worker_id: worker_id.clone(),
                kind: ev::WorkerKind::Phl as i32,
                employee_id: format!("PHL-{}", &worker_id[..8]),
                name: name.into(),
                agency_id: agency_id.into(),
                unit_id: unit_id.into(),
                photo_ref: format!("photos/{worker_id}.jpg"),
                sites,
                joined_on: "2020-01-01".into(),
                ..Default::default()
            }),
        )
        .await?;
        Ok(worker_id)
    }

    pub async fn supervise(&self, worker_id: &str, supervisor_id: &str) -> anyhow::Result<()> {
        self.registry(
            &format!("pantau.identity.worker.{worker_id}"),
            I::SupervisorAssigned(ev::SupervisorAssigned {
                worker_id: worker_id.into(),
                supervisor_id: supervisor_id.into(),
                effective_on: "2020-01-01".into(),
            }),
        )
        .await
    }

    pub async fn deactivate(&self, worker_id: &str) -> anyhow::Result<()> {
        self.registry(
            &format!("pantau.identity.worker.{worker_id}"),
            I::WorkerDeactivated(ev::WorkerDeactivated {
                worker_id: worker_id.into(),
                reason: ev::DeactivationReason::Resigned as i32,
                effective_on: "2026-01-01".into(),
                note: String::new(),
            }),
        )
        .await
    }

    /// An access token as identity would issue it (valid for 60 days).
    pub fn token(&self, roles: &[&str], agency: Option<&str>, worker: Option<&str>) -> String {
        let now = Utc::now().timestamp();
        self.issuer.issue(&Claims::new(
            format!("acc-{}", uuid::Uuid::new_v4()),
            roles.iter().map(|r| (*r).to_owned()).collect(),
            agency.map(str::to_owned),
            worker.map(str::to_owned),
            now,
            // Long enough for tests that move the service's clock ahead.
            60 * 24 * 3600,
            uuid::Uuid::new_v4().to_string(),
        ))
    }

    pub fn set_clock(&self, at: DateTime<Utc>) {
        self.running.attendance.set_clock(Arc::new(move || at));
    }

    /// Every attendance event on `subject_filter` (e.g. `pantau.attendance.session.X`).
    pub async fn events(&self, subject: &str) -> anyhow::Result<Vec<attendance_event::Event>> {
        let loaded: Vec<RecordedEvent> = self.attendance.load(subject).await?;
        Ok(loaded
            .iter()
            .filter_map(|r| AttendanceEvent::decode(r.payload.as_ref()).ok()?.event)
            .collect())
    }

    pub async fn scanner(&mut self, agency_id: &str) -> anyhow::Result<(String, String)> {
        let r = self
            .client
            .register_scanner(authed(
                &self.admin,
                api::RegisterScannerRequest {
                    request_id: rid(),
                    name: "HP Petugas 1".into(),
                    agency_id: agency_id.into(),
                },
            ))
            .await?
            .into_inner();
        Ok((r.scanner_id, r.device_token))
    }

    /// Opens `req` as the province admin: the session's id.
    pub async fn open(&mut self, req: api::OpenSessionRequest) -> anyhow::Result<String> {
        Ok(self
            .client
            .open_session(authed(&self.admin, req))
            .await?
            .into_inner()
            .session_id)
    }

    /// The printed code of a worker.
    pub async fn code(&mut self, worker_id: &str) -> anyhow::Result<String> {
        Ok(self
            .client
            .get_credential(authed(
                &self.admin,
                api::GetCredentialRequest {
                    worker_id: worker_id.into(),
                },
            ))
            .await?
            .into_inner()
            .code)
    }
}
