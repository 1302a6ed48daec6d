//! `RouteStats`: the Durable Object of one route (named `<route>`) or of one of its ledger
//! shards (named `<route>~<k>`, see `core::learn::Durable`). The route's object aggregates the
//! batches the edge reports, credits feedback once per receipt, and on an alarm merges its
//! ledger shards' rewards and runs the route's [`Learner`] tick: bandit weights to KV
//! `weights:<route>`, controller state to KV `state:<route>`. A shard object only credits
//! feedback and answers its reward sums. State lives in the object's SQLite as rows
//! (`core::learn::Durable`); all decisions are in `crate::core`; this is storage and glue.
//!
//! Only Switchyard calls this object (the router's reports, the control plane's feedback
//! credits and operator actions), with bodies and paths it builds itself: a call the object
//! cannot understand is our bug (500). Refusals an operator or a user caused (a replayed
//! receipt, an action that does not apply, a route not in the config) are theirs (4xx) and
//! pass through the control plane unchanged.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;

use serde::Deserialize;
use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};
use worker::{
    console_error, console_warn, durable_object, DurableObject, Env, Request, Response, Result,
    SqlStorage, SqlStorageValue, State,
};

use crate::config_cache;
use crate::http::{self, json};
use crate::shared::{self, now_ms, BINDING, RECEIPT_MAX_AGE_MS};
use switchyard_core::base::Xoshiro256;
use switchyard_core::config::{Route, RouteState};
use switchyard_core::learn::{
    self, ApplyError, Durable, Learner, LoggedDecision, Operation, RewardSums, Store, StoreError,
    TickOutput, UnitKey, Write, LEDGER_PRUNE_BATCH,
};
use switchyard_core::observe::{Batch, DecisionRow};
use switchyard_core::ops::Fault;
use switchyard_core::receipt::ReceiptId;
use switchyard_core::statistics::UnitRow;

/// Key of the single JSON value older versions stored (imported once, then deleted).
const LEGACY_KEY: &str = "learner";
/// Default alarm period; `STATS_TICK_MS` in `[vars]` overrides it.
const DEFAULT_TICK_MS: u64 = 2_000;
/// Keep ticking this long after the last report (controllers need the clock to advance).
const IDLE_STOP_MS: u64 = 10 * 60 * 1000;
/// Thrown inside the SQL transaction when a receipt id is already stored.
const CONFLICT: &str = "switchyard:receipt-conflict";

#[durable_object]
pub struct RouteStats {
    state: State,
    env: Env,
    /// `ctx.storage` (for `transactionSync`, which worker 0.8.7 does not bind).
    storage_js: JsValue,
    durable: RefCell<Option<Durable<SqlStore>>>,
    /// This object's name (`<route>` or `<route>~<k>`), once known.
    name: RefCell<Option<String>>,
    /// An alarm is known to be set.
    alarm_set: Cell<bool>,
    /// Last report, credit or wake-up seen by this instance (ms).
    last_activity: Cell<u64>,
}

/// Feedback forwarded by the control plane after it verified the receipt's signature.
#[derive(Deserialize)]
struct Credit {
    id: String,
    arm: String,
    reward: f64,
    issued_ms: u64,
    /// The decision's propensity in ppm, from the receipt (absent in older receipts).
    #[serde(default)]
    p: Option<u32>,
    /// The receipt's unit id as a 64-bit key (absent from an older control plane).
    #[serde(default)]
    unit: Option<u64>,
}

impl DurableObject for RouteStats {
    fn new(state: State, env: Env) -> Self {
        let raw = state._inner();
        let storage_js: JsValue = raw.storage().map(Into::into).unwrap_or(JsValue::UNDEFINED);
        Self {
            state: State::from(raw),
            env,
            storage_js,
            durable: RefCell::new(None),
            name: RefCell::new(None),
            alarm_set: Cell::new(false),
            last_activity: Cell::new(0),
        }
    }

    async fn fetch(&self, req: Request) -> Result<Response> {
        match self.handle(req).await {
            Ok(r) => Ok(r),
            Err(f) => {
                if f.status() >= 500 {
                    console_error!("switchyard-stats: route object: {}", f.message);
                }
                Ok(http::fault(&f.relabel_internal("stats_storage_error")))
            }
        }
    }

    async fn alarm(&self) -> Result<Response> {
        self.alarm_set.set(false);
        let name = match self.object_name(None) {
            Some(n) => n,
            None => match self.stored_route() {
                Ok(Some(n)) => n,
                _ => {
                    console_error!("switchyard-stats: alarm of an object without a name");
                    return Response::ok("no name");
                }
            },
        };
        self.load(&name).await?;
        let (route, shard) = learn::parse_object_name(&name);
        let last = self
            .with(|d| d.learner().last_report_ms)?
            .max(self.last_activity.get());
        let active = now_ms().saturating_sub(last) < IDLE_STOP_MS;
        if shard == 0 {
            self.tick(&name).await?;
        } else if active {
            // New credits here: the route's object must tick to merge them.
            if let Err(e) = shared::call(&self.env, route, "wake", worker::Method::Post, None).await
            {
                console_error!("switchyard-stats: shard {name}: waking route {route}: {e}");
            }
        }
        let pruned = self
            .with(|d| d.prune(now_ms(), LEDGER_PRUNE_BATCH))?
            .map_err(storage_err)?;
        // Minute buckets older than a day, in bounded batches.
        let pruned_minutes = self
            .with(|d| d.prune_series(now_ms(), learn::SERIES_PRUNE_BATCH))?
            .map_err(storage_err)?;
        // Unit rows of retired splits, in bounded batches.
        let pruned_units = self
            .with(|d| d.prune_units(LEDGER_PRUNE_BATCH))?
            .map_err(storage_err)?;
        let next = if active
            || pruned == LEDGER_PRUNE_BATCH
            || pruned_minutes == learn::SERIES_PRUNE_BATCH
            || pruned_units == LEDGER_PRUNE_BATCH
        {
            Some(self.tick_ms())
        } else {
            // Idle: wake when the oldest receipt row expires.
            self.with(|d| d.store().next_expiry())?
                .map_err(storage_err)?
                .map(|e| e.saturating_sub(now_ms()).max(self.tick_ms()))
        };
        if let Some(ms) = next {
            self.state
                .storage()
                .set_alarm(std::time::Duration::from_millis(ms))
                .await?;
            self.alarm_set.set(true);
        }
        Response::ok("ticked")
    }
}

impl RouteStats {
    async fn handle(&self, mut req: Request) -> std::result::Result<Response, Fault> {
        let path = req.path();
        let mut parts = path.trim_start_matches('/').splitn(2, '/');
        let from_url = parts.next().unwrap_or("").to_string();
        let action = parts.next().unwrap_or("").to_string();
        let name = self.object_name(Some(&from_url)).unwrap_or(from_url);
        self.load(&name).await?;
        let (route, shard) = learn::parse_object_name(&name);
        let route = route.to_string();
        if matches!(action.as_str(), "report" | "feedback" | "wake") {
            self.last_activity.set(now_ms());
        }
        match action.as_str() {
            "wake" => {
                self.ensure_alarm().await;
                Ok(json(200, &serde_json::json!({ "awake": true })))
            }
            "report" if shard == 0 => {
                let batch: Batch = match json_body(&mut req).await {
                    Ok(b) => b,
                    Err(e) => return Err(Fault::internal("bad_batch", e.to_string())),
                };
                let merged = self
                    .with(|d| d.report(&batch, now_ms()))?
                    .map_err(storage_err)?;
                self.ensure_alarm().await;
                Ok(json(200, &serde_json::json!({ "merged": merged })))
            }
            "feedback" => {
                let credit: Credit = match json_body(&mut req).await {
                    Ok(c) => c,
                    Err(e) => return Err(Fault::internal("bad_feedback", e.to_string())),
                };
                let Some(id) = parse_id(&credit.id) else {
                    return Err(Fault::internal("bad_feedback", "malformed receipt id"));
                };
                // The route's own object counts units: the config in force says the split a
                // unit whose feedback overtakes every report was routed under (read again
                // when the cached one does not know the route: it may be a second old).
                let config = if shard == 0 {
                    config_cache::current_for(&self.env, &route).await.config
                } else {
                    None
                };
                let cfg_route = config.as_ref().and_then(|c| c.route(&route));
                let now = now_ms();
                let r = self
                    .with(|d| {
                        d.credit_unit(
                            id,
                            &credit.arm,
                            credit.unit,
                            cfg_route,
                            credit.reward,
                            credit.issued_ms,
                            now,
                            RECEIPT_MAX_AGE_MS,
                            credit.p,
                        )
                    })?
                    .map_err(storage_err)?;
                match r {
                    Ok(()) => {
                        self.ensure_alarm().await;
                        Ok(json(
                            200,
                            &serde_json::json!({ "credited": true, "arm": credit.arm }),
                        ))
                    }
                    Err(refused) => Err(refused.into()),
                }
            }
            "rewards" => Ok(json(
                200,
                &serde_json::json!({ "shard": shard, "arms": self.with(|d| d.reward_sums())? }),
            )),
            "stats" if shard == 0 => Ok(json(200, &self.stats_doc(&route).await?)),
            "ope" if shard == 0 => {
                // Off-policy evaluation of an allocation (validated by the control plane;
                // checked again against the config this object sees).
                #[derive(Deserialize)]
                struct Ask {
                    policy: serde_json::Value,
                }
                let ask: Ask = match json_body(&mut req).await {
                    Ok(a) => a,
                    Err(e) => return Err(Fault::internal("bad_ope", e.to_string())),
                };
                let view = config_cache::current_for(&self.env, &route).await;
                let Some(cfg_route) = view.config.as_ref().and_then(|c| c.route(&route)) else {
                    return Err(Fault::unknown_route(format!(
                        "no route named {route:?} in the config"
                    )));
                };
                let policy = learn::parse_policy(cfg_route, &ask.policy)
                    .map_err(|e| Fault::bad_request("bad_policy", e.0))?;
                let doc = self.with(|d| learn::ope_document(d.learner(), cfg_route, &policy))?;
                Ok(json(200, &doc))
            }
            "decisions" if shard == 0 => {
                // One page of the decision log as NDJSON text (the control plane answers it
                // as application/x-ndjson). The control plane has validated the query.
                let raw = req.inner().url();
                let query = switchyard_core::routing::split_url(&raw)
                    .and_then(|u| u.query.map(str::to_string))
                    .unwrap_or_default();
                let param = |name: &str| {
                    query
                        .split('&')
                        .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('=').map(str::to_string))
                };
                let after = param("after").and_then(|c| learn::parse_cursor(&c));
                let limit = param("limit")
                    .and_then(|v| v.parse::<u32>().ok())
                    .unwrap_or(learn::EXPORT_PAGE_MAX)
                    .clamp(1, learn::EXPORT_PAGE_MAX);
                let page = self
                    .with(|d| d.decision_page(after, limit))?
                    .map_err(storage_err)?;
                let next = (page.len() == limit as usize)
                    .then(|| page.last().map(learn::cursor_of))
                    .flatten();
                let mut text = String::with_capacity(page.len() * 200);
                for row in &page {
                    text.push_str(&learn::export_line(row));
                }
                Ok(json(
                    200,
                    &serde_json::json!({ "rows": page.len(), "next": next, "ndjson": text }),
                ))
            }
            "series" if shard == 0 => {
                // Not `req.url()`: that links the `url` crate and idna's tables (~150 KB of
                // wasm); the control plane has validated `minutes` already.
                let raw = req.inner().url();
                let minutes = switchyard_core::routing::split_url(&raw)
                    .and_then(|u| {
                        u.query?.split('&').find_map(|kv| {
                            kv.strip_prefix("minutes=")
                                .and_then(|v| v.parse::<u64>().ok())
                        })
                    })
                    .unwrap_or(learn::KEEP_MINUTES);
                let (doc, warnings) = self
                    .with(|d| d.series_document(minutes, now_ms()))?
                    .map_err(storage_err)?;
                for w in warnings {
                    console_error!("switchyard-stats: object {name}: series: {w}");
                }
                Ok(json(200, &doc))
            }
            "override" if shard == 0 => {
                // An operator's state (manual rollback): the learner adopts it and KV gets it.
                let st: RouteState = match json_body(&mut req).await {
                    Ok(s) => s,
                    Err(e) => return Err(Fault::internal("bad_state", e.to_string())),
                };
                let old = self.with(|d| d.learner().state.clone())?;
                let view = config_cache::current(&self.env).await;
                let cfg_route = view.config.as_ref().and_then(|c| c.route(&route));
                let st = self
                    .with(|d| d.set_state(st, cfg_route, now_ms()))?
                    .map_err(storage_err)?;
                let text = serde_json::to_string(&st)
                    .map_err(|e| worker::Error::RustError(e.to_string()))?;
                self.env
                    .kv(BINDING)?
                    .put(&format!("state:{route}"), text)?
                    .execute()
                    .await?;
                crate::alerts::notify(
                    &self.state,
                    &self.env,
                    &route,
                    old.as_ref(),
                    &st,
                    None,
                    serde_json::Value::Null,
                );
                Ok(json(200, &serde_json::json!({ "state": st })))
            }
            "operate" if shard == 0 => {
                // An operator's rollback, resume or promote: decided by the learner, stored,
                // then written to KV (`state:<route>`, and `weights:<route>` for a promoted
                // bandit).
                #[derive(Deserialize)]
                struct Op {
                    action: String,
                }
                let op: Op = match json_body(&mut req).await {
                    Ok(o) => o,
                    Err(e) => return Err(Fault::internal("bad_action", e.to_string())),
                };
                let Some(op) = Operation::parse(&op.action) else {
                    return Err(Fault::internal(
                        "bad_action",
                        "action must be rollback, resume or promote",
                    ));
                };
                let view = config_cache::current_for(&self.env, &route).await;
                let Some(cfg_route) = view.config.as_ref().and_then(|c| c.route(&route)) else {
                    return Err(Fault::unknown_route(format!(
                        "no route named {route:?} in the config"
                    )));
                };
                let old = self.with(|d| d.learner().state.clone())?;
                match self
                    .with(|d| d.operate(cfg_route, op, now_ms()))?
                    .map_err(storage_err)?
                {
                    Ok(out) => {
                        self.write_outputs(&route, &out, old.as_ref(), Some(op.as_str()))
                            .await?;
                        Ok(json(
                            200,
                            &serde_json::json!({ "state": out.state, "weights": out.weights }),
                        ))
                    }
                    Err(refused) => Err(refused.into()),
                }
            }
            "tick" if shard == 0 => {
                self.tick(&name).await?;
                Ok(json(200, &self.stats_doc(&route).await?))
            }
            _ => Err(Fault::internal("not_found", "unknown route-stats action")),
        }
    }

    /// The object's name: from the runtime (`idFromName`), else what a caller used.
    fn object_name(&self, from_url: Option<&str>) -> Option<String> {
        if let Some(n) = self.name.borrow().clone() {
            return Some(n);
        }
        let n = self
            .state
            .id()
            .name()
            .filter(|n| !n.is_empty())
            .or_else(|| from_url.filter(|n| !n.is_empty()).map(str::to_string))?;
        *self.name.borrow_mut() = Some(n.clone());
        Some(n)
    }

    /// The route named in the stored meta row (an alarm of an object whose runtime name is
    /// unknown).
    fn stored_route(&self) -> std::result::Result<Option<String>, StoreError> {
        let store = SqlStore::open(self.state.storage().sql(), self.storage_js.clone())?;
        for (_, v) in store.rows(learn::META)? {
            if let Ok(l) = serde_json::from_str::<Learner>(&v) {
                if !l.route.is_empty() {
                    return Ok(Some(l.route));
                }
            }
        }
        Ok(None)
    }

    fn with<R>(&self, f: impl FnOnce(&mut Durable<SqlStore>) -> R) -> Result<R> {
        let mut slot = self.durable.borrow_mut();
        match slot.as_mut() {
            Some(d) => Ok(f(d)),
            None => Err(worker::Error::RustError("route state not loaded".into())),
        }
    }

    /// Opens the object's tables (once per instance); imports a legacy value once.
    async fn load(&self, name: &str) -> Result<()> {
        if self.durable.borrow().is_some() {
            return Ok(());
        }
        let store = SqlStore::open(self.state.storage().sql(), self.storage_js.clone())
            .map_err(storage_err)?;
        let (mut durable, warnings) = Durable::open(store, name).map_err(storage_err)?;
        for w in warnings {
            console_error!("switchyard-stats: object {name}: {w}");
        }
        if durable.is_blank().map_err(storage_err)? {
            self.import_legacy(&mut durable, name).await;
        }
        if self.durable.borrow().is_none() {
            *self.durable.borrow_mut() = Some(durable);
        }
        Ok(())
    }

    /// Best effort: the single JSON value older versions kept (aggregates, state and replay
    /// guard) becomes rows, then is deleted.
    async fn import_legacy(&self, durable: &mut Durable<SqlStore>, name: &str) {
        let storage = self.state.storage();
        let text: Option<String> = match storage.get(LEGACY_KEY).await {
            Ok(t) => t,
            Err(e) => {
                console_error!("switchyard-stats: object {name}: legacy value unreadable: {e}");
                return;
            }
        };
        let Some(text) = text else { return };
        match serde_json::from_str::<Learner>(&text) {
            Ok(old) => {
                let receipts = old
                    .replay
                    .entries()
                    .map(|(issued, id)| (id, learn::receipt_expiry(issued, RECEIPT_MAX_AGE_MS)))
                    .collect();
                match durable.import_legacy(old, receipts, now_ms()) {
                    Ok(n) => console_warn!(
                        "switchyard-stats: object {name}: imported the legacy learner ({n} receipts)"
                    ),
                    Err(e) => {
                        console_error!("switchyard-stats: object {name}: legacy import: {e}");
                        return;
                    }
                }
            }
            Err(e) => console_error!(
                "switchyard-stats: object {name}: legacy learner unreadable, not imported: {e}"
            ),
        }
        if let Err(e) = storage.delete(LEGACY_KEY).await {
            console_error!("switchyard-stats: object {name}: deleting the legacy value: {e}");
        }
    }

    fn tick_ms(&self) -> u64 {
        self.env
            .var("STATS_TICK_MS")
            .ok()
            .and_then(|v| v.to_string().parse().ok())
            .unwrap_or(DEFAULT_TICK_MS)
            .max(100)
    }

    async fn ensure_alarm(&self) {
        if self.alarm_set.get() {
            return;
        }
        let storage = self.state.storage();
        match storage.get_alarm().await {
            Ok(Some(_)) => self.alarm_set.set(true),
            Ok(None) => {
                if storage
                    .set_alarm(std::time::Duration::from_millis(self.tick_ms()))
                    .await
                    .is_ok()
                {
                    self.alarm_set.set(true);
                }
            }
            Err(_) => {}
        }
    }

    async fn stats_doc(&self, route: &str) -> Result<serde_json::Value> {
        let view = config_cache::current_for(&self.env, route).await;
        let cfg_route = view.config.as_ref().and_then(|c| c.route(route));
        let mut doc = self.with(|d| d.learner().stats(cfg_route))?;
        let (receipts, next_expiry) = self.with(|d| {
            let s = d.store();
            (s.receipt_count(), s.next_expiry())
        })?;
        doc["config"] = view.status;
        if let Some(r) = cfg_route {
            let weights = self.external_weights(r).await;
            if let Some(t) =
                self.with(|d| learn::trainer_status(r, weights.as_ref(), d.learner(), now_ms()))?
            {
                doc["trainer"] = t;
            }
        }
        doc["decision_log"] = serde_json::json!({
            "rows": self.with(|d| d.store().decision_count())?.map_err(storage_err)?,
            "enabled": cfg_route.is_some_and(|r| r.log.decisions),
            "context": cfg_route.map(|r| r.log.context.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>()),
            "rate_per_minute": learn::LOG_RATE_PER_MINUTE,
            "retention_ms": learn::LOG_RETENTION_MS,
        });
        doc["merged_from_shards"] = serde_json::json!(self.with(|d| d.merged_from_shards())?);
        doc["feedback_shards"] = serde_json::json!(cfg_route.map_or(1, |r| r.feedback_shards));
        doc["storage"] = serde_json::json!({
            "database_size": self.state.storage().sql().database_size(),
            "receipts": receipts.map_err(storage_err)?,
            "next_expiry_ms": next_expiry.map_err(storage_err)?,
            "wasm_memory_bytes": wasm_memory_bytes(),
        });
        Ok(doc)
    }

    /// One learning step: merge the ledger shards, tick, write what changed to KV.
    async fn tick(&self, name: &str) -> Result<()> {
        let (route_name, _) = learn::parse_object_name(name);
        let view = config_cache::current(&self.env).await;
        let Some(cfg) = view.config else {
            return Ok(()); // no valid config was ever seen: nothing to steer
        };
        let Some(route) = cfg.route(route_name) else {
            return Ok(()); // route gone
        };
        // Every shard the route's receipts may credit: the configured count, and any shard
        // merged before (receipts carry the count they were issued with, so after a config
        // lowers `feedback_shards` they still credit the higher shards until they expire).
        let merged_top = self
            .with(|d| d.merged_from_shards())?
            .keys()
            .max()
            .map_or(0, |k| k + 1);
        let mut shards = Vec::new();
        for k in 1..route.feedback_shards.max(merged_top) {
            let shard = learn::shard_object_name(route_name, k);
            match shard_rewards(&self.env, &shard).await {
                Ok(sums) => shards.push((k, sums)),
                Err(e) => console_error!("switchyard-stats: shard {shard}: {e}"),
            }
        }
        let seed = now_ms() ^ (js_sys::Math::random() * 9.0e15) as u64;
        let mut rng = Xoshiro256::seed_from_u64(seed);
        let old_state = self.with(|d| d.learner().state.clone())?;
        let (out, warnings) = self
            .with(|d| d.tick(route, now_ms(), &mut rng, &shards))?
            .map_err(storage_err)?;
        for w in warnings {
            console_warn!("switchyard-stats: route {route_name}: {w}");
        }
        self.write_outputs(route_name, &out, old_state.as_ref(), None)
            .await?;
        self.srm_alarm(route).await;
        self.weights_alarm(route).await;
        Ok(())
    }

    /// `weights:<route>` of an external-trainer bandit, as the edge reads it (`None` for
    /// other routes, a missing key or one that does not parse; the latter is logged).
    async fn external_weights(&self, route: &Route) -> Option<switchyard_core::config::Weights> {
        if !matches!(
            route.strategy,
            switchyard_core::config::Strategy::Bandit {
                trainer: switchyard_core::config::Trainer::External,
                ..
            }
        ) {
            return None;
        }
        let key = format!("weights:{}", route.name);
        let text = match self.env.kv(BINDING).ok()?.get(&key).text().await {
            Ok(t) => t?,
            Err(e) => {
                console_error!("switchyard-stats: reading {key}: {e}");
                return None;
            }
        };
        match switchyard_core::config::Weights::parse(&text) {
            Ok(w) => Some(w),
            Err(e) => {
                console_error!("switchyard-stats: {key}: {e}");
                None
            }
        }
    }

    /// The `weights_stale` alert of an external-trainer bandit: sent when the trainer's
    /// weights turn too old (or go missing) and the edge falls back to equal shares, once per
    /// episode (flag in storage key `weights_stale`).
    async fn weights_alarm(&self, route: &Route) {
        let switchyard_core::config::Strategy::Bandit {
            trainer: switchyard_core::config::Trainer::External,
            max_weight_age_s,
            ..
        } = &route.strategy
        else {
            return;
        };
        let w = self.external_weights(route).await;
        let now = now_ms();
        let stale = !w
            .as_ref()
            .is_some_and(|w| switchyard_core::routing::weights_fresh(w, *max_weight_age_s, now));
        let storage = self.state.storage();
        let before: bool = storage
            .get("weights_stale")
            .await
            .ok()
            .flatten()
            .unwrap_or(false);
        if stale == before {
            return;
        }
        let _ = storage.put("weights_stale", stale).await;
        if !stale {
            return;
        }
        let detail = match &w {
            Some(w) if w.updated_ms > 0 => format!(
                "external trainer's weights are {} s old (max_weight_age_s {max_weight_age_s}): equal shares until new ones arrive",
                now.saturating_sub(w.updated_ms) / 1000
            ),
            _ => format!(
                "no usable weights:{} from the external trainer: equal shares until they arrive",
                route.name
            ),
        };
        if let Ok(Err(e)) = self.with(|d| d.record_event(route, "weights_stale", &detail, now)) {
            console_error!(
                "switchyard-stats: route {}: weights_stale event: {e}",
                route.name
            );
        }
        console_warn!("switchyard: route {}: {detail}", route.name);
        crate::alerts::notify_event(
            &self.state,
            &self.env,
            &route.name,
            "weights_stale",
            serde_json::json!({ "detail": detail, "updated_ms": w.map(|w| w.updated_ms), "max_weight_age_s": max_weight_age_s }),
        );
    }

    /// Writes what a tick or an operator action (`op`) decided to KV, where the edge reads
    /// it, and sends the alerts a state change calls for (an operator's action: one alert,
    /// named after it).
    async fn write_outputs(
        &self,
        route_name: &str,
        out: &TickOutput,
        old: Option<&RouteState>,
        op: Option<&str>,
    ) -> Result<()> {
        let kv = self.env.kv(BINDING)?;
        if let Some(w) = &out.weights {
            // The layout travels in the same document as the weights it was built for, so
            // the edge never reads one without the other.
            let mut doc =
                serde_json::to_value(w).map_err(|e| worker::Error::RustError(e.to_string()))?;
            if let Some(l) = &out.layout {
                doc["layouts"] = serde_json::json!([l.to_value()]);
            }
            let text = doc.to_string();
            kv.put(&format!("weights:{route_name}"), text)?
                .execute()
                .await?;
        }
        if let Some(s) = &out.state {
            let text =
                serde_json::to_string(s).map_err(|e| worker::Error::RustError(e.to_string()))?;
            kv.put(&format!("state:{route_name}"), text)?
                .execute()
                .await?;
            let detail = out
                .gate
                .as_ref()
                .map_or(serde_json::Value::Null, |g| g.evidence.clone());
            crate::alerts::notify(&self.state, &self.env, route_name, old, s, op, detail);
            if s.rolled_back || !s.drained.is_empty() {
                console_error!(
                    "switchyard: route {route_name}: {}",
                    s.reason.as_deref().unwrap_or("rolled back")
                );
            }
        } else if let Some(g) = &out.gate {
            // A gate that holds the route where it is (a failing shadow gate): its own alert.
            crate::alerts::notify_event(
                &self.state,
                &self.env,
                route_name,
                "gate",
                g.evidence.clone(),
            );
        }
        if let Some(g) = &out.gate {
            crate::alerts::audit_gate(&self.state, &self.env, route_name, g.evidence.clone());
        }
        Ok(())
    }

    /// The `srm` alert: sent when the sample-ratio check turns to a mismatch (once per
    /// episode; the flag is kept in storage key `srm_alarm`).
    async fn srm_alarm(&self, route: &Route) {
        let Ok(doc) = self.with(|d| d.learner().stats(Some(route))) else {
            return;
        };
        let now = doc["experiment"]["srm"]["mismatch"]
            .as_bool()
            .unwrap_or(false);
        let storage = self.state.storage();
        let before: bool = storage
            .get("srm_alarm")
            .await
            .ok()
            .flatten()
            .unwrap_or(false);
        if now != before {
            let _ = storage.put("srm_alarm", now).await;
            if now {
                let srm = &doc["experiment"]["srm"];
                let detail = format!(
                    "sample ratio mismatch: units {} against planned shares {}, always-valid p {:.2e}",
                    srm["units"],
                    srm["planned_shares"],
                    srm["p_value"].as_f64().unwrap_or(f64::NAN)
                );
                if let Ok(Err(e)) = self.with(|d| d.record_event(route, "srm", &detail, now_ms())) {
                    console_error!("switchyard-stats: route {}: srm event: {e}", route.name);
                }
                crate::alerts::notify_event(
                    &self.state,
                    &self.env,
                    &route.name,
                    "srm",
                    doc["experiment"]["srm"].clone(),
                );
            }
        }
    }
}

/// A ledger shard's reward sums per arm.
async fn shard_rewards(env: &Env, shard: &str) -> Result<BTreeMap<String, RewardSums>> {
    #[derive(Deserialize)]
    struct Answer {
        arms: BTreeMap<String, RewardSums>,
    }
    let mut r = shared::call(env, shard, "rewards", worker::Method::Get, None).await?;
    if r.status_code() != 200 {
        return Err(worker::Error::RustError(format!(
            "answered HTTP {}",
            r.status_code()
        )));
    }
    let text = r.text().await?;
    let a: Answer =
        serde_json::from_str(&text).map_err(|e| worker::Error::RustError(e.to_string()))?;
    Ok(a.arms)
}

fn storage_err(e: StoreError) -> worker::Error {
    worker::Error::RustError(e.to_string())
}

fn wasm_memory_bytes() -> u64 {
    #[cfg(target_arch = "wasm32")]
    {
        (core::arch::wasm32::memory_size(0) as u64) * 65_536
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        0
    }
}

/// The request body as JSON, parsed by serde_json (not `Request::json`, which goes through
/// `JSON.parse` + serde_wasm_bindgen and costs a second deserializer per type in the wasm).
async fn json_body<T: serde::de::DeserializeOwned>(req: &mut Request) -> Result<T> {
    let text = req.text().await?;
    serde_json::from_str(&text).map_err(|e| worker::Error::RustError(e.to_string()))
}

fn parse_id(hex: &str) -> Option<ReceiptId> {
    if hex.len() != 32 {
        return None;
    }
    let mut id = [0u8; 16];
    for (i, b) in id.iter_mut().enumerate() {
        *b = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(ReceiptId(id))
}

// ---------------------------------------------------------------------------------------
// The object's SQLite

/// [`Store`] on the Durable Object's SQLite: table `receipts` (id -> expiry, indexed by
/// expiry), table `agg` (kind, key -> JSON value) and table `units` ((epoch, unit, arm) ->
/// requests, errors, rewards, reward sum).
pub struct SqlStore {
    sql: SqlStorage,
    storage: JsValue,
}

const SCHEMA: [&str; 7] = [
    "CREATE TABLE IF NOT EXISTS receipts (id BLOB PRIMARY KEY, expires INTEGER NOT NULL) WITHOUT ROWID",
    "CREATE INDEX IF NOT EXISTS receipts_by_expiry ON receipts (expires)",
    "CREATE TABLE IF NOT EXISTS agg (kind TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (kind, key)) WITHOUT ROWID",
    // The decision log (`core::learn` decisions): one row per kept decision, keyed by its
    // receipt id, ordered for export and pruning by (at, id); rewards that arrive before
    // their row wait in `early_rewards`.
    "CREATE TABLE IF NOT EXISTS decisions (id TEXT PRIMARY KEY, at INTEGER NOT NULL, unit TEXT NOT NULL, arm TEXT NOT NULL, p INTEGER NOT NULL, rate REAL NOT NULL, ctx TEXT NOT NULL, reward REAL) WITHOUT ROWID",
    "CREATE INDEX IF NOT EXISTS decisions_by_at ON decisions (at, id)",
    "CREATE TABLE IF NOT EXISTS early_rewards (id TEXT PRIMARY KEY, reward REAL NOT NULL, at INTEGER NOT NULL) WITHOUT ROWID",
    // One row per unit per arm per split (`core::experiment`); the key's first column lets a
    // retired split's rows be deleted as a range.
    "CREATE TABLE IF NOT EXISTS units (epoch INTEGER NOT NULL, unit INTEGER NOT NULL, arm TEXT NOT NULL, requests INTEGER NOT NULL, errors INTEGER NOT NULL, rewards INTEGER NOT NULL, reward_sum REAL NOT NULL, PRIMARY KEY (epoch, unit, arm)) WITHOUT ROWID",
];

fn sql_err(e: impl std::fmt::Display) -> StoreError {
    StoreError(e.to_string())
}

fn int(v: u64) -> SqlStorageValue {
    SqlStorageValue::Integer(v.min(i64::MAX as u64) as i64)
}

/// A 64-bit unit key as SQLite's signed integer (the same bits).
fn unit_int(unit: u64) -> SqlStorageValue {
    SqlStorageValue::Integer(unit as i64)
}

fn as_u64(v: Option<&SqlStorageValue>) -> u64 {
    match v {
        Some(SqlStorageValue::Integer(n)) => (*n).max(0) as u64,
        Some(SqlStorageValue::Float(f)) => f.max(0.0) as u64,
        _ => 0,
    }
}

fn js_message(e: &JsValue) -> String {
    if let Some(s) = e.as_string() {
        return s;
    }
    e.dyn_ref::<js_sys::Error>()
        .map(|e| String::from(e.message()))
        .unwrap_or_else(|| format!("{e:?}"))
}

impl SqlStore {
    fn open(sql: SqlStorage, storage: JsValue) -> std::result::Result<Self, StoreError> {
        for q in SCHEMA {
            sql.exec(q, None).map_err(sql_err)?;
        }
        Ok(Self { sql, storage })
    }

    fn first_int(
        &self,
        q: &str,
        args: Vec<SqlStorageValue>,
    ) -> std::result::Result<Option<u64>, StoreError> {
        let cur = self.sql.exec(q, args).map_err(sql_err)?;
        let Some(row) = cur.raw().next() else {
            return Ok(None);
        };
        let row = row.map_err(sql_err)?;
        Ok(match row.first() {
            Some(SqlStorageValue::Integer(n)) => Some((*n).max(0) as u64),
            Some(SqlStorageValue::Float(f)) => Some(f.max(0.0) as u64),
            _ => None,
        })
    }
}

impl Store for SqlStore {
    fn apply(&self, writes: Vec<Write>) -> std::result::Result<(), ApplyError> {
        let stmts: Vec<(&'static str, Vec<SqlStorageValue>, bool)> = writes
            .into_iter()
            .flat_map(|w| match w {
                Write::NewReceipt { id, expires_ms } => vec![(
                    "INSERT INTO receipts (id, expires) VALUES (?, ?) ON CONFLICT DO NOTHING RETURNING 1",
                    vec![SqlStorageValue::Blob(id.to_vec()), int(expires_ms)],
                    true,
                )],
                Write::Put { kind, key, value } => vec![(
                    "INSERT INTO agg (kind, key, value) VALUES (?, ?, ?) ON CONFLICT (kind, key) DO UPDATE SET value = excluded.value",
                    vec![kind.into(), key.into(), value.into()],
                    false,
                )],
                Write::DeleteKind(kind) => vec![(
                    "DELETE FROM agg WHERE kind = ?",
                    vec![kind.into()],
                    false,
                )],
                Write::Delete { kind, key } => vec![(
                    "DELETE FROM agg WHERE kind = ? AND key = ?",
                    vec![kind.into(), key.into()],
                    false,
                )],
                Write::LogDecision { row, rate } => {
                    let ctx = serde_json::to_string(&row.ctx).unwrap_or_else(|_| "{}".into());
                    vec![
                        (
                            "INSERT INTO decisions (id, at, unit, arm, p, rate, ctx, reward) VALUES (?, ?, ?, ?, ?, ?, ?, (SELECT reward FROM early_rewards WHERE id = ?)) ON CONFLICT (id) DO NOTHING",
                            vec![
                                row.id.clone().into(),
                                int(row.at),
                                row.unit.into(),
                                row.arm.into(),
                                int(u64::from(row.p)),
                                rate.into(),
                                ctx.into(),
                                row.id.clone().into(),
                            ],
                            false,
                        ),
                        (
                            "DELETE FROM early_rewards WHERE id = ?",
                            vec![row.id.into()],
                            false,
                        ),
                    ]
                }
                Write::LogReward { id, reward, at } => vec![
                    (
                        "UPDATE decisions SET reward = ? WHERE id = ?",
                        vec![reward.into(), id.clone().into()],
                        false,
                    ),
                    (
                        "INSERT INTO early_rewards (id, reward, at) SELECT ?, ?, ? WHERE NOT EXISTS (SELECT 1 FROM decisions WHERE id = ?) ON CONFLICT (id) DO UPDATE SET reward = excluded.reward",
                        vec![id.clone().into(), reward.into(), int(at), id.into()],
                        false,
                    ),
                ],
                Write::Unit(k, r) => vec![(
                    "INSERT INTO units (epoch, unit, arm, requests, errors, rewards, reward_sum) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (epoch, unit, arm) DO UPDATE SET requests = excluded.requests, errors = excluded.errors, rewards = excluded.rewards, reward_sum = excluded.reward_sum",
                    vec![
                        int(u64::from(k.epoch)),
                        unit_int(k.unit),
                        k.arm.into(),
                        int(r.requests),
                        int(r.errors),
                        int(r.rewards),
                        SqlStorageValue::Float(r.reward_sum),
                    ],
                    false,
                )],
            })
            .collect();
        let sql = self.sql.clone();
        let run = move || -> std::result::Result<JsValue, JsValue> {
            for (q, args, must_insert) in stmts {
                let cur = sql
                    .exec(q, args)
                    .map_err(|e| JsValue::from_str(&e.to_string()))?;
                if must_insert && cur.raw().next().is_none() {
                    return Err(JsValue::from_str(CONFLICT));
                }
            }
            Ok(JsValue::UNDEFINED)
        };
        let classify = |e: JsValue| {
            let m = js_message(&e);
            if m.contains(CONFLICT) {
                ApplyError::Conflict
            } else {
                ApplyError::Store(m)
            }
        };
        // All statements in one `transactionSync`: on a throw (a conflict or a failed
        // statement) SQLite rolls every one of them back.
        let tx = js_sys::Reflect::get(&self.storage, &JsValue::from_str("transactionSync"))
            .ok()
            .and_then(|f| f.dyn_into::<js_sys::Function>().ok());
        match tx {
            Some(f) => {
                let cb = Closure::once_into_js(run);
                f.call1(&self.storage, &cb).map(|_| ()).map_err(classify)
            }
            None => Err(ApplyError::Store(
                "ctx.storage.transactionSync is not available".into(),
            )),
        }
    }

    fn rows(&self, kind: &str) -> std::result::Result<Vec<(String, String)>, StoreError> {
        let cur = self
            .sql
            .exec(
                "SELECT key, value FROM agg WHERE kind = ?",
                vec![kind.into()],
            )
            .map_err(sql_err)?;
        let mut out = Vec::new();
        for row in cur.raw() {
            let row = row.map_err(sql_err)?;
            match (row.first(), row.get(1)) {
                (Some(SqlStorageValue::String(k)), Some(SqlStorageValue::String(v))) => {
                    out.push((k.clone(), v.clone()));
                }
                _ => {
                    console_error!("switchyard-stats: agg row of kind {kind} is not text, skipped")
                }
            }
        }
        Ok(out)
    }

    fn prune_receipts(&self, now_ms: u64, limit: u32) -> std::result::Result<u32, StoreError> {
        let cur = self
            .sql
            .exec(
                "DELETE FROM receipts WHERE id IN (SELECT id FROM receipts WHERE expires < ? ORDER BY expires LIMIT ?) RETURNING 1",
                vec![int(now_ms), int(u64::from(limit))],
            )
            .map_err(sql_err)?;
        let mut n = 0u32;
        for row in cur.raw() {
            row.map_err(sql_err)?;
            n += 1;
        }
        Ok(n)
    }

    fn receipt_count(&self) -> std::result::Result<u64, StoreError> {
        Ok(self
            .first_int("SELECT COUNT(*) FROM receipts", vec![])?
            .unwrap_or(0))
    }

    fn next_expiry(&self) -> std::result::Result<Option<u64>, StoreError> {
        self.first_int("SELECT MIN(expires) FROM receipts", vec![])
    }

    fn decision_page(
        &self,
        after: Option<(u64, String)>,
        limit: u32,
    ) -> std::result::Result<Vec<LoggedDecision>, StoreError> {
        let (at, id) = after.unwrap_or((0, String::new()));
        let cur = self
            .sql
            .exec(
                "SELECT id, at, unit, arm, p, rate, ctx, reward FROM decisions WHERE at > ? OR (at = ? AND id > ?) ORDER BY at, id LIMIT ?",
                vec![int(at), int(at), id.into(), int(u64::from(limit))],
            )
            .map_err(sql_err)?;
        let num = |v: Option<&SqlStorageValue>| match v {
            Some(SqlStorageValue::Integer(n)) => Some(*n as f64),
            Some(SqlStorageValue::Float(f)) => Some(*f),
            _ => None,
        };
        let text = |v: Option<&SqlStorageValue>| match v {
            Some(SqlStorageValue::String(s)) => Some(s.clone()),
            _ => None,
        };
        let mut out = Vec::new();
        for row in cur.raw() {
            let row = row.map_err(sql_err)?;
            let (Some(id), Some(at), Some(unit), Some(arm), Some(p), Some(rate), Some(ctx)) = (
                text(row.first()),
                num(row.get(1)),
                text(row.get(2)),
                text(row.get(3)),
                num(row.get(4)),
                num(row.get(5)),
                text(row.get(6)),
            ) else {
                return Err(StoreError("a decision row has an unexpected shape".into()));
            };
            out.push(LoggedDecision {
                row: DecisionRow {
                    id,
                    at: at.max(0.0) as u64,
                    unit,
                    arm,
                    p: p.clamp(0.0, 1e6) as u32,
                    ctx: serde_json::from_str(&ctx).unwrap_or_default(),
                },
                rate,
                reward: num(row.get(7)),
            });
        }
        Ok(out)
    }

    fn prune_decisions(
        &self,
        before_ms: u64,
        early_before_ms: u64,
        limit: u32,
    ) -> std::result::Result<u32, StoreError> {
        let mut n = 0u32;
        for (q, before) in [
            ("DELETE FROM decisions WHERE id IN (SELECT id FROM decisions WHERE at < ? ORDER BY at LIMIT ?) RETURNING 1", before_ms),
            ("DELETE FROM early_rewards WHERE id IN (SELECT id FROM early_rewards WHERE at < ? LIMIT ?) RETURNING 1", early_before_ms),
        ] {
            let cur = self
                .sql
                .exec(q, vec![int(before), int(u64::from(limit))])
                .map_err(sql_err)?;
            for row in cur.raw() {
                row.map_err(sql_err)?;
                n += 1;
            }
        }
        Ok(n)
    }

    fn decision_count(&self) -> std::result::Result<u64, StoreError> {
        Ok(self
            .first_int("SELECT COUNT(*) FROM decisions", vec![])?
            .unwrap_or(0))
    }
    fn unit_rows(&self, keys: &[UnitKey]) -> std::result::Result<Vec<Option<UnitRow>>, StoreError> {
        let mut out = Vec::with_capacity(keys.len());
        for k in keys {
            let cur = self
                .sql
                .exec(
                    "SELECT requests, errors, rewards, reward_sum FROM units WHERE epoch = ? AND unit = ? AND arm = ?",
                    vec![int(u64::from(k.epoch)), unit_int(k.unit), k.arm.as_str().into()],
                )
                .map_err(sql_err)?;
            let row = match cur.raw().next() {
                None => None,
                Some(row) => {
                    let row = row.map_err(sql_err)?;
                    Some(UnitRow {
                        requests: as_u64(row.first()),
                        errors: as_u64(row.get(1)),
                        rewards: as_u64(row.get(2)),
                        reward_sum: match row.get(3) {
                            Some(SqlStorageValue::Float(f)) => *f,
                            Some(SqlStorageValue::Integer(n)) => *n as f64,
                            _ => 0.0,
                        },
                    })
                }
            };
            out.push(row);
        }
        Ok(out)
    }

    fn delete_units(&self, epoch: u32, limit: u32) -> std::result::Result<u32, StoreError> {
        let cur = self
            .sql
            .exec(
                "DELETE FROM units WHERE (epoch, unit, arm) IN (SELECT epoch, unit, arm FROM units WHERE epoch = ? LIMIT ?) RETURNING 1",
                vec![int(u64::from(epoch)), int(u64::from(limit))],
            )
            .map_err(sql_err)?;
        let mut n = 0u32;
        for row in cur.raw() {
            row.map_err(sql_err)?;
            n += 1;
        }
        Ok(n)
    }
}
