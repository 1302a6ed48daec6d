//! Golden vectors for sticky bucketing v1, produced by an independent Python implementation
//! (`scripts/bucketing_vectors.py`). Runs natively and under wasm-bindgen-test in node.

use serde_json::Value;
use switchyard_core::base;

#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

const VECTORS: &str = include_str!("fixtures/bucketing_v1.json");

#[test]
fn golden_vectors() {
    let doc: Value = serde_json::from_str(VECTORS).unwrap();
    let vectors = doc["vectors"].as_array().unwrap();
    assert!(vectors.len() >= 40);
    for v in vectors {
        let salt = v["salt"].as_str().unwrap();
        let unit = v["unit"].as_str().unwrap();
        let h = base::hash(salt, unit);
        assert_eq!(
            format!("{h:016x}"),
            v["h"].as_str().unwrap(),
            "{salt:?} {unit:?}"
        );
        assert_eq!(base::bucket_ppm(h) as u64, v["bucket"].as_u64().unwrap());
        let arms: Vec<(String, f64)> = v["arms"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| (a[0].as_str().unwrap().to_string(), a[1].as_f64().unwrap()))
            .collect();
        let chosen = base::choose_weighted(h, arms.iter().map(|(n, w)| (base::arm_key(n), *w)));
        assert_eq!(
            chosen.map(|i| arms[i].0.as_str()),
            v["chosen"].as_str(),
            "{salt:?} {unit:?}"
        );
    }
}
