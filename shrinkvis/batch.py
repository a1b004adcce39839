"""Many scenarios at once: each one runs the whole pipeline in its own worker process.

This module imports nothing heavy at the top: the worker processes start from a fresh interpreter
(spawn) and set their thread limits before numpy loads.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path

from .errors import ShrinkvisError, unexpected
from .scenario import Scenario

# each worker gets one core's worth of BLAS threads; without this, N workers × N threads oversubscribe
THREAD_LIMITS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


@dataclass(frozen=True)
class Outcome:
    """What became of one scenario of a batch."""

    name: str
    out_dir: str | None = None
    warnings: tuple[str, ...] = field(default=())
    error: str | None = None

    @property
    def failed(self) -> bool:
        return self.error is not None


def default_jobs() -> int:
    """The cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def run_one(scenario: Scenario, out_root: str, label: str) -> Outcome:
    """Simulate, fit and render one scenario; every failure becomes the outcome's one-line error.

    `label` is how the user named the scenario (a built-in name or a path).
    """
    from . import pipeline
    from .outputs import interrupts_raise

    try:
        with interrupts_raise():  # a worker stopped by a signal still removes its temporary files
            result = pipeline.run(scenario, Path(out_root))
    except ShrinkvisError as exc:
        return Outcome(label, error=str(exc))
    except Exception as exc:  # one broken scenario must not stop the others
        return Outcome(label, error=unexpected(exc))
    return Outcome(label, str(result.out_dir), tuple(result.estimates.warnings))


def _limit_threads() -> None:
    for variable in THREAD_LIMITS:
        os.environ.setdefault(variable, "1")


def _rows(scenario: Scenario) -> int:
    """Rows to fit: a rough cost, so the largest scenarios start first and the batch ends sooner."""
    data = scenario.data
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
) -> list[Outcome]:
    """Run every scenario, up to `jobs` at a time in worker processes (1: all in this process).

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

    if len(scenarios) > 1:
        scenarios = share_one_view(scenarios)
    jobs = min(jobs or default_jobs(), len(scenarios))
    if jobs <= 1:
        for position, scenario in scenarios.items():
            finish(position, run_one(scenario, str(out_root), names[position]))
    else:
        _run_in_workers(scenarios, names, str(out_root), jobs, finish)
    return [outcomes[position] for position in range(len(names))]


def share_one_view(scenarios: dict[int, Scenario]) -> dict[int, Scenario]:
    """The same axes for every scenario whose zoom nobody chose, so that the batch compares: each is fitted
    here once for the view it needs (fitting is quick next to drawing), and they all get the union of
    those views as `zoom: fixed` limits. A scenario whose data fail to load keeps its own zoom (its worker
    reports the error); `zoom: auto` in a file or `--set animation.zoom=auto` keeps a scenario's own view."""
    from . import pipeline
    from .story.plane import shared_limits, view_reach

    sharing = {p: s for p, s in scenarios.items() if "zoom" not in s.animation.model_fields_set}
    reaches = {}
    for position, scenario in sharing.items():
        try:
            reaches[position] = view_reach(pipeline.fit_data(pipeline.source_data(scenario), scenario))
        except Exception:  # noqa: BLE001 - the worker runs it again and reports the failure in its words
            continue
    if len(reaches) < 2:
        return scenarios
    intercept, slope = shared_limits(list(reaches.values()))
    shared = dict(scenarios)
    for position in reaches:
        animation = scenarios[position].animation
        limits = animation.limits.model_copy(update={"intercept": intercept, "slope": slope})
        shared[position] = scenarios[position].model_copy(
            update={"animation": animation.model_copy(update={"zoom": "fixed", "limits": limits})}
        )
    return shared


def _run_in_workers(
    scenarios: dict[int, Scenario],
    names: Sequence[str],
    out_root: str,
    jobs: int,
    finish: Callable[[int, Outcome], None],
) -> None:
    import multiprocessing

    # spawn: a fresh interpreter per worker, the same on every platform and safe while the progress
    # display runs a thread in this process (forking a threaded process can deadlock)
    context = multiprocessing.get_context("spawn")
    largest_first = sorted(scenarios, key=lambda position: -_rows(scenarios[position]))
    with ProcessPoolExecutor(max_workers=jobs, mp_context=context, initializer=_limit_threads) as pool:
        pending: dict[Future[Outcome], int] = {
            pool.submit(run_one, scenarios[position], out_root, names[position]): position
            for position in largest_first
        }
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                position = pending.pop(future)
                try:
                    outcome = future.result()
                except BrokenProcessPool as exc:
                    outcome = Outcome(names[position], error=f"the worker process died: {exc}")
                finish(position, outcome)
