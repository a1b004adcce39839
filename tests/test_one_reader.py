"""One reader: a folder, a glob, a big file and a small file are read under the same rules."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from shrinkvis.aggregate import file_sums
from shrinkvis.data import read_model_data
from shrinkvis.errors import DataError
from shrinkvis.fit import fit
from shrinkvis.fit.sums import fit_sums
from shrinkvis.scenario import DataFileSpec


def _two_groups_of_rows(seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    cluster = np.repeat([f"c{k}" for k in range(8)], 25)
    x = rng.normal(size=len(cluster))
    y = 2.0 + 5.0 * x + rng.normal(scale=1.5, size=len(cluster))
    return pd.DataFrame({"y": y, "x": x, "g": cluster})


def test_a_file_with_its_columns_in_another_order_is_read_by_name(tmp_path):
    """The worst defect: x,y,g in one file of a folder was read as y,x,g (slope −0.5 instead of 5)."""
    frame = _two_groups_of_rows(1)
    frame.iloc[:100][["y", "x", "g"]].to_csv(tmp_path / "a.csv", index=False)
    frame.iloc[100:][["x", "y", "g"]].to_csv(tmp_path / "b.csv", index=False)
    summed = fit_sums(file_sums(tmp_path, y="y", x="x", group="g"))
    in_memory = fit(frame.rename(columns={"g": "cluster"}))
    assert summed.fixed_effects["x"] == pytest.approx(in_memory.fixed_effects["x"], rel=1e-9)
    assert summed.residual_sd == pytest.approx(in_memory.residual_sd, rel=1e-9)
    assert summed.n_obs == 200


def test_a_file_without_a_model_column_is_named(tmp_path):
    frame = _two_groups_of_rows(2)
    frame.iloc[:100].to_csv(tmp_path / "a.csv", index=False)
    frame.iloc[100:].rename(columns={"y": "response"}).to_csv(tmp_path / "b.csv", index=False)
    with pytest.raises(DataError, match=r"b\.csv: no column 'y'; the file has: response, x, g"):
        file_sums(tmp_path / "*.csv", y="y", x="x", group="g")


def _fit_json(*args: str) -> dict:
    import json

    from typer.testing import CliRunner

    from shrinkvis.cli import app

    result = CliRunner().invoke(app, ["fit", *args, "--y", "y", "--x", "x", "--group", "g", "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.mark.parametrize("folder", ["br[ack]et", "back\\slash", "star*dir", "q?"])
def test_legal_names_are_found(tmp_path, folder):
    """A file called data[1].csv is that file, not a pattern; so is a folder br[ack]et."""
    frame = _two_groups_of_rows(3)
    where = tmp_path / folder
    where.mkdir()
    frame.to_csv(where / "data[1].csv", index=False)
    expected = fit(frame.rename(columns={"g": "cluster"})).fixed_effects["x"]
    assert _fit_json("--data", str(where / "data[1].csv"))["fixed_effects"]["x"] == pytest.approx(expected)
    assert _fit_json("--data", str(where))["fixed_effects"]["x"] == pytest.approx(expected)
    sums = file_sums(where / "data[1].csv", y="y", x="x", group="g")
    assert fit_sums(sums).fixed_effects["x"] == pytest.approx(expected, rel=1e-9)


def test_a_link_loop_under_a_glob_ends(tmp_path):
    """dir/**/*.csv with dir/loop → dir: each folder is walked once (the glob check used to run for ever)."""
    import subprocess
    import sys

    data = tmp_path / "dir"
    (data / "sub").mkdir(parents=True)
    frame = _two_groups_of_rows(4)
    frame.iloc[:100].to_csv(data / "a.csv", index=False)
    frame.iloc[100:].to_csv(data / "sub" / "b.csv", index=False)
    (data / "loop").symlink_to(data)
    (data / "sub" / "up").symlink_to(data)
    script = (
        "from shrinkvis.aggregate import file_sums; "
        f"print(file_sums({str(data / '**' / '*.csv')!r}, y='y', x='x', group='g').n_obs)"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "200"  # each file once, through however many links


def test_an_engine_error_keeps_its_reason(tmp_path):
    lines = "".join(f"{k % 7},{k % 5},g{k % 4}\n" for k in range(3000))
    (tmp_path / "part.csv").write_text("y,x,g\n" + lines + '3,4,"unterminated\n5,6,a\n')
    with pytest.raises(DataError) as error:
        file_sums(tmp_path / "*.csv", y="y", x="x", group="g")
    assert (
        str(error.value)
        == f"{tmp_path / 'part.csv'}: CSV Error on Line: 3002; Value with unterminated quote found."
    )


def test_a_missing_column_among_many_is_one_short_line(tmp_path):
    names = ",".join(f"column_{k}" for k in range(100_000))
    (tmp_path / "wide.csv").write_text(f"{names}\n" + ",".join("1" for _ in range(100_000)) + "\n")
    for read in (
        lambda: file_sums(tmp_path / "*.csv", y="y", x="x", group="g"),
        lambda: read_model_data(DataFileSpec(file=str(tmp_path / "wide.csv"), y="y", x="x", group="g")),
    ):
        with pytest.raises(DataError) as error:
            read()
        message = str(error.value)
        assert len(message) < 600 and "\n" not in message
        assert message.endswith("column_18, column_19, … (100,000 columns)")
    (tmp_path / "wide.csv").write_text("y,x,g," + ",".join(f"c{k}" for k in range(100_000)) + "\n")
    with pytest.raises(DataError, match=r"wide.csv: 100,003 columns; at most 100,000 are read"):
        read_model_data(DataFileSpec(file=str(tmp_path / "wide.csv"), y="y", x="x", group="g"))


def test_the_same_file_gives_the_same_fit_below_and_above_the_size_threshold(tmp_path, monkeypatch):
    """The in-memory reader below 64 MB, DuckDB above: forced here by lowering the threshold."""
    from shrinkvis import data

    frame = _two_groups_of_rows(5).astype({"y": object})
    frame.loc[[4, 50], "y"] = "NA"  # NA in y: dropped by both (DuckDB used to refuse the file)
    frame.loc[7, "g"] = "NA"  # a group NA: dropped by both (DuckDB used to make it a cluster)
    frame.to_csv(tmp_path / "rows.csv", index=False)
    small = _fit_json("--data", str(tmp_path / "rows.csv"))
    monkeypatch.setattr(data, "SUMMED_TABLE_BYTES", 0)
    assert data.summed_by_duckdb(tmp_path / "rows.csv")
    big = _fit_json("--data", str(tmp_path / "rows.csv"))
    assert big["n_obs"] == small["n_obs"] == 197
    assert big["n_groups"] == small["n_groups"] == 8
    assert big["fixed_effects"]["x"] == pytest.approx(small["fixed_effects"]["x"], rel=1e-9)
    assert big["residual_sd"] == pytest.approx(small["residual_sd"], rel=1e-9)


def test_more_files_than_the_bound_is_one_line(tmp_path, monkeypatch):
    from shrinkvis import reading

    monkeypatch.setattr(reading, "MAX_FILES", 3)
    for part in range(4):
        _two_groups_of_rows(part).to_csv(tmp_path / f"p{part}.csv", index=False)
    for path in (tmp_path, tmp_path / "*.csv"):
        with pytest.raises(DataError, match=r": more than 3 files; at most 3 are read \(join them first\)"):
            file_sums(path, y="y", x="x", group="g")
