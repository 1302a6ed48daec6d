//! `switchyard`, the routing worker (wrangler.toml): everything on the request path (config
//! cache, decision, forwarding, failover, shadows, receipt signing, observation batching) and
//! `GET /_switchyard/status`. Every other `/_switchyard/*` request goes to the control plane
//! in the `switchyard-stats` worker through the `CONTROL` service binding, so this bundle
//! carries none of it. All decisions are in `switchyard-core`; this crate is the thin adapter
//! between workerd and the core, compiled only for wasm32.
#![cfg(target_arch = "wasm32")]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

mod forward;
mod kv;
mod report;
mod router;
mod shadow;
mod state;

#[worker::event(fetch)]
async fn fetch(
    req: worker::Request,
    env: worker::Env,
    ctx: worker::Context,
) -> worker::Result<worker::Response> {
    router::handle(req, env, ctx).await
}
