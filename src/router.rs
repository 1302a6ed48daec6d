//! The routing worker: Request -> route, unit id -> core decision -> origin fetch
//! (+ shadows) -> Response. Everything that can be decided without JavaScript lives in
//! `switchyard-core`; the per-route statistics live in the `switchyard-stats` worker's Durable
//! Object, reached through the `ROUTE_STATS` binding (`report`).

use crate::js::{self, Ctx, Env, Headers, Request, Response};
use crate::{forward, kv, report, shadow, state};

use std::borrow::Cow;
use std::rc::Rc;

use forward::{Body, Failure};
use switchyard_core::config::{Config, Origin, Route, Strategy, Trainer};
use switchyard_core::observe::{DecisionRow, Observation, Outcome};
use switchyard_core::ops::{self, header_safe, Fault, Role, Tokens};
use switchyard_core::routing::{self, Answer, BodyPlan, Inputs, RequestView, Target, UrlParts};

use serde_json::{Map, Value};

thread_local! {
    /// Failed operator authentications per client address in this isolate.
    static AUTH_FAILURES: std::cell::RefCell<ops::FailureLimit> = Default::default();
}

const ADMIN_PREFIX: &str = "/_switchyard/";

/// `x-switchyard-config-error`: the whole of what a caller learns when KV holds a document
/// that was refused (the config in force is an older one).
pub const CONFIG_ERROR: &str =
    "newest config rejected; the last valid one is in force (operators: GET /_switchyard/config)";

/// The caller's headers for the core: a lookup crosses the boundary only for a name the
/// request has (`names`, listed once per request).
struct JsHeaders<'a> {
    headers: &'a Headers,
    names: &'a [&'a str],
}

impl routing::Headers for JsHeaders<'_> {
    fn get(&self, name: &str) -> Option<Cow<'_, str>> {
        if !forward::has(self.names, name) {
            return None;
        }
        self.headers.get(name).ok().flatten().map(Cow::Owned)
    }
}

/// The JSON response for a fault: the one place a `Fault` becomes a response.
pub fn fault(f: &Fault) -> Response {
    js::json(f.status(), &f.body(), &f.headers)
}

/// A JSON document with status `status`.
fn json(status: u16, body: &Value) -> Response {
    // to_vec, not to_string: one serializer instantiation (a Vec writer) for the bundle.
    js::json(status, &serde_json::to_vec(body).unwrap_or_default(), &[])
}

/// Every request ends in a response: a fault becomes its JSON error.
pub async fn handle(req: Request, env: Env, ctx: Ctx) -> Response {
    match dispatch(req, env, ctx).await {
        Ok(r) => r,
        Err(f) => {
            if f.status() >= 500 && f.party() == switchyard_core::ops::Party::Ours {
                js::error(&format!("switchyard: {}: {}", f.code, f.message));
            }
            fault(&f)
        }
    }
}

async fn dispatch(req: Request, env: Env, ctx: Ctx) -> Result<Response, Fault> {
    let raw_url = req.url();
    let Some(url) = routing::split_url(&raw_url) else {
        return Err(Fault::caller(400, "bad_request", "unparseable request URL"));
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
        return Err(Fault::ours(
            503,
            "no_config",
            "no valid config in KV key `config` (binding SPLIT_CONFIG)",
        ));
    };
    let rejected = state::with(|s| s.config.rejected());
    // The oldest KV-backed value this request used, when past the staleness bound.
    let mut stale = read.stale_ms;
    let mut ours: Vec<(&'static str, String)> = Vec::with_capacity(8);
    let result = route(req, &url, &env, &ctx, &cfg, &mut stale, &mut ours).await;
    ours.push(("x-switchyard-config", cfg.id.clone()));
    if let Some(age) = stale {
        ours.push(("x-switchyard-stale", age.to_string()));
    }
    // Only that the newest document was refused: the reason quotes the document (an origin's
    // `user:pass@` or `?api_key=`, a webhook URL) and this header reaches anonymous callers.
    // Operators read the errors from the control plane (`GET /_switchyard/config`).
    if rejected.is_some() {
        ours.push(("x-switchyard-config-error", CONFIG_ERROR.to_string()));
    }
    let add: Vec<(&str, &str)> = ours.iter().map(|(k, v)| (*k, v.as_str())).collect();
    Ok(match result {
        // The origin's response, with our headers (one native copy).
        Ok(origin) => forward::decorate(&origin, &add),
        // Our own JSON answer (an error, or 503 while an origin is replaced): headers set.
        Err(f) => {
            let mut f = f;
            for (k, v) in ours {
                f = f.with_header(k, v);
            }
            fault(&f)
        }
    })
}

/// Routes one request: `Ok` with the origin's response (the caller decorates it with
/// `ours`), or the fault to answer. `ours` collects the routing headers either way.
async fn route(
    req: Request,
    url: &UrlParts<'_>,
    env: &Env,
    ctx: &Ctx,
    cfg: &Rc<Config>,
    stale: &mut Option<u64>,
    ours: &mut Vec<(&'static str, String)>,
) -> Result<Response, Fault> {
    let method = req.method();
    let host = url.host.to_ascii_lowercase();
    let path = url.path;
    let query = url.query;
    // The request's own Headers object (no copy); it stays valid after the body is taken.
    let headers = req.headers();
    let names_text = js::names(&headers);
    let names = forward::names(&names_text);
    let js_headers = JsHeaders {
        headers: &headers,
        names: &names,
    };
    let country = js::country(&req);
    let view = RequestView {
        method: &method,
        host: &host,
        path,
        query,
        headers: &js_headers,
        country: country.as_deref(),
    };
    let incoming = Incoming {
        req: &req,
        method: &method,
        host: &host,
        url,
        headers: &headers,
        names: &names,
    };
    let route_idx = match routing::match_route(cfg, &host, path, &method) {
        Target::Route(i) => i,
        Target::Default(origin) => {
            let o = cfg.origin(origin);
            let (target, out, body) = default_request(&incoming, o, ours);
            return forward::send(&method, &target, &out, &body, o.timeout_ms)
                .await
                .map_err(|f| failure(f, &o.name, o.timeout_ms));
        }
        Target::NotFound => {
            return Err(Fault::caller(
                404,
                "no_route",
                format!("no route matches {method} {path}"),
            ));
        }
    };
    let route = &cfg.routes[route_idx];

    let (unit, new_unit) = match routing::unit_id(route, &view) {
        Ok(Some(u)) => (u.into_owned(), false),
        Ok(None) => (routing::new_unit_id(&mut state::SecureRng), true),
        Err((source, e)) => {
            return Err(Fault::caller(
                400,
                "invalid_unit_id",
                format!("the unit id ({source}) is {}", e.reason()),
            ))
        }
    };
    // KV-backed inputs, only for the strategies that use them.
    let reads_state = switchyard_core::routing::reads_state(route);
    // The allocation document (an Rc handle on the cached value: nothing is copied).
    let bandit = matches!(route.strategy, Strategy::Bandit { .. });
    let doc = if bandit || matches!(route.strategy, Strategy::Ab { .. }) {
        let d = kv::route_doc(env, ctx, &route.name, bandit).await;
        *stale = (*stale).max(d.stale_ms);
        d.value
    } else {
        None
    };
    let layouts = doc.as_ref().map_or(&[][..], |d| &d.layouts[..]);
    let (weights, route_state) = match &route.strategy {
        Strategy::Bandit { trainer, .. } => {
            // An external trainer's weights get the learner's drains from `state:<route>`.
            let st = if *trainer == Trainer::External {
                let st = kv::route_state(env, ctx, &route.name).await;
                *stale = (*stale).max(st.stale_ms);
                st.value
            } else {
                None
            };
            let now = state::now_ms();
            let written = doc.as_ref().and_then(|d| d.weights.as_ref());
            let shares = routing::edge_weights(route, written, st.as_deref(), now);
            (shares, None)
        }
        _ if reads_state => {
            let st = kv::route_state(env, ctx, &route.name).await;
            *stale = (*stale).max(st.stale_ms);
            (None, st.value)
        }
        _ => (None, None),
    };
    // The controller epoch this request is routed under (its observations carry it).
    let epoch = reads_state.then(|| route_state.as_ref().map_or(0, |s| s.epoch));
    let mut decision = state::with(|s| {
        routing::decide(
            cfg,
            route_idx,
            &unit,
            &view,
            Inputs {
                weights: weights.as_deref(),
                state: route_state.as_deref(),
                layouts,
            },
            &mut s.rng,
        )
    });
    // QA: a valid override token forces its arm (out of the experiment statistics).
    let forced = apply_override(&headers, &names, env, ctx, route, &mut decision);
    let origin = cfg.origin(decision.origin);
    announce(ours, route, &decision, new_unit.then_some(unit.as_str()));

    // Recreate: while the origin fails its health check, answer 503 instead of an error.
    if let Strategy::Recreate {
        health_path: Some(hp),
        ..
    } = &route.strategy
    {
        if !healthy(&origin.base, hp, origin.timeout_ms).await {
            return Err(unavailable(&origin.name));
        }
    }

    // Body: replayable bytes when a failover or a shadow needs them and it is small enough.
    let wants_replay = decision.failover.is_some() || decision.shadows != 0;
    let body = match body_plan(&incoming, wants_replay) {
        BodyPlan::Empty => Body::Empty,
        BodyPlan::Stream => forward::stream_body(&req),
        BodyPlan::Buffer => match js::request_buffer(&req).await {
            Ok((buf, len)) => Body::Buffer(buf, len),
            Err(e) => {
                return Err(Fault::caller(
                    400,
                    "bad_request_body",
                    format!("could not read request body: {e}"),
                ))
            }
        },
    };
    let out = origin_headers(&incoming, route, &decision);
    let sent = Sent {
        method: &method,
        path,
        query,
        headers: &out,
        body: &body,
    };

    let started = state::now_ms();
    let (result, answered_by) =
        send_with_failover(cfg, route, &decision, origin, &sent, ours).await;
    let latency_ms = state::now_ms().saturating_sub(started) as u32;
    if !forced {
        let split_ppm = routing::split_ppm(route, route_state.as_deref());
        // The propensity of the arm that answered: a failover's answer is no draw of the
        // policy.
        let propensity = if answered_by.0 == decision.arm {
            decision.propensity_ppm()
        } else {
            None
        };
        let logged = propensity.filter(|_| route.log.decisions).map(|p| Logged {
            p,
            ctx: routing::log_context(route, &view),
        });
        observe(
            env,
            ctx,
            cfg,
            route,
            (split_ppm, epoch),
            answered_by.0,
            &unit,
            &result,
            latency_ms,
            propensity,
            logged,
            ours,
        );
    }
    let response = primary_response(result, route, answered_by.1)?;

    // Shadows: after the primary answered, inside waitUntil.
    if decision.shadows != 0 {
        start_shadows(
            env, ctx, cfg, route, &decision, epoch, &sent, &response, latency_ms,
        );
    }
    Ok(response)
}

/// The caller's request as the steps below read it.
struct Incoming<'a> {
    req: &'a Request,
    method: &'a str,
    host: &'a str,
    url: &'a UrlParts<'a>,
    headers: &'a Headers,
    names: &'a [&'a str],
}

/// A request no route matches goes to the config's default origin, body streamed: its URL,
/// headers and body (our headers name no route and the `default` arm).
fn default_request(
    incoming: &Incoming<'_>,
    o: &Origin,
    ours: &mut Vec<(&'static str, String)>,
) -> (String, Headers, Body) {
    let url = incoming.url;
    let target = routing::forward_url(o, None, url.path, url.query);
    let out = forward::outgoing_headers(
        incoming.headers,
        incoming.names,
        incoming.host,
        url.scheme,
        &[],
    );
    let body = forward::stream_body(incoming.req);
    ours.push(("x-switchyard-route", "-".into()));
    ours.push(("x-switchyard-arm", "default".into()));
    (target, out, body)
}

/// The headers the chosen origin sees: the caller's, edited by the forwarding rules, plus
/// the route, the arm and the flags that are on.
fn origin_headers(
    incoming: &Incoming<'_>,
    route: &Route,
    decision: &switchyard_core::routing::Decision<'_>,
) -> Headers {
    let flags = decision.flags_header(route);
    let mut extra: Vec<(&str, &str)> = vec![
        ("x-switchyard-route", &route.name),
        ("x-switchyard-arm", decision.arm),
    ];
    if let Some(f) = flags.as_deref() {
        extra.push(("x-switchyard-flags", f));
    }
    forward::outgoing_headers(
        incoming.headers,
        incoming.names,
        incoming.host,
        incoming.url.scheme,
        &extra,
    )
}

/// What went to the chosen origin, for a failover and the shadows to send again.
struct Sent<'a> {
    method: &'a str,
    path: &'a str,
    query: Option<&'a str>,
    headers: &'a Headers,
    body: &'a Body,
}

/// Our answer headers for a decision (route, arm, reason) and, for a unit seen for the first
/// time (`new_unit`), the cookie that keeps it sticky.
fn announce(
    ours: &mut Vec<(&'static str, String)>,
    route: &Route,
    decision: &switchyard_core::routing::Decision<'_>,
    new_unit: Option<&str>,
) {
    ours.push(("x-switchyard-route", route.name.clone()));
    ours.push(("x-switchyard-arm", decision.arm.to_string()));
    ours.push(("x-switchyard-reason", decision.reason.as_str().to_string()));
    if let Some(unit) = new_unit {
        ours.push((
            "set-cookie",
            format!(
                "{}={unit}; Path=/; Max-Age=31536000; HttpOnly; Secure; SameSite=Lax",
                routing::UNIT_COOKIE
            ),
        ));
    }
}

/// How the request body goes to the origin: none, streamed through, or buffered when a
/// failover or a shadow needs to send it again (`wants_replay`) and it is small enough.
fn body_plan(incoming: &Incoming<'_>, wants_replay: bool) -> BodyPlan {
    let length = if forward::has(incoming.names, "content-length") {
        incoming.headers.get("content-length").ok().flatten()
    } else {
        None
    };
    routing::body_plan(
        incoming.method,
        incoming.req.body().is_some(),
        length.as_deref(),
        wants_replay,
    )
}

/// Sends to the chosen origin and, for blue-green, once to the other side when the first
/// answer calls for a failover and the body can be replayed. Returns the answer kept and who
/// gave it (arm, origin); our `x-switchyard-arm` names that arm.
async fn send_with_failover<'c>(
    cfg: &'c Config,
    route: &Route,
    decision: &switchyard_core::routing::Decision<'c>,
    origin: &'c Origin,
    sent: &Sent<'_>,
    ours: &mut Vec<(&'static str, String)>,
) -> (Result<Response, Failure>, (&'c str, &'c Origin)) {
    let target = routing::forward_url(origin, route.strip_prefix.as_deref(), sent.path, sent.query);
    let mut result = forward::send(
        sent.method,
        &target,
        sent.headers,
        sent.body,
        origin.timeout_ms,
    )
    .await;
    let mut answered_by = (decision.arm, origin);
    if let Some((fo_arm, fo_origin)) = decision.failover {
        if routing::fail_over(answer(&result), sent.body.replayable()) {
            let o = cfg.origin(fo_origin);
            let out2 = forward::with_header(sent.headers, "x-switchyard-arm", fo_arm);
            let url2 =
                routing::forward_url(o, route.strip_prefix.as_deref(), sent.path, sent.query);
            let second = forward::send(sent.method, &url2, &out2, sent.body, o.timeout_ms).await;
            if routing::take_second(answer(&result), answer(&second)) {
                js::warn(&format!(
                    "switchyard: route {} failed over from {} to {}",
                    route.name, origin.name, o.name
                ));
                ours.push((
                    "x-switchyard-failover",
                    format!("{}->{}", decision.arm, fo_arm),
                ));
                result = second;
                answered_by = (fo_arm, o);
            }
        }
    }
    for (k, v) in ours.iter_mut() {
        if *k == "x-switchyard-arm" {
            *v = answered_by.0.to_string();
        }
    }
    (result, answered_by)
}

/// A decision for the route's decision log: its propensity (ppm) and the route's
/// `log.context` attributes of the request.
struct Logged {
    p: u32,
    ctx: std::collections::BTreeMap<String, Option<String>>,
}

/// The observation of a routed request (to the route's statistics), its receipt header
/// (carrying the arm's propensity when the decision was a draw of the policy) and, for a
/// route that logs decisions, its decision-log row. `split`: the split in force (ppm) and the
/// controller epoch it was routed under.
#[allow(clippy::too_many_arguments)]
fn observe(
    env: &Env,
    ctx: &Ctx,
    cfg: &Config,
    route: &Route,
    (split_ppm, epoch): (u32, Option<u64>),
    arm: &str,
    unit: &str,
    result: &Result<Response, Failure>,
    latency_ms: u32,
    propensity: Option<u32>,
    logged: Option<Logged>,
    ours: &mut Vec<(&'static str, String)>,
) {
    let (outcome, status) = match result {
        Ok(r) => (Outcome::from_status(r.status()), r.status()),
        Err(Failure::Timeout) => (Outcome::Timeout, 0),
        Err(Failure::Connect(_)) => (Outcome::ConnectError, 0),
    };
    // One keyed hash of the unit names it in the observation (exposure per unit), in the
    // receipt (so feedback finds the unit's row) and in the decision log.
    let signer = report::signer(env);
    let unit_id = report::unit_id(signer.as_ref(), unit);
    if let Some(r) = report::receipt(signer.as_ref(), route, arm, unit_id, &cfg.id, propensity) {
        if let Some(l) = logged {
            report::log_decision(
                &route.name,
                DecisionRow {
                    id: r.id,
                    at: r.issued_ms,
                    unit: report::hex(&unit_id),
                    arm: arm.to_string(),
                    p: l.p,
                    ctx: l.ctx,
                },
            );
        }
        ours.push(("x-switchyard-receipt", r.token));
    }
    // After the decision row: the observation schedules the batch's flush.
    report::observe(
        env,
        ctx,
        Observation {
            route: &route.name,
            arm,
            outcome,
            status,
            latency_ms,
            fingerprint: &route.fingerprint,
            split_ppm,
            propensity_ppm: propensity,
            epoch,
            // Units are counted where there is an experiment to analyse.
            unit: matches!(
                route.strategy,
                Strategy::Ab { .. } | Strategy::Canary { .. } | Strategy::Bandit { .. }
            )
            .then(|| u64::from_be_bytes(unit_id)),
        },
    );
}

/// The origin's response, or the fault that stands for a failed send. A recreate route with
/// a health check marks the origin down on a connection failure and answers 503.
fn primary_response(
    result: Result<Response, Failure>,
    route: &Route,
    origin: &Origin,
) -> Result<Response, Fault> {
    match result {
        Ok(r) => Ok(r),
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
                        .insert(origin.base.clone(), (state::now_ms(), false))
                });
                return Err(unavailable(&origin.name));
            }
            Err(failure(f, &origin.name, origin.timeout_ms))
        }
    }
}

/// The decision's shadows, sent after the primary answered, inside waitUntil.
#[allow(clippy::too_many_arguments)]
fn start_shadows(
    env: &Env,
    ctx: &Ctx,
    cfg: &Config,
    route: &Route,
    decision: &switchyard_core::routing::Decision<'_>,
    epoch: Option<u64>,
    sent: &Sent<'_>,
    response: &Response,
    latency_ms: u32,
) {
    let jobs = shadow_jobs(
        cfg,
        route,
        decision,
        epoch,
        sent.method,
        sent.path,
        sent.query,
        sent.headers,
        sent.body,
    );
    if !jobs.is_empty() {
        let needs_body = jobs.iter().any(|j| j.compare.is_some());
        let primary = shadow::Primary {
            status: response.status(),
            latency_ms,
            body: if needs_body {
                response.clone().ok()
            } else {
                None
            },
        };
        state::background(ctx, shadow::run(env.clone(), jobs, primary));
    }
}

fn answer(r: &Result<Response, Failure>) -> Answer {
    match r {
        Ok(r) => Answer::Status(r.status()),
        Err(_) => Answer::Failed,
    }
}

/// `x-switchyard-override: <token>`: a valid token for this route forces its arm (no
/// failover, no shadows, no receipt, no observation: `true`); an invalid, expired or foreign
/// token is ignored and counted. Both are reported as override counts.
fn apply_override<'c>(
    headers: &Headers,
    names: &[&str],
    env: &Env,
    ctx: &Ctx,
    route: &'c Route,
    decision: &mut switchyard_core::routing::Decision<'c>,
) -> bool {
    const NAME: &str = "x-switchyard-override";
    if !forward::has(names, NAME) {
        return false;
    }
    let Some(token) = headers.get(NAME).ok().flatten() else {
        return false;
    };
    let now = state::now_ms();
    let chosen = report::signer(env)
        .and_then(|s| switchyard_core::routing::resolve_override(&s, route, &token, now).ok());
    match chosen {
        Some((arm, origin)) => {
            decision.arm = arm;
            decision.origin = origin;
            decision.failover = None;
            decision.shadows = 0;
            decision.reason = switchyard_core::routing::Reason::Forced;
            decision.propensity = None;
            report::override_seen(env, ctx, &route.name, Some(arm));
            true
        }
        None => {
            js::warn(&format!(
                "switchyard: route {}: override token ignored",
                route.name
            ));
            report::override_seen(env, ctx, &route.name, None);
            false
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn shadow_jobs(
    cfg: &Config,
    route: &Route,
    decision: &switchyard_core::routing::Decision<'_>,
    epoch: Option<u64>,
    method: &str,
    path: &str,
    query: Option<&str>,
    out: &Headers,
    body: &Body,
) -> Vec<shadow::ShadowJob> {
    let mut jobs = Vec::new();
    // One copy of the outgoing headers per policy (credentials withheld, or forwarded) for
    // every shadow of this request.
    let mut copies: [Option<Headers>; 2] = [None, None];
    for i in decision.shadow_indices() {
        let s = &route.shadows[i];
        if !routing::shadow_takes(body.kind(), s.max_body_bytes) {
            continue;
        }
        let o = cfg.origin(s.origin);
        let h = copies[usize::from(s.forward_credentials)]
            .get_or_insert_with(|| js::edited(Some(out), &routing::shadow_headers(route, s)))
            .clone();
        jobs.push(shadow::ShadowJob {
            route: route.name.clone(),
            origin: o.name.clone(),
            url: routing::forward_url(o, route.strip_prefix.as_deref(), path, query),
            method: method.to_string(),
            headers: h,
            body: body.clone(),
            timeout_ms: s.timeout_ms,
            compare: s.compare.clone(),
            epoch,
        });
    }
    jobs
}

async fn healthy(base: &str, health_path: &str, timeout_ms: u32) -> bool {
    let now = state::now_ms();
    if let Some((at, ok)) = state::with(|s| s.health.get(base).copied()) {
        if now.saturating_sub(at) < state::HEALTH_TTL_MS {
            return ok;
        }
    }
    let url = format!("{base}{health_path}");
    let none = js::edited(None, &routing::HeaderEdits::default());
    let ok = match forward::send("GET", &url, &none, &Body::Empty, timeout_ms.min(2_000)).await {
        Ok(r) => {
            js::drain(&r).await;
            (200..300).contains(&r.status())
        }
        Err(_) => false,
    };
    state::with(|s| s.health.insert(base.to_string(), (state::now_ms(), ok)));
    ok
}

fn unavailable(origin: &str) -> Fault {
    Fault::origin(
        503,
        "origin_unhealthy",
        format!("origin {origin} is being replaced and is not healthy yet; retry shortly"),
    )
    .with_header("retry-after", "5")
}

fn failure(f: Failure, origin: &str, timeout_ms: u32) -> Fault {
    match f {
        Failure::Timeout => Fault::origin(
            504,
            "origin_timeout",
            format!("origin {origin} did not answer within {timeout_ms} ms"),
        ),
        Failure::Connect(e) => Fault::origin(
            502,
            "origin_unreachable",
            format!("origin {origin} could not be reached: {}", header_safe(&e)),
        ),
    }
}

/// `/_switchyard/*`: `status` describes this isolate's routing state and is answered here;
/// everything else (feedback, statistics, config, rollback, dashboard) is the control plane,
/// served by the `switchyard-stats` worker through the `CONTROL` service binding, so the
/// request path's bundle carries none of it.
async fn admin(req: Request, url: &UrlParts<'_>, env: &Env, ctx: &Ctx) -> Result<Response, Fault> {
    if url.path.trim_start_matches(ADMIN_PREFIX) != "status" {
        return control_plane(req, env).await;
    }
    let method = req.method();
    if method != "GET" && method != "HEAD" {
        return Err(Fault::caller(
            405,
            "method_not_allowed",
            format!("status is read with GET, not {}", header_safe(&method)),
        )
        .with_header("allow", "GET, HEAD"));
    }
    let (admin, list) = (
        js::secret(env, "ADMIN_TOKEN"),
        js::secret(env, "SWITCHYARD_TOKENS"),
    );
    let (tokens, problems) = Tokens::from_secrets(admin.as_deref(), list.as_deref());
    for p in problems {
        js::error(&format!("switchyard: operator tokens: {p}"));
    }
    let header = req.headers().get("authorization").ok().flatten();
    let client = req.headers().get("cf-connecting-ip").ok().flatten();
    let client = client.as_deref().unwrap_or("unknown");
    let (who, failures) = AUTH_FAILURES.with(|l| {
        ops::authorize_limited(
            &mut l.borrow_mut(),
            client,
            state::now_ms(),
            &tokens,
            header.as_deref(),
            Role::Viewer,
        )
    });
    if let Some(n) = failures {
        js::error(&format!(
            "switchyard: failed authentication from {} ({n} in this window)",
            header_safe(client)
        ));
    }
    who?;
    let read = kv::config(env, ctx).await;
    let cfg = read.value;
    let rejected = state::with(|s| s.config.rejected());
    Ok(json(
        200,
        &status_doc(
            cfg.as_deref(),
            // A viewer's view: URLs in the reasons redacted (admins: GET /_switchyard/config).
            rejected.map(|r| ops::redact::text(r.as_ref()).into_owned()),
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
    // `config_status`: whether the newest config was taken, why not, and the one in force
    // (`config` stays the id string).
    let mut status = Map::new();
    status.insert("valid".into(), rejected.is_none().into());
    status.insert("error".into(), rejected.clone().into());
    status.insert("last_valid_id".into(), cfg.map(|c| c.id.clone()).into());
    doc.insert("rejected".into(), rejected.into());
    doc.insert("stale_ms".into(), stale_ms.into());
    doc.insert("config_status".into(), status.into());
    doc.into()
}

async fn control_plane(req: Request, env: &Env) -> Result<Response, Fault> {
    let unavailable = |why: String| {
        Fault::ours(
            502,
            "control_unavailable",
            format!("the switchyard-stats worker (CONTROL binding) did not answer: {why}"),
        )
    };
    match js::call_service(env, "CONTROL", &req).await {
        // The control plane answers JSON errors itself. A 5xx that is not JSON came from the
        // runtime: `wrangler dev` without the switchyard-stats worker answers a text 503
        // ("Couldn't find a local dev session ..."): the documented JSON 502 instead.
        Ok(r) if r.status() >= 500 && !report::is_json(&r) => {
            let text = js::text(&r).await;
            let why = format!(
                "runtime answered {}: {}",
                r.status(),
                text.trim().chars().take(200).collect::<String>()
            );
            Err(unavailable(header_safe(&why)))
        }
        Ok(r) => Ok(r),
        Err(e) => Err(unavailable(e)),
    }
}
