#!/usr/bin/env bash
# Usage: scripts/setup.sh [--test] [--e2e-only] [--turn] [--bench]
#
# Installs what building and running onair needs, on a machine that has the Rust toolchain
# (rustup), node/npm and apt. Every step checks first and skips what is already there.
#   - the Rust target wasm32-unknown-unknown
#   - cargo-leptos 0.3.10 (cargo install, ~12 min the first time)
#   - wasm-bindgen-cli at the exact wasm-bindgen version of Cargo.lock (~3 min the first time)
#   - end2end/node_modules (npm ci): binaryen's wasm-opt for release builds, @playwright/test
#   --test      also Debian's chromium (/usr/bin/chromium) for the Playwright suite, and --turn
#   --turn      also Debian's coturn and nftables for the TURN-only test (the coturn service is left
#               stopped; without root a missing one only warns: that test is then skipped anyway)
#   --bench     also Debian's wrk and brotli for `make bench` (HTTP load, compressed bundle sizes)
#   --e2e-only  only the npm packages and chromium (what `make e2e` needs)
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ONAIR_ROOT"

CARGO_LEPTOS_VERSION=0.3.10
test_deps=""
e2e_only=""
bench_deps=""
turn_deps=""
for arg in "$@"; do
  case "$arg" in
    --test) test_deps=1; turn_deps=1 ;;
    --turn) turn_deps=1 ;;
    --bench) bench_deps=1 ;;
    --e2e-only) e2e_only=1; test_deps=1 ;;
    -h|--help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "setup.sh: unknown argument $arg (expected --test, --e2e-only, --turn or --bench)" ;;
  esac
done

# --- Rust ------------------------------------------------------------------

has_wasm_target() { rustup target list --installed | grep -qx wasm32-unknown-unknown; }
has_cargo_leptos() { cargo leptos --version 2>/dev/null | grep -qw "$CARGO_LEPTOS_VERSION"; }

# The wasm-bindgen version locked in Cargo.lock: the CLI must be exactly the same.
wasm_bindgen_version() {
  [ -f Cargo.lock ] || die "Cargo.lock is missing: it pins the wasm-bindgen version the CLI must match"
  awk '
    /^\[\[package\]\]/ { inpkg = 0 }
    /^name = "wasm-bindgen"$/ { inpkg = 1; next }
    inpkg && /^version = / { gsub(/"/, "", $3); print $3; exit }
  ' Cargo.lock
}
has_wasm_bindgen() { wasm-bindgen --version 2>/dev/null | grep -qw "$WASM_BINDGEN_VERSION"; }

if [ -z "$e2e_only" ]; then
  have cargo || die "cargo not found: install Rust with rustup (https://rustup.rs) and open a new shell"
  have rustup || die "rustup not found: the wasm32-unknown-unknown target is installed with rustup"

  step --unless has_wasm_target "Rust target wasm32-unknown-unknown" \
    rustup target add wasm32-unknown-unknown

  step --unless has_cargo_leptos "cargo-leptos $CARGO_LEPTOS_VERSION (first time: ~12 min)" \
    cargo install cargo-leptos --locked --version "$CARGO_LEPTOS_VERSION"

  WASM_BINDGEN_VERSION=$(wasm_bindgen_version)
  [ -n "$WASM_BINDGEN_VERSION" ] || die "no wasm-bindgen package found in Cargo.lock"
  # Not --locked: for 0.2.130 one locked dependency is missing from the registry.
  step --unless has_wasm_bindgen "wasm-bindgen-cli $WASM_BINDGEN_VERSION, as in Cargo.lock (first time: ~3 min)" \
    cargo install wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION"
fi

# --- npm: wasm-opt (binaryen) and Playwright ----------------------------------

have node || die "node not found: install Node.js (Debian: apt-get install nodejs npm)"
have npm || die "npm not found: install npm (Debian: apt-get install npm)"

npm_up_to_date() {
  # npm ci writes node_modules/.package-lock.json: older than package-lock.json means stale.
  [ -f end2end/node_modules/.package-lock.json ] \
    && [ ! end2end/package-lock.json -nt end2end/node_modules/.package-lock.json ] \
    && [ -x end2end/node_modules/.bin/wasm-opt ] \
    && [ -x end2end/node_modules/.bin/playwright ]
}
npm_ci() {
  (cd end2end && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund)
}
step --unless npm_up_to_date "npm packages in end2end (binaryen's wasm-opt, @playwright/test)" npm_ci

wasm_opt_works() { end2end/node_modules/.bin/wasm-opt --version >&2; }
step "check wasm-opt from end2end/node_modules" wasm_opt_works

# --- chromium for the Playwright suite -----------------------------------------

if [ -n "$test_deps" ]; then
  has_chromium() { [ -x /usr/bin/chromium ]; }
  install_chromium() {
    need_root_to_install "Debian's chromium (/usr/bin/chromium, used by the Playwright tests) is missing" chromium
    apt_install chromium
  }
  step --unless has_chromium "chromium (/usr/bin/chromium, Debian's package)" install_chromium
fi

# --- coturn and nftables for the TURN-only test ------------------------------------

# scripts/turn-test.sh runs its own turnserver inside a network namespace: the package's system service
# must not stay running on port 3478.
if [ -n "$turn_deps" ]; then
  has_turn_tools() { have turnserver && have nft; }
  install_turn_tools() {
    if ! is_root; then
      warn "Debian's coturn and nftables are missing and installing them needs root: the TURN-only test will be skipped (as root: apt-get install -y coturn nftables)"
      return 0
    fi
    apt_install coturn nftables
    if have systemctl && systemctl is-active --quiet coturn 2>/dev/null; then
      say "Stopping and disabling the coturn system service (the test starts its own turnserver)"
      systemctl disable --now coturn >&2 || warn "could not stop the coturn service: stop it with 'systemctl disable --now coturn'"
    elif have service && service coturn status >/dev/null 2>&1; then
      say "Stopping the coturn system service (the test starts its own turnserver)"
      service coturn stop >&2 || warn "could not stop the coturn service: stop it with 'service coturn stop'"
    fi
  }
  step --unless has_turn_tools "coturn and nftables (Debian's packages, for the TURN-only test)" install_turn_tools
fi

# --- wrk and brotli for the benchmarks (make bench) -------------------------------

if [ -n "$bench_deps" ]; then
  has_bench_tools() { have wrk && have brotli; }
  install_bench_tools() {
    need_root_to_install "Debian's wrk and brotli (used by make bench) are missing" "wrk brotli"
    apt_install wrk brotli
  }
  step --unless has_bench_tools "wrk and brotli (Debian's packages, for make bench)" install_bench_tools
fi
