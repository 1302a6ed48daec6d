//! The route's statistics document (`GET /_switchyard/stats/<route>`): totals, window, health,
//! the experiment over units (comparisons, verdicts, the sequential sample-ratio check), as JSON.

use serde_json::{json, Map, Value};

use super::experiment;
use super::health::DRAIN_SPAN_MS;
use super::learner::{Evidence, Learner};
use crate::config::Route;
use crate::observe::ArmAggregate;

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

    /// The experiment over units ([`super::experiment::document`]): per arm units, requests,
    /// conversion per unit (0/1 rewards, `conversion` feedback) or the mean reward per reward
    /// received (numeric or explicit rewards) with its comparison against the control, the
    /// always-valid test and one verdict; the sequential SRM check of units against the split
    /// in force. Bandits (moving weights) have no SRM check.
    pub(super) fn experiment(&self, route: &Route) -> Option<Value> {
        let (names, mode) = self.experiment_arms(route)?;
        let mut doc = experiment::document(
            &self.epochs,
            route,
            self.state.as_ref(),
            &names,
            mode != Evidence::Conversion,
        );
        doc["evidence"] = json!(match mode {
            Evidence::Conversion => "conversion",
            Evidence::Explicit => "explicit",
            Evidence::Numeric => "numeric",
        });
        Some(doc)
    }
}
