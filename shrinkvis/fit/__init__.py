"""Fits: no pooling, complete pooling and partial pooling (a linear mixed model), returned as tables."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from ..data import cluster_order
from ..errors import DataError, FitError
from ..scenario import ModelSpec
from .checks import check_bayes_budget, check_data, check_within, usable_fit
from .estimates import (
    CLUSTER_COLUMNS,
    OPTIMUM_GAP_TOLERANCE,
    SINGULAR_TOLERANCE,
    EngineFit,
    Estimates,
    ModelRows,
    relative_factor,
)
from .exact import fit_exact
from .pooling import complete_pool, no_pool_errors
from .profiled import ClusterStats, cluster_stats, no_pool
from .scaling import Scaling
from .sums import ClusterSums, fit_sums

if TYPE_CHECKING:
    from .bayes import BayesFit

__all__ = ["CLUSTER_COLUMNS", "ENGINES", "ClusterSums", "Estimates", "fit", "fit_sums"]

MIN_GROUPS = 3


ENGINES = ("exact", "statsmodels", "bayes")


def _mixed_model(rows: ModelRows, stats: ClusterStats, model: ModelSpec) -> EngineFit:
    """Partial pooling by the requested engine; statsmodels is imported only when asked for. The Bayesian
    engine starts from (and is compared with) the exact REML fit."""
    if model.engine in ("exact", "bayes"):
        return fit_exact(rows, model.random, model.method, stats)
    if model.engine == "statsmodels":
        from .mixedlm import fit_mixedlm

        return fit_mixedlm(rows, stats, model.random, model.method)
    raise DataError(f"engine {model.engine!r} is unknown; use one of {', '.join(ENGINES)}")


def fit(
    data: pd.DataFrame, model: ModelSpec | None = None, *, x_name: str = "x", group_name: str = "cluster"
) -> Estimates:
    """Fit all three ways of pooling to a frame with columns y, cluster and (optionally) x.

    `x_name` names the slope in `fixed_effects` and `std_errors` (lme4 uses the predictor's column name);
    `x_name` and `group_name` name the Bayesian engine's parameters as brms does (`sd_<group>__<x>`).
    """
    model = model or ModelSpec()
    y = data["y"].to_numpy(dtype=float)
    x = data["x"].to_numpy(dtype=float) if "x" in data.columns else None
    if model.random == "slope" and x is None:
        raise DataError("a random slope needs an x column; use model.random: intercept")
    codes, labels = cluster_order(data["cluster"])
    n_groups = len(labels)
    if n_groups < MIN_GROUPS:
        raise DataError(
            f"the data have {n_groups} cluster(s); at least {MIN_GROUPS} are needed to estimate "
            "a between-cluster variance"
        )

    check_data(y, x, codes, n_groups, model.random)
    if model.engine == "bayes":
        check_bayes_budget(model.bayes.chains, model.bayes.draws, n_groups)
    # engines see y and x divided by powers of two near their SDs: exact, and tolerances stay meaningful
    scaling = Scaling.of(y, x)
    scaled_y, scaled_x = scaling.apply(y, x)
    scaled = ModelRows(y=scaled_y, x=scaled_x, codes=codes, n_groups=n_groups)
    # sums measured from the overall means (no digits lost to an offset); dividing them by the powers of
    # two is exact, so the engine's sums need no second pass over the rows
    stats = cluster_stats(y, x, codes, n_groups)
    check_within(stats, model.random)
    scaled_stats = stats.scaled(scaling.y, scaling.x)
    mixed = _mixed_model(scaled, scaled_stats, model)
    posterior = (
        _posterior(y, scaled_stats, mixed, model, scaling, data, x_name, group_name)
        if model.engine == "bayes"
        else None
    )
    mixed = usable_fit(scaling.unscale(mixed, len(y)), model.engine)
    no_pool_intercept, no_pool_slope = no_pool(stats)
    no_pool_intercept_se, no_pool_slope_se, no_pool_sd = no_pool_errors(
        y, x, codes, stats, no_pool_intercept, no_pool_slope
    )
    complete, complete_se = complete_pool(y, x)

    return assemble(
        labels=labels,
        n=np.bincount(codes, minlength=n_groups),
        mean_y=stats.mean_y,
        mean_x=stats.mean_x,
        no_pool_estimates=(no_pool_intercept, no_pool_slope),
        no_pool_errors=(no_pool_intercept_se, no_pool_slope_se, no_pool_sd),
        complete=(complete, complete_se),
        mixed=mixed,
        model=model,
        names=["Intercept"] if x is None else ["Intercept", x_name],
        n_obs=len(y),
        posterior=posterior,
    )


def assemble(
    *,
    labels: np.ndarray,
    n: np.ndarray,
    mean_y: np.ndarray,
    mean_x: np.ndarray,
    no_pool_estimates: tuple[np.ndarray, np.ndarray],
    no_pool_errors: tuple[np.ndarray, np.ndarray, float],
    complete: tuple[np.ndarray, np.ndarray],
    mixed: EngineFit,
    model: ModelSpec,
    names: list[str],
    n_obs: int,
    posterior: BayesFit | None = None,
) -> Estimates:
    """The `Estimates` of a fit from its parts, whether they came from the rows or from per-cluster sums."""
    n_groups = len(labels)
    has_x = len(names) > 1
    no_pool_intercept, no_pool_slope = no_pool_estimates
    no_pool_intercept_se, no_pool_slope_se, no_pool_sd = no_pool_errors
    complete, complete_se = complete
    fixed = mixed.fixed_effects
    partial_intercept = fixed[0] + mixed.blup[:, 0]
    partial_intercept_se = np.sqrt(mixed.blup_cov[:, 0, 0])
    if model.random == "slope":
        partial_slope = fixed[1] + mixed.blup[:, 1]
        partial_slope_se = np.sqrt(mixed.blup_cov[:, 1, 1])
    else:
        # without a random slope every cluster shares the fixed slope, known without cluster-level error
        partial_slope = np.full(n_groups, fixed[1] if has_x else np.nan)
        partial_slope_se = np.full(n_groups, np.nan)
    clusters = pd.DataFrame(
        {
            "cluster": labels,
            "n": n,
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
    # beyond the CSV's columns: what the report needs to explain the shrinkage
    clusters["mean_y"] = mean_y
    clusters["mean_x"] = mean_x
    no_pool_estimates = [no_pool_intercept] + ([no_pool_slope] if has_x else [])
    no_pool_se = [no_pool_intercept_se] + ([no_pool_slope_se] if has_x else [])
    has_own_fit = np.isfinite(no_pool_intercept)
    no_pooling = {
        "estimates": {
            name: _mean(values[has_own_fit]) for name, values in zip(names, no_pool_estimates, strict=True)
        },
        "std_errors": {
            name: _mean(values[has_own_fit]) for name, values in zip(names, no_pool_se, strict=True)
        },
        "residual_sd": no_pool_sd,
        "clusters": int(has_own_fit.sum()),
    }
    warnings = []
    if not mixed.converged:
        warnings.append(convergence_warning(mixed, model))
    if mixed.is_singular:
        warnings.append(singular_warning(mixed.cov_re, mixed.sigma, names))
    fixed_values = dict(zip(names, map(float, fixed), strict=True))
    std_errors = dict(zip(names, map(float, np.sqrt(np.diag(mixed.fixed_cov))), strict=True))
    cov_re, residual_sd = mixed.cov_re, mixed.sigma
    if posterior is not None:
        from .bayes import attach_reml

        posterior = attach_reml(posterior, fixed_values, std_errors, cov_re, residual_sd, mixed.is_singular)
        clusters = clusters.assign(**posterior.cluster_columns())
        fixed_values, std_errors, cov_re, residual_sd = posterior.point_estimates(names)
        if mixed.is_singular:
            warnings[-1] += (
                " (This is the REML fit beside the Bayesian one, whose intervals do not collapse.)"
            )
        warnings += posterior.warnings
    # a posterior whose chains fail brms's diagnostics is not a result we can vouch for
    converged = mixed.converged and (posterior is None or posterior.converged)
    return Estimates(
        clusters=clusters,
        fixed_effects=fixed_values,
        std_errors=std_errors,
        cov_re=cov_re,
        residual_sd=residual_sd,
        complete_pooling={
            "estimates": dict(zip(names, map(float, complete), strict=True)),
            "std_errors": dict(zip(names, map(float, complete_se), strict=True)),
        },
        random=model.random,
        method=model.method,
        engine=model.engine,
        criterion=mixed.criterion,
        converged=converged,
        is_singular=mixed.is_singular,
        n_obs=n_obs,
        gradient_norm=mixed.gradient_norm,
        warnings=tuple(warnings),
        no_pooling=no_pooling,
        optimum_gap=mixed.optimum_gap,
        bayes=posterior,
    )


def _posterior(
    y: np.ndarray,
    stats: ClusterStats,
    reml: EngineFit,
    model: ModelSpec,
    scaling: Scaling,
    data: pd.DataFrame,
    x_name: str,
    group_name: str,
) -> BayesFit:
    """The Bayesian fit, on the engine's (scaled) sums, started from the REML fit in the same units."""
    from .bayes import default_priors, fit_bayes

    spec = model.bayes
    priors = default_priors(
        y,
        intercept_location=spec.intercept_location,
        intercept_scale=spec.intercept_scale,
        sd_scale=spec.sd_scale,
        sigma_scale=spec.sigma_scale,
        lkj=spec.lkj,
    )
    sd = np.sqrt(np.diag(reml.cov_re))
    corr = float(reml.cov_re[0, 1] / (sd[0] * sd[1])) if sd.size == 2 and sd.min() > 0 else 0.0
    try:
        return fit_bayes(
            stats,
            model.random,
            priors,
            seed=spec.seed,
            start=(sd, corr, reml.sigma),
            y_scale=scaling.y,
            x_scale=scaling.x,
            group=group_name,
            x_name=x_name if "x" in data.columns else None,
            chains=spec.chains,
            draws=spec.draws,
        )
    except (np.linalg.LinAlgError, ValueError) as exc:
        raise FitError(f"the Bayesian fit failed: {exc}") from None


def _mean(values: np.ndarray) -> float:
    return float(np.mean(values)) if len(values) else float("nan")


def convergence_warning(mixed: EngineFit, model: ModelSpec) -> str:
    """A fit that did not converge in plain words, with advice that helps for that engine."""
    criterion = "REML criterion" if model.method == "REML" else "ML deviance"
    if model.engine == "statsmodels":
        if mixed.optimum_gap is not None and mixed.optimum_gap > OPTIMUM_GAP_TOLERANCE:
            where = f"{mixed.optimum_gap:.3g} above the optimum of the {criterion}"
            if mixed.optimum_is_singular:
                where += ", which is a singular fit"
        else:
            where = "without reporting convergence"
        return (
            f"the statsmodels fit did not converge: MixedLM stopped {where}; do not trust the "
            "partial-pooling estimates (model.engine: exact reaches the optimum)"
        )
    return (
        f"the {model.engine} fit did not converge (largest gradient of the {criterion} in θ: "
        f"{mixed.gradient_norm:.2g}): do not trust the partial-pooling estimates; the optimum is flat "
        "here, usually because the data barely support the random effects — a simpler model "
        "(model.random: intercept) or more rows per cluster helps"
    )


def singular_warning(cov_re: np.ndarray, sigma: float, names: list[str]) -> str:
    """A singular fit in plain words: which part of Σ is on the boundary, what it does, what to do."""
    factor = relative_factor(cov_re, sigma)
    slopes = f"slopes of {names[1]}" if len(names) > 1 else "slopes"
    if factor[0, 0] <= SINGULAR_TOLERANCE:
        what = "intercepts do not vary between clusters (SD 0)"
        affected = "the intercepts' conditional SEs"
    elif abs(factor[1, 0]) > SINGULAR_TOLERANCE:
        corr = cov_re[0, 1] / np.sqrt(cov_re[0, 0] * cov_re[1, 1])
        what = f"intercepts and {slopes} perfectly correlated (corr = {corr:.2f})"
        affected = "every cluster lies on one line: the conditional SEs across it"
    else:
        what = f"{slopes} do not vary between clusters (SD 0)"
        affected = "the slopes' conditional SEs"
    fix = "drop the random slope or add rows per cluster" if factor.shape[0] > 1 else "add rows per cluster"
    return (
        f"singular fit: {what}, more structure than the data support; {affected} collapse toward zero. "
        f"Fix: {fix}."
    )
