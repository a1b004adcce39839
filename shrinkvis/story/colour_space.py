"""Colours in between: blended in CIELAB, as gganimate's tweenr does, not in sRGB.

Halfway from Okabe–Ito orange (#E69F00) to blue (#0072B2), sRGB gives an olive (#738959) that reads as a
third category; CIELAB gives a muted warm grey (#A3876F, tweenr's value), which reads as "on the way".
The formulas are the standard ones: sRGB (IEC 61966-2-1) ↔ linear RGB ↔ CIE XYZ (D65) ↔ CIELAB (CIE 15).
"""

from __future__ import annotations

import numpy as np

# linear sRGB → XYZ (D65), and the D65 white point
_RGB_TO_XYZ = np.array(
    [
        [0.4124564, 0.3575761, 0.1804375],
        [0.2126729, 0.7151522, 0.0721750],
        [0.0193339, 0.1191920, 0.9503041],
    ]
)
_XYZ_TO_RGB = np.linalg.inv(_RGB_TO_XYZ)
_WHITE = _RGB_TO_XYZ @ np.ones(3)
_EPSILON = (6 / 29) ** 3


def _linear(srgb: np.ndarray) -> np.ndarray:
    return np.where(srgb <= 0.04045, srgb / 12.92, ((srgb + 0.055) / 1.055) ** 2.4)


def _gamma(linear: np.ndarray) -> np.ndarray:
    linear = np.clip(linear, 0.0, 1.0)
    return np.where(linear <= 0.0031308, 12.92 * linear, 1.055 * linear ** (1 / 2.4) - 0.055)


def rgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """(..., 3) sRGB in 0 … 1 → (..., 3) L*, a*, b*."""
    xyz = _linear(np.asarray(rgb, dtype=float)) @ _RGB_TO_XYZ.T / _WHITE
    f = np.where(xyz > _EPSILON, np.cbrt(xyz), xyz / (3 * (6 / 29) ** 2) + 4 / 29)
    return np.stack(
        [116 * f[..., 1] - 16, 500 * (f[..., 0] - f[..., 1]), 200 * (f[..., 1] - f[..., 2])], axis=-1
    )


def lab_to_rgb(lab: np.ndarray) -> np.ndarray:
    """(..., 3) L*, a*, b* → (..., 3) sRGB in 0 … 1 (out-of-gamut colours clipped)."""
    lab = np.asarray(lab, dtype=float)
    fy = (lab[..., 0] + 16) / 116
    f = np.stack([fy + lab[..., 1] / 500, fy, fy - lab[..., 2] / 200], axis=-1)
    xyz = np.where(f > 6 / 29, f**3, 3 * (6 / 29) ** 2 * (f - 4 / 29)) * _WHITE
    return np.clip(_gamma(xyz @ _XYZ_TO_RGB.T), 0.0, 1.0)


def blend(first: np.ndarray, second: np.ndarray, share: float) -> np.ndarray:
    """RGBA colours `share` of the way from `first` to `second`: colour in CIELAB, alpha linearly."""
    first, second = np.asarray(first, dtype=float), np.asarray(second, dtype=float)
    if share <= 0.0:
        return first.copy()
    if share >= 1.0:
        return second.copy()
    start, end = rgb_to_lab(first[..., :3]), rgb_to_lab(second[..., :3])
    rgb = lab_to_rgb(start + share * (end - start))
    alpha = first[..., 3:] + share * (second[..., 3:] - first[..., 3:])
    return np.concatenate([rgb, alpha], axis=-1)
