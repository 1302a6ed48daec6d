// Allocation layouts against the REAL workers under `wrangler dev` (after `make build`): an
// A/B route's weights go 50/30/20 -> 40/40/20 -> 20/40/40 through the operator API
// (`PUT /_switchyard/config`), which stores the route's layout in KV (`layout:churn`) before
// the config; of 10,000 units (`u0` … `u9999`), every fifth is routed through the router
// after each write.
//
// Checked at each change:
// - the layout in KV moves exactly the total-variation distance of slots (10 %, then 20 %);
// - every routed unit is served by the arm the layout gives its slot, computed here
//   independently (SHA-256 of the unit under the route's salt, multiply-shift into 10,000
//   slots, then the run that holds the slot), so the 10,000 units' arms are the layout's;
// - units move only from arms that shrank to arms that grew, so the share that changes arm
//   is exactly the total-variation distance between these units' arm shares before and
//   after, and it is the share `POST /validate?churn=1` predicted before the write;
// - against the distance between the weights it differs only by sampling: within 4
//   standard deviations of a binomial count (0.4 points at 20 %).
// The figures are printed (`churn …`). 6,000 routed requests, plus the waits for each write.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { useWorker, startOrigin, waitFor, originsBlock, pool } from './harness.mjs';

const ctx = useWorker();
const UNITS = 10_000;
// Units routed through the edge per config: every fifth (2,000).
const ROUTE_EVERY = 5;
const SLOTS = 10_000n;
const ARMS = ['a', 'b', 'c'];

/** The unit's slot: first 8 bytes of SHA-256("sy1" 0x1F salt 0x1F unit), times 10,000, >> 64. */
function slotOf(unit) {
  const d = createHash('sha256').update(`sy1\x1fchurn:split\x1f${unit}`).digest();
  return Number((d.readBigUInt64BE(0) * SLOTS) >> 64n);
}

/** The arm a stored layout gives a slot: the last run starting at or before it. */
function ownerOf(layout, slot) {
  let r = 0;
  while (r + 1 < layout.runs.length && layout.runs[r + 1][0] <= slot) r++;
  return layout.arms[layout.runs[r][1]];
}

let origins;
function config(weights) {
  return {
    version: 1,
    origins: originsBlock(origins),
    routes: [
      {
        name: 'churn',
        match: { path_prefix: '/churn' },
        unit: [{ header: 'x-user-id' }],
        strategy: { kind: 'ab', arms: ARMS.map((name, i) => ({ name, origin: name, weight: weights[i] })) },
      },
    ],
  };
}

async function armOf(unit) {
  const r = await ctx.worker.req('/churn/infer', { method: 'POST', headers: { 'x-user-id': unit, 'content-type': 'application/json' }, body: '{}' });
  assert.equal(r.status, 200);
  return r.headers['x-switchyard-arm'];
}

const units = Array.from({ length: UNITS }, (_, i) => `u${i}`);
const slots = units.map(slotOf);

/** Writes the config through the operator API; returns the layout stored and every unit's arm. */
async function apply(weights) {
  const w = ctx.worker;
  const r = await w.req('/_switchyard/config', { method: 'PUT', body: JSON.stringify(config(weights)) });
  assert.equal(r.status, 200, r.body);
  const doc = JSON.parse(await w.getKV('layout:churn'));
  const layout = doc.layouts[0];
  assert.deepEqual(layout.arms, ARMS);
  assert.deepEqual(layout.counts, weights.map((x) => x * 100));
  // The router serves the new config and layout once a sample of units is routed by it.
  await waitFor(async () => {
    for (let i = 0; i < 40; i++) if ((await armOf(units[i * 97])) !== ownerOf(layout, slots[i * 97])) return false;
    return true;
  }, 20_000, { intervalMs: 250, what: `layout for ${weights.join('/')} in force` });
  // Every fifth unit is routed through the edge and must be served by the stored layout's
  // arm for its slot; the 10,000 units' arms are then the layout's (the bounded e2e time).
  const sample = units.map((_, i) => i).filter((i) => i % ROUTE_EVERY === 0);
  const routed = await pool(sample.length, (k) => armOf(units[sample[k]]));
  const off = routed.filter((a, k) => a !== ownerOf(layout, slots[sample[k]])).length;
  assert.equal(off, 0, `${off} of ${sample.length} routed units not served by the stored layout`);
  const arms = units.map((_, i) => ownerOf(layout, slots[i]));
  return { layout, arms, doc };
}

/** Slots whose arm differs between two stored layouts. */
function slotsMoved(x, y) {
  let n = 0;
  for (let s = 0; s < Number(SLOTS); s++) if (ownerOf(x, s) !== ownerOf(y, s)) n++;
  return n;
}

test('weight changes through the operator API move the total-variation share of 10,000 units', { timeout: 600_000 }, async () => {
  const w = await ctx.ready;
  origins = {};
  for (const a of ARMS) origins[a] = await startOrigin(a);
  let before = await apply([50, 30, 20]);
  assert.equal(before.doc.layouts.length, 1, 'a new route starts from the canonical layout');
  assert.deepEqual(before.layout.runs, [[0, 0], [5000, 1], [8000, 2]]);
  for (const [weights, tv] of [[[40, 40, 20], 0.1], [[20, 40, 40], 0.2]]) {
    // The preview of the write, over the same unit ids.
    const pv = await w.req('/_switchyard/validate?churn=1', { method: 'POST', body: JSON.stringify(config(weights)) });
    assert.equal(pv.status, 200, pv.body);
    const preview = pv.json().churn.routes.find((x) => x.route === 'churn');
    assert.equal(preview.layout.slots_moved, tv * 10_000);
    assert.ok(Math.abs(preview.layout.total_variation - tv) < 1e-12, JSON.stringify(preview.layout));

    const after = await apply(weights);
    assert.equal(after.doc.layouts.length, 2, 'the layout before is kept beside the new one');
    assert.deepEqual(after.doc.layouts[1], before.layout);
    assert.equal(slotsMoved(before.layout, after.layout), tv * 10_000);

    const changed = after.arms.filter((a, i) => a !== before.arms[i]).length / UNITS;
    // Units move only from shrinking to growing arms: the change is the units' own shares' distance.
    const count = (arms, x) => arms.filter((a) => a === x).length;
    const sharesTv = ARMS.reduce((d, x) => d + Math.abs(count(after.arms, x) - count(before.arms, x)), 0) / 2 / UNITS;
    assert.equal(changed, sharesTv);
    assert.equal(changed, preview.changed, 'the preview predicted the change exactly');
    const sd = Math.sqrt((tv * (1 - tv)) / UNITS);
    assert.ok(Math.abs(changed - tv) <= 4 * sd, `${changed} vs ${tv}`);
    console.log(
      `churn ${weights.join('/')}: ${(changed * 100).toFixed(2)} % of ${UNITS} units changed arm ` +
        `(${(tv * 100).toFixed(0)} % of slots; total-variation distance ${(tv * 100).toFixed(0)} %; ` +
        `${Math.abs(changed - tv) * 100 <= 0.5 ? 'within' : 'not within'} 0.5 points)`,
    );
    before = after;
  }
});
