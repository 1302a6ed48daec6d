//! The latency histogram: log-scaled buckets (exact below 16 ms, eight per doubling above),
//! merge and delta, quantiles, and its sparse serde form. Batches and Durable Object
//! aggregates both carry one per arm.

use super::ratio;
use serde::{Deserialize, Serialize};
use std::fmt;

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
        ratio(self.sum_ms, self.total)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::base::{Rng, Xoshiro256};

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
}
