//! The learning loop without workerd: batches in, feedback credited once, ticks that move
//! bandit weights, roll a failing canary back and compute the experiment statistics.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use switchyard_core::base::Xoshiro256;
use switchyard_core::learn::{FeedbackError, Learner};
use switchyard_core::learn::{MemUnits, MAX_UNIT_ROWS};
use switchyard_core::observe::{Batcher, Observation, Outcome, ShadowObservation};
use switchyard_core::receipt::ReceiptId;
use switchyard_core::routing::Inputs;

fn traffic(l: &mut Learner, route: &str, arm: &str, n: u32, errors: u32, latency: u32, now: u64) {
    traffic_under(l, route, arm, n, errors, latency, now, ("", 0));
}

/// Traffic the edge routed under `split` = (strategy fingerprint, split in force, ppm).
#[allow(clippy::too_many_arguments)]
fn traffic_under(
    l: &mut Learner,
    route: &str,
    arm: &str,
    n: u32,
    errors: u32,
    latency: u32,
    now: u64,
    split: (&str, u32),
) {
    let mut b = Batcher::new(u32::MAX, u64::MAX);
    for i in 0..n {
        let outcome = if i < errors {
            Outcome::Error5xx
        } else {
            Outcome::Ok
        };
        let status = if i < errors { 500 } else { 200 };
        b.push(
            Observation {
                route,
                arm,
                outcome,
                status,
                latency_ms: latency,
                fingerprint: split.0,
                split_ppm: split.1,
                propensity_ppm: None,
                unit: Some(u64::from(i)),
                epoch: None,
            },
            now,
        );
    }
    l.report(&b.drain(), now);
}

/// Units `units` of `arm` each send `per_unit` requests under `split`; their rows live in
/// `mem` (as the object's SQLite holds them).
#[allow(clippy::too_many_arguments)]
fn unit_traffic(
    l: &mut Learner,
    mem: &mut MemUnits,
    arm: &str,
    units: std::ops::Range<u64>,
    per_unit: u32,
    now: u64,
    split: (&str, u32),
) {
    let units: Vec<u64> = units.collect();
    // Batches of 50 units, as isolates flush them.
    for chunk in units.chunks(50) {
        let mut b = Batcher::new(u32::MAX, u64::MAX);
        for u in chunk {
            for _ in 0..per_unit {
                b.push(
                    Observation {
                        route: "r",
                        arm,
                        outcome: Outcome::Ok,
                        status: 200,
                        latency_ms: 10,
                        fingerprint: split.0,
                        split_ppm: split.1,
                        propensity_ppm: None,
                        epoch: None,
                        unit: Some(*u),
                    },
                    now,
                );
            }
        }
        let b = b.drain();
        l.report(&b, now);
        let writes = l.report_units(&b, now, mem, MAX_UNIT_ROWS).unwrap();
        mem.apply(writes);
    }
}

/// One reward from `unit` of `arm` (receipt `n`), credited to the arm and to the unit.
fn unit_feedback(l: &mut Learner, mem: &mut MemUnits, n: u64, arm: &str, unit: u64, r: f64) {
    l.feedback(id(n), arm, r, 1, 2, 60_000).unwrap();
    if let Some(w) = l
        .credit_unit(arm, unit, r, (None, 0), mem, MAX_UNIT_ROWS)
        .unwrap()
    {
        mem.apply(vec![w]);
    }
}

fn id(n: u64) -> ReceiptId {
    let mut b = [0u8; 16];
    b[..8].copy_from_slice(&n.to_be_bytes());
    ReceiptId(b)
}

#[test]
fn bandit_weights_move_toward_the_converting_arm() {
    let cfg = common::one_route(
        r#"{"kind":"bandit","min_share":0.05,"min_samples":50,"arms":[{"name":"a","origin":"v1"},{"name":"b","origin":"v2"}]}"#,
    );
    let route = &cfg.routes[0];
    let mut l = Learner::new("r");
    let mut rng = Xoshiro256::seed_from_u64(3);
    assert_eq!(
        l.tick(route, 1, &mut rng).weights,
        None,
        "nothing written during warm-up"
    );
    traffic(&mut l, "r", "a", 1000, 0, 20, 10);
    traffic(&mut l, "r", "b", 1000, 0, 20, 10);
    for i in 0..150 {
        l.feedback(id(i), "a", 1.0, 10, 20, 60_000).unwrap();
    }
    for i in 1000..1030 {
        l.feedback(id(i), "b", 1.0, 10, 20, 60_000).unwrap();
    }
    assert_eq!(
        l.feedback(id(3), "a", 1.0, 10, 21, 60_000),
        Err(FeedbackError::Replayed)
    );
    assert!(matches!(
        l.feedback(id(9999), "a", f64::NAN, 10, 21, 60_000),
        Err(FeedbackError::BadReward(_))
    ));
    let w = l.tick(route, 30, &mut rng).weights.unwrap();
    assert!(w.arms["a"] > 0.9, "{w:?}");
    assert!(w.arms["b"] >= 0.05 - 1e-9, "floor holds: {w:?}");
    // Persisted and reloaded (as the Durable Object does), replays are still caught.
    let mut back: Learner = serde_json::from_str(&serde_json::to_string(&l).unwrap()).unwrap();
    assert_eq!(
        back.feedback(id(5), "a", 1.0, 10, 40, 60_000),
        Err(FeedbackError::Replayed)
    );
    assert_eq!(back.total.arm("a").unwrap().reward_count, 150);
}

#[test]
fn failing_canary_is_rolled_back_and_traffic_returns_to_stable() {
    let cfg = common::one_route(
        r#"{"kind":"canary","stable":"v1","canary":"v2","percent":30,"guard":{"max_error_rate":0.1,"min_requests":40}}"#,
    );
    let route = &cfg.routes[0];
    let mut l = Learner::new("r");
    let mut rng = Xoshiro256::seed_from_u64(1);
    let first = l.tick(route, 0, &mut rng).state.unwrap();
    assert_eq!(first.canary_percent, Some(30.0));
    traffic(&mut l, "r", "stable", 200, 0, 20, 5);
    traffic(&mut l, "r", "canary", 30, 30, 20, 5);
    assert_eq!(
        l.tick(route, 10, &mut rng).state,
        None,
        "below min_requests"
    );
    traffic(&mut l, "r", "canary", 20, 10, 20, 15);
    let rolled = l.tick(route, 20, &mut rng).state.unwrap();
    assert!(rolled.rolled_back, "{rolled:?}");
    assert!(rolled.reason.as_deref().unwrap().contains("error rate"));
    for i in 0..500 {
        let d = common::decide_with(
            &cfg,
            &format!("u{i}"),
            &[],
            Inputs {
                weights: None,
                state: Some(&rolled),
                layouts: &[],
            },
        );
        assert_eq!(d.arm, "stable");
    }
    let doc = l.stats(Some(route));
    assert_eq!(doc["controller"]["rolled_back"], true);
}

#[test]
fn ab_experiment_statistics_and_srm() {
    let cfg = common::one_route(
        r#"{"kind":"ab","arms":[{"name":"control","origin":"v1","weight":50},{"name":"treatment","origin":"v2","weight":50}]}"#,
    );
    let route = &cfg.routes[0];
    let (mut l, mut mem) = (Learner::new("r"), MemUnits::default());
    let mut rng = Xoshiro256::seed_from_u64(1);
    let under = (route.fingerprint.as_str(), 1_000_000);
    // Three requests per unit: the statistics count units, not requests.
    unit_traffic(&mut l, &mut mem, "control", 0..1000, 3, 1, under);
    unit_traffic(&mut l, &mut mem, "treatment", 10_000..11_300, 3, 1, under);
    for u in 0..50 {
        unit_feedback(&mut l, &mut mem, u, "control", u, 1.0);
    }
    for u in 10_000..10_120 {
        unit_feedback(&mut l, &mut mem, u, "treatment", u, 1.0);
        // A second conversion of the same unit does not make it two converted units.
        unit_feedback(&mut l, &mut mem, u + 50_000, "treatment", u, 1.0);
    }
    l.tick(route, 5, &mut rng);
    let doc = l.stats(Some(route));
    let e = &doc["experiment"];
    assert_eq!(e["control"], "control");
    assert_eq!(e["unit_of_analysis"], "unit");
    let arm = &e["arms"]["treatment"];
    assert_eq!(
        (arm["units"].as_u64(), arm["requests"].as_u64()),
        (Some(1300), Some(3900))
    );
    assert_eq!(e["arms"]["control"]["units"], 1000);
    let t = &arm["comparison"];
    assert_eq!(t["n"], 1300);
    assert_eq!(t["conversions"], 120);
    assert!((t["rate"].as_f64().unwrap() - 120.0 / 1300.0).abs() < 1e-12);
    assert!(t["z_test"]["p_value"].as_f64().unwrap() < 0.05);
    assert!(t["prob_beat_control"].as_f64().unwrap() > 0.95);
    let seq = &arm["sequential"];
    assert!(seq["always_valid_p_value"].as_f64().unwrap() <= 1.0);
    assert_eq!(seq["expected_units"], 5000);
    // 1000 vs 1300 units under a 50/50 design is a sample-ratio mismatch, and with it no
    // verdict can be trusted.
    assert_eq!(e["srm"]["mismatch"], true, "{e}");
    assert_eq!(e["srm"]["test"], "sequential_multinomial");
    assert_eq!(e["srm"]["units"], serde_json::json!([1000, 1300]));
    assert_eq!(arm["verdict"]["result"], "inconclusive", "{arm}");
    assert_eq!(arm["verdict"]["test"], "always_valid");
    assert!(arm["verdict"]["reason"]
        .as_str()
        .unwrap()
        .contains("sample ratio"));
    assert!(e["arms"]["control"].get("verdict").is_none());
}

#[test]
fn one_verdict_from_the_always_valid_test() {
    let cfg = common::one_route(
        r#"{"kind":"ab","arms":[{"name":"control","origin":"v1","weight":1},{"name":"treatment","origin":"v2","weight":1}]}"#,
    );
    let route = &cfg.routes[0];
    let (mut l, mut mem) = (Learner::new("r"), MemUnits::default());
    let mut rng = Xoshiro256::seed_from_u64(1);
    let under = (route.fingerprint.as_str(), 1_000_000);
    // Nothing yet: no rate, no P(beat), an inconclusive verdict.
    l.tick(route, 1, &mut rng);
    let e = &l.stats(Some(route))["experiment"];
    let t = &e["arms"]["treatment"];
    assert!(t["comparison"]["rate"].is_null() && t["comparison"]["prob_beat_control"].is_null());
    assert_eq!(t["verdict"]["result"], "inconclusive");
    assert!(t["verdict"]["p_value"].is_null());
    // 215 vs 196 units converting 12.6 % vs 42.9 %: decided at once.
    unit_traffic(&mut l, &mut mem, "control", 0..215, 2, 2, under);
    unit_traffic(&mut l, &mut mem, "treatment", 1000..1196, 2, 2, under);
    for u in 0..27 {
        unit_feedback(&mut l, &mut mem, u, "control", u, 1.0);
    }
    for u in 1000..1084 {
        unit_feedback(&mut l, &mut mem, u, "treatment", u, 1.0);
    }
    l.tick(route, 3, &mut rng);
    let e = &l.stats(Some(route))["experiment"];
    assert_eq!(e["srm"]["mismatch"], false, "{e}");
    let t = &e["arms"]["treatment"];
    assert_eq!(t["verdict"]["result"], "winner", "{t}");
    assert!(t["verdict"]["p_value"].as_f64().unwrap() < 1e-3, "{t}");
    assert!(t["verdict"].get("reason").is_none());
}

#[test]
fn shadow_agreement_is_reported() {
    let cfg = common::one_route(r#"{"kind":"recreate","origin":"v1"}"#);
    let mut l = Learner::new("r");
    let mut b = Batcher::new(u32::MAX, u64::MAX);
    use switchyard_core::observe::PayloadAgreement;
    for i in 0..100 {
        let exact = i % 4 != 0;
        b.push_shadow(
            &ShadowObservation {
                route: "r",
                shadow_origin: "v3",
                status_agree: true,
                latency_diff_ms: 5,
                payload: Some(PayloadAgreement::Compared {
                    exact,
                    normalised: exact,
                }),
            },
            None,
            1,
        );
    }
    l.report(&b.drain(), 1);
    let doc = l.stats(Some(&cfg.routes[0]));
    assert_eq!(doc["shadows"]["v3"]["observations"], 100);
    assert!((doc["shadows"]["v3"]["exact_agreement"].as_f64().unwrap() - 0.75).abs() < 1e-12);
    assert!(
        (doc["shadows"]["v3"]["mean_latency_diff_ms"]
            .as_f64()
            .unwrap()
            - 5.0)
            .abs()
            < 1e-12
    );
}

// ---------------------------------------------------------------------------------------
// Health, numeric rewards, SRM by split, operator actions.

use switchyard_core::config::{apply_floor, RouteState};
use switchyard_core::learn::{Operation, DRAIN_SPAN_MS};

fn two_arm_bandit(extra: &str) -> switchyard_core::config::Config {
    common::one_route(&format!(
        r#"{{"kind":"bandit","min_share":0.05,"min_samples":30{extra},"arms":[{{"name":"a","origin":"v1"}},{{"name":"b","origin":"v2"}}]}}"#
    ))
}

#[test]
fn dead_bandit_arm_is_drained_below_its_floor_and_probed_back() {
    let cfg = two_arm_bandit("");
    let route = &cfg.routes[0];
    let mut l = Learner::new("r");
    let mut rng = Xoshiro256::seed_from_u64(11);
    // Healthy: b converts more and leads.
    traffic(&mut l, "r", "a", 200, 0, 20, 1_000);
    traffic(&mut l, "r", "b", 200, 0, 20, 1_000);
    for i in 0..20 {
        l.feedback(id(i), "a", 1.0, 1, 2, 60_000).unwrap();
    }
    for i in 100..180 {
        l.feedback(id(i), "b", 1.0, 1, 2, 60_000).unwrap();
    }
    let w = l.tick(route, 1_000, &mut rng).weights.unwrap();
    assert!(w.arms["b"] > 0.9 && w.drained.is_empty(), "{w:?}");
    // b's origin dies (steady traffic): within a few seconds of errors it is drained.
    let mut now = 1_000 + DRAIN_SPAN_MS;
    let died = now;
    let mut drained_at = None;
    for _ in 0..10 {
        now += 500;
        traffic(&mut l, "r", "a", 1, 0, 20, now);
        traffic(&mut l, "r", "b", 6, 6, 20, now);
        let w = l.tick(route, now, &mut rng).weights.unwrap();
        if w.drained == vec!["b".to_string()] {
            drained_at = Some(now);
            assert!(w.arms["b"] <= 0.01 + 1e-12, "probe share only: {w:?}");
            // The edge keeps it there: the floor is lifted for a drained arm.
            let resolved = w.resolve(
                match &route.strategy {
                    switchyard_core::config::Strategy::Bandit { arms, .. } => arms,
                    _ => unreachable!(),
                },
                0.05,
            );
            assert!(
                resolved[1] <= 0.01 + 1e-12 && resolved[1] > 0.0,
                "{resolved:?}"
            );
            break;
        }
    }
    let drained_at = drained_at.expect("drained");
    assert!(
        drained_at - died <= 1_500,
        "drained after {} ms",
        drained_at - died
    );
    assert!(l.stats(Some(route))["health"]["b"]["drained_since_ms"].is_u64());
    // Still failing probes keep it drained; then 5 good probes bring it back.
    now += 500;
    traffic(&mut l, "r", "b", 2, 1, 20, now);
    assert_eq!(
        l.tick(route, now, &mut rng).weights.unwrap().drained,
        vec!["b"]
    );
    now += 500;
    traffic(&mut l, "r", "b", 3, 0, 20, now);
    assert_eq!(
        l.tick(route, now, &mut rng).weights.unwrap().drained,
        vec!["b"]
    );
    now += 500;
    traffic(&mut l, "r", "b", 2, 0, 20, now);
    let w = l.tick(route, now, &mut rng).weights.unwrap();
    assert!(w.drained.is_empty(), "recovered: {w:?}");
    assert!(
        w.arms["b"] >= 0.05 - 1e-12,
        "back under the floor's protection: {w:?}"
    );
}

#[test]
fn dead_arm_is_drained_during_warm_up_too() {
    let cfg = two_arm_bandit("");
    let route = &cfg.routes[0];
    let mut l = Learner::new("r");
    let mut rng = Xoshiro256::seed_from_u64(12);
    traffic(&mut l, "r", "a", 10, 0, 20, 100);
    traffic(&mut l, "r", "b", 10, 10, 20, 100);
    let w = l
        .tick(route, 200, &mut rng)
        .weights
        .expect("weights written in warm-up");
    assert_eq!(w.drained, vec!["b"]);
    assert!((w.arms["a"] - 0.99).abs() < 1e-9, "{w:?}");
}

/// Numeric rewards: requests without feedback (yet) must not read as zeros.
#[test]
fn missing_numeric_feedback_does_not_move_weights() {
    let cfg = common::one_route(
        r#"{"kind":"bandit","min_share":0.01,"min_samples":30,"arms":[{"name":"a","origin":"v1"},{"name":"b","origin":"v2"},{"name":"c","origin":"v3"}]}"#,
    );
    let route = &cfg.routes[0];
    let run = |missing: u64| {
        let (mut l, mut mem) = (Learner::new("r"), MemUnits::default());
        let mut n = 0u64;
        for (k, (arm, mean)) in [("a", 5.0), ("b", 5.3), ("c", 4.0)].into_iter().enumerate() {
            let base = 1000 * k as u64;
            let fp = route.fingerprint.as_str();
            unit_traffic(&mut l, &mut mem, arm, base..base + 400, 1, 1, (fp, 0));
            for i in 0..400u64 {
                if arm == "c" && i < missing {
                    continue; // no feedback for these requests (yet)
                }
                let r = mean + (i % 7) as f64 * 0.5 - 1.5;
                unit_feedback(&mut l, &mut mem, n, arm, base + i, r);
                n += 1;
            }
        }
        let mut rng = Xoshiro256::seed_from_u64(99);
        (l.tick(route, 5, &mut rng).weights.unwrap(), l)
    };
    let (complete, _) = run(0);
    let (partial, l) = run(40);
    for arm in ["a", "b", "c"] {
        assert!(
            (complete.arms[arm] - partial.arms[arm]).abs() < 0.05,
            "{arm}: {complete:?} vs {partial:?}"
        );
    }
    assert!(
        partial.arms["c"] < 0.02,
        "the worst arm stays at its floor: {partial:?}"
    );
    // The experiment section speaks means per reward received, over units.
    let e = &l.stats(Some(route))["experiment"];
    assert_eq!(e["metric"], "mean", "{e}");
    assert_eq!(e["evidence"], "numeric");
    assert!(e.get("control_rate").is_none(), "{e}");
    let b = &e["arms"]["b"]["comparison"];
    assert!(
        b.get("rate").is_none() && b.get("prob_beat_control").is_none(),
        "{b}"
    );
    assert!(
        (b["z_test"]["diff"].as_f64().unwrap() - 0.3).abs() < 1e-9,
        "{b}"
    );
    assert!(b["z_test"]["p_value"].as_f64().unwrap() < 0.01, "{b}");
    let ci = &b["z_test"]["diff_ci"];
    assert!(ci["lower"].as_f64().unwrap() < 0.3 && ci["upper"].as_f64().unwrap() > 0.3);
    let c = &e["arms"]["c"]["comparison"];
    assert_eq!(
        (c["n"].as_u64(), c["observations"].as_f64()),
        (Some(400), Some(360.0))
    );
}

#[test]
fn explicit_binary_feedback_counts_only_arrived_rewards_and_errors() {
    let cfg = two_arm_bandit(r#","feedback":"explicit""#);
    let route = &cfg.routes[0];
    let (mut l, mut mem) = (Learner::new("r"), MemUnits::default());
    traffic(&mut l, "r", "a", 10, 10, 20, 1);
    let fp = route.fingerprint.as_str();
    unit_traffic(&mut l, &mut mem, "a", 0..990, 1, 1, (fp, 0));
    unit_traffic(&mut l, &mut mem, "b", 1000..2000, 1, 1, (fp, 0));
    // a: 40 of 50 reported rewards are 1; b: 20 of 50.
    for i in 0..50 {
        unit_feedback(&mut l, &mut mem, i, "a", i, if i < 40 { 1.0 } else { 0.0 });
        unit_feedback(
            &mut l,
            &mut mem,
            1000 + i,
            "b",
            1000 + i,
            if i < 20 { 1.0 } else { 0.0 },
        );
    }
    let mut rng = Xoshiro256::seed_from_u64(5);
    let w = l.tick(route, 5, &mut rng).weights.unwrap();
    assert!(w.arms["a"] > 0.9, "{w:?}");
    let e = &l.stats(Some(route))["experiment"];
    assert_eq!(e["evidence"], "explicit");
    // The bandit's trials are 50 rewards + 10 errors for a; the experiment compares the mean
    // reward per reward received, over units.
    let a = &e["arms"]["a"]["comparison"];
    assert_eq!(a["observations"], 50.0, "{e}");
    assert!((a["mean"].as_f64().unwrap() - 0.8).abs() < 1e-12);
}

#[test]
fn srm_is_computed_over_one_split_only() {
    let cfg = common::one_route(
        r#"{"kind":"canary","stable":"v1","canary":"v2","percent":10,"steps":[{"percent":10,"hold_s":1},{"percent":30,"hold_s":600}],"guard":{"max_error_rate":0.5,"min_requests":5}}"#,
    );
    let route = &cfg.routes[0];
    let fp = route.fingerprint.as_str();
    let (mut l, mut mem) = (Learner::new("r"), MemUnits::default());
    let mut rng = Xoshiro256::seed_from_u64(1);
    let s0 = l.tick(route, 0, &mut rng).state.unwrap();
    assert_eq!(s0.canary_percent, Some(10.0));
    // Users send 4 requests each: per request the split still looks like 900/100.
    unit_traffic(&mut l, &mut mem, "stable", 0..900, 4, 100, (fp, 100_000));
    unit_traffic(&mut l, &mut mem, "canary", 900..1000, 4, 100, (fp, 100_000));
    let s1 = l.tick(route, 1_500, &mut rng).state.unwrap();
    assert_eq!(s1.canary_percent, Some(30.0));
    // Edges still on the old split report late; the first ones on the new split arrive.
    unit_traffic(
        &mut l,
        &mut mem,
        "stable",
        1000..1450,
        4,
        1_600,
        (fp, 100_000),
    );
    unit_traffic(
        &mut l,
        &mut mem,
        "canary",
        1450..1500,
        4,
        1_600,
        (fp, 100_000),
    );
    unit_traffic(
        &mut l,
        &mut mem,
        "stable",
        2000..2070,
        4,
        1_700,
        (fp, 300_000),
    );
    unit_traffic(
        &mut l,
        &mut mem,
        "canary",
        2070..2100,
        4,
        1_700,
        (fp, 300_000),
    );
    l.tick(route, 1_800, &mut rng);
    let e = &l.stats(Some(route))["experiment"];
    assert_eq!(e["srm"]["mismatch"], false, "{e}");
    assert_eq!(e["split"]["split_ppm"], 300_000);
    assert_eq!(e["split"]["units"], 100);
    assert_eq!(e["arms"]["canary"]["units"], 30);
    assert_eq!(e["arms"]["canary"]["requests"], 120);
    // Every unit is counted once in its split; every request in the totals.
    let splits: u64 = e["splits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["units"].as_u64().unwrap())
        .sum();
    assert_eq!(splits, 1_600);
    let doc = l.stats(Some(route));
    let total = doc["arms"]["stable"]["requests"].as_u64().unwrap()
        + doc["arms"]["canary"]["requests"].as_u64().unwrap();
    assert_eq!(total, 6_400);
    // A genuine mismatch under one split is still caught at the next look.
    unit_traffic(
        &mut l,
        &mut mem,
        "canary",
        3000..3300,
        1,
        1_900,
        (fp, 300_000),
    );
    l.tick(route, 2_000, &mut rng);
    assert_eq!(l.stats(Some(route))["experiment"]["srm"]["mismatch"], true);
    // The old split is retired once idle, and its rows can then be deleted.
    l.tick(route, 1_700 + 61_000, &mut rng);
    assert_eq!(l.epochs.live.len(), 1);
    assert_eq!(l.epochs.retired.len(), 1);
    assert_eq!(l.epochs.retired[0].rows, 1_500);
}

#[test]
fn canary_rollback_resume_and_promote() {
    let cfg = common::one_route(
        r#"{"kind":"canary","stable":"v1","canary":"v2","percent":5,"steps":[{"percent":5,"hold_s":1},{"percent":20,"hold_s":600}],"guard":{"max_error_rate":0.1,"min_requests":20}}"#,
    );
    let route = &cfg.routes[0];
    let mut l = Learner::new("r");
    let mut rng = Xoshiro256::seed_from_u64(1);
    l.tick(route, 0, &mut rng);
    traffic(&mut l, "r", "canary", 30, 0, 10, 100);
    let s1 = l.tick(route, 1_000, &mut rng).state.unwrap();
    assert_eq!((s1.step, s1.canary_percent), (1, Some(20.0)));
    assert_eq!(
        l.operate(route, Operation::Resume, 1_100).unwrap_err().code,
        "not_rolled_back"
    );
    traffic(&mut l, "r", "canary", 30, 30, 10, 1_200);
    let rb = l.tick(route, 1_300, &mut rng).state.unwrap();
    assert!(rb.rolled_back);
    // Resume: back to the step in force at the breach, with a fresh window.
    let out = l.operate(route, Operation::Resume, 2_000).unwrap();
    let st = out.state.unwrap();
    assert!(!st.rolled_back);
    assert_eq!((st.step, st.canary_percent), (1, Some(20.0)));
    assert_eq!(st.last_action.as_deref(), Some("resume"));
    assert_eq!(st.last_action_ms, Some(2_000));
    assert_eq!(st.step_started_ms, 2_000);
    assert_eq!(
        l.tick(route, 2_100, &mut rng).state,
        None,
        "the breach's window is gone: no immediate second rollback"
    );
    // Promote: canary to 100 %, final.
    let st = l
        .operate(route, Operation::Promote, 3_000)
        .unwrap()
        .state
        .unwrap();
    assert_eq!(
        (st.canary_percent, st.step, st.rolled_back),
        (Some(100.0), 2, false)
    );
    assert_eq!(st.last_action.as_deref(), Some("promote"));
    traffic(&mut l, "r", "canary", 30, 0, 10, 3_100);
    assert_eq!(l.tick(route, 900_000, &mut rng).state, None);
    // A manual rollback keeps the step, so a later resume knows where to go back to.
    let st = l
        .operate(route, Operation::Rollback, 4_000)
        .unwrap()
        .state
        .unwrap();
    assert!(st.rolled_back && st.step == 2);
    let st = l
        .operate(route, Operation::Resume, 4_100)
        .unwrap()
        .state
        .unwrap();
    assert_eq!(st.canary_percent, Some(100.0));
    // Round trip through KV's JSON, and an old state without the new fields still parses.
    let back = RouteState::parse(&serde_json::to_string(&st).unwrap()).unwrap();
    assert_eq!(back, st);
    assert!(RouteState::parse(r#"{"fingerprint":"x"}"#).is_ok());
}

/// `n` canary or stable requests (`errors` of them 5xx) the edge routed under controller
/// epoch `epoch`.
fn traffic_in_epoch(l: &mut Learner, arm: &str, n: u32, errors: u32, now: u64, epoch: u64) {
    let mut b = Batcher::new(u32::MAX, u64::MAX);
    for i in 0..n {
        let outcome = if i < errors {
            Outcome::Error5xx
        } else {
            Outcome::Ok
        };
        b.push(
            Observation {
                route: "r",
                arm,
                outcome,
                status: if i < errors { 500 } else { 200 },
                latency_ms: 10,
                fingerprint: "",
                split_ppm: 0,
                propensity_ppm: None,
                epoch: Some(epoch),
                unit: Some(u64::from(i)),
            },
            now,
        );
    }
    l.report(&b.drain(), now);
}

/// The resume case with batches that arrive late (the edge flushes once a second): errors
/// observed before the operator's resume reach the object after it, tagged with the epoch
/// they were made under, and are re-filed (counted in the totals, not judged), so the
/// resumed canary is not rolled back again. Evidence of the new epoch still is.
#[test]
fn observations_from_before_an_operator_action_judge_nothing_after_it() {
    let cfg = common::one_route(
        r#"{"kind":"canary","stable":"v1","canary":"v2","percent":40,"guard":{"max_error_rate":0.2,"min_requests":10}}"#,
    );
    let route = &cfg.routes[0];
    let mut l = Learner::new("r");
    let mut rng = Xoshiro256::seed_from_u64(1);
    let s0 = l.tick(route, 0, &mut rng).state.unwrap();
    let e0 = s0.epoch;
    traffic_in_epoch(&mut l, "canary", 20, 20, 100, e0);
    let rb = l.tick(route, 200, &mut rng).state.unwrap();
    assert!(rb.rolled_back);
    assert!(rb.epoch > e0, "a rollback starts an epoch: {rb:?}");
    let resumed = l
        .operate(route, Operation::Resume, 300)
        .unwrap()
        .state
        .unwrap();
    assert!(resumed.epoch > rb.epoch, "so does an operator's resume");
    assert_eq!(l.epoch, resumed.epoch);
    // A second of failing canary traffic made before the rollback arrives now.
    traffic_in_epoch(&mut l, "canary", 200, 200, 400, e0);
    traffic_in_epoch(&mut l, "canary", 30, 0, 400, rb.epoch);
    assert_eq!(l.tick(route, 500, &mut rng).state, None, "not judged again");
    assert_eq!(l.stale_observations, 230);
    assert_eq!(l.window.arm("canary").map_or(0, |a| a.requests), 0);
    assert_eq!(l.total.arm("canary").unwrap().requests, 250, "but counted");
    let doc = l.stats(Some(route));
    assert_eq!(doc["stale_observations"], 230);
    assert_eq!(doc["epoch"], resumed.epoch);
    // Failures of the resumed epoch still roll it back.
    traffic_in_epoch(&mut l, "canary", 20, 20, 600, resumed.epoch);
    let again = l.tick(route, 700, &mut rng).state.unwrap();
    assert!(again.rolled_back, "{again:?}");
    // Untagged observations (an edge that does not read the state) are always current.
    let mut b = Learner::new("r");
    b.epoch = 5;
    traffic(&mut b, "r", "canary", 10, 0, 10, 1);
    assert_eq!(b.window.arm("canary").unwrap().requests, 10);
    assert_eq!(b.stale_observations, 0);
}

/// A strategy change starts an epoch: the new canary's state carries it.
#[test]
fn a_strategy_change_starts_an_epoch() {
    let a = common::one_route(
        r#"{"kind":"canary","stable":"v1","canary":"v2","percent":10,"guard":{"max_error_rate":0.2}}"#,
    );
    let b = common::one_route(
        r#"{"kind":"canary","stable":"v1","canary":"v2","percent":20,"guard":{"max_error_rate":0.2}}"#,
    );
    let mut l = Learner::new("r");
    let mut rng = Xoshiro256::seed_from_u64(1);
    let s1 = l.tick(&a.routes[0], 0, &mut rng).state.unwrap();
    let s2 = l.tick(&b.routes[0], 10, &mut rng).state.unwrap();
    assert_eq!(s2.canary_percent, Some(20.0));
    assert!(s2.epoch > s1.epoch, "{s1:?} {s2:?}");
}

/// Shadow comparisons of the candidate `v2` on route `r`: `agree` of `n` within tolerance.
fn shadows(l: &mut Learner, n: u32, agree: u32, now: u64) {
    use switchyard_core::observe::PayloadAgreement;
    let mut b = Batcher::new(u32::MAX, u64::MAX);
    for i in 0..n {
        let ok = i < agree;
        b.push_shadow(
            &ShadowObservation {
                route: "r",
                shadow_origin: "v2",
                status_agree: true,
                latency_diff_ms: 1,
                payload: Some(PayloadAgreement::Compared {
                    exact: false,
                    normalised: ok,
                }),
            },
            Some(l.epoch),
            now,
        );
    }
    l.report(&b.drain(), now);
}

/// Steady traffic on both arms: `n` requests each, `errors` 5xx on the canary, latencies
/// spread over 10..30 ms (canary scaled by `slow`).
fn arms(l: &mut Learner, n: u32, errors: u32, slow: f64, now: u64) {
    let mut b = Batcher::new(u32::MAX, u64::MAX);
    for i in 0..n {
        for arm in ["stable", "canary"] {
            let err = arm == "canary" && i < errors;
            let base = 10 + (i * 7919) % 21;
            let ms = if arm == "canary" {
                (f64::from(base) * slow) as u32
            } else {
                base
            };
            b.push(
                Observation {
                    route: "r",
                    arm,
                    outcome: if err { Outcome::Error5xx } else { Outcome::Ok },
                    status: if err { 500 } else { 200 },
                    latency_ms: ms,
                    fingerprint: "",
                    split_ppm: 0,
                    propensity_ppm: None,
                    epoch: Some(l.epoch),
                    unit: Some(u64::from(i)),
                },
                now,
            );
        }
    }
    l.report(&b.drain(), now);
}

const GATED: &str = r#"{"kind":"canary","stable":"v1","canary":"v2","percent":10,
    "steps":[{"percent":10,"hold_s":1},{"percent":50,"hold_s":1}],
    "guard":{"max_error_rate":0.5,"min_requests":5},
    "gates":{"shadow":{"min_observations":100,"min_agreement":0.95,"compare":{"kind":"kserve_v2"}},
             "promote":{"margin":{"error_rate":0.02,"latency_ratio":1.25},"min_requests":200}}}"#;

/// The whole pipeline without workerd: shadow (held while agreement fails, passed when it
/// holds), each step, then promotion by the non-inferiority test, each gate decision
/// returned with its evidence.
#[test]
fn a_gated_canary_walks_shadow_steps_and_the_promotion_gate() {
    let cfg = common::one_route(GATED);
    let route = &cfg.routes[0];
    let mut l = Learner::new("r");
    let mut rng = Xoshiro256::seed_from_u64(1);
    let s0 = l.tick(route, 0, &mut rng).state.unwrap();
    assert_eq!(
        (s0.stage.as_deref(), s0.canary_percent),
        (Some("shadow"), Some(0.0))
    );
    // 60 compared: waiting (no event); then 120 at 50 %: failing (one event, no state change).
    shadows(&mut l, 60, 60, 100);
    let out = l.tick(route, 200, &mut rng);
    assert_eq!((out.state.as_ref(), out.gate.as_ref()), (None, None));
    shadows(&mut l, 60, 0, 300);
    let out = l.tick(route, 400, &mut rng);
    assert_eq!(out.state, None);
    let g = out.gate.unwrap();
    assert_eq!((g.gate.as_str(), g.verdict.as_str()), ("shadow", "failing"));
    assert_eq!(g.evidence["compared"], 120);
    assert_eq!(g.evidence["agreement"], 0.5);
    let out = l.tick(route, 500, &mut rng);
    assert_eq!(out.gate, None, "a failing gate is news once");
    let doc = l.stats(Some(route));
    assert_eq!(doc["pipeline"]["current_name"], "shadow");
    assert!(doc["pipeline"]["waiting_for"]
        .as_str()
        .unwrap()
        .starts_with("shadow gate failing"));
    // Agreement climbs to 0.95 over 1,200 compared: passed, live at the first step.
    shadows(&mut l, 1_080, 1_080, 600);
    let out = l.tick(route, 700, &mut rng);
    let s1 = out.state.unwrap();
    assert_eq!(
        (s1.stage.as_deref(), s1.canary_percent, s1.step),
        (Some("live"), Some(10.0), 0)
    );
    assert_eq!(out.gate.unwrap().verdict, "passed");
    // Steps: held 1 s each with guard evidence.
    arms(&mut l, 20, 0, 1.0, 800);
    let s2 = l.tick(route, 1_800, &mut rng).state.unwrap();
    assert_eq!((s2.step, s2.canary_percent), (1, Some(50.0)));
    // The last step: too few requests -> waiting; equal arms, enough data -> promoted.
    arms(&mut l, 50, 0, 1.0, 1_900);
    let out = l.tick(route, 3_000, &mut rng);
    assert_eq!(out.state, None);
    assert_eq!(
        l.gates
            .iter()
            .find(|g| g.gate == "promote")
            .unwrap()
            .verdict,
        "waiting"
    );
    let mut t = 3_000;
    let promoted = loop {
        arms(&mut l, 100, 0, 1.0, t);
        t += 300;
        let out = l.tick(route, t, &mut rng);
        if let Some(st) = out.state {
            break (st, out.gate.unwrap(), t);
        }
        assert!(t < 60_000, "never decided: {:?}", l.gates);
    };
    let (st, g, at) = promoted;
    assert_eq!(st.canary_percent, Some(100.0));
    assert!(st
        .reason
        .unwrap()
        .starts_with("canary promoted to 100%: promotion gate: not worse"));
    assert_eq!(g.verdict, "not_worse");
    assert!(
        g.evidence["metrics"]["error_rate"]["upper"]
            .as_f64()
            .unwrap()
            < 0.02
    );
    assert!(
        g.evidence["metrics"]["latency"]["upper_ratio"]
            .as_f64()
            .unwrap()
            < 1.25
    );
    eprintln!(
        "promoted at {at} ms with {} requests per arm: {}",
        g.evidence["requests"]["canary"], g.summary
    );
    assert_eq!(l.stats(Some(route))["pipeline"]["status"], "promoted");
}

/// On the last step a candidate with 10 % errors (margin 2 points) is rolled back by the
/// promotion gate; one 1.6 times slower (margin 1.25) too; one inside both margins is not.
#[test]
fn the_promotion_gate_rolls_back_a_worse_candidate() {
    let cfg = common::one_route(
        r#"{"kind":"canary","stable":"v1","canary":"v2","percent":50,"steps":[{"percent":50,"hold_s":600}],
            "gates":{"promote":{"margin":{"error_rate":0.02,"latency_ratio":1.25},"min_requests":100}}}"#,
    );
    let route = &cfg.routes[0];
    for (errors_per_100, slow, worse) in [(10, 1.0, true), (0, 1.6, true), (0, 1.05, false)] {
        let mut l = Learner::new("r");
        let mut rng = Xoshiro256::seed_from_u64(3);
        l.tick(route, 0, &mut rng);
        let mut t = 0;
        let mut verdict = None;
        while t < 30_000 {
            arms(&mut l, 100, errors_per_100, slow, t);
            t += 300;
            if let Some(st) = l.tick(route, t, &mut rng).state {
                verdict = Some(st);
                break;
            }
        }
        let last = l.gates.iter().find(|g| g.gate == "promote").unwrap();
        eprintln!(
            "errors {errors_per_100}/100, latency x{slow}: {}",
            last.summary
        );
        match verdict {
            Some(st) => {
                assert!(worse, "{st:?}");
                assert!(st.rolled_back);
                assert!(st
                    .reason
                    .unwrap()
                    .starts_with("canary rolled back: promotion gate: worse"));
            }
            None => {
                assert!(!worse, "not rolled back: {}", last.summary);
                // Not worse, but the hold (600 s) is not over: waiting to promote.
                assert_eq!(last.verdict, "not_worse");
            }
        }
    }
}

#[test]
fn bandit_promote_and_resume() {
    let cfg = two_arm_bandit("");
    let route = &cfg.routes[0];
    let arms = match &route.strategy {
        switchyard_core::config::Strategy::Bandit { arms, .. } => arms.clone(),
        _ => unreachable!(),
    };
    let mut l = Learner::new("r");
    let mut rng = Xoshiro256::seed_from_u64(1);
    traffic(&mut l, "r", "a", 100, 0, 10, 1);
    traffic(&mut l, "r", "b", 100, 0, 10, 1);
    for i in 0..60 {
        l.feedback(id(i), "b", 1.0, 1, 2, 60_000).unwrap();
    }
    l.tick(route, 10, &mut rng);
    assert_eq!(
        l.operate(route, Operation::Resume, 11).unwrap_err().code,
        "not_promoted"
    );
    let out = l.operate(route, Operation::Promote, 20).unwrap();
    let w = out.weights.unwrap();
    assert_eq!(w.resolve(&arms, 0.05), vec![0.0, 1.0], "{w:?}");
    assert_eq!(out.state.unwrap().promoted_arm.as_deref(), Some("b"));
    assert_eq!(l.tick(route, 30, &mut rng).weights, None, "promotion holds");
    l.operate(route, Operation::Resume, 40).unwrap();
    let w = l.tick(route, 50, &mut rng).weights.unwrap();
    assert!(w.arms["a"] >= 0.05 - 1e-12 && w.drained.is_empty(), "{w:?}");
    assert_eq!(
        l.operate(route, Operation::Rollback, 60).unwrap_err().code,
        "not_a_canary"
    );
}

#[test]
fn ab_health_guard_stops_or_drains() {
    for (action, expect) in [("stop", vec!["b", "c"]), ("drain", vec!["c"])] {
        let cfg = common::one_route(&format!(
            r#"{{"kind":"ab","guard":{{"max_error_rate":0.2,"min_requests":20,"action":"{action}"}},"arms":[{{"name":"a","origin":"v1","weight":1}},{{"name":"b","origin":"v2","weight":1}},{{"name":"c","origin":"v3","weight":1}}]}}"#
        ));
        let route = &cfg.routes[0];
        let mut l = Learner::new("r");
        let mut rng = Xoshiro256::seed_from_u64(1);
        traffic(&mut l, "r", "a", 50, 0, 10, 1);
        traffic(&mut l, "r", "b", 50, 2, 10, 1);
        traffic(&mut l, "r", "c", 15, 15, 10, 1);
        assert_eq!(
            l.tick(route, 1_000, &mut rng).state,
            None,
            "below min_requests"
        );
        traffic(&mut l, "r", "c", 10, 10, 10, 1_500);
        let st = l.tick(route, 2_000, &mut rng).state.expect("guard acted");
        assert_eq!(st.drained, expect, "{action}: {st:?}");
        assert!(
            st.reason.as_deref().unwrap().contains("arm c error rate"),
            "{st:?}"
        );
        assert_eq!(l.tick(route, 3_000, &mut rng).state, None, "sticky");
        // The edge follows: no unit lands on a drained arm.
        for i in 0..300 {
            let d = common::decide_with(
                &cfg,
                &format!("u{i}"),
                &[],
                Inputs {
                    weights: None,
                    state: Some(&st),
                    layouts: &[],
                },
            );
            assert!(!expect.contains(&d.arm), "{action}: {}", d.arm);
        }
        let st = l
            .operate(route, Operation::Resume, 4_000)
            .unwrap()
            .state
            .unwrap();
        assert!(st.drained.is_empty());
        assert_eq!(l.tick(route, 5_000, &mut rng).state, None, "judged afresh");
    }
}

#[test]
fn one_floor_for_learner_and_edge() {
    let w = apply_floor(vec![0.0, 0.003, 0.997], 0.05, &[false, true, false]);
    assert!((w.iter().sum::<f64>() - 1.0).abs() < 1e-12);
    assert!((w[0] - 0.05).abs() < 1e-12, "{w:?}");
    assert!(
        (w[1] - 0.003).abs() < 1e-12,
        "exempt arm keeps its share: {w:?}"
    );
    assert_eq!(apply_floor(vec![0.2, 0.8], 0.1, &[]), {
        let f = 0.1;
        vec![f + 0.8 * 0.2, f + 0.8 * 0.8]
    });
}
