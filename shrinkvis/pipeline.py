"""The whole path for one scenario: simulate (or read a table) → fit → storyboard → frames → files."""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from . import animation
from . import report as reports
from . import story as storyboards
from .data import ModelData, as_model_data, read_model_data, simulated_model_data, summed_by_duckdb
from .drawing import DrawingProcess, Job
from .encode import write_png
from .errors import ScenarioError
from .fit import Estimates, fit
from .fit.truth import with_truth
from .outputs import (
    atomic_path,
    folder_lock,
    json_ready,
    output_folder_name,
    write_csv,
    write_json,
    write_text,
)
from .progress import Stage, quiet
from .report.size_plot import SizePlot, shrinkage_by_size, size_plot
from .scenario import DataFileSpec, DataSpec, Format, ModelSpec, Scenario
from .simulate import simulate, simulation

if TYPE_CHECKING:
    from .fit.model_fit import ModelFit

DRAWN_CLUSTERS = 2_000  # past this many clusters the animation draws a random sample of them
# past this many the per-cluster table is written as estimates.parquet as well (estimates.csv stays)
PARQUET_CLUSTERS = 100_000


@dataclass(frozen=True)
class RunResult:
    scenario: Scenario
    estimates: Estimates
    out_dir: Path
    files: dict[str, Path]
    timings: dict[str, float] = field(default_factory=dict)
    report: reports.Report | None = None
    data: ModelData | None = None  # what was fitted (rows, or a large table's sums) and its column names


def simulate_scenario(scenario: Scenario) -> pd.DataFrame:
    if isinstance(scenario.data, DataFileSpec):
        raise TypeError(f"scenario {scenario.name} reads {scenario.data.file}; it has nothing to simulate")
    return simulate(scenario.data, np.random.default_rng(scenario.data.seed))


def source_data(scenario: Scenario, stage: Stage = quiet) -> ModelData:
    """The data step: read the table the scenario names, or simulate its data (and keep the truth)."""
    if isinstance(scenario.data, DataFileSpec):
        return read_data(scenario.data, stage)
    simulated = simulation(scenario.data, np.random.default_rng(scenario.data.seed))
    return simulated_model_data(simulated.rows, scenario.data, simulated.truth)


def read_data(spec: DataFileSpec, stage: Stage = quiet) -> ModelData:
    """A table's rows, or for a large table (`data.summed_by_duckdb`) its clusters' sums by DuckDB."""
    if summed_by_duckdb(spec.file):
        from .aggregate import read_summed

        return read_summed(spec, on_progress=lambda done: stage.detail(f"{done:.0f} %"))  # type: ignore[return-value]  # SummedData: ModelData's fields, no rows
    return read_model_data(spec)


def reading_stage(file: str) -> str:
    return "summing per cluster (DuckDB)" if summed_by_duckdb(file) else "reading"


def fit_data(data: ModelData, scenario: Scenario) -> Estimates:
    """The fit; scored against the truth when the data were simulated."""
    model = scenario.model
    if model.formula is not None:
        from .formula import is_two_effect, parse

        if not is_two_effect(model.formula):
            return fit_formula_data(data, scenario)
    if scenario.animation.plane is not None:
        raise ScenarioError(
            "animation.plane chooses the random effects of a model.formula beyond y ~ x + (x | cluster); "
            "this model shows its intercept and slope (set model.formula, or leave animation.plane out)"
        )
    if model.formula is not None:
        model = model.model_copy(update={"random": parse(model.formula).random})
    estimates = fit_model(data, model)
    return estimates if data.truth is None else with_truth(estimates, data.truth)


def fit_formula_data(data: ModelData, scenario: Scenario) -> Estimates:
    """A scenario's `model.formula` beyond the two-effect ones, fitted to its rows (fit/model_fit.py) and
    shown by two of its random effects (`animation.plane`); a simulation scores them against the truth
    when they are the intercept and the slope of x it knows."""
    from .design import design
    from .fit.model_fit import as_estimates, fit_design, plane_effects
    from .model import INTERCEPT

    model, formula = scenario.model, scenario.model.formula
    assert formula is not None
    if scenario.animation.view == "lines":
        raise ScenarioError(
            f"animation.view = lines draws y against x with each cluster's line, which leaves out the other "
            f"terms of {formula!r}; choose shrinkage, stages, funnel or caterpillar"
        )
    if isinstance(scenario.data, DataFileSpec):
        fitted = fit_formula(scenario.data.file, formula, model.method, model.engine, bayes=model.bayes)
    else:
        fitted = fit_design(design(formula, data.frame), model.method, model.engine, model.bayes)
    estimates = as_estimates(fitted, scenario.animation.plane)
    shown = plane_effects(fitted, scenario.animation.plane)
    known = {INTERCEPT: "true_intercept", "x": "true_slope"}
    if data.truth is None or tuple(shown) != tuple(known)[: len(shown)]:
        return estimates
    truth = data.truth.copy()
    if fitted.intercept_shift is not None and fitted.cluster_level:
        # the picture's intercepts leave out what log(n) and other cluster-level terms add (as_estimates):
        # the truth is put on the same scale, which leaves every estimate's distance to it unchanged
        shift = pd.Series(fitted.intercept_shift, index=fitted.clusters["cluster"].to_numpy())
        truth["true_intercept"] = (
            truth["true_intercept"].to_numpy() - shift.reindex(truth["cluster"]).to_numpy()
        )
    return with_truth(estimates, truth)


def fit_model(data: ModelData, model: ModelSpec) -> Estimates:
    """The fit of the rows, or of the clusters' sums where the rows were never read."""
    if data.frame is None:
        from .fit.sums import fit_sums

        return fit_sums(data.sums, model, x_name=data.x_name or "x")  # type: ignore[attr-defined]
    return fit(data.frame, model, x_name=data.x_name or "x", group_name=data.group_name)


def fit_formula(
    file: str | Path,
    formula: str,
    method: str = "REML",
    engine: str = "exact",
    on_progress: Callable[[float], None] | None = None,
    bayes: Any = None,
) -> ModelFit:
    """`shrinkvis fit --formula` for a model beyond the two-effect ones: read the table and apply the
    formula (a large table: DuckDB sums its per-cluster blocks), fit the three ways of pooling
    (fit/model_fit.py), and under `--engine bayes` the posterior (`bayes`: a BayesSpec, or None)."""
    from .data import read_table
    from .design import design
    from .fit.model_fit import fit_design
    from .model import parse_model

    parsed = parse_model(formula)  # a formula error before the file is read
    if engine not in ("exact", "statsmodels", "bayes"):
        raise ScenarioError(f"--engine {engine}: use exact, statsmodels or bayes")
    if method not in ("REML", "ML"):
        raise ScenarioError(f"--method {method}: use REML or ML")
    if summed_by_duckdb(file):
        if engine != "exact":
            needs = (
                "statsmodels MixedLM needs the rows"
                if engine == "statsmodels"
                else "brms's default priors need the median and MAD of every row's y"
            )
            raise ScenarioError(
                f"--engine {engine}: {file} is summed per cluster by DuckDB (a large table, a glob or a folder), "
                f"and {needs}; the exact engine fits the sums (--engine exact)"
            )
        from .aggregate.on_duckdb import file_blocks
        from .fit.blocks import sums_plan
        from .fit.model_fit import fit_blocks

        blocks, dropped = file_blocks(file, sums_plan(parsed), on_progress=on_progress)
        return fit_blocks(blocks, parsed, method, dropped)
    table = read_table(file, text_columns=(parsed.group,))
    return fit_design(design(parsed, table), method, engine, bayes)


def view_for(estimates: Estimates, scenario: Scenario) -> Scenario:
    """A random-intercept model has no slopes for the intercept–slope views: unless a view was chosen,
    it is shown in the funnel view, or without a predictor in the caterpillar (a chosen view that cannot
    show it says so and names one that can)."""
    animation = scenario.animation
    if estimates.random == "slope" or "view" in animation.model_fields_set:
        return scenario
    # y ~ 1 + (1 | g): every cluster on its own row, sliding to the fixed intercept
    view = "funnel" if len(estimates.fixed_effects) > 1 else "caterpillar"
    return scenario.model_copy(update={"animation": animation.model_copy(update={"view": view})})


def storyboard(
    estimates: Estimates, scenario: Scenario, data: ModelData | pd.DataFrame | None = None
) -> storyboards.Storyboard:
    """What the scenario's view shows on each frame, in the data's own words when they come from a file.

    `data` (the modelled rows, as `ModelData` or a DataFrame of y, x, cluster) is needed by the lines view.
    """
    if isinstance(data, pd.DataFrame):
        data = as_model_data(data)
    if data is not None and data.frame is None and scenario.animation.view == "lines":
        raise ScenarioError(
            f"animation.view = lines draws the rows, and {data.source} was summed per cluster (a large table); "
            "choose another view (funnel, plane, stages or shrinkage)"
        )
    from_file = data is not None and isinstance(scenario.data, DataFileSpec)
    if from_file and not scenario.description:
        if estimates.formula is not None:
            model = formula_caption(estimates, estimates.formula)
            caption = f"{model} · {estimates.n_obs} rows in {estimates.n_groups} clusters"
        else:
            model = reports.formula(data, estimates.random)
            caption = f"{model}: {estimates.n_obs} rows in {estimates.n_groups} clusters"
        scenario = scenario.model_copy(update={"description": caption})
    elif not isinstance(scenario.data, DataFileSpec):  # a simulation: say which model the frames show
        term = "x" if estimates.random == "slope" else "1"
        model = f"Model: y ~ x + ({term} | cluster)"
        if scenario.model.formula is not None:
            model = formula_caption(estimates, scenario.model.formula)
        caption = f"{scenario.description} {model}" if scenario.description else model
        scenario = scenario.model_copy(update={"description": caption})
    estimates, drawn = drawn_clusters(estimates, scenario)
    if drawn:
        caption = f"{scenario.description.rstrip('.')}; {drawn}" if scenario.description else drawn
        scenario = scenario.model_copy(update={"description": caption})
    story = storyboards.build(estimates, scenario, data.frame if data is not None else None)
    group = data.group_name if data is not None else "cluster"
    if estimates.formula is not None and isinstance(story, storyboards.PlaneStory):
        shown = list(estimates.fixed_effects)[:2]
        story = dataclasses.replace(story, x_label=_axis(shown[0], group), y_label=_axis(shown[1], group))
    elif estimates.formula is not None and isinstance(story, storyboards.FunnelStory):
        labels = [_axis(name, group) for name in list(estimates.fixed_effects)[:2]]
        panels = tuple(
            dataclasses.replace(panel, label=label)
            for panel, label in zip(story.panels, labels, strict=False)
        )
        story = dataclasses.replace(story, panels=panels)
    elif from_file and isinstance(story, storyboards.PlaneStory):
        story = dataclasses.replace(
            story,
            x_label=f"Intercept (per {data.group_name})",
            y_label=f"Slope of {data.x_name} (per {data.group_name})",
        )
    elif from_file and isinstance(story, storyboards.LinesStory):
        panels = tuple(dataclasses.replace(panel, group_name=data.group_name) for panel in story.panels)
        story = dataclasses.replace(story, x_label=data.x_name or "x", y_label=data.y_name, panels=panels)
    elif from_file and isinstance(story, storyboards.FunnelStory):
        labels = [f"Intercept (per {data.group_name})", f"Slope of {data.x_name} (per {data.group_name})"]
        panels = tuple(
            dataclasses.replace(panel, label=label)
            for panel, label in zip(story.panels, labels, strict=False)
        )
        story = dataclasses.replace(story, panels=panels)
    return story


def _axis(name: str, group: str = "cluster") -> str:
    return f"Intercept (per {group})" if name == "(Intercept)" else f"Slope of {name} (per {group})"


def formula_caption(estimates: Estimates, formula: str) -> str:
    """The model on a frame, and how its own estimates are made when it has other fixed effects."""
    shown = list(estimates.fixed_effects)[: 2 if estimates.random == "slope" else 1]
    others = [name for name in list(estimates.fixed_effects)[len(shown) :] if name != "(Intercept)"]
    caption = f"Model: {formula}"
    if others:
        caption += f"; own estimates adjusted for {', '.join(others)} at the model's estimates"
    return caption


def drawn_clusters(estimates: Estimates, scenario: Scenario) -> tuple[Estimates, str | None]:
    """The clusters the animation draws: all, or past `DRAWN_CLUSTERS` a random sample (the scenario's
    seed) with a caption that says so; a frame of 100,000 points is a blot, and its SVG hundreds of MB."""
    n_groups = estimates.n_groups
    if n_groups <= DRAWN_CLUSTERS:
        return estimates, None
    seed = scenario.data.seed if isinstance(scenario.data, DataSpec) else 0
    keep = np.sort(np.random.default_rng(seed).choice(n_groups, DRAWN_CLUSTERS, replace=False))
    sample = dataclasses.replace(estimates, clusters=estimates.clusters.iloc[keep].reset_index(drop=True))
    return sample, f"a random {DRAWN_CLUSTERS:,} of {n_groups:,} clusters drawn"


def render(
    estimates: Estimates,
    scenario: Scenario,
    out_dir: Path,
    formats: tuple[Format, ...] | None = None,
    data: ModelData | pd.DataFrame | None = None,
) -> dict[str, Path]:
    """Draw the animation and write the requested formats into `out_dir`; returns kind → path.

    Files are named after the view: `<view>.gif`, `.mp4`, `.png` (final state) with `<view>_start.png`
    (first state), `.svg` (final state); see `animation.write_animation`.
    """
    story = storyboard(estimates, scenario, data)
    files = animation.output_files(
        scenario.animation.view, formats or scenario.animation.formats, out_dir, story.timeline.n_states
    )
    animation.write_animation(story, files)
    return files


def summary(
    estimates: Estimates,
    scenario: Scenario,
    files: dict[str, Path],
    timings: dict[str, float],
    report: reports.Report | None = None,
    story: storyboards.Storyboard | None = None,
) -> dict[str, Any]:
    """summary.json: the scenario, the fit's population numbers, the report's numbers, the axes of the
    first and the last frame (`view`), the files; timings under one key."""
    view = storyboards.camera_record(story) if story is not None else None
    return json_ready(
        {
            "scenario": scenario.model_dump(mode="json"),
            **estimates.population(),
            **({"view": view} if view is not None else {}),
            **(reports.numbers(report) if report is not None else {}),
            "files": sorted(path.name for path in files.values()),
            "timings": {key: round(value, 4) for key, value in timings.items()},
        }
    )


def run(
    scenario: Scenario,
    out_root: Path | str = "out",
    formats: tuple[Format, ...] | None = None,
    drawing: DrawingProcess | None = None,
    stage: Stage = quiet,
) -> RunResult:
    """Simulate (or read), fit, render and write everything for one scenario into out_root/<name>/.

    With `drawing` (a drawing process started before the heavy imports, see `shrinkvis.drawing`), the
    frames, stills and plot are drawn there while this process encodes the videos and writes the rest.
    `stage` hears the name of each stage as it starts (`shrinkvis.progress`).
    Another run writing into the same folder at the same time is an `OutputError` (see `folder_lock`).
    """
    out_dir = Path(out_root) / output_folder_name(scenario.name)
    with folder_lock(out_dir):
        return _run_into(out_dir, scenario, formats, drawing, stage)


def _run_into(
    out_dir: Path,
    scenario: Scenario,
    formats: tuple[Format, ...] | None,
    drawing: DrawingProcess | None,
    stage: Stage,
) -> RunResult:
    from .rates.spec import is_rates

    if is_rates(scenario):  # binomial, Poisson, known SEs: their own path (shrinkvis.rates)
        from .rates.pipeline import run_rates

        fit, files, rate_timings = run_rates(scenario, out_dir, formats, stage)
        return RunResult(scenario, fit.estimates, out_dir, files, rate_timings)
    timings: dict[str, float] = {}
    started = time.perf_counter()
    stage(reading_stage(scenario.data.file) if isinstance(scenario.data, DataFileSpec) else "simulating")
    data = source_data(scenario, stage)
    timings["read" if isinstance(scenario.data, DataFileSpec) else "simulate"] = time.perf_counter() - started

    started = time.perf_counter()
    stage("fitting")
    estimates = fit_data(data, scenario)
    timings["fit"] = time.perf_counter() - started

    started = time.perf_counter()
    stage("drawing")
    scenario = view_for(estimates, scenario)
    story = storyboard(estimates, scenario, data)
    report = reports.build(estimates, data, scenario.display_title)
    files = animation.output_files(
        scenario.animation.view, formats or scenario.animation.formats, out_dir, story.timeline.n_states
    )
    files["report_plot"] = out_dir / reports.PLOT_FILE
    files["report"] = out_dir / "report.md"
    files["csv"] = out_dir / "estimates.csv"

    if estimates.n_groups > PARQUET_CLUSTERS:
        files["parquet"] = out_dir / "estimates.parquet"

    def write_tables() -> None:
        write_text(files["report"], reports.markdown(report))
        table = estimates.clusters[estimates.table_columns]
        write_csv(files["csv"], table)
        if "parquet" in files:
            write_parquet(files["parquet"], table)

    if drawing is None:
        write_tables()
        animation.write_animation(story, files)
        with atomic_path(files["report_plot"]) as temporary:
            write_png(temporary, shrinkage_by_size(size_plot(report)))
    else:
        _draw_beside(drawing, story, files, size_plot(report), meanwhile=write_tables)
    timings["render"] = time.perf_counter() - started

    stage("writing")
    files["json"] = out_dir / "summary.json"
    write_json(files["json"], summary(estimates, scenario, files, timings, report, story))
    return RunResult(scenario, estimates, out_dir, files, timings, report, data)


def write_parquet(path: Path, table: pd.DataFrame) -> None:
    """The per-cluster table as Parquet (by DuckDB, which large runs have loaded already), atomically."""
    import duckdb

    with atomic_path(path) as temporary:
        con = duckdb.connect()
        try:
            con.register("estimates", table)
            con.execute(
                f"COPY estimates TO '{str(temporary).replace(chr(39), chr(39) * 2)}' (FORMAT parquet)"
            )
        finally:
            con.close()


def _draw_beside(
    drawing: DrawingProcess,
    story: storyboards.Storyboard,
    files: dict[str, Path],
    plot: SizePlot,
    meanwhile: Callable[[], None],
) -> None:
    """The drawing process draws the frames, the stills and the plot; this one encodes the videos."""
    videos = {kind: files[kind] for kind in animation.VIDEO_KINDS if kind in files}
    stills = {kind: files[kind] for kind in animation.STILL_KINDS if kind in files}
    job = Job(story, stills, videos=tuple(videos), plot=plot, plot_path=files["report_plot"])
    drawing.draw(job)
    meanwhile()
    if "mp4" in videos:
        import av  # noqa: F401 — loaded while the drawing process lays out its figure, not after
    with contextlib.ExitStack() as stack:
        animation.write_videos(drawing.frames(), story.fps, videos, stack, story)
        drawing.wait()  # inside the block: when the drawing fails, the videos are removed as well


def explain(scenario: Scenario) -> reports.Report:
    """The report of a scenario without rendering anything: data → fit → numbers."""
    from .rates.spec import is_rates

    if is_rates(scenario):
        raise ScenarioError(
            f"{scenario.name}: explain shows linear mixed models; for binomial, Poisson and known-SE models "
            "use shrinkvis.rates.summary.explain_text (as `shrinkvis explain` does)"
        )
    data = source_data(scenario)
    return reports.build(fit_data(data, scenario), data, scenario.display_title)
