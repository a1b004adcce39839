from __future__ import annotations

import numpy as np
import pytest

from shrinkvis.scenario import DataSpec
from shrinkvis.simulate import cluster_effects, simulate


def test_same_seed_same_data_and_other_seed_other_data():
    spec = DataSpec(n_cluster=20, seed=5)
    first, second = simulate(spec), simulate(spec)
    assert first.equals(second)
    assert not first.equals(simulate(spec.model_copy(update={"seed": 6})))


def test_shape_and_labels():
    data = simulate(DataSpec(n_cluster=7, obs_per_cluster=4))
    assert list(data.columns) == ["y", "x", "cluster"]
    assert len(data) == 28
    assert sorted(data["cluster"].unique()) == list(range(1, 8))
    assert data.groupby("cluster").size().eq(4).all()


@pytest.mark.parametrize("cor", [-0.6, 0.0, 0.8, 1.0])
def test_cluster_effects_have_the_requested_sds_and_correlation(cor):
    spec = DataSpec(n_cluster=2000, sd_int=0.5, sd_slope=0.25, cor=cor, seed=11)
    effects = cluster_effects(spec, np.random.default_rng(spec.seed))
    sd = effects.std(axis=0, ddof=1)
    # standard error of an SD estimate ≈ sd / sqrt(2 (J - 1)); allow 4 of them
    assert sd[0] == pytest.approx(0.5, abs=4 * 0.5 / np.sqrt(2 * 1999))
    assert sd[1] == pytest.approx(0.25, abs=4 * 0.25 / np.sqrt(2 * 1999))
    # standard error of a correlation ≈ (1 - ρ²) / sqrt(J); at |ρ| = 1 it is exact
    observed = np.corrcoef(effects.T)[0, 1]
    assert observed == pytest.approx(cor, abs=max(4 * (1 - cor**2) / np.sqrt(2000), 1e-12))
    assert effects.mean(axis=0) == pytest.approx([0, 0], abs=4 * 0.5 / np.sqrt(2000))


def test_rows_follow_the_model():
    # with no noise and no random effects, y is exactly the population line
    spec = DataSpec(n_cluster=5, sigma=1e-12, sd_int=0, sd_slope=0, intercept=2, beta=-3)
    data = simulate(spec)
    assert np.allclose(data["y"], 2 - 3 * data["x"], atol=1e-9)


def test_balanced_keeps_that_fraction_of_rows_and_unbalances_clusters():
    spec = DataSpec(n_cluster=100, obs_per_cluster=10, balanced=0.5)
    data = simulate(spec)
    assert len(data) == 500
    sizes = data.groupby("cluster").size()
    assert sizes.min() < sizes.max()
    assert not data.duplicated().any()


def test_x_is_standard_normal():
    data = simulate(DataSpec(n_cluster=1000))
    assert data["x"].mean() == pytest.approx(0, abs=4 / np.sqrt(10_000))
    assert data["x"].std() == pytest.approx(1, abs=4 / np.sqrt(2 * 10_000))
