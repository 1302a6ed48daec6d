//! The route ledger and aggregates against the SQLite-shaped storage interface
//! (`core::learn::Store`), in memory: credits once per receipt across reopen, O(1) bytes per
//! write, failed writes leave nothing half-applied, unreadable rows are skipped (never a
//! fresh start), read errors are errors, shards merge exactly.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use std::collections::BTreeMap;

use proptest::prelude::*;
use switchyard_core::base::Xoshiro256;
use switchyard_core::learn::{
    parse_object_name, shard_object_name, shard_of, Durable, MemStore, RewardSums, Store, TOTAL,
};
use switchyard_core::learn::{FeedbackError, Learner, MAX_ABS_REWARD};
use switchyard_core::observe::{Batcher, Observation, Outcome};
use switchyard_core::receipt::ReceiptId;

const DAY: u64 = 24 * 3600 * 1000;

fn id(n: u64) -> ReceiptId {
    let mut b = [0u8; 16];
    // Receipt ids are HMAC tags: spread over every byte.
    b[..8].copy_from_slice(&n.wrapping_mul(0x9e37_79b9_7f4a_7c15).to_be_bytes());
    b[8..].copy_from_slice(&n.to_le_bytes());
    ReceiptId(b)
}

fn batch(route: &str, arm: &str, n: u32, now: u64) -> switchyard_core::observe::Batch {
    let mut b = Batcher::new(u32::MAX, u64::MAX);
    for i in 0..n {
        b.push(
            Observation {
                route,
                arm,
                outcome: if i % 10 == 0 {
                    Outcome::Error5xx
                } else {
                    Outcome::Ok
                },
                status: 200,
                latency_ms: 10 + i % 50,
                fingerprint: "",
                split_ppm: 0,
                propensity_ppm: None,
                epoch: None,
            },
            now,
        );
    }
    b.drain()
}

fn rewards(d: &Durable<&MemStore>, arm: &str) -> (u64, f64) {
    d.learner()
        .total
        .arm(arm)
        .map_or((0, 0.0), |a| (a.reward_count, a.reward_sum))
}

#[test]
fn credits_once_per_receipt_and_survives_reopen() {
    let store = MemStore::new();
    let (mut d, w) = Durable::open(&store, "r").unwrap();
    assert!(w.is_empty());
    d.report(&batch("r", "a", 100, 5), 5).unwrap();
    for i in 0..500 {
        assert_eq!(d.credit(id(i), "a", 1.0, 10, 20, DAY).unwrap(), Ok(()));
    }
    assert_eq!(
        d.credit(id(7), "a", 1.0, 10, 21, DAY).unwrap(),
        Err(FeedbackError::Replayed)
    );
    assert_eq!(rewards(&d, "a"), (500, 500.0));
    drop(d);
    // A restart: everything comes back from the rows, the replay guard included.
    let (mut d, w) = Durable::open(&store, "r").unwrap();
    assert!(w.is_empty(), "{w:?}");
    assert_eq!(rewards(&d, "a"), (500, 500.0));
    assert_eq!(d.learner().total.arm("a").unwrap().requests, 100);
    assert_eq!(d.learner().route, "r");
    assert_eq!(
        d.credit(id(7), "a", 1.0, 10, 30, DAY).unwrap(),
        Err(FeedbackError::Replayed)
    );
    assert_eq!(d.credit(id(900), "a", 0.5, 10, 30, DAY).unwrap(), Ok(()));
    assert_eq!((&store).receipt_count().unwrap(), 501);
}

#[test]
fn bytes_written_per_credit_do_not_grow_with_history() {
    let store = MemStore::new();
    let (mut d, _) = Durable::open(&store, "r").unwrap();
    d.report(&batch("r", "a", 50, 1), 1).unwrap();
    let mut per_block = Vec::new();
    for block in 0..10u64 {
        let before = store.bytes_written.get();
        for i in 0..1000 {
            d.credit(id(block * 1000 + i), "a", 1.0, 10, 20, DAY)
                .unwrap()
                .unwrap();
        }
        per_block.push(store.bytes_written.get() - before);
    }
    let first = per_block[0] as f64;
    for b in &per_block {
        // Only the digits of the counters grow (a few bytes), never the replay history.
        assert!((*b as f64) < first * 1.05, "{per_block:?}");
    }
    assert!(per_block[0] / 1000 < 2_000, "{per_block:?}");
}

#[test]
fn a_failed_write_leaves_memory_and_storage_untouched_and_the_retry_succeeds() {
    let store = MemStore::new();
    let (mut d, _) = Durable::open(&store, "r").unwrap();
    d.credit(id(1), "a", 1.0, 10, 20, DAY).unwrap().unwrap();
    store.fail_writes.set(1);
    assert!(d.credit(id(2), "a", 1.0, 10, 20, DAY).is_err());
    assert_eq!(rewards(&d, "a"), (1, 1.0), "memory unchanged");
    // The client retries: credited, not 409.
    assert_eq!(d.credit(id(2), "a", 1.0, 10, 21, DAY).unwrap(), Ok(()));
    store.fail_writes.set(1);
    assert!(d.report(&batch("r", "a", 10, 30), 30).is_err());
    assert_eq!(d.learner().total.arm("a").unwrap().requests, 0);
    d.report(&batch("r", "a", 10, 31), 31).unwrap();
    let (d2, _) = Durable::open(&store, "r").unwrap();
    assert_eq!(rewards(&d2, "a"), (2, 2.0));
    assert_eq!(d2.learner().total.arm("a").unwrap().requests, 10);
}

#[test]
fn hostile_rewards_are_refused_and_change_nothing() {
    let store = MemStore::new();
    let (mut d, _) = Durable::open(&store, "r").unwrap();
    for (i, r) in [
        1e200,
        1e308,
        -1e308,
        f64::NAN,
        f64::INFINITY,
        MAX_ABS_REWARD * 1.5,
    ]
    .into_iter()
    .enumerate()
    {
        assert!(matches!(
            d.credit(id(i as u64), "a", r, 10, 20, DAY).unwrap(),
            Err(FeedbackError::BadReward(_))
        ));
    }
    assert_eq!(
        (&store).receipt_count().unwrap(),
        0,
        "a refused credit burns no receipt"
    );
    d.credit(id(0), "a", MAX_ABS_REWARD, 10, 20, DAY)
        .unwrap()
        .unwrap();
    d.credit(id(1), "a", -MAX_ABS_REWARD, 10, 20, DAY)
        .unwrap()
        .unwrap();
    let (d2, w) = Durable::open(&store, "r").unwrap();
    assert!(w.is_empty(), "{w:?}");
    assert_eq!(rewards(&d2, "a"), (2, 0.0));
}

#[test]
fn an_unreadable_row_is_skipped_not_a_fresh_start_and_read_errors_are_errors() {
    let store = MemStore::new();
    let (mut d, _) = Durable::open(&store, "r").unwrap();
    d.report(&batch("r", "a", 10, 1), 1).unwrap();
    d.report(&batch("r", "b", 20, 1), 1).unwrap();
    d.credit(id(1), "b", 1.0, 10, 20, DAY).unwrap().unwrap();
    store.poke(TOTAL, "a", "{not json");
    let (mut d2, w) = Durable::open(&store, "r").unwrap();
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(w[0].contains("total/a"), "{w:?}");
    assert_eq!(d2.learner().total.arm("b").unwrap().requests, 20);
    assert_eq!(
        d2.credit(id(1), "b", 1.0, 10, 30, DAY).unwrap(),
        Err(FeedbackError::Replayed),
        "the ledger is intact"
    );
    store.fail_reads.set(true);
    assert!(
        Durable::open(&store, "r").is_err(),
        "a read error is not empty"
    );
}

#[test]
fn expired_receipts_are_pruned_in_bounded_batches() {
    let store = MemStore::new();
    let (mut d, _) = Durable::open(&store, "r").unwrap();
    let max_age = 1000;
    for i in 0..250u64 {
        d.credit(id(i), "a", 1.0, i, i, max_age).unwrap().unwrap();
    }
    let horizon = switchyard_core::learn::receipt_expiry(100, max_age);
    assert_eq!(d.prune(horizon, 60).unwrap(), 60);
    assert_eq!(d.prune(horizon, 60).unwrap(), 40);
    assert_eq!(d.prune(horizon, 60).unwrap(), 0);
    assert_eq!((&store).receipt_count().unwrap(), 150);
    assert_eq!(
        (&store).next_expiry().unwrap(),
        Some(switchyard_core::learn::receipt_expiry(100, max_age))
    );
    // Aggregates are untouched by pruning.
    assert_eq!(rewards(&d, "a"), (250, 250.0));
}

#[test]
fn shards_merge_exactly_once_on_tick() {
    let cfg = common::one_route(
        r#"{"kind":"ab","arms":[{"name":"a","origin":"v1","weight":1},{"name":"b","origin":"v2","weight":1}]}"#,
    );
    let route = &cfg.routes[0];
    let main = MemStore::new();
    let (mut d, _) = Durable::open(&main, "r").unwrap();
    let shard_stores: Vec<MemStore> = (0..4).map(|_| MemStore::new()).collect();
    let mut shards: Vec<Durable<&MemStore>> = shard_stores
        .iter()
        .enumerate()
        .map(|(k, s)| {
            Durable::open(s, &shard_object_name("r", k as u32))
                .unwrap()
                .0
        })
        .collect();
    let mut credited = 0;
    for i in 0..2000u64 {
        let rid = id(i);
        let k = shard_of(&rid, 4) as usize;
        let arm = if i % 3 == 0 { "a" } else { "b" };
        let target = if k == 0 { &mut d } else { &mut shards[k] };
        target.credit(rid, arm, 1.0, 10, 20, DAY).unwrap().unwrap();
        credited += 1;
        // A replay reaches the same shard and is refused there.
        let target = if k == 0 { &mut d } else { &mut shards[k] };
        assert_eq!(
            target.credit(rid, arm, 1.0, 10, 21, DAY).unwrap(),
            Err(FeedbackError::Replayed)
        );
    }
    assert!(shards[1..].iter().all(|s| rewards(s, "b").0 > 0), "spread");
    let sums = |shards: &[Durable<&MemStore>]| -> Vec<(u32, BTreeMap<String, RewardSums>)> {
        shards[1..]
            .iter()
            .enumerate()
            .map(|(k, s)| (k as u32 + 1, s.reward_sums()))
            .collect()
    };
    let mut rng = Xoshiro256::seed_from_u64(1);
    d.tick(route, 30, &mut rng, &sums(&shards)).unwrap();
    // A second tick with the same sums merges nothing more.
    d.tick(route, 31, &mut rng, &sums(&shards)).unwrap();
    let total = rewards(&d, "a").0 + rewards(&d, "b").0;
    assert_eq!(total, credited);
    assert_eq!(rewards(&d, "a").0, 667);
    // After a restart of the route object, the merge positions are still known.
    let (mut d2, _) = Durable::open(&main, "r").unwrap();
    shards[2]
        .credit(id(10_000_002), "a", 1.0, 10, 40, DAY)
        .unwrap()
        .unwrap();
    d2.tick(route, 41, &mut rng, &sums(&shards)).unwrap();
    let total2 = rewards(&d2, "a").0 + rewards(&d2, "b").0;
    assert_eq!(total2, credited + 1, "only the new credit is merged");
}

#[test]
fn object_names() {
    assert_eq!(shard_object_name("fraud", 0), "fraud");
    assert_eq!(shard_object_name("fraud", 3), "fraud~3");
    assert_eq!(parse_object_name("fraud~3"), ("fraud", 3));
    assert_eq!(parse_object_name("fraud"), ("fraud", 0));
    for i in 0..100 {
        assert!(shard_of(&id(i), 5) < 5);
        assert_eq!(shard_of(&id(i), 1), 0);
    }
}

#[test]
fn a_legacy_learner_is_imported() {
    let mut old = Learner::new("r");
    old.report(&batch("r", "a", 40, 1), 1);
    old.feedback(id(1), "a", 1.0, 10, 20, DAY).unwrap();
    let store = MemStore::new();
    let (mut d, _) = Durable::open(&store, "r").unwrap();
    assert!(d.is_blank().unwrap());
    d.import_legacy(
        old,
        vec![(id(1), switchyard_core::learn::receipt_expiry(10, DAY))],
        20,
    )
    .unwrap();
    let (mut d, _) = Durable::open(&store, "r").unwrap();
    assert!(!d.is_blank().unwrap());
    assert_eq!(d.learner().total.arm("a").unwrap().requests, 40);
    assert_eq!(
        d.credit(id(1), "a", 1.0, 10, 30, DAY).unwrap(),
        Err(FeedbackError::Replayed)
    );
}

#[derive(Debug, Clone)]
enum Op {
    Credit { n: u8, arm: bool, reward: i8 },
    Report { arm: bool, n: u8 },
    FailNext,
    Reopen,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (any::<u8>(), any::<bool>(), any::<i8>()).prop_map(|(n, arm, reward)| Op::Credit { n, arm, reward }),
        2 => (any::<bool>(), 1u8..20).prop_map(|(arm, n)| Op::Report { arm, n }),
        1 => Just(Op::FailNext),
        1 => Just(Op::Reopen),
    ]
}

proptest! {
    /// Against a plain model: every receipt id is credited at most once, failed writes
    /// change nothing, and a reopened object equals the one in memory.
    #[test]
    fn ledger_matches_a_model(ops in proptest::collection::vec(op(), 1..120)) {
        let store = MemStore::new();
        let (mut d, _) = Durable::open(&store, "r").unwrap();
        let mut seen = std::collections::HashSet::new();
        let mut model: BTreeMap<&str, (u64, i64, u64)> = BTreeMap::new();
        let mut fail = false;
        for o in ops {
            match o {
                Op::Credit { n, arm, reward } => {
                    let arm = if arm { "a" } else { "b" };
                    if fail { store.fail_writes.set(1); }
                    let r = d.credit(id(u64::from(n)), arm, f64::from(reward), 10, 20, DAY);
                    if fail {
                        prop_assert!(r.is_err());
                        fail = false;
                    } else if seen.insert(n) {
                        prop_assert_eq!(r.unwrap(), Ok(()));
                        let e = model.entry(arm).or_default();
                        e.0 += 1;
                        e.1 += i64::from(reward);
                    } else {
                        prop_assert_eq!(r.unwrap(), Err(FeedbackError::Replayed));
                    }
                }
                Op::Report { arm, n } => {
                    let arm = if arm { "a" } else { "b" };
                    if fail { store.fail_writes.set(1); }
                    let r = d.report(&batch("r", arm, u32::from(n), 5), 5);
                    if fail {
                        prop_assert!(r.is_err());
                        fail = false;
                    } else {
                        r.unwrap();
                        model.entry(arm).or_default().2 += u64::from(n);
                    }
                }
                Op::FailNext => fail = true,
                Op::Reopen => {
                    let before = d.learner().clone();
                    d = Durable::open(&store, "r").unwrap().0;
                    prop_assert_eq!(&before.total, &d.learner().total);
                    prop_assert_eq!(&before.window, &d.learner().window);
                }
            }
        }
        for (arm, (count, sum, requests)) in model {
            let a = d.learner().total.arm(arm).cloned().unwrap_or_default();
            prop_assert_eq!(a.reward_count, count);
            prop_assert_eq!(a.reward_sum, sum as f64);
            prop_assert_eq!(a.requests, requests);
        }
        prop_assert_eq!((&store).receipt_count().unwrap(), seen.len() as u64);
    }
}

#[test]
fn feedback_shards_is_read_from_the_config() {
    let route = |extra: &str| {
        common::config(&format!(
            r#"[{{"name":"r","match":{{"path_prefix":"/"}}{extra},"strategy":{{"kind":"recreate","origin":"v1"}}}}]"#
        ))
        .routes
        .remove(0)
    };
    assert_eq!(route("").feedback_shards, 1, "default");
    assert_eq!(route(r#","feedback_shards":4"#).feedback_shards, 4);
    assert_eq!(route(r#","feedback_shards":64"#).feedback_shards, 64);
}
