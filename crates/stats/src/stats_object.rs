//! `RouteStats`: the Durable Object of one route. It aggregates the batches the edge
//! reports, credits feedback once per receipt, and on an alarm runs the route's
//! [`Learner`] tick: bandit weights to KV `weights:<route>`, controller state to KV
//! `state:<route>`. All decisions are in `switchyard_core::learn`; this is storage and glue.

use std::cell::RefCell;

use serde::Deserialize;
use worker::{console_error, durable_object, DurableObject, Env, Request, Response, Result, State};

use switchyard_core::config::Route;
use switchyard_core::learn::{FeedbackError, Learner, Operation, TickOutput};
use switchyard_core::observe::Batch;
use switchyard_core::receipt::ReceiptId;
use switchyard_core::rng::Xoshiro256;
use switchyard_edge::http::{json, json_error};
use switchyard_edge::shared::{self, now_ms, BINDING, RECEIPT_MAX_AGE_MS};

const KEY: &str = "learner";
/// Default alarm period; `STATS_TICK_MS` in `[vars]` overrides it.
const DEFAULT_TICK_MS: u64 = 2_000;
/// Keep ticking this long after the last report (controllers need the clock to advance).
const IDLE_STOP_MS: u64 = 10 * 60 * 1000;

#[durable_object]
pub struct RouteStats {
    state: State,
    env: Env,
    learner: RefCell<Option<Learner>>,
}

/// Feedback forwarded by the edge after it verified the receipt's signature.
#[derive(Deserialize)]
struct Credit {
    id: String,
    arm: String,
    reward: f64,
    issued_ms: u64,
}

impl DurableObject for RouteStats {
    fn new(state: State, env: Env) -> Self {
        Self {
            state,
            env,
            learner: RefCell::new(None),
        }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        let path = req.path();
        let mut parts = path.trim_start_matches('/').splitn(2, '/');
        let route = parts.next().unwrap_or("").to_string();
        let action = parts.next().unwrap_or("");
        self.load(&route).await;
        match action {
            "report" => {
                let batch: Batch = match json_body(&mut req).await {
                    Ok(b) => b,
                    Err(e) => return Ok(json_error(400, "bad_batch", &e.to_string())),
                };
                let merged = self.with(|l| l.report(&batch, now_ms()));
                self.save().await?;
                self.ensure_alarm().await;
                Ok(json(200, &serde_json::json!({ "merged": merged })))
            }
            "feedback" => {
                let credit: Credit = match json_body(&mut req).await {
                    Ok(c) => c,
                    Err(e) => return Ok(json_error(400, "bad_feedback", &e.to_string())),
                };
                let Some(id) = parse_id(&credit.id) else {
                    return Ok(json_error(400, "bad_feedback", "malformed receipt id"));
                };
                let now = now_ms();
                let r = self.with(|l| {
                    l.feedback(
                        id,
                        &credit.arm,
                        credit.reward,
                        credit.issued_ms,
                        now,
                        RECEIPT_MAX_AGE_MS,
                    )
                });
                match r {
                    Ok(()) => {
                        self.save().await?;
                        self.ensure_alarm().await;
                        Ok(json(
                            200,
                            &serde_json::json!({ "credited": true, "arm": credit.arm }),
                        ))
                    }
                    Err(FeedbackError::Replayed) => Ok(json_error(
                        409,
                        "receipt_replayed",
                        "this receipt was already credited",
                    )),
                    Err(FeedbackError::BadReward(why)) => Ok(json_error(400, "bad_reward", &why)),
                }
            }
            "stats" => {
                let cfg = self.route_config(&route).await;
                let doc = self.with(|l| l.stats(cfg.as_ref()));
                Ok(json(200, &doc))
            }
            "override" => {
                // An operator's state (manual rollback): the learner adopts it and KV gets it.
                let st: switchyard_core::strategy::RouteState = match json_body(&mut req).await {
                    Ok(s) => s,
                    Err(e) => return Ok(json_error(400, "bad_state", &e.to_string())),
                };
                let text = serde_json::to_string(&st)
                    .map_err(|e| worker::Error::RustError(e.to_string()))?;
                self.env
                    .kv(BINDING)?
                    .put(&format!("state:{route}"), text)?
                    .execute()
                    .await?;
                self.with(|l| l.state = Some(st.clone()));
                self.save().await?;
                Ok(json(200, &serde_json::json!({ "state": st })))
            }
            "operate" => {
                // An operator's rollback, resume or promote: decided by the learner, written
                // to KV (`state:<route>`, and `weights:<route>` for a promoted bandit).
                #[derive(Deserialize)]
                struct Op {
                    action: String,
                }
                let op: Op = match json_body(&mut req).await {
                    Ok(o) => o,
                    Err(e) => return Ok(json_error(400, "bad_action", &e.to_string())),
                };
                let Some(op) = Operation::parse(&op.action) else {
                    return Ok(json_error(
                        400,
                        "bad_action",
                        "action must be rollback, resume or promote",
                    ));
                };
                let Some(cfg) = self.route_config(&route).await else {
                    return Ok(json_error(
                        404,
                        "unknown_route",
                        &format!("no route named {route:?} in the config"),
                    ));
                };
                let r = self.with(|l| {
                    if l.route.is_empty() {
                        l.route = route.clone();
                    }
                    l.operate(&cfg, op, now_ms())
                });
                match r {
                    Ok(out) => {
                        self.write_outputs(&route, &out).await?;
                        self.save().await?;
                        Ok(json(
                            200,
                            &serde_json::json!({ "state": out.state, "weights": out.weights }),
                        ))
                    }
                    Err(e) => Ok(json_error(e.status, e.code, &e.message)),
                }
            }
            "tick" => {
                self.tick().await?;
                let cfg = self.route_config(&route).await;
                Ok(json(200, &self.with(|l| l.stats(cfg.as_ref()))))
            }
            _ => Ok(json_error(404, "not_found", "unknown route-stats action")),
        }
    }

    async fn alarm(&self) -> Result<Response> {
        self.load("").await;
        self.tick().await?;
        let last = self.with(|l| l.last_report_ms);
        if now_ms().saturating_sub(last) < IDLE_STOP_MS {
            self.state
                .storage()
                .set_alarm(std::time::Duration::from_millis(self.tick_ms()))
                .await?;
        }
        Response::ok("ticked")
    }
}

impl RouteStats {
    fn with<R>(&self, f: impl FnOnce(&mut Learner) -> R) -> R {
        let mut slot = self.learner.borrow_mut();
        let learner = slot.get_or_insert_with(Learner::default);
        f(learner)
    }

    async fn load(&self, route: &str) {
        if self.learner.borrow().is_some() {
            return;
        }
        let stored: Option<String> = self.state.storage().get(KEY).await.ok().flatten();
        let learner = stored
            .and_then(|s| match serde_json::from_str::<Learner>(&s) {
                Ok(l) => Some(l),
                Err(e) => {
                    console_error!("switchyard: stored learner unreadable, starting fresh: {e}");
                    None
                }
            })
            .unwrap_or_else(|| Learner::new(route));
        *self.learner.borrow_mut() = Some(learner);
    }

    async fn save(&self) -> Result<()> {
        let text = self
            .with(|l| serde_json::to_string(l))
            .map_err(|e| worker::Error::RustError(e.to_string()))?;
        self.state.storage().put(KEY, text).await
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
        let storage = self.state.storage();
        if matches!(storage.get_alarm().await, Ok(None)) {
            let _ = storage
                .set_alarm(std::time::Duration::from_millis(self.tick_ms()))
                .await;
        }
    }

    async fn route_config(&self, route: &str) -> Option<Route> {
        let cfg = shared::config_from_kv(&self.env).await?;
        cfg.routes.into_iter().find(|r| r.name == route)
    }

    /// One learning step; writes what changed to KV.
    async fn tick(&self) -> Result<()> {
        let route_name = self.with(|l| l.route.clone());
        let Some(route) = self.route_config(&route_name).await else {
            return Ok(()); // route gone or config unreadable: nothing to steer
        };
        let seed = now_ms() ^ (js_sys::Math::random() * 9.0e15) as u64;
        let mut rng = Xoshiro256::seed_from_u64(seed);
        let out = self.with(|l| l.tick(&route, now_ms(), &mut rng));
        self.write_outputs(&route_name, &out).await?;
        self.save().await
    }

    /// Writes what a tick or an operator action decided to KV, where the edge reads it.
    async fn write_outputs(&self, route_name: &str, out: &TickOutput) -> Result<()> {
        let kv = self.env.kv(BINDING)?;
        if let Some(w) = &out.weights {
            let text =
                serde_json::to_string(w).map_err(|e| worker::Error::RustError(e.to_string()))?;
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
            if s.rolled_back || !s.drained.is_empty() {
                console_error!(
                    "switchyard: route {route_name}: {}",
                    s.reason.as_deref().unwrap_or("rolled back")
                );
            }
        }
        Ok(())
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
