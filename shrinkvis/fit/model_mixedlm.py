"""statsmodels MixedLM for any model of the class, judged by the exact engine.

MixedLM fits y = Xβ + Zb + ε with one grouping factor, a free covariance of b or one with blocks held
independent (its `free` argument: zeros off the blocks of `(x || g)` and of several bars), so it covers
the whole class; what it cannot do is work from per-cluster sums (it needs the rows), and its optimiser
stops short of the optimum on real data (see mixedlm.py). It sees the model in the exact engine's working
coordinates (blocks.py: columns centred and divided by powers of two, exactly mapped back), and its θ is
then handed to the exact engine: the estimates are lme4's at MixedLM's θ (β, vcov, BLUPs and their
conditional covariances follow from θ), and a θ whose criterion lies more than `OPTIMUM_GAP_TOLERANCE`
above the exact optimum is reported as not converged, with the gap.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ..design import Design
from .blocks import Blocks, blocks_of, working
from .estimates import OPTIMUM_GAP_TOLERANCE, relative_factor
from .lmm import LmmFit, LmmProblem, fit_lmm_at
from .mixedlm import fit_with_fallbacks


def _working_rows(design: Design, blocks: Blocks) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """ỹ, X̃ = X A_X and Z̃ = Z A_Z: the rows in the coordinates the exact engine works in."""
    w = working(blocks)
    y = (design.y - w.y_centre) / w.y_scale
    return y, design.X @ w.fixed_map, design.Z @ w.random_map


def fit_mixedlm_design(design: Design, method: str = "REML") -> tuple[LmmFit, float, bool]:
    """MixedLM's fit of the design: lme4's estimates at its θ, the gap above the exact optimum, and
    whether MixedLM reported convergence."""
    from statsmodels.regression.mixed_linear_model import MixedLM, MixedLMParams  # heavy: only when used

    blocks = blocks_of(design)
    y, X, Z = _working_rows(design, blocks)
    q = Z.shape[1]
    mask = np.zeros((q, q))
    start = 0
    for size in design.blocks:
        mask[start : start + size, start : start + size] = 1.0
        start += size
    free = None
    if len(design.blocks) > 1:
        free = MixedLMParams.from_components(fe_params=np.ones(X.shape[1]), cov_re=mask)
    model = MixedLM(y, X, groups=design.codes, exog_re=Z)
    result = fit_with_fallbacks(model, method, free=free)
    relative = np.asarray(result.cov_re, dtype=float).reshape(q, q) * mask / float(result.scale)
    factor = np.zeros((q, q))
    start = 0
    for size in design.blocks:
        part = slice(start, start + size)
        factor[part, part] = relative_factor(relative[part, part], 1.0)
        start += size
    problem = LmmProblem(working(blocks), method)
    fitted, gap = fit_lmm_at(blocks, method, factor[problem.rows, problem.cols])
    converged = bool(result.converged) and gap <= OPTIMUM_GAP_TOLERANCE
    return dataclasses.replace(fitted, converged=converged), gap, bool(result.converged)
