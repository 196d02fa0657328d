//! Scoring: rebuilding a month of a province from the event history, beside
//! the raw JetStream consume rate of the same history in the same run, and
//! closing a month.
//!
//! The province (`PANTAU_BENCH_SCORING_WORKERS`, default 100,000 workers in
//! 20 agencies across the three time zones) has an October of 22 workdays:
//! every worker checks in each workday and files 14 reports, each approved,
//! so about 51 events a worker (5.1 million for 100,000). They are written
//! onto file-backed streams through the event store (headers as in
//! production) on a server without per-write sync: what is measured is
//! reading them back.
//!
//! - `raw_consume`: an ordered consumer reads the attendance and activity
//!   streams end to end, counting messages (no decoding).
//! - `rebuild`: the scoring service's rebuild engine (`rebuild::replay`,
//!   the same code `RebuildMonth` runs) replays identity, attendance and
//!   activity into October's facts, evaluates every worker, and writes the
//!   shadow rows to PostgreSQL.
//! - `close`: a scoring service catches up with a smaller province
//!   (`PANTAU_BENCH_SCORING_CLOSE_WORKERS`, default 10,000 workers in one
//!   agency; the live projections' rate is reported too) and closes its
//!   October through gRPC.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use bytes::Bytes;
use chrono::{Datelike, NaiveDate, Weekday};
use futures::StreamExt;
use pantau_authn::{Claims, Issuer, SigningKeyPair};
use pantau_eventstore::{AppendMode, EventStore, Expected, NewEvent, StreamSpec, Upcasters};
use pantau_platform::time::Month;
use pantau_proto::events::v1::{
    self as ev, ActivityEvent, AttendanceEvent, IdentityEvent, ScoringEvent,
    activity_event::Event as A, attendance_event::Event as T, identity_event::Event as I,
    scoring_event::Event as S,
};
use pantau_proto::scoring::v1 as api;
use pantau_scoring::domain::rules::{RuleBook, RuleSet, with_defaults};
use pantau_scoring::rebuild::{History, evaluate_all, replay, write_shadow};
use pantau_testkit::{NatsServer, PgServer};
use prost::Message;
use serde_json::{Value, json};

use crate::util::{CpuSample, log, per_sec, read_streams};

const AGENCIES: usize = 20;
const UNITS: usize = 5;
const REPORT_DAYS: usize = 14;
const ZONES: [&str; 3] = ["Asia/Jakarta", "Asia/Makassar", "Asia/Jayapura"];
const CODE: &str = "DLH-SAPU";
/// Appends in flight while the history is written.
const IN_FLIGHT: usize = 4096;

fn october() -> Month {
    Month {
        year: 2026,
        month: 10,
    }
}

fn workdays() -> Vec<NaiveDate> {
    october()
        .days()
        .filter(|d| !matches!(d.weekday(), Weekday::Sat | Weekday::Sun))
        .collect()
}

fn event(subject: String, payload: Vec<u8>) -> NewEvent {
    NewEvent {
        subject,
        event_type: "BenchFixture".into(),
        schema_version: 1,
        payload: Bytes::from(payload),
        expected: Expected::Any,
        msg_id: None,
        metadata: Default::default(),
    }
}

/// The three streams of a province.
struct Province {
    identity: EventStore,
    attendance: EventStore,
    activity: EventStore,
    agencies: Vec<String>,
    events: u64,
}

async fn open(client: &async_nats::Client, context: &str) -> anyhow::Result<EventStore> {
    Ok(EventStore::open(
        client.clone(),
        &StreamSpec::for_context(context),
        AppendMode::Pipelined,
        Upcasters::new(),
    )
    .await?)
}

async fn append_all(
    store: &EventStore,
    events: impl Iterator<Item = NewEvent>,
) -> anyhow::Result<u64> {
    let mut n = 0u64;
    let mut results = futures::stream::iter(events.map(|e| {
        let store = store.clone();
        async move { store.append(e).await }
    }))
    .buffer_unordered(IN_FLIGHT);
    while let Some(r) = results.next().await {
        r.context("writing the bench history")?;
        n += 1;
    }
    Ok(n)
}

/// Writes a province of `workers` in `agencies` agencies (and a signing key
/// for `issuer`, when given) onto the server's streams.
async fn write_province(
    nats: &NatsServer,
    workers: usize,
    agencies: usize,
    issuer: Option<&Issuer>,
) -> anyhow::Result<Province> {
    let client = nats.client().await?;
    let (identity, attendance, activity) = (
        open(&client, "identity").await?,
        open(&client, "attendance").await?,
        open(&client, "activity").await?,
    );
    let agency_ids: Vec<String> = (0..agencies)
        .map(|_| uuid::Uuid::new_v4().to_string())
        .collect();
    let units: Vec<Vec<String>> = (0..agencies)
        .map(|_| {
            (0..UNITS)
                .map(|_| uuid::Uuid::new_v4().to_string())
                .collect()
        })
        .collect();
    let ids: Arc<Vec<String>> = Arc::new(
        (0..workers)
            .map(|_| uuid::Uuid::new_v4().to_string())
            .collect(),
    );
    let mut identity_events = Vec::new();
    if let Some(issuer) = issuer {
        identity_events.push(event(
            "pantau.identity.signing_key.bench".into(),
            IdentityEvent {
                event: Some(I::SigningKeyPublished(ev::SigningKeyPublished {
                    key_id: issuer.key_id().to_owned(),
                    public_key: issuer.public_key_bytes().to_vec(),
                })),
            }
            .encode_to_vec(),
        ));
    }
    for (a, id) in agency_ids.iter().enumerate() {
        identity_events.push(event(
            format!("pantau.identity.agency.{id}"),
            IdentityEvent {
                event: Some(I::AgencyCreated(ev::AgencyCreated {
                    agency_id: id.clone(),
                    code: format!("OPD-{a}"),
                    name: format!("Dinas {a}"),
                    time_zone: ZONES[a % ZONES.len()].into(),
                })),
            }
            .encode_to_vec(),
        ));
    }
    for (i, w) in ids.iter().enumerate() {
        let a = i % agencies;
        let kind = if i % 4 == 0 {
            ev::WorkerKind::Pns
        } else {
            ev::WorkerKind::Phl
        };
        identity_events.push(event(
            format!("pantau.identity.worker.{w}"),
            IdentityEvent {
                event: Some(I::WorkerRegistered(ev::WorkerRegistered {
                    worker_id: w.clone(),
                    kind: kind as i32,
                    employee_id: format!("PHL-{}", &w[..8]),
                    name: format!("Pekerja {i}"),
                    agency_id: agency_ids[a].clone(),
                    unit_id: units[a][(i / agencies) % UNITS].clone(),
                    joined_on: "2020-01-01".into(),
                    ..Default::default()
                })),
            }
            .encode_to_vec(),
        ));
    }
    let mut events = append_all(&identity, identity_events.into_iter()).await?;
    log(&format!("scoring: {events} identity events written"));
    let days = workdays();
    let people = Arc::new((agency_ids.clone(), units.clone(), ids.clone()));
    let who = move |people: &(Vec<String>, Vec<Vec<String>>, Arc<Vec<String>>), i: usize| {
        let a = i % agencies;
        (
            people.0[a].clone(),
            people.1[a][(i / agencies) % UNITS].clone(),
            people.2[i].clone(),
            a,
        )
    };
    let (p, d2) = (people.clone(), days.clone());
    let checkins = (0..workers).flat_map(move |i| {
        let (agency, unit, w, a) = who(&p, i);
        d2.clone().into_iter().enumerate().map(move |(d, day)| {
            let late = ((i * 7 + d * 13) % 50) as u32;
            let late = late.saturating_sub(40);
            event(
                format!("pantau.attendance.worker.{w}"),
                AttendanceEvent {
                    event: Some(T::CheckedIn(ev::CheckedIn {
                        presence: Some(ev::Presence {
                            worker_id: w.clone(),
                            agency_id: agency.clone(),
                            unit_id: unit.clone(),
                            local_date: day.to_string(),
                            local_minute: 450 + late,
                            late_minutes: late,
                            inside: true,
                            position: Some(ev::GeoPoint {
                                latitude: -0.5,
                                longitude: 117.15,
                            }),
                            accuracy_m: 8.0,
                            device_id: format!("android-{}", &w[..8]),
                            site_id: "S1".into(),
                            time_zone: ZONES[a % ZONES.len()].into(),
                            ..Default::default()
                        }),
                    })),
                }
                .encode_to_vec(),
            )
        })
    });
    let n = append_all(&attendance, checkins).await?;
    events += n;
    log(&format!("scoring: {n} check-ins written"));
    let p = people.clone();
    let reports = (0..workers).flat_map(move |i| {
        let (agency, unit, w, _) = who(&p, i);
        days.clone()
            .into_iter()
            .take(REPORT_DAYS)
            .flat_map(move |day| {
                let report_id = format!(
                    "{}.{w}.{}",
                    day.format("%Y%m%d"),
                    uuid::Uuid::new_v4().simple()
                );
                let subject = format!("pantau.activity.day.{w}.{}", day.format("%Y%m%d"));
                let reported = A::ActivityReported(ev::ActivityReported {
                    report_id: report_id.clone(),
                    worker_id: w.clone(),
                    agency_id: agency.clone(),
                    unit_id: unit.clone(),
                    local_date: day.to_string(),
                    details: Some(ev::ActivityDetails {
                        code: CODE.into(),
                        catalog_agency_id: agency.clone(),
                        catalog_version: 1,
                        unit: "meter".into(),
                        quantity: 20.0 + (i % 30) as f64,
                        start_minute: 8 * 60,
                        end_minute: 11 * 60,
                        description: format!("Membersihkan saluran segmen {}", i % 97),
                        location: Some(ev::ActivityLocation {
                            latitude: -0.5,
                            longitude: 117.15,
                            site_id: "S1".into(),
                        }),
                        evidence: vec![ev::Evidence {
                            kind: ev::EvidenceKind::Photo as i32,
                            r#ref: format!("{:064x}", i * 31 + day.day() as usize),
                        }],
                    }),
                    reported_by: w.clone(),
                    ..Default::default()
                });
                let approved = A::ActivityApproved(ev::ActivityApproved {
                    report_id,
                    worker_id: w.clone(),
                    reviewer: "supervisor".into(),
                    at: None,
                });
                [reported, approved].into_iter().map(move |e| {
                    event(
                        subject.clone(),
                        ActivityEvent { event: Some(e) }.encode_to_vec(),
                    )
                })
            })
    });
    let n = append_all(&activity, reports).await?;
    events += n;
    log(&format!("scoring: {n} report and approval events written"));
    Ok(Province {
        identity,
        attendance,
        activity,
        agencies: agency_ids,
        events,
    })
}

/// The province's rules: points per metre of drain cleared and per day
/// present, the national scale otherwise.
fn rules() -> ev::Rules {
    with_defaults(Some(ev::Rules {
        activities: vec![ev::CodeRule {
            code: CODE.into(),
            points_per_unit: 10.0,
            daily_cap: 400.0,
            monthly_cap: 0.0,
        }],
        present_day_points: 20.0,
        ..Default::default()
    }))
}

fn rule_set_event() -> ev::RuleSetPublished {
    ev::RuleSetPublished {
        agency_id: String::new(),
        version: 1,
        effective_from: "2026-01-01".into(),
        decree: "Keputusan Gubernur 1/2026".into(),
        rules: Some(rules()),
        published_by: "bench".into(),
        at: None,
    }
}

pub async fn run(pg: &PgServer, workers: usize, close_workers: usize) -> anyhow::Result<Value> {
    log("scoring: starting a NATS server (file storage, no per-write sync)");
    let nats = NatsServer::spawn(false).await?;
    log(&format!(
        "scoring: writing October of a province of {workers} workers in {AGENCIES} agencies"
    ));
    let write_start = Instant::now();
    let province = write_province(&nats, workers, AGENCIES, None).await?;
    let write_secs = write_start.elapsed().as_secs_f64();
    log(&format!(
        "scoring: {} events written in {write_secs:.1} s",
        province.events
    ));

    log("scoring: raw consume of the attendance and activity streams");
    let cpu = CpuSample::now();
    let (raw_n, raw_took) = read_streams(&[&province.attendance, &province.activity]).await?;
    let raw_cpu = cpu.map_or(Value::Null, |c| c.since(raw_n as usize));
    let raw_rate = per_sec(raw_n as usize, raw_took);
    log(&format!(
        "scoring: raw consume {raw_n} messages, {raw_rate}/s"
    ));

    log("scoring: rebuilding October from the history");
    let mut book = RuleBook::default();
    book.add(
        RuleSet::from_event(&rule_set_event(), 1)
            .ok_or_else(|| anyhow::anyhow!("the bench rule set does not parse"))?,
    );
    let history = History {
        identity: (&province.identity, province.identity.last_sequence().await?),
        attendance: (
            &province.attendance,
            province.attendance.last_sequence().await?,
        ),
        activity: (&province.activity, province.activity.last_sequence().await?),
    };
    let replayed_events = history.identity.1 + history.attendance.1 + history.activity.1;
    let cpu = CpuSample::now();
    let start = Instant::now();
    let ledger = replay(history, october(), None, Duration::from_secs(5), |p| {
        log(&format!(
            "scoring: rebuild read {} of {} events",
            p.read, p.total
        ));
    })
    .await?;
    let replay_took = start.elapsed();
    let replay_cpu = cpu.map_or(Value::Null, |c| c.since(replayed_events as usize));
    let eval_start = Instant::now();
    let mut rows = Vec::new();
    for agency in &province.agencies {
        rows.extend(evaluate_all(&ledger, &book, agency, october(), u64::MAX));
    }
    let eval_took = eval_start.elapsed();
    drop(ledger);
    let db = pg.database("scoring_bench").await?;
    let pool = sqlx::PgPool::connect(&db.url).await?;
    pantau_scoring::readmodel::prepare(&pool).await?;
    let shadow_start = Instant::now();
    let summary = write_shadow(&pool, "bench", &rows, &HashMap::new()).await?;
    let shadow_took = shadow_start.elapsed();
    let total = start.elapsed();
    let replay_rate = per_sec(replayed_events as usize, replay_took);
    let rebuild_rate = per_sec(replayed_events as usize, total);
    log(&format!(
        "scoring: rebuild replayed {replayed_events} events in {:.1} s ({replay_rate}/s), \
         evaluated {} workers in {:.2} s, wrote shadow rows in {:.2} s",
        replay_took.as_secs_f64(),
        rows.len(),
        eval_took.as_secs_f64(),
        shadow_took.as_secs_f64()
    ));
    drop(province);
    drop(nats);
    let close = close(pg, close_workers).await?;
    let ratio = |a: f64, b: f64| {
        if b > 0.0 {
            (a / b * 1000.0).round() / 1000.0
        } else {
            0.0
        }
    };
    Ok(json!({
        "workers": workers,
        "agencies": AGENCIES,
        "history_events": replayed_events,
        "history_written_seconds": (write_secs * 10.0).round() / 10.0,
        "raw_consume": {
            "messages": raw_n,
            "seconds": raw_took.as_secs_f64(),
            "per_sec": raw_rate,
            "machine_cpu": raw_cpu,
        },
        "rebuild": {
            "events": replayed_events,
            "replay_seconds": replay_took.as_secs_f64(),
            "replay_events_per_sec": replay_rate,
            "replay_machine_cpu": replay_cpu,
            "evaluate_seconds": eval_took.as_secs_f64(),
            "workers_evaluated": rows.len(),
            "shadow_write_seconds": shadow_took.as_secs_f64(),
            "total_seconds": total.as_secs_f64(),
            "events_per_sec": rebuild_rate,
            "shadow_rows": summary.workers,
        },
        "close": close,
        "ratios": {
            "rebuild_vs_raw_consume": ratio(rebuild_rate, raw_rate),
            "replay_vs_raw_consume": ratio(replay_rate, raw_rate),
        },
        "target": {
            "rebuild_vs_raw_consume_at_least": 0.333,
            "met": ratio(rebuild_rate, raw_rate) >= 1.0 / 3.0,
        },
    }))
}

/// A scoring service catches up with a one-agency province and closes its
/// October.
async fn close(pg: &PgServer, workers: usize) -> anyhow::Result<Value> {
    log(&format!(
        "scoring: writing October of one agency of {workers} workers for the close"
    ));
    let nats = NatsServer::spawn(false).await?;
    let issuer = Issuer::new(SigningKeyPair::generate().map_err(|e| anyhow::anyhow!("{e}"))?);
    let province = write_province(&nats, workers, 1, Some(&issuer)).await?;
    let client = nats.client().await?;
    let scoring = open(&client, "scoring").await?;
    scoring
        .append(event(
            "pantau.scoring.ruleset.all".into(),
            ScoringEvent {
                event: Some(S::RuleSetPublished(rule_set_event())),
            }
            .encode_to_vec(),
        ))
        .await?;
    let cpu = CpuSample::now();
    let start = Instant::now();
    let running = pantau_scoring::app::start(pantau_scoring::config::Config::in_process(
        &nats.url, &pg.url,
    ))
    .await?;
    let s = running.scoring.clone();
    let targets = [
        (province.identity.last_sequence().await?, &s.read.identity),
        (
            province.attendance.last_sequence().await?,
            &s.read.attendance,
        ),
        (province.activity.last_sequence().await?, &s.read.activity),
    ];
    for (last, handle) in targets {
        anyhow::ensure!(
            handle.wait_for(last, Duration::from_secs(3600)).await,
            "the scoring projections did not catch up within an hour"
        );
    }
    let catch_up = start.elapsed();
    let catch_up_cpu = cpu.map_or(Value::Null, |c| c.since(province.events as usize));
    log(&format!(
        "scoring: live projections caught up with {} events in {:.1} s",
        province.events,
        catch_up.as_secs_f64()
    ));
    let token = issuer.issue(&Claims::new(
        "bench-admin".to_owned(),
        vec!["province_admin".to_owned()],
        None,
        None,
        chrono::Utc::now().timestamp(),
        3600,
        uuid::Uuid::new_v4().to_string(),
    ));
    let mut client = api::scoring_service_client::ScoringServiceClient::connect(format!(
        "http://{}",
        running.addr
    ))
    .await?;
    let mut req = tonic::Request::new(api::CloseMonthRequest {
        request_id: "bench-close".into(),
        agency_id: province.agencies[0].clone(),
        month: october().to_string(),
    });
    req.metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse()?);
    let cpu = CpuSample::now();
    let start = Instant::now();
    let closed = client.close_month(req).await?.into_inner();
    let close_took = start.elapsed();
    let close_cpu = cpu.map_or(Value::Null, |c| c.since(closed.workers as usize));
    log(&format!(
        "scoring: closed October for {} workers in {:.2} s",
        closed.workers,
        close_took.as_secs_f64()
    ));
    running.stop().await;
    Ok(json!({
        "workers": closed.workers,
        "events": province.events,
        "live_catch_up_seconds": catch_up.as_secs_f64(),
        "live_events_per_sec": per_sec(province.events as usize, catch_up),
        "live_machine_cpu": catch_up_cpu,
        "close_seconds": close_took.as_secs_f64(),
        "close_workers_per_sec": per_sec(closed.workers as usize, close_took),
        "close_machine_cpu": close_cpu,
    }))
}
