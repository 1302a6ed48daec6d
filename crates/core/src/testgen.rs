//! Test helpers shared by the core's unit tests.

use serde_json::Value;

use crate::base::{Rng, Xoshiro256};

/// Random JSON values shaped like `keys` objects: known and unknown keys, every JSON
/// type, nested objects and arrays; for differential tests against serde's derive.
pub(crate) fn gen(rng: &mut Xoshiro256, keys: &[&str], strings: &[&str], depth: u32) -> Value {
    let r = rng.next_u64();
    let pick = |rng: &mut Xoshiro256, xs: &[&str]| {
        xs[(rng.next_u64() % xs.len() as u64) as usize].to_string()
    };
    match r % if depth < 2 { 10 } else { 7 } {
        0 => Value::Null,
        1 => Value::Bool(r & 64 == 0),
        2 => serde_json::json!([0u64, 1, 7, 4294967296u64, u64::MAX][(r >> 8) as usize % 5]),
        3 => serde_json::json!([-1i64, -0x8000_0000_0000_0000][(r >> 8) as usize % 2]),
        4 => serde_json::json!(
            [0.0, 1.5, 1e-6, 31_203_190_018_905.313, -2.0, 100.0, 1e300][(r >> 8) as usize % 7]
        ),
        5 => Value::String(pick(rng, strings)),
        6 => Value::String(pick(rng, keys)),
        7 | 8 => {
            let mut m = serde_json::Map::new();
            for _ in 0..rng.next_u64() % 5 {
                let k = if rng.next_u64().is_multiple_of(6) {
                    pick(rng, &["zz", "a\"b", ""])
                } else {
                    pick(rng, keys)
                };
                m.insert(k, gen(rng, keys, strings, depth + 1));
            }
            Value::Object(m)
        }
        _ => Value::Array(
            (0..rng.next_u64() % 5)
                .map(|_| gen(rng, keys, strings, depth + 1))
                .collect(),
        ),
    }
}
