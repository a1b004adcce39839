"""The camera: which part of the plane (or of an estimate axis) each frame shows.

A view opens framed on the clusters' own estimates (no pooling) and ends framed on what the final state
shows (partial pooling, the fixed effects, and the truths where they are revealed). In between the axes
move with the points, eased alike, so the scale changes smoothly and the ticks and gridlines move with it.

Framing is robust: a few wild own estimates (a cluster of 3 rows) do not set the view. They lie outside
it and are drawn as edge marks until they come in (see `common.edge_marks`).

The camera takes points, never the model: whatever two effects a view shows, it frames their values.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .common import LIMIT_PADDING

# Tukey's far-out fence: values more than this many interquartile ranges beyond the quartiles are "wild"
# and left outside the view (Tukey 1977 calls 3 IQR "far out"); normal spreads keep every value
FENCE_IQRS = 3.0
# the end view spans at least this share of the start view on each axis: a collapse onto one value
# (a singular fit's slopes) zooms in a lot, but not so far that the scale change becomes a jump
MIN_END_SHARE = 0.2
# the camera moves only where one view cannot frame both ends of the story: when the final state's
# 5–95% span would fill less than this share of a view holding the start and the end on every axis (a
# moving view costs a fifth more time to draw and encode, and five times the GIF's bytes)
STILL_FILL = 0.4

Limits = tuple[float, float]


@dataclass(frozen=True)
class Camera:
    """Key views and where each frame is between them.

    `views[k, a]` is the [low, high] of axis a in key view k; `position[f]` runs from 0 (the first key
    view) to K − 1 (the last), eased as the points are. Axis names say what each axis shows, for the
    summary ("intercept", "slope")."""

    views: np.ndarray  # (K, A, 2)
    position: np.ndarray  # (F,)
    axes: tuple[str, ...]  # (A,)

    def view(self, frame: int) -> tuple[Limits, ...]:
        """The limits of every axis at this frame."""
        position = float(self.position[frame])
        k = min(int(np.floor(position)), max(len(self.views) - 2, 0))
        share = position - k
        if len(self.views) == 1 or share <= 0:
            limits = self.views[k]
        elif share >= 1:
            limits = self.views[k + 1]
        else:
            limits = self.views[k] + share * (self.views[k + 1] - self.views[k])
        return tuple((float(low), float(high)) for low, high in limits)

    @property
    def start(self) -> tuple[Limits, ...]:
        return self.view(0)

    @property
    def end(self) -> tuple[Limits, ...]:
        return self.view(len(self.position) - 1)

    def frame_views(self) -> list[tuple[Limits, ...]]:
        """Every distinct view a frame shows, in order: what the tick labels must find room for (a view
        between two key views may need a decimal more than either)."""
        return [self.view(frame) for frame in np.unique(self.position, return_index=True)[1]]

    @property
    def moves(self) -> bool:
        return bool(np.ptp(self.views, axis=0).any())

    def record(self) -> dict[str, dict[str, list[float]]]:
        """The first and the last frame's axes, for summary.json: {"start": {"intercept": [lo, hi], …}, "end": …}."""
        return {
            moment: {
                name: [round(low, 6), round(high, 6)]
                for name, (low, high) in zip(self.axes, view, strict=True)
            }
            for moment, view in (("start", self.start), ("end", self.end))
        }


def still(limits: tuple[Limits, ...], frames: int, axes: tuple[str, ...]) -> Camera:
    """A camera that does not move: one view for every frame."""
    return Camera(np.array([limits], dtype=float), np.zeros(frames), axes)


def fence(values: np.ndarray) -> Limits | None:
    """The range of the values that are not far out (beyond the quartiles by FENCE_IQRS interquartile
    ranges); None when there are no finite values."""
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values)]
    if not len(values):
        return None
    q1, q3 = np.quantile(values, [0.25, 0.75])
    reach = FENCE_IQRS * (q3 - q1)
    kept = values[(values >= q1 - reach) & (values <= q3 + reach)]
    return float(kept.min()), float(kept.max())


def framed(robust: list[np.ndarray], whole: list[np.ndarray]) -> Limits:
    """One axis's view: the fenced range of each `robust` set (estimates, where a wild few must not set
    the view) and every value of each `whole` set (the fixed effects, complete pooling), padded."""
    lows, highs = [], []
    for values in robust:
        reach = fence(values)
        if reach is not None:
            lows.append(reach[0])
            highs.append(reach[1])
    for values in whole:
        values = np.asarray(values, dtype=float).ravel()
        values = values[np.isfinite(values)]
        if len(values):
            lows.append(float(values.min()))
            highs.append(float(values.max()))
    low, high = min(lows), max(highs)
    span = high - low if high > low else max(abs(low), 1.0) * 0.1
    middle = (low + high) / 2
    low, high = middle - span / 2, middle + span / 2
    return float(low - LIMIT_PADDING * span), float(high + LIMIT_PADDING * span)


def at_least(view: Limits, reference: Limits, share: float = MIN_END_SHARE) -> Limits:
    """`view` widened about its middle to span at least `share` of `reference`."""
    span = view[1] - view[0]
    needed = share * (reference[1] - reference[0])
    if span >= needed:
        return view
    middle = (view[0] + view[1]) / 2
    return middle - needed / 2, middle + needed / 2


def moving(
    start: tuple[Limits, ...], ends: list[tuple[Limits, ...]], position: np.ndarray, axes: tuple[str, ...]
) -> Camera:
    """A camera from `start` through each of `ends` (each kept to at least MIN_END_SHARE of the start)."""
    views = [start]
    for end in ends:
        views.append(tuple(at_least(limits, first) for limits, first in zip(end, start, strict=True)))
    return Camera(np.array(views, dtype=float), np.asarray(position, dtype=float), axes)


def span_share(values: np.ndarray, limits: Limits) -> float:
    """How much of `limits` the 5–95% range of the values spans."""
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values)]
    if not len(values):
        return 0.0
    low, high = np.quantile(values, [0.05, 0.95])
    return float((high - low) / (limits[1] - limits[0]))


def camera_for(
    start: tuple[Limits, ...],
    end: tuple[Limits, ...],
    finals: list[np.ndarray],
    position: np.ndarray,
    axes: tuple[str, ...],
) -> Camera:
    """A still view holding both `start` and `end` where that frames the final state well (its values
    `finals`, one array per axis, span STILL_FILL of it on some axis), else a camera from `start` to `end`."""
    both = tuple((min(s[0], e[0]), max(s[1], e[1])) for s, e in zip(start, end, strict=True))
    if max(span_share(final, limits) for final, limits in zip(finals, both, strict=True)) >= STILL_FILL:
        return still(both, len(position), axes)
    return moving(start, [end], position, axes)


def one_scale(camera: Camera, ratio: float) -> Camera:
    """The camera with every key view of two axes widened about its middle, on one axis, so that
    (y span) / (x span) is `ratio`: drawn in a box of that height-to-width ratio, a unit is as long on
    either axis. Nothing in a view leaves it."""
    views = np.array(camera.views, dtype=float, copy=True)
    for view in views:
        (x_low, x_high), (y_low, y_high) = view
        x_span, y_span = x_high - x_low, y_high - y_low
        if y_span < ratio * x_span:
            grow, axis = ratio * x_span - y_span, 1
        else:
            grow, axis = y_span / ratio - x_span, 0
        view[axis] += (-grow / 2, grow / 2)
    return Camera(views, camera.position, camera.axes)
