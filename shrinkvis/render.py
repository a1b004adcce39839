"""Frames as RGB arrays: matplotlib on the Agg canvas, one figure, blitting.

The static parts (axes, labels, legend) are drawn once; each frame restores that background and draws
only the moving artists, then reads the pixels straight from the Agg buffer.
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterator

import numpy as np

from .story import (
    FIXED_EFFECT_COLOR,
    FIXED_EFFECT_LABEL,
    NO_POOL_LABEL,
    PARTIAL_POOL_LABEL,
    TRAIL_COLOR,
    Storyboard,
)

DPI = 100
TITLE_SIZE = 13
CAPTION_SIZE = 8.5
LABEL_SIZE = 10
LEGEND_SIZE = 8
WARNING_COLOR = "#b00020"
HALO_AREAS = (900.0, 500.0, 250.0)  # pt², outermost first: the soft glow around the black hole
HALO_ALPHA = 0.10
CENTER_AREA = 70.0


class ShrinkageRenderer:
    """Draws a shrinkage storyboard; `frame(i)` returns frame i as an (H, W, 4) uint8 RGBA array (opaque)."""

    def __init__(self, story: Storyboard) -> None:
        import matplotlib

        matplotlib.use("Agg", force=False)
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.collections import PathCollection
        from matplotlib.figure import Figure
        from matplotlib.lines import Line2D
        from matplotlib.markers import MarkerStyle
        from matplotlib.path import Path

        self.story = story
        figure = Figure(figsize=(story.width / DPI, story.height / DPI), dpi=DPI, layout="constrained")
        canvas = FigureCanvasAgg(figure)
        wrap = max(int(story.width / (CAPTION_SIZE * 0.62)), 20)
        figure.suptitle(story.title, fontsize=TITLE_SIZE, fontweight="bold")
        axes = figure.add_subplot()
        if story.caption:
            axes.set_title(textwrap.fill(story.caption, wrap), fontsize=CAPTION_SIZE, color="0.3")
        axes.set_xlim(*story.xlim)
        axes.set_ylim(*story.ylim)
        axes.set_xlabel(story.x_label, fontsize=LABEL_SIZE)
        axes.set_ylabel(story.y_label, fontsize=LABEL_SIZE)
        axes.tick_params(labelsize=LEGEND_SIZE)
        axes.grid(color="0.92", linewidth=0.8)
        axes.set_axisbelow(True)
        for side in ("top", "right"):
            axes.spines[side].set_visible(False)

        handles = [
            Line2D([], [], ls="", marker="o", color=story.start_color, label=NO_POOL_LABEL),
            Line2D([], [], ls="", marker="o", color=story.end_color, label=PARTIAL_POOL_LABEL),
            Line2D(
                [], [], ls="", marker="o", markersize=9, color=FIXED_EFFECT_COLOR, label=FIXED_EFFECT_LABEL
            ),
        ]
        if story.sized_by_n:
            for n in _size_legend_values(story.cluster_n):
                area = float(
                    np.interp(
                        n,
                        [story.cluster_n.min(), story.cluster_n.max()],
                        [story.sizes.min(), story.sizes.max()],
                    )
                )
                handles.append(
                    Line2D(
                        [], [], ls="", marker="o", markersize=np.sqrt(area), color="0.55", label=f"n = {n}"
                    )
                )
        figure.legend(
            handles=handles,
            loc="outside lower center",
            ncols=3 if not story.sized_by_n else 3,
            fontsize=LEGEND_SIZE,
            frameon=False,
            handletextpad=0.3,
            columnspacing=1.2,
        )
        if story.warning:
            axes.text(
                0.5,
                0.98,
                "⚠ " + textwrap.fill(story.warning, wrap),
                transform=axes.transAxes,
                ha="center",
                va="top",
                fontsize=CAPTION_SIZE,
                color=WARNING_COLOR,
                bbox={"facecolor": "white", "alpha": 0.85, "edgecolor": WARNING_COLOR},
            )

        # Each trail is a path whose vertices are a view into one (J, 2, 2) array: a frame moves every
        # trail's end with one numpy assignment instead of building J new paths.
        self._trail_ends = np.stack([story.start, story.start], axis=1).astype(float)
        self._trails = PathCollection(
            [Path(segment) for segment in self._trail_ends],
            facecolors="none",
            edgecolors=[TRAIL_COLOR],
            linewidths=0.8,
            animated=True,
        )
        axes.add_collection(self._trails)
        # One polygon marker, one size and one colour where they are shared: matplotlib then stamps a
        # single rasterised marker (draw_markers) instead of drawing each point's path, and skips the
        # slow Bézier extent computation of the circle marker; at these sizes a 32-gon is a circle.
        self._round = MarkerStyle(Path.unit_regular_polygon(32))
        self._points = axes.scatter(
            story.start[:, 0],
            story.start[:, 1],
            s=_shared_or_each(story.sizes),
            c=_shared_or_each(story.colors(0)),
            marker=self._round,
            edgecolors="white",
            linewidths=0.4,
            animated=True,
            zorder=3,
        )
        # the black hole: halo rings and centre in one collection, so one draw call per frame
        rings = len(HALO_AREAS)
        halo_color = (*FIXED_EFFECT_COLOR[:3], HALO_ALPHA)
        self._center = axes.scatter(
            np.full(rings + 1, story.center[0]),
            np.full(rings + 1, story.center[1]),
            s=[*HALO_AREAS, CENTER_AREA],
            c=[halo_color] * rings + [FIXED_EFFECT_COLOR],
            edgecolors=[(1.0, 1.0, 1.0, 0.0)] * rings + ["white"],
            linewidths=[0.0] * rings + [1.0],
            marker=self._round,
            animated=True,
            zorder=4,
        )
        canvas.draw()
        self._canvas = canvas
        self._figure = figure
        self._background = canvas.copy_from_bbox(figure.bbox)

    @property
    def size(self) -> tuple[int, int]:
        width, height = self._canvas.get_width_height()
        return width, height

    def frame(self, index: int) -> np.ndarray:
        story = self.story
        current = story.positions(index)
        self._canvas.restore_region(self._background)
        self._trail_ends[:, 1] = current
        self._points.set_offsets(current)
        self._points.set_facecolors(_shared_or_each(story.colors(index)))
        renderer = self._canvas.get_renderer()
        for artist in (self._trails, self._points, self._center):
            artist.draw(renderer)
        # RGBA as Agg holds it: one contiguous copy; dropping alpha here would cost 50× more, and the
        # encoders take RGBA
        return np.asarray(self._canvas.buffer_rgba()).copy()

    def __iter__(self) -> Iterator[np.ndarray]:
        """Every frame in order; a frame that shows the same state as the one before (the pauses) is
        not drawn again but handed out once more."""
        previous = None
        for index in range(self.story.n_frames):
            if previous is None or self.story.progress[index] != self.story.progress[index - 1]:
                previous = self.frame(index)
            yield previous

    def close(self) -> None:
        self._figure.clear()


def _shared_or_each(values: np.ndarray) -> np.ndarray:
    """The first row alone when every row is equal (one size, one colour), else all rows."""
    values = np.asarray(values)
    return values[:1] if np.all(values == values[:1]) else values


def _size_legend_values(n: np.ndarray) -> list[int]:
    values = sorted({int(n.min()), int(np.median(n)), int(n.max())})
    return values
