"""Offsets: does the fit change when y or x is shifted far from zero? (issue 13's sweep, both engines)

    python benchmarks/fit_offsets.py [--engines exact,statsmodels]

Data as in issue 13 (drawn with numpy, not R): 40 clusters × 10 rows, x ~ N(0, 1), β = (2, 1), SDs (1, 0.5),
ρ = 0.3, σ = 1. For each model and each shift of y or x by 10^k × its SD, prints the REML criterion minus
the unshifted exact optimum (the criterion is translation invariant, so every entry should be ~0), σ
relative to the unshifted fit, and the flags. A check of accuracy, not of speed.
"""

from __future__ import annotations

import argparse
import warnings

import numpy as np
import pandas as pd

from shrinkvis.fit import fit
from shrinkvis.scenario import ModelSpec


def recipe() -> pd.DataFrame:
    rng = np.random.default_rng(112)
    cluster = np.repeat(np.arange(40), 10)
    x = rng.normal(size=cluster.size)
    effects = rng.multivariate_normal([0.0, 0.0], [[1.0, 0.15], [0.15, 0.25]], 40)
    y = 2.0 + x + effects[cluster, 0] + effects[cluster, 1] * x + rng.normal(size=cluster.size)
    return pd.DataFrame({"y": y, "x": x, "cluster": cluster})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engines", default="exact,statsmodels")
    engines = parser.parse_args().engines.split(",")
    data = recipe()
    models = [
        ("y ~ x + (x | g)", "slope", True),
        ("y ~ x + (1 | g)", "intercept", True),
        ("y ~ 1 + (1 | g)", "intercept", False),
    ]
    print(
        "| model | shifted | 10^k × SD | engine | criterion − optimum | σ / σ₀ − 1 | converged | singular |"
    )
    print("|---|---|---:|---|---:|---:|---|---|")
    for label, random, has_x in models:
        rows = data if has_x else data.drop(columns="x")
        base = fit(rows, ModelSpec(random=random))
        for moved in ("y", "x") if has_x else ("y",):
            for k in range(2, 10):
                shifted = rows.assign(**{moved: rows[moved] + 10.0**k * rows[moved].std()})
                for engine in engines:
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        result = fit(shifted, ModelSpec(random=random, engine=engine))
                    print(
                        f"| {label} | {moved} | {k} | {engine} | {result.criterion - base.criterion:+.2e} | "
                        f"{result.residual_sd / base.residual_sd - 1:+.1e} | {result.converged} | {result.is_singular} |"
                    )


if __name__ == "__main__":
    main()
