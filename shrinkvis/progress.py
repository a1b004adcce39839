"""Which stage a long `run` or `fit` is in (reading, summing, fitting, drawing, writing), on a terminal.

Shown on stderr, and only when stderr is a terminal: pipes, files and tests get nothing, and stdout stays
the command's answer (`fit --json` prints exactly one JSON object). rich is imported only when shown.
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

Stage = Callable[[str], None]  # called with the name of the stage that starts now


def quiet(stage: str) -> None:
    """The stage callback when nothing is shown."""


@contextlib.contextmanager
def stages(console: Any = None) -> Iterator[Stage]:
    """A stage callback: a spinner with the current stage and its seconds; each finished stage leaves one
    line ("fitting  2.1 s"). `console` (a rich Console) for tests; default: stderr when it is a terminal."""
    if console is None:
        if not sys.stderr.isatty():
            yield quiet
            return
        from rich.console import Console

        console = Console(stderr=True)
    current: list[tuple[str, float]] = []

    def finish() -> None:
        if current:
            name, started = current.pop()
            console.print(f"[dim]{name:<12} {time.perf_counter() - started:6.1f} s[/dim]", highlight=False)

    with console.status("starting") as status:

        def stage(name: str) -> None:
            finish()
            current.append((name, time.perf_counter()))
            status.update(f"{name}…")

        try:
            yield stage
        finally:
            finish()
