#!/usr/bin/env bash
# Builds the cargo-fuzz targets in fuzz/ and runs each for a short while, failing if any crashes.
#
#   scripts/fuzz.sh [TARGET]...      default: every target in fuzz/Cargo.toml
#
# PANTAU_FUZZ_SECS        seconds each target runs (default 20; `make fuzz` uses 300)
# PANTAU_FUZZ_ARTIFACTS   where a crashing input is kept (default fuzz/artifacts/<target>/, git-ignored)
# CARGO_TARGET_DIR        the build goes to $CARGO_TARGET_DIR/fuzz (default target/fuzz)
#
# Each run starts from a temporary copy of fuzz/corpus/<target>/, so what a run finds never
# lands in the repo; only a crashing input is kept. The build uses the stable toolchain with
# RUSTC_BOOTSTRAP=1 (cargo fuzz needs -Z flags) and no sanitizer: the code under test is safe Rust
# (the workspace forbids unsafe), and measured here ASan made the targets 4-10 times slower
# (qr_codes 73k against 300k execs/s, event_decode 9k against 88k) for memory errors that safe
# code cannot have. Panics, overflow checks and debug assertions stay on: those are what the
# targets check.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
log() { echo "fuzz: $*" >&2; }

secs=${PANTAU_FUZZ_SECS:-20}
[[ $secs =~ ^[1-9][0-9]*$ ]] || { log "PANTAU_FUZZ_SECS must be a positive number of seconds, got '$secs'"; exit 2; }
artifacts=${PANTAU_FUZZ_ARTIFACTS:-$root/fuzz/artifacts}
target_dir=${CARGO_TARGET_DIR:-$root/target}/fuzz
triple=$(rustc -vV | sed -n 's/^host: //p')
bin_dir=$target_dir/$triple/release

export RUSTC_BOOTSTRAP=1
mapfile -t all < <(cargo fuzz list)
if [ $# -gt 0 ]; then targets=("$@"); else targets=("${all[@]}"); fi
for t in "${targets[@]}"; do
  printf '%s\n' "${all[@]}" | grep -qx -- "$t" || { log "unknown target: $t (have: ${all[*]})"; exit 2; }
done

started=$SECONDS
build() { cargo fuzz build -O --sanitizer none --target-dir "$target_dir" "$@"; }
if [ $# -eq 0 ]; then build; else for t in "${targets[@]}"; do build "$t"; done; fi
log "built ${targets[*]} in $((SECONDS - started)) s"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failed=()
for t in "${targets[@]}"; do
  corpus=$work/$t/corpus
  mkdir -p "$corpus" "$artifacts/$t"
  cp -R "fuzz/corpus/$t/." "$corpus/"
  seeds=$(find "$corpus" -type f | wc -l)
  out=$work/$t/log
  status=0
  # -timeout: an input that runs 10 s is a hang and fails like a crash. The corpus copy is the
  # only directory given, so new inputs go there and nowhere else.
  "$bin_dir/$t" -max_total_time="$secs" -timeout=10 -print_final_stats=1 \
    -artifact_prefix="$artifacts/$t/" "$corpus" >"$out" 2>&1 || status=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$out" | tail -n1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$out" | tail -n1)
  ran=$(sed -n 's/^Done [0-9]* runs in \([0-9]*\) second.*/\1/p' "$out" | tail -n1)
  found=$(find "$corpus" -type f | wc -l)
  if [ "$status" = 0 ]; then
    echo "fuzz: $t: ${execs:-?} execs in ${ran:-?} s (${rate:-?}/s), corpus $seeds -> $found inputs, no crash"
  else
    crash=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$out" | tail -n1)
    echo "fuzz: $t: FAILED (exit $status) after ${execs:-?} execs; crash input: ${crash:-none written}" >&2
    # The panic message and the input's bytes, so a CI log alone is enough to reproduce.
    grep -v -E '^(#[0-9]+|INFO:|MS:|stat::|0x|Base64:)' "$out" | tail -n 40 >&2 || true
    [ -n "$crash" ] && [ -f "$crash" ] && { echo "fuzz: $t: crash input (base64): $(base64 -w0 "$crash")" >&2; }
    echo "fuzz: $t: reproduce with: RUSTC_BOOTSTRAP=1 cargo fuzz run -O --sanitizer none --target-dir $target_dir $t ${crash:-<input>}" >&2
    failed+=("$t")
  fi
done

if [ ${#failed[@]} -gt 0 ]; then
  log "failed: ${failed[*]} (${secs} s each)"
else
  log "no crash in ${#targets[@]} targets, ${secs} s each"
fi
# The plain closing line test-result readers understand.
echo "fuzz: $((${#targets[@]} - ${#failed[@]})) passed, ${#failed[@]} failed"
[ ${#failed[@]} -eq 0 ]
