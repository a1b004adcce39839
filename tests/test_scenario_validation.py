"""Scenario files are user input: every bad value is one line naming the file, key, value and range."""

from __future__ import annotations

import json

import pytest
import yaml

from shrinkvis import scenario
from shrinkvis.errors import ScenarioError


def _load_text(tmp_path, text: str, overrides=()):
    path = tmp_path / "mine.yaml"
    path.write_text(text, encoding="utf-8")
    return scenario.load(path, overrides)


def _error(tmp_path, text: str, overrides=()) -> str:
    with pytest.raises(ScenarioError) as error:
        _load_text(tmp_path, text, overrides)
    message = str(error.value)
    assert "\n" not in message
    return message


@pytest.mark.parametrize(
    "text",
    [
        'data: !!python/object/apply:os.system ["touch {marker}"]',
        "data: !!python/object/new:subprocess.Popen [[touch, {marker}]]",
        "title: !!python/name:os.system",
        "title: !custom 1",
    ],
)
def test_python_tags_are_rejected_and_never_executed(tmp_path, text):
    marker = tmp_path / "executed"
    message = _error(tmp_path, text.format(marker=marker))
    tag = text.split(" ")[1].split("[")[0].strip()
    assert f"mine.yaml: line 1: the tag {tag} is not allowed" in message
    assert not marker.exists()


def test_python_tag_in_a_set_override_is_rejected(tmp_path):
    marker = tmp_path / "executed"
    message = _error(tmp_path, "", [f'title=!!python/object/apply:os.system ["touch {marker}"]'])
    assert "the tag !!python/object/apply:os.system is not allowed" in message
    assert not marker.exists()


def test_a_key_given_twice_is_rejected_instead_of_losing_the_first(tmp_path):
    message = _error(tmp_path, "data:\n  seed: 1\ndata:\n  sigma: 2\n")
    assert message.endswith("mine.yaml: line 3: the key data appears twice")


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("dta:\n  seed: 1\n", "unknown key dta; did you mean data?"),
        ("data:\n  n_clusters: 5\n", "unknown key data.n_clusters; did you mean data.n_cluster?"),
        ("animation:\n  fsp: 5\n", "unknown key animation.fsp; did you mean animation.fps?"),
        ("model:\n  randm: slope\n", "unknown key model.randm; did you mean model.random?"),
        ("data:\n  zzz: 5\n", "unknown key data.zzz (allowed: obs_per_cluster, n_cluster,"),
    ],
)
def test_unknown_keys_name_the_nearest_valid_key(tmp_path, text, fragment):
    assert fragment in _error(tmp_path, text)


# every range of the issue, just outside and at the edge
OUT_OF_RANGE = [
    ("data.n_cluster", 2, "must be ≥ 3"),
    ("data.obs_per_cluster", 0, "must be ≥ 1"),
    ("data.sigma", 0, "must be > 0"),
    ("data.sd_int", -0.1, "must be ≥ 0"),
    ("data.sd_slope", -1, "must be ≥ 0"),
    ("data.cor", -1.5, "must be ≥ -1 and ≤ 1"),
    ("data.cor", 1.01, "must be ≥ -1 and ≤ 1"),
    ("data.balanced", 0, "must be > 0 and ≤ 1"),
    ("data.balanced", 1.5, "must be > 0 and ≤ 1"),
    ("data.seed", -1, "must be ≥ 0"),
    ("animation.frames", 1, "must be ≥ 2 and ≤ 2000"),
    ("animation.frames", 2001, "must be ≥ 2 and ≤ 2000"),
    ("animation.fps", 0, "must be ≥ 1 and ≤ 50"),
    ("animation.fps", 51, "must be ≥ 1 and ≤ 50"),
    ("animation.width", 99, "must be ≥ 100 and ≤ 4096"),
    ("animation.width", 4097, "must be ≥ 100 and ≤ 4096"),
    ("animation.height", 99, "must be ≥ 100 and ≤ 4096"),
    ("animation.height", 5000, "must be ≥ 100 and ≤ 4096"),
]
AT_THE_EDGE = [
    ("data.n_cluster", 3),
    ("data.obs_per_cluster", 1),
    ("data.sigma", 1e-9),
    ("data.sd_int", 0),
    ("data.sd_slope", 0),
    ("data.cor", -1),
    ("data.cor", 1),
    ("data.balanced", 1),
    ("data.balanced", 0.001),
    ("data.seed", 0),
    ("animation.frames", 2),
    ("animation.frames", 2000),
    ("animation.fps", 1),
    ("animation.fps", 50),
    ("animation.width", 100),
    ("animation.width", 4096),
    ("animation.height", 100),
    ("animation.height", 4096),
]


def _as_yaml(key: str, value) -> str:
    section, name = key.split(".")
    return yaml.safe_dump({section: {name: value}})


@pytest.mark.parametrize(("key", "value", "allowed"), OUT_OF_RANGE)
def test_out_of_range_values_name_file_key_value_and_range(tmp_path, key, value, allowed):
    message = _error(tmp_path, _as_yaml(key, value))
    assert message == f"{tmp_path / 'mine.yaml'}: {key} = {value!r}: {allowed}"


@pytest.mark.parametrize(("key", "value"), AT_THE_EDGE)
def test_values_at_the_edge_of_their_range_are_valid(tmp_path, key, value):
    loaded = _load_text(tmp_path, _as_yaml(key, value))
    section, name = key.split(".")
    assert getattr(getattr(loaded, section), name) == value


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("data:\n  seed: 1.5\n", "data.seed = 1.5: must be a whole number"),
        ("data:\n  n_cluster: many\n", "data.n_cluster = 'many': must be a whole number"),
        ("data:\n  sigma: .nan\n", "data.sigma = nan: must be a finite number"),
        ("data:\n  intercept: .inf\n", "data.intercept = inf: must be a finite number"),
        ("data:\n  beta: [1, 2]\n", "data.beta = [1, 2]: must be a number"),
        ("data: 5\n", "data = 5: must be a section of keys (obs_per_cluster, n_cluster,"),
        ("model:\n  random: curve\n", "model.random = 'curve': should be 'slope' or 'intercept'"),
        (
            "animation:\n  formats: [gif, avi]\n",
            "animation.formats.1 = 'avi': should be 'gif', 'mp4', 'png' or 'svg'",
        ),
        ("title: " + "t" * 300 + "\n", "ttt': must be at most 200 characters"),
        (
            "animation:\n  start_pause: 0.6\n  end_pause: 0.5\n",
            "animation.end_pause = 0.5: start_pause + end_pause must be below 1",
        ),
        ("data:\n  seed: -1\n  sigma: 0\n", "data.sigma = 0: must be > 0; data.seed = -1: must be ≥ 0"),
    ],
)
def test_wrong_types_and_combinations_are_one_clear_line(tmp_path, text, expected):
    assert expected in _error(tmp_path, text)


def test_rows_are_capped_at_ten_million(tmp_path):
    assert scenario.MAX_ROWS == 10_000_000
    fine = _load_text(tmp_path, "data:\n  n_cluster: 100000\n  obs_per_cluster: 100\n")
    assert fine.data.n_cluster * fine.data.obs_per_cluster == scenario.MAX_ROWS
    message = _error(tmp_path, "data:\n  n_cluster: 100000\n  obs_per_cluster: 101\n")
    assert message.endswith(
        "mine.yaml: data: n_cluster × obs_per_cluster = 100000 × 101 = 10,100,000 rows; "
        "at most 10,000,000 are allowed"
    )


def test_the_row_cap_applies_to_set_overrides_too():
    with pytest.raises(ScenarioError, match="= 1,000,000,000 rows; at most 10,000,000"):
        scenario.load("baseline", ["data.n_cluster=1000000", "data.obs_per_cluster=1000"])


def test_input_file_size_is_capped(tmp_path, monkeypatch):
    assert scenario.MAX_SCENARIO_BYTES == 1_000_000
    monkeypatch.setattr(scenario, "MAX_SCENARIO_BYTES", 1000)  # parsing a real megabyte takes seconds
    padding = "#" * (1000 - 20) + "\n"
    fine = _load_text(tmp_path, padding + "data: {seed: 3}\n")
    assert fine.data.seed == 3
    message = _error(tmp_path, padding + "#" * 30 + "\ndata: {seed: 3}\n")
    assert message.endswith("mine.yaml: larger than 1,000 bytes; a scenario file holds a few settings")


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (b"\xff\xfe\x00d", "not UTF-8 text (byte 0)"),
        (b"data: [1, 2\n", "not valid YAML"),
        (b"- 1\n- 2\n", "a scenario file holds a mapping of keys, not list"),
        (b"[" * 600, "nested too deeply to be a scenario"),
        (b"data: &x\n  self: *x\n", "unknown key data.self"),
    ],
)
def test_unreadable_files_are_one_line(tmp_path, content, fragment):
    path = tmp_path / "mine.yaml"
    path.write_bytes(content)
    with pytest.raises(ScenarioError) as error:
        scenario.load(path)
    assert fragment in str(error.value) and "\n" not in str(error.value)


def test_an_alias_bomb_is_refused_with_a_short_message(tmp_path):
    # 9⁹ strings if expanded: were the aliases ever expanded, this test would not finish
    lines = ['a0: &a0 ["x", "x", "x", "x", "x", "x", "x", "x", "x"]']
    for level in range(1, 9):
        lines.append(f"a{level}: &a{level} [{', '.join([f'*a{level - 1}'] * 9)}]")
    lines.append("description: *a8")
    message = _error(tmp_path, "\n".join(lines) + "\n")
    assert "description = [[" in message and "must be text" in message
    assert len(message) < 400


@pytest.mark.parametrize(
    ("given", "fragment"),
    [
        ("/etc/passwd", "/etc/passwd: a scenario file's name ends in .yaml"),
        ("missing/nothing.yaml", "missing/nothing.yaml: no such scenario file"),
        ("basline", "basline: no built-in scenario of that name (did you mean baseline?)"),
    ],
)
def test_a_scenario_is_a_plain_name_or_a_yaml_path(given, fragment):
    with pytest.raises(ScenarioError) as error:
        scenario.load(given)
    assert fragment in str(error.value)


def test_a_folder_is_not_a_scenario_file(tmp_path):
    folder = tmp_path / "folder.yaml"
    folder.mkdir()
    with pytest.raises(ScenarioError, match="is a folder, not a scenario file"):
        scenario.load(folder)


# ---------------------------------------------------------------------------------------------------------
# The JSON Schema comes from the same model


def _resolve(schema: dict, node: dict) -> dict:
    if "$ref" in node:
        return schema["$defs"][node["$ref"].rsplit("/", 1)[1]]
    return node


def _check_against_schema(schema: dict, node: dict, value) -> None:
    """Enough of JSON Schema for scenario files: objects, closed keys, types, bounds, enums."""
    node = _resolve(schema, node)
    if "anyOf" in node:
        assert any(_matches(schema, option, value) for option in node["anyOf"]), value
        return
    if "oneOf" in node:
        assert sum(_matches(schema, option, value) for option in node["oneOf"]) == 1, value
        return
    kind = node.get("type")
    if kind == "object":
        assert isinstance(value, dict)
        assert set(node.get("required", ())) <= set(value), set(node.get("required", ())) - set(value)
        if node.get("additionalProperties") is False:
            assert set(value) <= set(node["properties"]), set(value) - set(node["properties"])
        for key, item in value.items():
            _check_against_schema(schema, node["properties"][key], item)
    elif kind == "array":
        for item in value:
            _check_against_schema(schema, node["items"], item)
    else:
        if kind == "integer":
            assert isinstance(value, int)
        if kind == "number":
            assert isinstance(value, int | float)
        if kind == "string":
            assert isinstance(value, str)
        if "enum" in node:
            assert value in node["enum"]
        if "const" in node:
            assert value == node["const"]
        for bound, holds in (
            ("minimum", lambda v, b: v >= b),
            ("maximum", lambda v, b: v <= b),
            ("exclusiveMinimum", lambda v, b: v > b),
            ("exclusiveMaximum", lambda v, b: v < b),
        ):
            if bound in node:
                assert holds(value, node[bound]), (value, bound, node[bound])


def _matches(schema: dict, node: dict, value) -> bool:
    try:
        _check_against_schema(schema, node, value)
    except AssertionError:
        return False
    return True


def test_json_schema_carries_every_key_and_range():
    schema = scenario.json_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    json.dumps(schema)  # plain JSON
    assert schema["additionalProperties"] is False
    assert set(schema["properties"]) == set(scenario.Scenario.model_fields)
    data = schema["$defs"]["DataSpec"]["properties"]
    assert data["n_cluster"]["minimum"] == 3
    assert data["sigma"]["exclusiveMinimum"] == 0
    assert (data["cor"]["minimum"], data["cor"]["maximum"]) == (-1, 1)
    assert (data["balanced"]["exclusiveMinimum"], data["balanced"]["maximum"]) == (0, 1)
    animation = schema["$defs"]["AnimationSpec"]["properties"]
    assert (animation["frames"]["minimum"], animation["frames"]["maximum"]) == (2, 2000)
    assert (animation["width"]["minimum"], animation["width"]["maximum"]) == (100, 4096)
    assert schema["$defs"]["ModelSpec"]["properties"]["random"]["enum"] == ["slope", "intercept"]


@pytest.mark.parametrize("name", scenario.builtin_names())
def test_builtin_scenario_files_pass_the_schema(name):
    raw = yaml.safe_load((scenario.builtin_dir() / f"{name}.yaml").read_text())
    schema = scenario.json_schema()
    _check_against_schema(schema, schema, raw)


def test_the_schema_rejects_what_the_loader_rejects():
    schema = scenario.json_schema()
    assert not _matches(schema, schema, {"data": {"n_cluster": 2}})
    assert not _matches(schema, schema, {"data": {"sd_itn": 1}})
    assert not _matches(schema, schema, {"animation": {"fps": 51}})
    assert not _matches(
        schema, schema, {"data": {"file": "a.csv", "y": "y"}}
    )  # a table needs its group column
    assert _matches(schema, schema, {"data": {"file": "a.csv", "y": "y", "group": "g"}})
