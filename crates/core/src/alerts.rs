//! Alerts: webhooks (Slack-compatible `{"text": …}` plus structured fields) when a route's
//! controller changes state: rollback, step, promote, pause, resume, and the sample-ratio
//! alarm (`srm`). Configured at the top of the config document:
//!
//! ```json
//! "alerts": { "webhooks": [ { "url": "https://hooks.slack.com/…", "events": ["rollback", "pause"] } ] }
//! ```
//!
//! `events` defaults to every event. The stats worker sends them (see `edge::alerts`), with
//! [`BACKOFF_MS`] between attempts, and records every attempt.

use serde_json::{json, Map, Value};

use crate::config::ConfigError;
use crate::strategy::RouteState;

pub const EVENTS: [&str; 6] = ["rollback", "step", "promote", "pause", "resume", "srm"];
pub const MAX_WEBHOOKS: usize = 8;
pub const MAX_URL_LEN: usize = 2048;
/// Delay before each attempt: three attempts in all.
pub const BACKOFF_MS: [u64; 3] = [0, 1_000, 4_000];
/// Per-attempt timeout.
pub const ATTEMPT_TIMEOUT_MS: u64 = 5_000;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Webhook {
    pub url: String,
    pub events: Vec<&'static str>,
}

impl Webhook {
    pub fn wants(&self, event: &str) -> bool {
        self.events.contains(&event)
    }
}

/// Validates `$.alerts`; problems are pushed to `errors` with their paths.
pub fn parse(v: Option<&Value>, errors: &mut Vec<ConfigError>) -> Vec<Webhook> {
    let mut err = |path: String, reason: String| errors.push(ConfigError { path, reason });
    let Some(v) = v.filter(|v| !v.is_null()) else {
        return Vec::new();
    };
    let Some(obj) = v.as_object() else {
        err("$.alerts".into(), "expected an object".into());
        return Vec::new();
    };
    for k in obj.keys() {
        if k != "webhooks" {
            err(
                format!("$.alerts.{k}"),
                "unknown field (expected `webhooks`)".into(),
            );
        }
    }
    // `null` means absent, as for every optional field of the config.
    let Some(list) = obj.get("webhooks").filter(|l| !l.is_null()) else {
        return Vec::new();
    };
    let Some(list) = list.as_array() else {
        err("$.alerts.webhooks".into(), "expected an array".into());
        return Vec::new();
    };
    if list.len() > MAX_WEBHOOKS {
        err(
            "$.alerts.webhooks".into(),
            format!("at most {MAX_WEBHOOKS} webhooks"),
        );
    }
    let mut out = Vec::new();
    for (i, w) in list.iter().enumerate().take(MAX_WEBHOOKS) {
        let p = format!("$.alerts.webhooks[{i}]");
        let Some(w) = w.as_object() else {
            err(p, "expected an object {url, events}".into());
            continue;
        };
        for k in w.keys() {
            if k != "url" && k != "events" {
                err(format!("{p}.{k}"), "unknown field".into());
            }
        }
        let url = match w.get("url").and_then(Value::as_str) {
            Some(u) if u.len() > MAX_URL_LEN => {
                err(
                    format!("{p}.url"),
                    format!("longer than {MAX_URL_LEN} characters"),
                );
                None
            }
            Some(u)
                if (u.starts_with("https://") || u.starts_with("http://"))
                    && u.len() > "http://".len()
                    && !u.contains([' ', '\n', '\r']) =>
            {
                Some(u.to_string())
            }
            Some(u) => {
                err(
                    format!("{p}.url"),
                    format!("{u:?} must be an http:// or https:// URL"),
                );
                None
            }
            None => {
                err(format!("{p}.url"), "missing required string field".into());
                None
            }
        };
        let events = match w.get("events") {
            None | Some(Value::Null) => EVENTS.to_vec(),
            Some(Value::Array(a)) => {
                let mut ev = Vec::new();
                if a.is_empty() {
                    err(format!("{p}.events"), "at least one event".into());
                }
                for (j, e) in a.iter().enumerate() {
                    match e.as_str().and_then(|s| EVENTS.iter().find(|x| **x == s)) {
                        Some(x) if !ev.contains(x) => ev.push(*x),
                        Some(x) => {
                            err(format!("{p}.events[{j}]"), format!("duplicate event {x:?}"))
                        }
                        None => err(
                            format!("{p}.events[{j}]"),
                            format!("unknown event {e}; one of {}", EVENTS.join(", ")),
                        ),
                    }
                }
                ev
            }
            Some(_) => {
                err(
                    format!("{p}.events"),
                    "expected an array of event names".into(),
                );
                Vec::new()
            }
        };
        if let Some(url) = url {
            out.push(Webhook { url, events });
        }
    }
    out
}

/// The events between two controller states of a route.
pub fn events(old: Option<&RouteState>, new: &RouteState) -> Vec<&'static str> {
    let mut out = Vec::new();
    let was_rolled_back = old.is_some_and(|o| o.rolled_back);
    if new.rolled_back && !was_rolled_back {
        out.push("rollback");
        return out;
    }
    if was_rolled_back && !new.rolled_back {
        out.push("resume");
    }
    let old_paused = old.and_then(|o| o.paused.as_ref()).is_some();
    if new.paused.is_some() && !old_paused {
        out.push("pause");
    }
    let old_pct = old.and_then(|o| o.canary_percent);
    if let Some(p) = new.canary_percent {
        if p >= 100.0 && old_pct.is_none_or(|o| o < 100.0) {
            out.push("promote");
        } else if old.is_some_and(|o| o.step != new.step) || old_pct.is_some_and(|o| o != p) {
            out.push("step");
        }
    }
    let old_done = old.and_then(|o| o.completed);
    if new.completed.is_some() && old.is_some() && new.completed != old_done {
        out.push("step");
    }
    out.dedup();
    out
}

/// The webhook body: Slack's `text` plus the structured fields.
pub fn payload(
    route: &str,
    event: &str,
    state: Option<&RouteState>,
    detail: &Value,
    at_ms: u64,
) -> Value {
    let what = match event {
        "rollback" => "rolled back",
        "step" => "moved to the next step",
        "promote" => "promoted",
        "pause" => "paused",
        "resume" => "resumed",
        "srm" => "raised a sample-ratio-mismatch alarm",
        _ => "changed state",
    };
    let mut text = format!("Switchyard: route {route} {what}");
    if let Some(p) = state.and_then(|s| s.canary_percent) {
        text.push_str(&format!(" (canary at {p}%)"));
    }
    if let Some(r) = state
        .and_then(|s| s.reason.as_deref())
        .filter(|r| !r.is_empty())
    {
        text.push_str(": ");
        text.push_str(r);
    }
    let mut v = Map::new();
    v.insert("text".into(), json!(text));
    v.insert("event".into(), json!(event));
    v.insert("route".into(), json!(route));
    v.insert("at".into(), json!(at_ms));
    v.insert("state".into(), json!(state));
    if !detail.is_null() {
        v.insert("detail".into(), detail.clone());
    }
    Value::Object(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_ok(v: Value) -> (Vec<Webhook>, Vec<ConfigError>) {
        let mut e = Vec::new();
        let w = parse(Some(&v), &mut e);
        (w, e)
    }

    #[test]
    fn validates_webhooks() {
        let (w, e) = parse_ok(
            json!({"webhooks": [{"url": "http://127.0.0.1:9/x", "events": ["rollback"]}, {"url": "https://h/y"}]}),
        );
        assert!(e.is_empty(), "{e:?}");
        assert_eq!(w[0].events, vec!["rollback"]);
        assert_eq!(w[1].events.len(), EVENTS.len());
        let (_, e) = parse_ok(
            json!({"webhooks": [{"url": "ftp://x", "events": ["nope", "rollback", "rollback"], "extra": 1}], "other": 1}),
        );
        let paths: Vec<&str> = e.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(
            paths,
            vec![
                "$.alerts.other",
                "$.alerts.webhooks[0].extra",
                "$.alerts.webhooks[0].url",
                "$.alerts.webhooks[0].events[0]",
                "$.alerts.webhooks[0].events[2]"
            ]
        );
        let (_, e) = parse_ok(
            json!({"webhooks": (0..9).map(|i| json!({"url": format!("http://h/{i}")})).collect::<Vec<_>>()}),
        );
        assert_eq!(e.len(), 1);
        let (_, e) = parse_ok(json!([]));
        assert_eq!(e[0].path, "$.alerts");
    }

    #[test]
    fn config_accepts_alerts_and_reports_their_paths() {
        let base = r#"{"version":1,"origins":{"a":{"url":"http://127.0.0.1:1"}},"routes":[],"alerts":ALERTS}"#;
        let ok = crate::config::parse(&base.replace(
            "ALERTS",
            r#"{"webhooks":[{"url":"http://127.0.0.1:2/hook","events":["rollback","step"]}]}"#,
        ))
        .unwrap();
        assert_eq!(ok.alerts.len(), 1);
        let bad = crate::config::parse(&base.replace("ALERTS", r#"{"webhooks":[{"url":"nope"}]}"#))
            .unwrap_err();
        assert_eq!(bad[0].path, "$.alerts.webhooks[0].url");
    }

    fn st(pct: Option<f64>, step: usize, rb: bool) -> RouteState {
        RouteState {
            canary_percent: pct,
            step,
            rolled_back: rb,
            ..Default::default()
        }
    }

    #[test]
    fn events_from_state_changes() {
        assert_eq!(
            events(Some(&st(Some(5.0), 0, false)), &st(Some(0.0), 0, true)),
            vec!["rollback"]
        );
        assert_eq!(events(None, &st(Some(0.0), 0, true)), vec!["rollback"]);
        assert!(events(Some(&st(Some(0.0), 0, true)), &st(Some(0.0), 0, true)).is_empty());
        assert_eq!(
            events(Some(&st(Some(5.0), 0, false)), &st(Some(25.0), 1, false)),
            vec!["step"]
        );
        assert_eq!(
            events(Some(&st(Some(50.0), 2, false)), &st(Some(100.0), 3, false)),
            vec!["promote"]
        );
        assert!(events(Some(&st(Some(5.0), 0, false)), &st(Some(5.0), 0, false)).is_empty());
        assert!(events(None, &st(Some(5.0), 0, false)).is_empty());
        let mut p = st(Some(5.0), 0, false);
        p.paused = Some("guard".into());
        assert_eq!(events(Some(&st(Some(5.0), 0, false)), &p), vec!["pause"]);
        assert_eq!(
            events(Some(&st(Some(0.0), 0, true)), &st(Some(5.0), 0, false)),
            vec!["resume", "step"]
        );
    }

    #[test]
    fn slack_compatible_payload() {
        let mut s = st(Some(0.0), 0, true);
        s.reason = Some("error rate 0.5 > 0.1".into());
        let p = payload("fraud", "rollback", Some(&s), &Value::Null, 7);
        assert_eq!(
            p["text"],
            "Switchyard: route fraud rolled back (canary at 0%): error rate 0.5 > 0.1"
        );
        assert_eq!(p["event"], "rollback");
        assert_eq!(p["route"], "fraud");
        assert_eq!(p["state"]["rolled_back"], true);
    }
}
