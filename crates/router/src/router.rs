//! The routing worker: Request -> route, unit id -> core decision -> origin fetch
//! (+ shadows) -> Response. Everything that can be decided without JavaScript lives in
//! `switchyard-core`; the per-route statistics live in the `switchyard-stats` worker's Durable
//! Object, reached through the `ROUTE_STATS` binding (`report`).

use crate::{forward, kv, report, shadow, state};
use switchyard_edge::{http, shared};

use std::borrow::Cow;
use std::rc::Rc;

use worker::{console_warn, Context, Env, Request, Response, Result};

use forward::{Body, Failure};
use http::{header_safe, json, json_error};
use switchyard_core::config::{Config, Route, Strategy};
use switchyard_core::engine::{self, RequestView, Target};
use switchyard_core::observe::{Observation, Outcome};
use switchyard_core::strategy::Inputs;
use switchyard_core::urlparts::{self, UrlParts};

use serde_json::{Map, Value};

/// Largest request body kept in memory so that it can be replayed (failover, shadows);
/// larger bodies are streamed to the primary only.
const MAX_REPLAY_BYTES: u64 = 8 << 20;
const ADMIN_PREFIX: &str = "/_switchyard/";

struct JsHeaders<'a>(&'a worker::Headers);

impl engine::Headers for JsHeaders<'_> {
    fn get(&self, name: &str) -> Option<Cow<'_, str>> {
        self.0.get(name).ok().flatten().map(Cow::Owned)
    }
}

/// Every request ends in a response: an internal failure becomes a JSON 500 naming it.
pub async fn handle(req: Request, env: Env, ctx: Context) -> Result<Response> {
    match dispatch(req, env, ctx).await {
        Ok(r) => Ok(r),
        Err(e) => {
            worker::console_error!("switchyard: internal error: {e}");
            Ok(json_error(
                500,
                "internal_error",
                &header_safe(&e.to_string()),
            ))
        }
    }
}

async fn dispatch(req: Request, env: Env, ctx: Context) -> Result<Response> {
    let raw_url = req.inner().url();
    let Some(url) = urlparts::split(&raw_url) else {
        return Ok(json_error(400, "bad_request", "unparseable request URL"));
    };
    #[cfg(feature = "test-panic")]
    if url.path == "/__switchyard_test/panic" {
        panic!("deliberate panic from the test-panic route (test builds only)");
    }
    if url.path == "/_switchyard" || url.path.starts_with(ADMIN_PREFIX) {
        return admin(req, &url, &env, &ctx).await;
    }
    let read = kv::config(&env, &ctx).await;
    let Some(cfg) = read.value else {
        return Ok(json_error(
            503,
            "no_config",
            "no valid config in KV key `config` (binding SPLIT_CONFIG)",
        ));
    };
    let rejected = state::with(|s| s.config.rejected());
    // The oldest KV-backed value this request used, when past the staleness bound.
    let mut stale = read.stale_ms;
    let mut resp = route(req, &url, &env, &ctx, &cfg, &mut stale).await;
    let _ = resp.headers_mut().set("x-switchyard-config", &cfg.id);
    if let Some(age) = stale {
        let _ = resp
            .headers_mut()
            .set("x-switchyard-stale", &age.to_string());
    }
    if let Some(why) = rejected {
        let _ = resp.headers_mut().set(
            "x-switchyard-config-error",
            &header_safe(&format!("newest config rejected: {why}")),
        );
    }
    Ok(resp)
}

async fn route(
    req: Request,
    url: &UrlParts<'_>,
    env: &Env,
    ctx: &Context,
    cfg: &Rc<Config>,
    stale: &mut Option<u64>,
) -> Response {
    let method = req.inner().method();
    let host = url.host.to_ascii_lowercase();
    let path = url.path.to_string();
    let query = url.query.map(str::to_string);
    // The request's own Headers object (no copy); it stays valid after the body is taken.
    let headers = worker::Headers(req.inner().headers());
    let js_headers = JsHeaders(&headers);
    let country = country(&req);
    let view = RequestView {
        method: &method,
        host: &host,
        path: &path,
        query: query.as_deref(),
        headers: &js_headers,
        country: country.as_deref(),
    };
    let route_idx = match engine::match_route(cfg, &host, &path, &method) {
        Target::Route(i) => i,
        Target::Default(origin) => {
            let o = cfg.origin(origin);
            let target = engine::forward_url(o, None, &path, query.as_deref());
            let out = forward::outgoing_headers(&headers, &host, url.scheme, &[]);
            let body = stream_body(&req);
            return match forward::send(&method, &target, &out, &body, o.timeout_ms).await {
                Ok(r) => forward::decorate(
                    r,
                    &[("x-switchyard-route", "-"), ("x-switchyard-arm", "default")],
                ),
                Err(f) => failure_response(f, &o.name, o.timeout_ms),
            };
        }
        Target::NotFound => {
            return json_error(
                404,
                "no_route",
                &format!("no route matches {method} {path}"),
            );
        }
    };
    let route = &cfg.routes[route_idx];

    let (unit, new_unit) = match engine::unit_id(route, &view) {
        Some(u) => (u.into_owned(), false),
        None => (engine::new_unit_id(&mut state::SecureRng), true),
    };

    // KV-backed inputs, only for the strategies that use them.
    let (weights, route_state) = match &route.strategy {
        Strategy::Bandit {
            arms, min_share, ..
        } => {
            let w = kv::weights(env, ctx, &route.name).await;
            *stale = (*stale).max(w.stale_ms);
            (w.value.map(|w| w.resolve(arms, *min_share)), None)
        }
        Strategy::Canary { .. }
        | Strategy::Rolling { .. }
        | Strategy::Ab { guard: Some(_), .. } => {
            let st = kv::route_state(env, ctx, &route.name).await;
            *stale = (*stale).max(st.stale_ms);
            (None, st.value)
        }
        _ => (None, None),
    };
    let mut decision = state::with(|s| {
        engine::decide(
            cfg,
            route_idx,
            &unit,
            &view,
            Inputs {
                weights: weights.as_deref(),
                state: route_state.as_deref(),
            },
            &mut s.rng,
        )
    });
    // QA: a valid override token forces its arm (out of the experiment statistics).
    let forced = apply_override(&headers, env, ctx, route, &mut decision);
    let origin = cfg.origin(decision.origin);

    let mut our_headers: Vec<(&str, String)> = vec![
        ("x-switchyard-route", route.name.clone()),
        ("x-switchyard-arm", decision.arm.to_string()),
        ("x-switchyard-reason", decision.reason.as_str().to_string()),
    ];
    if new_unit {
        our_headers.push((
            "set-cookie",
            format!(
                "{}={unit}; Path=/; Max-Age=31536000; HttpOnly; Secure; SameSite=Lax",
                engine::UNIT_COOKIE
            ),
        ));
    }

    // Recreate: while the origin fails its health check, answer 503 instead of an error.
    if let Strategy::Recreate {
        health_path: Some(hp),
        ..
    } = &route.strategy
    {
        if !healthy(&origin.base, hp, origin.timeout_ms).await {
            return with_headers(unavailable(&origin.name), &our_headers);
        }
    }

    // Body: replayable bytes when a failover or a shadow needs them and it is small enough.
    let wants_replay = decision.failover.is_some() || decision.shadows != 0;
    let body = match body_length(&req, &method) {
        BodyLen::None => Body::Empty,
        BodyLen::Known(n) if wants_replay && n <= MAX_REPLAY_BYTES => {
            let mut req = req;
            match req.bytes().await {
                Ok(b) => Body::Bytes(b.into()),
                Err(e) => {
                    return json_error(
                        400,
                        "bad_request_body",
                        &format!("could not read request body: {e}"),
                    )
                }
            }
        }
        _ => stream_body(&req),
    };

    let flags = decision.flags_header(route);
    let mut extra: Vec<(&str, &str)> = vec![
        ("x-switchyard-route", &route.name),
        ("x-switchyard-arm", decision.arm),
    ];
    if let Some(f) = flags.as_deref() {
        extra.push(("x-switchyard-flags", f));
    }
    let out = forward::outgoing_headers(&headers, &host, url.scheme, &extra);
    let target = engine::forward_url(
        origin,
        route.strip_prefix.as_deref(),
        &path,
        query.as_deref(),
    );

    let started = state::now_ms();
    let mut result = forward::send(&method, &target, &out, &body, origin.timeout_ms).await;
    let mut answered_by = (decision.arm, origin);

    // Blue-green failover: once, to the other side, when the body can be replayed.
    if let Some((fo_arm, fo_origin)) = decision.failover {
        let failed = match &result {
            Ok(r) => r.status_code() >= 500,
            Err(_) => true,
        };
        if failed && body.replayable() {
            let o = cfg.origin(fo_origin);
            let mut out2 = out.clone();
            for (k, v) in out2.iter_mut() {
                if k == "x-switchyard-arm" {
                    *v = fo_arm.to_string();
                }
            }
            let url2 =
                engine::forward_url(o, route.strip_prefix.as_deref(), &path, query.as_deref());
            let second = forward::send(&method, &url2, &out2, &body, o.timeout_ms).await;
            if second.as_ref().is_ok_and(|r| r.status_code() < 500) || result.is_err() {
                console_warn!(
                    "switchyard: route {} failed over from {} to {}",
                    route.name,
                    origin.name,
                    o.name
                );
                our_headers.push((
                    "x-switchyard-failover",
                    format!("{}->{}", decision.arm, fo_arm),
                ));
                result = second;
                answered_by = (fo_arm, o);
            }
        }
    }
    let latency_ms = state::now_ms().saturating_sub(started) as u32;
    for (k, v) in our_headers.iter_mut() {
        if *k == "x-switchyard-arm" {
            *v = answered_by.0.to_string();
        }
    }

    let (outcome, status) = match &result {
        Ok(r) => (Outcome::from_status(r.status_code()), r.status_code()),
        Err(Failure::Timeout) => (Outcome::Timeout, 0),
        Err(Failure::Connect(_)) => (Outcome::ConnectError, 0),
    };
    if !forced {
        report::observe(
            env,
            ctx,
            Observation {
                route: &route.name,
                arm: answered_by.0,
                outcome,
                status,
                latency_ms,
                fingerprint: &route.fingerprint,
                split_ppm: switchyard_core::strategy::split_ppm(route, route_state.as_deref()),
            },
        );
    }
    let receipt = if forced {
        None
    } else {
        report::receipt(env, &route.name, answered_by.0, &unit, &cfg.id)
    };
    if let Some(token) = receipt {
        our_headers.push(("x-switchyard-receipt", token));
    }

    let mut response = match result {
        Ok(r) => r,
        Err(f) => {
            if matches!(
                route.strategy,
                Strategy::Recreate {
                    health_path: Some(_),
                    ..
                }
            ) && matches!(f, Failure::Connect(_))
            {
                state::with(|s| {
                    s.health
                        .insert(answered_by.1.base.clone(), (state::now_ms(), false))
                });
                return with_headers(unavailable(&answered_by.1.name), &our_headers);
            }
            return with_headers(
                failure_response(f, &answered_by.1.name, answered_by.1.timeout_ms),
                &our_headers,
            );
        }
    };

    // Shadows: after the primary answered, inside wait_until.
    if decision.shadows != 0 {
        let jobs = shadow_jobs(
            cfg,
            route,
            &decision,
            &method,
            &path,
            query.as_deref(),
            &out,
            &body,
        );
        if !jobs.is_empty() {
            let needs_body = jobs.iter().any(|j| j.compare.is_some());
            let primary = shadow::Primary {
                status: response.status_code(),
                latency_ms,
                body: if needs_body {
                    response.cloned().ok()
                } else {
                    None
                },
            };
            state::background(ctx, shadow::run(env.clone(), jobs, primary));
        }
    }

    let add: Vec<(&str, &str)> = our_headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
    response = forward::decorate(response, &add);
    response
}

/// `x-switchyard-override: <token>`: a valid token for this route forces its arm (no
/// failover, no shadows, no receipt, no observation: `true`); an invalid, expired or foreign
/// token is ignored and counted. Both are reported as override counts.
fn apply_override<'c>(
    headers: &worker::Headers,
    env: &Env,
    ctx: &Context,
    route: &'c Route,
    decision: &mut switchyard_core::decision::Decision<'c>,
) -> bool {
    let Some(token) = headers.get("x-switchyard-override").ok().flatten() else {
        return false;
    };
    let now = state::now_ms();
    let chosen = report::signer(env)
        .and_then(|s| switchyard_core::overrides::resolve(&s, route, &token, now).ok());
    match chosen {
        Some((arm, origin)) => {
            decision.arm = arm;
            decision.origin = origin;
            decision.failover = None;
            decision.shadows = 0;
            decision.reason = switchyard_core::decision::Reason::Forced;
            report::override_seen(env, ctx, &route.name, Some(arm));
            true
        }
        None => {
            console_warn!("switchyard: route {}: override token ignored", route.name);
            report::override_seen(env, ctx, &route.name, None);
            false
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn shadow_jobs(
    cfg: &Config,
    route: &Route,
    decision: &switchyard_core::decision::Decision<'_>,
    method: &str,
    path: &str,
    query: Option<&str>,
    out: &[(String, String)],
    body: &Body,
) -> Vec<shadow::ShadowJob> {
    let mut jobs = Vec::new();
    for i in decision.shadow_indices() {
        let s = &route.shadows[i];
        let fits = match body {
            Body::Empty => true,
            Body::Bytes(b) => b.len() as u64 <= s.max_body_bytes,
            Body::Stream(_) => false,
        };
        if !fits {
            continue;
        }
        let o = cfg.origin(s.origin);
        let mut headers = out.to_vec();
        headers.push(("x-switchyard-shadow".into(), "1".into()));
        jobs.push(shadow::ShadowJob {
            route: route.name.clone(),
            origin: o.name.clone(),
            url: engine::forward_url(o, route.strip_prefix.as_deref(), path, query),
            method: method.to_string(),
            headers,
            body: body.clone(),
            timeout_ms: s.timeout_ms,
            compare: s.compare.clone(),
        });
    }
    jobs
}

enum BodyLen {
    None,
    Known(u64),
    Unknown,
}

fn body_length(req: &Request, method: &str) -> BodyLen {
    if method.eq_ignore_ascii_case("GET") || method.eq_ignore_ascii_case("HEAD") {
        return BodyLen::None;
    }
    if req.inner().body().is_none() {
        return BodyLen::None;
    }
    match req.headers().get("content-length").ok().flatten() {
        Some(v) => match v.trim().parse::<u64>() {
            Ok(0) => BodyLen::None,
            Ok(n) => BodyLen::Known(n),
            Err(_) => BodyLen::Unknown,
        },
        None => BodyLen::Unknown,
    }
}

fn stream_body(req: &Request) -> Body {
    match req.inner().body() {
        Some(s) => Body::Stream(s),
        None => Body::Empty,
    }
}

fn country(req: &Request) -> Option<String> {
    let cf = js_sys::Reflect::get(req.inner(), &"cf".into()).ok()?;
    if cf.is_undefined() || cf.is_null() {
        return None;
    }
    js_sys::Reflect::get(&cf, &"country".into())
        .ok()?
        .as_string()
}

async fn healthy(base: &str, health_path: &str, timeout_ms: u32) -> bool {
    let now = state::now_ms();
    if let Some((at, ok)) = state::with(|s| s.health.get(base).copied()) {
        if now.saturating_sub(at) < state::HEALTH_TTL_MS {
            return ok;
        }
    }
    let url = format!("{base}{health_path}");
    let ok = match forward::send("GET", &url, &[], &Body::Empty, timeout_ms.min(2_000)).await {
        Ok(r) => (200..300).contains(&r.status_code()),
        Err(_) => false,
    };
    state::with(|s| s.health.insert(base.to_string(), (state::now_ms(), ok)));
    ok
}

fn unavailable(origin: &str) -> Response {
    let mut r = json_error(
        503,
        "origin_unhealthy",
        &format!("origin {origin} is being replaced and is not healthy yet; retry shortly"),
    );
    let _ = r.headers_mut().set("retry-after", "5");
    r
}

fn failure_response(f: Failure, origin: &str, timeout_ms: u32) -> Response {
    match f {
        Failure::Timeout => json_error(
            504,
            "origin_timeout",
            &format!("origin {origin} did not answer within {timeout_ms} ms"),
        ),
        Failure::Connect(e) => json_error(
            502,
            "origin_unreachable",
            &format!("origin {origin} could not be reached: {}", header_safe(&e)),
        ),
    }
}

fn with_headers(mut r: Response, add: &[(&str, String)]) -> Response {
    for (k, v) in add {
        let _ = r.headers_mut().set(k, v);
    }
    r
}

/// `/_switchyard/*`: `status` describes this isolate's routing state and is answered here;
/// everything else (feedback, statistics, config, rollback, dashboard) is the control plane,
/// served by the `switchyard-stats` worker through the `CONTROL` service binding, so the
/// request path's bundle carries none of it.
async fn admin(req: Request, url: &UrlParts<'_>, env: &Env, ctx: &Context) -> Result<Response> {
    if url.path.trim_start_matches(ADMIN_PREFIX) != "status" {
        return control_plane(req, env).await;
    }
    if let Err(denied) = shared::authorize(&req, env, switchyard_core::auth::Role::Viewer) {
        return Ok(denied);
    }
    let read = kv::config(env, ctx).await;
    let cfg = read.value;
    let rejected = state::with(|s| s.config.rejected());
    Ok(json(
        200,
        // Built directly rather than with `json!` (see edge::http::json_error).
        &status_doc(
            cfg.as_deref(),
            rejected.map(|r| r.to_string()),
            read.stale_ms,
        ),
    ))
}

/// `{"config", "routes": [{"name", "strategy", "fingerprint"}], "rejected", "stale_ms"}`.
fn status_doc(cfg: Option<&Config>, rejected: Option<String>, stale_ms: Option<u64>) -> Value {
    let mut doc = Map::new();
    doc.insert("config".into(), cfg.map(|c| c.id.clone()).into());
    let routes = cfg.map(|c| {
        c.routes
            .iter()
            .map(|r| {
                let mut m = Map::new();
                m.insert("name".into(), r.name.clone().into());
                m.insert("strategy".into(), r.strategy.kind().into());
                m.insert("fingerprint".into(), r.fingerprint.clone().into());
                Value::Object(m)
            })
            .collect::<Vec<_>>()
    });
    doc.insert("routes".into(), routes.into());
    // The CONTRACTS.md shape (`config` itself stays the id string it always was).
    let mut status = Map::new();
    status.insert("valid".into(), rejected.is_none().into());
    status.insert("error".into(), rejected.clone().into());
    status.insert("last_valid_id".into(), cfg.map(|c| c.id.clone()).into());
    doc.insert("rejected".into(), rejected.into());
    doc.insert("stale_ms".into(), stale_ms.into());
    doc.insert("config_status".into(), status.into());
    doc.into()
}

async fn control_plane(req: Request, env: &Env) -> Result<Response> {
    let unavailable = |why: String| {
        json_error(
            502,
            "control_unavailable",
            &format!("the switchyard-stats worker (CONTROL binding) did not answer: {why}"),
        )
    };
    let control = match env.service("CONTROL") {
        Ok(c) => c,
        Err(e) => return Ok(unavailable(e.to_string())),
    };
    match control.fetch_request(req).await {
        // The control plane answers JSON errors itself. A 5xx that is not JSON came from the
        // runtime: `wrangler dev` without the switchyard-stats worker answers a text 503
        // ("Couldn't find a local dev session ..."): the documented JSON 502 instead.
        Ok(mut r) if r.status_code() >= 500 && !is_json(&r) => {
            let text = r.text().await.unwrap_or_default();
            let why = format!(
                "runtime answered {}: {}",
                r.status_code(),
                text.trim().chars().take(200).collect::<String>()
            );
            Ok(unavailable(header_safe(&why)))
        }
        Ok(r) => Ok(r),
        Err(e) => Ok(unavailable(e.to_string())),
    }
}

fn is_json(r: &Response) -> bool {
    r.headers()
        .get("content-type")
        .ok()
        .flatten()
        .is_some_and(|t| t.starts_with("application/json"))
}
