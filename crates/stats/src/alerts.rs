//! Sends the alert webhooks (`switchyard_core::config::Webhook`, events and payloads from
//! `switchyard_core::ops`) from a route's Durable Object when its
//! controller state changes, inside the object's `waitUntil` (the tick or the operator's call
//! is not delayed). Each webhook gets up to three attempts (`BACKOFF_MS`); every attempt is
//! recorded in the audit log as action `alert` (`GET /_switchyard/alerts`) with the URL
//! redacted to its scheme and host (`switchyard_core::ops::redact`), as in the logs. A webhook
//! given as `url_secret` is read from this worker's secrets at send time. `http://` receivers
//! (loopback only) are sent to only when the `SWITCHYARD_LOCAL_DEV` var is `1` (.dev.vars,
//! read by `wrangler dev` alone).

use std::time::Duration;

use futures_util::future::{select, Either};
use serde_json::{json, Value};
use worker::{console_error, web_sys, AbortController, Delay, Env, Method, State};

use crate::config_log;
use crate::shared::now_ms;
use switchyard_core::config::{RouteState, Webhook, WebhookTarget};
use switchyard_core::ops::{self, redact, ATTEMPT_TIMEOUT_MS, BACKOFF_MS};

/// Schedules the webhooks for the events between `old` and `new` (none: nothing happens);
/// `op`: the operator's action that made the change, which is then the one event; `detail`:
/// the evidence of the gate decision that made it (`Value::Null` for none).
pub fn notify(
    state: &State,
    env: &Env,
    route: &str,
    old: Option<&RouteState>,
    new: &RouteState,
    op: Option<&str>,
    detail: Value,
) {
    let events = ops::events(old, new, op);
    if events.is_empty() {
        return;
    }
    spawn(state, env, route, events, Some(new.clone()), detail);
}

/// Records a release gate's decision in the audit log (action `gate`, by `switchyard`), with
/// the evidence that decided it, inside the object's `waitUntil`.
pub fn audit_gate(state: &State, env: &Env, route: &str, evidence: Value) {
    let (env, route) = (env.clone(), route.to_string());
    state.wait_until(async move {
        let record = json!({
            "by": "switchyard", "role": "system", "action": "gate", "target": route,
            "status": 200, "detail": evidence,
        });
        if let Err(e) =
            config_log::call(&env, Method::Post, "/audit", Some(record.to_string())).await
        {
            console_error!("switchyard: gate decision not recorded: {e}");
        }
    });
}

/// Schedules the webhooks of one event that is not a state change (`srm`, a gate that holds).
pub fn notify_event(state: &State, env: &Env, route: &str, event: &'static str, detail: Value) {
    spawn(state, env, route, vec![event], None, detail);
}

fn spawn(
    state: &State,
    env: &Env,
    route: &str,
    events: Vec<&'static str>,
    st: Option<RouteState>,
    detail: Value,
) {
    let (env, route) = (env.clone(), route.to_string());
    state.wait_until(async move {
        let Some(cfg) = crate::config_cache::current(&env).await.config else {
            return;
        };
        for ev in events {
            let body = ops::payload(&route, ev, st.as_ref(), &detail, now_ms()).to_string();
            for hook in cfg.alerts.iter().filter(|h| h.wants(ev)) {
                deliver(&env, hook, &route, ev, &body).await;
            }
        }
    });
}

/// Whether this worker runs in local development (`SWITCHYARD_LOCAL_DEV=1`, from .dev.vars).
pub fn local_dev(env: &Env) -> bool {
    env.var("SWITCHYARD_LOCAL_DEV")
        .map(|v| v.to_string() == "1")
        .unwrap_or(false)
}

/// The receiver's URL and how it is shown, or why there is none (no URL in the message).
fn resolve(env: &Env, hook: &Webhook) -> (Result<String, String>, String) {
    let (url, shown) = match &hook.target {
        WebhookTarget::Url(u) => (Ok(u.clone()), redact::url(u).into_owned()),
        WebhookTarget::Secret(name) => (
            env.secret(name)
                .map(|s| s.to_string())
                .or_else(|_| env.var(name).map(|s| s.to_string()))
                .map_err(|_| format!("the secret {name} is not set")),
            format!("secret:{name}"),
        ),
    };
    let url = url.and_then(|u| {
        switchyard_core::config::webhook_allowed(&u, local_dev(env))
            .map(|()| u)
            .map_err(str::to_string)
    });
    (url, shown)
}

async fn deliver(env: &Env, hook: &Webhook, route: &str, event: &str, body: &str) {
    let (url, shown) = resolve(env, hook);
    for (i, delay) in BACKOFF_MS.iter().enumerate() {
        if *delay > 0 {
            Delay::from(Duration::from_millis(*delay)).await;
        }
        let result = match &url {
            Ok(u) => post(u, body)
                .await
                .map_err(|e| redact::text(&e).into_owned()),
            Err(why) => Err(why.clone()),
        };
        let (status, error) = match &result {
            Ok(s) => (*s, None),
            Err(e) => (0, Some(e.clone())),
        };
        let delivered = (200..300).contains(&status);
        let record = json!({
            "by": "switchyard", "role": "system", "action": "alert", "target": route, "status": status,
            "detail": { "event": event, "url": shown, "attempt": i + 1, "delivered": delivered, "error": error },
        });
        if let Err(e) =
            config_log::call(env, Method::Post, "/audit", Some(record.to_string())).await
        {
            console_error!("switchyard: alert delivery not recorded: {e}");
        }
        if delivered {
            return;
        }
        console_error!(
            "switchyard: alert {event} for {route} to {}: attempt {} failed ({})",
            shown,
            i + 1,
            error.unwrap_or_else(|| format!("HTTP {status}"))
        );
        // A receiver that cannot be used will not become usable in 5 s.
        if url.is_err() {
            return;
        }
    }
}

/// POSTs the JSON body; the status, or why there is none.
async fn post(url: &str, body: &str) -> Result<u16, String> {
    let h = web_sys::Headers::new().map_err(|e| format!("{e:?}"))?;
    let _ = h.set("content-type", "application/json");
    let _ = h.set("user-agent", "switchyard-alerts");
    let init = web_sys::RequestInit::new();
    init.set_method("POST");
    init.set_headers(&h);
    init.set_body(&body.into());
    init.set_redirect(web_sys::RequestRedirect::Manual);
    let req = web_sys::Request::new_with_str_and_init(url, &init)
        .map_err(|e| format!("invalid request: {e:?}"))?;
    let controller = AbortController::default();
    let signal = controller.signal();
    let fetch_req = worker::Fetch::Request(req.into());
    let outcome = {
        let fetch = Box::pin(fetch_req.send_with_signal(&signal));
        let timer = Box::pin(Delay::from(Duration::from_millis(ATTEMPT_TIMEOUT_MS)));
        match select(fetch, timer).await {
            Either::Left((Ok(r), _)) => Some(Ok(r.status_code())),
            Either::Left((Err(e), _)) => Some(Err(e.to_string())),
            Either::Right(_) => None,
        }
    };
    outcome.unwrap_or_else(|| {
        controller.abort();
        Err(format!("no answer within {ATTEMPT_TIMEOUT_MS} ms"))
    })
}
