# Pantau: the one entry point. `make run` starts the cluster, `make test` runs every test.
# Everything the targets need is installed on demand by scripts/tools.sh (into .tools/ where
# it can be); see scripts/README-devenv.md.

SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.ONESHELL:
.DEFAULT_GOAL := help

BUF := npx --yes @bufbuild/buf@1

# Python packages the tests need, pinned (e.g. `pytest==8.3.4 nats-py==2.9.0`). They go to
# .tools/py, not .tools/pip: `pip install --target` into a dir that already has bin/ drops the
# new package's scripts (and --upgrade would delete bin/nats-server).
PY_TEST_DEPS := nats-py==2.16.0 grpcio-tools==1.85.1 grpcio==1.85.1 protobuf==7.36.2 kubernetes-validate==1.37.0 jsonschema==4.26.0 PyYAML==6.0.3

.PHONY: help run stop cluster cluster-stop test bench bench-growth lint fmt proto-lint clean-data app fuzz

help:
	@echo "make run         build and start NATS, PostgreSQL and the services (Ctrl-C stops)"
	echo "make cluster     3 NATS servers, identity, two attendance and two scoring instances (Ctrl-C stops)"
	echo "make test        run every test (throwaway NATS and PostgreSQL per test run)"
	echo "make bench       throughput and latency figures"
	echo "make fuzz        the fuzz targets, 5 minutes each (make test runs them 20 s each)"
	echo "make app         build the field app (app/dist, npm packages pinned by app/package-lock.json)"
	echo "make lint        rustfmt, clippy and buf lint"
	echo "make fmt         format the Rust code"
	echo "make proto-lint  buf lint only"
	echo "make stop        stop what an earlier make run left running"
	echo "make clean-data  stop, then delete .data/ (event store, database, logs)"

run:
	@scripts/run.sh

stop:
	@scripts/run.sh stop

cluster:
	@scripts/cluster.sh

cluster-stop:
	@scripts/cluster.sh stop

# The field app's browser test (tests/e2e/field_app.rs) drives the built app, so the app is built first.
test: app
	@. scripts/tools.sh
	if [ -n "$(strip $(PY_TEST_DEPS))" ] && [ "$$(cat .tools/py/.deps 2>/dev/null)" != "$(strip $(PY_TEST_DEPS))" ]; then
	  echo "tools: installing python test deps into .tools/py: $(strip $(PY_TEST_DEPS))" >&2
	  rm -rf .tools/py
	  python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore \
	    --target .tools/py $(PY_TEST_DEPS)
	  echo "$(strip $(PY_TEST_DEPS))" >.tools/py/.deps
	fi
	export PATH="$(CURDIR)/.tools/bin:$(CURDIR)/.tools/py/bin:$$PATH"
	export PYTHONPATH="$(CURDIR)/.tools/py$${PYTHONPATH:+:$$PYTHONPATH}"
	cargo nextest run --workspace --no-fail-fast
	. scripts/tools.sh fuzz && scripts/fuzz.sh

# The cargo-fuzz targets in fuzz/ for longer than make test runs them (PANTAU_FUZZ_SECS overrides).
fuzz:
	@. scripts/tools.sh fuzz
	PANTAU_FUZZ_SECS=$${PANTAU_FUZZ_SECS:-300} scripts/fuzz.sh

bench:
	@. scripts/tools.sh nats pg
	cargo run --release -p pantau-bench

# One bench run per province size (PANTAU_BENCH_SIZES, default 2000,20000,100000):
# one JSON document on stdout, a Markdown table of how cost grows on stderr.
bench-growth:
	@. scripts/tools.sh nats pg
	cargo build --release -p pantau-bench
	PANTAU_BENCH_BIN="$${CARGO_TARGET_DIR:-target}/release/pantau-bench" python3 scripts/bench-growth.py

lint:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings
	$(BUF) lint

fmt:
	cargo fmt --all

# The field app: npm installs exactly what app/package-lock.json pins (again only when the lock
# file changed), buf generates the TypeScript from proto/, tsc checks it, vite builds app/dist.
app:
	@cd app
	if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
	  echo "app: npm ci" >&2
	  npm ci --no-audit --no-fund --loglevel=error
	fi
	npm run --silent build

proto-lint:
	$(BUF) lint

clean-data:
	@scripts/run.sh stop
	rm -rf .data
