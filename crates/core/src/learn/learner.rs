//! What a route's Durable Object knows and decides, without the Durable Object: the
//! running aggregates, the controller window, replay protection for receipts, and on each
//! tick the bandit weights, the controller step and the sequential-test state. The edge
//! object only loads and saves a [`Learner`] and writes its outputs to KV.
//!
//! This file holds the state, what a report and a credit do, and the evidence a route learns
//! from; the arms' health is `health.rs`, the tick `tick.rs`, the operator's actions
//! `operate.rs` and the JSON view `view.rs`.
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

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::controller::ArmHealth;
use super::experiment::{Epochs, UnitRows, UnitWrite};
use super::health::HealthTrack;
use super::store::StoreError;
use crate::config::{RewardFeedback, Route};
use crate::config::{RouteState, Weights};
use crate::observe::{ArmAggregate, Batch, RouteAggregate};
use crate::receipt::{ReceiptId, ReplayGuard};
use crate::statistics::{ArmStats, MeanStats, Proportion};

/// What the route's evidence is (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Evidence {
    Conversion,
    Explicit,
    Numeric,
}

/// Largest reward magnitude accepted anywhere (a route's own `reward` range is within it).
pub use crate::config::MAX_ABS_REWARD;

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
    if !crate::base::valid_name(arm.as_bytes(), crate::base::NameChars::Any) {
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
    /// The allocation layout written with them (sticky bandits): the next weights are laid
    /// out from it, so a tick moves only the units its change requires.
    pub layout: Option<crate::routing::Layout>,
    /// Config fingerprint the aggregates belong to: a new strategy starts a new experiment.
    pub fingerprint: String,
    pub last_report_ms: u64,
    pub last_tick_ms: u64,
    /// Override tokens seen (forced requests are not in `total` or `window`).
    pub overrides: crate::observe::OverrideTotals,
    /// Recent health per arm (see [`HealthTrack`]).
    pub health: BTreeMap<String, HealthTrack>,
    /// Units per split the edge routed under, their sums and sequential tests (the unit
    /// rows themselves are in storage: `experiment.rs`).
    pub epochs: Epochs,
    /// The controller epoch in force (see [`RouteState::epoch`]); every state written
    /// carries it.
    pub epoch: u64,
    /// Observations that arrived from an older epoch: counted in `total` (and the series),
    /// kept out of `window` and out of the health window.
    pub stale_observations: u64,
    /// The last decision of each release gate of the route (`super::gates`).
    pub gates: Vec<super::gates::GateDecision>,
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

impl Learner {
    pub fn new(route: &str) -> Self {
        Self {
            route: route.to_string(),
            total: RouteAggregate::new(route),
            window: RouteAggregate::new(route),
            ..Default::default()
        }
    }

    /// Folds a batch in. Entries the edge tagged with an older controller epoch than the
    /// one in force are re-filed: counted in `total` and the series (they happened; their
    /// units are counted by [`Learner::report_units`]), but kept out of the controller's `window` and the health window, so
    /// evidence gathered before an operator's action, a rollback, a promotion or a strategy
    /// change never judges the route after it.
    pub fn report(&mut self, batch: &Batch, now_ms: u64) -> usize {
        let epoch = self.epoch;
        let stale = |e: Option<u64>| e.is_some_and(|e| e < epoch);
        if batch.arms.iter().any(|a| stale(a.epoch)) || batch.shadows.iter().any(|s| stale(s.epoch))
        {
            let mut current = batch.clone();
            current.arms.retain(|a| !stale(a.epoch));
            current.shadows.retain(|s| !stale(s.epoch));
            self.window.merge_batch(&current);
            for a in batch
                .arms
                .iter()
                .filter(|a| a.route == self.route && stale(a.epoch))
            {
                self.stale_observations = self.stale_observations.saturating_add(a.counts.requests);
                // Already seen, as far as the health window is concerned.
                let t = self.health.entry(a.arm.clone()).or_default();
                t.seen_requests = t.seen_requests.saturating_add(a.counts.requests);
                t.seen_errors = t.seen_errors.saturating_add(a.counts.errors());
            }
        } else {
            self.window.merge_batch(batch);
        }
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
    /// knows it); the row to write, if any. `route`: the route's config in force, when the
    /// caller has it (the route's own object, not a ledger shard): its split is noted first
    /// ([`Epochs::enter`]), so a unit whose feedback overtakes every report still gets its
    /// row. The arm's totals are credited by [`Learner::credit`].
    pub fn credit_unit(
        &mut self,
        arm: &str,
        unit: u64,
        reward: f64,
        (route, now_ms): (Option<&Route>, u64),
        rows: &impl UnitRows,
        cap: u64,
    ) -> Result<Option<UnitWrite>, StoreError> {
        if let Some(r) = route {
            let state = self.state.clone();
            self.epochs.enter(r, state.as_ref(), now_ms);
        }
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
        self.credit_logged(arm, reward, None)
    }

    /// [`credit`](Self::credit) of a reward whose receipt carried the decision's propensity
    /// (`ppm`): it also enters the off-policy-evaluation sums.
    pub fn credit_logged(
        &mut self,
        arm: &str,
        reward: f64,
        ppm: Option<u32>,
    ) -> Result<(), FeedbackError> {
        check_reward(reward)?;
        self.total
            .credit_logged(arm, reward, ppm)
            .map_err(|e| FeedbackError::BadReward(e.to_string()))?;
        let _ = self.window.credit_logged(arm, reward, ppm);
        Ok(())
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
}
