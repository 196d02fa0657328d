//! Wiring: database, streams, the followed province, the findings read
//! model and the gRPC server.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use anyhow::Context;
use pantau_eventstore::{AppendMode, EventStore, Follower};
use pantau_platform::shutdown::Shutdown;
use pantau_projection::{Runner, RunnerOptions};
use pantau_proto::fraud::v1::fraud_service_server::FraudServiceServer;
use tokio::net::TcpListener;

use crate::config::Config;
use crate::grpc::{Api, Fraud, Sources};
use crate::readmodel::Findings;
use crate::watch::{Watch, apply_activity, apply_attendance, apply_identity};

pub const SERVICE_NAME: &str = "pantau.fraud.v1.FraudService";

pub struct Running {
    pub addr: std::net::SocketAddr,
    /// Where `GET /metrics` is served, when it is.
    pub metrics_addr: Option<std::net::SocketAddr>,
    pub fraud: Arc<Fraud>,
    shutdown: Shutdown,
    server: tokio::task::JoinHandle<()>,
}

impl Running {
    pub async fn stop(self) {
        self.shutdown.trigger();
        let _ = self.server.await;
    }
}

/// How long start-up waits for the province to catch up with the streams.
const CATCH_UP: Duration = Duration::from_secs(300);

pub async fn start(config: Config) -> anyhow::Result<Running> {
    let pool = pantau_platform::db::connect(&config.database_url, &config.database, 8).await?;
    let client = pantau_platform::nats::connect(&config.nats)
        .await
        .with_context(|| format!("failed to connect to NATS at {}", config.nats))?;
    let store = EventStore::open_context_replicated(
        &client,
        "fraud",
        AppendMode::from_batching(config.batching),
        config.stream_replicas,
    )
    .await?;
    let open = |context: &'static str| {
        EventStore::open_context_as_reader(&client, context, config.stream_replicas)
    };
    let streams = [
        open("identity").await?,
        open("attendance").await?,
        open("activity").await?,
    ];
    let watch = Arc::new(RwLock::new(Watch::default()));
    let shutdown = Shutdown::new();
    let applies: [fn(&mut Watch, u64, &[u8]); 3] =
        [apply_identity, apply_attendance, apply_activity];
    let mut followers = Vec::new();
    for (store, apply) in streams.iter().zip(applies) {
        let end = store.last_sequence().await?;
        let follower = Follower::start_sequenced(
            store.jetstream().clone(),
            store.stream_name(),
            Vec::new(),
            watch.clone(),
            apply,
            shutdown.clone(),
        )
        .await
        .with_context(|| format!("failed to follow {}", store.stream_name()))?;
        if !follower.wait_for(end, CATCH_UP).await {
            anyhow::bail!(
                "did not catch up with {} within {CATCH_UP:?}",
                store.stream_name()
            );
        }
        followers.push(follower);
    }
    let followers: [Follower; 3] = followers
        .try_into()
        .map_err(|_| anyhow::anyhow!("three followers"))?;
    let read = Runner::new(
        Findings,
        pool.clone(),
        store.clone(),
        RunnerOptions::default(),
    )
    .spawn(shutdown.clone())
    .await?;
    let fraud = Arc::new(Fraud::new(
        store,
        pool,
        read,
        watch,
        Sources { streams, followers },
    ));
    // On a simulated clock "now" belongs to each request: a sweep on wall
    // time would judge a month the simulator is still writing.
    if config.dev_clock && config.sweep_secs > 0 {
        tracing::info!("dev clock: the detector sweep is off; call RunDetectors");
    }
    if config.sweep_secs > 0 && !config.dev_clock {
        crate::grpc::spawn_sweep(
            fraud.clone(),
            Duration::from_secs(config.sweep_secs),
            shutdown.clone(),
        );
    }
    let listener = TcpListener::bind(config.addr)
        .await
        .with_context(|| format!("failed to listen on {}", config.addr))?;
    let routes = tonic::service::Routes::new(FraudServiceServer::new(Api(fraud.clone())));
    let metrics_addr =
        pantau_platform::metrics::serve_if(config.metrics_addr, shutdown.clone()).await?;
    let (addr, server) = pantau_platform::grpc::spawn_server(
        listener,
        SERVICE_NAME,
        routes,
        config.dev_clock,
        &config.tls,
        shutdown.clone(),
    )
    .await?;
    Ok(Running {
        metrics_addr,
        addr,
        fraud,
        shutdown,
        server,
    })
}
