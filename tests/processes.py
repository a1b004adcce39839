"""Running the real `shrinkvis` command in a subprocess and watching its processes, for the tests that
stop, continue and kill them (test_drawing, test_interrupt). Linux: reads /proc."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

WAIT_LIMIT = 120  # seconds to wait for a moment of a run on a busy machine; not a timing assert
LONGEST_STEP = 1.0  # seconds one step of a wait counts for at most (see `waiting`)

needs_proc = pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="reads /proc (Linux)")


def shrinkvis(*args: str, **popen: object) -> subprocess.Popen:
    """The command in its own process group and session, as a terminal starts it."""
    return subprocess.Popen(
        [sys.executable, "-m", "shrinkvis", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
        start_new_session=True,
        **popen,  # type: ignore[arg-type]
    )


def children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with contextlib.suppress(OSError):  # the thread or process ended meanwhile
            found += [int(child) for child in (task / "children").read_text().split()]
    return found


def session_processes(session: int) -> list[int]:
    """Every live process of a session (the command's, started with start_new_session), zombies aside."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        state, sid = fields[0], int(fields[3])
        if sid == session and state != "Z":
            found.append(int(stat.parent.name))
    return found


def waiting(
    limit: float = WAIT_LIMIT,
    step: float = 0.05,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> Iterator[None]:
    """Steps of a wait (each one sleeps `step` seconds after the caller's check) until `limit` seconds were
    spent waiting. A step counts for at most LONGEST_STEP seconds: when the whole machine is paused (a
    virtual machine's snapshot, a laptop asleep) the clock jumps, but neither the run nor this wait had
    any time, and it must not count as the run having taken that long. A run that is really stuck still
    uses up `limit` seconds of waiting."""
    waited = 0.0
    while waited < limit:
        started = clock()
        yield
        sleep(step)
        waited += min(clock() - started, LONGEST_STEP)


def finish(running: subprocess.Popen, limit: float = WAIT_LIMIT) -> tuple[str, str]:
    """`running.communicate()` (its stdout and stderr) with a time limit counted as in `waiting`."""
    for _ in waiting(limit, step=0.0):
        with contextlib.suppress(subprocess.TimeoutExpired):
            return running.communicate(timeout=0.2)
    pytest.fail(f"the run did not end: {stacks_then_kill(running)}")


def wait_for(
    condition: Callable[[], object], running: subprocess.Popen, what: str, step: float = 0.005
) -> object:
    for _ in waiting(step=step):
        value = condition()
        if value:
            return value
        if running.poll() is not None:
            break
        time.sleep(step)
    pytest.fail(f"never saw {what}: {stacks_then_kill(running)}")


def stacks_then_kill(running: subprocess.Popen) -> str:
    """Kill a run that did not get where it should, after it printed (SIGUSR1) where every thread of each
    of its processes was; return its exit code and stderr with those stacks, for the failure message."""
    states = ""
    if running.poll() is None:
        states = process_states(running.pid)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(running.pid, signal.SIGUSR1)
        time.sleep(1.0)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(running.pid, signal.SIGKILL)
    _, stderr = running.communicate()
    return f"exit code {running.returncode}, {states}stderr:\n{stderr}"


def process_states(session: int) -> str:
    """Each process of the session as the kernel sees it: state (R running, S sleeping, D in the kernel,
    T stopped), where it sleeps (wchan) and its CPU ticks so far; for telling stuck from starved."""
    lines = []
    for pid in session_processes(session):
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            wchan = Path(f"/proc/{pid}/wchan").read_text() or "-"
            lines.append(
                f"pid {pid}: state {fields[0]}, wchan {wchan}, utime {fields[11]}, stime {fields[12]}"
            )
    return "processes: " + "; ".join(lines) + "\n"


def drawing_process(running: subprocess.Popen) -> int:
    return int(wait_for(lambda: children(running.pid)[:1], running, "the drawing process")[0])  # type: ignore[index]


def temporaries(folder: Path) -> list[Path]:
    return sorted(folder.glob(".*.part")) if folder.exists() else []


def no_process_left(session: int, limit: float = 10.0) -> list[int]:
    """The processes of the session still alive after `limit` seconds (none expected)."""
    for _ in waiting(limit):
        if not session_processes(session):
            return []
    return session_processes(session)


def handles_signals(running: subprocess.Popen) -> None:
    """Until the command has installed its signal handlers (it catches SIGTERM): the first thing it
    does. Before that, in the interpreter's own start-up, a signal has Python's default effect."""

    def catches_sigterm() -> bool:
        try:
            status = Path(f"/proc/{running.pid}/status").read_text()
        except OSError:
            return False
        caught = int(next(line for line in status.splitlines() if line.startswith("SigCgt:")).split()[1], 16)
        return bool(caught & (1 << (signal.SIGTERM - 1)))

    wait_for(catches_sigterm, running, "the signal handlers", step=0.001)
