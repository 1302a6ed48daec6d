// examples/*.json: every example is accepted by the validator the workers run (`switchyard
// validate`) and by docs/config.schema.json (ajv); together they show every strategy kind,
// shadow with compare, route flags with rules and alert webhooks; a broken copy of each (an
// unknown strategy field) is refused by both.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync, readdirSync, mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import Ajv2020 from 'ajv/dist/2020.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const schema = JSON.parse(readFileSync(resolve(ROOT, 'docs/config.schema.json'), 'utf8'));
const validate = new Ajv2020({ allErrors: true, strict: false }).compile(schema);
const DIR = resolve(ROOT, 'examples');
const files = readdirSync(DIR).filter((f) => f.endsWith('.json')).sort().map((f) => join(DIR, f));

let bin;
function cli(args) {
  if (!bin) {
    execFileSync('cargo', ['build', '-q', '-p', 'switchyard-cli'], { cwd: ROOT, stdio: ['ignore', 'ignore', 'inherit'] });
    const target = process.env.CARGO_TARGET_DIR ? resolve(ROOT, process.env.CARGO_TARGET_DIR) : join(ROOT, 'target');
    bin = join(target, 'debug', 'switchyard');
  }
  return spawnSync(bin, args, { cwd: ROOT, encoding: 'utf8' });
}

test('every example passes the validator and the JSON Schema', () => {
  assert.ok(files.length >= 10, `only ${files.length} examples`);
  for (const f of files) {
    const r = cli(['validate', f]);
    assert.equal(r.status, 0, `${f}: ${r.stdout}${r.stderr}`);
    assert.ok(validate(JSON.parse(readFileSync(f, 'utf8'))), `${f}: ${JSON.stringify(validate.errors)}`);
  }
  console.log(`# examples: ${files.length} files valid for the validator and the schema`);
});

test('the examples cover every strategy kind, shadow with compare, route flags with rules and alerts', () => {
  const all = files.map((f) => JSON.parse(readFileSync(f, 'utf8')));
  const routes = all.flatMap((c) => c.routes);
  const kinds = new Set(routes.map((r) => r.strategy.kind));
  for (const k of ['ab', 'canary', 'flag', 'blue_green', 'rolling', 'recreate', 'bandit']) assert.ok(kinds.has(k), k);
  assert.ok(routes.some((r) => r.shadow?.some((s) => s.compare)), 'shadow with compare');
  assert.ok(routes.some((r) => r.flags?.some((f) => f.rules?.length)), 'route flags with rules');
  assert.ok(all.some((c) => c.alerts?.webhooks?.length), 'alert webhooks');
});

test('a broken copy of each example is refused by both', () => {
  const dir = mkdtempSync(join(tmpdir(), 'switchyard-examples-'));
  try {
    for (const f of files) {
      const doc = JSON.parse(readFileSync(f, 'utf8'));
      doc.routes[0].strategy.weights = 1;
      const b = join(dir, f.split('/').pop());
      writeFileSync(b, JSON.stringify(doc));
      assert.equal(cli(['validate', b]).status, 1, `${b}: the validator accepted it`);
      assert.equal(validate(doc), false, `${b}: the schema accepted it`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
