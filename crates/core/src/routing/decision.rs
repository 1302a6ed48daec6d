//! The outcome of routing one request: which arm answers, which origins are mirrored and
//! which flags are on. Sets are bitmasks over the route's lists, so a decision allocates
//! nothing.

use crate::config::{OriginId, Route};

/// Why the strategy chose what it chose; shown in logs and the `x-switchyard-reason` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    Split,
    CanaryIn,
    CanaryOut,
    RolledBack,
    /// A canary's shadow gate is pending: stable answers, the candidate is mirrored.
    ShadowGate,
    FlagOn,
    FlagDefault,
    Active,
    Preview,
    BatchMoved,
    BatchPending,
    Recreate,
    BanditSticky,
    BanditSampled,
    BanditWarmup,
    /// A valid `x-switchyard-override` token chose the arm.
    Forced,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Split => "split",
            Reason::CanaryIn => "canary",
            Reason::CanaryOut => "stable",
            Reason::RolledBack => "rolled_back",
            Reason::ShadowGate => "shadow_gate",
            Reason::FlagOn => "flag_on",
            Reason::FlagDefault => "flag_default",
            Reason::Active => "active",
            Reason::Preview => "preview",
            Reason::BatchMoved => "batch_moved",
            Reason::BatchPending => "batch_pending",
            Reason::Recreate => "recreate",
            Reason::BanditSticky => "bandit_sticky",
            Reason::BanditSampled => "bandit_sampled",
            Reason::BanditWarmup => "bandit_equal",
            Reason::Forced => "forced",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Decision<'c> {
    /// Index into `Config::routes`.
    pub route: usize,
    /// Arm name as reported in `x-switchyard-arm` and in statistics.
    pub arm: &'c str,
    pub origin: OriginId,
    /// Where to retry once on a connection error or 5xx (blue-green `failover`).
    pub failover: Option<(&'c str, OriginId)>,
    /// Bit `i` set: mirror to `route.shadows[i]`.
    pub shadows: u32,
    /// Bit `i` set: `route.flags[i]` is on.
    pub flags: u64,
    pub reason: Reason,
    /// The unit's split hash (`h(split salt, unit)`): names the unit in receipts without
    /// revealing it, and costs nothing extra.
    pub unit_hash: u64,
    /// The probability the policy in force gave `arm` (see [`crate::routing::Choice`]);
    /// `None` for a forced request (a preview header here, an override token at the edge),
    /// which is no draw of the policy and stays out of off-policy evaluation.
    pub propensity: Option<f64>,
}

/// A propensity in parts per million, as receipts, observations and the decision log carry
/// it: rounded to the nearest ppm, at least 1 (the chosen arm had a chance) and at most
/// 1,000,000. `None` for a value that is not a probability.
pub fn propensity_ppm(p: f64) -> Option<u32> {
    if !(p > 0.0 && p <= 1.0 + 1e-9) {
        return None;
    }
    Some(((p * 1e6).round() as u32).clamp(1, crate::base::PPM))
}

impl Decision<'_> {
    /// [`Decision::propensity`] in ppm ([`propensity_ppm`]).
    pub fn propensity_ppm(&self) -> Option<u32> {
        self.propensity.and_then(propensity_ppm)
    }

    /// Indices of the shadows to fire.
    pub fn shadow_indices(&self) -> impl Iterator<Item = usize> + '_ {
        (0..32).filter(move |i| self.shadows & (1 << i) != 0)
    }

    /// `x-switchyard-flags` value: `explain=on, other=off`; `None` when the route has none.
    pub fn flags_header(&self, route: &Route) -> Option<String> {
        if route.flags.is_empty() {
            return None;
        }
        let mut out = String::with_capacity(route.flags.len() * 16);
        for (i, f) in route.flags.iter().enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            out.push_str(&f.name);
            out.push_str(if self.flags & (1 << i) != 0 {
                "=on"
            } else {
                "=off"
            });
        }
        Some(out)
    }
}
