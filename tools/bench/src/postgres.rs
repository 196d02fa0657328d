//! The PostgreSQL ceiling: single-row INSERTs, one after another and from 16
//! connections at once, on the same throwaway server the service uses
//! (which testkit starts with fsync=off and synchronous_commit=off).

use std::time::Instant;

use anyhow::Context;
use pantau_testkit::PgServer;
use serde_json::{Value, json};
use sqlx::postgres::PgPoolOptions;
use sqlx::{Connection, PgConnection};

use crate::util::{log, per_sec};

const SEQUENTIAL: usize = 5_000;
const CONNECTIONS: usize = 16;
const PER_CONNECTION: usize = 2_000;
const INSERT: &str = "INSERT INTO bench_events (subject, payload) VALUES ($1, $2)";

pub async fn run(pg: &PgServer) -> anyhow::Result<Value> {
    let db = pg.database("bench").await?;
    let mut conn = PgConnection::connect(&db.url)
        .await
        .context("failed to connect to the bench database")?;
    sqlx::query(
        "CREATE TABLE bench_events (id bigserial PRIMARY KEY, subject text NOT NULL,
         payload bytea NOT NULL, created_at timestamptz NOT NULL DEFAULT now())",
    )
    .execute(&mut conn)
    .await?;
    let payload = vec![7u8; 512];

    log(&format!("postgres: {SEQUENTIAL} sequential inserts"));
    let start = Instant::now();
    for i in 0..SEQUENTIAL {
        sqlx::query(INSERT)
            .bind(format!("seq.{i}"))
            .bind(&payload)
            .execute(&mut conn)
            .await?;
    }
    let sequential = per_sec(SEQUENTIAL, start.elapsed());

    log(&format!(
        "postgres: {} inserts from {CONNECTIONS} connections",
        CONNECTIONS * PER_CONNECTION
    ));
    let pool = PgPoolOptions::new()
        .max_connections(CONNECTIONS as u32)
        .min_connections(CONNECTIONS as u32)
        .connect(&db.url)
        .await?;
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for c in 0..CONNECTIONS {
        let pool = pool.clone();
        let payload = payload.clone();
        tasks.spawn(async move {
            let mut conn = pool.acquire().await?;
            for i in 0..PER_CONNECTION {
                sqlx::query(INSERT)
                    .bind(format!("par.{c}.{i}"))
                    .bind(&payload)
                    .execute(&mut *conn)
                    .await?;
            }
            anyhow::Ok(())
        });
    }
    while let Some(r) = tasks.join_next().await {
        r??;
    }
    let concurrent = per_sec(CONNECTIONS * PER_CONNECTION, start.elapsed());
    pool.close().await;
    Ok(json!({
        "server_fsync": false,
        "payload_bytes": payload.len(),
        "insert_sequential_per_sec": sequential,
        "insert_concurrent_16_per_sec": concurrent,
    }))
}
