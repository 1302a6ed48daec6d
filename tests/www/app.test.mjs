// Smoke test of www/app.js in a tiny fake DOM (no browser, no dependencies): every view
// renders from fixture documents, sends the admin token, shows validation paths, and never
// prints NaN/undefined.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const fixture = (name) =>
  JSON.parse(readFileSync(fileURLToPath(new URL(`../fixtures/dashboard/${name}.json`, import.meta.url)), 'utf8'));

// ---- a fake DOM, just enough for app.js ------------------------------------------------------
class Text {
  constructor(t) { this.text = t; }
  get textContent() { return this.text; }
}
class El {
  constructor(tag) {
    this.tagName = tag.toUpperCase();
    this.children = [];
    this.attrs = {};
    this.listeners = {};
    this.hidden = false;
    this.value = '';
    this.checked = false;
  }
  get id() { return this.attrs.id ?? ''; }
  set id(v) { this.attrs.id = v; }
  set className(v) { this.attrs.class = v; }
  get className() { return this.attrs.class ?? ''; }
  setAttribute(k, v) { this.attrs[k] = String(v); }
  getAttribute(k) { return this.attrs[k] ?? null; }
  append(...kids) { for (const k of kids) this.children.push(typeof k === 'string' ? new Text(k) : k); }
  replaceChildren(...kids) { this.children = []; this.append(...kids); }
  get textContent() { return this.children.map((c) => c.textContent).join(''); }
  set textContent(t) { this.children = [new Text(String(t))]; }
  addEventListener(t, f) { (this.listeners[t] ??= []).push(f); }
  dispatch(t, ev = {}) { for (const f of this.listeners[t] ?? []) f({ preventDefault() {}, target: this, ...ev }); }
  click() { if (this.attrs.disabled === undefined) this.dispatch('click'); }
  focus() { doc.activeElement = this; }
  *walk() { for (const c of this.children) if (c instanceof El) { yield c; yield* c.walk(); } }
  querySelectorAll(sel) {
    if (sel.startsWith('#')) return [...this.walk()].filter((e) => e.id === sel.slice(1));
    const m = /^(\w+)((?:\[\w+\])*)$/.exec(sel);
    const attrs = [...m[2].matchAll(/\[(\w+)\]/g)].map((x) => x[1]);
    return [...this.walk()].filter((e) => e.tagName === m[1].toUpperCase() && attrs.every((a) => a in e.attrs));
  }
  querySelector(sel) { return this.querySelectorAll(sel)[0] ?? null; }
}
const root = new El('body');
const doc = {
  activeElement: null,
  createElement: (t) => new El(t),
  querySelector: (s) => root.querySelector(s),
  getElementById: (id) => root.querySelector(`#${id}`),
};
for (const [tag, id] of [['div', 'banner'], ['span', 'config-id'], ['input', 'auto'], ['button', 'refresh'], ['span', 'updated'], ['main', 'main'], ['input', 'token'], ['form', 'token-form'], ['span', 'role']]) {
  const e = new El(tag);
  e.id = id;
  root.append(e);
}
root.querySelector('#auto').checked = false; // no interval in tests

const store = new Map();
let answers = {}; // "METHOD /path" -> [status, body]
const calls = [];
let confirmAnswer = true;
const tick = () => new Promise((r) => setTimeout(r, 5));
async function settle() { for (let i = 0; i < 10; i++) await tick(); }

before(async () => {
  Object.assign(globalThis, {
    document: doc,
    Node: El,
    CSS: { escape: (s) => s },
    location: { hash: '' },
    sessionStorage: { getItem: (k) => store.get(k) ?? null, setItem: (k, v) => store.set(k, String(v)) },
    localStorage: { getItem: () => assert.fail('the token must not touch localStorage'), setItem: () => assert.fail('the token must not touch localStorage') },
    window: { listeners: {}, addEventListener(t, f) { this.listeners[t] = f; }, confirm: () => confirmAnswer },
    fetch: async (url, opts = {}) => {
      const key = `${opts.method ?? 'GET'} ${url}`;
      calls.push({ key, headers: opts.headers ?? {}, body: opts.body });
      const [status, body] = answers[key] ?? [404, { error: { code: 'not_found', message: `no mock for ${key}` } }];
      return { ok: status >= 200 && status < 300, status, text: async () => (typeof body === 'string' ? body : JSON.stringify(body)) };
    },
  });
  answers['GET /_switchyard/status'] = [200, {
    config: '0123456789ab', rejected: '$.routes[0].strategy.percent: must be within 0..=100',
    routes: [{ name: 'checkout', strategy: 'ab', fingerprint: 'a1' }, { name: 'fraud', strategy: 'canary', fingerprint: 'f1' }, { name: 'ranker', strategy: 'bandit', fingerprint: 'r1' }],
  }];
  await import('../../www/app.js');
  await settle();
});

const main = () => root.querySelector('#main');
async function go(hash) {
  globalThis.location.hash = hash;
  globalThis.window.listeners.hashchange();
  await settle();
}
function assertClean(text) {
  assert.doesNotMatch(text, /NaN|undefined|null|Infinity|\[object/, text);
}

test('overview: config id, rejected-config banner, routes with strategy badges', () => {
  assert.equal(root.querySelector('#config-id').textContent, 'Config: 0123456789ab');
  const banner = root.querySelector('#banner');
  assert.equal(banner.hidden, false);
  assert.match(banner.textContent, /rejected.*still serving 0123456789ab.*strategy\.percent/);
  const t = main().textContent;
  assert.match(t, /checkout.*A\/B test/);
  assert.match(t, /fraud.*Canary/);
  assert.ok(main().querySelectorAll('th').some((th) => th.attrs.scope === 'col'), 'column headers');
  assert.equal(root.querySelector('#route-ranker').attrs.href, '#/route/ranker');
  assertClean(t);
});

test('route views render every fixture without NaN/undefined', async () => {
  for (const [name, file] of [['checkout', 'ab-srm'], ['fraud', 'canary-rolled-back'], ['ranker', 'bandit-weights'], ['fresh', 'empty']]) {
    answers[`GET /_switchyard/stats/${name}`] = [200, fixture(file)];
    await go(`#/route/${name}`);
    const t = main().textContent;
    assert.match(t, new RegExp(`Route ${name}`));
    assertClean(t);
  }
  await go('#/route/checkout');
  assert.match(main().textContent, /Sample ratio mismatch/);
  assert.match(main().textContent, /safe to peek/);
  assert.ok(main().querySelectorAll('div').some((d) => d.attrs.role === 'alert'), 'SRM banner is an alert');
  await go('#/route/ranker');
  const meters = main().querySelectorAll('span').filter((s) => s.attrs.role === 'meter');
  assert.deepEqual(meters.map((m) => m.attrs['aria-valuenow']), ['5.00', '95.00']);
  assert.match(main().textContent, /Shadow agreement.*candidate/);
  await go('#/route/fraud');
  assert.match(main().textContent, /Rolled back: canary error rate 0\.600 above 0\.200/);
  assert.ok('disabled' in root.querySelector('#rollback').attrs, 'no second rollback');
});

test('rollback: confirm, POST with the admin token, and the error text of a 409', async () => {
  const tokenInput = root.querySelector('#token');
  tokenInput.value = '  s3cret ';
  root.querySelector('#token-form').dispatch('submit');
  assert.equal(store.get('switchyard.operatorToken'), 's3cret');
  const live = fixture('canary-rolled-back');
  live.controller = { fingerprint: 'x', canary_percent: 5, step: 1, step_started_ms: 1, rolled_back: false, updated_ms: 1 };
  answers['GET /_switchyard/stats/fraud'] = [200, live];
  await go('#/route/fraud');
  assert.match(main().textContent, /Canary at 5% · step 1/);
  confirmAnswer = false;
  calls.length = 0;
  root.querySelector('#rollback').click();
  await settle();
  assert.ok(!calls.some((c) => c.key.startsWith('POST')), 'cancelled confirm sends nothing');
  confirmAnswer = true;
  answers['POST /_switchyard/rollback/fraud'] = [409, { error: { code: 'not_a_canary', message: 'route "fraud" is a ab route' } }];
  root.querySelector('#rollback').click();
  await settle();
  const post = calls.find((c) => c.key === 'POST /_switchyard/rollback/fraud');
  assert.equal(post.headers.authorization, 'Bearer s3cret');
  assert.match(main().textContent, /HTTP 409: route "fraud" is a ab route/);
});

test('config editor: loads KV text, shows validation paths, applies and shows the new id', async () => {
  const cfg = { version: 1, origins: { a: { url: 'http://a' } }, routes: [] };
  answers['GET /_switchyard/config'] = [200, { config: cfg, validation: { valid: true, id: 'aaaaaaaaaaaa' } }];
  await go('#/config');
  const area = root.querySelector('#cfg');
  assert.deepEqual(JSON.parse(area.value), cfg);
  assert.match(main().textContent, /KV holds config aaaaaaaaaaaa \(valid\)/);
  const buttons = Object.fromEntries(main().querySelectorAll('button').map((b) => [b.textContent, b]));

  area.value = '{"version": 1,';
  calls.length = 0;
  buttons.Validate.click();
  await settle();
  assert.equal(calls.length, 0, 'broken JSON is caught before sending');
  assert.match(main().textContent, /Not valid JSON/);

  area.value = '{"version": 1, "routes": [{"strategy": {"percent": 150}}]}';
  answers['POST /_switchyard/validate'] = [422, { error: { code: 'invalid_config', message: '1 problem(s)' }, errors: [{ path: '$.routes[0].strategy.percent', reason: 'must be within 0..=100' }] }];
  buttons.Validate.click();
  await settle();
  assert.match(main().textContent, /Invalid:.*\$\.routes\[0\]\.strategy\.percent: must be within 0\.\.=100/);
  assert.equal(calls.at(-1).body, area.value, 'the textarea text is sent as is');

  area.value = JSON.stringify(cfg);
  answers['PUT /_switchyard/config'] = [200, { valid: true, id: 'bbbbbbbbbbbb', written: true, routes: 0 }];
  buttons.Apply.click();
  await settle();
  assert.match(main().textContent, /Written\. New config id bbbbbbbbbbbb/);
  assert.equal(calls.at(-1).headers.authorization, 'Bearer s3cret');
});

test('the header shows the role of the token in use', async () => {
  answers['GET /_switchyard/whoami'] = [200, { name: 'otto', role: 'operator' }];
  root.querySelector('#token').value = 'op-token';
  root.querySelector('#token-form').dispatch('submit');
  await settle();
  assert.equal(root.querySelector('#role').textContent, 'Signed in as otto (operator)');
  assert.equal(calls.filter((c) => c.key === 'GET /_switchyard/whoami').at(-1).headers.authorization, 'Bearer op-token');
  answers['GET /_switchyard/whoami'] = [401, { error: { code: 'unauthorized', message: 'no' } }];
  root.querySelector('#token-form').dispatch('submit');
  await settle();
  assert.equal(root.querySelector('#role').textContent, 'Token not accepted');
  root.querySelector('#token').value = 's3cret';
  root.querySelector('#token-form').dispatch('submit');
  await settle();
});

test('an unauthorized API answer is explained', async () => {
  answers['GET /_switchyard/status'] = [401, { error: { code: 'unauthorized', message: 'operator endpoints need authorization: Bearer <ADMIN_TOKEN>' } }];
  await go('#/');
  assert.match(main().textContent, /Unauthorized: set the admin token/);
});
