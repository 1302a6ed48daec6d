//! Batching in the isolate: the [`Batcher`] the edge pushes every observation into, and
//! the wire format it sends to a route's Durable Object ([`Batch`]: per (route, arm)
//! [`ArmBatch`], per (route, shadow origin) [`ShadowBatch`], override tokens
//! [`OverrideBatch`]), already pre-aggregated so the JSON body stays small.

use super::DecisionRow;
use super::{LatencyHistogram, Observation, OutcomeCounts, ShadowCounts, ShadowObservation};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The entry matching `is`, appended with `make` the first time (batches hold a handful).
#[inline]
fn slot<T>(v: &mut Vec<T>, is: impl Fn(&T) -> bool, make: impl FnOnce() -> T) -> &mut T {
    let i = match v.iter().position(is) {
        Some(i) => i,
        None => {
            v.push(make());
            v.len() - 1
        }
    };
    &mut v[i]
}

/// Requests and errors of one unit in one [`ArmBatch`], sent as `[unit, requests, errors]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnitCount(pub u64, pub u32, pub u32);

/// Most distinct units one [`ArmBatch`] carries (a batch is flushed after
/// `Batcher::DEFAULT_MAX_COUNT` observations, so this only bounds a batcher built larger);
/// requests of further units of that batch are in its totals only.
pub const MAX_UNITS_PER_ARM: usize = 1_000;

/// Pre-aggregated observations of one (route, arm).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ArmBatch {
    pub route: String,
    pub arm: String,
    /// What the edge routed under: strategy fingerprint and split in force (ppm). Batches
    /// from an edge that predates them carry neither (`""`, `None`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub fingerprint: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub split_ppm: Option<u32>,
    /// The controller epoch the edge routed under ([`super::Observation::epoch`]); absent
    /// for routes whose state the edge does not read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epoch: Option<u64>,
    #[serde(flatten)]
    pub counts: OutcomeCounts,
    pub latency: LatencyHistogram,
    /// The logged decisions among these requests by propensity: `[ppm, count]` pairs, at
    /// most [`MAX_PROPENSITIES`] distinct values (a batch holds at most its flush count of
    /// requests, 50 by default, so none is dropped in practice). Integers only: the edge never
    /// formats a float (`OpeSums::record_decisions` sums them in the route's object).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub propensities: Vec<[u32; 2]>,
    /// Per distinct unit: its requests and errors in this batch (at most
    /// [`MAX_UNITS_PER_ARM`]). Batches from an edge that predates units, or of a route without
    /// an experiment, carry none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub units: Vec<UnitCount>,
}

/// Distinct propensities one [`ArmBatch`] counts; decisions with another one are not logged.
pub const MAX_PROPENSITIES: usize = 64;

/// Pre-aggregated shadow observations of one (route, shadow origin).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShadowBatch {
    pub route: String,
    pub shadow_origin: String,
    /// As [`ArmBatch::epoch`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epoch: Option<u64>,
    #[serde(flatten)]
    pub counts: ShadowCounts,
}

/// Override tokens (`x-switchyard-override`) seen on one route: requests forced to `arm`,
/// which are not observations (they stay out of every experiment statistic), and tokens
/// ignored as invalid, expired or not for this route (`arm` empty).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct OverrideBatch {
    pub route: String,
    pub arm: String,
    pub forced: u64,
    pub ignored: u64,
}

/// Per-route totals of [`OverrideBatch`]es, in the route's statistics document.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct OverrideTotals {
    /// Forced requests per arm.
    pub forced: BTreeMap<String, u64>,
    /// Tokens ignored.
    pub ignored: u64,
}

impl OverrideTotals {
    /// Adds the batch's counts (arms beyond 64 distinct names are folded into `ignored`).
    pub fn merge(&mut self, batch: &[OverrideBatch]) {
        for o in batch {
            self.ignored = self.ignored.saturating_add(o.ignored);
            if o.forced == 0 {
                continue;
            }
            if self.forced.len() >= 64 && !self.forced.contains_key(&o.arm) {
                self.ignored = self.ignored.saturating_add(o.forced);
                continue;
            }
            let e = self.forced.entry(o.arm.clone()).or_default();
            *e = e.saturating_add(o.forced);
        }
    }

    pub fn is_empty(&self) -> bool {
        self.forced.is_empty() && self.ignored == 0
    }
}

/// What an isolate sends to a route's Durable Object (as JSON).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Batch {
    /// Time of the first and last observation in the batch.
    pub first_ms: u64,
    pub last_ms: u64,
    pub arms: Vec<ArmBatch>,
    pub shadows: Vec<ShadowBatch>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub overrides: Vec<OverrideBatch>,
    /// Logged decisions of routes that log them (at most [`Batcher::MAX_DECISIONS`]).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub decisions: Vec<(String, DecisionRow)>,
}

impl Batch {
    pub fn is_empty(&self) -> bool {
        self.arms.is_empty()
            && self.shadows.is_empty()
            && self.overrides.is_empty()
            && self.decisions.is_empty()
    }

    /// Route names present, sorted, without duplicates.
    pub fn routes(&self) -> Vec<&str> {
        let mut v: Vec<&str> = self
            .arms
            .iter()
            .map(|a| a.route.as_str())
            .chain(self.shadows.iter().map(|s| s.route.as_str()))
            .chain(self.overrides.iter().map(|o| o.route.as_str()))
            .chain(self.decisions.iter().map(|(r, _)| r.as_str()))
            .collect();
        v.sort_unstable();
        v.dedup();
        v
    }

    /// One batch per route (each goes to that route's Durable Object).
    pub fn split_by_route(self) -> Vec<(String, Batch)> {
        let mut out: BTreeMap<String, Batch> = BTreeMap::new();
        let (first_ms, last_ms) = (self.first_ms, self.last_ms);
        let new = || Batch {
            first_ms,
            last_ms,
            ..Default::default()
        };
        for a in self.arms {
            out.entry(a.route.clone()).or_insert_with(new).arms.push(a);
        }
        for s in self.shadows {
            out.entry(s.route.clone())
                .or_insert_with(new)
                .shadows
                .push(s);
        }
        for o in self.overrides {
            out.entry(o.route.clone())
                .or_insert_with(new)
                .overrides
                .push(o);
        }
        for (r, d) in self.decisions {
            out.entry(r.clone())
                .or_insert_with(new)
                .decisions
                .push((r, d));
        }
        out.into_iter().collect()
    }
}

/// Per-isolate accumulator. The edge keeps one in a `thread_local!`, pushes every
/// observation, and when `push` returns `true` drains it and sends the batch in
/// `ctx.waitUntil`.
#[derive(Debug, Clone)]
pub struct Batcher {
    max_count: u32,
    max_age_ms: u64,
    pending: u32,
    first_ms: Option<u64>,
    last_ms: u64,
    arms: Vec<ArmBatch>,
    shadows: Vec<ShadowBatch>,
    overrides: Vec<OverrideBatch>,
    decisions: Vec<(String, DecisionRow)>,
}

impl Default for Batcher {
    fn default() -> Self {
        Self::new(Self::DEFAULT_MAX_COUNT, Self::DEFAULT_MAX_AGE_MS)
    }
}

impl Batcher {
    pub const DEFAULT_MAX_COUNT: u32 = 50;
    pub const DEFAULT_MAX_AGE_MS: u64 = 1_000;
    /// Most decision rows one batch holds; more are not logged (each routed request also
    /// pushes an observation, so a batch flushed at its count never gets near it).
    pub const MAX_DECISIONS: usize = 1_000;

    /// Flush after `max_count` observations (at least 1) or once the oldest pending one is
    /// `max_age_ms` old.
    pub fn new(max_count: u32, max_age_ms: u64) -> Self {
        Self {
            max_count: max_count.max(1),
            max_age_ms,
            pending: 0,
            first_ms: None,
            last_ms: 0,
            arms: Vec::new(),
            shadows: Vec::new(),
            overrides: Vec::new(),
            decisions: Vec::new(),
        }
    }

    #[inline]
    fn note(&mut self, now_ms: u64) -> bool {
        self.pending = self.pending.saturating_add(1);
        let first = *self.first_ms.get_or_insert(now_ms);
        self.last_ms = self.last_ms.max(now_ms);
        self.pending >= self.max_count || now_ms.saturating_sub(first) >= self.max_age_ms
    }

    /// Adds one observation; returns `true` when a flush is due.
    #[inline]
    pub fn push(&mut self, obs: Observation<'_>, now_ms: u64) -> bool {
        let slot = slot(
            &mut self.arms,
            |a| {
                a.arm == obs.arm
                    && a.route == obs.route
                    && a.split_ppm == Some(obs.split_ppm)
                    && a.epoch == obs.epoch
                    && a.fingerprint == obs.fingerprint
            },
            || ArmBatch {
                route: obs.route.to_owned(),
                arm: obs.arm.to_owned(),
                fingerprint: obs.fingerprint.to_owned(),
                split_ppm: Some(obs.split_ppm),
                epoch: obs.epoch,
                counts: OutcomeCounts::default(),
                latency: LatencyHistogram::default(),
                propensities: Vec::new(),
                units: Vec::new(),
            },
        );
        slot.counts.record(obs.outcome);
        slot.latency.record(obs.latency_ms);
        if let Some(p) = obs.propensity_ppm {
            let counts = &mut slot.propensities;
            match counts.iter().position(|e| e[0] == p) {
                Some(i) => counts[i][1] = counts[i][1].saturating_add(1),
                None if counts.len() < MAX_PROPENSITIES => counts.push([p, 1]),
                None => {}
            }
        }
        if let Some(unit) = obs.unit {
            let error = u32::from(obs.outcome != super::Outcome::Ok);
            if let Some(u) = slot.units.iter_mut().find(|u| u.0 == unit) {
                u.1 = u.1.saturating_add(1);
                u.2 = u.2.saturating_add(error);
            } else if slot.units.len() < MAX_UNITS_PER_ARM {
                slot.units.push(UnitCount(unit, 1, error));
            }
        }
        self.note(now_ms)
    }

    /// Adds one logged decision of `route` (its observation is pushed separately and
    /// decides when the batch is due); beyond [`Self::MAX_DECISIONS`] rows are dropped.
    pub fn push_decision(&mut self, route: &str, row: DecisionRow) {
        if self.decisions.len() < Self::MAX_DECISIONS {
            self.decisions.push((route.to_owned(), row));
        }
    }

    /// Adds one shadow observation, made under controller epoch `epoch` (as
    /// [`Observation::epoch`]); returns `true` when a flush is due.
    pub fn push_shadow(
        &mut self,
        obs: &ShadowObservation<'_>,
        epoch: Option<u64>,
        now_ms: u64,
    ) -> bool {
        let slot = slot(
            &mut self.shadows,
            |s| s.shadow_origin == obs.shadow_origin && s.route == obs.route && s.epoch == epoch,
            || ShadowBatch {
                route: obs.route.to_owned(),
                shadow_origin: obs.shadow_origin.to_owned(),
                epoch,
                counts: ShadowCounts::default(),
            },
        );
        slot.counts.record(obs);
        self.note(now_ms)
    }

    /// Counts a request forced to `arm` by an override token (`Some`) or a token ignored
    /// (`None`); forced requests are not observations. Returns `true` when a flush is due.
    pub fn push_override(&mut self, route: &str, arm: Option<&str>, now_ms: u64) -> bool {
        let a = arm.unwrap_or("");
        let slot = slot(
            &mut self.overrides,
            |o| o.arm == a && o.route == route,
            || OverrideBatch {
                route: route.to_owned(),
                arm: a.to_owned(),
                ..Default::default()
            },
        );
        if arm.is_some() {
            slot.forced = slot.forced.saturating_add(1);
        } else {
            slot.ignored = slot.ignored.saturating_add(1);
        }
        self.note(now_ms)
    }

    /// Whether pending observations should be flushed now (for a timer-less check at the
    /// start of a request).
    pub fn flush_due(&self, now_ms: u64) -> bool {
        match self.first_ms {
            None => false,
            Some(first) => {
                self.pending >= self.max_count || now_ms.saturating_sub(first) >= self.max_age_ms
            }
        }
    }

    /// Milliseconds until the pending batch is due (0: due now, by count or by age); `None`
    /// when nothing is pending. What the isolate's one flush timer sleeps for.
    pub fn due_in(&self, now_ms: u64) -> Option<u64> {
        let first = self.first_ms?;
        if self.pending >= self.max_count {
            return Some(0);
        }
        Some(self.max_age_ms.saturating_sub(now_ms.saturating_sub(first)))
    }

    /// Observations pending.
    pub fn len(&self) -> u32 {
        self.pending
    }

    pub fn is_empty(&self) -> bool {
        self.pending == 0
    }

    /// Takes everything pending and starts afresh.
    pub fn drain(&mut self) -> Batch {
        let b = Batch {
            first_ms: self.first_ms.unwrap_or(self.last_ms),
            last_ms: self.last_ms,
            arms: std::mem::take(&mut self.arms),
            shadows: std::mem::take(&mut self.shadows),
            overrides: std::mem::take(&mut self.overrides),
            decisions: std::mem::take(&mut self.decisions),
        };
        self.pending = 0;
        self.first_ms = None;
        b
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observe::{obs, Outcome};

    #[test]
    fn batcher_flushes_by_count_and_age() {
        let mut b = Batcher::new(3, 1000);
        assert!(!b.flush_due(0));
        assert!(!b.push(obs("r", "a", Outcome::Ok, 10), 100));
        assert!(!b.push(obs("r", "b", Outcome::Error5xx, 20), 150));
        assert!(b.push(obs("r", "a", Outcome::Timeout, 30), 200));
        let batch = b.drain();
        assert!(b.is_empty());
        assert_eq!(batch.arms.len(), 2);
        assert_eq!((batch.first_ms, batch.last_ms), (100, 200));
        let a = &batch.arms[0];
        assert_eq!(
            (a.arm.as_str(), a.counts.requests, a.counts.timeouts),
            ("a", 2, 1)
        );
        // One entry per distinct unit: the test observations name units by latency.
        assert_eq!(a.units, vec![UnitCount(10, 1, 0), UnitCount(30, 1, 1)]);
        assert!(!b.push(obs("r", "a", Outcome::Ok, 10), 5000));
        assert!(!b.push(obs("r", "a", Outcome::Error5xx, 10), 5001));
        assert_eq!(b.arms[0].units, vec![UnitCount(10, 2, 1)]);
        assert!(!b.flush_due(5999));
        assert!(b.flush_due(6000));
        assert!(b.push(obs("r", "a", Outcome::Ok, 10), 6000));
    }

    #[test]
    fn due_in_is_what_the_flush_timer_sleeps_for() {
        let mut b = Batcher::new(3, 1000);
        assert_eq!(b.due_in(0), None, "nothing pending, no timer");
        b.push(obs("r", "a", Outcome::Ok, 10), 100);
        assert_eq!(b.due_in(100), Some(1000));
        assert_eq!(b.due_in(850), Some(250));
        assert_eq!(b.due_in(1100), Some(0));
        assert_eq!(b.due_in(9000), Some(0));
        b.push(obs("r", "a", Outcome::Ok, 10), 200);
        b.push(obs("r", "a", Outcome::Ok, 10), 300);
        assert_eq!(b.due_in(300), Some(0), "due by count");
        b.drain();
        assert_eq!(b.due_in(400), None);
    }
}
