//! One error type for everything Switchyard answers itself: whose fault a failure is decides
//! its status class, and every fault becomes the same JSON body,
//! `{"error": {"code": "...", "message": "..."}}`.
//!
//! - [`Party::Caller`]: the request is wrong (4xx: a bad body, no route, no token).
//! - [`Party::Origin`]: the model server failed us (502 unreachable, 503 unhealthy, 504 slow).
//! - [`Party::Ours`]: Switchyard itself or its own parts (no valid config, the control plane
//!   or a Durable Object not answering, a storage error): 5xx.
//!
//! Both workers map a `Fault` to their platform's response in one function each, so no
//! handler picks a status code inline.

use serde_json::{Map, Value};

use crate::learn::{FeedbackError, OperateError};
use crate::receipt::ReceiptError;

/// The code of an unexpected failure of ours (a runtime, storage or serialization error that
/// `?` carried up): see the `From<E: Error>` impl.
pub const INTERNAL: &str = "internal_error";

/// Whose fault an error is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Party {
    Caller,
    Origin,
    Ours,
}

/// An error answered as JSON. Build one with [`Fault::caller`], [`Fault::origin`] or
/// [`Fault::ours`]; each keeps its status inside its party's class.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fault {
    status: u16,
    pub code: &'static str,
    pub message: String,
    /// Extra response headers (`retry-after`, `www-authenticate`, ...).
    pub headers: Vec<(&'static str, String)>,
    /// Extra top-level body fields next to `error` (`errors` of an invalid config, the
    /// `current` version of a stale write).
    pub fields: Vec<(&'static str, Value)>,
}

impl Fault {
    /// The caller's fault: `status` in 400..=499 (anything else becomes 400).
    pub fn caller(status: u16, code: &'static str, message: impl Into<String>) -> Fault {
        let status = if (400..500).contains(&status) {
            status
        } else {
            400
        };
        Fault::new(status, code, message.into())
    }

    /// The origin's fault: 502 (unreachable or a broken answer), 503 (unhealthy) or 504 (no
    /// answer in time); anything else becomes 502.
    pub fn origin(status: u16, code: &'static str, message: impl Into<String>) -> Fault {
        let status = if matches!(status, 502..=504) {
            status
        } else {
            502
        };
        Fault::new(status, code, message.into())
    }

    /// Our own fault: `status` in 500..=599 (anything else becomes 500).
    pub fn ours(status: u16, code: &'static str, message: impl Into<String>) -> Fault {
        let status = if (500..600).contains(&status) {
            status
        } else {
            500
        };
        Fault::new(status, code, message.into())
    }

    fn new(status: u16, code: &'static str, message: String) -> Fault {
        Fault {
            status,
            code,
            message,
            headers: Vec::new(),
            fields: Vec::new(),
        }
    }

    /// The caller's request is malformed: 400.
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Fault {
        Fault::caller(400, code, message)
    }

    /// The caller's body is not JSON: 400 `body is not JSON: <why>`.
    pub fn bad_json(code: &'static str, why: impl std::fmt::Display) -> Fault {
        Fault::caller(400, code, format!("body is not JSON: {why}"))
    }

    /// The caller asked for something that does not exist: 404.
    pub fn not_found(code: &'static str, message: impl Into<String>) -> Fault {
        Fault::caller(404, code, message)
    }

    /// The caller named a route the config does not have: 404 `unknown_route`.
    pub fn unknown_route(message: impl Into<String>) -> Fault {
        Fault::caller(404, "unknown_route", message)
    }

    /// The caller used a method the endpoint does not answer: 405 `method_not_allowed` with
    /// `allow: <allow>`, the methods it does answer (RFC 9110 requires the header on a 405).
    pub fn method_not_allowed(allow: &'static str, message: impl Into<String>) -> Fault {
        Fault::caller(405, "method_not_allowed", message).with_header("allow", allow)
    }

    /// The caller's body is larger than `message` says is allowed: 413 `body_too_large`.
    pub fn too_large(message: impl Into<String>) -> Fault {
        Fault::caller(413, "body_too_large", message)
    }

    /// No valid config is in force: ours, 503 `no_config`.
    pub fn no_config() -> Fault {
        Fault::ours(503, "no_config", "no valid config in KV")
    }

    /// An unexpected failure of ours: 500.
    pub fn internal(code: &'static str, message: impl Into<String>) -> Fault {
        Fault::ours(500, code, message)
    }

    /// One of our own parts (a Durable Object, the config log) did not answer: ours, 502.
    pub fn unavailable(code: &'static str, message: impl Into<String>) -> Fault {
        Fault::ours(502, code, message)
    }

    /// A replay the control plane refuses from its memory of spent receipts
    /// (`crate::receipt::SpentIds`): the ledger's 409 `receipt_replayed`, with a message that
    /// says the route's object was not asked.
    pub fn receipt_spent() -> Fault {
        Fault::caller(
            409,
            "receipt_replayed",
            "this receipt was already credited (known spent: its ledger was not asked)",
        )
    }

    /// A receipt that does not verify: 401 (bad signature), 410 (expired), else 400; the
    /// code and message are the receipt error's.
    pub fn receipt(e: ReceiptError) -> Fault {
        let status = match e {
            ReceiptError::BadSignature => 401,
            ReceiptError::Expired => 410,
            _ => 400,
        };
        Fault::caller(status, e.code(), e.to_string())
    }

    /// Adds a top-level body field next to `error` (a field named `error` is ignored).
    pub fn with_field(mut self, name: &'static str, value: Value) -> Fault {
        if name != "error" {
            self.fields.push((name, value));
        }
        self
    }

    /// An [`INTERNAL`] fault under a more specific code (`stats_storage_error`, ...); any
    /// other fault unchanged.
    pub fn relabel_internal(mut self, code: &'static str) -> Fault {
        if self.code == INTERNAL {
            self.code = code;
        }
        self
    }

    /// Adds a response header.
    pub fn with_header(mut self, name: &'static str, value: impl Into<String>) -> Fault {
        self.headers.push((name, value.into()));
        self
    }

    pub fn status(&self) -> u16 {
        self.status
    }

    /// Whose fault it is, from the status class (origin faults are 502-504 built by
    /// [`Fault::origin`]; an `ours` 502/503/504 is indistinguishable by status alone, which
    /// is why the constructor, not the status, is the record of intent: see `party_of`).
    pub fn party(&self) -> Party {
        party_of(self.status, self.code)
    }

    /// `{"error": {"code", "message"}}`, plus the fields added with [`Fault::with_field`].
    pub fn to_value(&self) -> Value {
        let mut body = Map::new();
        for (k, v) in &self.fields {
            body.insert((*k).into(), v.clone());
        }
        body.insert("error".into(), error_object(self.code, &self.message));
        body.into()
    }

    /// The JSON body, as bytes.
    pub fn body(&self) -> Vec<u8> {
        serde_json::to_vec(&self.to_value()).unwrap_or_default()
    }
}

/// `{"error": {"code", "message"}}` for any code and message (the body of every fault; also
/// the dashboard redirect's body in the stats worker).
pub fn error_value(code: &str, message: &str) -> Value {
    let mut body = Map::new();
    body.insert("error".into(), error_object(code, message));
    body.into()
}

fn error_object(code: &str, message: &str) -> Value {
    // Built from a Map rather than with `json!` (whose `to_value` links serde_json's Value
    // serializer into the router); the document is the same.
    let mut error = Map::new();
    error.insert("code".into(), code.into());
    error.insert("message".into(), message.into());
    error.into()
}

/// Anything `?` carries up that is an error type (a runtime, storage or serialization
/// error) is an unexpected failure of ours: 500 [`INTERNAL`] with the error's text.
/// Failures with a known party convert explicitly ([`Fault::receipt`], the `From` impls
/// below), never through this.
impl<E: std::error::Error> From<E> for Fault {
    fn from(e: E) -> Fault {
        Fault::internal(INTERNAL, e.to_string())
    }
}

/// An operator action that does not apply (a rollback of a route that is not a canary, ...):
/// the caller's, with the learner's status (409), code and message.
impl From<OperateError> for Fault {
    fn from(e: OperateError) -> Fault {
        Fault::caller(e.status, e.code, e.message)
    }
}

/// Feedback refused by the ledger: a replayed receipt (409) or a reward out of range (400).
impl From<FeedbackError> for Fault {
    fn from(e: FeedbackError) -> Fault {
        match e {
            FeedbackError::Replayed => {
                Fault::caller(409, "receipt_replayed", "this receipt was already credited")
            }
            FeedbackError::BadReward(why) => Fault::caller(400, "bad_reward", why),
        }
    }
}

/// The codes an origin fault uses; every other 5xx code is ours.
pub const ORIGIN_CODES: &[&str] = &["origin_unreachable", "origin_timeout", "origin_unhealthy"];

fn party_of(status: u16, code: &str) -> Party {
    if status < 500 {
        Party::Caller
    } else if ORIGIN_CODES.contains(&code) {
        Party::Origin
    } else {
        Party::Ours
    }
}

/// Header values must be visible ASCII; anything else is replaced and long values are cut
/// (400 characters), so a message built from an origin's or a caller's text is always a
/// valid header value and never a log-sized one.
pub fn header_safe(s: &str) -> String {
    s.chars()
        .take(400)
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c
            } else {
                '?'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_stay_in_their_party_class() {
        for s in 0..1000u16 {
            assert!((400..500).contains(&Fault::caller(s, "x", "").status()));
            assert!((502..=504).contains(&Fault::origin(s, "origin_timeout", "").status()));
            assert!((500..600).contains(&Fault::ours(s, "x", "").status()));
        }
        assert_eq!(Fault::caller(404, "no_route", "").status(), 404);
        assert_eq!(Fault::origin(504, "origin_timeout", "").status(), 504);
        assert_eq!(Fault::ours(503, "no_config", "").status(), 503);
    }

    #[test]
    fn party_follows_the_constructor() {
        assert_eq!(Fault::caller(400, "bad_request", "").party(), Party::Caller);
        assert_eq!(
            Fault::origin(502, "origin_unreachable", "").party(),
            Party::Origin
        );
        assert_eq!(
            Fault::origin(504, "origin_timeout", "").party(),
            Party::Origin
        );
        assert_eq!(
            Fault::ours(502, "control_unavailable", "").party(),
            Party::Ours
        );
        assert_eq!(Fault::ours(500, "internal_error", "").party(), Party::Ours);
    }

    #[test]
    fn body_is_the_documented_shape() {
        let f = Fault::caller(400, "bad_request", "a \"quoted\" word\n");
        let v: Value = serde_json::from_slice(&f.body()).unwrap();
        assert_eq!(v["error"]["code"], "bad_request");
        assert_eq!(v["error"]["message"], "a \"quoted\" word\n");
        assert_eq!(v.as_object().unwrap().len(), 1);
        assert_eq!(v["error"].as_object().unwrap().len(), 2);
    }

    #[test]
    fn headers_are_kept_in_order() {
        let f = Fault::origin(503, "origin_unhealthy", "m").with_header("retry-after", "5");
        assert_eq!(f.headers, vec![("retry-after", "5".to_string())]);
    }

    #[test]
    fn helpers_pick_the_party_and_status() {
        let cases = [
            (
                Fault::bad_request("bad_x", "m"),
                400,
                Party::Caller,
                "bad_x",
            ),
            (Fault::bad_json("bad_x", "eof"), 400, Party::Caller, "bad_x"),
            (
                Fault::not_found("not_found", "m"),
                404,
                Party::Caller,
                "not_found",
            ),
            (
                Fault::unknown_route("m"),
                404,
                Party::Caller,
                "unknown_route",
            ),
            (
                Fault::method_not_allowed("GET, PUT", "m"),
                405,
                Party::Caller,
                "method_not_allowed",
            ),
            (Fault::too_large("m"), 413, Party::Caller, "body_too_large"),
            (Fault::no_config(), 503, Party::Ours, "no_config"),
            (Fault::internal("x_error", "m"), 500, Party::Ours, "x_error"),
            (
                Fault::unavailable("stats_unavailable", "m"),
                502,
                Party::Ours,
                "stats_unavailable",
            ),
        ];
        for (f, status, party, code) in cases {
            assert_eq!(
                (f.status(), f.party(), f.code),
                (status, party, code),
                "{f:?}"
            );
        }
        assert_eq!(
            Fault::bad_json("bad_feedback", "EOF at line 1").message,
            "body is not JSON: EOF at line 1"
        );
        assert_eq!(Fault::no_config().message, "no valid config in KV");
        assert_eq!(
            Fault::method_not_allowed("GET, PUT", "m").headers,
            vec![("allow", "GET, PUT".to_string())],
            "every 405 says what is allowed"
        );
    }

    #[test]
    fn receipt_errors_keep_their_code_and_text() {
        let cases = [
            (ReceiptError::BadSignature, 401),
            (ReceiptError::Expired, 410),
            (ReceiptError::Malformed, 400),
            (ReceiptError::FromFuture, 400),
            (ReceiptError::UnsupportedVersion, 400),
        ];
        for (e, status) in cases {
            let f = Fault::receipt(e);
            assert_eq!(f.status(), status);
            assert_eq!(f.party(), Party::Caller);
            assert_eq!(f.code, e.code());
            assert_eq!(f.message, e.to_string());
        }
    }

    #[test]
    fn errors_that_question_mark_carries_are_ours() {
        fn parse(s: &str) -> Result<Value, Fault> {
            Ok(serde_json::from_str::<Value>(s)?)
        }
        let f = parse("{").unwrap_err();
        assert_eq!(
            (f.status(), f.party(), f.code),
            (500, Party::Ours, INTERNAL)
        );
        assert_eq!(
            f.message,
            serde_json::from_str::<Value>("{").unwrap_err().to_string()
        );
        assert_eq!(
            f.clone().relabel_internal("stats_storage_error").code,
            "stats_storage_error"
        );
        // Only the internal code is relabelled.
        let caller = Fault::bad_request("bad_x", "m").relabel_internal("stats_storage_error");
        assert_eq!(caller.code, "bad_x");
    }

    #[test]
    fn ledger_and_operator_refusals_are_the_callers() {
        let f: Fault = FeedbackError::Replayed.into();
        assert_eq!((f.status(), f.code), (409, "receipt_replayed"));
        assert_eq!(f.message, "this receipt was already credited");
        // The control plane's refusal is the same answer to a client; only the message says
        // that the ledger was not asked (what the e2e test tells the two apart by).
        let spent = Fault::receipt_spent();
        assert_eq!((spent.status(), spent.code), (409, "receipt_replayed"));
        assert_ne!(spent.message, f.message);
        let f: Fault = FeedbackError::BadReward("too big".into()).into();
        assert_eq!(
            (f.status(), f.code, f.message.as_str()),
            (400, "bad_reward", "too big")
        );
        let f: Fault = OperateError {
            status: 409,
            code: "not_a_canary",
            message: "m".into(),
        }
        .into();
        assert_eq!(
            (f.status(), f.party(), f.code),
            (409, Party::Caller, "not_a_canary")
        );
    }

    #[test]
    fn fields_sit_next_to_error_and_cannot_replace_it() {
        let f = Fault::caller(412, "stale_version", "m")
            .with_field("current", 3.into())
            .with_field("error", "spoof".into());
        let v = f.to_value();
        assert_eq!(v["current"], 3);
        assert_eq!(v["error"]["code"], "stale_version");
        assert_eq!(v.as_object().unwrap().len(), 2);
        assert_eq!(
            error_value("c", "m"),
            Fault::caller(400, "c", "m").to_value()
        );
    }

    #[test]
    fn header_safe_is_visible_ascii_and_bounded() {
        assert_eq!(header_safe("ok: a b"), "ok: a b");
        assert_eq!(header_safe("é\n\r\u{0}x"), "????x");
        assert_eq!(header_safe(&"a".repeat(1000)).len(), 400);
    }
}
