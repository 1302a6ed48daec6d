// docs/config.schema.json and the validator (crates/core config::parse, through `switchyard
// validate`) accept exactly the same documents: thousands of generated documents (gen.mjs,
// seeded), valid ones and mutated ones, each checked by both. The schema cannot express the
// semantic checks listed in VALIDATOR_ONLY (names that must exist or be unique, routes that
// can never match, ...), so the rule is:
//
//   the schema accepts a document  <=>  the validator reports no error outside VALIDATOR_ONLY
//
// A disagreement is a document where that fails. Every VALIDATOR_ONLY class must occur in the
// run (so the list cannot go stale), and so must documents of each verdict.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import Ajv2020 from 'ajv/dist/2020.js';
import { ROOT, validateFiles } from './cli.mjs';
import { rng, validDocument, mutate, semanticMutation, toText } from './gen.mjs';

const schema = JSON.parse(readFileSync(resolve(ROOT, 'docs/config.schema.json'), 'utf8'));
// multipleOf 0.0001 (percents with at most 4 decimals) divides in binary floating point: with
// a tolerance, as the validator's own check (|p x 10^4 - round| <= 1e-6).
const ajv = new Ajv2020({ allErrors: true, strict: true, multipleOfPrecision: 6 });
const validate = ajv.compile(schema);

/** Reasons (prefixes) of the validator's checks that JSON Schema cannot express. */
export const VALIDATOR_ONLY = [
  'unknown origin', // a reference to an origin that `origins` does not define
  'duplicate route name',
  'duplicate arm name',
  'duplicate flag name',
  'the same origin is mirrored twice',
  'route can never match', // an earlier route matches every request it would
  'steps must not decrease',
  'canary and stable must be different origins',
  "the canary's shadow gate already mirrors requests to this origin",
  'min_share ', // min_share x arms > 1
  'completed ', // completed > batches
  'must be greater than min', // a route's reward range: min < max
  'duplicate key', // in the JSON text: JSON.parse keeps the last, so the schema sees one
];
const only = (reason) => VALIDATOR_ONLY.find((p) => reason.startsWith(p));

const SEED = Number(process.env.DIFF_SEED ?? 20240607);
const DOCUMENTS = Number(process.env.DIFF_DOCUMENTS ?? 10000);

test(`schema and validator agree on ${DOCUMENTS} generated documents (seed ${SEED})`, async () => {
  const r = rng(SEED);
  const dir = mkdtempSync(join(tmpdir(), 'switchyard-differential-'));
  try {
    const docs = [];
    for (let i = 0; i < DOCUMENTS; i++) {
      let doc = validDocument(r);
      // A quarter stay valid, a sixth get a semantic mutation, the rest random mutations
      // (mostly one: a second one would often hide the first's verdict); one in twelve is
      // written with a duplicated key.
      const x = r.next();
      let how = 'valid';
      if (x >= 1 / 4 && x < 5 / 12) {
        doc = semanticMutation(r, doc);
        how = 'semantic';
      } else if (x >= 5 / 12) {
        for (let k = r.chance(0.7) ? 1 : 2 + r.int(2); k > 0; k--) doc = mutate(r, doc);
        how = 'mutated';
      }
      const { text, duplicated } = toText(r, doc, { dupKey: r.chance(1 / 12) });
      const file = join(dir, `doc-${String(i).padStart(5, '0')}.json`);
      writeFileSync(file, text);
      docs.push({ file, text, how, duplicated });
    }
    const verdicts = await validateFiles(docs.map((d) => d.file));

    const counts = { bothAccept: 0, bothReject: 0, validatorOnly: 0, disagreements: 0 };
    const seenOnly = new Set();
    const disagreements = [];
    for (const d of docs) {
      const v = verdicts.get(d.file);
      assert.ok(v, `no verdict for ${d.file}`);
      const structural = v.errors.filter((e) => !only(e.reason));
      for (const e of v.errors) if (only(e.reason)) seenOnly.add(only(e.reason));
      const schemaOk = validate(JSON.parse(d.text));
      if (schemaOk !== (structural.length === 0)) {
        counts.disagreements++;
        if (disagreements.length < 8) {
          disagreements.push({
            text: d.text.length > 600 ? `${d.text.slice(0, 600)}…` : d.text,
            validator: v.errors.slice(0, 6),
            schema: (validate.errors ?? []).slice(0, 6).map((e) => `${e.instancePath} ${e.message}`),
          });
        }
      } else if (v.valid) counts.bothAccept++;
      else if (schemaOk) counts.validatorOnly++;
      else counts.bothReject++;
      if (d.how === 'valid' && !d.duplicated) assert.ok(v.valid, `a generated valid document is invalid: ${JSON.stringify(v.errors)}\n${d.text}`);
    }
    console.log(
      `# differential: ${docs.length} documents, ${counts.disagreements} disagreements ` +
        `(both accept ${counts.bothAccept}, both reject ${counts.bothReject}, ` +
        `validator only, semantic ${counts.validatorOnly}; seed ${SEED})`,
    );
    assert.deepEqual(disagreements, [], `${counts.disagreements} disagreements; first ones:\n${JSON.stringify(disagreements, null, 1)}`);
    assert.equal(counts.disagreements, 0);
    // Not vacuous: every verdict and every validator-only class occurs.
    for (const k of ['bothAccept', 'bothReject', 'validatorOnly']) assert.ok(counts[k] >= docs.length / 20, `${k}: only ${counts[k]}`);
    assert.deepEqual([...seenOnly].sort(), [...VALIDATOR_ONLY].sort(), 'every validator-only class was generated');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the generator is deterministic for a seed', () => {
  const a = toText(rng(7), validDocument(rng(7))).text;
  const b = toText(rng(7), validDocument(rng(7))).text;
  assert.equal(a, b);
  assert.notEqual(a, toText(rng(8), validDocument(rng(8))).text);
});
