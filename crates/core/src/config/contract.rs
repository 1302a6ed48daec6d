//! The KV contract between the route's Durable Object (writer) and the edge (reader):
//! `state:<route>` ([`RouteState`]) and `weights:<route>` ([`Weights`]), and the one
//! [`apply_floor`] that turns raw bandit weights into the shares the edge routes by.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::config::Arm;

/// The KV binding, in both workers' wrangler configs (both bind the same namespace).
pub const BINDING: &str = "SPLIT_CONFIG";
/// The KV key of the routing config.
pub const CONFIG_KEY: &str = "config";
/// The Durable Object namespace binding of the per-route statistics object.
pub const STATS_BINDING: &str = "ROUTE_STATS";
/// The secret that keys receipts and override tokens (at least 16 bytes).
pub const RECEIPT_SECRET: &str = "RECEIPT_KEY";
/// Receipts older than this are rejected (and their ids forgotten by the object's replay
/// guard).
pub const RECEIPT_MAX_AGE_MS: u64 = 24 * 3600 * 1000;

/// Controller state for a route, KV key `state:<route>`, written by the route's Durable
/// Object and read by the edge. Ignored unless `fingerprint` equals the route's current
/// strategy fingerprint, so editing the route in the config starts it afresh.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RouteState {
    pub fingerprint: String,
    /// Canary share now in force, in percent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canary_percent: Option<f64>,
    /// Index of the canary step in force.
    #[serde(default)]
    pub step: usize,
    #[serde(default)]
    pub step_started_ms: u64,
    #[serde(default)]
    pub rolled_back: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Rolling batches completed now in force.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completed: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paused: Option<String>,
    #[serde(default)]
    pub updated_ms: u64,
    /// A/B arms taken out of the split by the route's health guard (`guard` on an `ab`
    /// strategy): the edge gives them no traffic until an operator resumes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub drained: Vec<String>,
    /// Bandit arm an operator promoted to the whole route (`POST /promote/<route>`): the
    /// learner stops recomputing weights until it is resumed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub promoted_arm: Option<String>,
    /// Last operator action on the route (`rollback`, `resume`, `promote`) and when.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_action: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_action_ms: Option<u64>,
    /// The controller epoch this state belongs to. The route's object bumps it when an
    /// operator acts (rollback, resume, promote), when the controller rolls back or promotes,
    /// and when the route's strategy changes. The edge tags every observation of a route
    /// whose state it reads with the epoch it routed under; the object keeps observations of
    /// an older epoch out of the controller's window (`learn::Learner::report`).
    #[serde(default)]
    pub epoch: u64,
    /// The release stage of a canary with `gates`: `shadow` while the candidate only receives
    /// mirrored traffic, `steps` once its shadow gate passed. Absent for other routes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stage: Option<String>,
}

impl RouteState {
    /// Accepts and rejects exactly what `serde_json::from_str::<RouteState>` does (a test
    /// compares them), through `Value`: serde's typed deserializer for this struct, with
    /// the float printing its error messages link, stays out of the router. Error texts
    /// differ from serde's (they are only logged).
    pub fn parse(text: &str) -> Result<RouteState, String> {
        Self::from_text(text).map_err(|e| format!("invalid route state: {e}"))
    }

    fn from_text(text: &str) -> Result<RouteState, String> {
        const FIELDS: [&str; 15] = [
            "fingerprint",
            "canary_percent",
            "step",
            "step_started_ms",
            "rolled_back",
            "reason",
            "completed",
            "paused",
            "updated_ms",
            "drained",
            "promoted_arm",
            "last_action",
            "last_action_ms",
            "epoch",
            "stage",
        ];
        let v = parse_value(text, &FIELDS)?;
        let f = fields(&v, &FIELDS)?;
        let step = present(f[2], uint)?.unwrap_or(0);
        Ok(RouteState {
            fingerprint: f[0]
                .ok_or("missing field `fingerprint`")
                .and_then(|v| v.as_str().ok_or("fingerprint: expected a string"))?
                .to_string(),
            canary_percent: opt(f[1], |v| v.as_f64().ok_or("expected a number"))?,
            step: usize::try_from(step).map_err(|_| "step out of range")?,
            step_started_ms: present(f[3], uint)?.unwrap_or(0),
            rolled_back: present(f[4], |v| v.as_bool().ok_or("expected a boolean"))?
                .unwrap_or(false),
            reason: opt(f[5], string)?,
            completed: opt(f[6], uint)?
                .map(u32::try_from)
                .transpose()
                .map_err(|_| "completed out of range")?,
            paused: opt(f[7], string)?,
            updated_ms: present(f[8], uint)?.unwrap_or(0),
            drained: opt(f[9], strings)?.unwrap_or_default(),
            promoted_arm: opt(f[10], string)?,
            last_action: opt(f[11], string)?,
            last_action_ms: opt(f[12], uint)?,
            epoch: present(f[13], uint)?.unwrap_or(0),
            stage: opt(f[14], string)?,
        })
    }
}

/// `text` as JSON, rejecting a repeated known field of the top-level object (serde's derive
/// does; `Value` would keep the last).
fn parse_value(text: &str, known: &[&str]) -> Result<Value, String> {
    let v: Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
    if v.is_object() {
        for e in crate::config::duplicate_keys(text) {
            if let Some(k) = e.path.strip_prefix("$.").filter(|k| known.contains(k)) {
                return Err(format!("duplicate field `{k}`"));
            }
        }
    }
    Ok(v)
}

/// The values of `names` in an object (unknown keys ignored) or, as serde's derive also
/// reads a struct, in an array by position (no more elements than fields).
fn fields<'v>(v: &'v Value, names: &[&str]) -> Result<Vec<Option<&'v Value>>, String> {
    match v {
        Value::Object(m) => Ok(names.iter().map(|n| m.get(*n)).collect()),
        Value::Array(a) if a.len() <= names.len() => {
            Ok((0..names.len()).map(|i| a.get(i)).collect())
        }
        _ => Err("expected an object".into()),
    }
}

/// An optional field: absent or `null` is `None`.
fn opt<'v, T>(
    v: Option<&'v Value>,
    f: impl Fn(&'v Value) -> Result<T, &'static str>,
) -> Result<Option<T>, String> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(v) => f(v).map(Some).map_err(str::to_string),
    }
}

/// A field with a default: absent is `None`, `null` is an error (as for serde's
/// `#[serde(default)]` on a non-`Option` field).
fn present<'v, T>(
    v: Option<&'v Value>,
    f: impl Fn(&'v Value) -> Result<T, &'static str>,
) -> Result<Option<T>, String> {
    v.map(f).transpose().map_err(str::to_string)
}

fn uint(v: &Value) -> Result<u64, &'static str> {
    v.as_u64().ok_or("expected a non-negative integer")
}

fn string(v: &Value) -> Result<String, &'static str> {
    v.as_str().map(str::to_string).ok_or("expected a string")
}

fn strings(v: &Value) -> Result<Vec<String>, &'static str> {
    v.as_array()
        .ok_or("expected an array of strings")?
        .iter()
        .map(string)
        .collect()
}

/// Bandit weights, KV key `weights:<route>`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Weights {
    pub arms: BTreeMap<String, f64>,
    #[serde(default)]
    pub updated_ms: u64,
    /// Arms exempt from the `min_share` floor: drained by the health guard (they keep a small
    /// probe share) or left behind by an operator's promotion (share 0).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub drained: Vec<String>,
}

impl Weights {
    /// Accepts and rejects exactly what `serde_json::from_str::<Weights>` does (see
    /// [`RouteState::parse`]).
    pub fn parse(text: &str) -> Result<Weights, String> {
        Self::from_text(text).map_err(|e| format!("invalid weights: {e}"))
    }

    fn from_text(text: &str) -> Result<Weights, String> {
        const FIELDS: [&str; 3] = ["arms", "updated_ms", "drained"];
        let v = parse_value(text, &FIELDS)?;
        let f = fields(&v, &FIELDS)?;
        let mut arms = BTreeMap::new();
        match f[0] {
            Some(Value::Object(m)) => {
                for (k, w) in m {
                    arms.insert(k.clone(), w.as_f64().ok_or("arms: expected numbers")?);
                }
            }
            Some(_) => return Err("arms: expected an object".into()),
            None => return Err("missing field `arms`".into()),
        }
        Ok(Weights {
            arms,
            updated_ms: present(f[1], uint)?.unwrap_or(0),
            drained: opt(f[2], strings)?.unwrap_or_default(),
        })
    }

    /// Weights aligned with `arms`: unknown names ignored, missing, negative or non-finite
    /// ones treated as 0, then every arm not listed in `drained` raised to `min_share` and
    /// the total normalised to 1 ([`apply_floor`]). Equal weights when nothing usable is left.
    pub fn resolve(&self, arms: &[Arm], min_share: f64) -> Vec<f64> {
        let raw: Vec<f64> = arms
            .iter()
            .map(|a| match self.arms.get(&a.name) {
                Some(w) if w.is_finite() && *w > 0.0 => *w,
                _ => 0.0,
            })
            .collect();
        let exempt: Vec<bool> = arms
            .iter()
            .map(|a| self.drained.contains(&a.name))
            .collect();
        apply_floor(raw, min_share, &exempt)
    }
}

/// Share kept by an arm drained for failing health: enough to notice its recovery, never
/// above its floor: `clamp(min_share, 0.001, 0.01)`, at most `1/k`.
pub fn probe_share(min_share: f64, k: usize) -> f64 {
    let m = if min_share.is_finite() {
        min_share
    } else {
        0.0
    };
    m.clamp(0.001, 0.01).min(1.0 / k.max(1) as f64)
}

/// Bandit shares with health drains applied, as the learner computes them
/// (`statistics::weights_with_health`) and as the edge applies them to an external
/// trainer's weights: every drained arm (`drained[i]`) gets [`probe_share`] and no floor, the
/// others share the rest in proportion to `raw` (equal shares when they have none), floored
/// at `min_share` ([`apply_floor`]). With no arm or every arm drained, `raw` floored as is
/// (draining every arm would drain none).
pub fn with_drains(raw: &[f64], min_share: f64, drained: &[bool]) -> Vec<f64> {
    let k = raw.len();
    let is_drained = |i: usize| drained.get(i).copied().unwrap_or(false);
    let n_drained = (0..k).filter(|i| is_drained(*i)).count();
    if n_drained == 0 || n_drained == k {
        return apply_floor(raw.to_vec(), min_share, &[]);
    }
    let clean = |x: f64| if x.is_finite() && x > 0.0 { x } else { 0.0 };
    let healthy: f64 = (0..k)
        .filter(|i| !is_drained(*i))
        .map(|i| clean(raw[i]))
        .sum();
    let m = (k - n_drained) as f64;
    let probe = probe_share(min_share, k);
    let rest = 1.0 - probe * n_drained as f64;
    let full: Vec<f64> = (0..k)
        .map(|i| {
            if is_drained(i) {
                probe
            } else if healthy > 0.0 {
                clean(raw[i]) / healthy * rest
            } else {
                rest / m
            }
        })
        .collect();
    let mask: Vec<bool> = (0..k).map(is_drained).collect();
    apply_floor(full, min_share, &mask)
}

/// The one floor used by the learner and the edge. Normalises `w` to sum 1 (negative and
/// non-finite entries count as 0; equal weights when nothing is left), then raises every arm
/// not marked in `exempt` to at least `min_share` by mixing with the uniform split over those
/// arms: with `e` the exempt arms' share, `m` the number of floored arms and
/// `f = clamp(min_share, 0, (1 - e) / m)`, a floored arm's weight becomes
/// `f + (1 - e - m f) w / (1 - e)`. Exempt arms (drained, or promoted away) keep their share,
/// which may be below the floor; without exempt arms this is `f + (1 - k f) w`.
#[allow(clippy::neg_cmp_op_on_partial_ord)] // `!(x > 0.0)` is also true for NaN
pub fn apply_floor(mut w: Vec<f64>, min_share: f64, exempt: &[bool]) -> Vec<f64> {
    let k = w.len();
    if k == 0 {
        return w;
    }
    for x in w.iter_mut() {
        if !(x.is_finite() && *x > 0.0) {
            *x = 0.0;
        }
    }
    let total: f64 = w.iter().sum();
    if !(total > 0.0 && total.is_finite()) {
        return vec![1.0 / k as f64; k];
    }
    w.iter_mut().for_each(|x| *x /= total);
    let is_exempt = |i: usize| exempt.get(i).copied().unwrap_or(false);
    let m = (0..k).filter(|i| !is_exempt(*i)).count();
    let free = 1.0 - (0..k).filter(|i| is_exempt(*i)).map(|i| w[i]).sum::<f64>();
    if m == 0 || !(free > 0.0) {
        return w;
    }
    // max/min rather than f64::clamp: clamp's bound check formats floats when it fails, which
    // would link core's float printer into the router (the edge floors external weights).
    let f = if min_share.is_finite() {
        min_share.max(0.0).min(free / m as f64)
    } else {
        0.0
    };
    if f > 0.0 {
        // Keeps the order among floored arms and guarantees the floor exactly.
        let scale = (free - m as f64 * f) / free;
        for (i, x) in w.iter_mut().enumerate() {
            if !is_exempt(i) {
                *x = f + scale * *x;
            }
        }
    }
    // Renormalise away rounding so the sum is 1 to the last bit or two.
    let s: f64 = w.iter().sum();
    if s > 0.0 {
        w.iter_mut().for_each(|x| *x /= s);
    }
    w
}

#[cfg(test)]
// Exact ties (e.g. 31203190018905.3125) are written out in full on purpose.
#[allow(clippy::excessive_precision)]
mod tests {
    use crate::base::Xoshiro256;
    use crate::testgen::gen;
    use serde_json::Value;

    /// `parse` accepts and rejects exactly what serde's derive does, with the same values.
    #[test]
    fn parse_matches_serde_derive() {
        let keys = [
            "fingerprint",
            "canary_percent",
            "step",
            "step_started_ms",
            "rolled_back",
            "reason",
            "completed",
            "paused",
            "updated_ms",
            "epoch",
            "stage",
            "arms",
            "a",
            "b",
        ];
        let strings = ["abc", "", "x"];
        let mut rng = Xoshiro256::seed_from_u64(11);
        let (mut ok_state, mut ok_weights) = (0, 0);
        for i in 0..100_000 {
            let v = gen(&mut rng, &keys, &strings, i % 2);
            let w = |rng: &mut Xoshiro256| gen(rng, &keys, &strings, 2);
            let arms = format!("{{\"a\":{},\"b\":{}}}", w(&mut rng), w(&mut rng));
            let mut texts = vec![
                v.to_string(),
                format!("{{\"arms\":{arms},\"updated_ms\":{}}}", w(&mut rng)),
                format!("{{\"arms\":{arms}}}"),
            ];
            // Repeated keys, which `Value` cannot hold.
            if let Value::Object(m) = &v {
                if let Some((k, x)) = m.iter().next() {
                    let t = v.to_string();
                    texts.push(format!("{{\"{k}\":{x},{}", &t[1..]));
                }
            }
            for t in texts {
                let ours = RouteState::parse(&t).ok();
                let serde = serde_json::from_str::<RouteState>(&t).ok();
                assert_eq!(ours, serde, "{t}");
                ok_state += ours.is_some() as u32;
                let ours = Weights::parse(&t).ok();
                let serde = serde_json::from_str::<Weights>(&t).ok();
                assert_eq!(ours, serde, "{t}");
                ok_weights += ours.is_some() as u32;
            }
        }
        eprintln!("valid: {ok_state} states, {ok_weights} weights");
        assert!(
            ok_state > 100 && ok_weights > 100,
            "{ok_state} {ok_weights}"
        );
        let t = r#"{"fingerprint":"f","canary_percent":12.5,"step":2,"rolled_back":true,"reason":"r","completed":3,"updated_ms":9,"extra":[1]}"#;
        assert_eq!(
            RouteState::parse(t).ok(),
            serde_json::from_str::<RouteState>(t).ok()
        );
        assert!(RouteState::parse(t).is_ok());
        let t = r#"{"arms":{"a":0.7,"b":1},"updated_ms":5}"#;
        assert_eq!(
            Weights::parse(t).ok(),
            serde_json::from_str::<Weights>(t).ok()
        );
        assert!(Weights::parse(t).is_ok());
    }

    use super::*;

    /// The hand-written readers know every field serde writes: a fully populated state and
    /// weights document round-trips exactly (a field added to the struct but not to the
    /// reader would be dropped here).
    #[test]
    fn readers_round_trip_every_field() {
        let st = RouteState {
            fingerprint: "f".into(),
            canary_percent: Some(12.5),
            step: 2,
            step_started_ms: 3,
            rolled_back: true,
            reason: Some("r".into()),
            completed: Some(4),
            paused: Some("p".into()),
            updated_ms: 5,
            drained: vec!["a".into(), "b".into()],
            promoted_arm: Some("c".into()),
            last_action: Some("resume".into()),
            last_action_ms: Some(6),
            epoch: 7,
            stage: Some("shadow".into()),
        };
        let text = serde_json::to_string(&st).unwrap();
        assert_eq!(RouteState::parse(&text).unwrap(), st);
        let w = Weights {
            arms: [("a".to_string(), 0.25), ("b".to_string(), 0.75)].into(),
            updated_ms: 7,
            drained: vec!["b".into()],
        };
        let text = serde_json::to_string(&w).unwrap();
        assert_eq!(Weights::parse(&text).unwrap(), w);
    }

    #[test]
    fn floor_is_exact_order_kept_and_sum_one() {
        let w = apply_floor(vec![0.97, 0.02, 0.01], 0.05, &[]);
        assert!((w.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        assert!(w.iter().all(|x| *x >= 0.05 - 1e-12), "{w:?}");
        assert!(w[0] > w[1] && w[1] > w[2]);
    }

    #[test]
    fn unusable_weights_count_as_zero_and_nothing_usable_is_equal() {
        let w = apply_floor(vec![f64::NAN, -1.0, f64::INFINITY, 2.0], 0.0, &[]);
        assert_eq!(w, vec![0.0, 0.0, 0.0, 1.0]);
        assert_eq!(apply_floor(vec![0.0, f64::NAN], 0.1, &[]), vec![0.5, 0.5]);
        assert_eq!(apply_floor(vec![1.0, 3.0], f64::NAN, &[]), vec![0.25, 0.75]);
        assert!(apply_floor(vec![], 0.1, &[]).is_empty());
        // The floor is clamped to 1/k: everyone equal.
        assert_eq!(apply_floor(vec![9.0, 1.0], 0.9, &[]), vec![0.5, 0.5]);
    }
}
