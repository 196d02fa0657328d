//! Reporting: how fast its five projections catch up on a province's month,
//! and what its public JSON API answers under many clients, beside the raw
//! JetStream consume, HTTP and PostgreSQL ceilings measured in the same run.
//!
//! The month is the fraud simulator's province
//! (`PANTAU_BENCH_REPORTING_WORKERS`, default 20,000 workers) written onto
//! the identity, attendance and activity streams with `pantau-feed`, then a
//! signing key and the month closed on the scoring stream (one finalized
//! score per worker), on a server without per-write sync. Setup, not
//! measured.
//!
//! - `raw_consume`: an ordered consumer reads the four streams end to end,
//!   counting messages (no decoding).
//! - `catch_up`: the service starts in process on an empty database and its
//!   projections apply every event (includes creating the database).
//! - `api_uncached` / `api_cached`: `PANTAU_BENCH_REPORTING_CLIENTS`
//!   (default 200) HTTP/1.1 keep-alive clients for
//!   `PANTAU_BENCH_REPORTING_SECS` (default 20) each over a dashboard's
//!   mix of the public endpoints, closed loop: without the answer cache
//!   (every request queries PostgreSQL), then on the same database after a
//!   restart with the production default cache.
//! - `endpoints_sequential`: each endpoint asked alone by one client, no
//!   cache: what its queries cost without queueing.
//! - `ceilings`: the same clients against `/healthz` (the HTTP floor), and
//!   `SELECT 1` from as many tasks through a pool the service's size.

use std::time::{Duration, Instant};

use anyhow::Context;
use pantau_feed::{Streams, generated_scores, write_month, write_scores};
use pantau_fraud::domain::simulate::{self, SimConfig};
use pantau_reporting::{app, config::Config};
use pantau_testkit::{NatsServer, PgServer};
use serde_json::{Value, json};
use sqlx::postgres::PgPoolOptions;

use crate::fraud::{counts, publish_signing_key};
use crate::load::{self, Endpoint, drive, http_mix, slots};
use crate::util::{CpuSample, latency_ms, log, per_sec, read_streams};

/// Sizes and durations of the reporting part.
pub struct Options {
    pub workers: usize,
    pub clients: usize,
    pub duration: Duration,
}

/// The service's database pool (`app::start` opens 16 connections).
const POOL: u32 = 16;
/// Requests per endpoint path in the sequential pass.
const SEQUENTIAL: usize = 20;
/// How long the projections may take to catch up.
const CATCH_UP: Duration = Duration::from_secs(1800);

/// The production default of `PANTAU_REPORTING_CACHE_SECS`.
fn default_cache() -> anyhow::Result<Duration> {
    let secs = pantau_reporting::config::DEFAULTS
        .iter()
        .find(|(k, _)| *k == "PANTAU_REPORTING_CACHE_SECS")
        .context("no default for PANTAU_REPORTING_CACHE_SECS")?
        .1
        .parse()?;
    Ok(Duration::from_secs(secs))
}

fn ratio(a: &Value, b: &Value) -> Value {
    match (a.as_f64(), b.as_f64()) {
        (Some(a), Some(b)) if b > 0.0 => json!((a / b * 1000.0).round() / 1000.0),
        _ => Value::Null,
    }
}

/// The generated month and its scores onto a fresh server. Returns the
/// server, the month and the events written.
async fn seed(workers: usize) -> anyhow::Result<(NatsServer, String, Value)> {
    let config = SimConfig {
        workers,
        ..SimConfig::default()
    };
    log(&format!(
        "reporting: generating {} of {workers} workers",
        config.month
    ));
    let start = Instant::now();
    let sim = simulate::generate(&config);
    let [identity, attendance, activity] = counts(&sim.events);
    let nats = NatsServer::spawn(false).await?;
    let client = nats.client().await?;
    let streams = Streams::open(&client).await?;
    let written = write_month(&streams, &sim.events).await?;
    publish_signing_key(&streams).await?;
    let scoring = pantau_eventstore::EventStore::open_context(
        &client,
        "scoring",
        pantau_eventstore::AppendMode::Pipelined,
    )
    .await?;
    let scores = generated_scores(&sim.events);
    let scored = write_scores(&scoring, config.month, &scores).await?;
    let took = start.elapsed();
    log(&format!(
        "reporting: {written} month events and {scored} scoring events written in {:.1} s",
        took.as_secs_f64()
    ));
    let events = json!({
        "identity": identity + 1,
        "attendance": attendance,
        "activity": activity,
        "scoring": scored,
        "total": written + 1 + scored,
        "scored_workers": scores.len(),
    });
    Ok((nats, config.month.to_string(), events))
}

/// The public endpoints of `month` a dashboard asks, weighted by how
/// often: the league and the province map on every visit, an agency's
/// month, map and trends when one is opened.
async fn endpoints(
    http: &reqwest::Client,
    base: &str,
    month: &str,
) -> anyhow::Result<Vec<Endpoint>> {
    let league: Value = http
        .get(format!("{base}/api/v1/league?month={month}"))
        .send()
        .await?
        .json()
        .await?;
    let rows = league["agencies"].as_array().cloned().unwrap_or_default();
    let published = rows
        .iter()
        .filter(|r| r["figures"]["scored"] == true && r["figures"]["average_score"].is_number())
        .count();
    anyhow::ensure!(
        !rows.is_empty() && published == rows.len(),
        "the league of {month} has {} agencies, {published} with published scores: {league}",
        rows.len()
    );
    let ids: Vec<String> = rows
        .iter()
        .filter_map(|r| r["agency"]["agency_id"].as_str())
        .map(str::to_owned)
        .collect();
    let each = |f: &dyn Fn(&str) -> String| ids.iter().map(|id| f(id)).collect::<Vec<_>>();
    let one = |p: String| vec![p];
    Ok(vec![
        Endpoint {
            name: "league",
            paths: one(format!("/api/v1/league?month={month}")),
            weight: 3,
        },
        Endpoint {
            name: "map_province",
            paths: one(format!("/api/v1/map?month={month}")),
            weight: 2,
        },
        Endpoint {
            name: "trends_province",
            paths: one("/api/v1/trends".into()),
            weight: 1,
        },
        Endpoint {
            name: "months",
            paths: one("/api/v1/months".into()),
            weight: 1,
        },
        Endpoint {
            name: "agency_month",
            paths: each(&|id| format!("/api/v1/agencies/{id}?month={month}")),
            weight: 2,
        },
        Endpoint {
            name: "map_agency",
            paths: each(&|id| format!("/api/v1/map?month={month}&agency_id={id}")),
            weight: 1,
        },
        Endpoint {
            name: "trends_agency",
            paths: each(&|id| format!("/api/v1/trends?agency_id={id}")),
            weight: 1,
        },
    ])
}

/// Each endpoint's paths asked [`SEQUENTIAL`] times by one client after a
/// warm-up: latency and answer size.
async fn sequential(
    http: &reqwest::Client,
    base: &str,
    endpoints: &[Endpoint],
) -> anyhow::Result<Value> {
    let mut out = serde_json::Map::new();
    for e in endpoints {
        let mut h = hdrhistogram::Histogram::<u64>::new(3)?;
        let mut bytes = 0;
        for path in &e.paths {
            let url = format!("{base}{path}");
            bytes = load::get(http, &url).await?;
            for _ in 0..SEQUENTIAL {
                let start = Instant::now();
                load::get(http, &url).await?;
                h.record(start.elapsed().as_micros() as u64)?;
            }
        }
        let mut row = latency_ms(&h);
        row["body_bytes"] = json!(bytes);
        out.insert(e.name.to_owned(), row);
    }
    Ok(Value::Object(out))
}

/// The mix and its endpoints' names.
fn mix(endpoints: &[Endpoint]) -> (Vec<(usize, String)>, Vec<&'static str>) {
    (slots(endpoints), endpoints.iter().map(|e| e.name).collect())
}

async fn api(
    o: &Options,
    http: &reqwest::Client,
    base: &str,
    endpoints: &[Endpoint],
) -> anyhow::Result<Value> {
    let (slots, names) = mix(endpoints);
    let figures = drive(
        o.clients,
        o.duration,
        &names,
        http_mix(http.clone(), base.to_owned(), slots),
    )
    .await?;
    log(&format!(
        "reporting: {} requests/s, p50 {} ms, p99 {} ms, {} errors",
        figures["per_sec"],
        figures["latency_ms"]["p50"],
        figures["latency_ms"]["p99"],
        figures["errors"]
    ));
    Ok(figures)
}

/// `SELECT 1` from `clients` tasks through a pool of [`POOL`].
async fn pg_select(o: &Options, pg: &PgServer) -> anyhow::Result<Value> {
    let db = pg.database("bench_select").await?;
    let pool = PgPoolOptions::new()
        .max_connections(POOL)
        .min_connections(POOL)
        .connect(&db.url)
        .await?;
    let p = pool.clone();
    let figures = drive(o.clients, o.duration, &["select_1"], move |_, _| {
        let pool = p.clone();
        async move {
            let r: Result<i32, _> = sqlx::query_scalar("SELECT 1").fetch_one(&pool).await;
            (0, r.is_ok())
        }
    })
    .await?;
    pool.close().await;
    Ok(figures)
}

pub async fn run(pg: &PgServer, o: &Options) -> anyhow::Result<Value> {
    let (nats, month, events) = seed(o.workers).await?;
    let client = nats.client().await?;
    let open = |context: &'static str| {
        pantau_eventstore::EventStore::open_context(
            &client,
            context,
            pantau_eventstore::AppendMode::Pipelined,
        )
    };
    let stores = [
        open("identity").await?,
        open("attendance").await?,
        open("activity").await?,
        open("scoring").await?,
    ];

    log("reporting: raw consume of the identity, attendance, activity and scoring streams");
    let cpu = CpuSample::now();
    let (raw_n, raw_took) = read_streams(&stores.iter().collect::<Vec<_>>()).await?;
    let raw = json!({
        "messages": raw_n,
        "seconds": raw_took.as_secs_f64(),
        "per_sec": per_sec(raw_n as usize, raw_took),
        "machine_cpu": cpu.map_or(Value::Null, |c| c.since(raw_n as usize)),
    });
    log(&format!(
        "reporting: raw consume {raw_n} messages, {}/s",
        raw["per_sec"]
    ));

    log("reporting: starting the service on an empty database (no cache)");
    let uncached = Config::in_process(&nats.url, &pg.url);
    let cpu = CpuSample::now();
    let start = Instant::now();
    let running = app::start(uncached.clone()).await?;
    let started = start.elapsed();
    anyhow::ensure!(
        running.reporting.settle(CATCH_UP).await,
        "the projections did not catch up: {:?}",
        running.reporting.progress().await
    );
    let took = start.elapsed();
    let progress = running.reporting.progress().await;
    let applied: u64 = progress.iter().map(|p| p.1).sum();
    let catch_up = json!({
        "events": applied,
        "seconds": took.as_secs_f64(),
        "start_seconds": started.as_secs_f64(),
        "events_per_sec": per_sec(applied as usize, took),
        "machine_cpu": cpu.map_or(Value::Null, |c| c.since(applied as usize)),
        "streams": progress.iter().map(|(s, last, _)| json!({ "stream": s, "events": last })).collect::<Vec<_>>(),
    });
    log(&format!(
        "reporting: projections applied {applied} events in {:.1} s ({}/s)",
        took.as_secs_f64(),
        catch_up["events_per_sec"]
    ));

    let http = reqwest::Client::builder()
        .http1_only()
        .pool_max_idle_per_host(o.clients)
        .tcp_nodelay(true)
        .build()?;
    let base = format!("http://{}", running.http_addr);
    let endpoints = endpoints(&http, &base, &month).await?;
    log("reporting: each endpoint alone, one client, no cache");
    let alone = sequential(&http, &base, &endpoints).await?;
    log(&format!(
        "reporting: {} clients, no cache, {:?}",
        o.clients, o.duration
    ));
    let api_uncached = api(o, &http, &base, &endpoints).await?;
    log(&format!("reporting: {} clients on /healthz", o.clients));
    let healthz = format!("{base}/healthz");
    let h = http.clone();
    let floor = drive(o.clients, o.duration, &["healthz"], move |_, _| {
        let (http, url) = (h.clone(), healthz.clone());
        async move { (0, load::get(&http, &url).await.is_ok()) }
    })
    .await?;
    running.stop().await;

    let ttl = default_cache()?;
    log(&format!(
        "reporting: restarting on the same database, cache {ttl:?}"
    ));
    let start = Instant::now();
    let running = app::start(Config {
        cache_ttl: ttl,
        ..uncached
    })
    .await?;
    anyhow::ensure!(
        running.reporting.settle(CATCH_UP).await,
        "the restarted service did not settle"
    );
    let restart = start.elapsed();
    let base = format!("http://{}", running.http_addr);
    log(&format!(
        "reporting: {} clients, cache {ttl:?}, {:?}",
        o.clients, o.duration
    ));
    let api_cached = api(o, &http, &base, &endpoints).await?;
    running.stop().await;

    log(&format!(
        "reporting: SELECT 1 from {} tasks through a pool of {POOL}",
        o.clients
    ));
    let select = pg_select(o, pg).await?;

    let ratios = json!({
        "catch_up_vs_raw_consume": ratio(&catch_up["events_per_sec"], &raw["per_sec"]),
        "uncached_vs_healthz": ratio(&api_uncached["per_sec"], &floor["per_sec"]),
        "cached_vs_healthz": ratio(&api_cached["per_sec"], &floor["per_sec"]),
        "cached_vs_uncached": ratio(&api_cached["per_sec"], &api_uncached["per_sec"]),
        "uncached_vs_pg_select": ratio(&api_uncached["per_sec"], &select["per_sec"]),
        "uncached_p50_vs_healthz_p50":
            ratio(&api_uncached["latency_ms"]["p50"], &floor["latency_ms"]["p50"]),
        "cached_p50_vs_healthz_p50":
            ratio(&api_cached["latency_ms"]["p50"], &floor["latency_ms"]["p50"]),
    });
    Ok(json!({
        "workers": o.workers,
        "month": month,
        "events": events,
        "notes": format!(
            "the service, NATS, PostgreSQL and the load generator share this machine's {} cores; \
             API and ceiling loads are closed loop ({} keep-alive HTTP/1.1 clients, each sending \
             its next request when the last answer is read, latency from send) for {} s each",
            std::thread::available_parallelism().map_or(0, |n| n.get()),
            o.clients,
            o.duration.as_secs()
        ),
        "raw_consume": raw,
        "catch_up": catch_up,
        "endpoints_sequential": alone,
        "api_uncached": api_uncached,
        "api_cached": dict_with(api_cached, "cache_secs", json!(ttl.as_secs())),
        "restart_seconds": restart.as_secs_f64(),
        "ceilings": { "healthz": floor, "pg_select_1": dict_with(select, "pool", json!(POOL)) },
        "ratios": ratios,
    }))
}

fn dict_with(mut v: Value, key: &str, x: Value) -> Value {
    v[key] = x;
    v
}
