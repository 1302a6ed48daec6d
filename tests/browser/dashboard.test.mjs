// The operator dashboard in a real headless Chromium (Debian's `chromium`, driven by
// playwright-core) against the loopback mock control plane (tests/browser/mock-server.mjs):
// sign in with a token, the overview's health lines, a route's charts with data, rollback and
// its mark on the chart, the config editor's inline errors (schema and server), review with
// diff and churn, apply into the history, a racing write refused, revert, a viewer's read-only
// view — all under the strict CSP, with no console error. Screenshots go to
// $ARTIFACTS_DIR (default .artifacts/browser/), copies of two into docs/img/ when
// UPDATE_SCREENSHOTS=1.
//
//   node --test tests/browser/        (or: sh scripts/browser-test.sh)
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, copyFileSync, mkdtempSync, rmSync, existsSync } from 'node:fs';
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
  await page.fill('#token', token);
  await page.click('#token-form button[type=submit]');
  await page.waitForSelector('#who:not([hidden])');
}
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

test('sign in: token for the tab only, role shown, overview health lines', { skip }, async () => {
  await page.goto(mock.dashboard);
  await page.waitForSelector('#view-error');
  assert.match(await text('#view-error'), /Unauthorized/);
  await signIn(ADMIN);
  assert.match(await text('#role'), /admin · admin/);
  const stored = await page.evaluate(() => ({ s: sessionStorage.getItem('switchyard.token'), l: JSON.stringify(localStorage) }));
  assert.equal(stored.s, ADMIN);
  assert.doesNotMatch(stored.l, /test-admin-token/, 'never in localStorage');
  await page.waitForSelector('#health-fraud');
  assert.equal(await page.locator('#health tbody tr').count(), 4);
  const fraud = await text('#health-fraud');
  assert.match(fraud, /Rolling out/);
  assert.match(fraud, /50% · step 2\/3/);
  assert.match(fraud, /canary\s+1\.6%/);
  const checkout = page.locator('#health-checkout');
  assert.match(await checkout.innerText(), /Sample ratio mismatch/);
  assert.match(await checkout.getAttribute('class'), /row-bad/);
  const ranker = await text('#health-ranker');
  assert.match(ranker, /Shadow candidate agreement 76\.0%/);
  assert.match(await text('#health-fresh'), /No traffic/);
  // Sparklines drew a line from the series.
  const d = await page.locator('#health-fraud svg.spark path.c-line').getAttribute('d');
  assert.equal(d.split('L').length, 60, 'a sparkline with a point per minute of the last hour');
  assert.match(await text('#attention'), /need attention/);
  await shot('dashboard-overview-live', false, 480);
});

test('route page: charts with data, then a rollback appears as a mark and in the verdict', { skip }, async () => {
  await page.click('#route-fraud');
  await page.waitForSelector('#charts');
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
  assert.equal(await page.locator('#chart-canary .c-mark-step').count(), 2, 'the two steps are marked');
  assert.equal(await page.locator('#chart-canary .c-mark-rollback').count(), 0);
  // Hover read-out.
  const box = await page.locator('#chart-requests').boundingBox();
  await page.mouse.move(box.x + box.width * 0.6, box.y + box.height / 2);
  assert.match(await page.locator('#card-requests .tip').innerText(), /stable: \d+/);
  assert.equal(await page.locator('#resume').isDisabled(), true);

  await page.click('#rollback');
  await page.waitForFunction(() => document.querySelector('#route-state')?.textContent === 'Rolled back');
  assert.equal(await page.locator('#chart-canary .c-mark-rollback').count(), 1, 'rollback mark on the canary chart');
  assert.ok(await page.locator('#chart-errors .c-mark-rollback').count() === 1, 'and on the error-rate chart');
  const verdict = await text('#verdict');
  assert.match(verdict, /rolled back/i);
  assert.doesNotMatch(verdict, /leads/);
  assert.match(await text('#route-alerts'), /Rolled back: operator rollback by admin/);
  assert.match(await text('#events'), /Rollback/);
  // Hovering the right edge reads the rollback out of the chart.
  const cb = await page.locator('#chart-canary').boundingBox();
  await page.mouse.move(cb.x + cb.width * 0.985, cb.y + cb.height / 2);
  assert.match(await page.locator('#card-canary .tip').innerText(), /Rollback → 0%: operator rollback by admin/);
  assert.equal(await page.locator('#rollback').isDisabled(), true);
  assert.equal(await page.locator('#resume').isDisabled(), false);
  const post = mock.state.requests.find((r) => r.method === 'POST' && r.path === '/_switchyard/rollback/fraud');
  assert.equal(post.headers.authorization, `Bearer ${ADMIN}`);
  await page.mouse.move(0, 0);
  await shot('dashboard-route', true);
  // Back on the overview the route is flagged.
  await page.click('#nav-overview');
  await page.waitForSelector('#health-fraud');
  assert.match(await text('#health-fraud'), /Rolled back/);
  assert.match(await text('#health-fraud'), /Rolled back: operator rollback by admin/);
  assert.equal(await page.locator('#health-fraud').getAttribute('data-state'), 'Rolled back');
  await shot('dashboard-overview', true, 480);
});

test('config editor: inline schema and server errors, review with diff and churn, apply, 412, revert', { skip }, async () => {
  await page.click('#nav-config');
  await page.waitForSelector('#history-table');
  assert.match(await text('#cfg-state'), /Schema-valid/);
  assert.match(await text('#history-table'), /add the fresh route/);

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

  // A valid edit: review shows the diff and the churn, apply writes version 4 with its message.
  await setEditor((t) => t.replace('"canary": "fraud-v1"', '"canary": "fraud-v2"').replace('"percent": 5,', '"percent": 10,'));
  await page.click('#review-btn');
  await page.waitForSelector('#review');
  assert.match(await text('#diff'), /-\s+"percent": 5,/);
  assert.match(await text('#diff'), /\+\s+"percent": 10,/);
  assert.match(await text('#churn'), /fraud\s+5\.00%\s+stable→canary 5,000/);
  await page.fill('#cfg-msg', 'canary to 10% for the night shift');
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
  await page.waitForSelector('#apply:not([disabled])');
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

test('a viewer sees everything and can change nothing', { skip }, async () => {
  await signIn('test-viewer-token');
  assert.match(await text('#role'), /vera · viewer/);
  await page.goto(`${mock.dashboard}#/config`);
  await page.waitForSelector('#history-table');
  assert.equal(await page.locator('#cfg').getAttribute('readonly'), '');
  assert.equal(await page.locator('#revert-1').isDisabled(), true);
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
    assert.equal(await page.locator('#health tbody tr').count(), 4, 'routes from GET /config');
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
