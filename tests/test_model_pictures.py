"""Pictures of any model (model.formula in a scenario): two of its random effects in the shape the views
draw, own estimates adjusted for the other fixed effects, and the small_differ remedy's bias gone."""

from __future__ import annotations

import numpy as np
import pytest

from shrinkvis import pipeline
from shrinkvis.errors import ScenarioError, UserError
from shrinkvis.scenario import load


def _fit(name: str, *overrides: str):
    scenario = load(name, overrides)
    return scenario, pipeline.fit_data(pipeline.source_data(scenario), scenario)


def _small(estimates, coefficient: str = "intercept"):
    return next(group for group in estimates.truth.by_size if group.label == "small")


def test_the_remedy_removes_the_small_clusters_bias() -> None:
    _, before = _fit("small_differ")
    scenario, after = _fit("small_differ_remedy")
    # small_differ: partial pooling drags the small clusters' intercepts away from their truth
    assert before.truth.losing_groups("intercept") == [_small(before)]
    # with log(n) in the model it no longer does, and every cluster is closer on the whole
    assert after.truth.losing_groups("intercept") == []
    small = _small(after)
    assert (
        small.rmse["partial_pooling"]["intercept"] < 0.5 * _small(before).rmse["partial_pooling"]["intercept"]
    )
    assert after.formula == "y ~ x + log(n) + (x | cluster)"
    assert list(after.fixed_effects) == ["(Intercept)", "x", "log(n)"]
    story = pipeline.storyboard(after, scenario, pipeline.source_data(scenario))
    assert "own estimates adjusted for log(n) at the model's estimates" in story.header.caption
    assert story.x_label == "Intercept (per cluster)"
    assert story.y_label == "Slope of x (per cluster)"


def test_the_picture_is_on_one_scale_with_the_other_fixed_effects_taken_off() -> None:
    _, estimates = _fit("small_differ_remedy")
    table = estimates.clusters
    fixed = estimates.fixed_effects
    # partial pooling: the fixed effects plus each cluster's conditional mode (lme4's coef), no log(n) term
    assert np.median(table["partial_intercept"]) == pytest.approx(fixed["(Intercept)"], abs=0.05)
    # the own intercept is the cluster's own fit of y − β̂·log(n) on x
    data = pipeline.source_data(load("small_differ_remedy")).frame
    first = data[data.cluster == table.cluster[0]]
    adjusted = first.y - fixed["log(n)"] * np.log(len(first))
    own = np.polyfit(first.x, adjusted, 1)
    assert table.no_pool_intercept[0] == pytest.approx(own[1], rel=1e-9)
    assert table.no_pool_slope[0] == pytest.approx(own[0], rel=1e-9)


def test_the_plane_shows_the_random_effects_chosen() -> None:
    scenario, estimates = _fit(
        "baseline",
        "model.formula=y ~ x + (x || cluster)",
        "animation.plane=[x, (Intercept)]",
        "data.n_cluster=30",
    )
    assert list(estimates.fixed_effects) == ["x", "(Intercept)"]
    assert estimates.truth is None  # the truth knows (intercept, slope), not this order
    story = pipeline.storyboard(estimates, scenario, pipeline.source_data(scenario))
    assert (story.x_label, story.y_label) == ("Slope of x (per cluster)", "Intercept (per cluster)")
    assert estimates.cov_re[0, 1] == 0.0  # independent random effects
    _, one = _fit("baseline", "model.formula=y ~ x + (1 | cluster)", "data.n_cluster=30")
    assert one.random == "intercept"  # a two-effect formula keeps the two-effect path


def test_a_plane_the_model_does_not_have_is_named() -> None:
    with pytest.raises(
        UserError, match=r"animation.plane = \['z'\]: choose one or two different random effects"
    ):
        _fit("baseline", "model.formula=y ~ x + (x || cluster)", "animation.plane=[z]", "data.n_cluster=30")


def test_a_formula_that_cannot_be_read_is_a_scenario_error() -> None:
    with pytest.raises(ScenarioError, match="model.formula.*has 2 grouping factors"):
        load("baseline", ["model.formula=y ~ x + (1 | cluster) + (1 | school)"])


def test_the_statsmodels_engine_draws_any_model_too_and_says_where_it_stops_short() -> None:
    _, exact = _fit("small_differ_remedy", "data.n_cluster=40")
    _, statsmodels = _fit("small_differ_remedy", "data.n_cluster=40", "model.engine=statsmodels")
    assert statsmodels.engine == "statsmodels"
    # on these rows MixedLM stops 0.02 above the optimum of the REML criterion: reported, not hidden
    assert statsmodels.optimum_gap is not None and 1e-3 < statsmodels.optimum_gap < 0.1
    assert not statsmodels.converged
    assert any("the statsmodels fit did not converge" in warning for warning in statsmodels.warnings)
    assert exact.converged and exact.optimum_gap is None
    np.testing.assert_allclose(
        statsmodels.clusters.partial_intercept, exact.clusters.partial_intercept, rtol=0, atol=0.05
    )


def test_a_plane_without_a_formula_is_refused() -> None:
    with pytest.raises(ScenarioError, match="animation.plane chooses the random effects of a model.formula"):
        _fit("baseline", "animation.plane=[x]", "data.n_cluster=20")


def test_a_table_of_your_own_is_drawn_under_any_formula(tmp_path) -> None:
    from pathlib import Path

    from typer.testing import CliRunner

    from shrinkvis.cli import app

    table = Path(__file__).parent / "data" / "lme4_class" / "class.csv"
    formula = "y ~ x1 + x2 + log(n) + (1 + x1 | cluster)"
    arguments = ["--data", str(table), "--formula", formula]
    result = CliRunner().invoke(app, ["run", *arguments, "--out", str(tmp_path), "--format", "png"])
    assert result.exit_code == 0, result.output
    from shrinkvis.scenario import for_data

    scenario = for_data(table, formula=formula)  # the scenario the command line made
    assert scenario.model.formula == formula and scenario.data.x == "x1"
    estimates = pipeline.fit_data(pipeline.source_data(scenario), scenario)
    story = pipeline.storyboard(estimates, scenario, pipeline.source_data(scenario))
    assert story.x_label == "Intercept (per cluster)" and story.y_label == "Slope of x1 (per cluster)"
    assert "own estimates adjusted for x2, log(n)" in story.header.caption
    result = CliRunner().invoke(app, ["run", *arguments, "--view", "lines", "--out", str(tmp_path)])
    assert result.exit_code == 2
    assert "animation.view = lines draws y against x" in result.output
