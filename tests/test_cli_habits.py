"""The habits of typer/click/rich programs: --version, -h, "did you mean", case-insensitive choices."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from importlib.metadata import version

import pytest
from typer.testing import CliRunner

from shrinkvis.cli import app

runner = CliRunner()


def test_version_prints_the_installed_version():
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.output.strip() == f"shrinkvis {version('shrinkvis')}"


@pytest.mark.parametrize("command", [[], ["run"], ["fit"], ["batch"], ["explain"], ["validate"]])
def test_h_is_help_on_every_command(command):
    short = runner.invoke(app, [*command, "-h"])
    long = runner.invoke(app, [*command, "--help"])
    assert short.exit_code == 0, short.output
    assert short.output == long.output
    assert "Usage: " in short.output


def _error(args, **kwargs):
    result = runner.invoke(app, args, **kwargs)
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    return lines[0]


@pytest.mark.parametrize(
    ("args", "suggestion"),
    [
        (["run", "baseline", "--frames", "60"], "did you mean --set animation.frames=60?"),
        (["run", "baseline", "--frames=60"], "did you mean --set animation.frames=60?"),
        (["run", "baseline", "--sd-int", "1"], "did you mean --set data.sd_int=1?"),
        (["explain", "baseline", "--n_cluster", "20"], "did you mean --set data.n_cluster=20?"),
        (["batch", "baseline", "--frame", "30"], "did you mean --set animation.frames=30?"),
        (["run", "baseline", "--draws"], "did you mean --set model.bayes.draws=VALUE?"),
    ],
)
def test_an_option_that_is_a_scenario_key_points_to_set(args, suggestion):
    line = _error(args)
    assert line.startswith(f"shrinkvis: error: No such option: {args[2].split('=')[0]}; ")
    assert suggestion in line


def test_an_unknown_option_that_is_no_key_keeps_clicks_list():
    assert "Possible options" in _error(["run", "baseline", "--formt", "gif"])
    assert "--set" not in _error(["fit", "--data", "x.csv", "--frames", "3"])  # fit takes no --set


@pytest.mark.parametrize(
    ("args", "hint"),
    [
        (["run", "baselin"], "did you mean baseline?"),
        (["run", "baseline", "--set", "sd_int=1"], "did you mean data.sd_int?"),
        (["run", "baseline", "--set", "animation.framse=1"], "did you mean animation.frames?"),
        (["run", "baseline", "--view", "stage"], "did you mean 'stages'?"),
        (["run", "baseline", "--preset", "slid"], "did you mean 'slide'?"),
        (["run", "baseline", "--theme", "drak"], "did you mean 'dark'?"),
        (["run", "baseline", "--format", "gif,pgn"], "did you mean 'png'?"),
        (["explain", "baseline", "--engine", "bayse"], "did you mean 'bayes'?"),
        (
            [
                "fit",
                "--data",
                "examples/sleepstudy.csv",
                "--y",
                "Reaction",
                "--group",
                "Subject",
                "--method",
                "mll",
            ],
            "did you mean 'ML'?",
        ),
    ],
)
def test_did_you_mean_on_every_name(args, hint):
    assert hint in _error(args)


def test_did_you_mean_on_a_column(tmp_path):
    table = tmp_path / "schools.csv"
    table.write_text("score,school\n" + "".join(f"{i},{'abc'[i % 3]}\n" for i in range(12)))
    for wrong in ("scor", "Score", "scores"):
        line = _error(["fit", "--data", str(table), "--y", wrong, "--group", "school"])
        assert f"no column '{wrong}' (did you mean 'score'?)" in line
    assert "did you mean" not in _error(["fit", "--data", str(table), "--y", "zzz", "--group", "school"])


@pytest.mark.parametrize(
    ("args", "key", "value"),
    [
        (["--format", "GIF,Png"], "formats", ("gif", "png")),
        (["--view", "Stages"], "view", "stages"),
        (["--preset", "SLIDE"], "preset", "slide"),
        (["--theme", "Dark"], "theme", "dark"),
        (["--set", "animation.easing=Linear"], "easing", "linear"),
    ],
)
def test_choices_are_case_insensitive(args, key, value):
    from shrinkvis.cli import _look_overrides, _overrides
    from shrinkvis.scenario import load

    options = dict(zip(args[::2], args[1::2], strict=True))
    overrides = [
        *_look_overrides(options.get("--view"), options.get("--preset"), options.get("--theme")),
        *_overrides([options["--set"]] if "--set" in options else None, options.get("--format")),
    ]
    scenario = load("baseline", overrides)
    assert getattr(scenario.animation, key) == value
    if key == "preset":
        assert (scenario.animation.width, scenario.animation.height) == (1280, 720)


def test_method_and_engine_in_any_case():
    from shrinkvis.scenario import load

    scenario = load("baseline", ["model.method=reml", "model.engine=Exact", "model.random=Intercept"])
    assert (scenario.model.method, scenario.model.engine, scenario.model.random) == (
        "REML",
        "exact",
        "intercept",
    )


@pytest.mark.parametrize(
    "command", ["run", "batch", "fit", "explain", "gallery", "validate", "list", "schema"]
)
def test_help_shows_readable_placeholders(command):
    text = runner.invoke(app, [command, "--help"]).output
    assert not re.search(r"<(str|path|int|float|bool|list\[[^\]]*\])>", text), text
    assert "[[" not in text and "]]" not in text


def test_no_color_is_respected(tmp_path):
    """rich's colours go when NO_COLOR is set (https://no-color.org), even on a forced terminal."""
    env = {**os.environ, "FORCE_COLOR": "1", "COLUMNS": "100"}
    env.pop("NO_COLOR", None)
    command = [sys.executable, "-m", "shrinkvis", "explain", "baseline", "--set", "data.n_cluster=20"]
    coloured = subprocess.run(command, env=env, capture_output=True, text=True, check=True, cwd=tmp_path)
    plain = subprocess.run(
        command, env={**env, "NO_COLOR": "1"}, capture_output=True, text=True, check=True, cwd=tmp_path
    )
    colour_codes = re.compile(r"\x1b\[[0-9;]*(3[0-7]|38;[0-9;]+|9[0-7])m")
    assert colour_codes.search(coloured.stdout), "the forced terminal shows no colour at all"
    assert not colour_codes.search(plain.stdout)
