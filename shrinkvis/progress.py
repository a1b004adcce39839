"""Which stage a long `run` or `fit` is in (reading or summing, fitting, drawing, writing), on a terminal.

Shown on stderr, and only when stderr is a terminal: pipes, files and tests get nothing, and stdout stays
the command's answer (`fit --json` prints exactly one JSON object). rich is imported only when shown.
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Iterator
from typing import Any


class Stage:
    """What a command says about its stages; this one says nothing (the default, and off a terminal)."""

    def __call__(self, name: str) -> None:
        """The stage `name` starts now (the one before it is done)."""

    def detail(self, text: str) -> None:
        """How far the current stage has come, e.g. "42 %"."""


quiet = Stage()


class _Shown(Stage):
    """A spinner with the current stage; each finished stage leaves one line ("fitting  2.1 s")."""

    def __init__(self, console: Any, status: Any) -> None:
        self.console, self.status = console, status
        self.current: tuple[str, float] | None = None

    def __call__(self, name: str) -> None:
        self.finish()
        self.current = (name, time.perf_counter())
        self.status.update(f"{name}…")

    def detail(self, text: str) -> None:
        if self.current is not None:
            self.status.update(f"{self.current[0]}… {text}")

    def finish(self) -> None:
        if self.current is not None:
            name, started = self.current
            self.current = None
            self.console.print(
                f"[dim]{name:<12} {time.perf_counter() - started:6.1f} s[/dim]", highlight=False
            )


@contextlib.contextmanager
def stages(console: Any = None) -> Iterator[Stage]:
    """The command's `Stage`: shown on `console` (a rich Console, for tests), by default on stderr when it
    is a terminal, else `quiet`."""
    if console is None:
        if not sys.stderr.isatty():
            yield quiet
            return
        from rich.console import Console

        console = Console(stderr=True)
    with console.status("starting") as status:
        shown = _Shown(console, status)
        try:
            yield shown
        finally:
            shown.finish()
