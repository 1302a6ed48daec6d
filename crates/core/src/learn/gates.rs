//! Release gates of a canary (`crate::config::Gates`), decided from what the route's object
//! has in its controller window:
//!
//! - **shadow** (first stage): the state says `stage: "shadow"` and the canary share is 0, so
//!   the edge routes every request to stable and mirrors `mirror_ppm` of them to the
//!   candidate; the gate passes once at least `min_observations` compared responses agree at
//!   `min_agreement` or better (agreement = responses within the compare spec's tolerance /
//!   compared responses; not comparable ones and failed mirrors are shown, not counted). Then
//!   the first step's share applies (`stage: "live"`). A gate that has its observations but
//!   not the agreement is `failing` and keeps waiting: the candidate never gets a live request.
//! - **steps** as the controller walks them (`super::controller`), with their guard;
//! - **promote** (on the last step): every tick, an always-valid one-sided non-inferiority test
//!   (`crate::statistics`, normal-mixture confidence sequence) of the candidate against the
//!   stable arm over the step's window, once each arm has `min_requests`: error rate
//!   (candidate − stable, margin `margin.error_rate`), latency (difference of mean log latency,
//!   margin `ln(margin.latency_ratio)`: a ratio of geometric means), and, when
//!   `margin.reward` is set and rewards arrive, reward (stable − candidate). **Worse** on any
//!   metric (lower bound above its margin, each at `alpha / k` for `k` metrics) rolls the
//!   canary back at once; **not worse** on every metric (upper bounds below their margins, each
//!   at `alpha`) promotes it to 100 % once the step's `hold_s` has passed. Otherwise it waits.
//!
//! Every decision comes with its evidence ([`GateDecision`]) for the timeline, the webhooks
//! and the audit log.

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use super::controller::{self, ArmHealth, Step};
use crate::config::{
    Gates, PromoteGate, Route, RouteState, ShadowGate, Strategy, STAGE_LIVE, STAGE_SHADOW,
};
use crate::observe::{
    bucket_bounds, ArmAggregate, LatencyHistogram, RouteAggregate, ShadowCounts, NUM_BUCKETS,
};
use crate::statistics::{
    judge_noninferiority, mean_difference, proportion_difference, Estimate, Judgement, MeanStats,
    NonInferiority,
};

/// Per-observation variance floor of log latency: the histogram's buckets are 1/8 of a
/// doubling wide above 16 ms (`ln(9/8)`), a uniform quantisation error of `w²/12`. Without it
/// two arms whose latencies all fall in one bucket would have no variance at all.
const LOG_LATENCY_VAR_FLOOR: f64 = 0.117_783_035_656_383_45 * 0.117_783_035_656_383_45 / 12.0;

/// One gate decision and the evidence it rests on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GateDecision {
    /// `shadow` or `promote`.
    pub gate: String,
    /// Shadow: `waiting` (too few compared responses), `failing`, `passed`. Promote:
    /// `waiting` (too few requests), `undecided`, `not_worse`, `worse`.
    pub verdict: String,
    /// One line for people: what decided it, with the numbers.
    pub summary: String,
    /// The numbers, for machines (the webhook's `detail`, the audit entry, the timeline).
    pub evidence: Value,
    #[serde(default)]
    pub at_ms: u64,
}

impl GateDecision {
    fn new(gate: &str, verdict: &str, summary: String, mut evidence: Value, at_ms: u64) -> Self {
        if let Value::Object(m) = &mut evidence {
            m.insert("gate".into(), json!(gate));
            m.insert("verdict".into(), json!(verdict));
            m.insert("summary".into(), json!(summary));
        }
        GateDecision {
            gate: gate.into(),
            verdict: verdict.into(),
            summary,
            evidence,
            at_ms,
        }
    }
}

/// The shadow gate's verdict over the candidate's shadow counts in the window.
pub fn shadow_verdict(g: &ShadowGate, counts: Option<&ShadowCounts>, now_ms: u64) -> GateDecision {
    let c = counts.copied().unwrap_or_default();
    let (compared, agreeing) = (c.payload_compared, c.payload_normalised);
    let agreement = (compared > 0).then(|| agreeing as f64 / compared as f64);
    let shown = agreement.map_or("none yet".to_string(), |a| format!("{a:.3}"));
    let evidence = json!({
        "origin": g.origin,
        "observations": c.observations,
        "compared": compared,
        "agreeing": agreeing,
        "agreement": agreement,
        "not_comparable": c.payload_not_comparable,
        "shadow_failed": c.shadow_failed,
        "min_observations": g.min_observations,
        "min_agreement": g.min_agreement,
    });
    let (verdict, summary) = if compared < g.min_observations {
        (
            "waiting",
            format!(
                "shadow gate waiting: {compared} of {} compared responses (agreement {shown})",
                g.min_observations
            ),
        )
    } else if agreement.is_some_and(|a| a >= g.min_agreement) {
        (
            "passed",
            format!(
                "shadow gate passed: agreement {shown} ≥ {} over {compared} compared responses",
                g.min_agreement
            ),
        )
    } else {
        (
            "failing",
            format!(
                "shadow gate failing: agreement {shown} < {} over {compared} compared responses",
                g.min_agreement
            ),
        )
    };
    GateDecision::new("shadow", verdict, summary, evidence, now_ms)
}

/// Mean and sample variance of ln(latency ms) from a histogram (bucket midpoints, at least
/// 0.5 ms), the variance floored at the buckets' quantisation error.
fn log_latency(h: &LatencyHistogram) -> Option<(u64, f64, f64)> {
    let mut s = MeanStats::default();
    for i in 0..NUM_BUCKETS {
        let c = h.bucket_count(i);
        if c == 0 {
            continue;
        }
        let (lo, w) = bucket_bounds(i);
        let x = (lo as f64 + (w - 1) as f64 / 2.0).max(0.5).ln();
        s.n = s.n.saturating_add(c);
        s.sum += c as f64 * x;
        s.sum_sq += c as f64 * x * x;
    }
    Some((s.n, s.mean()?, s.variance()?.max(LOG_LATENCY_VAR_FLOOR)))
}

fn judgement_json(j: &Judgement) -> Value {
    json!({
        "diff": j.estimate.diff,
        "std_error": j.estimate.variance.sqrt(),
        "margin": j.margin,
        "upper": j.upper,
        "lower": j.lower,
        "verdict": j.verdict.as_str(),
    })
}

/// The promotion gate's verdict over the last step's window (`candidate`: the canary arm,
/// `baseline`: stable). `numeric`: rewards are numeric (means), else 0/1 (rates per request).
pub fn promote_verdict(
    g: &PromoteGate,
    candidate: Option<&ArmAggregate>,
    baseline: Option<&ArmAggregate>,
    numeric: bool,
    now_ms: u64,
) -> GateDecision {
    let empty = ArmAggregate::default();
    let (c, b) = (candidate.unwrap_or(&empty), baseline.unwrap_or(&empty));
    let mut evidence = json!({
        "alpha": g.alpha,
        "min_requests": g.min_requests,
        "requests": { "canary": c.requests, "stable": b.requests },
        "errors": { "canary": c.errors(), "stable": b.errors() },
    });
    if c.requests < g.min_requests || b.requests < g.min_requests {
        let summary = format!(
            "promotion gate waiting: {} requests per arm (canary {}, stable {})",
            g.min_requests, c.requests, b.requests
        );
        return GateDecision::new("promote", "waiting", summary, evidence, now_ms);
    }
    // (name, estimate, margin, how to show it)
    let mut metrics: Vec<(&str, Option<Estimate>, f64)> = vec![(
        "error_rate",
        proportion_difference((c.errors(), c.requests), (b.errors(), b.requests)),
        g.margin.error_rate,
    )];
    let lat = match (log_latency(&c.latency), log_latency(&b.latency)) {
        (Some(lc), Some(lb)) => mean_difference(lc, lb),
        _ => None,
    };
    metrics.push(("latency", lat, g.margin.latency_ratio.ln()));
    if let Some(m) = g.margin.reward {
        if c.reward_count > 0 || b.reward_count > 0 {
            let est = if numeric {
                let stats = |a: &ArmAggregate| {
                    let s = MeanStats::new(a.reward_count, a.reward_sum, a.reward_sq_sum);
                    Some((s.n, s.mean()?, s.variance()?))
                };
                match (stats(b), stats(c)) {
                    (Some(sb), Some(sc)) => mean_difference(sb, sc),
                    _ => None,
                }
            } else {
                let conv =
                    |a: &ArmAggregate| (a.reward_sum.max(0.0).round() as u64).min(a.requests);
                proportion_difference((conv(b), b.requests), (conv(c), c.requests))
            };
            metrics.push(("reward", est, m));
        }
    }
    let k = metrics.len() as f64;
    let mut judged = Map::new();
    let mut parts = Vec::new();
    let (mut all_not_worse, mut any_worse) = (true, false);
    for (name, est, margin) in &metrics {
        let j = est.and_then(|e| judge_noninferiority(e, *margin, g.alpha, g.alpha / k));
        let Some(j) = j else {
            all_not_worse = false;
            judged.insert((*name).into(), json!({ "verdict": "no_estimate" }));
            continue;
        };
        let mut v = judgement_json(&j);
        let shown = if *name == "latency" {
            let r = |x: f64| x.exp();
            v["ratio"] = json!(r(j.estimate.diff));
            v["margin_ratio"] = json!(g.margin.latency_ratio);
            v["upper_ratio"] = json!(r(j.upper));
            v["lower_ratio"] = json!(r(j.lower));
            format!(
                "latency ×{:.3} (bounds ×{:.3}..×{:.3}, margin ×{})",
                r(j.estimate.diff),
                r(j.lower),
                r(j.upper),
                g.margin.latency_ratio
            )
        } else {
            format!(
                "{} {:+.4} (bounds {:+.4}..{:+.4}, margin {})",
                name.replace('_', " "),
                j.estimate.diff,
                j.lower,
                j.upper,
                margin
            )
        };
        parts.push(shown);
        match j.verdict {
            NonInferiority::Worse => any_worse = true,
            NonInferiority::NotWorse => {}
            NonInferiority::Undecided => all_not_worse = false,
        }
        judged.insert((*name).into(), v);
    }
    evidence["metrics"] = Value::Object(judged);
    let (verdict, what) = if any_worse {
        ("worse", "worse than stable beyond the margin")
    } else if all_not_worse {
        ("not_worse", "not worse than stable by the margin")
    } else {
        ("undecided", "undecided")
    };
    let summary = format!("promotion gate: {what}: {}", parts.join("; "));
    GateDecision::new("promote", verdict, summary, evidence, now_ms)
}

/// What the gates and the controller decide for a canary with `gates`: the next state (if it
/// changes) and the gate decision made on the way (if a gate judged). `window`: the
/// controller's window (this step, this epoch); `numeric`: rewards are numeric.
pub fn next(
    route: &Route,
    gates: &Gates,
    current: Option<&RouteState>,
    window: &RouteAggregate,
    numeric: bool,
    now_ms: u64,
) -> (Option<Step>, Option<GateDecision>) {
    let Strategy::Canary {
        percent_ppm,
        steps,
        guard,
        ..
    } = &route.strategy
    else {
        return (None, None);
    };
    let health = |arm: &str| arm_health(window.arm(arm));
    let cur = current.filter(|s| s.fingerprint == route.fingerprint);
    let Some(cur) = cur else {
        if gates.shadow.is_some() {
            let state = RouteState {
                fingerprint: route.fingerprint.clone(),
                canary_percent: Some(0.0),
                stage: Some(STAGE_SHADOW.into()),
                reason: Some("shadow gate: the candidate receives mirrored traffic only".into()),
                step_started_ms: now_ms,
                updated_ms: now_ms,
                ..Default::default()
            };
            return (
                Some(Step {
                    state,
                    reset_window: true,
                }),
                None,
            );
        }
        return (controller::next(route, None, &health, now_ms), None);
    };
    if cur.rolled_back {
        return (None, None);
    }
    if cur.stage.as_deref() == Some(STAGE_SHADOW) {
        let Some(sg) = &gates.shadow else {
            return (controller::next(route, Some(cur), &health, now_ms), None);
        };
        let d = shadow_verdict(sg, window.shadows.get(&sg.origin), now_ms);
        if d.verdict != "passed" {
            return (None, Some(d));
        }
        let first = steps.first().map_or(*percent_ppm, |s| s.percent_ppm);
        let pct = f64::from(first) / 10_000.0;
        let state = RouteState {
            canary_percent: Some(pct),
            stage: Some(STAGE_LIVE.into()),
            step: 0,
            step_started_ms: now_ms,
            updated_ms: now_ms,
            reason: Some(format!("{}; live traffic at {pct}%", d.summary)),
            ..cur.clone()
        };
        return (
            Some(Step {
                state,
                reset_window: true,
            }),
            Some(d),
        );
    }
    let last = steps.len().saturating_sub(1);
    let Some(pg) = gates
        .promote
        .as_ref()
        .filter(|_| cur.step == last && cur.canary_percent.is_none_or(|p| p < 100.0))
    else {
        return (controller::next(route, Some(cur), &health, now_ms), None);
    };
    // The last step: the guard first, as on every step, then the promotion gate.
    let rollback = |reason: String| Step {
        state: RouteState {
            canary_percent: Some(0.0),
            rolled_back: true,
            reason: Some(format!("canary rolled back: {reason}")),
            updated_ms: now_ms,
            ..cur.clone()
        },
        reset_window: true,
    };
    if let Some(g) = guard {
        if let Some(why) = controller::breach(g, &health("canary"), &health("stable")) {
            return (Some(rollback(why)), None);
        }
    }
    let d = promote_verdict(
        pg,
        window.arm("canary"),
        window.arm("stable"),
        numeric,
        now_ms,
    );
    let hold_ms = steps
        .get(cur.step)
        .map_or(0, |s| u64::from(s.hold_s) * 1000);
    let held = now_ms.saturating_sub(cur.step_started_ms) >= hold_ms;
    match d.verdict.as_str() {
        "worse" => (Some(rollback(d.summary.clone())), Some(d)),
        "not_worse" if held => {
            let state = RouteState {
                canary_percent: Some(100.0),
                step: cur.step + 1,
                step_started_ms: now_ms,
                updated_ms: now_ms,
                reason: Some(format!("canary promoted to 100%: {}", d.summary)),
                ..cur.clone()
            };
            (
                Some(Step {
                    state,
                    reset_window: true,
                }),
                Some(d),
            )
        }
        _ => (None, Some(d)),
    }
}

fn arm_health(a: Option<&ArmAggregate>) -> ArmHealth {
    a.map_or(ArmHealth::default(), |a| ArmHealth {
        requests: a.requests,
        errors: a.errors(),
        p95_ms: a.latency.p95(),
    })
}

/// The release pipeline of a canary for the stats document: its stages (shadow gate, each
/// step, the promotion gate on the last one, promoted), the one the route is at, and what it
/// waits for. `decisions`: the last decision of each gate.
pub fn pipeline(
    route: &Route,
    state: Option<&RouteState>,
    decisions: &[GateDecision],
    now_ms: u64,
) -> Option<Value> {
    let Strategy::Canary {
        percent_ppm,
        steps,
        gates,
        ..
    } = &route.strategy
    else {
        return None;
    };
    let gates = gates.as_deref();
    let st = state.filter(|s| s.fingerprint == route.fingerprint);
    let shadow_gate = gates.and_then(|g| g.shadow.as_ref());
    let promote_gate = gates.and_then(|g| g.promote.as_ref());
    let mut stages = Vec::new();
    if let Some(g) = shadow_gate {
        stages.push(json!({
            "name": "shadow",
            "percent": 0,
            "mirror_percent": f64::from(g.mirror_ppm) / 10_000.0,
            "gate": { "min_observations": g.min_observations, "min_agreement": g.min_agreement },
        }));
    }
    let shares: Vec<(u32, u32)> = if steps.is_empty() {
        vec![(*percent_ppm, 0)]
    } else {
        steps.iter().map(|s| (s.percent_ppm, s.hold_s)).collect()
    };
    let first_step = stages.len();
    for (i, (ppm, hold)) in shares.iter().enumerate() {
        let mut s = json!({
            "name": format!("step {}", i + 1),
            "percent": f64::from(*ppm) / 10_000.0,
            "hold_s": hold,
        });
        if i + 1 == shares.len() {
            if let Some(g) = promote_gate {
                s["gate"] = json!({
                    "promote": {
                        "margin": {
                            "error_rate": g.margin.error_rate,
                            "latency_ratio": g.margin.latency_ratio,
                            "reward": g.margin.reward,
                        },
                        "alpha": g.alpha,
                        "min_requests": g.min_requests,
                    }
                });
            }
        }
        stages.push(s);
    }
    stages.push(json!({ "name": "promoted", "percent": 100 }));
    let promoted_at = stages.len() - 1;
    let decision = |gate: &str| decisions.iter().find(|d| d.gate == gate);
    let (current, status, waiting_for) = match st {
        None => (
            0,
            "starting",
            Some("the route's object to write its first state".to_string()),
        ),
        Some(s) if s.rolled_back => (
            if s.stage.as_deref() == Some(STAGE_SHADOW) {
                0
            } else {
                (first_step + s.step).min(promoted_at)
            },
            "rolled_back",
            Some("an operator's resume (or a change of the route's strategy)".into()),
        ),
        Some(s) if s.stage.as_deref() == Some(STAGE_SHADOW) => (
            0,
            "waiting",
            Some(
                decision("shadow")
                    .map(|d| d.summary.clone())
                    .unwrap_or_else(|| "shadow comparisons".into()),
            ),
        ),
        Some(s) if s.canary_percent.is_some_and(|p| p >= 100.0) => (promoted_at, "promoted", None),
        Some(s) => {
            let at = (first_step + s.step).min(promoted_at);
            let last = s.step + 1 >= shares.len();
            let hold_ms = u64::from(shares.get(s.step).map_or(0, |x| x.1)) * 1000;
            let left = (s.step_started_ms + hold_ms).saturating_sub(now_ms);
            let why = if last && promote_gate.is_some() {
                decision("promote")
                    .map(|d| d.summary.clone())
                    .unwrap_or_else(|| "the promotion gate's evidence".into())
            } else if left > 0 {
                format!("the step's hold: {} s left", left.div_ceil(1000))
            } else {
                "guard evidence (min_requests on the canary) to pass the step".into()
            };
            (at, "waiting", Some(why))
        }
    };
    Some(json!({
        "stages": stages,
        "current": current,
        "current_name": stages.get(current).and_then(|s| s.get("name")).cloned(),
        "status": status,
        "waiting_for": waiting_for,
        "gates": decisions.iter().map(|d| (d.gate.clone(), d.evidence.clone())).collect::<Map<_, _>>(),
    }))
}
