"""The (intercept, slope) plane, where the shrinkage and stages views happen.

Each cluster is a point that moves through key states (e.g. no pooling → partial pooling). The fixed
effects sit in the middle like a black hole, drawn on top; faint ellipses show where the fitted model
expects the clusters' effects, N(fixed effects, Σ).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from .camera import Camera, camera_for, framed, one_scale, still
from .common import (
    COMPLETE_POOL_LABEL,
    FIXED_EFFECT_LABEL,
    EdgeMarks,
    Header,
    LegendEntry,
    Mark,
    Timed,
    axis_limits,
    edge_marks,
    extremeness_alpha,
    half_width,
    padded,
)
from .presets import Look
from .themes import RGBA
from .timeline import Timeline

if TYPE_CHECKING:  # types only: a renderer process draws a storyboard without pandas or scipy
    from ..fit import Estimates
    from ..scenario import AnimationSpec
    from .reveal import TruthReveal

X_LABEL = "Intercept (per cluster)"
Y_LABEL = "Slope of x (per cluster)"
CONTOUR_LABEL = "Model: {levels} of clusters within"  # the levels named in the legend, off the data
EDGE_LABEL = "Own estimate beyond the edge"
# the halo around the black hole only makes it easy to find: the legend says it is no interval
BLACK_HOLE_LABEL = f"{FIXED_EFFECT_LABEL} (glow: no interval)"
EDGE_LEGEND_AREA = 30.0  # pt² at the small preset
ELLIPSE_SAMPLES = 181  # points around an ellipse when looking for a place for its label

# The black hole, as in Clark's animations: two semi-transparent black disks, a big faint one and a smaller
# darker one, and here a solid core so that it shows whatever lies under it. Sizes in pixels across at the
# `small` preset (scaled with the preset), outermost first, with their opacity.
BLACK_HOLE_HALO = ((64.0, 0.10), (40.0, 0.22))
BLACK_HOLE_CORE_PX = 22.0
BLACK_HOLE_RIM = 0.8  # pt, in the background colour: the core stands out from a dark point under it
# Complete pooling is an outlined diamond wider than the core: with balanced data it coincides with the
# fixed effects, and both stay visible, the outline around the black core.
COMPLETE_POOL_PX = 30.0  # the diamond's inscribed circle, across
COMPLETE_POOL_OUTLINE = 1.6  # pt
LEGEND_MARK_PX = 11.0  # the legend shows the marks smaller: it names them, the plot shows them

# What a plane view draws, bottom to top: the marks come last, in their own order, the black hole on top.
LAYERS = ("contours", "trails", "points", "edge_marks", "marks")


@dataclass(frozen=True)
class Contour:
    """The ellipse holding `level` of N(center, Σ): semi-axes along Σ's eigenvectors."""

    level: float
    center: np.ndarray  # (2,)
    semi_axes: np.ndarray  # (2,) major, minor
    angle: float  # degrees from the x axis to the major axis
    label: str
    label_at: np.ndarray | None  # (2,) where the label goes; None when no part of it is in view

    def outline(self, samples: int = ELLIPSE_SAMPLES) -> np.ndarray:
        """(samples, 2) points on the ellipse."""
        turn = np.linspace(0, 2 * np.pi, samples)
        theta = np.deg2rad(self.angle)
        rotation = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
        unit = np.column_stack([self.semi_axes[0] * np.cos(turn), self.semi_axes[1] * np.sin(turn)])
        return self.center + unit @ rotation.T


MOVER_LABELS = 5  # the clusters that move most, named on the plot (the renderer keeps those that fit, ≥ 3)
MOVER_LABEL_FROM = 0.9  # share of the last move after which their labels fade in (they name where it ends)
MOVER_LABEL_KEY = "Ringed: n rows, λ = own share kept"


@dataclass(frozen=True)
class ClusterLabel:
    """A text beside one cluster's point: its size and how much of its own estimate it kept."""

    cluster: int  # index into the story's clusters
    n: int
    kept: float  # λ_j: |partial − fixed| / |own − fixed| (standardised, see fit.shrinkage.distance_shares)
    text: str


@dataclass(frozen=True)
class PlaneStory(Timed):
    """Clusters moving through key states in the (intercept, slope) plane; frame data computed on demand."""

    view: str
    header: Header
    look: Look
    timeline: Timeline
    x_label: str
    y_label: str
    cluster: np.ndarray  # (J,) labels
    cluster_n: np.ndarray  # (J,) rows per cluster
    states: np.ndarray  # (K, J, 2) key positions: states[0] first frame, states[-1] last frame
    state_colors: np.ndarray  # (K, 4) colour of the points in each key state
    stage_captions: tuple[str, ...]  # (K,) named while each state shows; empty: no captions
    sizes: np.ndarray  # (J,) marker areas, pt²
    alpha: np.ndarray  # (J,) opacity
    fixed_effects: np.ndarray  # (2,) the black hole
    complete_pool: np.ndarray  # (2,) one OLS for everyone
    contours: tuple[Contour, ...]
    legend: tuple[LegendEntry, ...]
    xlim: tuple[float, float]  # the first frame's view (the camera's start)
    ylim: tuple[float, float]
    trail_from: int  # trails lead from this key state to where each point is now
    marks: tuple[Mark, ...]  # still markers over the clusters, bottom to top: the black hole last
    travel: np.ndarray  # (K, J, 2) what the points move between: `states`, see `departures`
    truth: TruthReveal | None = None  # simulated data: the truth revealed at the end (story.truth)
    layers: tuple[str, ...] = LAYERS
    camera: Camera | None = None  # which part of the plane each frame shows; None: xlim, ylim throughout
    labels: tuple[ClusterLabel, ...] = ()  # the biggest movers first; shown as they arrive (`label_alpha`)
    box_aspect: float | None = None  # height / width of the plot box, set with `aspect: equal`; None: free

    @property
    def draw_order(self) -> np.ndarray:
        """(J,) indices of the clusters in drawing order: largest first, so the small clusters, which move
        most, are drawn on top and never buried under big dots (also when every dot is the same size)."""
        return np.lexsort((-np.asarray(self.sizes, dtype=float), -np.asarray(self.cluster_n, dtype=float)))

    def label_alpha(self, frame: int) -> float:
        """The movers' labels fade in over the last MOVER_LABEL_FROM… of the final move and stay."""
        last = self.timeline.n_states - 1
        share = (self.timeline.position[frame] - (last - 1 + MOVER_LABEL_FROM)) / (1 - MOVER_LABEL_FROM)
        return float(np.clip(share, 0.0, 1.0))

    def limits_at(self, frame: int) -> tuple[tuple[float, float], tuple[float, float]]:
        """(x limits, y limits) of this frame."""
        if self.camera is None:
            return self.xlim, self.ylim
        xlim, ylim = self.camera.view(frame)
        return xlim, ylim

    @property
    def start(self) -> np.ndarray:
        return self.states[0]

    @property
    def end(self) -> np.ndarray:
        return self.states[-1]

    def positions(self, frame: int) -> np.ndarray:
        return self.timeline.blend(self.travel, frame)

    def colors(self, frame: int) -> np.ndarray:
        """(J, 4): every point blends from one state's colour to the next as it moves; in a view told in
        stages, it takes the colour of the stage it moves to as that stage's caption shows (no in-between
        colour that the legend lacks)."""
        if self.stage_captions:
            blend = self.state_colors[self.timeline.heading_state(frame)]
        else:
            blend = self.timeline.blend_colours(self.state_colors, frame)
        colors = np.tile(blend, (len(self.cluster), 1))
        colors[:, 3] *= self.alpha
        return colors

    def trails(self, frame: int) -> np.ndarray:
        """(J, 2, 2) segments from the trail's starting state to the current positions; (0, 2, 2) before."""
        if self.timeline.position[frame] <= self.trail_from:
            return np.empty((0, 2, 2))
        return np.stack([self.states[self.trail_from], self.positions(frame)], axis=1)

    def edge(self, frame: int) -> EdgeMarks:
        return edge_marks(self.positions(frame), *self.limits_at(frame))

    def mark_alpha(self, frame: int, mark: Mark) -> float:
        """Opacity of a mark: there from the start, or fading in on its transition."""
        return float(np.clip(self.timeline.position[frame] - mark.appears_from, 0.0, 1.0))

    def mark(self, name: str) -> Mark:
        return next(mark for mark in self.marks if mark.name == name)

    def stage_caption(self, frame: int) -> str:
        if not self.stage_captions:
            return ""
        return self.stage_captions[self.timeline.heading_state(frame)]


def fixed_effects(estimates: Estimates) -> np.ndarray:
    return estimates.fixed_point


def complete_pool(estimates: Estimates) -> np.ndarray:
    """(intercept, slope) of the one OLS; the slope is named after the data's x column, so by position."""
    return np.array(list(estimates.complete_pooling["estimates"].values())[:2], dtype=float)


def no_and_partial_pool(estimates: Estimates) -> tuple[np.ndarray, np.ndarray]:
    """(J, 2) each; a cluster without its own estimate (too few rows, constant x) starts where it ends."""
    table = estimates.clusters
    # the Bayesian engine: clusters fly to their posterior means (the fixed effects are posterior means too)
    kind = "bayes" if estimates.bayes is not None else "partial"
    end = table[[f"{kind}_intercept", f"{kind}_slope"]].to_numpy(dtype=float)
    start = table[["no_pool_intercept", "no_pool_slope"]].to_numpy(dtype=float, copy=True)
    missing = ~np.all(np.isfinite(start), axis=1)
    start[missing] = end[missing]
    return start, end


def mover_labels(
    own: np.ndarray, end: np.ndarray, center: np.ndarray, n: np.ndarray, count: int = MOVER_LABELS
) -> tuple[ClusterLabel, ...]:
    """The `count` clusters whose estimates move furthest from `own` (no pooling; NaN where a cluster has
    none) to `end`, in units of the own estimates' spread across clusters, furthest first, each with its n
    and λ_j, the share of its own distance from the fixed effects it keeps (1 − the shrinkage share)."""
    from ..fit.shrinkage import distance_shares  # the storyboard is made where the fit is: numpy only

    own = np.asarray(own, dtype=float)
    usable = np.all(np.isfinite(own), axis=1)
    if not usable.any():
        return ()
    spread = np.std(own[usable], axis=0, ddof=1) if usable.sum() > 1 else np.ones(own.shape[1])
    spread = np.where(np.isfinite(spread) & (spread > 0), spread, 1.0)
    moved = np.where(usable, np.linalg.norm((end - own) / spread, axis=1), -np.inf)
    kept = 1.0 - distance_shares(own, end, center)
    ranked = [int(j) for j in np.argsort(-moved, kind="stable")[:count] if usable[j] and np.isfinite(kept[j])]
    return tuple(
        ClusterLabel(j, int(n[j]), float(kept[j]), f"n={int(n[j])} · λ={kept[j]:.2f}") for j in ranked
    )


# the share of a figure's width and height a plane view's plot box takes with a two-row legend (measured
# at the presets: 0.88–0.93 and 0.52–0.71): `aspect: equal` asks for a box of about this shape, so the
# plot keeps most of its room while a unit is as long on either axis
PLANE_BOX_SHARE = (0.9, 0.56)


def on_one_scale(story: PlaneStory) -> PlaneStory:
    """`aspect: equal`: the views widened so one unit of intercept is as long as one unit of slope, in a
    plot box of the figure's usual shape; far starts set off from the new edges."""
    if story.camera is None:
        return story
    look = story.look
    ratio = (PLANE_BOX_SHARE[1] * look.height) / (PLANE_BOX_SHARE[0] * look.width)
    camera = one_scale(story.camera, ratio)
    xlim, ylim = camera.start
    return dataclasses.replace(
        story,
        camera=camera,
        xlim=xlim,
        ylim=ylim,
        travel=departures(story.states, xlim, ylim),
        box_aspect=ratio,
    )


def plane_limits(
    spec: AnimationSpec, estimates: Estimates, states: np.ndarray
) -> tuple[tuple[float, float], tuple[float, float]]:
    center = fixed_effects(estimates)
    sds = random_effect_sds(estimates)
    every = states.reshape(-1, 2)
    partial = states[-1]
    starts = states[-2]  # no pooling, where the clusters set off from
    fixed = (spec.limits.intercept, spec.limits.slope)
    xlim, ylim = (
        axis_limits(
            spec.zoom, fixed[axis], center[axis], sds[axis], every[:, axis], partial[:, axis], starts[:, axis]
        )
        for axis in (0, 1)
    )
    return xlim, ylim


PLANE_AXES = ("intercept", "slope")


def plane_camera(
    spec: AnimationSpec, estimates: Estimates, states: np.ndarray, timeline: Timeline, own_state: int = -2
) -> Camera:
    """`zoom: auto` with the camera on: from a view framed on the no-pooling estimates (`states[own_state]`)
    to one framed on the final state (the states after it: partial pooling, with the Bayesian engine both
    REML's and Bayes's; the fixed effects, complete pooling), moving while the points leave no pooling; one
    view holding both where that frames the final state well enough (`camera_for`). Otherwise one view
    throughout (`plane_limits`)."""
    if spec.zoom != "auto" or not spec.camera:
        return still(plane_limits(spec, estimates, states), timeline.n_frames, PLANE_AXES)
    own_state %= len(states)
    start, end = plane_views(estimates, states, own_state=own_state)
    leaving = np.clip(timeline.position - own_state, 0.0, 1.0)
    return camera_for(start, end, [states[-1][:, 0], states[-1][:, 1]], leaving, PLANE_AXES)


def plane_views(
    estimates: Estimates, states: np.ndarray, also: np.ndarray | None = None, own_state: int = -2
) -> tuple[Any, Any]:
    """The camera's start view, framed on the own estimates (`states[own_state]`, no pooling), and its end
    view, framed on the states after it and, where given, every one of the points `also` (the truths);
    both hold the fixed effects and complete pooling."""
    marks = np.stack([fixed_effects(estimates), complete_pool(estimates)])
    ends = marks if also is None else np.vstack([marks, also])
    own_state %= len(states)
    pooled = states[own_state + 1 :].reshape(-1, 2)
    start = tuple(framed([states[own_state][:, axis]], [marks[:, axis]]) for axis in (0, 1))
    end = tuple(framed([pooled[:, axis]], [ends[:, axis]]) for axis in (0, 1))
    return start, end


def random_effect_sds(estimates: Estimates) -> np.ndarray:
    """(2,) SDs of the cluster intercepts and slopes; NaN for the slope of a random-intercept model."""
    sds = np.sqrt(np.clip(np.diag(estimates.cov_re), 0, None))
    return np.append(sds, np.nan)[:2]


def view_reach(estimates: Estimates) -> np.ndarray:
    """(2, 2) [low, high] per axis (intercept, slope) that this fit's auto view spans before padding: what
    a view shared with other scenarios must hold for this one. NaN for an axis the model lacks."""
    center = fixed_effects(estimates)
    sds = random_effect_sds(estimates)
    table = estimates.clusters
    reach = np.full((2, 2), np.nan)
    for axis, column in enumerate(("intercept", "slope")):
        if not np.isfinite(center[axis]) or (axis == 1 and estimates.random != "slope"):
            continue  # no slope per cluster: nothing to show on that axis
        partial = table[f"partial_{column}"].to_numpy(dtype=float)
        own = table[f"no_pool_{column}"].to_numpy(dtype=float)
        half = half_width(center[axis], sds[axis], partial, own)
        reach[axis] = center[axis] - half, center[axis] + half
    return reach


def shared_limits(reaches: list[np.ndarray]) -> tuple[tuple[float, float] | None, tuple[float, float] | None]:
    """One view for several scenarios, so that they compare: every scenario's auto reach (fixed effects
    ± 3 SDs, widened to its partial-pooling estimates and most starts), together, padded.
    (intercept limits, slope limits); None for an axis no scenario has."""
    stacked = np.stack(reaches)  # (S, 2, 2)
    result: list[tuple[float, float] | None] = []
    for axis in (0, 1):
        low, high = stacked[:, axis, 0], stacked[:, axis, 1]
        if not np.any(np.isfinite(low)):
            result.append(None)
            continue
        result.append(padded(float(np.nanmin(low)), float(np.nanmax(high))))
    return result[0], result[1]


def contours(
    center: np.ndarray,
    cov_re: np.ndarray,
    levels: tuple[float, ...],
    xlim: tuple[float, float],
    ylim: tuple[float, float],
) -> tuple[Contour, ...]:
    """Ellipses of N(center, Σ) holding each level; the label goes to the upper-right-most visible point."""
    eigenvalues, eigenvectors = np.linalg.eigh(np.asarray(cov_re, dtype=float))
    major = eigenvectors[:, 1]  # eigh sorts ascending: the last vector is the major axis
    angle = float(np.degrees(np.arctan2(major[1], major[0])))
    result = []
    for level in levels:
        radius_squared = -2.0 * np.log(1.0 - level)  # chi-square quantile with 2 degrees of freedom
        semi_axes = np.sqrt(np.clip(eigenvalues[::-1], 0, None) * radius_squared)
        contour = Contour(level, center, semi_axes, angle, f"{level:.0%}", None)
        result.append(_with_label_place(contour, xlim, ylim))
    return tuple(result)


def _with_label_place(contour: Contour, xlim: tuple[float, float], ylim: tuple[float, float]) -> Contour:
    points = contour.outline()
    low = np.array([xlim[0], ylim[0]])
    share = (points - low) / (np.array([xlim[1], ylim[1]]) - low)  # 0 … 1 across the view
    inside = np.all((share > 0.05) & (share < 0.95), axis=1)
    if not inside.any():
        return contour
    score = np.where(inside, share.sum(axis=1), -np.inf)
    return Contour(
        contour.level,
        contour.center,
        contour.semi_axes,
        contour.angle,
        contour.label,
        points[np.argmax(score)],
    )


DEPARTURE_MARGIN = 0.01  # share of the view beyond its edge where a far-away start sets off from


def departures(states: np.ndarray, xlim: tuple[float, float], ylim: tuple[float, float]) -> np.ndarray:
    """The key states with every position outside the view (but the last state's) moved in to just beyond
    the edge it is marked on. Such a point shows as the same edge mark there, but its way in from far away
    (a no-pooling estimate from 3 rows may lie 10 views off) takes no frames: what is seen moves at the
    speed of the rest instead of racing in over the last few frames."""
    low = np.array([xlim[0], ylim[0]])
    high = np.array([xlim[1], ylim[1]])
    margin = DEPARTURE_MARGIN * (high - low)
    travel = np.array(states, dtype=float, copy=True)
    travel[:-1] = np.clip(travel[:-1], low - margin, high + margin)
    return travel


def edge_legend(look: Look, color: RGBA) -> LegendEntry:
    """The legend's word for the triangles on the edge: own estimates beyond the view."""
    return LegendEntry(EDGE_LABEL, color, marker=">", area=look.area(EDGE_LEGEND_AREA))


def plane_marks(
    center: np.ndarray, complete: np.ndarray, look: Look, fixed_effects_from: int = -1
) -> tuple[Mark, ...]:
    """The halo, complete pooling's outlined diamond, then the solid black core on top of everything."""
    theme = look.theme
    halo = tuple(
        Mark(
            f"halo_{index}",
            center,
            look.area_across(pixels),
            (*theme.fixed_effect[:3], alpha),
            appears_from=fixed_effects_from,
        )
        for index, (pixels, alpha) in enumerate(BLACK_HOLE_HALO)
    )
    diamond = Mark(
        "complete_pool",
        complete,
        look.area_across(COMPLETE_POOL_PX),
        theme.complete_pool,
        marker="D",
        hollow=True,
        edge_width=COMPLETE_POOL_OUTLINE * look.scale,
    )
    core = Mark(
        "fixed_effects",
        center,
        look.area_across(BLACK_HOLE_CORE_PX),
        theme.fixed_effect,
        edge_width=BLACK_HOLE_RIM * look.scale,
        edge_color=theme.background,
        appears_from=fixed_effects_from,
    )
    return (*halo, diamond, core)


def marks_legend(look: Look) -> tuple[LegendEntry, ...]:
    theme = look.theme
    area = look.area_across(LEGEND_MARK_PX)
    return (
        LegendEntry(BLACK_HOLE_LABEL, theme.fixed_effect, marker="o", area=area),
        LegendEntry(COMPLETE_POOL_LABEL, theme.complete_pool, marker="D", area=area, hollow=True),
    )


def plane_story(
    view: str,
    estimates: Estimates,
    spec: AnimationSpec,
    header: Header,
    look: Look,
    timeline: Timeline,
    states: np.ndarray,
    state_colors: list[RGBA],
    stage_captions: tuple[str, ...],
    sizes: np.ndarray,
    legend: tuple[LegendEntry, ...],
    show_contours: bool,
    fixed_effects_from: int = -1,
    own_state: int = -2,
) -> PlaneStory:
    """The parts both plane views share: limits, contours, transparency. `states[own_state]` is no
    pooling, where the camera opens."""
    center = fixed_effects(estimates)
    camera = plane_camera(spec, estimates, states, timeline, own_state)
    xlim, ylim = camera.start
    table = estimates.clusters
    no_pool = states[own_state]
    alpha = extremeness_alpha(no_pool, center) if spec.transparency == "extremeness" else np.ones(len(table))
    shown_contours = (
        contours(center, estimates.cov_re, spec.contour_levels, *camera.end) if show_contours else ()
    )
    if shown_contours:
        levels = " / ".join(contour.label for contour in shown_contours)
        legend = (*legend, LegendEntry(CONTOUR_LABEL.format(levels=levels), look.theme.contour, line="-"))
    if edge_marks(no_pool, xlim, ylim).outside.any():  # the triangles of far starts need a word
        legend = (*legend, edge_legend(look, state_colors[own_state]))
    return PlaneStory(
        view=view,
        header=header,
        look=look,
        timeline=timeline,
        x_label=X_LABEL,
        y_label=Y_LABEL,
        cluster=table["cluster"].to_numpy(),
        cluster_n=table["n"].to_numpy(),
        states=states,
        state_colors=np.array(state_colors, dtype=float),
        stage_captions=stage_captions,
        sizes=sizes,
        alpha=alpha,
        fixed_effects=center,
        complete_pool=complete_pool(estimates),
        contours=shown_contours,
        legend=legend,
        xlim=xlim,
        ylim=ylim,
        trail_from=len(states) - 2,
        travel=departures(states, xlim, ylim),
        marks=plane_marks(center, complete_pool(estimates), look, fixed_effects_from),
        camera=camera,
    )
