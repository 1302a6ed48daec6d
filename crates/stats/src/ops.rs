//! Operator endpoints of the control plane beyond statistics: identity (`whoami`), config
//! history and revert, the audit log, OpenMetrics, OFREP flag evaluation and override tokens.
//! `control::dispatch` authenticates first and passes the caller's [`Identity`].

use serde_json::{json, Value};
use worker::{Env, Method, Request, Response};

use crate::config_log;
use crate::http::{self, json};
use switchyard_core::base::MAX_NAME_LEN;
use switchyard_core::ops::{
    evaluate_all, evaluate_flag, find_flag, one_line, parse_if_match, Context, Evaluation, Fault,
    Identity, OfrepError, AUDIT_PAGE,
};
use switchyard_core::routing::{self, percent_decode};

type Result<T> = std::result::Result<T, Fault>;
use crate::shared;

/// `GET /_switchyard/whoami`.
pub fn whoami(who: &Identity) -> Response {
    json(200, &json!({ "name": who.name, "role": who.role.as_str() }))
}

/// The operator's one-line message: header `x-switchyard-message`, else `?message=`.
pub fn message(req: &Request, query: Option<&str>) -> String {
    let from_header = req.headers().get("x-switchyard-message").ok().flatten();
    let from_query = query.and_then(|q| {
        q.split('&').find_map(|p| {
            let (k, v) = p.split_once('=')?;
            (k == "message").then(|| percent_decode(v).into_owned())
        })
    });
    one_line(from_header.or(from_query).as_deref())
}

/// `If-Match` as a version (`Ok(None)` when absent or `*`), or the caller's 400.
pub fn if_match(req: &Request) -> Result<Option<i64>> {
    match req.headers().get("if-match").ok().flatten() {
        None => Ok(None),
        Some(h) => parse_if_match(&h).map_err(|e| Fault::bad_request("bad_if_match", e)),
    }
}

/// A call to the ConfigLog object: its answer (a refusal included) passes through; no answer
/// is ours (502).
async fn log_call(env: &Env, method: Method, path: &str, body: Option<String>) -> Result<Response> {
    config_log::call(env, method, path, body)
        .await
        .map_err(|e| {
            Fault::unavailable(
                "config_log_unavailable",
                format!("the ConfigLog object did not answer: {e}"),
            )
        })
}

/// `GET /_switchyard/config/history`.
pub async fn history_list(env: &Env) -> Result<Response> {
    log_call(env, Method::Get, "/history", None).await
}

/// `POST /_switchyard/config/revert/<version>` (admin).
pub async fn revert(
    req: &Request,
    version: &str,
    query: Option<&str>,
    env: &Env,
    who: &Identity,
) -> Result<Response> {
    let Ok(v) = version.parse::<i64>() else {
        return Err(Fault::bad_request(
            "bad_version",
            "the version must be a number from config/history",
        ));
    };
    let if_match = if_match(req)?;
    let body = json!({ "version": v, "by": who.name, "message": message(req, query), "if_match": if_match });
    log_call(env, Method::Post, "/revert", Some(body.to_string())).await
}

/// The config write through the log (compare-and-set with `If-Match`).
pub async fn write_config(
    text: &str,
    by: &str,
    message: &str,
    if_match: Option<i64>,
    env: &Env,
) -> Result<Response> {
    let body = json!({ "text": text, "by": by, "message": message, "if_match": if_match });
    log_call(env, Method::Post, "/write", Some(body.to_string())).await
}

/// The version in force and the exact text (`None` when the log cannot say).
pub async fn current(env: &Env) -> Option<(i64, String)> {
    let mut r = config_log::call(env, Method::Get, "/current", None)
        .await
        .ok()?;
    if r.status_code() != 200 {
        return None;
    }
    let v: Value = serde_json::from_str(&r.text().await.ok()?).ok()?;
    Some((
        v.get("version")?.as_i64()?,
        v.get("text")?.as_str()?.to_string(),
    ))
}

/// `GET /_switchyard/audit?limit=N`.
pub async fn audit_list(env: &Env, query: Option<&str>) -> Result<Response> {
    let limit = query
        .and_then(|q| q.split('&').find_map(|p| p.strip_prefix("limit=")))
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(AUDIT_PAGE);
    log_call(env, Method::Get, &format!("/audit?limit={limit}"), None).await
}

/// `GET /_switchyard/alerts?limit=N`: webhook deliveries (audit entries of action `alert`).
pub async fn alerts_list(env: &Env, query: Option<&str>) -> Result<Response> {
    let limit = query
        .and_then(|q| q.split('&').find_map(|p| p.strip_prefix("limit=")))
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(AUDIT_PAGE);
    log_call(
        env,
        Method::Get,
        &format!("/audit?action=alert&limit={limit}"),
        None,
    )
    .await
}

/// Records an operator action; failures are logged, never fatal.
pub async fn record(
    env: &Env,
    who: &Identity,
    action: &str,
    target: &str,
    status: u16,
    detail: Value,
) {
    let body = json!({
        "by": who.name, "role": who.role.as_str(), "action": action, "target": target,
        "status": status, "detail": detail,
    });
    match config_log::call(env, Method::Post, "/audit", Some(body.to_string())).await {
        Ok(r) if r.status_code() == 200 => {}
        Ok(r) => worker::console_error!(
            "switchyard: audit of {action} not recorded: HTTP {}",
            r.status_code()
        ),
        Err(e) => worker::console_error!("switchyard: audit of {action} not recorded: {e}"),
    }
}

/// The audited action of an operator request, recorded by `control::dispatch` after it ran:
/// `(action, target)`. Override issuing is recorded by [`issue_override`] itself (it knows
/// the arm and expiry).
pub fn audited(method: &str, path: &str) -> Option<(&'static str, String)> {
    if method == "PUT" && path == "config" {
        return Some(("config.put", "config".into()));
    }
    if method == "PUT" {
        if let Some(route) = path.strip_prefix("weights/") {
            return Some(("weights.put", route.to_string()));
        }
    }
    if method != "POST" {
        return None;
    }
    if let Some(v) = path.strip_prefix("config/revert/") {
        return Some(("config.revert", v.to_string()));
    }
    for a in ["rollback", "resume", "promote"] {
        if let Some(route) = path.strip_prefix(a).and_then(|p| p.strip_prefix('/')) {
            let name = match a {
                "rollback" => "rollback",
                "resume" => "resume",
                _ => "promote",
            };
            return Some((name, route.to_string()));
        }
    }
    None
}

/// `GET /_switchyard/metrics`: every route's statistics document as OpenMetrics text, or as
/// text format 0.0.4 when `Accept` prefers it.
pub async fn metrics(req: &Request, env: &Env) -> Result<Response> {
    let accept = req.headers().get("accept").ok().flatten();
    let format = switchyard_core::ops::metrics_format(accept.as_deref());
    let Some(cfg) = crate::config_cache::current(env).await.config else {
        return Err(Fault::no_config());
    };
    let mut docs = Vec::with_capacity(cfg.routes.len());
    for r in &cfg.routes {
        match shared::call(env, &r.name, "stats", Method::Get, None).await {
            Ok(mut resp) if resp.status_code() == 200 => {
                let v: Value = serde_json::from_str(&resp.text().await?).unwrap_or(Value::Null);
                docs.push((r.name.clone(), v));
            }
            Ok(resp) => {
                worker::console_error!(
                    "switchyard: metrics: stats of {} answered HTTP {}",
                    r.name,
                    resp.status_code()
                );
            }
            Err(e) => worker::console_error!("switchyard: metrics: stats of {}: {e}", r.name),
        }
    }
    let text = switchyard_core::ops::render_metrics(&docs, format);
    let headers = worker::Headers::new();
    let _ = headers.set("content-type", format.content_type());
    let _ = headers.set("vary", "accept");
    let _ = headers.set("cache-control", "no-store");
    Ok(Response::builder()
        .with_status(200)
        .with_headers(headers)
        .fixed(text.into_bytes()))
}

/// Largest OFREP request body.
const MAX_OFREP_BYTES: usize = 64 * 1024;

fn ofrep_error(e: OfrepError, key: &str, details: &str) -> Response {
    json(e.status(), &e.json(key, details))
}

/// `POST /_switchyard/ofrep/v1/evaluate/flags[/<route>.<flag>]`.
pub async fn ofrep(req: Request, rest: &str, env: &Env) -> Result<Response> {
    let key =
        match rest.strip_prefix("v1/evaluate/flags") {
            Some("") | Some("/") => None,
            Some(k) if k.starts_with('/') => Some(percent_decode(&k[1..]).into_owned()),
            _ => return Err(Fault::not_found(
                "not_found",
                "OFREP paths: /ofrep/v1/evaluate/flags and /ofrep/v1/evaluate/flags/<route>.<flag>",
            )),
        };
    let key_s = key.clone().unwrap_or_default();
    let bytes = http::read_body(
        &req,
        MAX_OFREP_BYTES,
        "OFREP request bodies are at most 64 KiB",
    )
    .await?;
    let body: Value = if bytes.is_empty() {
        json!({})
    } else {
        match serde_json::from_slice(&bytes) {
            Ok(v) => v,
            Err(e) => {
                return Ok(ofrep_error(
                    OfrepError::ParseError,
                    &key_s,
                    &format!("body is not JSON: {e}"),
                ))
            }
        }
    };
    let Some(cfg) = crate::config_cache::current(env).await.config else {
        return Err(Fault::no_config());
    };
    let ctx = match Context::from_body(&body) {
        Ok(c) => c,
        Err((e, why)) => return Ok(ofrep_error(e, &key_s, &why)),
    };
    match key {
        Some(k) => match find_flag(&cfg, &k) {
            Some((route, flag)) => Ok(json(200, &evaluate_flag(route, flag, &ctx).json())),
            None => Ok(ofrep_error(
                OfrepError::FlagNotFound,
                &k,
                &format!(
                    "no route-level flag {k:?} (flags are named <route>.<flag>) in config {}",
                    cfg.id
                ),
            )),
        },
        None => {
            // The tag covers the config and the context: a client holding the answer for this
            // context under this config gets 304 and no body.
            let etag = switchyard_core::ops::bulk_etag(
                &cfg.id,
                body.get("context").unwrap_or(&Value::Null),
            );
            let inm = req.headers().get("if-none-match").ok().flatten();
            if inm.is_some_and(|h| switchyard_core::ops::none_match(&h, &etag)) {
                let headers = worker::Headers::new();
                let _ = headers.set("etag", &etag);
                let _ = headers.set("cache-control", "no-cache");
                return Ok(Response::builder()
                    .with_status(304)
                    .with_headers(headers)
                    .empty());
            }
            let flags: Vec<Value> = evaluate_all(&cfg, &ctx)
                .iter()
                .map(Evaluation::json)
                .collect();
            let mut r = json(200, &json!({ "flags": flags }));
            let _ = r.headers_mut().set("etag", &etag);
            let _ = r.headers_mut().set("cache-control", "no-cache");
            Ok(r)
        }
    }
}

/// Largest override request body.
const MAX_OVERRIDE_BYTES: usize = 4 * 1024;

/// `POST /_switchyard/overrides {route, arm, ttl_s}` → `{token, route, arm, expires_ms}`.
pub async fn issue_override(req: Request, env: &Env, who: &Identity) -> Result<Response> {
    let Some(signer) = shared::signer(env) else {
        return Err(Fault::ours(
            503,
            "overrides_disabled",
            "the RECEIPT_KEY secret (which signs override tokens) is not configured",
        ));
    };
    let body = http::read_body(
        &req,
        MAX_OVERRIDE_BYTES,
        "override requests are at most 4 KiB",
    )
    .await?;
    let v: Value = serde_json::from_slice(&body).map_err(|e| Fault::bad_json("bad_override", e))?;
    let (Some(route), Some(arm)) = (
        v.get("route").and_then(Value::as_str),
        v.get("arm").and_then(Value::as_str),
    ) else {
        return Err(Fault::bad_request(
            "bad_override",
            "`route` and `arm` must be strings",
        ));
    };
    let ttl = match v.get("ttl_s") {
        None => 3600,
        Some(t) => match t.as_u64() {
            Some(t) if (1..=routing::OVERRIDE_MAX_TTL_S).contains(&t) => t,
            _ => {
                return Err(Fault::bad_request(
                    "bad_override",
                    format!(
                        "`ttl_s` must be an integer from 1 to {}",
                        routing::OVERRIDE_MAX_TTL_S
                    ),
                ))
            }
        },
    };
    let Some(cfg) = crate::config_cache::current(env).await.config else {
        return Err(Fault::no_config());
    };
    let Some(r) = cfg.route(route) else {
        return Err(Fault::unknown_route(format!(
            "no route named {route:?} in config {}",
            cfg.id
        )));
    };
    if routing::arm_origin(r, arm).is_none() {
        return Err(Fault::bad_request(
            "unknown_arm",
            format!(
                "route {route:?} ({}) has arms {:?}",
                r.strategy.kind(),
                routing::override_arm_names(r)
            ),
        ));
    }
    let expires_ms = shared::now_ms().saturating_add(ttl * 1000);
    let Some(token) = routing::sign_override(&signer, route, arm, expires_ms) else {
        return Err(Fault::bad_request(
            "bad_override",
            format!("route and arm names are at most {MAX_NAME_LEN} bytes"),
        ));
    };
    record(
        env,
        who,
        "override",
        route,
        200,
        json!({ "arm": arm, "ttl_s": ttl, "expires_ms": expires_ms }),
    )
    .await;
    Ok(json(
        200,
        &json!({ "token": token, "route": route, "arm": arm, "expires_ms": expires_ms, "header": "x-switchyard-override" }),
    ))
}
