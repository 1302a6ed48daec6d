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
    credit_shard, parse_object_name, shard_object_name, shard_of, Durable, MemStore, RewardSums,
    Store, TOTAL,
};
use switchyard_core::learn::{FeedbackError, Learner, MAX_ABS_REWARD};
use switchyard_core::observe::{Batcher, Observation, Outcome};
use switchyard_core::receipt::ReceiptId;
use switchyard_core::receipt::{Receipt, ReceiptSigner};

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
                unit: Some(u64::from(i)),
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

/// A receipt credited while a route had one ledger shard is refused after the config raises
/// `feedback_shards`: the shard count signed into the receipt picks the shard, not the config.
/// (By the config's count, as `v1` receipts are, most of them would reach a shard whose
/// ledger never saw them and be credited a second time: checked below.)
#[test]
fn resharding_never_credits_a_receipt_twice() {
    let signer = ReceiptSigner::new(b"switchyard-test-key-0123456789ab");
    let stores: Vec<MemStore> = (0..8).map(|_| MemStore::new()).collect();
    let mut shards: Vec<Durable<&MemStore>> = stores
        .iter()
        .enumerate()
        .map(|(k, s)| {
            Durable::open(s, &shard_object_name("r", k as u32))
                .unwrap()
                .0
        })
        .collect();
    let receipts: Vec<_> = (0..64u64)
        .map(|n| {
            let r = Receipt::new("r", "a", [0; 8], 1, 10, n)
                .unwrap()
                .with_shards(1)
                .unwrap();
            let (tok, _) = signer.sign_with_id(&r);
            signer.verify_with_id(&tok, 20, DAY).unwrap()
        })
        .collect();
    let credit = |shards: &mut Vec<Durable<&MemStore>>, k: u32, id| {
        shards[k as usize]
            .credit(id, "a", 1.0, 10, 20, DAY)
            .unwrap()
    };
    // Credited under `feedback_shards: 1`.
    for (r, id) in &receipts {
        let k = credit_shard(id, r.shards(), 1);
        assert_eq!(k, 0);
        assert_eq!(credit(&mut shards, k, *id), Ok(()));
    }
    // The config now says 8: every replay still reaches shard 0 and is refused.
    for (r, id) in &receipts {
        let k = credit_shard(id, r.shards(), 8);
        assert_eq!(credit(&mut shards, k, *id), Err(FeedbackError::Replayed));
    }
    // What the config's count alone would have done: most replays credited again.
    let twice = receipts
        .iter()
        .filter(|(_, id)| credit(&mut shards, credit_shard(id, None, 8), *id).is_ok())
        .count();
    println!("resharding: by the config's count alone, {twice} of 64 credited twice");
    assert!(
        twice > 40,
        "{twice} of 64 credited twice by the config's count"
    );
}

/// A batch in which units `units` of `arm` each send `per_unit` requests under a 10 % canary.
fn unit_batch(
    arm: &str,
    units: std::ops::Range<u64>,
    per_unit: u32,
    fp: &str,
) -> switchyard_core::observe::Batch {
    let mut b = Batcher::new(u32::MAX, u64::MAX);
    for u in units {
        for _ in 0..per_unit {
            b.push(
                Observation {
                    route: "r",
                    arm,
                    outcome: Outcome::Ok,
                    status: 200,
                    latency_ms: 10,
                    fingerprint: fp,
                    split_ppm: 100_000,
                    propensity_ppm: None,
                    epoch: None,
                    unit: Some(u),
                },
                1,
            );
        }
    }
    b.drain()
}

/// Unit rows: one per distinct unit, read and written with the batch, credited by the unit
/// a receipt names, capped, kept across reopen, all or nothing, deleted once retired.
#[test]
fn unit_rows_are_exact_bounded_and_atomic() {
    let cfg = common::one_route(r#"{"kind":"canary","stable":"v1","canary":"v2","percent":10}"#);
    let route = &cfg.routes[0];
    let fp = route.fingerprint.clone();
    let store = MemStore::new();
    let (mut d, _) = Durable::open(&store, "r").unwrap();
    let mut rng = Xoshiro256::seed_from_u64(1);
    d.tick(route, 1, &mut rng, &[]).unwrap();
    for chunk in 0..4u64 {
        d.report(
            &unit_batch("stable", chunk * 10..chunk * 10 + 10, 4, &fp),
            2,
        )
        .unwrap();
    }
    // The same units again: no new rows, more requests.
    d.report(&unit_batch("stable", 0..10, 1, &fp), 3).unwrap();
    d.report(&unit_batch("canary", 100..105, 4, &fp), 3)
        .unwrap();
    assert_eq!(store.unit_count(), 45);
    let before = store.bytes_written.get();
    d.report(&unit_batch("canary", 100..101, 1, &fp), 4)
        .unwrap();
    assert!(
        store.bytes_written.get() - before < 4_000,
        "one unit row and meta per batch"
    );
    // Feedback naming a unit converts that unit, once however often it converts.
    for (n, unit) in [(1u64, 100u64), (2, 100), (3, 101)] {
        assert_eq!(
            d.credit_unit(id(n), "canary", Some(unit), None, 1.0, 10, 20, DAY, None)
                .unwrap(),
            Ok(())
        );
    }
    // Feedback that overtakes its unit's first report: the unit gets its row under the split
    // in force (its requests come with the report).
    d.credit_unit(id(4), "canary", Some(999), None, 1.0, 10, 20, DAY, None)
        .unwrap()
        .unwrap();
    assert_eq!(store.unit_count(), 46);
    d.tick(route, 5, &mut rng, &[]).unwrap();
    let e = d.learner().stats(Some(route))["experiment"].clone();
    assert_eq!(e["arms"]["stable"]["units"], 40, "{e}");
    assert_eq!(e["arms"]["stable"]["requests"], 170);
    assert_eq!(e["arms"]["canary"]["units"], 6);
    assert_eq!(e["arms"]["canary"]["requests"], 21);
    assert_eq!(e["arms"]["canary"]["comparison"]["conversions"], 3);
    assert_eq!(rewards(&d, "canary"), (4, 4.0));
    // Reopened from storage: the same figures.
    let (d2, w) = Durable::open(&store, "r").unwrap();
    assert!(w.is_empty(), "{w:?}");
    assert_eq!(d2.learner().stats(Some(route))["experiment"], e);
    drop(d2);
    // A failed write changes nothing; the retry counts once.
    store.fail_writes.set(1);
    assert!(d
        .report(&unit_batch("canary", 200..210, 1, &fp), 6)
        .is_err());
    assert_eq!(store.unit_count(), 46);
    d.report(&unit_batch("canary", 200..210, 1, &fp), 6)
        .unwrap();
    assert_eq!(store.unit_count(), 56);
    // Past the cap, new units are refused (counted), known units go on.
    d.set_unit_cap(57);
    d.report(&unit_batch("canary", 300..303, 2, &fp), 7)
        .unwrap();
    d.report(&unit_batch("canary", 100..101, 1, &fp), 7)
        .unwrap();
    d.tick(route, 8, &mut rng, &[]).unwrap();
    let e = d.learner().stats(Some(route))["experiment"].clone();
    assert_eq!(store.unit_count(), 57);
    assert_eq!(e["arms"]["canary"]["units"], 17);
    assert_eq!(e["arms"]["canary"]["refused_units"], 2);
    assert_eq!(e["split"]["uncounted_requests"], 4);
    // A new split (the strategy edited): the old one is retired when idle, its rows deleted
    // in bounded batches.
    let cfg2 = common::one_route(r#"{"kind":"canary","stable":"v1","canary":"v2","percent":30}"#);
    let route2 = &cfg2.routes[0];
    d.tick(route2, 70_000, &mut rng, &[]).unwrap();
    assert_eq!(d.learner().epochs.retired.len(), 1);
    assert_eq!(d.prune_units(50).unwrap(), 50);
    assert_eq!(d.prune_units(50).unwrap(), 7);
    assert_eq!(d.prune_units(50).unwrap(), 0);
    assert_eq!(store.unit_count(), 0);
    assert_eq!(d.learner().epochs.rows, 0);
}

/// A fresh route whose feedback reaches its object before any report or tick (clients post
/// feedback as soon as they have the answer; an isolate reports up to a second later): with
/// the route's config the unit gets its row under the split in force, and the report then
/// adds its requests, so the unit is counted once and converted. Without the config (a
/// ledger shard) no unit row is written, and a flag route never counts units.
#[test]
fn feedback_before_the_first_report_converts_the_unit_under_the_split_in_force() {
    let cfg = common::one_route(r#"{"kind":"canary","stable":"v1","canary":"v2","percent":10}"#);
    let route = &cfg.routes[0];
    let fp = route.fingerprint.clone();
    let store = MemStore::new();
    let (mut d, _) = Durable::open(&store, "r").unwrap();
    for (n, unit) in [(1u64, 7u64), (2, 7), (3, 8)] {
        assert_eq!(
            d.credit_unit(
                id(n),
                "canary",
                Some(unit),
                Some(route),
                1.0,
                10,
                20,
                DAY,
                None
            )
            .unwrap(),
            Ok(())
        );
    }
    assert_eq!(store.unit_count(), 2, "units 7 and 8, once each");
    // Reopened before the report: the split and the unit sums were stored with the rows.
    let (mut d, w) = Durable::open(&store, "r").unwrap();
    assert!(w.is_empty(), "{w:?}");
    d.report(&unit_batch("canary", 7..10, 2, &fp), 30).unwrap();
    d.report(&unit_batch("stable", 20..40, 2, &fp), 30).unwrap();
    let mut rng = Xoshiro256::seed_from_u64(1);
    d.tick(route, 40, &mut rng, &[]).unwrap();
    let e = d.learner().stats(Some(route))["experiment"].clone();
    assert_eq!(e["split"]["split_ppm"], 100_000, "{e}");
    assert_eq!(e["arms"]["canary"]["units"], 3, "{e}");
    assert_eq!(e["arms"]["canary"]["requests"], 6);
    assert_eq!(e["arms"]["canary"]["comparison"]["conversions"], 2);
    assert_eq!(e["arms"]["stable"]["units"], 20);
    assert_eq!(e["splits"].as_array().unwrap().len(), 1, "one split: {e}");
    assert_eq!(rewards(&d, "canary"), (3, 3.0));

    // A ledger shard (no config passed) credits the arm only.
    let shard = MemStore::new();
    let (mut s, _) = Durable::open(&shard, "r").unwrap();
    s.credit_unit(id(9), "canary", Some(7), None, 1.0, 10, 20, DAY, None)
        .unwrap()
        .unwrap();
    assert_eq!(shard.unit_count(), 0);
    // A flag route counts no units, config or not.
    let flag =
        common::one_route(r#"{"kind":"flag","default":"v1","flags":[{"name":"f","origin":"v2"}]}"#);
    let fstore = MemStore::new();
    let (mut f, _) = Durable::open(&fstore, "r").unwrap();
    f.credit_unit(
        id(10),
        "v1",
        Some(7),
        Some(&flag.routes[0]),
        1.0,
        10,
        20,
        DAY,
        None,
    )
    .unwrap()
    .unwrap();
    assert_eq!(fstore.unit_count(), 0);
    assert!(f.learner().epochs.live.is_empty());
}
