"""`shrinkvis run` on two cores: a drawing process beside the process that fits.

Measured on the 2-core machine (baseline): loading matplotlib takes ≈ 0.6 s and pandas ≈ 0.4 s, and
the threads of one process barely overlap, because drawing (matplotlib), numpy's indexing and PyAV mostly
hold the GIL. So a run forks a drawing process first thing, before anything heavy is loaded (no thread
exists yet, which makes the fork safe). It loads matplotlib while this process reads the scenario and
fits. Then it draws the frames and hands each one over through shared memory, and writes the PNG stills,
the SVG and the report's plot, while this process encodes the GIF and the MP4 from those frames. The
files are the same bytes as from one process.

The protocol: a one-way stream plus a counting semaphore, nothing that can race.

- Here → drawing process: exactly one message, the job. Nothing after it, ever: this process never
  writes to a drawing process that may have finished and gone.
- Drawing process → here (pickled, over one pipe): `("size", (w, h), n_slots)`; `("samples", count)`
  when a GIF is written; then for every image in order `("frame", slot)` (its pixels are in shared-memory
  slot `slot`) or `("same",)` (a held frame); `("end",)`; at last `("done",)` once its files are in
  place. `("error", exc)` may replace any message and is the last one.
- Slots (a bounded buffer): the k-th image handed over (palette samples included) goes to slot
  k mod n_slots. This process releases the semaphore `freed` once per image it has copied out; the
  drawing process acquires it once before each image k ≥ n_slots, so it writes a slot only after the
  image that was there has been copied. A release cannot fail, whatever the other process is doing.

Every wait has a way out:

| who waits     | for                     | the other side dies                 | a signal              |
|---------------|-------------------------|-------------------------------------|-----------------------|
| this process  | a message (`receive`)   | end of file → RenderError, which    | raises (see outputs)  |
|               |                         | says how the process ended          |                       |
| drawing proc. | the job                 | end of file (it closed our end)     | raises; cleans up     |
| drawing proc. | `freed`                 | PR_SET_PDEATHSIG sends it SIGTERM;  | raises; cleans up     |
|               |                         | it also polls its parent's pid      |                       |
| drawing proc. | room in the pipe        | EPIPE                               | raises; cleans up     |

A stall of either process (a laptop asleep, SIGSTOP, a busy machine) only makes the other wait. Either
may finish first: the drawing process's last messages stay in the pipe after it exits. Stopping is
one idempotent method, `close`.
"""

from __future__ import annotations

import contextlib
import mmap
import os
import pickle
import signal
import threading
import traceback
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .errors import FailedError, RenderError, unexpected

if TYPE_CHECKING:
    from multiprocessing.connection import Connection
    from multiprocessing.synchronize import Semaphore

    from .report.size_plot import SizePlot
    from .story import Storyboard

# Room for the frames in flight: the whole baseline (72 distinct frames of 600×450), so that the drawing
# process can go on to the stills while the encoders catch up; at least two of the largest frames allowed
# (4096×4096). Only the pages written to take memory.
SHARED_BYTES = 128 * 2**20
STOP_SECONDS = 5.0  # how long a drawing process stopped by a signal gets to remove its temporary files
PARENT_POLL_SECONDS = 0.5  # how often a drawing process waiting for a free slot checks its parent is alive


@dataclass(frozen=True)
class Job:
    story: Storyboard
    stills: dict[str, Path]  # kind → path, see animation.STILL_KINDS
    videos: tuple[str, ...]  # what the other process encodes from the frames: "gif" and/or "mp4"
    plot: SizePlot | None = None
    plot_path: Path | None = None


def can_fork() -> bool:
    """A fork is safe only while this process has a single thread (no lock can be held by another)."""
    return hasattr(os, "fork") and hasattr(os, "register_at_fork") and threading.active_count() == 1


class DrawingProcess:
    """The drawing process of one run. Use as a context manager: leaving it stops the process."""

    def __init__(self) -> None:
        import multiprocessing

        context = multiprocessing.get_context("fork")
        self.shared = mmap.mmap(-1, SHARED_BYTES)  # anonymous and shared with the child after the fork
        self.freed = context.Semaphore(0)  # slots copied out here (see the module's docstring)
        self.connection, child_end = context.Pipe()
        self.finished = False  # "done" received: every file of the drawing process is in place
        self.closed = False
        self.folders: set[Path] = set()  # where the job's files go
        self.process = context.Process(
            target=_serve,
            args=(child_end, self.connection, self.shared, self.freed, os.getpid()),
            name="shrinkvis-draw",
            daemon=True,
        )
        from .outputs import signals_blocked

        with signals_blocked():  # the child unblocks them once its own handlers are in place
            self.process.start()
        child_end.close()

    # --- this side ----------------------------------------------------------------------------------
    def draw(self, job: Job) -> None:
        """Hand the job over; the drawing process starts at once. The only message sent there."""
        self.folders = {path.parent for path in (*job.stills.values(), job.plot_path) if path is not None}
        try:
            self.connection.send(job)
        except OSError as exc:  # it is gone already
            raise RenderError(f"the drawing process ended unexpectedly ({self._how_it_ended()})") from exc

    def frames(self) -> SharedFrames:
        """The frames of the job as they are drawn (see animation.Frames)."""
        return SharedFrames(self)

    def wait(self) -> None:
        """Until the drawing process has written its files; raises its error, if any."""
        message = self.receive()
        if message[0] != "done":
            raise RenderError(f"the drawing process sent {message[0]!r} where it should have finished")
        self.finished = True

    def receive(self) -> tuple[Any, ...]:
        """The next message; waits as long as the drawing process is alive (a stall is no error)."""
        try:
            message = self.connection.recv()
        except (EOFError, OSError) as exc:
            raise RenderError(f"the drawing process ended unexpectedly ({self._how_it_ended()})") from exc
        if message[0] == "error":
            raise message[1]
        return message

    def _how_it_ended(self) -> str:
        self.process.join(STOP_SECONDS)  # it closed the pipe: it is exiting, or has exited
        code = self.process.exitcode
        if code is None:
            return "it closed its end of the pipe"
        if code < 0:
            return f"killed by {signal.Signals(-code).name}"
        return f"exit code {code}"

    def close(self) -> None:
        """Stop the drawing process; safe to call more than once. At once when the run did not finish
        (SIGTERM: it removes its temporary files on the way out), else wait until it has exited."""
        if self.closed:
            return
        self.closed = True
        self.connection.close()
        if not self.finished and self.process.is_alive():
            with contextlib.suppress(ProcessLookupError):
                self.process.terminate()
                os.kill(
                    self.process.pid, signal.SIGCONT
                )  # a stopped process handles SIGTERM only once continued
        self.process.join(STOP_SECONDS)
        if self.process.is_alive():  # stuck, or starved: no cleanup is worth hanging the command for
            self.process.kill()
            self.process.join()
            from .outputs import remove_orphaned_temporaries

            for folder in self.folders:  # what it had no time to remove
                remove_orphaned_temporaries(folder)
        # frames still viewed (e.g. by a traceback on its way up) keep the memory until they go
        with contextlib.suppress(BufferError):
            self.shared.close()

    def __enter__(self) -> DrawingProcess:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


class SharedFrames:
    """The frames the drawing process hands over, read from shared memory (see animation.Frames)."""

    def __init__(self, drawing: DrawingProcess) -> None:
        self.drawing = drawing
        self._size: tuple[int, int] | None = None
        self._slots: list[np.ndarray] = []
        self._handed_over = 0  # images copied out so far: the next one is in slot _handed_over mod n_slots
        self._previous: np.ndarray | None = None

    @property
    def size(self) -> tuple[int, int]:
        if self._size is None:
            _, size, n_slots = self._expect("size")
            self._size = width, height = size
            self._slots = _slots(self.drawing.shared, width, height, n_slots)
        return self._size

    def palette_samples(self) -> list[np.ndarray]:
        self.size  # noqa: B018 — the size comes first
        _, count = self._expect("samples")
        return [self._next() for _ in range(count)]

    def __iter__(self) -> Iterator[np.ndarray]:
        self.size  # noqa: B018
        while True:
            frame = self._next(last_allowed=True)
            if frame is None:
                return
            yield frame

    def _next(self, last_allowed: bool = False) -> Any:
        message = self.drawing.receive()
        if message[0] == "same" and self._previous is not None:
            return self._previous
        if message[0] == "frame" and message[1] == self._handed_over % len(self._slots):
            frame = self._slots[message[1]].copy()  # a copy, so that the slot can be drawn into again
            self._handed_over += 1
            self.drawing.freed.release()
            self._previous = frame
            return frame
        if message[0] == "end" and last_allowed:
            return None
        raise RenderError(f"the drawing process sent {message[:2]!r} where a frame was due")

    def _expect(self, kind: str) -> tuple[Any, ...]:
        message = self.drawing.receive()
        if message[0] != kind:
            raise RenderError(f"the drawing process sent {message[0]!r} where {kind!r} was due")
        return message


def _slots(shared: mmap.mmap, width: int, height: int, count: int) -> list[np.ndarray]:
    frame_bytes = width * height * 4
    return [
        np.ndarray((height, width, 4), dtype=np.uint8, buffer=shared, offset=index * frame_bytes)
        for index in range(count)
    ]


# --- the drawing process ----------------------------------------------------------------------------------


def _serve(
    connection: Connection, parent_end: Connection, shared: mmap.mmap, freed: Semaphore, parent: int
) -> None:
    """The drawing process: load, wait for the job, draw it; every failure goes back as a message."""
    from .outputs import die_with_parent, interrupts_raise, unblock_signals

    # Without this, the process would hold the other end of its own pipe and never see end of file.
    parent_end.close()
    # Signals raise within the block (the files being written are removed on the way out), once: a
    # second one (Ctrl-C reaches both processes, then the other one stops this one) is ignored. Nothing
    # may escape, or multiprocessing prints a traceback.
    with contextlib.suppress(BaseException), interrupts_raise():
        try:
            unblock_signals()  # blocked since before the fork; any that arrived are taken now
            die_with_parent(parent)
            _load()
            try:
                job = connection.recv()
            except EOFError:  # the run stopped before there was anything to draw
                return
            _draw(connection, shared, lambda: _wait_for_slot(freed, parent), job)
            connection.send(("done",))
        except BaseException as exc:  # handed to the other process, which raises it
            exc = _transportable(exc)
            exc.drawing_traceback = traceback.format_exc()  # type: ignore[attr-defined] — for --debug
            connection.send(("error", exc))


def _wait_for_slot(freed: Semaphore, parent: int) -> None:
    while not freed.acquire(timeout=PARENT_POLL_SECONDS):
        if os.getppid() != parent:
            raise RenderError("the process that started the drawing process is gone")


def _load() -> None:
    """Load what drawing needs, while the other process fits. (Drawing a throwaway figure as well, to
    warm the font caches, was measured to cost more than it saved.)"""
    from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: F401
    from matplotlib.figure import Figure  # noqa: F401

    from . import animation, render  # noqa: F401
    from .render import funnel, lines, plane  # noqa: F401
    from .report import size_plot  # noqa: F401


def _draw(connection: Connection, shared: mmap.mmap, wait_for_slot: Any, job: Job) -> None:
    from .animation import palette_frames, story_progress, write_stills
    from .encode import write_png
    from .outputs import atomic_path, enter_safely
    from .render import renderer as make_renderer
    from .report.size_plot import shrinkage_by_size

    story = job.story
    with contextlib.ExitStack() as stack:
        renderer = make_renderer(story)
        stack.callback(renderer.close)
        last_frame = None
        if job.videos:  # hand the frames over, the GIF palette's samples first
            samples = palette_frames(story_progress(story)) if "gif" in job.videos else []
            width, height = renderer.size
            n_slots = min(story.n_frames + len(samples), SHARED_BYTES // (width * height * 4))
            slots = _slots(shared, width, height, n_slots)
            handed_over = 0
            connection.send(("size", (width, height), n_slots))

            def hand_over(frame: np.ndarray) -> None:
                nonlocal handed_over
                if handed_over >= n_slots:  # every slot has been used: wait until this one is copied out
                    wait_for_slot()
                slot = handed_over % n_slots
                slots[slot][...] = frame
                connection.send(("frame", slot))
                handed_over += 1

            if samples:
                connection.send(("samples", len(samples)))
                for index in samples:
                    hand_over(renderer.frame(index))
            previous = None
            for frame in renderer:
                if frame is previous:
                    connection.send(("same",))
                else:
                    hand_over(frame)
                previous = last_frame = frame
            connection.send(("end",))
        write_stills(renderer, job.stills, stack, last_frame)
        if job.plot is not None and job.plot_path is not None:
            write_png(enter_safely(stack, atomic_path(job.plot_path)), shrinkage_by_size(job.plot))


def _transportable(exc: BaseException) -> BaseException:
    """The exception itself if it survives pickling, else a FailedError with its one-line description."""
    try:
        pickle.loads(pickle.dumps(exc))
    except Exception:  # noqa: BLE001
        return FailedError(unexpected(exc))
    return exc
