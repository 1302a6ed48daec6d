//! Security of the request path, native: header hygiene, duplicate JSON keys, route names,
//! validator completeness, KServe output pairing, the bounded-staleness rule, the receipt unit
//! id and the unit-id rule shared by the edge and OFREP.
//! Fuzz-found crashes are kept here as regression cases (none so far: see
//! docs/security.md for the fuzz runs).
#![cfg(not(target_arch = "wasm32"))]

use proptest::prelude::*;
use switchyard_core::base::{valid_name, NameChars};
use switchyard_core::config;
use switchyard_core::observe::{compare, Compare, PayloadAgreement, Side};
use switchyard_core::receipt::{Receipt, ReceiptSigner};
use switchyard_core::routing::{
    self, freshness, outgoing_headers, response_headers, Freshness, KvTimes,
};

fn h(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn names(v: &[(String, String)]) -> Vec<&str> {
    v.iter().map(|(k, _)| k.as_str()).collect()
}

// ---------------------------------------------------------------- headers

#[test]
fn connection_named_headers_are_not_forwarded() {
    let out = outgoing_headers(
        h(&[
            ("Connection", "keep-alive, X-Hop-Secret , ,x-other"),
            ("x-hop-secret", "hunter2"),
            ("x-other", "1"),
            ("x-kept", "yes"),
            ("keep-alive", "timeout=5"),
            ("x-switchyard-arm", "forged"),
            ("cf-connecting-ip", "203.0.113.9"),
            ("x-forwarded-for", "198.51.100.1"),
        ]),
        "api.example.com",
        "https",
        &[("x-switchyard-arm", "canary")],
    );
    let n = names(&out);
    assert!(!n.contains(&"x-hop-secret"), "{n:?}");
    assert!(!n.contains(&"x-other"));
    assert!(!n.contains(&"connection"));
    assert!(!n.contains(&"keep-alive"));
    assert!(!n.contains(&"cf-connecting-ip"));
    assert!(n.contains(&"x-kept"));
    let get = |k: &str| {
        out.iter()
            .filter(|(n, _)| n == k)
            .map(|(_, v)| v.as_str())
            .collect::<Vec<_>>()
    };
    assert_eq!(get("x-switchyard-arm"), ["canary"], "only our arm header");
    assert_eq!(get("x-forwarded-for"), ["198.51.100.1, 203.0.113.9"]);
    assert_eq!(get("x-forwarded-host"), ["api.example.com"]);
    assert_eq!(get("x-forwarded-proto"), ["https"]);
}

#[test]
fn set_cookie_is_appended_and_origin_cannot_speak_for_us() {
    let out = response_headers(
        h(&[
            ("set-cookie", "session=s1; Path=/"),
            ("set-cookie", "csrf=c1; Path=/"),
            ("X-Switchyard-Arm", "forged"),
            ("x-switchyard-receipt", "forged"),
            ("x-switchyard-stale", "1"),
            ("content-type", "application/json"),
            ("x-origin", "v1"),
        ]),
        &[
            ("x-switchyard-arm", "stable"),
            ("set-cookie", "sy_uid=abc; Path=/"),
            ("x-origin", "replaced"),
        ],
    );
    let cookies: Vec<&str> = out
        .iter()
        .filter(|(k, _)| k == "set-cookie")
        .map(|(_, v)| v.as_str())
        .collect();
    assert_eq!(
        cookies,
        [
            "session=s1; Path=/",
            "csrf=c1; Path=/",
            "sy_uid=abc; Path=/"
        ]
    );
    let ours: Vec<_> = out.iter().filter(|(k, _)| routing::is_ours(k)).collect();
    assert_eq!(
        ours,
        [&("x-switchyard-arm".to_string(), "stable".to_string())]
    );
    let xo: Vec<_> = out
        .iter()
        .filter(|(k, _)| k == "x-origin")
        .map(|(_, v)| v.as_str())
        .collect();
    assert_eq!(
        xo,
        ["replaced"],
        "non-cookie headers we add replace the origin's"
    );
    assert!(out.iter().any(|(k, _)| k == "content-type"));
}

proptest! {
    #[test]
    fn no_origin_header_in_our_namespace_survives(
        origin in prop::collection::vec(("[a-zA-Z-]{1,20}", "[ -~]{0,20}"), 0..12),
        suffix in "[a-z]{1,8}",
    ) {
        let mut origin = origin;
        origin.push((format!("X-SwitchYard-{suffix}"), "forged".into()));
        let n_cookies = origin.iter().filter(|(k, _)| k.eq_ignore_ascii_case("set-cookie")).count();
        let out = response_headers(origin.clone(), &[("x-switchyard-route", "r"), ("set-cookie", "sy_uid=1")]);
        for (k, v) in &out {
            if routing::is_ours(k) {
                prop_assert_eq!((k.as_str(), v.as_str()), ("x-switchyard-route", "r"));
            }
        }
        let cookies = out.iter().filter(|(k, _)| k.eq_ignore_ascii_case("set-cookie")).count();
        prop_assert_eq!(cookies, n_cookies + 1);
    }

    #[test]
    fn forwarded_headers_never_include_connection_tokens(
        tokens in prop::collection::vec("[a-z][a-z-]{0,10}", 1..5),
        others in prop::collection::vec(("[a-z][a-z-]{0,10}", "[a-z0-9]{0,8}"), 0..8),
    ) {
        let mut incoming = vec![("connection".to_string(), tokens.join(", "))];
        for t in &tokens {
            incoming.push((t.clone(), "v".into()));
        }
        incoming.extend(others);
        let out = outgoing_headers(incoming, "h", "https", &[]);
        for (k, _) in &out {
            prop_assert!(!tokens.contains(k) || k.starts_with("x-forwarded-"), "{} forwarded", k);
            prop_assert!(!routing::is_ours(k));
        }
    }
}

// ---------------------------------------------------------------- config

fn base(routes: &str) -> String {
    format!(
        r#"{{"version":1,"origins":{{"a":{{"url":"https://a.example"}},"b":{{"url":"https://b.example"}}}},"routes":{routes}}}"#
    )
}

fn paths(text: &str) -> Vec<String> {
    match config::parse(text) {
        Ok(_) => Vec::new(),
        Err(e) => e.into_iter().map(|e| e.path).collect(),
    }
}

#[test]
fn duplicate_keys_are_rejected_with_their_path() {
    let text = r#"{"version":1,"version":1,
        "origins":{"a":{"url":"https://a.example"},"a":{"url":"https://evil.example"}},
        "routes":[{"name":"r","match":{"path_prefix":"/"},
                   "strategy":{"kind":"ab","kind":"ab","arms":[{"name":"x","origin":"a","weight":1}]}}]}"#;
    let p = paths(text);
    assert!(p.contains(&"$.version".to_string()), "{p:?}");
    assert!(p.contains(&"$.origins.a".to_string()), "{p:?}");
    assert!(
        p.contains(&"$.routes[0].strategy.kind".to_string()),
        "{p:?}"
    );
    // Escaped spellings of one key are the same key.
    let esc = r#"{"version":1,"origins":{"a":{"url":"https://a.example","\u0075rl":"https://b.example"}},"routes":[]}"#;
    assert_eq!(paths(esc), ["$.origins.a.url"]);
    // Equal keys in different objects, and in arrays of objects, are fine.
    let ok = base(
        r#"[{"name":"r","match":{"path_prefix":"/"},"strategy":{"kind":"ab","arms":[{"name":"x","origin":"a","weight":1},{"name":"y","origin":"b","weight":1}]}}]"#,
    );
    assert!(config::parse(&ok).is_ok());
    assert!(config::duplicate_keys(&ok).is_empty());
    // A key repeated many times is reported once, with the count.
    let many = format!(
        "{{{}}}",
        (0..1000).map(|_| r#""k":1"#).collect::<Vec<_>>().join(",")
    );
    let d = config::duplicate_keys(&many);
    assert_eq!(d.len(), 1);
    assert!(d[0].reason.contains("1000 times"), "{}", d[0].reason);
}

#[test]
fn route_names_are_restricted() {
    for bad in [".", "..", "a.b", "a/b", "", "a b", "ü", &"x".repeat(65)] {
        let text = base(&format!(
            r#"[{{"name":{},"match":{{"path_prefix":"/"}},"strategy":{{"kind":"ab","arms":[{{"name":"x","origin":"a","weight":1}}]}}}}]"#,
            serde_json::to_string(bad).unwrap()
        ));
        assert_eq!(paths(&text), ["$.routes[0].name"], "{bad:?}");
    }
    for good in ["fraud", "A-b_9", &"x".repeat(64)] {
        assert!(valid_name(good.as_bytes(), NameChars::Route));
    }
    // Arm and origin names keep their wider set (dots allowed).
    let text = base(
        r#"[{"name":"r","match":{"path_prefix":"/"},"strategy":{"kind":"ab","arms":[{"name":"v1.2","origin":"a","weight":1}]}}]"#,
    );
    assert!(config::parse(&text).is_ok());
}

#[test]
fn validator_reports_every_error_after_a_bad_field() {
    let text = base(
        r#"[{"name":"r","match":{"path_prefix":"/"},"strategy":{"kind":"rolling","from":"a","to":"b","batches":4,
            "interval_s":-1,"guard":{"max_error_rate":7}}}]"#,
    );
    let p = paths(&text);
    assert!(
        p.contains(&"$.routes[0].strategy.interval_s".to_string()),
        "{p:?}"
    );
    assert!(
        p.contains(&"$.routes[0].strategy.guard.max_error_rate".to_string()),
        "{p:?}"
    );
    // A bad route name does not hide a bad strategy either.
    let text = base(
        r#"[{"name":"..","match":{"path_prefix":"/"},"strategy":{"kind":"canary","stable":"a","canary":"zz","percent":500}}]"#,
    );
    let p = paths(&text);
    for want in [
        "$.routes[0].name",
        "$.routes[0].strategy.canary",
        "$.routes[0].strategy.percent",
    ] {
        assert!(p.contains(&want.to_string()), "{want} missing from {p:?}");
    }
}

// ---------------------------------------------------------------- KServe pairing

fn kserve(a: &str, b: &str) -> PayloadAgreement {
    compare(
        &Compare::KServeV2 { tolerance: 0.0 },
        Side::new(200, a.as_bytes()),
        Side::new(200, b.as_bytes()),
    )
    .payload
}

const EXACT: PayloadAgreement = PayloadAgreement::Compared {
    exact: true,
    normalised: true,
};
const DIFFER: PayloadAgreement = PayloadAgreement::Compared {
    exact: false,
    normalised: false,
};

#[test]
fn kserve_pairs_outputs_by_name_and_position() {
    let xx = r#"{"outputs":[{"name":"x","data":[1]},{"name":"x","data":[2]}]}"#;
    let xy = r#"{"outputs":[{"name":"x","data":[1]},{"name":"y","data":[2]}]}"#;
    let yx = r#"{"outputs":[{"name":"y","data":[2]},{"name":"x","data":[1]}]}"#;
    let xx_swapped = r#"{"outputs":[{"name":"x","data":[2]},{"name":"x","data":[1]}]}"#;
    assert_eq!(kserve(xx, xy), DIFFER, "[x, x] vs [x, y]");
    assert_eq!(kserve(xy, xx), DIFFER);
    assert_eq!(kserve(xx, xx), EXACT);
    assert_eq!(kserve(xy, yx), EXACT, "distinct names pair by name");
    assert_eq!(
        kserve(xx, xx_swapped),
        DIFFER,
        "repeated names pair by position"
    );
}

proptest! {
    #[test]
    fn kserve_exact_only_for_the_same_named_multiset(
        a in prop::collection::vec((0u8..3, 0i32..3), 1..5),
        b in prop::collection::vec((0u8..3, 0i32..3), 1..5),
    ) {
        let doc = |v: &[(u8, i32)]| serde_json::json!({"outputs": v.iter().map(|(n, d)| serde_json::json!({"name": format!("o{n}"), "data": [d]})).collect::<Vec<_>>()}).to_string();
        // Expected: for every name, the same sequence of data in document order.
        let seq = |v: &[(u8, i32)], n: u8| v.iter().filter(|(m, _)| *m == n).map(|(_, d)| *d).collect::<Vec<_>>();
        let same = a.len() == b.len() && (0..3).all(|n| seq(&a, n) == seq(&b, n));
        let got = kserve(&doc(&a), &doc(&b));
        prop_assert_eq!(got == EXACT, same, "{:?} vs {:?}: {:?}", a, b, got);
    }
}

// ---------------------------------------------------------------- bounded staleness

const TTL: u64 = 2_000;
const MAX: u64 = 5_000;
const STUCK: u64 = 3_000;

fn t(read: Option<u64>, checked: Option<u64>, loading: Option<u64>) -> KvTimes {
    KvTimes {
        read,
        checked,
        loading,
    }
}

#[test]
fn freshness_rule() {
    let f = |now, times| freshness(now, times, TTL, MAX, STUCK);
    // Never read: read now, or join the running read.
    assert_eq!(f(0, t(None, None, None)), Freshness::Load);
    assert_eq!(f(10, t(None, None, Some(5))), Freshness::Join);
    // Within the TTL: serve.
    assert_eq!(f(1_999, t(Some(0), Some(0), None)), Freshness::Fresh);
    // Past the TTL, within the bound: serve and refresh once.
    assert_eq!(f(2_000, t(Some(0), Some(0), None)), Freshness::Refresh);
    assert_eq!(f(4_999, t(Some(0), Some(0), Some(2_000))), Freshness::Serve);
    // Past the bound: wait for a read; never serve silently.
    assert_eq!(f(5_000, t(Some(0), Some(0), None)), Freshness::Load);
    assert_eq!(
        f(3_600_000, t(Some(0), Some(0), None)),
        Freshness::Load,
        "an hour idle"
    );
    assert_eq!(f(5_000, t(Some(0), Some(0), Some(4_000))), Freshness::Join);
    // A read stuck for STUCK ms no longer counts.
    assert_eq!(f(8_000, t(Some(0), Some(0), Some(4_000))), Freshness::Load);
    // KV failed within the last TTL: serve the old value, marked stale.
    assert_eq!(f(6_000, t(Some(0), Some(5_500), None)), Freshness::Stale);
    // ... and try again once the TTL since that failure has passed.
    assert_eq!(f(7_600, t(Some(0), Some(5_500), None)), Freshness::Load);
    // A clock that went backwards counts as fresh.
    assert_eq!(f(100, t(Some(500), Some(500), None)), Freshness::Fresh);
}

proptest! {
    #[test]
    fn never_served_past_the_bound_unless_kv_failed(
        now in 0u64..100_000, read in proptest::option::of(0u64..100_000),
        checked in proptest::option::of(0u64..100_000), loading in proptest::option::of(0u64..100_000),
    ) {
        let plan = freshness(now, t(read, checked, loading), TTL, MAX, STUCK);
        let age = read.map(|r| now.saturating_sub(r));
        if matches!(plan, Freshness::Fresh | Freshness::Serve | Freshness::Refresh) {
            prop_assert!(age.is_some_and(|a| a < MAX));
        }
        if plan == Freshness::Stale {
            // Only when the last attempt, after the last answer, failed less than a TTL ago.
            let (r, c) = (read.unwrap(), checked.unwrap());
            prop_assert!(c > r && now.saturating_sub(c) < TTL);
        }
    }
}

// ---------------------------------------------------------------- receipts

#[test]
fn receipt_names_the_unit_by_a_keyed_id_not_the_bucketing_hash() {
    let s1 = ReceiptSigner::new(b"key-one-0123456789abcdef");
    let s2 = ReceiptSigner::new(b"key-two-0123456789abcdef");
    let unit = "user-42";
    let id = s1.unit_id(unit);
    assert_eq!(id, s1.unit_id(unit), "stable per key");
    assert_ne!(id, s2.unit_id(unit), "keyed");
    assert_ne!(id, s1.unit_id("user-43"));
    // Not the bucketing hash under any route salt, nor the unkeyed receipt hash.
    for salt in ["fraud:split", "r:split", ""] {
        assert_ne!(id, switchyard_core::base::hash(salt, unit).to_be_bytes());
    }
    assert_ne!(id, Receipt::unit_hash_of(unit));
    // A v1 receipt with the keyed id signs and verifies as before.
    let r = Receipt::new("fraud", "canary", id, 7, 1_000, 9).unwrap();
    let tok = s1.sign(&r);
    assert_eq!(s1.verify(&tok, 1_000, 60_000).unwrap(), r);
}

// ---------------------------------------------------------------- fuzz regressions

#[test]
fn fuzz_regressions_never_panic() {
    // Inputs kept from the fuzz runs and hand-made edge cases of the same shapes.
    for text in [
        "{\"a\":1,\"a\"",
        "{\"\\",
        "[{\"a\":{\"a\":1,\"a\":2}}]",
        "{\"\":1,\"\":2}",
        "\"\\u00",
    ] {
        let _ = config::duplicate_keys(text);
        let _ = config::parse(text);
    }
    for url in [
        "a://",
        "a://@",
        "a://[",
        "a://x?#",
        "a://#/",
        "x://[::1",
        "a://u@[::1]:8/p?q#f",
    ] {
        if let Some(p) = routing::split_url(url) {
            assert!(p.path.starts_with('/'));
        }
    }
}

// ---------------------------------------------------------------- identity is bytes

/// What a client can send as a unit id, as the worker sees it: the runtime decodes header
/// bytes as UTF-8 and puts U+FFFD in place of every sequence that is not (measured under
/// workerd: `zz-` + Latin-1 `ü`, `ö`, `é` or `ß` all arrive as `zz-\u{FFFD}`);
/// `String::from_utf8_lossy` decodes the same way. An OFREP client sends the id in JSON,
/// which can carry any Unicode string: for bytes that are UTF-8 it is the same string, for
/// others the best it can send is that same lossy decoding.
fn seen_by_worker(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

const FLAG_CFG: &str = r#"{"version":1,"origins":{"a":{"url":"http://127.0.0.1:1"},"b":{"url":"http://127.0.0.1:2"}},
  "routes":[{"name":"r","match":{"path_prefix":"/"},"unit":[{"header":"x-user-id"}],
    "strategy":{"kind":"ab","arms":[{"name":"a","origin":"a","weight":1},{"name":"b","origin":"b","weight":1}]},
    "flags":[{"name":"f1","rollout":50},{"name":"f2","rollout":10}]}]}"#;

/// For every byte string: the edge and OFREP both refuse it, or both take the same id and
/// give every flag the same value.
fn edge_and_ofrep_agree(bytes: &[u8]) -> Result<(), TestCaseError> {
    use switchyard_core::ops::{evaluate_all, Context};
    let cfg = config::parse(FLAG_CFG).unwrap();
    let id = seen_by_worker(bytes);
    let headers = [("x-user-id", id.as_str())];
    let req = routing::RequestView {
        method: "GET",
        host: "h",
        path: "/",
        query: None,
        headers: &headers[..],
        country: None,
    };
    let edge = routing::unit_id(&cfg.routes[0], &req).map(|u| u.map(|c| c.into_owned()));
    let ofrep = Context::from_body(&serde_json::json!({ "context": { "targetingKey": id } }));
    match (edge, ofrep) {
        (Ok(Some(unit)), Ok(ctx)) => {
            prop_assert_eq!(&unit, &ctx.targeting_key);
            let mut rng = switchyard_core::base::Xoshiro256::seed_from_u64(1);
            let d = routing::decide(&cfg, 0, &unit, &req, Default::default(), &mut rng);
            let evals = evaluate_all(&cfg, &ctx);
            for (i, e) in evals.iter().enumerate() {
                prop_assert_eq!(e.value, d.flags & (1 << i) != 0, "flag {}", i);
            }
        }
        (Ok(None), Err(_)) => prop_assert!(id.is_empty()),
        (Err(_), Err(_)) => {}
        (edge, ofrep) => {
            prop_assert!(false, "{id:?}: edge {edge:?}, OFREP {:?}", ofrep.err());
        }
    }
    Ok(())
}

proptest! {
    #[test]
    fn edge_and_ofrep_agree_on_every_byte_string(bytes in proptest::collection::vec(any::<u8>(), 0..40)) {
        edge_and_ofrep_agree(&bytes)?;
    }
}

#[test]
fn latin1_ids_are_refused_not_merged() {
    // The four ids of the report: Latin-1 bytes, one unit after the runtime's decoding.
    let latin1: Vec<Vec<u8>> = [0xfc_u8, 0xf6, 0xe9, 0xdf]
        .iter()
        .map(|&c| [b"zz-".as_slice(), &[c]].concat())
        .collect();
    let seen: Vec<String> = latin1.iter().map(|b| seen_by_worker(b)).collect();
    assert!(seen.iter().all(|s| s == "zz-\u{FFFD}"));
    for s in &seen {
        assert_eq!(
            routing::check_unit_id(s),
            Err(routing::UnitIdError::NotText)
        );
    }
    // Their UTF-8 twins are four units.
    let utf8 = ["zz-ü", "zz-ö", "zz-é", "zz-ß"];
    for u in utf8 {
        assert_eq!(
            routing::check_unit_id(&seen_by_worker(u.as_bytes())),
            Ok(Some(u))
        );
    }
    for b in latin1
        .iter()
        .map(Vec::as_slice)
        .chain(utf8.iter().map(|u| u.as_bytes()))
    {
        edge_and_ofrep_agree(b).unwrap();
    }
}
