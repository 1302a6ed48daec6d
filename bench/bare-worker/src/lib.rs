//! The minimal split worker of bench/workerd.sh (sticky 50/50 on `x-user-id`, FNV-1a, the
//! request forwarded as is) in Rust the way the router is built: a `#[wasm_bindgen]` async
//! export called by a two-line module entry, no `worker` crate. What a Rust worker of this
//! shape pays on the request path before Switchyard does anything (`rust-bare`; the
//! worker-rs version is bench/empty-worker, `rust-empty`).
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_name = fetch)]
    fn global_fetch(url: &str, init: &web_sys::RequestInit) -> js_sys::Promise;
}

#[wasm_bindgen]
pub async fn fetch(req: web_sys::Request, env: JsValue) -> Result<JsValue, JsValue> {
    let id = req.headers().get("x-user-id")?.unwrap_or_default();
    let mut h: u32 = 0x811c_9dc5;
    for b in id.encode_utf16() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    let key = if h % 100 < 50 { "ORIGIN_A" } else { "ORIGIN_B" };
    let base = js_sys::Reflect::get(&env, &key.into())?
        .as_string()
        .unwrap_or_default();
    let url = req.url();
    // path and query: everything after the authority
    let rest = url.splitn(4, '/').nth(3).unwrap_or("");
    let init = web_sys::RequestInit::new();
    init.set_method(&req.method());
    init.set_headers(&req.headers());
    if let Some(body) = req.body() {
        init.set_body(&body);
    }
    JsFuture::from(global_fetch(&format!("{base}/{rest}"), &init)).await
}
