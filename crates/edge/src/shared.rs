//! Names and helpers that both workers use: the router (`kv`, `report`, `state`) and the
//! statistics worker (`stats_object`, `control`): KV names, calls to a route's Durable
//! Object, the receipt signer, the operator token check. The KV names are a contract between the two scripts
//! (DESIGN.md section 4): both bind the same namespace as `SPLIT_CONFIG`.

/// The KV binding, in both workers' wrangler configs.
pub const BINDING: &str = "SPLIT_CONFIG";
/// The KV key of the routing config.
pub const CONFIG_KEY: &str = "config";
/// Receipts older than this are rejected (and their ids forgotten by the object's replay
/// guard).
pub const RECEIPT_MAX_AGE_MS: u64 = 24 * 3600 * 1000;

pub fn now_ms() -> u64 {
    js_sys::Date::now() as u64
}

use std::cell::RefCell;

use worker::{console_error, web_sys, Env, Method, Request, Response};

use crate::http::json_error;
use switchyard_core::config::{self, Config};
use switchyard_core::receipt::ReceiptSigner;

pub const STATS_BINDING: &str = "ROUTE_STATS";
pub const RECEIPT_SECRET: &str = "RECEIPT_KEY";

thread_local! {
    /// `None` inside: no `RECEIPT_KEY` configured, receipts are off.
    static SIGNER: RefCell<Option<Option<ReceiptSigner>>> = const { RefCell::new(None) };
}

/// The config in KV, parsed and validated now (`None` when missing or invalid). The control
/// plane reads it per call; the router has its own cache (`kv::config`).
pub async fn config_from_kv(env: &Env) -> Option<Config> {
    let text = env.kv(BINDING).ok()?.get(CONFIG_KEY).text().await.ok()??;
    config::parse(&text).ok()
}

/// `Some(401 response)` when the `ADMIN_TOKEN` secret is set and the request does not carry
/// `authorization: Bearer <it>`.
pub fn unauthorized(req: &Request, env: &Env) -> Option<Response> {
    let token = env.secret("ADMIN_TOKEN").ok()?.to_string();
    let given = req
        .headers()
        .get("authorization")
        .ok()
        .flatten()
        .unwrap_or_default();
    if token.is_empty() || given.strip_prefix("Bearer ").map(str::trim) == Some(token.as_str()) {
        return None;
    }
    Some(json_error(
        401,
        "unauthorized",
        "operator endpoints need authorization: Bearer <ADMIN_TOKEN>",
    ))
}

/// Calls the route's Durable Object: `https://route-stats/<route>/<action>`.
pub async fn call(
    env: &Env,
    route: &str,
    action: &str,
    method: Method,
    body: Option<String>,
) -> worker::Result<worker::Response> {
    let stub = env
        .durable_object(STATS_BINDING)?
        .id_from_name(route)?
        .get_stub()?;
    // web_sys::RequestInit rather than worker::RequestInit: the latter links the `cf`
    // properties serializer (image-resize options, serde_wasm_bindgen), ~8 KB of wasm.
    let init = web_sys::RequestInit::new();
    init.set_method(method.as_ref());
    if let Some(b) = body {
        init.set_body(&b.into());
    }
    let url = format!("https://route-stats/{route}/{action}");
    let req = web_sys::Request::new_with_str_and_init(&url, &init)?;
    let resp = stub.fetch_with_request(Request::from(req)).await?;
    // The object always answers JSON (edge::http). Anything else came from the runtime, e.g.
    // `wrangler dev` without the switchyard-stats worker answers a text 503 ("Worker
    // \"switchyard-stats\" not found"): an error, so that callers answer their own JSON 502.
    let json = resp
        .headers()
        .get("content-type")
        .ok()
        .flatten()
        .is_some_and(|t| t.starts_with("application/json"));
    if !json {
        return Err(worker::Error::RustError(format!(
            "{STATS_BINDING} answered HTTP {} without JSON: is the switchyard-stats worker running?",
            resp.status_code()
        )));
    }
    Ok(resp)
}

/// The isolate's receipt signer, built once from the `RECEIPT_KEY` secret.
pub fn signer(env: &Env) -> Option<ReceiptSigner> {
    SIGNER.with(|s| {
        let mut s = s.borrow_mut();
        if s.is_none() {
            let key = env.secret(RECEIPT_SECRET).ok().map(|k| k.to_string()).filter(|k| k.len() >= 16);
            if key.is_none() {
                console_error!("switchyard: secret {RECEIPT_SECRET} missing or shorter than 16 bytes: receipts are off");
            }
            *s = Some(key.map(|k| ReceiptSigner::new(k.as_bytes())));
        }
        s.as_ref().and_then(Clone::clone)
    })
}
