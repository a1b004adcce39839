"""What the command line does with every kind of failure: one line, the right exit code, no traceback."""

from __future__ import annotations

import importlib
import json

import pytest
from typer.testing import CliRunner

from shrinkvis import drawing, pipeline
from shrinkvis.cli import app
from shrinkvis.errors import FitError

runner = CliRunner()
FAST = ["--format", "png", "--set", "animation.frames=2", "--set", "data.n_cluster=8"]


def _one_error_line(result) -> str:
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert lines[0].startswith("shrinkvis: error: ")
    assert "Traceback" not in result.output
    return lines[0].removeprefix("shrinkvis: error: ")


@pytest.mark.parametrize(
    ("arguments", "fragment"),
    [
        (["run", "basline"], "basline: no built-in scenario of that name (did you mean baseline?)"),
        (["run", "baseline", "--set", "data.n_cluster=2"], "data.n_cluster = 2: must be ≥ 3"),
        (["run", "baseline", "--set", "dat.seed=1"], "unknown key dat; did you mean data?"),
        (["run", "baseline", "--set", "novalue"], "--set novalue: expected KEY=VALUE"),
        (
            ["run", "baseline", "--format", "avi"],
            "animation.formats.0 = 'avi': should be 'gif', 'mp4', 'png' or 'svg'",
        ),
        (["validate", "missing.yaml"], "missing.yaml: no such scenario file"),
        # valid scenario, data no model can fit: the user can fix it, so exit code 2 as well
        (["run", "baseline", "--set", "data.obs_per_cluster=1"], "100 rows for 100 clusters"),
    ],
)
def test_user_errors_exit_2_with_one_line(tmp_path, arguments, fragment):
    result = runner.invoke(app, [*arguments, "--out", str(tmp_path)] if arguments[0] == "run" else arguments)
    assert result.exit_code == 2
    assert fragment in _one_error_line(result)
    assert list(tmp_path.iterdir()) == []


def test_debug_adds_the_traceback(tmp_path):
    result = runner.invoke(
        app, ["--debug", "run", "baseline", "--out", str(tmp_path), "--set", "data.sigma=0"]
    )
    assert result.exit_code == 2
    assert "Traceback (most recent call last)" in result.output
    assert result.output.strip().splitlines()[-1] == (
        "shrinkvis: error: --set data.sigma=0: data.sigma = 0: must be > 0"
    )


def test_a_failed_fit_exits_1_with_the_reason(tmp_path, monkeypatch):
    def failing_fit(data, model, **_options):
        raise FitError("statsmodels MixedLM could not fit the model: Singular matrix")

    monkeypatch.setattr(pipeline, "fit", failing_fit)
    result = runner.invoke(app, ["run", "baseline", "--out", str(tmp_path), *FAST])
    assert result.exit_code == 1
    assert _one_error_line(result) == "statsmodels MixedLM could not fit the model: Singular matrix"


@pytest.mark.parametrize("processes", ["one", "two"])
def test_an_unexpected_failure_in_a_stage_exits_1_with_the_reason(tmp_path, monkeypatch, processes):
    def broken_renderer(*args, **kwargs):
        raise ZeroDivisionError("float division by zero")

    # the renderer runs in the drawing process when there is one: the error comes back from there
    monkeypatch.setattr(importlib.import_module("shrinkvis.render"), "renderer", broken_renderer)
    if processes == "one":
        monkeypatch.setattr(drawing, "can_fork", lambda: False)
    result = runner.invoke(app, ["run", "baseline", "--out", str(tmp_path), *FAST])
    assert result.exit_code == 1
    assert _one_error_line(result) == (
        "unexpected ZeroDivisionError: float division by zero (run with --debug for the traceback)"
    )
    assert sorted(path.name for path in (tmp_path / "baseline").iterdir()) == ["estimates.csv", "report.md"]


def test_an_unwritable_out_folder_exits_1_with_the_reason(tmp_path):
    blocker = tmp_path / "slides"
    blocker.write_text("not a folder")
    result = runner.invoke(app, ["run", "baseline", "--out", str(blocker), *FAST])
    assert result.exit_code == 1
    assert _one_error_line(result).startswith(f"cannot create the folder {blocker / 'baseline'}: ")


def test_ctrl_c_exits_130_without_a_traceback(tmp_path, monkeypatch):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(pipeline, "run", interrupted)
    result = runner.invoke(app, ["run", "baseline", "--out", str(tmp_path)])
    assert result.exit_code == 130
    assert "interrupted" in _one_error_line(result)


def test_scenario_names_cannot_write_outside_out(tmp_path):
    escape = tmp_path / "escape.yaml"
    escape.write_text("name: ../../../escaped\n")
    out = tmp_path / "out"
    result = runner.invoke(app, ["run", str(escape), "--out", str(out), *FAST])
    assert result.exit_code == 0, result.output
    written = sorted(str(path.relative_to(tmp_path)) for path in tmp_path.rglob("*") if path.is_file())
    assert written == [
        "escape.yaml",
        "out/escaped/estimates.csv",
        "out/escaped/report.md",
        "out/escaped/shrinkage.png",
        "out/escaped/shrinkage_by_size.png",
        "out/escaped/shrinkage_start.png",
        "out/escaped/summary.json",
    ]


def test_schema_prints_the_json_schema():
    result = runner.invoke(app, ["schema"])
    assert result.exit_code == 0
    schema = json.loads(result.output)
    assert schema["$defs"]["DataSpec"]["properties"]["n_cluster"]["minimum"] == 3


# ---------------------------------------------------------------------------------------------------------
# Batch: one failure never stops the others


def test_batch_renders_the_rest_and_lists_every_failure_with_its_reason(tmp_path, monkeypatch):
    bad_value = tmp_path / "bad_value.yaml"
    bad_value.write_text("data:\n  cor: 3\n")
    fit_fails = tmp_path / "fit_fails.yaml"
    fit_fails.write_text("data:\n  seed: 13\n")
    crashes = tmp_path / "crashes.yaml"
    crashes.write_text("data:\n  seed: 14\n")
    real_run = pipeline.run

    def run_or_fail(scenario, out_root, formats=None):
        if scenario.name == "fit_fails":
            raise FitError("the statsmodels fit returned non-finite fixed effects; the fit failed")
        if scenario.name == "crashes":
            raise RuntimeError("renderer exploded")
        return real_run(scenario, out_root, formats)

    monkeypatch.setattr(pipeline, "run", run_or_fail)
    out = tmp_path / "out"
    result = runner.invoke(
        app,
        [
            "batch",
            str(bad_value),
            "fewer_obs",
            str(fit_fails),
            str(crashes),
            "more_obs",
            "--out",
            str(out),
            "--jobs",
            "1",  # in this process, where the patched pipeline.run is
            *FAST,
        ],
    )
    assert result.exit_code == 1
    assert sorted(path.name for path in out.iterdir()) == ["fewer_obs", "index.html", "more_obs"]
    assert (out / "more_obs" / "shrinkage.png").exists()
    assert "rendered 2 of 5 scenarios" in result.output
    failed = [line for line in result.output.splitlines() if line.startswith("failed: ")]
    assert failed == [
        f"failed: {bad_value}: data.cor = 3: must be ≥ -1 and ≤ 1",
        f"failed: {fit_fails}: the statsmodels fit returned non-finite fixed effects; the fit failed",
        f"failed: {crashes}: unexpected RuntimeError: renderer exploded",
    ]
    assert "Traceback" not in result.output


def test_ctrl_c_stops_a_batch_instead_of_counting_as_one_failure(tmp_path, monkeypatch):
    calls = []

    def interrupted(scenario, out_root, formats=None):
        calls.append(scenario.name)
        raise KeyboardInterrupt

    monkeypatch.setattr(pipeline, "run", interrupted)
    result = runner.invoke(app, ["batch", "baseline", "fewer_obs", "--out", str(tmp_path), "--jobs", "1"])
    assert result.exit_code == 130
    assert calls == ["baseline"]
    assert "shrinkvis: error: interrupted" in result.output
