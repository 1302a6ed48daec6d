#!/usr/bin/env bash
# Local demo: three real model servers (v1, v2, shadow v3) behind Switchyard in `wrangler dev`.
#   scripts/demo.sh            (or: make demo)
# Env: PORT (default 8787), PERSIST (default .wrangler/state), CONFIG (default demo/config.json)
set -euo pipefail
ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
PORT=${PORT:-8787}
PERSIST=${PERSIST:-.wrangler/state}
CONFIG=${CONFIG:-demo/config.json}
LOGDIR=${LOGDIR:-.wrangler/demo-logs}

scripts/setup.sh
# Its own small package: no worker crate, no dev-dependencies (criterion, proptest).
cargo build --release -p switchyard-model-server
mkdir -p "$LOGDIR"

PIDS=()
cleanup() {
  trap - EXIT INT TERM
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM

for spec in 9001:v1 9002:v2 9003:v3; do
  port=${spec%%:*}; ver=${spec##*:}
  target/release/model_server --port "$port" --version "$ver" >"$LOGDIR/model-$ver.log" 2>&1 &
  PIDS+=($!)
done
for port in 9001 9002 9003; do
  for _ in $(seq 50); do
    curl -fsS "http://127.0.0.1:$port/health" >/dev/null 2>&1 && break
    sleep 0.1
  done
  curl -fsS "http://127.0.0.1:$port/health" >/dev/null || { echo "origin on $port did not start" >&2; exit 1; }
done
echo "origins: v1 :9001, v2 :9002, v3 (shadow) :9003 — logs in $LOGDIR/"

node_modules/.bin/wrangler kv key put --local --persist-to "$PERSIST" --binding SPLIT_CONFIG config --path "$CONFIG"

ADMIN_TOKEN=$(sed -n 's/^ADMIN_TOKEN=//p' .dev.vars | tail -n1)

# Printed once both workers answer (below).
banner() {
cat <<MSG

Switchyard on http://127.0.0.1:$PORT  (Ctrl-C stops everything)

  # operator token (local only, from .dev.vars; the dashboard asks for it):
  ADMIN_TOKEN=$ADMIN_TOKEN
  # dashboard: http://127.0.0.1:$PORT/_switchyard/dashboard/
  curl -s http://127.0.0.1:$PORT/_switchyard/whoami -H "authorization: Bearer $ADMIN_TOKEN"

  # canary route "fraud" (20% -> v2, every request mirrored to v3):
  curl -s -X POST http://127.0.0.1:$PORT/v2/models/fraud/infer -H 'x-user-id: alice' \\
       -H 'content-type: application/json' \\
       -d '{"inputs":[{"name":"x","shape":[3],"datatype":"FP32","data":[0.1,1.5,3]}]}' -i
  # A/B route "ab":
  curl -s -X POST http://127.0.0.1:$PORT/v2/models/ranker/infer -H 'x-user-id: bob' \\
       -d '{"inputs":[{"name":"x","shape":[1],"datatype":"FP32","data":[2]}]}' -i
  # see which users land where:
  for u in u1 u2 u3 u4 u5 u6 u7 u8 u9 u10; do curl -s -o /dev/null -w "\$u %header{x-switchyard-arm}\\n" \\
       -X POST http://127.0.0.1:$PORT/v2/models/fraud/infer -H "x-user-id: \$u" -d '{"inputs":[{"data":[1]}]}'; done
  # change the config live (no restart):
  npx wrangler kv key put --local --persist-to $PERSIST --binding SPLIT_CONFIG config --path $CONFIG
  # dashboard (open it in a browser):
  #   http://127.0.0.1:$PORT/_switchyard/dashboard/
  # the CLI (docs/cli.md):
  cargo run --bin switchyard -- explain --route fraud --unit alice $CONFIG

MSG
}

# Two workers in one session: the router (wrangler.toml, primary: --port/--persist-to apply to
# the session) and the stats worker with the RouteStats Durable Object (wrangler.stats.toml).
# wrangler runs each config's [build] command (scripts/build-worker.sh router|stats) first and
# on every change in src/.
# Started in the background and waited for, so the EXIT trap also runs on SIGTERM to this script.
node_modules/.bin/wrangler dev -c wrangler.toml -c wrangler.stats.toml --port "$PORT" --ip 127.0.0.1 --persist-to "$PERSIST" &
WRANGLER_PID=$!
PIDS=("$WRANGLER_PID" "${PIDS[@]}")

# The banner only once both workers answer: the router (`status` is its own: 200, or 401
# with a token set) and the stats worker behind its CONTROL binding (it serves the dashboard
# without a token; the router answers 502 until it is up). The first run builds both bundles.
code() { curl -s -o /dev/null -m 5 -w '%{http_code}' "http://127.0.0.1:$PORT$1" 2>/dev/null || true; }
READY_TIMEOUT=${READY_TIMEOUT:-900}
started=$SECONDS
until [[ "$(code /_switchyard/status)" =~ ^(200|401)$ ]] && [ "$(code /_switchyard/dashboard/)" = 200 ]; do
  if ! kill -0 "$WRANGLER_PID" 2>/dev/null; then
    echo "demo: wrangler dev exited before the workers answered (see its output above)" >&2
    exit 1
  fi
  if (( SECONDS - started > READY_TIMEOUT )); then
    echo "demo: the workers did not answer on :$PORT within ${READY_TIMEOUT} s" >&2
    exit 1
  fi
  sleep 1
done
echo "demo: both workers answer ($((SECONDS - started)) s after wrangler dev started)"
banner
wait "$WRANGLER_PID"
