"""The Bayesian engine for the whole class (one grouping factor, any fixed part, any bars), as brms fits it.

The model is the exact engine's (lmm.py): ``y = X beta + Z b + eps``, ``b_j ~ N(0, Sigma)`` with Sigma
block-diagonal over the bars, under brms's default priors: flat on every fixed effect but the intercept;
``student_t(3, median(y), s)`` on the intercept of the design whose other columns are centred at their
means (brms's ``Intercept``; none without an intercept); half-``student_t(3, 0, s)`` on every random
effect's SD and on sigma; ``lkj(1)`` on each bar's correlation matrix; ``s = max(2.5, mad(y))``
(bayes.default_priors). Parameters are named as brms names them: ``b_<name>``, ``sd_<g>__<term>``,
``cor_<g>__<a>__<b>``, ``sigma`` (:func:`brms_name`).

How it is computed (the two-effect engine's method, bayes.py, for q random effects):

* The fixed effects and every cluster's effects are integrated out in closed form, so only the variance
  parameters are sampled: per bar the log SDs and the atanh of its canonical partial correlations (the
  Cholesky factor of the correlation matrix built from them, as Stan's ``cholesky_factor_corr``), and
  log sigma -- in the exact engine's working coordinates (blocks.py: Z's columns centred within a bar
  that has an intercept, divided by powers of two), where the posterior keeps its shape wherever the
  columns sit. Given them the likelihood with beta integrated out (flat prior) is the REML likelihood,
  from per-cluster sums in one pass over the clusters (:meth:`_ClassTarget.many`, lme4's algebra as
  lmm.py's, batched over many points).
* brms's priors sit on Sigma for Z as given. The working Sigma is ``A Sigma A'`` (A fixed), a linear
  change with a constant Jacobian, so the prior density of the sampled coordinates is the prior of the
  given Sigma's SDs and correlations times the Jacobian of (log SDs, partial correlations) -> Sigma in the
  working coordinates over that in the given ones (:meth:`_ClassTarget.log_prior`).
* The Student-t prior on the intercept: its factor ``E[t(Intercept)]`` under the intercept's Gaussian
  conditional is added by Gauss-Hermite quadrature; the intercept is then drawn from Gaussian x Student-t
  by rejection and the other fixed effects from their Gaussian conditional given it.
* The sampler (sampler.py) and the diagnostics (R-hat, bulk and tail ESS) are the two-effect engine's;
  each cluster's coefficients are Gaussian given the parameters, so their posterior is a mixture over the
  draws (Rao-Blackwellised means, SDs and 2.5 % / 97.5 % quantiles).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..model import INTERCEPT
from .bayes import _HERMITE_NODES, CHAINS, DRAWS, BayesFit, Priors, _num, _t_text, far_from_zero
from .blocks import Blocks, Working, working
from .lmm import LmmFit
from .sampler import (
    ClusterSummary,
    _importance_share,
    _laplace_proposal,
    _modes,
    _State,
    _summary,
    _warnings,
    cluster_draws,
    convergence_problems,
    mixture_summary,
    posterior_json,
    proposal_summary,
    sample,
    t_times_gaussian,
)

__all__ = ["Adjustment", "ClassBayesFit", "brms_name", "fit_class_bayes", "log_jacobian_cpc"]

#: brms's renaming of a coefficient's name into a parameter name (brms:::rename, 2.18): these strings,
#: in this order, become these
_BRMS_RENAME = (
    (" ", ""),
    ("(", ""),
    (")", ""),
    ("[", ""),
    ("]", ""),
    (",", ""),
    ('"', ""),
    ("'", ""),
    ("?", ""),
    ("+", "P"),
    ("-", "M"),
    ("*", "MU"),
    ("/", "D"),
    ("^", "E"),
    ("=", "EQ"),
)

#: (draw, cluster) cells of the batched density evaluations and conditional moments held at once
CELLS = 1 << 17


def brms_name(name: str) -> str:
    """A coefficient or term as brms names it: ``(Intercept)`` -> ``Intercept``, ``log(n)`` -> ``logn``,
    ``I(x^2)`` -> ``IxE2``, ``x1:treatB`` unchanged."""
    if name == INTERCEPT:
        return "Intercept"
    for old, new in _BRMS_RENAME:
        name = name.replace(old, new)
    return name


# --------------------------------------------------------------------------------------------------------
# Per bar: SDs and canonical partial correlations -> Cholesky factor, and the Jacobians
# --------------------------------------------------------------------------------------------------------


def _pairs(m: int) -> list[tuple[int, int]]:
    """The (row, column) of each partial correlation of an m x m correlation matrix, row by row."""
    return [(i, j) for i in range(1, m) for j in range(i)]


def _corr_factor(z: np.ndarray, m: int) -> tuple[np.ndarray, np.ndarray]:
    """The lower Cholesky factor of the correlation matrix whose canonical partial correlations are ``z``
    (K, m(m-1)/2), row by row: L[i, j] = z_ij sqrt(1 - sum_k<j L[i, k]^2), L[i, i] the remainder; and
    log |dR/dz| (R's entries below the diagonal against z), which is sum over i > j of
    log L[j, j] + 0.5 log(1 - sum_k<j L[i, k]^2) (the map is triangular row by row)."""
    K = z.shape[0]
    L = np.zeros((K, m, m))
    log_jac = np.zeros(K)
    index = 0
    log_diag = np.zeros((K, m))
    for i in range(m):
        remaining = np.ones(K)
        for j in range(i):
            log_jac += log_diag[:, j] + 0.5 * np.log(remaining)
            L[:, i, j] = z[:, index] * np.sqrt(remaining)
            remaining = remaining * (1.0 - z[:, index] ** 2)
            index += 1
        L[:, i, i] = np.sqrt(remaining)
        log_diag[:, i] = 0.5 * np.log(remaining)
    return L, log_jac


def log_jacobian_cpc(z: np.ndarray, m: int) -> np.ndarray:
    """log |dR/dz| for rows of canonical partial correlations (exposed for the test that checks it
    against finite differences)."""
    return _corr_factor(np.atleast_2d(z), m)[1]


# --------------------------------------------------------------------------------------------------------
# The posterior of the variance parameters
# --------------------------------------------------------------------------------------------------------


class _ClassTarget:
    """Log posterior of v = (per bar: log SDs, atanh partial correlations; then log sigma), working units."""

    def __init__(self, w: Working, priors: Priors, intercept: bool = True) -> None:
        self.w = w
        self.priors = priors
        self.q, self._p = w.q, w.p
        self.sizes = w.blocks
        self.dim = sum(m + m * (m - 1) // 2 for m in self.sizes) + 1
        # per cluster, clusters in the last axis (entry by entry arithmetic over (points, clusters) arrays:
        # batched einsum over (K, J, q, q) spent 6 of 8.5 s at 1,000 clusters)
        self.S = np.ascontiguousarray(w.ztz.transpose(1, 2, 0))  # (q, q, J)
        self.B = np.ascontiguousarray(
            np.concatenate([w.ztx, w.ztz, w.zty[:, :, None]], axis=2).transpose(1, 2, 0)
        )  # (q, p + q + 1, J)
        self.xtx, self.xty, self.yty = w.xtx.sum(axis=0), w.xty.sum(axis=0), float(w.yty.sum())
        self.n_obs = float(w.n.sum())
        self.df = self.n_obs - self._p
        self.y_scale, self.y_centre = w.y_scale, w.y_centre
        # brms's Intercept = c_y + s_y * (m . beta~), m the mean row of the working X (blocks.py); only for
        # the formula's intercept (`intercept`), not another constant column of X (brms: a flat b)
        self.intercept_weights: np.ndarray | None = None
        if w.intercept is not None and intercept:
            i0 = w.intercept
            value = float(w.fixed_map[i0, i0] * w.intercept_value)  # the working intercept column's value
            self.intercept_weights = self.xtx[i0] / (value * self.n_obs)
        # per bar: its columns of Z, and A_Z's block (working = given A): given Sigma = s_y^2 A Sigma~ A'
        self.bars: list[tuple[slice, np.ndarray]] = []
        start = 0
        for m in self.sizes:
            part = slice(start, start + m)
            self.bars.append((part, w.random_map[part, part]))
            start += m
        nodes, weights = np.polynomial.hermite.hermgauss(_HERMITE_NODES)
        self.nodes = nodes * math.sqrt(2.0)
        self.log_weights = np.log(weights / math.sqrt(math.pi))

    @property
    def n_groups(self) -> int:
        return int(self.S.shape[2])

    @property
    def p(self) -> int:
        return self._p

    # ---- coordinates

    def parts(self, v: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """For rows of v: the working Cholesky factor C of Sigma~ (K, q, q), block-diagonal; log SDs
        (K, q); log |d Sigma~ / dv| without sigma (K,); sigma~ (K,)."""
        K = v.shape[0]
        C = np.zeros((K, self.q, self.q))
        log_sd = np.zeros((K, self.q))
        log_jac = np.zeros(K)
        at = 0
        for m, (part, _) in zip(self.sizes, self.bars, strict=True):
            ls = v[:, at : at + m]
            n_z = m * (m - 1) // 2
            y = v[:, at + m : at + m + n_z]
            z = np.tanh(y)
            L, log_jac_r = _corr_factor(z, m)
            C[:, part, part] = np.exp(ls)[:, :, None] * L
            log_sd[:, part] = ls
            # Sigma's entries against (log s, z), then z against atanh: 2^m prod s^(m+1) |dR/dz| prod(1 - z^2)
            log_jac += (m + 1) * ls.sum(axis=1) + log_jac_r + np.log1p(-(z * z)).sum(axis=1)
            at += m + n_z
        return C, log_sd, log_jac, np.exp(v[:, -1])

    def given_sds(self, C: np.ndarray) -> np.ndarray:
        """The SDs of the random effects for Z as given (data units), (K, q)."""
        out = np.empty(C.shape[:2])
        for part, A in self.bars:
            G = np.einsum("ab,kbc->kac", A, C[:, part, part])
            out[:, part] = self.y_scale * np.sqrt(np.sum(G * G, axis=2))
        return out

    def log_prior(self, v: np.ndarray, C: np.ndarray, log_jac: np.ndarray, sigma: np.ndarray) -> np.ndarray:
        """brms's priors on Sigma (for Z as given) and sigma, as a density of v (up to a constant)."""
        priors, df = self.priors, self.priors.df
        sds = self.given_sds(C)
        log_sds = np.log(sds)
        out = log_jac.copy()
        for m, (part, _) in zip(self.sizes, self.bars, strict=True):
            z = sds[:, part] / priors.sd_scale
            out += np.sum(-0.5 * (df + 1.0) * np.log1p(z * z / df), axis=1)
            # p(Sigma) = prod t(s_i) det(R)^(eta - 1) / (2^m prod s_i^m) for the given Sigma
            out -= m * log_sds[:, part].sum(axis=1)
            if m > 1 and priors.lkj != 1.0:
                # log det R = log det Sigma - 2 sum log s; det Sigma = det Sigma~ * const
                log_det = 2.0 * np.log(np.abs(np.diagonal(C[:, part, part], axis1=1, axis2=2))).sum(axis=1)
                out += (priors.lkj - 1.0) * (
                    log_det - 2.0 * (log_sds[:, part] - math.log(self.y_scale)).sum(axis=1)
                )
        z = sigma * self.y_scale / priors.sigma_scale
        out += -0.5 * (df + 1.0) * np.log1p(z * z / df) + v[:, -1]
        return out

    def shrunk(self, u0: list[float], shrink: float) -> np.ndarray:
        start = np.array(u0, dtype=float)
        at = 0
        for m in self.sizes:
            start[at : at + m] += math.log(shrink)
            if shrink != 1.0:
                start[at + m : at + m + m * (m - 1) // 2] = 0.0
            at += m + m * (m - 1) // 2
        return start

    def reported(self, v: np.ndarray) -> np.ndarray:
        """Rows of v as the reported parameters: per bar the log SDs and the atanh correlations of Sigma for
        Z as given (a bar centred in working coordinates mixes its SDs), then log sigma -- where the
        diagnostics that decide whether to draw more are computed."""
        C, _, _, _ = self.parts(np.atleast_2d(v))
        out = np.empty_like(np.atleast_2d(v))
        at = 0
        for m, (part, A) in zip(self.sizes, self.bars, strict=True):
            G = np.einsum("ab,kbc->kac", A, C[:, part, part])
            cov = np.einsum("kac,kbc->kab", G, G)
            sd = np.sqrt(np.einsum("kaa->ka", cov))
            out[:, at : at + m] = np.log(sd)
            for index, (i, j) in enumerate(_pairs(m)):
                out[:, at + m + index] = np.arctanh(np.clip(cov[:, i, j] / (sd[:, i] * sd[:, j]), -1.0, 1.0))
            at += m + m * (m - 1) // 2
        out[:, -1] = np.atleast_2d(v)[:, -1]
        return out

    # ---- the density

    def __call__(self, v: np.ndarray) -> tuple[float, _State | None]:
        log_p, beta, a_inv = self.many(np.asarray(v, dtype=np.float64)[None, :])
        if not math.isfinite(log_p[0]):
            return -math.inf, None
        return float(log_p[0]), _State(beta_c=beta[0], a_inv=a_inv[0])

    def many(self, v: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        v = np.atleast_2d(np.asarray(v, dtype=np.float64))
        p = self._p
        log_p = np.full(len(v), -math.inf)
        beta, a_inv = np.zeros((len(v), p)), np.zeros((len(v), p, p))
        inside = np.all((v > -60.0) & (v < 60.0), axis=1)  # also rejects NaN
        rows = np.flatnonzero(inside)
        step = max(1, CELLS // max(self.n_groups, 1))
        for start in range(0, rows.size, step):
            index = rows[start : start + step]
            with np.errstate(all="ignore"):
                values, b, a = self._many_inside(v[index])
            good = np.isfinite(values)
            log_p[index[good]], beta[index[good]], a_inv[index[good]] = values[good], b[good], a[good]
        return log_p, beta, a_inv

    def _many_inside(self, v: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        C, _, log_jac, sigma = self.parts(v)
        T = C / sigma[:, None, None]  # relative factor: Sigma~ / sigma~^2 = T T'
        logdet_m, within = _profiled_sums(T, self.S, self.B)
        p, q = self._p, self.q
        A = self.xtx[None] - within[:, :p, :p]
        c = self.xty[None] - within[:, :p, p + q]
        yy = self.yty - within[:, p + q, p + q]
        K = len(v)
        ok = np.all(np.isfinite(A.reshape(K, -1)), axis=1)
        try:
            chol = np.linalg.cholesky(np.where(ok[:, None, None], A, np.eye(p)))
        except np.linalg.LinAlgError:
            chol = np.stack([_chol_or_nan(a) for a in A])
        ok &= np.all(np.isfinite(chol.reshape(K, -1)), axis=1)
        inv = np.linalg.inv(np.where(ok[:, None, None], A, np.eye(p)))
        b = np.einsum("kab,kb->ka", inv, c)
        r2 = yy - np.einsum("ka,ka->k", c, b)
        ok &= r2 > 0.0
        logdet_a = 2.0 * np.log(np.abs(np.diagonal(chol, axis1=1, axis2=2))).sum(axis=1)
        s2 = sigma * sigma
        # -2 log p(y | theta, sigma) with beta integrated out (flat): REML's terms at this sigma
        deviance = logdet_m + logdet_a + self.df * np.log(s2) + r2 / s2
        log_p = np.where(ok, -0.5 * deviance + self.log_prior(v, C, log_jac, sigma), np.nan)
        if self.intercept_weights is not None:
            mean, spread = self.intercept_moments(b, inv, sigma)
            values = self.intercept_log_t(mean[:, None] + spread[:, None] * self.nodes) + self.log_weights
            top = values.max(axis=1)
            log_p = log_p + top + np.log(np.exp(values - top[:, None]).sum(axis=1))
        return log_p, b, inv

    def intercept_moments(
        self, beta: np.ndarray, a_inv: np.ndarray, sigma: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Mean and SD of brms's Intercept (data units) given the variance parameters."""
        m = self.intercept_weights
        assert m is not None
        mean = self.y_centre + self.y_scale * (beta @ m)
        spread = self.y_scale * sigma * np.sqrt(np.maximum(np.einsum("a,kab,b->k", m, a_inv, m), 0.0))
        return mean, spread

    def intercept_log_t(self, value: np.ndarray) -> np.ndarray:
        z = (value - self.priors.intercept_location) / self.priors.intercept_scale
        return -0.5 * (self.priors.df + 1.0) * np.log1p(z * z / self.priors.df)


def _chol_or_nan(a: np.ndarray) -> np.ndarray:
    try:
        return np.linalg.cholesky(a)
    except np.linalg.LinAlgError:
        return np.full(a.shape, np.nan)


def _factor(T: np.ndarray, S: np.ndarray) -> list[list[np.ndarray]]:
    """Per point and cluster the lower Cholesky factor L of M = T'S_jT + I, entry by entry: L[i][j] is a
    (K, J) array, for K factors T (K, q, q) and the clusters' Z'Z as S (q, q, J). Zero entries of T (the
    blocks of independent bars) are skipped."""
    q = T.shape[1]
    nonzero = [[bool(np.any(T[:, c, a] != 0.0)) for a in range(q)] for c in range(q)]
    TtS = [
        [sum((T[:, c, a, None] * S[c, d] for c in range(q) if nonzero[c][a]), np.zeros(1)) for d in range(q)]
        for a in range(q)
    ]
    L: list[list[np.ndarray]] = [[np.empty(0)] * q for _ in range(q)]
    for i in range(q):
        for j in range(i + 1):
            value = sum((TtS[i][d] * T[:, d, j, None] for d in range(q) if nonzero[d][j]), np.zeros(1))
            value = value + (1.0 if i == j else 0.0) + np.zeros((T.shape[0], S.shape[2]))
            for k in range(j):
                value = value - L[i][k] * L[j][k]
            L[i][j] = np.sqrt(value) if i == j else value / L[j][j]
    return L


def _forward(L: list[list[np.ndarray]], V: list[np.ndarray]) -> list[np.ndarray]:
    """L^-1 V, row by row, for V a list of q arrays whose first two axes are (points, clusters) and L
    from :func:`_factor`."""
    out: list[np.ndarray] = []
    for i in range(len(L)):
        extra = (None,) * (V[i].ndim - 2)
        row = V[i]
        for k in range(i):
            row = row - L[i][k][(..., *extra)] * out[k]
        out.append(row / L[i][i][(..., *extra)])
    return out


def _profiled_sums(T: np.ndarray, S: np.ndarray, B: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For K relative factors T (K, q, q): sum over clusters of log det(T'S_jT + I) (K,) and of R_j'R_j with
    R_j = L_j^-1 T'B_j (K, r, r), B (q, r, J) -- lmm.py's evaluation for many points at once."""
    q = T.shape[1]
    L = _factor(T, S)
    logdet = 2.0 * sum(np.log(L[i][i]).sum(axis=1) for i in range(q))
    # (T'B)_a = sum_c T[c, a] B_c, as (K, J, r) so that the Gram matrix is one batched matrix product
    TtB = [np.einsum("k,rj->kjr", T[:, 0, a], B[0]) for a in range(q)]
    for a in range(q):
        for c in range(1, q):
            if np.any(T[:, c, a] != 0.0):
                TtB[a] = TtB[a] + np.einsum("k,rj->kjr", T[:, c, a], B[c])
    R = _forward(L, TtB)
    within = sum(np.matmul(np.transpose(Ra, (0, 2, 1)), Ra) for Ra in R)
    return logdet, within


# --------------------------------------------------------------------------------------------------------
# Fixed effects and cluster effects given the variance parameters
# --------------------------------------------------------------------------------------------------------


def _draw_fixed(
    target: _ClassTarget, beta: np.ndarray, a_inv: np.ndarray, sigma: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """One draw of beta~ (working) per kept draw: beta~ ~ N(beta_hat, sigma~^2 A^-1), times the intercept's
    Student-t prior (the intercept by rejection, the rest from their Gaussian conditional given it)."""
    K, p = beta.shape
    chol = np.linalg.cholesky(a_inv)
    free = beta + sigma[:, None] * np.einsum("kab,kb->ka", chol, rng.standard_normal((K, p)))
    m = target.intercept_weights
    if m is None:
        return free
    mean, spread = target.intercept_moments(beta, a_inv, sigma)
    value = t_times_gaussian(mean, spread, target.intercept_log_t, target.priors.intercept_location, rng)
    # condition the free draw on m . beta~ = (value - c_y) / s_y (a Gaussian's conditional by correction)
    wanted = (value - target.y_centre) / target.y_scale
    am = np.einsum("kab,b->ka", a_inv, m)
    mam = np.maximum(am @ m, 1e-300)
    return free + am * ((wanted - free @ m) / mam)[:, None]


def _cluster_summaries(
    target: _ClassTarget,
    v: np.ndarray,
    beta_model: np.ndarray,
    beta_working: np.ndarray,
    fixed_of_term: list[int | None],
    rng: np.random.Generator,
    adjust: Adjustment | None = None,
) -> tuple[list[ClusterSummary], int, int]:
    """Posterior mean, SD and 95 % interval of every cluster's coefficient of each random effect (its
    fixed effect, where the term has one, plus its random effect): mixtures over draws of Gaussians. With
    ``adjust``, one more summary after those: the intercept with the cluster-level terms added at each
    draw's values and taken off at fixed ones (:class:`Adjustment`)."""
    w, q = target.w, target.q
    rows = q + (adjust is not None)
    J = target.n_groups
    total = v.shape[0]
    picks, in_quantile = cluster_draws(total, J, rng)
    n_moment, n_quantile = len(picks), int(in_quantile.sum())
    sums = np.zeros((rows, 3, J))
    ref = np.zeros((rows, J))
    stored_mean = np.empty((rows, n_quantile, J), dtype=np.float32)
    stored_sd = np.empty((rows, n_quantile, J), dtype=np.float32)
    A_z, s = w.random_map, w.y_scale
    row = 0
    step = max(1, CELLS // max(J, 1))
    for start in range(0, n_moment, step):
        index = picks[start : start + step]
        C, _, _, sigma = target.parts(v[index])
        T = C / sigma[:, None, None]
        L = _factor(T, target.S)
        K = len(index)
        # W = L^-1 T' (rows a of q x q, entry by entry over (K, J)), P = W'W = T M^-1 T'
        W = _forward(L, [np.broadcast_to(T[:, None, :, a], (K, J, q)) for a in range(q)])
        P = [[sum(W[c][..., a] * W[c][..., b] for c in range(q)) for b in range(q)] for a in range(q)]
        beta_k = beta_working[index]
        e = [w.zty[:, a][None] - beta_k @ w.ztx[:, a].T for a in range(q)]  # Z'(y - X beta), (K, J)
        b = [sum(P[a][c] * e[c] for c in range(q)) for a in range(q)]
        mean = np.stack([s * sum(A_z[t, a] * b[a] for a in range(q)) for t in range(q)], axis=2)
        scale = (s * s) * (sigma * sigma)[:, None]
        var = np.stack(
            [
                scale * sum(A_z[t, a] * A_z[t, c] * P[a][c] for a in range(q) for c in range(q))
                for t in range(q)
            ],
            axis=2,
        )
        for t, k in enumerate(fixed_of_term):
            if k is not None:
                mean[:, :, t] += beta_model[index, k][:, None]
        if adjust is not None:
            shift = (beta_model[index][:, adjust.fixed] - adjust.at) @ adjust.values  # (K, J)
            mean = np.concatenate([mean, (mean[:, :, adjust.term] + shift)[:, :, None]], axis=2)
            var = np.concatenate([var, var[:, :, adjust.term : adjust.term + 1]], axis=2)
        if start == 0:
            ref = mean[0].T.copy()
        dev = np.transpose(mean, (2, 0, 1)) - ref[:, None, :]  # (q, K, J)
        sums[:, 0] += dev.sum(axis=1)
        sums[:, 1] += (dev * dev).sum(axis=1)
        sums[:, 2] += np.transpose(var, (2, 0, 1)).sum(axis=1)
        keep = in_quantile[start : start + step]
        count = int(keep.sum())
        stored_mean[:, row : row + count] = np.transpose(mean[keep], (2, 0, 1))
        stored_sd[:, row : row + count] = np.sqrt(np.transpose(var[keep], (2, 0, 1)))
        row += count
    out = [
        ClusterSummary(
            *mixture_summary(
                sums[t], ref[t], n_moment, stored_mean[t].astype(float), stored_sd[t].astype(float)
            )
        )
        for t in range(rows)
    ]
    return out, n_moment, n_quantile


@dataclass(frozen=True)
class Adjustment:
    """Cluster-level fixed effects (columns constant within each cluster, such as log(n)) for the picture's
    intercept: ``term`` is the intercept's index among the random effects, ``fixed`` the indices of those
    fixed effects, ``values`` (m, J) their value in each cluster, ``at`` (m,) the estimates they are taken
    off at. The picture shows each cluster's intercept less those terms at fixed estimates; its posterior is
    that of intercept + sum (beta_o - at_o) x_oj, which carries the uncertainty of the cluster's own
    intercept, not that of the intercept extrapolated to x_o = 0 (for log(n), clusters of 1 row)."""

    term: int
    fixed: np.ndarray
    values: np.ndarray
    at: np.ndarray


# --------------------------------------------------------------------------------------------------------
# Public entry point
# --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ClassBayesFit:
    """Posterior summaries in the data's units, named as brms names them; per cluster, each random effect's
    coefficient (brms's ``coef``)."""

    posterior: dict[str, dict[str, float]]
    random_names: tuple[str, ...]
    fixed_names: tuple[str, ...]
    clusters: tuple[ClusterSummary, ...]
    priors: Priors
    prior_summary: list[dict[str, str]]
    chains: int
    draws: int
    acceptance: float
    cluster_draws: int
    quantile_draws: int
    group: str
    warnings: tuple[str, ...] = field(default=())
    proposal: dict[str, Any] = field(default_factory=dict)
    converged: bool = True
    reml: dict[str, Any] = field(default_factory=dict)
    #: per cluster the intercept less the cluster-level terms at the REML estimates (:class:`Adjustment`),
    #: the picture's intercept; None without cluster-level fixed effects
    adjusted_intercept: ClusterSummary | None = None

    def fixed_name(self, name: str) -> str:
        return f"b_{brms_name(name)}"

    def sd_name(self, name: str) -> str:
        return f"sd_{self.group}__{brms_name(name)}"

    def cor_name(self, a: str, b: str) -> str:
        return f"cor_{self.group}__{brms_name(a)}__{brms_name(b)}"

    def view(self, shown: tuple[str, ...]) -> BayesFit:
        """The posterior as the two-effect engine's result for a picture of one or two random effects
        (`shown`, the intercept's place first): their clusters as the intercept and slope columns, the roles
        pointing at their parameters; the posterior keeps every parameter."""
        index = [self.random_names.index(name) for name in shown]
        parts = [self.clusters[k] for k in index]
        if shown[0] == INTERCEPT and self.adjusted_intercept is not None:
            parts[0] = self.adjusted_intercept
        roles = {"sd_intercept": self.sd_name(shown[0]), "sigma": "sigma"}
        if shown[0] in self.fixed_names:
            roles["intercept"] = self.fixed_name(shown[0])
        if len(shown) > 1:
            roles["sd_slope"] = self.sd_name(shown[1])
            if shown[1] in self.fixed_names:
                roles["slope"] = self.fixed_name(shown[1])
            for a, b in ((shown[0], shown[1]), (shown[1], shown[0])):
                if self.cor_name(a, b) in self.posterior:
                    roles["corr"] = self.cor_name(a, b)
        nan = np.full(parts[0].mean.shape, math.nan)
        slope = parts[1] if len(parts) > 1 else ClusterSummary(nan, nan, nan, nan)
        sd, cor = self.reml["sd"], self.reml["cor"]
        pair = f"{shown[0]}:{shown[1]}" if len(shown) > 1 else ""
        reml = {
            "fixed_effects": {"Intercept": self.reml["fixed_effects"].get(shown[0])},
            "std_errors": {"Intercept": self.reml["std_errors"].get(shown[0])},
            "sd_intercept": sd[shown[0]],
            "sd_slope": sd[shown[1]] if len(shown) > 1 else None,
            "corr": cor.get(pair, cor.get(f"{shown[-1]}:{shown[0]}")) if pair else None,
            "residual_sd": self.reml["residual_sd"],
            "is_singular": self.reml["is_singular"],
        }
        if len(shown) > 1:
            reml["fixed_effects"][shown[1]] = self.reml["fixed_effects"].get(shown[1])
            reml["std_errors"][shown[1]] = self.reml["std_errors"].get(shown[1])
        return BayesFit(
            posterior=self.posterior,
            intercept=parts[0],
            slope=slope,
            priors=self.priors,
            prior_summary=self.prior_summary,
            chains=self.chains,
            draws=self.draws,
            acceptance=self.acceptance,
            cluster_draws=self.cluster_draws,
            quantile_draws=self.quantile_draws,
            warnings=self.warnings,
            proposal=self.proposal,
            converged=self.converged,
            reml=reml,
            roles=roles,
        )

    def to_json(self) -> dict[str, Any]:
        return posterior_json(self)


def _prior_summary(
    priors: Priors, fixed: tuple[str, ...], random: tuple[str, ...], sizes: tuple[int, ...], group: str
) -> list[dict[str, str]]:
    """The priors as brms's ``prior_summary`` lists them (prior, class, coef, group)."""
    rows: list[dict[str, str]] = []

    def row(prior: str, cls: str, coef: str = "", grp: str = "") -> None:
        rows.append({"prior": prior, "class": cls, "coef": coef, "group": grp})

    slopes = sorted(
        (brms_name(name) for name in fixed if name != INTERCEPT), key=lambda name: (name.lower(), name)
    )
    if slopes:  # brms lists the coefficients in R's sort order
        row("(flat)", "b")
        for name in slopes:
            row("(flat)", "b", name)
    if INTERCEPT in fixed:
        row(_t_text(priors.df, priors.intercept_location, priors.intercept_scale), "Intercept")
    if any(m > 1 for m in sizes):
        row(f"lkj_corr_cholesky({_num(priors.lkj)})", "L")
        row("", "L", "", group)
    row(_t_text(priors.df, 0.0, priors.sd_scale), "sd")
    row("", "sd", "", group)
    for name in random:
        row("", "sd", brms_name(name), group)
    row(_t_text(priors.df, 0.0, priors.sigma_scale), "sigma")
    return rows


def _start(target: _ClassTarget, reml: LmmFit) -> list[float]:
    """The REML fit in the sampled coordinates (SDs floored at 5 % of sigma, correlations within +-0.9)."""
    w = target.w
    sigma = max(reml.sigma / w.y_scale, 1e-8)
    u0: list[float] = []
    for m, (part, A) in zip(target.sizes, target.bars, strict=True):
        inv = np.linalg.inv(A)
        cov = inv @ reml.cov_re[part, part] @ inv.T / w.y_scale**2
        sd = np.sqrt(np.maximum(np.diag(cov), (0.05 * sigma) ** 2))
        u0 += [math.log(value) for value in sd]
        if m > 1:
            corr = cov / np.outer(sd, sd)
            corr = 0.9 * corr + 0.1 * np.eye(m)  # pulled in from the boundary, still positive definite
            try:
                L = np.linalg.cholesky(corr)
            except np.linalg.LinAlgError:
                L = np.eye(m)
            for i, j in _pairs(m):
                remaining = 1.0 - float(np.sum(L[i, :j] ** 2))
                z = L[i, j] / math.sqrt(remaining) if remaining > 0 else 0.0
                u0.append(math.atanh(float(np.clip(z, -0.9, 0.9))))
    u0.append(math.log(sigma))
    return u0


def _origin_warnings(blocks: Blocks) -> list[str]:
    """brms's priors are on Sigma for the columns as given. A random slope in a bar with a random intercept,
    on a column far from 0, makes that intercept an extrapolation whose SD is about |mean| times the slope's
    SD, so the half-t prior on it also shrinks the slope's SD and the posterior depends on where the
    column's 0 is (as bayes._origin_warning says for the two-effect models). Say so, per such column."""
    out = []
    n = blocks.cross[:, 0, 0].sum()
    start = 0
    for size in blocks.blocks:
        members = blocks.random_columns[start : start + size]
        names = blocks.random_names[start : start + size]
        start += size
        if not any(blocks.constant[w] for w in members):
            continue
        for w, name in zip(members, names, strict=True):
            if blocks.constant[w] or n <= 0:
                continue
            shift = blocks.cross[:, 0, w].sum() / n
            spread = blocks.scales[w] * math.sqrt(max(blocks.cross[:, w, w].sum() / n - shift * shift, 0.0))
            out += far_from_zero(name, blocks.centres[w] + blocks.scales[w] * shift, spread)
    return out


def fit_class_bayes(
    blocks: Blocks,
    reml: LmmFit,
    priors: Priors,
    *,
    group: str,
    seed: int,
    chains: int = CHAINS,
    draws: int = DRAWS,
    adjust: Adjustment | None = None,
) -> ClassBayesFit:
    """Sample the posterior of the blocks' model under ``priors`` (data units), started at the REML fit."""
    rng = np.random.default_rng(seed)
    w = working(blocks)
    has_intercept = w.intercept is not None and blocks.fixed_names[w.intercept] == INTERCEPT
    target = _ClassTarget(w, priors, has_intercept)
    u0 = _start(target, reml)
    modes = _modes(target, u0)
    if not modes:
        raise ValueError("the posterior density is zero at the REML estimates")
    proposal = _laplace_proposal(modes)
    share = _importance_share(target, proposal, rng)
    kept, proposal, share = sample(target, proposal, share, rng, chains, draws)
    draws = kept.u.shape[1]

    v = kept.u.reshape(-1, target.dim)
    C, _, _, sigma = target.parts(v)
    beta_w = _draw_fixed(
        target, kept.beta_c.reshape(-1, target.p), kept.a_inv.reshape(-1, target.p, target.p), sigma, rng
    )
    beta = w.y_scale * beta_w @ w.fixed_map.T
    if w.intercept is not None:
        beta[:, w.intercept] += w.y_centre / w.intercept_value
    shape = (chains, draws)
    columns: dict[str, np.ndarray] = {}
    for k, name in enumerate(blocks.fixed_names):
        columns[f"b_{brms_name(name)}"] = beta[:, k]
    sds = target.given_sds(C)
    for k, name in enumerate(blocks.random_names):
        columns[f"sd_{group}__{brms_name(name)}"] = sds[:, k]
    for part, A in target.bars:
        names = blocks.random_names[part]
        if len(names) < 2:
            continue
        G = np.einsum("ab,kbc->kac", A, C[:, part, part])
        cov = np.einsum("kac,kbc->kab", G, G)
        scale = np.sqrt(np.einsum("kaa->ka", cov))
        for b in range(len(names)):
            for a in range(b):
                key = f"cor_{group}__{brms_name(names[a])}__{brms_name(names[b])}"
                columns[key] = cov[:, a, b] / (scale[:, a] * scale[:, b])
    columns["sigma"] = sigma * w.y_scale
    posterior = {name: _summary(values.reshape(shape)) for name, values in columns.items()}

    fixed_of_term = [
        blocks.fixed_names.index(name) if name in blocks.fixed_names else None for name in blocks.random_names
    ]
    clusters, n_moment, n_quantile = _cluster_summaries(target, v, beta, beta_w, fixed_of_term, rng, adjust)
    adjusted = clusters.pop() if adjust is not None else None
    return ClassBayesFit(
        posterior=posterior,
        random_names=blocks.random_names,
        fixed_names=blocks.fixed_names,
        clusters=tuple(clusters),
        adjusted_intercept=adjusted,
        priors=priors,
        prior_summary=_prior_summary(priors, blocks.fixed_names, blocks.random_names, blocks.blocks, group),
        chains=chains,
        draws=draws,
        acceptance=kept.accepted,
        cluster_draws=n_moment,
        quantile_draws=n_quantile,
        group=group,
        proposal=proposal_summary(
            proposal, share, "working (each bar's columns centred where it has an intercept)"
        ),
        converged=not convergence_problems(posterior, draws, kept.accepted),
        warnings=tuple(_warnings(posterior, kept.accepted, draws) + _origin_warnings(blocks)),
        reml={
            "fixed_effects": dict(zip(reml.fixed_names, map(float, reml.fixed_effects), strict=True)),
            "std_errors": dict(zip(reml.fixed_names, map(float, reml.std_errors), strict=True)),
            "sd": reml.sd_re,
            "cor": reml.cor_re,
            "residual_sd": float(reml.sigma),
            "is_singular": bool(reml.is_singular),
        },
    )
