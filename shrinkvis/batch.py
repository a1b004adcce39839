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

from .errors import ShrinkvisError

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


def run_one(name: str, overrides: Sequence[str], out_root: str) -> Outcome:
    """Load, simulate, fit and render one scenario; every failure becomes the outcome's one-line error."""
    from . import pipeline
    from . import scenario as scenario_files

    try:
        scenario = scenario_files.load(name, list(overrides))
        result = pipeline.run(scenario, Path(out_root))
    except ShrinkvisError as exc:
        return Outcome(name, error=str(exc))
    except Exception as exc:  # one broken scenario must not stop the others
        return Outcome(name, error=f"{type(exc).__name__}: {exc}")
    return Outcome(name, str(result.out_dir), tuple(result.estimates.warnings))


def _limit_threads() -> None:
    for variable in THREAD_LIMITS:
        os.environ.setdefault(variable, "1")


def _cost(name: str, overrides: Sequence[str]) -> int:
    """Rows to fit: a rough cost, so the largest scenarios start first and the batch ends sooner."""
    from . import scenario as scenario_files

    try:
        data = scenario_files.load(name, list(overrides)).data
    except ShrinkvisError:
        return 0  # fails at once in its worker
    return data.n_cluster * data.obs_per_cluster


def run_all(
    names: Sequence[str],
    out_root: Path | str,
    overrides: Sequence[str] = (),
    jobs: int | None = None,
    on_done: Callable[[Outcome], None] | None = None,
) -> list[Outcome]:
    """Run every scenario, `jobs` at a time in worker processes (1: in this process).

    Goes on past failures. `on_done` is called as each scenario finishes, in finishing order; the
    returned outcomes are in the order of `names`.
    """
    jobs = max(1, min(jobs or default_jobs(), len(names)))
    outcomes: dict[int, Outcome] = {}

    def finish(position: int, outcome: Outcome) -> None:
        outcomes[position] = outcome
        if on_done is not None:
            on_done(outcome)

    if jobs == 1:
        for position, name in enumerate(names):
            finish(position, run_one(name, overrides, str(out_root)))
        return [outcomes[position] for position in range(len(names))]

    import multiprocessing

    order = sorted(range(len(names)), key=lambda position: -_cost(names[position], overrides))
    # spawn: a fresh interpreter per worker, the same on every platform and safe while the progress
    # display runs a thread in this process (forking a threaded process can deadlock)
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=jobs, mp_context=context, initializer=_limit_threads) as pool:
        pending: dict[Future[Outcome], int] = {
            pool.submit(run_one, names[position], tuple(overrides), str(out_root)): position
            for position in order
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
    return [outcomes[position] for position in range(len(names))]
