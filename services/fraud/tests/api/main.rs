//! The fraud service over gRPC, on real NATS (durable) and PostgreSQL: the
//! facts are written straight onto the identity and attendance streams, as
//! those services would write them.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use bytes::Bytes;
use pantau_authn::{Claims, Issuer, SigningKeyPair};
use pantau_eventstore::{AppendMode, EventStore, Expected, NewEvent, StreamSpec, Upcasters};
use pantau_fraud::app::{self, Running};
use pantau_fraud::config::Config;
use pantau_proto::events::v1::{
    self as ev, AttendanceEvent, IdentityEvent, attendance_event::Event as T,
    identity_event::Event as I,
};
use pantau_proto::fraud::v1::{self as api, fraud_service_client::FraudServiceClient};
use pantau_testkit::{NatsServer, PgServer};
use prost::Message;
use tonic::transport::Channel;
use tonic::{Code, Request};

const NOW: &str = "2026-11-05T02:00:00Z";
const OCTOBER: &str = "2026-10";

struct App {
    _running: Running,
    _nats: NatsServer,
    _pg: PgServer,
    client: FraudServiceClient<Channel>,
    identity: EventStore,
    attendance: EventStore,
    issuer: Issuer,
    agency: String,
    auditor: String,
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

fn authed<T>(token: &str, msg: T) -> Request<T> {
    let mut r = Request::new(msg);
    if let Ok(v) = format!("Bearer {token}").parse() {
        r.metadata_mut().insert("authorization", v);
    }
    r
}

fn rid() -> String {
    uuid::Uuid::new_v4().to_string()
}

impl App {
    fn token(&self, roles: &[&str]) -> String {
        self.issuer.issue(&Claims::new(
            format!("acc-{}", uuid::Uuid::new_v4()),
            roles.iter().map(|r| (*r).to_owned()).collect(),
            Some(self.agency.clone()),
            None,
            NOW.parse::<chrono::DateTime<chrono::Utc>>()
                .unwrap()
                .timestamp(),
            3600 * 24 * 60,
            uuid::Uuid::new_v4().to_string(),
        ))
    }

    /// A contract worker who joined in 2020, with a NIK fingerprint.
    async fn worker(&self, nik_fingerprint: &str) -> anyhow::Result<(String, u64)> {
        let id = uuid::Uuid::new_v4().to_string();
        let seq = append(
            &self.identity,
            &format!("pantau.identity.worker.{id}"),
            IdentityEvent {
                event: Some(I::WorkerRegistered(ev::WorkerRegistered {
                    worker_id: id.clone(),
                    kind: ev::WorkerKind::Phl as i32,
                    employee_id: format!("PHL-{}", &id[..8]),
                    name: "Pekerja".into(),
                    agency_id: self.agency.clone(),
                    unit_id: "unit".into(),
                    joined_on: "2020-01-01".into(),
                    birth_date: "1990-05-17".into(),
                    sex: 1,
                    fingerprints: Some(ev::Fingerprints {
                        nik: nik_fingerprint.into(),
                        ..Default::default()
                    }),
                    ..Default::default()
                })),
            }
            .encode_to_vec(),
        )
        .await?;
        Ok((id, seq))
    }

    /// A check-in on every workday of October, each a little elsewhere
    /// (and never where anyone else stood).
    async fn present_all_october(&self, worker: &str) -> anyhow::Result<()> {
        let own = f64::from(u32::from_str_radix(&worker[..4], 16).unwrap_or(0)) * 1e-7;
        let month = pantau_platform::time::Month::parse(OCTOBER, "month")?;
        for (i, day) in month.days().enumerate() {
            use chrono::Datelike;
            if day.weekday().number_from_monday() > 5 {
                continue;
            }
            let at = day.and_hms_opt(0, 30, 0).unwrap().and_utc();
            append(
                &self.attendance,
                &format!("pantau.attendance.worker.{worker}"),
                AttendanceEvent {
                    event: Some(T::CheckedIn(ev::CheckedIn {
                        presence: Some(ev::Presence {
                            worker_id: worker.into(),
                            agency_id: self.agency.clone(),
                            at: Some(ev::Timestamp {
                                seconds: at.timestamp(),
                                nanos: 0,
                            }),
                            position: Some(ev::GeoPoint {
                                latitude: -0.5 + i as f64 * 0.0001 + own,
                                longitude: 117.15 + i as f64 * 0.0001 + own,
                            }),
                            accuracy_m: 8.0,
                            device_id: format!("phone-{worker}"),
                            local_date: day.to_string(),
                            local_minute: 450,
                            time_zone: "Asia/Makassar".into(),
                            inside: true,
                            site_id: "S1".into(),
                            ..Default::default()
                        }),
                    })),
                }
                .encode_to_vec(),
            )
            .await?;
        }
        Ok(())
    }

    async fn run(&self, token: &str) -> Result<api::RunDetectorsResponse, tonic::Status> {
        self.client
            .clone()
            .run_detectors(authed(
                token,
                api::RunDetectorsRequest {
                    request_id: rid(),
                    month: OCTOBER.into(),
                    agency_id: String::new(),
                },
            ))
            .await
            .map(tonic::Response::into_inner)
    }

    async fn open_findings(&self) -> anyhow::Result<Vec<api::FindingSummary>> {
        Ok(self
            .client
            .clone()
            .list_findings(authed(
                &self.auditor,
                api::ListFindingsRequest {
                    month: OCTOBER.into(),
                    ..Default::default()
                },
            ))
            .await?
            .into_inner()
            .findings)
    }

    async fn resolve(
        &self,
        finding: &str,
        resolution: ev::Resolution,
        reason: &str,
        request_id: &str,
    ) -> Result<api::ResolveFindingResponse, tonic::Status> {
        self.client
            .clone()
            .resolve_finding(authed(
                &self.auditor,
                api::ResolveFindingRequest {
                    request_id: request_id.into(),
                    finding_id: finding.into(),
                    resolution: resolution as i32,
                    reason: reason.into(),
                },
            ))
            .await
            .map(tonic::Response::into_inner)
    }
}

async fn spawn_app() -> anyhow::Result<App> {
    spawn_with(|c| c).await
}

async fn spawn_with(f: impl FnOnce(Config) -> Config) -> anyhow::Result<App> {
    pantau_testkit::init_logs();
    let nats = NatsServer::start().await?;
    let pg = PgServer::start().await?;
    let client = nats.client().await?;
    let (identity, attendance) = (
        open(&client, "identity").await?,
        open(&client, "attendance").await?,
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
    let agency = uuid::Uuid::new_v4().to_string();
    append(
        &identity,
        &format!("pantau.identity.agency.{agency}"),
        IdentityEvent {
            event: Some(I::AgencyCreated(ev::AgencyCreated {
                agency_id: agency.clone(),
                code: "DLH".into(),
                name: "Dinas Lingkungan Hidup".into(),
                time_zone: "Asia/Makassar".into(),
            })),
        }
        .encode_to_vec(),
    )
    .await?;
    let running = app::start(f(Config::in_process(&nats.url, &pg.url))).await?;
    let fixed: chrono::DateTime<chrono::Utc> = NOW.parse()?;
    running.fraud.set_clock(Arc::new(move || fixed));
    let client = FraudServiceClient::connect(format!("http://{}", running.addr)).await?;
    let mut app = App {
        _running: running,
        _nats: nats,
        _pg: pg,
        client,
        identity,
        attendance,
        issuer,
        agency,
        auditor: String::new(),
    };
    app.auditor = app.token(&["auditor"]);
    Ok(app)
}

#[tokio::test]
async fn two_workers_on_one_nik_are_raised_once_with_their_evidence() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let (a, a_seq) = app.worker("nik-fp-shared").await?;
    let (b, b_seq) = app.worker("nik-fp-shared").await?;
    let (honest, _) = app.worker("nik-fp-own").await?;
    for w in [&a, &b, &honest] {
        app.present_all_october(w).await?;
    }
    let run = app.run(&app.auditor).await?;
    assert_eq!((run.raised, run.already_known), (2, 0));
    let findings = app.open_findings().await?;
    let subjects: Vec<&str> = findings.iter().map(|f| f.subject_id.as_str()).collect();
    assert!(
        subjects.contains(&a.as_str()) && subjects.contains(&b.as_str()),
        "{subjects:?}"
    );
    assert!(
        !subjects.contains(&honest.as_str()),
        "the honest worker is not flagged"
    );
    for f in &findings {
        assert_eq!(f.detectors, ["duplicate_nik"]);
        assert_eq!(f.kind, ev::FindingKind::Ghost as i32);
        assert_eq!(f.agency_id, app.agency);
        assert!(f.risk >= 0.9, "{f:?}");
    }
    let got = app
        .client
        .clone()
        .get_finding(authed(
            &app.auditor,
            api::GetFindingRequest {
                finding_id: findings[0].finding_id.clone(),
            },
        ))
        .await?
        .into_inner();
    let signal = &got.finding.unwrap().signals[0];
    let seqs: Vec<u64> = signal.evidence.iter().map(|e| e.sequence).collect();
    assert!(seqs.contains(&a_seq) && seqs.contains(&b_seq), "{seqs:?}");
    assert!(
        signal
            .evidence
            .iter()
            .all(|e| e.stream == "PANTAU_IDENTITY")
    );
    assert!(!signal.explanation.is_empty());
    assert!(got.resolution.is_none());
    // The same evidence raises nothing new.
    let again = app.run(&app.auditor).await?;
    assert_eq!((again.raised, again.already_known), (0, 2));
    Ok(())
}

#[tokio::test]
async fn a_cleared_finding_does_not_come_back_and_a_never_present_worker_is_found()
-> anyhow::Result<()> {
    let app = spawn_app().await?;
    let (ghost, _) = app.worker("nik-fp-ghost").await?;
    let (honest, _) = app.worker("nik-fp-honest").await?;
    app.present_all_october(&honest).await?;
    app.run(&app.auditor).await?;
    let findings = app.open_findings().await?;
    assert_eq!(findings.len(), 1, "{findings:?}");
    assert_eq!(
        (
            findings[0].subject_id.as_str(),
            findings[0].detectors.as_slice()
        ),
        (ghost.as_str(), ["never_present".to_owned()].as_slice())
    );
    let id = findings[0].finding_id.clone();

    let field = |e: tonic::Status| (e.code(), e.message().to_owned());
    let e = app
        .resolve(&id, ev::Resolution::Cleared, " ", &rid())
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    assert!(field(e).1.contains("reason"));
    let e = app
        .resolve(&id, ev::Resolution::Unspecified, "x", &rid())
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    let e = app
        .resolve("no-such-finding", ev::Resolution::Cleared, "x", &rid())
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::NotFound);
    let cleared = app
        .resolve(
            &id,
            ev::Resolution::Cleared,
            "cuti di luar tanggungan negara",
            "clear-1",
        )
        .await?;
    assert_eq!(cleared.resolution, ev::Resolution::Cleared as i32);
    let retry = app
        .resolve(
            &id,
            ev::Resolution::Cleared,
            "cuti di luar tanggungan negara",
            "clear-1",
        )
        .await?;
    assert_eq!(
        retry.resolution, cleared.resolution,
        "a retry answers like the first"
    );
    let e = app
        .resolve(&id, ev::Resolution::ConfirmedGhost, "", &rid())
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::FailedPrecondition, "resolved once");

    assert!(
        app.open_findings().await?.is_empty(),
        "cleared findings are not listed as open"
    );
    let again = app.run(&app.auditor).await?;
    assert_eq!(
        (again.raised, again.already_known),
        (0, 1),
        "the same evidence does not come back"
    );
    let all = app
        .client
        .clone()
        .list_findings(authed(
            &app.auditor,
            api::ListFindingsRequest {
                include_resolved: true,
                ..Default::default()
            },
        ))
        .await?
        .into_inner()
        .findings;
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].resolution, ev::Resolution::Cleared as i32);
    Ok(())
}

#[tokio::test]
async fn only_investigators_run_detectors_and_resolve() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    app.worker("nik-fp").await?;
    let worker = app.token(&["worker"]);
    assert_eq!(
        app.run(&worker).await.unwrap_err().code(),
        Code::PermissionDenied
    );
    let admin = app.token(&["agency_admin"]);
    assert_eq!(
        app.run(&admin).await.unwrap_err().code(),
        Code::PermissionDenied
    );
    let bad = app
        .client
        .clone()
        .run_detectors(authed(
            &app.auditor,
            api::RunDetectorsRequest {
                request_id: rid(),
                month: "Oktober".into(),
                agency_id: String::new(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(bad.code(), Code::InvalidArgument);
    assert!(bad.message().contains("month"), "{bad:?}");
    // The agency's admin reads the agency's findings; another's does not.
    app.run(&app.auditor).await?;
    let listed = app
        .client
        .clone()
        .list_findings(authed(
            &admin,
            api::ListFindingsRequest {
                agency_id: app.agency.clone(),
                ..Default::default()
            },
        ))
        .await?
        .into_inner()
        .findings;
    assert_eq!(listed.len(), 1);
    let other = app
        .client
        .clone()
        .list_findings(authed(
            &admin,
            api::ListFindingsRequest {
                agency_id: rid(),
                ..Default::default()
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(other.code(), Code::PermissionDenied);
    Ok(())
}

#[tokio::test]
async fn the_detectors_sweep_the_last_month_by_themselves() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let (a, _) = app.worker("nik-fp-twice").await?;
    let (b, _) = app.worker("nik-fp-twice").await?;
    for w in [&a, &b] {
        app.present_all_october(w).await?;
    }
    // A replica that sweeps (its clock at 5 November: October has ended).
    let config = Config {
        sweep_secs: 1,
        ..Config::in_process(&app._nats.url, &app._pg.url)
    };
    let sweeper = app::start(config).await?;
    let fixed: chrono::DateTime<chrono::Utc> = NOW.parse()?;
    sweeper.fraud.set_clock(Arc::new(move || fixed));
    let mut client = FraudServiceClient::connect(format!("http://{}", sweeper.addr)).await?;
    for _ in 0..100 {
        let found = client
            .list_findings(authed(
                &app.auditor,
                api::ListFindingsRequest {
                    month: OCTOBER.into(),
                    ..Default::default()
                },
            ))
            .await?
            .into_inner()
            .findings;
        if !found.is_empty() {
            assert_eq!(found.len(), 2, "{found:?}");
            assert!(
                found.iter().all(|f| f.detectors == ["duplicate_nik"]),
                "{found:?}"
            );
            sweeper.stop().await;
            return Ok(());
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    anyhow::bail!("the sweep raised nothing")
}

#[tokio::test]
async fn absences_are_judged_only_once_the_month_has_ended() -> anyhow::Result<()> {
    // On 5 November nobody has been present all November yet.
    let app = spawn_app().await?;
    app.worker("nik-fp-new").await?;
    let run = app
        .client
        .clone()
        .run_detectors(authed(
            &app.auditor,
            api::RunDetectorsRequest {
                request_id: rid(),
                month: "2026-11".into(),
                agency_id: String::new(),
            },
        ))
        .await?
        .into_inner();
    assert_eq!(run.raised, 0);
    // October has ended: the same worker was never present in it.
    assert_eq!(app.run(&app.auditor).await?.raised, 1);
    Ok(())
}
