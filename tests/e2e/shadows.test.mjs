// Shadows by policy: a mirrored request carries no credentials (Authorization, Cookie,
// Proxy-Authorization, the route's `credentials`) unless the shadow sets
// `forward_credentials`, and only the methods the shadow declares (default: the route's match
// methods among GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS, else GET and POST); never
// CONNECT, TRACE or a WebDAV verb. Recording origins show what each shadow received.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startOrigin, useWorker, originsBlock, waitFor, sleep } from './harness.mjs';

const ctx = useWorker();

const METHODS = ['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'HEAD', 'OPTIONS', 'PROPFIND'];
const CREDENTIALS = {
  authorization: 'Bearer caller-secret',
  cookie: 'session=caller-session',
  'x-api-key': 'caller-api-key',
};
// Hop-by-hop: never forwarded to any origin (the primary included), so never to a shadow.
const PROXY_AUTH = { 'proxy-authorization': 'Basic cHJveHk6c2VjcmV0' };

test('a shadow gets no credential header and no method outside its policy', async () => {
  const w = await ctx.ready;
  const o = {
    primary: await startOrigin('primary'),
    mirror: await startOrigin('mirror'),
    trusted: await startOrigin('trusted'),
    narrow: await startOrigin('narrow'),
  };
  await w.applyConfig({
    version: 1,
    origins: originsBlock(o),
    routes: [
      {
        name: 'any', match: { path_prefix: '/any' }, credentials: ['X-Api-Key'],
        strategy: { kind: 'recreate', origin: 'primary' },
        shadow: [
          { origin: 'mirror', percent: 100 },
          { origin: 'trusted', percent: 100, methods: ['put', 'POST'], forward_credentials: true },
        ],
      },
      {
        name: 'some', match: { path_prefix: '/some', methods: ['GET', 'DELETE', 'PROPFIND'] },
        strategy: { kind: 'recreate', origin: 'primary' },
        shadow: [{ origin: 'narrow', percent: 100 }],
      },
    ],
  });
  const headers = { ...CREDENTIALS, ...PROXY_AUTH, 'x-user-id': 'u-1', 'x-trace': 'kept' };
  for (const path of ['/any/x', '/some/x']) {
    for (const method of METHODS) {
      const body = ['GET', 'HEAD', 'OPTIONS', 'PROPFIND'].includes(method) ? undefined : '{"q":1}';
      const r = await w.req(path, { method, headers, body });
      const routed = path === '/any/x' || ['GET', 'DELETE', 'PROPFIND'].includes(method);
      if (routed) assert.equal(r.status, 200, `${method} ${path}: ${r.body}`);
    }
  }
  // Shadows run after the answer (waitUntil): wait for the last ones to land.
  await waitFor(() => o.mirror.requests.length >= 2 && o.trusted.requests.length >= 2 && o.narrow.requests.length >= 2, 10000, {
    what: 'the mirrored requests',
  });
  await sleep(500);
  const seen = (origin) => origin.requests.map((r) => r.method).sort();
  // The primary got every method with every header.
  assert.equal(o.primary.requests.length, METHODS.length + 3);
  for (const r of o.primary.requests) {
    for (const [k, v] of Object.entries(CREDENTIALS)) assert.equal(r.headers[k], v, `primary ${r.method} ${k}`);
  }
  // Default policy: the route has no match methods -> GET and POST; no credentials.
  assert.deepEqual(seen(o.mirror), ['GET', 'POST']);
  for (const r of o.mirror.requests) {
    for (const k of Object.keys({ ...CREDENTIALS, ...PROXY_AUTH })) assert.equal(r.headers[k], undefined, `mirror ${r.method} got ${k}`);
    assert.equal(r.headers['x-trace'], 'kept');
    assert.equal(r.headers['x-switchyard-shadow'], '1');
  }
  // Opt-in: its own methods, and the credentials.
  assert.deepEqual(seen(o.trusted), ['POST', 'PUT']);
  for (const r of o.trusted.requests) {
    for (const [k, v] of Object.entries(CREDENTIALS)) assert.equal(r.headers[k], v, `trusted ${r.method} ${k}`);
  }
  // The route's own methods, minus the WebDAV verb.
  assert.deepEqual(seen(o.narrow), ['DELETE', 'GET']);
  // This route marks no `credentials`: x-api-key is an ordinary header to it.
  for (const r of o.narrow.requests) {
    for (const k of ['authorization', 'cookie', 'proxy-authorization']) assert.equal(r.headers[k], undefined, `narrow ${r.method} got ${k}`);
    assert.equal(r.headers['x-api-key'], CREDENTIALS['x-api-key']);
  }
  console.log(
    `shadows: primary ${o.primary.requests.length} requests; mirror ${seen(o.mirror)}; ` +
      `trusted ${seen(o.trusted)} (forward_credentials); narrow ${seen(o.narrow)}`,
  );
});

test('a shadow cannot declare CONNECT, TRACE or a WebDAV verb', async () => {
  const w = await ctx.ready;
  for (const m of ['TRACE', 'CONNECT', 'PROPFIND', 'MKCOL']) {
    const r = await w.req('/_switchyard/validate', {
      method: 'POST',
      body: {
        version: 1,
        origins: { p: { url: 'http://127.0.0.1:9' }, s: { url: 'http://127.0.0.1:10' } },
        routes: [{
          name: 'r', match: { path_prefix: '/' }, strategy: { kind: 'recreate', origin: 'p' },
          shadow: [{ origin: 's', methods: ['GET', m] }],
        }],
      },
    });
    assert.equal(r.status, 422, r.body);
    const e = r.json().errors;
    assert.equal(e.length, 1, r.body);
    assert.equal(e[0].path, '$.routes[0].shadow[0].methods[1]');
    assert.match(e[0].reason, new RegExp(`never sent ${m}`));
  }
});
