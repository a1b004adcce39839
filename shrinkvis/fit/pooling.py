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
