//! Wiring: database (and its migrations), streams, the in-memory directory
//! and its followers, the read model, the duplicate-work detector and the
//! gRPC server.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use anyhow::Context;
use pantau_eventstore::{AppendMode, EventStore, Follower, StreamSpec, Upcasters};
use pantau_platform::shutdown::Shutdown;
use pantau_projection::{Runner, RunnerOptions};
use pantau_proto::activity::v1::activity_service_server::ActivityServiceServer;
use tokio::net::TcpListener;

use crate::config::Config;
use crate::core::FOLLOWED_SUBJECTS;
use crate::directory::{Directory, apply_activity_payload, apply_identity_payload};
use crate::grpc::{Activity, Api};
use crate::readmodel::ActivityReadModel;

pub const SERVICE_NAME: &str = "pantau.activity.v1.ActivityService";

pub struct Running {
    pub addr: std::net::SocketAddr,
    /// Where `GET /metrics` is served, when it is.
    pub metrics_addr: Option<std::net::SocketAddr>,
    pub activity: Arc<Activity>,
    shutdown: Shutdown,
    server: tokio::task::JoinHandle<()>,
}

impl Running {
    pub async fn stop(self) {
        self.shutdown.trigger();
        let _ = self.server.await;
    }
}

/// How long start-up waits for the directory to catch up with the streams.
const CATCH_UP: Duration = Duration::from_secs(120);

pub async fn start(config: Config) -> anyhow::Result<Running> {
    // One plan per statement and connection, not one per call: supervisors
    // poll their queues and the detector runs small batches, and planning
    // those queries costs more than running them. The detector analyzes the
    // reports table as it grows, which has the plans made again.
    let pool = pantau_platform::db::connect_with(
        &config.database_url,
        &config.database,
        16,
        &[("plan_cache_mode", "force_generic_plan")],
    )
    .await?;
    sqlx::migrate!("./migrations")
        .run(&pool)
        .await
        .context("failed to apply migrations")?;
    let client = pantau_platform::nats::connect(&config.nats)
        .await
        .with_context(|| format!("failed to connect to NATS at {}", config.nats))?;
    let mode = AppendMode::from_batching(config.batching);
    let store = EventStore::open(
        client.clone(),
        &StreamSpec::for_context("activity").replicated(config.stream_replicas),
        mode,
        Upcasters::new(),
    )
    .await?;
    // Read only; opening it makes sure it exists when activity starts first.
    let identity =
        EventStore::open_context_as_reader(&client, "identity", config.stream_replicas).await?;
    let directory = Arc::new(RwLock::new(Directory::default()));
    let shutdown = Shutdown::new();
    let (identity_end, own_end) = (
        identity.last_sequence().await?,
        store.last_sequence().await?,
    );
    let identity_follower = Follower::start(
        identity.jetstream().clone(),
        identity.stream_name(),
        Vec::new(),
        directory.clone(),
        apply_identity_payload,
        shutdown.clone(),
    )
    .await
    .context("failed to follow the identity stream")?;
    let own_follower = Follower::start(
        store.jetstream().clone(),
        store.stream_name(),
        FOLLOWED_SUBJECTS.iter().map(|s| (*s).to_owned()).collect(),
        directory.clone(),
        apply_activity_payload,
        shutdown.clone(),
    )
    .await
    .context("failed to follow the activity stream")?;
    // The own follower sees only catalog subjects, so it waits for the last
    // catalog event, not the stream's end.
    let own_catalog_end = store
        .last_sequence_of(FOLLOWED_SUBJECTS[0])
        .await?
        .min(own_end);
    if !identity_follower.wait_for(identity_end, CATCH_UP).await
        || !own_follower.wait_for(own_catalog_end, CATCH_UP).await
    {
        anyhow::bail!("the directory did not catch up with the event streams within {CATCH_UP:?}");
    }
    tracing::info!(identity_end, own_end, "directory caught up");
    let read = Runner::new(
        ActivityReadModel,
        pool.clone(),
        store.clone(),
        RunnerOptions::default(),
    )
    .spawn(shutdown.clone())
    .await?;
    crate::detector::spawn(store.clone(), pool.clone(), read.clone(), shutdown.clone()).await?;
    let activity = Arc::new(Activity::new(
        store,
        pool,
        read,
        directory,
        identity_follower,
        own_follower,
        config.grace_days,
    ));
    let listener = TcpListener::bind(config.addr)
        .await
        .with_context(|| format!("failed to listen on {}", config.addr))?;
    // Evidence photos are larger than tonic's 4 MiB default allows.
    let routes = tonic::service::Routes::new(
        ActivityServiceServer::new(Api(activity.clone()))
            .max_decoding_message_size(pantau_photos::MAX_MESSAGE_BYTES),
    );
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
        activity,
        shutdown,
        server,
    })
}
