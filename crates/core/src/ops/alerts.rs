//! Alert events: which events a change of a route's controller state raises (one per change,
//! named by [`crate::learn::transitions`], as the route's timeline names it), the webhook
//! payload, and the delivery schedule. The webhooks are configured in the config's `alerts`
//! block (`crate::config`); the stats worker sends them (crates/stats/src/alerts.rs), with
//! [`BACKOFF_MS`] between attempts, and records every attempt.

use serde_json::{json, Map, Value};

use crate::config::RouteState;

/// Delay before each attempt: three attempts in all.
pub const BACKOFF_MS: [u64; 3] = [0, 1_000, 4_000];
/// Per-attempt timeout.
pub const ATTEMPT_TIMEOUT_MS: u64 = 5_000;

/// The events between two controller states of a route: the kinds of
/// [`crate::learn::transitions`] (with `op`, the operator's action alone), so a webhook names
/// a change exactly as the route's timeline does.
pub fn events(old: Option<&RouteState>, new: &RouteState, op: Option<&str>) -> Vec<&'static str> {
    let mut out: Vec<&'static str> = crate::learn::transitions(old, new, op)
        .into_iter()
        .map(|t| t.kind)
        .collect();
    out.dedup();
    out
}

/// Slack's escaping of message text: `&`, `<` and `>` as `&amp;`, `&lt;` and `&gt;` (Slack
/// reads `<…>` as a link or mention; nothing else is escaped).
pub fn slack_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
}

/// The webhook body: Slack's `text` (escaped: [`slack_escape`]) plus the structured fields
/// (as they are).
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
        "gate" => "at a release gate",
        "srm" => "raised a sample-ratio-mismatch alarm",
        "weights_stale" => "fell back to equal shares: the external trainer's weights are too old",
        _ => "changed state",
    };
    let mut text = format!("Switchyard: route {route} {what}");
    if let Some(p) = state.and_then(|s| s.canary_percent) {
        text.push_str(&format!(" (canary at {p}%)"));
    }
    // A gate decision says what decided it (its summary); a state change its reason.
    let summary = detail.get("summary").and_then(Value::as_str);
    if let Some(r) = summary
        .or_else(|| state.and_then(|s| s.reason.as_deref()))
        .filter(|r| !r.is_empty())
    {
        text.push_str(": ");
        text.push_str(r);
    }
    let mut v = Map::new();
    v.insert("text".into(), json!(slack_escape(&text)));
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
        let ev = |o: Option<&RouteState>, n: &RouteState| events(o, n, None);
        assert_eq!(
            ev(Some(&st(Some(5.0), 0, false)), &st(Some(0.0), 0, true)),
            vec!["rollback"]
        );
        assert_eq!(ev(None, &st(Some(0.0), 0, true)), vec!["rollback"]);
        assert!(ev(Some(&st(Some(0.0), 0, true)), &st(Some(0.0), 0, true)).is_empty());
        assert_eq!(
            ev(Some(&st(Some(5.0), 0, false)), &st(Some(25.0), 1, false)),
            vec!["step"]
        );
        assert_eq!(
            ev(Some(&st(Some(50.0), 2, false)), &st(Some(100.0), 3, false)),
            vec!["promote"]
        );
        assert!(ev(Some(&st(Some(5.0), 0, false)), &st(Some(5.0), 0, false)).is_empty());
        assert!(ev(None, &st(Some(5.0), 0, false)).is_empty());
        let mut p = st(Some(5.0), 0, false);
        p.paused = Some("guard".into());
        assert_eq!(ev(Some(&st(Some(5.0), 0, false)), &p), vec!["pause"]);
        // The controller clearing a rollback (no operator): a resume and nothing else.
        assert_eq!(
            ev(Some(&st(Some(0.0), 0, true)), &st(Some(5.0), 0, false)),
            vec!["resume"]
        );
    }

    /// One operator action is one event, labelled with the action, whatever else the state
    /// change looks like (a resume moves the share 0 -> 40 %, a promote moves it to 100 %).
    #[test]
    fn an_operator_action_is_one_event_named_after_it() {
        let rolled = st(Some(0.0), 1, true);
        let resumed = st(Some(40.0), 1, false);
        assert_eq!(
            events(Some(&rolled), &resumed, Some("resume")),
            vec!["resume"]
        );
        assert_eq!(
            events(Some(&resumed), &st(Some(100.0), 3, false), Some("promote")),
            vec!["promote"]
        );
        assert_eq!(
            events(Some(&resumed), &st(Some(0.0), 1, true), Some("rollback")),
            vec!["rollback"]
        );
        // At 100 % already, a resume is still a resume (not a promote).
        assert_eq!(
            events(Some(&rolled), &st(Some(100.0), 3, false), Some("resume")),
            vec!["resume"]
        );
    }

    #[test]
    fn slack_compatible_payload() {
        let mut s = st(Some(0.0), 0, true);
        s.reason = Some("error rate 0.5 > 0.1".into());
        let p = payload("fraud", "rollback", Some(&s), &Value::Null, 7);
        assert_eq!(
            p["text"],
            "Switchyard: route fraud rolled back (canary at 0%): error rate 0.5 &gt; 0.1"
        );
        assert_eq!(p["event"], "rollback");
        assert_eq!(p["route"], "fraud");
        assert_eq!(p["state"]["rolled_back"], true);
        s.reason = Some("error rate 0.5 > 0.1 & <!channel>".into());
        let p = payload("a<b>&c", "pause", Some(&s), &Value::Null, 7);
        assert_eq!(
            p["text"],
            "Switchyard: route a&lt;b&gt;&amp;c paused (canary at 0%): error rate 0.5 &gt; 0.1 &amp; &lt;!channel&gt;"
        );
        assert_eq!(p["route"], "a<b>&c", "structured fields are not escaped");
    }
}
