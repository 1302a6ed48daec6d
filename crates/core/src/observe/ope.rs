//! What off-policy evaluation needs from the edge and the ledger: per-arm running sums over
//! logged decisions and their credited rewards ([`OpeSums`]), and one logged decision
//! ([`DecisionRow`]) for the route's decision log.
//!
//! A decision is *logged* when it has a propensity `p` (the probability the policy in force
//! gave its arm; forced requests have none). With `r` a credited reward, the sums are, per
//! arm: decisions `n`, `Σ 1/p`, `Σ 1/p²` (all logged decisions, from the edge's batches) and,
//! over the logged decisions whose reward arrived, their count, `Σ 1/p`, `Σ 1/p²`, `Σ r/p`,
//! `Σ r²/p²` and `Σ r/p²` (from credits). That is everything inverse propensity scoring
//! and its self-normalised form need, with their variances (`statistics::ope`), for any
//! target allocation over the arms: O(1) per decision and per credit, whatever the history.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Running off-policy-evaluation sums of one arm (see the module doc). Propensities are in
/// ppm, as receipts carry them, so every sum is reproducible from the exported log.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct OpeSums {
    /// Logged decisions of the arm.
    pub decisions: u64,
    /// `Σ 1/p` over them.
    pub inv_p: f64,
    /// `Σ 1/p²` over them.
    pub inv_p2: f64,
    /// Credited rewards of logged decisions.
    pub credited: u64,
    /// `Σ 1/p` over the credited decisions.
    pub credited_inv_p: f64,
    /// `Σ 1/p²` over the credited decisions.
    pub credited_inv_p2: f64,
    /// `Σ r/p`.
    pub r_inv_p: f64,
    /// `Σ r²/p²`.
    pub r2_inv_p2: f64,
    /// `Σ r/p²`.
    pub r_inv_p2: f64,
}

/// `ppm` as a probability; `None` outside 1..=1,000,000.
pub fn ppm_probability(ppm: u32) -> Option<f64> {
    (1..=crate::base::PPM)
        .contains(&ppm)
        .then(|| f64::from(ppm) / f64::from(crate::base::PPM))
}

impl OpeSums {
    pub fn is_empty(&self) -> bool {
        self.decisions == 0 && self.credited == 0
    }

    /// One logged decision with propensity `ppm`; ignored outside 1..=1,000,000.
    pub fn record_decision(&mut self, ppm: u32) {
        self.record_decisions(ppm, 1);
    }

    /// `count` logged decisions with propensity `ppm` (a batch's `[ppm, count]` pair).
    pub fn record_decisions(&mut self, ppm: u32, count: u32) {
        if let Some(p) = ppm_probability(ppm) {
            let n = f64::from(count);
            self.decisions = self.decisions.saturating_add(u64::from(count));
            self.inv_p += n / p;
            self.inv_p2 += n / (p * p);
        }
    }

    /// The reward `r` of a logged decision with propensity `ppm`; ignored outside
    /// 1..=1,000,000 or for a reward that is not finite.
    pub fn record_credit(&mut self, ppm: u32, r: f64) {
        let Some(p) = ppm_probability(ppm) else {
            return;
        };
        if !r.is_finite() {
            return;
        }
        self.credited = self.credited.saturating_add(1);
        self.credited_inv_p += 1.0 / p;
        self.credited_inv_p2 += 1.0 / (p * p);
        self.r_inv_p += r / p;
        self.r2_inv_p2 += r * r / (p * p);
        self.r_inv_p2 += r / (p * p);
    }

    /// Adds `o`'s sums.
    pub fn merge(&mut self, o: &OpeSums) {
        self.decisions = self.decisions.saturating_add(o.decisions);
        self.inv_p += o.inv_p;
        self.inv_p2 += o.inv_p2;
        self.add_credits(o);
    }

    /// Adds only the credit half of `o` (a ledger shard's credits).
    pub fn add_credits(&mut self, o: &OpeSums) {
        self.credited = self.credited.saturating_add(o.credited);
        self.credited_inv_p += o.credited_inv_p;
        self.credited_inv_p2 += o.credited_inv_p2;
        self.r_inv_p += o.r_inv_p;
        self.r2_inv_p2 += o.r2_inv_p2;
        self.r_inv_p2 += o.r_inv_p2;
    }

    /// The credit half of `self` minus that of `before` (what a shard credited since).
    pub fn credits_since(&self, before: &OpeSums) -> OpeSums {
        OpeSums {
            credited: self.credited.saturating_sub(before.credited),
            credited_inv_p: self.credited_inv_p - before.credited_inv_p,
            credited_inv_p2: self.credited_inv_p2 - before.credited_inv_p2,
            r_inv_p: self.r_inv_p - before.r_inv_p,
            r2_inv_p2: self.r2_inv_p2 - before.r2_inv_p2,
            r_inv_p2: self.r_inv_p2 - before.r_inv_p2,
            ..OpeSums::default()
        }
    }

    /// Every sum finite and the squared ones non-negative (what storage may hold).
    pub fn plausible(&self) -> bool {
        [
            self.inv_p,
            self.inv_p2,
            self.credited_inv_p,
            self.credited_inv_p2,
            self.r_inv_p,
            self.r2_inv_p2,
            self.r_inv_p2,
        ]
        .iter()
        .all(|x| x.is_finite())
            && self.inv_p2 >= 0.0
            && self.credited_inv_p2 >= 0.0
            && self.r2_inv_p2 >= 0.0
    }
}

/// Longest context value a decision row keeps (bytes; longer values are cut at a character
/// boundary).
pub const MAX_CONTEXT_VALUE: usize = 128;

/// One logged decision, as the edge sends it in its batch and the route's object stores it
/// (`GET /_switchyard/decisions/<route>` exports these, with the reward once it arrived).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DecisionRow {
    /// Receipt id (32 hex digits): the key a reward is joined on.
    pub id: String,
    /// When the decision was made (ms since the epoch).
    pub at: u64,
    /// The unit, keyed-hashed (`ReceiptSigner::unit_id`, 16 hex digits): stable per unit,
    /// not reversible without the receipt key.
    pub unit: String,
    pub arm: String,
    /// The arm's propensity in ppm.
    pub p: u32,
    /// The route's `log.context` attributes by name (`None`: absent from the request).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub ctx: BTreeMap<String, Option<String>>,
}

/// `v` cut to at most [`MAX_CONTEXT_VALUE`] bytes at a character boundary.
pub fn context_value(v: &str) -> String {
    if v.len() <= MAX_CONTEXT_VALUE {
        return v.to_string();
    }
    let mut end = MAX_CONTEXT_VALUE;
    while !v.is_char_boundary(end) {
        end -= 1;
    }
    v[..end].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_and_deltas() {
        let mut s = OpeSums::default();
        s.record_decision(500_000);
        s.record_decision(250_000);
        s.record_decision(0); // not a propensity: ignored
        assert_eq!(s.decisions, 2);
        assert!((s.inv_p - 6.0).abs() < 1e-12 && (s.inv_p2 - 20.0).abs() < 1e-12);
        let before = s;
        s.record_credit(250_000, 0.5);
        s.record_credit(250_000, f64::NAN);
        assert_eq!(s.credited, 1);
        assert!((s.r_inv_p - 2.0).abs() < 1e-12);
        assert!((s.r2_inv_p2 - 4.0).abs() < 1e-12);
        assert!((s.r_inv_p2 - 8.0).abs() < 1e-12);
        let d = s.credits_since(&before);
        assert_eq!((d.decisions, d.credited), (0, 1));
        let mut m = before;
        m.add_credits(&d);
        assert_eq!(m, s);
        assert!(s.plausible());
        assert_eq!(context_value(&"é".repeat(100)).len(), 128);
        assert_eq!(context_value("x"), "x");
    }
}
