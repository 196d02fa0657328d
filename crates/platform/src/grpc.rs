//! gRPC server plumbing shared by services: the server itself (health,
//! reflection, tracing, graceful shutdown), an interceptor that carries the
//! caller's trace context, and field violations for INVALID_ARGUMENT.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use anyhow::Context;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tonic::Status;
use tonic::service::Routes;
use tonic::transport::Server;
use tonic::transport::server::TcpIncoming;
use tonic_health::ServingStatus;
use tonic_types::{ErrorDetails, StatusExt};

use crate::clock::{SIM_TIME_HEADER, sync_with_request_time, with_request_time};
use crate::shutdown::Shutdown;
use crate::tls::GrpcTls;

/// Where a process on this machine calls a server listening on `addr`:
/// loopback when it listens on every address (`0.0.0.0`, `[::]`).
pub fn dial_addr(addr: SocketAddr) -> SocketAddr {
    match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => (Ipv4Addr::LOCALHOST, addr.port()).into(),
        IpAddr::V6(ip) if ip.is_unspecified() => (Ipv6Addr::LOCALHOST, addr.port()).into(),
        _ => addr,
    }
}

/// Serves `routes` on `listener` in a spawned task until `shutdown` — over
/// gRPC and, for browsers, gRPC-Web (HTTP/1.1 or HTTP/2) — beside
/// the gRPC health service (reporting the whole server, `""`, and
/// `service_name`, the full proto name such as
/// `pantau.attendance.v1.AttendanceService`, as serving) and reflection over
/// every Pantau proto. Each call gets a [`request_span`]. Returns the bound
/// address and the server task, which ends once in-flight calls have
/// finished after `shutdown`; a server failure is logged. With `dev_clock`
/// a call's [`SIM_TIME_HEADER`] sets its business time ([`DevClockLayer`]).
/// With `tls` carrying a certificate the server speaks only TLS (HTTP/2 by
/// ALPN, gRPC-Web included), requiring client certificates when it has a
/// client CA; see [`crate::tls`].
pub async fn spawn_server(
    listener: TcpListener,
    service_name: &str,
    routes: Routes,
    dev_clock: bool,
    tls: &GrpcTls,
    shutdown: Shutdown,
) -> anyhow::Result<(SocketAddr, JoinHandle<()>)> {
    let addr = listener.local_addr()?;
    let mut builder = Server::builder();
    if let Some(config) = tls.server() {
        builder = builder.tls_config(config).with_context(|| {
            format!("{}: not usable with {}", crate::tls::KEY, crate::tls::CERT)
        })?;
    }
    let (health_reporter, health) = tonic_health::server::health_reporter();
    health_reporter
        .set_service_status("", ServingStatus::Serving)
        .await;
    health_reporter
        .set_service_status(service_name, ServingStatus::Serving)
        .await;
    let reflection = reflection(pantau_proto::FILE_DESCRIPTOR_SET)?;
    // Small HTTP/2 frames: with Nagle's algorithm a response can wait for
    // the client's delayed ACK (tens of milliseconds).
    let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
    let server = tokio::spawn(async move {
        // HTTP/1.1 and gRPC-Web too, for browsers (the field app); native
        // gRPC clients keep HTTP/2.
        let result = builder
            .accept_http1(true)
            .trace_fn(request_span)
            .layer(DevClockLayer { enabled: dev_clock })
            .layer(tonic_web::GrpcWebLayer::new())
            // Inside gRPC-Web, so a browser's call is counted with the
            // status its native gRPC response carries in trailers.
            .layer(GrpcMetricsLayer)
            .add_routes(routes)
            .add_service(health)
            .add_service(reflection)
            .serve_with_incoming_shutdown(incoming, async move { shutdown.wait().await })
            .await;
        if let Err(e) = result {
            tracing::error!(error = %e, "grpc server failed");
        }
    });
    Ok((addr, server))
}

/// Honours a call's [`SIM_TIME_HEADER`] on a development cluster: the call
/// runs with that business time (see [`crate::clock`]). Disabled, a call
/// carrying the header is refused with FAILED_PRECONDITION rather than
/// silently stamped with today; an unreadable time is INVALID_ARGUMENT.
#[derive(Debug, Clone, Copy)]
pub struct DevClockLayer {
    pub enabled: bool,
}

impl<S> tower_layer::Layer<S> for DevClockLayer {
    type Service = DevClock<S>;

    fn layer(&self, inner: S) -> DevClock<S> {
        DevClock {
            inner,
            enabled: self.enabled,
        }
    }
}

#[derive(Debug, Clone)]
pub struct DevClock<S> {
    inner: S,
    enabled: bool,
}

type BoxFuture<T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send>>;

impl<S, B, R> tower_service::Service<http::Request<B>> for DevClock<S>
where
    S: tower_service::Service<http::Request<B>, Response = http::Response<R>>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    R: Default + Send + 'static,
{
    type Response = http::Response<R>;
    type Error = S::Error;
    type Future = BoxFuture<Result<http::Response<R>, S::Error>>;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        let Some(value) = req.headers().get(SIM_TIME_HEADER) else {
            return Box::pin(self.inner.call(req));
        };
        if !self.enabled {
            let refused = Status::failed_precondition(format!(
                "{SIM_TIME_HEADER}: this service keeps real time; start it with PANTAU_DEV_CLOCK=true to simulate"
            ));
            return Box::pin(std::future::ready(Ok(refused.into_http())));
        }
        let parsed = value
            .to_str()
            .ok()
            .and_then(|v| chrono::DateTime::parse_from_rfc3339(v).ok());
        match parsed {
            Some(at) => {
                // Both while the inner service builds its future and while
                // that future runs.
                let at = at.to_utc();
                let fut = sync_with_request_time(at, || self.inner.call(req));
                Box::pin(with_request_time(at, fut))
            }
            None => {
                let bad = invalid_argument(SIM_TIME_HEADER, "not an RFC 3339 time");
                Box::pin(std::future::ready(Ok(bad.into_http())))
            }
        }
    }
}

/// Counts every call by service, method and status code and times it
/// (`pantau_grpc_server_requests_total`,
/// `pantau_grpc_server_handling_seconds`; see [`crate::metrics`]). The
/// status is read from the response headers of a trailers-only answer (an
/// error) or from the trailers that end the body; a body dropped before its
/// trailers counts as CANCELLED. Nothing is allocated per call: the
/// method's series are looked up by path in a map of resolved handles.
#[derive(Debug, Clone, Copy, Default)]
pub struct GrpcMetricsLayer;

impl<S> tower_layer::Layer<S> for GrpcMetricsLayer {
    type Service = GrpcMetrics<S>;

    fn layer(&self, inner: S) -> GrpcMetrics<S> {
        GrpcMetrics { inner }
    }
}

#[derive(Debug, Clone)]
pub struct GrpcMetrics<S> {
    inner: S,
}

impl<S, B, R> tower_service::Service<http::Request<B>> for GrpcMetrics<S>
where
    S: tower_service::Service<http::Request<B>, Response = http::Response<R>>,
{
    type Response = http::Response<MeteredBody<R>>;
    type Error = S::Error;
    type Future = MeteredFuture<S::Future>;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        let call = CallRecorder {
            method: Some(crate::metrics::grpc_method(req.uri().path())),
            start: std::time::Instant::now(),
        };
        MeteredFuture {
            inner: self.inner.call(req),
            call: Some(call),
        }
    }
}

/// One call in flight: records its status exactly once, CANCELLED if it is
/// dropped unanswered.
struct CallRecorder {
    method: Option<std::sync::Arc<crate::metrics::MethodMetrics>>,
    start: std::time::Instant,
}

impl CallRecorder {
    fn record(&mut self, code: tonic::Code) {
        if let Some(m) = self.method.take() {
            m.record(code, self.start.elapsed());
        }
    }

    fn record_from(&mut self, headers: &http::HeaderMap) -> bool {
        match headers.get("grpc-status") {
            Some(v) => {
                self.record(tonic::Code::from_bytes(v.as_bytes()));
                true
            }
            None => false,
        }
    }
}

impl Drop for CallRecorder {
    fn drop(&mut self) {
        self.record(tonic::Code::Cancelled);
    }
}

pin_project_lite::pin_project! {
    pub struct MeteredFuture<F> {
        #[pin]
        inner: F,
        call: Option<CallRecorder>,
    }
}

impl<F, R, E> std::future::Future for MeteredFuture<F>
where
    F: std::future::Future<Output = Result<http::Response<R>, E>>,
{
    type Output = Result<http::Response<MeteredBody<R>>, E>;

    fn poll(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        let this = self.project();
        let result = std::task::ready!(this.inner.poll(cx));
        let mut call = this.call.take();
        let result = match result {
            Ok(res) => {
                // A trailers-only response (an error) has its status here.
                if let Some(c) = call.as_mut()
                    && c.record_from(res.headers())
                {
                    call = None;
                }
                Ok(res.map(|inner| MeteredBody { inner, call }))
            }
            Err(e) => {
                if let Some(c) = call.as_mut() {
                    c.record(tonic::Code::Unknown);
                }
                Err(e)
            }
        };
        std::task::Poll::Ready(result)
    }
}

pin_project_lite::pin_project! {
    /// A response body that records the call's status from its trailers.
    pub struct MeteredBody<B> {
        #[pin]
        inner: B,
        call: Option<CallRecorder>,
    }
}

impl<B: http_body::Body> http_body::Body for MeteredBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<B::Data>, B::Error>>> {
        let this = self.project();
        let frame = std::task::ready!(this.inner.poll_frame(cx));
        if let Some(call) = this.call.as_mut() {
            match &frame {
                Some(Ok(f)) => {
                    if let Some(trailers) = f.trailers_ref() {
                        if !call.record_from(trailers) {
                            call.record(tonic::Code::Unknown);
                        }
                        *this.call = None;
                    }
                }
                Some(Err(_)) => {
                    call.record(tonic::Code::Internal);
                    *this.call = None;
                }
                // The body ended without trailers: no status was sent.
                None => {
                    call.record(tonic::Code::Unknown);
                    *this.call = None;
                }
            }
        }
        std::task::Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// Reflection over every Pantau proto.
pub fn reflection(
    descriptor_set: &'static [u8],
) -> Result<
    tonic_reflection::server::v1::ServerReflectionServer<
        impl tonic_reflection::server::v1::ServerReflection,
    >,
    tonic_reflection::server::Error,
> {
    tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(descriptor_set)
        .build_v1()
}

/// The span of one incoming gRPC call, parented on the caller's
/// `traceparent` header when it sends one. Pass to `Server::trace_fn`, so
/// the parent is set before the span is entered and everything the call
/// does (appends included) continues the caller's trace.
pub fn request_span(req: &http::Request<()>) -> tracing::Span {
    let span = tracing::info_span!("grpc", method = %req.uri().path());
    crate::telemetry::set_parent(&span, crate::telemetry::extract_http(req.headers()));
    span
}

/// INVALID_ARGUMENT carrying a BadRequest field violation naming `field`.
pub fn invalid_argument(field: &str, reason: &str) -> Status {
    let mut details = ErrorDetails::new();
    details.add_bad_request_violation(field, reason);
    Status::with_error_details(
        tonic::Code::InvalidArgument,
        format!("{field}: {reason}"),
        details,
    )
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tower_layer::Layer;
    use tower_service::Service;

    /// Answers with the business time it ran at, in a header.
    #[derive(Clone)]
    struct Echo;

    impl Service<http::Request<()>> for Echo {
        type Response = http::Response<String>;
        type Error = std::convert::Infallible;
        type Future = std::future::Ready<Result<http::Response<String>, Self::Error>>;

        fn poll_ready(
            &mut self,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<Result<(), Self::Error>> {
            std::task::Poll::Ready(Ok(()))
        }

        fn call(&mut self, _: http::Request<()>) -> Self::Future {
            let at = crate::clock::request_time().map_or("none".into(), |t| t.to_rfc3339());
            std::future::ready(Ok(http::Response::builder()
                .header("ran-at", at)
                .body(String::new())
                .unwrap_or_default()))
        }
    }

    async fn call(enabled: bool, sim_time: Option<&str>) -> (String, String) {
        let mut svc = DevClockLayer { enabled }.layer(Echo);
        let mut req = http::Request::builder();
        if let Some(t) = sim_time {
            req = req.header(SIM_TIME_HEADER, t);
        }
        let res = svc.call(req.body(()).unwrap_or_default()).await;
        let res = res.unwrap_or_default();
        let get = |h: &str| {
            res.headers()
                .get(h)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_owned()
        };
        (get("ran-at"), get("grpc-status"))
    }

    #[test]
    fn a_server_listening_everywhere_is_dialled_on_loopback() {
        let addr = |text: &str| -> SocketAddr { text.parse().expect("address") };
        assert_eq!(dial_addr(addr("0.0.0.0:50052")), addr("127.0.0.1:50052"));
        assert_eq!(dial_addr(addr("[::]:50052")), addr("[::1]:50052"));
        assert_eq!(dial_addr(addr("10.1.2.3:50052")), addr("10.1.2.3:50052"));
    }

    #[tokio::test]
    async fn a_dev_clock_runs_the_call_at_its_simulated_time_and_a_real_clock_refuses_it() {
        let t = "2026-10-05T00:30:00+00:00";
        assert_eq!(call(true, Some(t)).await, (t.to_owned(), String::new()));
        assert_eq!(call(true, None).await, ("none".to_owned(), String::new()));
        assert_eq!(call(false, None).await, ("none".to_owned(), String::new()));
        // FAILED_PRECONDITION (9) and INVALID_ARGUMENT (3), never run.
        assert_eq!(call(false, Some(t)).await, (String::new(), "9".to_owned()));
        assert_eq!(
            call(true, Some("yesterday")).await,
            (String::new(), "3".to_owned())
        );
    }

    use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};

    use super::*;

    #[tokio::test]
    async fn the_server_reports_health_and_stops_on_shutdown() -> anyhow::Result<()> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let shutdown = Shutdown::new();
        let (addr, server) = spawn_server(
            listener,
            "pantau.test.v1.TestService",
            Routes::default(),
            false,
            &GrpcTls::default(),
            shutdown.clone(),
        )
        .await?;
        let channel = tonic::transport::Channel::from_shared(format!("http://{addr}"))?
            .connect()
            .await?;
        let mut health = HealthClient::new(channel);
        for service in ["", "pantau.test.v1.TestService"] {
            let status = health
                .check(HealthCheckRequest {
                    service: service.into(),
                })
                .await?
                .into_inner();
            assert_eq!(status.status, ServingStatus::Serving as i32, "{service:?}");
        }
        let unknown = health
            .check(HealthCheckRequest {
                service: "pantau.test.v1.Other".into(),
            })
            .await;
        assert_eq!(unknown.err().map(|s| s.code()), Some(tonic::Code::NotFound));
        shutdown.trigger();
        drop(health);
        tokio::time::timeout(Duration::from_secs(10), server).await??;
        Ok(())
    }

    #[tokio::test]
    async fn a_browser_reaches_the_server_over_grpc_web_on_http1() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let shutdown = crate::shutdown::Shutdown::new();
        let (addr, server) = super::spawn_server(
            listener,
            "pantau.test.v1.Test",
            tonic::service::Routes::default(),
            false,
            &crate::tls::GrpcTls::default(),
            shutdown.clone(),
        )
        .await
        .expect("server");
        // An empty HealthCheckRequest in one gRPC-Web data frame, as a
        // browser's fetch sends it (HTTP/1.1).
        let resp = reqwest::Client::new()
            .post(format!("http://{addr}/grpc.health.v1.Health/Check"))
            .header("content-type", "application/grpc-web+proto")
            .header("x-grpc-web", "1")
            .body(vec![0u8, 0, 0, 0, 0])
            .send()
            .await
            .expect("a gRPC-Web call");
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.version(), http::Version::HTTP_11);
        assert_eq!(
            resp.headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok()),
            Some("application/grpc-web+proto")
        );
        let bytes = resp.bytes().await.expect("body");
        // A data frame of 2 bytes: HealthCheckResponse { status: SERVING }.
        assert_eq!(bytes.get(..7), Some(&[0u8, 0, 0, 0, 2, 0x08, 0x01][..]));
        // Then the trailers frame (flag 0x80) with grpc-status 0.
        assert_eq!(bytes.get(7), Some(&0x80));
        let trailers = String::from_utf8_lossy(bytes.get(12..).unwrap_or_default());
        assert!(trailers.contains("grpc-status:0"), "{trailers}");
        shutdown.trigger();
        server.await.expect("server task");
    }
}
