#!/usr/bin/env bash
# Usage: scripts/db-stop.sh
# Stops the private PostgreSQL cluster under target/pg (started by scripts/ensure-db.sh) if it runs.
# A system server (127.0.0.1:5432) or the one in DATABASE_URL is never touched.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

if [ ! -f "$PG_DATA/PG_VERSION" ]; then
  say "No private PostgreSQL cluster in target/pg: nothing to stop"
  exit 0
fi
if ! pg_private_running; then
  say "The private PostgreSQL cluster in target/pg is not running"
  exit 0
fi
bindir=$(pg_bindir "$(cat "$PG_DATA/PG_VERSION")")
step "stop the private PostgreSQL cluster in target/pg" \
  pg_as_owner "$bindir/pg_ctl" -D "$PG_DATA" -m fast -w -t 60 stop
