//! Names and helpers that both workers use: the router (`kv`, `report`, `state`) and the
//! statistics worker (`stats_object`). The KV names are a contract between the two scripts
//! (DESIGN.md section 4): both bind the same namespace as `SPLIT_CONFIG`.

/// The KV binding, in both workers' wrangler configs.
pub const BINDING: &str = "SPLIT_CONFIG";
/// The KV key of the routing config.
pub const CONFIG_KEY: &str = "config";
/// Receipts older than this are rejected by the router (and their ids forgotten by the
/// object's replay guard).
pub const RECEIPT_MAX_AGE_MS: u64 = 24 * 3600 * 1000;

pub fn now_ms() -> u64 {
    js_sys::Date::now() as u64
}
