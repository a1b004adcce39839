"""Each way of pooling scored against the truth, which only a simulation knows.

For every estimator (no pooling, complete pooling, partial pooling; another engine may add its own, e.g.
posterior means) and every coefficient, over the scored clusters:

- RMSE = √(mean_j (estimate_j − truth_j)²), the realised error;
- expected RMSE = √(mean_j SE_j²), the error the fit itself predicts: for no pooling the clusters' OLS
  SEs (one residual variance pooled over the clusters; unbiased estimates, so their mean squared error is
  their variance); for partial pooling the conditional SEs of the cluster effects (lme4's condVar at the
  estimated variances), which treat the fixed effects and the variances as known and so leave out their
  small uncertainty; complete pooling has none (its SE is of the population line, not of a cluster);
- the share of clusters whose partial-pooling estimate is closer to the truth than their own fit.

Scored are the clusters with an own fit (no pooling exists), so that every estimator is judged on the
same clusters. The same numbers are given by cluster size: clusters are split into up to three groups
(small, middle, large) of about equal count, clusters of one size always in one group.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .estimates import TRUTH_COLUMNS, Estimates
from .scores import OWN, POOLED, GroupScore, TruthScore

COEFFICIENTS = ("intercept", "slope")
SIZE_GROUP_NAMES = ("small", "middle", "large")


@dataclass(frozen=True)
class Estimator:
    """One way of estimating every cluster's (intercept, slope)."""

    name: str  # key in summary.json, e.g. "partial_pooling"
    label: str  # in words, e.g. "partial pooling"
    estimates: np.ndarray  # (J, 2); NaN where the estimator has none
    std_errors: np.ndarray | None = None  # (J, 2) SEs that predict its error; None: it has none


def estimators(estimates: Estimates) -> list[Estimator]:
    """No pooling, complete pooling and partial pooling of a fit, as per-cluster (intercept, slope); partial
    pooling is the posterior mean under the Bayesian engine (what the pictures draw), REML's BLUP otherwise."""
    table = estimates.clusters
    # under the Bayesian engine the pictures draw the posterior means as partial pooling: score those
    bayes = estimates.bayes is not None and "bayes_intercept" in table.columns
    pooled, spread = ("bayes", "sd") if bayes else ("partial", "se")
    complete = list(estimates.complete_pooling["estimates"].values())
    complete_point = np.array([complete[0], complete[1] if len(complete) > 1 else np.nan])
    return [
        Estimator(
            OWN,
            "no pooling",
            table[["no_pool_intercept", "no_pool_slope"]].to_numpy(dtype=float),
            table[["no_pool_intercept_se", "no_pool_slope_se"]].to_numpy(dtype=float),
        ),
        Estimator("complete_pooling", "complete pooling", np.tile(complete_point, (len(table), 1))),
        Estimator(
            POOLED,
            "partial pooling",
            table[[f"{pooled}_intercept", f"{pooled}_slope"]].to_numpy(dtype=float),
            table[[f"{pooled}_intercept_{spread}", f"{pooled}_slope_{spread}"]].to_numpy(dtype=float),
        ),
    ]


def size_groups(n: np.ndarray, groups: int = len(SIZE_GROUP_NAMES)) -> list[np.ndarray]:
    """Up to `groups` boolean masks from the smallest clusters to the largest, of about equal count.

    Each size goes to the group its clusters' middle rank falls in, so clusters of one size share a group;
    empty groups are dropped, and one size gives one group.
    """
    n = np.asarray(n)
    sizes, counts = np.unique(n, return_counts=True)
    before = np.cumsum(counts) - counts
    group_of_size = np.minimum((groups * (before + counts / 2) / len(n)).astype(int), groups - 1)
    group_of_cluster = group_of_size[np.searchsorted(sizes, n)]
    return [group_of_cluster == group for group in range(groups) if np.any(group_of_cluster == group)]


def _rmse(errors: np.ndarray) -> float:
    return float(np.sqrt(np.mean(errors**2))) if len(errors) else float("nan")


def _group(
    label: str, n: np.ndarray, truth: np.ndarray, chosen: Sequence[Estimator], coefficients: tuple[str, ...]
) -> GroupScore:
    rmse: dict[str, dict[str, float]] = {}
    expected: dict[str, dict[str, float | None]] = {}
    for estimator in chosen:
        rmse[estimator.name] = {}
        expected[estimator.name] = {}
        for axis, coefficient in enumerate(coefficients):
            rmse[estimator.name][coefficient] = _rmse(estimator.estimates[:, axis] - truth[:, axis])
            se = None if estimator.std_errors is None else estimator.std_errors[:, axis]
            known = se is not None and len(se) > 0 and bool(np.all(np.isfinite(se)))
            expected[estimator.name][coefficient] = _rmse(se) if se is not None and known else None
    own = next(estimator for estimator in chosen if estimator.name == OWN).estimates
    pooled = next(estimator for estimator in chosen if estimator.name == POOLED).estimates
    closer = {
        coefficient: float(
            np.mean(np.abs(pooled[:, axis] - truth[:, axis]) < np.abs(own[:, axis] - truth[:, axis]))
        )
        for axis, coefficient in enumerate(coefficients)
    }
    return GroupScore(label, int(n.min()), int(n.max()), len(n), rmse, expected, closer)


def score(n: np.ndarray, truth: np.ndarray, chosen: Sequence[Estimator]) -> TruthScore:
    """Score the estimators (which must include no and partial pooling) against the truth, (J, 2).

    A model without predictor has NaN slopes everywhere: only its intercepts are scored.
    """
    n = np.asarray(n)
    truth = np.asarray(truth, dtype=float)
    own = next(estimator for estimator in chosen if estimator.name == OWN).estimates
    has_slope = bool(np.any(np.isfinite(own[:, 1]))) and bool(np.all(np.isfinite(truth[:, 1])))
    coefficients = COEFFICIENTS if has_slope else COEFFICIENTS[:1]
    scored = np.all(np.isfinite(own[:, : len(coefficients)]), axis=1)
    kept = [
        dataclasses.replace(
            estimator,
            estimates=estimator.estimates[scored],
            std_errors=None if estimator.std_errors is None else estimator.std_errors[scored],
        )
        for estimator in chosen
    ]
    n_scored, truth_scored = n[scored], truth[scored]
    overall = _group("all clusters", n_scored, truth_scored, kept, coefficients)
    masks = size_groups(n_scored) if len(np.unique(n_scored)) > 1 else []
    names = SIZE_GROUP_NAMES if len(masks) == len(SIZE_GROUP_NAMES) else ("small", "large")
    by_size = tuple(
        _group(
            name,
            n_scored[mask],
            truth_scored[mask],
            [
                dataclasses.replace(
                    estimator,
                    estimates=estimator.estimates[mask],
                    std_errors=None if estimator.std_errors is None else estimator.std_errors[mask],
                )
                for estimator in kept
            ],
            coefficients,
        )
        for name, mask in zip(names, masks, strict=False)
    )
    return TruthScore(
        coefficients=coefficients,
        estimators={estimator.name: estimator.label for estimator in chosen},
        overall=overall,
        by_size=by_size,
        left_out=int((~scored).sum()),
    )


def with_truth(estimates: Estimates, truth: pd.DataFrame) -> Estimates:
    """The fit with every cluster's true effects (columns true_intercept, true_slope of `clusters`) and
    its score against them (`truth`). `truth` has one row per cluster: cluster, true_intercept, true_slope."""
    table = estimates.clusters
    where = pd.Index(truth["cluster"]).get_indexer(table["cluster"])
    if np.any(where < 0):
        missing = table["cluster"].to_numpy()[where < 0]
        raise ValueError(f"no true effects for cluster(s) {', '.join(map(str, missing[:5]))}")
    table = table.copy()
    for column in TRUTH_COLUMNS:
        table[column] = truth[column].to_numpy(dtype=float)[where]
    with_columns = dataclasses.replace(estimates, clusters=table)
    scored = score(
        table["n"].to_numpy(), table[list(TRUTH_COLUMNS)].to_numpy(dtype=float), estimators(with_columns)
    )
    return dataclasses.replace(with_columns, truth=scored)
