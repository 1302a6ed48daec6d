//! Native tests of every strategy through the public decision path.

#![cfg(not(target_arch = "wasm32"))]

mod common;

use common::*;
use switchyard_core::config::Config;
use switchyard_core::config::{RouteState, Weights};
use switchyard_core::routing::Inputs;
use switchyard_core::routing::{self, ConfigCache, Refresh, RequestView, Target};

fn share(cfg: &Config, arm: &str, n: usize) -> f64 {
    (0..n)
        .filter(|i| arm_of(cfg, &format!("u{i}")) == arm)
        .count() as f64
        / n as f64
}

#[test]
fn ab_splits_by_weight_and_is_sticky() {
    let cfg = one_route(
        r#"{"kind":"ab","arms":[{"name":"a","origin":"v1","weight":25},{"name":"b","origin":"v2","weight":75}]}"#,
    );
    let s = share(&cfg, "b", 20_000);
    assert!((s - 0.75).abs() < 0.015, "share of b {s}");
    for i in 0..200 {
        let u = format!("sticky{i}");
        assert_eq!(arm_of(&cfg, &u), arm_of(&cfg, &u));
    }
}

#[test]
fn ab_salt_rerandomises() {
    let a = one_route(
        r#"{"kind":"ab","arms":[{"name":"a","origin":"v1","weight":1},{"name":"b","origin":"v2","weight":1}]}"#,
    );
    let b = one_route(
        r#"{"kind":"ab","salt":"round-2","arms":[{"name":"a","origin":"v1","weight":1},{"name":"b","origin":"v2","weight":1}]}"#,
    );
    let differ = (0..2000)
        .filter(|i| arm_of(&a, &format!("u{i}")) != arm_of(&b, &format!("u{i}")))
        .count();
    assert!((800..1200).contains(&differ), "{differ} of 2000 moved");
}

#[test]
fn canary_share_state_and_rollback() {
    let cfg = one_route(r#"{"kind":"canary","stable":"v1","canary":"v2","percent":10}"#);
    let s = share(&cfg, "canary", 20_000);
    assert!((s - 0.10).abs() < 0.01, "{s}");
    let fp = cfg.routes[0].fingerprint.clone();
    let rolled = RouteState {
        fingerprint: fp.clone(),
        rolled_back: true,
        reason: Some("error rate".into()),
        ..Default::default()
    };
    let stale = RouteState {
        fingerprint: "other".into(),
        rolled_back: true,
        ..Default::default()
    };
    for i in 0..2000 {
        let u = format!("u{i}");
        let d = decide_with(
            &cfg,
            &u,
            &[],
            Inputs {
                weights: None,
                state: Some(&rolled),
            },
        );
        assert_eq!(d.arm, "stable");
        let d2 = decide_with(
            &cfg,
            &u,
            &[],
            Inputs {
                weights: None,
                state: Some(&stale),
            },
        );
        assert_eq!(
            d2.arm,
            arm_of(&cfg, &u),
            "state for another strategy version is ignored"
        );
    }
    let raised = RouteState {
        fingerprint: fp,
        canary_percent: Some(50.0),
        ..Default::default()
    };
    let n = (0..4000)
        .filter(|i| {
            decide_with(
                &cfg,
                &format!("u{i}"),
                &[],
                Inputs {
                    weights: None,
                    state: Some(&raised),
                },
            )
            .arm == "canary"
        })
        .count();
    assert!((1800..2200).contains(&n), "{n}");
}

/// A canary with a shadow gate: until its state says the gate passed, every unit goes to
/// stable (reason `shadow_gate`) and the gate's mirror fires; after, the first step's share
/// goes live and the mirror stops. A rolled-back shadow stage mirrors nothing.
#[test]
fn shadow_gate_keeps_the_candidate_at_zero_live_and_mirrors_to_it() {
    let cfg = one_route(
        r#"{"kind":"canary","stable":"v1","canary":"v2","percent":30,"steps":[{"percent":30,"hold_s":5}],
            "gates":{"shadow":{"min_observations":10,"min_agreement":0.9,"compare":{"kind":"kserve_v2"},"percent":100}}}"#,
    );
    let route = &cfg.routes[0];
    assert_eq!(route.shadows.len(), 1, "the gate's mirror");
    assert!(route.shadows[0].gate);
    let fp = route.fingerprint.clone();
    let state = |stage: &str, pct: f64, rolled_back: bool| RouteState {
        fingerprint: fp.clone(),
        canary_percent: Some(pct),
        stage: Some(stage.into()),
        rolled_back,
        ..Default::default()
    };
    let shadow = state("shadow", 0.0, false);
    let live = state("live", 30.0, false);
    let rolled = state("shadow", 0.0, true);
    let other = RouteState {
        fingerprint: "other".into(),
        ..live.clone()
    };
    for (st, live_expected, mirrored) in [
        (None, false, true),
        (Some(&shadow), false, true),
        (Some(&other), false, true),
        (Some(&rolled), false, false),
        (Some(&live), true, false),
    ] {
        let inputs = Inputs {
            weights: None,
            state: st,
        };
        let mut to_canary = 0;
        for i in 0..2_000 {
            let d = decide_with(&cfg, &format!("u{i}"), &[], inputs);
            to_canary += usize::from(d.arm == "canary");
            assert_eq!(d.shadows != 0, mirrored, "{st:?}");
            if !live_expected && !st.is_some_and(|s| s.rolled_back) {
                assert_eq!(d.reason.as_str(), "shadow_gate");
            }
        }
        if live_expected {
            assert!(
                (500..700).contains(&to_canary),
                "{to_canary} of 2000 at 30 %"
            );
        } else {
            assert_eq!(to_canary, 0, "{st:?}: no live request to the candidate");
        }
        assert_eq!(
            routing::split_ppm(route, st),
            if live_expected { 300_000 } else { 0 }
        );
    }
}

#[test]
fn flag_rules_route_by_header() {
    let cfg = one_route(
        r#"{"kind":"flag","default":"v1","flags":[
            {"name":"pro","origin":"v2","rules":[{"attr":"header:x-plan","op":"in","values":["pro","team"]}]},
            {"name":"new-app","origin":"v3","rules":[{"attr":"header:x-app","op":"semver_gte","values":["2.3.0"]}]}]}"#,
    );
    assert_eq!(
        decide_with(&cfg, "u", &[("x-plan", "pro")], Inputs::default()).arm,
        "pro"
    );
    assert_eq!(
        decide_with(&cfg, "u", &[("x-plan", "free")], Inputs::default()).arm,
        "default"
    );
    assert_eq!(
        decide_with(&cfg, "u", &[("x-app", "2.10.1")], Inputs::default()).arm,
        "new-app"
    );
    assert_eq!(
        decide_with(&cfg, "u", &[("x-app", "2.2.9")], Inputs::default()).arm,
        "default"
    );
    assert_eq!(
        decide_with(&cfg, "u", &[("x-app", "garbage")], Inputs::default()).arm,
        "default"
    );
    assert_eq!(
        decide_with(&cfg, "u", &[], Inputs::default()).arm,
        "default"
    );
}

#[test]
fn flag_rollout_is_a_share_of_units() {
    let cfg = one_route(
        r#"{"kind":"flag","default":"v1","flags":[{"name":"f","origin":"v2","rollout":30}]}"#,
    );
    let s = share(&cfg, "f", 10_000);
    assert!((s - 0.30).abs() < 0.02, "{s}");
}

#[test]
fn blue_green_active_preview_and_failover() {
    let cfg = one_route(
        r#"{"kind":"blue_green","blue":"v1","green":"v2","active":"green","failover":true,"preview_header":"X-Preview"}"#,
    );
    for i in 0..100 {
        let d = decide_with(&cfg, &format!("u{i}"), &[], Inputs::default());
        assert_eq!(d.arm, "green");
        assert_eq!(cfg.origin(d.origin).name, "v2");
        assert_eq!(
            d.failover.map(|(a, o)| (a, cfg.origin(o).name.as_str())),
            Some(("blue", "v1"))
        );
    }
    let d = decide_with(&cfg, "u", &[("x-preview", "1")], Inputs::default());
    assert_eq!(d.arm, "blue");
    assert_eq!(
        d.failover, None,
        "previews of the idle side never fail over"
    );
}

#[test]
fn rolling_moves_whole_batches() {
    let mk = |done: u32| {
        one_route(&format!(
            r#"{{"kind":"rolling","from":"v1","to":"v2","batches":4,"completed":{done}}}"#
        ))
    };
    let cfgs: Vec<Config> = (0..=4).map(mk).collect();
    for i in 0..3000 {
        let u = format!("u{i}");
        let arms: Vec<String> = cfgs.iter().map(|c| arm_of(c, &u)).collect();
        assert_eq!(arms[0], "from");
        assert_eq!(arms[4], "to");
        // Once moved, stays moved as batches complete.
        let first_to = arms.iter().position(|a| a == "to").unwrap();
        assert!(arms[first_to..].iter().all(|a| a == "to"), "{arms:?}");
    }
    let s = share(&cfgs[1], "to", 8000);
    assert!((s - 0.25).abs() < 0.02, "{s}");
}

#[test]
fn recreate_always_one_origin() {
    let cfg = one_route(r#"{"kind":"recreate","origin":"v3","health_path":"/health"}"#);
    let d = decide_with(&cfg, "x", &[], Inputs::default());
    assert_eq!(cfg.origin(d.origin).name, "v3");
}

#[test]
fn bandit_honours_weights_with_floor() {
    let cfg = one_route(
        r#"{"kind":"bandit","min_share":0.05,"arms":[{"name":"a","origin":"v1"},{"name":"b","origin":"v2"},{"name":"c","origin":"v3"}]}"#,
    );
    let switchyard_core::config::Strategy::Bandit {
        arms, min_share, ..
    } = &cfg.routes[0].strategy
    else {
        unreachable!()
    };
    let w = Weights::parse(r#"{"arms":{"a":0.0,"b":1.0,"zzz":5},"updated_ms":1}"#).unwrap();
    let resolved = w.resolve(arms, *min_share);
    assert!((resolved[0] - 0.05).abs() < 1e-12 && (resolved[2] - 0.05).abs() < 1e-12);
    assert!((resolved.iter().sum::<f64>() - 1.0).abs() < 1e-12);
    let n = 10_000;
    let counts = (0..n).fold([0usize; 3], |mut acc, i| {
        let d = decide_with(
            &cfg,
            &format!("u{i}"),
            &[],
            Inputs {
                weights: Some(&resolved),
                state: None,
            },
        );
        acc[["a", "b", "c"].iter().position(|x| *x == d.arm).unwrap()] += 1;
        acc
    });
    let b = counts[1] as f64 / n as f64;
    assert!((b - 0.90).abs() < 0.02, "{counts:?}");
    // Without weights: equal split.
    let a = (0..6000)
        .filter(|i| arm_of(&cfg, &format!("u{i}")) == "a")
        .count() as f64
        / 6000.0;
    assert!((a - 1.0 / 3.0).abs() < 0.03, "{a}");
}

#[test]
fn route_flags_and_shadows_are_per_unit() {
    let cfg = config(
        r#"[{"name":"r","match":{"path_prefix":"/"},"unit":[{"header":"x-user-id"}],
            "strategy":{"kind":"recreate","origin":"v1"},
            "shadow":[{"origin":"v3","percent":40},{"origin":"v1","percent":100}],
            "flags":[{"name":"explain","rollout":20},{"name":"all"}]}]"#,
    );
    let mut mirrored = 0;
    let mut explained = 0;
    for i in 0..5000 {
        let u = format!("u{i}");
        let d = decide_with(&cfg, &u, &[], Inputs::default());
        assert_eq!(d, decide_with(&cfg, &u, &[], Inputs::default()));
        assert_eq!(d.shadows & 0b10, 0, "never mirror to the answering origin");
        mirrored += (d.shadows & 1) as usize;
        let h = d.flags_header(&cfg.routes[0]).unwrap();
        assert!(h.ends_with("all=on"), "{h}");
        if h.starts_with("explain=on") {
            explained += 1;
        }
    }
    assert!((1850..2150).contains(&mirrored), "{mirrored}");
    assert!((850..1150).contains(&explained), "{explained}");
}

#[test]
fn matching_host_prefix_method_and_default() {
    let text = format!(
        r#"{{"version":1,"default_origin":"v3","origins":{ORIGINS},"routes":[
        {{"name":"a","match":{{"host":"API.example.com","path_prefix":"/v1/fraud","methods":["post"]}},"strategy":{{"kind":"recreate","origin":"v1"}}}},
        {{"name":"b","match":{{"path_prefix":"/v1/"}},"strategy":{{"kind":"recreate","origin":"v2"}}}}]}}"#
    );
    let cfg = switchyard_core::config::parse(&text).unwrap();
    let m = |h, p, meth| routing::match_route(&cfg, h, p, meth);
    assert_eq!(m("api.example.com", "/v1/fraud", "POST"), Target::Route(0));
    assert_eq!(
        m("api.example.com", "/v1/fraud/x", "POST"),
        Target::Route(0)
    );
    assert_eq!(
        m("api.example.com", "/v1/fraudster", "POST"),
        Target::Route(1)
    );
    assert_eq!(m("api.example.com", "/v1/fraud", "GET"), Target::Route(1));
    assert_eq!(m("other", "/v1/fraud", "POST"), Target::Route(1));
    assert_eq!(
        m("other", "/v2", "POST"),
        Target::Default(cfg.default_origin.unwrap())
    );
}

#[test]
fn unit_sources_in_order_then_cookie() {
    let cfg = config(
        r#"[{"name":"r","match":{"path_prefix":"/"},"unit":[{"header":"x-user-id"},{"cookie":"uid"},{"query":"user"}],"strategy":{"kind":"recreate","origin":"v1"}}]"#,
    );
    let route = &cfg.routes[0];
    let view = |headers: &'static [(&'static str, &'static str)], query: Option<&'static str>| {
        RequestView {
            method: "GET",
            host: "h",
            path: "/",
            query,
            headers,
            country: None,
        }
    };
    let long = Box::leak("x".repeat(600).into_boxed_str());
    let long_hdr: &'static [(&str, &str)] =
        Box::leak(vec![("x-user-id", &*long)].into_boxed_slice());
    let unit = |r: &RequestView<'_, [(&str, &str)]>| {
        routing::unit_id(route, r)
            .ok()
            .flatten()
            .map(|c| c.into_owned())
    };
    assert_eq!(
        unit(&view(&[("x-user-id", "h1"), ("cookie", "uid=c1")], None)).as_deref(),
        Some("h1")
    );
    assert_eq!(
        unit(&view(&[("x-user-id", ""), ("cookie", "a=b; uid=c1")], None)).as_deref(),
        Some("c1")
    );
    assert_eq!(
        unit(&view(&[], Some("a=1&user=q%201"))).as_deref(),
        Some("q 1")
    );
    assert_eq!(
        unit(&view(&[("cookie", "sy_uid=gen")], None)).as_deref(),
        Some("gen")
    );
    assert_eq!(
        routing::unit_id(route, &view(long_hdr, None)).map(|u| u.map(|c| c.into_owned())),
        Err((
            "header x-user-id".to_string(),
            routing::UnitIdError::TooLong
        )),
        "an over-long id is refused, not skipped for the next source"
    );
    // A value the runtime decoded with U+FFFD (bytes that were not UTF-8) is refused too,
    // wherever it comes from.
    for (hs, q, source) in [
        (
            &[("x-user-id", "zz-\u{FFFD}"), ("cookie", "uid=c1")][..],
            None,
            "header x-user-id",
        ),
        (&[("cookie", "uid=zz-\u{FFFD}")][..], None, "cookie uid"),
        (&[][..], Some("user=zz-%FC"), "query user"),
        (&[("cookie", "sy_uid=\u{FFFD}")][..], None, "cookie sy_uid"),
    ] {
        assert_eq!(
            routing::unit_id(route, &view(hs, q)).map(|u| u.map(|c| c.into_owned())),
            Err((source.to_string(), routing::UnitIdError::NotText)),
            "{source}"
        );
    }
    assert_eq!(unit(&view(&[], None)), None);
}

#[test]
fn forward_url_keeps_the_configured_authority() {
    let cfg = config(
        r#"[{"name":"r","match":{"path_prefix":"/"},"strategy":{"kind":"recreate","origin":"v1"}}]"#,
    );
    let o = &cfg.origins[0];
    assert_eq!(
        routing::forward_url(o, None, "/v2/models/x/infer", Some("a=1")),
        "http://127.0.0.1:9001/v2/models/x/infer?a=1"
    );
    assert_eq!(
        routing::forward_url(o, Some("/api"), "/api/predict", None),
        "http://127.0.0.1:9001/predict"
    );
    assert_eq!(
        routing::forward_url(o, Some("/api"), "/apix", None),
        "http://127.0.0.1:9001/apix"
    );
    assert_eq!(
        routing::forward_url(o, Some("/api"), "/api", None),
        "http://127.0.0.1:9001/"
    );
    assert_eq!(
        routing::forward_url(o, None, "//evil.com/x", None),
        "http://127.0.0.1:9001//evil.com/x"
    );
}

#[test]
fn config_cache_never_applies_a_bad_config() {
    let good = format!(r#"{{"version":1,"origins":{ORIGINS},"routes":[]}}"#);
    let mut cache = ConfigCache::new(2000);
    assert!(cache.is_stale(0));
    assert_eq!(cache.offer(0, Some(good.clone())), Refresh::Applied);
    let id = cache.current().unwrap().id.clone();
    assert!(!cache.is_stale(1999));
    assert!(cache.is_stale(2000));
    assert_eq!(cache.offer(2000, Some(good.clone())), Refresh::Unchanged);
    let bad = good.replace("\"version\":1", "\"version\":1,\"routes_typo\":[]");
    assert!(matches!(
        cache.offer(4000, Some(bad.clone())),
        Refresh::Rejected(_)
    ));
    assert_eq!(
        cache.current().unwrap().id,
        id,
        "last good config keeps serving"
    );
    assert!(cache.rejected().unwrap().contains("$.routes_typo"));
    assert_eq!(cache.offer(6000, Some(bad)), Refresh::Unchanged);
    assert!(cache.rejected().is_some());
    assert_eq!(cache.offer(8000, None), Refresh::Missing);
    assert_eq!(cache.current().unwrap().id, id);
    assert_eq!(cache.offer(9000, Some(good)), Refresh::Applied);
    assert!(cache.rejected().is_none());
}
