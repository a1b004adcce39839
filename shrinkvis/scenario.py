"""Scenarios: the validated, immutable description of one animation.

The `Scenario` model is the single source of truth for every default and every allowed range. YAML files,
`--set key=value` overrides and the JSON Schema all go through it.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .errors import ScenarioError

Format = Literal["gif", "mp4", "png", "svg"]
ALL_FORMATS: tuple[Format, ...] = ("gif", "mp4", "png", "svg")

View = Literal["shrinkage", "stages", "lines", "funnel"]
Preset = Literal["small", "slide", "square"]
# Pixel sizes of the presets; the renderer scales fonts and markers with the preset too.
PRESET_SIZES: dict[str, tuple[int, int]] = {"small": (600, 450), "slide": (1280, 720), "square": (800, 800)}
# gganimate's easing names (shrinkvis.story.easing implements them).
Easing = Literal[
    "linear",
    "quadratic-in",
    "quadratic-out",
    "quadratic-in-out",
    "cubic-in",
    "cubic-out",
    "cubic-in-out",
    "sine-in",
    "sine-out",
    "sine-in-out",
]


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DataSpec(_Spec):
    """Simulation parameters, mirroring R's `create_data` (with `cor` a correlation, not a covariance)."""

    obs_per_cluster: int = Field(10, ge=1, description="Rows per cluster before `balanced` drops some.")
    n_cluster: int = Field(100, ge=3, description="Number of clusters.")
    intercept: float = Field(1.0, description="Population intercept (fixed effect).")
    beta: float = Field(0.5, description="Population slope of x (fixed effect).")
    sigma: float = Field(1.0, gt=0, description="Residual standard deviation.")
    sd_int: float = Field(0.5, ge=0, description="Standard deviation of the cluster intercepts.")
    sd_slope: float = Field(0.25, ge=0, description="Standard deviation of the cluster slopes.")
    cor: float = Field(0.0, ge=-1, le=1, description="Correlation of cluster intercepts and slopes.")
    balanced: float = Field(
        1.0, gt=0, le=1, description="Fraction of rows kept at random; below 1 cluster sizes differ."
    )
    seed: int = Field(888, ge=0, description="Seed of the random number generator: same seed, same data.")


class ModelSpec(_Spec):
    """The mixed model fitted for partial pooling."""

    random: Literal["slope", "intercept"] = Field(
        "slope", description="`slope`: y ~ x + (x | cluster); `intercept`: y ~ x + (1 | cluster)."
    )
    method: Literal["REML", "ML"] = Field("REML", description="Restricted or full maximum likelihood.")
    engine: Literal["statsmodels"] = Field("statsmodels", description="Which fitting engine to use.")


class Limits(_Spec):
    """Fixed axis limits for `zoom: fixed`, so that scenarios compare."""

    intercept: tuple[float, float] | None = Field(None, description="[low, high] of the intercept axis.")
    slope: tuple[float, float] | None = Field(None, description="[low, high] of the slope axis.")

    @field_validator("intercept", "slope")
    @classmethod
    def _low_below_high(cls, value: tuple[float, float] | None) -> tuple[float, float] | None:
        if value is not None and not value[0] < value[1]:
            raise ValueError("expected [low, high] with low < high")
        return value


class AnimationSpec(_Spec):
    """How the animation looks and moves."""

    view: View = Field(
        "shrinkage",
        description="shrinkage: estimates fly to the fixed effects; stages: complete → no → partial pooling; "
        "lines: one panel per cluster; funnel: estimates ± 1.96 SE against cluster size.",
    )
    preset: Preset = Field(
        "small", description="small 600×450, slide 1280×720 (fonts for a projector), square 800×800."
    )
    theme: Literal["light", "dark"] = Field("light", description="Light or dark background.")
    palette: Literal["okabe_ito", "tol_bright"] = Field(
        "okabe_ito", description="Colour-blind-safe colours for no, partial and complete pooling."
    )
    frames: int = Field(120, ge=2, le=2000, description="Number of frames, pauses included.")
    fps: int = Field(10, ge=1, le=50, description="Frames per second (GIF can express 1 to 50).")
    width: int = Field(600, ge=100, le=4096, description="Width in pixels (default: the preset's).")
    height: int = Field(450, ge=100, le=4096, description="Height in pixels (default: the preset's).")
    start_pause: float = Field(
        0.15, ge=0, lt=1, description="Share of the frames that hold the first state before moving."
    )
    end_pause: float = Field(0.25, ge=0, lt=1, description="Share of the frames that hold the final state.")
    easing: Easing = Field("cubic-in-out", description="How the motion speeds up and slows down.")
    zoom: Literal["auto", "fit", "fixed"] = Field(
        "auto",
        description="auto: fixed effects ± 3 estimated SDs; fit: every point; fixed: `limits` "
        "(points outside are marked at the edge).",
    )
    limits: Limits = Field(Limits(), description="Axis limits for zoom: fixed.")
    contour_levels: tuple[float, ...] = Field(
        (0.5, 0.9), description="Contours of the estimated distribution of cluster effects ([] for none)."
    )
    transparency: Literal["none", "extremeness"] = Field(
        "none", description="extremeness: clusters near the centre fade, extreme ones stay opaque."
    )
    panels: int = Field(12, ge=1, le=30, description="Clusters shown by the lines view.")
    formats: tuple[Format, ...] = Field(ALL_FORMATS, min_length=1, description="Files to write.")

    @model_validator(mode="before")
    @classmethod
    def _preset_sizes_and_limits(cls, raw: Any) -> Any:
        if isinstance(raw, dict):
            width, height = PRESET_SIZES.get(raw.get("preset", "small"), PRESET_SIZES["small"])
            raw = {"width": width, "height": height, **raw}
            if raw.get("limits") and "zoom" not in raw:
                raw["zoom"] = "fixed"  # limits written in the file mean: use them
        return raw

    @field_validator("formats", mode="before")
    @classmethod
    def _split_formats(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @field_validator("contour_levels")
    @classmethod
    def _levels_are_shares(cls, value: tuple[float, ...]) -> tuple[float, ...]:
        if any(not 0 < level < 1 for level in value):
            raise ValueError("each level must be between 0 and 1, e.g. [0.5, 0.9]")
        return tuple(sorted(set(value)))

    @field_validator("end_pause")
    @classmethod
    def _pauses_leave_motion(cls, value: float, info: Any) -> float:
        start = info.data.get("start_pause", 0.0)
        if start + value >= 1:
            raise ValueError("start_pause + end_pause must be below 1, leaving frames for the motion")
        return value

    @model_validator(mode="after")
    def _fixed_zoom_has_limits(self) -> AnimationSpec:
        if self.zoom == "fixed" and self.limits.intercept is None and self.limits.slope is None:
            raise ValueError(
                "zoom: fixed needs limits, e.g. limits: {intercept: [-0.5, 2.5], slope: [-0.25, 1.25]}"
            )
        return self


class Scenario(_Spec):
    """One animation: where the data come from, which model, and how it is drawn."""

    name: str = Field("scenario", description="Short name; the output folder. Defaults to the file name.")
    title: str | None = Field(None, description="Shown above the animation. Defaults to the name.")
    description: str = Field("", description="One sentence, used in captions.")
    data: DataSpec = DataSpec()
    model: ModelSpec = ModelSpec()
    animation: AnimationSpec = AnimationSpec()

    @property
    def display_title(self) -> str:
        return self.title or self.name


# ---------------------------------------------------------------------------------------------------------
# Loading


def builtin_dir() -> Path:
    """The folder of scenarios shipped inside the package."""
    return Path(str(resources.files("shrinkvis") / "scenarios"))


def builtin_names() -> list[str]:
    return sorted(path.stem for path in builtin_dir().glob("*.yaml"))


def resolve(name_or_path: str | Path) -> Path:
    """A built-in scenario name or a path to a YAML file → the file's path."""
    text = str(name_or_path)
    if text.endswith((".yaml", ".yml")) or "/" in text or "\\" in text:
        path = Path(text)
        if not path.is_file():
            raise ScenarioError(f"{text}: no such scenario file")
        return path
    path = builtin_dir() / f"{text}.yaml"
    if not path.is_file():
        known = builtin_names()
        near = difflib.get_close_matches(text, known, n=1)
        hint = f" (did you mean {near[0]}?)" if near else ""
        raise ScenarioError(f"{text}: no built-in scenario of that name{hint}; known: {', '.join(known)}")
    return path


def load(name_or_path: str | Path, overrides: Iterable[str] = ()) -> Scenario:
    """Read, override and validate a scenario; every problem becomes one `ScenarioError` line."""
    path = resolve(name_or_path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ScenarioError(f"{path}:{where} not valid YAML: {problem}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioError(f"{path}: cannot read: {exc}") from None
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ScenarioError(f"{path}: a scenario file holds a mapping of keys, not {type(raw).__name__}")
    raw.setdefault("name", path.stem)
    for override in overrides:
        _apply_override(raw, override)
    return from_mapping(raw, source=str(path))


def from_mapping(raw: Mapping[str, Any], source: str = "scenario") -> Scenario:
    """Validate a plain mapping (as read from YAML) into a `Scenario`."""
    try:
        return Scenario.model_validate(raw)
    except ValidationError as exc:
        raise ScenarioError(f"{source}: {_describe(exc, raw)}") from None


def _apply_override(raw: dict[str, Any], override: str) -> None:
    key, sep, text = override.partition("=")
    if not sep or not key.strip():
        raise ScenarioError(f"--set {override}: expected KEY=VALUE, e.g. --set data.sd_int=1")
    parts = key.strip().split(".")
    node = raw
    for part in parts[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ScenarioError(f"--set {override}: {part} is not a section")
        node = child
    try:
        value = yaml.safe_load(text) if text.strip() else text
    except yaml.YAMLError:
        value = text
    node[parts[-1]] = value


def _describe(exc: ValidationError, raw: Mapping[str, Any]) -> str:
    """The first validation problem as 'key = value: what is allowed'."""
    error = exc.errors()[0]
    loc = [str(part) for part in error["loc"]]
    key = ".".join(loc)
    if error["type"] == "extra_forbidden":
        model = _model_at(loc[:-1])
        near = difflib.get_close_matches(loc[-1], list(model.model_fields), n=1)
        hint = f"; did you mean {'.'.join([*loc[:-1], near[0]])}?" if near else ""
        return f"unknown key {key}{hint} (allowed: {', '.join(model.model_fields)})"
    value = error.get("input")
    message = error["msg"]
    if error["type"].startswith(("greater", "less")):
        message = f"must be {_range_text(loc)}"
    return f"{key} = {value!r}: {message}"


def _model_at(loc: list[str]) -> type[BaseModel]:
    model: type[BaseModel] = Scenario
    for part in loc:
        annotation = model.model_fields[part].annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            model = annotation
    return model


def _range_text(loc: list[str]) -> str:
    model = _model_at(loc[:-1])
    field = model.model_fields[loc[-1]]
    bounds = []
    for item in field.metadata:
        for attr, symbol in (("ge", "≥"), ("gt", ">"), ("le", "≤"), ("lt", "<")):
            bound = getattr(item, attr, None)
            if bound is not None:
                bounds.append(f"{symbol} {bound}")
    return " and ".join(bounds) if bounds else "in range"
