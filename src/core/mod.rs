//! Pure routing, bucketing and statistics logic. Never imports `worker`; time and
//! randomness are passed in (`now_ms`, [`rng::Rng`]), because `Instant::now()` panics on
//! wasm32-unknown-unknown and because injected time makes every decision testable.

pub mod bucket;
pub mod compare;
pub mod config;
pub mod controller;
pub mod decision;
pub mod engine;
pub mod learn;
pub mod ledger;
pub mod observe;
pub mod receipt;
pub mod rng;
pub mod stats;
pub mod strategy;
pub mod urlparts;
