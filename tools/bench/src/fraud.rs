//! Fraud: events a second through every detector on a month of a province,
//! beside the raw JetStream consume rate of the same streams in the same run.
//!
//! The month is the fraud service's own deterministic synthetic province
//! (`simulate::generate`; `PANTAU_BENCH_FRAUD_WORKERS`, default 100,000
//! workers in its three agencies, 2% of them in planted frauds, with the
//! ground truth). Its events are appended to PANTAU_IDENTITY,
//! PANTAU_ATTENDANCE and PANTAU_ACTIVITY on their services' subjects with the
//! event store's envelope, each at the stream sequence the generator gave
//! it (in atomic batches, one after another: the fold depends on the order),
//! on a server without per-write sync; then a signing key on identity for
//! the bench's token. Writing is setup, not measured.
//!
//! - `in_process`: the pure figures, no I/O: folding the generated events
//!   into a province (`Simulated::province`), and `detect_all` on the
//!   province the service folded (the same events; at 100,000 workers two
//!   provinces beside the month would not fit comfortably in memory), with
//!   the precision and recall of its signals against the ground truth.
//! - `raw_consume`: an ordered consumer reads the three streams end to end,
//!   one after the other, counting messages (no decoding).
//! - `fold`: a fraud service starts in process; start-up returns once its
//!   followers have folded every event into its province (one stream after
//!   the other, as on any restart). Includes creating its database.
//! - `detect`: one `RunDetectors` over all agencies as a province admin, on
//!   a clock two days past the month (so absences are judged): detectors,
//!   combining, appending the findings and the read model catching up.
//! - `end_to_end`: events / (fold + detect), the headline figure.
//! - `service_findings`: the findings read back (`ListFindings`,
//!   `GetFinding`) and scored against the ground truth.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::{DateTime, Utc};
use pantau_authn::{Claims, Issuer, SigningKeyPair};
use pantau_feed::{Streams, write_month};
use pantau_fraud::domain::Month;
use pantau_fraud::domain::detectors::{Detector, detect_all};
use pantau_fraud::domain::simulate::{
    self, Evaluation, Named, SimConfig, SimEvent, Simulated, evaluate_named,
};
use pantau_proto::events::v1::{self as ev, identity_event::Event as I};
use pantau_proto::fraud::v1::{self as api, fraud_service_client::FraudServiceClient};
use pantau_testkit::{NatsServer, PgServer};
use serde_json::{Value, json};
use tonic::transport::Channel;

use crate::util::{CpuSample, authed, log, memory_mb, per_sec, read_streams};

/// Findings one `ListFindings` page asks for (the service's maximum).
const PAGE: u32 = 500;

/// The streams the fraud service follows.
/// Every finding of `month`, with each signal's detector and related
/// workers, as `pantau sim evaluate` reads them.
async fn findings(
    client: &mut FraudServiceClient<Channel>,
    token: &str,
    month: Month,
) -> anyhow::Result<(usize, Vec<Named>)> {
    let (mut n, mut named, mut page_token) = (0, Vec::new(), String::new());
    loop {
        let list = api::ListFindingsRequest {
            month: month.to_string(),
            include_resolved: true,
            page_size: PAGE,
            page_token: page_token.clone(),
            ..Default::default()
        };
        let page = client
            .list_findings(authed(token, list)?)
            .await?
            .into_inner();
        for summary in &page.findings {
            n += 1;
            let get = api::GetFindingRequest {
                finding_id: summary.finding_id.clone(),
            };
            let finding = client
                .get_finding(authed(token, get)?)
                .await?
                .into_inner()
                .finding
                .unwrap_or_default();
            for s in &finding.signals {
                if let Some(detector) = Detector::parse(&s.detector) {
                    named.push(Named {
                        subject: finding.subject_id.clone(),
                        detector,
                        related: s.related_workers.clone(),
                    });
                }
            }
        }
        if page.next_page_token.is_empty() {
            return Ok((n, named));
        }
        page_token = page.next_page_token;
    }
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// Precision and recall overall and per detector.
fn scores(e: &Evaluation) -> Value {
    let per: serde_json::Map<String, Value> = e
        .per_detector
        .iter()
        .map(|(d, s)| {
            let row = json!({
                "planted": s.planted,
                "signalled": s.signalled,
                "true_positives": s.true_positives,
            });
            (d.name().to_owned(), row)
        })
        .collect();
    json!({
        "planted": e.overall.planted,
        "signalled": e.overall.signalled,
        "true_positives": e.overall.true_positives,
        "precision": round3(e.overall.precision()),
        "recall": round3(e.overall.recall()),
        "flagged_scanners": e.flagged_scanners,
        "per_detector": per,
    })
}

/// A new signing key on the identity stream, as identity publishes one,
/// for the bench's tokens.
pub async fn publish_signing_key(streams: &Streams) -> anyhow::Result<Issuer> {
    let issuer = Issuer::new(SigningKeyPair::generate().map_err(|e| anyhow::anyhow!("{e}"))?);
    streams
        .identity
        .append(pantau_feed::identity(&I::SigningKeyPublished(
            ev::SigningKeyPublished {
                key_id: issuer.key_id().to_owned(),
                public_key: issuer.public_key_bytes().to_vec(),
            },
        )))
        .await
        .context("failed to publish the bench signing key")?;
    Ok(issuer)
}

/// Events per stream.
pub fn counts(events: &[SimEvent]) -> [u64; 3] {
    let mut n = [0u64; 3];
    for e in events {
        n[match e {
            SimEvent::Identity { .. } => 0,
            SimEvent::Attendance { .. } => 1,
            SimEvent::Activity { .. } => 2,
        }] += 1;
    }
    n
}

/// Two days past the month, when it has ended in every zone.
fn after(month: Month) -> DateTime<Utc> {
    (month.last_day() + chrono::Duration::days(2))
        .and_hms_opt(2, 0, 0)
        .unwrap_or_default()
        .and_utc()
}

/// The pure fold: the generated month into a province, no I/O. Returns
/// the time, the workers folded and the memory with the province built
/// (beside the month), which is dropped again.
fn fold_in_process(sim: &Simulated) -> (Duration, usize, Value) {
    let start = Instant::now();
    let province = sim.province();
    let took = start.elapsed();
    let workers = province.workers().count();
    let memory = memory_mb();
    log(&format!(
        "fraud: in process, folded {} events in {:.1} s",
        sim.events.len(),
        took.as_secs_f64()
    ));
    (took, workers, memory)
}

/// The pure detectors on the province the service folded (the same events
/// as the generated one): one province in memory at a time.
fn detect_in_process(
    running: &pantau_fraud::app::Running,
    month: Month,
    truth: &[simulate::Planted],
    scanners: &[String],
) -> (Duration, usize, Evaluation) {
    let watch = running.fraud.watch();
    let start = Instant::now();
    let signals = detect_all(&watch.province, month);
    let took = start.elapsed();
    drop(watch);
    let named: Vec<Named> = signals.iter().map(Named::from).collect();
    let evaluation = evaluate_named(&named, truth, scanners);
    log(&format!(
        "fraud: in process, detect_all gave {} signals in {:.2} s (precision {:.3}, recall {:.3})",
        signals.len(),
        took.as_secs_f64(),
        evaluation.overall.precision(),
        evaluation.overall.recall()
    ));
    (took, signals.len(), evaluation)
}

pub async fn run(pg: &PgServer, workers: usize) -> anyhow::Result<Value> {
    let config = SimConfig {
        workers,
        ..SimConfig::default()
    };
    let month = config.month;
    log(&format!("fraud: generating {month} of {workers} workers"));
    let start = Instant::now();
    let sim = simulate::generate(&config);
    let generate_took = start.elapsed();
    let [n_identity, n_attendance, n_activity] = counts(&sim.events);
    let memory_generated = memory_mb();
    log(&format!(
        "fraud: generated {} events ({n_identity} identity, {n_attendance} attendance, \
         {n_activity} activity) and {} planted frauds in {:.1} s",
        sim.events.len(),
        sim.truth.len(),
        generate_took.as_secs_f64()
    ));
    let (pure_fold, pure_workers, memory_pure) = fold_in_process(&sim);

    log("fraud: starting a NATS server (file storage, no per-write sync)");
    let nats = NatsServer::spawn(false).await?;
    let streams = Streams::open(&nats.client().await?).await?;
    let start = Instant::now();
    let written = write_month(&streams, &sim.events).await?;
    // After the month, so every event keeps the generator's sequence.
    let issuer = publish_signing_key(&streams).await?;
    let write_took = start.elapsed();
    log(&format!(
        "fraud: {written} events written in {:.1} s ({}/s)",
        write_took.as_secs_f64(),
        per_sec(written as usize, write_took)
    ));
    let Simulated {
        events,
        truth,
        scanners,
        ..
    } = sim;
    let month_events = events.len();
    drop(events);

    log("fraud: raw consume of the identity, attendance and activity streams");
    let cpu = CpuSample::now();
    let (raw_n, raw_took) = read_streams(&streams.all()).await?;
    let raw_cpu = cpu.map_or(Value::Null, |c| c.since(raw_n as usize));
    let raw_rate = per_sec(raw_n as usize, raw_took);
    log(&format!(
        "fraud: raw consume {raw_n} messages, {raw_rate}/s"
    ));

    let mut lasts = [0u64; 3];
    for (last, store) in lasts.iter_mut().zip(streams.all()) {
        *last = store.last_sequence().await?;
    }
    let followed: u64 = lasts.iter().sum();
    log("fraud: starting the fraud service (its followers fold the streams)");
    let cpu = CpuSample::now();
    let start = Instant::now();
    let running =
        pantau_fraud::app::start(pantau_fraud::config::Config::in_process(&nats.url, &pg.url))
            .await?;
    let fold_took = start.elapsed();
    let fold_cpu = cpu.map_or(Value::Null, |c| c.since(followed as usize));
    for (follower, last) in running.fraud.sources.followers.iter().zip(lasts) {
        anyhow::ensure!(
            follower.seen() >= last,
            "the fraud service started before folding its streams"
        );
    }
    let followed_workers = running.fraud.watch().province.workers().count();
    anyhow::ensure!(
        followed_workers == pure_workers,
        "the service folded {followed_workers} workers, the generator made {pure_workers}"
    );
    let memory_folded = memory_mb();
    let fold_rate = per_sec(followed as usize, fold_took);
    log(&format!(
        "fraud: service folded {followed} events in {:.1} s ({fold_rate}/s)",
        fold_took.as_secs_f64()
    ));

    let now = after(month);
    running.fraud.set_clock(Arc::new(move || now));
    let token = issuer.issue(&Claims::new(
        "bench-admin".to_owned(),
        vec!["province_admin".to_owned()],
        None,
        None,
        now.timestamp(),
        24 * 3600,
        uuid::Uuid::new_v4().to_string(),
    ));
    let mut client = FraudServiceClient::connect(format!("http://{}", running.addr)).await?;
    let req = api::RunDetectorsRequest {
        request_id: uuid::Uuid::new_v4().to_string(),
        month: month.to_string(),
        agency_id: String::new(),
    };
    log("fraud: RunDetectors over every agency");
    let cpu = CpuSample::now();
    let start = Instant::now();
    let ran = client
        .run_detectors(authed(&token, req)?)
        .await
        .context("RunDetectors failed")?
        .into_inner();
    let detect_took = start.elapsed();
    let detect_cpu = cpu.map_or(Value::Null, |c| c.since(followed as usize));
    log(&format!(
        "fraud: RunDetectors raised {} findings ({} known) in {:.2} s",
        ran.raised,
        ran.already_known,
        detect_took.as_secs_f64()
    ));
    let (listed, named) = findings(&mut client, &token, month).await?;
    let service = evaluate_named(&named, &truth, &scanners);
    log(&format!(
        "fraud: {listed} findings read back: precision {:.3}, recall {:.3}",
        service.overall.precision(),
        service.overall.recall()
    ));
    let (pure_detect, signals, pure) = detect_in_process(&running, month, &truth, &scanners);
    running.stop().await;
    let total = fold_took + detect_took;
    Ok(json!({
        "workers": workers,
        "month": month.to_string(),
        "planted": truth.len(),
        "events": {
            "identity": n_identity,
            "attendance": n_attendance,
            "activity": n_activity,
            "month": month_events,
            "followed": followed,
        },
        "generate_seconds": generate_took.as_secs_f64(),
        "written_seconds": write_took.as_secs_f64(),
        "written_per_sec": per_sec(written as usize, write_took),
        "in_process": {
            "fold_seconds": pure_fold.as_secs_f64(),
            "fold_events_per_sec": per_sec(month_events, pure_fold),
            "detect_all_seconds": pure_detect.as_secs_f64(),
            "signals": signals,
            "events_per_sec": per_sec(month_events, pure_fold + pure_detect),
            "signals_vs_truth": scores(&pure),
        },
        "raw_consume": {
            "messages": raw_n,
            "seconds": raw_took.as_secs_f64(),
            "per_sec": raw_rate,
            "machine_cpu": raw_cpu,
        },
        "fold": {
            "events": followed,
            "seconds": fold_took.as_secs_f64(),
            "events_per_sec": fold_rate,
            "machine_cpu": fold_cpu,
            "workers": followed_workers,
        },
        "detect": {
            "seconds": detect_took.as_secs_f64(),
            "raised": ran.raised,
            "already_known": ran.already_known,
            "machine_cpu": detect_cpu,
        },
        "end_to_end": {
            "seconds": total.as_secs_f64(),
            "events_per_sec": per_sec(followed as usize, total),
        },
        "service_findings": {
            "findings": listed,
            "vs_truth": scores(&service),
        },
        "memory_mb": {
            "generated": memory_generated,
            "with_in_process_province": memory_pure,
            "service_folded": memory_folded,
            "end": memory_mb(),
        },
    }))
}
