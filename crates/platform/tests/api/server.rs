//! A gRPC server as a service starts one (`spawn_server` with its
//! `PANTAU_TLS_*` settings), serving only health and reflection.

use std::net::SocketAddr;
use std::time::Duration;

use pantau_platform::Settings;
use pantau_platform::grpc::spawn_server;
use pantau_platform::shutdown::Shutdown;
use pantau_platform::tls::GrpcTls;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

pub struct Server {
    pub addr: SocketAddr,
    shutdown: Shutdown,
    task: JoinHandle<()>,
}

impl Server {
    /// Listening on `bind` (`0.0.0.0:0` as a container's does, or loopback).
    pub async fn start(bind: &str, settings: &Settings) -> anyhow::Result<Server> {
        let shutdown = Shutdown::new();
        let (addr, task) = spawn_server(
            TcpListener::bind(bind).await?,
            "pantau.test.v1.TestService",
            tonic::service::Routes::default(),
            false,
            &GrpcTls::from_settings(settings)?,
            shutdown.clone(),
        )
        .await?;
        Ok(Server {
            addr,
            shutdown,
            task,
        })
    }

    pub async fn stop(self) -> anyhow::Result<()> {
        self.shutdown.trigger();
        tokio::time::timeout(Duration::from_secs(10), self.task).await??;
        Ok(())
    }
}
