"""Draws the (intercept, slope) plane: the shrinkage and stages views."""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

import numpy as np

from ..story.plane import PlaneStory
from .base import BlitRenderer
from .moving_ticks import MovingTicks
from .style import (
    broken_line,
    draw_legend,
    edge_paths,
    fit_width,
    grid_with_header,
    mark_path,
    round_marker,
    shared_or_each,
    style_axes,
)
from .truth import TruthLayer

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
        self._camera_moves = story.camera is not None and story.camera.moves
        # a moving camera: ticks, gridlines and everything in data coordinates move, drawn each frame
        self._ticks = MovingTicks(self, axes, ("x", "y"), look) if self._camera_moves else None

        # the contours: still ellipses, or with a moving camera one broken line drawn each frame
        ellipse_outlines = [contour.outline() for contour in story.contours]
        if self._camera_moves:
            joined = (
                np.concatenate([np.vstack([outline, [np.nan, np.nan]]) for outline in ellipse_outlines])
                if ellipse_outlines
                else np.empty((0, 2))
            )
            (ellipses,) = axes.plot(
                *joined.T,
                color=theme.contour,
                alpha=CONTOUR_ALPHA,
                lw=CONTOUR_WIDTH * look.scale,
                zorder=1,
            )
            self.moving(ellipses)
        else:
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
        # the still marks in one collection, in the storyboard's order (the black hole last): one draw call
        marks = story.marks
        self._mark_faces = np.array([(0, 0, 0, 0) if mark.hollow else mark.color for mark in marks])
        self._mark_edges = np.array([mark.color if mark.hollow else mark.edge_color for mark in marks])
        self._marks = self.moving(
            axes.scatter(
                [mark.at[0] for mark in marks],
                [mark.at[1] for mark in marks],
                s=[mark.area for mark in marks],
                c=self._mark_faces,
                edgecolors=self._mark_edges,
                linewidths=[mark.edge_width for mark in marks],
                marker=round_marker(),
                zorder=5,
            )
        )
        self._marks.set_paths([mark_path(mark.marker) for mark in marks])
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

    def view_key(self, frame: int) -> Hashable:
        """The camera's view at this frame, when it moves."""
        camera = self.story.camera
        return camera.view(frame) if camera is not None and camera.moves else None

    def _key_views(self) -> list[Any]:
        camera = self.story.camera
        assert camera is not None
        return [tuple(tuple(limits) for limits in view) for view in camera.views.tolist()]

    def before_layout(self) -> None:
        if self._ticks is not None:
            self._ticks.reserve(self._key_views())

    def after_layout(self) -> None:
        if self._ticks is not None:
            self._ticks.pin_labels()
            self._ticks.hide_own()

    def _set_limits(self, key: Any) -> None:
        xlim, ylim = key
        # the data limits straight into the view box: set_xlim's callbacks and checks cost more than
        # the rest of a frame, and nothing here listens to them
        self._axes.viewLim.intervalx = xlim
        self._axes.viewLim.intervaly = ylim

    def show_view(self, key: Hashable) -> None:
        if key is not None:
            self._set_limits(key)
            if self._ticks is not None:
                self._ticks.update(key)  # type: ignore[arg-type]

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
        alpha = np.array([story.mark_alpha(frame, mark) for mark in story.marks])
        for colors, setter in (
            (self._mark_faces, self._marks.set_facecolors),
            (self._mark_edges, self._marks.set_edgecolors),
        ):
            faded = colors.copy()
            faded[:, 3] *= alpha
            setter(faded)
        if self._truth is not None:
            self._truth.update(frame)
