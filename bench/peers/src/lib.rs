//! The same three rollouts in Switchyard's core, Unleash's Rust engine (`unleash-yggdrasil`)
//! and GrowthBook's Rust SDK (`growthbook-rust`), each fed the configuration its own format
//! needs, and each asked the same question for the same user:
//!
//! - `rollout`: is the user in a 10 % rollout?
//! - `split`: which of three variants (weights 50/30/20 by default) does the user get?
//! - `ten`: the same split as the last of ten items in one configuration (lookup included).
//!
//! [`moved`] counts the users whose variant changes when the weights change, for the
//! "how many users move" comparison. Users are `user-<n>`, taken from the `x-user-id`
//! header (Switchyard), `userId` (Unleash) and `id` (GrowthBook).

use std::collections::HashMap;

use growthbook_rust::growthbook::GrowthBook;
use growthbook_rust::model_public::GrowthBookAttribute;
use serde_json::{json, Value};
use switchyard_core::base::Xoshiro256;
use switchyard_core::config::{self, Config};
use switchyard_core::routing::{self, Inputs, RequestView, Target};
use unleash_yggdrasil::{ClientFeatures, Context, EngineState, UpdateMessage};

pub const VARIANTS: [&str; 3] = ["a", "b", "c"];
/// Items in the larger configuration; the split evaluated is the last.
pub const ITEMS: usize = 10;

/// One library, configured for a rollout, a split and a ten-item configuration.
pub trait Peer {
    fn name(&self) -> &'static str;
    fn rollout(&self, user: &str) -> bool;
    /// The index into [`VARIANTS`].
    fn split(&self, user: &str) -> usize;
    fn ten(&self, user: &str) -> usize;
}

fn variant_index(name: &str) -> usize {
    VARIANTS
        .iter()
        .position(|v| *v == name)
        .unwrap_or(usize::MAX)
}

// ---------------------------------------------------------------- Switchyard

pub struct Switchyard {
    cfg: Config,
    rng: std::cell::RefCell<Xoshiro256>,
}

impl Switchyard {
    pub fn new(weights: [u32; 3]) -> Self {
        let split = |name: &str, prefix: &str| {
            json!({
                "name": name,
                "match": { "path_prefix": prefix, "methods": ["POST"] },
                "unit": [{ "header": "x-user-id" }],
                "strategy": { "kind": "ab", "arms": VARIANTS.iter().zip(weights).map(|(v, w)|
                    json!({ "name": v, "origin": format!("o{v}"), "weight": w })).collect::<Vec<_>>() }
            })
        };
        let mut routes = vec![
            json!({
                "name": "rollout",
                "match": { "path_prefix": "/rollout", "methods": ["POST"] },
                "unit": [{ "header": "x-user-id" }],
                "strategy": { "kind": "flag", "default": "oa",
                    "flags": [{ "name": "new", "origin": "ob", "rollout": 10 }] }
            }),
            split("split", "/split"),
        ];
        // The ten-item configuration: ten splits; matching walks all ten to reach the last.
        for i in 0..ITEMS {
            routes.push(split(&format!("item{i}"), &format!("/items/{i}/")));
        }
        let origins: serde_json::Map<String, Value> = VARIANTS
            .iter()
            .map(|v| {
                (
                    format!("o{v}"),
                    json!({ "url": format!("http://127.0.0.1:90{}", v.len()) }),
                )
            })
            .collect();
        let doc = json!({ "version": 1, "origins": origins, "routes": routes });
        let cfg = match config::parse(&doc.to_string()) {
            Ok(c) => c,
            Err(e) => panic!("switchyard peer config rejected: {e:?}"),
        };
        Switchyard {
            cfg,
            rng: std::cell::RefCell::new(Xoshiro256::seed_from_u64(7)),
        }
    }

    /// The request path's decision: route match, unit id from the header, strategy.
    fn arm(&self, path: &str, user: &str) -> &str {
        let headers = [("x-user-id", user)];
        let req = RequestView {
            method: "POST",
            host: "api.example.com",
            path,
            query: None,
            headers: &headers[..],
            country: None,
        };
        let Target::Route(i) = routing::match_route(&self.cfg, req.host, req.path, req.method)
        else {
            return "";
        };
        let route = &self.cfg.routes[i];
        let Ok(Some(unit)) = routing::unit_id(route, &req) else {
            return "";
        };
        let mut rng = self.rng.borrow_mut();
        routing::decide(&self.cfg, i, &unit, &req, Inputs::default(), &mut *rng).arm
    }
}

impl Peer for Switchyard {
    fn name(&self) -> &'static str {
        "switchyard-core"
    }
    fn rollout(&self, user: &str) -> bool {
        self.arm("/rollout", user) == "new"
    }
    fn split(&self, user: &str) -> usize {
        variant_index(self.arm("/split", user))
    }
    fn ten(&self, user: &str) -> usize {
        variant_index(self.arm("/items/9/infer", user))
    }
}

// ---------------------------------------------------------------- Unleash (yggdrasil)

pub struct Unleash {
    engine: EngineState,
}

impl Unleash {
    pub fn new(weights: [u32; 3]) -> Self {
        // Variant weights are per mille; stickiness on userId.
        let split = |name: String| {
            json!({
                "name": name, "enabled": true,
                "strategies": [{ "name": "default" }],
                "variants": VARIANTS.iter().zip(weights).map(|(v, w)| json!({
                    "name": v, "weight": w * 10, "weightType": "variable", "stickiness": "userId"
                })).collect::<Vec<_>>()
            })
        };
        let mut features = vec![
            json!({
                "name": "rollout", "enabled": true,
                "strategies": [{ "name": "flexibleRollout",
                    "parameters": { "rollout": "10", "stickiness": "userId", "groupId": "rollout" } }]
            }),
            split("split".into()),
        ];
        for i in 0..ITEMS {
            features.push(split(format!("item{i}")));
        }
        let state: ClientFeatures =
            match serde_json::from_value(json!({ "version": 2, "features": features })) {
                Ok(s) => s,
                Err(e) => panic!("unleash features rejected: {e}"),
            };
        let engine = EngineState::default();
        if let Some(warnings) = engine.take_state(UpdateMessage::FullResponse(state)) {
            assert!(warnings.is_empty(), "unleash warnings: {warnings:?}");
        }
        Unleash { engine }
    }

    fn context(user: &str) -> Context {
        Context {
            user_id: Some(user.to_string()),
            ..Context::default()
        }
    }

    fn variant(&self, toggle: &str, user: &str) -> usize {
        variant_index(
            &self
                .engine
                .get_variant(toggle, &Self::context(user), &None)
                .name,
        )
    }
}

impl Peer for Unleash {
    fn name(&self) -> &'static str {
        "unleash-yggdrasil"
    }
    fn rollout(&self, user: &str) -> bool {
        self.engine
            .is_enabled("rollout", &Self::context(user), &None)
    }
    fn split(&self, user: &str) -> usize {
        self.variant("split", user)
    }
    fn ten(&self, user: &str) -> usize {
        self.variant(&format!("item{}", ITEMS - 1), user)
    }
}

// ---------------------------------------------------------------- GrowthBook

pub struct Growthbook {
    gb: GrowthBook,
}

impl Growthbook {
    pub fn new(weights: [u32; 3]) -> Self {
        let split = |key: String| {
            json!({
                "defaultValue": "a",
                "rules": [{
                    "key": key, "variations": VARIANTS, "coverage": 1.0, "hashAttribute": "id",
                    "weights": weights.iter().map(|w| *w as f64 / 100.0).collect::<Vec<_>>()
                }]
            })
        };
        let mut features = serde_json::Map::new();
        features.insert(
            "rollout".into(),
            json!({ "defaultValue": false,
                    "rules": [{ "force": true, "coverage": 0.1, "hashAttribute": "id" }] }),
        );
        features.insert("split".into(), split("split".into()));
        for i in 0..ITEMS {
            features.insert(format!("item{i}"), split(format!("item{i}")));
        }
        let features = match serde_json::from_value(Value::Object(features)) {
            Ok(f) => f,
            Err(e) => panic!("growthbook features rejected: {e}"),
        };
        Growthbook {
            gb: GrowthBook {
                forced_variations: None,
                features,
                attributes: None,
                sticky_bucket_service: None,
                saved_groups: HashMap::new(),
            },
        }
    }

    fn attributes(user: &str) -> Option<Vec<GrowthBookAttribute>> {
        GrowthBookAttribute::from(json!({ "id": user })).ok()
    }

    fn variant(&self, feature: &str, user: &str) -> usize {
        let r = self.gb.check(feature, &Self::attributes(user));
        variant_index(r.value.as_str().unwrap_or(""))
    }
}

impl Peer for Growthbook {
    fn name(&self) -> &'static str {
        "growthbook-rust"
    }
    fn rollout(&self, user: &str) -> bool {
        self.gb.check("rollout", &Self::attributes(user)).on
    }
    fn split(&self, user: &str) -> usize {
        self.variant("split", user)
    }
    fn ten(&self, user: &str) -> usize {
        self.variant(&format!("item{}", ITEMS - 1), user)
    }
}

// ---------------------------------------------------------------- movement

pub fn user(i: usize) -> String {
    format!("user-{i}")
}

/// The fraction of `users` whose split variant differs between two configurations.
pub fn moved(before: &dyn Peer, after: &dyn Peer, users: usize) -> f64 {
    let n = (0..users)
        .filter(|i| {
            let u = user(*i);
            before.split(&u) != after.split(&u)
        })
        .count();
    n as f64 / users as f64
}

/// The least fraction of users that must move between two weight vectors (half the L1
/// distance of the shares).
pub fn necessary(before: [u32; 3], after: [u32; 3]) -> f64 {
    let (tb, ta) = (
        before.iter().sum::<u32>() as f64,
        after.iter().sum::<u32>() as f64,
    );
    before
        .iter()
        .zip(after)
        .map(|(b, a)| (*b as f64 / tb - a as f64 / ta).abs())
        .sum::<f64>()
        / 2.0
}

/// Every peer, configured with `weights` for the splits.
pub fn peers(weights: [u32; 3]) -> Vec<Box<dyn Peer>> {
    vec![
        Box::new(Switchyard::new(weights)),
        Box::new(Unleash::new(weights)),
        Box::new(Growthbook::new(weights)),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    const N: usize = 20_000;

    #[test]
    fn every_peer_honours_the_rollout_and_the_split() {
        for p in peers([50, 30, 20]) {
            let on = (0..N).filter(|i| p.rollout(&user(*i))).count() as f64 / N as f64;
            assert!((on - 0.10).abs() < 0.01, "{}: rollout share {on}", p.name());
            let mut counts = [0usize; 3];
            for i in 0..N {
                let v = p.split(&user(i));
                assert!(v < 3, "{}: unknown variant for user {i}", p.name());
                counts[v] += 1;
                assert!(
                    p.ten(&user(i)) < 3,
                    "{}: unknown item variant for user {i}",
                    p.name()
                );
            }
            for (c, w) in counts.iter().zip([0.5, 0.3, 0.2]) {
                let share = *c as f64 / N as f64;
                assert!(
                    (share - w).abs() < 0.015,
                    "{}: share {share} for weight {w}",
                    p.name()
                );
            }
        }
    }

    /// Weighted rendezvous hashing is not exactly minimal when weights change (every arm's
    /// score moves), but it stays within a few points of the minimum, whichever arms change.
    #[test]
    fn switchyard_moves_close_to_the_necessary_users() {
        for after in [[40, 40, 20], [40, 30, 30]] {
            let need = necessary([50, 30, 20], after);
            let m = moved(&Switchyard::new([50, 30, 20]), &Switchyard::new(after), N);
            assert!(
                m >= need - 0.01 && m <= need + 0.035,
                "{after:?}: moved {m}, necessary {need}"
            );
        }
    }

    /// Contiguous bucket ranges (Unleash, GrowthBook) are minimal when only adjacent ranges
    /// change (40/40/20), and move twice the minimum when the middle range has to shift
    /// (40/30/30).
    #[test]
    fn range_based_peers_move_the_minimum_or_twice_it() {
        let before: Vec<Box<dyn Peer>> = vec![
            Box::new(Unleash::new([50, 30, 20])),
            Box::new(Growthbook::new([50, 30, 20])),
        ];
        for b in &before {
            let m1 = if b.name() == "unleash-yggdrasil" {
                moved(&**b, &Unleash::new([40, 40, 20]), N)
            } else {
                moved(&**b, &Growthbook::new([40, 40, 20]), N)
            };
            let m2 = if b.name() == "unleash-yggdrasil" {
                moved(&**b, &Unleash::new([40, 30, 30]), N)
            } else {
                moved(&**b, &Growthbook::new([40, 30, 30]), N)
            };
            assert!(
                (m1 - 0.10).abs() < 0.01,
                "{}: 40/40/20 moved {m1}",
                b.name()
            );
            assert!(
                (m2 - 0.20).abs() < 0.015,
                "{}: 40/30/30 moved {m2}",
                b.name()
            );
        }
    }

    #[test]
    fn necessary_movement_is_half_the_l1_distance() {
        assert!((necessary([50, 30, 20], [40, 40, 20]) - 0.10).abs() < 1e-12);
        assert!((necessary([50, 30, 20], [40, 30, 30]) - 0.10).abs() < 1e-12);
        assert_eq!(necessary([1, 1, 1], [2, 2, 2]), 0.0);
    }
}
