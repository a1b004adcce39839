"""Random-effects meta-analysis of estimates with known standard errors, by REML (or ML), as
`metafor::rma`.

    y_j ~ N(θ_j, σ_j²) with σ_j known,   θ_j ~ N(μ, τ²)

Given τ², μ̂ is the precision-weighted mean with weights w_j = 1 / (σ_j² + τ²) and Var(μ̂) = 1 / Σ w_j.
τ² maximises the restricted log-likelihood

    l_R(τ²) = −½ [(k − 1) log 2π − log k + Σ log(σ_j² + τ²) + log Σ w_j + Σ w_j (y_j − μ̂)²]

(metafor's constants, `REMLf = TRUE`), on τ² ≥ 0: eight schools' optimum lies on that boundary.
Each study's estimate shrinks by λ_j = τ² / (τ² + σ_j²) toward μ̂: BLUP_j = μ̂ + λ_j (y_j − μ̂), with
SE √(λ_j σ_j² + (1 − λ_j)² Var(μ̂)) (metafor's `blup`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import optimize

from ..errors import DataError

METHODS = ("REML", "ML")


@dataclass(frozen=True)
class MetaFit:
    method: str
    mu: float
    se_mu: float
    tau2: float
    se_tau2: float
    loglik: float
    blup: np.ndarray
    blup_se: np.ndarray
    shrinkage: np.ndarray  # λ_j: the share of the way from y_j to μ̂ a study does NOT move is 1 − λ_j
    weight: np.ndarray  # w_j / Σ w, in %
    q_statistic: float  # Cochran's Q (weights 1/σ²)
    i_squared: float  # % of the total variance that is between studies (metafor's I²)

    @property
    def tau(self) -> float:
        return float(np.sqrt(self.tau2))

    @property
    def is_singular(self) -> bool:
        return self.tau2 <= 0


def _loglik(tau2: float, y: np.ndarray, variance: np.ndarray, method: str) -> float:
    total = variance + tau2
    weight = 1 / total
    mu = np.sum(weight * y) / np.sum(weight)
    residual = np.sum(weight * (y - mu) ** 2)
    k = len(y)
    if method == "ML":
        return float(-0.5 * (k * np.log(2 * np.pi) + np.sum(np.log(total)) + residual))
    return float(
        -0.5
        * (
            (k - 1) * np.log(2 * np.pi)
            - np.log(k)
            + np.sum(np.log(total))
            + np.log(np.sum(weight))
            + residual
        )
    )


def fit_meta(y: np.ndarray, se: np.ndarray, method: str = "REML") -> MetaFit:
    """τ², μ and the BLUPs of a random-effects meta-analysis."""
    y = np.asarray(y, dtype=float)
    se = np.asarray(se, dtype=float)
    if method not in METHODS:
        raise DataError(f"method {method!r} is not supported for known standard errors; use REML or ML")
    if len(y) < 3:
        raise DataError(f"{len(y)} estimate(s): at least 3 are needed to estimate a between-study variance")
    if np.any(se <= 0) or not np.all(np.isfinite(se)):
        raise DataError("every standard error must be a positive finite number")
    variance = se**2
    spread = max(float(np.var(y)), float(variance.mean()))

    def negative(log_tau2: float) -> float:
        return -_loglik(float(np.exp(log_tau2)), y, variance, method)

    # the criterion in log τ² over a wide bracket, then polished; compared with the boundary τ² = 0
    grid = np.log(spread) + np.linspace(-25, 8, 200)
    best = grid[int(np.argmin([negative(value) for value in grid]))]
    step = grid[1] - grid[0]
    polished = optimize.minimize_scalar(
        negative, bounds=(best - step, best + step), method="bounded", options={"xatol": 1e-12}
    )
    tau2 = float(np.exp(polished.x))
    if _loglik(0.0, y, variance, method) >= -polished.fun or tau2 < 1e-10 * spread:
        tau2 = 0.0
    total = variance + tau2
    weight = 1 / total
    mu = float(np.sum(weight * y) / np.sum(weight))
    var_mu = 1 / float(np.sum(weight))
    # information for τ²: ½ tr(P²) (REML) or ½ Σ w² (ML); P = W − W 1 1ᵀ W / Σ w
    if method == "REML":
        projection = np.diag(weight) - np.outer(weight, weight) / np.sum(weight)
        information = 0.5 * float(np.sum(projection * projection))
    else:
        information = 0.5 * float(np.sum(weight**2))
    shrinkage = tau2 / total
    fixed_weight = 1 / variance
    fixed_mu = np.sum(fixed_weight * y) / np.sum(fixed_weight)
    q_statistic = float(np.sum(fixed_weight * (y - fixed_mu) ** 2))
    k = len(y)
    typical = (k - 1) * np.sum(fixed_weight) / (np.sum(fixed_weight) ** 2 - np.sum(fixed_weight**2))
    return MetaFit(
        method=method,
        mu=mu,
        se_mu=float(np.sqrt(var_mu)),
        tau2=tau2,
        se_tau2=float(np.sqrt(1 / information)),
        loglik=_loglik(tau2, y, variance, method),
        blup=mu + shrinkage * (y - mu),
        blup_se=np.sqrt(shrinkage * variance + (1 - shrinkage) ** 2 * var_mu),
        shrinkage=shrinkage,
        weight=100 * weight / np.sum(weight),
        q_statistic=q_statistic,
        i_squared=float(100 * tau2 / (tau2 + typical)),
    )
