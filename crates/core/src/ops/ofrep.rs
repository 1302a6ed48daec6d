//! OpenFeature Remote Evaluation Protocol (OFREP) for route-level flags.
//!
//! A flag is named `<route>.<flag>`; the evaluation context's `targetingKey` is the unit id.
//! The answer comes from [`crate::routing::flag_on`], the function the router uses for
//! `x-switchyard-flags`, on a request view built from the context, so it equals the edge's
//! decision for the same unit and attributes. Rule attributes read the context key with the
//! same name as the rule's `attr`: `header:x-plan`, `cookie:beta`, `query:v`, `country`
//! (values: strings; numbers and booleans as their JSON text).

use std::borrow::Cow;

use serde_json::{json, Map, Value};

use crate::config::{Config, Flag, Route};
use crate::routing::flag_on;
use crate::routing::{check_unit_id, Headers, RequestView};

/// The var that lists the origins a browser may call OFREP from.
pub const CORS_VAR: &str = "OFREP_CORS_ORIGINS";
/// Request headers a cross-origin OFREP call may send (the providers send these).
pub const CORS_ALLOW_HEADERS: &str = "authorization, content-type, if-none-match";
/// How long a browser may keep a preflight answer, in seconds.
pub const CORS_MAX_AGE_S: u32 = 600;

/// Whether `origin` (a request's `Origin` header) is one of `allowed`, the comma-separated
/// origins of [`CORS_VAR`] (each `scheme://host[:port]`, compared exactly as browsers send
/// them; no wildcard, since OFREP calls carry a bearer token).
pub fn cors_allowed(allowed: &str, origin: &str) -> bool {
    let origin = origin.trim();
    !origin.is_empty()
        && origin != "null"
        && allowed
            .split(',')
            .map(str::trim)
            .any(|a| !a.is_empty() && a == origin)
}

/// The bulk evaluation's `ETag`: `"<config id>-<16 hex>"`, the hex a SHA-256 of the config id
/// and the request's `context` (serde_json writes object keys sorted, so equal contexts hash
/// equally). The flags' values are a function of exactly these two, so an equal tag means an
/// equal answer: a client sending it back in `If-None-Match` gets 304.
pub fn bulk_etag(config_id: &str, context: &Value) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(config_id.as_bytes());
    h.update([0u8]);
    h.update(serde_json::to_vec(context).unwrap_or_default());
    let d = h.finalize();
    let hex: String = d[..8].iter().map(|b| format!("{b:02x}")).collect();
    format!("\"{config_id}-{hex}\"")
}

/// Whether an `If-None-Match` header matches `etag` (RFC 9110: `*`, or a list of tags
/// compared weakly, so `W/"x"` matches `"x"`).
pub fn none_match(header: &str, etag: &str) -> bool {
    let bare = |t: &str| t.trim().trim_start_matches("W/").to_string();
    header.trim() == "*" || header.split(',').any(|t| bare(t) == bare(etag))
}

/// One evaluation (OFREP success shape).
#[derive(Debug, Clone, PartialEq)]
pub struct Evaluation {
    pub key: String,
    pub value: bool,
    pub reason: &'static str,
}

impl Evaluation {
    pub fn variant(&self) -> &'static str {
        if self.value {
            "on"
        } else {
            "off"
        }
    }

    pub fn json(&self) -> Value {
        json!({
            "key": self.key,
            "value": self.value,
            "reason": self.reason,
            "variant": self.variant(),
            "metadata": {},
        })
    }
}

/// OFREP error codes we answer with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OfrepError {
    FlagNotFound,
    TargetingKeyMissing,
    InvalidContext,
    ParseError,
}

impl OfrepError {
    pub fn code(self) -> &'static str {
        match self {
            OfrepError::FlagNotFound => "FLAG_NOT_FOUND",
            OfrepError::TargetingKeyMissing => "TARGETING_KEY_MISSING",
            OfrepError::InvalidContext => "INVALID_CONTEXT",
            OfrepError::ParseError => "PARSE_ERROR",
        }
    }

    pub fn status(self) -> u16 {
        match self {
            OfrepError::FlagNotFound => 404,
            _ => 400,
        }
    }

    /// The OFREP error body for flag `key`.
    pub fn json(self, key: &str, details: &str) -> Value {
        json!({ "key": key, "errorCode": self.code(), "errorDetails": details })
    }
}

/// The evaluation context of a request body `{"context": {...}}`: its `targetingKey` and
/// the attributes.
pub struct Context {
    pub targeting_key: String,
    attrs: Vec<(String, String)>,
}

impl Context {
    /// Reads the body of an evaluation request.
    pub fn from_body(body: &Value) -> Result<Context, (OfrepError, String)> {
        let missing = || {
            (
                OfrepError::TargetingKeyMissing,
                "context.targetingKey (the unit id) is required".to_string(),
            )
        };
        let ctx = match body.get("context") {
            Some(Value::Object(m)) => m.clone(),
            None | Some(Value::Null) => Map::new(),
            Some(_) => {
                return Err((
                    OfrepError::InvalidContext,
                    "`context` must be an object".into(),
                ))
            }
        };
        // The edge's rule for unit ids (`routing::check_unit_id`), so that both refuse what
        // one refuses and hash the same bytes otherwise.
        let key = match ctx.get("targetingKey") {
            Some(Value::String(s)) => match check_unit_id(s) {
                Ok(Some(k)) => k.to_string(),
                Ok(None) => return Err(missing()),
                Err(e) => {
                    return Err((
                        OfrepError::InvalidContext,
                        format!("targetingKey (the unit id) is {}", e.reason()),
                    ))
                }
            },
            _ => return Err(missing()),
        };
        let mut attrs = Vec::new();
        for (k, v) in ctx.iter().take(256) {
            let s = match v {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                Value::Bool(b) => b.to_string(),
                _ => continue,
            };
            attrs.push((k.to_ascii_lowercase(), s));
        }
        Ok(Context {
            targeting_key: key,
            attrs,
        })
    }

    fn get(&self, key: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// Headers for the request view: `header:<name>` keys, plus a `cookie` header made of the
/// `cookie:<name>` keys (values with `;` are left out: they cannot be in a cookie header).
struct CtxHeaders<'a> {
    ctx: &'a Context,
    cookie: String,
}

impl Headers for CtxHeaders<'_> {
    fn get(&self, name: &str) -> Option<Cow<'_, str>> {
        if name.eq_ignore_ascii_case("cookie") {
            return (!self.cookie.is_empty()).then_some(Cow::Borrowed(self.cookie.as_str()));
        }
        self.ctx
            .get(&format!("header:{}", name.to_ascii_lowercase()))
            .map(Cow::Borrowed)
    }
}

fn encode_component(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Evaluates one flag of one route for a context, as the edge would.
pub fn evaluate_flag(route: &Route, flag: &Flag, ctx: &Context) -> Evaluation {
    let cookie = ctx
        .attrs
        .iter()
        .filter_map(|(k, v)| Some((k.strip_prefix("cookie:")?, v)))
        .filter(|(_, v)| !v.contains(';'))
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("; ");
    let query = ctx
        .attrs
        .iter()
        .filter_map(|(k, v)| Some((k.strip_prefix("query:")?, v)))
        .map(|(k, v)| format!("{}={}", encode_component(k), encode_component(v)))
        .collect::<Vec<_>>()
        .join("&");
    let headers = CtxHeaders { ctx, cookie };
    let view = RequestView {
        method: "POST",
        host: "",
        path: "",
        query: (!query.is_empty()).then_some(query.as_str()),
        headers: &headers,
        country: ctx.get("country"),
    };
    let value = flag_on(flag, &ctx.targeting_key, &view);
    let reason = if flag.rollout_ppm == 0 {
        "DISABLED"
    } else if !flag.rules.is_empty() {
        // Rules decide first; a unit outside the rollout share is off by the split.
        let rules_only = Flag {
            rollout_ppm: crate::base::PPM,
            ..flag.clone()
        };
        if !flag_on(&rules_only, &ctx.targeting_key, &view) {
            "DEFAULT"
        } else if value {
            "TARGETING_MATCH"
        } else {
            "SPLIT"
        }
    } else if flag.rollout_ppm >= crate::base::PPM {
        "STATIC"
    } else {
        "SPLIT"
    };
    Evaluation {
        key: format!("{}.{}", route.name, flag.name),
        value,
        reason,
    }
}

/// Finds `<route>.<flag>`.
pub fn find<'c>(cfg: &'c Config, key: &str) -> Option<(&'c Route, &'c Flag)> {
    cfg.routes.iter().find_map(|r| {
        let rest = key.strip_prefix(r.name.as_str())?.strip_prefix('.')?;
        r.flags.iter().find(|f| f.name == rest).map(|f| (r, f))
    })
}

/// Every route-level flag of the config, in config order.
pub fn evaluate_all(cfg: &Config, ctx: &Context) -> Vec<Evaluation> {
    cfg.routes
        .iter()
        .flat_map(|r| r.flags.iter().map(move |f| evaluate_flag(r, f, ctx)))
        .collect()
}

#[cfg(test)]
mod etag_tests {
    use super::*;

    #[test]
    fn etag_covers_config_and_context() {
        let c1 = json!({"targetingKey": "u1", "header:x-plan": "pro"});
        let c1_reordered: Value =
            serde_json::from_str(r#"{"header:x-plan":"pro","targetingKey":"u1"}"#).unwrap();
        let c2 = json!({"targetingKey": "u2", "header:x-plan": "pro"});
        let a = bulk_etag("cfg1", &c1);
        assert_eq!(a, bulk_etag("cfg1", &c1_reordered));
        assert_ne!(a, bulk_etag("cfg1", &c2), "another unit");
        assert_ne!(a, bulk_etag("cfg2", &c1), "another config");
        assert!(a.starts_with("\"cfg1-") && a.ends_with('"') && a.len() == 6 + 16 + 1);
        assert!(none_match(&a, &a));
        assert!(none_match(&format!("W/{a}"), &a));
        assert!(none_match(&format!("\"x\", {a}"), &a));
        assert!(none_match("*", &a));
        assert!(!none_match("\"cfg1-0000000000000000\"", &a));
        assert!(!none_match("", &a));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::base::Xoshiro256;
    use crate::routing;
    use crate::routing::Inputs;

    const CFG: &str = r#"{"version":1,"origins":{"a":{"url":"http://127.0.0.1:1"}},
      "routes":[{"name":"r","match":{"path_prefix":"/"},"unit":[{"header":"x-user"}],
        "strategy":{"kind":"ab","arms":[{"name":"a","origin":"a","weight":1}]},
        "flags":[{"name":"half","rollout":50},
                 {"name":"pro","rollout":100,"rules":[{"attr":"header:x-plan","op":"eq","values":["pro"]},{"attr":"cookie:beta","op":"in","values":["1","yes"]},{"attr":"query:v","op":"semver_gte","values":["2.1"]}]},
                 {"name":"off","rollout":0},
                 {"name":"all","rollout":100}]}]}"#;

    fn ctx(v: Value) -> Context {
        Context::from_body(&json!({ "context": v })).unwrap()
    }

    #[test]
    fn same_answer_as_the_edge_for_split_flags() {
        let cfg = crate::config::parse(CFG).unwrap();
        let mut rng = Xoshiro256::seed_from_u64(1);
        let mut on = 0;
        for i in 0..2000 {
            let unit = format!("user-{i}");
            let h = [("x-user", unit.as_str())];
            let view = RequestView {
                method: "POST",
                host: "h",
                path: "/x",
                query: None,
                headers: &h,
                country: None,
            };
            let d = routing::decide(&cfg, 0, &unit, &view, Inputs::default(), &mut rng);
            let header = d.flags_header(&cfg.routes[0]).unwrap();
            let evals = evaluate_all(&cfg, &ctx(json!({ "targetingKey": unit })));
            let ours: Vec<String> = evals
                .iter()
                .map(|e| format!("{}={}", e.key.trim_start_matches("r."), e.variant()))
                .collect();
            assert_eq!(header, ours.join(", "));
            on += usize::from(evals[0].value);
            assert_eq!(evals[0].reason, "SPLIT");
            assert_eq!(evals[2].reason, "DISABLED");
            assert_eq!(evals[3].reason, "STATIC");
            assert_eq!(evals[1].reason, "DEFAULT");
        }
        assert!((900..1100).contains(&on), "{on}");
    }

    #[test]
    fn rules_read_same_named_context_keys() {
        let cfg = crate::config::parse(CFG).unwrap();
        let (r, f) = find(&cfg, "r.pro").unwrap();
        let yes = ctx(
            json!({"targetingKey":"u","header:x-plan":"pro","cookie:beta":"yes","query:v":"2.3.0"}),
        );
        let e = evaluate_flag(r, f, &yes);
        assert!(e.value);
        assert_eq!(e.reason, "TARGETING_MATCH");
        // Same through the edge's own request parsing.
        let h = [("x-plan", "pro"), ("cookie", "beta=yes")];
        let view = RequestView {
            method: "GET",
            host: "",
            path: "/",
            query: Some("v=2.3.0"),
            headers: &h,
            country: None,
        };
        assert!(flag_on(f, "u", &view));
        let no = ctx(
            json!({"targetingKey":"u","header:x-plan":"pro","cookie:beta":"no","query:v":"2.3.0"}),
        );
        let e = evaluate_flag(r, f, &no);
        assert!(!e.value);
        assert_eq!(e.reason, "DEFAULT");
        assert_eq!(e.json()["variant"], "off");
    }

    #[test]
    fn lookup_and_context_errors() {
        let cfg = crate::config::parse(CFG).unwrap();
        assert!(find(&cfg, "r.half").is_some());
        assert!(find(&cfg, "r.nope").is_none());
        assert!(find(&cfg, "rr.half").is_none());
        assert!(find(&cfg, "half").is_none());
        let e = Context::from_body(&json!({"context": {}})).err().unwrap();
        assert_eq!(e.0, OfrepError::TargetingKeyMissing);
        let e = Context::from_body(&json!({"context": 3})).err().unwrap();
        assert_eq!(e.0, OfrepError::InvalidContext);
        let e = Context::from_body(&json!({"context": {"targetingKey": "x".repeat(600)}}))
            .err()
            .unwrap();
        assert_eq!(e.0, OfrepError::InvalidContext);
        assert_eq!(OfrepError::FlagNotFound.status(), 404);
        assert_eq!(
            OfrepError::FlagNotFound.json("r.x", "no")["errorCode"],
            "FLAG_NOT_FOUND"
        );
    }

    #[test]
    fn cors_origins_match_exactly() {
        let list = " https://app.example.com, http://127.0.0.1:8080 ,";
        assert!(cors_allowed(list, "https://app.example.com"));
        assert!(cors_allowed(list, "http://127.0.0.1:8080"));
        for no in [
            "",
            "null",
            "https://app.example.com.evil.test",
            "http://app.example.com",
            "https://APP.example.com",
            "http://127.0.0.1:8081",
        ] {
            assert!(!cors_allowed(list, no), "{no}");
        }
        assert!(!cors_allowed("", "https://app.example.com"));
    }
}
