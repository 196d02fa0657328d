//! spawn_app(): a real scoring service on throwaway NATS and PostgreSQL.
//! What it scores is written straight onto the identity, attendance and
//! activity streams, as those services would write it, so these tests
//! exercise scoring alone. The service's clock is pinned to [`NOW`]
//! (10:00 WITA on Thursday 5 November 2026): October has ended everywhere
//! in Indonesia, November is open.

use std::sync::Arc;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use pantau_authn::{Claims, Issuer, SigningKeyPair};
use pantau_eventstore::{AppendMode, EventStore, Expected, NewEvent, StreamSpec, Upcasters};
use pantau_proto::events::v1::{
    self as ev, ActivityEvent, AttendanceEvent, IdentityEvent, activity_event::Event as A,
    attendance_event::Event as T, identity_event::Event as I,
};
use pantau_proto::scoring::v1::{self as api, scoring_service_client::ScoringServiceClient};
use pantau_scoring::app::{self, Running};
use pantau_scoring::config::Config;
use pantau_testkit::{NatsServer, PgServer};
use prost::Message;
use tonic::transport::Channel;
use tonic::{Request, Status};

pub type Client = ScoringServiceClient<Channel>;

pub const NOW: &str = "2026-11-05T02:00:00Z";
pub const WITA: &str = "Asia/Makassar";
pub const JOINED: &str = "2020-01-01";
/// The month every test closes.
pub const OCTOBER: &str = "2026-10";

pub fn now() -> DateTime<Utc> {
    NOW.parse().unwrap_or_default()
}

pub struct App {
    pub running: Running,
    pub _nats: NatsServer,
    pub _pg: PgServer,
    pub client: Client,
    pub identity: EventStore,
    pub attendance: EventStore,
    pub activity: EventStore,
    pub scoring: EventStore,
    pub config: Config,
    issuer: Issuer,
    /// A province admin's token.
    pub admin: String,
}

/// An agency with one unit and its admin's token.
pub struct Agency {
    pub id: String,
    pub unit: String,
    pub admin: String,
}

async fn open(client: &async_nats::Client, context: &str) -> anyhow::Result<EventStore> {
    Ok(EventStore::open(
        client.clone(),
        &StreamSpec::for_context(context),
        AppendMode::default(),
        Upcasters::new(),
    )
    .await?)
}

pub async fn spawn_app() -> anyhow::Result<App> {
    spawn_with(|c| c).await
}

/// [`spawn_app`] with the config changed by `f`.
pub async fn spawn_with(f: impl FnOnce(Config) -> Config) -> anyhow::Result<App> {
    pantau_testkit::init_logs();
    let nats = NatsServer::start().await?;
    let pg = PgServer::start().await?;
    let client = nats.client().await?;
    let (identity, attendance, activity, scoring) = (
        open(&client, "identity").await?,
        open(&client, "attendance").await?,
        open(&client, "activity").await?,
        open(&client, "scoring").await?,
    );
    let issuer = Issuer::new(SigningKeyPair::generate().map_err(|e| anyhow::anyhow!("{e}"))?);
    append(
        &identity,
        "pantau.identity.signing_key.test",
        IdentityEvent {
            event: Some(I::SigningKeyPublished(ev::SigningKeyPublished {
                key_id: issuer.key_id().to_owned(),
                public_key: issuer.public_key_bytes().to_vec(),
            })),
        }
        .encode_to_vec(),
    )
    .await?;
    let config = f(Config::in_process(&nats.url, &pg.url));
    let running = start(&config).await?;
    let client = ScoringServiceClient::connect(format!("http://{}", running.addr)).await?;
    let mut app = App {
        running,
        _nats: nats,
        _pg: pg,
        client,
        identity,
        attendance,
        activity,
        scoring,
        config,
        issuer,
        admin: String::new(),
    };
    app.admin = app.token(&["province_admin"], None, None);
    Ok(app)
}

/// A scoring service with its clock pinned to [`NOW`].
pub async fn start(config: &Config) -> anyhow::Result<Running> {
    let running = app::start(config.clone()).await?;
    let fixed = now();
    running.scoring.set_clock(Arc::new(move || fixed));
    Ok(running)
}

async fn append(store: &EventStore, subject: &str, payload: Vec<u8>) -> anyhow::Result<u64> {
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

/// Asserts the call failed with `code`.
#[track_caller]
pub fn assert_code(r: Result<impl std::fmt::Debug, Status>, code: tonic::Code, why: &str) {
    let e = r.unwrap_err();
    assert_eq!(e.code(), code, "{why}: {e:?}");
}

/// Asserts INVALID_ARGUMENT naming `field` (in the message; the field
/// violation carries the same name).
#[track_caller]
pub fn assert_invalid(r: Result<impl std::fmt::Debug, Status>, field: &str) {
    let e = r.unwrap_err();
    assert_eq!(e.code(), tonic::Code::InvalidArgument, "{e:?}");
    assert!(e.message().contains(field), "{field} not named in {e:?}");
}

/// Rules paying `points` a unit of each `(code, points)`, `present` a
/// workday present, with the national defaults otherwise.
pub fn rules(codes: &[(&str, f64)], present: f64) -> ev::Rules {
    ev::Rules {
        activities: codes
            .iter()
            .map(|(code, points)| ev::CodeRule {
                code: (*code).into(),
                points_per_unit: *points,
                daily_cap: 0.0,
                monthly_cap: 0.0,
            })
            .collect(),
        present_day_points: present,
        ..Default::default()
    }
}

impl App {
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

    /// Any message on a stream.
    pub async fn raw_event(
        &self,
        store: &EventStore,
        subject: &str,
        m: impl Message,
    ) -> anyhow::Result<u64> {
        append(store, subject, m.encode_to_vec()).await
    }

    async fn identity_event(&self, subject: &str, e: I) -> anyhow::Result<()> {
        let seq = append(
            &self.identity,
            subject,
            IdentityEvent { event: Some(e) }.encode_to_vec(),
        )
        .await?;
        anyhow::ensure!(
            self.running
                .scoring
                .identity
                .wait_for(seq, std::time::Duration::from_secs(10))
                .await,
            "scoring did not see identity event {seq}"
        );
        Ok(())
    }

    pub async fn agency(&self, code: &str, tz: &str) -> anyhow::Result<Agency> {
        let id = uuid::Uuid::new_v4().to_string();
        let unit = uuid::Uuid::new_v4().to_string();
        self.identity_event(
            &format!("pantau.identity.agency.{id}"),
            I::AgencyCreated(ev::AgencyCreated {
                agency_id: id.clone(),
                code: code.into(),
                name: format!("Dinas {code}"),
                time_zone: tz.into(),
            }),
        )
        .await?;
        Ok(Agency {
            admin: self.token(&["agency_admin"], Some(&id), None),
            id,
            unit,
        })
    }

    /// A contract worker (PHL) of `agency`, or a civil servant when `pns`.
    pub async fn worker(&self, agency: &Agency, pns: bool) -> anyhow::Result<String> {
        self.worker_in(agency, &agency.unit, pns).await
    }

    pub async fn worker_in(
        &self,
        agency: &Agency,
        unit: &str,
        pns: bool,
    ) -> anyhow::Result<String> {
        let id = uuid::Uuid::new_v4().to_string();
        let kind = if pns {
            ev::WorkerKind::Pns
        } else {
            ev::WorkerKind::Phl
        };
        self.identity_event(
            &format!("pantau.identity.worker.{id}"),
            I::WorkerRegistered(ev::WorkerRegistered {
                worker_id: id.clone(),
                kind: kind as i32,
                employee_id: format!("PHL-{}", &id[..8]),
                name: "Pekerja".into(),
                agency_id: agency.id.clone(),
                unit_id: unit.to_owned(),
                joined_on: JOINED.into(),
                ..Default::default()
            }),
        )
        .await?;
        Ok(id)
    }

    async fn activity_event(&self, worker: &str, date: &str, e: A) -> anyhow::Result<u64> {
        let subject = format!("pantau.activity.day.{worker}.{}", date.replace('-', ""));
        append(
            &self.activity,
            &subject,
            ActivityEvent { event: Some(e) }.encode_to_vec(),
        )
        .await
    }

    /// A report of `quantity` units of `code` on `date` from `start` to
    /// `end` (minutes of the day), as activity records it.
    #[allow(clippy::too_many_arguments)]
    pub async fn report(
        &self,
        agency: &Agency,
        worker: &str,
        date: &str,
        code: &str,
        quantity: f64,
        (start, end): (u32, u32),
    ) -> anyhow::Result<String> {
        let report_id = format!(
            "{}.{worker}.{}",
            date.replace('-', ""),
            uuid::Uuid::new_v4().simple()
        );
        self.activity_event(
            worker,
            date,
            A::ActivityReported(ev::ActivityReported {
                report_id: report_id.clone(),
                worker_id: worker.into(),
                agency_id: agency.id.clone(),
                unit_id: agency.unit.clone(),
                local_date: date.into(),
                details: Some(ev::ActivityDetails {
                    code: code.into(),
                    quantity,
                    start_minute: start,
                    end_minute: end,
                    ..Default::default()
                }),
                ..Default::default()
            }),
        )
        .await?;
        Ok(report_id)
    }

    pub async fn approve(&self, worker: &str, date: &str, report_id: &str) -> anyhow::Result<u64> {
        self.activity_event(
            worker,
            date,
            A::ActivityApproved(ev::ActivityApproved {
                report_id: report_id.into(),
                worker_id: worker.into(),
                ..Default::default()
            }),
        )
        .await
    }

    pub async fn reject(&self, worker: &str, date: &str, report_id: &str) -> anyhow::Result<u64> {
        self.activity_event(
            worker,
            date,
            A::ActivityRejected(ev::ActivityRejected {
                report_id: report_id.into(),
                worker_id: worker.into(),
                reason: "bukan tugasnya".into(),
                ..Default::default()
            }),
        )
        .await
    }

    pub async fn amend(
        &self,
        worker: &str,
        date: &str,
        report_id: &str,
        code: &str,
        quantity: f64,
    ) -> anyhow::Result<u64> {
        self.activity_event(
            worker,
            date,
            A::ActivityAmended(ev::ActivityAmended {
                report_id: report_id.into(),
                worker_id: worker.into(),
                details: Some(ev::ActivityDetails {
                    code: code.into(),
                    quantity,
                    start_minute: 8 * 60,
                    end_minute: 9 * 60,
                    ..Default::default()
                }),
                ..Default::default()
            }),
        )
        .await
    }

    /// A check-in on `date`, `late` minutes late.
    pub async fn check_in(
        &self,
        agency: &Agency,
        worker: &str,
        date: &str,
        late: u32,
    ) -> anyhow::Result<u64> {
        let e = T::CheckedIn(ev::CheckedIn {
            presence: Some(ev::Presence {
                worker_id: worker.into(),
                agency_id: agency.id.clone(),
                unit_id: agency.unit.clone(),
                local_date: date.into(),
                local_minute: 7 * 60 + 30 + late,
                late_minutes: late,
                inside: true,
                ..Default::default()
            }),
        });
        append(
            &self.attendance,
            &format!("pantau.attendance.worker.{worker}"),
            AttendanceEvent { event: Some(e) }.encode_to_vec(),
        )
        .await
    }

    pub async fn publish_rules(
        &self,
        token: &str,
        agency_id: &str,
        from: &str,
        rules: ev::Rules,
    ) -> Result<api::PublishRuleSetResponse, Status> {
        self.client
            .clone()
            .publish_rule_set(authed(
                token,
                api::PublishRuleSetRequest {
                    request_id: rid(),
                    agency_id: agency_id.into(),
                    effective_from: from.into(),
                    decree: "Keputusan Bupati 371/22/HK/2021".into(),
                    rules: Some(rules),
                },
            ))
            .await
            .map(tonic::Response::into_inner)
    }

    pub async fn worker_month(
        &self,
        worker: &str,
        month: &str,
    ) -> anyhow::Result<api::GetWorkerMonthResponse> {
        Ok(self
            .client
            .clone()
            .get_worker_month(authed(
                &self.admin,
                api::GetWorkerMonthRequest {
                    worker_id: worker.into(),
                    month: month.into(),
                },
            ))
            .await?
            .into_inner())
    }

    /// The live points of a worker's month.
    pub async fn live_points(&self, worker: &str, month: &str) -> anyhow::Result<f64> {
        Ok(self
            .worker_month(worker, month)
            .await?
            .live
            .map_or(-1.0, |f| f.points))
    }

    pub async fn close(
        &self,
        token: &str,
        agency_id: &str,
        month: &str,
        request_id: &str,
    ) -> Result<api::CloseMonthResponse, Status> {
        self.client
            .clone()
            .close_month(authed(
                token,
                api::CloseMonthRequest {
                    request_id: request_id.into(),
                    agency_id: agency_id.into(),
                    month: month.into(),
                },
            ))
            .await
            .map(tonic::Response::into_inner)
    }

    pub async fn agency_month(
        &self,
        agency_id: &str,
        month: &str,
    ) -> anyhow::Result<api::GetAgencyMonthResponse> {
        Ok(self
            .client
            .clone()
            .get_agency_month(authed(
                &self.admin,
                api::GetAgencyMonthRequest {
                    agency_id: agency_id.into(),
                    month: month.into(),
                },
            ))
            .await?
            .into_inner())
    }

    /// Every event on the scoring stream's subjects matching `filter`.
    pub async fn scoring_events(
        &self,
        filter: &str,
    ) -> anyhow::Result<Vec<ev::scoring_event::Event>> {
        use futures::StreamExt;
        let stream = self
            .scoring
            .jetstream()
            .get_stream("PANTAU_SCORING")
            .await?;
        let last = self.scoring.last_sequence().await?;
        let mut out = Vec::new();
        if last == 0 {
            return Ok(out);
        }
        let consumer = stream
            .create_consumer(async_nats::jetstream::consumer::pull::OrderedConfig {
                filter_subject: filter.into(),
                ..Default::default()
            })
            .await?;
        let mut messages = consumer.messages().await?;
        let end = self.scoring.last_sequence_of(filter).await?;
        if end == 0 {
            return Ok(out);
        }
        while let Some(m) = messages.next().await {
            let m = m?;
            let seq = m.info().map(|i| i.stream_sequence).unwrap_or(0);
            if let Some(e) = ev::ScoringEvent::decode(m.payload.as_ref())
                .ok()
                .and_then(|e| e.event)
            {
                out.push(e);
            }
            if seq >= end {
                break;
            }
        }
        Ok(out)
    }
}
