#!/usr/bin/env bash
# Usage: scripts/ensure-db.sh [--fresh] NAME
#
# Makes sure a PostgreSQL database called NAME exists and prints its postgres:// URL as the
# last (and only) line on stdout. Progress goes to stderr. With --fresh the database is
# dropped (its connections ended) and created again, empty.
#
# Which server:
#   a. $DATABASE_URL if set: that server, with the database name replaced by NAME;
#   b. else a server answering on 127.0.0.1:5432 that lets user postgres in without a password;
#   c. else a private cluster under target/pg (port $ONAIR_PG_PORT, default 5433, 127.0.0.1 only,
#      trust auth, superuser postgres), created and started if needed; PostgreSQL is installed
#      with apt-get when missing and we are root.
# Environment: ONAIR_PG_PROBE_PORT (default 5432) is the port probed in b; ONAIR_PG_PORT
# (default 5433) the private cluster's port.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# Keep stdout for the URL alone: everything else, including child programs, writes to stderr.
exec 3>&1 1>&2

fresh=""
name=""
while [ $# -gt 0 ]; do
  case "$1" in
    --fresh) fresh=1 ;;
    -h|--help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) die "ensure-db.sh: unknown option $1" ;;
    *) [ -z "$name" ] || die "ensure-db.sh: only one database name, got '$name' and '$1'"; name=$1 ;;
  esac
  shift
done
[ -n "$name" ] || die "usage: scripts/ensure-db.sh [--fresh] NAME"
[[ "$name" =~ ^[a-z_][a-z0-9_]{0,62}$ ]] \
  || die "ensure-db.sh: database name '$name' must be lowercase letters, digits and _ (not starting with a digit)"

probe_port=${ONAIR_PG_PROBE_PORT:-5432}
private_port=${ONAIR_PG_PORT:-5433}
export PGCONNECT_TIMEOUT=${PGCONNECT_TIMEOUT:-5}

PSQL=""
find_psql() {
  if have psql; then
    PSQL=$(command -v psql)
  else
    local d
    d=$(pg_bindir)
    if [ -n "$d" ] && [ -x "$d/psql" ]; then PSQL="$d/psql"; fi
  fi
  [ -n "$PSQL" ]
}
ensure_psql() {
  find_psql && return 0
  say "psql (PostgreSQL's client) is missing: installing postgresql-client"
  need_root_to_install "psql (package postgresql-client) is missing" postgresql-client
  apt_install postgresql-client
  find_psql || die "psql still not found after installing postgresql-client"
}

# port_answers PORT: something accepts TCP connections on 127.0.0.1:PORT.
port_answers() {
  local port=$1
  if have pg_isready; then
    # 0 = accepting, 1 = rejecting (starting up / shutting down), 2 = no response.
    local rc=0
    pg_isready -q -h 127.0.0.1 -p "$port" -t 3 || rc=$?
    [ "$rc" -ne 2 ]
  else
    timeout 3 bash -c "exec 3<>/dev/tcp/127.0.0.1/$port" 2>/dev/null
  fi
}

# can_login URL: psql gets in and runs a query.
can_login() {
  "$PSQL" "$1" -X -q -tAc 'SELECT 1' >/dev/null 2>&1
}

# ---------------------------------------------------------------------------
# c. the private cluster under target/pg

# Make sure user postgres can reach target/pg: add o+x to ancestors it cannot traverse.
open_ancestors_for_postgres() {
  local dir=$PG_ROOT parts=() d
  while [ "$dir" != "/" ]; do
    parts=("$dir" "${parts[@]}")
    dir=$(dirname "$dir")
  done
  for d in "${parts[@]}"; do
    [ -d "$d" ] || continue
    if ! runuser -u postgres -- test -x "$d" 2>/dev/null; then
      say "note: giving other users search permission (chmod o+x) on $d so that user postgres can reach target/pg"
      chmod o+x "$d"
    fi
  done
}

start_private_cluster() {
  local bindir
  if [ -f "$PG_DATA/PG_VERSION" ]; then
    bindir=$(pg_bindir "$(cat "$PG_DATA/PG_VERSION")")
  else
    bindir=$(pg_bindir)
  fi
  if [ -z "$bindir" ]; then
    say "No PostgreSQL server on 127.0.0.1:$probe_port and no PostgreSQL server binaries (initdb, pg_ctl) on this machine."
    need_root_to_install "the PostgreSQL server (package postgresql) is missing" postgresql
    say "Installing PostgreSQL (package postgresql) ..."
    apt_install postgresql
    # Debian's package may have created and started its own cluster on 5432: use it if it lets us in.
    ensure_psql
    if port_answers "$probe_port" && can_login "postgres://postgres@127.0.0.1:$probe_port/postgres"; then
      SERVER="postgres://postgres@127.0.0.1:$probe_port"
      say "Using the PostgreSQL server the package started on 127.0.0.1:$probe_port"
      return 0
    fi
    bindir=$(pg_bindir)
    [ -n "$bindir" ] || die "PostgreSQL was installed but initdb/pg_ctl are still not found under /usr/lib/postgresql/*/bin"
  fi
  local major
  major=$("$bindir/pg_ctl" --version | sed -E 's/^[^0-9]*([0-9]+).*/\1/')
  if [ -f "$PG_DATA/PG_VERSION" ] && [ "$(cat "$PG_DATA/PG_VERSION")" != "$major" ]; then
    die "target/pg/data was made by PostgreSQL $(cat "$PG_DATA/PG_VERSION") but only PostgreSQL $major is installed: run 'make db-stop; rm -rf target/pg' and try again"
  fi

  if is_root; then
    id postgres >/dev/null 2>&1 \
      || die "PostgreSQL refuses to run as root and there is no user 'postgres' to run it as (Debian's postgresql package creates it): create one with 'useradd --system postgres'"
  fi

  mkdir -p "$PG_DATA" "$PG_RUN"
  touch "$PG_LOG"
  chmod 700 "$PG_DATA"
  if is_root; then
    chown -R postgres: "$PG_ROOT"
    open_ancestors_for_postgres
  fi

  if [ ! -f "$PG_DATA/PG_VERSION" ]; then
    say "Creating a private PostgreSQL $major cluster in target/pg/data (superuser postgres, trust auth)"
    # Its output goes to target/pg/initdb.log (shown when it fails).
    pg_as_owner "$bindir/initdb" -D "$PG_DATA" -U postgres --auth=trust --encoding=UTF8 --locale=C.UTF-8 \
        >"$PG_ROOT/initdb.log" 2>&1 \
      || pg_as_owner "$bindir/initdb" -D "$PG_DATA" -U postgres --auth=trust --encoding=UTF8 --no-locale \
        >>"$PG_ROOT/initdb.log" 2>&1 \
      || { cat "$PG_ROOT/initdb.log" >&2; die "initdb failed in $PG_DATA"; }
    echo "include_if_exists = 'onair.conf'" | pg_as_owner tee -a "$PG_DATA/postgresql.conf" >/dev/null
  fi

  # A server that was just killed can still look alive for a moment: wait until it either
  # answers on its port or is gone.
  if pg_private_running; then
    local i
    for i in $(seq 1 15); do
      port_answers "$(sed -n 4p "$PG_DATA/postmaster.pid" 2>/dev/null || true)" && break
      [ "$i" -eq 1 ] && say "The private cluster's postmaster.pid says it runs, but it does not answer: waiting"
      sleep 1
      pg_private_running || break
    done
  fi
  if pg_private_running; then
    local running_port
    running_port=$(sed -n 4p "$PG_DATA/postmaster.pid")
    if [ -n "$running_port" ] && [ "$running_port" != "$private_port" ]; then
      warn "the private cluster is already running on port $running_port (not $private_port): using it; 'make db-stop' to restart it on another port"
    fi
    private_port=${running_port:-$private_port}
    say "Reusing the private PostgreSQL cluster in target/pg on 127.0.0.1:$private_port"
  else
    # A unix socket path longer than ~107 bytes is refused: run without one then (we use TCP).
    local sockdir=$PG_RUN
    if [ ${#PG_RUN} -gt 90 ]; then
      say "note: $PG_RUN is too long for a unix socket path: the private cluster listens on TCP only"
      sockdir=""
    fi
    if port_answers "$private_port"; then
      die "port $private_port on 127.0.0.1 is taken by another program: set ONAIR_PG_PORT to a free port"
    fi
    printf "# written by scripts/ensure-db.sh on each start\nport = %s\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '%s'\n" \
      "$private_port" "$sockdir" | pg_as_owner tee "$PG_DATA/onair.conf" >/dev/null
    say "Starting the private PostgreSQL cluster on 127.0.0.1:$private_port (log: target/pg/log)"
    without_extra_fds pg_as_owner "$bindir/pg_ctl" -D "$PG_DATA" -l "$PG_LOG" -w -t 60 start >&2 || {
      say "--- last lines of $PG_LOG:"
      tail -n 20 "$PG_LOG" >&2 || true
      die "could not start the private PostgreSQL cluster in target/pg"
    }
  fi
  SERVER="postgres://postgres@127.0.0.1:$private_port"
}

# ---------------------------------------------------------------------------
# Pick the server: SERVER is a URL without path; QUERY is "" or "?...".

SERVER=""
QUERY=""
ADMIN_DBS="postgres template1"

if [ -n "${DATABASE_URL:-}" ]; then
  [[ "$DATABASE_URL" =~ ^(postgres(ql)?://[^/?#]*)(/[^?#]*)?(\?[^#]*)?$ ]] \
    || die "DATABASE_URL is not a postgres:// URL: $DATABASE_URL"
  SERVER=${BASH_REMATCH[1]}
  old_db=${BASH_REMATCH[3]#/}
  QUERY=${BASH_REMATCH[4]}
  [ -n "$old_db" ] && ADMIN_DBS="postgres $old_db template1"
  hostpart=${SERVER#*://}
  say "Using the server of DATABASE_URL (${hostpart##*@}) for database $name"
  ensure_psql
else
  ensure_psql
  if port_answers "$probe_port"; then
    if can_login "postgres://postgres@127.0.0.1:$probe_port/postgres"; then
      SERVER="postgres://postgres@127.0.0.1:$probe_port"
      say "Using the PostgreSQL server on 127.0.0.1:$probe_port for database $name"
    else
      say "Something answers on 127.0.0.1:$probe_port but user postgres cannot log in without a password:"
      say "using a private cluster under target/pg instead (set DATABASE_URL to use that server)."
    fi
  fi
  [ -n "$SERVER" ] || start_private_cluster
fi

# An admin connection to run CREATE/DROP DATABASE from.
admin=""
for db in $ADMIN_DBS; do
  if can_login "$SERVER/$db$QUERY"; then
    admin="$SERVER/$db$QUERY"
    break
  fi
done
if [ -z "$admin" ]; then
  "$PSQL" "$SERVER/postgres$QUERY" -X -tAc 'SELECT 1' >&2 || true
  hostpart=${SERVER#*://}
  die "cannot connect to PostgreSQL at ${hostpart##*@} (see the message above)"
fi

sql() { "$PSQL" "$admin" -X -q -v ON_ERROR_STOP=1 -tAc "$1"; }
exists() { [ "$(sql "SELECT 1 FROM pg_database WHERE datname = '$name'")" = "1" ]; }

if [ -n "$fresh" ] && exists; then
  say "Dropping database $name (--fresh)"
  sql "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '$name' AND pid <> pg_backend_pid()" >/dev/null
  sql "DROP DATABASE IF EXISTS \"$name\"" >/dev/null
fi
if exists; then
  say "Database $name is there"
else
  say "Creating database $name"
  # Another process may create it at the same moment: only fail if it is still missing.
  sql "CREATE DATABASE \"$name\"" >/dev/null || exists || die "could not create database $name"
fi

echo "$SERVER/$name$QUERY" >&3
