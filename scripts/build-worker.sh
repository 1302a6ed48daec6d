#!/bin/sh
# Offline build of the worker: cargo (wasm32) -> wasm-bindgen -> wasm-opt -> esbuild bundle.
# Output: build/index.js, build/index_bg.wasm, build/worker/shim.mjs (wrangler.toml `main`).
# Called by wrangler's [build] command and by `make build`.
set -eu
ROOT=$(CDPATH= cd -- "$(dirname -- "$0")/.." && pwd)
cd "$ROOT"

if [ "${SWITCHYARD_SKIP_BUILD:-}" = "1" ] && [ -f build/index.js ] && [ -f build/index_bg.wasm ]; then
  echo "build-worker: SWITCHYARD_SKIP_BUILD=1, reusing build/" >&2
  exit 0
fi

for bin in .tools/bin/worker-build .tools/bin/wasm-bindgen node_modules/.bin/esbuild node_modules/.bin/wasm-opt; do
  if [ ! -x "$bin" ]; then
    echo "build-worker: missing $bin — run scripts/setup.sh (make setup) first" >&2
    exit 1
  fi
done

# Fast path: wasm-bindgen + wasm-opt take ~10-15 s even when nothing changed. cargo's own
# no-op check is ~0.1 s, so build the lib first and skip worker-build when build/ is newer than
# the cargo artifact (and than this script). FORCE=1 always rebuilds.
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
ART="$TARGET_DIR/wasm32-unknown-unknown/release/switchyard.wasm"
if [ "${FORCE:-}" != "1" ]; then
  cargo build --release --target wasm32-unknown-unknown --lib
  if [ -f "$ART" ] && [ build/index_bg.wasm -nt "$ART" ] && [ build/index.js -nt "$ART" ] \
     && [ build/worker/shim.mjs -nt "$0" ]; then
    echo "build-worker: build/ is up to date with $ART (FORCE=1 to rebuild)" >&2
    exit 0
  fi
fi

export WASM_BINDGEN_BIN="$ROOT/.tools/bin/wasm-bindgen"
export WASM_OPT_BIN="$ROOT/node_modules/.bin/wasm-opt"
export ESBUILD_BIN="$ROOT/node_modules/.bin/esbuild"
exec "$ROOT/.tools/bin/worker-build" --release "$@"
