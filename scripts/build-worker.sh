#!/bin/sh
# Offline build of the workers: cargo (wasm32) -> wasm-bindgen -> wasm-opt -> esbuild bundle.
#   sh scripts/build-worker.sh [router|stats|all|router-test]      (default: all)
# Two bundles, one workspace crate each (see Cargo.toml):
#   router -> the root package (src/) -> build/router/{index.js,index_bg.wasm}   (wrangler.toml `main`: index.js)
#   stats  -> crates/stats  -> build/stats/{index.js,index_bg.wasm,worker/shim.mjs}   (wrangler.stats.toml `main`)
# The stats worker is built by worker-build (it uses the `worker` crate: Durable Objects,
# SQLite storage). The router has no `worker` dependency and is built here directly:
# cargo -> wasm-bindgen (--target module, reset-state function) -> wasm-opt (the crate's
# package.metadata flags plus the wasm features workerd supports) -> esbuild bundle of
# src/entry.mjs, its own two-function module entry (see that file).
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

built() {
  [ -f "build/$1/index.js" ] && [ -f "build/$1/index_bg.wasm" ] || return 1
  case "$1" in router|router-test) return 0 ;; esac
  [ -f "build/$1/worker/shim.mjs" ]
}

# build_router <artifact.wasm> <out dir>: the router's bundle without worker-build.
build_router() {
  art=$1 out=$2 stage="$2/.stage"
  rm -rf "$stage" && mkdir -p "$stage"
  "$WASM_BINDGEN_BIN" "$art" --out-dir "$stage" --out-name index --target module \
    --no-typescript --experimental-reset-state-function
  # wasm-opt: the crate's flags (Cargo.toml package.metadata.wasm-pack) and the features
  # workerd supports (as worker-build passes them).
  flags=$(sed -n 's/^wasm-opt = \[\(.*\)\]/\1/p' Cargo.toml | tr -d '",')
  # shellcheck disable=SC2086
  # KEEP_NAMES=1 (with CARGO_PROFILE_RELEASE_STRIP=false): keep the name section, for
  # profiles and `NAMES=1 scripts/size.sh`.
  [ "${KEEP_NAMES:-}" = 1 ] && flags="$flags --debuginfo"
  "$WASM_OPT_BIN" "$stage/index_bg.wasm" -o "$stage/index_bg.wasm" $flags \
    --enable-mutable-globals --enable-sign-ext --enable-nontrapping-float-to-int \
    --enable-bulk-memory --enable-multivalue --enable-reference-types --enable-exception-handling
  cp src/entry.mjs "$stage/entry.mjs"
  # MINIFY=0: a readable bundle (for ablations and profiles).
  minify=--minify
  [ "${MINIFY:-1}" = 0 ] && minify=
  # shellcheck disable=SC2086
  "$ESBUILD_BIN" "$stage/entry.mjs" --bundle --format=esm $minify --log-level=warning \
    --external:./index_bg.wasm --external:cloudflare:* --log-override:duplicate-object-key=silent --outfile="$stage/bundle.js"
  # wasm-bindgen's module target imports the wasm as a source-phase import; wrangler's
  # bundler takes the plain form (as worker-build rewrites it).
  sed 's/import source /import /' "$stage/bundle.js" > "$out/index.js.tmp"
  cp "$stage/index_bg.wasm" "$out/index_bg.wasm.tmp"
  mv "$out/index_bg.wasm.tmp" "$out/index_bg.wasm"
  mv "$out/index.js.tmp" "$out/index.js"
  rm -rf "$stage" "$out/worker" "$out/package.json"
}

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
  # next router build re-runs the cargo build and build_router instead of taking the fast path.
  TD="$TARGET_ROOT/wasm"
  case "$b" in
    router-test) CRATE=router FEATURES="--features test-panic" ;;
    *) CRATE=$b FEATURES="" ;;
  esac
  # Fast path: wasm-bindgen + wasm-opt take ~5-15 s even when nothing changed. cargo's own
  # no-op check is ~0.1 s, so build the lib first and skip the bundling (build_router for the
  # router, worker-build for the stats worker) when build/<bundle>/ is newer than the cargo
  # artifact (and than this script). FORCE=1 always rebuilds.
  ART="$TD/wasm32-unknown-unknown/release/switchyard_$CRATE.wasm"
  if [ "${FORCE:-}" != "1" ]; then
    # shellcheck disable=SC2086
    cargo build --release --target wasm32-unknown-unknown --lib -p "switchyard-$CRATE" $FEATURES --target-dir "$TD"
    if built "$b" && [ -f "$ART" ] && [ "build/$b/index_bg.wasm" -nt "$ART" ] \
       && [ "build/$b/index.js" -nt "$ART" ] && [ "build/$b/index.js" -nt "$0" ] \
       && [ "build/$b/index.js" -nt src/entry.mjs ]; then
      echo "build-worker: build/$b/ is up to date with $ART (FORCE=1 to rebuild)" >&2
      continue
    fi
  fi
  if [ "$CRATE" = router ]; then
    # shellcheck disable=SC2086
    [ "${FORCE:-}" = "1" ] && cargo build --release --target wasm32-unknown-unknown --lib -p switchyard-router $FEATURES --target-dir "$TD"
    mkdir -p "build/$b"
    build_router "$ART" "build/$b"
    echo "build-worker: build/$b/ built" >&2
    continue
  fi
  # worker-build builds the crate in its working directory and passes what follows `--` to
  # cargo; it reads `--target-dir <dir>` from there.
  # shellcheck disable=SC2086
  (cd "crates/$CRATE" && "$ROOT/.tools/bin/worker-build" --release --out-dir "$ROOT/build/$b" -- $FEATURES --target-dir "$TD")
done
