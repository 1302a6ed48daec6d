// Switchyard dashboard: views, fetch and DOM. Formatting and the summary model live in lib.js.
import {
  summarize, armRows, comparisonRows, shadowRows, weightBars, fmtInt,
  strategyLabel, configErrors, apiErrorText, jsonProblem, DASH,
} from './lib.js';

const API = '/_switchyard';
// The operator token lives for this tab only (sessionStorage, else memory): never localStorage,
// which outlives the tab and is shared with every page of this origin.
const TOKEN_KEY = 'switchyard.operatorToken';
let memoryToken = '';
const REFRESH_MS = 5000;
const $ = (s) => document.querySelector(s);
const main = $('#main');

let timer = null;
let status = null;
let editorDirty = false;

function h(tag, attrs = {}, ...kids) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs ?? {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else if (k === 'style') { if (el.style) el.style.cssText = v; } // CSSOM: allowed by the CSP, unlike style="…"
    else el.setAttribute(k, v === true ? '' : v);
  }
  for (const c of kids.flat()) if (c !== null && c !== undefined && c !== false) el.append(c instanceof Node ? c : String(c));
  return el;
}

function token() {
  try { return sessionStorage.getItem(TOKEN_KEY) ?? memoryToken; } catch { return memoryToken; }
}

function setToken(t) {
  memoryToken = t;
  try { sessionStorage.setItem(TOKEN_KEY, t); } catch { /* storage off: memory only */ }
}

/** Shows which token the tab holds and its role (GET /whoami). */
async function showRole() {
  const el = $('#role');
  if (!el) return;
  if (!token()) {
    el.textContent = 'No token';
    return;
  }
  const r = await api('/whoami').catch(() => null);
  el.textContent = r?.ok ? `Signed in as ${r.body.name} (${r.body.role})` : 'Token not accepted';
}

async function api(path, { method = 'GET', body } = {}) {
  const headers = {};
  const t = token();
  if (t) headers.authorization = `Bearer ${t}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(API + path, { method, headers, body, cache: 'no-store' });
  const text = await res.text();
  let json = null;
  try { json = JSON.parse(text); } catch { json = text; }
  return { ok: res.ok, status: res.status, body: json };
}

function banner(text) {
  const b = $('#banner');
  b.hidden = !text;
  b.textContent = text ?? '';
}

function table(caption, headers, rows) {
  return h('table', {},
    h('caption', {}, caption),
    h('thead', {}, h('tr', {}, headers.map((x) => h('th', { scope: 'col', title: Array.isArray(x) ? x[1] : null }, Array.isArray(x) ? x[0] : x)))),
    h('tbody', {}, rows.length ? rows.map((r) => h('tr', {}, r.map((c, i) => (i === 0 ? h('th', { scope: 'row' }, c) : h('td', {}, c)))))
      : h('tr', {}, h('td', { colspan: headers.length, class: 'mut' }, 'No data yet.'))));
}

/** Replaces the view, keeping keyboard focus and open <details> across auto-refreshes. */
function swap(...nodes) {
  const focused = document.activeElement?.id;
  const open = [...main.querySelectorAll('details[open][id]')].map((d) => d.id);
  main.replaceChildren(...nodes.filter(Boolean));
  for (const id of open) document.getElementById(id)?.setAttribute('open', '');
  if (focused && main.querySelector(`#${CSS.escape(focused)}`)) document.getElementById(focused).focus({ preventScroll: true });
}

let flash = '';

const badge = (kind) => h('span', { class: `badge b-${kind}` }, strategyLabel(kind));

async function loadStatus() {
  const r = await api('/status');
  if (!r.ok) throw new Error(apiErrorText(r.status, r.body));
  status = r.body;
  $('#config-id').textContent = `Config: ${status.config ?? 'none'}`;
  banner(status.rejected ? `The newest config in KV was rejected; still serving ${status.config ?? 'nothing'}. Reason: ${status.rejected}` : null);
  return status;
}

// ---- views ----------------------------------------------------------------------------------

async function overview() {
  const s = await loadStatus();
  const routes = s.routes ?? [];
  swap(
    h('h2', {}, 'Routes'),
    routes.length
      ? table(`${routes.length} route(s) in config ${s.config}`, ['Route', 'Strategy', 'Fingerprint'],
        routes.map((r) => [h('a', { href: `#/route/${encodeURIComponent(r.name)}`, id: `route-${r.name}` }, r.name), badge(r.strategy), h('code', {}, r.fingerprint ?? DASH)]))
      : h('p', {}, 'No valid config is in force. ', h('a', { href: '#/config' }, 'Write one in the config editor.')),
  );
}

const TIPS = {
  Rewards: 'feedback count', 'Mean reward': 'mean of rewards', Conversion: 'positive rewards / max(requests, rewards)',
  '95% CI': 'Wilson score interval', Lift: 'relative change of conversion rate vs control', Diff: 'absolute difference (percentage points)',
  'z-test p': 'fixed-horizon; valid only at a sample size fixed in advance', 'Always-valid p': 'sequential (mSPRT) p-value',
  'P(beat control)': 'Bayesian, Beta(1,1) priors', Looks: 'times the sequential test was updated', 'Latency diff': 'mean shadow minus primary',
};
const tip = (hs) => hs.map((x) => (TIPS[x] ? [x, TIPS[x]] : x));

function armsTable(m) {
  const t = armRows(m);
  return table('Arms (since the route started)', tip(t.headers), t.rows);
}

function experimentPanel(m) {
  if (!m.experiment) return null;
  const alpha = m.experiment.alpha;
  const t = comparisonRows(m);
  return h('section', { class: 'panel', 'aria-labelledby': 'exp-h' },
    h('h3', { id: 'exp-h' }, `Experiment vs control "${m.experiment.control ?? DASH}"`),
    m.srm && (m.srm.severity === 'alarm' ? h('div', { class: 'alert', role: 'alert' }, m.srm.text) : h('p', { class: 'mut' }, m.srm.text)),
    h('p', { class: m.verdict.significant ? 'sig' : null }, m.verdict.text),
    table('Comparisons', tip(t.headers), t.rows),
    h('details', { id: 'peek' }, h('summary', { id: 'peek-s' }, 'Which p-value should I trust? (safe to peek)'),
      h('p', {}, `The always-valid p-value comes from a sequential test: it stays valid however often you look at this page, ` +
        `so you may stop the experiment as soon as it drops to ${alpha} or below ("✓ significant"). ` +
        `The z-test p-value assumes one look at a pre-planned sample size; checking it repeatedly and stopping when it dips below ${alpha} ` +
        `inflates false positives. Use it as a descriptive number only.`)),
  );
}

function weightsPanel(m) {
  if (!m.weights.length) return null;
  return h('section', { class: 'panel', 'aria-labelledby': 'w-h' }, h('h3', { id: 'w-h' }, 'Bandit weights'),
    h('ul', { class: 'bars' }, weightBars(m).map((w) => h('li', {},
      h('span', {}, w.arm),
      h('span', { class: 'track', role: 'meter', 'aria-valuemin': '0', 'aria-valuemax': '100', 'aria-valuenow': w.width, 'aria-label': `${w.arm} weight` },
        h('span', { class: 'fill', style: `display:block;width:${w.width}%` })),
      h('span', {}, w.text)))));
}

function controllerPanel(m, route) {
  const c = m.controller;
  const btn = m.strategy === 'canary' && h('button', {
    type: 'button', id: 'rollback', class: 'danger', disabled: !m.canRollBack,
    onclick: () => rollback(route),
  }, 'Roll back canary');
  if (c.tone === 'idle' && !btn) return null;
  return h('section', { class: 'panel', 'aria-labelledby': 'c-h' }, h('h3', { id: 'c-h' }, 'Controller'),
    h('p', { class: `tone-${c.tone}` }, c.text), btn && h('div', { class: 'actions' }, btn, h('span', { id: 'rb-out', 'aria-live': 'polite' }, flash)));
}

function shadowsTable(m) {
  if (!m.shadows.length) return null;
  const t = shadowRows(m);
  return table('Shadow agreement', tip(t.headers), t.rows);
}

async function routeView(name) {
  loadStatus().catch(() => {});
  const r = await api(`/stats/${encodeURIComponent(name)}`);
  if (!r.ok) throw new Error(apiErrorText(r.status, r.body));
  const m = summarize(r.body, Date.now());
  swap(
    h('p', {}, h('a', { href: '#/' }, '← All routes')),
    h('h2', {}, `Route ${m.route || name} `, badge(m.strategy)),
    h('p', { class: 'mut' }, `${fmtInt(m.totalRequests)} requests · stats updated ${m.updated} · last tick ${m.lastTick}`),
    !m.hasData && h('div', { class: 'alert warn' }, 'No traffic recorded for this route yet.'),
    controllerPanel(m, name),
    armsTable(m),
    experimentPanel(m),
    weightsPanel(m),
    shadowsTable(m),
  );
}

async function rollback(route) {
  if (!window.confirm(`Roll back the canary on route "${route}" now? All its traffic goes to stable.`)) return;
  const r = await api(`/rollback/${encodeURIComponent(route)}`, { method: 'POST' });
  flash = r.ok ? `Rolled back at ${new Date().toLocaleTimeString()}.` : apiErrorText(r.status, r.body);
  const out = $('#rb-out');
  if (out) out.textContent = flash;
  if (r.ok) setTimeout(render, 300);
}

async function configView() {
  if (editorDirty && $('#cfg')) return; // never clobber an edit in progress
  loadStatus().catch(() => {});
  const r = await api('/config');
  let text = '';
  let note = '';
  if (r.ok) {
    // The stored text byte for byte, so applying it unchanged keeps the same config id.
    text = typeof r.body.text === 'string' ? r.body.text : JSON.stringify(r.body.config, null, 2);
    const v = r.body.validation;
    note = v?.valid ? `KV holds config ${v.id} (valid).` : `KV holds an INVALID config (${configErrors(r.body).length} problem(s)).`;
  } else if (r.status === 404) {
    note = 'KV key "config" is empty: write a first config.';
  } else throw new Error(apiErrorText(r.status, r.body));
  const out = h('div', { id: 'cfg-out', 'aria-live': 'polite' });
  const area = h('textarea', { id: 'cfg', spellcheck: 'false', oninput: () => { editorDirty = true; } });
  area.value = text;
  main.replaceChildren(
    h('h2', {}, 'Config'),
    h('p', { class: 'mut' }, note),
    h('label', { for: 'cfg' }, 'Config JSON (schema v1)'),
    area,
    h('div', { class: 'actions' },
      h('button', { type: 'button', onclick: () => send(false) }, 'Validate'),
      h('button', { type: 'button', onclick: () => send(true) }, 'Apply'),
      h('button', { type: 'button', onclick: () => { editorDirty = false; configView().catch(showError); } }, 'Reload from KV')),
    out,
  );
  if (r.ok && r.body.validation && !r.body.validation.valid) showErrors(out, configErrors(r.body), 'The config in KV is invalid:');
}

function showErrors(out, errs, title) {
  out.replaceChildren(h('div', { class: 'alert errors', role: 'alert' }, h('p', {}, title),
    h('ul', {}, errs.map((e) => h('li', {}, h('code', {}, e.path), ': ', e.reason)))));
}

async function send(write) {
  const out = $('#cfg-out');
  const text = $('#cfg').value;
  const bad = jsonProblem(text);
  if (bad) return showErrors(out, [{ path: '$', reason: bad }], 'Not sent:');
  out.replaceChildren(h('p', {}, write ? 'Applying…' : 'Validating…'));
  const r = await api(write ? '/config' : '/validate', { method: write ? 'PUT' : 'POST', body: text });
  if (r.status === 422) return showErrors(out, configErrors(r.body), write ? 'Rejected, nothing was written:' : 'Invalid:');
  if (!r.ok) return showErrors(out, configErrors(r.body), apiErrorText(r.status, r.body));
  if (write) editorDirty = false;
  out.replaceChildren(h('div', { class: 'alert ok', role: 'status' },
    write ? `Written. New config id ${r.body.id} (${r.body.routes} route(s)); the worker picks it up within seconds.`
      : `Valid: config id would be ${r.body.id} (${r.body.routes} route(s)). Nothing written.`));
  if (write) setTimeout(() => loadStatus().catch(() => {}), 1500);
}

// ---- wiring ---------------------------------------------------------------------------------

function showError(e) {
  main.replaceChildren(h('div', { class: 'alert', role: 'alert' }, e.message || String(e)));
}

async function render() {
  const hash = location.hash || '#/';
  try {
    if (hash.startsWith('#/route/')) await routeView(decodeURIComponent(hash.slice(8)));
    else if (hash === '#/config') await configView();
    else await overview();
    $('#updated').textContent = `Updated ${new Date().toLocaleTimeString()}`;
  } catch (e) {
    showError(e);
  }
}

function schedule() {
  clearInterval(timer);
  timer = null;
  if ($('#auto').checked) {
    timer = setInterval(() => {
      if (location.hash !== '#/config') render(); // the editor refreshes only on demand
    }, REFRESH_MS);
  }
}

window.addEventListener('hashchange', () => {
  editorDirty = false;
  flash = '';
  render().then(() => main.focus({ preventScroll: true }));
});
$('#auto').addEventListener('change', schedule);
$('#refresh').addEventListener('click', () => render());
$('#token').value = token();
$('#token-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  setToken($('#token').value.trim());
  showRole();
  render();
});
showRole();
render();
schedule();
