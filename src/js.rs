//! The router's whole view of the platform: the request, response and headers objects of
//! the runtime (`web_sys`), the `env` and `ctx` of the fetch handler, and the calls of
//! `js/platform.mjs`, each one boundary crossing. No `worker` crate: its eager request
//! conversion, its handler proxies and its exported classes cost +34 µs CPU per request over
//! a bare wasm-bindgen export and 31.8 KB gzip of the router (docs/bench.md, docs/size.md).

use js_sys::Promise;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;

pub use web_sys::{Headers, Request, Response};

#[wasm_bindgen]
extern "C" {
    /// The fetch handler's `env`: bindings, vars and secrets.
    #[derive(Clone)]
    pub type Env;

    /// The fetch handler's `ctx`.
    #[derive(Clone)]
    pub type Ctx;

    #[wasm_bindgen(method, js_name = waitUntil)]
    fn wait_until(this: &Ctx, promise: &Promise);

    #[wasm_bindgen(js_namespace = console, js_name = error)]
    fn console_error(s: &str);

    #[wasm_bindgen(js_namespace = console, js_name = warn)]
    fn console_warn(s: &str);
}

#[wasm_bindgen(module = "/src/js/platform.mjs")]
extern "C" {
    #[wasm_bindgen(js_name = send)]
    fn js_send(
        url: &str,
        method: &str,
        headers: &Headers,
        body: &JsValue,
        timeout_ms: u32,
    ) -> Promise;
    #[wasm_bindgen(js_name = kvGet)]
    fn js_kv_get(env: &Env, binding: &str, key: &str, timeout_ms: u32) -> Promise;
    #[wasm_bindgen(js_name = sleep)]
    fn js_sleep(ms: u32) -> Promise;
    #[wasm_bindgen(js_name = names)]
    fn js_names(headers: &Headers) -> String;
    #[wasm_bindgen(js_name = edited)]
    fn js_edited(headers: &JsValue, del: &str, set: &str, append: &str) -> Headers;
    #[wasm_bindgen(js_name = respond)]
    fn js_respond(response: &Response, headers: &Headers) -> Response;
    #[wasm_bindgen(js_name = json)]
    fn js_json(status: u16, body: &[u8], extra: &str) -> Response;
    #[wasm_bindgen(js_name = callObject)]
    fn js_call_object(
        env: &Env,
        binding: &str,
        name: &str,
        url: &str,
        method: &str,
        body: Option<String>,
    ) -> Promise;
    #[wasm_bindgen(js_name = callService)]
    fn js_call_service(env: &Env, binding: &str, request: &Request) -> Promise;
    #[wasm_bindgen(js_name = secret)]
    fn js_secret(env: &Env, name: &str) -> Option<String>;
    #[wasm_bindgen(js_name = country)]
    fn js_country(request: &Request) -> Option<String>;
    #[wasm_bindgen(js_name = drain)]
    fn js_drain(response: &Response) -> Promise;
    #[wasm_bindgen(js_name = capped)]
    fn js_capped(response: &Response, max: u32) -> Promise;
    #[wasm_bindgen(js_name = why)]
    fn js_why(e: &JsValue) -> String;
    #[wasm_bindgen(js_name = trapped)]
    fn js_trapped();
}

pub fn error(s: &str) {
    console_error(s);
}

pub fn warn(s: &str) {
    console_warn(s);
}

pub use switchyard_edge::now_ms;

/// Tells the module entry that this instance is about to trap (see `lib.rs`'s panic hook).
pub fn trapped() {
    js_trapped()
}

/// A rejection's text.
pub fn why(e: &JsValue) -> String {
    js_why(e)
}

async fn wait(p: Promise) -> Result<JsValue, String> {
    JsFuture::from(p).await.map_err(|e| why(&e))
}

/// Why an origin gave no response.
pub enum Failure {
    Timeout,
    Connect(String),
}

/// One request to an origin (see `platform.mjs` `send`): `Ok(None)`-like timeouts become
/// [`Failure::Timeout`].
pub async fn send(
    url: &str,
    method: &str,
    headers: &Headers,
    body: &JsValue,
    timeout_ms: u32,
) -> Result<Response, Failure> {
    match wait(js_send(url, method, headers, body, timeout_ms)).await {
        Ok(v) if v.is_null() => Err(Failure::Timeout),
        Ok(v) => v
            .dyn_into::<Response>()
            .map_err(|_| Failure::Connect("fetch answered something other than a Response".into())),
        Err(e) => Err(Failure::Connect(e)),
    }
}

/// `env[binding].get(key, "text")`: `Ok(None)` for a missing key, `Err` for a failed read
/// or no answer within `timeout_ms`.
pub async fn kv_get(
    env: &Env,
    binding: &str,
    key: &str,
    timeout_ms: u32,
) -> Result<Option<String>, String> {
    let v = wait(js_kv_get(env, binding, key, timeout_ms))
        .await
        .map_err(|e| format!("KV get {key}: {e}"))?;
    if v.is_undefined() {
        return Err(format!("KV get {key}: no answer within {timeout_ms} ms"));
    }
    Ok(v.as_string())
}

pub async fn sleep(ms: u32) {
    let _ = JsFuture::from(js_sleep(ms)).await;
}

/// The header names, lower case.
pub fn names(headers: &Headers) -> String {
    js_names(headers)
}

/// A copy of `headers` (or an empty list) with `edits` applied natively.
pub fn edited(headers: Option<&Headers>, edits: &switchyard_core::routing::HeaderEdits) -> Headers {
    let base: JsValue = headers.map_or(JsValue::UNDEFINED, |h| h.into());
    js_edited(
        &base,
        &edits.delete.join("\n"),
        &joined(&edits.set),
        &joined(&edits.append),
    )
}

fn joined(pairs: &[(String, String)]) -> String {
    let mut s = String::new();
    for (k, v) in pairs {
        push_pair(&mut s, k, v);
    }
    s
}

/// Appends `name\nvalue` to a `\n`-joined list. A name or value with a line break (invalid
/// in a header anyway) would shift the pairs: such a pair is left out whole.
fn push_pair(s: &mut String, k: &str, v: &str) {
    if k.contains(['\n', '\r']) || v.contains(['\n', '\r']) {
        return;
    }
    if !s.is_empty() {
        s.push('\n');
    }
    s.push_str(k);
    s.push('\n');
    s.push_str(v);
}

pub fn respond(response: &Response, headers: &Headers) -> Response {
    js_respond(response, headers)
}

/// A JSON response with `content-type: application/json`, `cache-control: no-store` and
/// `extra` headers.
pub fn json(status: u16, body: &[u8], extra: &[(&'static str, String)]) -> Response {
    let mut s = String::new();
    for (k, v) in extra {
        push_pair(&mut s, k, v);
    }
    js_json(status, body, &s)
}

pub async fn call_object(
    env: &Env,
    binding: &str,
    name: &str,
    url: &str,
    method: &str,
    body: Option<String>,
) -> Result<Response, String> {
    let v = wait(js_call_object(env, binding, name, url, method, body)).await?;
    v.dyn_into::<Response>()
        .map_err(|_| format!("{binding} answered something other than a Response"))
}

pub async fn call_service(env: &Env, binding: &str, request: &Request) -> Result<Response, String> {
    let v = wait(js_call_service(env, binding, request)).await?;
    v.dyn_into::<Response>()
        .map_err(|_| format!("{binding} answered something other than a Response"))
}

pub fn secret(env: &Env, name: &str) -> Option<String> {
    js_secret(env, name)
}

pub fn country(request: &Request) -> Option<String> {
    js_country(request)
}

/// Reads a body nobody needs to the end without copying it into wasm (the connection goes
/// back to the pool only once the body is read; see `platform.mjs`).
pub async fn drain(response: &Response) {
    let _ = JsFuture::from(js_drain(response)).await;
}

/// A response body read for comparison, at most a cap (see `platform.mjs` `capped`).
pub enum Capped {
    Bytes(Vec<u8>),
    /// Longer than the cap: not read past it.
    TooLarge,
    Unreadable,
}

/// A response body's bytes (copied into wasm) when it has at most `max` bytes.
pub async fn capped(response: &Response, max: u32) -> Capped {
    match JsFuture::from(js_capped(response, max)).await {
        Ok(v) if v.is_null() => Capped::TooLarge,
        Ok(v) if v.is_undefined() => Capped::Unreadable,
        Ok(v) => Capped::Bytes(js_sys::Uint8Array::new(&v).to_vec()),
        Err(_) => Capped::Unreadable,
    }
}

/// A response body as text.
pub async fn text(response: &Response) -> String {
    match response.text() {
        Ok(p) => JsFuture::from(p)
            .await
            .ok()
            .and_then(|v| v.as_string())
            .unwrap_or_default(),
        Err(_) => String::new(),
    }
}

/// The request body as one `ArrayBuffer` (replayable: every send copies it) and its length.
pub async fn request_buffer(request: &Request) -> Result<(JsValue, u64), String> {
    let p = request.array_buffer().map_err(|e| why(&e))?;
    let buf = wait(p).await?;
    let len = js_sys::ArrayBuffer::from(buf.clone()).byte_length() as u64;
    Ok((buf, len))
}

/// Hands `f` to `ctx.waitUntil`: it runs after the response is returned. One boxed future
/// type for every caller (each instantiation of the promise glue costs ~0.7 KB of wasm).
pub fn background(ctx: &Ctx, f: impl std::future::Future<Output = ()> + 'static) {
    let f: std::pin::Pin<Box<dyn std::future::Future<Output = ()>>> = Box::pin(f);
    let p = wasm_bindgen_futures::future_to_promise(async move {
        f.await;
        Ok(JsValue::UNDEFINED)
    });
    ctx.wait_until(&p);
}
