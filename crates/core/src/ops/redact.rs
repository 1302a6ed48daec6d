//! What may be shown of a URL. A webhook URL is a bearer secret (a Slack or Teams URL grants
//! posting to the channel), and an origin URL may carry a password (`user:pass@`) or a key in
//! its query. Everything the control plane shows to a non-admin, everything it logs, every
//! audit row it returns and every config error that leaves the process goes through
//! [`text`] / [`json`]: each URL in it keeps its scheme, host and port, and the rest (userinfo,
//! path, query, fragment) becomes `/…`. `https://hooks.slack.com/services/T0/B0/XYZ` is shown
//! as `https://hooks.slack.com/…`; `https://h.example` (nothing secret) stays as it is.
//!
//! The rule for webhook receivers themselves is `crate::config::webhook_allowed`.

use std::borrow::Cow;

use serde_json::Value;

/// The shown form of one URL (`scheme://host[:port]/…`, or `u` itself when nothing follows
/// the authority and there is no userinfo).
pub fn url(u: &str) -> Cow<'_, str> {
    let Some(i) = u.find("://") else {
        return Cow::Borrowed(u);
    };
    let rest = &u[i + 3..];
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..end];
    let (userinfo, host) = match authority.rfind('@') {
        Some(at) => (true, &authority[at + 1..]),
        None => (false, authority),
    };
    let tail = &rest[end..];
    if !userinfo && (tail.is_empty() || tail == "/") {
        return Cow::Borrowed(u);
    }
    Cow::Owned(format!("{}://{host}/…", &u[..i]))
}

/// Whether `s[..i]` ends a URL scheme start: the scheme is the run of scheme characters before
/// `://`.
fn scheme_start(s: &str, colon: usize) -> usize {
    let b = s.as_bytes();
    let mut j = colon;
    while j > 0 {
        let c = b[j - 1];
        if c.is_ascii_alphanumeric() || c == b'+' || c == b'-' || c == b'.' {
            j -= 1;
        } else {
            break;
        }
    }
    // A scheme starts with a letter.
    while j < colon && !b[j].is_ascii_alphabetic() {
        j += 1;
    }
    j
}

/// `s` with every URL in it (`scheme://` up to whitespace, a quote, `<`, `>` or a backtick)
/// shown by [`url`].
pub fn text(s: &str) -> Cow<'_, str> {
    if !s.contains("://") {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len());
    let mut pos = 0;
    while let Some(k) = s[pos..].find("://") {
        let colon = pos + k;
        let start = scheme_start(s, colon);
        let end = s[colon + 3..]
            .find(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | '<' | '>' | '`'))
            .map_or(s.len(), |e| colon + 3 + e);
        if start == colon {
            // `://` with no scheme: not a URL.
            out.push_str(&s[pos..colon + 3]);
            pos = colon + 3;
            continue;
        }
        out.push_str(&s[pos..start]);
        let u = &s[start..end];
        // A URL quoted by Rust's Debug (`"…\"`) ends before the escaping backslash.
        let (u, after) = match u.find('\\') {
            Some(b) => (&u[..b], start + b),
            None => (u, end),
        };
        out.push_str(&url(u));
        pos = after;
    }
    out.push_str(&s[pos..]);
    Cow::Owned(out)
}

/// Every string in `v` (keys too are left alone: they are names) shown by [`text`].
pub fn json(v: &mut Value) {
    match v {
        Value::String(s) => {
            if let Cow::Owned(r) = text(s) {
                *s = r;
            }
        }
        Value::Array(a) => a.iter_mut().for_each(json),
        Value::Object(o) => o.values_mut().for_each(json),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn urls_keep_scheme_and_host_only() {
        assert_eq!(
            url("https://hooks.slack.com/services/T0/B0/XYZ"),
            "https://hooks.slack.com/…"
        );
        assert_eq!(url("https://h.example"), "https://h.example");
        assert_eq!(url("https://h.example/"), "https://h.example/");
        assert_eq!(
            url("http://user:pass@10.0.0.1:8080?api_key=SECRET123"),
            "http://10.0.0.1:8080/…"
        );
        assert_eq!(url("https://h.example#frag"), "https://h.example/…");
        assert_eq!(url("not a url"), "not a url");
    }

    #[test]
    fn text_redacts_every_url_and_nothing_else() {
        let s = r#"$.origins.a.url: "https://user:pass@o.example/v1?api_key=SECRET123" must be … and http://127.0.0.1:9/hook/abc, ok"#;
        let r = text(s);
        assert!(!r.contains("SECRET123") && !r.contains("pass") && !r.contains("abc"));
        assert!(r.contains(r#""https://o.example/…" must be"#), "{r}");
        assert!(
            r.contains("http://127.0.0.1:9/…, ok") || r.contains("http://127.0.0.1:9/…"),
            "{r}"
        );
        assert_eq!(text("no url here: a://"), "no url here: a://");
        assert_eq!(text("://x/y"), "://x/y");
        // Debug-quoted inside a JSON string: stops at the backslash.
        let dbg = "\"\\\"https://h/x?k=s\\\" bad\"";
        assert!(!text(dbg).contains("k=s"), "{}", text(dbg));
        let mut v =
            json!({"a": ["https://h/secret", {"b": "see https://x.example/t?k=1"}], "n": 1});
        json(&mut v);
        assert_eq!(
            v,
            json!({"a": ["https://h/…", {"b": "see https://x.example/…"}], "n": 1})
        );
    }
}
