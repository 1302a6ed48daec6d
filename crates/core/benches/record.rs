//! Per-request recording cost: batching one observation and signing one receipt.
//! Run: `cargo bench -p switchyard-core --bench record`.

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use switchyard_core::observe::{Batcher, Observation, Outcome};
use switchyard_core::receipt::{Receipt, ReceiptSigner};

fn bench(c: &mut Criterion) {
    let mut batcher = Batcher::default();
    let mut now = 1_790_000_000_000u64;
    let mut i = 0u32;
    c.bench_function("batcher_push", |b| {
        b.iter(|| {
            i = i.wrapping_add(1);
            now += 1;
            let arm = if i.is_multiple_of(20) {
                "canary"
            } else {
                "stable"
            };
            let obs = Observation {
                route: "fraud",
                arm,
                outcome: Outcome::Ok,
                status: 200,
                latency_ms: 20 + (i % 200),
                fingerprint: "0123456789abcdef",
                split_ppm: 50_000,
                propensity_ppm: Some(if arm == "canary" { 50_000 } else { 950_000 }),
                unit: Some(u64::from(i)),
                epoch: Some(0),
            };
            // Includes the amortized drain every 50 observations, as at the edge.
            if batcher.push(black_box(obs), now) {
                black_box(batcher.drain());
            }
        })
    });

    let signer = ReceiptSigner::new(b"a-32-byte-secret-for-benchmarks!");
    let unit = Receipt::unit_hash_of("user-1234");
    let mut nonce = 0u64;
    c.bench_function("receipt_sign", |b| {
        b.iter(|| {
            nonce = nonce.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let r = Receipt::new("fraud", "canary", unit, 17, 1_790_000_000_000, nonce).unwrap();
            black_box(signer.sign(black_box(&r)))
        })
    });

    c.bench_function("receipt_unit_hash", |b| {
        b.iter(|| black_box(Receipt::unit_hash_of(black_box("user-1234"))))
    });

    let token =
        signer.sign(&Receipt::new("fraud", "canary", unit, 17, 1_790_000_000_000, 7).unwrap());
    c.bench_function("receipt_verify", |b| {
        b.iter(|| black_box(signer.verify(black_box(&token), 1_790_000_000_500, 86_400_000)))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
