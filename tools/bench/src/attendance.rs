//! The attendance service end to end over gRPC on a durable NATS
//! (`sync_interval: always`):
//!
//! - ceremony: 20 officer scanners upload 4,000 printed-code scans in
//!   batches at once; the figure is the time until every scan is accepted;
//! - morning check-in: 100,000 workers check in through 1,000 concurrent
//!   clients that together offer 10,000 check-ins a second (open loop:
//!   latency counts from when each request was due, so a stall is not
//!   hidden), then the same clients as fast as they can (closed loop).
//!
//! The registry is written straight onto the identity stream, as the
//! identity service would, so the figures are attendance's own.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, ensure};
use bytes::Bytes;
use chrono::Utc;
use pantau_attendance::app::Running;
use pantau_authn::{Claims, Issuer, SigningKeyPair};
use pantau_eventstore::{AppendMode, EventStore, Expected, NewEvent, StreamSpec, Upcasters};
use pantau_proto::attendance::v1::{
    self as api, attendance_service_client::AttendanceServiceClient,
};
use pantau_proto::events::v1::{self as ev, IdentityEvent, identity_event::Event as I};
use pantau_qr::Credential;
use pantau_testkit::{NatsServer, PgServer};
use prost::Message;
use serde_json::{Value, json};
use tonic::Request;
use tonic::transport::{Channel, Endpoint};

use crate::util::{latency_ms, log, per_sec};

const SCANNERS: usize = 20;
const CEREMONY_SCANS: usize = 4_000;
const SCANS_PER_UPLOAD: usize = 50;
const CLIENTS: usize = 1_000;
const OFFERED_PER_SEC: f64 = 10_000.0;
/// HTTP/2 connections the clients share (phones would each have their own;
/// a load balancer in front of the replicas pools them like this).
const CONNECTIONS: usize = 16;
const SQUARE: (f64, f64) = (-0.5022, 117.1536);

fn authed<T>(token: &str, msg: T) -> anyhow::Result<Request<T>> {
    let mut req = Request::new(msg);
    req.metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse()?);
    Ok(req)
}

struct Registry {
    identity: EventStore,
    issuer: Issuer,
    agency: String,
    ceremony_unit: String,
    field_unit: String,
}

async fn publish(store: &EventStore, subject: String, e: I) -> anyhow::Result<u64> {
    Ok(store
        .append(NewEvent {
            subject,
            event_type: "BenchFixture".into(),
            schema_version: 1,
            payload: Bytes::from(IdentityEvent { event: Some(e) }.encode_to_vec()),
            expected: Expected::Any,
            msg_id: None,
            metadata: Default::default(),
        })
        .await?
        .sequence)
}

impl Registry {
    async fn new(nats: &NatsServer) -> anyhow::Result<Registry> {
        let identity = EventStore::open(
            nats.client().await?,
            &StreamSpec::for_context("identity"),
            AppendMode::default(),
            Upcasters::new(),
        )
        .await?;
        let issuer = Issuer::new(SigningKeyPair::generate().map_err(|e| anyhow::anyhow!("{e}"))?);
        publish(
            &identity,
            "pantau.identity.signing_key.bench".into(),
            I::SigningKeyPublished(ev::SigningKeyPublished {
                key_id: issuer.key_id().to_owned(),
                public_key: issuer.public_key_bytes().to_vec(),
            }),
        )
        .await?;
        let agency = uuid::Uuid::new_v4().to_string();
        let subject = format!("pantau.identity.agency.{agency}");
        publish(
            &identity,
            subject.clone(),
            I::AgencyCreated(ev::AgencyCreated {
                agency_id: agency.clone(),
                code: "DLH".into(),
                name: "Dinas Lingkungan Hidup".into(),
                time_zone: "Asia/Makassar".into(),
            }),
        )
        .await?;
        let (ceremony_unit, field_unit) = (
            uuid::Uuid::new_v4().to_string(),
            uuid::Uuid::new_v4().to_string(),
        );
        for (unit, name) in [(&ceremony_unit, "Sekretariat"), (&field_unit, "UPT Taman")] {
            publish(
                &identity,
                subject.clone(),
                I::UnitCreated(ev::UnitCreated {
                    agency_id: agency.clone(),
                    unit_id: unit.clone(),
                    code: name.to_uppercase().replace(' ', "-"),
                    name: name.into(),
                }),
            )
            .await?;
        }
        Ok(Registry {
            identity,
            issuer,
            agency,
            ceremony_unit,
            field_unit,
        })
    }

    /// Registers `n` workers in `unit` concurrently; returns their ids and
    /// the last stream sequence.
    async fn workers(&self, n: usize, unit: &str) -> anyhow::Result<(Vec<String>, u64)> {
        let ids: Vec<String> = (0..n).map(|_| uuid::Uuid::new_v4().to_string()).collect();
        let mut tasks = tokio::task::JoinSet::new();
        for chunk in ids.chunks(n.div_ceil(64).max(1)) {
            let (store, agency, unit, chunk) = (
                self.identity.clone(),
                self.agency.clone(),
                unit.to_owned(),
                chunk.to_vec(),
            );
            tasks.spawn(async move {
                let mut last = 0;
                for (i, id) in chunk.iter().enumerate() {
                    let e = I::WorkerRegistered(ev::WorkerRegistered {
                        worker_id: id.clone(),
                        kind: ev::WorkerKind::Phl as i32,
                        employee_id: format!("PHL-{}", &id[..8]),
                        name: format!("Pekerja {i}"),
                        agency_id: agency.clone(),
                        unit_id: unit.clone(),
                        sites: vec![ev::WorkSite {
                            site_id: "taman".into(),
                            name: "Taman Samarendah".into(),
                            latitude: SQUARE.0,
                            longitude: SQUARE.1,
                            radius_m: 200,
                        }],
                        joined_on: "2020-01-01".into(),
                        ..Default::default()
                    });
                    last =
                        last.max(publish(&store, format!("pantau.identity.worker.{id}"), e).await?);
                }
                anyhow::Ok(last)
            });
        }
        let mut last = 0;
        while let Some(r) = tasks.join_next().await {
            last = last.max(r??);
        }
        Ok((ids, last))
    }

    fn token(&self, worker: Option<&str>, roles: &[&str]) -> String {
        let now = Utc::now().timestamp();
        self.issuer.issue(&Claims::new(
            format!("acc-{}", uuid::Uuid::new_v4()),
            roles.iter().map(|r| (*r).to_owned()).collect(),
            Some(self.agency.clone()),
            worker.map(str::to_owned),
            now,
            3600,
            uuid::Uuid::new_v4().to_string(),
        ))
    }
}

pub async fn run(pg: &PgServer, checkins: usize) -> anyhow::Result<Value> {
    log("attendance: starting a durable NATS server and the attendance service");
    let nats = NatsServer::spawn(true).await?;
    let registry = Registry::new(&nats).await?;
    let running = pantau_attendance::app::start(pantau_attendance::config::Config::in_process(
        &nats.url, &pg.url,
    ))
    .await?;
    log(&format!(
        "attendance: registering {} workers on the identity stream",
        checkins + CEREMONY_SCANS
    ));
    let (ceremony_workers, _) = registry
        .workers(CEREMONY_SCANS, &registry.ceremony_unit)
        .await?;
    let (field_workers, last) = registry.workers(checkins, &registry.field_unit).await?;
    ensure!(
        running
            .attendance
            .identity
            .wait_for(last, Duration::from_secs(300))
            .await,
        "the attendance directory did not catch up with the registry"
    );
    let channels = connect(&running).await?;
    let ceremony = ceremony(&running, &registry, &channels[0], &ceremony_workers).await?;
    let (paced, saturated) = morning(&registry, &channels, &field_workers).await?;
    // How long after the last check-out the days and the map show it all.
    let last = running.attendance.store.last_sequence().await?;
    let start = Instant::now();
    let caught_up = running
        .attendance
        .read
        .wait_for(last, Duration::from_secs(600))
        .await;
    let read_model_seconds =
        caught_up.then(|| (start.elapsed().as_secs_f64() * 100.0).round() / 100.0);
    log(&format!(
        "attendance: read model caught up {read_model_seconds:?} s after the last check-out"
    ));
    running.stop().await;
    Ok(json!({
        "ceremony": ceremony,
        "ceremony_scans_per_sec": ceremony["scans_per_sec"],
        "check_in_open_loop": paced,
        "check_in_closed_loop": saturated,
        "read_model_caught_up_seconds": read_model_seconds,
        "check_ins_per_sec": paced["per_sec"],
        "check_in_latency_ms": paced["latency_ms"],
    }))
}

async fn connect(running: &Running) -> anyhow::Result<Vec<AttendanceServiceClient<Channel>>> {
    let mut out = Vec::new();
    let connections = std::env::var("PANTAU_BENCH_CONNECTIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(CONNECTIONS);
    for _ in 0..connections {
        let channel = Endpoint::from_shared(format!("http://{}", running.addr))?
            .tcp_nodelay(true)
            .connect()
            .await?;
        out.push(AttendanceServiceClient::new(channel));
    }
    Ok(out)
}

async fn ceremony(
    running: &Running,
    registry: &Registry,
    client: &AttendanceServiceClient<Channel>,
    workers: &[String],
) -> anyhow::Result<Value> {
    let admin = registry.token(None, &["province_admin"]);
    let mut client = client.clone();
    let mut devices = Vec::new();
    let mut scanner_ids = Vec::new();
    for i in 0..SCANNERS {
        let r = client
            .register_scanner(authed(
                &admin,
                api::RegisterScannerRequest {
                    request_id: format!("bench-scanner-{i}"),
                    name: format!("HP Petugas {i}"),
                    agency_id: registry.agency.clone(),
                },
            )?)
            .await?
            .into_inner();
        devices.push(r.device_token);
        scanner_ids.push(r.scanner_id);
    }
    let wita = chrono_tz::Asia::Makassar;
    let now = Utc::now();
    let local =
        |t: chrono::DateTime<Utc>| t.with_timezone(&wita).format("%Y-%m-%dT%H:%M").to_string();
    let session = client
        .open_session(authed(
            &admin,
            api::OpenSessionRequest {
                request_id: "bench-session".into(),
                title: "Upacara HUT RI".into(),
                starts_at: local(now - chrono::Duration::hours(1)),
                ends_at: local(now + chrono::Duration::hours(2)),
                time_zone: String::new(),
                place: "Lapangan".into(),
                geofence: Some(ev::Geofence {
                    center: Some(ev::GeoPoint {
                        latitude: SQUARE.0,
                        longitude: SQUARE.1,
                    }),
                    radius_m: 300,
                    polygon: vec![],
                }),
                invited: vec![ev::Invitation {
                    agency_id: registry.agency.clone(),
                    unit_id: registry.ceremony_unit.clone(),
                }],
                scanner_ids,
            },
        )?)
        .await?
        .into_inner()
        .session_id;
    // Printed codes, as HR desks handed them out.
    let codes: Vec<String> = workers
        .iter()
        .map(|w| {
            Ok(running.attendance.signer.sign(Credential {
                worker_id: w.parse()?,
                version: 1,
            }))
        })
        .collect::<anyhow::Result<_>>()?;
    let per_scanner = codes.len() / SCANNERS;
    log(&format!(
        "attendance: {SCANNERS} scanners upload {} scans in batches of {SCANS_PER_UPLOAD}",
        codes.len()
    ));
    let at = Some(pantau_proto::events::v1::Timestamp {
        seconds: now.timestamp(),
        nanos: 0,
    });
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for (s, device) in devices.into_iter().enumerate() {
        let mine: Vec<String> = codes[s * per_scanner..(s + 1) * per_scanner].to_vec();
        let (mut client, session) = (client.clone(), session.clone());
        tasks.spawn(async move {
            let mut accepted = 0usize;
            let mut seq = 0u64;
            for batch in mine.chunks(SCANS_PER_UPLOAD) {
                let scans = batch
                    .iter()
                    .map(|code| {
                        seq += 1;
                        api::Scan {
                            device_seq: seq,
                            payload: code.clone(),
                            scanned_at: at,
                            latitude: SQUARE.0,
                            longitude: SQUARE.1,
                            accuracy_m: 10.0,
                        }
                    })
                    .collect();
                let r = client
                    .upload_scans(authed(
                        &device,
                        api::UploadScansRequest {
                            session_id: session.clone(),
                            scans,
                        },
                    )?)
                    .await
                    .context("UploadScans")?
                    .into_inner();
                accepted += r.results.iter().filter(|x| x.accepted).count();
            }
            anyhow::Ok(accepted)
        });
    }
    let mut accepted = 0;
    while let Some(r) = tasks.join_next().await {
        accepted += r??;
    }
    let took = start.elapsed();
    ensure!(
        accepted == per_scanner * SCANNERS,
        "only {accepted} scans were accepted"
    );
    log(&format!(
        "attendance: {accepted} scans accepted in {:.2} s",
        took.as_secs_f64()
    ));
    Ok(json!({
        "scanners": SCANNERS,
        "scans": accepted,
        "scans_per_upload": SCANS_PER_UPLOAD,
        "seconds": (took.as_secs_f64() * 1000.0).round() / 1000.0,
        "scans_per_sec": per_sec(accepted, took),
    }))
}

fn check_in(token_owner: usize) -> api::CheckInRequest {
    api::CheckInRequest {
        request_id: format!("bench-{token_owner}-{}", uuid::Uuid::new_v4().simple()),
        kind: api::CheckKind::In as i32,
        latitude: SQUARE.0 + (token_owner % 100) as f64 * 1e-5,
        longitude: SQUARE.1,
        accuracy_m: 12.0,
        device_id: format!("phone-{token_owner}"),
        photo_sha256: String::new(),
        claimed_at: Some(pantau_proto::events::v1::Timestamp {
            seconds: Utc::now().timestamp(),
            nanos: 0,
        }),
    }
}

/// Open loop at [`OFFERED_PER_SEC`] (or `PANTAU_BENCH_RATE`), then closed loop, both over every
/// worker once (the closed loop checks each out).
async fn morning(
    registry: &Registry,
    channels: &[AttendanceServiceClient<Channel>],
    workers: &[String],
) -> anyhow::Result<(Value, Value)> {
    log(&format!(
        "attendance: issuing {} worker tokens",
        workers.len()
    ));
    let tokens: Arc<Vec<String>> = Arc::new(
        workers
            .iter()
            .map(|w| registry.token(Some(w), &["worker"]))
            .collect(),
    );
    // PANTAU_BENCH_RATE offers another rate (to find what is sustainable).
    let offered = std::env::var("PANTAU_BENCH_RATE")
        .ok()
        .and_then(|v| v.parse::<f64>().ok())
        .filter(|r| *r > 0.0)
        .unwrap_or(OFFERED_PER_SEC);
    log(&format!(
        "attendance: {} check-ins from {CLIENTS} clients offering {offered}/s",
        workers.len()
    ));
    let paced = drive(channels, tokens.clone(), api::CheckKind::In, Some(offered)).await?;
    log(&format!("attendance: paced run: {paced}"));
    log(&format!(
        "attendance: {} check-outs from {CLIENTS} clients as fast as they can",
        workers.len()
    ));
    let saturated = drive(channels, tokens, api::CheckKind::Out, None).await?;
    log(&format!("attendance: closed loop: {saturated}"));
    Ok((paced, saturated))
}

async fn drive(
    channels: &[AttendanceServiceClient<Channel>],
    tokens: Arc<Vec<String>>,
    kind: api::CheckKind,
    offered: Option<f64>,
) -> anyhow::Result<Value> {
    let n = tokens.len();
    let next = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for c in 0..CLIENTS {
        let (mut client, tokens, next) = (
            channels[c % channels.len()].clone(),
            tokens.clone(),
            next.clone(),
        );
        tasks.spawn(async move {
            let mut hist = hdrhistogram::Histogram::<u64>::new(3)?;
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    return anyhow::Ok(hist);
                }
                // The i-th request is due at i / rate seconds (open loop).
                let due = match offered {
                    Some(rate) => {
                        let due = start + Duration::from_secs_f64(i as f64 / rate);
                        tokio::time::sleep_until(due.into()).await;
                        due
                    }
                    None => Instant::now(),
                };
                let mut req = check_in(i);
                req.kind = kind as i32;
                client
                    .check_in(authed(&tokens[i], req)?)
                    .await
                    .with_context(|| format!("CheckIn #{i}"))?;
                hist.record(due.elapsed().as_micros() as u64)?;
            }
        });
    }
    let mut all = hdrhistogram::Histogram::<u64>::new(3)?;
    while let Some(h) = tasks.join_next().await {
        all.add(h??)?;
    }
    let took = start.elapsed();
    Ok(json!({
        "check_ins": n,
        "clients": CLIENTS,
        "connections": channels.len(),
        "offered_per_sec": offered,
        "seconds": (took.as_secs_f64() * 100.0).round() / 100.0,
        "per_sec": per_sec(n, took),
        "latency_ms": latency_ms(&all),
    }))
}
