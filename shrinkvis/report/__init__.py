"""The numbers behind the picture, as text: an lme4-like summary, the `shrinkvis fit --json` object, and
the report of a run (report.md, the same numbers in summary.json, rich tables for `shrinkvis explain`).
"""

from __future__ import annotations

import html
import math
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ..data import ModelData
from ..fit import Estimates
from ..fit.scores import CLEAR_LOSS, OWN, POOLED, GroupScore, TruthScore
from ..fit.shrinkage import PoolingRow, blup_identity_error, pooling_comparison, shrinkage_table
from ..outputs import json_ready

if TYPE_CHECKING:
    from rich.console import Console

    from ..fit.model_fit import ModelFit

POOLING_NAMES = {
    "complete_pooling": "complete pooling",
    "no_pooling": "no pooling",
    "partial_pooling": "partial pooling",
}
PLOT_FILE = "shrinkage_by_size.png"
RULE_COLUMNS = 80  # the report's heading rule where the output is not a terminal
NO_TRUTH = "no truth: this is your own data"
TERMINAL_CLUSTERS = 20  # rows of the shrinkage table `shrinkvis explain` prints; report.md has them all
# above this many clusters report.md and summary.json list the extreme clusters, not all (estimates.csv has all)
LISTED_CLUSTERS = 1_000
EXTREMES = 10  # of each kind: most and least shrunk, smallest and largest
LISTED_SINGLES = 100


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
            "warnings": list(estimates.warnings),  # what stderr says, for a script that reads only the JSON
            "dropped_rows": data.dropped_rows,
            "seconds": round(seconds, 4),
            **(estimates.bayes.to_json() if estimates.bayes is not None else {}),
        }
    )


def lme4_summary(estimates: Estimates, data: ModelData, with_warnings: bool = True) -> str:
    """A text summary laid out like lme4's `summary(lmer(...))` (brms's `summary` for the Bayesian engine)."""
    if estimates.bayes is not None:
        from .bayes import brms_summary

        text = brms_summary(estimates, data, formula(data, estimates.random))
        return text + "".join(f"\nwarning: {w}" for w in estimates.warnings if with_warnings)
    method = "REML" if estimates.method == "REML" else "maximum likelihood"
    criterion_name = "REML criterion at convergence" if estimates.method == "REML" else "deviance"
    lines = [
        f"Linear mixed model fit by {method} ['{estimates.engine}' engine]",
        f"Formula: {estimates.formula or formula(data, estimates.random)}",
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
        if se == 0.0 and value == 0.0:
            continue  # a random effect shown on the plane that is not a fixed effect of the model
        label = "(Intercept)" if name == "Intercept" else name
        lines.append(f" {label:<12} {value:>10.4f} {se:>10.4f} {value / se:>8.2f}")
    if estimates.warnings and with_warnings:
        lines.append("")
        lines += [f"warning: {warning}" for warning in estimates.warnings]
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------------------
# The report of a run


@dataclass(frozen=True)
class Report:
    """Everything report.md, summary.json and `shrinkvis explain` say about one fit."""

    title: str
    data: ModelData
    estimates: Estimates
    pooling: list[PoolingRow]
    shrinkage: pd.DataFrame
    identity_error: float | None  # random-intercept models: max |BLUP − weighted average|; else None

    @property
    def formula(self) -> str:
        return self.estimates.formula or formula(self.data, self.estimates.random)

    @property
    def x_name(self) -> str | None:
        return self.data.x_name if len(self.estimates.fixed_effects) > 1 else None


def build(estimates: Estimates, data: ModelData, title: str) -> Report:
    return Report(
        title=title,
        data=data,
        estimates=estimates,
        pooling=pooling_comparison(estimates),
        shrinkage=shrinkage_table(estimates),
        identity_error=blup_identity_error(estimates),
    )


def numbers(report: Report) -> dict[str, Any]:
    """The report's numbers for summary.json (next to the fit's population numbers)."""
    data = report.data
    return json_ready(
        {
            "formula": report.formula,
            "data": {
                "source": data.source,
                "y": data.y_name,
                "x": report.x_name,
                "group": data.group_name,
                "rows_used": report.estimates.n_obs,
                "dropped_rows": data.dropped_rows,
                **_single_rows(data.single_row_clusters),
            },
            "pooling_comparison": [
                {
                    "coefficient": row.coefficient,
                    **{
                        kind: {"estimate": row.estimates[kind], "std_error": row.std_errors[kind]}
                        for kind in POOLING_NAMES
                    },
                }
                for row in report.pooling
            ],
            "blup_identity_error": report.identity_error,
            "shrinkage": listed_clusters(report)[0].to_dict(orient="records"),
            **_shrinkage_spread(report),
            "truth": truth_numbers(report.estimates.truth),
        }
    )


def truth_numbers(score: TruthScore | None) -> dict[str, Any]:
    """summary.json's `truth`: the scores against the truth, or a note that there is none."""
    if score is None:
        return {"known": False, "note": NO_TRUTH}
    return {
        **score.numbers(),
        "partial_pooling_loses": [
            {"group": group.label, "coefficient": coefficient}
            for coefficient in score.coefficients
            for group in score.losing_groups(coefficient, CLEAR_LOSS)
        ],
        "note": TRUTH_METHOD,
    }


def _single_rows(singles: list[str]) -> dict[str, Any]:
    if len(singles) <= LISTED_SINGLES:
        return {"single_row_clusters": singles}
    return {"single_row_clusters": singles[:LISTED_SINGLES], "single_row_cluster_count": len(singles)}


def listed_clusters(report: Report) -> tuple[pd.DataFrame, str | None]:
    """The clusters report.md and summary.json list: all of them, or past `LISTED_CLUSTERS` the extremes
    (most and least shrunk, smallest and largest) with a sentence saying so."""
    table = report.shrinkage
    if len(table) <= LISTED_CLUSTERS:
        return table, None
    shares = table["shrinkage"]
    picks = [
        shares.nlargest(EXTREMES).index,
        shares.nsmallest(EXTREMES).index,
        table["n"].nsmallest(EXTREMES).index,
        table["n"].nlargest(EXTREMES).index,
    ]
    index = pd.Index(np.concatenate([pick.to_numpy() for pick in picks])).unique()
    note = (
        f"{len(index)} of {len(table):,} clusters listed: the {EXTREMES} most and least shrunk, the {EXTREMES} "
        "smallest and largest; estimates.csv has every cluster"
    )
    return table.loc[index], note


def _shrinkage_spread(report: Report) -> dict[str, Any]:
    """Past `LISTED_CLUSTERS`: what the unlisted clusters' shrinkage looks like, in quantiles."""
    note = listed_clusters(report)[1]
    if note is None:
        return {}
    shares = report.shrinkage["shrinkage"].dropna()
    levels = (0.0, 0.1, 0.25, 0.5, 0.75, 0.9, 1.0)
    return {
        "shrinkage_listed": note,
        "shrinkage_quantiles": {f"{level:g}": float(shares.quantile(level)) for level in levels},
    }


def _num(value: float | None, digits: int = 4) -> str:
    if value is None or not math.isfinite(value):
        return "—"
    if value != 0 and (abs(value) >= 1e6 or abs(value) < 10 ** -(digits - 1)):
        return f"{value:.{digits}g}"
    return f"{value:.{digits}f}"


def _percent(value: float) -> str:
    return "—" if not math.isfinite(value) else f"{100 * value:.0f}%"


def _coefficient(name: str) -> str:
    return "(Intercept)" if name == "Intercept" else name


def data_sentence(report: Report) -> str:
    data, estimates = report.data, report.estimates
    sizes = estimates.clusters["n"]
    size_text = (
        f"{sizes.min()} rows each" if sizes.min() == sizes.max() else f"{sizes.min()} to {sizes.max()} rows"
    )
    dropped = (
        f"; {data.dropped_rows} row{'s' if data.dropped_rows != 1 else ''} with missing values dropped"
        if data.dropped_rows
        else ""
    )
    return (
        f"{data.source}: {estimates.n_obs} rows in {estimates.n_groups} clusters (column {data.group_name}), "
        f"{size_text}{dropped}."
    )


def single_row_sentence(report: Report) -> str:
    """Clusters with one row are kept; say so, and what they can and cannot tell."""
    singles = report.data.single_row_clusters
    if not singles:
        return ""
    one = len(singles) == 1
    listed = ", ".join(singles[:10]) + (f" and {len(singles) - 10} more" if len(singles) > 10 else "")
    what = f"{'it informs' if one else 'they inform'} the intercept and the between-cluster variance"
    if report.x_name is not None:
        what += (
            f", but {'has' if one else 'have'} no slope of {report.x_name} of {'its' if one else 'their'} own: "
            "no own estimate, and in the animation "
            f"{'it starts' if one else 'they start'} where the mixed model puts {'it' if one else 'them'}"
        )
    return f"{len(singles)} cluster{'' if one else 's'} with a single row ({listed}) kept: {what}."


def warning_paragraphs(report: Report) -> list[str]:
    paragraphs = []
    for warning in report.estimates.warnings:
        if warning.startswith("singular fit"):
            paragraphs.append(
                f"**Singular fit.** {_md(_sentence(warning.removeprefix('singular fit: ')))} The animation still moves every "
                "cluster to its partial-pooling estimate, but it looks more convincing than it is: do not read "
                "the clusters' precision from it."
            )
        elif "did not converge" in warning:
            paragraphs.append(f"**No convergence.** {_md(_sentence(warning)).rstrip('.')}.")
        else:
            paragraphs.append(_md(warning))
    return paragraphs


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:]


def pooling_notes(report: Report) -> list[str]:
    kinds = "intercept and slope" if report.x_name is not None else "intercept"
    used = report.estimates.no_pooling.get("clusters", report.estimates.n_groups)
    return [
        "**Complete pooling**: one OLS fit to all rows, ignoring the clusters. Its SE treats every row as "
        "independent, so it is too small when clusters differ (balanced clusters: SE ≈ √((ψ + θ) / (J·n))).",
        f"**No pooling**: every cluster gets its own OLS {kinds}, with one residual variance pooled over the "
        f"clusters; shown are the mean of the {used} clusters' own estimates and the mean of their SEs "
        "(balanced clusters: SE = √(θ / n)). An SE for one cluster, not for the population.",
        "**Partial pooling**: the mixed model's fixed effects; their SE counts the variation between "
        "clusters and within them (balanced random-intercept data: SE = √((ψ + θ/n) / J)).",
        "ψ: between-cluster variance of the intercepts; θ: residual variance; J clusters of n rows.",
    ]


def shrinkage_sentences(report: Report) -> list[str]:
    estimates = report.estimates
    lines = [
        "Shrinkage is the share of the distance from a cluster's own estimate (no pooling) to the fixed "
        "effects that partial pooling removed: 0% keeps the cluster's own estimate, 100% pulls it all the "
        "way to the fixed effects. Small clusters and clusters with noisy own estimates are pulled furthest."
    ]
    if report.estimates.random == "slope":
        lines.append(
            "The distance is measured in the (intercept, slope) plane, each coefficient in units of its "
            "spread across the clusters' own estimates."
        )
    if report.identity_error is not None:
        psi = float(estimates.cov_re[0, 0])
        theta = estimates.residual_sd**2
        adjusted = f"its own mean of {report.data.y_name}"
        if report.x_name is not None:
            adjusted += f" adjusted for {report.x_name} (ȳ_j − β₁·x̄_j)"
        lines.append(
            f"In this random-intercept model each cluster's partial-pooling intercept is a weighted average of "
            f"{adjusted} and the fixed intercept: BLUP_j = λ_j · (adjusted mean_j) + (1 − λ_j) · β₀, with "
            f"weight λ_j = ψ / (ψ + θ / n_j) = {_num(psi)} / ({_num(psi)} + {_num(theta)} / n_j). "
            "The more rows a cluster has, the more it trusts its own mean. "
            f"Checked on these data: the two sides differ by at most {report.identity_error:.1e}."
        )
        lines.append(
            "A random-intercept model shrinks only the intercept, so shrinkage is measured on it, from the "
            "cluster's adjusted mean: it is exactly 1 − λ_j, and depends on nothing but the cluster's size."
        )
    return lines


def _shrinkage_columns(report: Report) -> list[tuple[str, str]]:
    """(column, heading) of the shrinkage table, in the order shown."""
    columns = [("cluster", report.data.group_name), ("n", "n"), ("no_pool_intercept", "own intercept")]
    if report.x_name is not None:
        columns.append(("no_pool_slope", f"own slope of {report.x_name}"))
    columns.append(("partial_intercept", "partial intercept"))
    if report.x_name is not None:
        columns.append(("partial_slope", "partial slope"))
    columns.append(("shrinkage", "shrinkage"))
    if report.identity_error is not None:
        columns += [("weight", "λ (own weight)"), ("adjusted_mean", "adjusted mean")]
    return columns


def _cell(column: str, value: Any) -> str:
    if column == "cluster":
        return str(value)
    if column == "n":
        return str(int(value))
    if column == "shrinkage":
        return _percent(float(value))
    if column == "weight":
        return _num(float(value), 3)
    return _num(float(value))


def _note(report: Report, row: dict[str, Any]) -> str:
    if row["n"] == 1 and report.x_name is not None:
        # a random-intercept model still measures its shrinkage, from the x-adjusted mean
        return "single row; no own " + ("estimate" if report.estimates.random == "slope" else "slope")
    if row["n"] == 1:
        return "single row"
    if not math.isfinite(row["no_pool_intercept"]):
        return f"{report.x_name} constant: no own estimate"
    return ""


def shrinkage_rows(report: Report, limit: int | None = None) -> tuple[list[str], list[list[str]]]:
    """Headings and text cells of the shrinkage table (with a note column), at most `limit` rows."""
    columns = _shrinkage_columns(report)
    table = listed_clusters(report)[0] if limit is None else report.shrinkage.head(limit)
    # records keep each column's own type: iterrows would make simulated clusters 1, 2 into 1.0, 2.0
    rows = [
        [_cell(name, row[name]) for name, _ in columns] + [_note(report, row)]
        for row in table.to_dict(orient="records")
    ]
    return [heading for _, heading in columns] + ["note"], rows


def pooling_rows(report: Report) -> tuple[list[str], list[list[str]]]:
    headings = ["coefficient"] + [f"{POOLING_NAMES[kind]} (SE)" for kind in POOLING_NAMES]
    rows = [
        [_coefficient(row.coefficient)]
        + [f"{_num(row.estimates[kind])} ({_num(row.std_errors[kind])})" for kind in POOLING_NAMES]
        for row in report.pooling
    ]
    return headings, rows


# ---------------------------------------------------------------------------------------------------------
# Markdown: titles, file and column names and group labels come from the user, and are shown as written,
# never read as markup (a `<script>` stays text, a `|` stays in its cell, a line break cannot end a row)

# an underscore inside a word (BLUP_j) is no emphasis in CommonMark, so only one at a word's edge is escaped
_MARKDOWN_SYNTAX = re.compile(r"([\\`*\[\]|~]|(?<!\w)_|_(?!\w))")


def _md(text: str) -> str:
    """Text as literal Markdown: HTML and Markdown syntax escaped, line breaks and other control
    characters shown as escapes (`\\n`)."""
    visible = "".join(char if char.isprintable() else repr(char)[1:-1] for char in text)
    return _MARKDOWN_SYNTAX.sub(r"\\\1", html.escape(visible, quote=False))


def _backticks(text: str, least: int) -> str:
    """Enough backticks to open and close a code span or block that `text` cannot close."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    return "`" * max(least, longest + 1)


def _code(text: str) -> str:
    visible = "".join(char if char.isprintable() else " " for char in text)
    ticks = _backticks(visible, 1)
    pad = " " if visible.startswith("`") or visible.endswith("`") else ""  # CommonMark drops one each side
    return f"{ticks}{pad}{visible}{pad}{ticks}"


TRUTH_METHOD = (
    "RMSE: root mean squared error of the per-cluster estimates against the true effects, over the "
    "clusters with an own fit. Expected RMSE: the error the fit predicts for itself, the root mean of the "
    "squared SEs over the same clusters; for no pooling the clusters' OLS SEs (one residual variance "
    "pooled over the clusters), for partial pooling the conditional SEs of the cluster effects (lme4's "
    "condVar), which take the fixed effects and the variances as known."
)


def _coefficient_word(report: Report, coefficient: str, plural: bool = False) -> str:
    if coefficient == "intercept":
        return "intercepts" if plural else "intercept"
    return f"slope{'s' if plural else ''} of {report.data.x_name or 'x'}"


def _change(score: GroupScore, coefficient: str) -> str:
    """'0.384 → 0.313, 18% smaller' (or larger)."""
    own, pooled = score.rmse[OWN][coefficient], score.rmse[POOLED][coefficient]
    gain = score.gain(coefficient)
    direction = "smaller" if gain >= 0 else "larger"
    return f"{_num(own, 3)} → {_num(pooled, 3)}, {_percent(abs(gain))} {direction}"


def truth_rows(report: Report) -> tuple[list[str], list[list[str]]]:
    """Per coefficient: RMSE of each way of pooling, the expected RMSE of no and partial pooling, and the
    share of clusters that partial pooling brought closer to the truth."""
    score = report.estimates.truth
    assert score is not None
    names = list(score.estimators)
    headings = (
        ["RMSE of the"]
        + [score.estimators[name] for name in names]
        + [f"expected: {score.estimators[name]}" for name in (OWN, POOLED)]
        + ["partial pooling closer"]
    )
    overall = score.overall
    rows = [
        [_coefficient_word(report, coefficient, plural=True)]
        + [_num(overall.rmse[name][coefficient], 3) for name in names]
        + [_num(overall.expected_rmse[name][coefficient], 3) for name in (OWN, POOLED)]
        + [_percent(overall.closer[coefficient])]
        for coefficient in score.coefficients
    ]
    return headings, rows


def truth_size_rows(report: Report) -> tuple[list[str], list[list[str]]]:
    """Per size group: no against partial pooling for each coefficient."""
    score = report.estimates.truth
    assert score is not None
    headings = ["clusters", "rows", "count"]
    for coefficient in score.coefficients:
        word = _coefficient_word(report, coefficient, plural=True)
        headings += [f"{word}: no pooling", "partial pooling", "closer"]
    rows = []
    for group in score.by_size:
        row = [group.label, group.sizes.removeprefix("n = "), str(group.clusters)]
        for coefficient in score.coefficients:
            mark = " ⚠" if group.pooling_loses(coefficient, CLEAR_LOSS) else ""
            row += [
                _num(group.rmse[OWN][coefficient], 3),
                _num(group.rmse[POOLED][coefficient], 3) + mark,
                _percent(group.closer[coefficient]),
            ]
        rows.append(row)
    return headings, rows


def truth_sentences(report: Report) -> list[str]:
    """How much closer partial pooling got than each cluster's own fit, and where it did not, in words."""
    score = report.estimates.truth
    if score is None:
        return [
            f"**{_sentence(NO_TRUTH)}.** Only a simulation knows each cluster's true effects, so nothing here "
            "says how close any estimate came to them."
        ]
    overall = score.overall
    left_out = (
        f" ({score.left_out} cluster{'s' if score.left_out != 1 else ''} without an own fit left out)"
        if score.left_out
        else ""
    )
    lines = [
        "The data were simulated, so every cluster's true intercept and slope are known (`true_intercept`, "
        f"`true_slope` in estimates.csv). Scored: the {overall.clusters} clusters with an own fit{left_out}."
    ]
    wins = [coefficient for coefficient in score.coefficients if overall.gain(coefficient) > 0]
    changes = "; ".join(
        f"{_coefficient_word(report, coefficient, plural=True)} {_change(overall, coefficient)}"
        for coefficient in score.coefficients
    )
    closer = " and ".join(
        f"{_percent(overall.closer[coefficient])} of the {_coefficient_word(report, coefficient, plural=True)}"
        for coefficient in score.coefficients
    )
    if len(wins) == len(score.coefficients):
        lines.append(
            f"**Partial pooling got closer to the truth than each cluster's own fit.** RMSE from no to partial "
            f"pooling: {changes}. Partial pooling brought {closer} closer to the truth than the cluster's own "
            "estimate. Shrinking many estimates toward a common value lowers their total squared error even "
            "though each cluster's own fit is unbiased (Stein's result); the price is a bias toward the "
            "average for the clusters that truly sit far from it."
        )
    else:
        lines.append(
            f"**Partial pooling did not beat the clusters' own fits everywhere.** RMSE from no to partial "
            f"pooling: {changes}. Partial pooling brought {closer} closer to the truth."
        )
    for coefficient in score.coefficients:
        for group in score.losing_groups(coefficient, CLEAR_LOSS):
            lines.append(_hurt_sentence(report, group, coefficient, overall))
    lines.append(
        "**Expected error** (the two `expected` columns): the error each fit predicts for itself, "
        + TRUTH_METHOD.split("the error the fit predicts for itself, ", 1)[1]
        + " A realised RMSE far from its expected value is chance (a few clusters with very uncertain "
        "estimates weigh most) or a sign that the model's assumptions do not hold for these clusters."
    )
    return lines


def _hurt_sentence(report: Report, group: GroupScore, coefficient: str, overall: GroupScore) -> str:
    word = _coefficient_word(report, coefficient, plural=True)
    own, pooled = group.rmse[OWN][coefficient], group.rmse[POOLED][coefficient]
    still = (
        f"although it wins over all clusters ({_change(overall, coefficient)})"
        if overall.gain(coefficient) > 0
        else f"and over all clusters too ({_change(overall, coefficient)})"
    )
    text = (
        f"**Where shrinkage hurts: the {group.label} clusters.** For the {group.clusters} {group.label} "
        f"clusters ({group.sizes}) partial pooling is further from the true {word} than their own fits: "
        f"RMSE {_num(pooled, 3)} against {_num(own, 3)} ({_percent(-group.gain(coefficient))} larger), {still}; "
        f"it brought only {_percent(group.closer[coefficient])} of them closer. "
    )
    if group.label == "large":
        return text + (
            "Their own fits are precise, so partial pooling moves them little; the model assumes that every "
            "cluster comes from one distribution whatever its size, and these clusters differ from it."
        )
    return text + (
        "The model assumes that every cluster's effects come from one normal distribution whatever its size, "
        "and pulls each toward the fixed effects, which the other clusters set; when these clusters truly "
        "differ from the others (as small hospitals with higher mortality do), shrinkage drags them toward "
        "the big ones and hides a real difference. The remedy: give the model what it is missing, cluster "
        f"size as a predictor (e.g. `{report.data.y_name} ~ {report.data.x_name or '1'} + log(n) + "
        f"({report.data.x_name + ' ' if report.data.x_name and report.estimates.random == 'slope' else '1 '}"
        f"| {report.data.group_name})`, n the cluster's rows), so that each cluster is shrunk toward "
        "clusters of its own size."
    )


def _markdown_table(headings: list[str], rows: list[list[str]]) -> list[str]:
    def line(cells: list[str]) -> str:
        return "| " + " | ".join(_md(cell) for cell in cells) + " |"

    return [line(headings), "|" + "|".join("---" for _ in headings) + "|", *(line(row) for row in rows)]


def markdown(report: Report, plot_file: str | None = PLOT_FILE) -> str:
    """report.md: data, warnings, model summary, the pooling comparison and the shrinkage per cluster."""
    estimates = report.estimates
    lines = [
        f"# {_md(report.title)}: the numbers behind the picture",
        "",
        f"**Data.** {_md(data_sentence(report))}",
        "",
        f"**Model.** {_code(report.formula)}, fitted by {estimates.method} with the {estimates.engine} engine.",
    ]
    singles = single_row_sentence(report)
    if singles:
        lines += ["", _md(singles)]
    warnings = warning_paragraphs(report)
    if warnings:
        lines += ["", "## Warnings", ""]
        lines += [f"- {paragraph}" for paragraph in warnings]
    summary = lme4_summary(estimates, report.data, with_warnings=False)
    fence = _backticks(summary, 3)
    lines += ["", "## Model summary", "", f"{fence}text", summary, fence]
    if estimates.bayes is not None:
        from .bayes import comparison_markdown

        lines += comparison_markdown(estimates, report.x_name)
    lines += ["", "## Complete, no and partial pooling", ""]
    lines += _markdown_table(*pooling_rows(report))
    lines += [""] + [f"- {note}" for note in pooling_notes(report)]
    lines += ["", "## Against the truth", ""]
    sentences = truth_sentences(report)
    if estimates.truth is not None:
        lines += [sentences[0], ""]
        lines += _markdown_table(*truth_rows(report))
        if estimates.truth.by_size:
            lines += [
                "",
                "By cluster size (⚠: partial pooling further from the truth than the own fits):",
                "",
            ]
            lines += _markdown_table(*truth_size_rows(report))
        sentences = sentences[1:]
        lines += [""]
    for sentence in sentences:
        lines += [sentence, ""]
    lines.pop()
    lines += ["", "## Shrinkage per cluster", ""]
    for sentence in shrinkage_sentences(report):
        lines += [_md(sentence), ""]
    if plot_file:
        lines += [f"![Shrinkage against cluster size]({plot_file})", ""]
    note = listed_clusters(report)[1]
    if note:
        lines += [f"{note[0].upper()}{note[1:]}.", ""]
    lines += _markdown_table(*shrinkage_rows(report))
    return "\n".join(lines) + "\n"


def show(report: Report, console: Console) -> None:
    """The report in the terminal, as rich tables (`shrinkvis explain`)."""
    from rich.cells import cell_len
    from rich.markup import escape
    from rich.rule import Rule
    from rich.table import Table

    estimates = report.estimates
    # nothing is cut: a title wider than the terminal goes above the rule; in a pipe, whose width is
    # unbounded, the rule is as wide as the title needs
    title_width = cell_len(report.title) + 6
    if title_width > console.width:
        console.print(report.title, style="bold", markup=False)
        console.rule()
    else:
        rule_width = console.width if console.is_terminal else max(RULE_COLUMNS, title_width)
        console.print(Rule(f"[bold]{escape(report.title)}"), width=rule_width)
    console.print(data_sentence(report), markup=False)
    console.print(f"Model: {report.formula}, {estimates.method}, {estimates.engine} engine", markup=False)
    singles = single_row_sentence(report)
    if singles:
        console.print(singles, markup=False)
    for warning in estimates.warnings:
        console.print(f"warning: {warning}", style="bold red", markup=False)

    random_effects = Table(title="Random effects", title_justify="left")
    for heading in ("groups", "name", "variance", "SD", "corr"):
        random_effects.add_column(
            heading, justify="left" if heading in ("groups", "name") else "right", overflow="fold"
        )
    names = ["(Intercept)"] + ([report.data.x_name or "x"] if estimates.random == "slope" else [])
    for index, name in enumerate(names):
        variance = float(estimates.cov_re[index, index])
        corr = _num(estimates.corr, 2) if index == 1 and estimates.corr is not None else ""
        random_effects.add_row(
            report.data.group_name if index == 0 else "",
            name,
            _num(variance),
            _num(math.sqrt(variance)),
            corr,
        )
    random_effects.add_row("Residual", "", _num(estimates.residual_sd**2), _num(estimates.residual_sd), "")
    console.print(random_effects)

    criterion = "REML criterion" if estimates.method == "REML" else "deviance"
    fixed = Table(title=f"Fixed effects ({criterion} {_num(estimates.criterion)})", title_justify="left")
    for heading in ("", "estimate", "SE", "t value"):
        fixed.add_column(heading, justify="right" if heading else "left", overflow="fold")
    for name, value in estimates.fixed_effects.items():
        se = estimates.std_errors[name]
        fixed.add_row(_coefficient(name), _num(value), _num(se), _num(value / se, 2))
    console.print(fixed)
    if estimates.bayes is not None:
        from .bayes import comparison_table

        console.print(comparison_table(estimates, report.x_name))

    pooling = Table(title="Complete, no and partial pooling: estimate (SE)", title_justify="left")
    headings, rows = pooling_rows(report)
    for heading in headings:
        pooling.add_column(
            heading.removesuffix(" (SE)"),
            justify="left" if heading == "coefficient" else "right",
            overflow="fold",
        )
    for row in rows:
        pooling.add_row(*row)
    console.print(pooling)

    _show_truth(report, console)

    for sentence in shrinkage_sentences(report):
        console.print(sentence, markup=False)
    headings, rows = shrinkage_rows(report, TERMINAL_CLUSTERS)
    title = "Shrinkage per cluster"
    if estimates.n_groups > TERMINAL_CLUSTERS:
        title += f" (first {TERMINAL_CLUSTERS} of {estimates.n_groups}; all in report.md of `shrinkvis run`)"
    shrinkage = Table(title=title, title_justify="left")
    for index, heading in enumerate(headings):
        shrinkage.add_column(
            heading, justify="left" if index == 0 or heading == "note" else "right", overflow="fold"
        )
    for row in rows:
        shrinkage.add_row(*row)
    console.print(shrinkage)


def _show_truth(report: Report, console: Console) -> None:
    from rich.table import Table

    sentences = truth_sentences(report)
    if report.estimates.truth is not None:
        tables = [("Against the truth: RMSE", truth_rows(report))]
        if report.estimates.truth.by_size:
            tables.append(("Against the truth, by cluster size: RMSE", truth_size_rows(report)))
        for title, (headings, rows) in tables:
            table = Table(title=title, title_justify="left")
            for index, heading in enumerate(headings):
                table.add_column(heading, justify="left" if index == 0 else "right")
            for row in rows:
                table.add_row(*row)
            console.print(table)
    for sentence in sentences:
        console.print(sentence.replace("**", "").replace("`", ""), markup=False)


# ---------------------------------------------------------------------------------------------------------
# Any model of the class (fit/model_fit.py)


def _bar_pairs(names: tuple[str, ...], blocks: tuple[int, ...]) -> list[tuple[str, str]]:
    """The pairs of random effects within each bar, in lme4's VarCorr order (column by column)."""
    pairs, start = [], 0
    for size in blocks:
        pairs += [
            (names[col], names[row])
            for col in range(start, start + size)
            for row in range(col + 1, start + size)
        ]
        start += size
    return pairs


def model_json(model: ModelFit, seconds: float) -> dict[str, Any]:
    """The one JSON object `shrinkvis fit --json` prints for a model beyond the two-effect ones."""
    mixed = model.mixed
    criterion_key = "reml_criterion" if mixed.method == "REML" else "ml_deviance"
    population = {
        "fixed_effects": dict(zip(mixed.fixed_names, mixed.fixed_effects, strict=True)),
        "std_errors": dict(zip(mixed.fixed_names, mixed.std_errors, strict=True)),
        "random_effects": {"group": model.group, "sd": mixed.sd_re, "cor": mixed.cor_re},
        "residual_sd": mixed.sigma,
    }
    if model.posterior is not None:
        # as the two-effect engine's JSON: the population numbers are posterior means (SDs for the
        # errors), REML's are under "reml"; vcov, loglik, the criterion and theta stay REML's
        posterior = model.posterior
        rows = posterior.posterior
        population = {
            "fixed_effects": {name: rows[posterior.fixed_name(name)]["mean"] for name in mixed.fixed_names},
            "std_errors": {name: rows[posterior.fixed_name(name)]["sd"] for name in mixed.fixed_names},
            "random_effects": {
                "group": model.group,
                "sd": {name: rows[posterior.sd_name(name)]["mean"] for name in mixed.random_names},
                "cor": {
                    f"{a}:{b}": rows[posterior.cor_name(a, b)]["mean"]
                    for a, b in _bar_pairs(mixed.random_names, mixed.blocks)
                },
            },
            "residual_sd": rows["sigma"]["mean"],
        }
    return json_ready(
        {
            "n_obs": mixed.n_obs,
            "n_groups": len(mixed.labels),
            "formula": model.design_formula,
            "method": mixed.method,
            "engine": model.engine,
            "fixed_effects": population["fixed_effects"],
            "std_errors": population["std_errors"],
            "vcov": mixed.fixed_cov,
            "random_effects": population["random_effects"],
            "residual_sd": population["residual_sd"],
            "loglik": mixed.loglik,
            criterion_key: mixed.criterion,
            "theta": mixed.theta,
            "is_singular": mixed.is_singular,
            "converged": model.converged,
            "gradient_norm": mixed.gradient_norm,
            "optimum_gap": model.optimum_gap,
            "complete_pooling": model.complete_pooling,
            "warnings": model.warnings,
            "dropped_rows": model.dropped_rows,
            "seconds": round(seconds, 4),
            # engine bayes: the posterior (brms's names), the priors, the sampler and REML's numbers
            **(model.posterior.to_json() if model.posterior is not None else {}),
        }
    )


def _abbreviation(name: str) -> str:
    """A coefficient's short name in lme4's correlation table (R's abbreviate to 6 characters, roughly)."""
    if name == "(Intercept)":
        return "(Intr)"
    return name if len(name) <= 6 else name[:6]


def model_summary(model: ModelFit, source: str) -> str:
    """`summary(lmer(...))` laid out as lme4 prints it, for any model of the class."""
    mixed = model.mixed
    method = "REML" if mixed.method == "REML" else "maximum likelihood"
    lines = [
        f"Linear mixed model fit by {method} ['{'exact' if model.posterior is not None else model.engine}' engine]",
        f"Formula: {model.design_formula}",
    ]
    lines += [f"   Data: {source}", ""]
    if mixed.method == "REML":
        lines.append(f"REML criterion at convergence: {mixed.criterion:.4f}")
    else:
        k = len(mixed.fixed_names) + len(mixed.theta) + 1
        aic = mixed.criterion + 2 * k
        bic = mixed.criterion + k * math.log(mixed.n_obs)
        lines.append(f"{'AIC':>10} {'BIC':>10} {'logLik':>10} {'deviance':>10} {'df.resid':>8}")
        lines.append(
            f"{aic:>10.4f} {bic:>10.4f} {mixed.loglik:>10.4f} {mixed.criterion:>10.4f} {mixed.n_obs - k:>8d}"
        )
    width = max([12, *(len(name) for name in mixed.random_names)])
    lines += [
        "",
        "Random effects:",
        f" {'Groups':<10} {'Name':<{width}} {'Variance':>10} {'Std.Dev.':>10} Corr",
    ]
    sd = np.sqrt(np.diag(mixed.cov_re))
    start = 0
    for bar, size in enumerate(mixed.blocks):
        for row in range(start, start + size):
            group = (model.group if bar == 0 else f"{model.group}.{bar}") if row == start else ""
            corr = []
            for col in range(start, row):
                denominator = sd[row] * sd[col]
                corr.append(f"{mixed.cov_re[row, col] / denominator:6.2f}" if denominator > 0 else "   NaN")
            name = mixed.random_names[row]
            variance = float(mixed.cov_re[row, row])
            lines.append(
                f" {group:<10} {name:<{width}} {variance:>10.4f} {sd[row]:>10.4f} {' '.join(corr)}".rstrip()
            )
        start += size
    lines.append(f" {'Residual':<10} {'':<{width}} {mixed.sigma**2:>10.4f} {mixed.sigma:>10.4f}")
    lines.append(f"Number of obs: {mixed.n_obs}, groups:  {model.group}, {len(mixed.labels)}")
    if model.dropped_rows:
        lines.append(f"({model.dropped_rows} rows with missing values dropped)")
    fixed_width = max([12, *(len(name) for name in mixed.fixed_names)])
    lines += [
        "",
        "Fixed effects:",
        f" {'':<{fixed_width}} {'Estimate':>10} {'Std. Error':>10} {'t value':>8}",
    ]
    for name, value, se in zip(mixed.fixed_names, mixed.fixed_effects, mixed.std_errors, strict=True):
        lines.append(f" {name:<{fixed_width}} {value:>10.4f} {se:>10.4f} {value / se:>8.2f}")
    p = len(mixed.fixed_names)
    if p > 1:
        se = mixed.std_errors
        correlation = mixed.fixed_cov / np.outer(se, se)
        short = [_abbreviation(name) for name in mixed.fixed_names]
        lines += [
            "",
            "Correlation of Fixed Effects:",
            " " * (fixed_width + 2) + " ".join(f"{s:>6}" for s in short[:-1]),
        ]
        for row in range(1, p):
            cells = " ".join(f"{correlation[row, col]:6.3f}" for col in range(row))
            lines.append(f" {mixed.fixed_names[row]:<{fixed_width}} {cells}")
    if model.posterior is not None:
        from .bayes import class_summary

        lines += ["", "", class_summary(model, source)]
    warnings = model.warnings
    if warnings:
        lines.append("")
        lines += [f"warning: {warning}" for warning in warnings]
    return "\n".join(lines)
