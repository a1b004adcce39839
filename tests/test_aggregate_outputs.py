"""Large runs: progress on a terminal only, and outputs that stay readable (extremes, a drawn sample, Parquet)."""

from __future__ import annotations

import io
import json

import duckdb
import pandas as pd
from rich.console import Console
from typer.testing import CliRunner

from shrinkvis import pipeline, progress
from shrinkvis.cli import app
from shrinkvis.scenario import load


def test_stages_leave_one_line_each_on_a_terminal():
    screen = io.StringIO()
    with progress.stages(Console(file=screen, force_terminal=False, width=80)) as stage:
        stage("reading")
        stage.detail("42 %")
        stage("fitting")
    lines = [line.split() for line in screen.getvalue().splitlines() if line.strip()]
    assert [line[0] for line in lines] == ["reading", "fitting"]
    assert all(line[2] == "s" and float(line[1]) >= 0 for line in lines)


def test_a_100_000_cluster_run_writes_readable_outputs(tmp_path):
    args = ["run", "baseline", "--out", str(tmp_path), "--format", "png,svg", "--set", "animation.frames=3"]
    result = CliRunner().invoke(app, [*args, "--set", "data.n_cluster=100001"])
    assert result.exit_code == 0, result.output
    assert "fitting" not in result.output  # not a terminal: no progress
    folder = tmp_path / "baseline"
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["n_groups"] == 100_001
    assert 20 <= len(summary["shrinkage"]) <= 40
    assert "estimates.csv has every cluster" in summary["shrinkage_listed"]
    quantiles = summary["shrinkage_quantiles"]
    assert quantiles["0"] <= quantiles["0.5"] <= quantiles["1"]
    assert (folder / "summary.json").stat().st_size < 100_000
    report = (folder / "report.md").read_text()
    assert "of 100,001 clusters listed" in report and report.count("\n|") < 50
    assert len(pd.read_csv(folder / "estimates.csv")) == 100_001
    parquet = duckdb.sql(f"SELECT count(*), count(DISTINCT cluster) FROM '{folder / 'estimates.parquet'}'")
    assert parquet.fetchall()[0] == (100_001, 100_001)
    svg = (folder / "shrinkage.svg").read_text()
    assert "100,001" in svg and (folder / "shrinkage.svg").stat().st_size < 2_000_000


def test_the_drawn_sample_is_seeded_and_says_how_many(monkeypatch):
    monkeypatch.setattr(pipeline, "DRAWN_CLUSTERS", 40)
    scenario = load("baseline", ["data.n_cluster=100"])
    data = pipeline.source_data(scenario)
    estimates = pipeline.fit_data(data, scenario)
    sample, note = pipeline.drawn_clusters(estimates, scenario)
    again, _ = pipeline.drawn_clusters(estimates, scenario)
    assert note == "a random 40 of 100 clusters drawn"
    assert list(sample.clusters["cluster"]) == list(again.clusters["cluster"])
    assert set(sample.clusters["cluster"]) < set(estimates.clusters["cluster"])
    story = pipeline.storyboard(estimates, scenario, data)
    assert "; a random 40 of 100 clusters drawn" in story.header.caption  # (the engine's name follows)
    assert pipeline.drawn_clusters(sample, scenario) == (sample, None)  # 40 of 40: all drawn, no note
