//! The validator's walk of a route's `strategy` block: one arm per strategy kind, each with
//! its own fields, limits and cross-checks.

use serde_json::Value;

use super::fields::{Fields, Validator};
use super::model::{
    BanditAlgorithm, CanaryStep, OriginFlag, RewardFeedback, Side, Strategy, Trainer,
    DEFAULT_MAX_WEIGHT_AGE_S, MAX_WEIGHT_AGE_S,
};
use super::path::Path;
use crate::base::display_f64;

impl Validator {
    pub(super) fn strategy(
        &mut self,
        at: &Path,
        v: &Value,
        route: &str,
        split_salt: &mut String,
    ) -> Option<Strategy> {
        let kind = v.get("kind").and_then(Value::as_str).unwrap_or("");
        let allowed = match kind {
            "ab" => "kind, arms, guard, salt",
            "canary" => "kind, stable, canary, percent, steps, guard, gates, salt",
            "flag" => "kind, default, flags",
            "blue_green" => "kind, blue, green, active, failover, preview_header",
            "rolling" => "kind, from, to, batches, completed, interval_s, guard, salt",
            "recreate" => "kind, origin, health_path",
            "bandit" => {
                "kind, arms, algorithm, epsilon, min_share, min_samples, sticky, feedback, trainer, max_weight_age_s, salt"
            }
            _ => {
                let reason =
                    "expected one of: ab, canary, flag, blue_green, rolling, recreate, bandit";
                return self.fail(&at.key("kind"), reason);
            }
        };
        let f = self.object(at, v, allowed)?;
        if let Some(s) = self.opt_str(f, "salt").flatten() {
            split_salt.push(':');
            split_salt.push_str(&s);
        }
        match kind {
            "ab" => {
                let arms = self
                    .req(f, "arms")
                    .map(|a| self.arms(&at.key("arms"), a, true));
                let guard = self.opt(f, "guard", Self::ab_guard);
                Some(Strategy::Ab {
                    arms: arms?,
                    guard: guard?,
                })
            }
            "canary" => {
                let stable = self.req_origin(f, "stable");
                let canary = self.req_origin(f, "canary");
                let percent = self.req_percent(f, "percent");
                let steps_at = at.key("steps");
                let mut steps: Vec<CanaryStep> = Vec::new();
                for (i, st) in self.list(f, "steps").iter().enumerate() {
                    let p = steps_at.at(i);
                    let Some(s) = self.object(&p, st, "percent, hold_s") else {
                        continue;
                    };
                    let pc = self.req_percent(s, "percent");
                    let hold = self.req_uint(s, "hold_s", 30 * 86_400);
                    if let (Some(pc), Some(hold)) = (pc, hold) {
                        let ok = steps.last().is_none_or(|l| l.percent_ppm <= pc);
                        self.check(ok, &p.key("percent"), "steps must not decrease");
                        steps.push(CanaryStep {
                            percent_ppm: pc,
                            hold_s: hold as u32,
                        });
                    }
                }
                let guard = self.opt(f, "guard", Self::guard).flatten();
                let gates = self
                    .opt(f, "gates", |me, at, v| me.gates(at, v, canary))
                    .flatten();
                if let (Some(s), Some(c)) = (stable, canary) {
                    let reason = "canary and stable must be different origins";
                    self.check(s != c, &at.key("canary"), reason);
                }
                Some(Strategy::Canary {
                    stable: stable?,
                    canary: canary?,
                    percent_ppm: percent?,
                    steps,
                    guard,
                    gates,
                })
            }
            "flag" => {
                let default = self.req_origin(f, "default");
                let flags_at = at.key("flags");
                let mut flags: Vec<OriginFlag> = Vec::new();
                let arr = self
                    .req(f, "flags")
                    .and_then(|fl| self.array(&flags_at, fl));
                for (i, fv) in arr.into_iter().flatten().enumerate() {
                    let p = flags_at.at(i);
                    let Some(flag) = self.flag(&p, fv, route, true) else {
                        continue;
                    };
                    // `flag` accepted `fv` as an object.
                    let Some(obj) = fv.as_object() else {
                        continue;
                    };
                    let Some(o) = self.req_origin(Fields { obj, at: &p }, "origin") else {
                        continue;
                    };
                    if flags.iter().any(|x| x.flag.name == flag.name) {
                        self.err(&p.key("name"), "duplicate flag name");
                    }
                    flags.push(OriginFlag { flag, origin: o });
                }
                Some(Strategy::Flag {
                    default: default?,
                    flags,
                })
            }
            "blue_green" => {
                let blue = self.req_origin(f, "blue");
                let green = self.req_origin(f, "green");
                let active = self.req(f, "active").and_then(|a| {
                    let reason = "expected \"blue\" or \"green\"";
                    self.choice(&at.key("active"), a, "blue, green", reason)
                });
                let failover = self.opt_bool(f, "failover", false);
                let preview_header = self.opt_str(f, "preview_header").flatten();
                Some(Strategy::BlueGreen {
                    blue: blue?,
                    green: green?,
                    active: [Side::Blue, Side::Green][active?],
                    failover: failover?,
                    preview_header: preview_header.map(|h| h.to_ascii_lowercase()),
                })
            }
            "rolling" => {
                let from = self.req_origin(f, "from");
                let to = self.req_origin(f, "to");
                let batches = self.req_uint(f, "batches", 10_000);
                if batches == Some(0) {
                    self.err(&at.key("batches"), "must be at least 1");
                }
                let completed = self.opt_uint(f, "completed", 10_000, 0);
                if let (Some(b), Some(c)) = (batches, completed) {
                    if c > b {
                        let reason = format!("completed {c} exceeds batches {b}");
                        self.err(&at.key("completed"), reason);
                    }
                }
                // Every field is validated before any `?`, so one bad field never hides
                // another's error.
                let interval_s = self.opt(f, "interval_s", |me, at, v| me.uint(at, v, 30 * 86_400));
                let guard = self.opt(f, "guard", Self::guard).flatten();
                Some(Strategy::Rolling {
                    guard,
                    from: from?,
                    to: to?,
                    batches: batches.filter(|b| *b > 0)? as u32,
                    completed: completed? as u32,
                    interval_s: interval_s?.map(|i| i as u32),
                })
            }
            "recreate" => {
                let o = self.req_origin(f, "origin");
                let health_path = self.opt_str(f, "health_path").flatten().filter(|h| {
                    self.check(
                        h.starts_with('/'),
                        &at.key("health_path"),
                        "must start with '/'",
                    )
                });
                Some(Strategy::Recreate {
                    origin: o?,
                    health_path,
                })
            }
            _ => {
                // bandit
                let arms = self
                    .req(f, "arms")
                    .map(|a| self.arms(&at.key("arms"), a, false));
                let algorithm = self.opt_choice(
                    f,
                    "algorithm",
                    "thompson, ucb1, epsilon_greedy",
                    "expected thompson, ucb1 or epsilon_greedy",
                );
                let unit = (0.0, 1.0, false);
                let between = "must be between 0 and 1";
                let epsilon = self.opt_ranged(f, "epsilon", unit, between);
                let min_share = self.opt_ranged(f, "min_share", unit, between);
                let min_share = min_share.map(|m| m.unwrap_or(0.01));
                let min_samples = self.opt_uint(f, "min_samples", 1_000_000_000, 100);
                let sticky = self.opt_bool(f, "sticky", true);
                let feedback = self.opt_choice(
                    f,
                    "feedback",
                    "auto, conversion, explicit",
                    "expected auto, conversion or explicit",
                );
                let trainer = self.opt_choice(
                    f,
                    "trainer",
                    "learner, external",
                    "expected learner or external",
                );
                let max_age = self
                    .opt_uint(
                        f,
                        "max_weight_age_s",
                        MAX_WEIGHT_AGE_S,
                        u64::from(DEFAULT_MAX_WEIGHT_AGE_S),
                    )
                    .filter(|n| {
                        self.check(*n > 0, &at.key("max_weight_age_s"), "must be at least 1")
                    });
                if let (Some(arms), Some(ms)) = (&arms, min_share) {
                    if ms * arms.len() as f64 > 1.0 + 1e-9 {
                        let reason = format!(
                            "min_share {} times {} arms exceeds 1",
                            display_f64(ms),
                            arms.len()
                        );
                        self.err(&at.key("min_share"), reason);
                    }
                }
                use BanditAlgorithm::*;
                use RewardFeedback::*;
                Some(Strategy::Bandit {
                    arms: arms?,
                    algorithm: [Thompson, Ucb1, EpsilonGreedy][algorithm?],
                    epsilon: epsilon?.unwrap_or(0.1),
                    min_share: min_share?,
                    min_samples: min_samples?,
                    sticky: sticky?,
                    feedback: [Auto, Conversion, Explicit][feedback?],
                    trainer: [Trainer::Learner, Trainer::External][trainer?],
                    max_weight_age_s: max_age? as u32,
                })
            }
        }
    }
}
