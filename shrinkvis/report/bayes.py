"""The Bayesian engine's part of the report: a brms-like summary and the REML-vs-Bayes comparison."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from ..fit.lmm_bayes import brms_name

if TYPE_CHECKING:
    from rich.table import Table

    from ..data import ModelData
    from ..fit import Estimates
    from ..fit.bayes import BayesFit
    from ..fit.model_fit import ModelFit


def _f(value: float | None, digits: int = 2) -> str:
    return "" if value is None or not math.isfinite(value) else f"{value:.{digits}f}"


#: brms's summary columns, and the posterior field each shows
SUMMARY_COLUMNS = (
    ("Estimate", "mean"),
    ("Est.Error", "sd"),
    ("l-95% CI", "q2.5"),
    ("u-95% CI", "q97.5"),
    ("Rhat", "rhat"),
    ("Bulk_ESS", "ess_bulk"),
    ("Tail_ESS", "ess_tail"),
)


def _cell(key: str, value: float) -> str:
    if key.startswith("ess"):
        return f"{value:.0f}" if math.isfinite(value) else "NA"
    return _f(value) or "NA"


def brms_summary(estimates: Estimates, data: ModelData, formula: str) -> str:
    """The posterior laid out like brms's ``summary(brm(...))``, and the priors like ``prior_summary``."""
    bayes = estimates.bayes
    assert bayes is not None
    roles = bayes.names()
    x = data.x_name or "x"
    group_rows = [("sd(Intercept)", roles["sd_intercept"])]
    if "sd_slope" in roles:
        group_rows.append((f"sd({x})", roles["sd_slope"]))
    if "corr" in roles:
        group_rows.append((f"cor(Intercept,{x})", roles["corr"]))
    fixed_rows = [
        (label, roles[role]) for label, role in (("Intercept", "intercept"), (x, "slope")) if role in roles
    ]
    return _brms_text(
        bayes.posterior,
        (group_rows, fixed_rows),
        formula=formula,
        data=f"{data.source} (Number of observations: {estimates.n_obs})",
        draws=(bayes.chains, bayes.draws, bayes.acceptance),
        converged=bayes.converged,
        group=f"~{data.group_name} (Number of levels: {estimates.n_groups})",
        priors=bayes.prior_summary,
    )


def _brms_text(
    posterior: dict[str, dict[str, float]],
    rows: tuple[list[tuple[str, str]], list[tuple[str, str]]],
    *,
    formula: str,
    data: str,
    draws: tuple[int, int, float],
    converged: bool,
    group: str,
    priors: list[dict[str, str]],
) -> str:
    """brms's summary of the parameters in ``rows`` (group-level, population-level; each a label and the
    parameter's name), then sigma and the priors. Every block shares one set of column widths, wide enough
    for the longest label and number, so that the columns line up whatever the names or the data's scale."""
    blocks = [*rows, [("sigma", "sigma")]]
    cells = {
        label: [_cell(key, posterior[name][key]) for _, key in SUMMARY_COLUMNS]
        for block in blocks
        for label, name in block
    }
    label_width = max(len(label) for label in cells)
    widths = [
        max(len(heading), *(len(row[i]) for row in cells.values()))
        for i, (heading, _) in enumerate(SUMMARY_COLUMNS)
    ]
    heading = " ".join(
        [" " * label_width]
        + [name.rjust(width) for (name, _), width in zip(SUMMARY_COLUMNS, widths, strict=True)]
    )

    def table(block: list[tuple[str, str]]) -> list[str]:
        lines = [
            " ".join(
                [label.ljust(label_width)] + [c.rjust(w) for c, w in zip(cells[label], widths, strict=True)]
            )
            for label, _ in block
        ]
        return [heading, *lines]

    chains, per_chain, acceptance = draws
    lines = [
        " Family: gaussian",
        "  Links: mu = identity; sigma = identity",
        f"Formula: {formula}",
        f"   Data: {data}",
        f"  Draws: {chains} chains, each with {per_chain} kept draws;",
        f"         total draws = {chains * per_chain} ['bayes' engine, acceptance {acceptance:.0%}]",
    ]
    if not converged:
        lines += ["", "NOT CONVERGED: these summaries cannot be vouched for (see the warning below)."]
    lines += ["", "Group-Level Effects:", group, *table(blocks[0])]
    lines += ["", "Population-Level Effects:", *table(blocks[1])]
    lines += ["", "Family Specific Parameters:", *table(blocks[2]), "", "Priors:"]
    keys = ("prior", "class", "coef", "group")
    prior_widths = [max(len(key), *(len(prior[key]) for prior in priors)) for key in keys]
    for prior in [dict(zip(keys, keys, strict=True)), *priors]:
        lines.append(" ".join(prior[key].rjust(width) for key, width in zip(keys, prior_widths, strict=True)))
    return "\n".join(lines)


def _reml_vs_bayes_rows(bayes: BayesFit, x_name: str | None) -> list[list[str]]:
    reml = bayes.reml
    roles = bayes.names()
    rows = []
    labels = [
        (
            "intercept",
            "(Intercept)",
            reml["fixed_effects"].get("Intercept"),
            reml["std_errors"].get("Intercept"),
        ),
        (
            "slope",
            x_name or "x",
            reml["fixed_effects"].get(x_name or "x"),
            reml["std_errors"].get(x_name or "x"),
        ),
        ("sd_intercept", "SD of intercepts", reml["sd_intercept"], None),
        ("sd_slope", f"SD of slopes of {x_name}", reml["sd_slope"], None),
        ("corr", "correlation", reml["corr"], None),
        ("sigma", "residual SD σ", reml["residual_sd"], None),
    ]
    for role, label, value, se in labels:
        if role not in roles:
            continue
        post = bayes.posterior[roles[role]]
        reml_text = "—" if value is None else f"{value:.4f}" + (f" ({se:.4f})" if se is not None else "")
        rows.append(
            [
                label,
                reml_text,
                f"{post['mean']:.4f} ({post['sd']:.4f})",
                f"[{post['q2.5']:.4f}, {post['q97.5']:.4f}]",
                f"{post['rhat']:.3f}",
                _cell("ess_bulk", post["ess_bulk"]),
                _cell("ess_tail", post["ess_tail"]),
            ]
        )
    return rows


def interval_sentences(estimates: Estimates, x_name: str | None) -> list[str]:
    """How many clusters' REML intervals (± 1.96 conditional SE) are narrower than the Bayesian 95 %
    credible intervals, and by how much."""
    table = estimates.clusters
    sentences = []
    coefficients = [("intercept", "intercept")] + (
        [("slope", f"slope of {x_name}")] if estimates.random == "slope" else []
    )
    for column, words in coefficients:
        reml = 2 * 1.959964 * table[f"partial_{column}_se"].to_numpy(dtype=float)
        bayes = (table[f"bayes_{column}_hi"] - table[f"bayes_{column}_lo"]).to_numpy(dtype=float)
        ok = np.isfinite(reml) & np.isfinite(bayes) & (bayes > 0)
        if not ok.any():
            continue
        narrower = int((reml[ok] < bayes[ok]).sum())
        ratio = reml[ok] / bayes[ok]
        sentences.append(
            f"Per-cluster {words}: {narrower} of {int(ok.sum())} clusters have a narrower interval under REML "
            f"(estimate ± 1.96 conditional SE) than under Bayes (95 % credible interval); the REML interval is "
            f"{np.median(ratio):.0%} of the Bayesian width at the median (from {ratio.min():.0%} to {ratio.max():.0%})."
        )
    if sentences and estimates.formula is not None:
        sentences.append(
            "The Bayesian interval is that of the cluster's coefficient (its fixed effect plus its random effect; "
            "with a cluster-level predictor such as log(n), the intercept less that term at the REML estimate, as "
            "drawn), so it also carries the fixed effect's uncertainty, which REML's conditional SE leaves out."
        )
    return sentences


COMPARISON_HEADINGS = [
    "parameter",
    "REML (SE)",
    "Bayes: posterior mean (SD)",
    "95 % credible interval",
    "R-hat",
    "bulk ESS",
    "tail ESS",
]


def comparison_table(estimates: Estimates, x_name: str | None) -> Table:
    """The REML-vs-Bayes comparison as a rich table (`shrinkvis explain`), with the interval sentences."""
    from rich.table import Table

    bayes = estimates.bayes
    assert bayes is not None
    caption = " ".join(interval_sentences(estimates, x_name))
    table = Table(title="REML and Bayes", title_justify="left", caption=caption, caption_justify="left")
    for heading in COMPARISON_HEADINGS:
        table.add_column(heading, justify="left" if heading == "parameter" else "right")
    for row in _reml_vs_bayes_rows(bayes, x_name):
        table.add_row(*row)
    return table


def comparison_markdown(estimates: Estimates, x_name: str | None) -> list[str]:
    """report.md's section comparing the REML fit with the posterior."""
    bayes = estimates.bayes
    assert bayes is not None
    headings = COMPARISON_HEADINGS
    lines = ["", "## REML and Bayes", ""]
    lines.append(
        "REML estimates the variance parameters and then treats them as known; the Bayesian fit (brms's default "
        "priors, listed below) averages over their uncertainty, so its intervals are wider where the data say "
        "little about the variances — most visibly when REML puts a variance on the boundary (a singular fit)."
    )
    if not bayes.converged:
        lines += [
            "",
            "**Not converged**: the chains fail brms's diagnostics (R-hat above 1.01 or an ESS below 400); "
            "the Bayesian numbers below cannot be vouched for. "
            + " ".join(w for w in estimates.warnings if "did not converge" in w),
        ]
    lines += ["", "| " + " | ".join(headings) + " |", "|" + "|".join("---" for _ in headings) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in _reml_vs_bayes_rows(bayes, x_name)]
    lines.append("")
    lines += [f"- {sentence}" for sentence in interval_sentences(estimates, x_name)]
    lines.append(
        f"- Sampler: {bayes.chains} independent chains × {bayes.draws} draws of the variance parameters "
        f"(independence Metropolis-Hastings, acceptance {bayes.acceptance:.0%}); fixed and cluster effects from "
        f"their exact conditional Gaussians; per-cluster intervals from {bayes.quantile_draws} draws."
    )
    lines += ["", "Priors (as brms's `prior_summary` lists them):", ""]
    lines += ["| prior | class | coef | group |", "|---|---|---|---|"]
    lines += [f"| {p['prior']} | {p['class']} | {p['coef']} | {p['group']} |" for p in bayes.prior_summary]
    return lines


def class_summary(model: ModelFit, source: str) -> str:
    """A model of the whole class under `--engine bayes`: brms's ``summary`` of every parameter (group-level
    SDs and correlations within each bar, population-level effects, sigma) and its ``prior_summary``."""
    posterior = model.posterior
    assert posterior is not None
    names = posterior.random_names
    group_rows = [(f"sd({brms_name(name)})", posterior.sd_name(name)) for name in names]
    start = 0
    for size in model.mixed.blocks:
        for b in range(start, start + size):
            for a in range(start, b):
                label = f"cor({brms_name(names[a])},{brms_name(names[b])})"
                group_rows.append((label, posterior.cor_name(names[a], names[b])))
        start += size
    fixed_rows = [(brms_name(name), posterior.fixed_name(name)) for name in model.mixed.fixed_names]
    return _brms_text(
        posterior.posterior,
        (group_rows, fixed_rows),
        formula=model.design_formula,
        data=f"{source} (Number of observations: {model.mixed.n_obs})",
        draws=(posterior.chains, posterior.draws, posterior.acceptance),
        converged=posterior.converged,
        group=f"~{model.group} (Number of levels: {len(model.mixed.labels)})",
        priors=posterior.prior_summary,
    )
