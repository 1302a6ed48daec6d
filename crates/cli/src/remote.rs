//! `get`, `put`, `history`, `revert`: the config API of a running Switchyard (local
//! `wrangler dev` or deployed), authenticated with an operator token.
//!
//! - `GET  /_switchyard/config`                   the document in force; `ETag` = its version
//! - `PUT  /_switchyard/config?message=<m>`       body = the config text, byte for byte;
//!   `If-Match: <version>` (412 when stale); the message percent-encoded UTF-8 in the query
//!   (the server decodes `?message=`; it stores an `x-switchyard-message` header as is)
//! - `GET  /_switchyard/config/history`           newest first: version, config, at, by, message
//! - `POST /_switchyard/config/revert/<version>?message=<m>`  restores that version exactly

use std::time::Duration;

use serde_json::{json, Value};

use crate::Outcome;

pub const DEFAULT_URL: &str = "http://127.0.0.1:8787";
const TIMEOUT: Duration = Duration::from_secs(30);
/// Largest response read (a config is at most 1 MiB; history holds 50 of them at most).
const MAX_BODY: u64 = 64 << 20;

pub struct Client {
    base: String,
    token: Option<String>,
    agent: ureq::Agent,
}

/// One HTTP answer.
pub struct Reply {
    pub status: u16,
    pub etag: Option<String>,
    pub body: String,
}

impl Reply {
    fn json(&self) -> Option<Value> {
        serde_json::from_str(&self.body).ok()
    }

    /// The version an `ETag` carries: `"7"`, `W/"7"` and `7` all give `7`.
    pub fn version(&self) -> Option<String> {
        self.etag.as_deref().map(etag_version)
    }
}

pub fn etag_version(etag: &str) -> String {
    etag.trim()
        .trim_start_matches("W/")
        .trim_matches('"')
        .to_string()
}

/// RFC 3986 percent-encoding of everything but unreserved characters: any UTF-8 text as one
/// query value (`+` and space are encoded, so the server's decoder reads them back).
pub fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl Client {
    pub fn new(url: &str, token: Option<String>) -> Result<Client, String> {
        let base = url.trim_end_matches('/').to_string();
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(format!("--url {url:?} must start with http:// or https://"));
        }
        if base.starts_with("https://") && !cfg!(feature = "https") {
            return Err("this build has no TLS (built without the `https` feature)".into());
        }
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(TIMEOUT))
            .user_agent(concat!("switchyard-cli/", env!("CARGO_PKG_VERSION")))
            .build();
        Ok(Client {
            base,
            token: token.filter(|t| !t.is_empty()),
            agent: ureq::Agent::new_with_config(config),
        })
    }

    pub fn call(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, String)],
        body: Option<&[u8]>,
    ) -> Result<Reply, String> {
        let url = format!("{}{path}", self.base);
        let mut all: Vec<(&str, String)> = headers.to_vec();
        if let Some(t) = &self.token {
            all.push(("authorization", format!("Bearer {t}")));
        }
        let result = match (method, body) {
            ("GET", _) => {
                let mut r = self.agent.get(&url);
                for (k, v) in &all {
                    r = r.header(*k, v.as_str());
                }
                r.call()
            }
            (m, body) => {
                let mut r = match m {
                    "PUT" => self.agent.put(&url),
                    _ => self.agent.post(&url),
                };
                for (k, v) in &all {
                    r = r.header(*k, v.as_str());
                }
                match body {
                    Some(b) => r.header("content-type", "application/json").send(b),
                    None => r.send_empty(),
                }
            }
        };
        let mut resp = result.map_err(|e| format!("{method} {url}: {e}"))?;
        let status = resp.status().as_u16();
        let etag = resp
            .headers()
            .get("etag")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let body = resp
            .body_mut()
            .with_config()
            .limit(MAX_BODY)
            .read_to_string()
            .map_err(|e| format!("{method} {url}: reading the answer: {e}"))?;
        Ok(Reply { status, etag, body })
    }
}

/// A refused request: the status, the server's message and what to do about it.
fn refused(what: &str, reply: &Reply, json_out: bool) -> Outcome {
    let parsed = reply.json();
    if json_out {
        return Outcome::Failed(
            json!({ "ok": false, "status": reply.status, "response": parsed.unwrap_or(Value::String(reply.body.clone())) })
                .to_string(),
        );
    }
    let message = parsed
        .as_ref()
        .and_then(|v| {
            let e = &v["error"];
            e["message"]
                .as_str()
                .or_else(|| v["message"].as_str())
                .or_else(|| e.as_str())
                .map(str::to_string)
        })
        .unwrap_or_else(|| reply.body.chars().take(500).collect());
    let hint = match reply.status {
        401 => " (pass --token or set SWITCHYARD_TOKEN)",
        403 => " (this token's role may not do that)",
        412 => " (the config changed since that version; nothing was written: `switchyard get` shows the current version)",
        _ => "",
    };
    let mut out = format!(
        "{what}: refused with HTTP {}: {message}{hint}",
        reply.status
    );
    if let Some(errors) = parsed.as_ref().and_then(|v| v["errors"].as_array()) {
        for e in errors {
            out.push_str(&format!(
                "\n  {}: {}",
                e["path"].as_str().unwrap_or("$"),
                e["reason"].as_str().unwrap_or("")
            ));
        }
    }
    Outcome::Failed(out)
}

/// `path?message=<percent-encoded UTF-8>`: the server percent-decodes the query parameter,
/// so any message arrives as written (a header value would be stored as sent).
fn with_message(path: &str, message: Option<&str>) -> String {
    match message {
        Some(m) => format!("{path}?message={}", percent_encode(m)),
        None => path.to_string(),
    }
}

fn with_version(body: Option<Value>, reply: &Reply) -> Value {
    let mut v = body.unwrap_or(Value::Null);
    if let (Some(obj), Some(ver)) = (v.as_object_mut(), reply.version()) {
        obj.entry("etag_version").or_insert(Value::String(ver));
    }
    v
}

pub fn get(client: &Client, json_out: bool) -> Outcome {
    let reply = match client.call("GET", "/_switchyard/config", &[], None) {
        Ok(r) => r,
        Err(e) => return Outcome::Usage(e),
    };
    if !(200..300).contains(&reply.status) {
        return refused("get", &reply, json_out);
    }
    let body = reply.json();
    if json_out {
        return Outcome::Ok(with_version(body, &reply).to_string());
    }
    let Some(body) = body else {
        return Outcome::Ok(reply.body);
    };
    let id = body["validation"]["id"]
        .as_str()
        .or_else(|| body["id"].as_str())
        .unwrap_or("?");
    eprintln!(
        "config {id}, version {} (use it as `put --if-match`)",
        reply.version().as_deref().unwrap_or("unknown: no ETag")
    );
    match body["text"].as_str() {
        Some(text) => Outcome::Ok(text.trim_end_matches('\n').to_string()),
        None => Outcome::Ok(body["config"].to_string()),
    }
}

pub fn put(
    client: &Client,
    file: &str,
    if_match: Option<&str>,
    message: Option<&str>,
    json_out: bool,
) -> Outcome {
    let text = match crate::validate::read_text(file) {
        Ok(t) => t,
        Err(e) => return Outcome::Usage(e),
    };
    // The server validates too; checking here first names every problem without a round trip.
    if let Err(errors) = switchyard_core::config::parse(&text) {
        return crate::validate::LoadError::Invalid {
            path: file.to_string(),
            errors,
        }
        .report(json_out);
    }
    let mut headers = Vec::new();
    if let Some(v) = if_match {
        headers.push(("if-match", v.to_string()));
    }
    let path = with_message("/_switchyard/config", message);
    let reply = match client.call("PUT", &path, &headers, Some(text.as_bytes())) {
        Ok(r) => r,
        Err(e) => return Outcome::Usage(e),
    };
    if !(200..300).contains(&reply.status) {
        return refused("put", &reply, json_out);
    }
    let body = reply.json();
    if json_out {
        return Outcome::Ok(with_version(body, &reply).to_string());
    }
    let b = body.unwrap_or(Value::Null);
    let version = b["version"]
        .as_u64()
        .map(|v| v.to_string())
        .or_else(|| b["version"].as_str().map(str::to_string))
        .or_else(|| reply.version())
        .unwrap_or_else(|| "?".into());
    Outcome::Ok(format!(
        "written: config {} as version {version}",
        b["id"].as_str().unwrap_or("?")
    ))
}

/// `at` as the server gives it: epoch milliseconds are shown as UTC ISO-8601.
pub fn format_at(v: &Value) -> String {
    match v {
        Value::Number(n) => match n.as_u64() {
            Some(ms) => iso8601(ms),
            None => n.to_string(),
        },
        Value::String(s) => s.clone(),
        Value::Null => "-".into(),
        other => other.to_string(),
    }
}

/// Epoch milliseconds to `YYYY-MM-DDThh:mm:ssZ` (proleptic Gregorian, UTC).
pub fn iso8601(ms: u64) -> String {
    let secs = ms / 1000;
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// The entries of a history answer: a bare array, or an object holding one.
pub fn history_entries(body: &Value) -> Option<&Vec<Value>> {
    body.as_array().or_else(|| {
        ["history", "versions", "entries"]
            .iter()
            .find_map(|k| body[*k].as_array())
    })
}

pub fn history(client: &Client, json_out: bool) -> Outcome {
    let reply = match client.call("GET", "/_switchyard/config/history", &[], None) {
        Ok(r) => r,
        Err(e) => return Outcome::Usage(e),
    };
    if !(200..300).contains(&reply.status) {
        return refused("history", &reply, json_out);
    }
    if json_out {
        return Outcome::Ok(reply.json().unwrap_or(Value::Null).to_string());
    }
    let body = reply.json().unwrap_or(Value::Null);
    let Some(entries) = history_entries(&body) else {
        return Outcome::Failed(format!(
            "history: unexpected answer: {}",
            reply.body.chars().take(300).collect::<String>()
        ));
    };
    let mut out = format!(
        "{:<8} {:<20} {:<16} {:<12} MESSAGE",
        "VERSION", "AT", "BY", "CONFIG"
    );
    for e in entries {
        let text = |k: &str| match &e[k] {
            Value::String(s) => s.clone(),
            Value::Null => "-".into(),
            v => v.to_string(),
        };
        out.push_str(&format!(
            "\n{:<8} {:<20} {:<16} {:<12} {}",
            text("version"),
            format_at(&e["at"]),
            text("by"),
            text("config"),
            text("message")
        ));
    }
    if entries.is_empty() {
        out.push_str("\n(no versions recorded yet)");
    }
    Outcome::Ok(out)
}

pub fn revert(client: &Client, version: &str, message: Option<&str>, json_out: bool) -> Outcome {
    let ok = !version.is_empty()
        && version.len() <= 64
        && version
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if !ok {
        return Outcome::Usage(format!(
            "revert: {version:?} is not a version (see `switchyard history`)"
        ));
    }
    let path = with_message(&format!("/_switchyard/config/revert/{version}"), message);
    let reply = match client.call("POST", &path, &[], None) {
        Ok(r) => r,
        Err(e) => return Outcome::Usage(e),
    };
    if !(200..300).contains(&reply.status) {
        return refused("revert", &reply, json_out);
    }
    let body = reply.json();
    if json_out {
        return Outcome::Ok(with_version(body, &reply).to_string());
    }
    let b = body.unwrap_or(Value::Null);
    let new_version = b["version"]
        .as_u64()
        .map(|v| v.to_string())
        .or_else(|| b["version"].as_str().map(str::to_string))
        .or_else(|| reply.version());
    Outcome::Ok(format!(
        "reverted to version {version}: config {}{}",
        b["id"]
            .as_str()
            .or_else(|| b["config"].as_str())
            .unwrap_or("?"),
        new_version
            .map(|v| format!(", now in force as version {v}"))
            .unwrap_or_default()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso8601_known_instants() {
        assert_eq!(iso8601(0), "1970-01-01T00:00:00Z");
        assert_eq!(iso8601(951_782_400_000), "2000-02-29T00:00:00Z");
        assert_eq!(iso8601(1_700_000_000_123), "2023-11-14T22:13:20Z");
    }

    #[test]
    fn etags_and_messages() {
        assert_eq!(etag_version("W/\"12\""), "12");
        assert_eq!(etag_version("\"12\""), "12");
        assert_eq!(etag_version("12"), "12");
        assert_eq!(
            percent_encode("raise to 10% — ok+1"),
            "raise%20to%2010%25%20%E2%80%94%20ok%2B1"
        );
        // The server's decoder reads back exactly what was encoded.
        for m in ["raise to 10% — ok+1", "a&b=c?d#e", "日本語 ✓", "%41 %zz"] {
            assert_eq!(
                switchyard_core::routing::percent_decode(&percent_encode(m)),
                m
            );
        }
        assert_eq!(with_message("/p", None), "/p");
        assert_eq!(with_message("/p", Some("a b")), "/p?message=a%20b");
    }

    #[test]
    fn history_shapes() {
        let e = json!([{"version": 1}]);
        assert_eq!(history_entries(&e).map(Vec::len), Some(1));
        let e = json!({"history": [{"version": 1}, {"version": 2}]});
        assert_eq!(history_entries(&e).map(Vec::len), Some(2));
        assert!(history_entries(&json!({"x": 1})).is_none());
    }
}
