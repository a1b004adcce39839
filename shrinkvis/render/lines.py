"""Draws the lines view: a grid of panels, one cluster each."""

from __future__ import annotations

from typing import Any

from ..story.lines import DATA_POINT_AREA, LinesStory, line_segments
from .base import BlitRenderer
from .style import draw_legend, grid_with_header, style_axes

GHOST_ALPHA = 0.9  # the no-pooling line stays behind, dotted, once its fit has moved
DATA_ALPHA = 0.8
COMPLETE_WIDTH = 0.8  # relative to the look's line width
GHOST_WIDTH = 1.0


class LinesRenderer(BlitRenderer):
    story: LinesStory

    def draw_static(self, figure: Any) -> None:
        story = self.story
        look = story.look
        theme = look.theme
        grid, first = grid_with_header(figure, story.header, look, story.rows, story.columns)
        complete = line_segments(story.complete_pool, story.xlim)[0]
        self._lines = []
        self._titles: list[tuple[Any, Any]] = []
        for index in range(story.rows * story.columns):
            row, column = divmod(index, story.columns)
            # every panel gets the same limits, so the axes need not be shared: sharing makes each panel
            # measure the tick labels of all the others (quadratic in the panels) when laid out and drawn
            axes = figure.add_subplot(grid[first + row, column])
            if index >= len(story.panels):
                axes.set_axis_off()
                continue
            panel = story.panels[index]
            style_axes(axes, look)
            axes.set_xlim(*story.xlim)
            axes.set_ylim(*story.ylim)
            self._titles.append(
                (axes.set_title(panel.title, fontsize=look.annotation_size, color=theme.text, pad=2), panel)
            )
            # tick labels only on the outer panels: they share their axes
            bottom = index + story.columns >= len(story.panels)
            axes.tick_params(labelbottom=bottom, labelleft=column == 0)
            if bottom:
                axes.set_xlabel(story.x_label)
            if column == 0:
                axes.set_ylabel(story.y_label)
            axes.plot(
                *complete.T, color=theme.complete_pool, linestyle="--", lw=COMPLETE_WIDTH * look.line_width
            )
            ghost = line_segments(panel.no_pool, story.xlim)[0]
            axes.plot(
                *ghost.T,
                color=theme.no_pool,
                alpha=GHOST_ALPHA,
                linestyle=":",
                lw=GHOST_WIDTH * look.line_width,
            )
            (line,) = axes.plot(*ghost.T, color=story.color(0), lw=look.line_width, zorder=3)
            self._lines.append(self.moving(line))
            # the data over every line, the moving one too (the lines are fitted to them): drawn after it
            data = axes.scatter(
                panel.x,
                panel.y,
                s=look.area(DATA_POINT_AREA),
                color=theme.data_point,
                alpha=DATA_ALPHA,
                linewidths=0,
                zorder=4,
            )
            self.moving(data)
        draw_legend(figure, story.legend, look)

    def after_layout(self) -> None:
        """Panel titles wider than their panels: every title drops the group's name ("Cluster 47" → "47",
        alike in every panel), then a label still too wide loses its end to an ellipsis; the size
        (n = 27) always shows whole."""
        renderer = self.figure.canvas.get_renderer()

        def fits(title: Any) -> bool:
            return bool(title.get_window_extent(renderer).width <= title.axes.bbox.width)

        if all(fits(title) for title, _ in self._titles):
            return
        for title, panel in self._titles:
            title.set_text(f"{panel.short_name} · {panel.size_text}")
        for title, panel in self._titles:
            if fits(title):
                continue
            name = panel.short_name
            short, long = 0, len(name)  # the longest beginning that fits, by bisection
            while short < long:
                middle = (short + long + 1) // 2
                title.set_text(f"{name[:middle].rstrip()}… · {panel.size_text}")
                if fits(title):
                    short = middle
                else:
                    long = middle - 1
            title.set_text(f"{name[:short].rstrip()}… · {panel.size_text}" if short else panel.size_text)

    def update(self, frame: int) -> None:
        segments = self.story.segments(frame)
        color = self.story.color(frame)
        for line, segment in zip(self._lines, segments, strict=True):
            line.set_data(segment[:, 0], segment[:, 1])
            line.set_color(color)
