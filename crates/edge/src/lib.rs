//! What both Switchyard workers take from the JavaScript engine, with no `worker` dependency
//! (the router has none): the clock and Unicode lowercasing. Compiled only for wasm32.
#![cfg(target_arch = "wasm32")]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod text;

/// Milliseconds since the epoch (`Date.now()`): the time the core is given.
pub fn now_ms() -> u64 {
    js_sys::Date::now() as u64
}
