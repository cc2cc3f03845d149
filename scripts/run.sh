#!/usr/bin/env bash
# Usage: scripts/run.sh   (make run)
#        HTTPS=1 scripts/run.sh   (make run HTTPS=1; LAN=1 is the same)
# Sets up, makes sure the demo database `onair` exists, builds the release and starts the
# server on http://127.0.0.1:3000 (ONAIR_BIND overrides) with the demo accounts seeded.
#
# With HTTPS=1 the server serves HTTPS and WSS itself, for phones and other machines on the same
# network (cameras need HTTPS anywhere but localhost): it binds 0.0.0.0:3443 (HTTPS_PORT=... or
# ONAIR_BIND=... override), uses this machine's LAN IPv4 address (LAN_IP=... overrides the detected
# one), and makes a self-signed development certificate for it under target/dev-cert/ with openssl
# (subjectAltName IP:<lan ip>, IP:127.0.0.1, DNS:localhost; 30 days), reused while it is valid for
# at least another day and names the same IP. ONAIR_TLS_CERT/ONAIR_TLS_KEY use your own files instead.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ONAIR_ROOT"
export SQLX_OFFLINE=${SQLX_OFFLINE:-true}
start=$SECONDS

is_on() {
  case "${1:-}" in
    "" | 0 | no | false | off) return 1 ;;
    *) return 0 ;;
  esac
}
https=""
if is_on "${HTTPS:-}" || is_on "${LAN:-}"; then
  https=1
fi

# lan_ipv4: this machine's IPv4 address on the network its default route leads to (a routing-table
# lookup, nothing is sent), else the first address `hostname -I` lists. Empty if none.
lan_ipv4() {
  local ip=""
  if have ip; then
    ip=$(ip -4 route get 1.1.1.1 2>/dev/null | sed -n 's/.* src \([0-9.]*\).*/\1/p' | head -n 1)
  fi
  if [ -z "$ip" ] && have hostname; then
    ip=$(hostname -I 2>/dev/null | tr ' ' '\n' | grep -E '^[0-9]+(\.[0-9]+){3}$' | grep -v '^127\.' | head -n 1 || true)
  fi
  printf '%s' "$ip"
}

is_ipv4() {
  local IFS=. part
  [[ "$1" =~ ^[0-9]{1,3}(\.[0-9]{1,3}){3}$ ]] || return 1
  for part in $1; do
    [ "$part" -le 255 ] || return 1
  done
}

DEV_CERT_DIR="$ONAIR_ROOT/target/dev-cert"

# dev_cert_fits IP: the certificate in target/dev-cert/ exists, is valid for at least another day
# and names IP.
dev_cert_fits() {
  local cert="$DEV_CERT_DIR/cert.pem"
  [ -s "$cert" ] && [ -s "$DEV_CERT_DIR/key.pem" ] || return 1
  openssl x509 -in "$cert" -noout -checkend 86400 >/dev/null 2>&1 || return 1
  openssl x509 -in "$cert" -noout -ext subjectAltName 2>/dev/null | grep -Eq "IP Address:$1(,|\$)"
}

# make_dev_cert IP: a new self-signed ECDSA P-256 certificate and key in target/dev-cert/.
make_dev_cert() {
  local out
  mkdir -p "$DEV_CERT_DIR"
  if ! out=$(openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 30 \
    -subj "/CN=onair development ($1)" \
    -addext "subjectAltName=IP:$1,IP:127.0.0.1,DNS:localhost" \
    -addext "basicConstraints=critical,CA:FALSE" \
    -addext "keyUsage=critical,digitalSignature" \
    -addext "extendedKeyUsage=serverAuth" \
    -keyout "$DEV_CERT_DIR/key.pem.new" -out "$DEV_CERT_DIR/cert.pem.new" 2>&1); then
    say "$out"
    die "openssl could not make the development certificate (OpenSSL 1.1.1 or later is needed for -addext)"
  fi
  chmod 600 "$DEV_CERT_DIR/key.pem.new"
  mv "$DEV_CERT_DIR/key.pem.new" "$DEV_CERT_DIR/key.pem"
  mv "$DEV_CERT_DIR/cert.pem.new" "$DEV_CERT_DIR/cert.pem"
  openssl x509 -in "$DEV_CERT_DIR/cert.pem" -noout -subject -enddate -ext subjectAltName >&2
}

install_openssl() {
  need_root_to_install "openssl (to make the development certificate for HTTPS=1) is missing" openssl
  apt_install openssl
}

# The HTTPS settings come first: a missing LAN address stops the script before the long build.
if [ -n "$https" ]; then
  port=${HTTPS_PORT:-3443}
  lan_ip=${LAN_IP:-$(lan_ipv4)}
  [ -n "$lan_ip" ] || die "could not find this machine's LAN IPv4 address: give it, e.g. make run HTTPS=1 LAN_IP=192.168.1.20"
  is_ipv4 "$lan_ip" || die "LAN_IP=$lan_ip is not an IPv4 address like 192.168.1.20"
  if [ -z "${ONAIR_TLS_CERT:-}${ONAIR_TLS_KEY:-}" ]; then
    step --unless "have openssl" "openssl (Debian's package, for the development certificate)" install_openssl
    step --unless "dev_cert_fits $lan_ip" "development certificate for $lan_ip in target/dev-cert/" make_dev_cert "$lan_ip"
    export ONAIR_TLS_CERT="$DEV_CERT_DIR/cert.pem" ONAIR_TLS_KEY="$DEV_CERT_DIR/key.pem"
  fi
  bind=${ONAIR_BIND:-0.0.0.0:$port}
  port=${bind##*:}
  export ONAIR_BIND=$bind
  export ONAIR_ALLOWED_ORIGINS=${ONAIR_ALLOWED_ORIGINS:-https://$lan_ip:$port,https://localhost:$port,https://127.0.0.1:$port}
fi

step "set up the tools" scripts/setup.sh
DATABASE_URL=$(scripts/ensure-db.sh onair)
export DATABASE_URL
step "cargo leptos build --release" cargo leptos build --release

bind=${ONAIR_BIND:-127.0.0.1:3000}
export LEPTOS_OUTPUT_NAME=onair
export LEPTOS_SITE_ROOT=target/site
export LEPTOS_SITE_ADDR=$bind
if [ -n "$https" ]; then
  say "=== ready in $((SECONDS - start))s: starting onair with HTTPS on $bind (demo accounts seeded; Ctrl-C stops it)"
  say ""
  say "    On a phone or another computer on the same network, open:  https://$lan_ip:$port/"
  say "    On this machine:                                             https://localhost:$port/"
  say ""
  say "    The certificate is self-signed: accept the browser's warning once per device"
  say "    (Chrome: Advanced > Proceed; Safari: Show Details > visit this website)."
  say "    Nothing there? A firewall may block TCP port $port."
  say ""
else
  say "=== ready in $((SECONDS - start))s: starting onair on http://$bind (demo accounts seeded; Ctrl-C stops it)"
fi
exec target/release/onair --demo
