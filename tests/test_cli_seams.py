"""The seams of the command line (issue 12): every case is one line with the right exit code."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from shrinkvis import drawing
from shrinkvis import scenario as scenarios
from shrinkvis.cli import BROKEN_PIPE_EXIT, app

from .conftest import LME4_DIR, load_reference

runner = CliRunner()
FAST = ["--format", "png", "--set", "animation.frames=2", "--set", "data.n_cluster=8"]
SCHOOLS = LME4_DIR / "intercept_only_s7.csv"


def _one_error_line(text: str) -> str:
    lines = text.strip().splitlines()
    assert len(lines) == 1, text
    assert lines[0].startswith("shrinkvis: error: ") and "Traceback" not in text
    return lines[0].removeprefix("shrinkvis: error: ")


def _table(tmp_path: Path) -> Path:
    path = tmp_path / "t.csv"
    path.write_text("g,y,x\na,1,2\na,2,3\nb,3,1\nb,1,5\nc,2,2\nc,5,1\n")
    return path


@pytest.mark.parametrize(
    ("columns", "message"),
    [
        (
            ["--y", "y", "--x", "y", "--group", "g"],
            "--y and --x both name the column 'y'; each needs its own",
        ),
        (
            ["--y", "y", "--x", "x", "--group", "y"],
            "--y and --group both name the column 'y'; each needs its own",
        ),
        (
            ["--y", "y", "--x", "g", "--group", "g"],
            "--x and --group both name the column 'g'; each needs its own",
        ),
    ],
)
@pytest.mark.parametrize("command", ["run", "explain", "fit"])
def test_one_column_for_two_roles_is_one_line(tmp_path, command, columns, message):
    result = runner.invoke(app, [command, "--data", str(_table(tmp_path)), *columns])
    assert result.exit_code == 2
    assert _one_error_line(result.output) == message


def test_a_scenario_file_with_one_column_for_two_roles_is_one_line(tmp_path):
    _table(tmp_path)
    path = tmp_path / "same.yaml"
    path.write_text("data: {file: t.csv, y: y, x: y, group: g}\n")
    result = runner.invoke(app, ["run", str(path), "--out", str(tmp_path / "out")])
    assert result.exit_code == 2
    assert _one_error_line(result.output) == (
        f"{path}: data: y, group and x must be different columns (y = 'y', group = 'g', x = 'y')"
    )


def test_batch_lists_each_failure_once_without_a_stray_line(tmp_path):
    broken = tmp_path / "broken.yaml"
    broken.write_text("title: x\n  bad: [\n")
    result = runner.invoke(app, ["batch", "nosuch", str(broken), "--out", str(tmp_path / "out")])
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines()[-2:] == [
        f"failed: nosuch: no built-in scenario of that name; known: {', '.join(scenarios.builtin_names())}",
        f"failed: {broken}: line 2: not valid YAML: mapping values are not allowed here",
    ]
    assert "unexpected" not in result.output
    assert result.stdout.strip() == f"rendered 0 of 2 scenarios into {tmp_path / 'out'}"


def test_batch_warnings_are_one_line_each_however_long(tmp_path):
    result = runner.invoke(
        app,
        [
            "batch",
            "baseline",
            "--out",
            str(tmp_path),
            "--jobs",
            "1",
            *FAST,
            "--set",
            "data.sd_int=0",
            "--set",
            "data.sd_slope=0",
        ],
    )
    assert result.exit_code == 0, result.output
    warnings = [line for line in result.stderr.splitlines() if "warning" in line]
    assert warnings and all(
        line.startswith("shrinkvis: warning: baseline: singular fit") for line in warnings
    )
    assert max(map(len, warnings)) > 80  # not folded at the width of a terminal nobody has
    assert "shrinkvis: warning" not in result.stdout


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["fit", "--data", "x.csv", "--bogus"], "No such option: --bogus (see shrinkvis fit --help)"),
        (["batch", "--jobs", "0"], "(see shrinkvis batch --help)"),
        (["run", "--frames", "3"], "No such option: --frames"),
        (["nosuch"], "No such command 'nosuch'"),
        (["fit", "--y", "y"], "Missing option '--data'"),
    ],
)
def test_usage_errors_are_one_line(arguments, message):
    result = runner.invoke(app, arguments)
    assert result.exit_code == 2
    assert message in _one_error_line(result.output)


def test_fit_accepts_a_formula_and_gives_what_the_columns_give():
    by_columns = runner.invoke(
        app, ["fit", "--data", str(SCHOOLS), "--y", "score", "--group", "school", "--json"]
    )
    by_formula = runner.invoke(
        app, ["fit", "--data", str(SCHOOLS), "--formula", "score ~ 1 + (1 | school)", "--json"]
    )
    assert by_columns.exit_code == by_formula.exit_code == 0, by_formula.output
    columns, formula = json.loads(by_columns.stdout), json.loads(by_formula.stdout)
    _, expected = load_reference("intercept_only_s7")
    assert formula["reml_criterion"] == pytest.approx(expected["reml_criterion"], abs=1e-4)
    assert {key: value for key, value in formula.items() if key != "seconds"} == {
        key: value for key, value in columns.items() if key != "seconds"
    }


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--random", "foo"], "--random foo: model.random = 'foo': should be 'slope' or 'intercept'"),
        (["--random", "slope"], "--random slope needs a predictor: give --x COLUMN"),
        (["--method", "OLS"], "--method OLS: model.method = 'OLS': should be 'REML' or 'ML'"),
    ],
)
def test_fit_refuses_a_random_slope_without_a_predictor_and_names_the_option(options, message):
    result = runner.invoke(
        app, ["fit", "--data", str(SCHOOLS), "--y", "score", "--group", "school", *options]
    )
    assert result.exit_code == 2
    assert _one_error_line(result.output).startswith(message)


def test_fit_help_names_every_file_kind():
    assert "CSV, TSV or Parquet" in " ".join(runner.invoke(app, ["fit", "--help"]).output.split())


def test_a_bad_option_value_blames_the_option_and_lists_every_problem(tmp_path):
    result = runner.invoke(
        app,
        ["run", "baseline", "--format", "webm", "--view", "map", "--preset", "huge", "--out", str(tmp_path)],
    )
    assert result.exit_code == 2
    problems = _one_error_line(result.output).split("; ")
    assert [problem.split(": should be")[0] for problem in problems] == [
        "--view map: animation.view = 'map'",
        "--preset huge: animation.preset = 'huge'",
        "--format webm: animation.formats.0 = 'webm'",
    ]
    assert (
        problems[2] == "--format webm: animation.formats.0 = 'webm': should be 'gif', 'mp4', 'png' or 'svg'"
    )
    assert "site-packages" not in result.output and "more problem" not in result.output


def test_a_cross_key_problem_names_the_file_and_the_option(tmp_path):
    result = runner.invoke(app, ["run", "baseline", "--set", "animation.zoom=fixed", "--out", str(tmp_path)])
    assert result.exit_code == 2
    assert _one_error_line(result.output).startswith(
        "baseline with --set animation.zoom=fixed: animation: zoom: fixed needs limits"
    )


def test_explain_in_a_pipe_is_never_cut(tmp_path):
    data, expected = load_reference("intercept_only_s7")
    long_name = "school identifier as written in the district register"
    data = data.rename(columns={"school": long_name})
    data[long_name] = "school number " + data[long_name].astype(str) + " of the district"
    path = tmp_path / "schools.csv"
    data.to_csv(path, index=False)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "shrinkvis",
            "explain",
            "--data",
            str(path),
            "--y",
            "score",
            "--group",
            long_name,
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "40"},
    )
    assert result.returncode == 0, result.stderr
    assert "…" not in result.stdout
    assert f"{expected['fixed_effects']['Intercept']:.4f}" in result.stdout
    rows = [line for line in result.stdout.splitlines() if "school number 1 of the district" in line]
    assert rows and long_name in result.stdout  # whole cells and headings, each row on one line
    assert max(map(len, result.stdout.splitlines())) < 400  # the heading rule is not 100,000 wide


def test_explain_in_a_narrow_terminal_folds_instead_of_cutting():
    import io

    from rich.console import Console

    from shrinkvis import pipeline, report

    loaded = scenarios.for_data(
        SCHOOLS, formula="score ~ 1 + (1 | school)", title="A title longer than the terminal is"
    )
    text = io.StringIO()
    report.show(
        pipeline.explain(loaded), Console(file=text, width=30, force_terminal=True, color_system=None)
    )
    assert "…" not in text.getvalue()
    assert "A title longer than the terminal is" in " ".join(text.getvalue().split())


def test_validate_writes_a_scenario_file_that_reads_back_the_same(tmp_path):
    mine = tmp_path / "mine.yaml"
    mine.write_text(
        "description: '{n_cluster} clusters, {balanced:.0%} kept'\ndata: {n_cluster: 12, balanced: 0.5}\n"
    )
    result = runner.invoke(app, ["validate", str(mine)])
    assert result.exit_code == 0
    assert result.stderr.strip() == f"{mine}: valid"
    written = yaml.safe_load(result.stdout)
    assert written["description"] == "{n_cluster} clusters, {balanced:.0%} kept"
    again = tmp_path / "v.yaml"
    again.write_text(result.stdout)
    assert scenarios.load(again) == scenarios.load(mine)
    assert scenarios.load(again).description == "12 clusters, 50% kept"


def test_validate_of_a_table_scenario_reads_back_from_anywhere(tmp_path, monkeypatch):
    folder = tmp_path / "project"
    folder.mkdir()
    _table(folder)
    (folder / "mine.yaml").write_text("data: {file: t.csv, y: y, group: g}\n")
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["validate", "project/mine.yaml"])
    assert result.exit_code == 0
    (folder / "v.yaml").write_text(result.stdout)
    assert scenarios.load(folder / "v.yaml").data == scenarios.load(folder / "mine.yaml").data


def test_bad_input_to_run_is_reported_before_the_fork_and_the_heavy_imports(monkeypatch, tmp_path):
    def no_fork_please():
        raise AssertionError("the drawing process was started for a scenario that does not exist")

    monkeypatch.setattr(drawing, "DrawingProcess", no_fork_please)
    result = runner.invoke(app, ["run", "nosuch", "--out", str(tmp_path)])
    assert result.exit_code == 2
    assert "nosuch: no built-in scenario" in _one_error_line(result.output)
    probe = (
        "import sys\nfrom typer.testing import CliRunner\nfrom shrinkvis.cli import app\n"
        "assert CliRunner().invoke(app, ['run', 'nosuch']).exit_code == 2\n"
        "print(sorted({'numpy', 'pandas', 'matplotlib', 'multiprocessing'} & set(sys.modules)))\n"
    )
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert loaded.stdout.strip() == "[]"


def test_a_description_cannot_ask_for_an_unbounded_text(tmp_path):
    path = tmp_path / "big.yaml"
    path.write_text('description: "{seed:>99999999}"\n')
    result = runner.invoke(app, ["validate", str(path)])
    assert result.exit_code == 2
    assert (
        _one_error_line(result.output)
        == f"{path}: description: '{{seed:>99999999}}': a format's width is at most 99"
    )
    path.write_text('description: "' + "{seed:>99}" * 11 + '"\n')
    result = runner.invoke(app, ["validate", str(path)])
    assert result.exit_code == 2
    assert "1,089 characters once its placeholders are filled in; at most 1,000" in _one_error_line(
        result.output
    )
    path.write_text('description: "seed {seed:>8}, {sd_int:.2f}, {seed:.99e}"\n')
    assert scenarios.load(path).description.startswith("seed      888, 0.50, 8.88")


def test_limits_beyond_what_an_axis_can_span_are_refused(tmp_path):
    result = runner.invoke(
        app,
        [
            "run",
            "baseline",
            "--set",
            "animation.limits.intercept=[-1.0e+308, 1.0e+308]",
            "--out",
            str(tmp_path),
        ],
    )
    assert result.exit_code == 2
    assert _one_error_line(result.output).endswith(
        "animation.limits.intercept = [-1e+308, 1e+308]: each limit must lie within ±1e300"
    )


def _shrinkvis(*arguments: str, **options) -> subprocess.CompletedProcess:
    command = [str(Path(sys.executable).with_name("shrinkvis")), *arguments]
    return subprocess.run(command, capture_output=options.pop("capture_output", True), text=True, **options)


@pytest.mark.parametrize("closed", [1, 2])
def test_a_closed_output_stream_changes_nothing(tmp_path, closed):
    result = _shrinkvis(
        "run",
        "baseline",
        "--out",
        str(tmp_path),
        *FAST,
        capture_output=False,
        stdout=subprocess.DEVNULL if closed == 2 else None,
        stderr=subprocess.DEVNULL if closed == 1 else None,
        preexec_fn=lambda: os.close(closed),
    )
    assert result.returncode == 0
    assert (tmp_path / "baseline" / "summary.json").is_file()
    assert (tmp_path / "baseline" / "shrinkage.png").is_file()


def test_a_reader_that_went_away_ends_the_command_quietly():
    reader, writer = os.pipe()
    os.close(reader)
    try:
        result = _shrinkvis("list", capture_output=False, stdout=writer, stderr=subprocess.PIPE)
    finally:
        os.close(writer)
    assert result.returncode == BROKEN_PIPE_EXIT  # 128 + SIGPIPE, as the shell reports `yes | head -1`
    assert result.stderr == ""


def test_an_unwritable_home_leaves_no_temporary_folder_and_says_nothing(tmp_path):
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    environment = {**os.environ, "HOME": "/dev/null/home", "TMPDIR": str(temporary)}
    environment.pop("MPLCONFIGDIR", None)
    environment.pop("XDG_CACHE_HOME", None)
    environment.pop("XDG_CONFIG_HOME", None)
    for _ in range(2):
        result = _shrinkvis("run", "baseline", "--out", str(tmp_path / "out"), *FAST, env=environment)
        assert result.returncode == 0, result.stderr
        assert "matplotlib" not in result.stderr.lower()
        assert all(line.startswith("shrinkvis: warning: ") for line in result.stderr.splitlines())
    # one folder of this user's, made by the first run and used by the second
    assert [path.name for path in temporary.iterdir()] == [f"shrinkvis-{os.getuid()}"]
    assert [path.name for path in (temporary / f"shrinkvis-{os.getuid()}").iterdir()] == ["matplotlib"]


def test_a_second_writer_into_one_folder_fails_with_one_line(tmp_path):
    from shrinkvis.outputs import folder_lock

    with folder_lock(tmp_path / "baseline"):
        result = runner.invoke(app, ["run", "baseline", "--out", str(tmp_path), *FAST])
    assert result.exit_code == 1
    assert _one_error_line(result.output) == (
        f"{tmp_path / 'baseline'}: another shrinkvis is writing into this folder; run again when it is done, "
        "or give another --out"
    )
    assert not (tmp_path / "baseline").exists()  # nothing written; the lock's folder went with it
    result = runner.invoke(app, ["run", "baseline", "--out", str(tmp_path), *FAST])
    assert result.exit_code == 0, result.output
    assert not (tmp_path / "baseline" / ".shrinkvis.lock").exists()
