//! Many clients for a fixed time, closed loop: each calls again as soon as
//! its last call returns, so the rate is what the server sustains with
//! that many callers waiting and a latency counts from the call's send.
//! Latency per endpoint and overall, errors counted, not fatal.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde_json::{Map, Value, json};

use crate::util::{CpuSample, latency_ms, per_sec};

/// A public endpoint: its name in the figures and the paths it is asked
/// by (one per agency for an agency's endpoints).
pub struct Endpoint {
    pub name: &'static str,
    pub paths: Vec<String>,
    /// Its share of a mix, in slots per path set.
    pub weight: usize,
}

/// The mix as (endpoint, path) slots: each endpoint `weight` times,
/// cycling through its paths.
pub fn slots(endpoints: &[Endpoint]) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    for (i, e) in endpoints.iter().enumerate() {
        for k in 0..e.weight * e.paths.len() {
            out.push((i, e.paths[k % e.paths.len()].clone()));
        }
    }
    out
}

/// `clients` callers for `duration`: `call(client, k)` makes the client's
/// `k`-th call and says which endpoint it was and whether it succeeded.
pub async fn drive<F, Fut>(
    clients: usize,
    duration: Duration,
    names: &[&str],
    call: F,
) -> anyhow::Result<Value>
where
    F: Fn(usize, usize) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = (usize, bool)> + Send + 'static,
{
    let n = names.len();
    let cpu = CpuSample::now();
    let start = Instant::now();
    let end = start + duration;
    let mut tasks = tokio::task::JoinSet::new();
    for c in 0..clients {
        let call = call.clone();
        tasks.spawn(async move {
            let mut hists = vec![Histogram::<u64>::new(3)?; n];
            let mut errors = 0usize;
            let mut k = 0;
            while Instant::now() < end {
                let sent = Instant::now();
                let (endpoint, ok) = call(c, k).await;
                hists[endpoint].record(sent.elapsed().as_micros() as u64)?;
                errors += usize::from(!ok);
                k += 1;
            }
            anyhow::Ok((hists, errors))
        });
    }
    let mut hists = vec![Histogram::<u64>::new(3)?; n];
    let mut errors = 0;
    while let Some(r) = tasks.join_next().await {
        let (h, e) = r??;
        for (all, one) in hists.iter_mut().zip(h) {
            all.add(one)?;
        }
        errors += e;
    }
    let took = start.elapsed();
    let mut all = Histogram::<u64>::new(3)?;
    for h in &hists {
        all.add(h)?;
    }
    let calls = all.len() as usize;
    let mut doc = json!({
        "loop": "closed",
        "clients": clients,
        "seconds": (took.as_secs_f64() * 100.0).round() / 100.0,
        "requests": calls,
        "errors": errors,
        "per_sec": per_sec(calls, took),
        "latency_ms": latency_ms(&all),
        "machine_cpu": cpu.map_or(Value::Null, |c| c.since(calls)),
    });
    if n > 1 {
        doc["per_endpoint"] = per_endpoint(names, &hists);
    }
    Ok(doc)
}

/// Per endpoint: count, p50, p99 and max in milliseconds.
pub fn per_endpoint(names: &[&str], hists: &[Histogram<u64>]) -> Value {
    let mut out = Map::new();
    for (name, h) in names.iter().zip(hists) {
        let l = latency_ms(h);
        let row = json!({ "count": l["count"], "p50": l["p50"], "p99": l["p99"], "max": l["max"] });
        out.insert((*name).to_owned(), row);
    }
    Value::Object(out)
}

/// GETs `base` + a slot's path, the mix spread so clients start at
/// different places in it; a success is a 200 with its whole body read.
pub fn http_mix(
    http: reqwest::Client,
    base: String,
    slots: Vec<(usize, String)>,
) -> impl Fn(usize, usize) -> futures::future::BoxFuture<'static, (usize, bool)> + Clone + Send + 'static
{
    let slots = Arc::new(slots);
    let base = Arc::new(base);
    move |c, k| {
        let (http, base, slots) = (http.clone(), base.clone(), slots.clone());
        Box::pin(async move {
            let (endpoint, path) = &slots[(c * 7 + k) % slots.len()];
            (
                *endpoint,
                get(&http, &format!("{base}{path}")).await.is_ok(),
            )
        })
    }
}

/// A GET that must answer 200; returns the body's size.
pub async fn get(http: &reqwest::Client, url: &str) -> anyhow::Result<usize> {
    let resp = http.get(url).send().await?;
    let status = resp.status();
    let body = resp.bytes().await?;
    anyhow::ensure!(status.is_success(), "GET {url}: {status}");
    Ok(body.len())
}
