"""Complete pooling: one OLS for everyone. (No pooling, one OLS per cluster, is in profiled.py,
computed from the same per-cluster sums as the mixed model.)"""

from __future__ import annotations

import numpy as np

from .profiled import ClusterStats


def complete_pool(y: np.ndarray, x: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """One OLS ignoring clusters (R's `lm(y ~ x)`): estimates and standard errors.

    Solved on y and x measured from their means, so that an offset costs no digits (a design [1, x]
    with x near 1e9 is too ill-conditioned for any solver); the intercept is then moved back to x = 0.
    """
    n = len(y)
    mean_y = float(np.mean(y))
    yc = y - mean_y
    if x is None:
        se = float(np.sqrt(yc @ yc / (n - 1) / n)) if n > 1 else float("nan")
        return np.array([mean_y]), np.array([se])
    mean_x = float(np.mean(x))
    xc = x - mean_x
    sxx = float(xc @ xc)
    if not sxx > 0:  # x constant: no slope (the checks refuse such data before a fit)
        return np.array([mean_y, np.nan]), np.full(2, np.nan)
    slope = float(xc @ yc) / sxx
    coef = np.array([mean_y - slope * mean_x, slope])
    if n <= 2:
        return coef, np.full(2, np.nan)
    residual = yc - slope * xc
    scale = float(residual @ residual) / (n - 2)
    return coef, np.sqrt([scale * (1.0 / n + mean_x**2 / sxx), scale / sxx])


def no_pool_errors(
    y: np.ndarray,
    x: np.ndarray | None,
    codes: np.ndarray,
    stats: ClusterStats,
    intercept: np.ndarray,
    slope: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, float]:
    """Standard errors of the clusters' own OLS fits, with one residual variance pooled over clusters.

    That is the no-pooling model fitted as one regression with its own intercept (and slope) per cluster,
    R's `lm(y ~ 0 + cluster + cluster:x)`. Returns the per-cluster SEs of intercept and slope (NaN where
    the cluster has no fit of its own) and the pooled residual SD. The residuals are taken from each
    cluster's own means (measured from the stats' global centres), so an offset costs no digits.
    """
    n_groups = stats.n_groups
    usable = np.isfinite(intercept)
    n = np.asarray(stats.n, dtype=float)
    safe_n = np.where(n > 0, n, 1.0)
    params = 1 if x is None else 2
    rows = usable[codes]
    within_y = (y - stats.centre_y) - (stats.sy / safe_n)[codes]
    if x is None:
        residual = within_y[rows]
    else:
        within_x = (x - stats.centre_x) - (stats.sx / safe_n)[codes]
        residual = within_y[rows] - np.where(usable, slope, 0.0)[codes][rows] * within_x[rows]
    dof = float(np.sum(n[usable] - params))
    variance = float(residual @ residual / dof) if dof > 0 else float("nan")
    if x is None:
        return np.where(usable, np.sqrt(variance / safe_n), np.nan), np.full(n_groups, np.nan), variance**0.5
    # the centred sum of squares straight from the rows: no cancellation, unlike sxx − sx²/n
    wxx = np.bincount(codes, weights=within_x**2, minlength=n_groups)
    safe_wxx = np.where(usable, wxx, 1.0)
    mean_x = stats.mean_x
    slope_se = np.where(usable, np.sqrt(variance / safe_wxx), np.nan)
    intercept_se = np.where(usable, np.sqrt(variance * (1.0 / safe_n + mean_x**2 / safe_wxx)), np.nan)
    return intercept_se, slope_se, variance**0.5
