//! Proxying to an origin: header hygiene, `x-forwarded-*`, streamed or replayable bodies,
//! a timeout per origin, and no redirect following (a redirect goes back to the caller, so
//! nothing but configured origins is ever contacted).

use std::time::Duration;

use futures_util::future::{select, Either};
use wasm_bindgen::JsValue;
use worker::web_sys;
use worker::{AbortController, Delay, Response};

use switchyard_core::engine;

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

/// Headers sent to the origin (see [`engine::outgoing_headers`]).
pub fn outgoing_headers(
    incoming: &worker::Headers,
    host: &str,
    proto: &str,
    extra: &[(&str, &str)],
) -> Vec<(String, String)> {
    engine::outgoing_headers(incoming.entries(), host, proto, extra)
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
/// by entry across the wasm boundary, see docs/bench.md), with the rule of
/// [`engine::response_headers`]: the origin's `x-switchyard-*` headers dropped (only their
/// names cross the boundary), our `set-cookie` appended to the origin's, every other header
/// we add replacing the origin's value.
pub fn decorate(resp: Response, add: &[(&str, &str)]) -> Response {
    let status = resp.status_code();
    let headers = resp.headers().clone();
    let forged: Vec<String> = headers.keys().filter(|k| engine::is_ours(k)).collect();
    for k in forged {
        let _ = headers.delete(&k);
    }
    for (k, v) in add {
        let _ = if k.eq_ignore_ascii_case("set-cookie") {
            headers.append(k, v)
        } else {
            headers.set(k, v)
        };
    }
    let (_, body) = resp.into_parts();
    Response::builder()
        .with_status(status)
        .with_headers(headers)
        .body(body)
}
