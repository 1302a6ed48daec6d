//! A/B statistics for conversion (0/1) and numeric metrics, arm against a control arm, over
//! units (the unit of randomisation), not requests: requests of one unit are correlated, and
//! treating them as independent makes every p-value too small.
//!
//! Choices, so the dashboard and the docs can say what the numbers are:
//! - Conversion: a unit converted or not ([`Proportion`] of units). Interval of a rate:
//!   **Wilson score** ([`wilson_interval`]). Fixed-horizon test: two-sided **pooled
//!   two-proportion z-test** ([`two_proportion_z_test`], as statsmodels' `proportions_ztest`);
//!   the difference gets an unpooled Wald interval.
//! - Numeric metrics: **ratio metrics** over units ([`RatioStats`]: e.g. sum of rewards over
//!   rewards received, or errors over requests) with **delta-method** variances (Deng,
//!   Knoblich & Lu 2018), compared by a z-test ([`ratio_difference`]).
//! - Always-valid sequential test ([`MsprtState`]): the **normal-mixture mSPRT** with its
//!   mixing variance tuned to the expected number of units ([`mixture_rho2`], Howard et al.
//!   2021, as GrowthBook's sequential testing), on the difference of rates or ratios: safe to
//!   look after every snapshot.
//! - Bayesian: P(rate_treatment > rate_control) under independent Beta(1, 1) priors, computed
//!   **exactly** by the closed-form finite sum (no Monte Carlo) in [`prob_beat_control`].
//! - Sample-ratio mismatch: the **sequential multinomial test** of Lindon & Malek (2022) on
//!   distinct units against the planned split ([`SrmState`], [`srm_log_bayes_factor`]),
//!   always valid, flagged when its p-value falls below [`SRM_ALPHA`] (0.001). The fixed-n
//!   Pearson chi-square ([`srm_test`]) stays for comparisons.
//! - One verdict per comparison ([`verdict`]): winner, loser or inconclusive, decided by the
//!   always-valid test alone.
//! - Per-request numeric rewards without units: mean and variance from (n, sum, sum of
//!   squares) ([`MeanStats`]) and **Welch's t-test** ([`welch_t_test`], as
//!   `scipy.stats.ttest_ind(equal_var=False)`), with [`compare_means`].
//!
//! Degenerate inputs (zero counts, conversions > n, mismatched lengths) give `None` or a
//! documented neutral value; nothing here returns NaN or panics.

// `!(x > 0.0)` is deliberate throughout: unlike `x <= 0.0`, it is also true for NaN.
#![allow(clippy::neg_cmp_op_on_partial_ord)]

use serde::{Deserialize, Serialize};

use crate::config::DEFAULT_EXPECTED_UNITS;

use super::special::{chi2_sf, ln_beta, ln_gamma, normal_quantile, normal_sf, student_t_two_sided};

/// Flag a sample-ratio mismatch when the SRM p-value falls below this.
pub const SRM_ALPHA: f64 = 0.001;

/// Counts of one arm for a 0/1 metric: `n` units (or requests) and `conversions` among them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Proportion {
    pub n: u64,
    pub conversions: u64,
}

impl Proportion {
    pub fn new(n: u64, conversions: u64) -> Self {
        Self { n, conversions }
    }

    /// `conversions <= n`.
    pub fn is_valid(&self) -> bool {
        self.conversions <= self.n
    }

    /// Conversion rate; 0 when `n == 0` (and `None` only when conversions > n).
    pub fn rate(&self) -> Option<f64> {
        if !self.is_valid() {
            return None;
        }
        if self.n == 0 {
            return Some(0.0);
        }
        Some(self.conversions as f64 / self.n as f64)
    }
}

/// A closed interval `[lower, upper]`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Interval {
    pub lower: f64,
    pub upper: f64,
}

/// Wilson score interval for a binomial proportion at the given two-sided `confidence`
/// (e.g. 0.95). `None` when `n == 0`, conversions > n, or confidence not in (0, 1).
pub fn wilson_interval(p: Proportion, confidence: f64) -> Option<Interval> {
    if p.n == 0 || !p.is_valid() || !(confidence > 0.0 && confidence < 1.0) {
        return None;
    }
    let z = normal_quantile(1.0 - 0.5 * (1.0 - confidence));
    let n = p.n as f64;
    let phat = p.conversions as f64 / n;
    let z2 = z * z;
    let denom = 1.0 + z2 / n;
    let center = (phat + z2 / (2.0 * n)) / denom;
    let half = z / denom * (phat * (1.0 - phat) / n + z2 / (4.0 * n * n)).sqrt();
    Some(Interval {
        lower: (center - half).max(0.0),
        upper: (center + half).min(1.0),
    })
}

/// Result of the pooled two-proportion z-test of treatment against control.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ZTest {
    /// rate(treatment) - rate(control).
    pub diff: f64,
    /// z statistic (positive when the treatment converts more).
    pub z: f64,
    /// Two-sided p-value.
    pub p_value: f64,
    /// 95% unpooled Wald interval for `diff`.
    pub diff_ci: Interval,
}

/// Two-sided pooled two-proportion z-test. `None` when either arm has `n == 0` or is invalid.
/// When the pooled rate is 0 or 1 (no variance) the result is `z = 0`, `p = 1`.
pub fn two_proportion_z_test(control: Proportion, treatment: Proportion) -> Option<ZTest> {
    if control.n == 0 || treatment.n == 0 || !control.is_valid() || !treatment.is_valid() {
        return None;
    }
    let (n1, n2) = (control.n as f64, treatment.n as f64);
    let (p1, p2) = (
        control.conversions as f64 / n1,
        treatment.conversions as f64 / n2,
    );
    let diff = p2 - p1;
    let pooled = (control.conversions + treatment.conversions) as f64 / (n1 + n2);
    let se = (pooled * (1.0 - pooled) * (1.0 / n1 + 1.0 / n2)).sqrt();
    let (z, p_value) = if se > 0.0 {
        let z = diff / se;
        (z, (2.0 * normal_sf(z.abs())).min(1.0))
    } else {
        (0.0, 1.0)
    };
    let se_unpooled = (p1 * (1.0 - p1) / n1 + p2 * (1.0 - p2) / n2).sqrt();
    let zc = normal_quantile(0.975);
    Some(ZTest {
        diff,
        z,
        p_value,
        diff_ci: Interval {
            lower: diff - zc * se_unpooled,
            upper: diff + zc * se_unpooled,
        },
    })
}

/// P(rate_treatment > rate_control) with independent Beta(1, 1) priors, i.e. posteriors
/// Beta(1 + conversions, 1 + n - conversions). Exact: with integer posterior parameters
/// (aA, bA), (aB, bB),
///
/// `P(pB > pA) = sum_{i=0}^{aB-1} B(aA+i, bA+bB) / ((bB+i) B(1+i, bB) B(aA, bA))`
///
/// (Evan Miller's closed form), summed by the term ratio
/// `t_{i+1}/t_i = (aA+i)(bB+i) / ((aA+bA+bB+i)(1+i))` with rescaling, over the arm with fewer
/// conversions (using P(pB > pA) = 1 - P(pA > pB)). Cost is O(min(conversions)) flops.
/// `None` when an arm has conversions > n. Two empty arms give 0.5.
pub fn prob_beat_control(control: Proportion, treatment: Proportion) -> Option<f64> {
    if !control.is_valid() || !treatment.is_valid() {
        return None;
    }
    let (a_c, b_c) = beta_posterior(control);
    let (a_t, b_t) = beta_posterior(treatment);
    let p = if treatment.conversions <= control.conversions {
        prob_greater(a_c, b_c, a_t, b_t)
    } else {
        1.0 - prob_greater(a_t, b_t, a_c, b_c)
    };
    Some(p.clamp(0.0, 1.0))
}

fn beta_posterior(p: Proportion) -> (f64, f64) {
    (
        1.0 + p.conversions as f64,
        1.0 + (p.n - p.conversions) as f64,
    )
}

/// P(X_B > X_A) for X_A ~ Beta(a_a, b_a), X_B ~ Beta(a_b, b_b), `a_b` a positive integer.
fn prob_greater(a_a: f64, b_a: f64, a_b: f64, b_b: f64) -> f64 {
    const BIG: f64 = 1e150;
    let terms = a_b as u64; // a_b = 1 + conversions: an exact integer.
                            // t_0 = B(a_a, b_a + b_b) / B(a_a, b_a), carried as exp(log_scale) * t.
    let mut log_scale = ln_beta(a_a, b_a + b_b) - ln_beta(a_a, b_a);
    let mut t = 1.0f64;
    let mut sum = 0.0f64;
    let s = a_a + b_a + b_b;
    for i in 0..terms {
        sum += t;
        let fi = i as f64;
        t *= (a_a + fi) * (b_b + fi) / ((s + fi) * (1.0 + fi));
        if t > BIG {
            t /= BIG;
            sum /= BIG;
            log_scale += BIG.ln();
        }
    }
    if sum <= 0.0 {
        return 0.0;
    }
    (sum.ln() + log_scale).exp().clamp(0.0, 1.0)
}

/// Configuration of the always-valid test.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MsprtConfig {
    /// Significance level for `significant`.
    pub alpha: f64,
    /// Units (control and treatment together) at which the test is tuned to be tightest
    /// ([`mixture_rho2`]). The test is valid for every value; it only moves power between
    /// sample sizes (and so between effect sizes).
    pub expected_units: f64,
    /// Looks where either arm has fewer units are ignored (the normal approximation of the
    /// difference is not yet usable there).
    pub min_samples: u64,
}

impl Default for MsprtConfig {
    fn default() -> Self {
        Self {
            alpha: 0.05,
            expected_units: DEFAULT_EXPECTED_UNITS as f64,
            min_samples: 30,
        }
    }
}

/// The mixing parameter rho^2 of the normal-mixture test tuned to `expected_n` units in
/// total: `rho^2 = (-2 ln alpha + ln(1 - 2 ln alpha)) / expected_n` (Howard, Ramdas,
/// McAuliffe & Sekhon 2021; Waudby-Smith et al. 2023, eq. 161; GrowthBook's sequential
/// testing). The confidence sequence it gives is narrowest relative to the fixed-horizon
/// interval when `n` is about `expected_n`. `None` unless `0 < alpha < 1` and
/// `expected_n > 0`.
pub fn mixture_rho2(alpha: f64, expected_n: f64) -> Option<f64> {
    if !(alpha > 0.0 && alpha < 1.0 && expected_n > 0.0 && expected_n.is_finite()) {
        return None;
    }
    let l = -2.0 * alpha.ln();
    Some((l + (l + 1.0).ln()) / expected_n)
}

/// ln of the e-value of the normal-mixture test of `theta = 0` for an estimate `theta` with
/// variance `v` from `n` units in total, with mixing parameter `rho2` ([`mixture_rho2`]):
///
/// `ln E = rho^2 n theta^2 / (2 v (1 + n rho^2)) - ln(1 + n rho^2) / 2`,
///
/// which is GrowthBook's `SequentialTwoSidedTTest` e-value (Waudby-Smith et al. 2023,
/// eq. 155) and the mSPRT of [`msprt_log_lambda_diff`] with mixing variance
/// `tau^2 = rho^2 n v` (a prior on the effect scaled to the per-unit standard deviation
/// `sqrt(n v)`). The always-valid p-value is `min(1, 1/E)`.
pub fn msprt_log_evalue(theta: f64, v: f64, n: f64, rho2: f64) -> Option<f64> {
    if !(n > 0.0 && rho2 > 0.0) {
        return None;
    }
    msprt_log_lambda_diff(theta, v, rho2 * n * v)
}

/// Mixture likelihood ratio Lambda of the normal-mixture mSPRT (Johari, Pekelis & Walsh
/// 2017) for a difference `theta` whose estimate has variance `v`, under mixing variance
/// `tau2`:
///
/// `Lambda = sqrt(V / (V + tau2)) * exp(tau2 * theta^2 / (2 V (V + tau2)))`.
///
/// Returned as ln Lambda (Lambda itself can overflow). `None` unless `v` and `tau2` are
/// positive and finite.
pub fn msprt_log_lambda_diff(theta: f64, v: f64, tau2: f64) -> Option<f64> {
    if !(v > 0.0 && v.is_finite() && tau2 > 0.0 && tau2.is_finite() && theta.is_finite()) {
        return None;
    }
    Some(0.5 * (v / (v + tau2)).ln() + tau2 * theta * theta / (2.0 * v * (v + tau2)))
}

/// Running state of one treatment-vs-control always-valid test. Persist it (it is
/// serde-friendly) and feed it every new cumulative look; the always-valid p-value is the
/// running minimum of 1/E, capped at 1, so it never increases.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct MsprtState {
    /// Always-valid p-value so far (1 before any usable look).
    pub p_value: f64,
    /// Looks fed in, usable or not.
    pub looks: u64,
    /// Looks that passed the `min_samples` / variance guards.
    pub used_looks: u64,
}

impl Default for MsprtState {
    fn default() -> Self {
        Self::new()
    }
}

/// What one look did to the test.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MsprtStep {
    /// ln E for this look (`None` if the look was ignored).
    pub log_lambda: Option<f64>,
    /// The always-valid p-value after this look.
    pub p_value: f64,
    /// `p_value < alpha`.
    pub significant: bool,
}

impl MsprtState {
    pub fn new() -> Self {
        Self {
            p_value: 1.0,
            looks: 0,
            used_looks: 0,
        }
    }

    /// Feeds one look at a difference: estimate `theta` with variance `v`, from `n_control`
    /// and `n_treatment` units. Usable when both arms have `cfg.min_samples` units and `v`
    /// is positive.
    pub fn update_diff(
        &mut self,
        theta: f64,
        v: f64,
        n_control: u64,
        n_treatment: u64,
        cfg: &MsprtConfig,
    ) -> MsprtStep {
        self.looks = self.looks.saturating_add(1);
        let usable = n_control >= cfg.min_samples.max(2) && n_treatment >= cfg.min_samples.max(2);
        let n = n_control as f64 + n_treatment as f64;
        let log_lambda = if usable {
            mixture_rho2(cfg.alpha, cfg.expected_units)
                .and_then(|rho2| msprt_log_evalue(theta, v, n, rho2))
        } else {
            None
        };
        if let Some(ll) = log_lambda {
            self.used_looks = self.used_looks.saturating_add(1);
            let p = (-ll).exp().min(1.0);
            if p < self.p_value {
                self.p_value = p;
            }
        }
        if !(self.p_value >= 0.0) {
            self.p_value = 1.0;
        }
        MsprtStep {
            log_lambda,
            p_value: self.p_value,
            significant: self.p_value < cfg.alpha,
        }
    }

    /// Feeds the cumulative conversion counts (units, converted units) of both arms: the
    /// difference of rates with the unpooled variance `p_c(1-p_c)/n_c + p_t(1-p_t)/n_t`.
    pub fn update(
        &mut self,
        control: Proportion,
        treatment: Proportion,
        cfg: &MsprtConfig,
    ) -> MsprtStep {
        let (theta, v) = match (control.rate(), treatment.rate()) {
            (Some(pc), Some(pt)) if control.n > 0 && treatment.n > 0 => (
                pt - pc,
                pc * (1.0 - pc) / control.n as f64 + pt * (1.0 - pt) / treatment.n as f64,
            ),
            _ => (0.0, 0.0),
        };
        self.update_diff(theta, v, control.n, treatment.n, cfg)
    }

    /// Feeds the cumulative unit-level statistics of a ratio metric ([`RatioStats`]): the
    /// difference of ratios with its delta-method variance.
    pub fn update_ratio(
        &mut self,
        control: &RatioStats,
        treatment: &RatioStats,
        cfg: &MsprtConfig,
    ) -> MsprtStep {
        let (theta, v) = match ratio_difference(control, treatment) {
            Some(d) => (d.diff, d.se * d.se),
            None => (0.0, 0.0),
        };
        self.update_diff(theta, v, control.units, treatment.units, cfg)
    }
}

/// Fixed-n Pearson chi-square sample-ratio check (valid at one look fixed in advance).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ChiSquareSrm {
    pub chi2: f64,
    pub df: u32,
    pub p_value: f64,
    /// `p_value < SRM_ALPHA`.
    pub mismatch: bool,
}

/// Pearson chi-square goodness-of-fit of `observed` unit counts per arm against the configured
/// `weights` (any positive scale; normalised here), df = arms with positive weight - 1.
/// An arm with weight 0 but observations is a certain mismatch (p = 0). `None` when lengths
/// differ, a weight is negative or not finite, all weights are 0, nothing was observed, or
/// fewer than two arms have positive weight.
pub fn srm_test(observed: &[u64], weights: &[f64]) -> Option<ChiSquareSrm> {
    if observed.len() != weights.len() || weights.iter().any(|w| !(*w >= 0.0 && w.is_finite())) {
        return None;
    }
    let total_w: f64 = weights.iter().sum();
    let total: u64 = observed.iter().fold(0u64, |a, b| a.saturating_add(*b));
    if !(total_w > 0.0) || total == 0 {
        return None;
    }
    let positive = weights.iter().filter(|w| **w > 0.0).count();
    if observed
        .iter()
        .zip(weights)
        .any(|(o, w)| *w == 0.0 && *o > 0)
    {
        return Some(ChiSquareSrm {
            chi2: f64::MAX,
            df: positive.saturating_sub(1).max(1) as u32,
            p_value: 0.0,
            mismatch: true,
        });
    }
    if positive < 2 {
        return None;
    }
    let n = total as f64;
    let chi2: f64 = observed
        .iter()
        .zip(weights)
        .filter(|(_, w)| **w > 0.0)
        .map(|(o, w)| {
            let e = n * w / total_w;
            let d = *o as f64 - e;
            d * d / e
        })
        .sum();
    let df = (positive - 1) as u32;
    let p_value = chi2_sf(chi2, df as f64).clamp(0.0, 1.0);
    Some(ChiSquareSrm {
        chi2,
        df,
        p_value,
        mismatch: p_value < SRM_ALPHA,
    })
}

/// Sufficient statistics of a numeric metric: count, sum and sum of squares (what a Durable
/// Object can accumulate with three additions per observation).
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct MeanStats {
    pub n: u64,
    pub sum: f64,
    pub sum_sq: f64,
}

impl MeanStats {
    pub fn new(n: u64, sum: f64, sum_sq: f64) -> Self {
        Self { n, sum, sum_sq }
    }

    /// Add one observation.
    pub fn push(&mut self, x: f64) {
        self.n = self.n.saturating_add(1);
        self.sum += x;
        self.sum_sq += x * x;
    }

    /// Sample mean; `None` when `n == 0` or the sums are not finite.
    pub fn mean(&self) -> Option<f64> {
        if self.n == 0 || !self.sum.is_finite() {
            return None;
        }
        Some(self.sum / self.n as f64)
    }

    /// Unbiased sample variance `(sum_sq - sum^2/n) / (n - 1)`, clamped at 0 against rounding.
    /// `None` when `n < 2`. (For metrics with a large offset relative to their spread, shift
    /// the values before accumulating to avoid cancellation.)
    pub fn variance(&self) -> Option<f64> {
        if self.n < 2 || !self.sum.is_finite() || !self.sum_sq.is_finite() {
            return None;
        }
        let n = self.n as f64;
        Some(((self.sum_sq - self.sum * self.sum / n) / (n - 1.0)).max(0.0))
    }
}

/// Welch's t-test of treatment mean against control mean.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TTest {
    /// mean(treatment) - mean(control).
    pub diff: f64,
    pub t: f64,
    /// Welch–Satterthwaite degrees of freedom.
    pub df: f64,
    /// Two-sided p-value.
    pub p_value: f64,
}

/// Welch's unequal-variance t-test (two-sided). `None` when an arm has fewer than 2
/// observations or both variances are 0.
pub fn welch_t_test(control: &MeanStats, treatment: &MeanStats) -> Option<TTest> {
    let (m1, v1) = (control.mean()?, control.variance()?);
    let (m2, v2) = (treatment.mean()?, treatment.variance()?);
    let (n1, n2) = (control.n as f64, treatment.n as f64);
    let (s1, s2) = (v1 / n1, v2 / n2);
    let se2 = s1 + s2;
    if !(se2 > 0.0) || !se2.is_finite() {
        return None;
    }
    let diff = m2 - m1;
    let t = diff / se2.sqrt();
    let df = se2 * se2 / (s1 * s1 / (n1 - 1.0) + s2 * s2 / (n2 - 1.0));
    let p_value = student_t_two_sided(t, df).clamp(0.0, 1.0);
    Some(TTest {
        diff,
        t,
        df,
        p_value,
    })
}

/// Two-sided Student t critical value: the `t > 0` with `P(|T_df| > t) = 1 - confidence`
/// (bisection on the exact tail). `None` unless `df > 0` and `0 < confidence < 1`.
pub fn t_critical(confidence: f64, df: f64) -> Option<f64> {
    if !(df > 0.0 && confidence > 0.0 && confidence < 1.0) {
        return None;
    }
    let alpha = 1.0 - confidence;
    let mut hi = 1.0;
    let mut doublings = 0;
    while student_t_two_sided(hi, df) > alpha {
        hi *= 2.0;
        doublings += 1;
        if doublings > 80 {
            return None;
        }
    }
    let mut lo = 0.0;
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if student_t_two_sided(mid, df) > alpha {
            lo = mid;
        } else {
            hi = mid;
        }
        if hi - lo <= 1e-14 * hi {
            break;
        }
    }
    Some(0.5 * (lo + hi))
}

/// Student t interval of a mean. `None` below two observations.
pub fn mean_interval(m: &MeanStats, confidence: f64) -> Option<Interval> {
    let (mean, var) = (m.mean()?, m.variance()?);
    let n = m.n as f64;
    let half = t_critical(confidence, n - 1.0)? * (var / n).sqrt();
    Some(Interval {
        lower: mean - half,
        upper: mean + half,
    })
}

/// Welch interval of `mean(treatment) - mean(control)`: `diff +- t_{df} se` with the
/// Welch–Satterthwaite df. `None` where [`welch_t_test`] is.
pub fn welch_interval(
    control: &MeanStats,
    treatment: &MeanStats,
    confidence: f64,
) -> Option<Interval> {
    let t = welch_t_test(control, treatment)?;
    let se = (control.variance()? / control.n as f64 + treatment.variance()? / treatment.n as f64)
        .sqrt();
    let half = t_critical(confidence, t.df)? * se;
    Some(Interval {
        lower: t.diff - half,
        upper: t.diff + half,
    })
}

/// Everything the stats endpoint shows for one numeric-reward arm against the control.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MeanComparison {
    /// Rewards that arrived.
    pub n: u64,
    pub mean: Option<f64>,
    pub variance: Option<f64>,
    /// 95% Student t interval of `mean`.
    pub ci95: Option<Interval>,
    /// mean - control mean.
    pub diff: Option<f64>,
    /// 95% Welch interval of `diff`.
    pub diff_ci95: Option<Interval>,
    /// Welch's t-test against control.
    pub welch: Option<TTest>,
}

/// Summary of `arm` against `control` for numeric rewards; pass the control as `arm` for
/// its own row.
pub fn compare_means(control: &MeanStats, arm: &MeanStats) -> MeanComparison {
    MeanComparison {
        n: arm.n,
        mean: arm.mean(),
        variance: arm.variance(),
        ci95: mean_interval(arm, 0.95),
        diff: arm.mean().zip(control.mean()).map(|(a, c)| a - c),
        diff_ci95: welch_interval(control, arm, 0.95),
        welch: welch_t_test(control, arm),
    }
}

/// Unit-level sufficient statistics of a ratio metric `sum x_i / sum d_i` over `units`
/// independent units (x_i, d_i: the unit's numerator and denominator, e.g. its rewards and
/// its requests): what an arm's running aggregates hold, whatever the number of units.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct RatioStats {
    pub units: u64,
    /// sum x_i, sum d_i, sum x_i^2, sum d_i^2, sum x_i d_i.
    pub num: f64,
    pub den: f64,
    pub num_sq: f64,
    pub den_sq: f64,
    pub num_den: f64,
}

impl RatioStats {
    /// `sum x / sum d`; `None` when `sum d` is not positive.
    pub fn ratio(&self) -> Option<f64> {
        (self.den > 0.0 && self.num.is_finite()).then(|| self.num / self.den)
    }

    /// Delta-method variance of the ratio (Deng, Knoblich & Lu 2018):
    /// `(s_xx - 2 R s_xd + R^2 s_dd) / (K dbar^2)` with sample (co)variances over the K
    /// units, which is `K/(K-1) * sum (x_i - R d_i)^2 / (sum d)^2`: the cluster-robust
    /// variance of the mean of the request-level values with units as clusters. `None`
    /// below two units or without a positive denominator.
    pub fn variance(&self) -> Option<f64> {
        let r = self.ratio()?;
        if self.units < 2 {
            return None;
        }
        let k = self.units as f64;
        // sum (x - R d)^2 = sum x^2 - 2 R sum x d + R^2 sum d^2 (clamped against rounding).
        let ss = (self.num_sq - 2.0 * r * self.num_den + r * r * self.den_sq).max(0.0);
        let v = k / (k - 1.0) * ss / (self.den * self.den);
        v.is_finite().then_some(v)
    }

    /// Interval `ratio +- z_{0.975} se` (normal, delta method).
    pub fn ci95(&self) -> Option<Interval> {
        let (r, v) = (self.ratio()?, self.variance()?);
        let half = normal_quantile(0.975) * v.sqrt();
        Some(Interval {
            lower: r - half,
            upper: r + half,
        })
    }
}

/// A difference of two independent estimates with its normal test and interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Difference {
    /// treatment - control.
    pub diff: f64,
    /// Standard error of `diff`.
    pub se: f64,
    pub z: f64,
    /// Two-sided fixed-horizon p-value.
    pub p_value: f64,
    /// 95% interval `diff +- 1.96 se`.
    pub diff_ci: Interval,
}

/// The difference of two ratio metrics, variances from the delta method, as a z-test.
/// `None` where either variance is. Zero variance gives `z = 0`, `p = 1`.
pub fn ratio_difference(control: &RatioStats, treatment: &RatioStats) -> Option<Difference> {
    let (rc, vc) = (control.ratio()?, control.variance()?);
    let (rt, vt) = (treatment.ratio()?, treatment.variance()?);
    let diff = rt - rc;
    let se = (vc + vt).sqrt();
    let (z, p_value) = if se > 0.0 {
        let z = diff / se;
        (z, (2.0 * normal_sf(z.abs())).min(1.0))
    } else {
        (0.0, 1.0)
    };
    let half = normal_quantile(0.975) * se;
    Some(Difference {
        diff,
        se,
        z,
        p_value,
        diff_ci: Interval {
            lower: diff - half,
            upper: diff + half,
        },
    })
}

/// Everything the stats endpoint shows for one ratio-metric arm against the control.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RatioComparison {
    /// Units of the arm.
    pub n: u64,
    /// sum of the denominators (e.g. rewards received).
    pub observations: f64,
    pub mean: Option<f64>,
    /// 95% delta-method interval of `mean`.
    pub ci95: Option<Interval>,
    /// Delta-method z-test of the difference against the control (`None` for the control).
    pub z_test: Option<Difference>,
}

/// Summary of ratio-metric `arm` against `control`; `control == None` for the control's row.
pub fn compare_ratio(control: Option<&RatioStats>, arm: &RatioStats) -> RatioComparison {
    RatioComparison {
        n: arm.units,
        observations: arm.den,
        mean: arm.ratio(),
        ci95: arm.ci95(),
        z_test: control.and_then(|c| ratio_difference(c, arm)),
    }
}

/// Concentration of the Dirichlet prior of the sequential SRM test: the prior of the arms'
/// shares is Dirichlet(k * planned shares), the default of the `savvi` implementation of
/// Lindon & Malek's test. Smaller k reacts faster to gross mismatches, larger k to small ones.
pub const SRM_PRIOR_CONCENTRATION: f64 = 100.0;

/// ln of the Bayes factor of the sequential multinomial test (Lindon & Malek 2022,
/// "Anytime-valid inference for multinomial count data"): unit counts `observed` against
/// the planned shares `weights` (any positive scale), with a Dirichlet(`k` * shares) mixture
/// over the alternative:
///
/// `ln BF = ln G(A) - ln G(A + n) + sum [ln G(a_i + x_i) - ln G(a_i)] - sum x_i ln theta_i`,
///
/// `a_i = k theta_i`, `A = sum a_i`, `n = sum x_i`. The Bayes factor of cumulative counts is a
/// nonnegative martingale under the planned split, so `min(1, 1/max BF)` over any sequence of
/// looks is an always-valid p-value. Arms with weight 0 take no part unless they have units:
/// then the mismatch is certain (`+inf`). `None` when lengths differ, a weight is negative or
/// not finite, or fewer than two arms have positive weight.
pub fn srm_log_bayes_factor(observed: &[u64], weights: &[f64], k: f64) -> Option<f64> {
    if observed.len() != weights.len()
        || weights.iter().any(|w| !(*w >= 0.0 && w.is_finite()))
        || !(k > 0.0 && k.is_finite())
    {
        return None;
    }
    if observed
        .iter()
        .zip(weights)
        .any(|(o, w)| *w == 0.0 && *o > 0)
    {
        return Some(f64::INFINITY);
    }
    let total_w: f64 = weights.iter().sum();
    if weights.iter().filter(|w| **w > 0.0).count() < 2 {
        return None;
    }
    let (mut a_sum, mut n, mut acc) = (0.0, 0.0, 0.0);
    for (x, w) in observed.iter().zip(weights).filter(|(_, w)| **w > 0.0) {
        let theta = w / total_w;
        let a = k * theta;
        let x = *x as f64;
        acc += ln_gamma(a + x) - ln_gamma(a) - x * theta.ln();
        a_sum += a;
        n += x;
    }
    Some(ln_gamma(a_sum) - ln_gamma(a_sum + n) + acc)
}

/// The sequential sample-ratio check of one split, updated at every look.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SrmState {
    /// Always-valid p-value so far: the running minimum of 1/BF (1 before any unit).
    pub p_value: f64,
    /// Looks with at least one unit.
    pub looks: u64,
}

impl Default for SrmState {
    fn default() -> Self {
        Self {
            p_value: 1.0,
            looks: 0,
        }
    }
}

/// Sample-ratio-mismatch check of distinct units against the planned split.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SrmResult {
    /// ln of the Bayes factor at this look ([`srm_log_bayes_factor`]).
    pub log_bayes_factor: f64,
    /// Always-valid p-value (running minimum over the looks).
    pub p_value: f64,
    /// `p_value < SRM_ALPHA`.
    pub mismatch: bool,
}

impl SrmState {
    /// Takes one look at cumulative unit counts; `None` where [`srm_log_bayes_factor`] is
    /// or nothing was observed (the state is then unchanged).
    pub fn update(&mut self, observed: &[u64], weights: &[f64]) -> Option<SrmResult> {
        if observed.iter().all(|o| *o == 0) {
            return None;
        }
        let lbf = srm_log_bayes_factor(observed, weights, SRM_PRIOR_CONCENTRATION)?;
        self.looks = self.looks.saturating_add(1);
        let p = if lbf == f64::INFINITY {
            0.0
        } else {
            (-lbf).exp().min(1.0)
        };
        if p < self.p_value {
            self.p_value = p;
        }
        Some(SrmResult {
            log_bayes_factor: lbf,
            p_value: self.p_value,
            mismatch: self.p_value < SRM_ALPHA,
        })
    }

    /// The result as of the last look, without a new one.
    pub fn result(&self, log_bayes_factor: f64) -> SrmResult {
        SrmResult {
            log_bayes_factor,
            p_value: self.p_value,
            mismatch: self.p_value < SRM_ALPHA,
        }
    }
}

/// What a comparison concludes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VerdictResult {
    /// The arm is better than the control (higher rate or mean).
    Winner,
    /// The arm is worse than the control.
    Loser,
    Inconclusive,
}

/// The one verdict of an arm against the control: decided by the always-valid test (safe
/// however often anyone looks), named in `test`; `reason` says why when inconclusive.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    pub result: VerdictResult,
    /// The deciding test: `"always_valid"`.
    pub test: &'static str,
    /// Its p-value (`None` before its first usable look).
    pub p_value: Option<f64>,
    pub alpha: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// The name of the test that decides every verdict.
pub const VERDICT_TEST: &str = "always_valid";

/// The verdict from the always-valid test's state and the estimated difference; a sample
/// ratio mismatch makes any result inconclusive (the split did not behave as planned).
pub fn verdict(
    seq: Option<&MsprtState>,
    diff: Option<f64>,
    alpha: f64,
    srm_mismatch: bool,
) -> Verdict {
    let used = seq.filter(|s| s.used_looks > 0);
    let p_value = used.map(|s| s.p_value);
    let (result, reason) = match (used, diff) {
        _ if srm_mismatch => (
            VerdictResult::Inconclusive,
            Some("sample ratio mismatch: the units did not split as planned".to_string()),
        ),
        (None, _) | (_, None) => (
            VerdictResult::Inconclusive,
            Some("not enough data yet".to_string()),
        ),
        (Some(s), Some(d)) if s.p_value < alpha && d > 0.0 => (VerdictResult::Winner, None),
        (Some(s), Some(d)) if s.p_value < alpha && d < 0.0 => (VerdictResult::Loser, None),
        (Some(_), Some(_)) => (
            VerdictResult::Inconclusive,
            Some(format!("always-valid p-value not below {alpha}")),
        ),
    };
    Verdict {
        result,
        test: VERDICT_TEST,
        p_value,
        alpha,
        reason,
    }
}

/// Everything the stats endpoint shows for one conversion arm against the control.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ConversionComparison {
    /// Units of the arm.
    pub n: u64,
    /// Units that converted.
    pub conversions: u64,
    /// `None` without units.
    pub rate: Option<f64>,
    /// 95% Wilson interval of `rate` (`None` when n = 0).
    pub ci95: Option<Interval>,
    /// Pooled z-test against control (`None` when an arm is empty).
    pub z_test: Option<ZTest>,
    /// P(rate > control rate), Beta(1, 1) priors (`None` while either arm has no unit).
    pub prob_beat_control: Option<f64>,
}

/// Summary of `arm` against `control`; pass the control as `arm` for its own row.
pub fn compare_conversion(control: Proportion, arm: Proportion) -> ConversionComparison {
    ConversionComparison {
        n: arm.n,
        conversions: arm.conversions,
        rate: arm.rate().filter(|_| arm.n > 0),
        ci95: wilson_interval(arm, 0.95),
        z_test: two_proportion_z_test(control, arm),
        prob_beat_control: prob_beat_control(control, arm).filter(|_| control.n > 0 && arm.n > 0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(n: u64, x: u64) -> Proportion {
        Proportion::new(n, x)
    }

    #[test]
    fn wilson_bounds_and_degenerate() {
        let ci = wilson_interval(p(100, 0), 0.95).unwrap();
        assert!(ci.lower.abs() < 1e-15);
        assert!(ci.upper > 0.03 && ci.upper < 0.04);
        let ci = wilson_interval(p(100, 100), 0.95).unwrap();
        assert!((ci.upper - 1.0).abs() < 1e-15);
        assert!(wilson_interval(p(0, 0), 0.95).is_none());
        assert!(wilson_interval(p(5, 6), 0.95).is_none());
        assert!(wilson_interval(p(5, 2), 1.0).is_none());
    }

    #[test]
    fn z_test_degenerate() {
        assert!(two_proportion_z_test(p(0, 0), p(10, 1)).is_none());
        let z = two_proportion_z_test(p(10, 0), p(10, 0)).unwrap();
        assert_eq!((z.z, z.p_value), (0.0, 1.0));
        let z = two_proportion_z_test(p(1000, 50), p(1000, 80)).unwrap();
        assert!(z.z > 0.0 && z.p_value < 0.01);
    }

    #[test]
    fn prob_beat_control_symmetry_and_edges() {
        assert!((prob_beat_control(p(0, 0), p(0, 0)).unwrap() - 0.5).abs() < 1e-12);
        let a = prob_beat_control(p(1000, 50), p(1000, 60)).unwrap();
        let b = prob_beat_control(p(1000, 60), p(1000, 50)).unwrap();
        assert!((a + b - 1.0).abs() < 1e-12, "{a} {b}");
        assert!(a > 0.5);
        // Identical arms: exactly 1/2 by symmetry.
        let c = prob_beat_control(p(500, 30), p(500, 30)).unwrap();
        assert!((c - 0.5).abs() < 1e-12, "{c}");
        assert!(prob_beat_control(p(5, 6), p(5, 1)).is_none());
        // Large counts do not overflow.
        let d = prob_beat_control(p(2_000_000, 100_000), p(2_000_000, 101_000)).unwrap();
        assert!(d > 0.98 && d <= 1.0, "{d}");
    }

    #[test]
    fn msprt_running_min_and_guards() {
        let cfg = MsprtConfig::default();
        let mut s = MsprtState::new();
        let step = s.update(p(10, 1), p(10, 2), &cfg);
        assert!(step.log_lambda.is_none());
        assert_eq!(step.p_value, 1.0);
        let s1 = s.update(p(5000, 250), p(5000, 330), &cfg);
        assert!(s1.p_value < 0.05, "{s1:?}");
        // A later, weaker snapshot cannot raise the p-value.
        let s2 = s.update(p(6000, 300), p(6000, 300), &cfg);
        assert_eq!(s2.p_value, s1.p_value);
        assert!(s2.significant);
        assert_eq!(s.looks, 3);
        assert_eq!(s.used_looks, 2);
    }

    #[test]
    fn srm_cases() {
        let r = srm_test(&[5000, 5000], &[0.5, 0.5]).unwrap();
        assert_eq!(r.p_value, 1.0);
        assert!(!r.mismatch);
        let r = srm_test(&[5200, 4800], &[1.0, 1.0]).unwrap();
        assert!(r.mismatch, "{r:?}");
        let r = srm_test(&[10, 0, 3], &[1.0, 0.0, 1.0]).unwrap();
        assert_eq!(r.df, 1);
        let r = srm_test(&[10, 1], &[1.0, 0.0]).unwrap();
        assert!(r.mismatch);
        assert!(srm_test(&[1, 2], &[1.0]).is_none());
        assert!(srm_test(&[0, 0], &[1.0, 1.0]).is_none());
        assert!(srm_test(&[1, 2], &[-1.0, 1.0]).is_none());
    }

    #[test]
    fn welch_degenerate() {
        let a = MeanStats::new(1, 1.0, 1.0);
        let b = MeanStats::new(10, 10.0, 12.0);
        assert!(welch_t_test(&a, &b).is_none());
        let c = MeanStats::new(3, 3.0, 3.0);
        assert!(welch_t_test(&c, &c).is_none());
        let mut m = MeanStats::default();
        for x in [1.0, 2.0, 3.0, 4.0] {
            m.push(x);
        }
        assert_eq!(m.mean(), Some(2.5));
        assert!((m.variance().unwrap() - 5.0 / 3.0).abs() < 1e-12);
    }

    #[test]
    fn compare_conversion_never_nan() {
        for &(n, x) in &[(0, 0), (1, 0), (1, 1), (100, 7)] {
            let c = compare_conversion(p(0, 0), p(n, x));
            assert_eq!(c.rate.is_none(), n == 0);
            assert!(c.prob_beat_control.is_none());
            if let Some(pb) = c.prob_beat_control {
                assert!((0.0..=1.0).contains(&pb));
            }
        }
    }
}
