//! Tracing and OpenTelemetry. Every service installs the same subscriber:
//! an env-filtered fmt layer (`PANTAU_LOG`, default `info`; JSON when
//! `PANTAU_LOG_FORMAT=json`) and an OpenTelemetry layer, so every span has a
//! W3C trace id even when nothing is exported. When
//! `OTEL_EXPORTER_OTLP_ENDPOINT` is set, spans are also exported over OTLP.
//!
//! Trace context crosses process boundaries as a `traceparent` header in gRPC
//! metadata and in NATS message headers; `inject_*`/`extract_*` do both.

use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

/// Keeps the tracer provider alive; flushes spans when dropped.
pub struct TelemetryGuard {
    provider: SdkTracerProvider,
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        let _ = self.provider.shutdown();
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    #[error("failed to build the OTLP exporter: {0}")]
    Exporter(String),
    #[error("a global tracing subscriber is already installed")]
    AlreadyInstalled,
}

/// Installs the global subscriber for `service`. Call once, from `main`.
pub fn init(service: &'static str) -> Result<TelemetryGuard, TelemetryError> {
    let provider = provider(service, std::env::var("OTEL_EXPORTER_OTLP_ENDPOINT").ok())?;
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    let tracer = provider.tracer(service);
    let filter = EnvFilter::try_from_env("PANTAU_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let json = std::env::var("PANTAU_LOG_FORMAT").is_ok_and(|v| v == "json");
    let fmt = if json {
        tracing_subscriber::fmt::layer().json().boxed()
    } else {
        // Colours only on a terminal: `make run` writes logs to files.
        let ansi = std::io::IsTerminal::is_terminal(&std::io::stdout());
        tracing_subscriber::fmt::layer()
            .with_target(false)
            .with_ansi(ansi)
            .boxed()
    };
    // Spans reach OpenTelemetry from info level whatever PANTAU_LOG says,
    // so trace context keeps flowing when logs are quieter.
    tracing_subscriber::registry()
        .with(
            tracing_opentelemetry::layer()
                .with_tracer(tracer)
                .with_filter(LevelFilter::INFO),
        )
        .with(fmt.with_filter(filter))
        .try_init()
        .map_err(|_| TelemetryError::AlreadyInstalled)?;
    Ok(TelemetryGuard { provider })
}

fn provider(
    service: &'static str,
    endpoint: Option<String>,
) -> Result<SdkTracerProvider, TelemetryError> {
    let resource = opentelemetry_sdk::Resource::builder()
        .with_service_name(service)
        .build();
    let builder = SdkTracerProvider::builder().with_resource(resource);
    let builder = match endpoint.filter(|e| !e.is_empty()) {
        Some(endpoint) => {
            let exporter = opentelemetry_otlp::SpanExporter::builder()
                .with_tonic()
                .with_endpoint(endpoint)
                .build()
                .map_err(|e| TelemetryError::Exporter(e.to_string()))?;
            builder.with_batch_exporter(exporter)
        }
        None => builder,
    };
    Ok(builder.build())
}

/// For tests: logs to the test writer (`PANTAU_LOG`, default `warn`) and
/// the OpenTelemetry layer without an exporter, so trace context flows as
/// in production. Installs once per process; later calls do nothing.
pub fn init_for_tests() {
    let Ok(provider) = provider("pantau-test", None) else {
        return;
    };
    let _ = install_for_tests(provider);
}

/// The test subscriber over `provider`, which is kept for the life of the
/// process; false when a subscriber was already installed.
fn install_for_tests(provider: SdkTracerProvider) -> bool {
    let tracer = provider.tracer("pantau-test");
    // The provider must outlive every test in the process.
    std::mem::forget(provider);
    let filter = EnvFilter::try_from_env("PANTAU_LOG").unwrap_or_else(|_| EnvFilter::new("warn"));
    tracing_subscriber::registry()
        .with(
            tracing_opentelemetry::layer()
                .with_tracer(tracer)
                .with_filter(LevelFilter::INFO),
        )
        .with(
            tracing_subscriber::fmt::layer()
                .with_test_writer()
                .with_filter(filter),
        )
        .try_init()
        .is_ok()
}

/// For tests that look at spans: [`init_for_tests`] with every finished
/// span also handed to `exporter` as it ends (e.g. opentelemetry_sdk's
/// `InMemorySpanExporter`, feature `testing`). False when a subscriber was
/// already installed in this process (then nothing is exported).
pub fn init_for_tests_exporting(
    exporter: impl opentelemetry_sdk::trace::SpanExporter + 'static,
) -> bool {
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(exporter)
        .build();
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    install_for_tests(provider)
}

struct NatsHeaders<'a>(&'a mut async_nats::HeaderMap);

impl Injector for NatsHeaders<'_> {
    fn set(&mut self, key: &str, value: String) {
        self.0.insert(key, value.as_str());
    }
}

struct NatsHeadersRead<'a>(&'a async_nats::HeaderMap);

impl Extractor for NatsHeadersRead<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(|v| v.as_str())
    }
    fn keys(&self) -> Vec<&str> {
        self.0.iter().map(|(k, _)| k.as_ref()).collect()
    }
}

struct Metadata<'a>(&'a mut tonic::metadata::MetadataMap);

impl Injector for Metadata<'_> {
    fn set(&mut self, key: &str, value: String) {
        if let (Ok(k), Ok(v)) = (
            tonic::metadata::MetadataKey::from_bytes(key.as_bytes()),
            value.parse(),
        ) {
            self.0.insert(k, v);
        }
    }
}

struct MetadataRead<'a>(&'a tonic::metadata::MetadataMap);

impl Extractor for MetadataRead<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }
    fn keys(&self) -> Vec<&str> {
        self.0
            .keys()
            .filter_map(|k| match k {
                tonic::metadata::KeyRef::Ascii(k) => Some(k.as_str()),
                tonic::metadata::KeyRef::Binary(_) => None,
            })
            .collect()
    }
}

struct HttpHeadersRead<'a>(&'a http::HeaderMap);

impl Extractor for HttpHeadersRead<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }
    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(|k| k.as_str()).collect()
    }
}

/// Reads the trace context of an HTTP/2 (gRPC) request's headers.
pub fn extract_http(headers: &http::HeaderMap) -> opentelemetry::Context {
    TraceContextPropagator::new().extract(&HttpHeadersRead(headers))
}

fn current_context() -> opentelemetry::Context {
    tracing::Span::current().context()
}

/// Writes the current span's `traceparent` into NATS headers.
pub fn inject_nats(headers: &mut async_nats::HeaderMap) {
    TraceContextPropagator::new().inject_context(&current_context(), &mut NatsHeaders(headers));
}

/// Reads the trace context a NATS message carries.
pub fn extract_nats(headers: &async_nats::HeaderMap) -> opentelemetry::Context {
    TraceContextPropagator::new().extract(&NatsHeadersRead(headers))
}

/// Writes the current span's `traceparent` into outgoing gRPC metadata.
pub fn inject_grpc(metadata: &mut tonic::metadata::MetadataMap) {
    TraceContextPropagator::new().inject_context(&current_context(), &mut Metadata(metadata));
}

/// Reads the trace context of an incoming gRPC call.
pub fn extract_grpc(metadata: &tonic::metadata::MetadataMap) -> opentelemetry::Context {
    TraceContextPropagator::new().extract(&MetadataRead(metadata))
}

/// Makes `span` a child of the remote context (no-op for an empty context).
pub fn set_parent(span: &tracing::Span, parent: opentelemetry::Context) {
    let _ = span.set_parent(parent);
}

/// Links `span` to another trace's span (e.g. one more event a batch
/// applies); no-op for an invalid context.
pub fn add_link(span: &tracing::Span, other: &opentelemetry::Context) {
    use opentelemetry::trace::TraceContextExt;
    let other = other.span().span_context().clone();
    if other.is_valid() {
        span.add_link(other);
    }
}

/// The current span's `traceparent` value, if it has a valid trace id.
pub fn current_traceparent() -> Option<String> {
    let mut headers = async_nats::HeaderMap::new();
    inject_nats(&mut headers);
    headers.get("traceparent").map(|v| v.as_str().to_owned())
}
