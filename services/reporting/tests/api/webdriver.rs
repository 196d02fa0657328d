//! Just enough of a W3C WebDriver client to drive headless Chromium through
//! chromedriver: a session, navigation, scripts, clicks, window size and
//! screenshots. The browser and driver are Debian's `chromium` and
//! `chromium-driver` (scripts/tools.sh installs them; PANTAU_CHROMIUM and
//! PANTAU_CHROMEDRIVER name them, else they are looked up on PATH).

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{Value, json};

/// The element reference key the W3C protocol uses.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

pub struct Browser {
    driver: Child,
    http: reqwest::Client,
    session: String,
    profile: PathBuf,
}

fn tool(var: &str, names: &[&str]) -> anyhow::Result<String> {
    if let Ok(p) = std::env::var(var)
        && !p.is_empty()
    {
        return Ok(p);
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path) {
        for n in names {
            let p = dir.join(n);
            if p.is_file() {
                return Ok(p.display().to_string());
            }
        }
    }
    anyhow::bail!(
        "{} not found: set {var} or run the tests through `make test`, which installs \
         Debian's chromium and chromium-driver (scripts/tools.sh chromium)",
        names.join(" or ")
    )
}

impl Browser {
    /// Starts chromedriver on a free port and opens a headless Chromium
    /// session with a fresh profile and a window of `width` × `height`.
    pub async fn start(width: u32, height: u32) -> anyhow::Result<Browser> {
        let chromium = tool("PANTAU_CHROMIUM", &["chromium", "chromium-browser"])?;
        let chromedriver = tool("PANTAU_CHROMEDRIVER", &["chromedriver"])?;
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let driver = Command::new(&chromedriver)
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| anyhow::anyhow!("starting {chromedriver}: {e}"))?;
        let profile =
            std::env::temp_dir().join(format!("pantau-chromium-{}", uuid::Uuid::new_v4()));
        let mut b = Browser {
            driver,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(90))
                .build()?,
            session: format!("http://127.0.0.1:{port}"),
            profile,
        };
        let base = b.session.clone();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let ready = match b.http.get(format!("{base}/status")).send().await {
                Ok(r) => r
                    .json::<Value>()
                    .await
                    .ok()
                    .and_then(|v| v["value"]["ready"].as_bool()),
                Err(_) => None,
            };
            if ready == Some(true) {
                break;
            }
            if let Some(status) = b.driver.try_wait()? {
                anyhow::bail!("{chromedriver} exited at start: {status}");
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "{chromedriver} did not become ready"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium,
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--no-first-run", "--disable-background-networking", "--disable-component-update",
                    "--disable-sync", "--disable-quic", "--hide-scrollbars",
                    format!("--user-data-dir={}", b.profile.display()),
                    format!("--window-size={width},{height}"),
                ],
            },
        }}});
        let resp: Value = b
            .http
            .post(format!("{base}/session"))
            .json(&caps)
            .send()
            .await?
            .json()
            .await?;
        let id = resp["value"]["sessionId"]
            .as_str()
            .ok_or_else(|| anyhow::anyhow!("chromedriver refused the session: {resp}"))?;
        b.session = format!("{base}/session/{id}");
        Ok(b)
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Value,
    ) -> anyhow::Result<Value> {
        let url = format!("{}{path}", self.session);
        let mut req = self.http.request(method.clone(), &url);
        if method != reqwest::Method::GET {
            req = req.json(&body);
        }
        let resp = req.send().await?;
        let status = resp.status();
        let v: Value = resp.json().await?;
        anyhow::ensure!(
            status.is_success(),
            "{method} {path}: {status} {}",
            v["value"]
        );
        Ok(v["value"].clone())
    }

    pub async fn goto(&self, url: &str) -> anyhow::Result<()> {
        self.call(reqwest::Method::POST, "/url", json!({ "url": url }))
            .await?;
        Ok(())
    }

    /// Runs a script in the page (its body: `return …` gives the value).
    pub async fn eval(&self, script: &str) -> anyhow::Result<Value> {
        self.call(
            reqwest::Method::POST,
            "/execute/sync",
            json!({ "script": script, "args": [] }),
        )
        .await
    }

    /// Polls a script until it returns true.
    pub async fn wait_for(&self, what: &str, script: &str, within: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + within;
        loop {
            if self.eval(script).await? == Value::Bool(true) {
                return Ok(());
            }
            if Instant::now() > deadline {
                let page = self
                    .eval("return document.body.dataset.state + ': ' + document.querySelector('#message').textContent")
                    .await
                    .unwrap_or_default();
                anyhow::bail!("waited {within:?} for {what}; the page says {page}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The element a CSS selector finds: its WebDriver id.
    async fn find(&self, css: &str) -> anyhow::Result<String> {
        let e = self
            .call(
                reqwest::Method::POST,
                "/element",
                json!({ "using": "css selector", "value": css }),
            )
            .await?;
        e[ELEMENT]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| anyhow::anyhow!("no element {css}: {e}"))
    }

    /// Clicks the element a CSS selector finds, as a user would.
    pub async fn click(&self, css: &str) -> anyhow::Result<()> {
        let id = self.find(css).await?;
        self.call(
            reqwest::Method::POST,
            &format!("/element/{id}/click"),
            json!({}),
        )
        .await?;
        Ok(())
    }

    /// Types `text` into the element a CSS selector finds, key by key.
    pub async fn type_into(&self, css: &str, text: &str) -> anyhow::Result<()> {
        let id = self.find(css).await?;
        self.call(
            reqwest::Method::POST,
            &format!("/element/{id}/value"),
            json!({ "text": text }),
        )
        .await?;
        Ok(())
    }

    pub async fn resize(&self, width: u32, height: u32) -> anyhow::Result<()> {
        self.call(
            reqwest::Method::POST,
            "/window/rect",
            json!({ "width": width, "height": height }),
        )
        .await?;
        Ok(())
    }

    /// A PNG of the viewport.
    pub async fn screenshot(&self) -> anyhow::Result<Vec<u8>> {
        let v = self
            .call(reqwest::Method::GET, "/screenshot", Value::Null)
            .await?;
        let b64 = v
            .as_str()
            .ok_or_else(|| anyhow::anyhow!("screenshot: {v}"))?;
        Ok(base64::engine::general_purpose::STANDARD.decode(b64)?)
    }

    /// Ends the session (chromedriver closes the browser); dropping then
    /// stops the driver and removes the profile.
    pub async fn quit(self) {
        let _ = self.http.delete(&self.session).send().await;
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // A failed test still stops the driver and the browser it started
        // (found by its profile, which no other process names).
        let _ = self.driver.kill();
        let _ = self.driver.wait();
        let _ = Command::new("pkill")
            .arg("-f")
            .arg(self.profile.display().to_string())
            .status();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}
