//! Switchyard: a model-release traffic router that runs as a Cloudflare Worker.
//!
//! `core` is pure Rust (no `worker` import) and is tested natively; `edge` is the thin
//! adapter between workerd and the core, compiled only for wasm32.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod core;

#[cfg(target_arch = "wasm32")]
mod edge;

#[cfg(target_arch = "wasm32")]
#[worker::event(fetch)]
async fn fetch(
    req: worker::Request,
    env: worker::Env,
    ctx: worker::Context,
) -> worker::Result<worker::Response> {
    edge::handle(req, env, ctx).await
}
