#!/bin/sh
# Offline build of the workers: cargo (wasm32) -> wasm-bindgen -> wasm-opt -> esbuild bundle.
#   sh scripts/build-worker.sh [router|stats|all|router-test]      (default: all)
# Two bundles, one workspace crate each (see Cargo.toml):
#   router -> crates/router -> build/router/{index.js,index_bg.wasm,worker/shim.mjs}  (wrangler.toml `main`)
#   stats  -> crates/stats  -> build/stats/{index.js,index_bg.wasm,worker/shim.mjs}   (wrangler.stats.toml `main`)
#   router-test -> build/router-test/: the router with cargo feature `test-panic` (a route that
#   panics, for tests/e2e/security.test.mjs); never in `all`, never deployed by any wrangler config.
# All share the cargo target dir target/wasm (worker-build reads the artifact from
# <target-dir>/wasm32-unknown-unknown/release/).
# Called by each wrangler config's [build] command and by `make build`.
set -eu
ROOT=$(CDPATH= cd -- "$(dirname -- "$0")/.." && pwd)
cd "$ROOT"

WHICH=${1:-all}
case "$WHICH" in
  router|stats|router-test) BUNDLES=$WHICH ;;
  all) BUNDLES="router stats" ;;
  *) echo "build-worker: unknown bundle '$WHICH' (router, stats, all or router-test)" >&2; exit 2 ;;
esac

built() { [ -f "build/$1/index.js" ] && [ -f "build/$1/index_bg.wasm" ] && [ -f "build/$1/worker/shim.mjs" ]; }

if [ "${SWITCHYARD_SKIP_BUILD:-}" = "1" ]; then
  ok=1
  for b in $BUNDLES; do built "$b" || ok=0; done
  if [ "$ok" = 1 ]; then
    echo "build-worker: SWITCHYARD_SKIP_BUILD=1, reusing build/{$(echo $BUNDLES | tr ' ' ,)}" >&2
    exit 0
  fi
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
TARGET_ROOT=${CARGO_TARGET_DIR:-$ROOT/target}

for b in $BUNDLES; do
  # router-test is the router crate with feature `test-panic`. It shares target/wasm (and so
  # every compiled dependency) with the others; its artifact has the router's name, so the
  # next router build re-runs worker-build (~30 s) instead of taking the fast path.
  TD="$TARGET_ROOT/wasm"
  case "$b" in
    router-test) CRATE=router FEATURES="--features test-panic" ;;
    *) CRATE=$b FEATURES="" ;;
  esac
  # Fast path: wasm-bindgen + wasm-opt take ~10-15 s even when nothing changed. cargo's own
  # no-op check is ~0.1 s, so build the lib first and skip worker-build when build/<bundle>/
  # is newer than the cargo artifact (and than this script). FORCE=1 always rebuilds.
  ART="$TD/wasm32-unknown-unknown/release/switchyard_$CRATE.wasm"
  if [ "${FORCE:-}" != "1" ]; then
    # shellcheck disable=SC2086
    cargo build --release --target wasm32-unknown-unknown --lib -p "switchyard-$CRATE" $FEATURES --target-dir "$TD"
    if built "$b" && [ -f "$ART" ] && [ "build/$b/index_bg.wasm" -nt "$ART" ] \
       && [ "build/$b/index.js" -nt "$ART" ] && [ "build/$b/worker/shim.mjs" -nt "$0" ]; then
      echo "build-worker: build/$b/ is up to date with $ART (FORCE=1 to rebuild)" >&2
      continue
    fi
  fi
  # worker-build builds the crate in its working directory and passes what follows `--` to
  # cargo; it reads `--target-dir <dir>` from there.
  # shellcheck disable=SC2086
  (cd "crates/$CRATE" && "$ROOT/.tools/bin/worker-build" --release --out-dir "$ROOT/build/$b" -- $FEATURES --target-dir "$TD")
done
