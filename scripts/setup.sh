#!/usr/bin/env bash
# Idempotent developer/CI setup for Switchyard. Installs only what is missing:
#   - rustup target wasm32-unknown-unknown
#   - wasm-bindgen-cli at exactly the wasm-bindgen version pinned in Cargo.lock -> .tools/bin
#     (also provides wasm-bindgen-test-runner, used by `make test`)
#   - worker-build 0.8.7 -> .tools/bin
#   - npm ci (wrangler 4.86.0, binaryen 132 for wasm-opt), skipped when the lockfile is unchanged
#   - .dev.vars with a random local-only RECEIPT_KEY and ADMIN_TOKEN (never used in production)
# Works offline except for crates.io / npm registry downloads.
set -euo pipefail
ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

WORKER_BUILD_VERSION=0.8.7
TOOLS="$ROOT/.tools"
log() { printf 'setup: %s\n' "$*" >&2; }

command -v cargo >/dev/null || { log "cargo not found (install Rust via rustup)"; exit 1; }
command -v node >/dev/null || { log "node not found (Node >= 20 required)"; exit 1; }
command -v npm >/dev/null || { log "npm not found"; exit 1; }

# 1. wasm32 target
if command -v rustup >/dev/null; then
  if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
    log "adding rustup target wasm32-unknown-unknown"
    rustup target add wasm32-unknown-unknown
  fi
else
  log "rustup not found; assuming the wasm32-unknown-unknown std is installed"
fi

mkdir -p "$TOOLS/bin"

# 2. wasm-bindgen-cli == Cargo.lock's wasm-bindgen
WB_VERSION=$(awk '/^name = "wasm-bindgen"$/ {getline; gsub(/version = |"/, ""); print; exit}' Cargo.lock)
if [ -z "$WB_VERSION" ]; then log "could not read wasm-bindgen version from Cargo.lock"; exit 1; fi
have_wb=$("$TOOLS/bin/wasm-bindgen" --version 2>/dev/null | awk '{print $2}' || true)
if [ "$have_wb" != "$WB_VERSION" ] || [ ! -x "$TOOLS/bin/wasm-bindgen-test-runner" ]; then
  log "installing wasm-bindgen-cli $WB_VERSION (have: ${have_wb:-none})"
  # No --locked: the registry mirror lacks one of its pinned dependencies.
  cargo install wasm-bindgen-cli --version "=$WB_VERSION" --root "$TOOLS" --force
fi

# 3. worker-build
have_wkb=$("$TOOLS/bin/worker-build" --version 2>/dev/null | tr -d '[:space:]' || true)
if [ "$have_wkb" != "$WORKER_BUILD_VERSION" ]; then
  log "installing worker-build $WORKER_BUILD_VERSION (have: ${have_wkb:-none})"
  cargo install worker-build --version "=$WORKER_BUILD_VERSION" --root "$TOOLS" --locked --force \
    || cargo install worker-build --version "=$WORKER_BUILD_VERSION" --root "$TOOLS" --force
fi

# 4. npm ci, skipped when package-lock.json is unchanged since the last successful run
LOCK_SUM=$(sha256sum package-lock.json | cut -d' ' -f1)
STAMP=node_modules/.switchyard-lock.sha256
if [ ! -f "$STAMP" ] || [ "$(cat "$STAMP")" != "$LOCK_SUM" ] || [ ! -x node_modules/.bin/wrangler ]; then
  log "npm ci"
  npm ci --no-audit --no-fund
  echo "$LOCK_SUM" > "$STAMP"
fi
# The workerd/esbuild install scripts are denied (package.json allowScripts); the platform
# binaries come from optionalDependencies. Fail early if they do not run.
node_modules/.bin/esbuild --version >/dev/null
node_modules/.bin/workerd --version >/dev/null
node_modules/.bin/wasm-opt --version >/dev/null

# 5. local-only secrets for `wrangler dev` (both workers read .dev.vars next to their config)
rand() { od -An -N16 -tx1 /dev/urandom | tr -d ' \n'; }
if [ ! -f .dev.vars ]; then
  log "writing .dev.vars (local RECEIPT_KEY and ADMIN_TOKEN)"
  printf 'RECEIPT_KEY=dev-%s\nADMIN_TOKEN=local-%s\n' "$(rand)" "$(rand)" > .dev.vars
elif ! grep -q '^ADMIN_TOKEN=' .dev.vars; then
  # The operator API is closed without a token: add a local one.
  log "adding a local ADMIN_TOKEN to .dev.vars"
  [ -z "$(tail -c1 .dev.vars)" ] || printf '\n' >> .dev.vars
  printf 'ADMIN_TOKEN=local-%s\n' "$(rand)" >> .dev.vars
fi

# Loopback http:// alert webhooks are sent to only where SWITCHYARD_LOCAL_DEV=1: this file is
# read by `wrangler dev` alone, so a deployed stats worker never has it.
if ! grep -q '^SWITCHYARD_LOCAL_DEV=' .dev.vars; then
  [ -z "$(tail -c1 .dev.vars)" ] || printf '\n' >> .dev.vars
  printf 'SWITCHYARD_LOCAL_DEV=1\n' >> .dev.vars
fi

log "ok: wasm-bindgen $WB_VERSION, worker-build $WORKER_BUILD_VERSION, wrangler $(node -p "require('./node_modules/wrangler/package.json').version")"
