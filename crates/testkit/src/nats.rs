//! A throwaway nats-server with JetStream and the shipped durability setting,
//! which a test can kill and start again on its port and store.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

pub struct NatsServer {
    pub url: String,
    /// Our server's client port (0 for a server named by `PANTAU_NATS_URL`).
    port: u16,
    /// Whether it takes plaintext clients, so readiness can be asked over
    /// JetStream (a TLS server is ready once it listens).
    plaintext: bool,
    child: Option<Child>,
    /// The config (port, store dir) a restart runs on again; `None` for a
    /// server named by `PANTAU_NATS_URL`, which is not ours.
    conf: Option<PathBuf>,
    _dir: Option<tempfile::TempDir>,
}

pub(crate) fn binary() -> PathBuf {
    if let Ok(p) = std::env::var("PANTAU_NATS_SERVER_BIN") {
        return PathBuf::from(p);
    }
    let local = crate::workspace_root().join(".tools/bin/nats-server");
    if local.exists() {
        return local;
    }
    PathBuf::from("nats-server")
}

impl NatsServer {
    /// `PANTAU_NATS_URL` if set, else a fresh server (durable: sync always).
    pub async fn start() -> anyhow::Result<Self> {
        if let Ok(url) = std::env::var("PANTAU_NATS_URL") {
            return Ok(Self {
                url,
                port: 0,
                plaintext: true,
                child: None,
                conf: None,
                _dir: None,
            });
        }
        Self::spawn(true).await
    }

    /// A fresh server; `durable` selects `sync_interval: always`.
    pub async fn spawn(durable: bool) -> anyhow::Result<Self> {
        let sync = if durable { "sync_interval: always" } else { "" };
        Self::configured(sync, "", true).await
    }

    /// A fresh server whose config also holds `extra`, such as a `tls { }`
    /// block; ready once it listens, since a TLS server refuses the
    /// plaintext client that would ask JetStream.
    pub async fn spawn_with(extra: &str) -> anyhow::Result<Self> {
        Self::configured("", extra, false).await
    }

    async fn configured(jetstream: &str, extra: &str, plaintext: bool) -> anyhow::Result<Self> {
        let dir = tempfile::tempdir().context("failed to create nats temp dir")?;
        let port = crate::free_port();
        let conf = dir.path().join("nats.conf");
        std::fs::write(
            &conf,
            format!(
                "listen: 127.0.0.1:{port}\njetstream {{\n  store_dir: \"{}\"\n  {jetstream}\n}}\n{extra}\n",
                dir.path().join("js").display()
            ),
        )?;
        let url = format!("nats://127.0.0.1:{port}");
        let mut server = Self {
            url,
            port,
            plaintext,
            child: None,
            conf: Some(conf),
            _dir: Some(dir),
        };
        server.run().await?;
        Ok(server)
    }

    /// Our server's client port (0 for one named by `PANTAU_NATS_URL`).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Runs nats-server on our config and waits until JetStream answers.
    async fn run(&mut self) -> anyhow::Result<()> {
        let Some(conf) = &self.conf else {
            bail!("{} is not ours to start", self.url);
        };
        let bin = binary();
        let child = Command::new(&bin)
            .arg("-c")
            .arg(conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| {
                format!(
                    "failed to start {} (run `make test`, which installs it into .tools/)",
                    bin.display()
                )
            })?;
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if !self.plaintext {
                if tokio::net::TcpStream::connect(("127.0.0.1", self.port))
                    .await
                    .is_ok()
                {
                    return Ok(());
                }
            } else if let Ok(client) = async_nats::connect(&self.url).await {
                // JetStream is ready once the account info answers.
                let js = async_nats::jetstream::new(client);
                if js.query_account().await.is_ok() {
                    return Ok(());
                }
            }
            if Instant::now() > deadline {
                bail!("nats-server did not become ready on {}", self.url);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub async fn client(&self) -> anyhow::Result<async_nats::Client> {
        async_nats::connect(&self.url)
            .await
            .with_context(|| format!("failed to connect to {}", self.url))
    }

    /// Kills the server abruptly (power-cut style), keeping its data dir.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts the server again (killing it first if it runs) on the same
    /// port and JetStream store, so clients reconnect to the same URL and
    /// find the streams and durable consumers it had stored (ephemeral ones
    /// are gone), and waits until JetStream answers.
    pub async fn start_again(&mut self) -> anyhow::Result<()> {
        self.kill();
        self.run().await
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.kill();
    }
}
