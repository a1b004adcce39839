"""The binomial/Poisson engine against lme4's glmer, and the meta-analysis against metafor's rma.

References: tests/data/glmm/ (made by make_glmm.R there; see its README). glmer prints 4 significant
digits of the estimates; these tests ask for far more, since both sides reach the optimum itself.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from shrinkvis.errors import DataError
from shrinkvis.fit.glmm import RateRows, cluster_counts, fit_glmm
from shrinkvis.fit.meta import fit_meta
from shrinkvis.rates.simulate import simulate_hospitals

HERE = Path(__file__).parent / "data" / "glmm"

# name → (family, events column, size column)
COUNT_CASES = {
    "surgical_binomial": ("binomial", "deaths", "operations"),
    "surgical_poisson": ("poisson", "deaths", "operations"),
    "baseball_binomial": ("binomial", "hits", "at_bats"),
    "hospitals_binomial": ("binomial", "deaths", "cases"),
}


def reference(name: str) -> dict:
    return json.loads((HERE / f"{name}.json").read_text())


def _clusters_in_r_order(ref: dict, labels: list[str]) -> pd.DataFrame:
    """R sorts a factor's levels; the fit keeps the data's order: line them up by label."""
    return pd.DataFrame(ref["clusters"]).set_index("cluster").loc[labels]


def _assert_matches(fit, ref: dict, labels: list[str], *, se_rtol: float = 1e-5) -> None:  # noqa: ANN001
    names = list(ref["fixed_effects"])
    np.testing.assert_allclose(
        fit.fixed_effects, [ref["fixed_effects"][n] for n in names], rtol=1e-6, atol=1e-7
    )
    np.testing.assert_allclose(
        np.sqrt(np.diag(fit.fixed_cov)), [ref["std_errors"][n] for n in names], rtol=se_rtol
    )
    assert fit.theta == pytest.approx(ref["theta"], rel=1e-6, abs=1e-6)
    assert fit.lme4_loglik == pytest.approx(ref["logLik"], abs=1e-6)
    clusters = _clusters_in_r_order(ref, labels)
    np.testing.assert_allclose(fit.blup, clusters["conditional_mode"], atol=1e-6)
    np.testing.assert_allclose(fit.blup_sd, clusters["conditional_sd"], rtol=1e-5)
    assert fit.converged
    assert fit.is_singular == ref["is_singular"]


@pytest.mark.parametrize("nagq", [1, 10])
@pytest.mark.parametrize("case", sorted(COUNT_CASES))
def test_counts_match_glmer(case: str, nagq: int) -> None:
    family, events, size = COUNT_CASES[case]
    ref = reference(f"{case}_agq{nagq}")
    data = pd.DataFrame(ref["data"])
    codes = np.arange(len(data))
    counts = cluster_counts(family, data[events].to_numpy(), data[size].to_numpy(), codes, len(data))
    fit = fit_glmm(family, counts, nagq=nagq)
    labels = list(map(str, data.iloc[:, 0]))
    # glmer's SEs come from a finite-difference Hessian: agreement to its printed 4 digits and well beyond
    _assert_matches(fit, ref, labels, se_rtol=1e-4)


@pytest.mark.parametrize("nagq", [1, 10])
def test_one_row_per_operation_is_the_same_model(nagq: int) -> None:
    """0/1 rows sum to the cbind counts: same estimates; the logLik lacks log C(n, r) as glmer's does."""
    ref = reference(f"surgical_rows_agq{nagq}")
    data = pd.DataFrame(ref["data"])
    died = np.concatenate(
        [np.r_[np.ones(r), np.zeros(n - r)] for r, n in zip(data.deaths, data.operations, strict=True)]
    )
    codes = np.repeat(np.arange(len(data)), data.operations)
    fit = fit_glmm(
        "binomial", cluster_counts("binomial", died, np.ones_like(died), codes, len(data)), nagq=nagq
    )
    _assert_matches(fit, ref, list(data.hospital), se_rtol=1e-4)
    cbind = reference(f"surgical_binomial_agq{nagq}")
    assert fit.lme4_loglik - cbind["logLik"] == pytest.approx(ref["logLik"] - cbind["logLik"], abs=1e-6)


def test_fixed_effect_of_size_by_rows() -> None:
    ref = reference("hospitals_binomial_size_agq1")
    data = pd.DataFrame(ref["data"])
    codes = np.arange(len(data))
    rows = RateRows(
        y=data.deaths.to_numpy(float),
        n=data.cases.to_numpy(float),
        offset=np.zeros(len(data)),
        design=np.column_stack([np.ones(len(data)), np.log(data.cases)]),
        codes=codes,
        n_groups=len(data),
    )
    counts = cluster_counts("binomial", data.deaths.to_numpy(), data.cases.to_numpy(), codes, len(data))
    fit = fit_glmm("binomial", rows, counts=counts)
    _assert_matches(fit, ref, list(data.hospital), se_rtol=1e-4)


def test_poisson_with_exposure() -> None:
    ref = reference("hospitals_poisson_agq1")
    data = pd.DataFrame(ref["data"])
    codes = np.arange(len(data))
    fit = fit_glmm(
        "poisson", cluster_counts("poisson", data.deaths.to_numpy(), data.cases.to_numpy(), codes, len(data))
    )
    _assert_matches(fit, ref, list(data.hospital), se_rtol=1e-4)


def test_glmer_at_its_default_settings_prints_the_same_digits() -> None:
    """glmer's default PIRLS tolerance moves its Laplace optimum a little; never in the printed digits."""
    ref = reference("surgical_binomial_agq1")
    data = pd.DataFrame(ref["data"])
    counts = cluster_counts("binomial", data.deaths.to_numpy(), data.operations.to_numpy(), np.arange(12), 12)
    fit = fit_glmm("binomial", counts)
    plain = ref["default_control"]
    assert f"{fit.fixed_effects[0]:.3f}" == f"{plain['fixed_effects']['(Intercept)']:.3f}"
    assert f"{fit.theta:.3f}" == f"{plain['theta']:.3f}"


def test_hospitals_reference_rows_come_from_the_simulation() -> None:
    """The built-in `hospitals` simulation still draws the rows glmer was given."""
    stored = pd.read_csv(HERE / "hospitals.csv")
    table = simulate_hospitals(
        n_hospitals=300,
        median_cases=120,
        size_spread=1.0,
        min_cases=5,
        mortality=0.05,
        size_effect=-0.35,
        sd_hospital=0.15,
        rng=np.random.default_rng(2016),
    ).table
    pd.testing.assert_frame_equal(
        table[["hospital", "deaths", "cases"]], stored[["hospital", "deaths", "cases"]]
    )
    np.testing.assert_allclose(table.true_rate, stored.true_rate, rtol=1e-15)


def test_glmm_refuses_unknown_family_and_nagq() -> None:
    counts = cluster_counts("binomial", np.array([1, 2, 3]), np.array([10, 10, 10]), np.arange(3), 3)
    with pytest.raises(DataError, match="family"):
        fit_glmm("gamma", counts)
    with pytest.raises(DataError, match="nAGQ"):
        fit_glmm("binomial", counts, nagq=0)


@pytest.mark.parametrize(
    ("name", "method"),
    [("eight_schools_reml", "REML"), ("eight_schools_ml", "ML"), ("eight_schools_tripled", "REML")],
)
def test_meta_matches_metafor(name: str, method: str) -> None:
    ref = reference(name)
    data = pd.DataFrame(ref["data"])
    fit = fit_meta(data.effect, data.se, method)
    assert fit.tau2 == pytest.approx(ref["tau2"], rel=1e-6, abs=1e-8)
    assert fit.mu == pytest.approx(ref["mu"], rel=1e-7)
    assert fit.se_mu == pytest.approx(ref["se_mu"], rel=1e-6)
    assert fit.se_tau2 == pytest.approx(ref["se_tau2"], rel=1e-5)
    assert fit.loglik == pytest.approx(ref["logLik"], abs=1e-6)
    assert fit.q_statistic == pytest.approx(ref["QE"], rel=1e-9)
    assert fit.i_squared == pytest.approx(ref["I2"], rel=1e-6, abs=1e-8)
    clusters = pd.DataFrame(ref["clusters"])
    np.testing.assert_allclose(fit.blup, clusters.blup, rtol=1e-6)
    np.testing.assert_allclose(fit.blup_se, clusters.blup_se, rtol=1e-6)
    np.testing.assert_allclose(fit.weight, clusters.weight, rtol=1e-6)
    # λ_j = τ² / (τ² + σ_j²): the BLUP is that share of the way from μ̂ to y_j
    np.testing.assert_allclose(fit.blup - fit.mu, fit.shrinkage * (data.effect - fit.mu), atol=1e-9)


def test_eight_schools_reml_is_on_the_boundary() -> None:
    data = pd.DataFrame(reference("eight_schools_reml")["data"])
    fit = fit_meta(data.effect, data.se)
    assert fit.is_singular and np.all(fit.shrinkage == 0)


def test_meta_refuses_bad_standard_errors() -> None:
    with pytest.raises(DataError, match="standard error"):
        fit_meta(np.array([1.0, 2.0, 3.0]), np.array([1.0, 0.0, 1.0]))
