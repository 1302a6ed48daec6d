// Config editor support, no DOM: a JSON reader that knows where every value sits in the text
// (line numbers for inline errors, duplicate keys, syntax errors with their line), and a JSON
// Schema validator for the subset of draft 2020-12 that generated schemas use. Error paths are
// written like the server's (`$.routes[0].strategy.percent`) so both kinds of error line up.

const IDENT = /^[A-Za-z_][A-Za-z0-9_-]*$/;
/** `$.a.b[0]` path of a child: `.key` for plain names, `["key"]` otherwise, `[i]` for items. */
export const child = (path, key) => (typeof key === 'number' ? `${path}[${key}]` : IDENT.test(key) ? `${path}.${key}` : `${path}[${JSON.stringify(key)}]`);

/** 1-based line and column of a character offset. */
export function lineCol(text, offset) {
  let line = 1;
  let last = -1;
  for (let i = 0; i < offset && i < text.length; i++) if (text.charCodeAt(i) === 10) { line++; last = i; }
  return { line, col: offset - last };
}

/**
 * Reads JSON text and returns {value, locations: Map(path → {line, col}), duplicates: [{path, line}],
 * error: null | {message, line, col}}. Locations point at each value (for object members: the key).
 */
export function readJson(text) {
  const s = String(text ?? '');
  const locations = new Map();
  const duplicates = [];
  let i = 0;
  const fail = (msg) => {
    const e = new Error(i >= s.length && !/end of text/.test(msg) ? `unexpected end of text: ${msg}` : msg);
    e.offset = i;
    throw e;
  };
  const ws = () => { while (i < s.length && ' \t\n\r'.includes(s[i])) i++; };
  const str = () => {
    const start = i;
    i++;
    while (i < s.length && s[i] !== '"') {
      if (s[i] === '\\') i++;
      else if (s.charCodeAt(i) < 0x20) fail('control character in string');
      i++;
    }
    if (i >= s.length) { i = start; fail('unterminated string'); }
    i++;
    try { return JSON.parse(s.slice(start, i)); } catch { i = start; return fail('bad escape in string'); }
  };
  const value = (path, at) => {
    ws();
    if (!locations.has(path)) locations.set(path, lineCol(s, at ?? i));
    const c = s[i];
    if (c === '{') {
      i++;
      const obj = {};
      ws();
      if (s[i] === '}') { i++; return obj; }
      for (;;) {
        ws();
        if (s[i] !== '"') fail('expected a "quoted" property name');
        const keyAt = i;
        const key = str();
        const p = child(path, key);
        if (Object.prototype.hasOwnProperty.call(obj, key)) duplicates.push({ path: p, ...lineCol(s, keyAt) });
        ws();
        if (s[i] !== ':') fail(`expected ':' after "${key}"`);
        i++;
        obj[key] = value(p, keyAt);
        ws();
        if (s[i] === ',') { i++; continue; }
        if (s[i] === '}') { i++; return obj; }
        fail(`expected ',' or '}' after the value of "${key}"`);
      }
    }
    if (c === '[') {
      i++;
      const arr = [];
      ws();
      if (s[i] === ']') { i++; return arr; }
      for (;;) {
        ws();
        arr.push(value(child(path, arr.length)));
        ws();
        if (s[i] === ',') { i++; continue; }
        if (s[i] === ']') { i++; return arr; }
        fail("expected ',' or ']' in array");
      }
    }
    if (c === '"') return str();
    const m = /^(?:-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?|true|false|null)/.exec(s.slice(i, i + 400));
    if (!m) fail(i >= s.length ? 'unexpected end of text' : `unexpected ${JSON.stringify(s[i])}`);
    i += m[0].length;
    return JSON.parse(m[0]);
  };
  try {
    const v = value('$');
    ws();
    if (i < s.length) fail('text after the end of the document');
    return { value: v, locations, duplicates, error: null };
  } catch (e) {
    return { value: undefined, locations, duplicates, error: { message: e.message, ...lineCol(s, e.offset ?? 0) } };
  }
}

/** The line of the deepest located path that is `path` or one of its parents (1 when none). */
export function lineOf(locations, path) {
  let p = String(path ?? '$');
  for (let k = 0; k < 100; k++) {
    if (locations.has(p)) return locations.get(p).line;
    const up = p.replace(/(\.[^.[\]]+|\[[^\]]*\])$/, '');
    if (up === p) break;
    p = up;
  }
  return 1;
}

const typeOf = (v) => (v === null ? 'null' : Array.isArray(v) ? 'array' : Number.isInteger(v) ? 'integer' : typeof v);
const typeOk = (v, t) => t === typeOf(v) || (t === 'number' && typeof v === 'number');
const equal = (a, b) => JSON.stringify(a) === JSON.stringify(b);
const show = (v) => (typeof v === 'string' ? v : JSON.stringify(v));

/** Errors [{path, reason}] of `value` against `schema` (subset of JSON Schema 2020-12 / draft-07). */
export function validate(schema, value, root = schema) {
  const errors = [];
  walk(schema, value, '$', root, errors, 0);
  return errors;
}

function resolve(ref, root) {
  if (typeof ref !== 'string' || !ref.startsWith('#')) return null;
  let node = root;
  for (const part of ref.slice(1).split('/').filter(Boolean)) {
    node = node?.[decodeURIComponent(part.replace(/~1/g, '/').replace(/~0/g, '~'))];
  }
  return node ?? null;
}

function walk(schema, v, path, root, errors, depth) {
  if (schema === true || schema == null) return;
  if (schema === false) { errors.push({ path, reason: 'not allowed here' }); return; }
  if (depth > 64) return;
  const err = (reason, p = path, extra = {}) => errors.push({ path: p, reason, ...extra });
  if (schema.$ref) {
    const target = resolve(schema.$ref, root);
    if (target) walk(target, v, path, root, errors, depth + 1);
  }
  if (schema.type !== undefined) {
    const types = Array.isArray(schema.type) ? schema.type : [schema.type];
    if (!types.some((t) => typeOk(v, t))) { err(`expected ${types.join(' or ')}, found ${typeOf(v)}`, path, { kind: 'type' }); return; }
  }
  if ('const' in schema && !equal(v, schema.const)) err(`must be ${show(schema.const)}`, path, { kind: 'const', expected: [schema.const] });
  if (Array.isArray(schema.enum) && !schema.enum.some((x) => equal(x, v))) err(`expected one of: ${schema.enum.map(show).join(', ')}`, path, { kind: 'const', expected: schema.enum });
  if (typeof v === 'number') {
    if (typeof schema.minimum === 'number' && v < schema.minimum) err(`must be at least ${schema.minimum}`);
    if (typeof schema.maximum === 'number' && v > schema.maximum) err(`must be at most ${schema.maximum}`);
    if (typeof schema.exclusiveMinimum === 'number' && v <= schema.exclusiveMinimum) err(`must be above ${schema.exclusiveMinimum}`);
    if (typeof schema.exclusiveMaximum === 'number' && v >= schema.exclusiveMaximum) err(`must be below ${schema.exclusiveMaximum}`);
    if (typeof schema.multipleOf === 'number' && Math.abs(v / schema.multipleOf - Math.round(v / schema.multipleOf)) > 1e-9) err(`must be a multiple of ${schema.multipleOf}`);
  }
  if (typeof v === 'string') {
    const len = [...v].length;
    if (typeof schema.minLength === 'number' && len < schema.minLength) err(`must have at least ${schema.minLength} character(s)`);
    if (typeof schema.maxLength === 'number' && len > schema.maxLength) err(`must have at most ${schema.maxLength} characters`);
    if (typeof schema.pattern === 'string') {
      let re = null;
      try { re = new RegExp(schema.pattern, 'u'); } catch { /* a pattern JS cannot read: skip */ }
      if (re && !re.test(v)) err(`must match ${schema.pattern}`);
    }
  }
  if (Array.isArray(v)) {
    if (typeof schema.minItems === 'number' && v.length < schema.minItems) err(`must have at least ${schema.minItems} item(s)`);
    if (typeof schema.maxItems === 'number' && v.length > schema.maxItems) err(`must have at most ${schema.maxItems} items`);
    if (schema.uniqueItems && new Set(v.map((x) => JSON.stringify(x))).size !== v.length) err('items must be unique');
    const prefix = Array.isArray(schema.prefixItems) ? schema.prefixItems : Array.isArray(schema.items) ? schema.items : [];
    v.forEach((x, k) => {
      const s = k < prefix.length ? prefix[k] : (Array.isArray(schema.items) ? schema.additionalItems : schema.items);
      if (s !== undefined) walk(s, x, child(path, k), root, errors, depth + 1);
    });
  }
  if (v && typeof v === 'object' && !Array.isArray(v)) {
    for (const k of Array.isArray(schema.required) ? schema.required : []) if (!(k in v)) err(`missing required field "${k}"`, path, { kind: 'required' });
    const props = schema.properties ?? {};
    const pats = Object.entries(schema.patternProperties ?? {}).map(([p, s]) => { try { return [new RegExp(p, 'u'), s]; } catch { return null; } }).filter(Boolean);
    const n = Object.keys(v).length;
    if (typeof schema.minProperties === 'number' && n < schema.minProperties) err(`must have at least ${schema.minProperties} entr${schema.minProperties === 1 ? 'y' : 'ies'}`);
    if (typeof schema.maxProperties === 'number' && n > schema.maxProperties) err(`must have at most ${schema.maxProperties} entries`);
    for (const [k, x] of Object.entries(v)) {
      const p = child(path, k);
      let known = false;
      if (Object.prototype.hasOwnProperty.call(props, k)) { known = true; walk(props[k], x, p, root, errors, depth + 1); }
      for (const [re, s] of pats) if (re.test(k)) { known = true; walk(s, x, p, root, errors, depth + 1); }
      if (schema.propertyNames) walk(schema.propertyNames, k, p, root, errors, depth + 1);
      if (!known && schema.additionalProperties !== undefined) {
        if (schema.additionalProperties === false) err(`unknown field "${k}"`, p);
        else walk(schema.additionalProperties, x, p, root, errors, depth + 1);
      }
    }
  }
  for (const s of Array.isArray(schema.allOf) ? schema.allOf : []) walk(s, v, path, root, errors, depth + 1);
  for (const key of ['anyOf', 'oneOf']) {
    const branches = Array.isArray(schema[key]) ? schema[key] : null;
    if (!branches) continue;
    const results = branches.map((b) => { const e = []; walk(b, v, path, root, e, depth + 1); return e; });
    const passing = results.filter((e) => e.length === 0).length;
    if (key === 'oneOf' && passing > 1) err(`matches ${passing} alternatives; expected exactly one`);
    if (passing > 0) continue;
    errors.push(...explainBranches(results, path));
  }
  if (schema.not !== undefined) {
    const e = [];
    walk(schema.not, v, path, root, e, depth + 1);
    if (!e.length) err('matches a form that is not allowed');
  }
  if (schema.if !== undefined) {
    const e = [];
    walk(schema.if, v, path, root, e, depth + 1);
    const then = e.length ? schema.else : schema.then;
    if (then !== undefined) walk(then, v, path, root, errors, depth + 1);
  }
}

/**
 * The errors to show when no alternative matches: the alternatives a discriminator (`kind`
 * const/enum, or the value's type) did not rule out, the one with the fewest errors; when
 * every alternative is ruled out at the same path, one "expected one of" error there.
 */
function explainBranches(results, path) {
  const ruledOut = (e) => e.some((x) => x.kind === 'type' && x.path === path) || e.some((x) => x.kind === 'const' && x.path !== path) || e.some((x) => x.kind === 'const' && x.path === path);
  const open = results.filter((e) => !ruledOut(e));
  if (open.length) return open.reduce((a, b) => (b.length < a.length ? b : a));
  const consts = results.flatMap((e) => e.filter((x) => x.kind === 'const'));
  const at = consts[0]?.path;
  if (at && results.every((e) => e.some((x) => x.kind === 'const' && x.path === at))) {
    const expected = [...new Set(consts.filter((x) => x.path === at).flatMap((x) => x.expected ?? []).map(show))];
    return [{ path: at, reason: `expected one of: ${expected.join(', ')}`, kind: 'const', expected }];
  }
  const types = results.flatMap((e) => e.filter((x) => x.kind === 'type' && x.path === path));
  if (types.length === results.length) {
    const want = [...new Set(types.map((x) => /expected (.*), found/.exec(x.reason)?.[1]).filter(Boolean))];
    return [{ path, reason: `expected ${want.join(' or ')}`, kind: 'type' }];
  }
  return results.reduce((a, b) => (b.length < a.length ? b : a));
}

/**
 * Everything the editor shows for a text: syntax error (with its line) or duplicate keys, then
 * schema errors, each with the line it belongs to. `schema` may be null (syntax checks only).
 */
export function checkConfigText(text, schema) {
  const r = readJson(text);
  if (r.error) return { value: undefined, errors: [{ path: '$', reason: `not valid JSON: ${r.error.message}`, line: r.error.line, col: r.error.col }], locations: r.locations };
  const errors = r.duplicates.map((d) => ({ path: d.path, reason: 'duplicate key (the last one would win silently)', line: d.line, col: d.col }));
  if (schema) for (const e of validate(schema, r.value)) errors.push({ path: e.path, reason: e.reason, line: lineOf(r.locations, e.path) });
  return { value: r.value, errors, locations: r.locations };
}

/** Server errors [{path, reason}] with the lines their paths have in `text`. */
export function placeErrors(text, errors) {
  const r = readJson(text);
  return errors.map((e) => ({ ...e, line: lineOf(r.locations, e.path) }));
}
