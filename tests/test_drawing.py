"""The drawing process of `shrinkvis run`: the same files as one process, and every failure handled."""

from __future__ import annotations

import json
import os
import pickle
import signal
import time

import av
import numpy as np
import pytest

from shrinkvis import drawing, encode, pipeline, scenario
from shrinkvis.errors import Interrupted, OutputError, RenderError
from shrinkvis.report import size_plot as shrinkage_plot

from . import processes

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
    assert sorted(one[0]) == sorted(
        path.name for path in result.files.values() if path.name != "summary.json"
    )
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


def test_a_drawing_process_killed_for_not_stopping_in_time_leaves_no_temporary_file(tmp_path, monkeypatch):
    """Stopped by SIGTERM, a drawing process removes its temporary files; one that does not end within
    STOP_SECONDS (stuck, or given no CPU on an overloaded machine) is killed, and the command removes
    them for it."""

    def stuck(plot):  # in the drawing process, with its plot's temporary file open
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
        time.sleep(60)

    def failing_wait(self):  # here: the run fails while the drawing process writes
        processes.wait_for_path(lambda: list(folder.glob(".shrinkage_by_size.png.*.part")))
        raise OSError("disk full")

    folder = tmp_path / "baseline"
    monkeypatch.setattr(shrinkage_plot, "shrinkage_by_size", stuck)  # inherited by the fork
    monkeypatch.setattr(drawing.DrawingProcess, "wait", failing_wait)
    monkeypatch.setattr(drawing, "STOP_SECONDS", 0.5)
    loaded = scenario.load("baseline", SMALL)
    with pytest.raises(OutputError, match="disk full"), drawing.DrawingProcess() as process:
        pipeline.run(loaded, tmp_path, drawing=process)
    assert process.process.exitcode == -signal.SIGKILL  # it had to be killed
    assert not list(folder.glob(".*.part"))
    assert "shrinkage_by_size.png" not in {path.name for path in folder.iterdir()}


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


# --- the real command, with one of its processes stopped (SIGSTOP) for seconds ----------------------------

STALL_SECONDS = 3.0
RUN_FILES = {
    "estimates.csv",
    "report.md",
    "shrinkage.gif",
    "shrinkage.mp4",
    "shrinkage.png",
    "shrinkage.svg",
    "shrinkage_by_size.png",
    "shrinkage_start.png",
    "summary.json",
}


def _moment_reached(folder, moment):
    if moment == "start":  # the drawing process is still loading matplotlib, the command fitting
        return lambda: True
    if moment == "frames":  # frames are being handed over and encoded
        return lambda: list(folder.glob(".shrinkage.gif.*.part"))
    return lambda: list(folder.glob(".shrinkage*.png.*.part")) or list(folder.glob(".shrinkage.svg.*.part"))


@processes.needs_proc
@pytest.mark.parametrize("stopped", ["command", "drawing"])
@pytest.mark.parametrize("moment", ["start", "frames", "stills"])
def test_a_process_stopped_for_seconds_at_any_moment_does_not_fail_the_run(tmp_path, stopped, moment):
    """Stopping the command while the drawing process goes on lets the drawing process finish first;
    stopping the drawing process makes the command wait: both orders of finishing."""
    running = processes.shrinkvis("run", "baseline", "--out", str(tmp_path), "--set", "data.n_cluster=10")
    drawing_pid = processes.drawing_process(running)
    processes.wait_for(_moment_reached(tmp_path / "baseline", moment), running, f"the {moment} of the run")
    _stall(running.pid if stopped == "command" else drawing_pid)
    _assert_complete(running, tmp_path / "baseline")


@processes.needs_proc
def test_the_command_stopped_while_every_slot_is_taken_lets_the_drawing_process_wait(tmp_path):
    """300 frames of 600×450 need more slots than the shared memory holds: the drawing process waits
    for slots to be freed (and checks that its parent is alive) while the command is stopped."""
    running = processes.shrinkvis(
        "run",
        "baseline",
        "--out",
        str(tmp_path),
        "--set",
        "data.n_cluster=10",
        "--set",
        "animation.frames=300",
        "--format",
        "mp4",
    )
    processes.wait_for(lambda: list((tmp_path / "baseline").glob(".shrinkage.mp4.*.part")), running, "frames")
    _stall(running.pid)
    _assert_complete(running, tmp_path / "baseline", {"shrinkage.mp4", "estimates.csv", "summary.json"})


def _stall(pid):
    os.kill(pid, signal.SIGSTOP)
    time.sleep(STALL_SECONDS)
    os.kill(pid, signal.SIGCONT)


def _assert_complete(running, folder, expected=RUN_FILES):
    _, stderr = processes.finish(running)
    assert running.returncode == 0, stderr
    assert "error" not in stderr
    names = {path.name for path in folder.iterdir()}
    assert expected <= names and not processes.temporaries(folder)
    with av.open(str(folder / "shrinkage.mp4")) as container:
        assert (
            container.streams.video[0].frames
            == json.loads((folder / "summary.json").read_text())["scenario"]["animation"]["frames"]
        )
    assert processes.no_process_left(running.pid) == []


@processes.needs_proc
def test_a_killed_drawing_process_is_one_line_render_error(tmp_path):
    running = processes.shrinkvis("run", "baseline", "--out", str(tmp_path), "--set", "data.n_cluster=10")
    os.kill(processes.drawing_process(running), signal.SIGKILL)
    _, stderr = processes.finish(running)
    assert running.returncode == 1
    assert stderr.splitlines() == [
        "shrinkvis: error: the drawing process ended unexpectedly (killed by SIGKILL)"
    ]
    assert not processes.temporaries(tmp_path / "baseline")


def test_more_frames_than_slots_give_the_same_files(tmp_path, monkeypatch):
    """Three slots for 10 frames and 9 palette samples: every slot is drawn into again and again."""
    loaded = scenario.load("baseline", SMALL)
    pipeline.run(loaded, tmp_path / "one")
    width, height = 600, 450
    monkeypatch.setattr(drawing, "SHARED_BYTES", 3 * width * height * 4)  # before the fork: both sides see it
    with drawing.DrawingProcess() as process:
        pipeline.run(loaded, tmp_path / "two", drawing=process)
    assert _contents(tmp_path / "one" / "baseline") == _contents(tmp_path / "two" / "baseline")
