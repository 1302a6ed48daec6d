// examples/*.json: every example is accepted by the validator the workers run (`switchyard
// validate`) and by docs/config.schema.json (ajv), together they show every strategy kind,
// shadow with compare, route flags with rules and alert webhooks, and a deliberately broken
// copy of each is refused (by both for a malformed one, by the validator for a reference to
// an origin that does not exist, which JSON Schema cannot see).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import Ajv2020 from 'ajv/dist/2020.js';
import { ROOT, cli, validateFiles } from './cli.mjs';

const schema = JSON.parse(readFileSync(resolve(ROOT, 'docs/config.schema.json'), 'utf8'));
const ajv = new Ajv2020({ allErrors: true, strict: true, multipleOfPrecision: 6 });
const validate = ajv.compile(schema);
const DIR = resolve(ROOT, 'examples');
const files = readdirSync(DIR)
  .filter((f) => f.endsWith('.json'))
  .sort()
  .map((f) => join(DIR, f));
const docs = files.map((f) => ({ file: f, text: readFileSync(f, 'utf8') }));

test('every example passes the validator and the JSON Schema', async () => {
  assert.ok(files.length >= 10, `only ${files.length} examples`);
  const verdicts = await validateFiles(files);
  for (const { file, text } of docs) {
    const v = verdicts.get(file);
    assert.equal(v.valid, true, `${file}: ${JSON.stringify(v.errors)}`);
    assert.ok(validate(JSON.parse(text)), `${file}: ${ajv.errorsText(validate.errors)}`);
  }
  // The CLI's text output says the same (exit 0, one verdict per file).
  const r = await cli(['validate', ...files]);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.equal(r.stdout.match(/: valid: config [0-9a-f]{12}/g).length, files.length);
  console.log(`# examples: ${files.length} files valid for the validator and the schema`);
});

test('the examples cover every strategy kind, shadow with compare, route flags with rules and alerts', () => {
  const all = docs.map((d) => JSON.parse(d.text));
  const routes = all.flatMap((c) => c.routes);
  const kinds = new Set(routes.map((r) => r.strategy.kind));
  assert.deepEqual([...kinds].sort(), schema.$defs.strategy.properties.kind.enum.slice().sort());
  assert.ok(routes.some((r) => r.strategy.kind === 'canary' && r.strategy.steps?.length && r.strategy.guard), 'canary with steps and guard');
  assert.ok(routes.some((r) => r.strategy.kind === 'flag' && r.strategy.flags.some((f) => f.rules?.length)), 'flag strategy with rules');
  assert.ok(routes.some((r) => r.strategy.kind === 'blue_green' && r.strategy.failover && r.strategy.preview_header), 'blue-green with failover and preview_header');
  assert.ok(routes.some((r) => r.strategy.kind === 'recreate' && r.strategy.health_path), 'recreate with health_path');
  assert.ok(routes.some((r) => r.shadow?.some((s) => s.compare)), 'shadow with compare');
  assert.ok(routes.some((r) => r.flags?.some((f) => f.rules?.length)), 'route flags with rules');
  assert.ok(all.some((c) => c.alerts?.webhooks?.length), 'alert webhooks');
  // Paths as the demo serves them (KServe v2).
  for (const r of routes) assert.match(r.match.path_prefix, /^\/v2\/models\//, r.name);
});

test('a broken copy of each example is refused', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'switchyard-examples-'));
  try {
    const broken = [];
    for (const { file, text } of docs) {
      const base = file.split('/').pop().replace('.json', '');
      // Malformed: an unknown field in the first route's strategy (both refuse it).
      const malformed = JSON.parse(text);
      malformed.routes[0].strategy.weights = 1;
      // Semantic: the first origin renamed, so every reference to it dangles (the validator
      // refuses it; JSON Schema cannot know which names `origins` defines).
      const dangling = JSON.parse(text);
      const [first] = Object.keys(dangling.origins);
      dangling.origins[`${first}-renamed`] = dangling.origins[first];
      delete dangling.origins[first];
      for (const [kind, doc] of [['malformed', malformed], ['dangling', dangling]]) {
        const f = join(dir, `${base}.${kind}.json`);
        writeFileSync(f, JSON.stringify(doc, null, 2));
        broken.push({ f, kind, doc });
      }
    }
    const verdicts = await validateFiles(broken.map((b) => b.f));
    for (const { f, kind, doc } of broken) {
      const v = verdicts.get(f);
      assert.equal(v.valid, false, `${f}: the validator accepted it`);
      if (kind === 'malformed') {
        assert.ok(v.errors.some((e) => e.path === '$.routes[0].strategy.weights'), `${f}: ${JSON.stringify(v.errors)}`);
        assert.equal(validate(doc), false, `${f}: the schema accepted it`);
      } else {
        assert.ok(v.errors.every((e) => e.reason.startsWith('unknown origin')), `${f}: ${JSON.stringify(v.errors)}`);
        assert.equal(validate(doc), true, `${f}: ${ajv.errorsText(validate.errors)}`);
      }
    }
    // And the CLI exits 1 on one.
    assert.equal((await cli(['validate', broken[0].f])).code, 1);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
