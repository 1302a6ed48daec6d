//! An always-valid non-inferiority test: a confidence sequence on a difference
//! `δ = candidate − baseline` (oriented so that larger is worse), read one-sided against a
//! margin `m`. The candidate is shown **not worse** when the upper bound is below `m`, and
//! **worse** when the lower bound is above `m`; the bounds hold at every look at once, so the
//! route's object may look after every tick and stop at the first decision.
//!
//! The running estimate `δ̂` with variance `s²` (from both arms' counts) is treated as a
//! Gaussian observation of `δ` with precision `V = 1/s²` (a large-sample, "asymptotic"
//! confidence sequence). With `S = V (δ̂ − δ)`, the one-sided normal-mixture martingale of
//! Robbins, in the form of Howard, Ramdas, McAuliffe and Sekhon (2021, "Time-uniform,
//! nonparametric, nonasymptotic confidence sequences", Ann. Statist. 49(2), section 3.2),
//! mixes `exp(λS − λ²V/2)` over a half-normal `λ ≥ 0` with variance `1/ρ`:
//!
//! ```text
//! M(S, V) = 2 sqrt(ρ / (V + ρ)) · exp(S² / (2 (V + ρ))) · Φ(S / sqrt(V + ρ))
//! ```
//!
//! By Ville's inequality `P(∃ look: M ≥ 1/α) ≤ α`, so `δ̂ − δ ≤ x_α(V) sqrt(V + ρ) / V` at
//! every look with probability at least `1 − α`, where `x_α(V)` solves
//! `2 sqrt(ρ/(V+ρ)) e^{x²/2} Φ(x) = 1/α` (solved here by bisection, not through the closed-form
//! bound of that paper's eq. (14), which is slightly wider). The half-width is
//!
//! ```text
//! h_α(s²) = x_α · s · sqrt(1 + ρ s²)
//! ```
//!
//! and the bounds are `δ̂ + h` (upper) and `δ̂ − h` (lower). `ρ = 1/m²` is fixed in advance:
//! the mixture looks for differences of the size of the margin.

use super::special::normal_cdf;

/// A difference and its estimated variance (`candidate − baseline`, larger is worse).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Estimate {
    pub diff: f64,
    pub variance: f64,
}

/// What the confidence sequence shows about the candidate against the margin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Upper bound below the margin.
    NotWorse,
    /// Lower bound above the margin.
    Worse,
    /// Neither yet.
    Undecided,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::NotWorse => "not_worse",
            Verdict::Worse => "worse",
            Verdict::Undecided => "undecided",
        }
    }
}

/// One judgement: the bounds and the verdict.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Judgement {
    pub estimate: Estimate,
    pub margin: f64,
    /// `δ̂ + h` at the not-worse level.
    pub upper: f64,
    /// `δ̂ − h` at the worse level.
    pub lower: f64,
    pub verdict: Verdict,
}

/// `x_α(V)`: where the half-normal mixture reaches `1/α` (see the module docs), for
/// `ratio = V/ρ`. Bisection to 1e-12 on `ln M`, which increases with `x`.
pub fn mixture_threshold(ratio: f64, alpha: f64) -> f64 {
    let target = (1.0 / alpha).ln();
    // ln M(x) = ln 2 − ½ ln(1 + V/ρ) + x²/2 + ln Φ(x)
    let log_m = |x: f64| {
        std::f64::consts::LN_2 - 0.5 * (1.0 + ratio).ln() + 0.5 * x * x + normal_cdf(x).ln()
    };
    let mut lo = 0.0;
    // At `hi`, x²/2 alone covers the target and the ½ ln(1 + V/ρ) term (ln 2 + ln Φ ≥ 0).
    let mut hi = (2.0 * target + (1.0 + ratio).ln()).sqrt() + 1.0;
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if log_m(mid) < target {
            lo = mid;
        } else {
            hi = mid;
        }
        if hi - lo < 1e-12 {
            break;
        }
    }
    hi
}

/// The half-width `h_α(s²)` of the one-sided confidence sequence at variance `s²` with
/// `ρ = 1/m²`. `None` for a variance or margin that is not positive and finite.
pub fn half_width(variance: f64, margin: f64, alpha: f64) -> Option<f64> {
    if !(variance.is_finite() && variance > 0.0 && margin.is_finite() && margin > 0.0) {
        return None;
    }
    if !(alpha > 0.0 && alpha < 1.0) {
        return None;
    }
    let rho = 1.0 / (margin * margin);
    let v = 1.0 / variance;
    let x = mixture_threshold(v / rho, alpha);
    Some(x * variance.sqrt() * (1.0 + rho * variance).sqrt())
}

/// Judges `est` against `margin`: not worse at level `alpha_not_worse`, worse at level
/// `alpha_worse` (each a one-sided, time-uniform error probability). `None` when the variance
/// or the margin is unusable.
pub fn judge(
    est: Estimate,
    margin: f64,
    alpha_not_worse: f64,
    alpha_worse: f64,
) -> Option<Judgement> {
    if !est.diff.is_finite() {
        return None;
    }
    let upper = est.diff + half_width(est.variance, margin, alpha_not_worse)?;
    let lower = est.diff - half_width(est.variance, margin, alpha_worse)?;
    let verdict = if upper < margin {
        Verdict::NotWorse
    } else if lower > margin {
        Verdict::Worse
    } else {
        Verdict::Undecided
    };
    Some(Judgement {
        estimate: est,
        margin,
        upper,
        lower,
        verdict,
    })
}

/// `δ̂` and `s²` of a difference of two proportions, `candidate − baseline` (errors per
/// request): each arm's variance from `p̃ = (x + 0.5)/(n + 1)`, so that no errors at all is
/// not a variance of 0. `None` when an arm has no trials.
pub fn proportion_difference(candidate: (u64, u64), baseline: (u64, u64)) -> Option<Estimate> {
    let arm = |(x, n): (u64, u64)| -> Option<(f64, f64)> {
        if n == 0 {
            return None;
        }
        let (x, n) = (x.min(n) as f64, n as f64);
        let p = x / n;
        let pt = (x + 0.5) / (n + 1.0);
        Some((p, pt * (1.0 - pt) / n))
    };
    let (pc, vc) = arm(candidate)?;
    let (pb, vb) = arm(baseline)?;
    Some(Estimate {
        diff: pc - pb,
        variance: vc + vb,
    })
}

/// `δ̂` and `s²` of a difference of two means, `candidate − baseline`, from each arm's
/// `(n, mean, sample variance)`. `None` below two observations in an arm.
pub fn mean_difference(candidate: (u64, f64, f64), baseline: (u64, f64, f64)) -> Option<Estimate> {
    let arm = |(n, m, v): (u64, f64, f64)| -> Option<(f64, f64)> {
        (n >= 2 && m.is_finite() && v.is_finite() && v >= 0.0).then(|| (m, v / n as f64))
    };
    let (mc, vc) = arm(candidate)?;
    let (mb, vb) = arm(baseline)?;
    Some(Estimate {
        diff: mc - mb,
        variance: vc + vb,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::base::{Rng, Xoshiro256};
    use crate::statistics::standard_normal;

    /// The threshold solves `M = 1/α`, and the paper's closed form (eq. (14), one-sided
    /// normal mixture) is never tighter than the exact root.
    #[test]
    fn threshold_solves_the_mixture_and_sits_inside_the_closed_form() {
        for &alpha in &[0.2, 0.05, 0.01, 0.001] {
            for &ratio in &[0.01, 0.5, 1.0, 10.0, 1e3, 1e6] {
                let x = mixture_threshold(ratio, alpha);
                let m = 2.0 / (1.0f64 + ratio).sqrt() * (0.5 * x * x).exp() * normal_cdf(x);
                assert!(
                    (m * alpha - 1.0).abs() < 1e-9,
                    "α {alpha} V/ρ {ratio}: M α = {}",
                    m * alpha
                );
                // eq. (14): u(V) = sqrt(2 (V+ρ) ln( sqrt((V+ρ)/ρ) / (2α) + 1 )), as x = u/sqrt(V+ρ)
                let closed = (2.0 * (((1.0 + ratio).sqrt() / (2.0 * alpha)) + 1.0).ln()).sqrt();
                assert!(x <= closed + 1e-12, "α {alpha} V/ρ {ratio}: {x} > {closed}");
            }
        }
    }

    #[test]
    fn verdicts_by_the_bounds() {
        let j = |diff, variance| judge(Estimate { diff, variance }, 0.01, 0.05, 0.05).unwrap();
        // Equal error rates, a lot of data: not worse by 0.01.
        assert_eq!(j(0.0, 1e-7).verdict, Verdict::NotWorse);
        // 5 points worse, a lot of data: worse (beyond the margin).
        assert_eq!(j(0.05, 1e-6).verdict, Verdict::Worse);
        // Little data: undecided.
        assert_eq!(j(0.0, 1e-3).verdict, Verdict::Undecided);
        // Inside the margin but worse than the baseline: still not worse by the margin.
        assert_eq!(j(0.004, 1e-8).verdict, Verdict::NotWorse);
        assert!(judge(
            Estimate {
                diff: 0.0,
                variance: 0.0
            },
            0.01,
            0.05,
            0.05
        )
        .is_none());
        assert!(judge(
            Estimate {
                diff: f64::NAN,
                variance: 1.0
            },
            0.01,
            0.05,
            0.05
        )
        .is_none());
        assert!(half_width(1.0, 0.0, 0.05).is_none());
        assert!(half_width(1.0, 1.0, 1.0).is_none());
    }

    #[test]
    fn estimates_of_differences() {
        let e = proportion_difference((10, 100), (0, 100)).unwrap();
        assert!((e.diff - 0.1).abs() < 1e-12);
        // No errors at all still has a variance.
        let z = proportion_difference((0, 1000), (0, 1000)).unwrap();
        assert!(z.diff == 0.0 && z.variance > 0.0);
        assert!(proportion_difference((0, 0), (0, 10)).is_none());
        let m = mean_difference((4, 2.0, 1.0), (4, 1.0, 1.0)).unwrap();
        assert!((m.diff - 1.0).abs() < 1e-12 && (m.variance - 0.5).abs() < 1e-12);
        assert!(mean_difference((1, 2.0, 0.0), (4, 1.0, 1.0)).is_none());
    }

    /// Always valid: with a look after every batch, a candidate exactly at the margin is
    /// declared not worse in at most α of the runs (and one clearly inside is declared not
    /// worse in almost all), for Bernoulli error rates.
    #[test]
    fn repeated_looks_keep_the_error_below_alpha() {
        let mut rng = Xoshiro256::seed_from_u64(7);
        let (margin, alpha, runs, looks, batch) = (0.02, 0.05, 200, 100, 50u64);
        let run = |rng: &mut Xoshiro256, p_candidate: f64, p_base: f64| -> Option<Verdict> {
            let (mut xc, mut xb, mut n) = (0u64, 0u64, 0u64);
            for _ in 0..looks {
                for _ in 0..batch {
                    xc += u64::from((rng.next_u64() as f64 / u64::MAX as f64) < p_candidate);
                    xb += u64::from((rng.next_u64() as f64 / u64::MAX as f64) < p_base);
                }
                n += batch;
                let est = proportion_difference((xc, n), (xb, n)).unwrap();
                let j = judge(est, margin, alpha, alpha).unwrap();
                if j.verdict != Verdict::Undecided {
                    return Some(j.verdict);
                }
            }
            None
        };
        let wrongly_not_worse = (0..runs)
            .filter(|_| run(&mut rng, 0.07, 0.05) == Some(Verdict::NotWorse))
            .count();
        let found_not_worse = (0..runs)
            .filter(|_| run(&mut rng, 0.05, 0.05) == Some(Verdict::NotWorse))
            .count();
        let wrongly_worse = (0..runs)
            .filter(|_| run(&mut rng, 0.05, 0.05) == Some(Verdict::Worse))
            .count();
        eprintln!(
            "at the margin: {wrongly_not_worse}/{runs} declared not worse; equal: {found_not_worse}/{runs} not worse, {wrongly_worse}/{runs} worse"
        );
        assert!(
            (wrongly_not_worse as f64) <= alpha * runs as f64,
            "{wrongly_not_worse}"
        );
        assert!(wrongly_worse == 0, "{wrongly_worse}");
        assert!(
            found_not_worse as f64 >= 0.95 * runs as f64,
            "{found_not_worse}"
        );
        // Gaussian sanity: the same with normal increments and known variance.
        let mut misses = 0;
        for _ in 0..runs {
            let (mut sum, mut n) = (0.0, 0.0);
            for _ in 0..looks {
                sum += standard_normal(&mut rng) + 1.0; // true δ = margin = 1
                n += 1.0;
                let j = judge(
                    Estimate {
                        diff: sum / n,
                        variance: 1.0 / n,
                    },
                    1.0,
                    alpha,
                    alpha,
                )
                .unwrap();
                if j.verdict == Verdict::NotWorse {
                    misses += 1;
                    break;
                }
            }
        }
        assert!((misses as f64) <= alpha * runs as f64, "{misses}");
    }
}
