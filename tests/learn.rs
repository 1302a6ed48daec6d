//! The learning loop without workerd: batches in, feedback credited once, ticks that move
//! bandit weights, roll a failing canary back and compute the experiment statistics.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use switchyard_core::learn::{FeedbackError, Learner};
use switchyard_core::observe::{Batcher, Observation, Outcome, ShadowObservation};
use switchyard_core::receipt::ReceiptId;
use switchyard_core::rng::Xoshiro256;
use switchyard_core::strategy::Inputs;

fn traffic(l: &mut Learner, route: &str, arm: &str, n: u32, errors: u32, latency: u32, now: u64) {
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
            },
            now,
        );
    }
    l.report(&b.drain(), now);
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
    let mut l = Learner::new("r");
    let mut rng = Xoshiro256::seed_from_u64(1);
    traffic(&mut l, "r", "control", 1000, 0, 10, 1);
    traffic(&mut l, "r", "treatment", 1300, 0, 10, 1);
    for i in 0..50 {
        l.feedback(id(i), "control", 1.0, 1, 2, 60_000).unwrap();
    }
    for i in 100..220 {
        l.feedback(id(i), "treatment", 1.0, 1, 2, 60_000).unwrap();
    }
    l.tick(route, 5, &mut rng);
    let doc = l.stats(Some(route));
    let e = &doc["experiment"];
    assert_eq!(e["control"], "control");
    let t = &e["arms"]["treatment"]["comparison"];
    assert!((t["rate"].as_f64().unwrap() - 120.0 / 1300.0).abs() < 1e-12);
    assert!(t["z_test"]["p_value"].as_f64().unwrap() < 0.05);
    assert!(t["prob_beat_control"].as_f64().unwrap() > 0.95);
    assert!(
        e["arms"]["treatment"]["sequential"]["always_valid_p_value"]
            .as_f64()
            .unwrap()
            <= 1.0
    );
    // 1000 vs 1300 under a 50/50 design is a sample-ratio mismatch.
    assert_eq!(e["srm"]["mismatch"], true, "{e}");
}

#[test]
fn shadow_agreement_is_reported() {
    let cfg = common::one_route(r#"{"kind":"recreate","origin":"v1"}"#);
    let mut l = Learner::new("r");
    let mut b = Batcher::new(u32::MAX, u64::MAX);
    use switchyard_core::compare::PayloadAgreement;
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
