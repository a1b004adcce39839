"""Running the real `shrinkvis` command in a subprocess and watching its processes, for the tests that
stop, continue and kill them (test_drawing, test_interrupt). Linux: reads /proc."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

WAIT_LIMIT = 120  # seconds to wait for a moment of a run on a busy machine; not a timing assert

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


def wait_for(
    condition: Callable[[], object], running: subprocess.Popen, what: str, step: float = 0.005
) -> object:
    deadline = time.monotonic() + WAIT_LIMIT
    while time.monotonic() < deadline:
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
    if running.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(running.pid, signal.SIGUSR1)
        time.sleep(1.0)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(running.pid, signal.SIGKILL)
    _, stderr = running.communicate()
    return f"exit code {running.returncode}, stderr:\n{stderr}"


def drawing_process(running: subprocess.Popen) -> int:
    return int(wait_for(lambda: children(running.pid)[:1], running, "the drawing process")[0])  # type: ignore[index]


def temporaries(folder: Path) -> list[Path]:
    return sorted(folder.glob(".*.part")) if folder.exists() else []


def no_process_left(session: int, limit: float = 10.0) -> list[int]:
    """The processes of the session still alive after `limit` seconds (none expected)."""
    deadline = time.monotonic() + limit
    while (left := session_processes(session)) and time.monotonic() < deadline:
        time.sleep(0.05)
    return left


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
