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
 * SRM banner model: null when there is nothing to warn about. On a canary whose controller
 * has moved the split (steps, rollback), the worker tests all-time counts against the
 * *current* percent, so a mismatch there is expected: it becomes a note, not an alarm.
 */
export function srmWarning(experiment, strategy = null, controller = null) {
  const srm = experiment?.srm;
  if (!srm || !srm.mismatch) return null;
  if (strategy === 'canary' && controller && (controller.rolled_back || controller.step > 0)) {
    return {
      severity: 'note',
      text: 'The traffic split changed during this rollout (steps or rollback), so the sample-ratio check ' +
        'against the current canary percent reports a mismatch; it is expected here and not a bug in assignment.',
    };
  }
  return {
    severity: 'alarm',
    text:
      `Sample ratio mismatch: traffic split differs from the configured weights ` +
      `(χ² = ${fmtStat(srm.chi2)}, df = ${isNum(srm.df) ? srm.df : DASH}, p ${fmtP(srm.p_value).startsWith('<') ? '' : '= '}${fmtP(srm.p_value)}). ` +
      `Results are unreliable until the cause is found.`,
  };
}

function latency(a) {
  const l = a?.latency_ms ?? {};
  return { p50: l.p50 ?? null, p95: l.p95 ?? null, p99: l.p99 ?? null, mean: l.mean ?? null };
}

/**
 * Summary model of a route's statistics document: everything the route view shows, with
 * every missing number as null (formatters turn null into "—", never NaN/undefined).
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
  const controlN = exp?.control ? armConversions(rawArms[exp.control]).n : 0;

  const arms = names.map((name) => {
    const a = rawArms[name] ?? {};
    const cmp = exp?.arms?.[name]?.comparison ?? null;
    const seq = exp?.arms?.[name]?.sequential ?? null;
    const isControl = exp?.control === name;
    let rate = null;
    let ci = null;
    let n = null;
    if (cmp) {
      rate = isNum(cmp.rate) && cmp.n > 0 ? cmp.rate : null;
      ci = cmp.ci95 ?? null;
      n = isNum(cmp.n) ? cmp.n : null;
    } else if (exp) {
      const c = armConversions(a);
      n = c.n;
      rate = c.n > 0 ? (isControl && isNum(exp.control_rate) ? exp.control_rate : c.conversions / c.n) : null;
      ci = wilson(c.n, c.conversions);
    }
    const controlRate = isNum(exp?.control_rate) ? exp.control_rate : null;
    const diff = cmp?.z_test && isNum(cmp.z_test.diff) ? cmp.z_test.diff : null;
    const avP = isNum(seq?.always_valid_p_value) ? seq.always_valid_p_value : null;
    return {
      name,
      isControl,
      requests: isNum(a.requests) ? a.requests : 0,
      errors: isNum(a.errors) ? a.errors : 0,
      errorRate: isNum(a.error_rate) ? a.error_rate : null,
      latency: latency(a),
      rewardCount: isNum(a.rewards?.count) ? a.rewards.count : 0,
      rewardMean: isNum(a.rewards?.mean) ? a.rewards.mean : null,
      n,
      rate,
      ci,
      diff,
      diffCi: cmp?.z_test?.diff_ci ?? null,
      lift: diff !== null && controlRate ? diff / controlRate : null,
      zP: isNum(cmp?.z_test?.p_value) ? cmp.z_test.p_value : null,
      avP,
      significant: avP !== null ? avP <= alpha : false,
      looks: isNum(seq?.looks) ? seq.looks : 0,
      // The worker reports 0.5 for empty arms (the prior); without data that is not a result.
      probBeat: isNum(cmp?.prob_beat_control) && cmp.n > 0 && controlN > 0 ? cmp.prob_beat_control : null,
      weight: weights && isNum(weights[name]) ? weights[name] : null,
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

  return {
    route: typeof d.route === 'string' ? d.route : '',
    strategy: typeof d.strategy === 'string' ? d.strategy : null,
    strategyLabel: strategyLabel(d.strategy),
    hasData: totalRequests > 0,
    totalRequests,
    updated: fmtAgo(d.updated_ms, now),
    lastTick: fmtAgo(d.last_tick_ms, now),
    arms,
    experiment: exp ? { control: exp.control ?? null, alpha, controlRate: isNum(exp.control_rate) ? exp.control_rate : null } : null,
    verdict: verdict(arms, exp, alpha, srmWarning(exp, d.strategy, d.controller ?? null)),
    srm: srmWarning(exp, d.strategy, d.controller ?? null),
    controller: controllerText(d.controller ?? null, d.strategy),
    canRollBack: d.strategy === 'canary' && !d.controller?.rolled_back,
    weights: weights
      ? names.filter((n) => isNum(weights[n])).map((n) => ({ arm: n, weight: Math.min(1, Math.max(0, weights[n])) }))
      : [],
    shadows,
  };
}

/**
 * The experiment's one-line verdict: which arm leads, and whether the always-valid
 * (sequential) test says the difference is real. `leader` is null without data.
 */
export function verdict(arms, exp, alpha = 0.05, srm = srmWarning(exp)) {
  if (!exp) return { leader: null, significant: false, text: 'No experiment on this route.' };
  if (arms.every((a) => a.requests === 0 && a.rewardCount === 0)) {
    return { leader: null, significant: false, text: 'Not enough data yet: each arm needs traffic and feedback.' };
  }
  if (arms.every((a) => a.rewardCount === 0)) {
    return { leader: null, significant: false, text: 'No feedback yet: conversion rates need rewards posted to /_switchyard/feedback.' };
  }
  const rated = arms.filter((a) => a.rate !== null && a.n > 0);
  if (rated.length < 2) {
    return { leader: null, significant: false, text: 'Not enough data yet: each arm needs traffic and feedback.' };
  }
  const leader = rated.reduce((b, a) => (a.rate > b.rate ? a : b));
  const sig = arms.filter((a) => !a.isControl && a.significant);
  if (srm?.severity === 'alarm') {
    return { leader: leader.name, significant: false, text: `"${leader.name}" leads, but the sample ratio mismatch makes this unreliable.` };
  }
  if (leader.isControl) {
    const worse = sig.map((a) => a.name);
    return {
      leader: leader.name,
      significant: worse.length > 0,
      text: worse.length
        ? `Control "${leader.name}" leads; ${worse.join(', ')} significantly worse (always-valid p ≤ ${alpha}).`
        : `Control "${leader.name}" leads; no arm differs significantly yet (always-valid p > ${alpha}).`,
    };
  }
  return {
    leader: leader.name,
    significant: leader.significant,
    text: leader.significant
      ? `"${leader.name}" beats control, significant under the always-valid test (p = ${fmtP(leader.avP)} ≤ ${alpha}).`
      : `"${leader.name}" leads, not significant yet (always-valid p ${leader.avP === null ? 'not computed' : `= ${fmtP(leader.avP)}`}); keep collecting.`,
  };
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
  if (status === 401) return `Unauthorized: set the admin token. ${msg}`.trim();
  if (status === 403) return `Forbidden: this token's role is too low. ${msg}`.trim();
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

/** Arms table: header labels and one row of strings per arm. */
export function armRows(m) {
  const exp = !!m.experiment;
  const headers = ['Arm', 'Requests', 'Error rate', 'p50', 'p95', 'p99', 'Rewards', 'Mean reward'];
  if (exp) headers.push('Conversion', '95% CI');
  const rows = m.arms.map((a) => {
    const row = [a.isControl ? `${a.name} (control)` : a.name, fmtInt(a.requests), fmtPct(a.errorRate, 2),
      fmtMs(a.latency.p50), fmtMs(a.latency.p95), fmtMs(a.latency.p99), fmtInt(a.rewardCount), fmtNum(a.rewardMean, 3)];
    if (exp) row.push(fmtPct(a.rate, 2), fmtInterval(a.ci, (x) => fmtPct(x, 2)));
    return row;
  });
  return { headers, rows };
}

/** Experiment comparisons: one row per non-control arm. */
export function comparisonRows(m) {
  const headers = ['Arm', 'Lift', 'Diff', 'z-test p', 'Always-valid p', 'P(beat control)', 'Looks'];
  const rows = m.arms.filter((a) => !a.isControl).map((a) => [
    a.name, fmtLift(a.lift), fmtPP(a.diff), fmtP(a.zP),
    `${fmtP(a.avP)}${a.significant ? ' ✓ significant' : ''}`, fmtPct(a.probBeat, 1), fmtInt(a.looks),
  ]);
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
