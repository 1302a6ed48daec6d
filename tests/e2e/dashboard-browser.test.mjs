// The dashboard in headless Chromium against the REAL workers under `wrangler dev` (after
// `make build`): served under the worker's headers, the sign-in card, sign in with
// ADMIN_TOKEN, health lines of live routes with each arm's origin and planned share, a route
// page, a rollback through the button, the config editor's server errors placed on their
// lines, review with the warning that the write undoes the rollback, apply, and the rollback
// really undone by the workers. Skipped (loudly) without Chromium.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { useWorker, startOrigin, waitFor, originsBlock, ROOT } from './harness.mjs';

const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
const skip = existsSync(CHROMIUM) ? false : `no Chromium at ${CHROMIUM}: apt-get install -y chromium`;
if (skip && process.env.REQUIRE_BROWSER === '1') throw new Error(`REQUIRE_BROWSER=1 (CI) but ${skip}`);
if (skip) console.log(`# SKIPPED dashboard-browser: ${skip}`);
const TOKEN = 'dash-browser-token-0123456789abcdef';
const ctx = useWorker({ vars: { ADMIN_TOKEN: TOKEN, STATS_TICK_MS: '300' } });
let browser;
let page;
let profile;
const problems = [];
const text = (sel) => page.locator(sel).innerText();

before(async () => {
  if (skip) return;
  const w = await ctx.ready;
  const o = { stable: await startOrigin('stable'), canary: await startOrigin('canary'), a: await startOrigin('a'), b: await startOrigin('b') };
  const route = (name, strategy) => ({ name, match: { path_prefix: `/${name}` }, unit: [{ header: 'x-user-id' }], strategy });
  const cfg = {
    version: 1,
    origins: originsBlock(o),
    routes: [
      route('cn', { kind: 'canary', stable: 'stable', canary: 'canary', percent: 30, guard: { max_error_rate: 0.05, min_requests: 1000 } }),
      route('exp', { kind: 'ab', arms: [{ name: 'x', origin: 'a', weight: 1 }, { name: 'y', origin: 'b', weight: 1 }] }),
    ],
  };
  await w.putKV('config', `${JSON.stringify(cfg, null, 2)}\n`);
  const auth = { authorization: `Bearer ${TOKEN}` };
  await waitFor(async () => (await w.req('/_switchyard/status', { headers: auth })).json().routes?.length === 2, 10000, { what: 'config in force' });
  const users = Array.from({ length: 60 }, (_, i) => `browser-user-${i}`);
  for (const path of ['/cn', '/exp']) {
    await Promise.all(users.map((u) => w.req(path, { method: 'POST', headers: { 'x-user-id': u, 'content-type': 'application/json' }, body: '{}' })));
  }
  await waitFor(async () => {
    const d = (await w.req('/_switchyard/stats/cn', { headers: auth })).json();
    return Object.values(d.arms ?? {}).reduce((n, a) => n + a.requests, 0) >= users.length;
  }, 10000, { what: 'stats for cn' });

  const { chromium } = await import('playwright-core');
  profile = mkdtempSync(join(tmpdir(), 'sy-chromium-'));
  browser = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    viewport: { width: 1440, height: 900 },
    colorScheme: 'light',
  });
  page = browser.pages()[0] ?? await browser.newPage();
  await page.addInitScript(() => {
    window.__csp = [];
    document.addEventListener('securitypolicyviolation', (e) => window.__csp.push(`${e.violatedDirective} ${e.blockedURI}`));
  });
  // 404s of endpoints not built yet, 401 before sign-in, 409/422 the test provokes.
  page.on('console', (m) => { if (m.type() === 'error' && !/status of (401|404|409|422)/.test(m.text())) problems.push(m.text()); });
  page.on('pageerror', (e) => problems.push(e.message));
  page.on('dialog', (d) => d.accept());
});
after(async () => {
  await browser?.close();
  if (profile) rmSync(profile, { recursive: true, force: true });
});

test('real workers: sign in, health lines, route page, rollback, config errors inline, review and apply', { skip }, async () => {
  const w = ctx.worker;
  await page.goto(`${w.url}/_switchyard/dashboard/`);
  await page.waitForSelector('#signin:not([hidden])');
  assert.match(await text('#signin'), /ADMIN_TOKEN=local-… into \.dev\.vars/);
  await page.fill('#token', TOKEN);
  await page.click('#token-form button[type=submit]');
  await page.waitForSelector('#health-cn');
  assert.equal(await page.evaluate(() => sessionStorage.getItem('switchyard.token')), TOKEN);
  assert.match(await text('#health-cn'), /Canary/i);
  assert.match(await text('#health-cn'), /30% · step 0/);
  assert.match(await text('#health-cn'), /^cn[\s\S]*Rolling out/, 'state from the serving arms');
  assert.match(await text('#arm-cn-canary'), /^canary\s+canary @ 127\.0\.0\.1:\d+\s+planned 30% · seen [\d.]+%\s+0\.0% err$/);
  assert.match(await text('#arm-exp-x'), /^x\s+a @ 127\.0\.0\.1:\d+\s+planned 50% · seen [\d.]+%\s+0\.0% err$/);
  assert.match(await text('#rate-cn'), /\/min now/);

  await page.click('#route-cn');
  await page.waitForSelector('#route-actions');
  const seriesAnswers = (await w.req('/_switchyard/series/cn', { headers: { authorization: `Bearer ${TOKEN}` } })).status === 200;
  if (seriesAnswers) {
    await page.waitForSelector('#charts');
    assert.equal(await page.locator('#chart-requests').getAttribute('data-empty'), null, 'requests chart has data');
  } else {
    assert.match(await text('#no-series'), /Time series unavailable/);
  }
  await page.click('#rollback');
  await page.waitForFunction(() => document.querySelector('#route-state')?.textContent === 'Rolled back', null, { timeout: 15000 });
  assert.doesNotMatch(await text('#verdict'), /leads/);
  if (seriesAnswers) assert.ok(await page.locator('#chart-canary .c-mark-rollback').count() >= 1, 'rollback mark');

  await page.click('#nav-config');
  await page.waitForSelector('#cfg');
  await page.locator('#cfg').evaluate((el) => {
    el.value = el.value.replace('"percent": 30', '"percent": 300');
    el.dispatchEvent(new Event('input', { bubbles: true }));
  });
  const line = await page.locator('#cfg').evaluate((el) => el.value.slice(0, el.value.indexOf('"percent": 300')).split('\n').length);
  await page.click('#review-btn');
  await page.waitForSelector('#cfg-errors li');
  assert.match(await text('#cfg-errors'), new RegExp(`line ${line}\\s+\\$\\.routes\\[0\\]\\.strategy\\.percent — `));
  await page.locator('#cfg').evaluate((el) => {
    el.value = el.value.replace('"percent": 300', '"percent": 40');
    el.dispatchEvent(new Event('input', { bubbles: true }));
  });
  await page.waitForFunction(() => !document.querySelector('#cfg-errors li'));
  await page.click('#review-btn');
  await page.waitForSelector('#review');
  assert.match(await text('#diff'), /\+\s+"percent": 40/);
  // cn was rolled back above: changing its strategy starts it afresh, and the review says so.
  assert.match(await text('#undo-warnings'), /This write undoes the rollback of "cn" \(.+\): its strategy changes, so the controller starts it afresh with 40% of its traffic on canary, the same origin that was rolled back\./);
  assert.equal(await page.locator('#apply').isDisabled(), true);
  await page.check('#undo-ack');
  await page.fill('#cfg-msg', 'browser e2e');
  await page.click('#apply');
  await page.waitForSelector('#applied');
  const auth = { authorization: `Bearer ${TOKEN}` };
  const kv = (await w.req('/_switchyard/config', { headers: auth })).json();
  assert.equal(kv.config.routes[0].strategy.percent, 40, 'written through the real API');
  // What the warning said happens: the route is no longer rolled back.
  await waitFor(async () => {
    const d = (await w.req('/_switchyard/stats/cn', { headers: auth })).json();
    return !d.controller?.rolled_back;
  }, 15000, { what: 'the rollback undone by the new strategy' });
  mkdirSync(join(ROOT, '.artifacts/browser'), { recursive: true });
  await page.screenshot({ path: join(ROOT, '.artifacts/browser/real-config.png'), fullPage: true });
  assert.deepEqual(await page.evaluate(() => window.__csp), []);
  assert.deepEqual(problems, []);
});
