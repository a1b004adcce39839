"""Fits from per-cluster sums alone: the path for data that never sits in memory as rows.

An aggregation engine (DuckDB, Spark, numpy) hands over one row per cluster: the count and the sums of
y − c_y, x − c_x, their squares and product, where (c_y, c_x) is one shift for all rows near the centre
of the data. The shift keeps the sums exact enough at any number of rows (raw sums of y ≈ 10⁶ over 10⁹ rows
would spend most of float64's digits on the offset); every estimate is mapped back to the data's own
origin here, exactly (a translation of y and x is a reparametrisation of the model).

Everything the in-memory `fit` computes from rows — the checks, the units the engine sees, complete
pooling, the no-pooling standard errors — is computed here from the sums.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from ..errors import DataError
from ..scenario import ModelSpec
from .checks import usable_fit
from .estimates import EngineFit, Estimates, ModelRows, relative_factor
from .exact import fit_exact
from .profiled import ClusterStats, _within, no_pool
from .scaling import Scaling, _power_of_two

__all__ = ["ClusterSums", "fit_sums", "shifted_stats"]


@dataclass(frozen=True)
class ClusterSums:
    """One row per cluster, whichever engine summed them: labels in display order and their sums.

    `stats` holds the sums of y − y_shift and x − x_shift (`ClusterStats`' fields); `dropped_rows` counts
    rows left out for a missing value in a model column.
    """

    labels: np.ndarray
    stats: ClusterStats
    y_shift: float = 0.0
    x_shift: float = 0.0
    dropped_rows: int = 0

    @property
    def n_obs(self) -> int:
        return int(np.sum(self.stats.n))

    @property
    def n_groups(self) -> int:
        return self.stats.n_groups

    @property
    def mean_y(self) -> np.ndarray:
        return self.stats.sy / self.stats.n + self.y_shift

    @property
    def mean_x(self) -> np.ndarray:
        return (
            self.stats.sx / self.stats.n + self.x_shift
            if self.stats.has_x
            else np.full(self.n_groups, np.nan)
        )


def shifted_stats(
    n: np.ndarray,
    sy: np.ndarray,
    syy: np.ndarray,
    sx: np.ndarray | None = None,
    sxx: np.ndarray | None = None,
    sxy: np.ndarray | None = None,
) -> ClusterStats:
    """`ClusterStats` from an engine's columns of shifted sums: the one place that knows its fields."""
    n = np.asarray(n, dtype=np.int64)
    column = lambda values: np.asarray(values, dtype=np.float64)  # noqa: E731
    if sx is None:
        zeros = np.zeros(len(n))
        return ClusterStats(n=n, sx=zeros, sxx=zeros, sy=column(sy), sxy=zeros, syy=column(syy), has_x=False)
    return ClusterStats(
        n=n, sx=column(sx), sxx=column(sxx), sy=column(sy), sxy=column(sxy), syy=column(syy), has_x=True
    )


@dataclass(frozen=True)
class _Totals:
    """Sums over all clusters, centred at the overall means (what `lm(y ~ x)` needs)."""

    n: float
    mean_y: float  # of the shifted y
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
    scaling = Scaling(
        y=_power_of_two((totals.tyy / totals.n) ** 0.5),
        x=_power_of_two((totals.txx / totals.n) ** 0.5) if has_x else 1.0,
    )
    no_rows = ModelRows(y=np.empty(0), x=None, codes=np.empty(0, dtype=np.intp), n_groups=sums.n_groups)
    mixed = fit_exact(no_rows, model.random, model.method, _scaled(stats, scaling))
    mixed = usable_fit(_unshift(scaling.unscale(mixed, sums.n_obs), sums.y_shift, sums.x_shift), model.engine)

    intercept, slope = no_pool(stats)
    intercept = intercept + sums.y_shift - (slope * sums.x_shift if has_x else 0.0)
    errors = _no_pool_errors(stats, sums.mean_x)
    complete = _complete_pool(totals, has_x, sums.y_shift, sums.x_shift)
    return assemble(
        labels=sums.labels,
        n=np.asarray(stats.n),
        mean_y=sums.mean_y,
        mean_x=sums.mean_x,
        no_pool_estimates=(intercept, slope),
        no_pool_errors=errors,
        complete=complete,
        mixed=mixed,
        model=model,
        names=["Intercept"] + ([x_name] if has_x else []),
        n_obs=sums.n_obs,
    )


def _check_sums(sums: ClusterSums, totals: _Totals, random: str) -> None:
    """The in-memory checks (`checks.check_data`), answered from the sums."""
    n_obs, n_groups = sums.n_obs, sums.n_groups
    if n_obs <= n_groups:
        raise DataError(
            f"{n_obs} rows for {n_groups} clusters: a mixed model needs more rows than clusters, "
            "or the cluster and residual variances cannot be told apart"
        )
    if random == "slope" and n_obs <= 2 * n_groups:
        raise DataError(
            f"{n_obs} rows for {n_groups} clusters: a random slope needs more rows than 2 × clusters "
            f"({2 * n_groups}); use model.random: intercept, or more rows per cluster"
        )
    if totals.tyy <= 0:
        raise DataError(f"y is {sums.y_shift + totals.mean_y:g} in every row: there is no variation to pool")
    if not sums.stats.has_x:
        return
    if totals.txx <= 0:
        raise DataError(f"x is {sums.x_shift + totals.mean_x:g} in every row: its slope cannot be estimated")
    residual = totals.tyy - totals.txy**2 / totals.txx
    if residual <= 1e-20 * totals.tyy:
        raise DataError(
            "y is an exact straight-line function of x (no residual variation), so the residual SD would be 0"
        )


def _scaled(stats: ClusterStats, scaling: Scaling) -> ClusterStats:
    """The sums of y / a and x / b; exact, as a and b are powers of two."""
    a, b = scaling.y, scaling.x
    if a == 1.0 and b == 1.0:
        return stats
    return dataclasses.replace(
        stats,
        sy=stats.sy / a,
        syy=stats.syy / (a * a),
        sx=stats.sx / b,
        sxx=stats.sxx / (b * b),
        sxy=stats.sxy / (a * b),
    )


def _unshift(fit: EngineFit, y_shift: float, x_shift: float) -> EngineFit:
    """The fit of y − c_y on x − c_x as the fit of y on x.

    The intercept at x = 0 is the intercept at x = c_x minus c_x times the slope, for the fixed effects
    (plus c_y) and for each cluster's random effects alike: a linear map L = [[1, −c_x], [0, 1]] taking
    covariances C to L C Lᵀ. The likelihood does not change (det L = 1), nor does θ's singularity.
    """
    if y_shift == 0.0 and x_shift == 0.0:
        return fit
    fixed = fit.fixed_effects.copy()
    fixed_cov, cov_re, blup, blup_cov = fit.fixed_cov, fit.cov_re, fit.blup, fit.blup_cov
    shift = np.array([[1.0, -x_shift], [0.0, 1.0]])
    if len(fixed) == 2:
        fixed = shift @ fixed
        fixed_cov = shift @ fixed_cov @ shift.T
    fixed[0] += y_shift
    if cov_re.shape[0] == 2:
        cov_re = shift @ cov_re @ shift.T
        blup = blup @ shift.T
        blup_cov = np.einsum("ij,cjk,lk->cil", shift, blup_cov, shift)
    theta = relative_factor(cov_re, fit.sigma)[np.tril_indices(cov_re.shape[0])]
    return dataclasses.replace(
        fit,
        fixed_effects=fixed,
        fixed_cov=fixed_cov,
        cov_re=cov_re,
        blup=blup,
        blup_cov=blup_cov,
        theta=theta,
    )


def _no_pool_errors(stats: ClusterStats, mean_x: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
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
    intercept_se = np.where(usable, np.sqrt(variance * (1.0 / safe_n + mean_x**2 / safe_wxx)), np.nan)
    return intercept_se, slope_se, variance**0.5


def _complete_pool(
    totals: _Totals, has_x: bool, y_shift: float, x_shift: float
) -> tuple[np.ndarray, np.ndarray]:
    """`pooling.complete_pool` (one OLS, R's `lm(y ~ x)`) from the overall centred sums."""
    if not has_x:
        variance = totals.tyy / (totals.n - 1) if totals.n > 1 else float("nan")
        return np.array([totals.mean_y + y_shift]), np.array([(variance / totals.n) ** 0.5])
    slope = totals.txy / totals.txx
    intercept = totals.mean_y + y_shift - slope * (totals.mean_x + x_shift)
    dof = totals.n - 2
    variance = max(totals.tyy - slope * totals.txy, 0.0) / dof if dof > 0 else float("nan")
    mean_x = totals.mean_x + x_shift
    errors = np.array(
        [(variance * (1 / totals.n + mean_x**2 / totals.txx)) ** 0.5, (variance / totals.txx) ** 0.5]
    )
    return np.array([intercept, slope]), errors
