"""Ticks, tick labels and gridlines that move with the camera, drawn as three moving artists.

When the camera moves, every frame has other axis limits. Drawing matplotlib's own axes again for each
frame costs about 0.1 s a frame (its text is laid out and rasterised glyph by glyph); here a tick label
is an outline (TextPath), made once per distinct string and reused, and every frame's ticks, labels and
gridlines are three collections: a frame costs about a millisecond more than a still view's.

Before the layout, matplotlib's own tick labels of a moving axis all read as the longest label of any
key view, so the layout leaves room for every view; the axis label is pinned outside them, and then
they are hidden and these draw in their place.
"""

from __future__ import annotations

from typing import Any

import numpy as np

GRID_WIDTH = 0.6  # pt at the small preset, as style.GRID_WIDTH
TICK_LENGTH = 3.5  # pt, matplotlib's default major tick length
TICK_PAD = 3.5  # pt between a tick and its label, matplotlib's default


class MovingTicks:
    """The camera's axes on one matplotlib Axes: `which` names the moving ones ("x", "y").

    Everything is placed in the axes' own coordinates (a tick at its data value, a label a few points
    beyond the spine) so that the SVG, drawn at another dpi, matches the frames."""

    def __init__(
        self, renderer: Any, axes: Any, which: tuple[str, ...], look: Any, grid: bool = True
    ) -> None:
        from matplotlib.collections import LineCollection

        self.axes = axes
        self.which = which
        self.look = look
        self.grid = grid
        self._paths: dict[tuple[str, str], Any] = {}
        theme = look.theme
        self._grid = renderer.moving(
            LineCollection([], colors=[theme.grid], linewidths=GRID_WIDTH * look.scale, zorder=0.5)
        )
        axes.add_collection(self._grid, autolim=False)
        self._grid.set_transform(axes.transData)
        # per axis one collection: the tick marks (stroked) and their labels (filled), alternating
        self._ticks: dict[str, Any] = {
            name: renderer.moving(outlines(axes, _along(axes, name), [], linewidths=0.8 * look.scale))
            for name in which
        }
        for collection in self._ticks.values():
            collection.set_gid("moving-ticks")  # named for the layout test, which measures its labels
        self._mark_colors = (theme.spine, (0.0, 0.0, 0.0, 0.0))  # edge, face of a tick mark
        self._label_colors = ((0.0, 0.0, 0.0, 0.0), theme.muted_text)  # edge, face of a label

    def hide_own(self) -> None:
        """After the layout: hide matplotlib's own ticks, labels and gridlines of the moving axes."""
        for name in self.which:
            axis = self.axes.xaxis if name == "x" else self.axes.yaxis
            axis.set_tick_params(which="both", length=0, labelbottom=False, labelleft=False, grid_alpha=0.0)
            axis.grid(False)

    def reserve(self, views: list[Any]) -> None:
        """Before the layout: matplotlib's own tick labels of the moving axes all read as the longest
        label of any of these views, so that the layout leaves room for every view at once."""
        from matplotlib.ticker import FuncFormatter

        for name in self.which:
            texts = [
                text
                for view in views
                for most in range(2, RESERVE_TICKS + 1)  # fewer ticks can need more decimals (0.25)
                for text in nice_ticks(*(view[0] if name == "x" else view[1]), most)[1]
            ]
            longest = max(texts, key=len, default="0")
            axis = self.axes.xaxis if name == "x" else self.axes.yaxis
            axis.set_major_formatter(FuncFormatter(lambda value, position, text=longest: text))

    def pin_labels(self) -> None:
        """After the layout: each moving axis's label where the reserved tick labels pushed it."""
        figure = self.axes.figure
        renderer = figure.canvas.get_renderer()
        to_axes = self.axes.transAxes.inverted()
        pixels_per_point = figure.dpi / 72.0
        for name in self.which:
            axis = self.axes.xaxis if name == "x" else self.axes.yaxis
            boxes = [label.get_window_extent(renderer) for label in axis.get_ticklabels() if label.get_text()]
            if name == "x":
                lowest = min((box.y0 for box in boxes), default=self.axes.bbox.y0)
                gap = TICK_PAD * pixels_per_point / self.axes.bbox.height
                self.axes.xaxis.set_label_coords(0.5, to_axes.transform((0, lowest))[1] - gap)
                self.axes.xaxis.label.set_va("top")
            else:
                leftmost = min((box.x0 for box in boxes), default=self.axes.bbox.x0)
                gap = TICK_PAD * pixels_per_point / self.axes.bbox.width
                self.axes.yaxis.set_label_coords(to_axes.transform((leftmost, 0))[0] - gap, 0.5)
                self.axes.yaxis.label.set_va("bottom")

    def _label_path(self, text: str, name: str) -> Any:
        """The outline of a tick label in points from its tick's foot on the spine: x labels centred
        below it, y labels ending left of it; made once per string."""
        key = (text, name)
        if key not in self._paths:
            beyond = TICK_LENGTH + TICK_PAD
            if name == "x":
                self._paths[key] = text_outline(text, self.look.tick_size, "center", "top", (0.0, -beyond))
            else:
                self._paths[key] = text_outline(text, self.look.tick_size, "right", "center", (-beyond, 0.0))
        return self._paths[key]

    def update(self, view: tuple[tuple[float, float], tuple[float, float]]) -> None:
        """The ticks, labels and gridlines of the axes at this view (the axes' limits already set)."""
        grid = []
        box = self.axes.bbox
        for name in self.which:
            low, high = view[0] if name == "x" else view[1]
            pixels = box.width if name == "x" else box.height
            font_pixels = self.look.tick_size * self.axes.figure.dpi / 72.0
            values, texts = nice_ticks(low, high, max_ticks(pixels, font_pixels, name))
            if name == "x":
                grid += [[(value, view[1][0]), (value, view[1][1])] for value in values]
                offsets = np.column_stack([values, np.zeros(len(values))])
                mark = _tick_mark(0.0, -TICK_LENGTH)
            else:
                grid += [[(view[0][0], value), (view[0][1], value)] for value in values]
                offsets = np.column_stack([np.zeros(len(values)), values])
                mark = _tick_mark(-TICK_LENGTH, 0.0)
            labels = [self._label_path(text, name) for text in texts]
            if name == "x":  # a label at either end of the axis that would reach past the figure is left out
                figure_width = self.axes.figure.bbox.width
                scale = self.axes.figure.dpi / 72.0
                keep = [
                    box.x0 + (value - low) / (high - low) * box.width + path.vertices[:, 0].min() * scale >= 0
                    and box.x0 + (value - low) / (high - low) * box.width + path.vertices[:, 0].max() * scale
                    <= figure_width
                    for value, path in zip(values, labels, strict=True)
                ]
                values, labels, offsets = (
                    values[keep],
                    [p for p, k in zip(labels, keep, strict=True) if k],
                    offsets[keep],
                )
            count = len(values)
            collection = self._ticks[name]
            collection.set_paths([mark] * count + labels)
            collection.set_offsets(np.concatenate([offsets, offsets]))
            collection.set_edgecolors([self._mark_colors[0]] * count + [self._label_colors[0]] * count)
            collection.set_facecolors([self._mark_colors[1]] * count + [self._label_colors[1]] * count)
        self._grid.set_segments(grid if self.grid else [])


def _along(axes: Any, name: str) -> Any:
    """Offsets along an axis: its data value one way, the spine (0 in axes coordinates) the other."""
    from matplotlib.transforms import blended_transform_factory

    if name == "x":
        return blended_transform_factory(axes.transData, axes.transAxes)
    return blended_transform_factory(axes.transAxes, axes.transData)


def outlines(axes: Any, offset_transform: Any, paths: list[Any], **style: Any) -> Any:
    """A collection of outlines measured in points, placed at offsets in `offset_transform` (matplotlib
    scales points to pixels at the dpi it draws at: the frames' and the SVG's); not clipped."""
    from matplotlib.collections import PathCollection
    from matplotlib.transforms import Affine2D

    collection = PathCollection(
        paths,
        sizes=[1.0],
        offset_transform=offset_transform,
        clip_on=False,
        **{"edgecolors": "none", **style},
    )
    axes.add_collection(collection, autolim=False)
    # after add_collection, which would measure the paths in data units; an identity that the SVG
    # backend can move (it translates the master transform to each offset)
    collection.set_transform(Affine2D())
    return collection


def _tick_mark(dx: float, dy: float) -> Any:
    from matplotlib.path import Path

    return Path([(0.0, 0.0), (dx, dy)], [Path.MOVETO, Path.LINETO])


RESERVE_TICKS = 10  # ticks per axis when looking for the longest label a view can have
TICK_STEPS = (1.0, 2.0, 2.5, 5.0, 10.0)  # matplotlib's AutoLocator steps


def max_ticks(pixels: float, font_pixels: float, name: str) -> int:
    """As many ticks as matplotlib's AutoLocator puts on an axis this long (`MaxNLocator(nbins="auto")`:
    one per three font sizes along x, two along y, at most 9 intervals)."""
    spacing = 3.0 if name == "x" else 2.0
    return int(max(1, min(9, np.floor(pixels / (spacing * font_pixels))))) + 1


def nice_ticks(low: float, high: float, most: int) -> tuple[np.ndarray, list[str]]:
    """Round tick values in [low, high], at most `most` of them, on steps of 1, 2, 2.5 or 5 × 10^k, and
    their labels with just the decimals the step needs (a minus sign, not a hyphen)."""
    span = high - low
    if not span > 0:
        return np.array([low]), [f"{low:g}"]
    raw = span / max(most - 1, 1)
    magnitude = 10.0 ** np.floor(np.log10(raw))
    step = next(s * magnitude for s in TICK_STEPS if s * magnitude >= raw * (1 - 1e-9))
    first = np.ceil(low / step - 1e-9) * step
    values = first + step * np.arange(int(np.floor((high - first) / step + 1e-9)) + 1)
    decimals = max(0, -int(np.floor(np.log10(step) + 1e-9)) + (1 if round(step / magnitude, 6) == 2.5 else 0))
    texts = [f"{0.0 if abs(v) < step * 1e-9 else v:.{decimals}f}".replace("-", "\u2212") for v in values]
    return values, texts


def text_outline(text: str, size: float, ha: str, va: str, shift: tuple[float, float] = (0.0, 0.0)) -> Any:
    """The outline of `text` at `size` pt, in points, placed so that its anchor (0, 0) is at its `ha`
    ("left", "center", "right") and `va` ("top", "center", "bottom", of the digits' height), moved by
    `shift` points."""
    from matplotlib.font_manager import FontProperties
    from matplotlib.path import Path
    from matplotlib.textpath import TextPath

    path = TextPath((0, 0), text, size=size, prop=FontProperties(size=size))
    vertices = path.vertices
    width = vertices[:, 0].max() if len(vertices) else 0.0
    cap = size * CAP_HEIGHT  # every label aligns alike, whatever its letters
    dx = {"left": 0.0, "center": -width / 2, "right": -width}[ha]
    dy = {"bottom": 0.0, "center": -cap / 2, "top": -cap}[va]
    return Path(vertices + [dx + shift[0], dy + shift[1]], path.codes)


CAP_HEIGHT = 0.73  # DejaVu Sans: the height of its digits, in font sizes
