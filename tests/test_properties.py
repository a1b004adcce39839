"""Property-based tests: any valid scenario works, any invalid value is one line, no CSV crashes.

Hypothesis runs a fast profile by default; HYPOTHESIS_PROFILE=long runs many more examples.
"""

from __future__ import annotations

import math
import os
import tempfile
from pathlib import Path

import numpy as np
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shrinkvis import data, scenario
from shrinkvis.errors import DataError, ScenarioError
from shrinkvis.simulate import simulate

settings.register_profile(
    "fast", max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile("long", max_examples=2000, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "fast"))

finite = {"allow_nan": False, "allow_infinity": False}

VALID_DATA = {
    "obs_per_cluster": st.integers(1, 12),
    "n_cluster": st.integers(3, 25),
    "intercept": st.floats(-1e6, 1e6, **finite),
    "beta": st.floats(-1e6, 1e6, **finite),
    "sigma": st.floats(1e-6, 1e3, exclude_min=False, **finite),
    "sd_int": st.floats(0, 1e3, **finite),
    "sd_slope": st.floats(0, 1e3, **finite),
    "cor": st.floats(-1, 1, **finite),
    "balanced": st.floats(0, 1, exclude_min=True, **finite),
    "seed": st.integers(0, 2**128),
}
VALID_MODEL = {"random": st.sampled_from(["slope", "intercept"]), "method": st.sampled_from(["REML", "ML"])}
VALID_ANIMATION = {
    "frames": st.integers(2, 2000),
    "fps": st.integers(1, 50),
    "width": st.integers(100, 4096),
    "height": st.integers(100, 4096),
    "formats": st.lists(st.sampled_from(["gif", "mp4", "png"]), min_size=1, max_size=3, unique=True),
}


@st.composite
def some_of(draw, fields: dict) -> dict:
    """Every key is optional: a random subset of the fields, each with a valid value."""
    keys = draw(st.lists(st.sampled_from(sorted(fields)), unique=True))
    return {key: draw(fields[key]) for key in sorted(keys)}


@st.composite
def valid_scenarios(draw) -> dict:
    raw: dict = {}
    for section, fields in (("data", VALID_DATA), ("model", VALID_MODEL), ("animation", VALID_ANIMATION)):
        if draw(st.booleans()):
            raw[section] = draw(some_of(fields))
    if draw(st.booleans()):
        start = draw(st.floats(0, 0.9, **finite))
        raw.setdefault("animation", {})["start_pause"] = start
        raw["animation"]["end_pause"] = draw(st.floats(0, 0.99 - start, **finite))
    if draw(st.booleans()):
        raw["title"] = draw(st.text(max_size=50))
    return raw


def _write(folder: str, text: str, name: str = "mine.yaml") -> Path:
    path = Path(folder) / name
    path.write_text(text, encoding="utf-8")
    return path


@given(valid_scenarios())
def test_any_valid_scenario_loads_and_simulates(raw):
    with tempfile.TemporaryDirectory() as folder:
        loaded = scenario.load(_write(folder, yaml.safe_dump(raw)))
    for section in ("data", "model", "animation"):
        for key, value in raw.get(section, {}).items():
            expected = tuple(value) if key == "formats" else value
            assert getattr(getattr(loaded, section), key) == expected
    spec = loaded.data
    frame = simulate(spec)
    rows = spec.n_cluster * spec.obs_per_cluster
    assert list(frame.columns) == ["y", "x", "cluster"]
    assert len(frame) == (rows if spec.balanced == 1 else round(spec.balanced * rows))
    assert np.isfinite(frame[["y", "x"]].to_numpy()).all()
    assert frame["cluster"].between(1, spec.n_cluster).all()


def _not_a_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return True
    return False


NOT_A_NUMBER = st.text(max_size=20).filter(_not_a_number) | st.lists(st.integers(), min_size=1, max_size=3)


def _below(bound, integer: bool):
    return (
        st.integers(max_value=bound - 1)
        if integer
        else st.floats(max_value=bound, exclude_max=True, **finite)
    )


def _above(bound, integer: bool):
    return (
        st.integers(min_value=bound + 1)
        if integer
        else st.floats(min_value=bound, exclude_min=True, **finite)
    )


def _invalid_values(model: type, name: str) -> st.SearchStrategy:
    """Values outside a field's range or of the wrong kind, read from the model's own constraints."""
    field = model.model_fields[name]
    integer = field.annotation is int
    choices = [NOT_A_NUMBER]
    for item in field.metadata:
        if getattr(item, "ge", None) is not None:
            choices.append(_below(item.ge, integer))
        if getattr(item, "gt", None) is not None:
            choices.append(_below(item.gt + (1 if integer else 0), integer) | st.just(item.gt))
        if getattr(item, "le", None) is not None:
            choices.append(_above(item.le, integer))
        if getattr(item, "lt", None) is not None:
            choices.append(_above(item.lt, integer) | st.just(item.lt))
    if integer:
        choices.append(st.floats(-1e6, 1e6, **finite).filter(lambda value: not value.is_integer()))
    else:
        choices.append(st.sampled_from([math.nan, math.inf, -math.inf]))
    return st.one_of(choices)


NUMERIC_FIELDS = [
    (section, model, name)
    for section, model in (("data", scenario.DataSpec), ("animation", scenario.AnimationSpec))
    for name, field in model.model_fields.items()
    if field.annotation in (int, float)
]


@st.composite
def one_invalid_value(draw) -> tuple[str, object]:
    section, model, name = draw(st.sampled_from(NUMERIC_FIELDS))
    if name == "end_pause":
        return "animation.end_pause", draw(_invalid_values(model, name) | st.floats(0.86, 0.99, **finite))
    return f"{section}.{name}", draw(_invalid_values(model, name))


@given(one_invalid_value())
def test_any_invalid_value_is_one_line_naming_file_and_key(invalid):
    key, value = invalid
    section, name = key.split(".")
    with tempfile.TemporaryDirectory() as folder:
        path = _write(folder, yaml.safe_dump({section: {name: value}}))
        try:
            scenario.load(path)
        except ScenarioError as error:
            message = str(error)
        else:
            raise AssertionError(f"{key} = {value!r} was accepted")
    assert message.startswith(f"{path}: {key} = ")
    assert "\n" not in message and len(message) < 300


@given(st.text(alphabet="abcxy,.\t\n\r", max_size=60))
def test_any_invalid_override_is_one_line(text):
    try:
        scenario.load("baseline", [f"data.{text}"])
    except ScenarioError as error:
        assert "\n" not in str(error)


CSV_ALPHABET = st.sampled_from(list("yxcluster0123456789.-eE,;\t|\"' \n\r") + ["\x00", "é", "\ufeff"])


@st.composite
def malformed_tables(draw) -> bytes:
    kind = draw(st.sampled_from(["bytes", "text", "rows"]))
    if kind == "bytes":
        return draw(st.binary(max_size=400))
    if kind == "text":
        return "".join(draw(st.lists(CSV_ALPHABET, max_size=200))).encode("utf-8")
    delimiter = draw(st.sampled_from([",", ";", "\t", "|"]))
    cells = st.one_of(
        st.floats(allow_nan=True), st.integers(), st.text(CSV_ALPHABET, max_size=5), st.just("")
    )
    rows = draw(st.lists(st.lists(cells, min_size=0, max_size=5), min_size=1, max_size=8))
    return "\n".join(delimiter.join(str(cell) for cell in row) for row in rows).encode("utf-8")


@given(malformed_tables(), st.sampled_from(["table.csv", "table.tsv", "table.txt"]))
def test_random_malformed_csv_files_never_end_in_a_traceback(content, name):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / name
        path.write_bytes(content)
        try:
            table = data.read_table(path)
        except DataError as error:
            assert str(error).startswith(f"{path}: ") and "\n" not in str(error)
        else:
            assert len(table) >= 1 and len(table.columns) >= 1


@given(
    seed=st.integers(0, 2**16),
    y_shift=st.floats(-1e9, 1e9, allow_nan=False),
    x_shift=st.floats(-1e9, 1e9, allow_nan=False),
    random=st.sampled_from(["slope", "intercept"]),
    method=st.sampled_from(["REML", "ML"]),
)
def test_any_shift_of_y_and_x_leaves_the_fit_unchanged(seed, y_shift, x_shift, random, method):
    """Shifts up to 1e9 × the spread (y and x are N(·, 1)-like here): the same criterion, σ, slope, warnings."""
    from shrinkvis.fit import fit
    from shrinkvis.scenario import DataSpec, ModelSpec

    rows = simulate(DataSpec(n_cluster=12, obs_per_cluster=6, seed=seed))
    model = ModelSpec(random=random, method=method)
    base = fit(rows, model)
    shifted = fit(rows.assign(y=rows["y"] + y_shift, x=rows["x"] + x_shift), model)
    assert math.isclose(shifted.criterion, base.criterion, abs_tol=1e-4)
    assert math.isclose(shifted.residual_sd, base.residual_sd, rel_tol=1e-6)
    assert math.isclose(shifted.fixed_effects["x"], base.fixed_effects["x"], rel_tol=1e-6, abs_tol=1e-9)
    # the same kinds of warning (a singular fit's wording names the correlation at x = 0, which moves)
    kinds = [warning.split(":")[0] for warning in shifted.warnings]
    assert (shifted.is_singular, shifted.converged, kinds) == (
        base.is_singular,
        base.converged,
        [warning.split(":")[0] for warning in base.warnings],
    )
