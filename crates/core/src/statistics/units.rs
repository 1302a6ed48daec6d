//! Unit-level bookkeeping: what one unit did in one arm ([`UnitRow`]) and an arm's running
//! sums over its units ([`UnitSums`]), kept incrementally: when a unit's row changes, its old
//! contribution is taken out and its new one put in, so reading an arm's figures is O(1)
//! whatever the number of units. Every statistic of an experiment comes from these sums:
//! per-unit conversion ([`UnitSums::conversion`]) and ratio metrics with delta-method
//! variances ([`UnitSums::reward_per_feedback`], [`UnitSums::errors_per_request`]).
//!
//! Counts are exact integers; squares and cross products are `f64` (exact below 2^53, e.g.
//! 10 million units of up to 30,000 requests each).

use serde::{Deserialize, Serialize};

use super::ab::{Proportion, RatioStats};

/// What one unit did in one arm under one split.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct UnitRow {
    pub requests: u64,
    /// 5xx, timeouts and connection failures.
    pub errors: u64,
    /// Rewards credited (feedback received).
    pub rewards: u64,
    /// Their sum.
    pub reward_sum: f64,
}

impl UnitRow {
    /// A unit converted when its rewards sum to more than 0 (with 0/1 rewards: at least one 1).
    pub fn converted(&self) -> bool {
        self.reward_sum > 0.0
    }
}

/// An arm's running sums over its units.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct UnitSums {
    /// Distinct units exposed.
    pub units: u64,
    pub requests: u64,
    pub requests_sq: f64,
    pub errors: u64,
    pub errors_sq: f64,
    pub errors_requests: f64,
    pub rewards: u64,
    pub rewards_sq: f64,
    pub reward_sum: f64,
    pub reward_sum_sq: f64,
    pub reward_sum_rewards: f64,
    /// Units whose rewards sum to more than 0.
    pub converted: u64,
    /// New units not counted because the route's unit rows were at their cap (their requests
    /// are in the arm's request totals, not here).
    pub refused: u64,
}

impl UnitSums {
    fn apply(&mut self, r: &UnitRow, sign: f64) {
        let add = |x: u64, d: u64| {
            if sign > 0.0 {
                x.saturating_add(d)
            } else {
                x.saturating_sub(d)
            }
        };
        let (n, e, k, y) = (
            r.requests as f64,
            r.errors as f64,
            r.rewards as f64,
            r.reward_sum,
        );
        self.units = add(self.units, 1);
        self.requests = add(self.requests, r.requests);
        self.requests_sq += sign * n * n;
        self.errors = add(self.errors, r.errors);
        self.errors_sq += sign * e * e;
        self.errors_requests += sign * e * n;
        self.rewards = add(self.rewards, r.rewards);
        self.rewards_sq += sign * k * k;
        self.reward_sum += sign * y;
        self.reward_sum_sq += sign * y * y;
        self.reward_sum_rewards += sign * y * k;
        self.converted = add(self.converted, u64::from(r.converted()));
    }

    /// A unit's row went from `old` (`None`: the unit is new) to `new`.
    pub fn update(&mut self, old: Option<&UnitRow>, new: &UnitRow) {
        if let Some(o) = old {
            self.apply(o, -1.0);
        }
        self.apply(new, 1.0);
        if self.units == 0 {
            // Nothing left: clear rounding residue of the float sums.
            *self = UnitSums {
                refused: self.refused,
                ..UnitSums::default()
            };
        }
    }

    /// Units exposed and units converted.
    pub fn conversion(&self) -> Proportion {
        Proportion::new(self.units, self.converted.min(self.units))
    }

    /// Mean reward per reward received (sum of rewards / rewards received) over units.
    pub fn reward_per_feedback(&self) -> RatioStats {
        RatioStats {
            units: self.units,
            num: self.reward_sum,
            den: self.rewards as f64,
            num_sq: self.reward_sum_sq,
            den_sq: self.rewards_sq,
            num_den: self.reward_sum_rewards,
        }
    }

    /// Error rate (errors / requests) over units.
    pub fn errors_per_request(&self) -> RatioStats {
        RatioStats {
            units: self.units,
            num: self.errors as f64,
            den: self.requests as f64,
            num_sq: self.errors_sq,
            den_sq: self.requests_sq,
            num_den: self.errors_requests,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(requests: u64, errors: u64, rewards: u64, reward_sum: f64) -> UnitRow {
        UnitRow {
            requests,
            errors,
            rewards,
            reward_sum,
        }
    }

    #[test]
    fn incremental_sums_equal_a_recount() {
        let rows = [
            row(1, 0, 0, 0.0),
            row(4, 1, 2, 1.0),
            row(9, 0, 1, 0.0),
            row(2, 2, 3, 2.5),
        ];
        let mut s = UnitSums::default();
        for r in &rows {
            s.update(None, r);
        }
        // Unit 0 comes back: one more request and a reward of 1.
        let newer = row(2, 0, 1, 1.0);
        s.update(Some(&rows[0]), &newer);
        let mut fresh = UnitSums::default();
        for r in [newer, rows[1], rows[2], rows[3]] {
            fresh.update(None, &r);
        }
        assert_eq!(s, fresh);
        assert_eq!((s.units, s.requests, s.converted), (4, 17, 3));
        assert_eq!(s.conversion(), Proportion::new(4, 3));
        let r = s.reward_per_feedback();
        assert_eq!((r.num, r.den), (4.5, 7.0));
        assert_eq!(s.errors_per_request().ratio(), Some(3.0 / 17.0));
    }

    #[test]
    fn ratio_variance_is_the_cluster_robust_one() {
        // x = (1, 0, 3), d = (2, 1, 3): R = 4/6; sum (x - R d)^2 = (1-4/3)^2 + (2/3)^2 + 1
        let mut s = UnitSums::default();
        for (x, d) in [(1.0, 2), (0.0, 1), (3.0, 3)] {
            s.update(None, &row(d, 0, d, x));
        }
        let r = s.reward_per_feedback();
        let ss = (1.0f64 - 4.0 / 3.0).powi(2) + (2.0f64 / 3.0).powi(2) + 1.0;
        let want = 3.0 / 2.0 * ss / 36.0;
        assert!((r.variance().unwrap() - want).abs() < 1e-15);
        assert!(UnitSums::default()
            .reward_per_feedback()
            .variance()
            .is_none());
    }
}
