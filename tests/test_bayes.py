"""The Bayesian engine against brms 2.18 (tests/data/brms, see ORIGIN.md), and its pieces on their own."""

from __future__ import annotations

import functools
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from shrinkvis.fit import fit
from shrinkvis.fit.bayes import default_priors, diagnostics
from shrinkvis.scenario import BayesSpec, ModelSpec

from .conftest import load_reference

CLASSIC = Path(__file__).parent / "data" / "classic"
BRMS_DIR = Path(__file__).parent / "data" / "brms"
BRMS_CASES = sorted(path.stem.removesuffix("_brms") for path in BRMS_DIR.glob("*_brms.json"))
#: as many draws as brms's reference (4 chains x 5,000), so that the two Monte Carlo errors are alike
DRAWS = 5000


@functools.cache
def _fit_case(case: str):
    data, expected = load_reference(case)
    brms = json.loads((BRMS_DIR / f"{case}_brms.json").read_text())
    columns = expected["columns"]
    frame = {"y": data[columns["y"]], "cluster": data[columns["group"]]}
    if columns["x"]:
        frame["x"] = data[columns["x"]]
    model = ModelSpec(random=brms["random"], engine="bayes", bayes=BayesSpec(draws=DRAWS, seed=20261130))
    estimates = fit(pd.DataFrame(frame), model, x_name=columns["x"] or "x", group_name=columns["group"])
    return estimates, brms


@pytest.fixture(scope="module", params=BRMS_CASES)
def matched(request):
    return _fit_case(request.param)


def test_the_priors_are_the_ones_brms_chose(matched):
    estimates, brms = matched
    assert estimates.bayes.prior_summary == [
        {**row, "prior": row["prior"] or ("(flat)" if row["class"] == "b" else "")} for row in brms["priors"]
    ]


def test_population_posterior_matches_brms(matched):
    estimates, brms = matched
    ours = estimates.bayes.posterior
    assert set(ours) == {row["variable"] for row in brms["population"]}
    for row in brms["population"]:
        mine = ours[row["variable"]]
        mcse = math.hypot(mine["mcse_mean"], row["mcse_mean"])
        assert abs(mine["mean"] - row["mean"]) <= 4 * mcse, row["variable"]
        for key in ("sd", "q2.5", "q97.5"):
            assert abs(mine[key] - row[key]) <= 0.1 * row["sd"], (row["variable"], key)
        # (the singular case's SDs are the sampler's hardest shape: bulk ESS ~ 4 % of the draws there)
        assert mine["rhat"] < 1.01 and mine["ess_bulk"] > 400, row["variable"]


def test_every_cluster_posterior_matches_brms(matched):
    estimates, brms = matched
    table = estimates.clusters.set_index("cluster")
    for row in brms["clusters"]:
        name = "intercept" if row["coefficient"] == "Intercept" else "slope"
        mean = table.loc[row["cluster"], f"bayes_{name}"]
        sd = table.loc[row["cluster"], f"bayes_{name}_sd"]
        assert abs(mean - row["mean"]) <= 0.1 * row["sd"], (row["cluster"], name)
        assert abs(sd - row["sd"]) <= 0.1 * row["sd"], (row["cluster"], name)
        # intervals: Monte Carlo error of tail quantiles is larger, hence the wider band
        for key, column in (("q2.5", "lo"), ("q97.5", "hi")):
            assert abs(table.loc[row["cluster"], f"bayes_{name}_{column}"] - row[key]) <= 0.2 * row["sd"]


def test_the_singular_case_correlation_is_wide_not_one():
    estimates, _ = _fit_case("singular_s8")
    assert estimates.bayes.reml["corr"] == pytest.approx(1.0, abs=1e-6)  # what lme4 says
    corr = estimates.bayes.posterior["cor_cluster__Intercept__x"]
    assert corr["mean"] == pytest.approx(0.17, abs=0.03)
    assert corr["sd"] == pytest.approx(0.56, abs=0.03)


def test_default_priors_follow_brms_rule():
    y = np.array([500.0, 510.0, 530.0, 490.0, 508.14])
    priors = default_priors(y)
    assert priors.intercept_location == 508.1  # round(median, 1)
    assert (
        priors.intercept_scale == priors.sd_scale == priors.sigma_scale == round(1.4826 * 8.14, 1)
    )  # mad: median |y - 508.14| = 8.14
    small = default_priors(np.array([0.1, 0.2, 0.4]))
    assert small.sd_scale == 2.5 and small.intercept_location == 0.2
    assert default_priors(y, sd_scale=1.0).sd_scale == 1.0


def test_diagnostics_of_independent_and_of_disagreeing_chains():
    rng = np.random.default_rng(5)
    iid = rng.standard_normal((4, 2000))
    good = diagnostics(iid)
    assert good["rhat"] < 1.005
    assert 6000 < good["ess_bulk"] < 10000
    assert good["mcse_mean"] == pytest.approx(1 / math.sqrt(8000), rel=0.15)
    shifted = iid + np.array([0.0, 0.0, 0.0, 1.0])[:, None]
    assert diagnostics(shifted)["rhat"] > 1.05
    sticky = np.repeat(rng.standard_normal((4, 200)), 10, axis=1)  # every state held 10 draws
    assert diagnostics(sticky)["ess_bulk"] < 1200


def test_fit_cli_prints_the_posterior_by_brms_names_and_writes_the_bayes_columns(tmp_path):
    from typer.testing import CliRunner

    from shrinkvis.cli import app

    from .conftest import LME4_DIR

    table = tmp_path / "est.csv"
    result = CliRunner().invoke(
        app,
        ["fit", "--data", str(LME4_DIR / "intercept_only_s7.csv"), "--y", "score", "--group", "school",
         "--engine", "bayes", "--json", "--estimates", str(table)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output)
    assert payload["engine"] == "bayes"
    assert payload["converged"] is True and payload["sampler"]["converged"] is True
    posterior = payload["posterior"]
    assert set(posterior) == {"b_Intercept", "sd_school__Intercept", "sigma"}
    for row in posterior.values():
        assert set(row) == {"mean", "sd", "q2.5", "q50", "q97.5", "mcse_mean", "rhat", "ess_bulk", "ess_tail"}
        assert row["ess_tail"] >= 400 and row["rhat"] <= 1.01
        assert row["q2.5"] < row["q50"] < row["q97.5"]
    # the usual keys are the posterior means; REML stays beside them
    assert payload["fixed_effects"]["Intercept"] == posterior["b_Intercept"]["mean"]
    assert payload["sd_intercept"] == pytest.approx(posterior["sd_school__Intercept"]["mean"])
    assert payload["residual_sd"] == posterior["sigma"]["mean"]
    assert payload["reml"]["sd_intercept"] == pytest.approx(17.6, abs=0.1)  # lme4: 17.60
    assert payload["priors"][0]["prior"] == "student_t(3, 508.1, 28.5)"
    written = pd.read_csv(table, dtype={"cluster": str})
    bayes_columns = [c for c in written.columns if c.startswith("bayes_")]
    assert bayes_columns == [
        f"bayes_{k}{s}" for k in ("intercept", "slope") for s in ("", "_sd", "_lo", "_hi")
    ]
    assert written["bayes_slope"].isna().all()  # no predictor
    assert (written["bayes_intercept_lo"] < written["bayes_intercept"]).all()
    assert (written["bayes_intercept"] < written["bayes_intercept_hi"]).all()


@functools.cache
def _singular_slope():
    from shrinkvis import pipeline, scenario

    loaded = scenario.load("singular_slope", ["model.bayes.draws=400"])
    data = pipeline.source_data(loaded)
    return loaded, data, pipeline.fit_data(data, loaded)


def test_singular_slope_scenario_collapses_under_reml_and_not_under_bayes():
    _, _, estimates = _singular_slope()
    assert estimates.bayes.reml["is_singular"]
    assert estimates.bayes.reml["corr"] == pytest.approx(-1.0, abs=1e-6)
    table = estimates.clusters
    reml_width = 2 * 1.96 * table["partial_slope_se"]
    bayes_width = table["bayes_slope_hi"] - table["bayes_slope_lo"]
    assert (reml_width < 0.1 * bayes_width).all()  # REML's slope intervals have almost disappeared
    assert abs(estimates.bayes.posterior["cor_cluster__Intercept__x"]["mean"]) < 0.5


def test_pictures_under_bayes_go_to_the_posterior_and_say_so():
    from shrinkvis import story

    loaded, data, estimates = _singular_slope()
    table = estimates.clusters
    funnel = story.build(estimates, loaded, data.frame)
    assert "Bayes" in funnel.header.caption
    slope_panel = funnel.panels[1]
    assert slope_panel.states.shape[0] == 3  # no pooling → REML → Bayes
    assert np.allclose(slope_panel.states[1], table["partial_slope"])
    assert np.allclose(slope_panel.states[2], table["bayes_slope"])
    assert np.allclose(slope_panel.se_states[2] * 2 * 1.96, table["bayes_slope_hi"] - table["bayes_slope_lo"])
    assert (slope_panel.se_states[1] < 0.1 * slope_panel.se_states[2]).all()

    shrinkage = story.build(
        estimates,
        loaded.model_copy(update={"animation": loaded.animation.model_copy(update={"view": "shrinkage"})}),
    )
    assert np.allclose(shrinkage.states[-1], table[["bayes_intercept", "bayes_slope"]])
    stages = story.build(
        estimates,
        loaded.model_copy(update={"animation": loaded.animation.model_copy(update={"view": "stages"})}),
    )
    assert np.allclose(stages.states[1], table[["partial_intercept", "partial_slope"]])
    assert np.allclose(stages.states[2], table[["bayes_intercept", "bayes_slope"]])


def test_a_shift_of_y_moves_only_the_intercepts():
    """y + 1e6: brms's intercept prior moves with the median, so the posterior is the same model shifted —
    intercepts up by 1e6, everything else unchanged (within Monte Carlo error; the chains need not take
    the same path, the sums being measured from different centres)."""
    data, expected = load_reference("baseline_s1")
    columns = expected["columns"]
    frame = pd.DataFrame(
        {"y": data[columns["y"]], "x": data[columns["x"]], "cluster": data[columns["group"]]}
    )
    model = ModelSpec(random="slope", engine="bayes", bayes=BayesSpec(draws=1000, seed=7))
    shift = 1e6
    plain = fit(frame, model, x_name="x", group_name="cluster")
    moved = fit(frame.assign(y=frame["y"] + shift), model, x_name="x", group_name="cluster")
    assert moved.bayes.prior_summary[2]["prior"] != plain.bayes.prior_summary[2]["prior"]
    assert moved.bayes.priors.intercept_location == pytest.approx(
        plain.bayes.priors.intercept_location + shift
    )
    for name, row in plain.bayes.posterior.items():
        other = moved.bayes.posterior[name]
        offset = shift if name == "b_Intercept" else 0.0
        mcse = math.hypot(row["mcse_mean"], other["mcse_mean"])
        assert abs(other["mean"] - offset - row["mean"]) <= 4 * mcse, name
        assert other["sd"] == pytest.approx(row["sd"], rel=0.1), name
        assert other["rhat"] < 1.01, name
    plain_table, moved_table = plain.clusters, moved.clusters
    for column in ("bayes_intercept", "bayes_intercept_lo", "bayes_intercept_hi"):
        scale = plain_table["bayes_intercept_sd"]
        assert (np.abs(moved_table[column] - shift - plain_table[column]) <= 0.15 * scale).all(), column
    for column in ("bayes_slope", "bayes_intercept_sd", "bayes_slope_sd"):
        scale = plain_table[column.removesuffix("_sd") + "_sd"]
        assert (np.abs(moved_table[column] - plain_table[column]) <= 0.15 * scale).all(), column


def test_the_variance_posterior_agrees_with_emcee_on_the_same_density():
    """The engine's sampler against a general-purpose one (emcee's affine-invariant ensemble) on the log
    density of Sigma for the intercept at x = 0, where brms puts its priors: same posterior means (within
    Monte Carlo error) and SDs of the SDs, the correlation and sigma. (The engine samples Sigma for the
    intercept at the mean of x; the next test checks that change of coordinates exactly.)"""
    import emcee

    from shrinkvis.fit.bayes import fit_bayes, log_posterior
    from shrinkvis.fit.profiled import cluster_stats, fit_profiled

    data, expected = load_reference("baseline_s1")
    columns = expected["columns"]
    labels, codes = np.unique(data[columns["group"]].to_numpy(), return_inverse=True)
    y = data[columns["y"]].to_numpy(float)
    stats = cluster_stats(y, data[columns["x"]].to_numpy(float), codes, len(labels))
    priors = default_priors(y)
    reml = fit_profiled(stats, "slope")
    sd = np.sqrt(np.diag(reml.cov_re))
    corr = float(reml.cov_re[0, 1] / (sd[0] * sd[1]))
    ours = fit_bayes(stats, "slope", priors, seed=11, start=(sd, corr, reml.sigma), draws=2000).posterior

    walkers, steps, burn = 16, 3000, 500
    start = np.array([math.log(sd[0]), math.log(sd[1]), math.atanh(corr), math.log(reml.sigma)])
    rng = np.random.default_rng(12)
    sampler = emcee.EnsembleSampler(walkers, 4, log_posterior(stats, "slope", priors))
    sampler.random_state = np.random.RandomState(13).get_state()
    sampler.run_mcmc(start + 0.01 * rng.standard_normal((walkers, 4)), steps)
    u = sampler.get_chain(discard=burn, flat=True)
    ess = walkers * (steps - burn) / sampler.get_autocorr_time(discard=burn, quiet=True)
    theirs = {
        "sd_cluster__Intercept": np.exp(u[:, 0]),
        "sd_cluster__x": np.exp(u[:, 1]),
        "cor_cluster__Intercept__x": np.tanh(u[:, 2]),
        "sigma": np.exp(u[:, 3]),
    }
    for k, (name, values) in enumerate(theirs.items()):
        mine = ours[name]
        mcse = math.hypot(mine["mcse_mean"], values.std() / math.sqrt(ess[k]))
        assert abs(values.mean() - mine["mean"]) <= 4 * mcse, name
        assert values.std() == pytest.approx(mine["sd"], rel=0.1), name


@pytest.mark.parametrize("centre_x", [2.5, -40.0, 300.0])
def test_the_sampled_coordinates_map_to_brms_ones_with_the_right_jacobian(centre_x):
    """The sampler works on v (Sigma for the intercept at the mean of x), the priors are on u (at x = 0):
    u(v) must invert v(u), and the log Jacobian the density adds must be log |det du/dv|, here checked
    against central finite differences at random points."""
    from shrinkvis.fit.bayes import _Target

    class Problem:
        q = 2

    Problem.centre_x = centre_x
    target = _Target.__new__(_Target)
    target.problem, target.q, target.anchor = Problem(), 2, 0.0
    _check_jacobian(target)
    target.anchor = -0.5 * centre_x  # sampled at an intercept between x = 0 and the mean of x
    _check_jacobian(target)


def _check_jacobian(target):

    def u_of(v):
        log_s0, r, _, _ = target.origin(v)
        return np.array([log_s0, v[1], r, v[3]])

    rng = np.random.default_rng(5)
    for _ in range(20):
        v = rng.normal(size=4) * np.array([1.0, 1.0, 1.2, 0.5])
        h = 1e-6
        jac = np.array([(u_of(v + h * e) - u_of(v - h * e)) / (2 * h) for e in np.eye(4)]).T
        # (further out, float64 finite differences lose the digits themselves; at 1e6 the closed form agreed
        # with 50-digit mpmath differences to 1e-9 when this was written, and the next test samples there)
        assert target.origin(v)[3] == pytest.approx(math.log(abs(np.linalg.det(jac))), abs=1e-4)
        assert target.centred(u_of(v)) == pytest.approx(v, abs=1e-8)


def test_x_far_from_zero_is_sampled_well_and_warned_about():
    """x = 10^6 + days: in brms's coordinates (Sigma at x = 0) the correlation sits at -1 and the
    intercept's SD is 10^6 slope SDs, which a sampler on those coordinates cannot move through; sampled at
    the mean of x, the chains mix as on the unshifted data. With a vague SD prior, so that the posterior
    is well defined and unimodal, every diagnostic is clean; the plain-words warning says that brms's
    priors make the result depend on where x = 0 is."""
    from shrinkvis.fit.bayes import fit_bayes
    from shrinkvis.fit.profiled import cluster_stats, fit_profiled

    data = pd.read_csv(CLASSIC / "sleepstudy.csv")
    labels, codes = np.unique(data["Subject"].to_numpy(), return_inverse=True)
    y = data["Reaction"].to_numpy(float)
    stats = cluster_stats(y, data["Days"].to_numpy(float) + 1e6, codes, len(labels))
    reml = fit_profiled(stats, "slope")
    sd = np.sqrt(np.diag(reml.cov_re))
    corr = float(reml.cov_re[0, 1] / (sd[0] * sd[1]))
    fit = fit_bayes(
        stats, "slope", default_priors(y, sd_scale=1e9), seed=3, start=(sd, corr, reml.sigma), x_name="Days"
    )
    assert fit.acceptance > 0.3
    for name, row in fit.posterior.items():
        assert row["rhat"] <= 1.01, name
        assert row["ess_bulk"] >= 400, name
    slope = fit.posterior["b_Days"]
    assert abs(slope["mean"] - 10.467) <= 4 * slope["mcse_mean"]  # lme4's fixed slope; flat prior on it
    assert fit.warnings == (
        "Days sits 3.48e+05 SDs from 0 (mean 1e+06): brms's priors are on the random intercept at Days = 0, "
        "so they also shrink the SD of the slope and the posterior depends on where Days = 0 is; subtract "
        "a value near its mean from Days to avoid this",
    )


def test_tail_ess_sees_chains_that_never_reach_a_tail():
    rng = np.random.default_rng(11)
    iid = rng.standard_normal((4, 2000))
    assert 5000 < diagnostics(iid)["ess_tail"] < 10000
    # the tails visited in long excursions: each draw repeated 20 times, so the quantile indicators stick
    sticky = np.repeat(rng.standard_normal((4, 100)), 20, axis=1)
    assert diagnostics(sticky)["ess_tail"] < 400


def test_convergence_problems_name_the_parameters_and_suggest_more_draws_only_where_they_help():
    from shrinkvis.fit.bayes import convergence_problems

    good = {"mean": 0.0, "rhat": 1.001, "ess_bulk": 2000.0, "ess_tail": 1500.0}
    assert convergence_problems({"a": good, "b": good}, 1000, 0.5) == []
    few = {**good, "ess_bulk": 300.0}  # the chains agree, the ESS grows with the draws
    (text,) = convergence_problems({"a": good, "b": few}, 1000, 0.5)
    assert "did not converge" in text and "b (300)" in text and "model.bayes.draws=1700" in text
    stuck = {**good, "rhat": 1.2, "ess_bulk": 20.0}  # chains that disagree: more of the same does not help
    (text,) = convergence_problems({"a": stuck}, 1000, 0.1)
    assert "R-hat above 1.01" in text and "would not help" in text and "draws=" not in text
    assert convergence_problems({"a": {**good, "ess_tail": math.nan}}, 1000, 0.5)  # undefined is not a pass


def _cli_fit(tmp_path, *options):
    from typer.testing import CliRunner

    from shrinkvis.cli import app

    frame = pd.read_csv(CLASSIC / "sleepstudy.csv").rename(columns={"Days": "study_hours"})
    frame.to_csv(tmp_path / "sleep.csv", index=False)
    command = ["fit", "--data", str(tmp_path / "sleep.csv"), "--y", "Reaction", "--x", "study_hours"]
    return CliRunner().invoke(app, [*command, "--group", "Subject", "--engine", "bayes", *options])


def test_brms_summary_columns_line_up_whatever_the_label(tmp_path):
    result = _cli_fit(tmp_path)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    headings = [i for i, line in enumerate(lines) if line.rstrip().endswith("Bulk_ESS Tail_ESS")]
    assert len(headings) == 3  # group-level, population-level, family-specific
    widths = {len(lines[i]) for i in headings}
    assert len(widths) == 1
    for i in headings:
        heading = lines[i]
        ends = [
            p + 1
            for p, c in enumerate(heading)
            if c != " " and (p + 1 == len(heading) or heading[p + 1] == " ")
        ]
        block = []
        for line in lines[i + 1 :]:
            if not line.strip():
                break
            block.append(line)
        assert block, lines[i]
        for line in block:
            assert len(line) == len(lines[i]), line  # no number pushed out of line
            # every column's number ends where its heading ends
            assert all(line[end - 1] != " " for end in ends), line
    assert any(line.startswith("cor(Intercept,study_hours)") for line in lines)


def test_a_posterior_that_fails_the_diagnostics_says_so_everywhere_and_exits_3(tmp_path, monkeypatch):
    from shrinkvis.fit import sampler

    monkeypatch.setattr(sampler, "ESS_WARN", 10**9)  # no chain can pass: the not-converged path end to end
    result = _cli_fit(tmp_path, "--json")
    assert result.exit_code == 3, result.output
    payload = json.loads(result.stdout)
    assert payload["converged"] is False and payload["sampler"]["converged"] is False
    assert any(w.startswith("the Bayesian fit did not converge") for w in payload["warnings"])
    text = _cli_fit(tmp_path)
    assert text.exit_code == 3
    assert "NOT CONVERGED" in text.stdout
