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

export WASM_BINDGEN_BIN="$ROOT/.tools/bin/wasm-bindgen"
export WASM_OPT_BIN="$ROOT/node_modules/.bin/wasm-opt"
export ESBUILD_BIN="$ROOT/node_modules/.bin/esbuild"
exec "$ROOT/.tools/bin/worker-build" --release "$@"
