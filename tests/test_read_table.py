"""read_table: a user's CSV or TSV → a DataFrame, or one clear DataError naming the file."""

from __future__ import annotations

import pytest

from shrinkvis import data
from shrinkvis.errors import DataError


@pytest.mark.parametrize(
    ("name", "content", "columns", "first_row"),
    [
        ("plain.csv", "y,x,cluster\n1.5,2,a\n3,4,b\n", ["y", "x", "cluster"], [1.5, 2, "a"]),
        ("tabs.txt", "y\tx\tcluster\n1.5\t2\ta\n", ["y", "x", "cluster"], [1.5, 2, "a"]),
        ("tabs.tsv", "y\tx\n1.5\t2\n", ["y", "x"], [1.5, 2]),
        ("european.csv", "y;x;cluster\n1,5;2;a\n3;4;b\n", ["y", "x", "cluster"], [1.5, 2, "a"]),
        ("bars.csv", "y|x|cluster\n1.5|2|a\n", ["y", "x", "cluster"], [1.5, 2, "a"]),
        ("bom.csv", "\ufeffy,x\n1,2\n", ["y", "x"], [1, 2]),
        ("quoted.csv", 'y,"the x",cluster\n1,2,"a, b"\n', ["y", "the x", "cluster"], [1, 2, "a, b"]),
        ("one_column.csv", "y\n1\n2\n", ["y"], [1]),
    ],
)
def test_reads_delimited_tables(tmp_path, name, content, columns, first_row):
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    table = data.read_table(path)
    assert list(table.columns) == columns
    assert table.iloc[0].tolist() == first_row


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "the file is empty"),
        (b"\n\n\n", "holds no table (no header row)"),
        (b"y,x\n", "has a header row but no data rows"),
        (b"y,x\n1,2\n3,4,5,6\n", "data row 2 (line 3) has more fields than the header's 2"),
        (b'"y,x\n1,2\n', "cannot be read as a comma-separated table: "),
        (b"y,x\n1,2\n\xff\xfe,3\n", "not UTF-8 text; save it as UTF-8 CSV"),
        (b"y,x,y\n1,2,3\n", "the column 'y' appears more than once in the header"),
    ],
)
def test_unusable_files_are_one_data_error_naming_the_file(tmp_path, content, message):
    path = tmp_path / "table.csv"
    path.write_bytes(content)
    with pytest.raises(DataError) as error:
        data.read_table(path)
    assert str(error.value).startswith(f"{path}: ")
    assert message in str(error.value)
    assert "\n" not in str(error.value)


def test_missing_files_and_folders_are_data_errors(tmp_path):
    with pytest.raises(DataError, match="nothing.csv: no such file"):
        data.read_table(tmp_path / "nothing.csv")
    with pytest.raises(DataError, match="not a regular file"):
        data.read_table(tmp_path)


def test_file_size_is_capped(tmp_path, monkeypatch):
    assert data.MAX_TABLE_BYTES == 2_000_000_000
    monkeypatch.setattr(data, "MAX_TABLE_BYTES", 100)
    path = tmp_path / "big.csv"
    path.write_text("y,x\n" + "1,2\n" * 30)
    with pytest.raises(DataError, match=r"big.csv: 124 bytes; at most 100 are allowed"):
        data.read_table(path)


def test_rows_are_capped(tmp_path, monkeypatch):
    monkeypatch.setattr(data, "MAX_ROWS", 5)
    path = tmp_path / "long.csv"
    path.write_text("y,x\n" + "1,2\n" * 6)
    with pytest.raises(DataError, match="more than 5 rows; at most 5 are allowed"):
        data.read_table(path)
    path.write_text("y,x\n" + "1,2\n" * 5)
    assert len(data.read_table(path)) == 5
