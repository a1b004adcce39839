"""Moving the origin of x and y: the engines fit y − c_y on x − c_x, the user reads the model for y on x.

Subtracting global centres is an exact reparametrisation of the model. With u = (intercept, slope) of a
cluster (or of the fixed effects), the intercept at x = 0 is the intercept at x = c_x minus c_x × slope,
so every estimate maps back through one linear map L = [[1, −c_x], [0, 1]] (the Jacobian of the change):
fixed effects β = L β_c + (c_y, 0), their covariance L V_c L', Σ = L Σ_c L' (lme4 reports Σ for the
intercept at x = 0), conditional modes L b_c and their covariances L C_c L'. L has determinant 1, so the
REML criterion and the ML deviance do not change.

Fitting in centred coordinates is what makes a fit independent of where x and y sit: the criterion's
terms lose no digits to an offset, and the optimiser's parameters (θ for x − c_x) keep their scale.
"""

from __future__ import annotations

import math

import numpy as np


def uncentre_fixed(
    beta: np.ndarray, cov: np.ndarray, centre_y: float, centre_x: float
) -> tuple[np.ndarray, np.ndarray]:
    """Fixed effects and their covariance for y and x as given, from those for y − c_y on x − c_x."""
    beta = np.array(beta, dtype=np.float64)
    cov = np.array(cov, dtype=np.float64)
    if beta.size == 2:
        beta[0] -= centre_x * beta[1]
        cov = _transform(cov, centre_x)
    beta[0] += centre_y
    return beta, cov


def uncentre_cov(cov: np.ndarray, centre_x: float) -> np.ndarray:
    """L C L' for one (q, q) covariance or a stack (J, q, q) of them; q = 1 is unchanged."""
    cov = np.array(cov, dtype=np.float64)
    return cov if cov.shape[-1] == 1 else _transform(cov, centre_x)


def uncentre_effects(effects: np.ndarray, centre_x: float) -> np.ndarray:
    """Per-cluster (intercept, slope) deviations for the intercept at x = 0."""
    effects = np.array(effects, dtype=np.float64)
    if effects.shape[-1] == 2:
        effects[..., 0] -= centre_x * effects[..., 1]
    return effects


def _transform(cov: np.ndarray, c: float) -> np.ndarray:
    out = cov.copy()
    c11, c12, c22 = cov[..., 0, 0], cov[..., 0, 1], cov[..., 1, 1]
    out[..., 0, 0] = c11 - 2.0 * c * c12 + c * c * c22
    out[..., 0, 1] = out[..., 1, 0] = c12 - c * c22
    return out


def shift_theta(theta: np.ndarray, by: float) -> np.ndarray:
    """lme4's θ (lower-triangular factor of Σ/σ², column-major) for the intercept moved to x = by.

    D' = C D C' with C = [[1, by], [0, 1]]. The last element comes from the determinant, which C leaves
    unchanged (det D' = det D = (θ₁θ₃)²), instead of D'₂₂ − θ'₂², which cancels when `by` is large.
    """
    theta = np.asarray(theta, dtype=np.float64)
    if theta.size == 1:
        return np.abs(theta)
    t11, t21, t22 = (float(v) for v in theta)
    a, b = t11 + by * t21, by * t22  # first row of C T
    d11 = a * a + b * b
    d12 = a * t21 + b * t22
    if d11 == 0.0:
        return np.array([0.0, 0.0, math.hypot(t21, t22)])
    s11 = math.sqrt(d11)
    return np.array([s11, d12 / s11, abs(t11 * t22) / s11])
