//! Alert events: which events a change of a route's controller state raises, the webhook
//! payload, and the delivery schedule. The webhooks are configured in the config's `alerts`
//! block (`crate::config`); the stats worker sends them (crates/stats/src/alerts.rs), with
//! [`BACKOFF_MS`] between attempts, and records every attempt.

use serde_json::{json, Map, Value};

use crate::config::RouteState;

/// Delay before each attempt: three attempts in all.
pub const BACKOFF_MS: [u64; 3] = [0, 1_000, 4_000];
/// Per-attempt timeout.
pub const ATTEMPT_TIMEOUT_MS: u64 = 5_000;

/// The events between two controller states of a route.
pub fn events(old: Option<&RouteState>, new: &RouteState) -> Vec<&'static str> {
    let mut out = Vec::new();
    let was_rolled_back = old.is_some_and(|o| o.rolled_back);
    if new.rolled_back && !was_rolled_back {
        out.push("rollback");
        return out;
    }
    if was_rolled_back && !new.rolled_back {
        out.push("resume");
    }
    let old_paused = old.and_then(|o| o.paused.as_ref()).is_some();
    if new.paused.is_some() && !old_paused {
        out.push("pause");
    }
    let old_pct = old.and_then(|o| o.canary_percent);
    if let Some(p) = new.canary_percent {
        if p >= 100.0 && old_pct.is_none_or(|o| o < 100.0) {
            out.push("promote");
        } else if old.is_some_and(|o| o.step != new.step) || old_pct.is_some_and(|o| o != p) {
            out.push("step");
        }
    }
    let old_done = old.and_then(|o| o.completed);
    if new.completed.is_some() && old.is_some() && new.completed != old_done {
        out.push("step");
    }
    out.dedup();
    out
}

/// The webhook body: Slack's `text` plus the structured fields.
pub fn payload(
    route: &str,
    event: &str,
    state: Option<&RouteState>,
    detail: &Value,
    at_ms: u64,
) -> Value {
    let what = match event {
        "rollback" => "rolled back",
        "step" => "moved to the next step",
        "promote" => "promoted",
        "pause" => "paused",
        "resume" => "resumed",
        "srm" => "raised a sample-ratio-mismatch alarm",
        "weights_stale" => "fell back to equal shares: the external trainer's weights are too old",
        _ => "changed state",
    };
    let mut text = format!("Switchyard: route {route} {what}");
    if let Some(p) = state.and_then(|s| s.canary_percent) {
        text.push_str(&format!(" (canary at {p}%)"));
    }
    if let Some(r) = state
        .and_then(|s| s.reason.as_deref())
        .filter(|r| !r.is_empty())
    {
        text.push_str(": ");
        text.push_str(r);
    }
    let mut v = Map::new();
    v.insert("text".into(), json!(text));
    v.insert("event".into(), json!(event));
    v.insert("route".into(), json!(route));
    v.insert("at".into(), json!(at_ms));
    v.insert("state".into(), json!(state));
    if !detail.is_null() {
        v.insert("detail".into(), detail.clone());
    }
    Value::Object(v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::RouteState;
    use serde_json::Value;

    fn st(pct: Option<f64>, step: usize, rb: bool) -> RouteState {
        RouteState {
            canary_percent: pct,
            step,
            rolled_back: rb,
            ..Default::default()
        }
    }

    #[test]
    fn events_from_state_changes() {
        assert_eq!(
            events(Some(&st(Some(5.0), 0, false)), &st(Some(0.0), 0, true)),
            vec!["rollback"]
        );
        assert_eq!(events(None, &st(Some(0.0), 0, true)), vec!["rollback"]);
        assert!(events(Some(&st(Some(0.0), 0, true)), &st(Some(0.0), 0, true)).is_empty());
        assert_eq!(
            events(Some(&st(Some(5.0), 0, false)), &st(Some(25.0), 1, false)),
            vec!["step"]
        );
        assert_eq!(
            events(Some(&st(Some(50.0), 2, false)), &st(Some(100.0), 3, false)),
            vec!["promote"]
        );
        assert!(events(Some(&st(Some(5.0), 0, false)), &st(Some(5.0), 0, false)).is_empty());
        assert!(events(None, &st(Some(5.0), 0, false)).is_empty());
        let mut p = st(Some(5.0), 0, false);
        p.paused = Some("guard".into());
        assert_eq!(events(Some(&st(Some(5.0), 0, false)), &p), vec!["pause"]);
        assert_eq!(
            events(Some(&st(Some(0.0), 0, true)), &st(Some(5.0), 0, false)),
            vec!["resume", "step"]
        );
    }

    #[test]
    fn slack_compatible_payload() {
        let mut s = st(Some(0.0), 0, true);
        s.reason = Some("error rate 0.5 > 0.1".into());
        let p = payload("fraud", "rollback", Some(&s), &Value::Null, 7);
        assert_eq!(
            p["text"],
            "Switchyard: route fraud rolled back (canary at 0%): error rate 0.5 > 0.1"
        );
        assert_eq!(p["event"], "rollback");
        assert_eq!(p["route"], "fraud");
        assert_eq!(p["state"]["rolled_back"], true);
    }
}
