//! Mirrored requests, fired inside `ctx.waitUntil`: they run after the primary response is
//! on its way and can never change its status, body or latency. The headers are one native
//! copy, the body the same buffer the primary sent, and an answer that nothing compares is
//! read to the end in the runtime (`js::drain`), not copied into wasm, so the origin
//! connection is reused. A compared answer (the shadow's and the primary's) is read at most
//! up to `observe::MAX_COMPARE_BYTES`; a longer one is cancelled there and counted as not
//! compared. A shadow costs about twice the fetch it makes (docs/bench.md).

use crate::forward::{self, Body, Failure};
use crate::js::{self, Env, Headers, Response};
use crate::report;
use crate::state;

/// One mirrored request, owning everything it needs (it outlives the handler).
pub struct ShadowJob {
    pub route: String,
    pub origin: String,
    pub url: String,
    pub method: String,
    pub headers: Headers,
    pub body: Body,
    pub timeout_ms: u32,
    pub compare: Option<switchyard_core::observe::Compare>,
    /// The controller epoch the primary was routed under.
    pub epoch: Option<u64>,
}

/// What the primary answered, for comparison.
pub struct Primary {
    pub status: u16,
    pub latency_ms: u32,
    /// A clone of the primary's response when a shadow compares bodies.
    pub body: Option<Response>,
}

/// Most bytes of a body read for a comparison.
const CAP: u32 = switchyard_core::observe::MAX_COMPARE_BYTES as u32;

/// Sends every job concurrently and reports what came back.
pub async fn run(env: Env, jobs: Vec<ShadowJob>, primary: Primary) {
    let primary_body = match primary.body.as_ref() {
        Some(r) => Some(js::capped(r, CAP).await),
        None => None,
    };
    let futures = jobs.into_iter().map(|job| {
        let primary_body = primary_body.as_ref();
        let env = env.clone();
        let (p_status, p_latency) = (primary.status, primary.latency_ms);
        async move {
            let started = state::now_ms();
            let result = forward::send(
                &job.method,
                &job.url,
                &job.headers,
                &job.body,
                job.timeout_ms,
            )
            .await;
            let latency = state::now_ms().saturating_sub(started) as u32;
            // Only failures are logged: a line per mirrored request is a console write per
            // request (and a Workers Logs event), which the shadow's statistics already count.
            let answer = match result {
                Ok(resp) => {
                    let status = resp.status();
                    let body = if job.compare.is_some() {
                        Some(js::capped(&resp, CAP).await)
                    } else {
                        js::drain(&resp).await;
                        None
                    };
                    Some((status, latency, body))
                }
                Err(f) => {
                    let why = match f {
                        Failure::Timeout => format!("no answer within {} ms", job.timeout_ms),
                        Failure::Connect(e) => e,
                    };
                    js::warn(&format!(
                        "switchyard: shadow {} -> {}: {why}",
                        job.route, job.origin
                    ));
                    None
                }
            };
            let shadow = answer.as_ref().map(|(s, l, b)| (*s, *l, b.as_ref()));
            report::shadow(
                &env,
                &job.route,
                &job.origin,
                p_status,
                p_latency,
                primary_body,
                shadow,
                job.compare.as_ref(),
                job.epoch,
            )
            .await;
        }
    });
    futures_util::future::join_all(futures).await;
}
