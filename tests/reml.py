"""An independent check of a mixed-model fit: the criterion and the BLUPs written out from the formulas.

Dense per-cluster algebra, fine for test-sized data: V_j = Z_j Σ Z_j' + σ² I, β̂ by GLS, and
−2 log L_REML = (n − p) log 2π + Σ_j log|V_j| + log|X' V⁻¹ X| + r' V⁻¹ r   (lme4's REML criterion)
−2 log L_ML   = n log 2π + Σ_j log|V_j| + r' V⁻¹ r.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def _blocks(data: pd.DataFrame, q: int):
    for _, rows in data.groupby("cluster", sort=True):
        design = np.column_stack([np.ones(len(rows)), rows["x"].to_numpy(float)])
        yield design, design[:, :q], rows["y"].to_numpy(float)


def criterion(data: pd.DataFrame, cov_re: np.ndarray, sigma: float, method: str = "REML") -> float:
    """−2 log-likelihood (REML or ML) at Σ = cov_re and residual SD sigma, β profiled out by GLS."""
    q = cov_re.shape[0]
    xtvx = np.zeros((2, 2))
    xtvy = np.zeros(2)
    logdet = 0.0
    inverses = []
    for design, z, y in _blocks(data, q):
        v = z @ cov_re @ z.T + sigma**2 * np.eye(len(y))
        logdet += np.linalg.slogdet(v)[1]
        inverse = np.linalg.inv(v)
        inverses.append((design, y, inverse))
        xtvx += design.T @ inverse @ design
        xtvy += design.T @ inverse @ y
    beta = np.linalg.solve(xtvx, xtvy)
    quadratic = sum((y - d @ beta) @ inverse @ (y - d @ beta) for d, y, inverse in inverses)
    n, p = len(data), 2
    if method == "ML":
        return n * np.log(2 * np.pi) + logdet + quadratic
    return (n - p) * np.log(2 * np.pi) + logdet + np.linalg.slogdet(xtvx)[1] + quadratic


def blups(data: pd.DataFrame, fixed: np.ndarray, cov_re: np.ndarray, sigma: float):
    """Conditional modes Σ Z'V⁻¹(y − Xβ) and conditional covariances Σ − Σ Z'V⁻¹ZΣ, per cluster."""
    q = cov_re.shape[0]
    modes, covariances = [], []
    for design, z, y in _blocks(data, q):
        v = z @ cov_re @ z.T + sigma**2 * np.eye(len(y))
        gain = cov_re @ z.T @ np.linalg.inv(v)
        modes.append(gain @ (y - design @ fixed))
        covariances.append(cov_re - gain @ z @ cov_re)
    return np.array(modes), np.array(covariances)


def covariance(sd: tuple[float, ...], corr: float = 0.0) -> np.ndarray:
    if len(sd) == 1:
        return np.array([[sd[0] ** 2]])
    return np.array([[sd[0] ** 2, corr * sd[0] * sd[1]], [corr * sd[0] * sd[1], sd[1] ** 2]])


def neighbours(sd: tuple[float, ...], corr: float, sigma: float, step: float):
    """Parameter sets a relative `step` away in each direction that stays inside the parameter space."""
    for index in range(len(sd)):
        for factor in (1 - step, 1 + step):
            changed = list(sd)
            changed[index] *= factor
            yield tuple(changed), corr, sigma
    for factor in (1 - step, 1 + step):
        yield sd, corr, sigma * factor
    if len(sd) > 1:
        for delta in (-step, step):
            if abs(corr + delta) <= 1:
                yield sd, corr + delta, sigma
