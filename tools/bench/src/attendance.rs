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
use futures::future::BoxFuture;
use pantau_attendance::app::Running;
use pantau_attendance::readmodel::AttendanceReadModel;
use pantau_authn::{Claims, Issuer, SigningKeyPair, Verifier, verify_batch};
use pantau_eventstore::{AppendMode, EventStore, Expected, NewEvent, StreamSpec, Upcasters};
use pantau_platform::shutdown::Shutdown;
use pantau_projection::{Runner, RunnerOptions};
use pantau_proto::attendance::v1::{
    self as api, attendance_service_client::AttendanceServiceClient,
};
use pantau_proto::events::v1::{self as ev, IdentityEvent, identity_event::Event as I};
use pantau_qr::Credential;
use pantau_testkit::{NatsServer, PgServer};
use prost::Message;
use serde_json::{Value, json};
use tonic::transport::{Channel, Endpoint};
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};

use crate::util::{CpuSample, authed, latency_ms, log, per_sec, ratio, read_streams};

const SCANNERS: usize = 20;
const CEREMONY_SCANS: usize = 4_000;
const SCANS_PER_UPLOAD: usize = 50;
const CLIENTS: usize = 1_000;
const OFFERED_PER_SEC: f64 = 10_000.0;
/// HTTP/2 connections the clients share (phones would each have their own;
/// a load balancer in front of the replicas pools them like this).
const CONNECTIONS: usize = 16;
const SQUARE: (f64, f64) = (-0.5022, 117.1536);

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
    let ceremony = ceremony(
        &running,
        &registry,
        &AttendanceServiceClient::new(channels[0].clone()),
        &ceremony_workers,
    )
    .await?;
    let (floor, paced, saturated, token_verify_us) =
        morning(&registry, &channels, &field_workers).await?;
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
    let partitioned = partitioned_catch_up(pg, &running, last).await?;
    running.stop().await;
    Ok(json!({
        "ceremony": ceremony,
        "ceremony_scans_per_sec": ceremony["scans_per_sec"],
        "connections": channels.len(),
        "grpc_floor_open_loop": floor,
        "token_verify_cpu_us": token_verify_us,
        "check_in_open_loop": paced,
        "check_in_closed_loop": saturated,
        "read_model_caught_up_seconds": read_model_seconds,
        "partitioned_catch_up": partitioned,
        "check_ins_per_sec": paced["per_sec"],
        "check_in_latency_ms": paced["latency_ms"],
    }))
}

/// Partition counts the read model is built from nothing in.
const PARTITION_COUNTS: [u32; 3] = [1, 2, 4];

/// The attendance read model built from nothing, into a fresh database, by
/// one instance applying it in 1, 2 and 4 partitions (one task each), beside
/// an ordered consumer reading the same stream: what splitting the applying
/// buys, with every partition still delivered every event.
async fn partitioned_catch_up(
    pg: &PgServer,
    running: &Running,
    last: u64,
) -> anyhow::Result<Value> {
    let store = &running.attendance.store;
    log("attendance: raw consume of the attendance stream");
    let (read, took) = read_streams(&[store]).await?;
    let raw = per_sec(read as usize, took);
    let mut runs = Vec::new();
    let mut seconds = Vec::new();
    for partitions in PARTITION_COUNTS {
        let pool = pantau_platform::db::connect(
            &pg.url,
            &format!(
                "bench_attendance_p{partitions}_{}",
                uuid::Uuid::new_v4().simple()
            ),
            16,
        )
        .await?;
        let shutdown = Shutdown::new();
        let start = Instant::now();
        let handle = Runner::new(
            AttendanceReadModel,
            pool.clone(),
            store.clone(),
            RunnerOptions {
                partitions,
                ..RunnerOptions::default()
            },
        )
        .spawn(shutdown.clone())
        .await?;
        let caught_up = handle.wait_for(last, Duration::from_secs(900)).await;
        let took = start.elapsed();
        shutdown.trigger();
        drop(pool);
        ensure!(
            caught_up,
            "the read model in {partitions} partitions did not catch up within 900 s"
        );
        let rate = per_sec(last as usize, took);
        log(&format!(
            "attendance: read model of {last} events built in {partitions} partition(s) in {:.2} s ({rate:.0} events/s)",
            took.as_secs_f64()
        ));
        seconds.push(took.as_secs_f64());
        runs.push(json!({
            "partitions": partitions,
            "seconds": (took.as_secs_f64() * 100.0).round() / 100.0,
            "events_per_sec": rate,
            "vs_raw_consume": ratio(Some(rate), Some(raw)),
        }));
    }
    Ok(json!({
        "events": last,
        "raw_consume_per_sec": raw,
        "runs": runs,
        "speedup_4_vs_1": ratio(seconds.first().copied(), seconds.last().copied()),
    }))
}

async fn connect(running: &Running) -> anyhow::Result<Vec<Channel>> {
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
        out.push(channel);
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
/// worker once (the closed loop checks each out). Before them, the floor:
/// the same clients, connections, headers and rate calling the gRPC health
/// check, which does no work, so what the HTTP/2 and gRPC layers and the
/// load generator cost on this machine is measured beside the check-ins.
async fn morning(
    registry: &Registry,
    channels: &[Channel],
    workers: &[String],
) -> anyhow::Result<(Value, Value, Value, f64)> {
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
    let token_verify_us = token_verify_cost(registry, &tokens).await?;
    log(&format!(
        "attendance: a new token costs {token_verify_us} µs of CPU to verify (batches of 64)"
    ));
    // PANTAU_BENCH_RATE offers another rate (to find what is sustainable).
    let offered = std::env::var("PANTAU_BENCH_RATE")
        .ok()
        .and_then(|v| v.parse::<f64>().ok())
        .filter(|r| *r > 0.0)
        .unwrap_or(OFFERED_PER_SEC);
    let n = workers.len();
    log(&format!(
        "attendance: floor: {n} health checks from {CLIENTS} clients offering {offered}/s"
    ));
    let health: Arc<Vec<HealthClient<Channel>>> = Arc::new(
        channels
            .iter()
            .map(|c| HealthClient::new(c.clone()))
            .collect(),
    );
    let floor = {
        let tokens = tokens.clone();
        drive(n, Some(offered), move |c, i| {
            let (mut client, tokens) = (health[c % health.len()].clone(), tokens.clone());
            async move {
                client
                    .check(authed(&tokens[i], HealthCheckRequest::default())?)
                    .await
                    .with_context(|| format!("Health/Check #{i}"))?;
                Ok(())
            }
        })
        .await?
    };
    log(&format!("attendance: floor: {floor}"));
    log(&format!(
        "attendance: {n} check-ins from {CLIENTS} clients offering {offered}/s"
    ));
    let paced = drive(
        n,
        Some(offered),
        check_ins(channels, &tokens, api::CheckKind::In),
    )
    .await?;
    log(&format!("attendance: paced run: {paced}"));
    log(&format!(
        "attendance: {n} check-outs from {CLIENTS} clients as fast as they can"
    ));
    let saturated = drive(n, None, check_ins(channels, &tokens, api::CheckKind::Out)).await?;
    log(&format!("attendance: closed loop: {saturated}"));
    Ok((floor, paced, saturated, token_verify_us))
}

/// CPU time to verify one new worker token's Ed25519 signature, in
/// microseconds, as the service does it (batches of 64 on one thread) over
/// up to 20,000 of the bench's tokens: a cost every first check-in of the
/// day pays.
async fn token_verify_cost(registry: &Registry, tokens: &Arc<Vec<String>>) -> anyhow::Result<f64> {
    let mut verifier = Verifier::new();
    verifier.add_key(registry.issuer.key_id(), registry.issuer.public_key_bytes())?;
    let tokens = tokens.clone();
    tokio::task::spawn_blocking(move || {
        let now = Utc::now().timestamp();
        let n = tokens.len().min(20_000);
        let start = Instant::now();
        for chunk in tokens[..n].chunks(64) {
            let pending = chunk
                .iter()
                .map(|t| verifier.prepare(t, now))
                .collect::<Result<Vec<_>, _>>()?;
            for claims in verify_batch(pending) {
                claims?;
            }
        }
        Ok((start.elapsed().as_secs_f64() / n.max(1) as f64 * 1e7).round() / 10.0)
    })
    .await?
}

/// Client `c`'s call for the `i`-th worker: a check-in (or out) with that
/// worker's token.
fn check_ins(
    channels: &[Channel],
    tokens: &Arc<Vec<String>>,
    kind: api::CheckKind,
) -> impl Fn(usize, usize) -> BoxFuture<'static, anyhow::Result<()>> + Clone + Send + 'static {
    let clients: Arc<Vec<_>> = Arc::new(
        channels
            .iter()
            .map(|c| AttendanceServiceClient::new(c.clone()))
            .collect(),
    );
    let tokens = tokens.clone();
    move |c, i| {
        let (mut client, tokens) = (clients[c % clients.len()].clone(), tokens.clone());
        Box::pin(async move {
            let mut req = check_in(i);
            req.kind = kind as i32;
            client
                .check_in(authed(&tokens[i], req)?)
                .await
                .with_context(|| format!("CheckIn #{i}"))?;
            Ok(())
        })
    }
}

/// [`CLIENTS`] concurrent clients make `n` calls between them; with
/// `offered`, the i-th call is due at i / offered seconds and its latency
/// counts from then (open loop: a stall is not hidden), else each client
/// calls again as soon as its last call returns (closed loop). Reports the
/// rate, latency, and how busy the whole machine was.
async fn drive<F, Fut>(n: usize, offered: Option<f64>, call: F) -> anyhow::Result<Value>
where
    F: Fn(usize, usize) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = anyhow::Result<()>> + Send + 'static,
{
    let next = Arc::new(AtomicUsize::new(0));
    let cpu = CpuSample::now();
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for c in 0..CLIENTS {
        let (call, next) = (call.clone(), next.clone());
        tasks.spawn(async move {
            let mut hist = hdrhistogram::Histogram::<u64>::new(3)?;
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    return anyhow::Ok(hist);
                }
                let due = match offered {
                    Some(rate) => {
                        let due = start + Duration::from_secs_f64(i as f64 / rate);
                        tokio::time::sleep_until(due.into()).await;
                        due
                    }
                    None => Instant::now(),
                };
                call(c, i).await?;
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
        "calls": n,
        "clients": CLIENTS,
        "offered_per_sec": offered,
        "seconds": (took.as_secs_f64() * 100.0).round() / 100.0,
        "per_sec": per_sec(n, took),
        "latency_ms": latency_ms(&all),
        "machine_cpu": cpu.map_or(Value::Null, |c| c.since(n)),
    }))
}
