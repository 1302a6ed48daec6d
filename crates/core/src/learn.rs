//! What a route's Durable Object knows and decides, without the Durable Object: the
//! running aggregates, the controller window, replay protection for receipts, and on each
//! tick the bandit weights, the controller step and the sequential-test state. The edge
//! object only loads and saves a [`Learner`] and writes its outputs to KV.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::config::{BanditAlgorithm, Route, Strategy};
use crate::controller::{self, ArmHealth};
use crate::observe::{ArmAggregate, Batch, RouteAggregate};
use crate::receipt::{ReceiptId, ReplayGuard};
use crate::rng::Rng;
use crate::stats::ab::{self, MsprtConfig, MsprtState, Proportion};
use crate::stats::bandit::{self, Algorithm, ArmStats, BanditParams};
use crate::strategy::{RouteState, Weights};

/// Why feedback was not credited.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FeedbackError {
    Replayed,
    BadReward(String),
}

/// The persistent state of one route's learning loop.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Learner {
    pub route: String,
    /// Everything since the route's object was created (or last reset).
    pub total: RouteAggregate,
    /// Since the controller's current step began.
    pub window: RouteAggregate,
    pub msprt: BTreeMap<String, MsprtState>,
    pub replay: ReplayGuard,
    /// Last state written to `state:<route>`.
    pub state: Option<RouteState>,
    /// Last weights written to `weights:<route>`.
    pub weights: Option<Weights>,
    /// Config fingerprint the aggregates belong to: a new strategy starts a new experiment.
    pub fingerprint: String,
    pub last_report_ms: u64,
    pub last_tick_ms: u64,
}

/// What a tick wants written to KV.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TickOutput {
    pub weights: Option<Weights>,
    pub state: Option<RouteState>,
}

impl Learner {
    pub fn new(route: &str) -> Self {
        Self {
            route: route.to_string(),
            total: RouteAggregate::new(route),
            window: RouteAggregate::new(route),
            ..Default::default()
        }
    }

    pub fn report(&mut self, batch: &Batch, now_ms: u64) -> usize {
        self.window.merge_batch(batch);
        self.last_report_ms = now_ms;
        self.total.merge_batch(batch)
    }

    /// Credits one reward, once per receipt id.
    pub fn feedback(
        &mut self,
        id: ReceiptId,
        arm: &str,
        reward: f64,
        issued_ms: u64,
        now_ms: u64,
        max_age_ms: u64,
    ) -> Result<(), FeedbackError> {
        if !reward.is_finite() {
            return Err(FeedbackError::BadReward(
                "reward must be a finite number".into(),
            ));
        }
        if !self
            .replay
            .check_and_insert(id, issued_ms, now_ms, max_age_ms)
        {
            return Err(FeedbackError::Replayed);
        }
        self.total
            .credit_reward(arm, reward)
            .map_err(|e| FeedbackError::BadReward(e.to_string()))?;
        let _ = self.window.credit_reward(arm, reward);
        Ok(())
    }

    /// Runs the learning loop once: bandit weights, controller, sequential tests.
    pub fn tick<R: Rng>(&mut self, route: &Route, now_ms: u64, rng: &mut R) -> TickOutput {
        self.last_tick_ms = now_ms;
        if self.fingerprint != route.fingerprint {
            // The strategy was edited: its old counts describe another experiment.
            if !self.fingerprint.is_empty() {
                self.total.reset(now_ms);
                self.window.reset(now_ms);
                self.msprt.clear();
                self.state = None;
            }
            self.fingerprint = route.fingerprint.clone();
        }
        let mut out = TickOutput::default();
        match &route.strategy {
            Strategy::Bandit {
                arms,
                algorithm,
                epsilon,
                min_share,
                min_samples,
                ..
            } => {
                let stats: Vec<ArmStats> = arms
                    .iter()
                    .map(|a| arm_stats(self.total.arm(&a.name)))
                    .collect();
                if stats.iter().any(|s| s.pulls < *min_samples) {
                    // Warm-up: the edge splits equally without a weights key, and weights an
                    // operator seeded by hand are left alone until there is data to learn from.
                    return self.control(route, now_ms, out);
                }
                let algo = match algorithm {
                    BanditAlgorithm::Thompson => Algorithm::Thompson,
                    BanditAlgorithm::Ucb1 => Algorithm::Ucb1,
                    BanditAlgorithm::EpsilonGreedy => {
                        Algorithm::EpsilonGreedy { epsilon: *epsilon }
                    }
                };
                let params = BanditParams {
                    min_share: *min_share,
                    min_samples: *min_samples,
                    ..BanditParams::default()
                };
                let w = bandit::weights(algo, &stats, &params, rng);
                let weights = Weights {
                    arms: arms
                        .iter()
                        .zip(w)
                        .map(|(a, w)| (a.name.clone(), w))
                        .collect(),
                    updated_ms: now_ms,
                };
                self.weights = Some(weights.clone());
                out.weights = Some(weights);
            }
            Strategy::Ab { arms } if arms.len() >= 2 => {
                let control = proportion(self.total.arm(&arms[0].name));
                let cfg = MsprtConfig::default();
                for a in &arms[1..] {
                    let t = proportion(self.total.arm(&a.name));
                    self.msprt
                        .entry(a.name.clone())
                        .or_default()
                        .update(control, t, &cfg);
                }
            }
            Strategy::Canary { .. } => {
                let control = proportion(self.total.arm("stable"));
                let t = proportion(self.total.arm("canary"));
                self.msprt.entry("canary".into()).or_default().update(
                    control,
                    t,
                    &MsprtConfig::default(),
                );
            }
            _ => {}
        }
        self.control(route, now_ms, out)
    }

    /// The canary / rolling controller step.
    fn control(&mut self, route: &Route, now_ms: u64, mut out: TickOutput) -> TickOutput {
        let window = &self.window;
        let health = |arm: &str| arm_health(window.arm(arm));
        if let Some(step) = controller::next(route, self.state.as_ref(), &health, now_ms) {
            if step.reset_window {
                self.window.reset(now_ms);
            }
            self.state = Some(step.state.clone());
            out.state = Some(step.state);
        }
        out
    }

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
            "weights": self.weights,
            "shadows": self.total.shadows.iter().map(|(o, c)| (o.clone(), json!({
                "observations": c.observations,
                "status_agreement": c.status_agreement_rate(),
                "payload_compared": c.payload_compared,
                "exact_agreement": c.exact_agreement_rate(),
                "normalised_agreement": c.normalised_agreement_rate(),
                "not_comparable": c.payload_not_comparable,
                "shadow_failed": c.shadow_failed,
                "mean_latency_diff_ms": c.mean_latency_diff_ms(),
            }))).collect::<Map<_, _>>(),
        });
        if let Some(ab) = route.and_then(|r| self.experiment(r)) {
            doc["experiment"] = ab;
        }
        doc
    }

    /// A/B comparisons against control: rates with CIs, z-test, always-valid p-value,
    /// probability to beat control, and the sample-ratio-mismatch check.
    fn experiment(&self, route: &Route) -> Option<Value> {
        let (names, weights): (Vec<String>, Vec<f64>) = match &route.strategy {
            Strategy::Ab { arms } => arms.iter().map(|a| (a.name.clone(), a.weight)).unzip(),
            Strategy::Canary { percent_ppm, .. } => {
                let p = self
                    .state
                    .as_ref()
                    .and_then(|s| s.canary_percent)
                    .map_or(*percent_ppm as f64 / 10_000.0, |p| p);
                (vec!["stable".into(), "canary".into()], vec![100.0 - p, p])
            }
            Strategy::Bandit { arms, .. } => {
                (arms.iter().map(|a| a.name.clone()).collect(), vec![])
            }
            _ => return None,
        };
        if names.len() < 2 {
            return None;
        }
        let control = proportion(self.total.arm(&names[0]));
        let mut comparisons = Map::new();
        for n in &names[1..] {
            let p = proportion(self.total.arm(n));
            let c = ab::compare_conversion(control, p);
            let msprt = self.msprt.get(n);
            comparisons.insert(
                n.clone(),
                json!({
                    "comparison": c,
                    "sequential": msprt.map(|m| json!({
                        "always_valid_p_value": m.p_value,
                        "significant": m.p_value <= MsprtConfig::default().alpha,
                        "looks": m.looks,
                    })),
                }),
            );
        }
        // The sample-ratio check compares counts with the split that produced them: for a
        // canary, whose share moves, that is the current step's window, and nothing after
        // a rollback (the share is 0 by design).
        let canary = matches!(route.strategy, Strategy::Canary { .. });
        let counts_from = if canary { &self.window } else { &self.total };
        let rolled_back = self.state.as_ref().is_some_and(|s| s.rolled_back);
        let observed: Vec<u64> = names
            .iter()
            .map(|n| counts_from.arm(n).map_or(0, |a| a.requests))
            .collect();
        let srm =
            if weights.is_empty() || (canary && rolled_back) || observed.iter().sum::<u64>() == 0 {
                None
            } else {
                ab::srm_test(&observed, &weights)
            };
        Some(json!({
            "control": names[0],
            "control_rate": control.rate(),
            "control_arm": {
                "n": control.n,
                "conversions": control.conversions,
                "rate": control.rate(),
                "ci95": ab::wilson_interval(control, 0.95),
            },
            "srm_counts": if canary { "window" } else { "total" },
            "arms": comparisons,
            "srm": srm,
            "alpha": MsprtConfig::default().alpha,
        }))
    }
}

/// Pulls are routed requests (a request without feedback is a 0 reward), or rewards if
/// more were credited than requests were seen.
pub fn arm_stats(a: Option<&ArmAggregate>) -> ArmStats {
    a.map_or(ArmStats::default(), |a| ArmStats {
        pulls: a.requests.max(a.reward_count),
        reward_sum: a.reward_sum,
        reward_sq_sum: a.reward_sq_sum,
    })
}

/// Conversions: rewards above zero are counted as converted units (0/1 feedback).
pub fn proportion(a: Option<&ArmAggregate>) -> Proportion {
    a.map_or(Proportion::default(), |a| {
        let n = a.requests.max(a.reward_count);
        let conversions = (a.reward_sum.max(0.0).round() as u64).min(n);
        Proportion { n, conversions }
    })
}

pub fn arm_health(a: Option<&ArmAggregate>) -> ArmHealth {
    a.map_or(ArmHealth::default(), |a| ArmHealth {
        requests: a.requests,
        errors: a.errors(),
        p95_ms: a.latency.p95(),
    })
}

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
