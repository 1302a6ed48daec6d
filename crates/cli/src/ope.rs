//! `ope`: off-policy evaluation of an allocation over a route's logged decisions, by the
//! running Switchyard (`POST /_switchyard/ope/<route>`, viewer role).
//!
//! ```text
//! switchyard ope fraud --policy v1=0.9,v2=0.1
//! ```

use serde_json::{json, Map, Value};

use crate::remote::Client;
use crate::Outcome;

/// `a=0.9,b=0.1` as a JSON object of arm -> weight (the server normalises and checks arms).
pub fn parse_policy(s: &str) -> Result<Value, String> {
    let mut m = Map::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let Some((arm, w)) = part.split_once('=') else {
            return Err(format!("--policy: {part:?} is not arm=weight"));
        };
        let w: f64 = w
            .trim()
            .parse()
            .map_err(|_| format!("--policy: weight of {arm:?} is not a number: {w:?}"))?;
        if !w.is_finite() || w < 0.0 {
            return Err(format!("--policy: weight of {arm:?} must be >= 0"));
        }
        if m.insert(arm.trim().to_string(), json!(w)).is_some() {
            return Err(format!("--policy: arm {arm:?} is given twice"));
        }
    }
    if m.is_empty() {
        return Err("--policy: expected arm=weight[,arm=weight...]".into());
    }
    Ok(Value::Object(m))
}

pub fn run(client: &Client, route: &str, policy: &Value, json_out: bool) -> Outcome {
    let body = json!({ "policy": policy }).to_string();
    let path = format!("/_switchyard/ope/{route}");
    let reply = match client.call("POST", &path, &[], Some(body.as_bytes())) {
        Ok(r) => r,
        Err(e) => return Outcome::Usage(e),
    };
    let parsed: Option<Value> = serde_json::from_str(&reply.body).ok();
    if reply.status != 200 {
        let message = parsed
            .as_ref()
            .and_then(|v| v["error"]["message"].as_str().map(str::to_string))
            .unwrap_or_else(|| reply.body.chars().take(500).collect());
        return Outcome::Failed(if json_out {
            json!({ "ok": false, "status": reply.status, "response": parsed }).to_string()
        } else {
            format!("ope {route}: refused with HTTP {}: {message}", reply.status)
        });
    }
    let Some(v) = parsed else {
        return Outcome::Usage(format!("ope {route}: the answer is not JSON"));
    };
    if json_out {
        return Outcome::Ok(v.to_string());
    }
    Outcome::Ok(render(&v))
}

/// The human-readable form of an OPE document.
pub fn render(v: &Value) -> String {
    let policy: Vec<String> = v["policy"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(a, w)| format!("{a}={}", num(w.as_f64(), 4)))
                .collect()
        })
        .unwrap_or_default();
    let mut out = format!(
        "route {}: policy {} over {} decisions ({}; evidence {})\n",
        v["route"].as_str().unwrap_or("?"),
        policy.join(", "),
        v["n"],
        v["counted"].as_str().unwrap_or("?"),
        v["evidence"].as_str().unwrap_or("?"),
    );
    for (name, key) in [("IPS", "ips"), ("SNIPS", "snips")] {
        let e = &v[key];
        if e.is_null() {
            out.push_str(&format!("  {name:<6} n/a (too few decisions)\n"));
        } else {
            out.push_str(&format!(
                "  {name:<6} {}  95% [{}, {}]\n",
                num(e["estimate"].as_f64(), 4),
                num(e["ci_low"].as_f64(), 4),
                num(e["ci_high"].as_f64(), 4),
            ));
        }
    }
    if let Some(u) = v["unsupported"].as_array().filter(|u| !u.is_empty()) {
        let names: Vec<&str> = u.iter().filter_map(Value::as_str).collect();
        out.push_str(&format!(
            "  warning: the policy weights arms never logged ({}): their value is not in the estimate\n",
            names.join(", ")
        ));
    }
    out.trim_end().to_string()
}

fn num(x: Option<f64>, digits: usize) -> String {
    x.map_or("?".into(), |x| format!("{x:.digits$}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policies_parse_or_say_why() {
        assert_eq!(
            parse_policy("a=0.9, b=0.1").unwrap(),
            json!({ "a": 0.9, "b": 0.1 })
        );
        for bad in ["", "a", "a=x", "a=-1", "a=1,a=2", "a=inf"] {
            assert!(parse_policy(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn renders_estimates_and_warnings() {
        let v = json!({
            "route": "r", "policy": { "a": 0.9, "b": 0.1 }, "n": 400,
            "counted": "every logged decision (no feedback = 0)", "evidence": "conversion",
            "ips": { "estimate": 0.3, "ci_low": 0.25, "ci_high": 0.35 }, "snips": null,
            "unsupported": ["b"],
        });
        let s = render(&v);
        assert!(
            s.contains("policy a=0.9000, b=0.1000 over 400 decisions"),
            "{s}"
        );
        assert!(s.contains("IPS    0.3000  95% [0.2500, 0.3500]"), "{s}");
        assert!(s.contains("SNIPS  n/a"), "{s}");
        assert!(s.contains("never logged (b)"), "{s}");
    }
}
