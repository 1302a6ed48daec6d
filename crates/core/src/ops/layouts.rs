//! Which allocation layouts a config write brings: for every A/B route of the new config,
//! the layouts the edge will hold in `layout:<route>` (see `routing::Layout`), computed from
//! what KV holds and the config in force. The control plane writes them before the config
//! and the churn preview routes through them, so both use one plan.
//!
//! Per A/B route of the new config:
//! - a stored layout already fits the new weights: nothing to write;
//! - a stored layout fits the weights in force: the new layout is rebalanced from it
//!   (moving exactly the units the change requires) and stored first, the old one kept
//!   second (an edge still on the old config keeps using it);
//! - no stored layout fits the weights in force (the route is new, or its config was
//!   written straight to KV and it routes by rendezvous hashing): when the route is new or
//!   its weights change, the new layout is canonical (for an existing route that is a
//!   one-time move, shown by the preview); otherwise nothing is written and the route keeps
//!   rendezvous hashing.
//!
//! `layout:<route>` of a route that is no longer A/B is deleted after the config is written.

use crate::config::{Config, Route, Strategy};
use crate::routing::{quantize, Layout, LAYOUTS_KEPT};

/// The outcome of [`plan`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LayoutPlan {
    /// Every A/B route of the new config with the layouts the edge will hold for it
    /// (possibly none: rendezvous hashing).
    pub routes: Vec<(String, Vec<Layout>)>,
    /// Routes whose `layout:<route>` document is to be written (their entry in `routes`).
    pub writes: Vec<String>,
    /// Routes whose `layout:<route>` is to be deleted once the config is written.
    pub deletes: Vec<String>,
}

impl LayoutPlan {
    /// The layouts the edge holds for `route` under this plan.
    pub fn layouts(&self, route: &str) -> &[Layout] {
        self.routes
            .iter()
            .find(|(n, _)| n == route)
            .map_or(&[], |(_, l)| l.as_slice())
    }
}

/// An A/B route's arms as (name, weight).
pub fn ab_weights(route: &Route) -> Option<Vec<(&str, f64)>> {
    match &route.strategy {
        Strategy::Ab { arms, .. } => {
            Some(arms.iter().map(|a| (a.name.as_str(), a.weight)).collect())
        }
        _ => None,
    }
}

fn fits(l: &Layout, w: &[(&str, f64)]) -> bool {
    l.fits(w.iter().copied())
}

/// The layouts `new` brings, given the config in force (`old`) and what KV holds
/// (`stored(route)`, the layouts of `layout:<route>`, newest first). See the module docs.
pub fn plan(
    old: Option<&Config>,
    new: &Config,
    stored: &dyn Fn(&str) -> Vec<Layout>,
) -> LayoutPlan {
    let mut out = LayoutPlan::default();
    for route in &new.routes {
        let Some(w) = ab_weights(route) else {
            continue;
        };
        let held = stored(&route.name);
        if held.iter().any(|l| fits(l, &w)) {
            out.routes.push((route.name.clone(), held));
            continue;
        }
        let before = old.and_then(|c| c.route(&route.name)).and_then(ab_weights);
        let in_force = before
            .as_ref()
            .and_then(|b| held.iter().find(|l| fits(l, b)));
        let next = match (in_force, &before) {
            (Some(prev), _) => prev.rebalance(&w).map(|n| vec![n, prev.clone()]),
            (None, Some(b)) if same_split(b, &w) => None,
            (None, _) => Layout::canonical(&w).map(|n| vec![n]),
        };
        match next {
            Some(mut l) => {
                l.truncate(LAYOUTS_KEPT);
                out.writes.push(route.name.clone());
                out.routes.push((route.name.clone(), l));
            }
            None => out.routes.push((route.name.clone(), Vec::new())),
        }
    }
    if let Some(old) = old {
        for r in &old.routes {
            let still_ab = new.route(&r.name).and_then(ab_weights).is_some();
            if ab_weights(r).is_some() && !still_ab {
                out.deletes.push(r.name.clone());
            }
        }
    }
    out
}

/// Whether two arm lists name the same arms (in order) with the same rounded shares.
fn same_split(a: &[(&str, f64)], b: &[(&str, f64)]) -> bool {
    let q = |x: &[(&str, f64)]| quantize(&x.iter().map(|(_, w)| *w).collect::<Vec<_>>());
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.0 == y.0) && q(a) == q(b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config;

    fn cfg(routes: &str) -> Config {
        config::parse(&format!(
            r#"{{"version":1,"origins":{{"o":{{"url":"http://a"}}}},"routes":[{routes}]}}"#
        ))
        .unwrap()
    }

    fn ab(name: &str, w: [u32; 3]) -> String {
        format!(
            r#"{{"name":"{name}","match":{{"path_prefix":"/{name}"}},"strategy":{{"kind":"ab","arms":[
            {{"name":"a","origin":"o","weight":{}}},{{"name":"b","origin":"o","weight":{}}},{{"name":"c","origin":"o","weight":{}}}]}}}}"#,
            w[0], w[1], w[2]
        )
    }

    #[test]
    fn new_routes_get_canonical_then_rebalanced_layouts() {
        let c1 = cfg(&ab("r", [50, 30, 20]));
        let p1 = plan(None, &c1, &|_| Vec::new());
        assert_eq!(p1.writes, ["r"]);
        let l1 = p1.layouts("r").to_vec();
        assert_eq!(l1.len(), 1);
        assert_eq!(l1[0].runs(), 3);

        let c2 = cfg(&ab("r", [40, 40, 20]));
        let p2 = plan(Some(&c1), &c2, &|_| l1.clone());
        let l2 = p2.layouts("r").to_vec();
        assert_eq!(l2.len(), 2);
        assert_eq!(l2[1], l1[0]);
        assert_eq!(l1[0].moved(&l2[0]), 1_000);

        // Written again unchanged: nothing to write.
        let p3 = plan(Some(&c2), &c2, &|_| l2.clone());
        assert!(p3.writes.is_empty());
        // The write before failed (KV holds [new, old], the old config is in force): the
        // next layout starts from the one in force.
        let c4 = cfg(&ab("r", [20, 40, 40]));
        let p4 = plan(Some(&c1), &c4, &|_| l2.clone());
        assert_eq!(p4.layouts("r")[1], l1[0]);
        assert_eq!(l1[0].moved(&p4.layouts("r")[0]), 3_000);
    }

    #[test]
    fn rendezvous_routes_adopt_a_layout_only_when_their_weights_change() {
        let c1 = cfg(&ab("r", [50, 30, 20]));
        let same = cfg(&ab("r", [5, 3, 2]));
        let p = plan(Some(&c1), &same, &|_| Vec::new());
        assert!(p.writes.is_empty());
        assert!(p.layouts("r").is_empty());
        let changed = cfg(&ab("r", [40, 40, 20]));
        assert_eq!(plan(Some(&c1), &changed, &|_| Vec::new()).writes, ["r"]);
    }

    #[test]
    fn routes_no_longer_ab_lose_their_layout() {
        let c1 = cfg(&format!("{},{}", ab("r", [1, 1, 1]), ab("s", [1, 1, 1])));
        let c2 = cfg(&ab("s", [1, 1, 1]));
        let p = plan(Some(&c1), &c2, &|_| Vec::new());
        assert_eq!(p.deletes, ["r"]);
    }
}
