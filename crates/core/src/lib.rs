//! Switchyard core: pure routing, bucketing, learning and statistics logic. Never imports
//! `worker`, `js-sys` or `wasm-bindgen`; what the platform provides (time, randomness, Unicode
//! lowercasing) is passed in (`now_ms`, [`base::Rng`], [`observe::compare_with`]), because
//! `Instant::now()` panics on wasm32-unknown-unknown and because injected time makes every
//! decision testable.
//!
//! One folder per concern, each a facade (`mod.rs` re-exports its public items, so every
//! item has one public path). From the bottom up, each using only those above it
//! (`scripts/check-modules.mjs`, run by `make lint`, fails on an import cycle):
//! - [`base`]: sticky bucketing v1, randomness, float formatting, sorting;
//! - [`receipt`]: signed receipts (token format, HMAC signer, replay guard);
//! - [`observe`]: observations, the isolate batcher, aggregates, shadow comparison;
//! - [`config`]: config schema v1, validator, JSON Schema, the KV contract;
//! - [`routing`]: the request path (match, unit id, strategies, decision, forwarding plan,
//!   override tokens);
//! - [`statistics`]: special functions, A/B statistics, bandit weights;
//! - [`learn`]: the learning loop (learner, controllers, ledger, series, store);
//! - [`ops`]: operator auth, history, metrics, OFREP, alert events, churn, [`ops::Fault`].
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod base;
pub mod config;
pub mod learn;
pub mod observe;
pub mod ops;
pub mod receipt;
pub mod routing;
pub mod statistics;
#[cfg(test)]
mod testgen;
