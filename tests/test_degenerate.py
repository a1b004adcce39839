"""Degenerate data says so: no residual variation, a perfect fit, or a random slope no cluster can show is
one line naming what is wrong, on the in-memory path and from the sums, never a "converged" fit."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from shrinkvis.aggregate import file_sums
from shrinkvis.cli import app
from shrinkvis.errors import DataError
from shrinkvis.fit import fit
from shrinkvis.fit.sums import fit_sums
from shrinkvis.scenario import ModelSpec


def _rows(kind: str) -> pd.DataFrame:
    rng = np.random.default_rng(7)
    cluster = np.repeat(np.arange(6), 8)
    x = rng.normal(size=len(cluster))
    intercept = 10 + 3 * rng.normal(size=6)
    slope = 2 + rng.normal(size=6)
    if kind == "constant_within":
        return pd.DataFrame({"y": intercept[cluster], "cluster": cluster})
    if kind == "exact_common_slope":
        return pd.DataFrame({"y": intercept[cluster] + 2.5 * x, "x": x, "cluster": cluster})
    if kind == "exact_lines":
        return pd.DataFrame({"y": intercept[cluster] + slope[cluster] * x, "x": x, "cluster": cluster})
    # x takes one value per cluster: no cluster shows a slope
    x_of_cluster = rng.normal(size=6)[cluster]
    return pd.DataFrame(
        {"y": intercept[cluster] + rng.normal(size=len(cluster)), "x": x_of_cluster, "cluster": cluster}
    )


CASES = [
    ("constant_within", "intercept", "y does not vary within any cluster: there is no residual variation"),
    ("exact_common_slope", "intercept", "y is exactly its cluster's intercept plus one common slope"),
    ("exact_lines", "slope", "y lies exactly on a line within every cluster: there is no residual variation"),
    ("one_x_per_cluster", "slope", "x takes one value within every cluster"),
]


@pytest.mark.parametrize(("kind", "random", "message"), CASES)
def test_degenerate_data_is_one_line_on_both_paths(tmp_path, kind, random, message):
    rows = _rows(kind)
    model = ModelSpec(random=random)
    with pytest.raises(DataError, match=message):
        fit(rows, model)
    rows.to_csv(tmp_path / "rows.csv", index=False)
    x = "x" if "x" in rows else None
    with pytest.raises(DataError, match=message):
        fit_sums(file_sums(tmp_path / "rows.csv", y="y", group="cluster", x=x), model)
    args = ["fit", "--data", str(tmp_path / "rows.csv"), "--y", "y", "--group", "cluster"]
    args += ["--x", "x", "--random", random] if x else []
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2, result.output
    assert message in result.output and len(result.output.strip().splitlines()) == 1


def test_a_fit_with_some_residual_variation_still_fits():
    rows = _rows("exact_lines")
    rows.loc[3, "y"] += 1e-3  # one row off its line: a small residual SD, but a real one
    estimates = fit(rows, ModelSpec(random="slope"))
    assert 0 < estimates.residual_sd < 1e-2


def test_bounds_are_one_line_naming_them():
    """Inside the documented limits, 64 chains × 1,000,000 draws would have needed about 20 GB."""
    from shrinkvis.errors import ScenarioError, UserError
    from shrinkvis.fit.checks import check_bayes_budget
    from shrinkvis.formula import parse
    from shrinkvis.scenario import BayesSpec, load

    rows = _rows("one_x_per_cluster").assign(x=np.arange(48) % 5)
    with pytest.raises(
        DataError, match=r"model.bayes: 64 chains × 1,000,000 draws = 64,000,000 draws; at most"
    ):
        fit(rows, ModelSpec(engine="bayes", bayes=BayesSpec(chains=64, draws=1_000_000)))
    with pytest.raises(
        DataError, match=r"4 chains × 500,000 draws × 1,000 clusters = 2,000,000,000 cluster-draws"
    ):
        check_bayes_budget(4, 500_000, 1_000)
    with pytest.raises(UserError, match=r"formula: 8,010 characters; at most 1,000 are allowed"):
        parse("y ~ x + (" + " " * 8000 + "x")
    with pytest.raises(ScenarioError, match=r"20,000 levels; at most 10 are drawn"):
        load(
            "baseline",
            overrides=["animation.contour_levels=[" + ",".join(f"0.{k:05d}1" for k in range(20_000)) + "]"],
        )
