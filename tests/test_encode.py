from __future__ import annotations

import ctypes
import functools

import av
import numpy as np
import pytest
from PIL import Image

from shrinkvis.encode import (
    GIF_TOLERANCE,
    X264_AVX512_FEATURES,
    X264_WITHOUT_AVX512_NEEDS,
    BackgroundWriter,
    GifWriter,
    Mp4Writer,
    PaletteLookup,
    colour_keys,
    key_colours,
    shared_palette,
    write_png,
    x264_params,
)

WHITE, GREY, ORANGE, BLUE = (255, 255, 255), (235, 235, 235), (230, 159, 0), (0, 114, 178)


def moving_square(n_frames: int, hold: int = 0, rgba: bool = False) -> list[np.ndarray]:
    """A grey grid line and a square moving right, changing colour halfway; `hold` still frames at
    each end."""
    frames = []
    positions = [0] * hold + list(range(n_frames)) + [n_frames - 1] * hold
    for index, x in enumerate(positions):
        frame = np.full((40, 60, 3), WHITE, np.uint8)
        frame[20, :] = GREY
        frame[10:18, 4 + 3 * x : 12 + 3 * x] = ORANGE if index < len(positions) // 2 else BLUE
        if rgba:
            frame = np.concatenate([frame, np.full((40, 60, 1), 255, np.uint8)], axis=2)
        frames.append(frame)
    return frames


def gif_frames(path) -> tuple[list[np.ndarray], list[int], int | None]:
    """Every stored GIF image as the viewer shows it (RGB), its delay in ms, and the loop count."""
    with Image.open(path) as image:
        shown, delays = [], []
        for index in range(image.n_frames):
            image.seek(index)
            shown.append(np.asarray(image.convert("RGB")))
            delays.append(image.info["duration"])
        return shown, delays, image.info.get("loop")


def write_gif(path, frames, fps=10):
    writer = GifWriter(path, fps, shared_palette(frames))
    for frame in frames:
        writer.add(frame)
    writer.close()


def test_colour_keys_are_the_same_from_rgb_and_rgba():
    rgb = moving_square(3)[1]
    rgba = moving_square(3, rgba=True)[1]
    keys = colour_keys(rgb)
    assert keys.shape == (40, 60)
    np.testing.assert_array_equal(keys, colour_keys(rgba))
    np.testing.assert_array_equal(key_colours(keys.reshape(-1)), rgb.reshape(-1, 3))
    assert colour_keys(np.array([[[1, 2, 3]]], np.uint8))[0, 0] == 1 + 2 * 256 + 3 * 65536


def test_palette_lookup_finds_the_nearest_colour_and_remembers_it():
    palette = np.array([WHITE, (0, 0, 0), ORANGE], np.uint8)
    lookup = PaletteLookup(palette)
    pixels = np.array([[250, 250, 250], [10, 0, 5], [200, 150, 20], [0, 0, 0]], np.uint8)
    np.testing.assert_array_equal(lookup(colour_keys(pixels[None])[0]), [0, 1, 2, 1])
    assert lookup.n_colours == 4  # each distinct colour matched once
    more = np.array([[200, 150, 20], [254, 255, 255]], np.uint8)
    np.testing.assert_array_equal(lookup(colour_keys(more[None])[0]), [2, 0])
    assert lookup.n_colours == 5


def test_palette_lookup_matches_the_nearest_colour_by_integer_distance():
    rng = np.random.default_rng(6)
    palette = rng.integers(0, 256, (255, 3), dtype=np.uint8)
    palette[7] = palette[3]  # a tie: the first of two equal entries wins
    pixels = np.concatenate([rng.integers(0, 256, (3000, 3), dtype=np.uint8), palette[:20]])
    squared = ((pixels[:, None, :].astype(np.int64) - palette[None, :, :]) ** 2).sum(axis=2)
    got = PaletteLookup(palette)(colour_keys(pixels[None])[0])
    np.testing.assert_array_equal(got, squared.argmin(axis=1))
    assert 3 in got and 7 not in got


def test_shared_palette_keeps_the_exact_flat_colours():
    palette = {tuple(colour) for colour in shared_palette(moving_square(8))}
    assert {WHITE, GREY, ORANGE, BLUE} <= palette


def test_shared_palette_keeps_a_colour_of_a_single_pixel():
    frames = moving_square(4)
    frames[2][30, 30] = (200, 0, 100)  # one pixel among 2400 × 4, far from every other colour
    palette = {tuple(colour) for colour in shared_palette(frames)}
    assert {(200, 0, 100), WHITE, GREY, ORANGE, BLUE} <= palette


@pytest.mark.parametrize("rgba", [False, True])
def test_gif_shows_every_frame_exactly_and_merges_the_pauses(tmp_path, rgba):
    frames = moving_square(6, hold=3, rgba=rgba)  # 3 + 6 + 3 = 12 frames, 6 distinct
    path = tmp_path / "square.gif"
    write_gif(path, frames)
    shown, delays, loop = gif_frames(path)
    assert loop == 0
    assert len(shown) == 6  # each hold is one image with a longer delay
    assert delays == [400, 100, 100, 100, 100, 400]
    distinct = [frames[0], *frames[4:9]]
    for got, expected in zip(shown, distinct, strict=True):
        np.testing.assert_array_equal(got, expected[..., :3])


def test_gif_delta_frames_store_only_the_changed_rectangle(tmp_path):
    path = tmp_path / "square.gif"
    write_gif(path, moving_square(6))
    with Image.open(path) as image:
        image.seek(2)
        # the square moved 3 px right: old and new position, 8 rows high, not the whole 60 × 40 frame
        assert image.tile[0][1][2] - image.tile[0][1][0] <= 11
        assert image.tile[0][1][3] - image.tile[0][1][1] == 8


@pytest.mark.parametrize(("nudge", "stored"), [(GIF_TOLERANCE, 1), (GIF_TOLERANCE + 1, 2)])
def test_gif_leaves_pixels_that_are_within_the_tolerance(tmp_path, nudge, stored):
    base = moving_square(2)[0]
    assert (base[12, 6] == ORANGE).all()
    nudged_orange = np.array(ORANGE) + [0, nudge, 0]
    nudged = base.copy()
    nudged[10:18, 4:12] = nudged_orange
    # both oranges are in the palette: the nudged one is the best match for the second frame
    palette = np.array([WHITE, GREY, ORANGE, nudged_orange], np.uint8)
    writer = GifWriter(tmp_path / "nudge.gif", 10, palette)
    for frame in (base, nudged, nudged):
        writer.add(frame)
    writer.close()
    shown, delays, _ = gif_frames(tmp_path / "nudge.gif")
    assert len(shown) == stored and sum(delays) == 300
    np.testing.assert_array_equal(shown[-1][12, 6], ORANGE if stored == 1 else nudged_orange)


def test_gif_delays_follow_the_clock_at_any_frame_rate(tmp_path):
    path = tmp_path / "thirty.gif"
    write_gif(path, moving_square(9), fps=30)
    _, delays, _ = gif_frames(path)
    # 9 frames at 30 fps are 30 centiseconds; each delay rounds the running clock, not the step
    assert delays == [30, 40, 30, 30, 40, 30, 30, 40, 30]
    assert sum(delays) == 300


def _mp4_bytes(path, frames, width=60, height=40) -> bytes:
    writer = Mp4Writer(path, 10, width, height)
    for frame in frames:
        writer.add(frame)
    writer.close()
    return path.read_bytes()


def _fresh_copies(frames: list[np.ndarray], rng: np.random.Generator) -> list[np.ndarray]:
    """The same frames in new arrays, allocated where arrays of random bytes were just freed: memory
    around them then holds different bytes each time, as in a long-running process."""
    copies = []
    for frame in frames:
        junk = [rng.integers(0, 256, frame.size + 256, dtype=np.uint8) for _ in range(3)]
        del junk
        copies.append(frame.copy())
    return copies


def test_files_are_byte_reproducible(tmp_path):
    frames = moving_square(10, hold=2, rgba=True)
    digests = []
    for attempt in range(2):
        folder = tmp_path / str(attempt)
        folder.mkdir()
        write_gif(folder / "a.gif", frames)
        _mp4_bytes(folder / "a.mp4", frames)
        write_png(folder / "a.png", frames[-1])
        digests.append([(folder / name).read_bytes() for name in ("a.gif", "a.mp4", "a.png")])
    assert digests[0] == digests[1]


@functools.cache
def _c_allocator() -> ctypes.CDLL:
    """The process's own malloc and free (the C library is already loaded: no search for it)."""
    libc = ctypes.CDLL(None)
    libc.malloc.restype, libc.malloc.argtypes = ctypes.c_void_p, [ctypes.c_size_t]
    libc.free.argtypes = [ctypes.c_void_p]
    return libc


def _soil_the_heap(rng: np.random.Generator) -> None:
    """Fill blocks of the C heap with random bytes and free them: the encoder's next allocations (x264's
    own, made with the C allocator) start with whatever is left there."""
    libc = _c_allocator()
    blocks = []
    for size in rng.integers(16, 300_000, 200):
        block = libc.malloc(int(size))
        assert block, "malloc failed"
        ctypes.memmove(block, rng.bytes(int(size)), int(size))
        blocks.append(block)
    for block in blocks:
        libc.free(block)


@pytest.mark.parametrize(("width", "height"), [(60, 40), (61, 41), (200, 150)])
def test_mp4_bytes_do_not_depend_on_what_the_heap_held(tmp_path, width, height):
    """The same frames written 30 times, each time after random bytes were left in the heap. x264's
    AVX-512 code reads memory it never wrote: on a CPU that has AVX-512 and with it in use, this gave 2-4
    variants in 30 writes at each of these sizes (one variant elsewhere; on a CPU without AVX-512 the
    test cannot fail, and `test_x264_is_kept_off_avx512_where_the_cpu_has_it` checks the choice)."""
    rng = np.random.default_rng(2)
    frames = [
        np.pad(frame, ((0, height - 40), (0, width - 60), (0, 0)), mode="edge")
        for frame in moving_square(12, hold=3)
    ]
    variants = set()
    for attempt in range(30):
        _soil_the_heap(rng)
        variants.add(_mp4_bytes(tmp_path / f"{attempt}.mp4", frames, width, height))
    assert len(variants) == 1


def test_x264_is_kept_off_avx512_where_the_cpu_has_it():
    everything = dict.fromkeys(X264_AVX512_FEATURES + X264_WITHOUT_AVX512_NEEDS + ("SSE42", "AVX"), True)
    assert x264_params(everything).endswith(":asm=AVX2")
    assert ":asm=" not in x264_params({**everything, "AVX512BW": False})  # x264 would not use AVX-512
    assert ":asm=" not in x264_params({name: True for name in X264_WITHOUT_AVX512_NEEDS})
    assert ":asm=" not in x264_params({})  # numpy did not say (or not an x86 CPU): x264 decides
    # never an instruction set the CPU lacks: a VM that hides AVX2 but shows AVX-512 keeps x264's own choice
    assert ":asm=" not in x264_params({**everything, "AVX2": False})


@pytest.mark.parametrize(("rgba", "size"), [(True, (60, 40)), (False, (60, 40)), (True, (61, 41))])
def test_mp4_bytes_do_not_depend_on_the_memory_around_the_frames(tmp_path, rgba, size):
    """Many writes of the same frames, each from fresh arrays among freed random bytes and interleaved
    with other writes: a byte read from outside the frames, or from uninitialised padding, shows up as
    a second variant within a few writes. (The encoder copies each frame into zeroed memory of its own
    and zeroes the padding it converts to; what varied in full test runs was x264's AVX-512 code, see
    `test_mp4_bytes_do_not_depend_on_what_the_heap_held`.)"""
    width, height = size
    frames = [
        np.pad(frame, ((0, height - 40), (0, width - 60), (0, 0)), mode="edge")
        for frame in moving_square(6, hold=2, rgba=rgba)
    ]
    rng = np.random.default_rng(1)
    variants = set()
    for attempt in range(30):
        variants.add(_mp4_bytes(tmp_path / f"{attempt}.mp4", _fresh_copies(frames, rng), width, height))
        noise = [rng.integers(0, 256, (height, width, 3), dtype=np.uint8) for _ in range(2)]
        _mp4_bytes(tmp_path / "other.mp4", noise, width, height)  # the same encoder, other pixels
    assert len(variants) == 1


def test_held_frames_given_as_the_same_array_give_the_same_bytes(tmp_path):
    """The renderer hands out a pause as the very array of the frame before; the writers skip it
    without looking, and must write what they write for equal frames that are separate arrays."""
    copies = moving_square(5, hold=3, rgba=True)
    same = list(copies)
    for index in range(1, len(same)):
        if np.array_equal(same[index], same[index - 1]):
            same[index] = same[index - 1]
    assert sum(same[index] is same[index - 1] for index in range(1, len(same))) == 6  # 3 at each end
    written = set()
    for attempt in range(10):
        for name, frames in (("copies", copies), ("same", same)):
            write_gif(tmp_path / f"{name}.gif", frames)
            mp4 = _mp4_bytes(tmp_path / f"{name}{attempt}.mp4", frames)
            written.add(((tmp_path / f"{name}.gif").read_bytes(), mp4))
    assert len(written) == 1


@pytest.mark.parametrize("rgba", [False, True])
def test_mp4_crops_to_even_size(tmp_path, rgba):
    frames = [np.pad(frame, ((0, 1), (0, 1), (0, 0)), mode="edge") for frame in moving_square(4, rgba=rgba)]
    path = tmp_path / "odd.mp4"
    writer = Mp4Writer(path, 10, 61, 41)
    for frame in frames:
        writer.add(frame)
    writer.close()
    with av.open(str(path)) as container:
        decoded = [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]
    assert len(decoded) == 4 and decoded[0].shape == (40, 60, 3)
    # the square (orange) is where it was drawn: lossy, so compare its mean colour
    assert np.abs(decoded[0][11:17, 5:11].reshape(-1, 3).mean(axis=0) - ORANGE).max() < 12


def test_png_drops_alpha(tmp_path):
    path = tmp_path / "still.png"
    frame = moving_square(1, rgba=True)[0]
    write_png(path, frame)
    with Image.open(path) as image:
        assert image.mode == "RGB"
        np.testing.assert_array_equal(np.asarray(image), frame[..., :3])


class _Recorder:
    def __init__(self, fail_at: int | None = None) -> None:
        self.frames: list[int] = []
        self.fail_at = fail_at
        self.state = "open"

    def add(self, frame: np.ndarray) -> None:
        if len(self.frames) == self.fail_at:
            raise OSError("disk full")
        self.frames.append(int(frame[0, 0, 0]))

    def close(self) -> None:
        self.state = "closed"

    def discard(self) -> None:
        self.state = "discarded"


def test_background_writer_keeps_the_order_and_closes():
    recorder = _Recorder()
    with BackgroundWriter(lambda: recorder) as writer:
        for value in range(30):
            writer.add(np.full((1, 1, 3), value, np.uint8))
    assert recorder.frames == list(range(30))
    assert recorder.state == "closed"


def test_background_writer_raises_the_threads_error_in_the_caller():
    recorder = _Recorder(fail_at=5)
    with pytest.raises(OSError, match="disk full"), BackgroundWriter(lambda: recorder) as writer:
        for value in range(100):
            writer.add(np.full((1, 1, 3), value, np.uint8))
    assert recorder.frames == [0, 1, 2, 3, 4]
    assert recorder.state == "discarded"


def test_background_writer_reports_a_writer_that_cannot_start():
    def cannot_open() -> _Recorder:
        raise PermissionError("read-only folder")

    writer = BackgroundWriter(cannot_open)
    with pytest.raises(PermissionError, match="read-only"):
        for value in range(50):  # never blocks, though nobody takes the frames
            writer.add(np.full((1, 1, 3), value, np.uint8))
        writer.close()


def test_background_writer_discards_after_an_interrupted_end(monkeypatch):
    """A signal that interrupts `end()`'s put of the last marker must not leave `discard` waiting for
    ever on a thread that waits for that marker."""
    import queue
    import threading

    recorder = _Recorder()
    writer = BackgroundWriter(lambda: recorder).start()
    writer.add(np.zeros((1, 1, 3), np.uint8))
    real_put = queue.Queue.put

    def interrupted_put(self, item, *args, **kwargs):
        if item is None:
            raise KeyboardInterrupt
        return real_put(self, item, *args, **kwargs)

    monkeypatch.setattr(queue.Queue, "put", interrupted_put)
    with pytest.raises(KeyboardInterrupt):
        writer.end()
    monkeypatch.setattr(queue.Queue, "put", real_put)
    stopping = threading.Thread(target=writer.discard, daemon=True)
    stopping.start()
    stopping.join(30)
    assert not stopping.is_alive() and not writer.thread.is_alive()
    assert recorder.state == "discarded"


def test_background_writer_stops_at_the_next_frame_when_discarded():
    """Discarding while the queue is full (the writer busy) does not wait for every queued frame."""
    import threading

    started, release = threading.Event(), threading.Event()

    class Slow(_Recorder):
        def add(self, frame):
            started.set()
            release.wait(30)
            super().add(frame)

    recorder = Slow()
    writer = BackgroundWriter(lambda: recorder).start()
    for value in range(BackgroundWriter.QUEUE_FRAMES + 1):
        writer.add(np.full((1, 1, 3), value, np.uint8))
    started.wait(30)
    stopping = threading.Thread(target=writer.discard, daemon=True)
    stopping.start()
    release.set()
    stopping.join(30)
    assert not stopping.is_alive()
    assert recorder.frames == [0] and recorder.state == "discarded"


class _Tripwire:
    """A queue whose `put` and `get` see a SIGINT arrive while they run, and note whether the
    interrupt was raised there, inside the queue's locking code (it must not be: see BackgroundWriter)."""

    def __init__(self, maxsize: int) -> None:
        import queue

        self.inner = queue.Queue(maxsize=maxsize)
        self.raised_inside: list[str] = []
        self.calls = 0

    def _tripped(self, name, call):
        import os
        import signal

        self.calls += 1
        try:
            os.kill(os.getpid(), signal.SIGINT)
            for _ in range(10_000):  # Python takes a signal between two steps: here, unless deferred
                pass
            return call()
        except KeyboardInterrupt:
            self.raised_inside.append(name)
            raise

    def put(self, item, block=True, timeout=None):
        return self._tripped("put", lambda: self.inner.put(item, block, timeout))

    def get(self, block=True, timeout=None):  # the writer's thread: signals go to the main thread
        return self.inner.get(block, timeout)


def test_a_signal_raises_between_queue_calls_never_inside_one():
    """A signal raised inside `threading.Condition.notify` can leave the writer's thread waiting for a
    wake-up that never comes (and the command with it): signals wait while the queue's code runs."""
    from shrinkvis.outputs import interrupts_raise

    recorder = _Recorder()
    writer = BackgroundWriter(lambda: recorder)
    tripwire = _Tripwire(writer.QUEUE_FRAMES)
    writer.queue = tripwire
    with interrupts_raise(), pytest.raises(KeyboardInterrupt), writer:
        for value in range(5):
            writer.add(np.full((1, 1, 3), value, np.uint8))
    assert tripwire.calls >= 2  # the frame, then the end marker while discarding
    assert tripwire.raised_inside == []
    assert recorder.frames in ([], [0]) and recorder.state == "discarded"
    assert not writer.thread.is_alive()


def test_a_signal_while_discarding_waits_until_the_thread_has_stopped():
    """The thread may be about to open its file (a GIF writer first builds its palette): were `discard`
    interrupted, the caller would remove the temporary file and the thread create it again."""
    import os
    import signal
    import threading
    import time

    from shrinkvis.outputs import interrupts_raise

    recorder = _Recorder()

    def slow_to_open() -> _Recorder:
        time.sleep(0.6)
        return recorder

    writer = BackgroundWriter(slow_to_open).start()
    signal_soon = threading.Timer(0.1, os.kill, (os.getpid(), signal.SIGINT))
    alive_when_raised = None
    with interrupts_raise():
        signal_soon.start()
        try:
            writer.discard()
            time.sleep(1.0)  # the signal would be raised here, had it not been before
        except KeyboardInterrupt:
            alive_when_raised = writer.thread.is_alive()
    signal_soon.join()
    assert alive_when_raised is False
    assert recorder.state == "discarded"
