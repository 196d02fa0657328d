//! Wiring: database, migrations, stream, signing key, read model, bootstrap
//! admin and the gRPC server (with health and reflection).

use std::sync::Arc;

use anyhow::Context;
use pantau_authn::{Issuer, SigningKeyPair, Verifier};
use pantau_eventstore::{AppendMode, EventStore, Expected, NewEvent, StreamSpec, Upcasters};
use pantau_platform::shutdown::Shutdown;
use pantau_projection::{Runner, RunnerOptions};
use pantau_proto::events::v1::{self as ev, identity_event::Event};
use pantau_proto::identity::v1::identity_service_server::IdentityServiceServer;
use sqlx::PgPool;
use tokio::net::TcpListener;
use tonic::server::NamedService;
use tonic::service::Routes;

use crate::config::Config;
use crate::core::{encode, signing_key_subject};
use crate::crypto::Fingerprinter;
use crate::domain::Role;
use crate::grpc::Identity;
use crate::readmodel::IdentityReadModel;

pub struct Running {
    pub addr: std::net::SocketAddr,
    /// Where `GET /metrics` is served, when it is.
    pub metrics_addr: Option<std::net::SocketAddr>,
    pub identity: Arc<Identity>,
    shutdown: Shutdown,
    server: tokio::task::JoinHandle<()>,
}

impl Running {
    pub async fn stop(self) {
        self.shutdown.trigger();
        let _ = self.server.await;
    }
}

async fn signing_key(pool: &PgPool, store: &EventStore) -> anyhow::Result<SigningKeyPair> {
    let existing: Option<Vec<u8>> =
        sqlx::query_scalar("SELECT secret FROM signing_keys ORDER BY created_at LIMIT 1")
            .fetch_optional(pool)
            .await?;
    let key = match existing.and_then(|s| <[u8; 32]>::try_from(s).ok()) {
        Some(secret) => SigningKeyPair::from_secret_bytes(secret),
        None => {
            let fresh = SigningKeyPair::generate().map_err(|e| anyhow::anyhow!("{e}"))?;
            sqlx::query(
                "INSERT INTO signing_keys (key_id, secret) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            )
            .bind(fresh.key_id())
            .bind(fresh.secret_bytes().as_slice())
            .execute(pool)
            .await?;
            fresh
        }
    };
    let event = Event::SigningKeyPublished(ev::SigningKeyPublished {
        key_id: key.key_id(),
        public_key: key.public_key_bytes().to_vec(),
    });
    store
        .append(NewEvent {
            subject: signing_key_subject(&key.key_id()),
            event_type: "SigningKeyPublished".into(),
            schema_version: 1,
            payload: encode(&event),
            expected: Expected::Any,
            msg_id: Some(format!("signing-key:{}", key.key_id())),
            metadata: Default::default(),
        })
        .await
        .context("failed to publish the signing key")?;
    Ok(key)
}

pub async fn start(config: Config) -> anyhow::Result<Running> {
    let pool = pantau_platform::db::connect(&config.database_url, &config.database, 32).await?;
    sqlx::migrate!("./migrations")
        .run(&pool)
        .await
        .context("failed to apply migrations")?;
    let client = pantau_platform::nats::connect(&config.nats)
        .await
        .with_context(|| format!("failed to connect to NATS at {}", config.nats))?;
    let mode = AppendMode::from_batching(config.batching);
    let store = EventStore::open(
        client,
        &StreamSpec::for_context("identity").replicated(config.stream_replicas),
        mode,
        Upcasters::new(),
    )
    .await?;
    let key = signing_key(&pool, &store).await?;
    let mut verifier = Verifier::new();
    verifier.add_key(key.key_id(), key.public_key_bytes())?;
    let shutdown = Shutdown::new();
    let read = Runner::new(
        IdentityReadModel,
        pool.clone(),
        store.clone(),
        RunnerOptions::default(),
    )
    .spawn(shutdown.clone())
    .await?;
    let identity = Arc::new(Identity {
        store,
        pool,
        read,
        fingerprints: Fingerprinter::new(config.fingerprint_secret.as_bytes()),
        issuer: Issuer::new(key),
        verifier,
        token_ttl_secs: config.token_ttl_secs,
        clock: Arc::new(chrono::Utc::now),
        devices: Default::default(),
        login_failures: pantau_platform::ratelimit::KeyedLimiter::new(
            config.login_max_failures,
            std::time::Duration::from_secs(config.login_lock_secs),
        ),
    });
    crate::devices::follow(
        identity.store.jetstream().clone(),
        identity.devices.clone(),
        shutdown.clone(),
    );
    if let Some((login, password)) = &config.admin {
        let account_id = crate::grpc::derived_id("bootstrap-admin", login);
        let admin = crate::grpc::NewAccount {
            account_id: &account_id,
            login_id: login,
            password,
            roles: &[Role::ProvinceAdmin],
            agency: None,
            worker: None,
            request_id: "bootstrap",
        };
        crate::grpc::insert_account(&identity, admin)
            .await
            .map_err(|e| anyhow::anyhow!("failed to create the first province admin: {e}"))?;
    }
    // On a simulated clock "now" belongs to each request: a sweep on wall
    // time would close a simulated campaign before its workers reverify.
    if config.dev_clock && config.campaign_sweep_secs > 0 {
        tracing::info!("dev clock: the campaign deadline sweep is off; call CloseCampaign");
    }
    if config.campaign_sweep_secs > 0 && !config.dev_clock {
        tokio::spawn(sweep_campaigns(
            identity.clone(),
            std::time::Duration::from_secs(config.campaign_sweep_secs),
            shutdown.clone(),
        ));
    }
    let listener = TcpListener::bind(config.addr)
        .await
        .with_context(|| format!("failed to listen on {}", config.addr))?;
    // Portraits are larger than tonic's 4 MiB default allows.
    let routes = Routes::new(
        IdentityServiceServer::from_arc(identity.clone())
            .max_decoding_message_size(pantau_photos::MAX_MESSAGE_BYTES),
    );
    let metrics_addr =
        pantau_platform::metrics::serve_if(config.metrics_addr, shutdown.clone()).await?;
    let (addr, server) = pantau_platform::grpc::spawn_server(
        listener,
        IdentityServiceServer::<Arc<Identity>>::NAME,
        routes,
        config.dev_clock,
        &config.tls,
        shutdown.clone(),
    )
    .await?;
    Ok(Running {
        metrics_addr,
        addr,
        identity,
        shutdown,
        server,
    })
}

async fn sweep_campaigns(identity: Arc<Identity>, every: std::time::Duration, shutdown: Shutdown) {
    loop {
        tokio::select! {
            () = tokio::time::sleep(every) => {}
            () = shutdown.wait() => return,
        }
        if let Err(e) = crate::grpc::campaigns::sweep_deadlines(&identity).await {
            tracing::warn!(error = %e, "campaign deadline sweep failed; retrying next round");
        }
    }
}
