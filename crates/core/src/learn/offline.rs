//! What a route offers offline learning: the off-policy evaluation of an allocation
//! (`POST /_switchyard/ope/<route>`, [`ope_document`]) and the state of an external
//! trainer's weights (the `trainer` section of the statistics document, [`trainer_status`]).

use serde_json::{json, Map, Value};

use super::learner::{Evidence, Learner};
use crate::config::{Route, Strategy, Trainer, Weights};
use crate::observe::OpeSums;
use crate::routing::{edge_weights, override_arm_names, weights_fresh};
use crate::statistics;

/// Why an OPE request was refused (400 `bad_policy`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyError(pub String);

/// `{"<arm>": <weight>, ...}` over the route's arms as shares summing to 1, in the route's
/// arm order (arms left out get 0). Weights must be finite and non-negative, at least one
/// positive; an arm the route does not have is refused.
pub fn parse_policy(route: &Route, v: &Value) -> Result<Vec<(String, f64)>, PolicyError> {
    let Some(obj) = v.as_object() else {
        return Err(PolicyError(
            "`policy` must be an object of arm name -> weight".into(),
        ));
    };
    let names = override_arm_names(route);
    let mut raw = vec![0.0; names.len()];
    for (arm, w) in obj {
        let Some(i) = names.iter().position(|n| n == arm) else {
            return Err(PolicyError(format!(
                "route {:?} has no arm {arm:?} (arms: {})",
                route.name,
                names.join(", ")
            )));
        };
        match w.as_f64() {
            Some(x) if x.is_finite() && x >= 0.0 => raw[i] = x,
            _ => {
                return Err(PolicyError(format!(
                    "weight of {arm:?} must be a finite number >= 0"
                )))
            }
        }
    }
    let total: f64 = raw.iter().sum();
    if !(total > 0.0 && total.is_finite()) {
        return Err(PolicyError("at least one weight must be positive".into()));
    }
    Ok(names
        .iter()
        .zip(raw)
        .map(|(n, w)| (n.to_string(), w / total))
        .collect())
}

/// The OPE document of `policy` (already [`parse_policy`]d) over the learner's sums:
/// `{"route", "policy", "evidence", "counted", "n", "ips", "snips", "unsupported",
/// "logged"}` (see `statistics::ope` for the estimators and which decisions count).
pub fn ope_document(l: &Learner, route: &Route, policy: &[(String, f64)]) -> Value {
    let names = override_arm_names(route);
    let feedback = match &route.strategy {
        Strategy::Bandit { feedback, .. } => Some(*feedback),
        _ => None,
    };
    let mode = l.evidence(&names, feedback);
    let all_decisions = mode == Evidence::Conversion;
    let empty = OpeSums::default();
    let sums: Vec<(&str, &OpeSums)> = names
        .iter()
        .map(|n| (*n, l.total.arm(n).map_or(&empty, |a| &a.ope)))
        .collect();
    let pol: Vec<(&str, f64)> = policy.iter().map(|(a, w)| (a.as_str(), *w)).collect();
    let r = statistics::ope(&sums, &pol, all_decisions);
    let logged: Map<String, Value> = sums
        .iter()
        .map(|(n, s)| {
            (
                n.to_string(),
                json!({ "decisions": s.decisions, "rewards": s.credited }),
            )
        })
        .collect();
    let est = |e: Option<statistics::OpeEstimate>| {
        e.map_or(Value::Null, |e| {
            json!({ "estimate": e.estimate, "ci_low": e.ci_low, "ci_high": e.ci_high, "se": e.se })
        })
    };
    json!({
        "route": route.name,
        "policy": policy.iter().map(|(a, w)| (a.clone(), json!(w))).collect::<Map<_, _>>(),
        "evidence": match mode {
            Evidence::Conversion => "conversion",
            Evidence::Explicit => "explicit",
            Evidence::Numeric => "numeric",
        },
        "counted": if all_decisions { "every logged decision (no feedback = 0)" } else { "logged decisions whose reward arrived" },
        "n": r.n,
        "ips": est(r.ips),
        "snips": est(r.snips),
        "unsupported": r.unsupported,
        "logged": logged,
        "since_ms": names.iter().filter_map(|n| l.total.arm(n).map(|a| a.since_ms)).min(),
    })
}

/// The `trainer` section of an external-trainer bandit's statistics: the weights in KV,
/// their age, whether the edge follows them and the shares it routes by (drains and floor
/// applied). `None` for other routes.
pub fn trainer_status(
    route: &Route,
    weights: Option<&Weights>,
    l: &Learner,
    now_ms: u64,
) -> Option<Value> {
    let Strategy::Bandit {
        trainer: Trainer::External,
        arms,
        max_weight_age_s,
        ..
    } = &route.strategy
    else {
        return None;
    };
    let fresh = weights.is_some_and(|w| weights_fresh(w, *max_weight_age_s, now_ms));
    let shares = edge_weights(route, weights, l.state.as_ref(), now_ms).unwrap_or_default();
    Some(json!({
        "kind": "external",
        "weights": weights.map(|w| &w.arms),
        "updated_ms": weights.map(|w| w.updated_ms),
        "age_ms": weights.map(|w| now_ms.saturating_sub(w.updated_ms)),
        "max_weight_age_s": max_weight_age_s,
        "following": fresh,
        "stale": !fresh,
        "in_force": arms.iter().zip(shares).map(|(a, w)| (a.name.clone(), json!(w))).collect::<Map<_, _>>(),
    }))
}
