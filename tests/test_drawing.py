"""The drawing process of `shrinkvis run`: the same files as one process, and every failure handled."""

from __future__ import annotations

import json
import pickle
import signal

import numpy as np
import pytest

from shrinkvis import drawing, encode, pipeline, scenario
from shrinkvis.errors import Interrupted, OutputError, RenderError

SMALL = ["data.n_cluster=12", "animation.frames=10"]


def _contents(folder):
    files = {path.name: path.read_bytes() for path in folder.iterdir()}
    summary = json.loads(files.pop("summary.json"))
    summary.pop("timings")  # seconds differ from run to run; everything else must not
    return files, summary


@pytest.mark.parametrize("view", ["shrinkage", "stages", "lines", "funnel", "caterpillar"])
def test_two_processes_write_the_same_files_as_one(tmp_path, view):
    loaded = scenario.load("baseline", [*SMALL, f"animation.view={view}"])
    pipeline.run(loaded, tmp_path / "one")
    with drawing.DrawingProcess() as process:
        result = pipeline.run(loaded, tmp_path / "two", drawing=process)
    assert not process.process.is_alive() and process.process.exitcode == 0
    one, two = _contents(tmp_path / "one" / "baseline"), _contents(tmp_path / "two" / "baseline")
    assert sorted(one[0]) == sorted(path.name for path in result.files.values() if path.name != "summary.json")
    assert {f"{view}.gif", f"{view}.mp4", f"{view}.png", f"{view}_start.png", f"{view}.svg"} <= set(one[0])
    assert one == two


def test_without_videos_no_frame_is_handed_over(tmp_path):
    loaded = scenario.load("baseline", [*SMALL, "animation.formats=png,svg"])
    with drawing.DrawingProcess() as process:
        pipeline.run(loaded, tmp_path, drawing=process)
    names = sorted(path.name for path in (tmp_path / "baseline").iterdir())
    assert names == [
        "estimates.csv",
        "report.md",
        "shrinkage.png",
        "shrinkage.svg",
        "shrinkage_by_size.png",
        "shrinkage_start.png",
        "summary.json",
    ]


def test_a_failing_encoder_here_stops_the_drawing_process_and_leaves_no_video(tmp_path, monkeypatch):
    def broken_add(self, frame: np.ndarray) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(encode.Mp4Writer, "add", broken_add)
    loaded = scenario.load("baseline", SMALL)
    with pytest.raises(OutputError, match="disk full"), drawing.DrawingProcess() as process:
        pipeline.run(loaded, tmp_path, drawing=process)
    assert not process.process.is_alive()
    folder = tmp_path / "baseline"
    assert not list(folder.glob(".*.part"))  # no temporary file of either process
    assert not {"shrinkage.gif", "shrinkage.mp4"} & {path.name for path in folder.iterdir()}


def test_a_drawing_process_that_dies_is_a_render_error(tmp_path, monkeypatch):
    def die(*args, **kwargs):
        import os

        os._exit(3)  # no message, no cleanup: as if killed

    monkeypatch.setattr(drawing, "_draw", die)  # inherited by the fork
    loaded = scenario.load("baseline", SMALL)
    with (
        pytest.raises(RenderError, match=r"the drawing process ended unexpectedly \(exit code 3\)"),
        drawing.DrawingProcess() as process,
    ):
        pipeline.run(loaded, tmp_path, drawing=process)


def test_a_run_that_fails_before_drawing_stops_the_idle_drawing_process(tmp_path):
    with pytest.raises(ZeroDivisionError), drawing.DrawingProcess() as process:
        raise ZeroDivisionError  # e.g. a scenario that does not validate, before any job was sent
    assert not process.process.is_alive()


def test_the_signal_exceptions_survive_the_trip_between_processes():
    back = pickle.loads(pickle.dumps(Interrupted(signal.SIGTERM)))
    assert isinstance(back, Interrupted) and back.signum == signal.SIGTERM and back.exit_code == 143
    plain = RuntimeError("plain")
    assert drawing._transportable(plain) is plain
    unpicklable = drawing._transportable(_Unpicklable("no way back"))
    assert str(unpicklable) == "unexpected _Unpicklable: no way back"


class _Unpicklable(Exception):
    def __reduce__(self):
        raise TypeError("cannot pickle")


def test_an_error_in_the_drawing_process_comes_back_with_its_traceback_for_debug(tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        raise ValueError("no ink")

    monkeypatch.setattr(drawing, "_draw", broken)
    loaded = scenario.load("baseline", SMALL)
    with pytest.raises(ValueError, match="no ink") as raised, drawing.DrawingProcess() as process:
        pipeline.run(loaded, tmp_path, drawing=process)
    assert 'in broken\n    raise ValueError("no ink")' in raised.value.drawing_traceback
