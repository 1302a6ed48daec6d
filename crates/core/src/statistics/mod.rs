//! Statistics for the learning loop: special functions, A/B statistics and bandit weights.
//!
//! Pure Rust with no dependencies beyond `serde` (for the result structs): no I/O, no clock,
//! randomness only through [`crate::base::Rng`]. See each module for the method choices:
//! - `special.rs`: special functions (gamma, beta, normal, chi-squared, Student's t);
//! - `sample.rs`: random variates (normal, gamma, beta, Student's t);
//! - `ab.rs`: A/B tests (two-proportion z, ratio metrics by the delta method, Welch's t,
//!   intervals, the always-valid test tuned to the expected units, the sequential SRM test,
//!   one verdict);
//! - `units.rs`: a unit's row and an arm's running sums over its units;
//! - `bandit.rs`: bandit weights (Thompson sampling, UCB1, epsilon-greedy) with health;
//! - `noninferiority.rs`: an always-valid one-sided non-inferiority test (a normal-mixture
//!   confidence sequence on a difference) for release gates;
//! - `ope.rs`: off-policy evaluation (IPS and self-normalised IPS with intervals).

mod ab;
mod bandit;
mod noninferiority;
mod ope;
mod sample;
mod special;
mod units;

pub use ab::{
    compare_conversion, compare_means, compare_ratio, mean_interval, mixture_rho2,
    msprt_log_evalue, msprt_log_lambda_diff, prob_beat_control, ratio_difference,
    srm_log_bayes_factor, srm_test, t_critical, two_proportion_z_test, verdict, welch_interval,
    welch_t_test, wilson_interval, ChiSquareSrm, ConversionComparison, Difference, Interval,
    MeanComparison, MeanStats, MsprtConfig, MsprtState, MsprtStep, Proportion, RatioComparison,
    RatioStats, SrmResult, SrmState, TTest, Verdict, VerdictResult, ZTest, SRM_ALPHA,
    SRM_PRIOR_CONCENTRATION, VERDICT_TEST,
};
pub use bandit::{
    probe_share, weights, weights_with_health, Algorithm, ArmStats, BanditParams, RewardModel,
};
pub use noninferiority::{
    half_width as noninferiority_half_width, judge as judge_noninferiority, mean_difference,
    mixture_threshold, proportion_difference, Estimate, Judgement, Verdict as NonInferiority,
};
pub use ope::{ope, OpeEstimate, OpeResult};
pub use sample::{beta, gamma, standard_normal, student_t};
pub use special::{
    beta_cdf, beta_inc, chi2_sf, erf, erfc, gamma_p, gamma_q, ln_beta, ln_gamma, normal_cdf,
    normal_pdf, normal_quantile, normal_sf, student_t_sf, student_t_two_sided,
};
pub use units::{UnitRow, UnitSums};
