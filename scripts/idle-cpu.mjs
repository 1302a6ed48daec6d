#!/usr/bin/env node
// Idle CPU of the stats worker against config size: a 1,000-route config should cost the
// stats worker no more idle CPU than a 10-route one, beyond one parse per change. Not part
// of CI; loopback only; bounded (two `wrangler dev` sessions, each on its own --persist-to dir,
// both stopped at the end; about 4 minutes).
//
//   make build && node scripts/idle-cpu.mjs [rounds=3] [window_s=20] [active=10]
//
// Two sessions run side by side: one with a generated 10-route config, one with a generated
// 1,000-route config (every route a canary with steps and a guard, so the learning tick has
// work). `active` routes of each (the same names, r0..r<active-1>; at most 10, the size of the
// small config, so both sessions run the same number of ticking objects) get a few requests,
// so their RouteStats objects exist and their alarms tick every STATS_TICK_MS = 500 ms. Then
// both sit idle and the script measures, in windows of `window_s` taken in alternation
// (10, 1000, 10, 1000, ...), the CPU time (utime + stime from /proc/<pid>/stat) of each
// session's workerd processes: the one that listens on the session's --port is wrangler's
// proxy; the other runs the router and the stats worker (one isolate each; with no requests
// the router is idle, so its CPU is the stats worker's alarms and config checks). Medians over
// `rounds`. Last, one window per session in which the config changes once (one route edited,
// 5 s into the window): the difference from the idle median is the cost of one re-read, parse
// and `config:last_valid` write.
import { readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { startWorker, startOrigin, originsBlock, waitFor, sleep } from '../tests/e2e/harness.mjs';

const ROUNDS = Math.max(1, Math.min(Number(process.argv[2] ?? 3), 10));
const WINDOW_MS = Math.max(2, Math.min(Number(process.argv[3] ?? 20), 120)) * 1000;
const ACTIVE = Math.max(1, Math.min(Number(process.argv[4] ?? 10), 10));
const SIZES = [10, 1000];
const TICK_MS = 500;
const CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;

/** A schema-v1 config of `n` canary routes r0..r<n-1>; `rev` edits the last route only. */
function config(n, origins, rev = 0) {
  const routes = Array.from({ length: n }, (_, i) => ({
    name: `r${i}`,
    match: { path_prefix: `/r${i}/` },
    unit: [{ header: 'x-user-id' }],
    strategy: {
      kind: 'canary',
      stable: 'stable',
      canary: 'canary',
      percent: 10,
      steps: [
        { percent: 10, hold_s: 600 + (i === n - 1 ? rev : 0) },
        { percent: 30, hold_s: 600 },
        { percent: 60, hold_s: 600 },
      ],
      guard: { max_error_rate: 0.5, min_requests: 5 },
    },
  }));
  return { version: 1, origins: originsBlock(origins), routes };
}

/** pid -> { ppid, comm, ticks } for every process. */
function processes() {
  const out = new Map();
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      // After the comm: f[0] = state (field 3), f[1] = ppid (4), f[11] = utime (14), f[12] = stime (15).
      out.set(Number(d), { ppid: Number(f[1]), comm, ticks: Number(f[11]) + Number(f[12]) });
    } catch {
      // gone
    }
  }
  return out;
}

/** Inodes of the sockets listening on 127.0.0.1:`port`. */
function listenInodes(port) {
  const inodes = new Set();
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const c = line.trim().split(/\s+/);
      if (c.length < 10 || c[3] !== '0A') continue; // 0A = LISTEN
      if (parseInt(c[1].split(':')[1], 16) === port) inodes.add(c[9]);
    }
  }
  return inodes;
}

function holdsSocket(pid, inodes) {
  try {
    for (const fd of readdirSync(`/proc/${pid}/fd`)) {
      try {
        const m = readlinkSync(`/proc/${pid}/fd/${fd}`).match(/^socket:\[(\d+)\]$/);
        if (m && inodes.has(m[1])) return true;
      } catch {
        // closed meanwhile
      }
    }
  } catch {
    // gone
  }
  return false;
}

/** The workerd descendants of wrangler's process: { proxy: pid, runtime: [pids] }. */
function workerdOf(w) {
  const ps = processes();
  const desc = new Set([w.child.pid]);
  for (let grew = true; grew; ) {
    grew = false;
    for (const [pid, p] of ps) {
      if (!desc.has(pid) && desc.has(p.ppid)) {
        desc.add(pid);
        grew = true;
      }
    }
  }
  const workerd = [...desc].filter((pid) => ps.get(pid)?.comm.includes('workerd'));
  const inodes = listenInodes(w.port);
  const proxy = workerd.filter((pid) => holdsSocket(pid, inodes));
  return { proxy, runtime: workerd.filter((pid) => !proxy.includes(pid)) };
}

function ticks(pids) {
  const ps = processes();
  return pids.reduce((s, pid) => s + (ps.get(pid)?.ticks ?? NaN), 0);
}

/** CPU ms of the session's runtime and proxy workerd over `ms`; `during` runs meanwhile. */
async function measure(s, ms, during) {
  const all = [...s.procs.runtime, ...s.procs.proxy];
  const t0 = { runtime: ticks(s.procs.runtime), proxy: ticks(s.procs.proxy) };
  const started = Date.now();
  const job = during ? during() : null;
  await sleep(ms);
  if (job) await job;
  const elapsed = Date.now() - started;
  const t1 = { runtime: ticks(s.procs.runtime), proxy: ticks(s.procs.proxy) };
  if (all.some((pid) => !processes().has(pid))) throw new Error(`${s.n}: a workerd process exited`);
  const toMs = (t) => (t * 1000) / CLK_TCK;
  return { runtime: toMs(t1.runtime - t0.runtime), proxy: toMs(t1.proxy - t0.proxy), elapsed };
}

const median = (xs) => {
  const v = [...xs].sort((a, b) => a - b);
  return v.length % 2 ? v[(v.length - 1) / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2;
};

async function session(n, origins) {
  const w = await startWorker({ vars: { STATS_TICK_MS: String(TICK_MS) } });
  const cfg = config(n, origins);
  const id = await w.applyConfig(cfg, 30000);
  const bytes = Buffer.byteLength(JSON.stringify(cfg));
  // A few requests per active route: the router reports them to the route's object, which
  // then ticks on its alarm.
  for (let r = 0; r < ACTIVE; r++) {
    const rs = await Promise.all(
      Array.from({ length: 6 }, (_, u) => w.req(`/r${r}/x`, { method: 'POST', headers: { 'x-user-id': `u${u}` }, body: '{}' })),
    );
    if (!rs.every((x) => x.status === 200)) throw new Error(`${n}: /r${r}: ${rs.map((x) => x.status)}`);
  }
  for (let r = 0; r < ACTIVE; r++) {
    await waitFor(async () => {
      const s = (await w.req(`/_switchyard/stats/r${r}`)).json();
      return s.config?.id === id && Object.keys(s.arms ?? {}).length > 0;
    }, 30000, { intervalMs: 250, what: `${n}: object r${r} has the reports` });
  }
  const procs = workerdOf(w);
  if (procs.runtime.length === 0) throw new Error(`${n}: no workerd process found under wrangler ${w.child.pid}`);
  console.log(`# session ${n} routes: config ${id} (${bytes} bytes), ${ACTIVE} active objects, workerd runtime ${procs.runtime} proxy ${procs.proxy}, started in ${w.startupMs} ms`);
  return { n, w, id, procs, origins, bytes };
}

const origins = { stable: await startOrigin('stable'), canary: await startOrigin('canary') };
const sessions = [];
let exit = 0;
try {
  for (const n of SIZES) sessions.push(await session(n, origins));
  console.log(`# settling ${TICK_MS * 10} ms`);
  await sleep(TICK_MS * 10);
  const idle = new Map(SIZES.map((n) => [n, []]));
  for (let round = 1; round <= ROUNDS; round++) {
    for (const s of sessions) {
      const m = await measure(s, WINDOW_MS);
      idle.get(s.n).push(m);
      console.log(`# round ${round}, ${s.n} routes: runtime ${m.runtime.toFixed(0)} ms, proxy ${m.proxy.toFixed(0)} ms over ${m.elapsed} ms`);
    }
  }
  // The objects were ticking throughout (each tick stamps last_tick_ms).
  for (const s of sessions) {
    let ticking = 0;
    for (let r = 0; r < ACTIVE; r++) {
      const st = (await s.w.req(`/_switchyard/stats/r${r}`)).json();
      if (Date.now() - (st.last_tick_ms ?? 0) < 4 * TICK_MS) ticking++;
    }
    console.log(`# ${s.n} routes: ${ticking}/${ACTIVE} objects ticked within the last ${4 * TICK_MS} ms`);
    if (ticking < ACTIVE) exit = 1;
  }
  // One config change per session, 5 s into a window.
  const change = new Map();
  for (const s of sessions) {
    let newId;
    const m = await measure(s, WINDOW_MS, async () => {
      await sleep(5000);
      await s.w.putKV('config', config(s.n, s.origins, 1));
    });
    // The stats worker read it within the window (its ticks check KV once a second).
    const st = (await s.w.req('/_switchyard/stats/r0')).json();
    newId = st.config?.id;
    const seen = newId && newId !== s.id;
    change.set(s.n, { ...m, seen });
    console.log(`# change window, ${s.n} routes: runtime ${m.runtime.toFixed(0)} ms, proxy ${m.proxy.toFixed(0)} ms; stats worker on ${newId} (${seen ? 'new' : 'OLD'})`);
    if (!seen) exit = 1;
  }

  const load = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  console.log('');
  console.log(`idle CPU of wrangler dev's workerd over ${WINDOW_MS / 1000} s windows, STATS_TICK_MS=${TICK_MS}, ${ACTIVE} ticking route objects, ${ROUNDS} rounds in alternation, ms (median [min-max])`);
  console.log('routes   config bytes   runtime (router+stats)     proxy       change window runtime   change - idle');
  const fmt = (xs) => `${median(xs).toFixed(0)} [${Math.min(...xs).toFixed(0)}-${Math.max(...xs).toFixed(0)}]`;
  for (const s of sessions) {
    const ms = idle.get(s.n);
    const c = change.get(s.n);
    const med = median(ms.map((m) => m.runtime));
    console.log(
      `${String(s.n).padStart(6)}   ${String(s.bytes).padStart(12)}   ${fmt(ms.map((m) => m.runtime)).padStart(22)}   ${fmt(ms.map((m) => m.proxy)).padStart(12)}   ${c.runtime.toFixed(0).padStart(21)}   ${(c.runtime - med).toFixed(0).padStart(13)}`,
    );
  }
  const [small, big] = SIZES.map((n) => median(idle.get(n).map((m) => m.runtime)));
  console.log(`1000/10 idle runtime ratio: ${(big / small).toFixed(2)}; load average at the end: ${load} (${execFileSync('nproc').toString().trim()} cores)`);
} catch (e) {
  console.error(e);
  exit = 1;
} finally {
  for (const s of sessions) await s.w.stop();
  for (const o of Object.values(origins)) await o.stop();
}
process.exit(exit);
