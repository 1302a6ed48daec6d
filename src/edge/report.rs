//! Observations for the per-route Durable Object (issue 3 wires the batching in).

/// A mirrored request finished (`shadow` is `None` when it timed out or failed).
pub fn shadow(
    _route: &str,
    _origin: &str,
    _primary_status: u16,
    _primary_latency_ms: u32,
    _primary_body: Option<&[u8]>,
    _shadow: Option<(u16, u32, Option<&[u8]>)>,
    _compare: Option<&serde_json::Value>,
) {
}
