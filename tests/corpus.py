"""A corpus of awkward tables, written into a folder by `write_corpus`: each is read by the in-memory
reader (pandas) and by DuckDB, and both must give the same rows or the same one-line error.

Each entry: a file name, its bytes (or a pandas frame for Parquet), and the model columns (y, group, x).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

GOOD = "y,x,g\n1,0.5,a\n2,1.5,a\n3,1,b\n5,2,b\n4,1,c\n7,3,c\n"
COLUMNS = {"y": "y", "group": "g", "x": "x"}


def _rows(*lines: str, header: str = "y,x,g") -> bytes:
    return ("\n".join((header, *lines)) + "\n").encode()


BASE = ("1,0.5,a", "2,1.5,a", "3,1,b", "5,2,b", "4,1,c", "7,3,c")


def _with(*extra: str, header: str = "y,x,g") -> bytes:
    return _rows(*BASE, *extra, header=header)


TEXT: dict[str, tuple[bytes, dict[str, str]]] = {
    "plain.csv": (GOOD.encode(), COLUMNS),
    "reordered.csv": (
        _rows("0.5,1,a", "1.5,2,a", "1,3,b", "2,5,b", "1,4,c", "3,7,c", header="x,y,g"),
        COLUMNS,
    ),
    "na_in_y.csv": (_with("NA,2,a", ",3,b"), COLUMNS),
    "missing_spellings.csv": (
        _with("N/A,1,a", "NULL,1,b", "None,1,c", "nan,1,a", "-nan,2,b", "#N/A,3,c"),
        COLUMNS,
    ),
    "group_na_dropped.csv": (_with("9,1,NA", "9,1,"), COLUMNS),
    "group_spellings_kept.csv": (_with("9,1,N/A", "8,2,N/A", "9,1,None", "8,1,null"), COLUMNS),
    "group_blanks.csv": (_with("9,1, a", "8,2,a "), COLUMNS),
    "group_leading_zero.csv": (_with("9,1,007", "8,2,7", "6,1,07"), COLUMNS),
    "quoted.csv": (_with('"10","2","a"', '"11","1","d"', '"12","2","d"'), COLUMNS),
    "quoted_na.csv": (_with('"NA","2","a"', '10,1,"NA"'), COLUMNS),
    "quoted_comma_label.csv": (_with('3,1,"a,b"', '4,2,"a,b"'), COLUMNS),
    "newline_in_label.csv": (_with('3,1,"two\nlines"', '4,2,"two\nlines"'), COLUMNS),
    "inf.csv": (_with("inf,1,a"), COLUMNS),
    "minus_inf.csv": (_with("-inf,1,a"), COLUMNS),
    "infinity.csv": (_with("Infinity,1,a"), COLUMNS),
    "text_in_y.csv": (_with("abc,1,a"), COLUMNS),
    "text_in_x.csv": (_with("3,abc,a"), COLUMNS),
    "text_in_dropped_row.csv": (_with("NA,abc,a"), COLUMNS),
    "underscore_number.csv": (_with("1_000,1,a"), COLUMNS),
    "hex_number.csv": (_with("0x1A,1,a"), COLUMNS),
    "huge.csv": (_with("1e300,1,a"), COLUMNS),
    "overflow.csv": (_with("1e400,1,a"), COLUMNS),
    "tiny_varying.csv": (
        _rows("1e-170,0.5,a", "2e-170,1.5,a", "3e-170,1,b", "5e-170,2,b", "4e-170,1,c", "7e-170,3,c"),
        COLUMNS,
    ),
    "number_forms.csv": (_with("+3,1,a", ".5,2,b", "3.,1,c", "1e1,2,a", "1E-1,1,b", "-0,2,c"), COLUMNS),
    "blanks_around_numbers.csv": (_with(" 3 ,1,a", "4, 2 ,b"), COLUMNS),
    "boolean_y.csv": (_with("True,1,a"), COLUMNS),
    "uppercase_nan.csv": (_with("NAN,1,a"), COLUMNS),
    "comma_in_number.csv": (_with('"1,5",1,a'), COLUMNS),
    "semicolon_decimal_comma.csv": (
        b"y;x;g\n1,5;0,5;a\n2;1,5;a\n3;1;b\n5,25;2;b\n4;1;c\n7;3;c\n",
        COLUMNS,
    ),
    "semicolon_comma_then_text.csv": (b"y;x;g\n,5;1;a\n2;1,5;a\n3;1;b\nabc;1;b\n4;2;c\n", COLUMNS),
    "tabs.tsv": (GOOD.replace(",", "\t").encode(), COLUMNS),
    "bars.csv": (GOOD.replace(",", "|").encode(), COLUMNS),
    "bom.csv": (b"\xef\xbb\xbf" + GOOD.encode(), COLUMNS),
    "crlf.csv": (GOOD.replace("\n", "\r\n").encode(), COLUMNS),
    "blank_lines.csv": (_rows("1,0.5,a", "", "2,1.5,a", "3,1,b", "", "5,2,b", "4,1,c", "7,3,c", ""), COLUMNS),
    "spaced_header.csv": (_with(header=" y , x ,g "), COLUMNS),
    "repeated_y.csv": (_rows("1,2,3,a", header="y,x,y,g"), COLUMNS),
    "repeated_other.csv": (_rows("1,2,3,4,a", "2,1,3,4,b", header="y,x,z,z,g"), COLUMNS),
    "case_twins.csv": (
        _rows("1,9,0.5,a", "2,9,1.5,a", "3,9,1,b", "5,9,2,b", "4,9,1,c", "7,9,3,c", header="y,Y,x,g"),
        COLUMNS,
    ),
    "no_y.csv": (_with(header="Y,x,g"), COLUMNS),
    "renamed_y.csv": (_with(header="response,x,g"), COLUMNS),
    "extra_columns.csv": (
        _rows(
            "1,q,0.5,a,z",
            "2,q,1.5,a,z",
            "3,q,1,b,z",
            "5,q,2,b,z",
            "4,q,1,c,z",
            "7,q,3,c,z",
            header="y,w,x,g,v",
        ),
        COLUMNS,
    ),
    "header_only.csv": (b"y,x,g\n", COLUMNS),
    "empty.csv": (b"", COLUMNS),
    "all_groups_missing.csv": (_rows("1,1,NA", "2,2,"), COLUMNS),
    "two_groups.csv": (_rows("1,1,a", "2,2,a", "3,1,b", "4,3,b"), COLUMNS),
    "number_labels.csv": (_rows("1,1,10", "2,2,10", "3,1,2", "4,3,2", "5,1,1", "6,2,1"), COLUMNS),
    "float_labels.csv": (_rows("1,1,1.5", "2,2,1.5", "3,1,2.25", "4,3,2.25", "5,1,-1", "6,2,-1"), COLUMNS),
    "unicode_labels.csv": (_with("3,1,é", "4,2,é", "5,1,日本", "6,2,日本"), COLUMNS),
    "latin1.csv": (_with().replace(b"a\n", b"\xe9\n"), COLUMNS),
    "short_rows.csv": (_with("9,1"), COLUMNS),
    "long_rows.csv": (_with("9,1,a,extra", "8,2,b,extra,more"), COLUMNS),
    "short_first_row.csv": (_rows("9,1", *BASE), COLUMNS),
    "long_name.csv": (_with(header="y,x," + "g" * 300), {"y": "y", "group": "g" * 300, "x": "x"}),
    "odd_names.csv": (
        _with(header='"y ""q""",x.1,g`b'),
        {"y": 'y "q"', "group": "g`b", "x": "x.1"},
    ),
    "no_x.csv": (_with(), {"y": "y", "group": "g"}),
    "dollar_labels.csv": (_with("3,1,$\\foo$", "4,2,$\\foo$", "5,1,From $5 to $10"), COLUMNS),
    "wide.csv": (
        (",".join(f"c{k}" for k in range(500)) + ",y,x,g\n").encode()
        + b"".join((",".join("0" * 1 for _ in range(500)) + "," + row + "\n").encode() for row in BASE),
        COLUMNS,
    ),
}


def parquet_tables() -> dict[str, tuple[pd.DataFrame, dict[str, str]]]:
    """Typed tables: only NULL (and NaN in a number) is missing; a group must be a label."""
    base = pd.DataFrame(
        {"y": [1.0, 2, 3, 5, 4, 7], "x": [0.5, 1.5, 1, 2, 1, 3], "g": ["a", "a", "b", "b", "c", "c"]}
    )
    nan_y = base.copy()
    nan_y.loc[1, "y"] = np.nan
    inf_y = base.copy()
    inf_y.loc[2, "y"] = np.inf
    null_g = base.astype({"g": object})
    null_g.loc[3, "g"] = None
    text_y = base.astype({"y": str})
    int_g = base.assign(g=[1, 1, 20, 20, 3, 3])
    float_g = base.assign(g=[1.5, 1.5, 2.0, 2.0, np.nan, 3.0])
    bool_g = pd.concat([base, base.assign(g=True)]).assign(g=[True] * 4 + [False] * 4 + [True] * 4)
    list_g = base.assign(g=[[1], [1], [2], [2], [3], [3]])
    struct_g = base.assign(g=[{"k": 1}] * 2 + [{"k": 2}] * 2 + [{"k": 3}] * 2)
    bytes_g = base.assign(g=[b"a", b"a", b"b", b"b", b"c", b"c"])
    huge_x = base.assign(x=[0.5, 1.5, 1e200, 2, 1, 3])
    reordered = base[["g", "x", "y"]]
    return {
        "typed.parquet": (base, COLUMNS),
        "nan_y.parquet": (nan_y, COLUMNS),
        "inf_y.parquet": (inf_y, COLUMNS),
        "null_group.parquet": (null_g, COLUMNS),
        "text_y.parquet": (text_y, COLUMNS),
        "int_groups.parquet": (int_g, COLUMNS),
        "float_groups.parquet": (float_g, COLUMNS),
        "bool_groups.parquet": (bool_g, COLUMNS),
        "list_groups.parquet": (list_g, COLUMNS),
        "struct_groups.parquet": (struct_g, COLUMNS),
        "bytes_groups.parquet": (bytes_g, COLUMNS),
        "huge_x.parquet": (huge_x, COLUMNS),
        "reordered.parquet": (reordered, COLUMNS),
    }


def write_corpus(folder: Path) -> dict[str, dict[str, str]]:
    """Every corpus file written into `folder`; returns each file's model columns."""
    columns = {}
    for name, (content, model) in TEXT.items():
        (folder / name).write_bytes(content)
        columns[name] = model
    for name, (frame, model) in parquet_tables().items():
        write_parquet(frame, folder / name)
        columns[name] = model
    return columns


def write_parquet(frame: pd.DataFrame, path: Path) -> None:
    """Written by DuckDB (a dependency), so that the tests need no pyarrow (the test extra leaves it out)."""
    import duckdb

    con = duckdb.connect()
    try:
        con.register("rows", frame)
        con.execute(f"COPY rows TO '{str(path).replace(chr(39), chr(39) * 2)}' (FORMAT parquet)")
    finally:
        con.close()
