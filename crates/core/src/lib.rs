//! Switchyard core: pure routing, bucketing and statistics logic. Never imports `worker`,
//! `js-sys` or `wasm-bindgen`; what the platform provides (time, randomness, Unicode
//! lowercasing) is passed in (`now_ms`, [`rng::Rng`], [`compare::compare_with`]), because
//! `Instant::now()` panics on wasm32-unknown-unknown and because injected time makes every
//! decision testable.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod alerts;
pub mod auth;
pub mod bucket;
pub mod churn;
pub mod compare;
pub mod config;
pub mod contract;
pub mod controller;
pub mod decision;
pub mod engine;
pub mod fault;
pub mod forward;
pub mod history;
pub mod learn;
pub mod ledger;
pub mod metrics;
pub mod numfmt;
pub mod observe;
pub mod ofrep;
pub mod overrides;
pub mod receipt;
pub mod request;
pub mod rng;
pub mod schema;
pub mod series;
pub mod sort;
pub mod stats;
pub mod strategy;
#[cfg(test)]
mod testgen;
pub mod urlparts;
