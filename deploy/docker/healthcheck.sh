#!/bin/bash
# The image's HEALTHCHECK: the standard gRPC health check (grpc.health.v1.Health/Check for the
# whole server, service ""), asked over gRPC-Web on HTTP/1.1, which every Pantau server also
# speaks. Bash's /dev/tcp and coreutils are all it needs, so the runtime image carries no probe
# binary and no HTTP client. Kubernetes does not use this: its native `grpc:` probe asks the same
# question over HTTP/2.
#
# With gRPC over TLS (PANTAU_TLS_CERT set), which this script cannot speak, the service's own
# binary beside it asks instead: `pantau-<service> health`, with the settings the service runs
# with (crates/platform/src/health.rs).
#
#   pantau-healthcheck <grpc-port> [<http-port>]   exit 0 only if the server says SERVING (and,
#                                                  with an HTTP port, /healthz answers 200)
set -euo pipefail
trap '' PIPE

grpc_port=${1:?usage: pantau-healthcheck <grpc-port> [<http-port>]}
http_port=${2:-}

if [ -n "${PANTAU_TLS_CERT:-}" ]; then
  here=$(dirname "$0")
  self=$(basename "$0")
  service=
  for bin in "$here"/pantau-*; do
    if [ "$(basename "$bin")" != "$self" ] && [ -x "$bin" ]; then
      service=$bin
      break
    fi
  done
  [ -n "$service" ] || { echo "gRPC over TLS, and no service binary beside $0 to ask" >&2; exit 1; }
  "$service" health >/dev/null || exit 1
  grpc_port=
fi

# The whole exchange as hex digits: the body holds NUL bytes, which a shell variable cannot.
exchange() {
  { exec 3<>"/dev/tcp/127.0.0.1/$1"; } 2>/dev/null || { echo "nothing listens on :$1" >&2; return 1; }
  # A server that hangs up early (one speaking TLS, say) leaves a reply that is not SERVING;
  # without this the write's SIGPIPE would end the script with 141 instead of 1.
  printf '%b' "$2" >&3 2>/dev/null || true
  { timeout 3 cat <&3 || true; } | od -An -v -tx1 | tr -d ' \n'
  exec 3<&-
}

hex() { printf '%s' "$1" | od -An -v -tx1 | tr -d ' \n'; }

if [ -n "$grpc_port" ]; then
  # An empty HealthCheckRequest in one gRPC-Web data frame: flag 0, length 0.
  reply=$(exchange "$grpc_port" 'POST /grpc.health.v1.Health/Check HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/grpc-web+proto\r\nX-Grpc-Web: 1\r\nContent-Length: 5\r\nConnection: close\r\n\r\n\x00\x00\x00\x00\x00')

  # HealthCheckResponse{status: SERVING} is the 2-byte message 08 01 in a data frame of length 2;
  # the trailers frame must carry grpc-status:0. (A chunked body may split frames between chunks,
  # but tonic-web writes each frame whole, so the byte runs stay contiguous.)
  case $reply in
    *00000000020801*) ;;
    *) echo "gRPC health on :$grpc_port: not SERVING" >&2; exit 1 ;;
  esac
  case $reply in
    *"$(hex 'grpc-status:0')"*) ;;
    *) echo "gRPC health on :$grpc_port: no grpc-status 0" >&2; exit 1 ;;
  esac
fi

if [ -n "$http_port" ]; then
  reply=$(exchange "$http_port" 'GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n')
  case $reply in
    "$(hex 'HTTP/1.1 200')"*) ;;
    *) echo "HTTP /healthz on :$http_port: not 200" >&2; exit 1 ;;
  esac
fi
