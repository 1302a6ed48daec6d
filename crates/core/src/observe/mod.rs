//! What the edge observes (with the shadow-response comparison), how an isolate batches it, and what a route's Durable Object
//! aggregates.
//!
//! Hot path: the edge builds an [`Observation`] (borrowed names, no allocation) per routed
//! request and pushes it into its isolate's [`Batcher`]; `push` answers whether a flush is
//! due (by count or age). [`Batcher::drain`] returns a [`Batch`] that is already
//! pre-aggregated per (route, arm): counts, a [`LatencyHistogram`] and per-unit counts
//! ([`UnitCount`]: one entry per distinct unit, not per request), not raw events, so the JSON
//! body sent to the Durable Object stays small. [`Batch::split_by_route`] gives one
//! batch per route's object. The object keeps a [`RouteAggregate`] and folds batches in with
//! [`RouteAggregate::merge_batch`], rewards with [`RouteAggregate::credit_reward`].
//!
//! One file per concern, all re-exported here (the public paths are `observe::*`):
//! - `histogram.rs`: [`LatencyHistogram`], the log-scaled latency histogram and its sparse
//!   serde form;
//! - `outcome.rs`: what one routed request was ([`Observation`]), how it ended
//!   ([`Outcome`]) and the request counters ([`OutcomeCounts`]);
//! - `shadow.rs`: one shadow comparison ([`ShadowObservation`], built from a
//!   [`crate::observe::Agreement`]) and the shadow counters ([`ShadowCounts`]);
//! - `batch.rs`: the isolate's [`Batcher`] and the wire format it sends ([`Batch`],
//!   [`ArmBatch`], [`ShadowBatch`], [`OverrideBatch`]);
//! - `aggregate.rs`: the Durable Object's state ([`RouteAggregate`], [`ArmAggregate`]) and
//!   reward crediting ([`Reward`], [`RewardError`]);
//! - `compare.rs`: shadow-response comparison ([`Compare`], [`compare_with`]);
//! - `ope.rs`: what off-policy evaluation needs: per-arm sums over logged decisions and
//!   their rewards ([`OpeSums`]) and one logged decision ([`DecisionRow`]).

mod aggregate;
mod batch;
mod compare;
mod histogram;
mod ope;
mod outcome;
mod shadow;

pub use aggregate::{ArmAggregate, Reward, RewardError, RouteAggregate};
pub use batch::{
    ArmBatch, Batch, Batcher, OverrideBatch, OverrideTotals, ShadowBatch, UnitCount,
    MAX_PROPENSITIES, MAX_UNITS_PER_ARM,
};
pub use compare::{
    compare, compare_read, compare_with, normalise_text, normalise_text_with, values_agree,
    Agreement, BodyRead, Compare, CompareSpecError, Lowercase, NotComparable, PayloadAgreement,
    Side, DEFAULT_TOLERANCE, MAX_COMPARE_BYTES,
};
pub use histogram::{bucket_bounds, bucket_index, LatencyHistogram, NUM_BUCKETS};
pub use ope::{context_value, ppm_probability, DecisionRow, OpeSums, MAX_CONTEXT_VALUE};
pub use outcome::{Observation, Outcome, OutcomeCounts};
pub use shadow::{ShadowCounts, ShadowObservation};

/// `n / d`, `None` when `d` is 0 (the rates of the counters and the histogram's mean).
#[inline]
fn ratio(n: u64, d: u64) -> Option<f64> {
    (d > 0).then(|| n as f64 / d as f64)
}

/// Test helper: an observation of `route`/`arm` with status 200, fingerprint `f`, no split.
#[cfg(test)]
fn obs<'a>(route: &'a str, arm: &'a str, outcome: Outcome, ms: u32) -> Observation<'a> {
    Observation {
        route,
        arm,
        outcome,
        status: 200,
        latency_ms: ms,
        fingerprint: "f",
        split_ppm: 0,
        propensity_ppm: None,
        unit: Some(u64::from(ms)),
        epoch: None,
    }
}
