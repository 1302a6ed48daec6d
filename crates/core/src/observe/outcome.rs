//! One routed request as the edge saw it ([`Observation`]), how it ended ([`Outcome`],
//! classified from the origin's status), and the request counters ([`OutcomeCounts`])
//! shared by batches and aggregates.

use super::ratio;
use serde::{Deserialize, Serialize};

/// How a routed request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The origin answered with a status below 500.
    Ok,
    Error5xx,
    Timeout,
    ConnectError,
}

impl Outcome {
    /// `Error5xx` for 500..=599, else `Ok`.
    pub fn from_status(status: u16) -> Self {
        if (500..600).contains(&status) {
            Outcome::Error5xx
        } else {
            Outcome::Ok
        }
    }
}

/// One routed request, as the edge saw it. Borrows the names: building one costs nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Observation<'a> {
    pub route: &'a str,
    pub arm: &'a str,
    pub outcome: Outcome,
    /// 0 when there was no response (timeout, connection error).
    pub status: u16,
    pub latency_ms: u32,
    /// The route's strategy fingerprint the edge routed under.
    pub fingerprint: &'a str,
    /// The split in force, in ppm (`core::routing::split_ppm`).
    pub split_ppm: u32,
    /// The arm's propensity in ppm (`core::routing::Decision::propensity`); `None` for a
    /// request that is no draw of the policy (failed over to the other side).
    pub propensity_ppm: Option<u32>,
    /// The unit's 64-bit key (the receipt's keyed unit id, read as a big-endian integer):
    /// exposure is counted per unit. `None` where no experiment is analysed (flag,
    /// blue-green, rolling and recreate routes).
    pub unit: Option<u64>,
    /// The controller epoch of the route state the edge routed under (`RouteState::epoch`;
    /// 0 while it has none), for routes whose state it reads; `None` for the others.
    pub epoch: Option<u64>,
}

/// Request outcome counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct OutcomeCounts {
    pub requests: u64,
    pub errors_5xx: u64,
    pub timeouts: u64,
    pub connect_errors: u64,
}

impl OutcomeCounts {
    #[inline]
    pub(super) fn record(&mut self, o: Outcome) {
        self.requests = self.requests.saturating_add(1);
        match o {
            Outcome::Ok => {}
            Outcome::Error5xx => self.errors_5xx = self.errors_5xx.saturating_add(1),
            Outcome::Timeout => self.timeouts = self.timeouts.saturating_add(1),
            Outcome::ConnectError => self.connect_errors = self.connect_errors.saturating_add(1),
        }
    }

    pub(super) fn merge(&mut self, o: &OutcomeCounts) {
        self.requests = self.requests.saturating_add(o.requests);
        self.errors_5xx = self.errors_5xx.saturating_add(o.errors_5xx);
        self.timeouts = self.timeouts.saturating_add(o.timeouts);
        self.connect_errors = self.connect_errors.saturating_add(o.connect_errors);
    }

    /// 5xx + timeouts + connection errors.
    pub fn errors(&self) -> u64 {
        self.errors_5xx
            .saturating_add(self.timeouts)
            .saturating_add(self.connect_errors)
    }

    /// `errors / requests`, `None` without requests.
    pub fn error_rate(&self) -> Option<f64> {
        ratio(self.errors(), self.requests)
    }
}
