// Offline learning, end to end under `wrangler dev`: rewards that cannot be forged into
// control (the route's reward range, token-authenticated feedback), decisions that can be
// evaluated offline (propensities in receipts, the OPE endpoint against an independent
// computation from the exported decision log, the CLI), and an external trainer whose
// weights the route keeps under contrary feedback.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { useWorker, startOrigin, waitFor, originsBlock, ROOT, sleep } from './harness.mjs';

const KEY = 'e2e-receipt-key-offline-0123456789';
const FEEDBACK_TOKEN = 'fb-token-0123456789abcdef0123456789';
const VIEWER_TOKEN = 'viewer-token-0123456789abcdef0123456';
const ctx = useWorker({
  vars: {
    RECEIPT_KEY: KEY,
    STATS_TICK_MS: '300',
    SWITCHYARD_TOKENS: `backend:feedback:${FEEDBACK_TOKEN},ann:viewer:${VIEWER_TOKEN}`,
  },
});
let o = {};

const apply = (routes) => ctx.worker.applyConfig({ version: 1, origins: originsBlock(o), routes });
const get = (path, user) => ctx.worker.req(path, { headers: { 'x-user-id': user } });
/** Feedback without the harness's admin token (as an end user sends it), or with `token`. */
const feedback = (receipt, reward, token) =>
  ctx.worker.req('/_switchyard/feedback', {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: { receipt, reward },
    auth: false,
  });
const stats = async (route) => (await ctx.worker.req(`/_switchyard/stats/${route}`)).json();
const ab = (name, extra = {}) => ({
  name,
  match: { path_prefix: `/${name}` },
  unit: [{ header: 'x-user-id' }],
  strategy: { kind: 'ab', arms: [{ name: 'x', origin: 'a', weight: 1 }, { name: 'y', origin: 'b', weight: 1 }] },
  ...extra,
});

/** The payload of a receipt (`v1` or `v2`): route, arm and (when present) the propensity in ppm. */
function decodeReceipt(token) {
  const p = Buffer.from(token.split('.')[1], 'base64url');
  let i = 0;
  const name = () => {
    const n = p[i++];
    const s = p.subarray(i, i + n).toString();
    i += n;
    return s;
  };
  const uleb = () => {
    let v = 0n;
    let shift = 0n;
    for (;;) {
      const b = p[i++];
      v |= BigInt(b & 0x7f) << shift;
      shift += 7n;
      if (!(b & 0x80)) return v;
    }
  };
  const route = name();
  const arm = name();
  i += 8; // unit id
  uleb(); // config version
  uleb(); // issued
  i += 8; // nonce
  // `v2`: the route's shard count, then the optional propensity.
  if (token.startsWith('v2.')) i += 1;
  const propensity = i < p.length ? Number(uleb()) : null;
  return { route, arm, propensity };
}

/** Every page of the decision log of `route`, as parsed rows. */
async function exportLog(route, limit = 150) {
  const rows = [];
  let after = null;
  for (let page = 0; page < 100; page++) {
    const q = `limit=${limit}` + (after ? `&after=${encodeURIComponent(after)}` : '');
    const r = await ctx.worker.req(`/_switchyard/decisions/${route}?${q}`);
    assert.equal(r.status, 200, r.body);
    assert.match(r.headers['content-type'], /^application\/x-ndjson/);
    for (const line of r.body.split('\n').filter(Boolean)) rows.push(JSON.parse(line));
    after = r.headers['x-switchyard-next'];
    if (!after) return rows;
  }
  throw new Error('more than 100 pages');
}

test('setup origins', async () => {
  await ctx.ready;
  o = { a: await startOrigin('a'), b: await startOrigin('b') };
});

test('reward range: 1e6 is refused with the receipt unspent, then the same receipt is credited', async () => {
  await apply([ab('rng'), ab('wide', { reward: { min: -1, max: 5 } })]);
  const r = await get('/rng', 'u1');
  const receipt = r.headers['x-switchyard-receipt'];
  const arm = r.headers['x-switchyard-arm'];
  for (const reward of [1e6, 1.5, -0.01]) {
    const f = await feedback(receipt, reward);
    assert.equal(f.status, 400, `${reward}: ${f.body}`);
    const e = f.json();
    assert.equal(e.error.code, 'reward_out_of_range');
    assert.deepEqual([e.min, e.max], [0, 1]);
  }
  let f = await feedback(receipt, 1);
  assert.equal(f.status, 200, f.body);
  assert.deepEqual(f.json(), { credited: true, arm });
  f = await feedback(receipt, 1);
  assert.equal(f.status, 409, 'credited once');
  // A route that declares a wider range takes rewards inside it and refuses the rest.
  const w = (await get('/wide', 'u1')).headers['x-switchyard-receipt'];
  assert.equal((await feedback(w, 6)).status, 400);
  assert.equal((await feedback(w, 4.5)).status, 200);
  await waitFor(async () => (await stats('rng')).arms?.[arm]?.rewards.count === 1, 5000, { what: 'reward credited' });
  const s = await stats('rng');
  assert.equal(s.arms[arm].rewards.sum, 1, 'only the valid reward counts');
});

test('feedback_auth: token refuses unauthenticated feedback and accepts a feedback token', async () => {
  await apply([ab('auth', { feedback_auth: 'token' }), ab('open')]);
  const receipt = (await get('/auth', 'u2')).headers['x-switchyard-receipt'];
  let f = await feedback(receipt, 1);
  assert.equal(f.status, 401, f.body);
  assert.equal(f.json().error.code, 'unauthorized');
  f = await feedback(receipt, 1, 'not-a-configured-token');
  assert.equal(f.status, 401);
  // Refused feedback spent nothing: the team's backend credits the same receipt.
  f = await feedback(receipt, 1, FEEDBACK_TOKEN);
  assert.equal(f.status, 200, f.body);
  // A higher role may send feedback too.
  const second = (await get('/auth', 'u3')).headers['x-switchyard-receipt'];
  assert.equal((await feedback(second, 0, VIEWER_TOKEN)).status, 200);
  // The feedback token opens nothing else.
  const s = await ctx.worker.req('/_switchyard/stats/auth', { headers: { authorization: `Bearer ${FEEDBACK_TOKEN}` } });
  assert.equal(s.status, 403);
  // A route without feedback_auth still takes the receipt alone.
  const open = (await get('/open', 'u2')).headers['x-switchyard-receipt'];
  assert.equal((await feedback(open, 1)).status, 200);
});

test('OPE of a 90/10 policy over a 50/50 route equals an independent computation from the exported log', async () => {
  await apply([ab('ope50', { log: { context: ['header:x-country'] } })]);
  // Deterministic conversions: arm y converts about twice as often as x.
  let seed = 12345;
  const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  const N = 400;
  const receipts = [];
  for (let i = 0; i < N; i += 20) {
    const batch = await Promise.all(
      Array.from({ length: 20 }, (_, k) =>
        ctx.worker.req('/ope50', { headers: { 'x-user-id': `ope-${i + k}`, 'x-country': (i + k) % 3 ? 'CH' : 'DE' } }),
      ),
    );
    for (const r of batch) {
      assert.equal(r.status, 200);
      receipts.push({ token: r.headers['x-switchyard-receipt'], arm: r.headers['x-switchyard-arm'] });
    }
  }
  // Receipts carry the propensity: 0.5 on both arms of a 50/50 split.
  for (const { token, arm } of receipts) assert.deepEqual(decodeReceipt(token), { route: 'ope50', arm, propensity: 500000 });
  let credited = 0;
  for (const { token, arm } of receipts) {
    if (rand() < (arm === 'y' ? 0.6 : 0.3)) {
      const f = await feedback(token, 1);
      assert.equal(f.status, 200, f.body);
      credited++;
    }
  }
  await waitFor(async () => {
    const s = await stats('ope50');
    const arms = Object.values(s.arms ?? {});
    return arms.reduce((n, a) => n + a.requests, 0) === N && arms.reduce((n, a) => n + a.rewards.count, 0) === credited;
  }, 15000, { what: 'all observations and rewards in the route object' });
  const rows = await waitFor(async () => {
    const rows = await exportLog('ope50');
    return rows.length === N && rows.filter((r) => r.reward !== null).length === credited ? rows : null;
  }, 10000, { what: 'every decision and reward in the exported log' });
  // The log: one row per decision, hashed unit, propensity 0.5, full sampling, context.
  assert.equal(new Set(rows.map((r) => r.id)).size, N);
  for (const r of rows) {
    assert.equal(r.propensity, 0.5);
    assert.equal(r.sampling_rate, 1);
    assert.match(r.unit, /^[0-9a-f]{16}$/);
    assert.ok(['CH', 'DE'].includes(r.context['header:x-country']), JSON.stringify(r));
  }
  const byArm = (a) => rows.filter((r) => r.arm === a).length;
  assert.equal(byArm('x') + byArm('y'), N);

  const policy = { x: 0.9, y: 0.1 };
  const res = await ctx.worker.req('/_switchyard/ope/ope50', { method: 'POST', body: { policy } });
  assert.equal(res.status, 200, res.body);
  const d = res.json();
  // Independently, from the log alone: w = pi(a)/p, r = reward or 0.
  const w = rows.map((r) => policy[r.arm] / r.propensity);
  const y = rows.map((r, i) => w[i] * (r.reward ?? 0));
  const n = rows.length;
  const sum = (a) => a.reduce((s, v) => s + v, 0);
  const ips = sum(y) / n;
  const ipsSe = Math.sqrt(sum(y.map((v) => (v - ips) ** 2)) / (n - 1) / n);
  const snips = sum(y) / sum(w);
  const resid = rows.map((r, i) => w[i] * ((r.reward ?? 0) - snips));
  const snipsSe = Math.sqrt(sum(resid.map((e) => e * e)) / (n * (n - 1))) / (sum(w) / n);
  console.log(`# OPE of x=0.9,y=0.1 over ${n} decisions (${credited} rewards): endpoint ${JSON.stringify({ ips: d.ips, snips: d.snips })}; from the log: ips ${ips} ± ${1.96 * ipsSe}, snips ${snips} ± ${1.96 * snipsSe}`);
  const close = (a, b, what) => assert.ok(Math.abs(a - b) <= 1e-9 * Math.max(1, Math.abs(b)), `${what}: ${a} vs ${b}`);
  assert.equal(d.n, n);
  close(d.ips.estimate, ips, 'ips');
  close(d.ips.se, ipsSe, 'ips se');
  close(d.ips.ci_high - d.ips.estimate, 1.959963984540054 * ipsSe, 'ips interval');
  close(d.snips.estimate, snips, 'snips');
  close(d.snips.se, snipsSe, 'snips se');
  assert.deepEqual(d.unsupported, []);

  // Bad policies are the caller's, with a clear error.
  for (const bad of [{ policy: { z: 1 } }, { policy: { x: -1 } }, { policy: { x: 0 } }, { nope: 1 }, { policy: [] }]) {
    const r = await ctx.worker.req('/_switchyard/ope/ope50', { method: 'POST', body: bad });
    assert.equal(r.status, 400, JSON.stringify(bad));
    assert.equal(r.json().error.code, 'bad_policy');
  }
  assert.equal((await ctx.worker.req('/_switchyard/ope/nosuch', { method: 'POST', body: { policy } })).status, 404);
  // Viewers may evaluate; the row-level export needs an operator.
  const asViewer = { headers: { authorization: `Bearer ${VIEWER_TOKEN}` } };
  assert.equal((await ctx.worker.req('/_switchyard/ope/ope50', { method: 'POST', body: { policy }, ...asViewer })).status, 200);
  assert.equal((await ctx.worker.req('/_switchyard/decisions/ope50', asViewer)).status, 403);
  assert.equal((await ctx.worker.req('/_switchyard/decisions/ope50?limit=0')).status, 400);
  assert.equal((await ctx.worker.req('/_switchyard/decisions/ope50?after=junk')).status, 400);

  // The CLI prints the same estimates.
  const bin = join(ROOT, 'target', 'debug', 'switchyard');
  const out = await new Promise((resolve) =>
    execFile(bin, ['ope', 'ope50', '--policy', 'x=0.9,y=0.1', '--json', '--url', ctx.worker.url, '--token', ctx.worker.adminToken], (err, stdout, stderr) =>
      resolve({ code: err ? err.code : 0, stdout, stderr }),
    ),
  );
  assert.equal(out.code, 0, out.stderr);
  const c = JSON.parse(out.stdout);
  assert.equal(c.n, n);
  close(c.ips.estimate, ips, 'cli ips');
});

test('external trainer: the route keeps the trainer weights under 30 s of contrary feedback', async () => {
  const bandit = (name, extra = {}) => ({
    name,
    match: { path_prefix: `/${name}` },
    unit: [{ header: 'x-user-id' }],
    strategy: { kind: 'bandit', trainer: 'external', min_samples: 5, arms: [{ name: 'a', origin: 'a' }, { name: 'b', origin: 'b' }], ...extra },
  });
  await apply([
    bandit('ext', { max_weight_age_s: 600 }),
    bandit('old', { max_weight_age_s: 1 }),
    { ...bandit('learned'), strategy: { kind: 'bandit', arms: [{ name: 'a', origin: 'a' }, { name: 'b', origin: 'b' }] } },
  ]);
  // Weights are validated, and only external-trainer routes take them.
  const put = (route, body) => ctx.worker.req(`/_switchyard/weights/${route}`, { method: 'PUT', body });
  assert.equal((await put('learned', { arms: { a: 1 } })).status, 409);
  for (const bad of [{ arms: { z: 1 } }, { arms: { a: -1 } }, { arms: { a: 0, b: 0 } }, { arms: 'a' }]) {
    const r = await put('ext', bad);
    assert.equal(r.status, 400, JSON.stringify(bad));
    assert.equal(r.json().error.code, 'bad_weights');
  }
  const written = await put('ext', { arms: { a: 0.9, b: 0.1 } });
  assert.equal(written.status, 200, written.body);
  const kvBefore = JSON.parse(await ctx.worker.getKV('weights:ext'));
  assert.deepEqual(kvBefore.arms, { a: 0.9, b: 0.1 });
  // The floor (min_share 0.01) applies at the edge: a gets 0.01 + 0.9 * 0.98.
  const pa = 0.01 + 0.9 * 0.98;

  // 30 s of traffic whose feedback says b is far better: 1 for b, 0 for a.
  const started = Date.now();
  let n = 0;
  let onA = 0;
  const props = new Set();
  await waitFor(async () => {
    const s = await stats('ext');
    return s.trainer?.following === true;
  }, 10000, { what: 'the stats see the trainer weights' });
  while (Date.now() - started < 30000) {
    const batch = await Promise.all(Array.from({ length: 10 }, (_, k) => get('/ext', `ext-${n + k}`)));
    for (const r of batch) {
      assert.equal(r.status, 200);
      const arm = r.headers['x-switchyard-arm'];
      const rec = decodeReceipt(r.headers['x-switchyard-receipt']);
      props.add(`${arm}:${rec.propensity}`);
      if (arm === 'a') onA++;
      const f = await feedback(r.headers['x-switchyard-receipt'], arm === 'b' ? 1 : 0);
      assert.equal(f.status, 200, f.body);
    }
    n += batch.length;
    await sleep(100);
  }
  const s = await stats('ext');
  const kvAfter = JSON.parse(await ctx.worker.getKV('weights:ext'));
  console.log(`# external trainer: ${n} requests in 30 s, ${onA} on a (${(onA / n).toFixed(3)}; expected ${pa.toFixed(3)}); weights:ext before ${JSON.stringify(kvBefore)} after ${JSON.stringify(kvAfter)}; rewards a ${s.arms.a?.rewards.mean} b ${s.arms.b?.rewards.mean}`);
  assert.deepEqual(kvAfter, kvBefore, 'the learner never wrote weights:ext');
  assert.equal(s.weights, null, 'no learned weights');
  assert.equal(s.trainer.following, true);
  assert.equal(s.trainer.stale, false);
  assert.ok(s.trainer.age_ms >= 30000 && s.trainer.age_ms < 120000, `${s.trainer.age_ms}`);
  assert.ok(Math.abs(s.trainer.in_force.a - pa) < 1e-9, JSON.stringify(s.trainer.in_force));
  assert.ok(s.arms.b.rewards.mean > 0.99 && s.arms.a.rewards.mean < 0.01, 'the feedback was contrary');
  const sd = Math.sqrt(n * pa * (1 - pa));
  assert.ok(Math.abs(onA - n * pa) < 4.5 * sd, `${onA} of ${n} on a`);
  // Receipts carry the trainer's shares as propensities.
  const allowed = [`a:${Math.round(pa * 1e6)}`, `b:${Math.round((1 - pa) * 1e6)}`];
  for (const x of props) assert.ok(allowed.includes(x), `${x} not in ${allowed}`);
  assert.ok(props.has(allowed[0]) && props.has(allowed[1]), [...props].join(' '));

  // Weights older than max_weight_age_s: equal shares, the stats say so, and a
  // weights_stale event is recorded.
  assert.equal((await put('old', { arms: { a: 1, b: 0 } })).status, 200);
  await sleep(2500);
  let onOld = 0;
  for (let i = 0; i < 200; i += 20) {
    const batch = await Promise.all(Array.from({ length: 20 }, (_, k) => get('/old', `old-${i + k}`)));
    onOld += batch.filter((r) => r.headers['x-switchyard-arm'] === 'a').length;
    for (const r of batch) assert.equal(decodeReceipt(r.headers['x-switchyard-receipt']).propensity, 500000);
  }
  assert.ok(onOld > 60 && onOld < 140, `${onOld} of 200 on a with equal shares`);
  const so = await waitFor(async () => {
    const so = await stats('old');
    return so.trainer?.stale === true ? so : null;
  }, 10000, { what: 'stale weights in the stats' });
  assert.equal(so.trainer.following, false);
  assert.deepEqual(so.trainer.in_force, { a: 0.5, b: 0.5 });
  await waitFor(async () => {
    const series = (await ctx.worker.req('/_switchyard/series/old?minutes=5')).json();
    return (series.events ?? []).some((e) => e.kind === 'weights_stale');
  }, 10000, { what: 'weights_stale event' });
  // Promotion is the trainer's business on such a route.
  const p = await ctx.worker.req('/_switchyard/promote/ext', { method: 'POST' });
  assert.equal(p.status, 409);
  assert.equal(p.json().error.code, 'external_trainer');
});
