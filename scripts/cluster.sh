#!/usr/bin/env bash
# make cluster: a scaled-out cluster on loopback, as ops run it across machines: three NATS
# servers routed into one JetStream cluster (every stream on all three, PANTAU_NATS_STREAM_REPLICAS=3),
# PostgreSQL, identity, and two instances each of attendance and scoring sharing their service's
# database. Clients may call either instance; each instance's NATS client knows all three servers.
# Ctrl-C stops the services, then NATS, then PostgreSQL. Data stays in .data/cluster/.
#
#   scripts/cluster.sh          start everything in the foreground
#   scripts/cluster.sh stop     stop whatever an earlier run left behind
#
# Ports (chosen to sit beside `make run`): NATS clients 4231-4233, routes 6231-6233, monitoring
# 8231-8233; PostgreSQL 5442; identity 51051; attendance 51052 and 51062; scoring 51054 and
# 51064; metrics 9201-9205.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
data=$root/.data/cluster
pg_port=5442
log() { echo "cluster: $*" >&2 || true; }

# name grpc-port metrics-port binary
instances=(
  "identity 51051 9201 identity"
  "attendance-a 51052 9202 attendance"
  "attendance-b 51062 9203 attendance"
  "scoring-a 51054 9204 scoring"
  "scoring-b 51064 9205 scoring"
)

instance_pid() {
  local pid
  pid=$(cat "$data/run/$1.pid" 2>/dev/null) || return 1
  [ "$(basename "$(readlink "/proc/$pid/exe" 2>/dev/null)")" = "pantau-$2" ] && echo "$pid"
}

stop_all() {
  trap - INT TERM EXIT
  trap '' PIPE
  local line name bin pid i
  for line in "${instances[@]}"; do
    read -r name _ _ bin <<<"$line"
    if pid=$(instance_pid "$name" "$bin"); then
      log "stopping $name (pid $pid)"
      kill -TERM "$pid" || true
      for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$data/run/$name.pid"
  done
  for i in 1 2 3; do scripts/nats.sh stop "$data/nats-n$i" || true; done
  scripts/pg.sh stop "$data/pg" || true
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

if [ "${1:-}" = stop ]; then stop_all; exit 0; fi
[ $# -eq 0 ] || { sed -n '8,9p' "$0" | sed 's/^# *//' >&2; exit 2; }

. scripts/tools.sh nats pg
log "building release binaries"
cargo build --release --bins # the whole workspace, as make run builds it, so the two share a build
target=$(cargo metadata --no-deps --format-version 1 |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')

mkdir -p "$data/logs" "$data/run"
trap 'stop_all; exit 130' INT
trap 'stop_all; exit 143' TERM
trap stop_all EXIT

# Three servers, each routed to all three (a server ignores the route to itself).
routes="nats-route://127.0.0.1:6231, nats-route://127.0.0.1:6232, nats-route://127.0.0.1:6233"
urls=
for i in 1 2 3; do
  dir=$data/nats-n$i
  mkdir -p "$dir"
  cat >"$dir/nats.conf" <<EOF
# Written by scripts/cluster.sh: one server of the local three-server JetStream cluster.
server_name: n$i
jetstream {
  sync_interval: always
}
cluster {
  name: pantau-local
  listen: 127.0.0.1:623$i
  routes: [$routes]
}
EOF
  PANTAU_NATS_CONF=$dir/nats.conf scripts/nats.sh start "$dir" "423$i" "823$i"
  urls=${urls:+$urls,}nats://127.0.0.1:423$i
done
scripts/pg.sh start "$data/pg" "$pg_port"

export PANTAU_NATS_URL=$urls
export PANTAU_NATS_STREAM_REPLICAS=3
# The attendance read model in four partitions, two per instance (one's, if the other stops).
export PANTAU_ATTENDANCE_PARTITIONS=4
export PANTAU_DATABASE_URL=postgres://pantau@127.0.0.1:$pg_port/postgres
export PANTAU_ADMIN_ID=${PANTAU_ADMIN_ID:-admin}
export PANTAU_ADMIN_PASSWORD=${PANTAU_ADMIN_PASSWORD:-pantau-dev-admin}
export PANTAU_FINGERPRINT_SECRET=${PANTAU_FINGERPRINT_SECRET:-dev-fingerprint-secret-change-me}

pids=() names=() ports=()
for line in "${instances[@]}"; do
  read -r name port mport bin <<<"$line"
  if port_open "$port"; then log "error: port $port for $name is taken by another process"; exit 1; fi
  prefix=PANTAU_$(echo "$bin" | tr 'a-z' 'A-Z')
  echo "---- $(date -u +%FT%TZ) starting $name" >>"$data/logs/$name.log"
  env "${prefix}_ADDR=127.0.0.1:$port" "${prefix}_METRICS_ADDR=127.0.0.1:$mport" \
    setsid "$target/release/pantau-$bin" </dev/null >>"$data/logs/$name.log" 2>&1 &
  pids+=($!) names+=("$name") ports+=("$port")
  echo $! >"$data/run/$name.pid"
  log "started $name (pid $!), log .data/cluster/logs/$name.log"
done

for i in "${!names[@]}"; do
  ok=
  for _ in $(seq 600); do
    if port_open "${ports[$i]}"; then ok=1; break; fi
    kill -0 "${pids[$i]}" 2>/dev/null || break
    sleep 0.1
  done
  if [ -z "$ok" ]; then
    log "error: ${names[$i]} is not listening on 127.0.0.1:${ports[$i]}; last lines of its log:"
    tail -n 20 "$data/logs/${names[$i]}.log" >&2
    exit 1
  fi
done

{
  echo
  for i in "${!names[@]}"; do printf '  %-22s grpc://127.0.0.1:%s\n' "${names[$i]}" "${ports[$i]}"; done
  printf '  %-22s %s (streams on all three)\n' "nats" "$PANTAU_NATS_URL"
  printf '  %-22s %s\n' "nats monitoring" "http://127.0.0.1:8231/jsz (and 8232, 8233)"
  printf '  %-22s %s\n' "postgresql" "$PANTAU_DATABASE_URL"
  printf '  %-22s %s / %s\n' "dev admin" "$PANTAU_ADMIN_ID" "$PANTAU_ADMIN_PASSWORD"
  echo
  echo "ready (Ctrl-C stops everything); try: scripts/nats.sh stop .data/cluster/nats-n2"
} >&2

# Until Ctrl-C. One instance dying is what the cluster is for: say so and keep going.
while [ "${#pids[@]}" -gt 0 ]; do
  done_pid=
  wait -n -p done_pid "${pids[@]}" || true
  for i in "${!pids[@]}"; do
    if [ "${pids[$i]}" = "${done_pid:-}" ]; then
      log "${names[$i]} exited; the other instances carry on (log .data/cluster/logs/${names[$i]}.log)"
      unset 'pids[i]'
    fi
  done
done
log "every service instance has exited"
exit 1
