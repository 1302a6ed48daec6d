//! `switchyard diff <old> <new>`: how many users change arm when a config changes.
//!
//! Synthetic units `u0 … u<N-1>` are routed through both configs with the core's decision
//! function (`engine::decide`), route by route (routes are paired by name). Reported per
//! route: the share of units whose arm changes, whose origin changes, the from/to matrix and
//! the arm shares before and after. Controller state in KV (canary step, rollback, bandit
//! weights) is not applied: the configs are compared as written.

use serde_json::{json, Map, Value};
use switchyard_core::config::{Config, Route, Strategy};
use switchyard_core::engine;
use switchyard_core::rng::Xoshiro256;
use switchyard_core::strategy::Inputs;

use crate::explain::Synthetic;
use crate::Outcome;

pub const DEFAULT_UNITS: u64 = 100_000;
pub const MAX_UNITS: u64 = 100_000_000;
/// Runs over fewer units than this print no progress.
pub const PROGRESS_FROM: u64 = 10_000;

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
    arms: Vec<String>,
    counts: Vec<u64>,
    rng: Xoshiro256,
}

impl<'c> Side<'c> {
    fn new(cfg: &'c Config, name: &str) -> Option<Self> {
        let idx = cfg.routes.iter().position(|r| r.name == name)?;
        let arms = arm_names(&cfg.routes[idx]);
        let counts = vec![0; arms.len()];
        Some(Side {
            cfg,
            idx,
            arms,
            counts,
            rng: Xoshiro256::seed_from_u64(1),
        })
    }

    /// The arm index and origin name for one unit.
    fn decide(
        &mut self,
        unit: &str,
        req: &Synthetic,
        headers: &[(&str, &str)],
    ) -> (usize, &'c str) {
        let cfg = self.cfg;
        let route = &cfg.routes[self.idx];
        let view = req.view(route, headers);
        let d = engine::decide(cfg, self.idx, unit, &view, Inputs::default(), &mut self.rng);
        let i = self.arms.iter().position(|a| a == d.arm).unwrap_or(0);
        self.counts[i] += 1;
        (i, cfg.origin(d.origin).name.as_str())
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

/// Runs the comparison; `progress(done, total)` is called every 10 % of the units.
pub fn diff(
    old: &Config,
    new: &Config,
    units: u64,
    req: &Synthetic,
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
            let o = Side::new(old, &name);
            let n = Side::new(new, &name);
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
    let headers = req.header_pairs();
    let step = (units / 10).max(1);
    let mut unit = String::with_capacity(24);
    for i in 0..units {
        unit.clear();
        unit.push('u');
        unit.push_str(&i.to_string());
        for p in &mut pairs {
            let a = p.old.as_mut().map(|s| s.decide(&unit, req, &headers));
            let b = p.new.as_mut().map(|s| s.decide(&unit, req, &headers));
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
            json!({
                "route": p.name,
                "status": status,
                "old_strategy": kind(&p.old),
                "new_strategy": kind(&p.new),
                "changed_arm": if both { json!({ "units": p.changed_arm, "share": p.changed_arm as f64 / units.max(1) as f64 }) } else { Value::Null },
                "changed_origin": if both { json!({ "units": p.changed_origin, "share": p.changed_origin as f64 / units.max(1) as f64 }) } else { Value::Null },
                "matrix": if both { Value::Object(matrix) } else { Value::Null },
                "old_shares": p.old.as_ref().map(|s| s.shares(units)),
                "new_shares": p.new.as_ref().map(|s| s.shares(units)),
                "notes": notes,
            })
        })
        .collect();
    json!({ "old": old.id, "new": new.id, "units": units, "unit_ids": format!("u0 … u{}", units.saturating_sub(1)), "routes": routes })
}

fn pct(v: &Value) -> String {
    match v.as_f64() {
        Some(f) => format!("{:.2} %", f * 100.0),
        None => "-".into(),
    }
}

/// The human form of [`diff`]'s JSON.
pub fn render(d: &Value, old_file: &str, new_file: &str) -> String {
    let mut out = format!(
        "diff {old_file} ({}) -> {new_file} ({}) over {} synthetic units ({})\n",
        d["old"].as_str().unwrap_or(""),
        d["new"].as_str().unwrap_or(""),
        d["units"],
        d["unit_ids"].as_str().unwrap_or("")
    );
    let empty = Vec::new();
    for r in d["routes"].as_array().unwrap_or(&empty) {
        let name = r["route"].as_str().unwrap_or("");
        let status = r["status"].as_str().unwrap_or("");
        out.push_str(&format!(
            "\nroute {name}: {} -> {} ({status})\n",
            r["old_strategy"].as_str().unwrap_or("(none)"),
            r["new_strategy"].as_str().unwrap_or("(none)")
        ));
        if r["changed_arm"].is_object() {
            out.push_str(&format!(
                "  changed arm     {}  ({} units)\n  changed origin  {}  ({} units)\n",
                pct(&r["changed_arm"]["share"]),
                r["changed_arm"]["units"],
                pct(&r["changed_origin"]["share"]),
                r["changed_origin"]["units"]
            ));
        }
        let arms = |k: &str| -> Vec<String> {
            r[k].as_object()
                .map(|m| m.keys().cloned().collect())
                .unwrap_or_default()
        };
        if let Some(m) = r["matrix"].as_object() {
            let to: Vec<String> = m
                .values()
                .next()
                .and_then(Value::as_object)
                .map(|row| row.keys().cloned().collect())
                .unwrap_or_default();
            let w = to
                .iter()
                .chain(m.keys())
                .map(String::len)
                .max()
                .unwrap_or(4)
                .max(9);
            out.push_str(&format!("  {:<w$}", "from \\ to"));
            for t in &to {
                out.push_str(&format!(" {t:>w$}"));
            }
            out.push('\n');
            for (from, row) in m {
                out.push_str(&format!("  {from:<w$}"));
                for t in &to {
                    out.push_str(&format!(" {:>w$}", row[t].to_string()));
                }
                out.push('\n');
            }
        }
        let mut all = arms("old_shares");
        for a in arms("new_shares") {
            if !all.contains(&a) {
                all.push(a);
            }
        }
        out.push_str(&format!("  {:<12} {:>9} {:>9}\n", "shares", "old", "new"));
        for a in &all {
            out.push_str(&format!(
                "  {a:<12} {:>9} {:>9}\n",
                pct(&r["old_shares"][a]),
                pct(&r["new_shares"][a])
            ));
        }
        for n in r["notes"].as_array().unwrap_or(&empty) {
            out.push_str(&format!("  note: {}\n", n.as_str().unwrap_or("")));
        }
    }
    out.trim_end().to_string()
}

pub fn run(
    old_file: &str,
    new_file: &str,
    units: u64,
    req: &Synthetic,
    json_out: bool,
    quiet: bool,
) -> Outcome {
    let old = match crate::validate::load(old_file) {
        Ok(c) => c,
        Err(e) => return e.report(json_out),
    };
    let new = match crate::validate::load(new_file) {
        Ok(c) => c,
        Err(e) => return e.report(json_out),
    };
    let started = std::time::Instant::now();
    // Progress on stderr for long runs only: one line per 10 % (rewritten in place on a
    // terminal), so stdout stays the result alone.
    let tty = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let mut progress = |done: u64, total: u64| {
        if quiet || total < PROGRESS_FROM {
            return;
        }
        let line = format!(
            "diff: {done}/{total} units ({:.0} %, {:.1} s)",
            done as f64 * 100.0 / total as f64,
            started.elapsed().as_secs_f64()
        );
        if tty {
            eprint!("\r{line}");
            if done == total {
                eprintln!();
            }
        } else {
            eprintln!("{line}");
        }
    };
    let d = diff(&old, &new, units, req, &mut progress);
    if json_out {
        Outcome::Ok(d.to_string())
    } else {
        Outcome::Ok(render(&d, old_file, new_file))
    }
}
