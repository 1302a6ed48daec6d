//! Config schema v1: parsing and validation (DESIGN.md section 4).
//!
//! The whole document is walked once and every problem is reported with its JSON path; a
//! [`Config`] exists only when there are none, so a bad config can never be half-applied.
//! Validated types carry resolved origin indices, shares in parts per million and
//! precomputed salts and rendezvous keys, so strategies never re-check or re-hash names.

use std::fmt;

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::bucket::{arm_key, PPM};
// Floats in messages go through `display_f64` (same text as `{}`): `{}` on an f64 links
// core's float printing into the router (~7 KB gzip).
use crate::numfmt::display_f64;

/// One validation problem: where (`$.routes[0].strategy.percent`) and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub path: String,
    pub reason: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.reason)
    }
}

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
    pub compare: Option<crate::compare::Compare>,
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
}

/// Most ledger shards a route may have.
pub const MAX_FEEDBACK_SHARDS: u64 = 64;

#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Schema version (always 1).
    pub schema: u64,
    /// First 12 hex digits of SHA-256 of the config text: `x-switchyard-config`.
    pub id: String,
    pub default_origin: Option<OriginId>,
    pub origins: Vec<Origin>,
    pub routes: Vec<Route>,
    /// `$.alerts.webhooks` (`crate::alerts`).
    pub alerts: Vec<crate::alerts::Webhook>,
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
                v.err("$", "invalid config");
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

impl Validator {
    fn err(&mut self, path: &str, reason: impl Into<String>) {
        self.errors.push(ConfigError {
            path: path.to_string(),
            reason: reason.into(),
        });
    }

    /// The object at `path`, after reporting any key outside `allowed`.
    fn object<'v>(&mut self, path: &str, v: &'v Value, allowed: &[&str]) -> Option<&'v Obj> {
        let Some(obj) = v.as_object() else {
            self.err(path, format!("expected an object, found {}", type_name(v)));
            return None;
        };
        for key in obj.keys() {
            if !allowed.contains(&key.as_str()) {
                self.err(
                    &join(path, key),
                    format!("unknown field (expected one of: {})", allowed.join(", ")),
                );
            }
        }
        Some(obj)
    }

    fn required<'v>(&mut self, path: &str, obj: &'v Obj, key: &str) -> Option<&'v Value> {
        let v = obj.get(key);
        if v.is_none() {
            self.err(&join(path, key), "missing required field");
        }
        v
    }

    fn string(&mut self, path: &str, v: &Value) -> Option<String> {
        match v.as_str() {
            Some(s) => Some(s.to_string()),
            None => {
                self.err(path, format!("expected a string, found {}", type_name(v)));
                None
            }
        }
    }

    fn name(&mut self, path: &str, v: &Value) -> Option<String> {
        let s = self.string(path, v)?;
        let ok = !s.is_empty()
            && s.len() <= MAX_NAME
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
        if !ok {
            self.err(
                path,
                format!("invalid name {s:?}: 1-{MAX_NAME} characters of [A-Za-z0-9._-]"),
            );
            return None;
        }
        Some(s)
    }

    /// A route name: it names the route's Durable Object and appears in URL paths
    /// (`/_switchyard/stats/<route>`) and KV keys, so no `.` (`.` and `..` are normalised
    /// away by URL parsers) and nothing that needs escaping.
    fn route_name(&mut self, path: &str, v: &Value) -> Option<String> {
        let s = self.string(path, v)?;
        if !valid_route_name(&s) {
            self.err(
                path,
                format!(
                    "invalid route name {s:?}: 1-{MAX_NAME} characters of [A-Za-z0-9_-] (no '.')"
                ),
            );
            return None;
        }
        Some(s)
    }

    fn number(&mut self, path: &str, v: &Value) -> Option<f64> {
        match v.as_f64() {
            Some(n) if n.is_finite() => Some(n),
            _ => {
                self.err(path, format!("expected a number, found {}", type_name(v)));
                None
            }
        }
    }

    fn uint(&mut self, path: &str, v: &Value, max: u64) -> Option<u64> {
        match v.as_u64() {
            Some(n) if n <= max => Some(n),
            Some(n) => {
                self.err(path, format!("{n} is above the maximum {max}"));
                None
            }
            None => {
                self.err(
                    path,
                    format!("expected a non-negative integer, found {}", type_name(v)),
                );
                None
            }
        }
    }

    fn boolean(&mut self, path: &str, v: &Value) -> Option<bool> {
        match v.as_bool() {
            Some(b) => Some(b),
            None => {
                self.err(
                    path,
                    format!("expected true or false, found {}", type_name(v)),
                );
                None
            }
        }
    }

    fn array<'v>(&mut self, path: &str, v: &'v Value) -> Option<&'v Vec<Value>> {
        match v.as_array() {
            Some(a) => Some(a),
            None => {
                self.err(path, format!("expected an array, found {}", type_name(v)));
                None
            }
        }
    }

    fn percent(&mut self, path: &str, v: &Value) -> Option<u32> {
        let p = self.number(path, v)?;
        match percent_to_ppm(p) {
            Some(ppm) => Some(ppm),
            None => {
                self.err(
                    path,
                    format!(
                        "percent {} must be 0-100 with at most 4 decimals",
                        display_f64(p)
                    ),
                );
                None
            }
        }
    }

    fn origin_ref(&mut self, path: &str, v: &Value) -> Option<OriginId> {
        let name = self.string(path, v)?;
        match self.origin_names.iter().position(|n| *n == name) {
            Some(i) => Some(OriginId(i as u16)),
            None => {
                self.err(path, format!("unknown origin {name:?}"));
                None
            }
        }
    }

    fn methods(&mut self, path: &str, v: &Value) -> Option<Vec<String>> {
        let arr = self.array(path, v)?;
        if arr.is_empty() {
            self.err(path, "an empty method list can never match");
            return None;
        }
        let mut out = Vec::with_capacity(arr.len());
        for (i, m) in arr.iter().enumerate() {
            let p = index(path, i);
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

    fn config(&mut self, v: &Value, id: String) -> Option<Config> {
        let obj = self.object(
            "$",
            v,
            &[
                "version",
                "default_origin",
                "origins",
                "routes",
                "description",
                "alerts",
            ],
        )?;
        let schema = match obj.get("version") {
            Some(ver) => match self.uint("$.version", ver, u64::MAX) {
                Some(1) => Some(1),
                Some(n) => {
                    self.err(
                        "$.version",
                        format!("unsupported schema version {n} (expected 1)"),
                    );
                    None
                }
                None => None,
            },
            None => {
                self.err("$.version", "missing required field");
                None
            }
        };

        let origins = match self.required("$", obj, "origins") {
            Some(o) => self.origins(o),
            None => Vec::new(),
        };
        self.origin_names = origins.iter().map(|o| o.name.clone()).collect();

        let default_origin = match obj.get("default_origin") {
            Some(Value::Null) | None => None,
            Some(d) => self.origin_ref("$.default_origin", d),
        };
        let routes = match self.required("$", obj, "routes") {
            Some(r) => self.routes(r),
            None => Vec::new(),
        };
        let alerts = crate::alerts::parse(obj.get("alerts"), &mut self.errors);
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
        let Some(obj) = v.as_object() else {
            self.err(
                "$.origins",
                format!("expected an object, found {}", type_name(v)),
            );
            return Vec::new();
        };
        if obj.is_empty() {
            self.err("$.origins", "at least one origin is required");
        }
        if obj.len() > u16::MAX as usize {
            self.err("$.origins", "too many origins");
            return Vec::new();
        }
        let mut out = Vec::new();
        for (name, o) in obj {
            let path = format!("$.origins.{name}");
            let Some(name) = self.name(&path, &Value::String(name.clone())) else {
                continue;
            };
            let Some(fields) = self.object(&path, o, &["url", "timeout_ms", "description"]) else {
                continue;
            };
            let base = self
                .required(&path, fields, "url")
                .and_then(|u| self.string(&join(&path, "url"), u))
                .and_then(|u| match origin_base(&u) {
                    Ok(b) => Some(b),
                    Err(why) => {
                        self.err(&join(&path, "url"), why);
                        None
                    }
                });
            let timeout_ms = match fields.get("timeout_ms") {
                Some(t) => self
                    .uint(&join(&path, "timeout_ms"), t, 300_000)
                    .map(|t| t as u32),
                None => Some(DEFAULT_TIMEOUT_MS),
            };
            if let (Some(base), Some(timeout_ms)) = (base, timeout_ms) {
                if timeout_ms == 0 {
                    self.err(&join(&path, "timeout_ms"), "must be at least 1");
                }
                out.push(Origin {
                    name,
                    base,
                    timeout_ms,
                });
            }
        }
        out
    }

    fn routes(&mut self, v: &Value) -> Vec<Route> {
        let Some(arr) = self.array("$.routes", v) else {
            return Vec::new();
        };
        let mut out: Vec<Route> = Vec::new();
        for (i, r) in arr.iter().enumerate() {
            let path = format!("$.routes[{i}]");
            if let Some(route) = self.route(&path, r) {
                if out.iter().any(|o| o.name == route.name) {
                    self.err(
                        &join(&path, "name"),
                        format!("duplicate route name {:?}", route.name),
                    );
                }
                if let Some(earlier) = out
                    .iter()
                    .find(|o| shadows_matcher(&o.matcher, &route.matcher))
                {
                    self.err(
                        &join(&path, "match"),
                        format!(
                            "route can never match: route {:?} before it matches every request it would",
                            earlier.name
                        ),
                    );
                }
                out.push(route);
            }
        }
        out
    }

    fn route(&mut self, path: &str, v: &Value) -> Option<Route> {
        let obj = self.object(
            path,
            v,
            &[
                "name",
                "match",
                "unit",
                "strategy",
                "shadow",
                "flags",
                "strip_prefix",
                "description",
                "feedback_shards",
            ],
        )?;
        let name = self
            .required(path, obj, "name")
            .and_then(|n| self.route_name(&join(path, "name"), n));
        let matcher = self
            .required(path, obj, "match")
            .and_then(|m| self.matcher(&join(path, "match"), m));
        let strip_prefix = match obj.get("strip_prefix") {
            None | Some(Value::Null) => None,
            Some(s) => self.string(&join(path, "strip_prefix"), s).and_then(|s| {
                if s.starts_with('/') && !s.ends_with('/') {
                    Some(s)
                } else {
                    self.err(
                        &join(path, "strip_prefix"),
                        "must start with '/' and not end with '/'",
                    );
                    None
                }
            }),
        };
        let unit = match obj.get("unit") {
            None => vec![
                UnitSource::Header("x-user-id".into()),
                UnitSource::Cookie("sy_uid".into()),
            ],
            Some(u) => self.unit_sources(&join(path, "unit"), u),
        };
        let rname = name.clone().unwrap_or_default();
        let strategy_value = self.required(path, obj, "strategy");
        let mut split_salt = format!("{rname}:split");
        let strategy = strategy_value
            .and_then(|s| self.strategy(&join(path, "strategy"), s, &rname, &mut split_salt));
        let shadows = match obj.get("shadow") {
            None => Vec::new(),
            Some(s) => self.shadows(&join(path, "shadow"), s, &rname),
        };
        let flags = match obj.get("flags") {
            None => Vec::new(),
            Some(f) => {
                let p = join(path, "flags");
                let mut flags = Vec::new();
                if let Some(arr) = self.array(&p, f) {
                    for (i, fv) in arr.iter().enumerate() {
                        if let Some(flag) = self.flag(&index(&p, i), fv, &rname, false) {
                            if flags.iter().any(|f: &Flag| f.name == flag.name) {
                                self.err(&format!("{p}[{i}].name"), "duplicate flag name");
                            }
                            flags.push(flag);
                        }
                    }
                }
                flags
            }
        };
        if shadows.len() > 32 {
            self.err(&join(path, "shadow"), "at most 32 shadows per route");
        }
        if flags.len() > 64 {
            self.err(&join(path, "flags"), "at most 64 flags per route");
        }
        let fingerprint = strategy_value
            // to_vec, not to_string: the same compact text without `Display for Value`'s
            // second serializer instantiation in the router.
            .map(|s| hex12(&Sha256::digest(serde_json::to_vec(s).unwrap_or_default())))
            .unwrap_or_default();
        let feedback_shards = match obj.get("feedback_shards") {
            None | Some(Value::Null) => Some(1),
            Some(v) => {
                let p = format!("{path}.feedback_shards");
                match self.uint(&p, v, MAX_FEEDBACK_SHARDS) {
                    Some(0) => {
                        self.err(&p, "must be at least 1");
                        None
                    }
                    n => n,
                }
            }
        };
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
        })
    }

    fn matcher(&mut self, path: &str, v: &Value) -> Option<Matcher> {
        let obj = self.object(path, v, &["host", "path_prefix", "methods"])?;
        let host = match obj.get("host") {
            None | Some(Value::Null) => None,
            Some(h) => self.string(&join(path, "host"), h).and_then(|h| {
                if h.is_empty() || h.contains(['/', ' ', ':']) {
                    self.err(
                        &join(path, "host"),
                        "expected a bare host name without port",
                    );
                    None
                } else {
                    Some(h.to_ascii_lowercase())
                }
            }),
        };
        let path_prefix = match obj.get("path_prefix") {
            None => Some("/".to_string()),
            Some(p) => self.string(&join(path, "path_prefix"), p).and_then(|p| {
                if p.starts_with('/') {
                    Some(p)
                } else {
                    self.err(
                        &join(path, "path_prefix"),
                        "must start with '/' (otherwise the route can never match)",
                    );
                    None
                }
            }),
        };
        let methods = match obj.get("methods") {
            None | Some(Value::Null) => None,
            Some(m) => Some(self.methods(&join(path, "methods"), m)?),
        };
        Some(Matcher {
            host,
            path_prefix: path_prefix?,
            methods,
        })
    }

    fn unit_sources(&mut self, path: &str, v: &Value) -> Vec<UnitSource> {
        let mut out = Vec::new();
        let Some(arr) = self.array(path, v) else {
            return out;
        };
        for (i, s) in arr.iter().enumerate() {
            let p = index(path, i);
            let Some(obj) = self.object(&p, s, &["header", "cookie", "query"]) else {
                continue;
            };
            if obj.len() != 1 {
                self.err(&p, "expected exactly one of header, cookie, query");
                continue;
            }
            for (k, val) in obj {
                let kp = join(&p, k);
                let Some(name) = self.string(&kp, val) else {
                    continue;
                };
                if name.is_empty() || name.len() > 256 {
                    self.err(&kp, "name must be 1-256 characters");
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

    fn arms(&mut self, path: &str, v: &Value, weighted: bool) -> Vec<Arm> {
        let mut out: Vec<Arm> = Vec::new();
        let Some(arr) = self.array(path, v) else {
            return out;
        };
        if arr.is_empty() {
            self.err(path, "at least one arm is required");
        }
        let allowed: &[&str] = if weighted {
            &["name", "origin", "weight"]
        } else {
            &["name", "origin"]
        };
        for (i, a) in arr.iter().enumerate() {
            let p = index(path, i);
            let Some(obj) = self.object(&p, a, allowed) else {
                continue;
            };
            let name = self
                .required(&p, obj, "name")
                .and_then(|n| self.name(&join(&p, "name"), n));
            let origin = self
                .required(&p, obj, "origin")
                .and_then(|o| self.origin_ref(&join(&p, "origin"), o));
            let weight = if weighted {
                self.required(&p, obj, "weight")
                    .and_then(|w| self.number(&join(&p, "weight"), w))
                    .and_then(|w| {
                        if w < 0.0 {
                            self.err(&join(&p, "weight"), "weight must not be negative");
                            None
                        } else {
                            Some(w)
                        }
                    })
            } else {
                Some(1.0)
            };
            if let (Some(name), Some(origin), Some(weight)) = (name, origin, weight) {
                if out.iter().any(|o| o.name == name) {
                    self.err(&join(&p, "name"), format!("duplicate arm name {name:?}"));
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
            self.err(path, "weights are all zero: no arm could ever be chosen");
        }
        out
    }

    fn strategy(
        &mut self,
        path: &str,
        v: &Value,
        route: &str,
        split_salt: &mut String,
    ) -> Option<Strategy> {
        let kind = v.get("kind").and_then(Value::as_str).unwrap_or("");
        let allowed: &[&str] = match kind {
            "ab" => &["kind", "arms", "guard", "salt"],
            "canary" => &[
                "kind", "stable", "canary", "percent", "steps", "guard", "salt",
            ],
            "flag" => &["kind", "default", "flags"],
            "blue_green" => &[
                "kind",
                "blue",
                "green",
                "active",
                "failover",
                "preview_header",
            ],
            "rolling" => &[
                "kind",
                "from",
                "to",
                "batches",
                "completed",
                "interval_s",
                "guard",
                "salt",
            ],
            "recreate" => &["kind", "origin", "health_path"],
            "bandit" => &[
                "kind",
                "arms",
                "algorithm",
                "epsilon",
                "min_share",
                "min_samples",
                "sticky",
                "feedback",
                "salt",
            ],
            _ => {
                self.err(
                    &join(path, "kind"),
                    "expected one of: ab, canary, flag, blue_green, rolling, recreate, bandit",
                );
                return None;
            }
        };
        let obj = self.object(path, v, allowed)?;
        let f = |k: &str| join(path, k);
        if let Some(s) = obj.get("salt") {
            if let Some(s) = self.string(&f("salt"), s) {
                split_salt.push(':');
                split_salt.push_str(&s);
            }
        }
        let origin = |me: &mut Self, key: &str| {
            me.required(path, obj, key)
                .and_then(|o| me.origin_ref(&join(path, key), o))
        };
        match kind {
            "ab" => {
                let arms = self
                    .required(path, obj, "arms")
                    .map(|a| self.arms(&f("arms"), a, true));
                let guard = match obj.get("guard") {
                    None | Some(Value::Null) => Some(None),
                    Some(g) => self.ab_guard(&f("guard"), g).map(Some),
                };
                Some(Strategy::Ab {
                    arms: arms?,
                    guard: guard?,
                })
            }
            "canary" => {
                let stable = origin(self, "stable");
                let canary = origin(self, "canary");
                let percent = self
                    .required(path, obj, "percent")
                    .and_then(|p| self.percent(&f("percent"), p));
                let mut steps = Vec::new();
                if let Some(s) = obj.get("steps") {
                    if let Some(arr) = self.array(&f("steps"), s) {
                        for (i, st) in arr.iter().enumerate() {
                            let p = format!("{path}.steps[{i}]");
                            let Some(so) = self.object(&p, st, &["percent", "hold_s"]) else {
                                continue;
                            };
                            let pc = self
                                .required(&p, so, "percent")
                                .and_then(|x| self.percent(&join(&p, "percent"), x));
                            let hold = self
                                .required(&p, so, "hold_s")
                                .and_then(|x| self.uint(&join(&p, "hold_s"), x, 30 * 86_400));
                            if let (Some(pc), Some(hold)) = (pc, hold) {
                                if steps
                                    .last()
                                    .is_some_and(|l: &CanaryStep| l.percent_ppm > pc)
                                {
                                    self.err(&join(&p, "percent"), "steps must not decrease");
                                }
                                steps.push(CanaryStep {
                                    percent_ppm: pc,
                                    hold_s: hold as u32,
                                });
                            }
                        }
                    }
                }
                let guard = obj.get("guard").and_then(|g| self.guard(&f("guard"), g));
                if let (Some(s), Some(c)) = (stable, canary) {
                    if s == c {
                        self.err(&f("canary"), "canary and stable must be different origins");
                    }
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
                let default = origin(self, "default");
                let mut flags = Vec::new();
                if let Some(fl) = self.required(path, obj, "flags") {
                    if let Some(arr) = self.array(&f("flags"), fl) {
                        for (i, fv) in arr.iter().enumerate() {
                            let p = format!("{path}.flags[{i}]");
                            let Some(flag) = self.flag(&p, fv, route, true) else {
                                continue;
                            };
                            let Some(o) = fv
                                .get("origin")
                                .and_then(|o| self.origin_ref(&join(&p, "origin"), o))
                            else {
                                if fv.get("origin").is_none() {
                                    self.err(&join(&p, "origin"), "missing required field");
                                }
                                continue;
                            };
                            if flags.iter().any(|x: &OriginFlag| x.flag.name == flag.name) {
                                self.err(&join(&p, "name"), "duplicate flag name");
                            }
                            flags.push(OriginFlag { flag, origin: o });
                        }
                    }
                }
                Some(Strategy::Flag {
                    default: default?,
                    flags,
                })
            }
            "blue_green" => {
                let blue = origin(self, "blue");
                let green = origin(self, "green");
                let active = self
                    .required(path, obj, "active")
                    .and_then(|a| match a.as_str() {
                        Some("blue") => Some(Side::Blue),
                        Some("green") => Some(Side::Green),
                        _ => {
                            self.err(&f("active"), "expected \"blue\" or \"green\"");
                            None
                        }
                    });
                let failover = match obj.get("failover") {
                    Some(b) => self.boolean(&f("failover"), b),
                    None => Some(false),
                };
                let preview_header = match obj.get("preview_header") {
                    None | Some(Value::Null) => None,
                    Some(h) => self
                        .string(&f("preview_header"), h)
                        .map(|h| h.to_ascii_lowercase()),
                };
                Some(Strategy::BlueGreen {
                    blue: blue?,
                    green: green?,
                    active: active?,
                    failover: failover?,
                    preview_header,
                })
            }
            "rolling" => {
                let from = origin(self, "from");
                let to = origin(self, "to");
                let batches = self
                    .required(path, obj, "batches")
                    .and_then(|b| self.uint(&f("batches"), b, 10_000));
                if batches == Some(0) {
                    self.err(&f("batches"), "must be at least 1");
                }
                let completed = match obj.get("completed") {
                    Some(c) => self.uint(&f("completed"), c, 10_000),
                    None => Some(0),
                };
                if let (Some(b), Some(c)) = (batches, completed) {
                    if c > b {
                        self.err(
                            &f("completed"),
                            format!("completed {c} exceeds batches {b}"),
                        );
                    }
                }
                // Every field is validated before any `?`, so one bad field never hides
                // another's error.
                let interval_s = match obj.get("interval_s") {
                    Some(i) => self
                        .uint(&f("interval_s"), i, 30 * 86_400)
                        .map(|i| Some(i as u32)),
                    None => Some(None),
                };
                let guard = obj.get("guard").and_then(|g| self.guard(&f("guard"), g));
                Some(Strategy::Rolling {
                    guard,
                    from: from?,
                    to: to?,
                    batches: batches.filter(|b| *b > 0)? as u32,
                    completed: completed? as u32,
                    interval_s: interval_s?,
                })
            }
            "recreate" => {
                let o = origin(self, "origin");
                let health_path = match obj.get("health_path") {
                    None | Some(Value::Null) => None,
                    Some(h) => self.string(&f("health_path"), h).and_then(|h| {
                        if h.starts_with('/') {
                            Some(h)
                        } else {
                            self.err(&f("health_path"), "must start with '/'");
                            None
                        }
                    }),
                };
                Some(Strategy::Recreate {
                    origin: o?,
                    health_path,
                })
            }
            _ => {
                // bandit
                let arms = self
                    .required(path, obj, "arms")
                    .map(|a| self.arms(&f("arms"), a, false));
                let algorithm = match obj.get("algorithm") {
                    None => Some(BanditAlgorithm::Thompson),
                    Some(a) => match a.as_str() {
                        Some("thompson") => Some(BanditAlgorithm::Thompson),
                        Some("ucb1") => Some(BanditAlgorithm::Ucb1),
                        Some("epsilon_greedy") => Some(BanditAlgorithm::EpsilonGreedy),
                        _ => {
                            self.err(&f("algorithm"), "expected thompson, ucb1 or epsilon_greedy");
                            None
                        }
                    },
                };
                let unit_float = |me: &mut Self, key: &str, default: f64| match obj.get(key) {
                    None => Some(default),
                    Some(x) => me.number(&join(path, key), x).and_then(|n| {
                        if (0.0..=1.0).contains(&n) {
                            Some(n)
                        } else {
                            me.err(&join(path, key), "must be between 0 and 1");
                            None
                        }
                    }),
                };
                let epsilon = unit_float(self, "epsilon", 0.1);
                let min_share = unit_float(self, "min_share", 0.01);
                let min_samples = match obj.get("min_samples") {
                    Some(m) => self.uint(&f("min_samples"), m, 1_000_000_000),
                    None => Some(100),
                };
                let sticky = match obj.get("sticky") {
                    Some(b) => self.boolean(&f("sticky"), b),
                    None => Some(true),
                };
                let feedback = match obj.get("feedback") {
                    None => Some(RewardFeedback::Auto),
                    Some(x) => match x.as_str() {
                        Some("auto") => Some(RewardFeedback::Auto),
                        Some("conversion") => Some(RewardFeedback::Conversion),
                        Some("explicit") => Some(RewardFeedback::Explicit),
                        _ => {
                            self.err(&f("feedback"), "expected auto, conversion or explicit");
                            None
                        }
                    },
                };
                if let (Some(arms), Some(ms)) = (&arms, min_share) {
                    if ms * arms.len() as f64 > 1.0 + 1e-9 {
                        self.err(
                            &f("min_share"),
                            format!(
                                "min_share {} times {} arms exceeds 1",
                                display_f64(ms),
                                arms.len()
                            ),
                        );
                    }
                }
                Some(Strategy::Bandit {
                    arms: arms?,
                    algorithm: algorithm?,
                    epsilon: epsilon?,
                    min_share: min_share?,
                    min_samples: min_samples?,
                    sticky: sticky?,
                    feedback: feedback?,
                })
            }
        }
    }

    /// An A/B route's guard: the canary guard's fields plus `action` (`stop`, the default,
    /// or `drain`); at least one limit is required.
    fn ab_guard(&mut self, path: &str, v: &Value) -> Option<AbGuard> {
        let obj = self.object(
            path,
            v,
            &[
                "max_error_rate",
                "max_p95_latency_ratio",
                "min_requests",
                "action",
            ],
        )?;
        let action = match obj.get("action") {
            None => Some(AbGuardAction::Stop),
            Some(a) => match a.as_str() {
                Some("stop") => Some(AbGuardAction::Stop),
                Some("drain") => Some(AbGuardAction::Drain),
                _ => {
                    self.err(&format!("{path}.action"), "expected stop or drain");
                    None
                }
            },
        };
        let mut limits = obj.clone();
        limits.remove("action");
        let guard = self.guard_fields(path, &limits);
        if let Some(g) = &guard {
            if g.max_error_rate.is_none() && g.max_p95_latency_ratio.is_none() {
                self.err(
                    path,
                    "set max_error_rate or max_p95_latency_ratio (a guard without a limit never acts)",
                );
                return None;
            }
        }
        Some(AbGuard {
            guard: guard?,
            action: action?,
        })
    }

    fn guard(&mut self, path: &str, v: &Value) -> Option<Guard> {
        let obj = self.object(
            path,
            v,
            &["max_error_rate", "max_p95_latency_ratio", "min_requests"],
        )?;
        self.guard_fields(path, obj)
    }

    fn guard_fields(&mut self, path: &str, obj: &Obj) -> Option<Guard> {
        let rate = |me: &mut Self, key: &str, max: f64| match obj.get(key) {
            None | Some(Value::Null) => Some(None),
            Some(x) => me.number(&join(path, key), x).and_then(|n| {
                if n > 0.0 && n <= max {
                    Some(Some(n))
                } else {
                    me.err(
                        &join(path, key),
                        format!("must be above 0 and at most {}", display_f64(max)),
                    );
                    None
                }
            }),
        };
        let max_error_rate = rate(self, "max_error_rate", 1.0);
        let max_p95 = rate(self, "max_p95_latency_ratio", 1_000.0);
        let min_requests = match obj.get("min_requests") {
            Some(m) => self.uint(&join(path, "min_requests"), m, u64::MAX),
            None => Some(100),
        };
        Some(Guard {
            max_error_rate: max_error_rate?,
            max_p95_latency_ratio: max_p95?,
            min_requests: min_requests?,
        })
    }

    fn flag(&mut self, path: &str, v: &Value, route: &str, with_origin: bool) -> Option<Flag> {
        let allowed: &[&str] = if with_origin {
            &["name", "origin", "rollout", "rules", "description"]
        } else {
            &["name", "rollout", "rules", "description"]
        };
        let obj = self.object(path, v, allowed)?;
        let name = self
            .required(path, obj, "name")
            .and_then(|n| self.name(&join(path, "name"), n));
        let rollout = match obj.get("rollout") {
            Some(r) => self.percent(&join(path, "rollout"), r),
            None => Some(PPM),
        };
        let mut rules = Vec::new();
        if let Some(r) = obj.get("rules") {
            if let Some(arr) = self.array(&join(path, "rules"), r) {
                for (i, rv) in arr.iter().enumerate() {
                    if let Some(rule) = self.rule(&format!("{path}.rules[{i}]"), rv) {
                        rules.push(rule);
                    }
                }
            }
        }
        let name = name?;
        Some(Flag {
            salt: format!("{route}:flag:{name}"),
            name,
            rollout_ppm: rollout?,
            rules,
        })
    }

    fn rule(&mut self, path: &str, v: &Value) -> Option<Rule> {
        let obj = self.object(path, v, &["attr", "op", "values"])?;
        let attr = self
            .required(path, obj, "attr")
            .and_then(|a| self.string(&join(path, "attr"), a))
            .and_then(|a| {
                let parsed = if a == "country" {
                    Some(Attr::Country)
                } else if let Some(h) = a.strip_prefix("header:") {
                    Some(Attr::Header(h.to_ascii_lowercase()))
                } else if let Some(c) = a.strip_prefix("cookie:") {
                    Some(Attr::Cookie(c.to_string()))
                } else {
                    a.strip_prefix("query:").map(|q| Attr::Query(q.to_string()))
                };
                match parsed {
                    Some(Attr::Header(n) | Attr::Cookie(n) | Attr::Query(n)) if n.is_empty() => {
                        self.err(&join(path, "attr"), "attribute name is empty");
                        None
                    }
                    None => {
                        self.err(
                            &join(path, "attr"),
                            format!("unknown attribute {a:?} (header:<name>, cookie:<name>, query:<name>, country)"),
                        );
                        None
                    }
                    p => p,
                }
            });
        let values: Option<Vec<String>> = self
            .required(path, obj, "values")
            .and_then(|vs| self.array(&join(path, "values"), vs))
            .map(|arr| {
                arr.iter()
                    .enumerate()
                    .filter_map(|(i, x)| self.string(&format!("{path}.values[{i}]"), x))
                    .collect()
            });
        let op_name = self
            .required(path, obj, "op")
            .and_then(|o| self.string(&join(path, "op"), o));
        let (values, op_name) = (values?, op_name?);
        if values.is_empty() {
            self.err(&join(path, "values"), "at least one value is required");
            return None;
        }
        let single = |me: &mut Self| {
            if values.len() == 1 {
                Some(values[0].clone())
            } else {
                me.err(
                    &join(path, "values"),
                    format!("op {op_name} takes exactly one value"),
                );
                None
            }
        };
        let op = match op_name.as_str() {
            "eq" => Op::Eq(single(self)?),
            "in" => Op::In(values.clone()),
            "prefix" => Op::Prefix(values.clone()),
            "semver_gte" => {
                let s = single(self)?;
                match Semver::parse(&s) {
                    Some(v) => Op::SemverGte(v),
                    None => {
                        self.err(
                            &format!("{path}.values[0]"),
                            format!("{s:?} is not a version"),
                        );
                        return None;
                    }
                }
            }
            other => {
                self.err(
                    &join(path, "op"),
                    format!("unknown op {other:?} (eq, in, prefix, semver_gte)"),
                );
                return None;
            }
        };
        Some(Rule { attr: attr?, op })
    }

    fn shadows(&mut self, path: &str, v: &Value, route: &str) -> Vec<Shadow> {
        let mut out: Vec<Shadow> = Vec::new();
        let Some(arr) = self.array(path, v) else {
            return out;
        };
        for (i, s) in arr.iter().enumerate() {
            let p = index(path, i);
            let Some(obj) = self.object(
                &p,
                s,
                &[
                    "origin",
                    "percent",
                    "methods",
                    "max_body_bytes",
                    "timeout_ms",
                    "compare",
                ],
            ) else {
                continue;
            };
            let origin = self
                .required(&p, obj, "origin")
                .and_then(|o| self.origin_ref(&join(&p, "origin"), o));
            let percent = match obj.get("percent") {
                Some(x) => self.percent(&join(&p, "percent"), x),
                None => Some(PPM),
            };
            let methods = match obj.get("methods") {
                None | Some(Value::Null) => Some(None),
                Some(m) => self.methods(&join(&p, "methods"), m).map(Some),
            };
            let max_body_bytes = match obj.get("max_body_bytes") {
                Some(m) => self.uint(&join(&p, "max_body_bytes"), m, 100 << 20),
                None => Some(DEFAULT_SHADOW_MAX_BODY),
            };
            let timeout_ms = match obj.get("timeout_ms") {
                Some(t) => self
                    .uint(&join(&p, "timeout_ms"), t, 300_000)
                    .map(|t| t as u32),
                None => Some(DEFAULT_SHADOW_TIMEOUT_MS),
            };
            let compare = match obj.get("compare") {
                None | Some(Value::Null) => Some(None),
                Some(c) => match crate::compare::Compare::from_value(c) {
                    Ok(spec) => Some(Some(spec)),
                    Err(e) => {
                        self.err(&join(&p, "compare"), format!("invalid compare spec: {e}"));
                        None
                    }
                },
            };
            if let (
                Some(origin),
                Some(percent_ppm),
                Some(methods),
                Some(max_body_bytes),
                Some(timeout_ms),
                Some(compare),
            ) = (
                origin,
                percent,
                methods,
                max_body_bytes,
                timeout_ms,
                compare,
            ) {
                if out.iter().any(|o| o.origin == origin) {
                    self.err(&join(&p, "origin"), "the same origin is mirrored twice");
                    continue;
                }
                out.push(Shadow {
                    salt: format!("{route}:shadow:{}", self.origin_names[origin.index()]),
                    origin,
                    percent_ppm,
                    methods,
                    max_body_bytes,
                    timeout_ms,
                    compare,
                });
            }
        }
        out
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
    scan.value("$", 0);
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

    fn value(&mut self, path: &str, depth: u32) {
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
                            self.value(&index(path, n), depth + 1);
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

    fn object(&mut self, path: &str, depth: u32) {
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
                    self.value(&join(path, &key), depth + 1);
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
        let sorted = crate::sort::sorted_indices(keys.len(), &|a, b| keys[a].cmp(&keys[b]));
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
                        path: join(path, key),
                        reason: format!(
                            "duplicate key {key:?} ({n} times in one object; JSON keeps only the last)"
                        ),
                    });
                }
            }
        }
    }
}

/// `path.key`: one out-of-line call instead of a `format!` at each of ~60 sites (the walker's
/// size in the router bundle).
#[inline(never)]
fn join(path: &str, key: &str) -> String {
    let mut s = String::with_capacity(path.len() + key.len() + 1);
    s.push_str(path);
    s.push('.');
    s.push_str(key);
    s
}

/// `path[i]`.
#[inline(never)]
fn index(path: &str, i: usize) -> String {
    format!("{path}[{i}]")
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
