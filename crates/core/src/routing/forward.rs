//! The forwarding plan: everything the router decides about a proxied request that is not
//! the routing decision itself, as pure functions the edge executes. Which request headers
//! the origin sees (as edits on a native copy of the caller's headers), which response
//! headers the caller sees, whether the body is buffered for replay, when blue-green fails
//! over and which answer wins, and which shadows can take the body.
//!
//! The edge copies header objects natively (one `new Headers(init)` call) and applies the
//! edits computed here, so only header *names* and the few values the rules read cross the
//! wasm boundary. `routing::outgoing_headers` / `routing::response_headers` state the same
//! rules on whole header lists; the tests check that both agree.

use crate::config::{Route, Shadow};
use crate::routing::{connection_tokens, is_hop_by_hop, is_ours};

/// Largest request body kept in memory so that it can be replayed (failover, shadows);
/// larger bodies are streamed to the primary only.
pub const MAX_REPLAY_BYTES: u64 = 8 << 20;

/// Edits to a copy of a header list: delete these names, then set these, then append these.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct HeaderEdits {
    pub delete: Vec<String>,
    pub set: Vec<(String, String)>,
    pub append: Vec<(String, String)>,
}

impl HeaderEdits {
    /// Applies the edits to a list of `(name, value)` pairs (names compared without case),
    /// as `Headers.delete`/`set`/`append` do: the reference the native path must match.
    pub fn apply(&self, mut list: Vec<(String, String)>) -> Vec<(String, String)> {
        list.retain(|(k, _)| !self.delete.iter().any(|d| d.eq_ignore_ascii_case(k)));
        for (k, v) in &self.set {
            list.retain(|(o, _)| !o.eq_ignore_ascii_case(k));
            list.push((k.clone(), v.clone()));
        }
        for (k, v) in &self.append {
            list.push((k.clone(), v.clone()));
        }
        list
    }
}

/// What the request-header rule needs to read besides the names.
#[derive(Debug, Default, Clone, Copy)]
pub struct IncomingFacts<'a> {
    /// `connection`, if present.
    pub connection: Option<&'a str>,
    /// `x-forwarded-for` (the runtime joins repeated headers with ", ").
    pub forwarded_for: Option<&'a str>,
    /// `cf-connecting-ip`: the caller's address as the platform saw it.
    pub client_ip: Option<&'a str>,
}

/// Which header values [`outgoing`] reads: the edge fetches only these.
pub const OUTGOING_READS: [&str; 3] = ["connection", "x-forwarded-for", "cf-connecting-ip"];

/// Edits that turn the caller's headers (`names`, as the runtime lists them) into the
/// headers the origin receives: hop-by-hop names, the names `Connection` lists, `cf-*` and
/// our namespace dropped; `x-forwarded-for` (the caller's chain plus `cf-connecting-ip`),
/// `x-forwarded-host`, `x-forwarded-proto` and `extra` (the routing facts) set.
pub fn outgoing<'n>(
    names: impl IntoIterator<Item = &'n str>,
    facts: IncomingFacts<'_>,
    host: &str,
    proto: &str,
    extra: &[(&str, &str)],
) -> HeaderEdits {
    let connection = facts.connection.map(connection_tokens).unwrap_or_default();
    let mut edits = HeaderEdits::default();
    for name in names {
        let lower = name.to_ascii_lowercase();
        if is_hop_by_hop(&lower) || connection.contains(&lower) || lower.starts_with("cf-") {
            edits.delete.push(lower);
        }
    }
    let chain = match (facts.forwarded_for, facts.client_ip) {
        (Some(x), Some(c)) => Some(format!("{x}, {c}")),
        (x, c) => x.or(c).map(str::to_string),
    };
    if let Some(c) = chain {
        edits.set.push(("x-forwarded-for".into(), c));
    }
    edits
        .set
        .push(("x-forwarded-host".into(), host.to_string()));
    edits
        .set
        .push(("x-forwarded-proto".into(), proto.to_string()));
    for (k, v) in extra {
        edits.set.push(((*k).to_string(), (*v).to_string()));
    }
    edits
}

/// Edits that turn the origin's response headers (`names`) into the caller's: the origin's
/// `x-switchyard-*` names dropped (an origin cannot forge a receipt, an arm or a staleness
/// notice), `set-cookie` appended next to the origin's cookies, every other added header
/// replacing the origin's value.
pub fn response<'n>(names: impl IntoIterator<Item = &'n str>, add: &[(&str, &str)]) -> HeaderEdits {
    let mut edits = HeaderEdits::default();
    for name in names {
        if is_ours(name) {
            edits.delete.push(name.to_string());
        }
    }
    for (k, v) in add {
        let pair = ((*k).to_string(), (*v).to_string());
        if k.eq_ignore_ascii_case("set-cookie") {
            edits.append.push(pair);
        } else {
            edits.set.push(pair);
        }
    }
    edits
}

/// How the request body is handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyPlan {
    /// No body (GET/HEAD, none sent, or `content-length: 0`).
    Empty,
    /// Read into memory once, replayable to a failover origin and to shadows.
    Buffer,
    /// Streamed to the primary only (too large, length unknown, or nothing replays it).
    Stream,
}

/// The body plan: buffered only when something replays it (`wants_replay`: a failover or a
/// shadow) and its declared length is at most [`MAX_REPLAY_BYTES`]; a body without a
/// declared length is streamed (reading it to learn its size could exhaust memory).
pub fn body_plan(
    method: &str,
    has_body: bool,
    content_length: Option<&str>,
    wants_replay: bool,
) -> BodyPlan {
    if method.eq_ignore_ascii_case("GET") || method.eq_ignore_ascii_case("HEAD") || !has_body {
        return BodyPlan::Empty;
    }
    match content_length.map(|v| v.trim().parse::<u64>()) {
        Some(Ok(0)) => BodyPlan::Empty,
        Some(Ok(n)) if wants_replay && n <= MAX_REPLAY_BYTES => BodyPlan::Buffer,
        _ => BodyPlan::Stream,
    }
}

/// How one origin answered, as far as failover is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    Status(u16),
    /// No response: connect error or timeout.
    Failed,
}

impl Answer {
    fn failed(self) -> bool {
        match self {
            Answer::Status(s) => s >= 500,
            Answer::Failed => true,
        }
    }
}

/// Whether blue-green fails over after the primary side answered `first`: on a 5xx or no
/// answer, and only when the body can be sent again.
pub fn fail_over(first: Answer, replayable: bool) -> bool {
    replayable && first.failed()
}

/// Which answer the caller gets after a failover: the other side's when it did not fail,
/// or when the first side gave no response at all (a 5xx from the other side beats none);
/// otherwise the first side's 5xx.
pub fn take_second(first: Answer, second: Answer) -> bool {
    !second.failed() || first == Answer::Failed
}

/// Headers a shadow never receives unless it sets `forward_credentials`, besides the
/// route's own `credentials`.
pub const CREDENTIAL_HEADERS: [&str; 3] = ["authorization", "cookie", "proxy-authorization"];

/// The edits that turn the primary's outgoing headers into a shadow's: `x-switchyard-shadow:
/// 1` set, and, unless the shadow sets `forward_credentials`, [`CREDENTIAL_HEADERS`] and the
/// route's `credentials` removed. A mirror is a second copy of the caller's request sent to
/// an origin that did not answer it: by default it gets nothing that would let it act as the
/// caller. (Which methods are mirrored is the other half of the policy: `Shadow::methods`,
/// checked by `engine::decide`.)
pub fn shadow_headers(route: &Route, shadow: &Shadow) -> HeaderEdits {
    let mut edits = HeaderEdits::default();
    if !shadow.forward_credentials {
        edits
            .delete
            .extend(CREDENTIAL_HEADERS.iter().map(|h| h.to_string()));
        edits.delete.extend(route.credentials.iter().cloned());
    }
    edits
        .set
        .push(("x-switchyard-shadow".to_string(), "1".to_string()));
    edits
}

/// The body a shadow would receive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyKind {
    Empty,
    Buffered(u64),
    Streamed,
}

/// Whether a shadow can be sent this body: a streamed body can be read once (by the
/// primary), a buffered one only up to the shadow's `max_body_bytes`.
pub fn shadow_takes(body: BodyKind, max_body_bytes: u64) -> bool {
    match body {
        BodyKind::Empty => true,
        BodyKind::Buffered(n) => n <= max_body_bytes,
        BodyKind::Streamed => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::routing;

    fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
        v.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn sorted(mut v: Vec<(String, String)>) -> Vec<(String, String)> {
        for (k, _) in v.iter_mut() {
            *k = k.to_ascii_lowercase();
        }
        v.sort();
        v
    }

    /// The runtime's view of request headers: one entry per name (repeats joined).
    fn runtime_view(raw: &[(String, String)]) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = Vec::new();
        for (k, v) in raw {
            let k = k.to_ascii_lowercase();
            match out.iter_mut().find(|(o, _)| *o == k) {
                Some((_, ov)) => *ov = format!("{ov}, {v}"),
                None => out.push((k, v.clone())),
            }
        }
        out
    }

    fn outgoing_via_edits(incoming: &[(String, String)]) -> Vec<(String, String)> {
        let view = runtime_view(incoming);
        let get = |n: &str| view.iter().find(|(k, _)| k == n).map(|(_, v)| v.as_str());
        let facts = IncomingFacts {
            connection: get("connection"),
            forwarded_for: get("x-forwarded-for"),
            client_ip: get("cf-connecting-ip"),
        };
        let edits = outgoing(
            view.iter().map(|(k, _)| k.as_str()),
            facts,
            "api.example",
            "https",
            &[("x-switchyard-arm", "b")],
        );
        edits.apply(view.clone())
    }

    /// The native path (edits on a copy) gives the headers the list rule gives.
    fn assert_edits_match_list_rule(raw: &[(String, String)]) {
        let reference = routing::outgoing_headers(
            runtime_view(raw),
            "api.example",
            "https",
            &[("x-switchyard-arm", "b")],
        );
        assert_eq!(
            sorted(outgoing_via_edits(raw)),
            sorted(reference),
            "{raw:?}"
        );
    }

    #[test]
    fn outgoing_edits_match_the_list_rule() {
        let cases: Vec<Vec<(String, String)>> = vec![
            pairs(&[
                ("Accept", "a/b"),
                ("Connection", "keep-alive, X-Drop"),
                ("x-drop", "1"),
            ]),
            pairs(&[
                ("x-forwarded-for", "1.1.1.1"),
                ("cf-connecting-ip", "2.2.2.2"),
            ]),
            pairs(&[
                ("cf-ray", "r"),
                ("X-Switchyard-Arm", "forged"),
                ("host", "h"),
            ]),
            pairs(&[
                ("x-forwarded-for", "1.1.1.1"),
                ("x-forwarded-for", "3.3.3.3"),
            ]),
            pairs(&[
                ("te", "trailers"),
                ("content-length", "3"),
                ("content-type", "a"),
            ]),
            pairs(&[]),
        ];
        for raw in cases {
            assert_edits_match_list_rule(&raw);
        }
    }

    #[test]
    fn outgoing_edits_match_the_list_rule_on_random_headers() {
        let names = [
            "accept",
            "connection",
            "x-drop",
            "keep-alive",
            "cf-ray",
            "cf-connecting-ip",
            "x-forwarded-for",
            "x-forwarded-host",
            "X-Switchyard-Receipt",
            "host",
            "te",
            "content-type",
            "Upgrade",
            "authorization",
        ];
        let values = [
            "1",
            "x-drop",
            "keep-alive, x-drop",
            "a, b",
            "10.0.0.1",
            "Accept",
        ];
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = |m: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % m as u64) as usize
        };
        for _ in 0..5_000 {
            let n = next(8);
            let raw: Vec<(String, String)> = (0..n)
                .map(|_| {
                    (
                        names[next(names.len())].to_string(),
                        values[next(values.len())].to_string(),
                    )
                })
                .collect();
            assert_edits_match_list_rule(&raw);
        }
    }

    #[test]
    fn response_edits_match_the_list_rule() {
        let origin = pairs(&[
            ("content-type", "application/json"),
            ("X-Switchyard-Receipt", "forged"),
            ("set-cookie", "a=1"),
            ("x-switchyard-arm", "forged"),
            ("cache-control", "max-age=9"),
        ]);
        let add = [
            ("x-switchyard-arm", "b"),
            ("set-cookie", "sy_uid=u"),
            ("cache-control", "no-store"),
        ];
        let edits = response(origin.iter().map(|(k, _)| k.as_str()), &add);
        assert_eq!(
            edits.delete,
            vec![
                "X-Switchyard-Receipt".to_string(),
                "x-switchyard-arm".to_string()
            ]
        );
        assert_eq!(edits.append, pairs(&[("set-cookie", "sy_uid=u")]));
        let got = sorted(edits.apply(origin.clone()));
        assert_eq!(got, sorted(routing::response_headers(origin, &add)));
        assert_eq!(got.iter().filter(|(k, _)| k == "set-cookie").count(), 2);
    }

    #[test]
    fn body_plan_buffers_only_what_is_replayed_and_bounded() {
        use BodyPlan::*;
        assert_eq!(body_plan("GET", true, Some("10"), true), Empty);
        assert_eq!(body_plan("head", true, None, true), Empty);
        assert_eq!(body_plan("POST", false, None, true), Empty);
        assert_eq!(body_plan("POST", true, Some(" 0 "), true), Empty);
        assert_eq!(body_plan("POST", true, Some("10"), true), Buffer);
        assert_eq!(body_plan("POST", true, Some("10"), false), Stream);
        assert_eq!(
            body_plan("POST", true, Some(&MAX_REPLAY_BYTES.to_string()), true),
            Buffer
        );
        assert_eq!(
            body_plan(
                "POST",
                true,
                Some(&(MAX_REPLAY_BYTES + 1).to_string()),
                true
            ),
            Stream
        );
        assert_eq!(body_plan("POST", true, None, true), Stream);
        assert_eq!(body_plan("POST", true, Some("ten"), true), Stream);
        assert_eq!(body_plan("POST", true, Some("-1"), true), Stream);
    }

    #[test]
    fn failover_rules() {
        use Answer::*;
        assert!(!fail_over(Status(200), true));
        assert!(!fail_over(Status(404), true));
        assert!(fail_over(Status(500), true));
        assert!(fail_over(Failed, true));
        assert!(!fail_over(Failed, false));
        // The second side wins when it answered below 500, or when the first gave nothing.
        assert!(take_second(Status(503), Status(200)));
        assert!(!take_second(Status(503), Status(502)));
        assert!(!take_second(Status(503), Failed));
        assert!(take_second(Failed, Status(502)));
        assert!(take_second(Failed, Failed));
        assert!(take_second(Failed, Status(200)));
    }

    #[test]
    fn shadows_take_bounded_replayable_bodies() {
        assert!(shadow_takes(BodyKind::Empty, 0));
        assert!(shadow_takes(BodyKind::Buffered(100), 100));
        assert!(!shadow_takes(BodyKind::Buffered(101), 100));
        assert!(!shadow_takes(BodyKind::Streamed, u64::MAX));
    }

    /// The shadow policy on a real config: credentials withheld unless the shadow opts in,
    /// the route's `credentials` included; methods from the shadow, the route, or GET/POST;
    /// never CONNECT, TRACE or a WebDAV verb.
    #[test]
    fn shadows_get_no_credentials_and_only_their_methods() {
        let cfg = crate::config::parse(
            r#"{"version":1,"origins":{"p":{"url":"http://127.0.0.1:1"},"s":{"url":"http://127.0.0.1:2"},"t":{"url":"http://127.0.0.1:3"}},
              "routes":[
                {"name":"any","match":{"path_prefix":"/a"},"credentials":["X-Api-Key"],
                 "strategy":{"kind":"recreate","origin":"p"},
                 "shadow":[{"origin":"s"},{"origin":"t","methods":["put"],"forward_credentials":true}]},
                {"name":"some","match":{"path_prefix":"/b","methods":["GET","DELETE","PROPFIND"]},
                 "strategy":{"kind":"recreate","origin":"p"},"shadow":[{"origin":"s"}]},
                {"name":"dav","match":{"path_prefix":"/c","methods":["PROPFIND","TRACE"]},
                 "strategy":{"kind":"recreate","origin":"p"},"shadow":[{"origin":"s"}]}]}"#,
        )
        .unwrap();
        let any = &cfg.routes[0];
        let caller: Vec<(String, String)> = [
            ("authorization", "Bearer t"),
            ("cookie", "sid=1"),
            ("proxy-authorization", "Basic x"),
            ("x-api-key", "k"),
            ("content-type", "application/json"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let names = |e: &HeaderEdits| -> Vec<String> {
            let mut n: Vec<String> = e
                .apply(caller.clone())
                .into_iter()
                .map(|(k, _)| k)
                .collect();
            n.sort();
            n
        };
        assert_eq!(
            names(&shadow_headers(any, &any.shadows[0])),
            ["content-type", "x-switchyard-shadow"]
        );
        assert_eq!(
            names(&shadow_headers(any, &any.shadows[1])).len(),
            caller.len() + 1,
            "forward_credentials keeps them"
        );
        assert_eq!(any.shadows[0].methods, ["GET", "POST"]);
        assert_eq!(any.shadows[1].methods, ["PUT"]);
        assert_eq!(cfg.routes[1].shadows[0].methods, ["GET", "DELETE"]);
        assert_eq!(cfg.routes[2].shadows[0].methods, ["GET", "POST"]);
        // A shadow may not declare a method outside the policy.
        for m in ["CONNECT", "TRACE", "PROPFIND", "MKCOL", "LOCK", "FOO"] {
            let doc = format!(
                r#"{{"version":1,"origins":{{"p":{{"url":"http://127.0.0.1:1"}},"s":{{"url":"http://127.0.0.1:2"}}}},
                  "routes":[{{"name":"r","match":{{"path_prefix":"/"}},"strategy":{{"kind":"recreate","origin":"p"}},
                  "shadow":[{{"origin":"s","methods":["GET","{m}"]}}]}}]}}"#
            );
            let errors = crate::config::parse(&doc).unwrap_err();
            assert_eq!(errors.len(), 1, "{m}: {errors:?}");
            assert_eq!(errors[0].path, "$.routes[0].shadow[0].methods[1]");
            assert!(
                errors[0].reason.contains(&format!("never sent {m}")),
                "{}",
                errors[0].reason
            );
        }
        // `credentials` must be header names.
        let bad = r#"{"version":1,"origins":{"p":{"url":"http://127.0.0.1:1"}},
            "routes":[{"name":"r","match":{"path_prefix":"/"},"strategy":{"kind":"recreate","origin":"p"},
            "credentials":["x key"]}]}"#;
        let errors = crate::config::parse(bad).unwrap_err();
        assert_eq!(errors[0].path, "$.routes[0].credentials[0]");
    }
}
