// The official OpenFeature providers against the control plane's OFREP endpoints, unmodified:
// the server SDK with @openfeature/ofrep-provider agrees with the edge's flag decisions; the
// web SDK with @openfeature/ofrep-web-provider, bundled into a page that real Chromium loads
// from another origin, evaluates through CORS, polls with If-None-Match (304 while nothing
// changed) and picks up a config change; a page on an origin that OFREP_CORS_ORIGINS does not
// list cannot read an answer.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build } from 'esbuild';
import { useWorker, startOrigin, waitFor, originsBlock, freePort, ROOT } from './harness.mjs';

const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
const noBrowser = existsSync(CHROMIUM) ? false : `no Chromium at ${CHROMIUM}: apt-get install -y chromium`;
if (noBrowser && process.env.REQUIRE_BROWSER === '1') throw new Error(`REQUIRE_BROWSER=1 (CI) but ${noBrowser}`);
if (noBrowser) console.log(`# SKIPPED OpenFeature web provider test: ${noBrowser}`);

const VIEWER = 'openfeature-viewer-token-0123456789abcdef';
// The page's origin is fixed before the workers start: it is listed in OFREP_CORS_ORIGINS.
const PAGE_PORT = await freePort();
const OTHER_PORT = await freePort();
const PAGE_ORIGIN = `http://127.0.0.1:${PAGE_PORT}`;
const ctx = useWorker({
  vars: { SWITCHYARD_TOKENS: `web:viewer:${VIEWER}`, OFREP_CORS_ORIGINS: PAGE_ORIGIN },
});
const w = () => ctx.worker;
let o = {};
let pages = [];

const config = (percent) => ({
  version: 1,
  origins: originsBlock(o),
  routes: [
    {
      name: 'ab',
      match: { path_prefix: '/ab' },
      unit: [{ header: 'x-user-id' }],
      strategy: { kind: 'ab', arms: [{ name: 'a', origin: 'a', weight: 50 }, { name: 'b', origin: 'b', weight: 50 }] },
      flags: [
        { name: 'beta', rollout: percent },
        { name: 'pro', rollout: 100, rules: [{ attr: 'header:x-plan', op: 'eq', values: ['pro'] }] },
      ],
    },
  ],
});

// The page: the web SDK and the web provider, bundled by esbuild as a browser script. It
// records the status of every OFREP call the provider makes (through its fetch option).
const PAGE_SCRIPT = `
import { OpenFeature, ProviderEvents } from '@openfeature/web-sdk';
import { OFREPWebProvider } from '@openfeature/ofrep-web-provider';
window.ofrepStatuses = [];
window.changes = 0;
window.start = async (baseUrl, token, targetingKey) => {
  const fetchImplementation = async (input, init) => {
    const r = await fetch(input, init);
    window.ofrepStatuses.push(r.status);
    return r;
  };
  const provider = new OFREPWebProvider({
    baseUrl, headers: [['authorization', 'Bearer ' + token]], fetchImplementation,
    pollInterval: 300, changeDetection: 'polling', cacheMode: 'disabled', disableVisibilityRefresh: true,
  });
  OpenFeature.addHandler(ProviderEvents.ConfigurationChanged, () => { window.changes++; });
  await OpenFeature.setContext({ targetingKey, 'header:x-plan': 'pro' });
  await OpenFeature.setProviderAndWait(provider);
  window.client = OpenFeature.getClient();
  return 'ready';
};
window.flag = (key) => window.client.getBooleanDetails(key, false);
`;
let bundle;

function pageServer(port) {
  const server = createServer((req, res) => {
    if (req.url === '/bundle.js') {
      res.writeHead(200, { 'content-type': 'text/javascript' });
      res.end(bundle);
    } else {
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end('<!doctype html><meta charset="utf-8"><title>ofrep</title><script src="/bundle.js"></script>');
    }
  });
  return new Promise((r) => server.listen(port, '127.0.0.1', () => r(server)));
}

before(async () => {
  await ctx.ready;
  o = { a: await startOrigin('a'), b: await startOrigin('b') };
  await w().applyConfig(config(40));
  const out = await build({
    stdin: { contents: PAGE_SCRIPT, resolveDir: ROOT, loader: 'js' },
    bundle: true,
    format: 'iife',
    platform: 'browser',
    write: false,
    logLevel: 'silent',
  });
  bundle = out.outputFiles[0].text;
  pages = [await pageServer(PAGE_PORT), await pageServer(OTHER_PORT)];
});

after(async () => {
  for (const p of pages) p.close();
  for (const x of Object.values(o)) await x.stop?.();
});

/** The edge's flags for a unit, from the header the router sends its origin. */
async function edgeFlags(unit, plan) {
  o.a.clear();
  o.b.clear();
  const r = await w().req('/ab/predict', { headers: { 'x-user-id': unit, 'x-plan': plan } });
  assert.equal(r.status, 200);
  const rec = [...o.a.requests, ...o.b.requests].at(-1);
  return Object.fromEntries(rec.headers['x-switchyard-flags'].split(', ').map((kv) => kv.split('=')));
}

test('server SDK with the official OFREP provider: every evaluation equals the edge for 300 units', async () => {
  const { OpenFeature } = await import('@openfeature/server-sdk');
  const { OFREPProvider } = await import('@openfeature/ofrep-provider');
  await OpenFeature.setProviderAndWait(
    new OFREPProvider({ baseUrl: `${w().url}/_switchyard`, headers: [['authorization', `Bearer ${VIEWER}`]] }),
  );
  const client = OpenFeature.getClient();
  const units = Array.from({ length: 300 }, (_, i) => [`of-${i}`, i % 3 === 0 ? 'pro' : 'free']);
  // The edge's flags, from the header the router sends the origin.
  o.a.clear();
  o.b.clear();
  for (let i = 0; i < units.length; i += 25) {
    await Promise.all(units.slice(i, i + 25).map(async ([unit, plan]) => {
      assert.equal((await w().req('/ab/predict', { headers: { 'x-user-id': unit, 'x-plan': plan } })).status, 200);
    }));
  }
  const edge = new Map([...o.a.requests, ...o.b.requests].map((r) => [
    r.headers['x-user-id'],
    Object.fromEntries(r.headers['x-switchyard-flags'].split(', ').map((kv) => kv.split('='))),
  ]));
  assert.equal(edge.size, 300);
  let on = 0;
  for (let i = 0; i < units.length; i += 25) {
    await Promise.all(units.slice(i, i + 25).map(async ([unit, plan]) => {
      const beta = await client.getBooleanDetails('ab.beta', false, { targetingKey: unit, 'header:x-plan': plan });
      const pro = await client.getBooleanDetails('ab.pro', false, { targetingKey: unit, 'header:x-plan': plan });
      assert.equal(beta.errorCode, undefined, JSON.stringify(beta));
      assert.equal(beta.value, edge.get(unit).beta === 'on', `${unit} beta`);
      assert.equal(pro.value, edge.get(unit).pro === 'on', `${unit} pro`);
      assert.equal(pro.value, plan === 'pro', `${unit} pro follows the rule`);
      on += beta.value ? 1 : 0;
    }));
  }
  console.log(`# openfeature: server provider = edge for 300 units (beta on for ${on}, rollout 40 %)`);
  assert.ok(on > 80 && on < 160, `beta on for ${on} of 300`);
  const missing = await client.getBooleanDetails('ab.nope', false, { targetingKey: 'u' });
  assert.equal(missing.errorCode, 'FLAG_NOT_FOUND');
  await OpenFeature.close();
});

test('web SDK with the official OFREP web provider in Chromium on another origin: CORS, 304 polls, a config change', { skip: noBrowser }, async () => {
  const { chromium } = await import('playwright-core');
  const profile = mkdtempSync(join(tmpdir(), 'sy-chromium-'));
  const browser = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  try {
    const page = browser.pages()[0] ?? (await browser.newPage());
    const problems = [];
    page.on('pageerror', (e) => problems.push(e.message));
    await page.goto(`${PAGE_ORIGIN}/`);
    // A unit outside the 40 % rollout, so that the change to 100 % changes its flag.
    let unit;
    for (let i = 0; !unit; i++) {
      assert.ok(i < 50, 'a unit outside a 40 % rollout among 50');
      if ((await edgeFlags(`web-user-${i}`, 'pro')).beta === 'off') unit = `web-user-${i}`;
    }
    assert.equal(await page.evaluate(([b, t, u]) => window.start(b, t, u), [`${w().url}/_switchyard`, VIEWER, unit]), 'ready');
    const beta = await page.evaluate(() => window.flag('ab.beta'));
    assert.equal(beta.value, false, JSON.stringify(beta));
    assert.equal((await page.evaluate(() => window.flag('ab.pro'))).value, true);
    // Polls while nothing changes: 304s (the ETag read through Access-Control-Expose-Headers).
    await waitFor(async () => (await page.evaluate(() => window.ofrepStatuses)).filter((s) => s === 304).length >= 3, 15000, { what: 'three 304 polls' });
    const before = await page.evaluate(() => window.ofrepStatuses);
    assert.equal(before[0], 200);
    assert.ok(before.slice(1).every((s) => s === 304), `statuses ${before}`);
    // The rollout goes to 100 %: the next poll answers 200 and the provider reports the change.
    await w().applyConfig(config(100));
    await waitFor(async () => (await page.evaluate(() => window.flag('ab.beta'))).value === true, 15000, { what: 'beta on after the change' });
    assert.ok((await page.evaluate(() => window.changes)) >= 1, 'ConfigurationChanged');
    const statuses = await page.evaluate(() => window.ofrepStatuses);
    console.log(`# openfeature: web provider statuses ${JSON.stringify(statuses.slice(0, 12))}… (${statuses.filter((s) => s === 304).length} of ${statuses.length} polls 304)`);
    assert.deepEqual(problems, []);

    // The same page on an origin that is not listed: the browser refuses to hand the answer over.
    const other = await browser.newPage();
    await other.goto(`http://127.0.0.1:${OTHER_PORT}/`);
    const refused = await other.evaluate(async ([url, token]) => {
      try {
        await fetch(`${url}/ofrep/v1/evaluate/flags`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify({ context: { targetingKey: 'x' } }) });
        return 'read';
      } catch (e) {
        return `refused: ${e.name}`;
      }
    }, [`${w().url}/_switchyard`, VIEWER]);
    assert.equal(refused, 'refused: TypeError');
  } finally {
    await browser.close();
    rmSync(profile, { recursive: true, force: true });
  }
});
