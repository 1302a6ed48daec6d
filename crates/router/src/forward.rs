//! Proxying to an origin: header hygiene, `x-forwarded-*`, streamed or replayable bodies,
//! a timeout per origin, and no redirect following (a redirect goes back to the caller, so
//! nothing but configured origins is ever contacted).

use std::time::Duration;

use futures_util::future::{select, Either};
use wasm_bindgen::JsValue;
use worker::web_sys;
use worker::{AbortController, Delay, Response};

use switchyard_core::engine::is_hop_by_hop;

/// A request body: none, a stream that can be sent once, or bytes that can be replayed (to
/// a failover origin and to shadows).
#[derive(Clone)]
pub enum Body {
    Empty,
    Stream(web_sys::ReadableStream),
    Bytes(std::rc::Rc<[u8]>),
}

impl Body {
    pub fn replayable(&self) -> bool {
        !matches!(self, Body::Stream(_))
    }

    fn to_js(&self) -> Option<JsValue> {
        match self {
            Body::Empty => None,
            Body::Stream(s) => Some(s.clone().into()),
            Body::Bytes(b) => Some(js_sys::Uint8Array::from(&b[..]).into()),
        }
    }
}

/// Why an origin gave no response.
pub enum Failure {
    Timeout,
    Connect(String),
}

/// Headers sent to the origin: the caller's minus hop-by-hop ones and our own namespace,
/// plus `x-forwarded-*` and the routing facts.
pub fn outgoing_headers(
    incoming: &worker::Headers,
    host: &str,
    proto: &str,
    extra: &[(&str, &str)],
) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::with_capacity(16);
    let mut xff: Option<String> = None;
    let connection_tokens: Vec<String> = incoming
        .get("connection")
        .ok()
        .flatten()
        .map(|c| {
            c.split(',')
                .map(|t| t.trim().to_ascii_lowercase())
                .collect()
        })
        .unwrap_or_default();
    for (name, value) in incoming.entries() {
        if name == "x-forwarded-for" {
            xff = Some(value);
            continue;
        }
        if is_hop_by_hop(&name) || connection_tokens.contains(&name) || name.starts_with("cf-") {
            continue;
        }
        out.push((name, value));
    }
    let client = incoming.get("cf-connecting-ip").ok().flatten();
    let chain = match (xff, client) {
        (Some(x), Some(c)) => Some(format!("{x}, {c}")),
        (Some(x), None) => Some(x),
        (None, Some(c)) => Some(c),
        (None, None) => None,
    };
    if let Some(c) = chain {
        out.push(("x-forwarded-for".into(), c));
    }
    out.push(("x-forwarded-host".into(), host.to_string()));
    out.push(("x-forwarded-proto".into(), proto.to_string()));
    for (k, v) in extra {
        out.push(((*k).to_string(), (*v).to_string()));
    }
    out
}

/// Sends one request and waits at most `timeout_ms` for the response head.
pub async fn send(
    method: &str,
    url: &str,
    headers: &[(String, String)],
    body: &Body,
    timeout_ms: u32,
) -> Result<Response, Failure> {
    let h = web_sys::Headers::new().map_err(|e| Failure::Connect(format!("{e:?}")))?;
    for (k, v) in headers {
        // An invalid header from the caller is dropped rather than failing the request.
        let _ = h.append(k, v);
    }
    let controller = AbortController::default();
    let init = web_sys::RequestInit::new();
    init.set_method(method);
    init.set_headers(&h);
    init.set_redirect(web_sys::RequestRedirect::Manual);
    if let Some(b) = body.to_js() {
        init.set_body(&b);
    }
    let request = web_sys::Request::new_with_str_and_init(url, &init)
        .map_err(|e| Failure::Connect(format!("invalid request: {e:?}")))?;
    let fetch_req = worker::Fetch::Request(request.into());
    let signal = controller.signal();
    let outcome = {
        let fetch = Box::pin(fetch_req.send_with_signal(&signal));
        let timer = Box::pin(Delay::from(Duration::from_millis(timeout_ms as u64)));
        match select(fetch, timer).await {
            Either::Left((r, _)) => Some(r),
            Either::Right(_) => None,
        }
    };
    match outcome {
        Some(Ok(resp)) => Ok(resp),
        Some(Err(e)) => Err(Failure::Connect(e.to_string())),
        None => {
            controller.abort();
            Err(Failure::Timeout)
        }
    }
}

/// The origin's response with our headers added (a fetched response's headers are
/// immutable, so they are copied: in one native `new Headers(init)` call rather than entry
/// by entry across the wasm boundary, see docs/readme-bench.md).
pub fn decorate(resp: Response, add: &[(&str, &str)]) -> Response {
    let status = resp.status_code();
    let headers = resp.headers().clone();
    for (k, v) in add {
        let _ = headers.set(k, v);
    }
    let (_, body) = resp.into_parts();
    Response::builder()
        .with_status(status)
        .with_headers(headers)
        .body(body)
}
