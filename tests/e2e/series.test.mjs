// Time series against the REAL workers under `wrangler dev` (after `make build`):
// GET /_switchyard/series/<route> counts the requests sent in their minute buckets and records
// the rollback as an event with the canary share after it; POST /validate?churn=1 compares the
// config in force with the posted one; the dashboard (headless Chromium) draws the real series
// and shows the rollback mark after the button is pressed. Screenshots of the overview and the
// route page go to .artifacts/browser/ (with UPDATE_SCREENSHOTS=1 the route page also to
// docs/img/dashboard-route-live.png, the README's).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, mkdirSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { useWorker, startOrigin, waitFor, originsBlock, ROOT } from './harness.mjs';

const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
const noBrowser = existsSync(CHROMIUM) ? false : `no Chromium at ${CHROMIUM}: apt-get install -y chromium`;
if (noBrowser) console.log(`# SKIPPED series browser test: ${noBrowser}`);
const VIEWER = 'series-viewer-token-0123456789abcdef';
const ctx = useWorker({ vars: { STATS_TICK_MS: '300', SWITCHYARD_TOKENS: `vic:viewer:${VIEWER}` } });
const BUCKET = 60_000;
const route = (name, strategy) => ({ name, match: { path_prefix: `/${name}` }, unit: [{ header: 'x-user-id' }], strategy });
let cfg;
const sent = { cn: 0, ab: 0 };

async function traffic(w, path, n, tag) {
  const rs = await Promise.all(Array.from({ length: n }, (_, i) => w.req(path, { method: 'POST', headers: { 'x-user-id': `${tag}-${i}`, 'content-type': 'application/json' }, body: '{}' })));
  for (const r of rs) assert.equal(r.status, 200);
}

const armRequests = (doc) => Object.values(doc.arms ?? {}).reduce((n, a) => n + a.requests, 0);
const seriesRequests = (doc) => doc.minutes.reduce((n, m) => n + Object.values(m.arms).reduce((k, a) => k + a.requests, 0), 0);

/** Waits until at least `margin` ms are left in the current minute. */
async function roomInMinute(margin = 20_000) {
  const left = BUCKET - (Date.now() % BUCKET);
  if (left < margin) await new Promise((r) => setTimeout(r, left + 1_000));
}

before(async () => {
  const w = await ctx.ready;
  const o = { stable: await startOrigin('stable'), canary: await startOrigin('canary'), a: await startOrigin('a'), b: await startOrigin('b') };
  cfg = {
    version: 1,
    origins: originsBlock(o),
    routes: [
      route('cn', { kind: 'canary', stable: 'stable', canary: 'canary', percent: 30, guard: { max_error_rate: 0.05, min_requests: 1000 } }),
      route('ab', { kind: 'ab', arms: [{ name: 'x', origin: 'a', weight: 1 }, { name: 'y', origin: 'b', weight: 1 }] }),
    ],
  };
  await w.putKV('config', `${JSON.stringify(cfg, null, 2)}\n`);
  await waitFor(async () => (await w.req('/_switchyard/status')).json().routes?.length === 2, 10000, { what: 'config in force' });
  // Two minutes of traffic: one batch, then another after the minute boundary, each waited
  // for in the route's object before the boundary passes.
  for (const [k, n] of [[0, 40], [1, 30]]) {
    if (k === 1) await new Promise((r) => setTimeout(r, BUCKET - (Date.now() % BUCKET) + 1_000));
    else await roomInMinute();
    await traffic(w, '/cn', n, `cn${k}`);
    await traffic(w, '/ab', n, `ab${k}`);
    sent.cn += n;
    sent.ab += n;
    await waitFor(async () => armRequests((await w.req('/_switchyard/stats/cn')).json()) >= sent.cn
      && armRequests((await w.req('/_switchyard/stats/ab')).json()) >= sent.ab, 15000, { what: `batch ${k} reported` });
  }
});

test('series API: minute buckets count the requests sent; shares, latency and the canary share', async () => {
  const w = ctx.worker;
  const r = await w.req('/_switchyard/series/ab');
  assert.equal(r.status, 200);
  const doc = r.json();
  assert.equal(doc.route, 'ab');
  assert.equal(doc.bucket_ms, BUCKET);
  assert.equal(seriesRequests(doc), sent.ab, 'every request in exactly one bucket');
  assert.ok(doc.minutes.length >= 2, `two minutes of traffic: ${JSON.stringify(doc.minutes.map((m) => m.t))}`);
  for (const m of doc.minutes) {
    assert.equal(m.t % BUCKET, 0);
    const shares = Object.values(m.arms).reduce((s, a) => s + a.share, 0);
    assert.ok(Math.abs(shares - 1) < 0.001, `shares of a minute sum to 1: ${shares}`);
    for (const a of Object.values(m.arms)) {
      for (const f of ['requests', 'errors', 'p50', 'p95', 'p99', 'reward_count', 'reward_sum', 'share']) assert.ok(f in a, f);
      assert.equal(a.errors, 0);
      assert.ok(a.p50 > 0 && a.p50 <= a.p95 && a.p95 <= a.p99, JSON.stringify(a));
    }
    assert.deepEqual(m.shadows, {});
  }
  assert.ok(doc.minutes.at(-1).t > doc.minutes[0].t);
  // The canary route: its share is recorded from the first tick (30 % configured).
  const cn = (await w.req('/_switchyard/series/cn')).json();
  assert.equal(seriesRequests(cn), sent.cn);
  assert.equal(cn.canary.at(-1).percent, 30);
  assert.deepEqual(cn.events, []);
  assert.deepEqual(cn.weights, []);
  // ?minutes=1: the current minute only (the last batch may already be a minute old).
  const one = (await w.req('/_switchyard/series/ab?minutes=1')).json();
  assert.ok(one.minutes.length <= 1);
  for (const bad of ['0', '1441', 'x']) {
    const b = await w.req(`/_switchyard/series/ab?minutes=${bad}`);
    assert.equal(b.status, 400);
    assert.equal(b.json().error.code, 'bad_minutes');
  }
  assert.equal((await w.req('/_switchyard/series/nope')).status, 404);
  assert.equal((await w.req('/_switchyard/series/ab', { method: 'POST', body: '{}' })).status, 405);
  // Viewer role reads it; no token is refused.
  assert.equal((await w.req('/_switchyard/series/ab', { headers: { authorization: `Bearer ${VIEWER}` } })).status, 200);
  assert.equal((await w.req('/_switchyard/series/ab', { auth: false })).status, 401);
});

test('validate?churn=1 compares the config in force with the posted one over 10,000 units', async () => {
  const w = ctx.worker;
  const next = structuredClone(cfg);
  next.routes[0].strategy.percent = 50;
  const r = await w.req('/_switchyard/validate?churn=1', { method: 'POST', body: JSON.stringify(next) });
  assert.equal(r.status, 200);
  const body = r.json();
  assert.equal(body.valid, true);
  assert.equal(body.written, false);
  assert.equal(body.churn.units, 10_000);
  const cn = body.churn.routes.find((x) => x.route === 'cn');
  assert.ok(cn.changed > 0.17 && cn.changed < 0.23, `30 % -> 50 % moves ~20 % of units: ${cn.changed}`);
  assert.equal(cn.matrix.canary.stable, 0, 'nobody leaves the canary');
  const ab = body.churn.routes.find((x) => x.route === 'ab');
  assert.equal(ab.changed, 0);
  assert.equal(ab.status, 'unchanged');
  // Without ?churn=1 the answer is as before; a viewer may not validate.
  assert.equal((await w.req('/_switchyard/validate', { method: 'POST', body: JSON.stringify(next) })).json().churn, undefined);
  assert.equal((await w.req('/_switchyard/validate?churn=1', { method: 'POST', body: JSON.stringify(next), headers: { authorization: `Bearer ${VIEWER}` } })).status, 403);
  // Nothing was written.
  assert.equal((await w.req('/_switchyard/config')).json().config.routes[0].strategy.percent, 30);
});

test('dashboard draws the real series; the rollback button puts a mark on the canary chart and an event in the API', { skip: noBrowser }, async () => {
  const w = ctx.worker;
  const { chromium } = await import('playwright-core');
  const profile = mkdtempSync(join(tmpdir(), 'sy-chromium-'));
  const browser = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    viewport: { width: 1440, height: 900 },
    colorScheme: 'light',
  });
  const problems = [];
  try {
    const page = browser.pages()[0] ?? await browser.newPage();
    page.on('pageerror', (e) => problems.push(e.message));
    page.on('dialog', (d) => d.accept());
    const shots = join(ROOT, '.artifacts/browser');
    mkdirSync(shots, { recursive: true });
    await page.goto(`${w.url}/_switchyard/dashboard/`);
    await page.waitForSelector('#token');
    await page.fill('#token', w.adminToken);
    await page.click('#token-form button[type=submit]');
    await page.waitForSelector('#health-cn');
    // The overview's sparkline is drawn from the series.
    await page.screenshot({ path: join(shots, 'live-overview.png'), fullPage: true });

    await page.click('#route-cn');
    await page.waitForSelector('#charts');
    for (const id of ['requests', 'errors', 'p95', 'canary']) {
      const chart = page.locator(`#chart-${id}`);
      assert.equal(await chart.getAttribute('data-empty'), null, `${id} chart has data`);
    }
    // Two minutes per arm: real lines, not dots.
    const d = await page.locator('#chart-requests path[d]').evaluateAll((ps) => ps.map((p) => p.getAttribute('d')).filter((x) => /L/.test(x)));
    assert.ok(d.length >= 2, `a line per arm in the requests chart: ${d.length}`);
    assert.ok(await page.locator('#chart-canary path[d]').count() >= 1, 'canary share drawn');
    assert.equal(await page.locator('#chart-canary .c-mark-rollback').count(), 0);

    await page.click('#rollback');
    await page.waitForFunction(() => document.querySelector('#route-state')?.textContent === 'Rolled back', null, { timeout: 15000 });
    await page.waitForSelector('#chart-canary .c-mark-rollback', { state: 'attached', timeout: 15000 });
    assert.match(await page.locator('#events').innerText(), /Rollback/);
    await page.screenshot({ path: join(shots, 'live-route.png'), fullPage: true });
    // The README's copy only on request (as scripts/browser-test.sh): a test run leaves the tree clean.
    if (process.env.UPDATE_SCREENSHOTS === '1') copyFileSync(join(shots, 'live-route.png'), join(ROOT, 'docs/img/dashboard-route-live.png'));
    assert.deepEqual(problems, []);
  } finally {
    await browser.close();
    rmSync(profile, { recursive: true, force: true });
  }
  // The API has the rollback with the canary share after it (0 %), and the share history.
  const s = (await w.req('/_switchyard/series/cn')).json();
  const rb = s.events.filter((e) => e.kind === 'rollback');
  assert.equal(rb.length, 1, JSON.stringify(s.events));
  assert.equal(rb[0].canary_percent, 0);
  assert.match(rb[0].detail, /operator/);
  assert.equal(s.canary.at(-1).percent, 0);
  assert.ok(s.canary.length >= 2);
  // A resume is the next event, back at 30 %.
  assert.equal((await w.req('/_switchyard/resume/cn', { method: 'POST' })).status, 200);
  const s2 = (await w.req('/_switchyard/series/cn')).json();
  assert.deepEqual(s2.events.map((e) => e.kind), ['rollback', 'resume']);
  assert.equal(s2.canary.at(-1).percent, 30);
});

