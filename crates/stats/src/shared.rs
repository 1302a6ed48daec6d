//! What the stats worker's modules share: KV names (the contract with the router,
//! `switchyard_core::config`), calls to a route's Durable Object, the receipt signer, the
//! operator token check.

pub use switchyard_core::config::{
    BINDING, CONFIG_KEY, RECEIPT_MAX_AGE_MS, RECEIPT_SECRET, STATS_BINDING,
};

pub use switchyard_edge::now_ms;

use std::cell::RefCell;

use worker::{console_error, web_sys, Env, Method, Request};

use switchyard_core::ops::{
    authorize_limited, header_safe, FailureLimit, Fault, Identity, Role, Tokens,
};
use switchyard_core::receipt::{ReceiptId, ReceiptSigner, SpentIds};

thread_local! {
    /// Receipt ids this isolate has seen credited or refused as replays.
    static SPENT: RefCell<SpentIds> = RefCell::new(SpentIds::default());
}

/// Whether this isolate has seen receipt `id` credited (or refused as a replay).
pub fn spent(id: &ReceiptId) -> bool {
    SPENT.with(|s| s.borrow().contains(id))
}

/// Records receipt `id` as spent in this isolate.
pub fn spend(id: ReceiptId) {
    SPENT.with(|s| s.borrow_mut().insert(id));
}

thread_local! {
    /// `None` inside: no `RECEIPT_KEY` configured, receipts are off.
    static SIGNER: RefCell<Option<Option<ReceiptSigner>>> = const { RefCell::new(None) };
    /// Failed operator authentications per client address in this isolate.
    static AUTH_FAILURES: RefCell<FailureLimit> = RefCell::new(FailureLimit::default());
}

/// The caller's identity when it holds a token of at least role `need`; otherwise the
/// caller's fault: 401 (no token configured: says how to set one; no or unknown token; with
/// `www-authenticate`) or 403 (a known token whose role is too low; with
/// `x-switchyard-role`), or 429 for an address with too many failed authentications
/// (`switchyard_core::ops::FailureLimit`; each failure is logged with the address, never the
/// token). Tokens: secrets `ADMIN_TOKEN` and `SWITCHYARD_TOKENS`
/// (`switchyard_core::ops::authorize`).
pub fn authorized(req: &Request, env: &Env, need: Role) -> Result<Identity, Fault> {
    let read = |k: &str| env.secret(k).ok().map(|s| s.to_string());
    let (admin, list) = (read("ADMIN_TOKEN"), read("SWITCHYARD_TOKENS"));
    let (tokens, problems) = Tokens::from_secrets(admin.as_deref(), list.as_deref());
    for p in problems {
        console_error!("switchyard: operator tokens: {p}");
    }
    let header = req.headers().get("authorization").ok().flatten();
    let client = req.headers().get("cf-connecting-ip").ok().flatten();
    let client = client.as_deref().unwrap_or("unknown");
    let (who, failures) = AUTH_FAILURES.with(|l| {
        authorize_limited(
            &mut l.borrow_mut(),
            client,
            now_ms(),
            &tokens,
            header.as_deref(),
            need,
        )
    });
    if let Some(n) = failures {
        console_error!(
            "switchyard-stats: failed authentication from {} ({n} in this window)",
            header_safe(client)
        );
    }
    who
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
    // The object always answers JSON (http::fault). Anything else came from the runtime, e.g.
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
