"""Storyboards: what each frame shows, as plain numbers. No matplotlib here.

A storyboard says where everything is on every frame, in which colour and size, and which captions are
shown; the renderer only draws it, and tests assert on it without rendering a pixel. One module per view:
shrinkage and stages (the intercept–slope plane), lines (a panel per cluster), funnel (estimates against
cluster size); shared: easing, timeline, themes (palettes), presets (looks).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .common import Header, header
from .funnel import FunnelStory, funnel
from .lines import LinesStory, lines
from .plane import PlaneStory, on_one_scale
from .presets import Look, look
from .shrinkage import shrinkage
from .stages import stages
from .themes import Theme, theme
from .timeline import Timeline, timeline
from .truth import reveal_timeline, reveals_truth, with_truth_reveal

if TYPE_CHECKING:  # types only: a renderer process draws a storyboard without pandas or scipy
    import pandas as pd

    from ..fit import Estimates
    from ..scenario import Scenario

Storyboard = PlaneStory | LinesStory | FunnelStory

# How many key states each view moves through.
STATES = {"shrinkage": 2, "stages": 3, "lines": 2, "funnel": 2, "caterpillar": 2}

__all__ = [
    "FunnelStory",
    "Header",
    "LinesStory",
    "Look",
    "PlaneStory",
    "Storyboard",
    "Theme",
    "Timeline",
    "build",
]


def camera_record(story: Storyboard) -> dict[str, dict[str, list[float]]] | None:
    """The axes of the first and the last frame, for summary.json: {"start": {"intercept": [lo, hi],
    "slope": [lo, hi]}, "end": {…}} (a one-dimensional view: the axes it has); None for the lines view,
    whose panels each frame their own cluster."""
    camera = getattr(story, "camera", None)
    return None if camera is None else camera.record()


def build(estimates: Estimates, scenario: Scenario, data: pd.DataFrame | None = None) -> Storyboard:
    """The storyboard of the scenario's view; `data` (the modelled rows: y, x, cluster) for the lines view."""
    spec = scenario.animation
    view = spec.view
    the_look = look(spec.width, spec.height, spec.preset, theme(spec.theme, spec.palette), spec.math_text)
    the_header = header(scenario.display_title, scenario.description, estimates)
    # the Bayesian engine adds a third state to the funnel and the caterpillar: no pooling → REML → Bayes
    states = 3 if view in ("funnel", "caterpillar") and estimates.bayes is not None else STATES[view]
    the_timeline = timeline(spec.frames, spec.fps, spec.start_pause, spec.end_pause, spec.easing, states)
    if view in ("shrinkage", "stages"):
        return _plane(estimates, scenario, the_header, the_look, the_timeline)
    if view == "lines":
        return lines(estimates, data, spec, the_header, the_look, the_timeline)
    return funnel(estimates, spec, the_header, the_look, the_timeline, caterpillar=view == "caterpillar")


def _plane(
    estimates: Estimates, scenario: Scenario, the_header: Header, the_look: Look, the_timeline: Timeline
) -> PlaneStory:
    """The shrinkage (with the truth revealed, where it is) and stages views; `aspect: equal` last, on the
    views the story chose."""
    spec = scenario.animation
    if reveals_truth(estimates, spec):
        points, progress = reveal_timeline(
            spec.frames, spec.fps, spec.start_pause, spec.end_pause, spec.easing
        )
        story = shrinkage(estimates, spec, the_header, the_look, points)
        story = with_truth_reveal(story, estimates, spec, progress, the_look)
    elif spec.view == "shrinkage":
        story = shrinkage(estimates, spec, the_header, the_look, the_timeline)
    else:
        story = stages(estimates, spec, the_header, the_look, the_timeline)
    # fixed limits (yours, or a batch's shared axes) are kept as given
    return on_one_scale(story) if spec.aspect == "equal" and spec.zoom != "fixed" else story
