//! The validator's walk of a canary's `gates` (the types are in `model.rs`: [`Gates`]): a
//! **shadow gate** the candidate passes on mirrored traffic before it gets live traffic, and a
//! **promotion gate** on the last step that promotes it only when it is shown not worse than
//! the stable arm.
//!
//! ```json
//! "gates": {
//!   "shadow":  { "min_observations": 200, "min_agreement": 0.95,
//!                "compare": { "kind": "kserve_v2", "tolerance": 1e-6 }, "percent": 100 },
//!   "promote": { "margin": { "error_rate": 0.01, "latency_ratio": 1.2, "reward": 0.02 },
//!                "alpha": 0.05, "min_requests": 100 }
//! }
//! ```
//!
//! The decisions are `crate::learn` (gates); the edge only reads whether the route is in its
//! shadow stage (`RouteState::stage`).

use serde_json::Value;

use super::fields::Validator;
use super::model::{
    shadow_methods, Gates, Margin, OriginId, PromoteGate, Shadow, ShadowGate, DEFAULT_GATE_ALPHA,
    DEFAULT_GATE_MIN_REQUESTS, DEFAULT_GATE_MIRROR_PPM, DEFAULT_MARGIN_ERROR_RATE,
    DEFAULT_MARGIN_LATENCY_RATIO, DEFAULT_SHADOW_MAX_BODY, DEFAULT_SHADOW_TIMEOUT_MS,
};
use super::path::Path;

impl Validator {
    /// A canary's `gates`; `canary`: the candidate's origin, when valid.
    pub(super) fn gates(
        &mut self,
        at: &Path,
        v: &Value,
        canary: Option<OriginId>,
    ) -> Option<Box<Gates>> {
        let f = self.object(at, v, "shadow, promote")?;
        let shadow = self.opt(f, "shadow", |me, at, v| me.shadow_gate(at, v, canary));
        let promote = self.opt(f, "promote", Self::promote_gate);
        let (shadow, promote) = (shadow?, promote?);
        if shadow.is_none() && promote.is_none() {
            return self.fail(at, "expected at least one of: shadow, promote");
        }
        Some(Box::new(Gates { shadow, promote }))
    }

    fn shadow_gate(
        &mut self,
        at: &Path,
        v: &Value,
        canary: Option<OriginId>,
    ) -> Option<ShadowGate> {
        let f = self.object(at, v, "min_observations, min_agreement, compare, percent")?;
        let min_observations = self
            .req_uint(f, "min_observations", 1_000_000_000)
            .filter(|n| self.check(*n >= 1, &at.key("min_observations"), "must be at least 1"));
        let min_agreement = self.req(f, "min_agreement").and_then(|v| {
            let p = at.key("min_agreement");
            let n = self.number(&p, v)?;
            self.check((0.0..=1.0).contains(&n), &p, "must be within 0 and 1")
                .then_some(n)
        });
        let compare = self
            .req(f, "compare")
            .and_then(|c| self.compare_spec(&at.key("compare"), c));
        let mirror_ppm = self
            .opt_percent(f, "percent", DEFAULT_GATE_MIRROR_PPM)
            .filter(|p| self.check(*p > 0, &at.key("percent"), "must be above 0"));
        Some(ShadowGate {
            min_observations: min_observations?,
            min_agreement: min_agreement?,
            compare: compare?,
            mirror_ppm: mirror_ppm?,
            origin: self.origin_names[canary?.index()].clone(),
        })
    }

    fn promote_gate(&mut self, at: &Path, v: &Value) -> Option<PromoteGate> {
        let f = self.object(at, v, "margin, alpha, min_requests")?;
        let margin = self.opt(f, "margin", Self::margin);
        let alpha = self.opt_ranged(
            f,
            "alpha",
            (0.0, 0.5, true),
            "must be above 0 and at most 0.5",
        );
        let min_requests = self
            .opt_uint(f, "min_requests", 1_000_000_000, DEFAULT_GATE_MIN_REQUESTS)
            .filter(|n| self.check(*n >= 2, &at.key("min_requests"), "must be at least 2"));
        Some(PromoteGate {
            margin: margin?.unwrap_or_default(),
            alpha: alpha?.unwrap_or(DEFAULT_GATE_ALPHA),
            min_requests: min_requests?,
        })
    }

    fn margin(&mut self, at: &Path, v: &Value) -> Option<Margin> {
        let f = self.object(at, v, "error_rate, latency_ratio, reward")?;
        let error_rate = self.opt_ranged(
            f,
            "error_rate",
            (0.0, 1.0, true),
            "must be above 0 and at most 1",
        );
        let latency_ratio = self.opt_ranged(
            f,
            "latency_ratio",
            (1.0, 1_000.0, true),
            "must be above 1 and at most 1000",
        );
        let reward = self.opt_ranged(
            f,
            "reward",
            (0.0, 1e6, true),
            "must be above 0 and at most 1e6",
        );
        Some(Margin {
            error_rate: error_rate?.unwrap_or(DEFAULT_MARGIN_ERROR_RATE),
            latency_ratio: latency_ratio?.unwrap_or(DEFAULT_MARGIN_LATENCY_RATIO),
            reward: reward?,
        })
    }

    /// Adds the shadow gate's mirror to the route's shadows (marked `gate`: it fires only while
    /// the gate is pending); a shadow of the route's own already on that origin is an error at
    /// `at` (the route's `shadow` list).
    pub(super) fn gate_mirror(
        &mut self,
        at: &Path,
        shadows: &mut Vec<Shadow>,
        canary: OriginId,
        gate: &ShadowGate,
        route: &str,
        route_methods: Option<&[String]>,
    ) {
        if let Some(i) = shadows.iter().position(|s| s.origin == canary) {
            let reason = "the canary's shadow gate already mirrors requests to this origin";
            self.err(&at.at(i).key("origin"), reason);
            return;
        }
        shadows.push(Shadow {
            origin: canary,
            percent_ppm: gate.mirror_ppm,
            methods: shadow_methods(route_methods),
            forward_credentials: false,
            max_body_bytes: DEFAULT_SHADOW_MAX_BODY,
            timeout_ms: DEFAULT_SHADOW_TIMEOUT_MS,
            compare: Some(gate.compare.clone()),
            salt: format!("{route}:shadow:{}", gate.origin),
            gate: true,
        });
    }
}
