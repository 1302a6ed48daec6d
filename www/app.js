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

// The server's clock (its Date header) when it differs from this one by more than 5 s, so
// "now" rates and "ago" texts agree with the timestamps the workers write.
let clockSkew = 0;
const now = () => Date.now() + clockSkew;

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
  const server = Date.parse(res.headers.get('date') ?? '');
  if (Number.isFinite(server)) clockSkew = Math.abs(server - Date.now()) > 5000 ? server - Date.now() : 0;
  const text = await res.text();
  let json;
  try { json = JSON.parse(text); } catch { json = text; }
  return { ok: res.ok, status: res.status, body: json, headers: res.headers };
}

/** A 401 from the operator API: the view gives way to the sign-in card. */
class SignInNeeded extends Error {}

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
  if (!who && r.status === 401) setToken(''); // a token the server refuses is not kept
  showWho(who ? null : `Token not accepted: ${lib.apiErrorText(r.status, r.body)}`);
}
function showWho(problem = null) {
  $('#who').hidden = !who;
  $('#role').replaceChildren(who ? h('span', {}, h('b', {}, who.name || 'token'), ' · ', pill(who.role, who.role === 'admin' ? 'bad' : who.role === 'operator' ? 'warn' : 'idle', { id: 'role-pill' })) : '');
  showSignin(!who, problem);
}
/** The sign-in card instead of the views (no token, or one the server refused). */
function showSignin(show, problem = null) {
  $('#signin').hidden = !show;
  $('#bar').hidden = show;
  main.hidden = show;
  const p = $('#signin-problem');
  p.hidden = !problem;
  p.textContent = problem ?? '';
  if (show) banner(null);
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
  if (s.status === 401 || (c.status === 401 && !s.ok)) throw new SignInNeeded(lib.apiErrorText(401, s.ok ? c.body : s.body));
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

function sparkline(series, t) {
  // The last hour's complete minutes (the current one is still filling); a minute without a row had no requests.
  const bucket = series?.bucket_ms ?? 60_000;
  const hour = series ? lib.fillMinutes(series, t - bucket, t - 60 * 60_000, 60) : null;
  const total = { name: 'requests', color: '#3b82f6', points: (hour?.minutes ?? []).map((m) => [m.t, Object.values(m.arms ?? {}).reduce((a, x) => a + (x?.requests ?? 0), 0)]) };
  const tree = lineChart({ title: 'requests per minute, last hour', series: total.points.length ? [total] : [], width: 140, height: 34, empty: '',
    margin: { top: 3, right: 2, bottom: 3, left: 2 } });
  const svg = toDom(strip(tree), document);
  svg.setAttribute('class', 'spark');
  return svg;
}
/** A chart tree without axes and labels (sparklines). */
function strip(node) {
  if (typeof node !== 'object') return node;
  const keep = node.children.filter((c) => typeof c !== 'object' || !['c-tick', 'c-axis', 'c-label', 'c-mark'].includes(c.attrs.class?.split(' ')[0]));
  return { ...node, children: keep.map(strip) };
}

const shareText = (x) => (x === null ? DASH : fmtPct(x, x > 0 && x < 0.1 ? 1 : 0));
/** "planned 50% · seen 48%" for an arm (the observed share of the last 15 minutes, else of the counts). */
function sharesCell(a, line) {
  const seenTitle = line.observedSource === 'recent' ? `share of the requests of the last ${line.observedMinutes} minutes` : 'share of the requests counted since the route (re)started';
  const off = a.planned !== null && a.observed !== null && Math.abs(a.planned - a.observed) > 0.1;
  return h('span', { class: 'shares' },
    h('span', { title: line.plannedKnown ? 'the share the config and the controller give this arm now' : 'this strategy has no fixed split (flags decide per unit)' }, `planned ${line.plannedKnown ? shareText(a.planned) : 'by rules'}`),
    ' · ', h('span', { title: seenTitle, class: off ? 'tone-warn strong' : null }, `seen ${shareText(a.observed)}`));
}
/** The origin an arm is served by: its name and URL host (the URL and description on hover). */
function originTag(a) {
  if (!a.origin) return h('span', { class: 'mut' }, 'origin not in the config');
  return h('span', { class: 'origin', title: [a.url, a.note].filter(Boolean).join(' — ') || null },
    h('code', {}, a.origin), a.host ? h('span', { class: 'mut' }, ` @ ${a.host}`) : null);
}
function shadowPill(line, id) {
  if (!line.shadow) return null;
  return pill(`shadow disagrees: ${fmtPct(line.shadow.agreement, 0)} agree${line.shadow.count > 1 ? ` (${line.shadow.count} shadows)` : ''}`, 'shadow', {
    id, class: 'pill tone-shadow',
    title: `mirrored copy ${line.shadow.origin} agrees on ${fmtPct(line.shadow.agreement)} of the answers compared (alert below ${fmtPct(lib.MIN_SHADOW_AGREEMENT, 0)}); it serves no user, so the route's health does not depend on it`,
  });
}

function healthRow(line, series, t) {
  return h('tr', { id: `health-${line.name}`, class: `health${line.attention ? ' row-bad' : ''}`, 'data-state': line.state.label },
    h('th', { scope: 'row' }, h('a', { href: `#/route/${encodeURIComponent(line.name)}`, id: `route-${line.name}` }, line.name), h('div', {}, badge(line.strategy))),
    h('td', { class: 'state-cell' }, h('div', {}, pill(line.state.label, line.state.tone, { class: `pill tone-${line.state.tone} state` })), line.shadow ? h('div', {}, shadowPill(line, `shadow-${line.name}`)) : null,
      line.canary ? h('div', { class: 'small mut canary', id: `canary-${line.name}` }, `canary ${line.canary.text}`) : null),
    h('td', { class: 'num reqs' }, h('div', { class: 'strong' }, fmtInt(line.total)),
      h('div', { class: 'mut small rate', id: `rate-${line.name}` }, lib.rateText(line.perMin, line.lastSeen, t)),
      line.restart ? h('div', { class: 'small tone-warn restart', id: `restart-${line.name}`, title: line.restart.detail || null }, `since ${hhmm(line.restart.at)}: config changed`) : null),
    h('td', {}, sparkline(series, t)),
    h('td', { class: 'arms' }, line.arms.length ? h('div', { class: 'arms-grid' }, line.arms.map((a) => h('div', { class: 'arm-line', id: `arm-${line.name}-${a.arm}` },
      h('b', {}, a.arm), ' ', originTag(a), ' ', sharesCell(a, line), ' ',
      h('span', { class: `chip${a.bad ? ' chip-bad' : ''}`, title: `${fmtInt(a.requests)} requests counted` }, `${fmtPct(a.errorRate, 1)} err`))))
      : h('span', { class: 'mut' }, DASH)),
    // Shadows are in the badge beside the state; the other signals here.
    h('td', { class: 'alerts' }, line.alerts.some((a) => a.kind !== 'shadow') ? line.alerts.filter((a) => a.kind !== 'shadow').map((a) => h('div', { class: `alert-chip tone-${a.tone}` }, a.text)) : h('span', { class: 'mut' }, 'none')),
  );
}

async function overview() {
  const routes = await loadRoutes();
  const docs = await Promise.all(routes.map(async (r) => {
    const [s, t] = await Promise.all([api(`/stats/${encodeURIComponent(r.name)}`), api(`/series/${encodeURIComponent(r.name)}`)]);
    return { stats: s.ok ? s.body : null, series: t.ok ? t.body : null };
  }));
  const t = now();
  const lines = routes.map((r, i) => lib.healthLine(r, docs[i].stats, docs[i].series, cache.config, t));
  const nBad = lines.filter((l) => l.attention).length;
  const nShadow = lines.filter((l) => l.shadow).length;
  swap(
    h('div', { class: 'page-head' },
      h('h2', {}, 'Routes'),
      h('span', { class: 'mut' }, `${routes.length} route(s)`),
      nBad ? pill(`${nBad} need attention`, 'bad', { id: 'attention' }) : pill('serving arms healthy', 'ok', { id: 'attention' }),
      nShadow ? pill(`${nShadow} shadow${nShadow > 1 ? 's' : ''} disagree${nShadow > 1 ? '' : 's'}`, 'shadow', { id: 'shadow-count', class: 'pill tone-shadow' }) : null),
    routes.length
      ? h('div', { class: 'card flush' }, table(null, ['Route', 'State', 'Requests', 'Last hour', ['Arms: origin · planned vs seen share · errors', 'planned: the share the config and controller give the arm now; seen: its share of the requests of the last 15 minutes'], 'Signals'],
        lines.map((l, i) => healthRow(l, docs[i].series, t)), { class: 'health-table', id: 'health' }))
      : h('p', {}, 'No valid config is in force. ', h('a', { href: '#/config' }, 'Write one in the config editor.')),
    h('p', { class: 'mut small', id: 'health-note' },
      `State comes from the serving arms only: an arm's error rate above the route's guard (${fmtPct(lib.DEFAULT_MAX_ERROR_RATE, 0)} without one) once it has ${lib.MIN_REQUESTS_TO_FLAG} requests makes a route Unhealthy. ` +
      `A shadow (a mirrored copy that serves no user) whose answers agree below ${fmtPct(lib.MIN_SHADOW_AGREEMENT, 0)} gets its own "shadow disagrees" badge. ` +
      'Rates are the requests of the last 5 minutes up to now, so they fall to 0 when traffic stops.'),
  );
}

// ---- route page ------------------------------------------------------------------------------

/** A percent formatter for fractions; axis ticks (given their step) get just the decimals the step needs. */
const pctFmt = (digits) => (y, step) => {
  const d = typeof step === 'number' && step > 0 ? Math.min(3, (String(+(step * 100).toPrecision(6)).split('.')[1] ?? '').length) : digits;
  return `${(y * 100).toFixed(d)}%`;
};
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

function kpi(label, value, tone = null, sub = null, id = null) {
  return h('div', { class: `kpi${tone ? ` tone-${tone}` : ''}`, id }, h('div', { class: 'kpi-label' }, label), h('div', { class: 'kpi-value' }, value), sub && h('div', { class: 'kpi-sub mut' }, sub));
}

const TIPS = {
  Rewards: 'feedback count', 'Mean reward': 'mean of rewards', Conversion: 'units that converted / units exposed under the split in force',
  '95% CI': 'Wilson score interval (conversion, per unit) or delta-method interval (means per unit)', Lift: 'relative change against control',
  'Effect (diff)': 'arm minus control, percentage points', 'Effect (mean diff)': 'arm mean minus control mean',
  '95% CI of the effect': 'unpooled Wald interval (conversion) or delta-method interval (means per unit)',
  Verdict: 'winner, loser or inconclusive: one per comparison', Why: 'the test that decides, with its p-value, or why nothing is decided',
  'z-test p': 'fixed-horizon; valid only at a sample size fixed in advance', 'z-test p (delta method)': 'fixed-horizon, on the per-unit ratio metric; valid only at a sample size fixed in advance',
  'Always-valid p': 'sequential (mSPRT) p-value, tuned to the route\'s expected units', Units: 'distinct units exposed under the split in force',
  'P(beat control)': 'Bayesian, Beta(1,1) priors', Looks: 'times the sequential test was updated', 'Latency diff': 'mean shadow minus primary',
  Planned: 'the share the config and the controller give the arm now', Seen: 'the arm\'s share of the requests of the last 15 minutes (else of the counts)',
};
const tip = (hs) => hs.map((x) => (TIPS[x] ? [x, TIPS[x]] : x));

/** A canary's release pipeline: its stages in order, where the route is, what it waits for. */
function pipelinePanel(doc) {
  const v = lib.pipelineView(doc.pipeline);
  if (!v) return null;
  const mark = { done: '✓', current: '▶', failed: '✕', next: '' };
  return h('section', { class: 'card', 'aria-labelledby': 'pipe-h', id: 'pipeline' },
    h('h3', { id: 'pipe-h' }, 'Release pipeline'),
    h('ol', { class: 'pipeline' }, v.stages.map((s) => h('li', { class: `stage ${s.state}`, 'aria-current': s.state === 'current' ? 'step' : null },
      h('span', { class: 'stage-mark', 'aria-hidden': 'true' }, mark[s.state]), h('b', {}, s.label), s.detail ? h('div', { class: 'mut small' }, s.detail) : null))),
    h('p', { id: 'pipeline-now', class: v.status === 'rolled_back' ? 'tone-bad strong' : null }, v.headline,
      v.waiting ? h('span', { class: 'mut' }, ` — waiting for ${v.waiting}`) : null));
}

function experimentPanel(m) {
  if (!m.experiment) return null;
  const alpha = m.experiment.alpha;
  const t = lib.comparisonRows(m);
  const o = lib.otherStatRows(m);
  const fromStats = m.arms.some((a) => a.verdict?.source === 'stats');
  return h('section', { class: 'card', 'aria-labelledby': 'exp-h', id: 'experiment' },
    h('h3', { id: 'exp-h' }, `Experiment vs control "${m.experiment.control ?? DASH}"`),
    m.srm && (m.srm.severity === 'alarm' ? h('div', { class: 'alert', role: 'alert' }, m.srm.text) : h('p', { class: 'mut' }, m.srm.text)),
    h('p', { id: 'verdict', class: m.verdict.rolledBack ? 'tone-bad strong' : m.verdict.significant ? 'sig' : null }, m.verdict.text),
    table(m.rolledBack ? 'Comparisons (traffic before the rollback)' : 'Comparisons: one verdict each', tip(t.headers),
      t.rows.map((r, i) => h('tr', { class: `cmp-row verdict-${t.tones[i]}` }, h('th', { scope: 'row' }, r[0]),
        h('td', { class: `verdict tone-${t.tones[i]}` }, h('b', {}, r[1])), h('td', { class: 'why' }, r[2]), r.slice(3).map((c) => h('td', {}, c)))),
      { id: 'comparisons', class: 'left' }),
    h('p', { class: 'mut small' }, fromStats
      ? 'Verdicts as the stats document states them, each with the test that decides it.'
      : `Each verdict is decided by the always-valid (sequential) test at α = ${alpha}: it stays valid however often this page is looked at, so a result can be acted on as soon as it appears.`),
    h('details', { id: 'other-stats' }, h('summary', { id: 'other-stats-s' }, 'Other statistics (descriptive: they decide nothing)'),
      h('p', { class: 'mut small' }, `The fixed-horizon z-test assumes one look at a sample size fixed in advance; ` +
        `checking it repeatedly and stopping when it dips below ${alpha} inflates false positives. P(beat control) is a Bayesian summary with flat priors. ` +
        'Neither is a verdict, and a metric without data shows none.'),
      table(null, tip(o.headers), o.rows, { id: 'other-stats-table' })));
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

function routeCharts(name, doc, raw, t) {
  const arms = lib.seriesArms(raw, lib.configArms(cache.config, name));
  const domain = lib.seriesDomain(raw, t);
  if (!domain) {
    return [h('div', { class: 'card', id: 'no-series' }, h('p', { class: 'mut' },
      raw ? 'No per-minute data yet: the charts fill in as traffic arrives.' : 'Time series unavailable (GET /_switchyard/series/<route> did not answer).'))];
  }
  // Complete minutes up to now (the current one is still filling); minutes without a row had no requests.
  // Until two minutes are complete, the filling minute is shown too (a line, not a dot or nothing).
  let series = lib.fillMinutes(raw, t - (raw?.bucket_ms ?? 60_000));
  if ((series?.minutes ?? []).length < 2) series = lib.fillMinutes(raw, t);
  const guard = lib.routeGuard(cache.config, name);
  const marks = lib.eventMarks(series);
  const base = { xDomain: domain, marks };
  const isCanary = (doc?.strategy ?? '') === 'canary';
  const cards = [];
  const markNote = 'Vertical marks: red rollback, grey step, green resume/promote, amber pause, violet config change (the counts restart there). Hover a mark for its reason.';
  cards.push(chartCard('requests', 'Requests per minute', { ...base, title: 'Requests per minute per arm', series: lib.armSeries(series, 'requests', arms), yFormat: (y) => fmtInt(y), integer: true },
    marks.some((mk) => mk.kind === 'config') ? markNote : null));
  cards.push(chartCard('errors', 'Error rate (5-min rolling)', {
    ...base, title: 'Error rate per arm, rolling 5 minutes', series: lib.armSeries(series, 'error_rate', arms, 5), yFormat: pctFmt(2),
    // The axis reaches the guard (or 1 %): a route without errors shows a flat line at 0, not a ±100 % span.
    yMax: guard.maxErrorRate ?? 0.01,
    thresholds: guard.maxErrorRate !== null ? [{ y: guard.maxErrorRate, label: `guard ${fmtPct(guard.maxErrorRate)}`, color: '#dc2626' }] : [],
  }));
  const p95 = lib.armSeries(series, 'p95', arms);
  const g95 = lib.p95GuardSeries(series, guard.maxP95Ratio, arms[0]);
  cards.push(chartCard('p95', 'Latency p95', { ...base, title: 'p95 latency per arm', series: g95 ? [...p95, g95] : p95, yFormat: (y) => (y === 0 ? '0' : fmtMs(y)) }));
  if (isCanary || (series.canary ?? []).length) {
    const steps = guard.steps.map((s, i) => ({ y: s.percent, label: `step ${i + 1}: ${s.percent}%`, color: '#94a3b8' }));
    cards.push(chartCard('canary', 'Canary share', {
      ...base, title: 'Canary share over time with controller events', series: [lib.canarySeries(series, domain[1])], yFormat: (y) => `${+y.toFixed(1)}%`, yMax: 100, thresholds: steps,
    }, markNote));
  }
  const w = lib.weightSeries(series, arms, domain[1]);
  if (w.length) cards.push(chartCard('weights', 'Bandit weights', { ...base, title: 'Bandit weights over time', series: w, yFormat: pctFmt(0), yMax: 1 }));
  const sh = lib.shadowSeries(series);
  if (sh.length) {
    cards.push(chartCard('shadow', 'Shadow agreement (mirrored copy, serves no user)', {
      ...base, title: 'Shadow agreement over time', series: sh, yFormat: pctFmt(0), yMax: 1,
      thresholds: [{ y: lib.MIN_SHADOW_AGREEMENT, label: `shadow disagrees below ${fmtPct(lib.MIN_SHADOW_AGREEMENT, 0)}`, color: '#7c3aed' }],
    }));
  }
  return [h('div', { class: 'charts', id: 'charts' }, cards)];
}

/** Who serves each arm, and the planned against the observed share. */
function armsPlan(line) {
  if (!line.arms.length) return null;
  const seen = line.observedSource === 'recent' ? `Seen (last ${line.observedMinutes} min)` : 'Seen (counts)';
  return h('section', { class: 'card', id: 'arms-plan', 'aria-labelledby': 'arms-plan-h' },
    h('h3', { id: 'arms-plan-h' }, 'Arms: who serves them, planned against seen share'),
    table(null, tip(['Arm', 'Origin', 'URL', 'Planned', seen, 'Requests', 'Error rate']).map((x, i) => (i === 4 ? [seen, TIPS.Seen] : x)),
      line.arms.map((a) => {
        const off = a.planned !== null && a.observed !== null && Math.abs(a.planned - a.observed) > 0.1;
        return h('tr', { id: `plan-${a.arm}`, 'data-planned': a.planned ?? '', 'data-observed': a.observed ?? '' },
          h('th', { scope: 'row' }, a.arm),
          h('td', {}, a.origin ? h('code', {}, a.origin) : h('span', { class: 'mut' }, DASH), a.note ? h('div', { class: 'mut small' }, a.note) : null),
          h('td', {}, a.url ? h('span', { title: a.url }, a.host ?? a.url) : DASH),
          h('td', { class: 'num' }, line.plannedKnown ? shareText(a.planned) : 'by flag rules'),
          h('td', { class: `num${off ? ' tone-warn strong' : ''}` }, shareText(a.observed)),
          h('td', { class: 'num' }, fmtInt(a.requests)),
          h('td', { class: `num${a.bad ? ' tone-bad strong' : ''}` }, fmtPct(a.errorRate, 2)));
      }), { id: 'plan-table', class: 'left' }));
}

async function routeView(name) {
  const [routes, s, r] = await Promise.all([loadRoutes().catch((e) => { if (e instanceof SignInNeeded) throw e; return []; }),
    api(`/stats/${encodeURIComponent(name)}`), api(`/series/${encodeURIComponent(name)}`)]);
  if (!s.ok) throw new (s.status === 401 ? SignInNeeded : Error)(lib.apiErrorText(s.status, s.body));
  const doc = s.body;
  const series = r.ok ? r.body : null;
  const t = now();
  const m = lib.summarize(doc, t);
  const inForce = routes.find((x) => x.name === name) ?? {};
  const line = lib.healthLine({ name, strategy: m.strategy, fingerprint: inForce.fingerprint ?? null }, doc, series, cache.config, t);
  const arm = lib.armRows(m);
  const shadowAgree = m.shadows.map((x) => x.normalisedAgreement ?? x.statusAgreement).filter((x) => x !== null);
  const minAgree = shadowAgree.length ? Math.min(...shadowAgree) : null;
  const worst = m.arms.reduce((a, b) => ((b.errorRate ?? -1) > (a?.errorRate ?? -1) ? b : a), null);
  const restart = line.restart;
  swap(
    h('p', { class: 'crumbs' }, h('a', { href: '#/' }, '← All routes')),
    h('div', { class: 'page-head' }, h('h2', {}, `Route ${m.route || name}`), badge(m.strategy), pill(line.state.label, line.state.tone, { id: 'route-state', class: `pill tone-${line.state.tone}` }),
      shadowPill(line, 'route-shadow'), actionBar(name, m, doc)),
    line.alerts.length ? h('div', { class: 'alerts-list', id: 'route-alerts' }, line.alerts.map((a) => h('div', { class: `alert ${a.tone === 'bad' ? '' : a.tone === 'shadow' ? 'shadow' : 'warn'}`, role: a.tone === 'bad' ? 'alert' : null },
      a.text, a.kind === 'shadow' ? h('span', { class: 'mut' }, ' — a mirrored copy that serves no user: the serving arms decide the route\'s health') : null))) : null,
    restart ? h('div', { class: 'alert note', id: 'restart-note', role: 'status' },
      h('b', {}, `Counts restarted at ${hhmm(restart.at)}: the route's strategy changed. `),
      `The numbers on this page count from then (${fmtInt(m.totalRequests)} requests); the ${fmtInt(restart.before)} requests before it are in the charts only, left of the violet "config changed" mark.`,
      restart.detail ? h('span', { class: 'mut' }, ` (${restart.detail})`) : null) : null,
    h('div', { class: 'kpis' },
      kpi(restart ? `Requests since ${hhmm(restart.at)}` : 'Requests', fmtInt(m.totalRequests), null, line.perMin === null ? `updated ${m.updated}` : lib.rateText(line.perMin, line.lastSeen, t), 'kpi-requests'),
      kpi('Worst error rate', worst ? fmtPct(worst.errorRate, 2) : DASH, line.arms.some((a) => a.bad) ? 'bad' : null, worst ? worst.name : null),
      kpi('p95 latency', m.arms.map((a) => fmtMs(a.latency.p95)).join(' / ') || DASH, null, m.arms.map((a) => a.name).join(' / ')),
      line.canary && kpi('Canary share', line.canary.text, m.rolledBack ? 'bad' : null, m.controller.text),
      minAgree !== null && kpi('Shadow agreement', fmtPct(minAgree), minAgree < lib.MIN_SHADOW_AGREEMENT ? 'shadow' : null, `${m.shadows.length} mirrored origin(s); serve no user`)),
    !m.hasData && h('div', { class: 'alert warn' }, 'No traffic recorded for this route yet.'),
    pipelinePanel(doc),
    armsPlan(line),
    routeCharts(name, doc, series, t),
    experimentPanel(m),
    h('div', { class: 'card' }, table(restart ? `Arms (counted since ${hhmm(restart.at)}, when the strategy changed)` : 'Arms (since the route started)', tip(arm.headers), arm.rows, { id: 'arms-table' })),
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

/** Stats documents of the routes a write keeps (their controller states decide what it undoes). */
async function statsOf(names) {
  const out = {};
  await Promise.all(names.map(async (n) => {
    const r = await api(`/stats/${encodeURIComponent(n)}`);
    if (r.ok && r.body && typeof r.body === 'object') out[n] = r.body;
  }));
  return out;
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
  let next = null;
  try { next = JSON.parse(text); } catch { /* checked above */ }
  const kept = (next?.routes ?? []).map((r) => r?.name).filter((n) => typeof n === 'string' && lib.configRoute(cache.config, n));
  const undo = lib.rollbackUndo(cache.config, next, await statsOf(kept));
  const mustConfirm = undo.some((u) => u.tone === 'bad');
  reviewedText = text;
  const canApply = can('admin');
  const apply$ = h('button', { type: 'button', id: 'apply', class: 'primary', disabled: !canApply || mustConfirm, title: needs('admin') ?? (mustConfirm ? 'Tick the box above first: this write undoes a rollback' : null), onclick: apply }, 'Apply');
  out.replaceChildren(h('section', { class: 'card review', id: 'review' },
    h('h3', {}, 'Review before applying'),
    h('p', {}, pill('Valid', 'ok'), ` config id would be `, h('code', {}, String(v.r.body?.id ?? DASH)), ` · ${fmtInt(v.r.body?.routes)} route(s)`),
    undo.length ? h('div', { id: 'undo-warnings' },
      undo.map((u) => h('div', { class: `alert ${u.tone === 'bad' ? '' : u.tone === 'warn' ? 'warn' : 'ok'} undo undo-${u.tone}`, role: u.tone === 'bad' ? 'alert' : null, 'data-route': u.route }, u.text)),
      mustConfirm ? h('label', { class: 'confirm' }, h('input', { type: 'checkbox', id: 'undo-ack', onchange: (ev) => { apply$.disabled = !canApply || !ev.target.checked; apply$.title = needs('admin'); } }),
        ' I mean it: put that traffic back (the controller starts the route afresh and its guard judges it again).') : null) : null,
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
      apply$,
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
  if (!r.ok && r.status !== 404) throw new (r.status === 401 ? SignInNeeded : Error)(lib.apiErrorText(r.status, r.body));
  const readOnly = !can('admin');
  const empty = !(cache.configText ?? '').trim();
  swap(
    h('div', { class: 'page-head' }, h('h2', {}, 'Config'), h('span', { id: 'cfg-state', class: 'pill tone-idle' }, '…'),
      h('span', { class: 'mut small' }, schema ? 'Inline checks: JSON Schema (config.schema.json)' : 'Inline checks: JSON syntax; schema errors come from the server')),
    h('p', { class: 'mut', id: 'cfg-base' }, baseText()),
    readOnly && h('p', { class: 'alert warn' }, `Read-only: ${needs('admin')}.`),
    empty && h('p', { class: 'alert note', id: 'template-note' }, h('b', {}, 'No config in KV yet. '),
      readOnly ? 'Ask an admin to write one; the template below shows the shape.' : 'The editor holds a template (two origins, a guarded canary with steps): point the origins at your model servers, then Review and Apply.'),
    h('div', { class: 'card' },
      editor(empty ? lib.CONFIG_TEMPLATE : cache.configText ?? '', readOnly),
      h('div', { id: 'cfg-errors', 'aria-live': 'polite' }),
      h('div', { class: 'actions' },
        h('button', { type: 'button', id: 'validate', onclick: async () => { if (!liveCheck().length) { const v = await serverValidate($('#cfg').value, false); if (v.ok) $('#cfg-out').replaceChildren(h('div', { class: 'alert ok', role: 'status', id: 'valid' }, `Valid: config id would be ${v.r.body?.id} (${v.r.body?.routes} route(s)). Nothing written.`)); } } }, 'Validate on server'),
        h('button', { type: 'button', id: 'review-btn', class: 'primary', onclick: review }, 'Review changes…'),
        h('button', { type: 'button', id: 'format', class: 'ghost', disabled: readOnly, onclick: () => { const a = $('#cfg'); const c = lib.canonicalJson(a.value); if (c !== a.value) { a.value = c; a.dispatchEvent(new Event('input')); } } }, 'Format'),
        h('button', { type: 'button', id: 'reload', class: 'ghost', onclick: () => { editorDirty = false; reviewedText = null; configView().catch(showError); } }, 'Reload from server'),
        h('button', { type: 'button', id: 'use-template', class: 'ghost', disabled: readOnly, title: 'Replace the text with a small valid config', onclick: () => {
          const a = $('#cfg');
          if (a.value.trim() && a.value !== lib.CONFIG_TEMPLATE && !window.confirm('Replace the text in the editor with the template?')) return;
          a.value = lib.CONFIG_TEMPLATE;
          a.dispatchEvent(new Event('input'));
        } }, 'Template'))),
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
  if (!token() || !who) { showSignin(true, $('#signin-problem').textContent || null); return; }
  try {
    if (hash.startsWith('#/route/')) await routeView(decodeURIComponent(hash.slice(8)));
    else if (hash === '#/config') await configView();
    else await overview();
    $('#updated').textContent = `Updated ${new Date().toLocaleTimeString()}`;
  } catch (e) {
    if (e instanceof SignInNeeded) {
      setToken('');
      who = null;
      showWho(e.message);
    } else showError(e);
  }
}

function schedule() {
  clearInterval(timer);
  timer = null;
  if ($('#auto').checked) {
    timer = setInterval(() => {
      if (location.hash !== '#/config' && !document.hidden && who) render(); // the editor refreshes only on demand
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
  const t = $('#token').value.trim();
  $('#token').value = '';
  if (!t) { showSignin(true, 'Paste a token first.'); return; }
  setToken(t);
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
