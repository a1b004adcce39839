"""The fit does not depend on where y and x sit: shifting either by up to 1e9 × its spread gives the same
model (issue 13). The REML criterion, σ and the slope side are unchanged; the intercept side is the same
model for the intercept at the new x = 0, i.e. the unshifted fit moved through the Jacobian of the shift
(shrinkvis/fit/centring.py) — checked that way round, where no digits cancel."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from shrinkvis.fit import convergence_warning, fit
from shrinkvis.fit.centring import uncentre_cov, uncentre_effects, uncentre_fixed
from shrinkvis.fit.estimates import EngineFit
from shrinkvis.fit.profiled import cluster_stats, fit_profiled
from shrinkvis.scenario import ModelSpec

SHIFTS = [10.0**k for k in range(2, 10)]
MODELS = [("slope", True), ("intercept", True), ("intercept", False)]


def _recipe(seed: int = 112, x_mean: float = 0.0) -> pd.DataFrame:
    """The issue's data: 40 clusters × 10 rows, x ~ N(0, 1), β = (2, 1), SDs (1, 0.5), ρ = 0.3, σ = 1."""
    rng = np.random.default_rng(seed)
    cluster = np.repeat(np.arange(40), 10)
    x = rng.normal(size=cluster.size)
    cov = np.array([[1.0, 0.3 * 0.5], [0.3 * 0.5, 0.25]])
    effects = rng.multivariate_normal([0.0, 0.0], cov, 40)
    y = 2.0 + x + effects[cluster, 0] + effects[cluster, 1] * x + rng.normal(size=cluster.size)
    return pd.DataFrame({"y": y, "x": x + x_mean, "cluster": cluster})


@pytest.fixture(scope="module")
def data() -> pd.DataFrame:
    return _recipe()


def _frame(data: pd.DataFrame, has_x: bool, y_shift: float = 0.0, x_shift: float = 0.0) -> pd.DataFrame:
    frame = data.assign(y=data["y"] + y_shift, x=data["x"] + x_shift)
    return frame if has_x else frame.drop(columns="x")


def _moved(values: np.ndarray, expected: np.ndarray, rtol: float = 1e-6) -> None:
    """Equal up to the rounding of the shifted values: relative to the largest magnitude involved."""
    scale = max(float(np.nanmax(np.abs(expected))), 1e-300)
    np.testing.assert_allclose(values, expected, rtol=0, atol=rtol * scale)


@pytest.mark.parametrize("shift", SHIFTS)
@pytest.mark.parametrize(
    ("random", "has_x", "moved"),
    [(random, has_x, moved) for random, has_x in MODELS for moved in "yx" if has_x or moved == "y"],
)
def test_a_shift_of_y_or_x_gives_the_unshifted_fit(data, random, has_x, moved, shift):
    model = ModelSpec(random=random)
    base = fit(_frame(data, has_x), model)
    y_shift, x_shift = (shift * data["y"].std(), 0.0) if moved == "y" else (0.0, shift * data["x"].std())
    shifted = fit(_frame(data, has_x, y_shift, x_shift), model)

    assert shifted.criterion == pytest.approx(base.criterion, abs=1e-4)
    assert (shifted.converged, shifted.is_singular, shifted.warnings) == (
        base.converged,
        base.is_singular,
        (),
    )
    assert shifted.residual_sd == pytest.approx(base.residual_sd, rel=1e-7)
    fixed, _ = uncentre_fixed(
        np.array(list(base.fixed_effects.values())),
        np.diag(list(base.std_errors.values())) ** 2,
        y_shift,
        x_shift,
    )
    _moved(np.array(list(shifted.fixed_effects.values())), fixed)
    # the slope's SE is unchanged, the intercept's is the one at the new x = 0 (checked below, in full)
    assert list(shifted.std_errors.values())[1:] == pytest.approx(
        list(base.std_errors.values())[1:], rel=1e-6
    )
    _moved(shifted.cov_re, uncentre_cov(base.cov_re, x_shift))

    table, reference = shifted.clusters, base.clusters
    for column in ("partial_slope", "partial_slope_se", "no_pool_slope", "no_pool_slope_se"):
        np.testing.assert_allclose(table[column], reference[column], rtol=1e-6, equal_nan=True)
    for column in ("partial_intercept", "no_pool_intercept"):
        slope = reference["partial_slope" if column == "partial_intercept" else "no_pool_slope"]
        expected = reference[column] + y_shift - (x_shift * slope if has_x else 0.0)
        _moved(table[column].to_numpy(), expected.to_numpy())
    if moved == "y":
        for column in ("partial_intercept_se", "no_pool_intercept_se"):
            np.testing.assert_allclose(table[column], reference[column], rtol=1e-6, equal_nan=True)
    assert shifted.no_pooling["residual_sd"] == pytest.approx(base.no_pooling["residual_sd"], rel=1e-6)
    complete = np.array(list(shifted.complete_pooling["estimates"].values()))
    expected_complete, _ = uncentre_fixed(
        np.array(list(base.complete_pooling["estimates"].values())), np.eye(len(complete)), y_shift, x_shift
    )
    _moved(complete, expected_complete)


@pytest.mark.parametrize("random", ["slope", "intercept"])
@pytest.mark.parametrize("shift", [1e3, 1e6, 1e9])
def test_under_a_shift_of_x_every_covariance_moves_with_the_jacobian(data, random, shift):
    codes = data["cluster"].to_numpy()
    y, x = data["y"].to_numpy(), data["x"].to_numpy()
    base = fit_profiled(cluster_stats(y, x, codes, 40), random)  # type: ignore[arg-type]
    moved = fit_profiled(cluster_stats(y, x + shift, codes, 40), random)  # type: ignore[arg-type]
    assert moved.criterion == pytest.approx(base.criterion, abs=1e-5)
    fixed, fixed_cov = uncentre_fixed(base.fixed_effects, base.fixed_cov, 0.0, shift)
    _moved(moved.fixed_effects, fixed)
    _moved(moved.fixed_cov, fixed_cov)
    _moved(moved.cov_re, uncentre_cov(base.cov_re, shift))
    _moved(moved.blup, uncentre_effects(base.blup, shift))
    for j in range(40):
        _moved(moved.blup_cov[j], uncentre_cov(base.blup_cov[j], shift))
    # lme4's θ is for the x as given; the fit's own (centred) θ does not move
    np.testing.assert_allclose(moved.centred_theta, base.centred_theta, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("spreads", [50, 100, 1000, 1e5])
def test_x_far_from_zero_is_no_false_alarm(spreads):
    # x like a calendar year or an age in days: its mean many SDs from 0
    data = _recipe(seed=7)
    far = data.assign(x=data["x"] + spreads * data["x"].std())
    estimates = fit(far)
    assert estimates.converged and not estimates.is_singular
    assert estimates.warnings == ()
    assert estimates.gradient_norm < 1e-6
    assert estimates.criterion == pytest.approx(fit(data).criterion, abs=1e-6)


def test_advice_for_a_fit_that_did_not_converge_names_what_helps():
    stuck = EngineFit(
        fixed_effects=np.zeros(2),
        fixed_cov=np.eye(2),
        cov_re=np.eye(2),
        sigma=1.0,
        blup=np.zeros((3, 2)),
        blup_cov=np.zeros((3, 2, 2)),
        criterion=1.0,
        method="REML",
        converged=False,
        is_singular=False,
        gradient_norm=0.5,
    )
    exact = convergence_warning(stuck, ModelSpec())
    assert exact.startswith(
        "the exact fit did not converge (largest gradient of the REML criterion in θ: 0.5)"
    )
    assert "model.random: intercept" in exact and "statsmodels" not in exact
    short = EngineFit(**{**stuck.__dict__, "optimum_gap": 0.25, "optimum_is_singular": True})
    assert convergence_warning(short, ModelSpec(engine="statsmodels")) == (
        "the statsmodels fit did not converge: MixedLM stopped 0.25 above the optimum of the REML criterion, "
        "which is a singular fit; do not trust the partial-pooling estimates (model.engine: exact reaches "
        "the optimum)"
    )
