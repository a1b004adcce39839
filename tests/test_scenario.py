from __future__ import annotations

from pathlib import Path

import pytest

from shrinkvis import scenario
from shrinkvis.errors import ScenarioError

EXPECTED_CHANGES = {
    "baseline": {},
    "more_subject_var": {"sd_int": 1, "sd_slope": 1},
    "more_slope_var": {"sd_int": 0.25, "sd_slope": 1},
    "fewer_obs": {"obs_per_cluster": 3},
    "more_obs": {"obs_per_cluster": 100},
    "unbalanced": {"balanced": 0.5, "sd_int": 0.5, "sd_slope": 0.5, "sigma": 0.25},
    "small_differ": {
        "n_cluster": 120,
        "obs_per_cluster": 20,
        "small_share": 0.1,
        "small_obs_per_cluster": 8,
        "sd_int": 0.1,
        "size_effect": -7,
    },
    # small_differ's data with the remedy its report gives: y ~ x + log(n) + (x | cluster)
    "small_differ_remedy": {
        "n_cluster": 120,
        "obs_per_cluster": 20,
        "small_share": 0.1,
        "small_obs_per_cluster": 8,
        "sd_int": 0.1,
        "size_effect": -7,
    },
    # the guide's last case: a random slope the data cannot support, fitted by REML and by Bayes
    "singular_slope": {"n_cluster": 30, "obs_per_cluster": 4, "sd_slope": 0.0, "seed": 6},
}
# rates and published estimates (real data and the hospitals simulation): tests/test_rates.py
RATES_SCENARIOS = ("baseball", "eight_schools", "hospitals", "surgical")


def test_builtin_scenarios_are_the_classic_six_small_differ_and_the_singular_slope():
    assert scenario.builtin_names() == sorted([*EXPECTED_CHANGES, *RATES_SCENARIOS])


@pytest.mark.parametrize("name", sorted(EXPECTED_CHANGES))
def test_builtin_scenario_changes_only_what_it_says(name):
    loaded = scenario.load(name)
    defaults = scenario.DataSpec().model_dump()
    expected = {**defaults, **EXPECTED_CHANGES[name]}
    assert loaded.data.model_dump() == expected
    assert loaded.name == name
    assert loaded.title and loaded.description


def test_top_level_scenarios_folder_is_the_shipped_one():
    top = Path(__file__).parents[1] / "scenarios"
    assert sorted(p.stem for p in top.glob("*.yaml")) == sorted([*EXPECTED_CHANGES, *RATES_SCENARIOS])


def test_defaults():
    loaded = scenario.Scenario()
    assert loaded.data.obs_per_cluster == 10 and loaded.data.n_cluster == 100
    assert (loaded.data.intercept, loaded.data.beta, loaded.data.sigma) == (1.0, 0.5, 1.0)
    assert (loaded.data.sd_int, loaded.data.sd_slope, loaded.data.cor) == (0.5, 0.25, 0.0)
    assert (loaded.data.balanced, loaded.data.seed) == (1.0, 888)
    assert (loaded.model.random, loaded.model.method) == ("slope", "REML")
    assert (loaded.animation.width, loaded.animation.height) == (600, 450)
    assert (loaded.animation.frames, loaded.animation.fps) == (120, 10)
    assert loaded.animation.formats == ("gif", "mp4", "png", "svg")
    assert (loaded.animation.view, loaded.animation.preset, loaded.animation.theme) == (
        "shrinkage",
        "small",
        "light",
    )
    assert (loaded.animation.easing, loaded.animation.zoom) == ("cubic-in-out", "auto")
    assert loaded.animation.contour_levels == (0.5, 0.9)


def test_title_defaults_to_file_name(tmp_path):
    path = tmp_path / "my_case.yaml"
    path.write_text("data:\n  n_cluster: 20\n")
    loaded = scenario.load(path)
    assert loaded.display_title == "my_case"
    assert loaded.data.n_cluster == 20


def test_set_overrides_nested_keys():
    loaded = scenario.load("baseline", ["data.sd_int=1", "animation.frames=60", "animation.formats=gif,png"])
    assert loaded.data.sd_int == 1.0
    assert loaded.animation.frames == 60
    assert loaded.animation.formats == ("gif", "png")


def test_empty_file_gives_defaults(tmp_path):
    path = tmp_path / "empty.yaml"
    path.write_text("")
    assert scenario.load(path).data == scenario.DataSpec()


@pytest.mark.parametrize(
    ("override", "fragment"),
    [
        ("data.sd_int=-1", "data.sd_int = -1: must be ≥ 0"),
        ("data.cor=2", "data.cor = 2: must be ≥ -1 and ≤ 1"),
        ("data.sd_itn=1", "unknown key data.sd_itn; did you mean data.sd_int?"),
        ("animation.fps=60", "animation.fps = 60: must be ≥ 1 and ≤ 50"),
        ("model.random=curve", "model.random = 'curve'"),
        ("data.balanced=0", "data.balanced = 0: must be > 0 and ≤ 1"),
    ],
)
def test_invalid_values_are_one_line_naming_option_key_and_range(override, fragment):
    with pytest.raises(ScenarioError) as error:
        scenario.load("baseline", [override])
    message = str(error.value)
    assert fragment in message
    assert message.startswith(f"--set {override}: ")  # the option that set the value, not the file
    assert "\n" not in message


def test_unknown_scenario_suggests_the_nearest():
    with pytest.raises(ScenarioError, match="did you mean baseline"):
        scenario.load("basline")


def test_presets_give_the_size_unless_it_is_set():
    assert (scenario.AnimationSpec(preset="slide").width, scenario.AnimationSpec(preset="slide").height) == (
        1280,
        720,
    )
    square = scenario.load("baseline", ["animation.preset=square"]).animation
    assert (square.width, square.height) == (800, 800)
    wide = scenario.load("baseline", ["animation.preset=slide", "animation.width=1920"]).animation
    assert (wide.width, wide.height) == (1920, 720)


def test_limits_in_the_file_mean_a_fixed_zoom(tmp_path):
    path = tmp_path / "fixed.yaml"
    path.write_text("animation:\n  limits:\n    intercept: [-0.5, 2.5]\n    slope: [-0.25, 1.25]\n")
    animation = scenario.load(path).animation
    assert animation.zoom == "fixed"
    assert animation.limits.intercept == (-0.5, 2.5) and animation.limits.slope == (-0.25, 1.25)


@pytest.mark.parametrize(
    ("override", "fragment"),
    [
        ("animation.zoom=fixed", "zoom: fixed needs limits"),
        (
            "animation.limits.intercept=[2, 1]",
            "animation.limits.intercept = [2, 1]: expected [low, high]",
        ),
        ("animation.contour_levels=[0.5, 1]", "each level must be between 0 and 1"),
        ("animation.easing=bouncy", "animation.easing = 'bouncy'"),
        ("animation.view=map", "animation.view = 'map'"),
        ("animation.theme=neon", "animation.theme = 'neon'"),
    ],
)
def test_invalid_animation_values(override, fragment):
    with pytest.raises(ScenarioError) as error:
        scenario.load("baseline", [override])
    assert fragment in str(error.value)


def test_a_description_says_what_is_simulated_after_an_override():
    assert scenario.load("baseline").description.startswith("100 clusters of 10 rows with")
    assert scenario.load("baseline", ["data.n_cluster=20"]).description.startswith(
        "20 clusters of 10 rows with"
    )
    assert scenario.load("unbalanced", ["data.balanced=0.7"]).description.startswith("70% of the rows kept")
    # unknown names, formats that do not fit and doubled braces stay as they are
    assert (
        scenario.fill_in("{nope} {seed:zz} {{x}} {sd_int:.2f}", scenario.DataSpec())
        == "{nope} {seed:zz} {{x}} 0.50"
    )
    for name in scenario.builtin_names():
        assert "{" not in scenario.load(name).description, name
