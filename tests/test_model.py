"""The model description (model.py): lme4's formulas with one grouping factor, read and applied to rows,
and `shrinkvis fit --formula` for them (fit/model_fit.py, report.model_json / model_summary)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from shrinkvis.cli import app
from shrinkvis.design import design
from shrinkvis.errors import DataError, UserError
from shrinkvis.fit.blocks import blocks_of
from shrinkvis.fit.lmm import fit_lmm
from shrinkvis.fit.model_fit import fit_design
from shrinkvis.model import Bar, parse_model

from .corpus import write_parquet

CLASS = Path(__file__).parent / "data" / "lme4_class"
runner = CliRunner()


@pytest.fixture(scope="module")
def rows() -> pd.DataFrame:
    return pd.read_csv(CLASS / "class.csv")


@pytest.mark.parametrize(
    ("text", "fixed", "bars", "group"),
    [
        ("y ~ x + (x | g)", "x", (Bar("x"),), "g"),
        ("y ~ 0 + x1 + x2 + (0 + x1 | g)", "0 + x1 + x2", (Bar("0 + x1"),), "g"),
        ("y ~ x + (x || g)", "x", (Bar("x", independent=True),), "g"),
        ("y ~ x + (1 | g) + (0 + x | g)", "x", (Bar("1"), Bar("0 + x")), "g"),
        ("y ~ (1 | g)", "1", (Bar("1"),), "g"),
        ("y ~ log(n) + I(x^2) + (1 + x | g)", "log(n) + I(x^2)", (Bar("1 + x"),), "g"),
        ("y ~ x - 1 + (x | `my group`)", "x - 1", (Bar("x"),), "my group"),
    ],
)
def test_the_parts_of_a_formula(text: str, fixed: str, bars: tuple[Bar, ...], group: str) -> None:
    parsed = parse_model(text)
    assert (parsed.response, parsed.fixed, parsed.bars, parsed.group) == ("y", fixed, bars, group)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        (
            "y ~ x + (1 | g) + (1 | h)",
            "has 2 grouping factors (g, h); shrinkvis fits models with one grouping factor",
        ),
        ("y ~ x + (x | g", "has 1 '(' without a closing ')'"),
        ("y ~ x + x | g)", "has a ')' without its '('"),
        ("y ~ x + x | g", "a random-effects term needs parentheses, as in (x | group)"),
        ("y ~ x", "has no random-effects term; add one such as (1 | group)"),
        ("y x + (1 | g)", "has no '~'"),
        ("log(y) ~ x + (1 | g)", "the response 'log(y)' must be one column name"),
        ("y ~ x + (1 | a/b)", "(nested or crossed groups) is not supported"),
        ("y ~ x + ( | g)", "has nothing before the bar; write (1 | g)"),
    ],
)
def test_what_cannot_be_read_is_named(text: str, fragment: str) -> None:
    with pytest.raises(UserError) as caught:
        parse_model(text)
    assert fragment in str(caught.value)
    assert "\n" not in str(caught.value)


def test_coefficients_are_named_as_lme4_names_them(rows: pd.DataFrame) -> None:
    made = design("y ~ x1 * treat + I(x2^2) + log(n) + (0 + x1 + x2 | cluster)", rows)
    assert made.fixed_names == (
        "(Intercept)",
        "x1",
        "treat" + "B",
        "treatC",
        "I(x2^2)",
        "log(n)",
        "x1:treatB",
        "x1:treatC",
    )
    assert made.random_names == ("x1", "x2")
    np.testing.assert_allclose(made.X[:, 4], rows.x2**2)
    np.testing.assert_allclose(made.X[:, 5], np.log(rows.n))
    np.testing.assert_allclose(made.X[:, 6], rows.x1 * (rows.treat == "B"))
    assert design("y ~ x1 + (x1 || cluster)", rows).blocks == (1, 1)
    assert design("y ~ x1 + (1 + x1 | cluster) + (0 + x2 | cluster)", rows).blocks == (2, 1)


def test_a_missing_column_is_named_with_a_suggestion(rows: pd.DataFrame) -> None:
    with pytest.raises(DataError, match=r"names column 'x4', which is not in the data; did you mean 'x3'\?"):
        design("y ~ x4 + (1 | cluster)", rows)
    with pytest.raises(DataError, match="names column 'clustr'.*did you mean 'cluster'"):
        design("y ~ x1 + (1 | clustr)", rows)


def test_collinear_fixed_columns_are_named(rows: pd.DataFrame) -> None:
    frame = rows.assign(x4=2 * rows.x1 - rows.x2)
    with pytest.raises(DataError, match="rank-deficient: the columns x1, x2, x4 are collinear"):
        fit_lmm(blocks_of(design("y ~ x1 + x2 + x3 + x4 + (1 | cluster)", frame)))


def test_a_random_effect_twice_is_refused(rows: pd.DataFrame) -> None:
    with pytest.raises(UserError, match=r"the random effect x1 appears in two bars"):
        design("y ~ x1 + (x1 | cluster) + (0 + x1 | cluster)", rows)


def test_rows_with_a_missing_value_are_left_out_as_lme4_does(rows: pd.DataFrame) -> None:
    frame = rows.copy()
    frame.loc[[3, 10], "x2"] = np.nan
    made = design("y ~ x1 + x2 + (1 | cluster)", frame)
    assert made.dropped_rows == 2
    assert len(made.y) == len(rows) - 2
    # a column the formula does not use may have gaps
    assert design("y ~ x1 + (1 | cluster)", frame).dropped_rows == 0


def test_no_pooling_is_each_clusters_own_fit_adjusted_for_the_other_fixed_effects(rows: pd.DataFrame) -> None:
    model = fit_design(design("y ~ x1 + x2 + log(n) + (1 + x1 | cluster)", rows))
    label = model.clusters.cluster[0]
    own = rows[rows.cluster == label]
    beta = dict(zip(model.mixed.fixed_names, model.mixed.fixed_effects, strict=True))
    adjusted = own.y - beta["x2"] * own.x2 - beta["log(n)"] * np.log(own.n)
    X = np.column_stack([np.ones(len(own)), own.x1])
    coefficients = np.linalg.lstsq(X, adjusted, rcond=None)[0]
    first = model.clusters.iloc[0]
    assert first.no_pool_intercept == pytest.approx(coefficients[0], rel=1e-9)
    assert first.no_pool_x1 == pytest.approx(coefficients[1], rel=1e-9)
    assert first.partial_x1 == pytest.approx(model.mixed.fixed_effects[1] + model.mixed.blup[0, 1], rel=1e-12)
    # complete pooling is lm(y ~ x1 + x2 + log(n))
    X = np.column_stack([np.ones(len(rows)), rows.x1, rows.x2, np.log(rows.n)])
    lm = np.linalg.lstsq(X, rows.y, rcond=None)[0]
    np.testing.assert_allclose(list(model.complete_pooling["estimates"].values()), lm, rtol=1e-9)


def test_fit_prints_lme4s_summary_and_json(tmp_path: Path) -> None:
    formula = "y ~ x1 + x2 + x3 + (1 + x1 | cluster)"
    ref = json.loads((CLASS / "three_fixed_REML.json").read_text())
    result = runner.invoke(app, ["fit", "--data", str(CLASS / "class.csv"), "--formula", formula, "--json"])
    assert result.exit_code == 0, result.output
    numbers = json.loads(result.output)
    assert numbers["fixed_effects"] == pytest.approx(ref["fixef"], rel=1e-5)
    assert numbers["random_effects"]["group"] == "cluster"
    assert numbers["random_effects"]["sd"] == pytest.approx(ref["sd"], rel=1e-5)
    assert numbers["random_effects"]["cor"]["(Intercept):x1"] == pytest.approx(
        ref["cor"]["(Intercept):x1"], abs=1e-5
    )
    assert numbers["loglik"] == pytest.approx(ref["loglik"], abs=1e-7)
    assert numbers["residual_sd"] == pytest.approx(ref["sigma"], rel=1e-6)
    table = tmp_path / "estimates.csv"
    result = runner.invoke(
        app, ["fit", "--data", str(CLASS / "class.csv"), "--formula", formula, "--estimates", str(table)]
    )
    assert result.exit_code == 0, result.output
    assert "Correlation of Fixed Effects:" in result.output
    assert " cluster    (Intercept)" in result.output
    columns = pd.read_csv(table).columns.tolist()
    assert columns[:2] == ["cluster", "n"]
    assert {"no_pool_intercept", "partial_intercept", "partial_x1", "partial_x1_se", "no_pool_x1"} <= set(
        columns
    )


def test_fit_refuses_in_one_line() -> None:
    result = runner.invoke(
        app, ["fit", "--data", str(CLASS / "class.csv"), "--formula", "y ~ x1 + (1 | cluster) + (1 | treat)"]
    )
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        "shrinkvis: error: formula 'y ~ x1 + (1 | cluster) + (1 | treat)' has 2 grouping factors "
        "(cluster, treat); shrinkvis fits models with one grouping factor"
    ]


@pytest.mark.parametrize("case", ["baseline_s1", "unbalanced_s6", "intercept_only_s7"])
def test_pooling_matches_the_two_effect_references(case: str) -> None:
    """On y ~ x + (x | g) no other fixed effect is adjusted for: the own fits are R's per-cluster lm."""
    folder = Path(__file__).parent / "data" / "lme4"
    ref = json.loads((folder / f"{case}.json").read_text())
    frame = pd.read_csv(folder / f"{case}.csv", dtype={ref["columns"]["group"]: str})
    model = fit_design(design(ref["formula"], frame))
    by_label = model.clusters.set_index("cluster")
    for cluster in ref["clusters"]:
        row = by_label.loc[str(cluster["cluster"])]
        for stem, key in (("intercept", "no_pool_intercept"), ("x", "no_pool_slope")):
            if f"no_pool_{stem}" not in row or key not in cluster:
                continue
            expected = cluster[key]
            if expected is None:
                assert np.isnan(row[f"no_pool_{stem}"])
            else:
                assert row[f"no_pool_{stem}"] == pytest.approx(expected, rel=1e-8, abs=1e-10)
    assert model.complete_pooling["estimates"] == pytest.approx(
        dict(zip(model.mixed.fixed_names, ref["complete_pooling"]["estimates"].values(), strict=True)),
        rel=1e-9,
    )


@pytest.mark.parametrize(
    "formula",
    [
        "y ~ x1 + x2 + x3 + (1 + x1 | cluster)",
        "y ~ 0 + x1 + (x1 || cluster)",
        "y ~ x1 + (1 | cluster) + (0 + x2 | cluster)",
    ],
)
def test_duckdb_sums_the_same_blocks(formula: str, rows: pd.DataFrame, tmp_path: Path) -> None:
    from shrinkvis.aggregate.on_duckdb import file_blocks
    from shrinkvis.fit.blocks import sums_plan
    from shrinkvis.fit.model_fit import fit_blocks
    from shrinkvis.model import parse_model

    path = tmp_path / "rows.parquet"
    # far from zero (with an intercept, where the model does not change with it): sums from a centre
    frame = rows.assign(x1=rows.x1 + (1e6 if "0 +" not in formula else 0.0))
    frame.loc[5, "x2"] = np.nan  # left out, as in memory
    write_parquet(frame, path)
    parsed = parse_model(formula)
    blocks, dropped = file_blocks(path, sums_plan(parsed))
    summed = fit_blocks(blocks, parsed, "REML", dropped)
    in_memory = fit_design(design(parsed, frame.dropna(subset=["x2"]) if "x2" in formula else frame))
    assert dropped == (1 if "x2" in formula else 0)
    assert summed.mixed.criterion == pytest.approx(in_memory.mixed.criterion, abs=1e-8)
    np.testing.assert_allclose(summed.mixed.fixed_effects, in_memory.mixed.fixed_effects, rtol=1e-8)
    np.testing.assert_allclose(summed.mixed.blup, in_memory.mixed.blup, rtol=1e-6, atol=1e-9)
    pd.testing.assert_frame_equal(summed.clusters, in_memory.clusters, rtol=1e-6)


def test_a_summed_table_takes_columns_as_they_are() -> None:
    from shrinkvis.fit.blocks import sums_plan
    from shrinkvis.model import parse_model

    with pytest.raises(UserError, match="'x1 \\+ log\\(n\\)' is more than a sum of columns"):
        sums_plan(parse_model("y ~ x1 + log(n) + (1 | g)"))


def test_n_is_the_cluster_size_where_the_data_have_no_column_n(rows: pd.DataFrame) -> None:
    made = design("y ~ x1 + log(n) + (x1 | cluster)", rows.drop(columns="n"))
    sizes = rows.groupby("cluster")["cluster"].transform("size").to_numpy()
    np.testing.assert_allclose(made.X[:, 2], np.log(sizes))
    np.testing.assert_array_equal(made.X, design("y ~ x1 + log(n) + (x1 | cluster)", rows).X)


def test_the_small_differ_remedy_fits(tmp_path: Path) -> None:
    """The formula the small_differ report recommends, on that scenario's rows (which have no n)."""
    from shrinkvis.pipeline import simulate_scenario
    from shrinkvis.scenario import load

    path = tmp_path / "small_differ.csv"
    simulate_scenario(load("small_differ")).to_csv(path, index=False)
    result = runner.invoke(
        app, ["fit", "--data", str(path), "--formula", "y ~ x + log(n) + (x | cluster)", "--json"]
    )
    assert result.exit_code == 0, result.output
    numbers = json.loads(result.output)
    assert list(numbers["fixed_effects"]) == ["(Intercept)", "x", "log(n)"]
    # the simulation moves a cluster's intercept by size_effect · sd_int per log-unit of size: −7 × 0.1
    assert numbers["fixed_effects"]["log(n)"] == pytest.approx(-0.7, abs=3 * numbers["std_errors"]["log(n)"])
    assert numbers["converged"]


def test_fit_names_its_engine() -> None:
    arguments = ["fit", "--data", str(CLASS / "class.csv"), "--formula", "y ~ x1 + (x1 || cluster)"]
    result = runner.invoke(app, [*arguments, "--engine", "statsmodels", "--json"])
    assert result.exit_code == 0, result.output
    numbers = json.loads(result.output)
    assert numbers["engine"] == "statsmodels"
    assert numbers["optimum_gap"] <= 1e-3
    assert numbers["random_effects"]["cor"] == {}  # `||`: no correlation estimated
    result = runner.invoke(app, [*arguments, "--engine", "bayes", "--json"])
    assert result.exit_code == 0, result.output
    numbers = json.loads(result.output)
    assert numbers["engine"] == "bayes"
    # `||`: independent SDs, no correlation in the posterior either
    assert not any(name.startswith("cor_") for name in numbers["posterior"])
    assert {"sd_cluster__Intercept", "sd_cluster__x1"} <= set(numbers["posterior"])
