"""What the truth reveal shows on each frame (story/truth.py builds it, render/truth.py draws it)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import colour_space
from .themes import RGBA

SEGMENT_ALPHA = 0.7


@dataclass(frozen=True)
class TruthReveal:
    """What the reveal shows on each frame: the true effects, the error segments and the RMSEs."""

    truth: np.ndarray  # (J, 2) true (intercept, slope)
    own: np.ndarray  # (J, 2) where each segment ends first: the cluster's own estimate
    pooled: np.ndarray  # (J, 2) where it ends last: the partial-pooling estimate
    progress: np.ndarray  # (F,) 0 before the reveal, 0 → 1 the truth appears, 1 → 2 the segments slide
    truth_color: RGBA
    own_color: RGBA
    pooled_color: RGBA
    area: float  # pt² of the crosses
    heading: str
    own_text: str  # "no pooling: intercept 0.384 · slope 0.323"
    pooled_text: str
    warning_text: str = ""  # where partial pooling is further from the truth: "small clusters (n = 8): …"
    warning_color: RGBA = (0.0, 0.0, 0.0, 1.0)
    corner: tuple[int, int] = (0, 1)  # where the text goes: (0 left | 1 right, 0 bottom | 1 top)
    further_color: RGBA = (0.0, 0.0, 0.0, 1.0)  # a segment that pooling made longer

    def truth_alpha(self, frame: int) -> float:
        return float(np.clip(self.progress[frame], 0.0, 1.0))

    def slide(self, frame: int) -> float:
        """How far the segments' far ends have slid from the own estimates to partial pooling, 0 … 1."""
        return float(np.clip(self.progress[frame] - 1.0, 0.0, 1.0))

    def segments(self, frame: int) -> np.ndarray:
        """(J, 2, 2) from each true effect to the estimate it is compared with now; (0, 2, 2) before."""
        if self.truth_alpha(frame) <= 0:
            return np.empty((0, 2, 2))
        end = self.own + self.slide(frame) * (self.pooled - self.own)
        return np.stack([self.truth, end], axis=1)

    @property
    def closer(self) -> np.ndarray:
        """(J,) bool: partial pooling ends nearer this cluster's truth than its own estimate did (distances
        in the plane with each coefficient in units of the truths' spread, as the eye compares them)."""
        spread = np.nanstd(self.truth, axis=0)
        spread = np.where(spread > 0, spread, 1.0)
        own = np.hypot(*((self.own - self.truth) / spread).T)
        pooled = np.hypot(*((self.pooled - self.truth) / spread).T)
        return pooled < own

    def segment_colors(self, frame: int) -> np.ndarray:
        """(J, 4) the segments start in no pooling's colour and, as they slide, turn partial pooling's where
        pooling brought the cluster closer to its truth, the warning colour where it took it further."""
        share = self.slide(frame)
        closer = colour_space.blend(np.array(self.own_color), np.array(self.pooled_color), share)
        further = colour_space.blend(np.array(self.own_color), np.array(self.further_color), share)
        colors = np.where(
            self.closer[:, None], np.asarray(closer, dtype=float), np.asarray(further, dtype=float)
        )
        colors[:, 3] = SEGMENT_ALPHA * self.truth_alpha(frame)
        return colors

    def lines(self) -> tuple[tuple[str, RGBA, int], ...]:
        """The text on the frame: (line, colour, 0 shown with the truth or 1 with the slide)."""
        lines = (
            (self.heading, self.truth_color, 0),
            (self.own_text, self.own_color, 0),
            (self.pooled_text, self.pooled_color, 1),
        )
        return lines + (((self.warning_text, self.warning_color, 1),) if self.warning_text else ())

    def text_alpha(self, frame: int) -> tuple[float, float]:
        """Opacity of the lines shown with the truth, and of those shown as the segments slide."""
        return self.truth_alpha(frame), self.slide(frame)
