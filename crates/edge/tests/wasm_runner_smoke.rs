//! Proves the wasm test pipeline (`cargo test --target wasm32-unknown-unknown` under Node via
//! wasm-bindgen-test-runner) actually runs assertions, and that the hashing the bucketing relies
//! on (SHA-256) and the injected RNG behave identically on wasm32 and natively.
#![cfg(target_arch = "wasm32")]

use sha2::{Digest, Sha256};
use switchyard_core::base::{Rng, Xoshiro256};
use wasm_bindgen_test::wasm_bindgen_test;

#[wasm_bindgen_test]
fn sha256_matches_the_fips_vector_on_wasm() {
    let d = Sha256::digest(b"abc");
    let first8 = u64::from_be_bytes([d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7]]);
    assert_eq!(first8, 0xba78_16bf_8f01_cfea);
}

#[wasm_bindgen_test]
fn seeded_rng_is_deterministic_on_wasm() {
    let mut a = Xoshiro256::seed_from_u64(42);
    let mut b = Xoshiro256::seed_from_u64(42);
    let xs: Vec<u64> = (0..4).map(|_| a.next_u64()).collect();
    let ys: Vec<u64> = (0..4).map(|_| b.next_u64()).collect();
    assert_eq!(xs, ys);
    let f = a.next_f64();
    assert!((0.0..1.0).contains(&f));
}

/// The edge lowercases non-ASCII text through the JS engine (to keep std's case tables out of
/// the bundle); it must agree with `str::to_lowercase`, incl. final sigma.
#[wasm_bindgen_test]
fn normalise_text_lowercases_unicode_like_std_on_wasm() {
    use switchyard_core::observe::normalise_text_with;
    use switchyard_edge::text::lowercase;
    for (input, want) in [
        ("  Hello,\n  World!! ", "hello, world"),
        ("ÉLAN Straße", "élan straße"),
        ("ΟΔΟΣ ΣΑΣ", "οδος σας"),
        ("İSTANBUL", "i\u{307}stanbul"),
        ("\u{201C}ЁЖ!\u{201D}", "ёж"),
    ] {
        assert_eq!(normalise_text_with(input, lowercase), want, "{input}");
        assert_eq!(lowercase(input), input.to_lowercase(), "{input}");
    }
}
