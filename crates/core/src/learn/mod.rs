//! The learning loop of a route, as its Durable Object runs it, without the Durable Object:
//! - `learner.rs`: what the object knows ([`Learner`]), reports and credits, the evidence a
//!   bandit learns from; `health.rs`: the arms' recent health ([`HealthTrack`]); `tick.rs`:
//!   the tick (health judgement, weights, sequential tests, controller step); `operate.rs`:
//!   operator actions ([`Operation`]); `view.rs`: the statistics document;
//! - `controller.rs`: the canary and rolling controllers ([`next_step`]) and the one naming
//!   of a state change ([`transitions`]) for the timeline, the webhooks and the epoch;
//! - `experiment.rs`: the experiment counted per unit: the splits in force (epochs of the
//!   experiment, not the controller's epoch), unit rows, sequential tests, the stats
//!   document's `experiment` section ([`Epochs`]);
//! - `gates.rs`: a canary's release gates (shadow agreement, promotion test, pipeline);
//! - `store.rs`: the SQLite-shaped [`Store`] the state is kept in ([`MemStore`] for tests);
//! - `ledger.rs`: the receipt ledger and aggregate rows, shards, pruning ([`Durable`]);
//! - `series.rs`: the route's time series (minutes, events, canary share, weights);
//! - `decisions.rs`: the decision log's sampling, retention and export;
//! - `offline.rs`: off-policy evaluation of an allocation and an external trainer's status.

mod controller;
mod decisions;
mod experiment;
mod gates;
mod health;
mod learner;
mod ledger;
mod offline;
mod operate;
mod series;
mod store;
mod tick;
mod view;

pub use controller::{
    breach as guard_breach, next as next_step, transitions, ArmHealth, Step, Transition,
    DEFAULT_ROLLING_GUARD, EPOCH_KINDS, TRANSITION_KINDS,
};
pub use decisions::{
    cursor_of, draw_of, export_line, parse_cursor, LogSampler, EARLY_REWARD_KEEP_MS,
    EXPORT_PAGE_MAX, LOG_PRUNE_BATCH, LOG_RATE_PER_MINUTE, LOG_RETENTION_MS,
};
pub use experiment::{
    document as experiment_document, msprt_config, planned_weights, Epoch, Epochs, MemUnits,
    Retired, UnitRows, UnitWrite, EPOCH_IDLE_MS, MAX_EPOCHS, MAX_RETIRED, MAX_UNIT_ROWS,
};
pub use gates::{next as gated_step, pipeline, promote_verdict, shadow_verdict, GateDecision};
pub use health::{
    HealthTrack, DRAIN_ERROR_RATE, DRAIN_MIN_REQUESTS, DRAIN_SPAN_MS, HEALTH_MAX_ENTRIES,
    HEALTH_SPAN_MS, RECOVER_REQUESTS,
};
pub use learner::{
    arm_health, bandit_evidence, check_credit, check_reward, mean_stats, proportion, proportion_of,
    Evidence, FeedbackError, Learner, MAX_ABS_REWARD,
};
pub use ledger::{
    credit_shard, parse_object_name, receipt_expiry, shard_object_name, shard_of, Durable,
    RewardSums, MAX_SHARDS, META, PRUNE_BATCH as LEDGER_PRUNE_BATCH, SHARD_SEEN, SHARD_SEP, TOTAL,
    TOTAL_SHADOW, WINDOW, WINDOW_SHADOW,
};
pub use offline::{ope_document, parse_policy, trainer_status, PolicyError};
pub use operate::{OperateError, Operation};
pub use series::{
    bucket_of, canary_percent, events_between, parse_minute_key, CanaryPoint, Event, MinuteArm,
    Series, WeightPoint, BUCKET_MS, CANARY_PT, EVENT, KEEP_MINUTES, KINDS, MAX_DETAIL, MAX_EVENTS,
    MAX_NAMES_PER_MINUTE, MAX_POINTS, MINUTE, MINUTE_SHADOW, PRUNE_BATCH as SERIES_PRUNE_BATCH,
    WEIGHT_MOVE, WEIGHT_POINT_MS, WEIGHT_PT,
};
pub use store::{
    ApplyError, LoggedDecision, MemStore, Store, StoreError, UnitKey, Warnings, Write,
};
pub use tick::TickOutput;
