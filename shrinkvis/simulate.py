"""Simulated clustered data, mirroring R's `create_data` from the classic shrinkage demos.

x ~ N(0, 1) per row; per-cluster effects (u0, u1) ~ MVN(0, Σ) with
Σ = [[sd_int², cor·sd_int·sd_slope], [cor·sd_int·sd_slope, sd_slope²]];
y = (intercept + u0) + (beta + u1)·x + N(0, sigma²); then a random fraction `balanced` of the rows is kept.
Draws happen in the R original's order (x, effects, noise, row subset) from one generator.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .scenario import DataSpec


def cluster_effects(spec: DataSpec, rng: np.random.Generator) -> np.ndarray:
    """(n_cluster, 2) draws of (u0, u1).

    Written with the Cholesky factor of Σ spelled out, so it stays valid for |cor| = 1 and zero SDs,
    where a general MVN sampler may refuse a singular Σ.
    """
    z = rng.standard_normal((spec.n_cluster, 2))
    u0 = spec.sd_int * z[:, 0]
    u1 = spec.sd_slope * (spec.cor * z[:, 0] + np.sqrt(1.0 - spec.cor**2) * z[:, 1])
    return np.column_stack([u0, u1])


def simulate(spec: DataSpec, rng: np.random.Generator | None = None) -> pd.DataFrame:
    """A DataFrame with columns y, x, cluster (labels 1..n_cluster), one row per observation."""
    if rng is None:
        rng = np.random.default_rng(spec.seed)
    n_rows = spec.n_cluster * spec.obs_per_cluster
    cluster = np.repeat(np.arange(1, spec.n_cluster + 1), spec.obs_per_cluster)
    x = rng.standard_normal(n_rows)
    effects = cluster_effects(spec, rng)
    row_effects = effects[cluster - 1]
    noise = rng.normal(0.0, spec.sigma, n_rows)
    y = (spec.intercept + row_effects[:, 0]) + (spec.beta + row_effects[:, 1]) * x + noise
    frame = pd.DataFrame({"y": y, "x": x, "cluster": cluster})
    if spec.balanced < 1:
        # like dplyr::sample_frac: round(fraction × rows) rows without replacement; kept in row order.
        keep = rng.choice(n_rows, size=int(round(spec.balanced * n_rows)), replace=False)
        frame = frame.iloc[np.sort(keep)].reset_index(drop=True)
    return frame
