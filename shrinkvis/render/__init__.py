"""Frames as RGB arrays: matplotlib on the Agg canvas, one figure per animation, blitting.

`renderer(story)` picks the view's renderer. Every renderer has `frame(i)` → (H, W, 4) uint8 RGBA (opaque), iterates
over all frames, and has `size`, `svg()` (the final state) and `close()`.
"""

from __future__ import annotations

from ..story import FunnelStory, LinesStory, PlaneStory, Storyboard
from .base import BlitRenderer

__all__ = ["BlitRenderer", "renderer"]


def renderer(story: Storyboard) -> BlitRenderer:
    if isinstance(story, PlaneStory):
        from .plane import PlaneRenderer

        return PlaneRenderer(story)
    if isinstance(story, LinesStory):
        from .lines import LinesRenderer

        return LinesRenderer(story)
    if isinstance(story, FunnelStory):
        from .funnel import FunnelRenderer

        return FunnelRenderer(story)
    from ..story.rates import RatesStory

    if isinstance(story, RatesStory):  # rates and published estimates (issue 27)
        from .rates import RatesRenderer

        return RatesRenderer(story)
    raise TypeError(f"no renderer for {type(story).__name__}")
