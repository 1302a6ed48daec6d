//! `GET /_switchyard/metrics`: the routes' statistics documents (`GET
//! /_switchyard/stats/<route>`) as OpenMetrics text (content type
//! `application/openmetrics-text; version=1.0.0; charset=utf-8`), one sample per route and
//! arm (or shadow origin). Every family is written once with all its samples, and the text
//! ends with `# EOF`.

use std::fmt::Write as _;

use serde_json::Value;

pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Escapes a label value (backslash, double quote, newline).
pub fn escape(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

fn num(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.into()
    } else if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

struct Family {
    name: &'static str,
    kind: &'static str,
    unit: Option<&'static str>,
    help: &'static str,
    samples: Vec<String>,
}

impl Family {
    fn new(name: &'static str, kind: &'static str, help: &'static str) -> Self {
        Self {
            name,
            kind,
            unit: None,
            help,
            samples: Vec::new(),
        }
    }
    fn add(&mut self, suffix: &str, labels: &[(&str, &str)], v: f64) {
        let l: Vec<String> = labels
            .iter()
            .map(|(k, v)| format!("{k}=\"{}\"", escape(v)))
            .collect();
        self.samples.push(format!(
            "{}{suffix}{{{}}} {}",
            self.name,
            l.join(","),
            num(v)
        ));
    }
}

fn f(v: &Value, path: &[&str]) -> Option<f64> {
    let mut cur = v;
    for p in path {
        cur = cur.get(p)?;
    }
    cur.as_f64()
}

/// Renders `(route, stats document)` pairs.
pub fn render(routes: &[(String, Value)]) -> String {
    let mut requests = Family::new(
        "switchyard_requests",
        "counter",
        "Requests routed to the arm",
    );
    let mut errors = Family::new(
        "switchyard_errors",
        "counter",
        "Requests that ended in a 5xx, a timeout or a connection error",
    );
    let mut latency = Family::new(
        "switchyard_latency_seconds",
        "summary",
        "Origin latency quantiles (log-bucketed histogram, relative error below 1/16)",
    );
    latency.unit = Some("seconds");
    let mut rewards = Family::new("switchyard_rewards", "counter", "Feedback rewards credited");
    let mut reward_sum = Family::new(
        "switchyard_reward_value_sum",
        "gauge",
        "Sum of the credited reward values",
    );
    let mut shadow_obs = Family::new(
        "switchyard_shadow_observations",
        "counter",
        "Shadow requests observed",
    );
    let mut shadow_agree = Family::new(
        "switchyard_shadow_agreement_ratio",
        "gauge",
        "Share of shadow answers agreeing with the primary (kind: status, exact, normalised)",
    );
    let mut canary = Family::new(
        "switchyard_canary_percent",
        "gauge",
        "Canary share in force, percent (controller state)",
    );
    let mut rolled_back = Family::new(
        "switchyard_rolled_back",
        "gauge",
        "1 when the route's canary is rolled back",
    );
    let mut weight = Family::new(
        "switchyard_bandit_weight",
        "gauge",
        "Bandit weight of the arm",
    );
    for (route, doc) in routes {
        let r = route.as_str();
        if let Some(arms) = doc.get("arms").and_then(Value::as_object) {
            for (arm, a) in arms {
                let l = [("route", r), ("arm", arm.as_str())];
                let n = f(a, &["requests"]).unwrap_or(0.0);
                requests.add("_total", &l, n);
                errors.add("_total", &l, f(a, &["errors"]).unwrap_or(0.0));
                for (q, key) in [("0.5", "p50"), ("0.95", "p95"), ("0.99", "p99")] {
                    if let Some(ms) = f(a, &["latency_ms", key]) {
                        latency.add(
                            "",
                            &[("route", r), ("arm", arm), ("quantile", q)],
                            ms / 1000.0,
                        );
                    }
                }
                if let Some(mean) = f(a, &["latency_ms", "mean"]) {
                    latency.add("_sum", &l, mean * n / 1000.0);
                }
                latency.add("_count", &l, n);
                rewards.add("_total", &l, f(a, &["rewards", "count"]).unwrap_or(0.0));
                reward_sum.add("", &l, f(a, &["rewards", "sum"]).unwrap_or(0.0));
            }
        }
        if let Some(shadows) = doc.get("shadows").and_then(Value::as_object) {
            for (origin, s) in shadows {
                let l = [("route", r), ("shadow", origin.as_str())];
                shadow_obs.add("_total", &l, f(s, &["observations"]).unwrap_or(0.0));
                for (kind, key) in [
                    ("status", "status_agreement"),
                    ("exact", "exact_agreement"),
                    ("normalised", "normalised_agreement"),
                ] {
                    if let Some(v) = f(s, &[key]) {
                        shadow_agree.add(
                            "",
                            &[("route", r), ("shadow", origin), ("kind", kind)],
                            v,
                        );
                    }
                }
            }
        }
        if let Some(c) = doc.get("controller").filter(|c| c.is_object()) {
            if let Some(p) = f(c, &["canary_percent"]) {
                canary.add("", &[("route", r)], p);
            }
            let rb = c
                .get("rolled_back")
                .and_then(Value::as_bool)
                .unwrap_or(false);
            rolled_back.add("", &[("route", r)], f64::from(u8::from(rb)));
        }
        if let Some(w) = doc
            .get("weights")
            .and_then(|w| w.get("arms"))
            .and_then(Value::as_object)
        {
            for (arm, v) in w {
                if let Some(v) = v.as_f64() {
                    weight.add("", &[("route", r), ("arm", arm)], v);
                }
            }
        }
    }
    let mut out = String::new();
    for fam in [
        requests,
        errors,
        latency,
        rewards,
        reward_sum,
        shadow_obs,
        shadow_agree,
        canary,
        rolled_back,
        weight,
    ] {
        let _ = writeln!(out, "# TYPE {} {}", fam.name, fam.kind);
        if let Some(u) = fam.unit {
            let _ = writeln!(out, "# UNIT {} {u}", fam.name);
        }
        let _ = writeln!(out, "# HELP {} {}", fam.name, fam.help);
        for s in fam.samples {
            out.push_str(&s);
            out.push('\n');
        }
    }
    out.push_str("# EOF\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn renders_families_once_and_ends_with_eof() {
        let doc = json!({
            "arms": {
                "stable": {"requests": 90, "errors": 1, "latency_ms": {"p50": 10.0, "p95": 20.5, "p99": 30.0, "mean": 12.0}, "rewards": {"count": 3, "sum": 2.0}},
                "canary": {"requests": 10, "errors": 5, "latency_ms": {"p50": null, "p95": null, "p99": null, "mean": null}, "rewards": {"count": 0, "sum": 0.0}}
            },
            "shadows": {"v3": {"observations": 7, "status_agreement": 1.0, "exact_agreement": 0.5, "normalised_agreement": null}},
            "controller": {"canary_percent": 5.0, "rolled_back": true},
            "weights": null,
        });
        let text = render(&[("fr\"aud".into(), doc), ("empty".into(), json!({}))]);
        assert!(text.ends_with("# EOF\n"));
        assert_eq!(text.matches("# EOF").count(), 1);
        assert!(text.contains("switchyard_requests_total{route=\"fr\\\"aud\",arm=\"stable\"} 90\n"));
        assert!(text.contains("switchyard_errors_total{route=\"fr\\\"aud\",arm=\"canary\"} 5\n"));
        assert!(text.contains(
            "switchyard_latency_seconds{route=\"fr\\\"aud\",arm=\"stable\",quantile=\"0.95\"} 0.0205\n"
        ));
        assert!(text
            .contains("switchyard_latency_seconds_count{route=\"fr\\\"aud\",arm=\"canary\"} 10\n"));
        assert!(!text.contains("arm=\"canary\",quantile"));
        assert!(text.contains("switchyard_shadow_agreement_ratio{route=\"fr\\\"aud\",shadow=\"v3\",kind=\"exact\"} 0.5\n"));
        assert!(text.contains("switchyard_rolled_back{route=\"fr\\\"aud\"} 1\n"));
        // Each family's TYPE line appears once, before its samples.
        for fam in [
            "switchyard_requests",
            "switchyard_latency_seconds",
            "switchyard_shadow_agreement_ratio",
        ] {
            assert_eq!(text.matches(&format!("# TYPE {fam} ")).count(), 1);
        }
        for line in text.lines() {
            assert!(
                line.starts_with('#') || line.starts_with("switchyard_"),
                "{line}"
            );
        }
    }

    #[test]
    fn escapes() {
        assert_eq!(escape("a\\b\"c\nd"), "a\\\\b\\\"c\\nd");
        assert_eq!(num(3.0), "3");
        assert_eq!(num(0.25), "0.25");
        assert_eq!(num(f64::NAN), "NaN");
    }
}
