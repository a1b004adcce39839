"""Fit a rates scenario and say the result on the scale people read.

`RatesFit` holds, per cluster and on the display scale (a rate per `per` trials or units of exposure, or
the estimate's own units): the cluster's own value with its exact 95 % interval, the partial-pooling value
with the interval of its conditional distribution, and how far it moved toward the pooled value. Its
`estimates` is the same `Estimates` shape the linear model gives (link scale: logit or log), so that
summary.json and the gallery read it as any other fit.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import special, stats

from ..fit.estimates import CLUSTER_COLUMNS, Estimates
from ..fit.glmm import ClusterCounts, GlmmFit, RateRows, cluster_counts, fit_glmm
from ..fit.meta import MetaFit, fit_meta
from ..fit.rates_bayes import PosteriorSummary, posterior_counts, posterior_meta
from ..scenario import Scenario
from .data import RateData

Z_95 = 1.959963984540054
CONTROL_LIMITS = (0.95, 0.998)  # Spiegelhalter (2005): "2 SD" and "3 SD" limits of the funnel plot


@dataclass(frozen=True)
class RatesFit:
    data: RateData
    per: float  # display multiplier (100: %, 1: proportion); 1 for known SEs
    clusters: (
        pd.DataFrame
    )  # cluster, size, own, own_lo, own_hi, partial, partial_lo, partial_hi, moved, truth?
    pooled: float  # the rate of a typical cluster (inverse link of the fixed intercept), or μ̂
    overall: float  # the crude overall rate Σ events / Σ size (the funnel's target), or μ̂
    glmm: GlmmFit | None
    meta: MetaFit | None
    estimates: Estimates
    family_words: str  # e.g. "binomial GLMM (ML, Laplace)"
    warnings: tuple[str, ...] = ()
    posterior: PosteriorSummary | None = None  # engine bayes: the partial values are posterior means
    ml_warnings: tuple[str, ...] = ()  # engine bayes: the warnings of the ML fit beside the posterior

    @property
    def kind(self) -> str:
        return self.data.kind

    def control_limits(self, size: np.ndarray, coverage: float) -> tuple[np.ndarray, np.ndarray]:
        """The funnel plot's limits around the overall rate at each size (normal approximation, as
        Spiegelhalter 2005): binomial p₀ ± z √(p₀(1 − p₀)/n), Poisson λ₀ ± z √(λ₀/E), known SEs μ ± z σ
        (then `size` is the precision 1/σ²)."""
        z = stats.norm.ppf(0.5 + coverage / 2)
        size = np.asarray(size, dtype=float)
        if self.kind == "meta":
            half = z / np.sqrt(size)
            return self.overall - half, self.overall + half
        rate = self.overall / self.per
        spread = np.sqrt(rate * (1 - rate) / size) if self.kind == "binomial" else np.sqrt(rate / size)
        return self.per * (rate - z * spread), self.per * (rate + z * spread)

    def rmse(self) -> dict[str, float] | None:
        """Root mean squared error of the own and the partial-pooling values against the truth."""
        if "truth" not in self.clusters:
            return None
        table = self.clusters.dropna(subset=["truth"])
        return {
            which: float(np.sqrt(np.mean((table[which] - table["truth"]) ** 2)))
            for which in ("own", "partial")
        }


def fit_rates(data: RateData, scenario: Scenario) -> RatesFit:
    fit = _fit_meta(data, scenario) if data.kind == "meta" else _fit_glmm(data, scenario)
    return _with_posterior(fit) if scenario.model.engine == "bayes" else fit


def _with_posterior(fit: RatesFit) -> RatesFit:
    """engine bayes: the partial-pooling values become posterior means (± 1.96 posterior SD), the
    maximum-likelihood ones stay beside them (`ml_partial`)."""
    table = fit.data.clusters
    if fit.kind == "meta":
        posterior = posterior_meta(table["estimate"].to_numpy(dtype=float), table["se"].to_numpy(dtype=float))
        mean, sd = posterior.cluster_mean, posterior.cluster_sd
        tau_words = f"τ {posterior.tau_mean:.3g}"
    else:
        counts = cluster_counts(
            fit.kind,
            table["events"].to_numpy(dtype=float),
            table["size"].to_numpy(dtype=float),
            np.arange(len(table)),
            len(table),
        )
        posterior = posterior_counts(fit.kind, counts)
        assert posterior.rate_mean is not None and posterior.rate_sd is not None
        mean, sd = fit.per * posterior.rate_mean, fit.per * posterior.rate_sd
        tau_words = f"SD of the intercepts {posterior.tau_mean:.3g}"
    clusters = fit.clusters.assign(
        ml_partial=fit.clusters["partial"],
        ml_partial_lo=fit.clusters["partial_lo"],
        ml_partial_hi=fit.clusters["partial_hi"],
        partial=mean,
        partial_lo=mean - Z_95 * sd,
        partial_hi=mean + Z_95 * sd,
    )
    words = f"Bayes, brms's default priors, posterior means ({tau_words}); beside it {fit.family_words}"
    pooled = posterior.intercept_mean
    if fit.kind != "meta":
        pooled = fit.per * float(_inverse_link(fit.kind, np.array(pooled)))
    # the ML fit's warnings concern the ML values, which the frames no longer show: they stay in
    # summary.json (`bayes.ml_warnings`), not on the frame
    return dataclasses.replace(
        fit,
        clusters=clusters,
        family_words=words,
        posterior=posterior,
        warnings=(),
        pooled=pooled,
        estimates=dataclasses.replace(fit.estimates, engine="bayes", warnings=()),
        ml_warnings=fit.warnings,
    )


def _inverse_link(kind: str, eta: np.ndarray) -> np.ndarray:
    return special.expit(eta) if kind == "binomial" else np.exp(eta)


def _exact_interval(kind: str, events: np.ndarray, size: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Clopper–Pearson (binomial) or Garwood (Poisson) 95 % interval of a cluster's own rate: defined
    for 0 events too, where a Wald interval on the logit scale is not."""
    alpha = 1 - 0.95
    if kind == "binomial":
        lo = np.where(events > 0, stats.beta.ppf(alpha / 2, events, size - events + 1), 0.0)
        hi = np.where(events < size, stats.beta.ppf(1 - alpha / 2, events + 1, size - events), 1.0)
        return lo, hi
    lo = np.where(events > 0, stats.chi2.ppf(alpha / 2, 2 * events) / 2, 0.0) / size
    hi = stats.chi2.ppf(1 - alpha / 2, 2 * events + 2) / 2 / size
    return lo, hi


def _fit_glmm(data: RateData, scenario: Scenario) -> RatesFit:
    model = scenario.model
    kind = data.kind
    per = scenario.data.per if hasattr(scenario.data, "per") else 100.0
    table = data.clusters
    events = table["events"].to_numpy(dtype=float)
    size = table["size"].to_numpy(dtype=float)
    n_groups = len(table)
    if data.rows is not None:
        rows = data.rows
        codes = rows["codes"].to_numpy()
        size_of_rows = rows["size"].to_numpy()
        if kind == "poisson" and data.x_name is not None:
            # fitted from the rows, where log(exposure) is the offset: the constant is −log y! alone
            size_of_rows = np.ones_like(size_of_rows)
        counts = cluster_counts(kind, rows["y"].to_numpy(), size_of_rows, codes, n_groups)
    elif "constant" in table:  # summed by DuckDB: the rows' constants came with the sums
        codes = np.arange(n_groups)
        counts = ClusterCounts(
            successes=events,
            size=size,
            constant=table["constant"].to_numpy(dtype=float),
            saturated=table["saturated"].to_numpy(dtype=float),
            n_rows=table["n_rows"].to_numpy(),
        )
    else:
        codes = np.arange(n_groups)
        counts = cluster_counts(kind, events, size, codes, n_groups)
    if data.x_name is not None and data.rows is not None:
        rows = data.rows
        y = rows["y"].to_numpy(dtype=float)
        exposure = rows["size"].to_numpy(dtype=float)
        design = np.column_stack([np.ones(len(rows)), rows["x"].to_numpy(dtype=float)])
        rate_rows = RateRows(
            y=y,
            n=exposure if kind == "binomial" else np.ones_like(y),
            offset=np.zeros_like(y) if kind == "binomial" else np.log(exposure),
            design=design,
            codes=codes,
            n_groups=n_groups,
        )
        glmm = fit_glmm(kind, rate_rows, nagq=model.nagq, counts=counts)
    else:
        glmm = fit_glmm(kind, counts, nagq=model.nagq)
    intercept = float(glmm.fixed_effects[0])
    # a cluster's linear predictor without its random effect: the fixed part at its own rows' mean x
    if data.x_name is not None and data.rows is not None:
        mean_x = (
            pd.Series(data.rows["x"].to_numpy(dtype=float)).groupby(codes).mean().reindex(range(n_groups))
        )
        fixed_part = intercept + float(glmm.fixed_effects[1]) * mean_x.to_numpy()
    else:
        fixed_part = np.full(n_groups, intercept)
    eta = fixed_part + glmm.blup
    own = events / size
    own_lo, own_hi = _exact_interval(kind, events, size)
    partial = _inverse_link(kind, eta)
    with np.errstate(divide="ignore"):
        own_eta = special.logit(own) if kind == "binomial" else np.log(own)
    # the share of the way (on the link scale) from its own rate to the fixed part that a cluster moved
    gap = own_eta - fixed_part
    moved = np.where(
        np.isfinite(gap) & (np.abs(gap) > 1e-12), 1 - glmm.blup / np.where(gap == 0, 1, gap), np.nan
    )
    clusters = pd.DataFrame(
        {
            "cluster": table["cluster"].to_numpy(),
            "size": size,
            "events": events,
            "own": per * own,
            "own_lo": per * own_lo,
            "own_hi": per * own_hi,
            "partial": per * partial,
            "partial_lo": per * _inverse_link(kind, eta - Z_95 * glmm.blup_sd),
            "partial_hi": per * _inverse_link(kind, eta + Z_95 * glmm.blup_sd),
            "moved": moved,
        }
    )
    if "truth" in table:
        clusters["truth"] = per * table["truth"].to_numpy(dtype=float)
    nodes = "Laplace" if model.nagq == 1 else f"{model.nagq}-node adaptive Gauss–Hermite"
    words = f"{kind} GLMM, ML ({nodes})"
    warnings = []
    if not glmm.converged:
        warnings.append(f"the {kind} fit did not converge: do not trust the partial-pooling rates")
    if glmm.is_singular:
        warnings.append(
            "singular fit: the clusters' rates do not vary beyond chance (SD 0), so every cluster is shrunk "
            "all the way to the pooled rate"
        )
    estimates = _estimates(
        data,
        clusters,
        names=["Intercept"] + ([data.x_name] if data.x_name else []),
        fixed=glmm.fixed_effects,
        fixed_cov=glmm.fixed_cov,
        variance=glmm.theta**2,
        partial=eta,
        partial_se=glmm.blup_sd,
        own_link=np.where(np.isfinite(own_eta), own_eta, np.nan),
        own_link_se=np.sqrt(
            1 / np.where(events > 0, events * (1 - own if kind == "binomial" else 1), np.nan)
        ),
        complete=float(
            special.logit(events.sum() / size.sum())
            if kind == "binomial"
            else np.log(events.sum() / size.sum())
        ),
        method="ML",
        criterion=glmm.deviance,
        converged=glmm.converged,
        singular=glmm.is_singular,
        warnings=warnings,
    )
    return RatesFit(
        data=data,
        per=per,
        clusters=clusters,
        pooled=per * float(_inverse_link(kind, np.array(intercept))),
        overall=per * float(events.sum() / size.sum()),
        glmm=glmm,
        meta=None,
        estimates=estimates,
        family_words=words,
        warnings=tuple(warnings),
    )


def _fit_meta(data: RateData, scenario: Scenario) -> RatesFit:
    table = data.clusters
    y = table["estimate"].to_numpy(dtype=float)
    se = table["se"].to_numpy(dtype=float)
    method = scenario.model.method
    meta = fit_meta(y, se, method)
    clusters = pd.DataFrame(
        {
            "cluster": table["cluster"].to_numpy(),
            "size": 1 / se**2,  # precision: what a study's "size" is in a meta-analysis
            "se": se,
            "own": y,
            "own_lo": y - Z_95 * se,
            "own_hi": y + Z_95 * se,
            "partial": meta.blup,
            "partial_lo": meta.blup - Z_95 * meta.blup_se,
            "partial_hi": meta.blup + Z_95 * meta.blup_se,
            "moved": 1 - meta.shrinkage,
            "shrinkage": meta.shrinkage,
        }
    )
    if "truth" in table:
        clusters["truth"] = table["truth"].to_numpy(dtype=float)
    warnings = []
    if meta.is_singular:
        warnings.append(
            f"{method} puts τ² at 0 (on the boundary): the estimates differ no more than their SEs allow, so "
            "each is shrunk all the way to the pooled mean (λ = 0)"
        )
    estimates = _estimates(
        data,
        clusters,
        names=["Intercept"],
        fixed=np.array([meta.mu]),
        fixed_cov=np.array([[meta.se_mu**2]]),
        variance=meta.tau2,
        partial=meta.blup,
        partial_se=meta.blup_se,
        own_link=y,
        own_link_se=se,
        complete=float(np.sum(y / se**2) / np.sum(1 / se**2)),
        method=method,
        criterion=-2 * meta.loglik,
        converged=True,
        singular=meta.is_singular,
        warnings=warnings,
    )
    return RatesFit(
        data=data,
        per=1.0,
        clusters=clusters,
        pooled=meta.mu,
        overall=meta.mu,
        glmm=None,
        meta=meta,
        estimates=estimates,
        family_words=f"random-effects meta-analysis, {method} (known SEs)",
        warnings=tuple(warnings),
    )


def _estimates(
    data: RateData,
    clusters: pd.DataFrame,
    *,
    names: list[str],
    fixed: np.ndarray,
    fixed_cov: np.ndarray,
    variance: float,
    partial: np.ndarray,
    partial_se: np.ndarray,
    own_link: np.ndarray,
    own_link_se: np.ndarray,
    complete: float,
    method: str,
    criterion: float,
    converged: bool,
    singular: bool,
    warnings: list[str],
) -> Estimates:
    """The common `Estimates` (link scale), for summary.json and every reader of a fit."""
    n_groups = len(clusters)
    table = pd.DataFrame(
        {
            "cluster": clusters["cluster"],
            "n": data.clusters["size"] if "size" in data.clusters else data.clusters["n_rows"],
            "no_pool_intercept": own_link,
            "no_pool_slope": np.full(n_groups, np.nan),
            "partial_intercept": partial,
            "partial_slope": np.full(n_groups, np.nan),
            "partial_intercept_se": partial_se,
            "partial_slope_se": np.full(n_groups, np.nan),
            "no_pool_intercept_se": own_link_se,
            "no_pool_slope_se": np.full(n_groups, np.nan),
        },
        columns=list(CLUSTER_COLUMNS),
    )
    return Estimates(
        clusters=table,
        fixed_effects=dict(zip(names, map(float, fixed), strict=True)),
        std_errors=dict(zip(names, map(float, np.sqrt(np.diag(fixed_cov))), strict=True)),
        cov_re=np.array([[variance]]),
        residual_sd=float("nan"),
        complete_pooling={"estimates": {"Intercept": complete}, "std_errors": {}},
        random="intercept",
        method=method,
        engine="exact",
        criterion=float(criterion),
        converged=converged,
        is_singular=singular,
        n_obs=data.n_obs,
        warnings=tuple(warnings),
    )
