from __future__ import annotations

import json

import av
import numpy as np
import pandas as pd
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
        "shrinkage_start.png",
        "shrinkage.svg",
        "estimates.csv",
        "summary.json",
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
    ]
    assert len(table) == 40
    assert (table["n"] == 10).all()
    assert table.notna().all().all()

    summary = json.loads((folder / "summary.json").read_text())
    assert summary["scenario"]["data"]["n_cluster"] == 40
    assert summary["converged"] is True
    assert summary["engine"] == "statsmodels"
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
