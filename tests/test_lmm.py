"""The exact engine for the whole one-grouping-factor class (fit/lmm.py) held to lme4 1.1-31.

References: tests/data/lme4_class (made by make_lme4_class.R there; bobyqa at rhoend 1e-12): nine formulas
on one simulated data set (three fixed effects, no intercept, a random slope not in the fixed part, `||`,
two bars, a factor, `log(n)`, two random slopes, an interaction with I(x2^2)) and statsmodels' MixedLM
test data with dependent and independent random effects, each by REML and by ML. The two-effect
references (tests/data/lme4, tests/data/classic) are the q <= 2 cases: the general engine must agree with
them too.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from shrinkvis.design import design
from shrinkvis.fit.blocks import blocks_of, working
from shrinkvis.fit.lmm import LmmProblem, fit_lmm

DATA = Path(__file__).parent / "data"
CLASS_DIR = DATA / "lme4_class"
CASES = sorted(
    path.stem for path in CLASS_DIR.glob("*.json") if not path.stem.endswith("_brms")
)  # brms: test_lmm_bayes.py


def _reference(case: str) -> tuple[pd.DataFrame, dict]:
    ref = json.loads((CLASS_DIR / f"{case}.json").read_text())
    for key in ("fixef_names", "re_terms", "clusters"):
        if isinstance(ref[key], str):  # jsonlite writes a list of one as a plain value
            ref[key] = [ref[key]]
    source = (
        "class.csv" if not case.startswith("statsmodels") else case.split("_")[0] + "_" + case.split("_")[1]
    )
    source = source if source.endswith(".csv") else source + ".csv"
    return pd.read_csv(CLASS_DIR / source), ref


def _label(label: object) -> object:
    """R writes the level 0.0 of a numeric grouping column as "0"."""
    try:
        return float(label)  # type: ignore[arg-type]
    except ValueError:
        return str(label)


def _fit(case: str):
    frame, ref = _reference(case)
    model = design(ref["formula"], frame)
    return model, fit_lmm(blocks_of(model), "REML" if ref["REML"] else "ML"), ref


#: where lme4 warned ("nearly unidentifiable: large eigenvalue ratio", x3 lies in [100, 110]) and stopped
#: short of the optimum: shrinkvis must reach a criterion at least as good, and agree more loosely
LME4_WARNED = {"three_slopes_REML", "three_slopes_ML"}


def test_every_reference_is_there() -> None:
    assert len(CASES) == 60
    for case in CASES:
        _, ref = _reference(case)
        assert ref["lme4_version"] == "1.1.31"
        assert (ref["messages"] != []) == (case in LME4_WARNED), case


@pytest.mark.parametrize("case", CASES)
def test_lme4s_optimum(case: str) -> None:
    model, fit, ref = _fit(case)
    assert list(model.fixed_names) == ref["fixef_names"]
    assert list(model.random_names) == ref["re_terms"]
    assert fit.converged
    assert fit.is_singular == ref["is_singular"]
    rel = 1e-3 if case in LME4_WARNED else 1e-5
    if case in LME4_WARNED:
        assert fit.loglik >= ref["loglik"] - 1e-9  # at least lme4's
        assert fit.loglik == pytest.approx(ref["loglik"], abs=1e-6)
    else:
        # the criterion to far better than lme4 prints it; θ is flat there, so the rest to 1e-5 of its scale
        assert fit.loglik == pytest.approx(ref["loglik"], abs=1e-8)
        assert fit.criterion == pytest.approx(ref["criterion"], abs=2e-8)
    se = np.sqrt(np.diag(ref["vcov"]))
    expected = np.array([ref["fixef"][name] for name in ref["fixef_names"]])
    np.testing.assert_allclose(fit.fixed_effects, expected, rtol=0, atol=rel * se.max())
    np.testing.assert_allclose(fit.fixed_cov, ref["vcov"], rtol=rel, atol=rel * se.max() ** 2)
    assert fit.sigma == pytest.approx(ref["sigma"], rel=rel / 10)
    sd = np.array([ref["sd"][name] for name in ref["re_terms"]])
    scale = max(float(sd.max()), ref["sigma"])
    np.testing.assert_allclose(list(fit.sd_re.values()), sd, rtol=0, atol=rel * scale)
    cor = ref["cor"] if isinstance(ref["cor"], dict) else {}
    assert set(fit.cor_re) == set(cor)
    for key, value in cor.items():
        assert fit.cor_re[key] == pytest.approx(value, abs=10 * rel), key
    ranef = np.array(ref["ranef"], dtype=float).reshape(len(ref["clusters"]), -1)
    assert [_label(label) for label in fit.labels] == [_label(label) for label in ref["clusters"]]
    np.testing.assert_allclose(fit.blup, ranef, rtol=0, atol=rel * scale)
    cond_var = np.array(ref["cond_var"], dtype=float).reshape(fit.blup_cov.shape)
    np.testing.assert_allclose(fit.blup_cov, cond_var, rtol=0, atol=rel * scale**2)


@pytest.mark.parametrize("method", ["REML", "ML"])
def test_the_gradient_is_exact(method: str) -> None:
    frame, ref = _reference("two_bars_REML")
    problem = LmmProblem(working(blocks_of(design(ref["formula"], frame))), method)
    theta = np.array([1.3, -0.2, 0.4, 0.7])
    analytic = problem.evaluate(theta).grad
    numeric = np.empty_like(theta)
    for i in range(theta.size):
        step = np.zeros_like(theta)
        step[i] = 1e-6
        numeric[i] = (problem.f(theta + step) - problem.f(theta - step)) / 2e-6
    np.testing.assert_allclose(analytic, numeric, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("method", ["REML", "ML"])
def test_offsets_and_units_of_any_column_change_nothing_but_the_units(method: str) -> None:
    """x1 moved 1e6 away and x3 in units of 1e-6, y moved by 1e7: the same model, mapped exactly."""
    frame, _ = _reference("three_fixed_REML")
    formula = "y ~ x1 + x2 + x3 + (1 + x1 | cluster)"
    plain = fit_lmm(blocks_of(design(formula, frame)), method)
    moved = frame.assign(x1=frame.x1 + 1e6, x3=frame.x3 * 1e-6, y=frame.y + 1e7)
    other = fit_lmm(blocks_of(design(formula, moved)), method)
    slopes = plain.fixed_effects[1:] * np.array([1.0, 1.0, 1e6])
    np.testing.assert_allclose(other.fixed_effects[1:], slopes, rtol=1e-7)
    intercept = plain.fixed_effects[0] + 1e7 - 1e6 * plain.fixed_effects[1]
    assert other.fixed_effects[0] == pytest.approx(intercept, rel=1e-12)
    assert other.sigma == pytest.approx(plain.sigma, rel=1e-8)
    assert other.sd_re["x1"] == pytest.approx(plain.sd_re["x1"], rel=1e-7)
    np.testing.assert_allclose(other.blup[:, 1], plain.blup[:, 1], rtol=0, atol=1e-7 * plain.sd_re["x1"])
    # ML is invariant; REML's log det of the fixed effects' information picks up 2 log(1e-6) for x3's units
    shift = 0.0 if method == "ML" else 2 * np.log(1e-6)
    assert other.criterion == pytest.approx(plain.criterion + shift, abs=1e-7)


# the two-effect references: the general engine reproduces them as the q <= 2 cases
TWO_EFFECT = sorted((DATA / "lme4").glob("*.json")) + sorted((DATA / "classic").glob("*.json"))


@pytest.mark.parametrize("path", TWO_EFFECT, ids=lambda path: f"{path.parent.name}/{path.stem}")
def test_the_two_effect_references(path: Path) -> None:
    ref = json.loads(path.read_text())
    columns = ref["columns"]
    frame = pd.read_csv(path.with_suffix(".csv"), dtype={columns["group"]: str})
    lme4 = ref.get("lme4", ref)
    x, group = columns["x"], columns["group"]
    slope = lme4.get("sd_slope") is not None
    fixed = x if x else "1"
    formula = f"{columns['y']} ~ {fixed} + ({x if slope else '1'} | {group})"
    fit = fit_lmm(blocks_of(design(formula, frame)), "REML")
    assert fit.criterion == pytest.approx(
        lme4["reml_criterion"], abs=3e-8 * max(1.0, abs(lme4["reml_criterion"]))
    )
    expected = np.array(list(lme4["fixed_effects"].values()))
    se = np.array(list(lme4["std_errors"].values()))
    np.testing.assert_allclose(fit.fixed_effects, expected, rtol=0, atol=1e-5 * se.max())
    np.testing.assert_allclose(fit.std_errors, se, rtol=1e-5)
    assert fit.sigma == pytest.approx(lme4["residual_sd"], rel=1e-6)
    scale = max(lme4["sd_intercept"], lme4["residual_sd"])
    assert fit.sd_re["(Intercept)"] == pytest.approx(lme4["sd_intercept"], abs=1e-5 * scale)
    if slope:
        assert fit.sd_re[x] == pytest.approx(lme4["sd_slope"], abs=1e-5 * scale)
    assert fit.is_singular == lme4["is_singular"]


STATSMODELS_CASES = [
    "three_fixed_REML",
    "no_intercept_ML",
    "slope_not_fixed_REML",
    "independent_ML",
    "two_bars_REML",
    "factor_ML",
    "two_slopes_REML",
    "statsmodels_lme06_irf_REML",
]


@pytest.mark.parametrize("case", STATSMODELS_CASES)
def test_statsmodels_fits_the_class_and_is_judged_by_the_exact_optimum(case: str) -> None:
    """MixedLM (free or block-diagonal covariance) on the same models: its θ lands at lme4's optimum,
    and the estimates at its θ are lme4's."""
    from shrinkvis.fit.model_fit import fit_design

    frame, ref = _reference(case)
    fitted = fit_design(design(ref["formula"], frame), "REML" if ref["REML"] else "ML", engine="statsmodels")
    assert fitted.engine == "statsmodels"
    assert fitted.mixed.converged
    assert fitted.optimum_gap is not None and fitted.optimum_gap <= 1e-3
    assert fitted.mixed.loglik == pytest.approx(ref["loglik"], abs=1e-3)
    se = np.sqrt(np.diag(ref["vcov"]))
    expected = np.array([ref["fixef"][name] for name in ref["fixef_names"]])
    np.testing.assert_allclose(fitted.mixed.fixed_effects, expected, rtol=0, atol=0.01 * se.max())
    for key in ref["cor"] if isinstance(ref["cor"], dict) else {}:
        assert key in fitted.mixed.cor_re  # correlations only inside a block, as lme4 estimates them
    assert len(fitted.mixed.cor_re) == (len(ref["cor"]) if isinstance(ref["cor"], dict) else 0)
