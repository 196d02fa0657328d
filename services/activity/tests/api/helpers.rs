//! spawn_app(): a real activity service on throwaway NATS and PostgreSQL.
//! The registry it learns from is written straight onto the identity stream
//! (as the identity service would), and access tokens are signed with a key
//! published there, so these tests exercise activity alone. The service's
//! clock is pinned to [`NOW`] (15:00 WITA on Monday 23 November 2026), and
//! report dates are given relative to it with [`day`].

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, NaiveDate, Utc};
use pantau_activity::app::{self, Running};
use pantau_activity::config::Config;
use pantau_authn::{Claims, Issuer, SigningKeyPair};
use pantau_eventstore::{
    AppendMode, EventStore, Expected, NewEvent, RecordedEvent, StreamSpec, Upcasters,
};
use pantau_proto::activity::v1::{
    self as api, ReportStatus, ReviewDecision, activity_service_client::ActivityServiceClient,
};
use pantau_proto::events::v1::{
    self as ev, ActivityEvent, IdentityEvent, activity_event, identity_event::Event as I,
};
use pantau_testkit::{NatsServer, PgServer};
use prost::Message;
use tonic::transport::Channel;
use tonic::{Request, Status};

pub type Client = ActivityServiceClient<Channel>;

/// The pinned "now": 15:00 in Samarinda (WITA, UTC+8) on 2026-11-23.
pub const NOW: &str = "2026-11-23T07:00:00Z";
/// Today in WITA at [`NOW`].
pub const TODAY: &str = "2026-11-23";
/// The time zone of every agency here.
pub const WITA: &str = "Asia/Makassar";
/// When every worker here joined, unless a test says otherwise.
pub const JOINED: &str = "2020-01-01";

pub fn now() -> DateTime<Utc> {
    at(NOW)
}

pub fn at(s: &str) -> DateTime<Utc> {
    s.parse().unwrap_or_default()
}

/// The local date `days_ago` days before [`TODAY`] (negative: after it).
pub fn day(days_ago: i64) -> String {
    let today: NaiveDate = TODAY.parse().unwrap_or_default();
    (today - chrono::Duration::days(days_ago))
        .format("%Y-%m-%d")
        .to_string()
}

pub struct App {
    pub running: Running,
    pub _nats: NatsServer,
    pub _pg: PgServer,
    pub client: Client,
    pub identity: EventStore,
    pub activity: EventStore,
    pub config: Config,
    issuer: Issuer,
    /// A province admin's token.
    pub admin: String,
}

/// An agency with one unit, a supervisor (a worker record too) and an
/// agency admin.
pub struct Team {
    pub agency: String,
    pub unit: String,
    pub boss: String,
    /// The supervisor's token (roles supervisor and worker).
    pub boss_token: String,
    /// The agency admin's token.
    pub admin: String,
}

/// A worker and their phone's token.
pub struct Member {
    pub id: String,
    pub token: String,
}

pub async fn spawn_app() -> anyhow::Result<App> {
    spawn_app_with(|_| {}).await
}

/// [`spawn_app`] with the service's config changed by `tune` first.
pub async fn spawn_app_with(tune: impl FnOnce(&mut Config)) -> anyhow::Result<App> {
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
    let activity = EventStore::open(
        client,
        &StreamSpec::for_context("activity"),
        AppendMode::default(),
        Upcasters::new(),
    )
    .await?;
    let key = SigningKeyPair::generate().map_err(|e| anyhow::anyhow!("{e}"))?;
    let issuer = Issuer::new(key);
    publish_identity(
        &identity,
        "pantau.identity.signing_key.test",
        I::SigningKeyPublished(ev::SigningKeyPublished {
            key_id: issuer.key_id().to_owned(),
            public_key: issuer.public_key_bytes().to_vec(),
        }),
    )
    .await?;
    let mut config = Config::in_process(&nats.url, &pg.url);
    tune(&mut config);
    let running = app::start(config.clone()).await?;
    let fixed = now();
    running.activity.set_clock(Arc::new(move || fixed));
    let client = ActivityServiceClient::connect(format!("http://{}", running.addr)).await?;
    let mut app = App {
        running,
        _nats: nats,
        _pg: pg,
        client,
        identity,
        activity,
        config,
        issuer,
        admin: String::new(),
    };
    app.admin = app.token(&["province_admin"], None, None);
    Ok(app)
}

async fn publish_identity(store: &EventStore, subject: &str, e: I) -> anyhow::Result<u64> {
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

pub fn ts(at: DateTime<Utc>) -> ev::Timestamp {
    ev::Timestamp {
        seconds: at.timestamp(),
        nanos: 0,
    }
}

/// `f`, or a failure naming `what` when it takes more than 5 s (a stalled
/// call fails the test instead of hanging it).
pub async fn within<T>(what: &str, f: impl std::future::Future<Output = T>) -> T {
    match tokio::time::timeout(Duration::from_secs(5), f).await {
        Ok(v) => v,
        Err(_) => panic!("{what}: no answer within 5 s"),
    }
}

pub fn rid() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// The field an INVALID_ARGUMENT status names in its BadRequest details
/// (empty when it names none).
pub fn field_of(status: &Status) -> String {
    #[derive(Clone, PartialEq, prost::Message)]
    struct RpcStatus {
        #[prost(int32, tag = "1")]
        code: i32,
        #[prost(string, tag = "2")]
        message: String,
        #[prost(message, repeated, tag = "3")]
        details: Vec<Any>,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    struct Any {
        #[prost(string, tag = "1")]
        type_url: String,
        #[prost(bytes = "vec", tag = "2")]
        value: Vec<u8>,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    struct BadRequest {
        #[prost(message, repeated, tag = "1")]
        field_violations: Vec<FieldViolation>,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    struct FieldViolation {
        #[prost(string, tag = "1")]
        field: String,
        #[prost(string, tag = "2")]
        description: String,
    }
    let Ok(s) = RpcStatus::decode(status.details()) else {
        return String::new();
    };
    s.details
        .iter()
        .filter(|a| a.type_url.ends_with("google.rpc.BadRequest"))
        .filter_map(|a| BadRequest::decode(a.value.as_slice()).ok())
        .flat_map(|b| b.field_violations)
        .map(|v| v.field)
        .next()
        .unwrap_or_default()
}

/// Asserts INVALID_ARGUMENT naming `field`.
#[track_caller]
pub fn assert_invalid(r: Result<impl std::fmt::Debug, Status>, field: &str) {
    let e = r.unwrap_err();
    assert_eq!(
        (e.code(), field_of(&e).as_str()),
        (tonic::Code::InvalidArgument, field),
        "{e:?}"
    );
}

/// Asserts the call failed with `code`.
#[track_caller]
pub fn assert_code(r: Result<impl std::fmt::Debug, Status>, code: tonic::Code, why: &str) {
    let e = r.unwrap_err();
    assert_eq!(e.code(), code, "{why}: {e:?}");
}

pub fn activity(code: &str, unit: &str, photo: bool, location: bool) -> ev::CatalogActivity {
    ev::CatalogActivity {
        code: code.into(),
        name: format!("Kegiatan {code}"),
        unit: unit.into(),
        photo_required: photo,
        location_required: location,
    }
}

pub fn photo(r: &str) -> ev::Evidence {
    ev::Evidence {
        kind: ev::EvidenceKind::Photo as i32,
        r#ref: r.into(),
    }
}

pub fn place(site_id: &str, (lat, lon): (f64, f64)) -> Option<ev::ActivityLocation> {
    Some(ev::ActivityLocation {
        latitude: lat,
        longitude: lon,
        site_id: site_id.into(),
    })
}

/// Samarinda's town square.
pub const SQUARE: (f64, f64) = (-0.5022, 117.1536);

/// Metres north of a point, as a point.
pub fn north_of((lat, lon): (f64, f64), metres: f64) -> (f64, f64) {
    (lat + metres / 111_195.0, lon)
}

/// A report of the caller's own `code` on `date` from `start` to `end`
/// (HH:MM), quantity 1, no evidence or location.
pub fn report(code: &str, date: &str, start: &str, end: &str) -> api::ReportActivityRequest {
    api::ReportActivityRequest {
        request_id: rid(),
        worker_id: String::new(),
        code: code.into(),
        quantity: 1.0,
        date: date.into(),
        start_time: start.into(),
        end_time: end.into(),
        description: "Membersihkan".into(),
        location: None,
        evidence: vec![],
    }
}

/// The same report as amended (its fields, a fresh request id).
pub fn amendment(report_id: &str, r: &api::ReportActivityRequest) -> api::AmendActivityRequest {
    api::AmendActivityRequest {
        request_id: rid(),
        report_id: report_id.into(),
        code: r.code.clone(),
        quantity: r.quantity,
        start_time: r.start_time.clone(),
        end_time: r.end_time.clone(),
        description: r.description.clone(),
        location: r.location.clone(),
        evidence: r.evidence.clone(),
    }
}

pub fn scores(v: u32) -> ev::BerakhlakScores {
    ev::BerakhlakScores {
        berorientasi_pelayanan: v,
        akuntabel: v,
        kompeten: v,
        harmonis: v,
        loyal: v,
        adaptif: v,
        kolaboratif: v,
    }
}

pub fn ids(reports: &[api::Report]) -> Vec<&str> {
    reports.iter().map(|r| r.report_id.as_str()).collect()
}

pub fn queue_ids(q: &api::GetReviewQueueResponse) -> Vec<String> {
    q.items
        .iter()
        .filter_map(|i| i.report.as_ref().map(|r| r.report_id.clone()))
        .collect()
}

impl App {
    /// A second replica of the service on the same streams and database
    /// (its clock pinned to the same "now").
    pub async fn replica(&self) -> anyhow::Result<(Running, Client)> {
        let running = app::start(self.config.clone()).await?;
        let fixed = now();
        running.activity.set_clock(Arc::new(move || fixed));
        let client = ActivityServiceClient::connect(format!("http://{}", running.addr)).await?;
        Ok((running, client))
    }

    pub fn set_clock(&self, to: DateTime<Utc>) {
        self.running.activity.set_clock(Arc::new(move || to));
    }

    /// Publishes an identity event and waits until activity has seen it.
    pub async fn registry(&self, subject: &str, e: I) -> anyhow::Result<()> {
        let seq = publish_identity(&self.identity, subject, e).await?;
        anyhow::ensure!(
            self.running
                .activity
                .identity
                .wait_for(seq, Duration::from_secs(10))
                .await,
            "activity did not see identity event {seq}"
        );
        Ok(())
    }

    /// An agency in time zone `tz` with one unit: (agency_id, unit_id).
    pub async fn agency_in(&self, code: &str, tz: &str) -> anyhow::Result<(String, String)> {
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
        self.registry(
            &subject,
            I::UnitCreated(ev::UnitCreated {
                agency_id: agency_id.clone(),
                unit_id: unit_id.clone(),
                code: "SEKSI".into(),
                name: "Seksi Kebersihan".into(),
            }),
        )
        .await?;
        Ok((agency_id, unit_id))
    }

    /// Registers a worker (supervised by `supervisor` when not empty).
    pub async fn register(
        &self,
        name: &str,
        agency_id: &str,
        unit_id: &str,
        supervisor: &str,
        joined_on: &str,
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
                supervisor_id: supervisor.into(),
                photo_ref: format!("photos/{worker_id}.jpg"),
                joined_on: joined_on.into(),
                ..Default::default()
            }),
        )
        .await?;
        Ok(worker_id)
    }

    /// An agency (in WITA) with a supervisor and an agency admin.
    pub async fn team(&self, code: &str) -> anyhow::Result<Team> {
        self.team_in(code, WITA).await
    }

    /// A team of an agency in time zone `tz`.
    pub async fn team_in(&self, code: &str, tz: &str) -> anyhow::Result<Team> {
        let (agency, unit) = self.agency_in(code, tz).await?;
        let boss = self
            .register("Pak Mandor", &agency, &unit, "", JOINED)
            .await?;
        Ok(Team {
            boss_token: self.token(&["supervisor", "worker"], Some(&agency), Some(&boss)),
            admin: self.token(&["agency_admin"], Some(&agency), None),
            agency,
            unit,
            boss,
        })
    }

    /// A worker of `team` under its supervisor, with their token.
    pub async fn member(&self, team: &Team, name: &str) -> anyhow::Result<Member> {
        let id = self
            .register(name, &team.agency, &team.unit, &team.boss, JOINED)
            .await?;
        Ok(Member {
            token: self.token(&["worker"], Some(&team.agency), Some(&id)),
            id,
        })
    }

    /// Another supervisor in `team`'s unit (a worker record), with their
    /// supervisor token.
    pub async fn other_supervisor(&self, team: &Team, name: &str) -> anyhow::Result<Member> {
        let id = self
            .register(name, &team.agency, &team.unit, "", JOINED)
            .await?;
        Ok(Member {
            token: self.token(&["supervisor", "worker"], Some(&team.agency), Some(&id)),
            id,
        })
    }

    pub async fn assign(
        &self,
        worker_id: &str,
        supervisor_id: &str,
        effective_on: &str,
    ) -> anyhow::Result<()> {
        self.registry(
            &format!("pantau.identity.worker.{worker_id}"),
            I::SupervisorAssigned(ev::SupervisorAssigned {
                worker_id: worker_id.into(),
                supervisor_id: supervisor_id.into(),
                effective_on: effective_on.into(),
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
                effective_on: TODAY.into(),
                note: String::new(),
            }),
        )
        .await
    }

    /// An access token as identity would issue it (issued at [`NOW`], valid
    /// for 60 days).
    pub fn token(&self, roles: &[&str], agency: Option<&str>, worker: Option<&str>) -> String {
        self.issuer.issue(&Claims::new(
            format!("acc-{}", uuid::Uuid::new_v4()),
            roles.iter().map(|r| (*r).to_owned()).collect(),
            agency.map(str::to_owned),
            worker.map(str::to_owned),
            now().timestamp(),
            60 * 24 * 3600,
            uuid::Uuid::new_v4().to_string(),
        ))
    }

    /// The general catalog (APEL, no evidence needed) from 2026-01-01.
    pub async fn general_catalog(&self) -> anyhow::Result<()> {
        self.publish(
            &self.admin,
            "",
            "2026-01-01",
            vec![activity("APEL", "kali", false, false)],
        )
        .await?;
        Ok(())
    }

    /// The team's own catalog from 2026-01-01: DRAIN (metres, photo and
    /// location required) and SWEEP (hours, nothing required).
    pub async fn team_catalog(&self, team: &Team) -> anyhow::Result<()> {
        self.publish(
            &team.admin,
            &team.agency,
            "2026-01-01",
            vec![
                activity("DRAIN", "meter", true, true),
                activity("SWEEP", "jam", false, false),
            ],
        )
        .await?;
        Ok(())
    }

    pub async fn publish(
        &self,
        token: &str,
        agency: &str,
        effective_from: &str,
        activities: Vec<ev::CatalogActivity>,
    ) -> Result<u32, Status> {
        self.client
            .clone()
            .publish_catalog(authed(
                token,
                api::PublishCatalogRequest {
                    request_id: rid(),
                    agency_id: agency.into(),
                    effective_from: effective_from.into(),
                    activities,
                },
            ))
            .await
            .map(|r| r.into_inner().version)
    }

    pub async fn catalog(
        &self,
        token: &str,
        agency: &str,
        date: &str,
    ) -> Result<Vec<api::CatalogEntry>, Status> {
        self.client
            .clone()
            .get_catalog(authed(
                token,
                api::GetCatalogRequest {
                    agency_id: agency.into(),
                    date: date.into(),
                },
            ))
            .await
            .map(|r| r.into_inner().activities)
    }

    pub async fn report(
        &self,
        token: &str,
        req: api::ReportActivityRequest,
    ) -> Result<api::ReportActivityResponse, Status> {
        self.client
            .clone()
            .report_activity(authed(token, req))
            .await
            .map(tonic::Response::into_inner)
    }

    /// Files a report and returns its id.
    pub async fn filed(
        &self,
        token: &str,
        req: api::ReportActivityRequest,
    ) -> anyhow::Result<String> {
        Ok(self.report(token, req).await?.report_id)
    }

    pub async fn amend(
        &self,
        token: &str,
        req: api::AmendActivityRequest,
    ) -> Result<ReportStatus, Status> {
        self.client
            .clone()
            .amend_activity(authed(token, req))
            .await
            .map(|r| r.into_inner().status())
    }

    pub async fn review_as(
        &self,
        token: &str,
        request_id: &str,
        report_id: &str,
        decision: ReviewDecision,
        reason: &str,
    ) -> Result<ReportStatus, Status> {
        self.client
            .clone()
            .review_activity(authed(
                token,
                api::ReviewActivityRequest {
                    request_id: request_id.into(),
                    report_id: report_id.into(),
                    decision: decision as i32,
                    reason: reason.into(),
                },
            ))
            .await
            .map(|r| r.into_inner().status())
    }

    pub async fn review(
        &self,
        token: &str,
        report_id: &str,
        decision: ReviewDecision,
        reason: &str,
    ) -> Result<ReportStatus, Status> {
        self.review_as(token, &rid(), report_id, decision, reason)
            .await
    }

    pub async fn approve(&self, token: &str, report_id: &str) -> Result<ReportStatus, Status> {
        self.review(token, report_id, ReviewDecision::Approve, "")
            .await
    }

    pub async fn bulk(
        &self,
        token: &str,
        request_id: &str,
        report_ids: &[&str],
    ) -> Result<Vec<api::BulkApproveResult>, Status> {
        self.client
            .clone()
            .bulk_approve(authed(
                token,
                api::BulkApproveRequest {
                    request_id: request_id.into(),
                    report_ids: report_ids.iter().map(|s| (*s).to_owned()).collect(),
                },
            ))
            .await
            .map(|r| r.into_inner().results)
    }

    pub async fn rate(
        &self,
        token: &str,
        request_id: &str,
        worker_id: &str,
        month: &str,
        scores: ev::BerakhlakScores,
    ) -> Result<f64, Status> {
        self.client
            .clone()
            .rate_behaviour(authed(
                token,
                api::RateBehaviourRequest {
                    request_id: request_id.into(),
                    worker_id: worker_id.into(),
                    month: month.into(),
                    scores: Some(scores),
                    note: "Rajin dan tepat waktu".into(),
                },
            ))
            .await
            .map(|r| r.into_inner().average)
    }

    pub async fn worker_day(
        &self,
        token: &str,
        worker_id: &str,
        date: &str,
    ) -> Result<Vec<api::Report>, Status> {
        self.client
            .clone()
            .get_worker_day(authed(
                token,
                api::GetWorkerDayRequest {
                    worker_id: worker_id.into(),
                    date: date.into(),
                },
            ))
            .await
            .map(|r| r.into_inner().reports)
    }

    /// One report as GetWorkerDay shows it (to the province admin).
    pub async fn shown(&self, report_id: &str) -> anyhow::Result<api::Report> {
        let worker = report_id
            .get(9..45)
            .ok_or_else(|| anyhow::anyhow!("not a report id: {report_id}"))?;
        let date = report_id.get(..8).unwrap_or_default();
        let date = format!("{}-{}-{}", &date[..4], &date[4..6], &date[6..8]);
        self.worker_day(&self.admin, worker, &date)
            .await?
            .into_iter()
            .find(|r| r.report_id == report_id)
            .ok_or_else(|| anyhow::anyhow!("report {report_id} is not shown"))
    }

    pub async fn worker_month(
        &self,
        token: &str,
        worker_id: &str,
        month: &str,
    ) -> Result<api::GetWorkerMonthResponse, Status> {
        self.client
            .clone()
            .get_worker_month(authed(
                token,
                api::GetWorkerMonthRequest {
                    worker_id: worker_id.into(),
                    month: month.into(),
                },
            ))
            .await
            .map(tonic::Response::into_inner)
    }

    pub async fn queue(
        &self,
        token: &str,
        agency_id: &str,
        limit: u32,
    ) -> Result<api::GetReviewQueueResponse, Status> {
        self.client
            .clone()
            .get_review_queue(authed(
                token,
                api::GetReviewQueueRequest {
                    agency_id: agency_id.into(),
                    limit,
                },
            ))
            .await
            .map(tonic::Response::into_inner)
    }

    pub async fn volume(
        &self,
        token: &str,
        agency_id: &str,
        from: &str,
        to: &str,
    ) -> Result<Vec<api::VolumeRow>, Status> {
        self.client
            .clone()
            .get_agency_volume(authed(
                token,
                api::GetAgencyVolumeRequest {
                    agency_id: agency_id.into(),
                    from: from.into(),
                    to: to.into(),
                },
            ))
            .await
            .map(|r| r.into_inner().rows)
    }

    /// The activity stream's last sequence.
    pub async fn last_seq(&self) -> anyhow::Result<u64> {
        Ok(self.activity.last_sequence().await?)
    }

    /// Every activity event on `subject`.
    pub async fn events(&self, subject: &str) -> anyhow::Result<Vec<activity_event::Event>> {
        let loaded: Vec<RecordedEvent> = self.activity.load(subject).await?;
        Ok(loaded
            .iter()
            .filter_map(|r| ActivityEvent::decode(r.payload.as_ref()).ok()?.event)
            .collect())
    }

    /// The events of a worker's day (`date` YYYY-MM-DD).
    pub async fn day_events(
        &self,
        worker_id: &str,
        date: &str,
    ) -> anyhow::Result<Vec<activity_event::Event>> {
        self.events(&format!(
            "pantau.activity.day.{worker_id}.{}",
            date.replace('-', "")
        ))
        .await
    }
}
