"""Files on disk: every output appears complete or not at all.

Each file is written under a hidden temporary name in its target folder and renamed onto its real name
only once complete (a rename within one folder is atomic). Whatever stops a run — an error, Ctrl-C,
SIGTERM — removes the temporary file on the way out, so a folder holds only complete files: the ones of
this run that finished, and the earlier run's files for the rest.

Only SIGKILL stops a process before it can remove its temporary files: the user's `kill -9`, or shrinkvis
itself when a process it stopped does not end in time (a stuck one, or one that gets no CPU on an
overloaded machine). The temporary name carries its writer's pid, so that whoever killed it, and every
later run into the folder, can tell such a file (its writer is gone) from one being written, and remove it
(`remove_orphaned_temporaries`).
"""

from __future__ import annotations

import contextlib
import errno
import json
import math
import os
import re
import secrets
import signal
import stat
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import Interrupted, OutputError

if TYPE_CHECKING:  # the CLI imports this module for its signal handling: no pandas at start-up
    import pandas as pd

TEMPORARY_SUFFIX = ".part"
TERMINATING_SIGNALS = ("SIGINT", "SIGTERM", "SIGHUP")


@contextlib.contextmanager
def atomic_path(target: Path) -> Iterator[Path]:
    """A temporary path beside `target`, renamed onto it only when the block finishes without error.

    The name is chosen before the file exists and the removal sits in `finally`, so there is no moment
    at which an exception (an interrupt included) can leave the temporary file behind.
    """
    make_folder(target.parent)
    refuse_unless_regular(target)
    temporary = target.with_name(f".{target.name}.{os.getpid()}-{secrets.token_hex(6)}{TEMPORARY_SUFFIX}")
    ours = True
    try:
        try:
            # O_EXCL: never reuse someone else's file; mode 0o666 lets the umask decide, like open()
            os.close(os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
        except FileExistsError:
            ours = False
            raise
        yield temporary
        os.replace(temporary, target)
    except OSError as exc:
        raise OutputError(f"cannot write {target}: {_reason(exc, target)}") from exc
    finally:
        if ours:
            # on a read-only file system even removing a file that is not there fails (EROFS)
            with contextlib.suppress(OSError):
                temporary.unlink()


def make_folder(folder: Path) -> None:
    """`folder` and its parents, or an `OutputError` that says in words why not."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create the folder {folder}: {_reason(exc, folder)}") from None


def refuse_unless_regular(target: Path) -> None:
    """Outputs go to regular files or new paths: a link, a FIFO, a device or a folder in the way is refused,
    never replaced (`--estimates /dev/stdout` run as root replaced /dev/stdout itself)."""
    try:
        mode = target.lstat().st_mode
    except FileNotFoundError:
        return
    except OSError as exc:
        raise OutputError(f"cannot write {target}: {_reason(exc, target)}") from None
    if stat.S_ISREG(mode):
        return
    kinds = [
        (stat.S_ISLNK, "a symbolic link"),
        (stat.S_ISDIR, "a folder"),
        (stat.S_ISFIFO, "a FIFO (named pipe)"),
        (stat.S_ISCHR, "a device"),
        (stat.S_ISBLK, "a device"),
        (stat.S_ISSOCK, "a socket"),
    ]
    kind = next((name for test, name in kinds if test(mode)), "not a regular file")
    raise OutputError(f"{target}: is {kind}; shrinkvis writes only regular files or new paths")


# errno → what it means for someone writing outputs, in words
_IN_WORDS = {
    errno.EROFS: "the file system is read-only",
    errno.EACCES: "permission denied (you may not write there)",
    errno.EPERM: "permission denied (you may not write there)",
    errno.ENOSPC: "no space left on the device",
    errno.EDQUOT: "your disk quota is used up",
    errno.ENAMETOOLONG: "the name is too long for the file system",
    errno.EISDIR: "is a folder, not a file",
}


def _reason(exc: OSError, path: Path | None = None) -> str:
    """Why an output could not be written, in words, naming the user's path (never a temporary name)."""
    if exc.errno in (errno.ENOTDIR, errno.EEXIST) and path is not None:
        blocker = next((part for part in (path, *path.parents) if part.exists() and not part.is_dir()), None)
        if blocker is not None:
            return f"{blocker} is a file, not a folder"
    if exc.errno == errno.ENOENT and path is not None:
        return f"the folder {path.parent} does not exist"
    return _IN_WORDS.get(exc.errno or 0) or exc.strerror or str(exc)


_TEMPORARY_NAME = re.compile(r"\..+\.([0-9]+)-[0-9a-f]{12}" + re.escape(TEMPORARY_SUFFIX))


def remove_orphaned_temporaries(folder: Path) -> list[Path]:
    """Remove the temporary files in `folder` whose writer process is gone (killed before it could remove
    them: see the module's docstring); files being written stay. Returns what was removed."""
    removed = []
    with contextlib.suppress(OSError):  # no folder: nothing to remove
        for path in folder.glob(f".*{TEMPORARY_SUFFIX}"):
            match = _TEMPORARY_NAME.fullmatch(path.name)
            if match and not _alive(int(match.group(1))):
                with contextlib.suppress(OSError):
                    path.unlink()
                    removed.append(path)
    return removed


def _alive(pid: int) -> bool:
    """Whether process `pid` exists and has not exited (a zombie, exited but not yet reaped, has not)."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):  # no /proc (not Linux): os.kill found it; else it ended just now
        return not Path("/proc").is_dir()
    return state not in ("Z", "X")


# The signal state of this process. A terminating signal is taken once: the first one is remembered in
# `_received` (so that code which catches exceptions can tell an interrupt it swallowed, e.g. one raised
# inside a matplotlib callback, from a real error) and acted on; later ones are ignored, so that the
# cleanup the first one sets off can finish.
_installed_in: int | None = None  # the pid whose handlers these are (a fork inherits them: see below)
_at_once: Callable[[int], None] | None = None  # what a signal does outside an `interruptible` block
_received: int | None = None
_interruptible_depth = 0
_deferred_depth = 0
_pending: int | None = None  # a signal that arrived within `signals_deferred`, raised as the block ends


def _raise_for(signum: int) -> None:
    if signum == signal.SIGINT:
        raise KeyboardInterrupt
    raise Interrupted(signum)


def _terminating_signals() -> list[signal.Signals]:
    return [getattr(signal, name) for name in TERMINATING_SIGNALS if hasattr(signal, name)]


def _handle(signum: int, _frame: object) -> None:
    global _received, _pending
    # a flag rather than re-registering the handlers here: a second signal arriving while the
    # handler runs would make signal.signal fail ("ignored due to race condition")
    if _received is not None:
        return
    _received = signum
    if _at_once is not None and not _interruptible_depth:
        _at_once(signum)  # nothing to clean up out there: it ends the process
    if _deferred_depth:
        _pending = signum
        return
    _raise_for(signum)


INTERRUPTED = "interrupted; files already written are complete, no partial file is left"


def interrupted_code(signum: int) -> int:
    return 128 + signum  # the shell's convention for "ended by signal N": 130 Ctrl-C, 143 SIGTERM, 129 SIGHUP


def exit_interrupted(signum: int) -> None:
    """The command line's `at_once`: a signal outside a command (starting up, parsing, after the
    command) has nothing to clean up, so one line and the exit code at once. Written straight to the
    file descriptor: the signal may have arrived in the middle of another write to stderr."""
    with contextlib.suppress(OSError):
        os.write(2, f"shrinkvis: error: {INTERRUPTED}\n".encode())
    os._exit(interrupted_code(signum))


def stacks_on_request() -> None:
    """`kill -USR1 PID` prints the Python stack of every thread of this process to stderr, and the process
    goes on (for reporting a run that seems stuck). Without a usable stderr (closed: `2>&-`) there is
    nowhere to print: skipped."""
    import faulthandler

    if hasattr(signal, "SIGUSR1"):
        with contextlib.suppress(AttributeError, OSError, RuntimeError, ValueError):
            faulthandler.register(signal.SIGUSR1, all_threads=True)


def install_signal_handlers(at_once: Callable[[int], None] | None = None) -> dict[int, Any]:
    """SIGINT, SIGTERM and SIGHUP raise an exception instead of ending the process (see
    `interrupts_raise`); outside an `interruptible` block they call `at_once` instead, when given.
    Returns the handlers they replace. For a process that keeps them for its whole life (a worker)."""
    global _installed_in, _at_once, _received, _pending
    _installed_in, _at_once, _received, _pending = os.getpid(), at_once, None, None
    if sys.unraisablehook is not _unraisable:
        _unraisable.previous = sys.unraisablehook  # type: ignore[attr-defined]
        sys.unraisablehook = _unraisable
    return {each: signal.signal(each, _handle) for each in _terminating_signals()}


def _unraisable(unraisable: Any) -> None:
    """Python's hook for an exception it can only print ("Exception ignored in …": raised in a weakref
    callback or a `__del__`, e.g. matplotlib's). Our interrupt raised there is not printed: it was noted
    in `_received`, and the command ends as interrupted, with its one line. Anything else is printed as
    before."""
    if _received is not None and isinstance(unraisable.exc_value, KeyboardInterrupt | Interrupted):
        return
    getattr(_unraisable, "previous", sys.__unraisablehook__)(unraisable)


@contextlib.contextmanager
def interrupts_raise(at_once: Callable[[int], None] | None = None) -> Iterator[None]:
    """Within the block SIGINT, SIGTERM and SIGHUP raise an exception instead of ending the process.

    Python's default for SIGTERM ends the process at once, skipping every `finally`, which would leave
    temporary files behind. Here the first such signal raises (`KeyboardInterrupt` for SIGINT,
    `Interrupted` otherwise) and the later ones are ignored, so the cleanup it sets off can finish.
    With `at_once`, a signal outside an `interruptible` block calls it instead (the CLI: before and after
    the command, where nothing needs cleaning up, it prints one line and exits). Nested blocks keep the
    outer handlers; a forked process installs its own. Only the main thread can own signal handlers;
    elsewhere this does nothing.
    """
    global _installed_in, _received, _pending
    if threading.current_thread() is not threading.main_thread() or _installed_in == os.getpid():
        yield
        return
    previous = install_signal_handlers(at_once)
    try:
        yield
    finally:
        for each, handler in previous.items():
            signal.signal(each, handler)
        _installed_in, _received, _pending = None, None, None  # a later block starts afresh


@contextlib.contextmanager
def interruptible() -> Iterator[None]:
    """Within the block a signal raises (where `interrupts_raise` was given `at_once`, it exits outside)."""
    global _interruptible_depth
    _interruptible_depth += 1
    try:
        yield
    finally:
        _interruptible_depth -= 1


def received_signal() -> int | None:
    """The terminating signal this process received, if any (even one whose exception was swallowed)."""
    return _received


def raise_if_interrupted() -> None:
    """Raise the interrupt of a signal received earlier, e.g. after code that may have swallowed it."""
    if _received is not None:
        _raise_for(_received)


@contextlib.contextmanager
def signals_blocked() -> Iterator[None]:
    """The terminating signals wait (in the kernel) until the block ends. A process started within the
    block starts with them blocked too, and unblocks them once its handlers are in place
    (`unblock_signals`): no signal can find it half started."""
    if not hasattr(signal, "pthread_sigmask"):
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, _terminating_signals())
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def unblock_signals() -> None:
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_UNBLOCK, _terminating_signals())


def block_signals_in_this_thread() -> None:
    """For helper threads: the kernel then delivers the terminating signals to the main thread, whose
    blocking calls they interrupt (a signal taken by another thread only sets a flag)."""
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_BLOCK, _terminating_signals())


PR_SET_PDEATHSIG = 1  # linux/prctl.h


def die_with_parent(parent: int) -> None:
    """Have this process receive SIGTERM when `parent` (the process that started it) ends, also by
    SIGKILL: on Linux through prctl(PR_SET_PDEATHSIG); everywhere, if the parent is already gone.
    Processes that wait for their parent poll `os.getppid()` as well."""
    if sys.platform.startswith("linux"):
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != parent:  # it ended before the line above
        os.kill(os.getpid(), signal.SIGTERM)


@contextlib.contextmanager
def signals_deferred() -> Iterator[None]:
    """Within the block a terminating signal waits; it is raised as the block ends.

    For the steps that create something and register its cleanup: a signal in between would leave a
    temporary file nobody removes, or a writer thread nobody stops (which then re-creates the file it was
    to write after its removal) — seen a few times in some hundred interrupted test runs. Python runs
    signal handlers in the main thread only, between two steps of its code, so the handler can simply
    note the signal while a block is open.
    """
    global _deferred_depth, _pending
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    _deferred_depth += 1
    try:
        yield
    finally:
        _deferred_depth -= 1
        if not _deferred_depth and _pending is not None:
            signum, _pending = _pending, None
            _raise_for(signum)


@contextlib.contextmanager
def temporary_folder(prefix: str) -> Iterator[Path]:
    """A folder of its own in the temporary directory, removed however the block ends.

    Made and removed with the signals deferred: no signal finds it made but not yet in the hands of the
    `finally` that removes it, or half removed (an interrupted `run --data FOLDER` left DuckDB's spill
    folder behind in 12 of 40 interrupts when the signal landed in the cleanup)."""
    import shutil
    import tempfile

    folder: Path | None = None
    try:
        with signals_deferred():
            folder = Path(tempfile.mkdtemp(prefix=prefix))
        yield folder
    finally:
        with signals_deferred():
            if folder is not None:
                shutil.rmtree(folder, ignore_errors=True)


def enter_safely(stack: contextlib.ExitStack, manager: contextlib.AbstractContextManager[Any]) -> Any:
    """`stack.enter_context(manager)` with no moment at which a signal finds it entered but not registered."""
    with signals_deferred():
        return stack.enter_context(manager)


def write_text(target: Path, text: str) -> None:
    with atomic_path(target) as temporary:
        temporary.write_text(text, encoding="utf-8")


def write_json(target: Path, payload: dict[str, Any]) -> None:
    write_text(target, json.dumps(payload, indent=2, allow_nan=False, default=_plain) + "\n")


CSV_STYLE: dict[str, Any] = {"index": False, "float_format": "%.10g", "lineterminator": "\n"}


def write_csv(target: Path, table: pd.DataFrame) -> None:
    with atomic_path(target) as temporary:
        table.to_csv(temporary, **CSV_STYLE)


def with_advice(error: OutputError, flag: str, what: str) -> OutputError:
    """The error of an output that could not be written, naming the option that puts it elsewhere."""
    message = str(error)
    if flag in message:  # it says so already ("… or give another --out")
        return error
    return OutputError(f"{message}; give another {what} with {flag}")


def _plain(value: Any) -> Any:
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"cannot write {type(value).__name__} to JSON")


def json_ready(value: Any) -> Any:
    """Plain JSON values: numpy scalars become Python numbers, NaN and infinities become null."""
    if isinstance(value, dict):
        return {str(key): json_ready(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [json_ready(item) for item in value]
    if hasattr(value, "tolist"):
        return json_ready(value.tolist())
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def output_folder_name(name: str) -> str:
    """A folder name that stays inside the output root whatever the scenario is called.

    Only letters, digits, `_`, `-` and inner dots survive, so no separator, no `..`, no absolute path,
    no hidden folder; at most 100 characters, well under every file system's limit.
    """
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", name)[:100].strip("._-")
    return safe or "scenario"


LOCK_NAME = ".shrinkvis.lock"


@contextlib.contextmanager
def folder_lock(folder: Path, patience: float = 0.0) -> Iterator[None]:
    """Only one shrinkvis writes into `folder` at a time; a second one fails at once with one line.

    Two runs into one folder would leave a mix of both runs' files. The lock is the operating system's
    (flock) on a hidden file in the folder, so it goes with the process that holds it however that
    process ends: a killed run never leaves the folder locked (at most the empty file, which the next
    run takes over). The holder removes the file before it lets go, and whoever locks checks that the
    file it locked is still the one in the folder, so that two runs never hold two different files.
    Where flock is missing (Windows) there is no lock.

    Whoever takes the lock removes the temporary files that killed runs left (`remove_orphaned_temporaries`).
    `patience`: seconds to wait for the lock, for a caller that knows its holder is ending.
    """
    import time

    deadline = time.monotonic() + patience
    try:
        import fcntl
    except ImportError:  # pragma: no cover — not on POSIX
        yield
        return
    path = folder / LOCK_NAME
    # the folders made for the lock go again if the run writes nothing into them (bad data, say)
    made = []
    for ancestor in (folder, *folder.parents):
        if ancestor.exists():
            break
        made.append(ancestor)
    while True:
        try:
            folder.mkdir(parents=True, exist_ok=True)
            descriptor = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
        except OSError as exc:
            raise OutputError(f"cannot create the folder {folder}: {_reason(exc, folder)}") from None
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(descriptor)
            if time.monotonic() < deadline:
                time.sleep(0.05)
                continue
            raise OutputError(
                f"{folder}: another shrinkvis is writing into this folder; run again when it is done, "
                "or give another --out"
            ) from None
        if _same_file(path, descriptor):
            break
        os.close(descriptor)  # its holder removed it meanwhile: lock the one in the folder now
    try:
        remove_orphaned_temporaries(folder)
        yield
    finally:
        _release(path, descriptor, made)


def _release(path: Path, descriptor: int, made: list[Path]) -> None:
    """Remove the lock file while it is still locked, then let go. (Stopped just before the removal, the
    file stays: the next run takes it over.)"""
    with contextlib.suppress(OSError):
        path.unlink()
    os.close(descriptor)
    for folder in made:  # deepest first; rmdir removes only an empty folder
        try:
            folder.rmdir()
        except OSError:
            break


def _same_file(path: Path, descriptor: int) -> bool:
    try:
        on_disk = path.stat()
    except OSError:
        return False
    opened = os.fstat(descriptor)
    return (on_disk.st_dev, on_disk.st_ino) == (opened.st_dev, opened.st_ino)
