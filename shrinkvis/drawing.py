"""`shrinkvis run` on two cores: a drawing process beside the process that fits.

Measured on the 2-core machine (baseline): loading matplotlib takes ≈ 0.6 s and pandas ≈ 0.4 s, and
the threads of one process barely overlap, because drawing (matplotlib), numpy's indexing and PyAV mostly
hold the GIL. So a run forks a drawing process first thing, before anything heavy is loaded (no thread
exists yet, which makes the fork safe). It loads matplotlib while this process reads the scenario and
fits. Then it draws the frames and hands each one over through shared memory, and writes the PNG stills,
the SVG and the report's plot, while this process encodes the GIF and the MP4 from those frames. The
files are the same bytes as from one process.

Messages (pickled, over one duplex pipe), drawing process → here: `("size", (w, h), slots)`, then for
every frame `("frame", slot)` (the pixels are in shared-memory slot `slot`) or `("same",)` (a held frame),
first the palette samples, then every frame in order; at the end `("done",)`, or `("error", exc)` at any
point. Here → drawing process: the job, then `("free", slot)` once a slot's frame was copied out.
"""

from __future__ import annotations

import collections
import contextlib
import mmap
import os
import pickle
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

    from .shrinkage_plot import SizePlot
    from .story import Storyboard

# Room for the frames in flight: the whole baseline (72 distinct frames of 600×450), so that the drawing
# process can go on to the stills while the encoders catch up; at least two of the largest frames allowed
# (4096×4096). Only the pages written to take memory.
SHARED_BYTES = 128 * 2**20
STOP_SECONDS = 5.0  # how long a drawing process stopped by a signal gets to remove its temporary files


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
        self.connection, child_end = context.Pipe()
        self.process = context.Process(
            target=_serve, args=(child_end, self.shared), name="shrinkvis-draw", daemon=True
        )
        self.process.start()
        child_end.close()
        self.finished = False

    # --- this side ----------------------------------------------------------------------------------
    def draw(self, job: Job) -> None:
        """Hand the job over; the drawing process starts at once."""
        self.connection.send(job)

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
        try:
            message = self.connection.recv()
        except (EOFError, OSError):
            self.process.join(STOP_SECONDS)
            raise RenderError(
                f"the drawing process ended unexpectedly (exit code {self.process.exitcode})"
            ) from None
        if message[0] == "error":
            raise message[1]
        return message

    def close(self) -> None:
        """Stop the drawing process: at once when the run did not finish (it removes its temporary
        files on the way out), else when it is done."""
        self.connection.close()
        if not self.finished and self.process.is_alive():
            self.process.terminate()
        self.process.join(STOP_SECONDS)
        if self.process.is_alive():  # stuck: no cleanup is worth hanging the command for
            self.process.kill()
            self.process.join()
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
        if message[0] == "frame":
            slot = message[1]
            frame = self._slots[slot].copy()  # a copy, so that the slot can be drawn into again
            self.drawing.connection.send(("free", slot))
            self._previous = frame
            return frame
        if message[0] == "end" and last_allowed:
            return None
        raise RenderError(f"the drawing process sent {message[0]!r} where a frame was due")

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


def _serve(connection: Connection, shared: mmap.mmap) -> None:
    """The drawing process: load, wait for the job, draw it; every failure goes back as a message."""
    from .outputs import interrupts_raise

    # Signals raise within the block (the files being written are removed on the way out), once: a
    # second one (Ctrl-C reaches both processes, then the other one stops this one) is ignored. Nothing
    # may escape, or multiprocessing prints a traceback.
    with contextlib.suppress(BaseException), interrupts_raise():
        try:
            _load()
            try:
                job = connection.recv()
            except EOFError:  # the run stopped before there was anything to draw
                return
            _draw(connection, shared, job)
            connection.send(("done",))
        except BaseException as exc:  # handed to the other process, which raises it
            exc = _transportable(exc)
            exc.drawing_traceback = traceback.format_exc()  # type: ignore[attr-defined] — for --debug
            connection.send(("error", exc))


def _load() -> None:
    """Load what drawing needs, while the other process fits. (Drawing a throwaway figure as well, to
    warm the font caches, was measured to cost more than it saved.)"""
    from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: F401
    from matplotlib.figure import Figure  # noqa: F401

    from . import animation, render, shrinkage_plot  # noqa: F401
    from .render import funnel, lines, plane  # noqa: F401


def _draw(connection: Connection, shared: mmap.mmap, job: Job) -> None:
    from .animation import palette_frames, story_progress, write_stills
    from .encode import write_png
    from .outputs import atomic_path, enter_safely
    from .render import renderer as make_renderer
    from .shrinkage_plot import shrinkage_by_size

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
            free = collections.deque(range(n_slots))
            connection.send(("size", (width, height), n_slots))

            def hand_over(frame: np.ndarray) -> None:
                if not free:
                    message = connection.recv()
                    if message[0] != "free":
                        raise RenderError(
                            f"the encoding process sent {message[0]!r} where a free slot was due"
                        )
                    free.append(message[1])
                slot = free.popleft()
                slots[slot][...] = frame
                connection.send(("frame", slot))

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
