"""Storyboards: what each frame shows, as plain numbers. No matplotlib here.

A storyboard says where every cluster is on every frame, in which colour and size, and which captions
are shown. The renderer draws it and tests assert on it without rendering a pixel.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .fit import Estimates
from .scenario import AnimationSpec

# Colours (RGBA): Okabe–Ito orange → blue is safe for the common colour-vision deficiencies.
NO_POOL_COLOR = (0.902, 0.624, 0.0, 1.0)
PARTIAL_POOL_COLOR = (0.0, 0.447, 0.698, 1.0)
FIXED_EFFECT_COLOR = (0.1, 0.1, 0.1, 1.0)
TRAIL_COLOR = (0.55, 0.55, 0.55, 0.35)
NO_POOL_LABEL = "No pooling (per-cluster OLS)"
PARTIAL_POOL_LABEL = "Partial pooling (mixed model)"
FIXED_EFFECT_LABEL = "Fixed effects"

POINT_AREA = 28.0  # pt², all clusters the same size
POINT_AREA_RANGE = (8.0, 90.0)  # pt², smallest and largest cluster when sizes differ
LIMIT_PADDING = 0.06  # share of the data range added on each side so nothing touches the frame


def ease_cubic_in_out(t: np.ndarray) -> np.ndarray:
    """gganimate's default 'cubic-in-out': slow start, fast middle, slow arrival."""
    t = np.asarray(t, dtype=float)
    return np.where(t < 0.5, 4 * t**3, 1 - (-2 * t + 2) ** 3 / 2)


def timeline(spec: AnimationSpec) -> np.ndarray:
    """Progress (0 → 1) on every frame: hold the start, move with easing, hold the end."""
    frames = spec.frames
    hold_start = int(round(spec.start_pause * frames))
    hold_end = int(round(spec.end_pause * frames))
    moving = max(frames - hold_start - hold_end, 2)
    hold_start = min(hold_start, frames - moving)
    hold_end = frames - hold_start - moving
    motion = ease_cubic_in_out(np.linspace(0.0, 1.0, moving))
    return np.concatenate([np.zeros(hold_start), motion, np.ones(hold_end)])


@dataclass(frozen=True)
class Storyboard:
    """The shrinkage view: each cluster travels from its no-pooling to its partial-pooling estimate."""

    title: str
    caption: str
    x_label: str
    y_label: str
    start: np.ndarray  # (J, 2) first-frame positions: no-pooling (intercept, slope)
    end: np.ndarray  # (J, 2) last-frame positions: partial-pooling (intercept, slope)
    progress: np.ndarray  # (F,) eased share of the way travelled on each frame
    sizes: np.ndarray  # (J,) marker areas in pt²
    cluster_n: np.ndarray  # (J,) rows per cluster, for the size legend
    center: np.ndarray  # (2,) fixed effects: the "black hole"
    xlim: tuple[float, float]
    ylim: tuple[float, float]
    width: int
    height: int
    fps: int
    start_color: tuple[float, float, float, float] = NO_POOL_COLOR
    end_color: tuple[float, float, float, float] = PARTIAL_POOL_COLOR
    warning: str = ""

    @property
    def n_frames(self) -> int:
        return len(self.progress)

    @property
    def sized_by_n(self) -> bool:
        return bool(np.ptp(self.cluster_n) > 0)

    def positions(self, frame: int) -> np.ndarray:
        share = self.progress[frame]
        return self.start + share * (self.end - self.start)

    def colors(self, frame: int) -> np.ndarray:
        """Every point blends from the no-pooling to the partial-pooling colour as it moves."""
        share = self.progress[frame]
        blend = (1 - share) * np.asarray(self.start_color) + share * np.asarray(self.end_color)
        return np.tile(blend, (len(self.start), 1))


def marker_sizes(n: np.ndarray) -> np.ndarray:
    """Area grows linearly with cluster size when sizes differ; one size otherwise."""
    n = np.asarray(n, dtype=float)
    if np.ptp(n) == 0:
        return np.full(len(n), POINT_AREA)
    low, high = POINT_AREA_RANGE
    return low + (n - n.min()) / np.ptp(n) * (high - low)


def _limits(points: np.ndarray) -> tuple[tuple[float, float], tuple[float, float]]:
    finite = points[np.all(np.isfinite(points), axis=1)]
    low = finite.min(axis=0)
    high = finite.max(axis=0)
    span = np.where(high - low > 0, high - low, 1.0)
    low, high = low - LIMIT_PADDING * span, high + LIMIT_PADDING * span
    return (float(low[0]), float(high[0])), (float(low[1]), float(high[1]))


def shrinkage(estimates: Estimates, spec: AnimationSpec, title: str, caption: str = "") -> Storyboard:
    """Build the shrinkage storyboard from a fit."""
    table = estimates.clusters
    end = table[["partial_intercept", "partial_slope"]].to_numpy(dtype=float)
    start = table[["no_pool_intercept", "no_pool_slope"]].to_numpy(dtype=float, copy=True)
    center = estimates.fixed_point
    y_label = "Slope of x (per cluster)"
    if not np.isfinite(end[:, 1]).any():
        start, end, center = _ranked_by_own_estimate(start, end, center)
        y_label = "Clusters, ranked by their own mean"
    # a cluster without its own estimate (too few rows, constant x) appears where the mixed model puts it
    missing = ~np.all(np.isfinite(start), axis=1)
    start[missing] = end[missing]
    xlim, ylim = _limits(np.vstack([start, end, center[None, :]]))
    n = table["n"].to_numpy()
    return Storyboard(
        title=title,
        caption=caption,
        x_label="Intercept (per cluster)",
        y_label=y_label,
        start=start,
        end=end,
        progress=timeline(spec),
        sizes=marker_sizes(n),
        cluster_n=n,
        center=center,
        xlim=xlim,
        ylim=ylim,
        width=spec.width,
        height=spec.height,
        fps=spec.fps,
        warning="; ".join(estimates.warnings),
    )


def _ranked_by_own_estimate(
    start: np.ndarray, end: np.ndarray, center: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A model without predictor has no slopes: each cluster gets a row of its own, ranked by its own
    estimate, and moves sideways toward the fixed intercept."""
    rank = np.empty(len(start))
    rank[np.argsort(start[:, 0], kind="stable")] = np.arange(1, len(start) + 1)
    middle = (len(start) + 1) / 2
    return (
        np.column_stack([start[:, 0], rank]),
        np.column_stack([end[:, 0], rank]),
        np.array([center[0], middle]),
    )
