//! Operator authentication and roles: who may call which `/_switchyard/` endpoint.
//!
//! Tokens come from two secrets: `ADMIN_TOKEN` (one token, name `admin`, role admin) and
//! `SWITCHYARD_TOKENS`, a comma-separated list of `name:role:token` entries. Roles are ordered
//! `feedback < viewer < operator < admin`: a `feedback` token may only send feedback to routes
//! that require a token for it (`feedback_auth: "token"`), the credential a team's backend
//! holds; every higher role may do that too. With no token configured every operator endpoint is refused
//! (fail closed). The `Bearer` scheme is matched case-insensitively (RFC 9110 section 11.1) and
//! tokens are compared in constant time: every configured token is checked, through SHA-256
//! digests, so neither the position of a match nor a token's length shows in the timing.

use sha2::{Digest, Sha256};

use crate::base::{valid_name, NameChars};

/// Shortest token accepted from the secrets; shorter entries are refused (and reported with
/// how to make one). 32 characters of `openssl rand -hex 32` (64 hex digits) or any random
/// source put a token far beyond guessing, even without the failure limit below.
pub const MIN_TOKEN_LEN: usize = 32;
/// How a long enough token is made, for the messages that refuse a short one.
const MAKE_ONE: &str = "make one with `openssl rand -hex 32`";
/// Longest token name (it is written to the audit log): the name rule's length.
pub const MAX_NAME_LEN: usize = crate::base::MAX_NAME_LEN;
/// Most entries read from `SWITCHYARD_TOKENS`.
pub const MAX_TOKENS: usize = 64;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    /// Sends feedback to routes with `feedback_auth: "token"`; nothing else.
    Feedback,
    Viewer,
    Operator,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Feedback => "feedback",
            Role::Viewer => "viewer",
            Role::Operator => "operator",
            Role::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        match s.trim().to_ascii_lowercase().as_str() {
            "feedback" => Some(Role::Feedback),
            "viewer" => Some(Role::Viewer),
            "operator" => Some(Role::Operator),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }
}

/// Who is calling: the token's name and role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub name: String,
    pub role: Role,
}

/// Why a request has no identity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthError {
    /// No token is configured at all: the API is closed.
    NotConfigured,
    /// No `authorization: Bearer …` header.
    Missing,
    /// A bearer token that matches no configured token.
    Invalid,
}

struct Entry {
    name: String,
    role: Role,
    digest: [u8; 32],
}

/// The configured tokens.
#[derive(Default)]
pub struct Tokens {
    entries: Vec<Entry>,
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.entries.iter().map(|e| (&e.name, e.role)))
            .finish()
    }
}

fn digest(b: &[u8]) -> [u8; 32] {
    Sha256::digest(b).into()
}

impl Tokens {
    /// Reads `ADMIN_TOKEN` and `SWITCHYARD_TOKENS`. Returns the tokens and a description of
    /// every entry that was ignored (never the token itself), for a log line.
    pub fn from_secrets(admin: Option<&str>, list: Option<&str>) -> (Tokens, Vec<String>) {
        let mut t = Tokens::default();
        let mut problems = Vec::new();
        if let Some(a) = admin.map(str::trim).filter(|a| !a.is_empty()) {
            if a.len() < MIN_TOKEN_LEN {
                problems.push(format!(
                    "ADMIN_TOKEN is shorter than {MIN_TOKEN_LEN} characters: refused ({MAKE_ONE})"
                ));
            } else {
                t.entries.push(Entry {
                    name: "admin".into(),
                    role: Role::Admin,
                    digest: digest(a.as_bytes()),
                });
            }
        }
        for (i, raw) in list
            .unwrap_or("")
            .split([',', '\n'])
            .map(str::trim)
            .filter(|e| !e.is_empty())
            .enumerate()
        {
            if i >= MAX_TOKENS {
                problems.push(format!(
                    "SWITCHYARD_TOKENS: more than {MAX_TOKENS} entries, the rest ignored"
                ));
                break;
            }
            let mut parts = raw.splitn(3, ':');
            let (Some(name), Some(role), Some(token)) = (parts.next(), parts.next(), parts.next())
            else {
                problems.push(format!(
                    "SWITCHYARD_TOKENS entry {i}: expected name:role:token"
                ));
                continue;
            };
            let (name, token) = (name.trim(), token.trim());
            let Some(role) = Role::parse(role) else {
                problems.push(format!(
                    "SWITCHYARD_TOKENS entry {i} ({name}): role must be feedback, viewer, operator or admin"
                ));
                continue;
            };
            if !valid_name(name.as_bytes(), NameChars::Token) {
                problems.push(format!(
                    "SWITCHYARD_TOKENS entry {i}: name must be 1-{MAX_NAME_LEN} of [{}]",
                    NameChars::Token.class()
                ));
                continue;
            }
            if token.len() < MIN_TOKEN_LEN {
                problems.push(format!(
                    "SWITCHYARD_TOKENS entry {i} ({name}): token shorter than {MIN_TOKEN_LEN} characters: refused ({MAKE_ONE})"
                ));
                continue;
            }
            t.entries.push(Entry {
                name: name.to_string(),
                role,
                digest: digest(token.as_bytes()),
            });
        }
        (t, problems)
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The identity named by an `authorization` header value.
    pub fn identify(&self, authorization: Option<&str>) -> Result<Identity, AuthError> {
        if self.entries.is_empty() {
            return Err(AuthError::NotConfigured);
        }
        let Some(given) = authorization.and_then(bearer) else {
            return Err(AuthError::Missing);
        };
        let d = digest(given.as_bytes());
        // Every entry is compared, the first match kept: no early exit.
        let mut found: Option<&Entry> = None;
        for e in &self.entries {
            let m = ct_eq(&e.digest, &d);
            if m && found.is_none() {
                found = Some(e);
            }
        }
        found
            .map(|e| Identity {
                name: e.name.clone(),
                role: e.role,
            })
            .ok_or(AuthError::Invalid)
    }
}

/// The credentials of `Bearer <token>`, the scheme in any case; `None` for other schemes.
pub fn bearer(header: &str) -> Option<&str> {
    let h = header.trim();
    let (scheme, rest) = h.split_once([' ', '\t'])?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let t = rest.trim();
    (!t.is_empty()).then_some(t)
}

/// Constant-time equality of two digests.
pub fn ct_eq(a: &[u8; 32], b: &[u8; 32]) -> bool {
    let mut d = 0u8;
    for i in 0..32 {
        d |= a[i] ^ b[i];
    }
    std::hint::black_box(d) == 0
}

/// Failed authentications counted per client address before it is slowed down.
pub const MAX_AUTH_FAILURES: u32 = 10;
/// The window in which failures are counted; a slowed client waits for its end.
pub const AUTH_FAILURE_WINDOW_MS: u64 = 60_000;
/// Most client addresses remembered per isolate (a flood of addresses evicts the oldest).
pub const AUTH_FAILURE_CLIENTS: usize = 4_096;

/// Failed authentications (a bearer token that matches no configured token) per client
/// address, in fixed windows of [`AUTH_FAILURE_WINDOW_MS`]. A client with
/// [`MAX_AUTH_FAILURES`] failures in its window is refused with 429 until the window ends,
/// whatever it sends, before any token is compared. Per isolate and bounded to
/// [`AUTH_FAILURE_CLIENTS`] addresses: the limit slows guessing and makes it loud in the logs;
/// it is not what keeps a token safe (its 32+ random characters are).
#[derive(Debug, Default)]
pub struct FailureLimit {
    /// (client, window start, failures in that window); a plain list keeps the router's
    /// bundle free of a hash map, and it is only read on the operator endpoints.
    seen: Vec<(String, u64, u32)>,
}

impl FailureLimit {
    fn find(&self, client: &str) -> Option<usize> {
        self.seen.iter().position(|(c, _, _)| c == client)
    }

    /// Seconds the client must wait when it is slowed down now, else `None`.
    pub fn blocked(&self, client: &str, now_ms: u64) -> Option<u64> {
        let (_, start, n) = self.seen[self.find(client_key(client))?];
        let end = start + AUTH_FAILURE_WINDOW_MS;
        (n >= MAX_AUTH_FAILURES && now_ms < end).then(|| (end - now_ms).div_ceil(1000).max(1))
    }

    /// Counts one failure of `client`; returns its failures in the current window.
    pub fn fail(&mut self, client: &str, now_ms: u64) -> u32 {
        let client = client_key(client);
        let i = match self.find(client) {
            Some(i) => i,
            None => {
                if self.seen.len() >= AUTH_FAILURE_CLIENTS {
                    self.seen
                        .retain(|&(_, start, _)| now_ms < start + AUTH_FAILURE_WINDOW_MS);
                }
                if self.seen.len() >= AUTH_FAILURE_CLIENTS {
                    // The oldest window goes.
                    let oldest = (0..self.seen.len()).min_by_key(|&i| self.seen[i].1);
                    if let Some(i) = oldest {
                        self.seen.swap_remove(i);
                    }
                }
                self.seen.push((client.to_string(), now_ms, 0));
                self.seen.len() - 1
            }
        };
        let e = &mut self.seen[i];
        if now_ms >= e.1 + AUTH_FAILURE_WINDOW_MS {
            (e.1, e.2) = (now_ms, 0);
        }
        e.2 = e.2.saturating_add(1);
        e.2
    }

    /// Addresses remembered.
    pub fn len(&self) -> usize {
        self.seen.len()
    }

    pub fn is_empty(&self) -> bool {
        self.seen.is_empty()
    }
}

/// An address as a key: at most 64 bytes (an IPv6 address is at most 45), cut at a
/// character boundary, so a forged header cannot make the table large.
fn client_key(client: &str) -> &str {
    let mut end = client.len().min(64);
    while !client.is_char_boundary(end) {
        end -= 1;
    }
    &client[..end]
}

/// [`authorize`] behind the failure limit: a slowed client gets 429 `too_many_failures` with
/// `retry-after`; a token that matches nothing counts as a failure of `client`. The second
/// value is the client's failure count when this call failed authentication (for the log
/// line, which never holds the token).
pub fn authorize_limited(
    limit: &mut FailureLimit,
    client: &str,
    now_ms: u64,
    tokens: &Tokens,
    authorization: Option<&str>,
    need: Role,
) -> (Result<Identity, crate::ops::Fault>, Option<u32>) {
    use crate::ops::Fault;
    if let Some(wait) = limit.blocked(client, now_ms) {
        let f = Fault::caller(
            429,
            "too_many_failures",
            format!(
                "{MAX_AUTH_FAILURES} failed authentications from this address within {} s: retry in {wait} s",
                AUTH_FAILURE_WINDOW_MS / 1000
            ),
        )
        .with_header("retry-after", wait.to_string());
        return (Err(f), None);
    }
    let invalid = matches!(tokens.identify(authorization), Err(AuthError::Invalid));
    let r = authorize(tokens, authorization, need);
    let failures = invalid.then(|| limit.fail(client, now_ms));
    (r, failures)
}

/// The role an operator endpoint needs; `path` is what follows `/_switchyard/`.
///
/// - viewer: every `GET` except `decisions/…` (status, stats, series, config, history,
///   metrics, whoami, audit, alerts), the OFREP evaluations (`POST ofrep/…`, read-only) and
///   off-policy evaluation (`POST ope/…`, read-only);
/// - operator: `validate`, `rollback/…`, `resume/…`, `promote/…`, `tick/…` (any method),
///   `overrides`, `GET decisions/…` (row-level data: hashed units and the context attributes
///   a route logs), `PUT weights/…` (an external trainer's weights);
/// - admin: `PUT config`, `POST config/revert/…`, and anything else (fail closed).
pub fn required_role(method: &str, path: &str) -> Role {
    let path = path.trim_matches('/');
    let first = path.split('/').next().unwrap_or("");
    if first == "tick" || first == "decisions" {
        return Role::Operator;
    }
    if method.eq_ignore_ascii_case("GET") || method.eq_ignore_ascii_case("HEAD") {
        return Role::Viewer;
    }
    if method.eq_ignore_ascii_case("PUT") && first == "weights" {
        return Role::Operator;
    }
    if method.eq_ignore_ascii_case("POST") {
        match first {
            "ofrep" | "ope" => return Role::Viewer,
            "validate" | "rollback" | "resume" | "promote" | "overrides" => return Role::Operator,
            _ => {}
        }
    }
    Role::Admin
}

/// How to get access, for the 401 answer when no token is configured.
pub const HOW_TO_SET: &str = "no operator token is configured, so the operator API is closed. \
Production: `npx wrangler secret put ADMIN_TOKEN -c wrangler.stats.toml` (and `npx wrangler secret put ADMIN_TOKEN` \
for the router's /_switchyard/status), or named tokens in the secret SWITCHYARD_TOKENS=name:role:token,... \
(roles feedback, viewer, operator, admin). Local: `make setup` writes a random ADMIN_TOKEN to .dev.vars and `make demo` \
prints it. Then send `authorization: Bearer <token>`.";

/// The message of a 401 for `e`.
pub fn message(e: AuthError) -> &'static str {
    match e {
        AuthError::NotConfigured => HOW_TO_SET,
        AuthError::Missing => "operator endpoints need `authorization: Bearer <token>` (ADMIN_TOKEN or a SWITCHYARD_TOKENS entry)",
        AuthError::Invalid => "the bearer token matches no configured operator token",
    }
}

/// The caller's identity when `authorization` names a token of at least role `need`;
/// otherwise the fault to answer: 401 (no token configured: says how to set one; no or an
/// unknown token; with `www-authenticate`) or 403 (a known token whose role is too low; with
/// `x-switchyard-role`).
pub fn authorize(
    tokens: &Tokens,
    authorization: Option<&str>,
    need: Role,
) -> Result<Identity, crate::ops::Fault> {
    use crate::ops::Fault;
    match tokens.identify(authorization) {
        Ok(id) if id.role >= need => Ok(id),
        Ok(id) => Err(Fault::caller(
            403,
            "forbidden",
            format!(
                "token {:?} has role {}; this endpoint needs {}",
                id.name,
                id.role.as_str(),
                need.as_str()
            ),
        )
        .with_header("x-switchyard-role", id.role.as_str())),
        Err(e) => Err(Fault::caller(401, "unauthorized", message(e))
            .with_header("www-authenticate", "Bearer realm=\"switchyard\"")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authorize_answers_401_403_or_the_identity() {
        let t = toks();
        let id = authorize(
            &t,
            Some("Bearer op-secret:with:colons-0123456789abcdef"),
            Role::Viewer,
        )
        .unwrap();
        assert_eq!(id.name, "bob");
        let f = authorize(
            &t,
            Some("Bearer viewer-secret-1-0123456789abcdef0123"),
            Role::Operator,
        )
        .unwrap_err();
        assert_eq!((f.status(), f.code), (403, "forbidden"));
        assert_eq!(f.headers, vec![("x-switchyard-role", "viewer".to_string())]);
        let f = authorize(&t, None, Role::Viewer).unwrap_err();
        assert_eq!((f.status(), f.code), (401, "unauthorized"));
        assert_eq!(f.headers[0].0, "www-authenticate");
        let f = authorize(&Tokens::from_secrets(None, None).0, None, Role::Viewer).unwrap_err();
        assert_eq!(f.message, HOW_TO_SET);
    }

    fn toks() -> Tokens {
        Tokens::from_secrets(
            Some("admin-secret-1-0123456789abcdef0123"),
            Some("ann:viewer:viewer-secret-1-0123456789abcdef0123, bob:operator:op-secret:with:colons-0123456789abcdef ,junk,cy:root:xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx,short:admin:abc"),
        )
        .0
    }

    #[test]
    fn parses_entries_and_reports_bad_ones() {
        let (t, problems) = Tokens::from_secrets(
            Some("admin-secret-1-0123456789abcdef0123"),
            Some("ann:viewer:viewer-secret-1-0123456789abcdef0123, bob:operator:op-secret:with:colons-0123456789abcdef ,junk,cy:root:xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx,short:admin:abc"),
        );
        assert_eq!(t.entries.len(), 3);
        assert_eq!(problems.len(), 3, "{problems:?}");
        assert!(problems
            .iter()
            .all(|p| !p.contains("xxxxxxxxxx") && !p.contains("abc")));
    }

    #[test]
    fn identifies_by_token_any_scheme_case() {
        let t = toks();
        for h in [
            "Bearer admin-secret-1-0123456789abcdef0123",
            "bearer admin-secret-1-0123456789abcdef0123",
            "BEARER   admin-secret-1-0123456789abcdef0123 ",
        ] {
            assert_eq!(
                t.identify(Some(h)),
                Ok(Identity {
                    name: "admin".into(),
                    role: Role::Admin
                })
            );
        }
        assert_eq!(
            t.identify(Some("Bearer op-secret:with:colons-0123456789abcdef"))
                .map(|i| i.role),
            Ok(Role::Operator)
        );
        assert_eq!(
            t.identify(Some("Bearer viewer-secret-1-0123456789abcdef0123"))
                .map(|i| i.name),
            Ok("ann".to_string())
        );
        assert_eq!(
            t.identify(Some("Bearer admin-secret-1-0123456789abcdef012")),
            Err(AuthError::Invalid)
        );
        assert_eq!(
            t.identify(Some("Basic admin-secret-1-0123456789abcdef0123")),
            Err(AuthError::Missing)
        );
        assert_eq!(t.identify(Some("Bearer")), Err(AuthError::Missing));
        assert_eq!(t.identify(None), Err(AuthError::Missing));
    }

    #[test]
    fn nothing_configured_is_closed() {
        let (t, _) = Tokens::from_secrets(None, None);
        assert_eq!(
            t.identify(Some("Bearer anything-at-all-0123456789abcdef0123")),
            Err(AuthError::NotConfigured)
        );
        let (t, p) = Tokens::from_secrets(Some("   "), Some(" , "));
        assert!(t.is_empty() && p.is_empty());
        let (t, p) = Tokens::from_secrets(Some("short"), None);
        assert!(t.is_empty());
        assert_eq!(p.len(), 1);
    }

    #[test]
    fn tokens_shorter_than_32_characters_are_refused_with_how_to_make_one() {
        let (t, p) = Tokens::from_secrets(
            Some(&"a".repeat(31)),
            Some(&format!("v:viewer:{}", "b".repeat(31))),
        );
        assert!(t.is_empty());
        assert_eq!(p.len(), 2, "{p:?}");
        assert!(p.iter().all(|m| m.contains("openssl rand -hex 32")
            && !m.contains("aaaa")
            && !m.contains("bbbb")));
        let (t, p) = Tokens::from_secrets(Some(&"a".repeat(32)), None);
        assert!(p.is_empty() && !t.is_empty());
    }

    #[test]
    fn failures_slow_one_address_for_the_rest_of_its_window() {
        let t = toks();
        let mut l = FailureLimit::default();
        let wrong = Some("Bearer wrong-token");
        for i in 1..=MAX_AUTH_FAILURES {
            let (r, n) = authorize_limited(&mut l, "198.51.100.7", 1_000, &t, wrong, Role::Viewer);
            assert_eq!(r.unwrap_err().status(), 401);
            assert_eq!(n, Some(i));
        }
        // Slowed: even the right token waits, and nothing is compared or counted.
        let good = Some("Bearer admin-secret-1-0123456789abcdef0123");
        let (r, n) = authorize_limited(&mut l, "198.51.100.7", 2_000, &t, good, Role::Viewer);
        let f = r.unwrap_err();
        assert_eq!((f.status(), f.code, n), (429, "too_many_failures", None));
        assert_eq!(f.headers, vec![("retry-after", "59".to_string())]);
        // Another address is not affected; a missing token is not a failure.
        assert!(
            authorize_limited(&mut l, "203.0.113.9", 2_000, &t, good, Role::Viewer)
                .0
                .is_ok()
        );
        assert_eq!(
            authorize_limited(&mut l, "203.0.113.9", 2_000, &t, None, Role::Viewer).1,
            None
        );
        // The window ends: the address starts again.
        let (r, _) = authorize_limited(
            &mut l,
            "198.51.100.7",
            1_000 + AUTH_FAILURE_WINDOW_MS,
            &t,
            good,
            Role::Viewer,
        );
        assert!(r.is_ok());
    }

    #[test]
    fn the_failure_table_is_bounded() {
        let mut l = FailureLimit::default();
        for i in 0..(AUTH_FAILURE_CLIENTS as u64 * 3) {
            l.fail(&format!("10.0.{}.{}", i / 256, i % 256), i);
        }
        assert_eq!(l.len(), AUTH_FAILURE_CLIENTS);
        // Expired windows are dropped first when the table is full.
        let late = AUTH_FAILURE_WINDOW_MS * 10;
        l.fail("192.0.2.1", late);
        assert_eq!(l.len(), 1);
    }

    #[test]
    fn role_table() {
        use Role::*;
        let cases = [
            ("GET", "stats/r", Viewer),
            ("GET", "series/r", Viewer),
            ("GET", "config", Viewer),
            ("GET", "config/history", Viewer),
            ("GET", "metrics", Viewer),
            ("GET", "whoami", Viewer),
            ("GET", "audit", Viewer),
            ("GET", "status", Viewer),
            ("POST", "ofrep/v1/evaluate/flags", Viewer),
            ("POST", "validate", Operator),
            ("POST", "rollback/r", Operator),
            ("POST", "resume/r", Operator),
            ("POST", "promote/r", Operator),
            ("POST", "tick/r", Operator),
            ("GET", "tick/r", Operator),
            ("POST", "overrides", Operator),
            ("POST", "ope/r", Viewer),
            ("GET", "decisions/r", Operator),
            ("PUT", "weights/r", Operator),
            ("PUT", "ope/r", Admin),
            ("PUT", "config", Admin),
            ("POST", "config/revert/3", Admin),
            ("DELETE", "config", Admin),
            ("POST", "something-new", Admin),
        ];
        for (m, p, want) in cases {
            assert_eq!(required_role(m, p), want, "{m} {p}");
        }
        assert!(Feedback < Viewer && Viewer < Operator && Operator < Admin);
        assert_eq!(Role::parse(" Feedback "), Some(Feedback));
        // A feedback token reaches no operator endpoint.
        let t = Tokens::from_secrets(
            None,
            Some("backend:feedback:fb-secret-0123456789abcdef0123456789"),
        )
        .0;
        assert_eq!(
            authorize(
                &t,
                Some("Bearer fb-secret-0123456789abcdef0123456789"),
                Feedback
            )
            .map(|i| i.role),
            Ok(Feedback)
        );
        for (m, p) in cases.iter().map(|(m, p, _)| (m, p)) {
            let f = authorize(
                &t,
                Some("Bearer fb-secret-0123456789abcdef0123456789"),
                required_role(m, p),
            )
            .unwrap_err();
            assert_eq!(f.status(), 403, "{m} {p}");
        }
    }
}
