//! The seven strategies, each a pure function of (config, unit hash, request, state), one
//! module each with the same shape: `choose(<its config>, &mut Cx) -> Choice`. Adding a
//! strategy is one module here, one arm in [`choose`] and its part of the config schema.
//!
//! Every strategy hashes the unit once under the route's split salt; flags and shadows use
//! their own salts (see [`crate::base`]), so the decisions are independent.

mod ab;
mod bandit;
mod blue_green;
mod canary;
mod flag;
mod recreate;
mod rolling;

use crate::base::Rng;
use crate::config::{BanditAlgorithm, OriginId, Route, Strategy};
use crate::routing::{Headers, RequestView};
use crate::routing::{Layout, Reason};

use crate::config::RouteState;
pub use bandit::{edge_weights, weights_fresh, MAX_WEIGHTS_SKEW_MS};
pub use flag::{attr_value, flag_on};

/// The split in force for `route` under `state`, in ppm, as the edge routes by it: the
/// canary's share (0 once rolled back), for an A/B route `PPM` while every arm is in the
/// split and 0 once the health guard drained one, else 0. Observations carry it so that the
/// sample-ratio check only compares counts made under one split.
pub fn split_ppm(route: &Route, state: Option<&RouteState>) -> u32 {
    let state = state.filter(|s| s.fingerprint == route.fingerprint);
    match &route.strategy {
        Strategy::Canary { .. } if in_shadow_stage(route, state) => 0,
        Strategy::Canary { percent_ppm, .. } => match state {
            Some(s) if s.rolled_back => 0,
            Some(s) => s
                .canary_percent
                .and_then(crate::config::percent_to_ppm_lenient)
                .unwrap_or(*percent_ppm),
            None => *percent_ppm,
        },
        Strategy::Ab { .. } => match state {
            Some(s) if !s.drained.is_empty() => 0,
            _ => crate::base::PPM,
        },
        _ => 0,
    }
}

/// Whether the edge reads `state:<route>` for this route: the strategies a controller or a
/// health guard steers (canary, rolling, A/B with a guard). Observations of these routes
/// carry the state's controller epoch ([`RouteState::epoch`]).
pub fn reads_state(route: &Route) -> bool {
    matches!(
        route.strategy,
        Strategy::Canary { .. } | Strategy::Rolling { .. } | Strategy::Ab { guard: Some(_), .. }
    )
}

/// Whether `state` keeps the route's candidate in its shadow stage: a canary with a shadow
/// gate whose state (of this strategy version) is absent or says `shadow` and is not rolled
/// back. The edge then routes no live request to the candidate and mirrors to it.
pub fn in_shadow_stage(route: &Route, state: Option<&RouteState>) -> bool {
    let Strategy::Canary { gates: Some(g), .. } = &route.strategy else {
        return false;
    };
    if g.shadow.is_none() {
        return false;
    }
    match state.filter(|s| s.fingerprint == route.fingerprint) {
        None => true,
        Some(s) => s.stage.as_deref() == Some(crate::config::STAGE_SHADOW) && !s.rolled_back,
    }
}

/// What a strategy chose.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Choice<'c> {
    pub arm: &'c str,
    pub origin: OriginId,
    pub failover: Option<(&'c str, OriginId)>,
    pub reason: Reason,
    /// The probability that the policy in force gave this arm for this request (its
    /// propensity: the arm's share after drains, floors and the controller's state, over
    /// the unit's hash or the sampler's draw), in (0, 1]; `None` for a forced choice (a
    /// blue-green preview header), which is no draw of the policy.
    pub propensity: Option<f64>,
}

/// Inputs that come from KV rather than from the config.
#[derive(Debug, Clone, Copy, Default)]
pub struct Inputs<'a> {
    /// Resolved bandit weights, aligned with the route's arms.
    pub weights: Option<&'a [f64]>,
    pub state: Option<&'a RouteState>,
    /// Allocation layouts from KV (`layout:<route>` for A/B, the `layout` of
    /// `weights:<route>` for a bandit); a strategy uses the first that fits its weights.
    pub layouts: &'a [Layout],
}

/// What every strategy sees besides its own config: the unit's split hash, the unit, the
/// request, the controller state for this route (already checked against its fingerprint),
/// the bandit weights, the allocation layouts and the random source.
pub struct Cx<'a, 'r, H: ?Sized, R> {
    pub h: u64,
    pub unit: &'a str,
    pub req: &'a RequestView<'r, H>,
    pub state: Option<&'a RouteState>,
    pub weights: Option<&'a [f64]>,
    pub layouts: &'a [Layout],
    pub rng: &'a mut R,
}

impl<'c> Choice<'c> {
    fn pick(arm: &'c str, origin: OriginId, reason: Reason, propensity: f64) -> Self {
        Choice {
            arm,
            origin,
            failover: None,
            reason,
            propensity: Some(propensity),
        }
    }
}

/// Runs the route's strategy for a unit whose split hash is `h`.
pub fn choose<'c, H: Headers + ?Sized, R: Rng>(
    route: &'c Route,
    h: u64,
    unit: &str,
    req: &RequestView<'_, H>,
    inputs: Inputs<'_>,
    rng: &mut R,
) -> Choice<'c> {
    let mut cx = Cx {
        h,
        unit,
        req,
        state: inputs.state.filter(|s| s.fingerprint == route.fingerprint),
        weights: inputs.weights,
        layouts: inputs.layouts,
        rng,
    };
    match &route.strategy {
        Strategy::Ab { arms, .. } => ab::choose(arms, &mut cx),
        Strategy::Canary {
            stable,
            canary,
            percent_ppm,
            ..
        } => {
            let shadow_stage = in_shadow_stage(route, cx.state);
            canary::choose(*stable, *canary, *percent_ppm, shadow_stage, &mut cx)
        }
        Strategy::Flag { default, flags } => flag::choose(*default, flags, &mut cx),
        Strategy::BlueGreen {
            blue,
            green,
            active,
            failover,
            preview_header,
        } => blue_green::choose(
            *blue,
            *green,
            *active,
            *failover,
            preview_header.as_deref(),
            &mut cx,
        ),
        Strategy::Rolling {
            from,
            to,
            batches,
            completed,
            ..
        } => rolling::choose(*from, *to, *batches, *completed, &mut cx),
        Strategy::Recreate { origin, .. } => recreate::choose(*origin, &mut cx),
        Strategy::Bandit { arms, sticky, .. } => bandit::choose(arms, *sticky, &mut cx),
    }
}

/// Bandit algorithm name as configured.
pub fn algorithm_name(a: BanditAlgorithm) -> &'static str {
    match a {
        BanditAlgorithm::Thompson => "thompson",
        BanditAlgorithm::Ucb1 => "ucb1",
        BanditAlgorithm::EpsilonGreedy => "epsilon_greedy",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::base::Xoshiro256;
    use crate::config::{parse, RouteState, Weights};
    use crate::routing::RequestView;

    const ORIGINS: &str = r#""origins": {"a": {"url": "http://127.0.0.1:1"}, "b": {"url": "http://127.0.0.1:2"}, "c": {"url": "http://127.0.0.1:3"}}"#;

    fn config(routes: &str) -> crate::config::Config {
        parse(&format!(
            r#"{{"version": 1, {ORIGINS}, "routes": [{routes}]}}"#
        ))
        .unwrap()
    }

    fn view<'a>(headers: &'a [(&'a str, &'a str)]) -> RequestView<'a, [(&'a str, &'a str)]> {
        RequestView {
            method: "GET",
            host: "h",
            path: "/",
            query: None,
            headers,
            country: None,
        }
    }

    /// Routes `n` units; per arm: how often it was chosen and the propensity every choice
    /// of it reported (all equal: the policy is fixed during the run).
    fn run(
        cfg: &crate::config::Config,
        inputs: Inputs<'_>,
        headers: &[(&str, &str)],
        n: u32,
    ) -> BTreeMap<String, (u32, Option<f64>)> {
        let mut rng = Xoshiro256::seed_from_u64(7);
        let mut out: BTreeMap<String, (u32, Option<f64>)> = BTreeMap::new();
        for u in 0..n {
            let unit = format!("unit-{u}");
            let route = &cfg.routes[0];
            let h = crate::base::hash(&route.split_salt, &unit);
            let d = choose(route, h, &unit, &view(headers), inputs, &mut rng);
            let e = out.entry(d.arm.to_string()).or_insert((0, d.propensity));
            e.0 += 1;
            assert_eq!(
                e.1, d.propensity,
                "one propensity per arm under a fixed policy"
            );
        }
        out
    }

    use std::collections::BTreeMap;

    /// Every arm's propensity is `want` and its share of `n` units is within 4.5 binomial
    /// standard deviations of it; the propensities of the arms chosen sum to 1.
    fn check(got: &BTreeMap<String, (u32, Option<f64>)>, want: &[(&str, f64)], n: u32) {
        for (arm, p) in want {
            let (count, prop) = got.get(*arm).copied().unwrap_or((0, Some(*p)));
            let prop = prop.unwrap();
            assert!(
                (prop - p).abs() < 1e-12,
                "{arm}: propensity {prop}, want {p}"
            );
            let sd = (f64::from(n) * p * (1.0 - p)).sqrt();
            let diff = (f64::from(count) - f64::from(n) * p).abs();
            assert!(diff <= 4.5 * sd + 1.0, "{arm}: {count} of {n}, p {p}");
        }
        let total: f64 = want.iter().map(|(_, p)| p).sum();
        assert!((total - 1.0).abs() < 1e-9, "{want:?}");
        assert_eq!(got.len(), want.iter().filter(|(_, p)| *p > 0.0).count());
    }

    const N: u32 = 20_000;

    #[test]
    fn ab_shares_and_drains() {
        let cfg = config(
            r#"{"name": "r", "match": {}, "strategy": {"kind": "ab", "arms": [
                {"name": "x", "origin": "a", "weight": 1}, {"name": "y", "origin": "b", "weight": 3},
                {"name": "z", "origin": "c", "weight": 0}]}}"#,
        );
        let got = run(&cfg, Inputs::default(), &[], N);
        check(&got, &[("x", 0.25), ("y", 0.75), ("z", 0.0)], N);
        // A drained arm's share goes to the others.
        let st = RouteState {
            fingerprint: cfg.routes[0].fingerprint.clone(),
            drained: vec!["y".into()],
            ..Default::default()
        };
        let inputs = Inputs {
            state: Some(&st),
            weights: None,
            layouts: &[],
        };
        check(&run(&cfg, inputs, &[], N), &[("x", 1.0)], N);
    }

    #[test]
    fn canary_rolling_and_rollback() {
        let cfg = config(
            r#"{"name": "r", "match": {}, "strategy": {"kind": "canary", "stable": "a", "canary": "b", "percent": 10}}"#,
        );
        check(
            &run(&cfg, Inputs::default(), &[], N),
            &[("canary", 0.1), ("stable", 0.9)],
            N,
        );
        let fp = cfg.routes[0].fingerprint.clone();
        let moved = RouteState {
            fingerprint: fp.clone(),
            canary_percent: Some(30.0),
            ..Default::default()
        };
        let inputs = Inputs {
            state: Some(&moved),
            weights: None,
            layouts: &[],
        };
        check(
            &run(&cfg, inputs, &[], N),
            &[("canary", 0.3), ("stable", 0.7)],
            N,
        );
        let back = RouteState {
            fingerprint: fp,
            rolled_back: true,
            ..Default::default()
        };
        let inputs = Inputs {
            state: Some(&back),
            weights: None,
            layouts: &[],
        };
        check(&run(&cfg, inputs, &[], N), &[("stable", 1.0)], N);
        let cfg = config(
            r#"{"name": "r", "match": {}, "strategy": {"kind": "rolling", "from": "a", "to": "b", "batches": 4, "completed": 1}}"#,
        );
        check(
            &run(&cfg, Inputs::default(), &[], N),
            &[("to", 0.25), ("from", 0.75)],
            N,
        );
    }

    #[test]
    fn flags_multiply_independent_rollouts() {
        let cfg = config(
            r#"{"name": "r", "match": {}, "strategy": {"kind": "flag", "default": "a", "flags": [
                {"name": "f", "origin": "b", "rollout": 20, "rules": [{"attr": "header:x-tier", "op": "eq", "values": ["gold"]}]},
                {"name": "g", "origin": "c", "rollout": 50}]}}"#,
        );
        // Rules of f match: f 0.2, g 0.8 * 0.5, default 0.8 * 0.5.
        check(
            &run(&cfg, Inputs::default(), &[("x-tier", "gold")], N),
            &[("f", 0.2), ("g", 0.4), ("default", 0.4)],
            N,
        );
        // Rules of f do not match: f never, g 0.5, default 0.5.
        check(
            &run(&cfg, Inputs::default(), &[("x-tier", "tin")], N),
            &[("f", 0.0), ("g", 0.5), ("default", 0.5)],
            N,
        );
    }

    #[test]
    fn blue_green_preview_is_forced() {
        let cfg = config(
            r#"{"name": "r", "match": {}, "strategy": {"kind": "blue_green", "blue": "a", "green": "b", "active": "blue", "preview_header": "x-preview"}}"#,
        );
        check(
            &run(&cfg, Inputs::default(), &[], 100),
            &[("blue", 1.0)],
            100,
        );
        let got = run(&cfg, Inputs::default(), &[("x-preview", "1")], 100);
        assert_eq!(
            got.get("green"),
            Some(&(100, None)),
            "forced: no propensity"
        );
        let cfg = config(
            r#"{"name": "r", "match": {}, "strategy": {"kind": "recreate", "origin": "a"}}"#,
        );
        check(
            &run(&cfg, Inputs::default(), &[], 100),
            &[("origin", 1.0)],
            100,
        );
    }

    #[test]
    fn bandit_floors_drains_and_warmup() {
        for sticky in [true, false] {
            let cfg = config(&format!(
                r#"{{"name": "r", "match": {{}}, "strategy": {{"kind": "bandit", "sticky": {sticky}, "min_share": 0.1, "arms": [
                    {{"name": "x", "origin": "a"}}, {{"name": "y", "origin": "b"}}, {{"name": "z", "origin": "c"}}]}}}}"#
            ));
            let Strategy::Bandit {
                arms, min_share, ..
            } = &cfg.routes[0].strategy
            else {
                unreachable!()
            };
            // Warm-up: equal shares.
            let third = 1.0 / 3.0;
            check(
                &run(&cfg, Inputs::default(), &[], N),
                &[("x", third), ("y", third), ("z", third)],
                N,
            );
            // Raw weights 1 / 0 / 0 with a floor of 0.1: 0.8 / 0.1 / 0.1.
            let w = Weights {
                arms: [("x".to_string(), 1.0), ("y".to_string(), 0.0)].into(),
                updated_ms: 1,
                drained: vec![],
            };
            let resolved = w.resolve(arms, *min_share);
            let inputs = Inputs {
                weights: Some(&resolved),
                state: None,
                layouts: &[],
            };
            check(
                &run(&cfg, inputs, &[], N),
                &[("x", 0.8), ("y", 0.1), ("z", 0.1)],
                N,
            );
            // A drained arm keeps its probe share (0.005) below the floor; the others are
            // floored over the rest.
            let w = Weights {
                arms: [
                    ("x".to_string(), 0.595),
                    ("y".to_string(), 0.4),
                    ("z".to_string(), 0.005),
                ]
                .into(),
                updated_ms: 1,
                drained: vec!["z".into()],
            };
            let resolved = w.resolve(arms, *min_share);
            let inputs = Inputs {
                weights: Some(&resolved),
                state: None,
                layouts: &[],
            };
            check(
                &run(&cfg, inputs, &[], N),
                &[("x", resolved[0]), ("y", resolved[1]), ("z", 0.005)],
                N,
            );
        }
    }

    #[test]
    fn external_trainer_weights_at_the_edge() {
        let cfg = config(
            r#"{"name": "r", "match": {}, "strategy": {"kind": "bandit", "trainer": "external", "max_weight_age_s": 60, "min_share": 0.05, "arms": [
                {"name": "x", "origin": "a"}, {"name": "y", "origin": "b"}, {"name": "z", "origin": "c"}]}}"#,
        );
        let route = &cfg.routes[0];
        let now = 1_000_000_000;
        let w = |updated_ms| Weights {
            arms: [
                ("x".to_string(), 0.9),
                ("y".to_string(), 0.1),
                ("q".to_string(), 5.0),
            ]
            .into(),
            updated_ms,
            drained: vec![],
        };
        let close = |a: &[f64], b: &[f64]| a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-12);
        // Fresh: the trainer's shares (unknown arm ignored, z floored at 0.05).
        let fresh = edge_weights(route, Some(&w(now - 59_000)), None, now).unwrap();
        assert!(
            close(&fresh, &[0.05 + 0.9 * 0.85, 0.05 + 0.1 * 0.85, 0.05]),
            "{fresh:?}"
        );
        // Stale, unset, far in the future or missing: equal shares.
        let third = [1.0 / 3.0; 3];
        for stale in [
            Some(w(now - 61_000)),
            Some(w(0)),
            Some(w(now + 600_000)),
            None,
        ] {
            let got = edge_weights(route, stale.as_ref(), None, now).unwrap();
            assert!(close(&got, &third), "{stale:?}: {got:?}");
        }
        // A drain recorded by the learner: the arm keeps its probe share, as the learner's
        // own weights would give it.
        let st = RouteState {
            fingerprint: route.fingerprint.clone(),
            drained: vec!["x".into()],
            ..Default::default()
        };
        let drained = edge_weights(route, Some(&w(now)), Some(&st), now).unwrap();
        let probe = crate::config::probe_share(0.05, 3);
        assert!((drained[0] - probe).abs() < 1e-12, "{drained:?}");
        assert!((drained.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        let stats = [
            crate::statistics::ArmStats::default(),
            crate::statistics::ArmStats {
                pulls: 100,
                reward_sum: 90.0,
                reward_sq_sum: 90.0,
            },
            crate::statistics::ArmStats {
                pulls: 100,
                reward_sum: 10.0,
                reward_sq_sum: 10.0,
            },
        ];
        let params = crate::statistics::BanditParams {
            min_share: 0.05,
            ..Default::default()
        };
        let mut rng = Xoshiro256::seed_from_u64(1);
        let learner = crate::statistics::weights_with_health(
            crate::statistics::Algorithm::EpsilonGreedy { epsilon: 0.0 },
            &stats,
            &[true, false, false],
            &params,
            &mut rng,
        );
        let raw = [0.0, 1.0, 0.0];
        let edge = crate::config::with_drains(&raw, 0.05, &[true, false, false]);
        assert!(close(&learner, &edge), "{learner:?} vs {edge:?}");
        // The learner's own weights are followed as written.
        let cfg = config(
            r#"{"name": "r", "match": {}, "strategy": {"kind": "bandit", "arms": [{"name": "x", "origin": "a"}, {"name": "y", "origin": "b"}]}}"#,
        );
        assert_eq!(edge_weights(&cfg.routes[0], None, None, now), None);
        let old = Weights {
            arms: [("x".to_string(), 1.0)].into(),
            updated_ms: 1,
            drained: vec![],
        };
        let got = edge_weights(&cfg.routes[0], Some(&old), None, now).unwrap();
        assert!(close(&got, &[0.99, 0.01]), "{got:?}");
    }

    #[test]
    fn propensity_in_ppm() {
        use crate::routing::propensity_ppm;
        assert_eq!(propensity_ppm(0.5), Some(500_000));
        assert_eq!(propensity_ppm(1.0), Some(1_000_000));
        assert_eq!(propensity_ppm(1e-9), Some(1), "a chosen arm had a chance");
        assert_eq!(propensity_ppm(1.0 / 3.0), Some(333_333));
        for bad in [0.0, -0.1, 1.5, f64::NAN, f64::INFINITY] {
            assert_eq!(propensity_ppm(bad), None, "{bad}");
        }
    }
}
