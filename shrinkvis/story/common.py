"""Pieces every view shares: the header, legend entries, marker sizes, zoom and edge marks."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ..errors import ScenarioError
from .presets import DPI, POINTS_PER_INCH, Look
from .themes import RGBA
from .timeline import Timeline

if TYPE_CHECKING:  # types only: a renderer process draws a storyboard without pandas or scipy
    from ..fit import Estimates

POINT_AREA = 28.0  # pt², every cluster the same size
# pt², smallest and largest cluster when sizes differ: the smallest clusters move furthest, so even they
# stay ≥ 7 px across at `small` (MIN_POINT_PX), easy to follow
MIN_POINT_PX = 7.0
POINT_AREA_RANGE = ((MIN_POINT_PX * POINTS_PER_INCH / DPI) ** 2, 100.0)
CROWD_CLUSTERS = 300  # from this many clusters on, points get smaller in proportion (area ∝ 1 / J) …
CROWD_FLOOR = 0.3  # … down to this share of their area (the smallest still ≈ 4 px across at `small`)
LIMIT_PADDING = 0.06  # share of the range added on each side so nothing touches the frame
AUTO_ZOOM_SDS = 3.0  # zoom auto: fixed effect ± 3 estimated SDs
# zoom auto (and a batch's shared view) widens to keep this share of the clusters' starting points in view:
# all but the wildest few, whose own estimates from a handful of rows would squash everyone else
START_SHARE = 0.95
EDGE_INSET = 0.015  # share of the range between an edge mark and the frame, so the mark shows whole
FADED_ALPHA = 0.3  # transparency by extremeness: opacity of the most central cluster

NO_POOL_LABEL = "No pooling (per-cluster OLS)"
PARTIAL_POOL_LABEL = "Partial pooling (mixed model)"
BAYES_LABEL = "Partial pooling (posterior mean)"  # as short as the REML label: the legend keeps two columns
COMPLETE_POOL_LABEL = "Complete pooling (one OLS)"
FIXED_EFFECT_LABEL = "Fixed effects"


class Timed:
    """What every storyboard has through its timeline: the number of frames and their rate."""

    timeline: Timeline

    @property
    def n_frames(self) -> int:
        return self.timeline.n_frames

    @property
    def fps(self) -> int:
        return self.timeline.fps


@dataclass(frozen=True)
class Header:
    title: str
    caption: str = ""
    warning: str = ""  # shown in the warning colour: a fit not to be trusted


@dataclass(frozen=True)
class LegendEntry:
    """One legend row: a marker and/or a line in a colour. Marker and line codes are matplotlib's."""

    label: str
    color: RGBA
    marker: str = ""  # "o" circle, "D" diamond, "" none
    area: float = 0.0  # marker area in pt²
    line: str = ""  # "-" solid, "--" dashed, ":" dotted, "" none
    areas: tuple[float, ...] = ()  # several markers side by side (a size key), instead of `area`
    hollow: bool = False  # the marker drawn as an outline in `color`
    alpha: float = 1.0  # of the line


@dataclass(frozen=True)
class Mark:
    """One marker that stands still on a plot (the fixed effects, complete pooling), drawn in the order
    of its storyboard's `marks`, over the clusters. A hollow mark is an outline of `edge_width` points."""

    name: str
    at: np.ndarray  # (2,) data coordinates
    area: float  # pt² (matplotlib's `s`)
    color: RGBA
    marker: str = "o"  # "o" disk, "D" diamond
    hollow: bool = False
    edge_width: float = 0.0  # pt: the outline of a hollow mark, or a thin rim in `edge_color`
    edge_color: RGBA = (0.0, 0.0, 0.0, 0.0)
    appears_from: int = -1  # fades in on the way from this key state to the next; -1: always there


@dataclass(frozen=True)
class EdgeMarks:
    """Where points outside the view are marked: on the edge they left by, pointing outwards."""

    outside: np.ndarray  # (J,) bool
    at: np.ndarray  # (J, 2) position of the mark; NaN for points inside
    side: np.ndarray  # (J,) "<" left, ">" right, "v" below, "^" above, "" inside


def engine_words(estimates: Estimates) -> str:
    """Which fit the frame shows, in a few words."""
    if estimates.bayes is not None:
        return "Bayes (brms default priors) beside REML"
    return f"{estimates.method}, {estimates.engine} engine"


def header(title: str, caption: str, estimates: Estimates) -> Header:
    caption = f"{caption} · {engine_words(estimates)}" if caption else engine_words(estimates)
    return Header(title=title, caption=caption, warning="; ".join(estimates.warnings))


def require_random_slope(estimates: Estimates, view: str) -> None:
    """Views of the (intercept, slope) plane need a slope per cluster, which a random-intercept model lacks."""
    if estimates.random != "slope" and estimates.formula is not None:
        # a model of the whole class with one random effect: the plane needs two
        raise ScenarioError(
            f"animation.view = {view}: the view shows two random effects per cluster, and "
            f"{estimates.formula!r} has one; use --view funnel or --view caterpillar"
        )
    if estimates.random != "slope":
        raise ScenarioError(
            f"animation.view = {view}: the view shows per-cluster slopes, and a random-intercept model "
            "has none (every cluster shares the fixed slope); use --view funnel or --view caterpillar"
            + (" or --view lines" if len(estimates.fixed_effects) > 1 else "")
        )


def marker_sizes(n: np.ndarray, look: Look, clusters: int | None = None) -> np.ndarray:
    """Area proportional to cluster size when sizes differ (twice the rows, twice the ink), from the
    smallest area up; where the sizes span more than POINT_AREA_RANGE allows, area ∝ n^p with p < 1 chosen
    so the largest cluster gets the largest area. One size when all clusters are alike. More than
    CROWD_CLUSTERS clusters (`clusters`, default len(n)) make every point smaller alike."""
    n = np.asarray(n, dtype=float)
    # hundreds of clusters: every point smaller, alike, so the cloud does not become one blot
    crowd = float(np.clip(CROWD_CLUSTERS / max(clusters or len(n), 1), CROWD_FLOOR, 1.0))
    if np.ptp(n) == 0:
        return np.full(len(n), look.area(POINT_AREA) * crowd)
    low, high = POINT_AREA_RANGE
    smallest = max(float(n.min()), 1.0)
    ratio = max(float(n.max()), smallest) / smallest
    power = min(1.0, float(np.log(high / low) / np.log(ratio))) if ratio > 1 else 1.0
    return look.area(1.0) * crowd * low * (np.maximum(n, smallest) / smallest) ** power


def size_legend(n: np.ndarray, look: Look, color: RGBA) -> tuple[LegendEntry, ...]:
    """One key of the smallest, median and largest cluster when sizes differ, in the very areas the plot
    gives them; nothing when all are equal."""
    n = np.asarray(n)
    if np.ptp(n) == 0:
        return ()
    values = sorted({int(n.min()), int(np.median(n)), int(n.max())})
    areas = marker_sizes(np.append(n, values), look, clusters=len(n))[len(n) :]
    label = "n = " + ", ".join(str(value) for value in values)
    return (LegendEntry(label, color, marker="o", areas=tuple(float(area) for area in areas)),)


def extremeness_alpha(points: np.ndarray, center: np.ndarray) -> np.ndarray:
    """Opacity growing with the standardised distance from the centre: central clusters fade."""
    spread = np.nanstd(points, axis=0)
    spread = np.where(spread > 0, spread, 1.0)
    distance = np.hypot(*((points - center) / spread).T)
    largest = np.nanmax(distance) if np.any(distance > 0) else 1.0
    return FADED_ALPHA + (1 - FADED_ALPHA) * distance / largest


def half_width(center: float, sd: float, must_show: np.ndarray, starts: np.ndarray = ()) -> float:
    """How far either side of `center` an auto view reaches: 3 estimated SDs, widened to every value of
    `must_show` (the partial-pooling estimates) and to START_SHARE of the `starts`. 0: nothing to go by."""
    shown = np.asarray(must_show, dtype=float)
    shown = shown[np.isfinite(shown)]
    begun = np.asarray(starts, dtype=float)
    begun = np.abs(begun[np.isfinite(begun)] - center)
    return max(
        AUTO_ZOOM_SDS * sd if np.isfinite(sd) else 0.0,
        *np.abs(shown - center),
        float(np.quantile(begun, START_SHARE)) if len(begun) else 0.0,
        0.0,
    )


def padded(low: float, high: float, center: float = 0.0) -> tuple[float, float]:
    span = high - low if high > low else max(abs(center), 1.0)
    return float(low - LIMIT_PADDING * span), float(high + LIMIT_PADDING * span)


def axis_limits(
    zoom: str,
    fixed: tuple[float, float] | None,
    center: float,
    sd: float,
    every_value: np.ndarray,
    must_show: np.ndarray,
    starts: np.ndarray = (),
) -> tuple[float, float]:
    """One axis's limits.

    fixed: the scenario's limits. auto: `half_width` either side of the center, padded; a zero SD with
    nothing to show falls back to fit. fit: every value, padded.
    """
    if zoom == "fixed" and fixed is not None:
        return float(fixed[0]), float(fixed[1])
    if zoom in ("auto", "fixed") and np.isfinite(center):
        half = half_width(center, sd, must_show, starts)
        if half > 0:
            return padded(center - half, center + half, center)
    values = np.append(np.asarray(every_value, dtype=float), center)
    values = values[np.isfinite(values)]
    return padded(float(values.min()), float(values.max()), center)


def edge_marks(points: np.ndarray, xlim: tuple[float, float], ylim: tuple[float, float]) -> EdgeMarks:
    """Clamp points outside the view onto its edge, inset a little, and say which edge."""
    points = np.asarray(points, dtype=float)
    low = np.array([xlim[0], ylim[0]])
    high = np.array([xlim[1], ylim[1]])
    span = high - low
    # how far outside, in shares of the view: the larger excess decides the edge of a corner point
    below = (low - points) / span
    above = (points - high) / span
    excess = np.column_stack([below[:, 0], above[:, 0], below[:, 1], above[:, 1]])
    outside = np.any(excess > 0, axis=1)
    side = np.where(outside, np.array(["<", ">", "v", "^"])[np.argmax(excess, axis=1)], "")
    inset = EDGE_INSET * span
    at = np.clip(points, low + inset, high - inset)
    at[~outside] = np.nan
    return EdgeMarks(outside=outside, at=at, side=side)
