//! What a route's Durable Object knows and decides, without the Durable Object: the
//! running aggregates, the controller window, replay protection for receipts, and on each
//! tick the bandit weights, the controller step and the sequential-test state. The edge
//! object only loads and saves a [`Learner`] and writes its outputs to KV.
//!
//! **Evidence a bandit learns from** (see [`Evidence`]). Rewards are 0/1 until some arm
//! receives another value (`reward_non_binary`), then numeric for the whole route.
//! - 0/1 rewards, `conversion` feedback (the default while rewards are 0/1): clients report
//!   successes; every routed request is a trial and a request without feedback a 0
//!   (Bernoulli, Beta(1 + successes, 1 + failures)). Errored requests are trials that failed.
//!   A conversion that is still on its way reads as a 0 until it arrives.
//! - 0/1 rewards, `explicit` feedback: only rewards that arrived are trials, plus every
//!   errored request (5xx, timeout, connection failure) as a 0-reward trial.
//! - Numeric rewards (always explicit): only rewards that arrived count; Normal model with
//!   unknown mean and variance (Student t posterior for the mean). Missing or late feedback
//!   is missing, never 0; errors do not enter the posterior, the health guard handles them.
//!
//! **Health.** Every tick takes the per-arm deltas of requests and errors into a short
//! window ([`HealthTrack`], the last [`HEALTH_SPAN_MS`]). A bandit arm with at least
//! [`DRAIN_MIN_REQUESTS`] requests and an error rate of at least [`DRAIN_ERROR_RATE`] over
//! the last [`DRAIN_SPAN_MS`] is drained: the algorithm runs over the other arms, the floor
//! is lifted for it and it keeps a probe share (`statistics::probe_share`); after
//! [`RECOVER_REQUESTS`] consecutive probe requests without an error it rejoins the
//! algorithm with the evidence it has. An A/B route with a `guard` checks its arms over the
//! whole health window and, on a breach, stops the experiment or drains the arm (sticky
//! until an operator resumes).

use std::collections::{BTreeMap, VecDeque};

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use super::controller::{self, ArmHealth};
use super::experiment::{self, Epochs, UnitRows, UnitWrite};
use super::store::StoreError;
use crate::base::Rng;
use crate::config::{AbGuardAction, BanditAlgorithm, RewardFeedback, Route, Strategy};
use crate::config::{RouteState, Weights};
use crate::observe::{ArmAggregate, Batch, RouteAggregate};
use crate::receipt::{ReceiptId, ReplayGuard};
use crate::statistics::{
    self, Algorithm, ArmStats, BanditParams, MeanStats, Proportion, RewardModel,
};

/// Health window kept per arm.
pub const HEALTH_SPAN_MS: u64 = 60_000;
/// At most this many per-tick entries per arm (older ones are dropped first).
pub const HEALTH_MAX_ENTRIES: usize = 256;
/// A bandit arm is judged failing over this recent span...
pub const DRAIN_SPAN_MS: u64 = 5_000;
/// ...with at least this many requests...
pub const DRAIN_MIN_REQUESTS: u64 = 10;
/// ...at this error rate (5xx, timeouts, connection failures) or more.
pub const DRAIN_ERROR_RATE: f64 = 0.5;
/// A drained arm rejoins after this many consecutive probe requests without an error.
pub const RECOVER_REQUESTS: u64 = 5;
/// Recent health of one arm, from per-tick deltas of its counters.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct HealthTrack {
    /// Counters at the last tick.
    pub seen_requests: u64,
    pub seen_errors: u64,
    /// `(tick ms, requests, errors)` per tick with traffic, the last [`HEALTH_SPAN_MS`].
    pub recent: VecDeque<(u64, u64, u64)>,
    /// Drained since (bandit arms).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failing_since: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failing_reason: Option<String>,
    /// Requests without an error since the last error, while drained.
    pub ok_streak: u64,
}

impl HealthTrack {
    /// Takes the counters' delta since the last tick into the window; returns it.
    fn observe(&mut self, requests: u64, errors: u64, now_ms: u64) -> (u64, u64) {
        let (dr, de) = if requests < self.seen_requests || errors < self.seen_errors {
            (requests, errors) // the aggregate was reset
        } else {
            (requests - self.seen_requests, errors - self.seen_errors)
        };
        self.seen_requests = requests;
        self.seen_errors = errors;
        if dr > 0 || de > 0 {
            self.recent.push_back((now_ms, dr, de));
        }
        while self
            .recent
            .front()
            .is_some_and(|e| e.0.saturating_add(HEALTH_SPAN_MS) < now_ms)
            || self.recent.len() > HEALTH_MAX_ENTRIES
        {
            self.recent.pop_front();
        }
        (dr, de)
    }

    /// Requests and errors over the last `span_ms`.
    pub fn recent_counts(&self, span_ms: u64, now_ms: u64) -> (u64, u64) {
        self.recent
            .iter()
            .filter(|e| e.0.saturating_add(span_ms) >= now_ms)
            .fold((0, 0), |(r, e), x| {
                (r.saturating_add(x.1), e.saturating_add(x.2))
            })
    }
}

/// What the route's evidence is (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Evidence {
    Conversion,
    Explicit,
    Numeric,
}

/// An operator's action on a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    Rollback,
    Resume,
    Promote,
}

impl Operation {
    pub fn parse(s: &str) -> Option<Operation> {
        match s {
            "rollback" => Some(Operation::Rollback),
            "resume" => Some(Operation::Resume),
            "promote" => Some(Operation::Promote),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Rollback => "rollback",
            Operation::Resume => "resume",
            Operation::Promote => "promote",
        }
    }
}

/// Why an operator action was refused: HTTP status, error code, message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperateError {
    pub status: u16,
    pub code: &'static str,
    pub message: String,
}

fn refuse(code: &'static str, message: String) -> OperateError {
    OperateError {
        status: 409,
        code,
        message,
    }
}

/// Largest reward magnitude accepted: `|reward| <= MAX_ABS_REWARD`. With it a reward's square
/// is at most 1e12 and a sum of squares stays finite for more than 1e296 rewards, so stored
/// aggregates can never overflow to infinity (which JSON cannot hold).
pub const MAX_ABS_REWARD: f64 = 1e6;

/// Checks a reward where it enters: finite and within [`MAX_ABS_REWARD`].
pub fn check_reward(reward: f64) -> Result<(), FeedbackError> {
    if !reward.is_finite() {
        return Err(FeedbackError::BadReward(
            "reward must be a finite number".into(),
        ));
    }
    if reward.abs() > MAX_ABS_REWARD {
        return Err(FeedbackError::BadReward(format!(
            "reward must be within [-{MAX_ABS_REWARD:e}, {MAX_ABS_REWARD:e}]"
        )));
    }
    Ok(())
}

/// What a credit needs before anything is looked up: a reward [`check_reward`] accepts and an
/// arm name a receipt can carry.
pub fn check_credit(arm: &str, reward: f64) -> Result<(), FeedbackError> {
    check_reward(reward)?;
    if !crate::receipt::valid_name(arm.as_bytes()) {
        return Err(FeedbackError::BadReward(
            crate::observe::RewardError::BadArm.to_string(),
        ));
    }
    Ok(())
}

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
    pub replay: ReplayGuard,
    /// Last state written to `state:<route>`.
    pub state: Option<RouteState>,
    /// Last weights written to `weights:<route>`.
    pub weights: Option<Weights>,
    /// Config fingerprint the aggregates belong to: a new strategy starts a new experiment.
    pub fingerprint: String,
    pub last_report_ms: u64,
    pub last_tick_ms: u64,
    /// Override tokens seen (forced requests are not in `total` or `window`).
    pub overrides: crate::observe::OverrideTotals,
    /// Recent health per arm (see [`HealthTrack`]).
    pub health: BTreeMap<String, HealthTrack>,
    /// Units per split the edge routed under, their sums and sequential tests (the unit
    /// rows themselves are in storage: [`crate::experiment`]).
    pub epochs: Epochs,
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

    /// Folds a batch into the totals and the window; returns how many entries were merged.
    /// Units are counted by [`Learner::report_units`].
    pub fn report(&mut self, batch: &Batch, now_ms: u64) -> usize {
        self.window.merge_batch(batch);
        self.overrides.merge(&batch.overrides);
        self.last_report_ms = now_ms;
        self.total.merge_batch(batch)
    }

    /// Counts a batch's units per split (reading their rows from `rows`, at most `cap` rows
    /// in all); returns the unit rows to write.
    pub fn report_units(
        &mut self,
        batch: &Batch,
        now_ms: u64,
        rows: &impl UnitRows,
        cap: u64,
    ) -> Result<Vec<UnitWrite>, StoreError> {
        let keys = self.epochs.keys_for(&self.route, batch, now_ms);
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let stored = rows.unit_rows(&keys)?;
        Ok(self
            .epochs
            .fold(&self.route, batch, &keys, &stored, cap, now_ms))
    }

    /// Credits a reward to the unit that earned it (its row under the most recent split that
    /// knows it); the row to write, if any. The arm's totals are credited by
    /// [`Learner::credit`].
    pub fn credit_unit(
        &mut self,
        arm: &str,
        unit: u64,
        reward: f64,
        rows: &impl UnitRows,
        cap: u64,
    ) -> Result<Option<UnitWrite>, StoreError> {
        let keys = self.epochs.credit_keys(arm, unit);
        let stored = rows.unit_rows(&keys)?;
        Ok(self.epochs.credit(&keys, &stored, reward, cap))
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
        check_credit(arm, reward)?;
        if !self
            .replay
            .check_and_insert(id, issued_ms, now_ms, max_age_ms)
        {
            return Err(FeedbackError::Replayed);
        }
        self.credit(arm, reward)
    }

    /// Credits one reward without replay protection: the caller (the durable ledger,
    /// `crate::learn`) has established that the receipt is new.
    pub fn credit(&mut self, arm: &str, reward: f64) -> Result<(), FeedbackError> {
        check_reward(reward)?;
        self.total
            .credit_reward(arm, reward)
            .map_err(|e| FeedbackError::BadReward(e.to_string()))?;
        let _ = self.window.credit_reward(arm, reward);
        Ok(())
    }

    /// Runs the learning loop once: health, bandit weights, A/B guard, controller,
    /// sequential tests.
    pub fn tick<R: Rng>(&mut self, route: &Route, now_ms: u64, rng: &mut R) -> TickOutput {
        self.last_tick_ms = now_ms;
        if self.fingerprint != route.fingerprint {
            // The strategy was edited: its old counts describe another experiment.
            if !self.fingerprint.is_empty() {
                self.total.reset(now_ms);
                self.window.reset(now_ms);
                self.health.clear();
                self.state = None;
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
                ..
            } => {
                let names: Vec<&str> = arms.iter().map(|a| a.name.as_str()).collect();
                let failing = self.judge_bandit_health(&names, &deltas, now_ms);
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
                self.weights = Some(weights.clone());
                out.weights = Some(weights);
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
        let out = self.control(route, now_ms, out);
        self.look(route, now_ms);
        out
    }

    /// The experiment's arms (control first) and its evidence; the metric is a ratio (mean
    /// reward per reward received) unless the evidence is conversion; `None` without an
    /// experiment.
    fn experiment_arms<'r>(&self, route: &'r Route) -> Option<(Vec<&'r str>, Evidence)> {
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

    /// Takes every arm's counter deltas into its health window; returns the deltas.
    fn observe_health(&mut self, now_ms: u64) -> BTreeMap<String, (u64, u64)> {
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
    fn judge_bandit_health(
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

    /// The A/B health guard: a new state when an arm breaches and nothing is drained yet.
    fn ab_guard(
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

    /// The evidence of a route with these arms: numeric once any arm got a reward other
    /// than 0 or 1, else as the bandit's `feedback` says (A/B and canary routes: conversion).
    pub fn evidence(&self, names: &[&str], feedback: Option<RewardFeedback>) -> Evidence {
        let numeric = names
            .iter()
            .any(|n| self.total.arm(n).is_some_and(|a| a.reward_non_binary));
        match (numeric, feedback) {
            (true, _) => Evidence::Numeric,
            (false, Some(RewardFeedback::Explicit)) => Evidence::Explicit,
            _ => Evidence::Conversion,
        }
    }

    /// An operator's action (`POST /_switchyard/{rollback,resume,promote}/<route>`): what to
    /// write to KV, or why not. Recorded in the state (`last_action`, `last_action_ms`).
    pub fn operate(
        &mut self,
        route: &Route,
        op: Operation,
        now_ms: u64,
    ) -> Result<TickOutput, OperateError> {
        let cur = self
            .state
            .clone()
            .filter(|s| s.fingerprint == route.fingerprint);
        let base = RouteState {
            fingerprint: route.fingerprint.clone(),
            last_action: Some(op.as_str().to_string()),
            last_action_ms: Some(now_ms),
            updated_ms: now_ms,
            ..cur.clone().unwrap_or_default()
        };
        let kind = route.strategy.kind();
        let mut out = TickOutput::default();
        let state = match (&route.strategy, op) {
            (Strategy::Canary { .. }, Operation::Rollback) => RouteState {
                canary_percent: Some(0.0),
                rolled_back: true,
                reason: Some("canary rolled back by an operator".into()),
                step_started_ms: now_ms,
                ..base
            },
            (
                Strategy::Canary {
                    percent_ppm, steps, ..
                },
                Operation::Resume,
            ) => {
                if !cur.as_ref().is_some_and(|s| s.rolled_back) {
                    return Err(refuse(
                        "not_rolled_back",
                        format!("route {:?} is not rolled back", route.name),
                    ));
                }
                // Back to the step in force when the breach happened, its hold restarted.
                let ppm = if steps.is_empty() {
                    *percent_ppm
                } else {
                    steps
                        .get(base.step)
                        .map_or(crate::base::PPM, |s| s.percent_ppm)
                };
                let percent = ppm as f64 / 10_000.0;
                RouteState {
                    canary_percent: Some(percent),
                    rolled_back: false,
                    reason: Some(format!("canary resumed by an operator at {percent}%")),
                    step_started_ms: now_ms,
                    ..base
                }
            }
            (Strategy::Canary { steps, .. }, Operation::Promote) => RouteState {
                canary_percent: Some(100.0),
                step: steps.len(),
                rolled_back: false,
                reason: Some("canary promoted to 100% by an operator".into()),
                step_started_ms: now_ms,
                ..base
            },
            (Strategy::Ab { guard: Some(_), .. }, Operation::Resume) => {
                if base.drained.is_empty() {
                    return Err(refuse(
                        "not_stopped",
                        format!("the guard of route {:?} has not acted", route.name),
                    ));
                }
                // The guard judges afresh from now on.
                for t in self.health.values_mut() {
                    t.recent.clear();
                }
                RouteState {
                    drained: Vec::new(),
                    reason: Some("experiment resumed by an operator".into()),
                    ..base
                }
            }
            (Strategy::Rolling { .. }, Operation::Resume) => {
                if base.paused.is_none() {
                    return Err(refuse(
                        "not_paused",
                        format!("the rollout of route {:?} is not paused", route.name),
                    ));
                }
                // Judged afresh: the controller pauses again if the new side still fails.
                self.window.reset(now_ms);
                RouteState {
                    paused: None,
                    reason: Some("rollout resumed by an operator".into()),
                    step_started_ms: now_ms,
                    ..base
                }
            }
            (Strategy::Bandit { arms, .. }, Operation::Promote) => {
                let leader = self.leader(arms);
                let weights = Weights {
                    arms: arms
                        .iter()
                        .map(|a| (a.name.clone(), if a.name == leader { 1.0 } else { 0.0 }))
                        .collect(),
                    updated_ms: now_ms,
                    drained: arms
                        .iter()
                        .filter(|a| a.name != leader)
                        .map(|a| a.name.clone())
                        .collect(),
                };
                self.weights = Some(weights.clone());
                out.weights = Some(weights);
                RouteState {
                    reason: Some(format!(
                        "arm {leader} promoted to the whole route by an operator"
                    )),
                    promoted_arm: Some(leader),
                    ..base
                }
            }
            (Strategy::Bandit { .. }, Operation::Resume) => {
                if base.promoted_arm.is_none() {
                    return Err(refuse(
                        "not_promoted",
                        format!("no arm of route {:?} is promoted", route.name),
                    ));
                }
                RouteState {
                    promoted_arm: None,
                    reason: Some("bandit resumed by an operator".into()),
                    ..base
                }
            }
            _ => {
                let (code, applies) = match op {
                    Operation::Rollback => ("not_a_canary", "canary routes"),
                    Operation::Resume => (
                        "not_resumable",
                        "rolled-back canaries, paused rollouts, stopped A/B routes (with a guard) and promoted bandits",
                    ),
                    Operation::Promote => ("not_promotable", "canary and bandit routes"),
                };
                return Err(refuse(
                    code,
                    format!(
                        "route {:?} is a {kind} route; {} applies to {applies}",
                        route.name,
                        op.as_str()
                    ),
                ));
            }
        };
        if matches!(route.strategy, Strategy::Canary { .. }) {
            // A new share is in force: the guard judges the new step's window.
            self.window.reset(now_ms);
        }
        if self.fingerprint.is_empty() {
            self.fingerprint = route.fingerprint.clone();
        }
        self.state = Some(state.clone());
        out.state = Some(state);
        Ok(out)
    }

    /// The bandit's leader: the arm with the highest weight last written, else the highest
    /// mean reward, else the first.
    fn leader(&self, arms: &[crate::config::Arm]) -> String {
        let by_weight = self.weights.as_ref().and_then(|w| {
            arms.iter()
                .filter_map(|a| w.arms.get(&a.name).map(|x| (a, *x)))
                .filter(|(_, x)| x.is_finite())
                .max_by(|a, b| a.1.total_cmp(&b.1))
                .map(|(a, _)| a.name.clone())
        });
        by_weight
            .or_else(|| {
                arms.iter()
                    .filter_map(|a| {
                        self.total
                            .arm(&a.name)
                            .and_then(ArmAggregate::reward_mean)
                            .map(|m| (a, m))
                    })
                    .max_by(|a, b| a.1.total_cmp(&b.1))
                    .map(|(a, _)| a.name.clone())
            })
            .or_else(|| arms.first().map(|a| a.name.clone()))
            .unwrap_or_default()
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

    /// The experiment over units ([`experiment::document`]): per arm units, requests,
    /// conversion per unit (0/1 rewards, `conversion` feedback) or the mean reward per reward
    /// received (numeric or explicit rewards) with its comparison against the control, the
    /// always-valid test and one verdict; the sequential SRM check of units against the split
    /// in force. Bandits (moving weights) have no SRM check.
    fn experiment(&self, route: &Route) -> Option<Value> {
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

/// What a bandit learns from for one arm under `mode` (see the module docs).
pub fn bandit_evidence(a: Option<&ArmAggregate>, mode: Evidence) -> ArmStats {
    a.map_or(ArmStats::default(), |a| match mode {
        Evidence::Numeric => ArmStats {
            pulls: a.reward_count,
            reward_sum: a.reward_sum,
            reward_sq_sum: a.reward_sq_sum,
        },
        Evidence::Explicit => ArmStats {
            pulls: a.reward_count.saturating_add(a.errors()),
            reward_sum: a.reward_sum,
            reward_sq_sum: a.reward_sq_sum,
        },
        Evidence::Conversion => ArmStats {
            pulls: a.requests.max(a.reward_count),
            reward_sum: a.reward_sum,
            reward_sq_sum: a.reward_sq_sum,
        },
    })
}

/// Conversion counts of an arm (0/1 rewards): trials as in [`bandit_evidence`], rewards
/// above zero counted as converted units.
pub fn proportion_of(a: Option<&ArmAggregate>, mode: Evidence) -> Proportion {
    let s = bandit_evidence(a, mode);
    let conversions = (s.reward_sum.max(0.0).round() as u64).min(s.pulls);
    Proportion {
        n: s.pulls,
        conversions,
    }
}

/// Conversion counts with every routed request a trial (A/B and canary routes).
pub fn proportion(a: Option<&ArmAggregate>) -> Proportion {
    proportion_of(a, Evidence::Conversion)
}

/// Numeric-reward statistics of an arm: the rewards that arrived.
pub fn mean_stats(a: Option<&ArmAggregate>) -> MeanStats {
    a.map_or(MeanStats::default(), |a| {
        MeanStats::new(a.reward_count, a.reward_sum, a.reward_sq_sum)
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
