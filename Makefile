# onair: `make run` (demo server on http://127.0.0.1:3000), `make test` (everything CI runs).
# The recipes call scripts/*.sh; each prints "==> step" / "<== step: done in Ns".
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

export SQLX_OFFLINE := true
# wasm-opt (npm binaryen 132) for release builds, and tools from `cargo install`.
export PATH := $(CURDIR)/end2end/node_modules/.bin:$(HOME)/.cargo/bin:$(PATH)

.PHONY: help setup run test e2e db-stop clean

help:
	@echo "make setup    install the tools (wasm target, cargo-leptos, wasm-bindgen-cli, npm packages)"
	@echo "make run      build the release and start the demo server on http://127.0.0.1:3000"
	@echo "make run HTTPS=1  the same over HTTPS on https://<LAN address>:3443 with a self-signed certificate (phones)"
	@echo "make test     Rust tests + release build + browser tests (what CI runs)"
	@echo "make e2e      only the browser tests, against the release build already there (ARGS=... go to playwright test)"
	@echo "make turn-test  only the TURN-only test (two browsers in network namespaces, coturn; needs root, else skipped)"
	@echo "make db-stop  stop the private PostgreSQL cluster in target/pg, if one was started"
	@echo "make bench    build the release, then measure relay, chat fan-out, idle memory, /live, bundle (~6 min); writes docs/benchmarks.md"
	@echo "make bench-join  benchmark Join -> first video frame on the release build (JOINS=25); writes docs/benchmarks.md"
	@echo "make bench-grid  benchmark one invigilator's grid with N streaming students (STUDENTS=10); writes docs/benchmarks.md"
	@echo "make clean    db-stop, then remove target/ and the Playwright results"

setup:
	@scripts/setup.sh

run:
	@scripts/run.sh

test:
	@scripts/test.sh

e2e:
	@start=$$SECONDS; rc=0; scripts/e2e.sh $(ARGS) || rc=$$?; \
	echo "=== make e2e: $$( [ $$rc -eq 0 ] && echo OK || echo "FAILED (exit code $$rc)" ), total time $$((SECONDS - start))s" >&2; \
	exit $$rc

db-stop:
	@scripts/db-stop.sh

# The TURN-only test (issue #8) against the release build already there: a seller and a shopper in two network
# namespaces that reach each other only through coturn; see scripts/turn-test.sh. ARGS=... go to playwright test.
.PHONY: turn-test
turn-test:
	@scripts/turn-test.sh $(ARGS)

clean: db-stop
	rm -rf end2end/test-results end2end/playwright-report end2end/blob-report
	cargo clean

# Refresh .sqlx/ (offline query data) after changing a query or a migration: applies the migrations to a
# scratch database `onair_sqlx` and lets the sqlx macros record every query there. Commit .sqlx/ afterwards.
.PHONY: sqlx-prepare
sqlx-prepare:
	@url=$$(scripts/ensure-db.sh --fresh onair_sqlx); \
	for f in migrations/*.sql; do psql -q -v ON_ERROR_STOP=1 "$$url" -f "$$f" >/dev/null; done; \
	rm -rf .sqlx && mkdir -p .sqlx; \
	touch src/lib.rs; \
	SQLX_OFFLINE=false DATABASE_URL="$$url" SQLX_OFFLINE_DIR="$(CURDIR)/.sqlx" cargo check --features ssr --lib --bins; \
	echo "wrote $$(ls .sqlx | wc -l) query files to .sqlx/"

# Benchmark, not a test: a shopper joins a live stream JOINS times (default 25) against the release build
# on 127.0.0.1:3200 (fresh database onair_bench); prints p50/p95 from Join to the first decoded video frame
# and writes them to docs/benchmarks.md (section "Join to first frame").
.PHONY: bench-join
bench-join:
	@if [ ! -x target/release/onair ] || [ ! -d target/site/pkg ]; then \
	  echo "error: the release build (target/release/onair, target/site) is missing: run \`make test\` or \`cargo leptos build --release\` first" >&2; \
	  exit 1; \
	fi
	@url=$$(scripts/ensure-db.sh --fresh onair_bench); \
	DATABASE_URL="$$url" node end2end/bench/join-to-first-frame.mjs

# Benchmark, not a test (issue #5): one invigilator's grid (/tests/<id>/invigilate) with STUDENTS streaming students
# (default 10, measured in steps of STEP=5) against the release build on 127.0.0.1:3350 (fresh database
# onair_bench_grid); prints downlink, received resolution/fps and CPU, opens one student in the full-resolution
# modal, and writes them to docs/benchmarks.md (section "Proctoring grid cost").
.PHONY: bench-grid
bench-grid:
	@if [ ! -x target/release/onair ] || [ ! -d target/site/pkg ]; then \
	  echo "error: the release build (target/release/onair, target/site) is missing: run \`make test\` or \`cargo leptos build --release\` first" >&2; \
	  exit 1; \
	fi
	@url=$$(scripts/ensure-db.sh --fresh onair_bench_grid); \
	DATABASE_URL="$$url" node end2end/bench/grid-cost.mjs

# Benchmarks, not tests (issue #7): the release build (server, WASM, and the load tool src/bin/bench in the
# same cargo run), then `bench all`: signaling relay, chat fan-out, idle connection memory, the /live page
# (wrk) and the client bundle, each against its own release server on 127.0.0.1:3300 with a fresh database
# onair_bench_<name>, the server pinned to CPU 0 and the tool (and wrk) to CPU 1. Prints the summary table
# and rewrites the section "Server, signaling and bundle" of docs/benchmarks.md. One part only:
# `make bench ARGS=relay` (then docs/benchmarks.md is left alone); options: target/release/bench --help.
.PHONY: bench
bench:
	@scripts/setup.sh --bench
	@start=$$SECONDS; cargo leptos build --release --bin-cargo-args=--bin=bench; \
	echo "<== release build (server, WASM, bench tool): done in $$((SECONDS - start))s" >&2
	@ulimit -n 65536 2>/dev/null || ulimit -n "$$(ulimit -Hn)"; \
	start=$$SECONDS; rc=0; \
	if [ -z "$(ARGS)" ]; then target/release/bench all --write-docs || rc=$$?; else target/release/bench $(ARGS) || rc=$$?; fi; \
	echo "=== make bench: $$( [ $$rc -eq 0 ] && echo OK || echo "FAILED (exit code $$rc)" ), $$((SECONDS - start))s" >&2; \
	exit $$rc
