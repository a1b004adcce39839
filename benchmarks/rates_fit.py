"""shrinkvis's side of benchmarks/rates.sh: read the table, fit, print the estimates and the fit's seconds
(the whole process is timed from outside)."""

import sys
import time

import numpy as np
import pandas as pd

from shrinkvis.fit.glmm import cluster_counts, fit_glmm

table = pd.read_csv(sys.argv[1])
started = time.perf_counter()
counts = cluster_counts(
    "binomial", table.deaths.to_numpy(), table.cases.to_numpy(), np.arange(len(table)), len(table)
)
fit = fit_glmm("binomial", counts)
seconds = time.perf_counter() - started
print(
    f"shrinkvis: intercept {fit.fixed_effects[0]:.6f}, SD {fit.theta:.6f}, logLik {fit.lme4_loglik:.4f}, "
    f"fit {seconds:.2f} s"
)
