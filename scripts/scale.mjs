#!/usr/bin/env node
// Scale check of the receipt ledger (docs/ledger.md), not part of CI: credits N receipts (default
// 100,000) on one A/B route under `wrangler dev` (loopback only, its own --persist-to dir,
// stopped at the end) through the real path (router -> control plane -> RouteStats object)
// and prints, per block of 10,000: feedback latency p50/p99 and failures; then the object's
// storage (SQLite database size, receipt rows) and memory figures (wasm memory of the
// object, resident size of the workerd process).
//
//   make build && node scripts/scale.mjs [receipts=100000] [concurrency=8]
//
// Exit status 1 when any credit failed or the last block's p50 is above 1.5x the first's.
// Bounded: N <= 1,000,000, concurrency <= 64; receipts are minted locally from the
// documented format (no traffic needed), each credited once.
import { readFileSync, readdirSync } from 'node:fs';
import { startWorker, startOrigin, originsBlock, mintReceipt } from '../tests/e2e/harness.mjs';

const N = Math.min(Number(process.argv[2] ?? 100_000), 1_000_000);
const CONCURRENCY = Math.min(Number(process.argv[3] ?? 8), 64);
const BLOCK = Math.min(10_000, N);
const KEY = 'scale-receipt-key-0123456789abcdef';

function mint(route, arm, nonce) {
  return mintReceipt({ route, arm, nonce, key: KEY });
}

const q = (xs, p) => xs[Math.min(xs.length - 1, Math.floor(p * xs.length))];

/** Resident memory (kB) of the workerd processes in wrangler's process group. */
function workerdRssKb(pgid) {
  let total = 0;
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(fields[2]) !== pgid) continue; // field 5: pgrp
      if (!readFileSync(`/proc/${pid}/comm`, 'utf8').includes('workerd')) continue;
      const m = readFileSync(`/proc/${pid}/status`, 'utf8').match(/VmRSS:\s+(\d+)/);
      if (m) total += Number(m[1]);
    } catch {
      // process gone
    }
  }
  return total;
}

const w = await startWorker({ vars: { RECEIPT_KEY: KEY, STATS_TICK_MS: '2000' } });
const origin = await startOrigin('a');
let failed = 0;
try {
  await w.applyConfig({
    version: 1,
    origins: originsBlock({ a: origin }),
    routes: [{ name: 'scale', match: { path_prefix: '/scale' }, strategy: { kind: 'ab', arms: [{ name: 'x', origin: 'a', weight: 1 }, { name: 'y', origin: 'a', weight: 1 }] } }],
  });
  const stats = async () => (await w.req('/_switchyard/stats/scale')).json();
  console.log(`credits: ${N} receipts on one route, ${CONCURRENCY} in flight, blocks of ${BLOCK}`);
  console.log('block      p50 ms   p99 ms   failures   credits/s   db bytes   rss MB');
  const p50s = [];
  let nonce = 0;
  const t0 = Date.now();
  for (let b = 0; b * BLOCK < N; b++) {
    const n = Math.min(BLOCK, N - b * BLOCK);
    const lat = [];
    let fails = 0;
    let next = 0;
    const started = Date.now();
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (next < n) {
          next++;
          const id = nonce++;
          const receipt = mint('scale', id % 2 ? 'x' : 'y', id);
          const t = performance.now();
          const r = await w.req('/_switchyard/feedback', { method: 'POST', body: { receipt, reward: id % 3 === 0 ? 1 : 0 } });
          lat.push(performance.now() - t);
          if (r.status !== 200) {
            fails++;
            if (fails <= 3) console.log(`  failure: HTTP ${r.status} ${r.body.slice(0, 200)}`);
          }
        }
      }),
    );
    lat.sort((a, c) => a - c);
    p50s.push(q(lat, 0.5));
    failed += fails;
    const s = await stats();
    const rate = n / ((Date.now() - started) / 1000);
    console.log(
      `${String((b + 1) * BLOCK).padStart(7)}  ${q(lat, 0.5).toFixed(1).padStart(7)}  ${q(lat, 0.99).toFixed(1).padStart(7)}  ${String(fails).padStart(9)}  ${rate.toFixed(0).padStart(10)}  ${String(s.storage?.database_size).padStart(9)}  ${(workerdRssKb(w.child.pid) / 1024).toFixed(0).padStart(7)}`,
    );
  }
  const s = await stats();
  const credited = Object.values(s.arms).reduce((a, x) => a + x.rewards.count, 0);
  const ratio = p50s.at(-1) / p50s[0];
  console.log(`total: ${N} credits in ${((Date.now() - t0) / 1000).toFixed(0)} s, ${failed} failures, ${credited} rewards counted`);
  console.log(`p50 last/first block: ${ratio.toFixed(2)} (must be <= 1.5)`);
  console.log(`object storage: ${JSON.stringify(s.storage)}`);
  console.log(`workerd resident memory: ${(workerdRssKb(w.child.pid) / 1024).toFixed(0)} MB`);
  if (failed > 0 || credited !== N || ratio > 1.5) process.exitCode = 1;
} finally {
  await origin.stop();
  await w.stop();
}
