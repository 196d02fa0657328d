//! gRPC server plumbing shared by services: health and reflection services,
//! an interceptor that carries the caller's trace context, and field
//! violations for INVALID_ARGUMENT.

use tonic::Status;
use tonic_types::{ErrorDetails, StatusExt};

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
