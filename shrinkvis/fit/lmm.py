"""The exact engine for the whole class: profiled REML/ML of y = Xβ + Zb + ε, one grouping factor.

lme4's algebra (Bates, Mächler, Bolker & Walker 2015, JSS 67(1), section 3) on the per-cluster blocks of
blocks.py, in working coordinates. With the relative covariance factor T (Σ/σ² = TTᵀ, lower-triangular,
block-diagonal over the bars; θ its free entries, column-major per block, as lme4 orders them), per
cluster j:

    M_j = TᵀZ_jᵀZ_jT + I            (q × q; log det V_j = log det M_j)
    P_j = T M_j⁻¹ Tᵀ                 (Λ(ΛᵀZᵀZΛ + I)⁻¹Λᵀ restricted to cluster j)
    X_jᵀV_j⁻¹X_j = X_jᵀX_j − X_jᵀZ_j P_j Z_jᵀX_j,   likewise for Z and y,

β̂ = A⁻¹ Σ_j X_jᵀV_j⁻¹y_j with A = Σ_j X_jᵀV_j⁻¹X_j (the Schur complement of lme4's blocked system),
r² = Σ_j y_jᵀV_j⁻¹y_j − β̂ᵀΣ_j X_jᵀV_j⁻¹y_j, and the criterion

    ML:   Σ_j log det M_j + n (1 + log(2π r²/n))
    REML: Σ_j log det M_j + log det A + (n − p)(1 + log(2π r²/(n − p))).

Its exact gradient: with D = TTᵀ, df = tr(G dD) for G = Σ_j Z_jᵀV_j⁻¹Z_j − [REML] Σ_j (Z_jᵀV_j⁻¹X_j) A⁻¹
(X_jᵀV_j⁻¹Z_j) − (df_r / r²) Σ_j g_j g_jᵀ, g_j = Z_jᵀV_j⁻¹(y_j − X_jβ̂) (derived in profiled.py's
docstring), hence ∂f/∂T = 2 G T. The conditional modes are b_j = D g_j, their conditional covariances
σ² P_j (lme4's `ranef(condVar = TRUE)`). The two-effect engine (profiled.py) is the q ≤ 2 case written
out element-wise for speed; this one takes any p and q.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..errors import DataError, FitError
from .blocks import Blocks, Working, working
from .profiled import GRADIENT_RTOL, NEWTON_MAX_ITER, SINGULAR_TOL, _newton, _sum_log, lbfgs

__all__ = ["LmmFit", "LmmProblem", "fit_lmm", "fit_lmm_at"]

_LOG_2PI = math.log(2.0 * math.pi)


@dataclass(frozen=True)
class LmmFit:
    """An exact fit in lme4's terms, for X, Z and y as given (names are lme4's)."""

    fixed_names: tuple[str, ...]
    random_names: tuple[str, ...]
    blocks: tuple[int, ...]
    labels: np.ndarray
    fixed_effects: np.ndarray  # (p,)
    fixed_cov: np.ndarray  # (p, p): vcov
    cov_re: np.ndarray  # (q, q): Σ (zero between independent blocks)
    sigma: float
    theta: np.ndarray  # lme4's θ for Z as given
    blup: np.ndarray  # (J, q): ranef
    blup_cov: np.ndarray  # (J, q, q): condVar (σ² P_j)
    criterion: float  # REML criterion or ML deviance
    method: str
    converged: bool
    is_singular: bool
    gradient_norm: float
    n_obs: int
    n_evaluations: int

    @property
    def loglik(self) -> float:
        """lme4's logLik: the REML or ML log-likelihood."""
        return -0.5 * self.criterion

    @property
    def sd_re(self) -> dict[str, float]:
        return dict(zip(self.random_names, map(float, np.sqrt(np.diag(self.cov_re))), strict=True))

    @property
    def cor_re(self) -> dict[str, float]:
        """Correlations within each block, keyed "a:b" as lme4's VarCorr lists them (NaN for an SD of 0)."""
        out = {}
        sd = np.sqrt(np.diag(self.cov_re))
        start = 0
        for size in self.blocks:
            for col in range(start, start + size):
                for row in range(col + 1, start + size):
                    denominator = sd[row] * sd[col]
                    value = self.cov_re[row, col] / denominator if denominator > 0 else math.nan
                    out[f"{self.random_names[col]}:{self.random_names[row]}"] = float(value)
            start += size
        return out

    @property
    def std_errors(self) -> np.ndarray:
        return np.sqrt(np.diag(self.fixed_cov))


@dataclass
class _Point:
    """The criterion's value, gradient and profiled solution at one θ (working coordinates)."""

    f: float
    grad: np.ndarray
    beta: np.ndarray
    a_inv: np.ndarray
    r2: float
    g: np.ndarray | None = None  # (J, q): Z_jᵀV_j⁻¹(y_j − X_jβ)
    P: np.ndarray | None = None  # (J, q, q)


class LmmProblem:
    """The profiled criterion of one model on its working blocks, as a function of θ."""

    def __init__(self, w: Working, method: str) -> None:
        if method not in ("REML", "ML"):
            raise ValueError(f"method must be 'REML' or 'ML', got {method!r}")
        self.w = w
        self.method = method
        self.p, self.q = w.p, w.q
        rows, cols = [], []
        start = 0
        for size in w.blocks:
            for c in range(size):
                for r in range(c, size):
                    rows.append(start + r)
                    cols.append(start + c)
            start += size
        self.rows, self.cols = np.array(rows), np.array(cols)
        self.diagonal = np.flatnonzero(self.rows == self.cols)
        self.n_obs = float(w.n.sum())
        self.df_resid = self.n_obs - self.p if method == "REML" else self.n_obs
        self.n_evaluations = 0
        self.last_magnitude = 0.0
        self.theta_lower = np.where(self.rows == self.cols, 0.0, -np.inf)
        # the blocks with the clusters in the last axis, in chunks: B = [ZᵀX | ZᵀZ | Zᵀy] (q, p + q + 1, J)
        stacked = np.concatenate([w.ztx, w.ztz, w.zty[:, :, None]], axis=2)  # (J, q, r)
        self.B = [
            np.ascontiguousarray(stacked[start : start + self.CHUNK].transpose(1, 2, 0))
            for start in range(0, max(len(stacked), 1), self.CHUNK)
        ]
        self.s_total = w.ztz.sum(axis=0)
        self.xtx_total = w.xtx.sum(axis=0)
        self.xty_total = w.xty.sum(axis=0)
        self.yty_total = float(w.yty.sum())

    @property
    def n_theta(self) -> int:
        return self.rows.size

    def factor(self, theta: np.ndarray) -> np.ndarray:
        T = np.zeros((self.q, self.q))
        T[self.rows, self.cols] = theta
        return T

    def start(self) -> np.ndarray:
        """lme4's start: T = I."""
        return (self.rows == self.cols).astype(np.float64)

    #: clusters per chunk: a chunk's arrays (q × (p + q + 1) values per cluster) stay in the CPU's cache
    #: between the steps; whole arrays at 100,000 clusters (10 MB each) made an evaluation 2x slower
    CHUNK = 8192

    def evaluate(self, theta: np.ndarray, full: bool = False) -> _Point:
        """Criterion, exact gradient and profiled solution at θ.

        lme4's factorisation per cluster, L_j = chol(TᵀS_jT + I), applied at once to the right-hand sides
        B_j = [ZᵀX | ZᵀZ | Zᵀy]_j: R_j = L_j⁻¹TᵀB_j = [R_ZX | R_S | c_u]. The sums over the clusters are
        one matrix product of the stacked R (its Gram matrix): A = XᵀX − Σ R_ZXᵀR_ZX, XᵀV⁻¹y =
        Xᵀy − Σ R_ZXᵀc_u, yᵀV⁻¹y = yᵀy − Σ|c_u|², Σ ZᵀV⁻¹Z = Σ S − Σ R_SᵀR_S. Arrays run over the clusters
        in their last axis, so each step is one vector operation over a chunk of clusters (batched
        (J, q, q) matrix products spend their time on per-matrix overhead: measured 20x slower).
        """
        self.n_evaluations += 1
        q, p = self.q, self.p
        T = self.factor(np.asarray(theta, dtype=np.float64))
        factors = []
        logdet_m = 0.0
        within = np.zeros((self.B[0].shape[1], self.B[0].shape[1]))
        for B in self.B:
            L, inverse_diagonal, det_m = _factor(T, B[:, p : p + q], q)
            logdet_m += _sum_log(det_m)
            R = _forward(L, inverse_diagonal, (T.T @ B.reshape(q, -1)).reshape(B.shape))
            for a in range(q):
                within += R[a] @ R[a].T
            factors.append((L, inverse_diagonal, R))
        A = self.xtx_total - within[:p, :p]
        c = self.xty_total - within[:p, p + q]
        yy = self.yty_total - within[p + q, p + q]
        try:
            chol_a = np.linalg.cholesky(A)
        except np.linalg.LinAlgError:
            return _Point(math.inf, np.full(self.n_theta, np.nan), np.full(p, np.nan), A, math.nan)
        a_inv = np.linalg.inv(A)
        beta = a_inv @ c
        r2 = float(yy - c @ beta)
        df = self.df_resid
        if not r2 > 0.0:
            return _Point(math.inf, np.full(self.n_theta, np.nan), beta, a_inv, r2)
        logdet_a = 2.0 * float(np.log(np.diag(chol_a)).sum())
        log_term = df * (1.0 + _LOG_2PI + math.log(r2 / df))
        self.last_magnitude = abs(logdet_m) + abs(log_term) + abs(logdet_a)
        f = logdet_m + log_term + (logdet_a if self.method == "REML" else 0.0)

        # the gradient (module docstring): g = ZᵀV⁻¹(y − Xβ) = (Zᵀy − ZᵀXβ) + R_Sᵀ(R_ZXβ − c_u), and for
        # REML Σ ZᵀV⁻¹X A⁻¹ XᵀV⁻¹Z with ZᵀV⁻¹X = ZᵀX − R_SᵀR_ZX
        ggt = np.zeros((q, q))
        reml = np.zeros((q, p, q, p))
        gs, Ps = [], []
        for B, (L, inverse_diagonal, R) in zip(self.B, factors, strict=True):
            RZX, RS, cu = R[:, :p], R[:, p : p + q], R[:, p + q]
            h = -cu
            g = B[:, p + q].copy()
            for k in range(p):
                h = h + beta[k] * RZX[:, k]
                g -= beta[k] * B[:, k]
            for a in range(q):
                for cc in range(q):
                    g[a] += RS[cc, a] * h[cc]
            ggt += g @ g.T
            if self.method == "REML":
                zvx = B[:, :p].copy()
                for a in range(q):
                    for cc in range(q):
                        zvx[a] -= RS[cc, a] * RZX[cc]
                flat = zvx.reshape(q * p, -1)
                reml += (flat @ flat.T).reshape(q, p, q, p)
            if full:
                RT = _forward(L, inverse_diagonal, np.broadcast_to(T.T[:, :, None], (q, q, B.shape[2])))
                gs.append(g.T)
                Ps.append(np.einsum("caj,cbj->jab", RT, RT))
        G = self.s_total - within[p : p + q, p : p + q] - (df / r2) * ggt
        if self.method == "REML":
            G -= np.einsum("akbl,kl->ab", reml, a_inv)
        grad = (2.0 * G @ T)[self.rows, self.cols]
        point = _Point(f=f, grad=grad, beta=beta, a_inv=a_inv, r2=r2)
        if full:
            point.g, point.P = np.concatenate(gs), np.concatenate(Ps)
        return point

    def noise(self, f: float) -> float:
        """A bound on the rounding noise of the criterion near ``f`` (as profiled.py's)."""
        return 256.0 * np.finfo(float).eps * (self.n_obs + abs(f) + self.last_magnitude)

    def f(self, theta: np.ndarray) -> float:
        return self.evaluate(theta).f

    def fg(self, theta: np.ndarray) -> tuple[float, np.ndarray]:
        point = self.evaluate(theta)
        grad = np.where(np.isfinite(point.grad), point.grad, 0.0)
        return (point.f if math.isfinite(point.f) else 1e300), grad

    def canonical(self, theta: np.ndarray) -> np.ndarray:
        """Non-negative diagonal: flipping the sign of a column of T leaves TTᵀ, and the fit, unchanged."""
        T = self.factor(theta)
        signs = np.where(np.diag(T) < 0.0, -1.0, 1.0)
        return (T * signs[None, :])[self.rows, self.cols]


def _factor(
    T: np.ndarray, S: np.ndarray, q: int
) -> tuple[list[list[np.ndarray]], list[np.ndarray], np.ndarray]:
    """Per cluster the lower Cholesky factor L of TᵀS T + I (S is (q, q, J)), entry by entry, the inverses
    of its diagonal and det(TᵀS T + I) (>= 1)."""
    TtS = (T.T @ S.reshape(q, -1)).reshape(S.shape)
    L: list[list[np.ndarray]] = [[np.empty(0)] * q for _ in range(q)]
    for i in range(q):
        for j in range(i + 1):
            value = TtS[i, 0] * T[0, j]
            for c in range(1, q):
                if T[c, j] != 0.0:
                    value = value + TtS[i, c] * T[c, j]
            if i == j:
                value += 1.0
            for k in range(j):
                value = value - L[i][k] * L[j][k]
            L[i][j] = np.sqrt(value) if i == j else value / L[j][j]
    det_m = L[0][0] * L[0][0]
    for i in range(1, q):
        det_m = det_m * (L[i][i] * L[i][i])
    return L, [1.0 / L[i][i] for i in range(q)], det_m


def _forward(L: list[list[np.ndarray]], inverse_diagonal: list[np.ndarray], V: np.ndarray) -> np.ndarray:
    """L⁻¹V per cluster by forward substitution; V is (q, r, J), L[i][k] and the diagonal's inverses (J,)."""
    out = np.empty(V.shape)
    for i in range(len(L)):
        row = V[i].copy()
        for k in range(i):
            row -= L[i][k] * out[k]
        row *= inverse_diagonal[i]
        out[i] = row
    return out


def _check(w: Working, blocks: Blocks) -> None:
    """lme4's identifiability checks, and a fixed part of full rank (naming the collinear columns)."""
    n_obs = float(w.n.sum())
    levels = int((w.n > 0).sum())
    if levels < 2:
        raise DataError("the grouping factor must have at least 2 levels with rows")
    if n_obs <= w.p:
        raise DataError(f"the model has {w.p} fixed effects and only {n_obs:g} rows")
    if n_obs <= w.q * levels:
        raise DataError(
            f"number of rows ({n_obs:g}) <= number of random effects ({w.q} per cluster x {levels} clusters): "
            "the random-effects parameters and the residual variance are unidentifiable"
        )
    total = w.xtx.sum(axis=0)
    scale = np.sqrt(np.maximum(np.diag(total), 1e-300))
    values, vectors = np.linalg.eigh(total / np.outer(scale, scale))
    if values[0] <= 1e-10 * max(values[-1], 1e-300):
        weights = np.abs(vectors[:, 0])
        involved = [name for name, weight in zip(blocks.fixed_names, weights, strict=True) if weight > 1e-3]
        if np.all(np.diag(total) > 0):
            raise DataError(
                f"the fixed part is rank-deficient: the columns {', '.join(involved)} are collinear "
                "(one is a combination of the others); drop one of them"
            )
        constant = [
            name for name, value in zip(blocks.fixed_names, np.diag(total), strict=True) if value <= 0
        ]
        raise DataError(f"the fixed effect {', '.join(constant)} is 0 in every row: it cannot be estimated")


def fit_lmm(blocks: Blocks, method: str = "REML") -> LmmFit:
    """lme4's fit of the model the blocks were made for: damped Newton with the exact gradient from lme4's
    start, scipy's L-BFGS where Newton does not settle, then canonical signs and exact boundary values."""
    w = working(blocks)
    _check(w, blocks)
    problem = LmmProblem(w, method)
    tolerance = GRADIENT_RTOL * max(problem.n_obs, 100.0)
    try:
        # quasi-Newton steps get near the optimum for few evaluations; Newton's method (a fresh
        # finite-difference Hessian of the exact gradient) pins it down from there
        theta = _secant_descent(problem, problem.start())
        theta, f, grad, settled = _newton(problem, theta, max_iter=NEWTON_MAX_ITER)
        ok = settled and math.isfinite(f) and float(np.abs(grad).max()) <= tolerance
        if not ok:
            theta, ok = _quasi_newton(problem, theta if math.isfinite(f) else problem.start())
            theta, f, grad, _ = _newton(problem, theta, max_iter=12)
        theta = problem.canonical(theta)  # the same f: the sign of a column of T does not matter
        theta, f = _snap_to_boundary(problem, theta, f)
    except np.linalg.LinAlgError as exc:
        raise FitError(f"the mixed model cannot be fitted: {exc}") from None
    if not math.isfinite(f):
        raise FitError("the mixed model cannot be fitted: the criterion is not finite at any θ tried")
    gradient_norm = _gradient_norm(problem, theta)
    return _assemble(problem, blocks, theta, ok and gradient_norm <= tolerance, gradient_norm)


def _secant_descent(problem: LmmProblem, start: np.ndarray, max_iter: int = 40) -> np.ndarray:
    """Newton steps on a Hessian that is computed once (finite differences of the exact gradient) and then
    updated from the gradients along the way (BFGS), with backtracking: one evaluation per step instead
    of one per coordinate. Stops where the predicted decrease is below the criterion's rounding noise,
    or where a step finds nothing lower; returns the best θ seen."""
    from .profiled import _fd_hessian

    theta = np.asarray(start, dtype=np.float64)
    point = problem.evaluate(theta)
    f, grad = point.f, point.grad
    if not (math.isfinite(f) and np.all(np.isfinite(grad))):
        return theta
    free = np.ones(theta.size, dtype=bool)
    hessian = _fd_hessian(problem, theta, grad, free)
    if not np.all(np.isfinite(hessian)):
        return theta
    values, vectors = np.linalg.eigh(hessian)
    floor = 1e-8 * max(float(np.abs(values).max()), 1e-300)
    B = (vectors * np.maximum(np.abs(values), floor)) @ vectors.T  # positive definite: every step descends
    for _ in range(max_iter):
        step = -np.linalg.solve(B, grad)
        if -0.5 * float(grad @ step) <= problem.noise(f):
            break
        alpha, accepted = 1.0, False
        for _ls in range(10):
            candidate = theta + alpha * step
            new = problem.evaluate(candidate)
            if new.f <= f and np.all(np.isfinite(new.grad)):
                accepted = True
                break
            alpha *= 0.5
        if not accepted:
            break
        s, y = candidate - theta, new.grad - grad
        theta, f, grad = candidate, new.f, new.grad
        sy = float(s @ y)
        if sy > 1e-12 * float(np.linalg.norm(s) * np.linalg.norm(y)):
            Bs = B @ s
            B = B - np.outer(Bs, Bs) / float(s @ Bs) + np.outer(y, y) / sy
    return theta


def fit_lmm_at(blocks: Blocks, method: str, theta_working: np.ndarray) -> tuple[LmmFit, float]:
    """The profiled solution at a given θ in working coordinates (another engine's), without optimising,
    and how far its criterion lies above the exact optimum: lme4's estimates if θ were the optimum."""
    w = working(blocks)
    _check(w, blocks)
    problem = LmmProblem(w, method)
    theta = problem.canonical(np.asarray(theta_working, dtype=np.float64))
    at_theta = _assemble(problem, blocks, theta, False, _gradient_norm(problem, theta))
    optimum = fit_lmm(blocks, method)
    return at_theta, max(at_theta.criterion - optimum.criterion, 0.0)


def _quasi_newton(problem: LmmProblem, start: np.ndarray) -> tuple[np.ndarray, bool]:
    """Only where Newton did not settle (scipy's import costs more than a fit)."""
    theta, _, ok = lbfgs(problem, start, maxiter=2000, maxcor=20)
    return theta, ok


def _snap_to_boundary(problem: LmmProblem, theta: np.ndarray, f: float) -> tuple[np.ndarray, float]:
    """Tiny diagonal elements exactly 0 where that does not raise the criterion beyond rounding (lme4's
    bobyqa lands on the bound; a smooth optimiser only approaches it)."""
    scale = max(1.0, float(np.abs(theta).max()))
    for i in problem.diagonal:
        if 0.0 < abs(theta[i]) < 1e-5 * scale:
            candidate = theta.copy()
            candidate[i] = 0.0
            fixed = np.zeros(theta.size, dtype=bool)
            fixed[i] = True
            candidate, f_candidate, _, _ = _newton(problem, candidate, fixed, max_iter=6)
            if f_candidate <= f + problem.noise(f):
                theta, f = problem.canonical(candidate), min(f, f_candidate)
    return theta, f


def _gradient_norm(problem: LmmProblem, theta: np.ndarray) -> float:
    """Largest entry of the exact gradient; on the boundary (a diagonal element 0) only the inward side."""
    grad = problem.evaluate(theta).grad
    at_bound = (theta <= problem.theta_lower) & np.isin(np.arange(theta.size), problem.diagonal)
    grad = np.where(at_bound, np.maximum(-grad, 0.0), np.abs(grad))
    return float(grad.max()) if grad.size else 0.0


def _lme4_theta(problem: LmmProblem, T: np.ndarray) -> np.ndarray:
    """lme4's θ for Z as given: per block the lower-triangular factor of A_Z T Tᵀ A_Zᵀ (via QR, which a
    singular block does not trouble), with a non-negative diagonal."""
    B = problem.w.random_map @ T
    L = np.zeros_like(B)
    start = 0
    for size in problem.w.blocks:
        part = slice(start, start + size)
        r = np.asarray(np.linalg.qr(B[part, part].T, mode="r"))
        lower = r.T * np.where(np.diag(r) < 0, -1.0, 1.0)[None, :]
        L[part, part] = lower
        start += size
    return L[problem.rows, problem.cols]


def _assemble(
    problem: LmmProblem, blocks: Blocks, theta: np.ndarray, converged: bool, gradient_norm: float
) -> LmmFit:
    """The solution at θ, mapped back from working coordinates to X, Z and y as given (blocks.py)."""
    w = problem.w
    point = problem.evaluate(theta, full=True)
    assert point.g is not None and point.P is not None
    T = problem.factor(theta)
    sigma2 = point.r2 / problem.df_resid
    s, A_x, A_z = w.y_scale, w.fixed_map, w.random_map
    beta = s * (A_x @ point.beta)
    if w.intercept is not None:
        beta[w.intercept] += w.y_centre / w.intercept_value
    D = T @ T.T
    blup = s * (point.g @ D) @ A_z.T
    shift = 2.0 * problem.n_obs * math.log(s)
    if problem.method == "REML":
        shift = 2.0 * problem.df_resid * math.log(s) - 2.0 * math.log(abs(np.linalg.det(A_x)))
    return LmmFit(
        fixed_names=blocks.fixed_names,
        random_names=blocks.random_names,
        blocks=blocks.blocks,
        labels=blocks.labels,
        fixed_effects=beta,
        fixed_cov=(s * s * sigma2) * (A_x @ point.a_inv @ A_x.T),
        cov_re=(s * s * sigma2) * (A_z @ D @ A_z.T),
        sigma=s * math.sqrt(sigma2),
        theta=_lme4_theta(problem, T),
        blup=blup,
        blup_cov=(s * s * sigma2) * (A_z @ point.P @ A_z.T),
        criterion=float(point.f + shift),
        method=problem.method,
        converged=bool(converged),
        is_singular=bool(np.any(np.abs(theta[problem.diagonal]) <= SINGULAR_TOL)),
        gradient_norm=gradient_norm,
        n_obs=int(problem.n_obs),
        n_evaluations=problem.n_evaluations,
    )
