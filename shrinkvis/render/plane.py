"""Draws the (intercept, slope) plane: the shrinkage and stages views."""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

import numpy as np

from ..story.plane import PlaneStory
from ..story.shrinkage import COMPLETE_POOL_AREA, FIXED_EFFECT_AREA
from .base import BlitRenderer
from .style import (
    broken_line,
    draw_legend,
    edge_paths,
    fit_width,
    grid_with_header,
    round_marker,
    shared_or_each,
    style_axes,
)
from .truth import TruthLayer

HALO_AREAS = (900.0, 500.0, 250.0)  # pt², outermost first: the soft glow around the black hole
HALO_ALPHA = 0.10
EDGE_MARK_AREA = 40.0  # pt²
CONTOUR_WIDTH = 0.9
CONTOUR_ALPHA = 0.55
TRAIL_WIDTH = 0.8
POINT_EDGE_WIDTH = 0.4
STAGE_CAPTION_PAD = 6.0  # points between the axes and the stage caption
STAGE_CAPTION_SHARE = 0.82  # of the figure's width: centred on the axes, which the y label pushes right


class PlaneRenderer(BlitRenderer):
    story: PlaneStory

    def draw_static(self, figure: Any) -> None:
        from matplotlib.patches import Ellipse

        story = self.story
        look = story.look
        theme = look.theme
        grid, first = grid_with_header(figure, story.header, look, 1, 1)
        axes = figure.add_subplot(grid[first, 0])
        self._axes = axes
        style_axes(axes, look)
        axes.set_xlim(*story.xlim)
        axes.set_ylim(*story.ylim)
        axes.set_xlabel(story.x_label)
        axes.set_ylabel(story.y_label)

        for contour in story.contours:
            axes.add_patch(
                Ellipse(
                    tuple(contour.center),
                    2 * contour.semi_axes[0],
                    2 * contour.semi_axes[1],
                    angle=contour.angle,
                    fill=False,
                    edgecolor=theme.contour,
                    alpha=CONTOUR_ALPHA,
                    linewidth=CONTOUR_WIDTH * look.scale,
                    zorder=1,
                )
            )
            if contour.label_at is not None:
                axes.text(
                    *contour.label_at,
                    contour.label,
                    fontsize=look.annotation_size,
                    color=theme.contour,
                    ha="left",
                    va="bottom",
                    zorder=1,
                )
        draw_legend(figure, story.legend, look)
        if story.stage_captions:
            self._stage = axes.set_title(
                "",
                fontsize=look.stage_size,
                fontweight="bold",
                color=theme.text,
                pad=STAGE_CAPTION_PAD * look.scale,
            )
            self._stage_texts = []
            for caption in story.stage_captions:
                fit_width(self._stage, caption, look.width * STAGE_CAPTION_SHARE, look.stage_size)
                self._stage_texts.append(self._stage.get_text())
            # the tallest caption takes its room in the layout; each caption then gets its own background
            self._stage.set_text(max(self._stage_texts, key=lambda text: (text.count("\n"), len(text))))
            self.versioned(self._stage)

        # every trail has the same colour: one broken line draws them all at once
        (trails,) = axes.plot([], [], color=theme.trail, lw=TRAIL_WIDTH * look.scale, zorder=2.5)
        self._trails = self.moving(trails)
        self._points = self.moving(
            axes.scatter(
                story.start[:, 0],
                story.start[:, 1],
                s=shared_or_each(story.sizes),
                c=shared_or_each(story.colors(0)),
                marker=round_marker(),
                edgecolors=theme.background,
                linewidths=POINT_EDGE_WIDTH,
                zorder=3,
                clip_on=False,  # a point just inside the limits shows whole; points outside are edge marks
            )
        )
        self._edge = self.moving(
            axes.scatter([], [], s=look.area(EDGE_MARK_AREA), linewidths=0, zorder=3.5, clip_on=False)
        )
        # halo and hole in one collection: one draw call per frame, drawn after (on top of) the points
        rings = len(HALO_AREAS)
        hole_colors = np.array([*[theme.fixed_effect] * rings, theme.fixed_effect])
        hole_colors[:rings, 3] = HALO_ALPHA
        self._hole_colors = hole_colors
        self._hole_edges = np.array([(0, 0, 0, 0)] * rings + [theme.background])
        self._hole = self.moving(
            axes.scatter(
                np.full(rings + 1, story.fixed_effects[0]),
                np.full(rings + 1, story.fixed_effects[1]),
                s=[look.area(area) for area in (*HALO_AREAS, FIXED_EFFECT_AREA)],
                c=hole_colors,
                edgecolors=self._hole_edges,
                linewidths=[0] * rings + [1.0],
                marker=round_marker(),
                zorder=5,
            )
        )

        # complete pooling lands close to the fixed effects: drawn last, small on top of the black hole;
        # one marker of a line, which matplotlib draws with far less work per frame than a scatter
        (complete,) = axes.plot(
            *story.complete_pool,
            linestyle="",
            marker="D",
            markersize=float(np.sqrt(look.area(COMPLETE_POOL_AREA))),
            color=theme.complete_pool,
            markeredgecolor=theme.background,
            markeredgewidth=0.8,
            zorder=6,
        )
        self.moving(complete)
        self._truth = None
        if story.truth is not None:
            self._truth = TruthLayer(self, axes, story.truth)
            # moving artists are drawn in the order they are listed: the reveal's go between the points
            # and the black hole, its text on top (by zorder; the sort keeps the order of equals)
            self._moving.sort(key=lambda artist: artist.get_zorder())

    def frame_key(self, frame: int) -> Hashable:
        key = super().frame_key(frame)
        return key if self._truth is None else (key, self._truth.key(frame))

    def background_key(self, frame: int) -> int:
        """The stage whose caption shows (0 when the view has no captions)."""
        return self.story.timeline.nearest_state(frame) if self.story.stage_captions else 0

    def show_background(self, key: Hashable) -> None:
        if self.story.stage_captions:
            self._stage.set_text(self._stage_texts[int(key)])  # type: ignore[call-overload]

    def update(self, frame: int) -> None:
        story = self.story
        positions = story.positions(frame)
        colors = story.colors(frame)
        edge = story.edge(frame)
        self._trails.set_data(*broken_line(story.trails(frame)))
        shown = positions.copy()
        shown[edge.outside] = np.nan  # a point outside is drawn as its edge mark instead
        self._points.set_offsets(shown)
        self._points.set_facecolors(shared_or_each(colors))
        self._edge.set_offsets(edge.at[edge.outside].reshape(-1, 2))
        self._edge.set_paths(edge_paths(edge.side[edge.outside]))
        self._edge.set_facecolors(colors[edge.outside])
        alpha = story.fixed_effects_alpha(frame)
        for colors, setter in (
            (self._hole_colors, self._hole.set_facecolors),
            (self._hole_edges, self._hole.set_edgecolors),
        ):
            faded = colors.copy()
            faded[:, 3] *= alpha
            setter(faded)
        self._hole.set_visible(alpha > 0)
        if self._truth is not None:
            self._truth.update(frame)
