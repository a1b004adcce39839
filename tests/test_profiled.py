"""The profiled REML/ML engine held to lme4 1.1-31 (tests/data/lme4, see ORIGIN.md there).

Besides the reference fits: the criterion against a brute-force dense-matrix evaluation, and the optimum at
a larger scale against perturbations and an independent optimiser (no reference can be had there).
"""

from __future__ import annotations

import functools
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from shrinkvis.fit import profiled
from shrinkvis.fit.profiled import (
    ClusterStats,
    ProfiledFit,
    cluster_stats,
    criterion_at,
    fit_profiled,
    no_pool,
)
from shrinkvis.scenario import DataSpec
from shrinkvis.simulate import simulate

DATA_DIR = Path(__file__).parent / "data" / "lme4"
CASES = sorted(path.stem for path in DATA_DIR.glob("*.json"))


@functools.cache
def _case(name: str) -> tuple[dict, ClusterStats, str]:
    """lme4's results, the sufficient statistics (clusters in the JSON's order) and the random term."""
    ref = json.loads((DATA_DIR / f"{name}.json").read_text())
    cols = ref["columns"]
    data = pd.read_csv(DATA_DIR / f"{name}.csv", dtype={cols["group"]: str})
    labels = [c["cluster"] for c in ref["clusters"]]
    codes = data[cols["group"]].map({label: i for i, label in enumerate(labels)})
    assert not codes.isna().any()
    x = data[cols["x"]].to_numpy(dtype=float) if cols["x"] else None
    stats = cluster_stats(
        data[cols["y"]].to_numpy(dtype=float), x, codes.to_numpy(dtype=np.int64), len(labels)
    )
    formula = ref["formula"].replace(" ", "")
    random = "slope" if cols["x"] and f"({cols['x']}|" in formula else "intercept"
    assert random == "slope" or "(1|" in formula
    assert (cols["x"] is None) == ("~1+" in formula)
    return ref, stats, random


@functools.cache
def _fit(name: str, method: str = "REML") -> ProfiledFit:
    _, stats, random = _case(name)
    return fit_profiled(stats, random, method)  # type: ignore[arg-type]


def _column(ref: dict, key: str) -> np.ndarray:
    return np.array([np.nan if c[key] is None else c[key] for c in ref["clusters"]], dtype=float)


def _close_sd(actual: float, expected: float) -> None:
    """SEs and SDs: 1e-4 relative, or 1e-5 absolute for values under 0.01."""
    if abs(expected) < 0.01:
        assert actual == pytest.approx(expected, abs=1e-5)
    else:
        assert actual == pytest.approx(expected, rel=1e-4)


def test_all_reference_cases_are_present() -> None:
    assert len(CASES) == 9


@pytest.mark.parametrize("name", CASES)
def test_fixed_effects_and_standard_errors(name: str) -> None:
    ref, _, _ = _case(name)
    fit = _fit(name)
    expected = np.array(list(ref["fixed_effects"].values()))
    np.testing.assert_allclose(fit.fixed_effects, expected, rtol=1e-5, atol=0)
    ses = np.sqrt(np.diag(fit.fixed_cov))
    assert ses.shape == (len(ref["std_errors"]),)
    for actual, se in zip(ses, ref["std_errors"].values(), strict=True):
        _close_sd(actual, se)
    np.testing.assert_allclose(fit.fixed_cov, fit.fixed_cov.T, rtol=0, atol=1e-15)


@pytest.mark.parametrize("name", CASES)
def test_variance_components(name: str) -> None:
    ref, _, random = _case(name)
    fit = _fit(name)
    assert fit.method == "REML"
    assert fit.sigma == pytest.approx(ref["residual_sd"], rel=1e-5)
    sd = np.sqrt(np.diag(fit.cov_re))
    _close_sd(sd[0], ref["sd_intercept"])
    if random == "slope":
        assert fit.cov_re.shape == (2, 2) and fit.theta.shape == (3,) and fit.blup.shape[1] == 2
        _close_sd(sd[1], ref["sd_slope"])
        assert fit.cov_re[0, 1] / (sd[0] * sd[1]) == pytest.approx(ref["corr"], abs=1e-3)
        # theta is lme4's: the lower-triangular Cholesky factor of Sigma / sigma^2, column-major
        t = np.array([[fit.theta[0], 0.0], [fit.theta[1], fit.theta[2]]])
        np.testing.assert_allclose(fit.sigma**2 * t @ t.T, fit.cov_re, rtol=1e-12, atol=1e-15)
    else:
        assert ref["sd_slope"] is None and ref["corr"] is None
        assert fit.cov_re.shape == (1, 1) and fit.theta.shape == (1,) and fit.blup.shape[1] == 1
        assert fit.sigma**2 * fit.theta[0] ** 2 == pytest.approx(fit.cov_re[0, 0], rel=1e-12)
    assert fit.is_singular == ref["is_singular"]


@pytest.mark.parametrize("name", CASES)
def test_reml_criterion_and_ml_deviance(name: str) -> None:
    ref, _, _ = _case(name)
    reml = _fit(name)
    assert reml.criterion == pytest.approx(ref["reml_criterion"], abs=1e-4)
    ml = _fit(name, "ML")
    assert ml.method == "ML"
    assert ml.criterion == pytest.approx(ref["ml_deviance"], abs=1e-4)
    # both fits must be genuine optima
    for fit in (reml, ml):
        assert fit.converged
        assert fit.gradient_norm < 1e-3
        assert fit.n_evaluations > 0


@pytest.mark.parametrize("name", CASES)
def test_partial_pooling_per_cluster(name: str) -> None:
    ref, stats, random = _case(name)
    fit = _fit(name)
    j = len(ref["clusters"])
    assert fit.blup.shape[0] == j and fit.blup_cov.shape[:2] == (j, fit.cov_re.shape[0])
    np.testing.assert_array_equal(stats.n, [c["n"] for c in ref["clusters"]])
    np.testing.assert_allclose(
        fit.fixed_effects[0] + fit.blup[:, 0], _column(ref, "partial_intercept"), rtol=0, atol=1e-4
    )
    np.testing.assert_allclose(
        np.sqrt(fit.blup_cov[:, 0, 0]), _column(ref, "partial_intercept_se"), rtol=0, atol=1e-4
    )
    if random == "slope":
        np.testing.assert_allclose(
            fit.fixed_effects[1] + fit.blup[:, 1], _column(ref, "partial_slope"), rtol=0, atol=1e-4
        )
        np.testing.assert_allclose(
            np.sqrt(fit.blup_cov[:, 1, 1]), _column(ref, "partial_slope_se"), rtol=0, atol=1e-4
        )
        np.testing.assert_allclose(fit.blup_cov[:, 0, 1], fit.blup_cov[:, 1, 0], rtol=0, atol=0)
    elif stats.has_x:
        # random intercept only: every cluster shares the fixed slope
        np.testing.assert_allclose(_column(ref, "partial_slope"), fit.fixed_effects[1], rtol=1e-5)
    # conditional modes of the random effects average out near zero relative to their spread
    assert abs(fit.blup[:, 0].mean()) < 0.5 * fit.blup[:, 0].std() + 1e-12


@pytest.mark.parametrize("name", CASES)
def test_no_pooling(name: str) -> None:
    ref, stats, _ = _case(name)
    intercept, slope = no_pool(stats)
    np.testing.assert_allclose(intercept, _column(ref, "no_pool_intercept"), rtol=0, atol=1e-8)
    expected_slope = _column(ref, "no_pool_slope")
    if stats.has_x:
        np.testing.assert_allclose(slope, expected_slope, rtol=0, atol=1e-8)
    else:
        assert np.isnan(slope).all() and np.isnan(expected_slope).all()


def test_singular_fit_is_on_the_boundary_exactly() -> None:
    fit = _fit("singular_s8")
    assert fit.theta[2] == 0.0
    assert fit.theta[0] > 1e-4
    corr = fit.cov_re[0, 1] / math.sqrt(fit.cov_re[0, 0] * fit.cov_re[1, 1])
    assert corr == pytest.approx(1.0, abs=1e-12)
    # moving off the boundary into the feasible region cannot lower the criterion
    _, stats, _ = _case("singular_s8")
    for h in (1e-6, 1e-3, 1e-1):
        assert criterion_at(stats, "slope", fit.theta + np.array([0.0, 0.0, h])) >= fit.criterion - 1e-10


# --------------------------------------------------------------------------------------------------------
# Criterion and statistics against independent computations
# --------------------------------------------------------------------------------------------------------


def _dense_criterion(
    y: np.ndarray,
    x: np.ndarray | None,
    codes: np.ndarray,
    n_groups: int,
    random: str,
    theta: np.ndarray,
    method: str,
) -> float:
    """Brute force from the marginal model y ~ N(X beta, sigma^2 (I + Z Lambda Lambda' Z')), dense algebra."""
    n = y.size
    x_mat = np.column_stack([np.ones(n), x]) if x is not None else np.ones((n, 1))
    z_row = x_mat if random == "slope" else np.ones((n, 1))
    q = z_row.shape[1]
    t = np.array([[theta[0], 0.0], [theta[1], theta[2]]]) if q == 2 else np.array([[theta[0]]])
    z = np.zeros((n, n_groups * q))
    for k in range(q):
        z[np.arange(n), codes * q + k] = z_row[:, k]
    zl = z @ np.kron(np.eye(n_groups), t)
    v = np.eye(n) + zl @ zl.T
    v_inv = np.linalg.inv(v)
    a = x_mat.T @ v_inv @ x_mat
    beta = np.linalg.solve(a, x_mat.T @ v_inv @ y)
    resid = y - x_mat @ beta
    r2 = resid @ v_inv @ resid
    p = x_mat.shape[1]
    logdet_v = np.linalg.slogdet(v)[1]
    if method == "REML":
        return float(logdet_v + np.linalg.slogdet(a)[1] + (n - p) * (1 + np.log(2 * np.pi * r2 / (n - p))))
    return float(logdet_v + n * (1 + np.log(2 * np.pi * r2 / n)))


@pytest.mark.parametrize("method", ["REML", "ML"])
@pytest.mark.parametrize(("random", "with_x"), [("slope", True), ("intercept", True), ("intercept", False)])
def test_criterion_matches_dense_marginal_likelihood(random: str, with_x: bool, method: str) -> None:
    rng = np.random.default_rng(11)
    sizes = np.array([1, 4, 2, 5, 3, 3, 6])
    codes = np.repeat(np.arange(sizes.size), sizes)
    x = rng.normal(40.0, 2.0, codes.size)  # far from 0: exercises the internal centring
    x[codes == 4] = 38.5  # a cluster with constant x
    y = 300.0 + 1.5 * x + rng.normal(0, 3, sizes.size)[codes] + rng.normal(size=codes.size)
    xs = x if with_x else None
    stats = cluster_stats(y, xs, codes, sizes.size)
    thetas = [np.array([0.7, -0.3, 0.4]), np.array([1.2, 0.5, 0.0]), np.array([0.0, 0.0, 0.3])]
    if random == "intercept":
        thetas = [np.array([0.8]), np.array([0.0]), np.array([2.5])]
    for theta in thetas:
        expected = _dense_criterion(y, xs, codes, sizes.size, random, theta, method)
        assert criterion_at(stats, random, theta, method) == pytest.approx(expected, abs=1e-9)  # type: ignore[arg-type]


def test_cluster_stats_match_groupby() -> None:
    rng = np.random.default_rng(3)
    codes = rng.integers(0, 6, 200)
    codes[codes == 5] = 4  # cluster 5 is empty
    x, y = rng.normal(size=200), rng.normal(size=200)
    y = y + 1e6  # the sums are measured from the overall means, which travel with them
    stats = cluster_stats(y, x, codes, 6)
    assert stats.centre_y == pytest.approx(y.mean(), rel=1e-15) and stats.centre_x == pytest.approx(x.mean())
    xc, yc = x - x.mean(), y - y.mean()
    frame = pd.DataFrame({"g": codes, "x": xc, "y": yc, "xx": xc * xc, "xy": xc * yc, "yy": yc * yc})
    sums = frame.groupby("g").sum().reindex(range(6), fill_value=0.0)
    np.testing.assert_array_equal(stats.n, np.bincount(codes, minlength=6))
    for field, col in [("sx", "x"), ("sxx", "xx"), ("sy", "y"), ("sxy", "xy"), ("syy", "yy")]:
        np.testing.assert_allclose(getattr(stats, field), sums[col].to_numpy(), rtol=1e-12, atol=1e-12)
    assert stats.has_x
    without = cluster_stats(y, None, codes, 6)
    assert not without.has_x and not without.sx.any() and not without.sxx.any() and not without.sxy.any()


def test_no_pool_marks_unidentifiable_clusters() -> None:
    codes = np.array([0, 1, 1, 2, 2, 2, 3, 3])
    # cluster 3 sits far from 0 (mean^2 / variance = 4e8): the raw sums still resolve its slope
    x = np.array([1.0, 5.0, 5.0, 0.0, 1.0, 2.0, 1e4, 1e4 + 1.0])
    y = np.array([2.0, 1.0, 3.0, 1.0, 3.0, 5.0, 7.0, 9.0])
    intercept, slope = no_pool(cluster_stats(y, x, codes, 5))
    # cluster 0: one row; cluster 1: constant x; cluster 4: empty
    assert np.isnan(intercept[[0, 1, 4]]).all() and np.isnan(slope[[0, 1, 4]]).all()
    assert slope[2] == pytest.approx(2.0) and intercept[2] == pytest.approx(1.0)
    assert slope[3] == pytest.approx(2.0, rel=1e-6) and intercept[3] == pytest.approx(7.0 - 2e4, rel=1e-6)
    means, none = no_pool(cluster_stats(y, None, codes, 5))
    np.testing.assert_allclose(means[:4], [2.0, 2.0, 3.0, 8.0])
    assert np.isnan(means[4]) and np.isnan(none).all()


def test_random_slope_needs_x() -> None:
    stats = cluster_stats(np.arange(6.0), None, np.array([0, 0, 0, 1, 1, 1]), 2)
    with pytest.raises(ValueError, match="slope"):
        fit_profiled(stats, "slope")


def test_bad_codes_are_rejected() -> None:
    with pytest.raises(ValueError):
        cluster_stats(np.ones(3), None, np.array([0, 1, 3]), 3)


# --------------------------------------------------------------------------------------------------------
# A larger simulation: the optimum must be the optimum
# --------------------------------------------------------------------------------------------------------


def test_large_simulation_reaches_true_optimum() -> None:
    rng = np.random.default_rng(2024)
    n_groups, per = 20_000, 10
    codes = np.repeat(np.arange(n_groups), per)
    x = rng.normal(3.0, 1.0, codes.size)
    sd0, sd1, rho, sigma = 0.6, 0.25, -0.4, 1.0
    cov = np.array([[sd0**2, rho * sd0 * sd1], [rho * sd0 * sd1, sd1**2]])
    u = rng.multivariate_normal([0.0, 0.0], cov, n_groups)
    y = 1.0 + 0.5 * x + u[codes, 0] + u[codes, 1] * x + rng.normal(0.0, sigma, codes.size)
    stats = cluster_stats(y, x, codes, n_groups)
    fit = fit_profiled(stats, "slope")
    assert fit.converged and not fit.is_singular

    # recovers the truth (statistically)
    np.testing.assert_allclose(fit.fixed_effects, [1.0, 0.5], atol=0.03)
    assert fit.sigma == pytest.approx(sigma, rel=0.01)
    sd = np.sqrt(np.diag(fit.cov_re))
    np.testing.assert_allclose(sd, [sd0, sd1], rtol=0.06)

    # no nearby theta is better
    for i in range(3):
        for h in (1e-5, 1e-3):
            for sign in (1.0, -1.0):
                theta = fit.theta.copy()
                theta[i] += sign * h
                assert criterion_at(stats, "slope", theta) >= fit.criterion - 1e-7

    # an independent derivative-free optimiser from elsewhere does not do better, and lands on the same theta
    from scipy import optimize

    res = optimize.minimize(
        lambda th: criterion_at(stats, "slope", th),
        np.array([0.2, 0.3, 0.8]),
        method="Powell",
        bounds=[(0.0, None), (None, None), (0.0, None)],
        options={"xtol": 1e-9, "ftol": 1e-14, "maxfev": 5000},
    )
    assert fit.criterion <= res.fun + 1e-7
    np.testing.assert_allclose(res.x, fit.theta, atol=1e-5)


# --------------------------------------------------------------------------------------------------------
# Newton does the work; scipy's quasi-Newton method is only a fallback
# --------------------------------------------------------------------------------------------------------

# A fresh interpreter fits every reference case (REML and ML) and the baseline scenario, then reports the
# criteria and which scipy modules got loaded: `import scipy.optimize` costs more than such a fit.
NO_SCIPY_PROBE = """
import json, sys
from tests.test_profiled import CASES, _case
from shrinkvis import scenario
from shrinkvis.fit import fit
from shrinkvis.fit.profiled import fit_profiled
from shrinkvis.simulate import simulate

criteria = {}
for name in CASES:
    _, stats, random = _case(name)
    criteria[name] = [fit_profiled(stats, random, method).criterion for method in ("REML", "ML")]
baseline = scenario.load("baseline")
estimates = fit(simulate(baseline.data), baseline.model)
print(json.dumps({"criteria": criteria, "baseline_converged": estimates.converged,
                  "scipy": sorted(name for name in sys.modules if name.split(".")[0] == "scipy")}))
"""


def test_ordinary_fits_load_no_scipy() -> None:
    root = Path(__file__).resolve().parents[1]
    result = subprocess.run(
        [sys.executable, "-c", NO_SCIPY_PROBE], capture_output=True, text=True, cwd=root, check=False
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["scipy"] == []
    assert report["baseline_converged"] is True
    for name in CASES:
        ref, _, _ = _case(name)
        reml, ml = report["criteria"][name]
        assert reml == pytest.approx(ref["reml_criterion"], abs=1e-4)
        assert ml == pytest.approx(ref["ml_deviance"], abs=1e-4)


@pytest.mark.parametrize("name", CASES)
def test_quasi_newton_fallback_still_matches_lme4(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # one Newton iteration cannot settle, so every start ends in scipy's L-BFGS and the Newton polish
    monkeypatch.setattr(profiled, "NEWTON_MAX_ITER", 1)
    fallbacks = []
    quasi_newton = profiled._quasi_newton

    def counted(problem, start):
        fallbacks.append(np.array(start))
        return quasi_newton(problem, start)

    monkeypatch.setattr(profiled, "_quasi_newton", counted)
    ref, stats, random = _case(name)
    fit = fit_profiled(stats, random)  # type: ignore[arg-type]
    assert fallbacks
    assert fit.converged
    assert fit.criterion == pytest.approx(ref["reml_criterion"], abs=1e-4)
    np.testing.assert_allclose(fit.fixed_effects, list(ref["fixed_effects"].values()), rtol=1e-5, atol=0)
    assert fit.sigma == pytest.approx(ref["residual_sd"], rel=1e-5)
    sd = np.sqrt(np.diag(fit.cov_re))
    _close_sd(sd[0], ref["sd_intercept"])
    if random == "slope":
        _close_sd(sd[1], ref["sd_slope"])
        assert fit.cov_re[0, 1] / (sd[0] * sd[1]) == pytest.approx(ref["corr"], abs=1e-3)
    assert fit.is_singular == ref["is_singular"]
    np.testing.assert_allclose(
        fit.fixed_effects[0] + fit.blup[:, 0], _column(ref, "partial_intercept"), rtol=0, atol=1e-4
    )
    if name == "singular_s8":
        assert fit.theta[2] == 0.0  # the fallback lands on the boundary exactly too


def test_newton_alone_settles_on_the_reference_fits() -> None:
    # the same fits as above without the cap: Newton's own optimum, no fallback
    for name in CASES:
        _, stats, random = _case(name)
        problem = profiled._Problem(stats, random, "REML")
        lme4_start = np.array([1.0, 0.0, 1.0]) if random == "slope" else np.array([1.0])
        for start in (lme4_start, problem.moment_start()):
            theta, f, stationary = profiled._descend(problem, start)
            assert stationary, (name, start)
            assert f == pytest.approx(_fit(name).criterion, abs=1e-6)


def test_a_flat_near_singular_valley_goes_past_lme4() -> None:
    # Intercepts and slopes simulated perfectly correlated: the optimum lies in a long flat valley at
    # theta = [0.001, -0.16, 0], where Newton crawls and scipy's L-BFGS takes over. lme4 1.1-31 (bobyqa)
    # stops on the other boundary, theta = [0, 0.102, 0.125], with REML criterion 10592.9403593863.
    spec = DataSpec(
        obs_per_cluster=4,
        n_cluster=400,
        intercept=7.27,
        beta=-2.54,
        sigma=6.64,
        sd_int=0.3,
        sd_slope=1.0,
        cor=-1.0,
        seed=198,
    )
    data = simulate(spec)
    stats = cluster_stats(data["y"].to_numpy(), data["x"].to_numpy(), data["cluster"].to_numpy() - 1, 400)
    fit = fit_profiled(stats, "slope")
    assert fit.converged and fit.is_singular
    assert fit.theta[2] == 0.0 and 0.0 < fit.theta[0] < 0.01
    assert fit.criterion < 10592.9403593863 - 1e-4
    for i in range(3):
        for h in (1e-6, 1e-4):
            theta = fit.theta.copy()
            theta[i] += h
            assert criterion_at(stats, "slope", theta) >= fit.criterion - 1e-9


@pytest.mark.parametrize("name", CASES)
def test_the_criterion_at_many_thetas_at_once_is_the_criterion_at_each(name) -> None:
    """`criterion_many` (the Bayesian sampler's batches, in blocks of MANY_CELLS) against `evaluate`."""
    _, stats, random = _case(name)
    problem = profiled._Problem(stats, random, "REML")
    rng = np.random.default_rng(7)
    thetas = rng.normal(size=(40, 3 if random == "slope" else 1)) * np.exp(rng.normal(size=(40, 1)))
    old_cells = profiled._Problem.MANY_CELLS
    try:
        profiled._Problem.MANY_CELLS = 3 * stats.n_groups  # blocks of 3 rows: the last one short
        f, beta, a_inv, r2 = problem.criterion_many(thetas)
    finally:
        profiled._Problem.MANY_CELLS = old_cells
    for k, theta in enumerate(thetas):
        one = problem.evaluate(theta)
        assert f[k] == pytest.approx(one.f, rel=1e-11, abs=1e-9)
        assert r2[k] == pytest.approx(one.r2, rel=1e-11)
        np.testing.assert_allclose(beta[k], one.beta_c, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(a_inv[k], one.a_inv, rtol=1e-9, atol=1e-15)
