//! Random variates from the injected [`Rng`]: standard normal (Marsaglia polar method),
//! Gamma (Marsaglia–Tsang, with the `U^(1/a)` boost for shape < 1), Beta (ratio of Gammas)
//! and Student t. All loops are rejection loops whose acceptance rate is above 0.5, so they
//! end after a couple of rounds; a hard cap keeps them total even for a broken generator.

// `!(x > 0.0)` is deliberate throughout: unlike `x <= 0.0`, it is also true for NaN.
#![allow(clippy::neg_cmp_op_on_partial_ord)]

use crate::base::Rng;

/// Rejection-loop cap; never reached with a working generator (p(reject) < 0.5 per round).
const MAX_ROUNDS: usize = 1_000;

/// Uniform in (0, 1): never exactly 0, so logs and divisions are safe.
fn open01(rng: &mut impl Rng) -> f64 {
    ((rng.next_u64() >> 11) as f64 + 0.5) * (1.0 / (1u64 << 53) as f64)
}

/// Standard normal draw (Marsaglia polar method; the second value is discarded to keep the
/// generator stateless).
pub fn standard_normal(rng: &mut impl Rng) -> f64 {
    for _ in 0..MAX_ROUNDS {
        let u = 2.0 * open01(rng) - 1.0;
        let v = 2.0 * open01(rng) - 1.0;
        let s = u * u + v * v;
        if s > 0.0 && s < 1.0 {
            return u * (-2.0 * s.ln() / s).sqrt();
        }
    }
    0.0
}

/// Gamma(shape, 1) draw. Non-positive or non-finite shape returns 0.
pub fn gamma(shape: f64, rng: &mut impl Rng) -> f64 {
    if !(shape > 0.0) || !shape.is_finite() {
        return 0.0;
    }
    if shape < 1.0 {
        // Gamma(a) = Gamma(a + 1) * U^(1/a).
        let g = gamma(shape + 1.0, rng);
        return g * open01(rng).powf(1.0 / shape);
    }
    let d = shape - 1.0 / 3.0;
    let c = 1.0 / (9.0 * d).sqrt();
    for _ in 0..MAX_ROUNDS {
        let x = standard_normal(rng);
        let v = 1.0 + c * x;
        if v <= 0.0 {
            continue;
        }
        let v = v * v * v;
        let u = open01(rng);
        let x2 = x * x;
        if u < 1.0 - 0.0331 * x2 * x2 || u.ln() < 0.5 * x2 + d * (1.0 - v + v.ln()) {
            return d * v;
        }
    }
    shape
}

/// Beta(a, b) draw as X / (X + Y) with X ~ Gamma(a), Y ~ Gamma(b). Falls back to the mean
/// when both Gammas underflow.
pub fn beta(a: f64, b: f64, rng: &mut impl Rng) -> f64 {
    let x = gamma(a, rng);
    let y = gamma(b, rng);
    let s = x + y;
    if s > 0.0 && s.is_finite() {
        x / s
    } else if a > 0.0 && b > 0.0 {
        a / (a + b)
    } else {
        0.5
    }
}

/// Student t draw with `df` degrees of freedom: Z / sqrt(ChiSq(df) / df).
pub fn student_t(df: f64, rng: &mut impl Rng) -> f64 {
    let z = standard_normal(rng);
    let chi2 = 2.0 * gamma(0.5 * df, rng);
    if chi2 > 0.0 && df > 0.0 {
        z / (chi2 / df).sqrt()
    } else {
        z
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::base::Xoshiro256;

    fn moments(xs: &[f64]) -> (f64, f64) {
        let n = xs.len() as f64;
        let m = xs.iter().sum::<f64>() / n;
        let v = xs.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / (n - 1.0);
        (m, v)
    }

    #[test]
    fn normal_moments() {
        let mut rng = Xoshiro256::seed_from_u64(1);
        let xs: Vec<f64> = (0..200_000).map(|_| standard_normal(&mut rng)).collect();
        let (m, v) = moments(&xs);
        assert!(m.abs() < 0.01, "{m}");
        assert!((v - 1.0).abs() < 0.01, "{v}");
    }

    #[test]
    fn gamma_moments_small_and_large_shape() {
        let mut rng = Xoshiro256::seed_from_u64(2);
        for &a in &[0.3, 1.0, 4.5, 250.0] {
            let xs: Vec<f64> = (0..100_000).map(|_| gamma(a, &mut rng)).collect();
            let (m, v) = moments(&xs);
            assert!((m - a).abs() < 0.03 * a.max(1.0), "a={a} mean={m}");
            assert!((v - a).abs() < 0.06 * a.max(1.0), "a={a} var={v}");
            assert!(xs.iter().all(|x| *x >= 0.0 && x.is_finite()));
        }
        assert_eq!(gamma(0.0, &mut rng), 0.0);
        assert_eq!(gamma(f64::NAN, &mut rng), 0.0);
    }

    #[test]
    fn beta_mean() {
        let mut rng = Xoshiro256::seed_from_u64(3);
        let xs: Vec<f64> = (0..100_000).map(|_| beta(6.0, 94.0, &mut rng)).collect();
        let (m, v) = moments(&xs);
        assert!((m - 0.06).abs() < 0.001, "{m}");
        let want = 6.0 * 94.0 / (100.0f64 * 100.0 * 101.0);
        assert!((v - want).abs() < 0.05 * want, "{v} vs {want}");
    }
}
