"""The numbers behind the picture, as text: an lme4-like summary and the `shrinkvis fit --json` object."""

from __future__ import annotations

from typing import Any

import numpy as np

from .data import ModelData
from .fit import Estimates
from .outputs import json_ready


def formula(data: ModelData, random: str) -> str:
    """The model in lme4's notation, with the file's column names."""
    if data.x_name is None:
        return f"{data.y_name} ~ 1 + (1 | {data.group_name})"
    term = data.x_name if random == "slope" else "1"
    return f"{data.y_name} ~ {data.x_name} + ({term} | {data.group_name})"


def fit_json(estimates: Estimates, data: ModelData, seconds: float) -> dict[str, Any]:
    """The one JSON object `shrinkvis fit --json` prints."""
    criterion_key = "reml_criterion" if estimates.method == "REML" else "ml_deviance"
    return json_ready(
        {
            "n_obs": estimates.n_obs,
            "n_groups": estimates.n_groups,
            "formula": formula(data, estimates.random),
            "method": estimates.method,
            "engine": estimates.engine,
            "fixed_effects": estimates.fixed_effects,
            "std_errors": estimates.std_errors,
            "sd_intercept": estimates.sd_intercept,
            "sd_slope": estimates.sd_slope if estimates.random == "slope" else None,
            "corr": estimates.corr if estimates.random == "slope" else None,
            "residual_sd": estimates.residual_sd,
            criterion_key: estimates.criterion,
            "is_singular": estimates.is_singular,
            "converged": estimates.converged,
            "dropped_rows": data.dropped_rows,
            "seconds": round(seconds, 4),
        }
    )


def lme4_summary(estimates: Estimates, data: ModelData) -> str:
    """A text summary laid out like lme4's `summary(lmer(...))`."""
    method = "REML" if estimates.method == "REML" else "maximum likelihood"
    criterion_name = "REML criterion at convergence" if estimates.method == "REML" else "deviance"
    lines = [
        f"Linear mixed model fit by {method} ['{estimates.engine}' engine]",
        f"Formula: {formula(data, estimates.random)}",
        f"   Data: {data.source}",
        "",
        f"{criterion_name}: {estimates.criterion:.4f}",
        "",
        "Random effects:",
        f" {'Groups':<10} {'Name':<12} {'Variance':>10} {'Std.Dev.':>10} {'Corr':>6}",
    ]
    names = ["(Intercept)"] + ([data.x_name or "x"] if estimates.random == "slope" else [])
    for index, name in enumerate(names):
        group = data.group_name if index == 0 else ""
        variance = float(estimates.cov_re[index, index])
        corr = f"{estimates.corr:6.2f}" if index == 1 and estimates.corr is not None else ""
        lines.append(f" {group:<10} {name:<12} {variance:>10.4f} {np.sqrt(variance):>10.4f} {corr:>6}")
    lines.append(
        f" {'Residual':<10} {'':<12} {estimates.residual_sd**2:>10.4f} {estimates.residual_sd:>10.4f}"
    )
    lines.append(f"Number of obs: {estimates.n_obs}, groups:  {data.group_name}, {estimates.n_groups}")
    if data.dropped_rows:
        lines.append(f"({data.dropped_rows} rows with missing values dropped)")
    lines += ["", "Fixed effects:", f" {'':<12} {'Estimate':>10} {'Std. Error':>10} {'t value':>8}"]
    for name, value in estimates.fixed_effects.items():
        se = estimates.std_errors[name]
        label = "(Intercept)" if name == "Intercept" else name
        lines.append(f" {label:<12} {value:>10.4f} {se:>10.4f} {value / se:>8.2f}")
    if estimates.warnings:
        lines.append("")
        lines += [f"warning: {warning}" for warning in estimates.warnings]
    return "\n".join(lines)
