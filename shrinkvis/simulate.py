"""Simulated clustered data, mirroring R's `create_data` from the classic shrinkage demos.

x ~ N(0, 1) per row; per-cluster effects (u0, u1) ~ MVN(0, Σ) with
Σ = [[sd_int², cor·sd_int·sd_slope], [cor·sd_int·sd_slope, sd_slope²]];
y = (intercept + u0) + (beta + u1)·x + N(0, sigma²); then a random fraction `balanced` of the rows is kept.
Draws happen in the R original's order (x, effects, noise, row subset) from one generator. With
`small_share`, the first clusters are small: `small_obs_per_cluster` rows instead of `obs_per_cluster`.

A simulation knows the truth: `simulation` returns each cluster's true intercept and slope beside the rows,
so that a fit can be scored against them. With `size_effect`, a cluster's true intercept also depends on
its size (after the row subset): + size_effect · sd_int · (ln n_j − mean ln n), no draw added, so that
`size_effect: 0` gives exactly the rows it gave before the option existed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .scenario import DataSpec


@dataclass(frozen=True)
class Simulation:
    """The simulated rows (y, x, cluster) and the truth: one row per cluster that kept rows, with columns
    cluster, true_intercept, true_slope (population values plus the cluster's own effects)."""

    rows: pd.DataFrame
    truth: pd.DataFrame


def cluster_effects(spec: DataSpec, rng: np.random.Generator) -> np.ndarray:
    """(n_cluster, 2) draws of (u0, u1).

    Written with the Cholesky factor of Σ spelled out, so it stays valid for |cor| = 1 and zero SDs,
    where a general MVN sampler may refuse a singular Σ.
    """
    z = rng.standard_normal((spec.n_cluster, 2))
    u0 = spec.sd_int * z[:, 0]
    u1 = spec.sd_slope * (spec.cor * z[:, 0] + np.sqrt(1.0 - spec.cor**2) * z[:, 1])
    return np.column_stack([u0, u1])


def size_shift(sizes: np.ndarray, spec: DataSpec) -> np.ndarray:
    """How far each cluster's true intercept moves with its size: size_effect SDs of the intercepts per
    log-unit of size, centred on the mean log size of the clusters (so the population intercept stays)."""
    log_size = np.log(sizes)
    return spec.size_effect * spec.sd_int * (log_size - log_size.mean())


def simulation(spec: DataSpec, rng: np.random.Generator | None = None) -> Simulation:
    """The rows (labels 1..n_cluster, one row per observation) and every cluster's true effects."""
    if rng is None:
        rng = np.random.default_rng(spec.seed)
    planned = np.full(spec.n_cluster, spec.obs_per_cluster)
    planned[: spec.small_clusters] = spec.small_obs_per_cluster
    cluster = np.repeat(np.arange(1, spec.n_cluster + 1), planned)
    n_rows = len(cluster)
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
    sizes = np.bincount(frame["cluster"].to_numpy(), minlength=spec.n_cluster + 1)[1:]
    present = sizes > 0
    true_intercept = spec.intercept + effects[:, 0]
    if spec.size_effect != 0:
        shift = np.zeros(spec.n_cluster)
        shift[present] = size_shift(sizes[present], spec)
        true_intercept = true_intercept + shift
        frame["y"] = frame["y"].to_numpy() + shift[frame["cluster"].to_numpy() - 1]
    truth = pd.DataFrame(
        {
            "cluster": np.arange(1, spec.n_cluster + 1)[present],
            "true_intercept": true_intercept[present],
            "true_slope": (spec.beta + effects[:, 1])[present],
        }
    )
    return Simulation(rows=frame, truth=truth)


def simulate(spec: DataSpec, rng: np.random.Generator | None = None) -> pd.DataFrame:
    """A DataFrame with columns y, x, cluster (labels 1..n_cluster), one row per observation."""
    return simulation(spec, rng).rows
