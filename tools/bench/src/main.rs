//! `make bench`: throughput and latency of the identity service beside the
//! raw NATS JetStream and PostgreSQL ceilings, all measured in one run on
//! throwaway servers. Prints one JSON document on stdout; progress goes to
//! stderr. `PANTAU_BENCH_WORKERS` sets the import size (default 100,000).

mod attendance;
mod data;
mod identity;
mod nats;
mod postgres;
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

async fn run() -> anyhow::Result<serde_json::Value> {
    let workers: usize = match std::env::var("PANTAU_BENCH_WORKERS") {
        Ok(v) => v
            .parse()
            .map_err(|e| anyhow::anyhow!("PANTAU_BENCH_WORKERS={v:?}: {e}"))?,
        Err(_) => 100_000,
    };
    let raw_nats = nats::run().await?;
    let pg = pantau_testkit::PgServer::spawn().await?;
    let raw_postgres = postgres::run(&pg).await?;
    let checkins: usize = match std::env::var("PANTAU_BENCH_CHECKINS") {
        Ok(v) => v
            .parse()
            .map_err(|e| anyhow::anyhow!("PANTAU_BENCH_CHECKINS={v:?}: {e}"))?,
        Err(_) => 100_000,
    };
    let mut attendance = attendance::run(&pg, checkins).await?;
    attendance["ratios"] = util::attendance_ratios(&raw_nats, &attendance);
    let mut identity = if std::env::var("PANTAU_BENCH_ONLY").as_deref() == Ok("attendance") {
        serde_json::Value::Null
    } else {
        identity::run(&pg, workers).await?
    };
    if !identity.is_null() {
        identity["ratios"] = util::ratios(&raw_nats, &raw_postgres, &identity);
    }
    Ok(serde_json::json!({
        "workers": workers,
        "cpus": std::thread::available_parallelism().map_or(0, |n| n.get()),
        "raw_nats": raw_nats,
        "raw_postgres": raw_postgres,
        "identity": identity,
        "attendance": attendance,
    }))
}
