"""A run summing a folder through DuckDB, stopped by a signal at any moment, leaves nothing in $TMPDIR
(its spill folder `shrinkvis-duckdb-<pid>-…`); a run killed outright has its folder removed by the next."""

from __future__ import annotations

import os
import signal
import time

import numpy as np
import pandas as pd
import pytest

from .processes import finish, handles_signals, needs_proc, shrinkvis, wait_for

pytestmark = needs_proc


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    data = tmp_path_factory.mktemp("events")
    rng = np.random.default_rng(0)
    for part in range(2):
        rows = 300_000
        g = rng.integers(0, 500, rows)
        x = rng.normal(size=rows).round(4)
        pd.DataFrame({"y": (g % 7 + 2 * x + rng.normal(size=rows)).round(4), "x": x, "g": g}).to_csv(
            data / f"part{part}.csv", index=False
        )
    return data


def _start(folder, out):
    args = ["run", "--data", str(folder), "--y", "y", "--x", "x", "--group", "g", "--out", str(out)]
    return shrinkvis(*args, "--format", "png", "--set", "animation.frames=2")


def _spill(tmp):
    return sorted(tmp.glob("shrinkvis-duckdb-*"))


@pytest.mark.parametrize(
    ("signum", "delay"),
    [(signal.SIGTERM, 0.0), (signal.SIGINT, 0.05), (signal.SIGHUP, 0.2), (signal.SIGTERM, 0.5)],
)
def test_a_signal_while_duckdb_sums_leaves_nothing(folder, tmp_path, monkeypatch, signum, delay):
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    monkeypatch.setenv("TMPDIR", str(tmp))
    running = _start(folder, tmp_path / "out")
    handles_signals(running)
    wait_for(lambda: _spill(tmp), running, "DuckDB's spill folder", step=0.002)
    time.sleep(delay)
    os.killpg(running.pid, signum)
    out, err = finish(running)
    assert running.returncode in (0, 128 + signum, 130), err
    assert _spill(tmp) == [], (running.returncode, err)


def test_a_killed_run_leaves_its_folder_to_the_next(folder, tmp_path, monkeypatch):
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    monkeypatch.setenv("TMPDIR", str(tmp))
    running = _start(folder, tmp_path / "out")
    wait_for(lambda: _spill(tmp), running, "DuckDB's spill folder", step=0.002)
    os.killpg(running.pid, signal.SIGKILL)
    finish(running)
    assert len(_spill(tmp)) == 1  # nothing runs after SIGKILL
    again = _start(folder, tmp_path / "out2")
    out, err = finish(again)
    assert again.returncode == 0, err
    assert _spill(tmp) == []
