"""The shrinkage view: each cluster flies from its own estimate to its partial-pooling estimate."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

import numpy as np

from .common import (
    BAYES_LABEL,
    NO_POOL_LABEL,
    PARTIAL_POOL_LABEL,
    POINT_AREA,
    Header,
    LegendEntry,
    marker_sizes,
    require_random_slope,
    size_legend,
)
from .plane import (
    MOVER_LABEL_KEY,
    PlaneStory,
    fixed_effects,
    marks_legend,
    mover_labels,
    no_and_partial_pool,
    plane_story,
)
from .presets import Look
from .timeline import Timeline

if TYPE_CHECKING:  # types only: a renderer process draws a storyboard without pandas or scipy
    from ..fit import Estimates
    from ..scenario import AnimationSpec


def plane_legend(look: Look, states: list[tuple[str, tuple]]) -> tuple[LegendEntry, ...]:
    entries = [LegendEntry(label, color, marker="o", area=look.area(POINT_AREA)) for label, color in states]
    return (*entries, *marks_legend(look))


def shrinkage(
    estimates: Estimates, spec: AnimationSpec, header: Header, look: Look, timeline: Timeline
) -> PlaneStory:
    require_random_slope(estimates, "shrinkage")
    no_pool, partial_pool = no_and_partial_pool(estimates)
    theme = look.theme
    n = estimates.clusters["n"].to_numpy()
    sizes = marker_sizes(n if spec.point_size == "n" else np.ones_like(n), look)
    label = BAYES_LABEL if estimates.bayes is not None else PARTIAL_POOL_LABEL
    legend = plane_legend(look, [(NO_POOL_LABEL, theme.no_pool), (label, theme.partial_pool)])
    if spec.point_size == "n":
        legend += size_legend(n, look, theme.muted_text)
    own = estimates.clusters[["no_pool_intercept", "no_pool_slope"]].to_numpy(dtype=float)
    labels = mover_labels(own, partial_pool, fixed_effects(estimates), n)
    if labels:
        legend += (LegendEntry(MOVER_LABEL_KEY, theme.text),)
    story = plane_story(
        "shrinkage",
        estimates,
        spec,
        header,
        look,
        timeline,
        states=np.stack([no_pool, partial_pool]),
        state_colors=[theme.no_pool, theme.partial_pool],
        stage_captions=(),
        sizes=sizes,
        legend=legend,
        show_contours=True,
    )
    return dataclasses.replace(story, labels=labels)
