from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from shrinkvis.errors import DataError
from shrinkvis.fit import CLUSTER_COLUMNS, fit
from shrinkvis.fit.pooling import complete_pool
from shrinkvis.fit.profiled import cluster_stats, no_pool
from shrinkvis.scenario import DataSpec, ModelSpec
from shrinkvis.simulate import simulate

from .conftest import LME4_CASES, load_reference


def _as_model_frame(data: pd.DataFrame, expected: dict) -> pd.DataFrame:
    columns = expected["columns"]
    frame = {"y": data[columns["y"]], "cluster": data[columns["group"]]}
    if columns["x"]:
        frame["x"] = data[columns["x"]]
    return pd.DataFrame(frame)


def test_no_pool_equals_an_independent_least_squares_solve_per_cluster():
    data = simulate(DataSpec(n_cluster=30, obs_per_cluster=6, balanced=0.6, seed=3))
    codes, labels = pd.factorize(data["cluster"], sort=True)
    stats = cluster_stats(data["y"].to_numpy(), data["x"].to_numpy(), codes, len(labels))
    intercept, slope = no_pool(stats)
    for j in range(len(labels)):
        rows = data[codes == j]
        if len(rows) < 2:
            assert np.isnan(intercept[j]) and np.isnan(slope[j])
            continue
        design = np.column_stack([np.ones(len(rows)), rows["x"]])
        solution = np.linalg.lstsq(design, rows["y"], rcond=None)[0]
        assert intercept[j] == pytest.approx(solution[0], abs=1e-10)
        assert slope[j] == pytest.approx(solution[1], abs=1e-10)


def test_no_pool_is_missing_where_not_identifiable():
    y = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    x = np.array([0.5, 0.5, 0.5, 1.0, 0.0, 2.0])
    codes = np.array([0, 0, 0, 1, 2, 2])  # constant x; a single row; a proper pair
    intercept, slope = no_pool(cluster_stats(y, x, codes, 3))
    assert np.isnan(intercept[:2]).all() and np.isnan(slope[:2]).all()
    assert slope[2] == pytest.approx(0.5) and intercept[2] == pytest.approx(5.0)


@pytest.mark.parametrize("case", ["baseline_s1", "random_intercept_s1", "intercept_only_s7"])
def test_complete_pool_matches_r_lm(case):
    data, expected = load_reference(case)
    frame = _as_model_frame(data, expected)
    x = frame["x"].to_numpy() if "x" in frame else None
    coef, se = complete_pool(frame["y"].to_numpy(), x)
    reference = expected["complete_pooling"]
    assert coef == pytest.approx(list(reference["estimates"].values()), rel=1e-10)
    assert se == pytest.approx(list(reference["std_errors"].values()), rel=1e-8)


def _reference_table(estimates, expected):
    table = estimates.clusters.set_index("cluster")
    return table, pd.DataFrame(expected["clusters"]).set_index("cluster").loc[table.index]


def _close(actual, expected, rel):
    """lme4's tolerance convention: relative, but 1e-5 absolute for values under 0.01."""
    return actual == pytest.approx(expected, rel=rel, abs=1e-5 if abs(expected) < 0.01 else 0)


@pytest.mark.parametrize("case", LME4_CASES)
@pytest.mark.parametrize("method", ["REML", "ML"])
def test_default_engine_matches_lme4(case, method):
    data, expected = load_reference(case)
    random = "slope" if "(x |" in expected["formula"] else "intercept"
    estimates = fit(_as_model_frame(data, expected), ModelSpec(random=random, method=method))
    assert estimates.engine == "exact"
    assert estimates.converged
    if method == "ML":
        assert estimates.criterion == pytest.approx(expected["ml_deviance"], abs=1e-4)
        return
    assert estimates.criterion == pytest.approx(expected["reml_criterion"], abs=1e-4)
    assert estimates.is_singular == expected["is_singular"]
    for name, value in expected["fixed_effects"].items():
        key = "x" if name == expected["columns"]["x"] else name
        assert estimates.fixed_effects[key] == pytest.approx(value, rel=1e-5)
        assert _close(estimates.std_errors[key], expected["std_errors"][name], rel=1e-4)
    assert _close(estimates.sd_intercept, expected["sd_intercept"], rel=1e-4)
    if expected["sd_slope"] is not None:
        assert _close(estimates.sd_slope, expected["sd_slope"], rel=1e-4)
        assert estimates.corr == pytest.approx(expected["corr"], abs=1e-3)
    assert estimates.residual_sd == pytest.approx(expected["residual_sd"], rel=1e-5)

    table, reference = _reference_table(estimates, expected)
    assert (table["n"] == reference["n"]).all()
    columns = ["partial_intercept", "partial_intercept_se"]
    if random == "slope":
        columns += ["partial_slope", "partial_slope_se"]
    for column in columns:
        assert np.allclose(table[column], reference[column], rtol=0, atol=1e-4), column
    for column in ("no_pool_intercept", "no_pool_slope"):
        expected_values = reference[column].astype(float)
        assert np.allclose(table[column], expected_values, rtol=0, atol=1e-8, equal_nan=True), column


def test_mixedlm_matches_lme4_on_baseline():
    data, expected = load_reference("baseline_s1")
    estimates = fit(_as_model_frame(data, expected), ModelSpec(engine="statsmodels"))
    assert estimates.converged
    assert not estimates.is_singular
    for name, value in expected["fixed_effects"].items():
        assert estimates.fixed_effects[name] == pytest.approx(value, rel=1e-4)
    assert estimates.sd_intercept == pytest.approx(expected["sd_intercept"], rel=1e-3)
    assert estimates.sd_slope == pytest.approx(expected["sd_slope"], rel=1e-3)
    assert estimates.residual_sd == pytest.approx(expected["residual_sd"], rel=1e-3)
    assert estimates.corr == pytest.approx(expected["corr"], abs=1e-2)
    assert estimates.criterion == pytest.approx(expected["reml_criterion"], abs=1e-3)

    table, reference = _reference_table(estimates, expected)
    assert list(estimates.clusters.columns)[: len(CLUSTER_COLUMNS)] == list(CLUSTER_COLUMNS)
    assert (table["n"] == reference["n"]).all()
    for column in ("partial_intercept", "partial_slope", "partial_intercept_se", "partial_slope_se"):
        assert np.allclose(table[column], reference[column], atol=1e-3), column
    for column in ("no_pool_intercept", "no_pool_slope"):
        assert np.allclose(table[column], reference[column], atol=1e-8), column


def test_fewer_than_three_clusters_is_a_data_error():
    data = pd.DataFrame({"y": [1.0, 2, 3, 4], "x": [0.0, 1, 0, 1], "cluster": ["a", "a", "b", "b"]})
    with pytest.raises(DataError, match="at least 3"):
        fit(data)


@pytest.mark.parametrize(
    "case", ["fewer_obs_s4", "more_subject_var_s2", "unbalanced_s6", "random_intercept_s1"]
)
def test_engines_agree_where_mixedlm_converges(case):
    data, expected = load_reference(case)
    frame = _as_model_frame(data, expected)
    random = "slope" if "(x |" in expected["formula"] else "intercept"
    statsmodels = fit(frame, ModelSpec(random=random, engine="statsmodels"))
    exact = fit(frame, ModelSpec(random=random, engine="exact"))
    if not statsmodels.converged:
        assert any("did not converge" in warning for warning in statsmodels.warnings)
        pytest.skip(f"MixedLM did not converge on {case}; nothing to cross-check")
    for name in exact.fixed_effects:
        assert statsmodels.fixed_effects[name] == pytest.approx(exact.fixed_effects[name], rel=1e-3, abs=1e-4)
    assert statsmodels.sd_intercept == pytest.approx(exact.sd_intercept, rel=1e-2)
    assert statsmodels.residual_sd == pytest.approx(exact.residual_sd, rel=1e-3)
    assert statsmodels.criterion == pytest.approx(exact.criterion, abs=1e-2)
    assert np.allclose(
        statsmodels.clusters["partial_intercept"], exact.clusters["partial_intercept"], atol=1e-2
    )
