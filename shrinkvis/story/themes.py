"""Colours: light and dark themes, and colour-blind-safe palettes for the three ways of pooling.

Both palettes are safe for the common colour-vision deficiencies: Okabe & Ito's (orange, blue, bluish
green) and Paul Tol's "bright" scheme (red, blue/cyan, green/yellow). On the dark theme the blues are the
palettes' lighter members so that they keep their contrast.
"""

from __future__ import annotations

from dataclasses import dataclass

RGBA = tuple[float, float, float, float]


def rgba(hex_colour: str, alpha: float = 1.0) -> RGBA:
    """'#rrggbb' → (r, g, b, a) in 0 … 1."""
    text = hex_colour.lstrip("#")
    red, green, blue = (int(text[i : i + 2], 16) / 255 for i in (0, 2, 4))
    return (round(red, 4), round(green, 4), round(blue, 4), alpha)


@dataclass(frozen=True)
class Theme:
    name: str
    background: RGBA
    text: RGBA
    muted_text: RGBA  # captions, tick labels
    grid: RGBA
    spine: RGBA
    no_pool: RGBA
    partial_pool: RGBA
    complete_pool: RGBA
    fixed_effect: RGBA  # the "black hole"
    contour: RGBA
    data_point: RGBA  # raw observations in the lines view
    trail: RGBA
    warning: RGBA


# (no pooling, partial pooling, complete pooling) on a light and on a dark background
PALETTES: dict[str, dict[str, tuple[str, str, str]]] = {
    "okabe_ito": {"light": ("#E69F00", "#0072B2", "#009E73"), "dark": ("#E69F00", "#56B4E9", "#009E73")},
    "tol_bright": {"light": ("#EE6677", "#4477AA", "#228833"), "dark": ("#EE6677", "#66CCEE", "#CCBB44")},
}

_BACKGROUNDS = {
    "light": {
        "background": rgba("#ffffff"),
        "text": rgba("#1a1a1a"),
        "muted_text": rgba("#4d4d4d"),
        "grid": rgba("#ebebeb"),
        "spine": rgba("#8c8c8c"),
        "fixed_effect": rgba("#111111"),
        "contour": rgba("#6b6b6b"),
        "data_point": rgba("#8c8c8c"),
        "trail": rgba("#8c8c8c", 0.35),
        "warning": rgba("#b00020"),
    },
    "dark": {
        "background": rgba("#16181d"),
        "text": rgba("#ececec"),
        "muted_text": rgba("#b4b4b4"),
        "grid": rgba("#2a2d34"),
        "spine": rgba("#6e6e6e"),
        "fixed_effect": rgba("#f2f2f2"),
        "contour": rgba("#a0a0a0"),
        "data_point": rgba("#8f8f8f"),
        "trail": rgba("#b4b4b4", 0.3),
        "warning": rgba("#ff7a7a"),
    },
}


def theme(name: str = "light", palette: str = "okabe_ito") -> Theme:
    no_pool, partial_pool, complete_pool = PALETTES[palette][name]
    return Theme(
        name=name,
        no_pool=rgba(no_pool),
        partial_pool=rgba(partial_pool),
        complete_pool=rgba(complete_pool),
        **_BACKGROUNDS[name],
    )
