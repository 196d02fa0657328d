#!/usr/bin/env bash
# Generates the Python classes for Pantau's event protos into OUTDIR (default:
# examples/python/gen). Needs grpcio-tools, which ships its own protoc; the
# `protobuf` runtime must be of the same major version (see PY_TEST_DEPS in
# the Makefile for the pinned, tested pair).
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
out="${1:-$root/examples/python/gen}"
mkdir -p "$out"
cd "$root"
python3 -m grpc_tools.protoc -I proto --python_out="$out" proto/pantau/events/v1/*.proto
echo "generated pantau/events/v1/*_pb2.py into $out" >&2
