use super::*;
use crate::base::{Rng, Xoshiro256};

fn named<'a>(names: &[&'a str], w: &[f64]) -> Vec<(&'a str, f64)> {
    names.iter().copied().zip(w.iter().copied()).collect()
}

/// Slots an exact minimal move changes: Σ max(0, old_i - new_i) over the rounded counts.
fn minimal(old: &Layout, new: &Layout) -> u32 {
    old.arms()
        .iter()
        .zip(old.counts())
        .map(|(a, c)| {
            let n = new
                .arms()
                .iter()
                .position(|b| b == a)
                .map_or(0, |i| new.counts()[i]);
            c.saturating_sub(n)
        })
        .sum()
}

fn check_counts(l: &Layout) {
    let mut seen = vec![0u32; l.arms().len()];
    for s in 0..SLOTS {
        seen[l.owner(s)] += 1;
    }
    assert_eq!(seen, l.counts(), "{l:?}");
    assert_eq!(Layout::from_value(&l.to_value()).as_ref(), Ok(l));
}

#[test]
fn quantize_rounds_by_largest_remainder() {
    assert_eq!(quantize(&[0.5, 0.3, 0.2]), Some(vec![5000, 3000, 2000]));
    assert_eq!(quantize(&[1.0, 1.0, 1.0]), Some(vec![3334, 3333, 3333]));
    assert_eq!(
        quantize(&[2.0, 0.0, f64::NAN, -1.0]),
        Some(vec![SLOTS, 0, 0, 0])
    );
    assert_eq!(quantize(&[0.0, 0.0]), None);
    assert_eq!(quantize(&[]), None);
    let q = quantize(&[1.0; 7]).unwrap();
    assert_eq!(q.iter().sum::<u32>(), SLOTS);
}

#[test]
fn canonical_is_one_run_per_arm_in_order() {
    let l = Layout::canonical(&named(&["a", "b", "c"], &[50.0, 30.0, 20.0])).unwrap();
    assert_eq!(l.runs(), 3);
    assert_eq!((l.owner(0), l.owner(4999), l.owner(5000)), (0, 0, 1));
    assert_eq!((l.owner(7999), l.owner(8000), l.owner(9999)), (1, 2, 2));
    assert_eq!(l.arm_of(0), "a");
    assert_eq!(l.arm_of(u64::MAX), "c");
    check_counts(&l);
    // A zero weight owns nothing, and the layout still covers every slot.
    let z = Layout::canonical(&named(&["a", "b"], &[0.0, 1.0])).unwrap();
    assert_eq!(z.runs(), 1);
    assert_eq!(z.arm_of(0), "b");
    check_counts(&z);
}

#[test]
fn the_documented_changes_move_exactly_the_total_variation() {
    let names = ["a", "b", "c"];
    let l0 = Layout::canonical(&named(&names, &[50.0, 30.0, 20.0])).unwrap();
    let l1 = l0.rebalance(&named(&names, &[40.0, 40.0, 20.0])).unwrap();
    assert_eq!(l0.moved(&l1), 1_000);
    let l2 = l1.rebalance(&named(&names, &[20.0, 40.0, 40.0])).unwrap();
    assert_eq!(l1.moved(&l2), 2_000);
    let l3 = l0.rebalance(&named(&names, &[40.0, 30.0, 30.0])).unwrap();
    assert_eq!(l0.moved(&l3), 1_000);
    for l in [&l1, &l2, &l3] {
        check_counts(l);
        assert!(l.runs() <= 4, "{l:?}");
    }
    // Unchanged weights move nothing.
    assert_eq!(l2.rebalance(&named(&names, &[2.0, 4.0, 4.0])).unwrap(), l2);
}

#[test]
fn arms_added_and_removed() {
    let l0 = Layout::canonical(&named(&["a", "b"], &[1.0, 1.0])).unwrap();
    let l1 = l0
        .rebalance(&named(&["a", "b", "c"], &[1.0, 1.0, 2.0]))
        .unwrap();
    assert_eq!(l0.moved(&l1), 5_000);
    check_counts(&l1);
    // Removing `a` hands its slots to the others; `b` keeps every slot it had.
    let l2 = l1.rebalance(&named(&["c", "b"], &[1.0, 1.0])).unwrap();
    assert_eq!(l1.moved(&l2), 2_500);
    assert_eq!(l2.arms(), ["c", "b"]);
    check_counts(&l2);
    for s in 0..SLOTS {
        if l1.arms()[l1.owner(s)] == "b" {
            assert_eq!(l2.arms()[l2.owner(s)], "b");
        }
    }
    assert!(l2.rebalance(&named(&["c"], &[0.0])).is_none());
}

#[test]
fn fits_only_the_weights_it_was_built_for() {
    let names = ["a", "b", "c"];
    let l = Layout::canonical(&named(&names, &[1.0, 1.0, 1.0])).unwrap();
    let it = |w: [f64; 3]| names.iter().copied().zip(w);
    assert!(l.fits(it([1.0, 1.0, 1.0])));
    assert!(l.fits(it([7.0, 7.0, 7.0])));
    assert!(!l.fits(it([1.0, 1.0, 1.1])));
    assert!(!l.fits(it([1.0, 1.0, 0.0])));
    assert!(!l.fits(["a", "b"].into_iter().zip([1.0, 1.0])));
    assert!(!l.fits(["a", "b", "d"].into_iter().zip([1.0, 1.0, 1.0])));
    // Same arms in another order: not the layout's (the control plane lays them out anew).
    assert!(!l.fits(["b", "a", "c"].into_iter().zip([1.0, 1.0, 1.0])));
    assert!(!l.fits(names.iter().copied().zip([0.0, 0.0, 0.0])));
}

#[test]
fn bad_stored_layouts_are_refused() {
    let l = Layout::canonical(&named(&["a", "b"], &[1.0, 3.0])).unwrap();
    let good = l.to_value();
    assert_eq!(good["runs"], json!([[0, 0], [2500, 1]]));
    let mut bad = Vec::new();
    for (k, value) in [
        ("slots", json!(100)),
        ("arms", json!("a")),
        ("arms", json!([])),
        ("runs", json!([[1, 0], [2500, 1]])),
        ("runs", json!([[0, 0], [2500, 2]])),
        ("runs", json!([[0, 0], [0, 1]])),
        ("runs", json!([[0, 0], [10000, 1]])),
        ("runs", json!([[0, 0], [2400, "b"]])),
        ("runs", json!([[0, 0, 1]])),
        ("runs", json!([])),
    ] {
        let mut v = good.clone();
        v[k] = value;
        bad.push(Layout::from_value(&v).is_err());
    }
    assert!(bad.iter().all(|b| *b), "{bad:?}");
    // The counts are what the runs give (the written ones are for people).
    let mut v = good.clone();
    v["runs"] = json!([[0, 0], [2400, 1]]);
    assert_eq!(Layout::from_value(&v).unwrap().counts(), [2400, 7600]);
}

/// Random weight changes on 2-8 arms (some weights 0, arms sometimes added or removed):
/// every change moves exactly the minimal number of slots, and the layout stays small.
#[test]
fn random_changes_move_the_minimum_and_stay_bounded() {
    let all = ["a", "b", "c", "d", "e", "f", "g", "h"];
    let mut worst_runs = 0;
    let mut compactions = 0;
    for seed in 0..12u64 {
        let mut rng = Xoshiro256::seed_from_u64(seed);
        let k = 2 + (seed as usize % 7);
        let mut names: Vec<&str> = all[..k].to_vec();
        let weights = |rng: &mut Xoshiro256, n: usize| -> Vec<f64> {
            loop {
                let w: Vec<f64> = (0..n)
                    .map(|_| {
                        if rng.next_f64() < 0.1 {
                            0.0
                        } else {
                            (rng.next_f64() * 100.0).round()
                        }
                    })
                    .collect();
                if w.iter().any(|x| *x > 0.0) {
                    return w;
                }
            }
        };
        let w = weights(&mut rng, names.len());
        let mut l = Layout::canonical(&named(&names, &w)).unwrap();
        for step in 0..1_000 {
            if step % 97 == 0 && names.len() > 2 {
                names.remove((rng.next_u64() % names.len() as u64) as usize);
            } else if step % 89 == 0 && names.len() < all.len() {
                let next = all.iter().find(|a| !names.contains(a)).unwrap();
                names.push(next);
            }
            let w = weights(&mut rng, names.len());
            let next = l.rebalance(&named(&names, &w)).unwrap();
            let moved = l.moved(&next);
            let min = minimal(&l, &next);
            if moved != min {
                compactions += 1;
            }
            worst_runs = worst_runs.max(next.runs());
            assert!(next.runs() <= Layout::max_runs(names.len()));
            assert!(next.fits(names.iter().copied().zip(w.iter().copied())));
            if step % 250 == 0 {
                check_counts(&next);
            }
            l = next;
        }
    }
    eprintln!("layout: most runs after a change {worst_runs}, compactions {compactions}");
    assert_eq!(compactions, 0);
}

/// Bandit-like drift: every tick moves each weight a little (1,000 ticks on 2-8 arms):
/// each tick moves exactly the minimum, and the runs stay few.
#[test]
fn small_drifts_move_the_minimum_and_stay_bounded() {
    let all = ["a", "b", "c", "d", "e", "f", "g", "h"];
    let mut worst_runs = 0;
    for k in 2..=all.len() {
        let mut rng = Xoshiro256::seed_from_u64(k as u64);
        let names = &all[..k];
        let mut w = vec![1.0; k];
        let mut l = Layout::canonical(&named(names, &w)).unwrap();
        // LAYOUT_TICKS=20000 measures longer runs (most runs then: 76 on 8 arms).
        let ticks: usize = std::env::var("LAYOUT_TICKS")
            .ok()
            .and_then(|t| t.parse().ok())
            .unwrap_or(1_000);
        let mut most = 0;
        for _ in 0..ticks {
            for x in w.iter_mut() {
                *x = (*x * (0.8 + 0.4 * rng.next_f64())).clamp(0.01, 100.0);
            }
            let next = l.rebalance(&named(names, &w)).unwrap();
            assert_eq!(l.moved(&next), minimal(&l, &next));
            worst_runs = worst_runs.max(next.runs());
            most = most.max(next.runs());
            l = next;
        }
        eprintln!("layout: {k} arms, most runs {most}");
        assert!(most <= Layout::max_runs(k) / 2, "{k} arms: {most} runs");
        check_counts(&l);
    }
    eprintln!("layout: most runs under drift {worst_runs}");
}

/// 1,000 random changes of 3-5 arms seen by 10,000 units: every unit that moves leaves an
/// arm that shrank for one that grew (so the units' churn is exactly the total variation of
/// their own arm shares), and it is within sampling error (4 standard deviations of a
/// binomial count) of the share of slots that moved.
#[test]
fn units_move_only_from_shrinking_to_growing_arms() {
    let names = ["a", "b", "c", "d", "e"];
    let hashes: Vec<u64> = (0..10_000)
        .map(|i| crate::base::hash("churn", &format!("u{i}")))
        .collect();
    let mut rng = Xoshiro256::seed_from_u64(42);
    let mut k = 3;
    let mut l = Layout::canonical(&named(&names[..k], &[1.0; 5][..k])).unwrap();
    let mut arms: Vec<usize> = hashes.iter().map(|h| l.owner(slot(*h, SLOTS))).collect();
    let mut worst = 0.0f64;
    for step in 0..1_000 {
        if step % 100 == 99 {
            k = 3 + (rng.next_u64() % 3) as usize;
        }
        let w: Vec<f64> = (0..k).map(|_| rng.next_f64() + 0.01).collect();
        let next = l.rebalance(&named(&names[..k], &w)).unwrap();
        let now: Vec<usize> = hashes.iter().map(|h| next.owner(slot(*h, SLOTS))).collect();
        // Arms by name: index in `names`.
        let id = |lay: &Layout, i: usize| names.iter().position(|n| *n == lay.arms()[i]);
        let old_ids: Vec<Option<usize>> = (0..l.arms().len()).map(|i| id(&l, i)).collect();
        let new_ids: Vec<Option<usize>> = (0..next.arms().len()).map(|i| id(&next, i)).collect();
        let mut delta = [0i64; 5];
        let mut moved = 0usize;
        for (a, b) in arms.iter().zip(&now) {
            let (na, nb) = (old_ids[*a].unwrap(), new_ids[*b].unwrap());
            delta[na] -= 1;
            delta[nb] += 1;
            moved += (na != nb) as usize;
        }
        let shares_tv: i64 = delta.iter().map(|d| d.abs()).sum::<i64>() / 2;
        assert_eq!(moved as i64, shares_tv, "step {step}");
        let p = l.moved(&next) as f64 / SLOTS as f64;
        let c = moved as f64 / hashes.len() as f64;
        let sd = (p * (1.0 - p) / hashes.len() as f64).sqrt();
        assert!((c - p).abs() <= 4.0 * sd + 1e-9, "step {step}: {c} vs {p}");
        worst = worst.max((c - p).abs());
        l = next;
        arms = now;
    }
    eprintln!(
        "layout: largest gap between units and slots moved {:.2} points",
        worst * 100.0
    );
}
