"""The Bayesian engine on hard posteriors, against an independent general-purpose NUTS sampler.

tests/data/nuts/ holds NumPyro NUTS fits of brms's model (full joint, cluster effects sampled, nothing
integrated out) on data sets that probe the hard cases, made by tests/data/nuts/make_nuts.py (NumPyro is not
a dependency of shrinkvis or of its tests). On each case the engine must agree with NUTS or say that it did
not converge: never a wrong answer with ``converged: true``.
"""

from __future__ import annotations

import functools
import json
import math
from pathlib import Path

import pandas as pd
import pytest

from shrinkvis.fit import fit
from shrinkvis.scenario import BayesSpec, ModelSpec

NUTS_DIR = Path(__file__).parent / "data" / "nuts"
CASES = sorted(path.stem.removesuffix("_nuts") for path in NUTS_DIR.glob("*_nuts.json"))


@functools.cache
def _fit_case(case: str):
    data = pd.read_csv(NUTS_DIR / f"{case}.csv", dtype={"cluster": str})
    reference = json.loads((NUTS_DIR / f"{case}_nuts.json").read_text())
    model = ModelSpec(random="slope", engine="bayes", bayes=BayesSpec(seed=20261205))
    return fit(data, model, x_name="x", group_name="cluster"), reference


def _disagreements(estimates, reference) -> list[str]:
    """Where the engine's posterior is further from NUTS's than the issue's criteria allow."""
    found = []
    ours = estimates.bayes.posterior
    for row in reference["population"]:
        mine = ours[row["variable"]]
        mcse = math.hypot(mine["mcse_mean"], row["mcse_mean"])
        if abs(mine["mean"] - row["mean"]) > 0.15 * row["sd"] + 4 * mcse:
            found.append(
                f"{row['variable']} mean {mine['mean']:.4g} vs {row['mean']:.4g} (sd {row['sd']:.3g})"
            )
        # the SD within 15 %; or, where a rare far mode moves the SD, the 95 % interval's ends within 0.15 SD
        # (offset100: a second mode at sd(x) ~ 3,600 holds ~0.3 % of the mass by importance sampling over
        # 200,000 draws, which NUTS never crosses to and 4,000 draws visit a dozen times: docs/bayes.md)
        ends = all(abs(mine[key] - row[key]) <= 0.15 * row["sd"] for key in ("q2.5", "q97.5"))
        if abs(mine["sd"] - row["sd"]) > 0.15 * row["sd"] and not (ends and mine["sd"] > row["sd"]):
            found.append(f"{row['variable']} sd {mine['sd']:.4g} vs {row['sd']:.4g}")
    table = estimates.clusters.set_index("cluster")
    for row in reference["clusters"]:
        name = "intercept" if row["coefficient"] == "Intercept" else "slope"
        mean = table.loc[row["cluster"], f"bayes_{name}"]
        if abs(mean - row["mean"]) > 0.1 * row["sd"]:
            found.append(
                f"cluster {row['cluster']} {name} {mean:.4g} vs {row['mean']:.4g} (sd {row['sd']:.3g})"
            )
    return found


@pytest.mark.parametrize("case", CASES)
def test_agrees_with_nuts_or_says_it_did_not_converge(case):
    estimates, reference = _fit_case(case)
    assert max(row["rhat"] for row in reference["population"]) < 1.01  # the reference itself converged
    wrong = _disagreements(estimates, reference)
    if estimates.converged:
        assert not wrong, wrong
    else:
        # not converged: the JSON, the warnings and the summary say so
        summary = estimates.population()
        assert summary["converged"] is False and summary["sampler"]["converged"] is False
        assert any("did not converge" in warning for warning in summary["warnings"])


def test_the_issue_case_is_not_reported_as_converged_while_wrong():
    """x = 100 + N(0, 1), y on a scale of 1e4, 25 x 12: the sampler before issue 23 said sd(x) 102 +- 19
    (68-146), R-hat 1.11, bulk ESS 27, with ``converged: true``, where NUTS says 98 +- 70 (5.6-278)."""
    estimates, reference = _fit_case("offset100")
    if estimates.converged:
        assert not _disagreements(estimates, reference)
    else:
        assert "did not converge" in " ".join(estimates.warnings)
