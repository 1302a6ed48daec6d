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
        }
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

    /// `{"error": {"code", "message"}}`.
    pub fn to_value(&self) -> Value {
        // Built from a Map rather than with `json!` (whose `to_value` links serde_json's Value
        // serializer into the router); the document is the same.
        let mut error = Map::new();
        error.insert("code".into(), self.code.into());
        error.insert("message".into(), self.message.clone().into());
        let mut body = Map::new();
        body.insert("error".into(), error.into());
        body.into()
    }

    /// The JSON body, as bytes.
    pub fn body(&self) -> Vec<u8> {
        serde_json::to_vec(&self.to_value()).unwrap_or_default()
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
    fn header_safe_is_visible_ascii_and_bounded() {
        assert_eq!(header_safe("ok: a b"), "ok: a b");
        assert_eq!(header_safe("é\n\r\u{0}x"), "????x");
        assert_eq!(header_safe(&"a".repeat(1000)).len(), 400);
    }
}
