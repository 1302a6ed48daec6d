// Seeded generator of config documents for the differential test (differential.test.mjs):
// valid documents (every strategy kind and optional field, semantically consistent: origins
// that exist, unique names, routes that can match, ...), then mutated at random nodes with
// values chosen to probe each rule's edges (types, bounds, patterns, line breaks, Unicode
// whitespace, integers written as `2.0`, lengths in characters vs bytes, duplicate keys).
// Deterministic for a seed; Node built-ins only.

/** mulberry32: a small seeded PRNG with helpers. */
export function rng(seed) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const r = {
    next,
    int: (n) => Math.floor(next() * n),
    chance: (p) => next() < p,
    pick: (xs) => xs[Math.floor(next() * xs.length)],
    /** `k` distinct items of `xs`. */
    some: (xs, k) => {
      const pool = [...xs];
      const out = [];
      while (out.length < k && pool.length) out.push(pool.splice(Math.floor(next() * pool.length), 1)[0]);
      return out;
    },
  };
  return r;
}

const KINDS = ['ab', 'canary', 'flag', 'blue_green', 'rolling', 'recreate', 'bandit'];
const ORIGIN_NAMES = ['fraud-v1', 'fraud-v2', 'm.v3', 'A_b-9', 'x', 'o'.repeat(64), 'ranker.2'];
const ROUTE_NAMES = ['fraud', 'ranker', 'r_1', 'R-2', 'x', 'b'.repeat(64), 'scorer'];
const ARM_NAMES = ['control', 'treatment', 'v1', 'v.2', 'a', 'c'.repeat(64)];
const FLAG_NAMES = ['explain', 'beta', 'f.1', 'fast-path', 'F_2'];
const URLS = ['http://127.0.0.1:9001', 'https://models.internal/v3/', 'http://h:1/base/path', 'https://x.example', 'http://[::1]:8080', 'http://é.example/ü'];
const EVENTS = ['rollback', 'step', 'promote', 'pause', 'resume', 'srm', 'weights_stale'];
const LOG_ATTRS = ['header:x-country', 'country', 'query:plan', 'cookie:c', 'header:X-Country'];

/** An optional field: absent (undefined), null, or a value. */
function opt(r, gen, pNull = 0.1, pAbsent = 0.4) {
  const x = r.next();
  if (x < pAbsent) return undefined;
  if (x < pAbsent + pNull) return null;
  return gen();
}

function put(obj, key, value) {
  if (value !== undefined) obj[key] = value;
  return obj;
}

function percent(r) {
  return r.pick([
    () => r.pick([0, 100, 5, 20, 50, 12.5, 33.3333, 0.0001, 99.9999, 1]),
    () => r.int(101),
    () => Math.round(r.next() * 1_000_000) / 10_000,
  ])();
}

function guard(r) {
  const g = {};
  put(g, 'max_error_rate', opt(r, () => r.pick([1, 0.05, 0.5, 1e-9, 0.999])));
  put(g, 'max_p95_latency_ratio', opt(r, () => r.pick([3, 1000, 0.5, 1.25])));
  put(g, 'min_requests', opt(r, () => r.pick([0, 100, 50, 1_000_000_000])));
  return g;
}

function rule(r) {
  const op = r.pick(['eq', 'in', 'prefix', 'semver_gte']);
  const attr = r.pick(['country', 'header:x-app', 'cookie:c', 'query:q', 'header:X-Tester']);
  const values =
    op === 'semver_gte'
      ? [r.pick(['1', '1.2', '1.2.3', 'v4.2.0', ' 2.0.1-beta ', 'V10.0+build'])]
      : op === 'eq'
        ? [r.pick(['1', 'CH', 'yes', ''])]
        : r.some(['CH', 'AT', 'DE', 'a', 'b/'], 1 + r.int(3));
  return { attr, op, values };
}

function flag(r, name, origins) {
  const f = { name };
  if (origins) f.origin = r.pick(origins);
  put(f, 'rollout', opt(r, () => percent(r)));
  put(f, 'rules', opt(r, () => Array.from({ length: r.int(3) }, () => rule(r))));
  put(f, 'description', opt(r, () => r.pick(['d', '', 'Beta users'])));
  return f;
}

function strategy(r, kind, origins) {
  const o = () => r.pick(origins);
  const salt = () => opt(r, () => r.pick(['s', '', '2024-06']));
  switch (kind) {
    case 'ab': {
      const names = r.some(ARM_NAMES, 1 + r.int(3));
      const arms = names.map((name) => ({ name, origin: o(), weight: r.pick([0, 1, 50, 0.5, 3, 100]) }));
      if (!arms.some((a) => a.weight > 0)) arms[r.int(arms.length)].weight = 1;
      const s = { kind, arms };
      put(s, 'guard', opt(r, () => {
        const g = guard(r);
        if (g.max_error_rate == null && g.max_p95_latency_ratio == null) g.max_error_rate = 0.1;
        put(g, 'action', opt(r, () => r.pick(['stop', 'drain'])));
        return g;
      }));
      put(s, 'salt', salt());
      return s;
    }
    case 'canary': {
      const [stable, canary] = r.some(origins, 2);
      const s = { kind, stable, canary, percent: percent(r) };
      put(s, 'gates', opt(r, () => gates(r), 0.05, 0.6));
      put(s, 'steps', opt(r, () => {
        const ps = Array.from({ length: r.int(4) }, () => percent(r)).sort((a, b) => a - b);
        return ps.map((p) => ({ percent: p, hold_s: r.pick([0, 60, 600, 2_592_000]) }));
      }));
      put(s, 'guard', opt(r, () => guard(r)));
      put(s, 'salt', salt());
      return s;
    }
    case 'flag': {
      const names = r.some(FLAG_NAMES, r.int(3));
      return { kind, default: o(), flags: names.map((n) => flag(r, n, origins)) };
    }
    case 'blue_green': {
      const s = { kind, blue: o(), green: o(), active: r.pick(['blue', 'green']) };
      put(s, 'failover', opt(r, () => r.chance(0.5)));
      put(s, 'preview_header', opt(r, () => r.pick(['x-preview', 'X-Green', ''])));
      return s;
    }
    case 'rolling': {
      const batches = r.pick([1, 2, 10, 10_000]);
      const s = { kind, from: o(), to: o(), batches };
      put(s, 'completed', opt(r, () => r.int(batches + 1)));
      put(s, 'interval_s', opt(r, () => r.pick([0, 600, 2_592_000])));
      put(s, 'guard', opt(r, () => guard(r)));
      put(s, 'salt', salt());
      return s;
    }
    case 'recreate': {
      const s = { kind, origin: o() };
      put(s, 'health_path', opt(r, () => r.pick(['/health', '/', '/v2/health/ready'])));
      return s;
    }
    default: {
      const names = r.some(ARM_NAMES, 1 + r.int(4));
      const s = { kind: 'bandit', arms: names.map((name) => ({ name, origin: o() })) };
      put(s, 'algorithm', opt(r, () => r.pick(['thompson', 'ucb1', 'epsilon_greedy'])));
      put(s, 'epsilon', opt(r, () => r.pick([0, 0.1, 1, 0.25])));
      put(s, 'min_share', opt(r, () => r.pick([0, 0.01, 1 / names.length, 0.05].filter((m) => m * names.length <= 1))));
      put(s, 'min_samples', opt(r, () => r.pick([0, 100, 1_000_000_000])));
      put(s, 'sticky', opt(r, () => r.chance(0.5)));
      put(s, 'feedback', opt(r, () => r.pick(['auto', 'conversion', 'explicit'])));
      put(s, 'trainer', opt(r, () => r.pick(['learner', 'external'])));
      put(s, 'max_weight_age_s', opt(r, () => r.pick([1, 3600, 2_592_000])));
      put(s, 'salt', salt());
      return s;
    }
  }
}

function compareSpec(r) {
  return r.pick([
    () => put({ kind: 'json_pointer', pointer: r.pick(['', '/score', '/a/0', '/~1x']) }, 'tolerance', opt(r, () => r.pick([0, 1e-4, 0.5]))),
    () => put({ kind: 'kserve_v2' }, 'tolerance', opt(r, () => r.pick([0, 1e-6]))),
    () => put({ kind: 'tf_serving' }, 'tolerance', opt(r, () => r.pick([0, 2]))),
    () => ({ kind: 'openai_chat' }),
  ])();
}

/** A canary's release gates: a shadow gate, a promotion gate, or both. */
function gates(r) {
  const g = {};
  const which = r.pick(['shadow', 'promote', 'both']);
  if (which !== 'promote') {
    const sg = { min_observations: r.pick([1, 200, 1_000_000_000]), min_agreement: r.pick([0, 0.95, 1]), compare: compareSpec(r) };
    put(sg, 'percent', opt(r, () => r.pick([100, 50, 0.0001])));
    g.shadow = sg;
  }
  if (which !== 'shadow') {
    const pg = {};
    put(pg, 'margin', opt(r, () => {
      const m = {};
      put(m, 'error_rate', opt(r, () => r.pick([0.01, 1, 1e-9])));
      put(m, 'latency_ratio', opt(r, () => r.pick([1.2, 1000, 1.0001])));
      put(m, 'reward', opt(r, () => r.pick([0.02, 1e6])));
      return m;
    }));
    put(pg, 'alpha', opt(r, () => r.pick([0.05, 0.5, 1e-6])));
    put(pg, 'min_requests', opt(r, () => r.pick([2, 100, 1_000_000_000])));
    g.promote = pg;
  }
  return g;
}

function shadow(r, origin) {
  const s = { origin };
  put(s, 'percent', opt(r, () => percent(r)));
  put(s, 'methods', opt(r, () => r.some(['POST', 'get', 'Put', 'head', 'Options', 'DELETE', 'patch'], 1 + r.int(3))));
  put(s, 'forward_credentials', opt(r, () => r.chance(0.5)));
  put(s, 'max_body_bytes', opt(r, () => r.pick([0, 65536, 104_857_600])));
  put(s, 'timeout_ms', opt(r, () => r.pick([0, 2000, 300_000])));
  put(s, 'compare', opt(r, () => compareSpec(r)));
  return s;
}

/** A valid document: the validator and the schema both accept it. */
export function validDocument(r) {
  const originNames = r.some(ORIGIN_NAMES, 2 + r.int(3));
  const origins = {};
  for (const n of originNames) {
    const o = { url: r.pick(URLS) };
    put(o, 'timeout_ms', opt(r, () => r.pick([1, 5000, 300_000])));
    put(o, 'description', opt(r, () => r.pick(['primary', ''])));
    origins[n] = o;
  }
  const routeNames = r.some(ROUTE_NAMES, r.int(4));
  const routes = routeNames.map((name, i) => {
    const match = {};
    // Distinct prefixes never cover one another (names hold no '/'); only the last route may
    // match everything.
    const last = i === routeNames.length - 1;
    put(match, 'path_prefix', last && r.chance(0.2) ? opt(r, () => '/', 0.5, 0.5) : `/v2/models/${name}${r.chance(0.2) ? '/' : ''}`);
    put(match, 'host', opt(r, () => r.pick(['api.example.com', 'Models.Internal'])));
    put(match, 'methods', opt(r, () => r.some(['POST', 'get', 'Put'], 1 + r.int(2))));
    const route = { name, match, strategy: strategy(r, r.pick(KINDS), originNames) };
    put(route, 'unit', opt(r, () => Array.from({ length: r.int(3) }, () => ({ [r.pick(['header', 'cookie', 'query'])]: r.pick(['x-user-id', 'uid', 'u', 'X-User']) }))));
    // A shadow gate mirrors to the canary itself: the route's own shadows go elsewhere.
    const gated = route.strategy.gates?.shadow ? route.strategy.canary : null;
    put(route, 'shadow', opt(r, () => r.some(originNames.filter((o) => o !== gated), r.int(3)).map((o) => shadow(r, o))));
    put(route, 'flags', opt(r, () => r.some(FLAG_NAMES, r.int(3)).map((n) => flag(r, n, null))));
    put(route, 'strip_prefix', opt(r, () => r.pick(['/v2', '/v2/models'])));
    put(route, 'feedback_shards', opt(r, () => r.pick([1, 8, 64])));
    put(route, 'reward', opt(r, () => r.pick([{ min: 0, max: 1 }, { min: -1, max: 5 }, { min: -1e6, max: 1e6 }, { min: 0.5, max: 0.75 }])));
    put(route, 'feedback_auth', opt(r, () => r.pick(['receipt', 'token'])));
    put(route, 'log', opt(r, () => {
      const l = {};
      put(l, 'decisions', opt(r, () => r.chance(0.5)));
      put(l, 'context', opt(r, () => r.some(LOG_ATTRS, r.int(4))));
      return l;
    }));
    put(route, 'credentials', opt(r, () => r.some(['x-api-key', 'X-Auth-Token', 'api_key', "a!#$%&'*+.^_`|~9"], 1 + r.int(3))));
    put(route, 'experiment', opt(r, () => put({}, 'expected_units', opt(r, () => r.pick([10, 5000, 20_000, 1_000_000_000])))));
    put(route, 'description', opt(r, () => r.pick(['d', ''])));
    return route;
  });
  const doc = { version: 1, origins, routes };
  put(doc, 'default_origin', opt(r, () => r.pick(originNames)));
  put(doc, 'description', opt(r, () => r.pick(['Switchyard config', ''])));
  put(doc, 'alerts', opt(r, () => {
    const a = {};
    const target = () =>
      r.chance(0.7)
        ? { url: r.pick(['https://hooks.slack.com/x', 'http://127.0.0.1:9/hook', 'https://é.example', 'http://localhost/x', 'https://u@h.example/p?q#f']) }
        : { url_secret: r.pick(['SLACK_WEBHOOK', 'A', '_X1']) };
    put(a, 'webhooks', opt(r, () => Array.from({ length: r.int(3) }, () => put(target(), 'events', opt(r, () => r.some(EVENTS, 1 + r.int(3)))))));
    return a;
  }));
  return doc;
}

// ---- mutations ---------------------------------------------------------------------------

const SEMVER_EDGES = ['1', '1.2.3', 'v1.2', ' 1.2 ', '\ufeff1.2', '\u00851.2', '\u30001.0\u3000', '1.0\t', '1.2.3.4', '99999999999999999999', '9999999999999999999', '1.0-a\nb', '1.x', '', 'V2-beta+b', 'vv3', '1..2', '1.-2', '1-', '01.2'];
/** Edge values by the key they are written under (strings) or for any number. */
const EDGES = {
  name: ['', 'a.b', 'a b', 'x'.repeat(65), 'x'.repeat(64), 'é', 'a/b', 'ok-name_1', 'a\n', 'nowhere'],
  route_name: ['a.b', '.', '..', 'v2.1', 'a b', '', 'x'.repeat(64), 'x'.repeat(65), 'ok_1-A', 'é'],
  origin: ['nowhere', 'bad name', '', 'a.b', 'fraud-v1', 'x', 'o'.repeat(65)],
  url: ['ftp://x', 'http://', 'https://', 'http://a b', 'http://h/p?q', 'http://h#f', 'http://u@h', 'http://h\\x', 'https://h/x/', 'http://h\n', 'HTTP://h', 'http:///x', 'http://h\t'],
  path_prefix: ['', 'x', '/', '/a\nb', '/v2/', '/v2/models'],
  strip_prefix: ['/', '/a/', 'a', '/a\nb', '/a b', '/a', '/\n'],
  host: ['', 'h:80', 'a/b', 'a b', 'H.example', 'h\n', 'é'],
  methods: ['', 'GET1', 'post', 'P OST', 'É', 'DELETE'],
  shadow_methods: ['GET', 'options', 'Patch', 'TRACE', 'connect', 'PROPFIND', 'MKCOL', 'LOCK', 'GETS', '', 'P OST', 'É', 'ſ'],
  credentials: ['x-api-key', 'X-Api-Key', '', 'a b', 'a:b', 'é', 'x\n', 'a"b', 'a(b', '~', 'x'.repeat(256), 'x'.repeat(257), 'é'.repeat(100)],
  forward_credentials: [true, false, null, 'true', 1, 0],
  attr: ['country', 'country:x', 'header:', 'header:x', 'header:a\nb', 'cookie:c', 'query:q', 'Header:x', 'ip', 'header:é', 'query:\n'],
  op: ['eq', 'in', 'prefix', 'semver_gte', 'gte', 'EQ'],
  values: SEMVER_EDGES,
  pointer: ['', '/a', 'a', '/a\nb', '~', '/'],
  kind: [...KINDS, 'nope', 'json_pointer', 'kserve_v2', 'tf_serving', 'openai_chat', 'AB'],
  unit: ['', 'x'.repeat(256), 'x'.repeat(257), 'é'.repeat(200), 'é'.repeat(257), 'x-user-id'],
  preview_header: ['', 'x-preview', 'X Y'],
  health_path: ['', '/h', 'h', '/a\nb'],
  active: ['blue', 'green', 'Blue', ''],
  algorithm: ['thompson', 'ucb1', 'epsilon_greedy', 'ucb', ''],
  feedback: ['auto', 'conversion', 'explicit', 'implicit'],
  action: ['stop', 'drain', 'halt'],
  description: ['d', '', 5, true, {}, []],
  salt: ['', 's', 1],
  events: [...EVENTS, 'nope', 'Rollback'],
  webhook: [
    'https://', 'http://', 'https://h', 'https://h x', 'https://h\n', 'ftp://h', 'https://' + 'é'.repeat(2040), 'https://' + 'é'.repeat(2041), 'https://' + 'a'.repeat(2041), 'http://\r',
    'http://127.0.0.1:9/x', 'http://localhost', 'http://LocalHost:80', 'http://[::1]:8/x', 'http://127.999.0.1', 'http://127.0.0.256', 'http://127.0.0.01/',
    'http://127.0.0.1.evil.example/x', 'http://u@127.0.0.1/x', 'http://u:p@localhost', 'http://h.example/x', 'http://localhost:x', 'http://127.0.0.1?x', 'http://127.1',
    'https://u@h', 'https://@h', 'https://u@', 'https://h/x y', 'https://h\u0085', 'https://h/\u00a0', 'https://h\tx', 'https://h\u0001', 'https://h\u007f', 'https://h\u2028',
    'https://?x', 'https://#f', 'https:///x', 'https://h?x', 'https://h#f', 'HTTPS://h', 'https://h:443/x',
  ],
  url_secret: ['A', 'A_1', '_X', '1A', 'a', 'A-B', '', 'A'.repeat(64), 'A'.repeat(65), 'A'.repeat(200), 'Ä'],
  version: [1, 2, 0, '1', 1.5],
  // Whole values where the rule is about the combination.
  rules: [
    ...SEMVER_EDGES.map((v) => ({ attr: 'header:x-app', op: 'semver_gte', values: [v] })),
    { attr: 'country', op: 'eq', values: ['CH', 'AT'] },
    { attr: 'country', op: 'in', values: [] },
    { attr: 'header:a\nb', op: 'in', values: ['x'] },
  ],
  compare: [
    ['kserve_v2'],
    ['json_pointer', '/a'],
    { kind: { tf_serving: null } },
    { kind: 'openai_chat', tolerance: null },
    { kind: 'openai_chat', tolerance: 0 },
    { kind: 'kserve_v2', pointer: null },
    { kind: 'kserve_v2', pointer: '/a' },
    { kind: 'json_pointer', pointer: null },
    { kind: 'json_pointer', pointer: '/a\nb', tolerance: null },
    { kind: 'tf_serving', tolerance: -1 },
    'kserve_v2',
    {},
  ],
  gates: [{}, { shadow: null, promote: null }, { promote: {} }, { shadow: null, promote: {} }, { shadow: {} }, { shadow: { min_observations: 1, min_agreement: 1, compare: { kind: 'kserve_v2' } } }],
  shadow_gate: [
    { min_observations: 0, min_agreement: 0.5, compare: { kind: 'kserve_v2' } },
    { min_observations: 1, min_agreement: 1.5, compare: { kind: 'kserve_v2' } },
    { min_observations: 1, min_agreement: 0.5, compare: ['kserve_v2'] },
    { min_observations: 1, min_agreement: 0.5, compare: null },
    { min_observations: 1, min_agreement: 0.5, compare: { kind: 'openai_chat' }, percent: 0 },
    { min_observations: 1, min_agreement: 0.5, compare: { kind: 'openai_chat' }, percent: 0.00001 },
    { min_observations: 1.0, min_agreement: 0, compare: { kind: 'json_pointer', pointer: '/a' }, percent: null },
  ],
  promote_gate: [{}, { min_requests: 1 }, { min_requests: 2 }, { alpha: 0 }, { alpha: 0.5 }, { alpha: 0.51 }, { margin: { latency_ratio: 1 } }, { margin: { reward: 0 } }, { margin: { reward: 1e6 + 1 } }, { margin: { error_rate: null, latency_ratio: null, reward: null } }],
  trainer: ['learner', 'external', 'External', '', 'outside'],
  feedback_auth: ['receipt', 'token', 'Token', '', 'none'],
  reward: [{ min: 0, max: 1 }, { min: 1, max: 0 }, { min: 1, max: 1 }, { min: -1e6, max: 1e6 }, { min: -1e6 - 1, max: 0 }, { min: 0, max: 1e6 + 1 }, { min: 0 }, { max: 1 }, { min: '0', max: 1 }, { min: 0, max: 1, zz: 1 }, { min: null, max: 1 }, [0, 1]],
  log: [{}, { decisions: false }, { decisions: 'yes' }, { context: [] }, { context: null }, { context: ['country', 'country'] }, { context: ['header:x', 'header:X'] }, { context: ['header:'] }, { context: ['ip'] }, { context: LOG_ATTRS.concat(['query:a', 'query:b', 'query:c']) }, { context: LOG_ATTRS.concat(['query:a', 'query:b', 'query:c', 'query:d']) }, { zz: 1 }],
  context: ['country', 'header:x', 'header:', 'cookie:', 'query:q', 'ip', 'Header:x', 'header:a\nb', 'query:\u2028', 'country:x', ''],
  max_weight_age_s: [0, 1, 3600, 2_592_000, 2_592_001, 1.5, -1, '60'],
  guard: [{}, { min_requests: 1e9 }, { min_requests: 1e9 + 1 }, { min_requests: 1e20 }, { max_error_rate: 0 }, { max_error_rate: null }, { max_p95_latency_ratio: 1000.5 }],
};
const NUMBERS = [0, -0, 1, -1, 0.5, 2, 1.5, 100, 100.5, 99.9999, 99.99999, 12.34567, 0.0001, 0.00001, 1e9, 1e9 + 1, 300_000, 300_001, 10_000, 10_001, 2_592_000, 2_592_001, 64, 65, 1e20, 1e300, 104_857_600, 104_857_601, 1000, 1000.5, 1e-7, 0.3, 2.675, 1.0000001];
const ANY = [null, true, false, 0, -1, 1.5, '', 'x', [], {}, [1], { zz: 1 }];
const ORIGIN_KEYS = new Set(['origin', 'stable', 'canary', 'default', 'from', 'to', 'blue', 'green', 'default_origin']);

/** Every node of `v` with its parent and key (root: parent null). */
function nodes(v, parent = null, key = null, path = [], out = []) {
  out.push({ v, parent, key, path });
  if (Array.isArray(v)) v.forEach((x, i) => nodes(x, v, i, [...path, i], out));
  else if (v && typeof v === 'object') for (const k of Object.keys(v)) nodes(v[k], v, k, [...path, k], out);
  return out;
}

/** The key a node's value is about: its own key, or the array's key for an item. */
function context(n) {
  const own = typeof n.key === 'string' ? n.key : n.path[n.path.length - 2];
  if (own === 'name' && n.path.length === 3 && n.path[0] === 'routes') return 'route_name';
  if (own === 'url' && n.path[0] === 'alerts') return 'webhook';
  if (own === 'shadow' && n.path.includes('gates')) return 'shadow_gate';
  if (own === 'promote' && n.path.includes('gates')) return 'promote_gate';
  if (own === 'methods' && n.path.includes('shadow')) return 'shadow_methods';
  if (['header', 'cookie', 'query'].includes(own) && n.path.includes('unit')) return 'unit';
  if (ORIGIN_KEYS.has(own)) return 'origin';
  return own;
}

function set(doc, n, value) {
  if (n.parent === null) return value;
  n.parent[n.key] = value;
  return doc;
}

/** One random mutation of `doc` (returned; `doc` may be changed in place). */
export function mutate(r, doc) {
  const all = nodes(doc);
  // Half the time an edge value for a field that has them, the field picked by its kind
  // first (so rare fields are probed as often as common ones).
  if (r.chance(0.5)) {
    const byCtx = new Map();
    for (const n of all) {
      const c = context(n);
      if (EDGES[c]) byCtx.set(c, [...(byCtx.get(c) ?? []), n]);
    }
    if (byCtx.size) {
      const n = r.pick(r.pick([...byCtx.values()]));
      return set(doc, n, structuredClone(r.pick(EDGES[context(n)])));
    }
  }
  const n = r.pick(all);
  const ctx = context(n);
  const v = n.v;
  const x = r.next();
  if (x < 0.35 && EDGES[ctx]) return set(doc, n, structuredClone(r.pick(EDGES[ctx])));
  if (typeof v === 'number' && x < 0.7) {
    return set(doc, n, r.pick([() => r.pick(NUMBERS), () => v + 1, () => v - 1, () => v + 0.5, () => v * 10, () => -v, () => v + 0.00005])());
  }
  if (typeof v === 'string' && x < 0.7) {
    return set(doc, n, r.pick([(s) => `${s}.`, (s) => `${s}\n`, (s) => ` ${s}`, () => '', (s) => s.toUpperCase(), (s) => `${s}é`, (s) => s.padEnd(65, 'x'), (s) => `${s}/`, (s) => `${s}:1`, (s) => s.slice(1)])(v));
  }
  if (Array.isArray(v) && x < 0.8) {
    const ops = [
      () => [],
      () => (v.length ? [...v, structuredClone(r.pick(v))] : [r.pick(ANY)]),
      () => v.filter((_, i) => i !== r.int(v.length)),
      () => [...v].reverse(),
      () => (v.length ? Array.from({ length: r.pick([9, 33, 65]) }, () => structuredClone(v[0])) : v),
    ];
    return set(doc, n, r.pick(ops)());
  }
  if (v && typeof v === 'object' && !Array.isArray(v) && x < 0.8) {
    const keys = Object.keys(v);
    const ops = [
      () => { if (keys.length) delete v[r.pick(keys)]; return v; },
      () => { v.zz = r.pick(ANY); return v; },
      () => { if (keys.length) v[r.pick(keys)] = null; return v; },
      () => [v],
    ];
    return set(doc, n, r.pick(ops)());
  }
  return set(doc, n, structuredClone(r.pick(ANY)));
}

/** Semantic mutations: what only the validator can see (schema-valid documents stay so). */
export function semanticMutation(r, doc) {
  const routes = Array.isArray(doc.routes) ? doc.routes : [];
  const originNames = Object.keys(doc.origins ?? {});
  const ops = [
    () => { const rt = r.pick(routes); if (rt?.strategy?.kind === 'recreate') rt.strategy.origin = 'nowhere'; else doc.default_origin = 'nowhere'; },
    () => { if (routes.length) routes.push(structuredClone(routes[0])); },
    () => { if (routes.length > 1) routes[0].match.path_prefix = '/'; },
    () => { const rt = routes.find((x) => x.strategy?.kind === 'canary'); if (rt) rt.strategy.canary = rt.strategy.stable; },
    () => { const rt = routes.find((x) => x.strategy?.kind === 'canary'); if (rt) rt.strategy.steps = [{ percent: 50, hold_s: 1 }, { percent: 10, hold_s: 1 }]; },
    () => { const rt = routes.find((x) => x.strategy?.kind === 'rolling'); if (rt) rt.strategy.completed = rt.strategy.batches + 1; },
    () => { const rt = routes.find((x) => x.strategy?.kind === 'bandit' && x.strategy.arms.length > 1); if (rt) rt.strategy.min_share = 0.75; },
    () => { const rt = routes.find((x) => ['ab', 'bandit'].includes(x.strategy?.kind) && x.strategy.arms.length > 1); if (rt) rt.strategy.arms[1].name = rt.strategy.arms[0].name; },
    () => { const rt = r.pick(routes); if (rt && originNames.length) rt.shadow = [{ origin: originNames[0] }, { origin: originNames[0] }]; },
    () => { const rt = r.pick(routes); if (rt) rt.flags = [{ name: 'f' }, { name: 'f' }]; },
    () => {
      const rt = routes.find((x) => x.strategy?.kind === 'canary');
      if (!rt) return;
      rt.strategy.gates = { shadow: { min_observations: 10, min_agreement: 0.9, compare: { kind: 'kserve_v2' } } };
      rt.shadow = [{ origin: rt.strategy.canary }];
    },
  ];
  r.pick(ops)();
  return doc;
}

/**
 * JSON text of `v`: integers are sometimes written as `2.0` or `2e0` (the same number to
 * JSON), and with `dupKey` one object key is written twice (first with another value; JSON
 * readers keep the last). Returns {text, duplicated}.
 */
export function toText(r, v, { dupKey = false } = {}) {
  let duplicated = false;
  const num = (n) => {
    if (Number.isInteger(n) && Math.abs(n) < 1e15 && !Object.is(n, -0)) {
      const x = r.next();
      if (x < 0.08) return `${n}.0`;
      if (x < 0.1) return `${n}e0`;
    }
    return JSON.stringify(n);
  };
  const write = (x) => {
    if (typeof x === 'number') return num(x);
    if (Array.isArray(x)) return `[${x.map(write).join(',')}]`;
    if (x && typeof x === 'object') {
      const keys = Object.keys(x);
      const parts = keys.map((k) => `${JSON.stringify(k)}:${write(x[k])}`);
      if (dupKey && !duplicated && keys.length && r.chance(0.3)) {
        const k = r.pick(keys);
        parts.unshift(`${JSON.stringify(k)}:${JSON.stringify(r.pick(['dup', 0, null]))}`);
        duplicated = true;
      }
      return `{${parts.join(',')}}`;
    }
    return JSON.stringify(x);
  };
  return { text: write(v), duplicated };
}
