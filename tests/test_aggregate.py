"""Per-cluster sums by DuckDB, and fits from sums alone, against the in-memory path on the same rows."""

from __future__ import annotations

import json
import re

import duckdb
import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from shrinkvis.aggregate import duckdb_sums, file_sums
from shrinkvis.cli import app
from shrinkvis.data import summed_by_duckdb
from shrinkvis.errors import DataError
from shrinkvis.fit import CLUSTER_COLUMNS, fit
from shrinkvis.fit.profiled import cluster_sums
from shrinkvis.fit.sums import fit_sums
from shrinkvis.scenario import ModelSpec

from .conftest import LME4_CASES, LME4_DIR, load_reference

COMPARED = [column for column in CLUSTER_COLUMNS if column != "cluster"] + ["mean_y", "mean_x"]


def _rows(case: str) -> tuple[pd.DataFrame, dict]:
    data, expected = load_reference(case)
    columns = expected["columns"]
    frame = pd.DataFrame({"y": data[columns["y"]], "cluster": data[columns["group"]]})
    if columns["x"]:
        frame["x"] = data[columns["x"]]
    return frame, expected


def _model(expected: dict) -> ModelSpec:
    return ModelSpec(random="slope" if "(x |" in expected["formula"] else "intercept")


def _same_fit(summed, in_memory, rtol: float) -> None:
    """Every population number and every per-cluster column of two fits agree to `rtol`."""
    assert summed.n_obs == in_memory.n_obs
    assert summed.is_singular == in_memory.is_singular
    assert summed.criterion == pytest.approx(in_memory.criterion, rel=rtol)
    for name in in_memory.fixed_effects:
        assert summed.fixed_effects[name] == pytest.approx(in_memory.fixed_effects[name], rel=rtol)
        assert summed.std_errors[name] == pytest.approx(in_memory.std_errors[name], rel=rtol)
    assert summed.residual_sd == pytest.approx(in_memory.residual_sd, rel=rtol)
    assert np.allclose(summed.cov_re, in_memory.cov_re, rtol=rtol, atol=rtol * in_memory.residual_sd**2)
    for part in ("estimates", "std_errors"):
        assert summed.complete_pooling[part] == pytest.approx(in_memory.complete_pooling[part], rel=rtol)
    assert list(summed.clusters["cluster"].astype(str)) == list(in_memory.clusters["cluster"].astype(str))
    for column in COMPARED:
        expected = in_memory.clusters[column].to_numpy(dtype=float)
        scale = np.nanmax(np.abs(expected)) if np.isfinite(expected).any() else 1.0
        actual = summed.clusters[column].to_numpy(dtype=float)
        assert np.allclose(actual, expected, rtol=rtol, atol=rtol * scale, equal_nan=True), column


@pytest.mark.parametrize("case", LME4_CASES)
def test_duckdb_sums_equal_numpy_sums_on_the_reference_cases(case):
    frame, expected = _rows(case)
    columns = expected["columns"]
    sums = file_sums(LME4_DIR / f"{case}.csv", y=columns["y"], group=columns["group"], x=columns["x"])
    # numpy's sums of the same rows from the same centres, in the in-memory path's cluster order
    in_memory = fit(frame, _model(expected))
    assert list(sums.labels) == list(in_memory.clusters["cluster"])
    codes = pd.Categorical(frame["cluster"], categories=sums.labels).codes
    x = frame["x"].to_numpy() if "x" in frame else None
    centres = sums.stats.centre_y, sums.stats.centre_x
    reference = cluster_sums(frame["y"].to_numpy(), x, codes, len(sums.labels), *centres)
    assert np.array_equal(sums.stats.n, reference.n)
    for field in ("sy", "syy", "sx", "sxx", "sxy"):
        assert np.allclose(getattr(sums.stats, field), getattr(reference, field), rtol=1e-12, atol=1e-12), (
            field
        )
    _same_fit(fit_sums(sums, _model(expected), x_name="x"), in_memory, rtol=1e-9)


def test_large_offsets_do_not_cost_digits():
    """y + 1e6 and x + 1e4 summed and fitted: the same fit, moved by the offsets, as without them."""
    frame, expected = _rows("baseline_s1")
    shifted = frame.assign(y=frame["y"] + 1e6, x=frame["x"] + 1e4)
    con = duckdb.connect()
    sums = duckdb_sums(con.from_df(shifted), y="y", group="cluster", x="x")
    summed = fit_sums(sums, ModelSpec())
    plain = fit(frame, ModelSpec())
    slope = plain.fixed_effects["x"]
    assert summed.fixed_effects["x"] == pytest.approx(slope, rel=1e-7)
    assert summed.fixed_effects["Intercept"] == pytest.approx(
        plain.fixed_effects["Intercept"] + 1e6 - slope * 1e4
    )
    assert summed.residual_sd == pytest.approx(plain.residual_sd, rel=1e-7)
    assert summed.sd_slope == pytest.approx(plain.sd_slope, rel=1e-6)
    assert summed.criterion == pytest.approx(plain.criterion, rel=1e-9)
    table, reference = summed.clusters, plain.clusters
    assert np.allclose(table["partial_slope"], reference["partial_slope"], rtol=0, atol=1e-7)
    assert np.allclose(table["no_pool_slope"], reference["no_pool_slope"], rtol=0, atol=1e-7, equal_nan=True)
    assert np.allclose(table["partial_slope_se"], reference["partial_slope_se"], rtol=1e-6)
    assert np.allclose(table["mean_y"] - 1e6, reference["mean_y"], rtol=0, atol=1e-8)


def _events(rows: int, clusters: int, seed: int) -> str:
    """A SQL query of generated rows: per-cluster intercepts and slopes, label 's<k>'."""
    return (
        f"SELECT 's' || (range % {clusters}) AS store, "
        f"hash(range % {clusters}, {seed}) % 1000 / 100.0 + (hash(range, {seed}) % 1000) / 500.0 AS visits, "
        f"(range % {clusters}) / {clusters} * 3 + (hash(range % {clusters}, {seed + 1}) % 100) / 50.0 * visits "
        f"+ (hash(range, {seed + 2}) % 2000) / 1000.0 AS spend FROM range({rows})"
    )


def test_a_multi_file_parquet_set_fits_like_its_rows_in_memory(tmp_path):
    con = duckdb.connect()
    for part in range(3):
        con.execute(
            f"COPY ({_events(4_000, 40, seed=part)}) TO '{tmp_path / f'part{part}.parquet'}' (FORMAT parquet)"
        )
    rows = con.sql(f"SELECT * FROM '{tmp_path}/*.parquet'").df()
    in_memory = fit(pd.DataFrame({"y": rows["spend"], "x": rows["visits"], "cluster": rows["store"]}))
    for path in (tmp_path / "*.parquet", tmp_path):
        assert summed_by_duckdb(path)
        _same_fit(fit_sums(file_sums(path, y="spend", x="visits", group="store")), in_memory, rtol=1e-8)


def test_a_set_larger_than_the_memory_limit_fits(tmp_path):
    """3 million rows (72 MB of numbers) through a DuckDB capped at 16 MB: memory goes with the clusters."""
    con = duckdb.connect(config={"temp_directory": str(tmp_path / "spill")})
    con.execute(
        f"COPY ({_events(3_000_000, 2_000, seed=5)}) TO '{tmp_path / 'big.parquet'}' (FORMAT parquet)"
    )
    con.execute("SET memory_limit = '16MB'; SET threads = 1")
    heard: list[float] = []
    sums = file_sums(
        tmp_path / "big.parquet",
        y="spend",
        x="visits",
        group="store",
        connection=con,
        on_progress=heard.append,
    )
    assert all(0 <= done <= 100 for done in heard)
    assert sums.n_obs == 3_000_000 and sums.n_groups == 2_000
    assert con.sql("SELECT current_setting('memory_limit')").fetchall()[0][0] == "15.2 MiB"
    # the sums are the rows' (checked on a sample of clusters against a query per cluster)
    for label in ("s0", "s1234", "s1999"):
        index = list(sums.labels).index(label)
        n, total = con.sql(
            f"SELECT count(*), sum(spend - {sums.stats.centre_y!r}) FROM '{tmp_path / 'big.parquet'}' WHERE store = '{label}'"
        ).fetchall()[0]
        assert sums.stats.n[index] == n
        assert sums.stats.sy[index] == pytest.approx(total, rel=1e-12, abs=1e-9)
    estimates = fit_sums(sums)
    assert estimates.converged and estimates.n_groups == 2_000


def test_missing_values_are_counted_and_left_out(tmp_path):
    path = tmp_path / "gaps.csv"
    frame, _ = _rows("baseline_s1")
    gaps = frame.astype({"y": object})
    gaps.loc[[3, 10], "y"] = None
    gaps.loc[20, "cluster"] = None
    gaps.to_csv(path, index=False)
    sums = file_sums(path, y="y", group="cluster", x="x")
    assert sums.dropped_rows == 3
    assert sums.n_obs == len(frame) - 3


@pytest.mark.parametrize(
    ("file", "columns", "message"),
    [
        ("nothing-*.parquet", {"y": "y", "group": "cluster"}, "no file matches"),
        ("data.csv", {"y": "Y", "group": "cluster"}, "no column 'Y' (did you mean 'y'?)"),
        (
            "data.csv",
            {"y": "cluster", "group": "x"},
            "data.csv: column 'cluster' must hold numbers; data row 1 (line 2) holds 'a'",
        ),
    ],
)
def test_bad_input_is_one_line(tmp_path, file, columns, message):
    pd.DataFrame({"y": [1.0, 2.0], "x": [3.0, 4.0], "cluster": ["a", "b"]}).to_csv(
        tmp_path / "data.csv", index=False
    )
    with pytest.raises(DataError, match=re.escape(message)):
        file_sums(tmp_path / file, **columns)


def test_small_files_keep_the_in_memory_path():
    assert not summed_by_duckdb(LME4_DIR / "baseline_s1.csv")


def test_fit_command_on_a_glob_prints_the_fit_of_the_rows(tmp_path):
    frame, expected = _rows("baseline_s1")
    for part, rows in enumerate((frame.iloc[: len(frame) // 2], frame.iloc[len(frame) // 2 :])):
        rows.to_csv(tmp_path / f"part{part}.csv", index=False)
    result = CliRunner().invoke(
        app,
        [
            "fit",
            "--data",
            str(tmp_path / "part*.csv"),
            "--y",
            "y",
            "--x",
            "x",
            "--group",
            "cluster",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    printed = json.loads(result.output)
    in_memory = fit(frame)
    assert printed["fixed_effects"]["x"] == pytest.approx(in_memory.fixed_effects["x"], rel=1e-9)
    assert printed["n_groups"] == expected["n_groups"]


def test_run_on_a_directory_writes_the_outputs(tmp_path):
    frame, _ = _rows("baseline_s1")
    data = tmp_path / "events"
    data.mkdir()
    for part, rows in enumerate((frame.iloc[: len(frame) // 2], frame.iloc[len(frame) // 2 :])):
        # written by DuckDB: the test extra has no pyarrow
        duckdb.from_df(rows).write_parquet(str(data / f"part{part}.parquet"))
    out = tmp_path / "out"
    args = ["run", "--data", str(data), "--y", "y", "--x", "x", "--group", "cluster", "--out", str(out)]
    result = CliRunner().invoke(app, [*args, "--format", "png", "--set", "animation.frames=3"])
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "events" / "summary.json").read_text())
    assert summary["n_obs"] == len(frame)
    lines = CliRunner().invoke(app, [*args, "--view", "lines", "--format", "png"])
    assert lines.exit_code == 2
    assert "lines draws the rows" in lines.output


def test_more_clusters_than_memory_holds_is_one_line(monkeypatch):
    from shrinkvis.aggregate import tables

    monkeypatch.setattr(tables, "BYTES_PER_CLUSTER", 10**12)  # as if each cluster took a terabyte
    with pytest.raises(
        DataError, match=r"baseline_s1.csv: 100 clusters need about 100000 GB to fit; this machine has \d+ GB"
    ):
        file_sums(LME4_DIR / "baseline_s1.csv", y="y", group="cluster", x="x")


def test_summed_data_is_fitted_by_the_exact_engine_only():
    sums = file_sums(LME4_DIR / "baseline_s1.csv", y="y", group="cluster", x="x")
    with pytest.raises(DataError, match="engine 'statsmodels' needs the rows in memory"):
        fit_sums(sums, ModelSpec(engine="statsmodels"))


def test_a_glob_run_is_named_after_its_folder():
    from shrinkvis.scenario import for_data

    assert for_data("data/events/*.parquet", y="spend", group="store").name == "events"
    assert for_data("data/events", y="spend", group="store").name == "events"
