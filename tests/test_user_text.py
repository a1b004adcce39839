"""User text is text: titles, descriptions, column names and group labels are drawn as written, unless
`animation.math_text` opts in to matplotlib's mathtext."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from shrinkvis import fit, story
from shrinkvis.cli import app
from shrinkvis.errors import ScenarioError
from shrinkvis.render import renderer
from shrinkvis.scenario import load

DOLLARS = "From $5 to $10"
MACRO = r"$\foo$"


@pytest.mark.parametrize("view", ["shrinkage", "funnel", "lines"])
def test_dollars_and_backslashes_are_drawn_as_written(tmp_path, view):
    """Mathtext drew "From $5 to $10" as "From 5to10" and failed on $\\foo$ after the fit."""
    rng = np.random.default_rng(0)
    labels = np.repeat([MACRO, DOLLARS, "plain", "$x$"], 12)
    x = rng.normal(size=len(labels))
    frame = pd.DataFrame({"cost in $": 1 + 2 * x + rng.normal(size=len(labels)), MACRO: x, "g": labels})
    frame.to_csv(tmp_path / "rows.csv", index=False)
    out = tmp_path / "out"
    args = ["run", "--data", str(tmp_path / "rows.csv"), "--y", "cost in $", "--x", MACRO, "--group", "g"]
    args += ["--out", str(out), "--format", "png,svg", "--view", view, "--set", "animation.frames=4"]
    args += ["--set", f"title={DOLLARS}", "--set", f"description={MACRO} and {DOLLARS}"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert len(list(out.rglob("*.svg"))) == 1 and len(list(out.rglob("*.png"))) >= 1


def _figure_texts(math_text: bool, description: str = MACRO) -> list:
    scenario = load("baseline").model_copy(update={"title": DOLLARS, "description": description})
    scenario = scenario.model_copy(
        update={"animation": scenario.animation.model_copy(update={"math_text": math_text, "frames": 3})}
    )
    from shrinkvis.simulate import simulate

    estimates = fit(simulate(scenario.data), scenario.model)
    drawn = renderer(story.build(estimates, scenario))
    drawn.frame(0)
    from matplotlib.text import Text

    return [
        artist
        for artist in drawn.figure.findobj(Text)
        if DOLLARS in artist.get_text() or description in artist.get_text()
    ]


def test_texts_are_literal_unless_the_scenario_opts_in():
    literal = _figure_texts(math_text=False)
    assert any(DOLLARS in artist.get_text() for artist in literal)
    assert any(MACRO in artist.get_text() for artist in literal)
    assert all(not artist._parse_math for artist in literal)
    opted = _figure_texts(math_text=True, description=r"$\alpha_j$")
    assert opted and all(artist._parse_math for artist in opted)
    with pytest.raises(
        ScenarioError, match=r"animation.math_text: a text is not valid mathtext \(.*Unknown symbol"
    ):
        _figure_texts(math_text=True)
