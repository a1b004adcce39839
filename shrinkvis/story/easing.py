"""Easing: how the motion speeds up and slows down, with gganimate's names.

Each curve maps the share of the transition's time (0 → 1) to the share of the way travelled (0 → 1).
An `-in` curve starts slowly, `-out` arrives slowly, `-in-out` does both; `-out` and `-in-out` are built
from the `-in` curve by symmetry, as in Penner's easing equations that gganimate (tweenr) uses.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

Curve = Callable[[np.ndarray], np.ndarray]

_EASE_IN: dict[str, Curve] = {
    "quadratic": lambda t: t**2,
    "cubic": lambda t: t**3,
    "sine": lambda t: 1 - np.cos(t * np.pi / 2),
}


def _out(ease_in: Curve) -> Curve:
    return lambda t: 1 - ease_in(1 - t)


def _in_out(ease_in: Curve) -> Curve:
    return lambda t: np.where(t < 0.5, ease_in(2 * t) / 2, 1 - ease_in(2 - 2 * t) / 2)


EASINGS: dict[str, Curve] = {"linear": lambda t: t}
for _kind, _curve in _EASE_IN.items():
    EASINGS[f"{_kind}-in"] = _curve
    EASINGS[f"{_kind}-out"] = _out(_curve)
    EASINGS[f"{_kind}-in-out"] = _in_out(_curve)


def ease(name: str, t: np.ndarray) -> np.ndarray:
    """The share of the way travelled at time shares `t` (clipped to 0 … 1)."""
    t = np.clip(np.asarray(t, dtype=float), 0.0, 1.0)
    return np.asarray(EASINGS[name](t), dtype=float)
