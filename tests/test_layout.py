"""Nothing overlaps, nothing is clipped: the extents of every drawn text, measured on the rendered figure
(matplotlib's get_window_extent, and the outlines the camera's ticks and the contour labels are drawn
as), for every view × preset × theme × built-in scenario, and for a table of one's own with 30-character
group labels and many groups. Checked on the first, the middle and the last frame."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from matplotlib.text import Text
from matplotlib.transforms import Bbox

from shrinkvis import pipeline
from shrinkvis.rates.spec import RATE_VIEWS, is_rates
from shrinkvis.render import renderer
from shrinkvis.scenario import builtin_names, for_data, load

VIEWS = ("shrinkage", "stages", "lines", "funnel", "caterpillar")
PRESETS = ("small", "slide", "square")
THEMES = ("light", "dark")
OWN = "own_long_labels"
# the rates scenarios (binomial, Poisson, known SEs: issue 27) draw their own views on their own path
RATES = tuple(name for name in builtin_names() if is_rates(load(name)))
SCENARIOS = (*(name for name in builtin_names() if name not in RATES), OWN)
TOLERANCE_PX = 1.0  # antialiasing: boxes that share a pixel column do not collide
OWN_GROUPS = 300
LONG_LABEL = 30


def own_table(folder) -> str:
    """300 groups with 30-character labels, 2 to 40 rows each."""
    rng = np.random.default_rng(24)
    rows = []
    for group in range(OWN_GROUPS):
        label = f"{group:03d} Northfield Community Academy"[:LONG_LABEL]
        size = int(rng.integers(2, 41))
        effect = rng.normal(0, [1.0, 0.4])
        for _ in range(size):
            x = rng.uniform(0, 5)
            rows.append(f"{label},{x:.3f},{10 + effect[0] + (1 + effect[1]) * x + rng.normal(0, 1.5):.3f}")
    path = folder / "schools.csv"
    path.write_text("school,hours,score\n" + "\n".join(rows) + "\n")
    return str(path)


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    result = {}
    for name in SCENARIOS:
        if name == OWN:
            file = own_table(tmp_path_factory.mktemp("own"))
            scenario = for_data(file, y="score", x="hours", group="school")
        else:
            scenario = load(name)
        data = pipeline.source_data(scenario)
        result[name] = (scenario, data, pipeline.fit_data(data, scenario))
    return result


def _boxes_of_outlines(collection, figure) -> list[Bbox]:
    """The window extents of the text outlines in one of our PathCollections (see render.moving_ticks)."""
    scale = figure.dpi / 72.0
    offsets = collection.get_offset_transform().transform(collection.get_offsets())
    faces = collection.get_facecolors()
    boxes = []
    for index, path in enumerate(collection.get_paths()):
        face = faces[index % len(faces)] if len(faces) else np.zeros(4)
        if face[3] == 0 or len(path.vertices) < 3:  # a tick mark, not a label
            continue
        vertices = path.vertices * scale + offsets[index % len(offsets)]
        boxes.append(Bbox([vertices.min(axis=0), vertices.max(axis=0)]))
    return boxes


def drawn_text(drawer) -> list[tuple[str, Bbox]]:
    """(text, window extent) of everything written on the frame drawn last."""
    figure = drawer.figure
    canvas_renderer = figure.canvas.get_renderer()
    tick_labels = set()
    shown = []
    for axes in figure.axes:
        for axis in (axes.xaxis, axes.yaxis):
            for tick in axis.get_major_ticks() + axis.get_minor_ticks():
                tick_labels.update((tick.label1, tick.label2))
            if not axes.axison:
                continue
            for tick in axis._update_ticks():  # the ticks in view, as matplotlib draws them
                for label in (tick.label1, tick.label2):
                    if label.get_visible() and label.get_text():
                        shown.append((label.get_text(), label.get_window_extent(canvas_renderer)))
    for text in figure.findobj(Text):
        if text in tick_labels or not text.get_text().strip() or not text.get_visible():
            continue
        if text.get_alpha() == 0 or (text.axes is not None and not text.axes.get_visible()):
            continue
        shown.append((text.get_text(), text.get_window_extent(canvas_renderer)))
    for collection in figure.findobj(lambda artist: artist.get_gid() in ("moving-ticks", "contour-labels")):
        boxes = _boxes_of_outlines(collection, figure)
        if collection.get_gid() == "contour-labels":  # clipped to the plot: only those inside show
            boxes = boxes[: len(boxes) // 2]  # each label's box, then its text: the boxes hold the texts
            plot = collection.axes.bbox
            boxes = [box for box in boxes if plot.contains(box.x0, box.y0) and plot.contains(box.x1, box.y1)]
        shown += [(collection.get_gid(), box) for box in boxes]
    return shown


def problems(drawer) -> list[str]:
    figure = drawer.figure
    width, height = drawer.size
    found = []
    texts = drawn_text(drawer)
    for text, box in texts:
        if (
            box.x0 < -TOLERANCE_PX
            or box.y0 < -TOLERANCE_PX
            or box.x1 > width + TOLERANCE_PX
            or box.y1 > height + TOLERANCE_PX
        ):
            found.append(f"clipped: {text!r} at {np.round(box.extents, 1)} in {width}×{height}")
    for (text_a, a), (text_b, b) in itertools.combinations(texts, 2):
        overlap_x = min(a.x1, b.x1) - max(a.x0, b.x0)
        overlap_y = min(a.y1, b.y1) - max(a.y0, b.y0)
        if overlap_x > TOLERANCE_PX and overlap_y > TOLERANCE_PX:
            found.append(f"overlap: {text_a!r} and {text_b!r}")
    del figure
    return found


def _case(fitted, name, view, preset, theme):
    scenario, data, estimates = fitted[name]
    animation = scenario.animation.model_copy(update={"view": view, "preset": preset, "theme": theme})
    from shrinkvis.scenario import PRESET_SIZES

    width, height = PRESET_SIZES[preset]
    animation = animation.model_copy(update={"width": width, "height": height, "frames": 24})
    return pipeline.storyboard(estimates, scenario.model_copy(update={"animation": animation}), data)


def problems_over_frames(board) -> tuple[list[str], list]:
    """The problems of the first, the middle and the last frame, and the movers' labels placed."""
    drawer = renderer(board)
    try:
        found = []
        for frame in sorted({0, board.n_frames // 2, board.n_frames - 1}):
            drawer.frame(frame)
            found += [f"frame {frame}: {problem}" for problem in problems(drawer)]
        placed = getattr(drawer, "placed_labels", [])
    finally:
        drawer.close()
    return found, placed


@pytest.mark.parametrize("theme", THEMES)
@pytest.mark.parametrize("preset", PRESETS)
@pytest.mark.parametrize("view", VIEWS)
@pytest.mark.parametrize("name", SCENARIOS)
def test_no_text_overlaps_or_leaves_the_figure(fitted, name, view, preset, theme):
    board = _case(fitted, name, view, preset, theme)
    found, placed = problems_over_frames(board)
    assert not found, "\n".join(found)
    labels = getattr(board, "labels", ())
    # the biggest movers are named on the plot: at least three of them (or every one, with fewer)
    assert len(placed) >= min(3, len(labels)), f"{len(placed)} of {len(labels)} labels placed"


@pytest.fixture(scope="module")
def rates_fitted():
    from shrinkvis.rates.pipeline import fit_rates, rate_data

    return {name: (load(name), fit_rates(rate_data(load(name)), load(name))) for name in RATES}


@pytest.mark.parametrize("theme", THEMES)
@pytest.mark.parametrize("preset", PRESETS)
@pytest.mark.parametrize("view", RATE_VIEWS)
@pytest.mark.parametrize("name", RATES)
def test_no_text_overlaps_or_leaves_the_figure_in_the_rates_views(rates_fitted, name, view, preset, theme):
    """The rates scenarios (surgical, baseball, eight_schools, hospitals) on their own views: 18 players'
    names at the small preset ran into each other before their size was fitted to the rows."""
    from shrinkvis.rates.pipeline import storyboard
    from shrinkvis.scenario import PRESET_SIZES

    scenario, fit = rates_fitted[name]
    width, height = PRESET_SIZES[preset]
    animation = scenario.animation.model_copy(
        update={
            "view": view,
            "preset": preset,
            "theme": theme,
            "width": width,
            "height": height,
            "frames": 24,
        }
    )
    found, _ = problems_over_frames(storyboard(fit, scenario.model_copy(update={"animation": animation})))
    assert not found, "\n".join(found)


def test_the_measure_sees_an_overlap_and_a_clipped_text(fitted):
    """The check itself: a text put on another, and one put past the edge, are found."""
    board = _case(fitted, "baseline", "shrinkage", "small", "light")
    drawer = renderer(board)
    try:
        drawer.frame(0)
        title = drawer.figure._suptitle
        x, y = drawer.figure.transFigure.inverted().transform(title.get_window_extent().p0)
        drawer.figure.text(x + 0.01, y, "over the title")
        drawer.figure.text(0.99, 0.5, "past the right edge")
        found = problems(drawer)
    finally:
        drawer.close()
    assert any("over the title" in problem and "overlap" in problem for problem in found)
    assert any("past the right edge" in problem and "clipped" in problem for problem in found)


def test_lines_titles_name_each_school_once_with_its_real_n_and_leave_room_for_each_other(tmp_path):
    """Issue 26: at the default size the panel titles ran into each other ("school School C · n = 8school
    School F · n = 8") and one read "School E · n = 2" where the real n is 27 (its 7 under the next title)."""
    rng = np.random.default_rng(26)
    sizes = {"School A": 8, "School B": 15, "School C": 8, "School D": 40, "School E": 27, "School F": 8}
    sizes |= {"School G": 3, "School H": 60}
    rows = [
        f"{school},{x:.3f},{50 + 2 * x + rng.normal(0, 4):.3f}"
        for school, n in sizes.items()
        for x in rng.uniform(0, 10, n)
    ]
    file = tmp_path / "schools.csv"
    file.write_text("school,hours,score\n" + "\n".join(rows) + "\n")
    scenario = for_data(file, y="score", x="hours", group="school", overrides=["animation.view=lines"])
    data = pipeline.source_data(scenario)
    board = pipeline.storyboard(pipeline.fit_data(data, scenario), scenario, data)
    drawer = renderer(board)
    try:
        drawer.frame(board.n_frames - 1)
        titles = [axes.get_title() for axes in drawer.figure.axes if " · n = " in axes.get_title()]
        assert sorted(titles) == sorted(f"{school} · n = {n}" for school, n in sizes.items())
        assert not problems(drawer)
    finally:
        drawer.close()


def _own_groups(folder, groups: int) -> str:
    rng = np.random.default_rng(groups)
    rows = []
    for group in range(groups):
        size = int(rng.integers(2, 41))
        effect = rng.normal(0, [1.0, 0.4])
        for x in rng.uniform(0, 5, size):
            rows.append(
                f"School {group:04d},{x:.3f},{10 + effect[0] + (1 + effect[1]) * x + rng.normal(0, 1.5):.3f}"
            )
    path = folder / f"schools_{groups}.csv"
    path.write_text("school,hours,score\n" + "\n".join(rows) + "\n")
    return str(path)


@pytest.mark.parametrize("groups", [3, 3000])
def test_own_data_of_3_and_of_3000_groups_gets_a_sensible_view(tmp_path, groups):
    """Issue 24: a sensible view from 3 to 3,000 groups — the start holds ≥ 90% of the own estimates, the
    end ≥ 95% of the pooled ones, the biggest movers are named, the points of a crowd are smaller, and
    nothing written overlaps or is clipped (shrinkage and caterpillar views)."""
    from shrinkvis.story.common import CROWD_FLOOR, POINT_AREA_RANGE

    file = _own_groups(tmp_path, groups)
    for view in ("shrinkage", "caterpillar"):
        scenario = for_data(
            file,
            y="score",
            x="hours",
            group="school",
            overrides=[f"animation.view={view}", "animation.frames=24"],
        )
        data = pipeline.source_data(scenario)
        estimates = pipeline.fit_data(data, scenario)
        board = pipeline.storyboard(estimates, scenario, data)
        drawer = renderer(board)
        try:
            found = []
            for frame in (0, board.n_frames // 2, board.n_frames - 1):
                drawer.frame(frame)
                found += [f"{view} frame {frame}: {problem}" for problem in problems(drawer)]
            placed = getattr(drawer, "placed_labels", [])
        finally:
            drawer.close()
        assert not found, "\n".join(found)
        if view != "shrinkage":
            continue
        (x0, x1), (y0, y1) = board.limits_at(0)
        own = board.states[0]
        assert np.mean((own[:, 0] >= x0) & (own[:, 0] <= x1) & (own[:, 1] >= y0) & (own[:, 1] <= y1)) >= 0.9
        (x0, x1), (y0, y1) = board.limits_at(board.n_frames - 1)
        end = board.end
        assert np.mean((end[:, 0] >= x0) & (end[:, 0] <= x1) & (end[:, 1] >= y0) & (end[:, 1] <= y1)) >= 0.95
        assert len(board.labels) == min(5, len(board.cluster)) and len(placed) >= 3
        if groups > 1000:
            assert board.sizes.max() <= CROWD_FLOOR * POINT_AREA_RANGE[1] * board.look.scale**2 + 1e-9
