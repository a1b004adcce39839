"""Bayesian partial pooling as brms fits it, from per-cluster sums.

The model is the exact engine's (``y = X beta + Z b + eps``, ``b_j ~ N(0, Sigma)``) with brms's default
priors: flat on the slope; ``student_t(3, median(y), s)`` on the intercept of the design whose predictor is
centred at its mean (brms's ``Intercept``); half-``student_t(3, 0, s)`` on each random-effect SD and on
sigma; ``lkj(1)`` on the correlation, with ``s = max(2.5, mad(y))`` and location and scale rounded to one
decimal (brms's ``def_scale_prior``).

How it is computed, and why:

* Only the 2-4 variance parameters (SDs, correlation, sigma) are sampled. Given them, the fixed effects
  and every cluster's effects are jointly Gaussian in closed form. With a flat prior on beta, integrating
  beta out leaves the REML likelihood: ``-2 log p(y | theta, sigma) = log|V0| + log|X'V0^-1 X| +
  (n - p) log sigma^2 + r^2 / sigma^2`` (``V0 = I + Z D Z'``, ``D = Sigma / sigma^2``, ``r^2`` the
  penalised residual sum of squares). The exact engine's profiled criterion holds every term but the
  sigma ones: it is that expression at ``sigma^2 = r^2 / (n - p)``, so one call of
  :meth:`~shrinkvis.fit.profiled._Problem.evaluate` (O(J) from per-cluster sums) gives the likelihood at
  any sigma. brms's Student-t prior on the intercept is not flat: its factor
  ``E[t(Intercept)]`` under the Gaussian conditional of the intercept is added by Gauss-Hermite
  quadrature, and the intercept is then drawn from Gaussian x Student-t by rejection.
* The sampler is an independence Metropolis-Hastings sampler with a multivariate Student-t (or Student-t
  mixture) proposal in unconstrained coordinates (log SDs, atanh correlation, log sigma; Jacobians
  included), each other step followed by a random-walk step. The proposal is fitted to the posterior:
  Laplace at every mode found from several starts, in the coordinates (Sigma of the intercept at the mean
  of x or at x = 0) where it scores the larger importance-sampling ESS, refitted by population Monte Carlo
  where that is still poor, or else refitted to the draws of a short pilot run (docs/bayes.md). On 2-4
  dimensions whose posterior is close to that shape, most proposals are accepted and successive draws are
  nearly independent, so it needs fewer density evaluations than a random walk or an ensemble sampler —
  the cost that matters when one evaluation is O(J). It is run as several independent chains from
  independent starts, so that R-hat, bulk and tail ESS (Vehtari et al. 2021, as the R package posterior
  computes them) are the usual between-chain diagnostics; a fit that fails brms's thresholds has
  ``converged`` False and says why (:func:`convergence_problems`). There are no divergences (no
  Hamiltonian dynamics); the acceptance rate is reported instead.
* Per cluster, each kept draw of (theta, sigma, beta) gives the cluster's coefficients as a Gaussian
  (mean and variance in closed form). Their posterior is the mixture of those Gaussians: its mean and SD
  are accumulated draw by draw (Rao-Blackwellised, no draws stored per cluster), and the 2.5 % / 97.5 %
  quantiles solve ``mean_k Phi((q - m_k) / s_k) = p`` by Newton's method over a subsample of the draws
  capped so that at most :data:`sampler.QUANTILE_CELLS` (draw, cluster) pairs are held.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from .profiled import ClusterStats, _Problem
from .sampler import (
    ClusterSummary,
    _Chains,
    _importance_share,
    _laplace_proposal,
    _Mixture,
    _modes,
    _Proposal,
    _State,
    _summary,
    _warnings,
    cluster_draws,
    convergence_problems,
    diagnostics,
    mixture_summary,
    posterior_json,
    proposal_summary,
    sample,
    t_times_gaussian,
)

__all__ = [
    "BayesFit",
    "Priors",
    "attach_reml",
    "convergence_problems",
    "default_priors",
    "diagnostics",
    "fit_bayes",
    "log_posterior",
]

#: Independent chains; draws kept per chain (the warm-up and the pilot run: sampler.py).
CHAINS = 4
DRAWS = 1000

#: (draw, cluster) cells of the conditional moments computed at once
MOMENT_CELLS = 1 << 18

_T_DF = 3.0
_HERMITE_NODES = 24


# --------------------------------------------------------------------------------------------------------
# Priors
# --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Priors:
    """brms's default priors in the data's units; ``None`` fields take brms's defaults from the data."""

    intercept_location: float
    intercept_scale: float
    sd_scale: float
    sigma_scale: float
    lkj: float = 1.0
    df: float = _T_DF

    def summary(self, random: str, group: str, x_name: str | None) -> list[dict[str, str]]:
        """The priors as brms's ``prior_summary`` prints them (prior, class, coef, group)."""
        rows: list[dict[str, str]] = []

        def row(prior: str, cls: str, coef: str = "", grp: str = "") -> None:
            rows.append({"prior": prior, "class": cls, "coef": coef, "group": grp})

        if x_name is not None:
            row("(flat)", "b")
            row("(flat)", "b", x_name)
        row(_t_text(self.df, self.intercept_location, self.intercept_scale), "Intercept")
        if random == "slope":
            row(f"lkj_corr_cholesky({_num(self.lkj)})", "L")
            row("", "L", "", group)
        row(_t_text(self.df, 0.0, self.sd_scale), "sd")
        row("", "sd", "", group)
        row("", "sd", "Intercept", group)
        if random == "slope" and x_name is not None:
            row("", "sd", x_name, group)
        row(_t_text(self.df, 0.0, self.sigma_scale), "sigma")
        return rows


def _num(value: float) -> str:
    """A number as R prints it (up to 7 significant digits, no trailing zeros)."""
    return f"{value:.7g}"


def _t_text(df: float, location: float, scale: float) -> str:
    return f"student_t({_num(df)}, {_num(location)}, {_num(scale)})"


def default_priors(y: np.ndarray, **overrides: float | None) -> Priors:
    """brms's defaults for a Gaussian response: location ``round(median(y), 1)``, scale
    ``max(2.5, round(mad(y), 1))`` with R's ``mad`` (constant 1.4826); ``overrides`` that are not None win."""
    y = np.asarray(y, dtype=float)
    median = float(np.median(y))
    mad = 1.4826 * float(np.median(np.abs(y - median)))
    scale = max(2.5, round(mad, 1))
    values: dict[str, float] = {
        "intercept_location": round(median, 1),
        "intercept_scale": scale,
        "sd_scale": scale,
        "sigma_scale": scale,
    }
    values.update({key: float(value) for key, value in overrides.items() if value is not None})
    return Priors(**values)


# --------------------------------------------------------------------------------------------------------
# The posterior of the variance parameters
# --------------------------------------------------------------------------------------------------------


def _log_1m_tanh2(r: Any) -> Any:
    """log(1 - tanh(r)^2), without losing digits as |r| grows (a float or an array)."""
    z = np.abs(r)
    return 2.0 * (math.log(2.0) - z - np.log1p(np.exp(-2.0 * z)))


def _move_origin(log_s0: Any, log_s1: Any, r: Any, by: float) -> tuple[Any, Any, Any]:
    """Sigma of (intercept, slope) given for the intercept at x = a, as it is for the intercept at x = a + by.

    In and out: log SD of the intercept and atanh of the correlation (the slope's SD does not change); also
    returned, log(1 - rho^2) of the result. The new intercept is b0 + by b1, so its variance is
    (s0 + by rho s1)^2 + by^2 s1^2 (1 - rho^2) -- a sum of squares, free of cancellation however far x sits
    -- and 1 - rho'^2 = s0^2 (1 - rho^2) / s0'^2 (the determinant does not change). Floats or arrays.
    """
    s0, s1, rho = np.exp(log_s0), np.exp(log_s1), np.tanh(r)
    log_1m = _log_1m_tanh2(r)
    s0_new = np.hypot(s0 + by * rho * s1, by * s1 * np.exp(0.5 * log_1m))
    log_s0_new = np.log(s0_new)
    rho_new = (rho * s0 + by * s1) / s0_new
    log_1m_new = np.minimum(2.0 * (log_s0 - log_s0_new) + log_1m, 0.0)
    r_new = np.copysign(np.log1p(np.minimum(np.abs(rho_new), 1.0)) - 0.5 * log_1m_new, rho_new)
    return log_s0_new, r_new, log_1m_new


class _Target:
    """Log posterior of the sampled coordinates v = (log sd_0[, log sd_1, atanh rho], log sigma), engine's units.

    brms puts its priors on Sigma for the intercept at x = 0 (u, the same coordinates for that Sigma). The
    sampler works on Sigma for the intercept at the mean of x instead (v): there the intercept and slope
    are nearly uncorrelated wherever x sits, so the posterior keeps the same near-Gaussian shape when x is
    shifted by 10^6, where in u the correlation would be pressed against +-1 and the SD of the intercept
    stretched by the shift. The density of v is the density of u times |du/dv| (:meth:`origin`), so the
    posterior is the same distribution, only sampled in better coordinates.
    """

    def __init__(self, problem: _Problem, priors: Priors, sd_scales: np.ndarray, anchor: float = 0.0) -> None:
        self.problem = problem
        #: where the sampled Sigma's intercept sits, in x measured from its mean (engine units): 0, or
        #: -centre_x for brms's own coordinates (the intercept at x = 0); see :func:`_coordinates`
        self.anchor = float(anchor) if problem.q == 2 else 0.0
        self.priors = priors
        self.sd_scales = [float(value) for value in sd_scales]
        self.q = problem.q
        self.dim = 4 if self.q == 2 else 2
        nodes, weights = np.polynomial.hermite.hermgauss(_HERMITE_NODES)
        self.nodes = nodes * math.sqrt(2.0)
        self.log_weights = np.log(weights / math.sqrt(math.pi))

    @property
    def n_groups(self) -> int:
        return self.problem.n_groups

    @property
    def p(self) -> int:
        return self.problem.p

    def shrunk(self, u0: list[float], shrink: float) -> np.ndarray:
        """A start in v from u0 (brms's coordinates) with the SDs multiplied by ``shrink`` (and, shrunk, no
        correlation)."""
        start = list(u0)
        for k in range(self.q):
            start[k] += math.log(shrink)
        if shrink != 1.0 and self.q == 2:
            start[2] = 0.0
        return self.centred(start)

    def reported(self, v: np.ndarray) -> np.ndarray:
        """Rows of v as u (Sigma for the intercept at x = 0, as brms reports it)."""
        u = np.array(v, dtype=float, copy=True)
        if self.q == 2:
            u[:, 0], u[:, 2] = self.origin(u.T)[:2]
        return u

    def thetas(self, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The engine's relative Cholesky factors theta (for x measured from its mean), one row per row of
        ``v``, and the sigmas."""
        log_sigma = v[:, -1]
        if self.q == 2:
            log_s0, r = v[:, 0], v[:, 2]
            if self.anchor != 0.0:
                log_s0, r, _ = _move_origin(log_s0, v[:, 1], r, -self.anchor)
            v = np.stack([log_s0, v[:, 1], r], axis=1)
            sd0, sd1 = np.exp(v[:, 0] - log_sigma), np.exp(v[:, 1] - log_sigma)
            return np.stack([sd0, np.tanh(v[:, 2]) * sd1, sd1 / np.cosh(v[:, 2])], axis=1), np.exp(log_sigma)
        return np.exp(v[:, :1] - log_sigma[:, None]), np.exp(log_sigma)

    def origin(self, v: Any) -> tuple[Any, Any, Any, Any]:
        """(log sd_0, atanh rho, log(1 - rho^2)) of Sigma for the intercept at x = 0, and log |du/dv|: at
        one point v, or at many given as columns (``v.T`` of rows of points).

        Sigma_0 = L Sigma_c L' with L of determinant 1, so in (variance, covariance, variance) coordinates
        the change has Jacobian 1; from (log s0, log s1, atanh rho) to those coordinates it is
        4 s0^3 s1^3 (1 - rho^2). Hence |du/dv| = s0c^3 (1 - rho_c^2) / (s0^3 (1 - rho^2)).
        """
        log_s0, r, log_1m = _move_origin(v[0], v[1], v[2], -self.problem.centre_x - self.anchor)
        log_jac = 3.0 * (v[0] - log_s0) + _log_1m_tanh2(v[2]) - log_1m
        return log_s0, r, log_1m, log_jac

    def centred(self, u: np.ndarray | list[float]) -> np.ndarray:
        """v from u: Sigma moved from the intercept at x = 0 to the intercept at the mean of x."""
        u = [float(value) for value in u]
        if self.q == 2:
            log_s0, r, _ = _move_origin(u[0], u[1], u[2], self.problem.centre_x + self.anchor)
            u[0], u[2] = log_s0, r
        return np.array(u)

    def intercept_log_t(self, value: np.ndarray) -> np.ndarray:
        z = (value - self.priors.intercept_location) / self.priors.intercept_scale
        return -0.5 * (self.priors.df + 1.0) * np.log1p(z * z / self.priors.df)

    def __call__(self, v: np.ndarray) -> tuple[float, _State | None]:
        """The log density at one point, and what the fixed effects are drawn from there (None where the
        density is zero)."""
        log_p, beta_c, a_inv = self.many(np.asarray(v, dtype=np.float64)[None, :])
        if not math.isfinite(log_p[0]):
            return -math.inf, None
        return float(log_p[0]), _State(beta_c=beta_c[0], a_inv=a_inv[0])

    def many(self, v: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The log density at each row of ``v`` (-inf where it is zero), with the GLS fixed effects and
        their covariance / sigma^2 there: (K,), (K, p), (K, p, p). One numpy pass over all rows."""
        v = np.atleast_2d(np.asarray(v, dtype=np.float64))
        p = self.problem.p
        log_p = np.full(len(v), -math.inf)
        beta_c, a_inv = np.zeros((len(v), p)), np.zeros((len(v), p, p))
        inside = np.all((v > -60.0) & (v < 60.0), axis=1)  # also rejects NaN
        if not inside.any():
            return log_p, beta_c, a_inv
        w = v[inside]
        with np.errstate(all="ignore"):
            values, beta_w, a_w = self._many_inside(w)
        good = np.isfinite(values)
        rows = np.flatnonzero(inside)[good]
        log_p[rows], beta_c[rows], a_inv[rows] = values[good], beta_w[good], a_w[good]
        return log_p, beta_c, a_inv

    def _many_inside(self, v: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        log_sigma = v[:, -1]
        thetas, sigma = self.thetas(v)
        f, beta_c, a_inv, r2 = self.problem.criterion_many(thetas)
        df = self.problem.df_resid
        # the profiled criterion at sigma^2 = r2/df, turned into -2 log p(y | theta, sigma)
        deviance = f - df * (1.0 + np.log(r2 / df)) + 2.0 * df * log_sigma + r2 / sigma**2
        log_p = -0.5 * deviance
        # the priors, on u (Sigma for the intercept at x = 0, as brms), with the Jacobians of the logs
        # and the atanh, then the Jacobian from u to v
        log_sds = [v[:, 0]]
        if self.q == 2:
            log_s0, _, log_1m_rho2, log_jac = self.origin(v.T)
            log_sds = [log_s0, v[:, 1]]
            # lkj (1 - rho^2)^(eta - 1) times d rho / d atanh
            log_p += self.priors.lkj * log_1m_rho2 + log_jac
        df_t = self.priors.df
        for k, log_sd in enumerate(log_sds):  # half-t priors on the SDs
            z = np.exp(log_sd) / self.sd_scales[k]
            log_p += -0.5 * (df_t + 1.0) * np.log1p(z * z / df_t) + log_sd
        z = sigma / self.priors.sigma_scale
        log_p += -0.5 * (df_t + 1.0) * np.log1p(z * z / df_t) + log_sigma
        # the intercept's Student-t prior, integrated against the intercept's Gaussian conditional
        mean = beta_c[:, 0] + self.problem.centre_y
        spread = sigma * np.sqrt(a_inv[:, 0, 0])
        values = self.intercept_log_t(mean[:, None] + spread[:, None] * self.nodes) + self.log_weights
        top = values.max(axis=1)
        log_p += top + np.log(np.exp(values - top[:, None]).sum(axis=1))
        return log_p, beta_c, a_inv  # NaN where criterion_many's f is: rejected by `many`


def _coordinates(
    target: _Target, u0: list[float], rng: np.random.Generator
) -> tuple[_Target, _Proposal | _Mixture, float]:
    """The coordinates to sample in and the starting independence proposal there, with its importance
    share.

    With a random slope, Sigma can be sampled for the intercept at the mean of x (where the likelihood
    makes intercept and slope nearly independent) or at x = 0 (where brms's priors sit). Where x is far
    from 0 and the data say little, the two pull apart: at the mean of x the posterior then presses the
    correlation against +-1 along a curved ridge, at x = 0 it is nearly Gaussian (and the other way round
    where the data say much). So where the mean of x is more than one of its SDs from 0, both are tried
    and the one whose Laplace proposal (over all the modes found) gives the larger importance share is
    sampled. Every start and both coordinates are always tried: a proposal that fits the one mode it
    was built on scores a high importance share however much mass lies where it never reaches (on
    tests/data/nuts/offset1000.csv, skipping them gave a posterior SD of the intercept 1.7x NUTS's with
    every diagnostic clean)."""
    candidates = [target]
    if target.q == 2 and abs(target.problem.centre_x) > 1.0:
        candidates.append(
            _Target(target.problem, target.priors, np.array(target.sd_scales), -target.problem.centre_x)
        )
    best: tuple[float, _Target, _Proposal | _Mixture] | None = None
    for candidate in candidates:
        modes = _modes(candidate, u0)
        if not modes:
            continue
        proposal = _laplace_proposal(modes)
        share = _importance_share(candidate, proposal, rng)
        if best is None or share > best[0]:
            best = (share, candidate, proposal)
    if best is None:
        raise ValueError("the posterior density is zero at the REML estimates")
    return best[1], best[2], best[0]


# --------------------------------------------------------------------------------------------------------
# Fixed effects and cluster effects given the variance parameters
# --------------------------------------------------------------------------------------------------------


def _draw_fixed(target: _Target, chains: _Chains, sigma: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One draw of beta (engine's centred coordinates) per kept draw: the intercept from its Gaussian
    conditional times the Student-t prior (rejection, the envelope being the prior's largest value within
    8 SDs of the Gaussian), the slope from its Gaussian conditional given the intercept."""
    cy = target.problem.centre_y
    beta = chains.beta_c.reshape(-1, chains.beta_c.shape[-1])
    a_inv = chains.a_inv.reshape(-1, *chains.a_inv.shape[-2:])
    s2 = sigma.reshape(-1) ** 2
    mean0 = beta[:, 0] + cy
    sd0 = np.sqrt(s2 * a_inv[:, 0, 0])
    intercept = t_times_gaussian(mean0, sd0, target.intercept_log_t, target.priors.intercept_location, rng)
    drawn = np.empty_like(beta)
    drawn[:, 0] = intercept - cy
    if beta.shape[1] == 2:
        ratio = a_inv[:, 0, 1] / a_inv[:, 0, 0]
        rest = np.sqrt(np.maximum(s2 * (a_inv[:, 1, 1] - ratio * a_inv[:, 0, 1]), 0.0))
        drawn[:, 1] = (
            beta[:, 1] + ratio * (drawn[:, 0] - beta[:, 0]) + rest * rng.standard_normal(beta.shape[0])
        )
    return drawn


def _cluster_moments(
    problem: _Problem, thetas: np.ndarray, sigma: np.ndarray, beta: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Conditional mean and variance of each cluster's (uncentred) intercept and slope given theta, sigma
    and beta (centred coordinates), for K draws at once: (K, J) arrays of beta + E[b_j | y, beta] and
    Var[b_j | y, beta].

    ``E[b_j] = D g_j`` with ``g_j = Z_j' V0_j^-1 (y_j - X_j beta) = Q_j (b_hat_j - beta)``, where
    ``Q_j = X_j' V0_j^-1 X_j`` and ``b_hat_j`` are the cluster's own least-squares coefficients (the
    identity ``X_j' y_j = S_j b_hat_j`` holds even where ``S_j`` is singular).
    """
    cx, cy = problem.centre_x, problem.centre_y
    s2 = (sigma * sigma)[:, None]
    b0, b1 = beta[:, 0:1], (beta[:, 1:2] if problem.p == 2 else np.zeros((len(beta), 1)))
    if problem.q == 2:
        a, c, d = thetas[:, 0:1], thetas[:, 1:2], thetas[:, 2:3]  # T = [[a, 0], [c, d]] for x from its mean
        d11, d12, d22 = a * a, a * c, c * c + d * d
        det_d = (a * d) ** 2
        det_k, q11, q12, q22 = problem.q_blocks(thetas)
        ik = 1.0 / det_k
        e0, e1 = problem.b0h - b0, problem.b1h - b1
        g0 = q11 * e0 + q12 * e1
        g1 = q12 * e0 + q22 * e1
        slope = b1 + d12 * g0 + d22 * g1
        intercept = b0 + d11 * g0 + d12 * g1 + cy - cx * slope
        c11 = (d11 + det_d * problem.s22) * ik * s2
        c12 = (d12 - det_d * problem.nmx) * ik * s2
        c22 = (d22 + det_d * problem.n) * ik * s2
        return intercept, c11 - 2.0 * cx * c12 + cx * cx * c22, slope, c22
    dd = thetas[:, 0:1] ** 2
    det_k, w = problem.q_blocks(thetas)[:2]
    g0 = w * (problem.my - b0 - b1 * problem.mx)
    intercept = b0 + dd * g0 + cy - cx * b1
    shape = intercept.shape
    return intercept, s2 * dd / det_k, np.broadcast_to(b1, shape), np.zeros(shape)


def _cluster_summaries(
    target: _Target, v: np.ndarray, beta: np.ndarray, rng: np.random.Generator
) -> tuple[ClusterSummary, ClusterSummary, int, int]:
    """Posterior mean, SD and 95 % interval of every cluster's intercept and slope (mixtures over draws)."""
    n_groups = target.problem.n_groups
    total = v.shape[0]
    picks, in_quantile = cluster_draws(total, n_groups, rng)
    n_moment, n_quantile = len(picks), int(in_quantile.sum())
    sums = np.zeros((2, 3, n_groups))  # (intercept, slope) x (sum m - ref, sum (m - ref)^2, sum var)
    ref: list[np.ndarray] = []
    stored = [np.empty((n_quantile, n_groups), dtype=np.float32) for _ in range(4)]  # 4 bytes suffice
    row = 0
    block = max(1, MOMENT_CELLS // n_groups)  # draws at a time
    for start in range(0, n_moment, block):
        index = picks[start : start + block]
        thetas, sigma = target.thetas(v[index])
        moments = _cluster_moments(target.problem, thetas, sigma, beta[index])
        for i in range(2):
            mean, var = moments[2 * i], moments[2 * i + 1]
            if start == 0:
                ref.append(mean[0].copy())
            dev = mean - ref[i]
            sums[i, 0] += dev.sum(axis=0)
            sums[i, 1] += (dev * dev).sum(axis=0)
            sums[i, 2] += var.sum(axis=0)
        keep = in_quantile[start : start + block]
        for j in range(4):
            stored[j][row : row + int(keep.sum())] = moments[j][keep]
        row += int(keep.sum())
    results = []
    for i in range(2):
        means, sds = stored[2 * i].astype(float), np.sqrt(stored[2 * i + 1].astype(float))
        results.append(ClusterSummary(*mixture_summary(sums[i], ref[i], n_moment, means, sds)))
    return results[0], results[1], n_moment, n_quantile


# --------------------------------------------------------------------------------------------------------
# Public entry point
# --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BayesFit:
    """Posterior summaries in the data's units, named as brms names them."""

    posterior: dict[str, dict[str, float]]
    intercept: ClusterSummary  # per cluster: its own intercept (fixed + random)
    slope: ClusterSummary  # per cluster: its own slope (NaN without predictor)
    priors: Priors
    prior_summary: list[dict[str, str]]
    chains: int
    draws: int
    acceptance: float
    cluster_draws: int
    quantile_draws: int
    warnings: tuple[str, ...] = field(default=())
    proposal: dict[str, Any] = field(default_factory=dict)  # how the independence proposal was made
    converged: bool = (
        True  # every parameter within brms's thresholds (R-hat <= 1.01, bulk and tail ESS >= 400)
    )
    reml: dict[str, Any] = field(default_factory=dict)  # the REML fit's population numbers, for comparison
    #: role -> brms name, where the roles are not read from the names (a picture of two random effects of
    #: a larger model: lmm_bayes.ClassBayesFit.view)
    roles: dict[str, str] = field(default_factory=dict)

    def cluster_columns(self) -> dict[str, np.ndarray]:
        """estimates.csv's bayes_* columns."""
        columns = {}
        for coefficient, summary in (("intercept", self.intercept), ("slope", self.slope)):
            for suffix, values in (
                ("", summary.mean),
                ("_sd", summary.sd),
                ("_lo", summary.lo),
                ("_hi", summary.hi),
            ):
                columns[f"bayes_{coefficient}{suffix}"] = values
        return columns

    def point_estimates(
        self, names: list[str]
    ) -> tuple[dict[str, float], dict[str, float], np.ndarray, float]:
        """Posterior means as the usual population numbers: fixed effects, their posterior SDs, Sigma built
        from the mean SDs and correlation, sigma."""
        roles = self.names()
        keys = [roles["intercept"]] + ([roles["slope"]] if "slope" in roles else [])
        fixed = {name: self.posterior[key]["mean"] for name, key in zip(names, keys, strict=True)}
        errors = {name: self.posterior[key]["sd"] for name, key in zip(names, keys, strict=True)}
        sd = [self.posterior[roles["sd_intercept"]]["mean"]]
        if "sd_slope" in roles:
            sd.append(self.posterior[roles["sd_slope"]]["mean"])
        cov = np.diag(np.square(sd))
        if "corr" in roles:
            cov[0, 1] = cov[1, 0] = self.posterior[roles["corr"]]["mean"] * sd[0] * sd[1]
        return fixed, errors, cov, self.posterior["sigma"]["mean"]

    def names(self) -> dict[str, str]:
        """Role (intercept, slope, sd_intercept, sd_slope, corr, sigma) -> brms name, where present."""
        if self.roles:
            return dict(self.roles)
        roles = {}
        for name in self.posterior:
            if name == "b_Intercept":
                roles["intercept"] = name
            elif name.startswith("b_"):
                roles["slope"] = name
            elif name.startswith("sd_") and name.endswith("__Intercept"):
                roles["sd_intercept"] = name
            elif name.startswith("sd_"):
                roles["sd_slope"] = name
            elif name.startswith("cor_"):
                roles["corr"] = name
            elif name == "sigma":
                roles["sigma"] = name
        return roles

    def mean(self, role: str) -> float | None:
        name = self.names().get(role)
        return self.posterior[name]["mean"] if name else None

    def to_json(self) -> dict[str, Any]:
        return posterior_json(self)


def _target(
    stats: ClusterStats, random: str, priors: Priors, y_scale: float, x_scale: float, anchor: float = 0.0
) -> _Target:
    """The log posterior that :func:`fit_bayes` samples, on sums of y / y_scale and x / x_scale."""
    problem = _Problem(stats, random, "REML")
    a, ratio = y_scale, y_scale / x_scale
    engine_priors = replace(
        priors,
        intercept_location=priors.intercept_location / a,
        intercept_scale=priors.intercept_scale / a,
        sigma_scale=priors.sigma_scale / a,
    )
    sd_scales = np.array([priors.sd_scale / a, priors.sd_scale / ratio][: problem.q])
    return _Target(problem, engine_priors, sd_scales, anchor)


def log_posterior(
    stats: ClusterStats, random: str, priors: Priors, y_scale: float = 1.0, x_scale: float = 1.0
) -> Any:
    """The log density of u = (log sd_Intercept[, log sd_x, atanh cor], log sigma) (engine's units, up to
    a constant) that :func:`fit_bayes` samples: a plain function of a 1-D array, for checking the sampler
    against another one."""
    target = _target(stats, random, priors, y_scale, x_scale)

    def density(u: Any) -> float:
        v = target.centred(np.asarray(u, dtype=np.float64))
        value = target(v)[0]
        return value - target.origin(v)[3] if target.q == 2 and math.isfinite(value) else value

    return density


def fit_bayes(
    stats: ClusterStats,
    random: str,
    priors: Priors,
    *,
    seed: int,
    start: tuple[np.ndarray, float, float],
    y_scale: float = 1.0,
    x_scale: float = 1.0,
    group: str = "cluster",
    x_name: str | None = "x",
    chains: int = CHAINS,
    draws: int = DRAWS,
) -> BayesFit:
    """Sample the posterior of ``y ~ x + (x | g)`` / ``y ~ [x] + (1 | g)`` under ``priors``.

    ``stats`` are the sums of y / y_scale and x / x_scale (see scaling.py); ``priors`` and every result are
    in the data's own units. ``start`` is (SDs, correlation, sigma) in the engine's units, e.g. REML's.
    """
    rng = np.random.default_rng(seed)
    target = _target(stats, random, priors, y_scale, x_scale)
    problem = target.problem
    a, ratio = y_scale, y_scale / x_scale  # units of intercept-like and slope-like terms

    sds, corr, sigma = start
    sigma = max(float(sigma), 1e-8)
    floor = 0.05 * sigma
    u0 = [math.log(max(float(s), floor)) for s in np.atleast_1d(sds)[: problem.q]]
    if problem.q == 2:
        u0.append(math.atanh(float(np.clip(0.0 if not math.isfinite(corr) else corr, -0.9, 0.9))))
    u0.append(math.log(sigma))
    target, proposal, share = _coordinates(target, u0, rng)
    kept, proposal, share = sample(target, proposal, share, rng, chains, draws)
    draws = kept.u.shape[1]

    v = kept.u.reshape(-1, target.dim)
    u = target.reported(v)  # Sigma for the intercept at x = 0, as brms reports it
    sd_draws = np.exp(u[:, : problem.q])
    sigma_draws = np.exp(u[:, -1])
    beta = _draw_fixed(target, kept, sigma_draws, rng)
    shape = (chains, draws)
    cx, cy = problem.centre_x, problem.centre_y
    columns: dict[str, np.ndarray] = {}
    slope = beta[:, 1] if problem.p == 2 else None
    columns["b_Intercept"] = (beta[:, 0] + cy - (cx * slope if slope is not None else 0.0)) * a
    if slope is not None:
        columns[f"b_{x_name}"] = slope * ratio
    columns[f"sd_{group}__Intercept"] = sd_draws[:, 0] * a
    if problem.q == 2:
        columns[f"sd_{group}__{x_name}"] = sd_draws[:, 1] * ratio
        columns[f"cor_{group}__Intercept__{x_name}"] = np.tanh(u[:, 2])
    columns["sigma"] = sigma_draws * a
    posterior = {name: _summary(values.reshape(shape)) for name, values in columns.items()}

    intercept, slope_summary, n_moment, n_quantile = _cluster_summaries(target, v, beta, rng)
    for summary in (intercept,):
        summary.mean, summary.sd, summary.lo, summary.hi = (
            v * a for v in (summary.mean, summary.sd, summary.lo, summary.hi)
        )
    if problem.q == 2:
        slope_summary = ClusterSummary(
            *(v * ratio for v in (slope_summary.mean, slope_summary.sd, slope_summary.lo, slope_summary.hi))
        )
    else:
        # without a random slope each cluster's slope is the population slope
        row = posterior.get(f"b_{x_name}") if problem.p == 2 else None
        values = [row[key] if row else math.nan for key in ("mean", "sd", "q2.5", "q97.5")]
        slope_summary = ClusterSummary(*(np.full(problem.n_groups, v) for v in values))
    return BayesFit(
        posterior=posterior,
        intercept=intercept,
        slope=slope_summary,
        priors=priors,
        prior_summary=priors.summary(random, group, x_name if problem.p == 2 else None),
        chains=chains,
        draws=draws,
        acceptance=kept.accepted,
        proposal=proposal_summary(
            proposal,
            share,
            "Sigma of the intercept at x = 0"
            if target.anchor != 0.0
            else "Sigma of the intercept at the mean of x",
        ),
        cluster_draws=n_moment,
        quantile_draws=n_quantile,
        converged=not convergence_problems(posterior, draws, kept.accepted),
        warnings=tuple(
            _warnings(posterior, kept.accepted, draws) + _origin_warning(stats, problem.q, x_scale, x_name)
        ),
    )


def attach_reml(
    fit: BayesFit,
    fixed_effects: dict[str, float],
    std_errors: dict[str, float],
    cov_re: np.ndarray,
    sigma: float,
    is_singular: bool,
) -> BayesFit:
    """The fit with the REML fit's population numbers beside it (the report compares the two)."""
    sd = np.sqrt(np.diag(cov_re))
    corr = float(cov_re[0, 1] / (sd[0] * sd[1])) if sd.size == 2 and sd.min() > 0 else None
    reml = {
        "fixed_effects": fixed_effects,
        "std_errors": std_errors,
        "sd_intercept": float(sd[0]),
        "sd_slope": float(sd[1]) if sd.size == 2 else None,
        "corr": corr,
        "residual_sd": float(sigma),
        "is_singular": bool(is_singular),
    }
    return replace(fit, reml=reml)


#: A random slope's x whose mean is further than this many SDs from 0 gets a warning (see _origin_warning).
ORIGIN_WARN = 5.0


def _origin_warning(stats: ClusterStats, q: int, x_scale: float, x_name: str | None) -> list[str]:
    """brms's priors are on Sigma for the intercept at x = 0. With x far from 0 that intercept is an
    extrapolation whose SD is about |mean x| times the slope's SD, so the half-t prior on it (scaled to y)
    also pulls the slope's SD down, and the posterior depends on where x's zero is. Say so."""
    total = float(np.sum(stats.n))
    if q != 2 or total <= 0:
        return []
    shift = float(np.sum(stats.sx)) / total
    spread = math.sqrt(max(float(np.sum(stats.sxx)) / total - shift * shift, 0.0))
    mean = stats.centre_x + shift
    return far_from_zero(x_name or "x", mean * x_scale, spread * x_scale)


def far_from_zero(name: str, mean: float, spread: float) -> list[str]:
    """The warning for a random slope's column whose mean (data units) is more than ORIGIN_WARN of its SDs
    from 0 (both engines: this one's _origin_warning, lmm_bayes's per column), or none."""
    if not spread > 0.0 or abs(mean) <= ORIGIN_WARN * spread:
        return []
    return [
        f"{name} sits {abs(mean) / spread:.3g} SDs from 0 (mean {mean:.6g}): brms's priors are on "
        f"the random intercept at {name} = 0, so they also shrink the SD of the slope and the posterior "
        f"depends on where {name} = 0 is; subtract a value near its mean from {name} to avoid this"
    ]
