"""The stages view: complete pooling (everyone at one point) → no pooling → partial pooling."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .common import NO_POOL_LABEL, PARTIAL_POOL_LABEL, Header, marker_sizes, require_random_slope, size_legend
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


def stages(
    estimates: Estimates, spec: AnimationSpec, header: Header, look: Look, timeline: Timeline
) -> PlaneStory:
    require_random_slope(estimates, "stages")
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
        stage_captions=stage_captions(len(no_pool)),
        sizes=sizes,
        legend=legend,
        show_contours=False,
        # complete pooling lands next to the fixed effects: the black hole would hide it, so it appears
        # with partial pooling, the stage it explains
        fixed_effects_from=1,
    )
