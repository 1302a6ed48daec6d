// Security of the request path: bounded staleness of KV-backed values, cookie and header hygiene, the
// JSON 502 without the stats worker, and an isolate that serves again after a Rust panic.
// Runs the router's test build (build/router-test/, cargo feature `test-panic`, built here
// if missing or out of date) alone: no stats worker, so nothing but this test writes
// `weights:` / `state:` keys, and /_switchyard/* shows what it answers without one.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { request as httpRequest } from 'node:http';
import { mkdir, writeFile, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ROOT, startOrigin, useWorker, originsBlock, sleep } from './harness.mjs';

// Build the test router (fast no-op when build/router-test/ is current) and point a copy of
// wrangler.toml at it.
execFileSync('sh', [join(ROOT, 'scripts/build-worker.sh'), 'router-test'], { cwd: ROOT, stdio: 'inherit' });
const dir = join(ROOT, '.e2e');
await mkdir(dir, { recursive: true });
const routerConfig = join(dir, `wrangler.router-test.${process.pid}.toml`);
{
  let text = await readFile(join(ROOT, 'wrangler.toml'), 'utf8');
  text = text
    .replace(/^main\s*=\s*"[^"]+"/m, `main = ${JSON.stringify(join(ROOT, 'build/router-test/index.js'))}`)
    .replace(/^command\s*=\s*"[^"]+"/m, `command = "sh ${ROOT}/scripts/build-worker.sh router-test"`)
    .replace(/^watch_dir\s*=\s*"([^"]+)"/m, (_, p) => `watch_dir = ${JSON.stringify(join('..', p))}`);
  await writeFile(routerConfig, text);
}

// A private dev registry: `wrangler dev` sessions on one machine find each other's workers
// through the registry, so without this the CONTROL binding would reach another test run's
// switchyard-stats worker (measured: a JSON 503 `no_config` from a stranger's session).
process.env.WRANGLER_REGISTRY_PATH = join(dir, `registry-${process.pid}`);
const ctx = useWorker({ stats: false, routerConfig });

const USERS = 200;
/** 200 concurrent users (distinct ids), returns the arms that answered. */
async function wave(w, path) {
  const rs = await Promise.all(
    Array.from({ length: USERS }, (_, i) =>
      w.req(path, { method: 'POST', headers: { 'x-user-id': `u${i}-${Date.now()}` }, body: '{}' }),
    ),
  );
  for (const r of rs) assert.equal(r.status, 200, r.body);
  assert.ok(rs.every((r) => r.headers['x-switchyard-stale'] === undefined), 'no response marked stale');
  return rs.map((r) => r.headers['x-switchyard-arm']);
}

test('blue-green flip, 10 s idle, 200 concurrent users: all on the new side', async () => {
  const w = await ctx.ready;
  const blue = await startOrigin('blue');
  const green = await startOrigin('green');
  const cfg = (active) => ({
    version: 1,
    origins: originsBlock({ blue, green }),
    routes: [{ name: 'bg', match: { path_prefix: '/bg' }, strategy: { kind: 'blue_green', blue: 'blue', green: 'green', active } }],
  });
  await w.applyConfig(cfg('blue'));
  assert.deepEqual(new Set(await wave(w, '/bg/x')), new Set(['blue']));
  await w.putKV('config', cfg('green'));
  await sleep(10_000);
  const arms = await wave(w, '/bg/x');
  assert.equal(arms.filter((a) => a !== 'green').length, 0, `old side answered: ${arms.filter((a) => a !== 'green').length}`);
});

test('bandit weights flip, 10 s idle, 200 concurrent users: all on the new arm', async () => {
  const w = await ctx.ready;
  const a = await startOrigin('a');
  const b = await startOrigin('b');
  await w.applyConfig({
    version: 1,
    origins: originsBlock({ a, b }),
    routes: [{
      name: 'band', match: { path_prefix: '/band' },
      strategy: { kind: 'bandit', arms: [{ name: 'a', origin: 'a' }, { name: 'b', origin: 'b' }], min_share: 0, sticky: false },
    }],
  });
  await w.putKV('weights:band', { arms: { a: 1, b: 0 } });
  await sleep(6_000); // past the bound: the next wave reads the weights
  assert.deepEqual(new Set(await wave(w, '/band/x')), new Set(['a']));
  await w.putKV('weights:band', { arms: { a: 0, b: 1 } });
  await sleep(10_000);
  const arms = await wave(w, '/band/x');
  assert.equal(arms.filter((x) => x !== 'b').length, 0, `old arm answered: ${arms.filter((x) => x !== 'b').length}`);
});

test('canary state flip, 10 s idle, 200 concurrent users: all on the canary', async () => {
  const w = await ctx.ready;
  const stable = await startOrigin('stable');
  const canary = await startOrigin('canary');
  await w.applyConfig({
    version: 1,
    origins: originsBlock({ stable, canary }),
    routes: [{ name: 'can', match: { path_prefix: '/can' }, strategy: { kind: 'canary', stable: 'stable', canary: 'canary', percent: 0 } }],
  });
  const fp = (await w.req('/_switchyard/status')).json().routes.find((r) => r.name === 'can').fingerprint;
  await w.putKV('state:can', { fingerprint: fp, canary_percent: 0 });
  await sleep(6_000);
  assert.deepEqual(new Set(await wave(w, '/can/x')), new Set(['stable']));
  await w.putKV('state:can', { fingerprint: fp, canary_percent: 100 });
  await sleep(10_000);
  const arms = await wave(w, '/can/x');
  assert.equal(arms.filter((x) => x !== 'canary').length, 0, `stable answered: ${arms.filter((x) => x !== 'canary').length}`);
});

test('origin cookies survive a first visit; origins cannot set x-switchyard-*; Connection is not forwarded', async () => {
  const w = await ctx.ready;
  const o = await startOrigin('c', {
    respond: () => ({
      status: 200,
      body: { ok: true },
      headers: {
        'set-cookie': ['session=s1; Path=/; HttpOnly', 'csrf=c1; Path=/'],
        'x-switchyard-arm': 'forged',
        'x-switchyard-receipt': 'forged',
        'x-switchyard-stale': '1',
        'X-Switchyard-Evil': 'forged',
      },
    }),
  });
  await w.applyConfig({
    version: 1,
    origins: originsBlock({ c: o }),
    default_origin: 'c',
    routes: [{ name: 'ck', match: { path_prefix: '/ck' }, strategy: { kind: 'ab', arms: [{ name: 'only', origin: 'c', weight: 1 }] } }],
  });
  // First visit: no unit id, so the router sets sy_uid next to the origin's two cookies.
  const r = await w.req('/ck/x');
  assert.equal(r.status, 200, r.body);
  const cookies = r.headers['set-cookie-list'];
  assert.equal(cookies.length, 3, JSON.stringify(cookies));
  assert.ok(cookies.some((c) => c.startsWith('session=s1')));
  assert.ok(cookies.some((c) => c.startsWith('csrf=c1')));
  assert.ok(cookies.some((c) => /^sy_uid=[0-9a-f]{32};/.test(c)), JSON.stringify(cookies));
  assert.equal(r.headers['x-switchyard-arm'], 'only');
  assert.notEqual(r.headers['x-switchyard-receipt'], 'forged');
  assert.equal(r.headers['x-switchyard-stale'], undefined);
  assert.equal(r.headers['x-switchyard-evil'], undefined);
  // The default origin (no route) too.
  const d = await w.req('/elsewhere');
  assert.equal(d.headers['x-switchyard-arm'], 'default');
  assert.equal(d.headers['x-switchyard-evil'], undefined);
  assert.equal(d.headers['set-cookie-list'].length, 2);

  // Connection (node:http, because fetch() refuses to set it): workerd consumes the header
  // itself and never shows it to the worker (measured: the origin receives neither
  // `connection` nor anything telling the worker which headers it named), so the headers it
  // names cannot be told apart there. What is asserted: Connection itself never reaches the
  // origin and other headers do. The worker's own rule (drop what Connection names, when it
  // sees one) is tested natively in tests/security.rs.
  o.clear();
  const u = new URL(w.url);
  await new Promise((res, rej) => {
    const req = httpRequest(
      { host: u.hostname, port: u.port, path: '/ck/conn', method: 'GET', headers: { connection: 'keep-alive, x-hop-secret', 'x-hop-secret': 'hunter2', 'x-kept': 'yes', 'x-user-id': 'conn' } },
      (resp) => {
        resp.resume();
        resp.on('end', res);
      },
    );
    req.on('error', rej);
    req.end();
  });
  const seen = o.received('/ck/conn');
  assert.equal(seen.length, 1);
  assert.equal(seen[0].headers['x-kept'], 'yes');
  assert.equal(seen[0].headers.connection === undefined || seen[0].headers.connection === 'keep-alive', true);
  assert.ok(!String(seen[0].headers.connection ?? '').includes('x-hop-secret'), JSON.stringify(seen[0].headers));
});

test('without the stats worker /_switchyard/* answers a JSON 502', async () => {
  const w = await ctx.ready;
  const r = await w.req('/_switchyard/stats/bg');
  assert.equal(r.status, 502, r.body);
  assert.match(r.headers['content-type'] ?? '', /application\/json/);
  assert.equal(r.json().error.code, 'control_unavailable');
  assert.match(r.json().error.message, /switchyard-stats/);
});

test('a panic in one request leaves the next request served, and is logged with message and location', async () => {
  const w = await ctx.ready;
  const o = await startOrigin('p');
  await w.applyConfig({
    version: 1,
    origins: originsBlock({ p: o }),
    routes: [{ name: 'pan', match: { path_prefix: '/pan' }, strategy: { kind: 'ab', arms: [{ name: 'p', origin: 'p', weight: 1 }] } }],
  });
  const p = await w.req('/__switchyard_test/panic');
  assert.ok(p.status >= 500, `panic route answered ${p.status}`);
  for (let i = 0; i < 5; i++) {
    const r = await w.req('/pan/after', { headers: { 'x-user-id': `after${i}` } });
    assert.equal(r.status, 200, r.body);
    assert.equal(r.json().origin, 'p');
  }
  const logs = w.logs();
  assert.match(logs, /deliberate panic from the test-panic route/);
  assert.match(logs, /src\/router\.rs:\d+:\d+/);
});
