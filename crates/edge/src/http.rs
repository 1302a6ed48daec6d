//! Responses that Switchyard writes itself: JSON errors and JSON documents.

use worker::{Headers, Response};

/// Whose fault an error is decides its status class (our own 5xx, the caller's 4xx, the
/// origin's 502/503/504).
pub fn json_error(status: u16, code: &str, message: &str) -> Response {
    // Built directly rather than with `json!`, whose `to_value` links serde_json's Value
    // serializer into the router; the document is the same.
    let mut error = serde_json::Map::new();
    error.insert("code".into(), code.into());
    error.insert("message".into(), message.into());
    let mut body = serde_json::Map::new();
    body.insert("error".into(), error.into());
    json(status, &body.into())
}

pub fn json(status: u16, body: &serde_json::Value) -> Response {
    let headers = Headers::new();
    let _ = headers.set("content-type", "application/json");
    let _ = headers.set("cache-control", "no-store");
    Response::builder()
        .with_status(status)
        .with_headers(headers)
        // to_vec, not to_string: one serializer instantiation (a Vec writer) for the bundle.
        .fixed(serde_json::to_vec(body).unwrap_or_default())
}

/// Header values must be visible ASCII; anything else is replaced, and long values cut.
pub fn header_safe(s: &str) -> String {
    s.chars()
        .take(400)
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c
            } else {
                '?'
            }
        })
        .collect()
}
