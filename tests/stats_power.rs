//! The power table of docs/learning.md: power of the always-valid test (looking after every
//! 2 % of the units) and of the fixed-horizon z-test (one look at the end) for conversion
//! effects of 1-30 points on a 20 % baseline, at 100 to 100,000 units, and the A/A
//! false-positive rate under that continuous peeking. Seeded; prints a Markdown table.
//!
//! `cargo test --profile bench -p switchyard-core --test stats_power -- --ignored --nocapture`
//! (about a minute on one core; ignored in `make test`, which runs the smaller simulation in
//! tests/stats_simulation.rs).

#![cfg(not(target_arch = "wasm32"))]

use switchyard_core::base::{Rng, Xoshiro256};
use switchyard_core::statistics::{two_proportion_z_test, MsprtConfig, MsprtState, Proportion};

const BASE: f64 = 0.20;
const LOOKS: u64 = 50;

/// Rejection rates over `reps` experiments of `n` units (50/50) with treatment rate
/// `BASE + effect`: (always-valid tuned to n, always-valid with the default 5,000, z-test).
fn power(n: u64, effect: f64, reps: u32, rng: &mut impl Rng) -> (f64, f64, f64) {
    let tuned = MsprtConfig {
        expected_units: n as f64,
        ..MsprtConfig::default()
    };
    let default = MsprtConfig::default();
    let (mut a, mut b, mut z) = (0u32, 0u32, 0u32);
    for _ in 0..reps {
        let (mut c, mut t) = (Proportion::default(), Proportion::default());
        let (mut s1, mut s2) = (MsprtState::new(), MsprtState::new());
        let (mut hit1, mut hit2) = (false, false);
        let step = (n / LOOKS).max(1);
        let mut seen = 0;
        while seen < n {
            for _ in 0..step.min(n - seen) {
                if rng.next_f64() < 0.5 {
                    c.n += 1;
                    c.conversions += u64::from(rng.next_f64() < BASE);
                } else {
                    t.n += 1;
                    t.conversions += u64::from(rng.next_f64() < BASE + effect);
                }
                seen += 1;
            }
            hit1 |= s1.update(c, t, &tuned).significant;
            hit2 |= s2.update(c, t, &default).significant;
        }
        a += u32::from(hit1);
        b += u32::from(hit2);
        z += u32::from(two_proportion_z_test(c, t).is_some_and(|r| r.p_value < default.alpha));
    }
    let r = |x: u32| x as f64 / reps as f64;
    (r(a), r(b), r(z))
}

#[test]
#[ignore = "long: run with --profile bench (see the module docs)"]
fn power_table() {
    const REPS: u32 = 1_000;
    let mut rng = Xoshiro256::seed_from_u64(0x0090_3e11);
    let sizes = [100u64, 1_000, 10_000, 100_000];
    let effects = [0.0, 0.01, 0.02, 0.05, 0.10, 0.20, 0.30];
    println!(
        "{REPS} experiments per cell, baseline {}%, 50/50, alpha 0.05; always-valid test looks \
         after every {}th of the units",
        BASE * 100.0,
        LOOKS
    );
    println!(
        "| effect | test | {} |",
        sizes.map(|n| format!("n = {n}")).join(" | ")
    );
    println!("|---|---|{}", "---|".repeat(sizes.len()));
    for e in effects {
        let cells: Vec<(f64, f64, f64)> =
            sizes.iter().map(|n| power(*n, e, REPS, &mut rng)).collect();
        let label = if e == 0.0 {
            "0 (A/A)".to_string()
        } else {
            format!("+{} pt", e * 100.0)
        };
        let row = |name: &str, pick: fn(&(f64, f64, f64)) -> f64| {
            println!(
                "| {label} | {name} | {} |",
                cells
                    .iter()
                    .map(|c| format!("{:.3}", pick(c)))
                    .collect::<Vec<_>>()
                    .join(" | ")
            );
        };
        row("always-valid, tuned to n", |c| c.0);
        row("always-valid, default 5,000", |c| c.1);
        row("fixed-horizon z-test", |c| c.2);
        if e == 0.0 {
            for c in &cells {
                assert!(c.0 < 0.065 && c.1 < 0.065, "A/A under peeking {c:?}");
            }
        }
    }
}
