//! The thin adapters between workerd and the core, compiled only for wasm32. Two workers are
//! built from this crate (cargo features, see Cargo.toml):
//! - `router`: the routing worker (`switchyard`, `wrangler.toml`): the fetch handler and
//!   everything on the request path;
//! - `stats`: the statistics worker (`switchyard-stats`, `wrangler.stats.toml`): the per-route
//!   `RouteStats` Durable Object, which the router calls through its `ROUTE_STATS` binding,
//!   and the control plane (`control`: feedback, operator API, dashboard), which the router
//!   forwards `/_switchyard/*` to through its `CONTROL` service binding.
//!
//! `http` and `shared` are used by both.

mod http;
mod shared;

#[cfg(feature = "router")]
mod forward;
#[cfg(feature = "router")]
mod kv;
#[cfg(feature = "router")]
mod report;
#[cfg(feature = "router")]
mod router;
#[cfg(feature = "router")]
mod shadow;
#[cfg(feature = "router")]
mod state;

#[cfg(feature = "stats")]
mod config_cache;
#[cfg(feature = "stats")]
mod control;
#[cfg(feature = "stats")]
mod stats_object;

#[cfg(all(feature = "stats", not(feature = "router")))]
pub use control::handle as control_handle;
#[cfg(feature = "router")]
pub use router::handle;
