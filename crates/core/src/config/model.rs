//! Config schema v1: the validated types ([`Config`], [`Route`], [`Strategy`], ...), their
//! limits and defaults, and the rules they share with the request path (percent to parts per
//! million, segment-boundary path matching, route names).
//!
//! A [`Config`] exists only when validation (`validator.rs`) found no problem. Validated
//! types carry resolved origin indices, shares in parts per million and precomputed salts
//! and rendezvous keys, so strategies never re-check or re-hash names.

use crate::base::PPM;

/// `RouteState::stage` while the candidate only receives mirrored traffic.
pub const STAGE_SHADOW: &str = "shadow";
/// `RouteState::stage` once the shadow gate passed.
pub const STAGE_LIVE: &str = "live";

/// Default share of requests mirrored to the candidate while its shadow gate is pending.
pub const DEFAULT_GATE_MIRROR_PPM: u32 = 1_000_000;
/// Default promotion-gate margins: error rate (absolute) and latency ratio.
pub const DEFAULT_MARGIN_ERROR_RATE: f64 = 0.01;
pub const DEFAULT_MARGIN_LATENCY_RATIO: f64 = 1.2;
/// Default level of the promotion gate's tests.
pub const DEFAULT_GATE_ALPHA: f64 = 0.05;
/// Default requests each arm needs in the last step before the promotion gate judges.
pub const DEFAULT_GATE_MIN_REQUESTS: u64 = 100;

/// A canary's gates (at least one of the two).
#[derive(Debug, Clone, PartialEq)]
pub struct Gates {
    pub shadow: Option<ShadowGate>,
    pub promote: Option<PromoteGate>,
}

/// The candidate receives only mirrored traffic (a shadow of `mirror_ppm` of the requests,
/// compared by `compare`) until at least `min_observations` compared responses agree at
/// `min_agreement` or better.
#[derive(Debug, Clone, PartialEq)]
pub struct ShadowGate {
    pub min_observations: u64,
    /// In [0, 1]: the share of compared responses that agree (within the compare spec's
    /// tolerance, or equal after normalisation).
    pub min_agreement: f64,
    pub compare: crate::observe::Compare,
    pub mirror_ppm: u32,
    /// The candidate's origin name (its shadow counts are kept under it).
    pub origin: String,
}

/// On the last step, the candidate is promoted to 100 % once an always-valid one-sided test
/// shows it not worse than the stable arm by `margin` on every metric judged, and rolled
/// back once one shows it worse by more than the margin.
#[derive(Debug, Clone, PartialEq)]
pub struct PromoteGate {
    pub margin: Margin,
    pub alpha: f64,
    pub min_requests: u64,
}

/// How much worse than the stable arm the candidate may be and still count as not worse.
#[derive(Debug, Clone, PartialEq)]
pub struct Margin {
    /// Absolute: candidate error rate − stable error rate.
    pub error_rate: f64,
    /// Ratio of geometric-mean latencies, candidate / stable (> 1).
    pub latency_ratio: f64,
    /// Absolute: stable mean reward − candidate mean reward; judged only when set and rewards
    /// arrive.
    pub reward: Option<f64>,
}

impl Default for Margin {
    fn default() -> Self {
        Margin {
            error_rate: DEFAULT_MARGIN_ERROR_RATE,
            latency_ratio: DEFAULT_MARGIN_LATENCY_RATIO,
            reward: None,
        }
    }
}

/// Index into [`Config::origins`]; only validation creates one, so it is always in range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct OriginId(pub(crate) u16);

impl OriginId {
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Origin {
    pub name: String,
    /// `scheme://authority[/base-path]`, no trailing slash, no query: forwarded paths are
    /// appended to it, so a request can never change the authority.
    pub base: String,
    pub timeout_ms: u32,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Matcher {
    /// Lower-case host without port; `None` matches any host.
    pub host: Option<String>,
    /// Starts with `/`; matches on a segment boundary.
    pub path_prefix: String,
    /// Upper-case methods; `None` matches any method.
    pub methods: Option<Vec<String>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UnitSource {
    /// Lower-case header name.
    Header(String),
    Cookie(String),
    Query(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Arm {
    pub name: String,
    pub origin: OriginId,
    pub weight: f64,
    pub key: u64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct CanaryStep {
    pub percent_ppm: u32,
    pub hold_s: u32,
}

/// Health limits of a canary, rolling or A/B guard: what the controller judges a side by.
#[derive(Debug, Clone, PartialEq)]
pub struct Guard {
    pub max_error_rate: Option<f64>,
    pub max_p95_latency_ratio: Option<f64>,
    pub min_requests: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attr {
    Header(String),
    Cookie(String),
    Query(String),
    Country,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Op {
    Eq(String),
    In(Vec<String>),
    Prefix(Vec<String>),
    SemverGte(Semver),
}

/// `major.minor.patch`, missing parts are 0; pre-release/build suffixes are ignored; each
/// part is 1-19 digits; surrounding whitespace (Unicode `White_Space`) is ignored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Semver(pub u64, pub u64, pub u64);

impl Semver {
    pub fn parse(s: &str) -> Option<Semver> {
        let s = s.trim().trim_start_matches(['v', 'V']);
        let core = s.split(['-', '+']).next()?;
        let mut parts = core.split('.');
        let mut next = |required: bool| -> Option<u64> {
            match parts.next() {
                // At most 19 digits: every such number fits a u64.
                Some(p) if (1..=19).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_digit()) => {
                    p.parse().ok()
                }
                None if !required => Some(0),
                _ => None,
            }
        };
        let v = Semver(next(true)?, next(false)?, next(false)?);
        if parts.next().is_some() {
            return None;
        }
        Some(v)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    pub attr: Attr,
    pub op: Op,
}

/// A flag: on for a unit when all rules match and the unit is inside `rollout_ppm`.
#[derive(Debug, Clone, PartialEq)]
pub struct Flag {
    pub name: String,
    pub rollout_ppm: u32,
    pub rules: Vec<Rule>,
    /// `<route>:flag:<name>`.
    pub salt: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct OriginFlag {
    pub flag: Flag,
    pub origin: OriginId,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Blue,
    Green,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BanditAlgorithm {
    Thompson,
    Ucb1,
    EpsilonGreedy,
}

/// What an A/B route's health guard does when an arm breaches it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AbGuardAction {
    /// Stop the experiment: every unit goes to the control arm (the first one).
    Stop,
    /// Take only the breaching arm out of the split; the others keep their weights.
    Drain,
}

/// Opt-in health guard of an A/B route (`strategy.guard`, with `action`).
#[derive(Debug, Clone, PartialEq)]
pub struct AbGuard {
    pub guard: Guard,
    pub action: AbGuardAction,
}

/// How a bandit reads feedback (`strategy.feedback`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RewardFeedback {
    /// `conversion` while every reward so far was 0 or 1, `explicit` once any was not.
    #[default]
    Auto,
    /// Clients report successes only: a routed request without feedback is a 0.
    Conversion,
    /// Every reward is reported: only rewards that arrived count (missing feedback is
    /// missing, not 0).
    Explicit,
}

/// Who writes a bandit's `weights:<route>` (`strategy.trainer`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Trainer {
    /// The route's learner (Thompson sampling, UCB1 or epsilon-greedy on the feedback).
    #[default]
    Learner,
    /// A trainer outside Switchyard: the learner never writes the weights; the edge follows
    /// what the trainer wrote, and falls back to equal shares once they are older than
    /// `max_weight_age_s`.
    External,
}

/// Default `max_weight_age_s` of an external trainer's weights: one hour.
pub const DEFAULT_MAX_WEIGHT_AGE_S: u32 = 3_600;
/// Largest `max_weight_age_s`: 30 days.
pub const MAX_WEIGHT_AGE_S: u64 = 30 * 86_400;

/// Largest reward magnitude any route may accept (`reward.min`, `reward.max` within
/// `[-MAX_ABS_REWARD, MAX_ABS_REWARD]`). With it a reward's square is at most 1e12 and a sum of
/// squares stays finite for more than 1e296 rewards, so stored aggregates can never overflow
/// to infinity (which JSON cannot hold).
pub const MAX_ABS_REWARD: f64 = 1e6;

/// The rewards a route accepts (`reward`: `{"min", "max"}`, default `[0, 1]`): feedback
/// outside the range is refused and its receipt stays unspent, so one client cannot outweigh
/// thousands of honest 0/1 rewards with one huge value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RewardRange {
    pub min: f64,
    pub max: f64,
}

impl Default for RewardRange {
    fn default() -> Self {
        Self { min: 0.0, max: 1.0 }
    }
}

impl RewardRange {
    pub fn contains(&self, r: f64) -> bool {
        r.is_finite() && r >= self.min && r <= self.max
    }
}

/// Who may send feedback for a route (`feedback_auth`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FeedbackAuth {
    /// The receipt alone (it proves the response was served, not who reports the reward).
    #[default]
    Receipt,
    /// The receipt plus an operator token of role `feedback` or higher: rewards can come
    /// only from the team's backend, never from the end user who holds the receipt.
    Token,
}

/// Most context attributes a route may log per decision (`log.context`).
pub const MAX_LOG_CONTEXT: usize = 8;

/// What the decision log records for a route (`log`).
#[derive(Debug, Clone, PartialEq)]
pub struct DecisionLog {
    /// Whether decisions are logged at all (`log.decisions`, default true).
    pub decisions: bool,
    /// Request attributes logged with each decision, as declared (`header:x-country`) and
    /// parsed; at most [`MAX_LOG_CONTEXT`].
    pub context: Vec<(String, Attr)>,
}

impl Default for DecisionLog {
    fn default() -> Self {
        Self {
            decisions: true,
            context: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Strategy {
    Ab {
        arms: Vec<Arm>,
        guard: Option<AbGuard>,
    },
    Canary {
        stable: OriginId,
        canary: OriginId,
        percent_ppm: u32,
        steps: Vec<CanaryStep>,
        guard: Option<Guard>,
        /// Release gates (`gates`): a shadow stage before the first step, a promotion test
        /// on the last one ([`Gates`]).
        gates: Option<Box<Gates>>,
    },
    Flag {
        default: OriginId,
        flags: Vec<OriginFlag>,
    },
    BlueGreen {
        blue: OriginId,
        green: OriginId,
        active: Side,
        failover: bool,
        preview_header: Option<String>,
    },
    Rolling {
        from: OriginId,
        to: OriginId,
        batches: u32,
        completed: u32,
        /// When set, the controller completes one more batch every `interval_s` while the
        /// guard holds.
        interval_s: Option<u32>,
        guard: Option<Guard>,
    },
    Recreate {
        origin: OriginId,
        health_path: Option<String>,
    },
    Bandit {
        arms: Vec<Arm>,
        algorithm: BanditAlgorithm,
        epsilon: f64,
        min_share: f64,
        min_samples: u64,
        sticky: bool,
        feedback: RewardFeedback,
        /// Who writes `weights:<route>`.
        trainer: Trainer,
        /// Weights older than this (by their `updated_ms`) are not followed: equal shares
        /// instead, and a `weights_stale` alert (external trainers only).
        max_weight_age_s: u32,
    },
}

impl Strategy {
    pub fn kind(&self) -> &'static str {
        match self {
            Strategy::Ab { .. } => "ab",
            Strategy::Canary { .. } => "canary",
            Strategy::Flag { .. } => "flag",
            Strategy::BlueGreen { .. } => "blue_green",
            Strategy::Rolling { .. } => "rolling",
            Strategy::Recreate { .. } => "recreate",
            Strategy::Bandit { .. } => "bandit",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Shadow {
    pub origin: OriginId,
    pub percent_ppm: u32,
    /// The methods mirrored (upper case, never empty, only [`SHADOW_METHODS`]): the shadow's
    /// own `methods`, else the route's match methods among [`SHADOW_METHODS`], else GET and
    /// POST ([`shadow_methods`]).
    pub methods: Vec<String>,
    /// `forward_credentials`: the shadow also gets `Authorization`, `Cookie`,
    /// `Proxy-Authorization` and the route's `credentials` headers (default false).
    pub forward_credentials: bool,
    pub max_body_bytes: u64,
    pub timeout_ms: u32,
    /// How to compare the shadow's answer with the primary's, if at all.
    pub compare: Option<crate::observe::Compare>,
    /// `<route>:shadow:<origin>`.
    pub salt: String,
    /// The mirror of a canary's shadow gate: fired only while the route is in its shadow
    /// stage (`crate::routing::in_shadow_stage`).
    pub gate: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Route {
    pub name: String,
    pub matcher: Matcher,
    pub strip_prefix: Option<String>,
    pub unit: Vec<UnitSource>,
    pub strategy: Strategy,
    pub shadows: Vec<Shadow>,
    pub flags: Vec<Flag>,
    /// `<route>:split[:<strategy salt>]`.
    pub split_salt: String,
    /// Hash of the route's strategy JSON: controller state written for another version of
    /// the strategy is ignored, so editing a route starts it fresh.
    pub fingerprint: String,
    /// Receipt ledger shards feedback is spread over (`feedback_shards`, 1..=64, default 1):
    /// shard 0 is the route's own object, the others are merged into it on its tick.
    pub feedback_shards: u32,
    /// Rewards accepted (`reward`, default `[0, 1]`).
    pub reward: RewardRange,
    /// Who may send feedback (`feedback_auth`, default the receipt alone).
    pub feedback_auth: FeedbackAuth,
    /// The decision log (`log`).
    pub log: DecisionLog,
    /// `credentials`: header names (lower case) the route's callers authenticate with,
    /// withheld from its shadows like `Authorization` and `Cookie`.
    pub credentials: Vec<String>,
    /// Units (all arms together) at which the always-valid test is tuned to be tightest
    /// (`experiment.expected_units`, default
    /// [`DEFAULT_EXPECTED_UNITS`]).
    pub expected_units: u64,
}

/// The only methods a shadow can be sent: RFC 9110's, without `CONNECT` and `TRACE`, plus
/// `PATCH`. Never a WebDAV verb (`PROPFIND`, `MKCOL`, `LOCK`, ...) or any other extension.
pub const SHADOW_METHODS: [&str; 7] = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];

/// The methods a shadow mirrors when it declares none: the route's match methods among
/// [`SHADOW_METHODS`] (`None`: the route matches any method), else GET and POST.
pub fn shadow_methods(route_methods: Option<&[String]>) -> Vec<String> {
    let own: Vec<String> = route_methods
        .unwrap_or_default()
        .iter()
        .filter(|m| SHADOW_METHODS.contains(&m.as_str()))
        .cloned()
        .collect();
    if own.is_empty() {
        vec!["GET".into(), "POST".into()]
    } else {
        own
    }
}

/// Most `credentials` names a route may list.
pub const MAX_CREDENTIALS: usize = 32;

/// Most ledger shards a route may have.
pub const MAX_FEEDBACK_SHARDS: u64 = 64;
/// Default of a route's `experiment.expected_units`: the number of units (all arms together)
/// at which the always-valid test is tuned to be tightest, as GrowthBook's default tuning
/// parameter.
pub const DEFAULT_EXPECTED_UNITS: u64 = 5_000;
/// Bounds of `experiment.expected_units`.
pub const MIN_EXPECTED_UNITS: u64 = 10;
pub const MAX_EXPECTED_UNITS: u64 = 1_000_000_000;

/// Largest `min_requests` of a guard.
pub const MAX_MIN_REQUESTS: u64 = 1_000_000_000;

#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Schema version (always 1).
    pub schema: u64,
    /// First 12 hex digits of SHA-256 of the config text: `x-switchyard-config`.
    pub id: String,
    pub default_origin: Option<OriginId>,
    pub origins: Vec<Origin>,
    pub routes: Vec<Route>,
    /// `$.alerts.webhooks` (`super::alerts`).
    pub alerts: Vec<super::alerts::Webhook>,
}

impl Config {
    pub fn origin(&self, id: OriginId) -> &Origin {
        &self.origins[id.index()]
    }

    pub fn route(&self, name: &str) -> Option<&Route> {
        self.routes.iter().find(|r| r.name == name)
    }
}

pub const DEFAULT_TIMEOUT_MS: u32 = 10_000;
pub const DEFAULT_SHADOW_TIMEOUT_MS: u32 = 5_000;
pub const DEFAULT_SHADOW_MAX_BODY: u64 = 1 << 20;

/// Converts a percent (0–100, at most 4 decimals) to parts per million.
pub fn percent_to_ppm(p: f64) -> Option<u32> {
    if !p.is_finite() || !(0.0..=100.0).contains(&p) {
        return None;
    }
    let scaled = p * 10_000.0;
    let rounded = scaled.round();
    if (scaled - rounded).abs() > 1e-6 {
        return None;
    }
    Some((rounded as u32).min(PPM))
}

/// Segment-boundary prefix match: `/v1/fraud` matches `/v1/fraud` and `/v1/fraud/x`, not
/// `/v1/fraudster`. A prefix ending in `/` matches anything below it.
pub fn path_matches(prefix: &str, path: &str) -> bool {
    if prefix == "/" {
        return true;
    }
    match path.strip_prefix(prefix) {
        Some(rest) => rest.is_empty() || prefix.ends_with('/') || rest.starts_with('/'),
        None => false,
    }
}

/// Percent to parts per million for values written by the controller: clamped to 0–100 and
/// rounded, `None` only when not a number.
pub fn percent_to_ppm_lenient(p: f64) -> Option<u32> {
    if p.is_nan() {
        return None;
    }
    Some((p.clamp(0.0, 100.0) * 10_000.0).round() as u32)
}
