//! The arms' health. Every tick takes the per-arm deltas of requests and errors into a short
//! window ([`HealthTrack`], the last [`HEALTH_SPAN_MS`]). A bandit arm with at least
//! [`DRAIN_MIN_REQUESTS`] requests and an error rate of at least [`DRAIN_ERROR_RATE`] over
//! the last [`DRAIN_SPAN_MS`] is drained: the algorithm runs over the other arms, the floor
//! is lifted for it and it keeps a probe share (`statistics::probe_share`); after
//! [`RECOVER_REQUESTS`] consecutive probe requests without an error it rejoins the
//! algorithm with the evidence it has. An A/B route with a `guard` checks its arms over the
//! whole health window and, on a breach, stops the experiment or drains the arm (sticky
//! until an operator resumes).
//!
//! The tick's health judgement (drain, recovery, the A/B guard) is in `tick.rs`.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

/// Health window kept per arm.
pub const HEALTH_SPAN_MS: u64 = 60_000;

/// At most this many per-tick entries per arm (older ones are dropped first).
pub const HEALTH_MAX_ENTRIES: usize = 256;

/// A bandit arm is judged failing over this recent span...
pub const DRAIN_SPAN_MS: u64 = 5_000;

/// ...with at least this many requests...
pub const DRAIN_MIN_REQUESTS: u64 = 10;

/// ...at this error rate (5xx, timeouts, connection failures) or more.
pub const DRAIN_ERROR_RATE: f64 = 0.5;

/// A drained arm rejoins after this many consecutive probe requests without an error.
pub const RECOVER_REQUESTS: u64 = 5;

/// Recent health of one arm, from per-tick deltas of its counters.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct HealthTrack {
    /// Counters at the last tick.
    pub seen_requests: u64,
    pub seen_errors: u64,
    /// `(tick ms, requests, errors)` per tick with traffic, the last [`HEALTH_SPAN_MS`].
    pub recent: VecDeque<(u64, u64, u64)>,
    /// Drained since (bandit arms).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failing_since: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failing_reason: Option<String>,
    /// Requests without an error since the last error, while drained.
    pub ok_streak: u64,
}

impl HealthTrack {
    /// Takes the counters' delta since the last tick into the window; returns it.
    pub(super) fn observe(&mut self, requests: u64, errors: u64, now_ms: u64) -> (u64, u64) {
        let (dr, de) = if requests < self.seen_requests || errors < self.seen_errors {
            (requests, errors) // the aggregate was reset
        } else {
            (requests - self.seen_requests, errors - self.seen_errors)
        };
        self.seen_requests = requests;
        self.seen_errors = errors;
        if dr > 0 || de > 0 {
            self.recent.push_back((now_ms, dr, de));
        }
        while self
            .recent
            .front()
            .is_some_and(|e| e.0.saturating_add(HEALTH_SPAN_MS) < now_ms)
            || self.recent.len() > HEALTH_MAX_ENTRIES
        {
            self.recent.pop_front();
        }
        (dr, de)
    }

    /// Requests and errors over the last `span_ms`.
    pub fn recent_counts(&self, span_ms: u64, now_ms: u64) -> (u64, u64) {
        self.recent
            .iter()
            .filter(|e| e.0.saturating_add(span_ms) >= now_ms)
            .fold((0, 0), |(r, e), x| {
                (r.saturating_add(x.1), e.saturating_add(x.2))
            })
    }
}
