// docs/openapi.yaml against the live workers: the router and the control plane under
// `wrangler dev` (tests/e2e/harness.mjs; `make build` first), every operation of the document
// driven to its success answer and its error answers (auth, bad input, unknown names, stale
// versions, refusals, limits), HEAD on every GET, and every other method on every path (405
// with `Allow`). Each answer is checked against the document: its status is one the operation
// documents, every header the document requires is there and matches its schema, and the
// body matches the schema of its content type (ajv, draft 2020-12 as OpenAPI 3.1 uses it).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { resolve } from 'node:path';
import { parse } from 'yaml';
import Ajv2020 from 'ajv/dist/2020.js';
import { useWorker, startOrigin, originsBlock, mintReceipt, ROOT } from '../e2e/harness.mjs';

const doc = parse(readFileSync(resolve(ROOT, 'docs/openapi.yaml'), 'utf8'));
const METHODS = ['get', 'put', 'post', 'delete', 'patch', 'head', 'options'];
/**
 * Documented answers this test does not provoke, and why. Every other documented answer of
 * every operation must occur (asserted at the end), so a new one cannot go untested silently.
 */
const NOT_PROVOKED = {
  'putConfig 502': 'the ConfigLog Durable Object would have to fail',
  'configHistory 502': 'the ConfigLog Durable Object would have to fail',
  'revertConfig 502': 'the ConfigLog Durable Object would have to fail',
  'alerts 502': 'the ConfigLog Durable Object would have to fail',
  'audit 502': 'the ConfigLog Durable Object would have to fail',
  'routeStats 502': "the route's Durable Object would have to fail",
  'routeSeries 502': "the route's Durable Object would have to fail",
  'tick 502': "the route's Durable Object would have to fail",
  'rollback 502': "the route's Durable Object would have to fail",
  'resume 502': "the route's Durable Object would have to fail",
  'promote 502': "the route's Durable Object would have to fail",
  'feedback 502': "the route's Durable Object would have to fail",
  'ope 502': "the route's Durable Object would have to fail",
  'decisions 502': "the route's Durable Object would have to fail",
};

const KEY = 'contract-receipt-key-0123456789abcdef';
const TINY = 'tiny-token-0123456789';
// A browser origin allowed to call OFREP.
const APP_ORIGIN = 'https://app.example.test';
const VIEWER = 'contract-viewer-token-0123456789abcdef';
const OPERATOR = 'contract-operator-token-0123456789abcdef';
// Role feedback: sends feedback to routes with `feedback_auth: "token"`, nothing else.
const FEEDBACK = 'contract-feedback-token-0123456789abcdef';
const ctx = useWorker({
  vars: {
    RECEIPT_KEY: KEY,
    // Ticks only when the test asks (POST /tick): the answers stay the test's own.
    STATS_TICK_MS: '3600000',
    // tiny's token is shorter than 32 characters: refused at start.
    SWITCHYARD_TOKENS: `vera:viewer:${VIEWER},otto:operator:${OPERATOR},tiny:viewer:${TINY},fred:feedback:${FEEDBACK}`,
    OFREP_CORS_ORIGINS: `${APP_ORIGIN}, http://127.0.0.1:9`,
  },
});
const w = () => ctx.worker;
const bearer = (t) => ({ authorization: `Bearer ${t}` });

// ---- the document as checkers -------------------------------------------------------------

const BASE = 'https://switchyard.dev/openapi';
/** Schema refs into components.schemas, as absolute refs ajv resolves. */
function absolute(v) {
  if (Array.isArray(v)) return v.map(absolute);
  if (v && typeof v === 'object') {
    const out = {};
    for (const [k, x] of Object.entries(v)) {
      out[k] = k === '$ref' && typeof x === 'string' && x.startsWith('#/components/schemas/') ? `${BASE}#/$defs/${x.split('/').pop()}` : absolute(x);
    }
    return out;
  }
  return v;
}
const ajv = new Ajv2020({ allErrors: true, strict: true });
ajv.addSchema({ $id: BASE, $defs: absolute(doc.components.schemas) });
const compiled = new Map();
function conforms(schema, value) {
  const key = JSON.stringify(schema);
  if (!compiled.has(key)) compiled.set(key, ajv.compile(absolute(schema)));
  const v = compiled.get(key);
  return v(value) ? null : ajv.errorsText(v.errors);
}

/** A `$ref` to #/components/... resolved (sibling fields, e.g. description, kept). */
function deref(x) {
  if (!x?.$ref) return x;
  const target = x.$ref.slice(2).split('/').reduce((o, k) => o?.[k], doc);
  assert.ok(target, `unresolved ${x.$ref}`);
  const { $ref, ...rest } = x;
  return { ...deref(target), ...rest };
}

/** operationId -> { path, method, op } for every operation of the document. */
const OPS = new Map();
for (const [path, item] of Object.entries(doc.paths)) {
  for (const m of METHODS) if (item[m]) OPS.set(item[m].operationId, { path, method: m.toUpperCase(), op: item[m] });
}
/** The `Allow` the document gives a path: its methods, HEAD where GET is. */
function allowOf(path) {
  const ms = METHODS.filter((m) => doc.paths[path][m]).map((m) => m.toUpperCase());
  if (ms.includes('GET') && !ms.includes('HEAD')) ms.splice(ms.indexOf('GET') + 1, 0, 'HEAD');
  return ms;
}

let answers = 0;
const provoked = new Set();

/** Checks one answer of operation `opId` against the document (`count`: a new answer). */
function check(opId, res, method, note = '', count = true) {
  const { path, op } = OPS.get(opId);
  const where = `${method} ${opId}${note ? ` (${note})` : ''} -> ${res.status}`;
  const documented = op.responses[String(res.status)];
  assert.ok(documented, `${where}: status not documented; body ${res.body.slice(0, 300)}`);
  const resp = deref(documented);
  for (const [name, h0] of Object.entries(resp.headers ?? {})) {
    const h = deref(h0);
    const value = res.headers[name.toLowerCase()];
    if (h.required) assert.ok(value !== undefined, `${where}: header ${name} missing`);
    if (value !== undefined && h.schema) {
      const bad = conforms(h.schema, value);
      assert.equal(bad, null, `${where}: header ${name}: ${value}: ${bad}`);
    }
  }
  if (res.status === 405) {
    assert.deepEqual(res.headers.allow?.split(', '), allowOf(path), `${where}: Allow`);
  }
  if (method === 'HEAD') {
    assert.equal(res.body, '', `${where}: HEAD answers no body`);
  } else if (resp.content) {
    const type = (res.headers['content-type'] ?? '').split(';')[0].trim();
    const media = resp.content[type];
    assert.ok(media, `${where}: content-type ${type} not documented (${Object.keys(resp.content)})`);
    let value = res.body;
    if (type === 'application/json') {
      try {
        value = JSON.parse(res.body);
      } catch (e) {
        assert.fail(`${where}: not JSON: ${e.message}: ${res.body.slice(0, 200)}`);
      }
    }
    const bad = conforms(media.schema ?? {}, value);
    assert.equal(bad, null, `${where}: body ${res.body.slice(0, 400)}: ${bad}`);
  }
  if (count) answers++;
  provoked.add(`${opId} ${res.status}`);
  return res;
}

/** The concrete path of an operation, its `{params}` filled from `params`. */
function pathOf(opId, params = {}) {
  return OPS.get(opId).path.replace(/\{([^}]+)\}/g, (_, k) => encodeURIComponent(params[k]));
}

/**
 * Calls operation `opId` and checks the answer. `as`: 'admin' (default), 'viewer',
 * 'operator', 'feedback' or 'none'; `query` is appended to the path.
 */
async function call(opId, { params, query = '', body, headers = {}, as = 'admin', method, expect, note } = {}) {
  const m = method ?? OPS.get(opId).method;
  const tokens = { viewer: VIEWER, operator: OPERATOR, feedback: FEEDBACK };
  const auth = tokens[as] ? bearer(tokens[as]) : {};
  const res = await w().req(pathOf(opId, params) + query, {
    method: m,
    headers: { ...auth, ...headers },
    body,
    auth: as !== 'none',
  });
  if (expect !== undefined) {
    assert.equal(res.status, expect, `${m} ${opId}${note ? ` (${note})` : ''}: ${res.status} ${res.body.slice(0, 300)}`);
  }
  return check(opId, res, m, note);
}

/** A request with any method (fetch refuses TRACE): node:http. */
function raw(method, path, headers = {}) {
  return new Promise((res, rej) => {
    const r = httpRequest(`${w().url}${path}`, { method, headers }, (resp) => {
      let body = '';
      resp.setEncoding('utf8');
      resp.on('data', (d) => (body += d));
      resp.on('end', () => res({ status: resp.statusCode, headers: resp.headers, body }));
    });
    r.on('error', rej);
    r.end();
  });
}

// ---- the scenario ----------------------------------------------------------------------------

let o = {};
function config(extra = {}) {
  return {
    version: 1,
    description: 'openapi contract test',
    // An origin whose path is a secret: non-admins read it as scheme and host.
    origins: { ...originsBlock(o), hidden: { url: `${o.a.url}/models/secret-token` } },
    routes: [
      { name: 'cn', match: { path_prefix: '/cn' }, unit: [{ header: 'x-user-id' }], strategy: { kind: 'canary', stable: 'a', canary: 'b', percent: 10 } },
      {
        name: 'ab',
        match: { path_prefix: '/ab' },
        unit: [{ header: 'x-user-id' }],
        strategy: { kind: 'ab', arms: [{ name: 'a', origin: 'a', weight: 1 }, { name: 'b', origin: 'b', weight: 1 }] },
        flags: [{ name: 'beta', rollout: 30 }],
      },
      { name: 're', match: { path_prefix: '/re' }, strategy: { kind: 'recreate', origin: 'a' } },
      // Rewards only with a token of role feedback or higher.
      {
        name: 'fa',
        match: { path_prefix: '/fa' },
        unit: [{ header: 'x-user-id' }],
        strategy: { kind: 'ab', arms: [{ name: 'a', origin: 'a', weight: 1 }, { name: 'b', origin: 'b', weight: 1 }] },
        feedback_auth: 'token',
        reward: { min: 0, max: 1 },
      },
      // A bandit whose weights an outside trainer writes.
      { name: 'bx', match: { path_prefix: '/bx' }, strategy: { kind: 'bandit', arms: [{ name: 'a', origin: 'a' }, { name: 'b', origin: 'b' }], trainer: 'external' } },
    ],
    ...extra,
  };
}
const json = (v) => JSON.stringify(v, null, 2);
const big = (n) => 'x'.repeat(n);

test('before any config: the answers that need one', async () => {
  await ctx.ready;
  o = { a: await startOrigin('a'), b: await startOrigin('b') };
  await call('getConfig', { expect: 404, note: 'KV empty' });
  await call('routeStats', { params: { route: 'cn' }, expect: 503 });
  await call('routeSeries', { params: { route: 'cn' }, expect: 503 });
  await call('tick', { params: { route: 'cn' }, expect: 503 });
  for (const op of ['rollback', 'resume', 'promote']) await call(op, { params: { route: 'cn' }, expect: 503 });
  await call('metrics', { expect: 503 });
  await call('issueOverride', { body: { route: 'ab', arm: 'a' }, expect: 503 });
  await call('ofrepEvaluateFlag', { params: { key: 'ab.beta' }, body: { context: { targetingKey: 'u1' } }, expect: 503 });
  await call('ofrepEvaluateFlags', { body: { context: { targetingKey: 'u1' } }, expect: 503 });
  await call('configHistory', { expect: 200, note: 'empty' });
  await call('ope', { params: { route: 'ab' }, body: { policy: { a: 1 } }, expect: 503 });
  await call('decisions', { params: { route: 'ab' }, expect: 503 });
  await call('putWeights', { params: { route: 'bx' }, body: { arms: { a: 1 } }, expect: 503 });
  // A receipt that verifies, for a route no config names yet.
  const receipt = mintReceipt({ route: 'ab', arm: 'a', key: KEY, nonce: 11n });
  await call('feedback', { body: { receipt, reward: 1 }, as: 'none', expect: 503, note: 'no config' });
});

test('config: write, read, validate, history, revert, with every refusal', async () => {
  const text = json(config());
  // Refusals change nothing.
  await call('putConfig', { body: json({ ...config(), routes: [{ name: 'x.y' }] }), expect: 422 });
  await call('putConfig', { body: Buffer.from([0x7b, 0xff, 0x7d]), expect: 400, note: 'not UTF-8' });
  await call('putConfig', { body: big((1 << 20) + 1), expect: 413 });
  await call('putConfig', { body: text, headers: { 'if-match': 'yesterday' }, expect: 400, note: 'bad If-Match' });
  await call('putConfig', { body: text, headers: { 'if-match': '"5"' }, expect: 412, note: 'stale before the first version' });
  await call('putConfig', { body: text, as: 'viewer', expect: 403 });
  await call('putConfig', { body: text, as: 'operator', expect: 403 });
  await call('putConfig', { body: text, as: 'none', expect: 401 });
  // The first version, with a UTF-8 message in the query.
  const put = await call('putConfig', { body: text, query: `?message=${encodeURIComponent('first — ✓ 100%')}`, expect: 200 });
  const v1 = put.json().version;
  assert.equal(put.headers.etag, `"${v1}"`);
  const got = await call('getConfig', { expect: 200 });
  assert.equal(got.json().text, text, 'byte for byte');
  assert.equal(got.headers.etag, `"${v1}"`);
  const seen = await call('getConfig', { as: 'viewer', expect: 200, note: 'redacted' });
  assert.ok(!seen.json().text.includes('secret-token') && text.includes('secret-token'), 'a viewer reads URLs as scheme and host');
  await call('getConfig', { as: 'none', expect: 401 });
  // A second version based on the first; then one based on the first again is stale.
  const text2 = json(config({ description: 'second' }));
  const v2 = (await call('putConfig', { body: text2, headers: { 'if-match': `"${v1}"`, 'x-switchyard-message': 'second' }, expect: 200 })).json().version;
  const stale = await call('putConfig', { body: text, headers: { 'if-match': `"${v1}"` }, expect: 412 });
  assert.equal(stale.json().current, v2);
  // Validate, with and without churn.
  await call('validateConfig', { body: text, as: 'operator', expect: 200 });
  const churn = await call('validateConfig', { body: text, query: '?churn=1', expect: 200, note: 'churn' });
  assert.equal(churn.json().churn.units, 10_000);
  await call('validateConfig', { body: json({ version: 2 }), expect: 422 });
  await call('validateConfig', { body: Buffer.from([0xc3, 0x28]), expect: 400, note: 'not UTF-8' });
  await call('validateConfig', { body: big((1 << 20) + 1), expect: 413 });
  await call('validateConfig', { body: text, as: 'viewer', expect: 403 });
  await call('validateConfig', { body: text, as: 'none', expect: 401 });
  // History: newest first, the UTF-8 message decoded.
  const h = (await call('configHistory', { as: 'viewer', expect: 200 })).json();
  assert.deepEqual(h.versions.map((x) => x.version).slice(0, 2), [v2, v1]);
  assert.equal(h.versions[1].message, 'first — ✓ 100%');
  assert.equal(h.versions[0].message, 'second');
  await call('configHistory', { as: 'none', expect: 401 });
  // Revert: to v1 (a new version), refusals first.
  await call('revertConfig', { params: { version: 'abc' }, expect: 400 });
  await call('revertConfig', { params: { version: '999' }, expect: 404 });
  await call('revertConfig', { params: { version: String(v1) }, headers: { 'if-match': `"${v1}"` }, expect: 412 });
  await call('revertConfig', { params: { version: String(v1) }, as: 'operator', expect: 403 });
  await call('revertConfig', { params: { version: String(v1) }, as: 'none', expect: 401 });
  const rv = await call('revertConfig', { params: { version: String(v1) }, query: '?message=back', headers: { 'if-match': `"${v2}"` }, expect: 200 });
  assert.equal(rv.json().previous, v2);
  assert.equal(rv.json().config, put.json().id);
  // A document written to KV outside the API is recorded on the next read; it is invalid, so
  // reverting to it is refused (422) and changes nothing.
  await w().putKV('config', '{"version": 1, "origins": {}, "routes": []}');
  const ext = (await call('configHistory', { expect: 200, note: 'external' })).json().versions[0];
  assert.equal(ext.kind, 'external');
  await call('getConfig', { expect: 200, note: 'invalid text in KV' });
  await call('revertConfig', { params: { version: String(ext.version) }, expect: 422 });
  await call('revertConfig', { params: { version: String(v1) }, expect: 200, note: 'back to valid' });
  await w().applyConfig(config());
});

test('routes: statistics, series, tick and the operator actions', async () => {
  for (const as of ['viewer', 'admin']) await call('routeStats', { params: { route: 'cn' }, as, expect: 200 });
  await call('routeStats', { params: { route: 'nope' }, expect: 404 });
  await call('routeStats', { params: { route: 'cn' }, as: 'none', expect: 401 });
  await call('routeSeries', { params: { route: 'cn' }, query: '?minutes=5', as: 'viewer', expect: 200 });
  await call('routeSeries', { params: { route: 'cn' }, query: '?minutes=0', expect: 400 });
  await call('routeSeries', { params: { route: 'nope' }, expect: 404 });
  await call('routeSeries', { params: { route: 'cn' }, as: 'none', expect: 401 });
  await call('tick', { params: { route: 'cn' }, as: 'operator', expect: 200 });
  await call('tick', { params: { route: 'nope' }, expect: 404 });
  await call('tick', { params: { route: 'cn' }, as: 'viewer', expect: 403 });
  await call('tick', { params: { route: 'cn' }, as: 'none', expect: 401 });
  await call('rollback', { params: { route: 'cn' }, as: 'operator', expect: 200 });
  await call('rollback', { params: { route: 'ab' }, expect: 409, note: 'not a canary' });
  await call('resume', { params: { route: 'cn' }, expect: 200 });
  await call('resume', { params: { route: 'cn' }, expect: 409, note: 'not rolled back' });
  await call('promote', { params: { route: 'cn' }, expect: 200 });
  await call('promote', { params: { route: 're' }, expect: 409, note: 'recreate' });
  for (const op of ['rollback', 'resume', 'promote']) {
    await call(op, { params: { route: 'nope' }, expect: 404 });
    await call(op, { params: { route: 'cn' }, as: 'viewer', expect: 403 });
    await call(op, { params: { route: 'cn' }, as: 'none', expect: 401 });
  }
});

test('overrides, metrics, alerts, audit, whoami', async () => {
  await call('issueOverride', { body: { route: 'ab', arm: 'b', ttl_s: 60 }, as: 'operator', expect: 200 });
  await call('issueOverride', { body: 'nope', expect: 400, note: 'not JSON' });
  await call('issueOverride', { body: { route: 'ab', arm: 'zz' }, expect: 400, note: 'unknown arm' });
  await call('issueOverride', { body: { route: 'ab', arm: 'a', ttl_s: 0 }, expect: 400, note: 'ttl_s' });
  await call('issueOverride', { body: { route: 'nope', arm: 'a' }, expect: 404 });
  await call('issueOverride', { body: { route: 'ab', arm: big(5000) }, expect: 413 });
  await call('issueOverride', { body: { route: 'ab', arm: 'a' }, as: 'viewer', expect: 403 });
  await call('issueOverride', { body: { route: 'ab', arm: 'a' }, as: 'none', expect: 401 });
  const m = await call('metrics', { as: 'viewer', expect: 200 });
  assert.match(m.body, /switchyard_/);
  const text004 = await call('metrics', { headers: { accept: 'text/plain; version=0.0.4' }, expect: 200, note: 'text 0.0.4' });
  assert.match(text004.headers['content-type'], /^text\/plain; version=0\.0\.4/);
  await call('metrics', { as: 'none', expect: 401 });
  await call('alerts', { as: 'viewer', expect: 200 });
  await call('alerts', { as: 'none', expect: 401 });
  const audit = (await call('audit', { query: '?limit=5', as: 'viewer', expect: 200 })).json();
  assert.ok(audit.entries.length > 0 && audit.entries.length <= 5);
  await call('audit', { as: 'none', expect: 401 });
  for (const [as, role] of [['viewer', 'viewer'], ['operator', 'operator'], ['admin', 'admin']]) {
    assert.equal((await call('whoami', { as, expect: 200 })).json().role, role);
  }
  await call('whoami', { as: 'none', expect: 401 });
  await call('whoami', { headers: bearer('not-a-token-0123456789'), as: 'none', expect: 401, note: 'unknown token' });
  await call('whoami', { headers: bearer(TINY), as: 'none', expect: 401, note: 'a token shorter than 32 characters' });
  assert.match(w().logs(), /SWITCHYARD_TOKENS entry 2 \(tiny\): token shorter than 32 characters: refused \(make one with `openssl rand -hex 32`\)/);
  // (wrangler itself prints the vars it was started with: only the refusal's lines are checked)
  const lines = w().logs().split('\n').filter((l) => l.includes('operator tokens:'));
  assert.ok(lines.length > 0 && lines.every((l) => !l.includes(TINY)), 'the refused token is not in the refusal');
});

test('feedback: a receipt from a routed response, and every refusal', async () => {
  const routed = await w().req('/ab/infer', { method: 'POST', headers: { 'x-user-id': 'u1' }, body: '{}' });
  assert.equal(routed.status, 200);
  const receipt = routed.headers['x-switchyard-receipt'];
  assert.ok(receipt, 'a routed response carries a receipt');
  const post = (body, note, expect) => call('feedback', { body, headers: { 'content-type': 'application/json' }, as: 'none', note, expect });
  await post({ receipt, reward: 1 }, 'credited', 200);
  await post({ receipt, reward: 1 }, 'replayed', 409);
  await post({ receipt: mintReceipt({ route: 'ab', arm: 'a', key: 'another-key-0123456789abcdef' }), reward: 1 }, 'forged', 401);
  await post({ receipt: mintReceipt({ route: 'ab', arm: 'a', key: KEY, issuedMs: Date.now() - 30 * 86_400_000 }), reward: 1 }, 'expired', 410);
  await post({ receipt: 'v1.nope', reward: 1 }, 'malformed', 400);
  await post({ receipt, reward: 'lots' }, 'bad reward', 400);
  await post('{', 'not JSON', 400);
  await post({ receipt, reward: 1, pad: big(9000) }, 'too large', 413);
  // The route's reward range: a reward outside is refused and the receipt stays unspent.
  const fresh = (await w().req('/ab/infer', { method: 'POST', headers: { 'x-user-id': 'u2' }, body: '{}' })).headers['x-switchyard-receipt'];
  const range = await post({ receipt: fresh, reward: 1e6 }, 'reward out of range', 400);
  assert.deepEqual([range.json().error.code, range.json().min, range.json().max], ['reward_out_of_range', 0, 1]);
  await post({ receipt: fresh, reward: 0.5 }, 'the same receipt, a reward in range', 200);
  await post({ receipt: mintReceipt({ route: 'gone', arm: 'a', key: KEY, nonce: 12n }), reward: 1 }, 'route not in the config', 404);
  // feedback_auth "token": no token, an unknown one, then the feedback token.
  const fa = (await w().req('/fa/infer', { method: 'POST', headers: { 'x-user-id': 'u1' }, body: '{}' })).headers['x-switchyard-receipt'];
  await post({ receipt: fa, reward: 1 }, 'no token', 401);
  const unknown = await call('feedback', { body: { receipt: fa, reward: 1 }, headers: bearer('unknown-feedback-token-0123456789abcdef'), as: 'none', note: 'unknown token', expect: 401 });
  assert.equal(unknown.json().error.code, 'unauthorized');
  await call('feedback', { body: { receipt: fa, reward: 1 }, as: 'feedback', note: 'feedback token', expect: 200 });
});

test('offline learning: off-policy evaluation, the decision log, external weights', async () => {
  for (let i = 0; i < 6; i++) {
    assert.equal((await w().req('/ab/infer', { method: 'POST', headers: { 'x-user-id': `d${i}` }, body: '{}' })).status, 200);
  }
  // The decision log: rows reach the route's object with the isolate's next flush.
  let page;
  for (let t = 0; t < 40; t++) {
    page = await call('decisions', { params: { route: 'ab' }, query: '?limit=2', as: 'operator', expect: 200, note: t ? 'again' : '' });
    if (page.headers['x-switchyard-next']) break;
    await new Promise((r) => setTimeout(r, 250));
  }
  const rows = page.body.split('\n').filter(Boolean).map((l) => JSON.parse(l));
  assert.equal(rows.length, 2, page.body);
  for (const row of rows) assert.equal(conforms({ $ref: '#/components/schemas/DecisionRow' }, row), null, JSON.stringify(row));
  assert.equal(page.headers['x-switchyard-rows'], '2');
  const next = await call('decisions', { params: { route: 'ab' }, query: `?after=${page.headers['x-switchyard-next']}`, expect: 200, note: 'next page' });
  assert.ok(next.body.split('\n').filter(Boolean).length >= 1);
  await call('decisions', { params: { route: 'ab' }, query: '?after=zz', expect: 400, note: 'bad cursor' });
  await call('decisions', { params: { route: 'ab' }, query: '?limit=0', expect: 400, note: 'bad limit' });
  await call('decisions', { params: { route: 'nope' }, expect: 404 });
  await call('decisions', { params: { route: 'ab' }, as: 'viewer', expect: 403 });
  await call('decisions', { params: { route: 'ab' }, as: 'none', expect: 401 });
  // Off-policy evaluation of an allocation.
  const ope = (await call('ope', { params: { route: 'ab' }, body: { policy: { a: 0.9, b: 0.1 } }, as: 'viewer', expect: 200 })).json();
  assert.ok(Number.isInteger(ope.n) && ope.ips && ope.snips !== undefined, JSON.stringify(ope));
  await call('ope', { params: { route: 'ab' }, body: { policy: { zz: 1 } }, expect: 400, note: 'unknown arm' });
  await call('ope', { params: { route: 'ab' }, body: '{', expect: 400, note: 'not JSON' });
  await call('ope', { params: { route: 'ab' }, body: { policy: { a: 1 }, pad: big(17_000) }, expect: 413 });
  await call('ope', { params: { route: 'nope' }, body: { policy: { a: 1 } }, expect: 404 });
  await call('ope', { params: { route: 'ab' }, body: { policy: { a: 1 } }, as: 'feedback', expect: 403 });
  await call('ope', { params: { route: 'ab' }, body: { policy: { a: 1 } }, as: 'none', expect: 401 });
  // An external trainer's weights.
  const put = (await call('putWeights', { params: { route: 'bx' }, body: { arms: { a: 0.9, b: 0.1 } }, as: 'operator', expect: 200 })).json();
  assert.deepEqual(put.weights.arms, { a: 0.9, b: 0.1 });
  await call('putWeights', { params: { route: 'bx' }, body: { arms: { zz: 1 } }, expect: 400, note: 'unknown arm' });
  await call('putWeights', { params: { route: 'ab' }, body: { arms: { a: 1 } }, expect: 409, note: 'learner-trained route' });
  await call('putWeights', { params: { route: 'bx' }, body: { arms: { a: 1 }, pad: big(17_000) }, expect: 413 });
  await call('putWeights', { params: { route: 'nope' }, body: { arms: { a: 1 } }, expect: 404 });
  await call('putWeights', { params: { route: 'bx' }, body: { arms: { a: 1 } }, as: 'viewer', expect: 403 });
  await call('putWeights', { params: { route: 'bx' }, body: { arms: { a: 1 } }, as: 'none', expect: 401 });
  const promote = await call('promote', { params: { route: 'bx' }, expect: 409, note: 'external trainer' });
  assert.equal(promote.json().error.code, 'external_trainer');
});

test('a feedback token opens no operator endpoint: 403 from every viewer operation', async () => {
  let refused = 0;
  for (const [opId, { op, method }] of OPS) {
    if (op['x-switchyard-role'] !== 'viewer') continue;
    const params = { route: 'cn', version: '1', key: 'ab.beta' };
    const body = method === 'GET' ? undefined : JSON.stringify({ policy: { a: 1 }, context: { targetingKey: 'u1' } });
    const res = await call(opId, { params, body, as: 'feedback', expect: 403, note: 'feedback token' });
    assert.equal(res.headers['x-switchyard-role'], 'feedback');
    refused++;
  }
  assert.ok(refused >= 12, `${refused} operations`);
});

test('OFREP: one flag and every flag', async () => {
  const one = (key, body, note, expect) => call('ofrepEvaluateFlag', { params: { key }, body, as: 'viewer', note, expect });
  await one('ab.beta', { context: { targetingKey: 'u1' } }, 'evaluated', 200);
  await one('ab.nope', { context: { targetingKey: 'u1' } }, 'unknown flag', 404);
  await one('ab.beta', { context: {} }, 'no targetingKey', 400);
  const refused = await one('ab.beta', { context: { targetingKey: 'zz-\uFFFD' } }, 'a targetingKey the edge refuses', 400);
  assert.equal(refused.json().errorCode, 'INVALID_CONTEXT', refused.body);
  const long = await one('ab.beta', { context: { targetingKey: 'é'.repeat(257) } }, 'a targetingKey over 512 bytes', 400);
  assert.equal(long.json().errorCode, 'INVALID_CONTEXT', long.body);
  await one('ab.beta', { context: 5 }, 'context not an object', 400);
  await one('ab.beta', '{', 'not JSON', 400);
  await call('ofrepEvaluateFlag', { params: { key: 'ab.beta' }, body: { context: { targetingKey: 'u1' } }, as: 'none', expect: 401 });
  const all = await call('ofrepEvaluateFlags', { body: { context: { targetingKey: 'u1' } }, as: 'viewer', expect: 200 });
  assert.deepEqual(all.json().flags.map((f) => f.key), ['ab.beta']);
  // The tag back: the same config and context answer 304 without a body; another context 200.
  const again = { context: { targetingKey: 'u1' } };
  const nm = await call('ofrepEvaluateFlags', { body: again, headers: { 'if-none-match': all.headers.etag }, expect: 304 });
  assert.equal(nm.body, '');
  await call('ofrepEvaluateFlags', { body: { context: { targetingKey: 'u2' } }, headers: { 'if-none-match': all.headers.etag }, expect: 200, note: 'other context' });
  await call('ofrepEvaluateFlags', { body: '{', expect: 400 });
  await call('ofrepEvaluateFlags', { body: { context: { targetingKey: 'u1' } }, as: 'none', expect: 401 });
});

test('OFREP from a browser: preflights and the CORS grant', async () => {
  const preflight = { origin: APP_ORIGIN, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization,content-type' };
  for (const [opId, params] of [['ofrepPreflightFlag', { key: 'ab.beta' }], ['ofrepPreflightFlags', {}]]) {
    const ok = await call(opId, { params, headers: preflight, as: 'none', expect: 204, note: 'listed origin' });
    assert.equal(ok.headers['access-control-allow-origin'], APP_ORIGIN);
    assert.match(ok.headers['access-control-allow-headers'], /authorization/);
    const no = await call(opId, { params, headers: { ...preflight, origin: 'https://evil.example.test' }, as: 'none', expect: 403, note: 'other origin' });
    assert.equal(no.json().error.code, 'cors_origin_not_allowed');
    assert.equal(no.headers['access-control-allow-origin'], undefined);
    await call(opId, { params, as: 'none', expect: 204, note: 'no Origin' });
  }
  // The answers themselves: readable by the listed origin only, ETag exposed (304s included).
  const body = { context: { targetingKey: 'u1' } };
  const all = await call('ofrepEvaluateFlags', { body, headers: { origin: APP_ORIGIN }, as: 'viewer', expect: 200, note: 'from a listed origin' });
  assert.equal(all.headers['access-control-allow-origin'], APP_ORIGIN);
  assert.match(all.headers['access-control-expose-headers'], /etag/);
  const nm = await call('ofrepEvaluateFlags', { body, headers: { origin: APP_ORIGIN, 'if-none-match': all.headers.etag }, as: 'viewer', expect: 304, note: 'from a listed origin' });
  assert.equal(nm.headers['access-control-allow-origin'], APP_ORIGIN);
  const other = await call('ofrepEvaluateFlags', { body, headers: { origin: 'https://evil.example.test' }, as: 'viewer', expect: 200, note: 'other origin' });
  assert.equal(other.headers['access-control-allow-origin'], undefined);
  const stats = await w().req('/_switchyard/stats/cn', { headers: { origin: APP_ORIGIN } });
  assert.equal(stats.headers['access-control-allow-origin'], undefined, 'only OFREP is granted');
});

test("the router's status", async () => {
  const st = await call('status', { as: 'viewer', expect: 200 });
  assert.equal(st.json().routes.length, 5);
  await call('status', { as: 'none', expect: 401 });
});

test('dashboard: redirects, the page, its assets', async () => {
  await call('root', { as: 'none', expect: 308 });
  await call('dashboardRedirect', { as: 'none', expect: 308 });
  await call('dashboard', { as: 'none', expect: 200 });
  for (const asset of ['app.js', 'style.css', 'favicon.svg', 'config.schema.json']) {
    await call('dashboardAsset', { params: { asset }, as: 'none', expect: 200, note: asset });
  }
  await call('dashboardAsset', { params: { asset: 'nope.js' }, as: 'none', expect: 404 });
});

test('an address that sent 10 unknown tokens gets 429 with retry-after from every operation', async () => {
  // Local development keeps a client's own cf-connecting-ip (Cloudflare sets it at the edge),
  // so this address is slowed without slowing the rest of the test.
  const from = { 'cf-connecting-ip': '198.51.100.77' };
  for (let i = 0; i < 10; i++) {
    assert.equal((await w().req('/_switchyard/whoami', { headers: { ...from, ...bearer('unknown-token-0123456789abcdef0123') } })).status, 401);
    assert.equal((await w().req('/_switchyard/status', { headers: { ...from, ...bearer('unknown-token-0123456789abcdef0123') } })).status, 401);
  }
  let slowed = 0;
  for (const [opId, { op }] of OPS) {
    if (!op.responses['429']) continue;
    const params = { route: 'cn', version: '1', key: 'ab.beta' };
    // Feedback asks for a token only on a route with feedback_auth "token": a valid receipt of one.
    const body =
      opId === 'feedback'
        ? JSON.stringify({ receipt: mintReceipt({ route: 'fa', arm: 'a', key: KEY, nonce: 13n }), reward: 1 })
        : OPS.get(opId).method === 'GET'
          ? undefined
          : '{}';
    const res = await call(opId, { params, body, headers: from, expect: 429, note: 'slowed address' });
    assert.equal(res.json().error.code, 'too_many_failures');
    const wait = Number(res.headers['retry-after']);
    assert.ok(wait >= 1 && wait <= 60, `retry-after ${wait}`);
    slowed++;
  }
  assert.ok(slowed >= 19, `${slowed} operations`);
  // Another address is not slowed.
  await call('whoami', { headers: { 'cf-connecting-ip': '198.51.100.78' }, expect: 200, note: 'another address' });
  assert.match(w().logs(), /failed authentication from 198\.51\.100\.77 \(10 in this window\)/);
  const lines = w().logs().split('\n').filter((l) => l.includes('failed authentication'));
  assert.ok(lines.every((l) => !l.includes('unknown-token')), 'the token is never logged');
});

test('HEAD answers like GET, without a body', async () => {
  for (const [opId, { method }] of OPS) {
    if (method !== 'GET') continue;
    const params = { route: 'cn', asset: 'app.js' };
    const get = await w().req(pathOf(opId, params), { method: 'GET', auth: !OPS.get(opId).op.security });
    const head = await call(opId, { params, method: 'HEAD', as: OPS.get(opId).op.security ? 'none' : 'admin', note: 'HEAD' });
    assert.equal(head.status, get.status, `HEAD ${opId}`);
  }
});

test('every other method on every path: 405 with Allow', async () => {
  let refused = 0;
  for (const [path, item] of Object.entries(doc.paths)) {
    const opIds = METHODS.filter((m) => item[m]).map((m) => item[m].operationId);
    const concrete = path.replace('{route}', 'cn').replace('{version}', '1').replace('{key}', 'ab.beta').replace('{asset}', 'app.js');
    const allow = allowOf(path);
    for (const m of ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'TRACE']) {
      if (allow.includes(m)) continue;
      // An admin token: a method no operation takes needs admin (so 405 is not hidden by 403).
      const res = m === 'TRACE' ? await raw(m, concrete, { authorization: `Bearer ${w().adminToken}` }) : await w().req(concrete, { method: m, body: ['POST', 'PUT', 'PATCH'].includes(m) ? '{}' : undefined });
      assert.equal(res.status, 405, `${m} ${concrete}: ${res.status} ${res.body.slice(0, 200)}`);
      // One answer, held to every operation of the path (each documents the path's 405).
      opIds.forEach((id, i) => check(id, res, m, `${m} refused`, i === 0));
      refused++;
    }
  }
  assert.ok(refused >= 80, `only ${refused} refused methods`);
});

test('every documented answer of every operation occurred', () => {
  const all = [...OPS.keys()];
  const documented = all.flatMap((id) => Object.keys(OPS.get(id).op.responses).map((s) => `${id} ${s}`));
  const missing = documented.filter((k) => !provoked.has(k) && !(k in NOT_PROVOKED));
  assert.deepEqual(missing, [], 'documented answers never provoked');
  const stale = Object.keys(NOT_PROVOKED).filter((k) => !documented.includes(k) || provoked.has(k));
  assert.deepEqual(stale, [], 'NOT_PROVOKED lists answers that are not documented or did occur');
  console.log(
    `# openapi: ${all.length} operations (the router's status and ${all.length - 1} of the control plane), ` +
      `${answers} answers checked against the document; ` +
      `${documented.length - Object.keys(NOT_PROVOKED).length} of ${documented.length} documented (operation, status) pairs provoked ` +
      `(not provoked: ${Object.keys(NOT_PROVOKED).join(', ')})`,
  );
});
