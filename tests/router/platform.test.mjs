// Unit tests of src/js/platform.mjs, the router's platform calls, in Node (which
// has the same fetch, Headers, Response and AbortController as workerd), against real
// loopback HTTP servers. The end-to-end tests run the same module inside workerd.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import {
  send, kvGet, sleep, names, edited, respond, json, callObject, callService, secret, country, drain, why, trapped,
} from '../../src/js/platform.mjs';

async function server(handler) {
  const s = createServer(handler);
  await new Promise((r) => s.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${s.address().port}`;
  return { url, close: () => new Promise((r) => { s.closeAllConnections?.(); s.close(r); }) };
}

test('send: answers the response, never follows a redirect, and sends an ArrayBuffer body more than once', async () => {
  const seen = [];
  const s = await server((req, res) => {
    let body = '';
    req.on('data', (d) => { body += d; });
    req.on('end', () => {
      seen.push({ method: req.method, body, h: req.headers['x-a'] });
      if (req.url === '/redirect') {
        res.writeHead(302, { location: 'http://example.invalid/' });
        res.end();
        return;
      }
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('ok');
    });
  });
  try {
    const buf = new TextEncoder().encode('payload').buffer;
    const h = new Headers({ 'x-a': '1' });
    const r1 = await send(`${s.url}/x`, 'POST', h, buf, 2000);
    const r2 = await send(`${s.url}/x`, 'POST', h, buf, 2000);
    assert.equal(r1.status, 200);
    assert.equal(await r1.text(), 'ok');
    await r2.text();
    assert.deepEqual(seen.map((x) => x.body), ['payload', 'payload']);
    assert.equal(seen[0].h, '1');
    const r3 = await send(`${s.url}/redirect`, 'GET', new Headers(), undefined, 2000);
    assert.equal(r3.status, 302, 'the redirect goes back to the caller');
  } finally {
    await s.close();
  }
});

test('send: null when the head is late (the request is aborted), a rejection when nothing listens', async () => {
  const s = await server(() => { /* never answers */ });
  try {
    const t0 = Date.now();
    const r = await send(`${s.url}/slow`, 'GET', new Headers(), undefined, 150);
    assert.equal(r, null);
    const took = Date.now() - t0;
    assert.ok(took >= 140 && took < 2000, `timed out after ${took} ms`);
  } finally {
    await s.close();
  }
  const dead = await server(() => {});
  const url = dead.url;
  await dead.close();
  await assert.rejects(send(`${url}/`, 'GET', new Headers(), undefined, 2000));
});

test('send: the timeout covers the head only; a body that streams longer is delivered whole', async () => {
  const s = await server((req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.write('a');
    setTimeout(() => res.end('b'), 300);
  });
  try {
    const r = await send(`${s.url}/stream`, 'GET', new Headers(), undefined, 100);
    assert.equal(r.status, 200);
    assert.equal(await r.text(), 'ab');
  } finally {
    await s.close();
  }
});

test('kvGet: the value, null for a missing key, undefined when KV is slower than the bound', async () => {
  const store = new Map([['config', '{"v":1}']]);
  const env = {
    KV: { get: async (k, type) => { assert.equal(type, 'text'); return store.get(k) ?? null; } },
    SLOW: { get: () => sleep(500).then(() => 'late') },
  };
  assert.equal(await kvGet(env, 'KV', 'config', 1000), '{"v":1}');
  assert.equal(await kvGet(env, 'KV', 'nope', 1000), null);
  assert.equal(await kvGet(env, 'SLOW', 'config', 50), undefined);
  await assert.rejects(kvGet(env, 'MISSING', 'config', 50), /not a KV namespace/);
});

test('names and edited: delete by name, set, append, and drop an invalid value without failing', () => {
  const h = new Headers([['Accept', 'a'], ['X-Drop', '1'], ['set-cookie', 'a=1']]);
  assert.deepEqual(names(h).split('\n').sort(), ['accept', 'set-cookie', 'x-drop']);
  const out = edited(h, 'x-drop\naccept', 'x-new\nv\naccept\nb\nbad\u0000name\nz', 'set-cookie\nb=2');
  assert.equal(out.get('x-drop'), null);
  assert.equal(out.get('accept'), 'b');
  assert.equal(out.get('x-new'), 'v');
  assert.deepEqual(out.getSetCookie(), ['a=1', 'b=2']);
  assert.equal(h.get('x-drop'), '1', 'the original is untouched');
  assert.equal(names(edited(undefined, '', '', '')), '');
});

test('respond and json: status and body kept, headers replaced; JSON answers with no-store', async () => {
  const orig = new Response('body', { status: 418, headers: { 'x-switchyard-arm': 'forged' } });
  const r = respond(orig, new Headers({ 'x-switchyard-arm': 'b' }));
  assert.equal(r.status, 418);
  assert.equal(r.headers.get('x-switchyard-arm'), 'b');
  assert.equal(await r.text(), 'body');
  const j = json(503, new TextEncoder().encode('{"error":{}}'), 'retry-after\n5');
  assert.equal(j.status, 503);
  assert.equal(j.headers.get('content-type'), 'application/json');
  assert.equal(j.headers.get('cache-control'), 'no-store');
  assert.equal(j.headers.get('retry-after'), '5');
  assert.deepEqual(await j.json(), { error: {} });
});

test('callObject, callService, secret, country, drain, why', async () => {
  const calls = [];
  const env = {
    DO: {
      idFromName: (n) => `id:${n}`,
      get: (id) => ({ fetch: async (url, init) => { calls.push([id, url, init.method, init.body]); return new Response('{}'); } }),
    },
    SVC: { fetch: async (req) => new Response(req.url) },
    KEY: 'sixteen-bytes-key!',
    NUM: 5,
  };
  await callObject(env, 'DO', 'r1', 'https://route-stats/r1/report', 'POST', '{"a":1}');
  assert.deepEqual(calls, [['id:r1', 'https://route-stats/r1/report', 'POST', '{"a":1}']]);
  await assert.rejects(callObject(env, 'NOPE', 'r', 'https://x/', 'GET'), /not a Durable Object namespace/);
  assert.equal(await (await callService(env, 'SVC', new Request('https://x/y'))).text(), 'https://x/y');
  await assert.rejects(callService(env, 'NOPE', new Request('https://x/')), /not a service binding/);
  assert.equal(secret(env, 'KEY'), 'sixteen-bytes-key!');
  assert.equal(secret(env, 'NUM'), undefined);
  assert.equal(country({ cf: { country: 'DE' } }), 'DE');
  assert.equal(country({}), undefined);
  const r = new Response('unread');
  assert.equal(await drain(r), undefined);
  assert.equal(r.bodyUsed, true, 'the body was read to the end');
  assert.equal(await drain(new Response(null)), undefined);
  assert.equal(why(new TypeError('bad')), 'bad');
  assert.equal(why('text'), 'text');
});

test('json copies its body out of the caller\'s buffer; kvGet and callObject turn a synchronous throw into a rejection', async () => {
  const mem = new TextEncoder().encode('{"a":1}');
  const r = json(200, mem.subarray(0, 7), '');
  mem.fill(0x20); // the caller's memory is reused after the call returns
  assert.deepEqual(await r.json(), { a: 1 });
  const env = {
    KV: { get: () => { throw new TypeError('sync kv'); } },
    DO: { idFromName: () => { throw new TypeError('sync id'); } },
    SVC: { fetch: () => { throw new TypeError('sync svc'); } },
  };
  await assert.rejects(kvGet(env, 'KV', 'k', 50), /sync kv/);
  await assert.rejects(callObject(env, 'DO', 'r', 'https://x/', 'GET'), /sync id/);
  await assert.rejects(callService(env, 'SVC', new Request('https://x/')), /sync svc/);
});

test('trapped sets the flag the module entry checks before each request', () => {
  delete globalThis.__switchyardTrapped;
  trapped();
  assert.equal(globalThis.__switchyardTrapped, true);
  delete globalThis.__switchyardTrapped;
});
