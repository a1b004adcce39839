"""shrinkage_by_size.png: how far each cluster was pulled toward the fixed effects, against its size.

A still for the report, drawn from the report's shrinkage table (no fitting here). For a random-intercept
model the curve 1 − λ(n) = (θ/n) / (ψ + θ/n) shows what the model does to a cluster of n rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from .story.themes import theme

if TYPE_CHECKING:
    from .report import Report

WIDTH, HEIGHT, DPI = 640, 420, 100
SHOWN_RANGE = (-50.0, 150.0)  # % shown; a cluster beyond is drawn on the edge as a triangle
JITTER = 0.28  # half the width, in units of the gap between sizes, over which equal sizes spread
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
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    n, share = plot.n, plot.share
    shown = np.isfinite(share)
    figure = Figure(figsize=(WIDTH / DPI, HEIGHT / DPI), dpi=DPI, layout="constrained")
    canvas = FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    log_sizes = n.max() / max(n.min(), 1) >= LOG_SIZES_FROM
    if log_sizes:
        axes.set_xscale("log")
    x = _spread_equal_sizes(n, log_sizes)

    low, high = SHOWN_RANGE
    inside = shown & (share >= low) & (share <= high)
    axes.axhspan(0, 100, color="0.96", zorder=0)
    axes.scatter(x[inside], share[inside], s=26, color=_COLOURS.partial_pool, alpha=0.8, lw=0, zorder=3)
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
        else:  # across the whole axis, where equal sizes are spread out
            grid = np.linspace(max(n.min() - 1, 0.5), n.max() + 1, 200)
        curve = 100 * (theta / grid) / (psi + theta / grid)
        axes.plot(grid, curve, color="0.25", lw=1.2, zorder=2, label="1 − λ = (θ/n) / (ψ + θ/n)")
        axes.legend(loc="upper right", fontsize=8, frameon=False)

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
        # room for the spread of equal sizes; cluster sizes are whole numbers
        margin = max(0.08 * np.ptp(n), JITTER + 0.2)
        axes.set_xlim(n.min() - margin, n.max() + margin)
        sizes = np.unique(n)
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
    canvas.draw()
    image = np.asarray(canvas.buffer_rgba())[:, :, :3].copy()
    figure.clear()
    return image


def _spread_equal_sizes(n: np.ndarray, log_sizes: bool) -> np.ndarray:
    """Clusters of the same size side by side instead of on top of each other.

    The offsets follow the golden-ratio sequence: evenly spread, looking random, the same on every run.
    """
    x = n.copy()
    sizes = np.unique(n)
    gap = float(np.min(np.diff(sizes))) if len(sizes) > 1 else 1.0
    for size in sizes:
        members = np.flatnonzero(n == size)
        if len(members) < 2:
            continue
        offsets = 2 * JITTER * ((np.arange(len(members)) * 0.6180339887) % 1.0 - 0.5)
        x[members] = size * np.exp(offsets * 0.1) if log_sizes else size + offsets * gap
    return x
