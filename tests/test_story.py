"""Storyboards are plain data: these tests assert on what would be drawn, without drawing."""

from __future__ import annotations

import typing

import numpy as np
import pytest

from shrinkvis import fit, story
from shrinkvis.errors import ScenarioError
from shrinkvis.scenario import Easing, load
from shrinkvis.simulate import simulate
from shrinkvis.story import themes
from shrinkvis.story.common import AUTO_ZOOM_SDS, LIMIT_PADDING, START_SHARE, edge_marks
from shrinkvis.story.easing import EASINGS, ease
from shrinkvis.story.funnel import Z_95
from shrinkvis.story.lines import choose_clusters, grid_shape
from shrinkvis.story.stages import stage_captions
from shrinkvis.story.timeline import timeline

SMALL = ["data.n_cluster=40", "animation.frames=40"]


def _scenario(name: str = "baseline", *overrides: str):
    return load(name, [*SMALL, *overrides])


@pytest.fixture(scope="module")
def baseline():
    scenario = _scenario()
    data = simulate(scenario.data)
    return scenario, data, fit(data, scenario.model)


@pytest.fixture(scope="module")
def unbalanced():
    scenario = _scenario("unbalanced")
    data = simulate(scenario.data)
    return scenario, data, fit(data, scenario.model)


@pytest.fixture(scope="module")
def random_intercept():
    scenario = _scenario("baseline", "model.random=intercept")
    data = simulate(scenario.data)
    return scenario, data, fit(data, scenario.model)


def _build(fitted, *overrides: str):
    scenario, data, estimates = fitted
    changed = load("baseline", [*SMALL, *overrides]) if overrides else scenario
    changed = scenario.model_copy(update={"animation": changed.animation})
    return story.build(estimates, changed, data)


# --- easing and timing ------------------------------------------------------------------------------


def test_easing_names_are_the_scenario_choices():
    assert set(EASINGS) == set(typing.get_args(Easing))
    assert len(EASINGS) == 10


@pytest.mark.parametrize("name", sorted(EASINGS))
def test_easing_starts_at_0_ends_at_1_and_never_goes_back(name):
    t = np.linspace(0, 1, 501)
    eased = ease(name, t)
    assert eased[0] == pytest.approx(0, abs=1e-12)
    assert eased[-1] == pytest.approx(1, abs=1e-12)
    assert np.all(np.diff(eased) >= -1e-12)


def test_easing_shapes():
    assert ease("cubic-in-out", np.array([0.25]))[0] == pytest.approx(4 * 0.25**3)  # gganimate's default
    assert ease("quadratic-in", np.array([0.5]))[0] == pytest.approx(0.25)
    assert ease("quadratic-out", np.array([0.5]))[0] == pytest.approx(0.75)
    assert ease("sine-in-out", np.array([0.5]))[0] == pytest.approx(0.5)
    t = np.linspace(0, 1, 11)
    for kind in ("quadratic", "cubic", "sine"):
        in_out = ease(f"{kind}-in-out", t)
        assert np.allclose(in_out + in_out[::-1], 1.0)  # symmetric about the middle


def test_timeline_holds_the_pauses_then_moves():
    line = timeline(100, 10, 0.15, 0.25, "linear")
    assert line.n_frames == 100
    assert np.all(line.position[:15] == 0)
    assert np.all(line.position[-25:] == 1)
    assert 0 < line.position[15 + 30] < 1
    assert np.all(np.diff(line.position) >= 0)


def test_timeline_with_three_states_holds_the_middle_one():
    line = timeline(120, 10, 0.15, 0.25, "cubic-in-out", n_states=3)
    assert line.n_frames == 120
    assert line.position[0] == 0 and line.position[-1] == 2
    assert np.sum(line.position == 1) >= 15  # the middle state holds as long as the first
    assert np.all(np.diff(line.position) >= 0)


@pytest.mark.parametrize("frames", [2, 3, 4, 5])
def test_timeline_with_very_few_frames_still_starts_and_ends(frames):
    for states in (2, 3):
        line = timeline(frames, 10, 0.15, 0.25, "cubic-in-out", n_states=states)
        assert line.n_frames == frames
        assert line.position[0] == 0 and line.position[-1] == states - 1


# --- shrinkage --------------------------------------------------------------------------------------


def test_shrinkage_starts_at_no_pooling_and_ends_at_the_blups(baseline):
    _, _, estimates = baseline
    board = _build(baseline)
    table = estimates.clusters
    assert board.view == "shrinkage"
    assert board.n_frames == 40 and board.fps == 10
    own = table[["no_pool_intercept", "no_pool_slope"]].to_numpy()
    assert np.allclose(board.start, own)
    # a point outside the view shows as its edge mark, and sets off from just beyond that edge
    inside = ~board.edge(0).outside
    assert np.allclose(board.positions(0)[inside], own[inside])
    assert np.allclose(board.positions(board.n_frames - 1), table[["partial_intercept", "partial_slope"]])
    assert np.allclose(
        board.fixed_effects, [estimates.fixed_effects["Intercept"], estimates.fixed_effects["x"]]
    )
    pooled = estimates.complete_pooling["estimates"]
    assert np.allclose(board.complete_pool, [pooled["Intercept"], pooled["x"]])


def test_shrinkage_colour_blends_from_no_to_partial_pooling(baseline):
    board = _build(baseline)
    theme = board.look.theme
    assert np.allclose(board.colors(0), theme.no_pool)
    assert np.allclose(board.colors(board.n_frames - 1), theme.partial_pool)
    middle = board.colors(board.n_frames // 2)[0]
    assert not np.allclose(middle, theme.no_pool) and not np.allclose(middle, theme.partial_pool)


def test_equal_clusters_get_one_size_and_no_size_legend(baseline):
    board = _build(baseline)
    assert np.ptp(board.sizes) == 0
    assert not any(entry.label.startswith("n = ") for entry in board.legend)


def test_sizes_grow_with_cluster_size_and_get_a_legend(unbalanced):
    board = _build(unbalanced)
    order = np.argsort(board.cluster_n, kind="stable")
    n, sizes = board.cluster_n[order], board.sizes[order]
    assert np.ptp(n) > 0
    assert np.all(np.diff(sizes) >= 0)
    assert np.all(np.diff(sizes)[np.diff(n) > 0] > 0)
    (size_key,) = [entry for entry in board.legend if entry.label.startswith("n = ")]
    assert size_key.label == f"n = {n.min()}, {int(np.median(n))}, {n.max()}"
    assert list(size_key.areas) == sorted(size_key.areas) and size_key.areas[0] < size_key.areas[-1]
    assert size_key.areas[0] == pytest.approx(sizes.min())
    assert size_key.areas[-1] == pytest.approx(sizes.max())


def test_twice_the_rows_look_different_and_small_clusters_are_drawn_on_top(unbalanced):
    """Issue 24: n = 2, 5 and 9 looked alike. Area grows like n (to the power 1 while the sizes fit the
    area range): twice the rows give clearly more ink, and the small clusters, who move most, come last."""
    board = _build(unbalanced)
    by_n = {int(n): float(area) for n, area in zip(board.cluster_n, board.sizes, strict=True)}
    doubled = [n for n in by_n if 2 * n in by_n]
    assert doubled
    for n in doubled:
        assert by_n[2 * n] / by_n[n] >= 1.5
    from shrinkvis.story.common import marker_sizes

    areas = marker_sizes(np.array([2, 5, 9]), board.look)  # the whole scenario's sizes (2 to 9 rows)
    assert areas[1] / areas[0] > 2.0 and areas[2] / areas[1] > 1.6  # n ratios 2.5 and 1.8
    drawn = board.sizes[board.draw_order]
    assert np.all(np.diff(drawn) <= 0)  # largest first: the smallest on top


def test_sizes_spanning_a_lot_still_tell_twice_the_rows_apart():
    from shrinkvis.story.common import POINT_AREA_RANGE, marker_sizes
    from shrinkvis.story.presets import look
    from shrinkvis.story.themes import theme

    small = look(600, 450, "small", theme("light", "okabe_ito"))
    n = np.array([2, 4, 40, 80, 3000])
    areas = marker_sizes(n, small)
    assert areas[0] == pytest.approx(POINT_AREA_RANGE[0]) and areas[-1] == pytest.approx(POINT_AREA_RANGE[1])
    assert areas[1] / areas[0] == pytest.approx(areas[3] / areas[2])  # one power law throughout
    assert areas[1] / areas[0] > 1.1


def test_the_biggest_movers_are_labelled_with_n_and_the_share_they_keep(unbalanced):
    _, _, estimates = unbalanced
    board = _build(unbalanced)
    own = estimates.clusters[["no_pool_intercept", "no_pool_slope"]].to_numpy(dtype=float)
    usable = np.all(np.isfinite(own), axis=1)
    spread = np.std(own[usable], axis=0, ddof=1)
    moved = np.linalg.norm((board.end - own) / spread, axis=1)
    moved[~usable] = -np.inf
    assert 3 <= len(board.labels) <= 5
    assert [label.cluster for label in board.labels] == list(np.argsort(-moved)[: len(board.labels)])
    center = board.fixed_effects
    for label in board.labels:
        j = label.cluster
        kept = np.linalg.norm((board.end[j] - center) / spread) / np.linalg.norm((own[j] - center) / spread)
        assert label.kept == pytest.approx(kept)
        assert label.n == board.cluster_n[j]
        assert label.text == f"n={label.n} · λ={kept:.2f}"
    assert any(entry.label.startswith("Ringed: n rows, λ") for entry in board.legend)
    frames = board.n_frames
    assert (
        board.label_alpha(0) == 0
        and board.label_alpha(frames // 2) == 0
        and board.label_alpha(frames - 1) == 1
    )


def test_a_random_intercept_shrinkage_share_is_one_minus_its_weight(random_intercept):
    """The share a label shows for a two-effect model is computed like λ_j's complement for one effect."""
    from shrinkvis.fit.shrinkage import adjusted_means, distance_shares, intercept_weights

    _, _, estimates = random_intercept
    own = adjusted_means(estimates)[:, None]
    partial = estimates.clusters[["partial_intercept"]].to_numpy(dtype=float)
    shares = distance_shares(own, partial, estimates.fixed_point[:1])
    np.testing.assert_allclose(1 - shares, intercept_weights(estimates), rtol=1e-6)


def test_contour_axes_come_from_sigma(baseline):
    _, _, estimates = baseline
    board = _build(baseline, "animation.contour_levels=[0.5, 0.9, 0.95]")
    sigma = estimates.cov_re
    eigenvalues, eigenvectors = np.linalg.eigh(sigma)
    assert [contour.level for contour in board.contours] == [0.5, 0.9, 0.95]
    for contour in board.contours:
        radius_squared = -2 * np.log(1 - contour.level)
        assert np.allclose(contour.semi_axes**2 / radius_squared, eigenvalues[::-1])
        assert np.allclose(contour.center, board.fixed_effects)
        direction = np.array([np.cos(np.radians(contour.angle)), np.sin(np.radians(contour.angle))])
        assert abs(direction @ eigenvectors[:, 1]) == pytest.approx(1)  # along the major eigenvector
        # every outline point sits at the level's Mahalanobis radius under Σ
        offsets = contour.outline() - contour.center
        distances = np.einsum("ij,jk,ik->i", offsets, np.linalg.inv(sigma), offsets)
        assert np.allclose(distances, radius_squared)
        assert contour.label == f"{contour.level:.0%}"
        assert contour.label_at is not None
    assert [c.semi_axes[0] for c in board.contours] == sorted(c.semi_axes[0] for c in board.contours)


def test_no_contours_when_asked_for_none(baseline):
    board = _build(baseline, "animation.contour_levels=[]")
    assert board.contours == ()
    assert not any("spread" in entry.label for entry in board.legend)


def test_auto_zoom_is_fixed_effects_plus_minus_three_sds_widened_to_most_starts_padded(baseline):
    _, _, estimates = baseline
    board = _build(baseline, "animation.camera=false")  # one view throughout
    assert not board.camera.moves
    for axis, limits in enumerate((board.xlim, board.ylim)):
        center = board.fixed_effects[axis]
        sd = np.sqrt(estimates.cov_re[axis, axis])
        partial = board.end[:, axis]
        starts = np.quantile(np.abs(board.start[:, axis] - center), START_SHARE)
        half = max(AUTO_ZOOM_SDS * sd, np.abs(partial - center).max(), starts)
        padded = half * (1 + 2 * LIMIT_PADDING)
        assert limits == pytest.approx((center - padded, center + padded))


def test_fit_zoom_shows_every_point(baseline):
    board = _build(baseline, "animation.zoom=fit")
    every = np.vstack([board.start, board.end])
    assert board.xlim[0] < every[:, 0].min() and board.xlim[1] > every[:, 0].max()
    assert board.ylim[0] < every[:, 1].min() and board.ylim[1] > every[:, 1].max()
    assert not board.edge(0).outside.any()


def test_fixed_limits_from_the_file_and_points_outside_are_marked_at_the_edge(baseline):
    board = _build(baseline, "animation.limits.intercept=[0.8, 1.2]", "animation.limits.slope=[0.3, 0.7]")
    assert board.xlim == (0.8, 1.2) and board.ylim == (0.3, 0.7)
    start = board.edge(0)
    outside = (
        (board.start[:, 0] < 0.8)
        | (board.start[:, 0] > 1.2)
        | (board.start[:, 1] < 0.3)
        | (board.start[:, 1] > 0.7)
    )
    assert outside.any()
    assert np.array_equal(start.outside, outside)
    marks = start.at[outside]
    assert np.all((marks[:, 0] >= 0.8) & (marks[:, 0] <= 1.2) & (marks[:, 1] >= 0.3) & (marks[:, 1] <= 0.7))
    assert np.all(np.isnan(start.at[~outside]))
    # each mark points out through the edge its point left by
    for side, (x, y) in zip(start.side[outside], board.start[outside], strict=True):
        assert (
            (side == "<" and x < 0.8)
            or (side == ">" and x > 1.2)
            or (side == "v" and y < 0.3)
            or (side == "^" and y > 0.7)
        )


def test_edge_marks_pick_the_edge_a_corner_point_is_furthest_beyond():
    marks = edge_marks(np.array([[0.5, 0.5], [2.0, 1.2], [-0.1, -3.0]]), (0.0, 1.0), (0.0, 1.0))
    assert marks.outside.tolist() == [False, True, True]
    assert marks.side.tolist() == ["", ">", "v"]
    assert 0.9 < marks.at[1, 0] < 1.0 and marks.at[1, 1] < 1.0


def test_transparency_by_extremeness(baseline):
    assert np.all(_build(baseline).alpha == 1)
    board = _build(baseline, "animation.transparency=extremeness")
    distance = np.hypot(*((board.start - board.fixed_effects) / board.start.std(axis=0)).T)
    assert board.alpha[np.argmax(distance)] == pytest.approx(1)
    assert board.alpha[np.argmin(distance)] == board.alpha.min() < 0.6
    assert np.allclose(board.colors(0)[:, 3], board.alpha)


# --- stages -----------------------------------------------------------------------------------------


def test_stages_go_complete_then_no_then_partial_pooling(baseline):
    _, _, estimates = baseline
    board = _build(baseline, "animation.view=stages")
    table = estimates.clusters
    assert np.allclose(board.positions(0), board.complete_pool)
    holding_no_pool = np.flatnonzero(board.timeline.position == 1)
    assert len(holding_no_pool) > 0
    assert np.allclose(board.states[1], table[["no_pool_intercept", "no_pool_slope"]])
    inside = ~board.edge(int(holding_no_pool[0])).outside
    assert np.allclose(
        board.positions(int(holding_no_pool[0]))[inside],
        table[["no_pool_intercept", "no_pool_slope"]][inside],
    )
    assert np.allclose(board.positions(board.n_frames - 1), table[["partial_intercept", "partial_slope"]])
    captions = [board.stage_caption(frame) for frame in range(board.n_frames)]
    shown = [caption for i, caption in enumerate(captions) if i == 0 or caption != captions[i - 1]]
    assert shown == list(stage_captions(len(table)))
    assert shown[0].startswith(f"1 · Complete pooling: all {len(table)} clusters")
    theme = board.look.theme
    assert np.allclose(board.colors(0), theme.complete_pool)
    assert np.allclose(board.colors(int(holding_no_pool[0])), theme.no_pool)
    # issue 24: each move is named, and coloured, from its first frame to its last: no caption changes
    # half-way through a move, and every frame's colour is one the legend shows
    position = board.timeline.position
    for frame in range(1, board.n_frames):
        if position[frame] != position[frame - 1] and position[frame - 1] % 1 != 0:  # mid-move
            assert captions[frame] == captions[frame - 1]
        assert any(np.allclose(board.colors(frame)[0], color) for color in board.state_colors)
    legend_colours = [entry.color for entry in board.legend]
    assert all(any(np.allclose(color, shown) for shown in legend_colours) for color in board.state_colors)
    # the black hole sits next to complete pooling: it appears only with partial pooling
    hole = board.mark("fixed_effects")
    assert board.mark_alpha(0, hole) == 0 and board.mark_alpha(int(holding_no_pool[0]), hole) == 0
    assert board.mark_alpha(board.n_frames - 1, hole) == 1
    # complete pooling's diamond is there from the first stage, around the clusters it stands for
    assert board.mark_alpha(0, board.mark("complete_pool")) == 1
    assert len(board.trails(0)) == 0 and len(board.trails(board.n_frames - 1)) == len(table)


# --- lines ------------------------------------------------------------------------------------------


def test_lines_morph_from_each_clusters_own_fit_to_its_partial_pooling_fit(baseline):
    _, data, estimates = baseline
    board = _build(baseline, "animation.view=lines")
    assert len(board.panels) == 12 and (board.rows, board.columns) == (3, 4)
    table = estimates.clusters.set_index(estimates.clusters["cluster"].astype(str))
    first, last = board.coefficients(0), board.coefficients(board.n_frames - 1)
    for index, panel in enumerate(board.panels):
        row = table.loc[panel.cluster]
        assert np.allclose(first[index], row[["no_pool_intercept", "no_pool_slope"]].to_numpy(dtype=float))
        assert np.allclose(last[index], row[["partial_intercept", "partial_slope"]].to_numpy(dtype=float))
        rows = data[data["cluster"].astype(str) == panel.cluster]
        assert np.allclose(np.sort(panel.x), np.sort(rows["x"])) and panel.n == len(rows)
    segments = board.segments(0)
    assert np.allclose(segments[:, :, 0], board.xlim)
    assert np.allclose(segments[:, :, 1], first[:, :1] + first[:, 1:] * np.array(board.xlim))
    moved = [panel.moved for panel in board.panels]
    assert moved == sorted(moved, reverse=True)  # panels run from the most to the least shrunk


def test_lines_pick_the_smallest_largest_most_and_least_shrunk(unbalanced):
    _, _, estimates = unbalanced
    board = _build(unbalanced, "animation.view=lines")
    table = estimates.clusters
    chosen = {panel.cluster for panel in board.panels}
    n = table["n"].to_numpy()
    assert str(table["cluster"].iloc[np.argmin(n)]) in chosen
    assert str(table["cluster"].iloc[np.argmax(n)]) in chosen
    ns = [panel.n for panel in board.panels]
    assert min(ns) == n.min() and max(ns) == n.max()


def test_choose_clusters_takes_turns_between_the_telling_lists():
    n = np.array([5, 5, 5, 5, 2, 9])
    moved = np.array([0.1, 3.0, 0.5, 0.01, 1.0, 0.2])
    assert choose_clusters(n, moved, 4) == [4, 5, 1, 3]
    assert sorted(choose_clusters(n, moved, 99)) == list(range(6))
    assert choose_clusters(np.full(4, 3), np.array([1.0, 2.0, np.nan, 0.5]), 3) == [1, 3, 0]


def test_grid_shape_fits_the_frame():
    assert grid_shape(12, 600, 450) == (3, 4)
    assert grid_shape(12, 800, 800) in {(3, 4), (4, 3)}
    rows, columns = grid_shape(12, 1280, 720)
    assert rows * columns >= 12 and columns >= rows


def test_lines_need_the_data(baseline):
    scenario, _, estimates = baseline
    lines_scenario = load("baseline", [*SMALL, "animation.view=lines"])
    with pytest.raises(ScenarioError, match="lines view draws the data"):
        story.build(estimates, lines_scenario, None)
    assert scenario.animation.view == "shrinkage"


# --- funnel -----------------------------------------------------------------------------------------


def test_funnel_moves_estimates_and_their_bars_from_no_to_partial_pooling(unbalanced):
    _, _, estimates = unbalanced
    board = _build(unbalanced, "animation.view=funnel")
    table = estimates.clusters
    assert [panel.label for panel in board.panels] == ["Intercept (per cluster)", "Slope of x (per cluster)"]
    last = board.n_frames - 1
    for index, effect in enumerate(("intercept", "slope")):
        panel = board.panels[index]
        assert panel.fixed_effect == estimates.fixed_effects["Intercept" if effect == "intercept" else "x"]
        assert np.allclose(board.estimates(0, index), table[f"no_pool_{effect}"])
        assert np.allclose(board.estimates(last, index), table[f"partial_{effect}"])
        bars = board.bars(0, index)
        assert np.allclose(bars[:, 1, 1] - bars[:, 0, 1], 2 * Z_95 * table[f"no_pool_{effect}_se"])
        bars = board.bars(last, index)
        assert np.allclose(bars[:, 1, 1] - bars[:, 0, 1], 2 * Z_95 * table[f"partial_{effect}_se"])
        # each cluster stands in a narrow column at its size
        assert np.all(np.abs(panel.x - table["n"]) < 0.5)
    assert set(board.xtick_labels) == {str(n) for n in table["n"].unique()}
    # auto zoom shows every estimate; fixed limits still apply
    for index in range(len(board.panels)):
        low, high = board.panels[index].ylim
        every = np.concatenate([board.estimates(0, index), board.estimates(last, index)])
        assert low < every.min() and every.max() < high
    fixed = _build(unbalanced, "animation.view=funnel", "animation.limits.intercept=[0, 2]")
    assert fixed.panels[0].ylim == (0, 2)
    assert fixed.edge(0, 0).outside.any()


def test_funnel_of_equal_sizes_is_a_caterpillar_ordered_by_estimate(baseline):
    board = _build(baseline, "animation.view=funnel")
    panel = board.panels[0]
    assert np.ptp(board.cluster_n) == 0
    order = np.argsort(panel.x)
    assert np.all(np.diff(panel.states[0][order]) >= 0)
    assert board.xtick_labels == () and board.x_label == "Rank of own estimate (n\u00a0=\u00a010\u00a0each)"


# --- random-intercept models -------------------------------------------------------------------------


@pytest.mark.parametrize("view", ["shrinkage", "stages"])
def test_plane_views_refuse_a_random_intercept_model_and_name_one_that_can(random_intercept, view):
    with pytest.raises(ScenarioError, match="use --view funnel"):
        _build(random_intercept, f"animation.view={view}")


def test_random_intercept_models_get_the_funnel_and_lines(random_intercept):
    _, _, estimates = random_intercept
    funnel_board = _build(random_intercept, "animation.view=funnel")
    assert [panel.label for panel in funnel_board.panels] == ["Intercept (per cluster)"]
    assert np.allclose(
        funnel_board.estimates(funnel_board.n_frames - 1, 0), estimates.clusters["partial_intercept"]
    )
    lines_board = _build(random_intercept, "animation.view=lines")
    final_slopes = lines_board.coefficients(lines_board.n_frames - 1)[:, 1]
    assert np.allclose(final_slopes, estimates.fixed_effects["x"])  # every cluster shares the fixed slope


# --- looks ------------------------------------------------------------------------------------------


def test_presets_set_the_size_and_scale_the_type(baseline):
    small = _build(baseline).look
    slide = _build(baseline, "animation.preset=slide").look
    square = _build(baseline, "animation.preset=square").look
    assert (small.width, small.height) == (600, 450)
    assert (slide.width, slide.height) == (1280, 720)
    assert (square.width, square.height) == (800, 800)
    assert small.title_size < square.title_size < slide.title_size
    assert small.tick_size < slide.tick_size
    assert _build(baseline, "animation.preset=slide", "animation.width=1920").look.width == 1920


def test_themes_and_palettes(baseline):
    light = _build(baseline).look.theme
    dark = _build(baseline, "animation.theme=dark").look.theme
    assert sum(dark.background[:3]) < 0.5 < sum(light.background[:3])
    assert sum(dark.text[:3]) > 2 > sum(light.text[:3])
    tol = _build(baseline, "animation.palette=tol_bright").look.theme
    assert tol.no_pool != light.no_pool
    for theme in (light, dark, tol):
        assert len({theme.no_pool, theme.partial_pool, theme.complete_pool}) == 3


def test_the_warning_of_a_fit_reaches_the_header(baseline):
    _, data, estimates = baseline
    scenario = _scenario()
    warned = type(estimates)(**{**estimates.__dict__, "warnings": ("singular fit: beware",)})
    assert story.build(warned, scenario, data).header.warning == "singular fit: beware"
    assert story.build(estimates, scenario, data).header.title == "Baseline"


def test_colours_in_between_are_blended_in_cielab_like_gganimate():
    from shrinkvis.story import colour_space

    orange, blue = np.array(themes.rgba("#E69F00")), np.array(themes.rgba("#0072B2"))
    # tweenr::tween_colour(list("#E69F00", "#0072B2"), 3)[[1]][2] is "#A3876F" (R 4.2, tweenr 2.0.2)
    halfway = colour_space.blend(orange, blue, 0.5)
    assert "#{:02X}{:02X}{:02X}".format(*(round(255 * value) for value in halfway[:3])) == "#A3876F"
    assert halfway[3] == 1.0
    assert np.allclose(colour_space.blend(orange, blue, 0.0), orange)
    assert np.allclose(colour_space.blend(orange, blue, 1.0), blue)
    # the conversions invert each other, and white and black sit where CIELAB puts them
    rgb = np.random.default_rng(1).random((500, 3))
    assert np.allclose(colour_space.lab_to_rgb(colour_space.rgb_to_lab(rgb)), rgb, atol=1e-12)
    assert np.allclose(colour_space.rgb_to_lab(np.ones(3)), [100, 0, 0], atol=1e-6)
    assert np.allclose(colour_space.rgb_to_lab(np.zeros(3)), [0, 0, 0], atol=1e-9)


def test_caterpillar_points_are_sized_by_n(unbalanced):
    board = _build(unbalanced, "animation.view=caterpillar")
    areas = np.asarray(board.point_area)
    assert areas.shape == board.cluster_n.shape
    order = np.argsort(board.cluster_n, kind="stable")
    assert np.all(np.diff(areas[order]) >= 0) and areas.max() > areas.min()
    assert any(entry.label.startswith("n = ") and entry.areas for entry in board.legend)


def test_shrinkage_by_size_keeps_every_cluster_at_its_own_size(unbalanced):
    """Issue 24: one cluster size was spread sideways; now the x axis is n itself, with each size's median."""
    from shrinkvis.fit.shrinkage import shrinkage_shares
    from shrinkvis.report.size_plot import SizePlot, size_figure, size_medians

    _, _, estimates = unbalanced
    n = estimates.clusters["n"].to_numpy(dtype=float)
    share = 100 * shrinkage_shares(estimates)
    figure = size_figure(SizePlot("Unbalanced", "cluster", n, share, None))
    try:
        (points,) = figure.findobj(lambda artist: artist.get_gid() == "clusters")
        drawn = points.get_offsets()
        inside = np.isfinite(share) & (share >= -50) & (share <= 150)
        np.testing.assert_array_equal(drawn[:, 0], n[inside])
        np.testing.assert_allclose(drawn[:, 1], share[inside])
        bars = figure.findobj(lambda artist: artist.get_gid() == "median")
        medians = size_medians(n, share)
        assert len(bars) == len(medians) > 0
        for bar, (size, median) in zip(bars, medians, strict=True):
            assert np.mean(bar.get_xdata()) == pytest.approx(size) and set(bar.get_ydata()) == {median}
    finally:
        figure.clear()


def test_more_slope_var_draws_both_axes_on_one_scale_so_its_ellipse_stands_up():
    """Issue 24: scaled each on its own, the axes laid the tall ellipse flat like baseline's."""
    scenario = _scenario("more_slope_var")
    assert scenario.animation.aspect == "equal"
    data = simulate(scenario.data)
    estimates = fit(data, scenario.model)
    board = story.build(estimates, scenario, data)
    free = story.build(
        estimates,
        scenario.model_copy(update={"animation": scenario.animation.model_copy(update={"aspect": "auto"})}),
    )
    assert board.box_aspect is not None
    for view, before in zip(board.camera.views, free.camera.views, strict=True):
        (x_low, x_high), (y_low, y_high) = view
        assert (y_high - y_low) / (x_high - x_low) == pytest.approx(board.box_aspect)
        assert (
            x_low <= before[0][0]
            and x_high >= before[0][1]
            and y_low <= before[1][0]
            and y_high >= before[1][1]
        )
    (x_low, x_high), (y_low, y_high) = board.camera.end
    for contour in board.contours:
        outline = contour.outline()
        # on one scale, in a box of the views' shape: its drawn height over its width is the data's
        tall = np.ptp(outline[:, 1]) / (y_high - y_low) * board.box_aspect
        wide = np.ptp(outline[:, 0]) / (x_high - x_low)
        assert tall / wide == pytest.approx(np.ptp(outline[:, 1]) / np.ptp(outline[:, 0]))
        assert tall > 1.5 * wide  # it stands up
    assert np.allclose(board.travel[-1], board.end)


def test_small_differ_draws_its_small_clusters_alike_and_on_top():
    """Issue 24: the small clusters, the scenario's subject, were the smallest dots, under the big ones."""
    scenario = _scenario("small_differ")
    assert scenario.animation.point_size == "equal"
    data = simulate(scenario.data)
    board = story.build(fit(data, scenario.model), scenario, data)
    assert np.ptp(board.sizes) == 0 and not any(entry.label.startswith("n = ") for entry in board.legend)
    drawn_n = board.cluster_n[board.draw_order]
    assert np.all(np.diff(drawn_n) <= 0) and drawn_n[-1] == board.cluster_n.min()  # the small ones last


def test_stages_write_a_still_of_their_middle_stage(tmp_path):
    from shrinkvis import animation

    files = animation.output_files("stages", ("png",), tmp_path, states=3)
    assert files["png_stage2"].name == "stages_stage2.png"
    assert "png_stage2" not in animation.output_files("shrinkage", ("png",), tmp_path)
