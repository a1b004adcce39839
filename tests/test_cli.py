from __future__ import annotations

import json

import av
import numpy as np
import pandas as pd
import pytest
from PIL import Image
from typer.testing import CliRunner

from shrinkvis.cli import app

runner = CliRunner()


def _gif_frames(path):
    with Image.open(path) as image:
        durations = []
        for index in range(image.n_frames):
            image.seek(index)
            durations.append(image.info["duration"])
        return image.size, image.info.get("loop"), durations


def test_run_writes_every_output(tmp_path):
    result = runner.invoke(
        app,
        [
            "run",
            "baseline",
            "--out",
            str(tmp_path),
            "--set",
            "animation.frames=30",
            "--set",
            "data.n_cluster=40",
        ],
    )
    assert result.exit_code == 0, result.output
    folder = tmp_path / "baseline"
    names = {path.name for path in folder.iterdir()}
    assert names == {
        "shrinkage.gif",
        "shrinkage.mp4",
        "shrinkage.png",
        "estimates.csv",
        "summary.json",
        "report.md",
        "shrinkage_by_size.png",
        "shrinkage_start.png",
        "shrinkage.svg",
    }

    # GIF: 600×450, loops forever, plays 30 frames at 10 fps (identical neighbours are merged by duration)
    size, loop, durations = _gif_frames(folder / "shrinkage.gif")
    assert size == (600, 450)
    assert loop == 0
    assert sum(durations) == 30 * 100

    with av.open(str(folder / "shrinkage.mp4")) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264"
        assert stream.codec_context.pix_fmt == "yuv420p"
        assert (stream.codec_context.width, stream.codec_context.height) == (600, 450)
        assert sum(1 for _ in container.decode(stream)) == 30

    with Image.open(folder / "shrinkage.png") as still:
        assert still.size == (600, 450)

    table = pd.read_csv(folder / "estimates.csv")
    assert list(table.columns) == [
        "cluster",
        "n",
        "no_pool_intercept",
        "no_pool_slope",
        "partial_intercept",
        "partial_slope",
        "partial_intercept_se",
        "partial_slope_se",
        "no_pool_intercept_se",
        "no_pool_slope_se",
        "true_intercept",
        "true_slope",
    ]
    assert len(table) == 40
    assert (table["n"] == 10).all()
    assert table.notna().all().all()

    summary = json.loads((folder / "summary.json").read_text())
    assert summary["scenario"]["data"]["n_cluster"] == 40
    assert summary["converged"] is True
    assert summary["engine"] == "exact"
    assert summary["is_singular"] is False
    assert summary["gradient_norm"] < 1e-3
    assert set(summary["fixed_effects"]) == {"Intercept", "x"}
    assert summary["reml_criterion"] > 0
    assert set(summary["files"]) >= {"shrinkage.gif", "shrinkage.mp4", "shrinkage.png", "shrinkage.svg"}
    assert "timings" in summary
    # the partial-pooling estimates in the CSV are nearer the fixed effects than the no-pooling ones
    fixed = np.array([summary["fixed_effects"]["Intercept"], summary["fixed_effects"]["x"]])
    before = np.hypot(*(table[["no_pool_intercept", "no_pool_slope"]].to_numpy() - fixed).T)
    after = np.hypot(*(table[["partial_intercept", "partial_slope"]].to_numpy() - fixed).T)
    assert after.mean() < 0.7 * before.mean()


def test_format_subset(tmp_path):
    result = runner.invoke(
        app, ["run", "fewer_obs", "--out", str(tmp_path), "--format", "png", "--set", "animation.frames=4"]
    )
    assert result.exit_code == 0, result.output
    assert {p.name for p in (tmp_path / "fewer_obs").iterdir()} == {
        "shrinkage.png",
        "shrinkage_start.png",
        "estimates.csv",
        "summary.json",
        "report.md",
        "shrinkage_by_size.png",
    }


def test_bad_value_is_one_line_and_exit_2(tmp_path):
    result = runner.invoke(app, ["run", "baseline", "--out", str(tmp_path), "--set", "data.sd_int=-1"])
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1
    assert "data.sd_int = -1: must be ≥ 0" in lines[0]
    assert "Traceback" not in result.output
    assert not (tmp_path / "baseline").exists()


def test_list_names_all_builtins():
    result = runner.invoke(app, ["list"])
    assert result.exit_code == 0
    assert "more_subject_var" in result.output and "More subject-level variance" in result.output
    # the titles line up in one column, however long the longest name (small_differ_remedy)
    starts = {line.index(title) for line in result.output.splitlines() for title in [line.split(None, 1)[1]]}
    assert len(starts) == 1


def test_validate_prints_filled_in_settings(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text("title: Mine\ndata:\n  n_cluster: 12\n")
    result = runner.invoke(app, ["validate", str(path)])
    assert result.exit_code == 0
    assert "n_cluster: 12" in result.output and "obs_per_cluster: 10" in result.output


def test_batch_goes_on_past_a_failure(tmp_path):
    broken = tmp_path / "broken.yaml"
    broken.write_text("data:\n  sigma: 0\n")
    result = runner.invoke(
        app,
        [
            "batch",
            "fewer_obs",
            str(broken),
            "--out",
            str(tmp_path / "out"),
            "--format",
            "png",
            "--set",
            "animation.frames=4",
        ],
    )
    assert result.exit_code == 1
    assert (tmp_path / "out" / "fewer_obs" / "shrinkage.png").exists()
    assert "failed: " in result.output and "data.sigma = 0" in result.output


def test_fit_json_matches_lme4_with_the_files_column_names(tmp_path):
    from .conftest import LME4_DIR, load_reference

    _, expected = load_reference("intercept_only_s7")
    table = tmp_path / "est.csv"
    result = runner.invoke(
        app,
        [
            "fit",
            "--data",
            str(LME4_DIR / "intercept_only_s7.csv"),
            "--y",
            "score",
            "--group",
            "school",
            "--json",
            "--estimates",
            str(table),
        ],
    )
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output)
    assert set(payload) == {
        "n_obs",
        "n_groups",
        "formula",
        "method",
        "engine",
        "fixed_effects",
        "std_errors",
        "sd_intercept",
        "sd_slope",
        "corr",
        "residual_sd",
        "reml_criterion",
        "is_singular",
        "converged",
        "warnings",
        "dropped_rows",
        "seconds",
    }
    assert payload["formula"] == "score ~ 1 + (1 | school)"
    assert (payload["n_obs"], payload["n_groups"]) == (200, 25)
    assert payload["fixed_effects"]["Intercept"] == pytest.approx(
        expected["fixed_effects"]["Intercept"], rel=1e-6
    )
    assert payload["sd_intercept"] == pytest.approx(expected["sd_intercept"], rel=1e-4)
    assert payload["sd_slope"] is None and payload["corr"] is None
    assert payload["reml_criterion"] == pytest.approx(expected["reml_criterion"], abs=1e-4)
    written = pd.read_csv(table, dtype={"cluster": str})
    assert list(written["cluster"]) == [entry["cluster"] for entry in expected["clusters"]]
    assert np.allclose(
        written["partial_intercept"], [c["partial_intercept"] for c in expected["clusters"]], atol=1e-4
    )


def test_fit_ml_reports_the_deviance_and_singular_warning():
    from .conftest import LME4_DIR, load_reference

    _, expected = load_reference("singular_s8")
    result = runner.invoke(
        app,
        [
            "fit",
            "--data",
            str(LME4_DIR / "singular_s8.csv"),
            "--y",
            "y",
            "--x",
            "x",
            "--group",
            "cluster",
            "--method",
            "ML",
            "--json",
        ],
    )
    assert result.exit_code == 0
    lines = result.output.strip().splitlines()
    payload = json.loads(lines[-1])
    assert payload["ml_deviance"] == pytest.approx(expected["ml_deviance"], abs=1e-4)
    assert "reml_criterion" not in payload
    assert payload["is_singular"] is True
    assert any(line.startswith("shrinkvis: warning: singular fit") for line in lines[:-1])


def test_fit_summary_reads_like_lme4():
    from .conftest import LME4_DIR

    result = runner.invoke(
        app,
        ["fit", "--data", str(LME4_DIR / "baseline_s1.csv"), "--y", "y", "--x", "x", "--group", "cluster"],
    )
    assert result.exit_code == 0
    assert "REML criterion at convergence: 3116.0927" in result.output
    assert "Formula: y ~ x + (x | cluster)" in result.output
    assert "Number of obs: 1000, groups:  cluster, 100" in result.output


def test_fit_missing_column_lists_the_columns(tmp_path):
    from .conftest import LME4_DIR

    result = runner.invoke(
        app, ["fit", "--data", str(LME4_DIR / "baseline_s1.csv"), "--y", "score", "--group", "cluster"]
    )
    assert result.exit_code == 2
    assert "no column 'score'; the file has: y, x, cluster" in result.output


def test_view_preset_and_theme_options_name_the_files_and_size_them(tmp_path):
    result = runner.invoke(
        app,
        [
            "run",
            "unbalanced",
            "--out",
            str(tmp_path),
            "--view",
            "funnel",
            "--preset",
            "square",
            "--theme",
            "dark",
            "--format",
            "png,svg",
            "--set",
            "animation.frames=6",
            "--set",
            "data.n_cluster=30",
        ],
    )
    assert result.exit_code == 0, result.output
    folder = tmp_path / "unbalanced"
    assert {p.name for p in folder.iterdir()} >= {"funnel.png", "funnel_start.png", "funnel.svg"}
    with Image.open(folder / "funnel.png") as still, Image.open(folder / "funnel_start.png") as start:
        assert still.size == start.size == (800, 800)
        assert max(still.getpixel((2, 2))[:3]) < 60  # the dark theme's background
        assert np.asarray(still).tolist() != np.asarray(start).tolist()
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["scenario"]["animation"]["view"] == "funnel"
    assert summary["scenario"]["animation"]["preset"] == "square"


def test_a_view_that_cannot_show_the_model_names_one_that_can(tmp_path):
    result = runner.invoke(
        app,
        [
            "run",
            "baseline",
            "--out",
            str(tmp_path),
            "--view",
            "stages",
            "--set",
            "model.random=intercept",
            "--set",
            "data.n_cluster=20",
        ],
    )
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1
    assert "random-intercept model" in lines[0] and "--view funnel" in lines[0]


def test_random_intercept_model_renders_the_funnel(tmp_path):
    result = runner.invoke(
        app,
        [
            "run",
            "baseline",
            "--out",
            str(tmp_path),
            "--view",
            "funnel",
            "--format",
            "png",
            "--set",
            "model.random=intercept",
            "--set",
            "data.n_cluster=20",
            "--set",
            "animation.frames=4",
        ],
    )
    assert result.exit_code == 0, result.output
    assert (tmp_path / "baseline" / "funnel.png").exists()
