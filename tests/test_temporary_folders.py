"""Nothing is left in $TMPDIR after any signal (issue 22 §3): DuckDB's spill folder and the link for a
Parquet file with glob characters in its name go however the command ends."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from shrinkvis import outputs
from shrinkvis.data import read_table


def _leftovers(folder: Path) -> list[str]:
    # matplotlib's settings folder (shrinkvis-UID) is made once on purpose where HOME cannot be written
    return sorted(
        path.name for path in folder.iterdir() if not path.name.startswith(f"shrinkvis-{os.getuid()}")
    )


def test_a_temporary_folder_goes_however_the_block_ends(tmp_path, monkeypatch):
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setattr("tempfile.tempdir", None)
    for stop in (KeyboardInterrupt(), ValueError("broken"), None):
        with (
            pytest.raises(type(stop)) if stop else _nothing(),
            outputs.temporary_folder("shrinkvis-x-") as folder,
        ):
            (folder / "spill.bin").write_bytes(b"x" * 1000)
            assert folder.parent == tmp_path
            if stop:
                raise stop
        assert not folder.exists()
    assert _leftovers(tmp_path) == []


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_a_parquet_name_with_glob_characters_is_read_as_it_is(tmp_path, monkeypatch):
    import duckdb

    monkeypatch.setenv("TMPDIR", str(tmp_path / "tmp"))
    monkeypatch.setattr("tempfile.tempdir", None)
    (tmp_path / "tmp").mkdir()
    path = tmp_path / "data[1].parquet"
    rows = pd.DataFrame({"y": [1.0, 2.0, 3.0], "g": ["a", "b", "c"]})
    duckdb.from_df(rows).write_parquet(str(path))
    (tmp_path / "data1.parquet").write_bytes(b"not the file asked for")  # what the glob would match
    pd.testing.assert_frame_equal(read_table(path).astype({"g": object}), rows.astype({"g": object}))
    assert _leftovers(tmp_path / "tmp") == []


def test_an_interrupted_fit_of_a_folder_leaves_nothing_in_tmpdir(tmp_path):
    """SIGTERM or Ctrl-C at spread moments of `fit --data FOLDER` (summed by DuckDB, which spills into a
    folder of its own): each run ends as interrupted or done, and $TMPDIR is empty after every one."""
    data = tmp_path / "events"
    data.mkdir()
    rng = np.random.default_rng(7)
    for part in range(2):
        n = 60_000
        group = rng.integers(0, 600, n)
        x = rng.normal(size=n)
        pd.DataFrame({"y": 1 + 0.5 * x + rng.normal(size=n) + group % 7, "x": x, "g": group}).to_csv(
            data / f"part{part}.csv", index=False
        )
    private = tmp_path / "tmp"
    private.mkdir()
    env = {**os.environ, "TMPDIR": str(private)}
    command = [
        sys.executable,
        "-m",
        "shrinkvis",
        "fit",
        "--data",
        str(data),
        "--y",
        "y",
        "--x",
        "x",
        "--group",
        "g",
    ]
    started = time.monotonic()
    subprocess.run(command, env=env, capture_output=True, check=True)
    whole = time.monotonic() - started
    codes = []
    for index, share in enumerate((0.35, 0.5, 0.6, 0.7, 0.8, 0.9)):
        process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        time.sleep(whole * share)
        process.send_signal(signal.SIGTERM if index % 2 else signal.SIGINT)
        _, stderr = process.communicate(timeout=120)
        codes.append(process.returncode)
        assert process.returncode in (0, 130, 143), stderr.decode()
        assert _leftovers(private) == [], f"left after a signal at {share:.0%} of the run: {stderr.decode()}"
    assert any(code in (130, 143) for code in codes), f"no run was interrupted: {codes}"
