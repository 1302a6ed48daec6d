//! Config schema v1: parsing and validation.
//!
//! The whole document is walked once and every problem is reported with its JSON path; a
//! [`Config`] exists only when there are none, so a bad config can never be half-applied.
//! Validated types carry resolved origin indices, shares in parts per million and
//! precomputed salts and rendezvous keys, so strategies never re-check or re-hash names.

use super::error::ConfigError;

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::base::{arm_key, PPM};
// Floats in messages go through `display_f64` (same text as `{}`): `{}` on an f64 links
// core's float printing into the router (~7 KB gzip).
use crate::base::display_f64;

/// Index into [`Config::origins`]; only validation creates one, so it is always in range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct OriginId(pub(crate) u16);

impl OriginId {
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Origin {
    pub name: String,
    /// `scheme://authority[/base-path]`, no trailing slash, no query: forwarded paths are
    /// appended to it, so a request can never change the authority.
    pub base: String,
    pub timeout_ms: u32,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Matcher {
    /// Lower-case host without port; `None` matches any host.
    pub host: Option<String>,
    /// Starts with `/`; matches on a segment boundary.
    pub path_prefix: String,
    /// Upper-case methods; `None` matches any method.
    pub methods: Option<Vec<String>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UnitSource {
    /// Lower-case header name.
    Header(String),
    Cookie(String),
    Query(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Arm {
    pub name: String,
    pub origin: OriginId,
    pub weight: f64,
    pub key: u64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct CanaryStep {
    pub percent_ppm: u32,
    pub hold_s: u32,
}

/// Health limits for the canary controller (issue 3).
#[derive(Debug, Clone, PartialEq)]
pub struct Guard {
    pub max_error_rate: Option<f64>,
    pub max_p95_latency_ratio: Option<f64>,
    pub min_requests: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attr {
    Header(String),
    Cookie(String),
    Query(String),
    Country,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Op {
    Eq(String),
    In(Vec<String>),
    Prefix(Vec<String>),
    SemverGte(Semver),
}

/// `major.minor.patch`, missing parts are 0; pre-release/build suffixes are ignored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Semver(pub u64, pub u64, pub u64);

impl Semver {
    pub fn parse(s: &str) -> Option<Semver> {
        let s = s.trim().trim_start_matches(['v', 'V']);
        let core = s.split(['-', '+']).next()?;
        let mut parts = core.split('.');
        let mut next = |required: bool| -> Option<u64> {
            match parts.next() {
                Some(p) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => p.parse().ok(),
                None if !required => Some(0),
                _ => None,
            }
        };
        let v = Semver(next(true)?, next(false)?, next(false)?);
        if parts.next().is_some() {
            return None;
        }
        Some(v)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    pub attr: Attr,
    pub op: Op,
}

/// A flag: on for a unit when all rules match and the unit is inside `rollout_ppm`.
#[derive(Debug, Clone, PartialEq)]
pub struct Flag {
    pub name: String,
    pub rollout_ppm: u32,
    pub rules: Vec<Rule>,
    /// `<route>:flag:<name>`.
    pub salt: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct OriginFlag {
    pub flag: Flag,
    pub origin: OriginId,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Blue,
    Green,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BanditAlgorithm {
    Thompson,
    Ucb1,
    EpsilonGreedy,
}

/// What an A/B route's health guard does when an arm breaches it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AbGuardAction {
    /// Stop the experiment: every unit goes to the control arm (the first one).
    Stop,
    /// Take only the breaching arm out of the split; the others keep their weights.
    Drain,
}

/// Opt-in health guard of an A/B route (`strategy.guard`, with `action`).
#[derive(Debug, Clone, PartialEq)]
pub struct AbGuard {
    pub guard: Guard,
    pub action: AbGuardAction,
}

/// How a bandit reads feedback (`strategy.feedback`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RewardFeedback {
    /// `conversion` while every reward so far was 0 or 1, `explicit` once any was not.
    #[default]
    Auto,
    /// Clients report successes only: a routed request without feedback is a 0.
    Conversion,
    /// Every reward is reported: only rewards that arrived count (missing feedback is
    /// missing, not 0).
    Explicit,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Strategy {
    Ab {
        arms: Vec<Arm>,
        guard: Option<AbGuard>,
    },
    Canary {
        stable: OriginId,
        canary: OriginId,
        percent_ppm: u32,
        steps: Vec<CanaryStep>,
        guard: Option<Guard>,
    },
    Flag {
        default: OriginId,
        flags: Vec<OriginFlag>,
    },
    BlueGreen {
        blue: OriginId,
        green: OriginId,
        active: Side,
        failover: bool,
        preview_header: Option<String>,
    },
    Rolling {
        from: OriginId,
        to: OriginId,
        batches: u32,
        completed: u32,
        /// When set, the controller completes one more batch every `interval_s` while the
        /// guard holds.
        interval_s: Option<u32>,
        guard: Option<Guard>,
    },
    Recreate {
        origin: OriginId,
        health_path: Option<String>,
    },
    Bandit {
        arms: Vec<Arm>,
        algorithm: BanditAlgorithm,
        epsilon: f64,
        min_share: f64,
        min_samples: u64,
        sticky: bool,
        feedback: RewardFeedback,
    },
}

impl Strategy {
    pub fn kind(&self) -> &'static str {
        match self {
            Strategy::Ab { .. } => "ab",
            Strategy::Canary { .. } => "canary",
            Strategy::Flag { .. } => "flag",
            Strategy::BlueGreen { .. } => "blue_green",
            Strategy::Rolling { .. } => "rolling",
            Strategy::Recreate { .. } => "recreate",
            Strategy::Bandit { .. } => "bandit",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Shadow {
    pub origin: OriginId,
    pub percent_ppm: u32,
    pub methods: Option<Vec<String>>,
    pub max_body_bytes: u64,
    pub timeout_ms: u32,
    /// How to compare the shadow's answer with the primary's, if at all.
    pub compare: Option<crate::observe::Compare>,
    /// `<route>:shadow:<origin>`.
    pub salt: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Route {
    pub name: String,
    pub matcher: Matcher,
    pub strip_prefix: Option<String>,
    pub unit: Vec<UnitSource>,
    pub strategy: Strategy,
    pub shadows: Vec<Shadow>,
    pub flags: Vec<Flag>,
    /// `<route>:split[:<strategy salt>]`.
    pub split_salt: String,
    /// Hash of the route's strategy JSON: controller state written for another version of
    /// the strategy is ignored, so editing a route starts it fresh.
    pub fingerprint: String,
    /// Receipt ledger shards feedback is spread over (`feedback_shards`, 1..=64, default 1):
    /// shard 0 is the route's own object, the others are merged into it on its tick.
    pub feedback_shards: u32,
    /// Units (all arms together) at which the always-valid test is tuned to be tightest
    /// (`experiment.expected_units`, default
    /// [`DEFAULT_EXPECTED_UNITS`]).
    pub expected_units: u64,
}

/// Most ledger shards a route may have.
pub const MAX_FEEDBACK_SHARDS: u64 = 64;
/// Default of a route's `experiment.expected_units`: the number of units (all arms together)
/// at which the always-valid test is tuned to be tightest, as GrowthBook's default tuning
/// parameter.
pub const DEFAULT_EXPECTED_UNITS: u64 = 5_000;
/// Bounds of `experiment.expected_units`.
pub const MIN_EXPECTED_UNITS: u64 = 10;
pub const MAX_EXPECTED_UNITS: u64 = 1_000_000_000;

#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Schema version (always 1).
    pub schema: u64,
    /// First 12 hex digits of SHA-256 of the config text: `x-switchyard-config`.
    pub id: String,
    pub default_origin: Option<OriginId>,
    pub origins: Vec<Origin>,
    pub routes: Vec<Route>,
    /// `$.alerts.webhooks` (`super::alerts`).
    pub alerts: Vec<super::alerts::Webhook>,
}

impl Config {
    pub fn origin(&self, id: OriginId) -> &Origin {
        &self.origins[id.index()]
    }

    pub fn route(&self, name: &str) -> Option<&Route> {
        self.routes.iter().find(|r| r.name == name)
    }
}

pub const DEFAULT_TIMEOUT_MS: u32 = 10_000;
pub const DEFAULT_SHADOW_TIMEOUT_MS: u32 = 5_000;
pub const DEFAULT_SHADOW_MAX_BODY: u64 = 1 << 20;
const MAX_NAME: usize = 64;

/// Parses and validates a config document; all problems or a config, never a mix.
pub fn parse(text: &str) -> Result<Config, Vec<ConfigError>> {
    let value: Value = serde_json::from_str(text).map_err(|e| {
        vec![ConfigError {
            path: "$".into(),
            reason: format!("invalid JSON: {e}"),
        }]
    })?;
    let id = text_id(text);
    let mut v = Validator {
        // serde_json's `Value` silently keeps the last of two equal keys: report them.
        errors: duplicate_keys(text),
        ..Validator::default()
    };
    let config = v.config(&value, id);
    match config {
        Some(c) if v.errors.is_empty() => Ok(c),
        _ => {
            if v.errors.is_empty() {
                v.err(&ROOT, "invalid config");
            }
            Err(v.errors)
        }
    }
}

/// The config id of a document: the first 12 hex digits of SHA-256 of its text, byte for byte
/// (what `x-switchyard-config` and receipts carry).
pub fn text_id(text: &str) -> String {
    hex12(&Sha256::digest(text.as_bytes()))
}

pub(crate) fn hex12(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    bytes
        .iter()
        .take(6)
        .flat_map(|b| {
            [
                HEX[(b >> 4) as usize] as char,
                HEX[(b & 15) as usize] as char,
            ]
        })
        .collect()
}

/// Converts a percent (0–100, at most 4 decimals) to parts per million.
pub fn percent_to_ppm(p: f64) -> Option<u32> {
    if !p.is_finite() || !(0.0..=100.0).contains(&p) {
        return None;
    }
    let scaled = p * 10_000.0;
    let rounded = scaled.round();
    if (scaled - rounded).abs() > 1e-6 {
        return None;
    }
    Some((rounded as u32).min(PPM))
}

#[derive(Default)]
struct Validator {
    errors: Vec<ConfigError>,
    origin_names: Vec<String>,
}

type Obj = Map<String, Value>;

/// One step of a [`Path`].
#[derive(Clone, Copy)]
enum Seg<'a> {
    Root,
    Key(&'a str),
    Index(usize),
}

/// A JSON path (`$.routes[0].strategy.kind`) as a list of borrowed segments on the walker's
/// stack: a child path costs nothing until an error renders it.
#[derive(Clone, Copy)]
struct Path<'a> {
    up: Option<&'a Path<'a>>,
    seg: Seg<'a>,
}

const ROOT: Path<'static> = Path {
    up: None,
    seg: Seg::Root,
};

impl Path<'_> {
    fn key<'b>(&'b self, key: &'b str) -> Path<'b> {
        Path {
            up: Some(self),
            seg: Seg::Key(key),
        }
    }

    fn at(&self, i: usize) -> Path<'_> {
        Path {
            up: Some(self),
            seg: Seg::Index(i),
        }
    }

    fn render(&self) -> String {
        let mut s = self.up.map(Path::render).unwrap_or_default();
        match self.seg {
            Seg::Root => s.push('$'),
            Seg::Key(k) => {
                s.push('.');
                s.push_str(k);
            }
            Seg::Index(i) => {
                s.push('[');
                s.push_str(&i.to_string());
                s.push(']');
            }
        }
        s
    }
}

/// A checked object and where it is: what the field helpers read.
#[derive(Clone, Copy)]
struct Fields<'v, 'p> {
    obj: &'v Obj,
    at: &'p Path<'p>,
}

impl<'v> Fields<'v, '_> {
    /// An optional field's value. The one rule for optional fields: `null` means absent
    /// (as in JSON Merge Patch); required fields given `null` report the type they expect.
    fn get(self, key: &str) -> Option<&'v Value> {
        self.obj.get(key).filter(|v| !v.is_null())
    }
}

impl Validator {
    fn err(&mut self, at: &Path, reason: impl Into<String>) {
        self.errors.push(ConfigError {
            path: at.render(),
            reason: reason.into(),
        });
    }

    /// Reports `reason` at `at`; always `None`.
    fn fail<T>(&mut self, at: &Path, reason: impl Into<String>) -> Option<T> {
        self.err(at, reason);
        None
    }

    /// `ok`, after reporting `reason` at `at` when it is false.
    fn check(&mut self, ok: bool, at: &Path, reason: &str) -> bool {
        if !ok {
            self.err(at, reason);
        }
        ok
    }

    /// Reports "expected `what`, found <type of v>"; always `None`.
    fn wrong_type<T>(&mut self, at: &Path, what: &str, v: &Value) -> Option<T> {
        self.fail(at, format!("expected {what}, found {}", type_name(v)))
    }

    /// The object at `at`, after reporting any key outside `allowed` (`"a, b, c"`).
    fn object<'v, 'p>(
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

    fn req<'v>(&mut self, f: Fields<'v, '_>, key: &str) -> Option<&'v Value> {
        let v = f.obj.get(key);
        if v.is_none() {
            self.err(&f.at.key(key), "missing required field");
        }
        v
    }

    fn req_str(&mut self, f: Fields, key: &str) -> Option<String> {
        let v = self.req(f, key)?;
        self.string(&f.at.key(key), v)
    }

    fn req_name(&mut self, f: Fields, key: &str) -> Option<String> {
        let s = self.req_str(f, key)?;
        self.name(&f.at.key(key), s)
    }

    fn req_origin(&mut self, f: Fields, key: &str) -> Option<OriginId> {
        let v = self.req(f, key)?;
        self.origin_ref(&f.at.key(key), v)
    }

    fn req_uint(&mut self, f: Fields, key: &str, max: u64) -> Option<u64> {
        let v = self.req(f, key)?;
        self.uint(&f.at.key(key), v, max)
    }

    fn req_percent(&mut self, f: Fields, key: &str) -> Option<u32> {
        let v = self.req(f, key)?;
        self.percent(&f.at.key(key), v)
    }

    /// `Some(None)` when absent or `null`, else `check`'s verdict on the value.
    fn opt<'v, T>(
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

    fn opt_str(&mut self, f: Fields, key: &str) -> Option<Option<String>> {
        self.opt(f, key, Self::string)
    }

    fn opt_uint(&mut self, f: Fields, key: &str, max: u64, default: u64) -> Option<u64> {
        match f.get(key) {
            None => Some(default),
            Some(v) => self.uint(&f.at.key(key), v, max),
        }
    }

    fn opt_percent(&mut self, f: Fields, key: &str, default: u32) -> Option<u32> {
        match f.get(key) {
            None => Some(default),
            Some(v) => self.percent(&f.at.key(key), v),
        }
    }

    fn opt_bool(&mut self, f: Fields, key: &str, default: bool) -> Option<bool> {
        match f.get(key) {
            None => Some(default),
            Some(v) => v
                .as_bool()
                .or_else(|| self.wrong_type(&f.at.key(key), "true or false", v)),
        }
    }

    /// The index of the field's value in `names` (0, the default, when absent).
    fn opt_choice(&mut self, f: Fields, key: &str, names: &str, reason: &str) -> Option<usize> {
        match f.get(key) {
            None => Some(0),
            Some(v) => self.choice(&f.at.key(key), v, names, reason),
        }
    }

    /// A number in `lo..=hi` (`lo` excluded when `open`), or `reason`.
    fn opt_ranged(
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
    fn list<'v>(&mut self, f: Fields<'v, '_>, key: &str) -> &'v [Value] {
        match f.get(key) {
            None => &[],
            Some(v) => self.array(&f.at.key(key), v).map_or(&[], Vec::as_slice),
        }
    }

    // Value checks.

    fn string(&mut self, at: &Path, v: &Value) -> Option<String> {
        match v.as_str() {
            Some(s) => Some(s.to_string()),
            None => self.wrong_type(at, "a string", v),
        }
    }

    fn name(&mut self, at: &Path, s: String) -> Option<String> {
        let ok = !s.is_empty()
            && s.len() <= MAX_NAME
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
        if ok {
            return Some(s);
        }
        self.fail(
            at,
            format!("invalid name {s:?}: 1-{MAX_NAME} characters of [A-Za-z0-9._-]"),
        )
    }

    /// A route name: it names the route's Durable Object and appears in URL paths
    /// (`/_switchyard/stats/<route>`) and KV keys, so no `.` (`.` and `..` are normalised
    /// away by URL parsers) and nothing that needs escaping.
    fn route_name(&mut self, at: &Path, v: &Value) -> Option<String> {
        let s = self.string(at, v)?;
        if valid_route_name(&s) {
            return Some(s);
        }
        let reason =
            format!("invalid route name {s:?}: 1-{MAX_NAME} characters of [A-Za-z0-9_-] (no '.')");
        self.fail(at, reason)
    }

    fn number(&mut self, at: &Path, v: &Value) -> Option<f64> {
        match v.as_f64() {
            Some(n) if n.is_finite() => Some(n),
            _ => self.wrong_type(at, "a number", v),
        }
    }

    fn uint(&mut self, at: &Path, v: &Value, max: u64) -> Option<u64> {
        match v.as_u64() {
            Some(n) if n <= max => Some(n),
            Some(n) => self.fail(at, format!("{n} is above the maximum {max}")),
            None => self.wrong_type(at, "a non-negative integer", v),
        }
    }

    fn array<'v>(&mut self, at: &Path, v: &'v Value) -> Option<&'v Vec<Value>> {
        match v.as_array() {
            Some(a) => Some(a),
            None => self.wrong_type(at, "an array", v),
        }
    }

    fn choice(&mut self, at: &Path, v: &Value, names: &str, reason: &str) -> Option<usize> {
        let i = v
            .as_str()
            .and_then(|s| names.split(", ").position(|n| n == s));
        if i.is_none() {
            self.err(at, reason);
        }
        i
    }

    fn percent(&mut self, at: &Path, v: &Value) -> Option<u32> {
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

    fn origin_ref(&mut self, at: &Path, v: &Value) -> Option<OriginId> {
        let name = self.string(at, v)?;
        match self.origin_names.iter().position(|n| *n == name) {
            Some(i) => Some(OriginId(i as u16)),
            None => self.fail(at, format!("unknown origin {name:?}")),
        }
    }

    fn methods(&mut self, at: &Path, v: &Value) -> Option<Vec<String>> {
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

    // The document, top down.

    fn config(&mut self, v: &Value, id: String) -> Option<Config> {
        let f = self.object(
            &ROOT,
            v,
            "version, default_origin, origins, routes, description, alerts",
        )?;
        let schema = self.req_uint(f, "version", u64::MAX).and_then(|n| match n {
            1 => Some(1),
            n => self.fail(
                &ROOT.key("version"),
                format!("unsupported schema version {n} (expected 1)"),
            ),
        });
        let origins = self.req(f, "origins").map(|o| self.origins(o));
        let origins = origins.unwrap_or_default();
        self.origin_names = origins.iter().map(|o| o.name.clone()).collect();
        let default_origin = self.opt(f, "default_origin", Self::origin_ref).flatten();
        let routes = self.req(f, "routes").map(|r| self.routes(r));
        let routes = routes.unwrap_or_default();
        let alerts = super::alerts::parse(f.get("alerts"), &mut self.errors);
        Some(Config {
            schema: schema?,
            id,
            default_origin,
            origins,
            routes,
            alerts,
        })
    }

    fn origins(&mut self, v: &Value) -> Vec<Origin> {
        let at = ROOT.key("origins");
        let Some(obj) = v.as_object() else {
            self.wrong_type::<()>(&at, "an object", v);
            return Vec::new();
        };
        self.check(!obj.is_empty(), &at, "at least one origin is required");
        if !self.check(obj.len() <= u16::MAX as usize, &at, "too many origins") {
            return Vec::new();
        }
        let mut out = Vec::new();
        for (name, o) in obj {
            let p = at.key(name);
            let Some(name) = self.name(&p, name.clone()) else {
                continue;
            };
            let Some(f) = self.object(&p, o, "url, timeout_ms, description") else {
                continue;
            };
            let base = self.req_str(f, "url").and_then(|u| match origin_base(&u) {
                Ok(b) => Some(b),
                Err(why) => self.fail(&p.key("url"), why),
            });
            let timeout_ms = self.opt_uint(f, "timeout_ms", 300_000, DEFAULT_TIMEOUT_MS as u64);
            if let (Some(base), Some(timeout_ms)) = (base, timeout_ms) {
                self.check(timeout_ms > 0, &p.key("timeout_ms"), "must be at least 1");
                out.push(Origin {
                    name,
                    base,
                    timeout_ms: timeout_ms as u32,
                });
            }
        }
        out
    }

    fn routes(&mut self, v: &Value) -> Vec<Route> {
        let at = ROOT.key("routes");
        let Some(arr) = self.array(&at, v) else {
            return Vec::new();
        };
        let mut out: Vec<Route> = Vec::new();
        for (i, r) in arr.iter().enumerate() {
            let p = at.at(i);
            let Some(route) = self.route(&p, r) else {
                continue;
            };
            if out.iter().any(|o| o.name == route.name) {
                let reason = format!("duplicate route name {:?}", route.name);
                self.err(&p.key("name"), reason);
            }
            if let Some(earlier) = out
                .iter()
                .find(|o| shadows_matcher(&o.matcher, &route.matcher))
            {
                let reason = format!(
                    "route can never match: route {:?} before it matches every request it would",
                    earlier.name
                );
                self.err(&p.key("match"), reason);
            }
            out.push(route);
        }
        out
    }

    fn route(&mut self, at: &Path, v: &Value) -> Option<Route> {
        let f = self.object(
            at,
            v,
            "name, match, unit, strategy, shadow, flags, strip_prefix, description, feedback_shards, experiment",
        )?;
        let name = self
            .req(f, "name")
            .and_then(|n| self.route_name(&at.key("name"), n));
        let matcher = self
            .req(f, "match")
            .and_then(|m| self.matcher(&at.key("match"), m));
        let strip_prefix = self.opt_str(f, "strip_prefix").flatten().filter(|s| {
            let ok = s.starts_with('/') && !s.ends_with('/');
            let reason = "must start with '/' and not end with '/'";
            self.check(ok, &at.key("strip_prefix"), reason)
        });
        let unit = match f.get("unit") {
            None => vec![
                UnitSource::Header("x-user-id".into()),
                UnitSource::Cookie("sy_uid".into()),
            ],
            Some(u) => self.unit_sources(&at.key("unit"), u),
        };
        let rname = name.clone().unwrap_or_default();
        let strategy_value = self.req(f, "strategy");
        let mut split_salt = format!("{rname}:split");
        let strategy = strategy_value
            .and_then(|s| self.strategy(&at.key("strategy"), s, &rname, &mut split_salt));
        let shadows = match f.get("shadow") {
            None => Vec::new(),
            Some(s) => self.shadows(&at.key("shadow"), s, &rname),
        };
        let flags_at = at.key("flags");
        let mut flags: Vec<Flag> = Vec::new();
        for (i, fv) in self.list(f, "flags").iter().enumerate() {
            let p = flags_at.at(i);
            if let Some(flag) = self.flag(&p, fv, &rname, false) {
                if flags.iter().any(|f| f.name == flag.name) {
                    self.err(&p.key("name"), "duplicate flag name");
                }
                flags.push(flag);
            }
        }
        self.check(
            shadows.len() <= 32,
            &at.key("shadow"),
            "at most 32 shadows per route",
        );
        self.check(flags.len() <= 64, &flags_at, "at most 64 flags per route");
        let fingerprint = strategy_value
            // to_vec, not to_string: the same compact text without `Display for Value`'s
            // second serializer instantiation in the router.
            .map(|s| hex12(&Sha256::digest(serde_json::to_vec(s).unwrap_or_default())))
            .unwrap_or_default();
        let feedback_shards = self
            .opt_uint(f, "feedback_shards", MAX_FEEDBACK_SHARDS, 1)
            .filter(|n| self.check(*n > 0, &at.key("feedback_shards"), "must be at least 1"));
        let expected_units = self
            .opt(f, "experiment", Self::experiment)
            .map(|e| e.unwrap_or(DEFAULT_EXPECTED_UNITS));
        Some(Route {
            name: name?,
            matcher: matcher?,
            strip_prefix,
            unit,
            strategy: strategy?,
            shadows,
            flags,
            split_salt,
            fingerprint,
            feedback_shards: feedback_shards? as u32,
            expected_units: expected_units?,
        })
    }

    /// A route's `experiment` settings: `expected_units`.
    fn experiment(&mut self, at: &Path, v: &Value) -> Option<u64> {
        let f = self.object(at, v, "expected_units")?;
        let default = DEFAULT_EXPECTED_UNITS;
        self.opt_uint(f, "expected_units", MAX_EXPECTED_UNITS, default)
            .filter(|n| {
                let reason = format!("must be at least {MIN_EXPECTED_UNITS}");
                self.check(*n >= MIN_EXPECTED_UNITS, &at.key("expected_units"), &reason)
            })
    }

    fn matcher(&mut self, at: &Path, v: &Value) -> Option<Matcher> {
        let f = self.object(at, v, "host, path_prefix, methods")?;
        let host = self.opt_str(f, "host").flatten().filter(|h| {
            let ok = !h.is_empty() && !h.contains(['/', ' ', ':']);
            self.check(
                ok,
                &at.key("host"),
                "expected a bare host name without port",
            )
        });
        let path_prefix = self
            .opt_str(f, "path_prefix")
            .map(|p| p.unwrap_or_else(|| "/".to_string()))
            .filter(|p| {
                let reason = "must start with '/' (otherwise the route can never match)";
                self.check(p.starts_with('/'), &at.key("path_prefix"), reason)
            });
        let methods = self.opt(f, "methods", Self::methods)?;
        Some(Matcher {
            host: host.map(|h| h.to_ascii_lowercase()),
            path_prefix: path_prefix?,
            methods,
        })
    }

    fn unit_sources(&mut self, at: &Path, v: &Value) -> Vec<UnitSource> {
        let mut out = Vec::new();
        let Some(arr) = self.array(at, v) else {
            return out;
        };
        for (i, s) in arr.iter().enumerate() {
            let p = at.at(i);
            let Some(f) = self.object(&p, s, "header, cookie, query") else {
                continue;
            };
            let one = "expected exactly one of header, cookie, query";
            if !self.check(f.obj.len() == 1, &p, one) {
                continue;
            }
            for (k, val) in f.obj {
                let kp = p.key(k);
                let Some(name) = self.string(&kp, val) else {
                    continue;
                };
                let ok = !name.is_empty() && name.len() <= 256;
                if !self.check(ok, &kp, "name must be 1-256 characters") {
                    continue;
                }
                out.push(match k.as_str() {
                    "header" => UnitSource::Header(name.to_ascii_lowercase()),
                    "cookie" => UnitSource::Cookie(name),
                    _ => UnitSource::Query(name),
                });
            }
        }
        out
    }

    fn arms(&mut self, at: &Path, v: &Value, weighted: bool) -> Vec<Arm> {
        let mut out: Vec<Arm> = Vec::new();
        let Some(arr) = self.array(at, v) else {
            return out;
        };
        self.check(!arr.is_empty(), at, "at least one arm is required");
        let allowed = if weighted {
            "name, origin, weight"
        } else {
            "name, origin"
        };
        for (i, a) in arr.iter().enumerate() {
            let p = at.at(i);
            let Some(f) = self.object(&p, a, allowed) else {
                continue;
            };
            let name = self.req_name(f, "name");
            let origin = self.req_origin(f, "origin");
            let weight = if weighted {
                self.req(f, "weight")
                    .and_then(|w| self.number(&p.key("weight"), w))
                    .filter(|w| {
                        self.check(*w >= 0.0, &p.key("weight"), "weight must not be negative")
                    })
            } else {
                Some(1.0)
            };
            if let (Some(name), Some(origin), Some(weight)) = (name, origin, weight) {
                if out.iter().any(|o| o.name == name) {
                    self.err(&p.key("name"), format!("duplicate arm name {name:?}"));
                    continue;
                }
                let key = arm_key(&name);
                out.push(Arm {
                    name,
                    origin,
                    weight,
                    key,
                });
            }
        }
        if weighted && !out.is_empty() && out.iter().all(|a| a.weight == 0.0) {
            self.err(at, "weights are all zero: no arm could ever be chosen");
        }
        out
    }

    fn strategy(
        &mut self,
        at: &Path,
        v: &Value,
        route: &str,
        split_salt: &mut String,
    ) -> Option<Strategy> {
        let kind = v.get("kind").and_then(Value::as_str).unwrap_or("");
        let allowed = match kind {
            "ab" => "kind, arms, guard, salt",
            "canary" => "kind, stable, canary, percent, steps, guard, salt",
            "flag" => "kind, default, flags",
            "blue_green" => "kind, blue, green, active, failover, preview_header",
            "rolling" => "kind, from, to, batches, completed, interval_s, guard, salt",
            "recreate" => "kind, origin, health_path",
            "bandit" => {
                "kind, arms, algorithm, epsilon, min_share, min_samples, sticky, feedback, salt"
            }
            _ => {
                let reason =
                    "expected one of: ab, canary, flag, blue_green, rolling, recreate, bandit";
                return self.fail(&at.key("kind"), reason);
            }
        };
        let f = self.object(at, v, allowed)?;
        if let Some(s) = self.opt_str(f, "salt").flatten() {
            split_salt.push(':');
            split_salt.push_str(&s);
        }
        match kind {
            "ab" => {
                let arms = self
                    .req(f, "arms")
                    .map(|a| self.arms(&at.key("arms"), a, true));
                let guard = self.opt(f, "guard", Self::ab_guard);
                Some(Strategy::Ab {
                    arms: arms?,
                    guard: guard?,
                })
            }
            "canary" => {
                let stable = self.req_origin(f, "stable");
                let canary = self.req_origin(f, "canary");
                let percent = self.req_percent(f, "percent");
                let steps_at = at.key("steps");
                let mut steps: Vec<CanaryStep> = Vec::new();
                for (i, st) in self.list(f, "steps").iter().enumerate() {
                    let p = steps_at.at(i);
                    let Some(s) = self.object(&p, st, "percent, hold_s") else {
                        continue;
                    };
                    let pc = self.req_percent(s, "percent");
                    let hold = self.req_uint(s, "hold_s", 30 * 86_400);
                    if let (Some(pc), Some(hold)) = (pc, hold) {
                        let ok = steps.last().is_none_or(|l| l.percent_ppm <= pc);
                        self.check(ok, &p.key("percent"), "steps must not decrease");
                        steps.push(CanaryStep {
                            percent_ppm: pc,
                            hold_s: hold as u32,
                        });
                    }
                }
                let guard = self.opt(f, "guard", Self::guard).flatten();
                if let (Some(s), Some(c)) = (stable, canary) {
                    let reason = "canary and stable must be different origins";
                    self.check(s != c, &at.key("canary"), reason);
                }
                Some(Strategy::Canary {
                    stable: stable?,
                    canary: canary?,
                    percent_ppm: percent?,
                    steps,
                    guard,
                })
            }
            "flag" => {
                let default = self.req_origin(f, "default");
                let flags_at = at.key("flags");
                let mut flags: Vec<OriginFlag> = Vec::new();
                let arr = self
                    .req(f, "flags")
                    .and_then(|fl| self.array(&flags_at, fl));
                for (i, fv) in arr.into_iter().flatten().enumerate() {
                    let p = flags_at.at(i);
                    let Some(flag) = self.flag(&p, fv, route, true) else {
                        continue;
                    };
                    // `flag` accepted `fv` as an object.
                    let Some(obj) = fv.as_object() else {
                        continue;
                    };
                    let Some(o) = self.req_origin(Fields { obj, at: &p }, "origin") else {
                        continue;
                    };
                    if flags.iter().any(|x| x.flag.name == flag.name) {
                        self.err(&p.key("name"), "duplicate flag name");
                    }
                    flags.push(OriginFlag { flag, origin: o });
                }
                Some(Strategy::Flag {
                    default: default?,
                    flags,
                })
            }
            "blue_green" => {
                let blue = self.req_origin(f, "blue");
                let green = self.req_origin(f, "green");
                let active = self.req(f, "active").and_then(|a| {
                    let reason = "expected \"blue\" or \"green\"";
                    self.choice(&at.key("active"), a, "blue, green", reason)
                });
                let failover = self.opt_bool(f, "failover", false);
                let preview_header = self.opt_str(f, "preview_header").flatten();
                Some(Strategy::BlueGreen {
                    blue: blue?,
                    green: green?,
                    active: [Side::Blue, Side::Green][active?],
                    failover: failover?,
                    preview_header: preview_header.map(|h| h.to_ascii_lowercase()),
                })
            }
            "rolling" => {
                let from = self.req_origin(f, "from");
                let to = self.req_origin(f, "to");
                let batches = self.req_uint(f, "batches", 10_000);
                if batches == Some(0) {
                    self.err(&at.key("batches"), "must be at least 1");
                }
                let completed = self.opt_uint(f, "completed", 10_000, 0);
                if let (Some(b), Some(c)) = (batches, completed) {
                    if c > b {
                        let reason = format!("completed {c} exceeds batches {b}");
                        self.err(&at.key("completed"), reason);
                    }
                }
                // Every field is validated before any `?`, so one bad field never hides
                // another's error.
                let interval_s = self.opt(f, "interval_s", |me, at, v| me.uint(at, v, 30 * 86_400));
                let guard = self.opt(f, "guard", Self::guard).flatten();
                Some(Strategy::Rolling {
                    guard,
                    from: from?,
                    to: to?,
                    batches: batches.filter(|b| *b > 0)? as u32,
                    completed: completed? as u32,
                    interval_s: interval_s?.map(|i| i as u32),
                })
            }
            "recreate" => {
                let o = self.req_origin(f, "origin");
                let health_path = self.opt_str(f, "health_path").flatten().filter(|h| {
                    self.check(
                        h.starts_with('/'),
                        &at.key("health_path"),
                        "must start with '/'",
                    )
                });
                Some(Strategy::Recreate {
                    origin: o?,
                    health_path,
                })
            }
            _ => {
                // bandit
                let arms = self
                    .req(f, "arms")
                    .map(|a| self.arms(&at.key("arms"), a, false));
                let algorithm = self.opt_choice(
                    f,
                    "algorithm",
                    "thompson, ucb1, epsilon_greedy",
                    "expected thompson, ucb1 or epsilon_greedy",
                );
                let unit = (0.0, 1.0, false);
                let between = "must be between 0 and 1";
                let epsilon = self.opt_ranged(f, "epsilon", unit, between);
                let min_share = self.opt_ranged(f, "min_share", unit, between);
                let min_share = min_share.map(|m| m.unwrap_or(0.01));
                let min_samples = self.opt_uint(f, "min_samples", 1_000_000_000, 100);
                let sticky = self.opt_bool(f, "sticky", true);
                let feedback = self.opt_choice(
                    f,
                    "feedback",
                    "auto, conversion, explicit",
                    "expected auto, conversion or explicit",
                );
                if let (Some(arms), Some(ms)) = (&arms, min_share) {
                    if ms * arms.len() as f64 > 1.0 + 1e-9 {
                        let reason = format!(
                            "min_share {} times {} arms exceeds 1",
                            display_f64(ms),
                            arms.len()
                        );
                        self.err(&at.key("min_share"), reason);
                    }
                }
                use BanditAlgorithm::*;
                use RewardFeedback::*;
                Some(Strategy::Bandit {
                    arms: arms?,
                    algorithm: [Thompson, Ucb1, EpsilonGreedy][algorithm?],
                    epsilon: epsilon?.unwrap_or(0.1),
                    min_share: min_share?,
                    min_samples: min_samples?,
                    sticky: sticky?,
                    feedback: [Auto, Conversion, Explicit][feedback?],
                })
            }
        }
    }

    /// An A/B route's guard: the canary guard's fields plus `action` (`stop`, the default,
    /// or `drain`); at least one limit is required.
    fn ab_guard(&mut self, at: &Path, v: &Value) -> Option<AbGuard> {
        let f = self.object(
            at,
            v,
            "max_error_rate, max_p95_latency_ratio, min_requests, action",
        )?;
        let action = self.opt_choice(f, "action", "stop, drain", "expected stop or drain");
        let guard = self.guard_fields(f);
        if let Some(Guard {
            max_error_rate: None,
            max_p95_latency_ratio: None,
            ..
        }) = guard
        {
            let reason =
                "set max_error_rate or max_p95_latency_ratio (a guard without a limit never acts)";
            return self.fail(at, reason);
        }
        Some(AbGuard {
            guard: guard?,
            action: [AbGuardAction::Stop, AbGuardAction::Drain][action?],
        })
    }

    fn guard(&mut self, at: &Path, v: &Value) -> Option<Guard> {
        let f = self.object(at, v, "max_error_rate, max_p95_latency_ratio, min_requests")?;
        self.guard_fields(f)
    }

    fn guard_fields(&mut self, f: Fields) -> Option<Guard> {
        let max_error_rate = self.opt_ranged(
            f,
            "max_error_rate",
            (0.0, 1.0, true),
            "must be above 0 and at most 1",
        );
        let max_p95 = self.opt_ranged(
            f,
            "max_p95_latency_ratio",
            (0.0, 1_000.0, true),
            "must be above 0 and at most 1000",
        );
        let min_requests = self.opt_uint(f, "min_requests", u64::MAX, 100);
        Some(Guard {
            max_error_rate: max_error_rate?,
            max_p95_latency_ratio: max_p95?,
            min_requests: min_requests?,
        })
    }

    fn flag(&mut self, at: &Path, v: &Value, route: &str, with_origin: bool) -> Option<Flag> {
        let allowed = if with_origin {
            "name, origin, rollout, rules, description"
        } else {
            "name, rollout, rules, description"
        };
        let f = self.object(at, v, allowed)?;
        let name = self.req_name(f, "name");
        let rollout = self.opt_percent(f, "rollout", PPM);
        let rules_at = at.key("rules");
        let mut rules = Vec::new();
        for (i, rv) in self.list(f, "rules").iter().enumerate() {
            rules.extend(self.rule(&rules_at.at(i), rv));
        }
        let name = name?;
        Some(Flag {
            salt: format!("{route}:flag:{name}"),
            name,
            rollout_ppm: rollout?,
            rules,
        })
    }

    fn rule(&mut self, at: &Path, v: &Value) -> Option<Rule> {
        let f = self.object(at, v, "attr, op, values")?;
        let attr = self.req_str(f, "attr").and_then(|a| match parse_attr(&a) {
            Some(Attr::Header(n) | Attr::Cookie(n) | Attr::Query(n)) if n.is_empty() => {
                self.fail(&at.key("attr"), "attribute name is empty")
            }
            None => self.fail(
                &at.key("attr"),
                format!(
                    "unknown attribute {a:?} (header:<name>, cookie:<name>, query:<name>, country)"
                ),
            ),
            attr => attr,
        });
        let values_at = at.key("values");
        let values: Option<Vec<String>> = self
            .req(f, "values")
            .and_then(|vs| self.array(&values_at, vs))
            .map(|arr| {
                arr.iter()
                    .enumerate()
                    .filter_map(|(i, x)| self.string(&values_at.at(i), x))
                    .collect()
            });
        let op_name = self.req_str(f, "op");
        let (values, op_name) = (values?, op_name?);
        if !self.check(
            !values.is_empty(),
            &values_at,
            "at least one value is required",
        ) {
            return None;
        }
        let single = |me: &mut Self| match &values[..] {
            [one] => Some(one.clone()),
            _ => me.fail(&values_at, format!("op {op_name} takes exactly one value")),
        };
        let op = match op_name.as_str() {
            "eq" => Op::Eq(single(self)?),
            "in" => Op::In(values.clone()),
            "prefix" => Op::Prefix(values.clone()),
            "semver_gte" => {
                let s = single(self)?;
                match Semver::parse(&s) {
                    Some(v) => Op::SemverGte(v),
                    None => return self.fail(&values_at.at(0), format!("{s:?} is not a version")),
                }
            }
            other => {
                let reason = format!("unknown op {other:?} (eq, in, prefix, semver_gte)");
                return self.fail(&at.key("op"), reason);
            }
        };
        Some(Rule { attr: attr?, op })
    }

    fn shadows(&mut self, at: &Path, v: &Value, route: &str) -> Vec<Shadow> {
        let mut out: Vec<Shadow> = Vec::new();
        for (i, s) in self
            .array(at, v)
            .map_or(&[][..], Vec::as_slice)
            .iter()
            .enumerate()
        {
            let p = at.at(i);
            let Some(shadow) = self.shadow(&p, s, route) else {
                continue;
            };
            if out.iter().any(|o| o.origin == shadow.origin) {
                self.err(&p.key("origin"), "the same origin is mirrored twice");
                continue;
            }
            out.push(shadow);
        }
        out
    }

    fn shadow(&mut self, at: &Path, v: &Value, route: &str) -> Option<Shadow> {
        let allowed = "origin, percent, methods, max_body_bytes, timeout_ms, compare";
        let f = self.object(at, v, allowed)?;
        let origin = self.req_origin(f, "origin");
        let percent = self.opt_percent(f, "percent", PPM);
        let methods = self.opt(f, "methods", Self::methods);
        let max_body = self.opt_uint(f, "max_body_bytes", 100 << 20, DEFAULT_SHADOW_MAX_BODY);
        let timeout = self.opt_uint(f, "timeout_ms", 300_000, DEFAULT_SHADOW_TIMEOUT_MS as u64);
        let compare = self.opt(f, "compare", |me, at, c| {
            let spec = crate::observe::Compare::from_value(c);
            spec.map_err(|e| me.err(at, format!("invalid compare spec: {e}")))
                .ok()
        });
        let origin = origin?;
        Some(Shadow {
            salt: format!("{route}:shadow:{}", self.origin_names[origin.index()]),
            origin,
            percent_ppm: percent?,
            methods: methods?,
            max_body_bytes: max_body?,
            timeout_ms: timeout? as u32,
            compare: compare?,
        })
    }
}

/// A rule's `attr`: `header:<name>`, `cookie:<name>`, `query:<name>` or `country`.
fn parse_attr(a: &str) -> Option<Attr> {
    if a == "country" {
        return Some(Attr::Country);
    }
    let (kind, name) = a.split_once(':')?;
    match kind {
        "header" => Some(Attr::Header(name.to_ascii_lowercase())),
        "cookie" => Some(Attr::Cookie(name.to_string())),
        "query" => Some(Attr::Query(name.to_string())),
        _ => None,
    }
}

/// Whether `s` is a valid route name: 1-64 characters of `[A-Za-z0-9_-]`.
pub fn valid_route_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_NAME
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_'))
}

/// Every key that occurs more than once in one object of `text`, with its JSON path
/// (`$.routes[0].strategy.kind`), in document order. `text` has already been parsed by
/// serde_json (so it is valid JSON and nested at most 128 deep); the scan never panics on
/// anything else either. Keys are compared after unescaping (`"a"` and `"\u0061"` are the
/// same key). Each object's keys are sorted once, so a huge object costs O(k log k).
pub fn duplicate_keys(text: &str) -> Vec<ConfigError> {
    let mut scan = KeyScan {
        text,
        b: text.as_bytes(),
        i: 0,
        errors: Vec::new(),
    };
    scan.value(&ROOT, 0);
    scan.errors
}

struct KeyScan<'a> {
    text: &'a str,
    b: &'a [u8],
    i: usize,
    errors: Vec<ConfigError>,
}

impl KeyScan<'_> {
    fn ws(&mut self) {
        while self.b.get(self.i).is_some_and(u8::is_ascii_whitespace) {
            self.i += 1;
        }
    }

    fn value(&mut self, path: &Path, depth: u32) {
        self.ws();
        match self.b.get(self.i) {
            Some(b'{') if depth < 256 => self.object(path, depth),
            Some(b'[') if depth < 256 => {
                self.i += 1;
                let mut n = 0usize;
                loop {
                    self.ws();
                    match self.b.get(self.i) {
                        Some(b']') => {
                            self.i += 1;
                            return;
                        }
                        Some(b',') => self.i += 1,
                        None => return,
                        Some(_) => {
                            let before = self.i;
                            self.value(&path.at(n), depth + 1);
                            n += 1;
                            if self.i == before {
                                self.i += 1; // not JSON: never loop
                            }
                        }
                    }
                }
            }
            Some(b'"') => {
                self.string();
            }
            Some(_) => {
                while self
                    .b
                    .get(self.i)
                    .is_some_and(|c| !matches!(c, b',' | b']' | b'}' | b'"' | b'{' | b'['))
                    && !self.b.get(self.i).is_some_and(u8::is_ascii_whitespace)
                {
                    self.i += 1;
                }
            }
            None => {}
        }
    }

    /// The key or string at `self.i` (an opening quote), unescaped when it needs it.
    fn string(&mut self) -> Option<std::borrow::Cow<'_, str>> {
        let start = self.i;
        self.i += 1;
        let mut escaped = false;
        loop {
            match self.b.get(self.i) {
                None => return None,
                Some(b'\\') => {
                    escaped = true;
                    self.i += 2;
                }
                Some(b'"') => {
                    self.i += 1;
                    break;
                }
                Some(_) => self.i += 1,
            }
        }
        let raw = self.text.get(start..self.i)?;
        if escaped {
            // Through `Value`, not `String`: a typed `from_str` links serde's error paths
            // (and core's float printing) into the router.
            match serde_json::from_str::<Value>(raw) {
                Ok(Value::String(s)) => Some(std::borrow::Cow::Owned(s)),
                _ => None,
            }
        } else {
            raw.get(1..raw.len() - 1).map(std::borrow::Cow::Borrowed)
        }
    }

    fn object(&mut self, path: &Path, depth: u32) {
        self.i += 1;
        let mut keys: Vec<String> = Vec::new();
        loop {
            self.ws();
            match self.b.get(self.i) {
                Some(b'}') => {
                    self.i += 1;
                    break;
                }
                Some(b',') => self.i += 1,
                Some(b'"') => {
                    let Some(key) = self.string().map(|k| k.into_owned()) else {
                        break;
                    };
                    self.ws();
                    if self.b.get(self.i) == Some(&b':') {
                        self.i += 1;
                    }
                    let before = self.i;
                    self.value(&path.key(&key), depth + 1);
                    if self.i == before && self.b.get(self.i).is_some_and(|c| *c != b'}') {
                        self.i += 1;
                    }
                    keys.push(key);
                }
                None => break,
                Some(_) => self.i += 1, // not JSON: skip
            }
        }
        if keys.len() < 2 {
            return;
        }
        // Report each duplicated key once, in document order, with how often it occurs.
        let sorted = crate::base::sorted_indices(keys.len(), &|a, b| keys[a].cmp(&keys[b]));
        let sorted = sorted.iter().map(|&i| keys[i].as_str());
        let mut dups: Vec<(&str, usize, bool)> = Vec::new();
        for k in sorted {
            match dups.last_mut() {
                Some((last, n, _)) if *last == k => *n += 1,
                _ => dups.push((k, 1, false)),
            }
        }
        dups.retain(|d| d.1 > 1);
        for key in &keys {
            if let Ok(at) = dups.binary_search_by(|d| d.0.cmp(key.as_str())) {
                let (_, n, reported) = &mut dups[at];
                if !*reported {
                    *reported = true;
                    self.errors.push(ConfigError {
                        path: path.key(key).render(),
                        reason: format!(
                            "duplicate key {key:?} ({n} times in one object; JSON keeps only the last)"
                        ),
                    });
                }
            }
        }
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Validates an origin URL and returns its base (no trailing slash, no query or fragment).
fn origin_base(url: &str) -> Result<String, String> {
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))
        .ok_or_else(|| format!("{url:?} must start with http:// or https://"))?;
    if url.contains(['?', '#', ' ', '\\', '@']) {
        return Err(format!(
            "{url:?} must not contain a query, fragment, credentials or spaces"
        ));
    }
    let authority = rest.split('/').next().unwrap_or("");
    if authority.is_empty() {
        return Err(format!("{url:?} has no host"));
    }
    Ok(url.trim_end_matches('/').to_string())
}

/// Whether every request `later` matches is already matched by `earlier`.
fn shadows_matcher(earlier: &Matcher, later: &Matcher) -> bool {
    let host = earlier.host.is_none() || earlier.host == later.host;
    let methods = match (&earlier.methods, &later.methods) {
        (None, _) => true,
        (Some(_), None) => false,
        (Some(e), Some(l)) => l.iter().all(|m| e.contains(m)),
    };
    host && methods && prefix_covers(&earlier.path_prefix, &later.path_prefix)
}

/// Whether every path under `later` is also under `earlier` (segment-boundary semantics).
fn prefix_covers(earlier: &str, later: &str) -> bool {
    path_matches(earlier, later)
}

/// Segment-boundary prefix match: `/v1/fraud` matches `/v1/fraud` and `/v1/fraud/x`, not
/// `/v1/fraudster`. A prefix ending in `/` matches anything below it.
pub fn path_matches(prefix: &str, path: &str) -> bool {
    if prefix == "/" {
        return true;
    }
    match path.strip_prefix(prefix) {
        Some(rest) => rest.is_empty() || prefix.ends_with('/') || rest.starts_with('/'),
        None => false,
    }
}

/// Percent to parts per million for values written by the controller: clamped to 0–100 and
/// rounded, `None` only when not a number.
pub fn percent_to_ppm_lenient(p: f64) -> Option<u32> {
    if p.is_nan() {
        return None;
    }
    Some((p.clamp(0.0, 100.0) * 10_000.0).round() as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_accepts_alerts_and_reports_their_paths() {
        let base = r#"{"version":1,"origins":{"a":{"url":"http://127.0.0.1:1"}},"routes":[],"alerts":ALERTS}"#;
        let ok = parse(&base.replace(
            "ALERTS",
            r#"{"webhooks":[{"url":"http://127.0.0.1:2/hook","events":["rollback","step"]}]}"#,
        ))
        .unwrap();
        assert_eq!(ok.alerts.len(), 1);
        let bad = parse(&base.replace("ALERTS", r#"{"webhooks":[{"url":"nope"}]}"#)).unwrap_err();
        assert_eq!(bad[0].path, "$.alerts.webhooks[0].url");
    }
}
