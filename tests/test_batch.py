from __future__ import annotations

from shrinkvis.batch import Outcome, default_jobs, run_all

SMALL = ("animation.frames=6", "data.n_cluster=12")


def test_parallel_batch_writes_the_same_bytes_as_one_at_a_time(tmp_path):
    names = ["fewer_obs", "baseline"]
    finished: list[str] = []
    parallel = run_all(names, tmp_path / "parallel", SMALL, jobs=2, on_done=lambda o: finished.append(o.name))
    serial = run_all(names, tmp_path / "serial", SMALL, jobs=1)
    assert [outcome.name for outcome in parallel] == names  # in the order asked, whatever finished first
    assert sorted(finished) == sorted(names)
    assert not any(outcome.failed for outcome in parallel + serial)
    for name in names:
        for file in ("shrinkage.gif", "shrinkage.mp4", "shrinkage.png", "estimates.csv"):
            assert (tmp_path / "parallel" / name / file).read_bytes() == (
                tmp_path / "serial" / name / file
            ).read_bytes()


def test_failures_are_outcomes_not_exceptions(tmp_path):
    broken = tmp_path / "broken.yaml"
    broken.write_text("data:\n  sigma: 0\n")
    outcomes = run_all(["no_such_scenario", str(broken)], tmp_path / "out", jobs=1)
    assert [outcome.failed for outcome in outcomes] == [True, True]
    assert "no built-in scenario" in outcomes[0].error
    assert "data.sigma = 0" in outcomes[1].error
    assert Outcome("x").failed is False


def test_default_jobs_is_the_cores_available():
    assert default_jobs() >= 1


def test_batch_draws_what_run_draws_byte_for_byte(tmp_path):
    from shrinkvis import pipeline
    from shrinkvis.scenario import load

    names = ["baseline", "small_differ"]
    run_all(names, tmp_path / "batch", SMALL, jobs=1)
    for name in names:
        pipeline.run(load(name, list(SMALL)), tmp_path / "run")
        for file in ("shrinkage.png", "shrinkage_start.png", "shrinkage.gif"):
            assert (tmp_path / "batch" / name / file).read_bytes() == (
                tmp_path / "run" / name / file
            ).read_bytes()


def test_shared_axes_draw_beside_the_own_pictures_from_one_fit_each(tmp_path, monkeypatch):
    from shrinkvis import pipeline
    from shrinkvis.batch import SHARED_AXES_FOLDER

    names = ["baseline", "more_subject_var"]
    own = tmp_path / "own"
    run_all(names, own, SMALL, jobs=1)
    fits: list[str] = []
    fit_data = pipeline.fit_data

    def counted(data, scenario):
        fits.append(scenario.name)
        return fit_data(data, scenario)

    monkeypatch.setattr(pipeline, "fit_data", counted)
    outcomes = run_all(names, tmp_path / "shared", SMALL, jobs=1, shared_axes=True)
    assert sorted(fits) == sorted(names)  # every scenario fitted once, for both drawings
    assert not any(outcome.failed for outcome in outcomes)
    assert all(outcome.fitted is None for outcome in outcomes)  # the fits are not handed back
    for name in names:
        folder = tmp_path / "shared" / name
        # the scenario's own pictures are those of a batch without shared axes
        assert (folder / "shrinkage.png").read_bytes() == (own / name / "shrinkage.png").read_bytes()
        assert (folder / SHARED_AXES_FOLDER / "shrinkage.png").is_file()
    # baseline on the wider axes of more_subject_var: another picture
    baseline = tmp_path / "shared" / "baseline"
    assert (baseline / SHARED_AXES_FOLDER / "shrinkage.png").read_bytes() != (
        baseline / "shrinkage.png"
    ).read_bytes()


def test_shared_axes_are_one_view_that_holds_every_scenario():
    import numpy as np

    from shrinkvis import pipeline
    from shrinkvis.batch import Fitted, shared_axes_scenarios
    from shrinkvis.scenario import load

    fits = []
    for name, extra in (
        ("baseline", ()),
        ("fewer_obs", ()),
        ("more_subject_var", ()),
        ("more_obs", ("animation.view=lines",)),
    ):
        scenario = load(name, ["data.n_cluster=40", *extra])
        data = pipeline.source_data(scenario)
        fits.append(Fitted(scenario, pipeline.fit_data(data, scenario), data))
    shared = shared_axes_scenarios(fits)
    assert shared[3] is None  # the lines view has no axes to share
    limits = {
        (fit.scenario.animation.limits.intercept, fit.scenario.animation.limits.slope) for fit in shared[:3]
    }
    assert len(limits) == 1 and all(fit.scenario.animation.zoom == "fixed" for fit in shared[:3])
    ((intercept, slope),) = limits
    for fit in shared[:3]:
        board = pipeline.storyboard(fit.estimates, fit.scenario, fit.data)
        assert (board.xlim, board.ylim) == (intercept, slope)
        partial = fit.estimates.clusters[["partial_intercept", "partial_slope"]].to_numpy(dtype=float)
        assert np.all((partial[:, 0] > intercept[0]) & (partial[:, 0] < intercept[1]))
        assert np.all((partial[:, 1] > slope[0]) & (partial[:, 1] < slope[1]))
