#!/usr/bin/env bash
# Bundle size report for the built workers (run `make build` first; `make size` does).
#   scripts/size.sh [router|stats|all]     (default: all)
# For each bundle (build/router/, build/stats/): raw and gzipped sizes of index_bg.wasm and
# index.js, the wasm section sizes and the largest function bodies (scripts/wasm-sizes.mjs, no
# deps). NAMES=1 also builds an unstripped copy in target/size-<bundle>/ to name the biggest
# functions (pre-wasm-opt sizes). The product target is ≤ 130,000 B gzip for the router (size-budget.json).
set -euo pipefail
ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
case "${1:-all}" in
  router|stats) BUNDLES=$1 ;;
  all) BUNDLES="router stats" ;;
  *) echo "size: unknown bundle '$1' (router, stats or all)" >&2; exit 2 ;;
esac
for b in $BUNDLES; do
  WASM=build/$b/index_bg.wasm JS=build/$b/index.js
  [ -f "$WASM" ] && [ -f "$JS" ] || { echo "size: $WASM not found — run make build" >&2; exit 1; }
done
printf '%-26s %10s %10s\n' file raw gzip-9
for b in $BUNDLES; do
  WASM=build/$b/index_bg.wasm JS=build/$b/index.js
  raw=$(stat -c %s "$WASM"); gz=$(gzip -9 -c "$WASM" | wc -c)
  js=$(stat -c %s "$JS"); jsgz=$(gzip -9 -c "$JS" | wc -c)
  printf '%-26s %10d %10d\n' "$WASM" "$raw" "$gz" "$JS" "$js" "$jsgz"
  printf '%-26s %10d %10d\n' "total $b" $((raw + js)) $((gz + jsgz))
done
for b in $BUNDLES; do
  echo
  echo "== $b: build/$b/index_bg.wasm"
  TOP=${TOP:-15} node scripts/wasm-sizes.mjs "build/$b/index_bg.wasm"
  if [ "${NAMES:-}" = "1" ]; then
    echo "building an unstripped copy for function names (target/size-$b/) ..."
    CARGO_PROFILE_RELEASE_STRIP=none cargo build --release --target wasm32-unknown-unknown --lib \
      -p "switchyard-$b" --target-dir "target/size-$b" -q
    TOP=${TOP:-25} node scripts/wasm-sizes.mjs "target/size-$b/wasm32-unknown-unknown/release/switchyard_$b.wasm"
  fi
done
