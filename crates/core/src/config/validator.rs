//! The validator: one walk of the JSON value, top down, reporting every problem with its
//! JSON path. [`parse`] returns a config only when there is none, so a bad config can never
//! be half-applied. The strategy block is walked in `strategy.rs`, the field readers are in
//! `fields.rs`, the duplicate-key scan in `dupkeys.rs`.

use serde_json::Value;
use sha2::{Digest, Sha256};

use super::dupkeys::duplicate_keys;
use super::error::ConfigError;
use super::fields::{Fields, Validator};
use super::model::{
    path_matches, AbGuard, AbGuardAction, Arm, Attr, Config, DecisionLog, FeedbackAuth, Flag,
    Guard, Matcher, Op, Origin, RewardRange, Route, Rule, Semver, Shadow, Strategy, UnitSource,
    DEFAULT_EXPECTED_UNITS, DEFAULT_SHADOW_MAX_BODY, DEFAULT_SHADOW_TIMEOUT_MS, DEFAULT_TIMEOUT_MS,
    MAX_ABS_REWARD, MAX_EXPECTED_UNITS, MAX_FEEDBACK_SHARDS, MAX_LOG_CONTEXT, MAX_MIN_REQUESTS,
    MIN_EXPECTED_UNITS,
};
use super::model::{shadow_methods, MAX_CREDENTIALS, SHADOW_METHODS};
use super::path::{Path, ROOT};
use crate::base::{arm_key, display_f64, PPM};

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

impl Validator {
    // The document, top down.

    pub(super) fn config(&mut self, v: &Value, id: String) -> Option<Config> {
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
        self.opt_str(f, "description");
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

    pub(super) fn origins(&mut self, v: &Value) -> Vec<Origin> {
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
            let description = self.opt_str(f, "description");
            if let (Some(base), Some(timeout_ms), Some(_)) = (base, timeout_ms, description) {
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

    pub(super) fn routes(&mut self, v: &Value) -> Vec<Route> {
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

    pub(super) fn route(&mut self, at: &Path, v: &Value) -> Option<Route> {
        let f = self.object(
            at,
            v,
            "name, match, unit, strategy, shadow, flags, strip_prefix, description, feedback_shards, credentials, experiment, reward, feedback_auth, log",
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
        let route_methods = matcher.as_ref().and_then(|m| m.methods.clone());
        let mut shadows = match f.get("shadow") {
            None => Vec::new(),
            Some(s) => self.shadows(&at.key("shadow"), s, &rname, route_methods.as_deref()),
        };
        let credentials = match f.get("credentials") {
            None | Some(Value::Null) => Some(Vec::new()),
            Some(c) => self.credentials(&at.key("credentials"), c),
        };
        if let Some(Strategy::Canary {
            canary,
            gates: Some(g),
            ..
        }) = &strategy
        {
            if let Some(sg) = &g.shadow {
                let m = route_methods.as_deref();
                self.gate_mirror(&at.key("shadow"), &mut shadows, *canary, sg, &rname, m);
            }
        }
        // The lists as written (as the schema's maxItems counts them), not the entries that
        // validated.
        let count = |key: &str| f.get(key).and_then(Value::as_array).map_or(0, Vec::len);
        let (shadow_count, flag_count) = (count("shadow"), count("flags"));
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
            shadow_count <= 32,
            &at.key("shadow"),
            "at most 32 shadows per route",
        );
        self.check(flag_count <= 64, &flags_at, "at most 64 flags per route");
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
        let description = self.opt_str(f, "description");
        description?;
        let reward = self.opt(f, "reward", Self::reward_range);
        let feedback_auth = self.opt_choice(
            f,
            "feedback_auth",
            "receipt, token",
            "expected receipt or token",
        );
        let log = self.opt(f, "log", Self::decision_log);
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
            credentials: credentials?,
            expected_units: expected_units?,
            reward: reward?.unwrap_or_default(),
            feedback_auth: [FeedbackAuth::Receipt, FeedbackAuth::Token][feedback_auth?],
            log: log?.unwrap_or_default(),
        })
    }

    /// `reward`: `{"min", "max"}`, both finite, within `±MAX_ABS_REWARD`, `min < max`.
    pub(super) fn reward_range(&mut self, at: &Path, v: &Value) -> Option<RewardRange> {
        let f = self.object(at, v, "min, max")?;
        let bound = |me: &mut Self, key: &str| {
            let n = me.req(f, key).and_then(|n| me.number(&at.key(key), n))?;
            let ok = n.abs() <= MAX_ABS_REWARD;
            let reason = format!(
                "must be within [-{}, {}]",
                display_f64(MAX_ABS_REWARD),
                display_f64(MAX_ABS_REWARD)
            );
            me.check(ok, &at.key(key), &reason).then_some(n)
        };
        let min = bound(self, "min");
        let max = bound(self, "max");
        let (min, max) = (min?, max?);
        self.check(min < max, &at.key("max"), "must be greater than min")
            .then_some(RewardRange { min, max })
    }

    /// `log`: `{"decisions": bool, "context": ["header:x-country", ...]}`.
    pub(super) fn decision_log(&mut self, at: &Path, v: &Value) -> Option<DecisionLog> {
        let f = self.object(at, v, "decisions, context")?;
        let decisions = self.opt_bool(f, "decisions", true);
        let ctx_at = at.key("context");
        let items = self.list(f, "context");
        self.check(
            items.len() <= MAX_LOG_CONTEXT,
            &ctx_at,
            &format!("at most {MAX_LOG_CONTEXT} context attributes"),
        );
        let mut context: Vec<(String, Attr)> = Vec::new();
        for (i, item) in items.iter().enumerate().take(MAX_LOG_CONTEXT) {
            let p = ctx_at.at(i);
            let Some(name) = self.string(&p, item) else {
                continue;
            };
            match parse_attr(&name) {
                Some(Attr::Header(n) | Attr::Cookie(n) | Attr::Query(n)) if n.is_empty() => {
                    self.err(&p, "attribute name is empty")
                }
                Some(attr) => {
                    if context.iter().any(|(n, _)| *n == name) {
                        self.err(&p, format!("{name:?} is listed twice"));
                    } else {
                        context.push((name, attr));
                    }
                }
                None => self.err(
                    &p,
                    format!(
                        "unknown attribute {name:?} (header:<name>, cookie:<name>, query:<name>, country)"
                    ),
                ),
            }
        }
        Some(DecisionLog {
            decisions: decisions?,
            context,
        })
    }

    /// `credentials`: 1..=32 header names (any case; kept lower case).
    fn credentials(&mut self, at: &Path, v: &Value) -> Option<Vec<String>> {
        let arr = self.array(at, v)?;
        let mut ok = self.check(
            (1..=MAX_CREDENTIALS).contains(&arr.len()),
            at,
            &format!("1 to {MAX_CREDENTIALS} header names"),
        );
        let mut out: Vec<String> = Vec::with_capacity(arr.len());
        for (i, h) in arr.iter().enumerate() {
            let p = at.at(i);
            let Some(name) = self.string(&p, h) else {
                ok = false;
                continue;
            };
            if name.is_empty() || name.len() > 256 || !name.bytes().all(is_tchar) {
                ok = self.check(false, &p, &format!("invalid header name {name:?}"));
                continue;
            }
            out.push(name.to_ascii_lowercase());
        }
        ok.then_some(out)
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

    pub(super) fn matcher(&mut self, at: &Path, v: &Value) -> Option<Matcher> {
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

    pub(super) fn unit_sources(&mut self, at: &Path, v: &Value) -> Vec<UnitSource> {
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
                // Characters, as the schema's maxLength counts them.
                let ok = !name.is_empty() && name.chars().count() <= 256;
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

    pub(super) fn arms(&mut self, at: &Path, v: &Value, weighted: bool) -> Vec<Arm> {
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
        // Whether any arm is written with a positive weight (an arm with another problem
        // included: that problem is reported on its own).
        let mut any_positive = false;
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
            any_positive |= weight.is_some_and(|w| w > 0.0);
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
        if weighted && !arr.is_empty() && !any_positive {
            self.err(
                at,
                "no arm has a positive weight: no arm could ever be chosen",
            );
        }
        out
    }

    /// An A/B route's guard: the canary guard's fields plus `action` (`stop`, the default,
    /// or `drain`); at least one limit is required.
    pub(super) fn ab_guard(&mut self, at: &Path, v: &Value) -> Option<AbGuard> {
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

    pub(super) fn guard(&mut self, at: &Path, v: &Value) -> Option<Guard> {
        let f = self.object(at, v, "max_error_rate, max_p95_latency_ratio, min_requests")?;
        self.guard_fields(f)
    }

    pub(super) fn guard_fields(&mut self, f: Fields) -> Option<Guard> {
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
        let min_requests = self.opt_uint(f, "min_requests", MAX_MIN_REQUESTS, 100);
        Some(Guard {
            max_error_rate: max_error_rate?,
            max_p95_latency_ratio: max_p95?,
            min_requests: min_requests?,
        })
    }

    pub(super) fn flag(
        &mut self,
        at: &Path,
        v: &Value,
        route: &str,
        with_origin: bool,
    ) -> Option<Flag> {
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
        let description = self.opt_str(f, "description");
        description?;
        Some(Flag {
            salt: format!("{route}:flag:{name}"),
            name,
            rollout_ppm: rollout?,
            rules,
        })
    }

    pub(super) fn rule(&mut self, at: &Path, v: &Value) -> Option<Rule> {
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

    pub(super) fn shadows(
        &mut self,
        at: &Path,
        v: &Value,
        route: &str,
        route_methods: Option<&[String]>,
    ) -> Vec<Shadow> {
        let mut out: Vec<Shadow> = Vec::new();
        for (i, s) in self
            .array(at, v)
            .map_or(&[][..], Vec::as_slice)
            .iter()
            .enumerate()
        {
            let p = at.at(i);
            let Some(shadow) = self.shadow(&p, s, route, route_methods) else {
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

    /// A `compare` spec (a shadow's, a shadow gate's): an object with a string `kind`;
    /// serde's other forms of the same struct (a sequence, `{"kind": {"tf_serving": null}}`)
    /// are not config syntax.
    pub(super) fn compare_spec(&mut self, at: &Path, c: &Value) -> Option<crate::observe::Compare> {
        if !c.get("kind").is_some_and(Value::is_string) {
            return self.fail(at, "expected an object with a string `kind`");
        }
        let spec = crate::observe::Compare::from_value(c);
        spec.map_err(|e| self.err(at, format!("invalid compare spec: {e}")))
            .ok()
    }

    pub(super) fn shadow(
        &mut self,
        at: &Path,
        v: &Value,
        route: &str,
        route_methods: Option<&[String]>,
    ) -> Option<Shadow> {
        let allowed =
            "origin, percent, methods, max_body_bytes, timeout_ms, compare, forward_credentials";
        let f = self.object(at, v, allowed)?;
        let origin = self.req_origin(f, "origin");
        let percent = self.opt_percent(f, "percent", PPM);
        let methods = self.opt(f, "methods", |me, at, m| {
            let list = me.methods(at, m)?;
            let mut ok = true;
            for (i, m) in list.iter().enumerate() {
                if !SHADOW_METHODS.contains(&m.as_str()) {
                    let reason = format!(
                        "a shadow is never sent {m} (allowed: {})",
                        SHADOW_METHODS.join(", ")
                    );
                    ok = me.check(false, &at.at(i), &reason);
                }
            }
            ok.then_some(list)
        });
        let forward_credentials = self.opt_bool(f, "forward_credentials", false);
        let max_body = self.opt_uint(f, "max_body_bytes", 100 << 20, DEFAULT_SHADOW_MAX_BODY);
        let timeout = self.opt_uint(f, "timeout_ms", 300_000, DEFAULT_SHADOW_TIMEOUT_MS as u64);
        let compare = self.opt(f, "compare", Self::compare_spec);
        let origin = origin?;
        Some(Shadow {
            salt: format!("{route}:shadow:{}", self.origin_names[origin.index()]),
            origin,
            percent_ppm: percent?,
            methods: methods?.unwrap_or_else(|| shadow_methods(route_methods)),
            forward_credentials: forward_credentials?,
            max_body_bytes: max_body?,
            timeout_ms: timeout? as u32,
            compare: compare?,
            gate: false,
        })
    }
}

/// An RFC 9110 `tchar`: the characters of a header name.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
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
