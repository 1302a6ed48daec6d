#!/usr/bin/env bash
# Load test on loopback: the demo model server called directly, then through Switchyard in
# `wrangler dev` (canary 20% + 100% shadow + a flag), with wrk. Bounded: DURATION seconds per run.
#   make build && scripts/load.sh            (needs `wrk`: apt-get install wrk)
# Figures are for workerd under wrangler dev on this machine, not Cloudflare's network.
set -euo pipefail
ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
command -v wrk >/dev/null || { echo "load: wrk not found (apt-get install wrk)" >&2; exit 1; }
DURATION=${DURATION:-10}
CONNS=${CONNS:-16}
P1=${P1:-19101}; P2=${P2:-19102}; P3=${P3:-19103}; PW=${PW:-18787}
STATE=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$STATE"; }
trap cleanup EXIT
cargo build --release --example model_server -q
for pv in "$P1:v1" "$P2:v2" "$P3:v3"; do
  target/release/examples/model_server --port "${pv%%:*}" --version "${pv##*:}" >/dev/null 2>&1 &
  pids+=($!)
done
sleep 0.5
cat > "$STATE/config.json" <<JSON
{"version":1,"origins":{"v1":{"url":"http://127.0.0.1:$P1"},"v2":{"url":"http://127.0.0.1:$P2"},"v3":{"url":"http://127.0.0.1:$P3"}},
 "routes":[{"name":"fraud","match":{"path_prefix":"/v2/models/fraud","methods":["POST"]},"unit":[{"header":"x-user-id"}],
  "strategy":{"kind":"canary","stable":"v1","canary":"v2","percent":20},
  "shadow":[{"origin":"v3","percent":100}],"flags":[{"name":"explain","rollout":10}]}]}
JSON
node_modules/.bin/wrangler kv key put --local --preview --persist-to "$STATE" --binding SPLIT_CONFIG config --path "$STATE/config.json" >/dev/null
SWITCHYARD_SKIP_BUILD=1 node_modules/.bin/wrangler dev -c wrangler.toml -c wrangler.stats.toml --port "$PW" --ip 127.0.0.1 --persist-to "$STATE" \
  --show-interactive-dev-session=false --live-reload=false >"$STATE/wrangler.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 100); do curl -fsS -o /dev/null "http://127.0.0.1:$PW/_switchyard/status" 2>/dev/null && break; sleep 0.3; done
curl -fsS -o /dev/null -X POST "http://127.0.0.1:$PW/v2/models/fraud/infer" -H 'x-user-id: warm' -d '{}'
run() {
  echo "== $1"
  wrk -t2 -c"$CONNS" -d"${DURATION}s" --latency -s bench/post.lua "$2" | grep -E "Requests/sec|Latency |50%|99%|Non-2xx|Socket errors"
}
run "origin direct (model_server v1)" "http://127.0.0.1:$P1/v2/models/fraud/infer"
run "through Switchyard (wrangler dev): canary 20% + shadow 100% + flag" "http://127.0.0.1:$PW/v2/models/fraud/infer"
