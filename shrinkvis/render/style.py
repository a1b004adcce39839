"""Drawing helpers every view shares: themed axes, the header rows and the legend."""

from __future__ import annotations

import textwrap
from typing import Any

import numpy as np

from ..story.common import Header, LegendEntry
from ..story.presets import DPI, POINTS_PER_INCH, Look

CHAR_WIDTH = 0.5  # average glyph width of DejaVu Sans in running text, in font sizes
MIN_LINE_CHARS = 20
TEXT_SHARE = 0.94  # of the figure's width a caption may take
HEADER_LABEL = "header"  # marks the axes that only carry a header text
HEADER_HEIGHT = 0.001  # height ratio of the text-only header rows: their titles take the space
LEGEND_HANDLE_WIDTH = 3.0  # handle, its padding and the column spacing, in font sizes
LEGEND_SHARE = 0.97  # of the figure's width the legend may take
GRID_WIDTH = 0.8


def fit_width(artist: Any, text: str, width_px: float, font_size: float) -> None:
    """Wrap a text artist's text, narrower until the drawn text is no wider than `width_px`."""
    renderer = artist.figure.canvas.get_renderer()
    font_px = font_size * DPI / POINTS_PER_INCH
    characters = max(int(width_px / (font_px * CHAR_WIDTH)), MIN_LINE_CHARS)
    while True:
        artist.set_text(textwrap.fill(text, characters))
        if characters <= MIN_LINE_CHARS or artist.get_window_extent(renderer).width <= width_px:
            break
        characters -= 2
    # as many lines, but even: no last line of one word
    lines = textwrap.wrap(text, characters)
    even = -(-len(text) // len(lines))
    while even < characters and len(textwrap.wrap(text, even)) > len(lines):
        even += 1
    artist.set_text(textwrap.fill(text, min(even, characters)))


MIN_LABEL_SIZE = 6.0  # pt: an axis label is made smaller down to this to stay beside its axes
LABEL_SHRINK = 0.9


def fit_axis_labels(figure: Any) -> None:
    """Every axis label no longer than its axes: a y label taller than a short panel would run into the
    title or the panel above, so its type is made smaller (after the layout, which sizes the panels)."""
    renderer = figure.canvas.get_renderer()
    for axes in figure.axes:
        if not axes.axison:
            continue
        for label, along in ((axes.yaxis.label, "height"), (axes.xaxis.label, "width")):
            if not label.get_text() or not label.get_visible() or label.get_wrap():
                continue  # (a wrapped label wraps within the figure when drawn)
            room = getattr(axes.bbox, along)
            while (
                getattr(label.get_window_extent(renderer), along) > room
                and label.get_fontsize() > MIN_LABEL_SIZE
            ):
                label.set_fontsize(max(label.get_fontsize() * LABEL_SHRINK, MIN_LABEL_SIZE))


def style_axes(axes: Any, look: Look, grid: bool = True) -> None:
    theme = look.theme
    axes.set_facecolor(theme.background)
    axes.tick_params(labelsize=look.tick_size, colors=theme.spine, labelcolor=theme.muted_text)
    axes.xaxis.label.set_color(theme.text)
    axes.yaxis.label.set_color(theme.text)
    axes.xaxis.label.set_fontsize(look.label_size)
    axes.yaxis.label.set_fontsize(look.label_size)
    for side in ("top", "right"):
        axes.spines[side].set_visible(False)
    for side in ("bottom", "left"):
        axes.spines[side].set_color(theme.spine)
    if grid:
        axes.grid(color=theme.grid, linewidth=GRID_WIDTH * look.scale)
        axes.set_axisbelow(True)


def header_rows(header: Header) -> list[tuple[str, str]]:
    """The text rows under the title: the caption and a warning, as (kind, text)."""
    rows = []
    if header.caption:
        rows.append(("caption", header.caption))
    if header.warning:
        rows.append(("warning", "⚠ " + header.warning))
    return rows


def draw_header(figure: Any, header: Header, look: Look, row_axes: list[Any]) -> None:
    """Title on top; caption and warning as titles of near-zero-height axes, so the layout makes room."""
    theme = look.theme
    figure.suptitle(header.title, fontsize=look.title_size, fontweight="bold", color=theme.text)
    for axes, (kind, text) in zip(row_axes, header_rows(header), strict=True):
        axes.set_axis_off()
        axes.set_label(HEADER_LABEL)
        color = theme.warning if kind == "warning" else theme.muted_text
        title = axes.set_title(text, fontsize=look.caption_size, color=color, pad=0)
        fit_width(title, text, look.width * TEXT_SHARE, look.caption_size)


def legend_handles(entries: tuple[LegendEntry, ...], look: Look) -> list[Any]:
    """A handle per entry; a size key is a tuple of markers, drawn side by side."""
    from matplotlib.lines import Line2D

    def marker(entry: LegendEntry, area: float) -> Any:
        return Line2D(
            [],
            [],
            linestyle=entry.line or "",  # type: ignore[arg-type]  # one of matplotlib's codes
            linewidth=look.line_width,
            marker=entry.marker or None,
            markersize=float(np.sqrt(area)) if area else 0.0,
            color=entry.color,
            alpha=entry.alpha,
            markerfacecolor="none" if entry.hollow else entry.color,
            markeredgecolor=entry.color
            if entry.hollow
            else (look.theme.background if entry.marker else None),
            markeredgewidth=1.5 * look.scale if entry.hollow else 0.5,
            label=entry.label,
        )

    return [
        tuple(marker(entry, area) for area in entry.areas) if entry.areas else marker(entry, entry.area)
        for entry in entries
    ]


def _columns_guess(entries: tuple[LegendEntry, ...], look: Look) -> int:
    """A generous first guess of how many legend columns fit, from the lengths of the labels."""
    available = look.width * POINTS_PER_INCH / DPI
    widths = [
        (len(entry.label) * CHAR_WIDTH + LEGEND_HANDLE_WIDTH * max(len(entry.areas), 1)) * look.legend_size
        for entry in entries
    ]
    return max(1, min(len(entries), int(available // np.mean(widths)) + 1))


def _handle_length(entries: tuple[LegendEntry, ...]) -> float:
    """Room for the widest handle: a size key's markers need more than a line."""
    return max([2.0, *(1.25 * len(entry.areas) for entry in entries)])


LEGEND_TEXT_PAD = 0.4  # between a legend handle and its label, in font sizes
LEGEND_COLUMN_SPACING = 1.2  # between legend columns, in font sizes
LEGEND_FLOOR_SHARE = 0.95  # of its floor a legend is surely wider than: measured texts round a little


def legend_floor(label_widths: list[float], columns: int, handle_length: float, font_px: float) -> float:
    """A width the legend with `columns` columns surely exceeds (px): handles, labels and the spaces between
    them, columns filled as matplotlib fills them, without the legend's outer padding."""
    split = np.array_split(np.asarray(label_widths), columns)
    widest = sum(float(column.max()) for column in split if len(column))
    used = sum(1 for column in split if len(column))
    spaces = used * (handle_length + LEGEND_TEXT_PAD) + (used - 1) * LEGEND_COLUMN_SPACING
    return LEGEND_FLOOR_SHARE * (widest + spaces * font_px)


def text_widths(figure: Any, texts: list[str], font_size: float) -> list[float]:
    """Each text's drawn width in pixels, in the figure's default font at `font_size`."""
    from matplotlib.font_manager import FontProperties
    from matplotlib.text import Text

    renderer = figure.canvas.get_renderer()
    font = FontProperties(size=font_size)
    widths = []
    for text in texts:
        artist = Text(0, 0, text, fontproperties=font)
        artist.set_figure(figure)
        widths.append(artist.get_window_extent(renderer).width)
    return widths


def make_legend(figure: Any, entries: tuple[LegendEntry, ...], look: Look, columns: int) -> Any:
    """The figure's legend below the plot, in `columns` columns."""
    from matplotlib.legend_handler import HandlerTuple

    return figure.legend(
        handles=legend_handles(entries, look),
        labels=[entry.label for entry in entries],
        handler_map={tuple: HandlerTuple(ndivide=None, pad=0.4)},
        handlelength=_handle_length(entries),
        loc="outside lower center",
        ncols=columns,
        fontsize=look.legend_size,
        labelcolor=look.theme.text,
        frameon=False,
        handletextpad=LEGEND_TEXT_PAD,
        columnspacing=LEGEND_COLUMN_SPACING,
    )


def draw_legend(figure: Any, entries: tuple[LegendEntry, ...], look: Look) -> None:
    """Below the plot, in as few rows as fit the figure's width (measured, not guessed)."""
    renderer = figure.canvas.get_renderer()
    available = LEGEND_SHARE * figure.bbox.width
    # the labels measured alone (the legend's own texts find these measures again): a legend surely too
    # wide is skipped without building and measuring it
    label_widths = text_widths(figure, [entry.label for entry in entries], look.legend_size)
    font_px = look.legend_size * DPI / POINTS_PER_INCH
    tried = set()
    for columns in range(_columns_guess(entries, look), 0, -1):
        rows = -(-len(entries) // columns)
        balanced = -(-len(entries) // rows)  # the same rows with balanced columns
        if balanced in tried or (
            balanced > 1
            and legend_floor(label_widths, balanced, _handle_length(entries), font_px) > available
        ):
            continue
        tried.add(balanced)
        legend = make_legend(figure, entries, look, balanced)
        if balanced == 1 or legend.get_window_extent(renderer).width <= available:
            return
        legend.remove()


def grid_with_header(
    figure: Any, header: Header, look: Look, rows: int, columns: int, stage_row: bool = False
) -> tuple[Any, int]:
    """A grid whose first rows hold the header texts (and, with `stage_row`, an empty text row across
    every panel for a stage caption: `stage_axes`); returns it and the index of the first panel row."""
    extra = len(header_rows(header))
    text_rows = extra + int(stage_row)
    grid = figure.add_gridspec(
        text_rows + rows, columns, height_ratios=[HEADER_HEIGHT] * text_rows + [1] * rows
    )
    draw_header(figure, header, look, [figure.add_subplot(grid[i, :]) for i in range(extra)])
    if stage_row:
        axes = figure.add_subplot(grid[extra, :])
        axes.set_axis_off()
        axes.set_label(STAGE_LABEL)
    return grid, text_rows


STAGE_LABEL = "stage"  # marks the axes across the panels that only carry a stage caption


def stage_axes(figure: Any) -> Any:
    """The text row `grid_with_header(stage_row=True)` made."""
    return next(axes for axes in figure.axes if axes.get_label() == STAGE_LABEL)


_EDGE_PATHS: dict[str, Any] = {}


def edge_paths(sides: np.ndarray) -> list[Any]:
    """Triangle marker paths pointing out of the view, one per edge mark."""
    if not _EDGE_PATHS:
        from matplotlib.markers import MarkerStyle

        for side in ("<", ">", "v", "^"):
            style = MarkerStyle(side)
            _EDGE_PATHS[side] = style.get_path().transformed(style.get_transform())
    return [_EDGE_PATHS[side] for side in sides]


def center_header(figure: Any) -> None:
    """Centre the header texts on the figure, like the title, rather than on the plotting area."""
    for axes in figure.axes:
        if axes.get_label() == HEADER_LABEL:
            box = axes.get_position()
            axes.title.set_x((0.5 - box.x0) / box.width)


def broken_line(segments: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(S, 2, 2) segments as one line's x and y, broken by NaN: one path to draw instead of S."""
    segments = np.asarray(segments, dtype=float).reshape(-1, 2, 2)
    gaps = np.full((len(segments), 1, 2), np.nan)
    points = np.concatenate([segments, gaps], axis=1).reshape(-1, 2)
    return points[:, 0], points[:, 1]


def round_marker() -> Any:
    """A 32-sided polygon: at marker sizes it looks like a circle, but Agg fills it without flattening
    Bézier curves, and matplotlib measures its extent without the slow curve maths of the "o" marker."""
    from matplotlib.markers import MarkerStyle
    from matplotlib.path import Path

    return MarkerStyle(Path.unit_regular_polygon(32))


def mark_path(marker: str) -> Any:
    """The path of a still mark: the round polygon for "o", matplotlib's own marker otherwise."""
    from matplotlib.markers import MarkerStyle

    style = round_marker() if marker == "o" else MarkerStyle(marker)
    return style.get_path().transformed(style.get_transform())


def shared_or_each(values: Any) -> np.ndarray:
    """The first row alone when every row is equal (one size, one colour), else every row: with one size
    and one colour matplotlib stamps a single rasterised marker instead of filling each point's path."""
    values = np.asarray(values)
    if len(values) > 1 and np.all(values == values[:1]):
        return values[:1]
    return values


STAGE_CAPTION_PAD = 6.0  # points between the axes and the stage caption
STAGE_CAPTION_SHARE = 0.82  # of the figure's width: centred on the axes, which the y label pushes right


def stage_title(renderer: Any, axes: Any, captions: tuple[str, ...], look: Look, loc: str = "center") -> Any:
    """The stage caption over `axes`, one version per stage (a `versioned` artist of the renderer):
    (the title, each stage's text fitted to the width)."""
    title = axes.set_title(
        "",
        fontsize=look.stage_size,
        fontweight="bold",
        color=look.theme.text,
        pad=STAGE_CAPTION_PAD * look.scale,
        loc=loc,
    )
    texts = []
    for caption in captions:
        fit_width(title, caption, look.width * STAGE_CAPTION_SHARE, look.stage_size)
        texts.append(title.get_text())
    # the tallest caption takes its room in the layout; each caption then gets its own background
    title.set_text(max(texts, key=lambda text: (text.count("\n"), len(text))))
    renderer.versioned(title)
    return title, texts
