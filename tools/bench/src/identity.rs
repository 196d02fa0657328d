//! The identity service end to end over gRPC: a legacy payroll import
//! through the ImportWorkers stream, and single RegisterWorker latency.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, ensure};
use futures::StreamExt;
use pantau_proto::identity::v1::identity_service_client::IdentityServiceClient;
use pantau_proto::identity::v1::{CreateAgencyRequest, ImportWorkersRequest, LoginRequest};
use pantau_testkit::{NatsServer, PgServer};
use serde_json::{Value, json};
use sqlx::Connection;
use tonic::Request;
use tonic::transport::Channel;

use crate::data;
use crate::util::{latency_ms, log, per_sec};

const PASSWORD: &str = "admin-password";
const AGENCY: &str = "BENCH";
const ROWS_PER_MESSAGE: usize = 500;
const REGISTER_CALLS: u64 = 300;
/// Registrations use indexes far above the imported ones.
const REGISTER_BASE: u64 = 50_000_000;

fn authed<T>(token: &str, msg: T) -> anyhow::Result<Request<T>> {
    let mut req = Request::new(msg);
    req.metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse()?);
    Ok(req)
}

pub async fn run(pg: &PgServer, workers: usize) -> anyhow::Result<Value> {
    log("identity: starting a durable NATS server and the identity service");
    let nats = NatsServer::spawn(true).await?;
    let config = pantau_identity::config::Config::in_process(&nats.url, &pg.url, PASSWORD);
    let database = config.database.clone();
    let running = pantau_identity::app::start(config).await?;
    let mut client = IdentityServiceClient::connect(format!("http://{}", running.addr))
        .await?
        .max_decoding_message_size(256 * 1024 * 1024);
    let token = client
        .login(LoginRequest {
            login_id: "admin".into(),
            password: PASSWORD.into(),
        })
        .await?
        .into_inner()
        .access_token;
    let agency_id = client
        .create_agency(authed(
            &token,
            CreateAgencyRequest {
                request_id: "bench-agency".into(),
                code: AGENCY.into(),
                name: "Badan Bench".into(),
                time_zone: "Asia/Jakarta".into(),
            },
        )?)
        .await?
        .into_inner()
        .agency_id;

    let mut import = import(&mut client, &token, workers).await?;
    let db = pantau_platform::db::ensure_database(&pg.url, &database).await?;
    import["read_model_seconds"] = read_model_caught_up(&db, workers).await?;
    let register = register(&mut client, &token, &agency_id).await?;
    running.stop().await;
    Ok(json!({
        "import_workers_per_sec": import["rows_per_sec"],
        "import": import,
        "register_latency_ms": register,
    }))
}

async fn import(
    client: &mut IdentityServiceClient<Channel>,
    token: &str,
    workers: usize,
) -> anyhow::Result<Value> {
    let rows: Vec<_> = (0..workers as u64)
        .map(|i| data::import_row(i, AGENCY))
        .collect();
    let mut messages = Vec::new();
    for (i, chunk) in rows.chunks(ROWS_PER_MESSAGE).enumerate() {
        messages.push(ImportWorkersRequest {
            request_id: if i == 0 {
                "bench-import".into()
            } else {
                String::new()
            },
            rows: chunk.to_vec(),
        });
    }
    drop(rows);
    log(&format!("identity: importing {workers} workers"));
    let sent = Arc::new(AtomicUsize::new(0));
    let counter = sent.clone();
    let step = (workers / 10).max(ROWS_PER_MESSAGE);
    let start = Instant::now();
    let stream = futures::stream::iter(messages).inspect(move |m| {
        let before = counter.fetch_add(m.rows.len(), Ordering::Relaxed);
        if (before + m.rows.len()) / step > before / step {
            let at = before + m.rows.len();
            let secs = start.elapsed().as_secs_f64();
            log(&format!(
                "identity: {at} rows handed to the stream after {secs:.1} s"
            ));
        }
    });
    let response = client
        .import_workers(authed(token, stream)?)
        .await
        .context("ImportWorkers")?
        .into_inner();
    let took = start.elapsed();
    for r in response.rejected.iter().take(5) {
        log(&format!(
            "identity: rejected line {}: {}: {}",
            r.line, r.field, r.reason
        ));
    }
    ensure!(
        response.imported as usize == workers,
        "imported {} of {workers} workers ({} rejected)",
        response.imported,
        response.rejected.len()
    );
    log(&format!(
        "identity: imported {workers} workers in {:.1} s",
        took.as_secs_f64()
    ));
    Ok(json!({
        "rows": workers,
        "seconds": (took.as_secs_f64() * 100.0).round() / 100.0,
        "rows_per_sec": per_sec(workers, took),
        "imported": response.imported,
        "flagged": response.flagged,
        "rejected": response.rejected.len(),
        "rows_per_message": ROWS_PER_MESSAGE,
    }))
}

/// Seconds after the import call returned until the read model lists every
/// imported worker (the import itself waits at most 10 s for it).
async fn read_model_caught_up(db_url: &str, workers: usize) -> anyhow::Result<Value> {
    let start = Instant::now();
    let mut conn = sqlx::PgConnection::connect(db_url).await?;
    loop {
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM identity_read.workers")
            .fetch_one(&mut conn)
            .await?;
        if n as usize >= workers {
            return Ok(json!(
                (start.elapsed().as_secs_f64() * 100.0).round() / 100.0
            ));
        }
        if start.elapsed() > Duration::from_secs(600) {
            log(&format!(
                "identity: the read model shows only {n} workers after 600 s"
            ));
            return Ok(Value::Null);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn register(
    client: &mut IdentityServiceClient<Channel>,
    token: &str,
    agency_id: &str,
) -> anyhow::Result<Value> {
    log(&format!(
        "identity: {REGISTER_CALLS} sequential RegisterWorker calls"
    ));
    let mut hist = hdrhistogram::Histogram::<u64>::new(3)?;
    for i in 0..REGISTER_CALLS {
        let req = authed(token, data::register(REGISTER_BASE + i, agency_id))?;
        let start = Instant::now();
        client
            .register_worker(req)
            .await
            .with_context(|| format!("RegisterWorker #{i}"))?;
        hist.record(start.elapsed().as_micros() as u64)?;
    }
    Ok(latency_ms(&hist))
}
