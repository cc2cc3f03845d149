#!/usr/bin/env bash
# Usage: scripts/test.sh   (make test; CI runs it through .ci/run)
# Set-up (with chromium), Rust tests against a real PostgreSQL, the release build, then the
# Playwright suite, then the TURN-only test (skipped without root). Stops at the first failing step with its exit code.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ONAIR_ROOT"
export SQLX_OFFLINE=${SQLX_OFFLINE:-true}
report_total "make test"

step "set up the tools (with chromium)" scripts/setup.sh --test

# sqlx::test makes its own throwaway databases on this server.
DATABASE_URL=$(scripts/ensure-db.sh onair_test)
export DATABASE_URL
step "cargo test --features ssr" cargo test --features ssr

step "cargo leptos build --release" cargo leptos build --release

step "browser tests" scripts/e2e.sh

step "TURN-only test (browsers in network namespaces, coturn)" scripts/turn-test.sh
