// Receipt replays and the request path, under `wrangler dev` (both workers, real Durable
// Objects with their SQLite ledger, a loopback origin):
//
//   make build && node bench/replays.mjs
//
// Open-loop load, phases alternating A B A B (SECONDS each, after a WARMUP):
//   A  routed requests at RATE/s on one route; every receipt credited once (honest feedback
//      at RATE/s);
//   B  the same, plus replays of receipts credited in earlier phases at FACTOR x RATE/s.
// Reports the routed latency (p50, p95) per phase, the replays' answers, and B's p50 over A's.
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

  /** One phase: routed requests (and their feedback) at RATE/s, replays at `replayRate`/s. */
  async function phase(seconds, replayRate) {
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
        const receipt = credited[k++ % credited.length];
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
  for (const [name, rr] of [['A', 0], ['B', RATE * FACTOR], ['A', 0], ['B', RATE * FACTOR]]) {
    const before = { ...answers };
    const failedBefore = routedFailed;
    const lat = await phase(SECONDS, rr);
    const replays = Object.values(answers).reduce((s, n) => s + n, 0) - Object.values(before).reduce((s, n) => s + n, 0);
    results.push({ name, replayRate: rr, n: lat.length, p50: q(lat, 0.5), p95: q(lat, 0.95), replays });
    console.log(
      `${name}: routed ${lat.length} at ${RATE}/s (${routedFailed - failedBefore} failed), replays ${replays} at ${rr}/s: ` +
        `p50 ${q(lat, 0.5).toFixed(1)} ms, p95 ${q(lat, 0.95).toFixed(1)} ms`,
    );
  }
  const a = (results[0].p50 + results[2].p50) / 2;
  const b = (results[1].p50 + results[3].p50) / 2;
  console.log(`replay answers: ${JSON.stringify(answers)}`);
  console.log(`routed p50 without replays ${a.toFixed(1)} ms, with replays at ${FACTOR}x ${b.toFixed(1)} ms: ${((b / a - 1) * 100).toFixed(0)} %`);
} finally {
  await origin.stop();
  await w.stop();
}
