//! Switchyard: a model-release traffic router that runs as a Cloudflare Worker.
//!
//! `core` is pure Rust (no `worker` import) and is tested natively; `edge` is the thin
//! adapter between workerd and the core, compiled only for wasm32.
//!
//! Two wasm bundles come from this crate, selected by cargo features (both are in `default`,
//! so native and wasm tests and clippy see everything): `router`, the routing worker, and
//! `stats`, the worker of the per-route `RouteStats` Durable Object. `scripts/build-worker.sh`
//! builds each with only its own feature, so the request path ships no statistics code.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod core;

#[cfg(target_arch = "wasm32")]
mod edge;

/// The routing worker's entry point (feature `router`).
#[cfg(all(target_arch = "wasm32", feature = "router"))]
#[worker::event(fetch)]
async fn fetch(
    req: worker::Request,
    env: worker::Env,
    ctx: worker::Context,
) -> worker::Result<worker::Response> {
    edge::handle(req, env, ctx).await
}

/// The statistics worker's entry point (feature `stats` alone): the control plane, which the
/// router reaches through its `CONTROL` service binding.
#[cfg(all(target_arch = "wasm32", feature = "stats", not(feature = "router")))]
#[worker::event(fetch)]
async fn fetch(
    req: worker::Request,
    env: worker::Env,
    _ctx: worker::Context,
) -> worker::Result<worker::Response> {
    edge::control_handle(req, env).await
}
