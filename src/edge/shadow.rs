//! Mirrored requests, fired inside `ctx.wait_until`: they run after the primary response is
//! on its way and can never change its status, body or latency.

use crate::edge::forward::{self, Body, Failure};
use crate::edge::state;

/// One mirrored request, owning everything it needs (it outlives the handler).
pub struct ShadowJob {
    pub route: String,
    pub origin: String,
    pub url: String,
    pub method: String,
    pub headers: Vec<(String, String)>,
    pub body: Body,
    pub timeout_ms: u32,
    pub compare: Option<serde_json::Value>,
}

/// What the primary answered, for comparison.
pub struct Primary {
    pub status: u16,
    pub latency_ms: u32,
    pub body: Option<worker::Response>,
}

/// Sends every job concurrently and reports what came back.
pub async fn run(jobs: Vec<ShadowJob>, primary: Primary) {
    let mut primary = primary;
    let primary_body = match primary.body.as_mut() {
        Some(r) => r.bytes().await.ok(),
        None => None,
    };
    let futures = jobs.into_iter().map(|job| {
        let primary_body = primary_body.clone();
        let primary_status = primary.status;
        let primary_latency = primary.latency_ms;
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
            let outcome = match result {
                Ok(mut resp) => {
                    let status = resp.status_code();
                    let body = if job.compare.is_some() {
                        resp.bytes().await.ok()
                    } else {
                        // Drain so the connection is released.
                        let _ = resp.bytes().await;
                        None
                    };
                    crate::edge::report::shadow(
                        &job.route,
                        &job.origin,
                        primary_status,
                        primary_latency,
                        primary_body.as_deref(),
                        Some((status, latency, body.as_deref())),
                        job.compare.as_ref(),
                    );
                    format!("{status}")
                }
                Err(Failure::Timeout) => {
                    crate::edge::report::shadow(
                        &job.route,
                        &job.origin,
                        primary_status,
                        primary_latency,
                        None,
                        None,
                        None,
                    );
                    "timeout".to_string()
                }
                Err(Failure::Connect(e)) => {
                    crate::edge::report::shadow(
                        &job.route,
                        &job.origin,
                        primary_status,
                        primary_latency,
                        None,
                        None,
                        None,
                    );
                    format!("error: {e}")
                }
            };
            worker::console_debug!(
                "switchyard: shadow {} -> {}: {} in {} ms",
                job.route,
                job.origin,
                outcome,
                latency
            );
        }
    });
    futures_util::future::join_all(futures).await;
}
