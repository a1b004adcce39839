"""What every engine's per-cluster table goes through: the columns exist, the sums are finite, the
clusters fit in memory, and the order is the in-memory path's."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..data import cluster_order
from ..errors import DataError, did_you_mean
from ..fit.blocks import Blocks, SumsPlan, blocks_from_sums
from ..fit.sums import ClusterSums, centred_stats

# one cluster costs about this much in the fit and the tables after it
BYTES_PER_CLUSTER = 2_000


def _checked_order(table: pd.DataFrame, columns: list[str], name: str) -> tuple[np.ndarray, Any]:
    """An engine's per-cluster table checked (finite sums, within the memory budget) and the permutation
    that puts its clusters in the in-memory path's order, with the labels in that order."""
    values = table[columns].to_numpy(dtype=float)
    if not np.all(np.isfinite(values)):
        row = int(np.flatnonzero(~np.isfinite(values).all(axis=1))[0])
        raise DataError(
            f"{name}: a value in cluster {table['label'].iloc[row]!r} is not a finite number (NaN or infinite)"
        )
    check_memory(len(table), name)
    rank, labels = cluster_order(table["label"].reset_index(drop=True))
    return np.argsort(rank, kind="stable"), labels


def ordered(
    table: pd.DataFrame, centre_y: float, centre_x: float, dropped: int, has_x: bool, name: str
) -> ClusterSums:
    """The sums in the in-memory path's cluster order (numeric order when every label is a number)."""
    columns = ["sy", "syy"] + (["sx", "sxx", "sxy"] if has_x else [])
    order, labels = _checked_order(table, columns, name)
    pick = lambda column: table[column].to_numpy()[order]  # noqa: E731
    stats = centred_stats(
        pick("n"),
        pick("sy"),
        pick("syy"),
        *((pick("sx"), pick("sxx"), pick("sxy")) if has_x else ()),
        centre_y=centre_y,
        centre_x=centre_x if has_x else 0.0,
    )
    return ClusterSums(labels=labels, stats=stats, dropped_rows=dropped)


def blocks_table(
    table: pd.DataFrame,
    plan: SumsPlan,
    centres: np.ndarray,
    spreads: np.ndarray,
    level: np.ndarray,
    name: str,
) -> Blocks:
    """An engine's per-cluster table of sums (`n`, `s<a>`, `p<a>_<b>`, `lo<a>`, `hi<a>` for the summed
    columns) as `Blocks`, in the in-memory path's cluster order."""
    k = len(plan.summed)
    sums = [f"s{a}" for a in range(k)] + [f"p{a}_{b}" for a in range(k) for b in range(a, k)]
    order, labels = _checked_order(table, sums, name)
    products = np.empty((len(table), k, k))
    for a in range(k):
        for b in range(a, k):
            products[:, a, b] = products[:, b, a] = table[f"p{a}_{b}"].to_numpy(dtype=float)[order]
    linear = np.column_stack([table[f"s{a}"].to_numpy(dtype=float)[order] for a in range(k)])
    lows = np.array([table[f"lo{a}"].min() for a in range(k)], dtype=float)
    highs = np.array([table[f"hi{a}"].max() for a in range(k)], dtype=float)
    constant = level & (lows == highs)
    n = table["n"].to_numpy()[order]
    return blocks_from_sums(plan, labels, n, linear, products, centres, spreads, constant)


def check_memory(n_clusters: int, name: str) -> None:
    """The one limit left: the clusters themselves (the fit holds a few arrays of length J)."""
    memory = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    if n_clusters * BYTES_PER_CLUSTER > memory:
        raise DataError(
            f"{name}: {n_clusters:,} clusters need about {n_clusters * BYTES_PER_CLUSTER / 1e9:.0f} GB to fit; "
            f"this machine has {memory / 1e9:.0f} GB"
        )


def check_columns(have: list[str], want: list[str], name: str, holder: str = "the data have") -> None:
    for column in want:
        if column not in have:
            hint = did_you_mean(column, [str(other) for other in have])
            raise DataError(f"{name}: no column {column!r}{hint}; {holder}: {', '.join(map(str, have))}")


@dataclass(frozen=True)
class SummedData:
    """A table too large for the rows to be kept, described like `ModelData`: its clusters' sums instead
    of its rows (`frame` is None; views that draw rows are not available)."""

    sums: ClusterSums
    source: str
    y_name: str
    group_name: str
    x_name: str | None

    frame: None = None
    truth: None = None  # a user's table has no truth

    @property
    def dropped_rows(self) -> int:
        return self.sums.dropped_rows

    @property
    def single_row_clusters(self) -> list[str]:
        """Clusters with one row (as `ModelData.single_row_clusters`)."""
        singles = self.sums.labels[np.asarray(self.sums.stats.n) == 1]
        return [str(label) for label in singles]
