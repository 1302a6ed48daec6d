//! `GET /_switchyard/metrics`: the routes' statistics documents (`GET
//! /_switchyard/stats/<route>`) as OpenMetrics text (content type
//! `application/openmetrics-text; version=1.0.0; charset=utf-8`), one sample per route and
//! arm (or shadow origin). Every family is written once with all its samples, and the text
//! ends with `# EOF`. A scraper that prefers the Prometheus text format 0.0.4 (`Accept:
//! text/plain; version=0.0.4`, [`negotiate`]) gets it instead (`text/plain; version=0.0.4;
//! charset=utf-8`): counters typed under their `_total` sample name, no `# UNIT`, no `# EOF`.
//! The text format passes `promtool check metrics` (which parses that format: `curl -H
//! 'Accept: text/plain; version=0.0.4' … | promtool check metrics`).

use std::fmt::Write as _;

use serde_json::Value;

pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
/// The Prometheus text exposition format.
pub const TEXT_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The exposition format of a scrape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    OpenMetrics,
    Text004,
}

impl Format {
    pub fn content_type(self) -> &'static str {
        match self {
            Format::OpenMetrics => CONTENT_TYPE,
            Format::Text004 => TEXT_CONTENT_TYPE,
        }
    }
}

/// An RFC 9110 qvalue (`0`, `0.5`, `1.000`) in thousandths; anything else counts 0. (No float
/// parsing: it would add its tables to the stats worker's bundle.)
fn qvalue(v: &str) -> u16 {
    let (int, frac) = v.split_once('.').unwrap_or((v, ""));
    if frac.len() > 3 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return 0;
    }
    let f = format!("{frac:0<3}").parse::<u16>().unwrap_or(0);
    match int {
        "0" => f,
        "1" if f == 0 => 1000,
        _ => 0,
    }
}

/// The format for an `Accept` header: text 0.0.4 when `text/plain` has a higher quality than
/// `application/openmetrics-text` (absent counts 0); OpenMetrics otherwise (no header, `*/*`,
/// a tie).
pub fn negotiate(accept: Option<&str>) -> Format {
    let (mut om, mut text) = (0u16, 0u16);
    for item in accept.unwrap_or("").split(',') {
        let mut parts = item.split(';').map(str::trim);
        let media = parts.next().unwrap_or("").to_ascii_lowercase();
        let mut q = 1000;
        for p in parts {
            if let Some(v) = p.strip_prefix("q=").or_else(|| p.strip_prefix("Q=")) {
                q = qvalue(v.trim());
            }
        }
        match media.as_str() {
            "application/openmetrics-text" => om = om.max(q),
            "text/plain" => text = text.max(q),
            _ => {}
        }
    }
    if text > om {
        Format::Text004
    } else {
        Format::OpenMetrics
    }
}

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

/// Renders `(route, stats document)` pairs in `format`.
pub fn render(routes: &[(String, Value)], format: Format) -> String {
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
    // Not `_sum`: a suffix OpenMetrics reserves for summaries and histograms.
    let mut reward_sum = Family::new(
        "switchyard_reward_value",
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
        // Text 0.0.4 names a counter by its sample (`…_total`); OpenMetrics by its family.
        let name = if format == Format::Text004 && fam.kind == "counter" {
            format!("{}_total", fam.name)
        } else {
            fam.name.to_string()
        };
        let _ = writeln!(out, "# HELP {name} {}", fam.help);
        let _ = writeln!(out, "# TYPE {name} {}", fam.kind);
        if let (Some(u), Format::OpenMetrics) = (fam.unit, format) {
            let _ = writeln!(out, "# UNIT {name} {u}");
        }
        for s in fam.samples {
            out.push_str(&s);
            out.push('\n');
        }
    }
    if format == Format::OpenMetrics {
        out.push_str("# EOF\n");
    }
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
        let routes = [("fr\"aud".into(), doc), ("empty".into(), json!({}))];
        let text = render(&routes, Format::OpenMetrics);
        let plain = render(&routes, Format::Text004);
        assert!(!plain.contains("# EOF") && !plain.contains("# UNIT"));
        assert!(plain.contains("# TYPE switchyard_requests_total counter\n"));
        assert!(plain.contains("# TYPE switchyard_latency_seconds summary\n"));
        assert!(text.contains("# TYPE switchyard_requests counter\n"));
        assert!(!text.contains("_value_sum"));
        // Promtool, when installed (scripts/promtool-test.sh installs it). It parses the text
        // format 0.0.4 (what `promtool check metrics` reads from stdin).
        if let Ok(bin) = std::env::var("PROMTOOL") {
            {
                let t = &plain;
                let mut child = std::process::Command::new(&bin)
                    .args(["check", "metrics"])
                    .stdin(std::process::Stdio::piped())
                    .stdout(std::process::Stdio::piped())
                    .stderr(std::process::Stdio::piped())
                    .spawn()
                    .expect("PROMTOOL runs");
                use std::io::Write as _;
                child.stdin.take().unwrap().write_all(t.as_bytes()).unwrap();
                let out = child.wait_with_output().unwrap();
                assert!(
                    out.status.success(),
                    "promtool: {}{}\n{t}",
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                );
            }
        }
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
    fn accept_negotiation() {
        assert_eq!(negotiate(None), Format::OpenMetrics);
        assert_eq!(negotiate(Some("*/*")), Format::OpenMetrics);
        assert_eq!(
            negotiate(Some("text/plain; version=0.0.4")),
            Format::Text004
        );
        assert_eq!(
            negotiate(Some("text/plain;version=0.0.4;q=0.5,*/*;q=0.1")),
            Format::Text004
        );
        // Prometheus 2.42's own header prefers OpenMetrics.
        assert_eq!(
            negotiate(Some("application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1")),
            Format::OpenMetrics
        );
        assert_eq!(
            negotiate(Some("application/openmetrics-text;q=0.3, text/plain;q=0.9")),
            Format::Text004
        );
    }

    #[test]
    fn escapes() {
        assert_eq!(escape("a\\b\"c\nd"), "a\\\\b\\\"c\\nd");
        assert_eq!(num(3.0), "3");
        assert_eq!(num(0.25), "0.25");
        assert_eq!(num(f64::NAN), "NaN");
    }
}
