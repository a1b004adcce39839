"""Draws the truth revealed at the end of the shrinkage view (see `story.truth`): crosses at the true
effects, error segments to the estimates, and the RMSEs in the upper left corner of the plot."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..story.truth import TruthReveal
from .style import broken_line

SEGMENT_WIDTH = 0.9
CROSS_EDGE_WIDTH = 0.3
TEXT_PAD = 0.02  # share of the axes between its corner and the RMSE text
LINE_SPACING = 1.35  # of the font size, between the RMSE lines
BOX_ALPHA = 0.85
# over the points (3) and edge marks (3.5), under the black hole (5); the RMSEs over everything
SEGMENT_ZORDER, CROSS_ZORDER, TEXT_ZORDER = 3.6, 3.7, 8.0


class TruthLayer:
    """The reveal's moving artists, registered with the renderer after (so drawn above) everything else."""

    def __init__(self, renderer: Any, axes: Any, reveal: TruthReveal) -> None:
        look = renderer.story.look
        theme = look.theme
        self.reveal = reveal
        (segments,) = axes.plot([], [], lw=SEGMENT_WIDTH * look.scale, zorder=SEGMENT_ZORDER, solid_capstyle="butt")
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
        box = {"boxstyle": "round,pad=0.35", "facecolor": theme.background, "edgecolor": theme.grid, "alpha": BOX_ALPHA}
        self._texts = []
        for index, (text, color) in enumerate(
            ((reveal.heading, theme.text), (reveal.own_text, reveal.own_color), (reveal.pooled_text, reveal.pooled_color))
        ):
            from matplotlib.transforms import ScaledTranslation

            offset = ScaledTranslation(0, -index * step, renderer.figure.dpi_scale_trans)
            artist = axes.text(
                TEXT_PAD,
                1 - TEXT_PAD,
                text,
                transform=axes.transAxes + offset,
                ha="left",
                va="top",
                fontsize=size,
                fontweight="bold" if index else "normal",
                color=color,
                zorder=TEXT_ZORDER,
                bbox=box if index == 0 else None,
            )
            self._texts.append(renderer.moving(artist))
        # the heading's box spans all three lines: pad it below by the two lines under it
        self._texts[0].set_text(reveal.heading + "\n\n")
        self._texts[0].set_linespacing(LINE_SPACING)

    def key(self, frame: int) -> float:
        return float(self.reveal.progress[frame])

    def update(self, frame: int) -> None:
        reveal = self.reveal
        shown = reveal.truth_alpha(frame)
        self._segments.set_data(*broken_line(reveal.segments(frame)))
        self._segments.set_color(reveal.segment_color(frame))
        self._crosses.set_alpha(shown)
        first, second = reveal.text_alpha(frame)
        for artist, alpha in zip(self._texts, (first, first, second), strict=True):
            artist.set_alpha(alpha)
            patch = artist.get_bbox_patch()
            if patch is not None:
                patch.set_alpha(BOX_ALPHA * alpha)
        for artist in (self._segments, self._crosses, *self._texts):
            artist.set_visible(shown > 0)
        self._texts[2].set_visible(second > 0)
