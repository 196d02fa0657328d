//! `make bench`: throughput and latency of the identity service beside the
//! raw NATS JetStream and PostgreSQL ceilings, all measured in one run on
//! throwaway servers. Prints one JSON document on stdout; progress goes to
//! stderr. `PANTAU_BENCH_WORKERS` sets the import size (default 100,000).

mod data;
mod identity;
mod nats;
mod postgres;
mod util;

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
    let mut identity = identity::run(&pg, workers).await?;
    identity["ratios"] = util::ratios(&raw_nats, &raw_postgres, &identity);
    Ok(serde_json::json!({
        "workers": workers,
        "cpus": std::thread::available_parallelism().map_or(0, |n| n.get()),
        "raw_nats": raw_nats,
        "raw_postgres": raw_postgres,
        "identity": identity,
    }))
}
