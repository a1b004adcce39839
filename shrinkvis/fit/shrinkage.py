"""How much each cluster was shrunk, and how the three ways of pooling compare: numbers derived from a fit.

Shrinkage of a cluster is the share of the way from its own estimate (no pooling) to the fixed effects
that partial pooling travelled: 0 = kept its own estimate, 1 = pulled all the way in. With a random slope
the distance is measured in the (intercept, slope) plane with each coefficient in units of its spread
across the clusters' own estimates, so that a slope in ms/day and an intercept in ms count alike.

For a random-intercept model the mixed model's estimate is a weighted average,
``BLUP_j = λ_j · (ȳ_j − β₁ x̄_j) + (1 − λ_j) · β₀`` with ``λ_j = ψ / (ψ + θ / n_j)``, ψ the between-cluster
and θ the residual variance: a cluster trusts its own (x-adjusted) mean by λ_j, more the more rows it has.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .estimates import Estimates

POOLING_KINDS = ("complete_pooling", "no_pooling", "partial_pooling")


@dataclass(frozen=True)
class PoolingRow:
    """One coefficient under the three ways of pooling: estimate and standard error of each."""

    coefficient: str
    estimates: dict[str, float]  # kind → estimate
    std_errors: dict[str, float]  # kind → SE (no pooling: mean of the clusters' own SEs)


def pooling_comparison(estimates: Estimates) -> list[PoolingRow]:
    """Intercept (and slope): complete pooling (one OLS), no pooling (own OLS per cluster), partial pooling."""
    rows = []
    for name in estimates.fixed_effects:
        rows.append(
            PoolingRow(
                coefficient=name,
                estimates={
                    "complete_pooling": estimates.complete_pooling["estimates"][name],
                    "no_pooling": estimates.no_pooling["estimates"][name],
                    "partial_pooling": estimates.fixed_effects[name],
                },
                std_errors={
                    "complete_pooling": estimates.complete_pooling["std_errors"][name],
                    "no_pooling": estimates.no_pooling["std_errors"][name],
                    "partial_pooling": estimates.std_errors[name],
                },
            )
        )
    return rows


def has_predictor(estimates: Estimates) -> bool:
    return len(estimates.fixed_effects) > 1


def intercept_weights(estimates: Estimates) -> np.ndarray | None:
    """λ_j = ψ / (ψ + θ / n_j) for a random-intercept model; None when the model has a random slope."""
    if estimates.random != "intercept":
        return None
    psi = float(estimates.cov_re[0, 0])
    theta = estimates.residual_sd**2
    n = estimates.clusters["n"].to_numpy(dtype=float)
    return psi / (psi + theta / n)


def adjusted_means(estimates: Estimates) -> np.ndarray:
    """Each cluster's mean of y adjusted to x = 0 with the fixed slope: ȳ_j − β₁ x̄_j (ȳ_j without x)."""
    table = estimates.clusters
    mean_y = table["mean_y"].to_numpy(dtype=float)
    if not has_predictor(estimates):
        return mean_y
    return mean_y - estimates.fixed_point[1] * table["mean_x"].to_numpy(dtype=float)


def shrinkage_table(estimates: Estimates) -> pd.DataFrame:
    """Per cluster: n, own and mixed-model estimates, the share of the distance removed; λ_j and the
    adjusted mean for random-intercept models."""
    table = estimates.clusters
    columns = ["no_pool_intercept", "partial_intercept"]
    if has_predictor(estimates):
        columns = ["no_pool_intercept", "no_pool_slope", "partial_intercept", "partial_slope"]
    result = table[["cluster", "n", *columns]].copy()
    result["shrinkage"] = shrinkage_shares(estimates)
    weights = intercept_weights(estimates)
    if weights is not None:
        result["weight"] = weights
        result["adjusted_mean"] = adjusted_means(estimates)
    return result.reset_index(drop=True)


def shrinkage_shares(estimates: Estimates) -> np.ndarray:
    """1 − (distance of the partial-pooling estimate) / (distance of the own estimate) to the fixed effects.

    A random-intercept model shrinks only the intercept, and from the cluster's mean adjusted for x (what
    the cluster's own intercept would be with the fixed slope): there the share is exactly 1 − λ_j. A model
    with a random slope shrinks (intercept, slope) from the cluster's own OLS fit. NaN where the cluster has
    no estimate of its own (one row, or x constant, with a random slope) or it sits on the fixed effects.
    """
    table = estimates.clusters
    if estimates.random == "intercept":
        own = adjusted_means(estimates)[:, None]
        partial = table[["partial_intercept"]].to_numpy(dtype=float)
        center = estimates.fixed_point[:1]
    else:
        own = table[["no_pool_intercept", "no_pool_slope"]].to_numpy(dtype=float)
        partial = table[["partial_intercept", "partial_slope"]].to_numpy(dtype=float)
        center = estimates.fixed_point
    return distance_shares(own, partial, center)


def distance_shares(own: np.ndarray, partial: np.ndarray, center: np.ndarray) -> np.ndarray:
    """(J,) 1 − |partial − center| / |own − center| per row, each coordinate in units of the spread of the
    finite `own` rows across clusters; NaN where `own` is not finite or sits on the center."""
    own = np.asarray(own, dtype=float)
    partial = np.asarray(partial, dtype=float)
    usable = np.all(np.isfinite(own), axis=1)
    dims = own.shape[1]
    spread = np.std(own[usable], axis=0, ddof=1) if usable.sum() > 1 else np.ones(dims)
    spread = np.where(np.isfinite(spread) & (spread > 0), spread, 1.0)
    before = np.linalg.norm((own - center) / spread, axis=1)
    after = np.linalg.norm((partial - center) / spread, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(usable & (before > 0), 1.0 - after / before, np.nan)


def blup_identity_error(estimates: Estimates) -> float | None:
    """Largest |BLUP_j − (λ_j · adjusted mean_j + (1 − λ_j) · β₀)| over clusters; None with a random slope.

    Checks numerically that the fitted intercepts are the weighted averages the formula says they are.
    """
    weights = intercept_weights(estimates)
    if weights is None:
        return None
    intercept = estimates.fixed_point[0]
    expected = weights * adjusted_means(estimates) + (1.0 - weights) * intercept
    actual = estimates.clusters["partial_intercept"].to_numpy(dtype=float)
    return float(np.max(np.abs(actual - expected)))
