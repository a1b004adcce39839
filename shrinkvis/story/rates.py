"""Storyboards of rates and published estimates, on the scale people read (mortality in %, a batting
average, an effect in its own units) — never the logit.

Three views, each moving every cluster from its own value (no pooling) to its partial-pooling value:

- `shrinkage`: the one-dimensional picture of Efron and Morris (1975): two rails, own values above, shrunk
  values below; each cluster travels from one to the other, sized by its n, leaving its trail. Where a
  truth is known (baseball's rest of the season) it appears on both rails at the end.
- `caterpillar`: each cluster on its own row with its 95 % interval (a forest plot for known SEs): the
  intervals shrink and slide toward the pooled value.
- `funnel`: the institutional funnel plot (Spiegelhalter 2005): rate against size with 95 % and 99.8 %
  control limits around the overall rate; each hospital slides vertically toward the pooled rate.

Plain numbers only: the renderer (render/rates.py) draws what is here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from .common import POINT_AREA_RANGE, Header, LegendEntry, Timed, padded
from .presets import Look
from .timeline import Timeline

if TYPE_CHECKING:
    from ..rates.fit import RatesFit

MAX_LABELLED = 30  # clusters named on the caterpillar's axis up to this many
TRUTH_AREA = 30.0  # pt² at `small`
FUNNEL_SAMPLES = 80
LOG_TICK_STEPS = (1, 2, 5)
RAIL_OWN, RAIL_PARTIAL = 1.0, 0.0


@dataclass(frozen=True)
class StillLine:
    """A line that stands still: the pooled value, a control limit."""

    points: np.ndarray  # (M, 2) drawing coordinates
    style: str  # "-", "--", ":"
    role: str  # "pooled", "limit95", "limit998"


@dataclass(frozen=True)
class RatesStory(Timed):
    view: str
    header: Header
    look: Look
    timeline: Timeline
    states: np.ndarray  # (K, J, 2): each cluster's point at each key state, drawing coordinates
    bar_states: np.ndarray  # (K, J, 2, 2): its interval as a segment at each key state (NaN: none)
    areas: np.ndarray  # (J,) marker areas, pt², growing with cluster size
    state_colors: np.ndarray  # (K, 4)
    xlim: tuple[float, float]
    ylim: tuple[float, float]
    x_label: str
    y_label: str
    xticks: tuple[tuple[float, ...], tuple[str, ...]] | None  # None: matplotlib's own
    yticks: tuple[tuple[float, ...], tuple[str, ...]] | None
    lines: tuple[StillLine, ...]
    legend: tuple[LegendEntry, ...]
    trails: bool  # draw each cluster's way from its first point so far
    truth_points: np.ndarray | None = None  # (T, 2) true values, shown from the last state on
    truth_state: int = -1  # the key state at which the truth has fully appeared (fades in on the way)
    truth_line: bool = False  # join the truth points (binned means along the size axis)
    truth_links: np.ndarray | None = None  # (J, 2, 2) each cluster's error: partial value → its truth
    partial_line: np.ndarray | None = None  # (M, 2) binned mean of the partial values, shown with the truth

    def points(self, frame: int) -> np.ndarray:
        return self.timeline.blend(self.states, frame)

    def trail_segments(self, frame: int) -> np.ndarray:
        """(S, 2, 2) the way each cluster has come: through every key state passed, to where it is now."""
        k, _ = self.timeline.step(frame)
        passed = [np.stack([self.states[m], self.states[m + 1]], axis=1) for m in range(k)]
        return np.concatenate([*passed, np.stack([self.states[k], self.points(frame)], axis=1)])

    def bars(self, frame: int) -> np.ndarray:
        return self.timeline.blend(self.bar_states, frame)

    def color(self, frame: int) -> np.ndarray:
        return self.timeline.blend_colours(self.state_colors, frame)

    def truth_alpha(self, frame: int) -> float:
        if self.truth_points is None:
            return 0.0
        return float(np.clip(self.timeline.position[frame] - (self.truth_state - 1), 0.0, 1.0))


def _areas(size: np.ndarray, look: Look) -> np.ndarray:
    """Marker area growing with the square root of cluster size (area ∝ √n reads as 'more data' without
    letting the largest hospital cover the rest); all equal when sizes are."""
    size = np.asarray(size, dtype=float)
    low, high = POINT_AREA_RANGE
    if np.ptp(size) == 0:
        return np.full(len(size), look.area(0.5 * (low + high) * 0.6))
    root = np.sqrt(size)
    return look.area(1.0) * (low + (root - root.min()) / np.ptp(root) * (high - low))


def value_label(fit: RatesFit, label: str | None) -> str:
    if label:
        return label
    data = fit.data
    if data.kind == "meta":
        return f"{data.y_name} (estimate ± 1.96 SE)"
    per = f"{fit.per:g}"
    unit = " (%)" if fit.per == 100 and data.kind == "binomial" else ""
    size_name = data.size_name or ("trials" if data.kind == "binomial" else "units of exposure")
    if fit.per == 1 and data.kind == "binomial":
        return f"{data.y_name} per {size_name.rstrip('s')}"
    return f"{data.y_name} per {per} {size_name}{unit}"


def _value_limits(fit: RatesFit, with_intervals: bool) -> tuple[float, float]:
    table = fit.clusters
    columns = ["own", "partial"] + (
        ["own_lo", "own_hi", "partial_lo", "partial_hi"] if with_intervals else []
    )
    if "truth" in table:
        columns.append("truth")
    values = table[columns].to_numpy(dtype=float).ravel()
    values = values[np.isfinite(values)]
    low, high = padded(float(values.min()), float(values.max()))
    if fit.kind != "meta" and values.min() >= 0:
        # a rate is never below 0: no room for negative values, but enough that a dot at 0 shows whole
        low = max(low, -0.025 * (high - max(low, 0.0)))
    return low, high


def _legend(
    fit: RatesFit, look: Look, areas: np.ndarray, pooled_words: str, view_has_intervals: bool
) -> list[LegendEntry]:
    theme = look.theme
    interval = view_has_intervals
    if fit.kind == "meta":
        own_words = "Own estimate" + (" ± 1.96 SE" if interval else "")
    else:
        own_words = "Own rate (no pooling)" + (", exact 95 % interval" if interval else "")
    spread = " ± 1.96 SE" if fit.kind == "meta" else " ± 1.96 cond. SD"
    partial_words = "Partial pooling" + (spread if interval else "")  # the model is in the caption
    ml_entry = []
    if fit.posterior is not None:
        partial_words = "Posterior mean" + (" ± 1.96 SD" if interval else "")
        ml_words = fit.meta.method if fit.meta is not None else "ML"
        median_area = float(np.median(areas))
        ml_entry = [
            LegendEntry(f"Partial pooling ({ml_words})", theme.partial_pool, marker="o", area=median_area)
        ]
    entries = [
        LegendEntry(own_words, theme.no_pool, marker="o", area=float(np.median(areas))),
        *ml_entry,
        LegendEntry(
            partial_words,
            theme.complete_pool if fit.posterior is not None else theme.partial_pool,
            marker="o",
            area=float(np.median(areas)),
        ),
        LegendEntry(pooled_words, theme.fixed_effect, line="-"),
    ]
    size = fit.clusters["size"].to_numpy(dtype=float)
    if np.ptp(size) > 0 and fit.kind != "meta":
        values = sorted({float(size.min()), float(np.median(size)), float(size.max())})
        picked = np.interp(values, np.sort(size), np.sort(areas))
        name = fit.data.size_name or "size"
        label = f"{name}: " + ", ".join(f"{value:,.0f}" for value in values)
        entries.append(LegendEntry(label, theme.muted_text, marker="o", areas=tuple(map(float, picked))))
    elif np.ptp(size) > 0:  # known SEs: the dots grow with precision, so the key names SEs, large to small
        values = sorted({float(size.min()), float(np.median(size)), float(size.max())})
        picked = np.interp(values, np.sort(size), np.sort(areas))
        label = "SE: " + ", ".join(f"{1 / np.sqrt(value):.3g}" for value in values)
        entries.append(LegendEntry(label, theme.muted_text, marker="o", areas=tuple(map(float, picked))))
    return entries


def _truth_entry(fit: RatesFit, look: Look, binned: bool = False) -> LegendEntry | None:
    score = fit.rmse()
    if score is None:
        return None
    name = fit.data.truth_name or "truth"
    digits = 3 if fit.per == 1 else 2
    if binned:  # the funnel's legend is long already: its RMSEs go into the caption
        text = f"{name} (mean by size)"
    else:
        text = f"{name}; RMSE: own {score['own']:.{digits}f}, shrunk {score['partial']:.{digits}f}"
    return LegendEntry(
        text,
        look.theme.fixed_effect,
        marker="D",
        area=look.area(TRUTH_AREA),
        hollow=True,
        line="-" if binned else "",
    )


def rates_story(
    fit: RatesFit,
    view: str,
    header: Header,
    look: Look,
    frames: int,
    fps: int,
    make_timeline: Callable[[int], Timeline],  # n_states → the scenario's pauses and easing
    label: str | None = None,
) -> RatesStory:
    table = fit.clusters
    has_truth = "truth" in table and view in ("shrinkage", "funnel", "caterpillar")
    # own → partial pooling, or own → ML → posterior under the Bayesian engine; then the truth, if known
    stages = ("own", "ml_partial", "partial") if fit.posterior is not None else ("own", "partial")
    timeline = make_timeline(len(stages) + has_truth)
    areas = _areas(table["size"].to_numpy(dtype=float), look)
    theme = look.theme
    colors = [theme.no_pool, theme.partial_pool] + ([theme.complete_pool] if len(stages) == 3 else [])
    state_colors = np.array(colors + colors[-1:] * has_truth, dtype=float)
    pooled_words = (
        f"Pooled mean {'(posterior) ' if fit.posterior is not None else ''}μ̂ = {fit.pooled:.3g}"
        if fit.kind == "meta"
        else f"Pooled rate (typical cluster) = {_fmt(fit.pooled, fit)}"
    )
    legend = _legend(fit, look, areas, pooled_words, view == "caterpillar")
    truth_entry = _truth_entry(fit, look, binned=view == "funnel") if has_truth else None
    builder = {"shrinkage": _shrinkage, "caterpillar": _caterpillar, "funnel": _funnel}[view]
    return builder(
        _Parts(
            fit=fit,
            view=view,
            header=header,
            look=look,
            timeline=timeline,
            areas=areas,
            state_colors=state_colors,
            legend=tuple(legend + ([truth_entry] if truth_entry else [])),
            has_truth=has_truth,
            label=value_label(fit, label),
            stages=stages,
        )
    )


@dataclass(frozen=True)
class _Parts:
    """What every view's builder starts from."""

    fit: RatesFit
    view: str
    header: Header
    look: Look
    timeline: Timeline
    areas: np.ndarray
    state_colors: np.ndarray
    legend: tuple[LegendEntry, ...]
    has_truth: bool
    label: str
    stages: tuple[str, ...]  # the clusters.* columns of the key states, in order

    def values(self) -> list[np.ndarray]:
        return [self.fit.clusters[stage].to_numpy(dtype=float) for stage in self.stages]

    @property
    def truth_state(self) -> int:
        return len(self.stages)


def _fmt(value: float, fit: RatesFit) -> str:
    if fit.kind == "meta":
        return f"{value:.3g}"
    if fit.per == 1:
        return f"{value:.3f}"
    return f"{value:.2f}" + (" %" if fit.per == 100 and fit.kind == "binomial" else "")


STAGE_WORDS = {"own": "own\nvalue", "ml_partial": "partial\npooling (ML)", "partial": "partial\npooling"}


def _shrinkage(parts: _Parts) -> RatesStory:
    fit, look, has_truth = parts.fit, parts.look, parts.has_truth
    values = parts.values()
    count = len(values[0])
    # one rail per key state from the top (own values first), and the truth's rail below them
    rails = [float(len(values) - 1 - k + has_truth) for k in range(len(values))]
    states = [
        np.column_stack([value, np.full(count, rail)]) for value, rail in zip(values, rails, strict=True)
    ]
    states += states[-1:] * has_truth
    xlim = _value_limits(fit, with_intervals=False)
    lines = [StillLine(np.array([[xlim[0], rail], [xlim[1], rail]]), ":", "rail") for rail in rails]
    last = rails[-1]
    lines.append(StillLine(np.array([[fit.pooled, last - 0.15], [fit.pooled, last + 0.15]]), "-", "pooled"))
    words = dict(STAGE_WORDS)
    words["own"] = "own\nestimate" if fit.kind == "meta" else "own\nrate"
    if fit.posterior is not None:
        words["partial"] = "posterior\nmean"
    ticks = [(rail, words[stage]) for rail, stage in zip(rails, parts.stages, strict=True)]
    truth = links = None
    if has_truth:
        truth_values = fit.clusters["truth"].to_numpy(dtype=float)
        truth = np.column_stack([truth_values, np.zeros(count)])
        links = np.stack([states[-1], truth], axis=1)
        ticks.append((0.0, (fit.data.truth_name or "truth").replace(" ", "\n")))
    ticks.sort()
    return RatesStory(
        view=parts.view,
        header=parts.header,
        look=look,
        timeline=parts.timeline,
        states=np.stack(states),
        bar_states=np.full((len(states), count, 2, 2), np.nan),
        areas=parts.areas,
        state_colors=parts.state_colors,
        xlim=xlim,
        ylim=(-0.35, rails[0] + 0.35),
        x_label=parts.label,
        y_label="",
        xticks=None,
        yticks=(tuple(t for t, _ in ticks), tuple(w for _, w in ticks)),
        lines=tuple(lines),
        legend=parts.legend,
        trails=True,
        truth_points=truth,
        truth_state=parts.truth_state,
        truth_links=links,
    )


def _caterpillar(parts: _Parts) -> RatesStory:
    fit, has_truth = parts.fit, parts.has_truth
    table = fit.clusters
    values = parts.values()
    own = values[0]
    count = len(own)
    # ranked by own value, the highest on top; ties by size (larger first)
    order = np.lexsort((-table["size"].to_numpy(), own))
    row = np.empty(count)
    row[order] = np.arange(1, count + 1)

    def segments(stage: str) -> np.ndarray:
        low = table[f"{stage}_lo"].to_numpy(dtype=float)
        high = table[f"{stage}_hi"].to_numpy(dtype=float)
        return np.stack([np.column_stack([low, row]), np.column_stack([high, row])], axis=1)

    states = [np.column_stack([value, row]) for value in values]
    bars = [segments(stage) for stage in parts.stages]
    states += states[-1:] * has_truth
    bars += bars[-1:] * has_truth
    ylim = (0.3, count + 0.7)
    pooled = StillLine(np.array([[fit.pooled, ylim[0]], [fit.pooled, ylim[1]]]), "-", "pooled")
    labels = None
    if count <= MAX_LABELLED:
        labels = (tuple(float(r) for r in row[order]), tuple(str(table["cluster"].iloc[i]) for i in order))
    truth = np.column_stack([table["truth"].to_numpy(dtype=float), row]) if has_truth else None
    return RatesStory(
        view=parts.view,
        header=parts.header,
        look=parts.look,
        timeline=parts.timeline,
        states=np.stack(states),
        bar_states=np.stack(bars),
        areas=parts.areas,
        state_colors=parts.state_colors,
        xlim=_value_limits(fit, with_intervals=True),
        ylim=ylim,
        x_label=parts.label,
        y_label=f"{fit.data.group_name} (ranked by own value)" if labels is None else "",
        xticks=None,
        yticks=labels if labels is not None else ((), ()),
        lines=(pooled,),
        legend=parts.legend,
        trails=False,
        truth_points=truth,
        truth_state=parts.truth_state,
    )


SIZE_BINS = 10


def _binned(x: np.ndarray, truth: np.ndarray, partial: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean truth and mean partial value in bins of equal counts along x (log size): what George et al.
    (2016) compare — where the two lines part, shrinkage has moved a size class away from its truth."""
    bins = min(SIZE_BINS, max(len(x) // 5, 1))
    order = np.argsort(x, kind="stable")
    groups = np.array_split(order, bins)
    centre = np.array([x[group].mean() for group in groups])
    return (
        np.column_stack([centre, [truth[group].mean() for group in groups]]),
        np.column_stack([centre, [partial[group].mean() for group in groups]]),
    )


def _size_ticks(low: float, high: float) -> tuple[tuple[float, ...], tuple[str, ...]]:
    decades = range(int(np.floor(low)), int(np.ceil(high)) + 1)
    values = [step * 10**d for d in decades for step in LOG_TICK_STEPS]
    values = [v for v in values if low <= np.log10(v) <= high]
    return tuple(float(np.log10(v)) for v in values), tuple(f"{v:g}" for v in values)


def _funnel(parts: _Parts) -> RatesStory:
    fit, look, has_truth, legend = parts.fit, parts.look, parts.has_truth, parts.legend
    values = parts.values()
    partial = values[-1]
    table = fit.clusters
    size = table["size"].to_numpy(dtype=float)
    x = np.log10(size)
    span = float(np.ptp(x)) or 1.0
    xlim = (float(x.min() - 0.05 * span), float(x.max() + 0.05 * span))
    states = [np.column_stack([x, value]) for value in values]
    states += states[-1:] * has_truth
    along = np.linspace(*xlim, FUNNEL_SAMPLES)
    lines = [StillLine(np.array([[xlim[0], fit.overall], [xlim[1], fit.overall]]), "-", "pooled")]
    for coverage, style, role in ((0.95, "--", "limit95"), (0.998, ":", "limit998")):
        low, high = fit.control_limits(10**along, coverage)
        lines += [
            StillLine(np.column_stack([along, low]), style, role),
            StillLine(np.column_stack([along, high]), style, role),
        ]
    shown = np.concatenate(values + ([table["truth"].to_numpy(dtype=float)] if has_truth else []))
    low, high = padded(float(np.nanmin(shown)), float(np.nanmax(shown)))
    ylim = (max(low, -0.025 * (high - max(low, 0.0))) if fit.kind != "meta" else low, high)
    truth = partial_line = None
    if has_truth:
        truth, partial_line = _binned(x, table["truth"].to_numpy(dtype=float), partial)
    size_words = "precision 1/SE²" if fit.kind == "meta" else (fit.data.size_name or "size")
    entries = list(legend)
    entries[2] = LegendEntry(f"Overall rate {_fmt(fit.overall, fit)}", look.theme.fixed_effect, line="-")
    entries.insert(3, LegendEntry("95 % and 99.8 % control limits", look.theme.contour, line="--"))
    if has_truth:
        entries.insert(4, LegendEntry("partial pooling (mean by size)", look.theme.partial_pool, line="-"))
    return RatesStory(
        view=parts.view,
        header=parts.header,
        look=look,
        timeline=parts.timeline,
        states=np.stack(states),
        bar_states=np.full((len(states), len(partial), 2, 2), np.nan),
        areas=parts.areas,
        state_colors=parts.state_colors,
        xlim=xlim,
        ylim=ylim,
        x_label=f"{size_words} (log scale)",
        y_label=parts.label,
        xticks=_size_ticks(*xlim),
        yticks=None,
        lines=tuple(lines),
        legend=tuple(entries),
        trails=False,
        truth_points=truth,
        truth_state=parts.truth_state,
        truth_line=True,
        partial_line=partial_line,
    )
