"""Binomial and Poisson models with correlated random effects per cluster (a random intercept and slopes),
by the Laplace approximation, as lme4's `glmer` at its default nAGQ = 1.

    η_ij = x_ij β + offset_ij + z_ij b_j,   b_j = Λ u_j,   u_j ~ N(0, I_q),   Σ = Λ Λᵀ

Λ is lower triangular; its entries, column by column, are θ (lme4's order and its bounds: the diagonal
≥ 0). Cluster j's likelihood ∫ exp(h_j(u)) du / (2π)^(q/2), h_j(u) = Σ_i ℓ_ij(η_ij) − |u|²/2, is
approximated around its mode û_j by h_j(û_j) − ½ log det H_j, H_j = I + Λᵀ Z_jᵀ W_j Z_j Λ with the
weights W = n v(η) at the mode (for the canonical links these are glmer's PIRLS weights). (β, θ) maximise
the sum; Var(β̂) is the β block of 2 H⁻¹, H the Hessian of the deviance in (θ, β) (glmer's default
`use.hessian`); the conditional modes are b̂_j = Λ û_j, their conditional covariance Λ H_j⁻¹ Λᵀ
(ranef's `condVar`).

glmer refuses more than one quadrature node for a vector-valued random effect, and so does this module.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import optimize, special

from ..errors import DataError, FitError
from .glmm import _hessian

NEWTON_STEPS = 100
NEWTON_TOLERANCE = 1e-12
NAGQ_REFUSED = (
    "nAGQ > 1 needs a single random intercept (as glmer: 'nAGQ > 1 is only available for models with a "
    "single, scalar random-effects term'): use nAGQ = 1 (Laplace) with a random slope"
)


@dataclass(frozen=True)
class SlopeRows:
    """The rows: y, n (trials; 1 for Poisson), offset, fixed design X (rows × p), random design Z
    (rows × q, its first column the intercept), cluster codes 0..J−1."""

    y: np.ndarray
    n: np.ndarray
    offset: np.ndarray
    design: np.ndarray
    random_design: np.ndarray
    codes: np.ndarray
    n_groups: int


@dataclass(frozen=True)
class SlopeFit:
    """A glmer-like fit on the link scale. `theta`: Λ's lower triangle by columns; `cov_re` = Λ Λᵀ;
    `modes` (J × q) the conditional modes b̂_j, `cond_cov` (J × q × q) their conditional covariances;
    `loglik` is glmer's logLik (every constant included)."""

    family: str
    fixed_effects: np.ndarray
    fixed_cov: np.ndarray
    theta: np.ndarray
    modes: np.ndarray
    cond_cov: np.ndarray
    loglik: float
    converged: bool
    is_singular: bool
    iterations: int

    @property
    def cov_re(self) -> np.ndarray:
        factor = _factor(self.theta, self.modes.shape[1])
        return factor @ factor.T

    @property
    def sds(self) -> np.ndarray:
        return np.sqrt(np.diag(self.cov_re))

    @property
    def corr(self) -> float:
        """The correlation of the first two random effects (0 where either SD is 0)."""
        cov, sds = self.cov_re, self.sds
        return float(cov[0, 1] / (sds[0] * sds[1])) if sds[0] * sds[1] > 0 else 0.0

    @property
    def deviance(self) -> float:
        return -2 * self.loglik


def _lower_triangle(q: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows and columns of Λ's lower triangle, column by column (lme4's order of θ)."""
    rows, cols = np.tril_indices(q)
    order = np.lexsort((rows, cols))
    return rows[order], cols[order]


def _factor(theta: np.ndarray, q: int) -> np.ndarray:
    """Λ from θ."""
    factor = np.zeros((q, q))
    factor[_lower_triangle(q)] = theta
    return factor


def _diagonal_positions(q: int) -> list[int]:
    rows, cols = _lower_triangle(q)
    return [index for index in range(len(rows)) if rows[index] == cols[index]]


class _Problem:
    def __init__(self, family: str, rows: SlopeRows) -> None:
        self.family = family
        self.rows = rows
        self.q = rows.random_design.shape[1]
        self.p = rows.design.shape[1]
        self.n_groups = rows.n_groups
        z = rows.random_design
        self.pairs = [(a, b) for a in range(self.q) for b in range(a, self.q)]
        self.z_products = [z[:, a] * z[:, b] for a, b in self.pairs]

    def _sum(self, values: np.ndarray) -> np.ndarray:
        return np.bincount(self.rows.codes, values, self.n_groups)

    def eta(self, beta: np.ndarray, factor: np.ndarray, u: np.ndarray) -> np.ndarray:
        rows = self.rows
        effects = u @ factor.T  # b_j = Λ u_j, one row per cluster
        return rows.design @ beta + rows.offset + np.sum(rows.random_design * effects[rows.codes], axis=1)

    def at(
        self, beta: np.ndarray, factor: np.ndarray, u: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """At u: h_j(u), the gradient of h_j in u (J × q) and H_j (J × q × q)."""
        rows = self.rows
        eta = self.eta(beta, factor, u)
        if self.family == "binomial":
            mu = special.expit(eta)
            cumulant = np.logaddexp(0.0, eta)
            variance = mu * (1 - mu)
        else:
            mu = np.exp(eta)
            cumulant = mu
            variance = mu
        h = self._sum(rows.y * eta - rows.n * cumulant) - 0.5 * np.sum(u**2, axis=1)
        residual = rows.y - rows.n * mu
        z_residual = np.column_stack([self._sum(residual * column) for column in rows.random_design.T])
        gradient = z_residual @ factor - u
        weight = rows.n * variance
        zwz = np.empty((self.n_groups, self.q, self.q))
        for (a, b), product in zip(self.pairs, self.z_products, strict=True):
            zwz[:, a, b] = zwz[:, b, a] = self._sum(weight * product)
        curvature = np.eye(self.q) + np.einsum("ka,jkl,lb->jab", factor, zwz, factor)
        return h, gradient, curvature

    def modes(self, beta: np.ndarray, factor: np.ndarray, start: np.ndarray) -> tuple[np.ndarray, ...]:
        """û_j for every cluster at once: Newton steps on the strictly concave h_j, a cluster's step
        halved where it would lower h_j."""
        u = start.copy()
        h, gradient, curvature = self.at(beta, factor, u)
        for _ in range(NEWTON_STEPS):
            step = np.linalg.solve(curvature, gradient[..., None])[..., 0]
            if np.max(np.abs(step)) < NEWTON_TOLERANCE:
                break
            for _ in range(40):
                trial = u + step
                trial_h, trial_gradient, trial_curvature = self.at(beta, factor, trial)
                worse = trial_h < h - 1e-12 * np.maximum(1.0, np.abs(h))
                if not worse.any():
                    break
                step = np.where(worse[:, None], step / 2, step)
            u, h, gradient, curvature = trial, trial_h, trial_gradient, trial_curvature
        return u, h, curvature


class _Objective:
    """The Laplace deviance −2 Σ_j [h_j(û_j) − ½ log det H_j] at (β, θ), warm-starting the modes."""

    def __init__(self, problem: _Problem) -> None:
        self.problem = problem
        self.u = np.zeros((problem.n_groups, problem.q))

    def split(self, params: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        p = self.problem.p
        return params[:p], _factor(params[p:], self.problem.q)

    def __call__(self, params: np.ndarray) -> float:
        beta, factor = self.split(params)
        u, h, curvature = self.problem.modes(beta, factor, self.u)
        if np.all(np.isfinite(u)):
            self.u = u
        _, logdet = np.linalg.slogdet(curvature)
        return float(-2 * np.sum(h - 0.5 * logdet))


def _glm_start(problem: _Problem) -> np.ndarray:
    """β of the GLM that ignores the clusters (IRLS)."""
    rows = problem.rows
    beta = np.zeros(problem.p)
    for _ in range(50):
        eta = rows.design @ beta + rows.offset
        mu = special.expit(eta) if problem.family == "binomial" else np.exp(eta)
        weight = rows.n * (mu * (1 - mu) if problem.family == "binomial" else mu)
        step = np.linalg.lstsq(
            rows.design.T @ (weight[:, None] * rows.design),
            rows.design.T @ (rows.y - rows.n * mu),
            rcond=None,
        )[0]
        beta = beta + step
        if np.max(np.abs(step)) < 1e-10:
            break
    return beta


def _constant(family: str, rows: SlopeRows) -> float:
    """The log-likelihood's terms free of the parameters: Σ log C(n, y), or −Σ log y! (the exposure is
    in the offset)."""
    y, n = rows.y, rows.n
    if family == "binomial":
        return float(np.sum(special.gammaln(n + 1) - special.gammaln(y + 1) - special.gammaln(n - y + 1)))
    return float(-np.sum(special.gammaln(y + 1)))


def fit_glmm_slopes(family: str, rows: SlopeRows, *, nagq: int = 1) -> SlopeFit:
    """Maximum likelihood by the Laplace approximation."""
    if nagq != 1:
        raise DataError(NAGQ_REFUSED)
    problem = _Problem(family, rows)
    q, p = problem.q, problem.p
    objective = _Objective(problem)
    theta_start = np.eye(q)[_lower_triangle(q)]  # Λ = I, where lme4 starts
    start = np.concatenate([_glm_start(problem), theta_start])
    diagonal = {p + index for index in _diagonal_positions(q)}
    bounds = [(0.0, None) if index in diagonal else (None, None) for index in range(p + len(theta_start))]
    result = optimize.minimize(
        objective,
        start,
        jac="3-point",
        method="L-BFGS-B",
        bounds=bounds,
        options={"ftol": 1e-15, "gtol": 1e-8, "maxiter": 1000, "finite_diff_rel_step": 1e-6},
    )
    params = result.x
    deviance = objective(params)
    if not np.isfinite(deviance):
        raise FitError(f"the {family} fit with random slopes failed: the likelihood is not finite")
    beta, factor = objective.split(params)
    u, _, curvature = problem.modes(beta, factor, objective.u)
    hessian = _hessian(objective, params)
    fixed_cov = _fixed_cov(objective, params, p, hessian)
    inverse = np.linalg.inv(curvature)
    cond_cov = np.einsum("ak,jkl,bl->jab", factor, inverse, factor)
    theta = params[p:]
    diagonal_values = theta[_diagonal_positions(q)]
    converged = _converged(objective, params, hessian, diagonal)
    return SlopeFit(
        family=family,
        fixed_effects=beta,
        fixed_cov=fixed_cov,
        theta=theta,
        modes=u @ factor.T,
        cond_cov=cond_cov,
        loglik=float(-deviance / 2 + _constant(family, rows)),
        converged=converged,
        is_singular=bool(np.min(diagonal_values) < 1e-4),
        iterations=int(result.nit),
    )


def _converged(objective: _Objective, params: np.ndarray, hessian: np.ndarray, diagonal: set[int]) -> bool:
    """glmer's test: the gradient scaled by the Hessian (the Newton step left) below 0.002 in every
    parameter not on its bound. The gradient by central differences: the deviance grows with the rows, so
    a fixed threshold on the raw gradient would fail large data that are at their optimum."""
    gradient = np.empty_like(params)
    for index in range(len(params)):
        step = np.zeros_like(params)
        step[index] = 1e-5 * max(1.0, abs(params[index]))
        gradient[index] = (objective(params + step) - objective(params - step)) / (2 * step[index])
    free = [index for index in range(len(params)) if not (index in diagonal and params[index] <= 1e-8)]
    try:
        newton = np.linalg.solve(hessian[np.ix_(free, free)], gradient[free])
    except np.linalg.LinAlgError:
        return False
    return bool(np.all(np.isfinite(newton)) and np.max(np.abs(newton)) < 0.002)


def _fixed_cov(objective: _Objective, params: np.ndarray, p: int, hessian: np.ndarray) -> np.ndarray:
    """Var(β̂): the β block of 2 H⁻¹, H the Hessian of the deviance in (β, θ); where that Hessian is not
    positive definite (θ on the boundary), the Hessian in β alone."""
    try:
        np.linalg.cholesky(hessian)
        return 2 * np.linalg.inv(hessian)[:p, :p]
    except np.linalg.LinAlgError:
        beta_hessian = _hessian(lambda beta: objective(np.concatenate([beta, params[p:]])), params[:p])
        return 2 * np.linalg.inv(beta_hessian)
