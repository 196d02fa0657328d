//! Wiring: database, streams, the in-memory directory, the four
//! projections, the adjustment outbox and the gRPC server.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use anyhow::Context;
use pantau_eventstore::{AppendMode, EventStore, Follower};
use pantau_platform::shutdown::Shutdown;
use pantau_projection::{Runner, RunnerOptions};
use pantau_proto::scoring::v1::scoring_service_server::ScoringServiceServer;
use tokio::net::TcpListener;

use crate::config::Config;
use crate::directory::{Directory, apply_identity_payload};
use crate::grpc::{Api, Projections, Scoring, Streams};
use crate::readmodel::facts::Facts;
use crate::readmodel::own::OwnModel;
use crate::sources::Source;

pub const SERVICE_NAME: &str = "pantau.scoring.v1.ScoringService";

pub struct Running {
    pub addr: std::net::SocketAddr,
    /// Where `GET /metrics` is served, when it is.
    pub metrics_addr: Option<std::net::SocketAddr>,
    pub scoring: Arc<Scoring>,
    shutdown: Shutdown,
    server: tokio::task::JoinHandle<()>,
}

impl Running {
    pub async fn stop(self) {
        self.shutdown.trigger();
        let _ = self.server.await;
    }
}

/// How long start-up waits for the directory to catch up with identity.
const CATCH_UP: Duration = Duration::from_secs(120);

pub async fn start(config: Config) -> anyhow::Result<Running> {
    let pool = pantau_platform::db::connect(&config.database_url, &config.database, 16).await?;
    crate::readmodel::prepare(&pool)
        .await
        .context("failed to create the scoring schema")?;
    let client = pantau_platform::nats::connect(&config.nats)
        .await
        .with_context(|| format!("failed to connect to NATS at {}", config.nats))?;
    let store = EventStore::open_context_replicated(
        &client,
        "scoring",
        AppendMode::from_batching(config.batching),
        config.stream_replicas,
    )
    .await?;
    let open = |context: &'static str| {
        EventStore::open_context_as_reader(&client, context, config.stream_replicas)
    };
    // Read only; opening them makes sure they exist when scoring starts first.
    let streams = Streams {
        identity: open("identity").await?,
        attendance: open("attendance").await?,
        activity: open("activity").await?,
    };
    let directory = Arc::new(RwLock::new(Directory::default()));
    let shutdown = Shutdown::new();
    let identity_end = streams.identity.last_sequence().await?;
    let identity_follower = Follower::start(
        streams.identity.jetstream().clone(),
        streams.identity.stream_name(),
        Vec::new(),
        directory.clone(),
        apply_identity_payload,
        shutdown.clone(),
    )
    .await
    .context("failed to follow the identity stream")?;
    if !identity_follower.wait_for(identity_end, CATCH_UP).await {
        anyhow::bail!(
            "the directory did not catch up with the identity stream within {CATCH_UP:?}"
        );
    }
    let options = RunnerOptions {
        batch_size: config.batch_size,
        ..RunnerOptions::default()
    };
    // The own projection first: the fact projections read the rule sets
    // and closed months it keeps.
    let clock = crate::readmodel::Clock::default();
    let own = Runner::new(
        OwnModel {
            clock: clock.clone(),
        },
        pool.clone(),
        store.clone(),
        options.clone(),
    )
    .spawn(shutdown.clone())
    .await?;
    let read = Projections {
        identity: Runner::new(
            Facts::new(Source::Identity, clock.clone()),
            pool.clone(),
            streams.identity.clone(),
            options.clone(),
        )
        .spawn(shutdown.clone())
        .await?,
        attendance: Runner::new(
            Facts::new(Source::Attendance, clock.clone()),
            pool.clone(),
            streams.attendance.clone(),
            options.clone(),
        )
        .spawn(shutdown.clone())
        .await?,
        activity: Runner::new(
            Facts::new(Source::Activity, clock.clone()),
            pool.clone(),
            streams.activity.clone(),
            options,
        )
        .spawn(shutdown.clone())
        .await?,
        own,
    };
    crate::outbox::spawn(store.clone(), pool.clone(), shutdown.clone());
    let scoring = Arc::new(Scoring::new(
        store,
        streams,
        pool,
        read,
        directory,
        identity_follower,
        clock,
    ));
    let listener = TcpListener::bind(config.addr)
        .await
        .with_context(|| format!("failed to listen on {}", config.addr))?;
    let routes = tonic::service::Routes::new(ScoringServiceServer::new(Api(scoring.clone())));
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
        scoring,
        shutdown,
        server,
    })
}
