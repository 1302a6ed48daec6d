//! Responses that Switchyard writes itself: JSON errors and JSON documents.
//!
//! A failure is a [`Fault`] (`switchyard_core::ops::Fault`: whose fault it is decides its status
//! class: the caller's 4xx, the origin's 502/503/504, our own 5xx); [`fault`] is the one
//! function that turns it into a response.

use worker::{Headers, Response};

use switchyard_core::ops::Fault;

/// A fault as its response: the fault's status, its JSON body (`{"error": {"code",
/// "message"}}` plus any fields), `content-type: application/json`, `cache-control:
/// no-store` and the fault's own headers.
pub fn fault(f: &Fault) -> Response {
    respond(f.status(), &f.to_value(), &f.headers)
}

pub fn json(status: u16, body: &serde_json::Value) -> Response {
    respond(status, body, &[])
}

fn respond(status: u16, body: &serde_json::Value, extra: &[(&'static str, String)]) -> Response {
    let headers = Headers::new();
    let _ = headers.set("content-type", "application/json");
    let _ = headers.set("cache-control", "no-store");
    for (k, v) in extra {
        let _ = headers.set(k, v);
    }
    Response::builder()
        .with_status(status)
        .with_headers(headers)
        // to_vec, not to_string: one serializer instantiation (a Vec writer) for the bundle.
        .fixed(serde_json::to_vec(body).unwrap_or_default())
}
