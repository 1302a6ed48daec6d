//! The `alerts` block of the config: webhooks (Slack-compatible `{"text": …}` plus structured
//! fields) called when a route's controller changes state: rollback, step, promote, pause,
//! resume, gate (a release gate decided), the sample-ratio alarm (`srm`) and an external
//! trainer's stale weights (`weights_stale`). At the top of the config document:
//!
//! ```json
//! "alerts": { "webhooks": [ { "url": "https://hooks.slack.com/…", "events": ["rollback", "pause"] } ] }
//! ```
//!
//! `events` defaults to every event. Instead of `url`, `url_secret` names a Worker secret of
//! the stats worker that holds the URL (`"url_secret": "SLACK_WEBHOOK"`, set with `wrangler
//! secret put SLACK_WEBHOOK -c wrangler.stats.toml`), read at send time: the document then
//! holds no secret at all. A `url` is `https://`, or `http://` to a loopback host (accepted
//! here; the stats worker sends to it only in local development: [`webhook_allowed`]). Which events a state change raises and the payload are
//! `crate::ops` (alert events); the stats worker sends them.

use serde_json::Value;

use super::error::ConfigError;

pub const EVENTS: [&str; 8] = [
    "rollback",
    "step",
    "promote",
    "pause",
    "resume",
    "gate",
    "srm",
    "weights_stale",
];
pub const MAX_WEBHOOKS: usize = 8;
pub const MAX_URL_LEN: usize = 2048;

/// Longest `url_secret` name.
pub const MAX_SECRET_NAME: usize = 64;

/// Where a webhook's URL comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// Written in the document (shown redacted to all but admins).
    Url(String),
    /// The name of a Worker secret of the stats worker, read at send time.
    Secret(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Webhook {
    pub target: Target,
    pub events: Vec<&'static str>,
}

/// A secret name: `[A-Z_][A-Z0-9_]*`, at most [`MAX_SECRET_NAME`] bytes.
pub fn secret_name_ok(n: &str) -> bool {
    !n.is_empty()
        && n.len() <= MAX_SECRET_NAME
        && !n.starts_with(|c: char| c.is_ascii_digit())
        && n.bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
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
            err(p, "expected an object {url | url_secret, events}".into());
            continue;
        };
        for k in w.keys() {
            if k != "url" && k != "url_secret" && k != "events" {
                err(format!("{p}.{k}"), "unknown field".into());
            }
        }
        // Errors never quote the URL: it is a secret (they name the field instead).
        let target = match (w.get("url"), w.get("url_secret")) {
            (Some(_), Some(_)) => {
                err(
                    p.clone(),
                    "give either `url` or `url_secret`, not both".into(),
                );
                None
            }
            (None, None) => {
                err(
                    format!("{p}.url"),
                    "missing: give `url` or `url_secret` (the name of a Worker secret)".into(),
                );
                None
            }
            (Some(u), None) => match u.as_str() {
                // Characters, as the schema's maxLength counts them.
                Some(u) if u.chars().count() > MAX_URL_LEN => {
                    err(
                        format!("{p}.url"),
                        format!("longer than {MAX_URL_LEN} characters"),
                    );
                    None
                }
                Some(u) => match webhook_allowed(u, true) {
                    Ok(()) => Some(Target::Url(u.to_string())),
                    Err(why) => {
                        err(format!("{p}.url"), why.into());
                        None
                    }
                },
                None => {
                    err(format!("{p}.url"), "expected a string".into());
                    None
                }
            },
            (None, Some(n)) => match n.as_str() {
                Some(n) if secret_name_ok(n) => Some(Target::Secret(n.to_string())),
                _ => {
                    err(
                        format!("{p}.url_secret"),
                        format!(
                            "expected a secret name: A-Z, 0-9 and _, not starting with a digit, at most {MAX_SECRET_NAME} characters"
                        ),
                    );
                    None
                }
            },
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
        if let Some(target) = target {
            out.push(Webhook { target, events });
        }
    }
    out
}

/// Whether an `http://` URL's authority (after any userinfo) is a loopback host with an
/// optional port: `localhost` (any case), `127.a.b.c` (each part 1-3 digits, at most 255) or
/// `[::1]`, then nothing or `:` and 1-5 digits. The schema's webhook `url` pattern says the
/// same (`tests/contracts/differential.test.mjs` holds them to it).
fn loopback(host_port: &str) -> bool {
    let (host, port) = match host_port.strip_prefix('[') {
        Some(rest) => match rest.split_once(']') {
            Some(("::1", port)) => ("::1", port),
            _ => return false,
        },
        None => host_port.split_at(host_port.find(':').unwrap_or(host_port.len())),
    };
    let digits =
        |p: &str, max: usize| (1..=max).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_digit());
    let port_ok = port.is_empty() || port.strip_prefix(':').is_some_and(|p| digits(p, 5));
    let octet = |p: &str| digits(p, 3) && p.parse::<u16>().is_ok_and(|n| n <= 255);
    port_ok
        && (host == "::1"
            || host.eq_ignore_ascii_case("localhost")
            || host
                .strip_prefix("127.")
                .is_some_and(|r| r.split('.').count() == 3 && r.split('.').all(octet)))
}

/// A webhook receiver is `https://<host>…`, or `http://` to a loopback host when
/// `local_dev` (the stats worker's `SWITCHYARD_LOCAL_DEV` var, set in `.dev.vars` by
/// scripts/setup.sh: `wrangler dev` reads that file, a deployed worker never does). The
/// config validator passes `local_dev: true` (it cannot know where the document will run);
/// the stats worker checks again, with its own flag, before every delivery. `Err` says why,
/// without the URL.
pub fn webhook_allowed(u: &str, local_dev: bool) -> Result<(), &'static str> {
    if u.contains(|c: char| c.is_whitespace() || c.is_control()) {
        return Err("a webhook URL has no whitespace or control characters");
    }
    let authority = |rest: &str| -> String {
        let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let a = &rest[..end];
        a[a.rfind('@').map_or(0, |i| i + 1)..].to_string()
    };
    if let Some(rest) = u.strip_prefix("https://") {
        return if authority(rest).is_empty() {
            Err("a webhook URL names a host")
        } else {
            Ok(())
        };
    }
    if let Some(rest) = u.strip_prefix("http://") {
        if !loopback(&authority(rest)) {
            return Err(
                "webhook URLs are https:// (http:// only to a loopback host, in local development)",
            );
        }
        return if local_dev {
            Ok(())
        } else {
            Err("http:// webhooks (loopback) are for local development only (SWITCHYARD_LOCAL_DEV is not set)")
        };
    }
    Err("webhook URLs are https:// (http:// only to a loopback host, in local development)")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn webhook_rule() {
        assert!(webhook_allowed("https://hooks.slack.com/services/x", false).is_ok());
        assert!(webhook_allowed("https:///x", true).is_err());
        assert!(webhook_allowed("http://hooks.slack.com/x", true).is_err());
        assert!(webhook_allowed("http://127.0.0.1:9/x", true).is_ok());
        assert!(webhook_allowed("http://localhost/x", true).is_ok());
        assert!(webhook_allowed("http://[::1]:8/x", true).is_ok());
        assert!(webhook_allowed("http://127.0.0.1:9/x", false).is_err());
        assert!(webhook_allowed("http://127.0.0.1.evil.example/x", true).is_err());
        assert!(webhook_allowed("http://u@127.0.0.1/x", true).is_ok());
        assert!(webhook_allowed("ftp://x", true).is_err());
        assert!(webhook_allowed("https://h/x y", true).is_err());
        // The loopback host exactly: parts of 127.x.y.z up to 255, a numeric port, any case.
        assert!(webhook_allowed("http://LocalHost:80/x", true).is_ok());
        assert!(webhook_allowed("http://127.0.0.256/x", true).is_err());
        assert!(webhook_allowed("http://127.+1.0.1/x", true).is_err());
        assert!(webhook_allowed("http://localhost:x/x", true).is_err());
        assert!(webhook_allowed("http://127.0.0.1:/x", true).is_err());
        assert!(webhook_allowed("http://[::1]x/", true).is_err());
        assert!(webhook_allowed("https://u@/x", true).is_err());
    }

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
        let (w, e) = parse_ok(json!({"webhooks": [
            {"url_secret": "SLACK_WEBHOOK"},
            {"url_secret": "slack"},
            {"url": "https://h/x", "url_secret": "A"},
            {"url": "http://hooks.example/T/SECRET"},
            {"events": ["srm"]},
        ]}));
        assert_eq!(
            w,
            vec![Webhook {
                target: Target::Secret("SLACK_WEBHOOK".into()),
                events: EVENTS.to_vec()
            }]
        );
        let paths: Vec<&str> = e.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(
            paths,
            vec![
                "$.alerts.webhooks[1].url_secret",
                "$.alerts.webhooks[2]",
                "$.alerts.webhooks[3].url",
                "$.alerts.webhooks[4].url"
            ]
        );
        assert!(
            e.iter().all(|e| !e.reason.contains("SECRET")),
            "errors never quote the URL: {e:?}"
        );
        let (_, e) = parse_ok(
            json!({"webhooks": (0..9).map(|i| json!({"url": format!("https://h/{i}")})).collect::<Vec<_>>()}),
        );
        assert_eq!(e.len(), 1);
        let (_, e) = parse_ok(json!([]));
        assert_eq!(e[0].path, "$.alerts");
    }
}
