"""Group labels as written, what counts as missing, and numbers in units the fit cannot square."""

from __future__ import annotations

import pandas as pd
import pytest

from shrinkvis import data
from shrinkvis.errors import DataError
from shrinkvis.fit import fit
from shrinkvis.scenario import ModelSpec

from .conftest import load_reference


def test_labels_differing_in_blanks_stay_apart_and_blanks_around_names_go(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("g, y\nA, 1\n A, 2\nA , 3\nA,4\n")
    table = data.read_table(path, text_columns=("g",))
    assert list(table.columns) == ["g", "y"]
    assert list(table["g"]) == ["A", " A", "A ", "A"]
    assert list(table["y"]) == [1, 2, 3, 4]
    assert data.model_frame(table, y="y", group="g").frame["cluster"].nunique() == 3


def test_only_empty_and_na_are_missing_labels(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("g,y\nNA,1\n,2\nNone,3\nnull,4\nN/A,5\nB,NA\nB,None\nB,6\nC,7\n")
    table = data.read_table(path, text_columns=("g",))
    rows = data.model_frame(table, y="y", group="g")
    assert sorted(rows.frame["cluster"]) == ["B", "C", "N/A", "None", "null"]
    assert rows.dropped_rows == 4  # NA and empty labels; NA and None where a number belongs


def test_a_column_named_na_keeps_its_place(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("g,NA,y\na,0,1\nb,0,2\nc,0,3\n")
    assert list(data.read_table(path).columns) == ["g", "NA", "y"]


def test_one_column_for_two_roles_is_refused():
    table = pd.DataFrame({"y": [1.0, 2.0, 3.0], "g": ["a", "b", "c"]})
    with pytest.raises(DataError, match="y, x and group must be different columns"):
        data.model_frame(table, y="y", x="y", group="g")


@pytest.mark.parametrize(("scale", "word"), [(1e300, "large"), (1e-300, "small"), (1e76, "large")])
def test_numbers_the_fit_cannot_square_are_one_line(scale, word):
    table = pd.DataFrame({"y": [1.0, 2.0, 3.0, 4.0], "x": [0.5, 1.0, 0.25, 2.0], "g": list("abcc")})
    table["x"] *= scale
    with pytest.raises(DataError) as error:
        data.model_frame(table, y="y", x="x", group="g", source="t.csv")
    assert str(error.value) == (
        f"t.csv: column 'x' is in units too {word} for the fit: data row 4 (line 5) holds {2.0 * scale!r}; "
        "rescale it so that its largest value lies between 1e-75 and 1e75 in size"
    )


@pytest.mark.parametrize(("y_scale", "x_scale"), [(1e75, 1e-75), (1e-75, 1e75), (1e75, 1.0), (1.0, 1e-75)])
def test_the_edges_of_the_allowed_units_fit_as_unit_data_do(y_scale, x_scale):
    frame, _ = load_reference("baseline_s1")
    frame = frame.assign(y=frame["y"] / frame["y"].abs().max(), x=frame["x"] / frame["x"].abs().max())
    unit = fit(data.model_frame(frame, y="y", x="x", group="cluster").frame, ModelSpec())
    scaled = frame.assign(y=frame["y"] * y_scale, x=frame["x"] * x_scale)
    estimates = fit(data.model_frame(scaled, y="y", x="x", group="cluster").frame, ModelSpec())
    assert estimates.fixed_effects["Intercept"] / y_scale == pytest.approx(
        unit.fixed_effects["Intercept"], rel=1e-8
    )
    assert estimates.fixed_effects["x"] * x_scale / y_scale == pytest.approx(
        unit.fixed_effects["x"], rel=1e-8
    )
    assert estimates.corr == pytest.approx(unit.corr, abs=1e-8)
    assert estimates.sd_slope * x_scale / y_scale == pytest.approx(unit.sd_slope, rel=1e-6)
    assert estimates.warnings == unit.warnings  # no overflow, no "exact straight line"
