// End-to-end harness: real origin servers on loopback + the real workers in `wrangler dev`
// (workerd, local KV and Durable Objects). Node built-ins only (node:test, node:http).
// Both workers run in one multi-worker session: the router (wrangler.toml, primary) and the
// stats worker with the RouteStats Durable Object (wrangler.stats.toml).
//
//   import { startOrigin, startWorker, waitFor } from './harness.mjs';
//   const w = await startWorker();             // once per test file (see useWorker below)
//   const v1 = await startOrigin('v1');        // records every request it receives
//   await w.putKV('config', {...});            // visible to the running worker on its next KV read
//   const r = await w.req('/path', { method: 'POST', headers: {...}, body: '...' });
//
// The workers must already be built (`make build`); the harness runs wrangler with
// SWITCHYARD_SKIP_BUILD=1 so that test files do not rebuild them concurrently.
import { spawn, execFile } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { createServer } from 'node:http';
import { createServer as createNetServer } from 'node:net';
import { mkdtemp, mkdir, writeFile, rm, readFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { randomBytes } from 'node:crypto';
import { join, dirname, resolve, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before } from 'node:test';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const WRANGLER = join(ROOT, 'node_modules', '.bin', 'wrangler');
const E2E_TMP = process.env.SWITCHYARD_E2E_TMP || join(ROOT, '.e2e');

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Runs `fn(i)` for i in 0..n with bounded concurrency. */
export async function pool(n, fn, width = 16) {
  const out = new Array(n);
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < n) {
        const i = next++;
        out[i] = await fn(i);
      }
    }),
  );
  return out;
}

/** A free TCP port on 127.0.0.1 (bind to 0, read, close). */
export async function freePort() {
  return new Promise((res, rej) => {
    const s = createNetServer();
    s.unref();
    s.on('error', rej);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => res(port));
    });
  });
}

/** Polls `fn` (sync or async) until it returns a truthy value; returns that value. */
export async function waitFor(fn, timeoutMs = 5000, { intervalMs = 50, what = 'condition' } = {}) {
  const deadline = Date.now() + timeoutMs;
  let lastErr;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) {
      lastErr = e;
    }
    if (Date.now() > deadline) {
      throw new Error(`waitFor: ${what} not met within ${timeoutMs} ms` + (lastErr ? ` (last error: ${lastErr.message})` : ''));
    }
    await sleep(intervalMs);
  }
}

/**
 * HTTP request to `baseUrl + path`; never throws on HTTP status.
 * Returns { status, headers (plain object, lower-case keys), body (text), json(), ms }.
 * `timeoutMs` (default 15000) aborts the request and throws.
 */
export async function request(baseUrl, path, { method = 'GET', headers = {}, body, timeoutMs = 15000 } = {}) {
  const started = performance.now();
  const res = await fetch(baseUrl + path, {
    method,
    headers,
    body: body === undefined || typeof body === 'string' || body instanceof Uint8Array ? body : JSON.stringify(body),
    redirect: 'manual',
    signal: AbortSignal.timeout(timeoutMs),
  });
  const text = await res.text();
  const ms = performance.now() - started;
  const hdrs = {};
  res.headers.forEach((v, k) => {
    hdrs[k] = v;
  });
  // getSetCookie keeps multiple Set-Cookie headers apart.
  hdrs['set-cookie-list'] = res.headers.getSetCookie ? res.headers.getSetCookie() : [];
  return {
    status: res.status,
    headers: hdrs,
    body: text,
    ms,
    json() {
      return JSON.parse(text);
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Origins
// ---------------------------------------------------------------------------------------------

/**
 * A real HTTP origin on 127.0.0.1 (dynamic port unless `port` is given).
 * Records every request: { method, path, headers, body, at }.
 * Modes (switch at runtime with setMode):
 *   'ok'     200 JSON { origin: name, method, path, body } (+ header x-origin: name)
 *   'error'  500 JSON { origin: name, error: 'injected' }
 *   'sleep'  waits `ms` then answers like 'ok'   -> setMode('sleep', 2000)
 *   'reset'  destroys the socket without answering (connection error)
 * `respond(record)` (option or property) overrides the answer in modes other than 'reset':
 * it returns { status, body, headers }.
 * stop() closes the listener and all connections; start() listens again on the same port.
 */
export async function startOrigin(name, { port, mode = 'ok', ms = 0, respond } = {}) {
  const origin = {
    name,
    respond,
    port: port ?? (await freePort()),
    requests: [],
    mode,
    ms,
    server: null,
    get url() {
      return `http://127.0.0.1:${this.port}`;
    },
    setMode(m, ms = 0) {
      this.mode = m;
      this.ms = ms;
    },
    clear() {
      this.requests.length = 0;
    },
    /** Requests whose path starts with `prefix` (default all). */
    received(prefix = '') {
      return this.requests.filter((r) => r.path.startsWith(prefix));
    },
    async start() {
      if (this.server) return this;
      const server = createServer((req, res) => {
        const chunks = [];
        req.on('data', (c) => chunks.push(c));
        req.on('end', async () => {
          const body = Buffer.concat(chunks).toString('utf8');
          this.requests.push({ method: req.method, path: req.url, headers: { ...req.headers }, body, at: Date.now() });
          const mode = this.mode;
          if (mode === 'reset') {
            req.socket.destroy();
            return;
          }
          if (mode === 'sleep') await sleep(this.ms);
          if (this.respond) {
            // Custom answers: respond(record) -> { status, body (object|string), headers }.
            const out = await this.respond(this.requests[this.requests.length - 1]);
            const text = typeof out.body === 'string' ? out.body : JSON.stringify(out.body);
            if (res.destroyed) return;
            res.writeHead(out.status ?? 200, {
              'content-type': 'application/json',
              'content-length': Buffer.byteLength(text),
              'x-origin': name,
              ...(out.headers ?? {}),
            });
            res.end(text);
            return;
          }
          const status = mode === 'error' ? 500 : 200;
          const payload =
            mode === 'error'
              ? { origin: name, error: 'injected' }
              : { origin: name, method: req.method, path: req.url, body };
          const text = JSON.stringify(payload);
          if (res.destroyed) return;
          res.writeHead(status, {
            'content-type': 'application/json',
            'content-length': Buffer.byteLength(text),
            'x-origin': name,
          });
          res.end(text);
        });
      });
      // Longer than workerd's idle pooling, as upstreams behind a proxy should be: an upstream
      // that closes idle keep-alive connections first races the proxy reusing them.
      server.keepAliveTimeout = 65000;
      server.headersTimeout = 66000;
      await new Promise((res, rej) => {
        server.once('error', rej);
        server.listen(this.port, '127.0.0.1', () => {
          server.off('error', rej);
          res();
        });
      });
      this.server = server;
      return this;
    },
    async stop() {
      const s = this.server;
      if (!s) return;
      this.server = null;
      s.closeAllConnections();
      await new Promise((res) => s.close(() => res()));
    },
  };
  await origin.start();
  liveOrigins.add(origin);
  return origin;
}

const liveOrigins = new Set();

// ---------------------------------------------------------------------------------------------
// Worker (wrangler dev)
// ---------------------------------------------------------------------------------------------

const liveWorkers = new Set();

function killGroup(child, signal) {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(-child.pid, signal); // the whole group: npx/wrangler/workerd
  } catch {
    try {
      child.kill(signal);
    } catch {
      /* gone */
    }
  }
}

process.on('exit', () => {
  for (const w of liveWorkers) killGroup(w.child, 'SIGKILL');
});
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.once(sig, () => {
    for (const w of liveWorkers) killGroup(w.child, 'SIGKILL');
    process.exit(130);
  });
}

function runWrangler(args, { input, timeoutMs = 60000 } = {}) {
  return new Promise((res, rej) => {
    const child = execFile(
      WRANGLER,
      args,
      { cwd: ROOT, timeout: timeoutMs, maxBuffer: 16 << 20, env: wranglerEnv() },
      (err, stdout, stderr) => {
        if (err) {
          err.message += `\nwrangler ${args.join(' ')}\nstdout: ${stdout}\nstderr: ${stderr}`;
          rej(err);
        } else res({ stdout, stderr });
      },
    );
    if (input !== undefined) child.stdin.end(input);
  });
}

/** One read of a SPLIT_CONFIG key from the local store in `dir`; null when absent. */
async function readKV(dir, key) {
  try {
    const { stdout, stderr } = await runWrangler(['kv', 'key', 'get', '--local', '--persist-to', dir, '--binding', 'SPLIT_CONFIG', key, '--text']);
    // wrangler prints "Value not found" to stdout/stderr for a missing key (exit 0 on some versions)
    if (/^Value not found/m.test(stdout) || (stdout === '' && /Value not found/.test(stderr))) return null;
    // wrangler appends one newline to the value it prints.
    return stdout.endsWith('\n') ? stdout.slice(0, -1) : stdout;
  } catch (e) {
    if (/not found/i.test(e.message)) return null;
    throw e;
  }
}


function wranglerEnv(extra = {}) {
  return {
    ...process.env,
    // A dev registry of this test process's own: `wrangler dev` sessions on one machine find
    // each other's workers through the registry, so a session without the stats worker would
    // otherwise reach another run's (measured: a stranger's JSON 503 `no_config`).
    WRANGLER_REGISTRY_PATH: process.env.WRANGLER_REGISTRY_PATH || join(E2E_TMP, `registry-${process.pid}`),
    SWITCHYARD_SKIP_BUILD: '1',
    WRANGLER_SEND_METRICS: 'false',
    WRANGLER_LOG: process.env.WRANGLER_LOG || 'log',
    NO_COLOR: '1',
    FORCE_COLOR: '0',
    ...extra,
  };
}

const STATS_CONFIG = join(ROOT, 'wrangler.stats.toml');

/**
 * A copy of wrangler.stats.toml in `dir` for one run: paths made absolute and `vars` appended
 * to its [vars] table (which must be the file's last table). In a multi-worker `wrangler dev`
 * (4.86), `--var` reaches only the primary worker (the router), so the stats worker gets its
 * vars (e.g. STATS_TICK_MS) this way.
 */
async function statsConfigCopy(dir, vars) {
  let text = await readFile(STATS_CONFIG, 'utf8');
  const lastTable = [...text.matchAll(/^\s*\[+([^\]]+)\]+\s*$/gm)].pop();
  if (!lastTable || lastTable[1].trim() !== 'vars') {
    throw new Error('wrangler.stats.toml: [vars] must be the last table (the e2e harness appends to it)');
  }
  const abs = (rel) => JSON.stringify(join(ROOT, rel));
  text = text
    .replace(/^main\s*=\s*"([^"]+)"/m, (_, p) => `main = ${abs(p)}`)
    // wrangler joins watch_dir to the config's directory even when it is absolute.
    .replace(/^watch_dir\s*=\s*"([^"]+)"/m, (_, p) => `watch_dir = ${JSON.stringify(relative(dir, join(ROOT, p)))}`)
    .replace(/^command\s*=\s*"sh scripts\//m, `command = "sh ${ROOT}/scripts/`)
    .replace(/^directory\s*=\s*"([^"]+)"/m, (_, p) => `directory = ${abs(p)}`);
  const keys = Object.keys(vars);
  // Drop the file's own lines for the keys we set (TOML forbids duplicate keys).
  text = text
    .split('\n')
    .filter((l) => !keys.some((k) => new RegExp(`^\\s*${k}\\s*=`).test(l)))
    .join('\n');
  text += '\n' + keys.map((k) => `${k} = ${JSON.stringify(String(vars[k]))}`).join('\n') + '\n';
  const file = join(dir, 'wrangler.stats.e2e.toml');
  await writeFile(file, text);
  return file;
}

/**
 * Starts `wrangler dev` on a free port with its own --persist-to temp dir, waits until it
 * answers HTTP, and returns a handle:
 *   { url, port, persistDir, logFile, req(path, opts), putKV(key, v), getKV(key), deleteKV(key),
 *     logs(), stop() }
 * Runs the router and (unless `stats: false`) the stats worker in one session. `vars` become
 * `--var KEY:VALUE` bindings of the router and [vars] of the stats worker. Startup timeout:
 * `startTimeoutMs` (default 90 s).
 *
 * Operator token: both workers get `ADMIN_TOKEN` = `vars.ADMIN_TOKEN`, else `adminToken`, else
 * a random one (`adminToken: null` leaves it unset: the operator API is then closed). `w.req`
 * adds `authorization: Bearer <it>` to every `/_switchyard/` request unless the caller passes
 * its own `authorization` header or `{ auth: false }`. The token is `w.adminToken`.
 */
export async function startWorker({ vars = {}, startTimeoutMs = 90000, persistDir, stats = true, routerConfig, adminToken } = {}) {
  const token = vars.ADMIN_TOKEN ?? (adminToken === undefined ? `e2e-${randomBytes(16).toString('hex')}` : adminToken);
  // Local development, as scripts/setup.sh's .dev.vars says: loopback http:// webhooks are sent.
  vars = { SWITCHYARD_LOCAL_DEV: '1', ...vars };
  if (token) vars.ADMIN_TOKEN = token;
  else delete vars.ADMIN_TOKEN;
  for (const b of stats ? ['router', 'stats'] : ['router']) {
    if (!existsSync(join(ROOT, 'build', b, 'index.js'))) {
      throw new Error(`build/${b}/index.js missing: run \`make build\` before the e2e suite`);
    }
  }
  await mkdir(E2E_TMP, { recursive: true });
  const dir = persistDir ?? (await mkdtemp(join(E2E_TMP, 'run-')));
  // `routerConfig`: another router config (e.g. tests/e2e/security.test.mjs's copy that runs
  // the test-panic build in build/router-test/).
  const configs = ['-c', routerConfig ?? join(ROOT, 'wrangler.toml')];
  if (stats) configs.push('-c', await statsConfigCopy(dir, vars));
  const port = await freePort();
  const inspectorPort = await freePort();
  const logFile = join(dir, 'wrangler.log');
  const args = [
    'dev',
    ...configs,
    '--port', String(port),
    '--ip', '127.0.0.1',
    '--inspector-port', String(inspectorPort),
    '--persist-to', dir,
    '--show-interactive-dev-session=false',
    '--live-reload=false',
  ];
  for (const [k, v] of Object.entries(vars)) args.push('--var', `${k}:${v}`);

  const child = spawn(WRANGLER, args, {
    cwd: ROOT,
    env: wranglerEnv(),
    detached: true, // own process group, so stop() can kill wrangler *and* workerd
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let log = '';
  const onData = (d) => {
    log += d.toString();
    if (log.length > 1 << 20) log = log.slice(-(1 << 19));
  };
  child.stdout.on('data', onData);
  child.stderr.on('data', onData);

  const url = `http://127.0.0.1:${port}`;
  const w = {
    child,
    url,
    port,
    persistDir: dir,
    logFile,
    logs: () => log,
    adminToken: token || null,
    req: (path, opts = {}) => {
      const { auth, ...o } = opts;
      const headers = { ...(o.headers ?? {}) };
      const hasAuth = Object.keys(headers).some((k) => k.toLowerCase() === 'authorization');
      if (token && auth !== false && !hasAuth && path.startsWith('/_switchyard')) headers.authorization = `Bearer ${token}`;
      return request(url, path, { ...o, headers });
    },
    /** Writes `value` (object -> JSON, string as is) to SPLIT_CONFIG via the wrangler CLI. */
    async putKV(key, value) {
      const text = typeof value === 'string' ? value : JSON.stringify(value);
      const file = join(dir, `kv-put-${process.pid}-${Date.now()}-${Math.random().toString(36).slice(2)}.json`);
      await writeFile(file, text);
      try {
        // The CLI opens the session's local KV store beside the running dev server; on a
        // loaded machine it sometimes answers "KV PUT failed: 500" (a busy local store). A
        // put is idempotent: retry it, a bounded number of times.
        for (let attempt = 1; ; attempt++) {
          try {
            await runWrangler(['kv', 'key', 'put', '--local', '--persist-to', dir, '--binding', 'SPLIT_CONFIG', key, '--path', file]);
            break;
          } catch (e) {
            if (attempt >= 3 || !/KV PUT failed: 5\d\d/.test(String(e.message))) throw e;
            await sleep(500 * attempt);
          }
        }
      } finally {
        await rm(file, { force: true });
      }
    },
    /**
     * Reads a SPLIT_CONFIG key via the wrangler CLI; null when absent. `{ present: true }` is
     * for a key the stats worker rewrites every tick: the CLI reads the store beside the
     * running worker, and a read that lands while the value is being replaced can find none;
     * such a read is retried for up to 2 s before null is returned.
     */
    async getKV(key, { present = false } = {}) {
      const until = Date.now() + (present ? 2000 : 0);
      for (;;) {
        const v = await readKV(dir, key);
        if (v !== null || Date.now() >= until) return v;
        await sleep(100);
      }
    },
    /**
     * Writes `config` to KV and waits until the router serves it: `/_switchyard/status` names
     * a config id other than the one before the write. Throws at once when the router reports
     * the new document rejected. Returns the new config id.
     */
    async applyConfig(config, timeoutMs = 8000) {
      const before = (await w.req('/_switchyard/status')).json().config;
      await w.putKV('config', config);
      let id;
      await waitFor(async () => {
        const s = (await w.req('/_switchyard/status')).json();
        if (s.rejected) throw new Error(`config rejected: ${s.rejected}`);
        id = s.config;
        return id && id !== before;
      }, timeoutMs, { what: 'new config in force' });
      return id;
    },
    async deleteKV(key) {
      await runWrangler(['kv', 'key', 'delete', '--local', '--persist-to', dir, '--binding', 'SPLIT_CONFIG', key]);
    },
    async stop() {
      liveWorkers.delete(w);
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        killGroup(child, 'SIGTERM');
        const t = setTimeout(() => killGroup(child, 'SIGKILL'), 3000);
        await exited;
        clearTimeout(t);
      }
      await writeFile(logFile, log).catch(() => {});
      if (!process.env.SWITCHYARD_E2E_KEEP) await rm(dir, { recursive: true, force: true }).catch(() => {});
    },
  };
  liveWorkers.add(w);

  const started = Date.now();
  try {
    await waitFor(
      async () => {
        if (child.exitCode !== null) throw new Error(`wrangler dev exited with ${child.exitCode}`);
        const r = await request(url, '/__switchyard_ready_probe', { timeoutMs: 2000 });
        return r.status > 0;
      },
      startTimeoutMs,
      { intervalMs: 200, what: `wrangler dev on :${port}` },
    );
  } catch (e) {
    await w.stop();
    e.message += `\n--- wrangler output ---\n${log.slice(-4000)}`;
    throw e;
  }
  w.startupMs = Date.now() - started;
  return w;
}

/**
 * node:test helper: starts one worker for the current test file (before) and stops it and all
 * origins (after), even when tests fail. Returns `ctx` with `ctx.worker` (set once started) and
 * `ctx.ready` (a promise of the worker; await it in hooks of your own).
 */
export function useWorker(opts) {
  let resolveReady, rejectReady;
  const ready = new Promise((res, rej) => {
    resolveReady = res;
    rejectReady = rej;
  });
  ready.catch(() => {});
  const ctx = { worker: null, ready };
  before(async () => {
    try {
      ctx.worker = await startWorker(opts);
      resolveReady(ctx.worker);
    } catch (e) {
      rejectReady(e);
      throw e;
    }
  });
  after(async () => {
    for (const o of liveOrigins) await o.stop().catch(() => {});
    liveOrigins.clear();
    if (ctx.worker) await ctx.worker.stop();
  });
  return ctx;
}

/** Builds a schema-v1 config (docs/config.md) from a map of origin name -> origin handle. */
export function originsBlock(origins, extra = {}) {
  const out = {};
  for (const [name, o] of Object.entries(origins)) out[name] = { url: o.url, ...extra };
  return out;
}

export { readFile };

// An independent implementation of the receipt format (docs/learning.md, "Receipts and feedback"), for tests and
// scripts that mint receipts the worker never issued (expired ones, many at once).
const b64url = (buf) => Buffer.from(buf).toString('base64url');
function uleb(n) {
  const out = [];
  let v = BigInt(n);
  do {
    let byte = Number(v & 0x7fn);
    v >>= 7n;
    if (v) byte |= 0x80;
    out.push(byte);
  } while (v);
  return out;
}

/**
 * A receipt for `route`/`arm` signed with `key` (the RECEIPT_KEY): `v2.` (with the route's
 * feedback shard count `shards`, as the router issues them) when `shards` is given, else `v1.`.
 */
export function mintReceipt({ route, arm, key, issuedMs = Date.now(), nonce = 7n, version = 0, shards }) {
  const nonceBytes = Buffer.alloc(8);
  nonceBytes.writeBigUInt64BE(BigInt(nonce));
  const payload = Buffer.from([
    route.length, ...Buffer.from(route), arm.length, ...Buffer.from(arm),
    ...Buffer.alloc(8, 0xab), ...uleb(version), ...uleb(issuedMs), ...nonceBytes,
    ...(shards === undefined ? [] : [shards]),
  ]);
  // Domain bytes (core::receipt::domain): 0x01 for v1, 0x04 for v2.
  const domain = shards === undefined ? 1 : 4;
  const tag = createHmac('sha256', key).update(Buffer.concat([Buffer.from([domain]), payload])).digest().subarray(0, 16);
  return `${shards === undefined ? 'v1' : 'v2'}.${b64url(payload)}.${b64url(tag)}`;
}
