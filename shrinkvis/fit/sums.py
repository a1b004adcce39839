"""Fits from per-cluster sums alone: the path for data that never sits in memory as rows.

An aggregation engine (DuckDB, Spark, numpy) hands over one row per cluster: the count and the sums of
y − c_y, x − c_x, their squares and product, where (c_y, c_x) is one centre for all rows near the middle
of the data (`ClusterStats`' centres). The centre keeps the sums exact enough at any number of rows (raw
sums of y ≈ 10⁶ over 10⁹ rows would spend most of float64's digits on the offset); the exact engine maps
every estimate back to y and x as given.

Everything the in-memory `fit` computes from rows — the checks, the units the engine sees, complete
pooling, the no-pooling standard errors — is computed here from the sums.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import DataError
from ..scenario import ModelSpec
from .checks import check_sizes, check_within, usable_fit
from .estimates import Estimates, ModelRows
from .exact import fit_exact
from .profiled import ClusterStats, _within, no_pool
from .scaling import Scaling, _power_of_two

__all__ = ["ClusterSums", "centred_stats", "fit_sums"]


@dataclass(frozen=True)
class ClusterSums:
    """One row per cluster, whichever engine summed them: labels in display order and their sums
    (`stats`, measured from its centres); `dropped_rows` counts rows left out for a missing value."""

    labels: np.ndarray
    stats: ClusterStats
    dropped_rows: int = 0

    @property
    def n_obs(self) -> int:
        return int(np.sum(self.stats.n))

    @property
    def n_groups(self) -> int:
        return self.stats.n_groups


def centred_stats(
    n: np.ndarray,
    sy: np.ndarray,
    syy: np.ndarray,
    sx: np.ndarray | None = None,
    sxx: np.ndarray | None = None,
    sxy: np.ndarray | None = None,
    *,
    centre_y: float,
    centre_x: float = 0.0,
) -> ClusterStats:
    """`ClusterStats` from an engine's columns of sums measured from the centres: the one place that
    knows its fields."""
    n = np.asarray(n, dtype=np.int64)
    column = lambda values: np.asarray(values, dtype=np.float64)  # noqa: E731
    if sx is None:
        zeros = np.zeros(len(n))
        return ClusterStats(
            n=n,
            sx=zeros,
            sxx=zeros,
            sy=column(sy),
            sxy=zeros,
            syy=column(syy),
            has_x=False,
            centre_y=centre_y,
        )
    return ClusterStats(
        n=n,
        sx=column(sx),
        sxx=column(sxx),
        sy=column(sy),
        sxy=column(sxy),
        syy=column(syy),
        has_x=True,
        centre_y=centre_y,
        centre_x=centre_x,
    )


@dataclass(frozen=True)
class _Totals:
    """Sums over all clusters, centred at the overall means (what `lm(y ~ x)` needs)."""

    n: float
    mean_y: float  # of the centred y
    mean_x: float
    tyy: float
    txx: float
    txy: float

    @classmethod
    def of(cls, stats: ClusterStats) -> _Totals:
        n = float(np.sum(stats.n))
        sy, sx = float(np.sum(stats.sy)), float(np.sum(stats.sx))
        mean_y, mean_x = sy / n, sx / n
        return cls(
            n=n,
            mean_y=mean_y,
            mean_x=mean_x,
            tyy=max(float(np.sum(stats.syy)) - sy * mean_y, 0.0),
            txx=max(float(np.sum(stats.sxx)) - sx * mean_x, 0.0),
            txy=float(np.sum(stats.sxy)) - sx * mean_y,
        )


def fit_sums(sums: ClusterSums, model: ModelSpec | None = None, *, x_name: str = "x") -> Estimates:
    """No, complete and partial pooling from per-cluster sums; the same `Estimates` as `fit` on the rows."""
    from . import MIN_GROUPS, assemble

    model = model or ModelSpec()
    stats = sums.stats
    has_x = stats.has_x
    if model.random == "slope" and not has_x:
        raise DataError("a random slope needs an x column; use model.random: intercept")
    if model.engine != "exact":
        raise DataError(
            f"engine {model.engine!r} needs the rows in memory; data summed per cluster is fitted by the "
            "exact engine (model.engine: exact)"
        )
    if sums.n_groups < MIN_GROUPS:
        raise DataError(
            f"the data have {sums.n_groups} cluster(s); at least {MIN_GROUPS} are needed to estimate "
            "a between-cluster variance"
        )
    totals = _Totals.of(stats)
    _check_sums(sums, totals, model.random)
    check_within(stats, model.random)
    scaling = Scaling(
        y=_power_of_two((totals.tyy / totals.n) ** 0.5),
        x=_power_of_two((totals.txx / totals.n) ** 0.5) if has_x else 1.0,
    )
    no_rows = ModelRows(y=np.empty(0), x=None, codes=np.empty(0, dtype=np.intp), n_groups=sums.n_groups)
    mixed = fit_exact(no_rows, model.random, model.method, stats.scaled(scaling.y, scaling.x))
    mixed = usable_fit(scaling.unscale(mixed, sums.n_obs), model.engine)
    errors = _no_pool_errors(stats)
    return assemble(
        labels=sums.labels,
        n=np.asarray(stats.n),
        mean_y=stats.mean_y,
        mean_x=stats.mean_x,
        no_pool_estimates=no_pool(stats),
        no_pool_errors=errors,
        complete=_complete_pool(totals, stats),
        mixed=mixed,
        model=model,
        names=["Intercept"] + ([x_name] if has_x else []),
        n_obs=sums.n_obs,
    )


def _check_sums(sums: ClusterSums, totals: _Totals, random: str) -> None:
    """The in-memory checks (`checks.check_data`), answered from the sums."""
    check_sizes(sums.n_obs, sums.n_groups, random)
    if totals.tyy <= 0:
        raise DataError(
            f"y is {sums.stats.centre_y + totals.mean_y:g} in every row: there is no variation to pool"
        )
    if not sums.stats.has_x:
        return
    if totals.txx <= 0:
        raise DataError(
            f"x is {sums.stats.centre_x + totals.mean_x:g} in every row: its slope cannot be estimated"
        )
    residual = totals.tyy - totals.txy**2 / totals.txx
    if residual <= 1e-20 * totals.tyy:
        raise DataError(
            "y is an exact straight-line function of x (no residual variation), so the residual SD would be 0"
        )


def _no_pool_errors(stats: ClusterStats) -> tuple[np.ndarray, np.ndarray, float]:
    """`pooling.no_pool_errors` from the sums: each cluster's residual sum of squares is its within
    sum of squares of y less what its own slope explains."""
    within = _within(stats)
    n = within.n
    if stats.has_x:
        usable = within.slope_ok
        safe_wxx = np.where(usable, within.wxx, 1.0)
        rss = np.where(usable, np.maximum(within.wyy - within.wxy**2 / safe_wxx, 0.0), 0.0)
        params = 2
    else:
        usable = n > 0
        rss = np.where(usable, within.wyy, 0.0)
        params = 1
    dof = float(np.sum(n[usable] - params))
    variance = float(np.sum(rss) / dof) if dof > 0 else float("nan")
    safe_n = np.where(n > 0, n, 1.0)
    if not stats.has_x:
        return np.where(usable, np.sqrt(variance / safe_n), np.nan), np.full(len(n), np.nan), variance**0.5
    slope_se = np.where(usable, np.sqrt(variance / safe_wxx), np.nan)
    mean_x = stats.mean_x
    intercept_se = np.where(usable, np.sqrt(variance * (1.0 / safe_n + mean_x**2 / safe_wxx)), np.nan)
    return intercept_se, slope_se, variance**0.5


def _complete_pool(totals: _Totals, stats: ClusterStats) -> tuple[np.ndarray, np.ndarray]:
    """`pooling.complete_pool` (one OLS, R's `lm(y ~ x)`) from the overall centred sums."""
    centre_y, centre_x = stats.centre_y, stats.centre_x
    if not stats.has_x:
        variance = totals.tyy / (totals.n - 1) if totals.n > 1 else float("nan")
        return np.array([totals.mean_y + centre_y]), np.array([(variance / totals.n) ** 0.5])
    slope = totals.txy / totals.txx
    intercept = totals.mean_y + centre_y - slope * (totals.mean_x + centre_x)
    dof = totals.n - 2
    variance = max(totals.tyy - slope * totals.txy, 0.0) / dof if dof > 0 else float("nan")
    mean_x = totals.mean_x + centre_x
    errors = np.array(
        [(variance * (1 / totals.n + mean_x**2 / totals.txx)) ** 0.5, (variance / totals.txx) ** 0.5]
    )
    return np.array([intercept, slope]), errors
