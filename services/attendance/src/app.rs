//! Wiring: database, secrets, streams, the in-memory directory and its
//! followers, the read model, and the gRPC server (with health and
//! reflection).

use std::sync::{Arc, RwLock};
use std::time::Duration;

use anyhow::Context;
use pantau_eventstore::{
    AppendMode, EventStore, Expected, Follower, NewEvent, StreamSpec, Upcasters,
};
use pantau_platform::shutdown::Shutdown;
use pantau_projection::{Runner, RunnerOptions};
use pantau_proto::attendance::v1::attendance_service_server::AttendanceServiceServer;
use pantau_proto::events::v1::{self as ev, attendance_event::Event};
use pantau_qr::StaticSigner;
use sqlx::PgPool;
use tokio::net::TcpListener;
use tonic::server::NamedService;
use tonic::service::Routes;

use crate::config::Config;
use crate::core::{FOLLOWED_SUBJECTS, encode, qr_key_subject};
use crate::directory::{Directory, apply_attendance_payload, apply_identity_payload};
use crate::domain::presence::Limits;
use crate::grpc::{Api, Attendance};
use crate::readmodel::AttendanceReadModel;

pub struct Running {
    pub addr: std::net::SocketAddr,
    /// Where `GET /metrics` is served, when it is.
    pub metrics_addr: Option<std::net::SocketAddr>,
    pub attendance: Arc<Attendance>,
    shutdown: Shutdown,
    server: tokio::task::JoinHandle<()>,
}

impl Running {
    pub async fn stop(self) {
        self.shutdown.trigger();
        let _ = self.server.await;
    }
}

/// A 32-byte secret generated on first start and kept in the database, so
/// every replica shares it.
async fn secret(pool: &PgPool, name: &str) -> anyhow::Result<[u8; 32]> {
    let mut fresh = [0u8; 32];
    getrandom::fill(&mut fresh).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
    sqlx::query("INSERT INTO secrets (name, value) VALUES ($1, $2) ON CONFLICT DO NOTHING")
        .bind(name)
        .bind(fresh.as_slice())
        .execute(pool)
        .await
        .with_context(|| format!("failed to store secret {name}"))?;
    let stored: Vec<u8> = sqlx::query_scalar("SELECT value FROM secrets WHERE name = $1")
        .bind(name)
        .fetch_one(pool)
        .await
        .with_context(|| format!("failed to read secret {name}"))?;
    <[u8; 32]>::try_from(stored).map_err(|_| anyhow::anyhow!("secret {name} is not 32 bytes"))
}

/// How long start-up waits for the directory to catch up with the streams.
const CATCH_UP: Duration = Duration::from_secs(120);

pub async fn start(config: Config) -> anyhow::Result<Running> {
    let pool = pantau_platform::db::connect(&config.database_url, &config.database, 16).await?;
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
        &StreamSpec::for_context("attendance").replicated(config.stream_replicas),
        mode,
        Upcasters::new(),
    )
    .await?;
    // The identity stream is read only (identity configures it); opening it
    // makes sure it exists when attendance starts first.
    let identity =
        EventStore::open_context_as_reader(&client, "identity", config.stream_replicas).await?;
    let signer = StaticSigner::from_secret_bytes(secret(&pool, "qr_signing_key").await?);
    let master = secret(&pool, "rotating_master").await?;
    let published = Event::QrKeyPublished(ev::QrKeyPublished {
        key_id: signer.key_id(),
        public_key: signer.public_key_bytes().to_vec(),
    });
    // Announced on every start: the event's sequence is also the barrier the
    // directory must reach before serving (everything before it applied).
    let announced = store
        .append(NewEvent {
            subject: qr_key_subject(&signer.key_id()),
            event_type: "QrKeyPublished".into(),
            schema_version: 1,
            payload: encode(&published),
            expected: Expected::Any,
            msg_id: Some(format!(
                "qr-key:{}:{}",
                signer.key_id(),
                uuid::Uuid::new_v4()
            )),
            metadata: Default::default(),
        })
        .await
        .context("failed to publish the QR key")?;
    let directory = Arc::new(RwLock::new(Directory {
        master_secret: master.to_vec(),
        ..Default::default()
    }));
    let shutdown = Shutdown::new();
    let identity_end = identity.last_sequence().await?;
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
        apply_attendance_payload,
        shutdown.clone(),
    )
    .await
    .context("failed to follow the attendance stream")?;
    let caught_up = identity_follower.wait_for(identity_end, CATCH_UP).await;
    let own_caught_up = own_follower.wait_for(announced.sequence, CATCH_UP).await;
    if !caught_up || !own_caught_up {
        anyhow::bail!("the directory did not catch up with the event streams within {CATCH_UP:?}");
    }
    tracing::info!(
        identity_end,
        own = announced.sequence,
        "directory caught up"
    );
    let read = Runner::new(
        AttendanceReadModel,
        pool.clone(),
        store.clone(),
        RunnerOptions {
            partitions: config.partitions,
            ..RunnerOptions::default()
        },
    )
    .spawn(shutdown.clone())
    .await?;
    let attendance = Arc::new(Attendance::new(
        store,
        pool,
        client,
        read,
        directory,
        identity_follower,
        own_follower,
        signer,
        Limits {
            max_accuracy_m: config.max_accuracy_m,
            max_clock_skew_secs: config.max_clock_skew_secs,
        },
        config.qr_tolerance_steps,
    ));
    let listener = TcpListener::bind(config.addr)
        .await
        .with_context(|| format!("failed to listen on {}", config.addr))?;
    let routes = Routes::new(AttendanceServiceServer::new(Api(attendance.clone())));
    let metrics_addr =
        pantau_platform::metrics::serve_if(config.metrics_addr, shutdown.clone()).await?;
    let (addr, server) = pantau_platform::grpc::spawn_server(
        listener,
        AttendanceServiceServer::<Api>::NAME,
        routes,
        config.dev_clock,
        &config.tls,
        shutdown.clone(),
    )
    .await?;
    Ok(Running {
        metrics_addr,
        addr,
        attendance,
        shutdown,
        server,
    })
}
