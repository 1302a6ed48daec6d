//! The control plane, served by the `switchyard-stats` worker (the router forwards
//! `/_switchyard/*` here through its `CONTROL` service binding, except `status`): feedback
//! (authenticated by its receipt), and the operator endpoints — statistics, learning tick,
//! config read / validated write / validate, canary rollback, the dashboard — which need an
//! operator token of the endpoint's role (`ADMIN_TOKEN` or a `SWITCHYARD_TOKENS` entry; closed
//! when none is configured). None of it is on the request path, so none of it is in the
//! router's bundle.

use worker::{Env, Request, Response, Result};

use crate::http::{self, json};
use crate::shared;
use crate::{config_cache, ops};
use switchyard_core::config::FeedbackAuth;
use switchyard_core::learn::{self, MAX_ABS_REWARD};
use switchyard_core::ops::{redact, required_role, Fault, Identity, Role, INTERNAL};
use switchyard_core::routing;

const ADMIN_PREFIX: &str = "/_switchyard/";

/// Every request ends in a JSON response, an internal failure included. A 413 (a body over
/// its endpoint's limit, `http::read_body`) ends the rest of the upload (`http::linger`).
pub async fn handle(req: Request, env: Env) -> Result<Response> {
    // Another handle on the same request object (`Clone::clone`, not `Request.clone()`,
    // which would tee the body).
    let request = Clone::clone(req.inner());
    // OFREP may be called from browsers on the origins of OFREP_CORS_ORIGINS.
    let cors = cors_origin(&req, &env);
    if let Some(preflight) = ofrep_preflight(&req, cors.as_deref()) {
        return Ok(preflight);
    }
    let mut resp = dispatch(req, &env).await.unwrap_or_else(respond);
    if let Some(origin) = cors {
        let h = resp.headers_mut();
        let _ = h.set("access-control-allow-origin", &origin);
        let _ = h.set("access-control-expose-headers", "etag");
        let _ = h.append("vary", "origin");
    }
    Ok(if resp.status_code() == 413 {
        http::linger(&request, resp)
    } else {
        resp
    })
}

/// The request's `Origin` when it calls OFREP and the origin is listed in
/// `OFREP_CORS_ORIGINS`; `None` otherwise (then no CORS header is sent and a browser on
/// another origin cannot read the answer).
fn cors_origin(req: &Request, env: &Env) -> Option<String> {
    let path = req.path();
    if !path.starts_with("/_switchyard/ofrep/") {
        return None;
    }
    let origin = req.headers().get("origin").ok().flatten()?;
    let allowed = env.var(switchyard_core::ops::CORS_VAR).ok()?.to_string();
    switchyard_core::ops::cors_allowed(&allowed, &origin).then_some(origin)
}

/// The answer to `OPTIONS` on an OFREP path (a CORS preflight carries no token, so it is
/// answered before authentication): 204 with the CORS grant for a listed origin, 403
/// `cors_origin_not_allowed` for a preflight from any other origin, 204 with `Allow` for a
/// plain `OPTIONS`. `None` for every other request.
fn ofrep_preflight(req: &Request, cors: Option<&str>) -> Option<Response> {
    use switchyard_core::ops::{CORS_ALLOW_HEADERS, CORS_MAX_AGE_S, CORS_VAR};
    if req.inner().method() != "OPTIONS" || !req.path().starts_with("/_switchyard/ofrep/") {
        return None;
    }
    let origin = req.headers().get("origin").ok().flatten();
    let headers = worker::Headers::new();
    let _ = headers.set("allow", "POST, OPTIONS");
    let _ = headers.set("vary", "origin");
    match (origin, cors) {
        (Some(o), None) => {
            return Some(http::fault(
                &Fault::caller(
                    403,
                    "cors_origin_not_allowed",
                    format!(
                        "origin {} may not call OFREP: list it in the {CORS_VAR} var",
                        switchyard_core::ops::header_safe(&o)
                    ),
                )
                .with_header("vary", "origin".to_string()),
            ))
        }
        (_, Some(o)) => {
            let _ = headers.set("access-control-allow-origin", o);
            let _ = headers.set("access-control-allow-methods", "POST, OPTIONS");
            let _ = headers.set("access-control-allow-headers", CORS_ALLOW_HEADERS);
            let _ = headers.set("access-control-max-age", &CORS_MAX_AGE_S.to_string());
        }
        (None, None) => {}
    }
    Some(
        Response::builder()
            .with_status(204)
            .with_headers(headers)
            .empty(),
    )
}

/// The one place a control-plane fault becomes a response (an internal one is logged too).
fn respond(f: Fault) -> Response {
    if f.code == INTERNAL {
        worker::console_error!("switchyard-stats: internal error: {}", f.message);
    }
    http::fault(&f)
}

async fn dispatch(req: Request, env: &Env) -> std::result::Result<Response, Fault> {
    let raw_url = req.inner().url();
    let Some(url) = routing::split_url(&raw_url) else {
        return Err(Fault::bad_request("bad_request", "unparseable request URL"));
    };
    let path = match url.path.strip_prefix(ADMIN_PREFIX) {
        Some(p) => p.to_string(),
        None if url.path == "/_switchyard" => String::new(),
        None => {
            return Err(Fault::not_found(
                "not_found",
                "this worker serves /_switchyard/ only",
            ))
        }
    };
    let method = req.inner().method();
    if path == "feedback" {
        if method != "POST" {
            return Err(Fault::method_not_allowed(
                "POST",
                "POST a JSON body {\"receipt\", \"reward\"}",
            ));
        }
        return feedback(req, env).await;
    }
    if path.is_empty() || path == "dashboard" || path.starts_with("dashboard/") {
        if method != "GET" && method != "HEAD" {
            return Err(Fault::method_not_allowed(
                "GET, HEAD",
                "the dashboard is read with GET",
            ));
        }
        return dashboard(&path, env).await;
    }
    // Fail closed: every other endpoint needs a token whose role covers it (core::ops::authorize).
    let who = shared::authorized(&req, env, required_role(&method, &path))?;
    let audited = ops::audited(&method, &path);
    // Refusals are audited too, with their status.
    let resp = operator(req, &path, &method, url.query, env, &who)
        .await
        .unwrap_or_else(respond);
    if let Some((action, target)) = audited {
        let version = resp.headers().get("etag").ok().flatten();
        let detail =
            serde_json::json!({ "version": version.map(|v| v.trim_matches('"').to_string()) });
        ops::record(env, &who, action, &target, resp.status_code(), detail).await;
    }
    Ok(resp)
}

/// The operator endpoints, after authentication.
async fn operator(
    req: Request,
    path: &str,
    method: &str,
    query: Option<&str>,
    env: &Env,
    who: &Identity,
) -> std::result::Result<Response, Fault> {
    let path = path.to_string();
    let method = method.to_string();
    if let Some(allow) = allowed_methods(&path) {
        if !allow.split(", ").any(|m| m == method) {
            return Err(Fault::method_not_allowed(
                allow,
                format!("{path} answers {allow}, not {method}"),
            ));
        }
    }
    match path.as_str() {
        "whoami" => return Ok(ops::whoami(who)),
        "config/history" => return ops::history_list(env).await,
        "audit" => return ops::audit_list(env, query).await,
        "alerts" => return ops::alerts_list(env, query).await,
        "metrics" => return ops::metrics(&req, env).await,
        "overrides" => return ops::issue_override(req, env, who).await,
        _ => {}
    }
    if let Some(v) = path.strip_prefix("config/revert/") {
        return ops::revert(&req, v, query, env, who).await;
    }
    if let Some(rest) = path.strip_prefix("ofrep/") {
        return ops::ofrep(req, rest, env).await;
    }
    if path == "config" || path == "validate" {
        return config_endpoint(req, &path, &method, query, env, who).await;
    }
    for action in ["rollback", "resume", "promote"] {
        if let Some(route) = path.strip_prefix(action).and_then(|p| p.strip_prefix('/')) {
            return operate(route, action, env).await;
        }
    }
    // Methods were checked above (`allowed_methods`).
    if let Some(route) = path.strip_prefix("ope/") {
        return ope(req, route, env).await;
    }
    if let Some(route) = path.strip_prefix("decisions/") {
        return decisions(route, query, env).await;
    }
    if let Some(route) = path.strip_prefix("weights/") {
        return put_weights(req, route, env).await;
    }
    for action in ["stats", "tick", "series"] {
        if let Some(route) = path.strip_prefix(action).and_then(|p| p.strip_prefix('/')) {
            let mut action = action.to_string();
            if action == "series" {
                action = format!("series?minutes={}", series_minutes(query)?);
            }
            let action = action.as_str();
            let Some(cfg) = config_cache::current_for(env, route).await.config else {
                return Err(Fault::no_config());
            };
            if cfg.route(route).is_none() {
                return Err(Fault::unknown_route(format!(
                    "no route named {route:?} in config {}",
                    cfg.id
                )));
            }
            let m = if action == "tick" {
                worker::Method::Post
            } else {
                worker::Method::Get
            };
            return stats_call(env, route, action, m, None).await;
        }
    }
    Err(Fault::not_found("not_found", "unknown Switchyard endpoint"))
}

/// The methods an operator endpoint answers (its 405's `Allow`); `None` for a path that is
/// not an endpoint (404).
fn allowed_methods(path: &str) -> Option<&'static str> {
    let under = |prefix: &str| {
        path.strip_prefix(prefix)
            .and_then(|p| p.strip_prefix('/'))
            .is_some_and(|rest| !rest.is_empty())
    };
    // Whatever answers GET answers HEAD too (RFC 9110; the runtime drops the body).
    match path {
        "whoami" | "config/history" | "audit" | "alerts" | "metrics" => Some("GET, HEAD"),
        "config" => Some("GET, HEAD, PUT"),
        "validate" | "overrides" => Some("POST"),
        _ if under("stats") || under("series") || under("decisions") => Some("GET, HEAD"),
        _ if under("ope") => Some("POST"),
        _ if under("weights") => Some("PUT"),
        _ if ["config/revert", "rollback", "resume", "promote", "tick"]
            .iter()
            .any(|p| under(p)) =>
        {
            Some("POST")
        }
        // OPTIONS (CORS preflights) is answered before authentication (`ofrep_preflight`).
        _ if under("ofrep") => Some("POST, OPTIONS"),
        _ => None,
    }
}

/// The operator dashboard: static files from the `ASSETS` binding (`www/`).
async fn dashboard(path: &str, env: &Env) -> std::result::Result<Response, Fault> {
    let file = match path.strip_prefix("dashboard") {
        None | Some("") | Some("/") => "/index.html".to_string(),
        Some(rest) => rest.to_string(),
    };
    if path.is_empty() || path == "dashboard" {
        // Relative asset links need the trailing slash. A redirect, not a fault: the body
        // keeps the error shape for clients that do not follow it.
        let mut r = json(
            308,
            &switchyard_core::ops::error_value(
                "moved",
                "the dashboard is at /_switchyard/dashboard/",
            ),
        );
        let _ = r.headers_mut().set("location", "/_switchyard/dashboard/");
        return Ok(r);
    }
    // A deployment without the ASSETS binding is ours to fix, not the caller's.
    let Ok(assets) = env.assets("ASSETS") else {
        return Err(Fault::ours(
            503,
            "no_dashboard",
            "the ASSETS binding (www/) is not configured",
        ));
    };
    match assets
        .fetch(format!("https://assets.local{file}"), None)
        .await
    {
        Ok(r) => Ok(with_security_headers(r)),
        Err(e) => Err(Fault::internal("dashboard_error", e.to_string())),
    }
}

/// The dashboard's policy: its own scripts and styles only (no inline script), API calls to
/// this origin, never framed.
pub const DASHBOARD_CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; \
frame-ancestors 'none'";

/// The asset's response with CSP, `x-frame-options: DENY`, `nosniff` and no referrer.
fn with_security_headers(resp: Response) -> Response {
    let status = resp.status_code();
    let headers = worker::Headers::new();
    for (k, v) in resp.headers().entries() {
        let _ = headers.append(&k, &v);
    }
    for (k, v) in [
        ("content-security-policy", DASHBOARD_CSP),
        ("x-frame-options", "DENY"),
        ("x-content-type-options", "nosniff"),
        ("referrer-policy", "no-referrer"),
        ("cache-control", "no-store"),
    ] {
        let _ = headers.set(k, v);
    }
    let (_, body) = resp.into_parts();
    Response::builder()
        .with_status(status)
        .with_headers(headers)
        .body(body)
}

/// Largest config document accepted through the API (KV values may be larger; this is
/// about what an operator would plausibly send).
const MAX_CONFIG_BYTES: usize = 1 << 20;

/// `GET /_switchyard/config`: the config text in KV and whether it is valid.
/// `PUT /_switchyard/config`: validate, then write; an invalid document is never written.
/// `POST /_switchyard/validate`: validate only.
async fn config_endpoint(
    req: Request,
    path: &str,
    method: &str,
    query: Option<&str>,
    env: &Env,
    who: &Identity,
) -> std::result::Result<Response, Fault> {
    let kv_store = env.kv(shared::BINDING)?;
    if path == "config" && (method == "GET" || method == "HEAD") {
        // The version in force (ConfigLog, which also notices writes made outside the API),
        // else the bare KV text.
        let (version, text) = match ops::current(env).await {
            Some((v, t)) => (Some(v), Some(t)),
            None => (None, kv_store.get(shared::CONFIG_KEY).text().await?),
        };
        let Some(text) = text else {
            return Err(Fault::not_found("no_config", "KV key `config` is empty"));
        };
        let mut verdict = match switchyard_core::config::parse(&text) {
            Ok(c) => serde_json::json!({ "valid": true, "id": c.id }),
            Err(errors) => serde_json::json!({ "valid": false, "errors": errors_json(&errors) }),
        };
        let mut parsed: serde_json::Value =
            serde_json::from_str(&text).unwrap_or(serde_json::Value::Null);
        // Webhook and origin URLs can be secrets: only an admin (who may write the document)
        // reads it whole; other roles get every URL as scheme and host (`ops::redact`).
        let text = if who.role == switchyard_core::ops::Role::Admin {
            text
        } else {
            redact::json(&mut parsed);
            redact::json(&mut verdict);
            redact::text(&text).into_owned()
        };
        // `text` is the stored document byte for byte: the config id is a hash of it, so an
        // editor that sends `text` back unchanged keeps the same id.
        let mut r = json(
            200,
            &serde_json::json!({ "config": parsed, "text": text, "validation": verdict, "version": version }),
        );
        if let Some(v) = version {
            let _ = r.headers_mut().set("etag", &switchyard_core::ops::etag(v));
        }
        return Ok(r);
    }
    let if_match = if writes_config(path, method) {
        ops::if_match(&req)?
    } else {
        None
    };
    // `allowed_methods` let only these through.
    let writes = path == "config" && method == "PUT";
    let body = http::read_body(&req, MAX_CONFIG_BYTES, "configs are at most 1 MiB").await?;
    let Ok(text) = String::from_utf8(body) else {
        return Err(Fault::bad_request("bad_config", "the config is not UTF-8"));
    };
    match switchyard_core::config::parse(&text) {
        Err(errors) => Err(Fault::caller(
            422,
            "invalid_config",
            format!("{} problem(s); nothing was written", errors.len()),
        )
        .with_field("errors", errors_json(&errors))),
        Ok(cfg) => {
            if !writes {
                let mut doc = serde_json::json!({ "valid": true, "id": cfg.id, "written": false, "routes": cfg.routes.len() });
                if matches!(query_param(query, "churn"), Some("1" | "true")) {
                    doc["churn"] = churn_against_current(&cfg, env).await;
                }
                return Ok(json(200, &doc));
            }
            // The A/B routes' allocation layouts first: the new ones are stored beside the
            // ones in force, so an edge on either config finds its layout, and a write
            // refused below leaves the edge routing as before.
            let old = config_in_force(env).await;
            let (plan, _) = layout_plan(old.as_deref(), &cfg, env).await;
            for r in &plan.writes {
                let doc = routing::layouts_value(plan.layouts(r)).to_string();
                kv_store.put(&format!("layout:{r}"), doc)?.execute().await?;
            }
            // Through the ConfigLog: If-Match checked, KV written and the version recorded
            // as one step (412 and nothing written on a stale version).
            let message = ops::message(&req, query);
            let mut logged = ops::write_config(&text, &who.name, &message, if_match, env).await?;
            if logged.status_code() != 200 {
                return Ok(logged);
            }
            config_cache::invalidate();
            for r in &plan.deletes {
                if let Err(e) = kv_store.delete(&format!("layout:{r}")).await {
                    worker::console_error!("switchyard-stats: layout:{r} not deleted: {e}");
                }
            }
            let v: serde_json::Value =
                serde_json::from_str(&logged.text().await?).unwrap_or_default();
            let version = v.get("version").and_then(serde_json::Value::as_i64);
            let mut r = json(
                200,
                &serde_json::json!({ "valid": true, "id": cfg.id, "written": true, "routes": cfg.routes.len(), "version": version, "previous": v.get("previous") }),
            );
            if let Some(v) = version {
                let _ = r.headers_mut().set("etag", &switchyard_core::ops::etag(v));
            }
            Ok(r)
        }
    }
}

fn writes_config(path: &str, method: &str) -> bool {
    path == "config" && method == "PUT"
}

fn errors_json(errors: &[switchyard_core::config::ConfigError]) -> serde_json::Value {
    errors
        .iter()
        .map(|e| serde_json::json!({ "path": e.path, "reason": e.reason }))
        .collect()
}

/// `POST /_switchyard/{rollback,resume,promote}/<route>`: an operator rolls a canary back,
/// resumes it at the step before the breach (or a stopped A/B route, or a promoted bandit),
/// or promotes it (canary to 100 %, a bandit's leader to the whole route). The route's
/// object decides (409 with a reason when the action does not apply) and records it in
/// `state:<route>`.
async fn operate(route: &str, action: &str, env: &Env) -> std::result::Result<Response, Fault> {
    let Some(cfg) = config_cache::current_for(env, route).await.config else {
        return Err(Fault::no_config());
    };
    if cfg.route(route).is_none() {
        return Err(Fault::unknown_route(format!("no route named {route:?}")));
    }
    stats_call(
        env,
        route,
        "operate",
        worker::Method::Post,
        Some(serde_json::json!({ "action": action }).to_string()),
    )
    .await
}

/// A call to a route's Durable Object on a client's behalf: a failure is ours, a JSON 502,
/// not a bare runtime error. The object's own answer (a refusal included) passes through.
async fn stats_call(
    env: &Env,
    route: &str,
    action: &str,
    method: worker::Method,
    body: Option<String>,
) -> std::result::Result<Response, Fault> {
    shared::call(env, route, action, method, body)
        .await
        .map_err(|e| {
            Fault::unavailable(
                "stats_unavailable",
                format!("the stats object of route {route:?} did not answer: {e}"),
            )
        })
}

/// Synthetic units compared by `POST /validate?churn=1`.
pub const CHURN_UNITS: u64 = 10_000;

/// The config in force: the newest valid one in the ConfigLog, else the cached KV config.
async fn config_in_force(env: &Env) -> Option<std::rc::Rc<switchyard_core::config::Config>> {
    let parsed = match ops::current(env).await {
        Some((_, text)) => switchyard_core::config::parse(&text)
            .ok()
            .map(std::rc::Rc::new),
        None => None,
    };
    match parsed {
        Some(c) => Some(c),
        None => config_cache::current(env).await.config,
    }
}

/// The allocation layouts `new` brings (`ops::plan_layouts`) and what KV holds now for
/// every A/B route of either config (`layout:<route>`; unreadable or invalid: none, logged).
async fn layout_plan(
    old: Option<&switchyard_core::config::Config>,
    new: &switchyard_core::config::Config,
    env: &Env,
) -> (
    switchyard_core::ops::LayoutPlan,
    Vec<(String, Vec<routing::Layout>)>,
) {
    let mut held: Vec<(String, Vec<routing::Layout>)> = Vec::new();
    let routes = old.into_iter().flat_map(|c| &c.routes).chain(&new.routes);
    if let Ok(kv) = env.kv(shared::BINDING) {
        for r in routes {
            let ab = switchyard_core::ops::ab_weights(r).is_some();
            if !ab || held.iter().any(|(n, _)| *n == r.name) {
                continue;
            }
            let text = kv.get(&format!("layout:{}", r.name)).text().await;
            let layouts = match text {
                Ok(Some(t)) => routing::parse_layouts(&t).unwrap_or_else(|e| {
                    worker::console_error!("switchyard-stats: layout:{}: {e}", r.name);
                    Vec::new()
                }),
                Ok(None) => Vec::new(),
                Err(e) => {
                    worker::console_error!("switchyard-stats: layout:{}: {e}", r.name);
                    Vec::new()
                }
            };
            held.push((r.name.clone(), layouts));
        }
    }
    let plan = switchyard_core::ops::plan_layouts(old, new, &|route| {
        held.iter()
            .find(|(n, _)| n == route)
            .map(|(_, l)| l.clone())
            .unwrap_or_default()
    });
    (plan, held)
}

/// `switchyard_core::ops::churn` of the config in force against `new` over [`CHURN_UNITS`]
/// synthetic units, A/B routes through the layouts KV holds and the ones the write would
/// store.
async fn churn_against_current(
    new: &switchyard_core::config::Config,
    env: &Env,
) -> serde_json::Value {
    match config_in_force(env).await {
        Some(old) => {
            let (plan, held) = layout_plan(Some(&old), new, env).await;
            let layouts = switchyard_core::ops::Layouts {
                old: held,
                new: plan.routes,
            };
            switchyard_core::ops::churn(&old, new, CHURN_UNITS, &[], &layouts, &mut |_, _| {})
        }
        None => serde_json::json!({
            "old": null, "new": new.id, "units": 0, "routes": [],
            "note": "no valid config in force to compare with",
        }),
    }
}

/// `?minutes=N` of `GET /series/<route>`: 1..=1440, default 1440.
fn series_minutes(query: Option<&str>) -> std::result::Result<u64, Fault> {
    let max = switchyard_core::learn::KEEP_MINUTES;
    let Some(v) = query_param(query, "minutes") else {
        return Ok(max);
    };
    match v.parse::<u64>() {
        Ok(n) if (1..=max).contains(&n) => Ok(n),
        _ => Err(Fault::bad_request(
            "bad_minutes",
            format!("minutes must be an integer from 1 to {max}, got {v:?}"),
        )),
    }
}

/// The first value of `name` in a query string (no percent-decoding: the values used here
/// are plain numbers and flags).
fn query_param<'q>(query: Option<&'q str>, name: &str) -> Option<&'q str> {
    query?
        .split('&')
        .filter_map(|kv| kv.split_once('=').or(Some((kv, ""))))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// The route `name` of the config in force, or the fault to answer.
async fn route_in_force(
    env: &Env,
    name: &str,
) -> std::result::Result<std::rc::Rc<switchyard_core::config::Config>, Fault> {
    let Some(cfg) = config_cache::current_for(env, name).await.config else {
        return Err(Fault::no_config());
    };
    if cfg.route(name).is_none() {
        return Err(Fault::unknown_route(format!(
            "no route named {name:?} in config {}",
            cfg.id
        )));
    }
    Ok(cfg)
}

/// Largest OPE or weights body accepted.
const MAX_SMALL_BODY: usize = 16 * 1024;

/// `POST /_switchyard/ope/<route>` `{"policy": {"<arm>": <weight>, ...}}`: the estimated
/// reward of that allocation over the route's logged decisions (IPS and self-normalised IPS
/// with 95 % intervals), computed by the route's object from its running sums.
async fn ope(req: Request, route: &str, env: &Env) -> std::result::Result<Response, Fault> {
    let cfg = route_in_force(env, route).await?;
    let body = http::read_body(&req, MAX_SMALL_BODY, "OPE bodies are at most 16 KiB").await?;
    let v: serde_json::Value =
        serde_json::from_slice(&body).map_err(|e| Fault::bad_json("bad_policy", e))?;
    let Some(policy) = v.get("policy") else {
        return Err(Fault::bad_request(
            "bad_policy",
            "missing field `policy` ({\"<arm>\": <weight>, ...})",
        ));
    };
    let Some(r) = cfg.route(route) else {
        return Err(Fault::no_config());
    };
    learn::parse_policy(r, policy).map_err(|e| Fault::bad_request("bad_policy", e.0))?;
    stats_call(
        env,
        route,
        "ope",
        worker::Method::Post,
        Some(serde_json::json!({ "policy": policy }).to_string()),
    )
    .await
}

/// `GET /_switchyard/decisions/<route>?after=<cursor>&limit=<n>`: one page of the route's
/// decision log as NDJSON (`application/x-ndjson`), oldest first; `x-switchyard-next` holds
/// the cursor of the next page while there is one.
async fn decisions(
    route: &str,
    query: Option<&str>,
    env: &Env,
) -> std::result::Result<Response, Fault> {
    route_in_force(env, route).await?;
    let mut action = String::from("decisions?");
    if let Some(after) = query_param(query, "after") {
        if learn::parse_cursor(after).is_none() {
            return Err(Fault::bad_request(
                "bad_cursor",
                "`after` must be the cursor a previous page named in x-switchyard-next",
            ));
        }
        action.push_str(&format!("after={after}&"));
    }
    if let Some(limit) = query_param(query, "limit") {
        let max = learn::EXPORT_PAGE_MAX;
        match limit.parse::<u32>() {
            Ok(n) if (1..=max).contains(&n) => action.push_str(&format!("limit={n}")),
            _ => {
                return Err(Fault::bad_request(
                    "bad_limit",
                    format!("limit must be an integer from 1 to {max}, got {limit:?}"),
                ))
            }
        }
    }
    let mut r = stats_call(env, route, &action, worker::Method::Get, None).await?;
    if r.status_code() != 200 {
        return Ok(r);
    }
    #[derive(serde::Deserialize)]
    struct Page {
        ndjson: String,
        next: Option<String>,
        rows: u64,
    }
    let text = r.text().await?;
    let page: Page = serde_json::from_str(&text)
        .map_err(|e| Fault::internal("bad_page", format!("decision page: {e}")))?;
    let headers = worker::Headers::new();
    let _ = headers.set("content-type", "application/x-ndjson; charset=utf-8");
    let _ = headers.set("cache-control", "no-store");
    let _ = headers.set("x-switchyard-rows", &page.rows.to_string());
    if let Some(n) = &page.next {
        let _ = headers.set("x-switchyard-next", n);
    }
    Ok(Response::ok(page.ndjson)?.with_headers(headers))
}

/// `PUT /_switchyard/weights/<route>` `{"arms": {"<arm>": <weight>, ...}}`: an external
/// trainer's weights for a bandit route with `trainer: "external"`, validated (the route's
/// arms only, finite, non-negative, one positive) and written to `weights:<route>` with
/// `updated_ms` = now. The edge applies the floor and health drains; a route whose learner
/// trains is refused (409): its learner would overwrite them.
async fn put_weights(req: Request, route: &str, env: &Env) -> std::result::Result<Response, Fault> {
    let cfg = route_in_force(env, route).await?;
    let Some(r) = cfg.route(route) else {
        return Err(Fault::no_config());
    };
    let switchyard_core::config::Strategy::Bandit {
        arms,
        trainer,
        min_share,
        ..
    } = &r.strategy
    else {
        return Err(Fault::caller(
            409,
            "not_external",
            format!("route {route:?} is not a bandit route; only bandits with trainer \"external\" take weights"),
        ));
    };
    if *trainer != switchyard_core::config::Trainer::External {
        return Err(Fault::caller(
            409,
            "not_external",
            format!("route {route:?} is trained by its learner, which overwrites weights:{route}; set \"trainer\": \"external\" first"),
        ));
    }
    let body = http::read_body(&req, MAX_SMALL_BODY, "weights bodies are at most 16 KiB").await?;
    let v: serde_json::Value =
        serde_json::from_slice(&body).map_err(|e| Fault::bad_json("bad_weights", e))?;
    let Some(obj) = v.get("arms").and_then(|a| a.as_object()) else {
        return Err(Fault::bad_request(
            "bad_weights",
            "missing object field `arms` ({\"<arm>\": <weight>, ...})",
        ));
    };
    let mut w = std::collections::BTreeMap::new();
    for (arm, x) in obj {
        if !arms.iter().any(|a| a.name == *arm) {
            return Err(Fault::bad_request(
                "bad_weights",
                format!("route {route:?} has no arm {arm:?}"),
            ));
        }
        match x.as_f64() {
            Some(f) if f.is_finite() && f >= 0.0 => {
                w.insert(arm.clone(), f);
            }
            _ => {
                return Err(Fault::bad_request(
                    "bad_weights",
                    format!("weight of {arm:?} must be a finite number >= 0"),
                ))
            }
        }
    }
    if !w.values().any(|x| *x > 0.0) {
        return Err(Fault::bad_request(
            "bad_weights",
            "at least one weight must be positive",
        ));
    }
    let weights = switchyard_core::config::Weights {
        arms: w,
        updated_ms: shared::now_ms(),
        drained: Vec::new(),
    };
    let text = serde_json::to_string(&weights)
        .map_err(|e| Fault::internal("bad_weights", e.to_string()))?;
    env.kv(shared::BINDING)?
        .put(&format!("weights:{route}"), text)?
        .execute()
        .await?;
    let shares = weights.resolve(arms, *min_share);
    Ok(json(
        200,
        &serde_json::json!({
            "written": true,
            "weights": weights,
            "floored": arms.iter().zip(shares).map(|(a, s)| (a.name.clone(), serde_json::json!(s))).collect::<serde_json::Map<_, _>>(),
        }),
    ))
}

/// Largest feedback body accepted.
const MAX_FEEDBACK_BYTES: usize = 8 * 1024;

/// `POST /_switchyard/feedback` `{"receipt", "reward"}`. The receipt is verified first (it
/// names the route); then, in this order, the route must be in the config in force (404
/// `unknown_route`), a route with `feedback_auth: "token"` needs a token of role `feedback` or
/// higher (401; every configured token has at least that role, so there is no 403), and the
/// reward must lie in the route's `reward` range (400 `reward_out_of_range`). A refusal
/// spends nothing: the same receipt can be credited later.
async fn feedback(req: Request, env: &Env) -> std::result::Result<Response, Fault> {
    let Some(signer) = shared::signer(env) else {
        return Err(Fault::ours(
            503,
            "receipts_disabled",
            "the RECEIPT_KEY secret is not configured",
        ));
    };
    let body = http::read_body(
        &req,
        MAX_FEEDBACK_BYTES,
        "feedback bodies are at most 8 KiB",
    )
    .await?;
    let v: serde_json::Value =
        serde_json::from_slice(&body).map_err(|e| Fault::bad_json("bad_feedback", e))?;
    let Some(token) = v.get("receipt").and_then(|r| r.as_str()) else {
        return Err(Fault::bad_request(
            "bad_feedback",
            "missing string field `receipt`",
        ));
    };
    let reward = match v.get("reward") {
        Some(serde_json::Value::Bool(b)) => f64::from(u8::from(*b)),
        Some(n) if n.as_f64().is_some_and(|r| r.is_finite() && r.abs() <= MAX_ABS_REWARD) => {
            n.as_f64().unwrap_or(0.0)
        }
        _ => {
            return Err(Fault::bad_request(
                "bad_feedback",
                format!("`reward` must be a boolean or a finite number within [-{MAX_ABS_REWARD:e}, {MAX_ABS_REWARD:e}]"),
            ))
        }
    };
    let (receipt, id) = signer
        .verify_with_id(token, shared::now_ms(), shared::RECEIPT_MAX_AGE_MS)
        .map_err(Fault::receipt)?;
    // A route the cached config does not name is looked up in KV again (a config written a
    // moment ago may name it); only a receipt that verified gets this far.
    let Some(cfg) = config_cache::current_for(env, receipt.route()).await.config else {
        return Err(Fault::no_config());
    };
    let Some(route) = cfg.route(receipt.route()) else {
        return Err(Fault::unknown_route(format!(
            "the receipt names route {:?}, which is not in config {}",
            receipt.route(),
            cfg.id
        )));
    };
    if route.feedback_auth == FeedbackAuth::Token {
        shared::authorized(&req, env, Role::Feedback)?;
    }
    if !route.reward.contains(reward) {
        let (lo, hi) = (route.reward.min, route.reward.max);
        return Err(Fault::bad_request(
            "reward_out_of_range",
            format!(
                "route {:?} accepts rewards in [{lo}, {hi}]; {reward} is outside it (the receipt is not spent)",
                route.name
            ),
        )
        .with_field("min", serde_json::json!(lo))
        .with_field("max", serde_json::json!(hi)));
    }
    // A receipt this isolate has seen credited (or refused as a replay) is refused here,
    // before it costs its ledger shard a database write.
    if shared::spent(&id) {
        return Err(Fault::receipt_spent());
    }
    let credit = serde_json::json!({
        "id": id.to_string(),
        "arm": receipt.arm(),
        "reward": reward,
        "issued_ms": receipt.issued_ms(),
        "p": receipt.propensity_ppm(),
        // The unit's key, so the route's object credits the unit that earned the reward.
        "unit": u64::from_be_bytes(receipt.unit_hash()),
    });
    // The ledger shard of this receipt: from the shard count signed into it (`v2`), so that
    // a replay meets the row that refuses it whatever `feedback_shards` says now (a `v1`
    // receipt: the route's `feedback_shards` in force). Shard 0 is the route's own object.
    let shard = learn::credit_shard(&id, receipt.shards(), route.feedback_shards);
    let object = learn::shard_object_name(receipt.route(), shard);
    let resp = stats_call(
        env,
        &object,
        "feedback",
        worker::Method::Post,
        Some(credit.to_string()),
    )
    .await?;
    if matches!(resp.status_code(), 200 | 409) {
        shared::spend(id);
    }
    Ok(resp)
}
