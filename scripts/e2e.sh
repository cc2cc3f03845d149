#!/usr/bin/env bash
# Usage: scripts/e2e.sh [playwright args...]   (make e2e)
# Runs the Playwright suite against the release build that is already there (target/release/onair
# and target/site), with a freshly recreated database onair_e2e. Arguments go to `playwright test`.
# ONAIR_E2E_PORT (default 3100) and ONAIR_E2E_DB (default onair_e2e) change the server's port and database.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ONAIR_ROOT"

[ -x target/release/onair ] \
  || die "target/release/onair is missing: build it with 'cargo leptos build --release' (or run 'make test')"
[ -d target/site/pkg ] \
  || die "target/site/pkg is missing: build it with 'cargo leptos build --release' (or run 'make test')"

step "npm packages and chromium for the browser tests" scripts/setup.sh --e2e-only

ONAIR_E2E_DATABASE_URL=$(scripts/ensure-db.sh --fresh "${ONAIR_E2E_DB:-onair_e2e}")
# The second server (live streams peer-to-peer, project `p2p`) has its own.
ONAIR_E2E_P2P_DATABASE_URL=$(scripts/ensure-db.sh --fresh "${ONAIR_E2E_DB:-onair_e2e}_p2p")
export ONAIR_E2E_DATABASE_URL ONAIR_E2E_P2P_DATABASE_URL
say "Browser tests use the fresh databases ${ONAIR_E2E_DB:-onair_e2e} and ${ONAIR_E2E_DB:-onair_e2e}_p2p"

run_playwright() { (cd end2end && npx --no-install playwright test "$@"); }
step "playwright test (end2end/tests)" run_playwright "$@"
