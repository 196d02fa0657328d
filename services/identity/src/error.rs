//! The handlers' error type and its one mapping to gRPC status (shared by
//! every service: `pantau_platform::ServiceError`).

pub use pantau_platform::ServiceError;
