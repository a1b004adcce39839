"""Exact profiled REML/ML fits of linear mixed models with a single grouping factor.

The model is ``y = X beta + Z b + eps`` with ``X = [1, x]`` (or ``[1]``), ``b_j ~ N(0, Sigma)`` per cluster and
``eps ~ N(0, sigma^2 I)``; ``Z = X`` for a random slope and ``Z = [1]`` for a random intercept. The criterion
is lme4's profiled one (Bates, Maechler, Bolker & Walker 2015, JSS 67(1), section 3): ``Sigma / sigma^2 =
T T'`` with ``T`` lower-triangular, parametrised by ``theta`` in lme4's column-major order ``[T11, T21, T22]``.

Why it is written the way it is:

* Everything is computed from per-cluster sufficient statistics (:class:`ClusterStats`), so that the
  aggregation (two passes over the rows) can happen elsewhere (numpy, DuckDB, Spark) and each criterion
  evaluation costs O(J) vectorised numpy work, independent of the number of rows.
* The 2x2 algebra is written out component-wise instead of batched ``(J, 2, 2)`` matmuls: for 2x2 blocks
  the element-wise form is an order of magnitude faster.
* Where x and y sit does not matter: the sums are of ``x`` and ``y`` measured from global centres (kept in
  :class:`ClusterStats`), ``theta`` is optimised for ``x`` measured from its mean, and every result is mapped
  back to ``x`` and ``y`` as given at the end (centring.py). Optimising lme4's ``theta`` for raw ``x`` far
  from zero is hopelessly ill-conditioned (its first element then mostly measures ``mean(x) x slope SD``),
  and so was the convergence test on its gradient; the centred ``theta`` is judged on the data's own scale.
* Numerical stability: each cluster is split into its mean and its
  within-cluster deviations. The profiled penalised residual sum of squares is then a sum of non-negative
  terms, ``r^2 = sum_j RSS_within_j + sum_j d_j' Q_j d_j``, rather than lme4's ``y'y - |c_u|^2 - |c_beta|^2``
  which cancels catastrophically at large n. The per-cluster blocks use closed 2x2 forms (Sylvester's
  determinant identity and Cayley-Hamilton), e.g. ``X_j' V_j^-1 X_j = (S_j + det(S_j) adj(D)) / det(I + D S_j)``,
  whose terms are all positive semi-definite, so no subtraction of nearly equal matrices either.
* The criterion has an exact analytic gradient in ``theta`` (derived below). Since it depends on ``T T'``
  only, it is smooth for any real ``theta``, so the optimiser runs unconstrained: a damped Newton method
  (finite-difference Hessian of the exact gradient, absolute eigenvalues so that saddles repel) from
  lme4's start and a moment-based one pins ``theta`` down to ~1e-9 in a few dozen evaluations. Only where
  it does not settle does scipy's L-BFGS take over (followed by the same Newton polish); scipy is imported
  then and only then, since ``import scipy.optimize`` alone takes longer than an ordinary fit. Finally the
  signs are made canonical (diagonal >= 0) and near-zero diagonal elements are snapped onto the
  boundary, so singular fits are exact like lme4's.

Gradient with respect to the relative covariance ``D = Sigma / sigma^2`` (in the centred coordinates), with
``Q_j = X_j' V_j^-1 X_j``, ``A = sum_j Q_j``, ``g_j = Z_j' V_j^-1 (y_j - X_j beta)``:
``d log det(I + D Z'Z) = tr(Z'V^-1 Z dD)``, ``d V^-1 = -V^-1 Z dD Z' V^-1`` and the envelope theorem for
``beta`` give ``df = tr(G dD)`` with
``G = sum_j Z_j'V_j^-1 Z_j - sum_j (Z_j'V_j^-1 X_j) A^-1 (X_j'V_j^-1 Z_j) - (df_r / r^2) sum_j g_j g_j'`` (REML;
ML drops the middle term and uses ``n`` for ``df_r``), and ``df/dT = 2 G T``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import numpy as np

from .centring import shift_theta, uncentre_cov, uncentre_effects, uncentre_fixed

__all__ = [
    "ClusterStats",
    "ProfiledFit",
    "cluster_stats",
    "criterion_at",
    "cluster_sums",
    "fit_at",
    "fit_profiled",
    "global_centres",
    "no_pool",
]

#: Relative tolerance on the within-cluster centred sum of squares of x below which x counts as constant
#: within the cluster (the slope is not identifiable there); relative to the raw sum of squares, which
#: bounds the rounding error of ``sxx - sx^2 / n`` (sums measured from the global centre).
CONSTANT_X_RTOL = 1e-10

#: lme4's ``isSingular`` tolerance on the diagonal of ``theta``.
SINGULAR_TOL = 1e-4

_LOG_2PI = math.log(2.0 * math.pi)

#: Newton iterations from a start before scipy's quasi-Newton method takes over. The reference fits and
#: the benchmarks take 6-16; of 1,600 runs on varied simulations 99 % settled within 26.
NEWTON_MAX_ITER = 40

#: A fit has converged when no entry of its gradient exceeds this times max(n, 100) (the criterion is a
#: sum over n rows). Applied to the exact gradient where Newton settled, and to a finite-difference one
#: for ``converged``.
GRADIENT_RTOL = 1e-6


# --------------------------------------------------------------------------------------------------------
# Sufficient statistics
# --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ClusterStats:
    """Per-cluster sufficient statistics (arrays of length J, one entry per cluster).

    Sums of ``y - centre_y`` and ``x - centre_x``, where the centres are global (the same for every
    cluster; the overall means by default). Sums of raw values would lose ``log10(mean^2 / variance)``
    digits of the within-cluster sums of squares (``syy - sy^2 / n`` cancels), all of them for y or x
    sitting 1e8 spreads away from zero; measured from global centres they lose only
    ``log10(cluster mean's distance from the centre^2 / within-cluster variance)``, nothing for offsets.
    Any engine that can ``GROUP BY`` and ``SUM`` can make them, in two passes (see :func:`cluster_sums`);
    the centres travel with the sums, so every estimate maps back to y and x as given.
    ``sx``, ``sxx`` and ``sxy`` are zeros when the model has no predictor.
    """

    n: np.ndarray
    sx: np.ndarray
    sxx: np.ndarray
    sy: np.ndarray
    sxy: np.ndarray
    syy: np.ndarray
    has_x: bool
    centre_y: float = 0.0
    centre_x: float = 0.0

    def __post_init__(self) -> None:
        shapes = {np.shape(a) for a in (self.n, self.sx, self.sxx, self.sy, self.sxy, self.syy)}
        if len(shapes) != 1 or len(next(iter(shapes))) != 1:
            raise ValueError(f"ClusterStats arrays must be 1-D and of equal length, got shapes {shapes}")
        if not (math.isfinite(self.centre_y) and math.isfinite(self.centre_x)):
            raise ValueError("ClusterStats centres must be finite")

    @property
    def n_groups(self) -> int:
        """Number of clusters J (including empty ones)."""
        return int(np.shape(self.n)[0])

    @property
    def mean_y(self) -> np.ndarray:
        """Cluster means of y as given (NaN for empty clusters)."""
        return self._mean(self.sy) + self.centre_y

    @property
    def mean_x(self) -> np.ndarray:
        """Cluster means of x as given (NaN for empty clusters or without predictor)."""
        return self._mean(self.sx) + self.centre_x if self.has_x else np.full(self.n_groups, np.nan)

    def _mean(self, total: np.ndarray) -> np.ndarray:
        n = np.asarray(self.n, dtype=np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(n > 0, total / np.where(n > 0, n, 1.0), np.nan)

    def scaled(self, y_unit: float, x_unit: float) -> ClusterStats:
        """The statistics of y / y_unit and x / x_unit (exact when the units are powers of two)."""
        return ClusterStats(
            n=self.n,
            sx=self.sx / x_unit,
            sxx=self.sxx / (x_unit * x_unit),
            sy=self.sy / y_unit,
            sxy=self.sxy / (x_unit * y_unit),
            syy=self.syy / (y_unit * y_unit),
            has_x=self.has_x,
            centre_y=self.centre_y / y_unit,
            centre_x=self.centre_x / x_unit,
        )


def global_centres(y: np.ndarray, x: np.ndarray | None) -> tuple[float, float]:
    """The first pass: overall means of y and x (0 for an absent x), where the sums are measured from.

    Any value near the data would do (the sums only need to be free of the offset); the mean also makes
    the centred fit's intercept the one at the centre of the data.
    """
    centre_y = float(np.mean(y)) if len(y) else 0.0
    centre_x = float(np.mean(x)) if x is not None and len(x) else 0.0
    return centre_y, centre_x


def cluster_sums(
    y: np.ndarray, x: np.ndarray | None, codes: np.ndarray, n_groups: int, centre_y: float, centre_x: float
) -> ClusterStats:
    """The second pass: the six sums per cluster, a plain group-by. In SQL, with the centres bound::

        SELECT cluster, count(*) AS n,
               sum(x - :cx) AS sx, sum((x - :cx) * (x - :cx)) AS sxx,
               sum(y - :cy) AS sy, sum((x - :cx) * (y - :cy)) AS sxy, sum((y - :cy) * (y - :cy)) AS syy
        FROM rows GROUP BY cluster

    ``codes`` are the cluster indices ``0 .. n_groups - 1`` of the rows.
    """
    y = np.asarray(y, dtype=np.float64)
    codes = np.asarray(codes)
    if y.ndim != 1 or codes.shape != y.shape:
        raise ValueError("y and codes must be 1-D arrays of the same length")
    if codes.size and not np.issubdtype(codes.dtype, np.integer):
        raise ValueError("codes must be integers")
    if n_groups < 1:
        raise ValueError("n_groups must be positive")
    if codes.size and (codes.min() < 0 or codes.max() >= n_groups):
        raise ValueError(f"codes must lie in 0..{n_groups - 1}")
    if not np.all(np.isfinite(y)):
        raise ValueError("y contains non-finite values")
    codes = codes.astype(np.intp, copy=False)

    def total(w: np.ndarray | None) -> np.ndarray:
        return np.bincount(codes, weights=w, minlength=n_groups).astype(np.float64, copy=False)

    n = np.bincount(codes, minlength=n_groups)
    yc = y - centre_y
    sy = total(yc)
    syy = total(yc * yc)
    if x is None:
        zeros = np.zeros(n_groups)
        return ClusterStats(
            n=n, sx=zeros, sxx=zeros.copy(), sy=sy, sxy=zeros.copy(), syy=syy, has_x=False, centre_y=centre_y
        )
    x = np.asarray(x, dtype=np.float64)
    if x.shape != y.shape:
        raise ValueError("x and y must have the same length")
    if not np.all(np.isfinite(x)):
        raise ValueError("x contains non-finite values")
    xc = x - centre_x
    return ClusterStats(
        n=n,
        sx=total(xc),
        sxx=total(xc * xc),
        sy=sy,
        sxy=total(xc * yc),
        syy=syy,
        has_x=True,
        centre_y=centre_y,
        centre_x=centre_x,
    )


def cluster_stats(y: np.ndarray, x: np.ndarray | None, codes: np.ndarray, n_groups: int) -> ClusterStats:
    """Aggregate rows into per-cluster sums measured from the overall means (two passes over the rows).

    Kept separate from the optimisation so that the aggregation can be done by another engine.
    """
    y = np.asarray(y, dtype=np.float64)
    if x is not None:
        x = np.asarray(x, dtype=np.float64)
    finite = bool(np.all(np.isfinite(y))) and (x is None or bool(np.all(np.isfinite(x))))
    centre_y, centre_x = global_centres(y, x) if finite else (0.0, 0.0)  # cluster_sums says what is wrong
    return cluster_sums(y, x, codes, n_groups, centre_y, centre_x)


@dataclass(frozen=True)
class _Within:
    """Cluster means and within-cluster centred sums derived from raw sums (shared by fit and no-pool)."""

    n: np.ndarray  # float
    mean_x: np.ndarray
    mean_y: np.ndarray
    wxx: np.ndarray  # sum (x - mean_x)^2, 0 where x is (numerically) constant in the cluster
    wxy: np.ndarray
    wyy: np.ndarray
    slope_ok: np.ndarray  # bool: within-cluster slope identifiable


def _within(stats: ClusterStats) -> _Within:
    n = np.asarray(stats.n, dtype=np.float64)
    sx = np.asarray(stats.sx, dtype=np.float64)
    sy = np.asarray(stats.sy, dtype=np.float64)
    nonempty = n > 0
    safe_n = np.where(nonempty, n, 1.0)
    mean_x = np.where(nonempty, sx / safe_n, 0.0)
    mean_y = np.where(nonempty, sy / safe_n, 0.0)
    wyy = np.maximum(np.asarray(stats.syy, dtype=np.float64) - sy * mean_y, 0.0)
    if stats.has_x:
        sxx = np.asarray(stats.sxx, dtype=np.float64)
        wxx = np.maximum(sxx - sx * mean_x, 0.0)
        wxy = np.asarray(stats.sxy, dtype=np.float64) - sx * mean_y
        slope_ok = (n >= 2) & (wxx > CONSTANT_X_RTOL * sxx)
        wxx = np.where(slope_ok, wxx, 0.0)
        wxy = np.where(slope_ok, wxy, 0.0)
    else:
        wxx = np.zeros_like(n)
        wxy = np.zeros_like(n)
        slope_ok = np.zeros(n.shape, dtype=bool)
    return _Within(n=n, mean_x=mean_x, mean_y=mean_y, wxx=wxx, wxy=wxy, wyy=wyy, slope_ok=slope_ok)


def no_pool(stats: ClusterStats) -> tuple[np.ndarray, np.ndarray]:
    """Per-cluster OLS intercept and slope (the "no pooling" estimates), vectorised.

    NaN where not identifiable: empty clusters, and for the slope (and hence the intercept) clusters with
    fewer than two rows or with x constant within the cluster. Without x, the intercept is the cluster
    mean and the slope is NaN.
    """
    w = _within(stats)
    nonempty = w.n > 0
    if not stats.has_x:
        return np.where(nonempty, w.mean_y + stats.centre_y, np.nan), np.full(w.n.shape, np.nan)
    safe_wxx = np.where(w.slope_ok, w.wxx, 1.0)
    slope = np.where(w.slope_ok, w.wxy / safe_wxx, np.nan)
    # the line through the cluster's centroid, in the coordinates as given
    intercept = (w.mean_y + stats.centre_y) - slope * (w.mean_x + stats.centre_x)
    return np.where(w.slope_ok, intercept, np.nan), slope


def _sum_log(v: np.ndarray) -> float:
    """Sum of logs of values >= 1, taking the log of pairwise products (np.log dominates an evaluation
    otherwise). The number of product levels is limited so that the products cannot overflow."""
    top = float(v.max()) if v.size else 1.0
    levels = 0
    for lv, limit in ((5, 1e9), (4, 1e19), (3, 1e38), (2, 1e76), (1, 1e150)):
        if top <= limit:
            levels = lv
            break
    k = (v.size >> levels) << levels
    head = v[:k]
    for _ in range(levels):
        head = head[0::2] * head[1::2]
    return float(np.log(head).sum()) + float(np.log(v[k:]).sum())


def _dot(u: np.ndarray, v: np.ndarray) -> float:
    """Sum of products without BLAS: multi-threaded BLAS ``ddot`` on 1e5-long vectors, interleaved with
    other work, was measured 2x slower overall than single-threaded (thread wake-ups)."""
    return float(np.einsum("i,i->", u, v))


def _solve2(a11: float, a12: float, a22: float, r0: float, r1: float) -> tuple[np.ndarray, np.ndarray, float]:
    """Solve the 2x2 fixed-effects system A beta = r; returns beta, A^-1 and log det A."""
    det_a = a11 * a22 - a12 * a12
    if not det_a > 0.0:
        raise np.linalg.LinAlgError("fixed-effects system is singular (is x constant overall?)")
    a_inv = np.array([[a22, -a12], [-a12, a11]]) / det_a
    beta = a_inv @ np.array([r0, r1])
    return beta, a_inv, math.log(det_a)


# --------------------------------------------------------------------------------------------------------
# The profiled criterion
# --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProfiledFit:
    """Result of :func:`fit_profiled`, in lme4's parametrisation and conventions."""

    fixed_effects: np.ndarray
    fixed_cov: np.ndarray
    cov_re: np.ndarray
    sigma: float
    theta: np.ndarray
    blup: np.ndarray
    blup_cov: np.ndarray
    criterion: float
    method: str
    converged: bool
    gradient_norm: float
    is_singular: bool
    n_evaluations: int
    #: theta for x measured from its overall mean (lme4's theta is for x as given): the fit's own scale
    centred_theta: np.ndarray | None = None

    @property
    def sd_re(self) -> np.ndarray:
        """Standard deviations of the random effects."""
        return np.sqrt(np.diag(self.cov_re))

    @property
    def corr_re(self) -> float:
        """Correlation of random intercept and slope (NaN without random slope or with a zero SD)."""
        if self.cov_re.shape != (2, 2):
            return math.nan
        sd = self.sd_re
        if sd[0] == 0.0 or sd[1] == 0.0:
            return math.nan
        return float(np.clip(self.cov_re[0, 1] / (sd[0] * sd[1]), -1.0, 1.0))


@dataclass
class _Solution:
    """Everything the criterion computes at one theta; ``full`` extras only when requested."""

    f: float
    grad: np.ndarray
    beta_c: np.ndarray  # fixed effects in centred coordinates
    a_inv: np.ndarray  # (X' V^-1 X)^-1 in centred coordinates
    r2: float
    g0: np.ndarray | None = None  # Z' V^-1 e per cluster (component 0 / 1)
    g1: np.ndarray | None = None
    det_k: np.ndarray | None = None


class _Problem:
    """Precomputed centred per-cluster quantities and the criterion (with gradient) as a function of theta."""

    def __init__(self, stats: ClusterStats, random: str, method: str) -> None:
        if random not in ("intercept", "slope"):
            raise ValueError(f"random must be 'intercept' or 'slope', got {random!r}")
        if method not in ("REML", "ML"):
            raise ValueError(f"method must be 'REML' or 'ML', got {method!r}")
        if random == "slope" and not stats.has_x:
            raise ValueError("a random slope needs a predictor x (stats.has_x is False)")
        self.random = random
        self.method = method
        self.has_x = stats.has_x
        self.p = 2 if stats.has_x else 1
        self.q = 2 if random == "slope" else 1
        self.n_groups = stats.n_groups

        w = _within(stats)
        n = w.n
        n_obs = float(n.sum())
        self.n_obs = n_obs
        if n_obs <= self.p:
            raise ValueError(f"need more than {self.p} rows, got {n_obs:g}")
        # lme4's default identifiability checks (check.nlev.gtr.1, check.nobs.vs.nlev, check.nobs.vs.nRE):
        # beyond them the residual and random-effect variances are confounded and the optimum is arbitrary.
        n_levels = int((n > 0).sum())
        if n_levels < 2:
            raise ValueError("the grouping factor must have at least 2 non-empty levels")
        if n_obs <= self.q * n_levels:
            raise ValueError(
                f"number of observations ({n_obs:g}) <= number of random effects ({self.q * n_levels}): "
                "the random-effects parameters and the residual variance are unidentifiable"
            )
        # The criterion works on x and y measured from their overall means, and theta refers to that x
        # (see centring.py): the sums are already measured from the stats' centres; what is left of the
        # means in them (rounding, or centres that are not the means) is taken out here. `centre_x` and
        # `centre_y` are where the fit's origin sits in the coordinates as given.
        self.shift_x = float((w.mean_x * n).sum() / n_obs) if stats.has_x else 0.0
        self.shift_y = float((w.mean_y * n).sum() / n_obs)
        self.centre_x = stats.centre_x + self.shift_x
        self.centre_y = stats.centre_y + self.shift_y
        self.n = n
        self.mx = np.where(n > 0, w.mean_x - self.shift_x, 0.0) if stats.has_x else np.zeros_like(n)
        self.my = np.where(n > 0, w.mean_y - self.shift_y, 0.0)
        self.wxx = w.wxx
        safe_wxx = np.where(w.slope_ok, w.wxx, 1.0)
        slope_w = np.where(w.slope_ok, w.wxy / safe_wxx, 0.0)
        # Cluster "OLS" coefficients (centred); X_j' y_j = S_j b_hat_j holds even where S_j is singular.
        self.b1h = slope_w
        self.b0h = self.my - slope_w * self.mx
        self.rss_within = float(np.maximum(w.wyy - w.wxy * slope_w, 0.0).sum())
        # Constant parts of S_j = X_j' X_j (centred): [[n, n mx], [n mx, n mx^2 + Wxx]].
        self.nmx = n * self.mx
        self.s22 = self.nmx * self.mx + self.wxx
        self.nw = n * self.wxx  # det(S_j)
        self.df_resid = n_obs - self.p if method == "REML" else n_obs
        self.n_evaluations = 0
        self.last_magnitude = 0.0
        if self.q == 2:
            self.theta_lower = np.array([0.0, -np.inf, 0.0])
        else:
            self.theta_lower = np.array([0.0])

    # -- helpers -----------------------------------------------------------------------------------------
    def theta_from(self, theta: np.ndarray, origin: float) -> np.ndarray:
        """The problem's (centred) theta from one for the intercept at x = ``origin`` (as given)."""
        return shift_theta(theta, self.centre_x - origin) if self.q == 2 else np.abs(theta)

    def _tail(self, logdet_l: float, logdet_a: float, r2: float) -> float:
        df = self.df_resid
        if not r2 > 0.0:
            raise ValueError("the penalised residual sum of squares is zero: the data are fitted exactly")
        log_term = df * (1.0 + _LOG_2PI + math.log(r2 / df))
        self.last_magnitude = abs(logdet_l) + abs(log_term) + abs(logdet_a)
        base = logdet_l + log_term
        return base + logdet_a if self.method == "REML" else base

    # -- the criterion -------------------------------------------------------------------------------------
    def evaluate(self, theta: np.ndarray, full: bool = False) -> _Solution:
        """Criterion, exact gradient in theta and the profiled solution at ``theta``."""
        self.n_evaluations += 1
        theta = np.asarray(theta, dtype=np.float64)
        if self.q == 2:
            return self._eval_slope(theta, full)
        return self._eval_intercept(theta, full)

    #: (theta, cluster) cells per array in :meth:`criterion_many`: 256 kB arrays stay in the cache and are
    #: reused by malloc; 8 MB ones (2^20 cells) made 100,000 clusters 2x slower, a third of it page faults
    MANY_CELLS = 1 << 15

    def criterion_many(self, thetas: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """The criterion at K values of theta at once (rows of ``thetas``), without the gradient: for a
        sampler that evaluates many points whose order does not matter, one numpy pass instead of K.

        Returns ``f`` (K,), ``beta_c`` (K, p), ``a_inv`` (K, p, p) and ``r2`` (K,), the same quantities as
        :meth:`evaluate`; ``f`` is NaN where the fixed-effects system is singular or ``r2`` is not positive.
        """
        thetas = np.atleast_2d(np.asarray(thetas, dtype=np.float64))
        k = len(thetas)
        f, r2 = np.full(k, np.nan), np.full(k, np.nan)
        beta, a_inv = np.full((k, self.p), np.nan), np.full((k, self.p, self.p), np.nan)
        step = max(1, self.MANY_CELLS // max(self.n.size, 1))
        with np.errstate(all="ignore"):  # overflow far out in the tails: a NaN or inf, rejected by the caller
            for start in range(0, k, step):
                rows = slice(start, start + step)
                f[rows], beta[rows], a_inv[rows], r2[rows] = self._criterion_block(thetas[rows])
        self.n_evaluations += k
        return f, beta, a_inv, r2

    def q_blocks(self, thetas: np.ndarray) -> tuple[np.ndarray, ...]:
        """Per theta (rows) and cluster (columns): det(I + D S_j) and Q_j = X_j' V0_j^-1 X_j as its entries
        q11, q12, q22 (the last two absent without a predictor), as in _eval_slope and _eval_intercept."""
        n = self.n
        if self.q == 2:
            a, c, d = thetas[:, 0:1], thetas[:, 1:2], thetas[:, 2:3]
            d11, d12, d22 = a * a, a * c, c * c + d * d
            det_k = (c * self.mx + a) ** 2 + (d * self.mx) ** 2
            det_k *= n
            det_k += self.wxx * d22 + self.nw * (a * d) ** 2 + 1.0
            ik = 1.0 / det_k
            return (
                det_k,
                (self.nw * d22 + n) * ik,
                (self.nmx - self.nw * d12) * ik,
                (self.nw * d11 + self.s22) * ik,
            )
        t = thetas[:, 0:1]
        det_k = n * (t * t) + 1.0
        q11 = n / det_k
        if self.p == 2:
            q12 = q11 * self.mx
            return det_k, q11, q12, q12 * self.mx + self.wxx
        return det_k, q11

    def _criterion_block(self, thetas: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        det_k, q11, *rest = self.q_blocks(thetas)
        logdet_l = np.log(det_k).sum(axis=1)
        if self.p == 2:
            q12, q22 = rest
            s11, s12, s22 = q11.sum(axis=1), q12.sum(axis=1), q22.sum(axis=1)
            r0 = (q11 * self.b0h + q12 * self.b1h).sum(axis=1)
            r1 = (q12 * self.b0h + q22 * self.b1h).sum(axis=1)
            det_a = s11 * s22 - s12 * s12
            a_inv = np.empty((len(thetas), 2, 2))
            a_inv[:, 0, 0], a_inv[:, 0, 1], a_inv[:, 1, 1] = s22 / det_a, -s12 / det_a, s11 / det_a
            a_inv[:, 1, 0] = a_inv[:, 0, 1]
            beta = np.empty((len(thetas), 2))
            beta[:, 0] = a_inv[:, 0, 0] * r0 + a_inv[:, 0, 1] * r1
            beta[:, 1] = a_inv[:, 1, 0] * r0 + a_inv[:, 1, 1] * r1
            e0 = self.b0h - beta[:, 0:1]
            e1 = self.b1h - beta[:, 1:2]
            r2 = self.rss_within + (e0 * (q11 * e0 + q12 * e1) + e1 * (q12 * e0 + q22 * e1)).sum(axis=1)
        else:
            det_a = q11.sum(axis=1)
            beta = ((q11 * self.my).sum(axis=1) / det_a)[:, None]
            a_inv = (1.0 / det_a)[:, None, None]
            e0 = self.my - beta
            r2 = self.rss_within + (q11 * e0 * e0).sum(axis=1)
        df = self.df_resid
        f = logdet_l + df * (1.0 + _LOG_2PI + np.log(r2 / df))
        if self.method == "REML":
            f = f + np.log(det_a)
        f = np.where((det_a > 0.0) & (r2 > 0.0), f, np.nan)
        return f, beta, a_inv, r2

    def _eval_slope(self, theta: np.ndarray, full: bool) -> _Solution:
        n, mx, wxx, nw = self.n, self.mx, self.wxx, self.nw
        a, c, d = (float(v) for v in theta)  # T = [[a, 0], [c, d]], for x - centre_x
        d11, d12, d22 = a * a, a * c, c * c + d * d
        det_d = (a * d) ** 2
        # det(I + D S_j) = 1 + tr(D S_j) + det(D) det(S_j), every term >= 0 (Sylvester + 2x2 expansion).
        v0 = c * mx + a
        v1 = d * mx
        det_k = v0 * v0
        det_k += v1 * v1
        det_k *= n
        det_k += wxx * d22 + nw * det_d
        det_k += 1.0
        ik = 1.0 / det_k
        # Q_j = X_j' V_j^-1 X_j = (S_j + det(S_j) adj(D)) / det(I + D S_j)   (Cayley-Hamilton)
        q11 = nw * d22
        q11 += n
        q11 *= ik
        q12 = nw * (-d12)
        q12 += self.nmx
        q12 *= ik
        q22 = nw * d11
        q22 += self.s22
        q22 *= ik
        s11, s12, s22 = float(q11.sum()), float(q12.sum()), float(q22.sum())
        r0 = _dot(q11, self.b0h) + _dot(q12, self.b1h)
        r1 = _dot(q12, self.b0h) + _dot(q22, self.b1h)
        beta, a_inv, logdet_a = _solve2(s11, s12, s22, r0, r1)
        e0 = self.b0h - beta[0]
        e1 = self.b1h - beta[1]
        g0 = q11 * e0
        g0 += q12 * e1  # = X_j' V_j^-1 (y_j - X_j beta)
        g1 = q12 * e0
        g1 += q22 * e1
        r2 = self.rss_within + _dot(e0, g0) + _dot(e1, g1)
        f = self._tail(_sum_log(det_k), logdet_a, r2)

        # Gradient: G = sum Q - [sum Q A^-1 Q] - (df / r2) sum g g'  (REML), then chain rule to theta.
        scale = self.df_resid / r2
        G11 = s11 - scale * _dot(g0, g0)
        G12 = s12 - scale * _dot(g0, g1)
        G22 = s22 - scale * _dot(g1, g1)
        if self.method == "REML":
            b11, b12, b22 = a_inv[0, 0], a_inv[0, 1], a_inv[1, 1]
            m1111, m1112, m1212 = _dot(q11, q11), _dot(q11, q12), _dot(q12, q12)
            m1122, m1222, m2222 = _dot(q11, q22), _dot(q12, q22), _dot(q22, q22)
            G11 -= b11 * m1111 + 2.0 * b12 * m1112 + b22 * m1212
            G12 -= b11 * m1112 + b12 * (m1122 + m1212) + b22 * m1222
            G22 -= b11 * m1212 + 2.0 * b12 * m1222 + b22 * m2222
        grad = 2.0 * np.array([G11 * a + G12 * c, G12 * a + G22 * c, G22 * d])
        sol = _Solution(f=f, grad=grad, beta_c=beta, a_inv=a_inv, r2=r2)
        if full:
            sol.g0, sol.g1, sol.det_k = g0, g1, det_k
        return sol

    def _eval_intercept(self, theta: np.ndarray, full: bool) -> _Solution:
        n = self.n
        t = float(theta[0])
        dd = t * t
        det_k = n * dd
        det_k += 1.0
        w = n / det_k  # 1' V_j^-1 1
        if self.p == 2:
            q12 = w * self.mx
            q22 = q12 * self.mx
            q22 += self.wxx
            s11, s12, s22 = float(w.sum()), float(q12.sum()), float(q22.sum())
            r0 = _dot(w, self.b0h) + _dot(q12, self.b1h)
            r1 = _dot(q12, self.b0h) + _dot(q22, self.b1h)
            beta, a_inv, logdet_a = _solve2(s11, s12, s22, r0, r1)
            ebar = self.my - beta[0]
            ebar -= beta[1] * self.mx  # cluster mean residual
            e1 = self.b1h - beta[1]
            r2 = self.rss_within + _dot(ebar, w * ebar) + _dot(e1, self.wxx * e1)
        else:
            s11 = float(w.sum())
            beta = np.array([_dot(w, self.my) / s11])
            a_inv, logdet_a = np.array([[1.0 / s11]]), math.log(s11)
            ebar = self.my - beta[0]
            r2 = self.rss_within + _dot(ebar, w * ebar)
        f = self._tail(_sum_log(det_k), logdet_a, r2)
        g0 = w * ebar  # 1' V_j^-1 (y_j - X_j beta)
        G = s11 - (self.df_resid / r2) * _dot(g0, g0)
        if self.method == "REML":
            if self.p == 2:
                b11, b12, b22 = a_inv[0, 0], a_inv[0, 1], a_inv[1, 1]
                wm = w * self.mx
                G -= b11 * _dot(w, w) + 2.0 * b12 * _dot(w, wm) + b22 * _dot(wm, wm)
            else:
                G -= _dot(w, w) * a_inv[0, 0]
        sol = _Solution(f=f, grad=np.array([2.0 * t * G]), beta_c=beta, a_inv=a_inv, r2=r2)
        if full:
            sol.g0 = g0
            sol.det_k = det_k
        return sol

    def noise(self, f: float) -> float:
        """A bound on the rounding noise of the criterion near value ``f`` (and near the last evaluated
        theta): it scales with the magnitudes of its terms (log-determinants, n log r^2), which can be far
        larger than |f| because they partly cancel."""
        return 256.0 * np.finfo(float).eps * (self.n_obs + abs(f) + self.last_magnitude)

    def fg(self, theta: np.ndarray) -> tuple[float, np.ndarray]:
        sol = self.evaluate(theta)
        return sol.f, sol.grad

    def f(self, theta: np.ndarray) -> float:
        return self.evaluate(theta).f

    # -- starting values ---------------------------------------------------------------------------------
    def moment_start(self) -> np.ndarray:
        """A crude method-of-moments theta (between-cluster spread of cluster means / OLS fits).

        Only used as a second, independent start for the optimiser, so robustness matters, not accuracy.
        """
        n = self.n
        ok = n > 0
        sigma2 = self.rss_within / max(self.n_obs - self.q * float(ok.sum()), 1.0)
        if not sigma2 > 0.0:
            sigma2 = max(float(np.var(self.my[ok])), 1.0) if ok.any() else 1.0
        var0 = float(np.var(self.my[ok])) if ok.sum() > 1 else sigma2
        rel0 = max(var0 / sigma2 - float((1.0 / n[ok]).mean()), 0.01) if ok.any() else 1.0
        if self.q == 1:
            return np.array([math.sqrt(rel0)])
        good = self.wxx > 0
        rel1 = 0.01
        if good.sum() > 1:
            rel1 = max(float(np.var(self.b1h[good])) / sigma2 - float((1.0 / self.wxx[good]).mean()), 0.01)
        return np.array([math.sqrt(rel0), 0.0, math.sqrt(rel1)])


def criterion_at(
    stats: ClusterStats,
    random: Literal["intercept", "slope"],
    theta: np.ndarray,
    method: Literal["REML", "ML"] = "REML",
) -> float:
    """The profiled criterion (REML criterion or ML deviance) at a given lme4 ``theta``.

    Exposed so that callers and tests can check optimality independently of :func:`fit_profiled`.
    """
    problem = _Problem(stats, random, method)
    return problem.f(problem.theta_from(np.asarray(theta, dtype=np.float64), 0.0))


def fit_at(
    stats: ClusterStats,
    random: Literal["intercept", "slope"],
    theta: np.ndarray,
    method: Literal["REML", "ML"] = "REML",
    *,
    origin: float = 0.0,
) -> ProfiledFit:
    """The profiled solution at a given theta, no optimisation: lme4's estimates if theta were the optimum.

    ``theta`` is lme4's for the intercept at x = ``origin`` (0: x as given; ``stats.centre_x``: the
    coordinates the sums are measured in). Used to judge another engine's estimates by this criterion
    and to give them lme4's ``vcov``. ``converged`` is False and ``gradient_norm`` the exact gradient's.
    """
    problem = _Problem(stats, random, method)
    centred = problem.theta_from(np.asarray(theta, dtype=np.float64), origin)
    gradient = problem.evaluate(centred).grad
    return _assemble(problem, centred, False, float(np.abs(gradient).max()))


# --------------------------------------------------------------------------------------------------------
# Optimisation
# --------------------------------------------------------------------------------------------------------


class Criterion(Protocol):
    """What the Newton iterations need of a profiled criterion: this module's and fit/lmm.py's."""

    def evaluate(self, theta: np.ndarray, full: bool = False) -> Any: ...

    def noise(self, f: float) -> float: ...


def _fd_hessian(problem: Criterion, theta: np.ndarray, grad: np.ndarray, free: np.ndarray) -> np.ndarray:
    """Forward differences of the exact gradient (``grad``, at ``theta``) over the free coordinates;
    symmetrised. Their O(h) error only slows Newton's convergence (each chord step still gains about
    five digits), not where it converges to, and costs half the evaluations of central differences."""
    idx = np.flatnonzero(free)
    hess = np.empty((idx.size, idx.size))
    for col, i in enumerate(idx):
        h = 1e-5 * max(1.0, abs(theta[i]))
        up = theta.copy()
        up[i] += h
        hess[:, col] = (problem.evaluate(up).grad[idx] - grad[idx]) / h
    return 0.5 * (hess + hess.T)


def _newton(
    problem: Criterion, theta: np.ndarray, fixed: np.ndarray | None = None, max_iter: int = 12
) -> tuple[np.ndarray, float, np.ndarray, bool]:
    """Damped Newton iterations (finite-difference Hessian of the exact gradient) with backtracking.

    The Hessian is made positive definite by taking absolute eigenvalues, so every step is a descent
    step and saddles repel instead of attract. A Hessian is reused across steps (a chord iteration) while
    each step shrinks the gradient tenfold, as it does near the optimum, and recomputed otherwise. Near
    the optimum this pins theta down to ~1e-9 where a quasi-Newton method stalls on rounding noise.
    ``fixed`` marks coordinates held constant.

    Returns theta, f, the exact gradient there and whether the iteration settled: it stopped because no
    step could lower f beyond its rounding noise any more, not because it ran out of iterations or
    could not find a lower point.
    """
    free = np.ones(theta.size, dtype=bool) if fixed is None else ~fixed
    theta = np.asarray(theta, dtype=np.float64)
    sol = problem.evaluate(theta)
    f, g = sol.f, sol.grad
    if not (math.isfinite(f) and np.all(np.isfinite(g))):
        return theta, f, g, False
    hess: np.ndarray | None = None
    for _ in range(max_iter):
        if not free.any():
            return theta, f, g, True
        fresh = hess is None
        if hess is None:
            hess = _fd_hessian(problem, theta, g, free)
            if not np.all(np.isfinite(hess)):
                break
        evals, evecs = np.linalg.eigh(hess)
        floor = 1e-12 * max(float(np.abs(evals).max()), 1e-300)
        step = -evecs @ ((evecs.T @ g[free]) / np.maximum(np.abs(evals), floor))
        if -0.5 * float(g[free] @ step) <= problem.noise(f):
            # The predicted decrease is below the rounding noise of f, so comparing values of f can no
            # longer judge a step, but the exact gradient still can: keep taking the (small) steps while
            # each shrinks the gradient tenfold, i.e. still gains digits, then stop.
            if float(np.abs(step).max()) > 1e-4 * max(1.0, float(np.abs(theta).max())):
                return theta, f, g, True  # a flat direction, not a correction
            cand = theta.copy()
            cand[free] += step
            c_sol = problem.evaluate(cand)
            g_max = float(np.abs(g[free]).max())
            c_max = float(np.abs(c_sol.grad[free]).max())
            if c_sol.f <= f + problem.noise(f) and c_max < g_max:
                theta, sol, f, g = cand, c_sol, c_sol.f, c_sol.grad
                # (towards a boundary optimum theta_i = 0 the gradient vanishes with theta_i: stop once
                # the steps do not change theta any more)
                if c_max <= 0.1 * g_max and float(np.abs(step).max()) > 1e-12 * max(
                    1.0, float(np.abs(theta).max())
                ):
                    continue
            return theta, f, g, True
        alpha = 1.0
        cand = theta
        c_sol = sol
        accepted = False
        for _ls in range(10):
            cand = theta.copy()
            cand[free] += alpha * step
            c_sol = problem.evaluate(cand)
            if c_sol.f <= f and np.all(np.isfinite(c_sol.grad)):
                accepted = True
                break
            alpha *= 0.5
        if not accepted:
            if fresh:
                break
            hess = None  # a stale Hessian may be to blame: retry once with a fresh one
            continue
        if alpha < 1.0 or not np.abs(c_sol.grad[free]).max() <= 0.1 * np.abs(g[free]).max():
            hess = None  # far from the quadratic regime: refresh the Hessian
        moved = alpha * float(np.abs(step).max())
        theta, sol, f, g = cand, c_sol, c_sol.f, c_sol.grad
        if moved <= 1e-12 * max(1.0, float(np.abs(theta).max())):
            return theta, f, g, True
    return theta, f, g, False


def _newton_polish(
    problem: _Problem, theta: np.ndarray, fixed: np.ndarray | None = None, max_iter: int = 12
) -> tuple[np.ndarray, float]:
    """:func:`_newton` from a point near an optimum; theta and f only."""
    theta, f, _, _ = _newton(problem, theta, fixed, max_iter)
    return theta, f


def _canonical(problem: _Problem, theta: np.ndarray) -> np.ndarray:
    """lme4's canonical form of theta: non-negative diagonal (flipping the sign of a column of T leaves
    T T' and hence the criterion unchanged), and T = [[0, 0], [0, s]] when the intercept variance is 0."""
    theta = np.array(theta, dtype=np.float64)
    if problem.q == 1:
        return np.abs(theta)
    if theta[0] < 0.0:
        theta[0], theta[1] = -theta[0], -theta[1]
    theta[2] = abs(theta[2])
    if theta[0] == 0.0:
        theta[1], theta[2] = 0.0, math.hypot(theta[1], theta[2])
    return theta


def _diag_index(problem: _Problem) -> list[int]:
    return [0, 2] if problem.q == 2 else [0]


def _snap_to_boundary(problem: _Problem, theta: np.ndarray, f: float) -> tuple[np.ndarray, float]:
    """Put tiny diagonal elements exactly on 0 when that does not raise the criterion beyond rounding.

    The criterion is even in the last diagonal element, so near a singular optimum an optimiser only gets
    asymptotically close to 0; lme4 (bobyqa) lands on the bound exactly and reports correlation +-1.
    """
    scale = max(1.0, float(np.abs(theta).max()))
    # in degenerate (flat) directions the criterion differs from its value at 0 only by rounding noise
    tol = problem.noise(f)
    for i in _diag_index(problem):
        if 0.0 < abs(theta[i]) < 1e-5 * scale:
            cand = theta.copy()
            cand[i] = 0.0
            fixed = np.zeros(theta.size, dtype=bool)
            fixed[i] = True
            cand, f_c = _newton_polish(problem, cand, fixed=fixed, max_iter=6)
            if f_c <= f + tol:
                theta, f = _canonical(problem, cand), min(f, f_c)
    return theta, f


def _quasi_newton(problem: _Problem, start: np.ndarray) -> tuple[np.ndarray, float, bool]:
    """Unconstrained L-BFGS with the exact gradient; returns canonical theta.

    The criterion is a function of T T' only, so it is defined (and smooth) for any real theta: optimising
    without bounds avoids the spurious stops on a bound that a bounded quasi-Newton method makes when an
    early long step is projected onto it (observed: theta = [0, t21, 0], criterion 24,000 too high at 100k
    clusters). The bound is restored afterwards by flipping column signs, which leaves the fit unchanged.
    Only the fallback for starts where Newton does not settle, so scipy is imported here, when needed
    (``import scipy.optimize`` costs more than a whole ordinary fit).
    """
    theta, value, ok = lbfgs(problem, start, maxiter=1000, maxcor=10)
    return _canonical(problem, theta), value, ok


def lbfgs(problem: Any, start: np.ndarray, *, maxiter: int, maxcor: int) -> tuple[np.ndarray, float, bool]:
    """scipy's L-BFGS on a problem with ``fg`` (criterion and exact gradient) and ``n_obs``: the point, its
    criterion, and whether it stopped where it may (ABNORMAL line-search terminations near the optimum are
    harmless: the Newton polish that follows finishes). Shared by this engine and lmm.py's."""
    from scipy import optimize

    res = optimize.minimize(
        problem.fg,
        np.asarray(start, dtype=np.float64),
        jac=True,
        method="L-BFGS-B",
        options={"maxiter": maxiter, "ftol": 1e-15, "gtol": 1e-9 * problem.n_obs, "maxcor": maxcor},
    )
    ok = (bool(res.success) or "ABNORMAL" in str(res.message)) and math.isfinite(float(res.fun))
    return np.asarray(res.x, dtype=np.float64), float(res.fun), ok


def _descend(problem: _Problem, start: np.ndarray) -> tuple[np.ndarray, float, bool]:
    """Damped Newton from ``start``; returns the end point, f there and whether it is a settled optimum
    (a vanishing gradient)."""
    theta, f, grad, settled = _newton(problem, start, max_iter=NEWTON_MAX_ITER)
    stationary = settled and math.isfinite(f) and float(np.abs(grad).max()) <= _gradient_tol(problem)
    return theta, f, stationary


def _gradient_tol(problem: _Problem) -> float:
    """Largest exact-gradient entry at which a settled Newton run counts as a stationary point."""
    return GRADIENT_RTOL * max(problem.n_obs, 100.0)


def _best_run(
    problem: _Problem, runs: list[tuple[np.ndarray, np.ndarray, float, bool]]
) -> tuple[np.ndarray, np.ndarray, float, bool]:
    """The run (start, end point, f, stationary) with the lowest finite f; a stationary one within the
    rounding noise of that is preferred, so that a tie does not cost a quasi-Newton fallback."""
    finite = [run for run in runs if math.isfinite(run[2])] or runs
    best = min(finite, key=lambda run: run[2])
    settled = [run for run in finite if run[3] and run[2] <= best[2] + problem.noise(best[2])]
    return min(settled, key=lambda run: run[2]) if settled else best


def _local_min(problem: _Problem, start: np.ndarray) -> tuple[np.ndarray, float, bool]:
    """Newton from ``start``, or quasi-Newton from where Newton stopped; canonical signs, boundary snap."""
    return _settle(problem, start, *_descend(problem, start))


def _settle(
    problem: _Problem, start: np.ndarray, theta: np.ndarray, f: float, stationary: bool
) -> tuple[np.ndarray, float, bool]:
    """Finish a Newton run: where it settled, only canonical signs and the boundary snap remain; otherwise
    scipy's L-BFGS-B continues from the Newton end point (from ``start`` if that is not finite), then the
    Newton polish."""
    if stationary:
        theta = _canonical(problem, theta)
        theta, f = _snap_to_boundary(problem, theta, f)
        return theta, f, True
    begin = theta if math.isfinite(f) and np.all(np.isfinite(theta)) else start
    theta, _, ok = _quasi_newton(problem, begin)
    return _finish(problem, theta, ok)


def _finish(problem: _Problem, theta: np.ndarray, ok: bool) -> tuple[np.ndarray, float, bool]:
    theta, f = _newton_polish(problem, theta)
    theta = _canonical(problem, theta)
    theta, f = _snap_to_boundary(problem, theta, f)
    return theta, f, ok and math.isfinite(f)


def _escape_boundary(
    problem: _Problem, theta: np.ndarray, f: float, ok: bool
) -> tuple[np.ndarray, float, bool]:
    """On a singular fit, probe a few interior points; restart from one that is better (a saddle)."""
    scale = max(1.0, float(np.abs(theta).max()))
    probes = []
    for i in _diag_index(problem):
        if theta[i] == 0.0:
            for h in (1e-3, 1e-1):
                cand = theta.copy()
                cand[i] = h * scale
                probes.append(cand)
                if problem.q == 2 and i == 0:
                    # no intercept variance: also try correlated directions (slope variance kept)
                    s = float(theta[2])
                    for r in (0.5, -0.5):
                        probes.append(np.array([h * scale, r * s, math.sqrt(1.0 - r * r) * s]))
    for cand in probes:
        if problem.f(cand) < f:
            t_new, f_new, ok_new = _local_min(problem, cand)
            if f_new < f:
                return t_new, f_new, ok_new
    return theta, f, ok


def _fd_gradient_norm(problem: _Problem, theta: np.ndarray, f0: float) -> float:
    """Max |finite-difference gradient|; at a lower bound only the feasible (inward) direction counts."""
    worst = 0.0
    for i in range(theta.size):
        h = 1e-5 * max(1.0, abs(theta[i]))
        up = theta.copy()
        up[i] += h
        up2 = theta.copy()
        up2[i] += 2.0 * h
        if theta[i] <= problem.theta_lower[i]:
            # second-order one-sided difference; a positive slope into the feasible side is fine (KKT)
            g = (-3.0 * f0 + 4.0 * problem.f(up) - problem.f(up2)) / (2.0 * h)
            worst = max(worst, max(-g, 0.0))
        else:
            dn = theta.copy()
            dn[i] -= h
            g = (problem.f(up) - problem.f(dn)) / (2.0 * h)
            worst = max(worst, abs(g))
    return worst


# --------------------------------------------------------------------------------------------------------
# Public entry point
# --------------------------------------------------------------------------------------------------------


def fit_profiled(
    stats: ClusterStats,
    random: Literal["intercept", "slope"],
    method: Literal["REML", "ML"] = "REML",
) -> ProfiledFit:
    """Fit ``y ~ x + (x | g)`` (random="slope") or ``y ~ [x] + (1 | g)`` (random="intercept") by REML or ML.

    Optimises lme4's profiled criterion over theta from lme4's start (``[1, 0, 1]`` / ``[1]``) and from a
    moment-based start, keeping the better optimum; results follow lme4's conventions (``vcov``,
    ``ranef(condVar = TRUE)``, ``isSingular``).
    """
    problem = _Problem(stats, random, method)
    starts = [np.array([1.0, 0.0, 1.0]) if problem.q == 2 else np.array([1.0]), problem.moment_start()]
    # Newton from every start (cheap); only the best end point is finished, by quasi-Newton if Newton did
    # not settle there.
    start, theta, f, stationary = _best_run(problem, [(start, *_descend(problem, start)) for start in starts])
    theta, f, ok = _escape_boundary(problem, *_settle(problem, start, theta, f, stationary))
    gradient_norm = _fd_gradient_norm(problem, theta, f)
    converged = ok and gradient_norm <= _gradient_tol(problem)
    return _assemble(problem, theta, converged, gradient_norm)


def _assemble(problem: _Problem, theta: np.ndarray, converged: bool, gradient_norm: float) -> ProfiledFit:
    """The solution at the problem's (centred) ``theta``, mapped back to lme4's parametrisation for y and x
    as given (centring.py)."""
    sol = problem.evaluate(theta, full=True)
    sigma2 = sol.r2 / problem.df_resid
    cx = problem.centre_x
    beta, fixed_cov = uncentre_fixed(sol.beta_c, sigma2 * sol.a_inv, problem.centre_y, cx)
    assert sol.g0 is not None and sol.det_k is not None
    if problem.q == 2:
        assert sol.g1 is not None
        a, c, d = (float(v) for v in theta)
        d11, d12, d22 = a * a, a * c, c * c + d * d
        det_d = (a * d) ** 2
        # Conditional modes D Z' V^-1 e and covariances sigma^2 T (T'S T + I)^-1 T'
        # = sigma^2 (D + det(D) adj(S)) / det(I + D S), for x - centre_x, then moved to x = 0.
        blup = np.column_stack([d11 * sol.g0 + d12 * sol.g1, d12 * sol.g0 + d22 * sol.g1])
        ik = sigma2 / sol.det_k
        blup_cov = np.empty((problem.n_groups, 2, 2))
        blup_cov[:, 0, 0] = (d11 + det_d * problem.s22) * ik
        blup_cov[:, 0, 1] = blup_cov[:, 1, 0] = (d12 - det_d * problem.nmx) * ik
        blup_cov[:, 1, 1] = (d22 + det_d * problem.n) * ik
        blup, blup_cov = uncentre_effects(blup, cx), uncentre_cov(blup_cov, cx)
        cov_re = uncentre_cov(sigma2 * np.array([[d11, d12], [d12, d22]]), cx)
        lme4_theta = shift_theta(theta, -cx)
    else:
        dd = float(theta[0]) ** 2
        cov_re = np.array([[sigma2 * dd]])
        blup = (dd * sol.g0)[:, None]
        blup_cov = (sigma2 * dd / sol.det_k)[:, None, None]
        lme4_theta = np.abs(theta)
    # singular on the problem's own scale (x and y from their means): where x sits does not matter
    diag = theta[[0, 2]] if problem.q == 2 else theta
    return ProfiledFit(
        fixed_effects=beta,
        fixed_cov=fixed_cov,
        cov_re=cov_re,
        sigma=math.sqrt(sigma2),
        theta=lme4_theta,
        blup=blup,
        blup_cov=blup_cov,
        criterion=float(sol.f),
        method=problem.method,
        converged=bool(converged),
        gradient_norm=float(gradient_norm),
        is_singular=bool(np.any(np.abs(diag) <= SINGULAR_TOL)),
        n_evaluations=problem.n_evaluations,
        centred_theta=np.asarray(theta, dtype=np.float64),
    )
