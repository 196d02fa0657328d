//! The one error type of a service's handlers and its single mapping to gRPC
//! status, shared by every Pantau service.

use tonic::Status;

use crate::DomainError;

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error(transparent)]
    Domain(#[from] DomainError),
    #[error("unauthenticated: {0}")]
    Unauthenticated(String),
    #[error("service unavailable: {0}")]
    Unavailable(String),
    #[error("aborted: {0}")]
    Aborted(String),
    /// Too many attempts from one caller: RESOURCE_EXHAUSTED with the wait.
    #[error("resource exhausted: {0}")]
    ResourceExhausted(String),
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<sqlx::Error> for ServiceError {
    fn from(e: sqlx::Error) -> Self {
        ServiceError::Unavailable(format!("database: {e}"))
    }
}

impl From<pantau_authn::AuthError> for ServiceError {
    fn from(e: pantau_authn::AuthError) -> Self {
        ServiceError::Unauthenticated(e.to_string())
    }
}

impl From<ServiceError> for Status {
    fn from(e: ServiceError) -> Self {
        match e {
            ServiceError::Domain(d) => d.into(),
            ServiceError::Unauthenticated(m) => Status::unauthenticated(m),
            ServiceError::Unavailable(m) => {
                tracing::warn!(error = %m, "dependency unavailable");
                Status::unavailable(m)
            }
            ServiceError::Aborted(m) => Status::aborted(m),
            ServiceError::ResourceExhausted(m) => Status::resource_exhausted(m),
            ServiceError::Internal(m) => {
                tracing::error!(error = %m, "internal error");
                Status::internal("internal error")
            }
        }
    }
}
