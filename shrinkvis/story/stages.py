"""The stages view: complete pooling (everyone at one point) → no pooling → partial pooling."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .common import (
    BAYES_LABEL,
    NO_POOL_LABEL,
    PARTIAL_POOL_LABEL,
    Header,
    marker_sizes,
    require_random_slope,
    size_legend,
)
from .plane import PlaneStory, complete_pool, no_and_partial_pool, plane_story
from .presets import Look
from .shrinkage import plane_legend
from .timeline import Timeline

if TYPE_CHECKING:  # types only: a renderer process draws a storyboard without pandas or scipy
    from ..fit import Estimates
    from ..scenario import AnimationSpec


def stage_captions(n_clusters: int) -> tuple[str, str, str]:
    """Stage 1 stacks every cluster on one point, so its caption says how many are there."""
    return (
        f"1 · Complete pooling: all {n_clusters} clusters share one fit",
        "2 · No pooling: every cluster on its own",
        "3 · Partial pooling: clusters pulled toward the average",
    )


BAYES_CAPTIONS = (
    "1 · No pooling: every cluster on its own",
    "2 · REML partial pooling: variances taken as known",
    "3 · Bayes: averaged over the variances' uncertainty",
)


def stages(
    estimates: Estimates, spec: AnimationSpec, header: Header, look: Look, timeline: Timeline
) -> PlaneStory:
    require_random_slope(estimates, "stages")
    no_pool, partial_pool = no_and_partial_pool(estimates)
    theme = look.theme
    n = estimates.clusters["n"].to_numpy()
    sizes = marker_sizes(n if spec.point_size == "n" else np.ones_like(n), look)
    if estimates.bayes is None:
        everyone = np.tile(complete_pool(estimates), (len(no_pool), 1))
        states = [everyone, no_pool, partial_pool]
        own_state = 1
        colors = [theme.complete_pool, theme.no_pool, theme.partial_pool]
        captions = stage_captions(len(no_pool))
        legend = plane_legend(
            look, [(NO_POOL_LABEL, theme.no_pool), (PARTIAL_POOL_LABEL, theme.partial_pool)]
        )
    else:
        # the Bayesian engine: no pooling → REML's conditional modes → posterior means (partial_pool here)
        reml = estimates.clusters[["partial_intercept", "partial_slope"]].to_numpy(dtype=float)
        states = [no_pool, reml, partial_pool]
        own_state = 0
        colors = [theme.no_pool, theme.partial_pool, theme.complete_pool]
        captions = BAYES_CAPTIONS
        labels = [NO_POOL_LABEL, "REML partial pooling", BAYES_LABEL]
        legend = plane_legend(look, list(zip(labels, colors, strict=True)))[:-1]  # no complete-pooling marker
    if spec.point_size == "n":
        legend += size_legend(n, look, theme.muted_text)
    return plane_story(
        "stages",
        estimates,
        spec,
        header,
        look,
        timeline,
        states=np.stack(states),
        state_colors=colors,
        stage_captions=captions,
        sizes=sizes,
        legend=legend,
        show_contours=False,
        # complete pooling lands next to the fixed effects: the black hole would hide it, so it appears
        # with partial pooling, the stage it explains
        fixed_effects_from=1,
        own_state=own_state,
    )
