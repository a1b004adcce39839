"""One family of exceptions.

Library code raises these; only the CLI prints them. A `UserError` is something the person running the
tool can fix (a typo in a scenario file, a missing column): the CLI prints its message as one line and
exits with code 2. A `FailedError` means the input was valid but a stage could not finish (a fit that
cannot be computed, a render that failed, a file that could not be written): one line and exit code 1.

`Interrupted` is not part of that family on purpose: like `KeyboardInterrupt`, which it extends, it must
pass through every `except Exception` so that an interrupted batch stops instead of going on.
"""

from __future__ import annotations

import signal


class ShrinkvisError(Exception):
    """Base class of every error shrinkvis raises on purpose."""

    exit_code = 1


class UserError(ShrinkvisError):
    """Bad input: the message says which file, key or column, and what is allowed."""

    exit_code = 2


class ScenarioError(UserError):
    """A scenario file or a --set override is invalid."""


class DataError(UserError):
    """Data that cannot be read, or cannot be used for the requested model."""


class FailedError(ShrinkvisError):
    """Valid input, but a stage could not finish."""

    exit_code = 1


class FitError(FailedError):
    """The model could not be fitted."""


class RenderError(FailedError):
    """Frames could not be drawn or encoded."""


class OutputError(FailedError):
    """An output file could not be written (permissions, a full disk, --out naming a file)."""


def did_you_mean(word: str, known: list[str]) -> str:
    """' (did you mean 'score'?)' for a name that differs from a known one in case or a few letters."""
    import difflib

    by_case = [name for name in known if name.lower() == word.lower()]
    if by_case:
        return f" (did you mean {by_case[0]!r}?)"
    lowered = {name.lower(): name for name in known}
    near = difflib.get_close_matches(word.lower(), list(lowered), n=1, cutoff=0.6)
    return f" (did you mean {lowered[near[0]]!r}?)" if near else ""


class Interrupted(KeyboardInterrupt):
    """A termination signal (SIGTERM, SIGHUP) turned into an exception, so that cleanup code runs."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum

    def __reduce__(self) -> tuple[type[Interrupted], tuple[int], dict[str, object]]:  # between processes
        return Interrupted, (self.signum,), self.__dict__

    @property
    def exit_code(self) -> int:
        return 128 + self.signum  # the shell's convention for "ended by signal N"


def unexpected(exc: BaseException) -> str:
    """One line for an error nobody planned for: its type and the first line of its message."""
    first_line = next(iter(str(exc).strip().splitlines()), "")
    return (
        f"unexpected {type(exc).__name__}: {first_line}" if first_line else f"unexpected {type(exc).__name__}"
    )
