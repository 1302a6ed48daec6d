// Identity is bytes: one rule for a unit id at the edge and in OFREP (UTF-8 text of 1-512
// bytes without U+FFFD, hashed as exactly those bytes). workerd decodes header bytes as
// UTF-8 and puts U+FFFD in place of bytes that are not, so a unit id sent as Latin-1 bytes
// (as Node's fetch sends `ü`) arrives as `zz-\uFFFD` whichever letter it was: the edge
// refuses it (400 `invalid_unit_id`) instead of merging `zz-ü`, `zz-ö`, `zz-é` and `zz-ß` into
// one unit, and OFREP refuses the same text (400 INVALID_CONTEXT). Their UTF-8 twins are four
// units, and the edge and OFREP give each the same flags.
//
// Also here: receipts are cheap to replay. The control plane remembers the receipts it has
// seen credited, so a replay is refused (409, its message saying the ledger was not asked)
// without a call to the route's object.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startOrigin, useWorker, originsBlock, mintReceipt, waitFor } from './harness.mjs';

const KEY = 'e2e-identity-receipt-key-0123456789';
const ctx = useWorker({ vars: { RECEIPT_KEY: KEY } });

const LETTERS = ['ü', 'ö', 'é', 'ß'];
/** A header value that Node sends as the UTF-8 bytes of `s` (each byte one Latin-1 char). */
const utf8Bytes = (s) => Buffer.from(s, 'utf8').toString('latin1');

test('a Latin-1 unit id is refused at the edge and in OFREP; its UTF-8 twin is one unit for both', async () => {
  const w = await ctx.ready;
  const a = await startOrigin('a');
  const b = await startOrigin('b');
  await w.applyConfig({
    version: 1,
    origins: originsBlock({ a, b }),
    routes: [
      {
        name: 'id', match: { path_prefix: '/id' }, unit: [{ header: 'x-user-id' }],
        strategy: { kind: 'ab', arms: [{ name: 'a', origin: 'a', weight: 1 }, { name: 'b', origin: 'b', weight: 1 }] },
        flags: [{ name: 'f1', rollout: 50 }, { name: 'f2', rollout: 25 }, { name: 'f3', rollout: 75 }],
      },
      {
        name: 'q', match: { path_prefix: '/q' }, unit: [{ query: 'uid' }],
        strategy: { kind: 'ab', arms: [{ name: 'a', origin: 'a', weight: 1 }, { name: 'b', origin: 'b', weight: 1 }] },
      },
    ],
  });
  const ofrep = (key) =>
    w.req('/_switchyard/ofrep/v1/evaluate/flags', { method: 'POST', body: { context: { targetingKey: key } } });

  // Latin-1 bytes (Node's fetch writes `ü` as the byte 0xFC): refused, none of them routed.
  for (const c of LETTERS) {
    const r = await w.req('/id/x', { headers: { 'x-user-id': `zz-${c}` } });
    assert.equal(r.status, 400, `zz-${c} as Latin-1: ${r.body}`);
    const e = r.json().error;
    assert.equal(e.code, 'invalid_unit_id');
    assert.match(e.message, /header x-user-id.*U\+FFFD/);
  }
  // What the worker saw is `zz-\uFFFD`; OFREP, given that text, refuses it too.
  const bad = await ofrep('zz-\uFFFD');
  assert.equal(bad.status, 400, bad.body);
  assert.equal(bad.json().errorCode, 'INVALID_CONTEXT');
  assert.match(bad.json().errorDetails, /U\+FFFD/);
  // The same rule for a query parameter: `%FC` is not UTF-8, `%C3%BC` is `ü`.
  assert.equal((await w.req('/q/x?uid=zz-%FC')).status, 400);
  assert.equal((await w.req('/q/x?uid=zz-%C3%BC')).status, 200);

  // UTF-8 twins: four units, each with the flags OFREP gives the same id.
  const ids = [...LETTERS.map((c) => `zz-${c}`), 'plain-1', 'plain-2', 'ünïcödé-ß-€-日本'];
  const arms = new Set();
  for (const id of ids) {
    a.clear();
    b.clear();
    const r = await w.req('/id/x', { headers: { 'x-user-id': utf8Bytes(id) } });
    assert.equal(r.status, 200, `${id} as UTF-8: ${r.body}`);
    arms.add(`${id}:${r.headers['x-switchyard-arm']}`);
    const [rec] = [...a.requests, ...b.requests];
    const edge = Object.fromEntries(rec.headers['x-switchyard-flags'].split(', ').map((kv) => kv.split('=')));
    const o = await ofrep(id);
    assert.equal(o.status, 200, o.body);
    for (const f of o.json().flags) {
      assert.equal(f.variant, edge[f.key.split('.')[1]], `${id} ${f.key}`);
    }
  }
  console.log(`identity: Latin-1 ids refused at the edge and in OFREP; UTF-8 ids routed: ${[...arms].join(' ')}`);
});

test('replays of a credited receipt are refused by the control plane', async () => {
  const w = await ctx.ready;
  const a = await startOrigin('ra');
  await w.applyConfig({
    version: 1,
    origins: originsBlock({ a }),
    routes: [{ name: 'rp', match: { path_prefix: '/rp' }, feedback_shards: 4, strategy: { kind: 'recreate', origin: 'a' } }],
  });
  const r = await w.req('/rp/x', { headers: { 'x-user-id': 'u-1' } });
  const receipt = r.headers['x-switchyard-receipt'];
  assert.match(receipt, /^v2\./, 'the router signs v2 receipts (with the shard count)');
  const feedback = (token) => w.req('/_switchyard/feedback', { method: 'POST', body: { receipt: token, reward: 1 } });
  const first = await feedback(receipt);
  assert.equal(first.status, 200, first.body);
  // Every replay is answered from the control plane's memory of spent receipts: its message
  // says the ledger (the route's object) was not asked. The object's own refusal says only
  // "this receipt was already credited".
  const replays = await Promise.all(Array.from({ length: 50 }, () => feedback(receipt)));
  for (const x of replays) {
    assert.equal(x.status, 409, x.body);
    assert.equal(x.json().error.code, 'receipt_replayed');
    assert.match(x.json().error.message, /its ledger was not asked/);
  }
  // A v1 receipt (without a shard count) still credits once, then is refused the same way.
  const v1 = mintReceipt({ route: 'rp', arm: r.headers['x-switchyard-arm'], key: KEY, nonce: 99n });
  assert.equal((await feedback(v1)).status, 200);
  const again = await feedback(v1);
  assert.equal(again.status, 409, again.body);
  assert.match(again.json().error.message, /its ledger was not asked/);
  // The replays changed nothing: two credits (the shards are merged on the object's tick).
  const credited = async () => {
    await w.req('/_switchyard/tick/rp', { method: 'POST' });
    const s = (await w.req('/_switchyard/stats/rp')).json();
    return Object.values(s.arms ?? {}).reduce((n, a) => n + (a.rewards?.count ?? 0), 0);
  };
  await waitFor(async () => (await credited()) >= 2, 10000, { what: 'both credits in the statistics' });
  assert.equal(await credited(), 2);
});
