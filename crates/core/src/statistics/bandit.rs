//! Bandit arm weights, recomputed by the route's Durable Object from per-arm sufficient
//! statistics and written to KV (`weights:<route>`); the edge then splits traffic by them.
//!
//! [`weights`] returns one weight per arm, in the input order, summing to 1:
//!
//! 1. **Warm-up.** Until every arm has at least `min_samples` pulls (at least 1 for the
//!    Bernoulli model and 2 for the Normal model, which needs a variance), all arms get equal
//!    weight. Non-finite statistics are treated the same way (they are never trusted).
//! 2. **Algorithm weights.**
//!    - [`Algorithm::Thompson`]: the probability that each arm is best under its posterior,
//!      estimated from `draws` joint posterior draws with the passed-in rng (ties split).
//!      Bernoulli rewards: Beta(1 + successes, 1 + failures). Numeric rewards: a Normal model
//!      with unknown mean and variance under the reference prior, whose posterior for the
//!      mean is Student t: `mean + s / sqrt(n) * t_{n-1}`.
//!    - [`Algorithm::Ucb1`]: all mass on the arm with the highest UCB1 index
//!      `mean + c * sqrt(2 ln N / n)` (ties split equally); `c = 1` for 0/1 rewards, and the
//!      pooled sample standard deviation for numeric rewards (the index is scale-free). This
//!      is the un-softened form: the floor is the only exploration between recomputations.
//!    - [`Algorithm::EpsilonGreedy`]: `1 - epsilon` on the arm with the highest mean (ties
//!      split) and `epsilon` spread equally over all arms (the best arm included).
//! 3. **Floor.** With `f = clamp(min_share, 0, 1/k)`, each weight becomes `f + (1 - k f) w`:
//!    every arm gets at least `f` and the weights still sum to 1 (the one
//!    [`crate::routing::apply_floor`], shared with the edge).
//! 4. **Health** ([`weights_with_health`]): arms whose origin is failing are taken out of
//!    the algorithm and keep only a probe share, below the floor.
//!
//! The statistics passed in are the evidence the caller chose (see `core::learn`: pulls are
//! rewards that arrived, or routed requests for conversion feedback; errors count as 0
//! rewards for 0/1 rewards).
//!
//! Whether rewards are 0/1 is taken from [`BanditParams::reward_model`]; `Auto` decides
//! Bernoulli when, for every arm, the reward sum is a whole number in `[0, pulls]` equal to
//! the sum of squares (true exactly when every reward was 0 or 1).

// `!(x > 0.0)` is deliberate throughout: unlike `x <= 0.0`, it is also true for NaN.
#![allow(clippy::neg_cmp_op_on_partial_ord)]

use crate::base::Rng;
use crate::config::apply_floor;

use super::sample;

/// Per-arm sufficient statistics.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct ArmStats {
    pub pulls: u64,
    pub reward_sum: f64,
    pub reward_sq_sum: f64,
}

impl ArmStats {
    pub fn new(pulls: u64, reward_sum: f64, reward_sq_sum: f64) -> Self {
        Self {
            pulls,
            reward_sum,
            reward_sq_sum,
        }
    }

    /// Record one reward.
    pub fn push(&mut self, reward: f64) {
        self.pulls = self.pulls.saturating_add(1);
        self.reward_sum += reward;
        self.reward_sq_sum += reward * reward;
    }

    fn mean(&self) -> f64 {
        if self.pulls == 0 {
            0.0
        } else {
            self.reward_sum / self.pulls as f64
        }
    }

    /// Sample variance, 0 below two pulls, clamped at 0 against rounding.
    fn variance(&self) -> f64 {
        if self.pulls < 2 {
            return 0.0;
        }
        let n = self.pulls as f64;
        ((self.reward_sq_sum - self.reward_sum * self.reward_sum / n) / (n - 1.0)).max(0.0)
    }

    fn is_finite(&self) -> bool {
        self.reward_sum.is_finite() && self.reward_sq_sum.is_finite()
    }

    fn looks_bernoulli(&self) -> bool {
        let s = self.reward_sum;
        s >= 0.0
            && s <= self.pulls as f64
            && (s - s.round()).abs() <= 1e-6
            && (self.reward_sq_sum - s).abs() <= 1e-9 * s.max(1.0)
    }
}

/// Which bandit algorithm turns statistics into weights.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Algorithm {
    Thompson,
    Ucb1,
    /// `epsilon` is clamped to [0, 1]; NaN counts as 0.
    EpsilonGreedy {
        epsilon: f64,
    },
}

/// The reward model: 0/1 conversions or numeric rewards.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RewardModel {
    /// Bernoulli when every arm's statistics are consistent with 0/1 rewards, else Normal.
    #[default]
    Auto,
    Bernoulli,
    Normal,
}

/// Tuning shared by all algorithms.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BanditParams {
    /// Floor per arm (clamped to [0, 1/k]). Default 0.01, as in the config schema.
    pub min_share: f64,
    /// Warm-up: equal weights until every arm has this many pulls. Default 100.
    pub min_samples: u64,
    /// Posterior draws for Thompson sampling. Default 1000 (weights to about +-0.016).
    pub draws: u32,
    pub reward_model: RewardModel,
}

impl Default for BanditParams {
    fn default() -> Self {
        Self {
            min_share: 0.01,
            min_samples: 100,
            draws: 1000,
            reward_model: RewardModel::Auto,
        }
    }
}

/// Arm weights (same order as `arms`, summing to 1; empty for no arms). See the module docs.
pub fn weights(
    algo: Algorithm,
    arms: &[ArmStats],
    params: &BanditParams,
    rng: &mut impl Rng,
) -> Vec<f64> {
    let k = arms.len();
    if k == 0 {
        return Vec::new();
    }
    let bernoulli = match params.reward_model {
        RewardModel::Bernoulli => true,
        RewardModel::Normal => false,
        RewardModel::Auto => arms.iter().all(ArmStats::looks_bernoulli),
    };
    let min_pulls = params.min_samples.max(if bernoulli { 1 } else { 2 });
    let warm = arms.iter().all(|a| a.pulls >= min_pulls && a.is_finite());
    let raw = if !warm || k == 1 {
        vec![1.0 / k as f64; k]
    } else {
        match algo {
            Algorithm::Thompson => thompson(arms, bernoulli, params.draws.max(1), rng),
            Algorithm::Ucb1 => ucb1(arms, bernoulli),
            Algorithm::EpsilonGreedy { epsilon } => epsilon_greedy(arms, epsilon),
        }
    };
    apply_floor(raw, params.min_share, &[])
}

pub use crate::config::probe_share;

/// [`weights`] for a route some of whose arms are failing (`failing[i]`): the algorithm
/// runs over the healthy arms only (the floor among them), each failing arm gets
/// [`probe_share`] and no floor. With no arm or every arm failing this is [`weights`]
/// (draining every arm would drain none). The result is what the edge reproduces with
/// `apply_floor(w, min_share, failing)`.
pub fn weights_with_health(
    algo: Algorithm,
    arms: &[ArmStats],
    failing: &[bool],
    params: &BanditParams,
    rng: &mut impl Rng,
) -> Vec<f64> {
    let k = arms.len();
    let is_failing = |i: usize| failing.get(i).copied().unwrap_or(false);
    let n_failing = (0..k).filter(|i| is_failing(*i)).count();
    if n_failing == 0 || n_failing == k {
        return weights(algo, arms, params, rng);
    }
    let healthy: Vec<ArmStats> = (0..k)
        .filter(|i| !is_failing(*i))
        .map(|i| arms[i])
        .collect();
    let raw = weights(
        algo,
        &healthy,
        &BanditParams {
            min_share: 0.0,
            ..*params
        },
        rng,
    );
    let probe = probe_share(params.min_share, k);
    let rest = 1.0 - probe * n_failing as f64;
    let mut it = raw.into_iter();
    let full: Vec<f64> = (0..k)
        .map(|i| {
            if is_failing(i) {
                probe
            } else {
                it.next().unwrap_or(0.0) * rest
            }
        })
        .collect();
    let mask: Vec<bool> = (0..k).map(is_failing).collect();
    apply_floor(full, params.min_share, &mask)
}

/// Equal split of all mass among the arms whose score equals the maximum.
fn argmax_split(scores: &[f64]) -> Vec<f64> {
    let best = scores.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let winners = scores.iter().filter(|s| **s == best).count();
    if winners == 0 {
        return vec![1.0 / scores.len() as f64; scores.len()];
    }
    scores
        .iter()
        .map(|s| {
            if *s == best {
                1.0 / winners as f64
            } else {
                0.0
            }
        })
        .collect()
}

fn thompson(arms: &[ArmStats], bernoulli: bool, draws: u32, rng: &mut impl Rng) -> Vec<f64> {
    let k = arms.len();
    let mut wins = vec![0u32; k];
    let mut sample = vec![0.0f64; k];
    // Posterior parameters, computed once.
    let params: Vec<(f64, f64)> = arms
        .iter()
        .map(|a| {
            if bernoulli {
                let n = a.pulls as f64;
                let s = a.reward_sum.round().clamp(0.0, n);
                (1.0 + s, 1.0 + n - s)
            } else {
                let n = a.pulls as f64;
                (a.mean(), (a.variance() / n).sqrt())
            }
        })
        .collect();
    for _ in 0..draws {
        for (i, (p, q)) in params.iter().enumerate() {
            sample[i] = if bernoulli {
                sample::beta(*p, *q, rng)
            } else {
                let df = (arms[i].pulls - 1) as f64;
                p + q * sample::student_t(df, rng)
            };
        }
        let mut best = 0usize;
        for i in 1..k {
            if sample[i] > sample[best] {
                best = i;
            }
        }
        wins[best] += 1;
    }
    wins.iter().map(|w| *w as f64 / draws as f64).collect()
}

fn ucb1(arms: &[ArmStats], bernoulli: bool) -> Vec<f64> {
    let total: f64 = arms.iter().map(|a| a.pulls as f64).sum();
    let scale = if bernoulli {
        1.0
    } else {
        // Pooled standard deviation across arms.
        let (num, den) = arms.iter().fold((0.0, 0.0), |(num, den), a| {
            let dof = a.pulls.saturating_sub(1) as f64;
            (num + a.variance() * dof, den + dof)
        });
        let sd = if den > 0.0 { (num / den).sqrt() } else { 0.0 };
        if sd > 0.0 && sd.is_finite() {
            sd
        } else {
            1.0
        }
    };
    let ln_total = total.max(1.0).ln();
    let scores: Vec<f64> = arms
        .iter()
        .map(|a| {
            if a.pulls == 0 {
                f64::INFINITY
            } else {
                a.mean() + scale * (2.0 * ln_total / a.pulls as f64).sqrt()
            }
        })
        .collect();
    argmax_split(&scores)
}

fn epsilon_greedy(arms: &[ArmStats], epsilon: f64) -> Vec<f64> {
    let eps = if epsilon.is_nan() {
        0.0
    } else {
        epsilon.clamp(0.0, 1.0)
    };
    let k = arms.len() as f64;
    let means: Vec<f64> = arms.iter().map(ArmStats::mean).collect();
    argmax_split(&means)
        .into_iter()
        .map(|g| (1.0 - eps) * g + eps / k)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::base::Xoshiro256;

    fn bern(pulls: u64, wins: u64) -> ArmStats {
        ArmStats::new(pulls, wins as f64, wins as f64)
    }

    fn sums_to_one(w: &[f64]) {
        let s: f64 = w.iter().sum();
        assert!((s - 1.0).abs() < 1e-12, "{w:?}");
    }

    const ALGOS: [Algorithm; 3] = [
        Algorithm::Thompson,
        Algorithm::Ucb1,
        Algorithm::EpsilonGreedy { epsilon: 0.1 },
    ];

    #[test]
    fn warm_up_gives_equal_weights() {
        let mut rng = Xoshiro256::seed_from_u64(1);
        let arms = [bern(1000, 100), bern(99, 1)];
        for algo in ALGOS {
            let w = weights(algo, &arms, &BanditParams::default(), &mut rng);
            assert_eq!(w, vec![0.5, 0.5]);
        }
        assert!(weights(Algorithm::Thompson, &[], &BanditParams::default(), &mut rng).is_empty());
    }

    #[test]
    fn floor_respected_and_clamped() {
        let mut rng = Xoshiro256::seed_from_u64(2);
        let arms = [bern(10_000, 2000), bern(10_000, 100), bern(10_000, 50)];
        for algo in ALGOS {
            let p = BanditParams {
                min_share: 0.05,
                ..BanditParams::default()
            };
            let w = weights(algo, &arms, &p, &mut rng);
            sums_to_one(&w);
            assert!(w.iter().all(|x| *x >= 0.05 - 1e-12), "{algo:?} {w:?}");
            assert!(w[0] > 0.8, "{algo:?} {w:?}");
            // Floor above 1/k clamps to equal weights.
            let p = BanditParams {
                min_share: 0.9,
                ..BanditParams::default()
            };
            let w = weights(algo, &arms, &p, &mut rng);
            for x in &w {
                assert!((x - 1.0 / 3.0).abs() < 1e-12);
            }
        }
    }

    #[test]
    fn epsilon_greedy_exact() {
        let mut rng = Xoshiro256::seed_from_u64(3);
        let arms = [bern(200, 10), bern(200, 30), bern(200, 20)];
        let p = BanditParams {
            min_share: 0.0,
            ..BanditParams::default()
        };
        let w = weights(
            Algorithm::EpsilonGreedy { epsilon: 0.3 },
            &arms,
            &p,
            &mut rng,
        );
        assert!(
            (w[1] - 0.8).abs() < 1e-12 && (w[0] - 0.1).abs() < 1e-12,
            "{w:?}"
        );
    }

    #[test]
    fn ucb_prefers_under_explored_when_close() {
        let mut rng = Xoshiro256::seed_from_u64(4);
        let arms = [bern(5000, 300), bern(100, 5)];
        let p = BanditParams {
            min_share: 0.0,
            ..BanditParams::default()
        };
        let w = weights(Algorithm::Ucb1, &arms, &p, &mut rng);
        assert_eq!(w, vec![0.0, 1.0]);
    }

    #[test]
    fn thompson_numeric_rewards() {
        let mut rng = Xoshiro256::seed_from_u64(5);
        let mut a = ArmStats::default();
        let mut b = ArmStats::default();
        for i in 0..500 {
            let x = (i % 7) as f64 * 0.5;
            a.push(x);
            b.push(x + 0.4);
        }
        let p = BanditParams {
            min_share: 0.0,
            ..BanditParams::default()
        };
        let w = weights(Algorithm::Thompson, &[a, b], &p, &mut rng);
        assert!(w[1] > 0.95, "{w:?}");
        // Identical arms: roughly even.
        let w = weights(Algorithm::Thompson, &[a, a], &p, &mut rng);
        assert!((w[0] - 0.5).abs() < 0.08, "{w:?}");
    }

    #[test]
    fn degenerate_inputs_never_nan() {
        let mut rng = Xoshiro256::seed_from_u64(6);
        let cases = [
            vec![ArmStats::new(0, 0.0, 0.0); 3],
            vec![ArmStats::new(500, f64::NAN, 1.0), bern(500, 10)],
            vec![ArmStats::new(500, 5.0, 5.0), ArmStats::new(500, 5.0, 5.0)],
            vec![
                ArmStats::new(500, 250.0, 125.0),
                ArmStats::new(500, 250.0, 125.0),
            ],
            vec![bern(100, 0), bern(100, 100)],
            vec![ArmStats::new(500, -3.0, 9.0)],
        ];
        for arms in cases {
            for algo in ALGOS.iter().copied().chain([
                Algorithm::EpsilonGreedy { epsilon: f64::NAN },
                Algorithm::EpsilonGreedy { epsilon: 7.0 },
            ]) {
                for min_share in [0.0, 0.01, f64::NAN, -1.0, 2.0] {
                    let p = BanditParams {
                        min_share,
                        min_samples: 0,
                        draws: 50,
                        ..BanditParams::default()
                    };
                    let w = weights(algo, &arms, &p, &mut rng);
                    assert_eq!(w.len(), arms.len());
                    assert!(w.iter().all(|x| x.is_finite() && *x >= 0.0), "{w:?}");
                    sums_to_one(&w);
                }
            }
        }
    }
}
