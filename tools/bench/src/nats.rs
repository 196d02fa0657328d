//! The NATS JetStream ceiling: plain publishes one by one and pipelined, and
//! the event store's group-committed appends, on a durable server
//! (`sync_interval: always`); the event store's pipelined appends on a
//! non-durable one.

use std::time::Instant;

use anyhow::Context;
use async_nats::jetstream;
use bytes::Bytes;
use futures::StreamExt;
use futures::stream::FuturesUnordered;
use pantau_eventstore::{AppendMode, EventStore, Expected, NewEvent, StreamSpec, Upcasters};
use pantau_testkit::NatsServer;
use serde_json::{Value, json};

use crate::util::{CpuSample, log, per_sec};

const PAYLOAD: usize = 512;
const SEQUENTIAL: usize = 2_000;
const PIPELINED: usize = 50_000;
const IN_FLIGHT: usize = 4_096;
const APPENDS: usize = 20_000;

fn payload() -> Bytes {
    Bytes::from(vec![b'x'; PAYLOAD])
}

pub async fn run() -> anyhow::Result<Value> {
    log("nats: starting a durable server (sync_interval: always)");
    let durable = NatsServer::spawn(true).await?;
    let client = durable.client().await?;
    let js = jetstream::new(client.clone());
    pantau_eventstore::ensure_stream(&js, &StreamSpec::for_context("raw")).await?;
    publish_sequential(&js, 100).await?; // warm-up
    log(&format!("nats: {SEQUENTIAL} sequential publishes"));
    let sequential = publish_sequential(&js, SEQUENTIAL).await?;
    log(&format!("nats: {PIPELINED} pipelined publishes"));
    let pipelined = publish_pipelined(&js, PIPELINED).await?;
    log(&format!(
        "nats: {APPENDS} concurrent event store appends, batched"
    ));
    let (batched, batched_cpu) = appends(&client, "bench", AppendMode::default()).await?;
    let (batched_100, _) = appends(
        &client,
        "benchsmall",
        AppendMode::Batched {
            max_batch: 100,
            committers: 2,
        },
    )
    .await?;
    drop(durable);

    log("nats: starting a non-durable server");
    let fast = NatsServer::spawn(false).await?;
    let client = fast.client().await?;
    let js = jetstream::new(client.clone());
    pantau_eventstore::ensure_stream(&js, &StreamSpec::for_context("raw")).await?;
    log(&format!(
        "nats: {PIPELINED} pipelined publishes, non-durable"
    ));
    let fast_pipelined = publish_pipelined(&js, PIPELINED).await?;
    log(&format!(
        "nats: {APPENDS} concurrent event store appends, pipelined, non-durable"
    ));
    let (fast_appends, _) = appends(&client, "bench", AppendMode::Pipelined).await?;
    Ok(json!({
        "payload_bytes": PAYLOAD,
        "durable": {
            "publish_sequential_per_sec": sequential,
            "publish_pipelined_per_sec": pipelined,
            "publish_pipelined_in_flight": IN_FLIGHT,
            "eventstore_batched_per_sec": batched,
            "eventstore_batched_machine_cpu": batched_cpu,
            "eventstore_batched_max100_per_sec": batched_100,
            "eventstore_concurrent_appends": APPENDS,
        },
        "non_durable": {
            "publish_pipelined_per_sec": fast_pipelined,
            "eventstore_pipelined_per_sec": fast_appends,
        },
    }))
}

/// Each publish waits for its ack before the next is sent.
async fn publish_sequential(js: &jetstream::Context, n: usize) -> anyhow::Result<f64> {
    let payload = payload();
    let start = Instant::now();
    for _ in 0..n {
        js.publish("pantau.raw.seq", payload.clone())
            .await?
            .await
            .context("sequential publish")?;
    }
    Ok(per_sec(n, start.elapsed()))
}

/// Up to [`IN_FLIGHT`] publishes awaiting their acks at once.
async fn publish_pipelined(js: &jetstream::Context, n: usize) -> anyhow::Result<f64> {
    let payload = payload();
    let start = Instant::now();
    let mut acks = FuturesUnordered::new();
    type Ack = Result<jetstream::publish::PublishAck, jetstream::context::PublishError>;
    for i in 0..n {
        if acks.len() >= IN_FLIGHT
            && let Some(r) = acks.next().await
        {
            let r: Ack = r;
            r.context("pipelined publish")?;
        }
        let subject = format!("pantau.raw.pipe.{}", i % 64);
        acks.push(js.publish(subject, payload.clone()).await?.into_future());
    }
    while let Some(r) = acks.next().await {
        r.context("pipelined publish")?;
    }
    Ok(per_sec(n, start.elapsed()))
}

/// [`APPENDS`] concurrent creations, each on its own subject: the rate, and
/// how busy the machine (client and server) was doing them.
async fn appends(
    client: &async_nats::Client,
    context: &str,
    mode: AppendMode,
) -> anyhow::Result<(f64, Value)> {
    let store = EventStore::open(
        client.clone(),
        &StreamSpec::for_context(context),
        mode,
        Upcasters::new(),
    )
    .await?;
    let payload = payload();
    let cpu = CpuSample::now();
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..APPENDS {
        let store = store.clone();
        let event = NewEvent {
            subject: format!("pantau.{context}.item.{i}"),
            event_type: "BenchEvent".into(),
            schema_version: 1,
            payload: payload.clone(),
            expected: Expected::NoEvents,
            msg_id: None,
            metadata: Default::default(),
        };
        tasks.spawn(async move { store.append(event).await });
    }
    while let Some(r) = tasks.join_next().await {
        r?.context("event store append")?;
    }
    let rate = per_sec(APPENDS, start.elapsed());
    Ok((rate, cpu.map_or(Value::Null, |c| c.since(APPENDS))))
}
