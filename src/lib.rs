//! Switchyard: a model-release traffic router that runs as a Cloudflare Worker.
//!
//! `core` is pure Rust (no `worker` import) and is tested natively; `edge` is the thin
//! adapter between workerd and the core, compiled only for wasm32.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod core;

#[cfg(target_arch = "wasm32")]
mod edge;
