// Switchyard operator console: views, fetch and DOM. Pure logic lives in lib.js (summary
// models, health lines, series, diff, churn), chart.js (SVG charts) and schema.js (JSON reader
// with line numbers, JSON Schema validation). No inline scripts or styles anywhere, so the
// page runs under a strict Content-Security-Policy; the token lives in sessionStorage only.
import * as lib from './lib.js';
import { lineChart, toDom, timeAt, hhmm } from './chart.js';
import { checkConfigText, placeErrors } from './schema.js';

const API = '/_switchyard';
const TOKEN_KEY = 'switchyard.token';
const REFRESH_MS = 10_000;
const { DASH, fmtInt, fmtPct, fmtMs, fmtNum } = lib;
const $ = (s) => document.querySelector(s);
const main = $('#main');

let timer = null;
let who = null; // {name, role} from /whoami
let editorDirty = false;
let schema; // undefined: not tried yet; null: not available
const cache = { config: null, configEtag: null, configText: null };

// ---- small DOM helpers -----------------------------------------------------------------------

function h(tag, attrs = {}, ...kids) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs ?? {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else el.setAttribute(k, v === true ? '' : v);
  }
  for (const c of kids.flat(Infinity)) if (c !== null && c !== undefined && c !== false) el.append(c instanceof Node ? c : String(c));
  return el;
}
const pill = (text, tone, attrs = {}) => h('span', { class: `pill tone-${tone}`, ...attrs }, text);
const badge = (kind) => h('span', { class: `badge b-${kind}` }, lib.strategyLabel(kind));
function swatch(color) {
  const s = document.createElementNS('http://www.w3.org/2000/svg', 'svg');
  s.setAttribute('viewBox', '0 0 12 12');
  s.setAttribute('class', 'swatch');
  s.setAttribute('aria-hidden', 'true');
  const r = document.createElementNS('http://www.w3.org/2000/svg', 'rect');
  for (const [k, v] of Object.entries({ x: 1, y: 5, width: 10, height: 3, rx: 1.5, fill: color })) r.setAttribute(k, String(v));
  s.append(r);
  return s;
}
function table(caption, headers, rows, attrs = {}) {
  return h('table', attrs,
    caption && h('caption', {}, caption),
    h('thead', {}, h('tr', {}, headers.map((x) => h('th', { scope: 'col', title: Array.isArray(x) ? x[1] : null }, Array.isArray(x) ? x[0] : x)))),
    h('tbody', {}, rows.length ? rows.map((r) => (r instanceof Node ? r : h('tr', {}, r.map((c, i) => (i === 0 ? h('th', { scope: 'row' }, c) : h('td', {}, c))))))
      : h('tr', {}, h('td', { colspan: headers.length, class: 'mut' }, 'No data yet.'))));
}
/** Replaces the view, keeping keyboard focus and open <details> across auto-refreshes. */
function swap(...nodes) {
  const focused = document.activeElement?.id;
  const open = [...main.querySelectorAll('details[open][id]')].map((d) => d.id);
  main.replaceChildren(...nodes.flat().filter(Boolean));
  for (const id of open) document.getElementById(id)?.setAttribute('open', '');
  if (focused && main.querySelector(`#${CSS.escape(focused)}`)) document.getElementById(focused).focus({ preventScroll: true });
}
const localTime = (t) => new Date(t).toLocaleString(undefined, { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', second: '2-digit' });

// ---- token, identity, API -------------------------------------------------------------------

function token() {
  try { return sessionStorage.getItem(TOKEN_KEY) ?? ''; } catch { return ''; }
}
function setToken(t) {
  try {
    if (t) sessionStorage.setItem(TOKEN_KEY, t);
    else sessionStorage.removeItem(TOKEN_KEY);
  } catch { /* storage disabled: the token lasts until reload */ }
}
// Earlier versions kept the token in localStorage (shared by every tab, kept forever): drop it.
try { localStorage.removeItem('switchyard.adminToken'); } catch { /* no storage */ }

async function api(path, { method = 'GET', body, headers = {} } = {}) {
  const hs = { ...headers };
  const t = token();
  if (t) hs.authorization = `Bearer ${t}`;
  if (body !== undefined) hs['content-type'] = 'application/json';
  let res;
  try {
    res = await fetch(API + path, { method, headers: hs, body, cache: 'no-store', credentials: 'omit' });
  } catch (e) {
    return { ok: false, status: 0, body: { error: { message: `network error: ${e.message}` } }, headers: new Headers() };
  }
  const text = await res.text();
  let json;
  try { json = JSON.parse(text); } catch { json = text; }
  return { ok: res.ok, status: res.status, body: json, headers: res.headers };
}

const can = (role) => (who?.unknown ? true : lib.roleAtLeast(who?.role, role));
const needs = (role) => (can(role) ? null : `Needs the ${role} role${who ? ` (you are ${who.role})` : ' (sign in with a token)'}`);

async function loadWho() {
  if (!token()) { who = null; showWho(); return; }
  const r = await api('/whoami');
  if (r.status === 404) {
    // A server without /whoami (older than named tokens): the role is unknown, so nothing is
    // disabled here and the server decides.
    who = { name: 'token', role: 'unknown', unknown: true };
    showWho();
    return;
  }
  who = r.ok && r.body && typeof r.body.role === 'string' ? { name: String(r.body.name ?? ''), role: r.body.role } : null;
  showWho(r.ok ? null : lib.apiErrorText(r.status, r.body));
}
function showWho(problem = null) {
  $('#who').hidden = !who;
  $('#token-form').hidden = !!who;
  $('#role').replaceChildren(who ? h('span', {}, h('b', {}, who.name || 'token'), ' · ', pill(who.role, who.role === 'admin' ? 'bad' : who.role === 'operator' ? 'warn' : 'idle', { id: 'role-pill' })) : '');
  if (problem && token()) banner(`Token not accepted: ${problem}`);
}

function banner(text) {
  const b = $('#banner');
  b.hidden = !text;
  b.textContent = text ?? '';
}

async function loadConfig() {
  const r = await api('/config');
  if (r.ok) {
    cache.config = r.body?.config ?? null;
    cache.configText = typeof r.body?.text === 'string' ? r.body.text : JSON.stringify(r.body?.config ?? null, null, 2);
    cache.configEtag = r.headers.get('etag');
    cache.validation = r.body?.validation ?? null;
  } else if (r.status === 404) {
    Object.assign(cache, { config: null, configText: '', configEtag: r.headers.get('etag'), validation: null });
  }
  return r;
}

/** Routes in force: GET /status (router), else the routes of the config in KV. */
async function loadRoutes() {
  const [s, c] = await Promise.all([api('/status'), loadConfig()]);
  if (s.status === 401 || (c.status === 401 && !s.ok)) throw new Error(lib.apiErrorText(401, s.ok ? c.body : s.body));
  let routes = null;
  let id = null;
  if (s.ok && s.body && typeof s.body === 'object') {
    routes = Array.isArray(s.body.routes) ? s.body.routes : null;
    id = s.body.config ?? null;
    banner(s.body.rejected ? `The newest config in KV was rejected; still serving ${id ?? 'nothing'}. Reason: ${s.body.rejected}` : null);
  }
  if (!routes && cache.config) {
    routes = (cache.config.routes ?? []).map((r) => ({ name: r.name, strategy: r.strategy?.kind }));
    id = cache.validation?.id ?? null;
    banner(cache.validation && !cache.validation.valid ? 'The config in KV is invalid: see the config page.' : null);
  }
  const v = lib.etagVersion(cache.configEtag);
  $('#config-id').textContent = `Config ${id ?? 'none'}${v ? ` · version ${v}` : ''}`;
  return routes ?? [];
}

// ---- overview --------------------------------------------------------------------------------

function sparkline(series) {
  const last = { ...series, minutes: (series?.minutes ?? []).slice(-60) }; // the last hour
  const s = lib.armSeries(last, 'requests');
  const total = { name: 'requests', color: '#3b82f6', points: (s[0]?.points ?? []).map(([t], i) => [t, s.reduce((a, x) => a + (x.points[i][1] ?? 0), 0)]) };
  const tree = lineChart({ title: 'requests per minute', series: [total], width: 140, height: 34, empty: '', margin: { top: 3, right: 2, bottom: 3, left: 2 } });
  const svg = toDom(strip(tree), document);
  svg.setAttribute('class', 'spark');
  return svg;
}
/** A chart tree without axes and labels (sparklines). */
function strip(node) {
  if (typeof node !== 'object') return node;
  const keep = node.children.filter((c) => typeof c !== 'object' || !['c-tick', 'c-axis', 'c-label'].includes(c.attrs.class));
  return { ...node, children: keep.map(strip) };
}

function healthRow(line, series) {
  const bad = line.alerts.some((a) => a.tone === 'bad');
  return h('tr', { id: `health-${line.name}`, class: `health${bad ? ' row-bad' : ''}`, 'data-state': line.state.label },
    h('th', { scope: 'row' }, h('a', { href: `#/route/${encodeURIComponent(line.name)}`, id: `route-${line.name}` }, line.name), ' ', badge(line.strategy)),
    h('td', {}, pill(line.state.label, line.state.tone, { class: `pill tone-${line.state.tone} state` })),
    h('td', { class: 'num' }, h('div', {}, fmtInt(line.total)), h('div', { class: 'mut small' }, line.perMin === null ? DASH : `${fmtNum(line.perMin, 1)}/min`)),
    h('td', {}, sparkline(series)),
    h('td', { class: 'arms' }, line.arms.length ? line.arms.map((a) => h('span', { class: `chip${a.bad ? ' chip-bad' : ''}`, title: `${fmtInt(a.requests)} requests` }, h('span', { class: 'mut' }, a.arm), ' ', fmtPct(a.errorRate, 1))) : h('span', { class: 'mut' }, DASH)),
    h('td', {}, line.canary ? line.canary.text : h('span', { class: 'mut' }, DASH)),
    h('td', { class: 'alerts' }, line.alerts.length ? line.alerts.map((a) => h('span', { class: `alert-chip tone-${a.tone}` }, a.text)) : h('span', { class: 'tone-ok' }, 'none')),
  );
}

async function overview() {
  const routes = await loadRoutes();
  const docs = await Promise.all(routes.map(async (r) => {
    const [s, t] = await Promise.all([api(`/stats/${encodeURIComponent(r.name)}`), api(`/series/${encodeURIComponent(r.name)}`)]);
    return { stats: s.ok ? s.body : null, series: t.ok ? t.body : null };
  }));
  const lines = routes.map((r, i) => lib.healthLine(r, docs[i].stats, docs[i].series, cache.config));
  const nBad = lines.filter((l) => l.alerts.some((a) => a.tone === 'bad')).length;
  swap(
    h('div', { class: 'page-head' },
      h('h2', {}, 'Routes'),
      h('span', { class: 'mut' }, `${routes.length} route(s)`),
      nBad ? pill(`${nBad} need attention`, 'bad', { id: 'attention' }) : pill('all healthy', 'ok', { id: 'attention' })),
    routes.length
      ? h('div', { class: 'card flush' }, table(null, ['Route', 'State', 'Requests', 'Last hour', 'Error rate per arm', 'Canary', 'Alerts'],
        lines.map((l, i) => healthRow(l, docs[i].series)), { class: 'health-table', id: 'health' }))
      : h('p', {}, 'No valid config is in force. ', h('a', { href: '#/config' }, 'Write one in the config editor.')),
    h('p', { class: 'mut small' }, `Error rates are flagged above the route's guard (${fmtPct(lib.DEFAULT_MAX_ERROR_RATE, 0)} without one) once an arm has ${lib.MIN_REQUESTS_TO_FLAG} requests; shadow agreement below ${fmtPct(lib.MIN_SHADOW_AGREEMENT, 0)}.`),
  );
}

// ---- route page ------------------------------------------------------------------------------

const pctFmt = (digits) => (y) => `${(y * 100).toFixed(digits)}%`;
function chartCard(id, title, spec, note = null) {
  const tree = lineChart(spec);
  const svg = toDom(tree, document);
  svg.id = `chart-${id}`;
  const tip = h('div', { class: 'tip', hidden: true });
  const legend = h('ul', { class: 'legend' }, (spec.series ?? []).map((s) => h('li', {}, swatch(s.color), s.name)),
    (spec.thresholds ?? []).map((t) => h('li', { class: 'mut' }, swatch(t.color ?? '#dc2626'), t.label)));
  if (tree.meta) hover(svg, tip, tree.meta, spec);
  return h('figure', { class: 'card chart-card', id: `card-${id}` },
    h('figcaption', {}, h('h3', {}, title), legend),
    h('div', { class: 'plot' }, svg, tip),
    note && h('p', { class: 'mut small' }, note));
}
function hover(svg, tip, meta, spec) {
  const cursor = svg.querySelector('.c-cursor');
  const fmt = spec.yFormat ?? String;
  svg.addEventListener('mousemove', (ev) => {
    const box = svg.getBoundingClientRect();
    const t = timeAt(meta, (ev.clientX - box.left) / box.width);
    const rows = [];
    let at = null;
    for (const s of spec.series) {
      let best = null;
      for (const p of s.points) if (p[0] <= t + 30_000 && (best === null || p[0] > best[0])) best = p;
      if (best) { at = at === null ? best[0] : Math.max(at, best[0]); rows.push(h('div', {}, swatch(s.color), `${s.name}: `, best[1] === null ? DASH : fmt(best[1]))); }
    }
    const near = (spec.marks ?? []).filter((mk) => Math.abs(mk.t - t) <= 90_000);
    for (const mk of near) rows.push(h('div', { class: `tip-mark tip-${mk.kind}` }, `${hhmm(mk.t)} ${mk.label}`));
    if (!rows.length) return;
    const x = meta.sx(t);
    cursor.setAttribute('x1', x);
    cursor.setAttribute('x2', x);
    cursor.setAttribute('visibility', 'visible');
    tip.replaceChildren(h('div', { class: 'mut' }, hhmm(at ?? t)), ...rows);
    tip.hidden = false;
    const left = ((x / meta.width) * box.width);
    tip.style.left = `${Math.min(left + 12, box.width - 180)}px`; // CSSOM, allowed under CSP
  });
  svg.addEventListener('mouseleave', () => { tip.hidden = true; cursor.setAttribute('visibility', 'hidden'); });
}

function kpi(label, value, tone = null, sub = null) {
  return h('div', { class: `kpi${tone ? ` tone-${tone}` : ''}` }, h('div', { class: 'kpi-label' }, label), h('div', { class: 'kpi-value' }, value), sub && h('div', { class: 'kpi-sub mut' }, sub));
}

const TIPS = {
  Rewards: 'feedback count', 'Mean reward': 'mean of rewards', Conversion: 'positive rewards / max(requests, rewards)',
  '95% CI': 'Wilson score interval', Lift: 'relative change of conversion rate vs control', Diff: 'absolute difference (percentage points)',
  'z-test p': 'fixed-horizon; valid only at a sample size fixed in advance', 'Always-valid p': 'sequential (mSPRT) p-value',
  'P(beat control)': 'Bayesian, Beta(1,1) priors', Looks: 'times the sequential test was updated', 'Latency diff': 'mean shadow minus primary',
};
const tip = (hs) => hs.map((x) => (TIPS[x] ? [x, TIPS[x]] : x));

function experimentPanel(m) {
  if (!m.experiment) return null;
  const alpha = m.experiment.alpha;
  const t = lib.comparisonRows(m);
  return h('section', { class: 'card', 'aria-labelledby': 'exp-h', id: 'experiment' },
    h('h3', { id: 'exp-h' }, `Experiment vs control "${m.experiment.control ?? DASH}"`),
    m.srm && (m.srm.severity === 'alarm' ? h('div', { class: 'alert', role: 'alert' }, m.srm.text) : h('p', { class: 'mut' }, m.srm.text)),
    h('p', { id: 'verdict', class: m.verdict.rolledBack ? 'tone-bad strong' : m.verdict.significant ? 'sig' : null }, m.verdict.text),
    table(m.rolledBack ? 'Comparisons (traffic before the rollback)' : 'Comparisons', tip(t.headers), t.rows),
    h('details', { id: 'peek' }, h('summary', { id: 'peek-s' }, 'Which p-value should I trust? (safe to peek)'),
      h('p', {}, `The always-valid p-value comes from a sequential test: it stays valid however often you look at this page, ` +
        `so you may stop the experiment as soon as it drops to ${alpha} or below ("✓ significant"). ` +
        `The z-test p-value assumes one look at a pre-planned sample size; checking it repeatedly and stopping when it dips below ${alpha} ` +
        `inflates false positives. Use it as a descriptive number only.`)));
}

function actionBar(name, m, doc) {
  const st = lib.releaseState(doc);
  const isCanary = m.strategy === 'canary';
  const out = h('span', { id: 'action-out', 'aria-live': 'polite' });
  const btn = (id, label, cls, enabled, why, action, question) => h('button', {
    type: 'button', id, class: cls, disabled: !enabled || !can('operator'), title: !can('operator') ? needs('operator') : (enabled ? null : why),
    onclick: () => act(name, action, question, out),
  }, label);
  return h('div', { class: 'actions', id: 'route-actions' },
    btn('resume', 'Resume', 'ghost', st.rolledBack || st.paused || (doc?.controller?.drained ?? []).length > 0 || Boolean(doc?.controller?.promoted_arm),
      'Nothing to resume: not rolled back, paused, stopped or promoted', 'resume',
      `Resume route "${name}" at the step before the breach?`),
    btn('promote', isCanary ? 'Promote canary to 100 %' : 'Promote leader', 'primary', (isCanary || m.strategy === 'bandit') && !st.rolledBack,
      st.rolledBack ? 'Rolled back: resume first' : 'Only canary and bandit routes can be promoted', 'promote',
      isCanary ? `Send all traffic of "${name}" to the canary?` : `Send all traffic of "${name}" to the bandit's leader?`),
    btn('rollback', 'Roll back', 'danger', isCanary && !st.rolledBack, st.rolledBack ? 'Already rolled back' : 'Only canary routes roll back', 'rollback',
      `Roll back the canary on "${name}" now? All its traffic goes to stable.`),
    out);
}

async function act(route, action, question, out) {
  if (!window.confirm(question)) return;
  const r = await api(`/${action}/${encodeURIComponent(route)}`, { method: 'POST' });
  out.textContent = r.ok ? `${action[0].toUpperCase()}${action.slice(1)} done at ${new Date().toLocaleTimeString()}.` : lib.apiErrorText(r.status, r.body);
  out.className = r.ok ? 'tone-ok' : 'tone-bad';
  if (r.ok) setTimeout(() => { render().then(() => { const o = $('#action-out'); if (o) { o.textContent = out.textContent; o.className = 'tone-ok'; } }); }, 200);
}

function routeCharts(name, doc, series) {
  const arms = lib.seriesArms(series, lib.configArms(cache.config, name));
  const domain = lib.seriesDomain(series);
  if (!domain) {
    return [h('div', { class: 'card', id: 'no-series' }, h('p', { class: 'mut' },
      series ? 'No per-minute data yet: the charts fill in as traffic arrives.' : 'Time series unavailable (GET /_switchyard/series/<route> did not answer).'))];
  }
  const guard = lib.routeGuard(cache.config, name);
  const marks = lib.eventMarks(series);
  const base = { xDomain: domain, marks };
  const isCanary = (doc?.strategy ?? '') === 'canary';
  const cards = [];
  cards.push(chartCard('requests', 'Requests per minute', { ...base, title: 'Requests per minute per arm', series: lib.armSeries(series, 'requests', arms), yFormat: (y) => fmtInt(y) }));
  cards.push(chartCard('errors', 'Error rate (5-min rolling)', {
    ...base, title: 'Error rate per arm, rolling 5 minutes', series: lib.armSeries(series, 'error_rate', arms, 5), yFormat: pctFmt(1),
    thresholds: guard.maxErrorRate !== null ? [{ y: guard.maxErrorRate, label: `guard ${fmtPct(guard.maxErrorRate)}`, color: '#dc2626' }] : [],
  }));
  const p95 = lib.armSeries(series, 'p95', arms);
  const g95 = lib.p95GuardSeries(series, guard.maxP95Ratio, arms[0]);
  cards.push(chartCard('p95', 'Latency p95', { ...base, title: 'p95 latency per arm', series: g95 ? [...p95, g95] : p95, yFormat: (y) => (y === 0 ? '0' : fmtMs(y)) }));
  if (isCanary || (series.canary ?? []).length) {
    const steps = guard.steps.map((s, i) => ({ y: s.percent, label: `step ${i + 1}: ${s.percent}%`, color: '#94a3b8' }));
    cards.push(chartCard('canary', 'Canary share', {
      ...base, title: 'Canary share over time with controller events', series: [lib.canarySeries(series, domain[1])], yFormat: (y) => `${+y.toFixed(1)}%`, yMax: 100, thresholds: steps,
    }, 'Vertical marks: red rollback, grey step, green resume/promote, amber pause. Hover a mark for its reason.'));
  }
  const w = lib.weightSeries(series, arms, domain[1]);
  if (w.length) cards.push(chartCard('weights', 'Bandit weights', { ...base, title: 'Bandit weights over time', series: w, yFormat: pctFmt(0), yMax: 1 }));
  const sh = lib.shadowSeries(series);
  if (sh.length) {
    cards.push(chartCard('shadow', 'Shadow agreement', {
      ...base, title: 'Shadow agreement over time', series: sh, yFormat: pctFmt(0), yMax: 1,
      thresholds: [{ y: lib.MIN_SHADOW_AGREEMENT, label: `alert below ${fmtPct(lib.MIN_SHADOW_AGREEMENT, 0)}`, color: '#d97706' }],
    }));
  }
  return [h('div', { class: 'charts', id: 'charts' }, cards)];
}

async function routeView(name) {
  const [, s, t] = await Promise.all([loadRoutes().catch(() => []), api(`/stats/${encodeURIComponent(name)}`), api(`/series/${encodeURIComponent(name)}`)]);
  if (!s.ok) throw new Error(lib.apiErrorText(s.status, s.body));
  const doc = s.body;
  const series = t.ok ? t.body : null;
  const m = lib.summarize(doc, Date.now());
  const line = lib.healthLine({ name, strategy: m.strategy }, doc, series, cache.config);
  const arm = lib.armRows(m);
  const shadowAgree = m.shadows.map((x) => x.normalisedAgreement ?? x.statusAgreement).filter((x) => x !== null);
  const minAgree = shadowAgree.length ? Math.min(...shadowAgree) : null;
  const worst = m.arms.reduce((a, b) => ((b.errorRate ?? -1) > (a?.errorRate ?? -1) ? b : a), null);
  swap(
    h('p', { class: 'crumbs' }, h('a', { href: '#/' }, '← All routes')),
    h('div', { class: 'page-head' }, h('h2', {}, `Route ${m.route || name}`), badge(m.strategy), pill(line.state.label, line.state.tone, { id: 'route-state', class: `pill tone-${line.state.tone}` }),
      actionBar(name, m, doc)),
    line.alerts.length ? h('div', { class: 'alerts-list', id: 'route-alerts' }, line.alerts.map((a) => h('div', { class: `alert ${a.tone === 'bad' ? '' : 'warn'}`, role: a.tone === 'bad' ? 'alert' : null }, a.text))) : null,
    h('div', { class: 'kpis' },
      kpi('Requests', fmtInt(m.totalRequests), null, line.perMin === null ? `updated ${m.updated}` : `${fmtNum(line.perMin, 1)}/min now`),
      kpi('Worst error rate', worst ? fmtPct(worst.errorRate, 2) : DASH, line.arms.some((a) => a.bad) ? 'bad' : null, worst ? worst.name : null),
      kpi('p95 latency', m.arms.map((a) => fmtMs(a.latency.p95)).join(' / ') || DASH, null, m.arms.map((a) => a.name).join(' / ')),
      line.canary && kpi('Canary share', line.canary.text, m.rolledBack ? 'bad' : null, m.controller.text),
      minAgree !== null && kpi('Shadow agreement', fmtPct(minAgree), minAgree < lib.MIN_SHADOW_AGREEMENT ? 'bad' : null, `${m.shadows.length} shadow origin(s)`)),
    !m.hasData && h('div', { class: 'alert warn' }, 'No traffic recorded for this route yet.'),
    routeCharts(name, doc, series),
    experimentPanel(m),
    h('div', { class: 'card' }, table('Arms (since the route started)', tip(arm.headers), arm.rows)),
    m.shadows.length ? h('div', { class: 'card' }, table('Shadow agreement', tip(lib.shadowRows(m).headers), lib.shadowRows(m).rows)) : null,
    series && h('div', { class: 'card' }, table('Controller events (newest first)', ['When', 'Event', 'Canary', 'Detail'], lib.eventRows(series, localTime), { id: 'events', class: 'left' })),
  );
}

// ---- config editor, diff, churn, history ----------------------------------------------------

async function loadSchema() {
  if (schema !== undefined) return schema;
  try {
    const r = await fetch('config.schema.json', { cache: 'no-store', credentials: 'omit' });
    schema = r.ok ? await r.json() : null;
  } catch { schema = null; }
  return schema;
}

function editor(text, readOnly) {
  const gutter = h('div', { class: 'gutter', id: 'gutter', 'aria-hidden': 'true' });
  const area = h('textarea', { id: 'cfg', spellcheck: 'false', wrap: 'off', readonly: readOnly, 'aria-describedby': 'cfg-errors', 'aria-label': 'Config JSON' });
  area.value = text;
  area.addEventListener('scroll', () => { gutter.scrollTop = area.scrollTop; });
  area.addEventListener('input', () => {
    editorDirty = true;
    invalidateReview();
    clearTimeout(checkTimer);
    checkTimer = setTimeout(() => liveCheck(), 250);
  });
  area.addEventListener('keydown', (ev) => {
    if (ev.key === 'Tab' && !ev.shiftKey && !ev.ctrlKey && !ev.metaKey) { ev.preventDefault(); area.setRangeText('  ', area.selectionStart, area.selectionEnd, 'end'); area.dispatchEvent(new Event('input')); }
  });
  return h('div', { class: 'editor' }, gutter, area);
}

function paintGutter(errors) {
  const area = $('#cfg');
  const gutter = $('#gutter');
  if (!area || !gutter) return;
  const n = area.value.split('\n').length;
  const byLine = new Map();
  for (const e of errors) byLine.set(e.line, [...(byLine.get(e.line) ?? []), e]);
  const frag = document.createDocumentFragment();
  for (let i = 1; i <= n; i++) {
    const es = byLine.get(i);
    frag.append(h('div', { class: es ? 'ln err' : 'ln', title: es ? es.map((e) => `${e.path}: ${e.reason}`).join('\n') : null }, es ? `● ${i}` : String(i)));
  }
  gutter.replaceChildren(frag);
  gutter.scrollTop = area.scrollTop;
}

function showErrors(errors, title, source) {
  const out = $('#cfg-errors');
  paintGutter(errors);
  if (!out) return;
  if (!errors.length) { out.replaceChildren(); return; }
  out.replaceChildren(h('div', { class: 'alert errors', role: 'alert' },
    h('p', {}, h('b', {}, title), ' ', h('span', { class: 'mut' }, `(${source})`)),
    h('ul', {}, errors.map((e) => h('li', {},
      h('button', { type: 'button', class: 'link', onclick: () => jumpTo(e.line) }, `line ${e.line}`), ' ',
      h('code', {}, e.path), ' — ', e.reason)))));
}

function jumpTo(line) {
  const area = $('#cfg');
  const lines = area.value.split('\n');
  const start = lines.slice(0, line - 1).reduce((s, l) => s + l.length + 1, 0);
  area.focus();
  area.setSelectionRange(start, start + (lines[line - 1]?.length ?? 0));
  const lh = parseFloat(getComputedStyle(area).lineHeight) || 18;
  area.scrollTop = Math.max(0, (line - 4) * lh);
}

let checkTimer = null;
/** Checks the editor's text in the browser now (a pending debounced check is dropped). */
function liveCheck() {
  clearTimeout(checkTimer);
  const area = $('#cfg');
  if (!area) return [];
  const r = checkConfigText(area.value, schema);
  showErrors(r.errors, r.errors.length ? `${r.errors.length} problem(s)` : '', schema ? 'checked in the browser against config.schema.json' : 'JSON syntax checked in the browser; the server validates the rest');
  const st = $('#cfg-state');
  if (st) {
    st.textContent = r.errors.length ? `${r.errors.length} problem(s)` : (schema ? 'Schema-valid' : 'Well-formed JSON');
    st.className = `pill tone-${r.errors.length ? 'bad' : 'ok'}`;
  }
  return r.errors;
}

let reviewedText = null;
function invalidateReview() {
  if (reviewedText === null) return;
  reviewedText = null;
  const ap = $('#apply');
  if (ap) ap.disabled = true;
  const rv = $('#review-state');
  if (rv) rv.textContent = 'The text changed since the review: review again before applying.';
}

async function serverValidate(text, churn) {
  const r = await api(churn ? '/validate?churn=1' : '/validate', { method: 'POST', body: text });
  if (r.status === 422 || (!r.ok && lib.configErrors(r.body).length && r.status !== 401 && r.status !== 403)) {
    const errs = placeErrors(text, lib.configErrors(r.body));
    showErrors(errs, `${errs.length} problem(s)`, 'from the server validator: POST /_switchyard/validate');
    return { ok: false, r };
  }
  if (!r.ok) {
    $('#cfg-out').replaceChildren(h('div', { class: 'alert', role: 'alert' }, lib.apiErrorText(r.status, r.body)));
    return { ok: false, r };
  }
  return { ok: true, r };
}

async function review() {
  const text = $('#cfg').value;
  const out = $('#cfg-out');
  const local = liveCheck();
  if (local.length) { out.replaceChildren(h('div', { class: 'alert', role: 'alert' }, 'Fix the problems above first; nothing was sent.')); return; }
  out.replaceChildren(h('p', { class: 'mut' }, 'Validating and computing the churn preview…'));
  const v = await serverValidate(text, true);
  if (!v.ok) { out.replaceChildren(h('div', { class: 'alert', role: 'alert' }, 'Invalid: see the errors next to the text. Nothing was written.')); return; }
  const diff = lib.lineDiff(lib.canonicalJson(cache.configText ?? ''), lib.canonicalJson(text));
  const churn = lib.churnRows(v.r.body);
  reviewedText = text;
  const canApply = can('admin');
  out.replaceChildren(h('section', { class: 'card review', id: 'review' },
    h('h3', {}, 'Review before applying'),
    h('p', {}, pill('Valid', 'ok'), ` config id would be `, h('code', {}, String(v.r.body?.id ?? DASH)), ` · ${fmtInt(v.r.body?.routes)} route(s)`),
    h('h4', {}, 'Diff against the config in force'),
    diff.length ? diffView(diff) : h('p', { class: 'mut', id: 'no-diff' }, 'No change against the config in force.'),
    h('h4', {}, 'Churn: users who change arm'),
    churn ? table(null, ['Route', 'Users changing arm', 'Largest moves', 'New shares'], churn.map((c) => h('tr', {},
      h('th', { scope: 'row' }, c.route, c.note ? h('span', { class: 'mut small' }, ` (${c.note})`) : null),
      h('td', { class: `tone-${c.tone}` }, c.changedText), h('td', {}, c.movesText), h('td', {}, c.sharesText))), { id: 'churn' })
      : h('p', { class: 'mut', id: 'churn-none' }, 'This server does not compute churn (POST /_switchyard/validate?churn=1 answered without a "churn" field): review the diff, or run `cargo run --bin switchyard -- diff old.json new.json`.'),
    h('div', { class: 'actions' },
      h('label', { for: 'cfg-msg' }, 'Message'),
      h('input', { id: 'cfg-msg', type: 'text', maxlength: '200', placeholder: 'what and why (kept in the history)', class: 'grow' }),
      h('button', { type: 'button', id: 'apply', class: 'primary', disabled: !canApply, title: needs('admin'), onclick: apply }, 'Apply'),
      h('span', { id: 'review-state', class: 'mut' }, canApply ? '' : needs('admin')))));
}

function diffView(rows) {
  return h('div', { class: 'diff', id: 'diff', role: 'table', 'aria-label': 'Diff against the config in force' }, rows.map((r) => h('div', { class: `d d-${r.op === '+' ? 'add' : r.op === '-' ? 'del' : r.op === '…' ? 'gap' : 'ctx'}`, role: 'row' },
    h('span', { class: 'dn' }, r.a ?? ''), h('span', { class: 'dn' }, r.b ?? ''), h('span', { class: 'do' }, r.op === '…' ? '⋯' : r.op), h('span', { class: 'dt' }, r.text))));
}

async function apply() {
  const text = $('#cfg').value;
  if (text !== reviewedText) { invalidateReview(); return; }
  const msg = ($('#cfg-msg')?.value ?? '').trim();
  const headers = {};
  if (cache.configEtag) headers['if-match'] = cache.configEtag;
  // Header values must be Latin-1: keep the message readable, drop what cannot travel.
  if (msg) headers['x-switchyard-message'] = msg.replace(/[^\x20-\x7e]/g, '?');
  const r = await api('/config', { method: 'PUT', body: text, headers });
  const out = $('#cfg-out');
  if (r.status === 412) {
    out.replaceChildren(h('div', { class: 'alert', role: 'alert', id: 'conflict' },
      'Someone else changed the config since you loaded it, so nothing was written (412). Your text is kept: ',
      h('button', { type: 'button', onclick: async () => { await loadConfig(); await loadHistory(); review(); } }, 'Compare with the new version'), ' then apply again.'));
    return;
  }
  if (r.status === 422) {
    const errs = placeErrors(text, lib.configErrors(r.body));
    showErrors(errs, `${errs.length} problem(s)`, 'rejected by the server; nothing was written');
    out.replaceChildren();
    return;
  }
  if (!r.ok) { out.replaceChildren(h('div', { class: 'alert', role: 'alert' }, lib.apiErrorText(r.status, r.body))); return; }
  editorDirty = false;
  reviewedText = null;
  await loadConfig();
  const v = lib.etagVersion(r.headers.get('etag')) ?? r.body?.version ?? lib.etagVersion(cache.configEtag);
  out.replaceChildren(h('div', { class: 'alert ok', role: 'status', id: 'applied' },
    `Applied: config ${r.body?.id ?? ''}${v ? ` as version ${v}` : ''}. The workers pick it up within seconds.`));
  $('#cfg-base').textContent = baseText();
  await loadHistory();
}

function baseText() {
  const v = lib.etagVersion(cache.configEtag);
  const val = cache.validation;
  return `Editing against ${val?.id ? `config ${val.id}` : 'an empty KV key'}${v ? ` (version ${v})` : ''}${val && !val.valid ? ' — the document in KV is INVALID' : ''}.`;
}

async function loadHistory() {
  const box = $('#history');
  if (!box) return;
  const r = await api('/config/history');
  if (!r.ok) {
    box.replaceChildren(h('p', { class: 'mut' }, r.status === 404 ? 'This server keeps no config history yet.' : lib.apiErrorText(r.status, r.body)));
    return;
  }
  const rows = lib.historyRows(r.body, localTime);
  const current = lib.etagVersion(cache.configEtag) ?? (rows[0] ? String(rows[0].version) : null);
  box.replaceChildren(table(`${rows.length} version(s), newest first`, ['Version', 'Config', 'When', 'By', 'Message', ''], rows.map((x) => {
    const isCurrent = String(x.version) === String(current);
    return h('tr', { id: `hist-${x.version}`, class: isCurrent ? 'current' : null },
      h('th', { scope: 'row' }, String(x.version), isCurrent ? [' ', pill('in force', 'ok')] : null),
      h('td', {}, h('code', {}, x.config)), h('td', {}, x.at), h('td', {}, x.by), h('td', { class: 'msg' }, x.message),
      h('td', { class: 'act' }, isCurrent ? null : h('button', { type: 'button', class: 'ghost', id: `revert-${x.version}`, disabled: !can('admin'), title: needs('admin'), onclick: () => revert(x.version) }, 'Revert to this')));
  }), { id: 'history-table', class: 'left' }));
}

async function revert(version) {
  if (!window.confirm(`Restore config version ${version} exactly? It becomes a new version in the history.`)) return;
  const r = await api(`/config/revert/${encodeURIComponent(version)}`, { method: 'POST' });
  const out = $('#cfg-out');
  if (!r.ok) { out.replaceChildren(h('div', { class: 'alert', role: 'alert' }, lib.apiErrorText(r.status, r.body))); return; }
  await loadConfig();
  editorDirty = false;
  $('#cfg').value = cache.configText ?? '';
  liveCheck();
  $('#cfg-base').textContent = baseText();
  out.replaceChildren(h('div', { class: 'alert ok', role: 'status', id: 'reverted' }, `Reverted to version ${version}${r.body?.id ? ` (config ${r.body.id})` : ''}.`));
  await loadHistory();
}

async function configView() {
  if (editorDirty && $('#cfg')) return; // never clobber an edit in progress
  loadRoutes().catch(() => {});
  const [r] = await Promise.all([loadConfig(), loadSchema()]);
  if (!r.ok && r.status !== 404) throw new Error(lib.apiErrorText(r.status, r.body));
  const readOnly = !can('admin');
  swap(
    h('div', { class: 'page-head' }, h('h2', {}, 'Config'), h('span', { id: 'cfg-state', class: 'pill tone-idle' }, '…'),
      h('span', { class: 'mut small' }, schema ? 'Inline checks: JSON Schema (config.schema.json)' : 'Inline checks: JSON syntax; schema errors come from the server')),
    h('p', { class: 'mut', id: 'cfg-base' }, baseText()),
    readOnly && h('p', { class: 'alert warn' }, `Read-only: ${needs('admin')}.`),
    h('div', { class: 'card' },
      editor(cache.configText ?? '', readOnly),
      h('div', { id: 'cfg-errors', 'aria-live': 'polite' }),
      h('div', { class: 'actions' },
        h('button', { type: 'button', id: 'validate', onclick: async () => { if (!liveCheck().length) { const v = await serverValidate($('#cfg').value, false); if (v.ok) $('#cfg-out').replaceChildren(h('div', { class: 'alert ok', role: 'status', id: 'valid' }, `Valid: config id would be ${v.r.body?.id} (${v.r.body?.routes} route(s)). Nothing written.`)); } } }, 'Validate on server'),
        h('button', { type: 'button', id: 'review-btn', class: 'primary', onclick: review }, 'Review changes…'),
        h('button', { type: 'button', id: 'format', class: 'ghost', disabled: readOnly, onclick: () => { const a = $('#cfg'); const c = lib.canonicalJson(a.value); if (c !== a.value) { a.value = c; a.dispatchEvent(new Event('input')); } } }, 'Format'),
        h('button', { type: 'button', id: 'reload', class: 'ghost', onclick: () => { editorDirty = false; reviewedText = null; configView().catch(showError); } }, 'Reload from server'))),
    h('div', { id: 'cfg-out', 'aria-live': 'polite' }),
    h('section', { class: 'card' }, h('h3', {}, 'History'), h('div', { id: 'history' }, h('p', { class: 'mut' }, 'Loading…'))),
  );
  liveCheck();
  if (cache.validation && !cache.validation.valid) showErrors(placeErrors(cache.configText ?? '', lib.configErrors({ validation: cache.validation })), 'The config in KV is invalid:', 'server');
  await loadHistory();
}

// ---- wiring ---------------------------------------------------------------------------------

function showError(e) {
  main.replaceChildren(h('div', { class: 'alert', role: 'alert', id: 'view-error' }, e.message || String(e)));
}

async function render() {
  const hash = location.hash || '#/';
  for (const a of document.querySelectorAll('.top nav a')) a.classList.toggle('active', a.getAttribute('href') === (hash.startsWith('#/config') ? '#/config' : '#/'));
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
      if (location.hash !== '#/config' && !document.hidden) render(); // the editor refreshes only on demand
    }, REFRESH_MS);
  }
}

window.addEventListener('hashchange', () => {
  editorDirty = false;
  reviewedText = null;
  render().then(() => main.focus({ preventScroll: true }));
});
$('#auto').addEventListener('change', schedule);
$('#refresh').addEventListener('click', () => render());
$('#token-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  setToken($('#token').value.trim());
  $('#token').value = '';
  banner(null);
  await loadWho();
  render();
});
$('#signout').addEventListener('click', async () => {
  setToken('');
  await loadWho();
  render();
});
loadWho().then(render);
schedule();
