"""Rates and published estimates end to end: formulas, data, fit on the display scale, storyboards (no
pixels), and runs of the built-in scenarios through the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import special
from typer.testing import CliRunner

from shrinkvis import scenario as scenarios
from shrinkvis.cli import app
from shrinkvis.errors import UserError
from shrinkvis.rates.data import rate_data
from shrinkvis.rates.fit import fit_rates
from shrinkvis.rates.formula import parse
from shrinkvis.rates.pipeline import formula, size_check, storyboard

runner = CliRunner()
GLMM = Path(__file__).parent / "data" / "glmm"
BUILTIN = Path(scenarios.builtin_dir())


def _fit(name: str, *overrides: str):  # noqa: ANN202
    loaded = scenarios.load(name, overrides)
    return loaded, fit_rates(rate_data(loaded), loaded)


# --- formulas -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "cbind(deaths, n - deaths) ~ 1 + (1 | hospital)",
            ("deaths", "hospital", None, "binomial", "n", None, None),
        ),
        (
            "deaths ~ 1 + offset(log(exposure)) + (1 | hospital)",
            ("deaths", "hospital", None, "poisson", None, "exposure", None),
        ),
        (
            "deaths ~ offset(log(exposure)) + (1|hospital)",
            ("deaths", "hospital", None, "poisson", None, "exposure", None),
        ),
        ("y | se(sigma) ~ 1 + (1 | study)", ("y", "study", None, "gaussian", None, None, "sigma")),
        ("cbind(d, n - d) ~ 1 + size + (1 | h)", ("d", "h", "size", "binomial", "n", None, None)),
    ],
)
def test_formulas_of_glmer_and_brms(text: str, expected: tuple) -> None:
    read = parse(text)
    assert read is not None
    assert (read.y, read.group, read.x, read.family, read.trials, read.exposure, read.se) == expected


def test_linear_formula_is_not_a_rates_formula() -> None:
    assert parse("y ~ x + (x | g)") is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("cbind(d, f) ~ 1 + (1 | h)", "cbind\\(d, n - d\\)"),
        ("y | se(s) ~ x + (x | h)", "known-SE models have \\(1 \\| group\\) only"),
        ("y | se(s) ~ 1 + offset(log(e)) + (1 | g)", "not supported"),
    ],
)
def test_formulas_refused_in_one_sentence(text: str, message: str) -> None:
    with pytest.raises(UserError, match=message):
        parse(text)


# --- fit on the display scale ---------------------------------------------------------------------------


def test_surgical_in_percent_matches_glmer() -> None:
    _, fit = _fit("surgical")
    ref = json.loads((GLMM / "surgical_binomial_agq1.json").read_text())
    clusters = pd.DataFrame(ref["clusters"]).set_index("cluster").loc[fit.clusters["cluster"]]
    np.testing.assert_allclose(fit.clusters["partial"], 100 * special.expit(clusters["coef"]), rtol=1e-6)
    table = pd.DataFrame(ref["data"])
    np.testing.assert_allclose(fit.clusters["own"], 100 * table.deaths / table.operations)
    assert fit.pooled == pytest.approx(100 * special.expit(ref["fixed_effects"]["(Intercept)"]), rel=1e-6)
    assert fit.estimates.fixed_effects["Intercept"] == pytest.approx(
        ref["fixed_effects"]["(Intercept)"], rel=1e-6
    )
    # hospital A: 0 deaths in 47 operations, pulled up to about 5 %
    a = fit.clusters.set_index("cluster").loc["A"]
    assert a["own"] == 0 and 4 < a["partial"] < 6 and a["own_lo"] == 0 and a["own_hi"] > 7
    assert formula(fit) == "cbind(deaths, operations - deaths) ~ 1 + (1 | hospital)"


def test_nagq_reaches_the_engine() -> None:
    _, fit = _fit("surgical", "model.nagq=10")
    ref = json.loads((GLMM / "surgical_binomial_agq10.json").read_text())
    assert fit.glmm is not None and fit.glmm.nagq == 10
    assert fit.glmm.lme4_loglik == pytest.approx(ref["logLik"], abs=1e-6)


def test_baseball_shrinkage_beats_the_players_own_averages() -> None:
    """Efron and Morris's result: against the rest of the season, the shrunk averages are closer."""
    _, fit = _fit("baseball")
    score = fit.rmse()
    assert score is not None
    assert score["partial"] < 0.6 * score["own"]
    assert fit.per == 1 and fit.clusters["own"].max() == pytest.approx(18 / 45)


def test_eight_schools_collapse_to_the_pooled_mean_and_say_why() -> None:
    _, fit = _fit("eight_schools")
    assert fit.meta is not None and fit.meta.tau2 == 0
    np.testing.assert_allclose(fit.clusters["partial"], fit.meta.mu)
    assert any("τ² at 0" in warning for warning in fit.warnings)
    assert formula(fit) == "effect | se(se) ~ 1 + (1 | school)"


def test_hospitals_show_the_small_hospital_bias() -> None:
    """George et al. (2016): the smallest hospitals' shrunk rates lie below their true rates."""
    _, fit = _fit("hospitals")
    check = size_check(fit)
    assert check is not None
    small, large = check["smallest"], check["largest"]
    assert small["mean_partial"] < small["mean_truth"] - 1.0  # percentage points
    assert abs(large["mean_partial"] - large["mean_truth"]) < abs(small["mean_partial"] - small["mean_truth"])


def test_control_limits_are_spiegelhalters() -> None:
    _, fit = _fit("surgical")
    p0 = fit.overall / 100
    low, high = fit.control_limits(np.array([100.0]), 0.95)
    assert high[0] == pytest.approx(100 * (p0 + 1.959963984540054 * np.sqrt(p0 * (1 - p0) / 100)))
    assert low[0] == pytest.approx(100 * (p0 - 1.959963984540054 * np.sqrt(p0 * (1 - p0) / 100)))


# --- storyboards, without pixels ------------------------------------------------------------------------


@pytest.mark.parametrize("view", ["caterpillar", "funnel", "shrinkage"])
def test_story_moves_from_own_to_partial(view: str) -> None:
    loaded, fit = _fit("surgical", f"animation.view={view}")
    story = storyboard(fit, loaded)
    axis = 1 if view == "funnel" else 0  # the funnel's value axis is vertical
    np.testing.assert_allclose(story.points(0)[:, axis], fit.clusters["own"])
    np.testing.assert_allclose(story.points(story.n_frames - 1)[:, axis], fit.clusters["partial"])
    order = np.argsort(fit.clusters["size"].to_numpy())
    assert np.all(np.diff(story.areas[order]) >= 0)  # bigger hospitals, bigger dots
    assert story.truth_points is None
    low, high = story.ylim if view == "funnel" else story.xlim
    widest = fit.clusters["own_hi" if view == "caterpillar" else "own"].max()
    assert low < 0 <= fit.clusters["own"].min() and high > widest  # hospital A's 0 shows whole


def test_caterpillar_names_each_hospital() -> None:
    loaded, fit = _fit("surgical")
    story = storyboard(fit, loaded)
    assert story.yticks is not None and sorted(story.yticks[1]) == list("ABCDEFGHIJKL")
    assert story.x_label == "Mortality (deaths per 100 operations, %)"


def test_truth_appears_at_the_end() -> None:
    loaded, fit = _fit("baseball")
    story = storyboard(fit, loaded)
    assert story.truth_alpha(0) == 0 and story.truth_alpha(story.n_frames - 1) == 1
    assert story.timeline.n_states == 3
    # the truth's rail holds the rest-of-season averages
    np.testing.assert_allclose(np.sort(story.truth_points[:, 0]), np.sort(fit.clusters["truth"]))
    assert any("RMSE" in entry.label for entry in story.legend)


def test_funnel_of_hospitals_draws_binned_truth_beside_shrunk_means() -> None:
    loaded, fit = _fit("hospitals")
    story = storyboard(fit, loaded)
    assert story.truth_line and story.partial_line is not None
    # smallest bin: the shrunk mean lies below the true mean (the bias the picture shows)
    assert story.partial_line[0, 1] < story.truth_points[0, 1]
    roles = [line.role for line in story.lines]
    assert roles.count("limit95") == 2 and roles.count("limit998") == 2 and "pooled" in roles
    assert "Smallest quarter" in story.header.caption


# --- the built-in scenarios through the CLI -------------------------------------------------------------


@pytest.mark.parametrize("name", ["surgical", "baseball", "eight_schools", "hospitals"])
def test_builtin_scenarios_render(tmp_path: Path, name: str) -> None:
    result = runner.invoke(
        app, ["run", name, "--out", str(tmp_path), "--format", "png", "--set", "animation.frames=12"]
    )
    assert result.exit_code == 0, result.output
    folder = tmp_path / name
    summary = json.loads((folder / "summary.json").read_text())
    view = scenarios.load(name).animation.view
    assert {f"{view}.png", f"{view}_start.png", "estimates.csv", "report.md", "summary.json"} <= {
        path.name for path in folder.iterdir()
    }
    expected_family = {"eight_schools": "meta"}.get(name, "binomial")
    assert summary["family"] == expected_family and np.isfinite(summary["fixed_effects"]["Intercept"])
    assert summary["formula"] in (folder / "report.md").read_text()
    # a fit not to be trusted as it stands says so in the JSON as well as on the frame
    if name == "eight_schools":
        assert summary["is_singular"] and summary["warnings"]
    table = pd.read_csv(folder / "estimates.csv")
    assert {"cluster", "own_value", "partial_value", "partial_intercept"} <= set(table.columns)


def test_own_table_by_formula_matches_glmer(tmp_path: Path) -> None:
    result = runner.invoke(
        app,
        [
            "run",
            "--data",
            str(BUILTIN / "surgical.csv"),
            "--formula",
            "cbind(deaths, operations - deaths) ~ 1 + (1 | hospital)",
            "--out",
            str(tmp_path),
            "--format",
            "png",
            "--set",
            "animation.frames=6",
        ],
    )
    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / "surgical" / "summary.json").read_text())
    ref = json.loads((GLMM / "surgical_binomial_agq1.json").read_text())
    assert summary["fixed_effects"]["Intercept"] == pytest.approx(
        ref["fixed_effects"]["(Intercept)"], rel=1e-6
    )
    assert summary["sd_intercept"] == pytest.approx(ref["theta"], rel=1e-6)


def test_estimate_and_se_options(tmp_path: Path) -> None:
    result = runner.invoke(
        app,
        [
            "run",
            "--data",
            str(BUILTIN / "eight_schools.csv"),
            "--estimate",
            "effect",
            "--se",
            "se",
            "--group",
            "school",
            "--out",
            str(tmp_path),
            "--format",
            "png",
            "--set",
            "animation.frames=6",
        ],
    )
    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / "eight_schools" / "summary.json").read_text())
    ref = json.loads((GLMM / "eight_schools_reml.json").read_text())
    assert summary["mu"] == pytest.approx(ref["mu"], rel=1e-7) and summary["tau2"] == 0


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (
            ["--data", "surgical.csv", "--y", "deaths", "--group", "hospital", "--family", "binomial"],
            "counts above 1",
        ),
        (
            ["--data", "surgical.csv", "--formula", "cbind(deaths, n - deaths) ~ 1 + (1 | hospital)"],
            "no column 'n'",
        ),
        (
            ["--data", "surgical.csv", "--y", "deaths", "--group", "hospital", "--family", "gamma"],
            "model.family",
        ),
        (["surgical", "--family", "poisson"], "data.trials is for model.family: binomial"),
        (["surgical", "--view", "lines"], "a rates scenario shows"),
        (["surgical", "--set", "model.random=slope"], "model.random = 'slope' needs a predictor"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path: Path, arguments: list[str], message: str) -> None:
    arguments = [str(BUILTIN / item) if item == "surgical.csv" else item for item in arguments]
    result = runner.invoke(app, ["run", *arguments, "--out", str(tmp_path)])
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.output


def test_a_predictor_beside_the_intercept_is_fitted_from_the_rows(tmp_path: Path) -> None:
    ref = json.loads((GLMM / "hospitals_binomial_size_agq1.json").read_text())
    table = pd.DataFrame(ref["data"])[["hospital", "deaths", "cases", "log_cases"]]
    table.to_csv(tmp_path / "h.csv", index=False)
    loaded = scenarios.for_data(
        tmp_path / "h.csv", formula="cbind(deaths, cases - deaths) ~ 1 + log_cases + (1 | hospital)"
    )
    fit = fit_rates(rate_data(loaded), loaded)
    expected = [ref["fixed_effects"]["(Intercept)"], ref["fixed_effects"]["log_cases"]]
    np.testing.assert_allclose(list(fit.estimates.fixed_effects.values()), expected, rtol=1e-6)
    assert list(fit.estimates.fixed_effects) == ["Intercept", "log_cases"]
    assert formula(fit) == "cbind(deaths, cases - deaths) ~ 1 + log_cases + (1 | hospital)"


def test_gallery_cards_say_what_rates_fits_show(tmp_path: Path) -> None:
    for name in ("baseball", "surgical"):
        result = runner.invoke(
            app, ["run", name, "--out", str(tmp_path), "--format", "png", "--set", "animation.frames=4"]
        )
        assert result.exit_code == 0, result.output
    assert runner.invoke(app, ["gallery", str(tmp_path)]).exit_code == 0
    page = (tmp_path / "index.html").read_text()
    baseball = page[page.index('id="scenario-baseball"') : page.index('id="scenario-surgical"')]
    surgical = page[page.index('id="scenario-surgical"') :]
    assert "RMSE own 0.06469 → shrunk 0.03557" in baseball and "cbind(hits, at_bats - hits)" in baseball
    assert "no truth known for these data" in surgical and "your own data" not in surgical
    assert "Mortality (deaths per 100 operations, %)" in surgical
