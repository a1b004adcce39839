"""Draws the (intercept, slope) plane: the shrinkage and stages views."""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

import numpy as np

from ..story.plane import PlaneStory
from .base import POSITION_DECIMALS, StagedCameraRenderer
from .moving_ticks import MovingTicks
from .style import (
    broken_line,
    draw_legend,
    edge_paths,
    grid_with_header,
    mark_path,
    round_marker,
    shared_or_each,
    stage_title,
    style_axes,
)
from .truth import TruthLayer

EDGE_MARK_AREA = 40.0  # pt²
CONTOUR_WIDTH = 0.9
CONTOUR_ALPHA = 0.55
TRAIL_WIDTH = 0.8
POINT_EDGE_WIDTH = 0.4
LABEL_GAP_PX = 3.0  # between a point's rim and its label
LABEL_INSET_PX = 2.0  # between a label and the plot's frame
LABEL_HALO = 2.5  # pt: the label's outline in the background colour, so it reads over gridlines and trails
# where a label may sit around its point, tried in this order: right, upper right, above, … (x, y signs)
LABEL_SIDES = ((1, 0), (1, 1), (0, 1), (-1, 1), (-1, 0), (-1, -1), (0, -1), (1, -1))
LABEL_REACHES = (1.0, 2.5, 4.5)  # distances tried, in point radii plus the gap: beyond the first, a leader
RING_WIDTH = 1.2  # pt: the ring around a labelled cluster
RING_AREA = 2.2  # times the cluster's own marker area
LEADER_WIDTH = 0.7  # pt


class PlaneRenderer(StagedCameraRenderer):
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
            self._stage, self._stage_texts = stage_title(self, axes, story.stage_captions, look)

        # every trail has the same colour: one broken line draws them all at once
        (trails,) = axes.plot([], [], color=theme.trail, lw=TRAIL_WIDTH * look.scale, zorder=2.5)
        self._trails = self.moving(trails)
        self._order = story.draw_order
        self._points = self.moving(
            axes.scatter(
                story.start[self._order, 0],
                story.start[self._order, 1],
                s=shared_or_each(story.sizes[self._order]),
                c=shared_or_each(story.colors(0)[self._order]),
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
        # the biggest movers' labels, placed once the layout is frozen (`_place_labels`), above the marks
        self._labels = [
            self.moving(
                axes.text(
                    0,
                    0,
                    label.text,
                    fontsize=look.annotation_size,
                    color=theme.text,
                    ha="left",
                    va="bottom",
                    zorder=5.5,
                    visible=False,
                )
            )
            for label in story.labels
        ]
        self._label_offsets: list[np.ndarray | None] = [None] * len(self._labels)
        self._label_sizes = [np.zeros(2)] * len(self._labels)  # px, width and height
        self._label_apart = [False] * len(self._labels)
        if story.labels:
            labelled = [label.cluster for label in story.labels]
            self._rings = self.moving(
                axes.scatter(
                    story.end[labelled, 0],
                    story.end[labelled, 1],
                    s=story.sizes[labelled] * RING_AREA,
                    facecolors="none",
                    edgecolors=[theme.text],
                    linewidths=RING_WIDTH * look.scale,
                    zorder=3.2,
                    visible=False,
                )
            )
            (leaders,) = axes.plot([], [], color=theme.text, lw=LEADER_WIDTH * look.scale, zorder=3.1)
            self._leaders = self.moving(leaders)
        self._truth = None
        if story.truth is not None:
            self._truth = TruthLayer(self, axes, story.truth)
            # moving artists are drawn in the order they are listed: the reveal's go between the points
            # and the black hole, its text on top (by zorder; the sort keeps the order of equals)
            self._moving.sort(key=lambda artist: artist.get_zorder())

    def frame_key(self, frame: int) -> Hashable:
        key = super().frame_key(frame)
        return key if self._truth is None else (key, self._truth.key(frame))

    def _key_views(self) -> list[Any]:
        camera = self.story.camera
        assert camera is not None
        return camera.frame_views()

    def before_layout(self) -> None:
        if self._ticks is not None:
            self._ticks.reserve(self._key_views())

    def after_layout(self) -> None:
        if self.story.box_aspect is not None:
            # aspect: equal — the box takes the views' shape (one unit, one length), shrunk inside the
            # room the layout gave it, before the labels are pinned beside it
            self._axes.set_box_aspect(self.story.box_aspect)
            self._axes.apply_aspect()
            bounds = self._axes.get_position(original=False).bounds
            self._axes.set_position(np.round(bounds, POSITION_DECIMALS))
        if self._ticks is not None:
            self._ticks.pin_labels()
            self._ticks.hide_own()
        if self._labels:
            self._place_labels()

    @property
    def placed_labels(self) -> list[str]:
        """The texts of the movers' labels that found a free place (the others are not drawn)."""
        return [
            text.get_text()
            for text, at in zip(self._labels, self._label_offsets, strict=True)
            if at is not None
        ]

    def _place_labels(self) -> None:
        """Each mover's label beside its final position, in the final view: on the side that covers the
        fewest other points, inside the plot, clear of the other labels, the black hole, complete
        pooling and the truth's RMSE box; a label with no such place is left out."""
        from matplotlib.patheffects import withStroke
        from matplotlib.transforms import Bbox

        story = self.story
        axes = self._axes
        canvas_renderer = self.figure.canvas.get_renderer()
        scale = self.figure.dpi / 72.0
        frame = axes.bbox
        (x0, x1), (y0, y1) = story.camera.end if story.camera is not None else (story.xlim, story.ylim)

        def pixels(points: np.ndarray) -> np.ndarray:
            share = (np.atleast_2d(points) - [x0, y0]) / [x1 - x0, y1 - y0]
            return np.column_stack(
                [frame.x0 + share[:, 0] * frame.width, frame.y0 + share[:, 1] * frame.height]
            )

        final = pixels(story.end)
        others = final if story.truth is None else np.vstack([final, pixels(story.truth.truth)])
        taken = [
            Bbox.from_bounds(*(pixels(mark.at)[0] - radius), 2 * radius, 2 * radius)
            for mark in story.marks
            if not mark.name.startswith("halo")
            for radius in [np.sqrt(mark.area) * scale / 2]
        ]
        for label in story.labels:  # a label never covers another labelled (ringed) cluster
            radius = np.sqrt(story.sizes[label.cluster] * RING_AREA) * scale / 2
            taken.append(Bbox.from_bounds(*(final[label.cluster] - radius), 2 * radius, 2 * radius))
        if self._truth is not None:
            taken.append(self._truth.text_extent())
        inside = Bbox.from_extents(
            frame.x0 + LABEL_INSET_PX,
            frame.y0 + LABEL_INSET_PX,
            frame.x1 - LABEL_INSET_PX,
            frame.y1 - LABEL_INSET_PX,
        )
        for index, (label, text) in enumerate(zip(story.labels, self._labels, strict=True)):
            text.set_path_effects(
                [withStroke(linewidth=LABEL_HALO * story.look.scale, foreground=story.look.theme.background)]
            )
            text.set_visible(True)
            size = text.get_window_extent(canvas_renderer)
            text.set_visible(False)
            width, height = size.width, size.height
            point = final[label.cluster]
            radius = np.sqrt(story.sizes[label.cluster]) * scale / 2 + LABEL_GAP_PX
            best = None
            sides = [(far * radius, side) for far in LABEL_REACHES for side in LABEL_SIDES]
            for rank, (reach, (side_x, side_y)) in enumerate(sides):
                left = point[0] + side_x * reach - (width if side_x < 0 else width / 2 if side_x == 0 else 0)
                bottom = (
                    point[1] + side_y * reach - (height if side_y < 0 else height / 2 if side_y == 0 else 0)
                )
                box = Bbox.from_bounds(left, bottom, width, height)
                if not (inside.contains(box.x0, box.y0) and inside.contains(box.x1, box.y1)):
                    continue
                if any(box.overlaps(other) for other in taken):
                    continue
                covered = np.sum(
                    (others[:, 0] > box.x0)
                    & (others[:, 0] < box.x1)
                    & (others[:, 1] > box.y0)
                    & (others[:, 1] < box.y1)
                )
                if best is None or (covered > 0, rank) < best[0]:
                    best = ((covered > 0, rank), box)
            if best is None:
                continue
            (_, rank), box = best
            taken.append(box)
            self._label_offsets[index] = np.array([box.x0 - point[0], box.y0 - point[1]])
            self._label_sizes[index] = np.array([box.width, box.height])
            self._label_apart[index] = rank >= len(LABEL_SIDES)  # beyond the nearest ring of places

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
        self._points.set_offsets(shown[self._order])
        self._points.set_facecolors(shared_or_each(colors[self._order]))
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
        if self._labels:
            self._show_labels(frame, positions)
        if self._truth is not None:
            self._truth.update(frame)

    def _show_labels(self, frame: int, positions: np.ndarray) -> None:
        """Each placed label at its offset from where its point is now (they fade in as points arrive)."""
        alpha = self.story.label_alpha(frame)
        to_data = self._axes.transData
        placed = [offset is not None for offset in self._label_offsets]
        leaders = []
        for index, (label, text, offset) in enumerate(
            zip(self.story.labels, self._labels, self._label_offsets, strict=True)
        ):
            shown = offset is not None and alpha > 0
            text.set_visible(shown)
            if shown:
                point = to_data.transform(positions[label.cluster])
                text.set_position(to_data.inverted().transform(point + offset))
                text.set_alpha(alpha)
                if self._label_apart[index]:  # a label set apart: a line leads to it
                    corner = point + offset
                    nearest = np.clip(point, corner, corner + self._label_sizes[index])
                    leaders.append(to_data.inverted().transform(np.stack([point, nearest])))
        self._leaders.set_data(*broken_line(np.array(leaders).reshape(-1, 2, 2)))
        self._leaders.set_alpha(alpha)
        self._leaders.set_visible(alpha > 0 and bool(leaders))
        ringed = [label.cluster for label, ok in zip(self.story.labels, placed, strict=True) if ok]
        self._rings.set_offsets(positions[ringed].reshape(-1, 2))
        self._rings.set_sizes(self.story.sizes[ringed] * RING_AREA)
        self._rings.set_alpha(alpha)
        self._rings.set_visible(alpha > 0 and bool(ringed))
