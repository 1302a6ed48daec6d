//! `switchyard explain --route R --unit U <config>`: why a unit lands where it lands.
//!
//! The decision is the core's own (`routing::decide`); the details around it (hash, bucket,
//! per-arm rendezvous scores, share thresholds, flag and shadow buckets) are computed with
//! the same core functions the strategies call, never re-implemented here.

use serde_json::{json, Value};
use switchyard_core::base::{self, Xoshiro256, PPM};
use switchyard_core::config::{self, Config, Route, RouteState, Side, Strategy, Weights};
use switchyard_core::routing::{self, Inputs, RequestView};

use crate::Outcome;

/// The synthetic request a unit is explained (or diffed) with.
pub struct Synthetic {
    pub headers: Vec<(String, String)>,
    pub country: Option<String>,
    pub method: Option<String>,
}

impl Synthetic {
    /// `name:value` pairs (header names are matched case-insensitively).
    pub fn new(
        headers: &[String],
        country: Option<&str>,
        method: Option<&str>,
    ) -> Result<Self, String> {
        let mut out = Vec::with_capacity(headers.len());
        for h in headers {
            let Some((k, v)) = h.split_once(':') else {
                return Err(format!("--header {h:?}: expected name:value"));
            };
            out.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
        Ok(Synthetic {
            headers: out,
            country: country.map(str::to_string),
            method: method.map(str::to_ascii_uppercase),
        })
    }

    pub fn header_pairs(&self) -> Vec<(&str, &str)> {
        self.headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect()
    }

    /// A request the route matches: its host (or `localhost`), its path prefix, its first
    /// method (or POST) unless `--method` says otherwise.
    pub fn view<'a>(
        &'a self,
        route: &'a Route,
        headers: &'a [(&'a str, &'a str)],
    ) -> RequestView<'a, [(&'a str, &'a str)]> {
        let method = self
            .method
            .as_deref()
            .or_else(|| {
                route
                    .matcher
                    .methods
                    .as_ref()
                    .and_then(|m| m.first())
                    .map(String::as_str)
            })
            .unwrap_or("POST");
        RequestView {
            method,
            host: route.matcher.host.as_deref().unwrap_or("localhost"),
            path: &route.matcher.path_prefix,
            query: None,
            headers,
            country: self.country.as_deref(),
        }
    }
}

/// Controller inputs read from files (`--state`, `--weights`: the KV documents
/// `state:<route>` and `weights:<route>`).
pub struct KvInputs {
    pub state: Option<RouteState>,
    pub weights: Option<Weights>,
}

impl KvInputs {
    pub fn load(state: Option<&str>, weights: Option<&str>) -> Result<Self, String> {
        let read = |p: &str| crate::validate::read_text(p);
        Ok(KvInputs {
            state: match state {
                Some(p) => Some(RouteState::parse(&read(p)?).map_err(|e| format!("{p}: {e}"))?),
                None => None,
            },
            weights: match weights {
                Some(p) => Some(Weights::parse(&read(p)?).map_err(|e| format!("{p}: {e}"))?),
                None => None,
            },
        })
    }
}

fn pct(ppm: u32) -> f64 {
    f64::from(ppm) / 10_000.0
}

/// Everything `explain` reports, as JSON (the text form is rendered from it).
pub fn explain(
    cfg: &Config,
    route_name: &str,
    unit: &str,
    req: &Synthetic,
    kv: &KvInputs,
) -> Result<Value, String> {
    let Some(route_idx) = cfg.routes.iter().position(|r| r.name == route_name) else {
        let names: Vec<&str> = cfg.routes.iter().map(|r| r.name.as_str()).collect();
        return Err(format!(
            "no route named {route_name:?} (routes: {})",
            names.join(", ")
        ));
    };
    match routing::check_unit_id(unit) {
        Ok(Some(_)) => {}
        Ok(None) => return Err("the unit id is empty".to_string()),
        Err(e) => {
            return Err(format!(
                "the unit id is {} (the edge and OFREP refuse it)",
                e.reason()
            ))
        }
    }
    let route = &cfg.routes[route_idx];
    let headers = req.header_pairs();
    let view = req.view(route, &headers);
    let h = base::hash(&route.split_salt, unit);
    let bucket_ppm = base::bucket_ppm(h);
    let state = kv
        .state
        .as_ref()
        .filter(|s| s.fingerprint == route.fingerprint);
    let weights: Option<Vec<f64>> = match (&route.strategy, &kv.weights) {
        (
            Strategy::Bandit {
                arms, min_share, ..
            },
            Some(w),
        ) => Some(w.resolve(arms, *min_share)),
        _ => None,
    };
    let inputs = Inputs {
        weights: weights.as_deref(),
        state,
    };
    let mut notes: Vec<String> = Vec::new();
    if kv.state.is_some() && state.is_none() {
        notes.push(format!(
            "--state ignored: its fingerprint is not the route's ({})",
            route.fingerprint
        ));
    }
    let origin_name = |id: switchyard_core::config::OriginId| cfg.origin(id).name.clone();
    let arms: Vec<Value> = match &route.strategy {
        Strategy::Ab { arms, .. } => arms
            .iter()
            .map(|a| {
                json!({ "arm": a.name, "origin": origin_name(a.origin), "weight": a.weight,
                        "score": base::score(h, a.key, a.weight) })
            })
            .collect(),
        Strategy::Bandit {
            arms,
            sticky,
            min_share,
            ..
        } => {
            let w = weights
                .clone()
                .unwrap_or_else(|| config::apply_floor(vec![1.0; arms.len()], *min_share, &[]));
            if kv.weights.is_none() {
                notes.push("no --weights: equal weights, as before the first learning tick".into());
            }
            if !sticky {
                notes.push(
                    "sticky is false: the arm is sampled per request, this is one draw".into(),
                );
            }
            arms.iter()
                .zip(&w)
                .map(|(a, w)| {
                    json!({ "arm": a.name, "origin": origin_name(a.origin), "weight": w,
                            "score": if *sticky { json!(base::score(h, a.key, *w)) } else { Value::Null } })
                })
                .collect()
        }
        Strategy::Canary {
            stable,
            canary,
            percent_ppm,
            ..
        } => {
            let (share, why) = match state {
                Some(s) if s.rolled_back => (0, "rolled back (state)".to_string()),
                Some(s) => match s
                    .canary_percent
                    .and_then(switchyard_core::config::percent_to_ppm_lenient)
                {
                    Some(p) => (p, format!("controller step {} (state)", s.step)),
                    None => (*percent_ppm, "config percent".into()),
                },
                None => (*percent_ppm, "config percent".into()),
            };
            vec![
                json!({ "arm": "canary", "origin": origin_name(*canary), "share_percent": pct(share),
                        "share_source": why, "selected_when": format!("bucket < {share}"),
                        "match": base::in_share(h, share) }),
                json!({ "arm": "stable", "origin": origin_name(*stable), "share_percent": 100.0 - pct(share),
                        "selected_when": format!("bucket >= {share}"),
                        "match": !base::in_share(h, share) }),
            ]
        }
        Strategy::Rolling {
            from,
            to,
            batches,
            completed,
            ..
        } => {
            let done = state
                .and_then(|s| s.completed)
                .unwrap_or(*completed)
                .min(*batches);
            let slot = base::slot(h, *batches);
            vec![
                json!({ "arm": "to", "origin": origin_name(*to), "slot": slot, "batches": batches,
                        "completed": done, "selected_when": format!("slot < {done}"), "match": slot < done }),
                json!({ "arm": "from", "origin": origin_name(*from), "slot": slot, "batches": batches,
                        "completed": done, "selected_when": format!("slot >= {done}"), "match": slot >= done }),
            ]
        }
        Strategy::Flag { default, flags } => {
            let mut v: Vec<Value> = flags
                .iter()
                .map(|f| {
                    let fb = base::bucket_ppm(base::hash(&f.flag.salt, unit));
                    json!({ "arm": f.flag.name, "origin": origin_name(f.origin), "flag_bucket": fb,
                            "rollout_percent": pct(f.flag.rollout_ppm), "rules": f.flag.rules.len(),
                            "match": routing::flag_on(&f.flag, unit, &view) })
                })
                .collect();
            v.push(json!({ "arm": "default", "origin": origin_name(*default),
                           "selected_when": "no flag above is on", "match": true }));
            notes.push("flags are tried in order; the first one on wins".into());
            v
        }
        Strategy::BlueGreen {
            blue,
            green,
            active,
            preview_header,
            ..
        } => {
            let preview = preview_header
                .as_deref()
                .is_some_and(|n| headers.iter().any(|(k, _)| k.eq_ignore_ascii_case(n)));
            let is_active = |side: Side| (*active == side) != preview;
            vec![
                json!({ "arm": "blue", "origin": origin_name(*blue), "active": *active == Side::Blue, "match": is_active(Side::Blue) }),
                json!({ "arm": "green", "origin": origin_name(*green), "active": *active == Side::Green, "match": is_active(Side::Green) }),
            ]
        }
        Strategy::Recreate { origin, .. } => {
            vec![json!({ "arm": "origin", "origin": origin_name(*origin), "match": true })]
        }
    };
    let mut rng = Xoshiro256::seed_from_u64(0);
    let d = routing::decide(cfg, route_idx, unit, &view, inputs, &mut rng);
    let shadows: Vec<Value> = route
        .shadows
        .iter()
        .enumerate()
        .map(|(i, s)| {
            json!({ "origin": origin_name(s.origin),
                    "bucket": base::bucket_ppm(base::hash(&s.salt, unit)),
                    "percent": pct(s.percent_ppm),
                    "mirrored": d.shadows & (1 << i) != 0 })
        })
        .collect();
    let flags: Vec<Value> = route
        .flags
        .iter()
        .enumerate()
        .map(|(i, f)| {
            json!({ "flag": f.name, "bucket": base::bucket_ppm(base::hash(&f.salt, unit)),
                    "rollout_percent": pct(f.rollout_ppm), "on": d.flags & (1 << i) != 0 })
        })
        .collect();
    Ok(json!({
        "config": cfg.id,
        "route": route.name,
        "strategy": route.strategy.kind(),
        "fingerprint": route.fingerprint,
        "unit": unit,
        "salt": route.split_salt,
        "hash": format!("{h:016x}"),
        "bucket": bucket_ppm,
        "bucket_percent": pct(bucket_ppm),
        "arms": arms,
        "decision": {
            "arm": d.arm,
            "origin": origin_name(d.origin),
            "url": cfg.origin(d.origin).base,
            "reason": d.reason.as_str(),
            "failover": d.failover.map(|(arm, o)| json!({ "arm": arm, "origin": origin_name(o) })),
        },
        "shadows": shadows,
        "flags": flags,
        "request": { "method": view.method, "host": view.host, "path": view.path,
                     "headers": req.headers.len(), "country": req.country },
        "notes": notes,
    }))
}

fn num(v: &Value) -> String {
    match v.as_f64() {
        Some(f) if f.fract() == 0.0 && f.abs() < 1e15 => format!("{f:.0}"),
        Some(f) => format!("{f:.4}"),
        None => v.to_string(),
    }
}

/// The human form of [`explain`]'s JSON.
pub fn render(e: &Value) -> String {
    let s = |k: &str| e[k].as_str().unwrap_or("").to_string();
    let mut out = String::new();
    out.push_str(&format!(
        "config    {}\nroute     {} ({}), fingerprint {}\nunit      {:?}\n",
        s("config"),
        s("route"),
        s("strategy"),
        s("fingerprint"),
        s("unit")
    ));
    out.push_str(&format!(
        "hash      {}  = first 8 bytes of SHA-256(\"sy1\" 0x1F {:?} 0x1F unit)\n",
        s("hash"),
        s("salt")
    ));
    out.push_str(&format!(
        "bucket    {} of {PPM} ppm ({}%)\n",
        num(&e["bucket"]),
        num(&e["bucket_percent"])
    ));
    out.push_str("arms\n");
    let empty = Vec::new();
    for a in e["arms"].as_array().unwrap_or(&empty) {
        let mut line = format!(
            "  {} {:<12} origin {:<10}",
            if a["match"] == json!(true) || a["arm"] == e["decision"]["arm"] {
                "*"
            } else {
                " "
            },
            a["arm"].as_str().unwrap_or(""),
            a["origin"].as_str().unwrap_or("")
        );
        if let Some(obj) = a.as_object() {
            for (k, v) in obj {
                if matches!(k.as_str(), "arm" | "origin" | "match") {
                    continue;
                }
                let shown = match v {
                    Value::String(x) => x.clone(),
                    Value::Null => "-".into(),
                    other => num(other),
                };
                line.push_str(&format!(" {k} {shown}"));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    let d = &e["decision"];
    out.push_str(&format!(
        "decision  arm {} -> origin {} ({})\nreason    {}\n",
        d["arm"].as_str().unwrap_or(""),
        d["origin"].as_str().unwrap_or(""),
        d["url"].as_str().unwrap_or(""),
        d["reason"].as_str().unwrap_or("")
    ));
    if let Some(f) = d["failover"].as_object() {
        out.push_str(&format!(
            "failover  arm {} -> origin {}\n",
            f["arm"].as_str().unwrap_or(""),
            f["origin"].as_str().unwrap_or("")
        ));
    }
    for sh in e["shadows"].as_array().unwrap_or(&empty) {
        out.push_str(&format!(
            "shadow    {}: bucket {} vs {}% -> {}\n",
            sh["origin"].as_str().unwrap_or(""),
            num(&sh["bucket"]),
            num(&sh["percent"]),
            if sh["mirrored"] == json!(true) {
                "mirrored"
            } else {
                "not mirrored"
            }
        ));
    }
    for f in e["flags"].as_array().unwrap_or(&empty) {
        out.push_str(&format!(
            "flag      {}: bucket {} vs rollout {}% -> {}\n",
            f["flag"].as_str().unwrap_or(""),
            num(&f["bucket"]),
            num(&f["rollout_percent"]),
            if f["on"] == json!(true) { "on" } else { "off" }
        ));
    }
    for n in e["notes"].as_array().unwrap_or(&empty) {
        out.push_str(&format!("note      {}\n", n.as_str().unwrap_or("")));
    }
    out.trim_end().to_string()
}

pub fn run(
    file: &str,
    route: &str,
    unit: &str,
    req: &Synthetic,
    kv: &KvInputs,
    json_out: bool,
) -> Outcome {
    let cfg = match crate::validate::load(file) {
        Ok(c) => c,
        Err(e) => return e.report(json_out),
    };
    match explain(&cfg, route, unit, req, kv) {
        Ok(v) if json_out => Outcome::Ok(v.to_string()),
        Ok(v) => Outcome::Ok(render(&v)),
        Err(msg) => Outcome::Usage(msg),
    }
}
