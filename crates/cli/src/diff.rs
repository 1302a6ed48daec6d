//! `switchyard diff <old> <new>`: how many users change arm when a config changes. The
//! computation is the core's ([`switchyard_core::ops`]); this renders it.
//!
//! A/B routes are routed through allocation layouts as the control plane would write them
//! ([`LayoutMode`]); without KV at hand the old config's layouts are assumed.
//! `validate?churn=1` uses the layouts KV really holds.

use serde_json::Value;

use crate::explain::Synthetic;
use crate::Outcome;

pub use switchyard_core::ops::{DEFAULT_UNITS, MAX_UNITS};
/// Runs over fewer units than this print no progress.
pub const PROGRESS_FROM: u64 = 10_000;

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
        let l = &r["layout"];
        if l.is_object() {
            out.push_str(&format!(
                "  layout          {} of slots move ({} runs); total-variation distance {}\n",
                pct(&l["slot_share"]),
                l["runs"],
                pct(&l["total_variation"])
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

/// What `diff` assumes about the A/B routes' allocation layouts (`--layouts`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LayoutMode {
    /// Both configs written through the control plane: the old one's layouts canonical (as
    /// its first write made them), the new ones rebalanced from them.
    Canonical,
    /// The old config routes by rendezvous hashing (written straight to KV); the new one is
    /// written through the control plane, which lays out the routes whose weights change.
    Adopt,
    /// Both written straight to KV: rendezvous hashing on both sides.
    None,
}

pub fn run(
    old_file: &str,
    new_file: &str,
    units: u64,
    req: &Synthetic,
    mode: LayoutMode,
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
    let headers = req.header_pairs();
    let held = match mode {
        LayoutMode::Canonical => {
            switchyard_core::ops::plan_layouts(None, &old, &|_| Vec::new()).routes
        }
        LayoutMode::Adopt | LayoutMode::None => Vec::new(),
    };
    let next = match mode {
        LayoutMode::None => Vec::new(),
        _ => {
            switchyard_core::ops::plan_layouts(Some(&old), &new, &|r| {
                held.iter()
                    .find(|(n, _)| n == r)
                    .map(|(_, l)| l.clone())
                    .unwrap_or_default()
            })
            .routes
        }
    };
    let layouts = switchyard_core::ops::Layouts {
        old: held,
        new: next,
    };
    let d = switchyard_core::ops::churn(&old, &new, units, &headers, &layouts, &mut progress);
    if json_out {
        Outcome::Ok(d.to_string())
    } else {
        Outcome::Ok(render(&d, old_file, new_file))
    }
}
