#!/usr/bin/env bash
# A local nats-server with JetStream, configured by deploy/nats/nats.conf.
#
#   scripts/nats.sh start DATADIR [PORT] [MONITOR_PORT]   start (or reuse) and wait until healthy
#   scripts/nats.sh stop DATADIR                          stop the server started there
#
# DATADIR holds the JetStream store (DATADIR/jetstream), nats-server.log and nats-server.pid.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
log() { echo "nats: $*" >&2 || true; }
usage() { sed -n '4,5p' "${BASH_SOURCE[0]}" | sed 's/^# *//' >&2; exit 2; }

# The pid in DATADIR's pidfile, if that process is alive and is a nats-server.
running_pid() {
  local pid
  pid=$(cat "$1/nats-server.pid" 2>/dev/null) || return 1
  [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = nats-server ] && echo "$pid"
}

# True when /healthz?js-enabled-only=true answers 200 on the monitoring port.
healthy() (
  local status
  exec 3<>"/dev/tcp/127.0.0.1/$1" || return 1
  printf 'GET /healthz?js-enabled-only=true HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' >&3
  read -r -t 2 _ status _ <&3 || status=
  [ "$status" = 200 ]
)

start() {
  local dir=$1 port=${2:-4222} mport=${3:-${PANTAU_NATS_MONITOR_PORT:-8222}} pid
  mkdir -p "$dir" && dir=$(cd "$dir" && pwd)
  if pid=$(running_pid "$dir"); then
    log "reusing nats-server (pid $pid) in $dir"
  else
    if [ -z "${PANTAU_NATS_SERVER_BIN:-}" ]; then . "$root/scripts/tools.sh" nats; fi
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      log "port $port is already taken by another process"; return 1
    fi
    log "starting nats-server on 127.0.0.1:$port (monitoring :$mport), store $dir/jetstream"
    # setsid: a Ctrl-C in the terminal must not reach the server; run.sh stops it in order.
    setsid "$PANTAU_NATS_SERVER_BIN" -c "${PANTAU_NATS_CONF:-$root/deploy/nats/nats.conf}" \
      -p "$port" -m "$mport" -sd "$dir" -P "$dir/nats-server.pid" \
      </dev/null >>"$dir/nats-server.log" 2>&1 &
    pid=$!
  fi
  for _ in $(seq 100); do
    if healthy "$mport" 2>/dev/null; then
      log "ready: nats://127.0.0.1:$port, monitoring http://127.0.0.1:$mport"
      return 0
    fi
    kill -0 "$pid" 2>/dev/null || { log "nats-server exited, see $dir/nats-server.log"; tail -n 20 "$dir/nats-server.log" >&2; return 1; }
    sleep 0.1
  done
  log "nats-server not healthy after 10s, see $dir/nats-server.log"; return 1
}

stop() {
  local dir=$1 pid
  if ! pid=$(running_pid "$dir"); then log "not running in $dir"; return 0; fi
  log "stopping nats-server (pid $pid)"
  kill -TERM "$pid"
  for _ in $(seq 300); do
    kill -0 "$pid" 2>/dev/null || { rm -f "$dir/nats-server.pid"; log "stopped"; return 0; }
    sleep 0.1
  done
  log "nats-server (pid $pid) did not stop in 30s, killing it"
  kill -KILL "$pid"; rm -f "$dir/nats-server.pid"
}

case ${1:-} in
  start) [ $# -ge 2 ] || usage; start "${@:2}" ;;
  stop) [ $# -eq 2 ] || usage; stop "$2" ;;
  *) usage ;;
esac
