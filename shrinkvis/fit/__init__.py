"""Fits: no pooling, complete pooling and partial pooling (a linear mixed model), returned as tables."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from ..errors import DataError
from ..scenario import ModelSpec
from .estimates import CLUSTER_COLUMNS, EngineFit, Estimates
from .pooling import complete_pool, no_pool, no_pool_std_errors

__all__ = ["CLUSTER_COLUMNS", "Estimates", "fit"]

MIN_GROUPS = 3


def _engine(name: str) -> Callable[..., EngineFit]:
    if name == "statsmodels":
        from .mixedlm import fit_mixedlm

        return fit_mixedlm
    raise DataError(f"engine {name!r} is unknown; use statsmodels")


def fit(data: pd.DataFrame, model: ModelSpec | None = None) -> Estimates:
    """Fit all three ways of pooling to a frame with columns y, cluster and (optionally) x."""
    model = model or ModelSpec()
    y = data["y"].to_numpy(dtype=float)
    x = data["x"].to_numpy(dtype=float) if "x" in data.columns else None
    if model.random == "slope" and x is None:
        raise DataError("a random slope needs an x column; use model.random: intercept")
    codes, labels = pd.factorize(data["cluster"], sort=True)
    n_groups = len(labels)
    if n_groups < MIN_GROUPS:
        raise DataError(
            f"the data have {n_groups} cluster(s); at least {MIN_GROUPS} are needed to estimate "
            "a between-cluster variance"
        )

    mixed = _engine(model.engine)(y, x, codes, n_groups, model.random, model.method)
    no_pool_intercept, no_pool_slope = no_pool(y, x, codes, n_groups)
    no_pool_intercept_se, no_pool_slope_se = no_pool_std_errors(
        y, x, codes, n_groups, no_pool_intercept, no_pool_slope
    )
    complete, complete_se = complete_pool(y, x)

    names = ["Intercept"] if x is None else ["Intercept", "x"]
    fixed = mixed.fixed_effects
    partial_intercept = fixed[0] + mixed.blup[:, 0]
    partial_intercept_se = np.sqrt(mixed.blup_cov[:, 0, 0])
    if model.random == "slope":
        partial_slope = fixed[1] + mixed.blup[:, 1]
        partial_slope_se = np.sqrt(mixed.blup_cov[:, 1, 1])
    else:
        # without a random slope every cluster shares the fixed slope, known without cluster-level error
        partial_slope = np.full(n_groups, fixed[1] if x is not None else np.nan)
        partial_slope_se = np.full(n_groups, np.nan)
    clusters = pd.DataFrame(
        {
            "cluster": labels,
            "n": np.bincount(codes, minlength=n_groups),
            "no_pool_intercept": no_pool_intercept,
            "no_pool_slope": no_pool_slope,
            "partial_intercept": partial_intercept,
            "partial_slope": partial_slope,
            "partial_intercept_se": partial_intercept_se,
            "partial_slope_se": partial_slope_se,
            "no_pool_intercept_se": no_pool_intercept_se,
            "no_pool_slope_se": no_pool_slope_se,
        },
        columns=list(CLUSTER_COLUMNS),
    )
    warnings = []
    if not mixed.converged:
        warnings.append(
            f"the {model.engine} fit did not converge: do not trust the partial-pooling estimates"
        )
    if mixed.is_singular:
        warnings.append(
            "singular fit: the model has more random-effect structure than the data support "
            "(drop the random slope, or use more rows per cluster)"
        )
    return Estimates(
        clusters=clusters,
        fixed_effects=dict(zip(names, map(float, fixed), strict=True)),
        std_errors=dict(zip(names, map(float, np.sqrt(np.diag(mixed.fixed_cov))), strict=True)),
        cov_re=mixed.cov_re,
        residual_sd=mixed.sigma,
        complete_pooling={
            "estimates": dict(zip(names, map(float, complete), strict=True)),
            "std_errors": dict(zip(names, map(float, complete_se), strict=True)),
        },
        random=model.random,
        method=model.method,
        engine=model.engine,
        criterion=mixed.criterion,
        converged=mixed.converged,
        is_singular=mixed.is_singular,
        n_obs=len(y),
        warnings=tuple(warnings),
    )
