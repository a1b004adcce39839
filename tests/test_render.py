"""The renderer draws a storyboard: right size, moving parts move, blitting restores the background."""

from __future__ import annotations

import numpy as np
import pytest

from shrinkvis import fit, story
from shrinkvis.render import BlitRenderer, renderer, style
from shrinkvis.scenario import load
from shrinkvis.simulate import simulate

VIEWS = ["shrinkage", "stages", "lines", "funnel", "caterpillar"]


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


def test_stage_captions_drawn_over_one_background_match_whole_drawings(fitted, monkeypatch):
    # each stage's background is the shared background with its caption drawn on top; drawing the whole
    # figure for every stage (the caption as an ordinary static artist) must give the same pixels
    over = _renderer(fitted, "animation.view=stages")
    monkeypatch.setattr(BlitRenderer, "versioned", lambda self, artist: artist)
    whole = _renderer(fitted, "animation.view=stages")
    try:
        stages = {over.background_key(index) for index in range(8)}
        assert len(stages) > 1
        for drawn, redrawn in zip(over, whole, strict=True):
            assert np.array_equal(drawn, redrawn)
        assert over.svg() == whole.svg()
    finally:
        over.close()
        whole.close()


@pytest.mark.parametrize("view", ["shrinkage", "funnel"])
def test_legend_floor_is_below_every_real_legend_width(fitted, view):
    # legends whose floor is too wide are skipped unbuilt: the floor must never exceed the real width
    drawn = _renderer(fitted, f"animation.view={view}", "animation.preset=slide")
    try:
        figure, look, entries = drawn.figure, drawn.story.look, drawn.story.legend
        widths = style.text_widths(figure, [entry.label for entry in entries], look.legend_size)
        font_px = look.legend_size * style.DPI / style.POINTS_PER_INCH
        for columns in range(1, len(entries) + 1):
            legend = style.make_legend(figure, entries, look, columns)
            real = legend.get_window_extent(figure.canvas.get_renderer()).width
            floor = style.legend_floor(widths, columns, style._handle_length(entries), font_px)
            assert 0.8 * real < floor <= real
            legend.remove()
    finally:
        drawn.close()


def test_the_readme_picture_is_what_the_current_code_draws(tmp_path):
    """docs/baseline.gif is `shrinkvis run baseline --format gif`; README says how to redraw it. Compared
    frame by frame after decoding (not as bytes, which depend on the encoder's version): the same number of
    frames, the same timing, and at most a sliver of pixels different (text rasterised a hair apart)."""
    from pathlib import Path

    from PIL import Image, ImageSequence

    from shrinkvis import pipeline

    pipeline.run(load("baseline", ["animation.formats=gif"]), tmp_path)
    fresh_path = tmp_path / "baseline" / "shrinkage.gif"
    docs_path = Path(__file__).parent.parent / "docs" / "baseline.gif"

    def frames(path):
        with Image.open(path) as gif:
            return [
                (np.asarray(frame.convert("RGB")), frame.info.get("duration"))
                for frame in ImageSequence.Iterator(gif)
            ]

    fresh, docs = frames(fresh_path), frames(docs_path)
    assert [duration for _, duration in docs] == [duration for _, duration in fresh], (
        "docs/baseline.gif is stale: redraw it with the command in README's first section"
    )
    for (old, _), (new, _) in zip(docs, fresh, strict=True):
        assert old.shape == new.shape
        assert np.mean(np.any(old != new, axis=2)) < 0.002, (
            "docs/baseline.gif is stale: redraw it with the command in README's first section"
        )


@pytest.mark.parametrize("view", ["funnel", "caterpillar", "shrinkage"])
def test_every_axis_label_lies_within_the_narrowest_figure(view):
    """At the `small` preset (600 px wide) a long label such as "Rank of own estimate (n = 4 each)" under
    the right-hand panel ran past the figure's edge: labels wrap instead, and no text is cut off."""
    scenario = load(
        "singular_slope", ["animation.frames=4", "animation.preset=small", f"animation.view={view}"]
    )
    data = simulate(scenario.data)
    drawn = renderer(story.build(fit(data, scenario.model), scenario, data))
    try:
        drawn.frame(0)
        figure = drawn.figure
        width, height = figure.canvas.get_width_height()
        texts = [axes.xaxis.label for axes in figure.axes] + [axes.yaxis.label for axes in figure.axes]
        assert texts
        for text in texts:
            box = text.get_window_extent(figure.canvas.get_renderer())
            assert box.x0 >= 0 and box.x1 <= width and box.y0 >= 0 and box.y1 <= height, text.get_text()
    finally:
        drawn.close()
