//! The seven strategies, each a pure function of (config, unit hash, request, state), one
//! module each with the same shape: `choose(<its config>, &mut Cx) -> Choice`. Adding a
//! strategy is one module here, one arm in [`choose`] and its part of the config schema.
//!
//! Every strategy hashes the unit once under the route's split salt; flags and shadows use
//! their own salts (see [`crate::base`]), so the decisions are independent.

mod ab;
mod bandit;
mod blue_green;
mod canary;
mod flag;
mod recreate;
mod rolling;

use crate::base::Rng;
use crate::config::{BanditAlgorithm, OriginId, Route, Strategy};
use crate::routing::{Headers, RequestView};
use crate::routing::{Layout, Reason};

use crate::config::RouteState;
pub use flag::flag_on;

/// The split in force for `route` under `state`, in ppm, as the edge routes by it: the
/// canary's share (0 once rolled back), for an A/B route `PPM` while every arm is in the
/// split and 0 once the health guard drained one, else 0. Observations carry it so that the
/// sample-ratio check only compares counts made under one split.
pub fn split_ppm(route: &Route, state: Option<&RouteState>) -> u32 {
    let state = state.filter(|s| s.fingerprint == route.fingerprint);
    match &route.strategy {
        Strategy::Canary { .. } if in_shadow_stage(route, state) => 0,
        Strategy::Canary { percent_ppm, .. } => match state {
            Some(s) if s.rolled_back => 0,
            Some(s) => s
                .canary_percent
                .and_then(crate::config::percent_to_ppm_lenient)
                .unwrap_or(*percent_ppm),
            None => *percent_ppm,
        },
        Strategy::Ab { .. } => match state {
            Some(s) if !s.drained.is_empty() => 0,
            _ => crate::base::PPM,
        },
        _ => 0,
    }
}

/// Whether the edge reads `state:<route>` for this route: the strategies a controller or a
/// health guard steers (canary, rolling, A/B with a guard). Observations of these routes
/// carry the state's controller epoch ([`RouteState::epoch`]).
pub fn reads_state(route: &Route) -> bool {
    matches!(
        route.strategy,
        Strategy::Canary { .. } | Strategy::Rolling { .. } | Strategy::Ab { guard: Some(_), .. }
    )
}

/// Whether `state` keeps the route's candidate in its shadow stage: a canary with a shadow
/// gate whose state (of this strategy version) is absent or says `shadow` and is not rolled
/// back. The edge then routes no live request to the candidate and mirrors to it.
pub fn in_shadow_stage(route: &Route, state: Option<&RouteState>) -> bool {
    let Strategy::Canary { gates: Some(g), .. } = &route.strategy else {
        return false;
    };
    if g.shadow.is_none() {
        return false;
    }
    match state.filter(|s| s.fingerprint == route.fingerprint) {
        None => true,
        Some(s) => s.stage.as_deref() == Some(crate::config::STAGE_SHADOW) && !s.rolled_back,
    }
}

/// What a strategy chose.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Choice<'c> {
    pub arm: &'c str,
    pub origin: OriginId,
    pub failover: Option<(&'c str, OriginId)>,
    pub reason: Reason,
}

/// Inputs that come from KV rather than from the config.
#[derive(Debug, Clone, Copy, Default)]
pub struct Inputs<'a> {
    /// Resolved bandit weights, aligned with the route's arms.
    pub weights: Option<&'a [f64]>,
    pub state: Option<&'a RouteState>,
    /// Allocation layouts from KV (`layout:<route>` for A/B, the `layout` of
    /// `weights:<route>` for a bandit); a strategy uses the first that fits its weights.
    pub layouts: &'a [Layout],
}

/// What every strategy sees besides its own config: the unit's split hash, the unit, the
/// request, the controller state for this route (already checked against its fingerprint),
/// the bandit weights, the allocation layouts and the random source.
pub struct Cx<'a, 'r, H: ?Sized, R> {
    pub h: u64,
    pub unit: &'a str,
    pub req: &'a RequestView<'r, H>,
    pub state: Option<&'a RouteState>,
    pub weights: Option<&'a [f64]>,
    pub layouts: &'a [Layout],
    pub rng: &'a mut R,
}

impl<'c> Choice<'c> {
    fn pick(arm: &'c str, origin: OriginId, reason: Reason) -> Self {
        Choice {
            arm,
            origin,
            failover: None,
            reason,
        }
    }
}

/// Runs the route's strategy for a unit whose split hash is `h`.
pub fn choose<'c, H: Headers + ?Sized, R: Rng>(
    route: &'c Route,
    h: u64,
    unit: &str,
    req: &RequestView<'_, H>,
    inputs: Inputs<'_>,
    rng: &mut R,
) -> Choice<'c> {
    let mut cx = Cx {
        h,
        unit,
        req,
        state: inputs.state.filter(|s| s.fingerprint == route.fingerprint),
        weights: inputs.weights,
        layouts: inputs.layouts,
        rng,
    };
    match &route.strategy {
        Strategy::Ab { arms, .. } => ab::choose(arms, &mut cx),
        Strategy::Canary {
            stable,
            canary,
            percent_ppm,
            ..
        } => {
            let shadow_stage = in_shadow_stage(route, cx.state);
            canary::choose(*stable, *canary, *percent_ppm, shadow_stage, &mut cx)
        }
        Strategy::Flag { default, flags } => flag::choose(*default, flags, &mut cx),
        Strategy::BlueGreen {
            blue,
            green,
            active,
            failover,
            preview_header,
        } => blue_green::choose(
            *blue,
            *green,
            *active,
            *failover,
            preview_header.as_deref(),
            &mut cx,
        ),
        Strategy::Rolling {
            from,
            to,
            batches,
            completed,
            ..
        } => rolling::choose(*from, *to, *batches, *completed, &mut cx),
        Strategy::Recreate { origin, .. } => recreate::choose(*origin, &mut cx),
        Strategy::Bandit { arms, sticky, .. } => bandit::choose(arms, *sticky, &mut cx),
    }
}

/// Bandit algorithm name as configured.
pub fn algorithm_name(a: BanditAlgorithm) -> &'static str {
    match a {
        BanditAlgorithm::Thompson => "thompson",
        BanditAlgorithm::Ucb1 => "ucb1",
        BanditAlgorithm::EpsilonGreedy => "epsilon_greedy",
    }
}
