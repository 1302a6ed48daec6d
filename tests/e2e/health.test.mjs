// The learning loop's health and rewards, end to end under `wrangler dev`: a dead bandit arm is drained and
// probed back, numeric rewards with missing feedback, SRM across a canary step, and the
// operator's resume and promote.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { useWorker, startOrigin, waitFor, originsBlock, sleep } from './harness.mjs';

const KEY = 'e2e-receipt-key-0123456789abcdef';
const ctx = useWorker({ vars: { RECEIPT_KEY: KEY, STATS_TICK_MS: '300' } });
let o = {};
let seq = 0;

const apply = (routes) => ctx.worker.applyConfig({ version: 1, origins: originsBlock(o), routes });
const post = (path, user = `u-${seq++}`) =>
  ctx.worker.req(path, { method: 'POST', headers: { 'x-user-id': user, 'content-type': 'application/json' }, body: '{}' });
const feedback = (receipt, reward) =>
  ctx.worker.req('/_switchyard/feedback', { method: 'POST', headers: { 'content-type': 'application/json' }, body: { receipt, reward } });
const stats = async (route) => (await ctx.worker.req(`/_switchyard/stats/${route}`)).json();
const kvJson = async (key) => {
  const t = await ctx.worker.getKV(key, { present: true });
  return t ? JSON.parse(t) : null;
};
const armOf = (r) => r.headers['x-switchyard-arm'];

test('setup origins', async () => {
  await ctx.ready;
  o = {
    a: await startOrigin('a'),
    b: await startOrigin('b'),
    c: await startOrigin('c'),
    stable: await startOrigin('stable'),
    canary: await startOrigin('canary'),
  };
});

test('bandit: a dead arm is drained to its floor or below within 10 s, and probed back when it recovers', async () => {
  await apply([
    {
      name: 'bh',
      match: { path_prefix: '/bh' },
      unit: [{ header: 'x-user-id' }],
      strategy: { kind: 'bandit', algorithm: 'thompson', min_samples: 20, min_share: 0.05, sticky: false, arms: [{ name: 'a', origin: 'a' }, { name: 'b', origin: 'b' }] },
    },
  ]);
  const burst = (n) => Promise.all(Array.from({ length: n }, () => post('/bh')));
  // Healthy, equally converting arms: weights are written after warm-up.
  await waitFor(async () => {
    const rs = await burst(20);
    await Promise.all(rs.filter((_, i) => i % 3 === 0).map((r) => feedback(r.headers['x-switchyard-receipt'], 1)));
    return kvJson('weights:bh');
  }, 20000, { intervalMs: 100, what: 'weights after warm-up' });
  // b's origin dies (connections reset); traffic stays steady (10 requests every 100 ms)
  // while the stats document (which shows what was written to weights:<route>) is polled.
  let steady = true;
  const background = (async () => {
    while (steady) {
      await burst(10);
      await sleep(100);
    }
  })();
  o.b.setMode('reset');
  const died = Date.now();
  let weights;
  let drainedMs;
  while (Date.now() - died < 15000) {
    weights = (await stats('bh')).weights;
    if (weights && weights.arms.b <= 0.05 + 1e-9) {
      drainedMs = Date.now() - died;
      break;
    }
    await sleep(100);
  }
  steady = false;
  await background;
  console.log(`# bandit health: b drained ${drainedMs} ms after its origin died: ${JSON.stringify(weights)}`);
  assert.ok(drainedMs !== undefined && drainedMs <= 10000, `drained within 10 s (${drainedMs} ms): ${JSON.stringify(weights)}`);
  assert.deepEqual(weights.drained, ['b']);
  assert.ok(weights.arms.b <= 0.01 + 1e-9, 'below the floor: a probe share');
  assert.deepEqual((await kvJson('weights:bh')).drained, ['b'], 'in KV, where the edge reads it');
  const s = await stats('bh');
  assert.ok(s.health.b.drained_since_ms > 0, JSON.stringify(s.health));
  // The edge follows (after its 2 s KV cache): almost nothing reaches b.
  await sleep(2500);
  const rs = await burst(200);
  const toB = rs.filter((r) => armOf(r) === 'b').length;
  console.log(`# bandit health: ${toB} of 200 requests sent to the drained arm`);
  assert.ok(toB <= 12, `${toB} of 200 to the drained arm`);
  // b recovers: its probes succeed and it rejoins.
  o.b.setMode('ok');
  const back = Date.now();
  steady = true;
  const again = (async () => {
    while (steady) {
      await burst(10);
      await sleep(100);
    }
  })();
  try {
    await waitFor(async () => {
      const w = (await stats('bh')).weights;
      return w && !(w.drained ?? []).length;
    }, 40000, { intervalMs: 200, what: 'b back in the split' });
  } finally {
    steady = false;
    await again;
  }
  console.log(`# bandit health: b rejoined ${Date.now() - back} ms after it recovered`);
});

// Deterministic pseudo-random numbers, so both routes see the same rewards.
function lcg(seed) {
  let x = seed >>> 0;
  return () => {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    return x / 2 ** 32;
  };
}

test('numeric rewards: 10 % missing feedback leaves weights where complete feedback puts them', async () => {
  const arms = [{ name: 'a', origin: 'a' }, { name: 'b', origin: 'b' }, { name: 'c', origin: 'c' }];
  const strategy = { kind: 'bandit', algorithm: 'thompson', min_samples: 30, min_share: 0.02, sticky: false, arms };
  await apply([
    // Numeric rewards (mean ± 0.5) need a declared range: the default is [0, 1].
    { name: 'full', match: { path_prefix: '/full' }, unit: [{ header: 'x-user-id' }], reward: { min: -1, max: 3 }, strategy },
    { name: 'part', match: { path_prefix: '/part' }, unit: [{ header: 'x-user-id' }], reward: { min: -1, max: 3 }, strategy },
  ]);
  o.b.setMode('ok');
  const mean = { a: 1.0, b: 1.15, c: 0.6 };
  const rand = { full: lcg(1), part: lcg(1) };
  let sent = 0;
  let missing = 0;
  const round = async (route) => {
    const rs = await Promise.all(Array.from({ length: 30 }, () => post(`/${route}`)));
    await Promise.all(
      rs.map(async (r, i) => {
        assert.equal(r.status, 200, `${route}: ${r.body.slice(0, 300)}`);
        const arm = armOf(r);
        const reward = mean[arm] + (rand[route]() - 0.5) * 1.0;
        // On `part`, every sixth reward of the best arm never arrives: about 10 % of all
        // feedback, all of it on one arm (read as zeros it would sink that arm below a).
        if (route === 'part') {
          sent++;
          if (arm === 'b' && i % 6 === 0) {
            missing++;
            return;
          }
        }
        const f = await feedback(r.headers['x-switchyard-receipt'], Number(reward.toFixed(4)));
        assert.equal(f.status, 200, f.body);
      }),
    );
  };
  for (let i = 0; i < 12; i++) {
    await round('full');
    await round('part');
  }
  await sleep(1500); // reports flushed, ticks run
  let full;
  let part;
  try {
    // The stats document shows what the object last wrote to weights:<route>.
    await waitFor(async () => {
      full = (await stats('full')).weights;
      part = (await stats('part')).weights;
      return full && part;
    }, 30000, { intervalMs: 200, what: 'weights for both routes' });
    assert.ok(await kvJson('weights:part'), 'written to KV');
  } catch (e) {
    for (const r of ['full', 'part']) {
      const d = await stats(r);
      console.log(`# ${r}: ${JSON.stringify({ arms: Object.fromEntries(Object.entries(d.arms ?? {}).map(([k, v]) => [k, [v.requests, v.rewards]])), weights: d.weights, tick: d.last_tick_ms, fp: d.fingerprint })}`);
    }
    throw e;
  }
  console.log(`# numeric rewards: complete ${JSON.stringify(full.arms)}; ${missing} of ${sent} feedbacks missing ${JSON.stringify(part.arms)}`);
  assert.ok(missing / sent > 0.05, `${missing} of ${sent}`);
  // Monte Carlo error: the rewards are noisy and Thompson weights are themselves sampled
  // (1,000 draws per tick), so the two routes agree to about 0.1, and both keep b in the lead
  // (missing rewards read as zeros would hand the lead to a).
  assert.ok(full.arms.b > 0.8 && part.arms.b > 0.8, `${JSON.stringify(full)} ${JSON.stringify(part)}`);
  for (const arm of ['a', 'b', 'c']) {
    assert.ok(Math.abs(full.arms[arm] - part.arms[arm]) < 0.15, `${arm}: ${full.arms[arm]} vs ${part.arms[arm]}`);
  }
  const e = (await stats('part')).experiment;
  assert.equal(e.metric, 'mean');
  assert.equal(e.evidence, 'numeric');
  assert.equal(e.control_rate, undefined, 'no conversion fields for numeric rewards');
  // Every request came from its own user: the mean reward per reward received, over units.
  assert.ok(e.arms.b.comparison.z_test.diff > 0.05, JSON.stringify(e.arms.b));
  assert.ok(e.arms.b.comparison.z_test.p_value < 0.05, JSON.stringify(e.arms.b));
  assert.ok(e.arms.b.comparison.z_test.diff_ci.lower > 0);
});

test('SRM: a canary moved 10 -> 30 % under steady traffic reports no mismatch, and every observation is counted', async () => {
  await apply([
    {
      name: 'srm',
      match: { path_prefix: '/srm' },
      unit: [{ header: 'x-user-id' }],
      strategy: { kind: 'canary', stable: 'stable', canary: 'canary', percent: 10, steps: [{ percent: 10, hold_s: 6 }, { percent: 30, hold_s: 600 }], guard: { max_error_rate: 0.5, min_requests: 5 } },
    },
  ]);
  o.canary.setMode('ok');
  o.stable.setMode('ok');
  let sent = 0;
  let polls = 0;
  let movedAt = null;
  const mismatches = [];
  const started = Date.now();
  for (;;) {
    const rs = await Promise.all(Array.from({ length: 25 }, () => post('/srm')));
    sent += rs.length;
    assert.ok(rs.every((r) => r.status === 200));
    const s = await stats('srm');
    polls++;
    if (s.experiment?.srm?.mismatch) mismatches.push({ at: Date.now() - started, srm: s.experiment.srm, split: s.experiment.split });
    if (movedAt === null && s.controller?.canary_percent === 30) movedAt = Date.now();
    if (movedAt !== null && Date.now() - movedAt > 8000) break;
    if (Date.now() - started > 60000) break;
    await sleep(100);
  }
  assert.ok(movedAt, 'the controller moved the canary to 30 %');
  // Every observation reaches the totals, and each user (one request each) is counted as a
  // unit under its split.
  let s;
  await waitFor(async () => {
    s = await stats('srm');
    return (s.arms.stable?.requests ?? 0) + (s.arms.canary?.requests ?? 0) === sent;
  }, 10000, { what: `all ${sent} observations counted` });
  await waitFor(async () => {
    s = await stats('srm');
    return s.experiment.splits.reduce((n, x) => n + x.units, 0) === sent;
  }, 10000, { what: `all ${sent} units counted` });
  const splits = s.experiment.splits;
  console.log(`# srm: ${sent} requests, ${polls} polls, splits ${JSON.stringify(splits.map((x) => [x.split_ppm, x.units]))}, srm ${JSON.stringify(s.experiment.srm)}`);
  assert.deepEqual(mismatches, [], 'no sample-ratio mismatch at any poll');
  assert.deepEqual(splits.map((x) => x.split_ppm).sort(), [100000, 300000]);
  assert.equal(s.experiment.split.split_ppm, 300000);
  assert.ok(s.experiment.split.units > 100);
  assert.equal(s.experiment.srm.mismatch, false);
});

test('resume and promote: a rolled-back canary resumes at its step and is promoted; a bandit leader is promoted', async () => {
  // A recording webhook receiver: every action below is exactly one webhook, named after it.
  const hook = await startOrigin('hook');
  const routes = [
    {
      name: 'rp',
      match: { path_prefix: '/rp' },
      unit: [{ header: 'x-user-id' }],
      strategy: { kind: 'canary', stable: 'stable', canary: 'canary', percent: 40, guard: { max_error_rate: 0.2, min_requests: 10 } },
    },
    {
      name: 'bp',
      match: { path_prefix: '/bp' },
      unit: [{ header: 'x-user-id' }],
      strategy: { kind: 'bandit', min_samples: 10, min_share: 0.1, sticky: false, arms: [{ name: 'a', origin: 'a' }, { name: 'b', origin: 'b' }] },
    },
  ];
  await ctx.worker.applyConfig({ version: 1, origins: originsBlock(o), routes, alerts: { webhooks: [{ url: `${hook.url}/hook` }] } });
  const hooks = (route) => hook.requests.map((r) => JSON.parse(r.body)).filter((b) => b.route === route);
  o.stable.setMode('ok');
  o.canary.setMode('ok');
  const users = Array.from({ length: 60 }, (_, i) => `rp-${i}`);
  const traffic = () => Promise.all(users.map((u) => post('/rp', u)));
  const act = (action, route) =>
    ctx.worker.req(action === 'resume' ? `/_switchyard/resume/${route}` : `/_switchyard/promote/${route}`, { method: 'POST' });

  let r = await act('resume', 'rp');
  assert.equal(r.status, 409, r.body);
  assert.equal(r.json().error.code, 'not_rolled_back');
  r = await act('resume', 'nope');
  assert.equal(r.status, 404);
  r = await ctx.worker.req('/_switchyard/promote/rp');
  assert.equal(r.status, 405);

  // Break the canary: it is rolled back.
  await traffic();
  o.canary.setMode('error');
  await waitFor(async () => {
    await traffic();
    return (await kvJson('state:rp'))?.rolled_back;
  }, 30000, { intervalMs: 200, what: 'rollback' });
  const rolledBack = await kvJson('state:rp');
  // Fixed: the operator resumes; the share before the breach is back and recorded, in a new
  // controller epoch. Isolates flush their observations once a second, so the failing
  // requests just made reach the route's object after the resume, and so do the requests
  // made right after it (the isolate still routes by the state it read before): they carry an
  // older epoch and are re-filed (counted, not judged).
  await traffic();
  o.canary.setMode('ok');
  r = await act('resume', 'rp');
  await traffic();
  assert.equal(r.status, 200, r.body);
  assert.equal(r.json().state.canary_percent, 40);
  let st = await kvJson('state:rp');
  assert.equal(st.rolled_back, false);
  assert.equal(st.last_action, 'resume');
  assert.equal(st.canary_percent, 40);
  assert.ok(st.epoch > rolledBack.epoch, `resume starts an epoch: ${rolledBack.epoch} -> ${st.epoch}`);
  await waitFor(async () => (await traffic()).some((x) => x.json().origin === 'canary'), 8000, { what: 'canary serves again' });
  // Past the flush age and a few ticks: every late batch has arrived and been judged.
  for (let i = 0; i < 6; i++) {
    await traffic();
    await sleep(300);
  }
  assert.equal((await kvJson('state:rp')).rolled_back, false, 'the old breach does not roll it back again');
  const doc = await stats('rp');
  console.log(`# resume: epoch ${rolledBack.epoch} -> ${st.epoch}; ${doc.stale_observations} observations of an older epoch re-filed; canary window ${JSON.stringify(doc.window.canary ? [doc.window.canary.requests, doc.window.canary.errors] : null)}`);
  assert.equal(doc.epoch, st.epoch);
  assert.ok(doc.stale_observations > 0, 'observations of an older epoch arrived after the resume');
  assert.equal(doc.window.canary?.errors ?? 0, 0, 'no error of the old epoch in the judged window');
  // Promote: everyone on the canary.
  r = await act('promote', 'rp');
  assert.equal(r.status, 200, r.body);
  st = await kvJson('state:rp');
  assert.equal(st.canary_percent, 100);
  assert.equal(st.last_action, 'promote');
  await waitFor(async () => (await traffic()).every((x) => x.json().origin === 'canary'), 8000, { what: 'all traffic on the canary' });
  assert.equal((await stats('rp')).controller.canary_percent, 100);
  // An operator's rollback of the promoted canary.
  r = await ctx.worker.req('/_switchyard/rollback/rp', { method: 'POST' });
  assert.equal(r.status, 200, r.body);
  // One action, one alert: the automatic rollback, then the operator's resume, promote and
  // rollback, each exactly once and labelled with what happened; the route's timeline names
  // the same changes the same way.
  await waitFor(() => hooks('rp').length >= 4, 10000, { what: 'four webhooks for rp' });
  await sleep(2000); // nothing more arrives
  // `srm` is the sample-ratio alarm, not a state change (60 fixed users are not a random
  // sample of units; it may or may not fire here).
  const sent = hooks('rp').filter((b) => b.event !== 'srm');
  console.log(`# alerts: ${JSON.stringify(sent.map((b) => [b.event, b.state?.canary_percent]))}`);
  assert.deepEqual(sent.map((b) => b.event), ['rollback', 'resume', 'promote', 'rollback']);
  assert.match(sent[1].text, /^Switchyard: route rp resumed \(canary at 40%\)/);
  assert.match(sent[2].text, /^Switchyard: route rp promoted \(canary at 100%\)/);
  assert.equal(sent[0].state.rolled_back, true);
  const timeline = (await ctx.worker.req('/_switchyard/series/rp?minutes=10')).json().events.map((e) => e.kind).filter((k) => k !== 'srm');
  assert.deepEqual(timeline, ['rollback', 'resume', 'promote', 'rollback'], 'the timeline names the same four changes');

  // Bandit: promote its leader to the whole route, then resume learning.
  await waitFor(async () => {
    const rs = await Promise.all(Array.from({ length: 20 }, () => post('/bp')));
    await Promise.all(rs.filter((x) => armOf(x) === 'b').map((x) => feedback(x.headers['x-switchyard-receipt'], 1)));
    return (await kvJson('weights:bp'))?.arms.b > 0.5;
  }, 20000, { intervalMs: 100, what: 'b leads' });
  r = await act('promote', 'bp');
  assert.equal(r.status, 200, r.body);
  assert.equal(r.json().state.promoted_arm, 'b');
  const w = await kvJson('weights:bp');
  assert.deepEqual(w.arms, { a: 0, b: 1 });
  await waitFor(async () => {
    const rs = await Promise.all(Array.from({ length: 40 }, () => post('/bp')));
    return rs.every((x) => armOf(x) === 'b');
  }, 8000, { what: 'all bandit traffic on the leader' });
  assert.equal((await kvJson('state:bp')).last_action, 'promote');
  r = await act('resume', 'bp');
  assert.equal(r.status, 200, r.body);
  await waitFor(async () => {
    await Promise.all(Array.from({ length: 10 }, () => post('/bp')));
    const ww = await kvJson('weights:bp');
    return ww && ww.arms.a >= 0.1 - 1e-9 && !(ww.drained ?? []).length;
  }, 10000, { what: 'bandit learning again, floor back' });
});
