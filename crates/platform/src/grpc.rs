//! gRPC server plumbing shared by services: the server itself (health,
//! reflection, tracing, graceful shutdown), an interceptor that carries the
//! caller's trace context, and field violations for INVALID_ARGUMENT.

use std::net::SocketAddr;

use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tonic::Status;
use tonic::service::Routes;
use tonic::transport::Server;
use tonic::transport::server::TcpIncoming;
use tonic_health::ServingStatus;
use tonic_types::{ErrorDetails, StatusExt};

use crate::shutdown::Shutdown;

/// Serves `routes` on `listener` in a spawned task until `shutdown`, beside
/// the gRPC health service (reporting the whole server, `""`, and
/// `service_name`, the full proto name such as
/// `pantau.attendance.v1.AttendanceService`, as serving) and reflection over
/// every Pantau proto. Each call gets a [`request_span`]. Returns the bound
/// address and the server task, which ends once in-flight calls have
/// finished after `shutdown`; a server failure is logged.
pub async fn spawn_server(
    listener: TcpListener,
    service_name: &str,
    routes: Routes,
    shutdown: Shutdown,
) -> anyhow::Result<(SocketAddr, JoinHandle<()>)> {
    let addr = listener.local_addr()?;
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
        let result = Server::builder()
            .trace_fn(request_span)
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
}
