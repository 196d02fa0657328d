//! A throwaway NATS JetStream cluster of several servers on loopback, each
//! with its own store, routed to the others: for tests of replicated streams
//! and of what survives a server being killed and restarted.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

/// One server of a [`NatsCluster`]: its config and store outlive a kill.
pub struct ClusterNode {
    pub name: String,
    pub url: String,
    conf: PathBuf,
    child: Option<Child>,
}

pub struct NatsCluster {
    pub nodes: Vec<ClusterNode>,
    _dir: tempfile::TempDir,
}

impl ClusterNode {
    fn spawn(&mut self) -> anyhow::Result<()> {
        let bin = crate::nats::binary();
        let child = Command::new(&bin)
            .arg("-c")
            .arg(&self.conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("failed to start {} for {}", bin.display(), self.name))?;
        self.child = Some(child);
        Ok(())
    }

    /// Whether the server is running (not killed).
    pub fn is_up(&self) -> bool {
        self.child.is_some()
    }

    /// Kills the server abruptly, keeping its store for a restart.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl NatsCluster {
    /// `size` servers (3 for a quorum that survives one loss), durable
    /// (`sync_interval: always`), ready once JetStream has a meta leader.
    pub async fn start(size: usize) -> anyhow::Result<NatsCluster> {
        let dir = tempfile::tempdir().context("failed to create the cluster's temp dir")?;
        let ports: Vec<(u16, u16)> = (0..size)
            .map(|_| (crate::free_port(), crate::free_port()))
            .collect();
        let routes = ports
            .iter()
            .map(|(_, route)| format!("nats-route://127.0.0.1:{route}"))
            .collect::<Vec<_>>()
            .join(", ");
        let mut nodes = Vec::with_capacity(size);
        for (i, (client, route)) in ports.iter().enumerate() {
            let name = format!("n{}", i + 1);
            let conf = dir.path().join(format!("{name}.conf"));
            std::fs::write(
                &conf,
                format!(
                    "server_name: {name}\nlisten: 127.0.0.1:{client}\n\
                     jetstream {{\n  store_dir: \"{}\"\n  sync_interval: always\n}}\n\
                     cluster {{\n  name: pantau-test\n  listen: 127.0.0.1:{route}\n  routes: [{routes}]\n}}\n",
                    dir.path().join(&name).display()
                ),
            )?;
            nodes.push(ClusterNode {
                name,
                url: format!("nats://127.0.0.1:{client}"),
                conf,
                child: None,
            });
        }
        let mut cluster = NatsCluster { nodes, _dir: dir };
        for node in &mut cluster.nodes {
            node.spawn()?;
        }
        for i in 0..size {
            cluster.wait_ready(i).await?;
        }
        Ok(cluster)
    }

    /// Every server's URL, comma-separated, as `PANTAU_NATS_URL` takes them.
    pub fn urls(&self) -> String {
        self.nodes
            .iter()
            .map(|n| n.url.as_str())
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Restarts node `i` on its own config and store, and waits until it
    /// serves JetStream again.
    pub async fn restart(&mut self, i: usize) -> anyhow::Result<()> {
        self.nodes[i].kill();
        self.nodes[i].spawn()?;
        self.wait_ready(i).await
    }

    /// Waits until node `i` answers JetStream requests (the cluster has a
    /// meta leader that it knows).
    async fn wait_ready(&self, i: usize) -> anyhow::Result<()> {
        let url = &self.nodes[i].url;
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(client) = async_nats::connect(url).await {
                let js = async_nats::jetstream::new(client);
                if js.query_account().await.is_ok() {
                    return Ok(());
                }
            }
            if Instant::now() > deadline {
                bail!("{} did not serve JetStream within 30 s", self.nodes[i].name);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for NatsCluster {
    fn drop(&mut self) {
        for node in &mut self.nodes {
            node.kill();
        }
    }
}
