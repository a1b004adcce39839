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

STAGE_CAPTIONS = (
    "1 · Complete pooling: one fit for all clusters",
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
    if estimates.bayes is not None:
        return _bayes_stages(estimates, spec, header, look, timeline)
    no_pool, partial_pool = no_and_partial_pool(estimates)
    everyone = np.tile(complete_pool(estimates), (len(no_pool), 1))
    theme = look.theme
    sizes = marker_sizes(estimates.clusters["n"].to_numpy(), look)
    legend = plane_legend(look, [(NO_POOL_LABEL, theme.no_pool), (PARTIAL_POOL_LABEL, theme.partial_pool)])
    legend += size_legend(estimates.clusters["n"].to_numpy(), sizes, theme.muted_text)
    return plane_story(
        "stages",
        estimates,
        spec,
        header,
        look,
        timeline,
        states=np.stack([everyone, no_pool, partial_pool]),
        state_colors=[theme.complete_pool, theme.no_pool, theme.partial_pool],
        stage_captions=STAGE_CAPTIONS,
        sizes=sizes,
        legend=legend,
        show_contours=False,
        # complete pooling lands next to the fixed effects: the black hole would hide it, so it appears
        # with partial pooling, the stage it explains
        fixed_effects_from=1,
    )


def _bayes_stages(
    estimates: Estimates, spec: AnimationSpec, header: Header, look: Look, timeline: Timeline
) -> PlaneStory:
    """Under the Bayesian engine: no pooling → REML's conditional modes → posterior means."""
    no_pool, bayes = no_and_partial_pool(estimates)
    reml = estimates.clusters[["partial_intercept", "partial_slope"]].to_numpy(dtype=float)
    theme = look.theme
    sizes = marker_sizes(estimates.clusters["n"].to_numpy(), look)
    legend = plane_legend(
        look,
        [(NO_POOL_LABEL, theme.no_pool), ("REML partial pooling", theme.partial_pool), (BAYES_LABEL, theme.complete_pool)],
    )[:-1]  # no complete-pooling marker in this sequence
    legend += size_legend(estimates.clusters["n"].to_numpy(), sizes, theme.muted_text)
    return plane_story(
        "stages",
        estimates,
        spec,
        header,
        look,
        timeline,
        states=np.stack([no_pool, reml, bayes]),
        state_colors=[theme.no_pool, theme.partial_pool, theme.complete_pool],
        stage_captions=BAYES_CAPTIONS,
        sizes=sizes,
        legend=legend,
        show_contours=False,
        fixed_effects_from=1,
    )
