//! Config, bandit weights and controller state, read from Workers KV through the isolate
//! cache, with bounded staleness (constants and rule in `state`, decision in
//! `routing::freshness`): within the TTL a cached value is served; up to `MAX_AGE_MS` it is
//! served while one refresh runs in `ctx.waitUntil`; past that the request waits for a KV
//! read (at most `KV_WAIT_MS`). If KV fails or is slower, the last value keeps serving and the
//! caller learns its age (`Stale`), which the router puts in `x-switchyard-stale`.

use std::rc::Rc;

use crate::js::{self, Ctx, Env};
use crate::state::{
    self, Cached, EdgeState, Keyed, CONFIG_TTL_MS, KV_WAIT_MS, MAX_AGE_MS, REFRESH_STUCK_MS,
    ROUTE_KV_TTL_MS,
};
use switchyard_core::config::Config;
use switchyard_core::config::{RouteState, Weights};
use switchyard_core::config::{BINDING, CONFIG_KEY};
use switchyard_core::routing::{freshness, Freshness, KvTimes, Refresh};

/// A value and, when it is older than the bound because KV failed or was too slow, its age
/// in ms (for `x-switchyard-stale`).
pub struct Read<T> {
    pub value: Option<Rc<T>>,
    pub stale_ms: Option<u64>,
}

/// One KV get (`SPLIT_CONFIG.get(key, "text")`), abandoned after `KV_WAIT_MS` (`Err` then).
async fn read(env: &Env, key: &str) -> Result<Option<String>, String> {
    js::kv_get(env, BINDING, key, KV_WAIT_MS as u32).await
}

/// Polls until `done()` or `KV_WAIT_MS` have passed (waiting for another request's read).
async fn join(done: impl Fn() -> bool) {
    let until = state::now_ms() + KV_WAIT_MS;
    while !done() && state::now_ms() < until {
        js::sleep(5).await;
    }
}

fn stale_age(now: u64, read: Option<u64>) -> u64 {
    read.map_or(u64::MAX, |r| now.saturating_sub(r))
}

/// The config in force (see the module doc for when this waits for KV).
pub async fn config(env: &Env, ctx: &Ctx) -> Read<Config> {
    let now = state::now_ms();
    let plan = state::with(|s| {
        let (checked, read) = s.config.times();
        let t = KvTimes {
            read,
            checked,
            loading: s.refreshing_since,
        };
        let plan = freshness(now, t, CONFIG_TTL_MS, MAX_AGE_MS, REFRESH_STUCK_MS);
        if matches!(plan, Freshness::Refresh | Freshness::Load) {
            s.refreshing_since = Some(now);
        }
        plan
    });
    match plan {
        Freshness::Fresh | Freshness::Serve => {}
        Freshness::Refresh => state::background(ctx, refresh_config(env.clone())),
        Freshness::Load => refresh_config(env.clone()).await,
        Freshness::Join => join(|| state::with(|s| s.refreshing_since.is_none())).await,
        Freshness::Stale => {}
    }
    let now = state::now_ms();
    state::with(|s| {
        let (_, read) = s.config.times();
        let age = stale_age(now, read);
        let value = s.config.current();
        Read {
            stale_ms: (value.is_some() && age >= MAX_AGE_MS).then_some(age),
            value,
        }
    })
}

async fn refresh_config(env: Env) {
    let text = read(&env, CONFIG_KEY).await;
    let now = state::now_ms();
    state::with(|s| {
        s.refreshing_since = None;
        match text {
            Ok(text) => match s.config.offer(now, text) {
                Refresh::Rejected(errors) => {
                    js::error(&format!(
                        "switchyard: config in KV rejected, keeping config {}: {}",
                        s.config
                            .current()
                            .map(|c| c.id.clone())
                            .unwrap_or_else(|| "none".into()),
                        // URLs in the reasons (origins, webhooks) with their secret parts
                        // redacted: logs are read more widely than the config.
                        switchyard_core::ops::redact::text(
                            &errors
                                .iter()
                                .map(ToString::to_string)
                                .collect::<Vec<_>>()
                                .join("; ")
                        )
                    ));
                }
                Refresh::Missing => {
                    js::warn(&format!("switchyard: KV key `{CONFIG_KEY}` is missing"))
                }
                Refresh::Applied | Refresh::Unchanged => {}
            },
            Err(e) => {
                // Keep serving (marked stale past the bound); try again after the TTL.
                let _ = s.config.offer_error(now);
                js::error(&format!("switchyard: {e}"));
            }
        }
    });
}

/// `weights:<route>`, parsed; no value until the key exists.
pub async fn weights(env: &Env, ctx: &Ctx, route: &str) -> Read<Weights> {
    route_value(
        env,
        ctx,
        format!("weights:{route}"),
        |s| &mut s.weights,
        Weights::parse,
    )
    .await
}

/// `state:<route>`, parsed; no value until the key exists.
pub async fn route_state(env: &Env, ctx: &Ctx, route: &str) -> Read<RouteState> {
    route_value(
        env,
        ctx,
        format!("state:{route}"),
        |s| &mut s.route_state,
        RouteState::parse,
    )
    .await
}

type MapOf<T> = fn(&mut EdgeState) -> &mut Keyed<Cached<T>>;

async fn route_value<T: 'static>(
    env: &Env,
    ctx: &Ctx,
    key: String,
    map: MapOf<T>,
    parse: fn(&str) -> Result<T, String>,
) -> Read<T> {
    let now = state::now_ms();
    let plan = state::with(|s| {
        let m = map(s);
        if m.get(&key).is_none() {
            m.insert(
                key.clone(),
                Cached {
                    read_ms: None,
                    checked_ms: None,
                    loading_ms: None,
                    value: None,
                },
            );
        }
        let c = m.get_mut(&key)?;
        let plan = freshness(
            now,
            c.times(),
            ROUTE_KV_TTL_MS,
            MAX_AGE_MS,
            REFRESH_STUCK_MS,
        );
        if matches!(plan, Freshness::Refresh | Freshness::Load) {
            c.loading_ms = Some(now);
        }
        Some(plan)
    });
    match plan {
        Some(Freshness::Refresh) => {
            state::background(ctx, load(env.clone(), key.clone(), map, parse))
        }
        Some(Freshness::Load) => load(env.clone(), key.clone(), map, parse).await,
        Some(Freshness::Join) => {
            join(|| state::with(|s| map(s).get(&key).is_none_or(|c| c.loading_ms.is_none()))).await
        }
        _ => {}
    }
    let now = state::now_ms();
    state::with(|s| match map(s).get(&key) {
        Some(c) => {
            let age = stale_age(now, c.read_ms);
            Read {
                stale_ms: (c.value.is_some() && age >= MAX_AGE_MS).then_some(age),
                value: c.value.clone(),
            }
        }
        None => Read {
            value: None,
            stale_ms: None,
        },
    })
}

async fn load<T: 'static>(
    env: Env,
    key: String,
    map: MapOf<T>,
    parse: fn(&str) -> Result<T, String>,
) {
    let result = read(&env, &key).await;
    let now = state::now_ms();
    state::with(|s| {
        let Some(c) = map(s).get_mut(&key) else {
            return;
        };
        c.loading_ms = None;
        c.checked_ms = Some(now);
        match result {
            Ok(text) => {
                c.read_ms = Some(now);
                c.value = match text.map(|t| parse(&t)) {
                    Some(Ok(v)) => Some(Rc::new(v)),
                    Some(Err(e)) => {
                        js::error(&format!("switchyard: {key}: {e}"));
                        None
                    }
                    None => None,
                };
            }
            // A failed read keeps whatever was cached (marked stale past the bound).
            Err(e) => js::error(&format!("switchyard: {e}")),
        }
    });
}
