"""The timeline: which state each frame shows, with pauses and easing, like gganimate's transitions.

An animation moves through a few key states (no pooling → partial pooling; or complete → no → partial
pooling). `Timeline.position[f]` says where frame f is on that path: 0 is the first state, 1 the second,
1.5 halfway from the second to the third. The first state holds for `start_pause` of the frames, the last
for `end_pause`; a middle state holds as long as the first.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from . import colour_space
from .easing import ease

MIN_TRANSITION_FRAMES = 2  # a transition needs its first and last frame

HELD = 1e-9  # a position this close above a state still holds it

Mix = Callable[[np.ndarray, np.ndarray, float], np.ndarray]


def _linear(first: np.ndarray, second: np.ndarray, share: float) -> np.ndarray:
    return first + share * (second - first)


@dataclass(frozen=True)
class Timeline:
    position: np.ndarray  # (F,) from 0 (first state) to n_states - 1 (last state)
    fps: int

    @property
    def n_frames(self) -> int:
        return len(self.position)

    @property
    def n_states(self) -> int:
        return int(round(self.position[-1])) + 1

    def step(self, frame: int) -> tuple[int, float]:
        """(k, share): frame is `share` of the way from state k to state k + 1."""
        position = float(self.position[frame])
        k = min(int(np.floor(position)), max(self.n_states - 2, 0))
        return k, position - k

    def blend(self, states: np.ndarray, frame: int, mix: Mix = _linear) -> np.ndarray:
        """The key states (first axis of `states`) mixed at this frame; linearly unless `mix` says how."""
        states = np.asarray(states, dtype=float)
        if len(states) == 1:
            return states[0]
        k, share = self.step(frame)
        return mix(states[k], states[k + 1], share)

    def blend_colours(self, states: np.ndarray, frame: int) -> np.ndarray:
        """Like `blend` for RGBA colours, in CIELAB as gganimate does (see colour_space)."""
        return self.blend(states, frame, colour_space.blend)

    def nearest_state(self, frame: int) -> int:
        return int(np.floor(self.position[frame] + 0.5))

    def heading_state(self, frame: int) -> int:
        """The state this frame holds, or the one it is moving to: a move is named from its first frame."""
        return int(np.ceil(self.position[frame] - HELD))


def timeline(
    frames: int, fps: int, start_pause: float, end_pause: float, easing: str, n_states: int = 2
) -> Timeline:
    """Hold the first state, move (eased) through each next one, hold the last."""
    transitions = n_states - 1
    hold_start = int(round(start_pause * frames))
    hold_end = int(round(end_pause * frames))
    hold_middle = hold_start
    # never let the pauses eat the motion: shrink the holds until every transition has its frames
    needed = MIN_TRANSITION_FRAMES * transitions
    while hold_start + hold_end + hold_middle * (transitions - 1) > frames - needed and (
        hold_start or hold_end or hold_middle
    ):
        hold_middle = max(hold_middle - 1, 0)
        hold_start = max(hold_start - 1, 0)
        hold_end = max(hold_end - 1, 0)
    moving = frames - hold_start - hold_end - hold_middle * (transitions - 1)
    if moving < needed:  # too few frames for holds and every transition: one eased sweep
        return Timeline(transitions * ease(easing, np.linspace(0.0, 1.0, frames)), fps)
    lengths = [moving // transitions] * transitions
    lengths[-1] += moving - sum(lengths)
    parts = [np.zeros(hold_start)]
    for k, length in enumerate(lengths):
        if k > 0:
            parts.append(np.full(hold_middle, float(k)))
        parts.append(k + ease(easing, np.linspace(0.0, 1.0, length)))
    parts.append(np.full(hold_end, float(transitions)))
    return Timeline(np.concatenate(parts), fps)
