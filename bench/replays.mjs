// Receipt replays and the request path, under `wrangler dev` (both workers, real Durable
// Objects with their SQLite ledger, a loopback origin):
//
//   make build && node bench/replays.mjs
//
// Open-loop load, phases A B C A B C (SECONDS each, after a WARMUP):
//   A  routed requests at RATE/s on one route; every receipt credited once (honest feedback
//      at RATE/s);
//   B  the same, plus replays of receipts credited in earlier phases at FACTOR x RATE/s;
//   C  the same as B with forged receipts (a credited receipt with its tag altered: 401 from
//      the control plane, which never calls the route's object for them): what the same
//      number of feedback requests costs the shared runtime when no object is involved.
// Reports the routed latency (p50, p95) per phase, the extra requests' answers, and B's and
// C's p50 over A's. B close to C: a replay costs no more than any request refused before the
// route's object.
// Environment: RATE (20), FACTOR (10), SECONDS (12), WARMUP (3).
import { startWorker, startOrigin, originsBlock, request, sleep } from '../tests/e2e/harness.mjs';

const RATE = Number(process.env.RATE ?? 20);
const FACTOR = Number(process.env.FACTOR ?? 10);
const SECONDS = Number(process.env.SECONDS ?? 12);
const WARMUP = Number(process.env.WARMUP ?? 3);
const KEY = 'bench-replays-receipt-key-0123456789';

const q = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.floor(p * s.length))] : NaN;
};

const w = await startWorker({ vars: { RECEIPT_KEY: KEY } });
const origin = await startOrigin('model');
try {
  await w.applyConfig({
    version: 1,
    origins: originsBlock({ model: origin }),
    routes: [{ name: 'rp', match: { path_prefix: '/rp' }, strategy: { kind: 'recreate', origin: 'model' } }],
  });
  const credited = []; // receipts credited once, replayed in B phases
  const answers = {};
  let user = 0;
  let routedFailed = 0; // routed requests that failed (not 200, or no answer in 15 s)
  const feedback = (receipt) =>
    request(w.url, '/_switchyard/feedback', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ receipt, reward: 1 }) });

  /** A credited receipt with the first character of its tag changed. */
  const forge = (receipt) => {
    const [v, payload, tag] = receipt.split('.');
    return `${v}.${payload}.${tag[0] === 'A' ? 'B' : 'A'}${tag.slice(1)}`;
  };

  /**
   * One phase: routed requests (and their feedback) at RATE/s, extra feedback at
   * `replayRate`/s: replays of credited receipts, or forged ones with `forged`.
   */
  async function phase(seconds, replayRate, forged = false) {
    const lat = [];
    const inflight = [];
    const end = performance.now() + seconds * 1000;
    const routedEvery = 1000 / RATE;
    const replayEvery = replayRate > 0 ? 1000 / replayRate : Infinity;
    let nextRouted = performance.now();
    let nextReplay = replayRate > 0 ? performance.now() : Infinity;
    let k = 0;
    while (performance.now() < end) {
      const now = performance.now();
      while (nextRouted <= now) {
        nextRouted += routedEvery;
        inflight.push(
          request(w.url, '/rp/x', { headers: { 'x-user-id': `u${user++}` } }).then(
            async (r) => {
              if (r.status !== 200) routedFailed++;
              lat.push(r.ms);
              const receipt = r.headers['x-switchyard-receipt'];
              if (receipt && (await feedback(receipt).catch(() => ({}))).status === 200) credited.push(receipt);
            },
            () => routedFailed++,
          ),
        );
      }
      while (nextReplay <= now && credited.length) {
        nextReplay += replayEvery;
        const receipt = forged ? forge(credited[k++ % credited.length]) : credited[k++ % credited.length];
        inflight.push(
          feedback(receipt).then(
            (r) => {
              const code = `${r.status}`;
              answers[code] = (answers[code] ?? 0) + 1;
            },
            () => {
              answers.error = (answers.error ?? 0) + 1;
            },
          ),
        );
      }
      await sleep(Math.max(0, Math.min(nextRouted, nextReplay) - performance.now()));
    }
    await Promise.all(inflight);
    return lat;
  }

  await phase(WARMUP, 0);
  const results = [];
  const R = RATE * FACTOR;
  for (const [name, rr, forged] of [['A', 0], ['B', R], ['C', R, true], ['A', 0], ['B', R], ['C', R, true]]) {
    const before = { ...answers };
    const failedBefore = routedFailed;
    const lat = await phase(SECONDS, rr, forged);
    const replays = Object.values(answers).reduce((s, n) => s + n, 0) - Object.values(before).reduce((s, n) => s + n, 0);
    results.push({ name, replayRate: rr, n: lat.length, p50: q(lat, 0.5), p95: q(lat, 0.95), replays });
    const extra = forged ? 'forged receipts' : 'replays';
    console.log(
      `${name}: routed ${lat.length} at ${RATE}/s (${routedFailed - failedBefore} failed), ${extra} ${replays} at ${rr}/s: ` +
        `p50 ${q(lat, 0.5).toFixed(1)} ms, p95 ${q(lat, 0.95).toFixed(1)} ms`,
    );
  }
  const p50 = (n) => results.filter((r) => r.name === n).reduce((s, r) => s + r.p50, 0) / 2;
  const [a, b, c] = [p50('A'), p50('B'), p50('C')];
  console.log(`extra feedback answers: ${JSON.stringify(answers)}`);
  console.log(
    `routed p50 without extra feedback ${a.toFixed(1)} ms; with replays at ${FACTOR}x ${b.toFixed(1)} ms ` +
      `(${((b / a - 1) * 100).toFixed(0)} %); with as many forged receipts ${c.toFixed(1)} ms (${((c / a - 1) * 100).toFixed(0)} %)`,
  );
} finally {
  await origin.stop();
  await w.stop();
}
