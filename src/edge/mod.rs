//! PLACEHOLDER edge adapter (infra branch).
//!
//! This file exists only so the build / `wrangler dev` / end-to-end pipeline can be proven
//! before the real edge lands. The lead replaces it with the real `src/edge/` when merging.
//! It doubles as a compile-checked reference for the workers-rs 0.8.7 API patterns written
//! up in `docs/workers-rs-notes.md`.
//!
//! Endpoints:
//! - `GET /__placeholder/ping` -> `placeholder` (lets e2e tests detect this stand-in)
//! - `GET /__placeholder/config`  -> the raw KV value `config` from `SPLIT_CONFIG` (404 if absent)
//! - `GET /__placeholder/do?name=x` -> increments a counter in the `ROUTE_STATS` Durable Object
//!   named `x` and returns `{"name":..,"count":N,"alarms":M}` (also schedules an alarm)
//! - `GET /__placeholder/fetch?url=..&timeout_ms=..` -> fetches `url` with an AbortSignal-based
//!   timeout and returns the upstream status/body (504 on timeout, 502 on connection error)
//! - `ANY /__placeholder/proxy?url=..` -> streams the request to `url`, returns the upstream
//!   response with `x-switchyard-arm: placeholder` added
//! - `GET /__placeholder/bg?key=..` -> writes KV key `key` inside `ctx.wait_until`, answers at once
//! - anything else -> same as `/__placeholder/config`

use std::time::Duration;

use futures_util::future::{select, Either};
use worker::{
    durable_object, event, wasm_bindgen::JsValue, AbortController, Context, Date, Delay,
    DurableObject, Env, Fetch, Request, RequestInit, RequestRedirect, Response, Result, State,
};

const KV_BINDING: &str = "SPLIT_CONFIG";
const DO_BINDING: &str = "ROUTE_STATS";

fn query_param(req: &Request, name: &str) -> Option<String> {
    let url = req.url().ok()?;
    url.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

#[event(fetch)]
async fn fetch(req: Request, env: Env, ctx: Context) -> Result<Response> {
    let path = req.path();
    match path.as_str() {
        "/__placeholder/ping" => Response::ok("placeholder"),
        "/__placeholder/do" => {
            let name = query_param(&req, "name").unwrap_or_else(|| "default".into());
            let ns = env.durable_object(DO_BINDING)?;
            let stub = ns.id_from_name(&name)?.get_stub()?;
            let mut resp = stub
                .fetch_with_str(&format!("https://route-stats/{name}"))
                .await?;
            let text = resp.text().await?;
            Response::builder()
                .with_header("content-type", "application/json")?
                .ok(text)
        }
        "/__placeholder/fetch" => {
            let Some(target) = query_param(&req, "url") else {
                return Response::error("missing url", 400);
            };
            let timeout_ms: u64 = query_param(&req, "timeout_ms")
                .and_then(|v| v.parse().ok())
                .unwrap_or(5000);
            let url = match target.parse() {
                Ok(u) => u,
                Err(_) => return Response::error("bad url", 400),
            };
            let controller = AbortController::default();
            let signal = controller.signal();
            let fetch = Fetch::Url(url);
            let send = std::pin::pin!(fetch.send_with_signal(&signal));
            let timer = std::pin::pin!(Delay::from(Duration::from_millis(timeout_ms)));
            let started = Date::now().as_millis();
            match select(send, timer).await {
                Either::Left((Ok(mut upstream), _)) => {
                    let status = upstream.status_code();
                    let body = upstream.text().await?;
                    let elapsed = Date::now().as_millis().saturating_sub(started);
                    Response::builder()
                        .with_status(status)
                        .with_header("x-placeholder-elapsed-ms", &elapsed.to_string())?
                        .ok(body)
                }
                Either::Left((Err(e), _)) => Response::error(format!("upstream error: {e}"), 502),
                Either::Right(((), _)) => {
                    controller.abort();
                    Response::error("upstream timeout", 504)
                }
            }
        }
        "/__placeholder/proxy" => {
            // Streams method, headers and body to `url`; adds a header to the upstream response.
            let Some(target) = query_param(&req, "url") else {
                return Response::error("missing url", 400);
            };
            let headers = req.headers().clone(); // Headers::clone = a new, mutable JS Headers
            headers.set(
                "x-forwarded-host",
                req.url()?.host_str().unwrap_or_default(),
            )?;
            headers.delete("host")?;
            let mut init = RequestInit::new();
            init.with_method(req.method())
                .with_headers(headers)
                .with_redirect(RequestRedirect::Manual)
                // The incoming ReadableStream, passed through without buffering.
                .with_body(req.inner().body().map(JsValue::from));
            let out = Request::new_with_init(&target, &init)?;
            let upstream = Fetch::Request(out).send().await?;
            // Fetched responses have immutable headers: copy, modify, re-attach.
            let headers = upstream.headers().clone();
            headers.set("x-switchyard-arm", "placeholder")?;
            Ok(upstream.with_headers(headers))
        }
        "/__placeholder/bg" => {
            let key = query_param(&req, "key").unwrap_or_else(|| "bg".into());
            let kv = env.kv(KV_BINDING)?;
            ctx.wait_until(async move {
                Delay::from(Duration::from_millis(50)).await;
                let stamp = Date::now().as_millis().to_string();
                if let Ok(put) = kv.put(&key, stamp) {
                    if let Err(e) = put.execute().await {
                        worker::console_error!("bg put failed: {e}");
                    }
                }
            });
            Response::ok("scheduled")
        }
        _ => {
            let kv = env.kv(KV_BINDING)?;
            match kv.get("config").text().await? {
                Some(text) => Response::builder()
                    .with_header("content-type", "application/json")?
                    .with_header("x-switchyard-placeholder", "1")?
                    .ok(text),
                None => Response::error("no config in KV key `config`", 404),
            }
        }
    }
}

/// Trivial stand-in for the real per-route stats object (DESIGN.md section 6).
#[durable_object]
pub struct RouteStats {
    state: State,
}

impl DurableObject for RouteStats {
    fn new(state: State, _env: Env) -> Self {
        Self { state }
    }

    async fn fetch(&self, req: Request) -> Result<Response> {
        let storage = self.state.storage();
        let count: u64 = storage.get::<u64>("count").await?.unwrap_or(0) + 1;
        storage.put("count", count).await?;
        if storage.get_alarm().await?.is_none() {
            // ScheduledTime from Duration = relative to now.
            storage.set_alarm(Duration::from_millis(100)).await?;
        }
        let alarms: u64 = storage.get::<u64>("alarms").await?.unwrap_or(0);
        let name = req.path().trim_start_matches('/').to_string();
        Response::from_json(&serde_json::json!({
            "name": name,
            "count": count,
            "alarms": alarms,
        }))
    }

    async fn alarm(&self) -> Result<Response> {
        let storage = self.state.storage();
        let alarms: u64 = storage.get::<u64>("alarms").await?.unwrap_or(0) + 1;
        storage.put("alarms", alarms).await?;
        Response::ok("alarm handled")
    }
}
