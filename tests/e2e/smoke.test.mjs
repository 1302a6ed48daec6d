// Proves the harness itself: origins (modes, recording, stop/restart on the same port),
// wrangler dev lifecycle, KV put/get through the wrangler CLI. Independent of the edge code.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { useWorker, startOrigin, request, waitFor, sleep } from './harness.mjs';

const ctx = useWorker();

test('wrangler dev answers HTTP on its dynamic port', async () => {
  const w = ctx.worker;
  assert.ok(w.port > 0);
  const r = await w.req('/__switchyard_ready_probe');
  assert.ok(r.status >= 200 && r.status < 600, `status ${r.status}`);
  assert.equal(typeof r.ms, 'number');
  console.log(`# wrangler dev ready in ${w.startupMs} ms`);
});

test('origin records requests and switches modes at runtime', async () => {
  const o = await startOrigin('alpha');
  let r = await request(o.url, '/v2/models/m/infer?x=1', {
    method: 'POST',
    headers: { 'x-user-id': 'u1', 'content-type': 'application/json' },
    body: { inputs: [] },
  });
  assert.equal(r.status, 200);
  assert.equal(r.headers['x-origin'], 'alpha');
  assert.deepEqual(r.json(), { origin: 'alpha', method: 'POST', path: '/v2/models/m/infer?x=1', body: '{"inputs":[]}' });
  assert.equal(o.requests.length, 1);
  assert.equal(o.requests[0].headers['x-user-id'], 'u1');
  assert.equal(o.requests[0].body, '{"inputs":[]}');

  o.setMode('error');
  r = await request(o.url, '/a');
  assert.equal(r.status, 500);
  assert.equal(r.json().error, 'injected');

  o.setMode('sleep', 300);
  r = await request(o.url, '/slow');
  assert.equal(r.status, 200);
  assert.ok(r.ms >= 280, `slept only ${r.ms} ms`);

  o.setMode('reset');
  await assert.rejects(request(o.url, '/reset'));
  assert.equal(o.received('/reset').length, 1);
});

test('origin can be stopped and restarted on the same port', async () => {
  const o = await startOrigin('beta');
  const port = o.port;
  await o.stop();
  await assert.rejects(request(o.url, '/down', { timeoutMs: 2000 }));
  await o.start();
  assert.equal(o.port, port);
  const r = await request(o.url, '/up');
  assert.equal(r.status, 200);
  assert.equal(r.json().origin, 'beta');
});

test('KV put/get round-trip through the wrangler CLI (objects and strings)', async () => {
  const w = ctx.worker;
  assert.equal(await w.getKV('absent-key'), null);
  await w.putKV('obj', { version: 1, n: [1, 2, 3] });
  assert.deepEqual(JSON.parse(await w.getKV('obj')), { version: 1, n: [1, 2, 3] });
  await w.putKV('str', 'plain text value');
  assert.equal(await w.getKV('str'), 'plain text value');
  await w.deleteKV('str');
  assert.equal(await w.getKV('str'), null);
});

test('waitFor returns the first truthy value and times out otherwise', async () => {
  let n = 0;
  assert.equal(await waitFor(() => (++n >= 3 ? n : 0), 1000, { intervalMs: 10 }), 3);
  await assert.rejects(waitFor(() => false, 100, { intervalMs: 10 }), /not met within 100 ms/);
  await sleep(1);
});
