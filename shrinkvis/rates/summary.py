"""`shrinkvis fit` and `shrinkvis explain` for binomial, Poisson and known-SE models: the fit laid out as
R prints it (glmer's `summary`, metafor's `rma`), the one JSON object of `fit --json`, and the report
`explain` prints (report.md's text, without rendering anything).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import stats

from ..outputs import json_ready
from ..scenario import Scenario
from .data import rate_data
from .fit import RatesFit, fit_rates
from .pipeline import formula, markdown

LINKS = {"binomial": "logit", "poisson": "log"}


def fit_scenario(scenario: Scenario) -> RatesFit:
    """Data → fit of a rates scenario, nothing drawn."""
    return fit_rates(rate_data(scenario), scenario)


def explain_text(scenario: Scenario) -> str:
    """What `shrinkvis explain` prints for a rates scenario: the text of its report.md."""
    return markdown(fit_scenario(scenario), scenario)


def _stars(p: float) -> str:
    for limit, mark in ((0.001, "***"), (0.01, "**"), (0.05, "*"), (0.1, ".")):
        if p < limit:
            return mark
    return ""


def _p_value(p: float) -> str:
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


def _glmm_summary(fit: RatesFit) -> str:
    glmm, data = fit.glmm, fit.data
    assert glmm is not None
    how = (
        "Laplace Approximation"
        if glmm.nagq == 1
        else f"Adaptive Gauss-Hermite Quadrature, nAGQ = {glmm.nagq}"
    )
    numbers = _glmm_numbers(fit)
    lines = [
        f"Generalized linear mixed model fit by maximum likelihood ({how}) ['exact' engine]",
        f" Family: {glmm.family}  ( {LINKS[glmm.family]} )",
        f"Formula: {formula(fit)}",
        f"   Data: {data.source}",
        "",
        f" {'AIC':>10} {'BIC':>10} {'logLik':>10} {'deviance':>10} {'df.resid':>9}",
        f" {numbers['AIC']:>10.1f} {numbers['BIC']:>10.1f} {numbers['loglik']:>10.1f} "
        f"{numbers['deviance']:>10.1f} {numbers['df_resid']:>9d}",
        "",
        "Random effects:",
        f" {'Groups':<10} {'Name':<12} {'Variance':>10} {'Std.Dev.':>10}",
        f" {data.group_name:<10} {'(Intercept)':<12} {glmm.theta**2:>10.4f} {glmm.theta:>10.4f}",
        f"Number of obs: {data.n_obs}, groups:  {data.group_name}, {len(fit.clusters)}",
    ]
    if data.dropped_rows:
        lines.append(f"({data.dropped_rows} rows with missing values dropped)")
    lines += [
        "",
        "Fixed effects:",
        f" {'':<12} {'Estimate':>10} {'Std. Error':>10} {'z value':>8} {'Pr(>|z|)':>9}",
    ]
    for name, value in fit.estimates.fixed_effects.items():
        se = fit.estimates.std_errors[name]
        p = 2 * stats.norm.sf(abs(value / se))
        label = "(Intercept)" if name == "Intercept" else name
        lines.append(
            f" {label:<12} {value:>10.4f} {se:>10.4f} {value / se:>8.2f} {_p_value(p):>9} {_stars(p)}"
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
            f" {meta.mu:>10.4f} {meta.se_mu:>10.4f} {z:>8.4f} {_p_value(p):>9} {meta.mu - half:>10.4f} "
            f"{meta.mu + half:>10.4f} {_stars(p)}",
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
