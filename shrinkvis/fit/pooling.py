"""Complete pooling: one OLS for everyone. (No pooling, one OLS per cluster, is in profiled.py,
computed from the same per-cluster sums as the mixed model.)"""

from __future__ import annotations

import numpy as np


def complete_pool(y: np.ndarray, x: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """One OLS ignoring clusters (R's `lm(y ~ x)`): estimates and standard errors."""
    design = np.ones((len(y), 1)) if x is None else np.column_stack([np.ones(len(y)), x])
    coef, _, rank, _ = np.linalg.lstsq(design, y, rcond=None)
    p = design.shape[1]
    if rank < p:
        return coef, np.full(p, np.nan)
    residual = y - design @ coef
    dof = len(y) - p
    if dof <= 0:
        return coef, np.full(p, np.nan)
    scale = residual @ residual / dof
    cov = scale * np.linalg.inv(design.T @ design)
    return coef, np.sqrt(np.diag(cov))

