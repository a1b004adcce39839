"""How much CPU do the GIF and MP4 encoders take, and how close are their files to the drawn frames?

    python benchmarks/encode.py [--scenario baseline] [--runs 7]

Draws the scenario's frames once (as `write_animation` does: a held frame is the same array object
as the frame before), then runs each encoder alone in this thread, several times, and prints the
median CPU seconds (user + system of this process), the file sizes, and each file's error against the
drawn frames once decoded again (RGB levels: the largest and the mean absolute difference over all
frames and pixels). Not a test: nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import av
import numpy as np
from PIL import Image

from shrinkvis import pipeline, scenario
from shrinkvis.animation import palette_frames
from shrinkvis.encode import GifWriter, Mp4Writer, shared_palette
from shrinkvis.render import renderer as make_renderer


def draw(name: str) -> tuple[list[np.ndarray], list[np.ndarray], int]:
    """The animation's frames, the palette sample frames, and the frame rate."""
    chosen = scenario.load(name)
    data = pipeline.source_data(chosen)
    story = pipeline.storyboard(pipeline.fit_data(data, chosen), chosen, data)
    renderer = make_renderer(story)
    try:
        samples = [renderer.frame(index) for index in palette_frames(story.timeline.position)]
        return list(renderer), samples, story.fps
    finally:
        renderer.close()


def cpu_seconds(work: Callable[[], object], runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        start = time.process_time()
        work()
        times.append(time.process_time() - start)
    return times


def write_all(writer: GifWriter | Mp4Writer, frames: list[np.ndarray]) -> None:
    for frame in frames:
        writer.add(frame)
    writer.close()


def errors(decoded: list[np.ndarray], frames: list[np.ndarray]) -> tuple[int, float]:
    """Largest and mean absolute RGB difference, over the frames both have."""
    largest, total = 0, 0.0
    for got, drawn in zip(decoded, frames, strict=True):
        expected = drawn[: got.shape[0], : got.shape[1], :3].astype(np.int16)
        difference = np.abs(got.astype(np.int16) - expected)
        largest = max(largest, int(difference.max()))
        total += float(difference.mean())
    return largest, total / len(frames)


def gif_frames_at(path: Path, fps: int, n_frames: int) -> list[np.ndarray]:
    """What a viewer shows at each frame time: a stored image lasts its delay."""
    shown = []
    with Image.open(path) as image:
        for index in range(image.n_frames):
            image.seek(index)
            picture = np.asarray(image.convert("RGB"))
            shown += [picture] * round(image.info["duration"] * fps / 1000)
    return shown[:n_frames]


def mp4_frames(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", default="baseline")
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    frames, samples, fps = draw(args.scenario)
    height, width = frames[0].shape[:2]
    distinct = len({id(frame) for frame in frames})
    print(f"{args.scenario}: {len(frames)} frames ({distinct} distinct), {width}×{height}, {fps} fps")
    print("| encoder | CPU s, median (min–max) | size | error max / mean (RGB levels) |")
    print("|---|---|---|---|")

    def row(name: str, times: list[float], size: str, error: str = "") -> None:
        timing = f"{statistics.median(times):.3f} ({min(times):.3f}–{max(times):.3f})"
        print(f"| {name} | {timing} | {size} | {error} |")

    palette = shared_palette(samples)
    row("shared palette", cpu_seconds(lambda: shared_palette(samples), args.runs), f"{len(palette)} colours")
    with tempfile.TemporaryDirectory() as folder:
        gif, mp4 = Path(folder) / "a.gif", Path(folder) / "a.mp4"
        writers = [
            (
                "GIF writer",
                gif,
                lambda: GifWriter(gif, fps, palette),
                lambda: gif_frames_at(gif, fps, len(frames)),
            ),
            ("MP4 writer", mp4, lambda: Mp4Writer(mp4, fps, width, height), lambda: mp4_frames(mp4)),
        ]
        for name, path, make_writer, decode in writers:
            times = cpu_seconds(lambda make_writer=make_writer: write_all(make_writer(), frames), args.runs)
            largest, mean = errors(decode(), frames)
            row(name, times, f"{path.stat().st_size / 1000:.0f} KB", f"{largest} / {mean:.2f}")


if __name__ == "__main__":
    main()
