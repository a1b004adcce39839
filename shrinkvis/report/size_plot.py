"""shrinkage_by_size.png: how far each cluster was pulled toward the fixed effects, against its size.

A still for the report, drawn from the report's shrinkage table (no fitting here). For a random-intercept
model the curve 1 − λ(n) = (θ/n) / (ψ + θ/n) shows what the model does to a cluster of n rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from ..story.themes import theme

if TYPE_CHECKING:
    from . import Report

WIDTH, HEIGHT, DPI = 640, 420, 100
SHOWN_RANGE = (-50.0, 150.0)  # % shown; a cluster beyond is drawn on the edge as a triangle
MEDIAN_HALF_WIDTH = 0.3  # of the gap between sizes (of a decade's 1/10 on a log axis): the median's bar
POINT_ALPHA = 0.55  # clusters of one size share one column: overlapping points read darker
MAX_SIZE_TICKS = 12  # up to this many different sizes, each gets its tick
LOG_SIZES_FROM = 20  # largest / smallest cluster size from which the size axis is logarithmic

_COLOURS = theme("light")  # the report's plot uses the animation's colours


@dataclass(frozen=True)
class SizePlot:
    """What the plot shows, as plain numbers: it can be drawn where pandas and the fit are not loaded."""

    title: str
    group_name: str
    n: np.ndarray  # rows per cluster
    share: np.ndarray  # shrinkage toward the fixed effects, % (NaN: no own estimate)
    curve: tuple[float, float] | None  # random intercept: (ψ, θ) of the model's curve; else None


def size_plot(report: Report) -> SizePlot:
    table = report.shrinkage
    curve = None
    if report.identity_error is not None:  # random intercept: the model's own curve
        curve = (float(report.estimates.cov_re[0, 0]), float(report.estimates.residual_sd**2))
    return SizePlot(
        title=report.title,
        group_name=report.data.group_name,
        n=table["n"].to_numpy(dtype=float),
        share=100 * table["shrinkage"].to_numpy(dtype=float),
        curve=curve,
    )


def shrinkage_by_size(plot: SizePlot) -> np.ndarray:
    """The plot as an (H, W, 3) uint8 array; the title and the group's name drawn as written (no mathtext)."""
    import matplotlib

    with matplotlib.rc_context({"text.parse_math": False}):
        return _drawn(plot)


def _drawn(plot: SizePlot) -> np.ndarray:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    figure = size_figure(plot)
    canvas = FigureCanvasAgg(figure)
    canvas.draw()
    image = np.asarray(canvas.buffer_rgba())[:, :, :3].copy()
    figure.clear()
    return image


def size_medians(n: np.ndarray, share: np.ndarray) -> list[tuple[float, float]]:
    """(size, median shrinkage) of every size that two or more clusters with a finite share have."""
    shown = np.isfinite(share)
    result = []
    for size in np.unique(n[shown]):
        members = share[shown & (n == size)]
        if len(members) >= 2:
            result.append((float(size), float(np.median(members))))
    return result


def size_figure(plot: SizePlot) -> Any:
    """The plot as a laid-out matplotlib figure: every cluster at its own size (one column per size,
    never spread sideways: the x axis is n), with the median of each shared size as a short bar."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    n, share = plot.n, plot.share
    shown = np.isfinite(share)
    figure = Figure(figsize=(WIDTH / DPI, HEIGHT / DPI), dpi=DPI, layout="constrained")
    axes = figure.add_subplot()
    log_sizes = n.max() / max(n.min(), 1) >= LOG_SIZES_FROM
    if log_sizes:
        axes.set_xscale("log")
    x = n
    sizes = np.unique(n)
    gap = float(np.min(np.diff(sizes))) if len(sizes) > 1 else 1.0
    for size, median in size_medians(n, share):
        half = size * (10 ** (0.1 * MEDIAN_HALF_WIDTH) - 1) if log_sizes else MEDIAN_HALF_WIDTH * gap
        axes.plot([size - half, size + half], [median, median], color="0.2", lw=1.4, zorder=4, gid="median")

    low, high = SHOWN_RANGE
    inside = shown & (share >= low) & (share <= high)
    axes.axhspan(0, 100, color="0.96", zorder=0)
    axes.scatter(
        x[inside],
        share[inside],
        s=26,
        color=_COLOURS.partial_pool,
        alpha=POINT_ALPHA,
        lw=0,
        zorder=3,
        gid="clusters",
    )
    for limit, marker in ((low, "v"), (high, "^")):
        beyond = shown & (share < low if limit == low else share > high)
        if beyond.any():
            axes.scatter(
                x[beyond], np.full(beyond.sum(), limit), marker=marker, s=36, color=_COLOURS.no_pool, zorder=3
            )

    if plot.curve is not None:
        psi, theta = plot.curve
        if log_sizes:
            grid = np.geomspace(n.min() / 1.1, n.max() * 1.1, 200)
        else:
            grid = np.linspace(max(n.min() - 1, 0.5), n.max() + 1, 200)
        curve = 100 * (theta / grid) / (psi + theta / grid)
        axes.plot(grid, curve, color="0.25", lw=1.2, zorder=2, label="1 − λ = (θ/n) / (ψ + θ/n)")
        axes.legend(loc="upper right", fontsize=8, frameon=False)  # drawn again below with the medians

    values = share[inside]
    bottom = min(
        0.0, float(values.min()) if values.size else 0.0, low if (shown & (share < low)).any() else 0.0
    )
    top = max(
        100.0, float(values.max()) if values.size else 100.0, high if (shown & (share > high)).any() else 0.0
    )
    pad = 0.05 * (top - bottom)
    axes.set_ylim(bottom - pad, top + pad)
    if not log_sizes:
        # room for the median bars; cluster sizes are whole numbers
        margin = max(0.08 * np.ptp(n), MEDIAN_HALF_WIDTH * gap + 0.2)
        axes.set_xlim(n.min() - margin, n.max() + margin)
        if len(sizes) <= MAX_SIZE_TICKS:
            axes.set_xticks(sizes)
        else:
            axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_xlabel(f"Cluster size n (rows per {plot.group_name})", fontsize=10)
    axes.set_ylabel("Shrinkage toward the fixed effects (%)", fontsize=10)
    axes.tick_params(labelsize=8)
    axes.grid(color="0.9", lw=0.6)
    axes.set_axisbelow(True)
    for side in ("top", "right"):
        axes.spines[side].set_visible(False)
    figure.suptitle(f"{plot.title}: shrinkage by cluster size", fontsize=12, fontweight="bold")
    notes = []
    missing = int((~shown).sum())
    if missing:
        notes.append(f"{missing} cluster{'s' if missing != 1 else ''} without an own estimate not shown")
    outside = int((shown & ~inside).sum())
    if outside:
        notes.append(f"{outside} beyond {low:.0f}…{high:.0f}% drawn on the edge (▲▼)")
    if notes:
        axes.set_title("; ".join(notes), fontsize=8, color="0.35")
    if size_medians(n, share):
        axes.plot([], [], color="0.2", lw=1.4, label="median of the clusters of one size")
        axes.legend(loc="upper right", fontsize=8, frameon=False)
    return figure
