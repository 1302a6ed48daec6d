// The operator dashboard and the API it drives, end to end under `wrangler dev`: static
// files from the ASSETS binding, config validate / PUT / GET, manual canary rollback.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { useWorker, startWorker, startOrigin, waitFor, originsBlock } from './harness.mjs';
import { summarize, armRows, comparisonRows, otherStatRows, shadowRows, weightBars, CONFIG_TEMPLATE } from '../../www/lib.js';

const ctx = useWorker({ vars: { STATS_TICK_MS: '300' } });
let o = {};
const users = Array.from({ length: 40 }, (_, i) => `dash-user-${i}`);

const route = (name, strategy) => ({ name, match: { path_prefix: `/${name}` }, unit: [{ header: 'x-user-id' }], strategy });
const config = (routes) => ({ version: 1, origins: originsBlock(o), routes });
const goodRoutes = () => [
  route('cn', { kind: 'canary', stable: 'stable', canary: 'canary', percent: 50 }),
  route('exp', { kind: 'ab', arms: [{ name: 'x', origin: 'a', weight: 1 }, { name: 'y', origin: 'b', weight: 1 }] }),
];
const status = async () => (await ctx.worker.req('/_switchyard/status')).json();
const post = (path, user) => ctx.worker.req(path, { method: 'POST', headers: { 'x-user-id': user, 'content-type': 'application/json' }, body: '{}' });

test('setup: origins and a first config', async () => {
  const w = await ctx.ready;
  o = { stable: await startOrigin('stable'), canary: await startOrigin('canary'), a: await startOrigin('a'), b: await startOrigin('b') };
  await w.putKV('config', config([route('exp', { kind: 'ab', arms: [{ name: 'x', origin: 'a', weight: 1 }, { name: 'y', origin: 'b', weight: 1 }] })]));
  await waitFor(async () => (await status()).config, 8000, { what: 'first config in force' });
});

test('the dashboard is served from www/: index, modules, style.css; nothing inline (strict CSP)', async () => {
  const w = ctx.worker;
  const r = await w.req('/_switchyard/dashboard/');
  assert.equal(r.status, 200, r.body.slice(0, 300));
  assert.match(r.headers['content-type'], /text\/html/);
  assert.match(r.body, /<title>Switchyard · operator console<\/title>/);
  assert.match(r.body, /<script type="module" src="app\.js"><\/script>/);
  assert.match(r.body, /<label for="token">Operator token<\/label>/);
  // The sign-in card says where a token comes from, locally and deployed.
  assert.match(r.body, /<code>make setup<\/code> \(<code>scripts\/setup\.sh<\/code>\) writes a random <code>ADMIN_TOKEN=local-…<\/code> into\s+<code>\.dev\.vars<\/code>/);
  assert.match(r.body, /npx wrangler secret put ADMIN_TOKEN -c wrangler\.stats\.toml/);
  // Every script has a src, no <style> element, no style attribute, no external origin.
  assert.equal((r.body.match(/<script(?![^>]*\bsrc=)[^>]*>/g) ?? []).length, 0, 'no inline script');
  assert.doesNotMatch(r.body, /<style|\sstyle=|\son[a-z]+=/i, 'no inline style or handler');
  assert.doesNotMatch(r.body, /(src|href)="(https?:)?\/\//, 'no external origin');
  for (const f of ['app.js', 'lib.js', 'chart.js', 'schema.js']) {
    const js = await w.req(`/_switchyard/dashboard/${f}`);
    assert.equal(js.status, 200, f);
    assert.match(js.headers['content-type'], /javascript/, `${f}: ${js.headers['content-type']}`);
  }
  assert.match((await w.req('/_switchyard/dashboard/app.js')).body, /from '\.\/lib\.js'/);
  assert.match((await w.req('/_switchyard/dashboard/app.js')).body, /from '\.\/chart\.js'/);
  assert.equal((await w.req('/_switchyard/dashboard/favicon.svg')).status, 200);
  assert.match((await w.req('/_switchyard/dashboard/lib.js')).body, /export function summarize/);
  const css = await w.req('/_switchyard/dashboard/style.css');
  assert.equal(css.status, 200);
  assert.match(css.headers['content-type'], /text\/css/);
});

test('/_switchyard/dashboard (no slash) redirects to the slash form', async () => {
  const r = await ctx.worker.req('/_switchyard/dashboard');
  assert.equal(r.status, 308);
  assert.equal(r.headers.location, '/_switchyard/dashboard/');
});

test('validate: an invalid config is 422 with every JSON path', async () => {
  const bad = config([
    route('cn', { kind: 'canary', stable: 'stable', canary: 'canary', percent: 150 }),
    route('exp', { kind: 'ab', arms: [{ name: 'x', origin: 'nowhere', weight: 1 }, { name: 'y', origin: 'b', weight: 1 }] }),
  ]);
  const r = await ctx.worker.req('/_switchyard/validate', { method: 'POST', headers: { 'content-type': 'application/json' }, body: bad });
  assert.equal(r.status, 422, r.body);
  const body = r.json();
  assert.equal(body.error.code, 'invalid_config');
  const paths = body.errors.map((e) => e.path);
  assert.ok(paths.includes('$.routes[0].strategy.percent'), JSON.stringify(body.errors));
  assert.ok(paths.some((p) => p.startsWith('$.routes[1].strategy.arms[0]')), JSON.stringify(body.errors));
  for (const e of body.errors) assert.ok(typeof e.reason === 'string' && e.reason.length > 0);
  // Validate never writes, even a valid one.
  const before = await ctx.worker.getKV('config');
  const ok = await ctx.worker.req('/_switchyard/validate', { method: 'POST', body: config(goodRoutes()) });
  assert.equal(ok.status, 200, ok.body);
  assert.equal(ok.json().valid, true);
  assert.equal(ok.json().written, false);
  assert.match(ok.json().id, /^[0-9a-f]{12}$/);
  assert.equal(await ctx.worker.getKV('config'), before);
});

test('the empty editor\'s template is valid for the real validator', async () => {
  const r = await ctx.worker.req('/_switchyard/validate', { method: 'POST', headers: { 'content-type': 'application/json' }, body: CONFIG_TEMPLATE });
  assert.equal(r.status, 200, r.body);
  assert.equal(r.json().valid, true);
  assert.equal(r.json().routes, 1);
  const broken = CONFIG_TEMPLATE.replace('"canary": "model-v2"', '"canary": "model-v9"');
  assert.equal((await ctx.worker.req('/_switchyard/validate', { method: 'POST', body: broken })).status, 422, 'the same check refuses a broken copy');
});

test('PUT config: invalid is 422 and KV is unchanged; valid is written and goes live', async () => {
  const w = ctx.worker;
  const before = await w.getKV('config');
  const oldId = (await status()).config;
  const bad = await w.req('/_switchyard/config', { method: 'PUT', body: config([route('cn', { kind: 'canary', stable: 'stable', canary: 'ghost', percent: 5 })]) });
  assert.equal(bad.status, 422, bad.body);
  assert.ok(bad.json().errors.length >= 1);
  assert.ok(bad.json().errors.every((e) => e.path.startsWith('$')));
  assert.equal(await w.getKV('config'), before, 'an invalid config is never written');
  const notJson = await w.req('/_switchyard/config', { method: 'PUT', body: '{"version": 1,' });
  assert.equal(notJson.status, 422, notJson.body);
  assert.equal(await w.getKV('config'), before);

  const text = JSON.stringify(config(goodRoutes()), null, 2);
  const r = await w.req('/_switchyard/config', { method: 'PUT', body: text });
  assert.equal(r.status, 200, r.body);
  const put = r.json();
  assert.equal(put.valid, true);
  assert.equal(put.written, true);
  assert.equal(put.routes, 2);
  assert.notEqual(put.id, oldId);
  assert.equal(await w.getKV('config'), text, 'the text is stored as sent');
  const started = Date.now();
  const s = await waitFor(async () => {
    const st = await status();
    return st.config === put.id && st;
  }, 5000, { what: 'new config id in /status' });
  console.log(`# dashboard: new config live in /status after ${Date.now() - started} ms`);
  assert.equal(s.rejected, null);
  assert.deepEqual(s.routes.map((x) => [x.name, x.strategy]), [['cn', 'canary'], ['exp', 'ab']]);

  const g = await w.req('/_switchyard/config');
  assert.equal(g.status, 200);
  assert.deepEqual(g.json().config, JSON.parse(text));
  assert.deepEqual(g.json().validation, { valid: true, id: put.id });
});

test('rollback: a canary route goes to stable; a non-canary route is 409', async () => {
  const w = ctx.worker;
  // Traffic first, so the canary takes its share (and the route's stats object exists).
  const arms = await Promise.all(users.map(async (u) => (await post('/cn', u)).headers['x-switchyard-arm']));
  assert.ok(arms.includes('canary') && arms.includes('stable'), arms.join(','));

  const r = await w.req('/_switchyard/rollback/cn', { method: 'POST' });
  assert.equal(r.status, 200, r.body);
  await waitFor(async () => {
    const rs = await Promise.all(users.map((u) => post('/cn', u)));
    return rs.every((x) => x.status === 200 && x.json().origin === 'stable');
  }, 10000, { intervalMs: 200, what: 'all canary-route traffic on stable' });
  const st = await waitFor(async () => {
    const s = (await w.req('/_switchyard/stats/cn')).json();
    return s.controller?.rolled_back && s;
  }, 5000, { what: 'stats show the rollback' });
  assert.match(st.controller.reason, /operator/);
  assert.equal(st.controller.canary_percent, 0);

  const no = await w.req('/_switchyard/rollback/exp', { method: 'POST' });
  assert.equal(no.status, 409, no.body);
  assert.equal(no.json().error.code, 'not_a_canary');
  assert.equal((await w.req('/_switchyard/rollback/nope', { method: 'POST' })).status, 404);
  assert.equal((await w.req('/_switchyard/rollback/cn')).status, 405);
});

test('live stats documents render without NaN/undefined through www/lib.js', async () => {
  const w = ctx.worker;
  await Promise.all(users.map((u) => post('/exp', u)));
  const doc = await waitFor(async () => {
    const d = (await w.req('/_switchyard/stats/exp')).json();
    return d.experiment && Object.values(d.arms).reduce((n, a) => n + a.requests, 0) >= users.length && d;
  }, 8000, { what: 'stats for /exp' });
  for (const d of [doc, (await w.req('/_switchyard/stats/cn')).json()]) {
    const m = summarize(d, Date.now());
    assert.ok(m.hasData, d.route);
    const shown = [m.verdict.text, m.controller.text, m.srm?.text ?? '', m.updated,
      ...[armRows(m), comparisonRows(m), otherStatRows(m), shadowRows(m)].flatMap((t) => t.rows.flat()),
      ...weightBars(m).map((b) => b.text)];
    for (const t of shown) assert.doesNotMatch(String(t), /NaN|undefined|null|Infinity/, `${d.route}: ${t}`);
  }
  const cn = summarize((await w.req('/_switchyard/stats/cn')).json(), Date.now());
  assert.equal(cn.controller.tone, 'bad');
  assert.match(cn.controller.text, /Rolled back: canary rolled back by an operator/);
  assert.equal(cn.canRollBack, false);
  const srm = (await w.req('/_switchyard/stats/cn')).json().experiment?.srm;
  console.log(`# dashboard: canary SRM after an operator rollback: ${JSON.stringify(srm)} -> ${cn.srm?.severity ?? 'no banner'}`);
  // The rollback starts a new split (canary at 0 %): SRM tests the units under it only, so
  // moving the split is no mismatch and the dashboard shows no banner.
  assert.notEqual(srm?.mismatch, true, JSON.stringify(srm));
  assert.equal(cn.srm, null);
});

test('with ADMIN_TOKEN: the API needs the Bearer token the dashboard sends; the static files do not', async () => {
  const w = await startWorker({ vars: { ADMIN_TOKEN: 'dash-secret-token-0123456789abcdef' } });
  try {
    const page = await w.req('/_switchyard/dashboard/');
    assert.equal(page.status, 200);
    for (const [path, method] of [['/_switchyard/status', 'GET'], ['/_switchyard/config', 'GET'], ['/_switchyard/validate', 'POST'], ['/_switchyard/rollback/cn', 'POST']]) {
      const r = await w.req(path, { method, body: method === 'POST' ? '{}' : undefined, auth: false });
      assert.equal(r.status, 401, `${method} ${path}: ${r.body}`);
      assert.match(r.headers['content-type'], /json/);
      assert.equal(r.json().error.code, 'unauthorized');
      const wrong = await w.req(path, { method, headers: { authorization: 'Bearer nope' }, body: method === 'POST' ? '{}' : undefined });
      assert.equal(wrong.status, 401);
    }
    const ok = await w.req('/_switchyard/status', { headers: { authorization: 'Bearer dash-secret-token-0123456789abcdef' } });
    assert.equal(ok.status, 200, ok.body);
    const v = await w.req('/_switchyard/validate', { method: 'POST', headers: { authorization: 'Bearer dash-secret-token-0123456789abcdef' }, body: '{}' });
    assert.equal(v.status, 422, v.body);
  } finally {
    await w.stop();
  }
});
