//! Stream definitions: one stream per bounded context.

use std::time::Duration;

use async_nats::jetstream::{self, stream};

#[derive(Debug, Clone)]
pub struct StreamSpec {
    /// e.g. `PANTAU_IDENTITY`.
    pub name: String,
    /// e.g. `pantau.identity.>`.
    pub subjects: Vec<String>,
    /// 1 on a laptop, 3 in a cluster.
    pub replicas: usize,
    /// How long JetStream remembers `Nats-Msg-Id`s; retries after that are
    /// caught by the services' durable command records.
    pub duplicate_window: Duration,
}

impl StreamSpec {
    /// The stream of bounded context `context` (e.g. "identity").
    pub fn for_context(context: &str) -> Self {
        Self {
            name: format!("PANTAU_{}", context.to_uppercase()),
            subjects: vec![format!("pantau.{context}.>")],
            replicas: 1,
            duplicate_window: Duration::from_secs(120),
        }
    }

    /// The same stream held by `replicas` NATS servers.
    #[must_use]
    pub fn replicated(self, replicas: usize) -> Self {
        Self { replicas, ..self }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("failed to create or update stream {name}: {message}")]
pub struct StreamError {
    pub name: String,
    pub message: String,
}

/// Creates the stream or brings its configuration up to date.
pub async fn ensure_stream(
    js: &jetstream::Context,
    spec: &StreamSpec,
) -> Result<stream::Stream, StreamError> {
    let config = stream::Config {
        name: spec.name.clone(),
        subjects: spec.subjects.clone(),
        storage: stream::StorageType::File,
        num_replicas: spec.replicas,
        duplicate_window: spec.duplicate_window,
        allow_direct: true,
        allow_atomic_publish: true,
        ..Default::default()
    };
    let err = |e: &dyn std::fmt::Display| StreamError {
        name: spec.name.clone(),
        message: e.to_string(),
    };
    // A cluster that is still forming (servers starting, no meta leader yet)
    // times out or refuses for a while: keep asking, as a service started
    // beside its NATS servers (a pod, `make cluster`) must.
    let deadline = std::time::Instant::now() + STARTUP_WAIT;
    loop {
        match js.create_or_update_stream(config.clone()).await {
            Ok(_) => break,
            Err(e) if std::time::Instant::now() < deadline => {
                tracing::warn!(stream = %spec.name, error = %e, "JetStream not ready; retrying");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            Err(e) => return Err(err(&e)),
        }
    }
    js.get_stream(&spec.name).await.map_err(|e| err(&e))
}

/// How long [`ensure_stream`] waits for JetStream to accept the stream.
const STARTUP_WAIT: Duration = Duration::from_secs(30);
