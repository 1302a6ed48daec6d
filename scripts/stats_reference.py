#!/usr/bin/env python3
"""Reference values for crates/core/src/statistics, computed with scipy / statsmodels / numpy and,
for the unit-level statistics, with independent implementations: GrowthBook's own stats engine
(gbstats: the sequential test tuned to an expected sample size, the delta-method ratio
variance), statsmodels' cluster-robust OLS (the same ratio variance, another derivation) and
Optimizely's ssrm-test (Lindon's sequential multinomial SRM test) beside a direct gammaln sum.

Writes tests/fixtures/stats_reference.json, checked by tests/stats_reference.rs.
Run from the repository root:
  pip install scipy statsmodels numpy gbstats==0.8.0 ssrm-test==0.1.5 && python3 scripts/stats_reference.py
"""
import json
import os

import numpy as np
import scipy
import statsmodels
import statsmodels.api as sm
from gbstats.frequentist.tests import SequentialConfig, SequentialTwoSidedTTest
from gbstats.models.statistics import ProportionStatistic, RatioStatistic, SampleMeanStatistic
from scipy import integrate, special, stats
from ssrm_test import ssrm_test
from statsmodels.stats.proportion import proportion_confint, proportions_ztest

out = {
    "generator": "scripts/stats_reference.py",
    "versions": {"scipy": scipy.__version__, "statsmodels": statsmodels.__version__, "numpy": np.__version__,
                 "gbstats": "0.8.0", "ssrm-test": "0.1.5"},
    "tolerance": "|actual - expected| <= 1e-6 * |expected| + 1e-12",
}

out["normal_cdf"] = [{"x": x, "expected": float(stats.norm.cdf(x))}
                     for x in [-37.5, -12.0, -8.0, -3.0, -1.5, -0.1, 0.0, 0.3, 1.0, 1.959963984540054, 5.0]]
out["normal_sf"] = [{"x": x, "expected": float(stats.norm.sf(x))} for x in [-2.0, 0.5, 3.0, 6.0, 10.0, 25.0]]
out["normal_quantile"] = [{"p": p, "expected": float(stats.norm.ppf(p))}
                          for p in [1e-300, 1e-20, 1e-10, 0.001, 0.02, 0.025, 0.3, 0.5, 0.7, 0.9, 0.975, 0.999999]]
out["erf"] = [{"x": x, "expected": float(special.erf(x))} for x in [-2.0, 0.01, 0.5, 1.0, 3.0]]
out["erfc"] = [{"x": x, "expected": float(special.erfc(x))} for x in [-1.0, 0.2, 1.5, 4.0, 9.0, 26.0]]
out["ln_gamma"] = [{"x": x, "expected": float(special.gammaln(x))}
                   for x in [0.1, 0.5, 1.0, 1.5, 3.0, 7.25, 50.0, 1234.5, 1e6]]
out["gamma_p"] = [{"a": a, "x": x, "expected": float(special.gammainc(a, x))}
                  for a, x in [(0.5, 0.2), (1.0, 1.0), (2.5, 1.0), (5.0, 9.0), (30.0, 25.0), (100.0, 110.0), (1000.0, 980.0)]]
out["gamma_q"] = [{"a": a, "x": x, "expected": float(special.gammaincc(a, x))}
                  for a, x in [(0.5, 3.0), (3.0, 15.0), (10.0, 2.0), (50.0, 80.0), (0.1, 0.01)]]
out["chi2_sf"] = [{"x": x, "df": df, "expected": float(stats.chi2.sf(x, df))}
                  for x, df in [(3.841458820694124, 1), (0.5, 2), (10.0, 3), (50.0, 30), (200.0, 150), (25.0, 1), (0.01, 4)]]
out["beta_inc"] = [{"a": a, "b": b, "x": x, "expected": float(special.betainc(a, b, x))}
                   for a, b, x in [(1, 1, 0.3), (2, 3, 0.4), (0.5, 0.5, 0.9), (10, 20, 0.3), (51, 951, 0.05),
                                   (601, 9401, 0.062), (2.5, 7.5, 0.99), (1000, 1000, 0.49)]]
out["student_t_two_sided"] = [{"t": t, "df": df, "expected": float(2 * stats.t.sf(abs(t), df))}
                              for t, df in [(1.0, 1), (2.0, 5), (-2.5, 12.3), (1.96, 1000), (4.0, 30.5)]]

# Proportions: (control n, control x, treatment n, treatment x)
pairs = [(1000, 50, 1000, 60), (1000, 50, 1000, 80), (5000, 240, 5200, 300), (250, 10, 300, 9),
         (20000, 1000, 20000, 1090), (40, 0, 40, 3), (12000, 600, 11800, 560), (1, 0, 1, 1)]

out["z_test"] = []
for nc, xc, nt, xt in pairs:
    z, p = proportions_ztest([xt, xc], [nt, nc])  # pooled, two-sided, treatment - control
    out["z_test"].append({"control": [nc, xc], "treatment": [nt, xt], "z": float(z), "p_value": float(p)})

out["wilson"] = []
for n, x in [(1000, 50), (100, 0), (100, 100), (37, 5), (20000, 1090), (1, 1), (7, 3)]:
    lo, hi = proportion_confint(x, n, alpha=0.05, method="wilson")
    out["wilson"].append({"n": n, "x": x, "confidence": 0.95, "lower": float(lo), "upper": float(hi)})
lo, hi = proportion_confint(30, 400, alpha=0.01, method="wilson")
out["wilson"].append({"n": 400, "x": 30, "confidence": 0.99, "lower": float(lo), "upper": float(hi)})


def prob_beat(nc, xc, nt, xt):
    """P(p_t > p_c) with Beta(1,1) priors: integral of f_t(x) * F_c(x) dx by adaptive quadrature."""
    ac, bc = 1 + xc, 1 + nc - xc
    at, bt = 1 + xt, 1 + nt - xt
    m, sd = stats.beta.mean(at, bt), stats.beta.std(at, bt)
    lo, hi = max(0.0, m - 40 * sd), min(1.0, m + 40 * sd)
    val, err = integrate.quad(lambda x: stats.beta.pdf(x, at, bt) * stats.beta.cdf(x, ac, bc), lo, hi,
                              epsabs=1e-13, epsrel=1e-12, limit=1000, points=[m] if lo < m < hi else None)
    assert err < 1e-9, err
    return float(val)


out["prob_beat_control"] = [{"control": [nc, xc], "treatment": [nt, xt], "expected": prob_beat(nc, xc, nt, xt)}
                            for nc, xc, nt, xt in pairs + [(0, 0, 0, 0), (10, 3, 12, 2), (300, 30, 280, 41)]]

# SRM: observed counts vs configured weights (Pearson chi-square goodness of fit).
out["srm"] = []
for obs, w in [([5000, 5000], [1, 1]), ([5200, 4800], [0.5, 0.5]), ([5080, 4920], [1, 1]),
               ([9100, 950], [0.9, 0.1]), ([3400, 3300, 3500], [1, 1, 1]), ([700, 200, 100], [70, 20, 10]),
               ([1000, 1100, 900, 1000], [1, 1, 1, 1])]:
    obs_a = np.array(obs, dtype=float)
    w_a = np.array(w, dtype=float)
    exp = obs_a.sum() * w_a / w_a.sum()
    chi2, p = stats.chisquare(obs_a, exp)
    out["srm"].append({"observed": obs, "weights": [float(v) for v in w], "chi2": float(chi2),
                       "df": len(obs) - 1, "p_value": float(p), "mismatch": bool(p < 0.001)})

# Always-valid test tuned to an expected number of units (GrowthBook's SequentialTwoSidedTTest,
# absolute difference of conversion rates): its p-value at each look, and the running minimum
# the worker keeps. Looks with fewer than min_samples units in an arm, or a zero variance, are
# skipped.
def gb_sequential_p(nc, xc, nt, xt, tuning, alpha=0.05):
    a = ProportionStatistic(n=nc, sum=xc)
    b = ProportionStatistic(n=nt, sum=xt)
    t = SequentialTwoSidedTTest(a, b, SequentialConfig(difference_type="absolute", alpha=alpha,
                                                       sequential_tuning_parameter=tuning))
    return float(t.p_value)


def sequential(snapshots, tuning, min_samples):
    p_run, res = 1.0, []
    for nc, xc, nt, xt in snapshots:
        pc, pt = xc / nc, xt / nt
        v = pc * (1 - pc) / nc + pt * (1 - pt) / nt
        if nc >= min_samples and nt >= min_samples and v > 0:
            p = gb_sequential_p(nc, xc, nt, xt, tuning)
            p_run = min(p_run, p)
            res.append({"p_look": p, "p_value": p_run})
        else:
            res.append({"p_look": None, "p_value": p_run})
    return res


seqs = [
    (5000, 30, [(20, 2, 20, 3), (215, 27, 196, 84)]),  # 12.6 % vs 42.9 %: decided at once
    (5000, 30, [(50, 2, 50, 3), (500, 25, 500, 31), (1000, 50, 1000, 70), (2000, 100, 2000, 140),
                (4000, 200, 4000, 270), (8000, 400, 8000, 520)]),
    (5000, 30, [(1000, 100, 1000, 98), (2000, 205, 2000, 199), (3000, 301, 3000, 310), (4000, 398, 4000, 405)]),
    (200, 30, [(100, 10, 100, 20), (200, 20, 200, 45), (300, 31, 300, 70)]),
    (100000, 30, [(10000, 500, 10000, 560), (20000, 1000, 20000, 1130), (30000, 1490, 30000, 1700)]),
]
out["sequential"] = [{"expected_units": t, "min_samples": m, "snapshots": [list(x) for x in snaps],
                      "steps": sequential(snaps, t, m)} for t, m, snaps in seqs]

# Ratio metrics over units (sum x / sum d), delta-method variance: statsmodels' cluster-robust
# OLS of the per-observation values on a constant (clusters = units) and gbstats'
# RatioStatistic (variance / n) must agree, and so must the worker from the five sums.
rng_r = np.random.default_rng(20250101)
out["ratio"] = []
for units, mean_d, p_conv, numeric in [(50, 2.0, 0.3, False), (400, 4.0, 0.1, False), (2000, 1.5, 0.5, True),
                                       (7, 3.0, 0.4, True)]:
    d = 1 + rng_r.poisson(mean_d - 1, units)          # observations per unit (at least 1)
    prop = rng_r.beta(2, 2 / p_conv - 2, units)       # per-unit propensity, mean p_conv
    rows_unit, rows_y = [], []
    for i in range(units):
        if numeric:
            y = rng_r.lognormal(0.5 * prop[i], 1.0, d[i])
        else:
            y = (rng_r.random(d[i]) < prop[i]).astype(float)
        rows_unit += [i] * int(d[i])
        rows_y += list(y)
    yv, gv = np.array(rows_y), np.array(rows_unit)
    x = np.bincount(gv, weights=yv, minlength=units)
    fit = sm.OLS(yv, np.ones_like(yv)).fit(cov_type="cluster", cov_kwds={"groups": gv})
    gb = RatioStatistic(n=units, m_statistic=SampleMeanStatistic(n=units, sum=float(x.sum()),
                                                                  sum_squares=float((x * x).sum())),
                        d_statistic=SampleMeanStatistic(n=units, sum=float(d.sum()),
                                                        sum_squares=float((d * d).sum())),
                        m_d_sum_of_products=float((x * d).sum()))
    var_sm = float(fit.bse[0] ** 2)
    var_gb = float(gb.variance / units)
    assert abs(var_sm - var_gb) <= 1e-9 * var_sm, (var_sm, var_gb)
    out["ratio"].append({"units": units, "num": float(x.sum()), "den": float(d.sum()), "num_sq": float((x * x).sum()),
                         "den_sq": float((d * d).sum()), "num_den": float((x * d).sum()),
                         "ratio": float(fit.params[0]), "variance": var_sm})

# Sequential SRM (Lindon & Malek 2022): ln Bayes factor of cumulative unit counts against the
# planned shares with a Dirichlet(k * shares) mixture, k = 100; p-value = running min of 1/BF.
# Two implementations: a direct gammaln sum and ssrm-test fed the looks' increments.
def srm_lbf(counts, shares, k=100.0):
    x = np.array(counts, dtype=float)
    th = np.array(shares, dtype=float) / np.sum(shares)
    a = k * th
    return float(special.gammaln(a.sum()) - special.gammaln(a.sum() + x.sum())
                 + np.sum(special.gammaln(a + x) - special.gammaln(a)) - np.sum(x * np.log(th)))


out["srm_sequential"] = []
for shares, looks in [([0.5, 0.5], [[12, 9], [60, 49], [260, 240], [1010, 990], [5000, 5010]]),
                      ([0.9, 0.1], [[90, 11], [450, 45], [900, 101], [4500, 498]]),
                      ([0.9, 0.1], [[90, 11], [450, 70], [900, 150], [4500, 700]]),
                      ([1, 1, 1], [[100, 95, 110], [1000, 900, 1100]]),
                      ([0.7, 0.2, 0.1], [[7, 2, 1], [700, 200, 100], [7000, 2100, 900]])]:
    incr = np.diff(np.vstack([np.zeros(len(shares), dtype=int), np.array(looks)]), axis=0)
    th = list(np.array(shares, dtype=float) / np.sum(shares))
    post = ssrm_test.sequential_posteriors(incr, th, dirichlet_concentration=100.0)
    steps, p_run = [], 1.0
    for look, pst in zip(looks, post):
        lbf = srm_lbf(look, shares)
        assert abs(lbf - float(pst["log_bayes_factor"])) <= 1e-8 * max(1.0, abs(lbf)), (lbf, pst["log_bayes_factor"])
        p_run = min(p_run, float(min(1.0, np.exp(-lbf))))
        assert abs(p_run - float(pst["p_value"])) <= 1e-9 + 1e-8 * p_run
        steps.append({"log_bayes_factor": lbf, "p_value": p_run, "mismatch": bool(p_run < 0.001)})
    out["srm_sequential"].append({"weights": [float(w) for w in shares], "looks": looks, "steps": steps})

# Welch t-test from (n, sum, sum of squares).
rng = np.random.default_rng(20240601)
out["welch"] = []
for (n1, mu1, s1), (n2, mu2, s2) in [((50, 1.0, 2.0), (60, 1.6, 2.5)), ((500, 10.0, 3.0), (450, 10.3, 3.5)),
                                     ((8, 0.2, 0.1), (5, 0.35, 0.3)), ((20000, 4.0, 10.0), (20000, 4.2, 10.0))]:
    a = rng.normal(mu1, s1, n1)
    b = rng.normal(mu2, s2, n2)
    r = stats.ttest_ind(b, a, equal_var=False)
    out["welch"].append({"control": [n1, float(a.sum()), float((a * a).sum())],
                         "treatment": [n2, float(b.sum()), float((b * b).sum())],
                         "diff": float(b.mean() - a.mean()), "t": float(r.statistic), "df": float(r.df),
                         "p_value": float(r.pvalue)})

# Numeric rewards: t critical values, mean intervals, Welch difference intervals
# (scipy's own confidence_interval of ttest_ind), and the normal-mixture mSPRT for means.
out["t_critical"] = [{"confidence": c, "df": df, "expected": float(stats.t.ppf(0.5 + c / 2, df))}
                     for c, df in [(0.95, 1), (0.95, 4.5), (0.99, 30), (0.95, 1000), (0.9, 12.3), (0.95, 2.0)]]


def suff(x):
    return [len(x), float(x.sum()), float((x * x).sum())]


out["mean_interval"] = []
for n, mu, s in [(10, 1.0, 2.0), (200, 5.0, 0.5), (3, -2.0, 1.0), (5000, 0.3, 3.0)]:
    x = rng.normal(mu, s, n)
    lo, hi = stats.t.interval(0.95, n - 1, loc=x.mean(), scale=stats.sem(x))
    out["mean_interval"].append({"stats": suff(x), "confidence": 0.95, "lower": float(lo), "upper": float(hi)})

out["welch_interval"] = []
for (n1, mu1, s1), (n2, mu2, s2) in [((50, 1.0, 2.0), (60, 1.6, 2.5)), ((500, 10.0, 3.0), (450, 10.3, 3.5)),
                                     ((8, 0.2, 0.1), (5, 0.35, 0.3)), ((3000, 4.0, 1.0), (2000, 4.05, 2.0))]:
    a = rng.normal(mu1, s1, n1)
    b = rng.normal(mu2, s2, n2)
    ci = stats.ttest_ind(b, a, equal_var=False).confidence_interval(0.95)
    out["welch_interval"].append({"control": suff(a), "treatment": suff(b), "confidence": 0.95,
                                  "lower": float(ci.low), "upper": float(ci.high)})


path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "stats_reference.json")
with open(path, "w") as f:
    json.dump(out, f, indent=1)
    f.write("\n")
print("wrote", os.path.normpath(path))
