//! Seeded simulations of the statistics, with figures printed for the record:
//! `cargo test -p switchyard-core --test stats_simulation -- --nocapture --test-threads=1`.
//!
//! (a) A/A experiments with repeated users (heavy-tailed requests per user, user-level
//!     conversion propensities), watched after every batch: the unit-level SRM test, the
//!     always-valid test (every look) and the fixed-horizon z-test (final look only) reject at
//!     most their alpha; the same data analysed per request rejects far more.
//! (b) Power of the always-valid test (every look) beside the fixed-horizon z-test for true
//!     effects on the same users.
//! (c) Bernoulli bandit 0.05 / 0.06 / 0.04: regret of Thompson, UCB1, epsilon-greedy and a
//!     fixed equal split, with weights recomputed every 100 pulls as the Durable Object would.
//!
//! `SY_AA_EXPERIMENTS=<n>` changes the number of A/A experiments (default 10,000).

#![cfg(not(target_arch = "wasm32"))]

use switchyard_core::base::{Rng, Xoshiro256};
use switchyard_core::statistics as sample;
use switchyard_core::statistics::{
    srm_test, two_proportion_z_test, MsprtConfig, MsprtState, Proportion, SrmState, SRM_ALPHA,
};
use switchyard_core::statistics::{weights, Algorithm, ArmStats, BanditParams};

/// Requests of one user: discrete Pareto, P(N >= k) = k^-1.8 (mean 2.25, infinite variance),
/// capped at 10,000.
fn requests_per_user(rng: &mut impl Rng) -> u64 {
    let u = 1.0 - rng.next_f64(); // (0, 1]
    (u.powf(-1.0 / 1.8).floor() as u64).clamp(1, 10_000)
}

/// One arm's running figures, per unit and per request.
#[derive(Default, Clone, Copy)]
struct Arm {
    units: u64,
    converted_units: u64,
    requests: u64,
    converted_requests: u64,
}

/// One user arrives in `arm` (requests converting independently at the user's propensity,
/// drawn from Beta(a, b) and scaled by `lift`).
fn user(arm: &mut Arm, a: f64, b: f64, lift: f64, rng: &mut impl Rng) {
    let p = (sample::beta(a, b, rng) * lift).min(1.0);
    let n = requests_per_user(rng);
    let conv = (0..n).filter(|_| rng.next_f64() < p).count() as u64;
    arm.units += 1;
    arm.requests += n;
    arm.converted_units += u64::from(conv > 0);
    arm.converted_requests += conv;
}

/// What one experiment's analyses concluded.
#[derive(Default)]
struct Rejections {
    unit_srm: bool,
    unit_msprt: bool,
    unit_z_any: bool,
    unit_z_final: bool,
    request_srm: bool,
    request_msprt: bool,
    request_z_any: bool,
    request_z_final: bool,
}

/// One experiment: `looks` batches of `users` users split `share` to the treatment, whose
/// propensities are scaled by `lift`; every analysis looks after every batch.
fn experiment(
    share: f64,
    looks: u32,
    users: u32,
    lift: f64,
    cfg: &MsprtConfig,
    rng: &mut impl Rng,
) -> Rejections {
    let (a, b) = (0.5, 4.5); // mean propensity 0.1
    let (mut c, mut t) = (Arm::default(), Arm::default());
    let (mut srm, mut unit_seq, mut req_seq) =
        (SrmState::default(), MsprtState::new(), MsprtState::new());
    let weights = [1.0 - share, share];
    let mut r = Rejections::default();
    for look in 0..looks {
        for _ in 0..users {
            if rng.next_f64() < share {
                user(&mut t, a, b, lift, rng);
            } else {
                user(&mut c, a, b, 1.0, rng);
            }
        }
        let last = look + 1 == looks;
        let (uc, ut) = (
            Proportion::new(c.units, c.converted_units),
            Proportion::new(t.units, t.converted_units),
        );
        let (rc, rt) = (
            Proportion::new(c.requests, c.converted_requests),
            Proportion::new(t.requests, t.converted_requests),
        );
        if let Some(s) = srm.update(&[c.units, t.units], &weights) {
            r.unit_srm |= s.mismatch;
        }
        r.request_srm |= srm_test(&[c.requests, t.requests], &weights).is_some_and(|s| s.mismatch);
        r.unit_msprt |= unit_seq.update(uc, ut, cfg).significant;
        r.request_msprt |= req_seq.update(rc, rt, cfg).significant;
        if let Some(z) = two_proportion_z_test(uc, ut) {
            r.unit_z_any |= z.p_value < cfg.alpha;
            r.unit_z_final |= last && z.p_value < cfg.alpha;
        }
        if let Some(z) = two_proportion_z_test(rc, rt) {
            r.request_z_any |= z.p_value < cfg.alpha;
            r.request_z_final |= last && z.p_value < cfg.alpha;
        }
    }
    r
}

/// Upper end of a one-sided 99.9% band around `alpha` for a rate over `n` experiments.
fn bound(alpha: f64, n: u32) -> f64 {
    alpha + 3.1 * (alpha * (1.0 - alpha) / n as f64).sqrt()
}

#[test]
fn aa_experiments_with_repeated_users() {
    const LOOKS: u32 = 20;
    const USERS: u32 = 100;
    let experiments: u32 = std::env::var("SY_AA_EXPERIMENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let cfg = MsprtConfig::default();
    let mut rng = Xoshiro256::seed_from_u64(0x00aa_0001);
    let mut n = [0u32; 8];
    for _ in 0..experiments {
        let r = experiment(0.5, LOOKS, USERS, 1.0, &cfg, &mut rng);
        for (k, hit) in [
            r.unit_srm,
            r.unit_msprt,
            r.unit_z_any,
            r.unit_z_final,
            r.request_srm,
            r.request_msprt,
            r.request_z_any,
            r.request_z_final,
        ]
        .into_iter()
        .enumerate()
        {
            n[k] += u32::from(hit);
        }
    }
    // A 10 % canary: SRM only (the split the e2e test uses).
    let mut canary = [0u32; 2];
    for _ in 0..experiments {
        let (mut c, mut t) = (0u64, 0u64);
        let (mut rc, mut rt) = (0u64, 0u64);
        let mut srm = SrmState::default();
        let (mut unit_hit, mut req_hit) = (false, false);
        for _ in 0..LOOKS {
            for _ in 0..USERS {
                let k = requests_per_user(&mut rng);
                if rng.next_f64() < 0.1 {
                    t += 1;
                    rt += k;
                } else {
                    c += 1;
                    rc += k;
                }
            }
            unit_hit |= srm.update(&[c, t], &[0.9, 0.1]).is_some_and(|s| s.mismatch);
            req_hit |= srm_test(&[rc, rt], &[0.9, 0.1]).is_some_and(|s| s.mismatch);
        }
        canary[0] += u32::from(unit_hit);
        canary[1] += u32::from(req_hit);
    }
    let rate = |x: u32| x as f64 / experiments as f64;
    println!(
        "A/A: {experiments} experiments, 50/50, {LOOKS} looks of {USERS} users (requests per user \
         discrete Pareto 1.8, mean 2.25; conversion propensity Beta(0.5, 4.5) per user); \
         alpha {}, SRM alpha {SRM_ALPHA}, expected_units {}",
        cfg.alpha, cfg.expected_units
    );
    println!("                                   per unit   per request");
    println!(
        "  SRM, every look (sequential / chi2) {:8.4}   {:8.4}",
        rate(n[0]),
        rate(n[4])
    );
    println!(
        "  always-valid test, every look     {:8.4}   {:8.4}",
        rate(n[1]),
        rate(n[5])
    );
    println!(
        "  z-test, final look only           {:8.4}   {:8.4}",
        rate(n[3]),
        rate(n[7])
    );
    println!(
        "  z-test, every look (peeking)      {:8.4}   {:8.4}",
        rate(n[2]),
        rate(n[6])
    );
    println!(
        "  10 % canary SRM, every look       {:8.4}   {:8.4}",
        rate(canary[0]),
        rate(canary[1])
    );
    assert!(
        rate(n[0]) <= bound(SRM_ALPHA, experiments),
        "unit SRM {}",
        rate(n[0])
    );
    assert!(
        rate(canary[0]) <= bound(SRM_ALPHA, experiments),
        "canary SRM {}",
        rate(canary[0])
    );
    assert!(
        rate(n[1]) <= bound(cfg.alpha, experiments),
        "always-valid {}",
        rate(n[1])
    );
    assert!(
        rate(n[3]) <= bound(cfg.alpha, experiments),
        "final z-test {}",
        rate(n[3])
    );
    // The per-request analyses of the same data are far off.
    assert!(rate(n[4]) > 20.0 * SRM_ALPHA, "request SRM {}", rate(n[4]));
    assert!(
        rate(canary[1]) > 20.0 * SRM_ALPHA,
        "request canary SRM {}",
        rate(canary[1])
    );
    assert!(
        rate(n[7]) > 2.0 * cfg.alpha,
        "request z-test {}",
        rate(n[7])
    );
    assert!(
        rate(n[5]) > 2.0 * rate(n[1]),
        "request always-valid {}",
        rate(n[5])
    );
    // Peeking at a fixed-horizon test inflates it even per unit.
    assert!(
        rate(n[2]) > 1.5 * cfg.alpha,
        "peeking z-test {}",
        rate(n[2])
    );
}

#[test]
fn power_beside_the_fixed_horizon_test() {
    const EXPERIMENTS: u32 = 1_000;
    const LOOKS: u32 = 20;
    const USERS: u32 = 100;
    let cfg = MsprtConfig::default();
    let mut rng = Xoshiro256::seed_from_u64(0x00aa_0002);
    println!(
        "Power: {EXPERIMENTS} experiments per effect, 2,000 users (50/50) in {LOOKS} looks, \
         conversion propensity Beta(0.5, 4.5) x lift in the treatment; alpha {}",
        cfg.alpha
    );
    let mut last = (0.0, 0.0);
    for lift in [1.25, 1.5, 2.0] {
        let (mut seq, mut fixed) = (0u32, 0u32);
        for _ in 0..EXPERIMENTS {
            let r = experiment(0.5, LOOKS, USERS, lift, &cfg, &mut rng);
            seq += u32::from(r.unit_msprt);
            fixed += u32::from(r.unit_z_final);
        }
        let (s, f) = (
            seq as f64 / EXPERIMENTS as f64,
            fixed as f64 / EXPERIMENTS as f64,
        );
        println!(
            "  propensity x{lift:<4}: always-valid (every look) {s:.3}, fixed-horizon z-test {f:.3}"
        );
        assert!(
            s >= last.0 - 0.05 && f >= last.1 - 0.05,
            "power grows with the effect"
        );
        last = (s, f);
    }
    assert!(
        last.0 > 0.5 && last.1 > 0.8,
        "a doubled propensity is found: {last:?}"
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
