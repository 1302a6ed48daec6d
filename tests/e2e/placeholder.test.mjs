// Pipeline proof against the PLACEHOLDER src/edge/mod.rs (infra branch). Every test skips when
// the running worker is not the placeholder (GET /__placeholder/ping != "placeholder"), so this
// file can be deleted together with the placeholder when the real edge is merged.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { useWorker, startOrigin, waitFor } from './harness.mjs';

const ctx = useWorker();
let probe;
const isPlaceholder = () =>
  (probe ??= ctx.ready
    .then((w) => w.req('/__placeholder/ping'))
    .then((r) => r.status === 200 && r.body === 'placeholder'));
const ptest = (name, fn) =>
  test(name, async (t) => ((await isPlaceholder()) ? fn(t) : t.skip('not the placeholder edge')));

ptest('a KV put from the CLI is visible to the running worker on its next read', async () => {
  const w = ctx.worker;
  let r = await w.req('/');
  assert.equal(r.status, 404, 'no config yet');
  const cfg1 = { version: 1, origins: {}, routes: [], marker: 'first' };
  await w.putKV('config', cfg1);
  r = await w.req('/');
  assert.equal(r.status, 200);
  assert.deepEqual(r.json(), cfg1);
  const cfg2 = { ...cfg1, marker: 'second' };
  await w.putKV('config', cfg2);
  r = await w.req('/'); // no waiting: the very next read must see it
  assert.deepEqual(r.json(), cfg2);
});

ptest('Durable Object binding resolves, keeps state per name, and its alarm fires', async () => {
  const w = ctx.worker;
  const a1 = (await w.req('/__placeholder/do?name=fraud')).json();
  const a2 = (await w.req('/__placeholder/do?name=fraud')).json();
  const b1 = (await w.req('/__placeholder/do?name=ab')).json();
  assert.equal(a1.count, 1);
  assert.equal(a2.count, 2);
  assert.equal(b1.count, 1);
  assert.equal(a1.name, 'fraud');
  const after = await waitFor(
    async () => {
      const j = (await w.req('/__placeholder/do?name=fraud')).json();
      return j.alarms >= 1 ? j : null;
    },
    5000,
    { intervalMs: 150, what: 'alarm' },
  );
  assert.ok(after.count >= 3);
});

ptest('outbound fetch to a loopback origin, with AbortSignal timeout', async () => {
  const w = ctx.worker;
  const o = await startOrigin('up');
  const target = encodeURIComponent(`${o.url}/v2/models/x/infer?q=1`);
  let r = await w.req(`/__placeholder/fetch?url=${target}&timeout_ms=3000`);
  assert.equal(r.status, 200);
  assert.equal(r.json().origin, 'up');
  assert.equal(o.received('/v2/models/x/infer').length, 1);

  o.setMode('error');
  r = await w.req(`/__placeholder/fetch?url=${target}`);
  assert.equal(r.status, 500);

  o.setMode('sleep', 3000);
  r = await w.req(`/__placeholder/fetch?url=${target}&timeout_ms=300`);
  assert.equal(r.status, 504);
  assert.ok(r.ms < 2500, `timeout took ${r.ms} ms`);

  o.setMode('ok');
  await o.stop();
  r = await w.req(`/__placeholder/fetch?url=${target}&timeout_ms=3000`);
  assert.equal(r.status, 502, r.body);
  await o.start();
  r = await w.req(`/__placeholder/fetch?url=${target}&timeout_ms=3000`);
  assert.equal(r.status, 200);
});

ptest('ctx.wait_until work completes after the response', async () => {
  const w = ctx.worker;
  const r = await w.req('/__placeholder/bg?key=bg-test');
  assert.equal(r.body, 'scheduled');
  const v = await waitFor(() => w.getKV('bg-test'), 10000, { intervalMs: 200, what: 'bg KV write' });
  assert.match(v, /^\d{13}$/);
});

ptest('proxy streams method, headers and body; response headers can be added', async () => {
  const w = ctx.worker;
  const o = await startOrigin('px');
  const body = JSON.stringify({ inputs: [{ name: 'x', shape: [3], datatype: 'FP32', data: [1, 2, 3] }] });
  const r = await w.req(`/__placeholder/proxy?url=${encodeURIComponent(o.url + '/v2/models/m/infer')}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-user-id': 'alice' },
    body,
  });
  assert.equal(r.status, 200);
  assert.equal(r.headers['x-switchyard-arm'], 'placeholder');
  assert.equal(r.headers['x-origin'], 'px');
  const got = o.received('/v2/models/m/infer');
  assert.equal(got.length, 1);
  assert.equal(got[0].method, 'POST');
  assert.equal(got[0].body, body);
  assert.equal(got[0].headers['x-user-id'], 'alice');
  assert.ok(got[0].headers['x-forwarded-host'], 'x-forwarded-host set');
});
