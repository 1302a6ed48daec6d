//! The `alerts` block of the config: webhooks (Slack-compatible `{"text": …}` plus structured
//! fields) called when a route's controller changes state: rollback, step, promote, pause,
//! resume, the sample-ratio alarm (`srm`) and an external trainer's stale weights
//! (`weights_stale`). At the top of the config document:
//!
//! ```json
//! "alerts": { "webhooks": [ { "url": "https://hooks.slack.com/…", "events": ["rollback", "pause"] } ] }
//! ```
//!
//! `events` defaults to every event. Which events a state change raises and the payload are
//! `crate::ops` (alert events); the stats worker sends them.

use serde_json::Value;

use super::error::ConfigError;

pub const EVENTS: [&str; 7] = [
    "rollback",
    "step",
    "promote",
    "pause",
    "resume",
    "srm",
    "weights_stale",
];
pub const MAX_WEBHOOKS: usize = 8;
pub const MAX_URL_LEN: usize = 2048;

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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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
}
