//! Throwaway infrastructure for tests: a NATS JetStream server and a
//! PostgreSQL database per test, on random ports in temp dirs, torn down on
//! drop; a test of an outage stops one and starts it again on the same port
//! and data (`PgServer::stop` and `start_again`, `NatsServer::kill` and
//! `start_again`). `PANTAU_DATABASE_URL` (a server URL) makes tests share one
//! PostgreSQL server, each still getting its own fresh database;
//! `PANTAU_NATS_URL` points tests at an existing NATS server.
//!
//! Binaries are found via `PANTAU_NATS_SERVER_BIN` / `PANTAU_PG_BIN` (set by
//! `make test`), the project's `.tools/`, or `PATH`. PostgreSQL refuses to
//! run as root, so as root it runs as the `postgres` (or `nobody`) user.

mod nats;
mod nats_cluster;
pub mod pki;
mod postgres;

pub use nats::NatsServer;
pub use nats_cluster::{ClusterNode, NatsCluster};
pub use pki::TestPki;
pub use postgres::{PgServer, TestDatabase};

use std::net::TcpListener;

/// A free TCP port on 127.0.0.1 (racy by nature; good enough for tests).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(0)
}

/// The workspace root, for finding `.tools/`.
pub fn workspace_root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Installs the test subscriber once (`PANTAU_LOG` controls the logs); it
/// carries OpenTelemetry context like production.
pub fn init_logs() {
    pantau_platform::telemetry::init_for_tests();
}

/// Given/when/then: names the phases of a scenario in the test output.
pub async fn given<T, F: std::future::Future<Output = T>>(what: &str, f: F) -> T {
    tracing::info!(phase = "given", "{what}");
    f.await
}

pub async fn when<T, F: std::future::Future<Output = T>>(what: &str, f: F) -> T {
    tracing::info!(phase = "when", "{what}");
    f.await
}

pub fn then(what: &str, ok: bool) {
    assert!(ok, "then {what}");
}
