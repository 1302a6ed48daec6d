//! The decision path: route match, unit id, strategy, flags and shadows, plus the pieces of
//! forwarding that are pure (target URL, header hygiene) and the in-isolate config cache.
//! The edge adapter calls these; benchmarks and native tests call them directly.

use std::borrow::Cow;
use std::rc::Rc;

use crate::bucket::{self, in_share};
use crate::config::{self, Config, ConfigError, Origin, OriginId, Route, UnitSource};
use crate::decision::Decision;
use crate::rng::Rng;
use crate::strategy::{self, flag_on, Inputs};

// The request types live in `crate::request`; re-exported here for existing callers.
pub use crate::request::{percent_decode, Headers, RequestView};

/// Unit ids longer than this are ignored (a hostile header cannot make hashing expensive).
pub const MAX_UNIT_LEN: usize = 512;
/// Cookie set when no unit source is present.
pub const UNIT_COOKIE: &str = "sy_uid";

/// Where a request goes before any strategy runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Route(usize),
    /// No route matched; pass through to the default origin.
    Default(OriginId),
    NotFound,
}

/// Step 1: the first route whose host, path prefix and method match.
pub fn match_route(cfg: &Config, host: &str, path: &str, method: &str) -> Target {
    for (i, r) in cfg.routes.iter().enumerate() {
        let m = &r.matcher;
        if m.host
            .as_deref()
            .is_some_and(|h| !h.eq_ignore_ascii_case(host))
        {
            continue;
        }
        if !config::path_matches(&m.path_prefix, path) {
            continue;
        }
        if m.methods
            .as_ref()
            .is_some_and(|ms| !ms.iter().any(|x| x.eq_ignore_ascii_case(method)))
        {
            continue;
        }
        return Target::Route(i);
    }
    match cfg.default_origin {
        Some(o) => Target::Default(o),
        None => Target::NotFound,
    }
}

/// Step 2: the unit id from the route's sources in order, then the `sy_uid` cookie.
/// Empty and over-long values are skipped.
pub fn unit_id<'r, H: Headers + ?Sized>(
    route: &Route,
    req: &'r RequestView<'_, H>,
) -> Option<Cow<'r, str>> {
    let usable = |v: &Cow<'_, str>| !v.is_empty() && v.len() <= MAX_UNIT_LEN;
    for s in &route.unit {
        let v = match s {
            UnitSource::Header(n) => req.headers.get(n),
            UnitSource::Cookie(n) => req.cookie(n),
            UnitSource::Query(n) => req.query_param(n),
        };
        if let Some(v) = v.filter(usable) {
            return Some(v);
        }
    }
    req.cookie(UNIT_COOKIE).filter(usable)
}

/// A fresh unit id (128 random bits, hex) for a request that carries none.
pub fn new_unit_id<R: Rng>(rng: &mut R) -> String {
    format!("{:016x}{:016x}", rng.next_u64(), rng.next_u64())
}

/// Step 3: strategy, route-level flags and shadows for one unit.
pub fn decide<'c, H: Headers + ?Sized, R: Rng>(
    cfg: &'c Config,
    route_idx: usize,
    unit: &str,
    req: &RequestView<'_, H>,
    inputs: Inputs<'_>,
    rng: &mut R,
) -> Decision<'c> {
    let route = &cfg.routes[route_idx];
    let h = bucket::hash(&route.split_salt, unit);
    let c = strategy::choose(route, h, unit, req, inputs, rng);
    let mut flags = 0u64;
    for (i, f) in route.flags.iter().enumerate().take(64) {
        if flag_on(f, unit, req) {
            flags |= 1 << i;
        }
    }
    let mut shadows = 0u32;
    for (i, s) in route.shadows.iter().enumerate().take(32) {
        if s.origin == c.origin {
            continue; // never mirror a request to the origin that already answers it
        }
        if s.methods
            .as_ref()
            .is_some_and(|ms| !ms.iter().any(|m| m.eq_ignore_ascii_case(req.method)))
        {
            continue;
        }
        if s.percent_ppm >= bucket::PPM || in_share(bucket::hash(&s.salt, unit), s.percent_ppm) {
            shadows |= 1 << i;
        }
    }
    Decision {
        route: route_idx,
        arm: c.arm,
        origin: c.origin,
        failover: c.failover,
        shadows,
        flags,
        reason: c.reason,
        unit_hash: h,
    }
}

/// The URL to fetch on `origin`: its base, then the request path (minus the route's
/// `strip_prefix`), then the query. The authority always comes from the config.
pub fn forward_url(
    origin: &Origin,
    strip_prefix: Option<&str>,
    path: &str,
    query: Option<&str>,
) -> String {
    let mut p = path;
    if let Some(sp) = strip_prefix {
        if let Some(rest) = p.strip_prefix(sp) {
            if rest.is_empty() || rest.starts_with('/') {
                p = rest;
            }
        }
    }
    let mut url =
        String::with_capacity(origin.base.len() + p.len() + 2 + query.map_or(0, str::len));
    url.push_str(&origin.base);
    if !p.starts_with('/') {
        url.push('/');
    }
    url.push_str(p);
    if let Some(q) = query.filter(|q| !q.is_empty()) {
        url.push('?');
        url.push_str(q);
    }
    url
}

/// Headers never forwarded to an origin: hop-by-hop ones (RFC 9110 section 7.6.1), the
/// ones the platform sets itself, and our own namespace (a client cannot forge them).
pub fn is_hop_by_hop(name: &str) -> bool {
    const DROP: &[&str] = &[
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "host",
        "content-length",
    ];
    let lower = name.to_ascii_lowercase();
    DROP.contains(&lower.as_str())
        || lower.starts_with("x-switchyard-")
        || lower.starts_with("x-forwarded-")
}

/// Outcome of offering a freshly read config text to the cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refresh {
    /// Same text as before: nothing to do.
    Unchanged,
    Applied,
    /// The text was rejected; the last good config keeps serving.
    Rejected(Vec<ConfigError>),
    /// The key is missing; the last good config (if any) keeps serving.
    Missing,
}

/// The in-isolate config cache. Reads KV at most once per `ttl_ms`; applies a new text only
/// when it validates; remembers why the newest text was rejected.
#[derive(Debug)]
pub struct ConfigCache {
    pub ttl_ms: u64,
    current: Option<Rc<Config>>,
    last_text: Option<String>,
    checked_ms: Option<u64>,
    rejected: Option<Rc<str>>,
}

impl ConfigCache {
    pub fn new(ttl_ms: u64) -> Self {
        Self {
            ttl_ms,
            current: None,
            last_text: None,
            checked_ms: None,
            rejected: None,
        }
    }

    pub fn is_stale(&self, now_ms: u64) -> bool {
        self.checked_ms
            .is_none_or(|t| now_ms.saturating_sub(t) >= self.ttl_ms || now_ms < t)
    }

    pub fn current(&self) -> Option<Rc<Config>> {
        self.current.clone()
    }

    /// Why the newest config text in KV is not in force (`None` when it is).
    pub fn rejected(&self) -> Option<Rc<str>> {
        self.rejected.clone()
    }

    /// KV could not be read: keep serving what we have and try again after the TTL.
    pub fn offer_error(&mut self, now_ms: u64) -> bool {
        self.checked_ms = Some(now_ms);
        self.current.is_some()
    }

    pub fn offer(&mut self, now_ms: u64, text: Option<String>) -> Refresh {
        self.checked_ms = Some(now_ms);
        let Some(text) = text else {
            self.last_text = None;
            self.rejected = self
                .current
                .as_ref()
                .map(|_| Rc::from("config key is missing from KV"));
            return Refresh::Missing;
        };
        if self.last_text.as_deref() == Some(text.as_str()) {
            return Refresh::Unchanged;
        }
        let outcome = match config::parse(&text) {
            Ok(cfg) => {
                self.current = Some(Rc::new(cfg));
                self.rejected = None;
                Refresh::Applied
            }
            Err(errors) => {
                let summary: Vec<String> = errors.iter().take(5).map(ToString::to_string).collect();
                let more = errors.len().saturating_sub(5);
                let mut why = summary.join("; ");
                if more > 0 {
                    why.push_str(&format!("; and {more} more"));
                }
                self.rejected = Some(Rc::from(why));
                Refresh::Rejected(errors)
            }
        };
        self.last_text = Some(text);
        outcome
    }
}
