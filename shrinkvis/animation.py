"""A storyboard → its files: the frames are drawn once, in order, and handed to every video writer.

Nothing here needs pandas or the fitting code, so a process that only draws (see `drawing`) loads the
drawing libraries and nothing else.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .encode import BackgroundWriter, GifWriter, Mp4Writer, shared_palette, write_png
from .outputs import atomic_path

if TYPE_CHECKING:
    from .scenario import Format
    from .story import Storyboard

PALETTE_SAMPLES = 9  # frames spread over the animation that the shared GIF palette is built from


def palette_frames(progress: np.ndarray) -> list[int]:
    """The frames the shared GIF palette is built from, given each frame's progress (0 → 1).

    Spread evenly over the motion rather than over the frames: the pauses hold one picture for many
    frames, and the easing crosses the middle quickly, yet the middle's colours need entries too.
    """
    targets = np.linspace(progress.min(), progress.max(), PALETTE_SAMPLES)
    return sorted({int(np.argmin(np.abs(progress - target))) for target in targets})


def output_files(view: str, formats: tuple[Format, ...], out_dir: Path) -> dict[str, Path]:
    """kind → path of what `write_animation` writes: `<view>.<format>`, and `<view>_start.png` with a PNG."""
    files: dict[str, Path] = {fmt: out_dir / f"{view}.{fmt}" for fmt in formats}
    if "png" in formats:
        files["png_start"] = out_dir / f"{view}_start.png"
    return files


def write_animation(story: Storyboard, files: dict[str, Path]) -> None:
    """Draw the storyboard and write the files `output_files` named.

    `.gif`, `.mp4`: the animation; `.png`: the final state, `_start.png` the first; `.svg`: the final
    state. The writers encode in their own threads while the next frame is drawn. Each file is written
    under a temporary name and renamed into place only once complete.
    """
    from .render import renderer as make_renderer

    with contextlib.ExitStack() as stack:
        renderer = make_renderer(story)
        stack.callback(renderer.close)
        writers: list[BackgroundWriter] = []
        if "gif" in files:
            gif_path = stack.enter_context(atomic_path(files["gif"]))
            samples = [renderer.frame(index) for index in palette_frames(story.timeline.position)]

            def make_gif() -> GifWriter:
                return GifWriter(gif_path, story.fps, shared_palette(samples))

            writers.append(stack.enter_context(BackgroundWriter(make_gif, "gif")))
        if "mp4" in files:
            mp4_path = stack.enter_context(atomic_path(files["mp4"]))
            width, height = renderer.size

            def make_mp4() -> Mp4Writer:
                return Mp4Writer(mp4_path, story.fps, width, height)

            writers.append(stack.enter_context(BackgroundWriter(make_mp4, "mp4")))
        last_frame = None
        if writers:
            for frame in renderer:
                for writer in writers:
                    writer.add(frame)
                last_frame = frame
            for writer in writers:
                writer.end()  # each finishes its file in its thread, side by side
        if "png" in files:
            still = last_frame if last_frame is not None else renderer.frame(story.n_frames - 1)
            write_png(stack.enter_context(atomic_path(files["png"])), still)
            write_png(stack.enter_context(atomic_path(files["png_start"])), renderer.frame(0))
        if "svg" in files:
            stack.enter_context(atomic_path(files["svg"])).write_bytes(renderer.svg())
    # leaving the block waited for the writers, raising any error of theirs, and renamed every file
    # into place (or removed them all after an error)
