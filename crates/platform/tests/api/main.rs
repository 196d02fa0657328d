//! The platform against real servers: TLS for NATS (a nats-server started
//! with a throwaway CA's certificate) and for gRPC (`spawn_server` with the
//! same CA), each with and without client certificates; a service's own
//! health probe (`health::probe`) against plaintext and TLS servers.
//!
//! One binary for the crate, so linking stays cheap; one module per
//! concern, and `pki` for the certificates they share.

mod grpc_tls;
mod health;
mod nats_tls;
mod pki;
mod server;
