// A loopback stand-in for the Switchyard control plane, for the dashboard's browser test:
// serves www/ under /_switchyard/dashboard/ with a strict CSP, and the operator API shapes of
// docs/operator-api.md (whoami, status, config with ETag + If-Match + history + revert,
// validate (+ churn), stats, series, rollback/resume/promote) backed by the fixtures in
// tests/fixtures/dashboard/. Fixture clocks are shifted so the fixtures' "now" is the time
// the mock starts (its Date header is the real clock).
//
//   node tests/browser/mock-server.mjs [port]     # prints the dashboard URL and the tokens
import { createServer } from 'node:http';
import { readFileSync, existsSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { join, normalize, extname } from 'node:path';
import { validate } from '../../www/schema.js';
import { sortedJson } from '../../www/lib.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const FIX = join(ROOT, 'tests/fixtures/dashboard');
const fixture = (f) => JSON.parse(readFileSync(join(FIX, f), 'utf8'));
const FIXTURE_NOW = 1764360000000;

export const TOKENS = {
  'test-admin-token': { name: 'admin', role: 'admin' },
  'test-operator-token': { name: 'otto', role: 'operator' },
  'test-viewer-token': { name: 'vera', role: 'viewer' },
};
export const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";
const ROLES = ['viewer', 'operator', 'admin'];
const TYPES = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8', '.svg': 'image/svg+xml', '.json': 'application/json', '.png': 'image/png' };

const configId = (text) => createHash('sha256').update(text).digest('hex').slice(0, 12);

/** Deep copy with every timestamp field (t, at, *_ms) moved by `offset` ms. */
function shift(v, offset) {
  if (Array.isArray(v)) return v.map((x) => shift(x, offset));
  if (v && typeof v === 'object') {
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, (k === 't' || k === 'at' || k.endsWith('_ms')) && typeof x === 'number' && x > 1e12 ? x + offset : shift(x, offset)]));
  }
  return v;
}

/** What the real validator would say, approximately: the schema, plus one cross-field rule. */
function check(text, schema) {
  let doc;
  try { doc = JSON.parse(text); } catch (e) { return [{ path: '$', reason: `not JSON: ${e.message}` }]; }
  const errors = schema ? validate(schema, doc) : [];
  (doc?.routes ?? []).forEach((r, i) => {
    const s = r?.strategy;
    if (s?.kind === 'canary' && s.stable && s.stable === s.canary) errors.push({ path: `$.routes[${i}].strategy.canary`, reason: 'canary and stable must be different origins' });
    for (const k of ['stable', 'canary']) if (s?.kind === 'canary' && typeof s[k] === 'string' && !(s[k] in (doc.origins ?? {}))) errors.push({ path: `$.routes[${i}].strategy.${k}`, reason: `unknown origin "${s[k]}"` });
  });
  return errors;
}

/** A mock churn answer (shares move as little as possible); the real one hashes 100,000 units. */
function churn(oldDoc, newDoc) {
  const shares = (r) => {
    const s = r?.strategy ?? {};
    if (s.kind === 'canary') return { stable: 1 - (s.percent ?? 0) / 100, canary: (s.percent ?? 0) / 100 };
    if (Array.isArray(s.arms)) {
      const tot = s.arms.reduce((a, x) => a + (x.weight ?? 1), 0) || 1;
      return Object.fromEntries(s.arms.map((x) => [x.name, (x.weight ?? 1) / tot]));
    }
    return {};
  };
  const routes = {};
  for (const r of newDoc.routes ?? []) {
    const old = (oldDoc?.routes ?? []).find((o) => o.name === r.name);
    const b = shares(r);
    if (!old) { routes[r.name] = { changed: 0, units: 100000, matrix: {}, shares: b, added: true }; continue; }
    const a = shares(old);
    let changed = 0;
    const matrix = {};
    const gain = Object.entries(b).map(([k, v]) => [k, Math.max(0, v - (a[k] ?? 0))]).filter(([, g]) => g > 0);
    for (const [from, va] of Object.entries(a)) {
      let loss = Math.max(0, va - (b[from] ?? 0));
      changed += loss;
      for (const [to, g] of gain) { const m = Math.min(loss, g); if (m > 0) { (matrix[from] ??= {})[to] = Math.round(m * 100000); loss -= m; } }
    }
    routes[r.name] = { changed: Math.round(changed * 1e6) / 1e6, units: 100000, matrix, shares: b };
  }
  return { units: 100000, routes };
}

export function startMock({ port = 0, schema = true, status = true, churn: withChurn = true, whoami = true, empty = false } = {}) {
  const schemaDoc = fixture('config.schema.json'); // the mock's own validator; `schema` only hides the file from the dashboard
  const stats = { fraud: fixture('canary-live.json'), checkout: fixture('ab-srm.json'), ranker: fixture('bandit-weights.json'), search: fixture('bluegreen-stopped.json'), fresh: fixture('empty.json') };
  const initialStats = structuredClone(stats);
  // Each route's pipeline status before an operator action moved it.
  const pipelineBefore = new Map();
  const series = Object.fromEntries(Object.keys(stats).map((r) => [r, fixture(`series-${r}.json`)]));
  const initial = Object.fromEntries(JSON.parse(fixture('history.json')[0].text).routes.map((r) => [r.name, sortedJson(r.strategy)]));
  const history = empty ? [] : fixture('history.json'); // newest first, with text; `empty`: nothing in KV yet
  const state = { requests: [], history, stats, series };
  const offset = Date.now() - FIXTURE_NOW;
  const fnow = () => Date.now() - offset; // "now" on the fixtures' clock
  const current = () => history[0];

  const server = createServer(async (req, res) => {
    const url = new URL(req.url, 'http://x');
    const body = await new Promise((ok) => { const c = []; req.on('data', (d) => c.push(d)); req.on('end', () => ok(Buffer.concat(c).toString('utf8'))); });
    state.requests.push({ method: req.method, path: url.pathname + url.search, headers: req.headers, body });
    const send = (code, obj, headers = {}) => {
      res.writeHead(code, { 'content-type': 'application/json', 'cache-control': 'no-store', 'x-content-type-options': 'nosniff', ...headers });
      res.end(JSON.stringify(obj));
    };
    const err = (code, c, message, extra = {}) => send(code, { error: { code: c, message }, ...extra });
    const p = url.pathname;
    if (p === '/_switchyard/dashboard' || p === '/_switchyard/' || p === '/') { res.writeHead(308, { location: '/_switchyard/dashboard/' }); res.end(); return; }
    if (p.startsWith('/_switchyard/dashboard/')) {
      let rel = decodeURIComponent(p.slice('/_switchyard/dashboard/'.length)) || 'index.html';
      let file = normalize(join(ROOT, 'www', rel));
      if (rel === 'config.schema.json') {
        if (!schema) return err(404, 'not_found', 'no schema');
        file = existsSync(join(ROOT, 'www', rel)) ? join(ROOT, 'www', rel) : join(FIX, 'config.schema.json');
      }
      if (!file.startsWith(join(ROOT, 'www')) && !file.startsWith(FIX)) return err(404, 'not_found', 'no such file');
      if (!existsSync(file)) return err(404, 'not_found', 'no such file');
      res.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream', 'content-security-policy': CSP, 'x-content-type-options': 'nosniff', 'referrer-policy': 'no-referrer', 'cache-control': 'no-store' });
      res.end(readFileSync(file));
      return;
    }
    if (!p.startsWith('/_switchyard/')) return err(404, 'not_found', 'this server serves /_switchyard/ only');
    const path = p.slice('/_switchyard/'.length);
    const m = /^bearer\s+(.+)$/i.exec(req.headers.authorization ?? '');
    const who = m ? TOKENS[m[1].trim()] : null;
    if (!who) return err(401, 'unauthorized', 'operator endpoints need authorization: Bearer <token> (set ADMIN_TOKEN)');
    const need = (role) => (ROLES.indexOf(who.role) >= ROLES.indexOf(role) ? null : err(403, 'forbidden', `needs the ${role} role; token "${who.name}" is ${who.role}`));
    const cfgText = current()?.text ?? null;
    const cfg = cfgText === null ? { routes: [] } : JSON.parse(cfgText);
    const etag = current() ? `"${current().version}"` : null;
    const route = (prefix) => (path.startsWith(prefix) ? decodeURIComponent(path.slice(prefix.length)) : null);

    if (path === 'whoami') return whoami ? send(200, who) : err(404, 'not_found', 'unknown Switchyard endpoint');
    if (path === 'status' && req.method === 'GET') {
      if (!status) return err(404, 'not_found', 'unknown Switchyard endpoint');
      // The stats fixtures' fingerprint while a route's strategy is the one the mock started with.
      const fp = (r) => (sortedJson(r.strategy) === initial[r.name] && stats[r.name]?.fingerprint ? stats[r.name].fingerprint : configId(sortedJson(r.strategy)));
      return send(200, { config: cfgText === null ? null : configId(cfgText), routes: cfg.routes.map((r) => ({ name: r.name, strategy: r.strategy.kind, fingerprint: fp(r) })), rejected: null });
    }
    if (path === 'config' && req.method === 'GET') {
      if (cfgText === null) return err(404, 'no_config', 'no config in KV yet');
      return send(200, { config: cfg, text: cfgText, validation: { valid: true, id: configId(cfgText) } }, { etag });
    }
    if (path === 'config' && req.method === 'PUT') {
      if (need('admin')) return;
      const im = req.headers['if-match'];
      if (im && im !== etag) return err(412, 'version_conflict', `the config is at version ${current()?.version ?? 0}; reload and re-apply`, { version: current()?.version ?? 0 });
      const errors = check(body, schemaDoc);
      if (errors.length) return err(422, 'invalid_config', `${errors.length} problem(s); nothing was written`, { errors });
      const version = (current()?.version ?? 0) + 1;
      history.unshift({ version, text: body, at: fnow(), by: who.name, message: req.headers['x-switchyard-message'] ?? '' });
      history.length = Math.min(history.length, 50);
      return send(200, { valid: true, id: configId(body), written: true, routes: JSON.parse(body).routes.length, version }, { etag: `"${version}"` });
    }
    if (path === 'validate' && req.method === 'POST') {
      if (need('operator')) return;
      const errors = check(body, schemaDoc);
      if (errors.length) return err(422, 'invalid_config', `${errors.length} problem(s); nothing was written`, { errors });
      const doc = JSON.parse(body);
      const out = { valid: true, id: configId(body), written: false, routes: doc.routes.length };
      if (withChurn && url.searchParams.get('churn') === '1') out.churn = churn(cfg, doc);
      return send(200, out);
    }
    if (path === 'config/history' && req.method === 'GET') {
      return send(200, history.map((x) => ({ version: x.version, config: configId(x.text), at: x.at + offset, by: x.by, message: x.message })));
    }
    const rv = route('config/revert/');
    if (rv !== null && req.method === 'POST') {
      if (need('admin')) return;
      const old = history.find((x) => String(x.version) === rv);
      if (!old) return err(404, 'unknown_version', `no version ${rv} in the history`);
      const version = current().version + 1;
      history.unshift({ version, text: old.text, at: fnow(), by: who.name, message: `revert to version ${rv}` });
      return send(200, { reverted_to: old.version, version, id: configId(old.text) }, { etag: `"${version}"` });
    }
    for (const kind of ['stats/', 'series/']) {
      const r = route(kind);
      if (r !== null && req.method === 'GET') {
        const src = kind === 'stats/' ? stats : series;
        if (!src[r]) return err(404, 'unknown_route', `no route named "${r}"`);
        return send(200, shift(src[r], offset));
      }
    }
    for (const action of ['rollback', 'resume', 'promote']) {
      const r = route(`${action}/`);
      if (r === null) continue;
      if (req.method !== 'POST') return err(405, 'method_not_allowed', `POST to ${action}`);
      if (need('operator')) return;
      const s = stats[r];
      if (!s) return err(404, 'unknown_route', `no route named "${r}"`);
      const c = s.controller ?? (s.controller = { step: 0, rolled_back: false });
      const at = fnow();
      const ev = (kind, detail, pct) => {
        series[r].events.push({ at, kind, detail, canary_percent: pct });
        if (pct !== undefined) series[r].canary.push({ at, percent: pct });
      };
      if (action === 'rollback') {
        if (s.strategy !== 'canary') return err(409, 'not_a_canary', `route "${r}" is a ${s.strategy} route`);
        if (c.rolled_back) return err(409, 'already_rolled_back', 'already rolled back');
        c.before = c.canary_percent;
        Object.assign(c, { rolled_back: true, canary_percent: 0, reason: `operator rollback by ${who.name}`, updated_ms: at });
        ev('rollback', c.reason, 0);
      } else if (action === 'resume') {
        if (!c.rolled_back && !c.paused) return err(409, 'nothing_to_resume', 'not rolled back or paused');
        Object.assign(c, { rolled_back: false, paused: null, reason: null, canary_percent: c.before ?? 5, updated_ms: at });
        ev('resume', `resumed by ${who.name}`, c.canary_percent);
      } else {
        if (c.rolled_back) return err(409, 'rolled_back', 'rolled back: resume first');
        Object.assign(c, { promoted: true, canary_percent: 100, updated_ms: at });
        ev('promote', `promoted by ${who.name}`, 100);
      }
      // The pipeline follows the controller, as the route's object writes it.
      const p = s.pipeline;
      if (p) {
        if (!pipelineBefore.has(r)) pipelineBefore.set(r, { status: p.status, waiting_for: p.waiting_for });
        if (c.rolled_back) Object.assign(p, { status: 'rolled_back', waiting_for: "an operator's resume (or a change of the route's strategy)" });
        else if (c.promoted) Object.assign(p, { status: 'promoted', current: p.stages.length - 1, current_name: 'promoted', waiting_for: null });
        else Object.assign(p, pipelineBefore.get(r));
      }
      return send(200, { route: r, action, state: c });
    }
    return err(404, 'not_found', 'unknown Switchyard endpoint');
  });
  return new Promise((ok) => server.listen(port, '127.0.0.1', () => {
    const url = `http://127.0.0.1:${server.address().port}`;
    ok({ url, dashboard: `${url}/_switchyard/dashboard/`, state, fixtureNow: FIXTURE_NOW + offset, initialStats, close: () => new Promise((done) => { server.closeAllConnections?.(); server.close(done); }) });
  }));
}

if (process.argv[1] && fileURLToPath(import.meta.url) === normalize(process.argv[1])) {
  const m = await startMock({ port: Number(process.argv[2] ?? 8788) });
  console.log(`dashboard: ${m.dashboard}`);
  for (const [t, w] of Object.entries(TOKENS)) console.log(`  ${w.role.padEnd(8)} token: ${t}`);
}
