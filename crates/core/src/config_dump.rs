//! Throw-away differential dump for the config walker refactor (issue 8, item 4): prints
//! `(path, reason)` of every error, or the parsed `Config` (route fingerprints included), for
//! every fixture config, the demo config and thousands of random mutations of them. Run with
//! `WALKER_DUMP=/tmp/x.txt cargo test -p switchyard-core --lib walker_dump -- --ignored`
//! on two revisions and diff the files.

use serde_json::Value;

use crate::config;
use crate::rng::{Rng, Xoshiro256};
use crate::testgen::gen;

const KEYS: &[&str] = &[
    "version", "default_origin", "origins", "routes", "description", "alerts", "url",
    "timeout_ms", "name", "match", "unit", "strategy", "shadow", "flags", "strip_prefix",
    "feedback_shards", "host", "path_prefix", "methods", "header", "cookie", "query", "kind",
    "arms", "guard", "salt", "stable", "canary", "percent", "steps", "hold_s", "default",
    "blue", "green", "active", "failover", "preview_header", "from", "to", "batches",
    "completed", "interval_s", "origin", "health_path", "algorithm", "epsilon", "min_share",
    "min_samples", "sticky", "feedback", "weight", "max_error_rate", "max_p95_latency_ratio",
    "min_requests", "action", "rollout", "rules", "attr", "op", "values", "max_body_bytes",
    "compare", "webhooks", "events", "pointer", "tolerance",
];
const STRINGS: &[&str] = &[
    "v1", "v2", "v3", "a", "b", "ab", "canary", "flag", "blue_green", "rolling", "recreate",
    "bandit", "/x", "/", "x/", "blue", "green", "thompson", "ucb1", "epsilon_greedy", "auto",
    "explicit", "stop", "drain", "country", "header:x", "cookie:", "eq", "in", "prefix",
    "semver_gte", "1.2.3", "POST", "G3T", "http://h", "ftp://x", "kserve_v2", "json_pointer",
    "/a/b", "bad name", "rollback",
];

fn pointers(v: &Value, at: String, out: &mut Vec<String>) {
    out.push(at.clone());
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                pointers(x, format!("{at}/{}", k.replace('~', "~0").replace('/', "~1")), out);
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
        Some(i) => (p[..i].to_string(), p[i + 1..].replace("~1", "/").replace("~0", "~")),
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
            let val = if rng.next_u64() % 3 == 0 {
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

fn dump(label: &str, text: &str, out: &mut String) {
    match config::parse(text) {
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
