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


WALL_LIMIT_TIMES = 5  # a wait ends after this many times its limit by the clock, whatever was counted
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")  # the unit of the CPU times in /proc/PID/stat
SAMPLE_EVERY = 0.1  # seconds between two readings of a run's CPU time and states during a wait


def session_usage(session: int) -> tuple[float, bool]:
    """The CPU seconds the live processes of a session have had so far, and whether any of them is
    runnable (state R: running, or ready and waiting for a CPU)."""
    cpu, runnable = 0.0, False
    for pid in session_processes(session):
        with contextlib.suppress(OSError, IndexError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            cpu += (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
            runnable = runnable or fields[0] == "R"
    return cpu, runnable


def waiting(
    limit: float = WAIT_LIMIT,
    step: float = 0.05,
    session: int | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    usage: Callable[[int], tuple[float, bool]] = session_usage,
) -> Iterator[None]:
    """Steps of a wait (each one sleeps `step` seconds after the caller's check) until `limit` seconds
    were spent waiting, or WALL_LIMIT_TIMES × `limit` by the clock (pauses aside). What counts as time
    spent waiting is time the run could use:

    - A step counts for at most LONGEST_STEP seconds. When the whole machine is paused (a virtual
      machine's snapshot, a laptop asleep) the clock jumps, but neither the run nor this wait had any time.
    - With `session` (the run's), while a process of the run is runnable, a step counts only for the CPU
      time the run got during it. A run that is ready to go on but gets no CPU (the host takes the virtual
      machine's CPUs away: "steal"; seen in CI: both processes of a run in state R with 1.4 s of CPU
      between them after 120 s) is starved, not stuck. While no process of the run is runnable (all wait
      for something), the whole step counts: that is how a deadlock looks.

    A run that is really stuck still uses up `limit`: asleep, by the clock; spinning, by its CPU time."""
    waited = spent = unsampled = 0.0
    before = usage(session)[0] if session is not None else 0.0
    while waited < limit and spent < WALL_LIMIT_TIMES * limit:
        started = clock()
        yield
        sleep(step)
        elapsed = min(clock() - started, LONGEST_STEP)
        spent += elapsed
        if session is None:
            waited += elapsed
            continue
        unsampled += elapsed
        if unsampled >= SAMPLE_EVERY:  # reading /proc takes milliseconds: not at every short step
            cpu, runnable = usage(session)
            waited += min(unsampled, max(cpu - before, 0.0)) if runnable else unsampled
            before, unsampled = cpu, 0.0


def finish(running: subprocess.Popen, limit: float = WAIT_LIMIT) -> tuple[str, str]:
    """`running.communicate()` (its stdout and stderr) with a time limit counted as in `waiting`."""
    for _ in waiting(limit, step=0.0, session=running.pid):
        with contextlib.suppress(subprocess.TimeoutExpired):
            return running.communicate(timeout=0.2)
    pytest.fail(f"the run did not end: {stacks_then_kill(running)}")


def wait_for(
    condition: Callable[[], object], running: subprocess.Popen, what: str, step: float = 0.005
) -> object:
    for _ in waiting(step=step, session=running.pid):
        value = condition()
        if value:
            return value
        if running.poll() is not None:
            break
        time.sleep(step)
    pytest.fail(f"never saw {what}: {stacks_then_kill(running)}")


def wait_for_path(found: Callable[[], object], limit: float = WAIT_LIMIT) -> object:
    """What `found` returns once it is something, polled as in `waiting` (for a run in this process)."""
    for _ in waiting(limit):
        value = found()
        if value:
            return value
    pytest.fail("never saw it")


def stacks_then_kill(running: subprocess.Popen) -> str:
    """Kill a run that did not get where it should, after it printed (SIGUSR1) where every thread of each
    of its processes was; return its exit code, its processes' kernel states, what the machine did
    meanwhile, and its stderr with those stacks, for the failure message."""
    states = ""
    if running.poll() is None:
        states = process_states(running.pid)
        machine = _machine_snapshot()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(running.pid, signal.SIGUSR1)
        time.sleep(1.0)
        states += machine_activity(machine, _machine_snapshot())
        with contextlib.suppress(ProcessLookupError):
            os.killpg(running.pid, signal.SIGKILL)
    _, stderr = running.communicate()
    return f"exit code {running.returncode}, {states}stderr:\n{stderr}"


def _machine_snapshot() -> tuple[list[int], dict[int, tuple[str, int]]]:
    """The machine's CPU time counters (/proc/stat: user nice system idle iowait irq softirq steal) and
    each process's name and CPU ticks."""
    counters = [int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    ticks = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError, ValueError):
            text = stat.read_text()
            fields = text.rsplit(")", 1)[1].split()
            ticks[int(stat.parent.name)] = (
                text.split("(", 1)[1].rsplit(")", 1)[0],
                int(fields[11]) + int(fields[12]),
            )
    return counters, ticks


def machine_activity(
    before: tuple[list[int], dict[int, tuple[str, int]]], after: tuple[list[int], dict[int, tuple[str, int]]]
) -> str:
    """Where the machine's CPU time went between two snapshots: the shares of user, system, idle, iowait
    and steal (taken by the host from a virtual machine), the load average, and the busiest processes."""
    delta = [late - early for early, late in zip(before[0], after[0], strict=True)]
    total = sum(delta) or 1
    user, nice, system, idle, iowait, irq, softirq, steal = delta
    shares = (
        f"user {100 * (user + nice) / total:.0f}%, system {100 * (system + irq + softirq) / total:.0f}%, "
        f"idle {100 * idle / total:.0f}%, iowait {100 * iowait / total:.0f}%, steal {100 * steal / total:.0f}%"
    )
    busiest = sorted(
        (
            (ticks - before[1][pid][1], name, pid)
            for pid, (name, ticks) in after[1].items()
            if pid in before[1]
        ),
        reverse=True,
    )[:3]
    top = ", ".join(f"{name} ({pid}) {used} ticks" for used, name, pid in busiest)
    load = Path("/proc/loadavg").read_text().split()[:3]
    return f"machine over 1 s: {shares}; load {' '.join(load)}; busiest: {top}\n"


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
    for _ in waiting(limit, session=session):
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
