"""A storyboard → its files: the frames are drawn once, in order, and handed to every video writer.

Two halves, so that they can run in two processes (see `drawing`): `write_videos` encodes GIF and MP4 from
any source of frames; `write_stills` writes the PNG stills and the SVG from the renderer that drew them.
`write_animation` does both in one process. Nothing here needs pandas or the fitting code.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np

from .encode import BackgroundWriter, GifWriter, Mp4Writer, shared_palette, write_png
from .outputs import atomic_path, enter_safely

if TYPE_CHECKING:
    from .render import BlitRenderer
    from .scenario import Format
    from .story import Storyboard

PALETTE_SAMPLES = 9  # frames spread over the animation that the shared GIF palette is built from
BLEND_STEPS = 48  # colours the moving points take on their way, each kept as a palette entry
BLEND_ALPHAS = (1.0, 0.6)  # drawn opaque (points) and over the background (the funnel's whiskers)
VIDEO_KINDS = ("gif", "mp4")
STILL_KINDS = ("png", "png_start", "png_stage2", "svg")


class Frames(Protocol):
    """Frames in order, as (H, W, 4) RGBA uint8 arrays; a held frame is the very array of the one before."""

    @property
    def size(self) -> tuple[int, int]: ...  # width, height

    def palette_samples(self) -> list[np.ndarray]: ...  # the frames `palette_frames` picks

    def __iter__(self) -> Iterator[np.ndarray]: ...


def palette_frames(progress: np.ndarray) -> list[int]:
    """The frames the shared GIF palette is built from, given each frame's progress (0 → 1).

    Spread evenly over the motion rather than over the frames: the pauses hold one picture for many
    frames, and the easing crosses the middle quickly, yet the middle's colours need entries too.
    """
    targets = np.linspace(progress.min(), progress.max(), PALETTE_SAMPLES)
    return sorted({int(np.argmin(np.abs(progress - target))) for target in targets})


def story_progress(story: Storyboard) -> np.ndarray:
    """Each frame's way through the whole animation: its place on the timeline, plus the truth reveal's
    own progress where the storyboard ends with one (its points hold still meanwhile)."""
    reveal = getattr(story, "truth", None)
    return story.timeline.position + (reveal.progress if reveal is not None else 0.0)


def blend_colours(story: Storyboard) -> np.ndarray:
    """(k, 3) uint8: BLEND_STEPS colours evenly spaced (in RGB) along the way the moving points' colour
    blends from state to state, opaque and over the background. The GIF palette keeps an entry for each,
    so the colours change in small steps with the frames instead of jumping when the nearest entry of a
    coarser palette changes."""
    from .story.colour_space import blend

    states = np.asarray(story.state_colors, dtype=float)
    fine = np.array(
        [
            blend(first, second, share)[:3]
            for first, second in zip(states[:-1], states[1:], strict=True)
            for share in np.linspace(0, 1, 200)
        ]
    )
    travelled = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(fine, axis=0), axis=1))])
    picked = fine[
        np.searchsorted(travelled, np.linspace(0, travelled[-1], BLEND_STEPS)).clip(0, len(fine) - 1)
    ]
    background = np.asarray(story.look.theme.background[:3], dtype=float)
    colours = np.concatenate([alpha * picked + (1 - alpha) * background for alpha in BLEND_ALPHAS])
    return np.unique(np.round(255 * colours).astype(np.uint8), axis=0)


def output_files(view: str, formats: tuple[Format, ...], out_dir: Path, states: int = 2) -> dict[str, Path]:
    """kind → path of what is written: `<view>.<format>`, and `<view>_start.png` with a PNG; a story of
    three key states (stages; no pooling → REML → Bayes) adds `<view>_stage2.png`, its middle state."""
    files: dict[str, Path] = {fmt: out_dir / f"{view}.{fmt}" for fmt in formats}
    if "png" in formats:
        files["png_start"] = out_dir / f"{view}_start.png"
        if states == 3:
            files["png_stage2"] = out_dir / f"{view}_stage2.png"
    return files


def middle_frame(story: Storyboard) -> int:
    """The last frame that holds the middle key state (or comes nearest to it)."""
    distance = np.abs(story.timeline.position - 1.0)
    return int(len(distance) - 1 - np.argmin(distance[::-1]))


class RendererFrames:
    """The frames of a renderer in this process."""

    def __init__(self, renderer: BlitRenderer) -> None:
        self.renderer = renderer

    @property
    def size(self) -> tuple[int, int]:
        return self.renderer.size

    def palette_samples(self) -> list[np.ndarray]:
        story = self.renderer.story
        return [self.renderer.frame(index) for index in palette_frames(story_progress(story))]

    def __iter__(self) -> Iterator[np.ndarray]:
        return iter(self.renderer)


def write_videos(
    frames: Frames,
    fps: int,
    files: dict[str, Path],
    stack: contextlib.ExitStack,
    story: Storyboard | None = None,
) -> np.ndarray | None:
    """Encode the GIF and MP4 that `files` names, each in its own thread, as the frames come.

    The files are renamed into place when `stack` closes without an error, and removed otherwise.
    Returns the last frame (None when there was no video to write and so no frame was asked for).
    """
    writers: list[BackgroundWriter] = []
    if "gif" in files:
        gif_path = enter_safely(stack, atomic_path(files["gif"]))
        samples = frames.palette_samples()
        reserved = blend_colours(story) if story is not None else None  # the blend's own entries

        def make_gif() -> GifWriter:
            return GifWriter(gif_path, fps, shared_palette(samples, reserved))

        writers.append(enter_safely(stack, BackgroundWriter(make_gif, "gif")))
    if "mp4" in files:
        mp4_path = enter_safely(stack, atomic_path(files["mp4"]))
        width, height = frames.size

        def make_mp4() -> Mp4Writer:
            return Mp4Writer(mp4_path, fps, width, height)

        writers.append(enter_safely(stack, BackgroundWriter(make_mp4, "mp4")))
    last_frame = None
    if writers:
        for frame in frames:
            for writer in writers:
                writer.add(frame)
            last_frame = frame
        for writer in writers:
            writer.end()  # each finishes its file in its thread, side by side
    return last_frame


def write_stills(
    renderer: BlitRenderer,
    files: dict[str, Path],
    stack: contextlib.ExitStack,
    last_frame: np.ndarray | None = None,
) -> None:
    """The PNG stills (last, first and, with three key states, the middle one's frame) and the SVG (last
    frame) that `files` names."""
    story = renderer.story
    if "png" in files:
        still = last_frame if last_frame is not None else renderer.frame(story.n_frames - 1)
        write_png(enter_safely(stack, atomic_path(files["png"])), still)
        write_png(enter_safely(stack, atomic_path(files["png_start"])), renderer.frame(0))
        if "png_stage2" in files:
            write_png(
                enter_safely(stack, atomic_path(files["png_stage2"])), renderer.frame(middle_frame(story))
            )
    if "svg" in files:
        enter_safely(stack, atomic_path(files["svg"])).write_bytes(renderer.svg())


def write_animation(story: Storyboard, files: dict[str, Path]) -> None:
    """Draw the storyboard and write the files `output_files` named, all in this process.

    The video writers encode in their own threads while the next frame is drawn. Each file is written
    under a temporary name and renamed into place only once all are complete.
    """
    from .render import renderer as make_renderer

    with contextlib.ExitStack() as stack:
        renderer = make_renderer(story)
        stack.callback(renderer.close)
        last_frame = write_videos(RendererFrames(renderer), story.fps, files, stack, story)
        write_stills(renderer, files, stack, last_frame)
    # leaving the block waited for the writers, raising any error of theirs, and renamed every file
    # into place (or removed them all after an error)
