//! A throwaway PostgreSQL server, and a fresh database per test on it.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use sqlx::Connection;

/// A PostgreSQL server: ours (stopped on drop) or `PANTAU_DATABASE_URL`'s.
pub struct PgServer {
    /// URL of the `postgres` maintenance database.
    pub url: String,
    owned: Option<Owned>,
}

/// What it takes to stop our server and start it again as it was.
struct Owned {
    data: PathBuf,
    /// The server's options (port, socket dir), the same on every start.
    opts: String,
    log: PathBuf,
    /// Who the server runs as (we are root), else `None`.
    user: Option<String>,
    running: bool,
    _dir: tempfile::TempDir,
}

/// A database created for one test.
pub struct TestDatabase {
    pub url: String,
    pub name: String,
}

fn pg_bin(tool: &str) -> PathBuf {
    if let Ok(dir) = std::env::var("PANTAU_PG_BIN") {
        return Path::new(&dir).join(tool);
    }
    if let Ok(paths) = std::env::var("PATH") {
        for p in std::env::split_paths(&paths) {
            if p.join("initdb").exists() {
                return p.join(tool);
            }
        }
    }
    if let Ok(entries) = std::fs::read_dir("/usr/lib/postgresql") {
        let mut versions: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
        versions.sort();
        if let Some(v) = versions.last() {
            return v.join("bin").join(tool);
        }
    }
    PathBuf::from(tool)
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// The unprivileged user PostgreSQL runs as when we are root.
fn pg_user() -> String {
    let has = |u: &str| {
        Command::new("id")
            .arg(u)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if has("postgres") {
        "postgres"
    } else {
        "nobody"
    }
    .to_owned()
}

fn run_as(user: Option<&str>, program: &Path, args: &[&str]) -> anyhow::Result<()> {
    let mut cmd = match user {
        Some(u) => {
            let mut c = Command::new("runuser");
            c.arg("-u").arg(u).arg("--").arg(program);
            c
        }
        None => Command::new(program),
    };
    let out = cmd
        .args(args)
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("failed to run {}", program.display()))?;
    if !out.status.success() {
        bail!(
            "{} {:?} failed: {}{}",
            program.display(),
            args,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}

/// `pg_ctl start` on `data` with `opts`, waiting until it is up; on failure
/// the error carries the last lines PostgreSQL logged.
fn pg_ctl_start(user: Option<&str>, data: &Path, opts: &str, log: &Path) -> anyhow::Result<()> {
    run_as(
        user,
        &pg_bin("pg_ctl"),
        &[
            "-D",
            &data.to_string_lossy(),
            "-o",
            opts,
            "-l",
            &log.to_string_lossy(),
            "-w",
            "start",
        ],
    )
    .map_err(|e| {
        let said = std::fs::read_to_string(log).unwrap_or_default();
        let tail: Vec<&str> = said.lines().rev().take(5).collect();
        anyhow::anyhow!(
            "{e}; postgres said: {}",
            tail.into_iter().rev().collect::<Vec<_>>().join(" | ")
        )
    })
}

impl PgServer {
    /// `PANTAU_DATABASE_URL` if set, else a fresh server.
    pub async fn start() -> anyhow::Result<Self> {
        if let Ok(url) = std::env::var("PANTAU_DATABASE_URL") {
            return Ok(Self { url, owned: None });
        }
        Self::spawn().await
    }

    pub async fn spawn() -> anyhow::Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix("pantau-pg-")
            .tempdir()
            .context("failed to create pg temp dir")?;
        let data = dir.path().join("data");
        let user = is_root().then(|| {
            std::env::var("PANTAU_PG_RUNAS")
                .ok()
                .filter(|u| !u.is_empty())
                .unwrap_or_else(pg_user)
        });
        if user.is_some() {
            // The unprivileged user must own the data dir and reach it.
            let status = Command::new("chown")
                .arg("-R")
                .arg(user.as_deref().unwrap_or("postgres"))
                .arg(dir.path())
                .status()?;
            if !status.success() {
                bail!("failed to chown {}", dir.path().display());
            }
            let _ = Command::new("chmod").arg("755").arg(dir.path()).status();
        }
        let data_s = data.to_string_lossy().to_string();
        run_as(
            user.as_deref(),
            &pg_bin("initdb"),
            &[
                "-D",
                &data_s,
                "-U",
                "pantau",
                "--auth=trust",
                "--no-locale",
                "--encoding=UTF8",
                "--no-sync",
            ],
        )?;
        let log = dir.path().join("pg.log");
        let opts = |port: u16| {
            format!(
                "-c listen_addresses=127.0.0.1 -p {port} -k {} -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200",
                dir.path().display()
            )
        };
        // The free port can be taken by another test's server before this
        // one binds it: start again on another, a few times, before giving
        // up with what PostgreSQL said.
        let mut port = crate::free_port();
        for attempt in 1..=3 {
            match pg_ctl_start(user.as_deref(), &data, &opts(port), &log) {
                Ok(()) => break,
                Err(e) if attempt == 3 => return Err(e),
                Err(e) => {
                    tracing::warn!(port, error = %e, "postgres did not start; trying another port");
                    port = crate::free_port();
                }
            }
        }
        let url = format!("postgres://pantau@127.0.0.1:{port}/postgres");
        let server = Self {
            url,
            owned: Some(Owned {
                data,
                opts: opts(port),
                log,
                user,
                running: true,
                _dir: dir,
            }),
        };
        server.wait_ready().await?;
        Ok(server)
    }

    /// Waits until the server accepts connections.
    async fn wait_ready(&self) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(20);
        while sqlx::PgConnection::connect(&self.url).await.is_err() {
            if Instant::now() > deadline {
                bail!("postgres did not become ready on {}", self.url);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(())
    }

    /// Stops our server the way an operator restarts one (`pg_ctl stop -m
    /// fast`: sessions are disconnected, transactions in flight roll back),
    /// keeping its data dir and port for [`PgServer::start_again`]. Fails on
    /// a shared server (`PANTAU_DATABASE_URL`), which is not ours to stop.
    pub fn stop(&mut self) -> anyhow::Result<()> {
        let Some(owned) = self.owned.as_mut().filter(|o| o.running) else {
            bail!("this PostgreSQL server is not ours to stop or is stopped already");
        };
        run_as(
            owned.user.as_deref(),
            &pg_bin("pg_ctl"),
            &[
                "-D",
                &owned.data.to_string_lossy(),
                "-m",
                "fast",
                "-w",
                "stop",
            ],
        )?;
        owned.running = false;
        Ok(())
    }

    /// Starts a server stopped by [`PgServer::stop`] again, on the same
    /// port and data dir, and waits until it accepts connections (clients
    /// reconnect to the same URL).
    pub async fn start_again(&mut self) -> anyhow::Result<()> {
        let Some(owned) = self.owned.as_mut().filter(|o| !o.running) else {
            bail!("this PostgreSQL server is not ours to start or is running already");
        };
        pg_ctl_start(owned.user.as_deref(), &owned.data, &owned.opts, &owned.log)?;
        owned.running = true;
        self.wait_ready().await
    }

    /// Creates an empty database with a unique name.
    pub async fn database(&self, prefix: &str) -> anyhow::Result<TestDatabase> {
        let name = format!("{prefix}_{}", uuid::Uuid::new_v4().simple());
        let mut conn = sqlx::PgConnection::connect(&self.url)
            .await
            .with_context(|| format!("failed to connect to {}", self.url))?;
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
            .execute(&mut conn)
            .await
            .context("failed to create test database")?;
        let base = self
            .url
            .rsplit_once('/')
            .map(|(b, _)| b.to_owned())
            .unwrap_or_else(|| self.url.clone());
        Ok(TestDatabase {
            url: format!("{base}/{name}"),
            name,
        })
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        // Stopped or not (a failed start may have left one running): a stop
        // of a stopped server only fails.
        if let Some(owned) = self.owned.take() {
            let _ = run_as(
                owned.user.as_deref(),
                &pg_bin("pg_ctl"),
                &[
                    "-D",
                    &owned.data.to_string_lossy(),
                    "-m",
                    "immediate",
                    "stop",
                ],
            );
        }
    }
}
