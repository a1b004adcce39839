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


def no_pool_errors(
    y: np.ndarray,
    x: np.ndarray | None,
    codes: np.ndarray,
    n_groups: int,
    intercept: np.ndarray,
    slope: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, float]:
    """Standard errors of the clusters' own OLS fits, with one residual variance pooled over clusters.

    That is the no-pooling model fitted as one regression with its own intercept (and slope) per cluster,
    R's `lm(y ~ 0 + cluster + cluster:x)`. Returns the per-cluster SEs of intercept and slope (NaN where
    the cluster has no fit of its own) and the pooled residual SD.
    """
    usable = np.isfinite(intercept)
    n = np.bincount(codes, minlength=n_groups).astype(float)
    params = 1 if x is None else 2
    fitted = intercept[codes] if x is None else intercept[codes] + slope[codes] * x
    rows = usable[codes]
    residual = y[rows] - fitted[rows]
    dof = float(np.sum(n[usable] - params))
    variance = float(residual @ residual / dof) if dof > 0 else float("nan")
    safe_n = np.where(n > 0, n, 1.0)
    if x is None:
        return np.where(usable, np.sqrt(variance / safe_n), np.nan), np.full(n_groups, np.nan), variance**0.5
    mean_x = np.bincount(codes, weights=x, minlength=n_groups) / safe_n
    # the centred sum of squares straight from the rows: no cancellation, unlike sxx − sx²/n
    wxx = np.bincount(codes, weights=(x - mean_x[codes]) ** 2, minlength=n_groups)
    safe_wxx = np.where(usable, wxx, 1.0)
    slope_se = np.where(usable, np.sqrt(variance / safe_wxx), np.nan)
    intercept_se = np.where(usable, np.sqrt(variance * (1.0 / safe_n + mean_x**2 / safe_wxx)), np.nan)
    return intercept_se, slope_se, variance**0.5
