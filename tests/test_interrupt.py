"""The real `shrinkvis run` and `batch` in a subprocess, stopped by real signals at many moments."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from shrinkvis import pipeline, scenario

from . import processes

STARTUP_LIMIT = processes.WAIT_LIMIT


def _shrinkvis(out: Path, *extra: str) -> subprocess.Popen:
    return processes.shrinkvis("run", "baseline", "--out", str(out), "--set", "data.n_cluster=10", *extra)


_temporaries = processes.temporaries


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
    for _ in processes.waiting(STARTUP_LIMIT, session=running.pid):
        if _temporaries(folder) or running.poll() is not None:
            break
    if not _temporaries(folder):
        pytest.fail(f"the render never started writing: {processes.stacks_then_kill(running)}")
    time.sleep(0.3)  # well into the frames
    assert running.poll() is None, "the render finished before it could be interrupted"
    if to == "group":
        os.killpg(running.pid, signum)
    else:
        running.send_signal(signum)
    _, stderr = processes.finish(running)

    assert running.returncode == exit_code
    assert stderr.strip().splitlines() == [
        "shrinkvis: error: interrupted; files already written are complete, no partial file is left"
    ]
    assert _temporaries(folder) == []
    now = {path.name: path.read_bytes() for path in folder.iterdir()}
    assert sorted(now) == sorted(earlier)
    assert [name for name in now if now[name] != earlier[name]] == []


# --- a spread of moments, real signals, and what must never be left behind ---------------------------------

ONE_LINE = ["shrinkvis: error: interrupted; files already written are complete, no partial file is left"]


def _assert_stopped_cleanly(running, signum, out):
    """Exit code 128 + N and one line, or 0 when the command had already finished. No process of its
    session is left, and no temporary file."""
    _, stderr = processes.finish(running)
    if running.returncode != 0:
        assert running.returncode == 128 + signum, stderr
        assert stderr.splitlines() == ONE_LINE
    assert processes.no_process_left(running.pid) == []
    assert list(out.rglob(".*.part")) == []


RUN_MOMENTS = [  # (seconds after the handlers are installed, signal, to the whole group as Ctrl-C does)
    (0.0, signal.SIGINT, True),
    (0.15, signal.SIGTERM, False),
    (0.25, signal.SIGHUP, False),
    (0.35, signal.SIGINT, False),
    (0.6, signal.SIGTERM, True),
    (1.0, signal.SIGINT, True),
    (1.5, signal.SIGTERM, False),
    (2.2, signal.SIGHUP, True),
]


@processes.needs_proc
@pytest.mark.parametrize(("delay", "signum", "group"), RUN_MOMENTS)
def test_a_signal_at_any_moment_of_run_stops_it_cleanly(tmp_path, delay, signum, group):
    running = processes.shrinkvis("run", "baseline", "--out", str(tmp_path), "--set", "data.n_cluster=10")
    processes.handles_signals(running)
    time.sleep(delay)
    (os.killpg if group else os.kill)(running.pid, signum)
    _assert_stopped_cleanly(running, signum, tmp_path)


@processes.needs_proc
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_right_after_the_fork_stops_both_processes(tmp_path, signum):
    running = processes.shrinkvis("run", "baseline", "--out", str(tmp_path))
    processes.drawing_process(running)
    running.send_signal(signum)
    _, stderr = processes.finish(running)
    assert (running.returncode, stderr.splitlines()) == (128 + signum, ONE_LINE)
    assert processes.no_process_left(running.pid) == []


@processes.needs_proc
@pytest.mark.parametrize("moment", ["loading", "frames"])
def test_a_killed_command_takes_its_drawing_process_along(tmp_path, moment):
    """SIGKILL runs no cleanup in the command: the drawing process must notice on its own, and let go
    of the command's stdout, or `$(shrinkvis run …)` would never return."""
    running = processes.shrinkvis("run", "baseline", "--out", str(tmp_path), "--set", "data.n_cluster=10")
    drawing_pid = processes.drawing_process(running)
    if moment == "frames":
        processes.wait_for(lambda: processes.temporaries(tmp_path / "baseline"), running, "frames")
    running.kill()
    processes.finish(running, 30)  # end of file on stdout and stderr: nobody holds them any more
    assert processes.no_process_left(running.pid) == []
    assert not Path(f"/proc/{drawing_pid}").exists() or "Z" in Path(f"/proc/{drawing_pid}/stat").read_text()


BATCH_SCENARIOS = ["baseline", "fewer_obs", "more_obs", "more_slope_var"]


@processes.needs_proc
@pytest.mark.parametrize(
    ("jobs", "delay", "signum", "group"),
    [
        ("1", 0.3, signal.SIGTERM, False),
        ("1", 1.2, signal.SIGINT, True),
        ("1", 2.5, signal.SIGTERM, False),
        ("2", 0.8, signal.SIGINT, True),
        ("2", 1.6, signal.SIGTERM, False),
        ("2", 2.6, signal.SIGHUP, False),
        ("2", 3.5, signal.SIGINT, True),
    ],
)
def test_a_signal_stops_the_whole_batch(tmp_path, jobs, delay, signum, group):
    """No scenario is started after the signal, the workers stop with the batch, nothing is left."""
    out = tmp_path / "out"
    running = processes.shrinkvis(
        "batch", *BATCH_SCENARIOS, "--out", str(out), "--jobs", jobs, "--set", "data.n_cluster=10"
    )
    processes.handles_signals(running)
    time.sleep(delay)
    (os.killpg if group else os.kill)(running.pid, signum)
    signalled = time.time()
    _assert_stopped_cleanly(running, signum, out)
    if running.returncode != 0:
        # only the scenarios already running at the signal (at most one per worker) may still finish; a
        # wall-clock bound ("none a second later") failed once with the machine loaded (load ~4 on 2 cores:
        # a scenario at its last file finished 1.x s after the signal, before its worker was scheduled)
        late = [path for path in out.glob("*/summary.json") if path.stat().st_mtime >= signalled]
        assert len(late) <= int(jobs), late


@processes.needs_proc
def test_a_killed_batch_takes_its_workers_along(tmp_path):
    running = processes.shrinkvis("batch", *BATCH_SCENARIOS, "--out", str(tmp_path), "--jobs", "2")
    processes.wait_for(lambda: len(processes.children(running.pid)) >= 2, running, "the workers")
    time.sleep(1.0)
    running.kill()
    processes.finish(running, 30)
    assert processes.no_process_left(running.pid) == []


@processes.needs_proc
def test_sigusr1_prints_every_process_stack_and_the_run_goes_on(tmp_path):
    """For reporting a run that seems stuck (and used by these tests when one is): SIGUSR1 to the group
    prints where each thread of the command and of its drawing process is, and changes nothing else."""
    running = processes.shrinkvis("run", "baseline", "--out", str(tmp_path), "--set", "data.n_cluster=10")
    processes.drawing_process(running)
    os.killpg(running.pid, signal.SIGUSR1)
    _, stderr = processes.finish(running)
    assert running.returncode == 0, stderr
    assert stderr.count("(most recent call first)") >= 2  # at least one thread of each process
    assert sorted(path.name for path in (tmp_path / "baseline").iterdir()) == sorted(
        path.name for path in (tmp_path / "baseline").iterdir() if not path.name.endswith(".part")
    )
    assert (tmp_path / "baseline" / "shrinkage.gif").stat().st_size > 0


def test_a_paused_machine_does_not_use_up_the_tests_patience():
    """The process tests wait up to WAIT_LIMIT seconds for a run; a pause of the whole machine (seen as a
    jump of the clock) must not count, or a healthy run looks stuck. Seen: a run caught, after 120 s by
    the clock, still importing matplotlib and its command writing its first table."""
    now = [0.0]

    def sleep(seconds: float) -> None:
        now[0] += seconds

    steps = 0
    for _ in processes.waiting(10.0, step=1.0, clock=lambda: now[0], sleep=sleep):
        steps += 1
        if steps == 3:
            now[0] += 500.0  # the machine was paused here
    assert steps == 10


def _wait_steps(runnable: bool, cpu_share: float) -> int:
    """How many 1-s steps a 10-s wait takes for a run that is (or is not) runnable and gets `cpu_share`
    of a CPU while it waits."""
    now, cpu = [0.0], [0.0]

    def sleep(seconds: float) -> None:
        now[0] += seconds
        cpu[0] += cpu_share * seconds

    steps = 0
    for _ in processes.waiting(
        10.0, step=1.0, session=1, clock=lambda: now[0], sleep=sleep, usage=lambda _: (cpu[0], runnable)
    ):
        steps += 1
    return steps


def test_a_starved_run_does_not_use_up_the_tests_patience_but_a_stuck_one_does():
    """Seen in CI: after 120 s, both processes of a run runnable (state R) with 1.4 s of CPU between them;
    they never had the time to be late. A run that waits for something (a deadlock) or spins uses up the
    limit as before; a starved one only its CPU time, up to WALL_LIMIT_TIMES × the limit by the clock."""
    assert _wait_steps(runnable=False, cpu_share=0.0) == 10  # asleep: stuck, by the clock
    assert _wait_steps(runnable=True, cpu_share=1.0) == 10  # spinning, by its CPU time
    assert _wait_steps(runnable=True, cpu_share=0.5) == 20  # half a CPU: twice as long by the clock
    assert _wait_steps(runnable=True, cpu_share=0.0) == 10 * processes.WALL_LIMIT_TIMES  # starved: the cap


def test_a_runs_cpu_time_and_state_are_read_from_the_kernel():
    spinning = subprocess.Popen([sys.executable, "-c", "while True: pass"], start_new_session=True)
    sleeping = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True)
    try:
        deadline = time.monotonic() + 60.0  # a starved machine gives the spinning process its 0.1 s late
        while processes.session_usage(spinning.pid)[0] < 0.1 and time.monotonic() < deadline:
            time.sleep(0.05)
        cpu, runnable = processes.session_usage(spinning.pid)
        assert runnable and cpu >= 0.1
        while processes.session_usage(sleeping.pid)[1] and time.monotonic() < deadline:
            time.sleep(0.05)  # until it has started and sleeps
        cpu, runnable = processes.session_usage(sleeping.pid)
        assert not runnable and cpu < 5.0  # what starting an interpreter takes
    finally:
        for started in (spinning, sleeping):
            started.kill()
            started.wait()
    assert processes.session_usage(spinning.pid) == (0.0, False)  # nothing of the session is left
