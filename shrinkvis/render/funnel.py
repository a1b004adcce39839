"""Draws the funnel view: estimates ± 1.96 SE against cluster size, one panel per effect."""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

import numpy as np

from ..story.funnel import FunnelStory
from .base import StagedCameraRenderer
from .moving_ticks import MovingTicks
from .plane import EDGE_MARK_AREA
from .style import (
    broken_line,
    draw_legend,
    edge_paths,
    grid_with_header,
    round_marker,
    stage_axes,
    stage_title,
    style_axes,
)

BAR_WIDTH = 0.65  # relative to the look's line width: a whisker a projector still shows
BAR_ALPHA = 0.6
FUNNEL_LINE_WIDTH = 0.7
FIXED_LINE_WIDTH = 0.8  # relative to the look's line width


class FunnelRenderer(StagedCameraRenderer):
    story: FunnelStory

    def draw_static(self, figure: Any) -> None:
        story = self.story
        look = story.look
        theme = look.theme
        count = len(story.panels)
        side_by_side = look.width > look.height  # landscape: side by side; square and portrait: stacked
        rows, columns = (1, count) if side_by_side else (count, 1)
        grid, first = grid_with_header(
            figure, story.header, look, rows, columns, stage_row=bool(story.stage_captions)
        )
        if story.stage_captions:  # across both panels, over them
            self._stage, self._stage_texts = stage_title(self, stage_axes(figure), story.stage_captions, look)
        self._kept_bars, self._kept_points = [], []
        self._bars, self._points, self._edges, self._panel_axes = [], [], [], []
        self._ticks: list[MovingTicks] = []
        moves = story.camera is not None and story.camera.moves
        for index, panel in enumerate(story.panels):
            cell = grid[first, index] if side_by_side else grid[first + index, 0]
            axes = figure.add_subplot(cell)
            self._panel_axes.append(axes)
            style_axes(axes, look)
            xlim, ylim, x_label, y_label = story.axes(index)
            axes.set_xlim(*xlim)
            axes.set_ylim(*ylim)
            (axes.set_yticks if story.horizontal else axes.set_xticks)(story.xticks, story.xtick_labels)
            axes.set_xlabel(x_label, wrap=True)  # never past the figure's edge (a narrow preset)
            if not (story.horizontal and index > 0):  # the caterpillar's ranks: said once, beside the first
                axes.set_ylabel(y_label)
            # a moving camera: the estimate axis's ticks and gridlines, and the lines in data coordinates,
            # are drawn on each frame
            still = self.moving if moves else (lambda artist: artist)
            if moves:
                self._ticks.append(MovingTicks(self, axes, ("x",) if story.horizontal else ("y",), look))
            for side in story.funnel_lines(index):
                (line,) = axes.plot(
                    *side.T,
                    color=theme.contour,
                    linestyle="--",
                    lw=FUNNEL_LINE_WIDTH * look.line_width,
                    zorder=1.5,
                )
                still(line)
            still(
                (axes.axvline if story.horizontal else axes.axhline)(
                    panel.fixed_effect,
                    color=theme.fixed_effect,
                    lw=FIXED_LINE_WIDTH * look.line_width,
                    zorder=2,
                )
            )
            # the bars share one colour: one broken line draws them all at once
            (bars,) = axes.plot([], [], lw=BAR_WIDTH * look.line_width, zorder=2.5)
            self._bars.append(self.moving(bars))
            points = axes.scatter(
                *story.points(0, index).T,
                s=story.point_area,
                marker=round_marker(),
                edgecolors=theme.background,
                linewidths=0.3,
                zorder=3,
            )
            if story.beside:  # REML, left standing as the points move on to Bayes: under them
                kept_color = story.state_colors[1]
                (kept_bars,) = axes.plot(
                    [], [], lw=BAR_WIDTH * look.line_width, zorder=2.4, color=(*kept_color[:3], BAR_ALPHA)
                )
                self._kept_bars.append(self.moving(kept_bars))
                # placed where the points stand at the start (shown once they move on): a size per cluster
                # (the caterpillar's) needs as many positions as clusters from the first
                self._kept_points.append(
                    self.moving(
                        axes.scatter(
                            *story.points(0, index).T,
                            s=story.point_area,
                            marker=round_marker(),
                            color=[kept_color],
                            edgecolors=theme.background,
                            linewidths=0.3,
                            zorder=2.9,
                        )
                    )
                )
                self._kept_points[-1].set_visible(False)
            self._points.append(self.moving(points))
            edge = axes.scatter([], [], s=look.area(EDGE_MARK_AREA), linewidths=0, zorder=3.5, clip_on=False)
            self._edges.append(self.moving(edge))
        draw_legend(figure, story.legend, look)

    def _panel_view(self, panel: int, limits: tuple[float, float]) -> Any:
        """(x limits, y limits) of a panel whose estimate axis shows `limits`."""
        return (limits, self.story.xlim) if self.story.horizontal else (self.story.xlim, limits)

    def _key_views(self) -> list[Any]:
        camera = self.story.camera
        assert camera is not None
        return camera.frame_views()

    def before_layout(self) -> None:
        for panel, ticks in enumerate(self._ticks):
            ticks.reserve([self._panel_view(panel, view[panel]) for view in self._key_views()])

    def after_layout(self) -> None:
        for ticks in self._ticks:
            ticks.pin_labels()
            ticks.hide_own()

    def show_view(self, key: Hashable) -> None:
        if key is None:
            return
        for panel, limits in enumerate(key):  # type: ignore[arg-type]
            view = self._panel_view(panel, limits)
            _set_limits(self._panel_axes[panel], view)
            if self._ticks:
                self._ticks[panel].update(view)

    def update(self, frame: int) -> None:
        story = self.story
        color = story.color(frame)
        bar_color = color.copy()
        bar_color[3] *= BAR_ALPHA
        for index in range(len(story.panels)):
            edge = story.edge(frame, index)
            points = story.points(frame, index)
            points[edge.outside] = np.nan
            self._bars[index].set_data(*broken_line(story.bars(frame, index)))
            self._bars[index].set_color(bar_color)
            self._points[index].set_offsets(points)
            self._points[index].set_facecolor(color)
            self._edges[index].set_offsets(edge.at[edge.outside].reshape(-1, 2))
            self._edges[index].set_paths(edge_paths(edge.side[edge.outside]))
            self._edges[index].set_facecolor(color)
            if story.beside:
                kept = story.kept(frame, index)
                shown = kept is not None
                self._kept_points[index].set_visible(shown)
                self._kept_bars[index].set_visible(shown)
                if kept is not None:
                    self._kept_points[index].set_offsets(kept[0])
                    self._kept_bars[index].set_data(*broken_line(kept[1]))


def _set_limits(axes: Any, view: Any) -> None:
    """Straight into the view box (see `PlaneRenderer._set_limits`)."""
    axes.viewLim.intervalx = view[0]
    axes.viewLim.intervaly = view[1]
