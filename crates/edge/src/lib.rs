//! What both Switchyard workers share at the edge: JSON responses ([`http`]), KV names, calls
//! to a route's Durable Object and the receipt signer ([`shared`]). Compiled only for wasm32.
#![cfg(target_arch = "wasm32")]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod http;
pub mod shared;
pub mod text;
