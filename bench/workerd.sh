#!/usr/bin/env bash
# Request-path benchmark in a bare `workerd serve` (no wrangler dev stack), loopback only.
#   sh scripts/build-worker.sh router && bench/workerd.sh
# Needs nginx and wrk (`apt-get install -y nginx wrk`) and the workerd that wrangler ships
# (node_modules/@cloudflare/workerd-linux-64/bin/workerd; node_modules/.bin/workerd is a Node
# wrapper, so its pid would be the wrong one to measure).
#
# Contenders (wrk -t2 -c32, 10,000 random users, bench/users.lua):
#   origin       nginx origin called directly (CPU: the origin nginx)
#   nginx        nginx split_clients 50/50 over two origins (CPU: the proxy nginx)
#   nginx-mirror nginx split_clients + mirror of every request to a third origin
#   js           a minimal JavaScript split worker (FNV-1a of x-user-id, 50/50) in workerd
#   sy-ab        Switchyard, 50/50 A/B route, in workerd (build/router)
#   sy-full      Switchyard, canary 20 % + 100 % shadow + a 10 % flag, in workerd
#   sy-canary    (opt-in) sy-full without the shadow (what the shadow adds: sy-full - sy-canary)
#   js-mirror    (opt-in) the JS split worker plus a 100 % mirror (body buffered, waitUntil)
#   js-pattern   (opt-in ablation) the JS worker doing Switchyard's platform-API work per request
#   rust-bare    (opt-in ablation) the JS worker's work in Rust built as the router is now:
#                a wasm-bindgen export, no worker crate (sh bench/bare-worker/build.sh -> build/bare)
#   rust-empty   (opt-in ablation) the JS worker's work in Rust, worker-rs, the router's
#                toolchain and profile (sh bench/empty-worker/build.sh -> build/empty)
# CPU per request = (utime + stime) delta of the contender's process(es) in /proc / requests.
# workerd runs one contender per process; KV is a stub worker in the same process (read once
# per 2 s by Switchyard), ROUTE_STATS a stub Durable Object that counts the reports it gets
# (one per second from the isolate, or per 1,000 observations; printed per Switchyard run).
#
# Environment: DURATION (10 s per run), WARMUP (3 s), ROUNDS (3; medians reported),
# CONTENDERS (space-separated subset, default the six above), ROUTER_DIR (build/router),
# RUST_EMPTY_DIR (build/empty, for rust-empty), BASE_PORT (19400), RECEIPTS (1: set
# RECEIPT_KEY so receipts are signed, as in production), PROFILE (1: perf record each workerd
# run with V8's --perf-basic-prof into $KEEP/perf-<contender>.data; needs KEEP), KEEP (a
# directory to keep the generated configs, logs and raw wrk output in), PATTERN_SKIP (js-pattern
# without some of its parts: reqcopy, timer, respcopy).
set -euo pipefail
set -m # every background job in its own process group
ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

DURATION=${DURATION:-10}
WARMUP=${WARMUP:-3}
ROUNDS=${ROUNDS:-3}
CONTENDERS=${CONTENDERS:-origin nginx nginx-mirror js sy-ab sy-full}
ROUTER_DIR=${ROUTER_DIR:-build/router}
RUST_EMPTY_DIR=${RUST_EMPTY_DIR:-build/empty}
RUST_BARE_DIR=${RUST_BARE_DIR:-build/bare}
BP=${BASE_PORT:-19400}
RECEIPTS=${RECEIPTS:-1}
PROFILE=${PROFILE:-0}
PATTERN_SKIP=${PATTERN_SKIP:-}
WORKERD=${WORKERD:-node_modules/@cloudflare/workerd-linux-64/bin/workerd}
P1=$((BP + 1)) P2=$((BP + 2)) P3=$((BP + 3)) PS=$((BP + 10)) PM=$((BP + 11)) PW=$((BP + 20))
PC=$((BP + 21)) # the stub ROUTE_STATS object's report counter (GET /<route>), Switchyard contenders
TICK=$(getconf CLK_TCK)

for bin in nginx wrk curl; do
  command -v "$bin" >/dev/null || { echo "bench: $bin not found (apt-get install -y nginx wrk curl)" >&2; exit 1; }
done
[ -x "$WORKERD" ] || { echo "bench: $WORKERD not found (make setup)" >&2; exit 1; }

T=$(mktemp -d /tmp/switchyard-bench.XXXXXX)
chmod 755 "$T"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -- -"$p" 2>/dev/null || kill "$p" 2>/dev/null || true; done
  sleep 0.3
  if [ -n "${KEEP:-}" ]; then mkdir -p "$KEEP" && cp -r "$T"/. "$KEEP"/; fi
  rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- nginx: three origins in one nginx, the two proxies in another (each measured alone) ---
ORIGIN_BODY='{"model_name":"%s","outputs":[{"name":"y","shape":[1],"datatype":"FP32","data":[0.5]}]}'
mkdir -p "$T/ngx-o" "$T/ngx-p"
chmod 777 "$T/ngx-o" "$T/ngx-p"
nginx_common() { # $1 dir
  cat <<EOF
worker_processes 1;
daemon off;
pid $1/nginx.pid;
error_log $1/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $1/body; proxy_temp_path $1/proxy;
  fastcgi_temp_path $1/fcgi; uwsgi_temp_path $1/uwsgi; scgi_temp_path $1/scgi;
  default_type application/json;
  keepalive_requests 1000000;
EOF
}
{
  nginx_common "$T/ngx-o"
  for pv in "$P1:v1" "$P2:v2" "$P3:v3"; do
    # shellcheck disable=SC2059
    printf '  server { listen 127.0.0.1:%s; location / { return 200 '\''%s'\''; } }\n' \
      "${pv%%:*}" "$(printf "$ORIGIN_BODY" "${pv##*:}")"
  done
  echo "}"
} >"$T/ngx-o/nginx.conf"
{
  nginx_common "$T/ngx-p"
  cat <<EOF
  upstream v1 { server 127.0.0.1:$P1; keepalive 64; }
  upstream v2 { server 127.0.0.1:$P2; keepalive 64; }
  upstream v3 { server 127.0.0.1:$P3; keepalive 64; }
  split_clients "\${http_x_user_id}" \$arm { 50% v1; * v2; }
  proxy_http_version 1.1;
  proxy_set_header Connection "";
  server { listen 127.0.0.1:$PS; location / { proxy_pass http://\$arm; } }
  server {
    listen 127.0.0.1:$PM;
    location / { mirror /_mirror; proxy_pass http://\$arm; }
    location = /_mirror { internal; proxy_pass http://v3\$request_uri; }
  }
}
EOF
} >"$T/ngx-p/nginx.conf"
nginx -c "$T/ngx-o/nginx.conf" -p "$T/ngx-o" >"$T/ngx-o/stdout" 2>&1 &
pids+=($!)
NGX_O=$!
nginx -c "$T/ngx-p/nginx.conf" -p "$T/ngx-p" >"$T/ngx-p/stdout" 2>&1 &
pids+=($!)
NGX_P=$!

# --- workerd: one process per contender, generated .capnp ---
cat >"$T/kv.js" <<'EOF'
// KV stub: workerd's kvNamespace binding GETs https://fake-host/<key>?urlencoded=true.
import config from "./config.json";
const KEYS = { config: JSON.stringify(config) };
export default {
  async fetch(req) {
    const key = decodeURIComponent(new URL(req.url).pathname.slice(1));
    if (req.method === "GET" && key in KEYS) return new Response(KEYS[key]);
    return new Response(null, { status: 404 });
  },
};
EOF
cat >"$T/stats.js" <<'EOF'
// ROUTE_STATS stub: a Durable Object that reads each report and answers JSON, as the real one,
// and counts the reports it received (GET answers the count: the capacity model's load figure).
export class RouteStats {
  constructor() { this.reports = 0; }
  async fetch(req) {
    if (req.method === "GET") return new Response(String(this.reports));
    await req.arrayBuffer();
    this.reports += 1;
    return new Response('{"ok":true}', { headers: { "content-type": "application/json" } });
  }
}
// GET /<route> on the counter socket: that route's object's report count.
export default {
  fetch(req, env) {
    const name = new URL(req.url).pathname.slice(1);
    return env.RS.get(env.RS.idFromName(name)).fetch(req);
  },
};
EOF
cat >"$T/split.js" <<EOF
// The minimal JavaScript split worker: sticky 50/50 on x-user-id (FNV-1a), forward as is.
const ORIGINS = ["http://127.0.0.1:$P1", "http://127.0.0.1:$P2"];
export default {
  async fetch(req) {
    const id = req.headers.get("x-user-id") || "";
    let h = 0x811c9dc5;
    for (let i = 0; i < id.length; i++) { h ^= id.charCodeAt(i); h = Math.imul(h, 0x01000193); }
    const u = new URL(req.url);
    return fetch(ORIGINS[(h >>> 0) % 100 < 50 ? 0 : 1] + u.pathname + u.search,
      { method: req.method, headers: req.headers, body: req.body });
  },
};
EOF
cat >"$T/mirror.js" <<EOF
// The minimal split worker plus a 100 % mirror to a third origin, in JavaScript: the body read
// once and sent to both, the mirror in waitUntil with its answer read to the end. What a
// shadow costs in the runtime itself, for comparison with Switchyard's.
const ORIGINS = ["http://127.0.0.1:$P1", "http://127.0.0.1:$P2"];
const MIRROR = "http://127.0.0.1:$P3";
export default {
  async fetch(req, env, ctx) {
    const id = req.headers.get("x-user-id") || "";
    let h = 0x811c9dc5;
    for (let i = 0; i < id.length; i++) { h ^= id.charCodeAt(i); h = Math.imul(h, 0x01000193); }
    const u = new URL(req.url);
    const body = req.body ? await req.arrayBuffer() : undefined;
    const init = { method: req.method, headers: req.headers, body };
    const resp = await fetch(ORIGINS[(h >>> 0) % 100 < 50 ? 0 : 1] + u.pathname + u.search, init);
    ctx.waitUntil(fetch(MIRROR + u.pathname + u.search, init).then((r) => r.arrayBuffer(), () => {}));
    return resp;
  },
};
EOF
cat >"$T/pattern.js" <<EOF
// Ablation: the minimal split worker doing, through the same platform APIs, what Switchyard
// does per request: copy and filter the request headers into a new Headers, add
// x-forwarded-* and routing headers, a new Request with redirect "manual" and an abort
// signal, a timeout timer raced against the fetch, then copy the response headers into a
// new Headers, set five headers and build a new Response around the origin's body.
const ORIGINS = ["http://127.0.0.1:$P1", "http://127.0.0.1:$P2"];
const HOP = new Set(["connection", "keep-alive", "proxy-connection", "te", "trailer",
  "transfer-encoding", "upgrade", "host", "content-length"]);
// PATTERN_SKIP (comma-separated: reqcopy, timer, respcopy) leaves a part out, to price it.
const SKIP = new Set("$PATTERN_SKIP".split(","));
export default {
  async fetch(req) {
    const id = req.headers.get("x-user-id") || "";
    let h = 0x811c9dc5;
    for (let i = 0; i < id.length; i++) { h ^= id.charCodeAt(i); h = Math.imul(h, 0x01000193); }
    const arm = (h >>> 0) % 100 < 50 ? 0 : 1;
    const u = new URL(req.url);
    let out = req.headers;
    if (!SKIP.has("reqcopy")) {
      out = new Headers();
      for (const [k, v] of req.headers) {
        if (HOP.has(k) || k.startsWith("cf-") || k.startsWith("x-switchyard-")) continue;
        out.append(k, v);
      }
      out.append("x-forwarded-host", u.host);
      out.append("x-forwarded-proto", "http");
      out.append("x-switchyard-route", "ab");
      out.append("x-switchyard-arm", arm ? "b" : "a");
    }
    const ctl = new AbortController();
    const r = new Request(ORIGINS[arm] + u.pathname + u.search,
      { method: req.method, headers: out, body: req.body, redirect: "manual", signal: ctl.signal });
    let resp;
    if (SKIP.has("timer")) {
      resp = await fetch(r);
    } else {
      let timer;
      const timeout = new Promise((res) => { timer = setTimeout(res, 5000); });
      resp = await Promise.race([fetch(r), timeout]);
      clearTimeout(timer);
      if (!resp) { ctl.abort(); return new Response("timeout", { status: 504 }); }
    }
    if (SKIP.has("respcopy")) return resp;
    const rh = new Headers();
    for (const [k, v] of resp.headers) rh.append(k, v);
    rh.set("x-switchyard-route", "ab");
    rh.set("x-switchyard-arm", arm ? "b" : "a");
    rh.set("x-switchyard-reason", "split");
    rh.set("x-switchyard-receipt", "v1.0000000000000000000000000000000000000000000000");
    rh.set("x-switchyard-config", "0123456789abcdef");
    return new Response(resp.body, { status: resp.status, headers: rh });
  },
};
EOF
cat >"$T/config.json" <<EOF
{"version":1,"default_origin":"v1",
 "origins":{"v1":{"url":"http://127.0.0.1:$P1"},"v2":{"url":"http://127.0.0.1:$P2"},"v3":{"url":"http://127.0.0.1:$P3"}},
 "routes":[
  {"name":"ab","match":{"path_prefix":"/v2/models/ab","methods":["POST"]},"unit":[{"header":"x-user-id"}],
   "strategy":{"kind":"ab","arms":[{"name":"a","origin":"v1","weight":50},{"name":"b","origin":"v2","weight":50}]}},
  {"name":"full","match":{"path_prefix":"/v2/models/full","methods":["POST"]},"unit":[{"header":"x-user-id"}],
   "strategy":{"kind":"canary","stable":"v1","canary":"v2","percent":20},
   "shadow":[{"origin":"v3","percent":100}],"flags":[{"name":"explain","rollout":10}]},
  {"name":"canary","match":{"path_prefix":"/v2/models/canary","methods":["POST"]},"unit":[{"header":"x-user-id"}],
   "strategy":{"kind":"canary","stable":"v1","canary":"v2","percent":20},
   "flags":[{"name":"explain","rollout":10}]}]}
EOF
RECEIPT_BINDING=""
[ "$RECEIPTS" = 1 ] && RECEIPT_BINDING='(name = "RECEIPT_KEY", text = "bench-receipt-key-0123456789abcdef"),'

# workerd_config <contender> -> $T/<contender>/workerd.capnp
workerd_config() {
  local c=$1 d="$T/$1" modules bindings
  mkdir -p "$d"
  cp "$T/kv.js" "$T/stats.js" "$T/config.json" "$d/"
  bindings=""
  case "$c" in
    js-mirror)
      cp "$T/mirror.js" "$d/main.js"
      modules='(name = "main.js", esModule = embed "main.js")'
      ;;
    js)
      cp "$T/split.js" "$d/main.js"
      modules='(name = "main.js", esModule = embed "main.js")'
      ;;
    js-pattern)
      cp "$T/pattern.js" "$d/main.js"
      modules='(name = "main.js", esModule = embed "main.js")'
      ;;
    sy-*)
      cp "$ROUTER_DIR/index.js" "$ROUTER_DIR/index_bg.wasm" "$d/"
      modules='(name = "index.js", esModule = embed "index.js"), (name = "index_bg.wasm", wasm = embed "index_bg.wasm")'
      bindings="(name = \"SPLIT_CONFIG\", kvNamespace = \"kv\"), $RECEIPT_BINDING
        (name = \"ROUTE_STATS\", durableObjectNamespace = (className = \"RouteStats\", serviceName = \"stats\"))"
      ;;
    rust-empty | rust-bare)
      if [ "$c" = rust-bare ]; then src=$RUST_BARE_DIR; else src=$RUST_EMPTY_DIR; fi
      cp "$src/index.js" "$src/index_bg.wasm" "$d/"
      modules='(name = "index.js", esModule = embed "index.js"), (name = "index_bg.wasm", wasm = embed "index_bg.wasm")'
      bindings="(name = \"ORIGIN_A\", text = \"http://127.0.0.1:$P1\"), (name = \"ORIGIN_B\", text = \"http://127.0.0.1:$P2\")"
      ;;
  esac
  local flags=""
  [ "$PROFILE" = 1 ] && flags='v8Flags = ["--perf-basic-prof"],'
  cat >"$d/workerd.capnp" <<EOF
using Workerd = import "/workerd/workerd.capnp";
const config :Workerd.Config = (
  $flags
  services = [
    (name = "main", worker = (modules = [$modules], compatibilityDate = "2026-04-01",
      bindings = [$bindings], globalOutbound = "loopback")),
    (name = "kv", worker = (modules = [(name = "kv.js", esModule = embed "kv.js"),
      (name = "config.json", json = embed "config.json")], compatibilityDate = "2026-04-01")),
    (name = "stats", worker = (modules = [(name = "stats.js", esModule = embed "stats.js")],
      compatibilityDate = "2026-04-01",
      bindings = [(name = "RS", durableObjectNamespace = "RouteStats")],
      durableObjectNamespaces = [(className = "RouteStats", uniqueKey = "bench-route-stats")],
      durableObjectStorage = (inMemory = void))),
    (name = "loopback", network = (allow = ["public", "private", "local"])),
  ],
  sockets = [(name = "http", address = "127.0.0.1:$PW", http = (), service = "main"),
    (name = "counter", address = "127.0.0.1:$PC", http = (), service = "stats")],
);
EOF
}

now_ns() { date +%s%N; }
listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
wait_port() { for _ in $(seq 1 2000); do listening "$1" && return 0; sleep 0.005; done; echo "bench: port $1 never opened" >&2; return 1; }

# cpu ticks (utime + stime) of the given pids and their children
ticks() {
  local total=0 p kids
  for p in "$@"; do
    kids=$(awk -v pp="$p" '$4 == pp { print $1 }' /proc/[0-9]*/stat 2>/dev/null || true)
    for k in $p $kids; do
      [ -r "/proc/$k/stat" ] && total=$((total + $(awk '{ print $14 + $15 }' "/proc/$k/stat")))
    done
  done
  echo "$total"
}

to_ms() { # wrk latency "1.23ms" / "850.00us" / "1.02s" -> ms
  awk -v v="$1" 'BEGIN { n = v + 0; if (v ~ /us$/) n /= 1000; else if (v ~ /ms$/) n += 0; else if (v ~ /s$/) n *= 1000; printf "%.3f", n }'
}

URL_OF() {
  case "$1" in
    origin) echo "http://127.0.0.1:$P1/v2/models/ab/infer" ;;
    nginx) echo "http://127.0.0.1:$PS/v2/models/ab/infer" ;;
    nginx-mirror) echo "http://127.0.0.1:$PM/v2/models/ab/infer" ;;
    js | js-pattern | js-mirror | rust-empty | rust-bare | sy-ab) echo "http://127.0.0.1:$PW/v2/models/ab/infer" ;;
    sy-full) echo "http://127.0.0.1:$PW/v2/models/full/infer" ;;
    sy-canary) echo "http://127.0.0.1:$PW/v2/models/canary/infer" ;;
  esac
}

RESULTS="$T/results.tsv"
: >"$RESULTS"
COLD="$T/cold.tsv"
: >"$COLD"
wait_port "$P1"
wait_port "$PS"

# measure <contender> <round> <pids...>: warm-up, then one measured wrk run
measure() {
  local c=$1 r=$2 url out t0 t1 n rps p50 p99 bad cpu
  shift 2
  url=$(URL_OF "$c")
  wrk -t2 -c32 -d"${WARMUP}s" -s bench/users.lua "$url" >/dev/null
  out="$T/wrk-$c-$r.txt"
  # Switchyard: the route's reports to its (stub) Durable Object during the measured run.
  local route="" rep0=0 rep1=0
  case "$c" in sy-ab) route=ab ;; sy-full) route=full ;; sy-canary) route=canary ;; esac
  [ -n "$route" ] && rep0=$(curl -sS "http://127.0.0.1:$PC/$route")
  t0=$(ticks "$@")
  wrk -t2 -c32 -d"${DURATION}s" --latency -s bench/users.lua "$url" >"$out"
  t1=$(ticks "$@")
  [ -n "$route" ] && rep1=$(curl -sS "http://127.0.0.1:$PC/$route")
  n=$(awk '/requests in/ { print $1 }' "$out")
  rps=$(awk '/Requests\/sec/ { printf "%.0f", $2 }' "$out")
  p50=$(to_ms "$(awk '$1 == "50%" { print $2 }' "$out")")
  p99=$(to_ms "$(awk '$1 == "99%" { print $2 }' "$out")")
  bad=$(awk '/Non-2xx/ { print $NF }' "$out")
  cpu=$(awk -v d=$((t1 - t0)) -v n="$n" -v hz="$TICK" 'BEGIN { printf "%.1f", d / hz * 1e6 / n }')
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$c" "$r" "$rps" "$p50" "$p99" "$cpu" "${bad:-0}" >>"$RESULTS"
  printf '  %-13s round %s: %6s req/s  p50 %7s ms  p99 %7s ms  %7s us CPU/req  non-2xx %s\n' \
    "$c" "$r" "$rps" "$p50" "$p99" "$cpu" "${bad:-0}" >&2
  if [ -n "$route" ]; then
    printf '  %-13s round %s: %s reports to the route object in %s s (%s/s) for %s requests\n' \
      "$c" "$r" $((rep1 - rep0)) "$DURATION" \
      "$(awk -v d=$((rep1 - rep0)) -v s="$DURATION" 'BEGIN { printf "%.1f", d / s }')" "$n" >&2
  fi
}

for r in $(seq 1 "$ROUNDS"); do
  echo "== round $r of $ROUNDS (${DURATION}s per contender)" >&2
  for c in $CONTENDERS; do
    case "$c" in
      origin) measure "$c" "$r" "$NGX_O" ;;
      nginx | nginx-mirror) measure "$c" "$r" "$NGX_P" ;;
      js | js-pattern | js-mirror | sy-ab | sy-full | sy-canary | rust-empty | rust-bare)
        workerd_config "$c"
        t0=$(now_ns)
        (cd "$T/$c" && exec "$ROOT/$WORKERD" serve workerd.capnp >"$T/$c/workerd.log" 2>&1) &
        wpid=$!
        pids+=("$wpid")
        wait_port "$PW"
        t1=$(now_ns)
        first=$(curl -sS -o /dev/null -w '%{http_code} %{time_total}' -X POST -H 'x-user-id: cold' \
          -H 'content-type: application/json' --data '{"inputs":[]}' "$(URL_OF "$c")")
        t2=$(now_ns)
        printf '%s\t%s\t%s\t%s\t%s\n' "$c" "$r" "$(((t1 - t0) / 1000))" "$(awk -v s="${first#* }" 'BEGIN { printf "%d", s * 1e6 }')" "${first%% *}" >>"$COLD"
        [ "${first%% *}" = 200 ] || { echo "bench: $c first request answered ${first%% *}:" >&2; cat "$T/$c/workerd.log" >&2; exit 1; }
        # the workerd binary itself (the `( ... exec workerd )` subshell became it)
        if [ "$PROFILE" = 1 ]; then
          perf record -e cpu-clock -F 2000 -g -p "$wpid" -o "$T/perf-$c.data" -- sleep $((WARMUP + DURATION + 1)) >/dev/null 2>&1 &
          ppid=$!
        fi
        measure "$c" "$r" "$wpid"
        if [ "$PROFILE" = 1 ]; then wait "$ppid" || true; mv "/tmp/perf-$wpid.map" "$T/" 2>/dev/null || true; fi
        kill -- -"$wpid" 2>/dev/null || kill "$wpid" 2>/dev/null || true
        wait "$wpid" 2>/dev/null || true
        for _ in $(seq 1 200); do listening "$PW" || break; sleep 0.01; done
        ;;
      *) echo "bench: unknown contender $c" >&2; exit 2 ;;
    esac
  done
done

# --- report: medians over rounds, ratios to the JavaScript worker ---
median() { sort -g | awk '{ a[NR] = $1 } END { if (NR % 2) print a[(NR + 1) / 2]; else printf "%.3f\n", (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
col() { awk -F'\t' -v c="$1" -v k="$2" '$1 == c { print $k }' "$3" | median; }
label() {
  case "$1" in
    origin) echo "origin direct (nginx return 200)" ;;
    nginx) echo "nginx split_clients 50/50" ;;
    nginx-mirror) echo "nginx split_clients + mirror (100 %)" ;;
    js) echo "minimal JavaScript split worker (workerd)" ;;
    js-mirror) echo "the JavaScript split worker + a 100 % mirror in waitUntil (workerd)" ;;
    js-pattern) echo "JS split worker + Switchyard's header/Request/Response pattern (workerd)" ;;
    rust-empty) echo "the same split worker in Rust, worker-rs (workerd)" ;;
    rust-bare) echo "the same split worker in Rust, wasm-bindgen export, no worker crate (workerd)" ;;
    sy-ab) echo "Switchyard A/B 50/50 (workerd)" ;;
    sy-full) echo "Switchyard canary 20 % + shadow 100 % + flag (workerd)" ;;
    sy-canary) echo "Switchyard canary 20 % + flag, no shadow (workerd)" ;;
  esac
}
JS_RPS=$(col js 3 "$RESULTS")
JS_CPU=$(col js 6 "$RESULTS")
echo
echo "workerd $("$WORKERD" --version | awk '{ print $2 }'), wrk -t2 -c32 -d${DURATION}s, 10,000 random users, medians of $ROUNDS rounds, $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| contender | req/s | p50 ms | p99 ms | CPU µs/req | req/s vs JS | CPU vs JS | non-2xx |"
echo "|---|---|---|---|---|---|---|---|"
for c in $CONTENDERS; do
  rps=$(col "$c" 3 "$RESULTS")
  cpu=$(col "$c" 6 "$RESULTS")
  awk -v l="$(label "$c")" -v rps="$rps" -v p50="$(col "$c" 4 "$RESULTS")" -v p99="$(col "$c" 5 "$RESULTS")" \
    -v cpu="$cpu" -v jr="${JS_RPS:-}" -v jc="${JS_CPU:-}" -v bad="$(awk -F'\t' -v c="$c" '$1 == c { s += $7 } END { print s + 0 }' "$RESULTS")" \
    'BEGIN { rr = (jr > 0) ? sprintf("%.2fx", rps / jr) : "-"; cr = (jc > 0) ? sprintf("%.2fx", cpu / jc) : "-";
             printf "| %s | %\047d | %.2f | %.2f | %.1f | %s | %s | %d |\n", l, rps, p50, p99, cpu, rr, cr, bad }'
done
if [ -s "$COLD" ]; then
  echo
  echo "Cold start (fresh workerd process; medians of $ROUNDS): launch -> listening (config load, script and wasm compile, instantiate), then the first request (KV read, config parse, origin fetch)"
  echo
  echo "| contender | launch -> listening ms | first request ms | total ms |"
  echo "|---|---|---|---|"
  for c in $CONTENDERS; do
    grep -q "^$c	" "$COLD" || continue
    l=$(awk -F'\t' -v c="$c" '$1 == c { print $3 / 1000 }' "$COLD" | median)
    f=$(awk -F'\t' -v c="$c" '$1 == c { print $4 / 1000 }' "$COLD" | median)
    awk -v l="$(label "$c")" -v a="$l" -v b="$f" 'BEGIN { printf "| %s | %.1f | %.1f | %.1f |\n", l, a, b, a + b }'
  done
fi
