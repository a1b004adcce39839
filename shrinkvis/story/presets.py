"""Looks: size, type and marker scale of the frames, from the slide presets.

Sizes are points at the renderer's 100 dpi. A preset scales all of them together, so that a `slide`
(1280×720 on a projector) reads as well from the back of a room as `small` (600×450) does on a screen.
"""

from __future__ import annotations

from dataclasses import dataclass

from .themes import Theme

DPI = 100  # the renderer's: a point is DPI / 72 pixels
POINTS_PER_INCH = 72

# How much bigger than `small` the type, markers and lines of each preset are.
PRESET_SCALES = {"small": 1.0, "slide": 1.75, "square": 1.3}

TITLE_SIZE = 13.0
CAPTION_SIZE = 9.5
LABEL_SIZE = 11.0
TICK_SIZE = 9.5
LEGEND_SIZE = 9.5
ANNOTATION_SIZE = 9.0  # contour labels, panel titles
STAGE_SIZE = 11.0  # the stage caption of the stages view
LINE_WIDTH = 1.6


@dataclass(frozen=True)
class Look:
    """How the frames look; the renderer takes every size and colour from here."""

    width: int
    height: int
    scale: float
    theme: Theme
    math_text: bool = False  # $…$ in user text as mathtext (animation.math_text); else drawn as written

    def font(self, base: float) -> float:
        return round(base * self.scale, 2)

    @property
    def title_size(self) -> float:
        return self.font(TITLE_SIZE)

    @property
    def caption_size(self) -> float:
        return self.font(CAPTION_SIZE)

    @property
    def label_size(self) -> float:
        return self.font(LABEL_SIZE)

    @property
    def tick_size(self) -> float:
        return self.font(TICK_SIZE)

    @property
    def legend_size(self) -> float:
        return self.font(LEGEND_SIZE)

    @property
    def annotation_size(self) -> float:
        return self.font(ANNOTATION_SIZE)

    @property
    def stage_size(self) -> float:
        return self.font(STAGE_SIZE)

    @property
    def line_width(self) -> float:
        return round(LINE_WIDTH * self.scale, 2)

    def area(self, base: float) -> float:
        """A marker area (pt²) scaled with the preset: the diameter grows like the type."""
        return base * self.scale**2

    def area_across(self, pixels: float) -> float:
        """The marker area (pt², matplotlib's `s`) of a marker `pixels` across at `small`, scaled with the preset."""
        return self.area((pixels * POINTS_PER_INCH / DPI) ** 2)


def pixels_across(area: float) -> float:
    """How many pixels across a marker of `area` pt² is drawn."""
    return float(area) ** 0.5 * DPI / POINTS_PER_INCH


def look(width: int, height: int, preset: str, theme: Theme, math_text: bool = False) -> Look:
    """Type and markers sized for the preset, and shrunk with a frame smaller than the preset's own, so
    the text still leaves room for the plot."""
    from ..scenario import PRESET_SIZES

    base_width, base_height = PRESET_SIZES[preset]
    shrink = min(1.0, width / base_width, height / base_height)
    return Look(
        width=width, height=height, scale=PRESET_SCALES[preset] * shrink, theme=theme, math_text=math_text
    )
