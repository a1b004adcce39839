"""Data a mixed model cannot be fitted to, and engine results that cannot be used, as clear errors.

The rules follow lme4 where it has one (more rows than clusters, more rows than random effects);
the rest catch data on which every engine would divide by zero.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ..errors import DataError, FitError
from .estimates import EngineFit
from .profiled import ClusterStats, _within

NEGATIVE_VARIANCE_TOLERANCE = 1e-8  # relative round-off allowed in a conditional variance


def check_data(y: np.ndarray, x: np.ndarray | None, codes: np.ndarray, n_groups: int, random: str) -> None:
    """Raise a `DataError` that says what is wrong with the data for this model, if anything is."""
    if np.any(codes < 0):
        raise DataError(f"cluster is missing in {_rows(codes < 0)}")
    for name, values in (("y", y), ("x", x)):
        if values is not None and not np.all(np.isfinite(values)):
            raise DataError(f"{name} is missing or infinite in {_rows(~np.isfinite(values))}")
    check_sizes(len(y), n_groups, random)
    if np.ptp(y) == 0:
        raise DataError(f"y is {y[0]:g} in every row: there is no variation to pool")
    if x is not None and np.ptp(x) == 0:
        raise DataError(f"x is {x[0]:g} in every row: its slope cannot be estimated")
    if x is not None and _fits_a_line_exactly(y, x):
        raise DataError(
            "y is an exact straight-line function of x (no residual variation), so the residual SD would be 0"
        )


def check_sizes(n_obs: int, n_groups: int, random: str) -> None:
    """lme4's rules on the numbers of rows and clusters (shared with the fit from per-cluster sums)."""
    if n_obs <= n_groups:
        raise DataError(
            f"{n_obs} rows for {n_groups} clusters: a mixed model needs more rows than clusters, "
            "or the cluster and residual variances cannot be told apart"
        )
    if random == "slope" and n_obs <= 2 * n_groups:
        raise DataError(
            f"{n_obs} rows for {n_groups} clusters: a random slope needs more rows than 2 × clusters "
            f"({2 * n_groups}); use model.random: intercept, or more rows per cluster"
        )


# The Bayesian engine keeps every draw of its few parameters (about 360 bytes a draw, measured) and its
# time grows with draws × clusters (about 1 µs a cluster-draw at 2,000 clusters): bounds that keep it
# under 1 GB and about 20 minutes (docs/outputs.md, "Limits")
MAX_BAYES_DRAWS = 2_000_000  # chains × draws
MAX_BAYES_CLUSTER_DRAWS = 1_000_000_000  # chains × draws × clusters


def check_bayes_budget(chains: int, draws: int, n_groups: int) -> None:
    """The Bayesian engine's bounds, checked before any sampling."""
    if chains * draws > MAX_BAYES_DRAWS:
        raise DataError(
            f"model.bayes: {chains} chains × {draws:,} draws = {chains * draws:,} draws; at most "
            f"{MAX_BAYES_DRAWS:,} are kept (about 360 bytes each); lower model.bayes.draws"
        )
    if chains * draws * n_groups > MAX_BAYES_CLUSTER_DRAWS:
        raise DataError(
            f"model.bayes: {chains} chains × {draws:,} draws × {n_groups:,} clusters = "
            f"{chains * draws * n_groups:,} cluster-draws; at most {MAX_BAYES_CLUSTER_DRAWS:,} "
            "(about 20 minutes); lower model.bayes.draws or use model.engine: exact"
        )


NO_RESIDUAL_RTOL = 1e-12  # residual sum of squares below this share of the total: none (round-off aside)


def check_within(stats: ClusterStats, random: str) -> None:
    """What the model leaves to the residual, from the per-cluster sums (both fit paths): a model with no
    residual variation, or a random slope no cluster can show, has no meaningful fit (lme4 would report
    a residual SD of 1e-16 and call it converged)."""
    within = _within(stats)
    n = float(np.sum(stats.n))
    total = float(np.sum(stats.syy)) - float(np.sum(stats.sy)) ** 2 / n
    if total <= 0:
        return  # y constant in every row: check_data / _check_sums say so
    if random == "slope" and not np.any(within.slope_ok):
        raise DataError(
            "x takes one value within every cluster, so no cluster shows a slope of its own and a random "
            "slope cannot be estimated; use model.random: intercept"
        )
    if not stats.has_x:
        residual, words = float(np.sum(within.wyy)), "y does not vary within any cluster"
    elif random == "slope":
        safe = np.where(within.slope_ok, within.wxx, 1.0)
        lines = np.where(within.slope_ok, within.wyy - within.wxy**2 / safe, within.wyy)
        residual, words = float(np.sum(lines)), "y lies exactly on a line within every cluster"
    else:
        wxx, wxy = float(np.sum(within.wxx)), float(np.sum(within.wxy))
        residual = float(np.sum(within.wyy)) - (wxy**2 / wxx if wxx > 0 else 0.0)
        words = "y is exactly its cluster's intercept plus one common slope times x in every row"
    if residual <= NO_RESIDUAL_RTOL * total:
        raise DataError(
            f"{words}: there is no residual variation, so the residual SD would be 0 and the fit meaningless"
        )


def _fits_a_line_exactly(y: np.ndarray, x: np.ndarray) -> bool:
    # from the means: a design [1, x] with x far from 0 is too ill-conditioned to tell
    yc, xc = y - np.mean(y), x - np.mean(x)
    residual = yc - (xc @ yc) / (xc @ xc) * xc
    return bool(np.std(residual) <= 1e-10 * np.std(y))


def _rows(mask: np.ndarray) -> str:
    rows = np.flatnonzero(mask)
    first = ", ".join(str(row + 1) for row in rows[:3])
    more = f" and {len(rows) - 3} more" if len(rows) > 3 else ""
    return f"{len(rows)} row{'s' if len(rows) > 1 else ''} (row {first}{more}, counting from 1)"


def usable_fit(fit: EngineFit, engine: str) -> EngineFit:
    """The engine's result if every number in it is finite; conditional variances of −0 become 0."""
    parts = {
        "fixed effects": fit.fixed_effects,
        "their covariance": fit.fixed_cov,
        "random-effect covariance": fit.cov_re,
        "residual SD": np.array([fit.sigma]),
        "random effects": fit.blup,
        "their conditional covariance": fit.blup_cov,
        "criterion": np.array([fit.criterion]),
    }
    for name, values in parts.items():
        if not np.all(np.isfinite(values)):
            raise FitError(f"the {engine} fit returned non-finite {name}; the fit failed")
    if not fit.sigma > 0:
        raise FitError(f"the {engine} fit returned a residual SD of {fit.sigma:g}; the fit failed")
    variances = np.diagonal(fit.blup_cov, axis1=1, axis2=2)
    scale = np.maximum(np.abs(np.diagonal(fit.cov_re)), fit.sigma**2)
    if np.any(variances < -NEGATIVE_VARIANCE_TOLERANCE * scale):
        raise FitError(f"the {engine} fit returned negative conditional variances; the fit failed")
    if np.any(variances < 0):
        blup_cov = fit.blup_cov.copy()
        index = np.arange(blup_cov.shape[1])
        blup_cov[:, index, index] = np.maximum(variances, 0.0)
        return dataclasses.replace(fit, blup_cov=blup_cov)
    return fit
