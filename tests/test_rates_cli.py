"""`shrinkvis fit` and `shrinkvis explain` on binomial, Poisson and known-SE models, against the glmer and
metafor references in tests/data/glmm (made by make_glmm.R)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from shrinkvis import scenario as scenarios
from shrinkvis.cli import app

runner = CliRunner()
GLMM = Path(__file__).parent / "data" / "glmm"
BUILTIN = Path(scenarios.builtin_dir())
SURGICAL = str(BUILTIN / "surgical.csv")
SCHOOLS = str(BUILTIN / "eight_schools.csv")
CBIND = "cbind(deaths, operations - deaths) ~ 1 + (1 | hospital)"


def _reference(name: str) -> dict:
    return json.loads((GLMM / f"{name}.json").read_text())


def _fit(*arguments: str) -> str:
    result = runner.invoke(app, ["fit", *arguments])
    assert result.exit_code == 0, result.output
    return result.stdout


def _row(text: str, label: str) -> list[str]:
    """The words of the summary's line that starts with `label`."""
    for line in text.splitlines():
        if line.split()[:1] == [label]:
            return line.split()
    raise AssertionError(f"no line {label!r} in\n{text}")


@pytest.mark.parametrize(
    ("arguments", "name"),
    [
        (["--formula", CBIND], "surgical_binomial_agq1"),
        (
            ["--y", "deaths", "--trials", "operations", "--family", "binomial", "--group", "hospital"],
            "surgical_binomial_agq1",
        ),
        (
            ["--formula", "deaths ~ 1 + offset(log(operations)) + (1 | hospital)"],
            "surgical_poisson_agq1",
        ),
        (
            ["--y", "deaths", "--exposure", "operations", "--family", "poisson", "--group", "hospital"],
            "surgical_poisson_agq1",
        ),
        (["--formula", CBIND, "--nagq", "10"], "surgical_binomial_agq10"),
    ],
)
def test_fit_prints_glmers_summary(arguments: list[str], name: str) -> None:
    ref = _reference(name)
    text = _fit("--data", SURGICAL, *arguments)
    how = "Laplace Approximation" if ref["nAGQ"] == 1 else f"nAGQ = {ref['nAGQ']}"
    assert how in text and f"Family: {ref['family']}  ( {ref['link']} )" in text
    # glmer's printed digits: 4 decimals for the estimates, 1 for logLik and AIC
    _, estimate, se, z, _p, *_ = _row(text, "(Intercept)")
    assert estimate == f"{ref['fixed_effects']['(Intercept)']:.4f}"
    assert se == f"{ref['std_errors']['(Intercept)']:.4f}"
    intercept = ref["fixed_effects"]["(Intercept)"] / ref["std_errors"]["(Intercept)"]
    assert z == f"{intercept:.2f}"
    _, _, variance, sd = _row(text, "hospital")
    assert (variance, sd) == (f"{ref['sd_intercept'] ** 2:.4f}", f"{ref['sd_intercept']:.4f}")
    numbers = text.splitlines()[text.splitlines().index("") + 2].split()
    assert numbers[0] == f"{ref['AIC']:.1f}" and numbers[2] == f"{ref['logLik']:.1f}"
    assert f"Number of obs: {ref['n_obs']}, groups:  hospital, {ref['n_groups']}" in text


@pytest.mark.parametrize("name", ["surgical_binomial_agq1", "surgical_binomial_agq10"])
def test_fit_json_holds_glmers_numbers(name: str) -> None:
    ref = _reference(name)
    answer = json.loads(_fit("--data", SURGICAL, "--formula", CBIND, "--nagq", str(ref["nAGQ"]), "--json"))
    assert answer["family"] == "binomial" and answer["link"] == "logit" and answer["nAGQ"] == ref["nAGQ"]
    assert answer["fixed_effects"]["Intercept"] == pytest.approx(
        ref["fixed_effects"]["(Intercept)"], abs=1e-5
    )
    assert answer["std_errors"]["Intercept"] == pytest.approx(ref["std_errors"]["(Intercept)"], abs=1e-5)
    assert answer["random_effects"] == {
        "group": "hospital",
        "sd": {"(Intercept)": pytest.approx(ref["sd_intercept"], abs=1e-5)},
    }
    assert answer["loglik"] == pytest.approx(ref["logLik"], abs=1e-5)
    assert answer["AIC"] == pytest.approx(ref["AIC"], abs=1e-4)
    assert answer["n_obs"] == ref["n_obs"] and answer["converged"] and not answer["warnings"]
    partial = {row["cluster"]: row["partial"] for row in answer["clusters"]}
    for row in ref["clusters"]:
        # a hospital's rate in %: the inverse logit of its coefficient
        rate = 100 / (1 + 2.718281828459045 ** -row["coef"])
        assert partial[row["cluster"]] == pytest.approx(rate, abs=1e-4)


def test_fit_of_known_standard_errors_matches_metafor(tmp_path: Path) -> None:
    ref = _reference("eight_schools_tripled")
    table = ref["data"]
    lines = ["school,effect,se"] + [f"{row['school']},{row['effect']},{row['se']}" for row in table]
    text_args = ["--estimate", "effect", "--se", "se", "--group", "school"]
    path = tmp_path / "tripled.csv"
    path.write_text("\n".join(lines) + "\n")
    answer = json.loads(_fit("--data", str(path), *text_args, "--json"))
    text = _fit("--data", str(path), *text_args)
    assert answer["family"] == "gaussian (known SEs)" and answer["method"] == "REML"
    assert answer["fixed_effects"]["Intercept"] == pytest.approx(ref["mu"], rel=1e-6)
    assert answer["std_errors"]["Intercept"] == pytest.approx(ref["se_mu"], rel=1e-6)
    assert answer["tau2"] == pytest.approx(ref["tau2"], rel=1e-6)
    assert answer["se_tau2"] == pytest.approx(ref["se_tau2"], rel=1e-4)
    assert answer["random_effects"]["sd"]["(Intercept)"] == pytest.approx(ref["tau2"] ** 0.5, rel=1e-6)
    assert answer["loglik"] == pytest.approx(ref["logLik"], rel=1e-8)
    # metafor prints 4 decimals
    assert f"{ref['tau2']:.4f} (SE = {ref['se_tau2']:.4f})" in text
    assert _row(text, f"{ref['mu']:.4f}")[1] == f"{ref['se_mu']:.4f}"


def test_fit_of_eight_schools_says_tau_is_on_the_boundary() -> None:
    ref = _reference("eight_schools_reml")
    result = runner.invoke(
        app, ["fit", "--data", SCHOOLS, "--estimate", "effect", "--se", "se", "--group", "school", "--json"]
    )
    assert result.exit_code == 0, result.output
    answer = json.loads(result.stdout)
    assert answer["fixed_effects"]["Intercept"] == pytest.approx(ref["mu"], rel=1e-7)
    assert answer["tau2"] == 0 and answer["is_singular"]
    assert any("boundary" in warning for warning in answer["warnings"])


def test_fit_writes_the_cluster_table(tmp_path: Path) -> None:
    ref = _reference("surgical_binomial_agq1")
    out = tmp_path / "surgical.csv"
    _fit("--data", SURGICAL, "--formula", CBIND, "--estimates", str(out))
    table = pd.read_csv(out)
    modes = {row["cluster"]: row["conditional_mode"] for row in ref["clusters"]}
    intercept = ref["fixed_effects"]["(Intercept)"]
    for row in table.itertuples():
        assert row.partial_intercept == pytest.approx(intercept + modes[row.cluster], abs=1e-5)


def test_explain_prints_the_report_of_a_rates_scenario() -> None:
    ref = _reference("surgical_binomial_agq1")
    result = runner.invoke(app, ["explain", "surgical"])
    assert result.exit_code == 0, result.output
    assert f"fixed effect Intercept = {ref['fixed_effects']['(Intercept)']:.4g}" in result.stdout
    assert f"random intercepts = {ref['sd_intercept']:.4g}" in result.stdout
    # hospital A: 0 of 47 operations, shrunk to the rate of its coefficient
    coef = next(row["coef"] for row in ref["clusters"] if row["cluster"] == "A")
    rate = 100 / (1 + 2.718281828459045**-coef)
    assert re.search(rf"\| A \| 47 \| 0 \| {rate:.4g} \|", result.stdout)


def test_explain_of_own_data_with_known_standard_errors() -> None:
    ref = _reference("eight_schools_reml")
    result = runner.invoke(
        app, ["explain", "--data", SCHOOLS, "--estimate", "effect", "--se", "se", "--group", "school"]
    )
    assert result.exit_code == 0, result.output
    assert f"pooled mean μ̂ = {ref['mu']:.4g}" in result.stdout


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--data", SCHOOLS, "--y", "effect", "--group", "school", "--nagq", "3"], "--nagq is for binomial"),
        (["--data", SURGICAL, "--formula", CBIND, "--nagq", "40"], "nagq"),
        (["--data", SURGICAL, "--formula", CBIND, "--method", "REML"], "model.method: ML"),
        (["--data", SCHOOLS, "--estimate", "effect", "--y", "effect", "--group", "school"], "--estimate"),
        (
            ["--data", SURGICAL, "--y", "deaths", "--group", "hospital", "--trials", "operations"],
            "data.trials is for model.family: binomial",
        ),
    ],
)
def test_fit_refuses_bad_input_in_one_line(arguments: list[str], message: str) -> None:
    result = runner.invoke(app, ["fit", *arguments])
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.output
