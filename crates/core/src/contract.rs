//! The KV contract between the route's Durable Object (writer) and the edge (reader):
//! `state:<route>` ([`RouteState`]) and `weights:<route>` ([`Weights`]), and the one
//! [`apply_floor`] that turns raw bandit weights into the shares the edge routes by.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::config::Arm;

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floor_is_exact_order_kept_and_sum_one() {
        let w = apply_floor(vec![0.97, 0.02, 0.01], 0.05, &[]);
        assert!((w.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        assert!(w.iter().all(|x| *x >= 0.05 - 1e-12), "{w:?}");
        assert!(w[0] > w[1] && w[1] > w[2]);
    }

    #[test]
    fn unusable_weights_count_as_zero_and_nothing_usable_is_equal() {
        let w = apply_floor(vec![f64::NAN, -1.0, f64::INFINITY, 2.0], 0.0, &[]);
        assert_eq!(w, vec![0.0, 0.0, 0.0, 1.0]);
        assert_eq!(apply_floor(vec![0.0, f64::NAN], 0.1, &[]), vec![0.5, 0.5]);
        assert_eq!(apply_floor(vec![1.0, 3.0], f64::NAN, &[]), vec![0.25, 0.75]);
        assert!(apply_floor(vec![], 0.1, &[]).is_empty());
        // The floor is clamped to 1/k: everyone equal.
        assert_eq!(apply_floor(vec![9.0, 1.0], 0.9, &[]), vec![0.5, 0.5]);
    }
}
