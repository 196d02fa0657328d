//! Platform plumbing every Pantau service shares: layered configuration
//! (defaults, optional file, `PANTAU_*` environment), tracing with optional
//! OTLP export, W3C trace context across gRPC metadata and NATS headers, gRPC
//! health and reflection and the server around them, TLS for gRPC and NATS
//! from PEM files, Prometheus metrics, batched access-token verification, and
//! graceful shutdown.

pub mod authz;
pub mod clock;
pub mod config;
pub mod db;
pub mod domain_error;
pub mod grpc;
pub mod health;
pub mod metrics;
pub mod nats;
pub mod ratelimit;
pub mod service_error;
pub mod shutdown;
pub mod telemetry;
pub mod time;
pub mod tls;
pub mod tokens;

pub use config::{ConfigError, Settings};
pub use domain_error::DomainError;
pub use service_error::ServiceError;
