//! Wiring: database, streams, the five projections, identity's token keys,
//! the gRPC server and the HTTP server.

use std::sync::{Arc, RwLock};

use anyhow::Context;
use pantau_eventstore::{EventStore, Follower};
use pantau_platform::shutdown::Shutdown;
use pantau_platform::tokens::TokenChecker;
use pantau_projection::{Runner, RunnerOptions};
use pantau_proto::reporting::v1::reporting_service_server::ReportingServiceServer;
use tokio::net::TcpListener;

use crate::config::Config;
use crate::core::{Feed, Keys, Reporting, apply_identity_payload};
use crate::grpc::Api;
use crate::projections::{activity, attendance, fraud, identity, scoring};
use crate::report::Reports;

pub const SERVICE_NAME: &str = "pantau.reporting.v1.ReportingService";

/// How long start-up waits for identity's signing keys.
const CATCH_UP: std::time::Duration = std::time::Duration::from_secs(120);

pub struct Running {
    pub addr: std::net::SocketAddr,
    /// Where `GET /metrics` is served, when it is.
    pub metrics_addr: Option<std::net::SocketAddr>,
    pub http_addr: std::net::SocketAddr,
    pub reporting: Arc<Reporting>,
    shutdown: Shutdown,
    server: tokio::task::JoinHandle<()>,
    http: tokio::task::JoinHandle<()>,
}

impl Running {
    pub async fn stop(self) {
        self.shutdown.trigger();
        let _ = self.server.await;
        let _ = self.http.await;
    }
}

async fn feed<P: pantau_projection::Projection>(
    projection: P,
    pool: &sqlx::PgPool,
    store: EventStore,
    options: &RunnerOptions,
    shutdown: &Shutdown,
) -> anyhow::Result<Feed> {
    let handle = Runner::new(projection, pool.clone(), store.clone(), options.clone())
        .spawn(shutdown.clone())
        .await?;
    Ok(Feed { store, handle })
}

pub async fn start(config: Config) -> anyhow::Result<Running> {
    let pool = pantau_platform::db::connect(&config.database_url, &config.database, 16).await?;
    let client = pantau_platform::nats::connect(&config.nats)
        .await
        .with_context(|| format!("failed to connect to NATS at {}", config.nats))?;
    // Read only; opening them makes sure they exist when reporting starts first.
    let open = |context: &'static str| {
        EventStore::open_context_as_reader(&client, context, config.stream_replicas)
    };
    let (ids, att, act, sco, fra) = (
        open("identity").await?,
        open("attendance").await?,
        open("activity").await?,
        open("scoring").await?,
        open("fraud").await?,
    );
    let shutdown = Shutdown::new();
    let keys = Arc::new(RwLock::new(Keys::default()));
    let keys_follower = Follower::start(
        ids.jetstream().clone(),
        ids.stream_name(),
        vec!["pantau.identity.signing_key.*".into()],
        keys.clone(),
        apply_identity_payload,
        shutdown.clone(),
    )
    .await
    .context("failed to follow identity's signing keys")?;
    // Leaders' tokens are checked against these keys: have the ones
    // published so far before answering.
    let keys_end = ids
        .last_sequence_of("pantau.identity.signing_key.*")
        .await?;
    if !keys_follower.wait_for(keys_end, CATCH_UP).await {
        anyhow::bail!("identity's signing keys were not read within {CATCH_UP:?}");
    }
    let options = RunnerOptions {
        batch_size: config.batch_size,
        ..RunnerOptions::default()
    };
    let feeds = vec![
        feed(identity::Identity, &pool, ids, &options, &shutdown).await?,
        feed(attendance::Attendance, &pool, att, &options, &shutdown).await?,
        feed(activity::Activity, &pool, act, &options, &shutdown).await?,
        feed(scoring::Scoring, &pool, sco, &options, &shutdown).await?,
        feed(fraud::Fraud, &pool, fra, &options, &shutdown).await?,
    ];
    let reporting = Arc::new(Reporting {
        reports: Reports::new(pool, config.cache_ttl),
        feeds,
        keys,
        tokens: TokenChecker::start(),
        tile_url: config.tile_url.clone(),
        tile_attribution: config.tile_attribution.clone(),
    });
    let listener = TcpListener::bind(config.addr)
        .await
        .with_context(|| format!("failed to listen on {}", config.addr))?;
    let routes = tonic::service::Routes::new(ReportingServiceServer::new(Api(reporting.clone())));
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
    let http_listener = TcpListener::bind(config.http_addr)
        .await
        .with_context(|| format!("failed to listen on {}", config.http_addr))?;
    let http_addr = http_listener.local_addr()?;
    let mut upstreams = config.upstreams.clone();
    upstreams.0.insert(
        "pantau.reporting.v1.ReportingService".to_owned(),
        crate::gateway::own_upstream(addr, &config.tls),
    );
    let gateway = crate::gateway::router(config.app_dir.clone(), upstreams, &config.tls, addr)?;
    let router = crate::http::router(reporting.clone()).merge(gateway).layer(
        axum::middleware::from_fn_with_state(
            crate::limits::Limits::new(config.limits),
            crate::limits::limit,
        ),
    );
    let stop = shutdown.clone();
    let http = tokio::spawn(async move {
        let served = axum::serve(
            http_listener,
            router.into_make_service_with_connect_info::<std::net::SocketAddr>(),
        )
        .with_graceful_shutdown(async move { stop.wait().await })
        .await;
        if let Err(e) = served {
            tracing::error!(error = %e, "HTTP server failed");
        }
    });
    Ok(Running {
        metrics_addr,
        addr,
        http_addr,
        reporting,
        shutdown,
        server,
        http,
    })
}
