"""Frames → file bytes: GIF (one shared palette, delta frames), MP4 (H.264 in-process), PNG.

A frame is an (H, W, 3) RGB or (H, W, 4) RGBA uint8 array (alpha is ignored: frames are opaque).
Writers take frames one at a time and write as they go, so a long animation never sits in memory, and
they are deterministic: the same frames give the same bytes.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import math
import queue
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, BinaryIO, Protocol

import numpy as np
from PIL import GifImagePlugin, Image

from .outputs import block_signals_in_this_thread, signals_deferred

GIF_COLORS = 255  # palette entries for pixels; the last of the 256 GIF indices means "unchanged"
GIF_UNCHANGED = 255  # transparent index: a delta frame shows the previous picture through it
GIF_PALETTE_PIXELS = 4  # a colour enters median cut once per this many of its pixels in the samples
GIF_TOLERANCE = 6  # RGB levels: a pixel on screen this close to its best palette colour is not redrawn
MP4_CRF = 23  # x264's default quality: clean thin lines on flat backgrounds, about 140 KB for the baseline
MP4_PRESET = "veryfast"  # 2-3× less CPU than "medium" for these frames at a similar size; faster
# presets ("superfast", "ultrafast") drop features that keep these frames small: 2-3× the bytes
MP4_TUNE = "animation"  # flat colours, long static stretches: more reference frames, stronger deblocking
# One x264 thread: the encoder already runs beside the renderer and the GIF writer, more threads only
# compete for the same cores; and the bytes then do not depend on how many cores the machine has.
MP4_THREADS = 1
# On top of the preset, measured on the baseline (120 frames, 600×450): subpixel motion search at its
# cheapest level and a fixed B-frame pattern (no adaptive B-frame decision) take x264 from 0.35 to 0.27 s
# of CPU and the file from 148 to 138 KB, with the decoded frames as close to the drawn ones as before
# (mean error 0.83 RGB levels). Cheaper motion search (me=dia) or a shorter lookahead saved no more time,
# or cost bytes or quality.
MP4_X264_PARAMS = "subme=1:b-adapt=0"
# x264's AVX-512 code, which it uses wherever the CPU has it, reads memory it never wrote while it plans
# the frames' quality (the lookahead's macroblock tree: without it, or without AVX-512, the variants are
# gone; without B-frames they are fewer): the same frames then gave other bytes from one write to the
# next, depending on what the heap held before (measured on an AMD EPYC with AVX-512: 2-4 variants in 30
# writes at 60×40, 61×41 and 200×150; none in 30 at each of six sizes from 60×40 to 600×450 with AVX-512
# left out; none without x264's assembly at all, which is 3× slower). On such a CPU x264 is told
# to use what it would without AVX-512, by its name for the set up to AVX2 (SSE2…SSE4.2, AVX, FMA3, LZCNT,
# BMI1/2, AVX2; every CPU with x264's AVX-512 has these): the same bytes as the usual ones, at the same
# speed (0.161 against 0.166 CPU s for the baseline's MP4). The features x264 needs for AVX-512:
X264_AVX512_FEATURES = ("AVX512F", "AVX512DQ", "AVX512CD", "AVX512BW", "AVX512VL")
X264_WITHOUT_AVX512 = "AVX2"
X264_WITHOUT_AVX512_NEEDS = ("AVX2", "FMA3", "BMI2")  # never forced on a CPU that lacks them


def x264_params(features: dict[str, bool]) -> str:
    """MP4_X264_PARAMS for a CPU with these features (numpy's names, see `cpu_features`)."""
    if all(features.get(name) for name in X264_AVX512_FEATURES + X264_WITHOUT_AVX512_NEEDS):
        return f"{MP4_X264_PARAMS}:asm={X264_WITHOUT_AVX512}"
    return MP4_X264_PARAMS


@functools.cache
def cpu_features() -> dict[str, bool]:
    """The instruction sets of this CPU that the system lets programs use (numpy checks both when it
    starts, on every platform, and keeps the answer); empty where numpy does not say."""
    for module in ("numpy._core._multiarray_umath", "numpy.core._multiarray_umath"):  # numpy 2, numpy 1
        with contextlib.suppress(ImportError, AttributeError):
            return dict(importlib.import_module(module).__cpu_features__)
    return {}


# ---------------------------------------------------------------------------------------------------------
# Colours as 24-bit keys: R + G·2⁸ + B·2¹⁶, one integer per pixel, cheap to compare and to look up


def colour_keys(frame: np.ndarray) -> np.ndarray:
    """(H, W, 3|4) uint8 → (H, W) uint32 colour keys."""
    if frame.shape[-1] == 4 and frame.flags.c_contiguous:
        # RGBA bytes read as little-endian 32-bit integers are R + G·2⁸ + B·2¹⁶ + A·2²⁴: drop A
        return frame.view("<u4")[..., 0] & 0xFFFFFF
    wide = frame.astype(np.uint32)
    return wide[..., 0] | (wide[..., 1] << 8) | (wide[..., 2] << 16)


def _pixel_words(frame: np.ndarray) -> np.ndarray:
    """(H, W, 3|4) uint8 → (H·W,) uint32 words whose low 24 bits are the colour key.

    An RGBA frame is read as it is (alpha in the high byte, no copy); an RGB one is converted.
    """
    if frame.shape[-1] == 4 and frame.flags.c_contiguous:
        return frame.view("<u4").reshape(-1)
    return colour_keys(frame).reshape(-1)


def key_colours(keys: np.ndarray) -> np.ndarray:
    """(n,) colour keys → (n, 3) uint8 RGB."""
    return np.stack([keys & 255, (keys >> 8) & 255, (keys >> 16) & 255], axis=-1).astype(np.uint8)


def _sorted_unique(values: np.ndarray) -> np.ndarray:
    """np.unique by sorting: faster than numpy's hashing for the few thousand values per frame here."""
    values = np.sort(values)
    return values[np.concatenate([[True], values[1:] != values[:-1]])]


# ---------------------------------------------------------------------------------------------------------
# GIF


def shared_palette(samples: Iterable[np.ndarray], reserved: np.ndarray | None = None) -> np.ndarray:
    """One palette for the whole GIF, as (k, 3) uint8 RGB with k ≤ 255, from frames spread over it.

    A single palette without dithering keeps unchanged pixels identical between frames, so each GIF
    frame only stores what moved. Median cut runs over the first sample whole plus, from the others,
    only the pixels that differ from it: the static background counts once, and the moving points in
    their changing colours get their share of the entries. Pillow's median cut takes pixels, not
    colours with counts, and its time grows with them: each distinct colour goes in once per
    GIF_PALETTE_PIXELS of its pixels (rounded up, so the rarest still count), a quarter as many.
    `reserved` ((r, 3) uint8) colours are entries of their own, and median cut shares out the rest.
    """
    reserved = np.zeros((0, 3), dtype=np.uint8) if reserved is None else np.asarray(reserved, dtype=np.uint8)
    first, *others = (colour_keys(sample) for sample in samples)
    keys = np.concatenate([first.reshape(-1), *(sample[sample != first] for sample in others)])
    colours, counts = np.unique(keys, return_counts=True)
    weights = -(-counts // GIF_PALETTE_PIXELS)
    column = key_colours(np.repeat(colours, weights))[:, None, :]  # an (n, 1) image of these pixels
    boxes = Image.fromarray(column).quantize(
        colors=GIF_COLORS - len(reserved), method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE
    )
    # every pixel of one colour lands in the same box: read each colour's box at its first pixel
    first_pixel = np.cumsum(weights) - weights
    chosen = _most_common_colours(colours, counts, np.asarray(boxes)[first_pixel, 0])
    return np.concatenate([chosen, reserved])


def _most_common_colours(colours: np.ndarray, counts: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """For each median-cut box, the colour that occurs most often in it rather than the box's mean.

    `colours` are distinct sorted keys, `counts` their pixels, `boxes` the box of each. Flat areas
    then keep their exact colours: the white background stays 255, black text stays 0.
    """
    order = np.lexsort((counts, boxes))  # by box, most frequent colour last within each box
    box = boxes[order]
    last_of_box = np.concatenate([box[1:] != box[:-1], [True]])
    return key_colours(colours[order][last_of_box])


class PaletteLookup:
    """Colour keys → index of the nearest palette colour, remembering every colour seen.

    A table over all 2²⁴ colours holds, for each colour seen so far, its palette index + 1 (0: not
    seen yet), so a lookup is one gather and each colour is matched against the palette once (an
    animation holds a few tens of thousands of distinct colours, and each frame brings few new ones).
    The table's 16 MB are zeros from calloc: only the pages the animation's colours fall on are ever
    touched.
    """

    def __init__(self, palette: np.ndarray) -> None:
        entries = palette.astype(np.float32)
        self.minus_twice_palette_t = np.ascontiguousarray(-2 * entries.T)  # (3, k)
        self.palette_norms = (entries * entries).sum(axis=1)  # (k,) |p|²
        self.table = np.zeros(1 << 24, dtype=np.uint8)
        self.n_colours = 0  # distinct colours matched so far

    def __call__(self, keys: np.ndarray) -> np.ndarray:
        """(n,) colour keys → (n,) uint8 palette indices."""
        entries = self.table[keys]
        unseen = entries == 0
        if unseen.any():
            new_keys = _sorted_unique(keys[unseen])
            chunks = range(0, len(new_keys), 2048)  # bounded memory: 2048 × 255 distances at a time
            for start in chunks:
                chunk = new_keys[start : start + 2048]
                self.table[chunk] = self._nearest(chunk) + 1
            self.n_colours += len(new_keys)
            entries = self.table[keys]
        return entries - 1

    def _nearest(self, keys: np.ndarray) -> np.ndarray:
        """Nearest palette entry by squared RGB distance; ties go to the first entry.

        |c − p|² = |c|² − 2 c·p + |p|², and |c|² is the same for every entry: one matrix product.
        Every term is an integer below 2²⁴, so float32 holds it exactly whatever the summation order,
        and the result is the same on every machine (a third of the time of integer arithmetic).
        """
        colours = key_colours(keys).astype(np.float32)
        distance = colours @ self.minus_twice_palette_t
        distance += self.palette_norms
        return distance.argmin(axis=1).astype(np.uint8)


@dataclass
class _HeldFrame:
    """A GIF image written only once its delay is known, i.e. when the picture next changes."""

    image: Image.Image
    offset: tuple[int, int]
    first_frame: int
    delta: bool


class GifWriter:
    """An animated GIF with one global palette, looping forever.

    The first frame is stored whole. Every later frame stores only the rectangle that changed, with
    the pixels inside it that did not change set to a transparent index, which LZW packs into a few
    bytes; "do not dispose" keeps the previous picture underneath. Identical frames (the pauses) are
    stored once with a longer delay. Delays are in centiseconds, rounded on the running clock so the
    total length is exact at any frame rate.

    A frame must not change once added: the writer keeps it to compare the next one with, and takes
    a frame that is the very same array as the one before (a pause) as unchanged without looking.
    """

    def __init__(self, path: Path, fps: int, palette: np.ndarray) -> None:
        if not 1 <= len(palette) <= GIF_COLORS:
            raise ValueError(f"a GIF palette holds 1 to {GIF_COLORS} colours, not {len(palette)}")
        self.fps = fps
        self.palette = palette
        self.palette_channels = [np.ascontiguousarray(palette[:, channel], np.int16) for channel in range(3)]
        self.lookup = PaletteLookup(palette)
        self.file: BinaryIO = open(path, "wb")  # noqa: SIM115 — closed in close()
        self.n_frames = 0
        self.width = 0
        self.screen: np.ndarray | None = None  # (H·W,) palette indices a viewer shows after the frames so far
        self.last_frame: np.ndarray | None = None  # the last frame added…
        self.last_words: np.ndarray | None = None  # …as one 32-bit word per pixel
        self.held: _HeldFrame | None = None

    def add(self, frame: np.ndarray) -> None:
        if frame is self.last_frame:  # a held frame (a pause): the very array of the frame before
            self.n_frames += 1
            return
        words = _pixel_words(frame)
        if self.screen is None:
            height, self.width = frame.shape[:2]
            self._write_header(self.width, height)
            self.screen = self.lookup(words & 0xFFFFFF)
            # a copy: Pillow may share the array's memory, and the screen changes before this is written
            image = Image.fromarray(self.screen.reshape(height, self.width).copy())
            self.held = _HeldFrame(image, (0, 0), 0, delta=False)
        else:
            self._add_delta(words)
        self.last_frame, self.last_words = frame, words
        self.n_frames += 1

    def _add_delta(self, words: np.ndarray) -> None:
        assert self.screen is not None and self.last_words is not None
        moved = np.flatnonzero(words != self.last_words)  # sorted flat indices; 10× faster than 2-D
        if len(moved) == 0:
            return
        wanted = words[moved] & 0xFFFFFF
        best = self.lookup(wanted)
        shown = self.screen[moved]
        changed = best != shown
        moved, wanted, best, shown = moved[changed], wanted[changed], best[changed], shown[changed]
        # Leave a pixel as it is on screen when that colour is within GIF_TOLERANCE of the best palette
        # colour: a pixel not rewritten costs no bytes, and the error stays bounded.
        redraw = self._error(shown, wanted) > self._error(best, wanted) + GIF_TOLERANCE
        if not redraw.any():
            return
        moved, best = moved[redraw], best[redraw]
        self.screen[moved] = best
        rows, cols = np.divmod(moved, self.width)
        top, bottom = int(rows[0]), int(rows[-1])  # `moved` is sorted, so its rows are too
        left, right = int(cols.min()), int(cols.max())
        patch = np.full((bottom + 1 - top, right + 1 - left), GIF_UNCHANGED, np.uint8)
        patch[rows - top, cols - left] = best
        self._write_held()
        self.held = _HeldFrame(Image.fromarray(patch), (left, top), self.n_frames, delta=True)

    def _error(self, entries: np.ndarray, keys: np.ndarray) -> np.ndarray:
        """Largest difference over R, G, B between palette entries and colours, as (n,) int16.

        Channel by channel on 1-D arrays: gathering (n, 3) rows and reducing over the short last axis
        costs ten times as much in numpy.
        """
        error = np.zeros(len(keys), dtype=np.int16)
        for channel, levels in enumerate(self.palette_channels):
            difference = levels[entries] - ((keys >> (8 * channel)) & 255).astype(np.int16)
            np.maximum(error, np.abs(difference), out=error)
        return error

    def _centiseconds(self, frame_index: int) -> int:
        return round(100 * frame_index / self.fps)

    def _write_held(self) -> None:
        held = self.held
        if held is None:
            return
        delay = self._centiseconds(self.n_frames) - self._centiseconds(held.first_frame)
        params: dict[str, int] = {"duration": 10 * delay, "disposal": 1}  # ms; written as centiseconds
        if held.delta:
            params["transparency"] = GIF_UNCHANGED
        # Pillow's GIF frame writer: graphic control extension, image descriptor, LZW data
        for chunk in GifImagePlugin.getdata(held.image, offset=held.offset, **params):
            self.file.write(chunk)
        self.held = None

    def _write_header(self, width: int, height: int) -> None:
        table = np.zeros((256, 3), dtype=np.uint8)
        table[: len(self.palette)] = self.palette
        self.file.write(
            b"GIF89a"
            + width.to_bytes(2, "little")
            + height.to_bytes(2, "little")
            + bytes([0xF7, 0, 0])  # a global colour table of 2^(7+1) entries; background 0; square pixels
            + table.tobytes()
            + b"!\xff\x0bNETSCAPE2.0\x03\x01\x00\x00\x00"  # application extension: loop forever
        )

    def close(self) -> None:
        try:
            if self.n_frames:
                self._write_held()
                self.file.write(b";")
        finally:
            self.file.close()

    def discard(self) -> None:
        """Stop after an error elsewhere: release the file, leave it unfinished."""
        self.file.close()


# ---------------------------------------------------------------------------------------------------------
# MP4


class Mp4Writer:
    """H.264 in yuv420p with even dimensions and the index first, so browsers and slides play it.

    A frame must not change once added: a frame that is the very same array as the one before (a
    pause) reuses its conversion without looking.
    """

    def __init__(self, path: Path, fps: int, width: int, height: int) -> None:
        import av
        from av.video.reformatter import VideoReformatter

        self.width = width - width % 2
        self.height = height - height % 2
        self.container = av.open(str(path), mode="w", format="mp4", options={"movflags": "+faststart"})
        self.stream = self.container.add_stream("libx264", rate=fps)
        self.stream.width = self.width
        self.stream.height = self.height
        self.stream.pix_fmt = "yuv420p"
        self.stream.options = {
            "crf": str(MP4_CRF),
            "preset": MP4_PRESET,
            "tune": MP4_TUNE,
            "threads": str(MP4_THREADS),
            "x264-params": x264_params(cpu_features()),
        }
        self.time_base = Fraction(1, fps)
        self._frame_type = av.VideoFrame
        # one swscale context for every frame: a fresh one per frame costs as much as the conversion
        self._reformatter = VideoReformatter()
        self.n_frames = 0
        self._last_frame: np.ndarray | None = None  # the last frame as given, to spot repeats
        self._last_yuv: Any = None  # …and as converted for the encoder
        self._input: np.ndarray | None = None  # see _input_buffer

    def add(self, frame: np.ndarray) -> None:
        # RGB → YUV is a third of the cost per frame; a repeated frame (a pause) reuses the last conversion
        if frame is not self._last_frame:
            pixels = self._input_buffer(frame.shape[-1])
            pixels[: self.height, : self.width] = frame[: self.height, : self.width]
            rgb = self._frame_type.from_numpy_buffer(
                pixels[: self.height], format="rgba" if frame.shape[-1] == 4 else "rgb24", width=self.width
            )
            self._last_yuv = self._reformatter.reformat(rgb, format="yuv420p", threads=1)
            _zero_padding(self._last_yuv, (self.width, self.width // 2, self.width // 2))
            self._last_frame = frame
        video_frame = self._last_yuv
        video_frame.pts = self.n_frames
        video_frame.time_base = self.time_base
        self.n_frames += 1
        for packet in self.stream.encode(video_frame):
            self.container.mux(packet)

    def _input_buffer(self, channels: int) -> np.ndarray:
        """The frame is copied into memory of our own before conversion: rows padded to a multiple of 64
        bytes and spare rows below, all zeros. Vector code may read a little past a row or past the
        last one; here it finds zeros, never whatever happens to follow a numpy array in memory, which
        differs from one write to the next. (0.1 ms per 600×450 frame.)"""
        if self._input is None or self._input.shape[-1] != channels:
            step = 64 // math.gcd(64, channels)  # pixels per row: a multiple of this is 64-byte aligned
            row_pixels = -(-self.width // step) * step
            self._input = np.zeros((self.height + 2, row_pixels, channels), np.uint8)
        return self._input

    def close(self) -> None:
        for packet in self.stream.encode():
            self.container.mux(packet)
        self.container.close()

    def discard(self) -> None:
        """Stop after an error elsewhere: release the encoder and the file, leave it unfinished."""
        self.container.close()


def _zero_padding(frame: Any, widths: tuple[int, ...]) -> None:
    """Zero the bytes past each plane's visible width (each row is padded for alignment): they come
    from freshly allocated memory, and no byte the encoder could read may vary between runs."""
    for plane, width in zip(frame.planes, widths, strict=True):
        rows = np.frombuffer(plane, np.uint8).reshape(-1, plane.line_size)
        rows[:, width:] = 0


class FrameWriter(Protocol):
    def add(self, frame: np.ndarray) -> None: ...
    def close(self) -> None: ...
    def discard(self) -> None: ...


class BackgroundWriter:
    """Runs a writer in its own thread, fed through a short queue.

    Measured on 2 cores: the GIF and MP4 threads together take about as long as the two writers one after
    the other, and beside matplotlib drawing they barely overlap either — most of the work holds the GIL.
    What the threads give is a caller that is free while a writer works: in `shrinkvis run` the main
    thread receives the next frame from the drawing process (see `drawing`, where the real parallelism
    is) while the writers encode. The writer is made in the thread too (a GIF writer first builds its
    palette), and finishes its file there after the last frame. It still
    sees the frames in order, so the bytes are the same as without threads. An error in the thread
    is raised again in the caller by the next `add` or by `close`.

    Signals. A terminating signal raises an exception in the caller's (main) thread between any two
    steps of its Python code (see `outputs`). Raised inside the queue's or the thread's locking code
    (`threading.Condition.notify` between releasing a waiter and forgetting it, say), it leaves that
    state broken: the writer thread then misses the next wake-up and waits in `get` for ever, and the
    caller with it (seen: 2 in about 100 interrupted batches). So every call here that takes those locks
    runs with signals deferred (`outputs.signals_deferred`) and waits at most POLL_SECONDS at a time: a
    signal raises between two such calls, within POLL_SECONDS, never inside one. `discard` completes
    before a signal raises: the thread may not have opened its file yet, and must not create it after
    the caller removed the temporary file.
    """

    QUEUE_FRAMES = 8  # frames in flight: enough to even out uneven frames, little memory
    POLL_SECONDS = 0.1  # a caller waiting for room in the queue checks this often that the thread still runs

    def __init__(self, make_writer: Callable[[], FrameWriter], name: str = "writer") -> None:
        self.make_writer = make_writer
        self.queue: queue.Queue[np.ndarray | None] = queue.Queue(maxsize=self.QUEUE_FRAMES)
        self.error: BaseException | None = None
        self.ended = False  # the caller has sent the last frame
        self.finished = False  # the thread has stopped: nothing more is taken from the queue
        self.discarding = False  # …and wants the file dropped, not finished
        # started by `with` (or the first frame), not here: entering it as one step lets a caller keep
        # signals out of the moment between starting the thread and registering its cleanup
        self.thread = threading.Thread(target=self._work, name=name, daemon=True)
        self.started = False

    def start(self) -> BackgroundWriter:
        if not self.started:
            self.started = True
            self.thread.start()
        return self

    def _work(self) -> None:
        block_signals_in_this_thread()  # so that they reach the main thread and interrupt its waits
        writer: FrameWriter | None = None
        frame: np.ndarray | None = np.empty(0)
        try:
            writer = self.make_writer()
            while (frame := self.queue.get()) is not None and not self.discarding:
                writer.add(frame)
            if self.discarding:
                writer.discard()
            else:
                writer.close()
        except BaseException as exc:  # handed over to the caller's thread
            self.error = exc
            if writer is not None:
                with contextlib.suppress(Exception):
                    writer.discard()
        finally:
            self.finished = True

    def add(self, frame: np.ndarray) -> None:
        self._raise_error()
        self.start()
        self._put(frame)

    def _put(self, item: np.ndarray | None) -> None:
        """Into the queue, unless the thread has stopped (after an error, or discarding): nobody would
        take it, and a plain `put` would wait for ever. Signals wait while the queue's locks are held
        (see the class's docstring): a signal raises within POLL_SECONDS, between two tries."""
        while not self.finished:
            with signals_deferred():
                try:
                    self.queue.put(item, timeout=self.POLL_SECONDS)
                    return
                except queue.Full:
                    continue

    def _join(self) -> None:
        """Until the thread has stopped; a signal raises within POLL_SECONDS, between two waits."""
        while self.thread.is_alive():
            with signals_deferred():
                self.thread.join(self.POLL_SECONDS)

    def end(self) -> None:
        """No more frames: the thread finishes the file while the caller goes on. Marked as sent only
        once it was: a signal that interrupts the `put` leaves it to be sent again by `discard`."""
        self.start()
        if not self.ended:
            self._put(None)
            self.ended = True

    def close(self) -> None:
        """Wait until the file is finished; raise the thread's error, if any. Interrupted, it discards
        the file instead (the thread may not even have opened it yet), then raises."""
        try:
            self.end()
            self._join()
        except BaseException:
            self.discard()
            raise
        self._raise_error()

    def discard(self) -> None:
        """Stop after an error elsewhere: the file is dropped, not finished. The thread stops after the
        frame it is writing. A signal meanwhile waits until the thread has stopped: returning earlier
        would let the caller remove the temporary file while the thread may still create it."""
        self.discarding = True
        if not self.started:  # no writer was made: nothing to drop
            return
        with signals_deferred():
            self.end()
            self._join()

    def _raise_error(self) -> None:
        if self.error is not None:
            raise self.error

    def __enter__(self) -> BackgroundWriter:
        return self.start()

    def __exit__(self, exc_type: object, exc: object, traceback: object) -> None:
        if exc_type is None:
            self.close()
        else:
            self.discard()


# ---------------------------------------------------------------------------------------------------------
# PNG


def write_png(path: Path, frame: np.ndarray) -> None:
    # zlib level 3: for these flat-colour frames a little smaller than level 9 and five times faster
    Image.fromarray(np.ascontiguousarray(frame[..., :3])).save(path, format="PNG", compress_level=3)
