"""The numbers behind the picture: pooling comparison, shrinkage per cluster, report.md."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from shrinkvis import report as reports
from shrinkvis.data import ModelData
from shrinkvis.fit import fit
from shrinkvis.fit.shrinkage import (
    blup_identity_error,
    intercept_weights,
    pooling_comparison,
    shrinkage_table,
)
from shrinkvis.scenario import DataSpec, ModelSpec
from shrinkvis.simulate import simulate

from .conftest import load_reference


def _reference_frame(case: str) -> tuple[pd.DataFrame, dict]:
    data, expected = load_reference(case)
    columns = expected["columns"]
    frame = pd.DataFrame({"y": data[columns["y"]], "cluster": data[columns["group"]]})
    if columns["x"]:
        frame["x"] = data[columns["x"]]
    return frame, expected


def _balanced_random_intercepts(
    n_clusters: int, rows: int, psi: float, theta: float, seed: int
) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    effects = rng.normal(0.0, np.sqrt(psi), n_clusters)
    cluster = np.repeat(np.arange(n_clusters), rows)
    y = 2.0 + effects[cluster] + rng.normal(0.0, np.sqrt(theta), n_clusters * rows)
    return pd.DataFrame({"y": y, "cluster": cluster})


def test_pooling_standard_errors_follow_the_balanced_random_intercept_formulas():
    n_clusters, rows = 400, 8
    frame = _balanced_random_intercepts(n_clusters, rows, psi=0.5, theta=2.0, seed=11)
    estimates = fit(frame, ModelSpec(random="intercept"))
    psi, theta = float(estimates.cov_re[0, 0]), estimates.residual_sd**2
    assert psi == pytest.approx(0.5, rel=0.2) and theta == pytest.approx(2.0, rel=0.05)  # a sane fit

    (row,) = pooling_comparison(estimates)
    se = row.std_errors
    # complete pooling: one OLS whose SE treats all J·n rows as independent
    assert se["complete_pooling"] == pytest.approx(np.sqrt((psi + theta) / (n_clusters * rows)), rel=5e-3)
    # partial pooling: the GLS mean of balanced clusters, exact
    assert se["partial_pooling"] == pytest.approx(np.sqrt((psi + theta / rows) / n_clusters), rel=1e-6)
    # no pooling: each cluster's mean with the pooled within-cluster variance, which REML's θ equals here
    assert se["no_pooling"] == pytest.approx(np.sqrt(theta / rows), rel=1e-6)
    assert se["complete_pooling"] < se["partial_pooling"] < se["no_pooling"]
    # the estimates: all three are the grand mean for balanced data without predictor
    assert row.estimates["complete_pooling"] == pytest.approx(row.estimates["partial_pooling"], rel=1e-9)
    assert row.estimates["no_pooling"] == pytest.approx(frame["y"].mean(), rel=1e-12)


def test_no_pooling_standard_errors_are_one_regression_with_a_pooled_residual_variance():
    data = simulate(DataSpec(n_cluster=12, obs_per_cluster=6, balanced=0.7, seed=5))
    estimates = fit(data, ModelSpec())
    # the no-pooling model as one least-squares fit: an intercept and a slope column per cluster
    # clusters of two rows are fitted exactly and add no residual degree of freedom, so they do not change
    # the pooled variance: the regression needs only the clusters with three or more rows
    codes, labels = pd.factorize(data["cluster"], sort=True)
    own = np.bincount(codes) >= 3
    assert (~own).any()  # the data have small clusters
    rows = own[codes]
    design = np.zeros((rows.sum(), 2 * own.sum()))
    index = np.cumsum(own) - 1
    for row, (code, x) in enumerate(zip(codes[rows], data["x"].to_numpy()[rows], strict=True)):
        design[row, 2 * index[code]] = 1.0
        design[row, 2 * index[code] + 1] = x
    y = data["y"].to_numpy()[rows]
    coef, rss, *_ = np.linalg.lstsq(design, y, rcond=None)
    variance = rss[0] / (len(y) - design.shape[1])
    se = np.sqrt(variance * np.diag(np.linalg.inv(design.T @ design)))
    table = estimates.clusters.set_index("cluster").loc[labels[own]]
    assert np.allclose(table["no_pool_intercept"], coef[0::2], atol=1e-10)
    assert np.allclose(table["no_pool_slope"], coef[1::2], atol=1e-10)
    assert np.allclose(table["no_pool_intercept_se"], se[0::2], rtol=1e-8)
    assert np.allclose(table["no_pool_slope_se"], se[1::2], rtol=1e-8)
    assert estimates.no_pooling["residual_sd"] == pytest.approx(np.sqrt(variance), rel=1e-10)


@pytest.mark.parametrize(
    ("case", "random"),
    [("intercept_only_s7", "intercept"), ("random_intercept_s1", "intercept")],
)
def test_random_intercept_blups_are_weighted_averages(case, random):
    frame, _ = _reference_frame(case)
    estimates = fit(frame, ModelSpec(random=random))
    weights = intercept_weights(estimates)
    psi, theta = float(estimates.cov_re[0, 0]), estimates.residual_sd**2
    n = estimates.clusters["n"].to_numpy(dtype=float)
    assert np.allclose(weights, psi / (psi + theta / n))
    # BLUP_j = λ_j · (cluster mean adjusted for x) + (1 − λ_j) · fixed intercept, computed by hand here
    means = frame.groupby("cluster", sort=False).mean().loc[estimates.clusters["cluster"]]
    adjusted = means["y"].to_numpy()
    if "x" in frame:
        adjusted = adjusted - estimates.fixed_effects["x"] * means["x"].to_numpy()
    expected = weights * adjusted + (1 - weights) * estimates.fixed_effects["Intercept"]
    assert np.allclose(estimates.clusters["partial_intercept"], expected, rtol=0, atol=1e-9)
    assert blup_identity_error(estimates) < 1e-9
    table = shrinkage_table(estimates)
    assert np.allclose(table["shrinkage"], 1 - weights, atol=1e-9)


def test_unbalanced_random_intercepts_shrink_small_clusters_more():
    data = simulate(DataSpec(n_cluster=40, obs_per_cluster=12, balanced=0.4, seed=2))
    estimates = fit(data, ModelSpec(random="intercept"))
    table = shrinkage_table(estimates).sort_values("n")
    assert table["n"].nunique() > 4
    assert blup_identity_error(estimates) < 1e-9
    # 1 − λ falls with n: a bigger cluster trusts its own mean more
    assert np.all(np.diff(table.groupby("n")["shrinkage"].mean().to_numpy()) < 0)


def test_random_slope_shrinkage_is_a_share_of_the_distance():
    frame, _ = _reference_frame("unbalanced_s6")
    estimates = fit(frame, ModelSpec())
    table = shrinkage_table(estimates)
    assert "weight" not in table and blup_identity_error(estimates) is None
    own = table[["no_pool_intercept", "no_pool_slope"]].to_numpy()
    partial = table[["partial_intercept", "partial_slope"]].to_numpy()
    center = estimates.fixed_point
    spread = np.nanstd(own, axis=0, ddof=1)
    before = np.hypot(*((own - center) / spread).T)
    after = np.hypot(*((partial - center) / spread).T)
    assert np.allclose(table["shrinkage"], 1 - after / before, equal_nan=True)
    assert table["shrinkage"].between(0, 1).all()
    # smaller clusters are pulled further on average
    by_size = table.groupby("n")["shrinkage"].mean()
    assert by_size.iloc[0] > by_size.iloc[-1]


def _model_data(frame: pd.DataFrame, x: str | None = "x", dropped: int = 0) -> ModelData:
    return ModelData(frame, "mine.csv", "y", "school", x, dropped)


def test_single_row_clusters_are_kept_and_shown_as_such():
    frame = pd.DataFrame(
        {
            "y": [1.0, 2.0, 2.5, 3.0, 3.5, 5.0, 4.0, 4.2, 6.0, 0.5],
            "x": [0.0, 1.0, 2.0, 0.0, 1.0, 2.0, 0.0, 1.0, 2.0, 1.0],
            "cluster": ["a", "a", "a", "b", "b", "b", "c", "c", "c", "lonely"],
        }
    )
    estimates = fit(frame, ModelSpec())
    assert estimates.n_groups == 4
    report = reports.build(estimates, _model_data(frame), "Mine")
    assert report.data.single_row_clusters == ["lonely"]
    sentence = reports.single_row_sentence(report)
    assert sentence.startswith("1 cluster with a single row (lonely) kept: it informs the intercept")
    headings, rows = reports.shrinkage_rows(report)
    lonely = rows[[row[0] for row in rows].index("lonely")]
    assert lonely[headings.index("note")] == "single row; no own estimate"
    assert lonely[headings.index("shrinkage")] == "—"
    assert np.isfinite(estimates.clusters.set_index("cluster").loc["lonely", "partial_intercept"])
    text = reports.markdown(report)
    assert sentence in text and "| lonely | 1 | — |" in text


def test_report_markdown_has_every_section_and_the_numbers():
    frame, expected = _reference_frame("intercept_only_s7")
    estimates = fit(frame, ModelSpec(random="intercept"))
    data = ModelData(frame, "schools.csv", "score", "school", None, 3)
    text = reports.markdown(reports.build(estimates, data, "Schools"))
    assert text.startswith("# Schools: the numbers behind the picture\n")
    assert (
        "**Data.** schools.csv: 200 rows in 25 clusters (column school), 8 rows each; 3 rows with missing"
        in text
    )
    assert "**Model.** `score ~ 1 + (1 | school)`, fitted by REML with the exact engine." in text
    for heading in ("## Model summary", "## Complete, no and partial pooling", "## Shrinkage per cluster"):
        assert heading in text
    assert "## Warnings" not in text
    assert f"| (Intercept) | {expected['fixed_effects']['Intercept']:.4f} (" in text
    assert "BLUP_j = λ_j · (adjusted mean_j) + (1 − λ_j) · β₀" in text
    assert "![Shrinkage against cluster size](shrinkage_by_size.png)" in text
    assert text.count("\n| ") == (1 + 1) + (1 + 25)  # two tables: a heading and the rows each


def test_singular_fit_gets_a_plain_words_warning_with_the_fix():
    frame, _ = _reference_frame("singular_s8")
    estimates = fit(frame, ModelSpec())
    (warning,) = estimates.warnings
    assert warning.startswith("singular fit: intercepts and slopes of x perfectly correlated (corr = 1.00)")
    assert (
        "collapse toward zero" in warning and "Fix: drop the random slope or add rows per cluster." in warning
    )
    text = reports.markdown(reports.build(estimates, _model_data(frame), "Singular"))
    assert "## Warnings\n\n- **Singular fit.** Intercepts and slopes of x perfectly correlated" in text
    assert "do not read the clusters' precision from it" in text


def test_a_fit_that_did_not_converge_is_reported_in_plain_words():
    import dataclasses

    frame, _ = _reference_frame("baseline_s1")
    estimates = fit(frame, ModelSpec())
    message = (
        "the exact fit did not converge: do not trust the partial-pooling estimates (try the other engine)"
    )
    failed = dataclasses.replace(estimates, converged=False, warnings=(message,))
    text = reports.markdown(reports.build(failed, _model_data(frame), "Baseline"))
    assert "## Warnings\n\n- **No convergence.** The exact fit did not converge: do not trust" in text


def test_integer_cluster_labels_are_printed_as_integers():
    """Simulated clusters are 1, 2, …: report.md says "1", as estimates.csv does, never "1.0"."""
    frame = simulate(DataSpec(n_cluster=5, obs_per_cluster=6, seed=3))
    assert pd.api.types.is_integer_dtype(frame["cluster"])
    report = reports.build(fit(frame, ModelSpec()), _model_data(frame), "Simulated")
    headings, rows = reports.shrinkage_rows(report)
    assert sorted(row[0] for row in rows) == ["1", "2", "3", "4", "5"]
    assert all(row[headings.index("n")].isdigit() for row in rows)
    text = reports.markdown(report)
    assert "| 1 | " in text and "| 1.0 |" not in text
