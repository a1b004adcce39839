"""The default engine: exact profiled REML/ML from per-cluster sufficient statistics (see profiled.py)."""

from __future__ import annotations

import numpy as np

from ..errors import FitError
from .estimates import EngineFit, ModelRows
from .profiled import ClusterStats, fit_profiled


def fit_exact(rows: ModelRows, random: str, method: str, stats: ClusterStats) -> EngineFit:
    try:
        result = fit_profiled(stats, random, method)  # type: ignore[arg-type]
    except (np.linalg.LinAlgError, ValueError) as exc:  # data the checks let through but no fit exists for
        raise FitError(f"the mixed model cannot be fitted: {exc}") from None
    return EngineFit(
        fixed_effects=result.fixed_effects,
        fixed_cov=result.fixed_cov,
        cov_re=result.cov_re,
        sigma=result.sigma,
        blup=result.blup,
        blup_cov=result.blup_cov,
        criterion=result.criterion,
        method=result.method,
        converged=result.converged,
        is_singular=result.is_singular,
        theta=result.theta,
        gradient_norm=result.gradient_norm,
    )
