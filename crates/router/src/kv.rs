//! Config, bandit weights and controller state, read from Workers KV through the
//! isolate cache. After the first read the request path never waits for KV: a stale entry
//! keeps serving while one refresh runs in `ctx.wait_until`, so a change in KV is in force
//! within the TTL plus one request.

use std::rc::Rc;

use serde::de::DeserializeOwned;
use worker::{console_error, console_warn, Context, Env};

use crate::state::{self, Cached, EdgeState, Keyed, ROUTE_KV_TTL_MS};
use switchyard_core::config::Config;
use switchyard_core::engine::Refresh;
use switchyard_core::strategy::{RouteState, Weights};

pub use switchyard_edge::shared::{BINDING, CONFIG_KEY};

async fn read(env: &Env, key: &str) -> Result<Option<String>, String> {
    let kv = env
        .kv(BINDING)
        .map_err(|e| format!("KV binding {BINDING}: {e}"))?;
    kv.get(key)
        .text()
        .await
        .map_err(|e| format!("KV get {key}: {e}"))
}

/// The config in force, reading KV only when the isolate has none yet.
pub async fn config(env: &Env, ctx: &Context) -> Option<Rc<Config>> {
    let now = state::now_ms();
    let (current, stale) = state::with(|s| {
        let busy = s
            .refreshing_since
            .is_some_and(|t| now.saturating_sub(t) < state::REFRESH_STUCK_MS);
        let stale = s.config.is_stale(now) && !busy;
        if stale {
            s.refreshing_since = Some(now);
        }
        (s.config.current(), stale)
    });
    if current.is_none() {
        refresh_config(env.clone()).await;
        return state::with(|s| s.config.current());
    }
    if stale {
        ctx.wait_until(refresh_config(env.clone()));
    }
    current
}

async fn refresh_config(env: Env) {
    let text = read(&env, CONFIG_KEY).await;
    let now = state::now_ms();
    state::with(|s| {
        s.refreshing_since = None;
        match text {
            Ok(text) => match s.config.offer(now, text) {
                Refresh::Rejected(errors) => {
                    console_error!(
                        "switchyard: config in KV rejected, keeping config {}: {}",
                        s.config
                            .current()
                            .map(|c| c.id.clone())
                            .unwrap_or_else(|| "none".into()),
                        errors
                            .iter()
                            .map(ToString::to_string)
                            .collect::<Vec<_>>()
                            .join("; ")
                    );
                }
                Refresh::Missing => console_warn!("switchyard: KV key `{CONFIG_KEY}` is missing"),
                Refresh::Applied | Refresh::Unchanged => {}
            },
            Err(e) => {
                // Keep serving; try again after the TTL.
                let _ = s.config.offer_error(now);
                console_error!("switchyard: {e}");
            }
        }
    });
}

/// `weights:<route>`, parsed; `None` until the key exists.
pub async fn weights(env: &Env, ctx: &Context, route: &str) -> Option<Rc<Weights>> {
    route_value(
        env,
        ctx,
        format!("weights:{route}"),
        |s| &mut s.weights,
        Weights::parse,
    )
    .await
}

/// `state:<route>`, parsed; `None` until the key exists.
pub async fn route_state(env: &Env, ctx: &Context, route: &str) -> Option<Rc<RouteState>> {
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

async fn route_value<T: DeserializeOwned + 'static>(
    env: &Env,
    ctx: &Context,
    key: String,
    map: MapOf<T>,
    parse: fn(&str) -> Result<T, String>,
) -> Option<Rc<T>> {
    let now = state::now_ms();
    let cached = state::with(|s| {
        map(s).get_mut(&key).map(|c| {
            let stale = now.saturating_sub(c.read_ms) >= ROUTE_KV_TTL_MS;
            if stale {
                c.read_ms = now; // one refresh at a time
            }
            (c.value.clone(), stale)
        })
    });
    match cached {
        Some((value, false)) => value,
        Some((value, true)) => {
            ctx.wait_until(load(env.clone(), key, map, parse));
            value
        }
        None => {
            load(env.clone(), key.clone(), map, parse).await;
            state::with(|s| map(s).get(&key).and_then(|c| c.value.clone()))
        }
    }
}

async fn load<T: 'static>(
    env: Env,
    key: String,
    map: MapOf<T>,
    parse: fn(&str) -> Result<T, String>,
) {
    let value = match read(&env, &key).await {
        Ok(Some(text)) => match parse(&text) {
            Ok(v) => Some(Rc::new(v)),
            Err(e) => {
                console_error!("switchyard: {key}: {e}");
                None
            }
        },
        Ok(None) => None,
        Err(e) => {
            // A failed read keeps whatever was cached.
            console_error!("switchyard: {e}");
            let now = state::now_ms();
            state::with(|s| match map(s).get_mut(&key) {
                Some(c) => c.read_ms = now,
                None => map(s).insert(
                    key,
                    Cached {
                        read_ms: now,
                        value: None,
                    },
                ),
            });
            return;
        }
    };
    let now = state::now_ms();
    state::with(|s| {
        map(s).insert(
            key,
            Cached {
                read_ms: now,
                value,
            },
        );
    });
}
