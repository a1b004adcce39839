"""Binomial and Poisson random-intercept models by maximum likelihood, as lme4's `glmer`.

    η_ij = x_ij β + offset_ij + b_j,   b_j = θ u_j,   u_j ~ N(0, 1)
    binomial: y_ij ~ Binomial(n_ij, logistic(η_ij));   poisson: y_ij ~ Poisson(exp(η_ij))

The likelihood is a product of one-dimensional integrals, one per cluster,

    L_j(β, θ) = ∫ exp(h_j(u)) du / √(2π),   h_j(u) = Σ_i ℓ_ij(η_ij) − u²/2,

each done by adaptive Gauss–Hermite quadrature around the mode û_j with scale H_j^(−1/2),
H_j = −h_j''(û_j) = 1 + θ² Σ_i n_ij v(η_ij): with one node (`nagq = 1`, glmer's default) this is the
Laplace approximation, log L_j ≈ h_j(û_j) − ½ log H_j.

Where the fixed part is the intercept alone (and a binomial model has no offset), a cluster's rows enter
only through two sums — successes and trials, or events and exposure — so the fit runs on one row per
cluster whatever the number of rows (`ClusterCounts`); otherwise it runs on the rows (`RateRows`).

Like glmer, the deviance optimised over (θ, β) is the approximation itself; the standard errors of β
come from its Hessian in (θ, β) (lme4's default `use.hessian`), the conditional modes b̂_j = θ û_j and
their conditional SDs θ / √H_j from the Laplace step. lme4's quirk is kept where it shows: with
`nagq > 1` its logLik is measured from the saturated model (`lme4_loglik`); `loglik` is the full one.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import optimize, special

from ..errors import DataError, FitError

FAMILIES = ("binomial", "poisson")
MAX_NAGQ = 25  # glmer's limit
NEWTON_STEPS = 60
NEWTON_TOLERANCE = 1e-11


@dataclass(frozen=True)
class ClusterCounts:
    """One row per cluster: `successes` (events) and `trials` (binomial) or `exposure` (Poisson) as `size`;
    `constant`: Σ log C(n, y) (binomial) or Σ (y log E − log y!) (Poisson) over the cluster's rows;
    `saturated`: the log-likelihood of the cluster's rows at μ = y (for lme4's nAGQ > 1 logLik)."""

    successes: np.ndarray
    size: np.ndarray
    constant: np.ndarray
    saturated: np.ndarray
    n_rows: np.ndarray


@dataclass(frozen=True)
class RateRows:
    """The rows of a model with more fixed effects than the intercept: y, n (trials; 1 for Poisson),
    offset, design X (rows × p), cluster codes 0..J−1."""

    y: np.ndarray
    n: np.ndarray
    offset: np.ndarray
    design: np.ndarray
    codes: np.ndarray
    n_groups: int


@dataclass(frozen=True)
class GlmmFit:
    """A glmer-like fit on the link scale. `blup` are the conditional modes b̂_j, `blup_sd` their
    conditional SDs; `loglik` includes every constant; `lme4_loglik` is what glmer prints."""

    family: str
    nagq: int
    fixed_effects: np.ndarray
    fixed_cov: np.ndarray
    theta: float
    blup: np.ndarray
    blup_sd: np.ndarray
    loglik: float
    lme4_loglik: float
    converged: bool
    is_singular: bool
    iterations: int

    @property
    def sd_intercept(self) -> float:
        return self.theta

    @property
    def deviance(self) -> float:
        return -2 * self.lme4_loglik


# ---------------------------------------------------------------------------------------------------------
# Families: mean and variance functions on the link scale


def _mean(family: str, eta: np.ndarray) -> np.ndarray:
    return special.expit(eta) if family == "binomial" else np.exp(eta)


def _cumulant(family: str, eta: np.ndarray) -> np.ndarray:
    """A(η): log(1 + e^η) (binomial, per trial) or e^η (Poisson, per unit of exposure)."""
    return np.logaddexp(0.0, eta) if family == "binomial" else np.exp(eta)


def _variance_and_slope(family: str, eta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """v(η) = A''(η) and v'(η) = A'''(η)."""
    mu = _mean(family, eta)
    if family == "binomial":
        v = mu * (1 - mu)
        return v, v * (1 - 2 * mu)
    return mu, mu


# ---------------------------------------------------------------------------------------------------------
# Per-cluster sums from rows


def cluster_counts(
    family: str, y: np.ndarray, size: np.ndarray, codes: np.ndarray, n_groups: int
) -> ClusterCounts:
    """Sum rows into `ClusterCounts`. `size`: trials per row (binomial) or exposure per row (Poisson)."""
    y = np.asarray(y, dtype=float)
    size = np.asarray(size, dtype=float)
    if family == "binomial":
        constant = special.gammaln(size + 1) - special.gammaln(y + 1) - special.gammaln(size - y + 1)
        share = np.divide(y, size, out=np.zeros_like(y), where=size > 0)
        saturated = constant + special.xlogy(y, share) + special.xlogy(size - y, 1 - share)
    else:
        constant = special.xlogy(y, size) - special.gammaln(y + 1)
        saturated = special.xlogy(y, y) - y - special.gammaln(y + 1)
    return ClusterCounts(
        successes=np.bincount(codes, y, n_groups),
        size=np.bincount(codes, size, n_groups),
        constant=np.bincount(codes, constant, n_groups),
        saturated=np.bincount(codes, saturated, n_groups),
        n_rows=np.bincount(codes, minlength=n_groups),
    )


# ---------------------------------------------------------------------------------------------------------
# The per-cluster integrals


@dataclass
class _Modes:
    """Warm start of the conditional modes between evaluations of the objective."""

    u: np.ndarray


class _CountsProblem:
    """Intercept-only model on per-cluster sums: h_j(u) = s_j η − m_j A(η) − u²/2, η = β + θ u."""

    def __init__(self, family: str, counts: ClusterCounts) -> None:
        self.family = family
        self.s = counts.successes
        self.m = counts.size
        self.n_groups = len(self.s)
        self.p = 1

    def pieces(self, beta: np.ndarray, theta: float, u: np.ndarray) -> tuple[np.ndarray, ...]:
        """At u: the log-likelihood part Σ ℓ, Σ r (residual sum), Σ w (weight), Σ w' and, for the
        gradient in β, Σ r x and Σ w' x (x = 1 here)."""
        eta = beta[0] + theta * u
        loglik = self.s * eta - self.m * _cumulant(self.family, eta)
        v, dv = _variance_and_slope(self.family, eta)
        residual = self.s - self.m * _mean(self.family, eta)
        return loglik, residual, self.m * v, self.m * dv, residual[:, None], (self.m * dv)[:, None]

    def loglik_at(self, beta: np.ndarray, theta: float, u: np.ndarray) -> np.ndarray:
        eta = beta[0] + theta * u
        return self.s * eta - self.m * _cumulant(self.family, eta)

    def residual_and_weight(
        self, beta: np.ndarray, theta: float, u: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Σ r = s − m μ and Σ w = m v at u: what a Newton step for û needs."""
        mu = _mean(self.family, beta[0] + theta * u)
        variance = mu * (1 - mu) if self.family == "binomial" else mu
        return self.s - self.m * mu, self.m * variance


class _RowsProblem:
    """A model with fixed effects beyond the intercept: the same sums, taken over each cluster's rows."""

    def __init__(self, family: str, rows: RateRows) -> None:
        self.family = family
        self.rows = rows
        self.n_groups = rows.n_groups
        self.p = rows.design.shape[1]

    def _sum(self, values: np.ndarray) -> np.ndarray:
        return np.bincount(self.rows.codes, values, self.n_groups)

    def _eta(self, beta: np.ndarray, theta: float, u: np.ndarray) -> np.ndarray:
        rows = self.rows
        return rows.design @ beta + rows.offset + theta * u[rows.codes]

    def loglik_at(self, beta: np.ndarray, theta: float, u: np.ndarray) -> np.ndarray:
        eta = self._eta(beta, theta, u)
        return self._sum(self.rows.y * eta - self.rows.n * _cumulant(self.family, eta))

    def residual_and_weight(
        self, beta: np.ndarray, theta: float, u: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        rows = self.rows
        mu = _mean(self.family, self._eta(beta, theta, u))
        variance = mu * (1 - mu) if self.family == "binomial" else mu
        return self._sum(rows.y - rows.n * mu), self._sum(rows.n * variance)

    def pieces(self, beta: np.ndarray, theta: float, u: np.ndarray) -> tuple[np.ndarray, ...]:
        rows = self.rows
        eta = self._eta(beta, theta, u)
        v, dv = _variance_and_slope(self.family, eta)
        residual = rows.y - rows.n * _mean(self.family, eta)
        loglik = self._sum(rows.y * eta - rows.n * _cumulant(self.family, eta))
        weighted_dv = rows.n * dv
        by_column = [
            (self._sum(residual * column), self._sum(weighted_dv * column)) for column in rows.design.T
        ]
        return (
            loglik,
            self._sum(residual),
            self._sum(rows.n * v),
            self._sum(weighted_dv),
            np.column_stack([pair[0] for pair in by_column]),
            np.column_stack([pair[1] for pair in by_column]),
        )

    def weighted_design(self, beta: np.ndarray, theta: float, u: np.ndarray) -> np.ndarray:
        """Σ_i w_i x_i per cluster (J × p), for dû/dβ."""
        rows = self.rows
        v, _ = _variance_and_slope(self.family, self._eta(beta, theta, u))
        w = rows.n * v
        return np.column_stack([self._sum(w * column) for column in rows.design.T])


Problem = _CountsProblem | _RowsProblem


def _modes(problem: Problem, beta: np.ndarray, theta: float, start: np.ndarray) -> np.ndarray:
    """û_j maximising h_j, all clusters at once: Newton steps on a strictly concave function. A step is
    kept where it lowers |h_j'| (else halved): the next step needs h_j' anyway, so the safeguard costs one
    evaluation of the mean per step and no log-likelihood."""
    u = start.copy()
    residual, weight = problem.residual_and_weight(beta, theta, u)
    gradient = theta * residual - u
    for _ in range(NEWTON_STEPS):
        step = gradient / (1 + theta**2 * weight)
        if np.max(np.abs(step)) < NEWTON_TOLERANCE:
            break
        for _ in range(30):
            trial = u + step
            trial_residual, trial_weight = problem.residual_and_weight(beta, theta, trial)
            trial_gradient = theta * trial_residual - trial
            worse = np.abs(trial_gradient) > np.abs(gradient) * (1 + 1e-12) + 1e-300
            if not worse.any():
                break
            step = np.where(worse, step / 2, step)
        u, residual, weight, gradient = trial, trial_residual, trial_weight, trial_gradient
    return u


def _gauss_hermite(nagq: int) -> tuple[np.ndarray, np.ndarray]:
    """Nodes z_k and weights w_k for ∫ f(z) φ(z) dz (probabilists' Hermite, weights summing to 1)."""
    nodes, weights = np.polynomial.hermite_e.hermegauss(nagq)
    return nodes, weights / weights.sum()


def _cluster_logliks(problem: Problem, params: np.ndarray, nagq: int, modes: _Modes) -> np.ndarray:
    """log L_j at (β, θ) by adaptive Gauss–Hermite quadrature with `nagq` nodes (1: Laplace)."""
    beta, theta = params[:-1], abs(params[-1])
    u = _modes(problem, beta, theta, modes.u)
    modes.u = u
    loglik, _, weight, *_ = problem.pieces(beta, theta, u)
    curvature = 1 + theta**2 * weight
    if nagq == 1:
        return loglik - u**2 / 2 - 0.5 * np.log(curvature)
    nodes, weights = _gauss_hermite(nagq)
    scale = 1 / np.sqrt(curvature)
    peak = loglik - u**2 / 2
    terms = []
    for z in nodes:
        at = u + scale * z
        terms.append(problem.loglik_at(beta, theta, at) - at**2 / 2 + z**2 / 2 - peak)
    stacked = np.stack(terms)
    return peak + np.log(scale) + special.logsumexp(stacked, axis=0, b=weights[:, None])


def _laplace_gradient(problem: Problem, params: np.ndarray, modes: _Modes) -> np.ndarray:
    """∂/∂(β, θ) of Σ_j [h_j(û_j) − ½ log H_j], by the envelope theorem and dû/d(β, θ)."""
    beta, theta = params[:-1], params[-1]
    u = modes.u
    loglik, residual, weight, dweight, residual_x, dweight_x = problem.pieces(beta, theta, u)
    curvature = 1 + theta**2 * weight
    if isinstance(problem, _CountsProblem):
        weight_x = weight[:, None]
    else:
        weight_x = problem.weighted_design(beta, theta, u)
    # β: dη_i/dβ = x_i + θ dû/dβ, dû/dβ = −θ Σ w x / H
    du_dbeta = -theta * weight_x / curvature[:, None]
    deta_term = dweight_x + theta * dweight[:, None] * du_dbeta
    grad_beta = residual_x - (theta**2 / (2 * curvature))[:, None] * deta_term
    # θ: dη_i/dθ = û + θ dû/dθ, dû/dθ = (Σ r − θ û Σ w) / H
    du_dtheta = (residual - theta * u * weight) / curvature
    deta_dtheta = u + theta * du_dtheta
    grad_theta = u * residual - (2 * theta * weight + theta**2 * dweight * deta_dtheta) / (2 * curvature)
    return np.concatenate([grad_beta.sum(axis=0), [grad_theta.sum()]])


def _objective(problem: Problem, nagq: int, modes: _Modes):  # noqa: ANN202 — a closure for scipy
    def negative_loglik(params: np.ndarray) -> tuple[float, np.ndarray] | float:
        value = -float(np.sum(_cluster_logliks(problem, params, nagq, modes)))
        if nagq == 1:
            return value, -_laplace_gradient(problem, params, modes)
        return value

    return negative_loglik


def _central_gradient(function, params: np.ndarray, step: float = 1e-6) -> np.ndarray:  # noqa: ANN001
    gradient = np.empty_like(params)
    for index in range(len(params)):
        delta = np.zeros_like(params)
        delta[index] = step * max(1.0, abs(params[index]))
        gradient[index] = (function(params + delta) - function(params - delta)) / (2 * delta[index])
    return gradient


def _hessian(function, params: np.ndarray) -> np.ndarray:  # noqa: ANN001
    """Central second differences of a scalar function (as lme4's `deriv12`)."""
    size = len(params)
    steps = 1e-4 * np.maximum(1.0, np.abs(params))
    hessian = np.empty((size, size))
    centre = function(params)
    for i in range(size):
        for j in range(i, size):
            if i == j:
                delta = np.zeros(size)
                delta[i] = steps[i]
                value = (function(params + delta) - 2 * centre + function(params - delta)) / steps[i] ** 2
            else:
                di, dj = np.zeros(size), np.zeros(size)
                di[i], dj[j] = steps[i], steps[j]
                value = (
                    function(params + di + dj)
                    - function(params + di - dj)
                    - function(params - di + dj)
                    + function(params - di - dj)
                ) / (4 * steps[i] * steps[j])
            hessian[i, j] = hessian[j, i] = value
    return hessian


def _start(problem: Problem) -> np.ndarray:
    """Complete pooling for β (a GLM that ignores the clusters, by IRLS), θ = 1 as glmer starts."""
    if isinstance(problem, _CountsProblem):
        share = problem.s.sum() / problem.m.sum()
        if problem.family == "binomial":
            share = min(max(share, 1e-6), 1 - 1e-6)
            beta = np.array([np.log(share / (1 - share))])
        else:
            beta = np.array([np.log(max(share, 1e-12))])
        return np.concatenate([beta, [1.0]])
    rows, family = problem.rows, problem.family
    beta = np.zeros(problem.p)
    for _ in range(50):
        eta = rows.design @ beta + rows.offset
        weight = rows.n * _variance_and_slope(family, eta)[0]
        residual = rows.y - rows.n * _mean(family, eta)
        step = np.linalg.lstsq(
            rows.design.T @ (weight[:, None] * rows.design), rows.design.T @ residual, rcond=None
        )[0]
        beta = beta + step
        if np.max(np.abs(step)) < 1e-10:
            break
    return np.concatenate([beta, [1.0]])


def fit_glmm(
    family: str,
    data: ClusterCounts | RateRows,
    *,
    nagq: int = 1,
    counts: ClusterCounts | None = None,
) -> GlmmFit:
    """Maximum likelihood by adaptive Gauss–Hermite quadrature. `data`: per-cluster sums (intercept-only
    model) or rows; `counts` (the rows' per-cluster sums, for the constants of the log-likelihood) is
    needed with rows."""
    if family not in FAMILIES:
        raise DataError(f"family {family!r} is not supported; use one of {', '.join(FAMILIES)}")
    if not 1 <= nagq <= MAX_NAGQ:
        raise DataError(f"nAGQ = {nagq}: use a whole number from 1 (Laplace) to {MAX_NAGQ}")
    if isinstance(data, ClusterCounts):
        problem: Problem = _CountsProblem(family, data)
        counts = data
    else:
        if counts is None:
            raise TypeError("fit_glmm on rows needs the per-cluster counts as well")
        problem = _RowsProblem(family, data)
    modes = _Modes(np.zeros(problem.n_groups))
    start = _start(problem)
    # Laplace first (analytic gradient); more nodes start from its optimum, as glmer starts from nAGQ = 0
    laplace = _minimise(problem, 1, start, modes)
    if laplace.x[-1] < 1e-4:
        # θ = 0 is a stationary point of every such likelihood (it is even in θ): a step that lands there
        # stays; look again from inside before calling the clusters alike
        for theta in (1.0, 0.1):
            again = _minimise(
                problem, 1, np.concatenate([laplace.x[:-1], [theta]]), _Modes(np.zeros(problem.n_groups))
            )
            if again.fun < laplace.fun - 1e-9:
                laplace = again
        modes.u = _modes(problem, laplace.x[:-1], laplace.x[-1], np.zeros(problem.n_groups))
    result = laplace if nagq == 1 else _minimise(problem, nagq, laplace.x, modes)
    params = result.x.copy()
    params[-1] = abs(params[-1])

    def deviance(at: np.ndarray) -> float:
        return -2 * float(np.sum(_cluster_logliks(problem, at, nagq, _Modes(modes.u.copy()))))

    fixed_cov = _fixed_cov(problem, params, deviance, modes)
    cluster_logliks = _cluster_logliks(problem, params, nagq, modes)
    beta, theta = params[:-1], params[-1]
    loglik, _, weight, *_ = problem.pieces(beta, theta, modes.u)
    curvature = 1 + theta**2 * weight
    full = float(np.sum(cluster_logliks + counts.constant))
    lme4 = full if nagq == 1 else float(np.sum(cluster_logliks + counts.constant - counts.saturated))
    if not np.all(np.isfinite(params)) or not np.isfinite(full):
        raise FitError(f"the {family} fit failed: the likelihood is not finite at the optimum")
    if nagq == 1:
        gradient = -_laplace_gradient(problem, params, modes)
    else:
        gradient = _central_gradient(
            lambda at: -float(np.sum(_cluster_logliks(problem, at, nagq, _Modes(modes.u.copy())))), params
        )
    scale = max(1.0, abs(full))
    converged = bool(result.success or np.max(np.abs(gradient[:-1])) < 1e-4 * scale)
    return GlmmFit(
        family=family,
        nagq=nagq,
        fixed_effects=beta,
        fixed_cov=fixed_cov,
        theta=float(theta),
        blup=theta * modes.u,
        blup_sd=theta / np.sqrt(curvature),
        loglik=full,
        lme4_loglik=lme4,
        converged=converged,
        is_singular=bool(theta <= 1e-4),
        iterations=int(result.nit),
    )


def _minimise(problem: Problem, nagq: int, start: np.ndarray, modes: _Modes) -> optimize.OptimizeResult:
    bounds = [(None, None)] * (len(start) - 1) + [(0.0, None)]
    return optimize.minimize(
        _objective(problem, nagq, modes),
        start,
        jac=nagq == 1,
        method="L-BFGS-B",
        bounds=bounds,
        options={"ftol": 1e-15, "gtol": 1e-9, "maxiter": 500},
    )


def _fixed_cov(problem: Problem, params: np.ndarray, deviance, modes: _Modes) -> np.ndarray:  # noqa: ANN001
    """Var(β̂): the β block of 2 H⁻¹, H the Hessian of the deviance in (β, θ) (glmer's default); on the
    boundary θ = 0, or where that Hessian is not positive definite, the Hessian in β alone."""
    p = len(params) - 1
    if params[-1] > 1e-4:
        hessian = _hessian(deviance, params)
        try:
            np.linalg.cholesky(hessian)
            return 2 * np.linalg.inv(hessian)[:p, :p]
        except np.linalg.LinAlgError:
            pass
    beta_hessian = _hessian(lambda beta: deviance(np.concatenate([beta, params[-1:]])), params[:-1])
    return 2 * np.linalg.inv(beta_hessian)
