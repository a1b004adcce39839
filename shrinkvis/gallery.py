"""The gallery: one `index.html` at the root of an output folder, built from the files already on disk.

Every scenario folder that holds a `summary.json` gets a card: title and description, the animations
and stills it has, the key numbers of the fit, a visible warning for a singular or non-converged fit,
and a link to every file. The page uses relative links and inline CSS only, so it works opened from
disk, offline, or copied to any web server.
"""

from __future__ import annotations

import csv
import json
import math
import re
from dataclasses import dataclass, field
from html import escape
from pathlib import Path
from typing import Any
from urllib.parse import quote

from .errors import UserError
from .outputs import write_text

INDEX_NAME = "index.html"
SUMMARY_NAME = "summary.json"
ESTIMATES_NAME = "estimates.csv"
START_SUFFIX = "_start"  # `<view>_start.png` is the first frame of `<view>`, `<view>.png` the last
VIDEO_SUFFIXES = (".mp4",)
IMAGE_SUFFIXES = (".gif", ".png", ".svg")
MEDIA_SUFFIXES = VIDEO_SUFFIXES + IMAGE_SUFFIXES
# (column stem in estimates.csv, fixed-effect name)
COEFFICIENTS = (("intercept", "Intercept"), ("slope", "x"))

# What each view shows, for alt text; a view not listed here is described by its name.
VIEW_MOTION = {
    "shrinkage": "per-cluster intercepts and slopes moving from their own least-squares estimates "
    "(no pooling) toward the fixed effects (partial pooling)",
}
VIEW_START = {"shrinkage": "each cluster at its own least-squares estimate (no pooling)"}
VIEW_END = {"shrinkage": "each cluster at its mixed-model estimate (partial pooling)"}
# the rates views (issue 27) under "rates:<view>": a summary.json with a `family` is a rates scenario
from .rates.spec import RATE_VIEW_END, RATE_VIEW_MOTION, RATE_VIEW_START  # noqa: E402

VIEW_MOTION.update(RATE_VIEW_MOTION)
VIEW_START.update(RATE_VIEW_START)
VIEW_END.update(RATE_VIEW_END)


@dataclass(frozen=True)
class View:
    """The media files of one view of a scenario (any may be missing)."""

    name: str
    mp4: str | None = None
    gif: str | None = None
    start: str | None = None
    final: str | None = None
    others: tuple[str, ...] = ()  # e.g. an SVG: shown as a still


@dataclass(frozen=True)
class FitWarning:
    headline: str
    detail: str


@dataclass(frozen=True)
class Card:
    """Everything the page shows for one scenario folder."""

    folder: str
    title: str
    description: str
    summary: dict[str, Any]
    shrinkage: dict[str, float | None]
    views: tuple[View, ...]
    files: tuple[tuple[str, int], ...]  # (name, bytes), sorted by name
    warnings: tuple[FitWarning, ...] = field(default=())
    width: int | None = None
    height: int | None = None

    @property
    def anchor(self) -> str:
        return f"scenario-{self.folder}"


# ---------------------------------------------------------------------------------------------------------
# Reading the outputs


def scenario_folders(out_root: Path) -> list[Path]:
    """Sub-folders of the output root that hold a summary.json, by name."""
    return sorted(
        (path for path in out_root.iterdir() if path.is_dir() and (path / SUMMARY_NAME).is_file()),
        key=lambda path: path.name,
    )


def read_summary(folder: Path) -> tuple[dict[str, Any], str | None]:
    """The parsed summary.json, or an empty one and why it could not be read."""
    try:
        summary = json.loads((folder / SUMMARY_NAME).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        return {}, f"{SUMMARY_NAME} could not be read: {exc}"
    except RecursionError:  # nested deeper than Python's parser goes: no summary shrinkvis wrote
        return {}, f"{SUMMARY_NAME} could not be read: nested too deeply"
    if not isinstance(summary, dict):
        return {}, f"{SUMMARY_NAME} does not hold a JSON object"
    misshapen = _misshapen(summary)
    if misshapen:
        return {}, f"{SUMMARY_NAME} is not one shrinkvis wrote: {misshapen}"
    return summary, None


# The sections of summary.json the page reads, and what each must be; numbers and texts are checked as
# they are shown (a dash where a number is not one)
SUMMARY_SECTIONS: dict[tuple[str, ...], type] = {
    ("scenario",): dict,
    ("scenario", "animation"): dict,
    ("fixed_effects",): dict,
    ("std_errors",): dict,
    ("warnings",): list,
    ("files",): list,
}


def _misshapen(summary: dict[str, Any]) -> str | None:
    """The first section of a summary that is not what shrinkvis writes there, or None."""
    for path, kind in SUMMARY_SECTIONS.items():
        value: Any = summary
        for key in path:
            value = value.get(key) if isinstance(value, dict) else None
        if value is not None and not isinstance(value, kind):
            expected = "a mapping" if kind is dict else "a list"
            return f"{'.'.join(path)} holds {type(value).__name__} where {expected} belongs"
    return None


def listed_files(folder: Path) -> tuple[tuple[str, int], ...]:
    """The finished files of a folder (temporary `.name.part` files of a running write are left out)."""
    return tuple(
        (path.name, path.stat().st_size)
        for path in sorted(folder.iterdir(), key=lambda path: path.name)
        if path.is_file() and not path.name.startswith(".")
    )


def _number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def average_shrinkage(estimates_csv: Path, fixed_effects: dict[str, Any]) -> dict[str, float | None]:
    """Per coefficient, the share of the clusters' distance to the fixed effect that partial pooling removed.

    1 − mean |partial − fixed| / mean |no pooling − fixed| over the clusters whose own fit exists: 0 means
    no shrinkage, 1 means every cluster was pulled onto the fixed effect. A ratio of means rather than a
    mean of ratios, because a cluster whose own estimate happens to sit on the fixed effect would make its
    own ratio explode.
    """
    result: dict[str, float | None] = {stem: None for stem, _ in COEFFICIENTS}
    try:
        with estimates_csv.open(newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
    except (OSError, UnicodeDecodeError, csv.Error):
        return result
    for stem, name in COEFFICIENTS:
        fixed = _number(fixed_effects.get(name))
        if fixed is None:
            continue
        before, after = 0.0, 0.0
        for row in rows:
            no_pool = _number(row.get(f"no_pool_{stem}"))
            partial = _number(row.get(f"partial_{stem}"))
            if no_pool is None or partial is None:
                continue
            before += abs(no_pool - fixed)
            after += abs(partial - fixed)
        if before > 0:
            result[stem] = 1 - after / before
    return result


def fit_warnings(summary: dict[str, Any]) -> tuple[FitWarning, ...]:
    """A headline for a singular or non-converged fit (with the fit's own explanation), then the rest."""
    messages = [str(text) for text in summary.get("warnings") or []]

    def explained(keyword: str, fallback: str) -> str:
        for text in messages:
            if keyword in text.lower():
                messages.remove(text)
                # under the headline "Singular fit", "singular fit: …" would say it twice
                said = re.match(r"\s*(singular fit|the fit did not converge)\s*[:;,]\s*", text, re.IGNORECASE)
                text = text[said.end() :] if said else text
                return text[:1].upper() + text[1:]
        return fallback

    found = []
    if summary.get("converged") is False:
        found.append(
            FitWarning(
                "Did not converge",
                explained("converge", "the fit did not converge: do not trust the partial-pooling estimates"),
            )
        )
    if summary.get("is_singular") is True:
        found.append(
            FitWarning(
                "Singular fit",
                explained(
                    "singular",
                    "the model has more random-effect structure than the data support",
                ),
            )
        )
    found.extend(FitWarning("Warning", text) for text in messages)
    return tuple(found)


def primary_view(summary: dict[str, Any]) -> str:
    view = (summary.get("scenario") or {}).get("animation", {}).get("view", "shrinkage")
    if isinstance(view, list | tuple):
        view = view[0] if view else "shrinkage"
    return str(view)


def group_views(names: list[str], primary: str) -> tuple[View, ...]:
    """Media files grouped by view: `<view>.mp4`, `<view>.gif`, `<view>_start.png`, `<view>.png`, …"""
    media: dict[str, dict[str, Any]] = {}
    for name in names:
        path = Path(name)
        suffix = path.suffix.lower()
        if suffix not in MEDIA_SUFFIXES:
            continue
        stem = path.stem
        is_start = stem.endswith(START_SUFFIX) and suffix in IMAGE_SUFFIXES
        view = stem[: -len(START_SUFFIX)] if is_start else stem
        slot = media.setdefault(view, {"others": []})
        if is_start and "start" not in slot:
            slot["start"] = name
        elif suffix == ".mp4" and "mp4" not in slot:
            slot["mp4"] = name
        elif suffix == ".gif" and "gif" not in slot:
            slot["gif"] = name
        elif suffix == ".png" and not is_start and "final" not in slot:
            slot["final"] = name
        else:
            slot["others"].append(name)
    order = sorted(media, key=lambda view: (view != primary, view))
    return tuple(
        View(
            name=view,
            mp4=media[view].get("mp4"),
            gif=media[view].get("gif"),
            start=media[view].get("start"),
            final=media[view].get("final"),
            others=tuple(media[view]["others"]),
        )
        for view in order
    )


def read_card(folder: Path) -> Card:
    """One scenario folder → the card that shows it."""
    summary, problem = read_summary(folder)
    scenario = summary.get("scenario") or {}
    animation = scenario.get("animation") or {}
    files = listed_files(folder)
    warnings = fit_warnings(summary)
    if problem:
        warnings = (FitWarning("Incomplete outputs", problem), *warnings)
    return Card(
        folder=folder.name,
        title=str(scenario.get("title") or scenario.get("name") or folder.name),
        description=str(scenario.get("description") or ""),
        summary=summary,
        shrinkage=average_shrinkage(folder / ESTIMATES_NAME, summary.get("fixed_effects") or {}),
        views=group_views([name for name, _ in files], primary_view(summary)),
        files=files,
        warnings=warnings,
        width=animation.get("width") if isinstance(animation.get("width"), int) else None,
        height=animation.get("height") if isinstance(animation.get("height"), int) else None,
    )


# ---------------------------------------------------------------------------------------------------------
# Writing the page


def fmt(value: Any) -> str:
    """Three significant digits, a typographic minus; a dash where there is no number."""
    number = _number(value)
    if number is None:
        return "—"
    text = f"{number:#.3g}"
    if "e" not in text:
        text = text.rstrip(".")
    return text.replace("-", "−")


def fmt_count(value: Any) -> str:
    """A whole number with thin spaces between thousands: 10 000."""
    number = _number(value)
    if number is None:
        return "—"
    return f"{round(number):,}".replace(",", "\u202f")


def fmt_share(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.0f}\u00a0%".replace("-", "−")


def fmt_bytes(size: int) -> str:
    for unit, scale in (("MB", 1_000_000), ("kB", 1_000)):
        if size >= scale:
            return f"{size / scale:.1f} {unit}" if size < 10 * scale else f"{size / scale:.0f} {unit}"
    return f"{size} B"


def href(folder: str, name: str) -> str:
    """A relative link to a file in a scenario folder, safe in an attribute."""
    return escape(f"{quote(folder)}/{quote(name)}", quote=True)


def fit_status(card: Card) -> str:
    if not card.summary:
        return '<span class="flag">⚠ no summary</span>'
    flags = [warning.headline for warning in card.warnings]
    if not flags:
        return '<span class="ok">✓ converged</span>'
    return " ".join(f'<span class="flag">⚠ {escape(flag)}</span>' for flag in flags)


def slope_shrinkage(card: Card) -> str:
    if card.summary.get("random") == "intercept":
        return '<abbr title="no random slope: every cluster shares the fixed slope">fixed</abbr>'
    return fmt_share(card.shrinkage.get("slope"))


def truth_error(card: Card, coefficient: str) -> str:
    """RMSE against the truth from no to partial pooling ("0.384 → 0.313"), flagged where partial pooling
    is further from the truth for a size group; a dash where there is no truth (your own data)."""
    truth = card.summary.get("truth")
    if not isinstance(truth, dict) or not truth.get("known"):
        return '<abbr title="no truth: your own data">—</abbr>'
    rmse = (truth.get("overall") or {}).get("rmse") or {}
    own = (rmse.get("no_pooling") or {}).get(coefficient)
    pooled = (rmse.get("partial_pooling") or {}).get(coefficient)
    if _number(own) is None or _number(pooled) is None:
        return "—"
    text = f"{fmt(own)}&nbsp;→&nbsp;{fmt(pooled)}"
    losing = [
        str(item.get("group"))
        for item in truth.get("partial_pooling_loses") or []
        if isinstance(item, dict) and item.get("coefficient") == coefficient
    ]
    if losing:
        groups = ", ".join(escape(group) for group in losing)
        text += f' <span class="flag" title="partial pooling further from the truth for the {groups} clusters">⚠ {groups}</span>'
    return text


def comparison_table(cards: list[Card]) -> str:
    """All scenarios' key numbers side by side; each name links to its card."""
    rows = []
    for card in cards:
        summary = card.summary
        fixed = summary.get("fixed_effects") or {}
        cells = [
            fmt_count(summary.get("n_groups")),
            fmt_count(summary.get("n_obs")),
            fmt(fixed.get("Intercept")),
            fmt(fixed.get("x")),
            fmt(summary.get("sd_intercept")),
            fmt(summary.get("sd_slope")),
            fmt(summary.get("residual_sd")),
            fmt_share(card.shrinkage.get("intercept")),
            slope_shrinkage(card),
            truth_error(card, "intercept"),
            truth_error(card, "slope"),
        ]
        rows.append(
            f'<tr><th scope="row"><a href="#{escape(card.anchor, quote=True)}">{escape(card.title)}</a></th>'
            + "".join(f'<td class="num">{cell}</td>' for cell in cells)
            + f"<td>{fit_status(card)}</td></tr>"
        )
    return f"""<div class="table-wrap" tabindex="0" role="region" aria-labelledby="compare-caption">
<table>
<caption id="compare-caption">Key numbers of each fit</caption>
<thead>
<tr><th scope="col" rowspan="2">Scenario</th><th scope="col" rowspan="2" class="num">Clusters</th><th scope="col" rowspan="2" class="num">Rows</th><th scope="colgroup" colspan="2">Fixed effects</th><th scope="colgroup" colspan="2">Random-effect SD</th><th scope="col" rowspan="2" class="num">Residual SD</th><th scope="colgroup" colspan="2">Shrinkage</th><th scope="colgroup" colspan="2">Error against the truth (RMSE)</th><th scope="col" rowspan="2">Fit</th></tr>
<tr><th scope="col" class="num">intercept</th><th scope="col" class="num">slope</th><th scope="col" class="num">intercept</th><th scope="col" class="num">slope</th><th scope="col" class="num">intercept</th><th scope="col" class="num">slope</th><th scope="col" class="num">intercept</th><th scope="col" class="num">slope</th></tr>
</thead>
<tbody>
{chr(10).join(rows)}
</tbody>
</table>
</div>
<p class="note">Shrinkage: the share of the clusters' distance to the fixed effect that partial pooling
removed (0&nbsp;% none, 100&nbsp;% all clusters on the fixed effect). Error against the truth (simulated
data only): root mean squared error of the per-cluster estimates, no pooling → partial pooling; ⚠ names
the cluster sizes for which partial pooling is further from the truth than the clusters' own fits.</p>"""


def size_attributes(card: Card) -> str:
    """Width and height for the primary view's media, so the layout does not jump while they load."""
    if card.width and card.height:
        return f' width="{card.width}" height="{card.height}"'
    return ""


def view_media(card: Card, view: View, primary: bool) -> str:
    """The animation (MP4 as a looping video, else the GIF) and a strip of the GIF and the stills."""
    title = escape(card.title, quote=True)
    key = f"rates:{view.name}" if "family" in card.summary else view.name
    motion = escape(VIEW_MOTION.get(key, f"the {view.name} view"), quote=True)
    sizes = size_attributes(card) if primary else ""
    parts = []
    if view.mp4:
        parts.append(
            f'<video src="{href(card.folder, view.mp4)}"{sizes} autoplay muted loop playsinline controls '
            f'preload="auto" aria-label="{title}: {motion}">'
            f'<a href="{href(card.folder, view.mp4)}">{escape(view.mp4)}</a></video>'
        )
    elif view.gif:
        parts.append(
            f'<a href="{href(card.folder, view.gif)}"><img src="{href(card.folder, view.gif)}"{sizes} '
            f'alt="{title}: {motion}"></a>'
        )
    elif view.final:
        end = escape(VIEW_END.get(key, f"the {view.name} view"), quote=True)
        parts.append(
            f'<a href="{href(card.folder, view.final)}"><img src="{href(card.folder, view.final)}"{sizes} '
            f'alt="{title}: {end}"></a>'
        )
    stills = []
    if view.start:
        start = VIEW_START.get(key, f"first frame of the {view.name} view")
        stills.append((view.start, f"{card.title}, first frame: {start}", "Start"))
    if view.final and (view.mp4 or view.gif):
        end = VIEW_END.get(key, f"last frame of the {view.name} view")
        stills.append((view.final, f"{card.title}, last frame: {end}", "End"))
    if view.gif and view.mp4:
        stills.append((view.gif, f"{card.title}: {VIEW_MOTION.get(key, view.name)} (GIF)", "GIF"))
    for name in view.others:
        stills.append((name, f"{card.title}: {view.name} ({Path(name).suffix.lstrip('.').upper()})", name))
    strip = "".join(
        f'<figure><a href="{href(card.folder, name)}"><img src="{href(card.folder, name)}"{sizes} '
        f'alt="{escape(alt, quote=True)}"></a><figcaption>{escape(caption)}</figcaption></figure>'
        for name, alt, caption in stills
    )
    heading = "" if primary else f"<h3>{escape(view.name)}</h3>"
    main = f'<div class="animation">{parts[0]}</div>' if parts else ""
    return f'<section class="view">{heading}{main}<div class="stills">{strip}</div></section>'


def numbers(card: Card) -> str:
    """The fit's key numbers as a description list."""
    summary = card.summary
    if not summary:
        return ""
    if "family" in summary:  # a rates or known-SE fit (issue 27): its own numbers
        from .rates.spec import gallery_rows

        items = "".join(
            f"<div><dt>{escape(label)}</dt><dd>{escape(value)}</dd></div>"
            for label, value in gallery_rows(summary)
        )
        return f'<dl class="numbers">{items}</dl>'
    fixed = summary.get("fixed_effects") or {}
    errors = summary.get("std_errors") or {}
    fixed_text = "; ".join(
        f'{label} {fmt(fixed.get(name))} <span class="se">(SE&nbsp;{fmt(errors.get(name))})</span>'
        for label, name in (("intercept", "Intercept"), ("slope", "x"))
        if name in fixed
    )
    random_parts = [f"intercept {fmt(summary.get('sd_intercept'))}"]
    if summary.get("sd_slope") is not None:
        random_parts.append(f"slope {fmt(summary.get('sd_slope'))}")
    if summary.get("corr") is not None:
        random_parts.append(f"correlation {fmt(summary.get('corr'))}")
    shrink_parts = [f"intercept {fmt_share(card.shrinkage.get('intercept'))}"]
    shrink_parts.append(f"slope {slope_shrinkage(card)}")
    model = " · ".join(
        escape(str(summary[key])) for key in ("random", "method", "engine") if summary.get(key) is not None
    )
    known = isinstance(summary.get("truth"), dict) and summary["truth"].get("known")
    truth_text = (
        f"intercept {truth_error(card, 'intercept')}, slope {truth_error(card, 'slope')} (no → partial pooling)"
        if known
        else "no truth: your own data"
    )
    rows = [
        ("Data", f"{fmt_count(summary.get('n_groups'))} clusters, {fmt_count(summary.get('n_obs'))} rows"),
        ("Fixed effects", fixed_text or "—"),
        ("Random-effect SDs", ", ".join(random_parts)),
        ("Residual SD", fmt(summary.get("residual_sd"))),
        ("Average shrinkage", ", ".join(shrink_parts)),
        ("Error against the truth", truth_text),
        ("Model", f"random {model}" if model else "—"),
    ]
    items = "".join(f"<div><dt>{label}</dt><dd>{value}</dd></div>" for label, value in rows)
    return f'<dl class="numbers">{items}</dl>'


def warning_box(card: Card) -> str:
    if not card.warnings:
        return ""
    items = "".join(
        f"<li><strong>⚠ {escape(warning.headline)}:</strong> {escape(warning.detail)}</li>"
        for warning in card.warnings
    )
    return f'<div class="warning" role="note" aria-label="Warnings"><ul>{items}</ul></div>'


def file_links(card: Card) -> str:
    items = "".join(
        f'<li><a href="{href(card.folder, name)}">{escape(name)}</a> <span class="size">{fmt_bytes(size)}</span></li>'
        for name, size in card.files
    )
    return f'<section class="files" aria-label="Files of {escape(card.title, quote=True)}"><h3>Files</h3><ul>{items}</ul></section>'


def card_html(card: Card) -> str:
    heading_id = escape(f"{card.anchor}-title", quote=True)
    description = f'<p class="description">{escape(card.description)}</p>' if card.description else ""
    views = "".join(view_media(card, view, index == 0) for index, view in enumerate(card.views))
    return (
        f'<article class="card" id="{escape(card.anchor, quote=True)}" aria-labelledby="{heading_id}">'
        f'<h2 id="{heading_id}">{escape(card.title)} <span class="folder">{escape(card.folder)}/</span></h2>'
        f"{description}{warning_box(card)}{views}{numbers(card)}{file_links(card)}</article>"
    )


STYLE = """
:root { color-scheme: light dark; --bg: #f5f6f8; --card: #ffffff; --text: #1b1f24; --muted: #59636e;
  --line: #d5dae0; --link: #0a58ca; --focus: #0a58ca; --warn-bg: #fff3e0; --warn-line: #b45309;
  --warn-text: #6b2f00; --ok: #1a7f37; --row: #f0f2f5; }
@media (prefers-color-scheme: dark) {
  :root { --bg: #0e1014; --card: #181b21; --text: #e7e9ec; --muted: #a3acb7; --line: #313842;
    --link: #8fb8ff; --focus: #8fb8ff; --warn-bg: #3b2a12; --warn-line: #f0a040; --warn-text: #ffe2b8;
    --ok: #5fd27d; --row: #1f232a; }
}
* { box-sizing: border-box; }
html { font-size: 100%; }
body { margin: 0; background: var(--bg); color: var(--text); line-height: 1.5;
  font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
a { color: var(--link); }
a:focus-visible, video:focus-visible, .table-wrap:focus-visible {
  outline: 3px solid var(--focus); outline-offset: 2px; border-radius: 3px; }
.skip { position: absolute; left: -999px; top: 0; background: var(--card); padding: .5rem 1rem; z-index: 1; }
.skip:focus { left: 1rem; top: 1rem; }
header, main, footer { max-width: 84rem; margin: 0 auto; padding: 0 1.25rem; }
header { padding-top: 1.5rem; }
h1 { font-size: 1.6rem; margin: 0 0 .25rem; }
header p { margin: 0 0 1rem; color: var(--muted); }
.table-wrap { overflow-x: auto; background: var(--card); border: 1px solid var(--line); border-radius: 8px; }
.note { color: var(--muted); font-size: .85rem; margin: .4rem 0 1.5rem; }
table { border-collapse: collapse; width: 100%; font-size: .9rem; }
caption { text-align: left; padding: .6rem .8rem; color: var(--muted); font-size: .85rem; }
th, td { padding: .35rem .7rem; border-top: 1px solid var(--line); text-align: left; white-space: nowrap; }
thead th { font-weight: 600; color: var(--muted); font-size: .8rem; }
thead th[scope="colgroup"] { text-align: center; border-bottom: 1px solid var(--line); }
tbody tr:nth-child(odd) { background: var(--row); }
.num { text-align: right; font-variant-numeric: tabular-nums; }
.ok { color: var(--ok); }
.flag { color: var(--warn-text); background: var(--warn-bg); border: 1px solid var(--warn-line);
  border-radius: 4px; padding: 0 .35rem; font-size: .8rem; }
.cards { display: grid; gap: 1.5rem; grid-template-columns: repeat(auto-fill, minmax(min(100%, 34rem), 1fr));
  margin-bottom: 2rem; }
.card { background: var(--card); border: 1px solid var(--line); border-radius: 10px; padding: 1rem 1.1rem;
  min-width: 0; }
.card h2 { font-size: 1.25rem; margin: 0; }
.folder { font-size: .8rem; font-weight: 400; color: var(--muted); font-family: ui-monospace, monospace; }
/* two lines reserved, so the animations of neighbouring cards start at the same height */
.description { margin: .2rem 0 .8rem; color: var(--muted); min-height: 3em; }
.warning { background: var(--warn-bg); color: var(--warn-text); border-left: 4px solid var(--warn-line);
  border-radius: 4px; padding: .5rem .8rem; margin: 0 0 .8rem; }
.warning ul { margin: 0; padding: 0; list-style: none; }
.view h3 { font-size: 1rem; margin: .8rem 0 .4rem; }
.animation video, .animation img { display: block; width: 100%; height: auto; border-radius: 6px;
  background: #fff; border: 1px solid var(--line); }
.stills { display: grid; grid-template-columns: repeat(3, minmax(0, 1fr)); gap: .6rem; margin: .6rem 0 0; }
.stills figure { margin: 0; }
.stills img { display: block; width: 100%; height: auto; border-radius: 4px; background: #fff;
  border: 1px solid var(--line); }
.stills figcaption { font-size: .8rem; color: var(--muted); text-align: center; }
.numbers { display: grid; grid-template-columns: max-content 1fr; gap: .15rem 1rem; margin: 1rem 0 0;
  font-size: .9rem; }
.numbers div { display: contents; }
.numbers dt { color: var(--muted); }
.numbers dd { margin: 0; font-variant-numeric: tabular-nums; }
.se { color: var(--muted); }
.files h3 { font-size: .9rem; margin: .9rem 0 .2rem; color: var(--muted); font-weight: 600; }
.files ul { margin: 0; padding: 0; list-style: none; display: flex; flex-wrap: wrap; gap: .2rem 1.2rem;
  font-size: .9rem; }
.size { color: var(--muted); font-size: .8rem; }
footer { color: var(--muted); font-size: .85rem; padding-bottom: 2rem; }
"""

# Autoplaying videos keep moving; people who asked their system for less motion get them paused.
REDUCED_MOTION_SCRIPT = (
    'if (matchMedia("(prefers-reduced-motion: reduce)").matches) '
    'document.querySelectorAll("video").forEach(function (v) { v.removeAttribute("autoplay"); v.pause(); });'
)


def page(cards: list[Card], name: str) -> str:
    """The whole page as one self-contained HTML document."""
    count = f"{len(cards)} scenario{'s' if len(cards) != 1 else ''}"
    title = f"shrinkvis gallery: {name}" if name else "shrinkvis gallery"
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(title)}</title>
<style>{STYLE}</style>
</head>
<body>
<a class="skip" href="#scenarios">Skip to the scenarios</a>
<header>
<h1>{escape(title)}</h1>
<p>{count}. Each cluster starts at its own estimate (no pooling) and moves toward the fixed effects
(partial pooling). Click a name to jump to its animation.</p>
</header>
<main>
{comparison_table(cards)}
<div class="cards" id="scenarios" tabindex="-1">
{chr(10).join(card_html(card) for card in cards)}
</div>
</main>
<footer><p>Made by shrinkvis from the files in this folder; <code>shrinkvis gallery FOLDER</code> rebuilds this page.</p></footer>
<script>{REDUCED_MOTION_SCRIPT}</script>
</body>
</html>
"""


def build(out_root: Path | str) -> str:
    """The gallery page for the scenario folders under `out_root`."""
    root = Path(out_root)
    if not root.is_dir():
        what = "is a file, not a folder" if root.exists() else "no such folder"
        raise UserError(f"{root}: {what}; give the folder a batch wrote into (its --out)")
    folders = scenario_folders(root)
    if not folders:
        raise UserError(f"{root}: no scenario outputs (no */{SUMMARY_NAME}); run `shrinkvis batch` first")
    return page([_card_or_problem(folder) for folder in folders], root.resolve().name)


def _card_or_problem(folder: Path) -> Card:
    """The card of a folder; one whose files cannot be shown says so, and the others are still shown."""
    try:
        card = read_card(folder)
        card_html(card)  # drawn here first, so that a value nobody foresaw costs this card only
        comparison_table([card])
        return card
    except (TypeError, ValueError, AttributeError, KeyError, OverflowError, RecursionError) as exc:
        problem = f"{SUMMARY_NAME} could not be shown: {type(exc).__name__}: {str(exc)[:200]}"
        return Card(
            folder=folder.name,
            title=folder.name,
            description="",
            summary={},
            shrinkage={stem: None for stem, _ in COEFFICIENTS},
            views=(),
            files=listed_files(folder),
            warnings=(FitWarning("Incomplete outputs", problem),),
        )


def write(out_root: Path | str) -> Path:
    """Write `index.html` at the root of `out_root` (atomically) and return its path."""
    target = Path(out_root) / INDEX_NAME
    write_text(target, build(out_root))
    return target
