//! The validator's state and its field readers: typed reads of a JSON value (`req*` for
//! required fields, `opt*` for optional ones, where `null` means absent), each reporting a
//! problem at its path instead of failing.

use serde_json::{Map, Value};

use super::error::ConfigError;
use super::model::{percent_to_ppm, OriginId};
use super::path::Path;
// Floats in messages go through `display_f64` (same text as `{}`): `{}` on an f64 links
// core's float printing into the router (~7 KB gzip).
use crate::base::{display_f64, valid_name, NameChars, MAX_NAME_LEN};

#[derive(Default)]
pub(super) struct Validator {
    pub(super) errors: Vec<ConfigError>,
    pub(super) origin_names: Vec<String>,
}

pub(super) type Obj = Map<String, Value>;

/// A checked object and where it is: what the field helpers read.
#[derive(Clone, Copy)]
pub(super) struct Fields<'v, 'p> {
    pub(super) obj: &'v Obj,
    pub(super) at: &'p Path<'p>,
}

impl<'v> Fields<'v, '_> {
    /// An optional field's value. The one rule for optional fields: `null` means absent
    /// (as in JSON Merge Patch); required fields given `null` report the type they expect.
    pub(super) fn get(self, key: &str) -> Option<&'v Value> {
        self.obj.get(key).filter(|v| !v.is_null())
    }
}

impl Validator {
    pub(super) fn err(&mut self, at: &Path, reason: impl Into<String>) {
        self.errors.push(ConfigError {
            path: at.render(),
            reason: reason.into(),
        });
    }

    /// Reports `reason` at `at`; always `None`.
    pub(super) fn fail<T>(&mut self, at: &Path, reason: impl Into<String>) -> Option<T> {
        self.err(at, reason);
        None
    }

    /// `ok`, after reporting `reason` at `at` when it is false.
    pub(super) fn check(&mut self, ok: bool, at: &Path, reason: &str) -> bool {
        if !ok {
            self.err(at, reason);
        }
        ok
    }

    /// Reports "expected `what`, found <type of v>"; always `None`.
    pub(super) fn wrong_type<T>(&mut self, at: &Path, what: &str, v: &Value) -> Option<T> {
        self.fail(at, format!("expected {what}, found {}", type_name(v)))
    }

    /// The object at `at`, after reporting any key outside `allowed` (`"a, b, c"`).
    pub(super) fn object<'v, 'p>(
        &mut self,
        at: &'p Path<'p>,
        v: &'v Value,
        allowed: &str,
    ) -> Option<Fields<'v, 'p>> {
        let Some(obj) = v.as_object() else {
            return self.wrong_type(at, "an object", v);
        };
        for key in obj.keys() {
            if !allowed.split(", ").any(|k| k == key) {
                self.err(
                    &at.key(key),
                    format!("unknown field (expected one of: {allowed})"),
                );
            }
        }
        Some(Fields { obj, at })
    }

    // Field helpers: `req*` report "missing required field" when the key is absent; `opt*`
    // take absent or `null` as the default. Both are `None` when the value is invalid.

    pub(super) fn req<'v>(&mut self, f: Fields<'v, '_>, key: &str) -> Option<&'v Value> {
        let v = f.obj.get(key);
        if v.is_none() {
            self.err(&f.at.key(key), "missing required field");
        }
        v
    }

    pub(super) fn req_str(&mut self, f: Fields, key: &str) -> Option<String> {
        let v = self.req(f, key)?;
        self.string(&f.at.key(key), v)
    }

    pub(super) fn req_name(&mut self, f: Fields, key: &str) -> Option<String> {
        let s = self.req_str(f, key)?;
        self.name(&f.at.key(key), s)
    }

    pub(super) fn req_origin(&mut self, f: Fields, key: &str) -> Option<OriginId> {
        let v = self.req(f, key)?;
        self.origin_ref(&f.at.key(key), v)
    }

    pub(super) fn req_uint(&mut self, f: Fields, key: &str, max: u64) -> Option<u64> {
        let v = self.req(f, key)?;
        self.uint(&f.at.key(key), v, max)
    }

    pub(super) fn req_percent(&mut self, f: Fields, key: &str) -> Option<u32> {
        let v = self.req(f, key)?;
        self.percent(&f.at.key(key), v)
    }

    /// `Some(None)` when absent or `null`, else `check`'s verdict on the value.
    pub(super) fn opt<'v, T>(
        &mut self,
        f: Fields<'v, '_>,
        key: &str,
        check: impl FnOnce(&mut Self, &Path, &'v Value) -> Option<T>,
    ) -> Option<Option<T>> {
        match f.get(key) {
            None => Some(None),
            Some(v) => check(self, &f.at.key(key), v).map(Some),
        }
    }

    pub(super) fn opt_str(&mut self, f: Fields, key: &str) -> Option<Option<String>> {
        self.opt(f, key, Self::string)
    }

    pub(super) fn opt_uint(&mut self, f: Fields, key: &str, max: u64, default: u64) -> Option<u64> {
        match f.get(key) {
            None => Some(default),
            Some(v) => self.uint(&f.at.key(key), v, max),
        }
    }

    pub(super) fn opt_percent(&mut self, f: Fields, key: &str, default: u32) -> Option<u32> {
        match f.get(key) {
            None => Some(default),
            Some(v) => self.percent(&f.at.key(key), v),
        }
    }

    pub(super) fn opt_bool(&mut self, f: Fields, key: &str, default: bool) -> Option<bool> {
        match f.get(key) {
            None => Some(default),
            Some(v) => v
                .as_bool()
                .or_else(|| self.wrong_type(&f.at.key(key), "true or false", v)),
        }
    }

    /// The index of the field's value in `names` (0, the default, when absent).
    pub(super) fn opt_choice(
        &mut self,
        f: Fields,
        key: &str,
        names: &str,
        reason: &str,
    ) -> Option<usize> {
        match f.get(key) {
            None => Some(0),
            Some(v) => self.choice(&f.at.key(key), v, names, reason),
        }
    }

    /// A number in `lo..=hi` (`lo` excluded when `open`), or `reason`.
    pub(super) fn opt_ranged(
        &mut self,
        f: Fields,
        key: &str,
        (lo, hi, open): (f64, f64, bool),
        reason: &str,
    ) -> Option<Option<f64>> {
        self.opt(f, key, |me, at, v| {
            let n = me.number(at, v)?;
            let ok = (n > lo || (!open && n == lo)) && n <= hi;
            me.check(ok, at, reason).then_some(n)
        })
    }

    /// An optional array's items: empty when absent, `null` or not an array (reported).
    pub(super) fn list<'v>(&mut self, f: Fields<'v, '_>, key: &str) -> &'v [Value] {
        match f.get(key) {
            None => &[],
            Some(v) => self.array(&f.at.key(key), v).map_or(&[], Vec::as_slice),
        }
    }

    // Value checks.

    pub(super) fn string(&mut self, at: &Path, v: &Value) -> Option<String> {
        match v.as_str() {
            Some(s) => Some(s.to_string()),
            None => self.wrong_type(at, "a string", v),
        }
    }

    pub(super) fn name(&mut self, at: &Path, s: String) -> Option<String> {
        if valid_name(s.as_bytes(), NameChars::Config) {
            return Some(s);
        }
        let class = NameChars::Config.class();
        self.fail(
            at,
            format!("invalid name {s:?}: 1-{MAX_NAME_LEN} characters of [{class}]"),
        )
    }

    /// A route name: it names the route's Durable Object and appears in URL paths
    /// (`/_switchyard/stats/<route>`) and KV keys, so no `.` (`.` and `..` are normalised
    /// away by URL parsers) and nothing that needs escaping.
    pub(super) fn route_name(&mut self, at: &Path, v: &Value) -> Option<String> {
        let s = self.string(at, v)?;
        if valid_name(s.as_bytes(), NameChars::Route) {
            return Some(s);
        }
        let class = NameChars::Route.class();
        let reason =
            format!("invalid route name {s:?}: 1-{MAX_NAME_LEN} characters of [{class}] (no '.')");
        self.fail(at, reason)
    }

    pub(super) fn number(&mut self, at: &Path, v: &Value) -> Option<f64> {
        match v.as_f64() {
            Some(n) if n.is_finite() => Some(n),
            _ => self.wrong_type(at, "a number", v),
        }
    }

    /// A non-negative integer up to `max`. As in JSON Schema (and JavaScript), an integer is
    /// a number without a fractional part however it is written: `2`, `2.0` and `2e0` are the
    /// same value, so the schema's `"type": "integer"` and this check accept the same numbers.
    /// (A float beyond `u64` saturates, so it is above every maximum but `u64::MAX`.)
    pub(super) fn uint(&mut self, at: &Path, v: &Value, max: u64) -> Option<u64> {
        let n = v.as_u64().or_else(|| {
            let f = v.as_f64()?;
            (f.fract() == 0.0 && f >= 0.0).then_some(f as u64)
        });
        match n {
            Some(n) if n <= max => Some(n),
            Some(n) => self.fail(at, format!("{n} is above the maximum {max}")),
            None => self.wrong_type(at, "a non-negative integer", v),
        }
    }

    pub(super) fn array<'v>(&mut self, at: &Path, v: &'v Value) -> Option<&'v Vec<Value>> {
        match v.as_array() {
            Some(a) => Some(a),
            None => self.wrong_type(at, "an array", v),
        }
    }

    pub(super) fn choice(
        &mut self,
        at: &Path,
        v: &Value,
        names: &str,
        reason: &str,
    ) -> Option<usize> {
        let i = v
            .as_str()
            .and_then(|s| names.split(", ").position(|n| n == s));
        if i.is_none() {
            self.err(at, reason);
        }
        i
    }

    pub(super) fn percent(&mut self, at: &Path, v: &Value) -> Option<u32> {
        let p = self.number(at, v)?;
        let ppm = percent_to_ppm(p);
        if ppm.is_none() {
            self.err(
                at,
                format!(
                    "percent {} must be 0-100 with at most 4 decimals",
                    display_f64(p)
                ),
            );
        }
        ppm
    }

    pub(super) fn origin_ref(&mut self, at: &Path, v: &Value) -> Option<OriginId> {
        let name = self.string(at, v)?;
        match self.origin_names.iter().position(|n| *n == name) {
            Some(i) => Some(OriginId(i as u16)),
            None => self.fail(at, format!("unknown origin {name:?}")),
        }
    }

    pub(super) fn methods(&mut self, at: &Path, v: &Value) -> Option<Vec<String>> {
        let arr = self.array(at, v)?;
        if !self.check(!arr.is_empty(), at, "an empty method list can never match") {
            return None;
        }
        let mut out = Vec::with_capacity(arr.len());
        for (i, m) in arr.iter().enumerate() {
            let p = at.at(i);
            if let Some(s) = self.string(&p, m) {
                if s.is_empty() || !s.bytes().all(|b| b.is_ascii_alphabetic()) {
                    self.err(&p, format!("invalid HTTP method {s:?}"));
                } else {
                    out.push(s.to_ascii_uppercase());
                }
            }
        }
        Some(out)
    }
}

pub(super) fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}
