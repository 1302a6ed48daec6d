//! Seeded simulation of off-policy evaluation, figures printed for the record:
//! `cargo test -p switchyard-core --test ope_simulation -- --nocapture`.
//!
//! Logs of decisions with known reward rates are summed exactly as a route's object sums
//! them ([`OpeSums`]: propensities in ppm, rewards credited by feedback) and evaluated with
//! [`ope`] for a target allocation whose true value is known. Over 5,000 logs the 95 %
//! intervals of IPS and self-normalised IPS must cover the true value in 93.5-96.5 % of
//! them, under three logging regimes:
//! - fixed propensities (0.5 / 0.3 / 0.2), 0/1 rewards, conversion feedback (a decision
//!   without feedback is a 0; every decision counts);
//! - bandit-changing propensities: Thompson sampling (floor 0.05) recomputed every 200
//!   decisions from the feedback so far, each decision sampled from the weights in force
//!   and logged with them;
//! - fixed propensities with numeric rewards reported explicitly, 30 % of them never
//!   arriving (missing at random; only decisions whose reward arrived count).

#![cfg(not(target_arch = "wasm32"))]

use switchyard_core::base::{Rng, Xoshiro256};
use switchyard_core::observe::OpeSums;
use switchyard_core::routing::propensity_ppm;
use switchyard_core::statistics::{
    ope, standard_normal, weights, Algorithm, ArmStats, BanditParams, OpeResult,
};

const ARMS: [&str; 3] = ["a", "b", "c"];
/// Reward rates (0/1 rewards) or means (numeric rewards) per arm.
const RATES: [f64; 3] = [0.10, 0.15, 0.30];
/// The evaluated allocation.
const TARGET: [f64; 3] = [0.2, 0.3, 0.5];
const DECISIONS: usize = 2_000;

fn truth() -> f64 {
    RATES.iter().zip(TARGET).map(|(r, p)| r * p).sum()
}

fn sample(w: &[f64], rng: &mut impl Rng) -> usize {
    let mut x = rng.next_f64();
    for (i, wi) in w.iter().enumerate() {
        if x < *wi {
            return i;
        }
        x -= wi;
    }
    w.len() - 1
}

fn evaluate(sums: &[OpeSums; 3], all_decisions: bool) -> OpeResult {
    let arms: Vec<(&str, &OpeSums)> = ARMS.iter().copied().zip(sums.iter()).collect();
    let policy: Vec<(&str, f64)> = ARMS.iter().copied().zip(TARGET).collect();
    ope(&arms, &policy, all_decisions)
}

/// One log under fixed or bandit-changing propensities with 0/1 conversion rewards.
fn conversion_log(bandit: bool, rng: &mut Xoshiro256) -> OpeResult {
    let mut sums = [OpeSums::default(); 3];
    let mut stats = [ArmStats::default(); 3];
    let mut w = vec![0.5, 0.3, 0.2];
    let params = BanditParams {
        min_share: 0.05,
        min_samples: 20,
        draws: 100,
        ..BanditParams::default()
    };
    for i in 0..DECISIONS {
        if bandit && i % 200 == 0 {
            w = weights(Algorithm::Thompson, &stats, &params, rng);
        }
        let a = sample(&w, rng);
        // As receipts carry it: the propensity in ppm.
        let ppm = propensity_ppm(w[a]).unwrap();
        sums[a].record_decision(ppm);
        let converted = rng.next_f64() < RATES[a];
        if converted {
            sums[a].record_credit(ppm, 1.0);
        }
        stats[a].push(if converted { 1.0 } else { 0.0 });
    }
    evaluate(&sums, true)
}

/// One log with numeric rewards (mean `RATES[a]`, sd 0.5), 30 % of them never reported.
fn explicit_log(rng: &mut Xoshiro256) -> OpeResult {
    let mut sums = [OpeSums::default(); 3];
    let w = [0.5, 0.3, 0.2];
    for _ in 0..DECISIONS {
        let a = sample(&w, rng);
        let ppm = propensity_ppm(w[a]).unwrap();
        sums[a].record_decision(ppm);
        let r = RATES[a] + 0.5 * standard_normal(rng);
        if rng.next_f64() < 0.7 {
            sums[a].record_credit(ppm, r);
        }
    }
    evaluate(&sums, false)
}

struct Coverage {
    logs: u32,
    ips: u32,
    snips: u32,
    ips_width: f64,
    snips_width: f64,
    ips_bias: f64,
}

impl Coverage {
    fn new() -> Self {
        Coverage {
            logs: 0,
            ips: 0,
            snips: 0,
            ips_width: 0.0,
            snips_width: 0.0,
            ips_bias: 0.0,
        }
    }

    fn add(&mut self, r: &OpeResult, truth: f64) {
        let (ips, snips) = (r.ips.unwrap(), r.snips.unwrap());
        self.logs += 1;
        self.ips += u32::from(ips.covers(truth));
        self.snips += u32::from(snips.covers(truth));
        self.ips_width += ips.ci_high - ips.ci_low;
        self.snips_width += snips.ci_high - snips.ci_low;
        self.ips_bias += ips.estimate - truth;
    }

    fn pct(&self, k: u32) -> f64 {
        100.0 * f64::from(k) / f64::from(self.logs)
    }

    fn report(&self, what: &str) {
        let n = f64::from(self.logs);
        println!(
            "{what}: {} logs of {DECISIONS} decisions; 95% intervals cover the truth {:.3}: IPS {:.2}% (mean width {:.4}, mean error {:+.5}), SNIPS {:.2}% (mean width {:.4})",
            self.logs,
            truth(),
            self.pct(self.ips),
            self.ips_width / n,
            self.ips_bias / n,
            self.pct(self.snips),
            self.snips_width / n,
        );
    }
}

#[test]
fn ope_intervals_cover_the_truth() {
    let mut rng = Xoshiro256::seed_from_u64(0x0be0_1095);
    let v = truth();
    let mut fixed = Coverage::new();
    let mut bandit = Coverage::new();
    let mut explicit = Coverage::new();
    for _ in 0..2_000 {
        fixed.add(&conversion_log(false, &mut rng), v);
    }
    for _ in 0..2_000 {
        bandit.add(&conversion_log(true, &mut rng), v);
    }
    for _ in 0..1_000 {
        explicit.add(&explicit_log(&mut rng), v);
    }
    fixed.report("fixed propensities 0.5/0.3/0.2, conversion feedback");
    bandit.report("Thompson-sampling propensities (floor 0.05, every 200 decisions)");
    explicit.report("fixed propensities, numeric rewards, 30% feedback missing");
    let mut all = Coverage::new();
    for c in [&fixed, &bandit, &explicit] {
        all.logs += c.logs;
        all.ips += c.ips;
        all.snips += c.snips;
        all.ips_width += c.ips_width;
        all.snips_width += c.snips_width;
        all.ips_bias += c.ips_bias;
    }
    all.report("all");
    assert!(all.logs >= 4_000);
    for (what, c) in [
        ("fixed", &fixed),
        ("bandit", &bandit),
        ("explicit", &explicit),
        ("all", &all),
    ] {
        for (est, k) in [("IPS", c.ips), ("SNIPS", c.snips)] {
            let p = c.pct(k);
            assert!(
                (93.5..=96.5).contains(&p),
                "{what} {est}: coverage {p:.2}% outside 93.5-96.5%"
            );
        }
    }
}
