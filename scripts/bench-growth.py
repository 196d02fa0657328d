#!/usr/bin/env python3
"""`make bench-growth`: how cost grows with the province.

Runs the bench (tools/bench, `pantau-bench`) once per province size and
prints ONE JSON document on stdout:

    {"sizes": [{"workers": N, "seconds": wall, "env": {...}, "report": <bench JSON>}, ...],
     "growth": [{"figure": ..., "unit": ..., "values": [{"workers": N, "size": n,
                 "value": v, "per_worker_us": c}, ...]}, ...]}

and, at the end, a Markdown table of `growth` on stderr. Progress (size k of
n, elapsed time, the bench's own progress) goes to stderr.

For a size N it sets PANTAU_BENCH_WORKERS=N, PANTAU_BENCH_CHECKINS=N,
PANTAU_BENCH_REPORTS=N/2, PANTAU_BENCH_SCORING_WORKERS=N,
PANTAU_BENCH_SCORING_CLOSE_WORKERS=min(N, 10000), PANTAU_BENCH_FRAUD_WORKERS=N,
PANTAU_BENCH_REPORTING_WORKERS=min(N, 20000) and PANTAU_BENCH_REPORTING_SECS=5;
everything else keeps the bench's default. PANTAU_BENCH_ONLY passes through.

Environment:
  PANTAU_BENCH_SIZES   comma-separated sizes (default 2000,20000,100000)
  PANTAU_BENCH_BIN     the bench binary (default $CARGO_TARGET_DIR/release/pantau-bench,
                       else target/release/pantau-bench)
  PANTAU_BENCH_GROWTH_CLOSE_CAP / _REPORTING_CAP  the caps above (10000 / 20000)
  PANTAU_BENCH_GROWTH_RETRIES  runs of a size that fails are retried this often (default 1;
                       a raw-ceiling publish can time out while the machine is busy)

`bench-growth.py --merge a.json b.json ...` prints one document and table from
earlier outputs (say, sizes run separately with different PANTAU_BENCH_ONLY).
"""

import json
import os
import subprocess
import sys
import threading
import time

DEFAULT_SIZES = "2000,20000,100000"


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def bench_binary():
    explicit = os.environ.get("PANTAU_BENCH_BIN")
    if explicit:
        return explicit
    target = os.environ.get("CARGO_TARGET_DIR") or os.path.join(
        os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "target"
    )
    return os.path.join(target, "release", "pantau-bench")


def sizes():
    raw = os.environ.get("PANTAU_BENCH_SIZES", "") or DEFAULT_SIZES
    out = []
    for part in raw.split(","):
        part = part.strip().replace("_", "")
        if not part:
            continue
        n = int(part)
        if n <= 0:
            raise SystemExit(f"PANTAU_BENCH_SIZES: {part!r} is not a positive count")
        out.append(n)
    if not out:
        raise SystemExit("PANTAU_BENCH_SIZES: no sizes")
    return out


def env_for(n):
    close_cap = int(os.environ.get("PANTAU_BENCH_GROWTH_CLOSE_CAP", "10000"))
    reporting_cap = int(os.environ.get("PANTAU_BENCH_GROWTH_REPORTING_CAP", "20000"))
    return {
        "PANTAU_BENCH_WORKERS": str(n),
        "PANTAU_BENCH_CHECKINS": str(n),
        "PANTAU_BENCH_REPORTS": str(max(1, n // 2)),
        "PANTAU_BENCH_SCORING_WORKERS": str(n),
        "PANTAU_BENCH_SCORING_CLOSE_WORKERS": str(min(n, close_cap)),
        "PANTAU_BENCH_FRAUD_WORKERS": str(n),
        "PANTAU_BENCH_REPORTING_WORKERS": str(min(n, reporting_cap)),
        "PANTAU_BENCH_REPORTING_SECS": "5",
    }


def fmt_elapsed(s):
    s = int(s)
    return f"{s // 60}m{s % 60:02d}s" if s >= 60 else f"{s}s"


def run_one(binary, n, k, total, started_all):
    env = dict(os.environ)
    extra = env_for(n)
    env.update(extra)
    only = os.environ.get("PANTAU_BENCH_ONLY", "")
    log(
        f"[bench-growth] size {k}/{total}: {n:,} workers"
        + (f" (PANTAU_BENCH_ONLY={only})" if only else "")
        + f"; {' '.join(f'{a}={b}' for a, b in extra.items())}"
    )
    started = time.monotonic()
    proc = subprocess.Popen(
        [binary], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )

    def relay():
        for line in proc.stderr:
            now = time.monotonic()
            log(
                f"[{k}/{total} {n:,} | {fmt_elapsed(now - started)}, "
                f"total {fmt_elapsed(now - started_all)}] {line.rstrip()}"
            )

    relayer = threading.Thread(target=relay, daemon=True)
    relayer.start()
    stdout = proc.stdout.read()
    rc = proc.wait()
    relayer.join()
    took = time.monotonic() - started
    entry = {"workers": n, "seconds": round(took, 1), "env": extra, "only": only or None}
    if rc != 0:
        log(f"[bench-growth] size {k}/{total} ({n:,}) FAILED with exit code {rc} after {fmt_elapsed(took)}")
        entry["error"] = f"exit code {rc}"
        entry["report"] = None
        return entry
    try:
        entry["report"] = json.loads(stdout)
    except json.JSONDecodeError as e:
        entry["error"] = f"bench output is not JSON: {e}"
        entry["report"] = None
        entry["stdout"] = stdout[-4000:]
    log(f"[bench-growth] size {k}/{total} ({n:,}) done in {fmt_elapsed(took)}")
    return entry


def get(doc, path):
    cur = doc
    for key in path.split("."):
        if not isinstance(cur, dict) or key not in cur:
            return None
        if cur.get("count") == 0:  # an empty latency histogram: nothing measured
            return None
        cur = cur[key]
    return cur if isinstance(cur, (int, float)) and not isinstance(cur, bool) else None


# Key figures. Each: (group, label, unit, path to the value, what "per worker"
# divides by: an env var naming that part's size, and how the cost is derived).
#   cost "seconds": value is seconds; cost = value / size in µs.
#   cost "rate": value is items/s over `items` items; cost = wall µs per worker
#                = (items / rate) / size.  `items` is a path, or an env var name.
#   cost None: no per-worker cost (a ceiling, a latency, a ratio).
FIGURES = [
    ("ceilings", "raw durable JetStream, single publishes", "msg/s",
     "raw_nats.durable.publish_sequential_per_sec", None, None),
    ("ceilings", "raw durable JetStream, batching event store", "msg/s",
     "raw_nats.durable.eventstore_batched_per_sec", None, None),
    ("ceilings", "raw PostgreSQL, 16 concurrent inserts", "rows/s",
     "raw_postgres.insert_concurrent_16_per_sec", None, None),
    ("identity", "identity import", "rows/s",
     "identity.import.rows_per_sec", "PANTAU_BENCH_WORKERS", ("rate", "PANTAU_BENCH_WORKERS")),
    ("identity", "identity read model caught up after the import", "s",
     "identity.import.read_model_seconds", "PANTAU_BENCH_WORKERS", ("seconds",)),
    ("identity", "RegisterWorker p99", "ms",
     "identity.register_latency_ms.p99", None, None),
    ("attendance", "check-ins, 1,000 clients open loop", "/s",
     "attendance.check_ins_per_sec", "PANTAU_BENCH_CHECKINS", ("rate", "PANTAU_BENCH_CHECKINS")),
    ("attendance", "check-in p99", "ms",
     "attendance.check_in_latency_ms.p99", None, None),
    ("attendance", "attendance read model caught up", "s",
     "attendance.read_model_caught_up_seconds", "PANTAU_BENCH_CHECKINS", ("seconds",)),
    ("activity", "activity reports accepted (N/2 reports)", "/s",
     "activity.reports_per_sec", "PANTAU_BENCH_REPORTS", ("rate", "PANTAU_BENCH_REPORTS")),
    ("activity", "ReviewActivity p99 during the reports", "ms",
     "activity.approval_latency_ms.p99", None, None),
    ("activity", "duplicate detector caught up", "s",
     "activity.detector_caught_up_seconds", "PANTAU_BENCH_REPORTS", ("seconds",)),
    ("scoring", "scoring: raw consume of the month", "msg/s",
     "scoring.raw_consume.per_sec", None, None),
    ("scoring", "scoring rebuild end to end", "events/s",
     "scoring.rebuild.events_per_sec", "PANTAU_BENCH_SCORING_WORKERS", ("rate", "scoring.rebuild.events")),
    ("scoring", "scoring rebuild / raw consume", "ratio",
     "scoring.ratios.rebuild_vs_raw_consume", None, None),
    ("scoring", "scoring month close (min(N, 10,000) workers)", "s",
     "scoring.close.close_seconds", "PANTAU_BENCH_SCORING_CLOSE_WORKERS", ("seconds",)),
    ("fraud", "fraud detectors end to end (fold + detect)", "s",
     "fraud.end_to_end.seconds", "PANTAU_BENCH_FRAUD_WORKERS", ("seconds",)),
    ("fraud", "fraud fold", "events/s",
     "fraud.fold.events_per_sec", None, None),
    ("fraud", "fraud: peak memory of the bench process", "MB",
     "fraud.memory_mb.end.bench_peak_rss", None, None),
    ("reporting", "reporting catch-up (min(N, 20,000) workers)", "events/s",
     "reporting.catch_up.events_per_sec", "PANTAU_BENCH_REPORTING_WORKERS", ("rate", "reporting.catch_up.events")),
    ("reporting", "reporting catch-up / raw consume", "ratio",
     "reporting.ratios.catch_up_vs_raw_consume", None, None),
    ("reporting", "public API, 200 clients, cache 10 s", "req/s",
     "reporting.api_cached.per_sec", None, None),
]


# What a part's size counts: the cost is per one of these.
PER = {"PANTAU_BENCH_CHECKINS": "check-in", "PANTAU_BENCH_REPORTS": "report"}


def growth(entries):
    out = []
    for group, label, unit, path, size_var, cost in FIGURES:
        values = []
        for e in entries:
            report = e.get("report")
            value = get(report, path) if report else None
            size = int(e["env"][size_var]) if size_var else None
            per_worker_us = None
            if value is not None and cost and size:
                if cost[0] == "seconds":
                    per_worker_us = value * 1e6 / size
                elif cost[0] == "rate" and value > 0:
                    items = int(e["env"][cost[1]]) if cost[1] in e["env"] else get(report, cost[1])
                    if items:
                        per_worker_us = items / value * 1e6 / size
            values.append({
                "workers": e["workers"],
                "size": size,
                "value": value,
                "per_worker_us": None if per_worker_us is None else round(per_worker_us, 2),
            })
        if any(v["value"] is not None for v in values):
            out.append({"group": group, "figure": label, "unit": unit, "path": path,
                        "size_var": size_var, "values": values})
    return out


def num(v):
    if v is None:
        return "—"
    a = abs(v)
    if a >= 1000:
        return f"{v:,.0f}"
    if a >= 100:
        return f"{v:.0f}"
    if a >= 10:
        return f"{v:.1f}"
    if a >= 1:
        return f"{v:.2f}"
    return f"{v:.3f}"


def markdown(entries, rows):
    def title(e):
        only = f" ({e['only']} only)" if e.get("only") else ""
        return f"{e['workers']:,} workers{only}"

    head = "| figure | " + " | ".join(title(e) for e in entries) + " |"
    lines = [head, "| --- |" + " --- |" * len(entries)]
    for r in rows:
        cells = []
        for v in r["values"]:
            if v["value"] is None:
                cells.append("—")
                continue
            unit = "" if r["unit"] == "ratio" else f" {r['unit']}".replace(" /s", "/s")
            cell = num(v["value"]) + unit
            if v["per_worker_us"] is not None:
                per = PER.get(r["size_var"], "worker")
                cell += f" ({num(v['per_worker_us'])} µs/{per})"
            cells.append(cell)
        lines.append(f"| {r['figure']} | " + " | ".join(cells) + " |")
    lines.append(
        "| wall time of the whole bench run | "
        + " | ".join(fmt_elapsed(e["seconds"]) for e in entries)
        + " |"
    )
    return "\n".join(lines)


def combine(parts):
    """Runs of one size that measured different parts (PANTAU_BENCH_ONLY) as one entry.

    Each part's figures come from the first run that has them; the ceilings
    (raw NATS and PostgreSQL) are the first run's, and every run's own ceilings
    stay in `parts` so a figure can still be read beside those of its run."""
    if len(parts) == 1:
        return parts[0]
    report = {}
    for p in parts:
        for key, value in (p.get("report") or {}).items():
            if report.get(key) is None:  # a part a run skipped is null
                report[key] = value
    onlys = [p.get("only") for p in parts]
    return {
        "workers": parts[0]["workers"],
        "seconds": round(sum(p["seconds"] for p in parts), 1),
        "env": parts[0]["env"],
        "only": None if None in onlys else ",".join(onlys),
        "report": report,
        "error": "; ".join(p["error"] for p in parts if p.get("error")) or None,
        "parts": [
            {"only": p.get("only"), "seconds": p["seconds"],
             "raw_nats": (p.get("report") or {}).get("raw_nats"),
             "raw_postgres": (p.get("report") or {}).get("raw_postgres")}
            for p in parts
        ],
    }


def merge(paths):
    """`--merge a.json b.json ...`: one document (and table) from earlier runs' outputs."""
    by_size = {}
    for path in paths:
        with open(path) as f:
            for e in json.load(f)["sizes"]:
                by_size.setdefault(e["workers"], []).append(e)
    entries = [combine(parts) for _, parts in sorted(by_size.items())]
    rows = growth(entries)
    print(json.dumps({"sizes": entries, "growth": rows}, indent=2))
    sys.stdout.flush()
    log(markdown(entries, rows))


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--merge":
        return merge(sys.argv[2:])
    binary = bench_binary()
    if not os.access(binary, os.X_OK):
        raise SystemExit(
            f"bench binary {binary} not found: cargo build --release -p pantau-bench (or set PANTAU_BENCH_BIN)"
        )
    todo = sizes()
    started_all = time.monotonic()
    entries = []
    retries = int(os.environ.get("PANTAU_BENCH_GROWTH_RETRIES", "1"))
    for k, n in enumerate(todo, 1):
        entry = run_one(binary, n, k, len(todo), started_all)
        attempts = 1
        while entry.get("error") and attempts <= retries:
            log(f"[bench-growth] retrying size {k}/{len(todo)} ({n:,}): {entry['error']}")
            entry = run_one(binary, n, k, len(todo), started_all)
            attempts += 1
        entry["attempts"] = attempts
        entries.append(entry)
    rows = growth(entries)
    print(json.dumps({"sizes": entries, "growth": rows}, indent=2))
    sys.stdout.flush()
    log(f"[bench-growth] all {len(todo)} sizes in {fmt_elapsed(time.monotonic() - started_all)}")
    log("")
    log(markdown(entries, rows))
    failed = [e["workers"] for e in entries if e.get("error")]
    if failed:
        log(f"[bench-growth] failed sizes: {failed}")
        sys.exit(1)


if __name__ == "__main__":
    main()
