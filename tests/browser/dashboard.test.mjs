// The operator dashboard in a real headless Chromium (Debian's `chromium`, driven by
// playwright-core) against the loopback mock control plane (tests/browser/mock-server.mjs):
// the sign-in card and where a token comes from; the overview's health lines (state from the
// serving arms, a disagreeing shadow as its own badge, each arm's origin and planned against
// seen share, rates that fall to 0, a config change that restarted the counts); route pages
// (charts whose axes fit, the config-change and rollback marks, one verdict per comparison,
// a `verdict` from the stats document used as is); the config editor (inline schema and
// server errors, review with diff, churn and the warning when a write undoes a rollback,
// apply, a racing write refused, revert, the template in an empty editor); a viewer's
// read-only view — all under the strict CSP, with no console error. Screenshots go to
// $ARTIFACTS_DIR (default .artifacts/browser/); UPDATE_SCREENSHOTS=1 also copies the ones
// docs/dashboard.md shows into docs/img/.
//
//   node --test tests/browser/        (or: sh scripts/browser-test.sh)
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, copyFileSync, mkdtempSync, rmSync, existsSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startMock } from './mock-server.mjs';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
const ARTIFACTS = process.env.ARTIFACTS_DIR ?? join(ROOT, '.artifacts/browser');
const ADMIN = 'test-admin-token';
const skip = !existsSync(CHROMIUM) ? `no Chromium at ${CHROMIUM} (apt-get install -y chromium, or set CHROMIUM)` : false;

let chromium;
let browser;
let mock;
let page;
let profile;
const problems = []; // console errors, page errors, CSP violations

async function launch() {
  ({ chromium } = await import('playwright-core'));
  profile = mkdtempSync(join(tmpdir(), 'sy-chromium-')); // a fresh --user-data-dir
  browser = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
    viewport: { width: 1440, height: 900 }, deviceScaleFactor: 1, colorScheme: 'light', timezoneId: 'UTC', locale: 'en-GB',
  });
}

async function newPage() {
  const p = browser.pages()[0] ?? await browser.newPage();
  await p.addInitScript(() => {
    window.__csp = [];
    document.addEventListener('securitypolicyviolation', (e) => window.__csp.push(`${e.violatedDirective} ${e.blockedURI}`));
  });
  p.on('console', (m) => { if (m.type() === 'error' && !/status of 40[1349]|status of 412|status of 422/.test(m.text())) problems.push(`console: ${m.text()}`); });
  p.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
  p.on('dialog', (d) => d.accept());
  return p;
}

const text = (sel) => page.locator(sel).innerText();
async function signIn(token) {
  if (await page.locator('#signout').isVisible()) await page.click('#signout');
  await page.waitForSelector('#signin:not([hidden])');
  await page.fill('#token', token);
  await page.click('#token-form button[type=submit]');
  await page.waitForSelector('#who:not([hidden])');
}
/** A percent tick label as a number ("1.25%" → 1.25). */
const pct = (s) => Number(s.replace('%', ''));
const tickLabels = (chart) => page.locator(`#chart-${chart} .c-tick .c-label`).allTextContents();
/** Opens a route page and waits for it (not the page that was there before). */
async function openRoute(name) {
  await page.goto(`${mock.dashboard}#/route/${name}`);
  await page.waitForFunction((n) => document.querySelector('.page-head h2')?.textContent === `Route ${n}` && document.querySelector('#charts'), name);
}
const hhmmOf = (t) => `${String(new Date(t).getUTCHours()).padStart(2, '0')}:${String(new Date(t).getUTCMinutes()).padStart(2, '0')}`; // the browser runs in UTC
async function shot(name, copyToDocs, height = 900) {
  mkdirSync(ARTIFACTS, { recursive: true });
  const file = join(ARTIFACTS, `${name}.png`);
  await page.setViewportSize({ width: 1440, height }); // full page, at least this tall
  await page.screenshot({ path: file, fullPage: true });
  await page.setViewportSize({ width: 1440, height: 900 });
  if (copyToDocs && process.env.UPDATE_SCREENSHOTS === '1') {
    mkdirSync(join(ROOT, 'docs/img'), { recursive: true });
    copyFileSync(file, join(ROOT, 'docs/img', `${name}.png`));
  }
  return file;
}
/** Runs `step` until it passes, at most 5 times (for steps a poll's redraw can interrupt). */
async function again(step) {
  for (let i = 1; ; i++) {
    try {
      return await step();
    } catch (e) {
      if (i >= 5) throw e;
      await page.waitForTimeout(200);
    }
  }
}
/** Sets the editor's text the way typing does (input event). */
async function setEditor(fn) {
  await page.locator('#cfg').evaluate((el, src) => {
    // eslint-disable-next-line no-new-func
    el.value = new Function('t', `return (${src})(t)`)(el.value);
    el.dispatchEvent(new Event('input', { bubbles: true }));
  }, fn.toString());
}
const lineOf = (needle) => page.locator('#cfg').evaluate((el, n) => el.value.slice(0, el.value.indexOf(n)).split('\n').length, needle);

before(async () => {
  if (skip) return;
  mock = await startMock();
  await launch();
  page = await newPage();
});
after(async () => {
  await browser?.close();
  await mock?.close();
  if (profile) rmSync(profile, { recursive: true, force: true });
});

test('sign-in card: where the token comes from, locally and deployed; a refused token is not kept', { skip }, async () => {
  await page.goto(mock.dashboard);
  await page.waitForSelector('#signin:not([hidden])');
  assert.equal(await page.locator('#main').isVisible(), false, 'no view behind the card');
  const card = await text('#signin');
  // Locally: what scripts/setup.sh really writes, and where.
  const setup = readFileSync(join(ROOT, 'scripts/setup.sh'), 'utf8');
  assert.match(setup, /ADMIN_TOKEN=local-%s/);
  assert.match(setup, /> \.dev\.vars/);
  assert.match(card, /make setup \(scripts\/setup\.sh\) writes a random ADMIN_TOKEN=local-… into \.dev\.vars/);
  assert.equal(await text('#local-cmd'), "sed -n 's/^ADMIN_TOKEN=//p' .dev.vars");
  // Deployed: the secret names and command of docs/operator-api.md.
  const ops = readFileSync(join(ROOT, 'docs/operator-api.md'), 'utf8');
  const deploy = await text('#deploy-cmd');
  assert.equal(deploy, 'npx wrangler secret put ADMIN_TOKEN -c wrangler.stats.toml');
  assert.ok(ops.includes(deploy.replace(/^npx /, '')), 'the command docs/operator-api.md gives');
  assert.match(card, /name:role:token entry of SWITCHYARD_TOKENS \(npx wrangler secret put SWITCHYARD_TOKENS -c wrangler\.stats\.toml/);
  assert.ok(ops.includes('SWITCHYARD_TOKENS'));
  await shot('dashboard-signin', true, 640);
  // A token the server refuses: said so, and not kept.
  await page.fill('#token', 'not-a-token');
  await page.click('#token-form button[type=submit]');
  await page.waitForSelector('#signin-problem:not([hidden])');
  assert.match(await text('#signin-problem'), /Token not accepted: Unauthorized/);
  assert.equal(await page.evaluate(() => sessionStorage.getItem('switchyard.token')), null);
  await signIn(ADMIN);
  assert.match(await text('#role'), /admin · admin/);
  const stored = await page.evaluate(() => ({ s: sessionStorage.getItem('switchyard.token'), l: JSON.stringify(localStorage) }));
  assert.equal(stored.s, ADMIN);
  assert.doesNotMatch(stored.l, /test-admin-token/, 'never in localStorage');
  assert.equal(await page.locator('#signin').isVisible(), false);
});

test('overview: state from the serving arms, shadows apart, arms with origin and planned vs seen share, rates from now', { skip }, async () => {
  await page.waitForSelector('#health-fraud');
  assert.equal(await page.locator('#health tbody tr').count(), 5);
  // fraud: a canary within its guard whose mirrored model disagrees — not "Unhealthy".
  const fraud = page.locator('#health-fraud');
  assert.equal(await fraud.getAttribute('data-state'), 'Rolling out');
  assert.doesNotMatch(await fraud.innerText(), /Unhealthy/);
  assert.doesNotMatch(await fraud.getAttribute('class'), /row-bad/);
  assert.equal(await text('#shadow-fraud'), 'shadow disagrees: 86% agree');
  assert.match(await page.locator('#shadow-fraud').getAttribute('title'), /fraud-v3 agrees on 86\.1%.*serves no user/);
  assert.match(await text('#health-fraud td.alerts'), /^none$/, 'no serving signal');
  // Each arm: origin and host, planned against seen share.
  assert.match(await text('#arm-fraud-stable'), /^stable\s+fraud-v1 @ 127\.0\.0\.1:9001\s+planned 50% · seen [\d.]+%\s+0\.4% err$/);
  const seen = Number((await text('#arm-fraud-canary')).match(/seen (\d+)%/)[1]);
  assert.ok(seen >= 40 && seen <= 60, `canary seen ${seen}%`);
  // checkout: serving arms fine (Healthy) but the split is off (SRM): attention, planned 50 / seen 60.
  const checkout = page.locator('#health-checkout');
  assert.equal(await checkout.getAttribute('data-state'), 'Healthy');
  assert.match(await checkout.getAttribute('class'), /row-bad/);
  assert.match(await checkout.innerText(), /Sample ratio mismatch/);
  assert.match(await text('#arm-checkout-control'), /planned 50% · seen 60%/);
  assert.match(await text('#arm-checkout-treatment'), /planned 50% · seen 40%/);
  // The counts restarted 40 minutes ago: said beside the number.
  assert.equal(await text('#restart-checkout'), `since ${hhmmOf(mock.fixtureNow - 40 * 60_000)}: config changed`);
  assert.match(await checkout.innerText(), /^checkout[\s\S]*3,964/);
  // ranker: a bandit at its weights, its shadow disagrees: Healthy with the badge.
  assert.equal(await page.locator('#health-ranker').getAttribute('data-state'), 'Healthy');
  assert.equal(await text('#shadow-ranker'), 'shadow disagrees: 76% agree');
  assert.match(await text('#arm-ranker-b'), /planned 95% · seen [\d.]+%/);
  // search: traffic stopped 20 minutes ago: the rate is 0 now, and says when the last request came.
  assert.match(await text('#rate-search'), /^0\.0\/min now · last request 20m \d+s ago$/);
  assert.match(await text('#arm-search-blue'), /^blue\s+search-2024 @ search-2024\.internal:8443\s+planned 100% · seen 100%/);
  assert.match(await text('#arm-search-green'), /planned 0% · seen 0%/);
  assert.match(await page.locator('#arm-search-blue .origin').getAttribute('title'), /https:\/\/search-2024\.internal:8443 — BM25 ranker/);
  assert.match(await text('#rate-fraud'), /^\d+\.\d\/min now$/);
  assert.equal(await page.locator('#health-fresh').getAttribute('data-state'), 'No traffic');
  assert.equal(await text('#attention'), '1 need attention', 'only checkout (SRM)');
  assert.equal(await text('#shadow-count'), '2 shadows disagree');
  // Sparklines: the last hour up to now, a point a minute.
  const d = await page.locator('#health-fraud svg.spark path.c-line').getAttribute('d');
  assert.equal(d.split('L').length, 60, 'a sparkline with a point per minute of the last hour');
  const ys = new Set(d.split(/[ML]/).filter(Boolean).map((p) => p.split(' ')[1]));
  assert.ok(ys.size > 10, `the fixture's traffic drawn, not a flat line (${ys.size} levels)`);
  assert.equal(await text('#canary-fraud'), 'canary 50% · step 2/3');
  await shot('dashboard-overview', true, 600);
});

test('route page: arms with origins and shares, charts that fit, a rollback mark, one verdict', { skip }, async () => {
  await page.click('#route-fraud');
  await page.waitForSelector('#charts');
  assert.equal(await text('#route-state'), 'Rolling out');
  assert.equal(await text('#route-shadow'), 'shadow disagrees: 86% agree');
  assert.match(await text('#route-alerts'), /Shadow fraud-v3 agreement 86\.1% — a mirrored copy that serves no user/);
  assert.equal(await page.locator('#plan-canary').getAttribute('data-planned'), '0.5');
  assert.match(await text('#plan-canary'), /^canary\s+fraud-v2\s+127\.0\.0\.1:9002\s+50%\s+\d+%\s+[\d,]+\s+1\.64%$/);
  assert.match(await text('#arms-plan'), /Seen \(last 15 min\)/i);
  // The release pipeline: stages in order, the current one marked, what it waits for.
  const stages = await page.locator('#pipeline li.stage').evaluateAll((ls) => ls.map((l) => [l.className, l.querySelector('b').textContent]));
  assert.deepEqual(stages, [['stage done', 'Step 1 · 20%'], ['stage current', 'Step 2 · 50%'], ['stage next', 'Step 3 · 100%'], ['stage next', 'Promoted · 100%']]);
  assert.equal(await page.locator('#pipeline li[aria-current="step"]').count(), 1);
  assert.equal(await text('#pipeline-now'), "At Step 2 · 50% — waiting for the step's hold: 7 s left");
  for (const id of ['requests', 'errors', 'p95', 'canary', 'shadow']) {
    const svg = page.locator(`#chart-${id}`);
    assert.equal(await svg.getAttribute('data-empty'), null, `${id} chart has data`);
    const paths = await svg.locator('path.c-line').evaluateAll((ps) => ps.map((p) => p.getAttribute('d')));
    assert.ok(paths.length >= 1 && paths.every((x) => x.length > 20), `${id}: ${paths.length} non-empty lines`);
    const box = await svg.boundingBox();
    assert.ok(box.width > 300 && box.height > 80, `${id} rendered at ${box.width}×${box.height}`);
  }
  assert.equal(await page.locator('#chart-requests path.c-line').count(), 2, 'one line per arm');
  assert.match(await page.locator('#card-errors').innerText(), /guard 5\.0%/);
  // Axes fit: error rate from 0 to about the guard; requests in whole numbers from 0.
  const err = (await tickLabels('errors')).map(pct);
  assert.equal(err[0], 0);
  assert.ok(err.every((x) => x >= 0) && err.at(-1) >= 5 && err.at(-1) <= 10, err.join(','));
  const req = (await tickLabels('requests')).map((x) => Number(x.replace(/,/g, '')));
  assert.equal(req[0], 0);
  assert.ok(req.every(Number.isInteger), req.join(','));
  assert.equal(await page.locator('#chart-canary .c-mark-step').count(), 2, 'the two steps are marked');
  assert.equal(await page.locator('#chart-canary .c-mark-rollback').count(), 0);
  // Hover read-out (the page redraws its charts when it polls: a redraw between the steps
  // replaces the element, so the hover is tried again).
  await again(async () => {
    await page.locator('#chart-requests').scrollIntoViewIfNeeded({ timeout: 2000 });
    const box = await page.locator('#chart-requests').boundingBox();
    await page.mouse.move(box.x + box.width * 0.6, box.y + box.height / 2);
    assert.match(await page.locator('#card-requests .tip').innerText({ timeout: 2000 }), /stable: \d+/);
  });
  // No feedback on this canary: no rate, no P(beat), one verdict saying why.
  assert.match(await text('#comparisons'), /canary\s+Inconclusive\s+always-valid \(sequential\) test: no feedback yet/);
  await page.click('#other-stats-s');
  assert.match(await text('#other-stats-table'), /canary\s+—\s+—\s+—\s+12/);
  await page.locator('#other-stats').evaluate((d) => { d.open = false; });
  assert.equal(await page.locator('#resume').isDisabled(), true);

  await page.click('#rollback');
  await page.waitForFunction(() => document.querySelector('#route-state')?.textContent === 'Rolled back');
  assert.equal(await page.locator('#chart-canary .c-mark-rollback').count(), 1, 'rollback mark on the canary chart');
  assert.equal(await page.locator('#chart-errors .c-mark-rollback').count(), 1, 'and on the error-rate chart');
  assert.equal(await page.locator('#chart-canary .c-mark-rollback .c-mark-label').innerHTML(), 'rollback');
  const verdict = await text('#verdict');
  assert.match(verdict, /rolled back/i);
  assert.doesNotMatch(verdict, /leads|beats/);
  assert.match(await text('#comparisons'), /canary\s+Inconclusive\s+rolled back: no result is declared/);
  assert.equal(await page.locator('#plan-canary').getAttribute('data-planned'), '0', 'planned: nothing on the canary now');
  assert.match(await text('#route-alerts'), /Rolled back: operator rollback by admin/);
  assert.match(await text('#pipeline-now'), /^Rolled back at Step 2 · 50% — waiting for an operator's resume/);
  assert.equal(await page.locator('#pipeline li.stage.failed').count(), 1);
  assert.match(await text('#events'), /Rollback/);
  // Hovering the right edge reads the rollback out of the chart.
  await again(async () => {
    await page.locator('#chart-canary').scrollIntoViewIfNeeded({ timeout: 2000 });
    const cb = await page.locator('#chart-canary').boundingBox();
    await page.mouse.move(cb.x + cb.width * 0.985, cb.y + cb.height / 2);
    assert.match(await page.locator('#card-canary .tip').innerText({ timeout: 2000 }), /Rollback → 0%: operator rollback by admin/);
  });
  assert.equal(await page.locator('#rollback').isDisabled(), true);
  assert.equal(await page.locator('#resume').isDisabled(), false);
  const post = mock.state.requests.find((r) => r.method === 'POST' && r.path === '/_switchyard/rollback/fraud');
  assert.equal(post.headers.authorization, `Bearer ${ADMIN}`);
  await page.mouse.move(0, 0);
  await shot('dashboard-route', true);
  // Back on the overview the route is flagged.
  await page.click('#nav-overview');
  await page.waitForSelector('#health-fraud');
  assert.match(await text('#health-fraud'), /Rolled back: operator rollback by admin/);
  assert.equal(await page.locator('#health-fraud').getAttribute('data-state'), 'Rolled back');
  assert.match(await text('#arm-fraud-canary'), /planned 0%/);
  await shot('dashboard-overview-rolled-back', false, 600);
});

test('route page after a config change: the mark, the restarted counts said in words, one verdict per comparison', { skip }, async () => {
  await openRoute('checkout');
  const at = hhmmOf(mock.fixtureNow - 40 * 60_000);
  assert.match(await text('#restart-note'), new RegExp(`^Counts restarted at ${at}: the route's strategy changed\\. The numbers on this page count from then \\(3,964 requests\\); the [\\d,]+ requests before it are in the charts only`));
  const before = Number((await text('#restart-note')).match(/the ([\d,]+) requests before it/)[1].replace(/,/g, ''));
  assert.ok(before > 7000, String(before));
  assert.match(await text('#kpi-requests'), new RegExp(`Requests since ${at}\\s+3,964`, 'i'));
  assert.equal(await page.locator('#chart-requests .c-mark-config').count(), 1, 'the config change on the requests chart');
  assert.equal(await page.locator('#chart-requests .c-mark-config .c-mark-label').innerHTML(), 'config changed: counts restart');
  assert.match(await page.locator('#chart-requests .c-mark-config title').innerHTML(), /Config change: strategy changed \(fingerprint 9c1d2e3f4a5b/);
  assert.match(await page.locator('#arms-table caption').innerText(), new RegExp(`counted since ${at}, when the strategy changed`));
  // Planned 50/50 against a seen 60/40.
  assert.equal(await page.locator('#plan-control').getAttribute('data-planned'), '0.5');
  assert.ok(Math.abs(Number(await page.locator('#plan-control').getAttribute('data-observed')) - 0.6) < 0.03);
  assert.equal(await page.locator('#plan-control td.tone-warn').count(), 1, 'a seen share far from the plan is highlighted');
  // One verdict: the SRM makes it inconclusive, and the row says so.
  assert.match(await text('#comparisons'), /treatment\s+Inconclusive\s+always-valid \(sequential\) test: sample ratio mismatch/);
  await shot('dashboard-route-config-change', false);

  // The case that used to show three verdicts side by side: z-test p < 0.001 and P(beat) 100 %
  // with an always-valid p of 0.251. One verdict, and no rival number beside it.
  const doc = structuredClone(mock.state.stats.checkout);
  doc.experiment.srm = { chi2: 0.4, df: 1, p_value: 0.53, mismatch: false };
  doc.experiment.arms.treatment = {
    comparison: { n: 196, conversions: 84, rate: 0.429, ci95: { lower: 0.36, upper: 0.5 }, z_test: { diff: 0.303, z: 6.8, p_value: 1e-11, diff_ci: { lower: 0.22, upper: 0.38 } }, prob_beat_control: 1 },
    sequential: { always_valid_p_value: 0.251, significant: false, looks: 9 },
  };
  doc.experiment.control_rate = 0.126;
  Object.assign(doc.arms.control, { requests: 215, rewards: { count: 215, sum: 27, mean: 0.126, variance: 0.11 } });
  Object.assign(doc.arms.treatment, { requests: 196, rewards: { count: 196, sum: 84, mean: 0.429, variance: 0.245 } });
  mock.state.stats.checkout = doc;
  await page.click('#refresh');
  await page.waitForFunction(() => /0\.251/.test(document.querySelector('#comparisons')?.textContent ?? ''));
  const row = await text('#comparisons tbody tr');
  assert.match(row, /^treatment\s+Inconclusive\s+always-valid \(sequential\) test: p = 0\.251 > 0\.05: keep collecting\s+\+30\.3 pp/);
  assert.equal(await page.locator('#comparisons tbody tr').count(), 1, 'one row, one verdict');
  assert.match(await text('#verdict'), /^Inconclusive: no arm differs from control "control" yet/);
  const visible = await page.locator('#experiment').evaluate((el) => [...el.querySelectorAll('table, p')].filter((x) => x.checkVisibility()).map((x) => x.innerText).join('\n'));
  assert.doesNotMatch(visible, /< 0\.001|100\.0%|not significant/, 'no "not significant" beside p < 0.001 and 100 % P(beat)');
  assert.equal(await page.locator('#other-stats').getAttribute('open'), null, 'the descriptive numbers stay folded');

  // A verdict the stats document states is shown as it is, with its test.
  doc.experiment.arms.treatment.verdict = { result: 'winner', test: 'sequential test on units', p_value: 0.004 };
  doc.experiment.arms.treatment.units = 190;
  await page.click('#refresh');
  await page.waitForFunction(() => /Winner/.test(document.querySelector('#comparisons')?.textContent ?? ''));
  assert.match(await text('#comparisons tbody tr'), /^treatment\s+Winner\s+sequential test on units: p = 0\.0040/);
  assert.equal(await page.locator('#comparisons td.verdict.tone-ok').count(), 1);
  assert.match(await text('#verdict'), /"treatment" beats control "control" \(decided by the sequential test on units\)/);
  assert.match(await text('#arms-table'), /^treatment\s+196\s+190\s/m, 'units beside requests');
  mock.state.stats.checkout = structuredClone(mock.initialStats.checkout);
});

test('route page after traffic stopped: 0/min with the time of the last request; a 0 % error chart spans 0 to 1 %', { skip }, async () => {
  for (const m of mock.state.series.search.minutes) m.arms.blue.errors = 0; // no errors at all
  await openRoute('search');
  assert.match(await text('#kpi-requests'), /2,013\s+0\.0\/min now · last request 20m \d+s ago/);
  const err = await tickLabels('errors');
  assert.equal(err[0], '0.00%');
  assert.equal(err.at(-1), '1.00%');
  assert.ok(err.map(pct).every((x) => x >= 0), err.join(','));
  // The requests line runs to now and ends at 0: the minutes without traffic are drawn as 0.
  const ends = await page.locator('#chart-requests').evaluate((svg) => {
    const d = svg.querySelector('path.c-line').getAttribute('d');
    const y = Number(d.match(/(-?[\d.]+)$/)[1]);
    return { y, base: Number(svg.querySelector('.c-axis').getAttribute('y1')) };
  });
  assert.equal(ends.y, ends.base, 'the last point sits on the zero line');
  assert.match(await text('#plan-blue'), /^blue\s+search-2024\s+BM25 ranker, index of 2024-06\s+search-2024\.internal:8443\s+100%\s+100%/);
  assert.match(await text('#arms-plan'), /Seen \(counts\)/i, 'nothing in the last 15 minutes: the counts');
});

test('config editor: inline errors, review with diff, churn and the rollback warning, apply, 412, revert', { skip }, async () => {
  await page.click('#nav-config');
  await page.waitForSelector('#history-table');
  assert.match(await text('#cfg-state'), /Schema-valid/);
  assert.match(await text('#history-table'), /add the search and fresh routes/);
  assert.equal(await page.locator('#template-note').count(), 0, 'a config is in KV: no template');

  // An invalid edit: the schema error shows next to its line, before anything is sent.
  const sent = mock.state.requests.length;
  await setEditor((t) => t.replace('"percent": 5,', '"percent": 150,'));
  const line = await lineOf('"percent": 150,');
  await page.waitForSelector('#cfg-errors li');
  assert.match(await text('#cfg-errors'), new RegExp(`line ${line}\\s+\\$\\.routes\\[0\\]\\.strategy\\.percent — must be at most 100`));
  assert.match(await page.locator('#gutter .ln.err').first().innerText(), new RegExp(`● ${line}$`));
  // The line link selects the line in the editor and scrolls it into view.
  await page.click('#cfg-errors li button');
  const sel = await page.locator('#cfg').evaluate((el) => ({ line: el.value.slice(0, el.selectionStart).split('\n').length, text: el.value.slice(el.selectionStart, el.selectionEnd), top: el.scrollTop }));
  assert.equal(sel.line, line);
  assert.match(sel.text, /"percent": 150,/);
  assert.ok(sel.top > 0, 'scrolled to the line');
  await page.click('#review-btn');
  assert.match(await text('#cfg-out'), /Fix the problems above first/);
  assert.equal(mock.state.requests.slice(sent).filter((r) => r.method !== 'GET').length, 0, 'nothing sent');
  await shot('dashboard-config-error', false);

  // An error only the server knows (stable = canary): placed on its line after review.
  await setEditor((t) => t.replace('"percent": 150,', '"percent": 5,').replace('"canary": "fraud-v2"', '"canary": "fraud-v1"'));
  await page.waitForFunction(() => !document.querySelector('#cfg-errors li'));
  await page.click('#review-btn');
  await page.waitForSelector('#cfg-errors li');
  const cline = await lineOf('"canary": "fraud-v1"');
  assert.match(await text('#cfg-errors'), new RegExp(`line ${cline}\\s+\\$\\.routes\\[0\\]\\.strategy\\.canary — canary and stable must be different origins`));

  // fraud was rolled back (the route-page test). A write that leaves its strategy alone keeps
  // the rollback: a note, and Apply is enabled.
  await setEditor((t) => t.replace('"canary": "fraud-v1"', '"canary": "fraud-v2"').replace('"path_prefix": "/v1/fresh"', '"path_prefix": "/v1/fresh-v2"'));
  await page.click('#review-btn');
  await page.waitForSelector('#review');
  assert.match(await text('#undo-warnings'), /^"fraud" stays rolled back: this write leaves its strategy as it is\.$/);
  assert.equal(await page.locator('#apply').isDisabled(), false);

  // A valid edit that changes the rolled-back canary's strategy: the review warns that it puts
  // the canary back, and Apply waits for an explicit yes.
  await setEditor((t) => t.replace('"percent": 5,', '"percent": 10,'));
  assert.equal(await page.locator('#apply').isDisabled(), true, 'the text changed: review again');
  await page.click('#review-btn');
  await page.waitForSelector('#undo-ack');
  assert.equal(await text('#undo-warnings .undo-bad'), 'This write undoes the rollback of "fraud" (operator rollback by admin): its strategy changes, so the controller starts it afresh with 10% of its traffic on fraud-v2, the same origin that was rolled back.');
  assert.equal(await page.locator('#apply').isDisabled(), true, 'not before the box is ticked');
  assert.match(await text('#diff'), /-\s+"percent": 5,/);
  assert.match(await text('#diff'), /\+\s+"percent": 10,/);
  assert.match(await text('#churn'), /fraud\s+5\.00%\s+stable→canary 5,000/);
  await page.fill('#cfg-msg', 'canary to 10% for the night shift');
  await page.check('#undo-ack');
  assert.equal(await page.locator('#apply').isDisabled(), false);
  await shot('dashboard-config-review', true);
  await page.click('#apply');
  await page.waitForSelector('#applied');
  assert.match(await text('#applied'), /version 4/);
  const put = mock.state.requests.findLast((r) => r.method === 'PUT');
  assert.equal(put.headers['if-match'], '"3"', 'compare-and-set on the loaded version');
  assert.match(await text('#hist-4'), /admin\s+canary to 10% for the night shift/);
  assert.match(await text('#hist-4'), /in force/);

  // A racing write (someone else wrote version 5): 412, nothing written, the edit kept.
  mock.state.history.unshift({ ...mock.state.history[0], version: 5, by: 'alice', message: 'concurrent edit', at: mock.state.history[0].at + 1 });
  await setEditor((t) => t.replace('"percent": 10,', '"percent": 15,'));
  await page.click('#review-btn');
  await page.waitForSelector('#undo-ack');
  await page.check('#undo-ack');
  await page.click('#apply');
  await page.waitForSelector('#conflict');
  assert.equal(mock.state.history[0].version, 5, 'nothing written');
  assert.match(await page.locator('#cfg').inputValue(), /"percent": 15,/, 'the edit is kept');

  // Revert to version 3: restored exactly, recorded as version 6.
  await page.click('#reload');
  await page.waitForSelector('#revert-3');
  await page.click('#revert-3');
  await page.waitForSelector('#reverted');
  assert.equal(mock.state.history[0].text, mock.state.history.find((x) => x.version === 3).text);
  assert.match(await text('#hist-6'), /revert to version 3/);
  assert.match(await page.locator('#cfg').inputValue(), /"percent": 5,/);
});

test('an empty KV: the editor holds a valid template that can be applied as the first version', { skip }, async () => {
  const fresh = await startMock({ empty: true });
  try {
    await page.goto(`${fresh.dashboard}#/config`);
    await signIn(ADMIN);
    await page.waitForSelector('#template-note');
    assert.match(await text('#template-note'), /No config in KV yet\. The editor holds a template/);
    const tpl = await page.locator('#cfg').inputValue();
    const doc = JSON.parse(tpl);
    assert.equal(doc.routes[0].strategy.kind, 'canary');
    assert.match(await text('#cfg-state'), /Schema-valid/, 'valid against config.schema.json in the browser');
    await page.click('#review-btn');
    await page.waitForSelector('#review');
    assert.match(await text('#review'), /Valid/);
    assert.match(await text('#diff'), /\+\s+"kind": "canary",/);
    await page.click('#apply');
    await page.waitForSelector('#applied');
    assert.match(await text('#applied'), /version 1/);
    assert.equal(fresh.state.history[0].text, tpl, 'the template as written');
    // Cleared by hand: the Template button puts it back.
    await setEditor(() => '');
    await page.click('#use-template');
    assert.equal(await page.locator('#cfg').inputValue(), tpl);
    await shot('dashboard-config-template', false);
  } finally {
    await fresh.close();
  }
});

test('a viewer sees everything and can change nothing', { skip }, async () => {
  await page.goto(mock.dashboard);
  await signIn('test-viewer-token');
  assert.match(await text('#role'), /vera · viewer/);
  await page.goto(`${mock.dashboard}#/config`);
  await page.waitForSelector('#history-table');
  assert.equal(await page.locator('#cfg').getAttribute('readonly'), '');
  assert.equal(await page.locator('#revert-1').isDisabled(), true);
  assert.equal(await page.locator('#use-template').isDisabled(), true);
  await page.goto(`${mock.dashboard}#/route/checkout`);
  await page.waitForSelector('#charts');
  assert.equal(await page.locator('#promote').isDisabled(), true);
  assert.match(await page.locator('#promote').getAttribute('title'), /operator role/);
});

test('without /status, schema and churn support: routes from the config, server errors inline, diff only', { skip }, async () => {
  const bare = await startMock({ status: false, schema: false, churn: false });
  try {
    await page.goto(bare.dashboard);
    await signIn('test-operator-token');
    assert.match(await text('#role'), /otto · operator/);
    await page.waitForSelector('#health-fraud');
    assert.equal(await page.locator('#health tbody tr').count(), 5, 'routes from GET /config');
    await page.goto(`${bare.dashboard}#/config`);
    await page.waitForSelector('#history-table');
    assert.match(await page.locator('.page-head').innerText(), /schema errors come from the server/);
    assert.equal(await page.locator('#cfg').getAttribute('readonly'), '', 'an operator cannot write the config');
    // Syntax errors are still caught in the browser, with their line.
    await setEditor((t) => t.replace('"version": 1,', '"version": 1,,'));
    await page.waitForSelector('#cfg-errors li');
    assert.match(await text('#cfg-errors'), /line 2\s+\$ — not valid JSON/);
    // A schema error is found by the server and placed on its line.
    await setEditor((t) => t.replace('"version": 1,,', '"version": 1,').replace('"percent": 5,', '"percent": 150,'));
    await page.waitForFunction(() => !document.querySelector('#cfg-errors li'));
    await page.click('#review-btn');
    await page.waitForSelector('#cfg-errors li');
    const line = await lineOf('"percent": 150,');
    assert.match(await text('#cfg-errors'), new RegExp(`line ${line}\\s+\\$\\.routes\\[0\\]\\.strategy\\.percent — must be at most 100`));
    assert.match(await text('#cfg-errors'), /from the server validator/);
    // Valid: the diff, and a clear note that churn needs server support.
    await setEditor((t) => t.replace('"percent": 150,', '"percent": 7,'));
    await page.click('#review-btn');
    await page.waitForSelector('#review');
    assert.match(await text('#diff'), /\+\s+"percent": 7,/);
    assert.match(await text('#churn-none'), /does not compute churn/);
    assert.equal(await page.locator('#apply').isDisabled(), true, 'operators review, admins apply');
  } finally {
    await bare.close();
  }
});

test('a server without /whoami: role shown as unknown, nothing disabled, the server decides', { skip }, async () => {
  const old = await startMock({ whoami: false });
  try {
    await page.goto(`${old.dashboard}#/route/fraud`);
    await signIn(ADMIN);
    assert.match(await text('#role'), /token · unknown/);
    await page.waitForSelector('#charts');
    assert.equal(await page.locator('#rollback').isDisabled(), false);
  } finally {
    await old.close();
  }
});

test('no console errors and no CSP violation on any page', { skip }, async () => {
  const csp = await page.evaluate(() => window.__csp);
  assert.deepEqual(csp, []);
  assert.deepEqual(problems, []);
});
