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
}

impl Weights {
    pub fn parse(text: &str) -> Result<Weights, String> {
        serde_json::from_str(text).map_err(|e| format!("invalid weights: {e}"))
    }

    /// Weights aligned with `arms`: unknown names ignored, missing, negative or non-finite
    /// ones treated as 0, then every arm raised to `min_share` and the total normalised to
    /// 1. Equal weights when nothing usable is left.
    pub fn resolve(&self, arms: &[Arm], min_share: f64) -> Vec<f64> {
        let raw: Vec<f64> = arms
            .iter()
            .map(|a| match self.arms.get(&a.name) {
                Some(w) if w.is_finite() && *w > 0.0 => *w,
                _ => 0.0,
            })
            .collect();
        apply_floor(raw, min_share)
    }
}

/// Normalises weights to sum 1 with every arm at least `min_share` (clamped to `1/k`): the
/// weights are mixed with the uniform floor, `w' = floor + (1 - k*floor) * w / sum(w)`, which
/// keeps their order and guarantees the floor exactly. Negative, NaN and infinite weights count
/// as 0 and a non-finite `min_share` as no floor; equal weights when nothing usable is left.
/// The one floor used by both the learning loop (bandit weights it writes) and the edge
/// (weights it reads).
pub fn apply_floor(mut w: Vec<f64>, min_share: f64) -> Vec<f64> {
    let k = w.len() as f64;
    if w.is_empty() {
        return w;
    }
    let f = if min_share.is_finite() {
        min_share.clamp(0.0, 1.0 / k)
    } else {
        0.0
    };
    let usable = |x: f64| x.is_finite() && x > 0.0;
    let total: f64 = w.iter().copied().filter(|x| usable(*x)).sum();
    if !(total > 0.0 && total.is_finite()) {
        return vec![1.0 / k; w.len()];
    }
    for x in w.iter_mut() {
        let v = if usable(*x) { *x / total } else { 0.0 };
        *x = f + (1.0 - k * f) * v;
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
        let w = apply_floor(vec![0.97, 0.02, 0.01], 0.05);
        assert!((w.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        assert!(w.iter().all(|x| *x >= 0.05 - 1e-12), "{w:?}");
        assert!(w[0] > w[1] && w[1] > w[2]);
    }

    #[test]
    fn unusable_weights_count_as_zero_and_nothing_usable_is_equal() {
        let w = apply_floor(vec![f64::NAN, -1.0, f64::INFINITY, 2.0], 0.0);
        assert_eq!(w, vec![0.0, 0.0, 0.0, 1.0]);
        assert_eq!(apply_floor(vec![0.0, f64::NAN], 0.1), vec![0.5, 0.5]);
        assert_eq!(apply_floor(vec![1.0, 3.0], f64::NAN), vec![0.25, 0.75]);
        assert!(apply_floor(vec![], 0.1).is_empty());
        // The floor is clamped to 1/k: everyone equal.
        assert_eq!(apply_floor(vec![9.0, 1.0], 0.9), vec![0.5, 0.5]);
    }
}
