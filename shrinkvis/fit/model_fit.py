"""No, complete and partial pooling for any model of the class (model.py → blocks.py → lmm.py).

- partial pooling: the exact fit (lmm.py); per cluster each random effect's coefficient is its fixed
  effect (0 where the term is not in the fixed part) plus the cluster's conditional mode, with its
  conditional SE (lme4's `coef` and `ranef(condVar = TRUE)`);
- no pooling: each cluster's own least-squares fit of its random effects' columns (Z) to y less the other
  fixed effects at the mixed model's estimates (y − X_o β̂_o, X_o the columns of X not in Z): the
  cluster's own estimate adjusted for the other fixed effects. A per-cluster fit of the whole fixed part
  would leave every cluster unidentified as soon as the model has a cluster-level predictor (log(n), a
  county's uranium), which is exactly where the comparison matters. NaN where the cluster cannot identify
  its own Z (fewer rows than columns, or columns collinear within the cluster);
- complete pooling: one least-squares fit of the fixed part (R's `lm(y ~ fixed part)`);
- Bayes (engine `bayes`, lmm_bayes.py): the posterior at brms's default priors beside the REML fit;
  per cluster each random effect's coefficient as brms's `coef` (posterior mean, SD, 95 % interval).

All from the per-cluster blocks, in working coordinates and mapped back as the exact fit is.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ..design import Design
from ..errors import DataError
from ..model import INTERCEPT, ModelFormula
from .blocks import Blocks, _columns_map, blocks_of
from .estimates import CLUSTER_COLUMNS, Estimates
from .lmm import LmmFit, fit_lmm

if TYPE_CHECKING:
    from .lmm_bayes import ClassBayesFit

__all__ = ["ModelFit", "as_estimates", "column_stem", "fit_blocks", "fit_design", "plane_effects"]

#: a cluster's own fit is identifiable when the smallest eigenvalue of its (scaled) cross-product matrix
#: exceeds this fraction of the largest
OWN_FIT_RTOL = 1e-10


@dataclass(frozen=True)
class ModelFit:
    """The three ways of pooling for one model; `clusters` is estimates.csv's table."""

    design_formula: str
    group: str
    mixed: LmmFit
    clusters: pd.DataFrame
    complete_pooling: dict[str, dict[str, float]]
    dropped_rows: int
    #: per cluster, what the cluster-level fixed effects (columns constant within every cluster, such as
    #: log(n)) add to its intercept at the mixed model's estimates, and those columns' names
    intercept_shift: np.ndarray | None = None
    cluster_level: tuple[str, ...] = ()
    own_residual_sd: float = math.nan
    engine: str = "exact"
    optimum_gap: float | None = None  # statsmodels: criterion at its θ above the exact optimum
    posterior: ClassBayesFit | None = None  # engine bayes: the posterior beside the REML fit

    @property
    def converged(self) -> bool:
        """The fit can be vouched for: the optimiser converged and, under Bayes, the chains pass brms's
        diagnostics."""
        return self.mixed.converged and (self.posterior is None or self.posterior.converged)

    @property
    def warnings(self) -> list[str]:
        out = []
        if not self.mixed.converged and self.engine == "statsmodels":
            out.append(
                f"the statsmodels fit did not converge: MixedLM stopped {self.optimum_gap or 0.0:.3g} above the "
                "optimum of the criterion; do not trust the partial-pooling estimates (--engine exact reaches it)"
            )
        elif not self.mixed.converged:
            out.append(
                f"the exact fit did not converge (largest gradient of the criterion in θ: "
                f"{self.mixed.gradient_norm:.2g}): do not trust the partial-pooling estimates"
            )
        if self.mixed.is_singular:
            zero = [name for name, sd in self.mixed.sd_re.items() if sd <= 1e-4 * self.mixed.sigma]
            what = f"the SD of {', '.join(zero)} is 0" if zero else "random effects are perfectly correlated"
            out.append(
                f"singular fit: {what}, more than the data support; their conditional SEs collapse toward "
                "zero. Fix: fewer random effects or more rows per cluster."
                + (
                    " (This is the REML fit beside the Bayesian one, whose intervals do not collapse.)"
                    if self.posterior is not None
                    else ""
                )
            )
        if self.posterior is not None:
            out += list(self.posterior.warnings)
        return out


def column_stem(name: str) -> str:
    """A random effect's name in estimates.csv's columns: `intercept` for (Intercept), else lme4's name."""
    return "intercept" if name == INTERCEPT else name


def fit_design(design: Design, method: str = "REML", engine: str = "exact", bayes: Any = None) -> ModelFit:
    """The three ways of pooling for a model applied to rows in memory; partial pooling by the exact
    engine or by statsmodels MixedLM (judged by the exact engine, model_mixedlm.py); with engine `bayes`
    also the posterior at brms's default priors (`bayes`: the scenario's BayesSpec, priors and sampler;
    None for the defaults)."""
    blocks = blocks_of(design)
    if engine == "bayes":
        fitted = fit_blocks(blocks, design.formula, method, design.dropped_rows)
        return with_posterior(fitted, blocks, design.y, bayes)
    if engine == "statsmodels":
        from .model_mixedlm import fit_mixedlm_design

        mixed, gap, _ = fit_mixedlm_design(design, method)
        fitted = fit_blocks(blocks, design.formula, method, design.dropped_rows, mixed=mixed)
        return dataclasses.replace(fitted, engine="statsmodels", optimum_gap=gap)
    return fit_blocks(blocks, design.formula, method, design.dropped_rows)


def fit_blocks(
    blocks: Blocks,
    formula: ModelFormula,
    method: str = "REML",
    dropped_rows: int = 0,
    *,
    mixed: LmmFit | None = None,
) -> ModelFit:
    """The three ways of pooling from per-cluster blocks, however they were summed (partial pooling by
    the exact engine unless another engine's `mixed` is given)."""
    mixed = mixed if mixed is not None else fit_lmm(blocks, method)
    own, own_se, own_sd = _no_pool(blocks, mixed)
    shift, cluster_level = _cluster_level(blocks, mixed)
    fixed = dict(zip(mixed.fixed_names, mixed.fixed_effects, strict=True))
    table: dict[str, object] = {"cluster": blocks.labels, "n": blocks.n}
    for index, name in enumerate(mixed.random_names):
        stem = column_stem(name)
        table[f"no_pool_{stem}"] = own[name]
        table[f"partial_{stem}"] = fixed.get(name, 0.0) + mixed.blup[:, index]
        table[f"partial_{stem}_se"] = np.sqrt(mixed.blup_cov[:, index, index])
        table[f"no_pool_{stem}_se"] = own_se[name]
    return ModelFit(
        design_formula=formula.text,
        group=formula.group,
        mixed=mixed,
        clusters=pd.DataFrame(table),
        complete_pooling=_complete_pool(blocks),
        dropped_rows=dropped_rows,
        intercept_shift=shift,
        cluster_level=cluster_level,
        own_residual_sd=own_sd,
    )


def with_posterior(model: ModelFit, blocks: Blocks, y: np.ndarray, spec: Any = None) -> ModelFit:
    """The fit with the posterior of its model beside it (lmm_bayes.py), at brms's default priors from y
    unless `spec` (a BayesSpec) sets them; estimates.csv gains bayes_<effect>, _sd, _lo and _hi."""
    from .bayes import default_priors
    from .lmm_bayes import Adjustment, fit_class_bayes

    keys = ("intercept_location", "intercept_scale", "sd_scale", "sigma_scale", "lkj")
    priors = default_priors(y, **{key: getattr(spec, key, None) for key in keys})
    sampler = (
        {"seed": 1} if spec is None else {key: getattr(spec, key) for key in ("seed", "chains", "draws")}
    )
    level = _cluster_level_columns(blocks)
    adjust = None
    if level and INTERCEPT in model.mixed.random_names:
        fixed = np.array([k for k, _ in level])
        adjust = Adjustment(
            term=model.mixed.random_names.index(INTERCEPT),
            fixed=fixed,
            values=np.array([values for _, values in level]),
            at=model.mixed.fixed_effects[fixed],
        )
    try:
        posterior = fit_class_bayes(blocks, model.mixed, priors, group=model.group, adjust=adjust, **sampler)
    except (np.linalg.LinAlgError, ValueError) as exc:
        from ..errors import FitError

        raise FitError(f"the Bayesian fit failed: {exc}") from None
    table = model.clusters.copy()
    for name, summary in zip(posterior.random_names, posterior.clusters, strict=True):
        stem = column_stem(name)
        pairs = (("", summary.mean), ("_sd", summary.sd), ("_lo", summary.lo), ("_hi", summary.hi))
        for suffix, values in pairs:
            table[f"bayes_{stem}{suffix}"] = values
    return dataclasses.replace(model, clusters=table, posterior=posterior, engine="bayes")


def _least_squares(
    blocks: Blocks, members: tuple[int, ...], cross: np.ndarray, subtract: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Least squares of y − W·subtract on the columns `members` for each (J, m, m) cross-product in
    `cross`, in the coordinates as given: coefficients (J, k), their covariance without σ² (J, k, k), the
    residual sum of squares (J,) and whether each fit is identifiable (J,). `subtract` (m,) holds the
    coefficients, in y's units, of the W columns to take off y first."""
    m = cross.shape[1]
    F, A, constant, value = _columns_map(blocks, members, centre=True)
    y_scale, y_centre = float(blocks.scales[m - 1]), float(blocks.centres[m - 1])
    f_y = np.zeros(m)
    f_y[m - 1] = 1.0
    if subtract is not None:
        f_y[1 : m - 1] -= subtract[1 : m - 1] / y_scale
        y_centre -= float(subtract[0])
    if constant is None:
        f_y[0] += y_centre / y_scale
    J, k = len(cross), F.shape[1]
    flat = cross.reshape(J, m * m)
    xtx = (flat @ np.kron(F, F)).reshape(J, k, k)  # FᵀC_jF for every cluster, one matrix product
    xty = (flat @ np.kron(F, f_y[:, None])).reshape(J, k)
    yty = flat @ np.kron(f_y, f_y)
    diagonal = np.einsum("jaa->ja", xtx)
    scale = np.sqrt(np.where(diagonal > 0, diagonal, 1.0))
    values = np.linalg.eigvalsh(xtx / (scale[:, :, None] * scale[:, None, :]))
    ok = (np.all(diagonal > 0, axis=1)) & (values[:, 0] > OWN_FIT_RTOL * values[:, -1])
    inverse = np.full(xtx.shape, np.nan)
    if ok.any():
        inverse[ok] = np.linalg.inv(xtx[ok])
    gamma = np.einsum("jab,jb->ja", inverse, xty)
    rss = np.maximum(yty - np.einsum("ja,ja->j", gamma, xty), 0.0)
    coefficients = y_scale * gamma @ A.T
    if constant is not None:
        coefficients[:, constant] += y_centre / value
    covariance = y_scale**2 * (A @ inverse @ A.T)
    return coefficients, covariance, rss * y_scale**2, ok


def _no_pool(blocks: Blocks, mixed: LmmFit) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], float]:
    """Each cluster's own fit of Z to y less the other fixed effects (module docstring); SEs from the
    residual variance pooled over the clusters with a fit (as for the two-effect models)."""
    members = blocks.random_columns
    m = blocks.cross.shape[1]
    subtract = np.zeros(m)
    for w, beta in zip(blocks.fixed_columns, mixed.fixed_effects, strict=True):
        if w in members:
            continue
        # β·u = β·(s w + c) in the W columns; a constant column's w is its value over s
        subtract[w] += beta * blocks.scales[w] if w else beta
        subtract[0] += beta * blocks.centres[w]
    coefficients, covariance, rss, ok = _least_squares(blocks, members, blocks.cross, subtract)
    n = blocks.n
    usable = ok & (n > len(members))
    dof = float(np.sum(n[usable] - len(members)))
    variance = float(np.sum(rss[usable]) / dof) if dof > 0 else math.nan
    estimates, errors = {}, {}
    for index, name in enumerate(blocks.random_names):
        estimates[name] = np.where(ok, coefficients[:, index], np.nan)
        errors[name] = np.where(usable, np.sqrt(np.abs(variance * covariance[:, index, index])), np.nan)
    return estimates, errors, math.sqrt(variance) if variance >= 0 else math.nan


#: a column is constant within a cluster when its within-cluster sum of squares is below this share of its
#: sum of squares about the overall centre
WITHIN_RTOL = 1e-10


def _cluster_level_columns(blocks: Blocks) -> list[tuple[int, np.ndarray]]:
    """The fixed columns o that are constant within every cluster (and are not random effects): each as
    its index in X and its value in each cluster."""
    n = blocks.n.astype(float)
    several = n > 1
    safe_n = np.where(n > 0, n, 1.0)
    out = []
    for k, w in enumerate(blocks.fixed_columns):
        if w == 0 or w in blocks.random_columns or blocks.constant[w]:
            continue
        linear, square = blocks.cross[:, 0, w], blocks.cross[:, w, w]
        within = square - linear * linear / safe_n
        if np.all(within[several] <= WITHIN_RTOL * np.maximum(square[several], 1e-300)):
            out.append((k, blocks.centres[w] + blocks.scales[w] * linear / safe_n))
    return out


def _cluster_level(blocks: Blocks, mixed: LmmFit) -> tuple[np.ndarray, tuple[str, ...]]:
    """Σ β̂_o x_oj per cluster over the cluster-level fixed columns o, and their names."""
    shift = np.zeros(blocks.n_groups)
    names = []
    for k, values in _cluster_level_columns(blocks):
        shift += mixed.fixed_effects[k] * values
        names.append(mixed.fixed_names[k])
    return shift, tuple(names)


def _complete_pool(blocks: Blocks) -> dict[str, dict[str, float]]:
    """One least-squares fit of the fixed part to all rows."""
    total = blocks.cross.sum(axis=0)[None]
    coefficients, covariance, rss, ok = _least_squares(blocks, blocks.fixed_columns, total)
    p = len(blocks.fixed_columns)
    dof = blocks.n_obs - p
    variance = float(rss[0] / dof) if dof > 0 else math.nan
    errors = np.sqrt(np.abs(variance * np.diag(covariance[0])))
    return {
        "estimates": dict(zip(blocks.fixed_names, map(float, coefficients[0]), strict=True)),
        "std_errors": dict(zip(blocks.fixed_names, map(float, errors), strict=True)),
    }


# ---------------------------------------------------------------------------------------------------------
# Pictures: two random effects (or one) of any model in the shape the views draw


def plane_effects(model: ModelFit, plane: tuple[str, ...] | None = None) -> tuple[str, ...]:
    """The random effects a picture shows: `plane` (checked against the model), or the intercept and the
    first slope (the first two random effects; the one, in a model with one)."""
    names = model.mixed.random_names
    if plane is None:
        ordered = sorted(names, key=lambda name: name != INTERCEPT)  # the intercept first, if there is one
        return tuple(ordered[:2])
    unknown = [name for name in plane if name not in names]
    if unknown or len(set(plane)) != len(plane):
        raise DataError(
            f"animation.plane = {list(plane)}: choose one or two different random effects of "
            f"{model.design_formula!r}, from {', '.join(names)}"
        )
    return tuple(plane)


def as_estimates(model: ModelFit, plane: tuple[str, ...] | None = None) -> Estimates:
    """The fit in the shape the views draw: the chosen random effects as (intercept, slope) columns, the
    fixed effects with those two first. Every estimate is on one scale, the other fixed effects taken off
    at the mixed model's estimates: the own estimate is `no_pool_<effect>` (module docstring) and the
    partial-pooling one is β̂ + b̂ⱼ, so the picture shows each cluster's departure from what the rest of
    the model predicts for it."""
    mixed = model.mixed
    shown = plane_effects(model, plane)
    stems = [column_stem(name) for name in shown]
    table = model.clusters
    fixed = dict(zip(mixed.fixed_names, map(float, mixed.fixed_effects), strict=True))
    errors = dict(zip(mixed.fixed_names, map(float, mixed.std_errors), strict=True))
    order = list(shown) + [name for name in mixed.fixed_names if name not in shown]
    nan = np.full(len(table), np.nan)

    def column(kind: str, index: int, suffix: str = "") -> np.ndarray:
        return table[f"{kind}_{stems[index]}{suffix}"].to_numpy(dtype=float) if index < len(stems) else nan

    # a picture of one random effect: every cluster shares the next fixed effect, known without error
    shared = np.full(len(table), fixed.get(order[1], 0.0) if len(order) > 1 else np.nan)

    clusters = pd.DataFrame(
        {
            "cluster": table["cluster"],
            "n": table["n"],
            "no_pool_intercept": column("no_pool", 0),
            "no_pool_slope": column("no_pool", 1),
            "partial_intercept": column("partial", 0),
            "partial_slope": column("partial", 1) if len(shown) > 1 else shared,
            "partial_intercept_se": column("partial", 0, "_se"),
            "partial_slope_se": column("partial", 1, "_se"),
            "no_pool_intercept_se": column("no_pool", 0, "_se"),
            "no_pool_slope_se": column("no_pool", 1, "_se"),
        },
        columns=list(CLUSTER_COLUMNS),
    )
    # a random-intercept picture explains the shrinkage from the cluster's own estimate (report.py): the
    # own estimate is its mean of y less the other fixed effects
    clusters["mean_y"] = column("no_pool", 0)
    clusters["mean_x"] = 0.0
    index = [mixed.random_names.index(name) for name in shown]
    has_own = np.isfinite(clusters["no_pool_intercept"].to_numpy())
    own_columns = ["no_pool_intercept", "no_pool_slope"][: len(shown)]
    # the clusters' own fits estimate only their random effects; the other fixed effects have none (NaN)
    pairs = list(zip(shown, own_columns, strict=True))
    own_means = {name: _mean(clusters[c].to_numpy()[has_own]) for name, c in pairs}
    own_errors = {name: _mean(clusters[c + "_se"].to_numpy()[has_own]) for name, c in pairs}
    no_pooling = {
        "estimates": {name: own_means.get(name, math.nan) for name in order},
        "std_errors": {name: own_errors.get(name, math.nan) for name in order},
        "residual_sd": model.own_residual_sd,
        "clusters": int(has_own.sum()),
    }
    complete = model.complete_pooling
    cov_re, residual_sd, view = mixed.cov_re[np.ix_(index, index)], mixed.sigma, None
    if model.posterior is not None:
        # as the two-effect engine: the population numbers are posterior means, the partial_* columns stay
        # REML's and the bayes_* columns are the posterior's
        posterior = model.posterior
        view = posterior.view(shown)
        clusters = clusters.assign(**view.cluster_columns())
        means = {name: posterior.posterior[posterior.fixed_name(name)] for name in mixed.fixed_names}
        fixed = {name: row["mean"] for name, row in means.items()}
        errors = {name: row["sd"] for name, row in means.items()}
        sds = [posterior.posterior[posterior.sd_name(name)]["mean"] for name in shown]
        cov_re = np.diag(np.square(sds))
        if len(shown) > 1 and "corr" in view.names():
            cov_re[0, 1] = cov_re[1, 0] = posterior.posterior[view.names()["corr"]]["mean"] * sds[0] * sds[1]
        residual_sd = posterior.posterior["sigma"]["mean"]
    return Estimates(
        clusters=clusters,
        fixed_effects={name: fixed.get(name, 0.0) for name in order},
        std_errors={name: errors.get(name, 0.0) for name in order},
        cov_re=cov_re,
        residual_sd=residual_sd,
        complete_pooling={  # a random effect outside the fixed part has fixed effect 0 in every fit
            "estimates": {name: complete["estimates"].get(name, 0.0) for name in order},
            "std_errors": {name: complete["std_errors"].get(name, 0.0) for name in order},
        },
        random="slope" if len(shown) > 1 else "intercept",
        method=mixed.method,
        engine=model.engine,
        criterion=mixed.criterion,
        converged=model.converged,
        is_singular=mixed.is_singular,
        n_obs=mixed.n_obs,
        gradient_norm=mixed.gradient_norm,
        warnings=tuple(model.warnings),
        no_pooling=no_pooling,
        optimum_gap=model.optimum_gap,
        formula=model.design_formula,
        bayes=view,
    )


def _mean(values: np.ndarray) -> float:
    return float(np.mean(values)) if len(values) else math.nan
