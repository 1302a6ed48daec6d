//! A route's Durable Object state: per-arm counters, latency and rewards
//! ([`ArmAggregate`]) and per-shadow-origin counters in a [`RouteAggregate`], which folds
//! batches in ([`RouteAggregate::merge_batch`]), credits rewards
//! ([`RouteAggregate::credit_reward`]) and restarts windows.

use super::{Batch, LatencyHistogram, OpeSums, OutcomeCounts, ShadowCounts};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// A reward for an arm (from a verified feedback receipt).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reward {
    pub route: String,
    pub arm: String,
    pub value: f64,
}

/// Everything known about one arm since `since_ms`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ArmAggregate {
    pub requests: u64,
    pub errors_5xx: u64,
    pub timeouts: u64,
    pub connect_errors: u64,
    pub latency: LatencyHistogram,
    pub reward_count: u64,
    pub reward_sum: f64,
    pub reward_sq_sum: f64,
    /// Some credited reward was not 0 or 1 (numeric rewards: no conversion statistics).
    pub reward_non_binary: bool,
    /// Off-policy-evaluation sums of the arm's logged decisions and their rewards.
    #[serde(skip_serializing_if = "OpeSums::is_empty")]
    pub ope: OpeSums,
    /// Start of the window these counters cover.
    pub since_ms: u64,
}

impl ArmAggregate {
    fn counts(&self) -> OutcomeCounts {
        OutcomeCounts {
            requests: self.requests,
            errors_5xx: self.errors_5xx,
            timeouts: self.timeouts,
            connect_errors: self.connect_errors,
        }
    }

    fn add_counts(&mut self, c: &OutcomeCounts) {
        let mut mine = self.counts();
        mine.merge(c);
        self.requests = mine.requests;
        self.errors_5xx = mine.errors_5xx;
        self.timeouts = mine.timeouts;
        self.connect_errors = mine.connect_errors;
    }

    /// 5xx + timeouts + connection errors.
    pub fn errors(&self) -> u64 {
        self.counts().errors()
    }

    pub fn error_rate(&self) -> Option<f64> {
        self.counts().error_rate()
    }

    pub fn reward_mean(&self) -> Option<f64> {
        (self.reward_count > 0).then(|| self.reward_sum / self.reward_count as f64)
    }

    /// Sample variance of rewards (n - 1 denominator), `None` below two rewards.
    pub fn reward_variance(&self) -> Option<f64> {
        if self.reward_count < 2 {
            return None;
        }
        let n = self.reward_count as f64;
        let mean = self.reward_sum / n;
        Some(((self.reward_sq_sum - n * mean * mean) / (n - 1.0)).max(0.0))
    }

    /// What happened between snapshot `earlier` and now (counters subtracted), so a
    /// controller can judge the current step while the totals keep running.
    pub fn delta_since(&self, earlier: &ArmAggregate) -> ArmAggregate {
        ArmAggregate {
            requests: self.requests.saturating_sub(earlier.requests),
            errors_5xx: self.errors_5xx.saturating_sub(earlier.errors_5xx),
            timeouts: self.timeouts.saturating_sub(earlier.timeouts),
            connect_errors: self.connect_errors.saturating_sub(earlier.connect_errors),
            latency: self.latency.delta_since(&earlier.latency),
            reward_count: self.reward_count.saturating_sub(earlier.reward_count),
            reward_sum: self.reward_sum - earlier.reward_sum,
            reward_sq_sum: (self.reward_sq_sum - earlier.reward_sq_sum).max(0.0),
            reward_non_binary: self.reward_non_binary,
            ope: OpeSums::default(),
            since_ms: earlier.since_ms.max(self.since_ms),
        }
    }
}

/// A reward that cannot be credited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RewardError {
    /// NaN or infinite.
    NotFinite,
    /// The arm name is empty or longer than 64 bytes.
    BadArm,
}

impl fmt::Display for RewardError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RewardError::NotFinite => "reward must be a finite number",
            RewardError::BadArm => "arm name must be 1..=64 bytes",
        })
    }
}

impl std::error::Error for RewardError {}

/// A route's Durable Object state.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RouteAggregate {
    pub route: String,
    pub arms: BTreeMap<String, ArmAggregate>,
    /// Per shadow origin.
    pub shadows: BTreeMap<String, ShadowCounts>,
    /// Latest observation time merged.
    pub updated_ms: u64,
}

impl RouteAggregate {
    pub fn new(route: &str) -> Self {
        Self {
            route: route.to_owned(),
            ..Default::default()
        }
    }

    /// Folds in the parts of `batch` that belong to this route; returns how many entries
    /// (arm and shadow) were merged. Entries for other routes are ignored.
    pub fn merge_batch(&mut self, batch: &Batch) -> usize {
        let mut merged = 0;
        for a in batch.arms.iter().filter(|a| a.route == self.route) {
            let agg = self
                .arms
                .entry(a.arm.clone())
                .or_insert_with(|| ArmAggregate {
                    since_ms: batch.first_ms,
                    ..Default::default()
                });
            agg.add_counts(&a.counts);
            agg.latency.merge(&a.latency);
            for [ppm, count] in &a.propensities {
                agg.ope.record_decisions(*ppm, *count);
            }
            merged += 1;
        }
        for s in batch.shadows.iter().filter(|s| s.route == self.route) {
            self.shadows
                .entry(s.shadow_origin.clone())
                .or_default()
                .merge(&s.counts);
            merged += 1;
        }
        if merged > 0 {
            self.updated_ms = self.updated_ms.max(batch.last_ms);
        }
        merged
    }

    /// Credits one reward to `arm` (creating it if unseen).
    pub fn credit_reward(&mut self, arm: &str, value: f64) -> Result<(), RewardError> {
        if !value.is_finite() {
            return Err(RewardError::NotFinite);
        }
        if !crate::base::valid_name(arm.as_bytes(), crate::base::NameChars::Any) {
            return Err(RewardError::BadArm);
        }
        let a = self.arms.entry(arm.to_owned()).or_default();
        a.reward_count = a.reward_count.saturating_add(1);
        a.reward_sum += value;
        a.reward_sq_sum += value * value;
        a.reward_non_binary |= value != 0.0 && value != 1.0;
        Ok(())
    }

    /// [`credit_reward`](Self::credit_reward), and when the receipt carried the decision's
    /// propensity (`ppm`), its off-policy-evaluation sums too.
    pub fn credit_logged(
        &mut self,
        arm: &str,
        value: f64,
        ppm: Option<u32>,
    ) -> Result<(), RewardError> {
        self.credit_reward(arm, value)?;
        if let (Some(p), Some(a)) = (ppm, self.arms.get_mut(arm)) {
            a.ope.record_credit(p, value);
        }
        Ok(())
    }

    pub fn arm(&self, arm: &str) -> Option<&ArmAggregate> {
        self.arms.get(arm)
    }

    /// Error rate of `arm`; `None` if unknown or without requests.
    pub fn error_rate(&self, arm: &str) -> Option<f64> {
        self.arms.get(arm).and_then(ArmAggregate::error_rate)
    }

    /// Latency quantile of `arm`.
    pub fn latency_quantile(&self, arm: &str, q: f64) -> Option<f64> {
        self.arms.get(arm).and_then(|a| a.latency.quantile(q))
    }

    /// Starts a fresh window for `arm` (e.g. at a canary step): counters, histogram and
    /// rewards are zeroed and `since_ms` set to `now_ms`.
    pub fn reset_arm(&mut self, arm: &str, now_ms: u64) {
        self.arms.insert(
            arm.to_owned(),
            ArmAggregate {
                since_ms: now_ms,
                ..Default::default()
            },
        );
    }

    /// Starts a fresh window for every arm and shadow.
    pub fn reset(&mut self, now_ms: u64) {
        for a in self.arms.values_mut() {
            *a = ArmAggregate {
                since_ms: now_ms,
                ..Default::default()
            };
        }
        self.shadows.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observe::{obs, Batcher, Outcome, ShadowObservation};
    use crate::observe::{Agreement, PayloadAgreement};

    #[test]
    fn batch_to_aggregate_round_trip() {
        let mut b = Batcher::default();
        for i in 0..40u32 {
            let arm = if i % 4 == 0 { "canary" } else { "stable" };
            let outcome = if i % 8 == 0 {
                Outcome::Error5xx
            } else {
                Outcome::Ok
            };
            b.push(obs("fraud", arm, outcome, 10 + i), 1000 + u64::from(i));
        }
        b.push(obs("other", "x", Outcome::ConnectError, 0), 1100);
        let agree = Agreement {
            status_agree: true,
            payload: PayloadAgreement::Compared {
                exact: false,
                normalised: true,
            },
        };
        b.push_shadow(
            &ShadowObservation::from_agreement("fraud", "fraud-v3", &agree, 12),
            None,
            1100,
        );
        b.push_shadow(
            &ShadowObservation::failed("fraud", "fraud-v3", -3),
            None,
            1101,
        );
        let batch = b.drain();
        let json = serde_json::to_string(&batch).unwrap();
        // 40 distinct units: one `[unit, requests, errors]` entry each, the rest as before.
        assert!(
            json.len() < 1000 + 40 * 20,
            "batch JSON is {} bytes",
            json.len()
        );
        let back: Batch = serde_json::from_str(&json).unwrap();
        assert_eq!(back, batch);
        assert_eq!(batch.routes(), vec!["fraud", "other"]);

        let parts = back.split_by_route();
        assert_eq!(parts.len(), 2);
        let mut agg = RouteAggregate::new("fraud");
        assert_eq!(agg.merge_batch(&parts[0].1), 3);
        assert_eq!(agg.merge_batch(&parts[1].1), 0);
        let c = agg.arm("canary").unwrap();
        assert_eq!((c.requests, c.errors_5xx), (10, 5));
        assert_eq!(agg.error_rate("canary"), Some(0.5));
        assert_eq!(agg.error_rate("stable"), Some(0.0));
        assert_eq!(agg.error_rate("nope"), None);
        assert!(agg.latency_quantile("stable", 0.95).unwrap() > 40.0);
        let s = agg.shadows["fraud-v3"];
        assert_eq!(
            (s.observations, s.status_agree, s.payload_compared),
            (2, 1, 1)
        );
        assert_eq!(
            (s.payload_normalised, s.payload_exact, s.shadow_failed),
            (1, 0, 1)
        );
        assert_eq!(s.mean_latency_diff_ms(), Some(4.5));

        agg.credit_reward("canary", 1.0).unwrap();
        agg.credit_reward("canary", 0.0).unwrap();
        agg.credit_reward("canary", 1.0).unwrap();
        assert_eq!(
            agg.credit_reward("canary", f64::NAN),
            Err(RewardError::NotFinite)
        );
        let c = agg.arm("canary").unwrap();
        assert_eq!(c.reward_count, 3);
        assert!((c.reward_mean().unwrap() - 2.0 / 3.0).abs() < 1e-12);
        assert!((c.reward_variance().unwrap() - 1.0 / 3.0).abs() < 1e-12);

        // Serde round trip of the stored state.
        let j = serde_json::to_string(&agg).unwrap();
        let back: RouteAggregate = serde_json::from_str(&j).unwrap();
        assert_eq!(back, agg);

        // Windowing: a snapshot delta and a reset.
        let snap = agg.arm("canary").unwrap().clone();
        let mut b = Batcher::default();
        b.push(obs("fraud", "canary", Outcome::Timeout, 5), 3000);
        agg.merge_batch(&b.drain());
        let d = agg.arm("canary").unwrap().delta_since(&snap);
        assert_eq!((d.requests, d.timeouts, d.latency.count()), (1, 1, 1));
        agg.reset_arm("canary", 4000);
        assert_eq!(agg.error_rate("canary"), None);
        assert_eq!(agg.arm("canary").unwrap().since_ms, 4000);
        assert_eq!(agg.arm("stable").unwrap().requests, 30);
        agg.reset(5000);
        assert_eq!(agg.arm("stable").unwrap().requests, 0);
    }

    #[test]
    fn reward_arm_names_follow_the_receipt_rule() {
        let mut agg = RouteAggregate::new("r");
        assert_eq!(agg.credit_reward("", 1.0), Err(RewardError::BadArm));
        assert_eq!(
            agg.credit_reward(&"a".repeat(65), 1.0),
            Err(RewardError::BadArm)
        );
        assert_eq!(agg.credit_reward(&"a".repeat(64), 1.0), Ok(()));
        assert_eq!(
            RewardError::BadArm.to_string(),
            "arm name must be 1..=64 bytes"
        );
        assert_eq!(agg.arm(&"a".repeat(64)).map(|a| a.reward_count), Some(1));
    }
}
