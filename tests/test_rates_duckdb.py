"""Binomial and Poisson tables summed per cluster by DuckDB (a glob, a directory): the same fit as glmer's
on the rows, with the rows' log-likelihood constants summed alongside (tests/data/glmm references)."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from shrinkvis import scenario as scenarios
from shrinkvis.cli import app

runner = CliRunner()
GLMM = Path(__file__).parent / "data" / "glmm"
SURGICAL = pd.read_csv(Path(scenarios.builtin_dir()) / "surgical.csv")
CBIND = "cbind(deaths, operations - deaths) ~ 1 + (1 | hospital)"
POISSON = "deaths ~ 1 + offset(log(operations)) + (1 | hospital)"


def _reference(name: str) -> dict:
    return json.loads((GLMM / f"{name}.json").read_text())


def _fit(*arguments: str) -> dict:
    result = runner.invoke(app, ["fit", *arguments, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def _matches(answer: dict, ref: dict) -> None:
    assert answer["fixed_effects"]["Intercept"] == pytest.approx(
        ref["fixed_effects"]["(Intercept)"], abs=1e-6
    )
    assert answer["std_errors"]["Intercept"] == pytest.approx(ref["std_errors"]["(Intercept)"], rel=1e-4)
    assert answer["random_effects"]["sd"]["(Intercept)"] == pytest.approx(ref["theta"], abs=1e-6)
    assert answer["loglik"] == pytest.approx(ref["logLik"], abs=1e-6)
    assert answer["n_obs"] == ref["n_obs"]


@pytest.fixture
def split(tmp_path: Path) -> Path:
    """surgical.csv in two files of a folder."""
    folder = tmp_path / "cbind"
    folder.mkdir()
    SURGICAL.iloc[:5].to_csv(folder / "part1.csv", index=False)
    SURGICAL.iloc[5:].to_csv(folder / "part2.csv", index=False)
    return folder


@pytest.fixture
def operations(tmp_path: Path) -> Path:
    """One 0/1 row per operation (2,814), shuffled into three Parquet files."""
    rows = [
        (row.hospital, died)
        for row in SURGICAL.itertuples()
        for died in [1] * row.deaths + [0] * (row.operations - row.deaths)
    ]
    table = pd.DataFrame(rows, columns=["hospital", "died"]).sample(frac=1, random_state=27)
    folder = tmp_path / "operations"
    folder.mkdir()
    for part in range(3):
        piece = table.iloc[part::3]  # noqa: F841 — read by DuckDB by name
        duckdb.sql(f"COPY (SELECT * FROM piece) TO '{folder / f'part{part}.parquet'}' (FORMAT parquet)")
    return folder


@pytest.mark.parametrize("nagq", [1, 10])
def test_glob_of_cbind_tables_matches_glmer(split: Path, nagq: int) -> None:
    ref = _reference(f"surgical_binomial_agq{nagq}")
    _matches(_fit("--data", str(split / "*.csv"), "--formula", CBIND, "--nagq", str(nagq)), ref)


@pytest.mark.parametrize("nagq", [1, 10])
def test_directory_of_parquet_rows_matches_glmer_on_the_rows(operations: Path, nagq: int) -> None:
    """0/1 rows: logLik without log C(n, y), as glmer on the rows gives it."""
    ref = _reference(f"surgical_rows_agq{nagq}")
    arguments = ["--y", "died", "--group", "hospital", "--family", "binomial", "--nagq", str(nagq)]
    _matches(_fit("--data", str(operations), *arguments), ref)


@pytest.mark.parametrize("nagq", [1, 10])
def test_poisson_glob_matches_glmer(split: Path, nagq: int) -> None:
    ref = _reference(f"surgical_poisson_agq{nagq}")
    _matches(_fit("--data", str(split / "*.csv"), "--formula", POISSON, "--nagq", str(nagq)), ref)


@pytest.mark.parametrize("formula", [CBIND, POISSON])
def test_summed_and_in_memory_fits_agree_row_for_row(tmp_path: Path, formula: str) -> None:
    """Each hospital's operations in two rows: the constants are summed per row on both paths, and a
    row with a missing value is left out (and counted) on both."""
    first = SURGICAL.assign(deaths=SURGICAL.deaths // 2, operations=SURGICAL.operations // 2)
    second = SURGICAL.assign(
        deaths=SURGICAL.deaths - first.deaths, operations=SURGICAL.operations - first.operations
    )
    gap = pd.DataFrame({"hospital": ["A"], "deaths": [np.nan], "operations": [10]})
    table = pd.concat([first, second, gap], ignore_index=True)
    table.to_csv(tmp_path / "one.csv", index=False)
    folder = tmp_path / "parts"
    folder.mkdir()
    table.iloc[:13].to_csv(folder / "a.csv", index=False)
    table.iloc[13:].to_csv(folder / "b.csv", index=False)
    in_memory = _fit("--data", str(tmp_path / "one.csv"), "--formula", formula)
    summed = _fit("--data", str(folder), "--formula", formula)
    for key in ("loglik", "AIC", "n_obs", "dropped_rows"):
        assert summed[key] == pytest.approx(in_memory[key], abs=1e-8), key
    assert summed["dropped_rows"] == 1 and summed["n_obs"] == 24
    assert summed["fixed_effects"]["Intercept"] == pytest.approx(
        in_memory["fixed_effects"]["Intercept"], abs=1e-9
    )


def test_run_renders_a_glob(split: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    arguments = ["--formula", CBIND, "--out", str(out), "--format", "png", "--set", "animation.frames=4"]
    result = runner.invoke(app, ["run", "--data", str(split / "*.csv"), *arguments])
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "cbind" / "summary.json").read_text())
    ref = _reference("surgical_binomial_agq1")
    assert summary["fixed_effects"]["Intercept"] == pytest.approx(
        ref["fixed_effects"]["(Intercept)"], abs=1e-6
    )
    assert summary["loglik"] == pytest.approx(ref["logLik"], abs=1e-6)


@pytest.mark.parametrize(
    ("change", "arguments", "message"),
    [
        (None, ["--y", "deaths", "--group", "hospital", "--family", "binomial"], "counts above 1"),
        ({"deaths": [-1]}, ["--formula", CBIND], "must hold counts (whole numbers ≥ 0)"),
        ({"deaths": [50]}, ["--formula", CBIND], "whole numbers of trials, each at least 'deaths'"),
        ({"operations": [0]}, ["--formula", POISSON], "exposures above 0"),
        # the reading rules of every reader (shrinkvis.reading), with their words
        (
            {"deaths": ["1_8"]},
            ["--formula", CBIND],
            "a.csv: column 'deaths' must hold numbers; data row 1 (line 2) holds '1_8'",
        ),
        (
            None,
            ["--formula", "cbind(deaths, operations - deaths) ~ 1 + size + (1 | hospital)"],
            "model without a predictor only",
        ),
        (None, ["--formula", "cbind(deaths, trials - deaths) ~ 1 + (1 | hospital)"], "no column 'trials'"),
    ],
)
def test_bad_rows_are_one_line(
    tmp_path: Path, change: dict | None, arguments: list[str], message: str
) -> None:
    table = SURGICAL.assign(size=np.log(SURGICAL.operations)).astype({"deaths": object})
    if change:
        for column, values in change.items():
            table.loc[: len(values) - 1, column] = values
    folder = tmp_path / "bad"
    folder.mkdir()
    table.iloc[:6].to_csv(folder / "a.csv", index=False)
    table.iloc[6:].to_csv(folder / "b.csv", index=False)
    result = runner.invoke(app, ["fit", "--data", str(folder), *arguments])
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.output
