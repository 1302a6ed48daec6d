//! Churn: how many users change arm when a config changes (`switchyard diff`, and a server's
//! churn preview before a config is applied).
//!
//! Synthetic units `u0 … u<N-1>` are routed through both configs with the core's decision
//! function (`routing::decide`), route by route (routes are paired by name). Reported per
//! route: the share of units whose arm changes, whose origin changes, the from/to matrix and
//! the arm shares before and after. Controller state in KV (canary step, rollback, bandit
//! weights) is not applied: the configs are compared as written.
//!
//! A/B routes are routed through the allocation layouts each side holds ([`Layouts`]):
//! the control plane passes what KV holds and what the write will store
//! (`ops::plan_layouts`), so the share reported is the one the layouts produce; each such
//! route also reports `layout`: the slots that change arm and the total-variation distance
//! between the weights, the least any assignment can move.

use serde_json::{json, Map, Value};

use crate::base::Xoshiro256;
use crate::config::{Config, Route, Strategy};
use crate::routing;
use crate::routing::{total_variation, Inputs, Layout, RequestView, LAYOUT_SLOTS};

/// The allocation layouts each side routes A/B routes by (route name, layouts newest
/// first); a route not listed routes by rendezvous hashing.
#[derive(Debug, Clone, Default)]
pub struct Layouts {
    pub old: Vec<(String, Vec<Layout>)>,
    pub new: Vec<(String, Vec<Layout>)>,
}

fn held<'l>(list: &'l [(String, Vec<Layout>)], route: &str) -> &'l [Layout] {
    list.iter()
        .find(|(n, _)| n == route)
        .map_or(&[], |(_, l)| l.as_slice())
}

pub const DEFAULT_UNITS: u64 = 100_000;
pub const MAX_UNITS: u64 = 100_000_000;

/// Every arm name a route's strategy can answer with, in config order.
pub fn arm_names(route: &Route) -> Vec<String> {
    let v: Vec<&str> = match &route.strategy {
        Strategy::Ab { arms, .. } | Strategy::Bandit { arms, .. } => {
            arms.iter().map(|a| a.name.as_str()).collect()
        }
        Strategy::Canary { .. } => vec!["stable", "canary"],
        Strategy::Flag { flags, .. } => flags
            .iter()
            .map(|f| f.flag.name.as_str())
            .chain(["default"])
            .collect(),
        Strategy::BlueGreen { .. } => vec!["blue", "green"],
        Strategy::Rolling { .. } => vec!["from", "to"],
        Strategy::Recreate { .. } => vec!["origin"],
    };
    v.into_iter().map(str::to_string).collect()
}

struct Side<'c> {
    cfg: &'c Config,
    idx: usize,
    layouts: &'c [Layout],
    arms: Vec<String>,
    counts: Vec<u64>,
    rng: Xoshiro256,
}

impl<'c> Side<'c> {
    fn new(cfg: &'c Config, name: &str, layouts: &'c [Layout]) -> Option<Self> {
        let idx = cfg.routes.iter().position(|r| r.name == name)?;
        let arms = arm_names(&cfg.routes[idx]);
        let counts = vec![0; arms.len()];
        Some(Side {
            cfg,
            idx,
            layouts,
            arms,
            counts,
            rng: Xoshiro256::seed_from_u64(1),
        })
    }

    /// The arm index and origin name for one unit.
    fn decide(&mut self, unit: &str, headers: &[(&str, &str)]) -> (usize, &'c str) {
        let cfg = self.cfg;
        let route = &cfg.routes[self.idx];
        // A request the route matches: its host, its path prefix, its first method (or POST).
        let view = RequestView {
            method: route
                .matcher
                .methods
                .as_ref()
                .and_then(|m| m.first())
                .map_or("POST", String::as_str),
            host: route.matcher.host.as_deref().unwrap_or("localhost"),
            path: &route.matcher.path_prefix,
            query: None,
            headers,
            country: None,
        };
        let inputs = Inputs {
            layouts: self.layouts,
            ..Inputs::default()
        };
        let d = routing::decide(cfg, self.idx, unit, &view, inputs, &mut self.rng);
        let i = self.arms.iter().position(|a| a == d.arm).unwrap_or(0);
        self.counts[i] += 1;
        (i, cfg.origin(d.origin).name.as_str())
    }

    /// The layout this side routes by: the first one that fits an A/B route's weights.
    fn layout(&self) -> Option<&'c Layout> {
        let w = super::ab_weights(&self.cfg.routes[self.idx])?;
        self.layouts.iter().find(|l| l.fits(w.iter().copied()))
    }

    fn shares(&self, units: u64) -> Value {
        let mut m = Map::new();
        for (a, c) in self.arms.iter().zip(&self.counts) {
            m.insert(a.clone(), json!(*c as f64 / units.max(1) as f64));
        }
        Value::Object(m)
    }
}

struct Pair<'c> {
    name: String,
    old: Option<Side<'c>>,
    new: Option<Side<'c>>,
    matrix: Vec<Vec<u64>>,
    changed_arm: u64,
    changed_origin: u64,
}

/// Runs the comparison over units `u0 … u<units-1>`, each request carrying `headers`
/// (lower-case names); `progress(done, total)` is called every 10 % of the units.
///
/// Per route: `status` (added, removed, changed, unchanged), `changed` (fraction of units that
/// change arm), `changed_arm` / `changed_origin` (`{units, share}`), `matrix` (old arm -> new
/// arm -> units), `old_shares`, `new_shares`, `notes` and, for A/B routes on both sides,
/// `layout`: `{total_variation, slots_moved, slot_share, runs}` (`slots_moved` and
/// `slot_share` null when either side routes by rendezvous hashing; `runs` of the new
/// layout, null without one).
pub fn churn(
    old: &Config,
    new: &Config,
    units: u64,
    headers: &[(&str, &str)],
    layouts: &Layouts,
    progress: &mut dyn FnMut(u64, u64),
) -> Value {
    let mut names: Vec<String> = old.routes.iter().map(|r| r.name.clone()).collect();
    for r in &new.routes {
        if !names.contains(&r.name) {
            names.push(r.name.clone());
        }
    }
    let mut pairs: Vec<Pair<'_>> = names
        .into_iter()
        .map(|name| {
            let o = Side::new(old, &name, held(&layouts.old, &name));
            let n = Side::new(new, &name, held(&layouts.new, &name));
            let matrix = vec![
                vec![0; n.as_ref().map_or(0, |s| s.arms.len())];
                o.as_ref().map_or(0, |s| s.arms.len())
            ];
            Pair {
                name,
                old: o,
                new: n,
                matrix,
                changed_arm: 0,
                changed_origin: 0,
            }
        })
        .collect();
    let step = (units / 10).max(1);
    let mut unit = String::with_capacity(24);
    for i in 0..units {
        unit.clear();
        unit.push('u');
        unit.push_str(&i.to_string());
        for p in &mut pairs {
            let a = p.old.as_mut().map(|s| s.decide(&unit, headers));
            let b = p.new.as_mut().map(|s| s.decide(&unit, headers));
            if let (Some((ai, ao)), Some((bi, bo))) = (a, b) {
                p.matrix[ai][bi] += 1;
                let (an, bn) = match (&p.old, &p.new) {
                    (Some(o), Some(n)) => (&o.arms[ai], &n.arms[bi]),
                    _ => continue,
                };
                if an != bn {
                    p.changed_arm += 1;
                }
                if ao != bo {
                    p.changed_origin += 1;
                }
            }
        }
        if (i + 1) % step == 0 || i + 1 == units {
            progress(i + 1, units);
        }
    }
    let routes: Vec<Value> = pairs
        .iter()
        .map(|p| {
            let kind = |s: &Option<Side<'_>>| s.as_ref().map(|s| s.cfg.routes[s.idx].strategy.kind());
            let status = match (&p.old, &p.new) {
                (None, _) => "added",
                (_, None) => "removed",
                _ if p.changed_arm == 0 && p.changed_origin == 0 => "unchanged",
                _ => "changed",
            };
            let mut matrix = Map::new();
            if let (Some(o), Some(n)) = (&p.old, &p.new) {
                for (ai, row) in p.matrix.iter().enumerate() {
                    let mut r = Map::new();
                    for (bi, c) in row.iter().enumerate() {
                        r.insert(n.arms[bi].clone(), json!(c));
                    }
                    matrix.insert(o.arms[ai].clone(), Value::Object(r));
                }
            }
            let both = p.old.is_some() && p.new.is_some();
            let mut notes: Vec<&str> = Vec::new();
            for s in [&p.old, &p.new].into_iter().flatten() {
                if let Strategy::Bandit { sticky, .. } = &s.cfg.routes[s.idx].strategy {
                    notes.push(if *sticky {
                        "bandit: equal weights assumed (learned weights live in KV)"
                    } else {
                        "bandit with sticky=false: arms are sampled per request, so changes are not meaningful"
                    });
                }
                if matches!(&s.cfg.routes[s.idx].strategy, Strategy::Canary { .. } | Strategy::Rolling { .. }) {
                    notes.push("the configured share is used; a controller step or rollback in KV is not applied");
                }
            }
            notes.dedup();
            let layout = match (&p.old, &p.new) {
                (Some(o), Some(n)) => {
                    let ow = super::ab_weights(&o.cfg.routes[o.idx]);
                    let nw = super::ab_weights(&n.cfg.routes[n.idx]);
                    match (ow, nw) {
                        (Some(ow), Some(nw)) => {
                            let moved = match (o.layout(), n.layout()) {
                                (Some(a), Some(b)) => Some(a.moved(b)),
                                _ => None,
                            };
                            json!({
                                "total_variation": total_variation(&ow, &nw),
                                "slots_moved": moved,
                                "slot_share": moved.map(|m| m as f64 / LAYOUT_SLOTS as f64),
                                "runs": n.layout().map(Layout::runs),
                            })
                        }
                        _ => Value::Null,
                    }
                }
                _ => Value::Null,
            };
            json!({
                "route": p.name,
                "status": status,
                "old_strategy": kind(&p.old),
                "new_strategy": kind(&p.new),
                "changed": if both { json!(p.changed_arm as f64 / units.max(1) as f64) } else { Value::Null },
                "changed_arm": if both { json!({ "units": p.changed_arm, "share": p.changed_arm as f64 / units.max(1) as f64 }) } else { Value::Null },
                "changed_origin": if both { json!({ "units": p.changed_origin, "share": p.changed_origin as f64 / units.max(1) as f64 }) } else { Value::Null },
                "matrix": if both { Value::Object(matrix) } else { Value::Null },
                "old_shares": p.old.as_ref().map(|s| s.shares(units)),
                "new_shares": p.new.as_ref().map(|s| s.shares(units)),
                "notes": notes,
                "layout": layout,
            })
        })
        .collect();
    json!({ "old": old.id, "new": new.id, "units": units, "unit_ids": format!("u0 … u{}", units.saturating_sub(1)), "routes": routes })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config;

    fn cfg(canary: u32, a: u32, b: u32) -> Config {
        let text = format!(
            r#"{{"version":1,"origins":{{"v1":{{"url":"http://a"}},"v2":{{"url":"http://b"}}}},"routes":[
            {{"name":"cn","match":{{"path_prefix":"/cn"}},"strategy":{{"kind":"canary","stable":"v1","canary":"v2","percent":{canary}}}}},
            {{"name":"ab","match":{{"path_prefix":"/ab"}},"strategy":{{"kind":"ab","arms":[{{"name":"x","origin":"v1","weight":{a}}},{{"name":"y","origin":"v2","weight":{b}}}]}}}}]}}"#
        );
        config::parse(&text).unwrap()
    }

    #[test]
    fn raising_shares_moves_only_the_minimum() {
        let mut calls = 0;
        let d = churn(
            &cfg(20, 50, 50),
            &cfg(30, 40, 60),
            20_000,
            &[],
            &Layouts::default(),
            &mut |_, _| calls += 1,
        );
        assert_eq!(calls, 10);
        let r = d["routes"].as_array().unwrap();
        assert_eq!(r[0]["matrix"]["canary"]["stable"], json!(0));
        assert_eq!(r[1]["matrix"]["y"]["x"], json!(0));
        for route in r {
            let c = route["changed"].as_f64().unwrap();
            assert!((0.09..0.11).contains(&c), "{route}");
            assert_eq!(route["status"], json!("changed"));
        }
        let same = churn(
            &cfg(20, 50, 50),
            &cfg(20, 50, 50),
            1_000,
            &[],
            &Layouts::default(),
            &mut |_, _| {},
        );
        for route in same["routes"].as_array().unwrap() {
            assert_eq!(route["changed"], json!(0.0));
            assert_eq!(route["status"], json!("unchanged"));
        }
    }

    #[test]
    fn layouts_move_exactly_the_total_variation() {
        let (c1, c2) = (cfg(20, 50, 50), cfg(20, 40, 60));
        let held = |c: &Config| {
            let p = super::super::plan_layouts(None, c, &|_| Vec::new());
            p.routes
        };
        let old = held(&c1);
        let plan = super::super::plan_layouts(Some(&c1), &c2, &|_| old[0].1.clone());
        let l = Layouts {
            old,
            new: plan.routes,
        };
        let d = churn(&c1, &c2, 10_000, &[], &l, &mut |_, _| {});
        let ab = &d["routes"][1];
        assert_eq!(ab["layout"]["slots_moved"], json!(1_000));
        assert_eq!(ab["layout"]["slot_share"], json!(0.1));
        assert!((ab["layout"]["total_variation"].as_f64().unwrap() - 0.1).abs() < 1e-12);
        // Units move only from x to y, and about the share of slots that moved.
        assert_eq!(ab["matrix"]["y"]["x"], json!(0));
        let c = ab["changed"].as_f64().unwrap();
        assert!((c - 0.1).abs() < 0.01, "{c}");
        // The canary route has no layout.
        assert_eq!(d["routes"][0]["layout"], Value::Null);
    }
}
