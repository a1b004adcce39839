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
