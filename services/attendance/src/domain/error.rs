//! The domain's refusals: the error type every Pantau service shares (see
//! `pantau_platform::domain_error`), so each variant maps to one gRPC code.

pub use pantau_platform::DomainError;
