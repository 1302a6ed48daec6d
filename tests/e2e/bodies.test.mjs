// Request bodies are bounded while they stream: a 50 MB chunked body (no Content-Length) sent
// to each body-taking endpoint is answered 413 within a second, and the workerd process that
// runs both workers grows by less than 10 MB over a round of them. Shadow comparison reads at
// most `observe::MAX_COMPARE_BYTES` (256 KiB) of each answer and counts a longer one as not
// compared (`body_too_large`).
//
// The uploads go to the socket of the workerd process that runs the workers, not to the port
// `wrangler dev` prints: that port is wrangler's development proxy (a second workerd running
// its ProxyWorker), which answers a text 503 "Your worker restarted mid-request" or resets the
// connection when a worker answers before the upload has ended (measured: 2 of 36 uploads);
// no deployment has it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { startOrigin, useWorker, originsBlock, waitFor, sleep } from './harness.mjs';

const ctx = useWorker({ vars: { RECEIPT_KEY: 'e2e-bodies-receipt-key-0123456789' } });

const MB = 1 << 20;
const TOTAL = 50 * MB;
const CHUNK = 64 * 1024;

/** Every process below `pid` (children, grandchildren, ...), from /proc. */
function descendants(pid) {
  const parent = new Map();
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      // `pid (comm) state ppid ...`: comm may hold spaces, so split after the last ')'.
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      parent.set(Number(d), ppid);
    } catch {
      /* gone */
    }
  }
  const out = [];
  const todo = [pid];
  while (todo.length) {
    const p = todo.pop();
    for (const [c, pp] of parent) {
      if (pp === p) {
        out.push(c);
        todo.push(c);
      }
    }
  }
  return out;
}

/** The workerd processes of the session and their resident set sizes in bytes. */
function workerdRss(w) {
  const out = [];
  for (const pid of descendants(w.child.pid)) {
    try {
      const status = readFileSync(`/proc/${pid}/status`, 'utf8');
      const name = /^Name:\s*(\S+)/m.exec(status)?.[1];
      if (name !== 'workerd') continue;
      const kb = Number(/^VmRSS:\s*(\d+)\s*kB/m.exec(status)?.[1] ?? 0);
      out.push({ pid, rss: kb * 1024 });
    } catch {
      /* gone */
    }
  }
  return out;
}

/** The sockets `pid` listens on (127.0.0.1 ports), from /proc. */
function listeningPorts(pid) {
  const inodes = new Set();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m) inodes.add(m[1]);
    } catch {
      /* closed meanwhile */
    }
  }
  const ports = [];
  for (const line of readFileSync('/proc/net/tcp', 'utf8').split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f[3] === '0A' && inodes.has(f[9])) ports.push(parseInt(f[1].split(':')[1], 16));
  }
  return ports;
}

/**
 * The workerd process that runs the workers (not the one behind wrangler's own port) and
 * the URL of its entry socket: the listening port where the router answers JSON.
 */
async function runtime(w) {
  for (const { pid } of workerdRss(w)) {
    const args = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    if (args.some((a) => a.includes(`=127.0.0.1:${w.port}`))) continue;
    for (const port of listeningPorts(pid)) {
      const url = `http://127.0.0.1:${port}`;
      try {
        const r = await fetch(`${url}/_switchyard/status`, { signal: AbortSignal.timeout(2000) });
        await r.arrayBuffer();
        if ((r.headers.get('content-type') ?? '').startsWith('application/json')) return { pid, url };
      } catch {
        /* not an HTTP socket */
      }
    }
  }
  throw new Error('no workerd entry socket answering /_switchyard/status');
}

function rss(pid) {
  const kb = Number(/^VmRSS:\s*(\d+)\s*kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]);
  return kb * 1024;
}

/**
 * Sends `total` bytes as a chunked body (no Content-Length), as fast as the server takes
 * them, and ends the upload as soon as the response head arrives (as curl does on an early
 * error answer: "HTTP error before end of send, stop sending"). One connection per upload.
 * Resolves to { status, body, ms (to the response head), sent (bytes written before it) }.
 */
function chunkedUpload(url, path, { method = 'POST', headers = {}, total = TOTAL } = {}) {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const chunk = Buffer.alloc(CHUNK, 0x20); // JSON whitespace: a valid prefix of any body
    let sent = 0;
    let answered = false;
    const req = httpRequest(
      url + path,
      { agent: false, method, headers: { 'content-type': 'application/json', 'transfer-encoding': 'chunked', ...headers } },
      (res) => {
        answered = true;
        const ms = performance.now() - started;
        req.end();
        const parts = [];
        res.on('data', (c) => parts.push(c));
        const done = () => resolve({ status: res.statusCode, body: Buffer.concat(parts).toString('utf8'), ms, sent });
        res.on('end', done);
        // The server may cut the connection once its answer is out (a lingering close that
        // ended): the answer read so far is the answer.
        res.on('error', done);
      },
    );
    req.on('error', (e) => {
      if (!answered) reject(new Error(`${method} ${path}: ${e.message} after ${sent} bytes`));
    });
    const pump = () => {
      while (!answered && sent < total) {
        sent += CHUNK;
        if (!req.write(chunk)) {
          req.once('drain', pump);
          return;
        }
      }
      if (!answered) req.end();
    };
    pump();
  });
}

test('50 MB chunked bodies: 413 in under 1 s at every body-taking endpoint, workerd grows < 10 MB', async () => {
  const w = await ctx.ready;
  const a = await startOrigin('a');
  const b = await startOrigin('b');
  await w.applyConfig({
    version: 1,
    origins: originsBlock({ a, b }),
    routes: [{
      name: 'r', match: { path_prefix: '/r' },
      strategy: { kind: 'ab', arms: [{ name: 'a', origin: 'a', weight: 1 }, { name: 'b', origin: 'b', weight: 1 }] },
      flags: [{ name: 'beta', rollout: 50 }],
    }],
  });
  const { pid, url } = await runtime(w);
  const auth = { authorization: `Bearer ${w.adminToken}` };
  const endpoints = [
    // [method, path, headers]
    ['POST', '/_switchyard/feedback', {}],
    ['POST', '/_switchyard/ofrep/v1/evaluate/flags', auth],
    ['POST', '/_switchyard/ofrep/v1/evaluate/flags/r.beta', auth],
    ['POST', '/_switchyard/overrides', auth],
    ['PUT', '/_switchyard/config', auth],
    ['POST', '/_switchyard/validate', auth],
  ];
  const round = async () => {
    const out = [];
    for (const [method, path, headers] of endpoints) {
      const r = await chunkedUpload(url, path, { method, headers });
      out.push(`${method} ${path}: ${r.status} in ${Math.round(r.ms)} ms, ${(r.sent / MB).toFixed(1)} MB sent`);
      assert.equal(r.status, 413, `${method} ${path}: ${r.status} ${r.body}`);
      assert.equal(JSON.parse(r.body).error.code, 'body_too_large', r.body);
      assert.ok(r.ms < 1000, `${method} ${path}: 413 after ${r.ms.toFixed(0)} ms`);
      assert.ok(r.sent < TOTAL, `${method} ${path}: the whole 50 MB was taken before the answer`);
    }
    return out;
  };
  // Warm-up: three rounds, so that the instances, the caches and the runtime's own heap have
  // their working size before the measured round (the runtime's heap steps up once, by about
  // 20 MB, within the first 20 or so uploads, then stays).
  const rounds = [];
  let last = rss(pid);
  for (let i = 0; i < 3; i++) {
    await round();
    await sleep(500);
    const now = rss(pid);
    rounds.push(((now - last) / MB).toFixed(1));
    last = now;
  }
  const before = rss(pid);
  const measured = await round();
  await sleep(500);
  const growth = rss(pid) - before;
  console.log(
    `bodies: workerd ${pid} RSS ${(before / MB).toFixed(1)} MB -> ${((before + growth) / MB).toFixed(1)} MB ` +
      `(${growth >= 0 ? '+' : ''}${(growth / MB).toFixed(2)} MB over 6 x 50 MB; warm-up rounds ${rounds.join(', ')} MB)\n  ` +
      measured.join('\n  '),
  );
  assert.ok(growth < 10 * MB, `workerd grew ${(growth / MB).toFixed(1)} MB over six 50 MB uploads`);
  // A body within its limit is still read whole, through the public port too.
  const ok = await chunkedUpload(w.url, '/_switchyard/validate', { method: 'POST', headers: auth, total: 0 });
  assert.equal(ok.status, 422, ok.body);
});

test('shadow comparison reads at most 256 KiB of each answer and counts a longer one as not compared', async () => {
  const w = await ctx.ready;
  const big = 'x'.repeat(4 * MB);
  let bigAnswers = false;
  const answer = (name) => () => ({
    status: 200,
    body: bigAnswers ? { score: 1, pad: big } : { score: 1, origin: name },
  });
  const primary = await startOrigin('primary', { respond: answer('primary') });
  const mirror = await startOrigin('mirror', { respond: answer('mirror') });
  await w.applyConfig({
    version: 1,
    origins: originsBlock({ primary, mirror }),
    routes: [{
      name: 'sh', match: { path_prefix: '/sh' },
      strategy: { kind: 'blue_green', blue: 'primary', green: 'mirror', active: 'blue' },
      shadow: [{ origin: 'mirror', percent: 100, compare: { kind: 'json_pointer', pointer: '/score' } }],
    }],
  });
  const shadowStats = async () => (await w.req('/_switchyard/stats/sh')).json().shadows?.mirror;
  for (let i = 0; i < 3; i++) assert.equal((await w.req(`/sh/small-${i}`)).status, 200);
  const small = await waitFor(async () => {
    const s = await shadowStats();
    return s && s.observations >= 3 && s;
  }, 15000, { what: 'three compared shadow observations' });
  assert.equal(small.payload_compared, 3);
  assert.equal(small.body_too_large, 0);

  bigAnswers = true;
  for (let i = 0; i < 5; i++) {
    const r = await w.req(`/sh/big-${i}`);
    assert.equal(r.status, 200);
    assert.equal(r.body.length, JSON.stringify({ score: 1, pad: big }).length, 'the caller gets the whole answer');
  }
  const s = await waitFor(async () => {
    const s = await shadowStats();
    return s && s.observations >= 8 && s;
  }, 15000, { what: 'five more shadow observations' });
  assert.equal(s.payload_compared, 3, 'no body over the cap was compared');
  assert.equal(s.body_too_large, 5);
  assert.equal(s.not_comparable, 5);
  console.log(`shadow: 5 answers of 4 MB, not compared: ${s.body_too_large}, compared: ${s.payload_compared}`);
});
