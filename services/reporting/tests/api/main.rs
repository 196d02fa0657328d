//! The reporting service on real NATS and PostgreSQL: events appended to
//! the streams as their services append them, the projections following,
//! the answers read over HTTP (and gRPC) as the public and leaders read them.

mod browser;
mod gateway;
mod privacy;
mod projections;
mod webdriver;

use std::time::Duration;

use bytes::Bytes;
use pantau_authn::{Claims, Issuer, SigningKeyPair};
use pantau_eventstore::{AppendMode, EventStore, Expected, Metadata, NewEvent};
use pantau_fraud::domain::simulate::{SimConfig, SimEvent, generate};
use pantau_proto::events::v1::{self as ev, identity_event::Event as I};
use pantau_reporting::{app, config::Config};
use pantau_testkit::{NatsServer, PgServer};
use prost::Message;
use serde_json::Value;

pub struct Cluster {
    pub nats: NatsServer,
    _pg: PgServer,
    pub running: Option<app::Running>,
    pub http: reqwest::Client,
    pub base: String,
    pub issuer: Issuer,
}

impl Cluster {
    /// NATS, PostgreSQL, the reporting service, and a signing key on the
    /// identity stream for leaders' tokens.
    pub async fn start() -> anyhow::Result<Cluster> {
        Self::start_with(|_| {}).await
    }

    /// As [`Cluster::start`], with `adjust` applied to the service's config.
    pub async fn start_with(adjust: impl FnOnce(&mut Config)) -> anyhow::Result<Cluster> {
        let nats = NatsServer::start().await?;
        let pg = PgServer::start().await?;
        let issuer = Issuer::new(SigningKeyPair::generate()?);
        let cluster_client = async_nats::connect(&nats.url).await?;
        let identity =
            EventStore::open_context(&cluster_client, "identity", AppendMode::Pipelined).await?;
        identity
            .append(pantau_feed::identity(&I::SigningKeyPublished(
                ev::SigningKeyPublished {
                    key_id: issuer.key_id().to_owned(),
                    public_key: issuer.public_key_bytes().to_vec(),
                },
            )))
            .await?;
        // Boxed: the start-up future is large for a test thread's stack.
        let mut config = Config::in_process(&nats.url, &pg.url);
        adjust(&mut config);
        let running = Box::pin(app::start(config)).await?;
        let base = format!("http://{}", running.http_addr);
        Ok(Cluster {
            nats,
            _pg: pg,
            running: Some(running),
            http: reqwest::Client::new(),
            base,
            issuer,
        })
    }

    pub async fn client(&self) -> anyhow::Result<async_nats::Client> {
        Ok(async_nats::connect(&self.nats.url).await?)
    }

    /// Waits until the projections hold everything on the streams.
    pub async fn settle(&self) -> anyhow::Result<()> {
        let r = self.running.as_ref().expect("running");
        anyhow::ensure!(
            r.reporting.settle(Duration::from_secs(60)).await,
            "the projections did not catch up: {:?}",
            r.reporting.progress().await
        );
        Ok(())
    }

    pub fn token(&self, roles: &[&str], agency: Option<&str>) -> String {
        let now = chrono::Utc::now().timestamp();
        self.issuer.issue(&Claims::new(
            "leader",
            roles.iter().map(|r| (*r).to_owned()).collect(),
            agency.map(str::to_owned),
            None,
            now,
            3600,
            uuid::Uuid::new_v4().to_string(),
        ))
    }

    /// GET a path: (status, body text).
    pub async fn get(&self, path: &str, token: Option<&str>) -> anyhow::Result<(u16, String)> {
        let mut req = self.http.get(format!("{}{path}", self.base));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let resp = req.send().await?;
        Ok((resp.status().as_u16(), resp.text().await?))
    }

    pub async fn json(&self, path: &str) -> anyhow::Result<Value> {
        let (status, body) = self.get(path, None).await?;
        anyhow::ensure!(status == 200, "GET {path}: {status} {body}");
        Ok(serde_json::from_str(&body)?)
    }

    /// A generated month of the province (identity, attendance, activity)
    /// onto the streams, after the test's signing key. Returns its events.
    pub async fn seed(&self, config: &SimConfig) -> anyhow::Result<Vec<SimEvent>> {
        let events: Vec<SimEvent> = generate(config)
            .events
            .into_iter()
            .map(|e| match e {
                // The identity stream already holds the signing key.
                SimEvent::Identity { seq, event } => SimEvent::Identity {
                    seq: seq + 1,
                    event,
                },
                other => other,
            })
            .collect();
        let streams = pantau_feed::Streams::open(&self.client().await?).await?;
        pantau_feed::write_month(&streams, &events).await?;
        Ok(events)
    }

    /// Publishes a closed month of scores (`month` is YYYY-MM) as scoring
    /// does, through `pantau_feed::write_scores`.
    pub async fn publish_scores(
        &self,
        month: &str,
        scores: &[pantau_feed::Score],
    ) -> anyhow::Result<()> {
        let stream =
            EventStore::open_context(&self.client().await?, "scoring", AppendMode::Pipelined)
                .await?;
        let month = pantau_platform::time::Month::parse(month, "month")
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        pantau_feed::write_scores(&stream, month, scores).await?;
        Ok(())
    }

    pub async fn stop(mut self) {
        if let Some(r) = self.running.take() {
            r.stop().await;
        }
    }
}

/// A generated province's September 2026 of `workers` workers.
pub fn september(workers: usize) -> SimConfig {
    SimConfig {
        workers,
        month: pantau_fraud::domain::Month {
            year: 2026,
            month: 9,
        },
        ..SimConfig::default()
    }
}

/// An event for a stream of a context that isn't generated (scoring, fraud).
pub fn event(subject: String, event_type: &str, payload: Vec<u8>) -> NewEvent {
    NewEvent {
        subject,
        event_type: event_type.to_owned(),
        schema_version: 1,
        payload: Bytes::from(payload),
        expected: Expected::Any,
        msg_id: None,
        metadata: Metadata {
            correlation_id: "test".into(),
            causation_id: "test".into(),
            request_id: None,
            actor: Some("test".into()),
        },
    }
}

pub fn scoring(subject: String, e: ev::scoring_event::Event) -> NewEvent {
    event(
        subject,
        "ScoringEvent",
        ev::ScoringEvent { event: Some(e) }.encode_to_vec(),
    )
}

pub fn fraud(subject: String, e: ev::fraud_event::Event) -> NewEvent {
    event(
        subject,
        "FraudEvent",
        ev::FraudEvent { event: Some(e) }.encode_to_vec(),
    )
}
