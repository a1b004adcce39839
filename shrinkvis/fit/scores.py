"""The scores of a fit against the truth (fit/truth.py computes them): plain values that `Estimates` can
carry without knowing how they were made."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

OWN = "no_pooling"  # the cluster's own fit, the yardstick
POOLED = "partial_pooling"  # the mixed model's estimates
# a size group counts as lost (in words, on the frame, in the gallery) when partial pooling's RMSE is more
# than this share above no pooling's; closer calls are left to the tables
CLEAR_LOSS = 0.05


@dataclass(frozen=True)
class GroupScore:
    """The scores over one group of clusters (all of them, or one size group)."""

    label: str  # "all clusters", "small", …
    smallest: int  # rows in its smallest and largest cluster
    largest: int
    clusters: int
    rmse: dict[str, dict[str, float]]  # estimator → coefficient → realised RMSE
    expected_rmse: dict[str, dict[str, float | None]]  # estimator → coefficient → √mean(SE²), or None
    closer: dict[str, float]  # coefficient → share of clusters whose partial pooling beats their own fit

    @property
    def sizes(self) -> str:
        return (
            f"n = {self.smallest}" if self.smallest == self.largest else f"n = {self.smallest}–{self.largest}"
        )

    def gain(self, coefficient: str) -> float:
        """How much smaller partial pooling's RMSE is than no pooling's: 0.4 = 40% smaller; below 0: larger."""
        own = self.rmse[OWN][coefficient]
        return 1.0 - self.rmse[POOLED][coefficient] / own if own > 0 else float("nan")

    def pooling_loses(self, coefficient: str, tolerance: float = 0.0) -> bool:
        """Partial pooling's RMSE above no pooling's by more than `tolerance` (a share of the latter)."""
        return self.rmse[POOLED][coefficient] > (1.0 + tolerance) * self.rmse[OWN][coefficient]

    def numbers(self) -> dict[str, Any]:
        """Plain JSON-ready values."""
        return {
            "group": self.label,
            "n_min": self.smallest,
            "n_max": self.largest,
            "clusters": self.clusters,
            "rmse": self.rmse,
            "expected_rmse": self.expected_rmse,
            "partial_closer_share": self.closer,
            "partial_gain": {coefficient: self.gain(coefficient) for coefficient in self.closer},
        }


@dataclass(frozen=True)
class TruthScore:
    """How close each estimator came to the truth: overall and by cluster size."""

    coefficients: tuple[str, ...]  # ("intercept", "slope"), or ("intercept",) without a predictor
    estimators: dict[str, str]  # name → label, in the order shown
    overall: GroupScore
    by_size: tuple[GroupScore, ...]  # empty when every cluster has the same size
    left_out: int  # clusters without an own fit, not scored

    def losing_groups(self, coefficient: str, tolerance: float = CLEAR_LOSS) -> list[GroupScore]:
        """Size groups where partial pooling is further from the truth than the clusters' own fits."""
        return [group for group in self.by_size if group.pooling_loses(coefficient, tolerance)]

    def numbers(self) -> dict[str, Any]:
        """Plain JSON-ready values (summary.json's `truth`)."""
        return {
            "known": True,
            "coefficients": list(self.coefficients),
            "estimators": self.estimators,
            "clusters_scored": self.overall.clusters,
            "clusters_left_out": self.left_out,
            "overall": self.overall.numbers(),
            "by_size": [group.numbers() for group in self.by_size],
        }
