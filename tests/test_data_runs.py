"""Your own data through the command line: shrinkvis run --data / --formula, scenario files that point at
a table, shrinkvis explain, and one-line errors for bad files."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from shrinkvis import pipeline
from shrinkvis import scenario as scenarios
from shrinkvis.cli import app

from .conftest import LME4_DIR, load_reference
from .corpus import write_parquet

runner = CliRunner()
QUICK = ["--format", "png", "--set", "animation.frames=4"]

# the reference cases as a user would name their columns, and the same model as an lme4 formula
CASES = {
    "intercept_only_s7": (["--y", "score", "--group", "school"], "score ~ 1 + (1 | school)"),
    "unbalanced_s6": (["--y", "y", "--x", "x", "--group", "cluster"], "y ~ x + (x | cluster)"),
    "singular_s8": (
        ["--y", "y", "--x", "x", "--group", "cluster", "--random", "slope"],
        "y ~ x + (1 + x | cluster)",
    ),
}


def _run(args, tmp_path):
    result = runner.invoke(app, ["run", *args, "--out", str(tmp_path), *QUICK])
    assert result.exit_code == 0, result.output
    return result


def _check_summary_matches_lme4(summary: dict, expected: dict) -> None:
    assert (summary["n_obs"], summary["n_groups"]) == (expected["n_obs"], expected["n_groups"])
    assert summary["formula"] == expected["formula"]
    for name, value in expected["fixed_effects"].items():
        assert summary["fixed_effects"][name] == pytest.approx(value, rel=1e-5)
        assert summary["std_errors"][name] == pytest.approx(expected["std_errors"][name], rel=1e-4)
        complete = expected["complete_pooling"]
        assert summary["complete_pooling"]["estimates"][name] == pytest.approx(
            complete["estimates"][name], rel=1e-8
        )
        assert summary["complete_pooling"]["std_errors"][name] == pytest.approx(
            complete["std_errors"][name], rel=1e-8
        )
    for key in ("sd_intercept", "sd_slope", "residual_sd"):
        if expected[key] is None:
            assert summary[key] is None
        else:
            assert summary[key] == pytest.approx(expected[key], rel=1e-4), key
    if expected["corr"] is not None:
        assert summary["corr"] == pytest.approx(expected["corr"], abs=1e-3)
    assert summary["reml_criterion"] == pytest.approx(expected["reml_criterion"], abs=1e-4)
    assert summary["is_singular"] is expected["is_singular"]
    by_cluster = {row["cluster"]: row for row in summary["shrinkage"]}
    assert len(by_cluster) == expected["n_groups"]
    for reference in expected["clusters"]:
        row = by_cluster[reference["cluster"]]
        assert row["n"] == reference["n"]
        assert row["partial_intercept"] == pytest.approx(reference["partial_intercept"], abs=1e-4)
        assert row["no_pool_intercept"] == pytest.approx(reference["no_pool_intercept"], abs=1e-8)
        if reference["partial_slope"] is not None:
            assert row["partial_slope"] == pytest.approx(reference["partial_slope"], abs=1e-4)


def _check_report_matches_lme4(text: str, expected: dict) -> None:
    """The lme4-like summary in report.md: REML criterion, random-effect SDs, fixed effects with t values."""
    criterion = float(re.search(r"REML criterion at convergence: ([-\d.]+)", text).group(1))
    assert criterion == pytest.approx(expected["reml_criterion"], abs=1e-3)
    fixed = text.split("Fixed effects:\n")[1].split("```")[0].strip().splitlines()[1:]
    assert len(fixed) == len(expected["fixed_effects"])
    for line, (name, value) in zip(fixed, expected["fixed_effects"].items(), strict=True):
        label, estimate, se, t_value = line.split()
        assert label == ("(Intercept)" if name == "Intercept" else name)
        se_expected = expected["std_errors"][name]
        assert float(estimate) == pytest.approx(value, abs=1e-4)
        assert float(se) == pytest.approx(se_expected, abs=1e-4)
        assert float(t_value) == pytest.approx(value / se_expected, abs=1e-2)
    random_effects = text.split("Random effects:\n")[1].split("Residual")[0]
    sds = re.findall(r"(?:\(Intercept\)|x) +[\d.]+ +([\d.]+)", random_effects)
    reference_sds = [expected["sd_intercept"]] + ([expected["sd_slope"]] if expected["sd_slope"] else [])
    assert [float(sd) for sd in sds] == pytest.approx(reference_sds, abs=1e-4)
    assert (
        f"Number of obs: {expected['n_obs']}, groups:  {expected['columns']['group']}, {expected['n_groups']}"
        in text
    )
    singular = "## Warnings\n\n- **Singular fit.**" in text
    assert singular is expected["is_singular"]


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("how", ["columns", "formula"])
def test_reference_cases_run_from_their_files(case, how, tmp_path):
    _, expected = load_reference(case)
    columns, formula = CASES[case]
    model = columns if how == "columns" else ["--formula", formula]
    result = _run(["--data", str(LME4_DIR / f"{case}.csv"), *model], tmp_path)
    folder = tmp_path / case  # out/<file stem>/
    # no slopes: the funnel view, or without a predictor the caterpillar
    view = (
        "caterpillar"
        if expected["columns"]["x"] is None
        else "shrinkage"
        if expected["sd_slope"] is not None
        else "funnel"
    )
    assert {path.name for path in folder.iterdir()} == {
        f"{view}.png",
        f"{view}_start.png",
        "shrinkage_by_size.png",
        "estimates.csv",
        "summary.json",
        "report.md",
    }
    summary = json.loads((folder / "summary.json").read_text())
    _check_summary_matches_lme4(summary, expected)
    assert summary["scenario"]["title"] is None and summary["scenario"]["name"] == case  # titled by file name
    assert summary["data"]["source"].endswith(f"{case}.csv") and summary["data"]["dropped_rows"] == 0
    report = (folder / "report.md").read_text()
    assert report.startswith(f"# {case}: the numbers behind the picture")
    _check_report_matches_lme4(report, expected)
    if expected["is_singular"]:
        assert "shrinkvis: warning: singular fit:" in result.output
        assert summary["warnings"] and summary["warnings"][0].startswith("singular fit")
    else:
        assert "warning" not in result.output


def test_singular_warning_is_on_the_frames(tmp_path):
    scenario = scenarios.for_data(LME4_DIR / "singular_s8.csv", formula="y ~ x + (x | cluster)")
    data = pipeline.source_data(scenario)
    story = pipeline.storyboard(pipeline.fit_data(data, scenario), scenario, data)
    assert story.header.warning.startswith("singular fit: intercepts and slopes of x perfectly correlated")
    assert story.header.caption == "y ~ x + (x | cluster): 150 rows in 30 clusters · REML, exact engine"
    assert (story.x_label, story.y_label) == ("Intercept (per cluster)", "Slope of x (per cluster)")


def test_title_option_and_summary_json_numbers(tmp_path):
    _run(
        [
            "--data",
            str(LME4_DIR / "random_intercept_s1.csv"),
            "--formula",
            "y ~ x + (1 | cluster)",
            "--title",
            "Pupils in schools",
        ],
        tmp_path,
    )
    summary = json.loads((tmp_path / "random_intercept_s1" / "summary.json").read_text())
    assert summary["scenario"]["title"] == "Pupils in schools"
    assert summary["scenario"]["model"]["random"] == "intercept"
    assert summary["blup_identity_error"] < 1e-9
    rows = {row["coefficient"]: row for row in summary["pooling_comparison"]}
    assert set(rows) == {"Intercept", "x"}
    assert rows["Intercept"]["partial_pooling"]["estimate"] == summary["fixed_effects"]["Intercept"]
    assert rows["x"]["no_pooling"]["std_error"] > rows["x"]["partial_pooling"]["std_error"]
    weights = np.array([row["weight"] for row in summary["shrinkage"]])
    assert np.allclose([row["shrinkage"] for row in summary["shrinkage"]], 1 - weights)


def _sleep_table(tmp_path):
    """A small sleep-study-like table, as someone would type it: text subject labels, a missing value."""
    rows = ["Subject,Days,Reaction"]
    rng = np.random.default_rng(4)
    for index, subject in enumerate(["ann", "bob", "cyd", "dee", "eve", "fay"]):
        base, slope = 250 + 15 * rng.standard_normal(), 10 + 4 * rng.standard_normal()
        for day in range(5 if index else 1):  # ann came on one day only
            rows.append(f"{subject},{day},{base + slope * day + 12 * rng.standard_normal():.1f}")
    rows.append("gus,3,")  # no reaction time recorded
    path = tmp_path / "sleep.csv"
    path.write_text("\n".join(rows) + "\n")
    return path


def test_a_scenario_file_can_point_at_a_table_beside_it(tmp_path, monkeypatch):
    _sleep_table(tmp_path)
    (tmp_path / "sleep.yaml").write_text(
        "title: Sleep deprivation\ndata: {file: sleep.csv, y: Reaction, x: Days, group: Subject}\n"
    )
    monkeypatch.chdir(tmp_path.parent)  # the file is found beside the YAML, not in the working folder
    result = runner.invoke(app, ["run", str(tmp_path / "sleep.yaml"), "--out", str(tmp_path / "out"), *QUICK])
    assert result.exit_code == 0, result.output
    report = (tmp_path / "out" / "sleep" / "report.md").read_text()
    assert report.startswith("# Sleep deprivation: the numbers behind the picture")
    assert "26 rows in 6 clusters (column Subject), 1 to 5 rows; 1 row with missing values dropped." in report
    assert "1 cluster with a single row (ann) kept" in report
    assert "| ann | 1 | — | — |" in report and "single row; no own estimate |" in report
    assert "`Reaction ~ Days + (Days | Subject)`" in report
    summary = json.loads((tmp_path / "out" / "sleep" / "summary.json").read_text())
    assert summary["data"] == {
        "source": str(tmp_path / "sleep.csv"),
        "y": "Reaction",
        "x": "Days",
        "group": "Subject",
        "rows_used": 26,
        "dropped_rows": 1,
        "single_row_clusters": ["ann"],
    }
    assert summary["scenario"]["data"]["file"] == str(tmp_path / "sleep.csv")


def test_explain_prints_the_report_without_writing_files(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(
        app, ["explain", "--data", str(LME4_DIR / "singular_s8.csv"), "--formula", "y ~ x + (x | cluster)"]
    )
    assert result.exit_code == 0, result.output
    for title in (
        "Random effects",
        "Fixed effects (REML criterion 428.9625)",
        "Complete, no and partial pooling",
        "Shrinkage per cluster (first 20 of 30",
    ):
        assert title in result.output
    assert "warning: singular fit: intercepts and slopes of x perfectly correlated" in result.output
    assert re.search(r"x\s+│\s+0\.5206\s+│\s+0\.0779\s+│\s+6\.68", result.output)
    assert list(tmp_path.iterdir()) == []


def test_explain_a_built_in_scenario():
    result = runner.invoke(app, ["explain", "fewer_obs", "--set", "data.n_cluster=12"])
    assert result.exit_code == 0, result.output
    assert "Model: y ~ x + (x | cluster), REML, exact engine" in result.output
    assert "simulated (seed 888): 36 rows in 12 clusters (column cluster), 3 rows each." in result.output


@pytest.mark.parametrize(
    ("content", "args", "message"),
    [
        (None, ["--y", "y", "--group", "g"], "missing.csv: no such file"),
        ("", ["--y", "y", "--group", "g"], "the file is empty"),
        ("y,x,g\n1,2,a\n", ["--y", "score", "--group", "g"], "no column 'score'; the file has: y, x, g"),
        (
            "y,x,g\n1,0,a\nfast,1,b\n3,2,c\n",
            ["--y", "y", "--x", "x", "--group", "g"],
            "column 'y' must hold numbers; data row 2 (line 3) holds 'fast'",
        ),
        (
            "y,x,g\n1,0,a\n2,one,b\n3,2,c\n",
            ["--y", "y", "--x", "x", "--group", "g"],
            "column 'x' must hold numbers; data row 2 (line 3) holds 'one'",
        ),
        (
            "y,g\n1,a\n2,a\n3,b\n4,b\n5,\n",
            ["--y", "y", "--group", "g"],
            "column 'g' has 2 group(s) with complete rows; at least 3 are needed to estimate a between-group variance",
        ),
        (
            "y,g\n1,a\n2,b\n3,c\n",
            ["--y", "y", "--group", "g", "--random", "slope"],
            "--random slope needs a predictor: give --x COLUMN (without --x the model is y ~ 1 + (1 | group))",
        ),
        (
            "y,g\n1,a\n2,b\n3,c\n",
            ["--formula", "y ~ x + z + (1 | g)"],
            "formula 'y ~ x + z + (1 | g)' names column 'x', which is not in the data",
        ),
        (
            "y,g\n1,a\n2,b\n3,c\n",
            ["--formula", "y ~ (1 | g)", "--y", "y"],
            "either as --formula or as --y/--x/--group",
        ),
        ("y,g\n1,a\n2,b\n3,c\n", ["--y", "y"], "a data run needs --y COLUMN and --group COLUMN"),
    ],
)
def test_bad_files_and_options_give_one_line(tmp_path, content, args, message):
    path = tmp_path / "missing.csv" if content is None else tmp_path / "bad.csv"
    if content is not None:
        path.write_text(content)
    for command in ("run", "explain"):
        result = runner.invoke(app, [command, "--data", str(path), *args])
        assert result.exit_code == 2, result.output
        lines = result.output.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("shrinkvis: error: "), result.output
        assert message in lines[0]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "give a scenario (a built-in name or a YAML file) or --data FILE"),
        (["baseline", "--data", "x.csv"], "give either the scenario 'baseline' or --data x.csv, not both"),
        (["baseline", "--y", "score"], "--y: only with --data FILE"),
    ],
)
def test_run_needs_a_scenario_or_data_but_not_both(args, message):
    result = runner.invoke(app, ["run", *args])
    assert result.exit_code == 2
    assert message in result.output and len(result.output.strip().splitlines()) == 1


def _parquet(frame: pd.DataFrame, path) -> None:
    write_parquet(frame, path)


def test_parquet_runs_like_csv(tmp_path):
    data, expected = load_reference("intercept_only_s7")
    path = tmp_path / "schools.parquet"
    _parquet(data, path)
    result = runner.invoke(app, ["explain", "--data", str(path), "--formula", "score ~ 1 + (1 | school)"])
    assert result.exit_code == 0, result.output
    assert f"Fixed effects (REML criterion {expected['reml_criterion']:.4f})" in result.output


def test_parquet_needs_no_pyarrow(tmp_path):
    """After a plain `pip install .` (no pyarrow), `fit --data x.parquet` reads the file through DuckDB,
    labels kept as written."""
    data, expected = load_reference("intercept_only_s7")
    data = data.assign(school=[f"0{label}" for label in data["school"]])
    path = tmp_path / "schools.parquet"
    _parquet(data, path)
    without_pyarrow = (
        "import sys; sys.modules['pyarrow'] = None; sys.argv = ['shrinkvis', *sys.argv[1:]]; "
        "from shrinkvis.cli import main; main()"
    )
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            without_pyarrow,
            "fit",
            "--data",
            str(path),
            "--y",
            "score",
            "--group",
            "school",
            "--json",
            "--estimates",
            str(tmp_path / "est.csv"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    fitted = json.loads(done.stdout)
    assert fitted["reml_criterion"] == pytest.approx(expected["reml_criterion"], abs=1e-4)
    labels = pd.read_csv(tmp_path / "est.csv", dtype={"cluster": str})["cluster"]
    assert set(labels) == set(data["school"]) and all(label.startswith("0") for label in labels)


def test_a_column_in_other_case_is_suggested(tmp_path):
    path = _sleep_table(tmp_path)
    result = runner.invoke(
        app, ["run", "--data", str(path), "--y", "reaction", "--x", "Days", "--group", "Subject"]
    )
    assert result.exit_code == 2
    assert (
        "no column 'reaction' (did you mean 'Reaction'?); the file has: Subject, Days, Reaction"
        in result.output
    )


def test_a_model_without_predictor_is_shown_in_the_caterpillar_view():
    scenario = scenarios.for_data(LME4_DIR / "intercept_only_s7.csv", formula="score ~ 1 + (1 | school)")
    data = pipeline.source_data(scenario)
    estimates = pipeline.fit_data(data, scenario)
    shown = pipeline.view_for(estimates, scenario)
    assert shown.animation.view == "caterpillar"
    story = pipeline.storyboard(estimates, shown, data)
    table = estimates.clusters
    assert np.allclose(np.sort(story.estimates(0, 0)), np.sort(table["no_pool_intercept"]))
    assert np.allclose(np.sort(story.estimates(story.n_frames - 1, 0)), np.sort(table["partial_intercept"]))
    # a view the user chose is kept, and one that cannot show the model says so
    chosen = scenarios.for_data(
        LME4_DIR / "intercept_only_s7.csv",
        formula="score ~ 1 + (1 | school)",
        overrides=["animation.view=shrinkage"],
    )
    assert pipeline.view_for(estimates, chosen).animation.view == "shrinkage"


def test_the_funnel_names_the_data_columns(tmp_path):
    renamed = tmp_path / "sleep.csv"
    table = pd.read_csv(LME4_DIR / "baseline_s1.csv").rename(
        columns={"y": "Reaction", "x": "Days", "cluster": "Subject"}
    )
    table.to_csv(renamed, index=False)
    scenario = scenarios.for_data(
        renamed, formula="Reaction ~ Days + (Days | Subject)", overrides=["animation.view=funnel"]
    )
    data = pipeline.source_data(scenario)
    story = pipeline.storyboard(pipeline.fit_data(data, scenario), scenario, data)
    assert [panel.label for panel in story.panels] == [
        "Intercept (per Subject)",
        "Slope of Days (per Subject)",
    ]
