"""Binomial and Poisson models with a random slope, `cbind(r, n - r) ~ x + (x | g)`: fitted by the Laplace
approximation (shrinkvis.fit.glmm_slopes) for `shrinkvis fit` and `shrinkvis explain`. The pictures show
random intercepts only, so `run` refuses these models in one line.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..errors import UserError
from ..fit.glmm_slopes import SlopeFit, SlopeRows, fit_glmm_slopes
from ..outputs import json_ready
from ..scenario import Scenario
from .data import RateData, rate_data

NOT_DRAWN = (
    "binomial and Poisson random slopes are fitted by `shrinkvis fit` and `shrinkvis explain`; the "
    "pictures show random intercepts only: use model.random: intercept, or (1 | group) in the formula"
)


@dataclass(frozen=True)
class SlopesResult:
    data: RateData
    fit: SlopeFit

    @property
    def names(self) -> list[str]:
        return ["(Intercept)", self.data.x_name or "x"]

    @property
    def warnings(self) -> list[str]:
        words = []
        if not self.fit.converged:
            words.append(f"the {self.fit.family} fit did not converge: do not trust its numbers")
        if self.fit.is_singular:
            words.append(
                "singular fit: the random effects' covariance is on its boundary (an SD of 0 or a "
                "correlation of ±1)"
            )
        return words


def refuse_run() -> None:
    raise UserError(NOT_DRAWN)


def fit_slopes(scenario: Scenario) -> SlopesResult:
    data = rate_data(scenario)
    rows = data.rows
    assert rows is not None and data.x_name is not None  # the scenario's checks ask for a predictor
    y = rows["y"].to_numpy(dtype=float)
    size = rows["size"].to_numpy(dtype=float)
    design = np.column_stack([np.ones(len(rows)), rows["x"].to_numpy(dtype=float)])
    slope_rows = SlopeRows(
        y=y,
        n=size if data.kind == "binomial" else np.ones_like(y),
        offset=np.zeros_like(y) if data.kind == "binomial" else np.log(size),
        design=design,
        random_design=design,
        codes=rows["codes"].to_numpy(),
        n_groups=len(data.clusters),
    )
    return SlopesResult(data, fit_glmm_slopes(data.kind, slope_rows, nagq=scenario.model.nagq))


def formula(result: SlopesResult) -> str:
    data = result.data
    x = data.x_name
    if data.kind == "binomial":
        left = f"cbind({data.y_name}, {data.size_name} - {data.y_name})" if data.size_name else data.y_name
        return f"{left} ~ 1 + {x} + ({x} | {data.group_name})"
    offset = f" + offset(log({data.size_name}))" if data.size_name else ""
    return f"{data.y_name} ~ 1 + {x}{offset} + ({x} | {data.group_name})"


def _criteria(result: SlopesResult) -> dict[str, Any]:
    fit, n_obs = result.fit, result.data.n_obs
    n_params = len(fit.fixed_effects) + len(fit.theta)
    return {
        "AIC": -2 * fit.loglik + 2 * n_params,
        "BIC": -2 * fit.loglik + n_params * np.log(n_obs),
        "deviance": -2 * fit.loglik,
        "df_resid": n_obs - n_params,
    }


def summary_text(result: SlopesResult) -> str:
    """glmer's printed summary."""
    from .summary import glmer_text  # summary.py imports this module on demand

    fit = result.fit
    names = result.names
    variances = np.diag(fit.cov_re)
    lines = glmer_text(
        how="Laplace Approximation",
        family=fit.family,
        formula_text=formula(result),
        data=result.data,
        criteria={**_criteria(result), "loglik": fit.loglik},
        random_rows=[
            (names[0], variances[0], fit.sds[0], None),
            (names[1], variances[1], fit.sds[1], fit.corr),
        ],
        fixed=list(zip(names, fit.fixed_effects, np.sqrt(np.diag(fit.fixed_cov)), strict=True)),
    )
    return "\n".join(lines + [f"warning: {warning}" for warning in result.warnings])


def cluster_table(result: SlopesResult) -> pd.DataFrame:
    """Per cluster: the conditional modes (ranef), their conditional SDs and correlation, and the
    cluster's coefficients (coef) on the link scale."""
    fit, data = result.fit, result.data
    sd = np.sqrt(np.stack([fit.cond_cov[:, 0, 0], fit.cond_cov[:, 1, 1]], axis=1))
    return pd.DataFrame(
        {
            "cluster": data.clusters["cluster"].to_numpy(),
            "n_rows": data.clusters["n_rows"].to_numpy(),
            "mode_intercept": fit.modes[:, 0],
            "mode_slope": fit.modes[:, 1],
            "mode_intercept_sd": sd[:, 0],
            "mode_slope_sd": sd[:, 1],
            "mode_corr": fit.cond_cov[:, 0, 1] / (sd[:, 0] * sd[:, 1]),
            "coef_intercept": fit.fixed_effects[0] + fit.modes[:, 0],
            "coef_slope": fit.fixed_effects[1] + fit.modes[:, 1],
        }
    )


def summary_json(result: SlopesResult, seconds: float) -> dict[str, Any]:
    fit, data = result.fit, result.data
    names = result.names
    keys = ["Intercept", names[1]]
    return json_ready(
        {
            "n_obs": data.n_obs,
            "n_groups": len(data.clusters),
            "formula": formula(result),
            "family": fit.family,
            "link": "logit" if fit.family == "binomial" else "log",
            "method": "ML",
            "engine": "exact",
            "nAGQ": 1,
            "fixed_effects": dict(zip(keys, map(float, fit.fixed_effects), strict=True)),
            "std_errors": dict(zip(keys, map(float, np.sqrt(np.diag(fit.fixed_cov))), strict=True)),
            "random_effects": {
                "group": data.group_name,
                "sd": dict(zip(names, map(float, fit.sds), strict=True)),
                "cor": fit.corr,
            },
            "theta": list(fit.theta),
            "loglik": fit.loglik,
            **_criteria(result),
            "converged": fit.converged,
            "is_singular": fit.is_singular,
            "warnings": result.warnings,
            "dropped_rows": data.dropped_rows,
            "seconds": round(seconds, 4),
            "clusters": cluster_table(result).to_dict(orient="records"),
        }
    )


def explain_text(result: SlopesResult) -> str:
    """`shrinkvis explain`: the summary and each cluster's conditional modes."""
    table = cluster_table(result)
    x = result.data.x_name
    lines = [
        summary_text(result),
        "",
        f"Conditional modes (ranef) and coefficients (coef) per {result.data.group_name}, link scale:",
        "",
        f"| {result.data.group_name} | rows | b̂ intercept (SD) | b̂ {x} (SD) | intercept | {x} |",
        "|---|---|---|---|---|---|",
    ]
    for row in table.itertuples():
        lines.append(
            f"| {row.cluster} | {row.n_rows} | {row.mode_intercept:.4g} ({row.mode_intercept_sd:.3g}) | "
            f"{row.mode_slope:.4g} ({row.mode_slope_sd:.3g}) | {row.coef_intercept:.4g} | {row.coef_slope:.4g} |"
        )
    return "\n".join(lines)
