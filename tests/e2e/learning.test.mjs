// The learning loop, end to end under `wrangler dev` with Durable Objects and alarms: receipts and
// feedback, bandit weights that learn, automatic canary rollback, shadow agreement.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { useWorker, startOrigin, waitFor, originsBlock, mintReceipt, sleep } from './harness.mjs';

const KEY = 'e2e-receipt-key-0123456789abcdef';
const ctx = useWorker({ vars: { RECEIPT_KEY: KEY, STATS_TICK_MS: '300' } });
let o = {};

const apply = (routes) => ctx.worker.applyConfig({ version: 1, origins: originsBlock(o), routes });

const post = (path, user, body = '{}') =>
  ctx.worker.req(path, { method: 'POST', headers: { 'x-user-id': user, 'content-type': 'application/json' }, body });
const feedback = (receipt, reward) =>
  ctx.worker.req('/_switchyard/feedback', { method: 'POST', headers: { 'content-type': 'application/json' }, body: { receipt, reward } });
const stats = async (route) => (await ctx.worker.req(`/_switchyard/stats/${route}`)).json();

// An independent implementation of the receipt format (docs/learning.md, "Receipts and feedback"), used to mint
// receipts the worker never issued: expired ones, and fresh ones proving the format.
function mint({ route, arm, issuedMs, nonce = 7n, version = 0, key = KEY }) {
  return mintReceipt({ route, arm, issuedMs, nonce, version, key });
}

test('setup origins', async () => {
  await ctx.ready;
  o = {
    a: await startOrigin('a'),
    b: await startOrigin('b'),
    stable: await startOrigin('stable'),
    canary: await startOrigin('canary'),
    // Primary and shadow models: same score except for every fourth input.
    model: await startOrigin('model', { respond: (r) => ({ body: { score: JSON.parse(r.body).id / 100 } }) }),
    candidate: await startOrigin('candidate', {
      respond: (r) => {
        const id = JSON.parse(r.body).id;
        return { body: { score: id % 4 === 0 ? -1 : id / 100 } };
      },
    }),
  };
});

test('receipts: a valid one counts once; replayed, forged, expired and malformed ones are rejected', async () => {
  await apply([
    { name: 'fb', match: { path_prefix: '/fb' }, unit: [{ header: 'x-user-id' }], strategy: { kind: 'ab', arms: [{ name: 'x', origin: 'a', weight: 1 }, { name: 'y', origin: 'b', weight: 1 }] } },
  ]);
  const r = await post('/fb', 'alice');
  const receipt = r.headers['x-switchyard-receipt'];
  assert.match(receipt, /^v2\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/);
  const arm = r.headers['x-switchyard-arm'];

  let f = await feedback(receipt, 1);
  assert.equal(f.status, 200, f.body);
  assert.deepEqual(f.json(), { credited: true, arm });
  f = await feedback(receipt, 1);
  assert.equal(f.status, 409);
  assert.equal(f.json().error.code, 'receipt_replayed');

  const [v, p, t] = receipt.split('.');
  const flip = (s) => s.slice(0, 3) + (s[3] === 'A' ? 'B' : 'A') + s.slice(4);
  f = await feedback(`${v}.${p}.${flip(t)}`, 1);
  assert.equal(f.status, 401);
  assert.equal(f.json().error.code, 'receipt_bad_signature');
  f = await feedback(`${v}.${flip(p)}.${t}`, 1);
  assert.ok([400, 401].includes(f.status), `${f.status}`);
  f = await feedback(mint({ route: 'fb', arm, issuedMs: Date.now(), key: 'some-other-key-0123456789abcdef' }), 1);
  assert.equal(f.json().error.code, 'receipt_bad_signature', 'signed with another key');

  f = await feedback(mint({ route: 'fb', arm, issuedMs: Date.now() - 25 * 3600 * 1000 }), 1);
  assert.equal(f.status, 410);
  assert.equal(f.json().error.code, 'receipt_expired');

  for (const junk of ['', 'v1', 'v1..', 'v2.AAAA.AAAA', 'v1.!!!.???', 'x'.repeat(5000)]) {
    f = await feedback(junk, 1);
    assert.equal(f.status, 400, junk.slice(0, 20));
    assert.ok(f.json().error.code.startsWith('receipt_'));
  }
  for (const body of ['nope', '{"reward":1}', JSON.stringify({ receipt, reward: 'lots' })]) {
    f = await ctx.worker.req('/_switchyard/feedback', { method: 'POST', body });
    assert.equal(f.status, 400, body);
    assert.equal(f.json().error.code, 'bad_feedback');
  }

  // Oversized bodies are refused before they are read.
  f = await ctx.worker.req('/_switchyard/feedback', { method: 'POST', body: JSON.stringify({ receipt, reward: 1, pad: 'x'.repeat(1 << 20) }) });
  assert.equal(f.status, 413);
  assert.equal(f.json().error.code, 'body_too_large');
  f = await ctx.worker.req('/_switchyard/config', { method: 'PUT', body: 'x'.repeat(2 << 20) });
  assert.equal(f.status, 413);

  // A receipt minted from the documented format is accepted: the format is the contract.
  f = await feedback(mint({ route: 'fb', arm: 'y', issuedMs: Date.now(), nonce: 99n }), 1);
  assert.equal(f.status, 200, f.body);

  await waitFor(async () => {
    const s = await stats('fb');
    return (s.arms?.[arm]?.rewards.count ?? 0) >= 1;
  }, 5000, { what: 'reward in stats' });
  const s = await stats('fb');
  const rewards = Object.values(s.arms).reduce((n, a) => n + a.rewards.count, 0);
  assert.equal(rewards, 2, 'exactly the two valid receipts were credited');
});

test('bandit: traffic where one origin converts more moves weights:<route> toward it', async () => {
  await apply([
    {
      name: 'bandit',
      match: { path_prefix: '/bandit' },
      unit: [{ header: 'x-user-id' }],
      strategy: { kind: 'bandit', algorithm: 'thompson', min_samples: 30, min_share: 0.05, arms: [{ name: 'a', origin: 'a' }, { name: 'b', origin: 'b' }] },
    },
  ]);
  let weights;
  const started = Date.now();
  for (let round = 0; round < 12; round++) {
    await Promise.all(
      Array.from({ length: 40 }, async (_, i) => {
        const r = await post('/bandit', `bu-${round}-${i}`);
        // Origin b converts 40% of the time, a 5%.
        const p = r.json().origin === 'b' ? 0.4 : 0.05;
        if ((i * 7919 + round * 104729) % 1000 < p * 1000) await feedback(r.headers['x-switchyard-receipt'], 1);
      }),
    );
    const text = await ctx.worker.getKV('weights:bandit');
    weights = text && JSON.parse(text);
    if (weights && weights.arms.b > 0.8) break;
  }
  console.log(`# bandit: weights ${JSON.stringify(weights?.arms)} after ${Date.now() - started} ms`);
  assert.ok(weights, 'weights were written');
  assert.ok(weights.arms.b > 0.8, JSON.stringify(weights));
  assert.ok(weights.arms.a >= 0.05 - 1e-9, 'the floor holds');
  // Sticky: the allocation layout travels in the same document, built on the weights the
  // edge routes by (floor applied), so it gives b more of the 10,000 slots.
  const layout = weights.layouts?.[0];
  assert.ok(layout, JSON.stringify(weights));
  assert.deepEqual(layout.arms, ['a', 'b']);
  assert.equal(layout.counts[0] + layout.counts[1], 10_000);
  assert.ok(layout.counts[1] > 8_000, JSON.stringify(layout));
  // The stats document shows the weights the object writes (it rewrites them every tick, so
  // they may have moved a little since the KV read above).
  const s = await stats('bandit');
  assert.ok(s.weights.arms.b > 0.8 && Math.abs(s.weights.arms.b - weights.arms.b) < 0.05, `${JSON.stringify(s.weights.arms)} vs ${JSON.stringify(weights.arms)}`);
});

test('canary: an origin that starts answering 500s is rolled back and traffic returns to stable', async () => {
  await apply([
    {
      name: 'cn',
      match: { path_prefix: '/cn' },
      unit: [{ header: 'x-user-id' }],
      strategy: { kind: 'canary', stable: 'stable', canary: 'canary', percent: 50, guard: { max_error_rate: 0.2, min_requests: 20 } },
    },
  ]);
  const users = Array.from({ length: 60 }, (_, i) => `cu-${i}`);
  // Healthy first: the canary takes its share.
  const arms = await Promise.all(users.map(async (u) => (await post('/cn', u)).headers['x-switchyard-arm']));
  assert.ok(arms.filter((a) => a === 'canary').length > 10);
  o.canary.setMode('error');
  const broke = Date.now();
  let state;
  await waitFor(async () => {
    await Promise.all(users.map((u) => post('/cn', u)));
    const text = await ctx.worker.getKV('state:cn');
    state = text && JSON.parse(text);
    return state?.rolled_back;
  }, 30000, { intervalMs: 200, what: 'rollback' });
  console.log(`# canary: rolled back ${Date.now() - broke} ms after the canary broke: ${state.reason}`);
  assert.match(state.reason, /error rate/);
  assert.equal(state.canary_percent, 0);
  await waitFor(async () => {
    const rs = await Promise.all(users.map((u) => post('/cn', u)));
    return rs.every((r) => r.status === 200 && r.json().origin === 'stable' && r.headers['x-switchyard-reason'] === 'rolled_back');
  }, 8000, { what: 'all traffic on stable' });
  const s = await stats('cn');
  assert.equal(s.controller.rolled_back, true);
});

test('shadow comparison: agreement is reported for a shadow that differs on a known fraction', async () => {
  await apply([
    {
      name: 'cmp',
      match: { path_prefix: '/cmp' },
      unit: [{ header: 'x-user-id' }],
      strategy: { kind: 'recreate', origin: 'model' },
      shadow: [{ origin: 'candidate', percent: 100, compare: { kind: 'json_pointer', pointer: '/score', tolerance: 1e-9 } }],
    },
  ]);
  for (let id = 0; id < 40; id++) {
    const r = await post('/cmp', `cmp-${id}`, JSON.stringify({ id }));
    assert.equal(r.json().score, id / 100, 'the caller always gets the primary');
  }
  let sh;
  await waitFor(async () => {
    sh = (await stats('cmp')).shadows?.candidate;
    return sh?.payload_compared >= 40;
  }, 10000, { what: 'shadow comparisons reported' });
  console.log(`# shadow agreement: ${JSON.stringify(sh)}`);
  assert.equal(sh.payload_compared, 40);
  assert.equal(sh.exact_agreement, 0.75);
  assert.equal(sh.status_agreement, 1);
});

test('rolling: batches advance every interval while healthy and pause when the new side fails', async () => {
  await apply([
    {
      name: 'roll',
      match: { path_prefix: '/roll' },
      unit: [{ header: 'x-user-id' }],
      strategy: { kind: 'rolling', from: 'stable', to: 'b', batches: 10, completed: 0, interval_s: 2, guard: { max_error_rate: 0.2, min_requests: 10 } },
    },
  ]);
  const users = Array.from({ length: 80 }, (_, i) => `ru-${i}`);
  const traffic = () => Promise.all(users.map((u) => post('/roll', u)));
  const controller = async () => (await stats('roll')).controller;
  o.stable.setMode('ok');
  o.b.setMode('ok');
  let state;
  // Healthy: batches complete one per interval.
  await waitFor(async () => {
    await traffic();
    state = await controller();
    return state?.completed >= 2;
  }, 20000, { intervalMs: 100, what: 'two batches completed' });
  // The new side starts failing: the rollout pauses with the reason.
  o.b.setMode('error');
  await waitFor(async () => {
    await traffic();
    state = await controller();
    return state?.paused;
  }, 20000, { intervalMs: 100, what: `rollout paused (state ${JSON.stringify(state)})` });
  const pausedAt = state.completed;
  console.log(`# rolling: paused at ${pausedAt}/10 batches: ${state.paused}`);
  assert.match(state.paused, /error rate/);
  assert.ok(pausedAt < 10);
  const inKv = JSON.parse(await ctx.worker.getKV('state:roll', { present: true }));
  assert.equal(inKv.completed, pausedAt, 'the pause is in KV, where the edge reads it');
  await traffic();
  assert.equal((await controller()).completed, pausedAt, 'no batch completes while paused');
  // Healthy again: it resumes and finishes; everyone ends on `to`.
  o.b.setMode('ok');
  await waitFor(async () => {
    await traffic();
    state = await controller();
    return state?.completed === 10 && !state.paused;
  }, 60000, { intervalMs: 100, what: 'rollout finished' });
  await waitFor(async () => (await traffic()).every((r) => r.json().origin === 'b'), 8000, { what: 'all users moved' });
});

test('units: a 10 % canary whose users send 4 requests each, moved to 30 %: no SRM alarm at any poll, units = distinct users', async () => {
  const HOLD_S = 8;
  await apply([
    {
      name: 'units',
      match: { path_prefix: '/units' },
      unit: [{ header: 'x-user-id' }],
      strategy: { kind: 'canary', stable: 'stable', canary: 'canary', percent: 10, steps: [{ percent: 10, hold_s: HOLD_S }, { percent: 30, hold_s: 600 }], guard: { max_error_rate: 0.5, min_requests: 5 } },
    },
  ]);
  o.stable.setMode('ok');
  o.canary.setMode('ok');
  let next = 0;
  const polls = [];
  const mismatches = [];
  const poll = async () => {
    const d = await stats('units');
    polls.push(d.experiment?.srm?.p_value ?? null);
    if (d.experiment?.srm?.mismatch) mismatches.push(d.experiment.srm);
    return d;
  };
  // The stats are polled every 150 ms for the whole test, beside the rounds.
  let polling = true;
  const poller = (async () => {
    while (polling) {
      await poll();
      await sleep(150);
    }
  })();
  // A round: 15 new users, 4 requests each (all at once), then one poll of the stats.
  const round = async (users) => {
    const ids = Array.from({ length: 15 }, () => `unit-user-${next++}`);
    const rs = await Promise.all(ids.flatMap((u) => [0, 1, 2, 3].map(async () => [u, await post('/units', u)])));
    for (const [u, r] of rs) {
      assert.equal(r.status, 200);
      const arm = r.headers['x-switchyard-arm'];
      assert.ok(!users.has(u) || users.get(u) === arm, `${u} stays on its arm`);
      users.set(u, arm);
    }
    return poll();
  };
  const byArm = (users) => {
    const n = { stable: 0, canary: 0 };
    for (const arm of users.values()) n[arm]++;
    return n;
  };
  // Phase 1, 10 %: users arrive until 1.5 s before the step's hold ends (so that none of
  // them can be routed under the next split).
  const first = new Map();
  let s = await round(first);
  const stepStarted = s.controller?.step_started_ms ?? Date.now();
  while (Date.now() < stepStarted + HOLD_S * 1000 - 1500) s = await round(first);
  // The controller moves the canary to 30 %; the edge picks the new state up within its
  // KV cache time. Polls go on meanwhile.
  await waitFor(async () => (await poll()).controller?.canary_percent === 30, 30000, { intervalMs: 200, what: 'canary moved to 30 %' });
  await sleep(3500);
  // Phase 2, 30 %: new users for about 6 s.
  const second = new Map();
  const p2 = Date.now();
  while (Date.now() < p2 + 6000) s = await round(second);
  const want1 = byArm(first);
  const want2 = byArm(second);
  // Every user is counted once, under the split it was routed by, with its 4 requests.
  await waitFor(async () => {
    s = await stats('units');
    const e = s.experiment;
    return e.split.split_ppm === 300000 && e.arms.stable.units === want2.stable && e.arms.canary.units === want2.canary;
  }, 10000, { what: `units of the 30 % split: ${JSON.stringify(want2)}` });
  await sleep(1000); // a few more polls after the last report
  polling = false;
  await poller;
  const e = s.experiment;
  const old = e.splits.find((x) => x.split_ppm === 100000);
  console.log(`# units: phase 1 ${first.size} users ${JSON.stringify(want1)}, phase 2 ${second.size} users ${JSON.stringify(want2)}; ` +
    `${polls.length} polls, SRM p min ${Math.min(...polls.filter((p) => p !== null))}; splits ${JSON.stringify(e.splits.map((x) => [x.split_ppm, x.arms]))}; srm ${JSON.stringify(e.srm)}`);
  assert.deepEqual(mismatches, [], 'no sample-ratio mismatch at any poll');
  assert.ok(polls.filter((p) => p !== null).length > 20, 'the SRM check ran at many polls');
  assert.deepEqual(old.arms, want1, 'phase-1 users counted once each under the 10 % split');
  for (const arm of ['stable', 'canary']) {
    assert.equal(e.arms[arm].units, want2[arm], arm);
    assert.equal(e.arms[arm].requests, 4 * want2[arm], `${arm}: 4 requests per unit`);
  }
  assert.equal(e.split.units, second.size);
  assert.equal(e.srm.mismatch, false);
  assert.deepEqual(e.srm.units, [want2.stable, want2.canary]);
  // The verdict names its test once, and says why it is inconclusive (no rewards here).
  assert.equal(e.arms.canary.verdict.test, 'always_valid');
  assert.equal(e.arms.canary.verdict.result, 'inconclusive');
  assert.equal(e.arms.stable.verdict, undefined, 'the control has no verdict');
});

test('units: feedback converts the unit its receipt names; the verdict comes from the always-valid test', async () => {
  await apply([
    { name: 'conv', match: { path_prefix: '/conv' }, unit: [{ header: 'x-user-id' }], strategy: { kind: 'ab', arms: [{ name: 'x', origin: 'a', weight: 1 }, { name: 'y', origin: 'b', weight: 1 }] } },
  ]);
  // 240 users, 2 requests each; users on y convert (once per request) 3 times as often.
  const converted = { x: new Set(), y: new Set() };
  const users = { x: new Set(), y: new Set() };
  for (let block = 0; block < 8; block++) {
    await Promise.all(Array.from({ length: 30 }, async (_, i) => {
      const u = `cv-${block}-${i}`;
      for (let k = 0; k < 2; k++) {
        const r = await post('/conv', u);
        const arm = r.headers['x-switchyard-arm'];
        users[arm].add(u);
        const h = (block * 31 + i * 7 + k * 13) % 20;
        if (h < (arm === 'y' ? 9 : 3)) {
          const f = await feedback(r.headers['x-switchyard-receipt'], 1);
          assert.equal(f.status, 200, f.body);
          converted[arm].add(u);
        }
      }
    }));
  }
  let e;
  await waitFor(async () => {
    e = (await stats('conv')).experiment;
    return e.arms.x.units === users.x.size && e.arms.y.units === users.y.size &&
      e.arms.x.comparison.conversions === converted.x.size && e.arms.y.comparison.conversions === converted.y.size &&
      e.arms.y.sequential.looks > 0;
  }, 10000, { what: `units ${users.x.size}/${users.y.size}, converted ${converted.x.size}/${converted.y.size}` }).catch((err) => {
    console.log(`# experiment at the timeout: ${JSON.stringify({ x: e?.arms?.x, y: e?.arms?.y, split: e?.split, splits: e?.splits })}`);
    throw err;
  });
  console.log(`# conversion per unit: x ${converted.x.size}/${users.x.size}, y ${converted.y.size}/${users.y.size}; verdict ${JSON.stringify(e.arms.y.verdict)}; z p ${e.arms.y.comparison.z_test.p_value}`);
  assert.equal(e.metric, 'conversion');
  assert.equal(e.arms.y.comparison.n, users.y.size);
  assert.ok(Math.abs(e.arms.y.comparison.rate - converted.y.size / users.y.size) < 1e-12);
  assert.equal(e.arms.y.verdict.test, 'always_valid');
  if (e.arms.y.verdict.result === 'winner') assert.ok(e.arms.y.verdict.p_value < 0.05);
  else assert.equal(e.arms.y.verdict.result, 'inconclusive');
});
