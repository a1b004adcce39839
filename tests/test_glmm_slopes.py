"""Binomial and Poisson random slopes by the Laplace approximation, against glmer (tests/data/glmm/
make_glmm_slopes.R: simulated rows in slopes.csv, glmer at tight tolerances and at its defaults)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from shrinkvis.cli import app
from shrinkvis.fit.glmm_slopes import SlopeRows, fit_glmm_slopes

runner = CliRunner()
GLMM = Path(__file__).parent / "data" / "glmm"
SLOPES = str(GLMM / "slopes.csv")
FORMULAS = {
    "binomial": "cbind(r, n - r) ~ x + (x | g)",
    "poisson": "events ~ x + offset(log(exposure)) + (x | g)",
}


def _reference(family: str) -> dict:
    return json.loads((GLMM / f"slopes_{family}_laplace.json").read_text())


def _rows(family: str) -> SlopeRows:
    table = pd.read_csv(SLOPES)
    codes, labels = pd.factorize(table["g"], sort=True)
    design = np.column_stack([np.ones(len(table)), table["x"]])
    if family == "binomial":
        y, n, offset = table["r"], table["n"], np.zeros(len(table))
    else:
        y, n, offset = table["events"], np.ones(len(table)), np.log(table["exposure"])
    return SlopeRows(
        y=np.asarray(y, dtype=float),
        n=np.asarray(n, dtype=float),
        offset=np.asarray(offset, dtype=float),
        design=design,
        random_design=design,
        codes=codes,
        n_groups=len(labels),
    )


@pytest.fixture(scope="module", params=["binomial", "poisson"])
def fitted(request: pytest.FixtureRequest) -> tuple:
    family = request.param
    return _reference(family), fit_glmm_slopes(family, _rows(family))


def test_fixed_effects_and_their_standard_errors_match_glmer(fitted: tuple) -> None:
    ref, fit = fitted
    np.testing.assert_allclose(fit.fixed_effects, list(ref["fixed_effects"].values()), atol=1e-6)
    # glmer's SEs come from a finite-difference Hessian of the deviance, as ours
    np.testing.assert_allclose(np.sqrt(np.diag(fit.fixed_cov)), list(ref["std_errors"].values()), rtol=1e-5)
    np.testing.assert_allclose(fit.fixed_cov, ref["vcov"], rtol=1e-4)


def test_variance_components_and_loglik_match_glmer(fitted: tuple) -> None:
    ref, fit = fitted
    np.testing.assert_allclose(fit.theta, ref["theta"], atol=1e-6)
    np.testing.assert_allclose(fit.sds, [ref["sd"]["intercept"], ref["sd"]["x"]], atol=1e-6)
    assert fit.corr == pytest.approx(ref["cor"], abs=1e-6)
    assert fit.loglik == pytest.approx(ref["logLik"], abs=1e-6)
    assert fit.converged and not fit.is_singular and not ref["is_singular"]


def test_conditional_modes_and_variances_match_glmer(fitted: tuple) -> None:
    ref, fit = fitted
    clusters = pd.DataFrame(ref["clusters"])
    np.testing.assert_allclose(fit.modes[:, 0], clusters["mode_intercept"], atol=1e-6)
    np.testing.assert_allclose(fit.modes[:, 1], clusters["mode_x"], atol=1e-6)
    np.testing.assert_allclose(fit.cond_cov[:, 0, 0], clusters["var_intercept"], atol=1e-7)
    np.testing.assert_allclose(fit.cond_cov[:, 0, 1], clusters["cov"], atol=1e-7)
    np.testing.assert_allclose(fit.cond_cov[:, 1, 1], clusters["var_x"], atol=1e-7)


def test_glmers_default_answer_stops_short_of_the_optimum(fitted: tuple) -> None:
    """glmer at its default tolerances (tolPwrss 1e-7, Nelder-Mead then bobyqa) ends below the Laplace
    optimum that glmer reaches at tight ones and shrinkvis reaches too: its logLik is lower, and its numbers
    differ in the 4th digit (its Poisson SE of x by 1.3 %) — so the references are the tight ones."""
    ref, fit = fitted
    default = ref["default_control"]
    assert fit.loglik >= default["logLik"] and fit.loglik - default["logLik"] < 1e-3
    np.testing.assert_allclose(fit.fixed_effects, list(default["fixed_effects"].values()), atol=5e-4)
    np.testing.assert_allclose(fit.sds, [default["sd"]["intercept"], default["sd"]["x"]], atol=5e-4)
    np.testing.assert_allclose(
        np.sqrt(np.diag(fit.fixed_cov)), list(default["std_errors"].values()), rtol=0.015
    )


@pytest.mark.parametrize("family", ["binomial", "poisson"])
def test_fit_command_prints_glmers_numbers(family: str) -> None:
    ref = _reference(family)
    result = runner.invoke(app, ["fit", "--data", SLOPES, "--formula", FORMULAS[family]])
    assert result.exit_code == 0, result.output
    words = [line.split() for line in result.stdout.splitlines()]
    group_row = next(index for index, row in enumerate(words) if row[:1] == ["g"])
    fixed_row = next(index for index, row in enumerate(words) if row[:1] == ["Estimate"])
    sd_a, sd_x = ref["sd"]["intercept"], ref["sd"]["x"]
    printed = [
        (words[group_row][2:4], [sd_a**2, sd_a]),
        (words[group_row + 1][1:4], [sd_x**2, sd_x, ref["cor"]]),
        *[
            (words[fixed_row + offset][1:3], [ref["fixed_effects"][name], ref["std_errors"][name]])
            for offset, name in enumerate(["(Intercept)", "x"], start=1)
        ],
    ]
    assert words[group_row + 1][0] == "x" and words[fixed_row + 2][0] == "x"
    for shown, expected in printed:
        # the printed digits of glmer's numbers (4 decimals, Corr 2), up to a last digit at a rounding
        # boundary (the Poisson SD is 0.57404999 in glmer, 0.57405003 here)
        for text, value in zip(shown, expected, strict=True):
            decimals = len(text.split(".")[1])
            assert abs(float(text) - value) <= 0.5 * 10**-decimals + 1e-7, (text, value)
    assert f"{ref['logLik']:.1f}" in result.stdout and f"{ref['AIC']:.1f}" in result.stdout


@pytest.mark.parametrize("family", ["binomial", "poisson"])
def test_fit_json_holds_the_random_slopes(family: str) -> None:
    ref = _reference(family)
    result = runner.invoke(app, ["fit", "--data", SLOPES, "--formula", FORMULAS[family], "--json"])
    assert result.exit_code == 0, result.output
    answer = json.loads(result.stdout)
    assert answer["family"] == family and answer["nAGQ"] == 1
    assert answer["random_effects"]["group"] == "g"
    assert answer["random_effects"]["sd"]["x"] == pytest.approx(ref["sd"]["x"], abs=1e-6)
    assert answer["random_effects"]["cor"] == pytest.approx(ref["cor"], abs=1e-6)
    assert answer["loglik"] == pytest.approx(ref["logLik"], abs=1e-6)
    assert answer["BIC"] == pytest.approx(ref["BIC"], abs=1e-5)
    modes = [row["mode_slope"] for row in answer["clusters"]]
    np.testing.assert_allclose(modes, [row["mode_x"] for row in ref["clusters"]], atol=1e-6)


def test_explain_lists_each_clusters_modes() -> None:
    ref = _reference("binomial")
    result = runner.invoke(app, ["explain", "--data", SLOPES, "--formula", FORMULAS["binomial"]])
    assert result.exit_code == 0, result.output
    first = ref["clusters"][0]
    assert f"| g01 | 6 | {first['mode_intercept']:.4g} (" in result.stdout
    assert f"{first['mode_x']:.4g} (" in result.stdout


def test_random_intercept_with_offset_and_predictor_counts_the_exposure_once() -> None:
    """The rows' path of the random-intercept engine: log(exposure) is the offset, so the constant of the
    Poisson log-likelihood is −log y! alone (before, logLik counted y log E twice)."""
    ref = json.loads((GLMM / "slopes_poisson_intercept_agq1.json").read_text())
    formula = "events ~ x + offset(log(exposure)) + (1 | g)"
    result = runner.invoke(app, ["fit", "--data", SLOPES, "--formula", formula, "--json"])
    assert result.exit_code == 0, result.output
    answer = json.loads(result.stdout)
    assert answer["loglik"] == pytest.approx(ref["logLik"], abs=1e-6)
    assert answer["fixed_effects"]["x"] == pytest.approx(ref["fixed_effects"]["x"], abs=1e-6)
    assert answer["random_effects"]["sd"]["(Intercept)"] == pytest.approx(ref["theta"], abs=1e-6)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["fit", "--nagq", "2"], "nAGQ > 1 is only available for models with a single, scalar"),
        (["fit", "--engine", "bayes"], "model.engine = bayes"),
        (["run", "--out", "OUT"], "pictures show random intercepts only"),
    ],
)
def test_refused_in_one_line(tmp_path: Path, arguments: list[str], message: str) -> None:
    arguments = [str(tmp_path) if item == "OUT" else item for item in arguments]
    command, *rest = arguments
    result = runner.invoke(app, [command, "--data", SLOPES, "--formula", FORMULAS["binomial"], *rest])
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.output


def test_glmer_refuses_more_nodes_with_a_slope_too() -> None:
    assert "single, scalar random-effects term" in _reference("binomial")["nagq2_error"]


def test_convergence_is_judged_by_the_newton_step_left_not_the_raw_gradient() -> None:
    """6,000 rows: the deviance is in the tens of thousands, so its raw gradient at the optimum is far from
    0 in absolute terms; glmer's scaled gradient is what says converged."""
    rng = np.random.default_rng(27)
    groups, per_group = 300, 20
    codes = np.repeat(np.arange(groups), per_group)
    x = rng.normal(size=groups * per_group)
    effects = rng.multivariate_normal([0, 0], [[0.36, 0.08], [0.08, 0.12]], size=groups)
    n = rng.integers(5, 30, size=len(x)).astype(float)
    eta = -1 + 0.5 * x + effects[codes, 0] + effects[codes, 1] * x
    y = rng.binomial(n.astype(int), 1 / (1 + np.exp(-eta))).astype(float)
    design = np.column_stack([np.ones_like(x), x])
    fit = fit_glmm_slopes("binomial", SlopeRows(y, n, np.zeros_like(y), design, design, codes, groups))
    assert fit.converged and fit.deviance > 10_000
    # near the truth it was drawn from (SDs 0.6 and 0.35, correlation 0.38)
    np.testing.assert_allclose(fit.fixed_effects, [-1, 0.5], atol=0.1)
    np.testing.assert_allclose(fit.sds, [0.6, np.sqrt(0.12)], atol=0.1)
