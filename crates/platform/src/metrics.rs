//! Prometheus metrics: one process-wide registry that the gRPC layer
//! ([`crate::grpc::GrpcMetricsLayer`]), the event store and the projection
//! runner register their families in, served as Prometheus text at
//! `GET /metrics` on a service's metrics listener ([`serve`]).
//!
//! The hot path never allocates: callers resolve their labelled series once
//! (per method, per stream, per projection) and keep the handle, so counting
//! is one atomic add. Values that cost a round trip to compute, such as a
//! projection's lag, are refreshed by [`on_scrape`] hooks when Prometheus
//! asks, not polled in the background; a stuck consumer still shows its
//! growing lag.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, LazyLock, Mutex, OnceLock, RwLock, Weak};
use std::time::Duration;

use futures::future::BoxFuture;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Metric, Registry};
use tokio::task::JoinHandle;

use crate::shutdown::Shutdown;

static REGISTRY: LazyLock<Mutex<Registry>> = LazyLock::new(|| Mutex::new(Registry::default()));

/// Registers `metric` under `name` (give counters their name without the
/// `_total` suffix the encoder appends). Call once per name, from a
/// `LazyLock` holding the family.
pub fn register(name: &str, help: &str, metric: impl Metric) {
    REGISTRY
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .register(name, help, metric);
}

/// Something that updates gauges just before a scrape.
pub type ScrapeHook = dyn Fn() -> BoxFuture<'static, ()> + Send + Sync;

static HOOKS: LazyLock<Mutex<Vec<Weak<ScrapeHook>>>> = LazyLock::new(Mutex::default);

/// Runs `hook` before every scrape for as long as the returned handle is
/// alive (drop it to unregister).
#[must_use = "the hook is unregistered when this is dropped"]
pub fn on_scrape(hook: Arc<ScrapeHook>) -> Arc<ScrapeHook> {
    let mut hooks = HOOKS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    hooks.retain(|h| h.strong_count() > 0);
    hooks.push(Arc::downgrade(&hook));
    hook
}

/// How long a scrape waits for its hooks; a slow one leaves its gauge at
/// the previous value rather than failing the scrape.
const HOOK_TIMEOUT: Duration = Duration::from_secs(5);

/// Runs the scrape hooks, then encodes every registered metric as
/// Prometheus text (format 0.0.4).
pub async fn scrape() -> String {
    let hooks: Vec<Arc<ScrapeHook>> = HOOKS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .iter()
        .filter_map(Weak::upgrade)
        .collect();
    let _ = tokio::time::timeout(
        HOOK_TIMEOUT,
        futures::future::join_all(hooks.iter().map(|h| h())),
    )
    .await;
    let mut out = String::new();
    let registry = REGISTRY
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Err(e) = prometheus_client::encoding::prometheus_text::encode(&mut out, &registry) {
        tracing::warn!(error = %e, "failed to encode metrics");
    }
    out
}

/// Serves `GET /metrics` on `addr` until `shutdown`. Returns the bound
/// address (useful with port 0) and the server task.
pub async fn serve(
    addr: SocketAddr,
    shutdown: Shutdown,
) -> anyhow::Result<(SocketAddr, JoinHandle<()>)> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| anyhow::anyhow!("failed to listen for metrics on {addr}: {e}"))?;
    let bound = listener.local_addr()?;
    let app = axum::Router::new().route(
        "/metrics",
        axum::routing::get(|| async {
            (
                [(
                    http::header::CONTENT_TYPE,
                    prometheus_client::encoding::prometheus_text::CONTENT_TYPE,
                )],
                scrape().await,
            )
        }),
    );
    let task = tokio::spawn(async move {
        let result = axum::serve(listener, app)
            .with_graceful_shutdown(async move { shutdown.wait().await })
            .await;
        if let Err(e) = result {
            tracing::error!(error = %e, "metrics server failed");
        }
    });
    tracing::info!(addr = %bound, "serving metrics at /metrics");
    Ok((bound, task))
}

/// [`serve`] when `addr` is set (a service's `PANTAU_<SERVICE>_METRICS_ADDR`;
/// empty turns the listener off).
pub async fn serve_if(
    addr: Option<SocketAddr>,
    shutdown: Shutdown,
) -> anyhow::Result<Option<SocketAddr>> {
    match addr {
        Some(addr) => Ok(Some(serve(addr, shutdown).await?.0)),
        None => Ok(None),
    }
}

// ---- gRPC server metrics (fed by crate::grpc::GrpcMetricsLayer) ----

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    grpc_service: Arc<str>,
    grpc_method: Arc<str>,
    grpc_code: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct MethodLabels {
    grpc_service: Arc<str>,
    grpc_method: Arc<str>,
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

struct GrpcFamilies {
    requests: Family<RequestLabels, Counter>,
    latency: HistogramFamily<MethodLabels>,
    methods: RwLock<HashMap<Box<str>, Arc<MethodMetrics>>>,
}

/// 0.5 ms to about 16 s, doubling.
fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.0005, 2.0, 16))
}

static GRPC: LazyLock<GrpcFamilies> = LazyLock::new(|| {
    let requests = Family::<RequestLabels, Counter>::default();
    let latency: HistogramFamily<MethodLabels> = Family::new_with_constructor(latency_histogram);
    register(
        "pantau_grpc_server_requests",
        "gRPC calls handled, by service, method and status code",
        requests.clone(),
    );
    register(
        "pantau_grpc_server_handling_seconds",
        "Time from receiving a gRPC call to sending its status, by method",
        latency.clone(),
    );
    GrpcFamilies {
        requests,
        latency,
        methods: RwLock::default(),
    }
});

/// Distinct paths tracked before further unknown ones share one series: a
/// client probing random paths must not grow the registry without bound.
const MAX_METHODS: usize = 512;

/// The series of one gRPC method, resolved on its first call.
pub struct MethodMetrics {
    service: Arc<str>,
    method: Arc<str>,
    latency: Histogram,
    /// One counter per gRPC status code, created on first use.
    codes: [OnceLock<Counter>; 17],
}

impl MethodMetrics {
    /// Counts one finished call.
    pub fn record(&self, code: tonic::Code, elapsed: Duration) {
        self.latency.observe(elapsed.as_secs_f64());
        let i = (code as usize).min(self.codes.len() - 1);
        if let Some(slot) = self.codes.get(i) {
            slot.get_or_init(|| {
                GRPC.requests.get_or_create_owned(&RequestLabels {
                    grpc_service: self.service.clone(),
                    grpc_method: self.method.clone(),
                    grpc_code: code_name(code),
                })
            })
            .inc();
        }
    }
}

/// The metrics of the method at `path` (`/pkg.Service/Method`).
pub fn grpc_method(path: &str) -> Arc<MethodMetrics> {
    let grpc = &*GRPC;
    if let Some(m) = grpc
        .methods
        .read()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .get(path)
    {
        return m.clone();
    }
    let mut methods = grpc
        .methods
        .write()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let key: &str = if methods.len() >= MAX_METHODS {
        "/unknown/unknown"
    } else {
        path
    };
    if let Some(m) = methods.get(key) {
        return m.clone();
    }
    let (service, method) = key
        .trim_start_matches('/')
        .split_once('/')
        .unwrap_or(("unknown", key));
    let (service, method): (Arc<str>, Arc<str>) = (service.into(), method.into());
    let latency = grpc.latency.get_or_create_owned(&MethodLabels {
        grpc_service: service.clone(),
        grpc_method: method.clone(),
    });
    let m = Arc::new(MethodMetrics {
        service,
        method,
        latency,
        codes: Default::default(),
    });
    methods.insert(key.into(), m.clone());
    m
}

/// The canonical upper-case name of a status code, as gRPC's own
/// Prometheus middleware labels it.
pub fn code_name(code: tonic::Code) -> &'static str {
    use tonic::Code::*;
    match code {
        Ok => "OK",
        Cancelled => "CANCELLED",
        Unknown => "UNKNOWN",
        InvalidArgument => "INVALID_ARGUMENT",
        DeadlineExceeded => "DEADLINE_EXCEEDED",
        NotFound => "NOT_FOUND",
        AlreadyExists => "ALREADY_EXISTS",
        PermissionDenied => "PERMISSION_DENIED",
        ResourceExhausted => "RESOURCE_EXHAUSTED",
        FailedPrecondition => "FAILED_PRECONDITION",
        Aborted => "ABORTED",
        OutOfRange => "OUT_OF_RANGE",
        Unimplemented => "UNIMPLEMENTED",
        Internal => "INTERNAL",
        Unavailable => "UNAVAILABLE",
        DataLoss => "DATA_LOSS",
        Unauthenticated => "UNAUTHENTICATED",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_method_counts_each_code_once_and_paths_are_split_into_service_and_method() {
        let m = grpc_method("/pantau.test.v1.Metered/Call");
        m.record(tonic::Code::Ok, Duration::from_millis(2));
        m.record(tonic::Code::NotFound, Duration::from_millis(1));
        m.record(tonic::Code::NotFound, Duration::from_millis(1));
        let text = scrape().await;
        let labels = r#"grpc_service="pantau.test.v1.Metered",grpc_method="Call""#;
        assert!(
            text.contains(&format!(
                "pantau_grpc_server_requests_total{{{labels},grpc_code=\"OK\"}} 1"
            )),
            "{text}"
        );
        assert!(text.contains(&format!(
            "pantau_grpc_server_requests_total{{{labels},grpc_code=\"NOT_FOUND\"}} 2"
        )));
        assert!(text.contains(&format!(
            "pantau_grpc_server_handling_seconds_count{{{labels}}} 3"
        )));
    }
}
