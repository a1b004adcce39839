"""The truth revealed at the end of the shrinkage view (simulated data, `animation.truth: true`).

After the clusters have flown to their partial-pooling estimates and rested there, each cluster's true
(intercept, slope) appears as a small cross, joined by an error segment to where the cluster started, its
own estimate (no pooling). Then the segments' far ends slide along the trails to the partial-pooling
estimates: every segment that gets shorter is a cluster that partial pooling brought closer to the truth.
The root mean squared errors of both ways of pooling are written on the frame.

The points' own timeline keeps its two states (no pooling → partial pooling) and holds the last through
the reveal; the reveal has a progress of its own per frame: 0 before it, 0 → 1 while the truth appears,
1 → 2 while the segments slide.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

import numpy as np

from .camera import camera_for, still
from .common import LIMIT_PADDING, LegendEntry, edge_marks
from .easing import ease
from .plane import (
    EDGE_LABEL,
    PLANE_AXES,
    PlaneStory,
    departures,
    edge_legend,
    no_and_partial_pool,
    plane_views,
)
from .presets import Look
from .reveal import SEGMENT_ALPHA, TruthReveal
from .timeline import Timeline

if TYPE_CHECKING:  # types only: a renderer process draws a storyboard without pandas or scipy
    from ..fit import Estimates
    from ..fit.scores import TruthScore
    from ..scenario import AnimationSpec

# Of the frames between the start and end pauses: the flight to partial pooling, a rest there, the truth
# appearing, a short rest, the segments sliding. The flight keeps most, so it reads as the main act.
REVEAL_SHARES = (("move", 0.50), ("rest", 0.08), ("appear", 0.10), ("pause", 0.04), ("slide", 0.28))
TRUTH_AREA = 16.0  # pt², the true effect's cross at the small preset
TRUTH_LABEL = "True effects (simulation)"
HEADING = "Distance to the truth (RMSE)"
CLOSER_LABEL = "Pooled closer to its truth"
FURTHER_LABEL = "Pooled further from it"
TEXT_REACH = (0.5, 0.3)  # share of the plot's width and height the text may cover from its corner


def points_in_corner(
    points: np.ndarray, xlim: tuple[float, float], ylim: tuple[float, float], corner: tuple[int, int]
) -> int:
    """How many of the points the text in this corner would cover (TEXT_REACH of the plot from it)."""
    share = (points - [xlim[0], ylim[0]]) / [xlim[1] - xlim[0], ylim[1] - ylim[0]]
    share = share[np.all(np.isfinite(share), axis=1)]
    near = [
        share[:, axis] > 1 - TEXT_REACH[axis] if side else share[:, axis] < TEXT_REACH[axis]
        for axis, side in enumerate(corner)
    ]
    return int(np.sum(near[0] & near[1]))


def with_room(limits: tuple[float, float], top: int) -> tuple[float, float]:
    """`limits` grown at the top (1) or the bottom (0) so that what they held fills all but TEXT_REACH of
    the height: the text's corner is empty."""
    low, high = limits
    extra = TEXT_REACH[1] / (1 - TEXT_REACH[1]) * (high - low)
    return (low, high + extra) if top else (low - extra, high)


def quietest_corner(
    points: np.ndarray, xlim: tuple[float, float], ylim: tuple[float, float]
) -> tuple[int, int]:
    """The corner of the plot whose text would cover the fewest of these points: (0 left | 1 right,
    0 bottom | 1 top), the upper left when they tie."""
    counts = {
        corner: points_in_corner(points, xlim, ylim, corner) for corner in ((0, 1), (1, 1), (0, 0), (1, 0))
    }
    return min(counts, key=lambda corner: counts[corner])  # min keeps the first of equals


def reveal_timeline(
    frames: int, fps: int, start_pause: float, end_pause: float, easing: str
) -> tuple[Timeline, np.ndarray]:
    """The points' timeline (no pooling → partial pooling, then held) and the reveal's progress per frame.

    Each part takes its share of the time between the pauses, whatever the number of frames; held parts
    repeat exact values, so held frames are drawn once.
    """
    time = np.linspace(0.0, 1.0, frames)
    middle = 1.0 - start_pause - end_pause
    begins = {}
    at = start_pause
    for name, share in REVEAL_SHARES:
        begins[name] = (at, share * middle)
        at += share * middle

    def part(name: str) -> np.ndarray:
        begin, length = begins[name]
        return ease(easing, (time - begin) / length)

    return Timeline(part("move"), fps), part("appear") + part("slide")


def reveals_truth(estimates: Estimates, spec: AnimationSpec) -> bool:
    """The shrinkage view of simulated data with `animation.truth` on; a user's table has no truth."""
    return spec.view == "shrinkage" and spec.truth and estimates.truth is not None


def _pair(rmse: dict[str, float]) -> str:
    return " · ".join(f"{name} {value:#.3g}" for name, value in rmse.items())


def _losses(score: TruthScore) -> str:
    """The size groups that partial pooling left further from the truth, e.g. 'small clusters (n = 8),
    intercept 0.398 → 0.526, worse'; empty where there are none."""
    parts = [
        f"{group.label} clusters ({group.sizes}): {coefficient} "
        f"{group.rmse['no_pooling'][coefficient]:#.3g} → {group.rmse['partial_pooling'][coefficient]:#.3g}, worse"
        for coefficient in score.coefficients
        for group in score.losing_groups(coefficient)
    ]
    return "; ".join(parts)


def with_truth_reveal(
    story: PlaneStory, estimates: Estimates, spec: AnimationSpec, progress: np.ndarray, look: Look
) -> PlaneStory:
    """The shrinkage storyboard ending with the truth: true effects, error segments and both RMSEs."""
    score = estimates.truth
    assert score is not None
    own, pooled = no_and_partial_pool(estimates)
    truth = estimates.clusters[["true_intercept", "true_slope"]].to_numpy(dtype=float)
    theme = look.theme
    xlim, ylim = story.xlim, story.ylim
    camera = story.camera
    if spec.zoom == "auto" and spec.camera:
        # the end view holds every true effect too (simulated effects have no wild few, and a group apart
        # is the story, small_differ's); the camera moves with the flight, and the reveal happens there
        # (a second move as the truth appears would be too quick: that part is a tenth of the time)
        start, end = plane_views(estimates, story.states, also=truth)
        position = story.camera.position if story.camera is not None else story.timeline.position
        camera = camera_for(start, end, [pooled[:, 0], pooled[:, 1]], position, PLANE_AXES)
        xlim, ylim = camera.start
    elif spec.zoom != "fixed":  # the view widens to every true effect, which the reveal is about
        xlim, ylim = _widened(xlim, truth[:, 0]), _widened(ylim, truth[:, 1])
        camera = still((xlim, ylim), len(progress), PLANE_AXES)
    final_x, final_y = camera.end if camera is not None else (xlim, ylim)
    shown = np.vstack([pooled, truth])
    corner = quietest_corner(shown, final_x, final_y)
    if spec.zoom != "fixed" and camera is not None and points_in_corner(shown, final_x, final_y, corner):
        # no corner is free: the final view grows on the corner's side by the text's height, so the RMSE
        # box sits on empty plot instead of on the clusters it speaks of
        final_y = with_room(final_y, corner[1])
        views = camera.views.copy()
        views[-1, 1] = final_y
        if not camera.moves:
            views[:, 1] = final_y
            xlim, ylim = final_x, final_y
        camera = dataclasses.replace(camera, views=views)
    reveal = TruthReveal(
        truth=truth,
        own=own,
        pooled=pooled,
        progress=progress,
        truth_color=theme.text,
        own_color=theme.no_pool,
        pooled_color=theme.partial_pool,
        area=look.area(TRUTH_AREA),
        heading=HEADING,
        own_text=f"no pooling: {_pair(score.overall.rmse['no_pooling'])}",
        pooled_text=f"partial pooling: {_pair(score.overall.rmse['partial_pooling'])}",
        warning_text=_losses(score),
        warning_color=theme.warning,
        corner=corner,
        further_color=theme.warning,
    )
    legend = story.legend
    if edge_marks(own, xlim, ylim).outside.any() and not any(entry.label == EDGE_LABEL for entry in legend):
        # this camera opens on another view than the story's: its far starts need their word too
        legend = (*legend, edge_legend(look, theme.no_pool))
    legend = (
        *legend,
        LegendEntry(TRUTH_LABEL, theme.text, marker="X", area=reveal.area),
        LegendEntry(CLOSER_LABEL, theme.partial_pool, line="-", alpha=SEGMENT_ALPHA),
        LegendEntry(FURTHER_LABEL, theme.warning, line="-", alpha=SEGMENT_ALPHA),
    )
    # the widened view changes where far starts enter it: their departures follow the new limits
    return dataclasses.replace(
        story,
        truth=reveal,
        legend=legend,
        xlim=xlim,
        ylim=ylim,
        travel=departures(story.states, xlim, ylim),
        camera=camera,
    )


def _widened(limits: tuple[float, float], values: np.ndarray) -> tuple[float, float]:
    """`limits` stretched, where needed, to hold every value with the usual padding."""
    low, high = float(np.min(values)), float(np.max(values))
    pad = LIMIT_PADDING * (max(high, limits[1]) - min(low, limits[0]))
    return min(limits[0], low - pad), max(limits[1], high + pad)
