"""What a lecturer sees at a glance, as numbers: the black hole on top and big enough, scenarios on one
view, no point racing between frames, movers big enough to follow, every funnel cluster moving toward
the fixed line. Most checks read the storyboard; the black hole is also measured in pixels of real renders."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageSequence

from shrinkvis import animation, pipeline, story
from shrinkvis.rates.spec import is_rates
from shrinkvis.render import renderer
from shrinkvis.scenario import builtin_names, load
from shrinkvis.story.common import MIN_POINT_PX, START_SHARE
from shrinkvis.story.plane import BLACK_HOLE_CORE_PX
from shrinkvis.story.presets import PRESET_SCALES, pixels_across

# the linear model's scenarios: the rates scenarios have views of their own (tests/test_rates.py)
BUILTIN_NAMES = [name for name in builtin_names() if not is_rates(load(name))]
SMALL = ["data.n_cluster=40", "animation.frames=12"]
MAX_STEP_PX = 15.0
HOLE_PIXELS = 250


def _fitted(name: str, *overrides: str):
    scenario = load(name, list(overrides))
    data = pipeline.source_data(scenario)
    return scenario, data, pipeline.fit_data(data, scenario)


def _story(name: str, *overrides: str):
    scenario, data, estimates = _fitted(name, *overrides)
    return pipeline.storyboard(estimates, scenario, data), estimates


@pytest.fixture(scope="module")
def builtin():
    return {name: _fitted(name) for name in BUILTIN_NAMES}


# --- the black hole -----------------------------------------------------------------------------------


@pytest.mark.parametrize("view", ["shrinkage", "stages"])
@pytest.mark.parametrize("preset", sorted(PRESET_SCALES))
def test_fixed_effects_are_a_solid_core_drawn_last_and_scaled_with_the_preset(view, preset):
    board, estimates = _story("baseline", *SMALL, f"animation.view={view}", f"animation.preset={preset}")
    assert board.layers[-1] == "marks"
    core = board.marks[-1]
    assert core.name == "fixed_effects" and not core.hollow
    assert core.color == board.look.theme.fixed_effect
    assert np.allclose(core.at, estimates.fixed_point)
    assert pixels_across(core.area) >= 18 * board.look.scale
    assert pixels_across(core.area) == pytest.approx(BLACK_HOLE_CORE_PX * board.look.scale)
    assert board.mark_alpha(board.n_frames - 1, core) == 1
    # Clark's two semi-transparent disks under it, a big faint one and a smaller darker one
    halo = [mark for mark in board.marks if mark.name.startswith("halo")]
    assert len(halo) == 2 and halo[0].area > halo[1].area > core.area
    assert 0 < halo[0].color[3] < halo[1].color[3] < 1
    # complete pooling stays visible when it coincides with the fixed effects: an outline wider than the core
    diamond = board.mark("complete_pool")
    assert diamond.hollow and diamond.edge_width > 0 and diamond.area > core.area
    assert board.marks.index(diamond) < board.marks.index(core)


def _hole_pixels(frame: np.ndarray, centre_px: tuple[float, float], colour) -> tuple[int, float]:
    """Pixels of the black hole's colour within 2 core radii of its centre, and the share of the pixels
    within 0.8 core radii that are that colour (1: nothing drawn over it)."""
    height = frame.shape[0]
    rows, columns = np.mgrid[0:height, 0 : frame.shape[1]]
    x, y = centre_px
    distance = np.hypot(columns + 0.5 - x, rows + 0.5 - (height - y))  # Agg's y runs up
    target = np.array(colour[:3]) * 255
    close = np.all(np.abs(frame[..., :3].astype(float) - target) <= 25, axis=2)
    radius = BLACK_HOLE_CORE_PX / 2
    return int(np.sum(close & (distance <= 2 * radius))), float(np.mean(close[distance <= 0.8 * radius]))


@pytest.mark.parametrize("name", BUILTIN_NAMES)
def test_black_hole_is_a_solid_disk_over_everything_in_the_final_still_and_gif(name, tmp_path):
    # (singular_slope's own view is the funnel: the black hole is the shrinkage view's)
    board, estimates = _story(name, "data.n_cluster=40", "animation.frames=10", "animation.view=shrinkage")
    files = animation.output_files("shrinkage", ("gif", "png"), tmp_path)
    animation.write_animation(board, files)
    drawer = renderer(board)
    drawer.frame(board.n_frames - 1)  # the camera's last view
    centre = drawer._axes.transData.transform(estimates.fixed_point)
    colour = board.look.theme.fixed_effect
    with Image.open(files["gif"]) as gif:
        last_gif = np.asarray(list(ImageSequence.Iterator(gif))[-1].convert("RGB"))
    still = np.asarray(Image.open(files["png"]).convert("RGB"))
    for frame in (still, last_gif):
        count, covered = _hole_pixels(frame, centre, colour)
        assert count >= HOLE_PIXELS
        assert covered == 1.0
    drawer.close()


def _story_of(scenario):
    data = pipeline.source_data(scenario)
    estimates = pipeline.fit_data(data, scenario)
    return pipeline.storyboard(estimates, scenario, data), estimates


def test_baseline_opens_without_rows_of_edge_marks():
    board, _ = _story("baseline")
    assert np.mean(board.edge(0).outside) <= 1 - START_SHARE + 0.01


# --- motion ---------------------------------------------------------------------------------------------


def _shrinkage(scenario):
    """The scenario shown in the shrinkage view (singular_slope's own is the funnel)."""
    return scenario.model_copy(
        update={"animation": scenario.animation.model_copy(update={"view": "shrinkage"})}
    )


def _visible_steps(board) -> np.ndarray:
    """(F − 1, J) how far each point moves on screen between frames, in pixels; a point outside the view is
    seen as its edge mark."""
    drawer = renderer(board)
    shown = []
    for frame in range(board.n_frames):
        positions = board.positions(frame).copy()
        edge = board.edge(frame)
        positions[edge.outside] = edge.at[edge.outside]
        drawer.show_view(drawer.view_key(frame))  # on screen: the camera moves too
        shown.append(drawer._axes.transData.transform(positions))
    drawer.close()
    return np.linalg.norm(np.diff(np.stack(shown), axis=0), axis=2)


@pytest.mark.parametrize("name", BUILTIN_NAMES)
def test_no_point_moves_more_than_15_px_between_frames_at_the_small_preset(builtin, name):
    scenario, data, estimates = builtin[name]
    board = pipeline.storyboard(estimates, _shrinkage(scenario), data)
    assert board.look.scale == 1
    assert _visible_steps(board).max() <= MAX_STEP_PX


def test_far_starts_set_off_from_the_edge_and_keep_their_true_start(builtin):
    scenario, data, estimates = builtin["fewer_obs"]
    board = pipeline.storyboard(estimates, scenario, data)
    table = estimates.clusters
    own = table[["no_pool_intercept", "no_pool_slope"]].to_numpy(dtype=float)
    assert np.allclose(board.start, own, equal_nan=True)
    outside = board.edge(0).outside
    assert outside.any()
    # what frame 0 shows of a far cluster is the same edge mark
    true_marks = story.plane.edge_marks(own, board.xlim, board.ylim)
    assert np.allclose(board.edge(0).at[outside], true_marks.at[outside])
    assert np.allclose(board.positions(0)[~outside], own[~outside])


def test_smallest_clusters_stay_visible(builtin):
    scenario, data, estimates = builtin["unbalanced"]
    board = pipeline.storyboard(estimates, scenario, data)
    assert pixels_across(board.sizes.min()) >= MIN_POINT_PX
    order = np.argsort(board.cluster_n)
    assert np.all(np.diff(board.sizes[order]) >= 0)


# --- the funnel -----------------------------------------------------------------------------------------


def test_random_intercept_funnel_moves_every_cluster_toward_the_line_by_its_weight():
    from shrinkvis.fit.shrinkage import adjusted_means, intercept_weights

    board, estimates = _story(
        "unbalanced", "model.random=intercept", "data.n_cluster=60", "animation.view=funnel"
    )
    panel = board.panels[0]
    start, end = panel.states
    fixed = panel.fixed_effect
    assert np.allclose(start, adjusted_means(estimates))
    weights = intercept_weights(estimates)
    assert np.allclose(end - fixed, weights * (start - fixed), atol=1e-8)
    assert np.all(np.abs(end - fixed) <= np.abs(start - fixed) + 1e-12)  # nobody moves away


def test_one_size_funnel_is_a_caterpillar_with_its_funnel_lines():
    board, estimates = _story("baseline", *SMALL, "animation.view=funnel")
    panel = board.panels[0]
    assert sorted(panel.x) == list(range(1, 41))
    assert np.all(np.diff(panel.states[0][np.argsort(panel.x)]) >= 0)  # ranked by own estimate
    assert "Rank" in board.x_label and len(board.xticks) == 0
    tau2 = estimates.cov_re[0, 0]
    half = 1.96 * np.sqrt(tau2 + estimates.residual_sd**2 / 10)
    lower, upper = panel.funnel_lines
    assert np.allclose(lower[:, 1], panel.fixed_effect - half) and np.allclose(
        upper[:, 1], panel.fixed_effect + half
    )


# --- the caterpillar (y ~ 1 + (1 | g)) ------------------------------------------------------------------


def test_caterpillar_puts_each_cluster_on_its_row_sliding_sideways_by_its_weight():
    from shrinkvis.fit.shrinkage import adjusted_means, intercept_weights

    board, estimates = _story(
        "unbalanced", "model.random=intercept", "data.n_cluster=30", "animation.view=caterpillar"
    )
    assert board.view == "caterpillar" and board.horizontal
    panel = board.panels[0]
    start, end = panel.states
    assert sorted(panel.x) == list(range(1, 31))  # one row each, whatever the sizes
    assert np.all(np.diff(start[np.argsort(panel.x)]) >= 0)  # ranked by own mean
    assert np.allclose(
        end - panel.fixed_effect,
        intercept_weights(estimates) * (adjusted_means(estimates) - panel.fixed_effect),
    )
    # drawn sideways: the estimate is the x coordinate, the row the y coordinate
    assert np.allclose(board.points(0, 0), np.column_stack([start, panel.x]))
    xlim, ylim, x_label, y_label = board.axes(0)
    assert xlim == pytest.approx(board.camera.start[0]) and ylim == board.xlim
    assert y_label.startswith("Clusters, ranked")
    assert len(board.xticks) == 0


def test_a_model_without_predictor_gets_the_caterpillar_and_refusals_name_views_that_work():
    from shrinkvis.errors import ScenarioError

    scenario, data, estimates = _fitted("baseline", "data.n_cluster=20", "model.random=intercept")
    frame = data.frame.drop(columns="x")
    from shrinkvis import fit

    no_x = fit(frame, scenario.model)
    assert pipeline.view_for(no_x, scenario).animation.view == "caterpillar"
    assert pipeline.view_for(estimates, scenario).animation.view == "funnel"
    for view in ("shrinkage", "stages"):
        chosen = load("baseline", ["data.n_cluster=20", "model.random=intercept", f"animation.view={view}"])
        with pytest.raises(ScenarioError, match="use --view funnel or --view caterpillar$"):
            story.build(no_x, chosen, frame)
        with pytest.raises(ScenarioError, match="--view caterpillar or --view lines$"):
            story.build(estimates, chosen, data.frame)
    lines = load("baseline", ["data.n_cluster=20", "model.random=intercept", "animation.view=lines"])
    with pytest.raises(ScenarioError, match="use --view caterpillar or --view funnel"):
        story.build(no_x, lines, frame)
    caterpillar = load(
        "baseline", ["data.n_cluster=20", "model.random=intercept", "animation.view=caterpillar"]
    )
    assert story.build(no_x, caterpillar, frame).view == "caterpillar"


# --- the lines view --------------------------------------------------------------------------------------


def test_lines_panels_include_the_reports_most_and_least_shrunk_and_name_the_group(tmp_path):
    from shrinkvis import scenario as scenarios
    from shrinkvis.fit.shrinkage import shrinkage_shares

    table = pipeline.simulate_scenario(load("unbalanced", ["data.n_cluster=30"]))
    path = tmp_path / "sleep.csv"
    table.rename(columns={"cluster": "Subject"}).to_csv(path, index=False)
    chosen = scenarios.for_data(path, formula="y ~ x + (x | Subject)", overrides=["animation.view=lines"])
    data = pipeline.source_data(chosen)
    estimates = pipeline.fit_data(data, chosen)
    board = pipeline.storyboard(estimates, chosen, data)
    shares = shrinkage_shares(estimates)
    labels = estimates.clusters["cluster"].astype(str).to_numpy()
    shown = [panel.cluster for panel in board.panels]
    assert labels[np.nanargmax(shares)] in shown and labels[np.nanargmin(shares)] in shown
    assert board.panels[0].title.startswith("Subject ")
    assert [entry.line for entry in board.legend if entry.label.startswith("No pooling")] == [":"]


def test_simulated_frames_say_which_model_they_show():
    board, _ = _story("baseline", *SMALL, "model.random=intercept", "animation.view=funnel")
    assert "Model: y ~ x + (1 | cluster) · " in board.header.caption  # the engine follows
    board, _ = _story("baseline", *SMALL)
    assert "Model: y ~ x + (x | cluster) · " in board.header.caption


# --- the GIF palette --------------------------------------------------------------------------------------


@pytest.mark.parametrize("view", ["shrinkage", "funnel"])
def test_gif_palette_follows_the_colour_blend_in_small_steps(view):
    """Every frame's blend colour has a palette entry within a few RGB units, so the quantised colour moves
    in small steps with the frames (no thousands of pixels jumping from slate to blue at once)."""
    from shrinkvis.encode import shared_palette

    board, _ = _story("baseline", "data.n_cluster=40", f"animation.view={view}")
    drawer = renderer(board)
    samples = [drawer.frame(index).copy() for index in animation.palette_frames(board.timeline.position)]
    drawer.close()
    reserved = animation.blend_colours(board)
    palette = shared_palette(samples, reserved).astype(float)
    assert len(palette) <= 255
    assert {tuple(colour) for colour in reserved} <= {tuple(colour) for colour in palette.astype(np.uint8)}
    true = (
        np.array([board.timeline.blend_colours(board.state_colors, f)[:3] for f in range(board.n_frames)])
        * 255
    )
    nearest = palette[np.argmin(((true[:, None, :] - palette[None]) ** 2).sum(axis=2), axis=1)]
    assert np.linalg.norm(true - nearest, axis=1).max() <= 8
    assert np.linalg.norm(np.diff(nearest, axis=0), axis=1).max() <= 15


def test_no_point_moves_more_than_15_px_between_frames_on_the_shared_batch_view(builtin):
    from shrinkvis.story.plane import shared_limits, view_reach

    intercept, slope = shared_limits([view_reach(estimates) for _, _, estimates in builtin.values()])
    for scenario, data, estimates in builtin.values():
        shared = load(
            scenario.name,
            [
                f"animation.limits.intercept=[{intercept[0]}, {intercept[1]}]",
                f"animation.limits.slope=[{slope[0]}, {slope[1]}]",
                "animation.view=shrinkage",
            ],
        )
        board = pipeline.storyboard(estimates, shared, data)
        assert board.xlim == intercept and board.ylim == slope
        assert _visible_steps(board).max() <= MAX_STEP_PX


@pytest.mark.parametrize("preset", ["small", "slide", "square"])
def test_one_scale_is_drawn_in_a_box_of_the_views_shape(preset):
    """aspect: equal — a unit of intercept and a unit of slope take the same number of pixels."""
    board, _ = _story("more_slope_var", f"animation.preset={preset}")
    drawer = renderer(board)
    try:
        box = drawer.figure.axes[-1].bbox
        for frame in (0, board.n_frames // 2, board.n_frames - 1):
            (x_low, x_high), (y_low, y_high) = board.limits_at(frame)
            assert box.width / (x_high - x_low) == pytest.approx(box.height / (y_high - y_low), rel=0.01)
        assert 0.7 * drawer.size[1] * 0.56 < box.height  # the box keeps most of the figure's height
    finally:
        drawer.close()


def test_singular_slope_shows_reml_and_bayes_together_named_with_a_still_of_each_stage(tmp_path):
    """Issue 24: REML and Bayes were never on screen together, nothing on the frame said which showed,
    and the stills skipped REML's collapse."""
    from shrinkvis.story.funnel import BAYES_CAPTIONS

    scenario, data, estimates = _fitted("singular_slope", "animation.frames=24")
    board = pipeline.storyboard(estimates, scenario, data)
    assert board.stage_captions == BAYES_CAPTIONS and board.beside > 0
    last = board.n_frames - 1
    for panel, one in enumerate(board.panels):
        kept_points, _ = board.kept(last, panel)
        np.testing.assert_allclose(kept_points[:, 1], one.states[1])  # REML stays …
        np.testing.assert_allclose(board.points(last, panel)[:, 1], one.states[2])  # … beside Bayes
        np.testing.assert_allclose(board.points(last, panel)[:, 0] - kept_points[:, 0], 2 * board.beside)
        assert board.kept(0, panel) is None
    middle = animation.middle_frame(board)
    assert board.timeline.position[middle] == 1.0 and board.stage_caption(middle) == BAYES_CAPTIONS[1]
    assert board.stage_caption(last) == BAYES_CAPTIONS[2] and board.stage_caption(0) == BAYES_CAPTIONS[0]
    assert np.allclose(board.color(last), board.state_colors[2])
    files = pipeline.render(estimates, scenario, tmp_path, ("png",), data)
    assert files["png_stage2"].name == "funnel_stage2.png"
    stills = [np.asarray(Image.open(files[kind])) for kind in ("png_start", "png_stage2", "png")]
    assert not np.array_equal(stills[0], stills[1]) and not np.array_equal(stills[1], stills[2])
