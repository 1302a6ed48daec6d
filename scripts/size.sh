#!/usr/bin/env bash
# Bundle size report for the built worker (run `make build` first; `make size` does).
# Prints raw and gzipped sizes of build/index_bg.wasm and build/index.js, the wasm section
# sizes and the largest function bodies (scripts/wasm-sizes.mjs, no deps). NAMES=1 also builds an
# unstripped copy in target/size/ to name the biggest functions (pre-wasm-opt sizes).
set -euo pipefail
ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
WASM=${1:-build/index_bg.wasm}
[ -f "$WASM" ] || { echo "size: $WASM not found — run make build" >&2; exit 1; }
raw=$(stat -c %s "$WASM")
gz=$(gzip -9 -c "$WASM" | wc -c)
js=$(stat -c %s build/index.js)
jsgz=$(gzip -9 -c build/index.js | wc -c)
printf '%-22s %10s %10s\n' file raw gzip-9
printf '%-22s %10d %10d\n' "$WASM" "$raw" "$gz" build/index.js "$js" "$jsgz"
printf '%-22s %10d %10d\n' total $((raw + js)) $((gz + jsgz))
echo
TOP=${TOP:-15} node scripts/wasm-sizes.mjs "$WASM"
if [ "${NAMES:-}" = "1" ]; then
  echo "building an unstripped copy for function names (target/size/) ..."
  CARGO_PROFILE_RELEASE_STRIP=none cargo build --release --target wasm32-unknown-unknown --target-dir target/size -q
  TOP=${TOP:-25} node scripts/wasm-sizes.mjs target/size/wasm32-unknown-unknown/release/switchyard.wasm
fi
