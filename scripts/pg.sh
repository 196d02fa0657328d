#!/usr/bin/env bash
# A local PostgreSQL for development: superuser `pantau`, trust auth, loopback only.
#
#   scripts/pg.sh start DATADIR PORT    initdb if DATADIR is empty, start (or reuse), wait until ready
#   scripts/pg.sh stop DATADIR          fast shutdown
#   scripts/pg.sh createdb PORT NAME    create database NAME unless it exists
#
# PostgreSQL refuses to run as root; as root the server runs as $PANTAU_PG_RUNAS (see tools.sh),
# which owns DATADIR. The server log is DATADIR/postgres.log, the unix socket is in DATADIR.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
log() { echo "pg: $*" >&2 || true; }
usage() { sed -n '4,6p' "${BASH_SOURCE[0]}" | sed 's/^# *//' >&2; exit 2; }

if [ -z "${PANTAU_PG_BIN:-}" ] || [ -z "${PANTAU_PG_RUNAS+set}" ]; then . "$root/scripts/tools.sh" pg; fi
bin=$PANTAU_PG_BIN
runas=${PANTAU_PG_RUNAS:-}
[ "$(id -u)" = 0 ] || runas=

# Runs a server-side command as the unprivileged user when we are root.
as_pg() { if [ -n "$runas" ]; then runuser -u "$runas" -- "$@"; else "$@"; fi; }

start() {
  local dir=$1 port=$2 d out
  mkdir -p "$dir" && dir=$(cd "$dir" && pwd)
  if [ -n "$runas" ]; then
    chown "$runas:" "$dir"
    chmod 700 "$dir"
    # The server user must be able to reach DATADIR through every parent.
    d=$(dirname "$dir")
    while [ "$d" != / ]; do
      runuser -u "$runas" -- test -x "$d" || { log "making $d traversable for $runas"; chmod o+x "$d"; }
      d=$(dirname "$d")
    done
  fi
  if [ ! -f "$dir/PG_VERSION" ]; then
    [ -z "$(ls -A "$dir")" ] || { log "$dir is neither empty nor a PostgreSQL data dir"; return 1; }
    log "initdb $dir"
    out=$(as_pg "$bin/initdb" -D "$dir" -U pantau --auth=trust --encoding=UTF8 --no-locale 2>&1) ||
      { echo "$out" >&2; return 1; }
    # Port, listen address and socket dir come from the command line, so only tuning goes here.
    # fsync stays on: dev data should survive a crash as production data would.
    as_pg tee -a "$dir/postgresql.conf" >/dev/null <<'EOF'

# pantau (scripts/pg.sh): dev and test settings
max_connections = 200
EOF
  fi
  if as_pg "$bin/pg_ctl" -D "$dir" status >/dev/null 2>&1; then
    log "reusing postgresql in $dir"
  else
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      log "port $port is already taken by another process"; return 1
    fi
    log "starting postgresql on 127.0.0.1:$port, data $dir"
    as_pg "$bin/pg_ctl" -D "$dir" -l "$dir/postgres.log" -w -t 60 \
      -o "-h 127.0.0.1 -p $port -k '$dir'" start >/dev/null ||
      { log "start failed, see $dir/postgres.log"; tail -n 20 "$dir/postgres.log" >&2; return 1; }
  fi
  for _ in $(seq 100); do
    if "$bin/pg_isready" -q -h 127.0.0.1 -p "$port"; then
      log "ready: postgres://pantau@127.0.0.1:$port/postgres"
      return 0
    fi
    sleep 0.1
  done
  log "postgresql not ready on port $port after 10s"; return 1
}

stop() {
  local dir=$1
  if [ ! -f "$dir/PG_VERSION" ] || ! as_pg "$bin/pg_ctl" -D "$dir" status >/dev/null 2>&1; then
    log "not running in $dir"; return 0
  fi
  log "stopping postgresql in $dir"
  as_pg "$bin/pg_ctl" -D "$dir" -m fast -w -t 60 stop >/dev/null
  log "stopped"
}

createdb() {
  local port=$1 name=$2
  [[ $name =~ ^[a-z_][a-z0-9_]*$ ]] || { log "bad database name: $name"; return 1; }
  if [ "$("$bin/psql" -h 127.0.0.1 -p "$port" -U pantau -d postgres -tAc \
    "select 1 from pg_database where datname = '$name'")" = 1 ]; then
    log "database $name exists"
  else
    "$bin/createdb" -h 127.0.0.1 -p "$port" -U pantau "$name"
    log "created database $name"
  fi
}

case ${1:-} in
  start) [ $# -eq 3 ] || usage; start "$2" "$3" ;;
  stop) [ $# -eq 2 ] || usage; stop "$2" ;;
  createdb) [ $# -eq 3 ] || usage; createdb "$2" "$3" ;;
  *) usage ;;
esac
