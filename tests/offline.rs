//! Offline learning in the route's object, against the in-memory store: the decision log
//! (rows, rewards joined late or early, sampling beyond the rate, retention), the OPE sums
//! (from batches and credits, merged from ledger shards) and their document, and a bandit
//! whose weights an external trainer writes (the learner writes only drains).
#![cfg(not(target_arch = "wasm32"))]

mod common;

use std::collections::BTreeMap;

use serde_json::json;
use switchyard_core::base::Xoshiro256;
use switchyard_core::learn::{
    ope_document, parse_policy, shard_object_name, Durable, MemStore, Operation, RewardSums,
    LOG_RATE_PER_MINUTE, LOG_RETENTION_MS,
};
use switchyard_core::observe::{Batch, Batcher, DecisionRow, Observation, Outcome};
use switchyard_core::receipt::ReceiptId;

const DAY: u64 = 24 * 3600 * 1000;
const T0: u64 = 1_790_000_000_000;

fn id(n: u64) -> ReceiptId {
    let mut b = [0u8; 16];
    b[..8].copy_from_slice(&n.wrapping_mul(0x9e37_79b9_7f4a_7c15).to_be_bytes());
    b[8..].copy_from_slice(&n.to_le_bytes());
    ReceiptId(b)
}

/// A batch of decisions `(receipt n, arm, ppm)` on route `r`, each observed and logged as
/// the edge does.
fn decisions(rows: &[(u64, &str, u32)], at: u64) -> Batch {
    let mut b = Batcher::new(u32::MAX, u64::MAX);
    for (n, arm, p) in rows {
        b.push_decision(
            "r",
            DecisionRow {
                id: id(*n).to_string(),
                at,
                unit: format!("{n:016x}"),
                arm: arm.to_string(),
                p: *p,
                ctx: [("country".to_string(), Some("CH".to_string()))].into(),
            },
        );
        b.push(
            Observation {
                route: "r",
                arm,
                outcome: Outcome::Ok,
                status: 200,
                latency_ms: 5,
                fingerprint: "",
                split_ppm: 0,
                propensity_ppm: Some(*p),
                epoch: None,
                unit: None,
            },
            at,
        );
    }
    b.drain()
}

fn route() -> switchyard_core::config::Config {
    common::one_route(
        r#"{"kind":"ab","arms":[{"name":"x","origin":"v1","weight":1},{"name":"y","origin":"v2","weight":1}]}"#,
    )
}

#[test]
fn rewards_join_their_rows_late_or_early() {
    let store = MemStore::new();
    let (mut d, _) = Durable::open(&store, "r").unwrap();
    // Receipt 3's reward arrives before its row (the edge flushes up to a second later).
    d.credit_unit(id(3), "y", None, None, 1.0, T0, T0 + 10, DAY, Some(500_000))
        .unwrap()
        .unwrap();
    d.report(
        &decisions(
            &[(1, "x", 500_000), (2, "y", 500_000), (3, "y", 500_000)],
            T0,
        ),
        T0 + 500,
    )
    .unwrap();
    // Receipt 1's arrives after.
    d.credit_unit(
        id(1),
        "x",
        None,
        None,
        0.5,
        T0,
        T0 + 900,
        DAY,
        Some(500_000),
    )
    .unwrap()
    .unwrap();
    // A receipt without a propensity (older format) credits, but is neither logged nor in
    // the OPE sums.
    d.credit(id(9), "x", 1.0, T0, T0 + 900, DAY)
        .unwrap()
        .unwrap();
    let page = d.decision_page(None, 10).unwrap();
    let got: Vec<(String, Option<f64>, f64)> = page
        .iter()
        .map(|r| (r.row.arm.clone(), r.reward, r.rate))
        .collect();
    let mut want = [
        (id(1).to_string(), "x", Some(0.5)),
        (id(2).to_string(), "y", None),
        (id(3).to_string(), "y", Some(1.0)),
    ];
    want.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        got,
        want.iter()
            .map(|(_, a, r)| (a.to_string(), *r, 1.0))
            .collect::<Vec<_>>()
    );
    assert_eq!(page[0].row.ctx["country"].as_deref(), Some("CH"));
    // Paging by cursor.
    let first = d.decision_page(None, 2).unwrap();
    let cursor =
        switchyard_core::learn::parse_cursor(&switchyard_core::learn::cursor_of(&first[1]));
    assert_eq!(d.decision_page(cursor, 10).unwrap(), page[2..].to_vec());
    // The OPE sums saw three logged decisions and two logged rewards.
    let x = d.learner().total.arm("x").unwrap().ope;
    let y = d.learner().total.arm("y").unwrap().ope;
    assert_eq!(
        (x.decisions, x.credited, y.decisions, y.credited),
        (1, 1, 2, 1)
    );
    assert_eq!(x.r_inv_p, 1.0);
    assert_eq!(d.learner().total.arm("x").unwrap().reward_count, 2);
    // Rows survive a reopen; past the retention they are pruned.
    let (d2, _) = Durable::open(&store, "r").unwrap();
    assert_eq!(d2.decision_page(None, 10).unwrap(), page);
    assert_eq!(d2.prune_log(T0 + LOG_RETENTION_MS - 1).unwrap(), 0);
    assert_eq!(d2.prune_log(T0 + LOG_RETENTION_MS + 1).unwrap(), 3);
    assert!(d2.decision_page(None, 10).unwrap().is_empty());
}

#[test]
fn an_early_reward_whose_row_never_comes_is_forgotten() {
    let store = MemStore::new();
    let (mut d, _) = Durable::open(&store, "r").unwrap();
    d.credit_unit(id(5), "x", None, None, 1.0, T0, T0, DAY, Some(250_000))
        .unwrap()
        .unwrap();
    assert_eq!(d.prune_log(T0 + 60_000).unwrap(), 0);
    assert_eq!(d.prune_log(T0 + 11 * 60_000).unwrap(), 1);
    // A row arriving after that has no reward.
    d.report(&decisions(&[(5, "x", 250_000)], T0), T0 + 12 * 60_000)
        .unwrap();
    assert_eq!(d.decision_page(None, 10).unwrap()[0].reward, None);
}

#[test]
fn beyond_the_rate_rows_are_sampled_and_weights_recover_the_count() {
    let store = MemStore::new();
    let (mut d, _) = Durable::open(&store, "r").unwrap();
    let n = 5 * LOG_RATE_PER_MINUTE;
    let rows: Vec<(u64, &str, u32)> = (0..n).map(|i| (i, "x", 500_000)).collect();
    // One minute, in batches of 50 as the edge sends them.
    for (k, chunk) in rows.chunks(50).enumerate() {
        d.report(&decisions(chunk, T0), T0 + k as u64).unwrap();
    }
    let page = d.decision_page(None, 100_000).unwrap();
    let kept = page.len() as u64;
    let weighted: f64 = page.iter().map(|r| 1.0 / r.rate).sum();
    println!("{n} decisions in one minute: {kept} rows kept, weighted count {weighted:.0}");
    // About B (1 + ½ log2(N / B)) for a burst of N in one minute (docs/offline.md).
    let b = LOG_RATE_PER_MINUTE as f64;
    let about = b * (1.0 + 0.5 * (n as f64 / b).log2());
    assert!(
        (kept as f64 - about).abs() < 0.1 * about,
        "{kept} vs {about}"
    );
    // The first B decisions of the minute are all kept at rate 1.
    let full = page.iter().filter(|r| r.rate == 1.0).count() as u64;
    assert_eq!(full, LOG_RATE_PER_MINUTE);
    assert!((weighted - n as f64).abs() < 0.1 * n as f64, "{weighted}");
    // The OPE sums are not sampled.
    assert_eq!(d.learner().total.arm("x").unwrap().ope.decisions, n);
}

#[test]
fn shards_carry_their_credit_sums_to_the_route() {
    let cfg = route();
    let route = &cfg.routes[0];
    let main = MemStore::new();
    let shard_store = MemStore::new();
    let (mut d, _) = Durable::open(&main, "r").unwrap();
    let (mut s, _) = Durable::open(&shard_store, &shard_object_name("r", 1)).unwrap();
    d.report(&decisions(&[(1, "x", 500_000), (2, "y", 500_000)], T0), T0)
        .unwrap();
    s.credit_unit(id(2), "y", None, None, 1.0, T0, T0 + 5, DAY, Some(500_000))
        .unwrap()
        .unwrap();
    // The shard keeps no decision log.
    assert!(s.decision_page(None, 10).unwrap().is_empty());
    let sums: Vec<(u32, BTreeMap<String, RewardSums>)> = vec![(1, s.reward_sums())];
    let mut rng = Xoshiro256::seed_from_u64(1);
    d.tick(route, T0 + 10, &mut rng, &sums).unwrap();
    d.tick(route, T0 + 20, &mut rng, &sums).unwrap();
    let y = d.learner().total.arm("y").unwrap().ope;
    assert_eq!((y.decisions, y.credited, y.r_inv_p), (1, 1, 2.0));
    // The document: IPS of "all on y" = (1/2) * (1 / 0.5) = 1.
    let policy = parse_policy(route, &json!({ "y": 2 })).unwrap();
    let doc = ope_document(d.learner(), route, &policy);
    assert_eq!(doc["n"], json!(2));
    assert_eq!(doc["ips"]["estimate"], json!(1.0));
    assert_eq!(doc["policy"], json!({ "x": 0.0, "y": 1.0 }));
    assert_eq!(doc["evidence"], json!("conversion"));
}

#[test]
fn policies_are_checked_against_the_route() {
    let cfg = route();
    let route = &cfg.routes[0];
    for (bad, why) in [
        (json!({ "z": 1 }), "has no arm \"z\""),
        (json!({ "x": -1 }), "finite number >= 0"),
        (json!({ "x": 0 }), "at least one weight"),
        (json!([1]), "must be an object"),
    ] {
        let e = parse_policy(route, &bad).unwrap_err();
        assert!(e.0.contains(why), "{bad}: {}", e.0);
    }
    assert_eq!(
        parse_policy(route, &json!({ "x": 3, "y": 1 })).unwrap(),
        vec![("x".to_string(), 0.75), ("y".to_string(), 0.25)]
    );
}

#[test]
fn an_external_trainer_route_gets_drains_never_weights() {
    let cfg = common::one_route(
        r#"{"kind":"bandit","trainer":"external","min_samples":1,"arms":[{"name":"a","origin":"v1"},{"name":"b","origin":"v2"}]}"#,
    );
    let route = &cfg.routes[0];
    let store = MemStore::new();
    let (mut d, _) = Durable::open(&store, "r").unwrap();
    let mut rng = Xoshiro256::seed_from_u64(3);
    let mut t = T0;
    // Healthy traffic and rewards: a learner would write weights; this one does not.
    for i in 0..20u64 {
        d.report(
            &decisions(&[(i, "a", 500_000), (100 + i, "b", 500_000)], t),
            t,
        )
        .unwrap();
        d.credit_unit(id(100 + i), "b", None, None, 1.0, t, t, DAY, Some(500_000))
            .unwrap()
            .unwrap();
        let (out, _) = d.tick(route, t, &mut rng, &[]).unwrap();
        assert_eq!(out.weights, None);
        t += 300;
    }
    assert_eq!(d.learner().weights, None);
    // Arm a fails: the learner drains it in `state:<route>`, still no weights.
    let mut b = Batcher::new(u32::MAX, u64::MAX);
    for _ in 0..20 {
        b.push(
            Observation {
                route: "r",
                arm: "a",
                outcome: Outcome::Error5xx,
                status: 500,
                latency_ms: 5,
                fingerprint: "",
                split_ppm: 0,
                propensity_ppm: Some(500_000),
                epoch: None,
                unit: None,
            },
            t,
        );
    }
    d.report(&b.drain(), t).unwrap();
    let (out, _) = d.tick(route, t + 100, &mut rng, &[]).unwrap();
    assert_eq!(out.weights, None);
    let st = out.state.expect("a drain is a new state");
    assert_eq!(st.drained, vec!["a".to_string()]);
    assert_eq!(st.fingerprint, route.fingerprint);
    // Promotion is the trainer's business.
    let e = d
        .operate(route, Operation::Promote, t + 200)
        .unwrap()
        .unwrap_err();
    assert_eq!((e.status, e.code), (409, "external_trainer"));
}
