"""Draws the rates views (story/rates.py): points sized by n moving along the value axis, their intervals
or trails, still lines (pooled value, control limits, rails) and, at the end, the truth."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..story.rates import RatesStory
from .base import BlitRenderer
from .style import broken_line, draw_legend, grid_with_header, round_marker, style_axes

BAR_WIDTH = 0.8  # relative to the look's line width
BAR_ALPHA = 0.55
TRAIL_ALPHA = 0.35
LINE_WIDTH = 0.9
TRUTH_EDGE = 1.3  # pt at `small`
FADE_UNDER_TRUTH = 0.6  # share of opacity the dots lose while binned truth lines are shown over them


class RatesRenderer(BlitRenderer):
    story: RatesStory

    def draw_static(self, figure: Any) -> None:
        story = self.story
        look = story.look
        theme = look.theme
        grid, first = grid_with_header(figure, story.header, look, 1, 1)
        axes = figure.add_subplot(grid[first, 0])
        style_axes(axes, look, grid=story.view != "shrinkage")
        axes.set_xlim(*story.xlim)
        axes.set_ylim(*story.ylim)
        axes.set_xlabel(story.x_label, wrap=True)
        axes.set_ylabel(story.y_label)
        if story.xticks is not None:
            axes.set_xticks(*story.xticks)
        if story.yticks is not None:
            axes.set_yticks(*story.yticks)
            if story.view == "caterpillar":
                axes.tick_params(axis="y", length=0)
        for line in story.lines:
            color = theme.fixed_effect if line.role == "pooled" else theme.contour
            width = LINE_WIDTH * look.line_width * (1.4 if line.role == "pooled" else 1.0)
            axes.plot(*line.points.T, color=color, linestyle=line.style, lw=width, zorder=1.5)
        (trails,) = axes.plot([], [], lw=0.8 * look.line_width, zorder=2)
        self._trails = self.moving(trails)
        (bars,) = axes.plot([], [], lw=BAR_WIDTH * look.line_width, zorder=2.5)
        self._bars = self.moving(bars)
        self._points = self.moving(
            axes.scatter(
                *story.points(0).T,
                s=story.areas,
                marker=round_marker(),
                edgecolors=theme.background,
                linewidths=0.4,
                zorder=3,
            )
        )
        truth = story.truth_points if story.truth_points is not None else np.empty((0, 2))
        self._truth = self.moving(
            axes.scatter(
                *truth.T,
                s=look.area(30.0),
                marker="D",
                facecolors="none",
                edgecolors=[theme.fixed_effect],
                linewidths=TRUTH_EDGE * look.scale,
                zorder=3.5,
            )
        )
        from matplotlib import patheffects

        def halo(alpha: float = 1.0) -> Any:
            return patheffects.withStroke(
                linewidth=3.2 * look.line_width, foreground=theme.background, alpha=alpha
            )

        self._halo = halo
        (truth_line,) = axes.plot(
            [], [], color=theme.fixed_effect, lw=1.4 * look.line_width, zorder=3.4, path_effects=[halo()]
        )
        self._truth_line = self.moving(truth_line)
        if story.truth_line and story.truth_points is not None:
            truth_line.set_data(*story.truth_points.T)
        (partial_line,) = axes.plot(
            [], [], color=theme.partial_pool, lw=1.8 * look.line_width, zorder=3.4, path_effects=[halo()]
        )
        self._partial_line = self.moving(partial_line)
        if story.partial_line is not None:
            partial_line.set_data(*story.partial_line.T)
        (links,) = axes.plot(
            [], [], color=theme.partial_pool, lw=0.8 * look.line_width, linestyle="--", zorder=2.2
        )
        self._links = self.moving(links)
        if story.truth_links is not None:
            links.set_data(*broken_line(story.truth_links))
        draw_legend(figure, story.legend, look)
        self._axes = axes

    def after_layout(self) -> None:
        if self.story.view == "caterpillar" and self.story.yticks is not None:
            fit_row_labels(self._axes, self.figure)

    def update(self, frame: int) -> None:
        story = self.story
        color = story.color(frame)
        points = story.points(frame)
        shown = story.truth_alpha(frame)
        self._points.set_offsets(points)
        dots = color.copy()
        if story.truth_line:  # the binned lines carry the message: the dots step back
            dots[3] *= 1 - FADE_UNDER_TRUTH * shown
        self._points.set_facecolor(dots)
        faded = color.copy()
        faded[3] *= BAR_ALPHA
        self._bars.set_data(*broken_line(story.bars(frame)))
        self._bars.set_color(faded)
        if story.trails:
            trail = color.copy()
            trail[3] *= TRAIL_ALPHA
            self._trails.set_data(*broken_line(story.trail_segments(frame)))
            self._trails.set_color(trail)
        for artist in (self._truth, self._truth_line, self._partial_line, self._links):
            artist.set_alpha(shown)
            artist.set_visible(shown > 0)
        if shown > 0:  # the halo fades with its line (a path effect does not take the artist's alpha)
            for line in (self._truth_line, self._partial_line):
                line.set_path_effects([self._halo(shown)])


ROW_LABEL_LEADING = 1.25  # a row label's height is about this many times its font size


def fit_row_labels(axes: Any, figure: Any) -> None:
    """The caterpillar's row labels (one per unit: 18 players' names at the small preset) set small enough
    that neighbouring rows do not overlap once the layout is fixed."""
    labels = axes.get_yticklabels()
    positions = axes.get_yticks()
    if len(positions) < 2 or not labels:
        return
    low, high = axes.get_ylim()
    height_px = axes.get_window_extent(figure.canvas.get_renderer()).height
    row_px = height_px * float(np.min(np.diff(np.sort(positions)))) / abs(high - low)
    largest_pt = row_px * 72.0 / figure.dpi / ROW_LABEL_LEADING
    current = labels[0].get_fontsize()
    if largest_pt < current:
        axes.tick_params(axis="y", labelsize=largest_pt)
