//! Rates, latency summaries and ratios.

use std::time::Duration;

use serde_json::{Value, json};

pub fn log(msg: &str) {
    eprintln!("bench: {msg}");
}

/// Per second, rounded to a whole number.
pub fn per_sec(n: usize, took: Duration) -> f64 {
    (n as f64 / took.as_secs_f64().max(1e-9)).round()
}

/// p50/p90/p99/max/mean in milliseconds of a histogram in microseconds.
pub fn latency_ms(h: &hdrhistogram::Histogram<u64>) -> Value {
    let ms = |us: u64| (us as f64 / 10.0).round() / 100.0;
    json!({
        "count": h.len(),
        "p50": ms(h.value_at_quantile(0.50)),
        "p90": ms(h.value_at_quantile(0.90)),
        "p99": ms(h.value_at_quantile(0.99)),
        "max": ms(h.max()),
        "mean": (h.mean() / 10.0).round() / 100.0,
    })
}

fn ratio(a: Option<f64>, b: Option<f64>) -> Value {
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => json!((a / b * 1000.0).round() / 1000.0),
        _ => Value::Null,
    }
}

/// How the identity figures compare with the raw ceilings.
pub fn ratios(nats: &Value, pg: &Value, identity: &Value) -> Value {
    let import = identity["import_workers_per_sec"].as_f64();
    let durable = &nats["durable"];
    let single_publish_ms = durable["publish_sequential_per_sec"]
        .as_f64()
        .filter(|r| *r > 0.0)
        .map(|r| 1000.0 / r);
    json!({
        "import_vs_eventstore_batched":
            ratio(import, durable["eventstore_batched_per_sec"].as_f64()),
        "import_vs_raw_publish_pipelined":
            ratio(import, durable["publish_pipelined_per_sec"].as_f64()),
        "import_vs_raw_publish_sequential":
            ratio(import, durable["publish_sequential_per_sec"].as_f64()),
        "import_vs_pg_insert_concurrent_16":
            ratio(import, pg["insert_concurrent_16_per_sec"].as_f64()),
        "register_p50_in_sequential_publishes":
            ratio(identity["register_latency_ms"]["p50"].as_f64(), single_publish_ms),
    })
}

/// How the attendance figures compare with the raw JetStream ceilings
/// measured in the same run.
pub fn attendance_ratios(nats: &Value, attendance: &Value) -> Value {
    let durable = &nats["durable"];
    let checkins = attendance["check_in_closed_loop"]["per_sec"].as_f64();
    let scans = attendance["ceremony_scans_per_sec"].as_f64();
    json!({
        "check_in_closed_loop_vs_eventstore_batched":
            ratio(checkins, durable["eventstore_batched_per_sec"].as_f64()),
        "check_in_closed_loop_vs_raw_publish_pipelined":
            ratio(checkins, durable["publish_pipelined_per_sec"].as_f64()),
        "ceremony_scans_vs_raw_publish_pipelined":
            ratio(scans, durable["publish_pipelined_per_sec"].as_f64()),
        "ceremony_scans_vs_raw_publish_sequential":
            ratio(scans, durable["publish_sequential_per_sec"].as_f64()),
    })
}
