# shellcheck shell=bash
# Shared helpers for scripts/*.sh. Source it:  . "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
#
# All messages go to stderr, so that a script's stdout stays free for its result
# (scripts/ensure-db.sh prints only the database URL there).

ONAIR_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export ONAIR_ROOT

# Tools installed by `cargo install` must be found right after they are installed.
case ":$PATH:" in
  *":${CARGO_HOME:-$HOME/.cargo}/bin:"*) ;;
  *) PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH" ;;
esac
# wasm-opt (npm package binaryen) and playwright come from end2end/node_modules.
case ":$PATH:" in
  *":$ONAIR_ROOT/end2end/node_modules/.bin:"*) ;;
  *) PATH="$ONAIR_ROOT/end2end/node_modules/.bin:$PATH" ;;
esac
export PATH
export NPM_CONFIG_UPDATE_NOTIFIER=false NPM_CONFIG_FUND=false NPM_CONFIG_AUDIT=false

say()  { printf '%s\n' "$*" >&2; }
warn() { printf 'warning: %s\n' "$*" >&2; }
die()  { printf '\nerror: %s\n' "$*" >&2; exit 1; }

is_root() { [ "$(id -u)" -eq 0 ]; }
have()    { command -v "$1" >/dev/null 2>&1; }

# step [--unless CHECK] "description" command [args...]
#
# Prints "==> description", runs the command and prints
# "<== description: done in Ns". With --unless, CHECK (a command line, run with
# eval, its output discarded) is tried first: when it succeeds the step prints
# "<== description: skipped: already there" and the command is not run.
# A failing command ends the whole script at once with its exit code.
step() {
  local check=""
  if [ "${1:-}" = "--unless" ]; then
    check=$2
    shift 2
  fi
  [ $# -ge 2 ] || die "step: usage: step [--unless CHECK] \"description\" command [args...]"
  local desc=$1
  shift
  say "==> $desc"
  if [ -n "$check" ] && eval "$check" >/dev/null 2>&1; then
    say "<== $desc: skipped: already there"
    return 0
  fi
  local start=$SECONDS rc=0
  "$@" || rc=$?
  if [ "$rc" -ne 0 ]; then
    say ""
    say "!!! $desc: FAILED (exit code $rc) after $((SECONDS - start))s"
    say "!!! command: $*"
    exit "$rc"
  fi
  say "<== $desc: done in $((SECONDS - start))s"
}

# report_total "what": on exit, print how long the whole script took and whether it worked.
report_total() {
  ONAIR_TOTAL_WHAT=$1
  ONAIR_TOTAL_START=$SECONDS
  trap '_onair_total $?' EXIT
}
_onair_total() {
  local rc=$1 t=$((SECONDS - ONAIR_TOTAL_START))
  local took="${t}s"
  [ "$t" -ge 60 ] && took="${t}s ($((t / 60))m$((t % 60))s)"
  if [ "$rc" -eq 0 ]; then
    say "=== $ONAIR_TOTAL_WHAT: OK, total time $took"
  else
    say "=== $ONAIR_TOTAL_WHAT: FAILED (exit code $rc), total time $took"
  fi
}

# need_root_to_install "what is missing" "PKG...": returns when we are root (the caller then
# installs); otherwise prints the exact command the user must run and exits 1.
need_root_to_install() {
  is_root && return 0
  say ""
  say "error: $1, and installing it needs root. Run this once, then try again:"
  say ""
  say "    sudo apt-get update && sudo apt-get install -y $2"
  say ""
  exit 1
}

# apt_install PKG...: apt-get update (once per script) + apt-get install -y, messages on stderr.
ONAIR_APT_UPDATED=""
apt_install() {
  have apt-get || die "apt-get not found: install these packages with your system's package manager: $*"
  if [ -z "$ONAIR_APT_UPDATED" ]; then
    DEBIAN_FRONTEND=noninteractive apt-get update >&2
    ONAIR_APT_UPDATED=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y "$@" >&2
}

# ---------------------------------------------------------------------------
# The private PostgreSQL cluster under target/pg (used by ensure-db.sh and db-stop.sh)

PG_ROOT="$ONAIR_ROOT/target/pg"
PG_DATA="$PG_ROOT/data"
PG_RUN="$PG_ROOT/run"
PG_LOG="$PG_ROOT/log"

# pg_bindir [MAJOR]: the directory with initdb and pg_ctl (that major version if given and
# present, else the highest under /usr/lib/postgresql, else the one on PATH). Empty if none.
pg_bindir() {
  local want=${1:-} d
  if [ -n "$want" ] && [ -x "/usr/lib/postgresql/$want/bin/pg_ctl" ]; then
    echo "/usr/lib/postgresql/$want/bin"
    return
  fi
  d=$( (ls -d /usr/lib/postgresql/*/bin 2>/dev/null || true) | sort -V | tail -n 1)
  if [ -n "$d" ] && [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ]; then
    echo "$d"
    return
  fi
  if have initdb && have pg_ctl; then
    dirname "$(command -v pg_ctl)"
  fi
}

# pg_as_owner command...: runs a PostgreSQL server command as the cluster's owner
# (user postgres when we are root: the server refuses to run as root).
pg_as_owner() {
  if is_root; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

# without_extra_fds command...: runs the command with only stdin, stdout and stderr open.
# A daemon (the postmaster) must not inherit a pipe such as the one of `URL=$(ensure-db.sh)`
# or make's jobserver: the reader would wait for it forever.
without_extra_fds() {
  (
    local f fd
    for f in /proc/$BASHPID/fd/*; do
      fd=${f##*/}
      if [[ "$fd" =~ ^[0-9]+$ ]] && [ "$fd" -gt 2 ]; then
        eval "exec $fd>&-" 2>/dev/null || true
      fi
    done
    "$@"
  )
}

# pg_private_running: true when the private cluster's postmaster is alive.
pg_private_running() {
  [ -f "$PG_DATA/PG_VERSION" ] || return 1
  local bindir
  bindir=$(pg_bindir "$(cat "$PG_DATA/PG_VERSION")")
  [ -n "$bindir" ] || return 1
  pg_as_owner "$bindir/pg_ctl" -D "$PG_DATA" status >/dev/null 2>&1
}
