#!/usr/bin/env bash
# make run: build the release binaries, start NATS, PostgreSQL and every service listed in
# scripts/services.txt (lines `name port`; the binary is pantau-<name>), then wait. Ctrl-C stops
# the services, then NATS, then PostgreSQL. Data stays in .data/ between runs. On the first start
# (no .data/sim-truth.json yet) `pantau sim` seeds a demo province in the background: last month
# of PANTAU_DEMO_WORKERS workers (default 2000; 0 seeds nothing), scored and closed, then the fraud detectors run.
#
#   scripts/run.sh          start everything in the foreground
#   scripts/run.sh stop     stop whatever an earlier run left behind
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
data=$root/.data
nats_port=${PANTAU_NATS_PORT:-4222}
export PANTAU_NATS_MONITOR_PORT=${PANTAU_NATS_MONITOR_PORT:-8222}
pg_port=${PANTAU_PG_PORT:-5432}
log() { echo "run: $*" >&2 || true; }

# The pid of service $1 from its pidfile, if that process is still pantau-$1.
service_pid() {
  local pid
  pid=$(cat "$data/run/$1.pid" 2>/dev/null) || return 1
  [ "$(basename "$(readlink "/proc/$pid/exe" 2>/dev/null)")" = "pantau-$1" ] && echo "$pid"
}

stop_service() {
  local pid
  if pid=$(service_pid "$1"); then
    log "stopping $1 (pid $pid)"
    kill -TERM "$pid"
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then log "$1 did not stop in 10s, killing it"; kill -KILL "$pid"; fi
  fi
  rm -f "$data/run/$1.pid"
}

stop_all() {
  trap - INT TERM EXIT
  trap '' PIPE # keep stopping in order even if whatever read our output (| tee) is gone
  local f
  if [ -n "${seed_pid:-}" ]; then pkill -TERM -P "$seed_pid" 2>/dev/null || true; fi
  for f in "$data"/run/*.pid; do
    if [ -e "$f" ]; then stop_service "$(basename "$f" .pid)"; fi
  done
  scripts/nats.sh stop "$data/nats" || true
  scripts/pg.sh stop "$data/pg" || true
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

if [ "${1:-}" = stop ]; then stop_all; exit 0; fi
[ $# -eq 0 ] || { sed -n '6,7p' "$0" | sed 's/^# *//' >&2; exit 2; }

. scripts/tools.sh nats pg

names=() ports=()
while read -r name port _; do
  case $name in '' | '#'*) continue ;; esac
  names+=("$name") ports+=("$port")
done <scripts/services.txt

log "building release binaries"
cargo build --release --bins
log "building the field app (app/dist)"
make --no-print-directory app >&2 || log "warning: the field app did not build; /app/ will say so"
target=$(cargo metadata --no-deps --format-version 1 |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
for name in "${names[@]}"; do
  [ -x "$target/release/pantau-$name" ] || {
    log "error: service $name: $target/release/pantau-$name was not built"
    log "(scripts/services.txt lists it; its crate must define a binary named pantau-$name)"
    exit 1
  }
done

mkdir -p "$data/logs" "$data/run"
trap 'stop_all; exit 130' INT
trap 'stop_all; exit 143' TERM
trap stop_all EXIT

scripts/nats.sh start "$data/nats" "$nats_port" "$PANTAU_NATS_MONITOR_PORT"
scripts/pg.sh start "$data/pg" "$pg_port"
ln -sfn ../nats/nats-server.log "$data/logs/nats-server.log"
ln -sfn ../pg/postgres.log "$data/logs/postgres.log"

export PANTAU_NATS_URL=nats://127.0.0.1:$nats_port
export PANTAU_DATABASE_URL=postgres://pantau@127.0.0.1:$pg_port/postgres
export PANTAU_ADMIN_ID=${PANTAU_ADMIN_ID:-admin}
export PANTAU_ADMIN_PASSWORD=${PANTAU_ADMIN_PASSWORD:-pantau-dev-admin}
export PANTAU_FINGERPRINT_SECRET=${PANTAU_FINGERPRINT_SECRET:-dev-fingerprint-secret-change-me}
# A development cluster: a call's x-pantau-sim-time sets its business time (pantau sim).
export PANTAU_DEV_CLOCK=${PANTAU_DEV_CLOCK:-true}
demo_workers=${PANTAU_DEMO_WORKERS:-2000}

pids=()
for i in "${!names[@]}"; do
  name=${names[$i]} port=${ports[$i]}
  stop_service "$name" # left over from a run that did not shut down
  if port_open "$port"; then log "error: port $port for $name is taken by another process"; exit 1; fi
  addr_var=PANTAU_$(echo "$name" | tr 'a-z-' 'A-Z_')_ADDR
  echo "---- $(date -u +%FT%TZ) starting pantau-$name" >>"$data/logs/$name.log"
  # setsid: Ctrl-C reaches only this script, which then stops everything in order.
  env "$addr_var=127.0.0.1:$port" setsid "$target/release/pantau-$name" \
    </dev/null >>"$data/logs/$name.log" 2>&1 &
  pids+=($!)
  echo $! >"$data/run/$name.pid"
  log "started $name (pid $!), log .data/logs/$name.log"
done

for i in "${!names[@]}"; do
  name=${names[$i]} port=${ports[$i]} ok=
  for _ in $(seq 600); do
    if port_open "$port"; then ok=1; break; fi
    kill -0 "${pids[$i]}" 2>/dev/null || break
    sleep 0.1
  done
  if [ -z "$ok" ]; then
    log "error: $name is not listening on 127.0.0.1:$port; last lines of .data/logs/$name.log:"
    tail -n 20 "$data/logs/$name.log" >&2
    exit 1
  fi
done

{
  echo
  for i in "${!names[@]}"; do printf '  %-22s grpc://127.0.0.1:%s\n' "${names[$i]}" "${ports[$i]}"; done
  printf '  %-22s %s\n' "dashboard" "http://${PANTAU_REPORTING_HTTP_ADDR:-127.0.0.1:8080}/"
  printf '  %-22s %s\n' "field app" "http://${PANTAU_REPORTING_HTTP_ADDR:-127.0.0.1:8080}/app/"
  printf '  %-22s %s\n' "nats" "$PANTAU_NATS_URL"
  printf '  %-22s %s\n' "nats monitoring" "http://127.0.0.1:$PANTAU_NATS_MONITOR_PORT"
  printf '  %-22s %s\n' "postgresql" "$PANTAU_DATABASE_URL"
  printf '  %-22s %s / %s\n' "dev admin" "$PANTAU_ADMIN_ID" "$PANTAU_ADMIN_PASSWORD"
  printf '  %-22s %s\n' "logs" ".data/logs/"
  echo
  echo "ready (Ctrl-C stops everything)"
} >&2

# The demo province, once: seeded in the background so the cluster is usable at once.
if [ "$demo_workers" != 0 ] && [ ! -e "$data/sim-truth.json" ] && [ "$PANTAU_DEV_CLOCK" = true ]; then
  log "seeding a demo province ($demo_workers workers, last month) in the background; log .data/logs/sim.log"
  (
    export PANTAU_LOGIN_ID=$PANTAU_ADMIN_ID PANTAU_PASSWORD=$PANTAU_ADMIN_PASSWORD
    if "$target/release/pantau" sim --workers "$demo_workers" --truth "$data/sim-truth.json.part" \
      >>"$data/logs/sim.log" 2>&1 &&
      mv "$data/sim-truth.json.part" "$data/sim-truth.json" &&
      "$target/release/pantau" sim evaluate --truth "$data/sim-truth.json" >>"$data/logs/sim.log" 2>&1; then
      log "demo province seeded: workers sign in with password pantau-sim; fraud evaluation in .data/logs/sim.log"
    else
      log "warning: seeding the demo province failed, see .data/logs/sim.log"
    fi
  ) </dev/null &
  seed_pid=$!
fi

# Until Ctrl-C, or until a service dies: then stop the rest and say which one.
status=0
wait -n -p done_pid "${pids[@]}" || status=$?
for i in "${!names[@]}"; do
  if [ "${pids[$i]}" = "${done_pid:-}" ]; then
    log "error: ${names[$i]} exited with status $status, see .data/logs/${names[$i]}.log"
  fi
done
exit 1
