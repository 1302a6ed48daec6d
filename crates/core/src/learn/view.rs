//! The route's statistics document (`GET /_switchyard/stats/<route>`): totals, window, health,
//! the experiment's comparison and the sample-ratio check, as JSON.

use serde_json::{json, Map, Value};

use super::health::DRAIN_SPAN_MS;
use super::learner::{mean_stats, proportion_of, Evidence, Learner};
use crate::config::{RewardFeedback, Route, Strategy};
use crate::observe::ArmAggregate;
use crate::routing;
use crate::statistics::{self, MsprtConfig};

fn arm_json(a: &ArmAggregate) -> Value {
    json!({
        "requests": a.requests,
        "errors": a.errors(),
        "errors_5xx": a.errors_5xx,
        "timeouts": a.timeouts,
        "connect_errors": a.connect_errors,
        "error_rate": a.error_rate(),
        "latency_ms": { "p50": a.latency.p50(), "p95": a.latency.p95(), "p99": a.latency.p99(), "mean": a.latency.mean() },
        "rewards": { "count": a.reward_count, "sum": a.reward_sum, "mean": a.reward_mean(), "variance": a.reward_variance() },
        "since_ms": a.since_ms,
    })
}

impl Learner {
    /// The statistics document served at `GET /_switchyard/stats/<route>`.
    pub fn stats(&self, route: Option<&Route>) -> Value {
        let mut arms = Map::new();
        for (name, a) in &self.total.arms {
            arms.insert(name.clone(), arm_json(a));
        }
        let mut doc = json!({
            "route": self.route,
            "strategy": route.map(|r| r.strategy.kind()),
            "fingerprint": self.fingerprint,
            "updated_ms": self.total.updated_ms,
            "last_report_ms": self.last_report_ms,
            "last_tick_ms": self.last_tick_ms,
            "arms": arms,
            "window": self.window.arms.iter().map(|(n, a)| (n.clone(), arm_json(a))).collect::<Map<_, _>>(),
            "controller": self.state,
            "epoch": self.epoch,
            "stale_observations": self.stale_observations,
            "pipeline": route.and_then(|r| super::gates::pipeline(r, self.state.as_ref(), &self.gates, self.last_tick_ms)),
            "weights": self.weights,
            "health": self.health.iter().map(|(n, t)| {
                let (r, e) = t.recent_counts(DRAIN_SPAN_MS, self.last_tick_ms);
                (n.clone(), json!({
                    "recent_requests": r,
                    "recent_errors": e,
                    "drained_since_ms": t.failing_since,
                    "reason": t.failing_reason,
                }))
            }).collect::<Map<_, _>>(),
            "shadows": self.total.shadows.iter().map(|(o, c)| (o.clone(), json!({
                "observations": c.observations,
                "status_agreement": c.status_agreement_rate(),
                "payload_compared": c.payload_compared,
                "exact_agreement": c.exact_agreement_rate(),
                "normalised_agreement": c.normalised_agreement_rate(),
                "not_comparable": c.payload_not_comparable,
                "shadow_failed": c.shadow_failed,
                "body_too_large": c.body_too_large,
                "mean_latency_diff_ms": c.mean_latency_diff_ms(),
            }))).collect::<Map<_, _>>(),
        });
        if !self.overrides.is_empty() {
            doc["overrides"] = json!(self.overrides);
        }
        if let Some(ab) = route.and_then(|r| self.experiment(r)) {
            doc["experiment"] = ab;
        }
        doc
    }

    /// Comparisons against control. 0/1 rewards: rates with CIs, z-test, always-valid
    /// p-value, probability to beat control. Numeric rewards: means with CIs, the
    /// difference with its Welch interval, Welch's test and the always-valid test for means
    /// (conversion fields absent). Plus the sample-ratio-mismatch check over the
    /// observations made under the split in force.
    pub(super) fn experiment(&self, route: &Route) -> Option<Value> {
        let (names, feedback): (Vec<&str>, Option<RewardFeedback>) = match &route.strategy {
            Strategy::Ab { arms, .. } => (arms.iter().map(|a| a.name.as_str()).collect(), None),
            Strategy::Canary { .. } => (vec!["stable", "canary"], None),
            Strategy::Bandit { arms, feedback, .. } => (
                arms.iter().map(|a| a.name.as_str()).collect(),
                Some(*feedback),
            ),
            _ => return None,
        };
        if names.len() < 2 {
            return None;
        }
        let mode = self.evidence(&names, feedback);
        let alpha = MsprtConfig::default().alpha;
        let sequential = |key: &str| {
            self.msprt.get(key).map(|m| {
                json!({
                    "always_valid_p_value": m.p_value,
                    "significant": m.p_value <= alpha,
                    "looks": m.looks,
                })
            })
        };
        let mut comparisons = Map::new();
        let mut doc = if mode == Evidence::Numeric {
            let control = mean_stats(self.total.arm(names[0]));
            for n in &names[1..] {
                let c = statistics::compare_means(&control, &mean_stats(self.total.arm(n)));
                comparisons.insert(
                    n.to_string(),
                    json!({ "comparison": c, "sequential": sequential(&format!("{n}:mean")) }),
                );
            }
            let own = statistics::compare_means(&control, &control);
            json!({
                "metric": "mean",
                "control": names[0],
                "control_arm": { "n": own.n, "mean": own.mean, "variance": own.variance, "ci95": own.ci95 },
            })
        } else {
            let control = proportion_of(self.total.arm(names[0]), mode);
            for n in &names[1..] {
                let c =
                    statistics::compare_conversion(control, proportion_of(self.total.arm(n), mode));
                comparisons.insert(
                    n.to_string(),
                    json!({ "comparison": c, "sequential": sequential(n) }),
                );
            }
            json!({
                "metric": "conversion",
                "control": names[0],
                "control_rate": control.rate(),
                "control_arm": {
                    "n": control.n,
                    "conversions": control.conversions,
                    "rate": control.rate(),
                    "ci95": statistics::wilson_interval(control, 0.95),
                },
            })
        };
        doc["evidence"] = json!(match mode {
            Evidence::Conversion => "conversion",
            Evidence::Explicit => "explicit",
            Evidence::Numeric => "numeric",
        });
        doc["arms"] = Value::Object(comparisons);
        doc["alpha"] = json!(alpha);
        let (srm, split) = self.srm(route, &names);
        doc["srm"] = json!(srm);
        doc["srm_counts"] = json!("split");
        doc["srm_split"] = split;
        doc["splits"] = self
            .splits
            .iter()
            .filter(|s| s.fingerprint == route.fingerprint)
            .map(|s| {
                json!({
                    "split_ppm": s.split_ppm,
                    "observations": s.arms.values().sum::<u64>(),
                    "arms": s.arms,
                    "first_ms": s.first_ms,
                    "last_ms": s.last_ms,
                })
            })
            .collect::<Vec<_>>()
            .into();
        Some(doc)
    }

    /// The sample-ratio check over the observations the edge made under the split in
    /// force (by the route's fingerprint and the learner's state), against that split's
    /// weights. Observations made under an earlier split keep their own counts and are
    /// never compared with the new weights. Bandits (moving weights) have none.
    pub(super) fn srm(
        &self,
        route: &Route,
        names: &[&str],
    ) -> (Option<statistics::SrmResult>, Value) {
        let split = routing::split_ppm(route, self.state.as_ref());
        let weights: Vec<f64> = match &route.strategy {
            Strategy::Ab { arms, .. } if split == crate::base::PPM => {
                arms.iter().map(|a| a.weight).collect()
            }
            Strategy::Canary { .. } => {
                let p = f64::from(split);
                vec![f64::from(crate::base::PPM) - p, p]
            }
            _ => return (None, Value::Null),
        };
        let Some(counts) = self
            .splits
            .iter()
            .find(|s| s.fingerprint == route.fingerprint && s.split_ppm == split)
        else {
            return (None, json!({ "split_ppm": split, "observations": 0 }));
        };
        let observed: Vec<u64> = names
            .iter()
            .map(|n| counts.arms.get(*n).copied().unwrap_or(0))
            .collect();
        let total: u64 = observed.iter().sum();
        let srm = if total == 0 {
            None
        } else {
            statistics::srm_test(&observed, &weights)
        };
        (
            srm,
            json!({ "split_ppm": split, "observations": total, "since_ms": counts.first_ms }),
        )
    }
}
