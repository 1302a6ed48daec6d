//! An operator's actions on a route (rollback, resume, promote), as the control plane calls
//! them: each checked against the route's strategy and state, refused with a 409 and a
//! reason when it does not apply.

use super::learner::Learner;
use super::tick::TickOutput;
use crate::config::{Route, Strategy, Trainer};
use crate::config::{RouteState, Weights};
use crate::observe::ArmAggregate;

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

impl Learner {
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
                // Back to the step in force when the breach happened, its hold restarted (a
                // candidate rolled back in its shadow stage goes back to the shadow stage).
                let ppm = if base.stage.as_deref() == Some(crate::config::STAGE_SHADOW) {
                    0
                } else if steps.is_empty() {
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
                // Past any shadow gate: the operator decided.
                stage: base
                    .stage
                    .as_ref()
                    .map(|_| crate::config::STAGE_LIVE.to_string()),
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
            (
                Strategy::Bandit {
                    trainer: Trainer::External,
                    ..
                },
                Operation::Promote,
            ) => {
                return Err(refuse(
                    "external_trainer",
                    format!(
                        "route {:?} follows an external trainer's weights; write them with PUT /_switchyard/weights/{}",
                        route.name, route.name
                    ),
                ));
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
                self.publish_weights(route, weights, &mut out);
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
        out.state = Some(state);
        let old = self.state.clone();
        self.stamp(old.as_ref(), &mut out, true);
        Ok(out)
    }

    /// Adopts a controller state an operator wrote by hand, in a new epoch; returns it as
    /// stored (with its epoch).
    pub fn adopt(&mut self, st: RouteState) -> RouteState {
        self.epoch = self.epoch.saturating_add(1);
        let st = RouteState {
            epoch: self.epoch,
            ..st
        };
        self.state = Some(st.clone());
        st
    }

    /// The bandit's leader: the arm with the highest weight last written, else the highest
    /// mean reward, else the first.
    pub(super) fn leader(&self, arms: &[crate::config::Arm]) -> String {
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
}
