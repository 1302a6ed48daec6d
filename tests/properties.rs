//! Property tests of the bucketing and strategy guarantees (native only).
#![cfg(not(target_arch = "wasm32"))]

mod common;

use proptest::prelude::*;
use switchyard_core::base::{self, arm_key, choose_weighted, in_share};
use switchyard_core::config;
use switchyard_core::routing;

fn arms(weights: &[f64]) -> Vec<(u64, f64)> {
    weights
        .iter()
        .enumerate()
        .map(|(i, w)| (arm_key(&format!("arm{i}")), *w))
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Observed shares stay within 4.5 standard deviations of the weights.
    #[test]
    fn split_matches_weights(weights in prop::collection::vec(0.0f64..10.0, 2..5), salt in "[a-z]{1,8}") {
        prop_assume!(weights.iter().any(|w| *w > 0.1));
        let a = arms(&weights);
        let total: f64 = weights.iter().sum();
        let n = 8000usize;
        let mut counts = vec![0usize; weights.len()];
        for u in 0..n {
            let h = base::hash(&salt, &format!("unit-{u}"));
            counts[choose_weighted(h, a.iter().copied()).unwrap()] += 1;
        }
        for (i, w) in weights.iter().enumerate() {
            let p = w / total;
            let sd = (p * (1.0 - p) / n as f64).sqrt();
            let got = counts[i] as f64 / n as f64;
            prop_assert!((got - p).abs() <= 4.5 * sd + 1e-9, "arm {i}: {got} vs {p} ({counts:?})");
        }
    }

    /// A zero-weight arm is never chosen.
    #[test]
    fn zero_weight_never_chosen(weights in prop::collection::vec(prop_oneof![Just(0.0), 0.01f64..5.0], 2..6), h in any::<u64>()) {
        let a = arms(&weights);
        match choose_weighted(h, a.iter().copied()) {
            Some(i) => prop_assert!(weights[i] > 0.0),
            None => prop_assert!(weights.iter().all(|w| *w == 0.0)),
        }
    }

    /// Changing one arm's weight only moves units to or from that arm.
    #[test]
    fn rendezvous_moves_only_what_must_move(
        weights in prop::collection::vec(0.1f64..10.0, 3..6),
        which in 0usize..6,
        new_weight in 0.0f64..20.0,
        hs in prop::collection::vec(any::<u64>(), 200),
    ) {
        let k = which % weights.len();
        let before = arms(&weights);
        let mut after = before.clone();
        after[k].1 = new_weight;
        let grew = new_weight >= weights[k];
        for h in hs {
            let b = choose_weighted(h, before.iter().copied()).unwrap();
            let a = choose_weighted(h, after.iter().copied()).unwrap();
            if a != b {
                if grew { prop_assert_eq!(a, k) } else { prop_assert_eq!(b, k) }
            }
        }
    }

    /// Raising a share keeps everyone who was in (monotone ramps).
    #[test]
    fn share_ramps_are_monotone(p1 in 0u32..=1_000_000, p2 in 0u32..=1_000_000, h in any::<u64>()) {
        let (lo, hi) = if p1 <= p2 { (p1, p2) } else { (p2, p1) };
        if in_share(h, lo) { prop_assert!(in_share(h, hi)); }
    }

    /// Canary ramps through the whole config path are monotone too.
    #[test]
    fn canary_ramp_keeps_canary_users(lo in 0.0f64..50.0, extra in 0.0f64..50.0, units in prop::collection::vec("[a-z0-9]{1,12}", 50)) {
        let lo = (lo * 100.0).round() / 100.0;
        let hi = ((lo + extra) * 100.0).round() / 100.0;
        let c_lo = common::one_route(&format!(r#"{{"kind":"canary","stable":"v1","canary":"v2","percent":{lo}}}"#));
        let c_hi = common::one_route(&format!(r#"{{"kind":"canary","stable":"v1","canary":"v2","percent":{hi}}}"#));
        for u in units {
            if common::arm_of(&c_lo, &u) == "canary" {
                prop_assert_eq!(common::arm_of(&c_hi, &u), "canary");
            }
        }
    }

    /// Assignment depends only on (salt, unit): the same across fresh parses of the config.
    #[test]
    fn assignment_is_stable(unit in "\\PC{0,40}") {
        // Ids the edge refuses (U+FFFD: bytes that were not UTF-8) are never assigned.
        prop_assume!(!unit.is_empty() && !unit.contains('\u{FFFD}'));
        let strategy = r#"{"kind":"ab","arms":[{"name":"a","origin":"v1","weight":1},{"name":"b","origin":"v2","weight":1},{"name":"c","origin":"v3","weight":2}]}"#;
        let x = common::one_route(strategy);
        let y = common::one_route(strategy);
        prop_assert_eq!(common::arm_of(&x, &unit), common::arm_of(&y, &unit));
    }

    /// Any path or query keeps the configured authority.
    #[test]
    fn forwarding_cannot_change_authority(path in "/\\PC{0,60}", query in proptest::option::of("\\PC{0,30}"), strip in proptest::option::of("/[a-z]{1,4}")) {
        let cfg = common::one_route(r#"{"kind":"recreate","origin":"v1"}"#);
        let o = &cfg.origins[0];
        let url = routing::forward_url(o, strip.as_deref(), &path, query.as_deref());
        prop_assert!(url.starts_with(&o.base));
        prop_assert!(url[o.base.len()..].starts_with('/'));
    }

    /// Arbitrary text and arbitrary JSON never panic the config parser.
    #[test]
    fn config_parser_never_panics(text in "\\PC{0,200}") {
        let _ = config::parse(&text);
    }

    #[test]
    fn config_parser_never_panics_on_json(v in arb_json()) {
        let _ = config::parse(&v.to_string());
    }
}

fn arb_json() -> impl Strategy<Value = serde_json::Value> {
    use serde_json::{json, Value};
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        (-1e6f64..1e6).prop_map(|f| json!(f)),
        prop_oneof![
            Just("v1".to_string()),
            Just("canary".to_string()),
            "[a-z_]{0,8}".prop_map(|s| s)
        ]
        .prop_map(Value::String),
    ];
    let keys = prop_oneof![
        Just("version"),
        Just("origins"),
        Just("routes"),
        Just("name"),
        Just("match"),
        Just("strategy"),
        Just("kind"),
        Just("arms"),
        Just("weight"),
        Just("percent"),
        Just("url"),
        Just("shadow"),
        Just("flags"),
        Just("rules"),
        Just("origin"),
        Just("stable"),
        Just("canary"),
        Just("path_prefix"),
    ];
    leaf.prop_recursive(4, 64, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(keys.clone().prop_map(String::from), inner, 0..5)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// The one floor: weights sum to 1, floored arms get at least the (clamped) floor,
    /// exempt arms keep their normalised share, nothing is NaN.
    #[test]
    fn apply_floor_invariants(
        w in proptest::collection::vec(prop_oneof![0.0f64..10.0, Just(0.0), Just(f64::NAN), Just(-1.0)], 1..6),
        min_share in prop_oneof![0.0f64..0.6, Just(f64::NAN)],
        exempt_bits in 0u8..64,
    ) {
        let exempt: Vec<bool> = (0..w.len()).map(|i| exempt_bits & (1 << i) != 0).collect();
        let out = switchyard_core::config::apply_floor(w.clone(), min_share, &exempt);
        prop_assert_eq!(out.len(), w.len());
        prop_assert!(out.iter().all(|x| x.is_finite() && *x >= 0.0), "{:?}", out);
        prop_assert!((out.iter().sum::<f64>() - 1.0).abs() < 1e-9, "{:?}", out);
        let clean: Vec<f64> = w.iter().map(|x| if x.is_finite() && *x > 0.0 { *x } else { 0.0 }).collect();
        let total: f64 = clean.iter().sum();
        if total > 0.0 {
            let e: f64 = (0..w.len()).filter(|i| exempt[*i]).map(|i| clean[i] / total).sum();
            let m = exempt.iter().filter(|x| !**x).count();
            if m > 0 && e < 1.0 - 1e-9 && min_share.is_finite() {
                let f = min_share.clamp(0.0, (1.0 - e) / m as f64);
                for i in 0..w.len() {
                    if exempt[i] {
                        prop_assert!((out[i] - clean[i] / total).abs() < 1e-9);
                    } else {
                        prop_assert!(out[i] >= f - 1e-9, "{:?} f={}", out, f);
                    }
                }
            }
        }
    }
}
