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

pub fn ratio(a: Option<f64>, b: Option<f64>) -> Value {
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
        "check_in_cpu_budget": cpu_budget(nats, attendance),
    })
}

/// How the activity figures compare with the raw JetStream ceilings
/// measured in the same run. A report is one event; while reports come in,
/// the supervisors' approvals add one event each.
pub fn activity_ratios(nats: &Value, activity: &Value) -> Value {
    let durable = &nats["durable"];
    let reports = activity["reports_per_sec"].as_f64();
    let events = activity["events_during_reports_per_sec"].as_f64();
    json!({
        "reports_vs_eventstore_batched":
            ratio(reports, durable["eventstore_batched_per_sec"].as_f64()),
        "reports_vs_raw_publish_pipelined":
            ratio(reports, durable["publish_pipelined_per_sec"].as_f64()),
        "events_vs_eventstore_batched":
            ratio(events, durable["eventstore_batched_per_sec"].as_f64()),
        "report_cpu_us_vs_durable_append_cpu_us": ratio(
            activity["reports"]["machine_cpu"]["cpu_us_per_op"].as_f64(),
            durable["eventstore_batched_machine_cpu"]["cpu_us_per_op"].as_f64(),
        ),
    })
}

/// What one check-in costs in machine CPU against what its unavoidable
/// parts cost, each measured in this run: the gRPC round trip with the same
/// clients and headers doing nothing, verifying a new token's signature, and
/// one durable event store append. `ceiling_per_sec` is how many check-ins
/// a second those parts alone would allow with every core busy.
fn cpu_budget(nats: &Value, attendance: &Value) -> Value {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
    let grpc = attendance["grpc_floor_open_loop"]["machine_cpu"]["cpu_us_per_op"].as_f64();
    let token = attendance["token_verify_cpu_us"].as_f64();
    let append = nats["durable"]["eventstore_batched_machine_cpu"]["cpu_us_per_op"].as_f64();
    let (Some(grpc), Some(token), Some(append)) = (grpc, token, append) else {
        return Value::Null;
    };
    let floor = grpc + token + append;
    json!({
        "grpc_round_trip_us": grpc,
        "token_verify_us": token,
        "durable_append_us": append,
        "unavoidable_us": (floor * 10.0).round() / 10.0,
        "check_in_new_token_us":
            attendance["check_in_open_loop"]["machine_cpu"]["cpu_us_per_op"],
        "check_in_cached_token_us":
            attendance["check_in_closed_loop"]["machine_cpu"]["cpu_us_per_op"],
        "ceiling_per_sec": (cpus * 1e6 / floor).round(),
    })
}

/// Busy and total CPU time of the whole machine (all processes: the load
/// generator, the services, NATS and PostgreSQL), from `/proc/stat`, in
/// clock ticks. `None` where there is no `/proc`.
#[derive(Clone, Copy)]
pub struct CpuSample {
    busy: u64,
    total: u64,
}

impl CpuSample {
    pub fn now() -> Option<CpuSample> {
        let stat = std::fs::read_to_string("/proc/stat").ok()?;
        let line = stat.lines().next()?.strip_prefix("cpu ")?;
        let ticks: Vec<u64> = line
            .split_whitespace()
            .map(str::parse)
            .collect::<Result<_, _>>()
            .ok()?;
        // user nice system idle iowait irq softirq steal ...
        let idle = ticks.get(3)? + ticks.get(4).copied().unwrap_or(0);
        let total: u64 = ticks.iter().take(8).sum();
        Some(CpuSample {
            busy: total.saturating_sub(idle),
            total,
        })
    }

    /// Share of the machine busy since `self` (0-100), and the CPU time
    /// spent per operation in microseconds over `ops` operations.
    pub fn since(self, ops: usize) -> Value {
        let Some(end) = CpuSample::now() else {
            return Value::Null;
        };
        let (busy, total) = (end.busy - self.busy, end.total - self.total);
        if total == 0 || ops == 0 {
            return Value::Null;
        }
        let share = busy as f64 / total as f64;
        // /proc/stat counts in USER_HZ ticks, 100 a second on Linux.
        let busy_seconds = busy as f64 / 100.0;
        json!({
            "busy_pct": (share * 1000.0).round() / 10.0,
            "cpu_us_per_op": (busy_seconds / ops as f64 * 1e7).round() / 10.0,
        })
    }
}

/// How the fraud figures compare with the raw JetStream ceilings: the
/// consume of the same streams in the fraud part, and the durable appends
/// of the raw part (can a replica keep up with the fastest writes?).
pub fn fraud_ratios(nats: &Value, fraud: &Value) -> Value {
    let raw = fraud["raw_consume"]["per_sec"].as_f64();
    let fold = fraud["fold"]["events_per_sec"].as_f64();
    let end_to_end = fraud["end_to_end"]["events_per_sec"].as_f64();
    json!({
        "fold_vs_raw_consume": ratio(fold, raw),
        "end_to_end_vs_raw_consume": ratio(end_to_end, raw),
        "fold_vs_in_process_fold":
            ratio(fold, fraud["in_process"]["fold_events_per_sec"].as_f64()),
        "fold_vs_durable_eventstore_batched":
            ratio(fold, nats["durable"]["eventstore_batched_per_sec"].as_f64()),
    })
}

/// Resident memory in MB, now and at its peak, of this process and of the
/// nats-server processes it started, from `/proc`; null where there is none.
pub fn memory_mb() -> Value {
    let Some((rss, peak)) = status_kb("self") else {
        return Value::Null;
    };
    let me = std::process::id().to_string();
    let (mut nats_rss, mut nats_peak) = (0u64, 0u64);
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let pid = entry.file_name().to_string_lossy().into_owned();
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // pid (comm) state ppid ...
        let Some((comm, rest)) = stat.split_once(" (").and_then(|(_, r)| r.rsplit_once(") "))
        else {
            continue;
        };
        let ppid = rest.split_whitespace().nth(1);
        if comm == "nats-server"
            && ppid == Some(me.as_str())
            && let Some((r, p)) = status_kb(&pid)
        {
            nats_rss += r;
            nats_peak += p;
        }
    }
    let mb = |kb: u64| kb / 1024;
    json!({
        "bench_rss": mb(rss),
        "bench_peak_rss": mb(peak),
        "nats_server_rss": mb(nats_rss),
        "nats_server_peak_rss": mb(nats_peak),
    })
}

/// VmRSS and VmHWM of a process, in kB.
fn status_kb(pid: &str) -> Option<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}

/// Reads `stores` end to end, one after the other, with an ordered
/// consumer, counting messages (no decoding): the raw consume ceiling.
pub async fn read_streams(
    stores: &[&pantau_eventstore::EventStore],
) -> anyhow::Result<(u64, Duration)> {
    use async_nats::jetstream::consumer::{DeliverPolicy, pull::OrderedConfig};
    use futures::StreamExt;
    let start = std::time::Instant::now();
    let mut n = 0u64;
    for store in stores {
        let last = store.last_sequence().await?;
        if last == 0 {
            continue;
        }
        let stream = store.jetstream().get_stream(store.stream_name()).await?;
        let consumer = stream
            .create_consumer(OrderedConfig {
                deliver_policy: DeliverPolicy::All,
                ..Default::default()
            })
            .await?;
        let mut messages = consumer.messages().await?;
        while let Some(m) = messages.next().await {
            let m = m?;
            n += 1;
            if m.info().map(|i| i.stream_sequence).unwrap_or(0) >= last {
                break;
            }
        }
    }
    Ok((n, start.elapsed()))
}

/// `msg` with `authorization: Bearer <token>`.
pub fn authed<T>(token: &str, msg: T) -> anyhow::Result<tonic::Request<T>> {
    let mut req = tonic::Request::new(msg);
    req.metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse()?);
    Ok(req)
}
