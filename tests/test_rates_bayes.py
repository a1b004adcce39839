"""The Bayesian rates engine (numerical integration at brms's default priors) against brms.

References: tests/data/glmm/*_brms.json (make_brms.R there: 4 chains × 5,000 draws, no divergent
transitions). Agreement means within a few Monte Carlo SEs of brms's posterior means (our side has
quadrature error only, far smaller).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from shrinkvis import scenario as scenarios
from shrinkvis.fit.glmm import cluster_counts
from shrinkvis.fit.rates_bayes import brms_prior, posterior_counts, posterior_meta
from shrinkvis.rates.data import rate_data
from shrinkvis.rates.fit import fit_rates

GLMM = Path(__file__).parent / "data" / "glmm"
MCSE_ALLOWED = 4.0  # |ours − brms| ≤ 4 Monte Carlo SEs of brms's mean


def _reference(name: str) -> dict:
    path = GLMM / f"{name}_brms.json"
    if not path.exists():  # pragma: no cover — made by make_brms.R; see the README there
        pytest.skip(f"{path.name} not made")
    return json.loads(path.read_text())


def _population(ref: dict) -> dict[str, dict]:
    return {row["variable"]: row for row in ref["population"]}


def _close(ours: float, row: dict, key: str = "mean", mcse: str = "mcse_mean") -> None:
    assert abs(ours - row[key]) <= MCSE_ALLOWED * row[mcse], (ours, row[key], row[mcse])


def _quantiles_close(ours: tuple[float, float, float], row: dict) -> None:
    """Quantiles of the SD: a sampler's tail quantiles carry a few % of Monte Carlo error."""
    np.testing.assert_allclose(ours, [row["2.5%"], row["50%"], row["97.5%"]], rtol=0.05)


def test_binomial_matches_brms() -> None:
    ref = _reference("surgical")
    data = pd.DataFrame(ref["data"])
    counts = cluster_counts("binomial", data.deaths.to_numpy(), data.operations.to_numpy(), np.arange(12), 12)
    posterior = posterior_counts("binomial", counts)
    population = _population(ref)
    _close(posterior.intercept_mean, population["b_Intercept"])
    _close(posterior.tau_mean, population["sd_hospital__Intercept"])
    _quantiles_close(posterior.tau_quantiles, population["sd_hospital__Intercept"])
    # a posterior SD carries more Monte Carlo error than a mean: 3 %
    assert posterior.tau_sd == pytest.approx(population["sd_hospital__Intercept"]["sd"], rel=0.03)
    clusters = pd.DataFrame(ref["clusters"]).set_index("cluster").loc[list(data.hospital)]
    for ours, (_, row) in zip(posterior.rate_mean, clusters.iterrows(), strict=True):
        _close(ours, row, "rate_mean", "rate_mcse_mean")
    for ours, (_, row) in zip(posterior.cluster_mean, clusters.iterrows(), strict=True):
        _close(ours, row)


def test_brms_default_priors_are_the_ones_used() -> None:
    ref = _reference("surgical")
    chosen = {row["class"]: row["prior"] for row in ref["priors"] if row["prior"]}
    intercept, sd = brms_prior("binomial")
    assert chosen["Intercept"] == f"student_t(3, {intercept.location:g}, {intercept.scale:g})"
    assert chosen["sd"] == f"student_t(3, 0, {sd.scale:g})"


def test_known_se_matches_brms() -> None:
    ref = _reference("eight_schools")
    data = pd.DataFrame(ref["data"])
    posterior = posterior_meta(data.effect.to_numpy(), data.se.to_numpy())
    chosen = {row["class"]: row["prior"] for row in ref["priors"] if row["prior"]}
    intercept, sd = posterior.prior
    assert chosen["Intercept"] == f"student_t(3, {intercept.location:g}, {intercept.scale:g})"
    assert chosen["sd"] == f"student_t(3, 0, {sd.scale:g})"
    population = _population(ref)
    _close(posterior.intercept_mean, population["b_Intercept"])
    _close(posterior.tau_mean, population["sd_school__Intercept"])
    _quantiles_close(posterior.tau_quantiles, population["sd_school__Intercept"])
    clusters = pd.DataFrame(ref["clusters"]).set_index("cluster").loc[list(data.school)]
    for ours, (_, row) in zip(posterior.cluster_mean, clusters.iterrows(), strict=True):
        _close(ours, row)


def test_bayes_engine_keeps_ml_beside_and_pools_eight_schools_partially() -> None:
    loaded = scenarios.load("eight_schools", ["model.engine=bayes"])
    fit = fit_rates(rate_data(loaded), loaded)
    assert fit.posterior is not None and fit.warnings == ()
    # REML pools completely (τ² = 0); the posterior keeps τ uncertain and the schools apart
    np.testing.assert_allclose(fit.clusters["ml_partial"], fit.meta.mu)
    assert fit.clusters["partial"].max() - fit.clusters["partial"].min() > 3
    assert fit.ml_warnings and "τ² at 0" in fit.ml_warnings[0]


def test_bayes_story_moves_own_then_ml_then_posterior() -> None:
    from shrinkvis.rates.pipeline import storyboard

    loaded = scenarios.load("eight_schools", ["model.engine=bayes", "animation.view=shrinkage"])
    fit = fit_rates(rate_data(loaded), loaded)
    story = storyboard(fit, loaded)
    assert story.timeline.n_states == 3
    np.testing.assert_allclose(story.states[0][:, 0], fit.clusters["own"])
    np.testing.assert_allclose(story.states[1][:, 0], fit.clusters["ml_partial"])
    np.testing.assert_allclose(story.states[2][:, 0], fit.clusters["partial"])
    # the trail of the last frame passes through the ML state: two segments per school
    assert story.trail_segments(story.n_frames - 1).shape == (2 * len(fit.clusters), 2, 2)
    assert [entry.label for entry in story.legend][:3] == [
        "Own estimate",
        "Partial pooling (REML)",
        "Posterior mean",
    ]
