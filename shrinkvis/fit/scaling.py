"""Fit on data of ordinary size: y and x are divided by powers of two near their SDs, then mapped back.

Optimizers and their tolerances assume numbers near 1: statsmodels MixedLM returns a slope of 0 for x
in units of 1e8 and fails outright for x in units of 1e-8. Dividing y by a and x by b is an exact
reparametrisation of the model — β₀ = a·β₀′, β₁ = (a/b)·β₁′, σ = a·σ′, Σ = D Σ′ D with D = diag(a, a/b) —
and powers of two make the division itself exact, so data already near unit scale (a = b = 1) is fitted
exactly as given.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from .estimates import EngineFit


@dataclasses.dataclass(frozen=True)
class Scaling:
    y: float  # a: the fit sees y / a
    x: float  # b: the fit sees x / b

    @classmethod
    def of(cls, y: np.ndarray, x: np.ndarray | None) -> Scaling:
        return cls(y=_power_of_two(np.std(y)), x=_power_of_two(np.std(x)) if x is not None else 1.0)

    def apply(self, y: np.ndarray, x: np.ndarray | None) -> tuple[np.ndarray, np.ndarray | None]:
        """y / a and x / b; the arrays themselves where a or b is 1, so nothing is copied for nothing."""
        scaled_y = y if self.y == 1.0 else y / self.y
        scaled_x = x if x is None or self.x == 1.0 else x / self.x
        return scaled_y, scaled_x

    def unscale(self, fit: EngineFit, n_obs: int) -> EngineFit:
        """The engine's result on the original scale of y and x."""
        if self.y == 1.0 and self.x == 1.0:
            return fit
        p = len(fit.fixed_effects)
        q = fit.cov_re.shape[0]
        coefficient = np.array([self.y, self.y / self.x])  # intercept-like and slope-like terms
        fixed, random = coefficient[:p], coefficient[:q]
        return dataclasses.replace(
            fit,
            fixed_effects=fit.fixed_effects * fixed,
            fixed_cov=fit.fixed_cov * np.outer(fixed, fixed),
            cov_re=fit.cov_re * np.outer(random, random),
            sigma=fit.sigma * self.y,
            blup=fit.blup * random,
            blup_cov=fit.blup_cov * np.outer(random, random),
            criterion=fit.criterion + self.criterion_shift(n_obs, p, fit.method),
        )

    def criterion_shift(self, n_obs: int, p: int, method: str) -> float:
        """How −2 log-likelihood changes with the units of y and x.

        The density of y picks up 1/a per row: +2n·log a for ML. REML integrates over the fixed
        effects, whose own units change by a (intercept) and a/b (slope): +2(n − p)·log a + 2·log b.
        """
        if method == "ML":
            return 2 * n_obs * math.log(self.y)
        return 2 * (n_obs - p) * math.log(self.y) + (2 * math.log(self.x) if p > 1 else 0.0)


def _power_of_two(spread: float) -> float:
    if not np.isfinite(spread) or spread <= 0:
        return 1.0
    return 2.0 ** round(math.log2(spread))
