// The CLI (crates/cli) against the real workers in `wrangler dev`: `explain` names the arm,
// reason and flags the edge serves; `diff` counts exactly the users the edge moves, and the
// control plane's `POST /validate?churn=1` gives the same counts; `get` returns the stored
// text; `put` writes through the control plane (and an invalid file is never sent) with its
// message as written; `validate` gives the id the router reports.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { writeFile, mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { useWorker, startOrigin, originsBlock, ROOT } from './harness.mjs';

const ctx = useWorker();
const BIN = join(ROOT, 'target', 'debug', 'switchyard');
let o = {};
let dir;

/** Runs the CLI; resolves {code, stdout, stderr} whatever the exit code. */
function cli(args, env = {}) {
  return new Promise((resolve) => {
    execFile(BIN, args, { cwd: ROOT, env: { ...process.env, ...env }, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr });
    });
  });
}

/** The operator token the harness uses, when the workers have one. */
const auth = (w) => (w.adminToken ? ['--token', w.adminToken] : []);

function config(weights, rollout) {
  return {
    version: 1,
    description: `cli e2e ${weights.join('/')} ${rollout}`,
    origins: originsBlock(o),
    routes: [
      {
        name: 'exp',
        match: { path_prefix: '/exp' },
        unit: [{ header: 'x-user-id' }],
        strategy: { kind: 'ab', arms: [{ name: 'a', origin: 'a', weight: weights[0] }, { name: 'b', origin: 'b', weight: weights[1] }] },
        flags: [{ name: 'beta', rollout }],
      },
      {
        name: 'cn',
        match: { path_prefix: '/cn' },
        unit: [{ header: 'x-user-id' }],
        strategy: { kind: 'canary', stable: 'a', canary: 'b', percent: 25 },
      },
    ],
  };
}

const USERS = 120;
const served = async (w, path, user) => {
  const r = await w.req(path, { method: 'POST', headers: { 'x-user-id': user }, body: '{}' });
  assert.equal(r.status, 200, `${path} ${user}: ${r.status}`);
  const arm = r.headers['x-switchyard-arm'];
  // Flags travel to the origin (x-switchyard-flags on the forwarded request).
  const origin = { a: o.a, b: o.b, stable: o.a, canary: o.b }[arm];
  return { arm, reason: r.headers['x-switchyard-reason'], flags: origin?.requests.at(-1)?.headers['x-switchyard-flags'] };
};

before(async () => {
  // The binary `make test-native` builds; built here too when the e2e suite runs alone.
  await new Promise((res, rej) => execFile('cargo', ['build', '-q', '-p', 'switchyard-cli'], { cwd: ROOT }, (e) => (e ? rej(e) : res())));
  dir = await mkdtemp(join(tmpdir(), 'switchyard-cli-e2e-'));
});

test('explain names the arm, reason and flags the edge serves; diff counts the users it moves', async () => {
  const w = await ctx.ready;
  o = { a: await startOrigin('a'), b: await startOrigin('b') };
  const oldCfg = config([50, 50], 30);
  const newCfg = config([30, 70], 30);
  const oldFile = join(dir, 'old.json');
  const newFile = join(dir, 'new.json');
  await writeFile(oldFile, JSON.stringify(oldCfg));
  await writeFile(newFile, JSON.stringify(newCfg));
  const id = await w.applyConfig(oldCfg);

  const v = await cli(['validate', '--json', oldFile]);
  assert.equal(v.code, 0, v.stderr);
  assert.equal(JSON.parse(v.stdout).id, id, 'the CLI computes the id the router reports');

  const before = {};
  for (let i = 0; i < USERS; i++) {
    const user = `u${i}`;
    for (const [route, path] of [['exp', '/exp/infer'], ['cn', '/cn/infer']]) {
      const edge = await served(w, path, user);
      const e = await cli(['explain', '--json', '--route', route, '--unit', user, oldFile]);
      assert.equal(e.code, 0, e.stderr);
      const x = JSON.parse(e.stdout);
      assert.equal(x.decision.arm, edge.arm, `${route}/${user}: arm`);
      assert.equal(x.decision.reason, edge.reason, `${route}/${user}: reason`);
      if (route === 'exp') {
        assert.equal(edge.flags, `beta=${x.flags[0].on ? 'on' : 'off'}`, `${user}: flags`);
        before[user] = edge.arm;
      }
    }
  }

  // Apply the new weights; the edge moves exactly the users `diff` says (same ids u0…).
  await w.applyConfig(newCfg);
  let moved = 0;
  const matrix = {};
  for (let i = 0; i < USERS; i++) {
    const user = `u${i}`;
    const { arm } = await served(w, '/exp/infer', user);
    if (arm !== before[user]) moved++;
    matrix[before[user]] ??= {};
    matrix[before[user]][arm] = (matrix[before[user]][arm] ?? 0) + 1;
  }
  const d = await cli(['diff', '--json', '--units', String(USERS), oldFile, newFile]);
  assert.equal(d.code, 0, d.stderr);
  const exp = JSON.parse(d.stdout).routes.find((r) => r.route === 'exp');
  assert.equal(exp.changed_arm.units, moved, 'diff predicts the edge exactly');
  for (const [from, row] of Object.entries(matrix)) {
    for (const [to, n] of Object.entries(row)) assert.equal(exp.matrix[from][to], n, `${from}->${to}`);
  }
  assert.ok(moved > 0, 'weights 50/50 -> 30/70 move someone');

  // The control plane's churn (10,000 synthetic units against the config in force, which is
  // now newCfg: compare newCfg -> oldCfg) equals `diff` over the same units.
  const server = await w.req('/_switchyard/validate?churn=1', { method: 'POST', body: JSON.stringify(oldCfg) });
  assert.equal(server.status, 200, server.body);
  const churn = server.json().churn;
  assert.equal(churn.units, 10_000);
  const local = await cli(['diff', '--json', '--quiet', '--units', '10000', newFile, oldFile]);
  assert.equal(local.code, 0, local.stderr);
  const byRoute = (routes) => Object.fromEntries(routes.map((r) => [r.route, { status: r.status, changed_arm: r.changed_arm, matrix: r.matrix }]));
  assert.deepEqual(byRoute(churn.routes), byRoute(JSON.parse(local.stdout).routes), 'server churn == switchyard diff');
  assert.ok(churn.routes.find((r) => r.route === 'exp').changed_arm.units > 0);
  console.log(`# cli: explain matched the edge for ${USERS} users x 2 routes; diff predicted ${moved}/${USERS} moves exactly`);
});

test('get returns the stored text; put writes it; an invalid file is never sent', async () => {
  const w = await ctx.ready;
  await w.applyConfig(config([40, 60], 30));
  const g = await cli(['get', '--url', w.url, ...auth(w)]);
  assert.equal(g.code, 0, g.stderr);
  assert.deepEqual(JSON.parse(g.stdout), config([40, 60], 30), 'the config in force');
  assert.match(g.stderr, /^config [0-9a-f]{12}, version /);

  const next = config([40, 60], 60);
  const f = join(dir, 'next.json');
  await writeFile(f, JSON.stringify(next, null, 2));
  const message = 'beta to 60 % — ✓ 日本';
  const p = await cli(['put', '--json', f, '--url', w.url, '--message', message, ...auth(w)]);
  assert.equal(p.code, 0, p.stdout + p.stderr);
  const written = JSON.parse(p.stdout);
  assert.equal(written.written, true);
  const local = JSON.parse((await cli(['validate', '--json', f])).stdout);
  assert.equal(written.id, local.id, 'the server stored the file byte for byte');
  const after = await cli(['get', '--url', w.url, ...auth(w)]);
  assert.equal(after.stdout.trimEnd(), JSON.stringify(next, null, 2));
  // The message reaches the history as written (UTF-8, `%` and all), not percent-encoded.
  const h = await cli(['history', '--json', '--url', w.url, ...auth(w)]);
  assert.equal(h.code, 0, h.stderr);
  const newest = JSON.parse(h.stdout).versions[0];
  assert.equal(newest.version, written.version);
  assert.equal(newest.message, message);

  const bad = join(dir, 'bad.json');
  await writeFile(bad, JSON.stringify({ ...next, routes: [{ ...next.routes[0], strategy: { kind: 'ab', arms: [] } }] }));
  const r = await cli(['put', bad, '--url', w.url, ...auth(w)]);
  assert.equal(r.code, 1);
  assert.match(r.stdout, /\$\.routes\[0\]\.strategy\.arms: at least one arm is required/);
  const still = await cli(['get', '--url', w.url, ...auth(w)]);
  assert.equal(still.stdout.trimEnd(), JSON.stringify(next, null, 2), 'nothing was written');
  await rm(dir, { recursive: true, force: true });
});
