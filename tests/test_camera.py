"""The camera, as storyboard data: which part of the plane (or of an estimate axis) each frame shows.

The done-when numbers of issue 24 for every built-in scenario, in its own view and in the shrinkage
view: ≥ 90% of the no-pooling estimates inside the start view, ≥ 95% of the partial-pooling estimates
inside the end view, and their 5–95% span filling ≥ 30% of the end view on at least one axis."""

from __future__ import annotations

import json

import numpy as np
import pytest

from shrinkvis import pipeline
from shrinkvis.rates.spec import is_rates
from shrinkvis.scenario import builtin_names, load
from shrinkvis.story.camera import FENCE_IQRS, MIN_END_SHARE, STILL_FILL, fence, framed, span_share

# the rates scenarios (issue 27) draw their own views on their own path
BUILTIN_NAMES = [name for name in builtin_names() if not is_rates(load(name))]


@pytest.fixture(scope="module")
def fitted():
    result = {}
    for name in BUILTIN_NAMES:
        scenario = load(name)
        data = pipeline.source_data(scenario)
        estimates = pipeline.fit_data(data, scenario)
        result[name] = (pipeline.view_for(estimates, scenario), data, estimates)
    return result


def _with(scenario, **animation):
    return scenario.model_copy(update={"animation": scenario.animation.model_copy(update=animation)})


def _inside(points: np.ndarray, view) -> np.ndarray:
    inside = np.ones(len(points), dtype=bool)
    for axis, (low, high) in enumerate(view):
        inside &= (points[:, axis] >= low) & (points[:, axis] <= high)
    return inside


def _fill(values: np.ndarray, limits) -> float:
    low, high = np.quantile(values, [0.05, 0.95])
    return (high - low) / (limits[1] - limits[0])


@pytest.mark.parametrize("name", BUILTIN_NAMES)
def test_shrinkage_view_opens_on_the_own_estimates_and_ends_on_the_final_state(fitted, name):
    scenario, data, estimates = fitted[name]
    board = pipeline.storyboard(estimates, _with(scenario, view="shrinkage"), data)
    camera = board.camera
    own, partial = board.states[-2], board.states[-1]
    assert np.mean(_inside(own, camera.start)) >= 0.90
    assert np.mean(_inside(partial, camera.end)) >= 0.95
    assert max(_fill(partial[:, axis], camera.end[axis]) for axis in (0, 1)) >= 0.30
    # the final state shows the black hole and, where revealed, the truths
    assert np.all(_inside(board.fixed_effects[None, :], camera.end))
    if board.truth is not None:
        assert np.mean(_inside(board.truth.truth, camera.end)) >= 0.95


@pytest.mark.parametrize("name", BUILTIN_NAMES)
def test_every_scenarios_own_view_frames_its_story(fitted, name):
    """singular_slope is a funnel: each panel's estimate axis is framed the same way."""
    scenario, data, estimates = fitted[name]
    board = pipeline.storyboard(estimates, scenario, data)
    camera = board.camera
    if hasattr(board, "panels"):  # funnel, caterpillar: one estimate axis per panel
        for panel, (start, end) in enumerate(zip(camera.start, camera.end, strict=True)):
            own = board.panels[panel].states[0]
            assert np.mean((own >= start[0]) & (own <= start[1])) >= 0.90
            for pooled in board.panels[panel].states[1:]:
                assert np.mean((pooled >= end[0]) & (pooled <= end[1])) >= 0.95
        assert max(_fill(p.states[-1], end) for p, end in zip(board.panels, camera.end, strict=True)) >= 0.30
    else:
        assert np.mean(_inside(board.states[-2], camera.start)) >= 0.90
        assert np.mean(_inside(board.states[-1], camera.end)) >= 0.95


def test_the_camera_moves_only_where_one_view_cannot_frame_both_ends(fitted):
    moving = {
        name
        for name, (scenario, data, estimates) in fitted.items()
        if pipeline.storyboard(estimates, _with(scenario, view="shrinkage"), data).camera.moves
    }
    # the wild starts of 3-row clusters, the small clusters apart, REML's collapse: the end would be crammed
    assert {"fewer_obs", "small_differ", "singular_slope"} <= moving
    # baseline's own view frames its start and its end well: it stays (and costs no more to draw)
    assert "baseline" not in moving and "more_obs" not in moving
    for name in fitted.keys() - moving:
        scenario, data, estimates = fitted[name]
        board = pipeline.storyboard(estimates, _with(scenario, view="shrinkage"), data)
        assert max(span_share(board.end[:, axis], board.camera.end[axis]) for axis in (0, 1)) >= STILL_FILL


def test_the_camera_moves_with_the_points_eased_alike(fitted):
    scenario, data, estimates = fitted["fewer_obs"]
    board = pipeline.storyboard(estimates, _with(scenario, truth=False), data)
    camera = board.camera
    assert camera.moves
    views = np.array([camera.view(frame) for frame in range(board.n_frames)])  # (F, 2, 2)
    # held while the points hold, moving while they move, by the same share of the way
    share = (views - views[0]) / (views[-1] - views[0])
    assert np.allclose(share, board.timeline.position[:, None, None])
    # never a jump: no limit moves more than 5% of the view's span between two frames
    steps = np.abs(np.diff(views, axis=0)) / (views[:, :, 1:] - views[:, :, :1])[1:]
    assert steps.max() <= 0.05


def test_stages_move_the_camera_only_from_no_pooling_to_partial_pooling(fitted):
    scenario, data, estimates = fitted["fewer_obs"]
    board = pipeline.storyboard(estimates, _with(scenario, view="stages"), data)
    position = board.timeline.position
    held = position <= 1  # complete → no pooling: the points spread into the start view
    assert board.camera.moves
    assert all(board.limits_at(frame) == board.camera.start for frame in np.flatnonzero(held))
    assert board.limits_at(board.n_frames - 1) == board.camera.end


def test_a_wild_cluster_does_not_set_the_view_and_enters_from_a_legend_explained_edge_mark(fitted):
    scenario, data, estimates = fitted["fewer_obs"]
    board = pipeline.storyboard(estimates, scenario, data)
    own = board.states[-2]
    wild = np.argmax(np.abs(own[:, 1] - np.median(own[:, 1])))
    assert not _inside(own[[wild]], board.camera.start)[0]
    assert board.edge(0).outside[wild]
    assert any(entry.marker == ">" and "edge" in entry.label for entry in board.legend)
    # without the wild few the start view holds all but a handful; the whole range would be far wider
    whole = np.ptp(own[:, 1])
    assert board.camera.start[1][1] - board.camera.start[1][0] < whole / 2


@pytest.mark.parametrize("zoom", ["fit", "fixed"])
def test_fit_and_fixed_zoom_and_a_camera_turned_off_keep_one_view(fitted, zoom):
    scenario, data, estimates = fitted["baseline"]
    limits = scenario.animation.limits.model_copy(update={"intercept": (-1.0, 3.0), "slope": (-1.0, 2.0)})
    board = pipeline.storyboard(estimates, _with(scenario, zoom=zoom, limits=limits), data)
    assert not board.camera.moves
    if zoom == "fixed":
        assert board.camera.start == ((-1.0, 3.0), (-1.0, 2.0))
    off = pipeline.storyboard(estimates, _with(scenario, camera=False), data)
    assert not off.camera.moves and (off.xlim, off.ylim) == off.camera.end


def test_the_end_view_keeps_a_share_of_the_start_view_when_estimates_collapse():
    start = ((0.0, 10.0), (0.0, 10.0))
    collapsed = framed([np.full(20, 3.0)], [[3.0]])
    from shrinkvis.story.camera import moving

    camera = moving(start, [(collapsed, (2.0, 8.0))], np.linspace(0, 1, 5), ("intercept", "slope"))
    low, high = camera.end[0]
    assert high - low == pytest.approx(MIN_END_SHARE * 10.0)
    assert low < 3.0 < high


def test_fence_leaves_out_far_out_values_only():
    values = np.concatenate([np.linspace(-1, 1, 99), [40.0]])
    assert fence(values) == (-1.0, 1.0)
    q1, q3 = np.quantile(values, [0.25, 0.75])
    near = q3 + 0.9 * FENCE_IQRS * (q3 - q1)
    assert fence(np.append(values[:-1], near))[1] == pytest.approx(near)


def test_summary_records_the_first_and_last_view(tmp_path):
    result = pipeline.run(
        load("baseline", ["data.n_cluster=20", "animation.frames=8", "animation.formats=png"]), tmp_path
    )
    summary = json.loads(result.files["json"].read_text())
    view = summary["view"]
    assert set(view) == {"start", "end"} and set(view["start"]) == {"intercept", "slope"}
    own = result.estimates.clusters[["no_pool_intercept", "no_pool_slope"]].to_numpy(dtype=float)
    start = (tuple(view["start"]["intercept"]), tuple(view["start"]["slope"]))
    assert np.mean(_inside(own, start)) >= 0.9
    funnel = pipeline.run(
        load(
            "baseline",
            ["data.n_cluster=20", "animation.frames=8", "animation.formats=png", "animation.view=funnel"],
        ),
        tmp_path / "funnel",
    )
    assert set(json.loads(funnel.files["json"].read_text())["view"]["end"]) == {"intercept", "slope"}


@pytest.mark.parametrize("name", ["fewer_obs", "small_differ"])
def test_the_truth_reveal_colours_each_error_by_closer_or_further_and_keeps_its_box_off_the_points(
    fitted, name
):
    from shrinkvis.story.truth import CLOSER_LABEL, FURTHER_LABEL, points_in_corner

    scenario, data, estimates = fitted[name]
    board = pipeline.storyboard(estimates, scenario, data)
    reveal = board.truth
    last = board.n_frames - 1
    colors = reveal.segment_colors(last)
    theme = board.look.theme
    own_error = np.linalg.norm(reveal.own - reveal.truth, axis=1)
    assert reveal.closer.any() and (~reveal.closer).any()  # better on average, not for every cluster
    assert np.allclose(colors[reveal.closer, :3], theme.partial_pool[:3], atol=1e-6)
    assert np.allclose(colors[~reveal.closer, :3], theme.warning[:3], atol=1e-6)
    assert np.all(own_error > 0)
    labels = [entry.label for entry in board.legend]
    assert CLOSER_LABEL in labels and FURTHER_LABEL in labels
    # the RMSE box's corner of the final view is free of clusters and truths
    final = board.camera.end
    assert points_in_corner(np.vstack([reveal.pooled, reveal.truth]), *final, reveal.corner) == 0
