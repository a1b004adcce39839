"""The funnel view: per-cluster estimates ± 1.96 SE against cluster size, moving from no pooling to
partial pooling, with the fixed effect as a horizontal line (as in Coronado's plots).

It needs no per-cluster slope, so it is the view for random-intercept models: they get the intercept
panel only. Clusters of the same size stand side by side in a narrow column, ordered by their own
estimate, so that balanced data (every cluster the same size) still show each cluster.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

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
)
from .presets import Look
from .timeline import Timeline

if TYPE_CHECKING:  # types only: a renderer process draws a storyboard without pandas or scipy
    from ..fit import Estimates
    from ..scenario import AnimationSpec

Z_95 = 1.96  # normal quantile of a 95% interval
COLUMN_WIDTH = 0.6  # share of the gap between neighbouring sizes that a column of clusters fills
LOG_SIZES_FROM = 20  # largest / smallest cluster size from which the size axis is logarithmic
MAX_SIZE_TICKS = 12
LOG_TICK_STEPS = (1, 2, 5)
BAR_LABEL = "± 1.96 SE"
FUNNEL_POINT_AREA = 0.7 * POINT_AREA  # pt², a little smaller: each point also carries a bar


@dataclass(frozen=True)
class FunnelPanel:
    label: str  # y-axis label
    fixed_effect: float
    x: np.ndarray  # (J,) horizontal place of each cluster: its size (log10 when sizes span a lot), spread
    # into a narrow column among clusters of the same size, ordered by their no-pooling estimate
    states: np.ndarray  # (K, J) estimates: no pooling, partial pooling (REML) [, Bayes]
    se_states: np.ndarray  # (K, J) their standard errors (Bayes: credible-interval width / 3.92)
    ylim: tuple[float, float]


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
    point_area: float
    legend: tuple[LegendEntry, ...]

    def estimates(self, frame: int, panel: int) -> np.ndarray:
        return self.timeline.blend(self.panels[panel].states, frame)

    def std_errors(self, frame: int, panel: int) -> np.ndarray:
        return self.timeline.blend(self.panels[panel].se_states, frame)

    def points(self, frame: int, panel: int) -> np.ndarray:
        return np.column_stack([self.panels[panel].x, self.estimates(frame, panel)])

    def bars(self, frame: int, panel: int) -> np.ndarray:
        """(J, 2, 2) vertical segments from estimate − 1.96 SE to estimate + 1.96 SE."""
        x = self.panels[panel].x
        centre = self.estimates(frame, panel)
        half = Z_95 * np.nan_to_num(self.std_errors(frame, panel))
        return np.stack([np.column_stack([x, centre - half]), np.column_stack([x, centre + half])], axis=1)

    def color(self, frame: int) -> np.ndarray:
        return self.timeline.blend_colours(self.state_colors, frame)

    def edge(self, frame: int, panel: int) -> EdgeMarks:
        return edge_marks(self.points(frame, panel), self.xlim, self.panels[panel].ylim)


def size_positions(n: np.ndarray, order_by: np.ndarray) -> tuple[np.ndarray, bool]:
    """Horizontal place of each cluster: its size, spread into a narrow column among equal sizes."""
    n = np.asarray(n, dtype=float)
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


def funnel(
    estimates: Estimates, spec: AnimationSpec, header: Header, look: Look, timeline: Timeline
) -> FunnelStory:
    table = estimates.clusters
    sds = np.sqrt(np.clip(np.diag(estimates.cov_re), 0, None))
    effects = [("intercept", "Intercept (per cluster)", spec.limits.intercept)]
    if estimates.random == "slope":
        effects.append(("slope", "Slope of x (per cluster)", spec.limits.slope))
    n = table["n"].to_numpy()
    # the funnel's wide mouth is the noisy small clusters: auto zoom shows every estimate (fixed still applies)
    zoom = "fit" if spec.zoom == "auto" else spec.zoom
    panels = []
    for axis, (column, label, fixed_limits) in enumerate(effects):
        partial = table[f"partial_{column}"].to_numpy(dtype=float)
        partial_se = table[f"partial_{column}_se"].to_numpy(dtype=float)
        own = table[f"no_pool_{column}"].to_numpy(dtype=float, copy=True)
        own_se = table[f"no_pool_{column}_se"].to_numpy(dtype=float, copy=True)
        missing = ~(np.isfinite(own) & np.isfinite(own_se))
        own[missing], own_se[missing] = partial[missing], partial_se[missing]
        center = float(estimates.fixed_point[axis])
        states, se_states = [own, partial], [own_se, partial_se]
        if estimates.bayes is not None:
            # the credible interval drawn as ± 1.96 "SE": its width, centred on the posterior mean
            states.append(table[f"bayes_{column}"].to_numpy(dtype=float))
            lo, hi = (table[f"bayes_{column}_{end}"].to_numpy(dtype=float) for end in ("lo", "hi"))
            se_states.append((hi - lo) / (2 * Z_95))
        every = np.concatenate(states)
        ylim = axis_limits(zoom, fixed_limits, center, sds[axis], every, partial)
        x, log_scale = size_positions(n, own)
        panels.append(FunnelPanel(label, center, x, np.stack(states), np.stack(se_states), ylim))
    span = float(np.ptp(x)) or 1.0
    xlim = (float(x.min() - LIMIT_PADDING * span), float(x.max() + LIMIT_PADDING * span))
    xticks, xtick_labels = size_ticks(n, log_scale)
    theme = look.theme
    area = look.area(FUNNEL_POINT_AREA)
    legend = (
        LegendEntry(NO_POOL_LABEL, theme.no_pool, marker="o", area=area),
        LegendEntry(PARTIAL_POOL_LABEL, theme.partial_pool, marker="o", area=area),
        LegendEntry(BAR_LABEL, theme.muted_text, line="-"),
        LegendEntry(FIXED_EFFECT_LABEL, theme.fixed_effect, line="-"),
    )
    colors = [theme.no_pool, theme.partial_pool]
    if estimates.bayes is not None:
        colors.append(theme.complete_pool)
        legend = (
            legend[0],
            LegendEntry("REML: ± 1.96 conditional SE", theme.partial_pool, marker="o", area=area),
            LegendEntry("Bayes: 95 % credible interval", theme.complete_pool, marker="o", area=area),
            legend[3],
        )
    return FunnelStory(
        view="funnel",
        header=header,
        look=look,
        timeline=timeline,
        cluster_n=n,
        xlim=xlim,
        xticks=xticks,
        xtick_labels=xtick_labels,
        x_label="Cluster size (rows, log scale)" if log_scale else "Cluster size (rows)",
        panels=tuple(panels),
        state_colors=np.array(colors),
        point_area=area,
        legend=legend,
    )
