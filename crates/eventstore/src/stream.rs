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
    /// Whether the opener owns the stream and brings its configuration up
    /// to date; a reader ([`StreamSpec::reader`]) takes it as it is, and
    /// creates it only if it does not exist yet.
    pub owner: bool,
}

impl StreamSpec {
    /// The stream of bounded context `context` (e.g. "identity").
    pub fn for_context(context: &str) -> Self {
        Self {
            name: format!("PANTAU_{}", context.to_uppercase()),
            subjects: vec![format!("pantau.{context}.>")],
            replicas: 1,
            duplicate_window: Duration::from_secs(120),
            owner: true,
        }
    }

    /// The same stream opened by a service that only reads it: its NATS
    /// user may not update another service's stream (`deploy/nats/auth.conf`),
    /// so the stream is used as its owner configured it.
    #[must_use]
    pub fn reader(self) -> Self {
        Self {
            owner: false,
            ..self
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

/// Creates the stream or, for its owner, brings its configuration up to
/// date; a reader uses an existing stream as it is.
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
        let attempt = if spec.owner {
            js.create_or_update_stream(config.clone())
                .await
                .map(drop)
                .map_err(|e| e.to_string())
        } else {
            open_as_reader(js, &config).await
        };
        match attempt {
            Ok(()) => break,
            Err(e) if std::time::Instant::now() < deadline => {
                tracing::warn!(stream = %spec.name, error = %e, "JetStream not ready; retrying");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            Err(e) => return Err(err(&e)),
        }
    }
    js.get_stream(&spec.name).await.map_err(|e| err(&e))
}

/// A reader's open: the stream as it is, or created when nobody has yet
/// (a reader started before the owner; the owner updates it later).
async fn open_as_reader(js: &jetstream::Context, config: &stream::Config) -> Result<(), String> {
    match js.get_stream(&config.name).await {
        Ok(_) => Ok(()),
        Err(e)
            if matches!(e.kind(), jetstream::context::GetStreamErrorKind::JetStream(j)
                if j.error_code() == jetstream::ErrorCode::STREAM_NOT_FOUND) =>
        {
            match js.create_stream(config.clone()).await {
                Ok(_) => Ok(()),
                // Created meanwhile by another: fine, take it as it is.
                Err(e)
                    if matches!(e.kind(), jetstream::context::CreateStreamErrorKind::JetStream(j)
                        if j.error_code() == jetstream::ErrorCode::STREAM_NAME_EXIST) =>
                {
                    Ok(())
                }
                Err(e) => Err(e.to_string()),
            }
        }
        Err(e) => Err(e.to_string()),
    }
}

/// How long [`ensure_stream`] waits for JetStream to accept the stream.
const STARTUP_WAIT: Duration = Duration::from_secs(30);
