//! `bandit`: arms weighted by `weights:<route>` (written by the learning loop, or by an
//! external trainer: [`edge_weights`]); sticky by weighted rendezvous hashing, or sampled per
//! request; equal weights during warm-up.

use super::{Choice, Cx};
use crate::base::choose_weighted;
use crate::base::Rng;
use crate::config::{with_drains, Arm, Route, RouteState, Strategy, Trainer, Weights};
use crate::routing::Reason;

pub(super) fn choose<'c, H: ?Sized, R: Rng>(
    arms: &'c [Arm],
    sticky: bool,
    cx: &mut Cx<'_, '_, H, R>,
) -> Choice<'c> {
    // Sticky (rendezvous on the weights) or sampled, an arm's chance is its weight's share.
    let (i, reason, p) = match cx.weights {
        Some(w) if w.len() == arms.len() => {
            let i = if sticky {
                let keys = arms.iter().zip(w).map(|(a, w)| (a.key, *w));
                choose_weighted(cx.h, keys).unwrap_or(0)
            } else {
                sample(w, cx.rng)
            };
            let total: f64 = w.iter().filter(|x| x.is_finite() && **x > 0.0).sum();
            let p = if total > 0.0 { w[i] / total } else { 1.0 };
            let reason = if sticky {
                Reason::BanditSticky
            } else {
                Reason::BanditSampled
            };
            (i, reason, p)
        }
        _ => {
            let i = if sticky {
                choose_weighted(cx.h, arms.iter().map(|a| (a.key, 1.0))).unwrap_or(0)
            } else {
                (cx.rng.next_u64() % arms.len().max(1) as u64) as usize
            };
            (i, Reason::BanditWarmup, 1.0 / arms.len().max(1) as f64)
        }
    };
    Choice::pick(&arms[i].name, arms[i].origin, reason, p)
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

/// How far in the future an external trainer's `updated_ms` may lie (clock skew) and still
/// count as fresh.
pub const MAX_WEIGHTS_SKEW_MS: u64 = 5 * 60 * 1000;

/// Whether weights written at `w.updated_ms` are young enough to follow: at most
/// `max_age_s` old, not unset (0), not further than [`MAX_WEIGHTS_SKEW_MS`] in the future.
pub fn weights_fresh(w: &Weights, max_age_s: u32, now_ms: u64) -> bool {
    w.updated_ms > 0
        && w.updated_ms <= now_ms.saturating_add(MAX_WEIGHTS_SKEW_MS)
        && now_ms.saturating_sub(w.updated_ms) <= u64::from(max_age_s) * 1000
}

/// The shares a bandit route is routed by, aligned with its arms; `None` routes equal
/// shares (warm-up).
/// - The learner trains (`trainer: "learner"`): `weights:<route>` as the learner wrote it,
///   drains included ([`Weights::resolve`]); `None` until the key exists.
/// - An external trainer: its `weights:<route>` while fresh ([`weights_fresh`], unknown arms
///   ignored, missing ones 0), else equal shares; then the health drains the route's
///   learner recorded in `state:<route>` and the `min_share` floor
///   ([`crate::config::with_drains`]), exactly as the learner would apply them.
pub fn edge_weights(
    route: &Route,
    weights: Option<&Weights>,
    state: Option<&RouteState>,
    now_ms: u64,
) -> Option<Vec<f64>> {
    let Strategy::Bandit {
        arms,
        min_share,
        trainer,
        max_weight_age_s,
        ..
    } = &route.strategy
    else {
        return None;
    };
    if *trainer == Trainer::Learner {
        return weights.map(|w| w.resolve(arms, *min_share));
    }
    let raw: Vec<f64> = match weights.filter(|w| weights_fresh(w, *max_weight_age_s, now_ms)) {
        Some(w) => arms
            .iter()
            .map(|a| match w.arms.get(&a.name) {
                Some(x) if x.is_finite() && *x > 0.0 => *x,
                _ => 0.0,
            })
            .collect(),
        None => vec![1.0; arms.len()],
    };
    let drained: Vec<bool> = match state.filter(|s| s.fingerprint == route.fingerprint) {
        Some(s) => arms.iter().map(|a| s.drained.contains(&a.name)).collect(),
        None => vec![false; arms.len()],
    };
    Some(with_drains(&raw, *min_share, &drained))
}
