//! Throw-away differential dump for the config walker refactor (issue 8, item 4): prints
//! `(path, reason)` of every error, or the parsed `Config` (route fingerprints included), for
//! every fixture config, the demo config and thousands of random mutations of them. Run with
//! `WALKER_DUMP=/tmp/x.txt cargo test -p switchyard-core --lib walker_dump -- --ignored`
//! on two revisions and diff the files. With `WALKER_STRIP=1` it dumps the parse of each
//! document with its `null` optional fields removed (id and fingerprints of the document
//! itself): the walker before the null rule in that mode must equal the walker after it in
//! the plain mode, line for line.

use serde_json::Value;
use sha2::Digest;

use crate::config;
use crate::rng::{Rng, Xoshiro256};
use crate::testgen::gen;

const KEYS: &[&str] = &[
    "version",
    "default_origin",
    "origins",
    "routes",
    "description",
    "alerts",
    "url",
    "timeout_ms",
    "name",
    "match",
    "unit",
    "strategy",
    "shadow",
    "flags",
    "strip_prefix",
    "feedback_shards",
    "host",
    "path_prefix",
    "methods",
    "header",
    "cookie",
    "query",
    "kind",
    "arms",
    "guard",
    "salt",
    "stable",
    "canary",
    "percent",
    "steps",
    "hold_s",
    "default",
    "blue",
    "green",
    "active",
    "failover",
    "preview_header",
    "from",
    "to",
    "batches",
    "completed",
    "interval_s",
    "origin",
    "health_path",
    "algorithm",
    "epsilon",
    "min_share",
    "min_samples",
    "sticky",
    "feedback",
    "weight",
    "max_error_rate",
    "max_p95_latency_ratio",
    "min_requests",
    "action",
    "rollout",
    "rules",
    "attr",
    "op",
    "values",
    "max_body_bytes",
    "compare",
    "webhooks",
    "events",
    "pointer",
    "tolerance",
];
const STRINGS: &[&str] = &[
    "v1",
    "v2",
    "v3",
    "a",
    "b",
    "ab",
    "canary",
    "flag",
    "blue_green",
    "rolling",
    "recreate",
    "bandit",
    "/x",
    "/",
    "x/",
    "blue",
    "green",
    "thompson",
    "ucb1",
    "epsilon_greedy",
    "auto",
    "explicit",
    "stop",
    "drain",
    "country",
    "header:x",
    "cookie:",
    "eq",
    "in",
    "prefix",
    "semver_gte",
    "1.2.3",
    "POST",
    "G3T",
    "http://h",
    "ftp://x",
    "kserve_v2",
    "json_pointer",
    "/a/b",
    "bad name",
    "rollback",
];

fn pointers(v: &Value, at: String, out: &mut Vec<String>) {
    out.push(at.clone());
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                pointers(
                    x,
                    format!("{at}/{}", k.replace('~', "~0").replace('/', "~1")),
                    out,
                );
            }
        }
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                pointers(x, format!("{at}/{i}"), out);
            }
        }
        _ => {}
    }
}

fn mutate(doc: &mut Value, rng: &mut Xoshiro256) {
    let mut ps = Vec::new();
    pointers(doc, String::new(), &mut ps);
    let p = ps[(rng.next_u64() % ps.len() as u64) as usize].clone();
    let r = rng.next_u64() % 10;
    let (parent, last) = match p.rfind('/') {
        Some(i) => (
            p[..i].to_string(),
            p[i + 1..].replace("~1", "/").replace("~0", "~"),
        ),
        None => (String::new(), String::new()),
    };
    match r {
        // null where there was a value (the null rule)
        0..=2 => {
            if let Some(x) = doc.pointer_mut(&p) {
                *x = Value::Null;
            }
        }
        3 | 4 => {
            let g = gen(rng, KEYS, STRINGS, 1);
            if let Some(x) = doc.pointer_mut(&p) {
                *x = g;
            }
        }
        5 | 6 => match doc.pointer_mut(&parent) {
            Some(Value::Object(m)) if !p.is_empty() => {
                m.remove(&last);
            }
            Some(Value::Array(a)) if !p.is_empty() => {
                if let Ok(i) = last.parse::<usize>() {
                    if i < a.len() {
                        a.remove(i);
                    }
                }
            }
            _ => {}
        },
        _ => {
            let k = KEYS[(rng.next_u64() % KEYS.len() as u64) as usize].to_string();
            let val = if rng.next_u64().is_multiple_of(3) {
                Value::Null
            } else {
                gen(rng, KEYS, STRINGS, 1)
            };
            match doc.pointer_mut(&p) {
                Some(Value::Object(m)) => {
                    m.insert(k, val);
                }
                Some(Value::Array(a)) => a.push(val),
                _ => {}
            }
        }
    }
}

/// The optional fields of the object at `ctx` (strategy objects by `kind`).
fn optional(ctx: &str, kind: &str) -> &'static [&'static str] {
    match ctx {
        "root" => &["default_origin", "alerts"],
        "origin" => &["timeout_ms"],
        "route" => &["strip_prefix", "unit", "shadow", "flags", "feedback_shards"],
        "match" => &["host", "path_prefix", "methods"],
        "strategy" => match kind {
            "ab" => &["guard", "salt"],
            "canary" => &["steps", "guard", "salt"],
            "blue_green" => &["failover", "preview_header"],
            "rolling" => &["completed", "interval_s", "guard", "salt"],
            "recreate" => &["health_path"],
            "bandit" => &[
                "algorithm",
                "epsilon",
                "min_share",
                "min_samples",
                "sticky",
                "feedback",
                "salt",
            ],
            _ => &[],
        },
        "guard" => &[
            "max_error_rate",
            "max_p95_latency_ratio",
            "min_requests",
            "action",
        ],
        "shadow" => &[
            "percent",
            "methods",
            "max_body_bytes",
            "timeout_ms",
            "compare",
        ],
        "flag" => &["rollout", "rules"],
        "alerts" => &["webhooks"],
        "webhook" => &["events"],
        _ => &[],
    }
}

/// `v` with every `null` optional field removed: what the null rule says it means.
fn strip(v: &mut Value, ctx: &str) {
    let kind = v
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let Some(m) = v.as_object_mut() else {
        return;
    };
    let opt = optional(ctx, &kind);
    m.retain(|k, x| !(x.is_null() && opt.contains(&k.as_str())));
    let each = |x: &mut Value, c: &str| {
        if let Some(a) = x.as_array_mut() {
            a.iter_mut().for_each(|y| strip(y, c));
        }
    };
    for (k, x) in m.iter_mut() {
        match (ctx, k.as_str()) {
            ("root", "origins") => {
                if let Some(o) = x.as_object_mut() {
                    o.values_mut().for_each(|y| strip(y, "origin"));
                }
            }
            ("root", "routes") => each(x, "route"),
            ("root", "alerts") => strip(x, "alerts"),
            ("alerts", "webhooks") => each(x, "webhook"),
            ("route", "match") => strip(x, "match"),
            ("route", "strategy") => strip(x, "strategy"),
            ("route", "shadow") => each(x, "shadow"),
            ("route", "flags") => each(x, "flag"),
            ("strategy", "guard") => strip(x, "guard"),
            ("strategy", "flags") => each(x, "flag"),
            ("flag", "rules") | ("strategy", "steps") | ("strategy", "arms") => {}
            _ => {}
        }
    }
}

fn dump(label: &str, text: &str, out: &mut String) {
    let oracle = std::env::var("WALKER_STRIP").is_ok();
    let parsed = if oracle {
        let doc: Value = serde_json::from_str(text).unwrap();
        let mut stripped = doc.clone();
        strip(&mut stripped, "root");
        let mut parsed = config::parse(&stripped.to_string());
        if let Ok(c) = &mut parsed {
            // What the document itself would give: its id and strategy fingerprints.
            c.id = config::text_id(text);
            for (i, r) in c.routes.iter_mut().enumerate() {
                let s = serde_json::to_vec(&doc["routes"][i]["strategy"]).unwrap();
                r.fingerprint = config::hex12(&sha2::Sha256::digest(s));
            }
        }
        parsed
    } else {
        config::parse(text)
    };
    match parsed {
        Ok(c) => {
            out.push_str(&format!("{label} OK id={} {c:?}\n", c.id));
            for r in &c.routes {
                out.push_str(&format!("{label} FP {} {}\n", r.name, r.fingerprint));
            }
        }
        Err(es) => {
            for e in es {
                out.push_str(&format!("{label} E {}\t{}\n", e.path, e.reason));
            }
        }
    }
}

#[test]
#[ignore = "refactor aid: writes a dump to $WALKER_DUMP"]
fn walker_dump() {
    let fixtures: Value =
        serde_json::from_str(include_str!("../../../tests/fixtures/config_cases.json")).unwrap();
    let mut bases = Vec::new();
    for c in fixtures["cases"].as_array().unwrap() {
        let mut cfg = c["config"].clone();
        cfg["origins"] = fixtures["base_origins"].clone();
        bases.push(cfg);
    }
    bases.push(serde_json::from_str(include_str!("../../../demo/config.json")).unwrap());
    let mut out = String::new();
    for (i, b) in bases.iter().enumerate() {
        dump(&format!("base{i}"), &b.to_string(), &mut out);
    }
    let mut rng = Xoshiro256::seed_from_u64(8);
    for n in 0..6000 {
        let i = (rng.next_u64() % bases.len() as u64) as usize;
        let mut doc = bases[i].clone();
        for _ in 0..1 + rng.next_u64() % 3 {
            mutate(&mut doc, &mut rng);
        }
        dump(&format!("mut{n}"), &doc.to_string(), &mut out);
    }
    let path = std::env::var("WALKER_DUMP").unwrap_or_else(|_| "/tmp/walker_dump.txt".into());
    std::fs::write(&path, &out).unwrap();
    println!("{} lines -> {path}", out.lines().count());
}
