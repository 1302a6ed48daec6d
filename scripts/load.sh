#!/usr/bin/env bash
# Load test on loopback: the demo model server called directly, then through Switchyard in
# `wrangler dev` (canary 20% + 100% shadow + a flag), with wrk. Bounded: DURATION seconds per run.
#   make build && scripts/load.sh            (needs `wrk`: apt-get install wrk)
# Figures are for workerd under wrangler dev on the machine it runs on, not Cloudflare's network.
set -euo pipefail
set -m # each background job in its own process group, so cleanup stops wrangler's children too
ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
command -v wrk >/dev/null || { echo "load: wrk not found (apt-get install wrk)" >&2; exit 1; }
DURATION=${DURATION:-10}
CONNS=${CONNS:-16}
P1=${P1:-19101}; P2=${P2:-19102}; P3=${P3:-19103}; PW=${PW:-18787}; PJ=${PJ:-18788}
STATE=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill -- -"$p" 2>/dev/null || kill "$p" 2>/dev/null || true; done; sleep 1; rm -rf "$STATE"; }
trap cleanup EXIT
cargo build --release -p switchyard-model-server -q
for pv in "$P1:v1" "$P2:v2" "$P3:v3"; do
  target/release/model_server --port "${pv%%:*}" --version "${pv##*:}" >/dev/null 2>&1 &
  pids+=($!)
done
sleep 0.5
cat > "$STATE/config.json" <<JSON
{"version":1,"origins":{"v1":{"url":"http://127.0.0.1:$P1"},"v2":{"url":"http://127.0.0.1:$P2"},"v3":{"url":"http://127.0.0.1:$P3"}},
 "routes":[{"name":"fraud","match":{"path_prefix":"/v2/models/fraud","methods":["POST"]},"unit":[{"header":"x-user-id"}],
  "strategy":{"kind":"canary","stable":"v1","canary":"v2","percent":20},
  "shadow":[{"origin":"v3","percent":100}],"flags":[{"name":"explain","rollout":10}]},
  {"name":"plain","match":{"path_prefix":"/v2/models/plain","methods":["POST"]},"unit":[{"header":"x-user-id"}],
  "strategy":{"kind":"ab","arms":[{"name":"a","origin":"v1","weight":1},{"name":"b","origin":"v2","weight":1}]}}]}
JSON
node_modules/.bin/wrangler kv key put --local --persist-to "$STATE" --binding SPLIT_CONFIG config --path "$STATE/config.json" >/dev/null
SWITCHYARD_SKIP_BUILD=1 node_modules/.bin/wrangler dev -c wrangler.toml -c wrangler.stats.toml --port "$PW" --ip 127.0.0.1 --persist-to "$STATE" \
  --show-interactive-dev-session=false --live-reload=false >"$STATE/wrangler.log" 2>&1 &
pids+=($!)
# Any HTTP answer means ready (status needs an operator token, so a 401 counts too).
for _ in $(seq 1 100); do curl -sS -o /dev/null "http://127.0.0.1:$PW/_switchyard/status" 2>/dev/null && break; sleep 0.3; done
curl -fsS -o /dev/null -X POST "http://127.0.0.1:$PW/v2/models/fraud/infer" -H 'x-user-id: warm' -d '{"inputs":[{"name":"x","shape":[1],"datatype":"FP32","data":[1]}]}'
run() {
  echo "== $1"
  wrk -t2 -c"$CONNS" -d"${DURATION}s" --latency -s bench/post.lua "$2" | grep -E "Requests/sec|Latency |50%|99%|Non-2xx|Socket errors"
}
# Baseline for the local dev stack itself: a 5-line JavaScript proxy worker under the same
# wrangler dev, forwarding to the same origin.
mkdir -p "$STATE/jsproxy"
cat > "$STATE/jsproxy/index.js" <<JS
export default { fetch(req) { const u = new URL(req.url);
  return fetch("http://127.0.0.1:$P1" + u.pathname + u.search, { method: req.method, headers: req.headers, body: req.body }); } };
JS
printf 'name = "jsproxy"\nmain = "index.js"\ncompatibility_date = "2026-04-01"\n' > "$STATE/jsproxy/wrangler.toml"
(cd "$STATE/jsproxy" && exec "$ROOT/node_modules/.bin/wrangler" dev --port "$PJ" --ip 127.0.0.1 \
  --show-interactive-dev-session=false --live-reload=false >"$STATE/jsproxy.log" 2>&1) &
pids+=($!)
for _ in $(seq 1 100); do curl -fsS -o /dev/null -X POST "http://127.0.0.1:$PJ/v2/models/x/infer" -d '{"inputs":[{"data":[1]}]}' 2>/dev/null && break; sleep 0.3; done
run "origin direct (model_server v1)" "http://127.0.0.1:$P1/v2/models/fraud/infer"
run "baseline: 5-line JS proxy worker under wrangler dev" "http://127.0.0.1:$PJ/v2/models/fraud/infer"
run "through Switchyard (wrangler dev): 50/50 A/B" "http://127.0.0.1:$PW/v2/models/plain/infer"
run "through Switchyard (wrangler dev): canary 20% + shadow 100% + flag" "http://127.0.0.1:$PW/v2/models/fraud/infer"
