"""Does the reported Monte Carlo SE of the posterior means match their spread over independent seeds?

    python benchmarks/bayes_mcse.py [--seeds 20] [--cases tiny,corr_near_one,sd_near_zero]

For each case (tests/data/nuts/CASE.csv, y ~ x + (x | cluster)) the Bayesian engine is run with --seeds
seeds at its default draws; per parameter it prints the SD of the posterior means over the seeds, the root
mean square of the reported mcse_mean, and their ratio (1 = the MCSE tells the truth), over every seed;
how many seeds said converged: false is printed too. With n seeds the spread itself is uncertain by about
1 / sqrt(2 (n - 1)) (16 % at 20 seeds, 11 % at 40).
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np
import pandas as pd

from shrinkvis.fit import fit
from shrinkvis.scenario import BayesSpec, ModelSpec

DATA = Path(__file__).resolve().parent.parent / "tests" / "data" / "nuts"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--cases", default="tiny,corr_near_one,sd_near_zero")
    args = parser.parse_args()
    print("| case | parameter | SD of means over seeds | RMS reported MCSE | ratio |")
    print("|---|---|---:|---:|---:|")
    for case in args.cases.split(","):
        data = pd.read_csv(DATA / f"{case}.csv", dtype={"cluster": str})
        means: dict[str, list[float]] = {}
        mcses: dict[str, list[float]] = {}
        failed = 0
        for seed in range(args.seeds):
            model = ModelSpec(random="slope", engine="bayes", bayes=BayesSpec(seed=1000 + seed))
            estimates = fit(data, model, x_name="x", group_name="cluster")
            failed += not estimates.converged
            for name, row in estimates.bayes.posterior.items():
                means.setdefault(name, []).append(row["mean"])
                mcses.setdefault(name, []).append(row["mcse_mean"])
        for name in means:
            spread = float(np.std(means[name], ddof=1))
            reported = math.sqrt(float(np.mean(np.square(mcses[name]))))
            print(
                f"| {case} | {name} | {spread:.4g} | {reported:.4g} | {spread / reported:.2f} |", flush=True
            )
        if failed:
            print(f"| {case} | ({failed} of {args.seeds} seeds did not converge) | | | |")


if __name__ == "__main__":
    main()
