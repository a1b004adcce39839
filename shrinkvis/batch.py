"""Many scenarios at once: each one runs the whole pipeline in its own worker process.

This module imports nothing heavy at the top: the worker processes start from a fresh interpreter
(spawn) and set their thread limits before numpy loads.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import OutputError, ShrinkvisError, unexpected
from .scenario import Scenario

# each worker gets one core's worth of BLAS threads; without this, N workers × N threads oversubscribe
THREAD_LIMITS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
WAIT_SECONDS = 0.2  # the batch process looks for a signal this often while it waits for results
STOP_SECONDS = 5.0  # how long stopped workers get to remove their temporary files


SHARED_AXES_FOLDER = "shared-axes"  # out/<scenario>/shared-axes/: the views drawn on the batch's common axes


@dataclass(frozen=True)
class Fitted:
    """One scenario as its run left it: the scenario in the view it was drawn in, the fit, and the data's
    names (no rows: the views that share axes draw estimates only)."""

    scenario: Scenario
    estimates: Any
    data: Any


@dataclass(frozen=True)
class Outcome:
    """What became of one scenario of a batch."""

    name: str
    out_dir: str | None = None
    warnings: tuple[str, ...] = field(default=())
    error: str | None = None
    # with `--shared-axes`: what the scenario's run fitted, kept to draw it again on common axes unfitted
    fitted: Fitted | None = field(default=None, compare=False, repr=False)

    @property
    def failed(self) -> bool:
        return self.error is not None


def default_jobs() -> int:
    """The cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def run_one(scenario: Scenario, out_root: str, label: str, keep_fit: bool = False) -> Outcome:
    """Simulate, fit and render one scenario, exactly as `shrinkvis run` does; every failure becomes the
    outcome's one-line error. With `keep_fit` the outcome carries the fit (for `--shared-axes`).

    `label` is how the user named the scenario (a built-in name or a path). An interrupt is not a
    failure: it is raised, also when a library swallowed it or turned it into another error.
    """
    from . import pipeline
    from .outputs import interruptible, interrupts_raise, raise_if_interrupted, with_advice

    try:
        # a worker stopped by a signal still removes its temporary files
        with interrupts_raise(), interruptible():
            result = pipeline.run(scenario, Path(out_root))
    except OutputError as exc:
        raise_if_interrupted()
        return Outcome(label, error=str(with_advice(exc, "--out", "folder")))
    except ShrinkvisError as exc:
        raise_if_interrupted()
        return Outcome(label, error=str(exc))
    except Exception as exc:  # one broken scenario must not stop the others
        raise_if_interrupted()
        return Outcome(label, error=unexpected(exc))
    raise_if_interrupted()
    fitted = None
    if keep_fit:
        names_only = None if result.data is None else dataclasses.replace(result.data, frame=None)
        fitted = Fitted(result.scenario, result.estimates, names_only)
    return Outcome(label, str(result.out_dir), tuple(result.estimates.warnings), fitted=fitted)


def _start_worker(parent: int) -> None:
    """A worker's first step. Its terminating signals are blocked since it was started (see
    `_run_in_workers`): the handlers go in first, then they are let through. A signal while it waits
    for work ends it at once; one during a scenario ends it once the scenario's temporary files are
    removed (`_run_in_worker`). It dies with the batch, even one killed by SIGKILL."""
    from .outputs import die_with_parent, install_signal_handlers, stacks_on_request, unblock_signals

    for variable in THREAD_LIMITS:
        os.environ.setdefault(variable, "1")
    stacks_on_request()  # a fresh interpreter (spawn): SIGUSR1 would otherwise end it
    install_signal_handlers(at_once=_exit_quietly)
    die_with_parent(parent)
    unblock_signals()


def _exit_quietly(signum: int) -> None:
    os._exit(128 + signum)  # the batch process says what happened


def _run_in_worker(scenario: Scenario, out_root: str, label: str, keep_fit: bool = False) -> Outcome:
    """`run_one` in a worker: an interrupt ends the worker (never the next scenario)."""
    from .outputs import received_signal

    try:
        return run_one(scenario, out_root, label, keep_fit)
    except KeyboardInterrupt:
        os._exit(128 + (received_signal() or 2))


def _rows(scenario: Scenario) -> int:
    """Rows to fit: a rough cost, so the largest scenarios start first and the batch ends sooner."""
    data = scenario.data
    if hasattr(data, "n_hospitals"):  # simulated hospitals (issue 27): one row each
        return data.n_hospitals
    if not hasattr(data, "n_cluster"):  # a table of the user's: its size on disk stands in for rows
        path = Path(data.file)
        return path.stat().st_size // 20 if path.is_file() else 0
    return data.n_cluster * data.obs_per_cluster


def run_all(
    names: Sequence[str],
    out_root: Path | str,
    overrides: Sequence[str] = (),
    jobs: int | None = None,
    on_done: Callable[[Outcome], None] | None = None,
    shared_axes: bool = False,
) -> list[Outcome]:
    """Run every scenario, up to `jobs` at a time in worker processes (1: all in this process).

    Each scenario is drawn exactly as `shrinkvis run` draws it, on its own axes (the same bytes). With
    `shared_axes`, the views with axes to share are then drawn once more on the union of their views,
    into `<scenario>/shared-axes/`, from the fits the runs made (nothing is fitted twice).

    Scenario files are read here first, so a bad one is reported at once and costs no worker. Goes
    on past failures. `on_done` is called as each scenario finishes, in finishing order; the returned
    outcomes are in the order of `names`.
    """
    from . import scenario as scenario_files

    outcomes: dict[int, Outcome] = {}

    def finish(position: int, outcome: Outcome) -> None:
        outcomes[position] = outcome
        if on_done is not None:
            on_done(outcome)

    scenarios: dict[int, Scenario] = {}
    for position, name in enumerate(names):
        try:
            scenarios[position] = scenario_files.load(name, list(overrides))
        except ShrinkvisError as exc:
            finish(position, Outcome(name, error=str(exc)))

    refuse_shared_folders(scenarios, names, out_root)
    jobs = min(jobs or default_jobs(), len(scenarios))
    if jobs <= 1:
        for position, scenario in scenarios.items():
            finish(position, run_one(scenario, str(out_root), names[position], shared_axes))
    else:
        _run_in_workers(scenarios, names, str(out_root), jobs, finish, shared_axes)
    if shared_axes:
        draw_on_shared_axes([outcomes[position] for position in sorted(outcomes)])
    return [dataclasses.replace(outcomes[position], fitted=None) for position in range(len(names))]


def refuse_shared_folders(scenarios: dict[int, Scenario], names: Sequence[str], out_root: Path | str) -> None:
    """Two scenarios of a batch never share an output folder (`A/x.yaml` and `B/x.yaml`, or `name: "x!"`
    beside `x.yaml`): one would overwrite the other's files. Refused before anything is rendered."""
    from .errors import UserError
    from .outputs import output_folder_name

    first: dict[str, int] = {}
    for position, scenario in scenarios.items():
        folder = output_folder_name(scenario.name)
        if folder in first:
            other = names[first[folder]]
            if other == names[position]:
                raise UserError(f"{other}: given twice; a batch renders each scenario once")
            raise UserError(
                f"{other} and {names[position]} would both write into {Path(out_root) / folder}; "
                "give one of them another name (its `name:` key) or render them in two batches with "
                "different --out"
            )
        first[folder] = position


# the views whose axes a batch can share: the plane and the estimate axis of the funnel and caterpillar
SHARED_AXES_VIEWS = ("shrinkage", "stages", "funnel", "caterpillar")


def shared_axes_scenarios(fits: list[Fitted]) -> list[Fitted | None]:
    """The fits with `zoom: fixed` limits on the union of their views, so that the scenarios compare
    (fixed effects ± 3 SDs, widened to the partial-pooling estimates and most starts, of each; see
    `story.plane.view_reach`); in the order given. None for a view without such axes (lines) and for a
    scenario whose own file or `--set` fixes its zoom."""
    from .story.plane import shared_limits, view_reach

    sharing = [
        fit.scenario.animation.view in SHARED_AXES_VIEWS and fit.scenario.animation.zoom != "fixed"
        for fit in fits
    ]
    if not any(sharing):
        return [None] * len(fits)
    intercept, slope = shared_limits(
        [view_reach(fit.estimates) for fit, shares in zip(fits, sharing, strict=True) if shares]
    )
    shared: list[Fitted | None] = []
    for fit, shares in zip(fits, sharing, strict=True):
        if not shares:
            shared.append(None)
            continue
        animation = fit.scenario.animation
        limits = animation.limits.model_copy(update={"intercept": intercept, "slope": slope})
        scenario = fit.scenario.model_copy(
            update={"animation": animation.model_copy(update={"zoom": "fixed", "limits": limits})}
        )
        shared.append(dataclasses.replace(fit, scenario=scenario))
    return shared


def draw_on_shared_axes(outcomes: list[Outcome]) -> None:
    """`--shared-axes`: every scenario that ran drawn again on the batch's common axes, into
    `<scenario>/shared-axes/`, beside (never over) its own files."""
    from . import animation, pipeline
    from .outputs import folder_lock

    ran = [outcome for outcome in outcomes if outcome.fitted is not None and outcome.out_dir]
    shared = shared_axes_scenarios([outcome.fitted for outcome in ran])  # type: ignore[misc]
    for outcome, fit in zip(ran, shared, strict=True):
        if fit is None:
            continue
        out_dir = Path(outcome.out_dir)  # type: ignore[arg-type]
        story = pipeline.storyboard(fit.estimates, fit.scenario, fit.data)
        spec = fit.scenario.animation
        files = animation.output_files(
            spec.view, spec.formats, out_dir / SHARED_AXES_FOLDER, story.timeline.n_states
        )
        with folder_lock(out_dir):
            (out_dir / SHARED_AXES_FOLDER).mkdir(exist_ok=True)
            animation.write_animation(story, files)


def _run_in_workers(
    scenarios: dict[int, Scenario],
    names: Sequence[str],
    out_root: str,
    jobs: int,
    finish: Callable[[int, Outcome], None],
    keep_fit: bool = False,
) -> None:
    """Worker processes (concurrent.futures). Every wait has a way out: a worker that dies breaks the
    pool (BrokenProcessPool) instead of hanging it, the wait for results wakes up every
    WAIT_SECONDS for this thread to take a signal, and an interrupt stops everything (`_stop`). A signal
    never raises inside the pool's own code, which shares locks with the pool's thread (see
    `encode.BackgroundWriter` for what that breaks)."""
    import multiprocessing

    from .outputs import raise_if_interrupted, signals_blocked, signals_deferred

    # spawn: a fresh interpreter per worker, the same on every platform and safe while the progress
    # display runs a thread in this process (forking a threaded process can deadlock)
    context = multiprocessing.get_context("spawn")
    _start_resource_tracker()
    largest_first = sorted(scenarios, key=lambda position: -_rows(scenarios[position]))
    pool = ProcessPoolExecutor(
        max_workers=jobs, mp_context=context, initializer=_start_worker, initargs=(os.getpid(),)
    )
    pending: dict[Future[Outcome], int] = {}
    try:
        with signals_blocked():  # the workers start with them blocked, until their handlers are in place
            pending = {
                pool.submit(
                    _run_in_worker, scenarios[position], out_root, names[position], keep_fit
                ): position
                for position in largest_first
            }
        while pending:
            # signals wait while `wait` holds the futures' locks (a signal raised in there can leave one
            # held, and the pool's thread then blocks on it for ever): raised between two waits instead
            with signals_deferred():
                done, _ = wait(pending, timeout=WAIT_SECONDS, return_when=FIRST_COMPLETED)
            for future in done:
                position = pending.pop(future)
                try:
                    outcome = future.result()
                except BrokenProcessPool as exc:
                    raise_if_interrupted()  # the workers got the same Ctrl-C and stopped
                    outcome = Outcome(names[position], error=f"the worker process died: {exc}")
                finish(position, outcome)
    except BaseException:
        _stop(pool)
        _remove_what_killed_workers_left(out_root, [scenarios[position] for position in pending.values()])
        raise
    pool.shutdown()


def _start_resource_tracker() -> None:
    """The helper process that spawned workers need (multiprocessing's resource tracker), started with
    SIGUSR1 ignored, which it keeps: `kill -USR1 -- -PGID` asks every process of the batch for its
    stacks (see `outputs.stacks_on_request`), and would otherwise end this one."""
    import faulthandler
    import signal
    from multiprocessing import resource_tracker

    from .outputs import stacks_on_request

    if not hasattr(signal, "SIGUSR1"):
        resource_tracker.ensure_running()
        return
    # faulthandler's own handler goes first, so that SIG_IGN really is the handler; it is put back after
    # (only if it was there: a program calling run_all keeps its own SIGUSR1 handling)
    registered = faulthandler.unregister(signal.SIGUSR1)
    previous = signal.signal(signal.SIGUSR1, signal.SIG_IGN)
    try:
        resource_tracker.ensure_running()
    finally:
        signal.signal(signal.SIGUSR1, previous)
        if registered:
            stacks_on_request()


def _remove_what_killed_workers_left(out_root: str, unfinished: list[Scenario]) -> None:
    """A worker that `_stop` had to kill (it did not end in time: stuck, or starved of CPU) could not remove
    its temporary files, nor could its drawing process (killed with it). Once the folder's lock is free,
    they are gone: take it, which removes their files (`outputs.folder_lock`)."""
    from .errors import OutputError
    from .outputs import folder_lock, output_folder_name

    for scenario in unfinished:
        folder = Path(out_root) / output_folder_name(scenario.name)
        if folder.is_dir():
            with contextlib.suppress(OutputError), folder_lock(folder, patience=STOP_SECONDS):
                pass


def _stop(pool: ProcessPoolExecutor) -> None:
    """Cancel what has not started and stop the workers: SIGTERM, so that each removes its temporary
    files (SIGCONT too, in case one is stopped), then SIGKILL for any still there after STOP_SECONDS."""
    import signal
    import time

    # the worker processes: private, but there since Python 3.2 (3.14 adds terminate_workers())
    workers = list((getattr(pool, "_processes", None) or {}).values())
    for worker in workers:
        with contextlib.suppress(OSError, ValueError):
            worker.terminate()
            os.kill(worker.pid, signal.SIGCONT)
    deadline = time.monotonic() + STOP_SECONDS
    for worker in workers:
        with contextlib.suppress(ValueError):
            worker.join(max(0.0, deadline - time.monotonic()))
            if worker.is_alive():
                worker.kill()
                worker.join()
    # every worker is gone: the pool's thread sees it at once and ends, and the pool lets go of its
    # semaphores (left to the end of the process, the resource tracker would warn about them on stderr)
    pool.shutdown(wait=True, cancel_futures=True)
