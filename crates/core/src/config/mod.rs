//! The routing config and what is stored beside it in KV.
//! - `model.rs`: config schema v1, its types ([`Config`], [`Route`], [`Strategy`], …), limits
//!   and the rules the request path shares (percent to ppm, path matching, route names);
//! - `validator.rs`: [`parse`], one walk of the JSON value, every problem with its JSON path
//!   (`path.rs`), with the field readers (`fields.rs`), the strategy block's walk
//!   (`strategy.rs`) and the duplicate-key scan (`dupkeys.rs`);
//! - `error.rs`: one validation problem ([`ConfigError`]);
//! - `gates.rs`: the walk of a canary's release gates ([`Gates`]: shadow gate, promotion
//!   gate);
//! - `alerts.rs`: the `alerts` block ([`Webhook`]); the events and payloads are in
//!   `crate::ops`;
//! - `schema.rs`: the JSON Schema of config v1 ([`config_schema`]), held to the validator by
//!   tests;
//! - `contract.rs`: the KV contract between the route's Durable Object and the edge: binding
//!   and key names, [`RouteState`], [`Weights`], [`apply_floor`].

mod alerts;
mod contract;
mod dupkeys;
mod error;
mod fields;
mod gates;
mod model;
mod path;
mod schema;
mod strategy;
mod validator;

pub use alerts::{
    secret_name_ok, webhook_allowed, Target as WebhookTarget, Webhook, EVENTS, MAX_URL_LEN,
    MAX_WEBHOOKS,
};
pub use contract::{
    apply_floor, probe_share, with_drains, RouteState, Weights, BINDING, CONFIG_KEY,
    RECEIPT_MAX_AGE_MS, RECEIPT_SECRET, STATS_BINDING,
};
pub use dupkeys::duplicate_keys;
pub use error::ConfigError;
pub use model::{
    path_matches, percent_to_ppm, percent_to_ppm_lenient, shadow_methods, AbGuard, AbGuardAction,
    Arm, Attr, BanditAlgorithm, CanaryStep, Config, DecisionLog, FeedbackAuth, Flag, Gates, Guard,
    Margin, Matcher, Op, Origin, OriginFlag, OriginId, PromoteGate, RewardFeedback, RewardRange,
    Route, Rule, Semver, Shadow, ShadowGate, Side, Strategy, Trainer, UnitSource,
    DEFAULT_EXPECTED_UNITS, DEFAULT_GATE_ALPHA, DEFAULT_GATE_MIN_REQUESTS, DEFAULT_GATE_MIRROR_PPM,
    DEFAULT_MARGIN_ERROR_RATE, DEFAULT_MARGIN_LATENCY_RATIO, DEFAULT_MAX_WEIGHT_AGE_S,
    DEFAULT_SHADOW_MAX_BODY, DEFAULT_SHADOW_TIMEOUT_MS, DEFAULT_TIMEOUT_MS, MAX_ABS_REWARD,
    MAX_CREDENTIALS, MAX_EXPECTED_UNITS, MAX_FEEDBACK_SHARDS, MAX_LOG_CONTEXT, MAX_MIN_REQUESTS,
    MAX_WEIGHT_AGE_S, MIN_EXPECTED_UNITS, SHADOW_METHODS, STAGE_LIVE, STAGE_SHADOW,
};
pub use schema::{config_schema, config_schema_text, SCHEMA_ID};
pub use validator::{parse, text_id};
