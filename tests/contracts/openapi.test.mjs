// docs/openapi.yaml (OpenAPI 3.1) against the requests the system is tested with: every
// `/_switchyard/...` path requested by the e2e tests (tests/e2e/*.mjs) and by the CLI
// (crates/cli/src/*.rs) must match a path of the document. Paths are read from string and
// template literals; `${expr}` (JS) and `{name}` (Rust format!) stand for one path segment.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, existsSync } from 'node:fs';
import { dirname, resolve, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const doc = parse(readFileSync(resolve(ROOT, 'docs/openapi.yaml'), 'utf8'));
const METHODS = ['get', 'put', 'post', 'delete', 'patch', 'head', 'options'];

/** `/_switchyard/stats/{route}` -> a RegExp matching concrete paths. */
function templateRegex(path) {
  const escaped = path
    .split(/\{[^}]+\}/)
    .map((s) => s.replace(/[.*+?^$()|[\]\\]/g, '\\$&'))
    .join('[^/]+');
  return new RegExp(`^${escaped}$`);
}

/** Request paths in the literals of a source file. */
export function requestedPaths(text) {
  const out = [];
  for (const line of text.split('\n')) {
    const t = line.trim();
    if (t.startsWith('//') || t.startsWith('*') || t.startsWith('/*') || t.startsWith('#')) continue;
    // A literal (quote or backtick) that contains /_switchyard; stop at the closing quote.
    for (const m of line.matchAll(/(['"`])((?:(?!\1).)*?)\1/g)) {
      const lit = m[2];
      const at = lit.indexOf('/_switchyard');
      if (at < 0) continue;
      let p = lit.slice(at).split(/[?#\s]/)[0];
      p = p.replace(/\$\{[^}]*\}/g, 'SEG').replace(/\{[a-z_]*\}/g, 'SEG');
      if (p === '/_switchyard/') continue; // a prefix test (startsWith), not a request
      if (p.includes('*')) continue; // a glob in prose (a test title), not a request
      out.push(p);
    }
  }
  return out;
}

function sources() {
  const files = [];
  const e2e = join(ROOT, 'tests', 'e2e');
  for (const f of readdirSync(e2e)) if (f.endsWith('.mjs')) files.push(join(e2e, f));
  const cli = join(ROOT, 'crates', 'cli', 'src');
  for (const f of readdirSync(cli)) if (f.endsWith('.rs')) files.push(join(cli, f));
  return files;
}

test('literal extraction', () => {
  const src = [
    "await w.req('/_switchyard/stats/cn', { method: 'GET' });",
    'await w.req(`/_switchyard/dashboard/${f}`);',
    'let path = format!("/_switchyard/config/revert/{version}");',
    "// w.req('/_switchyard/ignored-comment')",
    "if (path.startsWith('/_switchyard/')) {}",
    "w.req('/_switchyard/config?x=1')",
  ].join('\n');
  assert.deepEqual(requestedPaths(src), [
    '/_switchyard/stats/cn',
    '/_switchyard/dashboard/SEG',
    '/_switchyard/config/revert/SEG',
    '/_switchyard/config',
  ]);
  assert.ok(templateRegex('/_switchyard/stats/{route}').test('/_switchyard/stats/cn'));
  assert.ok(!templateRegex('/_switchyard/stats/{route}').test('/_switchyard/stats/a/b'));
});

test('the document is OpenAPI 3.1 and internally consistent', () => {
  assert.match(doc.openapi, /^3\.1\./);
  const paths = Object.keys(doc.paths);
  assert.ok(paths.length >= 20, `only ${paths.length} paths`);
  const operationIds = new Set();
  for (const [p, item] of Object.entries(doc.paths)) {
    assert.ok(p === '/_switchyard' || p.startsWith('/_switchyard/'), p);
    const ops = METHODS.filter((m) => item[m]);
    assert.ok(ops.length > 0, `${p} has no operation`);
    for (const m of ops) {
      const op = item[m];
      assert.ok(op.responses && Object.keys(op.responses).length > 0, `${m} ${p}: no responses`);
      assert.ok(op.operationId && !operationIds.has(op.operationId), `${m} ${p}: operationId`);
      operationIds.add(op.operationId);
      const params = (op.parameters ?? []).map((x) => (x.$ref ? doc.components.parameters[x.$ref.split('/').pop()] : x));
      for (const name of [...p.matchAll(/\{([^}]+)\}/g)].map((x) => x[1])) {
        assert.ok(params.some((x) => x.in === 'path' && x.name === name), `${m} ${p}: path parameter ${name}`);
      }
      // Every operation documents the 405 (with Allow) of the methods its path does not take.
      assert.ok(op.responses['405'], `${m} ${p}: no 405`);
      // Operator endpoints name their minimum role; the unauthenticated ones opt out of auth.
      if (op.security?.length === 0) continue;
      assert.ok(['feedback', 'viewer', 'operator', 'admin'].includes(op['x-switchyard-role']), `${m} ${p}: x-switchyard-role`);
    }
  }
  // Every reference resolves.
  const walk = (v) => {
    if (Array.isArray(v)) return v.forEach(walk);
    if (v && typeof v === 'object') {
      if (typeof v.$ref === 'string') {
        if (v.$ref.startsWith('#/')) {
          const target = v.$ref.slice(2).split('/').reduce((o, k) => o?.[k], doc);
          assert.ok(target !== undefined, `unresolved ${v.$ref}`);
        } else {
          assert.ok(existsSync(resolve(ROOT, 'docs', v.$ref)), `missing file ${v.$ref}`);
        }
      }
      Object.values(v).forEach(walk);
    }
  };
  walk(doc);
});

test('the config, learning, flag and observability interfaces are described', () => {
  const want = {
    '/_switchyard/config': ['get', 'put'],
    '/_switchyard/config/history': ['get'],
    '/_switchyard/config/revert/{version}': ['post'],
    '/_switchyard/metrics': ['get'],
    '/_switchyard/ofrep/v1/evaluate/flags/{key}': ['post'],
    '/_switchyard/ofrep/v1/evaluate/flags': ['post'],
    '/_switchyard/overrides': ['post'],
    '/_switchyard/whoami': ['get'],
    '/_switchyard/series/{route}': ['get'],
    '/_switchyard/resume/{route}': ['post'],
    '/_switchyard/promote/{route}': ['post'],
    '/_switchyard/rollback/{route}': ['post'],
    '/_switchyard/feedback': ['post'],
    '/_switchyard/ope/{route}': ['post'],
    '/_switchyard/decisions/{route}': ['get'],
    '/_switchyard/weights/{route}': ['put'],
  };
  for (const [p, methods] of Object.entries(want)) {
    for (const m of methods) assert.ok(doc.paths[p]?.[m], `${m.toUpperCase()} ${p} missing`);
  }
  const put = doc.paths['/_switchyard/config'].put;
  const param = (x) => (x.$ref ? doc.components.parameters[x.$ref.split('/').pop()] : x);
  assert.ok(put.parameters.map(param).some((x) => x.name === 'If-Match' && x.in === 'header'));
  assert.ok(put.parameters.map(param).some((x) => x.name === 'message' && x.in === 'query'));
  assert.ok(put.responses['412'], 'PUT /config documents 412');
  assert.ok(doc.paths['/_switchyard/config'].get.responses['200'].headers.ETag);
  // The history answers `versions` (what the server sends, and what the CLI reads).
  const history = doc.paths['/_switchyard/config/history'].get.responses['200'].content['application/json'].schema;
  assert.ok(history.required.includes('versions') && !history.properties.history);
  // Feedback is open to the receipt alone (`{}`), and takes a bearer token (role `feedback`
  // or higher) on routes with `feedback_auth: "token"`.
  const fb = doc.paths['/_switchyard/feedback'].post;
  assert.deepEqual(fb.security, [{}, { bearer: [] }]);
  assert.equal(fb['x-switchyard-role'], 'feedback');
});

test('every /_switchyard path the e2e tests and the CLI request is in the document', () => {
  const templates = Object.keys(doc.paths).map((p) => ({ p, re: templateRegex(p) }));
  const seen = new Map();
  for (const f of sources()) {
    for (const p of requestedPaths(readFileSync(f, 'utf8'))) {
      if (!seen.has(p)) seen.set(p, f.slice(ROOT.length + 1));
    }
  }
  // Not vacuous: the suites request config, stats, rollback, feedback, dashboard, status.
  assert.ok(seen.size >= 10, `only ${seen.size} distinct paths found: ${[...seen.keys()].join(', ')}`);
  const missing = [...seen].filter(([p]) => !templates.some((t) => t.re.test(p)));
  assert.deepEqual(missing, [], `requested but not in docs/openapi.yaml: ${missing.map(([p, f]) => `${p} (${f})`).join(', ')}`);
});
