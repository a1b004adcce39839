"""The blitting loop every view shares.

The static parts (axes, labels, legend, contours) are drawn once and copied; each frame restores that
background, lets the view update its moving artists, draws only those, and reads the pixels straight
from the Agg buffer. A view whose static parts change a few times (the stages view's caption) keeps one
background per version. The layout is computed once and then frozen, so every frame and the SVG agree.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Hashable, Iterator
from typing import Any

import numpy as np

from .style import DPI, center_header

SVG_HASH_SALT = "shrinkvis"  # fixed ids in the SVG: the same picture gives the same bytes


class BlitRenderer:
    """`frame(i)` returns frame i as an (H, W, 3) uint8 array; `svg()` the last frame as SVG bytes."""

    def __init__(self, story: Any) -> None:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        self.story = story
        look = story.look
        self._figure = Figure(
            figsize=(look.width / DPI, look.height / DPI),
            dpi=DPI,
            layout="constrained",
            facecolor=look.theme.background,
        )
        self._canvas = FigureCanvasAgg(self._figure)
        self._moving: list[Any] = []
        self.draw_static(self._figure)
        layout = self._figure.get_layout_engine()
        assert layout is not None  # made with layout="constrained"
        with warnings.catch_warnings():
            # on the smallest frames the text may not leave the axes room; they are drawn as well as fits
            warnings.filterwarnings("ignore", message="constrained_layout not applied")
            layout.execute(self._figure)  # room for every text, measured once
        self._figure.set_layout_engine("none")
        center_header(self._figure)
        self._backgrounds: dict[Hashable, Any] = {}
        self._background(self.background_key(0))

    # --- what a view provides -----------------------------------------------------------------------
    def draw_static(self, figure: Any) -> None:
        """Build every artist; register the moving ones (in drawing order) with `moving`."""
        raise NotImplementedError

    def background_key(self, frame: int) -> Hashable:
        """Which version of the static parts frame `frame` shows; one version unless a view says otherwise."""
        return None

    def show_background(self, key: Hashable) -> None:
        """Set the static artists to version `key` (e.g. the caption of a stage)."""

    def update(self, frame: int) -> None:
        """Set the moving artists to frame `frame`."""
        raise NotImplementedError

    # --- the loop -----------------------------------------------------------------------------------
    def moving(self, artist: Any) -> Any:
        artist.set_animated(True)
        self._moving.append(artist)
        return artist

    @property
    def size(self) -> tuple[int, int]:
        width, height = self._canvas.get_width_height()
        return width, height

    def _background(self, key: Hashable) -> Any:
        if key not in self._backgrounds:
            self.show_background(key)
            self._canvas.draw()  # moving artists are animated: only the static ones are drawn
            self._backgrounds[key] = self._canvas.copy_from_bbox(self._figure.bbox)
        return self._backgrounds[key]

    def frame(self, index: int) -> np.ndarray:
        self._canvas.restore_region(self._background(self.background_key(index)))
        self.update(index)
        renderer = self._canvas.get_renderer()
        for artist in self._moving:
            artist.draw(renderer)
        return np.asarray(self._canvas.buffer_rgba())[:, :, :3].copy()

    def __iter__(self) -> Iterator[np.ndarray]:
        for index in range(self.story.n_frames):
            yield self.frame(index)

    def svg(self) -> bytes:
        """The final state as SVG, byte for byte the same for the same storyboard."""
        import matplotlib

        last = self.story.n_frames - 1
        self.show_background(self.background_key(last))
        self.update(last)
        for artist in self._moving:
            artist.set_animated(False)
        try:
            buffer = io.BytesIO()
            with matplotlib.rc_context({"svg.hashsalt": SVG_HASH_SALT}):
                self._figure.savefig(
                    buffer, format="svg", metadata={"Date": None}, facecolor=self.story.look.theme.background
                )
        finally:
            for artist in self._moving:
                artist.set_animated(True)
        return buffer.getvalue()

    def close(self) -> None:
        self._figure.clear()
