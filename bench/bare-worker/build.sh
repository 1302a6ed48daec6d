#!/bin/sh
# Builds the bare Rust split worker into build/bare/ the way scripts/build-worker.sh builds the
# router (cargo, wasm-bindgen --target module, wasm-opt with the router's flags, esbuild of
# entry.mjs), in the router's cargo target dir.
#   sh bench/bare-worker/build.sh && CONTENDERS="js rust-bare sy-ab" bench/workerd.sh
set -eu
ROOT=$(CDPATH= cd -- "$(dirname -- "$0")/../.." && pwd)
D="$ROOT/bench/bare-worker" OUT="$ROOT/build/bare" TD="${CARGO_TARGET_DIR:-$ROOT/target}/wasm"
[ -f "$D/Cargo.lock" ] || cp "$ROOT/Cargo.lock" "$D/Cargo.lock"
cargo build --release --target wasm32-unknown-unknown --manifest-path "$D/Cargo.toml" --target-dir "$TD"
rm -rf "$OUT" && mkdir -p "$OUT/.stage"
"$ROOT/.tools/bin/wasm-bindgen" "$TD/wasm32-unknown-unknown/release/switchyard_bench_bare.wasm" \
  --out-dir "$OUT/.stage" --out-name index --target module --no-typescript
"$ROOT/node_modules/.bin/wasm-opt" "$OUT/.stage/index_bg.wasm" -o "$OUT/index_bg.wasm" -Os \
  --one-caller-inline-max-function-size=30 --enable-mutable-globals --enable-sign-ext \
  --enable-nontrapping-float-to-int --enable-bulk-memory --enable-multivalue \
  --enable-reference-types --enable-exception-handling
cp "$D/entry.mjs" "$OUT/.stage/entry.mjs"
"$ROOT/node_modules/.bin/esbuild" "$OUT/.stage/entry.mjs" --bundle --format=esm --minify \
  --log-level=warning --external:./index_bg.wasm --outfile="$OUT/.stage/bundle.js"
sed 's/import source /import /' "$OUT/.stage/bundle.js" > "$OUT/index.js"
rm -rf "$OUT/.stage"
echo "bench/bare-worker: built $OUT"
