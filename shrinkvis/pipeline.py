"""The whole path for one scenario: simulate → fit → storyboard → frames → files."""

from __future__ import annotations

import contextlib
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from . import story as storyboards
from .encode import BackgroundWriter, GifWriter, Mp4Writer, shared_palette, write_png
from .fit import CLUSTER_COLUMNS, Estimates, fit
from .outputs import atomic_path, json_ready, write_csv, write_json
from .scenario import Format, Scenario
from .simulate import simulate

PALETTE_SAMPLES = 9  # frames spread over the animation that the shared GIF palette is built from


@dataclass(frozen=True)
class RunResult:
    scenario: Scenario
    estimates: Estimates
    out_dir: Path
    files: dict[str, Path]
    timings: dict[str, float] = field(default_factory=dict)


def output_folder_name(name: str) -> str:
    """A folder name that stays inside the output root whatever the scenario is called."""
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("._")
    return safe or "scenario"


def simulate_scenario(scenario: Scenario) -> pd.DataFrame:
    return simulate(scenario.data, np.random.default_rng(scenario.data.seed))


def storyboard(estimates: Estimates, scenario: Scenario) -> storyboards.Storyboard:
    return storyboards.shrinkage(
        estimates, scenario.animation, title=scenario.display_title, caption=scenario.description
    )


def palette_frames(progress: np.ndarray) -> list[int]:
    """The frames the shared GIF palette is built from, given each frame's progress (0 → 1).

    Spread evenly over the motion rather than over the frames: the pauses hold one picture for many
    frames, and the easing crosses the middle quickly, yet the middle's colours need entries too.
    """
    targets = np.linspace(progress.min(), progress.max(), PALETTE_SAMPLES)
    return sorted({int(np.argmin(np.abs(progress - target))) for target in targets})


def render(
    estimates: Estimates, scenario: Scenario, out_dir: Path, formats: tuple[Format, ...] | None = None
) -> dict[str, Path]:
    """Draw the animation and write the requested formats into `out_dir`; returns format → path.

    The frames are drawn once, in order, and handed to every video writer; the writers encode in
    their own threads while the next frame is drawn. Each file is written under a temporary name and
    renamed into place only once complete.
    """
    from .render import ShrinkageRenderer

    formats = formats or scenario.animation.formats
    story = storyboard(estimates, scenario)
    view = scenario.animation.view
    files = {fmt: out_dir / f"{view}.{fmt}" for fmt in formats}
    with contextlib.ExitStack() as stack:
        renderer = ShrinkageRenderer(story)
        stack.callback(renderer.close)
        writers: list[BackgroundWriter] = []
        if "gif" in formats:
            gif_path = stack.enter_context(atomic_path(files["gif"]))
            # a view without a timeline counts as moving evenly from the first frame to the last
            progress = getattr(story, "progress", np.linspace(0.0, 1.0, story.n_frames))
            samples = [renderer.frame(index) for index in palette_frames(np.asarray(progress))]

            def make_gif() -> GifWriter:
                return GifWriter(gif_path, story.fps, shared_palette(samples))

            writers.append(stack.enter_context(BackgroundWriter(make_gif, "gif")))
        if "mp4" in formats:
            mp4_path = stack.enter_context(atomic_path(files["mp4"]))
            width, height = renderer.size

            def make_mp4() -> Mp4Writer:
                return Mp4Writer(mp4_path, story.fps, width, height)

            writers.append(stack.enter_context(BackgroundWriter(make_mp4, "mp4")))
        last_frame = None
        if writers:
            for frame in renderer:
                for writer in writers:
                    writer.add(frame)
                last_frame = frame
            for writer in writers:
                writer.end()  # each finishes its file in its thread, side by side
        if "png" in formats:
            still = last_frame if last_frame is not None else renderer.frame(story.n_frames - 1)
            write_png(stack.enter_context(atomic_path(files["png"])), still)
    # leaving the block waited for the writers, raising any error of theirs, and renamed every file
    # into place (or removed them all after an error)
    return files


def summary(
    estimates: Estimates, scenario: Scenario, files: dict[str, Path], timings: dict[str, float]
) -> dict[str, Any]:
    """summary.json: the scenario, the fit's population numbers, the files; timings under one key."""
    return json_ready(
        {
            "scenario": scenario.model_dump(mode="json"),
            **estimates.population(),
            "files": sorted(path.name for path in files.values()),
            "timings": {key: round(value, 4) for key, value in timings.items()},
        }
    )


def run(
    scenario: Scenario, out_root: Path | str = "out", formats: tuple[Format, ...] | None = None
) -> RunResult:
    """Simulate, fit, render and write everything for one scenario into out_root/<name>/."""
    out_dir = Path(out_root) / output_folder_name(scenario.name)
    timings: dict[str, float] = {}
    started = time.perf_counter()
    data = simulate_scenario(scenario)
    timings["simulate"] = time.perf_counter() - started

    started = time.perf_counter()
    estimates = fit(data, scenario.model)
    timings["fit"] = time.perf_counter() - started

    started = time.perf_counter()
    files = render(estimates, scenario, out_dir, formats)
    timings["render"] = time.perf_counter() - started

    files["csv"] = out_dir / "estimates.csv"
    write_csv(files["csv"], estimates.clusters[list(CLUSTER_COLUMNS)])
    files["json"] = out_dir / "summary.json"
    write_json(files["json"], summary(estimates, scenario, files, timings))
    return RunResult(scenario, estimates, out_dir, files, timings)
