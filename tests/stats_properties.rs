//! Property tests of the statistics invariants (native only: proptest is a native dev-dependency).
#![cfg(not(target_arch = "wasm32"))]

use proptest::prelude::*;
use switchyard_core::base::Xoshiro256;
use switchyard_core::statistics::{beta_inc, normal_cdf, normal_quantile};
use switchyard_core::statistics::{
    compare_conversion, prob_beat_control, srm_test, MsprtConfig, MsprtState, Proportion, SrmState,
    UnitRow, UnitSums,
};
use switchyard_core::statistics::{weights, Algorithm, ArmStats, BanditParams};

fn algo() -> impl Strategy<Value = Algorithm> {
    prop_oneof![
        Just(Algorithm::Thompson),
        Just(Algorithm::Ucb1),
        (-1.0f64..2.0).prop_map(|epsilon| Algorithm::EpsilonGreedy { epsilon }),
    ]
}

fn arm() -> impl Strategy<Value = ArmStats> {
    prop_oneof![
        (0u64..5_000, 0.0f64..1.0).prop_map(|(n, r)| {
            let s = (n as f64 * r).floor();
            ArmStats::new(n, s, s)
        }),
        (0u64..5_000, -100.0f64..100.0, 0.0f64..1e4).prop_map(|(n, s, q)| ArmStats::new(n, s, q)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn bandit_weights_are_a_floored_distribution(
        algo in algo(),
        arms in prop::collection::vec(arm(), 1..6),
        min_share in -0.1f64..0.5,
        min_samples in 0u64..200,
        seed in any::<u64>(),
    ) {
        let params = BanditParams { min_share, min_samples, draws: 64, ..BanditParams::default() };
        let mut rng = Xoshiro256::seed_from_u64(seed);
        let w = weights(algo, &arms, &params, &mut rng);
        prop_assert_eq!(w.len(), arms.len());
        let floor = min_share.clamp(0.0, 1.0 / arms.len() as f64);
        prop_assert!(w.iter().all(|x| x.is_finite() && *x >= floor - 1e-12), "{:?}", w);
        prop_assert!((w.iter().sum::<f64>() - 1.0).abs() < 1e-12);
    }

    #[test]
    fn quantile_inverts_cdf(p in 1e-12f64..1.0) {
        let x = normal_quantile(p);
        prop_assert!((normal_cdf(x) - p).abs() <= 1e-12 * p.max(1e-3));
    }

    #[test]
    fn beta_inc_is_a_cdf(a in 0.1f64..500.0, b in 0.1f64..500.0, x in 0.0f64..1.0, dx in 0.0f64..0.1) {
        let lo = beta_inc(a, b, x);
        let hi = beta_inc(a, b, (x + dx).min(1.0));
        prop_assert!((0.0..=1.0).contains(&lo));
        prop_assert!(hi >= lo - 1e-12, "{} {}", lo, hi);
    }

    #[test]
    fn ab_outputs_never_nan(nc in 0u64..3000, xc in 0u64..3000, nt in 0u64..3000, xt in 0u64..3000) {
        let c = Proportion::new(nc, xc.min(nc));
        let t = Proportion::new(nt, xt.min(nt));
        let r = compare_conversion(c, t);
        prop_assert!(r.rate.is_none_or(f64::is_finite));
        prop_assert_eq!(r.prob_beat_control.is_some(), nc > 0 && nt > 0);
        let pb = prob_beat_control(c, t).unwrap_or(0.5);
        prop_assert!((0.0..=1.0).contains(&pb));
        let back = prob_beat_control(t, c).unwrap_or(0.5);
        prop_assert!((pb + back - 1.0).abs() < 1e-9, "{} {}", pb, back);
        if let Some(z) = r.z_test {
            prop_assert!(z.z.is_finite() && (0.0..=1.0).contains(&z.p_value));
        }
        let mut s = MsprtState::new();
        let step = s.update(c, t, &MsprtConfig::default());
        prop_assert!((0.0..=1.0).contains(&step.p_value));
        if let Some(srm) = srm_test(&[nc, nt], &[1.0, 1.0]) {
            prop_assert!((0.0..=1.0).contains(&srm.p_value));
        }
        let mut seq = SrmState::default();
        if let Some(srm) = seq.update(&[nc, nt], &[0.9, 0.1]) {
            prop_assert!((0.0..=1.0).contains(&srm.p_value) && !srm.log_bayes_factor.is_nan());
        }
    }

    /// Running unit sums updated row by row equal a recount of the final rows, whatever the
    /// order of updates; the delta-method variance is never negative.
    #[test]
    fn unit_sums_are_exact_under_updates(
        ops in proptest::collection::vec((0usize..20, 0u64..50, 0u64..3, 0u64..4, 0u8..6), 1..200)
    ) {
        let mut rows: Vec<Option<UnitRow>> = vec![None; 20];
        let mut sums = UnitSums::default();
        for (unit, n, e, k, y) in ops {
            let old = rows[unit];
            let base = old.unwrap_or_default();
            let new = UnitRow {
                requests: base.requests + n,
                errors: base.errors + e.min(n),
                rewards: base.rewards + k,
                reward_sum: base.reward_sum + f64::from(y) * 0.5,
            };
            sums.update(old.as_ref(), &new);
            rows[unit] = Some(new);
        }
        let mut fresh = UnitSums::default();
        for r in rows.iter().flatten() {
            fresh.update(None, r);
        }
        prop_assert_eq!(sums.units, fresh.units);
        prop_assert_eq!(sums.requests, fresh.requests);
        prop_assert_eq!(sums.converted, fresh.converted);
        for (a, b) in [
            (sums.requests_sq, fresh.requests_sq),
            (sums.reward_sum, fresh.reward_sum),
            (sums.reward_sum_sq, fresh.reward_sum_sq),
            (sums.reward_sum_rewards, fresh.reward_sum_rewards),
        ] {
            prop_assert!((a - b).abs() <= 1e-9 * b.abs().max(1.0), "{} {}", a, b);
        }
        for r in [sums.reward_per_feedback(), sums.errors_per_request()] {
            if let Some(v) = r.variance() {
                prop_assert!(v >= 0.0 && v.is_finite());
            }
        }
    }
}
