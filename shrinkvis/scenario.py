"""Scenarios: the validated, immutable description of one animation.

The `Scenario` model is the single source of truth for every default and every allowed range. YAML files,
`--set key=value` overrides and the JSON Schema all go through it.
"""

from __future__ import annotations

import difflib
import re
import reprlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal, get_args, get_origin

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    PrivateAttr,
    Tag,
    ValidationError,
    field_validator,
    model_validator,
)

from .errors import ScenarioError, UserError

Format = Literal["gif", "mp4", "png", "svg"]
ALL_FORMATS: tuple[Format, ...] = ("gif", "mp4", "png", "svg")

View = Literal["shrinkage", "stages", "lines", "funnel", "caterpillar"]
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

MAX_CONTOUR_LEVELS = 10
MAX_ROWS = 10_000_000  # n_cluster × obs_per_cluster: about 1 GB of floats through the fit, minutes of work
MAX_SCENARIO_BYTES = 1_000_000  # real scenario files are a few hundred bytes; this keeps absurd ones out
MAX_NAME_LENGTH = 100
MAX_DESCRIPTION_LENGTH = 1000
MAX_LIMIT = 1e300  # an axis limit; ±1e308 would make the axis span overflow to infinity
MAX_FORMAT_WIDTH = 99  # `{seed:>99999999}` would be a 100 MB caption: widths and precisions stay below this


class _Spec(BaseModel):
    # allow_inf_nan=False: `.inf` and `.nan` are valid YAML floats but no valid setting
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    @model_validator(mode="before")
    @classmethod
    def _choices_in_any_case(cls, raw: Any) -> Any:
        """`--format GIF`, `view: Stages`, `method: reml`: a choice is a word, whatever its case."""
        if not isinstance(raw, dict):
            return raw
        folded = dict(raw)
        for name, field in cls.model_fields.items():
            allowed = choices(field.annotation)
            if allowed and name in folded:
                folded[name] = _in_canonical_case(
                    folded[name], allowed, many=get_origin(field.annotation) is tuple
                )
        return folded


def choices(annotation: Any) -> tuple[str, ...]:
    """The words a `Literal` field allows (or each item of a tuple of them); () for any other field."""
    origin, args = get_origin(annotation), get_args(annotation)
    if origin is Literal:
        return tuple(arg for arg in args if isinstance(arg, str))
    if origin is tuple and args:
        return choices(args[0])
    return ()


def _in_canonical_case(value: Any, allowed: tuple[str, ...], many: bool) -> Any:
    canonical = {word.lower(): word for word in allowed}
    if many and isinstance(value, str):  # `--format GIF,png`
        value = [part.strip() for part in value.split(",") if part.strip()]
    if isinstance(value, str):
        return canonical.get(value.lower(), value)
    if many and isinstance(value, list | tuple):
        return [canonical.get(item.lower(), item) if isinstance(item, str) else item for item in value]
    return value


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
    small_share: float = Field(
        0.0, ge=0, lt=1, description="Share of the clusters that are small (the first ones), e.g. 0.1."
    )
    small_obs_per_cluster: int = Field(
        3, ge=1, description="Rows per small cluster before `balanced` drops some; below obs_per_cluster."
    )
    size_effect: float = Field(
        0.0,
        ge=-20,
        le=20,
        description="True intercepts shift by this many SDs (sd_int) per log-unit of cluster size, so "
        "clusters of one size truly differ from the others (needs sizes that differ: small_share above 0 "
        "or balanced below 1); e.g. -5: small clusters truly sit higher.",
    )

    @property
    def small_clusters(self) -> int:
        """How many clusters are small: the first round(small_share × n_cluster)."""
        return int(round(self.small_share * self.n_cluster))

    @model_validator(mode="after")
    def _sizes_that_differ(self) -> DataSpec:
        if self.small_clusters and self.small_obs_per_cluster >= self.obs_per_cluster:
            raise ValueError(
                f"small_obs_per_cluster = {self.small_obs_per_cluster} must be below obs_per_cluster = "
                f"{self.obs_per_cluster}"
            )
        if self.size_effect != 0 and self.balanced == 1 and not self.small_clusters:
            raise ValueError(
                f"size_effect = {self.size_effect:g} needs clusters of different sizes: set small_share "
                "above 0 or balanced below 1"
            )
        return self

    @model_validator(mode="after")
    def _rows_within_cap(self) -> DataSpec:
        rows = self.n_cluster * self.obs_per_cluster
        if rows > MAX_ROWS:
            raise ValueError(
                f"n_cluster × obs_per_cluster = {self.n_cluster} × {self.obs_per_cluster} = {rows:,} rows; "
                f"at most {MAX_ROWS:,} are allowed"
            )
        return self


class DataFileSpec(_Spec):
    """A table of your own instead of a simulation: which file, and which columns the model uses."""

    file: str = Field(
        description="CSV, TSV or Parquet file; a relative path is relative to the scenario file."
    )
    y: str = Field(description="Column of the outcome (numbers).")
    group: str = Field(description="Column of the cluster labels (text or numbers).")
    x: str | None = Field(None, description="Column of the predictor (numbers); none: y ~ 1 + (1 | group).")
    # rates and published estimates (issue 27; shrinkvis.rates)
    trials: str | None = Field(
        None,
        description="family: binomial: column of the trials (y successes out of trials); none: y is 0/1.",
    )
    exposure: str | None = Field(
        None, description="family: poisson: column of the exposure, entering as offset(log(exposure))."
    )
    se: str | None = Field(
        None, description="Column of known standard errors of y: a random-effects meta-analysis."
    )
    truth: str | None = Field(
        None,
        description="Column of a known true value per group (e.g. the rest of the season), shown at the end.",
    )
    per: float = Field(
        100,
        gt=0,
        le=1e9,
        description="Rates are shown per this many trials or units of exposure (100: %, 1: a proportion).",
    )
    label: str | None = Field(None, max_length=120, description="Axis label of the rate or estimate.")

    @model_validator(mode="after")
    def _columns_differ(self) -> DataFileSpec:
        roles = {"y": self.y, "group": self.group, "x": self.x, "trials": self.trials}
        roles.update({"exposure": self.exposure, "se": self.se, "truth": self.truth})
        given = [column for column in roles.values() if column is not None]
        if len(set(given)) < len(given):
            shown = ", ".join(f"{role} = {column!r}" for role, column in roles.items() if column is not None)
            named = [
                role
                for role, column in roles.items()
                if column is not None and role not in ("y", "group", "x")
            ]
            which = ", ".join(["y", "group", "x", *named][:-1]) + " and " + (named or ["x"])[-1]
            raise ValueError(f"{which} must be different columns ({shown})")
        return self


class HospitalsSpec(_Spec):
    """Simulated hospitals (`simulate: hospitals`): very different sizes and a true size–mortality relation,
    so that shrinkage toward one overall rate flatters the small ones (George et al. 2016)."""

    simulate: Literal["hospitals"] = Field(description="The kind of simulation.")
    n_hospitals: int = Field(300, ge=3, le=MAX_ROWS, description="Number of hospitals.")
    median_cases: float = Field(120, gt=0, le=1e6, description="Median number of cases per hospital.")
    size_spread: float = Field(1.0, ge=0, le=5, description="SD of log(cases) across hospitals.")
    min_cases: int = Field(5, ge=1, description="Fewest cases of a hospital.")
    mortality: float = Field(0.05, gt=0, lt=1, description="Mortality of a hospital of typical size.")
    size_effect: float = Field(
        -0.35, ge=-5, le=5, description="Change of the true log-odds of death per log-unit of cases."
    )
    sd_hospital: float = Field(0.15, ge=0, le=5, description="SD of the hospitals' own log-odds beyond size.")
    seed: int = Field(2016, ge=0, description="Seed of the random number generator.")


def _data_kind(value: Any) -> str:
    """A `data:` section that names a `file` reads a table; `simulate: hospitals` simulates hospitals;
    any other simulates rows."""
    if isinstance(value, Mapping):
        if value.get("simulate") == "hospitals":
            return "hospitals"
        return "read" if "file" in value else "simulate"
    if isinstance(value, HospitalsSpec):
        return "hospitals"
    return "read" if isinstance(value, DataFileSpec) else "simulate"


#: the tags pydantic puts into an error's location after `data`; not keys a user writes
DATA_KINDS: dict[str, type[BaseModel]] = {
    "simulate": DataSpec,
    "read": DataFileSpec,
    "hospitals": HospitalsSpec,
}

DataSource = Annotated[
    Annotated[DataSpec, Tag("simulate")]
    | Annotated[DataFileSpec, Tag("read")]
    | Annotated[HospitalsSpec, Tag("hospitals")],
    Discriminator(_data_kind),
]


class BayesSpec(_Spec):
    """The Bayesian engine (`engine: bayes`): brms's default priors unless set here, and the sampler."""

    intercept_location: float | None = Field(
        None, description="Location of the Student-t prior on the centred intercept (default: median of y)."
    )
    intercept_scale: float | None = Field(
        None, gt=0, description="Scale of that prior (default: max(2.5, mad(y)), as brms)."
    )
    sd_scale: float | None = Field(
        None,
        gt=0,
        description="Scale of the half-Student-t prior on each random-effect SD (default as above).",
    )
    sigma_scale: float | None = Field(
        None, gt=0, description="Scale of the half-Student-t prior on the residual SD (default as above)."
    )
    lkj: float = Field(1.0, gt=0, description="Shape of the LKJ prior on the correlation (1: uniform).")
    chains: int = Field(4, ge=2, le=64, description="Independent chains (R-hat compares them).")
    draws: int = Field(1000, ge=100, le=1_000_000, description="Draws kept per chain.")
    seed: int = Field(1, ge=0, description="Seed of the sampler: same seed, same draws.")


class ModelSpec(_Spec):
    """The mixed model fitted for partial pooling."""

    random: Literal["slope", "intercept"] = Field(
        "slope", description="`slope`: y ~ x + (x | cluster); `intercept`: y ~ x + (1 | cluster)."
    )
    method: Literal["REML", "ML"] = Field("REML", description="Restricted or full maximum likelihood.")
    family: Literal["gaussian", "binomial", "poisson"] = Field(
        "gaussian",
        description="gaussian: the linear mixed model; binomial: successes out of trials (or 0/1); poisson: "
        "counts, with data.exposure as offset(log(exposure)). binomial and poisson are fitted by ML with "
        "a random intercept (lme4's glmer).",
    )
    nagq: int = Field(
        1,
        ge=1,
        le=25,
        description="binomial/poisson: Gauss–Hermite nodes per cluster (glmer's nAGQ; 1: Laplace).",
    )
    engine: Literal["exact", "statsmodels", "bayes"] = Field(
        "exact",
        description="`exact`: profiled REML/ML from per-cluster sums (matches lme4); `statsmodels`: MixedLM; "
        "`bayes`: full Bayesian inference at brms's default priors (REML beside it for comparison).",
    )
    bayes: BayesSpec = Field(BayesSpec(), description="Priors and sampler of `engine: bayes`.")
    formula: str | None = Field(
        None,
        description="Any lme4 formula with one grouping factor, e.g. `y ~ x + log(n) + (x | cluster)` (n: "
        "each cluster's rows); fitted by the exact engine, the picture shows two of its random effects "
        "(animation.plane). Unset: the model `random` names.",
    )

    @field_validator("formula")
    @classmethod
    def _formula_reads(cls, value: str | None) -> str | None:
        if value is not None:
            from .model import parse_model

            try:
                parse_model(value)
            except UserError as exc:
                raise ValueError(str(exc).removeprefix(f"formula {value.strip()!r}").lstrip(": ")) from None
        return value


class Limits(_Spec):
    """Fixed axis limits for `zoom: fixed`, so that scenarios compare."""

    intercept: tuple[float, float] | None = Field(None, description="[low, high] of the intercept axis.")
    slope: tuple[float, float] | None = Field(None, description="[low, high] of the slope axis.")

    @field_validator("intercept", "slope")
    @classmethod
    def _low_below_high(cls, value: tuple[float, float] | None) -> tuple[float, float] | None:
        if value is not None and not value[0] < value[1]:
            raise ValueError("expected [low, high] with low < high")
        if value is not None and max(abs(value[0]), abs(value[1])) > MAX_LIMIT:
            # the axis spans high − low plus a margin, which must stay a finite number
            raise ValueError("each limit must lie within ±1e300")
        return value


class AnimationSpec(_Spec):
    """How the animation looks and moves."""

    view: View = Field(
        "shrinkage",
        description="shrinkage: estimates fly to the fixed effects; stages: complete → no → partial pooling; "
        "lines: one panel per cluster; funnel: estimates ± 1.96 SE against cluster size; caterpillar: "
        "each cluster on its own row, sliding sideways to the fixed effect.",
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
    camera: bool = Field(
        True,
        description="zoom auto: the axes move with the story, from a view framed on the own estimates "
        "(no pooling) to one framed on the final state; false: one view throughout.",
    )
    point_size: Literal["n", "equal"] = Field(
        "n",
        description="Shrinkage and stages views: n sizes each cluster's point by its rows (area ∝ n); equal "
        "draws every cluster alike. Either way the smallest clusters are drawn on top.",
    )
    aspect: Literal["auto", "equal"] = Field(
        "auto",
        description="Shrinkage and stages views: auto scales each axis on its own; equal gives a unit of "
        "intercept and of slope the same length, so the model's ellipse keeps its true shape (not with "
        "zoom: fixed, whose limits are kept as given).",
    )
    contour_levels: tuple[float, ...] = Field(
        (0.5, 0.9), description="Contours of the estimated distribution of cluster effects ([] for none)."
    )
    transparency: Literal["none", "extremeness"] = Field(
        "none", description="extremeness: clusters near the centre fade, extreme ones stay opaque."
    )
    panels: int = Field(12, ge=1, le=30, description="Clusters shown by the lines view.")
    truth: bool = Field(
        False,
        description="Shrinkage view of simulated data: end by revealing each cluster's true effects, with "
        "its error segment shortening from no pooling to partial pooling and both RMSEs.",
    )
    formats: tuple[Format, ...] = Field(ALL_FORMATS, min_length=1, description="Files to write.")
    plane: tuple[str, ...] | None = Field(
        None,
        min_length=1,
        max_length=2,
        description="With model.formula: the random effects shown, by lme4's names, e.g. [(Intercept), x] "
        "(default: the intercept and the first slope).",
    )
    math_text: bool = Field(
        False,
        description="Draw text between $ signs in the title, description, column names and group labels as "
        "matplotlib mathtext ($\\alpha_j$); by default every text is drawn as written (From $5 to $10).",
    )

    @model_validator(mode="before")
    @classmethod
    def _preset_sizes_and_limits(cls, raw: Any) -> Any:
        if isinstance(raw, dict):
            preset = raw.get("preset", "small")
            width, height = PRESET_SIZES.get(
                preset.lower() if isinstance(preset, str) else preset, PRESET_SIZES["small"]
            )
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
        if len(value) > MAX_CONTOUR_LEVELS:
            # each level is one more contour on every frame: 20,000 took 268 s and a 30 MB SVG
            raise ValueError(f"{len(value):,} levels; at most {MAX_CONTOUR_LEVELS} are drawn")
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

    name: str = Field(
        "scenario",
        min_length=1,
        max_length=MAX_NAME_LENGTH,
        description="Short name; the output folder. Defaults to the file name.",
    )
    title: str | None = Field(
        None, max_length=200, description="Shown above the animation. Defaults to the name."
    )
    description: str = Field(
        "", max_length=MAX_DESCRIPTION_LENGTH, description="One sentence, used in captions."
    )
    data: DataSource = Field(DataSpec(), description="A simulation, or `file`, `y`, `group`, `x` of a table.")
    model: ModelSpec = ModelSpec()
    animation: AnimationSpec = AnimationSpec()
    _written_description: str = PrivateAttr("")  # before `{n_cluster}` and the like were filled in

    @model_validator(mode="before")
    @classmethod
    def _rates_mean_random_intercept(cls, raw: Any) -> Any:
        # binomial/Poisson, known SEs and the hospitals simulation have a random intercept only (issue 27)
        if isinstance(raw, Mapping):
            from .rates.spec import random_intercept_default

            return random_intercept_default(raw)
        return raw

    @model_validator(mode="before")
    @classmethod
    def _no_predictor_means_random_intercept(cls, raw: Any) -> Any:
        # a table without x can only have a random intercept: make that the default instead of an error
        if (
            isinstance(raw, Mapping)
            and _data_kind(raw.get("data")) == "read"
            and raw["data"].get("x") is None
        ):
            model = raw.get("model")
            if model is None or (isinstance(model, Mapping) and "random" not in model):
                return {**raw, "model": {**(model or {}), "random": "intercept"}}
        return raw

    @model_validator(mode="after")
    def _rates_fit(self) -> Scenario:
        from .rates.spec import check_rates_scenario

        check_rates_scenario(self)
        return self

    @model_validator(mode="after")
    def _slope_needs_predictor(self) -> Scenario:
        if isinstance(self.data, DataFileSpec) and self.data.x is None and self.model.random == "slope":
            raise ValueError(
                "model.random = 'slope' needs a predictor: set data.x, or use model.random: intercept"
            )
        return self

    @model_validator(mode="after")
    def _fill_in_the_description(self) -> Scenario:
        # `{n_cluster}`, `{balanced:.0%}` …: the description of a simulation says what is simulated, also
        # after `--set data.n_cluster=20`; the built-in scenarios use this
        self._written_description = self.description
        if isinstance(self.data, DataSpec) and "{" in self.description:
            filled = fill_in(self.description, self.data)
            if len(filled) > MAX_DESCRIPTION_LENGTH:
                raise ValueError(
                    f"description: {len(filled):,} characters once its placeholders are filled in; "
                    f"at most {MAX_DESCRIPTION_LENGTH:,} are allowed"
                )
            object.__setattr__(self, "description", filled)  # frozen model
        return self

    @property
    def display_title(self) -> str:
        return self.title or self.name


PLACEHOLDER = re.compile(r"\{(\w+)(?::([^{}]*))?\}")
# Python's format mini-language for one number: [[fill]align][sign][z][#][0][width][grouping][.precision][type]
NUMBER_FORMAT = re.compile(
    r"(?:[^{}]?[<>=^])?[-+ ]?z?#?0?(?P<width>\d*)[,_]?(?:\.(?P<precision>\d+))?[bcdeEfFgGnosxX%]?"
)


def fill_in(text: str, data: DataSpec) -> str:
    """`{field}` or `{field:format}` of the data spec replaced by its value; other braces stay as they are.

    A format is one number's (`{balanced:.0%}`, `{sd_int:>6.2f}`) with a width and a precision of at most
    `MAX_FORMAT_WIDTH`; a wider one is refused, as the text it asks for would be unbounded.
    """

    def value(match: re.Match[str]) -> str:
        name, spec = match.group(1), match.group(2) or ""
        form = NUMBER_FORMAT.fullmatch(spec)
        if name not in DataSpec.model_fields or form is None:
            return match.group(0)
        for part in ("width", "precision"):
            if form.group(part) and int(form.group(part)) > MAX_FORMAT_WIDTH:
                raise ValueError(
                    f"description: {_SHORT.repr(match.group(0))}: a format's {part} is at most {MAX_FORMAT_WIDTH}"
                )
        try:
            return format(getattr(data, name), spec)
        except ValueError:  # a format that does not fit the value: leave the placeholder visible
            return match.group(0)

    return PLACEHOLDER.sub(value, text)


def as_file(scenario: Scenario) -> dict[str, Any]:
    """The scenario as a file that reads back as the same scenario: every default filled in, the
    description as written (its placeholders still to fill), a data file's path absolute."""
    raw = scenario.model_dump(mode="json")
    raw["description"] = scenario._written_description or scenario.description
    if isinstance(scenario.data, DataFileSpec):
        raw["data"]["file"] = str(Path(scenario.data.file).resolve())
    return raw


# ---------------------------------------------------------------------------------------------------------
# Loading


SCENARIO_SUFFIXES = (".yaml", ".yml")


def builtin_dir() -> Path:
    """The folder of scenarios shipped inside the package."""
    return Path(str(resources.files("shrinkvis") / "scenarios"))


def builtin_names() -> list[str]:
    return sorted(path.stem for path in builtin_dir().glob("*.yaml"))


def resolve(name_or_path: str | Path) -> Path:
    """A built-in scenario name or a path to a YAML file → the file's path."""
    text = str(name_or_path)
    if text.lower().endswith(SCENARIO_SUFFIXES) or "/" in text or "\\" in text:
        path = Path(text)
        if path.suffix.lower() not in SCENARIO_SUFFIXES:
            raise ScenarioError(f"{text}: a scenario file's name ends in .yaml")
        if path.is_dir():
            raise ScenarioError(f"{text}: is a folder, not a scenario file")
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


@dataclass(frozen=True)
class Override:
    """A `key=value` override and the command-line option that gave it (`--set …`, `--view stages`), so
    that a value the checks refuse is blamed on that option, not on the scenario file."""

    assignment: str
    option: str


def _as_override(item: str | Override) -> Override:
    return item if isinstance(item, Override) else Override(item, f"--set {item}")


def load(name_or_path: str | Path, overrides: Iterable[str | Override] = ()) -> Scenario:
    """Read, override and validate a scenario; every problem becomes one `ScenarioError` line.

    An override is `key=value` (as `--set` takes it) or an `Override` naming its option.
    """
    path = resolve(name_or_path)
    raw = _read_yaml(path)
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ScenarioError(f"{path}: a scenario file holds a mapping of keys, not {type(raw).__name__}")
    raw.setdefault("name", path.stem)
    blame = {_apply_override(raw, item): item.option for item in map(_as_override, overrides)}
    _data_file_beside(raw, path.parent)
    # a built-in is named as the user named it, not by where the package happens to be installed
    return from_mapping(raw, source=str(name_or_path), blame=blame)


def _data_file_beside(raw: dict[str, Any], folder: Path) -> None:
    """A data file named in a scenario file is found beside it, wherever the command runs."""
    data = raw.get("data")
    if isinstance(data, dict) and isinstance(data.get("file"), str) and not Path(data["file"]).is_absolute():
        raw["data"] = {**data, "file": str(folder / data["file"])}


def for_data(
    file: str | Path,
    *,
    y: str | None = None,
    group: str | None = None,
    x: str | None = None,
    random: str | None = None,
    formula: str | None = None,
    title: str | None = None,
    overrides: Iterable[str | Override] = (),
    family: str | None = None,
    trials: str | None = None,
    exposure: str | None = None,
    se: str | None = None,
) -> Scenario:
    """A scenario for a table given on the command line: the columns by name, or an lme4 formula.

    Named after the file (its output folder is `out/<file stem>/`), titled from the file name unless
    `title` is given.
    """
    from . import formula as formulas
    from .rates.formula import parse as parse_rates

    rates = parse_rates(formula) if formula is not None else None  # cbind(), offset() or se(): issue 27
    general = formula is not None and rates is None and not formulas.is_two_effect(formula)
    if formula is not None:
        if y is not None or group is not None or x is not None or random is not None:
            raise ScenarioError("give the model either as --formula or as --y/--x/--group/--random, not both")
        if rates is not None:
            if trials or exposure or se:
                raise ScenarioError(
                    "the formula names the trials, exposure or SE column: drop --trials/--exposure/--se"
                )
            y, group, x, random = rates.y, rates.group, rates.x, rates.random
            trials, exposure, se = rates.trials, rates.exposure, rates.se
            if family is None and rates.family != "gaussian":
                family = rates.family
        elif general:
            from .model import INTERCEPT, parse_model, plain_sum

            read = parse_model(formula)
            # the rows' x (the lines view, the report's words): the first random slope that is a column
            inside = plain_sum(read.bars[0].terms)
            slopes = [name for name in (inside[1] if inside else []) if name != INTERCEPT]
            y, group, x, random = read.response, read.group, (slopes[0] if slopes else None), None
        else:
            parsed = formulas.parse(formula)
            y, group, x, random = parsed.y, parsed.group, parsed.x, parsed.random
    if y is None or group is None:
        raise ScenarioError("a data run needs --y COLUMN and --group COLUMN (or --formula 'y ~ x + (x | g)')")
    if x is None and random == "slope":
        raise ScenarioError(
            "--random slope needs a predictor: give --x COLUMN (without --x the model is y ~ 1 + (1 | group))"
        )
    for role, column in (("--x", x), ("--group", group)):
        if column is not None and column == y:
            raise ScenarioError(
                f"--y and {role} both name the column {_one_line(column)!r}; each needs its own"
            )
    if x is not None and x == group:
        raise ScenarioError(f"--x and --group both name the column {_one_line(x)!r}; each needs its own")
    path = Path(file)
    # a glob ('events/*.parquet') is named after its folder
    name = path.parent.name if any(char in path.name for char in "*?[") and path.parent.name else path.stem
    raw: dict[str, Any] = {
        "name": name,
        "data": {"file": str(path), "y": y, "group": group, "x": x},
        "model": ({} if random is None else {"random": random}) | ({"formula": formula} if general else {}),
    }
    rate_columns = {"trials": trials, "exposure": exposure, "se": se}
    raw["data"].update({key: value for key, value in rate_columns.items() if value is not None})
    if family is not None:
        raw["model"]["family"] = family
        if family != "gaussian":
            raw["model"].setdefault("method", "ML")
    if title is not None:
        raw["title"] = title
    blame = {("title",): f"--title {title}"} if title is not None else {}
    if random is not None and formula is None:
        blame[("model", "random")] = f"--random {random}"
    blame.update({_apply_override(raw, item): item.option for item in map(_as_override, overrides)})
    return from_mapping(raw, source="command line", blame=blame)


def from_mapping(
    raw: Mapping[str, Any], source: str = "scenario", blame: Mapping[tuple[str, ...], str] | None = None
) -> Scenario:
    """Validate a plain mapping (as read from YAML) into a `Scenario`.

    `blame` maps the keys set from the command line (as tuples: `("animation", "view")`) to the option
    that set them; a problem with such a key names that option instead of `source`.
    """
    try:
        return Scenario.model_validate(raw)
    except ValidationError as exc:
        raise ScenarioError(_describe(exc, source, blame or {})) from None
    except RecursionError:  # a YAML alias that contains itself
        raise ScenarioError(f"{source}: a value refers to itself") from None


def json_schema() -> dict[str, Any]:
    """The JSON Schema of a scenario file, for editors to validate and complete against."""
    schema = Scenario.model_json_schema()
    schema["title"] = "shrinkvis scenario"
    schema["description"] = "A shrinkvis scenario file (YAML). Every key is optional."
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema}


# ---------------------------------------------------------------------------------------------------------
# Reading YAML safely


class _PlainLoader(yaml.SafeLoader):
    """PyYAML's safe loader, which never builds Python objects, with two refusals made explicit.

    A tag such as `!!python/object/apply:os.system` is rejected by name (the safe loader would reject
    it too, but with a message that reads like a bug); a key given twice is rejected because YAML
    would silently keep only the last one, losing the first section without a word.
    """

    def refuse_tag(self, node: yaml.Node) -> Any:
        tag = node.tag.replace("tag:yaml.org,2002:", "!!")
        raise yaml.constructor.ConstructorError(
            None, None, f"the tag {tag} is not allowed; scenario files hold plain values", node.start_mark
        )

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[str] = set()
        for key_node, _ in node.value:
            if isinstance(key_node, yaml.ScalarNode) and key_node.tag != "tag:yaml.org,2002:merge":
                if key_node.value in seen:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"the key {key_node.value} appears twice", key_node.start_mark
                    )
                seen.add(key_node.value)
        return super().construct_mapping(node, deep=deep)


_PlainLoader.add_constructor(None, _PlainLoader.refuse_tag)


def _read_yaml(path: Path) -> Any:
    try:
        with path.open("rb") as handle:
            content = handle.read(MAX_SCENARIO_BYTES + 1)
    except OSError as exc:
        raise ScenarioError(f"{path}: cannot read: {exc.strerror or exc}") from None
    if len(content) > MAX_SCENARIO_BYTES:
        raise ScenarioError(
            f"{path}: larger than {MAX_SCENARIO_BYTES:,} bytes; a scenario file holds a few settings"
        )
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ScenarioError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    try:
        return yaml.load(text, Loader=_PlainLoader)  # noqa: S506 — _PlainLoader is a SafeLoader
    except yaml.YAMLError as exc:
        raise ScenarioError(f"{path}: {_yaml_problem(exc)}") from None
    except RecursionError:
        raise ScenarioError(f"{path}: nested too deeply to be a scenario") from None


def _yaml_problem(exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    where = f"line {mark.line + 1}: " if mark is not None else ""
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    if isinstance(exc, yaml.constructor.ConstructorError):
        return f"{where}{problem}"
    return f"{where}not valid YAML: {problem}"


def _apply_override(raw: dict[str, Any], item: Override) -> tuple[str, ...]:
    """Set one key; returns its path."""
    key, sep, text = item.assignment.partition("=")
    shown = _one_line(item.option)
    if not sep or not key.strip():
        raise ScenarioError(f"{shown}: expected KEY=VALUE, e.g. --set data.sd_int=1")
    parts = key.strip().split(".")
    node = raw
    for part in parts[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ScenarioError(f"{shown}: {_one_line(part)} is not a section")
        node = child
    try:
        value = yaml.load(text, Loader=_PlainLoader) if text.strip() else text  # noqa: S506
    except yaml.constructor.ConstructorError as exc:
        raise ScenarioError(f"{shown}: {exc.problem}") from None
    except (yaml.YAMLError, RecursionError):
        value = text  # not YAML: take it as plain text and let validation judge it
    node[parts[-1]] = value
    return tuple(parts)


# ---------------------------------------------------------------------------------------------------------
# One line per problem


def _short_repr() -> reprlib.Repr:
    """repr() that stays short (and finite) for any value, even a YAML alias bomb or a cycle."""
    short = reprlib.Repr()
    short.maxstring = short.maxother = 40
    short.maxlist = short.maxtuple = short.maxdict = 4
    short.maxlevel = 1
    return short


_SHORT = _short_repr()

_PLAIN_WORDS = {
    "int_parsing": "must be a whole number",
    "int_from_float": "must be a whole number",
    "int_type": "must be a whole number",
    "float_parsing": "must be a number",
    "float_type": "must be a number",
    "finite_number": "must be a finite number",
    "string_type": "must be text",
    "bool_parsing": "must be true or false",
}


def _one_line(text: str) -> str:
    """User text inside a message, with line breaks and other control characters escaped."""
    return "".join(char if char.isprintable() else repr(char)[1:-1] for char in text)


MAX_PROBLEMS_LISTED = 8  # a file with hundreds of wrong keys still gives a line one can read


def _describe(exc: ValidationError, source: str, blame: Mapping[tuple[str, ...], str]) -> str:
    """Every validation problem as 'where: key = value: what is allowed', all on one line.

    `where` is the command-line option that set the key when one did, else `source` (the file), said
    once for the problems in a row that share it. Unknown keys of one section are named together.
    """
    # a misspelt key also leaves the key it was meant to be missing: name the misspelling first
    errors = sorted(exc.errors(), key=lambda item: item["type"] == "missing")
    keys = [_key_parts(error) for error in errors]
    # an item that is wrong also leaves its list too short, or its section invalid: say the cause only
    causes = [
        (key, error)
        for error, key in zip(errors, keys, strict=True)
        if not key or not any(len(other) > len(key) and other[: len(key)] == key for other in keys)
    ]
    problems: list[tuple[str, str]] = []
    unknown: dict[tuple[str, tuple[str, ...]], list[str]] = {}  # (where, section) → its unknown keys
    sections: dict[tuple[str, tuple[str, ...]], list[str]] = {}  # … → the section as pydantic locates it
    for key, error in causes:
        where = _blamed(key, source, blame)
        if error["type"] == "extra_forbidden":
            section = (where, key[:-1])
            if section in unknown:
                unknown[section].append(key[-1])
                continue
            unknown[section] = [key[-1]]
            sections[section] = [str(part) for part in error["loc"][:-1]]
        problems.append((where, "" if error["type"] == "extra_forbidden" else _describe_one(error)))
    # the unknown keys of a section, said where the first of them was
    unknown_texts = iter(_unknown_keys(sections[section], names) for section, names in unknown.items())
    problems = [(where, text or next(unknown_texts)) for where, text in problems]
    listed, more = problems[:MAX_PROBLEMS_LISTED], len(problems) - MAX_PROBLEMS_LISTED
    parts = [
        text if index and where == listed[index - 1][0] else f"{where}: {text}"
        for index, (where, text) in enumerate(listed)
    ]
    return "; ".join(parts) + (f" (and {more} more problem{'s' if more > 1 else ''})" if more > 0 else "")


def _unknown_keys(loc: list[str], names: list[str]) -> str:
    """'unknown key data.sd_itn; did you mean data.sd_int? (allowed: …)', or several keys at once."""
    model = _model_at(loc)
    prefix = "".join(f"{part}." for index, part in enumerate(loc) if not _is_data_kind(loc, index))
    allowed = f"(allowed: {', '.join(model.model_fields)})"
    if len(names) > 1:
        return _one_line(f"unknown keys {', '.join(prefix + name for name in names)} {allowed}")
    near = difflib.get_close_matches(names[0], list(model.model_fields), n=1)
    deeper = None if near else nearest_key(names[0], setting_keys(model))  # `--set sd_int=1`: data.sd_int
    hint = (
        f"; did you mean {prefix}{near[0]}?"
        if near
        else f"; did you mean {prefix}{deeper}?"
        if deeper
        else ""
    )
    return _one_line(f"unknown key {prefix}{names[0]}{hint} {allowed}")


def _key_parts(error: Any) -> tuple[str, ...]:
    """The key of a problem as the file writes it (without pydantic's tag for the kind of data)."""
    loc = [str(part) for part in error["loc"]]
    return tuple(part for index, part in enumerate(loc) if not _is_data_kind(loc, index))


def _blamed(key: tuple[str, ...], source: str, blame: Mapping[tuple[str, ...], str]) -> str:
    """Who gave the key a bad value: the option that set it (or the section it is in), else the file."""
    setting = [option for path, option in blame.items() if key[: len(path)] == path]
    if setting:
        return _one_line(setting[-1])
    inside = [option for path, option in blame.items() if key and path[: len(key)] == key]
    return f"{source} with {' '.join(map(_one_line, inside))}" if inside else source


def _describe_one(error: Any) -> str:
    loc = [str(part) for part in error["loc"]]
    key = _one_line(".".join(_key_parts(error)))
    kind = error["type"]
    if kind == "missing":
        return f"{key} is required"
    message = str(error["msg"]).removeprefix("Value error, ").replace("Input should", "should")
    if not loc:  # a check across keys (Scenario's model validators)
        return message
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        model = _model_at(loc)
        message = f"must be a section of keys ({', '.join(model.model_fields)})"
    elif kind.startswith(("greater", "less")):
        message = f"must be {_range_text(loc)}"
    elif kind == "string_too_long":
        message = f"must be at most {error['ctx']['max_length']} characters"
    elif kind == "string_too_short":
        message = "must not be empty"
    elif kind in _PLAIN_WORDS:
        message = _PLAIN_WORDS[kind]
    elif kind == "literal_error" and isinstance(error.get("input"), str):
        allowed = {word.lower(): word for word in _choices_at(loc)}
        near = difflib.get_close_matches(error["input"].lower(), list(allowed), n=1, cutoff=0.5)
        message += f"; did you mean {allowed[near[0]]!r}?" if near else ""
    if kind == "value_error" and isinstance(error.get("input"), dict):
        return f"{key or 'scenario'}: {message}"  # a check across several keys of one section
    return f"{key} = {_SHORT.repr(error.get('input'))}: {message}"


def _model_at(loc: list[str]) -> type[BaseModel]:
    model: type[BaseModel] = Scenario
    for index, part in enumerate(loc):
        if _is_data_kind(loc, index):
            model = DATA_KINDS[part]
            continue
        if part not in model.model_fields:
            break
        annotation = model.model_fields[part].annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            model = annotation
    return model


def _choices_at(loc: list[str]) -> tuple[str, ...]:
    """The words allowed at a key (`animation.view`) or an item of one (`animation.formats.0`)."""
    if loc and loc[-1].isdigit():
        loc = loc[:-1]
    if not loc:
        return ()
    field = _model_at(loc[:-1]).model_fields.get(loc[-1])
    return choices(field.annotation) if field else ()


def setting_keys(model: type[BaseModel] = Scenario, prefix: str = "") -> list[str]:
    """Every key a scenario can set, dotted (`data.sd_int`, `model.bayes.draws`), sections first-come:
    the simulation's keys before a table's, so that a bare `seed` means `data.seed`."""
    keys: list[str] = []
    for name, field in model.model_fields.items():
        inner = [field.annotation] if name != "data" or model is not Scenario else list(DATA_KINDS.values())
        sections = [kind for kind in inner if isinstance(kind, type) and issubclass(kind, BaseModel)]
        for section in sections:
            keys += [key for key in setting_keys(section, f"{prefix}{name}.") if key not in keys]
        if not sections:
            keys.append(f"{prefix}{name}")
    return keys


def nearest_key(word: str, keys: list[str]) -> str | None:
    """The dotted key a bare or misspelt name (`sd_int`, `frame`, `sd-int`) most likely means."""
    word = word.lower().replace("-", "_")
    exact = [key for key in keys if key.rsplit(".", 1)[-1] == word]
    if exact:
        return exact[0]
    near = difflib.get_close_matches(word, [key.rsplit(".", 1)[-1] for key in keys], n=1, cutoff=0.8)
    return next(key for key in keys if key.rsplit(".", 1)[-1] == near[0]) if near else None


def _is_data_kind(loc: list[str], index: int) -> bool:
    return index == 1 and loc[0] == "data" and loc[1] in DATA_KINDS


def _range_text(loc: list[str]) -> str:
    model = _model_at(loc[:-1])
    field = model.model_fields.get(loc[-1])
    bounds = []
    for item in field.metadata if field else ():
        for attr, symbol in (("ge", "≥"), ("gt", ">"), ("le", "≤"), ("lt", "<")):
            bound = getattr(item, attr, None)
            if bound is not None:
                bounds.append(f"{symbol} {bound}")
    return " and ".join(bounds) if bounds else "in range"
