//! `switchyard`, the routing worker (wrangler.toml): everything on the request path (config
//! cache, decision, forwarding, failover, shadows, receipt signing, observation batching) and
//! `GET /_switchyard/status`. Every other `/_switchyard/*` request goes to the control plane
//! in the `switchyard-stats` worker through the `CONTROL` service binding, so this bundle
//! carries none of it. All decisions are in `switchyard-core`; this crate executes them on
//! the runtime's objects (`js`), compiled only for wasm32.
//!
//! The entry point is a plain `#[wasm_bindgen]` export called by `entry.mjs` (the module
//! wrangler runs), not the `worker` crate's `#[event(fetch)]`: see `js` for why.
#![cfg(target_arch = "wasm32")]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

mod forward;
mod js;
mod kv;
mod report;
mod router;
mod shadow;
mod state;

use wasm_bindgen::prelude::*;

/// The fetch handler (`entry.mjs` calls it with the handler's `request`, `env` and `ctx`).
/// Never rejects: every failure is a JSON answer (`router::handle`).
#[wasm_bindgen]
pub async fn fetch(req: js::Request, env: js::Env, ctx: js::Ctx) -> js::Response {
    router::handle(req, env, ctx).await
}

/// Called by `entry.mjs` after each instantiation: a Rust panic is logged by
/// `console_error_panic_hook` (message, location and the JavaScript stack, through
/// `console.error`), and the entry is told (`js::trapped`) before the instance traps
/// (`panic = "abort"`), so the next request runs in a fresh instance. The panicking request
/// (its future dies with the instance) gets the runtime's own 500.
#[wasm_bindgen]
pub fn start() {
    std::panic::set_hook(Box::new(|info| {
        console_error_panic_hook::hook(info);
        js::trapped();
    }));
}
