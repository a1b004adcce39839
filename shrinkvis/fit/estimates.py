"""What a fit hands to the rest of the pipeline: plain numbers and tables, nothing drawn."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from .bayes import BayesFit

CLUSTER_COLUMNS = (
    "cluster",
    "n",
    "no_pool_intercept",
    "no_pool_slope",
    "partial_intercept",
    "partial_slope",
    "partial_intercept_se",
    "partial_slope_se",
    "no_pool_intercept_se",
    "no_pool_slope_se",
)

if TYPE_CHECKING:
    from .scores import TruthScore

TRUTH_COLUMNS = ("true_intercept", "true_slope")  # estimates.csv's last columns when the truth is known

#: estimates.csv's extra columns under `engine: bayes`: each cluster's posterior mean, SD and 95 % interval
BAYES_COLUMNS = tuple(
    f"bayes_{coefficient}{suffix}"
    for coefficient in ("intercept", "slope")
    for suffix in ("", "_sd", "_lo", "_hi")
)

SINGULAR_TOLERANCE = 1e-4  # lme4's isSingular: a diagonal element of θ at or below this is on the boundary

#: How far above the exact optimum (in −2 log-likelihood) another engine's estimates may lie and still
#: count as converged: far below anything a likelihood-ratio test could notice, and far above the 1e-6 or
#: less by which MixedLM misses when it does converge.
OPTIMUM_GAP_TOLERANCE = 1e-3


@dataclass(frozen=True)
class ModelRows:
    """The rows of a model, ready for an engine: y, x (None without predictor), cluster codes 0..J-1."""

    y: np.ndarray
    x: np.ndarray | None
    codes: np.ndarray
    n_groups: int


@dataclass(frozen=True)
class EngineFit:
    """The raw result every mixed-model engine returns, on the cluster order of the codes it was given."""

    fixed_effects: np.ndarray  # (p,): intercept[, slope]
    fixed_cov: np.ndarray  # (p, p)
    cov_re: np.ndarray  # (q, q): Σ, covariance of the random effects
    sigma: float  # residual SD
    blup: np.ndarray  # (J, q): conditional modes of the random effects
    blup_cov: np.ndarray  # (J, q, q): their conditional covariances
    criterion: float  # REML criterion (REML) or deviance (ML), lme4's constants
    method: str
    converged: bool
    is_singular: bool
    theta: np.ndarray | None = None  # lme4's θ at the optimum, when the engine works in θ
    gradient_norm: float = float("nan")  # max |∂criterion/∂θ| at the optimum, NaN when not computed
    # how far the criterion lies above the exact engine's optimum (engines other than exact), and
    # whether that optimum is a singular fit
    optimum_gap: float | None = None
    optimum_is_singular: bool | None = None


def relative_factor(cov_re: np.ndarray, sigma: float) -> np.ndarray:
    """lme4's θ: the lower-triangular Cholesky factor of Σ/σ², tolerant of a singular Σ."""
    scaled = np.asarray(cov_re, dtype=float) / sigma**2
    q = scaled.shape[0]
    factor = np.zeros_like(scaled)
    for j in range(q):
        diag = scaled[j, j] - np.sum(factor[j, :j] ** 2)
        factor[j, j] = np.sqrt(max(diag, 0.0))
        for i in range(j + 1, q):
            off = scaled[i, j] - np.sum(factor[i, :j] * factor[j, :j])
            factor[i, j] = off / factor[j, j] if factor[j, j] > 0 else 0.0
    return factor


@dataclass(frozen=True)
class Estimates:
    """No, complete and partial pooling for one data set.

    `clusters` has one row per cluster with the columns of `CLUSTER_COLUMNS` (slope columns are NaN when
    the model has no random slope). Population numbers use lme4's names.
    """

    clusters: pd.DataFrame
    fixed_effects: dict[str, float]
    std_errors: dict[str, float]
    cov_re: np.ndarray
    residual_sd: float
    complete_pooling: dict[str, dict[str, float]]
    random: str
    method: str
    engine: str
    criterion: float
    converged: bool
    is_singular: bool
    n_obs: int
    gradient_norm: float = float("nan")
    warnings: tuple[str, ...] = field(default=())
    optimum_gap: float | None = None  # criterion above the exact engine's optimum (statsmodels engine)
    # mean over the clusters with a fit of their own: estimates, SEs (pooled residual SD), residual_sd, clusters
    no_pooling: dict[str, Any] = field(default_factory=dict)
    # simulated data only: each estimator scored against the true effects (`fit.truth.with_truth`)
    truth: TruthScore | None = None
    # engine "bayes": posterior summaries (population numbers above are posterior means; the partial_*
    # cluster columns stay REML's, the bayes_* columns are the posterior's)
    bayes: BayesFit | None = None
    # a model beyond the two-effect ones (fit/model_fit.py): its lme4 formula; the columns and fixed
    # effects above then show its chosen random effects, with the other fixed effects taken off
    formula: str | None = None

    @property
    def table_columns(self) -> list[str]:
        """The columns of estimates.csv: `CLUSTER_COLUMNS`, the posterior's under `engine: bayes`, then the
        true effects when they are known."""
        return (
            list(CLUSTER_COLUMNS)
            + (list(BAYES_COLUMNS) if self.bayes is not None else [])
            + (list(TRUTH_COLUMNS) if self.truth is not None else [])
        )

    @property
    def fixed_point(self) -> np.ndarray:
        """(intercept, slope) of the fixed effects; the slope is NaN for a model without predictor."""
        values = list(self.fixed_effects.values())
        return np.array([values[0], values[1] if len(values) > 1 else np.nan])

    @property
    def n_groups(self) -> int:
        return len(self.clusters)

    @property
    def sd_intercept(self) -> float:
        return float(np.sqrt(self.cov_re[0, 0]))

    @property
    def sd_slope(self) -> float | None:
        return float(np.sqrt(self.cov_re[1, 1])) if self.cov_re.shape[0] > 1 else None

    @property
    def corr(self) -> float | None:
        if self.cov_re.shape[0] < 2:
            return None
        # two square roots, not the root of a product that overflows for data in large units
        denominator = np.sqrt(self.cov_re[0, 0]) * np.sqrt(self.cov_re[1, 1])
        return float(self.cov_re[0, 1] / denominator) if denominator > 0 else float("nan")

    def population(self) -> dict[str, Any]:
        """The population-level numbers as plain JSON-ready values."""
        key = "reml_criterion" if self.method == "REML" else "ml_deviance"
        return {
            "n_obs": self.n_obs,
            "n_groups": self.n_groups,
            "random": self.random,
            "method": self.method,
            "engine": self.engine,
            "fixed_effects": self.fixed_effects,
            "std_errors": self.std_errors,
            "sd_intercept": self.sd_intercept,
            "sd_slope": self.sd_slope,
            "corr": self.corr,
            "residual_sd": self.residual_sd,
            key: self.criterion,
            "is_singular": self.is_singular,
            "converged": self.converged,
            "gradient_norm": self.gradient_norm,
            "optimum_gap": self.optimum_gap,
            "complete_pooling": self.complete_pooling,
            "no_pooling": self.no_pooling,
            "warnings": list(self.warnings),
            **(self.bayes.to_json() if self.bayes is not None else {}),
        }
