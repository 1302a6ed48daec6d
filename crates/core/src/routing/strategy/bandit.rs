//! `bandit`: arms weighted by `weights:<route>` (written by the learning loop, or by an
//! external trainer: [`edge_weights`]); sticky by the allocation layout written with the
//! weights when it fits them (a tick then moves only the units it has to), else by weighted
//! rendezvous hashing; or sampled per request. Equal weights during warm-up: sticky units by
//! the canonical layout of equal weights, which the first layout the learning loop writes
//! starts from.

use super::{Choice, Cx};
use crate::base::Rng;
use crate::base::{choose_weighted, slot};
use crate::config::{with_drains, Arm, Route, RouteState, Strategy, Trainer, Weights};
use crate::routing::{pick_layout, Reason, LAYOUT_SLOTS as SLOTS};

pub(super) fn choose<'c, H: ?Sized, R: Rng>(
    arms: &'c [Arm],
    sticky: bool,
    cx: &mut Cx<'_, '_, H, R>,
) -> Choice<'c> {
    // Sticky (a layout that fits the weights, else rendezvous on them) or sampled, an arm's
    // chance is its weight's share (a fitting layout: to one slot in 10,000).
    let (i, reason, p) = match cx.weights {
        Some(w) if w.len() == arms.len() => {
            let i = if sticky {
                let laid = pick_layout(cx.layouts, cx.h, arms.len(), &|i| {
                    (arms[i].name.as_str(), w[i])
                });
                let keys = arms.iter().zip(w).map(|(a, w)| (a.key, *w));
                laid.or_else(|| choose_weighted(cx.h, keys)).unwrap_or(0)
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
                equal_slot(slot(cx.h, SLOTS), arms.len())
            } else {
                (cx.rng.next_u64() % arms.len().max(1) as u64) as usize
            };
            (i, Reason::BanditWarmup, 1.0 / arms.len().max(1) as f64)
        }
    };
    Choice::pick(&arms[i].name, arms[i].origin, reason, p)
}

/// The arm of `s` in the canonical layout of `k` equal weights (`Layout::canonical`):
/// `SLOTS / k` slots each, the first `SLOTS % k` arms one more, in arm order.
pub fn equal_slot(s: u32, k: usize) -> usize {
    let k = k.clamp(1, SLOTS as usize) as u32;
    let (base, extra) = (SLOTS / k, SLOTS % k);
    let wide = extra * (base + 1);
    let i = if s < wide {
        s / (base + 1)
    } else {
        extra + (s - wide) / base
    };
    i.min(k - 1) as usize
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::routing::Layout;

    #[test]
    fn equal_slot_is_the_canonical_equal_layout() {
        for k in 1..=9usize {
            let names: Vec<String> = (0..k).map(|i| format!("a{i}")).collect();
            let arms: Vec<(&str, f64)> = names.iter().map(|n| (n.as_str(), 1.0)).collect();
            let l = Layout::canonical(&arms).unwrap();
            for s in 0..SLOTS {
                assert_eq!(equal_slot(s, k), l.owner(s), "k={k} slot {s}");
            }
        }
    }
}
