//! `make bench`: throughput and latency of the services beside the raw NATS
//! JetStream and PostgreSQL ceilings, all measured in one run on throwaway
//! servers. Prints one JSON document on stdout; progress goes to stderr.
//! `PANTAU_BENCH_WORKERS` sets identity's import size (default 100,000),
//! `PANTAU_BENCH_CHECKINS` attendance's check-ins (default 100,000),
//! `PANTAU_BENCH_REPORTS` activity's reports (default 50,000),
//! `PANTAU_BENCH_SCORING_WORKERS` the province scoring rebuilds (default
//! 100,000 workers, about 5 million events) and
//! `PANTAU_BENCH_SCORING_CLOSE_WORKERS` the one it closes (default 10,000),
//! and `PANTAU_BENCH_FRAUD_WORKERS` the generated province whose month the
//! fraud detectors run through (default 100,000 workers).
//! `PANTAU_BENCH_REPORTING_WORKERS` sets the province the reporting
//! projections catch up on (default 20,000 workers), and
//! `PANTAU_BENCH_REPORTING_CLIENTS` / `PANTAU_BENCH_REPORTING_SECS` its
//! public API load (default 200 clients for 20 s per run).
//! `PANTAU_BENCH_ONLY` runs only the listed parts beside the raw ceilings,
//! comma-separated: `identity`, `attendance`, `activity`, `scoring`, `fraud`,
//! `reporting`.

mod activity;
mod attendance;
mod data;
mod fraud;
mod identity;
mod load;
mod nats;
mod postgres;
mod reporting;
mod scoring;
mod util;

/// glibc's allocator spends a fifth of the check-in path's CPU in malloc
/// and free under many threads; mimalloc does not (the services use it too).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let doc = run().await?;
    println!("{}", serde_json::to_string_pretty(&doc)?);
    Ok(())
}

const PARTS: [&str; 6] = [
    "identity",
    "attendance",
    "activity",
    "scoring",
    "fraud",
    "reporting",
];

/// A positive count from the environment, or `default`.
fn count(var: &str, default: usize) -> anyhow::Result<usize> {
    match std::env::var(var) {
        Ok(v) => v.parse().map_err(|e| anyhow::anyhow!("{var}={v:?}: {e}")),
        Err(_) => Ok(default),
    }
}

/// The parts `PANTAU_BENCH_ONLY` selects (all when unset or empty).
fn selected() -> anyhow::Result<Vec<&'static str>> {
    let only = std::env::var("PANTAU_BENCH_ONLY").unwrap_or_default();
    let mut out = Vec::new();
    for part in only.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let Some(known) = PARTS.iter().find(|p| p.eq_ignore_ascii_case(part)) else {
            anyhow::bail!("PANTAU_BENCH_ONLY: unknown part {part:?} (one of {PARTS:?})");
        };
        out.push(*known);
    }
    Ok(if out.is_empty() { PARTS.to_vec() } else { out })
}

async fn run() -> anyhow::Result<serde_json::Value> {
    let parts = selected()?;
    let wants = |part: &str| parts.contains(&part);
    let workers = count("PANTAU_BENCH_WORKERS", 100_000)?;
    let checkins = count("PANTAU_BENCH_CHECKINS", 100_000)?;
    let reports = count("PANTAU_BENCH_REPORTS", 50_000)?;
    let scoring_workers = count("PANTAU_BENCH_SCORING_WORKERS", 100_000)?;
    let close_workers = count("PANTAU_BENCH_SCORING_CLOSE_WORKERS", 10_000)?;
    let fraud_workers = count("PANTAU_BENCH_FRAUD_WORKERS", 100_000)?;
    let report = reporting::Options {
        workers: count("PANTAU_BENCH_REPORTING_WORKERS", 20_000)?,
        clients: count("PANTAU_BENCH_REPORTING_CLIENTS", 200)?,
        duration: std::time::Duration::from_secs(count("PANTAU_BENCH_REPORTING_SECS", 20)? as u64),
    };
    let raw_nats = nats::run().await?;
    let pg = pantau_testkit::PgServer::start().await?;
    let raw_postgres = postgres::run(&pg).await?;
    let mut attendance = serde_json::Value::Null;
    if wants("attendance") {
        attendance = attendance::run(&pg, checkins).await?;
        attendance["ratios"] = util::attendance_ratios(&raw_nats, &attendance);
    }
    let mut activity = serde_json::Value::Null;
    if wants("activity") {
        activity = activity::run(&pg, reports).await?;
        activity["ratios"] = util::activity_ratios(&raw_nats, &activity);
    }
    let mut scoring = serde_json::Value::Null;
    if wants("scoring") {
        scoring = scoring::run(&pg, scoring_workers, close_workers).await?;
    }
    let mut fraud = serde_json::Value::Null;
    if wants("fraud") {
        fraud = fraud::run(&pg, fraud_workers).await?;
        fraud["ratios"] = util::fraud_ratios(&raw_nats, &fraud);
    }
    let mut reporting = serde_json::Value::Null;
    if wants("reporting") {
        reporting = reporting::run(&pg, &report).await?;
    }
    let mut identity = serde_json::Value::Null;
    if wants("identity") {
        identity = identity::run(&pg, workers).await?;
        identity["ratios"] = util::ratios(&raw_nats, &raw_postgres, &identity);
    }
    Ok(serde_json::json!({
        "workers": workers,
        "cpus": std::thread::available_parallelism().map_or(0, |n| n.get()),
        "raw_nats": raw_nats,
        "raw_postgres": raw_postgres,
        "identity": identity,
        "attendance": attendance,
        "activity": activity,
        "scoring": scoring,
        "fraud": fraud,
        "reporting": reporting,
    }))
}
