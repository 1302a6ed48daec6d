//! A route's time series, kept as rows beside the ledger's (`core::learn::Durable`): per-arm minute
//! buckets for the last 24 h (requests, errors, the minute's latency histogram, rewards),
//! per-shadow minute buckets (agreement), and the history of controller events, canary share
//! and bandit weights. Every write goes into the same all-or-nothing batch as the report,
//! credit, tick or operator action that produced it: a report writes only the current
//! minute's row of each arm it touches.
//!
//! Rows (`kind`, `key`) -> JSON `value`:
//! - `minute`/`<t:013>/<arm>`: [`MinuteArm`] (`t` = bucket start in ms);
//! - `minute_shadow`/`<t:013>/<origin>`: [`ShadowCounts`];
//! - `event`/`<at:013>/<seq:010>`: [`Event`] (at most [`MAX_EVENTS`], oldest deleted);
//! - `weight_pt`/`<at:013>/<seq:010>`: [`WeightPoint`] (at most [`MAX_POINTS`]);
//! - `canary_pt`/`<at:013>/<seq:010>`: [`CanaryPoint`] (at most [`MAX_POINTS`]).
//!
//! Buckets are by the time the route's object receives a report (the edge flushes every few
//! seconds), so a minute's counts are what arrived in that minute. Minute rows older than
//! [`KEEP_MINUTES`] are deleted on the alarm, at most [`PRUNE_BATCH`] per alarm.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use super::store::{Store, StoreError, Warnings, Write};
use crate::config::{Route, Strategy};
use crate::config::{RouteState, Weights};
use crate::observe::{ArmBatch, LatencyHistogram, ShadowCounts};

pub const BUCKET_MS: u64 = 60_000;
/// Minutes kept (24 h).
pub const KEEP_MINUTES: u64 = 1_440;
/// Distinct arms (or shadow origins) recorded per minute; more are not recorded.
pub const MAX_NAMES_PER_MINUTE: usize = 64;
/// Controller events kept.
pub const MAX_EVENTS: usize = 500;
/// Weight points and canary points kept (each).
pub const MAX_POINTS: usize = 500;
/// Minute rows deleted per alarm, at most.
pub const PRUNE_BATCH: usize = 512;
/// A new weights point at most this often, unless an arm moved by [`WEIGHT_MOVE`]
/// (500 points at one per 3 minutes cover a day).
pub const WEIGHT_POINT_MS: u64 = 3 * BUCKET_MS;
pub const WEIGHT_MOVE: f64 = 0.05;
/// Longest event detail kept (bytes).
pub const MAX_DETAIL: usize = 300;

pub const MINUTE: &str = "minute";
pub const MINUTE_SHADOW: &str = "minute_shadow";
pub const EVENT: &str = "event";
pub const WEIGHT_PT: &str = "weight_pt";
pub const CANARY_PT: &str = "canary_pt";

/// Event kinds (the series contract).
pub const KINDS: [&str; 9] = [
    "step",
    "rollback",
    "resume",
    "promote",
    "pause",
    "gate",
    "srm",
    "config",
    "weights_stale",
];

/// One arm in one minute.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct MinuteArm {
    pub requests: u64,
    pub errors: u64,
    pub latency: LatencyHistogram,
    pub reward_count: u64,
    pub reward_sum: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub at: u64,
    pub kind: String,
    #[serde(default)]
    pub detail: String,
    /// Canary share in force after the event (percent), when the route is a canary.
    #[serde(default)]
    pub canary_percent: Option<f64>,
    /// What decided it, when a release gate did (`crate::learn::GateDecision::evidence`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evidence: Option<Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WeightPoint {
    pub at: u64,
    pub arms: BTreeMap<String, f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CanaryPoint {
    pub at: u64,
    pub percent: f64,
}

/// Start of the minute holding `ms`.
pub fn bucket_of(ms: u64) -> u64 {
    ms - ms % BUCKET_MS
}

fn minute_key(t: u64, name: &str) -> String {
    format!("{t:013}/{name}")
}

fn point_key(at: u64, seq: u64) -> String {
    format!("{at:013}/{seq:010}")
}

/// (t, name) of a minute row key.
pub fn parse_minute_key(key: &str) -> Option<(u64, &str)> {
    let (t, name) = key.split_once('/')?;
    let t: u64 = t.parse().ok()?;
    (t.is_multiple_of(BUCKET_MS) && !name.is_empty()).then_some((t, name))
}

fn parse_point_key(key: &str) -> Option<(u64, u64)> {
    let (at, seq) = key.split_once('/')?;
    Some((at.parse().ok()?, seq.parse().ok()?))
}

/// A capped list of points kept as rows (events, weights, canary share).
#[derive(Debug, Clone, PartialEq)]
struct Capped<T> {
    kind: &'static str,
    cap: usize,
    /// (key, value), oldest first.
    items: VecDeque<(String, T)>,
    seq: u64,
}

impl<T: Serialize + serde::de::DeserializeOwned + Clone> Capped<T> {
    fn new(kind: &'static str, cap: usize) -> Self {
        Self {
            kind,
            cap,
            items: VecDeque::new(),
            seq: 0,
        }
    }

    fn load<S: Store>(&mut self, store: &S, warnings: &mut Warnings) -> Result<(), StoreError> {
        let mut rows: Vec<(u64, u64, String, T)> = Vec::new();
        for (key, value) in store.rows(self.kind)? {
            let Some((at, seq)) = parse_point_key(&key) else {
                warnings.push(format!("row {}/{key}: bad key, skipped", self.kind));
                continue;
            };
            match serde_json::from_str::<T>(&value) {
                Ok(v) => rows.push((at, seq, key, v)),
                Err(e) => {
                    warnings.push(format!("row {}/{key} unreadable, skipped: {e}", self.kind))
                }
            }
        }
        rows.sort_by_key(|r| (r.0, r.1));
        self.seq = rows.iter().map(|r| r.1 + 1).max().unwrap_or(0);
        self.items = rows.into_iter().map(|(_, _, k, v)| (k, v)).collect();
        Ok(())
    }

    fn push(&mut self, at: u64, v: T, writes: &mut Vec<Write>) {
        let key = point_key(at, self.seq);
        self.seq += 1;
        if let Ok(text) = serde_json::to_string(&v) {
            writes.push(Write::Put {
                kind: self.kind,
                key: key.clone(),
                value: text,
            });
            self.items.push_back((key, v));
        }
        while self.items.len() > self.cap {
            if let Some((k, _)) = self.items.pop_front() {
                writes.push(Write::Delete {
                    kind: self.kind,
                    key: k,
                });
            }
        }
    }

    fn last(&self) -> Option<&T> {
        self.items.back().map(|(_, v)| v)
    }

    fn values(&self) -> impl Iterator<Item = &T> {
        self.items.iter().map(|(_, v)| v)
    }
}

/// The in-memory part of a route's series: the keys of the minute rows (for pruning), the
/// current minute's rows (to add to), and the capped lists. Past minutes are read from the
/// store when the series is asked for.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// Minute start -> arm names with a row (`minute`), and shadow origins (`minute_shadow`).
    index: BTreeMap<u64, (BTreeSet<String>, BTreeSet<String>)>,
    cur_t: u64,
    cur_arms: BTreeMap<String, MinuteArm>,
    cur_shadows: BTreeMap<String, ShadowCounts>,
    events: Capped<Event>,
    weights: Capped<WeightPoint>,
    canary: Capped<CanaryPoint>,
}

impl Default for Series {
    fn default() -> Self {
        Self {
            index: BTreeMap::new(),
            cur_t: 0,
            cur_arms: BTreeMap::new(),
            cur_shadows: BTreeMap::new(),
            events: Capped::new(EVENT, MAX_EVENTS),
            weights: Capped::new(WEIGHT_PT, MAX_POINTS),
            canary: Capped::new(CANARY_PT, MAX_POINTS),
        }
    }
}

impl Series {
    /// Loads the index, the newest minute's rows and the capped lists. A row that does not
    /// decode is skipped and reported (a minute row with a readable key stays indexed, so
    /// the alarm still prunes it).
    pub fn load<S: Store>(store: &S, warnings: &mut Warnings) -> Result<Self, StoreError> {
        let mut s = Series::default();
        let mut arms: Vec<(u64, String, String)> = Vec::new();
        for (key, value) in store.rows(MINUTE)? {
            match parse_minute_key(&key) {
                Some((t, name)) => {
                    s.index.entry(t).or_default().0.insert(name.to_string());
                    arms.push((t, name.to_string(), value));
                }
                None => warnings.push(format!("row {MINUTE}/{key}: bad key, skipped")),
            }
        }
        let mut shadows: Vec<(u64, String, String)> = Vec::new();
        for (key, value) in store.rows(MINUTE_SHADOW)? {
            match parse_minute_key(&key) {
                Some((t, name)) => {
                    s.index.entry(t).or_default().1.insert(name.to_string());
                    shadows.push((t, name.to_string(), value));
                }
                None => warnings.push(format!("row {MINUTE_SHADOW}/{key}: bad key, skipped")),
            }
        }
        s.cur_t = s.index.keys().next_back().copied().unwrap_or(0);
        for (t, name, value) in arms.into_iter().filter(|r| r.0 == s.cur_t) {
            match serde_json::from_str::<MinuteArm>(&value) {
                Ok(v) => {
                    s.cur_arms.insert(name, v);
                }
                Err(e) => warnings.push(format!(
                    "row {MINUTE}/{} unreadable, skipped: {e}",
                    minute_key(t, &name)
                )),
            }
        }
        for (t, name, value) in shadows.into_iter().filter(|r| r.0 == s.cur_t) {
            match serde_json::from_str::<ShadowCounts>(&value) {
                Ok(v) => {
                    s.cur_shadows.insert(name, v);
                }
                Err(e) => warnings.push(format!(
                    "row {MINUTE_SHADOW}/{} unreadable, skipped: {e}",
                    minute_key(t, &name)
                )),
            }
        }
        s.events.load(store, warnings)?;
        s.weights.load(store, warnings)?;
        s.canary.load(store, warnings)?;
        Ok(s)
    }

    /// Moves to the minute of `now_ms` (a clock that went back stays in the newest minute).
    fn roll(&mut self, now_ms: u64) -> u64 {
        let t = bucket_of(now_ms);
        if t > self.cur_t {
            self.cur_t = t;
            self.cur_arms.clear();
            self.cur_shadows.clear();
        }
        self.cur_t
    }

    fn arm_row(&mut self, arm: &str, now_ms: u64) -> Option<(u64, &mut MinuteArm)> {
        let t = self.roll(now_ms);
        let names = &mut self.index.entry(t).or_default().0;
        if !names.contains(arm) {
            if names.len() >= MAX_NAMES_PER_MINUTE || arm.is_empty() {
                return None;
            }
            names.insert(arm.to_string());
        }
        Some((t, self.cur_arms.entry(arm.to_string()).or_default()))
    }

    /// Adds a report's observations of `route` to the current minute: one row per arm and
    /// per shadow origin it touches.
    pub fn report(
        &mut self,
        route: &str,
        arms: &[ArmBatch],
        shadows: &[crate::observe::ShadowBatch],
        now_ms: u64,
        writes: &mut Vec<Write>,
    ) {
        for a in arms.iter().filter(|a| a.route == route) {
            let Some((t, row)) = self.arm_row(&a.arm, now_ms) else {
                continue;
            };
            row.requests = row.requests.saturating_add(a.counts.requests);
            row.errors = row.errors.saturating_add(a.counts.errors());
            row.latency.merge(&a.latency);
            put_json(writes, MINUTE, minute_key(t, &a.arm), &*row);
        }
        for s in shadows.iter().filter(|s| s.route == route) {
            let t = self.roll(now_ms);
            let names = &mut self.index.entry(t).or_default().1;
            if !names.contains(&s.shadow_origin) {
                if names.len() >= MAX_NAMES_PER_MINUTE || s.shadow_origin.is_empty() {
                    continue;
                }
                names.insert(s.shadow_origin.clone());
            }
            let row = self.cur_shadows.entry(s.shadow_origin.clone()).or_default();
            row.merge(&s.counts);
            put_json(
                writes,
                MINUTE_SHADOW,
                minute_key(t, &s.shadow_origin),
                &*row,
            );
        }
    }

    /// Adds `count` rewards summing to `sum` to `arm`'s current minute.
    pub fn reward(
        &mut self,
        arm: &str,
        count: u64,
        sum: f64,
        now_ms: u64,
        writes: &mut Vec<Write>,
    ) {
        if count == 0 || !sum.is_finite() {
            return;
        }
        let Some((t, row)) = self.arm_row(arm, now_ms) else {
            return;
        };
        row.reward_count = row.reward_count.saturating_add(count);
        row.reward_sum += sum;
        put_json(writes, MINUTE, minute_key(t, arm), &*row);
    }

    /// Appends an event (`kind` one of [`KINDS`]).
    pub fn event(
        &mut self,
        kind: &str,
        detail: &str,
        canary_percent: Option<f64>,
        now_ms: u64,
        writes: &mut Vec<Write>,
    ) {
        self.event_with(kind, detail, canary_percent, None, now_ms, writes);
    }

    /// [`Series::event`] with the evidence that decided it (a gate decision's).
    pub fn event_with(
        &mut self,
        kind: &str,
        detail: &str,
        canary_percent: Option<f64>,
        evidence: Option<&Value>,
        now_ms: u64,
        writes: &mut Vec<Write>,
    ) {
        let mut detail = detail.to_string();
        if detail.len() > MAX_DETAIL {
            let mut cut = MAX_DETAIL;
            while !detail.is_char_boundary(cut) {
                cut -= 1;
            }
            detail.truncate(cut);
        }
        let ev = Event {
            at: now_ms,
            kind: kind.to_string(),
            detail,
            canary_percent,
            evidence: evidence.cloned(),
        };
        self.events.push(now_ms, ev, writes);
    }

    /// Records what changed between two controller states: events (rollback, resume, step,
    /// pause, promote; or the operator's `op` alone when an operator acted) and the canary
    /// share when it moved. `config_changed` adds a `config` event first.
    #[allow(clippy::too_many_arguments)]
    pub fn state_change(
        &mut self,
        route: &Route,
        old: Option<&RouteState>,
        new: Option<&RouteState>,
        op: Option<&str>,
        config_changed: Option<&str>,
        now_ms: u64,
        writes: &mut Vec<Write>,
    ) {
        self.state_change_with(route, old, new, op, config_changed, None, now_ms, writes);
    }

    /// [`Series::state_change`] with the evidence of the gate decision that made the change
    /// (kept on its events).
    #[allow(clippy::too_many_arguments)]
    pub fn state_change_with(
        &mut self,
        route: &Route,
        old: Option<&RouteState>,
        new: Option<&RouteState>,
        op: Option<&str>,
        config_changed: Option<&str>,
        evidence: Option<&Value>,
        now_ms: u64,
        writes: &mut Vec<Write>,
    ) {
        let pct = canary_percent(route, new);
        if let Some(detail) = config_changed {
            self.event("config", detail, pct, now_ms, writes);
        }
        for (kind, detail) in events_between(old, new, op) {
            self.event_with(kind, &detail, pct, evidence, now_ms, writes);
        }
        if let Some(p) = pct {
            if self.canary.last().map(|c| c.percent) != Some(p) {
                self.canary.push(
                    now_ms,
                    CanaryPoint {
                        at: now_ms,
                        percent: p,
                    },
                    writes,
                );
            }
        }
    }

    /// Records bandit weights when an arm moved by [`WEIGHT_MOVE`] or [`WEIGHT_POINT_MS`]
    /// passed since the last point.
    pub fn weights(&mut self, w: &Weights, now_ms: u64, writes: &mut Vec<Write>) {
        if w.arms.is_empty() || w.arms.len() > MAX_NAMES_PER_MINUTE {
            return;
        }
        let due = match self.weights.last() {
            None => true,
            Some(last) => {
                now_ms.saturating_sub(last.at) >= WEIGHT_POINT_MS
                    || last.arms.len() != w.arms.len()
                    || w.arms.iter().any(|(k, v)| {
                        last.arms
                            .get(k)
                            .is_none_or(|o| (o - v).abs() >= WEIGHT_MOVE)
                    })
            }
        };
        if due {
            let p = WeightPoint {
                at: now_ms,
                arms: w.arms.clone(),
            };
            self.weights.push(now_ms, p, writes);
        }
    }

    /// Deletes minute rows older than [`KEEP_MINUTES`] before `now_ms` (and the oldest
    /// minutes beyond [`KEEP_MINUTES`] of them), at most `limit` rows.
    pub fn prune(&mut self, now_ms: u64, limit: usize) -> Vec<Write> {
        let horizon = bucket_of(now_ms).saturating_sub((KEEP_MINUTES - 1) * BUCKET_MS);
        let mut writes = Vec::new();
        while writes.len() < limit {
            let Some((&t, _)) = self.index.iter().next() else {
                break;
            };
            if t >= horizon && (self.index.len() as u64) <= KEEP_MINUTES {
                break;
            }
            let Some((arms, shadows)) = self.index.get_mut(&t) else {
                break;
            };
            while writes.len() < limit {
                if let Some(a) = arms.pop_first() {
                    writes.push(Write::Delete {
                        kind: MINUTE,
                        key: minute_key(t, &a),
                    });
                } else if let Some(o) = shadows.pop_first() {
                    writes.push(Write::Delete {
                        kind: MINUTE_SHADOW,
                        key: minute_key(t, &o),
                    });
                } else {
                    break;
                }
            }
            if arms.is_empty() && shadows.is_empty() {
                self.index.remove(&t);
                if t == self.cur_t {
                    self.cur_arms.clear();
                    self.cur_shadows.clear();
                }
            }
        }
        writes
    }

    /// Minute rows indexed (arms and shadows).
    pub fn minute_rows(&self) -> usize {
        self.index.values().map(|(a, s)| a.len() + s.len()).sum()
    }

    pub fn minutes(&self) -> usize {
        self.index.len()
    }

    pub fn events(&self) -> impl Iterator<Item = &Event> {
        self.events.values()
    }

    pub fn weight_points(&self) -> impl Iterator<Item = &WeightPoint> {
        self.weights.values()
    }

    pub fn canary_points(&self) -> impl Iterator<Item = &CanaryPoint> {
        self.canary.values()
    }

    /// The series document (`GET /_switchyard/series/<route>`): the last `minutes` minutes
    /// up to `now_ms` (at most [`KEEP_MINUTES`]), read from `store`; unreadable rows are
    /// skipped and reported.
    pub fn document<S: Store>(
        &self,
        route: &str,
        store: &S,
        minutes: u64,
        now_ms: u64,
    ) -> Result<(Value, Warnings), StoreError> {
        let mut warnings = Vec::new();
        let minutes = minutes.clamp(1, KEEP_MINUTES);
        let from = bucket_of(now_ms).saturating_sub((minutes - 1) * BUCKET_MS);
        let mut by_t: BTreeMap<u64, (JsonMap, JsonMap)> = BTreeMap::new();
        let mut arm_rows: BTreeMap<u64, Vec<(String, MinuteArm)>> = BTreeMap::new();
        for (key, value) in store.rows(MINUTE)? {
            let Some((t, name)) = parse_minute_key(&key) else {
                warnings.push(format!("row {MINUTE}/{key}: bad key, skipped"));
                continue;
            };
            if t < from {
                continue;
            }
            match serde_json::from_str::<MinuteArm>(&value) {
                Ok(v) => arm_rows.entry(t).or_default().push((name.to_string(), v)),
                Err(e) => warnings.push(format!("row {MINUTE}/{key} unreadable, skipped: {e}")),
            }
        }
        for (t, rows) in arm_rows {
            let total: u64 = rows.iter().map(|(_, r)| r.requests).sum();
            let arms = &mut by_t.entry(t).or_default().0;
            for (name, r) in rows {
                arms.insert(name, arm_json(&r, total));
            }
        }
        for (key, value) in store.rows(MINUTE_SHADOW)? {
            let Some((t, name)) = parse_minute_key(&key) else {
                warnings.push(format!("row {MINUTE_SHADOW}/{key}: bad key, skipped"));
                continue;
            };
            if t < from {
                continue;
            }
            match serde_json::from_str::<ShadowCounts>(&value) {
                Ok(c) => {
                    let agreement = c
                        .normalised_agreement_rate()
                        .or_else(|| c.status_agreement_rate());
                    by_t.entry(t).or_default().1.insert(
                        name.to_string(),
                        json!({ "observations": c.observations, "agreement": agreement }),
                    );
                }
                Err(e) => warnings.push(format!(
                    "row {MINUTE_SHADOW}/{key} unreadable, skipped: {e}"
                )),
            }
        }
        let minutes: Vec<Value> = by_t
            .into_iter()
            .map(|(t, (arms, shadows))| json!({ "t": t, "arms": arms, "shadows": shadows }))
            .collect();
        let from_ms = from;
        let events: Vec<&Event> = self.events().filter(|e| e.at >= from_ms).collect();
        let weights: Vec<&WeightPoint> = self.weight_points().filter(|w| w.at >= from_ms).collect();
        let canary = self.canary_in_view(from_ms);
        Ok((
            json!({
                "route": route,
                "bucket_ms": BUCKET_MS,
                "minutes": minutes,
                "events": events,
                "weights": weights,
                "canary": canary,
            }),
            warnings,
        ))
    }

    /// Canary points from `from_ms` on, led by the share in force at `from_ms` (so a step
    /// chart starts at the right height).
    fn canary_in_view(&self, from_ms: u64) -> Vec<CanaryPoint> {
        let mut out: Vec<CanaryPoint> = Vec::new();
        let mut before: Option<&CanaryPoint> = None;
        for c in self.canary_points() {
            if c.at < from_ms {
                before = Some(c);
            } else {
                out.push(c.clone());
            }
        }
        if let Some(b) = before {
            if out.first().is_none_or(|c| c.at > from_ms) {
                out.insert(
                    0,
                    CanaryPoint {
                        at: from_ms,
                        percent: b.percent,
                    },
                );
            }
        }
        out
    }
}

type JsonMap = Map<String, Value>;

fn put_json<T: Serialize>(writes: &mut Vec<Write>, kind: &'static str, key: String, v: &T) {
    if let Ok(value) = serde_json::to_string(v) {
        writes.push(Write::Put { kind, key, value });
    }
}

fn round(x: f64, digits: i32) -> f64 {
    let m = 10f64.powi(digits);
    (x * m).round() / m
}

fn arm_json(r: &MinuteArm, minute_total: u64) -> Value {
    let q = |v: Option<f64>| v.map(|x| round(x, 1));
    json!({
        "requests": r.requests,
        "errors": r.errors,
        "p50": q(r.latency.p50()),
        "p95": q(r.latency.p95()),
        "p99": q(r.latency.p99()),
        "reward_count": r.reward_count,
        "reward_sum": r.reward_sum,
        "share": if minute_total > 0 { json!(round(r.requests as f64 / minute_total as f64, 4)) } else { Value::Null },
    })
}

/// The canary share in force (percent): the controller's, else the configured one.
pub fn canary_percent(route: &Route, st: Option<&RouteState>) -> Option<f64> {
    let Strategy::Canary { percent_ppm, .. } = &route.strategy else {
        return None;
    };
    let st = st.filter(|s| s.fingerprint == route.fingerprint);
    Some(
        st.and_then(|s| s.canary_percent)
            .unwrap_or(f64::from(*percent_ppm) / 10_000.0),
    )
}

/// The events a change of controller state stands for (kind, detail): the transitions of
/// [`super::controller::transitions`], which the webhooks name the same way. With `op` (an
/// operator's rollback, resume or promote) only that action is recorded.
pub fn events_between(
    old: Option<&RouteState>,
    new: Option<&RouteState>,
    op: Option<&str>,
) -> Vec<(&'static str, String)> {
    let Some(new) = new else {
        return Vec::new();
    };
    super::controller::transitions(old, new, op)
        .into_iter()
        .map(|t| (t.kind, t.detail))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::learn::MemStore;
    use crate::observe::{OutcomeCounts, ShadowBatch};

    fn arm(route: &str, arm: &str, requests: u64, errors: u64, ms: u32) -> ArmBatch {
        let mut latency = LatencyHistogram::new();
        for _ in 0..requests {
            latency.record(ms);
        }
        ArmBatch {
            route: route.into(),
            arm: arm.into(),
            fingerprint: String::new(),
            split_ppm: None,
            epoch: None,
            counts: OutcomeCounts {
                requests,
                errors_5xx: errors,
                ..Default::default()
            },
            latency,
            propensities: Vec::new(),
            units: Vec::new(),
        }
    }

    fn apply(store: &MemStore, writes: Vec<Write>) {
        let s: &MemStore = store;
        crate::learn::Store::apply(&s, writes).unwrap();
    }

    fn canary_route(pct: u32) -> Route {
        let text = format!(
            r#"{{"version":1,"origins":{{"v1":{{"url":"http://a"}},"v2":{{"url":"http://b"}}}},"routes":[
            {{"name":"cn","match":{{"path_prefix":"/cn"}},"strategy":{{"kind":"canary","stable":"v1","canary":"v2","percent":{pct}}}}}]}}"#
        );
        crate::config::parse(&text).unwrap().routes.remove(0)
    }

    #[test]
    fn buckets_split_at_minute_boundaries() {
        let store = MemStore::new();
        let mut s = Series::default();
        let t0 = 1_700_000_040_000; // a minute start
        assert_eq!(bucket_of(t0), t0);
        let mut w = Vec::new();
        s.report("r", &[arm("r", "a", 10, 1, 20)], &[], t0 + 59_999, &mut w);
        s.report(
            "r",
            &[arm("r", "a", 5, 0, 40), arm("x", "a", 99, 0, 1)],
            &[],
            t0 + 60_000,
            &mut w,
        );
        s.report("r", &[arm("r", "b", 5, 5, 400)], &[], t0 + 61_000, &mut w);
        s.reward("a", 2, 1.5, t0 + 61_500, &mut w);
        // Only one row per arm per report.
        assert_eq!(w.len(), 4);
        apply(&store, w);
        let (doc, warn) = s.document("r", &&store, 1440, t0 + 62_000).unwrap();
        assert!(warn.is_empty());
        let m = doc["minutes"].as_array().unwrap();
        assert_eq!(m.len(), 2);
        assert_eq!(m[0]["t"], json!(t0));
        assert_eq!(m[0]["arms"]["a"]["requests"], json!(10));
        assert_eq!(m[0]["arms"]["a"]["errors"], json!(1));
        assert_eq!(m[0]["arms"]["a"]["share"], json!(1.0));
        assert_eq!(m[1]["t"], json!(t0 + 60_000));
        assert_eq!(m[1]["arms"]["a"]["requests"], json!(5));
        assert_eq!(m[1]["arms"]["a"]["reward_count"], json!(2));
        assert_eq!(m[1]["arms"]["a"]["reward_sum"], json!(1.5));
        assert_eq!(m[1]["arms"]["a"]["share"], json!(0.5));
        assert_eq!(m[1]["arms"]["b"]["errors"], json!(5));
        let p95 = m[1]["arms"]["b"]["p95"].as_f64().unwrap();
        assert!((370.0..430.0).contains(&p95), "{p95}");
        let p50 = m[1]["arms"]["a"]["p50"].as_f64().unwrap();
        assert!((37.0..43.0).contains(&p50), "{p50}");
        // ?minutes=1 keeps the last minute only.
        let (doc, _) = s.document("r", &&store, 1, t0 + 62_000).unwrap();
        assert_eq!(doc["minutes"].as_array().unwrap().len(), 1);
    }

    #[test]
    fn reload_continues_the_current_minute_and_skips_bad_rows() {
        let store = MemStore::new();
        let mut s = Series::default();
        let t0 = 1_700_000_040_000;
        let mut w = Vec::new();
        s.report("r", &[arm("r", "a", 3, 0, 10)], &[], t0 + 1_000, &mut w);
        apply(&store, w);
        store.poke(MINUTE, &minute_key(t0 - BUCKET_MS, "bad"), "{not json");
        store.poke(MINUTE, "garbage", "{}");
        store.poke(EVENT, "0000000000001/0000000000", "[1]");
        let mut warnings = Vec::new();
        let mut s2 = Series::load(&&store, &mut warnings).unwrap();
        assert_eq!(warnings.len(), 2, "{warnings:?}");
        let mut w = Vec::new();
        s2.report("r", &[arm("r", "a", 4, 0, 10)], &[], t0 + 2_000, &mut w);
        apply(&store, w);
        let (doc, warn) = s2.document("r", &&store, 1440, t0 + 3_000).unwrap();
        assert_eq!(warn.len(), 2, "{warn:?}");
        let m = doc["minutes"].as_array().unwrap();
        assert_eq!(m.len(), 1);
        assert_eq!(m[0]["arms"]["a"]["requests"], json!(7));
        // The bad-but-indexed minute is pruned when it ages out.
        let later = t0 + (KEEP_MINUTES - 1) * BUCKET_MS;
        let w = s2.prune(later, PRUNE_BATCH);
        assert_eq!(w.len(), 1);
        apply(&store, w);
        assert_eq!(s2.minutes(), 1);
    }

    #[test]
    fn pruning_is_bounded_and_keeps_a_day() {
        let store = MemStore::new();
        let mut s = Series::default();
        let t0 = 1_700_000_040_000;
        for i in 0..2_000u64 {
            let mut w = Vec::new();
            let now = t0 + i * BUCKET_MS;
            s.report(
                "r",
                &[arm("r", "a", 1, 0, 5), arm("r", "b", 1, 0, 5)],
                &[],
                now,
                &mut w,
            );
            apply(&store, w);
        }
        assert_eq!(s.minute_rows(), 4_000);
        let now = t0 + 1_999 * BUCKET_MS;
        let mut rounds = 0;
        loop {
            let w = s.prune(now, 100);
            assert!(w.len() <= 100);
            if w.is_empty() {
                break;
            }
            apply(&store, w);
            rounds += 1;
        }
        assert_eq!(rounds, 12); // 1,120 rows in batches of 100
        assert_eq!(s.minutes() as u64, KEEP_MINUTES);
        assert_eq!(store.row_count(), 2 * KEEP_MINUTES as usize);
        let (doc, _) = s.document("r", &&store, 5_000, now).unwrap();
        let m = doc["minutes"].as_array().unwrap();
        assert_eq!(m.len() as u64, KEEP_MINUTES);
        assert_eq!(m[0]["t"], json!(now - (KEEP_MINUTES - 1) * BUCKET_MS));
    }

    #[test]
    fn events_and_points_are_capped() {
        let store = MemStore::new();
        let mut s = Series::default();
        for i in 0..(MAX_EVENTS as u64 + 20) {
            let mut w = Vec::new();
            s.event("srm", &"x".repeat(1_000), None, 1_000 + i, &mut w);
            apply(&store, w);
        }
        assert_eq!(s.events().count(), MAX_EVENTS);
        assert_eq!(store.row_count(), MAX_EVENTS);
        assert_eq!(s.events().next().unwrap().at, 1_020);
        assert!(s.events().all(|e| e.detail.len() == MAX_DETAIL));
        let mut warnings = Vec::new();
        let s2 = Series::load(&&store, &mut warnings).unwrap();
        assert!(warnings.is_empty());
        assert_eq!(s2.events().count(), MAX_EVENTS);
        assert_eq!(s2, s);
    }

    #[test]
    fn weights_are_throttled() {
        let mut s = Series::default();
        let mut w = Vec::new();
        let mk = |a: f64| Weights {
            arms: [("a".to_string(), a), ("b".to_string(), 1.0 - a)].into(),
            ..Default::default()
        };
        s.weights(&mk(0.5), 0, &mut w);
        s.weights(&mk(0.52), 2_000, &mut w); // small move, too soon
        s.weights(&mk(0.6), 4_000, &mut w); // large move
        s.weights(&mk(0.61), 4_000 + WEIGHT_POINT_MS, &mut w); // time passed
        assert_eq!(s.weight_points().count(), 3);
    }

    #[test]
    fn state_changes_become_events_and_canary_points() {
        let route = canary_route(5);
        let fp = route.fingerprint.clone();
        let st = |step: usize, pct: f64, rolled: bool| RouteState {
            fingerprint: fp.clone(),
            canary_percent: Some(pct),
            step,
            rolled_back: rolled,
            reason: rolled.then(|| "error rate 0.3 > 0.05".to_string()),
            ..Default::default()
        };
        let mut s = Series::default();
        let mut w = Vec::new();
        s.state_change(&route, None, None, None, None, 1, &mut w);
        assert_eq!(
            s.canary_points().map(|c| c.percent).collect::<Vec<_>>(),
            [5.0]
        );
        assert_eq!(s.events().count(), 0);
        let a = st(0, 5.0, false);
        s.state_change(&route, None, Some(&a), None, None, 2, &mut w);
        assert_eq!(s.events().count(), 0);
        let b = st(1, 25.0, false);
        s.state_change(&route, Some(&a), Some(&b), None, None, 3, &mut w);
        let c = st(1, 0.0, true);
        s.state_change(&route, Some(&b), Some(&c), None, None, 4, &mut w);
        s.state_change(&route, Some(&c), Some(&c), None, None, 5, &mut w);
        let d = st(1, 25.0, false);
        s.state_change(&route, Some(&c), Some(&d), Some("resume"), None, 6, &mut w);
        s.state_change(
            &route,
            Some(&d),
            Some(&d),
            None,
            Some("config changed"),
            7,
            &mut w,
        );
        let kinds: Vec<(&str, Option<f64>)> = s
            .events()
            .map(|e| (e.kind.as_str(), e.canary_percent))
            .collect();
        assert_eq!(
            kinds,
            [
                ("step", Some(25.0)),
                ("rollback", Some(0.0)),
                ("resume", Some(25.0)),
                ("config", Some(25.0))
            ]
        );
        assert!(s.events().nth(1).unwrap().detail.contains("error rate"));
        assert_eq!(
            s.canary_points().map(|c| c.percent).collect::<Vec<_>>(),
            [5.0, 25.0, 0.0, 25.0]
        );
        // The view starts with the share in force at its start.
        assert_eq!(
            s.canary_in_view(5)[0],
            CanaryPoint {
                at: 5,
                percent: 0.0
            }
        );
    }

    #[test]
    fn shadows_report_agreement_per_minute() {
        let store = MemStore::new();
        let mut s = Series::default();
        let mut w = Vec::new();
        let sh = ShadowBatch {
            route: "r".into(),
            shadow_origin: "v2".into(),
            epoch: None,
            counts: ShadowCounts {
                observations: 4,
                status_agree: 3,
                ..Default::default()
            },
        };
        s.report("r", &[], &[sh], 120_000, &mut w);
        apply(&store, w);
        let (doc, _) = s.document("r", &&store, 10, 120_000).unwrap();
        let m = &doc["minutes"][0]["shadows"]["v2"];
        assert_eq!(m["observations"], json!(4));
        assert_eq!(m["agreement"], json!(0.75));
    }

    // Native only: proptest is a native dev-dependency.
    #[cfg(not(target_arch = "wasm32"))]
    proptest::proptest! {
        #[test]
        fn rows_stay_bounded(steps in proptest::collection::vec((0u64..5_000, 0usize..4, 1u64..20), 1..200)) {
            let store = MemStore::new();
            let mut s = Series::default();
            let mut now = 1_700_000_000_000u64;
            let mut sent = 0u64;
            for (dt_s, a, n) in steps {
                now += dt_s * 1_000;
                let mut w = Vec::new();
                s.report("r", &[arm("r", ["a", "b", "c", "d"][a], n, 0, 5)], &[], now, &mut w);
                proptest::prop_assert!(w.len() <= 1);
                apply(&store, w);
                sent += n;
                loop {
                    let w = s.prune(now, 7);
                    if w.is_empty() { break; }
                    apply(&store, w);
                }
                proptest::prop_assert!(s.minutes() as u64 <= KEEP_MINUTES);
                proptest::prop_assert_eq!(store.row_count(), s.minute_rows());
            }
            // Everything sent within the last day is counted exactly once.
            let (doc, _) = s.document("r", &&store, KEEP_MINUTES, now).unwrap();
            let counted: u64 = doc["minutes"].as_array().unwrap().iter()
                .flat_map(|m| m["arms"].as_object().unwrap().values().map(|a| a["requests"].as_u64().unwrap()))
                .sum();
            proptest::prop_assert!(counted <= sent);
        }
    }
}
