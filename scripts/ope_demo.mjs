// Runs the offline-evaluation recipe (docs/offline.md) end to end on the real workers:
// starts `wrangler dev` (router + stats worker, as the e2e tests do), routes N users through
// a 50/50 A/B route whose arms convert at 30 % and 60 %, sends the conversions as feedback,
// then runs scripts/ope_check.py, which compares the route's OPE endpoint with an independent
// computation from the exported decision log and with Vowpal Wabbit's `--cb` evaluator.
// Traffic is paced at `per_minute` decisions a minute: at or below the decision log's full
// rate (600 a minute) every decision is logged and the three agree exactly; above it the log
// is a sample and its (weighted) estimate only agrees within its interval.
//
//   make build
//   pip install vowpalwabbit          # optional: without it, ope_check.py skips that column
//   node scripts/ope_demo.mjs [N=2000] [per_minute=500] [python=python3]
//
// Exit status: ope_check.py's (0 when all estimates agree).
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { startWorker, startOrigin, originsBlock, waitFor, ROOT } from '../tests/e2e/harness.mjs';

const N = Number(process.argv[2] ?? 2000);
const PER_MINUTE = Number(process.argv[3] ?? 500);
const PYTHON = process.argv[4] ?? 'python3';
const KEY = 'ope-demo-receipt-key-0123456789ab';

const w = await startWorker({ vars: { RECEIPT_KEY: KEY, STATS_TICK_MS: '500' } });
const origins = { a: await startOrigin('a'), b: await startOrigin('b') };
let status = 2;
try {
  await w.applyConfig({
    version: 1,
    origins: originsBlock(origins),
    routes: [
      {
        name: 'demo',
        match: { path_prefix: '/demo' },
        unit: [{ header: 'x-user-id' }],
        strategy: { kind: 'ab', arms: [{ name: 'x', origin: 'a', weight: 1 }, { name: 'y', origin: 'b', weight: 1 }] },
        log: { context: ['header:x-country'] },
      },
    ],
  });
  let seed = 2024;
  const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  let credited = 0;
  const started = Date.now();
  for (let i = 0; i < N; i += 25) {
    // Pace: decision i no earlier than i / PER_MINUTE minutes after the start.
    const due = started + (i / PER_MINUTE) * 60000;
    if (Date.now() < due) await new Promise((r) => setTimeout(r, due - Date.now()));
    const batch = await Promise.all(
      Array.from({ length: Math.min(25, N - i) }, (_, k) =>
        w.req('/demo', { headers: { 'x-user-id': `demo-${i + k}`, 'x-country': ['CH', 'DE', 'FR'][(i + k) % 3] } }),
      ),
    );
    for (const r of batch) {
      if (rand() < (r.headers['x-switchyard-arm'] === 'y' ? 0.6 : 0.3)) {
        const f = await w.req('/_switchyard/feedback', {
          method: 'POST',
          body: { receipt: r.headers['x-switchyard-receipt'], reward: 1 },
          auth: false,
        });
        if (f.status !== 200) throw new Error(`feedback: ${f.status} ${f.body}`);
        credited++;
      }
    }
  }
  await waitFor(async () => {
    const s = (await w.req('/_switchyard/stats/demo')).json();
    const arms = Object.values(s.arms ?? {});
    return arms.reduce((n, a) => n + a.requests, 0) === N && arms.reduce((n, a) => n + a.rewards.count, 0) === credited;
  }, 60000, { what: 'every decision and reward in the route object' });
  console.log(`# ${N} decisions in ${((Date.now() - started) / 60000).toFixed(1)} min, ${credited} conversions credited`);
  const r = spawnSync(
    PYTHON,
    [join(ROOT, 'scripts', 'ope_check.py'), '--url', w.url, '--token', w.adminToken, '--route', 'demo', '--policy', 'x=0.9,y=0.1'],
    { stdio: 'inherit' },
  );
  status = r.status ?? 2;
} finally {
  for (const o of Object.values(origins)) await o.stop();
  await w.stop();
}
process.exit(status);
