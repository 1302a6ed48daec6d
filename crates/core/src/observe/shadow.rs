//! Shadow traffic: one comparison of a shadow origin's answer with the primary's
//! ([`ShadowObservation`], built from a [`compare`](crate::observe) [`Agreement`] or for a
//! failed shadow request), and the per-origin agreement counters ([`ShadowCounts`]).

use super::ratio;
use crate::observe::{Agreement, NotComparable, PayloadAgreement};
use serde::{Deserialize, Serialize};

/// One shadow comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ShadowObservation<'a> {
    pub route: &'a str,
    pub shadow_origin: &'a str,
    pub status_agree: bool,
    /// Shadow latency minus primary latency.
    pub latency_diff_ms: i32,
    /// `None` when the shadow has no `compare` spec.
    pub payload: Option<PayloadAgreement>,
}

impl<'a> ShadowObservation<'a> {
    pub fn from_agreement(
        route: &'a str,
        shadow_origin: &'a str,
        agreement: &Agreement,
        latency_diff_ms: i32,
    ) -> Self {
        Self {
            route,
            shadow_origin,
            status_agree: agreement.status_agree,
            latency_diff_ms,
            payload: Some(agreement.payload),
        }
    }

    /// The shadow request failed (timeout, connection error).
    pub fn failed(route: &'a str, shadow_origin: &'a str, latency_diff_ms: i32) -> Self {
        Self {
            route,
            shadow_origin,
            status_agree: false,
            latency_diff_ms,
            payload: Some(PayloadAgreement::NotComparable {
                reason: NotComparable::ShadowFailed,
            }),
        }
    }
}

/// Shadow comparison counters for one shadow origin.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ShadowCounts {
    /// Shadow requests observed (with or without a compare spec).
    pub observations: u64,
    pub status_agree: u64,
    /// Payloads compared (both parsed, field present).
    pub payload_compared: u64,
    pub payload_exact: u64,
    /// Within tolerance / normalised text equal (includes exact).
    pub payload_normalised: u64,
    /// Payload not comparable (non-2xx, unparseable, missing field, shadow failed, a body over
    /// the comparison cap).
    pub payload_not_comparable: u64,
    /// Of those: the shadow request itself failed.
    pub shadow_failed: u64,
    /// Of those: a body was longer than [`MAX_COMPARE_BYTES`](super::MAX_COMPARE_BYTES) (not read past it).
    pub body_too_large: u64,
    /// Sum of (shadow - primary) latency, ms.
    pub latency_diff_sum_ms: i64,
    /// Sum of |shadow - primary| latency, ms.
    pub latency_diff_abs_sum_ms: u64,
}

impl ShadowCounts {
    #[inline]
    pub(super) fn record(&mut self, o: &ShadowObservation<'_>) {
        self.observations = self.observations.saturating_add(1);
        self.status_agree = self.status_agree.saturating_add(u64::from(o.status_agree));
        match o.payload {
            None => {}
            Some(PayloadAgreement::Compared { exact, normalised }) => {
                self.payload_compared = self.payload_compared.saturating_add(1);
                self.payload_exact = self.payload_exact.saturating_add(u64::from(exact));
                self.payload_normalised = self
                    .payload_normalised
                    .saturating_add(u64::from(normalised || exact));
            }
            Some(PayloadAgreement::NotComparable { reason }) => {
                self.payload_not_comparable = self.payload_not_comparable.saturating_add(1);
                match reason {
                    NotComparable::ShadowFailed => {
                        self.shadow_failed = self.shadow_failed.saturating_add(1)
                    }
                    NotComparable::BodyTooLarge => {
                        self.body_too_large = self.body_too_large.saturating_add(1)
                    }
                    _ => {}
                }
            }
        }
        self.latency_diff_sum_ms = self
            .latency_diff_sum_ms
            .saturating_add(i64::from(o.latency_diff_ms));
        self.latency_diff_abs_sum_ms = self
            .latency_diff_abs_sum_ms
            .saturating_add(u64::from(o.latency_diff_ms.unsigned_abs()));
    }

    pub fn merge(&mut self, o: &ShadowCounts) {
        self.observations = self.observations.saturating_add(o.observations);
        self.status_agree = self.status_agree.saturating_add(o.status_agree);
        self.payload_compared = self.payload_compared.saturating_add(o.payload_compared);
        self.payload_exact = self.payload_exact.saturating_add(o.payload_exact);
        self.payload_normalised = self.payload_normalised.saturating_add(o.payload_normalised);
        self.payload_not_comparable = self
            .payload_not_comparable
            .saturating_add(o.payload_not_comparable);
        self.shadow_failed = self.shadow_failed.saturating_add(o.shadow_failed);
        self.body_too_large = self.body_too_large.saturating_add(o.body_too_large);
        self.latency_diff_sum_ms = self
            .latency_diff_sum_ms
            .saturating_add(o.latency_diff_sum_ms);
        self.latency_diff_abs_sum_ms = self
            .latency_diff_abs_sum_ms
            .saturating_add(o.latency_diff_abs_sum_ms);
    }

    /// Share of observations whose statuses agreed.
    pub fn status_agreement_rate(&self) -> Option<f64> {
        ratio(self.status_agree, self.observations)
    }
    /// Share of compared payloads that were identical.
    pub fn exact_agreement_rate(&self) -> Option<f64> {
        ratio(self.payload_exact, self.payload_compared)
    }
    /// Share of compared payloads within tolerance / normalised equal.
    pub fn normalised_agreement_rate(&self) -> Option<f64> {
        ratio(self.payload_normalised, self.payload_compared)
    }
    /// Mean of (shadow - primary) latency.
    pub fn mean_latency_diff_ms(&self) -> Option<f64> {
        (self.observations > 0).then(|| self.latency_diff_sum_ms as f64 / self.observations as f64)
    }
}
