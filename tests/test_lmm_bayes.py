"""The Bayesian engine for the whole class (fit/lmm_bayes.py) against brms 2.18 fits of eight models of the
class at brms's default priors (tests/data/lme4_class/<case>_brms.json, made by make_brms_class.R)."""

from __future__ import annotations

import functools
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from shrinkvis.design import design
from shrinkvis.fit.blocks import blocks_of
from shrinkvis.fit.lmm_bayes import brms_name, log_jacobian_cpc
from shrinkvis.fit.model_fit import fit_design
from shrinkvis.scenario import BayesSpec

HERE = Path(__file__).parent / "data" / "lme4_class"
CASES = sorted(path.stem.removesuffix("_brms") for path in HERE.glob("*_brms.json"))
#: as many draws as brms's references (4 chains x 2,500), so that the two Monte Carlo errors are alike
SPEC = BayesSpec(draws=2500, seed=20261205)


@functools.cache
def _frame() -> pd.DataFrame:
    return pd.read_csv(HERE / "class.csv")


@functools.cache
def _fit(case: str, shift: float = 0.0):
    brms = json.loads((HERE / f"{case}_brms.json").read_text())
    frame = _frame().assign(y=_frame()["y"] + shift)
    return fit_design(design(brms["formula"], frame), "REML", "bayes", SPEC), brms


def test_the_eight_cases_are_there():
    assert set(CASES) == {
        "factor",
        "independent",
        "log_n",
        "no_intercept",
        "slope_not_fixed",
        "three_fixed",
        "two_bars",
        "two_slopes",
    }


@pytest.fixture(scope="module", params=CASES)
def matched(request):
    return _fit(request.param)


def test_the_priors_are_the_ones_brms_chose(matched):
    model, brms = matched
    assert model.posterior.prior_summary == [
        {
            "prior": row["prior"] or ("(flat)" if row["class"] == "b" else ""),
            **{key: row[key] for key in ("class", "coef", "group")},
        }
        for row in brms["priors"]
    ]


def test_population_posterior_matches_brms(matched):
    model, brms = matched
    ours = model.posterior.posterior
    assert set(ours) == {row["variable"] for row in brms["population"]}  # brms's names, every one
    for row in brms["population"]:
        mine = ours[row["variable"]]
        mcse = math.hypot(mine["mcse_mean"], row["mcse_mean"])
        assert abs(mine["mean"] - row["mean"]) <= 4 * mcse, row["variable"]
        assert abs(mine["sd"] - row["sd"]) <= 0.1 * row["sd"], row["variable"]
        # the Monte Carlo error of a 2.5 % quantile at these ESS is ~0.07 SD (both fits together)
        for key in ("q2.5", "q97.5"):
            assert abs(mine[key] - row[key]) <= 0.2 * row["sd"], (row["variable"], key)
        assert mine["rhat"] < 1.01 and mine["ess_bulk"] > 400 and mine["ess_tail"] > 400, row["variable"]
    assert model.converged and not model.posterior.warnings


def test_every_cluster_coefficient_matches_brms_coef(matched):
    model, brms = matched
    table = model.clusters.set_index("cluster")
    stems = {
        brms_name(name): ("intercept" if name == "(Intercept)" else name) for name in model.mixed.random_names
    }
    # brms's coef() lists every population-level coefficient per cluster; the random effects' are compared
    assert set(stems) <= {row["coefficient"] for row in brms["clusters"]}
    for row in (row for row in brms["clusters"] if row["coefficient"] in stems):
        stem = stems[row["coefficient"]]
        where = (row["cluster"], row["coefficient"])
        assert abs(table.loc[row["cluster"], f"bayes_{stem}"] - row["mean"]) <= 0.1 * row["sd"], where
        assert abs(table.loc[row["cluster"], f"bayes_{stem}_sd"] - row["sd"]) <= 0.1 * row["sd"], where
        for key, end in (("q2.5", "lo"), ("q97.5", "hi")):
            assert abs(table.loc[row["cluster"], f"bayes_{stem}_{end}"] - row[key]) <= 0.2 * row["sd"], where


def test_a_shift_of_y_moves_only_the_intercept():
    """y + 10^6: brms's intercept prior moves with the median, so only b_Intercept (and each cluster's
    intercept) moves, by exactly the shift; every other summary stays within Monte Carlo noise."""
    plain, _ = _fit("three_fixed")
    moved, _ = _fit("three_fixed", 1e6)
    for name, row in plain.posterior.posterior.items():
        other = moved.posterior.posterior[name]
        offset = 1e6 if name == "b_Intercept" else 0.0
        assert abs(other["mean"] - offset - row["mean"]) <= 0.1 * row["sd"], name
        assert other["sd"] == pytest.approx(row["sd"], rel=0.1), name
    shifted = moved.clusters["bayes_intercept"] - 1e6
    assert np.allclose(
        shifted, plain.clusters["bayes_intercept"], atol=0.1 * plain.clusters["bayes_intercept_sd"].min()
    )


@pytest.mark.parametrize("m", [2, 3, 4])
def test_the_jacobian_of_the_partial_correlations_is_the_determinant_of_the_map(m):
    """log |dR/dz| (lmm_bayes._corr_factor) against the determinant of finite differences of the map from
    the canonical partial correlations to the correlations below the diagonal."""
    from shrinkvis.fit.lmm_bayes import _corr_factor

    rng = np.random.default_rng(m)
    k = m * (m - 1) // 2
    for _ in range(5):
        z = rng.uniform(-0.9, 0.9, k)

        def lower(values: np.ndarray) -> np.ndarray:
            L = _corr_factor(values[None, :], m)[0][0]
            R = L @ L.T
            return R[np.tril_indices(m, -1)]

        h = 1e-6
        jacobian = np.column_stack([(lower(z + h * e) - lower(z - h * e)) / (2 * h) for e in np.eye(k)])
        assert log_jacobian_cpc(z, m)[0] == pytest.approx(math.log(abs(np.linalg.det(jacobian))), abs=1e-6)


def test_parameter_names_are_brms_names():
    assert [
        brms_name(name) for name in ("(Intercept)", "log(n)", "I(x2^2)", "x1:treatB", "poly(x1, 2)1")
    ] == [
        "Intercept",
        "logn",
        "Ix2E2",
        "x1:treatB",
        "polyx121",
    ]


def test_the_blocks_engine_and_the_design_agree_on_the_table(matched):
    """estimates.csv keeps REML's columns and adds the posterior's per random effect."""
    model, _ = matched
    for name in model.mixed.random_names:
        stem = "intercept" if name == "(Intercept)" else name
        for suffix in ("", "_sd", "_lo", "_hi"):
            column = model.clusters[f"bayes_{stem}{suffix}"]
            assert np.isfinite(column).all()
        assert (model.clusters[f"bayes_{stem}_lo"] < model.clusters[f"bayes_{stem}_hi"]).all()
    assert len(model.clusters) == blocks_of(design(model.design_formula, _frame())).n_groups


def _cli(tmp_path, *options):
    from typer.testing import CliRunner

    from shrinkvis.cli import app

    path = tmp_path / "class.csv"
    _frame().to_csv(path, index=False)
    command = [
        "fit",
        "--data",
        str(path),
        "--formula",
        "y ~ x1 + log(n) + (x1 | cluster)",
        "--engine",
        "bayes",
    ]
    return CliRunner().invoke(app, [*command, *options])


def test_fit_prints_the_posterior_with_brms_names(tmp_path):
    result = _cli(tmp_path, "--json", "--estimates", str(tmp_path / "estimates.csv"))
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["engine"] == "bayes" and payload["converged"] is True
    assert set(payload["posterior"]) == {
        "b_Intercept",
        "b_x1",
        "b_logn",
        "sd_cluster__Intercept",
        "sd_cluster__x1",
        "cor_cluster__Intercept__x1",
        "sigma",
    }
    # as the two-effect engine: population numbers are posterior means, REML's under "reml"
    assert payload["fixed_effects"]["log(n)"] == payload["posterior"]["b_logn"]["mean"]
    assert payload["std_errors"]["x1"] == payload["posterior"]["b_x1"]["sd"]
    assert (
        payload["random_effects"]["cor"]["(Intercept):x1"]
        == payload["posterior"]["cor_cluster__Intercept__x1"]["mean"]
    )
    assert payload["reml"]["fixed_effects"]["log(n)"] != payload["fixed_effects"]["log(n)"]
    table = pd.read_csv(tmp_path / "estimates.csv")
    assert {"bayes_intercept", "bayes_x1_sd", "bayes_x1_lo", "bayes_x1_hi"} <= set(table.columns)
    text = _cli(tmp_path)
    assert text.exit_code == 0
    assert "Population-Level Effects:" in text.stdout and "logn" in text.stdout
    assert "Correlation of Fixed Effects:" in text.stdout  # the REML fit beside it, as lme4 prints it


def test_a_posterior_that_fails_the_diagnostics_exits_3_and_says_so(tmp_path, monkeypatch):
    from shrinkvis.fit import sampler

    monkeypatch.setattr(sampler, "ESS_WARN", 10**9)
    result = _cli(tmp_path, "--json")
    assert result.exit_code == 3, result.output
    payload = json.loads(result.stdout)
    assert payload["converged"] is False and payload["sampler"]["converged"] is False
    assert any(w.startswith("the Bayesian fit did not converge") for w in payload["warnings"])
    text = _cli(tmp_path)
    assert text.exit_code == 3 and "NOT CONVERGED" in text.stdout


def test_a_table_summed_by_duckdb_is_refused_in_one_line(tmp_path):
    from typer.testing import CliRunner

    from shrinkvis.cli import app

    folder = tmp_path / "parts"
    folder.mkdir()
    frame = _frame()
    frame.iloc[:200].to_csv(folder / "a.csv", index=False)
    frame.iloc[200:].to_csv(folder / "b.csv", index=False)
    result = CliRunner().invoke(
        app, ["fit", "--data", str(folder), "--formula", "y ~ x1 + x2 + (x1 | cluster)", "--engine", "bayes"]
    )
    assert result.exit_code == 2
    message = result.output.strip().splitlines()
    assert len(message) == 1 and "median and MAD" in message[0] and "--engine exact" in message[0]


def test_a_random_slope_far_from_zero_is_warned_about():
    """brms's priors sit on the random intercept at the column's 0: a slope on a column near 10^4 says so."""
    frame = _frame().assign(x1=_frame()["x1"] + 1e4)
    model = fit_design(design("y ~ x1 + (x1 | cluster)", frame), "REML", "bayes", BayesSpec(draws=300))
    assert any(w.startswith("x1 sits") and "subtract a value near its mean" in w for w in model.warnings)
    plain = fit_design(design("y ~ x1 + (x1 | cluster)", _frame()), "REML", "bayes", BayesSpec(draws=300))
    assert not any("sits" in w for w in plain.warnings)


@pytest.mark.parametrize("case", ["statsmodels_lme07_drf", "statsmodels_lme06_irf", "statsmodels_lme11_drf"])
def test_statsmodels_test_models_converge(case):
    """statsmodels' own MixedLM test models (no fixed intercept, a constant column as random intercept,
    independent bars): the chains pass brms's diagnostics. lme07's SD near 0 has a short tail ESS at
    1,000 draws: the sampler must see that on the reported SDs (a constant column mixes the working ones)
    and draw more."""
    reference = json.loads((HERE / f"{case}_REML.json").read_text())
    frame = pd.read_csv(HERE / f"{case.rsplit('_', 1)[0]}.csv")
    model = fit_design(design(reference["formula"], frame), "REML", "bayes", BayesSpec(seed=3))
    assert model.converged, model.warnings
    for name, sd in reference["sd"].items():
        row = model.posterior.posterior[model.posterior.sd_name(name)]
        assert row["q2.5"] < sd < row["q97.5"] or sd < 1e-3  # REML's SD inside the posterior's 95 % interval


@pytest.mark.parametrize("engine", ["exact", "bayes"])
def test_run_draws_a_random_slope_that_is_not_a_fixed_effect(tmp_path, engine):
    """`run` of y ~ x1 + (1 + x2 | g): the plane shows x2's random slope, whose fixed effect is 0 (it once
    failed with KeyError 'x2', then divided by its SE of 0 in the report)."""
    from typer.testing import CliRunner

    from shrinkvis.cli import app

    path = tmp_path / "class.csv"
    _frame().to_csv(path, index=False)
    small = ["--set", "animation.frames=4", "--set", "animation.width=160", "--set", "animation.height=120"]
    command = ["run", "--data", str(path), "--formula", "y ~ x1 + (1 + x2 | cluster)", "--engine", engine]
    result = CliRunner().invoke(app, [*command, "--out", str(tmp_path / "out"), "--format", "png", *small])
    assert result.exit_code == 0, result.output
    table = pd.read_csv(tmp_path / "out" / "class" / "estimates.csv")
    assert np.isfinite(table["partial_slope"]).all()
    assert ("bayes_slope" in table.columns) == (engine == "bayes")
    report = (tmp_path / "out" / "class" / "report.md").read_text()
    assert "y ~ x1 + (1 + x2 | cluster)" in report


def test_the_pictures_intercept_with_log_n_is_the_clusters_own_not_an_extrapolation():
    """y ~ x1 + log(n) + (x1 | g): brms's coef intercept is b_Intercept + r_j, the intercept at log(n) = 0,
    whose SD carries b_Intercept's (1.5 here). The picture takes log(n) off at the REML estimate, so its
    posterior is that of the cluster's own intercept less that term: the same centre, a smaller SD."""
    from shrinkvis.fit.model_fit import as_estimates

    model, _ = _fit("log_n")
    picture = as_estimates(model).clusters
    coef_sd = model.clusters["bayes_intercept_sd"].to_numpy()
    own_sd = picture["bayes_intercept_sd"].to_numpy()
    assert np.median(coef_sd) > 1.2 and np.all(own_sd < coef_sd) and np.median(own_sd / coef_sd) < 0.8
    shift = model.posterior.posterior["b_logn"]["mean"] - model.mixed.fixed_effects[2]
    log_n = np.log(model.clusters["n"].to_numpy())
    expected = model.clusters["bayes_intercept"].to_numpy() + shift * log_n
    assert np.allclose(picture["bayes_intercept"], expected, atol=0.1 * own_sd.min())
    assert (picture["bayes_intercept_lo"] < picture["bayes_intercept"]).all()


@pytest.mark.parametrize("formula", ["y ~ x1 + (x1 | cluster)", "y ~ x1 + log(n) + (x1 | cluster)"])
def test_the_caterpillar_draws_bayes_beside_reml_for_clusters_of_many_sizes(tmp_path, formula):
    """The caterpillar sizes its points by n; REML's points kept beside the Bayesian ones were made empty
    with one area per cluster (ValueError: s (size 40) cannot be broadcast), and the legend's Bayes keys
    took the per-cluster areas; the two-effect engine failed the same way."""
    from typer.testing import CliRunner

    from shrinkvis.cli import app

    path = tmp_path / "class.csv"
    _frame().to_csv(path, index=False)
    small = ["--set", "animation.frames=4", "--set", "animation.width=320", "--set", "animation.height=240"]
    command = ["run", "--data", str(path), "--formula", formula, "--engine", "bayes", "--view", "caterpillar"]
    result = CliRunner().invoke(app, [*command, "--out", str(tmp_path / "out"), "--format", "png", *small])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "out" / "class" / "caterpillar.png").stat().st_size > 0


def test_a_plane_view_of_a_model_with_one_random_effect_says_what_to_use(tmp_path):
    from typer.testing import CliRunner

    from shrinkvis.cli import app

    path = tmp_path / "class.csv"
    _frame().to_csv(path, index=False)
    for formula in ("y ~ x1 + (0 + x1 | cluster)", "y ~ x1 + x2 + (1 | cluster)"):
        command = ["run", "--data", str(path), "--formula", formula, "--view", "stages"]
        result = CliRunner().invoke(app, [*command, "--out", str(tmp_path / "out")])
        assert result.exit_code == 2
        lines = result.output.strip().splitlines()
        assert len(lines) == 1 and "has one; use --view funnel or --view caterpillar" in lines[0]
        assert "lines" not in lines[0].split("use")[1]  # the lines view leaves out the other terms: refused


def test_a_constant_column_that_is_not_the_intercept_gets_a_flat_prior():
    """y ~ 0 + one + x1 with a column of ones: brms gives `one` a flat prior like any b (no Intercept
    class); the engine centres on that column as on an intercept, but must not put brms's Intercept prior
    on it. With a weak prior either way the posterior equals that of y ~ x1 closely."""
    frame = _frame().assign(one=1.0)
    spec = BayesSpec(draws=1000, seed=5)
    # an Intercept prior (Student-t: heavy tails, so close by) that would drag `one` to 4.5 if applied to it
    strong = BayesSpec(draws=1000, seed=5, intercept_location=4.5, intercept_scale=0.01)
    own = fit_design(design("y ~ 0 + one + x1 + (x1 | cluster)", frame), "REML", "bayes", strong)
    classes = [row["class"] for row in own.posterior.prior_summary]
    assert "Intercept" not in classes and {"prior": "(flat)", "class": "b", "coef": "one", "group": ""} in (
        own.posterior.prior_summary
    )
    usual = fit_design(design("y ~ x1 + (x1 | cluster)", frame), "REML", "bayes", spec)
    a, b = own.posterior.posterior["b_one"], usual.posterior.posterior["b_Intercept"]
    assert abs(a["mean"] - b["mean"]) < 0.15 * b["sd"] and a["sd"] == pytest.approx(b["sd"], rel=0.1)
