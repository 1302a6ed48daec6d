//! Canary and rolling controllers: given what a route's arms did in the current window and
//! the state in force, the next [`RouteState`] (written to KV `state:<route>` by the route's
//! Durable Object, read by the edge). Pure and time-injected, so every transition is tested
//! natively.
//!
//! Canary: the share starts at `steps[0]` (or `percent` without steps); each step is held
//! `hold_s` and then the next one applies; after the last step the canary is promoted to
//! 100 %. At any time, a guard breach (error rate, p95 latency ratio against stable, once the
//! canary has `min_requests` in the window) sets the share to 0 and records `rolled_back`
//! with the reason. A rollback sticks until the route's strategy is edited in the config.
//!
//! Rolling: with `interval_s` set, one more batch completes every interval while the `to`
//! side is healthy; when it is not, the rollout pauses (and resumes once healthy).

use crate::config::RouteState;
use crate::config::{Guard, Route, Strategy};

/// What one arm did in the current window.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ArmHealth {
    pub requests: u64,
    /// 5xx, timeouts and connection failures.
    pub errors: u64,
    pub p95_ms: Option<f64>,
}

impl ArmHealth {
    pub fn error_rate(&self) -> f64 {
        if self.requests == 0 {
            0.0
        } else {
            self.errors as f64 / self.requests as f64
        }
    }
}

/// Used for rolling releases without a `guard`.
pub const DEFAULT_ROLLING_GUARD: Guard = Guard {
    max_error_rate: Some(0.05),
    max_p95_latency_ratio: None,
    min_requests: 20,
};

/// Why `candidate` breaches `guard` against `baseline`, if it does.
pub fn breach(guard: &Guard, candidate: &ArmHealth, baseline: &ArmHealth) -> Option<String> {
    if candidate.requests < guard.min_requests.max(1) {
        return None;
    }
    if let Some(max) = guard.max_error_rate {
        let rate = candidate.error_rate();
        if rate > max {
            return Some(format!(
                "error rate {:.4} > {max} ({} of {} requests)",
                rate, candidate.errors, candidate.requests
            ));
        }
    }
    if let (Some(max), Some(c), Some(b)) = (
        guard.max_p95_latency_ratio,
        candidate.p95_ms,
        baseline.p95_ms,
    ) {
        if b > 0.0 && c / b > max {
            return Some(format!(
                "p95 latency ratio {:.2} > {max} ({c:.0} ms vs {b:.0} ms)",
                c / b
            ));
        }
    }
    None
}

/// What the controller decided.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    pub state: RouteState,
    /// The observation window should restart (a new share is in force).
    pub reset_window: bool,
}

/// The next state for `route`, or `None` when nothing changes (or the strategy has no
/// controller). `arms` looks up an arm's health in the current window by arm name.
pub fn next(
    route: &Route,
    current: Option<&RouteState>,
    arms: &dyn Fn(&str) -> ArmHealth,
    now_ms: u64,
) -> Option<Step> {
    let current = current.filter(|s| s.fingerprint == route.fingerprint);
    match &route.strategy {
        Strategy::Canary {
            percent_ppm,
            steps,
            guard,
            ..
        } => {
            if steps.is_empty() && guard.is_none() {
                return None;
            }
            let Some(cur) = current else {
                let first = steps.first().map_or(*percent_ppm, |s| s.percent_ppm);
                return Some(Step {
                    state: RouteState {
                        fingerprint: route.fingerprint.clone(),
                        canary_percent: Some(first as f64 / 10_000.0),
                        step: 0,
                        step_started_ms: now_ms,
                        updated_ms: now_ms,
                        ..Default::default()
                    },
                    reset_window: true,
                });
            };
            if cur.rolled_back {
                return None;
            }
            if let Some(g) = guard {
                if let Some(why) = breach(g, &arms("canary"), &arms("stable")) {
                    return Some(Step {
                        state: RouteState {
                            canary_percent: Some(0.0),
                            rolled_back: true,
                            reason: Some(format!("canary rolled back: {why}")),
                            updated_ms: now_ms,
                            ..cur.clone()
                        },
                        reset_window: true,
                    });
                }
            }
            // Past the last step (promoted) there is nothing left to hold.
            let hold_ms = steps.get(cur.step).map(|s| s.hold_s as u64 * 1000)?;
            if now_ms.saturating_sub(cur.step_started_ms) < hold_ms {
                return None;
            }
            // "While the guard holds" needs evidence: a step with too few canary requests to
            // judge is held longer rather than passed by default.
            if guard
                .as_ref()
                .is_some_and(|g| arms("canary").requests < g.min_requests.max(1))
            {
                return None;
            }
            let next_step = cur.step + 1;
            let percent = steps
                .get(next_step)
                .map_or(100.0, |s| s.percent_ppm as f64 / 10_000.0);
            Some(Step {
                state: RouteState {
                    canary_percent: Some(percent),
                    step: next_step,
                    step_started_ms: now_ms,
                    updated_ms: now_ms,
                    reason: (next_step == steps.len())
                        .then(|| "canary promoted to 100%".to_string()),
                    ..cur.clone()
                },
                reset_window: true,
            })
        }
        Strategy::Rolling {
            batches,
            completed,
            interval_s: Some(interval_s),
            guard,
            ..
        } => {
            let Some(cur) = current else {
                return Some(Step {
                    state: RouteState {
                        fingerprint: route.fingerprint.clone(),
                        completed: Some(*completed),
                        step_started_ms: now_ms,
                        updated_ms: now_ms,
                        ..Default::default()
                    },
                    reset_window: true,
                });
            };
            let done = cur.completed.unwrap_or(*completed);
            if done >= *batches {
                return None;
            }
            let g = guard.as_ref().unwrap_or(&DEFAULT_ROLLING_GUARD);
            if let Some(why) = breach(g, &arms("to"), &arms("from")) {
                let reason = format!("rollout paused: {why}");
                if cur.paused.as_deref() == Some(reason.as_str()) {
                    return None;
                }
                return Some(Step {
                    state: RouteState {
                        paused: Some(reason),
                        updated_ms: now_ms,
                        ..cur.clone()
                    },
                    reset_window: true,
                });
            }
            // Healthy means judged healthy: with `to` traffic (every batch after the first)
            // the window needs `min_requests` on `to` before a batch completes or a pause ends.
            if done > 0 && arms("to").requests < g.min_requests.max(1) {
                return None;
            }
            if cur.paused.is_some() {
                return Some(Step {
                    state: RouteState {
                        paused: None,
                        step_started_ms: now_ms,
                        updated_ms: now_ms,
                        ..cur.clone()
                    },
                    reset_window: true,
                });
            }
            if now_ms.saturating_sub(cur.step_started_ms) < *interval_s as u64 * 1000 {
                return None;
            }
            Some(Step {
                state: RouteState {
                    completed: Some(done + 1),
                    paused: None,
                    step_started_ms: now_ms,
                    updated_ms: now_ms,
                    ..cur.clone()
                },
                reset_window: true,
            })
        }
        _ => None,
    }
}

/// One change of a route's controller state, named once: the timeline (`crate::series`),
/// the webhooks (`crate::ops::events`) and the controller epoch (`Learner`) all read it from
/// [`transitions`], so one change is never described two ways.
#[derive(Debug, Clone, PartialEq)]
pub struct Transition {
    /// One of [`TRANSITION_KINDS`].
    pub kind: &'static str,
    /// What happened, for people (the state's `reason` when it has one).
    pub detail: String,
}

/// What a state change can be called.
pub const TRANSITION_KINDS: [&str; 6] = ["rollback", "resume", "promote", "step", "pause", "gate"];

/// Kinds that start a new controller epoch: evidence gathered before them no longer judges
/// the route (an operator's action starts one too, whatever it was).
pub const EPOCH_KINDS: [&str; 3] = ["rollback", "resume", "promote"];

/// The changes between two controller states of a route. With `op` (an operator's
/// `rollback`, `resume` or `promote`) the change is that action alone: one action, one
/// transition (none when it changed nothing the edge routes by, e.g. a second rollback).
/// Otherwise (the controller or a guard decided) each of: a rollback (alone), a
/// resume, a passed shadow gate, a new canary step or rolling batch (`promote` when the canary
/// reaches 100 %), a pause, arms drained by an A/B guard, a bandit arm promoted. A state of
/// another strategy version (fingerprint) counts as no state.
pub fn transitions(
    old: Option<&RouteState>,
    new: &RouteState,
    op: Option<&str>,
) -> Vec<Transition> {
    let reason = new.reason.clone().unwrap_or_default();
    let or = |fallback: String| {
        if reason.is_empty() {
            fallback
        } else {
            reason.clone()
        }
    };
    let known = old.filter(|o| o.fingerprint == new.fingerprint);
    if let Some(op) = op {
        // An action that changes nothing the edge routes by (rolling back a rolled-back
        // route, promoting a promoted one) is no event.
        if known.is_some_and(|o| routes_alike(o, new)) {
            return Vec::new();
        }
        let kind = TRANSITION_KINDS
            .iter()
            .find(|k| **k == op)
            .copied()
            .unwrap_or("step");
        let detail = if reason.is_empty() {
            format!("{op} by an operator")
        } else {
            format!("{op} by an operator: {reason}")
        };
        return vec![Transition { kind, detail }];
    }
    let blank = RouteState::default();
    let old = known.unwrap_or(&blank);
    let mut out = Vec::new();
    let mut push = |kind: &'static str, detail: String| out.push(Transition { kind, detail });
    if new.rolled_back {
        if !old.rolled_back {
            push("rollback", or("rolled back".into()));
        }
        return out;
    }
    if old.rolled_back {
        push("resume", or("resumed".into()));
    }
    let shadow = |s: &RouteState| s.stage.as_deref() == Some("shadow");
    if shadow(old) && !shadow(new) && new.stage.is_some() {
        push("gate", or("shadow gate passed".into()));
    } else if new.step != old.step {
        let pct = new.canary_percent.unwrap_or(0.0);
        if pct >= 100.0 && old.canary_percent.is_none_or(|o| o < 100.0) {
            push("promote", or("canary promoted to 100%".into()));
        } else {
            push("step", format!("step {} → {}", old.step, new.step));
        }
    }
    if known.is_some_and(|o| o.completed.is_some()) && new.completed != old.completed {
        push(
            "step",
            format!("{} rolling batch(es) completed", new.completed.unwrap_or(0)),
        );
    }
    if new.paused.is_some() && new.paused != old.paused {
        push("pause", new.paused.clone().unwrap_or_default());
    }
    let drained: Vec<&str> = new
        .drained
        .iter()
        .filter(|a| !old.drained.contains(a))
        .map(String::as_str)
        .collect();
    if !drained.is_empty() {
        let arms = drained.join(", ");
        let what = if drained.len() == 1 { "arm" } else { "arms" };
        push(
            "rollback",
            if reason.is_empty() {
                format!("{what} {arms} drained")
            } else {
                format!("{what} {arms} drained: {reason}")
            },
        );
    }
    if new.promoted_arm.is_some() && new.promoted_arm != old.promoted_arm {
        push(
            "promote",
            format!(
                "arm {} promoted",
                new.promoted_arm.clone().unwrap_or_default()
            ),
        );
    }
    out
}

/// Whether two states route alike: the same share, step, stage, rollback, rolling batches,
/// pause, drained arms and promoted arm (bookkeeping such as the reason, the last action and
/// the times aside).
fn routes_alike(a: &RouteState, b: &RouteState) -> bool {
    a.canary_percent == b.canary_percent
        && a.step == b.step
        && a.stage == b.stage
        && a.rolled_back == b.rolled_back
        && a.completed == b.completed
        && a.paused == b.paused
        && a.drained == b.drained
        && a.promoted_arm == b.promoted_arm
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config;

    fn route(strategy: &str) -> Route {
        let text = format!(
            r#"{{"version":1,"origins":{{"a":{{"url":"http://127.0.0.1:1"}},"b":{{"url":"http://127.0.0.1:2"}}}},
            "routes":[{{"name":"r","match":{{"path_prefix":"/"}},"strategy":{strategy}}}]}}"#
        );
        config::parse(&text).unwrap().routes.remove(0)
    }

    fn healthy(_: &str) -> ArmHealth {
        ArmHealth {
            requests: 1000,
            errors: 1,
            p95_ms: Some(50.0),
        }
    }

    #[test]
    fn canary_walks_steps_then_promotes() {
        let r = route(
            r#"{"kind":"canary","stable":"a","canary":"b","percent":1,"steps":[{"percent":5,"hold_s":10},{"percent":25,"hold_s":10}],"guard":{"max_error_rate":0.05}}"#,
        );
        let s0 = next(&r, None, &healthy, 1_000).unwrap().state;
        assert_eq!(s0.canary_percent, Some(5.0));
        assert_eq!(next(&r, Some(&s0), &healthy, 10_999), None, "still holding");
        let s1 = next(&r, Some(&s0), &healthy, 11_000).unwrap().state;
        assert_eq!((s1.step, s1.canary_percent), (1, Some(25.0)));
        let s2 = next(&r, Some(&s1), &healthy, 21_000).unwrap().state;
        assert_eq!((s2.step, s2.canary_percent), (2, Some(100.0)));
        assert_eq!(
            next(&r, Some(&s2), &healthy, 99_000),
            None,
            "promoted is final"
        );
    }

    #[test]
    fn canary_rolls_back_on_errors_and_latency_and_sticks() {
        let r = route(
            r#"{"kind":"canary","stable":"a","canary":"b","percent":10,"guard":{"max_error_rate":0.05,"max_p95_latency_ratio":2,"min_requests":50}}"#,
        );
        let s0 = next(&r, None, &healthy, 0).unwrap().state;
        let erroring = |arm: &str| match arm {
            "canary" => ArmHealth {
                requests: 60,
                errors: 10,
                p95_ms: Some(50.0),
            },
            _ => healthy(arm),
        };
        let too_few = |arm: &str| match arm {
            "canary" => ArmHealth {
                requests: 49,
                errors: 49,
                p95_ms: None,
            },
            _ => healthy(arm),
        };
        assert_eq!(
            next(&r, Some(&s0), &too_few, 5),
            None,
            "below min_requests nothing is judged"
        );
        let rb = next(&r, Some(&s0), &erroring, 5).unwrap().state;
        assert!(rb.rolled_back);
        assert_eq!(rb.canary_percent, Some(0.0));
        assert!(
            rb.reason.as_deref().unwrap().contains("error rate"),
            "{rb:?}"
        );
        assert_eq!(next(&r, Some(&rb), &healthy, 1_000_000), None);
        let slow = |arm: &str| match arm {
            "canary" => ArmHealth {
                requests: 100,
                errors: 0,
                p95_ms: Some(150.0),
            },
            _ => healthy(arm),
        };
        let rb2 = next(&r, Some(&s0), &slow, 5).unwrap().state;
        assert!(rb2.reason.unwrap().contains("p95 latency ratio 3.00"));
    }

    #[test]
    fn state_of_another_strategy_version_is_replaced() {
        let r = route(
            r#"{"kind":"canary","stable":"a","canary":"b","percent":10,"guard":{"max_error_rate":0.05}}"#,
        );
        let stale = RouteState {
            fingerprint: "old".into(),
            rolled_back: true,
            ..Default::default()
        };
        let s = next(&r, Some(&stale), &healthy, 7).unwrap().state;
        assert!(!s.rolled_back);
        assert_eq!(s.fingerprint, r.fingerprint);
        assert_eq!(s.canary_percent, Some(10.0));
    }

    #[test]
    fn rolling_advances_while_healthy_and_pauses_when_not() {
        let r = route(
            r#"{"kind":"rolling","from":"a","to":"b","batches":3,"completed":0,"interval_s":5}"#,
        );
        let s0 = next(&r, None, &healthy, 0).unwrap().state;
        assert_eq!(s0.completed, Some(0));
        assert_eq!(next(&r, Some(&s0), &healthy, 4_999), None);
        let s1 = next(&r, Some(&s0), &healthy, 5_000).unwrap().state;
        assert_eq!(s1.completed, Some(1));
        let sick = |arm: &str| match arm {
            "to" => ArmHealth {
                requests: 100,
                errors: 30,
                p95_ms: None,
            },
            _ => healthy(arm),
        };
        let p = next(&r, Some(&s1), &sick, 20_000).unwrap().state;
        assert_eq!(p.completed, Some(1));
        assert!(p.paused.as_deref().unwrap().contains("paused"));
        assert_eq!(
            next(&r, Some(&p), &sick, 21_000),
            None,
            "pause is written once"
        );
        let quiet = |_: &str| ArmHealth::default();
        assert_eq!(
            next(&r, Some(&p), &quiet, 30_000),
            None,
            "no evidence, no resume"
        );
        let resumed = next(&r, Some(&p), &healthy, 30_000).unwrap().state;
        assert_eq!(
            (resumed.completed, resumed.paused.as_deref()),
            (Some(1), None)
        );
        assert_eq!(
            next(&r, Some(&resumed), &healthy, 34_999),
            None,
            "a fresh interval starts"
        );
        let s2 = next(&r, Some(&resumed), &healthy, 35_000).unwrap().state;
        assert_eq!(s2.completed, Some(2));
        assert_eq!(
            next(&r, Some(&s2), &quiet, 45_000),
            None,
            "no evidence, no batch"
        );
        let s3 = next(&r, Some(&s2), &healthy, 45_000).unwrap().state;
        assert_eq!(s3.completed, Some(3));
        assert_eq!(
            next(&r, Some(&s3), &healthy, 90_000),
            None,
            "all batches done"
        );
    }

    #[test]
    fn transitions_name_each_change_once() {
        let kinds = |o: Option<&RouteState>, n: &RouteState, op: Option<&str>| {
            transitions(o, n, op)
                .into_iter()
                .map(|t| t.kind)
                .collect::<Vec<_>>()
        };
        let s = |pct: f64, step: usize| RouteState {
            fingerprint: "f".into(),
            canary_percent: Some(pct),
            step,
            ..Default::default()
        };
        // A shadow gate that passes is a gate, not also a step.
        let shadow = RouteState {
            stage: Some("shadow".into()),
            ..s(0.0, 0)
        };
        let live = RouteState {
            stage: Some("steps".into()),
            reason: Some("shadow gate passed".into()),
            ..s(5.0, 0)
        };
        assert_eq!(kinds(Some(&shadow), &live, None), ["gate"]);
        assert_eq!(kinds(Some(&live), &s(25.0, 1), None), ["step"]);
        // Reaching 100 % is a promotion, whichever step it is.
        assert_eq!(kinds(Some(&s(25.0, 1)), &s(100.0, 2), None), ["promote"]);
        // A state of another strategy version counts as none.
        let other = RouteState {
            fingerprint: "g".into(),
            ..s(5.0, 0)
        };
        assert!(kinds(Some(&other), &s(5.0, 0), None).is_empty());
        // Two arms drained at once: one rollback naming both.
        let ab = RouteState {
            drained: vec!["b".into(), "c".into()],
            reason: Some("error rate".into()),
            ..s(0.0, 0)
        };
        let t = transitions(Some(&s(0.0, 0)), &ab, None);
        assert_eq!(t.len(), 1);
        assert_eq!(t[0].detail, "arms b, c drained: error rate");
        // An operator's action is exactly that action.
        let rb = RouteState {
            rolled_back: true,
            ..s(0.0, 1)
        };
        assert_eq!(kinds(Some(&rb), &s(25.0, 1), Some("resume")), ["resume"]);
        assert_eq!(
            transitions(Some(&rb), &s(25.0, 1), Some("resume"))[0].detail,
            "resume by an operator"
        );
        assert_eq!(
            kinds(Some(&s(25.0, 1)), &s(100.0, 2), Some("promote")),
            ["promote"]
        );
        // An action that changes nothing the edge routes by is no event (a second rollback).
        let again = RouteState {
            reason: Some("canary rolled back by an operator".into()),
            last_action: Some("rollback".into()),
            ..rb.clone()
        };
        assert!(kinds(Some(&rb), &again, Some("rollback")).is_empty());
    }

    #[test]
    fn operator_driven_routes_have_no_controller() {
        let r = route(r#"{"kind":"rolling","from":"a","to":"b","batches":3}"#);
        assert_eq!(next(&r, None, &healthy, 0), None);
        let c = route(r#"{"kind":"canary","stable":"a","canary":"b","percent":3}"#);
        assert_eq!(next(&c, None, &healthy, 0), None);
    }
}
