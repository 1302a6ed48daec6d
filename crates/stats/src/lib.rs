//! `switchyard-stats` (wrangler.stats.toml): the per-route `RouteStats` Durable Object (the
//! learning loop, docs/learning.md), which the router calls through its `ROUTE_STATS`
//! binding, and the control plane (feedback, operator API, dashboard), which the router
//! forwards `/_switchyard/*` to through its `CONTROL` service binding. Decisions live in
//! `switchyard-core`; this crate is storage and glue, compiled only for wasm32.
#![cfg(target_arch = "wasm32")]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

mod alerts;
mod config_cache;
mod config_log;
mod control;
mod http;
mod ops;
mod shared;
mod stats_object;

#[worker::event(fetch)]
async fn fetch(
    req: worker::Request,
    env: worker::Env,
    _ctx: worker::Context,
) -> worker::Result<worker::Response> {
    control::handle(req, env).await
}
