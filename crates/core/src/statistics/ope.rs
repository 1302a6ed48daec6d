//! Off-policy evaluation of an allocation over a route's arms from its logged decisions:
//! inverse propensity scoring (IPS) and its self-normalised form (SNIPS), each with a 95 %
//! interval, from the per-arm running sums of [`OpeSums`] (never from the rows themselves).
//!
//! With `n` decisions `i` (arm `a_i`, logged propensity `p_i`, reward `r_i`) and a target
//! allocation `π` (shares over the arms, summing to 1), the importance weight is
//! `w_i = π(a_i) / p_i` and
//! - IPS: `V = (1/n) Σ w_i r_i`, standard error `sqrt(s² / n)` with `s²` the sample variance
//!   of `w_i r_i` (`Σ (w r)² = Σ_a π_a² Σ r²/p²`);
//! - SNIPS: `R = Σ w_i r_i / Σ w_i`; by the delta method (a ratio of means),
//!   `Var(R) ≈ Σ e_i² / (n (n - 1) w̄²)` with residuals `e_i = w_i (r_i - R)`, whose squares
//!   sum per arm as `π_a² (Σ r²/p² - 2 R Σ r/p² + R² Σ 1/p²)` and `w̄ = (1/n) Σ w_i`.
//!
//! Intervals are `estimate ± z₀.₉₇₅ · se` (normal approximation). Both estimators are
//! unbiased (SNIPS consistent) when the logged propensities are the ones the decisions were
//! drawn with, even if the policy changed between decisions (a bandit), and when every arm
//! `π` weights has a positive propensity; arms the allocation weights but that were never
//! logged are listed (`unsupported`): their value cannot be estimated from the log.
//!
//! **Which decisions count.** Rewards arrive later, by feedback. With `conversion`
//! evidence (a decision without feedback is a 0), every logged decision counts and its
//! reward is 0 until credited; with `explicit` or numeric evidence (missing feedback is
//! missing), only the decisions whose reward arrived count.

use serde::Serialize;

use crate::observe::OpeSums;

/// `z` of a two-sided 95 % normal interval.
const Z95: f64 = 1.959_963_984_540_054;

/// One estimate with its 95 % interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct OpeEstimate {
    pub estimate: f64,
    pub ci_low: f64,
    pub ci_high: f64,
    /// Standard error.
    pub se: f64,
}

impl OpeEstimate {
    fn new(estimate: f64, se: f64) -> Option<Self> {
        (estimate.is_finite() && se.is_finite()).then_some(OpeEstimate {
            estimate,
            ci_low: estimate - Z95 * se,
            ci_high: estimate + Z95 * se,
            se,
        })
    }

    /// Whether `v` lies in the interval (inclusive).
    pub fn covers(&self, v: f64) -> bool {
        self.ci_low <= v && v <= self.ci_high
    }
}

/// IPS and SNIPS of one allocation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OpeResult {
    /// Decisions that count (see the module doc).
    pub n: u64,
    /// `None` below two decisions.
    pub ips: Option<OpeEstimate>,
    /// `None` below two decisions or when no counted decision has weight.
    pub snips: Option<OpeEstimate>,
    /// Arms the allocation weights that have no counted decision.
    pub unsupported: Vec<String>,
}

/// Evaluates `policy` (arm -> share, summing to 1; arms absent from it get 0) over the sums
/// of `arms`. `all_decisions`: every logged decision counts (conversion evidence), else only
/// the credited ones.
pub fn ope(arms: &[(&str, &OpeSums)], policy: &[(&str, f64)], all_decisions: bool) -> OpeResult {
    let share = |arm: &str| {
        policy
            .iter()
            .find(|(a, _)| *a == arm)
            .map_or(0.0, |(_, w)| *w)
    };
    let (mut n, mut sum_w, mut sum_wr, mut sum_wr2) = (0u64, 0.0, 0.0, 0.0);
    // Per arm for the SNIPS residuals: π², Σ r²/p², Σ r/p², Σ 1/p².
    let mut parts: Vec<(f64, f64, f64, f64)> = Vec::with_capacity(arms.len());
    for (name, s) in arms {
        let pi = share(name);
        let (count, inv_p, inv_p2) = if all_decisions {
            (s.decisions, s.inv_p, s.inv_p2)
        } else {
            (s.credited, s.credited_inv_p, s.credited_inv_p2)
        };
        n = n.saturating_add(count);
        sum_w += pi * inv_p;
        sum_wr += pi * s.r_inv_p;
        sum_wr2 += pi * pi * s.r2_inv_p2;
        parts.push((pi * pi, s.r2_inv_p2, s.r_inv_p2, inv_p2));
    }
    let unsupported: Vec<String> = policy
        .iter()
        .filter(|(a, w)| {
            *w > 0.0
                && !arms.iter().any(|(name, s)| {
                    name == a
                        && if all_decisions {
                            s.decisions > 0
                        } else {
                            s.credited > 0
                        }
                })
        })
        .map(|(a, _)| a.to_string())
        .collect();
    if n < 2 {
        return OpeResult {
            n,
            ips: None,
            snips: None,
            unsupported,
        };
    }
    let nf = n as f64;
    let mean = sum_wr / nf;
    let var = ((sum_wr2 - nf * mean * mean) / (nf - 1.0)).max(0.0);
    let ips = OpeEstimate::new(mean, (var / nf).sqrt());
    let snips = (sum_w > 0.0)
        .then(|| {
            let r = sum_wr / sum_w;
            let resid: f64 = parts
                .iter()
                .map(|(pi2, r2, r1, w2)| pi2 * (r2 - 2.0 * r * r1 + r * r * w2))
                .sum::<f64>()
                .max(0.0);
            let wbar = sum_w / nf;
            OpeEstimate::new(r, (resid / (nf * (nf - 1.0))).sqrt() / wbar)
        })
        .flatten();
    OpeResult {
        n,
        ips,
        snips,
        unsupported,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The estimators from the sums equal the textbook formulas on the rows.
    #[test]
    fn sums_equal_row_formulas() {
        // (arm, p, reward or None)
        let rows: &[(&str, f64, Option<f64>)] = &[
            ("a", 0.5, Some(1.0)),
            ("a", 0.5, None),
            ("a", 0.25, Some(0.5)),
            ("b", 0.5, Some(1.0)),
            ("b", 0.75, Some(0.0)),
            ("b", 0.5, None),
            ("a", 0.5, Some(1.0)),
        ];
        let mut sa = OpeSums::default();
        let mut sb = OpeSums::default();
        for (arm, p, r) in rows {
            let s = if *arm == "a" { &mut sa } else { &mut sb };
            let ppm = (p * 1e6) as u32;
            s.record_decision(ppm);
            if let Some(r) = r {
                s.record_credit(ppm, *r);
            }
        }
        let pi = |a: &str| if a == "a" { 0.9 } else { 0.1 };
        for all in [true, false] {
            let counted: Vec<(f64, f64)> = rows
                .iter()
                .filter(|(_, _, r)| all || r.is_some())
                .map(|(a, p, r)| (pi(a) / p, r.unwrap_or(0.0)))
                .collect();
            let n = counted.len() as f64;
            let x: Vec<f64> = counted.iter().map(|(w, r)| w * r).collect();
            let mean = x.iter().sum::<f64>() / n;
            let var = x.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0);
            let sw: f64 = counted.iter().map(|(w, _)| w).sum();
            let r = x.iter().sum::<f64>() / sw;
            let e2: f64 = counted.iter().map(|(w, rr)| (w * (rr - r)).powi(2)).sum();
            let se_sn = (e2 / (n * (n - 1.0))).sqrt() / (sw / n);
            let res = ope(&[("a", &sa), ("b", &sb)], &[("a", 0.9), ("b", 0.1)], all);
            assert_eq!(res.n as f64, n);
            let ips = res.ips.unwrap();
            assert!((ips.estimate - mean).abs() < 1e-12);
            assert!((ips.se - (var / n).sqrt()).abs() < 1e-12);
            let sn = res.snips.unwrap();
            assert!((sn.estimate - r).abs() < 1e-12);
            assert!((sn.se - se_sn).abs() < 1e-12, "{} {}", sn.se, se_sn);
            assert!(sn.covers(r) && !sn.covers(r + 10.0));
        }
    }

    #[test]
    fn unsupported_arms_and_small_samples() {
        let mut s = OpeSums::default();
        s.record_decision(500_000);
        let res = ope(&[("a", &s)], &[("a", 0.5), ("c", 0.5)], true);
        assert_eq!(res.n, 1);
        assert!(res.ips.is_none() && res.snips.is_none());
        assert_eq!(res.unsupported, vec!["c".to_string()]);
        s.record_decision(500_000);
        // A policy that weights only unlogged arms: IPS 0, SNIPS undefined.
        let res = ope(&[("a", &s)], &[("c", 1.0)], true);
        assert_eq!(res.ips.unwrap().estimate, 0.0);
        assert!(res.snips.is_none());
    }
}
