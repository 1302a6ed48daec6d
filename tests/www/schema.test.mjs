// Unit tests of the config editor's JSON reader and JSON Schema validator (www/schema.js):
// line numbers for every path, syntax errors with their line, duplicate keys, and schema
// errors with server-style paths; the fixture schema accepts the fixture config and the
// demo config, and rejects broken ones with one precise error each.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import * as sc from '../../www/schema.js';

const read = (rel) => readFileSync(fileURLToPath(new URL(rel, import.meta.url)), 'utf8');
const schema = JSON.parse(read('../fixtures/dashboard/config.schema.json'));
const configText = read('../fixtures/dashboard/config.json');

test('readJson: the same value as JSON.parse, and a line for every path', () => {
  const text = '{\n  "a": [1, {"b": "x"}],\n  "c d": null,\n  "e": {\n    "f": -1.5e3\n  }\n}';
  const r = sc.readJson(text);
  assert.deepEqual(r.value, JSON.parse(text));
  assert.equal(r.error, null);
  assert.deepEqual(Object.fromEntries([...r.locations].map(([p, l]) => [p, l.line])),
    { $: 1, '$.a': 2, '$.a[0]': 2, '$.a[1]': 2, '$.a[1].b': 2, '$["c d"]': 3, '$.e': 4, '$.e.f': 5 });
  assert.equal(sc.lineOf(r.locations, '$.e.f.g[3]'), 5, 'deepest located parent');
  assert.equal(sc.lineOf(r.locations, 'nonsense'), 1);
  const big = sc.readJson(configText);
  assert.deepEqual(big.value, JSON.parse(configText));
  assert.equal(configText.split('\n')[sc.lineOf(big.locations, '$.routes[0].strategy.percent') - 1].trim(), '"percent": 5,');
});

test('readJson: syntax errors carry their line and column; duplicates are found', () => {
  for (const [text, line, msg] of [
    ['{\n  "a": 1,\n}', 3, /quoted/],
    ['{\n  "a": 1\n  "b": 2\n}', 3, /expected ',' or '}'/],
    ['[1, 2', 1, /unexpected end/],
    ['{"a": tru}', 1, /unexpected/],
    ['{"a": "x\ny"}', 1, /control character/],
    ['{} {}', 1, /text after/],
    ['', 1, /end of text/],
  ]) {
    const r = sc.readJson(text);
    assert.equal(r.value, undefined, text);
    assert.equal(r.error.line, line, text);
    assert.match(r.error.message, msg, text);
    assert.throws(() => JSON.parse(text), 'JSON.parse agrees it is not JSON');
  }
  const d = sc.readJson('{\n "a": 1,\n "b": {"x": 1, "x": 2},\n "a": 3\n}');
  assert.deepEqual(d.duplicates.map((x) => [x.path, x.line]), [['$.b.x', 3], ['$.a', 4]]);
  assert.deepEqual(d.value, { a: 3, b: { x: 2 } });
});

test('the fixture schema accepts the fixture config and the demo config', () => {
  assert.deepEqual(sc.validate(schema, JSON.parse(configText)), []);
  const demo = fileURLToPath(new URL('../../demo/config.json', import.meta.url));
  if (existsSync(demo)) {
    const doc = JSON.parse(readFileSync(demo, 'utf8'));
    assert.deepEqual(sc.validate(schema, doc), []);
  }
});

test('every kind of schema error, with the path the server would name', () => {
  const base = JSON.parse(configText);
  const cases = [
    [(c) => { c.routes[0].strategy.percent = 150; }, '$.routes[0].strategy.percent', 'must be at most 100'],
    [(c) => { c.routes[0].strategy.percent = -1; }, '$.routes[0].strategy.percent', 'must be at least 0'],
    [(c) => { c.routes[0].strategy.guard.max_error_rate = 0; }, '$.routes[0].strategy.guard.max_error_rate', 'must be above 0'],
    [(c) => { c.routes[1].strategy.kind = 'abc'; }, '$.routes[1].strategy.kind', 'expected one of: ab, canary, bandit, blue_green'],
    [(c) => { c.routes[1].strategy.arms.pop(); }, '$.routes[1].strategy.arms', 'must have at least 2 item(s)'],
    [(c) => { c.routes[0].strategy.stable = 3; }, '$.routes[0].strategy.stable', 'expected string, found integer'],
    [(c) => { c.routes[0].strategy.colour = 'red'; }, '$.routes[0].strategy.colour', 'unknown field "colour"'],
    [(c) => { delete c.routes[0].match; }, '$.routes[0]', 'missing required field "match"'],
    [(c) => { c.version = 2; }, '$.version', 'must be 1'],
    [(c) => { c.origins['fraud-v1'].url = 'ftp://x'; }, '$.origins.fraud-v1.url', 'must match ^https?://'],
    [(c) => { c.origins['fraud-v1'].timeout_ms = 1.5; }, '$.origins.fraud-v1.timeout_ms', 'expected integer, found number'],
    [(c) => { c.routes[0].name = 'a b'; }, '$.routes[0].name', 'must match ^[A-Za-z0-9_-]{1,64}$'],
    [(c) => { c.routes[0].match.methods = ['GET', 'GET']; }, '$.routes[0].match.methods', 'items must be unique'],
    [(c) => { c.routes[2].strategy.algorithm = 'greedy'; }, '$.routes[2].strategy.algorithm', 'expected one of: thompson, ucb1, epsilon_greedy'],
    [(c) => { c.routes[0].unit = [{}]; }, '$.routes[0].unit[0]', 'must have at least 1 entry'],
    [(c) => { c.routes[0].strategy = 'canary'; }, '$.routes[0].strategy', 'expected object'],
  ];
  for (const [edit, path, reason] of cases) {
    const c = structuredClone(base);
    edit(c);
    assert.deepEqual(sc.validate(schema, c).map((e) => ({ path: e.path, reason: e.reason })), [{ path, reason }], `${path}: ${reason}`);
  }
});

test('validator keywords beyond the fixture: anyOf, allOf, not, if/then, prefixItems, $ref to definitions, booleans', () => {
  const s = {
    definitions: { pos: { type: 'number', exclusiveMinimum: 0 } },
    type: 'object',
    properties: {
      a: { anyOf: [{ type: 'string' }, { type: 'null' }] },
      b: { allOf: [{ $ref: '#/definitions/pos' }, { maximum: 10 }] },
      c: { not: { const: 'x' } },
      d: { if: { type: 'string' }, then: { minLength: 2 }, else: { type: 'integer' } },
      e: { type: 'array', prefixItems: [{ type: 'string' }], items: { type: 'integer' } },
      f: false,
      g: { type: 'number', multipleOf: 0.5 },
      h: { type: 'object', patternProperties: { '^x-': { type: 'string' } }, additionalProperties: false },
      i: { oneOf: [{ type: 'integer' }, { type: 'number' }] },
    },
  };
  const ok = { a: null, b: 10, c: 'y', d: 'ab', e: ['s', 1, 2], g: 1.5, h: { 'x-a': 'v' } };
  assert.deepEqual(sc.validate(s, ok), []);
  const bad = { a: 1, b: 0, c: 'x', d: 'a', e: [1, 'z'], f: 1, g: 0.3, h: { y: 1 }, i: 2 };
  assert.deepEqual(sc.validate(s, bad).map((e) => `${e.path}: ${e.reason}`), [
    '$.a: expected string or null',
    '$.b: must be above 0',
    '$.c: matches a form that is not allowed',
    '$.d: must have at least 2 character(s)',
    '$.e[0]: expected string, found integer',
    '$.e[1]: expected integer, found string',
    '$.f: not allowed here',
    '$.g: must be a multiple of 0.5',
    '$.h.y: unknown field "y"',
    '$.i: matches 2 alternatives; expected exactly one',
  ]);
  assert.deepEqual(sc.validate(true, 5), []);
});

test('checkConfigText: syntax first, then duplicates and schema errors with lines; placeErrors for server errors', () => {
  const broken = sc.checkConfigText('{\n "version": 1,\n}', schema);
  assert.equal(broken.errors.length, 1);
  assert.equal(broken.errors[0].line, 3);
  assert.match(broken.errors[0].reason, /^not valid JSON/);
  const text = configText.replace('"percent": 5,', '"percent": 5, "percent": 500,');
  const r = sc.checkConfigText(text, schema);
  const line = text.split('\n').findIndex((l) => l.includes('"percent": 500')) + 1;
  assert.deepEqual(r.errors.map((e) => [e.path, e.line]), [['$.routes[0].strategy.percent', line], ['$.routes[0].strategy.percent', line]]);
  assert.match(r.errors[0].reason, /duplicate key/);
  assert.equal(r.errors[1].reason, 'must be at most 100');
  assert.deepEqual(sc.checkConfigText(configText, null).errors, [], 'without a schema: syntax only');
  const placed = sc.placeErrors(configText, [{ path: '$.routes[2].strategy.arms[1].origin', reason: 'unknown origin' }, { path: '$', reason: 'x' }]);
  assert.equal(configText.split('\n')[placed[0].line - 1].trim(), '"origin": "fraud-v2"');
  assert.equal(placed[1].line, 1);
});
