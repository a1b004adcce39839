"""The renderer draws a storyboard: right size, moving parts move, blitting restores the background."""

from __future__ import annotations

import numpy as np
import pytest

from shrinkvis import fit, story
from shrinkvis.render import renderer
from shrinkvis.scenario import load
from shrinkvis.simulate import simulate

VIEWS = ["shrinkage", "stages", "lines", "funnel"]


@pytest.fixture(scope="module")
def fitted():
    scenario = load("unbalanced", ["data.n_cluster=30"])
    data = simulate(scenario.data)
    return data, fit(data, scenario.model)


def _renderer(fitted, *overrides: str):
    data, estimates = fitted
    scenario = load("unbalanced", ["data.n_cluster=30", "animation.frames=8", *overrides])
    return renderer(story.build(estimates, scenario, data))


@pytest.mark.parametrize("view", VIEWS)
def test_every_view_draws_frames_of_the_right_size_that_move(fitted, view):
    drawn = _renderer(fitted, f"animation.view={view}")
    try:
        frames = list(drawn)
        assert len(frames) == 8
        assert drawn.size == (600, 450)
        assert all(frame.shape == (450, 600, 4) and frame.dtype == np.uint8 for frame in frames)
        assert all(np.all(frame[..., 3] == 255) for frame in frames)  # RGBA, opaque
        assert not np.array_equal(frames[0], frames[-1])
        # blitting: the background is restored, so drawing a frame again gives the same pixels
        assert np.array_equal(drawn.frame(0), frames[0])
        assert np.array_equal(drawn.frame(7), frames[-1])
        # the first frames hold the start (start_pause), so they are identical; a held frame is handed
        # out again, and equals the same frame drawn afresh
        assert np.array_equal(frames[0], frames[1])
        assert not np.array_equal(drawn.frame(7), drawn.frame(1))
        assert np.array_equal(drawn.frame(1), frames[0])
    finally:
        drawn.close()


def test_presets_and_themes_set_size_and_background(fitted):
    slide = _renderer(fitted, "animation.preset=slide", "animation.theme=dark")
    square = _renderer(fitted, "animation.preset=square", "animation.view=funnel")
    try:
        frame = slide.frame(0)
        assert frame.shape == (720, 1280, 4)
        assert frame[2, 2, :3].max() < 60  # dark background in the corner
        assert square.frame(0).shape == (800, 800, 4)
        assert square.frame(0)[2, 2, :3].min() > 240
    finally:
        slide.close()
        square.close()


def test_svg_of_the_final_state_is_byte_reproducible(fitted):
    first = _renderer(fitted, "animation.view=stages")
    second = _renderer(fitted, "animation.view=stages")
    try:
        svg = first.svg()
        assert svg.startswith(b"<?xml") and b"<svg" in svg
        assert b"<dc:date>" not in svg
        assert svg == second.svg()
        # writing the SVG leaves the frames as they were
        assert np.array_equal(first.frame(7), second.frame(7))
    finally:
        first.close()
        second.close()
