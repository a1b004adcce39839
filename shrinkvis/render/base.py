"""The blitting loop every view shares.

The static parts (axes, labels, legend, contours) are drawn once and copied; each frame restores that
background, lets the view update its moving artists, draws only those, and reads the pixels straight
from the Agg buffer. A view whose static parts change a few times (the stages view's caption) keeps one
background per version. The layout is computed once and then frozen, so every frame and the SVG agree.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Hashable, Iterator
from typing import Any

import numpy as np

from .style import DPI, center_header, fit_axis_labels

SVG_HASH_SALT = "shrinkvis"  # fixed ids in the SVG: the same picture gives the same bytes
POSITION_DECIMALS = 10  # of the axes positions (figure fractions): far below a pixel


class BlitRenderer:
    """`frame(i)` returns frame i as an (H, W, 4) uint8 RGBA array (opaque); `svg()` the last frame as SVG bytes."""

    def __init__(self, story: Any) -> None:
        import matplotlib

        # a user's text (title, description, column names, group labels) is drawn as written: "From $5 to
        # $10" is not mathtext, and "$\\foo$" no error; `animation.math_text` opts in
        self._text_rc = {"text.parse_math": bool(getattr(story.look, "math_text", False))}
        try:
            with matplotlib.rc_context(self._text_rc):
                self._build(story)
        except ValueError as exc:
            if not self._text_rc["text.parse_math"]:
                raise
            from ..errors import ScenarioError

            reason = " ".join(line.strip() for line in str(exc).splitlines() if line.strip())
            raise ScenarioError(
                f"animation.math_text: a text is not valid mathtext ({reason}); write $ as \\$ or set "
                "animation.math_text: false"
            ) from None

    def _build(self, story: Any) -> None:
        import matplotlib
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        self.story = story
        look = story.look
        self._figure = Figure(
            figsize=(look.width / DPI, look.height / DPI),
            dpi=DPI,
            layout="constrained",
            facecolor=look.theme.background,
        )
        self._canvas = FigureCanvasAgg(self._figure)
        self._moving: list[Any] = []
        self._versioned: list[Any] = []  # static artists that differ between background versions
        self._unversioned: Any = None  # the background without them, drawn once
        self.draw_static(self._figure)
        layout = self._figure.get_layout_engine()
        assert layout is not None  # made with layout="constrained"
        # room for every text, measured once (a moving camera's views: see `before_layout`)
        self.before_layout()
        with warnings.catch_warnings():
            # on the smallest frames the text may not leave the axes room; they are drawn as well as fits
            warnings.filterwarnings("ignore", message="constrained_layout not applied")
            layout.execute(self._figure)
        for axes in self._figure.axes:
            # the layout's solver may differ in the last bit from one process to the next; the SVG names
            # its clip paths after the exact axes boxes, so the same picture must give the same numbers
            axes.set_position(np.round(axes.get_position().bounds, POSITION_DECIMALS))
        fit_axis_labels(self._figure)
        self.after_layout()
        # no engine at all rather than "none" (a placeholder engine): with any engine savefig lays the
        # figure out by drawing it once more before the SVG's own draw
        with matplotlib.rc_context({"figure.autolayout": False, "figure.constrained_layout.use": False}):
            self._figure.set_layout_engine(None)  # None only while these are off
        center_header(self._figure)
        self._backgrounds: dict[Hashable, Any] = {}
        self._last: np.ndarray | None = None  # the last frame drawn, and its (position, background)
        self._last_key: Hashable = None
        self.show_view(self.view_key(0))
        self._background(self.background_key(0))

    # --- what a view provides -----------------------------------------------------------------------
    def draw_static(self, figure: Any) -> None:
        """Build every artist; register the moving ones (in drawing order) with `moving`."""
        raise NotImplementedError

    def background_key(self, frame: int) -> Hashable:
        """Which version of the static parts frame `frame` shows; one version unless a view says otherwise."""
        return None

    def show_background(self, key: Hashable) -> None:
        """Set the `versioned` static artists to version `key` (e.g. the caption of a stage)."""

    def view_key(self, frame: int) -> Hashable:
        """Which part of the data the axes show at frame `frame` (the storyboard's camera); None unless a
        view's camera moves. A view whose camera moves draws everything in data coordinates, and its
        ticks, labels and gridlines (`moving_ticks`), as moving artists: the background has none."""
        return None

    def show_view(self, key: Hashable) -> None:
        """Set the axes (and the moving ticks) to the view `key` of `view_key`; None: nothing moves."""

    def before_layout(self) -> None:
        """Before the layout: e.g. make room for the tick labels of every view of a moving camera."""

    def after_layout(self) -> None:
        """Once the layout is frozen: e.g. hide the axes' own ticks where moving ones replace them."""

    def update(self, frame: int) -> None:
        """Set the moving artists to frame `frame`."""
        raise NotImplementedError

    def frame_key(self, frame: int) -> Hashable:
        """Frames with equal keys show the same picture: where the frame is on the timeline, its
        background and its view; a view with motion of its own beyond the timeline adds it."""
        return (float(self.story.timeline.position[frame]), self.background_key(frame), self.view_key(frame))

    # --- the loop -----------------------------------------------------------------------------------
    def moving(self, artist: Any) -> Any:
        artist.set_animated(True)
        # where it is at the start says nothing about the room it needs: the layout leaves it out
        artist.set_in_layout(False)
        self._moving.append(artist)
        return artist

    def versioned(self, artist: Any) -> Any:
        """A static artist that `show_background` changes: drawn on top of the rest of the background for
        each version, so the rest is drawn once. It must not overlap other static artists."""
        artist.set_animated(True)
        self._versioned.append(artist)
        return artist

    @property
    def figure(self) -> Any:
        """The matplotlib figure, laid out (for inspection; drawing goes through the renderer)."""
        return self._figure

    @property
    def size(self) -> tuple[int, int]:
        width, height = self._canvas.get_width_height()
        return width, height

    def _background(self, key: Hashable) -> Any:
        if key not in self._backgrounds:
            self.show_background(key)
            if not self._versioned:
                self._canvas.draw()  # moving artists are animated: only the static ones are drawn
            else:
                if self._unversioned is None:
                    self._canvas.draw()  # moving and versioned artists are animated: the others are drawn
                    self._unversioned = self._canvas.copy_from_bbox(self._figure.bbox)
                else:
                    self._canvas.restore_region(self._unversioned)
                renderer = self._canvas.get_renderer()
                for artist in self._versioned:
                    artist.draw(renderer)
            self._backgrounds[key] = self._canvas.copy_from_bbox(self._figure.bbox)
        return self._backgrounds[key]

    def frame(self, index: int) -> np.ndarray:
        # a frame at the same place on the timeline, with the same background, shows the same picture:
        # the pauses (about 40% of the frames) are handed out again instead of drawn again
        key = self.frame_key(index)
        if key == self._last_key and self._last is not None:
            return self._last.copy()
        import matplotlib

        with matplotlib.rc_context(self._text_rc):
            self._canvas.restore_region(self._background(self.background_key(index)))
            self.show_view(self.view_key(index))
            self.update(index)
            renderer = self._canvas.get_renderer()
            for artist in self._moving:
                artist.draw(renderer)
        # RGBA as Agg holds it, in one contiguous copy: slicing off alpha costs far more, and the
        # encoders and write_png take RGBA
        self._last = np.asarray(self._canvas.buffer_rgba()).copy()
        self._last_key = key
        return self._last

    def __iter__(self) -> Iterator[np.ndarray]:
        """Every frame in order; a held frame is the very array of the frame before (no copy needed:
        nobody writes into a frame)."""
        previous: np.ndarray | None = None
        previous_key: Hashable = None
        for index in range(self.story.n_frames):
            key = self.frame_key(index)
            if previous is None or key != previous_key:
                previous = self.frame(index)
                previous_key = key
            yield previous

    def svg(self) -> bytes:
        """The final state as SVG, byte for byte the same for the same storyboard."""
        import matplotlib

        last = self.story.n_frames - 1
        self.show_background(self.background_key(last))
        self.show_view(self.view_key(last))
        self.update(last)
        for artist in (*self._versioned, *self._moving):
            artist.set_animated(False)
        try:
            buffer = io.BytesIO()
            with matplotlib.rc_context({"svg.hashsalt": SVG_HASH_SALT, **self._text_rc}):
                self._figure.savefig(
                    buffer, format="svg", metadata={"Date": None}, facecolor=self.story.look.theme.background
                )
        finally:
            for artist in (*self._versioned, *self._moving):
                artist.set_animated(True)
        return buffer.getvalue()

    def close(self) -> None:
        self._figure.clear()


class StagedCameraRenderer(BlitRenderer):
    """A view whose story may caption its stages (`stage_captions`, a text `_stage` with one caption per
    stage in `_stage_texts`, made by `style.stage_title`) and may move a camera (`camera`): the caption
    shown is part of the background, the camera's view is the frame's view key."""

    _stage: Any
    _stage_texts: Any

    def background_key(self, frame: int) -> int:
        """The stage whose caption shows (0 when the view has no captions)."""
        return self.story.timeline.heading_state(frame) if self.story.stage_captions else 0

    def show_background(self, key: Hashable) -> None:
        if self.story.stage_captions:
            self._stage.set_text(self._stage_texts[int(key)])

    def view_key(self, frame: int) -> Hashable:
        """The camera's view at this frame (every panel's estimate axis), when it moves."""
        camera = self.story.camera
        return camera.view(frame) if camera is not None and camera.moves else None
