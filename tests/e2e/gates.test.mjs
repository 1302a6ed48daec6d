// Evidence-gated releases end to end under `wrangler dev` with real loopback origins: a canary
// with `gates` starts as a shadow, gets live traffic only once its predictions agree with the
// stable model's, walks its steps, and is promoted (or rolled back) by an always-valid
// non-inferiority test on the last step. No operator call anywhere in this file: every
// change is the route's object acting on evidence, and every gate decision is in the timeline,
// the webhooks and the audit log with the numbers that decided it.
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { useWorker, startOrigin, waitFor, originsBlock, sleep } from './harness.mjs';

const ctx = useWorker({ vars: { STATS_TICK_MS: '300' } });
const w = () => ctx.worker;
let o = {};
let hook;
let seq = 0;

// A model server answering a KServe-style prediction: `score` is what the shadow gate compares.
const model = (name, score, { failEvery = 0 } = {}) => {
  let n = 0;
  return startOrigin(name, {
    respond: () => {
      n += 1;
      if (failEvery && n % failEvery === 0) return { status: 500, body: { error: 'injected' } };
      return { status: 200, body: { model: name, score } };
    },
  });
};

const COMPARE = { kind: 'json_pointer', pointer: '/score', tolerance: 0.01 };
const apply = (routes) =>
  w().applyConfig({ version: 1, origins: originsBlock(o), routes, alerts: { webhooks: [{ url: `${hook.url}/hook` }] } });
const post = (path) =>
  w().req(path, { method: 'POST', headers: { 'x-user-id': `u-${seq++}`, 'content-type': 'application/json' }, body: '{"inputs":[1]}' });
const burst = (path, n) => Promise.all(Array.from({ length: n }, () => post(path)));
const stats = async (route) => (await w().req(`/_switchyard/stats/${route}`)).json();
const events = async (route) => (await w().req(`/_switchyard/series/${route}?minutes=30`)).json().events;
const hooks = (route) => hook.requests.map((r) => JSON.parse(r.body)).filter((b) => b.route === route);
const audit = async (route) =>
  (await w().req('/_switchyard/audit?limit=200')).json().entries.filter((e) => e.action === 'gate' && e.target === route).reverse();
const live = (origin) => origin.requests.filter((r) => r.headers['x-switchyard-shadow'] !== '1');
const mirrored = (origin) => origin.requests.filter((r) => r.headers['x-switchyard-shadow'] === '1');

// Setup, not a test: the model servers and the webhook receiver.
before(async () => {
  await ctx.ready;
  hook = await startOrigin('hook');
  o = {
    stable: await model('stable', 0.5),
    agree: await model('agree', 0.503),
    disagree: await model('disagree', 0.9),
    worse: await model('worse', 0.5, { failEvery: 4 }),
  };
});

test('a candidate whose predictions disagree never receives a live request over 300 requests; its gate reports the failing agreement', async () => {
  await apply([
    {
      name: 'dis',
      match: { path_prefix: '/dis' },
      unit: [{ header: 'x-user-id' }],
      strategy: {
        kind: 'canary', stable: 'stable', canary: 'disagree', percent: 50,
        steps: [{ percent: 50, hold_s: 1 }],
        gates: { shadow: { min_observations: 40, min_agreement: 0.95, compare: COMPARE } },
      },
    },
  ]);
  const rs = [];
  for (let i = 0; i < 10; i++) {
    rs.push(...(await burst('/dis', 30)));
    await sleep(200);
  }
  assert.equal(rs.length, 300);
  assert.ok(rs.every((r) => r.status === 200 && r.json().model === 'stable'), 'stable answered every request');
  assert.ok(rs.every((r) => r.headers['x-switchyard-arm'] === 'stable' && r.headers['x-switchyard-reason'] === 'shadow_gate'));
  let s;
  await waitFor(async () => {
    s = await stats('dis');
    return s.pipeline?.gates?.shadow?.verdict === 'failing';
  }, 15000, { intervalMs: 300, what: 'the shadow gate failing' });
  const g = s.pipeline.gates.shadow;
  console.log(`# gates: disagreeing candidate: ${live(o.disagree).length} live, ${mirrored(o.disagree).length} mirrored of 300; gate ${JSON.stringify(g)}`);
  assert.equal(live(o.disagree).length, 0, 'no live request reached the candidate');
  assert.ok(mirrored(o.disagree).length >= 40, `${mirrored(o.disagree).length} mirrored requests`);
  assert.ok(g.compared >= 40 && g.agreement < 0.95, JSON.stringify(g));
  assert.equal(g.agreement, 0);
  assert.equal(s.pipeline.current_name, 'shadow');
  assert.equal(s.pipeline.status, 'waiting');
  assert.match(s.pipeline.waiting_for, /shadow gate failing: agreement 0\.000 < 0\.95/);
  assert.equal(s.controller.stage, 'shadow');
  assert.equal(s.controller.canary_percent, 0);
  // The decision is an event in the timeline, a webhook and an audit entry, with its evidence.
  await waitFor(async () => hooks('dis').length >= 1 && (await audit('dis')).length >= 1, 10000, { what: 'gate webhook and audit entry' });
  const ev = (await events('dis')).filter((e) => e.kind === 'gate');
  assert.equal(ev.length, 1, JSON.stringify(ev));
  assert.equal(ev[0].evidence.verdict, 'failing');
  assert.equal(ev[0].evidence.agreement, 0);
  const h = hooks('dis');
  assert.deepEqual(h.map((b) => b.event), ['gate']);
  assert.equal(h[0].detail.verdict, 'failing');
  assert.match(h[0].text, /shadow gate failing/);
  const a = await audit('dis');
  assert.equal(a[0].by, 'switchyard');
  assert.equal(a[0].detail.gate, 'shadow');
  assert.equal(a[0].detail.verdict, 'failing');
  // 300 more requests later nothing has changed: still no live request, one event.
  for (let i = 0; i < 5; i++) await burst('/dis', 20);
  await sleep(1500);
  assert.equal(live(o.disagree).length, 0);
  assert.equal((await events('dis')).filter((e) => e.kind === 'gate').length, 1, 'a failing gate is one decision, not one per tick');
});

test('a candidate that agrees goes from shadow through each step to 100 % with no operator call, every gate an event with its evidence', async () => {
  o.agree.clear();
  const started = Date.now();
  await apply([
    {
      name: 'ok',
      match: { path_prefix: '/ok' },
      unit: [{ header: 'x-user-id' }],
      strategy: {
        kind: 'canary', stable: 'stable', canary: 'agree', percent: 10,
        steps: [{ percent: 10, hold_s: 2 }, { percent: 50, hold_s: 2 }],
        guard: { max_error_rate: 0.2, min_requests: 5 },
        gates: {
          shadow: { min_observations: 40, min_agreement: 0.95, compare: COMPARE },
          promote: { margin: { error_rate: 0.05, latency_ratio: 3 }, min_requests: 60 },
        },
      },
    },
  ]);
  const seen = [];
  let s;
  await waitFor(async () => {
    await burst('/ok', 30);
    s = await stats('ok');
    const at = `${s.pipeline?.current_name}/${s.controller?.canary_percent}`;
    if (seen.at(-1) !== at) seen.push(at);
    return s.controller?.canary_percent === 100;
  }, 90000, { intervalMs: 100, what: 'promotion to 100 %' });
  console.log(`# gates: agreeing candidate promoted in ${Date.now() - started} ms through ${JSON.stringify(seen)}`);
  assert.equal(s.pipeline.status, 'promoted');
  assert.equal(s.pipeline.current_name, 'promoted');
  assert.deepEqual(s.pipeline.stages.map((x) => x.name), ['shadow', 'step 1', 'step 2', 'promoted']);
  // The timeline: the shadow gate passed, the step, the promotion by the gate.
  const ev = (await events('ok')).filter((e) => e.kind !== 'srm');
  console.log(`# gates: events ${JSON.stringify(ev.map((e) => [e.kind, e.canary_percent, e.detail]))}`);
  assert.deepEqual(ev.map((e) => e.kind), ['gate', 'step', 'promote']);
  assert.deepEqual(ev.map((e) => e.canary_percent), [10, 50, 100]);
  assert.equal(ev[0].evidence.gate, 'shadow');
  assert.equal(ev[0].evidence.verdict, 'passed');
  assert.ok(ev[0].evidence.compared >= 40 && ev[0].evidence.agreement >= 0.95, JSON.stringify(ev[0].evidence));
  assert.equal(ev[2].evidence.gate, 'promote');
  assert.equal(ev[2].evidence.verdict, 'not_worse');
  const m = ev[2].evidence.metrics;
  assert.ok(m.error_rate.upper < 0.05 && m.latency.upper_ratio < 3, JSON.stringify(m));
  assert.ok(ev[2].evidence.requests.canary >= 60 && ev[2].evidence.requests.stable >= 60);
  // One webhook per change, the gates' with their evidence; the audit log has both decisions.
  await waitFor(() => hooks('ok').length >= 3, 10000, { what: 'three webhooks' });
  await sleep(1000);
  const h = hooks('ok').filter((b) => b.event !== 'srm');
  assert.deepEqual(h.map((b) => b.event), ['gate', 'step', 'promote']);
  assert.equal(h[0].detail.verdict, 'passed');
  assert.equal(h[2].detail.verdict, 'not_worse');
  const a = await audit('ok');
  assert.deepEqual(a.map((e) => [e.detail.gate, e.detail.verdict]), [['shadow', 'passed'], ['promote', 'not_worse']]);
  // Live traffic reached the candidate only after its gate passed; at 100 % it serves everyone.
  const firstLive = Math.min(...live(o.agree).map((r) => r.at));
  assert.ok(firstLive >= ev[0].at, `first live request ${firstLive} before the gate passed at ${ev[0].at}`);
  await waitFor(async () => (await burst('/ok', 20)).every((r) => r.json().model === 'agree'), 8000, { what: 'all traffic on the candidate' });
  assert.equal(s.controller.last_action, undefined, 'no operator action');
});

test('a candidate that is worse is rolled back by the promotion gate', async () => {
  await apply([
    {
      name: 'bad',
      match: { path_prefix: '/bad' },
      unit: [{ header: 'x-user-id' }],
      strategy: {
        kind: 'canary', stable: 'stable', canary: 'worse', percent: 50,
        steps: [{ percent: 50, hold_s: 600 }],
        gates: { promote: { margin: { error_rate: 0.02, latency_ratio: 3 }, min_requests: 40 } },
      },
    },
  ]);
  let s;
  await waitFor(async () => {
    await burst('/bad', 30);
    s = await stats('bad');
    return s.controller?.rolled_back;
  }, 60000, { intervalMs: 100, what: 'rollback by the promotion gate' });
  console.log(`# gates: worse candidate: ${s.controller.reason}`);
  assert.match(s.controller.reason, /^canary rolled back: promotion gate: worse than stable beyond the margin: error rate/);
  assert.equal(s.controller.canary_percent, 0);
  assert.equal(s.pipeline.status, 'rolled_back');
  const ev = (await events('bad')).filter((e) => e.kind !== 'srm');
  assert.deepEqual(ev.map((e) => e.kind), ['rollback']);
  assert.equal(ev[0].evidence.gate, 'promote');
  assert.equal(ev[0].evidence.verdict, 'worse');
  assert.ok(ev[0].evidence.metrics.error_rate.lower > 0.02, JSON.stringify(ev[0].evidence.metrics));
  await waitFor(() => hooks('bad').length >= 1, 10000, { what: 'rollback webhook' });
  await sleep(1000);
  const h = hooks('bad').filter((b) => b.event !== 'srm');
  assert.deepEqual(h.map((b) => b.event), ['rollback']);
  assert.equal(h[0].detail.verdict, 'worse');
  assert.deepEqual((await audit('bad')).map((e) => [e.detail.gate, e.detail.verdict]), [['promote', 'worse']]);
  // Back on stable.
  await waitFor(async () => (await burst('/bad', 20)).every((r) => r.json().model === 'stable'), 8000, { what: 'all traffic on stable' });
});
