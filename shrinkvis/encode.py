"""Frames → file bytes: GIF (one shared palette), MP4 (H.264, yuv420p, fast start), PNG.

Writers take frames one at a time so a long animation never has to sit in memory as RGB.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

GIF_COLORS = 256
MP4_CRF = 23  # x264's default quality: sharp lines on flat backgrounds, small files
MP4_PRESET = "medium"


def shared_palette(samples: Sequence[np.ndarray]) -> Image.Image:
    """One palette for the whole GIF, from a few frames spread over the animation.

    A shared palette without dithering keeps unchanged pixels identical between frames, so the GIF
    encoder only stores what moved.
    """
    strip = Image.fromarray(np.concatenate(list(samples), axis=0))
    return strip.quantize(colors=GIF_COLORS, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)


def frame_durations(n_frames: int, fps: int) -> list[int]:
    """Each frame's display time in ms, in GIF's steps of 10 ms.

    Rounding the running total instead of each frame keeps the whole animation at n_frames / fps
    seconds (at 30 fps: 30, 40, 30, … ms instead of 30 ms throughout, which plays 10 % fast).
    """
    ends = [round(index * 100 / fps) * 10 for index in range(n_frames + 1)]
    return [later - earlier for earlier, later in zip(ends, ends[1:], strict=False)]


class GifWriter:
    def __init__(self, path: Path, fps: int, palette: Image.Image) -> None:
        self.path = path
        self.fps = fps
        self.palette = palette
        self.frames: list[Image.Image] = []

    def add(self, frame: np.ndarray) -> None:
        image = Image.fromarray(frame).quantize(palette=self.palette, dither=Image.Dither.NONE)
        self.frames.append(image)

    def close(self) -> None:
        first, *rest = self.frames
        first.save(
            self.path,
            format="GIF",
            save_all=True,
            append_images=rest,
            duration=frame_durations(len(self.frames), self.fps),
            loop=0,  # loop forever
            optimize=False,
            disposal=1,
        )


class Mp4Writer:
    """H.264 in yuv420p with even dimensions and the index first, so browsers and slides play it."""

    def __init__(self, path: Path, fps: int, width: int, height: int) -> None:
        import av

        self.width = width - width % 2
        self.height = height - height % 2
        self.container = av.open(str(path), mode="w", format="mp4", options={"movflags": "+faststart"})
        self.stream = self.container.add_stream("libx264", rate=fps)
        self.stream.width = self.width
        self.stream.height = self.height
        self.stream.pix_fmt = "yuv420p"
        self.stream.options = {"crf": str(MP4_CRF), "preset": MP4_PRESET, "tune": "animation"}
        self._frame_type = av.VideoFrame

    def add(self, frame: np.ndarray) -> None:
        cropped = np.ascontiguousarray(frame[: self.height, : self.width])
        video_frame = self._frame_type.from_ndarray(cropped, format="rgb24")
        for packet in self.stream.encode(video_frame):
            self.container.mux(packet)

    def close(self) -> None:
        for packet in self.stream.encode():
            self.container.mux(packet)
        self.container.close()


def write_png(path: Path, frame: np.ndarray) -> None:
    Image.fromarray(frame).save(path, format="PNG", optimize=True)
