"""The two ends of the pooling scale: one OLS for everyone, and one OLS per cluster."""

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


def no_pool(
    y: np.ndarray, x: np.ndarray | None, codes: np.ndarray, n_groups: int
) -> tuple[np.ndarray, np.ndarray]:
    """Each cluster's own OLS intercept and slope, vectorised over clusters.

    NaN where not identifiable: fewer than two rows, or x constant within the cluster. Without x the
    intercept is the cluster mean and the slope is NaN.
    """
    n = np.bincount(codes, minlength=n_groups).astype(float)
    mean_y = np.bincount(codes, weights=y, minlength=n_groups) / np.where(n > 0, n, 1)
    if x is None:
        return mean_y, np.full(n_groups, np.nan)
    mean_x = np.bincount(codes, weights=x, minlength=n_groups) / np.where(n > 0, n, 1)
    dx = x - mean_x[codes]
    dy = y - mean_y[codes]
    sxx = np.bincount(codes, weights=dx * dx, minlength=n_groups)
    sxy = np.bincount(codes, weights=dx * dy, minlength=n_groups)
    raw_sxx = np.bincount(codes, weights=x * x, minlength=n_groups)
    identifiable = (n >= 2) & (sxx > 1e-12 * np.maximum(raw_sxx, np.finfo(float).tiny))
    slope = np.where(identifiable, sxy / np.where(identifiable, sxx, 1.0), np.nan)
    intercept = np.where(identifiable, mean_y - slope * mean_x, np.nan)
    return intercept, slope


def no_pool_std_errors(
    y: np.ndarray,
    x: np.ndarray | None,
    codes: np.ndarray,
    n_groups: int,
    intercept: np.ndarray,
    slope: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Standard errors of the per-cluster OLS estimates, with one residual variance pooled over clusters.

    Pooling the residual variance (the no-pooling model fitted as one regression with a separate
    intercept and slope per cluster) gives every identifiable cluster an SE, even one with two rows.
    NaN where the cluster's own estimate is missing.
    """
    n = np.bincount(codes, minlength=n_groups).astype(float)
    safe_n = np.where(n > 0, n, 1)
    if x is None:
        fitted = intercept[codes]
        parameters = 1
    else:
        fitted = intercept[codes] + slope[codes] * x
        parameters = 2
    estimated = np.isfinite(fitted)
    residual_ss = np.sum((y[estimated] - fitted[estimated]) ** 2)
    dof = np.sum(np.where(np.isfinite(intercept), n - parameters, 0.0))
    if dof <= 0:
        return np.full(n_groups, np.nan), np.full(n_groups, np.nan)
    residual_var = residual_ss / dof
    if x is None:
        return np.where(np.isfinite(intercept), np.sqrt(residual_var / safe_n), np.nan), np.full(
            n_groups, np.nan
        )
    mean_x = np.bincount(codes, weights=x, minlength=n_groups) / safe_n
    dx = x - mean_x[codes]
    sxx = np.bincount(codes, weights=dx * dx, minlength=n_groups)
    identifiable = np.isfinite(slope)
    sxx = np.where(identifiable, sxx, 1.0)
    slope_se = np.where(identifiable, np.sqrt(residual_var / sxx), np.nan)
    intercept_se = np.where(identifiable, np.sqrt(residual_var * (1 / safe_n + mean_x**2 / sxx)), np.nan)
    return intercept_se, slope_se
