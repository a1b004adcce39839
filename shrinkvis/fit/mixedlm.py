"""The statsmodels MixedLM engine.

MixedLM's default optimizer chain fails on ordinary data (1,000 clusters × 10 rows: not converged,
variances off by a factor of two after 17–28 s), while L-BFGS alone converged in 1.7 s. So L-BFGS goes
first, and only a fit that did not converge tries the slower derivative-free methods.

MixedLM sees y and x measured from the same global centres as the exact engine (centring.py), and its
result is checked against the exact engine, which can evaluate lme4's criterion at any θ: MixedLM's own
`converged` flag says only that its optimiser stopped, and it stops short of the optimum on real data
(Loblolly: +1.01 in the REML criterion). A fit whose criterion at MixedLM's θ lies more than
`OPTIMUM_GAP_TOLERANCE` above the exact optimum is reported as not converged, with the gap. The
fixed-effect SEs are lme4's `vcov` at MixedLM's θ, σ²(X'V⁻¹X)⁻¹ conditional on θ, from the exact
engine's pieces — MixedLM's own come from the Hessian of the full likelihood, which also counts the
uncertainty of the variance parameters, and differ from lme4's (by 13 % on one data set).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from ..errors import FitError
from .centring import uncentre_cov, uncentre_effects, uncentre_fixed
from .estimates import OPTIMUM_GAP_TOLERANCE, EngineFit, ModelRows, relative_factor
from .profiled import ClusterStats, fit_at, fit_profiled

OPTIMIZERS = (["lbfgs"], ["powell"], ["nm"])


def fit_with_fallbacks(model: Any, method: str, **options: Any) -> Any:
    """MixedLM's fit by the first of `OPTIMIZERS` that converges (else the first one that ended at a finite
    log-likelihood); convergence is judged afterwards against the exact optimum, so warnings are silenced."""
    result, last_error = None, None
    for optimizer in OPTIMIZERS:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                attempt = model.fit(reml=method == "REML", method=optimizer, **options)
            except (np.linalg.LinAlgError, ValueError) as exc:
                last_error = exc
                continue
        if not np.isfinite(attempt.llf):
            # L-BFGS can stop on the boundary with a log-likelihood of −inf and still call it converged
            last_error = ValueError(f"{optimizer[0]} ended at a log-likelihood of {attempt.llf}")
            continue
        if result is None or attempt.converged:
            result = attempt
        if attempt.converged:
            break
    if result is None:
        raise FitError(f"statsmodels MixedLM could not fit the model: {last_error}")
    return result


def fit_mixedlm(rows: ModelRows, stats: ClusterStats, random: str, method: str) -> EngineFit:
    from statsmodels.regression.mixed_linear_model import MixedLM  # heavy: imported only when used

    codes, n_groups = rows.codes, rows.n_groups
    centre_x, centre_y = stats.centre_x, stats.centre_y
    y = rows.y - centre_y
    x = None if rows.x is None else rows.x - centre_x
    ones = np.ones((len(y), 1))
    exog = ones if x is None else np.column_stack([ones, x])
    exog_re = exog if random == "slope" else ones
    model = MixedLM(y, exog, groups=codes, exog_re=exog_re)
    result = fit_with_fallbacks(model, method)

    q = exog_re.shape[1]
    cov_re = np.asarray(result.cov_re, dtype=float).reshape(q, q)
    sigma = float(np.sqrt(result.scale))
    theta = relative_factor(cov_re, sigma)[np.tril_indices(q)]
    # lme4's criterion and vcov at MixedLM's θ, and the optimum itself, by the exact engine
    at_theta = fit_at(stats, random, theta, method, origin=centre_x)  # type: ignore[arg-type]
    optimum = fit_profiled(stats, random, method)  # type: ignore[arg-type]
    gap = max(at_theta.criterion - optimum.criterion, 0.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            effects = result.random_effects
            effects_cov = result.random_effects_cov
        except (np.linalg.LinAlgError, ValueError) as exc:
            raise FitError(f"statsmodels MixedLM could not predict the random effects: {exc}") from None
    blup = np.array([np.asarray(effects[j], dtype=float) for j in range(n_groups)]).reshape(n_groups, q)
    blup_cov = np.array([np.asarray(effects_cov[j], dtype=float) for j in range(n_groups)]).reshape(
        n_groups, q, q
    )
    fixed_effects, _ = uncentre_fixed(
        np.asarray(result.fe_params, dtype=float), at_theta.fixed_cov, centre_y, centre_x
    )
    return EngineFit(
        fixed_effects=fixed_effects,
        fixed_cov=at_theta.fixed_cov,
        cov_re=uncentre_cov(cov_re, centre_x),
        sigma=sigma,
        blup=uncentre_effects(blup, centre_x),
        blup_cov=uncentre_cov(blup_cov, centre_x),
        criterion=float(-2.0 * result.llf),
        method=method,
        converged=bool(result.converged) and gap <= OPTIMUM_GAP_TOLERANCE,
        is_singular=at_theta.is_singular,
        theta=at_theta.theta,
        gradient_norm=at_theta.gradient_norm,
        optimum_gap=gap,
        optimum_is_singular=optimum.is_singular,
    )
