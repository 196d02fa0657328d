//! The activity service end to end over gRPC on a durable NATS
//! (`sync_interval: always`): 10,000 workers in 100 teams of 100, each team
//! under a supervisor, file `PANTAU_BENCH_REPORTS` activity reports
//! (default 50,000) through 1,000 concurrent clients as fast as they go
//! (closed loop) while, at the same time, the 100 supervisors work their
//! review queues: read the 50 oldest waiting reports, approve each one
//! (every fourth supervisor approves the page with one BulkApprove), read
//! again. When the reports are in, the supervisors empty their queues and
//! the bench checks that every report was stored and approved, and that
//! nothing was flagged as duplicate work.
//!
//! A report is one 30-minute slot (07:00-15:00) of a worker's day, dated
//! yesterday in the agency's time zone (a worker's 17th report goes to the
//! day before, and so on within the grace period), of one of 20 agency
//! activities, at the worker's own site with a photo hash. Consecutive calls
//! are for different workers, so one worker's reports of a day arrive one
//! after another: the second and later are appended onto a day that
//! already has events, as in real use. Many workers do the same activity in
//! the same slot (at different sites), which the duplicate-work detector
//! compares.
//!
//! Besides rates and latencies: how far the read model trailed and how long
//! it and the detector took to catch up after the last report, the server's
//! JetStream API counters during the reports, and what loading a worker's
//! day costs with the service idle. See [`Knobs`] for the variations.
//!
//! The registry is written straight onto the identity stream, as the
//! identity service would, so the figures are activity's own.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::ensure;
use bytes::Bytes;
use chrono::{NaiveDate, Utc};
use hdrhistogram::Histogram;
use pantau_activity::app::Running;
use pantau_authn::{Claims, Issuer, SigningKeyPair};
use pantau_eventstore::{AppendMode, EventStore, Expected, NewEvent, StreamSpec, Upcasters};
use pantau_proto::activity::v1::{self as api, activity_service_client::ActivityServiceClient};
use pantau_proto::events::v1::{self as ev, IdentityEvent, identity_event::Event as I};
use pantau_testkit::{NatsServer, PgServer};
use prost::Message;
use serde_json::{Value, json};
use sqlx::Row;
use tonic::Request;
use tonic::transport::{Channel, Endpoint};

use crate::util::{CpuSample, latency_ms, log, per_sec};

const SUPERVISORS: usize = 100;
const TEAM: usize = 100;
const UNITS: usize = 10;
const CLIENTS: usize = 1_000;
/// HTTP/2 connections the clients share, as in the attendance bench.
const CONNECTIONS: usize = 16;
const QUEUE_LIMIT: u32 = 50;
/// Every n-th supervisor approves a queue page with one BulkApprove.
const BULK_EVERY: usize = 4;
/// Activities in the agency's catalog (`PANTAU_BENCH_ACTIVITY_CODES`).
const CODES: usize = 20;
const FIRST_SLOT: u32 = 7 * 60;
const SLOT_MINUTES: u32 = 30;
const SLOTS_PER_DAY: usize = 16;
/// Days back a report may be dated: the service's default grace period.
const DAYS_BACK: usize = 3;
/// How long the supervisors may take to empty their queues after the
/// last report.
const DRAIN_LIMIT: Duration = Duration::from_secs(600);
/// Days [`day_loads`] reads.
const DAY_LOADS: usize = 5_000;
const HOME: (f64, f64) = (-0.5022, 117.1536);
const TZ: chrono_tz::Tz = chrono_tz::Asia::Makassar;

fn authed<T>(token: &str, msg: T) -> anyhow::Result<Request<T>> {
    let mut req = Request::new(msg);
    req.metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse()?);
    Ok(req)
}

/// Worker `w`'s site: a grid about 110 m apart, so no two workers share
/// one (the duplicate-work detector's radius is 50 m).
fn site(w: usize) -> (f64, f64) {
    (
        HOME.0 + (w / 100) as f64 * 0.001,
        HOME.1 + (w % 100) as f64 * 0.001,
    )
}

fn code(k: usize, codes: usize) -> String {
    format!("DLH-{:03}", k % codes + 1)
}

fn hhmm(minute: u32) -> String {
    format!("{:02}:{:02}", minute / 60, minute % 60)
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

struct Registry {
    identity: EventStore,
    issuer: Issuer,
    agency: String,
    units: Vec<String>,
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
                time_zone: TZ.name().into(),
            }),
        )
        .await?;
        let mut units = Vec::new();
        for u in 0..UNITS {
            let unit = uuid::Uuid::new_v4().to_string();
            publish(
                &identity,
                subject.clone(),
                I::UnitCreated(ev::UnitCreated {
                    agency_id: agency.clone(),
                    unit_id: unit.clone(),
                    code: format!("UPT-{u}"),
                    name: format!("UPT Kebersihan {u}"),
                }),
            )
            .await?;
            units.push(unit);
        }
        Ok(Registry {
            identity,
            issuer,
            agency,
            units,
        })
    }

    /// Registers `ids` concurrently, the i-th in `unit(i)` under
    /// `supervisor(i)` (none when empty); returns the last stream sequence.
    async fn register(
        &self,
        ids: &[String],
        unit: impl Fn(usize) -> String,
        supervisor: impl Fn(usize) -> String,
    ) -> anyhow::Result<u64> {
        let events: Vec<(String, I)> = ids
            .iter()
            .enumerate()
            .map(|(i, id)| {
                let (lat, lon) = site(i);
                let e = I::WorkerRegistered(ev::WorkerRegistered {
                    worker_id: id.clone(),
                    kind: ev::WorkerKind::Phl as i32,
                    employee_id: format!("PHL-{}", &id[..8]),
                    name: format!("Pekerja {i}"),
                    agency_id: self.agency.clone(),
                    unit_id: unit(i),
                    supervisor_id: supervisor(i),
                    sites: vec![ev::WorkSite {
                        site_id: format!("S{i}"),
                        name: format!("Ruas jalan {i}"),
                        latitude: lat,
                        longitude: lon,
                        radius_m: 50,
                    }],
                    joined_on: "2020-01-01".into(),
                    ..Default::default()
                });
                (format!("pantau.identity.worker.{id}"), e)
            })
            .collect();
        let mut tasks = tokio::task::JoinSet::new();
        for chunk in events.chunks(events.len().div_ceil(64).max(1)) {
            let (store, chunk) = (self.identity.clone(), chunk.to_vec());
            tasks.spawn(async move {
                let mut last = 0;
                for (subject, e) in chunk {
                    last = last.max(publish(&store, subject, e).await?);
                }
                anyhow::Ok(last)
            });
        }
        let mut last = 0;
        while let Some(r) = tasks.join_next().await {
            last = last.max(r??);
        }
        Ok(last)
    }

    fn token(&self, worker: Option<&str>, roles: &[&str]) -> String {
        let now = Utc::now().timestamp();
        self.issuer.issue(&Claims::new(
            format!("acc-{}", uuid::Uuid::new_v4()),
            roles.iter().map(|r| (*r).to_owned()).collect(),
            Some(self.agency.clone()),
            worker.map(str::to_owned),
            now,
            3 * 3600,
            uuid::Uuid::new_v4().to_string(),
        ))
    }
}

/// Knobs beside the report count, to find what limits the figures:
/// `PANTAU_BENCH_ACTIVITY_CODES` (1-500, default 20) spreads the reports
/// over more activities, so fewer other reports share a report's activity,
/// day and time for the duplicate-work detector to compare;
/// `PANTAU_BENCH_REVIEW_DURING=0` holds the supervisors back until the
/// reports are in (reports alone, then approvals alone);
/// `PANTAU_BENCH_REPORT_RATE` offers that many reports a second (open loop)
/// instead of as many as the clients manage, to find the rate at which
/// approvals stay fast; `PANTAU_BENCH_REVIEW_RATE` paces the supervisors to
/// that many decisions a second between them while the reports come in
/// (each waits its turn before the next decision, a bulk approval counting
/// one per report), instead of deciding as fast as they can.
struct Knobs {
    codes: usize,
    review_during: bool,
    offered: Option<f64>,
    review_rate: Option<f64>,
}

/// A positive rate from `var`, or none when unset.
fn rate(var: &str) -> anyhow::Result<Option<f64>> {
    match std::env::var(var) {
        Ok(v) => Ok(Some(
            v.parse::<f64>()
                .ok()
                .filter(|r| *r > 0.0)
                .ok_or_else(|| anyhow::anyhow!("{var}={v:?}: not a positive number"))?,
        )),
        Err(_) => Ok(None),
    }
}

impl Knobs {
    fn from_env() -> anyhow::Result<Knobs> {
        let codes = match std::env::var("PANTAU_BENCH_ACTIVITY_CODES") {
            Ok(v) => v
                .parse()
                .ok()
                .filter(|n| (1..=500).contains(n))
                .ok_or_else(|| anyhow::anyhow!("PANTAU_BENCH_ACTIVITY_CODES={v:?}: not 1-500"))?,
            Err(_) => CODES,
        };
        let review_during = std::env::var("PANTAU_BENCH_REVIEW_DURING").as_deref() != Ok("0");
        Ok(Knobs {
            codes,
            review_during,
            offered: rate("PANTAU_BENCH_REPORT_RATE")?,
            review_rate: rate("PANTAU_BENCH_REVIEW_RATE")?,
        })
    }
}

pub async fn run(pg: &PgServer, reports: usize) -> anyhow::Result<Value> {
    let knobs = Knobs::from_env()?;
    let n_workers = SUPERVISORS * TEAM;
    ensure!(
        reports > 0 && reports <= n_workers * SLOTS_PER_DAY * DAYS_BACK,
        "PANTAU_BENCH_REPORTS must be 1-{} ({n_workers} workers, {SLOTS_PER_DAY} slots a day, \
         {DAYS_BACK} days)",
        n_workers * SLOTS_PER_DAY * DAYS_BACK
    );
    log("activity: starting a durable NATS server and the activity service");
    let nats = NatsServer::spawn(true).await?;
    let registry = Registry::new(&nats).await?;
    let running = pantau_activity::app::start(pantau_activity::config::Config::in_process(
        &nats.url, &pg.url,
    ))
    .await?;
    log(&format!(
        "activity: registering {SUPERVISORS} supervisors and {n_workers} workers on the identity \
         stream"
    ));
    let supervisors: Vec<String> = (0..SUPERVISORS)
        .map(|_| uuid::Uuid::new_v4().to_string())
        .collect();
    let workers: Vec<String> = (0..n_workers)
        .map(|_| uuid::Uuid::new_v4().to_string())
        .collect();
    let units = registry.units.clone();
    registry
        .register(
            &supervisors,
            |s| units[s % UNITS].clone(),
            |_| String::new(),
        )
        .await?;
    let last = registry
        .register(
            &workers,
            |w| units[(w / TEAM) % UNITS].clone(),
            |w| supervisors[w / TEAM].clone(),
        )
        .await?;
    ensure!(
        running
            .activity
            .identity
            .wait_for(last, Duration::from_secs(300))
            .await,
        "the activity directory did not catch up with the registry"
    );
    let channels = connect(&running).await?;
    let catalog_version = publish_catalogs(&registry, &channels[0], knobs.codes).await?;
    log(&format!(
        "activity: issuing {} tokens",
        n_workers + SUPERVISORS
    ));
    let worker_tokens: Arc<Vec<String>> = Arc::new(
        workers
            .iter()
            .map(|w| registry.token(Some(w), &["worker"]))
            .collect(),
    );
    let supervisor_tokens: Vec<String> = supervisors
        .iter()
        .map(|s| registry.token(Some(s), &["supervisor"]))
        .collect();
    let yesterday = Utc::now().with_timezone(&TZ).date_naive() - chrono::Days::new(1);

    // The load: workers file reports while supervisors review.
    let reporting = Arc::new(AtomicBool::new(true));
    let lag = LagSampler::spawn(&running, reporting.clone());
    let mut reviewers = tokio::task::JoinSet::new();
    let spawn_reviewers = |reviewers: &mut tokio::task::JoinSet<_>| {
        for (s, token) in supervisor_tokens.iter().enumerate() {
            let client = ActivityServiceClient::new(channels[s % channels.len()].clone());
            let pace = knobs
                .review_rate
                .map(|r| Duration::from_secs_f64(SUPERVISORS as f64 / r));
            reviewers.spawn(supervise(s, client, token.clone(), reporting.clone(), pace));
        }
    };
    if knobs.review_during {
        spawn_reviewers(&mut reviewers);
    }
    log(&format!(
        "activity: {reports} reports from {CLIENTS} clients {}, {SUPERVISORS} supervisors \
         approving {}",
        knobs
            .offered
            .map_or("as fast as they can".to_owned(), |r| format!(
                "offering {r}/s"
            )),
        if knobs.review_during {
            "at the same time"
        } else {
            "afterwards"
        }
    ));
    // The server's JetStream API counters. Successful raw gets and refused
    // appends do not count (checked against this nats-server); the "no
    // message" that ends every scan of a subject does, as an error: each
    // aggregate load, and each search of the event store for its message id
    // after an expected-sequence append was refused. So errors count the
    // scans of day subjects.
    let js = running.activity.store.jetstream().clone();
    let api_before = js.query_account().await?.requests;
    let commits_before = running.activity.store.append_stats();
    let filed = file_reports(
        &channels,
        &worker_tokens,
        reports,
        yesterday,
        knobs.codes,
        knobs.offered,
    )
    .await?;
    reporting.store(false, Ordering::SeqCst);
    if !knobs.review_during {
        spawn_reviewers(&mut reviewers);
    }
    let reports_end = Instant::now();
    let api_after = js.query_account().await?.requests;
    let commits = running.activity.store.append_stats();
    let (api_requests, api_errors) = (
        api_after.total.saturating_sub(api_before.total),
        api_after.errors.saturating_sub(api_before.errors),
    );
    log(&format!("activity: reports: {}", filed.summary));

    // How long after the last report the read model and the detector show it.
    let last = running.activity.store.last_sequence().await?;
    let caught_up = running
        .activity
        .read
        .wait_for(last, Duration::from_secs(600))
        .await;
    let read_model_seconds = caught_up.then(|| round2(reports_end.elapsed().as_secs_f64()));
    log(&format!(
        "activity: read model caught up {read_model_seconds:?} s after the last report"
    ));
    let detector_seconds = detector_caught_up(&running, reports_end).await?;
    log(&format!(
        "activity: duplicate detector caught up {detector_seconds:?} s after the last report"
    ));
    let lag = lag.finish().await;

    log("activity: supervisors empty their queues");
    let mut tally = Tally::new()?;
    while let Some(t) = reviewers.join_next().await {
        tally.merge(t??)?;
    }
    let drain = tally
        .finished
        .map_or(Duration::ZERO, |t| t.saturating_duration_since(reports_end));
    let drain_seconds = round2(drain.as_secs_f64());
    log(&format!(
        "activity: queues empty {drain_seconds} s after the last report; {} approved during the \
         reports, {} after",
        tally.approved_during, tally.approved_after
    ));

    // Everything was stored, approved and nothing flagged.
    let last = running.activity.store.last_sequence().await?;
    ensure!(
        running
            .activity
            .read
            .wait_for(last, Duration::from_secs(600))
            .await,
        "the read model did not catch up with the approvals"
    );
    let row = sqlx::query(
        "SELECT count(*) AS reports, count(*) FILTER (WHERE status = 2) AS approved,
            (SELECT count(*) FROM activity_read.flags) AS flags
         FROM activity_read.reports",
    )
    .fetch_one(&running.activity.pool)
    .await?;
    let (stored, approved, flags): (i64, i64, i64) = (
        row.try_get("reports")?,
        row.try_get("approved")?,
        row.try_get("flags")?,
    );
    let day_loads = day_loads(&running, &workers, yesterday).await?;
    log(&format!("activity: day loads: {day_loads}"));
    running.stop().await;
    ensure!(
        filed.failures.is_empty(),
        "report calls failed: {:?}",
        filed.failures
    );
    ensure!(
        tally.failures.is_empty(),
        "review calls failed: {:?}",
        tally.failures
    );
    ensure!(
        stored == reports as i64,
        "{stored} reports stored of {reports}"
    );
    ensure!(
        approved == reports as i64 && tally.approved() == reports,
        "{approved} reports approved in the read model, {} approvals returned, of {reports}",
        tally.approved()
    );
    ensure!(flags == 0, "{flags} duplicate-work flags on distinct sites");

    let seconds = filed.took.as_secs_f64();
    let during_per_sec = per_sec(tally.approved_during, filed.took);
    let approval_p99 = ms(tally.review_during.value_at_quantile(0.99));
    let reports_per_sec = per_sec(reports, filed.took);
    let events_per_sec = per_sec(reports + tally.approved_during, filed.took);
    Ok(json!({
        "workers": n_workers,
        "supervisors": SUPERVISORS,
        "clients": CLIENTS,
        "connections": channels.len(),
        "catalog_codes": knobs.codes,
        "review_during_reports": knobs.review_during,
        "reports_offered_per_sec": knobs.offered,
        "decisions_offered_per_sec": knobs.review_rate,
        "catalog_version": catalog_version,
        "reports": {
            "calls": reports,
            "seconds": round2(seconds),
            "per_sec": reports_per_sec,
            "latency_ms": latency_ms(&filed.latency),
            "machine_cpu": filed.cpu,
            "failures": filed.failures,
        },
        "approvals_during_reports": {
            "approved": tally.approved_during,
            "per_sec": during_per_sec,
            "review_activity_latency_ms": latency_ms(&tally.review_during),
            "bulk_approve_calls": tally.bulk_during.len(),
            "bulk_approved": tally.bulk_approved_during,
            "bulk_approve_latency_ms": latency_ms(&tally.bulk_during),
            "review_queue_reads": tally.queue_during.len(),
            "review_queue_latency_ms": latency_ms(&tally.queue_during),
        },
        "approvals_after_reports": {
            "approved": tally.approved_after,
            "review_activity_latency_ms": latency_ms(&tally.review_after),
            "bulk_approved": tally.bulk_approved_after,
            "queues_empty_seconds": drain_seconds,
            "per_sec": per_sec(tally.approved_after, drain),
        },
        "approved_total": approved,
        "events_during_reports_per_sec": events_per_sec,
        "read_model_max_lag_events": lag.max,
        "read_model_mean_lag_events": lag.mean,
        "read_model_caught_up_seconds": read_model_seconds,
        "detector_caught_up_seconds": detector_seconds,
        "duplicate_flags": flags,
        "day_loads_idle": day_loads,
        "group_commit_during_reports": {
            "batches_committed": commits.batches_committed - commits_before.batches_committed,
            "batches_refused": commits.batches_refused - commits_before.batches_refused,
            "single_appends": commits.single_appends - commits_before.single_appends,
        },
        "jetstream_api_during_reports": {
            "requests": api_requests,
            "errors": api_errors,
            "subject_scans_per_report": round2(api_errors as f64 / reports as f64),
        },
        "reports_per_sec": reports_per_sec,
        "report_latency_ms": latency_ms(&filed.latency),
        "approval_latency_ms": latency_ms(&tally.review_during),
        "target": {
            "reports_per_sec": 5000,
            "approval_p99_ms": 50,
            "met": reports_per_sec >= 5000.0 && approval_p99 < 50.0,
        },
    }))
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

fn ms(us: u64) -> f64 {
    (us as f64 / 10.0).round() / 100.0
}

async fn connect(running: &Running) -> anyhow::Result<Vec<Channel>> {
    let connections = std::env::var("PANTAU_BENCH_CONNECTIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(CONNECTIONS)
        .max(1);
    let mut out = Vec::new();
    for _ in 0..connections {
        out.push(
            Endpoint::from_shared(format!("http://{}", running.addr))?
                .tcp_nodelay(true)
                .connect()
                .await?,
        );
    }
    Ok(out)
}

/// The general catalog (by a province admin) and the agency's own (by its
/// admin), in force since 2020; returns the agency catalog's version.
async fn publish_catalogs(
    registry: &Registry,
    channel: &Channel,
    codes: usize,
) -> anyhow::Result<u32> {
    let mut client = ActivityServiceClient::new(channel.clone());
    let general = registry.token(None, &["province_admin"]);
    client
        .publish_catalog(authed(
            &general,
            api::PublishCatalogRequest {
                request_id: "bench-catalog-general".into(),
                agency_id: String::new(),
                effective_from: "2020-01-01".into(),
                activities: vec![ev::CatalogActivity {
                    code: "APEL".into(),
                    name: "Apel pagi".into(),
                    unit: "kali".into(),
                    photo_required: false,
                    location_required: false,
                }],
            },
        )?)
        .await?;
    let admin = registry.token(None, &["agency_admin"]);
    let units = ["meter", "kali", "jam", "laporan"];
    let activities = (0..codes)
        .map(|k| ev::CatalogActivity {
            code: code(k, codes),
            name: format!("Tugas pokok DLH {}", k + 1),
            unit: units[k % units.len()].into(),
            photo_required: true,
            location_required: k % 2 == 0,
        })
        .collect();
    let version = client
        .publish_catalog(authed(
            &admin,
            api::PublishCatalogRequest {
                request_id: "bench-catalog-dlh".into(),
                agency_id: registry.agency.clone(),
                effective_from: "2020-01-01".into(),
                activities,
            },
        )?)
        .await?
        .into_inner()
        .version;
    Ok(version)
}

/// The `i`-th report: worker `i % workers`, in slot `i / workers` of their
/// days (16 a day from yesterday back).
fn report(
    i: usize,
    workers: usize,
    yesterday: NaiveDate,
    codes: usize,
) -> (usize, api::ReportActivityRequest) {
    let (w, s) = (i % workers, i / workers);
    let date = yesterday - chrono::Days::new((s / SLOTS_PER_DAY) as u64);
    let start = FIRST_SLOT + (s % SLOTS_PER_DAY) as u32 * SLOT_MINUTES;
    let (lat, lon) = site(w);
    let req = api::ReportActivityRequest {
        request_id: format!("bench-report-{i}"),
        worker_id: String::new(),
        code: code(w * 7 + s, codes),
        quantity: 25.0 + (i % 50) as f64,
        date: date.to_string(),
        start_time: hhmm(start),
        end_time: hhmm(start + SLOT_MINUTES),
        description: format!("Membersihkan ruas jalan {w}, segmen {s}"),
        location: Some(ev::ActivityLocation {
            latitude: lat,
            longitude: lon,
            site_id: format!("S{w}"),
        }),
        evidence: vec![ev::Evidence {
            kind: ev::EvidenceKind::Photo as i32,
            r#ref: format!("{:016x}{:016x}{:032x}", i, w, 0x5eed_u128 * (s as u128 + 1)),
        }],
    };
    (w, req)
}

/// What the report clients saw.
struct Filed {
    took: Duration,
    latency: Histogram<u64>,
    failures: BTreeMap<String, usize>,
    cpu: Value,
    summary: String,
}

/// [`CLIENTS`] clients file `n` reports between them, each calling again
/// as soon as its last call returns (closed loop), or with `offered`, the
/// i-th report due at i / offered seconds and its latency counted from then
/// (open loop). Failures are counted by gRPC code, not retried.
async fn file_reports(
    channels: &[Channel],
    tokens: &Arc<Vec<String>>,
    n: usize,
    yesterday: NaiveDate,
    codes: usize,
    offered: Option<f64>,
) -> anyhow::Result<Filed> {
    let clients: Arc<Vec<_>> = Arc::new(
        channels
            .iter()
            .map(|c| ActivityServiceClient::new(c.clone()))
            .collect(),
    );
    let next = Arc::new(AtomicUsize::new(0));
    let cpu = CpuSample::now();
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for c in 0..CLIENTS {
        let (clients, tokens, next) = (clients.clone(), tokens.clone(), next.clone());
        tasks.spawn(async move {
            let mut hist = Histogram::<u64>::new(3)?;
            let mut failures = BTreeMap::<String, usize>::new();
            let mut client = clients[c % clients.len()].clone();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    return anyhow::Ok((hist, failures));
                }
                let (w, req) = report(i, tokens.len(), yesterday, codes);
                let t = match offered {
                    Some(rate) => {
                        let due = start + Duration::from_secs_f64(i as f64 / rate);
                        tokio::time::sleep_until(due.into()).await;
                        due
                    }
                    None => Instant::now(),
                };
                match client.report_activity(authed(&tokens[w], req)?).await {
                    Ok(_) => hist.record(t.elapsed().as_micros() as u64)?,
                    Err(s) => {
                        if failures.is_empty() {
                            log(&format!("activity: report #{i} failed: {s}"));
                        }
                        *failures.entry(format!("{:?}", s.code())).or_default() += 1;
                    }
                }
            }
        });
    }
    let mut latency = Histogram::<u64>::new(3)?;
    let mut failures = BTreeMap::new();
    while let Some(r) = tasks.join_next().await {
        let (h, f) = r??;
        latency.add(h)?;
        for (code, k) in f {
            *failures.entry(code).or_default() += k;
        }
    }
    let took = start.elapsed();
    let cpu = cpu.map_or(Value::Null, |c| c.since(n));
    let summary = format!(
        "{n} in {:.2} s ({}/s), p50 {} ms, p99 {} ms, failures {failures:?}, cpu {cpu}",
        took.as_secs_f64(),
        per_sec(n, took),
        ms(latency.value_at_quantile(0.5)),
        ms(latency.value_at_quantile(0.99)),
    );
    Ok(Filed {
        took,
        latency,
        failures,
        cpu,
        summary,
    })
}

/// One supervisor's or all supervisors' review figures, split by whether
/// the reports were still coming in when each call returned.
struct Tally {
    review_during: Histogram<u64>,
    review_after: Histogram<u64>,
    bulk_during: Histogram<u64>,
    queue_during: Histogram<u64>,
    approved_during: usize,
    approved_after: usize,
    bulk_approved_during: usize,
    bulk_approved_after: usize,
    failures: BTreeMap<String, usize>,
    /// When the (last) supervisor found their queue empty.
    finished: Option<Instant>,
}

impl Tally {
    fn new() -> anyhow::Result<Tally> {
        Ok(Tally {
            review_during: Histogram::new(3)?,
            review_after: Histogram::new(3)?,
            bulk_during: Histogram::new(3)?,
            queue_during: Histogram::new(3)?,
            approved_during: 0,
            approved_after: 0,
            bulk_approved_during: 0,
            bulk_approved_after: 0,
            failures: BTreeMap::new(),
            finished: None,
        })
    }

    fn merge(&mut self, o: Tally) -> anyhow::Result<()> {
        self.review_during.add(o.review_during)?;
        self.review_after.add(o.review_after)?;
        self.bulk_during.add(o.bulk_during)?;
        self.queue_during.add(o.queue_during)?;
        self.approved_during += o.approved_during;
        self.approved_after += o.approved_after;
        self.bulk_approved_during += o.bulk_approved_during;
        self.bulk_approved_after += o.bulk_approved_after;
        self.finished = self.finished.max(o.finished);
        for (code, k) in o.failures {
            *self.failures.entry(code).or_default() += k;
        }
        Ok(())
    }

    fn approved(&self) -> usize {
        self.approved_during + self.approved_after
    }

    fn fail(&mut self, what: &str, code: String) {
        if self.failures.is_empty() {
            log(&format!("activity: {what} failed: {code}"));
        }
        *self.failures.entry(code).or_default() += 1;
    }
}

/// Supervisor `s` reads the oldest waiting reports of their team and
/// approves them, until the reports have stopped and the queue is empty.
async fn supervise(
    s: usize,
    mut client: ActivityServiceClient<Channel>,
    token: String,
    reporting: Arc<AtomicBool>,
    pace: Option<Duration>,
) -> anyhow::Result<Tally> {
    let mut tally = Tally::new()?;
    // Paced, each decision waits for its due time while reports come in;
    // one running late does not bunch up the ones after it.
    let mut due = Instant::now();
    let mut wait_turn = |decisions: usize, reporting: &AtomicBool| {
        let wait = match pace {
            Some(pace) if reporting.load(Ordering::SeqCst) => {
                let at = due.max(Instant::now() - Duration::from_secs(1));
                due = at + pace * decisions as u32;
                Some(at)
            }
            _ => None,
        };
        async move {
            if let Some(at) = wait {
                tokio::time::sleep_until(at.into()).await;
            }
        }
    };
    let bulk = s.is_multiple_of(BULK_EVERY);
    let mut stopped_at: Option<Instant> = None;
    for page in 0.. {
        let before = reporting.load(Ordering::SeqCst);
        if !before && stopped_at.get_or_insert_with(Instant::now).elapsed() > DRAIN_LIMIT {
            break;
        }
        let t = Instant::now();
        let queue = client
            .get_review_queue(authed(
                &token,
                api::GetReviewQueueRequest {
                    agency_id: String::new(),
                    limit: QUEUE_LIMIT,
                },
            )?)
            .await;
        let queue = match queue {
            Ok(q) => q.into_inner(),
            Err(e) => {
                tally.fail("GetReviewQueue", format!("{:?}", e.code()));
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        if before {
            tally.queue_during.record(t.elapsed().as_micros() as u64)?;
        }
        if queue.items.is_empty() {
            if !before {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        }
        let ids: Vec<String> = queue
            .items
            .into_iter()
            .filter_map(|item| item.report.map(|r| r.report_id))
            .collect();
        if bulk {
            wait_turn(ids.len(), &reporting).await;
            let t = Instant::now();
            let r = client
                .bulk_approve(authed(
                    &token,
                    api::BulkApproveRequest {
                        request_id: format!("bench-bulk-{s}-{page}"),
                        report_ids: ids,
                    },
                )?)
                .await;
            let during = reporting.load(Ordering::SeqCst);
            match r {
                Ok(r) => {
                    let mut approved = 0;
                    for x in r.into_inner().results {
                        if x.approved {
                            approved += 1;
                        } else {
                            tally.fail("BulkApprove item", x.error_code);
                        }
                    }
                    if during {
                        tally.bulk_during.record(t.elapsed().as_micros() as u64)?;
                        tally.approved_during += approved;
                        tally.bulk_approved_during += approved;
                    } else {
                        tally.approved_after += approved;
                        tally.bulk_approved_after += approved;
                    }
                }
                Err(e) => tally.fail("BulkApprove", format!("{:?}", e.code())),
            }
            continue;
        }
        for id in ids {
            wait_turn(1, &reporting).await;
            let t = Instant::now();
            let r = client
                .review_activity(authed(
                    &token,
                    api::ReviewActivityRequest {
                        request_id: format!("bench-review-{id}"),
                        report_id: id,
                        decision: api::ReviewDecision::Approve as i32,
                        reason: String::new(),
                    },
                )?)
                .await;
            let us = t.elapsed().as_micros() as u64;
            match r {
                Ok(_) if reporting.load(Ordering::SeqCst) => {
                    tally.review_during.record(us)?;
                    tally.approved_during += 1;
                }
                Ok(_) => {
                    tally.review_after.record(us)?;
                    tally.approved_after += 1;
                }
                Err(e) => tally.fail("ReviewActivity", format!("{:?}", e.code())),
            }
        }
    }
    tally.finished = Some(Instant::now());
    Ok(tally)
}

/// How far the read model trailed the stream while the reports came in,
/// sampled five times a second.
struct LagSampler {
    task: tokio::task::JoinHandle<(u64, f64)>,
}

struct Lag {
    max: u64,
    mean: f64,
}

impl LagSampler {
    fn spawn(running: &Running, reporting: Arc<AtomicBool>) -> LagSampler {
        let (store, read) = (
            running.activity.store.clone(),
            running.activity.read.clone(),
        );
        let task = tokio::spawn(async move {
            let (mut max, mut sum, mut samples) = (0u64, 0u64, 0u64);
            while reporting.load(Ordering::SeqCst) {
                if let Ok(last) = store.last_sequence().await {
                    let lag = last.saturating_sub(read.checkpoint());
                    max = max.max(lag);
                    sum += lag;
                    samples += 1;
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            (max, (sum as f64 / samples.max(1) as f64).round())
        });
        LagSampler { task }
    }

    async fn finish(self) -> Lag {
        let (max, mean) = self.task.await.unwrap_or_default();
        Lag { max, mean }
    }
}

/// Seconds from `since` until the duplicate-work detector's consumer has
/// nothing pending or unacknowledged (None after ten minutes).
async fn detector_caught_up(running: &Running, since: Instant) -> anyhow::Result<Option<f64>> {
    let store = &running.activity.store;
    let stream = store
        .jetstream()
        .get_stream(store.stream_name())
        .await
        .map_err(|e| anyhow::anyhow!("activity stream: {e}"))?;
    let mut consumer = stream
        .get_consumer::<async_nats::jetstream::consumer::pull::Config>(
            "activity-duplicate-detector",
        )
        .await
        .map_err(|e| anyhow::anyhow!("the detector's consumer: {e}"))?;
    while since.elapsed() < Duration::from_secs(600) {
        let info = consumer
            .info()
            .await
            .map_err(|e| anyhow::anyhow!("the detector's consumer: {e}"))?;
        if info.num_pending == 0 && info.num_ack_pending == 0 {
            return Ok(Some(round2(since.elapsed().as_secs_f64())));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(None)
}

/// What loading a worker's day costs, which every report after the day's
/// first and every review does before deciding: up to [`DAY_LOADS`] days of
/// yesterday (each with its reports and approvals) read from 64 tasks at
/// once with the service idle, as the command loop reads them (one raw get
/// per event plus one to find the end).
async fn day_loads(
    running: &Running,
    workers: &[String],
    yesterday: NaiveDate,
) -> anyhow::Result<Value> {
    let subjects: Arc<Vec<String>> = Arc::new(
        workers
            .iter()
            .take(DAY_LOADS)
            .map(|w| pantau_activity::core::day_subject(w, yesterday))
            .collect(),
    );
    let (next, events) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let cpu = CpuSample::now();
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..64 {
        let (store, subjects, next, events) = (
            running.activity.store.clone(),
            subjects.clone(),
            next.clone(),
            events.clone(),
        );
        tasks.spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(subject) = subjects.get(i) else {
                    return anyhow::Ok(());
                };
                events.fetch_add(store.load(subject).await?.len(), Ordering::Relaxed);
            }
        });
    }
    while let Some(r) = tasks.join_next().await {
        r??;
    }
    let took = start.elapsed();
    let (n, events) = (subjects.len(), events.load(Ordering::Relaxed));
    Ok(json!({
        "loads": n,
        "events_per_load": round2(events as f64 / n.max(1) as f64),
        "per_sec": per_sec(n, took),
        "events_per_sec": per_sec(events, took),
        "machine_cpu": cpu.map_or(Value::Null, |c| c.since(n)),
    }))
}
