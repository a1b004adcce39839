"""The funnel view: per-cluster estimates ± 1.96 SE against cluster size, moving from no pooling to
partial pooling, with the fixed effect as a horizontal line (as in Coronado's plots).

It needs no per-cluster slope, so it is the view for random-intercept models: they get the intercept
panel only. Clusters of the same size stand side by side in a narrow column, ordered by their own
estimate, so that balanced data (every cluster the same size) still show each cluster.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from .camera import Camera, camera_for, framed, still
from .common import (
    FIXED_EFFECT_LABEL,
    LIMIT_PADDING,
    NO_POOL_LABEL,
    PARTIAL_POOL_LABEL,
    POINT_AREA,
    EdgeMarks,
    Header,
    LegendEntry,
    Timed,
    axis_limits,
    edge_marks,
    marker_sizes,
    size_legend,
)
from .presets import Look
from .timeline import Timeline

if TYPE_CHECKING:  # types only: a renderer process draws a storyboard without pandas or scipy
    from ..fit import Estimates
    from ..scenario import AnimationSpec

Z_95 = 1.96  # normal quantile of a 95% interval
COLUMN_WIDTH = 0.3  # share of the gap between neighbouring sizes that a column of clusters fills
LOG_SIZES_FROM = 20  # largest / smallest cluster size from which the size axis is logarithmic
MAX_SIZE_TICKS = 12
LOG_TICK_STEPS = (1, 2, 5)
BAR_LABEL = "± 1.96 SE"
FUNNEL_LABEL = "95% of own estimates (model)"
FUNNEL_SAMPLES = 60  # points along each funnel line
FUNNEL_POINT_AREA = 0.7 * POINT_AREA  # pt², a little smaller: each point also carries a bar
BESIDE_SHARE = 0.22  # of the smallest gap between neighbouring clusters: REML and Bayes stand this far apart
BAYES_CAPTIONS = (
    "1 · No pooling: each cluster's own estimate",
    "2 · REML partial pooling: variances taken as known",
    "3 · Bayes (right) beside REML (left): variances uncertain",
)


@dataclass(frozen=True)
class FunnelPanel:
    label: str  # y-axis label
    fixed_effect: float
    x: np.ndarray  # (J,) horizontal place of each cluster: its size (log10 when sizes span a lot), spread
    # into a narrow column among clusters of the same size, ordered by their no-pooling estimate
    states: np.ndarray  # (K, J) estimates: no pooling, partial pooling (REML) [, Bayes]
    se_states: np.ndarray  # (K, J) their standard errors (Bayes: credible-interval width / 3.92)
    ylim: tuple[float, float]
    # (2, M, 2) the funnel: fixed effect ∓ 1.96·√(τ² + v/n) across the sizes, lower and upper line, where
    # v/n is the sampling variance of a cluster's own estimate at size n (σ²/n for an intercept)
    funnel_lines: np.ndarray = field(default_factory=lambda: np.empty((2, 0, 2)))


@dataclass(frozen=True)
class FunnelStory(Timed):
    view: str
    header: Header
    look: Look
    timeline: Timeline
    cluster_n: np.ndarray  # (J,)
    xlim: tuple[float, float]
    xticks: np.ndarray  # positions on the x axis …
    xtick_labels: tuple[str, ...]  # … and the cluster sizes they stand for
    x_label: str
    panels: tuple[FunnelPanel, ...]
    state_colors: np.ndarray  # (2, 4)
    point_area: float | np.ndarray  # pt²: one for all, or (J,) in the caterpillar, sized by n
    legend: tuple[LegendEntry, ...]
    # the caterpillar: estimates along the x axis, each cluster on its own row (the story's x is then
    # drawn upwards); points, bars, edges and `axes` below are in drawing coordinates either way
    horizontal: bool = False
    # the estimate axis of each panel on each frame; None: each panel's `ylim` throughout
    camera: Camera | None = None
    # named while each key state shows, from the first frame of the move to it; empty: no captions
    stage_captions: tuple[str, ...] = ()
    # three key states (no pooling → REML → Bayes): from the middle state on, REML stays on screen, and
    # the two stand this far apart along x (REML to the left, Bayes to the right); 0: nothing stays
    beside: float = 0.0

    def stage_caption(self, frame: int) -> str:
        return self.stage_captions[self.timeline.heading_state(frame)] if self.stage_captions else ""

    def _apart(self, frame: int) -> float:
        """0 up to the middle state, 1 once the moving points have reached the last: how far apart."""
        if not self.beside:
            return 0.0
        return float(np.clip(self.timeline.position[frame] - 1.0, 0.0, 1.0))

    def kept(self, frame: int, panel: int) -> tuple[np.ndarray, np.ndarray] | None:
        """(points, bars) of the middle state (REML), left where it was as the points move on to Bayes,
        shifted left by `beside`; None while the points have not left it."""
        apart = self._apart(frame)
        if apart <= 0:
            return None
        one = self.panels[panel]
        x = one.x - apart * self.beside
        centre = one.states[1]
        half = Z_95 * np.nan_to_num(one.se_states[1])
        points = self._drawn(np.column_stack([x, centre]))
        bars = self._drawn(
            np.stack([np.column_stack([x, centre - half]), np.column_stack([x, centre + half])], axis=1)
        )
        return points, bars

    def estimate_limits(self, frame: int, panel: int) -> tuple[float, float]:
        if self.camera is None:
            return self.panels[panel].ylim
        return self.camera.view(frame)[panel]

    def _drawn(self, xy: np.ndarray) -> np.ndarray:
        return xy[..., ::-1] if self.horizontal else xy

    def axes(self, panel: int, frame: int = 0) -> tuple[tuple[float, float], tuple[float, float], str, str]:
        """(x limits, y limits, x label, y label) of a panel as drawn at this frame."""
        limits_and_labels = (
            self.xlim,
            self.estimate_limits(frame, panel),
            self.x_label,
            self.panels[panel].label,
        )
        if self.horizontal:
            return limits_and_labels[1], limits_and_labels[0], limits_and_labels[3], limits_and_labels[2]
        return limits_and_labels

    def estimates(self, frame: int, panel: int) -> np.ndarray:
        return self.timeline.blend(self.panels[panel].states, frame)

    def std_errors(self, frame: int, panel: int) -> np.ndarray:
        return self.timeline.blend(self.panels[panel].se_states, frame)

    def points(self, frame: int, panel: int) -> np.ndarray:
        x = self.panels[panel].x + self._apart(frame) * self.beside
        return self._drawn(np.column_stack([x, self.estimates(frame, panel)]))

    def bars(self, frame: int, panel: int) -> np.ndarray:
        """(J, 2, 2) segments from estimate − 1.96 SE to estimate + 1.96 SE."""
        x = self.panels[panel].x + self._apart(frame) * self.beside
        centre = self.estimates(frame, panel)
        half = Z_95 * np.nan_to_num(self.std_errors(frame, panel))
        return self._drawn(
            np.stack([np.column_stack([x, centre - half]), np.column_stack([x, centre + half])], axis=1)
        )

    def funnel_lines(self, panel: int) -> np.ndarray:
        return self._drawn(self.panels[panel].funnel_lines)

    def color(self, frame: int) -> np.ndarray:
        """The moving points' colour; told in stages, that of the stage they move to (as the caption)."""
        if self.stage_captions:
            return np.array(self.state_colors[self.timeline.heading_state(frame)], dtype=float)
        return self.timeline.blend_colours(self.state_colors, frame)

    def edge(self, frame: int, panel: int) -> EdgeMarks:
        xlim, ylim, _, _ = self.axes(panel, frame)
        return edge_marks(self.points(frame, panel), xlim, ylim)


def size_positions(n: np.ndarray, order_by: np.ndarray) -> tuple[np.ndarray, bool]:
    """Horizontal place of each cluster: its size, spread into a narrow column among equal sizes."""
    n = np.asarray(n, dtype=float)
    if np.ptp(n) == 0:  # one size: a caterpillar, each cluster at its rank
        return np.argsort(np.argsort(order_by, kind="stable"), kind="stable") + 1.0, False
    log_scale = n.min() > 0 and n.max() / n.min() >= LOG_SIZES_FROM
    base = np.log10(n) if log_scale else n.copy()
    sizes = np.unique(base)
    gap = float(np.min(np.diff(sizes))) if len(sizes) > 1 else 1.0
    gap = max(gap, 0.02 * float(np.ptp(base)))  # many close sizes: let columns overlap a little
    width = COLUMN_WIDTH * gap
    x = base.copy()
    for size in sizes:
        members = np.flatnonzero(base == size)
        if len(members) > 1:
            ranked = members[np.argsort(order_by[members], kind="stable")]
            x[ranked] = size + np.linspace(-width / 2, width / 2, len(members))
    return x, log_scale


def size_ticks(n: np.ndarray, log_scale: bool) -> tuple[np.ndarray, tuple[str, ...]]:
    sizes = np.unique(np.asarray(n, dtype=int))
    if len(sizes) == 1:  # the x axis is a rank: no size ticks
        return np.array([], dtype=float), ()
    if log_scale:
        decades = range(int(np.floor(np.log10(sizes.min()))), int(np.ceil(np.log10(sizes.max()))) + 1)
        values = [step * 10**d for d in decades for step in LOG_TICK_STEPS]
        values = [v for v in values if sizes.min() <= v <= sizes.max()]
        return np.log10(values), tuple(str(v) for v in values)
    if len(sizes) > MAX_SIZE_TICKS:
        step = int(np.ceil(np.ptp(sizes) / (MAX_SIZE_TICKS - 1)))
        values = list(range(int(sizes.min()), int(sizes.max()) + 1, max(step, 1)))
        return np.array(values, dtype=float), tuple(str(v) for v in values)
    return sizes.astype(float), tuple(str(v) for v in sizes)


def funnel_lines(
    n: np.ndarray, x: np.ndarray, log_scale: bool, center: float, between: float, per_row: float
) -> np.ndarray:
    """(2, M, 2) the lower and upper funnel line, center ∓ 1.96·√(between + per_row / n), over the x range."""
    span = float(np.ptp(x)) or 1.0
    position = np.linspace(
        float(x.min()) - LIMIT_PADDING * span, float(x.max()) + LIMIT_PADDING * span, FUNNEL_SAMPLES
    )
    if np.ptp(n) == 0:  # one size: the x axis is a rank, and the funnel two level lines
        size = np.full(FUNNEL_SAMPLES, float(n[0]))
    else:
        size = 10**position if log_scale else position
        size = np.clip(size, float(np.min(n)) * 0.75, None)  # the funnel has no meaning below the sizes shown
    half = Z_95 * np.sqrt(between + per_row / size)
    return np.stack([np.column_stack([position, center - half]), np.column_stack([position, center + half])])


def funnel(
    estimates: Estimates,
    spec: AnimationSpec,
    header: Header,
    look: Look,
    timeline: Timeline,
    caterpillar: bool = False,
) -> FunnelStory:
    """The funnel; with `caterpillar`, every cluster on its own row ranked by its own estimate, moving
    sideways to the fixed effect (the classic picture of y ~ 1 + (1 | g))."""
    table = estimates.clusters
    sds = np.sqrt(np.clip(np.diag(estimates.cov_re), 0, None))
    effects = [("intercept", "Intercept (per cluster)", spec.limits.intercept)]
    if estimates.random == "slope":
        effects.append(("slope", "Slope of x (per cluster)", spec.limits.slope))
    n = table["n"].to_numpy()
    residual_variance = estimates.residual_sd**2
    # the funnel's wide mouth is the noisy small clusters: auto zoom shows every estimate (fixed still applies)
    zoom = "fit" if spec.zoom == "auto" else spec.zoom
    panels = []
    starts, ends = [], []  # the camera's views of each panel's estimate axis
    for axis, (column, label, fixed_limits) in enumerate(effects):
        partial = table[f"partial_{column}"].to_numpy(dtype=float)
        partial_se = table[f"partial_{column}_se"].to_numpy(dtype=float)
        own = table[f"no_pool_{column}"].to_numpy(dtype=float, copy=True)
        own_se = table[f"no_pool_{column}_se"].to_numpy(dtype=float, copy=True)
        if column == "intercept" and estimates.random == "intercept":
            # the report's identity: BLUP_j = λ_j · (x-adjusted mean_j) + (1 − λ_j) · fixed intercept, so the
            # cluster starts at that mean and moves toward the fixed line by exactly 1 − λ_j
            from ..fit.shrinkage import adjusted_means

            own = np.array(adjusted_means(estimates), dtype=float)
            own_se = np.sqrt(residual_variance / n)
        missing = ~(np.isfinite(own) & np.isfinite(own_se))
        own[missing], own_se[missing] = partial[missing], partial_se[missing]
        center = float(estimates.fixed_point[axis])
        x, log_scale = size_positions(np.ones_like(n) if caterpillar else n, own)
        # an own estimate's sampling variance shrinks like 1/n: σ²/n for an intercept; for a slope, the
        # clusters' own variances scaled to size (their median of SE²·n)
        per_row = (
            residual_variance
            if column == "intercept"
            else float(np.nanmedian(own_se[~missing] ** 2 * n[~missing]))
        )
        lines = (
            funnel_lines(n, x, log_scale, center, float(sds[axis]) ** 2, per_row)
            if np.ptp(n) == 0 or not caterpillar  # a caterpillar of many sizes has no line of one width
            else np.empty((2, 0, 2))
        )
        states, se_states = [own, partial], [own_se, partial_se]
        if estimates.bayes is not None:
            # the credible interval drawn as ± 1.96 "SE": its width, centred on the posterior mean
            states.append(table[f"bayes_{column}"].to_numpy(dtype=float))
            lo, hi = (table[f"bayes_{column}_{end}"].to_numpy(dtype=float) for end in ("lo", "hi"))
            se_states.append((hi - lo) / (2 * Z_95))
        shown = np.concatenate([*states, lines[..., 1].ravel()])
        ylim = axis_limits(zoom, fixed_limits, center, sds[axis], shown, partial)
        # the camera opens on the own estimates and ends on the pooled ones with their intervals (REML
        # and, with the Bayesian engine, Bayes: both in one view), a wild few own estimates left outside
        starts.append(framed([own], [[center]]))
        pooled = np.concatenate(
            [
                np.concatenate([m - Z_95 * e, m + Z_95 * e])
                for m, e in zip(states[1:], se_states[1:], strict=True)
            ]
        )
        ends.append(framed([pooled], [[center]]))
        panels.append(FunnelPanel(label, center, x, np.stack(states), np.stack(se_states), ylim, lines))
    span = float(np.ptp(x)) or 1.0
    xlim = (float(x.min() - LIMIT_PADDING * span), float(x.max() + LIMIT_PADDING * span))
    xticks, xtick_labels = size_ticks(np.ones_like(n) if caterpillar else n, log_scale)
    theme = look.theme
    area = look.area(FUNNEL_POINT_AREA)
    legend = (
        LegendEntry(NO_POOL_LABEL, theme.no_pool, marker="o", area=area),
        LegendEntry(PARTIAL_POOL_LABEL, theme.partial_pool, marker="o", area=area),
        LegendEntry(BAR_LABEL, theme.muted_text, line="-"),
        LegendEntry(FIXED_EFFECT_LABEL, theme.fixed_effect, line="-"),
        LegendEntry(FUNNEL_LABEL, theme.contour, line="--"),
    )
    # the renderer wraps a label wider than the figure (a narrow preset) between words: the spaces within
    # the parentheses do not break, so "(n = 4 each)" goes to the next line whole
    if caterpillar and np.ptp(n) > 0:
        # a caterpillar's rows are ranked by estimate, not size: the points' areas say how big each is
        area = marker_sizes(n, look)
        legend = (*legend, *size_legend(n, look, theme.muted_text))
    if caterpillar:
        each = f"n = {int(n[0])} each" if np.ptp(n) == 0 else f"n = {int(n.min())} to {int(n.max())}"
        # drawn upright beside a panel as tall as the plot: two short lines, never past the header
        x_label = f"Clusters, ranked by\nown estimate ({_unbroken(each)})"
    elif np.ptp(n) == 0:
        x_label = f"Rank of own estimate ({_unbroken(f'n = {int(n[0])} each')})"
    else:
        scale = ", log scale" if log_scale else ""
        x_label = f"Size n{scale}, ranked within each n"
    colors = [theme.no_pool, theme.partial_pool]
    if estimates.bayes is not None:
        colors.append(theme.complete_pool)
        legend = (
            legend[0],
            # one marker size in the legend (a caterpillar's areas by n have their own key)
            LegendEntry("REML: ± 1.96 conditional SE", theme.partial_pool, marker="o", area=legend[1].area),
            LegendEntry(
                "Bayes: 95 % credible interval", theme.complete_pool, marker="o", area=legend[1].area
            ),
            *legend[3:],
        )
    names = tuple(column for column, _, _ in effects)
    if spec.zoom == "auto" and spec.camera:
        finals = [panel.states[-1] for panel in panels]
        camera = camera_for(tuple(starts), tuple(ends), finals, np.clip(timeline.position, 0.0, 1.0), names)
    else:
        camera = still(tuple(panel.ylim for panel in panels), timeline.n_frames, names)
    captions: tuple[str, ...] = ()
    beside = 0.0
    if estimates.bayes is not None:
        captions = BAYES_CAPTIONS
        gaps = np.diff(np.unique(panels[0].x))
        beside = BESIDE_SHARE * float(gaps.min()) if len(gaps) else BESIDE_SHARE
    return FunnelStory(
        stage_captions=captions,
        beside=beside,
        camera=camera,
        view="caterpillar" if caterpillar else "funnel",
        header=header,
        look=look,
        timeline=timeline,
        cluster_n=n,
        xlim=xlim,
        xticks=xticks,
        xtick_labels=xtick_labels,
        x_label=x_label,
        panels=tuple(panels),
        state_colors=np.array(colors),
        point_area=area,
        legend=legend,
        horizontal=caterpillar,
    )


def _unbroken(text: str) -> str:
    """`text` with no-break spaces: a wrapped label keeps it on one line."""
    return text.replace(" ", "\u00a0")
