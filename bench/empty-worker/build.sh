#!/bin/sh
# Builds the empty Rust worker into build/empty/ with the router's toolchain (worker-build,
# wasm-bindgen, wasm-opt, esbuild from .tools and node_modules) and its release profile, in
# the router's cargo target dir (so worker and its dependencies are not compiled again).
#   sh bench/empty-worker/build.sh && CONTENDERS="js rust-empty sy-ab" bench/workerd.sh
set -eu
ROOT=$(CDPATH= cd -- "$(dirname -- "$0")/../.." && pwd)
export WASM_BINDGEN_BIN="$ROOT/.tools/bin/wasm-bindgen"
export WASM_OPT_BIN="$ROOT/node_modules/.bin/wasm-opt"
export ESBUILD_BIN="$ROOT/node_modules/.bin/esbuild"
[ -f "$ROOT/bench/empty-worker/Cargo.lock" ] || cp "$ROOT/Cargo.lock" "$ROOT/bench/empty-worker/Cargo.lock"
cd "$ROOT/bench/empty-worker"
"$ROOT/.tools/bin/worker-build" --release --out-dir "$ROOT/build/empty" -- --target-dir "${CARGO_TARGET_DIR:-$ROOT/target}/wasm"
