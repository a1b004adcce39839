"""The lines view: one panel per cluster with its data, the complete-pooling line and a line that morphs
from the cluster's own fit (no pooling) to its mixed-model fit (partial pooling), as in Mahr's plots.

Twelve clusters by default, chosen to tell the story: the smallest and the largest (when sizes differ),
the most and the least shrunk. Panels run from the most to the least shrunk.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ..errors import ScenarioError
from .common import (
    COMPLETE_POOL_LABEL,
    LIMIT_PADDING,
    NO_POOL_LABEL,
    PARTIAL_POOL_LABEL,
    Header,
    LegendEntry,
    Timed,
)
from .plane import complete_pool
from .presets import Look
from .timeline import Timeline

if TYPE_CHECKING:  # types only: a renderer process draws a storyboard without pandas or scipy
    import pandas as pd

    from ..fit import Estimates
    from ..scenario import AnimationSpec

DATA_LABEL = "Data"
DATA_POINT_AREA = 10.0  # pt²
PANEL_ASPECT = 1.25  # width / height a panel should have; the grid is chosen to come close


@dataclass(frozen=True)
class LinePanel:
    cluster: str
    n: int
    x: np.ndarray  # the cluster's rows
    y: np.ndarray
    no_pool: np.ndarray  # (2,) intercept, slope of the cluster's own OLS (partial pooling if it has none)
    partial_pool: np.ndarray  # (2,) intercept, slope of the mixed model's fit for the cluster
    moved: float  # the report's shrinkage of the cluster: share of the way to the fixed effects (NaN: no own fit)
    group_name: str = "Cluster"  # what a cluster is called in the data: "Subject 370"

    @property
    def name(self) -> str:
        """The cluster as the data call it: "Subject 370"; a label that says what it is already ("School
        E" in a column `school`) is not prefixed again."""
        if self.cluster.casefold().startswith(self.group_name.casefold()):
            return self.cluster
        return f"{self.group_name} {self.cluster}"

    @property
    def short_name(self) -> str:
        """The label alone ("370"), for a panel too narrow for "Subject 370"."""
        return self.cluster

    @property
    def size_text(self) -> str:
        return f"n = {self.n}"

    @property
    def title(self) -> str:
        return f"{self.name} · {self.size_text}"


@dataclass(frozen=True)
class LinesStory(Timed):
    view: str
    header: Header
    look: Look
    timeline: Timeline
    panels: tuple[LinePanel, ...]
    rows: int
    columns: int
    complete_pool: np.ndarray  # (2,) intercept, slope
    state_colors: np.ndarray  # (2, 4) colour of the morphing line: no pooling, partial pooling
    xlim: tuple[float, float]
    ylim: tuple[float, float]
    x_label: str
    y_label: str
    legend: tuple[LegendEntry, ...]

    def coefficients(self, frame: int) -> np.ndarray:
        """(P, 2) intercept and slope of each panel's morphing line."""
        states = np.stack(
            [[panel.no_pool for panel in self.panels], [panel.partial_pool for panel in self.panels]]
        )
        return self.timeline.blend(states, frame)

    def segments(self, frame: int) -> np.ndarray:
        """(P, 2, 2) each panel's morphing line, from the left to the right edge."""
        return line_segments(self.coefficients(frame), self.xlim)

    def color(self, frame: int) -> np.ndarray:
        return self.timeline.blend_colours(self.state_colors, frame)


def line_segments(coefficients: np.ndarray, xlim: tuple[float, float]) -> np.ndarray:
    x = np.array(xlim)
    coefficients = np.atleast_2d(coefficients)
    y = coefficients[:, :1] + coefficients[:, 1:2] * x
    return np.stack([np.broadcast_to(x, y.shape), y], axis=-1)


def choose_clusters(n: np.ndarray, moved: np.ndarray, count: int) -> list[int]:
    """Row indices taken in turn from each telling list until `count` are chosen."""
    order = np.arange(len(n))
    lists = []
    if np.ptp(n) > 0:
        lists.append(order[np.argsort(n, kind="stable")])  # smallest first
        lists.append(order[np.argsort(-n, kind="stable")])  # largest first
    has_fit = np.isfinite(moved)
    by_shrinkage = order[has_fit][np.argsort(-moved[has_fit], kind="stable")]
    lists.append(by_shrinkage)  # most shrunk first
    lists.append(by_shrinkage[::-1])  # least shrunk first
    target = min(count, len(n))
    chosen: list[int] = []
    for depth in range(len(n)):
        for candidates in lists:
            if len(chosen) < target and depth < len(candidates) and candidates[depth] not in chosen:
                chosen.append(int(candidates[depth]))
    # clusters without their own fit come last, when asked for more panels than the lists hold
    chosen += [int(j) for j in order if j not in chosen][: target - len(chosen)]
    return chosen


def grid_shape(count: int, width: int, height: int) -> tuple[int, int]:
    """(rows, columns) whose panels come closest to PANEL_ASPECT, leaving few cells empty."""
    best = (count, 1)
    best_score = np.inf
    for columns in range(1, count + 1):
        rows = -(-count // columns)
        aspect = (width / columns) / (height / rows)
        empty = rows * columns - count
        score = abs(np.log(aspect / PANEL_ASPECT)) + 0.3 * empty / columns
        if score < best_score:
            best, best_score = (rows, columns), score
    return best


def lines(
    estimates: Estimates,
    data: pd.DataFrame | None,
    spec: AnimationSpec,
    header: Header,
    look: Look,
    timeline: Timeline,
) -> LinesStory:
    if data is None:
        raise ScenarioError(
            "animation.view = lines: the lines view draws the data; pass the data to render()"
        )
    if "x" not in data.columns:
        raise ScenarioError(
            "animation.view = lines: the lines view needs an x column to draw lines; "
            "use --view caterpillar or --view funnel"
        )
    table = estimates.clusters
    partial_pool = table[["partial_intercept", "partial_slope"]].to_numpy(dtype=float)
    no_pool = table[["no_pool_intercept", "no_pool_slope"]].to_numpy(dtype=float, copy=True)
    missing = ~np.all(np.isfinite(no_pool), axis=1)
    # most and least shrunk by the report's measure, so the report's most shrunk cluster has its panel
    from ..fit.shrinkage import shrinkage_shares

    moved = np.where(missing, np.nan, shrinkage_shares(estimates))
    no_pool[missing] = partial_pool[missing]
    n = table["n"].to_numpy()
    chosen = choose_clusters(n, moved, spec.panels)
    chosen.sort(key=lambda j: (-moved[j] if np.isfinite(moved[j]) else np.inf, j))

    rows_of = data.groupby("cluster", sort=False).indices
    panels = []
    for j in chosen:
        label = table["cluster"].iloc[j]
        rows = rows_of[label]
        panels.append(
            LinePanel(
                cluster=str(label),
                n=int(n[j]),
                x=data["x"].to_numpy(dtype=float)[rows],
                y=data["y"].to_numpy(dtype=float)[rows],
                no_pool=no_pool[j],
                partial_pool=partial_pool[j],
                moved=float(moved[j]),
            )
        )
    complete = complete_pool(estimates)
    xlim, ylim = _limits(panels, complete)
    rows_count, columns = grid_shape(len(panels), look.width, look.height)
    theme = look.theme
    legend = (
        LegendEntry(DATA_LABEL, theme.data_point, marker="o", area=look.area(DATA_POINT_AREA)),
        LegendEntry(COMPLETE_POOL_LABEL, theme.complete_pool, line="--"),
        LegendEntry(NO_POOL_LABEL, theme.no_pool, line=":"),
        LegendEntry(PARTIAL_POOL_LABEL, theme.partial_pool, line="-"),
    )
    return LinesStory(
        view="lines",
        header=header,
        look=look,
        timeline=timeline,
        panels=tuple(panels),
        rows=rows_count,
        columns=columns,
        complete_pool=complete,
        state_colors=np.array([theme.no_pool, theme.partial_pool]),
        xlim=xlim,
        ylim=ylim,
        x_label="x",
        y_label="y",
        legend=legend,
    )


def _limits(panels: list[LinePanel], complete: np.ndarray) -> tuple[tuple[float, float], tuple[float, float]]:
    """Shared by every panel so they compare: all the data and the ends of the final lines."""
    x = np.concatenate([panel.x for panel in panels])
    x_low, x_high = float(x.min()), float(x.max())
    if x_high <= x_low:
        x_low, x_high = x_low - 1, x_high + 1
    pad = LIMIT_PADDING * (x_high - x_low)
    xlim = (x_low - pad, x_high + pad)
    ends = line_segments(np.vstack([[panel.partial_pool for panel in panels], complete]), xlim)[..., 1]
    y = np.concatenate([*(panel.y for panel in panels), ends.ravel()])
    y_low, y_high = float(y.min()), float(y.max())
    if y_high <= y_low:
        y_low, y_high = y_low - 1, y_high + 1
    pad = LIMIT_PADDING * (y_high - y_low)
    return xlim, (y_low - pad, y_high + pad)
