//! The cross-service scenarios: the real services (and an outside consumer)
//! on throwaway NATS and PostgreSQL, talking only through their public gRPC
//! APIs and the event streams, as they do in production.
//!
//! One binary for the crate, so linking stays cheap; one module per scenario
//! family.

mod attendance;
mod python_consumer;
