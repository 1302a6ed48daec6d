//! The minimal split worker of bench/workerd.sh (sticky 50/50 on `x-user-id`, FNV-1a, the
//! request forwarded as is) written in Rust with worker-rs: what any Rust worker pays on the
//! request path before Switchyard does anything.
use worker::{event, web_sys, Context, Env, Fetch, Request, Response, Result};

#[event(fetch)]
async fn fetch(req: Request, env: Env, _ctx: Context) -> Result<Response> {
    let id = req.headers().get("x-user-id")?.unwrap_or_default();
    let mut h: u32 = 0x811c_9dc5;
    for b in id.encode_utf16() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    let base = env
        .var(if h % 100 < 50 { "ORIGIN_A" } else { "ORIGIN_B" })?
        .to_string();
    let url = req.inner().url();
    // path and query: everything after the authority
    let rest = url.splitn(4, '/').nth(3).unwrap_or("");
    let init = web_sys::RequestInit::new();
    init.set_method(&req.inner().method());
    init.set_headers(&req.inner().headers());
    if let Some(body) = req.inner().body() {
        init.set_body(&body);
    }
    let out = web_sys::Request::new_with_str_and_init(&format!("{base}/{rest}"), &init)?;
    Fetch::Request(out.into()).send().await
}
