// The receipt ledger, end to end under `wrangler dev`: the ledger in the object's SQLite
// (flat cost per credit, hostile rewards refused, everything intact across a restart of
// `wrangler dev` on the same state), feedback spread over N ledger shards and merged, and the
// guards kept running on the last valid config when an invalid one is written to KV.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { startWorker, startOrigin, waitFor, originsBlock, mintReceipt } from './harness.mjs';

const KEY = 'e2e-receipt-key-0123456789abcdef';
const VARS = { RECEIPT_KEY: KEY, STATS_TICK_MS: '300' };
let w; // the running worker (replaced by the restart test)
let persistDir;
let o = {};
const kept = {}; // receipts credited before the restart
let hostileReceipt;

after(async () => {
  for (const x of Object.values(o)) await x.stop().catch(() => {});
  if (w) await w.stop();
  if (persistDir) await rm(persistDir, { recursive: true, force: true }).catch(() => {});
});

const post = (path, user) =>
  w.req(path, { method: 'POST', headers: { 'x-user-id': user, 'content-type': 'application/json' }, body: '{}' });
const feedback = (receipt, reward) =>
  w.req('/_switchyard/feedback', { method: 'POST', headers: { 'content-type': 'application/json' }, body: { receipt, reward } });
const stats = async (route) => {
  const r = await w.req(`/_switchyard/stats/${route}`);
  assert.equal(r.status, 200, r.body);
  return r.json();
};
const rewardCount = (s) => Object.values(s.arms ?? {}).reduce((n, a) => n + a.rewards.count, 0);

// Receipts minted from the documented format (docs/learning.md, "Receipts and feedback"): many, fast, no traffic.
function mint({ route, arm, nonce, issuedMs = Date.now() }) {
  return mintReceipt({ route, arm, nonce, issuedMs, key: KEY });
}

/** Credits `receipts` with `concurrency` requests in flight; returns latencies (ms). */
async function creditAll(receipts, reward = 1, concurrency = 6) {
  const lat = new Array(receipts.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < receipts.length) {
        const i = next++;
        const t = performance.now();
        const r = await feedback(receipts[i], reward);
        lat[i] = performance.now() - t;
        assert.equal(r.status, 200, `receipt ${i}: ${r.body}`);
      }
    }),
  );
  return lat;
}
const p50 = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const routes = () => [
  // A reward range as wide as any route may have: the ledger's own bound (|reward| <= 1e6) is
  // what this file tests.
  { name: 'led', match: { path_prefix: '/led' }, reward: { min: -1e6, max: 1e6 }, strategy: { kind: 'ab', arms: [{ name: 'x', origin: 'a', weight: 1 }, { name: 'y', origin: 'b', weight: 1 }] } },
  { name: 'sh', match: { path_prefix: '/sh' }, feedback_shards: 4, strategy: { kind: 'ab', arms: [{ name: 'x', origin: 'a', weight: 1 }, { name: 'y', origin: 'b', weight: 1 }] } },
  {
    name: 'cn', match: { path_prefix: '/cn' }, unit: [{ header: 'x-user-id' }],
    strategy: { kind: 'canary', stable: 'stable', canary: 'canary', percent: 50, guard: { max_error_rate: 0.2, min_requests: 20 } },
  },
];

test('setup', async () => {
  w = await startWorker({ vars: VARS });
  persistDir = w.persistDir;
  o = { a: await startOrigin('a'), b: await startOrigin('b'), stable: await startOrigin('stable'), canary: await startOrigin('canary') };
  await w.applyConfig({ version: 1, origins: originsBlock(o), routes: routes() });
});

test('hostile rewards (1e200, 1e308, -1e308, 1e6+1) are refused and burn no receipt', async () => {
  const receipt = mint({ route: 'led', arm: 'x', nonce: 1_000_000 });
  hostileReceipt = receipt;
  for (const reward of [1e200, 1e308, -1e308, 1e6 + 1]) {
    const r = await feedback(receipt, reward);
    assert.equal(r.status, 400, `${reward}: ${r.body}`);
    assert.equal(r.json().error.code, 'bad_feedback');
  }
  // The raw JSON literal too (JSON.stringify of 1e400 would be null).
  const raw = await w.req('/_switchyard/feedback', { method: 'POST', body: `{"receipt":"${receipt}","reward":1e400}` });
  assert.equal(raw.status, 400, raw.body);
  const ok = await feedback(receipt, 1e6);
  assert.equal(ok.status, 200, ok.body);
  const s = await stats('led');
  assert.equal(s.arms.x.rewards.sum, 1e6);
  assert.equal(s.storage.receipts, 1);
  assert.equal(s.config.valid, true);
});

test('3,000 credits on one route: flat cost per write, bounded storage', async () => {
  const blocks = [];
  const n = 3000;
  const block = 500;
  const all = [];
  for (let b = 0; b < n / block; b++) {
    const receipts = Array.from({ length: block }, (_, i) => mint({ route: 'led', arm: i % 2 ? 'x' : 'y', nonce: b * block + i }));
    all.push(...receipts);
    blocks.push(await creditAll(receipts, 0.5));
  }
  kept.led = [all[0], all[1499], all[2999], hostileReceipt];
  const p50s = blocks.map(p50);
  const s = await stats('led');
  console.log(`# ledger: feedback p50 per ${block}: ${p50s.map((x) => x.toFixed(1)).join(', ')} ms; storage ${JSON.stringify(s.storage)}`);
  assert.equal(rewardCount(s), n + 1);
  assert.equal(s.storage.receipts, n + 1);
  assert.ok(s.storage.database_size / n < 400, `database ${s.storage.database_size} bytes for ${n} receipts`);
  // The cost of a credit does not grow with the ledger (generous for a shared CI machine).
  assert.ok(p50s.at(-1) <= 2 * p50s[0] + 5, `p50 first ${p50s[0]} last ${p50s.at(-1)}`);
  // Replays are refused, whatever block they came from.
  for (const receipt of kept.led) {
    const r = await feedback(receipt, 1);
    assert.equal(r.status, 409, r.body);
  }
});

test('feedback_shards: 4 spreads credits over ledger shards; the route object merges them exactly', async () => {
  const n = 200;
  const receipts = Array.from({ length: n }, (_, i) => mint({ route: 'sh', arm: i % 4 ? 'y' : 'x', nonce: 50_000 + i }));
  await creditAll(receipts, 1);
  kept.sh = receipts.slice(0, 8);
  // A replay meets the shard that holds its receipt.
  for (const i of [0, 1, 2, 3, 57, 199]) {
    const r = await feedback(receipts[i], 1);
    assert.equal(r.status, 409, `replay ${i}: ${r.body}`);
  }
  let s;
  await waitFor(async () => {
    s = await stats('sh');
    return rewardCount(s) >= n;
  }, 15000, { what: 'shard rewards merged' });
  await new Promise((r) => setTimeout(r, 1000)); // more ticks merge nothing more
  s = await stats('sh');
  console.log(`# shards: merged ${JSON.stringify(s.merged_from_shards)}, on the route object ${s.storage.receipts}`);
  assert.equal(s.feedback_shards, 4);
  assert.equal(rewardCount(s), n);
  assert.equal(s.arms.x.rewards.count, n / 4);
  const fromShards = Object.values(s.merged_from_shards).reduce((a, b) => a + b, 0);
  assert.equal(fromShards + s.storage.receipts, n, 'every receipt is in exactly one ledger');
  assert.ok(Object.values(s.merged_from_shards).filter((c) => c > 0).length === 3, 'shards 1..3 all credited');
  assert.ok(s.storage.receipts > 0 && s.storage.receipts < n, 'shard 0 is the route object');
});

test('an invalid config in KV does not switch the guards off: the canary is rolled back', async () => {
  const users = Array.from({ length: 60 }, (_, i) => `cu-${i}`);
  const arms = await Promise.all(users.map(async (u) => (await post('/cn', u)).headers['x-switchyard-arm']));
  assert.ok(arms.filter((a) => a === 'canary').length > 10);
  const good = (await stats('cn')).config;
  assert.equal(good.valid, true);
  // The bad write, as the README's `wrangler kv key put` would do it.
  await w.putKV('config', '{"version":1,"routes":[{"name":"cn","strategy":{"kind":"nope"}}]}');
  let s;
  await waitFor(async () => {
    s = await stats('cn');
    return s.config.valid === false;
  }, 8000, { what: 'stats report the invalid config' });
  assert.equal(s.config.last_valid_id, good.id);
  assert.notEqual(s.config.id, good.id);
  assert.match(s.config.error, /problem/);
  let status;
  await waitFor(async () => {
    status = (await w.req('/_switchyard/status')).json();
    return status.rejected;
  }, 10000, { what: 'the router reports the rejected document' });
  assert.equal(status.config, good.id, 'the router keeps the last valid config');
  assert.equal(status.config_status.valid, false);
  const tick = await w.req('/_switchyard/tick/cn', { method: 'POST' });
  assert.equal(tick.status, 200, tick.body);

  o.canary.setMode('error');
  const broke = Date.now();
  let state;
  await waitFor(async () => {
    await Promise.all(users.map((u) => post('/cn', u)));
    const text = await w.getKV('state:cn');
    state = text && JSON.parse(text);
    return state?.rolled_back;
  }, 30000, { intervalMs: 200, what: 'rollback under an invalid config' });
  console.log(`# invalid config: canary rolled back ${Date.now() - broke} ms after it broke: ${state.reason}`);
  assert.match(state.reason, /error rate/);
  assert.equal(state.canary_percent, 0);
  const rb = await w.req('/_switchyard/rollback/cn', { method: 'POST' });
  assert.equal(rb.status, 200, `operator rollback still works: ${rb.body}`);
  o.canary.setMode('ok');
});

test('after a restart of wrangler dev on the same state, counts and the replay guard are intact', async () => {
  const before = { led: await stats('led'), sh: await stats('sh') };
  process.env.SWITCHYARD_E2E_KEEP = '1';
  try {
    await w.stop();
  } finally {
    delete process.env.SWITCHYARD_E2E_KEEP;
  }
  w = await startWorker({ vars: VARS, persistDir });
  // KV still holds the invalid document: the stats worker starts from config:last_valid.
  const led = await stats('led');
  assert.equal(led.config.valid, false);
  assert.equal(led.config.last_valid_id, before.led.config.last_valid_id);
  for (const k of ['requests', 'rewards']) assert.deepEqual(led.arms.x[k], before.led.arms.x[k], k);
  assert.equal(rewardCount(led), rewardCount(before.led));
  assert.equal(led.storage.receipts, before.led.storage.receipts);
  assert.equal(rewardCount(await stats('sh')), rewardCount(before.sh));
  for (const [route, receipts] of Object.entries(kept)) {
    for (const receipt of receipts) {
      const r = await feedback(receipt, 1);
      assert.equal(r.status, 409, `replay on ${route} after restart: ${r.body}`);
    }
  }
  const fresh = await feedback(mint({ route: 'led', arm: 'x', nonce: 7_777_777 }), 1);
  assert.equal(fresh.status, 200, fresh.body);
});
