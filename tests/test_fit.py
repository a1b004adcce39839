from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from shrinkvis.errors import DataError
from shrinkvis.fit import CLUSTER_COLUMNS, fit
from shrinkvis.fit.pooling import complete_pool, no_pool, no_pool_std_errors
from shrinkvis.scenario import DataSpec, ModelSpec
from shrinkvis.simulate import simulate

from .conftest import load_reference


def _as_model_frame(data: pd.DataFrame, expected: dict) -> pd.DataFrame:
    columns = expected["columns"]
    frame = {"y": data[columns["y"]], "cluster": data[columns["group"]]}
    if columns["x"]:
        frame["x"] = data[columns["x"]]
    return pd.DataFrame(frame)


def test_no_pool_equals_an_independent_least_squares_solve_per_cluster():
    data = simulate(DataSpec(n_cluster=30, obs_per_cluster=6, balanced=0.6, seed=3))
    codes, labels = pd.factorize(data["cluster"], sort=True)
    intercept, slope = no_pool(data["y"].to_numpy(), data["x"].to_numpy(), codes, len(labels))
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
    intercept, slope = no_pool(y, x, codes, 3)
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

    table = estimates.clusters.set_index("cluster")
    reference = pd.DataFrame(expected["clusters"]).set_index("cluster").loc[table.index]
    assert list(estimates.clusters.columns) == list(CLUSTER_COLUMNS)
    assert (table["n"] == reference["n"]).all()
    for column in ("partial_intercept", "partial_slope", "partial_intercept_se", "partial_slope_se"):
        assert np.allclose(table[column], reference[column], atol=1e-3), column
    for column in ("no_pool_intercept", "no_pool_slope"):
        assert np.allclose(table[column], reference[column], atol=1e-8), column


def test_fewer_than_three_clusters_is_a_data_error():
    data = pd.DataFrame({"y": [1.0, 2, 3, 4], "x": [0.0, 1, 0, 1], "cluster": ["a", "a", "b", "b"]})
    with pytest.raises(DataError, match="at least 3"):
        fit(data)


def test_no_pool_standard_errors_are_those_of_one_regression_with_a_line_per_cluster():
    data = simulate(DataSpec(n_cluster=12, obs_per_cluster=5, balanced=0.7, seed=4))
    codes, labels = pd.factorize(data["cluster"], sort=True)
    y, x = data["y"].to_numpy(), data["x"].to_numpy()
    intercept, slope = no_pool(y, x, codes, len(labels))
    intercept_se, slope_se = no_pool_std_errors(y, x, codes, len(labels), intercept, slope)
    # the same model as one OLS: an intercept and a slope per (identifiable) cluster, one residual variance
    keep = np.isfinite(intercept)[codes]
    groups = np.flatnonzero(np.isfinite(intercept))
    design = np.column_stack(
        [(codes[keep] == j).astype(float) for j in groups] + [(codes[keep] == j) * x[keep] for j in groups]
    )
    coef, residual_ss, _, _ = np.linalg.lstsq(design, y[keep], rcond=None)
    cov = residual_ss[0] / (keep.sum() - design.shape[1]) * np.linalg.inv(design.T @ design)
    se = np.sqrt(np.diag(cov))
    assert np.allclose(intercept[groups], coef[: len(groups)])
    assert np.allclose(intercept_se[groups], se[: len(groups)])
    assert np.allclose(slope_se[groups], se[len(groups) :])
    assert np.all(np.isnan(intercept_se[~np.isfinite(intercept)]))
