// Unit tests of the dashboard's pure functions (www/lib.js), with stats-document fixtures.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import * as lib from '../../www/lib.js';
import { validate } from '../../www/schema.js';

const fixture = (name) =>
  JSON.parse(readFileSync(fileURLToPath(new URL(`../fixtures/dashboard/${name}.json`, import.meta.url)), 'utf8'));
const NOW = 1764360060000; // one minute after the fixtures' updated_ms

/** Every string the route view would show for a document. */
function shownStrings(m) {
  const out = [m.route, m.strategyLabel, m.updated, m.lastTick, m.verdict.text, m.controller.text, m.srm?.text ?? ''];
  for (const t of [lib.armRows(m), lib.comparisonRows(m), lib.otherStatRows(m), lib.shadowRows(m)]) out.push(...t.headers, ...t.rows.flat());
  for (const b of lib.weightBars(m)) out.push(b.arm, b.width, b.text);
  return out;
}
function assertClean(m) {
  for (const s of shownStrings(m)) {
    assert.equal(typeof s, 'string', `not a string: ${s}`);
    assert.doesNotMatch(s, /NaN|undefined|null|Infinity|\[object/, `bad text: ${JSON.stringify(s)}`);
  }
}

test('number formatting never leaks NaN/undefined/null', () => {
  for (const bad of [null, undefined, NaN, Infinity, -Infinity, 'x', {}]) {
    for (const f of [lib.fmtNum, lib.fmtInt, lib.fmtPct, lib.fmtPP, lib.fmtLift, lib.fmtP, lib.fmtMs, lib.fmtDuration]) {
      assert.equal(f(bad), lib.DASH, `${f.name}(${String(bad)})`);
    }
  }
  assert.equal(lib.fmtInterval(null), lib.DASH);
  assert.equal(lib.fmtInterval({ lower: null, upper: 0.2 }), lib.DASH);
  assert.equal(lib.fmtAgo(0, NOW), 'never');
  assert.equal(lib.fmtAgo(null, NOW), 'never');
});

test('formatters', () => {
  assert.equal(lib.fmtInt(1234567), '1,234,567');
  assert.equal(lib.fmtInt(-1000), '-1,000');
  assert.equal(lib.fmtInt(0), '0');
  assert.equal(lib.fmtPct(0.1234), '12.3%');
  assert.equal(lib.fmtPct(1, 0), '100%');
  assert.equal(lib.fmtPct(0), '0.0%');
  assert.equal(lib.fmtPP(0.03), '+3.0 pp');
  assert.equal(lib.fmtPP(-0.005), '-0.5 pp');
  assert.equal(lib.fmtPP(0.00001), '0.0 pp', 'no "+" on a rounded zero');
  assert.equal(lib.fmtLift(0.3), '+30.0%');
  assert.equal(lib.fmtLift(-0.25), '-25.0%');
  assert.equal(lib.fmtP(0.0000038), '< 0.001');
  assert.equal(lib.fmtP(0), '< 0.001');
  assert.equal(lib.fmtP(0.0021), '0.0021');
  assert.equal(lib.fmtP(0.04999), '0.050');
  assert.equal(lib.fmtP(1), '1.000');
  assert.equal(lib.fmtInterval({ lower: 0.1, upper: 0.125 }), '[10.0%, 12.5%]');
  assert.equal(lib.fmtInterval({ lower: 1, upper: 2 }, (x) => lib.fmtNum(x, 1)), '[1.0, 2.0]');
  assert.equal(lib.fmtMs(5.25), '5.3 ms');
  assert.equal(lib.fmtMs(120.5), '121 ms');
  assert.equal(lib.fmtMs(1530), '1.53 s');
  assert.equal(lib.fmtDuration(45_000), '45s');
  assert.equal(lib.fmtDuration(200_000), '3m 20s');
  assert.equal(lib.fmtDuration(7_500_000), '2h 5m');
  assert.equal(lib.fmtDuration(363_600_000), '4d 5h');
  assert.equal(lib.fmtDuration(-1), lib.DASH);
  assert.equal(lib.fmtAgo(NOW - 60_000, NOW), '1m 0s ago');
  assert.equal(lib.fmtAgo(NOW + 5, NOW), 'just now');
  assert.equal(lib.strategyLabel('blue_green'), 'Blue-green');
  assert.equal(lib.strategyLabel(undefined), 'unknown');
});

test('Wilson interval matches the worker (100 trials, 0 conversions: upper in (0.03, 0.04))', () => {
  const ci = lib.wilson(100, 0);
  assert.ok(Math.abs(ci.lower) < 1e-12);
  assert.ok(ci.upper > 0.03 && ci.upper < 0.04, String(ci.upper));
  const full = lib.wilson(100, 100);
  assert.ok(Math.abs(full.upper - 1) < 1e-12);
  // 600/6000 = 0.1: a symmetric-ish interval of about ±0.0076
  const c = lib.wilson(6000, 600);
  assert.ok(c.lower > 0.092 && c.lower < 0.093 && c.upper > 0.107 && c.upper < 0.108, JSON.stringify(c));
  assert.equal(lib.wilson(0, 0), null);
  assert.equal(lib.wilson(5, 6), null);
});

test('A/B with sample ratio mismatch: warning, and one verdict per comparison: inconclusive', () => {
  const m = lib.summarize(fixture('ab-srm'), NOW);
  assert.equal(m.route, 'checkout');
  assert.equal(m.strategyLabel, 'A/B test');
  assert.equal(m.totalRequests, 2381 + 1583);
  assert.equal(m.updated, '1m 0s ago');
  assert.ok(m.srm, 'SRM banner');
  assert.match(m.srm.text, /Sample ratio mismatch/);
  assert.equal(m.srm.text, 'Sample ratio mismatch: distinct units per arm 2,200 / 1,500 against planned shares 50.0% / 50.0% ' +
    '(sequential multinomial test, p < 0.001, alarm below 0.001). Results are unreliable until the cause is found.');
  const [control, treat] = m.arms;
  assert.equal(control.name, 'control');
  assert.equal(control.isControl, true);
  assert.equal(control.rate, 0.099958);
  assert.ok(control.ci && control.ci.lower < 0.1 && control.ci.upper > 0.1, 'control CI computed locally');
  assert.equal(treat.rate, 0.130133);
  assert.ok(Math.abs(treat.lift - 0.030175 / 0.099958) < 1e-12, 'lift = diff / control rate');
  assert.equal(treat.significant, true);
  assert.equal(treat.zP, 0.0032);
  assert.equal(control.verdict, null, 'control is not compared with itself');
  assert.deepEqual([treat.verdict.result, treat.verdict.source], ['inconclusive', 'dashboard']);
  assert.match(treat.verdict.text, /sample ratio mismatch/);
  assert.equal(m.verdict.significant, false, 'SRM makes the result unreliable');
  assert.match(m.verdict.text, /^Inconclusive: the sample ratio mismatch/);
  const cmp = lib.comparisonRows(m);
  assert.deepEqual(cmp.headers, ['Arm', 'Verdict', 'Why', 'Effect (diff)', '95% CI of the effect', 'Lift']);
  assert.deepEqual(cmp.rows[0], ['treatment', 'Inconclusive', 'always-valid (sequential) test: sample ratio mismatch: the split is off, so no result can be trusted',
    '+3.0 pp', '[+1.0 pp, +5.1 pp]', '+30.2%']);
  assert.deepEqual(cmp.tones, ['idle']);
  assert.deepEqual(lib.otherStatRows(m).rows[0], ['treatment', '0.0032', '0.0021', '99.8%', '40']);
  const arms = lib.armRows(m);
  assert.deepEqual(arms.rows[0], ['control (control)', '2,381', '0.21%', '41 ms', '121 ms', '250 ms', '2,381', '0.100', '10.00%', '[8.85%, 11.27%]']);
  assert.equal(arms.rows[1][5], '1.53 s');
  assert.equal(m.canRollBack, false);
  assert.equal(m.controller.tone, 'idle');
  assertClean(m);
});

test('A/B without SRM: the always-valid test decides, and nothing beside it says otherwise', () => {
  const doc = fixture('ab-srm');
  doc.experiment.srm = { test: 'sequential_multinomial', p_value: 0.48, mismatch: false, alpha: 0.001, units: [2200, 2210], planned_shares: [0.5, 0.5] };
  let m = lib.summarize(doc, NOW);
  assert.equal(m.srm, null);
  assert.equal(m.arms[1].verdict.result, 'winner');
  assert.equal(m.verdict.significant, true);
  assert.equal(m.verdict.text, '"treatment" beats control "control" (decided by the always-valid (sequential) test).');
  assert.deepEqual(lib.comparisonRows(m).rows[0].slice(1, 3), ['Winner', 'always-valid (sequential) test: p = 0.0021 ≤ 0.05']);
  assert.deepEqual(lib.comparisonRows(m).tones, ['ok']);
  // The case that used to show three verdicts (215 vs 196 units, 12.6 % vs 42.9 %, z-test
  // p < 0.001, P(beat) 100 %, always-valid p 0.251): one verdict, inconclusive, and the
  // comparison row carries no z-test p or P(beat) beside it.
  Object.assign(doc.arms.control, { requests: 215, rewards: { count: 215, sum: 27, mean: 0.126, variance: 0.11 } });
  Object.assign(doc.arms.treatment, { requests: 196, rewards: { count: 196, sum: 84, mean: 0.429, variance: 0.245 } });
  doc.experiment.control_rate = 0.126;
  doc.experiment.arms.treatment = {
    comparison: { n: 196, conversions: 84, rate: 0.429, ci95: { lower: 0.36, upper: 0.5 }, z_test: { diff: 0.303, z: 6.8, p_value: 1e-11, diff_ci: { lower: 0.22, upper: 0.38 } }, prob_beat_control: 1 },
    sequential: { always_valid_p_value: 0.251, significant: false, looks: 9 },
  };
  m = lib.summarize(doc, NOW);
  assert.equal(m.arms[1].verdict.result, 'inconclusive');
  assert.equal(m.verdict.significant, false);
  assert.match(m.verdict.text, /^Inconclusive: no arm differs from control "control" yet under the always-valid \(sequential\) test/);
  const row = lib.comparisonRows(m).rows[0];
  assert.deepEqual(row.slice(1, 3), ['Inconclusive', 'always-valid (sequential) test: p = 0.251 > 0.05: keep collecting']);
  assert.doesNotMatch(row.join(' '), /< 0\.001|100\.0%/, 'no rival verdict in the comparison row');
  assert.deepEqual(lib.otherStatRows(m).rows[0], ['treatment', '< 0.001', '0.251', '100.0%', '9'], 'the descriptive numbers stay available');
  // A loser: significant with a negative difference.
  doc.experiment.arms.treatment.comparison.z_test.diff = -0.05;
  doc.experiment.arms.treatment.sequential.always_valid_p_value = 0.01;
  m = lib.summarize(doc, NOW);
  assert.equal(m.arms[1].verdict.result, 'loser');
  assert.match(m.verdict.text, /^"treatment" is worse than control "control"/);
  // Boundary: p exactly alpha is significant (the worker uses <=).
  doc.experiment.arms.treatment.sequential.always_valid_p_value = 0.05;
  assert.equal(lib.summarize(doc, NOW).arms[1].significant, true);
});

test('a verdict in the stats document is used as it is', () => {
  const doc = fixture('ab-srm');
  doc.experiment.arms.treatment.verdict = { result: 'winner', test: 'sequential z-test on units', p_value: 0.0004, reason: 'the lower bound of the interval is above 0' };
  doc.experiment.arms.treatment.units = 1500;
  doc.experiment.control_arm = { n: 2381, units: 2200 };
  const m = lib.summarize(doc, NOW);
  const v = m.arms[1].verdict;
  assert.deepEqual([v.result, v.label, v.tone, v.test, v.source], ['winner', 'Winner', 'ok', 'sequential z-test on units', 'stats']);
  assert.equal(v.text, 'the lower bound of the interval is above 0; p < 0.001');
  assert.equal(m.verdict.text, '"treatment" beats control "control" (decided by the sequential z-test on units).', 'even under an SRM alarm: the server decided');
  assert.deepEqual(lib.comparisonRows(m).rows[0].slice(1, 3), ['Winner', 'sequential z-test on units: the lower bound of the interval is above 0; p < 0.001']);
  // Units appear as their own column when the document counts them.
  const arms = lib.armRows(m);
  assert.deepEqual(arms.headers.slice(0, 3), ['Arm', 'Requests', 'Units']);
  assert.deepEqual(arms.rows.map((r) => r[2]), ['2,200', '1,500']);
  // Inside `comparison` too; an unknown result is shown, in a neutral tone.
  delete doc.experiment.arms.treatment.verdict;
  doc.experiment.arms.treatment.comparison.verdict = { result: 'inconclusive', test: 'mSPRT' };
  assert.deepEqual(lib.comparisonRows(lib.summarize(doc, NOW)).rows[0].slice(1, 3), ['Inconclusive', 'mSPRT: ']);
  assert.equal(lib.armRows(lib.summarize(fixture('ab-srm'), NOW)).headers[2], 'Error rate', 'no Units column without units');
});

test('a metric without data shows no rate, interval, effect or P(beat)', () => {
  const m = lib.summarize(fixture('canary-live'), NOW); // a canary without any feedback
  for (const a of m.arms) {
    assert.equal(a.rate, null, a.name);
    assert.equal(a.ci, null, a.name);
    assert.equal(a.probBeat, null, a.name);
  }
  assert.deepEqual(lib.armRows(m).rows[1].slice(-2), [lib.DASH, lib.DASH]);
  assert.deepEqual(lib.otherStatRows(m).rows[0], ['canary', lib.DASH, lib.DASH, lib.DASH, '12']);
  assert.equal(m.arms[1].verdict.result, 'inconclusive');
  assert.equal(m.arms[1].verdict.text, 'no feedback yet');
  assert.match(m.verdict.text, /^No feedback yet/);
  assertClean(m);
});

test('numeric rewards per unit: means, the delta-method z-test, mean difference, the verdict the worker states', () => {
  const doc = fixture('ab-srm');
  // The shape the worker sends (core learn/experiment.rs): every arm has units and a
  // comparison, the control's without a test; the difference of the ratio metric is `z_test`.
  doc.experiment = {
    unit_of_analysis: 'unit', metric: 'mean', control: 'control', alpha: 0.05, evidence: 'numeric',
    arms: {
      control: { units: 100, requests: 180, comparison: { n: 100, observations: 150, mean: 2.5, ci95: { lower: 2.3, upper: 2.7 }, z_test: null } },
      treatment: { units: 90, requests: 170, comparison: { n: 90, observations: 140, mean: 2.9, ci95: { lower: 2.67, upper: 3.13 }, z_test: { diff: 0.4, se: 0.16, z: 2.5, p_value: 0.012, diff_ci: { lower: 0.09, upper: 0.71 } } },
        sequential: { always_valid_p_value: 0.03, significant: true, looks: 5, expected_units: 5000 },
        verdict: { result: 'winner', test: 'always_valid', p_value: 0.03, alpha: 0.05, reason: null } },
    },
    srm: { test: 'sequential_multinomial', p_value: 1, mismatch: false, alpha: 0.001, units: [100, 90], planned_shares: [0.5, 0.5] },
  };
  const m = lib.summarize(doc, NOW);
  assert.equal(m.srm, null);
  assert.equal(m.arms[0].rate, 2.5);
  assert.equal(m.arms[1].rate, 2.9);
  assert.deepEqual(m.arms.map((a) => a.units), [100, 90]);
  assert.deepEqual(lib.comparisonRows(m).rows[0], ['treatment', 'Winner', 'always-valid (sequential) test: p = 0.030', '+0.400', '[+0.090, +0.710]', '+16.0%']);
  assert.equal(m.verdict.text, '"treatment" beats control "control" (decided by the always-valid (sequential) test).');
  assert.equal(lib.otherStatRows(m).headers[1], 'z-test p (delta method)');
  assert.deepEqual(lib.otherStatRows(m).rows[0], ['treatment', '0.012', '0.030', lib.DASH, '5']);
  assert.deepEqual(lib.armRows(m).rows[1].slice(-2), ['2.900', '[2.670, 3.130]']);
  assertClean(m);
});

test('rolled-back canary: controller text, no rollback button, all numbers shown', () => {
  const m = lib.summarize(fixture('canary-rolled-back'), NOW);
  assert.equal(m.strategy, 'canary');
  assert.equal(m.controller.tone, 'bad');
  assert.equal(m.controller.text, 'Rolled back: canary error rate 0.600 above 0.200. All traffic on stable.');
  assert.equal(m.canRollBack, false, 'already rolled back');
  const canary = m.arms.find((a) => a.name === 'canary');
  assert.equal(canary.errorRate, 0.6);
  assert.equal(canary.rewardMean, null);
  assert.equal(canary.lift, null, 'control rate 0: no lift rather than Infinity');
  assert.deepEqual(lib.armRows(m).rows[1].slice(0, 3), ['canary', '50', '60.00%']);
  assert.equal(lib.armRows(m).rows[1][7], lib.DASH);
  assert.equal(m.verdict.leader, null, 'rolled back: no leader');
  assert.match(m.verdict.text, /^Canary rolled back \(canary error rate 0\.600 above 0\.200\): no winner is declared/);
  assert.equal(m.rolledBack, true);
  assert.equal(m.srm, null);
  assertClean(m);
});

test('SRM is an alarm whatever the strategy: the worker tests the split in force only', () => {
  const doc = fixture('canary-rolled-back');
  doc.experiment.srm = { test: 'sequential_multinomial', p_value: 2e-5, mismatch: true, alpha: 0.001, units: [950, 50], planned_shares: [0.7, 0.3] };
  let m = lib.summarize(doc, NOW);
  assert.equal(m.srm.severity, 'alarm');
  assert.match(m.srm.text, /^Sample ratio mismatch: distinct units per arm 950 \/ 50 against planned shares 70\.0% \/ 30\.0% \(sequential multinomial test, p < 0\.001/);
  doc.experiment.srm.mismatch = false;
  assert.equal(lib.summarize(doc, NOW).srm, null);
  assert.equal(lib.summarize(fixture('ab-srm'), NOW).srm.severity, 'alarm');
  // Fields missing from the document read as dashes, never as NaN or undefined.
  doc.experiment.srm = { mismatch: true, p_value: null };
  m = lib.summarize(doc, NOW);
  assert.match(m.srm.text, /per arm — against planned shares — \(sequential multinomial test, p = —\)/);
  assert.equal(lib.fmtStat(2.5e7), '2.50e+7');
  assert.equal(lib.fmtStat(3.14159), '3.1');
});

test('canary controller states', () => {
  assert.deepEqual(lib.controllerText({ canary_percent: 12.5, step: 2, rolled_back: false }, 'canary'), { text: 'Canary at 12.5% · step 2', tone: 'ok' });
  assert.equal(lib.controllerText({ step: 3, rolled_back: false, completed: true }, 'rolling').text, 'step 3 · completed');
  assert.equal(lib.controllerText({ step: 1, rolled_back: false, paused: true, reason: 'p95 above guard' }, 'rolling').tone, 'warn');
  assert.match(lib.controllerText({ step: 1, rolled_back: false, paused: true, reason: 'p95 above guard' }, 'rolling').text, /paused · p95 above guard/);
  assert.equal(lib.controllerText(null, 'canary').tone, 'idle');
  assert.equal(lib.controllerText({ rolled_back: true }, 'canary').text, 'Rolled back. All traffic on stable.');
  const live = fixture('canary-rolled-back');
  live.controller = { fingerprint: 'x', canary_percent: 5, step: 0, step_started_ms: 1, rolled_back: false, updated_ms: 1 };
  assert.equal(lib.summarize(live, NOW).canRollBack, true);
});

test('bandit: weight bars clamp to 0..100 and follow arm order; shadow table', () => {
  const m = lib.summarize(fixture('bandit-weights'), NOW);
  assert.deepEqual(lib.weightBars(m), [
    { arm: 'a', width: '5.00', text: '5.0%' },
    { arm: 'b', width: '95.00', text: '95.0%' },
  ]);
  assert.equal(m.arms[1].weight, 0.95);
  assert.equal(m.arms[1].avP, null, 'no sequential test for bandits');
  assert.equal(m.arms[1].significant, false);
  assert.equal(lib.otherStatRows(m).rows[0][2], lib.DASH);
  assert.deepEqual(lib.comparisonRows(m).rows[0].slice(1, 3), ['Inconclusive', 'a bandit moves its split with the rewards, so no test decides: see its weights']);
  assert.deepEqual(lib.shadowRows(m).rows[0], ['candidate', '200', '99.5%', '198', '75.0%', '76.0%', '2', '1', '-3.5 ms']);
  const doc = fixture('bandit-weights');
  doc.weights.arms = { a: -0.2, b: 1.7, c: null };
  assert.deepEqual(lib.weightBars(lib.summarize(doc, NOW)).map((b) => b.width), ['0.00', '100.00']);
  assertClean(m);
});

test('route with no data yet: nulls everywhere render as dashes', () => {
  const m = lib.summarize(fixture('empty'), NOW);
  assert.equal(m.hasData, false);
  assert.equal(m.updated, 'never');
  assert.equal(m.arms.length, 2, 'arms named by the experiment appear even without traffic');
  for (const a of m.arms) {
    assert.equal(a.rate, null);
    assert.equal(a.ci, null);
    assert.equal(a.lift, null);
  }
  assert.equal(m.verdict.leader, null);
  assert.match(m.verdict.text, /Not enough data yet/);
  assert.equal(m.arms[1].probBeat, null, 'the 0.5 prior of an empty arm is not shown');
  assert.deepEqual(lib.shadowRows(m).rows[0], ['mirror', '0', '—', '0', '—', '—', '0', '0', '—']);
  assertClean(m);
});

test('summarize survives garbage and minimal documents', () => {
  for (const doc of [null, undefined, {}, { arms: null, shadows: null }, { route: 'r', strategy: 'recreate', arms: { x: {} } }, 'text']) {
    const m = lib.summarize(doc, NOW);
    assertClean(m);
    assert.ok(Array.isArray(m.arms));
  }
  const m = lib.summarize({ route: 'r', strategy: 'recreate', arms: { x: { requests: 3 } } }, NOW);
  assert.equal(m.experiment, null);
  assert.equal(m.verdict.text, 'No experiment on this route.');
  assert.deepEqual(lib.armRows(m).rows[0], ['x', '3', '—', '—', '—', '—', '0', '—']);
});

test('config errors and API error text', () => {
  const e422 = { error: { code: 'invalid_config', message: '2 problem(s)' }, errors: [
    { path: '$.routes[0].strategy.percent', reason: 'must be within 0..=100' },
    { path: '$.origins.x', reason: 'unknown origin' },
  ] };
  assert.deepEqual(lib.configErrors(e422).map((e) => e.path), ['$.routes[0].strategy.percent', '$.origins.x']);
  assert.deepEqual(lib.configErrors({ config: {}, validation: { valid: false, errors: [{ path: '$.version', reason: 'r' }] } }),
    [{ path: '$.version', reason: 'r' }]);
  assert.deepEqual(lib.configErrors({ error: { code: 'body_too_large', message: 'configs are at most 1 MiB' } }),
    [{ path: '$', reason: 'configs are at most 1 MiB' }]);
  assert.deepEqual(lib.configErrors({ valid: true }), []);
  assert.match(lib.apiErrorText(401, { error: { message: 'need token' } }), /^Unauthorized: sign in with an operator token\. need token$/);
  assert.equal(lib.apiErrorText(403, { error: { message: 'needs the admin role' } }), "Forbidden: your token's role may not do this. needs the admin role");
  assert.equal(lib.apiErrorText(409, { error: { code: 'not_a_canary', message: 'route "x" is a ab route' } }), 'HTTP 409: route "x" is a ab route');
  assert.equal(lib.apiErrorText(502, ''), 'HTTP 502');
  assert.equal(lib.jsonProblem('{"a":1}'), null);
  assert.match(lib.jsonProblem('{"a":'), /^Not valid JSON/);
});

test('after a rollback the verdict never says the canary leads, even when its rate is higher', () => {
  const doc = fixture('canary-rolled-back');
  // Feedback that would make the canary lead with P(beat control) ~ 100 %.
  doc.arms.stable.rewards = { count: 950, sum: 95, mean: 0.1, variance: 0.09 };
  doc.arms.canary.rewards = { count: 50, sum: 40, mean: 0.8, variance: 0.16 };
  doc.experiment.control_rate = 0.1;
  doc.experiment.arms.canary.comparison = { n: 50, conversions: 40, rate: 0.8, ci95: { lower: 0.67, upper: 0.89 }, z_test: { diff: 0.7, z: 15, p_value: 0, diff_ci: { lower: 0.6, upper: 0.8 } }, prob_beat_control: 1 };
  doc.experiment.arms.canary.sequential = { always_valid_p_value: 0.0001, significant: true, looks: 20 };
  const rolled = lib.summarize(doc, NOW);
  assert.doesNotMatch(rolled.verdict.text, /leads|beats/);
  assert.equal(rolled.verdict.significant, false);
  assert.equal(rolled.verdict.rolledBack, true);
  // The same numbers without the rollback: the canary beats control.
  doc.controller.rolled_back = false;
  const live = lib.summarize(doc, NOW);
  assert.match(live.verdict.text, /"canary" beats control/);
});

// ---- health lines, series, diff, churn, history -------------------------------------------
const config = fixture('config');
const series = (r) => fixture(`series-${r}`);

const FNOW = 1764360000000; // the fixtures' "now" (series end there)
const MIN = 60_000;

test('health line: a live canary within its guard is "Rolling out"; its disagreeing shadow is its own signal', () => {
  const l = lib.healthLine({ name: 'fraud', strategy: 'canary', fingerprint: '0f0e0d0c0b0a' }, fixture('canary-live'), series('fraud'), config, FNOW);
  assert.equal(l.state.label, 'Rolling out', 'the serving arms are within the guard');
  assert.equal(l.state.tone, 'ok');
  assert.equal(l.canary.text, '50% · step 2/3');
  assert.deepEqual(l.alerts, [{ tone: 'shadow', kind: 'shadow', text: 'Shadow fraud-v3 agreement 86.1%' }]);
  assert.equal(l.attention, false, 'a shadow never makes a route need attention');
  assert.deepEqual(l.shadow, { disagrees: true, origin: 'fraud-v3', agreement: 0.861, count: 1 });
  assert.deepEqual(l.arms.map((a) => [a.arm, a.origin, a.host, a.bad]), [['stable', 'fraud-v1', '127.0.0.1:9001', false], ['canary', 'fraud-v2', '127.0.0.1:9002', false]]);
  assert.deepEqual(l.arms.map((a) => a.planned), [0.5, 0.5], 'the controller\'s 50 %, not the config\'s 5 %');
  assert.equal(l.observedSource, 'recent');
  assert.ok(Math.abs(l.arms[1].observed - 0.5) < 0.05, String(l.arms[1].observed));
  assert.equal(l.total, 7590);
  assert.ok(l.perMin > 30 && l.perMin < 120, String(l.perMin));
  assert.equal(l.restart, null, 'the config event at the first minute restarted nothing that was counted');
  // A controller state of another strategy (other fingerprint) is not what the router uses.
  const other = lib.healthLine({ name: 'fraud', strategy: 'canary', fingerprint: 'ffffffffffff' }, fixture('canary-live'), series('fraud'), config, FNOW);
  assert.deepEqual(other.arms.map((a) => a.planned), [0.95, 0.05]);
});

test('health line: rolled back, error rate above the guard, SRM, invalid config; shadow and SRM never make it Unhealthy', () => {
  const rb = lib.healthLine({ name: 'fraud', strategy: 'canary' }, fixture('canary-rolled-back'), null, config);
  assert.deepEqual(rb.state, { label: 'Rolled back', tone: 'bad' });
  assert.deepEqual(rb.alerts.map((a) => a.text), ['Rolled back: canary error rate 0.600 above 0.200', 'canary error rate 60.0% above guard 5.0%']);
  assert.equal(rb.perMin, null);
  assert.deepEqual(rb.arms.map((a) => a.planned), [1, 0], 'rolled back: all on stable');
  assert.equal(rb.canary.text, '0% · step 1/3');
  const ab = lib.healthLine({ name: 'checkout', strategy: 'ab' }, fixture('ab-srm'), null, config);
  assert.deepEqual(ab.alerts.map((a) => a.text), ['Sample ratio mismatch']);
  assert.equal(ab.state.label, 'Healthy', 'both arms serve within the limit');
  assert.equal(ab.attention, true, 'but the split needs a look');
  assert.deepEqual(ab.arms.map((a) => a.planned), [0.5, 0.5]);
  assert.equal(ab.observedSource, 'counts');
  assert.ok(Math.abs(ab.arms[0].observed - 2381 / 3964) < 1e-12);
  const bandit = lib.healthLine({ name: 'ranker', strategy: 'bandit' }, fixture('bandit-weights'), null, config);
  assert.deepEqual(bandit.alerts.map((a) => [a.tone, a.text]), [['shadow', 'Shadow candidate agreement 76.0%']]);
  assert.equal(bandit.state.label, 'Healthy');
  assert.deepEqual(bandit.arms.map((a) => a.planned), [0.05, 0.95], 'the bandit\'s weights in force');
  // Without a guard the default limit (5 %) applies; below 10 requests nothing is flagged.
  const doc = fixture('ab-srm');
  doc.arms.treatment.error_rate = 0.08;
  const un = lib.healthLine({ name: 'x', strategy: 'ab' }, doc, null, null);
  assert.deepEqual(un.alerts.map((a) => a.text), ['treatment error rate 8.0% above 5%', 'Sample ratio mismatch']);
  assert.equal(un.state.label, 'Unhealthy', 'a serving arm above the limit');
  doc.arms.treatment.requests = 9;
  assert.equal(lib.healthLine({ name: 'x', strategy: 'ab' }, doc, null, null).arms[1].bad, false);
  doc.config = { id: 'abc', valid: false, error: 'bad', last_valid_id: 'def' };
  assert.match(lib.healthLine({ name: 'x', strategy: 'ab' }, doc, null, null).alerts.at(-1).text, /Config abc invalid; serving def/);
  assert.deepEqual(lib.healthLine({ name: 'gone' }, null, null, null).state, { label: 'No stats', tone: 'idle' });
  assert.equal(lib.healthLine({ name: 'fresh', strategy: 'ab' }, fixture('empty'), series('fresh'), config).state.label, 'No traffic');
  // The same canary whose shadow agrees: no signal at all.
  const agree = fixture('canary-live');
  agree.shadows['fraud-v3'].normalised_agreement = 0.97;
  const ok = lib.healthLine({ name: 'fraud', strategy: 'canary' }, agree, null, config);
  assert.deepEqual([ok.alerts, ok.shadow], [[], null]);
});

test('arms: origin and host per strategy, planned shares per strategy', () => {
  assert.deepEqual(lib.routeArms(config, 'search'), [
    { arm: 'blue', origin: 'search-2024', url: 'https://search-2024.internal:8443', host: 'search-2024.internal:8443', note: 'BM25 ranker, index of 2024-06' },
    { arm: 'green', origin: 'search-2025', url: 'https://search-2025.internal:8443', host: 'search-2025.internal:8443', note: null },
  ]);
  assert.deepEqual(lib.plannedShares(config, 'search', null), { blue: 1, green: 0 });
  const cfg = {
    origins: { a: { url: 'HTTP://A.example:81/base' }, b: { url: 'https://b.example' } },
    routes: [
      { name: 'roll', strategy: { kind: 'rolling', from: 'a', to: 'b', batches: 4, completed: 1 } },
      { name: 'rec', strategy: { kind: 'recreate', origin: 'b' } },
      { name: 'fl', strategy: { kind: 'flag', default: 'a', flags: [{ name: 'beta', origin: 'b', rollout: 10 }] } },
      { name: 'ab', strategy: { kind: 'ab', arms: [{ name: 'x', origin: 'a', weight: 3 }, { name: 'y', origin: 'b', weight: 1 }, { name: 'z', origin: 'gone', weight: 0 }] } },
    ],
  };
  assert.deepEqual(lib.routeArms(cfg, 'roll').map((a) => [a.arm, a.origin, a.host]), [['from', 'a', 'a.example:81'], ['to', 'b', 'b.example']]);
  assert.deepEqual(lib.plannedShares(cfg, 'roll', null), { from: 0.75, to: 0.25 });
  assert.deepEqual(lib.plannedShares(cfg, 'roll', { controller: { completed: 3 } }), { from: 0.25, to: 0.75 });
  assert.deepEqual(lib.plannedShares(cfg, 'rec', null), { origin: 1 });
  assert.deepEqual(lib.configArms(cfg, 'fl'), ['beta', 'default']);
  assert.equal(lib.plannedShares(cfg, 'fl', null), null, 'flags decide per unit');
  assert.deepEqual(lib.plannedShares(cfg, 'ab', null), { x: 0.75, y: 0.25, z: 0 });
  assert.deepEqual(lib.plannedShares(cfg, 'ab', { controller: { drained: ['x'] } }), { x: 0, y: 1, z: 0 }, 'drained by the guard');
  assert.deepEqual(lib.plannedShares(cfg, 'ab', { controller: { drained: ['x', 'y'] } }), { x: 0.75, y: 0.25, z: 0 }, 'all drained: the configured split');
  assert.equal(lib.routeArms(cfg, 'ab')[2].host, null, 'an origin missing from the config');
  assert.equal(lib.plannedShares(cfg, 'nope', null), null);
  assert.equal(lib.urlHost('ftp://x'), null);
});

test('rates fall to 0 once traffic stops: computed from now, not from the newest bucket', () => {
  const s = series('search'); // traffic until 20 minutes before the fixtures' now
  const last = s.minutes.at(-1).t;
  const perMinAtStop = lib.recentRate(s, last + MIN);
  assert.ok(perMinAtStop > 15 && perMinAtStop < 25, String(perMinAtStop));
  const two = lib.recentRate(s, last + 3 * MIN);
  assert.ok(two > 0 && two < perMinAtStop, `decays: ${two}`);
  assert.equal(lib.recentRate(s, last + 7 * MIN), 0);
  assert.equal(lib.recentRate(s, FNOW), 0);
  const doc = fixture('bluegreen-stopped');
  const seen = lib.lastSeen(doc, s);
  assert.equal(seen, FNOW - 20 * MIN);
  assert.equal(lib.rateText(lib.recentRate(s, FNOW), seen, FNOW), '0.0/min now · last request 20m 0s ago');
  assert.equal(lib.rateText(12.34, FNOW - 30_000, FNOW), '12.3/min now');
  assert.equal(lib.rateText(null, null, FNOW), lib.DASH);
  assert.equal(lib.lastSeen({ last_report_ms: 0 }, s), last + MIN, 'else the end of the newest bucket with traffic');
  // Exact: two buckets inside a 5-minute window ending 30 s into the newest one.
  const t0 = 10 * MIN * 1000;
  const tiny = { bucket_ms: MIN, minutes: [{ t: t0 - 10 * MIN, arms: { a: { requests: 999 } } }, { t: t0, arms: { a: { requests: 10 }, b: { requests: 5 } } }, { t: t0 + MIN, arms: { a: { requests: 20 } } }] };
  assert.equal(lib.recentRate(tiny, t0 + MIN + 30_000), 35 / 5.5);
  assert.equal(lib.recentRate(tiny), 35 / 5, 'without now: up to the end of the newest bucket');
  assert.equal(lib.recentRate({ minutes: [] }), null);
  const hl = lib.healthLine({ name: 'search', strategy: 'blue_green' }, doc, s, config, FNOW);
  assert.equal(hl.state.label, 'Healthy');
  assert.equal(hl.perMin, 0);
  assert.deepEqual(hl.arms.map((a) => [a.arm, a.planned, a.observed]), [['blue', 1, 1], ['green', 0, 0]], 'observed from the counts once the last 15 minutes are empty');
  assert.equal(hl.observedSource, 'counts');
});

test('filled minutes: a row for every bucket up to now, in the phase of the series', () => {
  const base = 1_000_000 * MIN + 12_345; // buckets that do not start on a round minute
  const s = { bucket_ms: MIN, minutes: [{ t: base, arms: { a: { requests: 3 } } }, { t: base + 2 * MIN, arms: { a: { requests: 4 } } }] };
  const f = lib.fillMinutes(s, base + 4 * MIN + 5000);
  assert.deepEqual(f.minutes.map((m) => [m.t - base, m.arms.a?.requests ?? 0]), [[0, 3], [MIN, 0], [2 * MIN, 4], [3 * MIN, 0], [4 * MIN, 0]]);
  const hour = lib.fillMinutes(s, base + 4 * MIN + 5000, base + MIN + 1, 3);
  assert.deepEqual(hour.minutes.map((m) => m.t - base), [2 * MIN, 3 * MIN, 4 * MIN], 'from a time, at most max rows');
  assert.equal(lib.recentRate(s, base + 2 * MIN + 30_000, 2), 7 / 2.5);
  assert.equal(lib.fillMinutes(null, 5), null);
});

test('a config change that restarted the counts is found, with the requests before it', () => {
  const s = series('checkout');
  const doc = fixture('ab-srm');
  const r = lib.countsRestart(doc, s);
  assert.equal(r.at, FNOW - 40 * MIN);
  assert.match(r.detail, /strategy changed/);
  const before = s.minutes.filter((m) => m.t < FNOW - 40 * MIN).reduce((n, m) => n + m.arms.control.requests + m.arms.treatment.requests, 0);
  assert.equal(r.before, before);
  assert.ok(before > 7000, String(before));
  assert.equal(lib.healthLine({ name: 'checkout', strategy: 'ab' }, doc, s, config, FNOW).restart.at, r.at);
  // Counts older than the change: not a restart.
  doc.arms.control.since_ms = FNOW - 100 * MIN;
  assert.equal(lib.countsRestart(doc, s), null);
  const first = { bucket_ms: MIN, minutes: [{ t: 5 * MIN, arms: { a: { requests: 9 } } }], events: [{ at: 5 * MIN, kind: 'config', detail: 'x' }] };
  assert.equal(lib.countsRestart({ arms: { a: { since_ms: 5 * MIN } } }, first), null, 'a config event before any traffic');
  assert.equal(lib.countsRestart(doc, null), null);
  const marks = lib.eventMarks(s);
  assert.deepEqual(marks.map((m) => [m.kind, m.short]), [['config', 'config changed: counts restart'], ['srm', null]]);
});

test('config review: a write that would undo a rollback or a drained arm is flagged', () => {
  const rolled = fixture('canary-rolled-back');
  const next = structuredClone(config);
  const stats = { fraud: rolled };
  // Same strategy: the rollback stays.
  assert.deepEqual(lib.rollbackUndo(config, next, stats), [{ route: 'fraud', tone: 'note', text: '"fraud" stays rolled back: this write leaves its strategy as it is.' }]);
  // Key order and formatting do not count as a change.
  next.routes[0].strategy = Object.fromEntries(Object.entries(next.routes[0].strategy).reverse());
  assert.equal(lib.rollbackUndo(config, next, stats)[0].tone, 'note');
  next.routes[0].strategy.percent = 50;
  const w = lib.rollbackUndo(config, next, stats);
  assert.equal(w.length, 1);
  assert.equal(w[0].tone, 'bad');
  assert.equal(w[0].text, 'This write undoes the rollback of "fraud" (canary error rate 0.600 above 0.200): its strategy changes, so the controller starts it afresh with 50% of its traffic on fraud-v2, the same origin that was rolled back.');
  next.routes[0].strategy.canary = 'fraud-v3';
  assert.doesNotMatch(lib.rollbackUndo(config, next, stats)[0].text, /same origin/);
  next.routes[0].strategy = { kind: 'ab', arms: [{ name: 'a', origin: 'fraud-v1', weight: 1 }] };
  assert.equal(lib.rollbackUndo(config, next, stats)[0].tone, 'warn');
  // Not rolled back, or a route that is new: nothing to say.
  assert.deepEqual(lib.rollbackUndo(config, next, { fraud: fixture('canary-live') }), []);
  assert.deepEqual(lib.rollbackUndo({ routes: [] }, next, stats), []);
  assert.deepEqual(lib.rollbackUndo(config, null, stats), []);
  // An A/B arm the guard drained gets traffic again.
  const ab = fixture('ab-srm');
  ab.controller = { drained: ['treatment'], reason: 'drained: treatment error rate 0.2' };
  const next2 = structuredClone(config);
  next2.routes[1].strategy.arms[0].weight = 60;
  assert.deepEqual(lib.rollbackUndo(config, next2, { checkout: ab }), [{ route: 'checkout', tone: 'bad',
    text: 'This write undoes the guard on "checkout" (drained: treatment error rate 0.2): its strategy changes, so treatment gets traffic again.' }]);
});

test('the editor template is a valid config (JSON Schema) with a guarded canary', () => {
  const doc = JSON.parse(lib.CONFIG_TEMPLATE);
  assert.equal(doc.routes[0].strategy.kind, 'canary');
  assert.ok(doc.routes[0].strategy.guard);
  const schema = JSON.parse(readFileSync(fileURLToPath(new URL('../../www/config.schema.json', import.meta.url)), 'utf8'));
  assert.deepEqual(validate(schema, doc), []);
  assert.deepEqual(validate(schema, { ...doc, routes: [{ ...doc.routes[0], strategy: { ...doc.routes[0].strategy, percent: 150 } }] }).map((e) => e.path), ['$.routes[0].strategy.percent'], 'the check can fail');
});

test('guard and arms from the config document', () => {
  assert.deepEqual(lib.routeGuard(config, 'fraud'), {
    maxErrorRate: 0.05, maxP95Ratio: 3, minRequests: 50, percent: 5,
    steps: [{ percent: 20, holdS: 1800 }, { percent: 50, holdS: 2700 }, { percent: 100, holdS: 3600 }],
  });
  assert.deepEqual(lib.routeGuard(config, 'checkout'), { maxErrorRate: null, maxP95Ratio: null, minRequests: null, percent: null, steps: [] });
  assert.deepEqual(lib.routeGuard(null, 'x').steps, []);
  assert.deepEqual(lib.configArms(config, 'fraud'), ['stable', 'canary']);
  assert.deepEqual(lib.configArms(config, 'checkout'), ['control', 'treatment']);
});

test('series: one point per minute per arm, rolling error rate, canary steps, weights, shadows, marks', () => {
  const s = series('fraud');
  const arms = lib.seriesArms(s, ['stable', 'canary']);
  assert.deepEqual(arms, ['stable', 'canary']);
  const req = lib.armSeries(s, 'requests', arms);
  assert.equal(req.length, 2);
  assert.equal(req[0].points.length, 120);
  assert.equal(req[0].points[0][1] + req[1].points[0][1], s.minutes[0].arms.stable.requests + s.minutes[0].arms.canary.requests);
  // Error rate per minute is errors / requests; the rolling rate sums both over the window.
  const er1 = lib.armSeries(s, 'error_rate', arms)[1].points;
  const er5 = lib.armSeries(s, 'error_rate', arms, 5)[1].points;
  const k = 100;
  const win = s.minutes.slice(k - 4, k + 1).map((m) => m.arms.canary);
  assert.equal(er5[k][1], win.reduce((a, x) => a + x.errors, 0) / win.reduce((a, x) => a + x.requests, 0));
  assert.equal(er1[k][1], s.minutes[k].arms.canary.errors / s.minutes[k].arms.canary.requests);
  // A minute without requests has no error rate (a gap, not 0).
  const gap = { minutes: [{ t: 1, arms: { a: { requests: 0, errors: 0, p95: 5 } } }] };
  assert.deepEqual(lib.armSeries(gap, 'error_rate', ['a'])[0].points, [[1, null]]);
  assert.deepEqual(lib.armSeries(gap, 'p95', ['a'])[0].points, [[1, null]]);
  assert.deepEqual(lib.armSeries(gap, 'requests', ['a', 'b']).map((x) => x.points[0][1]), [0, 0]);

  const dom = lib.seriesDomain(s);
  assert.deepEqual(dom, [s.minutes[0].t, s.minutes.at(-1).t + 60000]);
  const c = lib.canarySeries(s, dom[1]);
  assert.deepEqual(c.points.map((p) => p[1]), [5, 20, 50, 50]);
  assert.equal(c.points.at(-1)[0], dom[1], 'reaches the end of the chart');
  assert.equal(c.step, true);
  const marks = lib.eventMarks(s);
  assert.deepEqual(marks.map((m) => m.kind), ['step', 'step']);
  assert.equal(marks[0].label, 'Step → 20%: guard held for 1800 s at 5%');
  assert.equal(marks[0].short, null, 'steps: no label on the chart');
  assert.equal(lib.eventRows(s, (t) => String(t))[0][1], 'Step', 'newest first');
  assert.equal(lib.rolledBackInSeries(s), false);
  const rolled = { ...s, events: [...s.events, { at: dom[1], kind: 'rollback' }] };
  assert.equal(lib.rolledBackInSeries(rolled), true);
  assert.equal(lib.rolledBackInSeries({ events: [...rolled.events, { at: dom[1] + 1, kind: 'resume' }] }), false);

  const p95g = lib.p95GuardSeries(s, 3, 'stable');
  assert.equal(p95g.points[0][1], s.minutes[0].arms.stable.p95 * 3);
  assert.equal(lib.p95GuardSeries(s, null, 'stable'), null);

  const r = series('ranker');
  const w = lib.weightSeries(r, lib.seriesArms(r));
  assert.deepEqual(w.map((x) => x.name), ['a', 'b']);
  assert.equal(w[1].points.length, 12);
  assert.ok(w[1].points.at(-1)[1] > 0.9 && w[1].points[0][1] === 0.5);
  const sh = lib.shadowSeries(r);
  assert.deepEqual(sh.map((x) => x.name), ['candidate']);
  assert.equal(sh[0].points.length, 120);
  assert.ok(sh[0].points.at(-1)[1] < 0.65);
  assert.equal(lib.seriesDomain({ minutes: [] }), null);
  assert.deepEqual(lib.weightSeries(null), []);
  assert.deepEqual(lib.shadowSeries(undefined), []);
});

test('line diff: minimal, deletions before insertions, context and gaps', () => {
  const a = Array.from({ length: 20 }, (_, i) => `line ${i}`).join('\n');
  const b = a.replace('line 10', 'line ten').replace('line 2\n', '');
  const d = lib.lineDiff(a, b, 1);
  assert.deepEqual(d.filter((r) => r.op !== ' ' && r.op !== '…').map((r) => `${r.op}${r.text}`), ['-line 2', '-line 10', '+line ten']);
  assert.equal(d.map((r) => r.op).join(''), '… - … -+ …');
  const changed = d.find((r) => r.op === '+');
  assert.equal(changed.b, 10);
  assert.deepEqual(lib.lineDiff('same\ntext', 'same\ntext'), []);
  assert.deepEqual(lib.lineDiff('', 'x').map((r) => r.op), ['-', '+']);
  assert.equal(lib.canonicalJson('{"a":1}'), '{\n  "a": 1\n}');
  assert.equal(lib.canonicalJson('{oops'), '{oops');
});

test('churn rows: object or array form, moves sorted, tones; null without server support', () => {
  const rows = lib.churnRows({ churn: { units: 100000, routes: {
    fraud: { changed: 0.05, matrix: { stable: { stable: 90000, canary: 5000 }, canary: { canary: 5000 } }, shares: { stable: 0.9, canary: 0.1 } },
    checkout: { changed: 0, matrix: {}, shares: { control: 0.5, treatment: 0.5 } },
    big: { changed_fraction: 0.3, matrix: { a: { b: 100, c: 20000 } } },
  } } });
  assert.deepEqual(rows.map((r) => [r.route, r.changedText, r.tone]), [['fraud', '5.00%', 'warn'], ['checkout', '0.00%', 'ok'], ['big', '30.00%', 'bad']]);
  assert.equal(rows[0].movesText, 'stable→canary 5,000');
  assert.equal(rows[2].movesText, 'a→c 20,000, a→b 100');
  assert.equal(rows[0].sharesText, 'stable 90.0%, canary 10.0%');
  assert.deepEqual(lib.churnRows({ churn: [{ route: 'r', fraction: 0.01 }] }).map((r) => r.changedText), ['1.00%']);
  assert.equal(lib.churnRows({ valid: true }), null);
});

test('history rows, ETag versions, roles', () => {
  const rows = lib.historyRows([{ version: 3, config: 'abc', at: 0, by: 'alice', message: 'm' }, { version: 2, config: { id: 'def' }, at: 'yesterday' }, { nope: 1 }], () => 'T');
  assert.deepEqual(rows, [{ version: 3, config: 'abc', at: 'T', by: 'alice', message: 'm' }, { version: 2, config: 'def', at: 'yesterday', by: lib.DASH, message: lib.DASH }]);
  assert.equal(lib.historyRows({ history: [{ version: 1 }] }).length, 1);
  assert.deepEqual(lib.historyRows(null), []);
  assert.equal(lib.etagVersion('"7"'), '7');
  assert.equal(lib.etagVersion('W/"7"'), '7');
  assert.equal(lib.etagVersion('v7'), 'v7');
  assert.equal(lib.etagVersion(null), null);
  assert.equal(lib.roleAtLeast('admin', 'operator'), true);
  assert.equal(lib.roleAtLeast('operator', 'operator'), true);
  assert.equal(lib.roleAtLeast('viewer', 'operator'), false);
  assert.equal(lib.roleAtLeast('root', 'viewer'), false);
  assert.equal(lib.roleAtLeast(undefined, 'viewer'), false);
});

test('release state: paused and promoted controllers', () => {
  const doc = fixture('canary-live');
  doc.controller.paused = 'p95 ratio 3.4 above 3';
  let l = lib.healthLine({ name: 'fraud', strategy: 'canary' }, doc, null, config);
  assert.deepEqual(l.state, { label: 'Paused', tone: 'warn' });
  assert.deepEqual(l.alerts.filter((a) => a.kind !== 'shadow'), [{ tone: 'warn', kind: 'paused', text: 'Paused: p95 ratio 3.4 above 3' }]);
  doc.controller.paused = null;
  doc.controller.promoted = true;
  doc.controller.canary_percent = 100;
  l = lib.healthLine({ name: 'fraud', strategy: 'canary' }, doc, null, config);
  assert.equal(l.state.label, 'Promoted');
  assert.equal(lib.summarize(doc, NOW).controller.text, 'Promoted: canary at 100%.');

});

test('pipelineView: stages in order with their gates and holds, where the route is and what it waits for', () => {
  assert.equal(lib.pipelineView(undefined), null);
  assert.equal(lib.pipelineView({ stages: [] }), null);
  const p = {
    stages: [
      { name: 'shadow', percent: 0, mirror_percent: 100, gate: { min_observations: 200, min_agreement: 0.95 } },
      { name: 'step 1', percent: 10, hold_s: 600 },
      { name: 'step 2', percent: 50, hold_s: 0, gate: { promote: { margin: { error_rate: 0.02, latency_ratio: 1.5, reward: null }, alpha: 0.05, min_requests: 100 } } },
      { name: 'promoted', percent: 100 },
    ],
    current: 1,
    status: 'waiting',
    waiting_for: "the step's hold: 120 s left",
  };
  const v = lib.pipelineView(p);
  assert.deepEqual(v.stages.map((s) => [s.label, s.state]), [
    ['Shadow: mirrored only', 'done'], ['Step 1 · 10%', 'current'], ['Step 2 · 50%', 'next'], ['Promoted · 100%', 'next'],
  ]);
  assert.equal(v.stages[0].detail, '100% mirrored; gate: agreement ≥ 95% over 200 compared responses');
  assert.equal(v.stages[1].detail, 'hold 10m 0s');
  assert.equal(v.stages[2].detail, 'promotion gate: not worse than stable by error rate +2.0 pp, latency ×1.5');
  assert.equal(v.headline, 'At Step 1 · 10%');
  assert.equal(v.waiting, "the step's hold: 120 s left");
  const back = lib.pipelineView({ ...p, current: 2, status: 'rolled_back', waiting_for: "an operator's resume" });
  assert.deepEqual(back.stages.map((s) => s.state), ['done', 'done', 'failed', 'next']);
  assert.equal(back.headline, 'Rolled back at Step 2 · 50%');
  const done = lib.pipelineView({ ...p, current: 3, status: 'promoted', waiting_for: null });
  assert.ok(done.stages.every((s) => s.state === 'done'));
  assert.equal(done.headline, 'Promoted: the candidate serves every unit');
  assert.equal(done.waiting, null);
});
