//! The request path: from a request and a config to a decision and a forwarding plan. The
//! router executes these on the runtime's objects; benchmarks and native tests call them
//! directly.
//! - `request.rs`: the request as routing sees it ([`Headers`], [`RequestView`]);
//! - `urlparts.rs`: the URL splitter ([`split_url`], no `url` crate);
//! - `engine.rs`: route match, unit id, [`decide`], forward URL, header rules, the
//!   staleness rule and the in-isolate [`ConfigCache`];
//! - `layout.rs`: allocation layouts that move exactly the units a weight change requires
//!   ([`Layout`]);
//! - `decision.rs`: what routing one request decided ([`Decision`], [`Reason`]);
//! - `strategy/`: one module per strategy behind [`choose`];
//! - `overrides.rs`: signed override tokens that force an arm ([`Override`]);
//! - `forward.rs`: the forwarding plan (header edits, body buffering, failover, which
//!   shadows take the body).

mod decision;
mod engine;
mod forward;
mod layout;
mod overrides;
mod request;
mod strategy;
mod urlparts;

pub use decision::{propensity_ppm, Decision, Reason};
pub use engine::{
    check_unit_id, connection_tokens, decide, forward_url, freshness, is_hop_by_hop, is_ours,
    log_context, match_route, new_unit_id, outgoing_headers, response_headers, unit_id,
    ConfigCache, Freshness, KvTimes, Refresh, Target, UnitIdError, MAX_UNIT_LEN, UNIT_COOKIE,
};
pub use forward::{
    body_plan, fail_over, outgoing as outgoing_edits, response as response_edits, shadow_headers,
    shadow_takes, take_second, Answer, BodyKind, BodyPlan, HeaderEdits, IncomingFacts,
    CREDENTIAL_HEADERS, MAX_REPLAY_BYTES, OUTGOING_READS,
};
pub use layout::{
    layouts_value, parse_layouts, pick as pick_layout, quantize, total_variation, Layout,
    KEPT as LAYOUTS_KEPT, SLOTS as LAYOUT_SLOTS,
};
pub use overrides::{
    arm_names as override_arm_names, arm_origin, resolve as resolve_override,
    sign as sign_override, verify as verify_override, Override, OverrideError,
    MAX_TTL_S as OVERRIDE_MAX_TTL_S, PREFIX as OVERRIDE_PREFIX,
};
pub use request::{percent_decode, Headers, RequestView};
pub use strategy::{
    algorithm_name, attr_value, choose, edge_weights, flag_on, in_shadow_stage, reads_state,
    split_ppm, weights_fresh, Choice, Cx, Inputs, MAX_WEIGHTS_SKEW_MS,
};
pub use urlparts::{split as split_url, UrlParts};
