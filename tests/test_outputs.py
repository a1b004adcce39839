"""Atomic outputs: a file is complete or absent, whatever stops the run, and nothing temporary stays."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import time
from pathlib import Path

import pytest

import shrinkvis
from shrinkvis import outputs, pipeline, scenario
from shrinkvis.errors import Interrupted, OutputError


def _leftovers(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.rglob("*") if path.name.startswith("."))


def test_atomic_path_renames_into_place_with_the_usual_permissions(tmp_path):
    target = tmp_path / "deep" / "file.txt"
    previous = os.umask(0o022)
    try:
        outputs.write_text(target, "done\n")
    finally:
        os.umask(previous)
    assert target.read_text() == "done\n"
    assert target.stat().st_mode & 0o777 == 0o644
    assert _leftovers(tmp_path) == []


@pytest.mark.parametrize("stop", [ValueError("broken"), KeyboardInterrupt(), Interrupted(signal.SIGTERM)])
def test_a_stopped_write_leaves_the_earlier_file_and_no_temporary(tmp_path, stop):
    target = tmp_path / "shrinkage.gif"
    target.write_bytes(b"earlier, complete")
    with pytest.raises(type(stop)), outputs.atomic_path(target) as temporary:
        temporary.write_bytes(b"half of a new fi")
        raise stop
    assert target.read_bytes() == b"earlier, complete"
    assert _leftovers(tmp_path) == []


def test_an_unwritable_target_is_an_output_error(tmp_path):
    blocker = tmp_path / "out"
    blocker.write_text("a file where the folder should be")
    with pytest.raises(OutputError, match=r"cannot create the folder .*out/baseline: "):
        outputs.write_text(blocker / "baseline" / "summary.json", "{}")


def test_sigterm_raises_inside_the_block_and_later_signals_wait_for_the_cleanup():
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(Interrupted) as stopped, outputs.interrupts_raise():
        os.kill(os.getpid(), signal.SIGTERM)
        signal.pthread_sigmask(signal.SIG_BLOCK, [])  # a bytecode boundary for the handler to run at
    assert stopped.value.signum == signal.SIGTERM and stopped.value.exit_code == 143
    assert signal.getsignal(signal.SIGTERM) is before


def test_sigint_raises_keyboard_interrupt_inside_the_block():
    with pytest.raises(KeyboardInterrupt) as stopped, outputs.interrupts_raise():
        os.kill(os.getpid(), signal.SIGINT)
        signal.pthread_sigmask(signal.SIG_BLOCK, [])
    assert not isinstance(stopped.value, Interrupted)


# ---------------------------------------------------------------------------------------------------------
# An interrupt at any line of the code that writes files


SMALL = ["data.n_cluster=6", "animation.frames=4", "animation.width=200", "animation.height=150"]
WATCHED = {str(Path(shrinkvis.__file__).parent / name) for name in ("outputs.py", "pipeline.py", "encode.py")}


class InterruptAtLine:
    """A trace function that raises KeyboardInterrupt at the n-th line run in the file-writing modules."""

    def __init__(self, at: int | None) -> None:
        self.at = at
        self.lines = 0

    def __call__(self, frame, event, arg):
        if frame.f_code.co_filename not in WATCHED:
            return None
        return self.line

    def line(self, frame, event, arg):
        if event == "line":
            self.lines += 1
            if self.lines == self.at:
                raise KeyboardInterrupt
        return self.line


def _run_traced(loaded, out: Path, tracer: InterruptAtLine) -> bool:
    sys.settrace(tracer)
    try:
        pipeline.run(loaded, out)
    except KeyboardInterrupt:
        return True
    finally:
        sys.settrace(None)
    return False


def test_an_interrupt_at_any_line_leaves_only_complete_files(tmp_path, monkeypatch):
    earlier = scenario.load("baseline", [*SMALL, "data.seed=1"])
    later = scenario.load("baseline", [*SMALL, "data.seed=2"])
    fitted = pipeline.fit(pipeline.simulate_scenario(later), later.model)
    # the earlier run's files, and the later run's files as they are when complete
    pipeline.run(earlier, tmp_path / "earlier")
    monkeypatch.setattr(
        pipeline, "fit", lambda data, model, **_: fitted
    )  # the fit is not what is tested here
    pipeline.run(later, tmp_path / "later")
    folder = "baseline"
    old = {p.name: p.read_bytes() for p in (tmp_path / "earlier" / folder).iterdir()}
    new = {p.name: p.read_bytes() for p in (tmp_path / "later" / folder).iterdir()}
    assert set(old) == set(new) and len(old) == 9

    counter = InterruptAtLine(None)
    (tmp_path / "count" / folder).mkdir(parents=True)  # as for the runs below: the lock makes no folder
    assert not _run_traced(later, tmp_path / "count", counter)
    total = counter.lines
    assert total > 50
    # the first and last lines and points between them; each run renders, so a sample, not every line
    for at in (1, total // 3, 2 * total // 3, total - 1, total):
        out = tmp_path / f"at{at}"
        (out / folder).mkdir(parents=True)
        for name, content in old.items():
            (out / folder / name).write_bytes(content)
        assert _run_traced(later, out, InterruptAtLine(at)), at
        assert _leftovers(out) == [], at
        for name in old:
            content = _comparable(name, (out / folder / name).read_bytes())
            assert content in (_comparable(name, old[name]), _comparable(name, new[name])), (at, name)


def _comparable(name: str, content: bytes):
    """summary.json's timings differ between runs by design; every other byte must match."""
    if name != "summary.json":
        return content
    summary = json.loads(content)
    summary.pop("timings")
    return summary


def test_a_signal_within_signals_deferred_waits_for_the_end_of_the_block():
    reached = []
    with pytest.raises(Interrupted), outputs.interrupts_raise():
        with outputs.signals_deferred():
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(0.05)  # a signal that was not held back would have raised by now
            reached.append("the whole block ran")
        time.sleep(1)  # …and here it arrives
    assert reached == ["the whole block ran"]


def test_enter_safely_registers_what_it_enters(tmp_path):
    with contextlib.ExitStack() as stack:
        temporary = outputs.enter_safely(stack, outputs.atomic_path(tmp_path / "a.txt"))
        temporary.write_text("done")
    assert (tmp_path / "a.txt").read_text() == "done" and not temporary.exists()


def test_an_interrupt_raised_where_python_can_only_print_it_is_not_printed(capsys, monkeypatch):
    """A signal that lands in a weakref callback (matplotlib's transforms have them) is "ignored" by Python
    with a traceback on stderr; ours are remembered and end the command with its one line instead."""
    import gc
    import types
    import weakref

    class Thing:
        pass

    def interrupted_callback(_ref: object) -> None:
        os.kill(os.getpid(), signal.SIGHUP)
        for _ in range(10_000):  # the handler raises here, inside the callback
            pass

    with outputs.interrupts_raise():
        thing = Thing()
        ref = weakref.ref(thing, interrupted_callback)
        del thing
        gc.collect()
        assert outputs.received_signal() == signal.SIGHUP
        with pytest.raises(Interrupted):
            outputs.raise_if_interrupted()
        # anything else still goes to the hook that was there before
        seen = []
        monkeypatch.setattr(outputs._unraisable, "previous", seen.append, raising=False)
        other = types.SimpleNamespace(exc_value=ValueError("not ours"))
        sys.unraisablehook(other)
        assert seen == [other]
    assert ref() is None
    assert "Exception ignored" not in capsys.readouterr().err


def _ended_pid() -> int:
    """The pid of a process that has exited and been reaped."""
    ended = __import__("subprocess").Popen([sys.executable, "-c", "pass"])
    ended.wait()
    return ended.pid


def test_only_the_temporary_files_of_processes_that_are_gone_are_removed(tmp_path):
    """A write killed by SIGKILL leaves its temporary file; its name says whose it was."""
    with outputs.atomic_path(tmp_path / "mine.gif") as temporary:
        assert f".mine.gif.{os.getpid()}-" in temporary.name
        orphan = tmp_path / f".old.gif.{_ended_pid()}-0123456789ab.part"
        of_parent = tmp_path / f".other.gif.{os.getppid()}-0123456789ab.part"  # alive: being written
        not_ours = tmp_path / ".notes.part"  # not a name shrinkvis gives: left alone
        for path in (orphan, of_parent, not_ours):
            path.write_bytes(b"x")
        assert outputs.remove_orphaned_temporaries(tmp_path) == [orphan]
        assert temporary.exists() and of_parent.exists() and not_ours.exists()
        temporary.write_bytes(b"gif")
    assert (tmp_path / "mine.gif").read_bytes() == b"gif"


def test_a_zombie_is_gone(tmp_path):
    """A killed process that was not reaped yet (its parent killed too) is no writer any more."""
    zombie = __import__("subprocess").Popen([sys.executable, "-c", "pass"])
    for _ in range(2000):  # until it has exited; not reaped while nobody waits for it
        if Path(f"/proc/{zombie.pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
            break
        time.sleep(0.01)
    orphan = tmp_path / f".a.gif.{zombie.pid}-0123456789ab.part"
    orphan.write_bytes(b"x")
    try:
        assert outputs.remove_orphaned_temporaries(tmp_path) == [orphan]
    finally:
        zombie.wait()


def test_the_next_run_into_a_folder_removes_what_a_killed_run_left(tmp_path):
    orphan = tmp_path / f".shrinkage.gif.{_ended_pid()}-0123456789ab.part"
    orphan.write_bytes(b"half a gif")
    with outputs.folder_lock(tmp_path):
        assert not orphan.exists()


_KILLED_WORKER = """
import os, sys, time
from pathlib import Path
from shrinkvis import outputs

folder = Path(sys.argv[1])
with outputs.folder_lock(folder):
    (folder / f".shrinkage.gif.{os.getpid()}-0123456789ab.part").write_text("half a gif")
    print("locked", flush=True)
    time.sleep(1.0)
    os._exit(9)  # as if killed: no cleanup, the lock goes with the process
"""


def test_a_batch_removes_what_its_killed_workers_left_once_their_lock_is_free(tmp_path):
    """batch: a worker killed after STOP_SECONDS held its folder's lock (with its drawing process, which
    dies with it a moment later); the batch waits for the lock, which removes their files."""
    import subprocess

    from shrinkvis import batch

    loaded = scenario.load("baseline")
    folder = tmp_path / pipeline.output_folder_name(loaded.name)
    holder = subprocess.Popen(
        [sys.executable, "-c", _KILLED_WORKER, str(folder)], stdout=subprocess.PIPE, text=True
    )
    assert holder.stdout.readline() == "locked\n"
    assert list(folder.glob(".*.part"))
    batch._remove_what_killed_workers_left(str(tmp_path), [loaded])
    holder.communicate()
    assert not list(folder.glob(".*.part"))
