"""`shrinkvis fit` and `shrinkvis explain` for binomial, Poisson and known-SE models: the fit laid out as
R prints it (glmer's `summary`, metafor's `rma`), the one JSON object of `fit --json`, and the report
`explain` prints (report.md's text, without rendering anything).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from ..outputs import json_ready
from ..scenario import Scenario
from .data import RateData, rate_data
from .fit import RatesFit, fit_rates
from .pipeline import cluster_table, formula, markdown

LINKS = {"binomial": "logit", "poisson": "log"}


@dataclass(frozen=True)
class FitOutputs:
    """What `shrinkvis fit` prints or writes: the summary, the JSON object, the per-cluster table."""

    text: str
    json: dict[str, Any]
    table: pd.DataFrame
    warnings: list[str]


def fit_scenario(scenario: Scenario) -> RatesFit:
    """Data → fit of a rates scenario, nothing drawn."""
    return fit_rates(rate_data(scenario), scenario)


def fit_outputs(scenario: Scenario, started: float) -> FitOutputs:
    """Fit a rates scenario (random intercept, random slope or known SEs) for `shrinkvis fit`."""
    if scenario.model.random == "slope":
        from . import slopes

        result = slopes.fit_slopes(scenario)
        seconds = time.perf_counter() - started
        return FitOutputs(
            slopes.summary_text(result),
            slopes.summary_json(result, seconds),
            slopes.cluster_table(result),
            result.warnings,
        )
    fit = fit_scenario(scenario)
    seconds = time.perf_counter() - started
    return FitOutputs(
        glmer_summary(fit), fit_json(fit, seconds), cluster_table(fit), list(fit.estimates.warnings)
    )


def explain_text(scenario: Scenario) -> str:
    """What `shrinkvis explain` prints for a rates scenario: the text of its report.md (with a random
    slope: glmer's summary and the conditional modes)."""
    if scenario.model.random == "slope":
        from . import slopes

        return slopes.explain_text(slopes.fit_slopes(scenario))
    return markdown(fit_scenario(scenario), scenario)


def stars(p: float) -> str:
    """R's significance codes."""
    for limit, mark in ((0.001, "***"), (0.01, "**"), (0.05, "*"), (0.1, ".")):
        if p < limit:
            return mark
    return ""


def p_value(p: float) -> str:
    return "<2e-16" if p < 2e-16 else f"{p:.3g}"


def _glmm_numbers(fit: RatesFit) -> dict[str, Any]:
    glmm = fit.glmm
    assert glmm is not None
    n_params = len(glmm.fixed_effects) + 1
    loglik = glmm.lme4_loglik
    n_obs = fit.data.n_obs
    return {
        "loglik": loglik,
        "deviance": -2 * loglik,
        "AIC": -2 * loglik + 2 * n_params,
        "BIC": -2 * loglik + n_params * np.log(n_obs),
        "df_resid": n_obs - n_params,
    }


def glmer_summary(fit: RatesFit) -> str:
    """glmer's (or metafor's) printed summary of the fit, with its warnings; a Bayesian fit adds the
    posterior below the maximum-likelihood one."""
    text = _meta_summary(fit) if fit.meta is not None else _glmm_summary(fit)
    posterior = fit.posterior
    if posterior is not None:
        text += (
            "\n\nBayes (brms's default priors, numerical integration over the intercept and the SD):\n"
            f" Intercept: posterior mean {posterior.intercept_mean:.4f} (SD {posterior.intercept_sd:.4f})\n"
            f" SD of the random intercepts: posterior mean {posterior.tau_mean:.4f} (SD {posterior.tau_sd:.4f}), "
            f"95 % {posterior.tau_quantiles[0]:.4f} to {posterior.tau_quantiles[2]:.4f}"
        )
    warnings = [*fit.warnings, *fit.ml_warnings]
    return text + "".join(f"\nwarning: {warning}" for warning in warnings)


def glmer_text(
    *,
    how: str,
    family: str,
    formula_text: str,
    data: RateData,
    criteria: dict[str, Any],
    random_rows: list[tuple[str, float, float, float | None]],
    fixed: list[tuple[str, float, float]],
) -> list[str]:
    """glmer's summary laid out: `random_rows` (name, variance, SD, Corr or None), `fixed` (name,
    estimate, SE); `criteria` with AIC, BIC, loglik, deviance and df_resid."""
    lines = [
        f"Generalized linear mixed model fit by maximum likelihood ({how}) ['exact' engine]",
        f" Family: {family}  ( {LINKS[family]} )",
        f"Formula: {formula_text}",
        f"   Data: {data.source}",
        "",
        f" {'AIC':>10} {'BIC':>10} {'logLik':>10} {'deviance':>10} {'df.resid':>9}",
        f" {criteria['AIC']:>10.1f} {criteria['BIC']:>10.1f} {criteria['loglik']:>10.1f} "
        f"{criteria['deviance']:>10.1f} {criteria['df_resid']:>9d}",
        "",
        "Random effects:",
        f" {'Groups':<10} {'Name':<12} {'Variance':>10} {'Std.Dev.':>10}"
        + (f" {'Corr':>6}" if len(random_rows) > 1 else ""),
    ]
    for index, (name, variance, sd, corr) in enumerate(random_rows):
        group = data.group_name if index == 0 else ""
        lines.append(
            f" {group:<10} {name:<12} {variance:>10.4f} {sd:>10.4f}"
            + (f" {corr:>6.2f}" if corr is not None else "")
        )
    lines.append(f"Number of obs: {data.n_obs}, groups:  {data.group_name}, {len(data.clusters)}")
    if data.dropped_rows:
        lines.append(f"({data.dropped_rows} rows with missing values dropped)")
    lines += [
        "",
        "Fixed effects:",
        f" {'':<12} {'Estimate':>10} {'Std. Error':>10} {'z value':>8} {'Pr(>|z|)':>9}",
    ]
    for name, value, se in fixed:
        p = 2 * stats.norm.sf(abs(value / se))
        lines.append(f" {name:<12} {value:>10.4f} {se:>10.4f} {value / se:>8.2f} {p_value(p):>9} {stars(p)}")
    return lines


def _glmm_summary(fit: RatesFit) -> str:
    glmm = fit.glmm
    assert glmm is not None
    how = (
        "Laplace Approximation"
        if glmm.nagq == 1
        else f"Adaptive Gauss-Hermite Quadrature, nAGQ = {glmm.nagq}"
    )
    lines = glmer_text(
        how=how,
        family=glmm.family,
        formula_text=formula(fit),
        data=fit.data,
        criteria=_glmm_numbers(fit),
        random_rows=[("(Intercept)", glmm.theta**2, glmm.theta, None)],
        fixed=[
            ("(Intercept)" if name == "Intercept" else name, value, fit.estimates.std_errors[name])
            for name, value in fit.estimates.fixed_effects.items()
        ],
    )
    if glmm.nagq > 1:
        lines += [
            "",
            f"logLik as glmer prints it at nAGQ > 1 (from the saturated model); the full one is {glmm.loglik:.4f}",
        ]
    return "\n".join(lines)


def _meta_summary(fit: RatesFit) -> str:
    meta, data = fit.meta, fit.data
    assert meta is not None
    z = meta.mu / meta.se_mu
    p = 2 * stats.norm.sf(abs(z))
    half = 1.959963984540054 * meta.se_mu
    return "\n".join(
        [
            f"Random-Effects Model (k = {len(fit.clusters)}; tau^2 estimator: {meta.method}), known SEs",
            f"Formula: {formula(fit)}",
            f"   Data: {data.source}",
            "",
            f"logLik: {meta.loglik:.4f}",
            f"tau^2 (estimated amount of total heterogeneity): {meta.tau2:.4f} (SE = {meta.se_tau2:.4f})",
            f"tau (square root of estimated tau^2 value):      {meta.tau:.4f}",
            f"I^2 (total heterogeneity / total variability):   {meta.i_squared:.2f}%",
            f"Test for Heterogeneity: Q(df = {len(fit.clusters) - 1}) = {meta.q_statistic:.4f}",
            "",
            "Model Results:",
            f" {'estimate':>10} {'se':>10} {'zval':>8} {'pval':>9} {'ci.lb':>10} {'ci.ub':>10}",
            f" {meta.mu:>10.4f} {meta.se_mu:>10.4f} {z:>8.4f} {p_value(p):>9} {meta.mu - half:>10.4f} "
            f"{meta.mu + half:>10.4f} {stars(p)}",
            "",
            "Each estimate moves toward the pooled mean by 1 − λ_j, λ_j = τ² / (τ² + σ_j²).",
        ]
    )


def fit_json(fit: RatesFit, seconds: float) -> dict[str, Any]:
    """The one JSON object `shrinkvis fit --json` prints for a rates or known-SE model."""
    data, estimates = fit.data, fit.estimates
    result: dict[str, Any] = {
        "n_obs": data.n_obs,
        "n_groups": len(fit.clusters),
        "formula": formula(fit),
        "family": "gaussian (known SEs)" if fit.meta is not None else fit.kind,
        "link": LINKS.get(fit.kind, "identity"),
        "method": estimates.method,
        "engine": estimates.engine,
        "fixed_effects": estimates.fixed_effects,
        "std_errors": estimates.std_errors,
        "converged": estimates.converged,
        "is_singular": estimates.is_singular,
        "warnings": [*fit.warnings, *fit.ml_warnings],
        "dropped_rows": data.dropped_rows,
        "seconds": round(seconds, 4),
    }
    if fit.glmm is not None:
        glmm = fit.glmm
        result.update(
            nAGQ=glmm.nagq,
            random_effects={"group": data.group_name, "sd": {"(Intercept)": glmm.theta}},
            loglik=glmm.lme4_loglik,
            full_loglik=glmm.loglik,
            **{key: value for key, value in _glmm_numbers(fit).items() if key != "loglik"},
        )
    if fit.meta is not None:
        meta = fit.meta
        result.update(
            random_effects={"group": data.group_name, "sd": {"(Intercept)": meta.tau}},
            tau2=meta.tau2,
            se_tau2=meta.se_tau2,
            loglik=meta.loglik,
            i_squared=meta.i_squared,
            q_statistic=meta.q_statistic,
        )
    if fit.posterior is not None:
        posterior = fit.posterior
        result["bayes"] = {
            "intercept_mean": posterior.intercept_mean,
            "intercept_sd": posterior.intercept_sd,
            "sd_mean": posterior.tau_mean,
            "sd_sd": posterior.tau_sd,
            "sd_quantiles": list(posterior.tau_quantiles),
        }
    result["clusters"] = [
        {"cluster": str(row.cluster), "own": float(row.own), "partial": float(row.partial)}
        for row in fit.clusters.itertuples()
    ]
    return json_ready(result)
