"""Draws the truth revealed at the end of the shrinkage view (see `story.truth`): crosses at the true
effects, error segments to the estimates, and the RMSEs in the upper left corner of the plot."""

from __future__ import annotations

from typing import Any

from ..story.reveal import TruthReveal

SEGMENT_WIDTH = 0.9
CROSS_EDGE_WIDTH = 0.3
TEXT_PAD = 0.02  # share of the axes between its corner and the RMSE text
LINE_SPACING = 1.35  # of the font size, between the RMSE lines
BOX_ALPHA = 0.85
BOX_PAD = 0.01  # share of the axes around the lines
# over the points (3) and edge marks (3.5), under the black hole (5); the RMSEs over everything
SEGMENT_ZORDER, CROSS_ZORDER, TEXT_ZORDER = 3.6, 3.7, 8.0


class TruthLayer:
    """The reveal's moving artists, registered with the renderer after (so drawn above) everything else."""

    def __init__(self, renderer: Any, axes: Any, reveal: TruthReveal) -> None:
        from matplotlib.patches import FancyBboxPatch
        from matplotlib.transforms import ScaledTranslation

        look = renderer.story.look
        theme = look.theme
        self.reveal = reveal
        from matplotlib.collections import LineCollection

        # one collection: each segment in its own colour (closer or further from the truth)
        segments = LineCollection(
            [], linewidths=SEGMENT_WIDTH * look.scale, zorder=SEGMENT_ZORDER, capstyle="butt"
        )
        axes.add_collection(segments, autolim=False)
        self._segments = renderer.moving(segments)
        self._crosses = renderer.moving(
            axes.scatter(
                reveal.truth[:, 0],
                reveal.truth[:, 1],
                s=reveal.area,
                marker="X",
                c=[reveal.truth_color],
                edgecolors=[theme.background],
                linewidths=CROSS_EDGE_WIDTH,
                zorder=CROSS_ZORDER,
            )
        )
        size = look.legend_size
        step = LINE_SPACING * size / 72  # inches between lines
        lines = reveal.lines()
        self._phases = [phase for _, _, phase in lines]
        right, top = reveal.corner
        x = 1 - TEXT_PAD if right else TEXT_PAD
        y = 1 - TEXT_PAD if top else TEXT_PAD
        where = {"ha": "right" if right else "left", "va": "top" if top else "bottom", "fontsize": size}
        # the box behind the lines, fitted to them once the figure's layout is final (first update)
        self._box = renderer.moving(
            FancyBboxPatch(
                (0, 0),
                1,
                1,
                boxstyle=f"round,pad={BOX_PAD}",
                transform=axes.transAxes,
                facecolor=theme.background,
                edgecolor=theme.grid,
                zorder=TEXT_ZORDER,
            )
        )
        axes.add_patch(self._box)
        self._axes = axes
        self._fitted = False
        self._texts: list[Any] = []
        for index, (text, color, _) in enumerate(lines):
            # lines run down from the top corner's first line, or up to the bottom corner's last line
            shift = -index if top else len(lines) - 1 - index
            offset = ScaledTranslation(0, shift * step, renderer.figure.dpi_scale_trans)
            artist = axes.text(
                x,
                y,
                text,
                transform=axes.transAxes + offset,
                fontweight="bold" if index else "normal",
                color=color,
                zorder=TEXT_ZORDER,
                **where,
            )
            self._texts.append(renderer.moving(artist))

    def key(self, frame: int) -> float:
        return float(self.reveal.progress[frame])

    def update(self, frame: int) -> None:
        reveal = self.reveal
        shown = reveal.truth_alpha(frame)
        self._segments.set_segments(list(reveal.segments(frame)))
        self._segments.set_colors(reveal.segment_colors(frame))
        self._crosses.set_alpha(shown)
        alphas = reveal.text_alpha(frame)
        for artist, phase in zip(self._texts, self._phases, strict=True):
            artist.set_alpha(alphas[phase])
            artist.set_visible(alphas[phase] > 0)
        if not self._fitted:
            self._fit_box()
        self._box.set_alpha(BOX_ALPHA * shown)
        self._box.set_visible(shown > 0)
        for artist in (self._segments, self._crosses):
            artist.set_visible(shown > 0)

    def text_extent(self) -> Any:
        """The RMSE box in pixels (where every line of it will show), once the layout is frozen."""
        if not self._fitted:
            self._fit_box()
        return self._box.get_window_extent()

    def _fit_box(self) -> None:
        """The box around every line, measured where the frozen layout put them."""
        from matplotlib.transforms import Bbox

        canvas = self._axes.figure.canvas
        hidden = [text for text in self._texts if not text.get_visible()]
        for text in hidden:
            text.set_visible(True)  # an invisible text measures as nothing
        extent = Bbox.union([text.get_window_extent(canvas.get_renderer()) for text in self._texts])
        for text in hidden:
            text.set_visible(False)
        low, high = self._axes.transAxes.inverted().transform(extent.get_points())
        self._box.set_bounds(low[0], low[1], high[0] - low[0], high[1] - low[1])
        self._fitted = True
