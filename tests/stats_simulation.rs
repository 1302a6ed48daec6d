//! Seeded simulations of the statistics, with figures printed for the record:
//! `cargo test -p switchyard-core --test stats_simulation -- --nocapture`.
//!
//! (a) A/A experiments watched after every batch: the always-valid mSPRT keeps the
//!     false-positive rate at or below alpha, the naive repeated z-test does not.
//! (b) Bernoulli bandit 0.05 / 0.06 / 0.04: regret of Thompson, UCB1, epsilon-greedy and a
//!     fixed equal split, with weights recomputed every 100 pulls as the Durable Object would.

#![cfg(not(target_arch = "wasm32"))]

use switchyard_core::base::{Rng, Xoshiro256};
use switchyard_core::statistics::{two_proportion_z_test, MsprtConfig, MsprtState, Proportion};
use switchyard_core::statistics::{weights, Algorithm, ArmStats, BanditParams};

fn binomial(n: u64, p: f64, rng: &mut impl Rng) -> u64 {
    (0..n).filter(|_| rng.next_f64() < p).count() as u64
}

#[test]
fn aa_experiments_msprt_controls_false_positives() {
    const EXPERIMENTS: u32 = 1000;
    const BATCHES: u32 = 20;
    const BATCH_PER_ARM: u64 = 500;
    const RATE: f64 = 0.05;
    let cfg = MsprtConfig::default();
    let mut rng = Xoshiro256::seed_from_u64(0x005e_edaa);
    let (mut msprt_fp, mut naive_fp, mut final_fp) = (0u32, 0u32, 0u32);
    for _ in 0..EXPERIMENTS {
        let (mut c, mut t) = (Proportion::default(), Proportion::default());
        let mut state = MsprtState::new();
        let (mut msprt_hit, mut naive_hit) = (false, false);
        let mut last_p = 1.0;
        for _ in 0..BATCHES {
            c.n += BATCH_PER_ARM;
            c.conversions += binomial(BATCH_PER_ARM, RATE, &mut rng);
            t.n += BATCH_PER_ARM;
            t.conversions += binomial(BATCH_PER_ARM, RATE, &mut rng);
            msprt_hit |= state.update(c, t, &cfg).significant;
            if let Some(z) = two_proportion_z_test(c, t) {
                naive_hit |= z.p_value < cfg.alpha;
                last_p = z.p_value;
            }
        }
        msprt_fp += msprt_hit as u32;
        naive_fp += naive_hit as u32;
        final_fp += (last_p < cfg.alpha) as u32;
    }
    let rate = |x: u32| x as f64 / EXPERIMENTS as f64;
    println!(
        "A/A: {EXPERIMENTS} experiments, {BATCHES} looks of {BATCH_PER_ARM} units/arm, rate {RATE}, \
         alpha {}, mSPRT tau^2 {}",
        cfg.alpha, cfg.tau2
    );
    println!("  mSPRT (always valid), any look : {:.3}", rate(msprt_fp));
    println!("  naive z-test, any look         : {:.3}", rate(naive_fp));
    println!("  z-test at the final look only  : {:.3}", rate(final_fp));
    assert!(
        rate(msprt_fp) <= 0.05,
        "mSPRT false-positive rate {}",
        rate(msprt_fp)
    );
    assert!(
        rate(naive_fp) > 0.10,
        "peeking should inflate the naive test: {}",
        rate(naive_fp)
    );
}

/// Expected regret (sum of best mean - pulled arm's mean) of one run.
fn bandit_run(algo: Option<Algorithm>, probs: &[f64], pulls: u32, every: u32, seed: u64) -> f64 {
    let mut rng = Xoshiro256::seed_from_u64(seed);
    let params = BanditParams::default();
    let best = probs.iter().copied().fold(f64::MIN, f64::max);
    let mut arms = vec![ArmStats::default(); probs.len()];
    let mut w = vec![1.0 / probs.len() as f64; probs.len()];
    let mut regret = 0.0;
    for i in 0..pulls {
        if i % every == 0 {
            if let Some(algo) = algo {
                w = weights(algo, &arms, &params, &mut rng);
            }
        }
        let u = rng.next_f64();
        let mut acc = 0.0;
        let mut arm = probs.len() - 1;
        for (j, wj) in w.iter().enumerate() {
            acc += wj;
            if u < acc {
                arm = j;
                break;
            }
        }
        let reward = if rng.next_f64() < probs[arm] {
            1.0
        } else {
            0.0
        };
        arms[arm].push(reward);
        regret += best - probs[arm];
    }
    regret
}

#[test]
fn bernoulli_bandit_regret() {
    const RUNS: u64 = 50;
    const PULLS: u32 = 20_000;
    const EVERY: u32 = 100;
    let probs = [0.05, 0.06, 0.04];
    let algos: [(&str, Option<Algorithm>); 4] = [
        ("thompson", Some(Algorithm::Thompson)),
        ("ucb1", Some(Algorithm::Ucb1)),
        (
            "epsilon_greedy(0.1)",
            Some(Algorithm::EpsilonGreedy { epsilon: 0.1 }),
        ),
        ("equal split", None),
    ];
    let p = BanditParams::default();
    // Seeds 1000.. by default; SY_SEED_BASE=<n> re-runs the comparison on other seeds.
    let base: u64 = std::env::var("SY_SEED_BASE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    println!(
        "Bandit: arms {probs:?}, {PULLS} pulls, weights every {EVERY} pulls, {RUNS} runs (seeds {base}..), \
         min_share {}, min_samples {}, thompson draws {}",
        p.min_share, p.min_samples, p.draws
    );
    let mut mean_regret = Vec::new();
    for (name, algo) in algos {
        let regrets: Vec<f64> = (0..RUNS)
            .map(|s| bandit_run(algo, &probs, PULLS, EVERY, base + s))
            .collect();
        let mean = regrets.iter().sum::<f64>() / RUNS as f64;
        let mut sorted = regrets.clone();
        sorted.sort_by(f64::total_cmp);
        let (median, p90) = (sorted[sorted.len() / 2], sorted[sorted.len() * 9 / 10]);
        let sd =
            (regrets.iter().map(|r| (r - mean).powi(2)).sum::<f64>() / (RUNS as f64 - 1.0)).sqrt();
        println!(
            "  {name:<20} mean regret {mean:7.1}  (se {:4.1}, sd {sd:5.1}, median {median:6.1}, p90 {p90:6.1})",
            sd / (RUNS as f64).sqrt()
        );
        mean_regret.push(mean);
    }
    let (ts, _ucb, eg, eq) = (
        mean_regret[0],
        mean_regret[1],
        mean_regret[2],
        mean_regret[3],
    );
    assert!(ts < eg, "thompson {ts} should beat epsilon-greedy {eg}");
    assert!(
        ts < 0.5 * eq,
        "thompson {ts} should be far below the equal split {eq}"
    );
}
