//! A route's experiment counted per unit, the unit of randomisation: exposure per distinct
//! unit, per arm and per split in force ([`Epoch`]), the sequential tests on those units, and
//! the `experiment` section of the stats document ([`document`]).
//!
//! **Epochs.** Every observation carries the split the edge routed under (strategy
//! fingerprint and split in ppm). Each such split is an epoch with its own unit rows and
//! per-arm running sums ([`UnitSums`]); the statistics shown are those of the epoch in force.
//! A change of the route's weights or percent starts a new epoch, so units are never
//! compared across splits they were not randomised under. At most [`MAX_EPOCHS`] are live;
//! at each tick an epoch that is not in force and saw nothing for [`EPOCH_IDLE_MS`] is
//! retired, and its rows are deleted in bounded batches ([`Epochs::retired`]).
//!
//! **Unit rows** (`epoch`, `arm`, `unit`) -> [`UnitRow`] live in the object's storage, not in
//! memory: a report reads the rows of the units in its batch ([`UnitRows`]), folds the batch
//! in, and writes them back with the arm sums (one row per distinct unit per batch). At most
//! [`MAX_UNIT_ROWS`] rows are kept; past that, new units are counted in `refused` and in the
//! request totals only, and the units already counted go on (a closed cohort).
//!
//! **Unit keys** are 64 bits (the receipt's keyed unit id). Two of 10 million units collide
//! with probability about n^2 / 2^65 = 2.7e-6: counting is exact for every practical purpose.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use super::store::StoreError;
pub use super::store::UnitKey;
use crate::config::{Route, RouteState, Strategy};
use crate::observe::Batch;
use crate::routing;
use crate::statistics::{
    self as ab, MsprtConfig, MsprtState, RatioStats, SrmState, UnitRow, UnitSums, SRM_ALPHA,
    SRM_PRIOR_CONCENTRATION,
};

/// Splits whose unit figures are kept at once.
pub const MAX_EPOCHS: usize = 8;
/// Unit rows a route's object keeps (all epochs together).
pub const MAX_UNIT_ROWS: u64 = 10_000_000;
/// An epoch not in force that saw no observation for this long is retired at the next tick.
pub const EPOCH_IDLE_MS: u64 = 60_000;
/// Retired epochs remembered until their rows are deleted.
pub const MAX_RETIRED: usize = 64;

/// A unit row to store.
pub type UnitWrite = (UnitKey, UnitRow);

/// Where unit rows are read from (the object's SQLite, or [`MemUnits`]).
pub trait UnitRows {
    /// The rows of `keys`, in order (`None`: no row).
    fn unit_rows(&self, keys: &[UnitKey]) -> Result<Vec<Option<UnitRow>>, StoreError>;
}

/// Unit rows in memory, for tests and tools.
#[derive(Debug, Clone, Default)]
pub struct MemUnits(pub BTreeMap<UnitKey, UnitRow>);

impl MemUnits {
    pub fn apply(&mut self, writes: Vec<UnitWrite>) {
        self.0.extend(writes);
    }
}

impl UnitRows for MemUnits {
    fn unit_rows(&self, keys: &[UnitKey]) -> Result<Vec<Option<UnitRow>>, StoreError> {
        Ok(keys.iter().map(|k| self.0.get(k).copied()).collect())
    }
}

/// The units of one split.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Epoch {
    /// Row key of this epoch's units.
    pub id: u32,
    pub fingerprint: String,
    pub split_ppm: u32,
    pub first_ms: u64,
    pub last_ms: u64,
    /// Per arm: running sums over its units.
    pub arms: BTreeMap<String, UnitSums>,
    /// Observations whose unit was not counted (past the row cap or a batch's unit cap).
    pub uncounted_requests: u64,
    pub srm: SrmState,
    /// Always-valid tests per non-control arm, and the `expected_units` they are tuned to.
    pub sequential: BTreeMap<String, MsprtState>,
    pub expected_units: u64,
}

impl Epoch {
    fn rows(&self) -> u64 {
        self.arms.values().map(|a| a.units).sum()
    }
}

/// An epoch whose rows are being deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Retired {
    pub id: u32,
    pub rows: u64,
}

/// Every epoch of a route.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Epochs {
    pub live: Vec<Epoch>,
    pub next_id: u32,
    /// Unit rows stored, live and retired.
    pub rows: u64,
    pub retired: Vec<Retired>,
    /// The split in force at the last tick (never evicted).
    pub in_force: Option<(String, u32)>,
}

impl Epochs {
    fn find(&self, fingerprint: &str, split_ppm: u32) -> Option<usize> {
        self.live
            .iter()
            .position(|e| e.split_ppm == split_ppm && e.fingerprint == fingerprint)
    }

    /// The epoch of a split, created (and the least recently seen one not in force retired
    /// when there are [`MAX_EPOCHS`]) if new.
    fn epoch_for(&mut self, fingerprint: &str, split_ppm: u32, now_ms: u64) -> usize {
        if let Some(i) = self.find(fingerprint, split_ppm) {
            return i;
        }
        if self.live.len() >= MAX_EPOCHS {
            let in_force = self.in_force.clone();
            let victim = (0..self.live.len())
                .filter(|i| {
                    let e = &self.live[*i];
                    in_force.as_ref() != Some(&(e.fingerprint.clone(), e.split_ppm))
                })
                .min_by_key(|i| self.live[*i].last_ms);
            if let Some(v) = victim {
                self.retire(v);
            }
        }
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1);
        self.live.push(Epoch {
            id,
            fingerprint: fingerprint.to_string(),
            split_ppm,
            first_ms: now_ms,
            last_ms: now_ms,
            ..Default::default()
        });
        self.live.len() - 1
    }

    fn retire(&mut self, i: usize) {
        let e = self.live.remove(i);
        let rows = e.rows();
        if rows > 0 {
            if self.retired.len() >= MAX_RETIRED {
                // Never reached in practice (the alarm deletes faster than splits change);
                // the oldest retired epoch's rows are then left behind and no longer counted.
                let gone = self.retired.remove(0);
                self.rows = self.rows.saturating_sub(gone.rows);
            }
            self.retired.push(Retired { id: e.id, rows });
        }
    }

    /// The unit keys a batch touches, creating epochs for splits not seen yet. Arms of
    /// other routes and batches without a split tag are left out.
    pub fn keys_for(&mut self, route: &str, batch: &Batch, now_ms: u64) -> Vec<UnitKey> {
        let mut keys = Vec::new();
        for a in batch.arms.iter().filter(|a| a.route == route) {
            let Some(split_ppm) = a.split_ppm else {
                continue;
            };
            if a.units.is_empty() {
                continue;
            }
            let i = self.epoch_for(&a.fingerprint, split_ppm, now_ms);
            let id = self.live[i].id;
            keys.extend(a.units.iter().map(|u| UnitKey {
                epoch: id,
                arm: a.arm.clone(),
                unit: u.0,
            }));
        }
        keys.sort();
        keys.dedup();
        keys
    }

    /// Folds a batch's units in, given the stored rows of [`Epochs::keys_for`]'s keys;
    /// returns the rows to write. `cap` is the row limit ([`MAX_UNIT_ROWS`]).
    pub fn fold(
        &mut self,
        route: &str,
        batch: &Batch,
        keys: &[UnitKey],
        rows: &[Option<UnitRow>],
        cap: u64,
        now_ms: u64,
    ) -> Vec<UnitWrite> {
        let mut current: BTreeMap<&UnitKey, (Option<UnitRow>, Option<UnitRow>)> = keys
            .iter()
            .zip(rows)
            .map(|(k, r)| (k, (*r, None)))
            .collect();
        let mut stored_rows = self.rows;
        for a in batch.arms.iter().filter(|a| a.route == route) {
            let Some(split_ppm) = a.split_ppm else {
                continue;
            };
            let Some(i) = self.find(&a.fingerprint, split_ppm) else {
                continue;
            };
            let e = &mut self.live[i];
            e.last_ms = e.last_ms.max(now_ms);
            // Requests of units past the batch's unit cap.
            let in_units: u64 = a.units.iter().map(|u| u64::from(u.1)).sum();
            let dropped = a.counts.requests.saturating_sub(in_units);
            e.uncounted_requests = e.uncounted_requests.saturating_add(dropped);
            let id = e.id;
            for u in &a.units {
                let key = UnitKey {
                    epoch: id,
                    arm: a.arm.clone(),
                    unit: u.0,
                };
                let Some((stored, new)) = current.get_mut(&key) else {
                    continue;
                };
                let before = new.or(*stored);
                if before.is_none() && stored_rows >= cap {
                    let sums = e.arms.entry(a.arm.clone()).or_default();
                    sums.refused = sums.refused.saturating_add(1);
                    e.uncounted_requests = e.uncounted_requests.saturating_add(u64::from(u.1));
                    continue;
                }
                let mut row = before.unwrap_or_default();
                row.requests = row.requests.saturating_add(u64::from(u.1));
                row.errors = row.errors.saturating_add(u64::from(u.2));
                e.arms
                    .entry(a.arm.clone())
                    .or_default()
                    .update(before.as_ref(), &row);
                if before.is_none() {
                    stored_rows = stored_rows.saturating_add(1);
                }
                *new = Some(row);
            }
        }
        self.rows = stored_rows;
        current
            .into_iter()
            .filter_map(|(k, (_, new))| new.map(|r| (k.clone(), r)))
            .collect()
    }

    /// Notes the split in force by the route's config and controller `state` before a
    /// credit, and opens its epoch if no report has yet: feedback can reach the object
    /// before the first report of its route (an isolate flushes up to a second later) and
    /// before the first tick, and its unit still gets its row under the split it was routed by.
    /// Only routes whose units are counted (A/B, canary, bandit) have epochs.
    pub fn enter(&mut self, route: &Route, state: Option<&RouteState>, now_ms: u64) {
        if !matches!(
            route.strategy,
            Strategy::Ab { .. } | Strategy::Canary { .. } | Strategy::Bandit { .. }
        ) {
            return;
        }
        let split = routing::split_ppm(route, state);
        self.epoch_for(&route.fingerprint, split, now_ms);
        self.in_force = Some((route.fingerprint.clone(), split));
    }

    /// Where a reward of `unit` in `arm` may be credited: one key per live epoch, the most
    /// recently seen first.
    pub fn credit_keys(&self, arm: &str, unit: u64) -> Vec<UnitKey> {
        let mut live: Vec<&Epoch> = self.live.iter().collect();
        live.sort_by_key(|e| std::cmp::Reverse(e.last_ms));
        live.iter()
            .map(|e| UnitKey {
                epoch: e.id,
                arm: arm.to_string(),
                unit,
            })
            .collect()
    }

    /// Credits a reward to the first of `keys` that has a row (`rows` aligned with `keys`):
    /// the unit's row and its arm's sums. A unit with no row yet (its feedback overtook the
    /// report of its request, which an isolate flushes up to a second later) gets one under
    /// the split in force at the last tick, with no request: the report adds them. `None` when
    /// there is no such split or the rows are at `cap` (the reward then counts in the arm's
    /// reward totals only).
    pub fn credit(
        &mut self,
        keys: &[UnitKey],
        rows: &[Option<UnitRow>],
        reward: f64,
        cap: u64,
    ) -> Option<UnitWrite> {
        let found = keys
            .iter()
            .zip(rows)
            .find_map(|(k, r)| r.map(|r| (k, Some(r))));
        let (key, old) = match found {
            Some(f) => f,
            None => {
                let (fp, split) = self.in_force.clone()?;
                let i = self.find(&fp, split)?;
                let id = self.live[i].id;
                let key = keys.iter().find(|k| k.epoch == id)?;
                if self.rows >= cap {
                    return None;
                }
                self.rows = self.rows.saturating_add(1);
                (key, None)
            }
        };
        let e = self.live.iter_mut().find(|e| e.id == key.epoch)?;
        let mut row = old.unwrap_or_default();
        row.rewards = row.rewards.saturating_add(1);
        row.reward_sum += reward;
        e.arms
            .entry(key.arm.clone())
            .or_default()
            .update(old.as_ref(), &row);
        Some((key.clone(), row))
    }

    /// The epoch of the split in force for `route` (controller `state`), if any units came.
    pub fn current(&self, route: &Route, state: Option<&RouteState>) -> Option<&Epoch> {
        let split = routing::split_ppm(route, state);
        self.find(&route.fingerprint, split).map(|i| &self.live[i])
    }

    /// At a tick: notes the split in force, retires idle epochs not in force, and takes a
    /// look with the sequential tests (SRM and always-valid) of the epoch in force. `names`:
    /// the route's arms, control first; `ratio`: the metric is a ratio (numeric rewards).
    pub fn tick(
        &mut self,
        route: &Route,
        state: Option<&RouteState>,
        names: &[&str],
        ratio: bool,
        now_ms: u64,
    ) {
        let split = routing::split_ppm(route, state);
        let key = (route.fingerprint.clone(), split);
        let mut i = 0;
        while i < self.live.len() {
            let e = &self.live[i];
            let in_force = e.fingerprint == key.0 && e.split_ppm == key.1;
            if !in_force && e.last_ms.saturating_add(EPOCH_IDLE_MS) < now_ms {
                self.retire(i);
            } else {
                i += 1;
            }
        }
        self.in_force = Some(key.clone());
        let Some(i) = self.find(&key.0, key.1) else {
            return;
        };
        let weights = planned_weights(route, split);
        let e = &mut self.live[i];
        if let Some(w) = &weights {
            let units: Vec<u64> = names
                .iter()
                .map(|n| e.arms.get(*n).map_or(0, |a| a.units))
                .collect();
            e.srm.update(&units, w);
        }
        if names.len() < 2 {
            return;
        }
        if e.expected_units != route.expected_units {
            // A new tuning is a new test: its running minimum starts afresh.
            e.sequential.clear();
            e.expected_units = route.expected_units;
        }
        let cfg = msprt_config(route);
        let control = e.arms.get(names[0]).copied().unwrap_or_default();
        for n in &names[1..] {
            let arm = e.arms.get(*n).copied().unwrap_or_default();
            let s = e.sequential.entry(n.to_string()).or_default();
            if ratio {
                s.update_ratio(
                    &control.reward_per_feedback(),
                    &arm.reward_per_feedback(),
                    &cfg,
                );
            } else {
                s.update(control.conversion(), arm.conversion(), &cfg);
            }
        }
    }

    /// Forgets `deleted` rows of the first retired epoch (the store deleted them); `done`:
    /// none are left, the epoch is forgotten.
    pub fn pruned(&mut self, deleted: u64, done: bool) {
        if let Some(r) = self.retired.first_mut() {
            let n = if done { r.rows } else { deleted.min(r.rows) };
            r.rows -= n;
            self.rows = self.rows.saturating_sub(n);
            if done {
                self.retired.remove(0);
            }
        }
    }
}

/// The always-valid test's settings for a route.
pub fn msprt_config(route: &Route) -> MsprtConfig {
    MsprtConfig {
        expected_units: route.expected_units as f64,
        ..MsprtConfig::default()
    }
}

/// The planned shares of the split (A/B weights while every arm is in the split, the canary
/// percent); `None` for strategies without a fixed split (bandits).
pub fn planned_weights(route: &Route, split_ppm: u32) -> Option<Vec<f64>> {
    match &route.strategy {
        Strategy::Ab { arms, .. } if split_ppm == crate::base::PPM => {
            Some(arms.iter().map(|a| a.weight).collect())
        }
        Strategy::Canary { .. } => {
            let p = f64::from(split_ppm);
            Some(vec![f64::from(crate::base::PPM) - p, p])
        }
        _ => None,
    }
}

/// The `experiment` section of the stats document for the epoch in force. `names`: arms,
/// control first; `ratio`: numeric (or explicit 0/1) rewards, compared as the mean reward per
/// reward received; else per-unit conversion.
pub fn document(
    epochs: &Epochs,
    route: &Route,
    state: Option<&RouteState>,
    names: &[&str],
    ratio: bool,
) -> Value {
    let split = routing::split_ppm(route, state);
    let epoch = epochs.current(route, state);
    let empty = UnitSums::default();
    let sums = |n: &str| epoch.and_then(|e| e.arms.get(n)).copied().unwrap_or(empty);
    let cfg = msprt_config(route);
    let weights = planned_weights(route, split);
    let srm = weights.as_ref().and_then(|w| {
        let e = epoch?;
        let units: Vec<u64> = names.iter().map(|n| sums(n).units).collect();
        let lbf = ab::srm_log_bayes_factor(&units, w, SRM_PRIOR_CONCENTRATION)?;
        let total_w: f64 = w.iter().sum();
        (e.srm.looks > 0).then(|| {
            json!({
                "test": "sequential_multinomial",
                "p_value": e.srm.p_value,
                "mismatch": e.srm.p_value < SRM_ALPHA,
                "alpha": SRM_ALPHA,
                "log_bayes_factor": finite_or_null(lbf),
                "looks": e.srm.looks,
                "units": units,
                "planned_shares": w.iter().map(|x| x / total_w).collect::<Vec<_>>(),
            })
        })
    });
    let mismatch = srm.as_ref().is_some_and(|s| s["mismatch"] == true);
    let control = sums(names[0]);
    let mut arms = Map::new();
    for (i, n) in names.iter().enumerate() {
        let s = sums(n);
        let mut arm = json!({
            "units": s.units,
            "requests": s.requests,
            "errors": s.errors,
            "error_rate": ratio_json(&s.errors_per_request()),
            "refused_units": s.refused,
        });
        let diff;
        if ratio {
            let c = ab::compare_ratio(
                (i > 0).then_some(&control.reward_per_feedback()),
                &s.reward_per_feedback(),
            );
            diff = c.z_test.map(|d| d.diff);
            arm["comparison"] = json!(c);
        } else {
            let c = ab::compare_conversion(control.conversion(), s.conversion());
            diff = c.z_test.map(|z| z.diff);
            let mut cj = json!(c);
            if i == 0 {
                cj["z_test"] = Value::Null;
                cj["prob_beat_control"] = Value::Null;
            }
            arm["comparison"] = cj;
        }
        if i > 0 {
            let seq = epoch.and_then(|e| e.sequential.get(*n));
            arm["sequential"] = json!({
                "always_valid_p_value": seq.filter(|s| s.used_looks > 0).map(|s| s.p_value),
                "significant": seq.is_some_and(|s| s.used_looks > 0 && s.p_value < cfg.alpha),
                "looks": seq.map_or(0, |s| s.looks),
                "expected_units": route.expected_units,
            });
            let mut v = ab::verdict(seq, diff, cfg.alpha, mismatch);
            if matches!(route.strategy, Strategy::Bandit { .. }) {
                // Its allocation follows the rewards: the tests' guarantees assume a fixed split.
                v.result = ab::VerdictResult::Inconclusive;
                v.reason = Some(
                    "a bandit moves its split with the rewards, so no test decides: see its weights"
                        .into(),
                );
            }
            arm["verdict"] = json!(v);
        }
        arms.insert(n.to_string(), arm);
    }
    let c = control.conversion();
    let mut doc = json!({
        "unit_of_analysis": "unit",
        "control": names[0],
        "metric": if ratio { "mean" } else { "conversion" },
        "alpha": cfg.alpha,
        "arms": arms,
        "srm": srm,
        "split": {
            "split_ppm": split,
            "units": names.iter().map(|n| sums(n).units).sum::<u64>(),
            "since_ms": epoch.map(|e| e.first_ms),
            "expected_units": route.expected_units,
            "uncounted_requests": epoch.map_or(0, |e| e.uncounted_requests),
            "unit_rows": epochs.rows,
            "unit_rows_cap": MAX_UNIT_ROWS,
        },
        "splits": epochs.live.iter().filter(|e| e.fingerprint == route.fingerprint).map(|e| json!({
            "split_ppm": e.split_ppm,
            "units": e.rows(),
            "requests": e.arms.values().map(|a| a.requests).sum::<u64>(),
            "arms": e.arms.iter().map(|(n, a)| (n.clone(), json!(a.units))).collect::<Map<_, _>>(),
            "first_ms": e.first_ms,
            "last_ms": e.last_ms,
        })).collect::<Vec<_>>(),
    });
    if !ratio {
        doc["control_rate"] = json!(c.rate().filter(|_| c.n > 0));
    }
    doc
}

fn finite_or_null(x: f64) -> Value {
    if x.is_finite() {
        json!(x)
    } else {
        Value::Null
    }
}

fn ratio_json(r: &RatioStats) -> Value {
    json!({ "rate": r.ratio(), "ci95": r.ci95() })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observe::{Batcher, Observation, Outcome};

    fn batch(arm: &str, split: u32, units: &[u64], now: u64) -> Batch {
        let mut b = Batcher::new(u32::MAX, u64::MAX);
        for u in units {
            b.push(
                Observation {
                    route: "r",
                    arm,
                    outcome: Outcome::Ok,
                    status: 200,
                    latency_ms: 1,
                    fingerprint: "f",
                    split_ppm: split,
                    propensity_ppm: None,
                    epoch: None,
                    unit: Some(*u),
                },
                now,
            );
        }
        b.drain()
    }

    fn report(e: &mut Epochs, mem: &mut MemUnits, b: &Batch, cap: u64, now: u64) {
        let keys = e.keys_for("r", b, now);
        let rows = mem.unit_rows(&keys).unwrap();
        let w = e.fold("r", b, &keys, &rows, cap, now);
        mem.apply(w);
    }

    #[test]
    fn units_are_counted_once_per_split_and_capped() {
        let (mut e, mut mem) = (Epochs::default(), MemUnits::default());
        report(&mut e, &mut mem, &batch("a", 100, &[1, 2, 2, 3], 1), 4, 1);
        report(&mut e, &mut mem, &batch("a", 100, &[1, 1, 4], 2), 4, 2);
        let a = e.live[0].arms["a"];
        assert_eq!(
            (a.units, a.requests, a.requests_sq),
            (4, 7, 9.0 + 4.0 + 1.0 + 1.0)
        );
        assert_eq!(e.rows, 4);
        // At the cap: a new unit is refused, a known one still counts.
        report(&mut e, &mut mem, &batch("a", 100, &[5, 2], 3), 4, 3);
        let a = e.live[0].arms["a"];
        assert_eq!((a.units, a.requests, a.refused), (4, 8, 1));
        assert_eq!(e.live[0].uncounted_requests, 1);
        // Another split is another epoch.
        report(&mut e, &mut mem, &batch("a", 300, &[1], 4), 10, 4);
        assert_eq!(e.live.len(), 2);
        assert_eq!(e.live[1].arms["a"].units, 1);
        // A reward goes to the most recently seen split that knows the unit.
        let keys = e.credit_keys("a", 2);
        let rows = mem.unit_rows(&keys).unwrap();
        let (k, row) = e.credit(&keys, &rows, 1.0, 10).unwrap();
        assert_eq!((k.epoch, row.rewards, row.requests), (0, 1, 3));
        assert_eq!(e.live[0].arms["a"].converted, 1);
        // A reward that overtakes its unit's first report: a row under the split in force,
        // which the report then completes.
        let keys = e.credit_keys("a", 99);
        assert!(e
            .credit(&keys, &mem.unit_rows(&keys).unwrap(), 1.0, 10)
            .is_none());
        e.in_force = Some(("f".into(), 300));
        let (k, row) = e
            .credit(&keys, &mem.unit_rows(&keys).unwrap(), 1.0, 10)
            .unwrap();
        assert_eq!((k.epoch, row.requests, row.rewards), (1, 0, 1));
        mem.apply(vec![(k, row)]);
        report(&mut e, &mut mem, &batch("a", 300, &[99, 99], 5), 10, 5);
        let a = e.live[1].arms["a"];
        assert_eq!((a.units, a.requests, a.converted), (2, 3, 1));
    }

    #[test]
    fn epochs_are_bounded_and_retired() {
        let (mut e, mut mem) = (Epochs::default(), MemUnits::default());
        for s in 0..(MAX_EPOCHS as u32 + 3) {
            report(
                &mut e,
                &mut mem,
                &batch("a", s, &[1, 2], u64::from(s)),
                1000,
                u64::from(s),
            );
        }
        assert_eq!(e.live.len(), MAX_EPOCHS);
        assert_eq!(e.retired.len(), 3);
        assert_eq!(e.rows, 2 * (MAX_EPOCHS as u64 + 3));
        e.pruned(1, false);
        assert_eq!(
            (e.rows, e.retired[0].rows),
            (2 * (MAX_EPOCHS as u64 + 3) - 1, 1)
        );
        e.pruned(0, true);
        assert_eq!(e.retired.len(), 2);
        assert_eq!(e.rows, 2 * (MAX_EPOCHS as u64 + 2));
    }
}
