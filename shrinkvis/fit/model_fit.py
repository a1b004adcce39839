"""No, complete and partial pooling for any model of the class (model.py → blocks.py → lmm.py).

- partial pooling: the exact fit (lmm.py); per cluster each random effect's coefficient is its fixed
  effect (0 where the term is not in the fixed part) plus the cluster's conditional mode, with its
  conditional SE (lme4's `coef` and `ranef(condVar = TRUE)`);
- no pooling: each cluster's own least-squares fit of its random effects' columns (Z) to y less the other
  fixed effects at the mixed model's estimates (y − X_o β̂_o, X_o the columns of X not in Z): the
  cluster's own estimate adjusted for the other fixed effects. A per-cluster fit of the whole fixed part
  would leave every cluster unidentified as soon as the model has a cluster-level predictor (log(n), a
  county's uranium), which is exactly where the comparison matters. NaN where the cluster cannot identify
  its own Z (fewer rows than columns, or columns collinear within the cluster);
- complete pooling: one least-squares fit of the fixed part (R's `lm(y ~ fixed part)`).

All from the per-cluster blocks, in working coordinates and mapped back as the exact fit is.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..model import INTERCEPT, Design, ModelFormula
from .blocks import Blocks, _columns_map, blocks_of
from .lmm import LmmFit, fit_lmm

__all__ = ["ModelFit", "column_stem", "fit_blocks", "fit_design"]

#: a cluster's own fit is identifiable when the smallest eigenvalue of its (scaled) cross-product matrix
#: exceeds this fraction of the largest
OWN_FIT_RTOL = 1e-10


@dataclass(frozen=True)
class ModelFit:
    """The three ways of pooling for one model; `clusters` is estimates.csv's table."""

    design_formula: str
    group: str
    mixed: LmmFit
    clusters: pd.DataFrame
    complete_pooling: dict[str, dict[str, float]]
    dropped_rows: int

    @property
    def warnings(self) -> list[str]:
        out = []
        if not self.mixed.converged:
            out.append(
                f"the exact fit did not converge (largest gradient of the criterion in θ: "
                f"{self.mixed.gradient_norm:.2g}): do not trust the partial-pooling estimates"
            )
        if self.mixed.is_singular:
            zero = [name for name, sd in self.mixed.sd_re.items() if sd <= 1e-4 * self.mixed.sigma]
            what = f"the SD of {', '.join(zero)} is 0" if zero else "random effects are perfectly correlated"
            out.append(
                f"singular fit: {what}, more structure than the data support; the conditional SEs of those "
                "effects collapse toward zero. Fix: drop those random effects or add rows per cluster."
            )
        return out


def column_stem(name: str) -> str:
    """A random effect's name in estimates.csv's columns: `intercept` for (Intercept), else lme4's name."""
    return "intercept" if name == INTERCEPT else name


def fit_design(design: Design, method: str = "REML") -> ModelFit:
    """The three ways of pooling for a model applied to rows in memory."""
    return fit_blocks(blocks_of(design), design.formula, method, design.dropped_rows)


def fit_blocks(
    blocks: Blocks, formula: ModelFormula, method: str = "REML", dropped_rows: int = 0
) -> ModelFit:
    """The three ways of pooling from per-cluster blocks, however they were summed."""
    mixed = fit_lmm(blocks, method)
    own, own_se = _no_pool(blocks, mixed)
    fixed = dict(zip(mixed.fixed_names, mixed.fixed_effects, strict=True))
    table: dict[str, object] = {"cluster": blocks.labels, "n": blocks.n}
    for index, name in enumerate(mixed.random_names):
        stem = column_stem(name)
        table[f"no_pool_{stem}"] = own[name]
        table[f"partial_{stem}"] = fixed.get(name, 0.0) + mixed.blup[:, index]
        table[f"partial_{stem}_se"] = np.sqrt(mixed.blup_cov[:, index, index])
        table[f"no_pool_{stem}_se"] = own_se[name]
    return ModelFit(
        design_formula=formula.text,
        group=formula.group,
        mixed=mixed,
        clusters=pd.DataFrame(table),
        complete_pooling=_complete_pool(blocks),
        dropped_rows=dropped_rows,
    )


def _least_squares(
    blocks: Blocks, members: tuple[int, ...], cross: np.ndarray, subtract: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Least squares of y − W·subtract on the columns `members` for each (J, m, m) cross-product in
    `cross`, in the coordinates as given: coefficients (J, k), their covariance without σ² (J, k, k), the
    residual sum of squares (J,) and whether each fit is identifiable (J,). `subtract` (m,) holds the
    coefficients, in y's units, of the W columns to take off y first."""
    m = cross.shape[1]
    F, A, constant, value = _columns_map(blocks, members, centre=True)
    y_scale, y_centre = float(blocks.scales[m - 1]), float(blocks.centres[m - 1])
    f_y = np.zeros(m)
    f_y[m - 1] = 1.0
    if subtract is not None:
        f_y[1 : m - 1] -= subtract[1 : m - 1] / y_scale
        y_centre -= float(subtract[0])
    if constant is None:
        f_y[0] += y_centre / y_scale
    J, k = len(cross), F.shape[1]
    flat = cross.reshape(J, m * m)
    xtx = (flat @ np.kron(F, F)).reshape(J, k, k)  # FᵀC_jF for every cluster, one matrix product
    xty = (flat @ np.kron(F, f_y[:, None])).reshape(J, k)
    yty = flat @ np.kron(f_y, f_y)
    diagonal = np.einsum("jaa->ja", xtx)
    scale = np.sqrt(np.where(diagonal > 0, diagonal, 1.0))
    values = np.linalg.eigvalsh(xtx / (scale[:, :, None] * scale[:, None, :]))
    ok = (np.all(diagonal > 0, axis=1)) & (values[:, 0] > OWN_FIT_RTOL * values[:, -1])
    inverse = np.full(xtx.shape, np.nan)
    if ok.any():
        inverse[ok] = np.linalg.inv(xtx[ok])
    gamma = np.einsum("jab,jb->ja", inverse, xty)
    rss = np.maximum(yty - np.einsum("ja,ja->j", gamma, xty), 0.0)
    coefficients = y_scale * gamma @ A.T
    if constant is not None:
        coefficients[:, constant] += y_centre / value
    covariance = y_scale**2 * (A @ inverse @ A.T)
    return coefficients, covariance, rss * y_scale**2, ok


def _no_pool(blocks: Blocks, mixed: LmmFit) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Each cluster's own fit of Z to y less the other fixed effects (module docstring); SEs from the
    residual variance pooled over the clusters with a fit (as for the two-effect models)."""
    members = blocks.random_columns
    m = blocks.cross.shape[1]
    subtract = np.zeros(m)
    for w, beta in zip(blocks.fixed_columns, mixed.fixed_effects, strict=True):
        if w in members:
            continue
        # β·u = β·(s w + c) in the W columns; a constant column's w is its value over s
        subtract[w] += beta * blocks.scales[w] if w else beta
        subtract[0] += beta * blocks.centres[w]
    coefficients, covariance, rss, ok = _least_squares(blocks, members, blocks.cross, subtract)
    n = blocks.n
    usable = ok & (n > len(members))
    dof = float(np.sum(n[usable] - len(members)))
    variance = float(np.sum(rss[usable]) / dof) if dof > 0 else math.nan
    estimates, errors = {}, {}
    for index, name in enumerate(blocks.random_names):
        estimates[name] = np.where(ok, coefficients[:, index], np.nan)
        errors[name] = np.where(usable, np.sqrt(np.abs(variance * covariance[:, index, index])), np.nan)
    return estimates, errors


def _complete_pool(blocks: Blocks) -> dict[str, dict[str, float]]:
    """One least-squares fit of the fixed part to all rows."""
    total = blocks.cross.sum(axis=0)[None]
    coefficients, covariance, rss, ok = _least_squares(blocks, blocks.fixed_columns, total)
    p = len(blocks.fixed_columns)
    dof = blocks.n_obs - p
    variance = float(rss[0] / dof) if dof > 0 else math.nan
    errors = np.sqrt(np.abs(variance * np.diag(covariance[0])))
    return {
        "estimates": dict(zip(blocks.fixed_names, map(float, coefficients[0]), strict=True)),
        "std_errors": dict(zip(blocks.fixed_names, map(float, errors), strict=True)),
    }
