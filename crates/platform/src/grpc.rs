//! gRPC server plumbing shared by services: health and reflection services,
//! an interceptor that carries the caller's trace context, and field
//! violations for INVALID_ARGUMENT.

use tonic::{Request, Status};
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

/// Stores the caller's trace context in the request extensions so handlers
/// can parent their spans on it (`remote_parent`).
#[allow(clippy::result_large_err)]
pub fn trace_interceptor(mut req: Request<()>) -> Result<Request<()>, Status> {
    let ctx = crate::telemetry::extract_grpc(req.metadata());
    req.extensions_mut().insert(RemoteParent(ctx));
    Ok(req)
}

#[derive(Clone)]
pub struct RemoteParent(pub opentelemetry::Context);

/// Parents the current span on the remote caller's trace, when there is one.
pub fn adopt_remote_parent<T>(req: &Request<T>) {
    if let Some(RemoteParent(ctx)) = req.extensions().get::<RemoteParent>() {
        crate::telemetry::set_parent(&tracing::Span::current(), ctx.clone());
    }
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
