//! The seven strategies, each a pure function of (config, unit hash, request, state).
//!
//! Every strategy hashes the unit once under the route's split salt; flags and shadows use
//! their own salts (see [`crate::core::bucket`]), so the decisions are independent.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::core::bucket::{self, choose_weighted, in_share, slot};
use crate::core::config::{
    Arm, Attr, BanditAlgorithm, Flag, Op, OriginId, Route, Rule, Semver, Side, Strategy,
};
use crate::core::decision::Reason;
use crate::core::engine::{Headers, RequestView};
use crate::core::rng::Rng;

/// Controller state for a route, KV key `state:<route>`, written by the route's Durable
/// Object and read by the edge. Ignored unless `fingerprint` equals the route's current
/// strategy fingerprint, so editing the route in the config starts it afresh.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RouteState {
    pub fingerprint: String,
    /// Canary share now in force, in percent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canary_percent: Option<f64>,
    /// Index of the canary step in force.
    #[serde(default)]
    pub step: usize,
    #[serde(default)]
    pub step_started_ms: u64,
    #[serde(default)]
    pub rolled_back: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Rolling batches completed now in force.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completed: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paused: Option<String>,
    #[serde(default)]
    pub updated_ms: u64,
    /// A/B arms taken out of the split by the route's health guard (`guard` on an `ab`
    /// strategy): the edge gives them no traffic until an operator resumes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub drained: Vec<String>,
    /// Bandit arm an operator promoted to the whole route (`POST /promote/<route>`): the
    /// learner stops recomputing weights until it is resumed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub promoted_arm: Option<String>,
    /// Last operator action on the route (`rollback`, `resume`, `promote`) and when.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_action: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_action_ms: Option<u64>,
}

impl RouteState {
    pub fn parse(text: &str) -> Result<RouteState, String> {
        serde_json::from_str(text).map_err(|e| format!("invalid route state: {e}"))
    }
}

/// Bandit weights, KV key `weights:<route>`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Weights {
    pub arms: BTreeMap<String, f64>,
    #[serde(default)]
    pub updated_ms: u64,
    /// Arms exempt from the `min_share` floor: drained by the health guard (they keep a small
    /// probe share) or left behind by an operator's promotion (share 0).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub drained: Vec<String>,
}

impl Weights {
    pub fn parse(text: &str) -> Result<Weights, String> {
        serde_json::from_str(text).map_err(|e| format!("invalid weights: {e}"))
    }

    /// Weights aligned with `arms`: unknown names ignored, missing, negative or non-finite
    /// ones treated as 0, then every arm not listed in `drained` raised to `min_share` and
    /// the total normalised to 1 ([`apply_floor`]). Equal weights when nothing usable is left.
    pub fn resolve(&self, arms: &[Arm], min_share: f64) -> Vec<f64> {
        let raw: Vec<f64> = arms
            .iter()
            .map(|a| match self.arms.get(&a.name) {
                Some(w) if w.is_finite() && *w > 0.0 => *w,
                _ => 0.0,
            })
            .collect();
        let exempt: Vec<bool> = arms
            .iter()
            .map(|a| self.drained.contains(&a.name))
            .collect();
        apply_floor(raw, min_share, &exempt)
    }
}

/// The one floor used by the learner and the edge. Normalises `w` to sum 1 (negative and
/// non-finite entries count as 0; equal weights when nothing is left), then raises every arm
/// not marked in `exempt` to at least `min_share` by mixing with the uniform split over those
/// arms: with `e` the exempt arms' share, `m` the number of floored arms and
/// `f = clamp(min_share, 0, (1 - e) / m)`, a floored arm's weight becomes
/// `f + (1 - e - m f) w / (1 - e)`. Exempt arms (drained, or promoted away) keep their share,
/// which may be below the floor; without exempt arms this is `f + (1 - k f) w`.
#[allow(clippy::neg_cmp_op_on_partial_ord)] // `!(x > 0.0)` is also true for NaN
pub fn apply_floor(mut w: Vec<f64>, min_share: f64, exempt: &[bool]) -> Vec<f64> {
    let k = w.len();
    if k == 0 {
        return w;
    }
    for x in w.iter_mut() {
        if !(x.is_finite() && *x > 0.0) {
            *x = 0.0;
        }
    }
    let total: f64 = w.iter().sum();
    if !(total > 0.0 && total.is_finite()) {
        return vec![1.0 / k as f64; k];
    }
    w.iter_mut().for_each(|x| *x /= total);
    let is_exempt = |i: usize| exempt.get(i).copied().unwrap_or(false);
    let m = (0..k).filter(|i| !is_exempt(*i)).count();
    let free = 1.0 - (0..k).filter(|i| is_exempt(*i)).map(|i| w[i]).sum::<f64>();
    if m == 0 || !(free > 0.0) {
        return w;
    }
    let f = if min_share.is_finite() {
        min_share.clamp(0.0, free / m as f64)
    } else {
        0.0
    };
    if f > 0.0 {
        // Keeps the order among floored arms and guarantees the floor exactly.
        let scale = (free - m as f64 * f) / free;
        for (i, x) in w.iter_mut().enumerate() {
            if !is_exempt(i) {
                *x = f + scale * *x;
            }
        }
    }
    // Renormalise away rounding so the sum is 1 to the last bit or two.
    let s: f64 = w.iter().sum();
    if s > 0.0 {
        w.iter_mut().for_each(|x| *x /= s);
    }
    w
}

/// The split in force for `route` under `state`, in ppm, as the edge routes by it: the
/// canary's share (0 once rolled back), for an A/B route `PPM` while every arm is in the
/// split and 0 once the health guard drained one, else 0. Observations carry it so that the
/// sample-ratio check only compares counts made under one split.
pub fn split_ppm(route: &Route, state: Option<&RouteState>) -> u32 {
    let state = state.filter(|s| s.fingerprint == route.fingerprint);
    match &route.strategy {
        Strategy::Canary { percent_ppm, .. } => match state {
            Some(s) if s.rolled_back => 0,
            Some(s) => s
                .canary_percent
                .and_then(crate::core::config::percent_to_ppm_lenient)
                .unwrap_or(*percent_ppm),
            None => *percent_ppm,
        },
        Strategy::Ab { .. } => match state {
            Some(s) if !s.drained.is_empty() => 0,
            _ => bucket::PPM,
        },
        _ => 0,
    }
}

/// What a strategy chose.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Choice<'c> {
    pub arm: &'c str,
    pub origin: OriginId,
    pub failover: Option<(&'c str, OriginId)>,
    pub reason: Reason,
}

/// Inputs that come from KV rather than from the config.
#[derive(Debug, Clone, Copy, Default)]
pub struct Inputs<'a> {
    /// Resolved bandit weights, aligned with the route's arms.
    pub weights: Option<&'a [f64]>,
    pub state: Option<&'a RouteState>,
}

/// Runs the route's strategy for a unit whose split hash is `h`.
pub fn choose<'c, H: Headers + ?Sized, R: Rng>(
    route: &'c Route,
    h: u64,
    unit: &str,
    req: &RequestView<'_, H>,
    inputs: Inputs<'_>,
    rng: &mut R,
) -> Choice<'c> {
    let state = inputs.state.filter(|s| s.fingerprint == route.fingerprint);
    let pick = |arm: &'c str, origin: OriginId, reason: Reason| Choice {
        arm,
        origin,
        failover: None,
        reason,
    };
    match &route.strategy {
        Strategy::Ab { arms, .. } => {
            // Arms drained by the health guard get no traffic (all of them: the configured split).
            let drained = |a: &Arm| state.is_some_and(|s| s.drained.contains(&a.name));
            let i = choose_weighted(
                h,
                arms.iter()
                    .map(|a| (a.key, if drained(a) { 0.0 } else { a.weight })),
            )
            .or_else(|| choose_weighted(h, arms.iter().map(|a| (a.key, a.weight))))
            .unwrap_or(0);
            pick(&arms[i].name, arms[i].origin, Reason::Split)
        }
        Strategy::Canary { stable, canary, .. } => {
            let share = split_ppm(route, state);
            let rolled_back = state.is_some_and(|s| s.rolled_back);
            if in_share(h, share) {
                pick("canary", *canary, Reason::CanaryIn)
            } else if rolled_back {
                pick("stable", *stable, Reason::RolledBack)
            } else {
                pick("stable", *stable, Reason::CanaryOut)
            }
        }
        Strategy::Flag { default, flags } => {
            for f in flags {
                if flag_on(&f.flag, unit, req) {
                    return pick(&f.flag.name, f.origin, Reason::FlagOn);
                }
            }
            pick("default", *default, Reason::FlagDefault)
        }
        Strategy::BlueGreen {
            blue,
            green,
            active,
            failover,
            preview_header,
        } => {
            let preview = preview_header
                .as_deref()
                .is_some_and(|name| req.headers.get(name).is_some());
            let side = if preview { other(*active) } else { *active };
            let (arm, origin) = side_origin(side, *blue, *green);
            let fo = if *failover && !preview {
                Some(side_origin(other(side), *blue, *green))
            } else {
                None
            };
            Choice {
                arm,
                origin,
                failover: fo,
                reason: if preview {
                    Reason::Preview
                } else {
                    Reason::Active
                },
            }
        }
        Strategy::Rolling {
            from,
            to,
            batches,
            completed,
            ..
        } => {
            let done = state
                .and_then(|s| s.completed)
                .unwrap_or(*completed)
                .min(*batches);
            if slot(h, *batches) < done {
                pick("to", *to, Reason::BatchMoved)
            } else {
                pick("from", *from, Reason::BatchPending)
            }
        }
        Strategy::Recreate { origin, .. } => pick("origin", *origin, Reason::Recreate),
        Strategy::Bandit { arms, sticky, .. } => {
            let (i, reason) = match inputs.weights {
                Some(w) if w.len() == arms.len() => {
                    if *sticky {
                        let keys = arms.iter().zip(w).map(|(a, w)| (a.key, *w));
                        (choose_weighted(h, keys).unwrap_or(0), Reason::BanditSticky)
                    } else {
                        (sample(w, rng), Reason::BanditSampled)
                    }
                }
                _ => {
                    let i = if *sticky {
                        choose_weighted(h, arms.iter().map(|a| (a.key, 1.0))).unwrap_or(0)
                    } else {
                        (rng.next_u64() % arms.len().max(1) as u64) as usize
                    };
                    (i, Reason::BanditWarmup)
                }
            };
            pick(&arms[i].name, arms[i].origin, reason)
        }
    }
}

fn other(side: Side) -> Side {
    match side {
        Side::Blue => Side::Green,
        Side::Green => Side::Blue,
    }
}

fn side_origin(side: Side, blue: OriginId, green: OriginId) -> (&'static str, OriginId) {
    match side {
        Side::Blue => ("blue", blue),
        Side::Green => ("green", green),
    }
}

/// Draws an index with probability proportional to `w`.
fn sample<R: Rng>(w: &[f64], rng: &mut R) -> usize {
    let total: f64 = w.iter().sum();
    let mut x = rng.next_f64() * total;
    for (i, wi) in w.iter().enumerate() {
        if x < *wi {
            return i;
        }
        x -= wi;
    }
    w.len().saturating_sub(1)
}

/// A flag is on when all its rules match and the unit is inside its rollout.
pub fn flag_on<H: Headers + ?Sized>(flag: &Flag, unit: &str, req: &RequestView<'_, H>) -> bool {
    flag.rules.iter().all(|r| rule_matches(r, req))
        && (flag.rollout_ppm >= bucket::PPM
            || in_share(bucket::hash(&flag.salt, unit), flag.rollout_ppm))
}

fn rule_matches<H: Headers + ?Sized>(rule: &Rule, req: &RequestView<'_, H>) -> bool {
    let value = match &rule.attr {
        Attr::Header(n) => req.headers.get(n),
        Attr::Cookie(n) => req.cookie(n),
        Attr::Query(n) => req.query_param(n),
        Attr::Country => req.country.map(Into::into),
    };
    let Some(value) = value else {
        return false;
    };
    let v = value.as_ref();
    match &rule.op {
        Op::Eq(x) => v == x,
        Op::In(xs) => xs.iter().any(|x| x == v),
        Op::Prefix(xs) => xs.iter().any(|x| v.starts_with(x.as_str())),
        Op::SemverGte(min) => Semver::parse(v).is_some_and(|have| have >= *min),
    }
}

/// Bandit algorithm name as configured.
pub fn algorithm_name(a: BanditAlgorithm) -> &'static str {
    match a {
        BanditAlgorithm::Thompson => "thompson",
        BanditAlgorithm::Ucb1 => "ucb1",
        BanditAlgorithm::EpsilonGreedy => "epsilon_greedy",
    }
}
