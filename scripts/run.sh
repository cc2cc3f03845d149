#!/usr/bin/env bash
# Usage: scripts/run.sh   (make run)
# Sets up, makes sure the demo database `onair` exists, builds the release and starts the
# server on http://127.0.0.1:3000 (ONAIR_BIND overrides) with the demo accounts seeded.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ONAIR_ROOT"
export SQLX_OFFLINE=${SQLX_OFFLINE:-true}
start=$SECONDS

step "set up the tools" scripts/setup.sh
DATABASE_URL=$(scripts/ensure-db.sh onair)
export DATABASE_URL
step "cargo leptos build --release" cargo leptos build --release

bind=${ONAIR_BIND:-127.0.0.1:3000}
export LEPTOS_OUTPUT_NAME=onair
export LEPTOS_SITE_ROOT=target/site
export LEPTOS_SITE_ADDR=$bind
say "=== ready in $((SECONDS - start))s: starting onair on http://$bind (demo accounts seeded; Ctrl-C stops it)"
exec target/release/onair --demo
