// Pure helpers for the Switchyard dashboard: formatting and the per-route summary model.
// No DOM, no fetch, no clock (callers pass `now`), so node:test can import this file as is.

export const DASH = '—';

/** A finite number (not null, undefined, NaN or ±Infinity). */
export const isNum = (x) => typeof x === 'number' && Number.isFinite(x);

/** Number with up to `digits` decimals (trailing zeros kept for a steady table). */
export function fmtNum(x, digits = 2) {
  return isNum(x) ? x.toFixed(digits) : DASH;
}

/** Whole count with thousands separators. */
export function fmtInt(x) {
  if (!isNum(x)) return DASH;
  const s = String(Math.round(Math.abs(x))).replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  return (x < 0 ? '-' : '') + s;
}

/** A test statistic; the worker sends f64::MAX (1.8e308) for "infinite" (an arm with weight 0 got traffic). */
export function fmtStat(x) {
  if (!isNum(x)) return DASH;
  if (Math.abs(x) >= 1e300) return '∞';
  if (Math.abs(x) >= 1e6) return x.toExponential(2);
  return x.toFixed(1);
}

/** A fraction (0.123) as a percent ("12.3%"). */
export function fmtPct(x, digits = 1) {
  return isNum(x) ? `${(x * 100).toFixed(digits)}%` : DASH;
}

/** A signed fraction as percentage points ("+1.2 pp"). */
export function fmtPP(x, digits = 1) {
  if (!isNum(x)) return DASH;
  const v = (x * 100).toFixed(digits);
  return `${x > 0 && Number(v) !== 0 ? '+' : ''}${v} pp`;
}

/** A signed relative change ("+12.0%"). */
export function fmtLift(x, digits = 1) {
  if (!isNum(x)) return DASH;
  const v = (x * 100).toFixed(digits);
  return `${x > 0 && Number(v) !== 0 ? '+' : ''}${v}%`;
}

/** A p-value: "< 0.001" for tiny ones, else 3 decimals (2 significant digits below 0.01). */
export function fmtP(p) {
  if (!isNum(p)) return DASH;
  if (p < 0.001) return '< 0.001';
  if (p < 0.01) return p.toFixed(4);
  return p.toFixed(3);
}

/** An interval `{lower, upper}` with a formatter ("[1.0%, 2.0%]"). */
export function fmtInterval(ci, fmt = fmtPct) {
  if (!ci || !isNum(ci.lower) || !isNum(ci.upper)) return DASH;
  return `[${fmt(ci.lower)}, ${fmt(ci.upper)}]`;
}

/** Milliseconds of latency ("12 ms", "1.50 s"). */
export function fmtMs(ms) {
  if (!isNum(ms)) return DASH;
  if (Math.abs(ms) >= 1000) return `${(ms / 1000).toFixed(2)} s`;
  if (Math.abs(ms) >= 10) return `${Math.round(ms)} ms`;
  return `${ms.toFixed(1)} ms`;
}

/** A duration in ms as "45s", "3m 20s", "2h 5m", "4d 3h". */
export function fmtDuration(ms) {
  if (!isNum(ms) || ms < 0) return DASH;
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${s % 60}s`;
  const h = Math.floor(m / 60);
  if (h < 24) return `${h}h ${m % 60}m`;
  return `${Math.floor(h / 24)}d ${h % 24}h`;
}

/** "3m 20s ago" for an epoch-ms timestamp; "never" for 0/null. */
export function fmtAgo(ts, now) {
  if (!isNum(ts) || ts <= 0) return 'never';
  if (!isNum(now)) return DASH;
  return ts > now ? 'just now' : `${fmtDuration(now - ts)} ago`;
}

const STRATEGIES = {
  ab: 'A/B test',
  canary: 'Canary',
  flag: 'Feature flags',
  blue_green: 'Blue-green',
  rolling: 'Rolling',
  recreate: 'Recreate',
  bandit: 'Bandit',
};

/** Human label for a strategy kind. */
export const strategyLabel = (kind) => STRATEGIES[kind] ?? (typeof kind === 'string' && kind ? kind : 'unknown');

/** 95% Wilson score interval of k conversions out of n (null when n = 0 or k > n). */
export function wilson(n, k, z = 1.959963984540054) {
  if (!isNum(n) || !isNum(k) || n <= 0 || k < 0 || k > n) return null;
  const p = k / n;
  const z2 = z * z;
  const den = 1 + z2 / n;
  const centre = (p + z2 / (2 * n)) / den;
  const half = (z * Math.sqrt((p * (1 - p)) / n + z2 / (4 * n * n))) / den;
  return { lower: Math.max(0, centre - half), upper: Math.min(1, centre + half) };
}

/** Conversions of an arm as the worker counts them: positive reward sum over max(requests, rewards). */
export function armConversions(arm) {
  const req = isNum(arm?.requests) ? arm.requests : 0;
  const cnt = isNum(arm?.rewards?.count) ? arm.rewards.count : 0;
  const n = Math.max(req, cnt);
  const sum = isNum(arm?.rewards?.sum) ? arm.rewards.sum : 0;
  return { n, conversions: Math.min(n, Math.round(Math.max(0, sum))) };
}

/** Text for the canary / rolling controller state, with a tone: ok | warn | bad | idle. */
export function controllerText(controller, strategy) {
  if (controller && !controller.rolled_back && controller.promoted) {
    return { text: `Promoted${isNum(controller.canary_percent) ? `: canary at ${+controller.canary_percent.toFixed(4)}%` : ''}.`, tone: 'ok' };
  }
  if (!controller) {
    return strategy === 'canary' || strategy === 'rolling'
      ? { text: 'Controller idle: no step taken yet.', tone: 'idle' }
      : { text: 'No controller for this strategy.', tone: 'idle' };
  }
  const c = controller;
  if (c.rolled_back) {
    return { text: `Rolled back${c.reason ? `: ${c.reason}` : ''}. All traffic on stable.`, tone: 'bad' };
  }
  const parts = [];
  if (isNum(c.canary_percent)) parts.push(`Canary at ${+c.canary_percent.toFixed(4)}%`);
  if (isNum(c.step)) parts.push(`step ${c.step}`);
  if (c.completed) parts.push('completed');
  if (c.paused) parts.push('paused');
  if (c.reason) parts.push(c.reason);
  const tone = c.paused ? 'warn' : 'ok';
  return { text: parts.length ? parts.join(' · ') : 'Controller active.', tone };
}

/**
 * SRM banner model: null when there is nothing to warn about. The worker tests the distinct
 * units of each arm under the split in force against that split's planned shares with a
 * sequential (anytime-valid) multinomial test, so a split moved by a canary's steps is no
 * mismatch; a mismatch is an alarm.
 */
export function srmWarning(experiment) {
  const srm = experiment?.srm;
  if (!srm || !srm.mismatch) return null;
  const units = Array.isArray(srm.units) && srm.units.every(isNum) ? srm.units.map((u) => fmtInt(u)).join(' / ') : DASH;
  const shares = Array.isArray(srm.planned_shares) && srm.planned_shares.every(isNum)
    ? srm.planned_shares.map((x) => fmtPct(x, 1)).join(' / ') : DASH;
  return {
    severity: 'alarm',
    text:
      `Sample ratio mismatch: distinct units per arm ${units} against planned shares ${shares} ` +
      `(sequential multinomial test, p ${fmtP(srm.p_value).startsWith('<') ? '' : '= '}${fmtP(srm.p_value)}` +
      `${isNum(srm.alpha) ? `, alarm below ${srm.alpha}` : ''}). Results are unreliable until the cause is found.`,
  };
}

function latency(a) {
  const l = a?.latency_ms ?? {};
  return { p50: l.p50 ?? null, p95: l.p95 ?? null, p99: l.p99 ?? null, mean: l.mean ?? null };
}

/**
 * Summary model of a route's statistics document: everything the route view shows, with
 * every missing number as null (formatters turn null into "—", never NaN/undefined).
 * A metric with no data shows no rate, interval, effect or P(beat): an arm without units,
 * or a route where no feedback arrived at all (0/1 evidence then reads as 0 %, which is
 * absence of feedback, not a measured rate).
 */
export function summarize(doc, now) {
  const d = doc && typeof doc === 'object' ? doc : {};
  const exp = d.experiment && typeof d.experiment === 'object' ? d.experiment : null;
  const weights = d.weights?.arms && typeof d.weights.arms === 'object' ? d.weights.arms : null;
  const rawArms = d.arms && typeof d.arms === 'object' ? d.arms : {};
  const names = [...Object.keys(rawArms)];
  for (const n of [exp?.control, ...Object.keys(exp?.arms ?? {}), ...Object.keys(weights ?? {})]) {
    if (n && !names.includes(n)) names.push(n);
  }
  const alpha = isNum(exp?.alpha) ? exp.alpha : 0.05;
  const numeric = exp?.metric === 'mean';
  const noFeedback = Object.values(rawArms).every((a) => !(isNum(a?.rewards?.count) && a.rewards.count > 0));
  // The control's own comparison (units, rate or mean) when the document has one.
  const controlCmp = exp?.control ? exp.arms?.[exp.control]?.comparison ?? null : null;
  const controlN = exp?.control
    ? (isNum(controlCmp?.n) ? controlCmp.n : numeric ? (isNum(exp.control_arm?.n) ? exp.control_arm.n : 0) : armConversions(rawArms[exp.control]).n)
    : 0;
  const controlMean = isNum(controlCmp?.mean) ? controlCmp.mean : exp?.control_arm?.mean;
  const controlRate = numeric ? (isNum(controlMean) ? controlMean : null) : (isNum(exp?.control_rate) ? exp.control_rate : null);

  const arms = names.map((name) => {
    const a = rawArms[name] ?? {};
    const e = exp?.arms?.[name] ?? null;
    const cmp = e?.comparison ?? null;
    const seq = e?.sequential ?? null;
    const isControl = exp?.control === name;
    let rate = null;
    let ci = null;
    let n = null;
    let diff = null;
    let diffCi = null;
    let zP = null;
    if (cmp) {
      n = isNum(cmp.n) ? cmp.n : null;
      if (numeric) {
        // The difference of the per-unit ratio metric (delta method) is `z_test`.
        rate = isNum(cmp.mean) && cmp.n > 0 ? cmp.mean : null;
        diff = isNum(cmp.z_test?.diff) ? cmp.z_test.diff : isNum(cmp.diff) ? cmp.diff : null;
        diffCi = cmp.z_test?.diff_ci ?? cmp.diff_ci95 ?? null;
        zP = isNum(cmp.z_test?.p_value) ? cmp.z_test.p_value : isNum(cmp.welch?.p_value) ? cmp.welch.p_value : null;
      } else {
        rate = isNum(cmp.rate) && cmp.n > 0 ? cmp.rate : null;
        diff = cmp.z_test && isNum(cmp.z_test.diff) ? cmp.z_test.diff : null;
        diffCi = cmp.z_test?.diff_ci ?? null;
        zP = isNum(cmp.z_test?.p_value) ? cmp.z_test.p_value : null;
      }
      ci = cmp.ci95 ?? null;
    } else if (exp && isControl && numeric) {
      n = isNum(exp.control_arm?.n) ? exp.control_arm.n : null;
      rate = n > 0 ? controlRate : null;
      ci = exp.control_arm?.ci95 ?? null;
    } else if (exp) {
      const c = armConversions(a);
      n = c.n;
      rate = c.n > 0 ? (isControl && isNum(exp.control_rate) ? exp.control_rate : c.conversions / c.n) : null;
      ci = wilson(c.n, c.conversions);
    }
    const empty = noFeedback || !(n > 0) || (!isControl && !(controlN > 0));
    const avP = isNum(seq?.always_valid_p_value) ? seq.always_valid_p_value : null;
    const units = [e?.units, cmp?.units, isControl ? exp?.control_arm?.units : null, a.units].find(isNum) ?? null;
    return {
      name,
      isControl,
      requests: isNum(a.requests) ? a.requests : 0,
      units,
      errors: isNum(a.errors) ? a.errors : 0,
      errorRate: isNum(a.error_rate) ? a.error_rate : null,
      latency: latency(a),
      rewardCount: isNum(a.rewards?.count) ? a.rewards.count : 0,
      rewardMean: isNum(a.rewards?.mean) ? a.rewards.mean : null,
      n,
      rate: empty ? null : rate,
      ci: empty ? null : ci,
      diff: empty ? null : diff,
      diffCi: empty ? null : diffCi,
      lift: !empty && diff !== null && controlRate ? diff / controlRate : null,
      zP: empty ? null : zP,
      avP: empty ? null : avP,
      significant: !empty && avP !== null ? avP <= alpha : false,
      looks: isNum(seq?.looks) ? seq.looks : 0,
      // The worker reports 0.5 for empty arms (the prior); without data that is not a result.
      probBeat: !empty && !numeric && isNum(cmp?.prob_beat_control) ? cmp.prob_beat_control : null,
      weight: weights && isNum(weights[name]) ? weights[name] : null,
      givenVerdict: [e?.verdict, cmp?.verdict].find((v) => v && typeof v === 'object' && typeof v.result === 'string') ?? null,
      noData: empty,
    };
  });

  const totalRequests = arms.reduce((s, a) => s + a.requests, 0);
  const shadows = Object.entries(d.shadows ?? {}).map(([origin, s]) => ({
    origin,
    observations: isNum(s?.observations) ? s.observations : 0,
    statusAgreement: isNum(s?.status_agreement) ? s.status_agreement : null,
    payloadCompared: isNum(s?.payload_compared) ? s.payload_compared : 0,
    exactAgreement: isNum(s?.exact_agreement) ? s.exact_agreement : null,
    normalisedAgreement: isNum(s?.normalised_agreement) ? s.normalised_agreement : null,
    notComparable: isNum(s?.not_comparable) ? s.not_comparable : 0,
    shadowFailed: isNum(s?.shadow_failed) ? s.shadow_failed : 0,
    meanLatencyDiffMs: isNum(s?.mean_latency_diff_ms) ? s.mean_latency_diff_ms : null,
  }));
  const release = releaseState(d);
  const srm = srmWarning(exp);
  const ctx = { alpha, rolledBack: release.rolledBack, srmAlarm: srm?.severity === 'alarm', noFeedback, bandit: d.strategy === 'bandit' };
  for (const a of arms) a.verdict = exp && !a.isControl ? comparisonVerdict(a, ctx) : null;

  return {
    route: typeof d.route === 'string' ? d.route : '',
    strategy: typeof d.strategy === 'string' ? d.strategy : null,
    strategyLabel: strategyLabel(d.strategy),
    hasData: totalRequests > 0,
    totalRequests,
    updated: fmtAgo(d.updated_ms, now),
    lastTick: fmtAgo(d.last_tick_ms, now),
    arms,
    experiment: exp ? { control: exp.control ?? null, alpha, controlRate, metric: numeric ? 'mean' : 'conversion' } : null,
    verdict: verdict(arms, exp, alpha, srm, release),
    rolledBack: release.rolledBack,
    paused: release.paused,
    configState: d.config && typeof d.config === 'object' ? d.config : null,
    srm,
    controller: controllerText(d.controller ?? null, d.strategy),
    canRollBack: d.strategy === 'canary' && !d.controller?.rolled_back,
    weights: weights
      ? names.filter((n) => isNum(weights[n])).map((n) => ({ arm: n, weight: Math.min(1, Math.max(0, weights[n])) }))
      : [],
    shadows,
  };
}

/** The test that decides a comparison when the stats document names none. */
export const DECIDING_TEST = 'always-valid (sequential) test';
const RESULT_LABEL = { winner: 'Winner', loser: 'Loser', inconclusive: 'Inconclusive' };
/** Readable names of the tests a stats document's verdict names. */
const TEST_NAME = { always_valid: DECIDING_TEST };
const RESULT_TONE = { winner: 'ok', loser: 'bad', inconclusive: 'idle' };
const pText = (p) => (fmtP(p).startsWith('<') ? `p ${fmtP(p)}` : `p = ${fmtP(p)}`);

/**
 * The one verdict of a comparison (an arm against control): {result: winner | loser |
 * inconclusive, label, tone, test, text}. A `verdict` object in the stats document
 * ({result, test, …}, beside `comparison` or inside it) is used as it is. Without one it is
 * derived from the always-valid (sequential) test, the one that stays valid however often
 * this page is looked at: significant at alpha → winner or loser by the sign of the
 * difference; otherwise, or without data, after a rollback or under a sample-ratio
 * mismatch, inconclusive with the reason. The fixed-horizon z-test and P(beat) never decide.
 */
export function comparisonVerdict(arm, { alpha = 0.05, rolledBack = false, srmAlarm = false, noFeedback = false, bandit = false } = {}) {
  const g = arm?.givenVerdict;
  if (g) {
    const p = isNum(g.p_value) ? g.p_value : null;
    const why = typeof g.reason === 'string' && g.reason ? g.reason : (typeof g.text === 'string' && g.text ? g.text : null);
    return {
      result: g.result,
      label: RESULT_LABEL[g.result] ?? String(g.result),
      tone: RESULT_TONE[g.result] ?? 'idle',
      test: typeof g.test === 'string' && g.test ? TEST_NAME[g.test] ?? g.test : null,
      text: [why, p !== null ? pText(p) : null].filter(Boolean).join('; '),
      source: 'stats',
    };
  }
  const out = (result, text, test = DECIDING_TEST) => ({ result, label: RESULT_LABEL[result], tone: RESULT_TONE[result], test, text, source: 'dashboard' });
  if (rolledBack) return out('inconclusive', 'rolled back: no result is declared', null);
  if (noFeedback) return out('inconclusive', 'no feedback yet');
  if (arm.noData) return out('inconclusive', 'no data for this arm or control yet');
  if (srmAlarm) return out('inconclusive', 'sample ratio mismatch: the split is off, so no result can be trusted');
  if (arm.avP === null) {
    return out('inconclusive', bandit ? 'a bandit moves its split with the rewards, so no test decides: see its weights' : 'the always-valid test has not run yet', null);
  }
  if (arm.avP <= alpha) {
    const better = isNum(arm.diff) ? arm.diff > 0 : null;
    if (better === null) return out('inconclusive', `${pText(arm.avP)} ≤ ${alpha} but the direction is unknown`);
    return out(better ? 'winner' : 'loser', `${pText(arm.avP)} ≤ ${alpha}`);
  }
  return out('inconclusive', `${pText(arm.avP)} > ${alpha}: keep collecting`);
}

/**
 * The experiment's summary line, built from the comparisons' verdicts so the two can never
 * disagree: which arms won or lost against control, else why nothing is decided.
 */
export function verdict(arms, exp, alpha = 0.05, srm = srmWarning(exp), state = null) {
  if (!exp) return { leader: null, significant: false, text: 'No experiment on this route.' };
  if (state?.rolledBack) {
    // After a rollback no arm wins: the canary lost by definition, whatever the rates say.
    return {
      leader: null,
      significant: false,
      rolledBack: true,
      text: `Canary rolled back${state.reason ? ` (${state.reason})` : ''}: no winner is declared and all traffic is on stable. ` +
        'The comparison below covers the traffic before the rollback and is for diagnosis only.',
    };
  }
  const control = exp.control ?? 'control';
  const comps = arms.filter((a) => !a.isControl && a.verdict);
  if (arms.every((a) => a.requests === 0 && a.rewardCount === 0)) {
    return { leader: null, significant: false, text: 'Not enough data yet: each arm needs traffic and feedback.' };
  }
  if (comps.every((a) => a.verdict.source !== 'stats') && arms.every((a) => a.rewardCount === 0)) {
    return { leader: null, significant: false, text: 'No feedback yet: conversion rates need rewards posted to /_switchyard/feedback.' };
  }
  const by = (r) => comps.filter((a) => a.verdict.result === r);
  const testOf = (list) => [...new Set(list.map((a) => a.verdict.test).filter(Boolean))].join(', ') || 'its test';
  const winners = by('winner');
  const losers = by('loser');
  if (winners.length || losers.length) {
    const parts = [];
    if (winners.length) parts.push(`${winners.map((a) => `"${a.name}"`).join(', ')} ${winners.length > 1 ? 'beat' : 'beats'} control "${control}"`);
    if (losers.length) parts.push(`${losers.map((a) => `"${a.name}"`).join(', ')} ${losers.length > 1 ? 'are' : 'is'} worse than control "${control}"`);
    return { leader: winners[0]?.name ?? control, significant: true, text: `${parts.join('; ')} (decided by the ${testOf([...winners, ...losers])}).` };
  }
  if (srm?.severity === 'alarm' && comps.every((a) => a.verdict.source !== 'stats')) {
    return { leader: null, significant: false, text: 'Inconclusive: the sample ratio mismatch makes any result unreliable until its cause is found.' };
  }
  if (comps.length && comps.every((a) => a.noData)) {
    return { leader: null, significant: false, text: 'Not enough data yet: each arm needs traffic and feedback.' };
  }
  return { leader: null, significant: false, text: `Inconclusive: no arm differs from control "${control}" yet under the ${testOf(comps)}; keep collecting.` };
}

/** Errors from a validate / PUT answer (422 body or a {validation} block) as [{path, reason}]. */
export function configErrors(body) {
  const list = body?.errors ?? body?.validation?.errors;
  if (Array.isArray(list)) {
    return list.map((e) => ({ path: String(e?.path ?? '$'), reason: String(e?.reason ?? 'invalid') }));
  }
  if (body?.error) return [{ path: '$', reason: String(body.error.message ?? body.error.code ?? 'error') }];
  return [];
}

/** Error text for a failed API answer: status and the JSON error message when there is one. */
export function apiErrorText(status, body) {
  const msg = body?.error?.message ?? (typeof body === 'string' && body ? body.slice(0, 200) : '');
  if (status === 401) return `Unauthorized: sign in with an operator token. ${msg}`.trim();
  if (status === 403) return `Forbidden: your token's role may not do this. ${msg}`.trim();
  return `HTTP ${status}${msg ? `: ${msg}` : ''}`;
}

/** Checks config text parses as JSON before sending; returns null or a message with position. */
export function jsonProblem(text) {
  try {
    JSON.parse(text);
    return null;
  } catch (e) {
    return `Not valid JSON: ${e.message}`;
  }
}

// ---- table cells: exactly the strings the route view shows ----------------------------------

/** Arms table: header labels and one row of strings per arm (a Units column when the stats document counts units). */
export function armRows(m) {
  const exp = !!m.experiment;
  const units = m.arms.some((a) => a.units !== null);
  const headers = ['Arm', 'Requests'];
  if (units) headers.push('Units');
  headers.push('Error rate', 'p50', 'p95', 'p99', 'Rewards', 'Mean reward');
  const mean = m.experiment?.metric === 'mean';
  if (exp) headers.push(mean ? 'Mean (compared)' : 'Conversion', '95% CI');
  const rows = m.arms.map((a) => {
    const row = [a.isControl ? `${a.name} (control)` : a.name, fmtInt(a.requests)];
    if (units) row.push(fmtInt(a.units));
    row.push(fmtPct(a.errorRate, 2), fmtMs(a.latency.p50), fmtMs(a.latency.p95), fmtMs(a.latency.p99), fmtInt(a.rewardCount), fmtNum(a.rewardMean, 3));
    if (exp) row.push(mean ? fmtNum(a.rate, 3) : fmtPct(a.rate, 2), fmtInterval(a.ci, mean ? (x) => fmtNum(x, 3) : (x) => fmtPct(x, 2)));
    return row;
  });
  return { headers, rows };
}

const signed = (x, digits = 3) => (isNum(x) ? `${x > 0 && Number(x.toFixed(digits)) !== 0 ? '+' : ''}${x.toFixed(digits)}` : DASH);

/**
 * Experiment comparisons: one row per non-control arm with its one verdict, why (the
 * deciding test and its p-value, or the reason nothing is decided), and the effect with its
 * interval. `tones` colours the verdict cells.
 */
export function comparisonRows(m) {
  const mean = m.experiment?.metric === 'mean';
  const headers = ['Arm', 'Verdict', 'Why', mean ? 'Effect (mean diff)' : 'Effect (diff)', '95% CI of the effect', 'Lift'];
  const comps = m.arms.filter((a) => !a.isControl);
  const rows = comps.map((a) => [
    a.name, a.verdict?.label ?? DASH, a.verdict ? `${a.verdict.test ? `${a.verdict.test}: ` : ''}${a.verdict.text}` : DASH,
    mean ? signed(a.diff) : fmtPP(a.diff), fmtInterval(a.diffCi, mean ? (x) => signed(x) : (x) => fmtPP(x)), fmtLift(a.lift),
  ]);
  return { headers, rows, tones: comps.map((a) => a.verdict?.tone ?? 'idle') };
}

/** Descriptive statistics that do not decide: the fixed-horizon test, P(beat), the sequential test's looks. */
export function otherStatRows(m) {
  const mean = m.experiment?.metric === 'mean';
  const headers = ['Arm', mean ? 'z-test p (delta method)' : 'z-test p', 'Always-valid p', 'P(beat control)', 'Looks'];
  const rows = m.arms.filter((a) => !a.isControl).map((a) => [a.name, fmtP(a.zP), fmtP(a.avP), fmtPct(a.probBeat, 1), fmtInt(a.looks)]);
  return { headers, rows };
}

/** Shadow agreement: one row per shadow origin. */
export function shadowRows(m) {
  const headers = ['Shadow origin', 'Observations', 'Status agreement', 'Payloads compared', 'Exact agreement',
    'Normalised agreement', 'Not comparable', 'Shadow failed', 'Latency diff'];
  const rows = m.shadows.map((s) => [s.origin, fmtInt(s.observations), fmtPct(s.statusAgreement), fmtInt(s.payloadCompared),
    fmtPct(s.exactAgreement), fmtPct(s.normalisedAgreement), fmtInt(s.notComparable), fmtInt(s.shadowFailed), fmtMs(s.meanLatencyDiffMs)]);
  return { headers, rows };
}

/** Weight bars: label, width in percent (0..100, 2 decimals) and text. */
export function weightBars(m) {
  return m.weights.map((w) => ({ arm: w.arm, width: (w.weight * 100).toFixed(2), text: fmtPct(w.weight, 1) }));
}

// ---- release state, health lines and alerts (overview) ---------------------------------------

/** Limits that make a value a problem when the config names no guard. */
export const DEFAULT_MAX_ERROR_RATE = 0.05;
export const MIN_SHADOW_AGREEMENT = 0.9;
/** Fewer requests than this on an arm: its error rate is shown but not flagged. */
export const MIN_REQUESTS_TO_FLAG = 10;

/** Rolled back / paused / promoted from a stats document's `controller`. */
export function releaseState(doc) {
  const c = doc?.controller && typeof doc.controller === 'object' ? doc.controller : null;
  return {
    rolledBack: !!c?.rolled_back,
    paused: !!c?.paused,
    pausedReason: typeof c?.paused === 'string' ? c.paused : null,
    promoted: !!c?.promoted,
    reason: typeof c?.reason === 'string' ? c.reason : null,
    canaryPercent: isNum(c?.canary_percent) ? c.canary_percent : null,
    step: isNum(c?.step) ? c.step : null,
  };
}

/** The route's object in a config document (the `config` field of GET /config), or null. */
export function configRoute(config, name) {
  const routes = Array.isArray(config?.routes) ? config.routes : [];
  return routes.find((r) => r && r.name === name) ?? null;
}

/** Guard limits and canary steps of a route in a config document (nulls when absent). */
export function routeGuard(config, name) {
  const st = configRoute(config, name)?.strategy ?? {};
  const g = st.guard && typeof st.guard === 'object' ? st.guard : null;
  return {
    maxErrorRate: isNum(g?.max_error_rate) ? g.max_error_rate : null,
    maxP95Ratio: isNum(g?.max_p95_latency_ratio) ? g.max_p95_latency_ratio : null,
    minRequests: isNum(g?.min_requests) ? g.min_requests : (g ? 100 : null),
    percent: isNum(st.percent) ? st.percent : null,
    steps: Array.isArray(st.steps) ? st.steps.filter((s) => isNum(s?.percent)).map((s) => ({ percent: s.percent, holdS: isNum(s.hold_s) ? s.hold_s : null })) : [],
  };
}

/** The `host[:port]` of an origin URL, or null. */
export function urlHost(url) {
  if (typeof url !== 'string') return null;
  const m = /^https?:\/\/([^/?#\\@ ]+)/i.exec(url);
  return m ? m[1].toLowerCase() : null;
}

/**
 * Which origin serves each arm of a route, in config order: [{arm, origin, url, host, note}].
 * Arm names are the ones the router reports: canary `stable`/`canary`, blue-green
 * `blue`/`green`, rolling `from`/`to`, recreate `origin`, flag routes one arm per flag plus
 * `default`, A/B and bandit their arms. `note` is the origin's `description`.
 */
export function routeArms(config, name) {
  const st = configRoute(config, name)?.strategy ?? {};
  const arms = Array.isArray(st.arms) ? st.arms : [];
  let pairs = [];
  switch (st.kind) {
    case 'canary': pairs = [['stable', st.stable], ['canary', st.canary]]; break;
    case 'blue_green': pairs = [['blue', st.blue], ['green', st.green]]; break;
    case 'rolling': pairs = [['from', st.from], ['to', st.to]]; break;
    case 'recreate': pairs = [['origin', st.origin]]; break;
    case 'flag': pairs = [...(Array.isArray(st.flags) ? st.flags : []).map((f) => [f?.name, f?.origin]), ['default', st.default]]; break;
    default: pairs = arms.map((a) => [a?.name, a?.origin]);
  }
  const origins = config?.origins && typeof config.origins === 'object' ? config.origins : {};
  return pairs.filter(([arm]) => typeof arm === 'string' && arm).map(([arm, origin]) => {
    const o = typeof origin === 'string' ? origins[origin] : null;
    return {
      arm,
      origin: typeof origin === 'string' ? origin : null,
      url: typeof o?.url === 'string' ? o.url : null,
      host: urlHost(o?.url),
      note: typeof o?.description === 'string' && o.description ? o.description : null,
    };
  });
}

/** Arm names of a route in config order (see `routeArms`). */
export function configArms(config, name) {
  return routeArms(config, name).map((a) => a.arm);
}

/**
 * The share of traffic each arm should get now, from the config and the controller state:
 * {arm: fraction}, or null when the strategy has no fixed split (feature flags decide by
 * rules and rollouts per unit). A controller state is used only when it belongs to the
 * route's strategy in force (`fingerprint` from GET /status; unknown: trusted), as the
 * router does: canary percent after steps or a rollback (0), A/B arms drained by the guard,
 * rolling batches completed. Bandits: the weights in force.
 */
export function plannedShares(config, name, doc, fingerprint = null) {
  const st = configRoute(config, name)?.strategy;
  if (!st || typeof st !== 'object') return null;
  const c0 = doc?.controller && typeof doc.controller === 'object' ? doc.controller : null;
  const c = c0 && (!fingerprint || !c0.fingerprint || c0.fingerprint === fingerprint) ? c0 : null;
  const norm = (entries) => {
    const sum = entries.reduce((s, [, w]) => s + w, 0);
    return sum > 0 ? Object.fromEntries(entries.map(([a, w]) => [a, w / sum])) : null;
  };
  const arms = (Array.isArray(st.arms) ? st.arms : []).filter((a) => typeof a?.name === 'string');
  switch (st.kind) {
    case 'canary': {
      const p = c?.rolled_back ? 0 : isNum(c?.canary_percent) ? c.canary_percent : isNum(st.percent) ? st.percent : null;
      return p === null ? null : { stable: 1 - Math.min(100, Math.max(0, p)) / 100, canary: Math.min(100, Math.max(0, p)) / 100 };
    }
    case 'ab': {
      const drained = Array.isArray(c?.drained) ? c.drained : [];
      const w = (a) => (isNum(a.weight) && a.weight > 0 ? a.weight : 0);
      return norm(arms.map((a) => [a.name, drained.includes(a.name) ? 0 : w(a)])) ?? norm(arms.map((a) => [a.name, w(a)]));
    }
    case 'bandit': {
      const w = doc?.weights?.arms;
      const fromWeights = w && typeof w === 'object' ? norm(arms.map((a) => [a.name, isNum(w[a.name]) && w[a.name] > 0 ? w[a.name] : 0])) : null;
      return fromWeights ?? norm(arms.map((a) => [a.name, 1]));
    }
    case 'blue_green':
      return st.active === 'blue' || st.active === 'green' ? { blue: st.active === 'blue' ? 1 : 0, green: st.active === 'green' ? 1 : 0 } : null;
    case 'rolling': {
      if (!isNum(st.batches) || st.batches <= 0) return null;
      const done = Math.min(st.batches, Math.max(0, isNum(c?.completed) ? c.completed : isNum(st.completed) ? st.completed : 0));
      return { from: 1 - done / st.batches, to: done / st.batches };
    }
    case 'recreate': return { origin: 1 };
    default: return null;
  }
}

const bucketOf = (series) => (isNum(series?.bucket_ms) && series.bucket_ms > 0 ? series.bucket_ms : 60_000);
/** The start of the series bucket that holds `x` (buckets keep the phase of the series' own rows). */
const bucketStart = (series, x) => {
  const bucket = bucketOf(series);
  const first = (series?.minutes ?? []).find((m) => isNum(m?.t));
  const phase = first ? ((first.t % bucket) + bucket) % bucket : 0;
  return Math.floor((x - phase) / bucket) * bucket + phase;
};
const minuteRequests = (m) => Object.values(m?.arms ?? {}).reduce((a, x) => a + (isNum(x?.requests) ? x.requests : 0), 0);

/**
 * Requests per minute over the last `minutes` minutes before `now` (epoch ms), from the
 * per-minute series: the requests of the buckets that started at or after the window's
 * (bucket-aligned) start, over the time from that start to `now`. It falls to 0 once no
 * bucket in the window has traffic, so a rate never stays up after traffic stops. Without
 * `now`, the window ends at the newest bucket. null without a series.
 */
export function recentRate(series, now = null, minutes = 5) {
  const ms = (Array.isArray(series?.minutes) ? series.minutes : []).filter((m) => isNum(m?.t));
  if (!ms.length) return null;
  const bucket = bucketOf(series);
  const end = isNum(now) ? now : Math.max(...ms.map((m) => m.t)) + bucket;
  const start = bucketStart(series, end - minutes * 60_000);
  const total = ms.filter((m) => m.t >= start).reduce((s, m) => s + minuteRequests(m), 0);
  return total / ((end - start) / 60_000);
}

/** The time of the newest observation: the stats document's last report, else the end of the newest bucket with traffic. */
export function lastSeen(doc, series) {
  if (isNum(doc?.last_report_ms) && doc.last_report_ms > 0) return doc.last_report_ms;
  const bucket = bucketOf(series);
  const busy = (series?.minutes ?? []).filter((m) => isNum(m?.t) && minuteRequests(m) > 0);
  return busy.length ? Math.max(...busy.map((m) => m.t)) + bucket : null;
}

/** "12.3/min now", with "last request 7m 0s ago" once the newest observation is over 2 minutes old. */
export function rateText(perMin, seen, now) {
  if (perMin === null) return DASH;
  const stale = isNum(seen) && isNum(now) && now - seen > 120_000;
  return `${fmtNum(perMin, 1)}/min now${stale ? ` · last request ${fmtAgo(seen, now)}` : ''}`;
}

/**
 * Each arm's share of the requests over the last `minutes` minutes before `now` (the
 * series), else over the counts of the stats document: {shares: {arm: fraction}, total,
 * source: 'recent'|'counts'}, or null without traffic.
 */
export function observedShares(series, doc, now = null, minutes = 15) {
  const ms = (Array.isArray(series?.minutes) ? series.minutes : []).filter((m) => isNum(m?.t));
  if (ms.length) {
    const bucket = bucketOf(series);
    const end = isNum(now) ? now : Math.max(...ms.map((m) => m.t)) + bucket;
    const start = bucketStart(series, end - minutes * 60_000);
    const per = {};
    for (const m of ms.filter((x) => x.t >= start)) {
      for (const [arm, a] of Object.entries(m.arms ?? {})) if (isNum(a?.requests)) per[arm] = (per[arm] ?? 0) + a.requests;
    }
    const total = Object.values(per).reduce((s, x) => s + x, 0);
    if (total > 0) return { shares: Object.fromEntries(Object.entries(per).map(([a, x]) => [a, x / total])), total, source: 'recent', minutes };
  }
  const per = Object.fromEntries(Object.entries(doc?.arms ?? {}).map(([a, x]) => [a, isNum(x?.requests) ? x.requests : 0]));
  const total = Object.values(per).reduce((s, x) => s + x, 0);
  return total > 0 ? { shares: Object.fromEntries(Object.entries(per).map(([a, x]) => [a, x / total])), total, source: 'counts' } : null;
}

/**
 * When the route's counts restarted because its strategy changed: the newest `config`
 * event of the series at or before which every arm's counts begin (`since_ms`), with the
 * requests the series holds from before it. null when the counts did not restart.
 */
export function countsRestart(doc, series) {
  const ev = (series?.events ?? []).filter((e) => e?.kind === 'config' && isNum(e.at)).sort((a, b) => b.at - a.at)[0];
  if (!ev) return null;
  const since = Object.values(doc?.arms ?? {}).map((a) => a?.since_ms).filter((x) => isNum(x) && x > 0);
  if (since.length && Math.min(...since) < ev.at - 1000) return null; // these counts are older than the change
  const bucket = bucketOf(series);
  const before = (series?.minutes ?? []).filter((m) => isNum(m?.t) && m.t + bucket <= ev.at).reduce((s, m) => s + minuteRequests(m), 0);
  if (before === 0) return null; // nothing was counted before it: the route simply started then
  return { at: ev.at, detail: typeof ev.detail === 'string' ? ev.detail : '', before };
}

/** "since 14:02, when the strategy changed (about 421 requests before)" for a restart. */
export function restartText(restart, timeFmt) {
  if (!restart) return '';
  return `counts restarted at ${timeFmt(restart.at)}: the route's strategy changed (${fmtInt(restart.before)} requests before that are in the charts, not in these counts)`;
}

/**
 * One overview line for a route. Its state comes from the serving arms only: rolled back,
 * paused, promoted, no traffic, an arm's error rate above the route's guard (or 5 % without
 * one) once it has 10 requests ("Unhealthy"), else rolling out / healthy. Other signals are
 * alerts of their own: a sample-ratio mismatch, an invalid config, and a shadow whose answers
 * disagree (tone `shadow`: a mirrored model never makes the serving route unhealthy).
 * `route` is {name, strategy, fingerprint?} (GET /status), `doc` the stats document (null
 * when it could not be read), `config` the document in KV, `now` epoch ms.
 */
export function healthLine(route, doc, series, config, now = null) {
  const name = route.name;
  const strategy = route.strategy ?? doc?.strategy ?? null;
  const guard = routeGuard(config, name);
  const st = releaseState(doc);
  const alerts = [];
  const limit = guard.maxErrorRate ?? DEFAULT_MAX_ERROR_RATE;
  const limitText = guard.maxErrorRate !== null ? `guard ${fmtPct(limit)}` : `${fmtPct(limit, 0)}`;
  const planned = plannedShares(config, name, doc, route.fingerprint ?? null);
  const observed = observedShares(series, doc, now);
  const wiring = routeArms(config, name);
  const names = [...wiring.map((w) => w.arm)];
  for (const n of Object.keys(doc?.arms ?? {})) if (!names.includes(n)) names.push(n);
  const arms = names.map((arm) => {
    const a = doc?.arms?.[arm];
    const w = wiring.find((x) => x.arm === arm) ?? {};
    const requests = isNum(a?.requests) ? a.requests : 0;
    const rate = isNum(a?.error_rate) ? a.error_rate : null;
    const bad = rate !== null && requests >= MIN_REQUESTS_TO_FLAG && rate > limit;
    if (bad) alerts.push({ tone: 'bad', kind: 'errors', text: `${arm} error rate ${fmtPct(rate)} above ${limitText}` });
    return {
      arm, origin: w.origin ?? null, host: w.host ?? null, url: w.url ?? null, note: w.note ?? null,
      requests, errorRate: rate, bad,
      planned: planned && isNum(planned[arm]) ? planned[arm] : (planned ? 0 : null),
      observed: observed ? (observed.shares[arm] ?? 0) : null,
    };
  });
  const total = arms.reduce((s, a) => s + a.requests, 0);
  const servingBad = arms.some((a) => a.bad);
  if (st.rolledBack) alerts.unshift({ tone: 'bad', kind: 'rollback', text: `Rolled back${st.reason ? `: ${st.reason}` : ''}` });
  if (st.paused) alerts.push({ tone: 'warn', kind: 'paused', text: `Paused${st.pausedReason ? `: ${st.pausedReason}` : ''}` });
  const srm = srmWarning(doc?.experiment);
  if (srm?.severity === 'alarm') alerts.push({ tone: 'bad', kind: 'srm', text: 'Sample ratio mismatch' });
  const shadows = [];
  for (const [origin, s] of Object.entries(doc?.shadows ?? {})) {
    const agree = isNum(s?.normalised_agreement) ? s.normalised_agreement : (isNum(s?.status_agreement) ? s.status_agreement : null);
    if (agree !== null && (s?.observations ?? 0) >= MIN_REQUESTS_TO_FLAG && agree < MIN_SHADOW_AGREEMENT) {
      shadows.push({ origin, agreement: agree });
      alerts.push({ tone: 'shadow', kind: 'shadow', text: `Shadow ${origin} agreement ${fmtPct(agree)}` });
    }
  }
  if (doc?.config && doc.config.valid === false) {
    alerts.push({ tone: 'bad', kind: 'config', text: `Config ${doc.config.id ?? ''} invalid${doc.config.last_valid_id ? `; serving ${doc.config.last_valid_id}` : ''}`.trim() });
  }
  let state;
  if (!doc) state = { label: 'No stats', tone: 'idle' };
  else if (st.rolledBack) state = { label: 'Rolled back', tone: 'bad' };
  else if (st.paused) state = { label: 'Paused', tone: 'warn' };
  else if (st.promoted) state = { label: 'Promoted', tone: 'ok' };
  else if (total === 0) state = { label: 'No traffic', tone: 'idle' };
  else if (servingBad) state = { label: 'Unhealthy', tone: 'bad' };
  else if (strategy === 'canary') state = { label: st.canaryPercent !== null && st.canaryPercent >= 100 ? 'Complete' : 'Rolling out', tone: 'ok' };
  else state = { label: 'Healthy', tone: 'ok' };
  let canary = null;
  if (strategy === 'canary') {
    const pct = st.rolledBack ? 0 : st.canaryPercent ?? guard.percent;
    const steps = guard.steps.length;
    canary = {
      percent: pct,
      text: `${isNum(pct) ? `${+pct.toFixed(2)}%` : DASH}${steps ? ` · step ${st.step ?? 0}/${steps}` : (st.step !== null ? ` · step ${st.step}` : '')}`,
    };
  }
  const worst = shadows.reduce((w, s) => (w === null || s.agreement < w.agreement ? s : w), null);
  return {
    name, strategy, strategyLabel: strategyLabel(strategy), state, total,
    perMin: recentRate(series, now), lastSeen: lastSeen(doc, series),
    arms, plannedKnown: planned !== null, observedSource: observed?.source ?? null, observedMinutes: observed?.minutes ?? null,
    canary, alerts,
    attention: alerts.some((a) => a.tone === 'bad'),
    shadow: worst ? { disagrees: true, origin: worst.origin, agreement: worst.agreement, count: shadows.length } : null,
    restart: countsRestart(doc, series),
  };
}

// ---- time series (route page charts) ---------------------------------------------------------

/** Colours for arms in a fixed order (the same arm keeps its colour on every chart of a page). */
export const PALETTE = ['#3b82f6', '#f97316', '#16a34a', '#a855f7', '#e11d48', '#0891b2', '#ca8a04', '#64748b'];

/** Arm names in a series document, config order first. */
export function seriesArms(series, preferred = []) {
  const names = [...preferred];
  const add = (n) => { if (typeof n === 'string' && !names.includes(n)) names.push(n); };
  for (const m of series?.minutes ?? []) for (const n of Object.keys(m?.arms ?? {})) add(n);
  for (const w of series?.weights ?? []) for (const n of Object.keys(w?.arms ?? {})) add(n);
  return names;
}

/**
 * The time span every chart of a route shares: the first bucket to `now` (the charts run up
 * to the present, so a route whose traffic stopped shows it), or to the end of the newest
 * bucket without `now`.
 */
export function seriesDomain(series, now = null) {
  const ts = [];
  const bucket = bucketOf(series);
  for (const m of series?.minutes ?? []) if (isNum(m?.t)) { ts.push(m.t); ts.push(m.t + bucket); }
  for (const e of [...(series?.events ?? []), ...(series?.canary ?? []), ...(series?.weights ?? [])]) if (isNum(e?.at)) ts.push(e.at);
  if (!ts.length) return null;
  const hi = Math.max(...ts);
  return [Math.min(...ts), isNum(now) && now > hi ? now : hi];
}

/**
 * The series with a row for every bucket from its first (or the one holding `from`) to the
 * one holding `now`; rows after it are left out. The store keeps rows only for minutes with
 * traffic, so a missing minute is a minute without requests. At most `max` rows (the newest).
 */
export function fillMinutes(series, now, from = null, max = 1500) {
  const bucket = bucketOf(series);
  const rows = (Array.isArray(series?.minutes) ? series.minutes : []).filter((m) => isNum(m?.t));
  const byT = new Map(rows.map((m) => [m.t, m]));
  const first = isNum(from) ? bucketStart(series, from) : rows.length ? Math.min(...rows.map((m) => m.t)) : null;
  if (first === null || !isNum(now)) return series;
  const last = bucketStart(series, now);
  const start = Math.max(first, last - (max - 1) * bucket);
  const minutes = [];
  for (let t = start; t <= last; t += bucket) minutes.push(byT.get(t) ?? { t, arms: {}, shadows: {} });
  return { ...series, minutes };
}

const armValue = (m, arm, f) => {
  const a = m?.arms?.[arm];
  switch (f) {
    case 'requests': return isNum(a?.requests) ? a.requests : 0;
    case 'error_rate': return isNum(a?.requests) && a.requests > 0 && isNum(a?.errors) ? a.errors / a.requests : null;
    default: return isNum(a?.requests) && a.requests > 0 && isNum(a?.[f]) ? a[f] : null;
  }
};

/**
 * One line per arm of a per-minute field: requests, error_rate (errors / requests), p95, share…
 * `window` > 1 makes error_rate a rolling rate over that many buckets (sum of errors / sum of
 * requests), so a minute with 3 requests and 1 error does not draw a 33 % spike.
 */
export function armSeries(series, field, arms = seriesArms(series), window = 1) {
  const ms = (series?.minutes ?? []).filter((m) => isNum(m?.t));
  return arms.map((arm, i) => ({
    name: arm,
    color: PALETTE[i % PALETTE.length],
    points: ms.map((m, k) => {
      if (field !== 'error_rate' || window <= 1) return [m.t, armValue(m, arm, field)];
      let req = 0;
      let err = 0;
      for (let j = Math.max(0, k - window + 1); j <= k; j++) {
        const a = ms[j]?.arms?.[arm];
        if (isNum(a?.requests) && isNum(a?.errors)) { req += a.requests; err += a.errors; }
      }
      return [m.t, req > 0 ? err / req : null];
    }),
  }));
}

/** The p95 guard over time: the stable (first) arm's p95 times the configured ratio. */
export function p95GuardSeries(series, ratio, baseArm) {
  if (!isNum(ratio) || !baseArm) return null;
  const ms = (series?.minutes ?? []).filter((m) => isNum(m?.t));
  const pts = ms.map((m) => { const v = armValue(m, baseArm, 'p95'); return [m.t, v === null ? null : v * ratio]; });
  return pts.some(([, y]) => y !== null) ? { name: `guard (${baseArm} p95 × ${ratio})`, color: '#dc2626', dashed: true, width: 1.2, points: pts } : null;
}

/** Canary share (percent) as a step line that reaches the end of the domain. */
export function canarySeries(series, domainEnd = null) {
  const pts = (series?.canary ?? []).filter((c) => isNum(c?.at) && isNum(c?.percent)).map((c) => [c.at, c.percent]).sort((a, b) => a[0] - b[0]);
  if (pts.length && isNum(domainEnd) && domainEnd > pts.at(-1)[0]) pts.push([domainEnd, pts.at(-1)[1]]);
  return { name: 'canary share', color: PALETTE[1], step: true, points: pts };
}

/** Bandit weights over time, one step line per arm. */
export function weightSeries(series, arms = seriesArms(series), domainEnd = null) {
  const ws = (series?.weights ?? []).filter((w) => isNum(w?.at)).sort((a, b) => a.at - b.at);
  return arms.map((arm, i) => {
    const pts = ws.map((w) => [w.at, isNum(w.arms?.[arm]) ? w.arms[arm] : null]);
    if (pts.length && isNum(domainEnd) && domainEnd > pts.at(-1)[0]) pts.push([domainEnd, pts.at(-1)[1]]);
    return { name: arm, color: PALETTE[i % PALETTE.length], step: true, points: pts };
  }).filter((s) => s.points.some(([, y]) => y !== null));
}

/** Shadow agreement per shadow origin over time (null in minutes without observations). */
export function shadowSeries(series) {
  const ms = (series?.minutes ?? []).filter((m) => isNum(m?.t));
  const origins = [];
  for (const m of ms) for (const o of Object.keys(m?.shadows ?? {})) if (!origins.includes(o)) origins.push(o);
  return origins.map((o, i) => ({
    name: o,
    color: PALETTE[(i + 2) % PALETTE.length],
    points: ms.map((m) => {
      const s = m.shadows?.[o];
      return [m.t, isNum(s?.observations) && s.observations > 0 && isNum(s?.agreement) ? s.agreement : null];
    }),
  }));
}

const EVENT_LABEL = { step: 'Step', rollback: 'Rollback', resume: 'Resume', promote: 'Promote', pause: 'Pause', gate: 'Release gate', srm: 'SRM alarm', config: 'Config change' };

/** Short labels drawn on the chart beside a mark (other kinds: hover for the label). */
const MARK_SHORT = { config: 'config changed: counts restart', rollback: 'rollback' };

/** Controller events as chart marks (rollbacks, steps, resumes, promotions, pauses, config changes…). */
export function eventMarks(series) {
  return (series?.events ?? []).filter((e) => isNum(e?.at)).map((e) => ({
    t: e.at,
    kind: typeof e.kind === 'string' ? e.kind : 'event',
    short: MARK_SHORT[e.kind] ?? null,
    label: `${EVENT_LABEL[e.kind] ?? e.kind ?? 'Event'}${isNum(e.canary_percent) ? ` → ${+e.canary_percent.toFixed(2)}%` : ''}${e.detail ? `: ${e.detail}` : ''}`,
  }));
}

/** Events table rows, newest first: time, kind, canary percent, detail. */
export function eventRows(series, timeFmt = (t) => new Date(t).toISOString()) {
  return eventMarks(series).sort((a, b) => b.t - a.t).map((m) => {
    const e = (series.events ?? []).find((x) => x.at === m.t && x.kind === m.kind) ?? {};
    return [timeFmt(m.t), EVENT_LABEL[m.kind] ?? m.kind, isNum(e.canary_percent) ? `${+e.canary_percent.toFixed(2)}%` : DASH, e.detail ? String(e.detail) : DASH];
  });
}

/** Whether a series document's newest rollback is still in force (no resume/promote after it). */
export function rolledBackInSeries(series) {
  const ev = (series?.events ?? []).filter((e) => isNum(e?.at) && ['rollback', 'resume', 'promote'].includes(e.kind)).sort((a, b) => a.at - b.at);
  return ev.length > 0 && ev.at(-1).kind === 'rollback';
}

// ---- config: history, diff, churn, roles ----------------------------------------------------

const ROLES = ['viewer', 'operator', 'admin'];
/** Whether `role` is at least `needed` (viewer < operator < admin); unknown roles are nothing. */
export function roleAtLeast(role, needed) {
  const have = ROLES.indexOf(role);
  return have >= 0 && have >= ROLES.indexOf(needed);
}

/** Line diff (LCS) of two texts as unified-style rows {op: ' '|'-'|'+', text, a, b} with `context` lines around changes. */
export function lineDiff(oldText, newText, context = 3) {
  const a = String(oldText ?? '').split('\n');
  const b = String(newText ?? '').split('\n');
  const n = a.length;
  const m = b.length;
  if (n * m > 4_000_000) return [{ op: '!', text: `Too large to diff here (${n} × ${m} lines).` }];
  // Trim the common head and tail, LCS on the middle.
  let head = 0;
  while (head < n && head < m && a[head] === b[head]) head++;
  let tail = 0;
  while (tail < n - head && tail < m - head && a[n - 1 - tail] === b[m - 1 - tail]) tail++;
  const A = a.slice(head, n - tail);
  const B = b.slice(head, m - tail);
  const L = Array.from({ length: A.length + 1 }, () => new Uint32Array(B.length + 1));
  for (let i = A.length - 1; i >= 0; i--) for (let j = B.length - 1; j >= 0; j--) L[i][j] = A[i] === B[j] ? L[i + 1][j + 1] + 1 : Math.max(L[i + 1][j], L[i][j + 1]);
  const rows = [];
  for (let k = 0; k < head; k++) rows.push({ op: ' ', text: a[k], a: k + 1, b: k + 1 });
  let i = 0;
  let j = 0;
  while (i < A.length || j < B.length) {
    if (i < A.length && j < B.length && A[i] === B[j]) { rows.push({ op: ' ', text: A[i], a: head + i + 1, b: head + j + 1 }); i++; j++; }
    else if (i < A.length && (j >= B.length || L[i + 1][j] >= L[i][j + 1])) { rows.push({ op: '-', text: A[i], a: head + i + 1 }); i++; }
    else { rows.push({ op: '+', text: B[j], b: head + j + 1 }); j++; }
  }
  for (let k = 0; k < tail; k++) rows.push({ op: ' ', text: a[n - tail + k], a: n - tail + k + 1, b: m - tail + k + 1 });
  // Keep `context` unchanged lines around each change; elide the rest.
  const keep = rows.map(() => false);
  rows.forEach((r, x) => { if (r.op !== ' ') for (let y = Math.max(0, x - context); y <= Math.min(rows.length - 1, x + context); y++) keep[y] = true; });
  const out = [];
  for (let x = 0; x < rows.length; x++) {
    if (keep[x]) out.push(rows[x]);
    else if (out.at(-1)?.op !== '…') out.push({ op: '…', text: '' });
  }
  return out.length === 1 && out[0].op === '…' ? [] : out;
}

/** Pretty-printed JSON text (2 spaces) for a diff that ignores formatting, or the text itself when it does not parse. */
export function canonicalJson(text) {
  try { return JSON.stringify(JSON.parse(text), null, 2); } catch { return String(text ?? ''); }
}

/**
 * Churn preview from a `POST /validate?churn=1` answer: one row per route with the fraction of
 * units that change arm, the from→to moves and the new shares. Accepts `churn` as an object
 * keyed by route or as an array of {route, …}; returns null when the server sent none.
 */
export function churnRows(body) {
  const c = body?.churn;
  if (!c || typeof c !== 'object') return null;
  const list = Array.isArray(c) ? c : Array.isArray(c.routes) ? c.routes
    : Object.entries(c.routes && typeof c.routes === 'object' ? c.routes : c).filter(([, v]) => v && typeof v === 'object').map(([route, v]) => ({ route, ...v }));
  return list.filter((r) => r && typeof r.route === 'string').map((r) => {
    const changed = [r.changed, r.changed_fraction, r.fraction].find(isNum) ?? null;
    const moves = [];
    for (const [from, tos] of Object.entries(r.matrix ?? {})) {
      for (const [to, count] of Object.entries(tos ?? {})) if (from !== to && isNum(count) && count > 0) moves.push({ from, to, count });
    }
    moves.sort((x, y) => y.count - x.count);
    const shares = Object.entries(r.shares ?? r.new_shares ?? {}).filter(([, v]) => isNum(v));
    return {
      route: r.route,
      changed,
      changedText: fmtPct(changed, 2),
      movesText: moves.length ? moves.slice(0, 4).map((mv) => `${mv.from}→${mv.to} ${fmtInt(mv.count)}`).join(', ') : DASH,
      sharesText: shares.length ? shares.map(([arm, v]) => `${arm} ${fmtPct(v)}`).join(', ') : DASH,
      tone: changed === null ? 'idle' : changed > 0.1 ? 'bad' : changed > 0 ? 'warn' : 'ok',
      note: typeof r.note === 'string' ? r.note : (r.added ? 'new route' : r.removed ? 'route removed' : ''),
    };
  });
}

/** History rows (newest first) from GET /config/history: accepts a bare array or {history|versions: […]}. */
export function historyRows(body, timeFmt = (t) => new Date(t).toISOString()) {
  const list = Array.isArray(body) ? body : Array.isArray(body?.history) ? body.history : Array.isArray(body?.versions) ? body.versions : [];
  return list.filter((h) => h && (isNum(h.version) || typeof h.version === 'string')).map((h) => ({
    version: h.version,
    config: typeof h.config === 'string' ? h.config : (h.config?.id ?? h.id ?? DASH),
    at: isNum(h.at) ? timeFmt(h.at) : (typeof h.at === 'string' ? h.at : DASH),
    by: typeof h.by === 'string' && h.by ? h.by : DASH,
    message: typeof h.message === 'string' && h.message ? h.message : DASH,
  }));
}

/** The version carried by an ETag header (`"7"`, `W/"7"`, `v7`); the raw tag is what If-Match sends back. */
export function etagVersion(etag) {
  if (typeof etag !== 'string' || !etag) return null;
  const m = /^(?:W\/)?"?([^"]*)"?$/.exec(etag.trim());
  return m ? m[1] : null;
}

/** JSON text with object keys sorted at every level: two documents that differ only in key order or formatting give the same text. */
export function sortedJson(v) {
  if (Array.isArray(v)) return `[${v.map(sortedJson).join(',')}]`;
  if (v && typeof v === 'object') return `{${Object.keys(v).sort().map((k) => `${JSON.stringify(k)}:${sortedJson(v[k])}`).join(',')}}`;
  return JSON.stringify(v ?? null);
}

/**
 * Warnings for a config write that would undo what a route's controller did. The controller
 * state belongs to the route's strategy (its fingerprint): a write that changes the strategy
 * of a rolled-back canary or rolling route starts it afresh, putting traffic back on the
 * origin that was rolled back; on an A/B route it gives the arms the guard drained their
 * traffic back. A write that leaves the strategy as it is keeps the state (a note says so).
 * `stats` maps route names to their stats documents. Returns
 * [{route, tone: 'bad'|'warn'|'note', text}].
 */
export function rollbackUndo(oldConfig, newConfig, stats) {
  const out = [];
  for (const r of Array.isArray(newConfig?.routes) ? newConfig.routes : []) {
    const name = r?.name;
    const before = configRoute(oldConfig, name);
    const c = stats?.[name]?.controller;
    if (!before || !c || typeof c !== 'object') continue;
    const drained = Array.isArray(c.drained) ? c.drained.filter((x) => typeof x === 'string') : [];
    if (!c.rolled_back && !drained.length) continue;
    const why = typeof c.reason === 'string' && c.reason ? ` (${c.reason})` : '';
    const olds = before.strategy ?? {};
    const news = r.strategy ?? {};
    if (sortedJson(olds) === sortedJson(news)) {
      out.push({ route: name, tone: 'note', text: `"${name}" stays ${c.rolled_back ? 'rolled back' : `with ${drained.join(', ')} drained`}: this write leaves its strategy as it is.` });
      continue;
    }
    if (c.rolled_back) {
      const target = news.kind === 'canary' ? news.canary : news.kind === 'rolling' ? news.to : null;
      const wasOrigin = olds.kind === 'canary' ? olds.canary : olds.kind === 'rolling' ? olds.to : null;
      const share = news.kind === 'canary' ? (isNum(news.percent) ? news.percent : null)
        : news.kind === 'rolling' && isNum(news.batches) && news.batches > 0 ? (100 * (isNum(news.completed) ? news.completed : 0)) / news.batches : null;
      if (target && share !== null && share > 0) {
        out.push({
          route: name,
          tone: 'bad',
          text: `This write undoes the rollback of "${name}"${why}: its strategy changes, so the controller starts it afresh with ` +
            `${+share.toFixed(4)}% of its traffic on ${target}${target === wasOrigin ? ', the same origin that was rolled back' : ''}.`,
        });
      } else {
        out.push({ route: name, tone: 'warn', text: `"${name}" was rolled back${why}; this write changes its strategy, which starts without the rollback.` });
      }
    } else {
      const arms = (Array.isArray(news.arms) ? news.arms : []).filter((a) => drained.includes(a?.name) && isNum(a.weight) && a.weight > 0).map((a) => a.name);
      out.push({
        route: name,
        tone: arms.length ? 'bad' : 'warn',
        text: arms.length
          ? `This write undoes the guard on "${name}"${why}: its strategy changes, so ${arms.join(', ')} ${arms.length > 1 ? 'get' : 'gets'} traffic again.`
          : `The guard drained ${drained.join(', ')} on "${name}"${why}; this write changes its strategy, which starts without that state.`,
      });
    }
  }
  return out;
}

/** A small valid config for an empty editor: two origins and a guarded canary with steps. */
export const CONFIG_TEMPLATE = `{
  "version": 1,
  "description": "Template: point the origins at your model servers, name the route, then Review and Apply.",
  "origins": {
    "model-v1": { "url": "https://model-v1.example.com", "timeout_ms": 5000 },
    "model-v2": { "url": "https://model-v2.example.com", "timeout_ms": 5000 }
  },
  "routes": [
    {
      "name": "predict",
      "match": { "path_prefix": "/v1/predict", "methods": ["POST"] },
      "unit": [{ "header": "x-user-id" }],
      "strategy": {
        "kind": "canary",
        "stable": "model-v1",
        "canary": "model-v2",
        "percent": 5,
        "steps": [{ "percent": 25, "hold_s": 600 }, { "percent": 100, "hold_s": 600 }],
        "guard": { "max_error_rate": 0.02, "max_p95_latency_ratio": 1.5, "min_requests": 100 }
      }
    }
  ]
}
`;

/**
 * A canary's release pipeline (the stats document's `pipeline`) as stages to draw: each with
 * its label, what gates or holds it, and whether it is done, the current one, failed (rolled
 * back there) or still ahead; the headline and what the route waits for. `null` for a route
 * without a pipeline (any strategy but `canary`).
 */
export function pipelineView(p) {
  if (!p || !Array.isArray(p.stages) || !p.stages.length) return null;
  const cur = Number.isInteger(p.current) ? Math.min(Math.max(p.current, 0), p.stages.length - 1) : 0;
  const stateOf = (i) => {
    if (p.status === 'promoted') return 'done';
    if (i < cur) return 'done';
    if (i > cur) return 'next';
    return p.status === 'rolled_back' ? 'failed' : 'current';
  };
  const stages = p.stages.map((s, i) => ({ name: s.name, label: stageLabel(s), detail: stageDetail(s), state: stateOf(i) }));
  const at = stages[cur].label;
  const headline = {
    promoted: 'Promoted: the candidate serves every unit',
    rolled_back: `Rolled back at ${at}`,
    starting: 'Starting',
  }[p.status] ?? `At ${at}`;
  return { stages, status: p.status ?? 'waiting', headline, waiting: p.waiting_for ?? null };
}

function stageLabel(s) {
  if (s.name === 'shadow') return 'Shadow: mirrored only';
  if (s.name === 'promoted') return 'Promoted · 100%';
  const n = /^step (\d+)$/.exec(s.name ?? '');
  return `${n ? `Step ${n[1]}` : s.name} · ${isNum(s.percent) ? `${s.percent}%` : DASH}`;
}

function stageDetail(s) {
  const parts = [];
  const g = s.gate ?? {};
  if (s.name === 'shadow') {
    if (isNum(s.mirror_percent)) parts.push(`${s.mirror_percent}% mirrored`);
    if (isNum(g.min_agreement)) parts.push(`gate: agreement ≥ ${fmtPct(g.min_agreement, 0)} over ${g.min_observations ?? DASH} compared responses`);
  }
  if (isNum(s.hold_s) && s.hold_s > 0) parts.push(`hold ${fmtDuration(s.hold_s * 1000)}`);
  if (g.promote) {
    const m = g.promote.margin ?? {};
    const margins = [
      isNum(m.error_rate) && `error rate +${fmtPP(m.error_rate).replace(/^\+/, '')}`,
      isNum(m.latency_ratio) && `latency ×${m.latency_ratio}`,
      isNum(m.reward) && `reward −${m.reward}`,
    ].filter(Boolean);
    parts.push(`promotion gate: not worse than stable by ${margins.join(', ') || 'its margins'}`);
  }
  return parts.join('; ');
}
