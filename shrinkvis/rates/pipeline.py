"""The run of a rates scenario: data → fit → storyboard → files, written as every run writes them
(`<view>.gif/.mp4/.png/_start.png/.svg`, estimates.csv, summary.json, report.md).

`pipeline.run` hands a scenario here when `spec.is_rates` says so; nothing else in the pipeline changes.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .. import animation
from ..outputs import json_ready, write_csv, write_json, write_text
from ..progress import Stage, quiet
from ..scenario import DataFileSpec, Format, Scenario
from ..story.common import Header
from ..story.presets import look
from ..story.rates import RatesStory, rates_story, value_label
from ..story.themes import theme
from ..story.timeline import timeline
from .data import RateData, rate_data
from .fit import RatesFit, fit_rates

SIZE_GROUPS = 4  # the small-hospital check compares the smallest quarter of clusters with the largest


def formula(fit: RatesFit) -> str:
    """The model in lme4's (or brms's) words."""
    data = fit.data
    group = data.group_name
    x = f" + {data.x_name}" if data.x_name else ""
    if data.kind == "meta":
        return f"{data.y_name} | se({data.se_name}) ~ 1 + (1 | {group})"
    if data.kind == "binomial":
        left = f"cbind({data.y_name}, {data.size_name} - {data.y_name})" if data.size_name else data.y_name
        return f"{left} ~ 1{x} + (1 | {group})"
    offset = f" + offset(log({data.size_name}))" if data.size_name else ""
    return f"{data.y_name} ~ 1{x}{offset} + (1 | {group})"


def size_check(fit: RatesFit) -> dict[str, Any] | None:
    """George et al. (2016)'s question, where the truth is known and sizes differ: in the smallest and the
    largest quarter of clusters, the mean true rate beside the mean own and shrunk rates."""
    table = fit.clusters
    if "truth" not in table or np.ptp(table["size"]) == 0 or len(table) < 2 * SIZE_GROUPS:
        return None
    quarter = pd.qcut(table["size"].rank(method="first"), SIZE_GROUPS, labels=False)
    result = {}
    for name, which in (("smallest", 0), ("largest", SIZE_GROUPS - 1)):
        part = table[quarter == which]
        result[name] = {
            "clusters": len(part),
            "size_range": [float(part["size"].min()), float(part["size"].max())],
            "mean_truth": float(part["truth"].mean()),
            "mean_own": float(part["own"].mean()),
            "mean_partial": float(part["partial"].mean()),
        }
    return result


def _caption(fit: RatesFit, scenario: Scenario) -> str:
    parts = [scenario.description] if scenario.description else []
    parts.append(f"Model: {formula(fit)}, {fit.family_words}.")
    check = size_check(fit)
    if check is not None:
        small = check["smallest"]
        unit = " %" if fit.per == 100 else ""
        parts.append(
            f"Smallest quarter (≤ {small['size_range'][1]:.0f} {fit.data.size_name}): true {small['mean_truth']:.2f}{unit}, "
            f"own {small['mean_own']:.2f}{unit}, shrunk {small['mean_partial']:.2f}{unit}."
        )
    score = fit.rmse()
    if score is not None and check is not None:
        parts.append(f"RMSE against the truth: own {score['own']:.2f}, shrunk {score['partial']:.2f}.")
    return " ".join(parts)


DRAWN_CLUSTERS = 2_000  # past this many, the frames draw a random sample (the fit uses all)


def drawn(fit: RatesFit, seed: int = 0) -> tuple[RatesFit, str]:
    """The clusters the frames draw: all, or a random `DRAWN_CLUSTERS` with a note saying so."""
    count = len(fit.clusters)
    if count <= DRAWN_CLUSTERS:
        return fit, ""
    keep = np.sort(np.random.default_rng(seed).choice(count, DRAWN_CLUSTERS, replace=False))
    sample = dataclasses.replace(fit, clusters=fit.clusters.iloc[keep].reset_index(drop=True))
    return sample, f" A random {DRAWN_CLUSTERS:,} of {count:,} {fit.data.group_name}s drawn."


def storyboard(fit: RatesFit, scenario: Scenario) -> RatesStory:
    fit, note = drawn(fit, getattr(scenario.data, "seed", 0))
    if note:
        scenario = scenario.model_copy(update={"description": scenario.description + note})
    spec = scenario.animation
    the_look = look(spec.width, spec.height, spec.preset, theme(spec.theme, spec.palette))
    warning = "; ".join(fit.warnings)
    header = Header(title=scenario.display_title, caption=_caption(fit, scenario), warning=warning)

    def make_timeline(states: int):  # noqa: ANN202
        return timeline(spec.frames, spec.fps, spec.start_pause, spec.end_pause, spec.easing, states)

    label = scenario.data.label if isinstance(scenario.data, DataFileSpec) else None
    return rates_story(fit, spec.view, header, the_look, spec.frames, spec.fps, make_timeline, label)


def cluster_table(fit: RatesFit) -> pd.DataFrame:
    """estimates.csv: per cluster, on the display scale, plus the link-scale columns every fit writes."""
    table = fit.clusters.rename(columns={"own": "own_value", "partial": "partial_value"})
    link = fit.estimates.clusters[["partial_intercept", "partial_intercept_se", "no_pool_intercept"]]
    return pd.concat([table.reset_index(drop=True), link.reset_index(drop=True)], axis=1)


def summary(
    fit: RatesFit, scenario: Scenario, files: dict[str, Path], timings: dict[str, float]
) -> dict[str, Any]:
    population = fit.estimates.population()
    extra: dict[str, Any] = {
        "formula": formula(fit),
        "family": fit.kind,
        "fit": fit.family_words,
        "scale": {"per": fit.per, "label": value_label(fit, getattr(scenario.data, "label", None))},
        "pooled_value": fit.pooled,
        "overall_value": fit.overall,
        "source": fit.data.source,
        "simulated": fit.data.simulated,
        "truth": fit.rmse(),
        "size_check": size_check(fit),
    }
    if fit.glmm is not None:
        extra.update(
            nagq=fit.glmm.nagq,
            loglik=fit.glmm.loglik,
            lme4_loglik=fit.glmm.lme4_loglik,
            sd_intercept=fit.glmm.theta,
        )
    if fit.meta is not None:
        meta = fit.meta
        extra.update(
            mu=meta.mu,
            se_mu=meta.se_mu,
            tau2=meta.tau2,
            se_tau2=meta.se_tau2,
            loglik=meta.loglik,
            i_squared=meta.i_squared,
            q_statistic=meta.q_statistic,
            shrinkage=dict(zip(map(str, fit.clusters["cluster"]), map(float, meta.shrinkage), strict=True)),
        )
    if fit.posterior is not None:
        posterior = fit.posterior
        extra["bayes"] = {
            "method": "numerical integration over (intercept, SD) at brms's default priors",
            "priors": {
                "Intercept": f"student_t(3, {posterior.prior[0].location:g}, {posterior.prior[0].scale:g})",
                "sd": f"student_t(3, 0, {posterior.prior[1].scale:g}) on sd ≥ 0",
            },
            "intercept_mean": posterior.intercept_mean,
            "intercept_sd": posterior.intercept_sd,
            "sd_mean": posterior.tau_mean,
            "sd_sd": posterior.tau_sd,
            "sd_quantiles": list(posterior.tau_quantiles),
            "ml_partial": list(fit.clusters["ml_partial"]),
            "ml_warnings": list(fit.ml_warnings),
        }
    return json_ready(
        {
            "scenario": scenario.model_dump(mode="json"),
            **population,
            **extra,
            "files": sorted(path.name for path in files.values()),
            "timings": {key: round(value, 4) for key, value in timings.items()},
        }
    )


def markdown(fit: RatesFit, scenario: Scenario) -> str:
    data = fit.data
    lines = [f"# {scenario.display_title}", ""]
    if scenario.description:
        lines += [scenario.description, ""]
    lines += [f"Data: {data.source} — {len(fit.clusters)} {data.group_name}s, {data.n_obs:,} rows.", ""]
    if data.dropped_rows:
        lines += [f"{data.dropped_rows} row(s) with a missing value were left out.", ""]
    lines += [f"Model: `{formula(fit)}` — {fit.family_words}.", ""]
    for warning in fit.warnings:
        lines += [f"**Warning:** {warning}", ""]
    label = value_label(fit, getattr(scenario.data, "label", None))
    if fit.meta is not None:
        meta = fit.meta
        lines += [
            f"- pooled mean μ̂ = {meta.mu:.4g} (SE {meta.se_mu:.4g}); τ² = {meta.tau2:.4g} (SE {meta.se_tau2:.4g}), "
            f"τ = {meta.tau:.4g}; I² = {meta.i_squared:.1f} %",
            "- each estimate moves toward μ̂ by 1 − λ_j, with λ_j = τ² / (τ² + σ_j²)",
            "",
        ]
    else:
        glmm = fit.glmm
        assert glmm is not None
        names = list(fit.estimates.fixed_effects)
        for name in names:
            lines.append(
                f"- fixed effect {name} = {fit.estimates.fixed_effects[name]:.4g} (SE {fit.estimates.std_errors[name]:.4g}), link scale"
            )
        lines += [
            f"- SD of the {data.group_name}s' random intercepts = {glmm.theta:.4g} (link scale)",
            f"- pooled rate of a typical {data.group_name}: {fit.pooled:.4g}; overall rate Σ{data.y_name}/Σ{data.size_name}: {fit.overall:.4g} ({label})",
            f"- log-likelihood {glmm.loglik:.6g} (glmer prints {glmm.lme4_loglik:.6g})",
            "",
        ]
    if fit.posterior is not None:
        posterior = fit.posterior
        lines += [
            "Bayes (brms's default priors: Intercept ~ student_t(3, "
            f"{posterior.prior[0].location:g}, {posterior.prior[0].scale:g}), sd ~ half-student_t(3, 0, "
            f"{posterior.prior[1].scale:g})), by numerical integration over the intercept and the SD:",
            f"- intercept: posterior mean {posterior.intercept_mean:.4g} (SD {posterior.intercept_sd:.4g})",
            f"- SD of the random intercepts: posterior mean {posterior.tau_mean:.4g} (SD {posterior.tau_sd:.4g}), "
            f"95 % interval {posterior.tau_quantiles[0]:.3g} to {posterior.tau_quantiles[2]:.3g}",
            "- the partial-pooling values below are posterior means; estimates.csv keeps the ML ones (ml_partial)",
            "",
        ]
        lines += [f"ML fit beside it: {warning}" for warning in fit.ml_warnings] + (
            [""] if fit.ml_warnings else []
        )
    score = fit.rmse()
    if score is not None:
        lines += [
            f"Truth ({data.truth_name}): RMSE of the own values {score['own']:.4g}, of the partial-pooling values "
            f"{score['partial']:.4g}.",
            "",
        ]
    check = size_check(fit)
    if check is not None:
        lines += ["| size quarter | sizes | mean truth | mean own | mean shrunk |", "|---|---|---|---|---|"]
        for name, part in check.items():
            low, high = part["size_range"]
            lines.append(
                f"| {name} | {low:.0f}–{high:.0f} | {part['mean_truth']:.4g} | {part['mean_own']:.4g} | {part['mean_partial']:.4g} |"
            )
        lines.append("")
    shown = fit.clusters if len(fit.clusters) <= 40 else fit.clusters.nsmallest(20, "size")
    if len(fit.clusters) > 40:
        lines += ["The 20 smallest clusters (all are in estimates.csv):", ""]
    lines += [
        f"| {data.group_name} | size | own | partial pooling | moved toward pooled |",
        "|---|---|---|---|---|",
    ]
    for _, row in shown.iterrows():
        moved = "" if not np.isfinite(row["moved"]) else f"{100 * row['moved']:.0f} %"
        lines.append(
            f"| {row['cluster']} | {row['size']:.4g} | {row['own']:.4g} | {row['partial']:.4g} | {moved} |"
        )
    lines.append("")
    return "\n".join(lines)


def run_rates(
    scenario: Scenario, out_dir: Path, formats: tuple[Format, ...] | None = None, stage: Stage = quiet
) -> tuple[RatesFit, dict[str, Path], dict[str, float]]:
    if scenario.model.random == "slope":
        from .slopes import refuse_run

        refuse_run()
    timings: dict[str, float] = {}
    started = time.perf_counter()
    stage("reading" if isinstance(scenario.data, DataFileSpec) else "simulating")
    data: RateData = rate_data(scenario)
    timings["read" if isinstance(scenario.data, DataFileSpec) else "simulate"] = time.perf_counter() - started
    started = time.perf_counter()
    stage("fitting")
    fit = fit_rates(data, scenario)
    timings["fit"] = time.perf_counter() - started
    started = time.perf_counter()
    stage("drawing")
    story = storyboard(fit, scenario)
    files = animation.output_files(scenario.animation.view, formats or scenario.animation.formats, out_dir)
    files["report"] = out_dir / "report.md"
    files["csv"] = out_dir / "estimates.csv"
    write_text(files["report"], markdown(fit, scenario))
    write_csv(files["csv"], cluster_table(fit))
    animation.write_animation(
        story, {kind: path for kind, path in files.items() if kind not in ("report", "csv")}
    )
    timings["render"] = time.perf_counter() - started
    stage("writing")
    files["json"] = out_dir / "summary.json"
    write_json(files["json"], summary(fit, scenario, files, timings))
    return fit, files, timings
