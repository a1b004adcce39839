"""The whole path for one scenario: simulate (or read a table) → fit → storyboard → frames → files."""

from __future__ import annotations

import contextlib
import dataclasses
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from . import report as reports
from . import story as storyboards
from .data import ModelData, read_model_data, simulated_model_data
from .encode import GifWriter, Mp4Writer, shared_palette, write_png
from .fit import CLUSTER_COLUMNS, Estimates, fit
from .outputs import atomic_path, json_ready, write_csv, write_json, write_text
from .scenario import DataFileSpec, Format, Scenario
from .shrinkage_plot import shrinkage_by_size
from .simulate import simulate

PALETTE_SAMPLES = 5  # frames spread over the animation that the shared GIF palette is built from


@dataclass(frozen=True)
class RunResult:
    scenario: Scenario
    estimates: Estimates
    out_dir: Path
    files: dict[str, Path]
    timings: dict[str, float] = field(default_factory=dict)
    report: reports.Report | None = None


def output_folder_name(name: str) -> str:
    """A folder name that stays inside the output root whatever the scenario is called.

    Only letters, digits, `_`, `-` and inner dots survive, so no separator, no `..`, no absolute path,
    no hidden folder; at most 100 characters, well under every file system's limit.
    """
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", name)[:100].strip("._-")
    return safe or "scenario"


def simulate_scenario(scenario: Scenario) -> pd.DataFrame:
    if isinstance(scenario.data, DataFileSpec):
        raise TypeError(f"scenario {scenario.name} reads {scenario.data.file}; it has nothing to simulate")
    return simulate(scenario.data, np.random.default_rng(scenario.data.seed))


def source_data(scenario: Scenario) -> ModelData:
    """The data step: read the table the scenario names, or simulate its data."""
    if isinstance(scenario.data, DataFileSpec):
        return read_model_data(scenario.data)
    return simulated_model_data(simulate_scenario(scenario), scenario.data)


def fit_data(data: ModelData, scenario: Scenario) -> Estimates:
    return fit(data.frame, scenario.model, x_name=data.x_name or "x")


def storyboard(
    estimates: Estimates, scenario: Scenario, data: ModelData | None = None
) -> storyboards.Storyboard:
    caption = scenario.description
    if not caption and data is not None and isinstance(scenario.data, DataFileSpec):
        caption = f"{reports.formula(data, estimates.random)}: {estimates.n_obs} rows in {estimates.n_groups} clusters"
    story = storyboards.shrinkage(
        estimates, scenario.animation, title=scenario.display_title, caption=caption
    )
    if data is not None:  # the axes in the data's own words
        slope = story.y_label.startswith("Slope")
        story = dataclasses.replace(
            story,
            x_label=f"Intercept (per {data.group_name})",
            y_label=f"Slope of {data.x_name} (per {data.group_name})" if slope else story.y_label,
        )
    return story


def render(
    estimates: Estimates,
    scenario: Scenario,
    out_dir: Path,
    formats: tuple[Format, ...] | None = None,
    data: ModelData | None = None,
) -> dict[str, Path]:
    """Draw the animation and write the requested formats into `out_dir`; returns format → path.

    Each file is written under a temporary name and renamed into place only once complete.
    """
    from .render import ShrinkageRenderer

    formats = formats or scenario.animation.formats
    story = storyboard(estimates, scenario, data)
    view = scenario.animation.view
    files = {fmt: out_dir / f"{view}.{fmt}" for fmt in formats}
    with contextlib.ExitStack() as stack:
        renderer = ShrinkageRenderer(story)
        stack.callback(renderer.close)
        writers: list[GifWriter | Mp4Writer] = []
        if "gif" in formats:
            picks = np.linspace(0, story.n_frames - 1, PALETTE_SAMPLES).round().astype(int)
            palette = shared_palette([renderer.frame(int(index)) for index in picks])
            writers.append(GifWriter(stack.enter_context(atomic_path(files["gif"])), story.fps, palette))
        if "mp4" in formats:
            width, height = renderer.size
            writers.append(
                Mp4Writer(stack.enter_context(atomic_path(files["mp4"])), story.fps, width, height)
            )
        if writers:
            for frame in renderer:
                for writer in writers:
                    writer.add(frame)
            for writer in writers:
                writer.close()
        if "png" in formats:
            write_png(stack.enter_context(atomic_path(files["png"])), renderer.frame(story.n_frames - 1))
    return files


def summary(
    estimates: Estimates,
    scenario: Scenario,
    files: dict[str, Path],
    timings: dict[str, float],
    report: reports.Report | None = None,
) -> dict[str, Any]:
    """summary.json: the scenario, the fit's population numbers, the report's numbers, the files; timings
    under one key."""
    return json_ready(
        {
            "scenario": scenario.model_dump(mode="json"),
            **estimates.population(),
            **(reports.numbers(report) if report is not None else {}),
            "files": sorted(path.name for path in files.values()),
            "timings": {key: round(value, 4) for key, value in timings.items()},
        }
    )


def run(
    scenario: Scenario, out_root: Path | str = "out", formats: tuple[Format, ...] | None = None
) -> RunResult:
    """Simulate (or read), fit, render and write everything for one scenario into out_root/<name>/."""
    out_dir = Path(out_root) / output_folder_name(scenario.name)
    timings: dict[str, float] = {}
    started = time.perf_counter()
    data = source_data(scenario)
    timings["read" if isinstance(scenario.data, DataFileSpec) else "simulate"] = time.perf_counter() - started

    started = time.perf_counter()
    estimates = fit_data(data, scenario)
    timings["fit"] = time.perf_counter() - started

    started = time.perf_counter()
    files = render(estimates, scenario, out_dir, formats, data)
    timings["render"] = time.perf_counter() - started

    started = time.perf_counter()
    report = reports.build(estimates, data, scenario.display_title)
    files["report_plot"] = out_dir / reports.PLOT_FILE
    with atomic_path(files["report_plot"]) as temporary:
        write_png(temporary, shrinkage_by_size(report))
    files["report"] = out_dir / "report.md"
    write_text(files["report"], reports.markdown(report))
    timings["report"] = time.perf_counter() - started

    files["csv"] = out_dir / "estimates.csv"
    write_csv(files["csv"], estimates.clusters[list(CLUSTER_COLUMNS)])
    files["json"] = out_dir / "summary.json"
    write_json(files["json"], summary(estimates, scenario, files, timings, report))
    return RunResult(scenario, estimates, out_dir, files, timings, report)


def explain(scenario: Scenario) -> reports.Report:
    """The report of a scenario without rendering anything: data → fit → numbers."""
    data = source_data(scenario)
    return reports.build(fit_data(data, scenario), data, scenario.display_title)
