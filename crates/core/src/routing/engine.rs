//! The decision path: route match, unit id, strategy, flags and shadows, plus the pieces of
//! forwarding that are pure (target URL, header hygiene) and the in-isolate config cache.
//! The edge adapter calls these; benchmarks and native tests call them directly.

use std::borrow::Cow;
use std::rc::Rc;

use crate::base::Rng;
use crate::base::{self, in_share};
use crate::config::{self, Config, ConfigError, Origin, OriginId, Route, UnitSource};
use crate::routing::Decision;
use crate::routing::{self, flag_on, Inputs};

// The request types live in `crate::routing`; re-exported here for existing callers.
use crate::routing::{Headers, RequestView};

/// Longest unit id, in bytes (a hostile header cannot make hashing expensive).
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

/// Why a value cannot name a unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnitIdError {
    /// Longer than [`MAX_UNIT_LEN`] bytes.
    TooLong,
    /// Holds U+FFFD: the runtime substitutes it for every byte sequence that is not UTF-8
    /// (a header sent as Latin-1 bytes, `%FC` in a query), so the value no longer says
    /// which bytes were sent, and ids that differed would be one unit.
    NotText,
}

impl UnitIdError {
    /// What is wrong, for the client's error message.
    pub fn reason(self) -> &'static str {
        match self {
            UnitIdError::TooLong => "longer than 512 bytes",
            UnitIdError::NotText => {
                "not UTF-8 text (it holds U+FFFD, which stands for bytes that are not UTF-8)"
            }
        }
    }
}

/// The one rule for a unit id, wherever it comes from (a header, cookie or query parameter
/// at the edge, `targetingKey` in OFREP, the CLI's `explain`): UTF-8 text of 1 to
/// [`MAX_UNIT_LEN`] bytes without U+FFFD, hashed as exactly those bytes. `Ok(None)`: empty,
/// i.e. absent.
pub fn check_unit_id(v: &str) -> Result<Option<&str>, UnitIdError> {
    if v.is_empty() {
        Ok(None)
    } else if v.len() > MAX_UNIT_LEN {
        Err(UnitIdError::TooLong)
    } else if v.contains('\u{FFFD}') {
        Err(UnitIdError::NotText)
    } else {
        Ok(Some(v))
    }
}

/// Step 2: the unit id from the first of the route's sources (then the `sy_uid` cookie)
/// that is present and not empty, checked by [`check_unit_id`]: `Ok(None)` when no source
/// has one, `Err` (with the source, e.g. `header x-user-id`) when that value cannot name a
/// unit. Never falls through to a later source past an invalid value: OFREP, which has only
/// `targetingKey`, could not do the same.
pub fn unit_id<'r, H: Headers + ?Sized>(
    route: &Route,
    req: &'r RequestView<'_, H>,
) -> Result<Option<Cow<'r, str>>, (String, UnitIdError)> {
    let sources = route.unit.iter().map(|s| match s {
        UnitSource::Header(n) => ("header", n.as_str(), req.headers.get(n)),
        UnitSource::Cookie(n) => ("cookie", n.as_str(), req.cookie(n)),
        UnitSource::Query(n) => ("query", n.as_str(), req.query_param(n)),
    });
    let last = std::iter::once(("cookie", UNIT_COOKIE, req.cookie(UNIT_COOKIE)));
    for (kind, name, v) in sources.chain(last) {
        let Some(v) = v else { continue };
        match check_unit_id(&v) {
            Ok(None) => continue,
            Ok(Some(_)) => return Ok(Some(v)),
            Err(e) => return Err((format!("{kind} {name}"), e)),
        }
    }
    Ok(None)
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
    let h = base::hash(&route.split_salt, unit);
    let c = routing::choose(route, h, unit, req, inputs, rng);
    let shadow_stage =
        route.shadows.iter().any(|s| s.gate) && routing::in_shadow_stage(route, inputs.state);
    let mut flags = 0u64;
    for (i, f) in route.flags.iter().enumerate().take(64) {
        if flag_on(f, unit, req) {
            flags |= 1 << i;
        }
    }
    let mut shadows = 0u32;
    for (i, s) in route.shadows.iter().enumerate().take(32) {
        if s.gate && !shadow_stage {
            continue; // a shadow gate's mirror runs only while the gate is pending
        }
        if s.origin == c.origin {
            continue; // never mirror a request to the origin that already answers it
        }
        // Only the methods the shadow's policy allows (`Shadow::methods`).
        if !s.methods.iter().any(|m| m.eq_ignore_ascii_case(req.method)) {
            continue;
        }
        if s.percent_ppm >= base::PPM || in_share(base::hash(&s.salt, unit), s.percent_ppm) {
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
        propensity: c.propensity,
    }
}

/// The route's `log.context` attributes of a request, by name, for its decision-log row
/// (values cut to `observe::MAX_CONTEXT_VALUE` bytes; `None` when absent).
pub fn log_context<H: Headers + ?Sized>(
    route: &Route,
    req: &RequestView<'_, H>,
) -> std::collections::BTreeMap<String, Option<String>> {
    route
        .log
        .context
        .iter()
        .map(|(name, attr)| {
            let v = routing::attr_value(attr, req).map(|v| crate::observe::context_value(&v));
            (name.clone(), v)
        })
        .collect()
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

/// The header names a `Connection` value lists (RFC 9110 section 7.6.1), lower-cased: they
/// are hop-by-hop for this connection and are not forwarded. At most 64 are read.
pub fn connection_tokens(value: &str) -> Vec<String> {
    value
        .split(',')
        .map(|t| t.trim().to_ascii_lowercase())
        .filter(|t| !t.is_empty())
        .take(64)
        .collect()
}

/// Headers sent to the origin: the caller's (`incoming`, as the runtime lists them) minus
/// hop-by-hop ones, the ones its `Connection` header names, `cf-*` and our own namespace;
/// then `x-forwarded-for` (the caller's chain plus `cf-connecting-ip`),
/// `x-forwarded-host`, `x-forwarded-proto` and `extra` (the routing facts).
pub fn outgoing_headers(
    incoming: impl IntoIterator<Item = (String, String)>,
    host: &str,
    proto: &str,
    extra: &[(&str, &str)],
) -> Vec<(String, String)> {
    let incoming: Vec<(String, String)> = incoming
        .into_iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), v))
        .collect();
    let connection: Vec<String> = incoming
        .iter()
        .filter(|(k, _)| k == "connection")
        .flat_map(|(_, v)| connection_tokens(v))
        .collect();
    let mut out: Vec<(String, String)> = Vec::with_capacity(incoming.len() + extra.len() + 3);
    let mut xff: Option<String> = None;
    let mut client: Option<String> = None;
    for (name, value) in incoming {
        if name == "cf-connecting-ip" {
            client = Some(value.clone());
        }
        if name == "x-forwarded-for" {
            xff = Some(match xff {
                Some(x) => format!("{x}, {value}"),
                None => value,
            });
            continue;
        }
        if is_hop_by_hop(&name) || connection.contains(&name) || name.starts_with("cf-") {
            continue;
        }
        out.push((name, value));
    }
    let chain = match (xff, client) {
        (Some(x), Some(c)) => Some(format!("{x}, {c}")),
        (x, c) => x.or(c),
    };
    if let Some(c) = chain {
        out.push(("x-forwarded-for".into(), c));
    }
    out.push(("x-forwarded-host".into(), host.to_string()));
    out.push(("x-forwarded-proto".into(), proto.to_string()));
    for (k, v) in extra {
        out.push(((*k).to_string(), (*v).to_string()));
    }
    out
}

/// Headers of the response to the caller: the origin's, minus the `x-switchyard-*`
/// namespace (only the router speaks in it; an origin cannot forge a receipt, an arm or a
/// staleness notice), then `add`: `set-cookie` is appended next to the origin's own cookies
/// (RFC 6265 section 3: one cookie per header line), every other added name replaces the
/// origin's value.
pub fn response_headers(
    origin: impl IntoIterator<Item = (String, String)>,
    add: &[(&str, &str)],
) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = origin.into_iter().filter(|(k, _)| !is_ours(k)).collect();
    for (k, _) in add {
        if !k.eq_ignore_ascii_case("set-cookie") {
            out.retain(|(o, _)| !o.eq_ignore_ascii_case(k));
        }
    }
    out.extend(
        add.iter()
            .map(|(k, v)| ((*k).to_string(), (*v).to_string())),
    );
    out
}

/// Whether a header name is in the router's `x-switchyard-` namespace (any case).
pub fn is_ours(name: &str) -> bool {
    name.len() >= 13 && name.as_bytes()[..13].eq_ignore_ascii_case(b"x-switchyard-")
}

/// What to do with a KV-backed value (config, `weights:`, `state:`) cached in the isolate,
/// given its age. See [`freshness`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Freshness {
    /// Younger than the TTL: serve it.
    Fresh,
    /// Past the TTL but within the bound: serve it and refresh in the background.
    Refresh,
    /// Past the TTL, within the bound, a refresh already running: serve it.
    Serve,
    /// Past the bound (or never read): read KV now and wait for it (bounded).
    Load,
    /// Past the bound, a read already running: wait for that one (bounded).
    Join,
    /// Past the bound, but KV failed within the last TTL: serve the last value, marked stale
    /// (`x-switchyard-stale`), rather than make every request wait on a failing KV.
    Stale,
}

/// Timestamps of one cached KV value, all in ms: when KV last *answered* (`read`), when it
/// was last *asked* (`checked`, later than `read` after a failed read) and since when a read
/// is running (`loading`; one that started `stuck_ms` ago or more no longer counts).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KvTimes {
    pub read: Option<u64>,
    pub checked: Option<u64>,
    pub loading: Option<u64>,
}

/// The bounded-staleness rule (README, "Bounded staleness"): a value read `age` ms ago is
/// served as is below `ttl_ms`, served while a background refresh runs below `max_age_ms`,
/// and never served beyond `max_age_ms` unless KV itself is failing.
pub fn freshness(now: u64, t: KvTimes, ttl_ms: u64, max_age_ms: u64, stuck_ms: u64) -> Freshness {
    let loading = t.loading.is_some_and(|l| now >= l && now - l < stuck_ms);
    let Some(read) = t.read else {
        return if loading {
            Freshness::Join
        } else {
            Freshness::Load
        };
    };
    // A clock that went backwards counts as age 0.
    let age = now.saturating_sub(read);
    if age < ttl_ms {
        return Freshness::Fresh;
    }
    if age < max_age_ms {
        return if loading {
            Freshness::Serve
        } else {
            Freshness::Refresh
        };
    }
    if loading {
        return Freshness::Join;
    }
    let failed_recently = t
        .checked
        .is_some_and(|c| c > read && now.saturating_sub(c) < ttl_ms);
    if failed_recently {
        Freshness::Stale
    } else {
        Freshness::Load
    }
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
    /// When KV last answered (whatever the answer); `checked_ms` also counts failed reads.
    read_ms: Option<u64>,
    rejected: Option<Rc<str>>,
}

impl ConfigCache {
    pub fn new(ttl_ms: u64) -> Self {
        Self {
            ttl_ms,
            current: None,
            last_text: None,
            checked_ms: None,
            read_ms: None,
            rejected: None,
        }
    }

    /// When KV was last asked (`checked`) and when it last answered (`read`).
    pub fn times(&self) -> (Option<u64>, Option<u64>) {
        (self.checked_ms, self.read_ms)
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
        self.read_ms = Some(now_ms);
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
