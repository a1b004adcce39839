"""A real `shrinkvis run` in a subprocess, stopped by a real signal in the middle of rendering."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from shrinkvis import pipeline, scenario

STARTUP_LIMIT = 120  # seconds to wait for the render to begin on a busy machine; not a timing assert


def _shrinkvis(out: Path, *extra: str) -> subprocess.Popen:
    return subprocess.Popen(  # in its own process group, as a terminal starts a command
        [
            sys.executable,
            "-m",
            "shrinkvis",
            "run",
            "baseline",
            "--out",
            str(out),
            "--set",
            "data.n_cluster=10",
            *extra,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
        start_new_session=True,
    )


def _temporaries(folder: Path) -> list[Path]:
    return sorted(folder.glob(".*.part")) if folder.exists() else []


@pytest.fixture(scope="module")
def earlier_outputs(tmp_path_factory) -> dict[str, bytes]:
    out = tmp_path_factory.mktemp("earlier")
    loaded = scenario.load("baseline", ["data.n_cluster=10", "animation.frames=4"])
    pipeline.run(loaded, out)
    return {path.name: path.read_bytes() for path in (out / "baseline").iterdir()}


@pytest.mark.parametrize(("signum", "exit_code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
@pytest.mark.parametrize("to", ["command", "group"])
def test_a_signal_mid_render_keeps_earlier_outputs_and_leaves_no_partial_file(
    tmp_path, earlier_outputs, signum, exit_code, to
):
    """`command`: `kill PID` reaches the command alone (it stops its drawing process); `group`: Ctrl-C in
    a terminal reaches the command and its drawing process at once."""
    earlier = earlier_outputs
    folder = tmp_path / "baseline"
    folder.mkdir()
    for name, content in earlier.items():
        (folder / name).write_bytes(content)

    # 2000 frames take minutes to render: the signal surely arrives while GIF and MP4 are half-written
    running = _shrinkvis(tmp_path, "--set", "animation.frames=2000")
    deadline = time.monotonic() + STARTUP_LIMIT
    while not _temporaries(folder) and running.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    if not _temporaries(folder):
        running.kill()
        pytest.fail(f"the render never started writing: exit code {running.poll()}, {running.communicate()[1]}")
    time.sleep(0.3)  # well into the frames
    assert running.poll() is None, "the render finished before it could be interrupted"
    if to == "group":
        os.killpg(running.pid, signum)
    else:
        running.send_signal(signum)
    _, stderr = running.communicate(timeout=STARTUP_LIMIT)

    assert running.returncode == exit_code
    assert stderr.strip().splitlines() == [
        "shrinkvis: error: interrupted; files already written are complete, no partial file is left"
    ]
    assert _temporaries(folder) == []
    now = {path.name: path.read_bytes() for path in folder.iterdir()}
    assert sorted(now) == sorted(earlier)
    assert [name for name in now if now[name] != earlier[name]] == []
