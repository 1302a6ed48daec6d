//! Observations for the per-route Durable Object. Each isolate batches what it sees
//! (pre-aggregated per route, arm and controller epoch) and flushes by age or count inside
//! `ctx.waitUntil`, so the request path never waits for the object. Also signs feedback
//! receipts.

use std::cell::{Cell, RefCell};

use crate::js::{self, Ctx, Env};
use crate::state;
use switchyard_core::observe::{self, BodyRead, Compare};
use switchyard_core::observe::{Batch, Batcher, DecisionRow, Observation, ShadowObservation};
use switchyard_core::receipt::Receipt;

use switchyard_core::config::{RECEIPT_SECRET, STATS_BINDING};
use switchyard_core::receipt::ReceiptSigner;

/// A batch is flushed 1 s after its first observation, or at 1,000 observations if that
/// comes first: at most one report per route per second from each isolate, plus one per
/// 1,000 requests beyond 1,000/s (docs/ledger.md, "Capacity model"). Observations made before
/// an operator's action can reach the route's object after it; they carry the controller
/// epoch they were made under, and the object keeps those of an older epoch out of the
/// controller's window.
const FLUSH_AGE_MS: u64 = Batcher::DEFAULT_MAX_AGE_MS;
const FLUSH_COUNT: u32 = 1_000;
/// A flush timer not back after this long was cut short (its `waitUntil` ended): another
/// may start.
const TIMER_STUCK_MS: u64 = 3 * FLUSH_AGE_MS;

thread_local! {
    static BATCHER: RefCell<Batcher> = RefCell::new(Batcher::new(FLUSH_COUNT, FLUSH_AGE_MS));
    /// Since when the isolate's one flush timer has been running, if it is.
    static TIMER: Cell<Option<u64>> = const { Cell::new(None) };
}

/// Records one routed request; flushes in `ctx.waitUntil` when the batch is due. While
/// anything is pending, one timer per isolate flushes it at its maximum age, so a quiet
/// route still reports within that age (one timer: never two flushes of one second).
pub fn observe(env: &Env, ctx: &Ctx, obs: Observation<'_>) {
    observe_with(env, ctx, |b, now| b.push(obs, now));
}

fn observe_with(env: &Env, ctx: &Ctx, f: impl FnOnce(&mut Batcher, u64) -> bool) {
    if push(f) {
        if let Some(batch) = drain() {
            state::background(ctx, send(env.clone(), batch));
        }
    }
    if start_timer() {
        state::background(ctx, flush_later(env.clone()));
    }
}

/// Counts an override token (forced to `arm`, or ignored when `None`); flushed like
/// observations.
pub fn override_seen(env: &Env, ctx: &Ctx, route: &str, arm: Option<&str>) {
    observe_with(env, ctx, |b, now| b.push_override(route, arm, now));
}

/// Adds to the isolate's batch; whether it is now due.
fn push(f: impl FnOnce(&mut Batcher, u64) -> bool) -> bool {
    let now = state::now_ms();
    BATCHER.with(|b| f(&mut b.borrow_mut(), now))
}

/// Whether to start the flush timer: something is pending and no timer is running (or the
/// running one was cut short). Marks it running.
fn start_timer() -> bool {
    let now = state::now_ms();
    let pending = BATCHER.with(|b| !b.borrow().is_empty());
    TIMER.with(|t| {
        let running = t
            .get()
            .is_some_and(|since| now.saturating_sub(since) < TIMER_STUCK_MS);
        let start = pending && !running;
        if start {
            t.set(Some(now));
        }
        start
    })
}

/// The isolate's flush timer: sleeps until the pending batch is due (a batch drained by
/// count meanwhile: until the next one is), sends it, and ends once nothing is pending
/// (observations made while it sent are the next batch it waits for).
async fn flush_later(env: Env) {
    loop {
        let now = state::now_ms();
        match BATCHER.with(|b| b.borrow().due_in(now)) {
            None => break,
            Some(0) => {
                if let Some(batch) = drain() {
                    send(env.clone(), batch).await;
                }
            }
            Some(ms) => {
                TIMER.with(|t| t.set(Some(now)));
                js::sleep(ms as u32).await;
            }
        }
    }
    TIMER.with(|t| t.set(None));
}

fn drain() -> Option<Batch> {
    let batch = BATCHER.with(|b| b.borrow_mut().drain());
    (!batch.is_empty()).then_some(batch)
}

/// Records a finished shadow request (already inside `ctx.waitUntil`, so it flushes inline).
#[allow(clippy::too_many_arguments)]
pub async fn shadow(
    env: &Env,
    route: &str,
    origin: &str,
    primary_status: u16,
    primary_latency_ms: u32,
    primary_body: Option<&js::Capped>,
    shadow: Option<(u16, u32, Option<&js::Capped>)>,
    spec: Option<&Compare>,
    epoch: Option<u64>,
) {
    let obs = match shadow {
        Some((status, latency, body)) => {
            let diff = latency as i32 - primary_latency_ms as i32;
            match (spec, primary_body, body) {
                (Some(spec), Some(pb), Some(sb)) => {
                    let agreement = observe::compare_read(
                        spec,
                        (primary_status, read(pb)),
                        (status, read(sb)),
                        switchyard_edge::text::lowercase,
                    );
                    ShadowObservation::from_agreement(route, origin, &agreement, diff)
                }
                _ => ShadowObservation {
                    route,
                    shadow_origin: origin,
                    status_agree: status == primary_status,
                    latency_diff_ms: diff,
                    payload: None,
                },
            }
        }
        None => ShadowObservation::failed(route, origin, 0),
    };
    if push(|b, now| b.push_shadow(&obs, epoch, now)) {
        if let Some(batch) = drain() {
            send(env.clone(), batch).await;
        }
    }
    if start_timer() {
        flush_later(env.clone()).await;
    }
}

fn read(c: &js::Capped) -> BodyRead<'_> {
    match c {
        js::Capped::Bytes(b) => BodyRead::Bytes(b),
        js::Capped::TooLarge => BodyRead::TooLarge,
        js::Capped::Unreadable => BodyRead::Unreadable,
    }
}

/// Sends each route's part of a batch to that route's object.
async fn send(env: Env, batch: Batch) {
    for (route, part) in batch.split_by_route() {
        let body = match serde_json::to_string(&part) {
            Ok(b) => b,
            Err(e) => {
                js::error(&format!(
                    "switchyard: batch for {route} not serialisable: {e}"
                ));
                continue;
            }
        };
        // The object answers 2xx when it recorded the batch; any other status (a 4xx for a
        // batch it refused, a 5xx) lost the observations just as a failed call did.
        let failure = match call(&env, &route, "report", "POST", Some(body)).await {
            Ok(r) if (200..300).contains(&r.status()) => None,
            Ok(r) => {
                let detail = js::text(&r).await;
                Some(format!(
                    "status {}: {}",
                    r.status(),
                    detail.chars().take(200).collect::<String>()
                ))
            }
            Err(e) => Some(e),
        };
        if let Some(e) = failure {
            js::error(&format!(
                "switchyard: report to {route} failed, {} observations lost: {e}",
                part_len(&part)
            ));
        }
    }
}

fn part_len(b: &Batch) -> u64 {
    b.arms.iter().map(|a| a.counts.requests).sum()
}

/// The unit's 8-byte id: the signer's keyed
/// [`ReceiptSigner::unit_id`](switchyard_core::receipt::ReceiptSigner::unit_id) (what receipts
/// carry, so feedback can be matched to the unit), else, without a receipt key (no feedback
/// either), the unkeyed [`Receipt::unit_hash_of`]. Never the bucketing hash.
pub fn unit_id(signer: Option<&ReceiptSigner>, unit: &str) -> [u8; 8] {
    match signer {
        Some(s) => s.unit_id(unit),
        None => Receipt::unit_hash_of(unit),
    }
}

/// A signed receipt and what the decision log keys on it.
pub struct Signed {
    pub token: String,
    /// The receipt id (32 hex digits).
    pub id: String,
    pub issued_ms: u64,
}

/// A signed receipt (`v2`) for one routed response naming the unit by `unit_id`, with the
/// arm's propensity (ppm) when the decision was a draw of the policy; the nonce comes from
/// the platform's CSPRNG; the route's feedback shard count is signed in, so the shard that
/// credits it never changes. `None` without a signer.
pub fn receipt(
    signer: Option<&ReceiptSigner>,
    route: &switchyard_core::config::Route,
    arm: &str,
    unit_id: [u8; 8],
    config_id: &str,
    propensity_ppm: Option<u32>,
) -> Option<Signed> {
    let signer = signer?;
    let version = u64::from_str_radix(config_id, 16).unwrap_or(0);
    let issued_ms = state::now_ms();
    let r = Receipt::new(
        &route.name,
        arm,
        unit_id,
        version,
        issued_ms,
        state::secure_u64(),
    )
    .and_then(|r| r.with_shards(route.feedback_shards))
    .ok()?
    .with_propensity(propensity_ppm);
    let (token, id) = signer.sign_with_id(&r);
    Some(Signed {
        token,
        id: hex(&id.0),
        issued_ms,
    })
}

/// Lower-case hex of `b`.
pub fn hex(b: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(b.len() * 2);
    for x in b {
        s.push(DIGITS[usize::from(x >> 4)] as char);
        s.push(DIGITS[usize::from(x & 15)] as char);
    }
    s
}

/// Adds one decision-log row to the isolate's batch (sent with the route's observations).
pub fn log_decision(route: &str, row: DecisionRow) {
    BATCHER.with(|b| b.borrow_mut().push_decision(route, row));
}

/// Calls the route's Durable Object: `https://route-stats/<route>/<action>`. The object
/// always answers JSON; anything else came from the runtime (e.g. `wrangler dev` without
/// the switchyard-stats worker answers a text 503) and is an error.
pub async fn call(
    env: &Env,
    route: &str,
    action: &str,
    method: &str,
    body: Option<String>,
) -> Result<js::Response, String> {
    let url = format!("https://route-stats/{route}/{action}");
    let resp = js::call_object(env, STATS_BINDING, route, &url, method, body).await?;
    if !is_json(&resp) {
        return Err(format!(
            "{STATS_BINDING} answered HTTP {} without JSON: is the switchyard-stats worker running?",
            resp.status()
        ));
    }
    Ok(resp)
}

pub fn is_json(r: &js::Response) -> bool {
    r.headers()
        .get("content-type")
        .ok()
        .flatten()
        .is_some_and(|t| t.starts_with("application/json"))
}

thread_local! {
    /// `None` inside: no `RECEIPT_KEY` configured, receipts are off.
    static SIGNER: RefCell<Option<Option<ReceiptSigner>>> = const { RefCell::new(None) };
}

/// The isolate's receipt signer, built once from the `RECEIPT_KEY` secret.
pub fn signer(env: &Env) -> Option<ReceiptSigner> {
    SIGNER.with(|s| {
        let mut s = s.borrow_mut();
        if s.is_none() {
            let key = js::secret(env, RECEIPT_SECRET).filter(|k| k.len() >= 16);
            if key.is_none() {
                js::error(&format!(
                    "switchyard: secret {RECEIPT_SECRET} missing or shorter than 16 bytes: receipts are off"
                ));
            }
            *s = Some(key.map(|k| ReceiptSigner::new(k.as_bytes())));
        }
        s.as_ref().and_then(Clone::clone)
    })
}
