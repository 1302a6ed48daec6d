// Releases, end to end: blue-green flips and failover, recreate's health gate, and shadow
// traffic that never touches the primary response.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { useWorker, startOrigin, waitFor, originsBlock, sleep } from './harness.mjs';

const ctx = useWorker();
let o = {};

const apply = (routes) => ctx.worker.applyConfig({ version: 1, origins: originsBlock(o), routes });

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

test('setup origins', async () => {
  await ctx.ready;
  o = {
    blue: await startOrigin('blue'),
    green: await startOrigin('green'),
    primary: await startOrigin('primary'),
    shadow: await startOrigin('shadow'),
    model: await startOrigin('model'),
  };
});

test('blue_green: flipping active in KV moves all traffic within 5 s', async () => {
  const route = (active) => [
    { name: 'bg', match: { path_prefix: '/bg' }, unit: [{ header: 'x-user-id' }], strategy: { kind: 'blue_green', blue: 'blue', green: 'green', active, preview_header: 'x-preview' } },
  ];
  await apply(route('blue'));
  for (let i = 0; i < 20; i++) {
    const r = await ctx.worker.req('/bg', { headers: { 'x-user-id': `u${i}` } });
    assert.equal(r.json().origin, 'blue');
  }
  const preview = await ctx.worker.req('/bg', { headers: { 'x-user-id': 'u', 'x-preview': '1' } });
  assert.equal(preview.json().origin, 'green', 'the preview header reaches the idle side');

  await ctx.worker.putKV('config', { version: 1, origins: originsBlock(o), routes: route('green') });
  const flipped = Date.now();
  // Done when 20 consecutive requests from different users all land on green.
  await waitFor(async () => {
    for (let i = 0; i < 20; i++) {
      const r = await ctx.worker.req('/bg', { headers: { 'x-user-id': `f${i}` } });
      if (r.json().origin !== 'green') return false;
    }
    return true;
  }, 5000, { intervalMs: 100, what: 'all traffic on green' });
  const ms = Date.now() - flipped;
  console.log(`# blue_green: all traffic on green ${ms} ms after the KV write`);
  assert.ok(ms <= 5000);
});

test('blue_green failover: with the active origin stopped, the other side answers (body replayed)', async () => {
  await apply([
    { name: 'bg', match: { path_prefix: '/bg' }, unit: [{ header: 'x-user-id' }], strategy: { kind: 'blue_green', blue: 'blue', green: 'green', active: 'blue', failover: true } },
  ]);
  await o.blue.stop();
  try {
    o.green.clear();
    const body = JSON.stringify({ inputs: [{ data: [4, 5, 6] }] });
    const r = await ctx.worker.req('/bg/infer', { method: 'POST', headers: { 'x-user-id': 'u1', 'content-type': 'application/json' }, body });
    assert.equal(r.status, 200);
    assert.equal(r.json().origin, 'green');
    assert.equal(r.headers['x-switchyard-arm'], 'green');
    assert.equal(r.headers['x-switchyard-failover'], 'blue->green');
    assert.equal(o.green.requests.at(-1).body, body, 'the body was replayed to the other side');
    // An active side answering 5xx also fails over.
    await o.blue.start();
    o.blue.setMode('error');
    const r2 = await ctx.worker.req('/bg', { headers: { 'x-user-id': 'u2' } });
    assert.equal(r2.json().origin, 'green');
  } finally {
    o.blue.setMode('ok');
    await o.blue.start();
  }
  const back = await ctx.worker.req('/bg', { headers: { 'x-user-id': 'u3' } });
  assert.equal(back.json().origin, 'blue');
  assert.equal(back.headers['x-switchyard-failover'], undefined);
});

test('recreate: 503 + Retry-After while the origin fails its health check, then serves again', async () => {
  await apply([{ name: 're', match: { path_prefix: '/re' }, strategy: { kind: 'recreate', origin: 'model', health_path: '/health' } }]);
  let r = await ctx.worker.req('/re/infer');
  assert.equal(r.status, 200);
  o.model.setMode('error');
  await waitFor(async () => (r = await ctx.worker.req('/re/infer')).status === 503, 5000, { what: '503' });
  assert.equal(r.headers['retry-after'], '5');
  assert.equal(r.json().error.code, 'origin_unhealthy');
  await o.model.stop();
  r = await ctx.worker.req('/re/infer');
  assert.equal(r.status, 503, 'a stopped origin is a 503 too, not a connection error');
  await o.model.start();
  o.model.setMode('ok');
  await waitFor(async () => (r = await ctx.worker.req('/re/infer')).status === 200, 5000, { what: 'healthy again' });
  assert.equal(r.json().origin, 'model');
});

test('shadow: the shadow origin receives mirrored requests; sleeping or down, the primary is unchanged', async () => {
  await apply([
    {
      name: 'sh',
      match: { path_prefix: '/sh', methods: ['POST'] },
      unit: [{ header: 'x-user-id' }],
      strategy: { kind: 'recreate', origin: 'primary' },
      shadow: [{ origin: 'shadow', percent: 100, max_body_bytes: 4096, timeout_ms: 5000 }],
    },
  ]);
  const send = (i, size = 64) =>
    ctx.worker.req('/sh/infer', {
      method: 'POST',
      headers: { 'x-user-id': `s${i}`, 'content-type': 'application/json' },
      body: JSON.stringify({ id: i, pad: 'x'.repeat(size) }),
    });
  const round = async (label) => {
    const rs = [];
    for (let i = 0; i < 15; i++) rs.push(await send(i));
    const lat = median(rs.map((r) => r.ms));
    console.log(`# shadow ${label}: primary median ${lat.toFixed(1)} ms`);
    return { rs, lat };
  };

  o.shadow.clear();
  const base = await round('healthy');
  await waitFor(() => o.shadow.requests.length >= 15, 5000, { what: 'mirrored requests' });
  const mirrored = o.shadow.requests.map((r) => JSON.parse(r.body).id).sort((a, b) => a - b);
  assert.deepEqual(mirrored, [...Array(15).keys()]);
  assert.equal(o.shadow.requests[0].headers['x-switchyard-shadow'], '1');
  assert.equal(o.shadow.requests[0].path, '/sh/infer');

  o.shadow.setMode('sleep', 2000);
  const slow = await round('sleeping 2 s');
  o.shadow.setMode('ok');
  await o.shadow.stop();
  const down = await round('down');
  await o.shadow.start();

  for (const { rs, lat } of [slow, down]) {
    rs.forEach((r, i) => {
      assert.equal(r.status, base.rs[i].status);
      assert.equal(r.body, base.rs[i].body, 'same body');
    });
    assert.ok(lat < base.lat + 150, `median ${lat} vs ${base.lat}`);
    assert.ok(Math.max(...rs.map((r) => r.ms)) < 1500, 'no request waited for the shadow');
  }

  // Bodies above max_body_bytes are not mirrored; the primary still gets them whole.
  o.shadow.clear();
  o.primary.clear();
  const big = await send(99, 10_000);
  assert.equal(big.status, 200);
  assert.equal(JSON.parse(o.primary.requests.at(-1).body).pad.length, 10_000);
  await sleep(500);
  assert.equal(o.shadow.requests.length, 0);
});

test('a huge body is streamed to the primary intact', async () => {
  await apply([{ name: 'big', match: { path_prefix: '/big' }, strategy: { kind: 'recreate', origin: 'primary' } }]);
  o.primary.clear();
  const body = 'y'.repeat(12 * 1024 * 1024);
  const r = await ctx.worker.req('/big', { method: 'POST', headers: { 'content-type': 'text/plain' }, body, timeoutMs: 60000 });
  assert.equal(r.status, 200);
  assert.equal(o.primary.requests.at(-1).body.length, body.length);
});
