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
    verdict: verdict(arms, exp, alpha, srmWarning(exp, d.strategy, d.controller ?? null), releaseState(d)),
    rolledBack: releaseState(d).rolledBack,
    paused: releaseState(d).paused,
    configState: d.config && typeof d.config === 'object' ? d.config : null,
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
export function verdict(arms, exp, alpha = 0.05, srm = srmWarning(exp), state = null) {
  if (!exp) return { leader: null, significant: false, text: 'No experiment on this route.' };
  if (state?.rolledBack) {
    // After a rollback no arm "leads": the canary lost by definition, whatever the rates say.
    return {
      leader: null,
      significant: false,
      rolledBack: true,
      text: `Canary rolled back${state.reason ? ` (${state.reason})` : ''}: no winner is declared and all traffic is on stable. ` +
        'The comparison below covers the traffic before the rollback and is for diagnosis only.',
    };
  }
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

/** Arm names of a route in config order (canary: stable, canary; others: their arms). */
export function configArms(config, name) {
  const st = configRoute(config, name)?.strategy ?? {};
  if (st.kind === 'canary') return ['stable', 'canary'];
  if (Array.isArray(st.arms)) return st.arms.map((a) => a?.name).filter((n) => typeof n === 'string');
  if (st.kind === 'blue_green') return ['blue', 'green'];
  if (st.kind === 'rolling') return ['from', 'to'];
  return [];
}

/** Requests per minute over the last `minutes` buckets of a series document (null without data). */
export function recentRate(series, minutes = 5) {
  const ms = Array.isArray(series?.minutes) ? series.minutes : [];
  if (!ms.length) return null;
  const last = ms.slice(-minutes);
  const total = last.reduce((s, m) => s + Object.values(m?.arms ?? {}).reduce((a, x) => a + (isNum(x?.requests) ? x.requests : 0), 0), 0);
  return total / last.length;
}

/**
 * One overview line for a route: state (with a tone), traffic, error rate per arm (flagged
 * above the guard, or 5 % without one), canary step and share, and the alerts to show.
 * `doc` is the stats document (null when it could not be read), `config` the document in KV.
 */
export function healthLine(route, doc, series, config) {
  const name = route.name;
  const strategy = route.strategy ?? doc?.strategy ?? null;
  const guard = routeGuard(config, name);
  const st = releaseState(doc);
  const alerts = [];
  const limit = guard.maxErrorRate ?? DEFAULT_MAX_ERROR_RATE;
  const limitText = guard.maxErrorRate !== null ? `guard ${fmtPct(limit)}` : `${fmtPct(limit, 0)}`;
  const arms = Object.entries(doc?.arms ?? {}).map(([arm, a]) => {
    const requests = isNum(a?.requests) ? a.requests : 0;
    const rate = isNum(a?.error_rate) ? a.error_rate : null;
    const bad = rate !== null && requests >= MIN_REQUESTS_TO_FLAG && rate > limit;
    if (bad) alerts.push({ tone: 'bad', text: `${arm} error rate ${fmtPct(rate)} above ${limitText}` });
    return { arm, requests, errorRate: rate, bad };
  });
  const total = arms.reduce((s, a) => s + a.requests, 0);
  if (st.rolledBack) alerts.unshift({ tone: 'bad', text: `Rolled back${st.reason ? `: ${st.reason}` : ''}` });
  if (st.paused) alerts.push({ tone: 'warn', text: `Paused${st.pausedReason ? `: ${st.pausedReason}` : ''}` });
  const srm = srmWarning(doc?.experiment, strategy, doc?.controller ?? null);
  if (srm?.severity === 'alarm') alerts.push({ tone: 'bad', text: 'Sample ratio mismatch' });
  for (const [origin, s] of Object.entries(doc?.shadows ?? {})) {
    const agree = isNum(s?.normalised_agreement) ? s.normalised_agreement : (isNum(s?.status_agreement) ? s.status_agreement : null);
    if (agree !== null && (s?.observations ?? 0) >= MIN_REQUESTS_TO_FLAG && agree < MIN_SHADOW_AGREEMENT) {
      alerts.push({ tone: 'bad', text: `Shadow ${origin} agreement ${fmtPct(agree)}` });
    }
  }
  if (doc?.config && doc.config.valid === false) {
    alerts.push({ tone: 'bad', text: `Config ${doc.config.id ?? ''} invalid${doc.config.last_valid_id ? `; serving ${doc.config.last_valid_id}` : ''}`.trim() });
  }
  let state;
  if (!doc) state = { label: 'No stats', tone: 'idle' };
  else if (st.rolledBack) state = { label: 'Rolled back', tone: 'bad' };
  else if (st.paused) state = { label: 'Paused', tone: 'warn' };
  else if (st.promoted) state = { label: 'Promoted', tone: 'ok' };
  else if (total === 0) state = { label: 'No traffic', tone: 'idle' };
  else if (alerts.some((a) => a.tone === 'bad')) state = { label: 'Unhealthy', tone: 'bad' };
  else if (strategy === 'canary') state = { label: st.canaryPercent !== null && st.canaryPercent >= 100 ? 'Complete' : 'Rolling out', tone: 'ok' };
  else state = { label: 'Healthy', tone: 'ok' };
  let canary = null;
  if (strategy === 'canary') {
    const pct = st.canaryPercent ?? guard.percent;
    const steps = guard.steps.length;
    canary = {
      percent: pct,
      text: `${isNum(pct) ? `${+pct.toFixed(2)}%` : DASH}${steps ? ` · step ${st.step ?? 0}/${steps}` : (st.step !== null ? ` · step ${st.step}` : '')}`,
    };
  }
  return { name, strategy, strategyLabel: strategyLabel(strategy), state, total, perMin: recentRate(series), arms, canary, alerts };
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

/** The time span every chart of a route shares: first bucket to the end of the last one. */
export function seriesDomain(series, now = null) {
  const ts = [];
  const bucket = isNum(series?.bucket_ms) ? series.bucket_ms : 60_000;
  for (const m of series?.minutes ?? []) if (isNum(m?.t)) { ts.push(m.t); ts.push(m.t + bucket); }
  for (const e of [...(series?.events ?? []), ...(series?.canary ?? []), ...(series?.weights ?? [])]) if (isNum(e?.at)) ts.push(e.at);
  if (!ts.length) return null;
  const hi = Math.max(...ts);
  return [Math.min(...ts), isNum(now) && now > hi && now - hi < 10 * bucket ? now : hi];
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

const EVENT_LABEL = { step: 'Step', rollback: 'Rollback', resume: 'Resume', promote: 'Promote', pause: 'Pause', srm: 'SRM alarm', config: 'Config change' };

/** Controller events as chart marks (rollbacks, steps, resumes, promotions, pauses…). */
export function eventMarks(series) {
  return (series?.events ?? []).filter((e) => isNum(e?.at)).map((e) => ({
    t: e.at,
    kind: typeof e.kind === 'string' ? e.kind : 'event',
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
