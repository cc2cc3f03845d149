#!/usr/bin/env bash
# Usage: scripts/turn-test.sh [playwright args...]   (make turn-test; the last step of make test)
#
# The TURN-only test: two browsers that can reach each other only through a TURN relay. It builds three
# network namespaces joined by veth pairs,
#
#     alice 10.77.1.2 ──veth── 10.77.1.1  turn  10.77.2.1 ──veth── 10.77.2.2 bob
#                                        lo: 10.77.0.1/32 (coturn and onair)
#
# with forwarding off in `turn` (and an nftables forward drop), so alice and bob cannot reach each other. coturn
# runs in `turn` with use-auth-secret and the peer-IP rules of docs/coturn.conf; the release server
# (target/release/onair, target/site) runs there too, on 10.77.0.1:$ONAIR_TURN_TEST_PORT (default 3400) with
# --turn-urls turn:10.77.0.1:3478?transport=udp,...?transport=tcp and --turn-secret, against a fresh database
# $ONAIR_TURN_DB (default onair_turn) reached through PostgreSQL's unix socket (the filesystem is shared
# across namespaces, the network is not). Then Playwright (end2end/turn/) runs Chromium in alice and in bob:
# a seller in alice goes live, a shopper in bob watches (video plays, the selected candidate pair is a relay
# one), and an expired credential is refused with 401. Everything is removed afterwards, also on failure.
# The server runs live streams peer-to-peer (`--live-delivery p2p`): this test is about browser-to-browser
# media through TURN; a viewer reaching the forwarding unit (SFU) through TURN is not covered here.
# Logs stay in target/turn-test/ (coturn.log, server.log).
#
# Without root or network namespaces the test prints why and is skipped (exit 0). It only uses addresses of
# the namespaces it creates; every wait is bounded.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ONAIR_ROOT"

PORT=${ONAIR_TURN_TEST_PORT:-3400}
DB_NAME=${ONAIR_TURN_DB:-onair_turn}
ID=$$
NS_ALICE="onair-alice-$ID"
NS_BOB="onair-bob-$ID"
NS_TURN="onair-turn-$ID"
RELAY_IP=10.77.0.1
ALICE_IP=10.77.1.2
ALICE_GW=10.77.1.1
BOB_IP=10.77.2.2
BOB_GW=10.77.2.1
WORK="$ONAIR_ROOT/target/turn-test"

# phase "description" function: like lib.sh's step, but the function runs with set -e in force (step runs
# its command behind `||`, where bash ignores set -e), so any failing command in it ends the test.
PHASE=""
phase() {
  local desc=$1 start=$SECONDS
  shift
  PHASE=$desc
  say "==> $desc"
  "$@"
  say "<== $desc: done in $((SECONDS - start))s"
  PHASE=""
}

skip() {
  say ""
  say "=== turn test: SKIPPED: $*"
  exit 0
}

# --- Can we run at all? -----------------------------------------------------------------------------

[ "$(id -u)" -eq 0 ] || skip "it needs root (network namespaces, veth pairs, coturn inside a namespace); id -u is $(id -u)"
have ip || skip "the ip command (iproute2) is missing"
probe="onair-probe-$ID"
if ! probe_err=$(ip netns add "$probe" 2>&1); then
  skip "network namespaces are not available here: 'ip netns add' said: $probe_err"
fi
ip netns del "$probe" 2>/dev/null || true

[ -x target/release/onair ] \
  || die "target/release/onair is missing: build it with 'cargo leptos build --release' (or run 'make test')"
[ -d target/site/pkg ] \
  || die "target/site/pkg is missing: build it with 'cargo leptos build --release' (or run 'make test')"

report_total "turn test"
step "npm packages, chromium, coturn and nftables" scripts/setup.sh --e2e-only --turn
have turnserver || die "turnserver (Debian's coturn) is missing: install it with 'apt-get install -y coturn'"
have nft || warn "nft (Debian's nftables) is missing: no nftables forward drop in the turn namespace (forwarding is off there all the same)"

# --- Clean-up, always ---------------------------------------------------------------------------------

COTURN_PID=""
SERVER_PID=""
LISTENER_PID=""

# stop_pid PID: SIGTERM, up to 5 s to exit, then SIGKILL.
stop_pid() {
  local pid=$1 i
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for i in $(seq 1 50); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

# del_ns NS: ends what still runs in it (browsers left by a killed Playwright), then deletes it (with its
# veths and nftables table).
del_ns() {
  local ns=$1 pids
  ip netns list 2>/dev/null | awk '{print $1}' | grep -qx "$ns" || return 0
  pids=$(ip netns pids "$ns" 2>/dev/null || true)
  if [ -n "$pids" ]; then
    # shellcheck disable=SC2086
    kill -KILL $pids 2>/dev/null || true
    sleep 0.2
  fi
  ip netns del "$ns" 2>/dev/null || warn "could not delete network namespace $ns"
}

cleanup() {
  local rc=$1
  trap - EXIT INT TERM
  stop_pid "$LISTENER_PID"
  stop_pid "$SERVER_PID"
  stop_pid "$COTURN_PID"
  del_ns "$NS_ALICE"
  del_ns "$NS_BOB"
  del_ns "$NS_TURN"
  if [ "$rc" -ne 0 ]; then
    [ -n "$PHASE" ] && say "!!! $PHASE: FAILED (exit code $rc)"
    say "--- last lines of target/turn-test/server.log:"
    tail -n 15 "$WORK/server.log" >&2 2>/dev/null || true
    say "--- last lines of target/turn-test/coturn.log:"
    tail -n 15 "$WORK/coturn.log" >&2 2>/dev/null || true
  fi
  _onair_total "$rc"
  exit "$rc"
}
trap 'cleanup $?' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Namespaces left by an earlier run that was killed (its script's pid is gone).
for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep -E '^onair-(alice|bob|turn)-[0-9]+$' || true); do
  owner=${ns##*-}
  if ! kill -0 "$owner" 2>/dev/null; then
    say "Removing network namespace $ns left by an earlier run"
    del_ns "$ns"
  fi
done

rm -rf "$WORK"
mkdir -p "$WORK"

# --- The network -----------------------------------------------------------------------------------------

make_network() {
  local ns
  for ns in "$NS_TURN" "$NS_ALICE" "$NS_BOB"; do
    ip netns add "$ns"
    ip -n "$ns" link set lo up
    # IPv4 only: no link-local IPv6 candidates to muddle the picture.
    ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
  done
  ip -n "$NS_TURN" addr add "$RELAY_IP/32" dev lo

  # veth pairs, created straight inside their namespaces (no names in the root namespace).
  ip -n "$NS_TURN" link add t-alice type veth peer name eth0 netns "$NS_ALICE"
  ip -n "$NS_TURN" link add t-bob type veth peer name eth0 netns "$NS_BOB"
  ip -n "$NS_TURN" addr add "$ALICE_GW/24" dev t-alice
  ip -n "$NS_TURN" addr add "$BOB_GW/24" dev t-bob
  ip -n "$NS_TURN" link set t-alice up
  ip -n "$NS_TURN" link set t-bob up
  ip -n "$NS_ALICE" addr add "$ALICE_IP/24" dev eth0
  ip -n "$NS_BOB" addr add "$BOB_IP/24" dev eth0
  ip -n "$NS_ALICE" link set eth0 up
  ip -n "$NS_BOB" link set eth0 up
  # Both ends route the whole test range through `turn`, so alice's packets for bob do reach `turn`,
  # which must drop them. No default route: nothing leaves the test range.
  ip -n "$NS_ALICE" route add 10.77.0.0/16 via "$ALICE_GW"
  ip -n "$NS_BOB" route add 10.77.0.0/16 via "$BOB_GW"

  ip netns exec "$NS_TURN" sysctl -qw net.ipv4.ip_forward=0
  # Belt and braces: the isolation check below is what proves alice and bob are apart.
  if ! ip netns exec "$NS_TURN" nft -f - <<'EOF'
table inet onair_turn_test {
  chain forward {
    type filter hook forward priority 0; policy drop;
  }
}
EOF
  then
    warn "could not add the nftables forward drop in $NS_TURN (forwarding is off there all the same)"
  fi
}
phase "network namespaces $NS_ALICE, $NS_BOB, $NS_TURN" make_network

# tcp_connects NS IP PORT: a TCP connection from NS to IP:PORT succeeds within 3 s.
tcp_connects() {
  ip netns exec "$1" timeout 3 bash -c "exec 3<>/dev/tcp/$2/$3" 2>/dev/null
}

check_isolation() {
  ip netns exec "$NS_BOB" socat TCP-LISTEN:9009,bind="$BOB_IP",reuseaddr,fork SYSTEM:true \
    >/dev/null 2>&1 &
  LISTENER_PID=$!
  local i
  for i in $(seq 1 30); do
    tcp_connects "$NS_TURN" "$BOB_IP" 9009 && break
    [ "$i" -eq 30 ] && die "bob's test listener on $BOB_IP:9009 does not answer from $NS_TURN"
    sleep 0.1
  done
  if tcp_connects "$NS_ALICE" "$BOB_IP" 9009; then
    die "alice reaches bob directly ($BOB_IP:9009): forwarding in $NS_TURN is not off"
  fi
  stop_pid "$LISTENER_PID"
  LISTENER_PID=""
  say "turn reaches bob; alice does not"
}
phase "alice and bob cannot reach each other" check_isolation

# --- coturn ------------------------------------------------------------------------------------------------

SECRET=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')

# docs/coturn.conf's rules (peer IPs, relay protocols, quotas, hardening) with this test's addresses, ports,
# realm, secret and logs instead of the production ones; no TLS; the test range as the one exception to the
# denied private ranges (it includes the relay's own address, for relay-to-relay pairs).
write_coturn_conf() {
  local overridden='^(listening-port|tls-listening-port|listening-ip|relay-ip|external-ip|min-port|max-port|static-auth-secret|realm|cert|pkey|proc-user|proc-group|syslog|log-file|simple-log|pidfile|allowed-peer-ip)([= ]|$)'
  grep -Eq '^[[:space:]]*allow-loopback-peers' docs/coturn.conf \
    && die "docs/coturn.conf sets allow-loopback-peers: never do that"
  grep -qx 'use-auth-secret' docs/coturn.conf || die "docs/coturn.conf lacks use-auth-secret"
  # coturn reads an all-zero range bound (:: or 0.0.0.0) as "any address": such a rule denies every peer.
  local rule lo hi
  while IFS= read -r rule; do
    lo=${rule%%-*}
    hi=${rule#*-}
    if [[ "$hi" =~ ^[0.:]+$ ]] || { [[ "$lo" == *:* ]] && [[ "$lo" =~ ^[0:]+$ ]]; }; then
      die "docs/coturn.conf: denied-peer-ip=$rule has an all-zero bound, which coturn reads as any address: it would deny every peer"
    fi
  done < <(sed -n 's/^denied-peer-ip=//p' docs/coturn.conf)
  {
    echo "# Written by scripts/turn-test.sh from docs/coturn.conf"
    grep -Ev '^[[:space:]]*(#|$)' docs/coturn.conf | grep -Ev "$overridden"
    echo "listening-ip=$RELAY_IP"
    echo "relay-ip=$RELAY_IP"
    echo "listening-port=3478"
    echo "min-port=40000"
    echo "max-port=65000"
    echo "realm=onair.test"
    echo "static-auth-secret=$SECRET"
    echo "allowed-peer-ip=10.77.0.0-10.77.255.255"
    echo "no-tls"
    echo "log-file=$WORK/coturn.log"
    echo "simple-log"
    echo "pidfile=$WORK/turnserver.pid"
    # The Debian default database file may be absent or unreadable: keep its own in the work dir.
    echo "userdb=$WORK/turndb"
  } >"$WORK/turnserver.conf"
  chmod 600 "$WORK/turnserver.conf"
}

start_coturn() {
  write_coturn_conf
  ip netns exec "$NS_TURN" turnserver -c "$WORK/turnserver.conf" >"$WORK/coturn.stdout" 2>&1 &
  COTURN_PID=$!
  local i
  for i in $(seq 1 100); do
    kill -0 "$COTURN_PID" 2>/dev/null || { cat "$WORK/coturn.stdout" >&2; die "turnserver exited at start"; }
    tcp_connects "$NS_ALICE" "$RELAY_IP" 3478 && break
    [ "$i" -eq 100 ] && die "turnserver does not answer on $RELAY_IP:3478/tcp after 10 s"
    sleep 0.1
  done
  if grep -E 'ERROR|CONFIG ERROR|Bad configuration|unknown' "$WORK/coturn.log" >&2 2>/dev/null; then
    die "turnserver reported configuration errors (above; full log: target/turn-test/coturn.log)"
  fi
  say "turnserver runs on $RELAY_IP:3478 (udp, tcp) in $NS_TURN, pid $COTURN_PID"
}
phase "coturn in $NS_TURN (use-auth-secret, docs/coturn.conf's peer rules)" start_coturn

# Addresses a relay must never reach: coturn must answer 403 before it sends anything (and `turn` has no route
# out of the test range anyway). turnutils_uclient comes with coturn; -W makes TURN REST credentials.
check_peer_rules() {
  local peer out
  have turnutils_uclient || die "turnutils_uclient (Debian's coturn) is missing"
  for peer in 127.0.0.1 0.0.0.0 169.254.169.254 10.0.0.1 172.16.0.1 192.168.0.1 100.64.0.1; do
    out=$(ip netns exec "$NS_ALICE" timeout 10 turnutils_uclient -W "$SECRET" -u "peer-probe-$RANDOM" \
      -e "$peer" -r 9 -n 1 -m 1 -c "$RELAY_IP" 2>&1 || true)
    if ! grep -q '403 (Forbidden IP)' <<<"$out"; then
      say "$out"
      die "coturn did not refuse to relay to $peer with 403 (Forbidden IP)"
    fi
  done
  say "403 (Forbidden IP) for 127.0.0.1, 0.0.0.0, 169.254.169.254, 10.0.0.1, 172.16.0.1, 192.168.0.1, 100.64.0.1"
}
phase "coturn refuses loopback, unspecified, link-local and private peers" check_peer_rules

# --- The onair release server --------------------------------------------------------------------------------

# A fresh database; the server reaches PostgreSQL through its unix socket, which works from any network
# namespace. ensure-db.sh gives a TCP URL (postgres://USER@HOST:PORT/DB?...): ask that server where its socket is.
socket_url() {
  local url=$1 rest userpart port dir
  rest=${url#*://}
  userpart=""
  case "$rest" in *@*) userpart=${rest%%@*}; rest=${rest#*@} ;; esac
  port=5432
  case "${rest%%/*}" in *:*) port=${rest%%/*}; port=${port##*:} ;; esac
  dir=$(psql "$url" -X -q -tAc 'SHOW unix_socket_directories' 2>/dev/null | cut -d, -f1 | tr -d ' ') || true
  [ -n "$dir" ] && [ -S "$dir/.s.PGSQL.$port" ] || return 1
  local user=${userpart%%:*}
  echo "postgres:///$DB_NAME?host=$dir&port=$port${user:+&user=$user}"
}

start_server() {
  local tcp_url url
  tcp_url=$(scripts/ensure-db.sh --fresh "$DB_NAME")
  url=$(socket_url "$tcp_url") \
    || die "the PostgreSQL server of $tcp_url has no unix socket this test can use (SHOW unix_socket_directories); the server in $NS_TURN cannot reach 127.0.0.1 of the root namespace"
  say "The server uses the fresh database $DB_NAME through $url"
  local origin="http://$RELAY_IP:$PORT"
  ip netns exec "$NS_TURN" env \
    DATABASE_URL="$url" \
    ONAIR_TURN_SECRET="$SECRET" \
    LEPTOS_SITE_ROOT=target/site LEPTOS_OUTPUT_NAME=onair LEPTOS_SITE_ADDR="$RELAY_IP:$PORT" \
    RUST_LOG="${RUST_LOG:-info}" \
    target/release/onair \
    --bind "$RELAY_IP:$PORT" \
    --site-root target/site \
    --allowed-origins "$origin" \
    --turn-urls "turn:$RELAY_IP:3478?transport=udp,turn:$RELAY_IP:3478?transport=tcp" \
    --live-delivery p2p \
    >"$WORK/server.log" 2>&1 &
  SERVER_PID=$!
  local i
  for i in $(seq 1 120); do
    kill -0 "$SERVER_PID" 2>/dev/null || die "the server exited at start (target/turn-test/server.log)"
    ip netns exec "$NS_ALICE" curl -sf --max-time 2 -o /dev/null "$origin/healthz" && break
    [ "$i" -eq 120 ] && die "the server does not answer $origin/healthz from $NS_ALICE after 60 s"
    sleep 0.5
  done
  ip netns exec "$NS_BOB" curl -sf --max-time 2 -o /dev/null "$origin/healthz" \
    || die "bob cannot reach the server at $origin"
  say "onair runs on $origin in $NS_TURN, pid $SERVER_PID"
}
phase "onair release server in $NS_TURN with --turn-urls and --turn-secret" start_server

# --- The browsers ------------------------------------------------------------------------------------------------

# Playwright starts Chromium through these: the pipe it talks over survives `ip netns exec`.
for who in alice bob; do
  ns_var="NS_${who^^}"
  printf '#!/bin/sh\nexec ip netns exec %s /usr/bin/chromium "$@"\n' "${!ns_var}" >"$WORK/chromium-$who"
  chmod 755 "$WORK/chromium-$who"
done

export ONAIR_TURN_BASE_URL="http://$RELAY_IP:$PORT"
export ONAIR_TURN_SIGNALING_IP="$RELAY_IP"
export ONAIR_TURN_RELAY_IP="$RELAY_IP"
export ONAIR_TURN_URL_UDP="turn:$RELAY_IP:3478?transport=udp"
export ONAIR_TURN_TEST_SECRET="$SECRET"
export ONAIR_TURN_CHROMIUM_ALICE="$WORK/chromium-alice"
export ONAIR_TURN_CHROMIUM_BOB="$WORK/chromium-bob"

run_playwright() { (cd end2end && npx --no-install playwright test -c turn/playwright.turn.config.ts "$@"); }
step "playwright test (end2end/turn: relay-only call, expired credential)" run_playwright "$@"
