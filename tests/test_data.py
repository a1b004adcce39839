from __future__ import annotations

import numpy as np
import pytest

from shrinkvis.data import cluster_order, model_frame, read_table
from shrinkvis.errors import DataError


def _write(tmp_path, text, name="data.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_tsv_is_detected_and_text_groups_kept(tmp_path):
    path = _write(tmp_path, "pupil\tscore\tschool\n1\t3.5\t007\n2\t4.0\tB\n3\t5\tC\n", "d.tsv")
    table = read_table(path, text_columns=("school",))
    rows = model_frame(table, y="score", group="school", source=str(path))
    assert list(rows.frame["cluster"]) == ["007", "B", "C"]
    assert rows.frame["y"].tolist() == [3.5, 4.0, 5.0]


def test_missing_values_are_dropped_and_counted(tmp_path):
    path = _write(tmp_path, "y,x,g\n1,2,a\n,3,a\n2,NA,b\n3,1,b\n4,2,c\n5,1,\n6,0,c\n")
    rows = model_frame(read_table(path, ("g",)), y="y", x="x", group="g", source="f")
    assert rows.dropped_rows == 3
    assert rows.frame["y"].tolist() == [1, 3, 4, 6]


def test_non_numeric_names_the_column_and_first_bad_row(tmp_path):
    path = _write(tmp_path, "y,x,g\n1,2,a\n2,oops,b\n3,1,c\n")
    with pytest.raises(
        DataError, match=r"f: column 'x' must hold numbers; data row 2 \(line 3\) holds 'oops'"
    ):
        model_frame(read_table(path, ("g",)), y="y", x="x", group="g", source="f")


def test_fewer_than_three_groups_is_an_error(tmp_path):
    path = _write(tmp_path, "y,g\n1,a\n2,a\n3,b\n")
    with pytest.raises(DataError, match="2 group\\(s\\).*at least 3"):
        model_frame(read_table(path, ("g",)), y="y", group="g", source="f")


def test_empty_file_is_one_line(tmp_path):
    with pytest.raises(DataError, match="the file is empty"):
        read_table(_write(tmp_path, ""))


def test_numeric_labels_sort_as_numbers_and_text_labels_as_text():
    import pandas as pd

    codes, labels = cluster_order(pd.Series(["10", "2", "1", "2"]))
    assert labels.tolist() == ["1", "2", "10"]
    assert codes.tolist() == [2, 1, 0, 1]
    codes, labels = cluster_order(pd.Series(["b", "a", "c"]))
    assert labels.tolist() == ["a", "b", "c"] and np.array_equal(codes, [1, 0, 2])
