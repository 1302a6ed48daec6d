//! What the edge observes, how an isolate batches it, and what a route's Durable Object
//! aggregates.
//!
//! Hot path: the edge builds an [`Observation`] (borrowed names, no allocation) per routed
//! request and pushes it into its isolate's [`Batcher`]; `push` answers whether a flush is
//! due (by count or age). [`Batcher::drain`] returns a [`Batch`] that is already
//! pre-aggregated per (route, arm): counts and a [`LatencyHistogram`], not raw events, so the
//! JSON body sent to the Durable Object stays small. [`Batch::split_by_route`] gives one
//! batch per route's object. The object keeps a [`RouteAggregate`] and folds batches in with
//! [`RouteAggregate::merge_batch`], rewards with [`RouteAggregate::credit_reward`].

use crate::compare::{Agreement, NotComparable, PayloadAgreement};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

// ---------------------------------------------------------------------------------------
// Latency histogram

/// Number of buckets: exact 0..16 ms, then 8 log-spaced buckets per doubling up to 2^20 ms
/// (about 17.5 minutes); larger values land in the last bucket.
pub const NUM_BUCKETS: usize = 144;
const SUB_BITS: u32 = 3; // 8 buckets per doubling

/// Log-scaled latency histogram in milliseconds, HDR-style: values below 16 ms are exact,
/// above that each bucket spans 1/8 of its doubling, so any quantile is reported with a
/// relative error below 1/16 (the bucket midpoint is returned).
///
/// Serialized sparsely as `{"sum_ms": .., "buckets": [[index, count], ..]}`.
#[derive(Clone, PartialEq, Eq)]
pub struct LatencyHistogram {
    counts: [u64; NUM_BUCKETS],
    total: u64,
    sum_ms: u64,
}

impl Default for LatencyHistogram {
    fn default() -> Self {
        Self {
            counts: [0; NUM_BUCKETS],
            total: 0,
            sum_ms: 0,
        }
    }
}

impl fmt::Debug for LatencyHistogram {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let nz: Vec<(usize, u64)> = self
            .counts
            .iter()
            .enumerate()
            .filter(|c| *c.1 > 0)
            .map(|(i, c)| (i, *c))
            .collect();
        f.debug_struct("LatencyHistogram")
            .field("total", &self.total)
            .field("sum_ms", &self.sum_ms)
            .field("buckets", &nz)
            .finish()
    }
}

/// Bucket index of a latency in ms.
#[inline]
pub fn bucket_index(ms: u32) -> usize {
    if ms < 16 {
        return ms as usize;
    }
    let e = 31 - ms.leading_zeros(); // >= 4
    let sub = (ms >> (e - SUB_BITS)) & 7;
    let idx = ((e - 2) * 8 + sub) as usize;
    idx.min(NUM_BUCKETS - 1)
}

/// Smallest value of bucket `idx` and its width (both in ms).
pub fn bucket_bounds(idx: usize) -> (u64, u64) {
    if idx < 16 {
        return (idx as u64, 1);
    }
    let e = (idx / 8 + 2) as u32;
    let sub = (idx % 8) as u64;
    let shift = e - SUB_BITS;
    ((8 + sub) << shift, 1u64 << shift)
}

impl LatencyHistogram {
    pub fn new() -> Self {
        Self::default()
    }

    #[inline]
    pub fn record(&mut self, ms: u32) {
        let i = bucket_index(ms);
        self.counts[i] = self.counts[i].saturating_add(1);
        self.total = self.total.saturating_add(1);
        self.sum_ms = self.sum_ms.saturating_add(u64::from(ms));
    }

    pub fn merge(&mut self, other: &LatencyHistogram) {
        for (a, b) in self.counts.iter_mut().zip(other.counts.iter()) {
            *a = a.saturating_add(*b);
        }
        self.total = self.total.saturating_add(other.total);
        self.sum_ms = self.sum_ms.saturating_add(other.sum_ms);
    }

    /// `self - earlier`, bucket by bucket (saturating): what was recorded since `earlier`.
    pub fn delta_since(&self, earlier: &LatencyHistogram) -> LatencyHistogram {
        let mut out = LatencyHistogram::default();
        for i in 0..NUM_BUCKETS {
            out.counts[i] = self.counts[i].saturating_sub(earlier.counts[i]);
        }
        out.total = out.counts.iter().fold(0u64, |a, c| a.saturating_add(*c));
        out.sum_ms = self.sum_ms.saturating_sub(earlier.sum_ms);
        out
    }

    pub fn count(&self) -> u64 {
        self.total
    }

    pub fn is_empty(&self) -> bool {
        self.total == 0
    }

    pub fn mean(&self) -> Option<f64> {
        (self.total > 0).then(|| self.sum_ms as f64 / self.total as f64)
    }

    /// The `q`-quantile (0 <= q <= 1; nearest rank, `ceil(q n)`), as the midpoint of the
    /// bucket holding it. `None` when empty or `q` is not a number.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        if self.total == 0 || q.is_nan() {
            return None;
        }
        let q = q.clamp(0.0, 1.0);
        let rank = ((q * self.total as f64).ceil() as u64).clamp(1, self.total);
        let mut seen = 0u64;
        for (i, c) in self.counts.iter().enumerate() {
            seen = seen.saturating_add(*c);
            if seen >= rank {
                let (lo, w) = bucket_bounds(i);
                return Some(lo as f64 + (w - 1) as f64 / 2.0);
            }
        }
        None
    }

    pub fn p50(&self) -> Option<f64> {
        self.quantile(0.5)
    }
    pub fn p95(&self) -> Option<f64> {
        self.quantile(0.95)
    }
    pub fn p99(&self) -> Option<f64> {
        self.quantile(0.99)
    }

    /// Count in bucket `idx` (0 when out of range).
    pub fn bucket_count(&self, idx: usize) -> u64 {
        self.counts.get(idx).copied().unwrap_or(0)
    }
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct HistRepr {
    sum_ms: u64,
    buckets: Vec<(u16, u64)>,
}

impl Serialize for LatencyHistogram {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let buckets = self
            .counts
            .iter()
            .enumerate()
            .filter(|c| *c.1 > 0)
            .map(|(i, c)| (i as u16, *c))
            .collect();
        HistRepr {
            sum_ms: self.sum_ms,
            buckets,
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for LatencyHistogram {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let r = HistRepr::deserialize(d)?;
        let mut h = LatencyHistogram {
            sum_ms: r.sum_ms,
            ..Default::default()
        };
        for (i, c) in r.buckets {
            let slot = h
                .counts
                .get_mut(i as usize)
                .ok_or_else(|| serde::de::Error::custom("histogram bucket index out of range"))?;
            *slot = slot.saturating_add(c);
            h.total = h.total.saturating_add(c);
        }
        Ok(h)
    }
}

// ---------------------------------------------------------------------------------------
// Observations

/// How a routed request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The origin answered with a status below 500.
    Ok,
    Error5xx,
    Timeout,
    ConnectError,
}

impl Outcome {
    /// `Error5xx` for 500..=599, else `Ok`.
    pub fn from_status(status: u16) -> Self {
        if (500..600).contains(&status) {
            Outcome::Error5xx
        } else {
            Outcome::Ok
        }
    }
}

/// One routed request, as the edge saw it. Borrows the names: building one costs nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Observation<'a> {
    pub route: &'a str,
    pub arm: &'a str,
    pub outcome: Outcome,
    /// 0 when there was no response (timeout, connection error).
    pub status: u16,
    pub latency_ms: u32,
    /// The route's strategy fingerprint the edge routed under.
    pub fingerprint: &'a str,
    /// The split in force, in ppm (`core::strategy::split_ppm`).
    pub split_ppm: u32,
}

/// One shadow comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ShadowObservation<'a> {
    pub route: &'a str,
    pub shadow_origin: &'a str,
    pub status_agree: bool,
    /// Shadow latency minus primary latency.
    pub latency_diff_ms: i32,
    /// `None` when the shadow has no `compare` spec.
    pub payload: Option<PayloadAgreement>,
}

impl<'a> ShadowObservation<'a> {
    pub fn from_agreement(
        route: &'a str,
        shadow_origin: &'a str,
        agreement: &Agreement,
        latency_diff_ms: i32,
    ) -> Self {
        Self {
            route,
            shadow_origin,
            status_agree: agreement.status_agree,
            latency_diff_ms,
            payload: Some(agreement.payload),
        }
    }

    /// The shadow request failed (timeout, connection error).
    pub fn failed(route: &'a str, shadow_origin: &'a str, latency_diff_ms: i32) -> Self {
        Self {
            route,
            shadow_origin,
            status_agree: false,
            latency_diff_ms,
            payload: Some(PayloadAgreement::NotComparable {
                reason: NotComparable::ShadowFailed,
            }),
        }
    }
}

/// A reward for an arm (from a verified feedback receipt).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reward {
    pub route: String,
    pub arm: String,
    pub value: f64,
}

// ---------------------------------------------------------------------------------------
// Counters shared by batches and aggregates

/// Request outcome counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct OutcomeCounts {
    pub requests: u64,
    pub errors_5xx: u64,
    pub timeouts: u64,
    pub connect_errors: u64,
}

impl OutcomeCounts {
    #[inline]
    fn record(&mut self, o: Outcome) {
        self.requests = self.requests.saturating_add(1);
        match o {
            Outcome::Ok => {}
            Outcome::Error5xx => self.errors_5xx = self.errors_5xx.saturating_add(1),
            Outcome::Timeout => self.timeouts = self.timeouts.saturating_add(1),
            Outcome::ConnectError => self.connect_errors = self.connect_errors.saturating_add(1),
        }
    }

    fn merge(&mut self, o: &OutcomeCounts) {
        self.requests = self.requests.saturating_add(o.requests);
        self.errors_5xx = self.errors_5xx.saturating_add(o.errors_5xx);
        self.timeouts = self.timeouts.saturating_add(o.timeouts);
        self.connect_errors = self.connect_errors.saturating_add(o.connect_errors);
    }

    /// 5xx + timeouts + connection errors.
    pub fn errors(&self) -> u64 {
        self.errors_5xx
            .saturating_add(self.timeouts)
            .saturating_add(self.connect_errors)
    }

    /// `errors / requests`, `None` without requests.
    pub fn error_rate(&self) -> Option<f64> {
        (self.requests > 0).then(|| self.errors() as f64 / self.requests as f64)
    }
}

/// Shadow comparison counters for one shadow origin.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ShadowCounts {
    /// Shadow requests observed (with or without a compare spec).
    pub observations: u64,
    pub status_agree: u64,
    /// Payloads compared (both parsed, field present).
    pub payload_compared: u64,
    pub payload_exact: u64,
    /// Within tolerance / normalised text equal (includes exact).
    pub payload_normalised: u64,
    /// Payload not comparable (non-2xx, unparseable, missing field, shadow failed).
    pub payload_not_comparable: u64,
    /// Of those: the shadow request itself failed.
    pub shadow_failed: u64,
    /// Sum of (shadow - primary) latency, ms.
    pub latency_diff_sum_ms: i64,
    /// Sum of |shadow - primary| latency, ms.
    pub latency_diff_abs_sum_ms: u64,
}

impl ShadowCounts {
    #[inline]
    fn record(&mut self, o: &ShadowObservation<'_>) {
        self.observations = self.observations.saturating_add(1);
        self.status_agree = self.status_agree.saturating_add(u64::from(o.status_agree));
        match o.payload {
            None => {}
            Some(PayloadAgreement::Compared { exact, normalised }) => {
                self.payload_compared = self.payload_compared.saturating_add(1);
                self.payload_exact = self.payload_exact.saturating_add(u64::from(exact));
                self.payload_normalised = self
                    .payload_normalised
                    .saturating_add(u64::from(normalised || exact));
            }
            Some(PayloadAgreement::NotComparable { reason }) => {
                self.payload_not_comparable = self.payload_not_comparable.saturating_add(1);
                if reason == NotComparable::ShadowFailed {
                    self.shadow_failed = self.shadow_failed.saturating_add(1);
                }
            }
        }
        self.latency_diff_sum_ms = self
            .latency_diff_sum_ms
            .saturating_add(i64::from(o.latency_diff_ms));
        self.latency_diff_abs_sum_ms = self
            .latency_diff_abs_sum_ms
            .saturating_add(u64::from(o.latency_diff_ms.unsigned_abs()));
    }

    pub fn merge(&mut self, o: &ShadowCounts) {
        self.observations = self.observations.saturating_add(o.observations);
        self.status_agree = self.status_agree.saturating_add(o.status_agree);
        self.payload_compared = self.payload_compared.saturating_add(o.payload_compared);
        self.payload_exact = self.payload_exact.saturating_add(o.payload_exact);
        self.payload_normalised = self.payload_normalised.saturating_add(o.payload_normalised);
        self.payload_not_comparable = self
            .payload_not_comparable
            .saturating_add(o.payload_not_comparable);
        self.shadow_failed = self.shadow_failed.saturating_add(o.shadow_failed);
        self.latency_diff_sum_ms = self
            .latency_diff_sum_ms
            .saturating_add(o.latency_diff_sum_ms);
        self.latency_diff_abs_sum_ms = self
            .latency_diff_abs_sum_ms
            .saturating_add(o.latency_diff_abs_sum_ms);
    }

    fn ratio(n: u64, d: u64) -> Option<f64> {
        (d > 0).then(|| n as f64 / d as f64)
    }

    /// Share of observations whose statuses agreed.
    pub fn status_agreement_rate(&self) -> Option<f64> {
        Self::ratio(self.status_agree, self.observations)
    }
    /// Share of compared payloads that were identical.
    pub fn exact_agreement_rate(&self) -> Option<f64> {
        Self::ratio(self.payload_exact, self.payload_compared)
    }
    /// Share of compared payloads within tolerance / normalised equal.
    pub fn normalised_agreement_rate(&self) -> Option<f64> {
        Self::ratio(self.payload_normalised, self.payload_compared)
    }
    /// Mean of (shadow - primary) latency.
    pub fn mean_latency_diff_ms(&self) -> Option<f64> {
        (self.observations > 0).then(|| self.latency_diff_sum_ms as f64 / self.observations as f64)
    }
}

// ---------------------------------------------------------------------------------------
// Batching in the isolate

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
    #[serde(flatten)]
    pub counts: OutcomeCounts,
    pub latency: LatencyHistogram,
}

/// Pre-aggregated shadow observations of one (route, shadow origin).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShadowBatch {
    pub route: String,
    pub shadow_origin: String,
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
}

impl Batch {
    pub fn is_empty(&self) -> bool {
        self.arms.is_empty() && self.shadows.is_empty() && self.overrides.is_empty()
    }

    /// Route names present, sorted, without duplicates.
    pub fn routes(&self) -> Vec<&str> {
        let mut v: Vec<&str> = self
            .arms
            .iter()
            .map(|a| a.route.as_str())
            .chain(self.shadows.iter().map(|s| s.route.as_str()))
            .chain(self.overrides.iter().map(|o| o.route.as_str()))
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
        out.into_iter().collect()
    }
}

/// Per-isolate accumulator. The edge keeps one in a `thread_local!`, pushes every
/// observation, and when `push` returns `true` drains it and sends the batch in
/// `ctx.wait_until`.
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
}

impl Default for Batcher {
    fn default() -> Self {
        Self::new(Self::DEFAULT_MAX_COUNT, Self::DEFAULT_MAX_AGE_MS)
    }
}

impl Batcher {
    pub const DEFAULT_MAX_COUNT: u32 = 50;
    pub const DEFAULT_MAX_AGE_MS: u64 = 2_000;

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
                    && a.fingerprint == obs.fingerprint
            },
            || ArmBatch {
                route: obs.route.to_owned(),
                arm: obs.arm.to_owned(),
                fingerprint: obs.fingerprint.to_owned(),
                split_ppm: Some(obs.split_ppm),
                counts: OutcomeCounts::default(),
                latency: LatencyHistogram::default(),
            },
        );
        slot.counts.record(obs.outcome);
        slot.latency.record(obs.latency_ms);
        self.note(now_ms)
    }

    /// Adds one shadow observation; returns `true` when a flush is due.
    pub fn push_shadow(&mut self, obs: &ShadowObservation<'_>, now_ms: u64) -> bool {
        let slot = slot(
            &mut self.shadows,
            |s| s.shadow_origin == obs.shadow_origin && s.route == obs.route,
            || ShadowBatch {
                route: obs.route.to_owned(),
                shadow_origin: obs.shadow_origin.to_owned(),
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
        };
        self.pending = 0;
        self.first_ms = None;
        b
    }
}

// ---------------------------------------------------------------------------------------
// Durable Object state

/// Everything known about one arm since `since_ms`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ArmAggregate {
    pub requests: u64,
    pub errors_5xx: u64,
    pub timeouts: u64,
    pub connect_errors: u64,
    pub latency: LatencyHistogram,
    pub reward_count: u64,
    pub reward_sum: f64,
    pub reward_sq_sum: f64,
    /// Some credited reward was not 0 or 1 (numeric rewards: no conversion statistics).
    pub reward_non_binary: bool,
    /// Start of the window these counters cover.
    pub since_ms: u64,
}

impl ArmAggregate {
    fn counts(&self) -> OutcomeCounts {
        OutcomeCounts {
            requests: self.requests,
            errors_5xx: self.errors_5xx,
            timeouts: self.timeouts,
            connect_errors: self.connect_errors,
        }
    }

    fn add_counts(&mut self, c: &OutcomeCounts) {
        let mut mine = self.counts();
        mine.merge(c);
        self.requests = mine.requests;
        self.errors_5xx = mine.errors_5xx;
        self.timeouts = mine.timeouts;
        self.connect_errors = mine.connect_errors;
    }

    /// 5xx + timeouts + connection errors.
    pub fn errors(&self) -> u64 {
        self.counts().errors()
    }

    pub fn error_rate(&self) -> Option<f64> {
        self.counts().error_rate()
    }

    pub fn reward_mean(&self) -> Option<f64> {
        (self.reward_count > 0).then(|| self.reward_sum / self.reward_count as f64)
    }

    /// Sample variance of rewards (n - 1 denominator), `None` below two rewards.
    pub fn reward_variance(&self) -> Option<f64> {
        if self.reward_count < 2 {
            return None;
        }
        let n = self.reward_count as f64;
        let mean = self.reward_sum / n;
        Some(((self.reward_sq_sum - n * mean * mean) / (n - 1.0)).max(0.0))
    }

    /// What happened between snapshot `earlier` and now (counters subtracted), so a
    /// controller can judge the current step while the totals keep running.
    pub fn delta_since(&self, earlier: &ArmAggregate) -> ArmAggregate {
        ArmAggregate {
            requests: self.requests.saturating_sub(earlier.requests),
            errors_5xx: self.errors_5xx.saturating_sub(earlier.errors_5xx),
            timeouts: self.timeouts.saturating_sub(earlier.timeouts),
            connect_errors: self.connect_errors.saturating_sub(earlier.connect_errors),
            latency: self.latency.delta_since(&earlier.latency),
            reward_count: self.reward_count.saturating_sub(earlier.reward_count),
            reward_sum: self.reward_sum - earlier.reward_sum,
            reward_sq_sum: (self.reward_sq_sum - earlier.reward_sq_sum).max(0.0),
            reward_non_binary: self.reward_non_binary,
            since_ms: earlier.since_ms.max(self.since_ms),
        }
    }
}

/// A reward that cannot be credited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RewardError {
    /// NaN or infinite.
    NotFinite,
    /// The arm name is empty or longer than 64 bytes.
    BadArm,
}

impl fmt::Display for RewardError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RewardError::NotFinite => "reward must be a finite number",
            RewardError::BadArm => "arm name must be 1..=64 bytes",
        })
    }
}

impl std::error::Error for RewardError {}

/// A route's Durable Object state.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RouteAggregate {
    pub route: String,
    pub arms: BTreeMap<String, ArmAggregate>,
    /// Per shadow origin.
    pub shadows: BTreeMap<String, ShadowCounts>,
    /// Latest observation time merged.
    pub updated_ms: u64,
}

impl RouteAggregate {
    pub fn new(route: &str) -> Self {
        Self {
            route: route.to_owned(),
            ..Default::default()
        }
    }

    /// Folds in the parts of `batch` that belong to this route; returns how many entries
    /// (arm and shadow) were merged. Entries for other routes are ignored.
    pub fn merge_batch(&mut self, batch: &Batch) -> usize {
        let mut merged = 0;
        for a in batch.arms.iter().filter(|a| a.route == self.route) {
            let agg = self
                .arms
                .entry(a.arm.clone())
                .or_insert_with(|| ArmAggregate {
                    since_ms: batch.first_ms,
                    ..Default::default()
                });
            agg.add_counts(&a.counts);
            agg.latency.merge(&a.latency);
            merged += 1;
        }
        for s in batch.shadows.iter().filter(|s| s.route == self.route) {
            self.shadows
                .entry(s.shadow_origin.clone())
                .or_default()
                .merge(&s.counts);
            merged += 1;
        }
        if merged > 0 {
            self.updated_ms = self.updated_ms.max(batch.last_ms);
        }
        merged
    }

    /// Credits one reward to `arm` (creating it if unseen).
    pub fn credit_reward(&mut self, arm: &str, value: f64) -> Result<(), RewardError> {
        if !value.is_finite() {
            return Err(RewardError::NotFinite);
        }
        if arm.is_empty() || arm.len() > 64 {
            return Err(RewardError::BadArm);
        }
        let a = self.arms.entry(arm.to_owned()).or_default();
        a.reward_count = a.reward_count.saturating_add(1);
        a.reward_sum += value;
        a.reward_sq_sum += value * value;
        a.reward_non_binary |= value != 0.0 && value != 1.0;
        Ok(())
    }

    pub fn arm(&self, arm: &str) -> Option<&ArmAggregate> {
        self.arms.get(arm)
    }

    /// Error rate of `arm`; `None` if unknown or without requests.
    pub fn error_rate(&self, arm: &str) -> Option<f64> {
        self.arms.get(arm).and_then(ArmAggregate::error_rate)
    }

    /// Latency quantile of `arm`.
    pub fn latency_quantile(&self, arm: &str, q: f64) -> Option<f64> {
        self.arms.get(arm).and_then(|a| a.latency.quantile(q))
    }

    /// Starts a fresh window for `arm` (e.g. at a canary step): counters, histogram and
    /// rewards are zeroed and `since_ms` set to `now_ms`.
    pub fn reset_arm(&mut self, arm: &str, now_ms: u64) {
        self.arms.insert(
            arm.to_owned(),
            ArmAggregate {
                since_ms: now_ms,
                ..Default::default()
            },
        );
    }

    /// Starts a fresh window for every arm and shadow.
    pub fn reset(&mut self, now_ms: u64) {
        for a in self.arms.values_mut() {
            *a = ArmAggregate {
                since_ms: now_ms,
                ..Default::default()
            };
        }
        self.shadows.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::{Rng, Xoshiro256};

    fn obs<'a>(route: &'a str, arm: &'a str, outcome: Outcome, ms: u32) -> Observation<'a> {
        Observation {
            route,
            arm,
            outcome,
            status: 200,
            latency_ms: ms,
            fingerprint: "f",
            split_ppm: 0,
        }
    }

    #[test]
    fn bucket_layout_is_contiguous_and_bounded() {
        let mut prev = 0usize;
        for v in 0u32..2_000_000 {
            let i = bucket_index(v);
            assert!(i == prev || i == prev + 1, "v={v}");
            prev = i;
            let (lo, w) = bucket_bounds(i);
            if i < NUM_BUCKETS - 1 {
                assert!(lo <= u64::from(v) && u64::from(v) < lo + w, "v={v} i={i}");
                // Relative width at most 1/8.
                assert!(w == 1 || w * 8 <= lo);
            }
        }
        assert_eq!(bucket_index(u32::MAX), NUM_BUCKETS - 1);
        assert_eq!(bucket_index(60_000), 110);
    }

    #[test]
    fn quantiles_within_bucket_width() {
        let mut rng = Xoshiro256::seed_from_u64(7);
        for trial in 0..20 {
            let n = 1 + (rng.next_u64() % 5000) as usize;
            let mut h = LatencyHistogram::new();
            let mut xs: Vec<u32> = (0..n)
                .map(|_| {
                    // log-uniform over 1 ms .. ~65 s
                    let v = (rng.next_f64() * 16.0).exp2() as u32;
                    h.record(v);
                    v
                })
                .collect();
            xs.sort_unstable();
            for q in [0.0, 0.5, 0.9, 0.95, 0.99, 0.999, 1.0] {
                let rank = ((q * n as f64).ceil() as usize).clamp(1, n);
                let exact = xs[rank - 1];
                let est = h.quantile(q).unwrap();
                let (lo, w) = bucket_bounds(bucket_index(exact));
                assert!(
                    est >= lo as f64 && est < (lo + w) as f64,
                    "trial {trial} q {q}"
                );
                let rel = (est - f64::from(exact)).abs() / f64::from(exact.max(1));
                assert!(rel <= 1.0 / 16.0, "trial {trial} q {q}: {est} vs {exact}");
            }
            assert_eq!(h.count(), n as u64);
        }
        assert_eq!(LatencyHistogram::new().p50(), None);
    }

    #[test]
    fn histogram_merge_delta_and_serde() {
        let mut a = LatencyHistogram::new();
        let mut b = LatencyHistogram::new();
        for v in [1, 5, 17, 250, 250, 3000] {
            a.record(v);
        }
        for v in [0, 90_000, 5_000_000] {
            b.record(v);
        }
        let before = a.clone();
        a.merge(&b);
        assert_eq!(a.count(), 9);
        assert_eq!(a.delta_since(&before), b);
        let j = serde_json::to_string(&a).unwrap();
        assert!(j.len() < 120, "{j}");
        let back: LatencyHistogram = serde_json::from_str(&j).unwrap();
        assert_eq!(back, a);
        assert!(
            serde_json::from_str::<LatencyHistogram>(r#"{"sum_ms":1,"buckets":[[144,1]]}"#)
                .is_err()
        );
        assert_eq!(a.p50(), Some(247.5)); // 250 lies in bucket [240, 256)
    }

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
        assert!(!b.push(obs("r", "a", Outcome::Ok, 10), 5000));
        assert!(!b.flush_due(5999));
        assert!(b.flush_due(6000));
        assert!(b.push(obs("r", "a", Outcome::Ok, 10), 6000));
    }

    #[test]
    fn batch_to_aggregate_round_trip() {
        let mut b = Batcher::default();
        for i in 0..40u32 {
            let arm = if i % 4 == 0 { "canary" } else { "stable" };
            let outcome = if i % 8 == 0 {
                Outcome::Error5xx
            } else {
                Outcome::Ok
            };
            b.push(obs("fraud", arm, outcome, 10 + i), 1000 + u64::from(i));
        }
        b.push(obs("other", "x", Outcome::ConnectError, 0), 1100);
        let agree = Agreement {
            status_agree: true,
            payload: PayloadAgreement::Compared {
                exact: false,
                normalised: true,
            },
        };
        b.push_shadow(
            &ShadowObservation::from_agreement("fraud", "fraud-v3", &agree, 12),
            1100,
        );
        b.push_shadow(&ShadowObservation::failed("fraud", "fraud-v3", -3), 1101);
        let batch = b.drain();
        let json = serde_json::to_string(&batch).unwrap();
        assert!(json.len() < 1000, "batch JSON is {} bytes", json.len());
        let back: Batch = serde_json::from_str(&json).unwrap();
        assert_eq!(back, batch);
        assert_eq!(batch.routes(), vec!["fraud", "other"]);

        let parts = back.split_by_route();
        assert_eq!(parts.len(), 2);
        let mut agg = RouteAggregate::new("fraud");
        assert_eq!(agg.merge_batch(&parts[0].1), 3);
        assert_eq!(agg.merge_batch(&parts[1].1), 0);
        let c = agg.arm("canary").unwrap();
        assert_eq!((c.requests, c.errors_5xx), (10, 5));
        assert_eq!(agg.error_rate("canary"), Some(0.5));
        assert_eq!(agg.error_rate("stable"), Some(0.0));
        assert_eq!(agg.error_rate("nope"), None);
        assert!(agg.latency_quantile("stable", 0.95).unwrap() > 40.0);
        let s = agg.shadows["fraud-v3"];
        assert_eq!(
            (s.observations, s.status_agree, s.payload_compared),
            (2, 1, 1)
        );
        assert_eq!(
            (s.payload_normalised, s.payload_exact, s.shadow_failed),
            (1, 0, 1)
        );
        assert_eq!(s.mean_latency_diff_ms(), Some(4.5));

        agg.credit_reward("canary", 1.0).unwrap();
        agg.credit_reward("canary", 0.0).unwrap();
        agg.credit_reward("canary", 1.0).unwrap();
        assert_eq!(
            agg.credit_reward("canary", f64::NAN),
            Err(RewardError::NotFinite)
        );
        let c = agg.arm("canary").unwrap();
        assert_eq!(c.reward_count, 3);
        assert!((c.reward_mean().unwrap() - 2.0 / 3.0).abs() < 1e-12);
        assert!((c.reward_variance().unwrap() - 1.0 / 3.0).abs() < 1e-12);

        // Serde round trip of the stored state.
        let j = serde_json::to_string(&agg).unwrap();
        let back: RouteAggregate = serde_json::from_str(&j).unwrap();
        assert_eq!(back, agg);

        // Windowing: a snapshot delta and a reset.
        let snap = agg.arm("canary").unwrap().clone();
        let mut b = Batcher::default();
        b.push(obs("fraud", "canary", Outcome::Timeout, 5), 3000);
        agg.merge_batch(&b.drain());
        let d = agg.arm("canary").unwrap().delta_since(&snap);
        assert_eq!((d.requests, d.timeouts, d.latency.count()), (1, 1, 1));
        agg.reset_arm("canary", 4000);
        assert_eq!(agg.error_rate("canary"), None);
        assert_eq!(agg.arm("canary").unwrap().since_ms, 4000);
        assert_eq!(agg.arm("stable").unwrap().requests, 30);
        agg.reset(5000);
        assert_eq!(agg.arm("stable").unwrap().requests, 0);
    }
}
