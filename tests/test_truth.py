"""The truth a simulation knows: kept with the rows, scored against every way of pooling, revealed on the
frames; and where shrinkage hurts (small clusters that truly differ)."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from shrinkvis import gallery, pipeline, report, story
from shrinkvis.cli import app
from shrinkvis.errors import ScenarioError
from shrinkvis.fit import fit
from shrinkvis.fit.scores import CLEAR_LOSS
from shrinkvis.fit.truth import size_groups, with_truth
from shrinkvis.scenario import DataSpec, ModelSpec, builtin_names, load
from shrinkvis.simulate import cluster_effects, simulation

from .conftest import LME4_DIR

BEFORE = json.loads(
    (Path(__file__).parent / "data" / "simulated" / "rows_before_size_effect.json").read_text()
)


def rows_digest(frame: pd.DataFrame) -> str:
    """sha256 of y and x (little-endian float64) and cluster (little-endian int64), in that order."""
    digest = hashlib.sha256()
    for column, kind in (("y", "<f8"), ("x", "<f8"), ("cluster", "<i8")):
        digest.update(np.ascontiguousarray(frame[column].to_numpy()).astype(kind).tobytes())
    return digest.hexdigest()


def fitted(spec: DataSpec, model: ModelSpec | None = None):
    simulated = simulation(spec)
    return with_truth(fit(simulated.rows, model or ModelSpec()), simulated.truth)


# --- the simulation keeps the truth -------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(BEFORE["scenarios"]))
@pytest.mark.parametrize("overrides", [[], ["data.size_effect=0", "data.small_share=0"]])
def test_size_effect_zero_gives_the_rows_of_before(name, overrides):
    rows = pipeline.simulate_scenario(load(name, overrides))
    expected = BEFORE["scenarios"][name]
    assert len(rows) == expected["rows"]
    assert rows_digest(rows) == expected["sha256"]


def test_every_built_in_scenario_but_the_new_ones_has_reference_rows():
    # and the rates scenarios (issue 27), whose data are tables or the hospitals simulation
    rates = {"surgical", "baseball", "eight_schools", "hospitals"}
    assert set(builtin_names()) - set(BEFORE["scenarios"]) == {
        "small_differ",
        "singular_slope",
        "small_differ_remedy",
        *rates,
    }


def test_the_truth_is_the_population_plus_the_drawn_effects():
    spec = DataSpec(n_cluster=9, obs_per_cluster=4, cor=0.5, seed=3)
    rng = np.random.default_rng(spec.seed)
    rng.standard_normal(spec.n_cluster * spec.obs_per_cluster)  # x comes first
    effects = cluster_effects(spec, rng)
    truth = simulation(spec).truth
    assert truth["cluster"].tolist() == list(range(1, 10))
    assert np.array_equal(truth["true_intercept"], spec.intercept + effects[:, 0])
    assert np.array_equal(truth["true_slope"], spec.beta + effects[:, 1])


def test_without_noise_the_rows_lie_on_the_true_lines_also_with_a_size_effect():
    spec = DataSpec(n_cluster=30, obs_per_cluster=12, balanced=0.5, sigma=1e-12, size_effect=-3, seed=2)
    simulated = simulation(spec)
    rows = simulated.rows.merge(simulated.truth, on="cluster")
    assert np.allclose(rows["y"], rows["true_intercept"] + rows["true_slope"] * rows["x"], atol=1e-9)


def test_size_effect_shifts_the_true_intercepts_by_sds_per_log_unit_of_size():
    plain = DataSpec(n_cluster=50, obs_per_cluster=12, balanced=0.4, seed=7)
    shifted = plain.model_copy(update={"size_effect": -2.0})
    before, after = simulation(plain), simulation(shifted)
    assert before.rows["x"].equals(after.rows["x"]) and before.rows["cluster"].equals(after.rows["cluster"])
    sizes = after.rows.groupby("cluster").size().loc[after.truth["cluster"]].to_numpy()
    log_size = np.log(sizes)
    expected = -2.0 * plain.sd_int * (log_size - log_size.mean())
    assert np.allclose(after.truth["true_intercept"] - before.truth["true_intercept"], expected, atol=1e-12)
    # small clusters sit higher with a negative effect
    assert after.truth["true_intercept"].corr(pd.Series(log_size)) < before.truth["true_intercept"].corr(
        pd.Series(log_size)
    )


def test_small_share_makes_the_first_clusters_small():
    spec = DataSpec(n_cluster=20, obs_per_cluster=10, small_share=0.25, small_obs_per_cluster=3)
    sizes = simulation(spec).rows.groupby("cluster").size()
    assert sizes.loc[1:5].eq(3).all() and sizes.loc[6:].eq(10).all()


@pytest.mark.parametrize(
    "overrides, message",
    [
        (["data.size_effect=-2"], "size_effect = -2 needs clusters of different sizes"),
        (["data.small_share=0.2", "data.small_obs_per_cluster=10"], "must be below obs_per_cluster = 10"),
        (["data.size_effect=30"], "data.size_effect = 30: must be ≥ -20 and ≤ 20"),
        (["animation.truth=maybe"], "animation.truth = 'maybe'"),
    ],
)
def test_bad_size_settings_are_one_line(overrides, message):
    with pytest.raises(ScenarioError, match=message):
        load("baseline", overrides)


# --- the scores are what a direct computation gives --------------------------------------------------


def _rmse(values: np.ndarray) -> float:
    return float(np.sqrt(np.mean(values**2)))


def test_scores_equal_a_direct_computation():
    # one cluster with a single row: no own fit, left out of every score
    spec = DataSpec(n_cluster=40, obs_per_cluster=6, balanced=0.6, seed=11)
    estimates = fitted(spec)
    score = estimates.truth
    table = estimates.clusters
    own = np.isfinite(table["no_pool_intercept"]) & np.isfinite(table["no_pool_slope"])
    assert score.left_out == int((~own).sum()) and score.overall.clusters == int(own.sum())
    scored = table[own]
    complete = list(estimates.complete_pooling["estimates"].values())
    for axis, coefficient in enumerate(("intercept", "slope")):
        truth = scored[f"true_{coefficient}"].to_numpy()
        no_pool = scored[f"no_pool_{coefficient}"].to_numpy()
        partial = scored[f"partial_{coefficient}"].to_numpy()
        rmse = score.overall.rmse
        assert rmse["no_pooling"][coefficient] == pytest.approx(_rmse(no_pool - truth), rel=1e-12)
        assert rmse["partial_pooling"][coefficient] == pytest.approx(_rmse(partial - truth), rel=1e-12)
        assert rmse["complete_pooling"][coefficient] == pytest.approx(
            _rmse(complete[axis] - truth), rel=1e-12
        )
        expected = score.overall.expected_rmse
        assert expected["no_pooling"][coefficient] == pytest.approx(
            _rmse(scored[f"no_pool_{coefficient}_se"].to_numpy()), rel=1e-12
        )
        assert expected["partial_pooling"][coefficient] == pytest.approx(
            _rmse(scored[f"partial_{coefficient}_se"].to_numpy()), rel=1e-12
        )
        assert expected["complete_pooling"][coefficient] is None
        closer = np.mean(np.abs(partial - truth) < np.abs(no_pool - truth))
        assert score.overall.closer[coefficient] == closer
        assert score.overall.gain(coefficient) == pytest.approx(
            1 - _rmse(partial - truth) / _rmse(no_pool - truth), rel=1e-12
        )
    # the size groups split the scored clusters by size, the smallest first, and score each alike
    groups = score.by_size
    assert [group.label for group in groups] == ["small", "middle", "large"]
    assert sum(group.clusters for group in groups) == score.overall.clusters
    assert all(earlier.largest < later.smallest for earlier, later in zip(groups, groups[1:], strict=False))
    small = scored[scored["n"] <= groups[0].largest]
    assert groups[0].rmse["partial_pooling"]["slope"] == pytest.approx(
        _rmse(small["partial_slope"].to_numpy() - small["true_slope"].to_numpy()), rel=1e-12
    )


def test_size_groups_keep_clusters_of_one_size_together():
    n = np.array([2, 2, 2, 2, 3, 3, 5, 5, 5, 9, 9, 9])
    groups = size_groups(n)
    assert [sorted(set(n[mask])) for mask in groups] == [[2], [3, 5], [9]]
    two = np.array([4, 4, 4, 20])
    assert [sorted(set(two[mask])) for mask in size_groups(two)] == [[4], [20]]


def test_balanced_clusters_have_no_size_groups_and_a_random_intercept_model_scores_its_shared_slope():
    estimates = fitted(DataSpec(n_cluster=25, obs_per_cluster=8, seed=5), ModelSpec(random="intercept"))
    score = estimates.truth
    assert score.by_size == ()
    table = estimates.clusters
    assert score.overall.rmse["partial_pooling"]["slope"] == pytest.approx(
        _rmse(estimates.fixed_effects["x"] - table["true_slope"].to_numpy()), rel=1e-12
    )
    assert score.overall.expected_rmse["partial_pooling"]["slope"] is None  # no per-cluster slope, no SE


def test_truth_for_another_set_of_clusters_is_refused():
    simulated = simulation(DataSpec(n_cluster=10, obs_per_cluster=5))
    estimates = fit(simulated.rows, ModelSpec())
    with pytest.raises(ValueError, match="no true effects for cluster"):
        with_truth(estimates, simulated.truth.iloc[2:])


# --- Stein, and where it stops: a small Monte Carlo with the exact engine --------------------------------

SEEDS = range(30)


def _monte_carlo(spec: DataSpec) -> np.ndarray:
    """Per seed: (no pooling, partial pooling) RMSE of the intercepts and the slopes, overall and for the
    smallest size group; shape (seeds, 2 coefficients, 2 groups, 2 ways of pooling)."""
    result = []
    for seed in SEEDS:
        score = fitted(spec.model_copy(update={"seed": seed})).truth
        smallest = score.by_size[0] if score.by_size else score.overall
        result.append(
            [
                [
                    [group.rmse[kind][coefficient] for kind in ("no_pooling", "partial_pooling")]
                    for group in (score.overall, smallest)
                ]
                for coefficient in ("intercept", "slope")
            ]
        )
    return np.array(result)


@pytest.mark.parametrize(
    "changes",
    [{}, {"obs_per_cluster": 3}, {"balanced": 0.5, "sd_int": 0.5, "sd_slope": 0.5, "sigma": 0.25}],
    ids=["baseline", "fewer_obs", "unbalanced"],
)
def test_partial_pooling_is_closer_to_the_truth_than_no_pooling_for_the_default_scenarios(changes):
    # the classic scenarios' settings at 30 clusters, 30 seeds: Stein's result, on average and mostly
    errors = _monte_carlo(DataSpec(n_cluster=30, **changes))
    overall = errors[:, :, 0, :]
    assert np.all(overall[:, :, 1].mean(axis=0) < overall[:, :, 0].mean(axis=0))
    assert np.mean(overall[:, :, 1] < overall[:, :, 0]) >= 0.8


def test_partial_pooling_loses_for_the_small_clusters_that_truly_differ_but_wins_overall():
    errors = _monte_carlo(load("small_differ").data)
    intercept_overall, intercept_small = errors[:, 0, 0, :], errors[:, 0, 1, :]
    # the small clusters: partial pooling further from their true intercepts, by far, in most seeds
    assert intercept_small[:, 1].mean() > (1 + CLEAR_LOSS) * intercept_small[:, 0].mean()
    assert np.mean(intercept_small[:, 1] > intercept_small[:, 0]) >= 0.8
    # over all clusters it still wins, and the slopes (which do not depend on size) win everywhere
    assert intercept_overall[:, 1].mean() < intercept_overall[:, 0].mean()
    assert np.mean(intercept_overall[:, 1] < intercept_overall[:, 0]) >= 0.8
    assert np.all(errors[:, 1, :, 1].mean(axis=0) < errors[:, 1, :, 0].mean(axis=0))


# --- reports, summary.json and the gallery ----------------------------------------------------------------


@pytest.fixture(scope="module")
def small_differ_run(tmp_path_factory):
    """The new scenario rendered small and short: it validates, runs, and writes every output."""
    out = tmp_path_factory.mktemp("out")
    runner = CliRunner()
    args = ["run", "small_differ", "--out", str(out), "--format", "gif,png"]
    args += ["--set", "animation.frames=24", "--set", "animation.width=240", "--set", "animation.height=180"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    return out, out / "small_differ"


def test_the_new_scenario_runs_and_reports_where_shrinkage_hurts(small_differ_run):
    _, folder = small_differ_run
    table = pd.read_csv(folder / "estimates.csv")
    assert list(table.columns[-2:]) == ["true_intercept", "true_slope"]
    assert (
        table.loc[table["n"] == 8, "true_intercept"].mean()
        > table.loc[table["n"] == 20, "true_intercept"].mean()
    )
    summary = json.loads((folder / "summary.json").read_text())
    truth = summary["truth"]
    assert truth["known"] is True and truth["clusters_scored"] == 120
    assert [group["group"] for group in truth["by_size"]] == ["small", "large"]
    small = truth["by_size"][0]
    assert (small["n_min"], small["n_max"], small["clusters"]) == (8, 8, 12)
    assert small["rmse"]["partial_pooling"]["intercept"] > small["rmse"]["no_pooling"]["intercept"]
    assert (
        truth["overall"]["rmse"]["partial_pooling"]["intercept"]
        < truth["overall"]["rmse"]["no_pooling"]["intercept"]
    )
    assert {"group": "small", "coefficient": "intercept"} in truth["partial_pooling_loses"]
    text = (folder / "report.md").read_text()
    assert "**Where shrinkage hurts: the small clusters.**" in text
    assert "although it wins over all clusters" in text
    assert "cluster size as a predictor" in text
    assert "small | 8 | 12 |" in text


def test_fewer_obs_reports_how_much_closer_partial_pooling_got():
    scenario = load("fewer_obs")
    result = pipeline.explain(scenario)
    score = result.estimates.truth
    overall = score.overall
    assert overall.gain("intercept") > 0.5 and overall.gain("slope") > 0.5  # 3 rows: own fits are wild
    text = report.markdown(result)
    assert "**Partial pooling got closer to the truth than each cluster's own fit.**" in text
    own, pooled = overall.rmse["no_pooling"]["intercept"], overall.rmse["partial_pooling"]["intercept"]
    assert f"intercepts {own:.3f} → {pooled:.3f}, {100 * overall.gain('intercept'):.0f}% smaller" in text
    assert "Where shrinkage hurts" not in text
    numbers = report.numbers(result)["truth"]
    assert numbers["overall"]["partial_gain"]["slope"] == pytest.approx(overall.gain("slope"))
    assert numbers["partial_pooling_loses"] == []


def test_your_own_data_has_no_truth_and_every_output_says_so(tmp_path):
    runner = CliRunner()
    data = LME4_DIR / "baseline_s1.csv"
    args = ["run", "--data", str(data), "--formula", "y ~ x + (x | cluster)", "--out", str(tmp_path)]
    result = runner.invoke(app, [*args, "--format", "png", "--set", "animation.frames=6"])
    assert result.exit_code == 0, result.output
    folder = tmp_path / "baseline_s1"
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["truth"] == {"known": False, "note": "no truth: this is your own data"}
    assert "**No truth: this is your own data.**" in (folder / "report.md").read_text()
    assert "true_intercept" not in pd.read_csv(folder / "estimates.csv").columns
    page = gallery.build(tmp_path)
    assert "no truth: your own data" in page


def test_the_gallery_compares_the_error_against_the_truth(small_differ_run):
    out, _ = small_differ_run
    page = gallery.build(out)
    assert "Error against the truth (RMSE)" in page
    assert "⚠ small" in page


# --- the reveal on the frames -------------------------------------------------------------------------


def _story(name: str, *overrides: str):
    scenario = load(name, ["animation.frames=60", *overrides])
    data = pipeline.source_data(scenario)
    estimates = pipeline.fit_data(data, scenario)
    return pipeline.storyboard(estimates, scenario, data), estimates


def test_the_reveal_ends_the_shrinkage_view_with_the_truth():
    board, estimates = _story("fewer_obs")
    reveal = board.truth
    assert reveal is not None and board.n_frames == 60
    last = board.n_frames - 1
    table = estimates.clusters
    # the points fly first and then hold still at partial pooling; the reveal comes after the flight
    # (a point that starts far outside the view sets off from just beyond its edge: the state is exact)
    assert np.allclose(board.start, table[["no_pool_intercept", "no_pool_slope"]])
    assert np.allclose(board.positions(last), table[["partial_intercept", "partial_slope"]])
    landed = int(np.argmax(board.timeline.position >= 1))
    assert np.all(reveal.progress[: landed + 1] == 0) and reveal.segments(0).shape == (0, 2, 2)
    assert reveal.progress[-1] == 2.0 and np.all(np.diff(reveal.progress) >= 0)
    # at full appearance the segments end at the clusters' own estimates, at the end at partial pooling
    appeared = int(np.argmax(reveal.progress >= 1))
    segments = reveal.segments(appeared)
    assert np.allclose(segments[:, 0], table[["true_intercept", "true_slope"]])
    assert np.allclose(segments[:, 1], table[["no_pool_intercept", "no_pool_slope"]])
    assert np.allclose(reveal.segments(last)[:, 1], table[["partial_intercept", "partial_slope"]])
    assert reveal.truth_alpha(last) == 1 and reveal.slide(last) == 1
    rmse = estimates.truth.overall.rmse
    assert reveal.own_text == (
        f"no pooling: intercept {rmse['no_pooling']['intercept']:#.3g} · slope {rmse['no_pooling']['slope']:#.3g}"
    )
    assert reveal.warning_text == ""
    assert any(entry.label.startswith("True effects") for entry in board.legend)


def test_the_reveal_names_the_size_group_that_partial_pooling_left_further_away():
    board, estimates = _story("small_differ")
    small = estimates.truth.by_size[0]
    assert board.truth.warning_text.startswith(
        f"small clusters (n = 8): intercept {small.rmse['no_pooling']['intercept']:#.3g} → "
    )


@pytest.mark.parametrize(
    "overrides", [[], ["animation.truth=false"], ["animation.truth=true", "animation.view=stages"]]
)
def test_the_reveal_only_where_asked_and_in_the_shrinkage_view(overrides):
    name = "baseline" if not overrides else "fewer_obs"
    board, _ = _story(name, *overrides)
    assert getattr(board, "truth", None) is None


def test_a_table_has_no_truth_to_reveal():
    from shrinkvis.scenario import for_data

    scenario = for_data(
        LME4_DIR / "baseline_s1.csv", formula="y ~ x + (x | cluster)", overrides=["animation.truth=true"]
    )
    data = pipeline.source_data(scenario)
    estimates = pipeline.fit_data(data, scenario)
    assert data.truth is None and estimates.truth is None
    assert story.build(estimates, scenario, data.frame).truth is None


def test_the_reveal_is_drawn_frame_by_frame():
    from shrinkvis.render import renderer

    board, _ = _story("fewer_obs", "animation.width=240", "animation.height=180", "animation.frames=30")
    drawn = renderer(board)
    try:
        landed = int(np.argmax(board.timeline.position >= 1))
        # the points rest from here on, yet the reveal changes the picture
        keys = {drawn.frame_key(index) for index in range(landed, board.n_frames)}
        assert len(keys) > 3
        before, after = drawn.frame(landed), drawn.frame(board.n_frames - 1)
        assert not np.array_equal(before, after)
        without = dataclasses.replace(board, truth=None)
        plain = renderer(without)
        try:
            assert not np.array_equal(plain.frame(board.n_frames - 1), after)
        finally:
            plain.close()
    finally:
        drawn.close()
