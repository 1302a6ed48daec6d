//! Config fixtures shared by native and wasm runs: valid configs parse, invalid ones are
//! rejected with exactly the expected JSON paths (and nothing is half-applied).

use serde_json::Value;
use switchyard_core::config;

#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

const CASES: &str = include_str!("fixtures/config_cases.json");

#[test]
fn config_fixture_cases() {
    let doc: Value = serde_json::from_str(CASES).unwrap();
    let origins = doc["base_origins"].clone();
    for case in doc["cases"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let mut cfg = case["config"].clone();
        cfg["origins"] = origins.clone();
        let text = cfg.to_string();
        let mut expected: Vec<String> = case["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e.as_str().unwrap().to_string())
            .collect();
        expected.sort();
        match config::parse(&text) {
            Ok(c) => {
                assert!(
                    expected.is_empty(),
                    "{name}: parsed, expected errors {expected:?}"
                );
                assert_eq!(
                    c.routes.len(),
                    cfg["routes"].as_array().unwrap().len(),
                    "{name}"
                );
                assert_eq!(c.id.len(), 12);
            }
            Err(errors) => {
                let mut got: Vec<String> = errors.iter().map(|e| e.path.clone()).collect();
                got.sort();
                got.dedup();
                assert_eq!(got, expected, "{name}: {errors:#?}");
                assert!(errors.iter().all(|e| !e.reason.is_empty()));
            }
        }
    }
}

#[test]
fn garbage_is_rejected_at_root() {
    for text in ["", "nul", "[]", "{", "\"x\"", "{\"version\":1}"] {
        let errs = config::parse(text).unwrap_err();
        assert!(!errs.is_empty(), "{text:?}");
    }
}

/// The demo's seeded config (`make demo`) is valid, so the demo never starts broken.
#[test]
fn demo_config_is_valid() {
    let cfg =
        config::parse(include_str!("../demo/config.json")).unwrap_or_else(|e| panic!("{e:#?}"));
    assert_eq!(cfg.routes.len(), 2);
    assert!(cfg.routes[0].shadows[0].compare.is_some());
}
