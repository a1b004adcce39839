"""The sampler shared by the Bayesian engines (bayes.py: the two-effect models; lmm_bayes.py: the whole
class): independence Metropolis-Hastings on a handful of variance parameters, with a Student-t (or
Student-t mixture) proposal fitted to the posterior's modes and refitted by population Monte Carlo,
random-walk steps between, several independent chains; and the diagnostics brms reports (R-hat, bulk and
tail ESS as the R package posterior computes them). bayes.py's docstring says why this sampler.

A *target* is what is sampled. It has ``dim`` (coordinates per point), ``n_groups`` and ``p`` (clusters;
fixed effects), ``many(v)`` (the log density at each row of ``v`` (-inf where it is zero) with the GLS
fixed effects and their covariance / sigma^2 there: (K,), (K, p), (K, p, p)), ``__call__(v)`` (one point:
the log density and a :class:`_State`, or None), ``shrunk(u0, shrink)`` (a start in the sampled
coordinates from a start ``u0`` in reported coordinates with its SDs multiplied by ``shrink``) and
``reported(v)`` (rows of sampled coordinates as the reported ones, for the diagnostics).
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

RHAT_WARN = 1.01
ESS_WARN = 400
ACCEPT_WARN = 0.15
WARMUP = 20

_PROPOSAL_DF = 6.0


class Target(Protocol):
    dim: int

    @property
    def n_groups(self) -> int: ...

    @property
    def p(self) -> int: ...

    def many(self, v: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]: ...

    def __call__(self, v: np.ndarray) -> tuple[float, _State | None]: ...

    def shrunk(self, u0: list[float], shrink: float) -> np.ndarray: ...

    def reported(self, v: np.ndarray) -> np.ndarray: ...


@dataclass
class _State:
    """What one density evaluation leaves for drawing the fixed effects."""

    beta_c: np.ndarray  # GLS fixed effects in the engine's centred coordinates
    a_inv: np.ndarray  # their covariance / sigma^2


# --------------------------------------------------------------------------------------------------------
# The sampler
# --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Proposal:
    """A multivariate Student-t in v (the sampled coordinates)."""

    mean: np.ndarray
    chol: np.ndarray
    df: float = _PROPOSAL_DF

    def draw(self, rng: np.random.Generator, size: int) -> np.ndarray:
        z = rng.standard_normal((size, self.mean.size))
        w = np.sqrt(rng.chisquare(self.df, size) / self.df)
        return self.mean + (z @ self.chol.T) / w[:, None]

    def log_density(self, u: np.ndarray) -> np.ndarray:
        z = np.linalg.solve(self.chol, (u - self.mean).T)
        return -0.5 * (self.df + self.mean.size) * np.log1p(np.sum(z * z, axis=0) / self.df)

    @classmethod
    def fitted(cls, mean: np.ndarray, cov: np.ndarray, inflate: float) -> _Proposal:
        cov = 0.5 * (cov + cov.T)
        evals, evecs = np.linalg.eigh(cov)
        evals = np.maximum(evals, 1e-8 * max(float(evals.max()), 1e-12))
        cov = (evecs * evals) @ evecs.T
        return cls(mean=np.asarray(mean, dtype=float), chol=inflate * np.linalg.cholesky(cov))


def _log_t_kernel(z2: np.ndarray, df: float, dim: int) -> np.ndarray:
    """log of a unit multivariate Student-t density at squared Mahalanobis distances ``z2`` (normalised)."""
    return (
        math.lgamma(0.5 * (df + dim))
        - math.lgamma(0.5 * df)
        - 0.5 * dim * math.log(df * math.pi)
        - 0.5 * (df + dim) * np.log1p(z2 / df)
    )


@dataclass(frozen=True)
class _Mixture:
    """A mixture of multivariate Student-t densities in v: the independence proposal for posteriors that
    one Student-t fits badly (curved or skewed, as where the prior on Sigma at x = 0 and the likelihood
    on Sigma at the mean of x pull in different directions). Same interface as :class:`_Proposal`;
    ``chol`` is the Cholesky factor of the whole mixture's covariance (it scales the random-walk steps)."""

    weights: np.ndarray  # (K,)
    means: np.ndarray  # (K, d)
    chols: np.ndarray  # (K, d, d)
    chol: np.ndarray  # (d, d)
    df: float = _PROPOSAL_DF

    def draw(self, rng: np.random.Generator, size: int) -> np.ndarray:
        dim = self.means.shape[1]
        component = rng.choice(self.weights.size, size, p=self.weights)
        z = rng.standard_normal((size, dim))
        w = np.sqrt(rng.chisquare(self.df, size) / self.df)
        return self.means[component] + np.einsum("nij,nj->ni", self.chols[component], z) / w[:, None]

    def log_density(self, u: np.ndarray) -> np.ndarray:
        u = np.atleast_2d(u)
        inv = np.linalg.inv(self.chols)  # (K, d, d); K and d are small
        log_dets = np.log(np.abs(np.diagonal(self.chols, axis1=1, axis2=2))).sum(axis=1)
        z = np.matmul(u[None, :, :] - self.means[:, None, :], np.transpose(inv, (0, 2, 1)))
        terms = (np.log(self.weights) - log_dets)[:, None] + _log_t_kernel(
            np.sum(z * z, axis=2), self.df, u.shape[1]
        )
        top = terms.max(axis=0)
        return top + np.log(np.exp(terms - top).sum(axis=0))


#: Points (at most; fewer at large J, at most COORDINATE_CELLS (point, cluster) pairs) of the importance-
#: sampling check that picks the sampled coordinates; modes further apart than this (in the sampled
#: coordinates, scaled by the Laplace SDs) count as distinct; a mode whose Laplace mass is below this share
#: of the largest is dropped from the proposal.
COORDINATE_POINTS = 1000
COORDINATE_CELLS = 10_000_000
DISTINCT_MODES = 3.0
MODE_MASS_FLOOR = 1e-4
#: The SDs of the starting point are multiplied by these factors for the further mode searches
START_SHRINK = (1.0, 0.1, 0.01)


def _modes(
    target: Target, u0: list[float], shrinks: tuple[float, ...] = START_SHRINK
) -> list[tuple[np.ndarray, np.ndarray, float]]:
    """The posterior's distinct local modes found from starts at ``u0`` with its SDs shrunk by each of
    ``shrinks`` (and no correlation): (mode, Laplace covariance, log Laplace mass) each, largest first.

    One start is not enough: where x is far from 0 and the data say little, the prior on the intercept at
    x = 0 and the likelihood pull apart, and the posterior can have two modes -- one near the REML fit
    (large SDs) and one near the prior (the slope's SD shrunk), and from REML's start only the first is
    found although the second holds most of the mass (docs/bayes.md)."""
    found: list[tuple[np.ndarray, np.ndarray, float]] = []
    for shrink in shrinks:
        try:
            mode, cov = _mode(target, target.shrunk(u0, shrink))
        except ValueError:
            continue
        value = float(target.many(mode[None, :])[0][0])
        if not math.isfinite(value):
            continue
        _, log_det = np.linalg.slogdet(cov)
        mass = value + 0.5 * log_det
        scale = np.sqrt(np.diag(cov))
        if all(float(np.max(np.abs(mode - other) / scale)) > DISTINCT_MODES for other, _, _ in found):
            found.append((mode, cov, mass))
    found.sort(key=lambda item: -item[2])
    return [item for item in found if item[2] - found[0][2] > math.log(MODE_MASS_FLOOR)]


def _laplace_proposal(modes: list[tuple[np.ndarray, np.ndarray, float]]) -> _Proposal | _Mixture:
    """A Student-t at the mode (covariance inflated 1.5^2), or a mixture of them weighted by Laplace mass."""
    parts = [_Proposal.fitted(mode, cov, inflate=1.5) for mode, cov, _ in modes]
    if len(parts) == 1:
        return parts[0]
    masses = np.array([mass for _, _, mass in modes])
    weights = np.exp(masses - masses.max())
    return _mixture(
        weights / weights.sum(),
        np.array([part.mean for part in parts]),
        np.array([part.chol for part in parts]),
    )


def _importance_share(target: Target, proposal: _Proposal | _Mixture, rng: np.random.Generator) -> float:
    """The ESS of posterior / proposal importance weights as a share of the points: near 1 where the
    proposal has the posterior's shape, near 0 where it misses it."""
    points = int(min(COORDINATE_POINTS, max(100, COORDINATE_CELLS // max(target.n_groups, 1))))
    draws = proposal.draw(rng, points)
    log_w = target.many(draws)[0] - proposal.log_density(draws)
    if not np.isfinite(log_w).any():
        return 0.0
    w = np.exp(np.where(np.isfinite(log_w), log_w - np.nanmax(log_w[np.isfinite(log_w)]), -np.inf))
    return float(w.sum() ** 2 / np.sum(w * w)) / points


#: Adaptive importance sampling (population Monte Carlo) that refits the proposal where the Laplace one
#: misses the posterior's shape: at most this many rounds, mixture components, and the importance share
#: at which a proposal is good enough to stop.
ADAPT_ROUNDS = 4
ADAPT_COMPONENTS = 8
GOOD_SHARE = 0.5


def _weighted_em(
    points: np.ndarray, weights: np.ndarray, k: int, rng: np.random.Generator, steps: int = 20
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A Gaussian mixture of at most ``k`` components fitted to weighted points (EM from k weighted picks;
    components that lose their weight are dropped): weights, means, covariances."""
    n, dim = points.shape
    picks = rng.choice(n, size=k, replace=np.count_nonzero(weights) < k, p=weights)
    means = points[picks].copy()
    spread = np.cov(points.T, aweights=weights + 1e-300).reshape(dim, dim)
    ridge = 1e-6 * max(float(np.trace(spread)) / dim, 1e-12) * np.eye(dim)
    covs = np.repeat((spread / k + ridge)[None], k, axis=0)
    mix = np.full(k, 1.0 / k)
    for _ in range(steps):
        chols = np.linalg.cholesky(covs)
        z = np.matmul(points[None] - means[:, None], np.transpose(np.linalg.inv(chols), (0, 2, 1)))
        log_dets = np.log(np.diagonal(chols, axis1=1, axis2=2)).sum(axis=1)
        log_r = (np.log(mix) - log_dets)[:, None] - 0.5 * np.sum(z * z, axis=2)
        resp = np.exp(log_r - log_r.max(axis=0))
        resp *= weights / resp.sum(axis=0)
        mass = resp.sum(axis=1)
        keep = mass > 1e-3 / k
        resp, mass = resp[keep], mass[keep]
        mix = mass / mass.sum()
        means = (resp @ points) / mass[:, None]
        dev = points[None] - means[:, None]
        covs = np.matmul(np.transpose(resp[:, :, None] * dev, (0, 2, 1)), dev) / mass[:, None, None] + ridge
    return mix, means, covs


def _components(proposal: _Proposal | _Mixture) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Weights, means and Cholesky factors of a proposal's Student-t components."""
    if isinstance(proposal, _Proposal):
        return np.ones(1), proposal.mean[None, :], proposal.chol[None, :, :]
    return proposal.weights, proposal.means, proposal.chols


def _mixture(weights: np.ndarray, means: np.ndarray, chols: np.ndarray) -> _Mixture:
    dev = means - weights @ means
    covs = chols @ np.transpose(chols, (0, 2, 1))
    total = np.einsum("k,kij->ij", weights, covs) + (weights[:, None] * dev).T @ dev
    return _Mixture(weights=weights, means=means, chols=chols, chol=np.linalg.cholesky(total))


#: Share of the adapted mixture given to the starting (Laplace) proposal widened by 1.5: a defensive
#: component (Hesterberg 1995) that keeps the tails the weighted points under-represent within reach.
DEFENSIVE = 0.1


def _adapted(
    target: Target, proposal: _Proposal | _Mixture, share: float, rng: np.random.Generator
) -> tuple[_Proposal | _Mixture, float]:
    """The proposal refitted by population Monte Carlo while its importance share is below GOOD_SHARE:
    points from the current proposal, weighted by posterior / proposal, a Gaussian mixture fitted to them
    by weighted EM (its components widened by 1.2 as Student-t) beside a defensive copy of the starting
    proposal, repeated; the best proposal is kept."""
    points = int(min(4 * COORDINATE_POINTS, max(400, 4 * COORDINATE_CELLS // max(target.n_groups, 1))))
    base_weights, base_means, base_chols = _components(proposal)
    best = (share, proposal)
    for _ in range(ADAPT_ROUNDS):
        if best[0] >= GOOD_SHARE:
            break
        draws = proposal.draw(rng, points)
        log_w = target.many(draws)[0] - proposal.log_density(draws)
        finite = np.isfinite(log_w)
        if finite.sum() < 2 * ADAPT_COMPONENTS:
            break
        w = np.where(finite, np.exp(log_w - log_w[finite].max()), 0.0)
        w /= w.sum()
        mix, means, covs = _weighted_em(draws, w, ADAPT_COMPONENTS, rng)
        if DEFENSIVE == 0.0:
            proposal = _mixture(mix, means, np.linalg.cholesky(covs * 1.2**2))
        else:
            proposal = _mixture(
                np.concatenate([(1.0 - DEFENSIVE) * mix, DEFENSIVE * base_weights]),
                np.concatenate([means, base_means]),
                np.concatenate([np.linalg.cholesky(covs * 1.2**2), 1.5 * base_chols]),
            )
        share = _importance_share(target, proposal, rng)
        if share > best[0]:
            best = (share, proposal)
    return best[1], best[0]


@dataclass
class _Chains:
    """Kept draws (chains x draws) of u, and for each the state that the fixed effects are drawn from."""

    u: np.ndarray  # (chains, draws, dim)
    beta_c: np.ndarray  # (chains, draws, p)
    a_inv: np.ndarray  # (chains, draws, p, p)
    accepted: float  # share of proposals accepted after warm-up


def _run_chains(
    target: Target,
    proposal: _Proposal | _Mixture,
    rng: np.random.Generator,
    chains: int,
    draws: int,
    warmup: int,
    local: bool = True,
) -> _Chains:
    """Independence Metropolis-Hastings, each step followed by a random-walk step where ``local``;
    ``chains`` independent chains each started at a proposal draw.

    The density is evaluated in batches (``_Target.many``): all of a chain's independence proposals at
    once (they do not depend on the chain's state), and each random-walk step for all chains at once (the
    chains advance in lockstep). The random numbers are drawn chain by chain before the steps, so the
    draws are those of running the chains one after the other.
    """
    p, dim = target.p, target.dim
    total = warmup + draws
    kept_u = np.empty((chains, draws, dim))
    kept_beta = np.empty((chains, draws, p))
    kept_a = np.empty((chains, draws, p, p))
    candidates = np.empty((chains, total + 1, dim))
    log_q, log_u = np.empty((chains, total + 1)), np.empty((chains, total))
    cand_ps, cand_betas, cand_as = np.empty((chains, total + 1)), [], []
    walk, log_w = np.empty((chains, total, dim)), np.empty((chains, total))
    current, log_p, current_q = np.empty((chains, dim)), np.empty(chains), np.empty(chains)
    beta, a_inv = np.empty((chains, p)), np.empty((chains, p, p))  # the state at `current`
    for chain in range(chains):
        candidates[chain] = proposal.draw(rng, total + 1)
        log_q[chain] = proposal.log_density(candidates[chain])
        log_u[chain] = np.log(rng.random(total))
        # the independence proposals do not depend on the chain's state: their densities in one pass
        cand_ps[chain], betas, a_invs = target.many(candidates[chain])
        cand_betas.append(betas)
        cand_as.append(a_invs)
        start, start_p, start_q, state = candidates[chain, 0], float(cand_ps[chain, 0]), log_q[chain, 0], None
        if math.isfinite(start_p):
            state = _State(beta_c=betas[0], a_inv=a_invs[0])
        for _ in range(100):  # a start of positive density
            if state is not None:
                break
            start = proposal.draw(rng, 1)[0]
            start_p, state = target(start)
            start_q = float(proposal.log_density(start[None, :])[0])
        if state is None:
            raise ValueError("the posterior density is zero wherever the sampler starts")
        current[chain], log_p[chain], current_q[chain] = start, start_p, start_q
        beta[chain], a_inv[chain] = state.beta_c, state.a_inv
        # local steps: a random walk scaled to the proposal (2.38 / sqrt(d) of its spread, Gelman et al.)
        walk[chain] = rng.standard_normal((total, dim)) @ proposal.chol.T * (2.38 / math.sqrt(dim) / 1.25)
        log_w[chain] = np.log(rng.random(total))
    accepted = 0
    for step in range(total):
        # -inf where the density is zero: never accepted
        take = log_u[:, step] < (cand_ps[:, step + 1] - log_q[:, step + 1]) - (log_p - current_q)
        for chain in np.flatnonzero(take):
            current[chain], log_p[chain] = candidates[chain, step + 1], cand_ps[chain, step + 1]
            current_q[chain] = log_q[chain, step + 1]
            beta[chain], a_inv[chain] = cand_betas[chain][step + 1], cand_as[chain][step + 1]
        if step >= warmup:
            accepted += int(take.sum())
        if local and step % 2:
            # on every other draw, then one random-walk step: it moves a chain that the independence step
            # leaves stuck at a point the proposal underweights (a valid Metropolis kernel composed with the first)
            cand = current + walk[:, step]
            walk_p, walk_beta, walk_a = target.many(cand)
            moved = log_w[:, step] < walk_p - log_p
            if moved.any():
                current[moved], log_p[moved], beta[moved], a_inv[moved] = (
                    cand[moved],
                    walk_p[moved],
                    walk_beta[moved],
                    walk_a[moved],
                )
                current_q[moved] = proposal.log_density(cand[moved])
        if step >= warmup:
            kept_u[:, step - warmup] = current
            kept_beta[:, step - warmup] = beta
            kept_a[:, step - warmup] = a_inv
    return _Chains(u=kept_u, beta_c=kept_beta, a_inv=kept_a, accepted=accepted / (chains * draws))


#: A run whose chains agree (R-hat of the variance parameters at most 1.05) but whose bulk or tail ESS is
#: short of ESS_WARN is continued to the draws that the ESS per draw says are needed, at most this many
#: times the draws asked for in all, in at most EXTENSIONS steps.
AUTO_DRAWS = 4
EXTENSIONS = 2


def _extended(
    target: Target, proposal: _Proposal | _Mixture, kept: _Chains, rng: np.random.Generator
) -> _Chains:
    """The chains continued where they agree but are short of effective draws (the tails of an SD near 0
    are the usual case: tail ESS grows in proportion to the draws there, so more draws are what helps).

    The continuation is a new segment of each chain: the independence proposal is fixed, so a segment
    started at a proposal draw after WARMUP steps is as good as one started where the chain stopped."""
    asked = kept.u.shape[1]
    for _ in range(EXTENSIONS):
        chains, have, dim = kept.u.shape
        u = target.reported(kept.u.reshape(-1, dim))
        # rank-based diagnostics: the same for sd and log sd, for rho and atanh rho
        found = [diagnostics(u[:, k].reshape(chains, have)) for k in range(dim)]
        rhat = max(row["rhat"] for row in found)
        least = min(min(row["ess_bulk"], row["ess_tail"]) for row in found)
        if not (math.isfinite(rhat) and math.isfinite(least)) or least >= ESS_WARN or rhat > 1.05:
            break
        needed = math.ceil(1.25 * have * ESS_WARN / least)
        more = min(needed, AUTO_DRAWS * asked) - have
        if more < 50:
            break
        segment = _run_chains(target, proposal, rng, chains, more, WARMUP)
        kept = _Chains(
            u=np.concatenate([kept.u, segment.u], axis=1),
            beta_c=np.concatenate([kept.beta_c, segment.beta_c], axis=1),
            a_inv=np.concatenate([kept.a_inv, segment.a_inv], axis=1),
            accepted=(kept.accepted * have + segment.accepted * more) / (have + more),
        )
    return kept


def _derivatives(
    objective: Any, u: np.ndarray, value: float, h: float = 1e-4
) -> tuple[np.ndarray, np.ndarray]:
    """Central-difference gradient and Hessian at ``u`` of ``objective``, a function of rows of points
    (2-4 dimensions: the ~30 points in one call)."""
    dim = u.size
    steps = np.eye(dim) * h
    pairs = [(i, j) for i in range(dim) for j in range(i + 1, dim)]
    points = [u + steps[i] for i in range(dim)] + [u - steps[i] for i in range(dim)]
    for i, j in pairs:
        points += [
            u + steps[i] + steps[j],
            u + steps[i] - steps[j],
            u - steps[i] + steps[j],
            u - steps[i] - steps[j],
        ]
    values = objective(np.array(points))
    up, down, corners = values[:dim], values[dim : 2 * dim], values[2 * dim :].reshape(-1, 4)
    grad = (up - down) / (2.0 * h)
    hess = np.diag((up - 2.0 * value + down) / (h * h))
    for (i, j), (pp, pm, mp, mm) in zip(pairs, corners, strict=True):
        hess[i, j] = hess[j, i] = (pp - pm - mp + mm) / (4.0 * h * h)
    return grad, hess


def _mode(target: Target, start: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Posterior mode in v (damped Newton on finite differences) and the Laplace covariance there.

    Only the starting proposal depends on it (the pilot run refits the proposal), so a few digits do.
    """

    def objectives(points: np.ndarray) -> np.ndarray:
        return -target.many(points)[0]  # +inf where the density is zero

    def objective(u: np.ndarray) -> float:
        return float(objectives(u[None, :])[0])

    u = np.asarray(start, dtype=float)
    value = objective(u)
    if not math.isfinite(value):
        raise ValueError("the posterior density is zero at the REML estimates")
    for _ in range(40):
        grad, hess = _derivatives(objectives, u, value)
        if not (np.all(np.isfinite(grad)) and np.all(np.isfinite(hess))):
            break
        evals, evecs = np.linalg.eigh(hess)
        step = -evecs @ ((evecs.T @ grad) / np.maximum(np.abs(evals), 1e-3))
        longest = float(np.abs(step).max())
        if longest > 2.0:  # at most a factor e^2 per step in an SD
            step *= 2.0 / longest
        alpha = 1.0
        while alpha > 1e-4:
            cand_value = objective(u + alpha * step)
            if cand_value < value:
                break
            alpha *= 0.5
        else:
            break
        u, value = u + alpha * step, cand_value
        if alpha * float(np.abs(step).max()) < 1e-5:
            break
    _, hess = _derivatives(objectives, u, value)
    evals, evecs = np.linalg.eigh(hess)
    if not np.all(np.isfinite(evals)):
        return u, np.eye(u.size)
    # a direction without curvature (a flat tail) gets a wide proposal rather than an infinite one
    evals = np.maximum(evals, 0.05)
    return u, (evecs / evals) @ evecs.T


# --------------------------------------------------------------------------------------------------------
# Diagnostics (Vehtari, Gelman, Simpson, Carpenter & Bürkner 2021, Bayesian Analysis 16(2))
# --------------------------------------------------------------------------------------------------------


def _split(draws: np.ndarray) -> np.ndarray:
    """(chains, n) -> (2 chains, n // 2): each chain's halves as separate chains."""
    half = draws.shape[1] // 2
    return np.concatenate([draws[:, :half], draws[:, draws.shape[1] - half :]], axis=0)


def _rhat_basic(draws: np.ndarray) -> float:
    chains, n = draws.shape
    means = draws.mean(axis=1)
    within = float(draws.var(axis=1, ddof=1).mean())
    between = n * float(means.var(ddof=1))
    if within <= 0.0:
        return math.nan
    return math.sqrt(((n - 1) / n * within + between / n) / within)


def _ess_basic(draws: np.ndarray) -> float:
    """ESS from the chains' autocorrelations with Geyer's initial monotone sequence (Stan's estimator)."""
    chains, n = draws.shape
    if n < 4:
        return math.nan
    centred = draws - draws.mean(axis=1, keepdims=True)
    size = 1 << (2 * n - 1).bit_length()
    spectrum = np.fft.rfft(centred, size, axis=1)
    acov = np.fft.irfft(spectrum * np.conj(spectrum), size, axis=1)[:, :n] / n
    chain_var = acov[:, 0] * n / (n - 1)
    within = float(chain_var.mean())
    var_plus = within * (n - 1) / n + (float(draws.mean(axis=1).var(ddof=1)) if chains > 1 else 0.0)
    if var_plus <= 0.0:
        return math.nan
    rho = 1.0 - (within - acov.mean(axis=0)) / var_plus
    rho[0] = 1.0
    # pairs of successive autocorrelations, summed while positive, made monotone
    total = 0.0
    previous = math.inf
    t = 0
    while t + 1 < n:
        pair = float(rho[t] + rho[t + 1])
        if pair < 0.0:
            break
        pair = min(pair, previous)
        total += pair
        previous = pair
        t += 2
    tau = -1.0 + 2.0 * total
    tau = max(tau, 1.0 / math.log10(chains * n))
    return chains * n / tau


def _rank_normal(draws: np.ndarray) -> np.ndarray:
    """Rank-normalised draws (fractional offset 3/8; tied draws, as a Metropolis chain repeats its state
    on a rejection, share their average rank)."""
    flat = draws.reshape(-1)
    order = np.argsort(flat, kind="stable")
    ordered = flat[order]
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
    ends = np.r_[starts[1:], flat.size]
    average = 0.5 * (starts + ends - 1) + 1.0  # 1-based average rank of each run of ties
    inverse = statistics.NormalDist().inv_cdf
    scores = np.array([inverse(float(p)) for p in (average - 0.375) / (draws.size + 0.25)])
    normal = np.empty(flat.size)
    normal[order] = np.repeat(scores, ends - starts)
    return normal.reshape(draws.shape)


def _normal_cdf(z: np.ndarray) -> np.ndarray:
    """Standard normal CDF from Abramowitz & Stegun 7.1.26 (absolute error below 1.5e-7, far inside the
    quantile tolerances), so that this engine needs no scipy import."""
    x = np.abs(z) / math.sqrt(2.0)
    t = 1.0 / (1.0 + 0.3275911 * x)
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))))
    tail = 0.5 * poly * np.exp(-x * x)
    return np.where(z < 0.0, tail, 1.0 - tail)


def _ess_tail(split: np.ndarray) -> float:
    """Tail ESS: the smaller ESS of the indicators of the 5 % and 95 % quantiles (posterior's ess_tail)."""
    values = []
    for prob in (0.05, 0.95):
        indicator = (split <= np.quantile(split, prob)).astype(float)
        if float(np.ptp(indicator)) == 0.0:
            return math.nan
        values.append(_ess_basic(indicator))
    return min(values)


def diagnostics(draws: np.ndarray) -> dict[str, float]:
    """For draws shaped (chains, n), as the R package posterior (and so brms) computes them: rhat (the larger
    of the bulk and folded rank-normalised split R-hat), ess_bulk (rank-normalised split chains), ess_tail
    (the 5 % and 95 % quantile indicators) and mcse_mean = sd / sqrt(ESS of the raw split chains)."""
    if float(np.ptp(draws)) == 0.0:
        return {"rhat": math.nan, "ess_bulk": math.nan, "ess_tail": math.nan, "mcse_mean": 0.0}
    split = _split(draws)
    bulk = _rank_normal(split)
    folded = _rank_normal(np.abs(split - np.median(split)))
    rhat = max(_rhat_basic(bulk), _rhat_basic(folded))
    ess_bulk = _ess_basic(bulk)
    ess_mean = _ess_basic(split)
    sd = float(draws.std(ddof=1))
    return {
        "rhat": rhat,
        "ess_bulk": ess_bulk,
        "ess_tail": _ess_tail(split),
        "mcse_mean": sd / math.sqrt(ess_mean),
    }


def _summary(draws: np.ndarray) -> dict[str, float]:
    flat = draws.reshape(-1)
    q = np.quantile(flat, [0.025, 0.5, 0.975])
    out = {"mean": float(flat.mean()), "sd": float(flat.std(ddof=1)), "q2.5": float(q[0])}
    out.update({"q50": float(q[1]), "q97.5": float(q[2])})
    out.update(diagnostics(draws))
    return out


def _mixture_quantiles(means: np.ndarray, sds: np.ndarray, centre: np.ndarray, spread: np.ndarray, p: float):
    """Per column, q with mean over rows of Phi((q - means) / sds) = p (Newton's method from the
    Gaussian approximation, steps kept within the mixture's range)."""
    sds = np.maximum(sds, 1e-300)
    q = centre + statistics.NormalDist().inv_cdf(p) * spread
    low, high = (means - 8.0 * sds).min(axis=0), (means + 8.0 * sds).max(axis=0)
    for _ in range(30):
        z = np.clip((q[None, :] - means) / sds, -40.0, 40.0)
        cdf = _normal_cdf(z).mean(axis=0) - p
        pdf = (np.exp(-0.5 * z * z) / sds).mean(axis=0) / math.sqrt(2.0 * math.pi)
        step = cdf / np.maximum(pdf, 1e-300)
        q = np.clip(q - step, low, high)
        if float(np.max(np.abs(step) / np.maximum(spread, 1e-300))) < 1e-7:
            break
    return q


def convergence_problems(posterior: dict[str, dict[str, float]], draws: int, acceptance: float) -> list[str]:
    """Why the posterior summaries cannot be vouched for, in words (empty when every parameter passes
    brms's thresholds: R-hat at most 1.01, bulk and tail ESS at least 400), with more draws suggested only
    where the chains agree and the ESS per draw says how many would reach the threshold."""

    def failing(key: str, bad: Any) -> list[str]:
        return [f"{name} ({row[key]:.3g})" for name, row in posterior.items() if bad(row[key])]

    def not_finite_or(test: Any) -> Any:
        return lambda value: not math.isfinite(value) or test(value)

    rhat = failing("rhat", not_finite_or(lambda value: value > RHAT_WARN))
    bulk = failing("ess_bulk", not_finite_or(lambda value: value < ESS_WARN))
    tail = failing("ess_tail", not_finite_or(lambda value: value < ESS_WARN))
    if not (rhat or bulk or tail):
        return []
    parts = []
    if rhat:
        parts.append(f"its chains disagree (R-hat above {RHAT_WARN}) for {', '.join(rhat)}")
    if bulk:
        parts.append(f"bulk ESS is below {ESS_WARN} for {', '.join(bulk)}")
    if tail:
        parts.append(f"tail ESS is below {ESS_WARN} for {', '.join(tail)}")
    text = "the Bayesian fit did not converge: " + "; ".join(parts) + ". "
    least = min(min(row["ess_bulk"], row["ess_tail"]) for row in posterior.values())
    worst_rhat = max(row["rhat"] for row in posterior.values())
    # ESS grows in proportion to the draws only once the chains explore the same distribution
    needed = math.ceil(1.25 * draws * ESS_WARN / least / 100.0) * 100 if least > 0 else math.inf
    if worst_rhat <= 1.05 and needed <= MORE_DRAWS_HELP * draws:
        text += f"More draws would help: set model.bayes.draws={needed} (now {draws} per chain)."
    else:
        text += (
            f"More draws would not help: the sampler does not explore this posterior (acceptance "
            f"{acceptance:.0%}); do not use these summaries."
        )
    return [text]


#: More draws are suggested only if at most this many times the draws would reach the ESS threshold.
MORE_DRAWS_HELP = 10


def _warnings(posterior: dict[str, dict[str, float]], acceptance: float, draws: int) -> list[str]:
    out = convergence_problems(posterior, draws, acceptance)
    if acceptance < ACCEPT_WARN and not out:
        out.append(
            f"the sampler accepted only {acceptance:.0%} of its proposals: the posterior is far from the "
            "shape it proposes from, so its draws are strongly autocorrelated"
        )
    return out


#: How the sampler works, in one sentence (summary.json's sampler.method)
METHOD = (
    "independence Metropolis-Hastings (Student-t or Student-t mixture proposal fitted to the posterior's modes "
    "and by adaptive importance sampling) with random-walk steps, on the variance parameters; fixed and cluster "
    "effects drawn from their exact conditionals"
)
#: pilot draws per chain used to refit a one-component proposal
PILOT = 150


def sample(
    target: Target,
    proposal: _Proposal | _Mixture,
    share: float,
    rng: np.random.Generator,
    chains: int,
    draws: int,
) -> tuple[_Chains, _Proposal | _Mixture, float]:
    """The chains from a starting proposal and its importance share: the proposal refitted by population
    Monte Carlo where its share is poor, a one-component proposal refitted to a short pilot run, the chains,
    and more draws where they agree but are short of effective draws. Returns the kept chains, the proposal
    and its share."""
    if share < GOOD_SHARE:
        proposal, share = _adapted(target, proposal, share, rng)
    if isinstance(proposal, _Proposal):  # one mode: the Student-t refitted to a short pilot run
        pilot = _run_chains(target, proposal, rng, chains, PILOT, WARMUP, local=False)
        flat = pilot.u.reshape(-1, target.dim)
        proposal = _Proposal.fitted(flat.mean(axis=0), np.cov(flat.T).reshape(target.dim, target.dim), 1.25)
    kept = _run_chains(target, proposal, rng, chains, draws, WARMUP)
    return _extended(target, proposal, kept, rng), proposal, share


def proposal_summary(proposal: _Proposal | _Mixture, share: float, coordinates: str) -> dict[str, Any]:
    """summary.json's sampler.proposal: the coordinates sampled, the proposal's components, its share."""
    return {
        "coordinates": coordinates,
        "components": 1 if isinstance(proposal, _Proposal) else int(proposal.weights.size),
        "importance_share": None if not math.isfinite(share) else round(share, 4),
    }


def t_times_gaussian(
    mean: np.ndarray, spread: np.ndarray, log_t: Any, location: float, rng: np.random.Generator
) -> np.ndarray:
    """One draw per row from N(mean, spread^2) times a Student-t prior (``log_t``, its log kernel, centred at
    ``location``), by rejection: the envelope is the prior's largest value within 8 SDs of the Gaussian."""
    nearest = np.clip(location, mean - 8.0 * spread, mean + 8.0 * spread)
    log_top = log_t(nearest)
    value = np.empty_like(mean)
    todo = np.arange(mean.size)
    for _ in range(1000):
        cand = mean[todo] + spread[todo] * rng.standard_normal(todo.size)
        ok = np.log(rng.random(todo.size)) < log_t(cand) - log_top[todo]
        value[todo[ok]] = cand[ok]
        todo = todo[~ok]
        if todo.size == 0:
            break
    else:
        value[todo] = mean[todo]  # practically unreachable: acceptance is >= t(8 SD) / t(0)
    return value


def mixture_summary(
    sums: np.ndarray, ref: np.ndarray, count: int, means: np.ndarray, sds: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per cluster the mean, SD and 2.5 % / 97.5 % quantiles of a mixture of Gaussians over ``count`` draws,
    from ``sums`` (3, J): sum of (mean - ref), of its square, of the variances; and the (draw, cluster)
    means and SDs kept for the quantiles."""
    mean_dev = sums[0] / count
    variance = sums[2] / count + np.maximum(sums[1] / count - mean_dev**2, 0.0)
    mean, sd = ref + mean_dev, np.sqrt(variance)
    if float(sd.max()) > 0.0:
        lo = _mixture_quantiles(means, sds, mean, sd, 0.025)
        hi = _mixture_quantiles(means, sds, mean, sd, 0.975)
    else:
        lo = hi = mean
    return mean, sd, lo, hi


def posterior_json(fit: Any) -> dict[str, Any]:
    """summary.json's and `fit --json`'s Bayesian keys for either engine's result: the REML numbers beside,
    the posterior (brms's names), the priors and how the sampler ran."""
    return {
        "reml": fit.reml,
        "posterior": fit.posterior,
        "priors": fit.prior_summary,
        "sampler": {
            "converged": fit.converged,
            "method": METHOD,
            "chains": fit.chains,
            "draws_per_chain": fit.draws,
            "acceptance": fit.acceptance,
            "proposal": fit.proposal,
            "cluster_draws": fit.cluster_draws,
            "quantile_draws": fit.quantile_draws,
        },
    }


#: Draws used for the per-cluster summaries (means and SDs), at most; fewer at large J (see cluster_draws).
CLUSTER_DRAWS = 1000
#: Cap on (draw, cluster) pairs held for the per-cluster quantiles.
QUANTILE_CELLS = 2_000_000
#: Cap on (draw, cluster) pairs computed for the per-cluster means and SDs.
CLUSTER_CELLS = 5_000_000


@dataclass
class ClusterSummary:
    """Per cluster: posterior mean, SD and 95 % interval of one coefficient."""

    mean: np.ndarray
    sd: np.ndarray
    lo: np.ndarray
    hi: np.ndarray


def cluster_draws(total: int, n_groups: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Which of ``total`` kept draws the per-cluster summaries use (sorted; at most CLUSTER_DRAWS, at most
    CLUSTER_CELLS (draw, cluster) pairs) and which of those also the quantiles (at most QUANTILE_CELLS
    pairs, spread evenly): the picks and a mask over them."""
    n_moment = int(min(total, CLUSTER_DRAWS, max(200, CLUSTER_CELLS // n_groups)))
    n_quantile = int(min(n_moment, max(50, QUANTILE_CELLS // n_groups)))
    picks = np.sort(rng.choice(total, n_moment, replace=False)) if n_moment < total else np.arange(total)
    in_quantile = np.zeros(n_moment, dtype=bool)
    in_quantile[np.linspace(0, n_moment - 1, n_quantile).round().astype(int)] = True
    return picks, in_quantile
