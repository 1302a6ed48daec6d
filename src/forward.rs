//! Proxying to an origin: the core's forwarding plan (`switchyard_core::routing`) executed on
//! the runtime's objects. Header lists are copied natively and edited by name; a body is
//! streamed once or held as one `ArrayBuffer` that every send copies; a timeout covers the
//! response head; redirects are never followed (a redirect goes back to the caller, so
//! nothing but configured origins is ever contacted).

use wasm_bindgen::JsValue;

use crate::js::{self, Headers, Request, Response};
use switchyard_core::routing::{self, BodyKind, IncomingFacts, OUTGOING_READS};

pub use crate::js::Failure;

/// A request body: none, a stream that can be sent once, or a buffer that can be replayed
/// (to a failover origin and to shadows).
#[derive(Clone)]
pub enum Body {
    Empty,
    Stream(JsValue),
    Buffer(JsValue, u64),
}

impl Body {
    pub fn replayable(&self) -> bool {
        !matches!(self, Body::Stream(_))
    }

    pub fn kind(&self) -> BodyKind {
        match self {
            Body::Empty => BodyKind::Empty,
            Body::Stream(_) => BodyKind::Streamed,
            Body::Buffer(_, n) => BodyKind::Buffered(*n),
        }
    }

    fn js(&self) -> JsValue {
        match self {
            Body::Empty => JsValue::UNDEFINED,
            Body::Stream(s) => s.clone(),
            Body::Buffer(b, _) => b.clone(),
        }
    }
}

/// The caller's body as a stream (sent once), or none.
pub fn stream_body(req: &Request) -> Body {
    match req.body() {
        Some(s) => Body::Stream(s.into()),
        None => Body::Empty,
    }
}

/// The names of a header list (lower case, as the runtime lists them), read once per request
/// and split once.
pub fn names(text: &str) -> Vec<&str> {
    text.split('\n').filter(|n| !n.is_empty()).collect()
}

/// Whether `names` has `name` (any case).
pub fn has(names: &[&str], name: &str) -> bool {
    names.iter().any(|n| n.eq_ignore_ascii_case(name))
}

/// The headers the origin receives ([`routing::outgoing_edits`]): a native copy of the caller's
/// headers with the plan's edits. Only the names and the three values the rule reads cross
/// the boundary.
pub fn outgoing_headers(
    incoming: &Headers,
    names: &[&str],
    host: &str,
    proto: &str,
    extra: &[(&str, &str)],
) -> Headers {
    let read = |n: &str| {
        if has(names, n) {
            incoming.get(n).ok().flatten()
        } else {
            None
        }
    };
    let [c, x, ip] = OUTGOING_READS;
    let (connection, forwarded_for, client_ip) = (read(c), read(x), read(ip));
    let facts = IncomingFacts {
        connection: connection.as_deref(),
        forwarded_for: forwarded_for.as_deref(),
        client_ip: client_ip.as_deref(),
    };
    let edits = routing::outgoing_edits(names.iter().copied(), facts, host, proto, extra);
    js::edited(Some(incoming), &edits)
}

/// A copy of `headers` with one header set (the failover's arm, a shadow's marker).
pub fn with_header(headers: &Headers, name: &str, value: &str) -> Headers {
    let edits = routing::HeaderEdits {
        set: vec![(name.to_string(), value.to_string())],
        ..Default::default()
    };
    js::edited(Some(headers), &edits)
}

/// Sends one request and waits at most `timeout_ms` for the response head.
pub async fn send(
    method: &str,
    url: &str,
    headers: &Headers,
    body: &Body,
    timeout_ms: u32,
) -> Result<Response, Failure> {
    js::send(url, method, headers, &body.js(), timeout_ms).await
}

/// The origin's response with our headers ([`routing::response_edits`]): a fetched response's
/// headers are immutable, so they are copied in one native call and edited by name.
pub fn decorate(resp: &Response, add: &[(&str, &str)]) -> Response {
    let headers = resp.headers();
    let text = js::names(&headers);
    let edits = routing::response_edits(names(&text), add);
    js::respond(resp, &js::edited(Some(&headers), &edits))
}
