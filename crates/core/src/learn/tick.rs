//! The tick: on each alarm, the arms' health (drain, recovery, the A/B guard), the bandit
//! weights, the sequential tests and the controller step, and what to write to KV
//! ([`TickOutput`]).

use std::collections::BTreeMap;

use super::controller::{self, ArmHealth, Step};
use super::gates::GateDecision;
use super::health::{
    DRAIN_ERROR_RATE, DRAIN_MIN_REQUESTS, DRAIN_SPAN_MS, HEALTH_SPAN_MS, RECOVER_REQUESTS,
};
use super::learner::{arm_health, bandit_evidence, Evidence, Learner};
use crate::base::Rng;
use crate::config::{
    AbGuardAction, BanditAlgorithm, Gates, RewardFeedback, Route, Strategy, Trainer,
};
use crate::config::{RouteState, Weights};
use crate::routing::Layout;
use crate::statistics::{self, Algorithm, ArmStats, BanditParams, RewardModel};

/// What a tick wants written to KV.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TickOutput {
    pub weights: Option<Weights>,
    /// The allocation layout of a sticky bandit's weights, written in the same
    /// `weights:<route>` document (field `layouts`) so the two never disagree.
    pub layout: Option<Layout>,
    pub state: Option<RouteState>,
    /// A release gate's decision that is news (it changed the state, or a shadow gate turned
    /// to failing): for the timeline, the webhooks and the audit log.
    pub gate: Option<GateDecision>,
}

impl Learner {
    /// Runs the learning loop once: health, bandit weights, A/B guard, controller,
    /// sequential tests. A new state carries the controller epoch (see [`Learner::stamp`]).
    pub fn tick<R: Rng>(&mut self, route: &Route, now_ms: u64, rng: &mut R) -> TickOutput {
        let before = self.state.clone();
        let mut out = self.step(route, now_ms, rng);
        self.stamp(before.as_ref(), &mut out, false);
        self.look(route, now_ms);
        out
    }

    /// The experiment's arms (control first) and its evidence; the metric is a ratio (mean
    /// reward per reward received) unless the evidence is conversion; `None` without an
    /// experiment.
    pub(super) fn experiment_arms<'r>(&self, route: &'r Route) -> Option<(Vec<&'r str>, Evidence)> {
        let (names, feedback): (Vec<&str>, Option<RewardFeedback>) = match &route.strategy {
            Strategy::Ab { arms, .. } => (arms.iter().map(|a| a.name.as_str()).collect(), None),
            Strategy::Canary { .. } => (vec!["stable", "canary"], None),
            Strategy::Bandit { arms, feedback, .. } => (
                arms.iter().map(|a| a.name.as_str()).collect(),
                Some(*feedback),
            ),
            _ => return None,
        };
        let mode = self.evidence(&names, feedback);
        (names.len() >= 2).then_some((names, mode))
    }

    /// One look of the sequential tests (SRM and always-valid) at the units of the split in
    /// force, after the controller step (so the split is the one the edge routes by next).
    fn look(&mut self, route: &Route, now_ms: u64) {
        let (names, mode) = self
            .experiment_arms(route)
            .unwrap_or((Vec::new(), Evidence::Conversion));
        let ratio = mode != Evidence::Conversion;
        let state = self.state.clone();
        self.epochs
            .tick(route, state.as_ref(), &names, ratio, now_ms);
    }

    /// Sets the epoch of a state about to be written: a new epoch when the change is an
    /// operator's action (`by_operator`) or a rollback, resume or promotion
    /// ([`controller::EPOCH_KINDS`]); the one in force otherwise.
    pub(super) fn stamp(
        &mut self,
        old: Option<&RouteState>,
        out: &mut TickOutput,
        by_operator: bool,
    ) {
        let Some(st) = out.state.as_mut() else {
            return;
        };
        let bump = by_operator
            || controller::transitions(old, st, None)
                .iter()
                .any(|t| controller::EPOCH_KINDS.contains(&t.kind));
        if bump {
            self.epoch = self.epoch.saturating_add(1);
        }
        st.epoch = self.epoch;
        self.state = Some(st.clone());
    }

    fn step<R: Rng>(&mut self, route: &Route, now_ms: u64, rng: &mut R) -> TickOutput {
        self.last_tick_ms = now_ms;
        if self.fingerprint != route.fingerprint {
            // The strategy was edited: its old counts describe another experiment, and
            // observations made under the old strategy judge nothing (a new epoch).
            if !self.fingerprint.is_empty() {
                self.total.reset(now_ms);
                self.window.reset(now_ms);
                self.health.clear();
                self.state = None;
                self.gates.clear();
                self.epoch = self.epoch.saturating_add(1);
            }
            self.fingerprint = route.fingerprint.clone();
        }
        let deltas = self.observe_health(now_ms);
        let mut out = TickOutput::default();
        match &route.strategy {
            Strategy::Bandit {
                arms,
                algorithm,
                epsilon,
                min_share,
                min_samples,
                feedback,
                trainer,
                ..
            } => {
                let names: Vec<&str> = arms.iter().map(|a| a.name.as_str()).collect();
                let failing = self.judge_bandit_health(&names, &deltas, now_ms);
                if *trainer == Trainer::External {
                    // An outside trainer owns `weights:<route>`: never written here. The
                    // drains go to `state:<route>`, where the edge applies them.
                    if let Some(st) = self.external_drains(route, &names, &failing, now_ms) {
                        self.state = Some(st.clone());
                        out.state = Some(st);
                    }
                    return self.control(route, now_ms, out);
                }
                let promoted = self.state.as_ref().is_some_and(|s| {
                    s.fingerprint == route.fingerprint && s.promoted_arm.is_some()
                });
                if promoted {
                    // An operator promoted the leader: weights stay as written until resumed.
                    return self.control(route, now_ms, out);
                }
                let mode = self.evidence(&names, Some(*feedback));
                let stats: Vec<ArmStats> = names
                    .iter()
                    .map(|n| bandit_evidence(self.total.arm(n), mode))
                    .collect();
                let any_failing = failing.iter().any(|f| *f);
                let last_drained = self.weights.as_ref().is_some_and(|w| !w.drained.is_empty());
                if stats.iter().any(|s| s.pulls < *min_samples) && !any_failing && !last_drained {
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
                    reward_model: if mode == Evidence::Numeric {
                        RewardModel::Normal
                    } else {
                        RewardModel::Bernoulli
                    },
                    ..BanditParams::default()
                };
                let w = statistics::weights_with_health(algo, &stats, &failing, &params, rng);
                let weights = Weights {
                    arms: names
                        .iter()
                        .zip(w)
                        .map(|(n, w)| (n.to_string(), w))
                        .collect(),
                    updated_ms: now_ms,
                    drained: names
                        .iter()
                        .zip(&failing)
                        .filter(|(_, f)| **f)
                        .map(|(n, _)| n.to_string())
                        .collect(),
                };
                self.publish_weights(route, weights, &mut out);
            }
            Strategy::Ab { arms, guard } if arms.len() >= 2 => {
                let names: Vec<&str> = arms.iter().map(|a| a.name.as_str()).collect();
                if let Some(g) = guard {
                    if let Some(st) = self.ab_guard(route, &names, g, now_ms) {
                        self.state = Some(st.clone());
                        out.state = Some(st);
                    }
                }
            }
            _ => {}
        }
        self.control(route, now_ms, out)
    }

    /// Records `weights` as the ones to write and, for a sticky bandit, lays them out: the
    /// weights the edge routes by (`Weights::resolve`: floor and drains applied) rebalanced
    /// from the last layout, or from the canonical layout of equal weights that sticky
    /// units follow during warm-up. A layout that cannot be built (no positive weight) is
    /// left out; the edge then falls back to rendezvous hashing.
    pub(super) fn publish_weights(
        &mut self,
        route: &Route,
        weights: Weights,
        out: &mut TickOutput,
    ) {
        if let Strategy::Bandit {
            arms,
            min_share,
            sticky: true,
            ..
        } = &route.strategy
        {
            let effective = weights.resolve(arms, *min_share);
            let named: Vec<(&str, f64)> = arms
                .iter()
                .map(|a| a.name.as_str())
                .zip(effective)
                .collect();
            let equal: Vec<(&str, f64)> = arms.iter().map(|a| (a.name.as_str(), 1.0)).collect();
            let from = self.layout.take().or_else(|| Layout::canonical(&equal));
            self.layout = match from {
                Some(l) => l.rebalance(&named),
                None => Layout::canonical(&named),
            };
            out.layout = self.layout.clone();
        }
        self.weights = Some(weights.clone());
        out.weights = Some(weights);
    }

    /// Takes every arm's counter deltas into its health window; returns the deltas.
    pub(super) fn observe_health(&mut self, now_ms: u64) -> BTreeMap<String, (u64, u64)> {
        let mut deltas = BTreeMap::new();
        for (name, a) in &self.total.arms {
            let t = self.health.entry(name.clone()).or_default();
            deltas.insert(name.clone(), t.observe(a.requests, a.errors(), now_ms));
        }
        // Bounded by the arms the aggregate knows.
        let total = &self.total;
        self.health.retain(|n, _| total.arms.contains_key(n));
        deltas
    }

    /// Drains and restores bandit arms by their recent health; `true` for a drained arm.
    pub(super) fn judge_bandit_health(
        &mut self,
        names: &[&str],
        deltas: &BTreeMap<String, (u64, u64)>,
        now_ms: u64,
    ) -> Vec<bool> {
        names
            .iter()
            .map(|n| {
                let Some(t) = self.health.get_mut(*n) else {
                    return false;
                };
                let (dr, de) = deltas.get(*n).copied().unwrap_or((0, 0));
                if t.failing_since.is_none() {
                    let (r, e) = t.recent_counts(DRAIN_SPAN_MS, now_ms);
                    if r >= DRAIN_MIN_REQUESTS && e as f64 >= DRAIN_ERROR_RATE * r as f64 {
                        t.failing_since = Some(now_ms);
                        t.failing_reason = Some(format!(
                            "{e} errors in {r} requests in the last {} s",
                            DRAIN_SPAN_MS / 1000
                        ));
                        t.ok_streak = 0;
                    }
                } else if de > 0 {
                    t.ok_streak = 0;
                } else {
                    t.ok_streak = t.ok_streak.saturating_add(dr);
                    if t.ok_streak >= RECOVER_REQUESTS {
                        t.failing_since = None;
                        t.failing_reason = None;
                        t.ok_streak = 0;
                        t.recent.clear();
                    }
                }
                t.failing_since.is_some()
            })
            .collect()
    }

    /// An external-trainer bandit's drained arms as a new state, when they changed.
    fn external_drains(
        &self,
        route: &Route,
        names: &[&str],
        failing: &[bool],
        now_ms: u64,
    ) -> Option<RouteState> {
        let drained: Vec<String> = names
            .iter()
            .zip(failing)
            .filter(|(_, f)| **f)
            .map(|(n, _)| n.to_string())
            .collect();
        let cur = self
            .state
            .as_ref()
            .filter(|s| s.fingerprint == route.fingerprint);
        if cur.map_or(drained.is_empty(), |s| s.drained == drained) {
            return None;
        }
        let reason = if drained.is_empty() {
            "every arm healthy again".to_string()
        } else {
            let why: Vec<String> = drained
                .iter()
                .map(|n| {
                    let r = self.health.get(n).and_then(|t| t.failing_reason.clone());
                    format!("{n}: {}", r.unwrap_or_else(|| "failing".into()))
                })
                .collect();
            format!("drained (probe share only): {}", why.join("; "))
        };
        Some(RouteState {
            fingerprint: route.fingerprint.clone(),
            drained,
            reason: Some(reason),
            updated_ms: now_ms,
            ..cur.cloned().unwrap_or_default()
        })
    }

    /// The A/B health guard: a new state when an arm breaches and nothing is drained yet.
    pub(super) fn ab_guard(
        &self,
        route: &Route,
        names: &[&str],
        g: &crate::config::AbGuard,
        now_ms: u64,
    ) -> Option<RouteState> {
        let cur = self
            .state
            .as_ref()
            .filter(|s| s.fingerprint == route.fingerprint);
        if cur.is_some_and(|s| !s.drained.is_empty()) {
            return None; // sticky until an operator resumes
        }
        let health = |n: &str| {
            let (requests, errors) = self
                .health
                .get(n)
                .map_or((0, 0), |t| t.recent_counts(HEALTH_SPAN_MS, now_ms));
            ArmHealth {
                requests,
                errors,
                p95_ms: self.window.arm(n).and_then(|a| a.latency.p95()),
            }
        };
        let baseline = health(names[0]);
        let breaches: Vec<(usize, String)> = names
            .iter()
            .enumerate()
            .filter_map(|(i, n)| {
                let h = health(n);
                let base = if i == 0 { h } else { baseline };
                controller::breach(&g.guard, &h, &base).map(|why| (i, why))
            })
            .collect();
        let (drained, reason) = match g.action {
            AbGuardAction::Stop => {
                let (i, why) = breaches.iter().find(|(i, _)| *i > 0)?;
                (
                    names[1..].iter().map(|n| n.to_string()).collect::<Vec<_>>(),
                    format!(
                        "experiment stopped, all traffic on {}: arm {} {why}",
                        names[0], names[*i]
                    ),
                )
            }
            AbGuardAction::Drain => {
                if breaches.is_empty() || breaches.len() == names.len() {
                    return None; // draining every arm would drain none
                }
                let why: Vec<String> = breaches
                    .iter()
                    .map(|(i, w)| format!("arm {} {w}", names[*i]))
                    .collect();
                (
                    breaches
                        .iter()
                        .map(|(i, _)| names[*i].to_string())
                        .collect(),
                    format!("drained: {}", why.join("; ")),
                )
            }
        };
        Some(RouteState {
            fingerprint: route.fingerprint.clone(),
            drained,
            reason: Some(reason),
            updated_ms: now_ms,
            ..cur.cloned().unwrap_or_default()
        })
    }

    /// The canary / rolling controller step (a canary with gates: `super::gates`).
    pub(super) fn control(
        &mut self,
        route: &Route,
        now_ms: u64,
        mut out: TickOutput,
    ) -> TickOutput {
        let step = match &route.strategy {
            Strategy::Canary { gates: Some(g), .. } => {
                let (step, news) = self.gate_step(route, g, now_ms);
                out.gate = news;
                step
            }
            _ => {
                let window = &self.window;
                let health = |arm: &str| arm_health(window.arm(arm));
                controller::next(route, self.state.as_ref(), &health, now_ms)
            }
        };
        if let Some(step) = step {
            if step.reset_window {
                self.window.reset(now_ms);
            }
            self.state = Some(step.state.clone());
            out.state = Some(step.state);
        }
        out
    }
}

impl Learner {
    /// The controller step of a canary with gates (`super::gates::next` over the learner's
    /// window and state). Keeps each gate's last decision (the stats document's `pipeline`);
    /// returns the decision when it is news: it changed the state, or a shadow gate turned to
    /// failing.
    pub(super) fn gate_step(
        &mut self,
        route: &Route,
        gates: &Gates,
        now_ms: u64,
    ) -> (Option<Step>, Option<GateDecision>) {
        let numeric = self.evidence(&["stable", "canary"], None) == Evidence::Numeric;
        let (step, decision) = super::gates::next(
            route,
            gates,
            self.state.as_ref(),
            &self.window,
            numeric,
            now_ms,
        );
        let Some(d) = decision else {
            return (step, None);
        };
        let before = self
            .gates
            .iter()
            .find(|x| x.gate == d.gate)
            .map(|x| x.verdict.clone());
        let news =
            step.is_some() || (d.verdict == "failing" && before.as_deref() != Some("failing"));
        self.gates.retain(|x| x.gate != d.gate);
        self.gates.push(d.clone());
        (step, news.then_some(d))
    }
}
